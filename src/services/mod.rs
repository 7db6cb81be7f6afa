//! Business rules, one module per aggregate: validation, transactions, audit. No GraphQL here.

pub mod accounts;
pub mod agenda;
pub mod audit;
pub mod contacts;
pub mod events;
pub mod organizations;
pub mod users;
pub mod validate;

use std::net::IpAddr;

use chrono::{DateTime, FixedOffset, Utc};
use sea_orm::{ConnectionTrait, DbErr, Statement};
use uuid::Uuid;

use crate::db::scoped::Scoped;

/// Where a request came from, for audit metadata and rate limiting.
#[derive(Clone, Debug, Default)]
pub struct RequestMeta {
    pub request_id: Uuid,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

/// The authenticated caller. `is_admin` comes from the database on every request, not from
/// the token, so a demotion takes effect at once.
#[derive(Clone, Debug)]
pub struct Actor {
    pub user_id: Uuid,
    pub organization_id: Uuid,
    pub is_admin: bool,
    /// The refresh-token family the access token belongs to.
    pub session_id: Uuid,
    pub meta: RequestMeta,
}

impl Actor {
    pub fn scope(&self) -> Scoped {
        Scoped::new(self.organization_id)
    }
}

/// An optional field of an update: omitted, explicitly null, or a new value.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Change<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T> Change<T> {
    pub fn is_keep(&self) -> bool {
        matches!(self, Change::Keep)
    }
}

/// Now, to the microsecond (both backends store that precision, so values read back equal).
pub fn now() -> DateTime<FixedOffset> {
    let t = Utc::now();
    let micros = t.timestamp_subsec_micros();
    let t = t
        .with_nanosecond(micros * 1000)
        .expect("microseconds are a valid nanosecond value");
    t.fixed_offset()
}

use chrono::Timelike;

/// Serializes writers on one organization for the rest of the transaction: PostgreSQL takes a
/// row lock, SQLite takes its write lock now rather than at the first real write (avoiding a
/// busy-snapshot failure when two transactions read then write). Used where a rule reads
/// before it writes (e.g. "at least one admin must remain").
pub async fn lock_organization(
    txn: &impl ConnectionTrait,
    organization_id: Uuid,
) -> Result<(), DbErr> {
    let backend = txn.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => "UPDATE organizations SET id = id WHERE id = $1",
        _ => "UPDATE organizations SET id = id WHERE id = ?",
    };
    txn.execute_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [organization_id.into()],
    ))
    .await?;
    Ok(())
}
