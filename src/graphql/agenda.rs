//! An event's agenda: items inside the event's dates, speakers from the organization.

use async_graphql::{Context, ID, InputObject, Json, MaybeUndefined, Object};
use chrono::{DateTime, Utc};

use crate::domain::enums::{AgendaItemStatus, AgendaItemType};
use crate::entities::event_agenda_items;
use crate::graphql::args::{change, id_change, non_null, parse_id, parse_ids, set};
use crate::graphql::context::ContextExt;
use crate::graphql::types::AgendaItem;
use crate::services::{Change, agenda};

type Res<T> = async_graphql::Result<T>;

#[derive(InputObject)]
pub struct CreateAgendaItemInput {
    /// The event the item belongs to.
    event_id: ID,
    title: String,
    description: Option<String>,
    /// Within the event's dates.
    start_time: DateTime<Utc>,
    end_time: DateTime<Utc>,
    agenda_type: Option<AgendaItemType>,
    location: Option<String>,
    /// A member of the organization.
    speaker_id: Option<ID>,
    /// Default: after the last item.
    sort_order: Option<i32>,
    status: Option<AgendaItemStatus>,
    metadata: Option<Json<serde_json::Value>>,
}

/// Omitted fields stay as they are; `null` clears an optional field.
#[derive(InputObject)]
pub struct UpdateAgendaItemInput {
    title: MaybeUndefined<String>,
    description: MaybeUndefined<String>,
    start_time: MaybeUndefined<DateTime<Utc>>,
    end_time: MaybeUndefined<DateTime<Utc>>,
    agenda_type: MaybeUndefined<AgendaItemType>,
    location: MaybeUndefined<String>,
    speaker_id: MaybeUndefined<ID>,
    sort_order: MaybeUndefined<i32>,
    status: MaybeUndefined<AgendaItemStatus>,
    metadata: MaybeUndefined<Json<serde_json::Value>>,
}

#[derive(Default)]
pub struct AgendaQuery;

#[Object]
impl AgendaQuery {
    /// One live agenda item; `null` when missing, deleted or in another organization.
    async fn agenda_item(&self, ctx: &Context<'_>, id: ID) -> Res<Option<AgendaItem>> {
        let id = parse_id(&id, "id")?;
        Ok(
            crate::services::live::<event_agenda_items::Entity>(ctx.db(), ctx.actor()?, id)
                .await?
                .map(Into::into),
        )
    }
}

#[derive(Default)]
pub struct AgendaMutation;

#[Object]
impl AgendaMutation {
    async fn create_agenda_item(
        &self,
        ctx: &Context<'_>,
        input: CreateAgendaItemInput,
    ) -> Res<AgendaItem> {
        let i = input;
        let event_id = parse_id(&i.event_id, "eventId")?;
        let speaker = match i.speaker_id {
            Some(id) => Change::Set(parse_id(&id, "speakerId")?),
            None => Change::Keep,
        };
        let patch = agenda::AgendaPatch {
            title: Some(i.title),
            description: set(i.description),
            start_time: Some(i.start_time),
            end_time: Some(i.end_time),
            agenda_type: i.agenda_type,
            location: set(i.location),
            speaker_id: speaker,
            sort_order: i.sort_order,
            status: i.status,
            metadata: i.metadata.map(|j| j.0),
        };
        Ok(agenda::create(ctx.store(), ctx.actor()?, event_id, patch)
            .await?
            .into())
    }

    async fn update_agenda_item(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateAgendaItemInput,
    ) -> Res<AgendaItem> {
        let i = input;
        let patch = agenda::AgendaPatch {
            title: non_null(i.title, "title")?,
            description: change(i.description),
            start_time: non_null(i.start_time, "startTime")?,
            end_time: non_null(i.end_time, "endTime")?,
            agenda_type: non_null(i.agenda_type, "agendaType")?,
            location: change(i.location),
            speaker_id: id_change(i.speaker_id, "speakerId")?,
            sort_order: non_null(i.sort_order, "sortOrder")?,
            status: non_null(i.status, "status")?,
            metadata: non_null(i.metadata, "metadata")?.map(|j| j.0),
        };
        Ok(
            agenda::update(ctx.store(), ctx.actor()?, parse_id(&id, "id")?, patch)
                .await?
                .into(),
        )
    }

    /// Soft delete.
    async fn delete_agenda_item(&self, ctx: &Context<'_>, id: ID) -> Res<AgendaItem> {
        Ok(
            agenda::set_deleted(ctx.store(), ctx.actor()?, parse_id(&id, "id")?, true)
                .await?
                .into(),
        )
    }

    /// Brings a deleted item back; it must still lie within its event's dates.
    async fn restore_agenda_item(&self, ctx: &Context<'_>, id: ID) -> Res<AgendaItem> {
        Ok(
            agenda::set_deleted(ctx.store(), ctx.actor()?, parse_id(&id, "id")?, false)
                .await?
                .into(),
        )
    }

    /// Sets the agenda's order: `ids` lists each of the event's items exactly once.
    async fn reorder_agenda(
        &self,
        ctx: &Context<'_>,
        event_id: ID,
        ids: Vec<ID>,
    ) -> Res<Vec<AgendaItem>> {
        let ids = parse_ids(&ids, "ids")?;
        let rows = agenda::reorder(
            ctx.store(),
            ctx.actor()?,
            parse_id(&event_id, "eventId")?,
            &ids,
        )
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
