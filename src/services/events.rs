//! Events: create, edit, trash, and the lifecycle DRAFT -> PUBLISHED -> ONGOING -> COMPLETED
//! (or CANCELLED); registrants hear of a cancellation or a move. Registration itself is in
//! `registrations`, the agenda in `agenda`.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, Order, QueryFilter,
};
use serde_json::Value;
use uuid::Uuid;

use super::notifications::NewNotification;
use super::validate::{self, Text::Plain, Text::Url, set_text};
use super::work::{Store, Work};
use super::{Actor, Change, now};
use crate::db::children::Children;
use crate::db::pagination::{Keyset, Page, PageArgs, SortKind, SortValue, paginate};
use crate::domain::enums::{DbEnum, EventStatus, EventType, NotificationType};
use crate::domain::money;
use crate::entities::events;
use crate::error::AppError;

#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    pub search: Option<String>,
    pub status: Option<Vec<EventStatus>>,
    pub event_type: Option<Vec<EventType>>,
    pub starts_after: Option<DateTime<Utc>>,
    pub starts_before: Option<DateTime<Utc>>,
    pub created_by: Option<Uuid>,
    pub deleted: Option<bool>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventSort {
    StartDate,
    CreatedAt,
    Title,
}

pub fn keyset(sort: EventSort, direction: Order) -> Keyset<events::Entity> {
    use events::Column as C;
    let desc = direction == Order::Desc;
    let (name, col, kind, value): (&'static str, C, SortKind, fn(&events::Model) -> SortValue) =
        match sort {
            EventSort::StartDate => (
                if desc {
                    "start_date desc"
                } else {
                    "start_date"
                },
                C::StartDate,
                SortKind::Time,
                |m| SortValue::Time(m.start_date.to_utc()),
            ),
            EventSort::CreatedAt => (
                if desc {
                    "created_at desc"
                } else {
                    "created_at"
                },
                C::CreatedAt,
                SortKind::Time,
                |m| SortValue::Time(m.created_at.to_utc()),
            ),
            EventSort::Title => (
                if desc { "title desc" } else { "title" },
                C::Title,
                SortKind::Text,
                |m| SortValue::Text(m.title.clone()),
            ),
        };
    Keyset {
        name,
        sort: col,
        kind,
        nullable: false,
        id: C::Id,
        direction,
        value,
        id_of: |m| m.id,
    }
}

/// `Organization.events`: soonest first.
pub static EVENTS_OF_ORGANIZATION: LazyLock<Children<events::Entity>> =
    LazyLock::new(|| Children {
        parent: events::Column::OrganizationId,
        keyset: keyset(EventSort::StartDate, Order::Asc),
        status: None,
    });

pub async fn list(
    db: &DatabaseConnection,
    actor: &Actor,
    f: &EventFilter,
    sort: (EventSort, Order),
    args: &PageArgs,
) -> Result<Page<events::Model>, AppError> {
    use events::Column as C;
    let mut q = actor
        .scope()
        .find::<events::Entity>()
        .filter(C::IsDeleted.eq(f.deleted == Some(true)));
    if let Some(s) = validate::search(f.search.as_deref())? {
        q = q.filter(crate::db::search::any_contains(
            &[C::Title, C::Description, C::Location, C::Venue],
            s,
        ));
    }
    if let Some(s) = &f.status {
        q = q.filter(C::Status.is_in(s.iter().map(|v| v.as_str())));
    }
    if let Some(t) = &f.event_type {
        q = q.filter(C::EventType.is_in(t.iter().map(|v| v.as_str())));
    }
    if let Some(t) = f.starts_after {
        q = q.filter(C::StartDate.gte(t.fixed_offset()));
    }
    if let Some(t) = f.starts_before {
        q = q.filter(C::StartDate.lt(t.fixed_offset()));
    }
    if let Some(u) = f.created_by {
        q = q.filter(C::CreatedBy.eq(u));
    }
    paginate(db, q, &keyset(sort.0, sort.1), args).await
}

#[derive(Clone, Debug, Default)]
pub struct EventPatch {
    pub title: Option<String>,
    pub description: Change<String>,
    pub event_type: Option<EventType>,
    pub start_date: Option<DateTime<Utc>>,
    pub end_date: Option<DateTime<Utc>>,
    pub timezone: Option<String>,
    pub location: Change<String>,
    pub venue: Change<String>,
    pub venue_details: Option<Value>,
    pub budget: Option<Decimal>,
    pub currency: Option<String>,
    pub max_attendees: Change<i32>,
    pub registration_url: Change<String>,
    pub settings: Option<Value>,
    pub metadata: Option<Value>,
}

fn current<T>(v: &sea_orm::ActiveValue<T>) -> Option<T>
where
    T: Clone + Into<sea_orm::Value>,
{
    match v {
        sea_orm::ActiveValue::Set(x) | sea_orm::ActiveValue::Unchanged(x) => Some(x.clone()),
        sea_orm::ActiveValue::NotSet => None,
    }
}

fn apply(a: &mut events::ActiveModel, p: EventPatch) -> Result<(), AppError> {
    if let Some(t) = p.title {
        a.title = Set(validate::required("title", &t, 255)?);
    }
    set_text(
        &mut a.description,
        "description",
        p.description,
        Plain(20_000),
    )?;
    set_text(&mut a.location, "location", p.location, Plain(255))?;
    set_text(&mut a.venue, "venue", p.venue, Plain(255))?;
    set_text(
        &mut a.registration_url,
        "registrationUrl",
        p.registration_url,
        Url(500),
    )?;
    if let Some(t) = p.event_type {
        a.event_type = Set(t.as_str().into());
    }
    if let Some(d) = p.start_date {
        a.start_date = Set(d.fixed_offset());
    }
    if let Some(d) = p.end_date {
        a.end_date = Set(d.fixed_offset());
    }
    if let Some(tz) = p.timezone {
        a.timezone = Set(validate::required("timezone", &tz, 50)?);
    }
    if let Some(v) = p.venue_details {
        a.venue_details = Set(validate::object("venueDetails", v)?);
    }
    if let Some(b) = p.budget {
        let b = money::normalize(b);
        if b < Decimal::ZERO || b > money::max_amount() {
            return Err(AppError::bad_input(
                "budget",
                "must be between 0 and 9999999999.99",
            ));
        }
        a.budget = Set(b);
    }
    if let Some(c) = p.currency {
        a.currency = Set(validate::currency("currency", &c)?);
    }
    match p.max_attendees {
        Change::Keep => {}
        Change::Clear => a.max_attendees = Set(None),
        Change::Set(n) if n < 1 => {
            return Err(AppError::bad_input(
                "maxAttendees",
                "must be at least 1 (or null for no limit)",
            ));
        }
        Change::Set(n) => {
            let registered = current(&a.current_attendees).unwrap_or(0);
            if n < registered {
                return Err(AppError::bad_input(
                    "maxAttendees",
                    format!(
                        "{registered} people are registered; cancel registrations before lowering the limit to {n}"
                    ),
                ));
            }
            a.max_attendees = Set(Some(n));
        }
    }
    if let Some(v) = p.settings {
        a.settings = Set(validate::object("settings", v)?);
    }
    if let Some(v) = p.metadata {
        a.metadata = Set(validate::object("metadata", v)?);
    }
    if let (Some(s), Some(e)) = (current(&a.start_date), current(&a.end_date))
        && e <= s
    {
        return Err(AppError::bad_input("endDate", "must be after startDate"));
    }
    Ok(())
}

pub async fn create(
    store: Store<'_>,
    actor: &Actor,
    patch: EventPatch,
) -> Result<events::Model, AppError> {
    if patch.title.is_none() {
        return Err(AppError::bad_input("title", "is required"));
    }
    if patch.start_date.is_none() || patch.end_date.is_none() {
        return Err(AppError::bad_input(
            "startDate",
            "startDate and endDate are required",
        ));
    }
    let t = now();
    let mut a = events::ActiveModel {
        id: Set(Uuid::new_v4()),
        organization_id: Set(actor.organization_id),
        created_by: Set(actor.user_id),
        updated_by: Set(Some(actor.user_id)),
        status: Set(EventStatus::Draft.as_str().into()),
        current_attendees: Set(0),
        created_at: Set(t),
        updated_at: Set(t),
        ..Default::default()
    };
    apply(&mut a, patch)?;
    let w = Work::begin(store, actor).await?;
    let row = a.insert(&w.txn).await?;
    w.audit::<events::Entity, _>(row.id, None, Some(&row))
        .await?;
    w.commit().await?;
    Ok(row)
}

pub async fn update(
    store: Store<'_>,
    actor: &Actor,
    id: Uuid,
    patch: EventPatch,
) -> Result<events::Model, AppError> {
    let mut w = Work::begin(store, actor).await?;
    // Locked: a currency change counts the event's expenses below, and an expense being
    // written for it holds the event FOR SHARE (`expenses::settle_event`).
    let old = w.locked::<events::Entity>(id).await?;
    let mut a: events::ActiveModel = old.clone().into();
    apply(&mut a, patch)?;
    // Moving the dates must not strand agenda items outside them: refused, not moved.
    if let (Some(start), Some(end)) = (current(&a.start_date), current(&a.end_date))
        && (start != old.start_date || end != old.end_date)
    {
        let stranded = super::agenda::outside(&w.txn, actor.scope(), id, start, end).await?;
        if stranded > 0 {
            return Err(AppError::bad_input(
                "startDate",
                format!(
                    "{stranded} agenda item(s) would fall outside the new dates; move them first"
                ),
            ));
        }
    }
    // Expenses of an event are in its currency (its budget report adds them up).
    if current(&a.currency).is_some_and(|c| c != old.currency)
        && super::expenses::count_of_event(&w.txn, actor.scope(), id).await? > 0
    {
        return Err(AppError::bad_input(
            "currency",
            format!(
                "the event has expenses in {}; its currency cannot change",
                old.currency
            ),
        ));
    }
    a.updated_at = Set(now());
    a.updated_by = Set(Some(actor.user_id));
    let row = a.update(&w.txn).await?;
    w.audit::<events::Entity, _>(id, Some(&old), Some(&row))
        .await?;
    if row.start_date != old.start_date {
        // A new start: its registrants are reminded again, 24 hours before it.
        actor
            .scope()
            .update_many::<crate::entities::event_attendees::Entity>()
            .col_expr(
                crate::entities::event_attendees::Column::RemindedAt,
                sea_orm::sea_query::Expr::cust("NULL"),
            )
            .filter(crate::entities::event_attendees::Column::EventId.eq(id))
            .exec(&w.txn)
            .await?;
    }
    let moved = row.start_date != old.start_date
        || row.end_date != old.end_date
        || row.location != old.location
        || row.venue != old.venue;
    if moved && EventStatus::from_db(&row.status)? != EventStatus::Draft {
        let title = format!("{} has changed", row.title);
        let message = "The time or place of an event you registered for has changed.";
        notify_registrants(&mut w, &row, title, message).await?;
    }
    let data = super::webhooks::api_json(&row);
    super::webhooks::emit(&mut w, "event.updated", data).await?;
    w.commit().await?;
    Ok(row)
}

/// Moves an event from one of `from` to `to`. A refused move names the current status; the
/// event row is locked, so of two concurrent moves only the first sees `from`.
pub async fn transition(
    store: Store<'_>,
    actor: &Actor,
    id: Uuid,
    from: &[EventStatus],
    to: EventStatus,
) -> Result<events::Model, AppError> {
    let mut w = Work::begin(store, actor).await?;
    let old = w.locked::<events::Entity>(id).await?;
    let status = EventStatus::from_db(&old.status)?;
    if !from.contains(&status) {
        let allowed: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        return Err(AppError::bad_input(
            "id",
            format!(
                "the event is {}; it can become {} only from {}",
                status.as_str(),
                to.as_str(),
                allowed.join(" or ")
            ),
        ));
    }
    let mut a: events::ActiveModel = old.clone().into();
    a.status = Set(to.as_str().into());
    a.updated_at = Set(now());
    a.updated_by = Set(Some(actor.user_id));
    let row = a.update(&w.txn).await?;
    w.audit::<events::Entity, _>(id, Some(&old), Some(&row))
        .await?;
    if to == EventStatus::Cancelled {
        let title = format!("{} is cancelled", row.title);
        let message = "An event you registered for has been cancelled.";
        notify_registrants(&mut w, &row, title, message).await?;
    }
    let kind = match to {
        EventStatus::Published => "event.published",
        EventStatus::Cancelled => "event.cancelled",
        _ => "event.updated",
    };
    super::webhooks::emit(&mut w, kind, super::webhooks::api_json(&row)).await?;
    w.commit().await?;
    Ok(row)
}

/// Tells every registrant about a change of the event, in the writing transaction.
async fn notify_registrants(
    w: &mut Work<'_>,
    event: &events::Model,
    title: String,
    message: &str,
) -> Result<(), AppError> {
    let users = super::registrations::registrants(&w.txn, w.actor.scope(), event.id).await?;
    let data = serde_json::json!({
        "eventId": event.id,
        "startDate": event.start_date.to_utc(),
        "endDate": event.end_date.to_utc(),
        "location": event.location,
        "venue": event.venue,
    });
    let items = users
        .into_iter()
        .map(|u| {
            NewNotification::new(
                u,
                NotificationType::Warning,
                title.clone(),
                message,
                data.clone(),
            )
        })
        .collect();
    w.notify(items).await?;
    Ok(())
}

/// Per event type and status: events, average attendees, total and average expenses
/// (the `event_analytics` view).
pub async fn analytics(
    db: &DatabaseConnection,
    actor: &Actor,
) -> Result<Vec<crate::db::views::EventAnalyticsRow>, AppError> {
    Ok(crate::db::views::event_analytics(db, actor.scope()).await?)
}
