//! Database connection setup (SQLite runs with foreign keys on, WAL and a busy timeout), and
//! every statement the rest of the code may not build itself: tenant scopes, pages, views.
//! Clippy refuses SeaORM's unscoped entry points and raw SQL outside this module
//! (`clippy.toml`); inside it they are the building blocks.
#![allow(
    clippy::disallowed_methods,
    reason = "db/ builds the scoped entry points the rest of the code must use"
)]

pub mod analytics;
pub mod children;
pub mod idempotency;
pub mod jobs;
pub mod pagination;
pub mod purge;
pub mod rows;
pub mod scoped;
pub mod search;
pub mod views;

use std::time::Duration;

use sea_orm::sqlx::postgres::{PgConnectOptions, PgDatabaseError};
use sea_orm::sqlx::{self, ConnectOptions as _, Connection as _};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};

use crate::config::{Config, DatabaseKind, redact_url};

pub async fn connect(config: &Config) -> Result<DatabaseConnection, crate::BoxError> {
    connect_url(&config.database_url, config.db_max_connections).await
}

/// Connects with the pool settings and, on SQLite, the pragmas above. Errors are one line.
/// A PostgreSQL database that does not exist yet is created when the role may.
pub async fn connect_url(
    url: &str,
    max_connections: u32,
) -> Result<DatabaseConnection, crate::BoxError> {
    let kind = crate::config::database_kind(url)?;
    match kind {
        DatabaseKind::Postgres => probe_postgres(url).await?,
        DatabaseKind::Sqlite => {
            // SQLite's own answer is "unable to open database file", which names nothing.
            if let Some(dir) = crate::config::sqlite_file(url)
                .as_deref()
                .and_then(std::path::Path::parent)
                .filter(|d| !d.as_os_str().is_empty() && !d.is_dir())
            {
                return Err(format!(
                    "cannot open {}: the directory {} does not exist; create it or point PLUGS_DATABASE_URL elsewhere",
                    redact_url(url),
                    dir.display()
                )
                .into());
            }
        }
    }
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(max_connections)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10))
        // sqlx pings a connection on every checkout by default: a round trip to PostgreSQL
        // before each statement (and it pings again when the connection is returned). Only a
        // connection idle long enough to have been dropped by the server or a proxy is tested
        // now; a busy one was proven alive by its last statement (#14).
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        .sqlx_logging(false);
    if kind == DatabaseKind::Sqlite {
        opts.map_sqlx_sqlite_opts(|o| {
            o.foreign_keys(true)
                .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
        });
    }
    let db = Database::connect(opts)
        .await
        .map_err(|e| format!("cannot connect to {}: {}", redact_url(url), describe(&e)))?;
    Ok(db)
}

/// One direct connection before the pool exists: a missing database is created here, and a
/// refusal is reported as what the server said rather than as a pool timeout later.
async fn probe_postgres(url: &str) -> Result<(), crate::BoxError> {
    let shown = redact_url(url);
    let opts: PgConnectOptions = url
        .parse()
        .map_err(|e| format!("cannot connect to {shown}: {}", describe_sqlx(&e)))?;
    match connect_once(&opts).await {
        Ok(conn) => {
            let _ = conn.close().await;
            Ok(())
        }
        Err(e) if sqlstate(&e) == Some("3D000") => create_database(&opts)
            .await
            .map_err(|e| format!("cannot connect to {shown}: {e}").into()),
        Err(e) => Err(format!("cannot connect to {shown}: {}", describe_sqlx(&e)).into()),
    }
}

/// How long a first connection may take before the server is called unreachable: a
/// firewalled host would otherwise hold the operator for the pool's whole acquire timeout.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

async fn connect_once(opts: &PgConnectOptions) -> Result<sqlx::PgConnection, sqlx::Error> {
    tokio::time::timeout(PROBE_TIMEOUT, opts.connect())
        .await
        .unwrap_or_else(|_| {
            Err(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {} s (timed out)", PROBE_TIMEOUT.as_secs()),
            )))
        })
}

/// `CREATE DATABASE` through the server's `postgres` maintenance database, as the same role.
async fn create_database(opts: &PgConnectOptions) -> Result<(), String> {
    let name = opts
        .get_database()
        .unwrap_or(opts.get_username())
        .to_owned();
    let refused = |why: String| {
        format!(
            "database {name:?} does not exist and creating it failed: {why}; create it with `createdb {}` and start again",
            shell_word(&name)
        )
    };
    let mut conn = connect_once(&opts.clone().database("postgres"))
        .await
        .map_err(|e| refused(describe_sqlx(&e)))?;
    // An identifier cannot be a bind parameter; doubling quotes inside quotes keeps any name
    // one identifier.
    let sql = format!("CREATE DATABASE {}", quote_ident(&name));
    let created = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
    match created {
        Ok(_) => tracing::info!("created database {name}"),
        // Another process starting at the same moment created it first.
        Err(e) if sqlstate(&e) == Some("42P04") => {}
        Err(e) => return Err(refused(describe_sqlx(&e))),
    }
    Ok(())
}

/// A PostgreSQL identifier of any spelling (case, spaces, quotes) as SQL text.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `name` as one shell word, for a command the operator may paste.
fn shell_word(name: &str) -> String {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    {
        name.to_owned()
    } else {
        format!("'{}'", name.replace('\'', r"'\''"))
    }
}

fn sqlstate(err: &sqlx::Error) -> Option<&str> {
    match err {
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<PgDatabaseError>()
            .map(PgDatabaseError::code),
        _ => None,
    }
}

/// A database error as one line for an operator (see `describe_sqlx`).
pub fn describe(err: &sea_orm::DbErr) -> String {
    use sea_orm::{DbErr, RuntimeErr};
    match err {
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => describe_sqlx(e),
        other => one_line(&other.to_string()),
    }
}

/// A driver error as one line for an operator. sqlx's Display of a PostgreSQL error appends
/// the server's own source position (" at line 768"), which means nothing to them: the
/// message and SQLSTATE say what happened.
pub fn describe_sqlx(err: &sqlx::Error) -> String {
    let text = match err {
        sqlx::Error::Database(db) => match db.try_downcast_ref::<PgDatabaseError>() {
            Some(pg) => format!("{} (SQLSTATE {})", pg.message(), pg.code()),
            None => match db.code() {
                Some(code) => format!("{} (code {code})", db.message()),
                None => db.message().to_owned(),
            },
        },
        sqlx::Error::Io(io) => io.to_string(),
        other => other.to_string(),
    };
    one_line(&text)
}

/// Readiness probe: one round trip to the database.
pub async fn ping(db: &DatabaseConnection) -> bool {
    db.execute_unprepared("SELECT 1").await.is_ok()
}

fn one_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_owned()
}

/// A transaction that will write. On SQLite it is `BEGIN IMMEDIATE`: taking the write lock up
/// front makes concurrent writers wait (busy timeout) instead of failing when a read
/// transaction tries to upgrade (SQLITE_BUSY / BUSY_SNAPSHOT). PostgreSQL needs nothing special.
pub async fn write_txn(
    db: &DatabaseConnection,
) -> Result<sea_orm::DatabaseTransaction, sea_orm::DbErr> {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
    match db.get_database_backend() {
        sea_orm::DbBackend::Sqlite => {
            db.begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await
        }
        _ => db.begin().await,
    }
}

/// `pg_notify(channel, payload)` on `conn` (PostgreSQL; inside a transaction it is delivered
/// on commit only).
pub async fn pg_notify(
    conn: &impl ConnectionTrait,
    channel: &str,
    payload: String,
) -> Result<(), sea_orm::DbErr> {
    conn.execute_raw(sea_orm::Statement::from_sql_and_values(
        conn.get_database_backend(),
        "SELECT pg_notify($1, $2)",
        [channel.into(), payload.into()],
    ))
    .await?;
    Ok(())
}
