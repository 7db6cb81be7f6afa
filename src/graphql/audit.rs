//! The audit trail (admins only).

use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, Utc};

use crate::domain::enums::AuditAction;
use crate::graphql::args::{opt_id, page};
use crate::graphql::connection::Connection;
use crate::graphql::context::ContextExt;
use crate::graphql::types::AuditLog;
use crate::services::audit;

type Res<T> = async_graphql::Result<T>;

#[derive(InputObject, Default)]
pub struct AuditLogFilter {
    table_name: Option<String>,
    record_id: Option<ID>,
    action: Option<AuditAction>,
    user_id: Option<ID>,
    created_after: Option<DateTime<Utc>>,
    created_before: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// Every change made in the organization, newest first (admins only).
    async fn audit_logs(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditLogFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Res<Connection<AuditLog>> {
        let actor = ctx.admin()?;
        let f = filter.unwrap_or_default();
        let filter = audit::AuditFilter {
            table_name: f.table_name,
            record_id: opt_id(f.record_id.as_ref(), "recordId")?,
            action: f.action,
            user_id: opt_id(f.user_id.as_ref(), "userId")?,
            created_after: f.created_after,
            created_before: f.created_before,
        };
        let page = audit::list(ctx.db(), actor, &filter, &page(first, after, last, before)).await?;
        Ok(Connection::from_page(page))
    }
}
