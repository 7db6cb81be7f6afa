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

/// GraphQL safety limits (API.md "Limits").
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest request body.
    pub body_bytes: usize,
    /// Most operations in one batched POST.
    pub batch_size: usize,
    /// Deepest field nesting (introspection subtrees are exempt).
    pub depth: usize,
    /// Most expensive query: every field costs 1, a connection multiplies its children by `first`.
    pub complexity: usize,
    /// Most aliased fields in one document.
    pub aliases: usize,
    /// Most directives (`@include`, `@skip`, ...) in one document, counted before parsing.
    pub directives: usize,
    /// Deepest `{`/`[`/`(` nesting in the raw text, checked before parsing.
    pub nesting: usize,
    /// Most lexical tokens in the raw text, checked before parsing.
    pub tokens: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_bytes: 1024 * 1024,
            batch_size: 10,
            depth: 12,
            complexity: 5_000,
            aliases: 30,
            directives: 50,
            nesting: 64,
            tokens: 10_000,
        }
    }
}

/// WebSocket and subscription settings (API.md "Limits", issue 7).
#[derive(Clone, Debug)]
pub struct RealtimeConfig {
    /// `connection_init` must arrive within this (else close 4408).
    pub init_timeout: std::time::Duration,
    /// How often the server pings an idle socket (`ping`, or `ka` on legacy `graphql-ws`).
    pub keepalive: std::time::Duration,
    /// Most active subscriptions on one socket.
    pub max_subscriptions: usize,
    /// A socket that does not take a message within this is dropped.
    pub write_timeout: std::time::Duration,
    /// Deliveries one subscriber may fall behind before its socket is closed (1013).
    pub buffer: usize,
    /// How often expired notifications are purged.
    pub purge_interval: std::time::Duration,
}

impl Default for RealtimeConfig {
    fn default() -> Self {
        Self {
            init_timeout: std::time::Duration::from_secs(10),
            keepalive: std::time::Duration::from_secs(15),
            max_subscriptions: 100,
            write_timeout: std::time::Duration::from_secs(10),
            buffer: 256,
            purge_interval: std::time::Duration::from_secs(3600),
        }
    }
}

/// Authentication settings (API.md "Authentication").
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// HS256 secret. Outside production, when unset, the one kept in `jwt_secret_file`.
    pub jwt_secret: String,
    /// Where the development secret lives (`None` when `PLUGS_JWT_SECRET` is set).
    pub jwt_secret_file: Option<std::path::PathBuf>,
    pub issuer: String,
    pub audience: String,
    pub access_ttl: std::time::Duration,
    /// Clock skew forgiven when checking `exp` (instances' clocks differ a little). An open
    /// socket closes at the same instant a new request with the token starts being refused.
    pub jwt_leeway: std::time::Duration,
    pub refresh_ttl: std::time::Duration,
    /// Failed logins allowed per email and per client IP within `login_window`.
    pub login_max_failures: usize,
    pub login_window: std::time::Duration,
    /// Concurrent argon2 hashes; the rest wait, so a burst of logins leaves CPU for other requests.
    pub hash_concurrency: usize,
    /// Proxies whose `X-Forwarded-For` is believed when finding the client's address.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// How long an instance trusts a session it read without reading it again (`auth::sessions`;
    /// API changes reach every instance at once regardless; zero turns the cache off).
    pub session_cache: std::time::Duration,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub database_url: String,
    pub bind: SocketAddr,
    pub env: Environment,
    pub db_max_connections: u32,
    pub limits: Limits,
    /// Complexity budgets per minute (`PLUGS_RATE_*`).
    pub rate: crate::graphql::rate::RateConfig,
    pub auth: AuthConfig,
    /// How long a DataLoader gathers keys before it runs its one batched statement.
    pub loader_delay: std::time::Duration,
    pub realtime: RealtimeConfig,
    pub jobs: crate::jobs::JobsConfig,
    /// Where bytes are stored (`storage::Storage::from_url`).
    pub storage_url: String,
    pub media: MediaConfig,
    /// Encrypts secrets at rest (`PLUGS_ENCRYPTION_KEYS`; outside production, when unset, one
    /// key derived from the development secret, and `keyring_is_development` says so).
    pub keyring: crate::crypto::Keyring,
    pub keyring_is_development: bool,
    /// Outgoing webhooks may reach private, loopback and link-local addresses
    /// (`PLUGS_WEBHOOK_ALLOW_PRIVATE=true`; for development and tests only).
    pub webhook_allow_private: bool,
    /// Outgoing e-mail (`PLUGS_SMTP_URL`, `PLUGS_MAIL_FROM`; links from `PLUGS_PUBLIC_URL`).
    pub mail: crate::mail::MailConfig,
    /// Browser origins allowed to call the API (`PLUGS_CORS_ORIGINS`).
    pub cors: CorsOrigins,
    /// `PLUGS_PERSISTED_QUERIES` and, in `trusted` mode, the manifest
    /// (`PLUGS_TRUSTED_DOCUMENTS`).
    pub persisted: crate::graphql::persisted::PersistedConfig,
}

/// `PLUGS_CORS_ORIGINS`: exact origins (`https://app.example.com`), or any (`*`, refused in
/// production). Empty: same-origin only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    #[default]
    SameOrigin,
    List(Vec<String>),
    Any,
}

impl CorsOrigins {
    pub fn parse(raw: Option<&str>, env: Environment) -> Result<Self, String> {
        let Some(raw) = raw else {
            return Ok(Self::SameOrigin);
        };
        let mut list = Vec::new();
        for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if item == "*" {
                if env == Environment::Production {
                    return Err(
                        "`*` (any origin) is refused in production: list the origins".into(),
                    );
                }
                return Ok(Self::Any);
            }
            list.push(normalize_origin(item).ok_or_else(|| {
                format!("{item:?} is not an origin like https://app.example.com (scheme, host and port only)")
            })?);
        }
        Ok(if list.is_empty() {
            Self::SameOrigin
        } else {
            Self::List(list)
        })
    }

    /// Whether a browser page on `origin` may call the API.
    pub fn allows(&self, origin: &str) -> bool {
        match self {
            Self::SameOrigin => false,
            Self::Any => true,
            Self::List(list) => normalize_origin(origin).is_some_and(|o| list.contains(&o)),
        }
    }
}

/// `scheme://host[:port]` in lower case, the default port left out; `None` for anything else
/// (a path, a query, credentials, another scheme).
pub fn normalize_origin(raw: &str) -> Option<String> {
    let raw = raw.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, rest) = raw.split_once("://")?;
    if !matches!(scheme, "http" | "https")
        || rest.is_empty()
        || rest.contains(['/', '?', '#', '@', ' '])
    {
        return None;
    }
    let default_port = if scheme == "http" { ":80" } else { ":443" };
    let rest = rest.strip_suffix(default_port).unwrap_or(rest);
    Some(format!("{scheme}://{rest}"))
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://plugs.db?mode=rwc";
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
pub const DEFAULT_STORAGE_URL: &str = "file://./media";

/// Uploads and download links (`PLUGS_UPLOAD_MAX_BYTES`, `PLUGS_DIRECT_UPLOAD_MAX_BYTES`,
/// `PLUGS_UPLOAD_TICKET_SECS`, `PLUGS_MEDIA_LINK_SECS`, `PLUGS_PUBLIC_URL`).
#[derive(Clone, Debug)]
pub struct MediaConfig {
    /// The largest multipart request to `/graphql` (the file and its operation).
    pub upload_bytes: usize,
    /// The largest file sent through `createUpload` (a `PUT` of its own).
    pub direct_upload_bytes: u64,
    /// How long an upload ticket's `PUT` URL works.
    pub upload_ticket_ttl: std::time::Duration,
    /// How long a signed download link works.
    pub link_ttl: std::time::Duration,
    /// Where links point (`https://api.example.com`); unset: links are paths on this server.
    pub public_url: Option<String>,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            upload_bytes: 25 * 1024 * 1024,
            direct_upload_bytes: 2 * 1024 * 1024 * 1024,
            upload_ticket_ttl: std::time::Duration::from_secs(60 * 60),
            link_ttl: std::time::Duration::from_secs(15 * 60),
            public_url: None,
        }
    }
}

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
        let jwt_secret = match get("PLUGS_JWT_SECRET") {
            Some(s) if s.len() < 32 => {
                return Err(ConfigError::Invalid {
                    var: "PLUGS_JWT_SECRET",
                    message: "must be at least 32 characters".into(),
                });
            }
            Some(s) => s,
            None if env == Environment::Production => {
                return Err(ConfigError::Missing("PLUGS_JWT_SECRET"));
            }
            // Read from its file below, once everything else is known to be valid.
            None => String::new(),
        };
        let db_max_connections = parse_num(&get, "PLUGS_DB_MAX_CONNECTIONS", 10u32)?;
        let d = Limits::default();
        let limits = Limits {
            body_bytes: parse_num(&get, "PLUGS_MAX_BODY_BYTES", d.body_bytes)?,
            batch_size: parse_num(&get, "PLUGS_MAX_BATCH", d.batch_size)?,
            depth: parse_num(&get, "PLUGS_MAX_DEPTH", d.depth)?,
            complexity: parse_num(&get, "PLUGS_MAX_COMPLEXITY", d.complexity)?,
            aliases: parse_num(&get, "PLUGS_MAX_ALIASES", d.aliases)?,
            directives: parse_num(&get, "PLUGS_MAX_DIRECTIVES", d.directives)?,
            nesting: parse_num(&get, "PLUGS_MAX_NESTING", d.nesting)?,
            tokens: parse_num(&get, "PLUGS_MAX_TOKENS", d.tokens)?,
        };
        let r = crate::graphql::rate::RateConfig::default();
        let rate = crate::graphql::rate::RateConfig {
            user_per_minute: parse_num(&get, "PLUGS_RATE_USER_COST_PER_MINUTE", r.user_per_minute)?,
            org_per_minute: parse_num(&get, "PLUGS_RATE_ORG_COST_PER_MINUTE", r.org_per_minute)?,
            ip_per_minute: parse_num(&get, "PLUGS_RATE_IP_COST_PER_MINUTE", r.ip_per_minute)?,
        };
        let trusted_proxies = match get("PLUGS_TRUSTED_PROXIES") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|ip| {
                    ip.parse().map_err(|_| ConfigError::Invalid {
                        var: "PLUGS_TRUSTED_PROXIES",
                        message: format!("{ip:?} is not an IP address"),
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let auth = AuthConfig {
            jwt_secret,
            jwt_secret_file: None,
            issuer: "the-plugs".into(),
            audience: "the-plugs-api".into(),
            access_ttl: std::time::Duration::from_secs(15 * 60),
            jwt_leeway: std::time::Duration::from_secs(5),
            refresh_ttl: std::time::Duration::from_secs(30 * 24 * 3600),
            login_max_failures: parse_num(&get, "PLUGS_LOGIN_MAX_FAILURES", 10)?,
            login_window: std::time::Duration::from_secs(parse_num(
                &get,
                "PLUGS_LOGIN_WINDOW_SECS",
                15 * 60,
            )?),
            hash_concurrency: parse_num(
                &get,
                "PLUGS_HASH_CONCURRENCY",
                cores.saturating_sub(1).max(1),
            )?,
            trusted_proxies,
            session_cache: std::time::Duration::from_secs(parse_num(
                &get,
                "PLUGS_SESSION_CACHE_SECS",
                30,
            )?),
        };
        let mut config = Self {
            database_url,
            bind,
            env,
            db_max_connections,
            limits,
            rate,
            auth,
            mail: crate::mail::MailConfig::default(),
            cors: CorsOrigins::parse(get("PLUGS_CORS_ORIGINS").as_deref(), env).map_err(
                |message| ConfigError::Invalid {
                    var: "PLUGS_CORS_ORIGINS",
                    message,
                },
            )?,
            persisted: crate::graphql::persisted::PersistedConfig::from_env(
                get("PLUGS_PERSISTED_QUERIES").as_deref(),
                get("PLUGS_TRUSTED_DOCUMENTS").as_deref(),
            )
            .map_err(|(var, message)| ConfigError::Invalid { var, message })?,
            loader_delay: std::time::Duration::from_millis(parse_num(
                &get,
                "PLUGS_LOADER_DELAY_MS",
                2,
            )?),
            realtime: {
                let d = RealtimeConfig::default();
                let secs = |v: u64| std::time::Duration::from_secs(v);
                RealtimeConfig {
                    init_timeout: secs(parse_positive(
                        &get,
                        "PLUGS_WS_INIT_TIMEOUT_SECS",
                        d.init_timeout.as_secs(),
                    )?),
                    keepalive: secs(parse_positive(
                        &get,
                        "PLUGS_WS_KEEPALIVE_SECS",
                        d.keepalive.as_secs(),
                    )?),
                    max_subscriptions: parse_num(
                        &get,
                        "PLUGS_WS_MAX_SUBSCRIPTIONS",
                        d.max_subscriptions,
                    )?,
                    write_timeout: secs(parse_positive(
                        &get,
                        "PLUGS_WS_WRITE_TIMEOUT_SECS",
                        d.write_timeout.as_secs(),
                    )?),
                    buffer: parse_positive(&get, "PLUGS_REALTIME_BUFFER", d.buffer as u64)?
                        as usize,
                    purge_interval: secs(parse_positive(
                        &get,
                        "PLUGS_NOTIFICATION_PURGE_SECS",
                        d.purge_interval.as_secs(),
                    )?),
                }
            },
            storage_url: {
                let url = get("PLUGS_STORAGE_URL").unwrap_or_else(|| DEFAULT_STORAGE_URL.into());
                if !(url.starts_with("file://") || url.starts_with("s3://")) {
                    return Err(ConfigError::Invalid {
                        var: "PLUGS_STORAGE_URL",
                        message: format!("{url:?} is not a file:// or s3:// URL"),
                    });
                }
                url
            },
            keyring: match get("PLUGS_ENCRYPTION_KEYS") {
                Some(spec) => crate::crypto::Keyring::parse(&spec).map_err(|message| {
                    ConfigError::Invalid {
                        var: "PLUGS_ENCRYPTION_KEYS",
                        message,
                    }
                })?,
                None if env == Environment::Production => {
                    return Err(ConfigError::Missing("PLUGS_ENCRYPTION_KEYS"));
                }
                // Replaced below, once the development secret is known.
                None => crate::crypto::Keyring::development(""),
            },
            keyring_is_development: get("PLUGS_ENCRYPTION_KEYS").is_none(),
            webhook_allow_private: match get("PLUGS_WEBHOOK_ALLOW_PRIVATE").as_deref() {
                None | Some("false") => false,
                Some("true") => true,
                Some(other) => {
                    return Err(ConfigError::Invalid {
                        var: "PLUGS_WEBHOOK_ALLOW_PRIVATE",
                        message: format!("{other:?} is not true or false"),
                    });
                }
            },
            media: {
                let d = MediaConfig::default();
                MediaConfig {
                    upload_bytes: parse_positive(
                        &get,
                        "PLUGS_UPLOAD_MAX_BYTES",
                        d.upload_bytes as u64,
                    )? as usize,
                    direct_upload_bytes: parse_positive(
                        &get,
                        "PLUGS_DIRECT_UPLOAD_MAX_BYTES",
                        d.direct_upload_bytes,
                    )?,
                    upload_ticket_ttl: std::time::Duration::from_secs(parse_positive(
                        &get,
                        "PLUGS_UPLOAD_TICKET_SECS",
                        d.upload_ticket_ttl.as_secs(),
                    )?),
                    link_ttl: std::time::Duration::from_secs(parse_positive(
                        &get,
                        "PLUGS_MEDIA_LINK_SECS",
                        d.link_ttl.as_secs(),
                    )?),
                    public_url: match get("PLUGS_PUBLIC_URL") {
                        None => None,
                        Some(u) if u.starts_with("http://") || u.starts_with("https://") => {
                            Some(u.trim_end_matches('/').to_owned())
                        }
                        Some(u) => {
                            return Err(ConfigError::Invalid {
                                var: "PLUGS_PUBLIC_URL",
                                message: format!("{u:?} is not an http(s) URL"),
                            });
                        }
                    },
                }
            },
            jobs: {
                let d = crate::jobs::JobsConfig::default();
                let ms = std::time::Duration::from_millis;
                crate::jobs::JobsConfig {
                    workers: parse_num(&get, "PLUGS_WORKERS", d.workers)?,
                    lease: std::time::Duration::from_secs(parse_positive(
                        &get,
                        "PLUGS_JOB_LEASE_SECS",
                        d.lease.as_secs(),
                    )?),
                    poll: ms(parse_positive(
                        &get,
                        "PLUGS_JOB_POLL_MS",
                        d.poll.as_millis() as u64,
                    )?),
                    retry_base: ms(parse_positive(
                        &get,
                        "PLUGS_JOB_RETRY_BASE_MS",
                        d.retry_base.as_millis() as u64,
                    )?),
                    grace: d.grace,
                    purge_deleted_after: match get("PLUGS_PURGE_DELETED_AFTER_DAYS") {
                        None => None,
                        Some(_) => Some(chrono::Duration::days(parse_positive(
                            &get,
                            "PLUGS_PURGE_DELETED_AFTER_DAYS",
                            1,
                        )? as i64)),
                    },
                    notification_purge: std::time::Duration::from_secs(parse_positive(
                        &get,
                        "PLUGS_NOTIFICATION_PURGE_SECS",
                        d.notification_purge.as_secs(),
                    )?),
                    media_retention: chrono::Duration::days(parse_positive(
                        &get,
                        "PLUGS_MEDIA_RETENTION_DAYS",
                        d.media_retention.num_days() as u64,
                    )? as i64),
                    // At most a century: beyond, dates stop being representable.
                    analytics_retention: chrono::Duration::days(
                        parse_positive(
                            &get,
                            "PLUGS_ANALYTICS_RETENTION_DAYS",
                            d.analytics_retention.num_days() as u64,
                        )?
                        .min(36_500) as i64,
                    ),
                }
            },
        };
        config.mail = crate::mail::MailConfig {
            smtp_url: get("PLUGS_SMTP_URL"),
            from: get("PLUGS_MAIL_FROM").unwrap_or_else(|| crate::mail::DEFAULT_FROM.into()),
            public_url: config
                .media
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{}", config.bind)),
            log_bodies: config.env != Environment::Production,
        };
        if let Err(message) = crate::mail::Mailer::new(&config.mail) {
            let var = if message.starts_with("PLUGS_MAIL_FROM") {
                "PLUGS_MAIL_FROM"
            } else {
                "PLUGS_SMTP_URL"
            };
            return Err(ConfigError::Invalid { var, message });
        }
        // Last, so that a configuration refused for another reason writes nothing to disk.
        if config.auth.jwt_secret.is_empty() {
            let path = dev_secret_path(&config.database_url);
            config.auth.jwt_secret =
                development_secret(&path).map_err(|e| ConfigError::Invalid {
                    var: "PLUGS_JWT_SECRET",
                    message: format!(
                        "not set, and the development secret cannot be kept in {}: {e}",
                        path.display()
                    ),
                })?;
            config.auth.jwt_secret_file = Some(path);
        }
        if config.keyring_is_development {
            config.keyring = crate::crypto::Keyring::development(&config.auth.jwt_secret);
        }
        Ok(config)
    }

    /// What request-side code needs to queue mail.
    pub fn composer(&self) -> crate::mail::Composer {
        crate::mail::Composer::new(self.keyring.clone(), &self.mail.public_url)
    }

    /// Production hides the schema: introspection, and with it GraphiQL, is off there.
    pub fn introspection(&self) -> bool {
        self.env != Environment::Production
    }

    pub fn database_kind(&self) -> DatabaseKind {
        database_kind(&self.database_url).expect("validated when the config was read")
    }
}

/// The development secret's file: beside the SQLite database it signs for, else in the working
/// directory. Git-ignored.
pub fn dev_secret_path(database_url: &str) -> std::path::PathBuf {
    let dir = sqlite_file(database_url)
        .and_then(|f| f.parent().map(std::path::Path::to_path_buf))
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| ".".into());
    dir.join(DEV_SECRET_FILE)
}

pub const DEV_SECRET_FILE: &str = ".plugs-dev-secret";

/// Reads the development secret at `path`, making it first if there is none. Tokens then
/// survive a restart. Two processes starting at once agree on one secret: each writes a
/// private temporary file and hard-links it to `path`, which only the first link wins; the
/// loser reads the winner's file, which is complete the moment it appears.
fn development_secret(path: &std::path::Path) -> std::io::Result<String> {
    match read_secret(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        found => return found,
    }
    let secret = random_secret();
    let tmp = path.with_file_name(format!("{DEV_SECRET_FILE}.{}.tmp", &random_secret()[..12]));
    let written = write_private(&tmp, &secret).and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match written {
        Ok(()) => Ok(secret),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_secret(path),
        Err(e) => Err(e),
    }
}

fn read_secret(path: &std::path::Path) -> std::io::Result<String> {
    let secret = std::fs::read_to_string(path)?.trim().to_owned();
    if secret.len() < 32 {
        return Err(std::io::Error::other(
            "it holds fewer than 32 characters; delete it to make a new one",
        ));
    }
    Ok(secret)
}

/// Readable by its owner only: the secret signs every development token.
fn write_private(path: &std::path::Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(format!("{secret}\n").as_bytes())?;
    file.sync_all()
}

fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random generator is available");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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

/// As `parse_num`, refusing 0 (an interval or a buffer of zero cannot work).
fn parse_positive(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: u64,
) -> Result<u64, ConfigError> {
    match parse_num(get, var, default)? {
        0 => Err(ConfigError::Invalid {
            var,
            message: "must be at least 1".into(),
        }),
        n => Ok(n),
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

/// The file a SQLite URL names, as sqlx reads it; `None` for in-memory SQLite and PostgreSQL.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    if database_kind(url).ok()? != DatabaseKind::Sqlite {
        return None;
    }
    let opts: sea_orm::sqlx::sqlite::SqliteConnectOptions = url.parse().ok()?;
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let memory_mode = serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .unwrap_or_default()
        .iter()
        .any(|(k, v)| k == "mode" && v == "memory");
    let file = opts.get_filename();
    // sqlx names `:memory:` databases `file:sqlx-in-memory-<n>`.
    if memory_mode || file.to_string_lossy().starts_with("file:sqlx-in-memory-") {
        return None;
    }
    Some(file.to_owned())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_development_secret_lives_beside_the_sqlite_file_else_in_the_working_directory() {
        let path = |url: &str| dev_secret_path(url).display().to_string();
        assert_eq!(path("sqlite://plugs.db?mode=rwc"), "./.plugs-dev-secret");
        assert_eq!(path("sqlite://data/plugs.db"), "data/.plugs-dev-secret");
        assert_eq!(
            path("sqlite:///var/lib/plugs/plugs.db?mode=rwc"),
            "/var/lib/plugs/.plugs-dev-secret"
        );
        assert_eq!(path("sqlite::memory:"), "./.plugs-dev-secret");
        assert_eq!(path("sqlite://x.db?mode=memory"), "./.plugs-dev-secret");
        assert_eq!(
            path("postgres://postgres@127.0.0.1:5432/plugs"),
            "./.plugs-dev-secret"
        );
    }
}
