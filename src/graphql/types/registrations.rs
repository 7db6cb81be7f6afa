//! `EventAttendee`: a member's registration for an event.

use crate::graphql::fast::Fast;
use async_graphql::{ComplexObject, Context, ID, Json, SimpleObject};
use chrono::{DateTime, Utc};

use super::{Event, User, related};
use crate::db::scoped::Scoped;
use crate::domain::enums::{AttendeeStatus, Stored};
use crate::entities::event_attendees;
use crate::graphql::loaders::Loaders;
use crate::graphql::scalars::{utc, utc_opt};

/// A user's registration for an event.
#[derive(Clone, Debug, SimpleObject)]
#[graphql(complex)]
pub struct EventAttendee {
    #[graphql(skip)]
    pub scope: Scoped,
    #[graphql(skip)]
    pub event_id: uuid::Uuid,
    #[graphql(skip)]
    pub user_id: uuid::Uuid,
    pub id: ID,
    pub status: Stored<AttendeeStatus>,
    pub registration_date: DateTime<Utc>,
    pub check_in_time: Option<DateTime<Utc>>,
    pub check_out_time: Option<DateTime<Utc>>,
    pub notes: Option<String>,
    pub metadata: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

crate::graphql::fast::columns!(EventAttendee {
    id,
    status,
    registration_date,
    check_in_time,
    check_out_time,
    notes,
    metadata,
    created_at,
    updated_at,
    deleted_at,
});

impl From<event_attendees::Model> for EventAttendee {
    fn from(m: event_attendees::Model) -> Self {
        Self {
            scope: super::row_scope(m.organization_id),
            event_id: m.event_id,
            user_id: m.user_id,
            id: m.id.into(),
            status: Stored::from_db(&m.status),
            registration_date: utc(m.registration_date),
            check_in_time: utc_opt(m.check_in_time),
            check_out_time: utc_opt(m.check_out_time),
            notes: m.notes,
            metadata: Json(m.metadata),
            created_at: utc(m.created_at),
            updated_at: utc(m.updated_at),
            deleted_at: utc_opt(m.deleted_at),
        }
    }
}

#[ComplexObject]
impl EventAttendee {
    async fn event(&self, ctx: &Context<'_>) -> async_graphql::Result<Fast<Event>> {
        let loaders = ctx.data::<Loaders>()?.get();
        related(&loaders.events, self.scope, self.event_id, "event").await
    }

    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Fast<User>> {
        let loaders = ctx.data::<Loaders>()?.get();
        related(&loaders.users, self.scope, self.user_id, "user").await
    }
}
