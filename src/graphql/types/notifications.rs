//! `Notification`: a message for one user.

use async_graphql::{ID, Json, SimpleObject};
use chrono::{DateTime, Utc};

use crate::domain::enums::{NotificationChannel, NotificationType, Stored};
use crate::entities::notifications;
use crate::graphql::scalars::{utc, utc_opt};

/// A message for one user, shown in the app and pushed over WebSocket.
#[derive(Clone, Debug, SimpleObject)]
pub struct Notification {
    pub id: ID,
    pub title: String,
    pub message: String,
    pub notification_type: Stored<NotificationType>,
    pub channel: Stored<NotificationChannel>,
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
            notification_type: Stored::from_db(&m.notification_type),
            channel: Stored::from_db(&m.channel),
            data: Json(m.data),
            is_read: m.is_read,
            read_at: utc_opt(m.read_at),
            expires_at: utc_opt(m.expires_at),
            created_at: utc(m.created_at),
            updated_at: utc(m.updated_at),
        }
    }
}

impl crate::graphql::fast::FastObject for Notification {}
