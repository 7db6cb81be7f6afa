//! `User`: a member of an organization.

use std::sync::Arc;

use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};

use super::{Contact, EventAttendee, Notification, Organization};
use crate::db::pagination::PageArgs;
use crate::db::scoped::Scoped;
use crate::entities::users;
use crate::graphql::connection::{Connection, children};
use crate::graphql::context::ContextExt;
use crate::graphql::scalars::{utc, utc_opt};

/// A member of an organization: the row as loaded, shared with the request's loader (a page
/// that names the same creator a hundred times holds one row), each field read when asked.
#[derive(Clone, Debug)]
pub struct User {
    pub scope: Scoped,
    pub uuid: uuid::Uuid,
    row: Arc<users::Model>,
    /// Returned to a session that may only set up two-factor sign-in (`login`'s payload):
    /// its own fields only, no relation.
    setup_only: bool,
}

impl User {
    /// The member as returned to a session that may only set up two-factor sign-in.
    pub fn setup_only(mut self, yes: bool) -> Self {
        self.setup_only = yes;
        self
    }

    fn relations_allowed(&self, ctx: &Context<'_>) -> Result<(), crate::error::AppError> {
        if self.setup_only {
            return Err(crate::graphql::context::setup_required());
        }
        crate::graphql::context::setup_only_refused(ctx)
    }
}

impl From<users::Model> for User {
    fn from(m: users::Model) -> Self {
        Self::from(Arc::new(m))
    }
}

impl From<Arc<users::Model>> for User {
    fn from(row: Arc<users::Model>) -> Self {
        Self {
            scope: super::row_scope(row.organization_id),
            uuid: row.id,
            row,
            setup_only: false,
        }
    }
}

/// The columns of `User`, as its resolvers below answer them (checked against them by
/// `graphql::fast`'s tests).
impl crate::graphql::fast::FastObject for User {
    fn column(&self, name: &str) -> Option<async_graphql::Value> {
        use crate::graphql::fast::ColumnValue as _;
        use async_graphql::Value;
        let text = |v: &str| Some(Value::String(v.to_owned()));
        let opt_text = |v: &Option<String>| v.as_deref().map_or(Some(Value::Null), text);
        let r = &*self.row;
        match name {
            "id" => ID::from(self.uuid).column_value(),
            "firstName" => text(&r.first_name),
            "lastName" => text(&r.last_name),
            "email" => text(&r.email),
            "phone" => opt_text(&r.phone),
            "bio" => opt_text(&r.bio),
            "avatarUrl" => opt_text(&r.avatar_url),
            "jobTitle" => opt_text(&r.job_title),
            "company" => opt_text(&r.company),
            "linkedinUrl" => opt_text(&r.linkedin_url),
            "isActive" => Some(Value::Boolean(r.is_active)),
            "isVerified" => Some(Value::Boolean(r.is_verified)),
            "isAdmin" => Some(Value::Boolean(r.is_admin)),
            "invitationPending" => {
                Some(Value::Boolean(crate::services::account_mail::is_invited(r)))
            }
            "verifiedAt" => utc_opt(r.verified_at).column_value(),
            "lastLogin" => utc_opt(r.last_login).column_value(),
            "createdAt" => utc(r.created_at).column_value(),
            "updatedAt" => utc(r.updated_at).column_value(),
            "deletedAt" => utc_opt(r.deleted_at).column_value(),
            _ => None,
        }
    }

    fn column_names() -> &'static [&'static str] {
        &[
            "id",
            "first_name",
            "last_name",
            "email",
            "phone",
            "bio",
            "avatar_url",
            "job_title",
            "company",
            "linkedin_url",
            "is_active",
            "is_verified",
            "is_admin",
            "invitation_pending",
            "verified_at",
            "last_login",
            "created_at",
            "updated_at",
            "deleted_at",
        ]
    }
}

/// A member of an organization. The password hash is never exposed.
#[Object]
impl User {
    async fn id(&self) -> ID {
        self.uuid.into()
    }

    async fn email(&self) -> &str {
        &self.row.email
    }

    async fn first_name(&self) -> &str {
        &self.row.first_name
    }

    async fn last_name(&self) -> &str {
        &self.row.last_name
    }

    async fn phone(&self) -> Option<&str> {
        self.row.phone.as_deref()
    }

    async fn bio(&self) -> Option<&str> {
        self.row.bio.as_deref()
    }

    async fn avatar_url(&self) -> Option<&str> {
        self.row.avatar_url.as_deref()
    }

    async fn job_title(&self) -> Option<&str> {
        self.row.job_title.as_deref()
    }

    async fn company(&self) -> Option<&str> {
        self.row.company.as_deref()
    }

    async fn linkedin_url(&self) -> Option<&str> {
        self.row.linkedin_url.as_deref()
    }

    async fn is_active(&self) -> bool {
        self.row.is_active
    }

    async fn is_verified(&self) -> bool {
        self.row.is_verified
    }

    async fn is_admin(&self) -> bool {
        self.row.is_admin
    }

    /// Invited and not yet signed in: no password chosen (`resendInvitation`,
    /// `revokeInvitation`).
    async fn invitation_pending(&self) -> bool {
        crate::services::account_mail::is_invited(&self.row)
    }

    /// Whether the member signs in with a second factor: for admins and the member
    /// themselves; `null` for anyone else.
    async fn two_factor_enabled(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<bool>> {
        let Ok(actor) = ctx.actor_for_setup() else {
            return Ok(None);
        };
        if !actor.is_admin && actor.user_id != self.uuid {
            return Ok(None);
        }
        let loaders = ctx.data::<crate::graphql::loaders::Loaders>()?.get();
        let on = loaders.two_factor.load_one((self.scope, self.uuid)).await?;
        Ok(Some(on.unwrap_or(false)))
    }

    async fn verified_at(&self) -> Option<DateTime<Utc>> {
        utc_opt(self.row.verified_at)
    }

    async fn last_login(&self) -> Option<DateTime<Utc>> {
        utc_opt(self.row.last_login)
    }

    async fn created_at(&self) -> DateTime<Utc> {
        utc(self.row.created_at)
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        utc(self.row.updated_at)
    }

    async fn deleted_at(&self) -> Option<DateTime<Utc>> {
        utc_opt(self.row.deleted_at)
    }

    /// This member's event registrations, first registered first.
    async fn registrations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<Connection<EventAttendee>> {
        self.relations_allowed(ctx)?;
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
        self.relations_allowed(ctx)?;
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
        self.relations_allowed(ctx)?;
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
