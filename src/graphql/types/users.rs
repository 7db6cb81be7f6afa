//! `User`: a member of an organization.

use async_graphql::{ComplexObject, Context, ID, SimpleObject};
use chrono::{DateTime, Utc};

use super::{Contact, EventAttendee, Notification, Organization};
use crate::db::pagination::PageArgs;
use crate::db::scoped::Scoped;
use crate::entities::users;
use crate::graphql::connection::{Connection, children};
use crate::graphql::context::ContextExt;
use crate::graphql::scalars::{utc, utc_opt};

/// A member of an organization. The password hash is never exposed.
#[derive(Clone, Debug, SimpleObject)]
#[graphql(complex)]
pub struct User {
    #[graphql(skip)]
    pub scope: Scoped,
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
            scope: super::row_scope(m.organization_id),
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
        let rel = &crate::services::registrations::OF_USER;
        children(ctx, rel, self.scope, self.uuid, Vec::new(), args).await
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
        let rel = &crate::services::contacts::BY_CREATOR;
        children(ctx, rel, self.scope, self.uuid, Vec::new(), args).await
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
        let loaders = ctx.data::<crate::graphql::loaders::Loaders>()?.get();
        let key = (self.scope, self.scope.organization_id());
        loaders
            .organizations
            .load_one(key)
            .await?
            .map(Organization::from)
            .ok_or_else(|| crate::error::AppError::NotFound("organization not found".into()).into())
    }
}
