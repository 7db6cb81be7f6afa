//! `AuditLog`: one change to one record, written in the change's transaction.

use crate::graphql::fast::Fast;
use async_graphql::{ID, Json, SimpleObject};
use chrono::{DateTime, Utc};

use crate::db::scoped::Scoped;
use crate::domain::enums::{AuditAction, Stored};
use crate::entities::audit_logs;
use crate::graphql::scalars::utc;

/// One change to one record, written in the same transaction as the change.
#[derive(Clone, Debug, SimpleObject)]
#[graphql(complex)]
pub struct AuditLog {
    #[graphql(skip)]
    pub scope: Scoped,
    #[graphql(skip)]
    pub user_id: Option<uuid::Uuid>,
    pub id: ID,
    pub table_name: String,
    pub record_id: ID,
    pub action: Stored<AuditAction>,
    pub old_values: Option<Json<serde_json::Value>>,
    pub new_values: Option<Json<serde_json::Value>>,
    pub metadata: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

impl From<audit_logs::Model> for AuditLog {
    fn from(m: audit_logs::Model) -> Self {
        Self {
            scope: super::row_scope(m.organization_id),
            user_id: m.user_id,
            id: m.id.into(),
            table_name: m.table_name,
            record_id: m.record_id.into(),
            action: Stored::from_db(&m.action),
            old_values: m.old_values.map(Json),
            new_values: m.new_values.map(Json),
            metadata: Json(m.metadata),
            created_at: utc(m.created_at),
        }
    }
}

#[async_graphql::ComplexObject]
impl AuditLog {
    /// Who made the change (`null` for changes made by the system); a member deleted since
    /// still shows, with `deletedAt`.
    async fn user(
        &self,
        ctx: &async_graphql::Context<'_>,
    ) -> async_graphql::Result<Option<Fast<super::User>>> {
        let loaders = ctx.data::<crate::graphql::loaders::Loaders>()?.get();
        super::related_opt(&loaders.users, self.scope, self.user_id).await
    }
}

impl crate::graphql::fast::FastObject for AuditLog {}
