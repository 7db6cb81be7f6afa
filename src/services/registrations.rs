//! Registrations: capacity-safe sign-up, cancellation, check-in and check-out, no-shows.
//!
//! Capacity is exact under concurrency: `current_attendees` only changes through a conditional
//! UPDATE (`... WHERE current_attendees < max_attendees`) in the same transaction as the
//! attendee row, never count-then-insert. Every change is announced to `eventAttendeeChanged`
//! subscribers after commit.

use std::collections::HashMap;
use std::sync::LazyLock;

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, Order,
    QueryFilter, QuerySelect,
};
use serde_json::json;
use uuid::Uuid;

use super::notifications::NewNotification;
use super::work::{Store, Work, missing};
use super::{Actor, Change, now, validate};
use crate::db::children::Children;
use crate::db::pagination::{Keyset, SortKind, SortValue};
use crate::db::scoped::Scoped;
use crate::domain::enums::{AttendeeStatus, AuditAction, DbEnum, EventStatus, NotificationType};
use crate::entities::{event_attendees, events, users};
use crate::error::AppError;
use crate::realtime::{AttendeeChangeKind, Signal};

/// First registered first.
pub fn keyset() -> Keyset<event_attendees::Entity> {
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

/// `Event.attendees`: first registered first, optionally of some statuses.
pub static OF_EVENT: LazyLock<Children<event_attendees::Entity>> = LazyLock::new(|| Children {
    parent: event_attendees::Column::EventId,
    keyset: keyset(),
    status: Some(event_attendees::Column::Status),
});

/// `User.registrations`: a member's registrations, first registered first.
pub static OF_USER: LazyLock<Children<event_attendees::Entity>> = LazyLock::new(|| Children {
    parent: event_attendees::Column::UserId,
    keyset: keyset(),
    status: None,
});

fn signal(row: &event_attendees::Model, kind: AttendeeChangeKind) -> Signal {
    Signal::Attendee {
        org: row.organization_id,
        event: row.event_id,
        attendee: row.id,
        kind,
    }
}

/// The statuses that hold a seat and may still check in.
const OPEN: [AttendeeStatus; 2] = [AttendeeStatus::Registered, AttendeeStatus::Confirmed];

fn is_open(status: AttendeeStatus) -> bool {
    OPEN.contains(&status)
}

/// Takes one seat if the event is open and not full. `false`: nothing changed.
async fn take_seat(w: &Work<'_>, event: Uuid) -> Result<bool, AppError> {
    use events::Column as C;
    let open = [EventStatus::Published, EventStatus::Ongoing].map(EventStatus::as_str);
    let res = w
        .actor
        .scope()
        .update_many::<events::Entity>()
        .col_expr(C::CurrentAttendees, Expr::col(C::CurrentAttendees).add(1))
        .filter(C::Id.eq(event))
        .filter(C::IsDeleted.eq(false))
        .filter(C::Status.is_in(open))
        .filter(
            Condition::any()
                .add(C::MaxAttendees.is_null())
                .add(Expr::col(C::CurrentAttendees).lt(Expr::col(C::MaxAttendees))),
        )
        .exec(&w.txn)
        .await?;
    Ok(res.rows_affected == 1)
}

async fn free_seat(w: &Work<'_>, event: Uuid) -> Result<(), AppError> {
    use events::Column as C;
    w.actor
        .scope()
        .update_many::<events::Entity>()
        .col_expr(C::CurrentAttendees, Expr::col(C::CurrentAttendees).sub(1))
        .filter(C::Id.eq(event))
        .filter(C::CurrentAttendees.gt(0))
        .exec(&w.txn)
        .await?;
    Ok(())
}

/// Who may act on `user`'s registration: the user, the event's organizer, or an admin.
fn may_act_for(actor: &Actor, event: &events::Model, user: Uuid) -> Result<(), AppError> {
    actor
        .owner_or_admin(user)
        .or_else(|_| actor.organizer_or_admin(event.created_by))?;
    Ok(())
}

/// `user`'s live registration for `event`, if any.
async fn of(
    w: &Work<'_>,
    event: Uuid,
    user: Uuid,
) -> Result<Option<event_attendees::Model>, AppError> {
    Ok(w.actor
        .scope()
        .live::<event_attendees::Entity>()
        .filter(event_attendees::Column::EventId.eq(event))
        .filter(event_attendees::Column::UserId.eq(user))
        .one(&w.txn)
        .await?)
}

/// Opens the unit of work on `user_id`'s live registration for `event_id`: the event locked,
/// the actor's right to act for the member checked.
async fn open<'a>(
    store: Store<'a>,
    actor: &'a Actor,
    event_id: Uuid,
    user_id: Uuid,
) -> Result<(Work<'a>, events::Model, event_attendees::Model), AppError> {
    let w = Work::begin(store, actor).await?;
    // The event row is locked: every change to its registrations and seats is serialized.
    let event = w.locked::<events::Entity>(event_id).await?;
    may_act_for(actor, &event, user_id)?;
    let registration = of(&w, event_id, user_id)
        .await?
        .ok_or_else(missing::<event_attendees::Entity>)?;
    Ok((w, event, registration))
}

pub async fn register(
    store: Store<'_>,
    actor: &Actor,
    event_id: Uuid,
    user_id: Option<Uuid>,
) -> Result<event_attendees::Model, AppError> {
    let user_id = user_id.unwrap_or(actor.user_id);
    let mut w = Work::begin(store, actor).await?;
    // The event row is locked: every change to its registrations and seats is serialized.
    let event = w.locked::<events::Entity>(event_id).await?;
    may_act_for(actor, &event, user_id)?;
    let user = w.live::<users::Entity>(user_id).await?;
    if !user.is_active {
        return Err(missing::<users::Entity>());
    }
    let existing = of(&w, event_id, user_id).await?;
    if let Some(a) = &existing
        && AttendeeStatus::from_db(&a.status)? != AttendeeStatus::Cancelled
    {
        return Err(AppError::Conflict {
            message: "already registered for this event".into(),
            field: Some("userId".into()),
        });
    }
    let status = EventStatus::from_db(&event.status)?;
    if !matches!(status, EventStatus::Published | EventStatus::Ongoing) {
        return Err(AppError::bad_input(
            "eventId",
            format!(
                "the event is {}; registration is open only while it is published or ongoing",
                status.as_str()
            ),
        ));
    }
    if !take_seat(&w, event_id).await? {
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
            a.update(&w.txn).await?
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
            .insert(&w.txn)
            .await?
        }
    };
    w.audit::<event_attendees::Entity, _>(row.id, None, Some(&row))
        .await?;
    w.signal(signal(&row, AttendeeChangeKind::Registered));
    super::webhooks::emit(
        &mut w,
        "attendee.registered",
        super::webhooks::api_json(&row),
    )
    .await?;
    w.notify(vec![confirmed(&event.title, &row)]).await?;
    w.commit().await?;
    Ok(row)
}

/// What a registrant is told once their seat is taken (the demo seed says the same).
pub fn confirmed(event_title: &str, attendee: &event_attendees::Model) -> NewNotification {
    NewNotification::new(
        attendee.user_id,
        NotificationType::Success,
        "Registration confirmed",
        format!("You are registered for {event_title}."),
        json!({ "eventId": attendee.event_id, "attendeeId": attendee.id }),
    )
}

pub async fn cancel(
    store: Store<'_>,
    actor: &Actor,
    event_id: Uuid,
    user_id: Option<Uuid>,
) -> Result<event_attendees::Model, AppError> {
    let user_id = user_id.unwrap_or(actor.user_id);
    let (mut w, _, old) = open(store, actor, event_id, user_id).await?;
    let status = AttendeeStatus::from_db(&old.status)?;
    if !is_open(status) {
        return Err(AppError::bad_input(
            "eventId",
            format!(
                "the registration is {}; only a registered or confirmed one can be cancelled",
                status.as_str()
            ),
        ));
    }
    let mut a: event_attendees::ActiveModel = old.clone().into();
    a.status = Set(AttendeeStatus::Cancelled.as_str().into());
    a.updated_at = Set(now());
    let row = a.update(&w.txn).await?;
    free_seat(&w, event_id).await?;
    w.audit::<event_attendees::Entity, _>(row.id, Some(&old), Some(&row))
        .await?;
    w.signal(signal(&row, AttendeeChangeKind::Cancelled));
    super::webhooks::emit(
        &mut w,
        "attendee.cancelled",
        super::webhooks::api_json(&row),
    )
    .await?;
    w.commit().await?;
    Ok(row)
}

/// Check-in (`true`) or check-out. Both are idempotent: a repeat returns the row as it is.
pub async fn check(
    store: Store<'_>,
    actor: &Actor,
    event_id: Uuid,
    user_id: Uuid,
    check_in: bool,
) -> Result<event_attendees::Model, AppError> {
    let (mut w, event, old) = open(store, actor, event_id, user_id).await?;
    let status = AttendeeStatus::from_db(&old.status)?;
    let t = now();
    let mut a: event_attendees::ActiveModel = old.clone().into();
    if check_in {
        if old.check_in_time.is_some() {
            return Ok(old);
        }
        if !is_open(status) {
            return Err(AppError::bad_input(
                "userId",
                format!("the registration is {}", status.as_str()),
            ));
        }
        let es = EventStatus::from_db(&event.status)?;
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
    let row = a.update(&w.txn).await?;
    w.audit::<event_attendees::Entity, _>(row.id, Some(&old), Some(&row))
        .await?;
    let kind = if check_in {
        AttendeeChangeKind::CheckedIn
    } else {
        AttendeeChangeKind::CheckedOut
    };
    w.signal(signal(&row, kind));
    if kind == AttendeeChangeKind::CheckedIn {
        let data = super::webhooks::api_json(&row);
        super::webhooks::emit(&mut w, "attendee.checked_in", data).await?;
    }
    w.commit().await?;
    Ok(row)
}

/// Changes a registration's status (REGISTERED, CONFIRMED, or NO_SHOW once the event is
/// completed) and notes. Seats move only through register/cancel, attendance through check-in.
pub async fn update(
    store: Store<'_>,
    actor: &Actor,
    id: Uuid,
    status: Option<AttendeeStatus>,
    notes: Change<String>,
) -> Result<event_attendees::Model, AppError> {
    let mut w = Work::begin(store, actor).await?;
    let old = w.live::<event_attendees::Entity>(id).await?;
    let event = w.locked::<events::Entity>(old.event_id).await?;
    // Read again under the event's lock: a concurrent change may have come first.
    let old = w.live::<event_attendees::Entity>(id).await?;
    actor.organizer_or_admin(event.created_by)?;
    let mut a: event_attendees::ActiveModel = old.clone().into();
    if let Some(s) = status {
        let from = AttendeeStatus::from_db(&old.status)?;
        let allowed = match s {
            AttendeeStatus::Registered | AttendeeStatus::Confirmed => is_open(from),
            AttendeeStatus::NoShow => {
                EventStatus::from_db(&event.status)? == EventStatus::Completed && is_open(from)
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
    validate::set_text(&mut a.notes, "notes", notes, validate::Text::Plain(20_000))?;
    a.updated_at = Set(now());
    let row = a.update(&w.txn).await?;
    w.audit::<event_attendees::Entity, _>(id, Some(&old), Some(&row))
        .await?;
    w.signal(signal(&row, AttendeeChangeKind::Updated));
    w.commit().await?;
    Ok(row)
}

/// After an event completes, every registration that never checked in becomes NO_SHOW.
/// Returns how many changed. One audit row, on the event.
pub async fn mark_no_shows(
    store: Store<'_>,
    actor: &Actor,
    event_id: Uuid,
) -> Result<u64, AppError> {
    use event_attendees::Column as C;
    let mut w = Work::begin(store, actor).await?;
    // The event row is locked: every change to its registrations and seats is serialized.
    let event = w.locked::<events::Entity>(event_id).await?;
    actor.organizer_or_admin(event.created_by)?;
    let status = EventStatus::from_db(&event.status)?;
    if status != EventStatus::Completed {
        return Err(AppError::bad_input(
            "eventId",
            format!(
                "the event is {}; no-shows are marked after it completes",
                status.as_str()
            ),
        ));
    }
    let open = OPEN.map(AttendeeStatus::as_str);
    let ids: Vec<Uuid> = actor
        .scope()
        .live::<event_attendees::Entity>()
        .filter(C::EventId.eq(event_id))
        .filter(C::Status.is_in(open))
        .select_only()
        .column(C::Id)
        .into_tuple()
        .all(&w.txn)
        .await?;
    let mut changed = 0;
    for chunk in ids.chunks(500) {
        changed += actor
            .scope()
            .update_many::<event_attendees::Entity>()
            .col_expr(C::Status, Expr::value(AttendeeStatus::NoShow.as_str()))
            .col_expr(C::UpdatedAt, Expr::value(now()))
            .filter(C::Id.is_in(chunk.to_vec()))
            .filter(C::Status.is_in(open))
            .exec(&w.txn)
            .await?
            .rows_affected;
        w.signals(chunk.iter().map(|&attendee| Signal::Attendee {
            org: actor.organization_id,
            event: event_id,
            attendee,
            kind: AttendeeChangeKind::Updated,
        }));
    }
    super::audit::by_actor(
        &w.txn,
        actor,
        "events",
        event_id,
        AuditAction::Update,
        None,
        Some(json!({ "no_shows": changed })),
    )
    .await?;
    w.commit().await?;
    Ok(changed)
}

/// `GET /export/attendees.csv`'s filter: registrations of one event, of one member, of some
/// statuses; the trash with `deleted`.
#[derive(Clone, Debug, Default)]
pub struct RegistrationFilter {
    pub event_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub status: Option<Vec<AttendeeStatus>>,
    pub deleted: Option<bool>,
}

/// The organization's registrations, first registered first (every member sees an event's
/// attendees in GraphQL, so every member sees them here).
pub async fn list(
    db: &sea_orm::DatabaseConnection,
    actor: &Actor,
    f: &RegistrationFilter,
    args: &crate::db::pagination::PageArgs,
) -> Result<crate::db::pagination::Page<event_attendees::Model>, AppError> {
    use event_attendees::Column as C;
    let mut q = actor
        .scope()
        .find::<event_attendees::Entity>()
        .filter(C::IsDeleted.eq(f.deleted == Some(true)));
    if let Some(e) = f.event_id {
        q = q.filter(C::EventId.eq(e));
    }
    if let Some(u) = f.user_id {
        q = q.filter(C::UserId.eq(u));
    }
    if let Some(s) = &f.status {
        q = q.filter(C::Status.is_in(s.iter().map(|v| v.as_str())));
    }
    crate::db::pagination::paginate(db, q, &keyset(), args).await
}

/// The users holding a live registration (not cancelled) for the event.
pub async fn registrants(
    db: &impl ConnectionTrait,
    scope: Scoped,
    event_id: Uuid,
) -> Result<Vec<Uuid>, AppError> {
    Ok(scope
        .live::<event_attendees::Entity>()
        .filter(event_attendees::Column::EventId.eq(event_id))
        .filter(event_attendees::Column::Status.ne(AttendeeStatus::Cancelled.as_str()))
        .select_only()
        .column(event_attendees::Column::UserId)
        .into_tuple()
        .all(db)
        .await?)
}

/// An event's registrations by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attendance {
    /// Live and not cancelled.
    pub active: i64,
    pub attended: i64,
    pub checked_in: i64,
}

/// Attendance of many events in one grouped statement.
pub async fn attendance(
    db: &impl ConnectionTrait,
    scope: Scoped,
    events: Vec<Uuid>,
) -> Result<HashMap<Uuid, Attendance>, AppError> {
    use event_attendees::Column as C;
    let rows: Vec<(Uuid, String, i64, i64)> = scope
        .live::<event_attendees::Entity>()
        .filter(C::EventId.is_in(events.clone()))
        .select_only()
        .column(C::EventId)
        .column(C::Status)
        .column_as(C::Id.count(), "n")
        .column_as(C::CheckInTime.count(), "checked_in")
        .group_by(C::EventId)
        .group_by(C::Status)
        .into_tuple()
        .all(db)
        .await?;
    let mut out: HashMap<Uuid, Attendance> = events
        .into_iter()
        .map(|e| (e, Attendance::default()))
        .collect();
    for (event, status, n, checked_in) in rows {
        let e = out.entry(event).or_default();
        let status = AttendeeStatus::from_db(&status)?;
        if status != AttendeeStatus::Cancelled {
            e.active += n;
            e.checked_in += checked_in;
        }
        if status == AttendeeStatus::Attended {
            e.attended += n;
        }
    }
    Ok(out)
}

/// A registration a realtime signal names, with its event's seat count now (`None` when
/// either is gone), loaded in the subscriber's organization.
pub async fn with_seats(
    db: &impl ConnectionTrait,
    scope: Scoped,
    attendee: Uuid,
    event: Uuid,
) -> Result<Option<(event_attendees::Model, i32)>, AppError> {
    let row = scope
        .by_id::<event_attendees::Entity>(attendee)
        .one(db)
        .await?;
    let event = scope.by_id::<events::Entity>(event).one(db).await?;
    Ok(row.zip(event).map(|(r, e)| (r, e.current_attendees)))
}
