//! Business rules, one module per aggregate: validation, transactions, audit. No GraphQL here.

pub mod accounts;
pub mod agenda;
pub mod audit;
pub mod contacts;
pub mod events;
pub mod notifications;
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

/// Soft delete (`deleted = true`) or restore of one row of the caller's organization, with its
/// audit row, inside `txn`. The row must currently be in the other state, else `missing`.
/// Sets `is_deleted`, `deleted_at`, `updated_at`, and `updated_by` where the table has it.
pub async fn set_deleted<E>(
    txn: &impl ConnectionTrait,
    actor: &Actor,
    table: &'static str,
    id: Uuid,
    deleted: bool,
    missing: fn() -> crate::error::AppError,
) -> Result<E::Model, crate::error::AppError>
where
    E: crate::db::scoped::TenantEntity,
    E::Model: sea_orm::IntoActiveModel<E::ActiveModel> + serde::Serialize + Clone + Send + Sync,
    E::ActiveModel: sea_orm::ActiveModelTrait<Entity = E> + sea_orm::ActiveModelBehavior + Send,
{
    use std::str::FromStr;

    use sea_orm::{ActiveModelTrait, ColumnTrait, IntoActiveModel, QueryFilter};

    let col = |name: &str| {
        <E::Column as FromStr>::from_str(name)
            .map_err(|_| crate::error::AppError::Internal(format!("{table} has no column {name}")))
    };
    let is_deleted = E::deleted_column()
        .ok_or_else(|| crate::error::AppError::Internal(format!("{table} has no soft delete")))?;
    let old = actor
        .scope()
        .by_id::<E>(id)
        .filter(is_deleted.eq(!deleted))
        .one(txn)
        .await?
        .ok_or_else(missing)?;
    let t = now();
    let mut a = old.clone().into_active_model();
    a.set(is_deleted, deleted.into());
    a.set(col("deleted_at")?, deleted.then_some(t).into());
    a.set(col("updated_at")?, t.into());
    if let Ok(updated_by) = col("updated_by") {
        a.set(updated_by, Some(actor.user_id).into());
    }
    let row = a.update(txn).await?;
    let action = if deleted {
        crate::domain::enums::AuditAction::Delete
    } else {
        crate::domain::enums::AuditAction::Restore
    };
    audit::by_actor(
        txn,
        actor,
        table,
        id,
        action,
        Some(audit::snapshot(&old)),
        Some(audit::snapshot(&row)),
    )
    .await?;
    Ok(row)
}
