//! An event's agenda: items inside the event's dates, speakers from the organization,
//! an explicit order.

use chrono::{DateTime, FixedOffset, Utc};
use std::collections::HashMap;

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, QueryFilter, QueryOrder};
use serde_json::Value;
use uuid::Uuid;

use super::audit::{self, Entry};
use super::validate::{self, Text::Plain, set_text};
use super::work::{Store, Work, missing};
use super::{Actor, Change, now};
use crate::db::scoped::Scoped;
use crate::domain::enums::{AgendaItemStatus, AgendaItemType, AuditAction, DbEnum};
use crate::entities::{event_agenda_items as items, events, users};
use crate::error::AppError;

#[derive(Clone, Debug, Default)]
pub struct AgendaPatch {
    pub title: Option<String>,
    pub description: Change<String>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub agenda_type: Option<AgendaItemType>,
    pub location: Change<String>,
    pub speaker_id: Change<Uuid>,
    pub sort_order: Option<i32>,
    pub status: Option<AgendaItemStatus>,
    pub metadata: Option<Value>,
}

fn value<T: Clone + Into<sea_orm::Value>>(v: &sea_orm::ActiveValue<T>) -> Option<T> {
    match v {
        sea_orm::ActiveValue::Set(x) | sea_orm::ActiveValue::Unchanged(x) => Some(x.clone()),
        sea_orm::ActiveValue::NotSet => None,
    }
}

/// Items must lie within the event: `start_time >= event start`, `end_time <= event end`.
pub fn within(
    start: DateTime<FixedOffset>,
    end: DateTime<FixedOffset>,
    event: &events::Model,
) -> Result<(), AppError> {
    if end <= start {
        return Err(AppError::bad_input("endTime", "must be after startTime"));
    }
    if start < event.start_date || end > event.end_date {
        return Err(AppError::bad_input(
            "startTime",
            format!(
                "the item must lie within the event ({} to {})",
                event.start_date.to_rfc3339(),
                event.end_date.to_rfc3339()
            ),
        ));
    }
    Ok(())
}

async fn apply(
    w: &Work<'_>,
    event: &events::Model,
    a: &mut items::ActiveModel,
    p: AgendaPatch,
) -> Result<(), AppError> {
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
    match p.speaker_id {
        Change::Keep => {}
        Change::Clear => a.speaker_id = Set(None),
        Change::Set(u) => {
            // The speaker must be a member of the organization (else: as if missing).
            w.live::<users::Entity>(u).await?;
            a.speaker_id = Set(Some(u));
        }
    }
    if let Some(t) = p.start_time {
        a.start_time = Set(t.fixed_offset());
    }
    if let Some(t) = p.end_time {
        a.end_time = Set(t.fixed_offset());
    }
    if let Some(t) = p.agenda_type {
        a.agenda_type = Set(t.as_str().into());
    }
    if let Some(s) = p.status {
        a.status = Set(s.as_str().into());
    }
    if let Some(o) = p.sort_order {
        a.sort_order = Set(o);
    }
    if let Some(m) = p.metadata {
        a.metadata = Set(validate::object("metadata", m)?);
    }
    match (value(&a.start_time), value(&a.end_time)) {
        (Some(s), Some(e)) => within(s, e, event),
        _ => Err(AppError::bad_input(
            "startTime",
            "startTime and endTime are required",
        )),
    }
}

/// A member who becomes an item's speaker is told so (not again when other fields change).
async fn notify_speaker(
    w: &mut Work<'_>,
    event: &events::Model,
    previous: Option<Uuid>,
    row: &items::Model,
) -> Result<(), AppError> {
    use crate::domain::enums::NotificationType;
    use crate::services::notifications::NewNotification;
    let Some(speaker) = row.speaker_id.filter(|s| Some(*s) != previous) else {
        return Ok(());
    };
    w.notify(vec![NewNotification::new(
        speaker,
        NotificationType::Info,
        "You are speaking",
        format!(
            "You were added as the speaker of {} at {}.",
            row.title, event.title
        ),
        serde_json::json!({ "eventId": event.id, "agendaItemId": row.id }),
    )])
    .await?;
    Ok(())
}

pub async fn create(
    store: Store<'_>,
    actor: &Actor,
    event_id: Uuid,
    patch: AgendaPatch,
) -> Result<items::Model, AppError> {
    let mut w = Work::begin(store, actor).await?;
    let event = w.live::<events::Entity>(event_id).await?;
    let next = actor
        .scope()
        .live::<items::Entity>()
        .filter(items::Column::EventId.eq(event_id))
        .order_by_desc(items::Column::SortOrder)
        .one(&w.txn)
        .await?
        .map_or(0, |i| i.sort_order + 1);
    let t = now();
    let mut a = items::ActiveModel {
        id: Set(Uuid::new_v4()),
        organization_id: Set(actor.organization_id),
        event_id: Set(event_id),
        created_by: Set(actor.user_id),
        sort_order: Set(next),
        created_at: Set(t),
        updated_at: Set(t),
        ..Default::default()
    };
    apply(&w, &event, &mut a, patch).await?;
    let row = a.insert(&w.txn).await?;
    w.audit::<items::Entity, _>(row.id, None, Some(&row))
        .await?;
    notify_speaker(&mut w, &event, None, &row).await?;
    w.commit().await?;
    Ok(row)
}

pub async fn update(
    store: Store<'_>,
    actor: &Actor,
    id: Uuid,
    patch: AgendaPatch,
) -> Result<items::Model, AppError> {
    let mut w = Work::begin(store, actor).await?;
    let old = w.live::<items::Entity>(id).await?;
    // An item of a trashed event is as missing as its event.
    let event = w
        .live::<events::Entity>(old.event_id)
        .await
        .map_err(|_| missing::<items::Entity>())?;
    let mut a: items::ActiveModel = old.clone().into();
    apply(&w, &event, &mut a, patch).await?;
    a.updated_at = Set(now());
    let row = a.update(&w.txn).await?;
    w.audit::<items::Entity, _>(id, Some(&old), Some(&row))
        .await?;
    notify_speaker(&mut w, &event, old.speaker_id, &row).await?;
    w.commit().await?;
    Ok(row)
}

/// Soft delete (`deleted: true`) or restore. A restored item must still fit its event's
/// dates (they may have moved while it was in the trash).
pub async fn set_deleted(
    store: Store<'_>,
    actor: &Actor,
    id: Uuid,
    deleted: bool,
) -> Result<items::Model, AppError> {
    let w = Work::begin(store, actor).await?;
    let row = w.set_deleted::<items::Entity>(id, deleted).await?;
    if !deleted {
        let event = w.live::<events::Entity>(row.event_id).await.map_err(|_| {
            AppError::NotFound("the item's event is deleted; restore the event first".into())
        })?;
        within(row.start_time, row.end_time, &event)?;
    }
    w.commit().await?;
    Ok(row)
}

/// The event's live items in `ids` order; `ids` must name each of them exactly once.
/// One audit row (on the event) for the whole reorder.
pub async fn reorder(
    store: Store<'_>,
    actor: &Actor,
    event_id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<items::Model>, AppError> {
    let w = Work::begin(store, actor).await?;
    w.live::<events::Entity>(event_id).await?;
    let current = list(&w.txn, actor, event_id).await?;
    let mut have: Vec<Uuid> = current.iter().map(|i| i.id).collect();
    let mut want = ids.to_vec();
    have.sort();
    want.sort();
    if have != want {
        return Err(AppError::bad_input(
            "ids",
            "list each of the event's agenda items exactly once",
        ));
    }
    let t = now();
    let mut out = Vec::with_capacity(ids.len());
    for (pos, id) in ids.iter().enumerate() {
        let item = current
            .iter()
            .find(|i| i.id == *id)
            .expect("checked above")
            .clone();
        let mut a: items::ActiveModel = item.into();
        a.sort_order = Set(pos as i32);
        a.updated_at = Set(t);
        out.push(a.update(&w.txn).await?);
    }
    audit::record(
        &w.txn,
        Entry {
            organization_id: actor.organization_id,
            user_id: Some(actor.user_id),
            meta: &actor.meta,
            table: "events",
            record_id: event_id,
            action: AuditAction::Update,
            old: Some(
                serde_json::json!({ "agenda": current.iter().map(|i| i.id).collect::<Vec<_>>() }),
            ),
            new: Some(serde_json::json!({ "agenda": ids })),
        },
    )
    .await?;
    w.commit().await?;
    Ok(out)
}

/// An event's live agenda by sort order, then start time.
pub async fn list(
    db: &impl sea_orm::ConnectionTrait,
    actor: &Actor,
    event_id: Uuid,
) -> Result<Vec<items::Model>, AppError> {
    Ok(actor
        .scope()
        .live::<items::Entity>()
        .filter(items::Column::EventId.eq(event_id))
        .order_by_asc(items::Column::SortOrder)
        .order_by_asc(items::Column::StartTime)
        .all(db)
        .await?)
}

/// Agenda items of `event_id` that the new dates would leave outside.
pub async fn outside(
    db: &impl sea_orm::ConnectionTrait,
    scope: Scoped,
    event_id: Uuid,
    start: DateTime<FixedOffset>,
    end: DateTime<FixedOffset>,
) -> Result<u64, AppError> {
    use sea_orm::{Condition, PaginatorTrait};
    Ok(scope
        .live::<items::Entity>()
        .filter(items::Column::EventId.eq(event_id))
        .filter(
            Condition::any()
                .add(items::Column::StartTime.lt(start))
                .add(items::Column::EndTime.gt(end)),
        )
        .count(db)
        .await?)
}

/// The live agendas of many events (by sort order, then start time), in one statement.
pub async fn of_events(
    db: &impl sea_orm::ConnectionTrait,
    scope: Scoped,
    events: Vec<Uuid>,
) -> Result<HashMap<Uuid, Vec<items::Model>>, AppError> {
    use items::Column as C;
    let rows = scope
        .live::<items::Entity>()
        .filter(C::EventId.is_in(events.clone()))
        .order_by_asc(C::SortOrder)
        .order_by_asc(C::StartTime)
        .order_by_asc(C::Id)
        .all(db)
        .await?;
    let mut out: HashMap<Uuid, Vec<items::Model>> =
        events.into_iter().map(|e| (e, Vec::new())).collect();
    for r in rows {
        out.entry(r.event_id).or_default().push(r);
    }
    Ok(out)
}
