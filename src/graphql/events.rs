//! Events: create, edit, trash, and the lifecycle DRAFT -> PUBLISHED -> ONGOING -> COMPLETED
//! (or CANCELLED).

use async_graphql::{Context, Enum, ID, InputObject, Json, MaybeUndefined, Object};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::Order;

use crate::domain::enums::{EventStatus, EventType};
use crate::entities::events;
use crate::error::AppError;
use crate::graphql::args::{
    OrderDirection, change, non_null, one_ordering, opt_id, page, parse_id, set,
};
use crate::graphql::connection::Connection;
use crate::graphql::context::ContextExt;
use crate::graphql::types::Event;
use crate::services;
use crate::services::events::{self as svc, EventSort};

type Res<T> = async_graphql::Result<T>;

/// One lifecycle step of an event (`publishEvent`, `startEvent`, ...).
async fn transition(
    ctx: &Context<'_>,
    id: &ID,
    from: &[EventStatus],
    to: EventStatus,
) -> Res<Event> {
    let row = svc::transition(ctx.store(), ctx.actor()?, parse_id(id, "id")?, from, to).await?;
    Ok(row.into())
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum EventOrderField {
    StartDate,
    CreatedAt,
    Title,
}

/// Ties are broken by id.
#[derive(InputObject, Clone, Copy)]
pub struct EventOrder {
    field: EventOrderField,
    direction: OrderDirection,
}

#[derive(InputObject, Default)]
pub struct EventFilter {
    /// Case-insensitive substring of title, description, location or venue.
    search: Option<String>,
    status: Option<Vec<EventStatus>>,
    event_type: Option<Vec<EventType>>,
    starts_after: Option<DateTime<Utc>>,
    starts_before: Option<DateTime<Utc>>,
    created_by: Option<ID>,
    /// `true` lists deleted events (the trash).
    deleted: Option<bool>,
}

/// A new event starts as DRAFT; `publishEvent` opens registration.
#[derive(InputObject)]
pub struct CreateEventInput {
    title: String,
    description: Option<String>,
    event_type: Option<EventType>,
    start_date: DateTime<Utc>,
    /// After `startDate`.
    end_date: DateTime<Utc>,
    timezone: Option<String>,
    location: Option<String>,
    venue: Option<String>,
    venue_details: Option<Json<serde_json::Value>>,
    budget: Option<Decimal>,
    /// ISO 4217, default USD.
    currency: Option<String>,
    /// At least 1; omitted or null: no limit.
    max_attendees: Option<i32>,
    registration_url: Option<String>,
    settings: Option<Json<serde_json::Value>>,
    metadata: Option<Json<serde_json::Value>>,
}

/// Omitted fields stay as they are; `null` clears an optional field. `maxAttendees` cannot
/// go below the number already registered.
#[derive(InputObject)]
pub struct UpdateEventInput {
    title: MaybeUndefined<String>,
    description: MaybeUndefined<String>,
    event_type: MaybeUndefined<EventType>,
    start_date: MaybeUndefined<DateTime<Utc>>,
    end_date: MaybeUndefined<DateTime<Utc>>,
    timezone: MaybeUndefined<String>,
    location: MaybeUndefined<String>,
    venue: MaybeUndefined<String>,
    venue_details: MaybeUndefined<Json<serde_json::Value>>,
    budget: MaybeUndefined<Decimal>,
    currency: MaybeUndefined<String>,
    max_attendees: MaybeUndefined<i32>,
    registration_url: MaybeUndefined<String>,
    settings: MaybeUndefined<Json<serde_json::Value>>,
    metadata: MaybeUndefined<Json<serde_json::Value>>,
}

fn sort_of(order: Option<Vec<EventOrder>>) -> Result<(EventSort, Order), AppError> {
    one_ordering(order, (EventSort::StartDate, Order::Asc), |o| {
        let field = match o.field {
            EventOrderField::StartDate => EventSort::StartDate,
            EventOrderField::CreatedAt => EventSort::CreatedAt,
            EventOrderField::Title => EventSort::Title,
        };
        (field, o.direction)
    })
}

#[derive(Default)]
pub struct EventsQuery;

#[Object]
impl EventsQuery {
    /// The organization's events; soonest first unless `orderBy` says otherwise.
    #[allow(clippy::too_many_arguments)]
    async fn events(
        &self,
        ctx: &Context<'_>,
        filter: Option<EventFilter>,
        order_by: Option<Vec<EventOrder>>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Res<Connection<Event>> {
        let actor = ctx.actor()?;
        let f = filter.unwrap_or_default();
        let filter = svc::EventFilter {
            search: f.search,
            status: f.status,
            event_type: f.event_type,
            starts_after: f.starts_after,
            starts_before: f.starts_before,
            created_by: opt_id(f.created_by.as_ref(), "createdBy")?,
            deleted: f.deleted,
        };
        let page = svc::list(
            ctx.db(),
            actor,
            &filter,
            sort_of(order_by)?,
            &page(first, after, last, before),
        )
        .await?;
        Ok(Connection::from_page(page))
    }

    /// Per event type and status: events, average attendees, total and average expenses.
    async fn event_analytics(
        &self,
        ctx: &Context<'_>,
    ) -> Res<Vec<crate::graphql::types::EventAnalytics>> {
        let rows = svc::analytics(ctx.db(), ctx.actor()?).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// One live event; `null` when missing, deleted or in another organization.
    async fn event(&self, ctx: &Context<'_>, id: ID) -> Res<Option<Event>> {
        let id = parse_id(&id, "id")?;
        Ok(services::live::<events::Entity>(ctx.db(), ctx.actor()?, id)
            .await?
            .map(Into::into))
    }
}

#[derive(Default)]
pub struct EventsMutation;

#[Object]
impl EventsMutation {
    async fn create_event(&self, ctx: &Context<'_>, input: CreateEventInput) -> Res<Event> {
        let i = input;
        let patch = svc::EventPatch {
            title: Some(i.title),
            description: set(i.description),
            event_type: i.event_type,
            start_date: Some(i.start_date),
            end_date: Some(i.end_date),
            timezone: i.timezone,
            location: set(i.location),
            venue: set(i.venue),
            venue_details: i.venue_details.map(|j| j.0),
            budget: i.budget,
            currency: i.currency,
            max_attendees: set(i.max_attendees),
            registration_url: set(i.registration_url),
            settings: i.settings.map(|j| j.0),
            metadata: i.metadata.map(|j| j.0),
        };
        Ok(svc::create(ctx.store(), ctx.actor()?, patch).await?.into())
    }

    async fn update_event(&self, ctx: &Context<'_>, id: ID, input: UpdateEventInput) -> Res<Event> {
        let i = input;
        let patch = svc::EventPatch {
            title: non_null(i.title, "title")?,
            description: change(i.description),
            event_type: non_null(i.event_type, "eventType")?,
            start_date: non_null(i.start_date, "startDate")?,
            end_date: non_null(i.end_date, "endDate")?,
            timezone: non_null(i.timezone, "timezone")?,
            location: change(i.location),
            venue: change(i.venue),
            venue_details: non_null(i.venue_details, "venueDetails")?.map(|j| j.0),
            budget: non_null(i.budget, "budget")?,
            currency: non_null(i.currency, "currency")?,
            max_attendees: change(i.max_attendees),
            registration_url: change(i.registration_url),
            settings: non_null(i.settings, "settings")?.map(|j| j.0),
            metadata: non_null(i.metadata, "metadata")?.map(|j| j.0),
        };
        Ok(
            svc::update(ctx.store(), ctx.actor()?, parse_id(&id, "id")?, patch)
                .await?
                .into(),
        )
    }

    /// Soft delete: the event moves to the trash (`filter: { deleted: true }`).
    async fn delete_event(&self, ctx: &Context<'_>, id: ID) -> Res<Event> {
        Ok(services::soft_delete::<events::Entity>(
            ctx.store(),
            ctx.actor()?,
            parse_id(&id, "id")?,
            true,
        )
        .await?
        .into())
    }

    async fn restore_event(&self, ctx: &Context<'_>, id: ID) -> Res<Event> {
        Ok(services::soft_delete::<events::Entity>(
            ctx.store(),
            ctx.actor()?,
            parse_id(&id, "id")?,
            false,
        )
        .await?
        .into())
    }

    /// DRAFT -> PUBLISHED: registration opens.
    async fn publish_event(&self, ctx: &Context<'_>, id: ID) -> Res<Event> {
        transition(ctx, &id, &[EventStatus::Draft], EventStatus::Published).await
    }

    /// PUBLISHED -> ONGOING.
    async fn start_event(&self, ctx: &Context<'_>, id: ID) -> Res<Event> {
        transition(ctx, &id, &[EventStatus::Published], EventStatus::Ongoing).await
    }

    /// ONGOING -> COMPLETED.
    async fn complete_event(&self, ctx: &Context<'_>, id: ID) -> Res<Event> {
        transition(ctx, &id, &[EventStatus::Ongoing], EventStatus::Completed).await
    }

    /// DRAFT or PUBLISHED -> CANCELLED.
    async fn cancel_event(&self, ctx: &Context<'_>, id: ID) -> Res<Event> {
        let from = [EventStatus::Draft, EventStatus::Published];
        transition(ctx, &id, &from, EventStatus::Cancelled).await
    }
}
