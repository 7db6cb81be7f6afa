use async_graphql::{ID, Json, SimpleObject};
use chrono::{DateTime, Utc};

use crate::domain::enums::{
    AuditAction, DbEnum, IntegrationLogStatus, IntegrationOperation, IntegrationProvider,
    IntegrationStatus, IntegrationType, NotificationChannel, NotificationType,
};
use crate::entities::{
    analytics_events, audit_logs, integration_logs, integrations, notifications,
};
use crate::graphql::scalars::{utc, utc_opt};

fn json(v: Option<serde_json::Value>) -> Option<Json<serde_json::Value>> {
    v.map(Json)
}

/// A message for one user, shown in the app and pushed over WebSocket.
#[derive(Clone, Debug, SimpleObject)]
pub struct Notification {
    pub id: ID,
    pub title: String,
    pub message: String,
    pub notification_type: NotificationType,
    pub channel: NotificationChannel,
    pub data: Json<serde_json::Value>,
    pub is_read: bool,
    pub read_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<notifications::Model> for Notification {
    fn from(m: notifications::Model) -> Self {
        Self {
            id: m.id.into(),
            title: m.title,
            message: m.message,
            notification_type: DbEnum::from_db(&m.notification_type),
            channel: DbEnum::from_db(&m.channel),
            data: Json(m.data),
            is_read: m.is_read,
            read_at: utc_opt(m.read_at),
            expires_at: utc_opt(m.expires_at),
            created_at: utc(m.created_at),
            updated_at: utc(m.updated_at),
        }
    }
}

/// A connection to an outside tool. Its credentials are write-only and never returned.
#[derive(Clone, Debug, SimpleObject)]
pub struct Integration {
    pub id: ID,
    pub provider: IntegrationProvider,
    pub integration_type: IntegrationType,
    pub settings: Json<serde_json::Value>,
    pub is_active: bool,
    pub last_sync: Option<DateTime<Utc>>,
    pub status: IntegrationStatus,
    pub metadata: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<integrations::Model> for Integration {
    fn from(m: integrations::Model) -> Self {
        Self {
            id: m.id.into(),
            provider: DbEnum::from_db(&m.provider),
            integration_type: DbEnum::from_db(&m.integration_type),
            settings: Json(m.settings),
            is_active: m.is_active,
            last_sync: utc_opt(m.last_sync),
            status: DbEnum::from_db(&m.status),
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
    pub operation: IntegrationOperation,
    pub status: IntegrationLogStatus,
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
            operation: DbEnum::from_db(&m.operation),
            status: DbEnum::from_db(&m.status),
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

/// A product-usage event.
#[derive(Clone, Debug, SimpleObject)]
pub struct AnalyticsEvent {
    pub id: ID,
    pub event_name: String,
    pub event_category: String,
    pub properties: Json<serde_json::Value>,
    pub session_id: Option<String>,
    /// Textual IP address (INET on PostgreSQL).
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub event_timestamp: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

impl From<analytics_events::Model> for AnalyticsEvent {
    fn from(m: analytics_events::Model) -> Self {
        Self {
            id: m.id.into(),
            event_name: m.event_name,
            event_category: m.event_category,
            properties: Json(m.properties),
            session_id: m.session_id,
            ip_address: m.ip_address.map(|ip| ip.ip().to_string()),
            user_agent: m.user_agent,
            event_timestamp: utc(m.event_timestamp),
            created_at: utc(m.created_at),
        }
    }
}

/// One change to one record, written in the same transaction as the change.
#[derive(Clone, Debug, SimpleObject)]
#[graphql(complex)]
pub struct AuditLog {
    #[graphql(skip)]
    pub organization_id: uuid::Uuid,
    #[graphql(skip)]
    pub user_id: Option<uuid::Uuid>,
    pub id: ID,
    pub table_name: String,
    pub record_id: ID,
    pub action: AuditAction,
    pub old_values: Option<Json<serde_json::Value>>,
    pub new_values: Option<Json<serde_json::Value>>,
    pub metadata: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

impl From<audit_logs::Model> for AuditLog {
    fn from(m: audit_logs::Model) -> Self {
        Self {
            organization_id: m.organization_id,
            user_id: m.user_id,
            id: m.id.into(),
            table_name: m.table_name,
            record_id: m.record_id.into(),
            action: DbEnum::from_db(&m.action),
            old_values: json(m.old_values),
            new_values: json(m.new_values),
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
    ) -> async_graphql::Result<Option<super::User>> {
        let loaders = ctx.data::<crate::graphql::loaders::Loaders>()?;
        super::related_opt(&loaders.users, self.organization_id, self.user_id).await
    }
}
