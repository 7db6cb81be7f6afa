//! Database connection setup (SQLite runs with foreign keys on, WAL and a busy timeout), and
//! every statement the rest of the code may not build itself: tenant scopes, pages, views.
//! Clippy refuses SeaORM's unscoped entry points and raw SQL outside this module
//! (`clippy.toml`); inside it they are the building blocks.
#![allow(
    clippy::disallowed_methods,
    reason = "db/ builds the scoped entry points the rest of the code must use"
)]

pub mod children;
pub mod pagination;
pub mod scoped;
pub mod search;
pub mod views;

use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};

use crate::config::{Config, DatabaseKind, redact_url};

pub async fn connect(config: &Config) -> Result<DatabaseConnection, crate::BoxError> {
    connect_url(&config.database_url, config.db_max_connections).await
}

/// Connects with the pool settings and, on SQLite, the pragmas above. Errors are one line.
pub async fn connect_url(
    url: &str,
    max_connections: u32,
) -> Result<DatabaseConnection, crate::BoxError> {
    let kind = crate::config::database_kind(url)?;
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(max_connections)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    if kind == DatabaseKind::Sqlite {
        opts.map_sqlx_sqlite_opts(|o| {
            o.foreign_keys(true)
                .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
        });
    }
    let db = Database::connect(opts).await.map_err(|e| {
        format!(
            "cannot connect to {}: {}",
            redact_url(url),
            one_line(&e.to_string())
        )
    })?;
    Ok(db)
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
