//! An event's agenda: items inside the event's dates, speakers from the organization,
//! an explicit order.

use chrono::{DateTime, FixedOffset, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, QueryFilter, QueryOrder,
};
use serde_json::Value;
use uuid::Uuid;

use super::audit::{self, Entry};
use super::{Actor, Change, now, validate};
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

fn not_found() -> AppError {
    AppError::NotFound("no such agenda item".into())
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
    txn: &impl sea_orm::ConnectionTrait,
    actor: &Actor,
    event: &events::Model,
    a: &mut items::ActiveModel,
    p: AgendaPatch,
) -> Result<(), AppError> {
    if let Some(t) = p.title {
        a.title = Set(validate::required("title", &t, 255)?);
    }
    match p.description {
        Change::Keep => {}
        Change::Clear => a.description = Set(None),
        Change::Set(d) => a.description = Set(validate::optional("description", Some(&d), 20_000)?),
    }
    match p.location {
        Change::Keep => {}
        Change::Clear => a.location = Set(None),
        Change::Set(d) => a.location = Set(validate::optional("location", Some(&d), 255)?),
    }
    match p.speaker_id {
        Change::Keep => {}
        Change::Clear => a.speaker_id = Set(None),
        Change::Set(u) => {
            // The speaker must be a member of the organization (else: as if missing).
            actor
                .scope()
                .live_by_id::<users::Entity>(u)
                .one(txn)
                .await?
                .ok_or_else(|| AppError::NotFound("no such user".into()))?;
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
        if !m.is_object() {
            return Err(AppError::bad_input("metadata", "must be a JSON object"));
        }
        a.metadata = Set(m);
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
    txn: &impl sea_orm::ConnectionTrait,
    outbox: &mut crate::realtime::Outbox,
    event: &events::Model,
    previous: Option<Uuid>,
    row: &items::Model,
) -> Result<(), AppError> {
    use crate::domain::enums::NotificationType;
    use crate::services::notifications::{NewNotification, notify};
    let Some(speaker) = row.speaker_id.filter(|s| Some(*s) != previous) else {
        return Ok(());
    };
    notify(
        txn,
        outbox,
        row.organization_id,
        vec![NewNotification::new(
            speaker,
            NotificationType::Info,
            "You are speaking",
            format!(
                "You were added as the speaker of {} at {}.",
                row.title, event.title
            ),
            serde_json::json!({ "eventId": event.id, "agendaItemId": row.id }),
        )],
    )
    .await?;
    Ok(())
}

pub async fn create(
    db: &DatabaseConnection,
    broker: &dyn crate::realtime::Broker,
    actor: &Actor,
    event_id: Uuid,
    patch: AgendaPatch,
) -> Result<items::Model, AppError> {
    let txn = crate::db::write_txn(db).await?;
    let event = actor
        .scope()
        .live_by_id::<events::Entity>(event_id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::NotFound("no such event".into()))?;
    let next = actor
        .scope()
        .live::<items::Entity>()
        .filter(items::Column::EventId.eq(event_id))
        .order_by_desc(items::Column::SortOrder)
        .one(&txn)
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
    apply(&txn, actor, &event, &mut a, patch).await?;
    let row = a.insert(&txn).await?;
    audit::change(&txn, actor, "event_agenda_items", row.id, None, Some(&row)).await?;
    let mut outbox = crate::realtime::Outbox::new();
    notify_speaker(&txn, &mut outbox, &event, None, &row).await?;
    outbox.commit(txn, broker).await?;
    Ok(row)
}

pub async fn update(
    db: &DatabaseConnection,
    broker: &dyn crate::realtime::Broker,
    actor: &Actor,
    id: Uuid,
    patch: AgendaPatch,
) -> Result<items::Model, AppError> {
    let txn = crate::db::write_txn(db).await?;
    let old = actor
        .scope()
        .live_by_id::<items::Entity>(id)
        .one(&txn)
        .await?
        .ok_or_else(not_found)?;
    let event = actor
        .scope()
        .live_by_id::<events::Entity>(old.event_id)
        .one(&txn)
        .await?
        .ok_or_else(not_found)?;
    let mut a: items::ActiveModel = old.clone().into();
    apply(&txn, actor, &event, &mut a, patch).await?;
    a.updated_at = Set(now());
    let row = a.update(&txn).await?;
    audit::change(
        &txn,
        actor,
        "event_agenda_items",
        id,
        Some(&old),
        Some(&row),
    )
    .await?;
    let mut outbox = crate::realtime::Outbox::new();
    notify_speaker(&txn, &mut outbox, &event, old.speaker_id, &row).await?;
    outbox.commit(txn, broker).await?;
    Ok(row)
}

/// Soft delete (`deleted: true`) or restore. A restored item must still fit its event's
/// dates (they may have moved while it was in the trash).
pub async fn set_deleted(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
    deleted: bool,
) -> Result<items::Model, AppError> {
    let txn = crate::db::write_txn(db).await?;
    let row = super::set_deleted::<items::Entity>(
        &txn,
        actor,
        "event_agenda_items",
        id,
        deleted,
        not_found,
    )
    .await?;
    if !deleted {
        let event = actor
            .scope()
            .live_by_id::<events::Entity>(row.event_id)
            .one(&txn)
            .await?
            .ok_or_else(|| {
                AppError::NotFound("the item's event is deleted; restore it first".into())
            })?;
        within(row.start_time, row.end_time, &event)?;
    }
    txn.commit().await?;
    Ok(row)
}

/// One live item; `None` when missing, deleted or another organization's.
pub async fn get(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<Option<items::Model>, AppError> {
    Ok(actor
        .scope()
        .live_by_id::<items::Entity>(id)
        .one(db)
        .await?)
}

/// The event's live items in `ids` order; `ids` must name each of them exactly once.
/// One audit row (on the event) for the whole reorder.
pub async fn reorder(
    db: &DatabaseConnection,
    actor: &Actor,
    event_id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<items::Model>, AppError> {
    let txn = crate::db::write_txn(db).await?;
    actor
        .scope()
        .live_by_id::<events::Entity>(event_id)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::NotFound("no such event".into()))?;
    let current = list(&txn, actor, event_id).await?;
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
        out.push(a.update(&txn).await?);
    }
    audit::record(
        &txn,
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
    txn.commit().await?;
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
    organization_id: Uuid,
    event_id: Uuid,
    start: DateTime<FixedOffset>,
    end: DateTime<FixedOffset>,
) -> Result<u64, AppError> {
    use sea_orm::{Condition, PaginatorTrait};
    Ok(crate::db::scoped::Scoped::new(organization_id)
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
