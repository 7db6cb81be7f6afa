//! One `audit_logs` row per mutation, written with the change in the same transaction.

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DbErr};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{RequestMeta, now};
use crate::domain::enums::{AuditAction, DbEnum};
use crate::entities::audit_logs;

/// Columns that never reach an audit row.
const SECRETS: [&str; 3] = ["password_hash", "credentials", "token_hash"];

/// A row as JSON, secrets removed.
pub fn snapshot<T: Serialize>(row: &T) -> Value {
    let mut v = serde_json::to_value(row).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        for key in SECRETS {
            map.remove(key);
        }
    }
    v
}

pub struct Entry<'a> {
    pub organization_id: Uuid,
    pub user_id: Option<Uuid>,
    pub meta: &'a RequestMeta,
    pub table: &'static str,
    pub record_id: Uuid,
    pub action: AuditAction,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

pub async fn record(db: &impl ConnectionTrait, e: Entry<'_>) -> Result<(), DbErr> {
    audit_logs::ActiveModel {
        id: Set(Uuid::new_v4()),
        organization_id: Set(e.organization_id),
        user_id: Set(e.user_id),
        table_name: Set(e.table.to_owned()),
        record_id: Set(e.record_id),
        action: Set(e.action.as_str().to_owned()),
        old_values: Set(e.old),
        new_values: Set(e.new),
        metadata: Set(json!({
            "requestId": e.meta.request_id,
            "ip": e.meta.ip.map(|ip| ip.to_string()),
            "userAgent": e.meta.user_agent,
        })),
        created_at: Set(now()),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The audit row of `actor` changing one row: created (no `old`), updated, or deleted (no
/// `new`), each side snapshotted without secrets.
pub async fn change<T: Serialize>(
    db: &impl ConnectionTrait,
    actor: &super::Actor,
    table: &'static str,
    record_id: Uuid,
    old: Option<&T>,
    new: Option<&T>,
) -> Result<(), crate::error::AppError> {
    let action = match (old, new) {
        (None, _) => AuditAction::Create,
        (Some(_), Some(_)) => AuditAction::Update,
        (Some(_), None) => AuditAction::Delete,
    };
    by_actor(
        db,
        actor,
        table,
        record_id,
        action,
        old.map(snapshot),
        new.map(snapshot),
    )
    .await
}

/// The audit row of a change made by `actor` (the common case).
pub async fn by_actor(
    db: &impl ConnectionTrait,
    actor: &super::Actor,
    table: &'static str,
    record_id: Uuid,
    action: AuditAction,
    old: Option<Value>,
    new: Option<Value>,
) -> Result<(), crate::error::AppError> {
    record(
        db,
        Entry {
            organization_id: actor.organization_id,
            user_id: Some(actor.user_id),
            meta: &actor.meta,
            table,
            record_id,
            action,
            old,
            new,
        },
    )
    .await?;
    Ok(())
}
