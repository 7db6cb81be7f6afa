use super::{dangling, related, related_opt};
use async_graphql::{ComplexObject, Context, ID, Json, SimpleObject};

use crate::graphql::loaders::Loaders;
use crate::graphql::types::User;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::domain::enums::{
    AgendaItemStatus, AgendaItemType, AttendeeStatus, DbEnum, EventStatus, EventType,
};
use crate::domain::money;
use crate::entities::{event_agenda_items, event_attendees, events};
use crate::graphql::scalars::{utc, utc_opt};

/// A conference, workshop, networking night or meeting.
#[derive(Clone, Debug, SimpleObject)]
#[graphql(complex)]
pub struct Event {
    #[graphql(skip)]
    pub organization_id: uuid::Uuid,
    #[graphql(skip)]
    pub created_by_id: uuid::Uuid,
    pub id: ID,
    pub title: String,
    pub description: Option<String>,
    pub event_type: EventType,
    pub status: EventStatus,
    pub start_date: DateTime<Utc>,
    pub end_date: DateTime<Utc>,
    /// IANA time zone the event is held in (display only; all times are UTC).
    pub timezone: String,
    pub location: Option<String>,
    pub venue: Option<String>,
    pub venue_details: Json<serde_json::Value>,
    pub budget: Decimal,
    /// ISO 4217 code.
    pub currency: String,
    /// `null` means unlimited.
    pub max_attendees: Option<i32>,
    pub current_attendees: i32,
    pub registration_url: Option<String>,
    pub settings: Json<serde_json::Value>,
    pub metadata: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<events::Model> for Event {
    fn from(m: events::Model) -> Self {
        Self {
            organization_id: m.organization_id,
            created_by_id: m.created_by,
            id: m.id.into(),
            title: m.title,
            description: m.description,
            event_type: DbEnum::from_db(&m.event_type),
            status: DbEnum::from_db(&m.status),
            start_date: utc(m.start_date),
            end_date: utc(m.end_date),
            timezone: m.timezone,
            location: m.location,
            venue: m.venue,
            venue_details: Json(m.venue_details),
            budget: money::normalize(m.budget),
            currency: m.currency,
            max_attendees: m.max_attendees,
            current_attendees: m.current_attendees,
            registration_url: m.registration_url,
            settings: Json(m.settings),
            metadata: Json(m.metadata),
            created_at: utc(m.created_at),
            updated_at: utc(m.updated_at),
            deleted_at: utc_opt(m.deleted_at),
        }
    }
}

/// A user's registration for an event.
#[derive(Clone, Debug, SimpleObject)]
#[graphql(complex)]
pub struct EventAttendee {
    #[graphql(skip)]
    pub organization_id: uuid::Uuid,
    #[graphql(skip)]
    pub event_id: uuid::Uuid,
    #[graphql(skip)]
    pub user_id: uuid::Uuid,
    pub id: ID,
    pub status: AttendeeStatus,
    pub registration_date: DateTime<Utc>,
    pub check_in_time: Option<DateTime<Utc>>,
    pub check_out_time: Option<DateTime<Utc>>,
    pub notes: Option<String>,
    pub metadata: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<event_attendees::Model> for EventAttendee {
    fn from(m: event_attendees::Model) -> Self {
        Self {
            organization_id: m.organization_id,
            event_id: m.event_id,
            user_id: m.user_id,
            id: m.id.into(),
            status: DbEnum::from_db(&m.status),
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

/// One slot of an event's agenda.
#[derive(Clone, Debug, SimpleObject)]
#[graphql(complex)]
pub struct AgendaItem {
    #[graphql(skip)]
    pub organization_id: uuid::Uuid,
    #[graphql(skip)]
    pub event_id: uuid::Uuid,
    #[graphql(skip)]
    pub speaker_id: Option<uuid::Uuid>,
    pub id: ID,
    pub title: String,
    pub description: Option<String>,
    pub start_time: DateTime<Utc>,
    pub end_time: DateTime<Utc>,
    pub agenda_type: AgendaItemType,
    pub location: Option<String>,
    pub sort_order: i32,
    pub status: AgendaItemStatus,
    pub metadata: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<event_agenda_items::Model> for AgendaItem {
    fn from(m: event_agenda_items::Model) -> Self {
        Self {
            organization_id: m.organization_id,
            event_id: m.event_id,
            speaker_id: m.speaker_id,
            id: m.id.into(),
            title: m.title,
            description: m.description,
            start_time: utc(m.start_time),
            end_time: utc(m.end_time),
            agenda_type: DbEnum::from_db(&m.agenda_type),
            location: m.location,
            sort_order: m.sort_order,
            status: DbEnum::from_db(&m.status),
            metadata: Json(m.metadata),
            created_at: utc(m.created_at),
            updated_at: utc(m.updated_at),
            deleted_at: utc_opt(m.deleted_at),
        }
    }
}

impl Event {
    async fn stats(&self, ctx: &Context<'_>) -> async_graphql::Result<(i64, i64, i64)> {
        let loaders = ctx.data::<Loaders>()?;
        let event: uuid::Uuid = self.id.parse().map_err(|_| dangling("event"))?;
        Ok(loaders
            .attendee_stats
            .load_one((self.organization_id, event))
            .await?
            .unwrap_or_default())
    }
}

#[ComplexObject]
impl Event {
    /// The member who created the event (its organizer).
    async fn created_by(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        let loaders = ctx.data::<Loaders>()?;
        related(
            &loaders.users,
            self.organization_id,
            self.created_by_id,
            "user",
        )
        .await
    }

    /// Registrations, first registered first. The first page of many events loads in one
    /// statement.
    async fn attendees(
        &self,
        ctx: &Context<'_>,
        status: Option<Vec<AttendeeStatus>>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<crate::graphql::connection::Connection<EventAttendee>> {
        let event: uuid::Uuid = self.id.parse().map_err(|_| dangling("event"))?;
        let statuses = status
            .unwrap_or_default()
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect();
        crate::graphql::connection::children(
            ctx,
            &crate::services::events::ATTENDEES_OF_EVENT,
            self.organization_id,
            event,
            statuses,
            crate::db::pagination::PageArgs {
                first,
                after,
                last,
                before,
            },
        )
        .await
    }

    /// The agenda by `sortOrder`, then start time (batched across a page of events).
    async fn agenda(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<AgendaItem>> {
        let loaders = ctx.data::<Loaders>()?;
        let event: uuid::Uuid = self.id.parse().map_err(|_| dangling("event"))?;
        let items = loaders
            .agenda
            .load_one((self.organization_id, event))
            .await?;
        Ok(items
            .unwrap_or_default()
            .into_iter()
            .map(AgendaItem::from)
            .collect())
    }

    /// ATTENDED registrations / registrations not cancelled; `null` with no registrations.
    async fn attendance_rate(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<f64>> {
        let (active, attended, _) = self.stats(ctx).await?;
        Ok((active > 0).then(|| attended as f64 / active as f64))
    }

    /// Checked-in registrations / registrations not cancelled; `null` with no registrations.
    async fn check_in_rate(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<f64>> {
        let (active, _, checked_in) = self.stats(ctx).await?;
        Ok((active > 0).then(|| checked_in as f64 / active as f64))
    }

    /// Seats still free; `null` when there is no limit.
    async fn spots_left(&self) -> Option<i32> {
        self.max_attendees
            .map(|m| (m - self.current_attendees).max(0))
    }
}

#[ComplexObject]
impl EventAttendee {
    async fn event(&self, ctx: &Context<'_>) -> async_graphql::Result<Event> {
        let loaders = ctx.data::<Loaders>()?;
        related(
            &loaders.events,
            self.organization_id,
            self.event_id,
            "event",
        )
        .await
    }

    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        let loaders = ctx.data::<Loaders>()?;
        related(&loaders.users, self.organization_id, self.user_id, "user").await
    }
}

#[ComplexObject]
impl AgendaItem {
    async fn event(&self, ctx: &Context<'_>) -> async_graphql::Result<Event> {
        let loaders = ctx.data::<Loaders>()?;
        related(
            &loaders.events,
            self.organization_id,
            self.event_id,
            "event",
        )
        .await
    }

    /// The member presenting, if any.
    async fn speaker(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let loaders = ctx.data::<Loaders>()?;
        related_opt(&loaders.users, self.organization_id, self.speaker_id).await
    }
}
