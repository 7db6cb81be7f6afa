//! Configuration from `PLUGS_*` environment variables, with defaults that make `cargo run`
//! work on a fresh machine (a SQLite file beside the working directory, 127.0.0.1:8080).

use std::net::SocketAddr;
use std::str::FromStr;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var}: {message}")]
    Invalid { var: &'static str, message: String },
    #[error("{0} must be set when PLUGS_ENV=production")]
    Missing(&'static str),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Development,
    Test,
    Production,
}

impl FromStr for Environment {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "development" | "dev" => Ok(Self::Development),
            "test" => Ok(Self::Test),
            "production" | "prod" => Ok(Self::Production),
            other => Err(format!(
                "unknown environment {other:?} (expected development, test or production)"
            )),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

/// GraphQL safety limits (API.md "Limits"). Enforcement grows with the auth issue.
#[derive(Clone, Debug)]
pub struct Limits {
    pub body_bytes: usize,
    pub batch_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_bytes: 1024 * 1024,
            batch_size: 10,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub database_url: String,
    pub bind: SocketAddr,
    pub env: Environment,
    pub jwt_secret: Option<String>,
    pub db_max_connections: u32,
    pub limits: Limits,
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://plugs.db?mode=rwc";
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads configuration through `lookup`, so tests can supply their own variables.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
        let database_url = get("PLUGS_DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
        database_kind(&database_url)?;
        let bind_raw = get("PLUGS_BIND").unwrap_or_else(|| DEFAULT_BIND.into());
        let bind = bind_raw.parse().map_err(|_| ConfigError::Invalid {
            var: "PLUGS_BIND",
            message: format!("{bind_raw:?} is not an address like 127.0.0.1:8080"),
        })?;
        let env = match get("PLUGS_ENV") {
            Some(v) => v.parse().map_err(|message| ConfigError::Invalid {
                var: "PLUGS_ENV",
                message,
            })?,
            None => Environment::Development,
        };
        let jwt_secret = get("PLUGS_JWT_SECRET");
        if env == Environment::Production {
            match &jwt_secret {
                None => return Err(ConfigError::Missing("PLUGS_JWT_SECRET")),
                Some(s) if s.len() < 32 => {
                    return Err(ConfigError::Invalid {
                        var: "PLUGS_JWT_SECRET",
                        message: "must be at least 32 characters in production".into(),
                    });
                }
                Some(_) => {}
            }
        }
        let db_max_connections = parse_num(&get, "PLUGS_DB_MAX_CONNECTIONS", 10u32)?;
        let defaults = Limits::default();
        let limits = Limits {
            body_bytes: parse_num(&get, "PLUGS_MAX_BODY_BYTES", defaults.body_bytes)?,
            batch_size: parse_num(&get, "PLUGS_MAX_BATCH", defaults.batch_size)?,
        };
        Ok(Self {
            database_url,
            bind,
            env,
            jwt_secret,
            db_max_connections,
            limits,
        })
    }

    pub fn database_kind(&self) -> DatabaseKind {
        database_kind(&self.database_url).expect("validated when the config was read")
    }
}

fn parse_num<T: FromStr + Copy>(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    match get(var) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| ConfigError::Invalid {
            var,
            message: format!("{v:?} is not a positive whole number"),
        }),
    }
}

/// Which backend a URL names; anything but SQLite and PostgreSQL is refused up front.
pub fn database_kind(url: &str) -> Result<DatabaseKind, ConfigError> {
    let scheme = url.split_once("://").map(|(s, _)| s).unwrap_or("");
    match scheme {
        "sqlite" => Ok(DatabaseKind::Sqlite),
        "postgres" | "postgresql" => Ok(DatabaseKind::Postgres),
        _ => Err(ConfigError::Invalid {
            var: "PLUGS_DATABASE_URL",
            message: format!(
                "{:?} is not a sqlite:// or postgres:// URL",
                redact_url(url)
            ),
        }),
    }
}

/// The URL with any password replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((userinfo, host)) = rest.split_once('@')
        && let Some((user, _)) = userinfo.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}");
    }
    url.to_owned()
}
