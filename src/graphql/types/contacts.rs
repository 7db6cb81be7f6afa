//! `Contact`: a person in the organization's network.

use crate::graphql::fast::Fast;
use async_graphql::{ComplexObject, Context, ID, Json, SimpleObject};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{ContactInteraction, User, dangling, related, related_opt};
use crate::db::pagination::PageArgs;
use crate::db::scoped::Scoped;
use crate::domain::enums::{ContactPriority, ContactStatus, ContactType, Stored};
use crate::entities::contacts;
use crate::graphql::connection::{Connection, children};
use crate::graphql::loaders::{CountKey, Loaders};
use crate::graphql::scalars::{utc, utc_opt};
use crate::services::interactions;

/// A person in the organization's network: a target, a contact or a plug.
#[derive(Clone, Debug, SimpleObject)]
#[graphql(complex)]
pub struct Contact {
    #[graphql(skip)]
    pub scope: Scoped,
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
    pub contact_type: Stored<ContactType>,
    pub status: Stored<ContactStatus>,
    pub priority: Stored<ContactPriority>,
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

crate::graphql::fast::columns!(Contact {
    id,
    first_name,
    last_name,
    company,
    lead_score,
    email,
    phone,
    job_title,
    linkedin_url,
    bio,
    avatar_url,
    contact_type,
    status,
    priority,
    business_type,
    network_type,
    industry,
    notes,
    metadata,
    last_interaction,
    created_at,
    updated_at,
    deleted_at,
});

impl From<contacts::Model> for Contact {
    fn from(m: contacts::Model) -> Self {
        Self {
            scope: super::row_scope(m.organization_id),
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
            contact_type: Stored::from_db(&m.contact_type),
            status: Stored::from_db(&m.status),
            priority: Stored::from_db(&m.priority),
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

#[ComplexObject]
impl Contact {
    /// The member who added the contact.
    async fn created_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Fast<User>> {
        let loaders = ctx.data::<Loaders>()?.get();
        related(&loaders.users, self.scope, self.created_by_id, "user").await
    }

    /// The member who last changed the contact.
    async fn updated_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Fast<User>>> {
        let loaders = ctx.data::<Loaders>()?.get();
        related_opt(&loaders.users, self.scope, self.updated_by_id).await
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
        let contact: Uuid = self.id.parse().map_err(|_| dangling("contact"))?;
        let args = PageArgs {
            first,
            after,
            last,
            before,
        };
        let rel = &interactions::OF_CONTACT;
        children(ctx, rel, self.scope, contact, Vec::new(), args).await
    }

    /// Media about this contact, newest first (batched across a page of contacts). Members
    /// see PUBLIC and ORGANIZATION items here, admins every item.
    async fn media(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Connection<super::Media>> {
        use crate::graphql::context::ContextExt;
        let contact: Uuid = self.id.parse().map_err(|_| dangling("contact"))?;
        let levels = crate::services::media::related_levels(ctx.actor()?);
        let args = PageArgs::new(first, after, last, before);
        let rel = &crate::services::media::OF_CONTACT;
        children(ctx, rel, self.scope, contact, levels, args).await
    }

    /// Live interactions with this contact (batched across a page of contacts).
    async fn interaction_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        let loaders = ctx.data::<Loaders>()?.get();
        let contact: Uuid = self.id.parse().map_err(|_| dangling("contact"))?;
        let key = CountKey {
            rel: &interactions::OF_CONTACT,
            scope: self.scope,
            parent: contact,
            statuses: Vec::new(),
        };
        let n = loaders.children.load_one(key).await?;
        Ok(i32::try_from(n.unwrap_or(0)).unwrap_or(i32::MAX))
    }
}
