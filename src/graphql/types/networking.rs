use super::{dangling, related, related_opt};
use std::sync::Arc;

use async_graphql::{ComplexObject, Context, ID, Json, SimpleObject};
use uuid::Uuid;

use crate::db::pagination::{CountFn, PageArgs, encode_cursor};
use crate::error::AppError;
use crate::graphql::connection::Connection;
use crate::graphql::context::ContextExt;
use crate::graphql::loaders::Loaders;
use crate::graphql::types::User;
use crate::services::contacts as svc;
use chrono::{DateTime, Utc};

use crate::domain::enums::{
    ContactPriority, ContactStatus, ContactType, DbEnum, InteractionStatus, InteractionType,
};
use crate::entities::{contact_interactions, contacts};
use crate::graphql::scalars::{utc, utc_opt};

/// A person in the organization's network: a target, a contact or a plug.
#[derive(Clone, Debug, SimpleObject)]
#[graphql(complex)]
pub struct Contact {
    #[graphql(skip)]
    pub organization_id: Uuid,
    #[graphql(skip)]
    pub created_by_id: Uuid,
    #[graphql(skip)]
    pub updated_by_id: Option<Uuid>,
    pub id: ID,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub company: Option<String>,
    pub job_title: Option<String>,
    pub linkedin_url: Option<String>,
    pub bio: Option<String>,
    pub avatar_url: Option<String>,
    pub contact_type: ContactType,
    pub status: ContactStatus,
    pub priority: ContactPriority,
    pub business_type: Option<String>,
    pub network_type: Option<String>,
    pub industry: Option<String>,
    pub notes: Option<String>,
    pub metadata: Json<serde_json::Value>,
    /// 0..100.
    pub lead_score: i32,
    pub last_interaction: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<contacts::Model> for Contact {
    fn from(m: contacts::Model) -> Self {
        Self {
            organization_id: m.organization_id,
            created_by_id: m.created_by,
            updated_by_id: m.updated_by,
            id: m.id.into(),
            first_name: m.first_name,
            last_name: m.last_name,
            email: m.email,
            phone: m.phone,
            company: m.company,
            job_title: m.job_title,
            linkedin_url: m.linkedin_url,
            bio: m.bio,
            avatar_url: m.avatar_url,
            contact_type: DbEnum::from_db(&m.contact_type),
            status: DbEnum::from_db(&m.status),
            priority: DbEnum::from_db(&m.priority),
            business_type: m.business_type,
            network_type: m.network_type,
            industry: m.industry,
            notes: m.notes,
            metadata: Json(m.metadata),
            lead_score: m.lead_score,
            last_interaction: utc_opt(m.last_interaction),
            created_at: utc(m.created_at),
            updated_at: utc(m.updated_at),
            deleted_at: utc_opt(m.deleted_at),
        }
    }
}

/// A touchpoint with a contact: a meeting, call, email, ...
#[derive(Clone, Debug, SimpleObject)]
#[graphql(complex)]
pub struct ContactInteraction {
    #[graphql(skip)]
    pub organization_id: Uuid,
    #[graphql(skip)]
    pub contact_id: Uuid,
    #[graphql(skip)]
    pub user_id: Uuid,
    pub id: ID,
    pub interaction_type: InteractionType,
    pub subject: Option<String>,
    pub description: Option<String>,
    pub outcome: Option<String>,
    pub interaction_date: DateTime<Utc>,
    pub status: InteractionStatus,
    pub metadata: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<contact_interactions::Model> for ContactInteraction {
    fn from(m: contact_interactions::Model) -> Self {
        Self {
            organization_id: m.organization_id,
            contact_id: m.contact_id,
            user_id: m.user_id,
            id: m.id.into(),
            interaction_type: DbEnum::from_db(&m.interaction_type),
            subject: m.subject,
            description: m.description,
            outcome: m.outcome,
            interaction_date: utc(m.interaction_date),
            status: DbEnum::from_db(&m.status),
            metadata: Json(m.metadata),
            created_at: utc(m.created_at),
            updated_at: utc(m.updated_at),
            deleted_at: utc_opt(m.deleted_at),
        }
    }
}

#[ComplexObject]
impl Contact {
    /// The member who added the contact.
    async fn created_by(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        let loaders = ctx.data::<Loaders>()?;
        related(
            &loaders.users,
            self.organization_id,
            self.created_by_id,
            "user",
        )
        .await
    }

    /// The member who last changed the contact.
    async fn updated_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        let loaders = ctx.data::<Loaders>()?;
        related_opt(&loaders.users, self.organization_id, self.updated_by_id).await
    }

    /// Live interactions, newest first. The first page of many contacts loads in one statement.
    async fn interactions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Connection<ContactInteraction>> {
        let loaders = ctx.data::<Loaders>()?.clone();
        let contact: Uuid = self.id.parse().map_err(|_| dangling("contact"))?;
        let key = (self.organization_id, contact);
        let counts = loaders.interaction_counts.clone();
        let count: CountFn = Arc::new(move || {
            let counts = counts.clone();
            Box::pin(async move {
                counts
                    .load_one(key)
                    .await
                    .map(|n| n.unwrap_or(0) as u64)
                    .map_err(|e| AppError::Internal(e.message))
            })
        });
        let batched = after.is_none() && last.is_none() && before.is_none();
        match first {
            Some(n) if batched && (0..=crate::db::pagination::MAX_PAGE as i32).contains(&n) => {}
            None if batched => {}
            _ => {
                // Paging inside one contact: an ordinary keyset page for this contact alone.
                let actor = ctx.actor()?;
                let filter = svc::InteractionFilter {
                    contact_id: Some(contact),
                    ..Default::default()
                };
                let args = PageArgs {
                    first,
                    after,
                    last,
                    before,
                };
                let mut conn = Connection::from_page(
                    svc::list_interactions(ctx.db(), actor, &filter, &args).await?,
                );
                conn.set_count(count);
                return Ok(conn);
            }
        }
        let limit = first.unwrap_or(crate::db::pagination::DEFAULT_PAGE as i32) as u16;
        let (rows, more) = loaders
            .interaction_pages
            .load_one((self.organization_id, contact, limit, Vec::<String>::new()))
            .await?
            .unwrap_or_default();
        let keyset = svc::interaction_keyset();
        let edges = rows
            .into_iter()
            .map(|m| {
                let cursor = encode_cursor(keyset.name, (keyset.value)(&m), m.id);
                (cursor, ContactInteraction::from(m))
            })
            .collect();
        Ok(Connection::from_parts(edges, more, count))
    }

    /// Live interactions with this contact (batched across a page of contacts).
    async fn interaction_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        let loaders = ctx.data::<Loaders>()?;
        let contact: Uuid = self.id.parse().map_err(|_| dangling("contact"))?;
        let n = loaders
            .interaction_counts
            .load_one((self.organization_id, contact))
            .await?;
        Ok(n.unwrap_or(0) as i32)
    }
}

#[ComplexObject]
impl ContactInteraction {
    async fn contact(&self, ctx: &Context<'_>) -> async_graphql::Result<Contact> {
        let loaders = ctx.data::<Loaders>()?;
        related(
            &loaders.contacts,
            self.organization_id,
            self.contact_id,
            "contact",
        )
        .await
    }

    /// The member who had the interaction.
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        let loaders = ctx.data::<Loaders>()?;
        related(&loaders.users, self.organization_id, self.user_id, "user").await
    }
}
