//! One `audit_logs` row per mutation, written with the change in the same transaction, and
//! the trail itself for admins.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr,
    Order, QueryFilter,
};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Actor, RequestMeta, now};
use crate::db::pagination::{Keyset, Page, PageArgs, SortKind, SortValue, paginate};
use crate::domain::enums::{AuditAction, DbEnum};
use crate::entities::audit_logs;
use crate::error::AppError;

/// Columns that never reach an audit row.
const SECRETS: [&str; 6] = [
    "password_hash",
    "credentials",
    "token_hash",
    "secret_encrypted",
    // The TOTP secret (encrypted) and recovery-code hashes.
    "secret",
    "code_hash",
];

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

/// The audit row of a change a member made to their own row before any actor exists
/// (sign-in, a mailed link): written by them, on `users`.
pub async fn by_member(
    db: &impl ConnectionTrait,
    user: &crate::entities::users::Model,
    meta: &RequestMeta,
    old: Option<Value>,
    new: Value,
) -> Result<(), DbErr> {
    record(
        db,
        Entry {
            organization_id: user.organization_id,
            user_id: Some(user.id),
            meta,
            table: "users",
            record_id: user.id,
            action: AuditAction::Update,
            old,
            new: Some(new),
        },
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

#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub table_name: Option<String>,
    pub record_id: Option<Uuid>,
    pub action: Option<AuditAction>,
    pub user_id: Option<Uuid>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
}

/// Every change made in the organization, newest first (admins only).
pub async fn list(
    db: &DatabaseConnection,
    actor: &Actor,
    filter: &AuditFilter,
    args: &PageArgs,
) -> Result<Page<audit_logs::Model>, AppError> {
    actor.admin()?;
    let mut q = actor.scope().find::<audit_logs::Entity>();
    if let Some(t) = &filter.table_name {
        q = q.filter(audit_logs::Column::TableName.eq(t.as_str()));
    }
    if let Some(id) = filter.record_id {
        q = q.filter(audit_logs::Column::RecordId.eq(id));
    }
    if let Some(a) = filter.action {
        q = q.filter(audit_logs::Column::Action.eq(a.as_str()));
    }
    if let Some(u) = filter.user_id {
        q = q.filter(audit_logs::Column::UserId.eq(u));
    }
    if let Some(t) = filter.created_after {
        q = q.filter(audit_logs::Column::CreatedAt.gte(t.fixed_offset()));
    }
    if let Some(t) = filter.created_before {
        q = q.filter(audit_logs::Column::CreatedAt.lt(t.fixed_offset()));
    }
    let keyset = Keyset {
        name: "created_at",
        sort: audit_logs::Column::CreatedAt,
        kind: SortKind::Time,
        nullable: false,
        id: audit_logs::Column::Id,
        direction: Order::Desc,
        value: |m: &audit_logs::Model| SortValue::Time(m.created_at.to_utc()),
        id_of: |m: &audit_logs::Model| m.id,
    };
    paginate(db, q, &keyset, args).await
}
