//! `AgendaItem`: one slot of an event's agenda.

use crate::graphql::fast::Fast;
use async_graphql::{ComplexObject, Context, ID, Json, SimpleObject};
use chrono::{DateTime, Utc};

use super::{Event, User, related, related_opt};
use crate::db::scoped::Scoped;
use crate::domain::enums::{AgendaItemStatus, AgendaItemType, Stored};
use crate::entities::event_agenda_items;
use crate::graphql::loaders::Loaders;
use crate::graphql::scalars::{utc, utc_opt};

/// One slot of an event's agenda.
#[derive(Clone, Debug, SimpleObject)]
#[graphql(complex)]
pub struct AgendaItem {
    #[graphql(skip)]
    pub scope: Scoped,
    #[graphql(skip)]
    pub event_id: uuid::Uuid,
    #[graphql(skip)]
    pub speaker_id: Option<uuid::Uuid>,
    pub id: ID,
    pub title: String,
    pub description: Option<String>,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    pub agenda_type: Stored<AgendaItemType>,
    pub location: Option<String>,
    pub sort_order: i32,
    pub status: Stored<AgendaItemStatus>,
    pub metadata: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

crate::graphql::fast::columns!(AgendaItem {
    id,
    title,
    start_time,
    end_time,
    agenda_type,
    location,
    sort_order,
    status,
    description,
    metadata,
    created_at,
    updated_at,
    deleted_at,
});

impl From<event_agenda_items::Model> for AgendaItem {
    fn from(m: event_agenda_items::Model) -> Self {
        Self {
            scope: super::row_scope(m.organization_id),
            event_id: m.event_id,
            speaker_id: m.speaker_id,
            id: m.id.into(),
            title: m.title,
            description: m.description,
            start_time: utc(m.start_time),
            end_time: utc(m.end_time),
            agenda_type: Stored::from_db(&m.agenda_type),
            location: m.location,
            sort_order: m.sort_order,
            status: Stored::from_db(&m.status),
            metadata: Json(m.metadata),
            created_at: utc(m.created_at),
            updated_at: utc(m.updated_at),
            deleted_at: utc_opt(m.deleted_at),
        }
    }
}

#[ComplexObject]
impl AgendaItem {
    async fn event(&self, ctx: &Context<'_>) -> async_graphql::Result<Fast<Event>> {
        let loaders = ctx.data::<Loaders>()?.get();
        related(&loaders.events, self.scope, self.event_id, "event").await
    }

    /// The member presenting, if any.
    async fn speaker(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Fast<User>>> {
        let loaders = ctx.data::<Loaders>()?.get();
        related_opt(&loaders.users, self.scope, self.speaker_id).await
    }
}
