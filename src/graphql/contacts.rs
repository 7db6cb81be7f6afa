//! Contacts: the funnel TARGET -> CONTACT -> PLUG, lead scores, and the funnel analytics.

use async_graphql::{Context, Enum, ID, InputObject, Json, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};
use sea_orm::Order;

use crate::domain::enums::{ContactPriority, ContactStatus, ContactType};
use crate::entities::contacts;
use crate::error::AppError;
use crate::graphql::args::{
    OrderDirection, change, non_null, one_ordering, opt_id, page, parse_id, set,
};
use crate::graphql::connection::Connection;
use crate::graphql::context::ContextExt;
use crate::graphql::types::{Contact, ContactPerformanceSummary};
use crate::services;
use crate::services::contacts::{self as svc, ContactSort};

type Res<T> = async_graphql::Result<T>;

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ContactOrderField {
    CreatedAt,
    UpdatedAt,
    LastName,
    Company,
    LeadScore,
    LastInteraction,
}

/// Ties are broken by id; NULLs (no company, no interaction yet) come last in both directions.
#[derive(InputObject, Clone, Copy)]
pub struct ContactOrder {
    field: ContactOrderField,
    direction: OrderDirection,
}

#[derive(InputObject, Default)]
pub struct ContactFilter {
    /// Case-insensitive substring of first name, last name, email or company.
    search: Option<String>,
    contact_type: Option<Vec<ContactType>>,
    status: Option<Vec<ContactStatus>>,
    priority: Option<Vec<ContactPriority>>,
    lead_score_min: Option<i32>,
    lead_score_max: Option<i32>,
    /// Exact company name, case-insensitive.
    company: Option<String>,
    /// Exact industry, case-insensitive.
    industry: Option<String>,
    created_by: Option<ID>,
    last_interaction_after: Option<DateTime<Utc>>,
    last_interaction_before: Option<DateTime<Utc>>,
    /// `true` lists deleted contacts (the trash).
    deleted: Option<bool>,
}

#[derive(InputObject)]
pub struct CreateContactInput {
    first_name: String,
    last_name: String,
    email: Option<String>,
    phone: Option<String>,
    company: Option<String>,
    job_title: Option<String>,
    linkedin_url: Option<String>,
    bio: Option<String>,
    avatar_url: Option<String>,
    /// Where the contact enters the funnel (default TARGET).
    contact_type: Option<ContactType>,
    status: Option<ContactStatus>,
    priority: Option<ContactPriority>,
    business_type: Option<String>,
    network_type: Option<String>,
    industry: Option<String>,
    notes: Option<String>,
    metadata: Option<Json<serde_json::Value>>,
    /// 0..100 (default 0).
    lead_score: Option<i32>,
}

/// Omitted fields stay as they are; `null` clears an optional field. The funnel stage moves
/// only through `convertContact`.
#[derive(InputObject)]
pub struct UpdateContactInput {
    first_name: MaybeUndefined<String>,
    last_name: MaybeUndefined<String>,
    email: MaybeUndefined<String>,
    phone: MaybeUndefined<String>,
    company: MaybeUndefined<String>,
    job_title: MaybeUndefined<String>,
    linkedin_url: MaybeUndefined<String>,
    bio: MaybeUndefined<String>,
    avatar_url: MaybeUndefined<String>,
    status: MaybeUndefined<ContactStatus>,
    priority: MaybeUndefined<ContactPriority>,
    business_type: MaybeUndefined<String>,
    network_type: MaybeUndefined<String>,
    industry: MaybeUndefined<String>,
    notes: MaybeUndefined<String>,
    metadata: MaybeUndefined<Json<serde_json::Value>>,
    lead_score: MaybeUndefined<i32>,
}

/// Live contacts per funnel stage, and how many moved on.
#[derive(SimpleObject)]
pub struct ContactFunnel {
    targets: i64,
    contacts: i64,
    plugs: i64,
    total: i64,
    /// (contacts + plugs) / total: the share that got past TARGET. 0 when there are none.
    target_to_contact_rate: f64,
    /// plugs / (contacts + plugs). 0 when there are none.
    contact_to_plug_rate: f64,
    /// plugs / total.
    overall_conversion_rate: f64,
}

fn ratio(a: i64, b: i64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

fn sort_of(order: Option<Vec<ContactOrder>>) -> Result<(ContactSort, Order), AppError> {
    one_ordering(order, (ContactSort::CreatedAt, Order::Desc), |o| {
        let field = match o.field {
            ContactOrderField::CreatedAt => ContactSort::CreatedAt,
            ContactOrderField::UpdatedAt => ContactSort::UpdatedAt,
            ContactOrderField::LastName => ContactSort::LastName,
            ContactOrderField::Company => ContactSort::Company,
            ContactOrderField::LeadScore => ContactSort::LeadScore,
            ContactOrderField::LastInteraction => ContactSort::LastInteraction,
        };
        (field, o.direction)
    })
}

fn contact_patch_from_create(i: CreateContactInput) -> svc::ContactPatch {
    svc::ContactPatch {
        first_name: Some(i.first_name),
        last_name: Some(i.last_name),
        email: set(i.email),
        phone: set(i.phone),
        company: set(i.company),
        job_title: set(i.job_title),
        linkedin_url: set(i.linkedin_url),
        bio: set(i.bio),
        avatar_url: set(i.avatar_url),
        status: i.status,
        priority: i.priority,
        business_type: set(i.business_type),
        network_type: set(i.network_type),
        industry: set(i.industry),
        notes: set(i.notes),
        metadata: i.metadata.map(|j| j.0),
        lead_score: i.lead_score,
    }
}

#[derive(Default)]
pub struct ContactsQuery;

#[Object]
impl ContactsQuery {
    /// The organization's contacts; newest first unless `orderBy` says otherwise.
    #[allow(clippy::too_many_arguments)]
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        filter: Option<ContactFilter>,
        order_by: Option<Vec<ContactOrder>>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Res<Connection<Contact>> {
        let actor = ctx.actor()?;
        let f = filter.unwrap_or_default();
        let filter = svc::ContactFilter {
            search: f.search,
            contact_type: f.contact_type,
            status: f.status,
            priority: f.priority,
            lead_score_min: f.lead_score_min,
            lead_score_max: f.lead_score_max,
            company: f.company,
            industry: f.industry,
            created_by: opt_id(f.created_by.as_ref(), "createdBy")?,
            last_interaction_after: f.last_interaction_after,
            last_interaction_before: f.last_interaction_before,
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

    /// One live contact; `null` when missing, deleted or in another organization.
    async fn contact(&self, ctx: &Context<'_>, id: ID) -> Res<Option<Contact>> {
        let id = parse_id(&id, "id")?;
        Ok(
            services::live::<contacts::Entity>(ctx.db(), ctx.actor()?, id)
                .await?
                .map(Into::into),
        )
    }

    /// Per contact type and status: contacts, average lead score, interactions, latest one.
    async fn contact_performance_summary(
        &self,
        ctx: &Context<'_>,
    ) -> Res<Vec<ContactPerformanceSummary>> {
        let rows = svc::performance(ctx.db(), ctx.actor()?).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Contacts per funnel stage and conversion rates, optionally for contacts created in a range.
    async fn contact_funnel(
        &self,
        ctx: &Context<'_>,
        created_after: Option<DateTime<Utc>>,
        created_before: Option<DateTime<Utc>>,
    ) -> Res<ContactFunnel> {
        let f = svc::funnel(ctx.db(), ctx.actor()?, created_after, created_before).await?;
        let total = f.targets + f.contacts + f.plugs;
        Ok(ContactFunnel {
            targets: f.targets,
            contacts: f.contacts,
            plugs: f.plugs,
            total,
            target_to_contact_rate: ratio(f.contacts + f.plugs, total),
            contact_to_plug_rate: ratio(f.plugs, f.contacts + f.plugs),
            overall_conversion_rate: ratio(f.plugs, total),
        })
    }
}

#[derive(Default)]
pub struct ContactsMutation;

#[Object]
impl ContactsMutation {
    async fn create_contact(&self, ctx: &Context<'_>, input: CreateContactInput) -> Res<Contact> {
        let actor = ctx.actor()?;
        let stage = input.contact_type;
        let row = svc::create(ctx.store(), actor, stage, contact_patch_from_create(input)).await?;
        Ok(row.into())
    }

    async fn update_contact(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateContactInput,
    ) -> Res<Contact> {
        let actor = ctx.actor()?;
        let id = parse_id(&id, "id")?;
        let i = input;
        let patch = svc::ContactPatch {
            first_name: non_null(i.first_name, "firstName")?,
            last_name: non_null(i.last_name, "lastName")?,
            email: change(i.email),
            phone: change(i.phone),
            company: change(i.company),
            job_title: change(i.job_title),
            linkedin_url: change(i.linkedin_url),
            bio: change(i.bio),
            avatar_url: change(i.avatar_url),
            status: non_null(i.status, "status")?,
            priority: non_null(i.priority, "priority")?,
            business_type: change(i.business_type),
            network_type: change(i.network_type),
            industry: change(i.industry),
            notes: change(i.notes),
            metadata: non_null(i.metadata, "metadata")?.map(|j| j.0),
            lead_score: non_null(i.lead_score, "leadScore")?,
        };
        Ok(svc::update(ctx.store(), actor, id, patch).await?.into())
    }

    /// Soft delete: the contact moves to the trash (`filter: { deleted: true }`).
    async fn delete_contact(&self, ctx: &Context<'_>, id: ID) -> Res<Contact> {
        Ok(
            svc::set_deleted(ctx.store(), ctx.actor()?, parse_id(&id, "id")?, true)
                .await?
                .into(),
        )
    }

    async fn restore_contact(&self, ctx: &Context<'_>, id: ID) -> Res<Contact> {
        Ok(
            svc::set_deleted(ctx.store(), ctx.actor()?, parse_id(&id, "id")?, false)
                .await?
                .into(),
        )
    }

    /// Moves a contact along the funnel TARGET -> CONTACT -> PLUG (skipping a stage is fine).
    /// Moving backwards needs `force: true`, and only an admin may force.
    async fn convert_contact(
        &self,
        ctx: &Context<'_>,
        id: ID,
        to: ContactType,
        force: Option<bool>,
    ) -> Res<Contact> {
        let row = svc::convert(
            ctx.store(),
            ctx.actor()?,
            parse_id(&id, "id")?,
            to,
            force.unwrap_or(false),
        )
        .await?;
        Ok(row.into())
    }

    /// Recomputes `leadScore` (0..100) from the contact's completed interactions:
    /// recency of the latest (within 7 days 40, 30 days 30, 90 days 15, else 0)
    /// + frequency (3 per interaction in the last 90 days, at most 30)
    /// + outcomes (20 x the share of interactions with a recorded outcome)
    /// + stage (PLUG 10, CONTACT 5, TARGET 0), capped at 100.
    async fn recalculate_lead_score(&self, ctx: &Context<'_>, id: ID) -> Res<Contact> {
        Ok(
            svc::recalculate_lead_score(ctx.store(), ctx.actor()?, parse_id(&id, "id")?)
                .await?
                .into(),
        )
    }
}
