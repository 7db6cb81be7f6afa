//! The caller's organization, and the audit trail (admins only).

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, Order,
    QueryFilter,
};
use uuid::Uuid;

use super::audit;
use super::{Actor, Change, now, validate};
use crate::db::pagination::{Keyset, Page, PageArgs, SortKind, SortValue, paginate};
use crate::domain::enums::{AuditAction, DbEnum};
use crate::entities::{audit_logs, organizations};
use crate::error::AppError;

#[derive(Clone, Debug, Default)]
pub struct OrganizationPatch {
    pub name: Option<String>,
    pub domain: Change<String>,
    pub settings: Option<serde_json::Value>,
}

pub async fn get(db: &DatabaseConnection, actor: &Actor) -> Result<organizations::Model, AppError> {
    organizations::Entity::find_by_id(actor.organization_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::Unauthenticated("the organization no longer exists".into()))
}

pub async fn update(
    db: &DatabaseConnection,
    actor: &Actor,
    patch: OrganizationPatch,
) -> Result<organizations::Model, AppError> {
    if !actor.is_admin {
        return Err(AppError::Forbidden(
            "only an organization admin may do this".into(),
        ));
    }
    let txn = crate::db::write_txn(db).await?;
    let old = organizations::Entity::find_by_id(actor.organization_id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::Unauthenticated("the organization no longer exists".into()))?;
    let mut a: organizations::ActiveModel = old.clone().into();
    if let Some(name) = patch.name {
        a.name = Set(validate::required("name", &name, 255)?);
    }
    match patch.domain {
        Change::Keep => {}
        Change::Clear => a.domain = Set(None),
        Change::Set(d) => a.domain = Set(validate::domain("domain", Some(&d))?),
    }
    if let Some(settings) = patch.settings {
        if !settings.is_object() {
            return Err(AppError::bad_input("settings", "must be a JSON object"));
        }
        a.settings = Set(settings);
    }
    a.updated_at = Set(now());
    let org = a.update(&txn).await.map_err(|e| match AppError::from(e) {
        // The unique constraint is named for registration's argument; here the field is `domain`.
        AppError::Conflict { message, .. } => AppError::Conflict {
            message,
            field: Some("domain".into()),
        },
        other => other,
    })?;
    audit::change(&txn, actor, "organizations", org.id, Some(&old), Some(&org)).await?;
    txn.commit().await?;
    Ok(org)
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

pub async fn audit_logs(
    db: &DatabaseConnection,
    actor: &Actor,
    filter: &AuditFilter,
    args: &PageArgs,
) -> Result<Page<audit_logs::Model>, AppError> {
    if !actor.is_admin {
        return Err(AppError::Forbidden(
            "only an organization admin may read the audit log".into(),
        ));
    }
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
