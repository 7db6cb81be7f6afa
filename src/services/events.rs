//! Events: lifecycle and capacity-safe registration with check-in and check-out.
//!
//! Capacity is exact under concurrency: `current_attendees` only changes through a conditional
//! UPDATE (`... WHERE current_attendees < max_attendees`) in the same transaction as the
//! attendee row, never count-then-insert.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, Order, QueryFilter, Statement,
};
use serde_json::Value;
use uuid::Uuid;

use super::audit;
use super::notifications::{NewNotification, notify};
use super::{Actor, Change, now, validate};
use crate::db::pagination::{Keyset, Page, PageArgs, SortKind, SortValue, paginate};
use crate::domain::enums::NotificationType;
use crate::domain::enums::{AttendeeStatus, AuditAction, DbEnum, EventStatus, EventType};
use crate::domain::money;
use crate::entities::{event_attendees, events, users};
use crate::error::AppError;
use crate::realtime::{AttendeeChangeKind, Broker, Outbox, Signal};

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

fn not_found() -> AppError {
    AppError::NotFound("no such event".into())
}

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
    if let Some(s) = f.search.as_deref().filter(|s| !s.trim().is_empty()) {
        validate::max_len("search", s, 100)?;
        q = q.filter(super::users::search_condition(
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

pub async fn get(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<Option<events::Model>, AppError> {
    Ok(actor
        .scope()
        .live_by_id::<events::Entity>(id)
        .one(db)
        .await?)
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

fn object(field: &str, v: Value) -> Result<Value, AppError> {
    if v.is_object() {
        Ok(v)
    } else {
        Err(AppError::bad_input(field, "must be a JSON object"))
    }
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
    let text = |field: &str,
                c: Change<String>,
                max: usize,
                url: bool|
     -> Result<Option<Option<String>>, AppError> {
        Ok(match c {
            Change::Keep => None,
            Change::Clear => Some(None),
            Change::Set(v) if url => Some(validate::url(field, Some(&v), max)?),
            Change::Set(v) => Some(validate::optional(field, Some(&v), max)?),
        })
    };
    if let Some(v) = text("description", p.description, 20_000, false)? {
        a.description = Set(v);
    }
    if let Some(v) = text("location", p.location, 255, false)? {
        a.location = Set(v);
    }
    if let Some(v) = text("venue", p.venue, 255, false)? {
        a.venue = Set(v);
    }
    if let Some(v) = text("registrationUrl", p.registration_url, 500, true)? {
        a.registration_url = Set(v);
    }
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
        a.venue_details = Set(object("venueDetails", v)?);
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
        let c = c.trim().to_uppercase();
        if c.len() != 3 || !c.chars().all(|ch| ch.is_ascii_uppercase()) {
            return Err(AppError::bad_input(
                "currency",
                "must be a three-letter ISO 4217 code",
            ));
        }
        a.currency = Set(c);
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
        a.settings = Set(object("settings", v)?);
    }
    if let Some(v) = p.metadata {
        a.metadata = Set(object("metadata", v)?);
    }
    if let (Some(s), Some(e)) = (current(&a.start_date), current(&a.end_date))
        && e <= s
    {
        return Err(AppError::bad_input("endDate", "must be after startDate"));
    }
    Ok(())
}

pub async fn create(
    db: &DatabaseConnection,
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
    let txn = crate::db::write_txn(db).await?;
    let row = a.insert(&txn).await?;
    audit::change(&txn, actor, "events", row.id, None, Some(&row)).await?;
    txn.commit().await?;
    Ok(row)
}

pub async fn update(
    db: &DatabaseConnection,
    broker: &dyn Broker,
    actor: &Actor,
    id: Uuid,
    patch: EventPatch,
) -> Result<events::Model, AppError> {
    let txn = crate::db::write_txn(db).await?;
    let old = actor
        .scope()
        .live_by_id::<events::Entity>(id)
        .one(&txn)
        .await?
        .ok_or_else(not_found)?;
    let mut a: events::ActiveModel = old.clone().into();
    apply(&mut a, patch)?;
    // Moving the dates must not strand agenda items outside them: refused, not moved.
    if let (Some(start), Some(end)) = (current(&a.start_date), current(&a.end_date))
        && (start != old.start_date || end != old.end_date)
    {
        let stranded = super::agenda::outside(&txn, actor.organization_id, id, start, end).await?;
        if stranded > 0 {
            return Err(AppError::bad_input(
                "startDate",
                format!(
                    "{stranded} agenda item(s) would fall outside the new dates; move them first"
                ),
            ));
        }
    }
    a.updated_at = Set(now());
    a.updated_by = Set(Some(actor.user_id));
    let row = a.update(&txn).await?;
    audit::change(&txn, actor, "events", id, Some(&old), Some(&row)).await?;
    let mut outbox = Outbox::new();
    let moved = row.start_date != old.start_date
        || row.end_date != old.end_date
        || row.location != old.location
        || row.venue != old.venue;
    if moved && EventStatus::from_db(&row.status) != EventStatus::Draft {
        notify_registrants(
            &txn,
            &mut outbox,
            &row,
            NotificationType::Warning,
            format!("{} has changed", row.title),
            "The time or place of an event you registered for has changed.".into(),
        )
        .await?;
    }
    outbox.commit(txn, broker).await?;
    Ok(row)
}

pub async fn set_deleted(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
    deleted: bool,
) -> Result<events::Model, AppError> {
    let txn = crate::db::write_txn(db).await?;
    let row =
        super::set_deleted::<events::Entity>(&txn, actor, "events", id, deleted, not_found).await?;
    txn.commit().await?;
    Ok(row)
}

/// Moves an event from one of `from` to `to` with a conditional UPDATE, so two concurrent
/// transitions cannot both win. A refused move names the current status.
pub async fn transition(
    db: &DatabaseConnection,
    broker: &dyn Broker,
    actor: &Actor,
    id: Uuid,
    from: &[EventStatus],
    to: EventStatus,
) -> Result<events::Model, AppError> {
    let txn = crate::db::write_txn(db).await?;
    let old = actor
        .scope()
        .live_by_id::<events::Entity>(id)
        .one(&txn)
        .await?
        .ok_or_else(not_found)?;
    let status = EventStatus::from_db(&old.status);
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
    let t = now();
    let mut a: events::ActiveModel = old.clone().into();
    a.status = Set(to.as_str().into());
    a.updated_at = Set(t);
    a.updated_by = Set(Some(actor.user_id));
    let row = a.update(&txn).await?;
    audit::change(&txn, actor, "events", id, Some(&old), Some(&row)).await?;
    let mut outbox = Outbox::new();
    if to == EventStatus::Cancelled {
        notify_registrants(
            &txn,
            &mut outbox,
            &row,
            NotificationType::Warning,
            format!("{} is cancelled", row.title),
            "An event you registered for has been cancelled.".into(),
        )
        .await?;
    }
    outbox.commit(txn, broker).await?;
    Ok(row)
}

fn attendee_signal(row: &event_attendees::Model, kind: AttendeeChangeKind) -> Signal {
    Signal::Attendee {
        org: row.organization_id,
        event: row.event_id,
        attendee: row.id,
        kind,
    }
}

/// The users holding a live registration (not cancelled) for the event.
async fn registrants(
    txn: &impl ConnectionTrait,
    org: Uuid,
    event_id: Uuid,
) -> Result<Vec<Uuid>, AppError> {
    use sea_orm::QuerySelect as _;
    Ok(crate::db::scoped::Scoped::new(org)
        .live::<event_attendees::Entity>()
        .filter(event_attendees::Column::EventId.eq(event_id))
        .filter(event_attendees::Column::Status.ne(AttendeeStatus::Cancelled.as_str()))
        .select_only()
        .column(event_attendees::Column::UserId)
        .into_tuple()
        .all(txn)
        .await?)
}

fn event_data(event: &events::Model) -> Value {
    serde_json::json!({
        "eventId": event.id,
        "startDate": event.start_date.to_utc(),
        "endDate": event.end_date.to_utc(),
        "location": event.location,
        "venue": event.venue,
    })
}

/// Tells every registrant about a change of the event, in the writing transaction.
async fn notify_registrants(
    txn: &impl ConnectionTrait,
    outbox: &mut Outbox,
    event: &events::Model,
    notification_type: NotificationType,
    title: String,
    message: String,
) -> Result<(), AppError> {
    let users = registrants(txn, event.organization_id, event.id).await?;
    let items = users
        .into_iter()
        .map(|u| {
            NewNotification::new(
                u,
                notification_type,
                title.clone(),
                message.clone(),
                event_data(event),
            )
        })
        .collect();
    notify(txn, outbox, event.organization_id, items).await?;
    Ok(())
}

fn ph(backend: sea_orm::DbBackend, n: usize) -> String {
    match backend {
        sea_orm::DbBackend::Postgres => format!("${n}"),
        _ => "?".into(),
    }
}

/// Takes one seat if the event is open and not full. `false`: nothing changed.
async fn take_seat(txn: &impl ConnectionTrait, org: Uuid, event: Uuid) -> Result<bool, AppError> {
    let b = txn.get_database_backend();
    let sql = format!(
        "UPDATE events SET current_attendees = current_attendees + 1 \
         WHERE id = {} AND organization_id = {} AND NOT is_deleted AND status IN ('published', 'ongoing') \
         AND (max_attendees IS NULL OR current_attendees < max_attendees)",
        ph(b, 1),
        ph(b, 2)
    );
    let res = txn
        .execute_raw(Statement::from_sql_and_values(
            b,
            sql,
            [event.into(), org.into()],
        ))
        .await?;
    Ok(res.rows_affected() == 1)
}

async fn free_seat(txn: &impl ConnectionTrait, org: Uuid, event: Uuid) -> Result<(), AppError> {
    let b = txn.get_database_backend();
    let sql = format!(
        "UPDATE events SET current_attendees = current_attendees - 1 \
         WHERE id = {} AND organization_id = {} AND current_attendees > 0",
        ph(b, 1),
        ph(b, 2)
    );
    txn.execute_raw(Statement::from_sql_and_values(
        b,
        sql,
        [event.into(), org.into()],
    ))
    .await?;
    Ok(())
}

/// Who may act on `user`'s registration: the user, an admin, or the event's creator.
fn may_act_for(actor: &Actor, event: &events::Model, user: Uuid) -> Result<(), AppError> {
    if user == actor.user_id || actor.is_admin || event.created_by == actor.user_id {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "only the member, an admin or the event's organizer may do this".into(),
        ))
    }
}

async fn live_event(
    txn: &impl ConnectionTrait,
    actor: &Actor,
    id: Uuid,
) -> Result<events::Model, AppError> {
    actor
        .scope()
        .live_by_id::<events::Entity>(id)
        .one(txn)
        .await?
        .ok_or_else(not_found)
}

async fn attendee(
    txn: &impl ConnectionTrait,
    actor: &Actor,
    event: Uuid,
    user: Uuid,
) -> Result<Option<event_attendees::Model>, AppError> {
    Ok(actor
        .scope()
        .live::<event_attendees::Entity>()
        .filter(event_attendees::Column::EventId.eq(event))
        .filter(event_attendees::Column::UserId.eq(user))
        .one(txn)
        .await?)
}

pub async fn register(
    db: &DatabaseConnection,
    broker: &dyn Broker,
    actor: &Actor,
    event_id: Uuid,
    user_id: Option<Uuid>,
) -> Result<event_attendees::Model, AppError> {
    let user_id = user_id.unwrap_or(actor.user_id);
    let txn = crate::db::write_txn(db).await?;
    let event = live_event(&txn, actor, event_id).await?;
    may_act_for(actor, &event, user_id)?;
    actor
        .scope()
        .live_by_id::<users::Entity>(user_id)
        .one(&txn)
        .await?
        .filter(|u| u.is_active)
        .ok_or_else(|| AppError::NotFound("no such user".into()))?;
    let existing = attendee(&txn, actor, event_id, user_id).await?;
    if let Some(a) = &existing
        && AttendeeStatus::from_db(&a.status) != AttendeeStatus::Cancelled
    {
        return Err(AppError::Conflict {
            message: "already registered for this event".into(),
            field: Some("userId".into()),
        });
    }
    let status = EventStatus::from_db(&event.status);
    if !matches!(status, EventStatus::Published | EventStatus::Ongoing) {
        return Err(AppError::bad_input(
            "eventId",
            format!(
                "the event is {}; registration is open only while it is published or ongoing",
                status.as_str()
            ),
        ));
    }
    if !take_seat(&txn, actor.organization_id, event_id).await? {
        return Err(AppError::EventFull);
    }
    let t = now();
    let row = match existing {
        // Registering again after cancelling reuses the row (one row per event and user).
        Some(old) => {
            let mut a: event_attendees::ActiveModel = old.into();
            a.status = Set(AttendeeStatus::Registered.as_str().into());
            a.registration_date = Set(t);
            a.check_in_time = Set(None);
            a.check_out_time = Set(None);
            a.updated_at = Set(t);
            a.update(&txn).await?
        }
        None => {
            event_attendees::ActiveModel {
                id: Set(Uuid::new_v4()),
                organization_id: Set(actor.organization_id),
                event_id: Set(event_id),
                user_id: Set(user_id),
                status: Set(AttendeeStatus::Registered.as_str().into()),
                registration_date: Set(t),
                created_at: Set(t),
                updated_at: Set(t),
                ..Default::default()
            }
            .insert(&txn)
            .await?
        }
    };
    audit::change(&txn, actor, "event_attendees", row.id, None, Some(&row)).await?;
    let mut outbox = Outbox::new();
    outbox.push(attendee_signal(&row, AttendeeChangeKind::Registered));
    notify(
        &txn,
        &mut outbox,
        actor.organization_id,
        vec![registration_confirmed(&event.title, &row)],
    )
    .await?;
    outbox.commit(txn, broker).await?;
    Ok(row)
}

/// What a registrant is told once their seat is taken (the demo seed says the same).
pub fn registration_confirmed(
    event_title: &str,
    attendee: &event_attendees::Model,
) -> NewNotification {
    NewNotification::new(
        attendee.user_id,
        NotificationType::Success,
        "Registration confirmed",
        format!("You are registered for {event_title}."),
        serde_json::json!({ "eventId": attendee.event_id, "attendeeId": attendee.id }),
    )
}

pub async fn cancel_registration(
    db: &DatabaseConnection,
    broker: &dyn Broker,
    actor: &Actor,
    event_id: Uuid,
    user_id: Option<Uuid>,
) -> Result<event_attendees::Model, AppError> {
    let user_id = user_id.unwrap_or(actor.user_id);
    let txn = crate::db::write_txn(db).await?;
    let event = live_event(&txn, actor, event_id).await?;
    may_act_for(actor, &event, user_id)?;
    let old = attendee(&txn, actor, event_id, user_id)
        .await?
        .ok_or_else(|| AppError::NotFound("no such registration".into()))?;
    match AttendeeStatus::from_db(&old.status) {
        AttendeeStatus::Registered | AttendeeStatus::Confirmed => {}
        other => {
            return Err(AppError::bad_input(
                "eventId",
                format!(
                    "the registration is {}; only a registered or confirmed one can be cancelled",
                    other.as_str()
                ),
            ));
        }
    }
    let mut a: event_attendees::ActiveModel = old.clone().into();
    a.status = Set(AttendeeStatus::Cancelled.as_str().into());
    a.updated_at = Set(now());
    let row = a.update(&txn).await?;
    free_seat(&txn, actor.organization_id, event_id).await?;
    audit::change(
        &txn,
        actor,
        "event_attendees",
        row.id,
        Some(&old),
        Some(&row),
    )
    .await?;
    let mut outbox = Outbox::new();
    outbox.push(attendee_signal(&row, AttendeeChangeKind::Cancelled));
    outbox.commit(txn, broker).await?;
    Ok(row)
}

/// Check-in (`true`) or check-out. Both are idempotent: a repeat returns the row as it is.
pub async fn check(
    db: &DatabaseConnection,
    broker: &dyn Broker,
    actor: &Actor,
    event_id: Uuid,
    user_id: Uuid,
    check_in: bool,
) -> Result<event_attendees::Model, AppError> {
    let txn = crate::db::write_txn(db).await?;
    let event = live_event(&txn, actor, event_id).await?;
    may_act_for(actor, &event, user_id)?;
    let old = attendee(&txn, actor, event_id, user_id)
        .await?
        .ok_or_else(|| AppError::NotFound("no such registration".into()))?;
    let status = AttendeeStatus::from_db(&old.status);
    let t = now();
    let mut a: event_attendees::ActiveModel = old.clone().into();
    if check_in {
        if old.check_in_time.is_some() {
            return Ok(old);
        }
        if !matches!(
            status,
            AttendeeStatus::Registered | AttendeeStatus::Confirmed
        ) {
            return Err(AppError::bad_input(
                "userId",
                format!("the registration is {}", status.as_str()),
            ));
        }
        let es = EventStatus::from_db(&event.status);
        if !matches!(es, EventStatus::Published | EventStatus::Ongoing) {
            return Err(AppError::bad_input(
                "eventId",
                format!("the event is {}", es.as_str()),
            ));
        }
        a.status = Set(AttendeeStatus::Attended.as_str().into());
        a.check_in_time = Set(Some(t));
    } else {
        if old.check_out_time.is_some() {
            return Ok(old);
        }
        if old.check_in_time.is_none() {
            return Err(AppError::bad_input(
                "userId",
                "check in before checking out",
            ));
        }
        a.check_out_time = Set(Some(t));
    }
    a.updated_at = Set(t);
    let row = a.update(&txn).await?;
    audit::change(
        &txn,
        actor,
        "event_attendees",
        row.id,
        Some(&old),
        Some(&row),
    )
    .await?;
    let mut outbox = Outbox::new();
    outbox.push(attendee_signal(
        &row,
        if check_in {
            AttendeeChangeKind::CheckedIn
        } else {
            AttendeeChangeKind::CheckedOut
        },
    ));
    outbox.commit(txn, broker).await?;
    Ok(row)
}

pub fn attendee_keyset() -> Keyset<event_attendees::Entity> {
    Keyset {
        name: "registration_date",
        sort: event_attendees::Column::RegistrationDate,
        kind: SortKind::Time,
        nullable: false,
        id: event_attendees::Column::Id,
        direction: Order::Asc,
        value: |m| SortValue::Time(m.registration_date.to_utc()),
        id_of: |m| m.id,
    }
}

/// An event's registrations, first registered first, optionally of some statuses.
pub async fn list_attendees(
    db: &DatabaseConnection,
    actor: &Actor,
    event_id: Uuid,
    statuses: &[AttendeeStatus],
    args: &PageArgs,
) -> Result<Page<event_attendees::Model>, AppError> {
    let mut q = actor
        .scope()
        .live::<event_attendees::Entity>()
        .filter(event_attendees::Column::EventId.eq(event_id));
    if !statuses.is_empty() {
        q = q.filter(event_attendees::Column::Status.is_in(statuses.iter().map(|s| s.as_str())));
    }
    paginate(db, q, &attendee_keyset(), args).await
}

/// Counts an event's registrations when called (and only then).
pub fn attendee_count(
    db: &DatabaseConnection,
    actor: &Actor,
    event_id: Uuid,
    statuses: &[AttendeeStatus],
) -> crate::db::pagination::CountFn {
    use sea_orm::PaginatorTrait;
    let mut q = actor
        .scope()
        .live::<event_attendees::Entity>()
        .filter(event_attendees::Column::EventId.eq(event_id));
    if !statuses.is_empty() {
        q = q.filter(event_attendees::Column::Status.is_in(statuses.iter().map(|s| s.as_str())));
    }
    let db = db.clone();
    std::sync::Arc::new(move || {
        let (q, db) = (q.clone(), db.clone());
        Box::pin(async move { Ok(q.count(&db).await?) })
    })
}

/// Changes a registration's status (REGISTERED, CONFIRMED, or NO_SHOW once the event is
/// completed) and notes. Seats move only through register/cancel, attendance through check-in.
pub async fn update_attendee(
    db: &DatabaseConnection,
    broker: &dyn Broker,
    actor: &Actor,
    id: Uuid,
    status: Option<AttendeeStatus>,
    notes: Change<String>,
) -> Result<event_attendees::Model, AppError> {
    let txn = crate::db::write_txn(db).await?;
    let old = actor
        .scope()
        .live_by_id::<event_attendees::Entity>(id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::NotFound("no such registration".into()))?;
    let event = live_event(&txn, actor, old.event_id).await?;
    if !(actor.is_admin || event.created_by == actor.user_id) {
        return Err(AppError::Forbidden(
            "only an admin or the event's organizer may do this".into(),
        ));
    }
    let mut a: event_attendees::ActiveModel = old.clone().into();
    if let Some(s) = status {
        let from = AttendeeStatus::from_db(&old.status);
        let allowed = match s {
            AttendeeStatus::Registered | AttendeeStatus::Confirmed => {
                matches!(from, AttendeeStatus::Registered | AttendeeStatus::Confirmed)
            }
            AttendeeStatus::NoShow => {
                EventStatus::from_db(&event.status) == EventStatus::Completed
                    && matches!(from, AttendeeStatus::Registered | AttendeeStatus::Confirmed)
            }
            AttendeeStatus::Attended | AttendeeStatus::Cancelled => false,
        };
        if !allowed {
            return Err(AppError::bad_input(
                "status",
                format!(
                    "a {} registration cannot become {} here (use checkInAttendee / cancelRegistration; NO_SHOW after the event)",
                    from.as_str(),
                    s.as_str()
                ),
            ));
        }
        a.status = Set(s.as_str().into());
    }
    match notes {
        Change::Keep => {}
        Change::Clear => a.notes = Set(None),
        Change::Set(n) => a.notes = Set(validate::optional("notes", Some(&n), 20_000)?),
    }
    a.updated_at = Set(now());
    let row = a.update(&txn).await?;
    audit::change(&txn, actor, "event_attendees", id, Some(&old), Some(&row)).await?;
    let mut outbox = Outbox::new();
    outbox.push(attendee_signal(&row, AttendeeChangeKind::Updated));
    outbox.commit(txn, broker).await?;
    Ok(row)
}

/// After an event completes, every registration that never checked in becomes NO_SHOW.
/// Returns how many changed. One audit row, on the event.
pub async fn mark_no_shows(
    db: &DatabaseConnection,
    broker: &dyn Broker,
    actor: &Actor,
    event_id: Uuid,
) -> Result<u64, AppError> {
    let txn = crate::db::write_txn(db).await?;
    let event = live_event(&txn, actor, event_id).await?;
    if !(actor.is_admin || event.created_by == actor.user_id) {
        return Err(AppError::Forbidden(
            "only an admin or the event's organizer may do this".into(),
        ));
    }
    let status = EventStatus::from_db(&event.status);
    if status != EventStatus::Completed {
        return Err(AppError::bad_input(
            "eventId",
            format!(
                "the event is {}; no-shows are marked after it completes",
                status.as_str()
            ),
        ));
    }
    let open = [
        AttendeeStatus::Registered.as_str(),
        AttendeeStatus::Confirmed.as_str(),
    ];
    let ids: Vec<Uuid> = {
        use sea_orm::QuerySelect as _;
        actor
            .scope()
            .live::<event_attendees::Entity>()
            .filter(event_attendees::Column::EventId.eq(event_id))
            .filter(event_attendees::Column::Status.is_in(open))
            .select_only()
            .column(event_attendees::Column::Id)
            .into_tuple()
            .all(&txn)
            .await?
    };
    let mut outbox = Outbox::new();
    let mut changed = 0;
    for chunk in ids.chunks(500) {
        changed += event_attendees::Entity::update_many()
            .col_expr(
                event_attendees::Column::Status,
                sea_orm::sea_query::Expr::value(AttendeeStatus::NoShow.as_str()),
            )
            .col_expr(
                event_attendees::Column::UpdatedAt,
                sea_orm::sea_query::Expr::value(now()),
            )
            .filter(event_attendees::Column::OrganizationId.eq(actor.organization_id))
            .filter(event_attendees::Column::Id.is_in(chunk.to_vec()))
            .filter(event_attendees::Column::Status.is_in(open))
            .exec(&txn)
            .await?
            .rows_affected;
        outbox.extend(chunk.iter().map(|&attendee| Signal::Attendee {
            org: actor.organization_id,
            event: event_id,
            attendee,
            kind: AttendeeChangeKind::Updated,
        }));
    }
    super::audit::by_actor(
        &txn,
        actor,
        "events",
        event_id,
        AuditAction::Update,
        None,
        Some(serde_json::json!({ "no_shows": changed })),
    )
    .await?;
    outbox.commit(txn, broker).await?;
    Ok(changed)
}

/// A member's registrations (live ones), first registered first.
pub async fn registrations_of(
    db: &DatabaseConnection,
    actor: &Actor,
    user_id: Uuid,
    args: &PageArgs,
) -> Result<Page<event_attendees::Model>, AppError> {
    let q = actor
        .scope()
        .live::<event_attendees::Entity>()
        .filter(event_attendees::Column::UserId.eq(user_id));
    paginate(db, q, &attendee_keyset(), args).await
}
