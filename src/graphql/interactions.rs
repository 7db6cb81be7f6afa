//! Interactions: touchpoints with a contact.

use async_graphql::{Context, ID, InputObject, Json, MaybeUndefined, Object};
use chrono::{DateTime, Utc};

use crate::domain::enums::{InteractionStatus, InteractionType};
use crate::entities::contact_interactions;
use crate::graphql::args::{change, non_null, opt_id, page, parse_id, set};
use crate::graphql::connection::Connection;
use crate::graphql::context::ContextExt;
use crate::graphql::types::ContactInteraction;
use crate::services::interactions as svc;

type Res<T> = async_graphql::Result<T>;

#[derive(InputObject, Default)]
pub struct ContactInteractionFilter {
    contact_id: Option<ID>,
    user_id: Option<ID>,
    interaction_type: Option<Vec<InteractionType>>,
    status: Option<Vec<InteractionStatus>>,
    date_from: Option<DateTime<Utc>>,
    date_to: Option<DateTime<Utc>>,
    deleted: Option<bool>,
}

#[derive(InputObject)]
pub struct CreateContactInteractionInput {
    contact_id: ID,
    /// Defaults to the caller; must be a member of the organization.
    user_id: Option<ID>,
    interaction_type: InteractionType,
    subject: Option<String>,
    description: Option<String>,
    outcome: Option<String>,
    interaction_date: DateTime<Utc>,
    /// Default COMPLETED. A completed interaction cannot be in the future.
    status: Option<InteractionStatus>,
    metadata: Option<Json<serde_json::Value>>,
}

#[derive(InputObject)]
pub struct UpdateContactInteractionInput {
    user_id: MaybeUndefined<ID>,
    interaction_type: MaybeUndefined<InteractionType>,
    subject: MaybeUndefined<String>,
    description: MaybeUndefined<String>,
    outcome: MaybeUndefined<String>,
    interaction_date: MaybeUndefined<DateTime<Utc>>,
    status: MaybeUndefined<InteractionStatus>,
    metadata: MaybeUndefined<Json<serde_json::Value>>,
}

#[derive(Default)]
pub struct InteractionsQuery;

#[Object]
impl InteractionsQuery {
    /// Interactions across contacts, newest first.
    async fn contact_interactions(
        &self,
        ctx: &Context<'_>,
        filter: Option<ContactInteractionFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Res<Connection<ContactInteraction>> {
        let actor = ctx.actor()?;
        let f = filter.unwrap_or_default();
        let filter = svc::InteractionFilter {
            contact_id: opt_id(f.contact_id.as_ref(), "contactId")?,
            user_id: opt_id(f.user_id.as_ref(), "userId")?,
            interaction_type: f.interaction_type,
            status: f.status,
            date_from: f.date_from,
            date_to: f.date_to,
            deleted: f.deleted,
        };
        let page = svc::list(ctx.db(), actor, &filter, &page(first, after, last, before)).await?;
        Ok(Connection::from_page(page))
    }

    /// One live interaction; `null` when missing, deleted or in another organization.
    async fn contact_interaction(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Res<Option<ContactInteraction>> {
        let id = parse_id(&id, "id")?;
        Ok(
            crate::services::live::<contact_interactions::Entity>(ctx.db(), ctx.actor()?, id)
                .await?
                .map(Into::into),
        )
    }
}

#[derive(Default)]
pub struct InteractionsMutation;

#[Object]
impl InteractionsMutation {
    /// Logs a touchpoint. A completed one updates the contact's `lastInteraction`.
    async fn create_contact_interaction(
        &self,
        ctx: &Context<'_>,
        input: CreateContactInteractionInput,
    ) -> Res<ContactInteraction> {
        let actor = ctx.actor()?;
        let contact = parse_id(&input.contact_id, "contactId")?;
        let patch = svc::InteractionPatch {
            user_id: opt_id(input.user_id.as_ref(), "userId")?,
            interaction_type: Some(input.interaction_type),
            subject: set(input.subject),
            description: set(input.description),
            outcome: set(input.outcome),
            interaction_date: Some(input.interaction_date),
            status: input.status,
            metadata: input.metadata.map(|j| j.0),
        };
        Ok(svc::create(ctx.store(), actor, contact, patch)
            .await?
            .into())
    }

    async fn update_contact_interaction(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateContactInteractionInput,
    ) -> Res<ContactInteraction> {
        let actor = ctx.actor()?;
        let id = parse_id(&id, "id")?;
        let i = input;
        let patch = svc::InteractionPatch {
            user_id: opt_id(non_null(i.user_id, "userId")?.as_ref(), "userId")?,
            interaction_type: non_null(i.interaction_type, "interactionType")?,
            subject: change(i.subject),
            description: change(i.description),
            outcome: change(i.outcome),
            interaction_date: non_null(i.interaction_date, "interactionDate")?,
            status: non_null(i.status, "status")?,
            metadata: non_null(i.metadata, "metadata")?.map(|j| j.0),
        };
        Ok(svc::update(ctx.store(), actor, id, patch).await?.into())
    }

    async fn delete_contact_interaction(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Res<ContactInteraction> {
        Ok(
            svc::set_deleted(ctx.store(), ctx.actor()?, parse_id(&id, "id")?, true)
                .await?
                .into(),
        )
    }

    async fn restore_contact_interaction(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Res<ContactInteraction> {
        Ok(
            svc::set_deleted(ctx.store(), ctx.actor()?, parse_id(&id, "id")?, false)
                .await?
                .into(),
        )
    }
}
