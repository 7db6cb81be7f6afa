//! `Integration` and `IntegrationLog`: connections to outside tools and their runs.

use async_graphql::{ID, Json, SimpleObject};
use chrono::{DateTime, Utc};

use crate::domain::enums::{
    IntegrationLogStatus, IntegrationOperation, IntegrationProvider, IntegrationStatus,
    IntegrationType, Stored,
};
use crate::entities::{integration_logs, integrations};
use crate::graphql::scalars::{utc, utc_opt};

fn json(v: Option<serde_json::Value>) -> Option<Json<serde_json::Value>> {
    v.map(Json)
}

/// A connection to an outside tool. Its credentials are write-only and never returned.
#[derive(Clone, Debug, SimpleObject)]
#[graphql(complex)]
pub struct Integration {
    #[graphql(skip)]
    pub uuid: uuid::Uuid,
    pub id: ID,
    /// What the organization calls it (`metadata.name`; the provider by default).
    pub name: String,
    pub provider: Stored<IntegrationProvider>,
    pub integration_type: Stored<IntegrationType>,
    pub settings: Json<serde_json::Value>,
    pub is_active: bool,
    pub last_sync: Option<DateTime<Utc>>,
    pub status: Stored<IntegrationStatus>,
    pub metadata: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<integrations::Model> for Integration {
    fn from(m: integrations::Model) -> Self {
        Self {
            uuid: m.id,
            id: m.id.into(),
            name: m.metadata["name"]
                .as_str()
                .map_or_else(|| m.provider.clone(), str::to_owned),
            provider: Stored::from_db(&m.provider),
            integration_type: Stored::from_db(&m.integration_type),
            settings: Json(m.settings),
            is_active: m.is_active,
            last_sync: utc_opt(m.last_sync),
            status: Stored::from_db(&m.status),
            metadata: Json(m.metadata),
            created_at: utc(m.created_at),
            updated_at: utc(m.updated_at),
            deleted_at: utc_opt(m.deleted_at),
        }
    }
}

/// One sync, export, import or webhook run of an integration.
#[derive(Clone, Debug, SimpleObject)]
pub struct IntegrationLog {
    pub id: ID,
    pub operation: Stored<IntegrationOperation>,
    pub status: Stored<IntegrationLogStatus>,
    pub message: Option<String>,
    pub request_data: Option<Json<serde_json::Value>>,
    pub response_data: Option<Json<serde_json::Value>>,
    pub started_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub records_processed: i32,
    pub records_failed: i32,
    pub error_details: Option<Json<serde_json::Value>>,
    pub created_at: DateTime<Utc>,
}

impl From<integration_logs::Model> for IntegrationLog {
    fn from(m: integration_logs::Model) -> Self {
        Self {
            id: m.id.into(),
            operation: Stored::from_db(&m.operation),
            status: Stored::from_db(&m.status),
            message: m.message,
            request_data: json(m.request_data),
            response_data: json(m.response_data),
            started_at: utc(m.started_at),
            completed_at: utc_opt(m.completed_at),
            records_processed: m.records_processed,
            records_failed: m.records_failed,
            error_details: json(m.error_details),
            created_at: utc(m.created_at),
        }
    }
}

#[async_graphql::ComplexObject]
impl Integration {
    /// Its runs (syncs), newest first.
    async fn logs(
        &self,
        ctx: &async_graphql::Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<crate::graphql::connection::Connection<IntegrationLog>> {
        use crate::graphql::context::ContextExt;
        let args = crate::graphql::args::page(first, after, last, before);
        let p =
            crate::services::integrations::logs(ctx.db(), ctx.actor()?, self.uuid, &args).await?;
        Ok(crate::graphql::connection::Connection::from_page(p))
    }
}

impl crate::graphql::fast::FastObject for IntegrationLog {}
