//! Event reminders: every registrant of an event that starts within the next 24 hours gets one
//! REMINDER notification (in the app, and by e-mail unless they turned reminder e-mail off),
//! once per registration: `event_attendees.reminded_at` is set by a guarded UPDATE in the
//! transaction that creates the notification, so concurrent or repeated runs never remind
//! twice. Cancelled registrations, deleted registrations, and cancelled, completed or deleted
//! events get none. Run by the scheduled `events.reminders` job.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::json;
use uuid::Uuid;

use super::notifications::{NewNotification, notify};
use crate::db::scoped::Scoped;
use crate::domain::enums::{DbEnum, EventStatus, NotificationType};
use crate::entities::{event_attendees, events};
use crate::error::AppError;

/// How long before an event its registrants are reminded.
pub const LEAD: Duration = Duration::hours(24);
const BATCH: u64 = 500;
/// The registrations that are reminded.
const REMINDED: [&str; 2] = ["registered", "confirmed"];

/// Reminds every registration due at `now`; how many reminders were created.
pub async fn send_due(
    db: &DatabaseConnection,
    broker: &dyn crate::realtime::Broker,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let mut sent = 0;
    loop {
        let due = due(db, now).await?;
        let last = (due.len() as u64) < BATCH;
        let mut by_org: std::collections::BTreeMap<Uuid, Vec<_>> = Default::default();
        for (attendee, event) in due {
            by_org
                .entry(attendee.organization_id)
                .or_default()
                .push((attendee, event));
        }
        for (org, rows) in by_org {
            sent += remind(db, broker, org, rows, now).await?;
        }
        if last {
            return Ok(sent);
        }
    }
}

async fn due(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<Vec<(event_attendees::Model, events::Model)>, AppError> {
    use event_attendees::Column as A;
    use events::Column as E;
    #[expect(
        clippy::disallowed_methods,
        reason = "the reminder job serves every organization; each row then writes in its own"
    )]
    let rows = event_attendees::Entity::find()
        .find_also_related(events::Entity)
        .filter(A::RemindedAt.is_null())
        .filter(A::IsDeleted.eq(false))
        .filter(A::Status.is_in(REMINDED))
        .filter(E::IsDeleted.eq(false))
        .filter(E::Status.is_not_in([
            EventStatus::Cancelled.as_str(),
            EventStatus::Completed.as_str(),
        ]))
        .filter(E::StartDate.gt(now.fixed_offset()))
        .filter(E::StartDate.lte((now + LEAD).fixed_offset()))
        .order_by_asc(E::StartDate)
        .order_by_asc(A::Id)
        .limit(BATCH)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(a, e)| e.map(|e| (a, e)))
        .collect())
}

async fn remind(
    db: &DatabaseConnection,
    broker: &dyn crate::realtime::Broker,
    org: Uuid,
    rows: Vec<(event_attendees::Model, events::Model)>,
    now: DateTime<Utc>,
) -> Result<usize, AppError> {
    let scope = Scoped::system(org, "the organization of the registrations being reminded");
    let txn = crate::db::write_txn(db).await?;
    let t = super::now();
    // Read again inside the transaction: an event cancelled or moved since the scan is not
    // reminded of (nor is a registration cancelled since: the UPDATE below checks it).
    let mut event_ids: Vec<Uuid> = rows.iter().map(|(_, e)| e.id).collect();
    event_ids.sort_unstable();
    event_ids.dedup();
    let still: std::collections::HashMap<Uuid, events::Model> = scope
        .live::<events::Entity>()
        .filter(events::Column::Id.is_in(event_ids))
        .all(&txn)
        .await?
        .into_iter()
        .map(|e| (e.id, e))
        .collect();
    let mut items = Vec::new();
    for (attendee, _) in rows {
        let Some(event) = still.get(&attendee.event_id).filter(|e| {
            let start = e.start_date.with_timezone(&Utc);
            !matches!(
                e.status.parse::<EventStatus>(),
                Ok(EventStatus::Cancelled | EventStatus::Completed)
            ) && start > now
                && start <= now + LEAD
        }) else {
            continue;
        };
        let taken = scope
            .update_many::<event_attendees::Entity>()
            .col_expr(event_attendees::Column::RemindedAt, Expr::value(t))
            .filter(event_attendees::Column::Id.eq(attendee.id))
            .filter(event_attendees::Column::RemindedAt.is_null())
            .filter(event_attendees::Column::IsDeleted.eq(false))
            .filter(event_attendees::Column::Status.is_in(REMINDED))
            .exec(&txn)
            .await?
            .rows_affected;
        if taken == 1 {
            items.push(reminder(&attendee, event));
        }
    }
    let n = items.len();
    let mut outbox = crate::realtime::Outbox::new();
    notify(&txn, &mut outbox, org, items).await?;
    outbox.commit(txn, broker).await?;
    Ok(n)
}

fn reminder(attendee: &event_attendees::Model, event: &events::Model) -> NewNotification {
    let starts = event.start_date.with_timezone(&Utc);
    let place = event
        .venue
        .as_deref()
        .or(event.location.as_deref())
        .map(|p| format!(" at {p}"))
        .unwrap_or_default();
    NewNotification::new(
        attendee.user_id,
        NotificationType::Reminder,
        format!("Reminder: {}", event.title),
        format!(
            "{} starts on {} UTC{place}.",
            event.title,
            starts.format("%A %-d %B %Y, %H:%M")
        ),
        json!({
            "eventId": event.id,
            "attendeeId": attendee.id,
            "startDate": starts.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }),
    )
}
