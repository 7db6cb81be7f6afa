//! `Organization`: a tenant; every other record belongs to exactly one.

use async_graphql::{ComplexObject, Context, ID, Json, SimpleObject};
use chrono::{DateTime, Utc};

use super::{Contact, Event, User};
use crate::db::pagination::PageArgs;
use crate::db::scoped::Scoped;
use crate::entities::organizations;
use crate::graphql::connection::{Connection, children};
use crate::graphql::scalars::{utc, utc_opt};

/// A tenant: every other record belongs to exactly one organization.
#[derive(Clone, Debug, SimpleObject)]
#[graphql(complex)]
pub struct Organization {
    #[graphql(skip)]
    pub scope: Scoped,
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
            scope: super::row_scope(m.id),
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

#[ComplexObject]
impl Organization {
    /// Every member must sign in with a second factor (`updateOrganization(input: {
    /// requireTwoFactor })`; `settings.requireTwoFactor`).
    async fn require_two_factor(&self) -> bool {
        self.settings.0.get("requireTwoFactor") == Some(&serde_json::Value::Bool(true))
    }

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
        let rel = &crate::services::users::OF_ORGANIZATION;
        children(ctx, rel, self.scope, self.uuid, Vec::new(), args).await
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
        let rel = &crate::services::contacts::OF_ORGANIZATION;
        children(ctx, rel, self.scope, self.uuid, Vec::new(), args).await
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
        children(ctx, rel, self.scope, self.uuid, Vec::new(), args).await
    }
}
