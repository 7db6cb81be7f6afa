use async_graphql::{ComplexObject, Context, ID, Json, SimpleObject};
use chrono::{DateTime, Utc};

use crate::db::pagination::PageArgs;
use crate::entities::{organizations, users};
use crate::graphql::connection::{Connection, children};
use crate::graphql::context::ContextExt;
use crate::graphql::scalars::{utc, utc_opt};
use crate::graphql::types::{Contact, Event, EventAttendee, Notification};

/// A tenant: every other record belongs to exactly one organization.
#[derive(Clone, Debug, SimpleObject)]
#[graphql(complex)]
pub struct Organization {
    #[graphql(skip)]
    pub uuid: uuid::Uuid,
    pub id: ID,
    pub name: String,
    pub domain: Option<String>,
    pub subscription_plan: String,
    pub settings: Json<serde_json::Value>,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<organizations::Model> for Organization {
    fn from(m: organizations::Model) -> Self {
        Self {
            uuid: m.id,
            id: m.id.into(),
            name: m.name,
            domain: m.domain,
            subscription_plan: m.subscription_plan,
            settings: Json(m.settings),
            is_active: m.is_active,
            created_at: utc(m.created_at),
            updated_at: utc(m.updated_at),
            deleted_at: utc_opt(m.deleted_at),
        }
    }
}

/// A member of an organization. The password hash is never exposed.
#[derive(Clone, Debug, SimpleObject)]
#[graphql(complex)]
pub struct User {
    #[graphql(skip)]
    pub organization_id: uuid::Uuid,
    #[graphql(skip)]
    pub uuid: uuid::Uuid,
    pub id: ID,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<String>,
    pub bio: Option<String>,
    pub avatar_url: Option<String>,
    pub job_title: Option<String>,
    pub company: Option<String>,
    pub linkedin_url: Option<String>,
    pub is_active: bool,
    pub is_verified: bool,
    pub is_admin: bool,
    pub verified_at: Option<DateTime<Utc>>,
    pub last_login: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<users::Model> for User {
    fn from(m: users::Model) -> Self {
        Self {
            organization_id: m.organization_id,
            uuid: m.id,
            id: m.id.into(),
            email: m.email,
            first_name: m.first_name,
            last_name: m.last_name,
            phone: m.phone,
            bio: m.bio,
            avatar_url: m.avatar_url,
            job_title: m.job_title,
            company: m.company,
            linkedin_url: m.linkedin_url,
            is_active: m.is_active,
            is_verified: m.is_verified,
            is_admin: m.is_admin,
            verified_at: utc_opt(m.verified_at),
            last_login: utc_opt(m.last_login),
            created_at: utc(m.created_at),
            updated_at: utc(m.updated_at),
            deleted_at: utc_opt(m.deleted_at),
        }
    }
}

#[ComplexObject]
impl Organization {
    /// Live members, oldest first (filters and search: the `users` query).
    async fn users(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Connection<User>> {
        let args = PageArgs::new(first, after, last, before);
        let rel = &crate::services::users::USERS_OF_ORGANIZATION;
        children(ctx, rel, self.uuid, self.uuid, Vec::new(), args).await
    }

    /// Live contacts, newest first (filters and orderings: the `contacts` query).
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Connection<Contact>> {
        let args = PageArgs::new(first, after, last, before);
        let rel = &crate::services::contacts::CONTACTS_OF_ORGANIZATION;
        children(ctx, rel, self.uuid, self.uuid, Vec::new(), args).await
    }

    /// Live events, soonest first (filters and orderings: the `events` query).
    async fn events(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Connection<Event>> {
        let args = PageArgs::new(first, after, last, before);
        let rel = &crate::services::events::EVENTS_OF_ORGANIZATION;
        children(ctx, rel, self.uuid, self.uuid, Vec::new(), args).await
    }
}

#[ComplexObject]
impl User {
    /// This member's event registrations, first registered first.
    async fn registrations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Connection<EventAttendee>> {
        let args = PageArgs::new(first, after, last, before);
        let rel = &crate::services::events::REGISTRATIONS_OF_USER;
        children(ctx, rel, self.organization_id, self.uuid, Vec::new(), args).await
    }

    /// Live contacts this member added, newest first.
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Connection<Contact>> {
        let args = PageArgs::new(first, after, last, before);
        let rel = &crate::services::contacts::CONTACTS_BY_CREATOR;
        children(ctx, rel, self.organization_id, self.uuid, Vec::new(), args).await
    }

    /// The member's own notifications, newest first (as the `notifications` query).
    /// Nobody reads another member's: for anyone but the caller this is `null` with FORBIDDEN.
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        filter: Option<crate::graphql::notifications::NotificationFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Option<Connection<Notification>>> {
        let actor = ctx.actor()?;
        if actor.user_id != self.uuid {
            return Err(crate::error::AppError::Forbidden(
                "notifications are readable by their recipient only".into(),
            )
            .into());
        }
        let args = PageArgs::new(first, after, last, before);
        crate::graphql::notifications::own_notifications(ctx, filter, args)
            .await
            .map(Some)
    }

    async fn organization(&self, ctx: &Context<'_>) -> async_graphql::Result<Organization> {
        let loaders = ctx.data::<crate::graphql::loaders::Loaders>()?;
        let key = (self.organization_id, self.organization_id);
        loaders
            .organizations
            .load_one(key)
            .await?
            .map(Organization::from)
            .ok_or_else(|| crate::error::AppError::NotFound("organization not found".into()).into())
    }
}
