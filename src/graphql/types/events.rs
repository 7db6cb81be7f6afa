//! `Event`: a conference, workshop, networking night or meeting.

use crate::graphql::fast::Fast;
use async_graphql::{ComplexObject, Context, ID, Json, SimpleObject};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::{AgendaItem, BudgetReport, EventAttendee, Expense, User, dangling, related};
use crate::db::pagination::PageArgs;
use crate::db::scoped::Scoped;
use crate::domain::enums::{AttendeeStatus, EventStatus, EventType, ExpenseStatus, Stored};
use crate::domain::money;
use crate::entities::events;
use crate::graphql::connection::{Connection, children};
use crate::graphql::loaders::Loaders;
use crate::graphql::scalars::{utc, utc_opt};
use crate::services::registrations::Attendance;

/// A conference, workshop, networking night or meeting.
#[derive(Clone, Debug, SimpleObject)]
#[graphql(complex)]
pub struct Event {
    #[graphql(skip)]
    pub scope: Scoped,
    #[graphql(skip)]
    pub created_by_id: uuid::Uuid,
    pub id: ID,
    pub title: String,
    pub description: Option<String>,
    pub event_type: Stored<EventType>,
    pub status: Stored<EventStatus>,
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

crate::graphql::fast::columns!(Event {
    id,
    title,
    start_date,
    status,
    end_date,
    description,
    event_type,
    timezone,
    location,
    venue,
    venue_details,
    budget,
    currency,
    max_attendees,
    current_attendees,
    registration_url,
    settings,
    metadata,
    created_at,
    updated_at,
    deleted_at,
});

impl From<events::Model> for Event {
    fn from(m: events::Model) -> Self {
        Self {
            scope: super::row_scope(m.organization_id),
            created_by_id: m.created_by,
            id: m.id.into(),
            title: m.title,
            description: m.description,
            event_type: Stored::from_db(&m.event_type),
            status: Stored::from_db(&m.status),
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

impl Event {
    async fn spending(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<crate::services::expenses::EventSpending> {
        let loaders = ctx.data::<Loaders>()?.get();
        let event: uuid::Uuid = self.id.parse().map_err(|_| dangling("event"))?;
        Ok(loaders
            .spending
            .load_one((self.scope, event))
            .await?
            .unwrap_or_default())
    }

    async fn stats(&self, ctx: &Context<'_>) -> async_graphql::Result<Attendance> {
        let loaders = ctx.data::<Loaders>()?.get();
        let event: uuid::Uuid = self.id.parse().map_err(|_| dangling("event"))?;
        Ok(loaders
            .attendee_stats
            .load_one((self.scope, event))
            .await?
            .unwrap_or_default())
    }
}

#[ComplexObject]
impl Event {
    /// The member who created the event (its organizer).
    async fn created_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Fast<User>> {
        let loaders = ctx.data::<Loaders>()?.get();
        related(&loaders.users, self.scope, self.created_by_id, "user").await
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
    ) -> async_graphql::Result<Connection<EventAttendee>> {
        let event: uuid::Uuid = self.id.parse().map_err(|_| dangling("event"))?;
        let statuses = crate::domain::enums::db_values(status);
        let args = PageArgs::new(first, after, last, before);
        let rel = &crate::services::registrations::OF_EVENT;
        children(ctx, rel, self.scope, event, statuses, args).await
    }

    /// The agenda by `sortOrder`, then start time (batched across a page of events).
    async fn agenda(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Fast<AgendaItem>>> {
        let loaders = ctx.data::<Loaders>()?.get();
        let event: uuid::Uuid = self.id.parse().map_err(|_| dangling("event"))?;
        let items = loaders.agenda.load_one((self.scope, event)).await?;
        Ok(items
            .unwrap_or_default()
            .into_iter()
            .map(|row| Fast(AgendaItem::from(row)))
            .collect())
    }

    /// ATTENDED registrations / registrations not cancelled; `null` with no registrations.
    async fn attendance_rate(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<f64>> {
        let a = self.stats(ctx).await?;
        Ok((a.active > 0).then(|| a.attended as f64 / a.active as f64))
    }

    /// Checked-in registrations / registrations not cancelled; `null` with no registrations.
    async fn check_in_rate(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<f64>> {
        let a = self.stats(ctx).await?;
        Ok((a.active > 0).then(|| a.checked_in as f64 / a.active as f64))
    }

    /// The event's expenses, latest expense date first (batched across a page of events).
    async fn expenses(
        &self,
        ctx: &Context<'_>,
        status: Option<Vec<ExpenseStatus>>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Connection<Expense>> {
        let event: uuid::Uuid = self.id.parse().map_err(|_| dangling("event"))?;
        let statuses = crate::domain::enums::db_values(status);
        let args = PageArgs::new(first, after, last, before);
        let rel = &crate::services::expenses::EXPENSES_OF_EVENT;
        children(ctx, rel, self.scope, event, statuses, args).await
    }

    /// APPROVED + PAID expenses, in the event's currency (`budgetReport.spent`).
    async fn total_expenses(&self, ctx: &Context<'_>) -> async_graphql::Result<Decimal> {
        Ok(self.spending(ctx).await?.spent)
    }

    /// Budget against actual: spent (APPROVED + PAID), pending, remaining, by type.
    async fn budget_report(&self, ctx: &Context<'_>) -> async_graphql::Result<BudgetReport> {
        let spending = self.spending(ctx).await?;
        Ok(BudgetReport::new(
            self.budget,
            self.currency.clone(),
            spending,
        ))
    }

    /// Media about this event, newest first (batched across a page of events). Members see
    /// PUBLIC and ORGANIZATION items here, admins every item.
    async fn media(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Connection<super::Media>> {
        use crate::graphql::context::ContextExt;
        let event: uuid::Uuid = self.id.parse().map_err(|_| dangling("event"))?;
        let levels = crate::services::media::related_levels(ctx.actor()?);
        let args = PageArgs::new(first, after, last, before);
        let rel = &crate::services::media::OF_EVENT;
        children(ctx, rel, self.scope, event, levels, args).await
    }

    /// Seats still free; `null` when there is no limit.
    async fn spots_left(&self) -> Option<i32> {
        self.max_attendees
            .map(|m| (m - self.current_attendees).max(0))
    }
}
