use async_graphql::{ComplexObject, Context, ID, Json, SimpleObject};
use chrono::{DateTime, Utc};

use crate::entities::{organizations, users};
use crate::graphql::scalars::{utc, utc_opt};

/// A tenant: every other record belongs to exactly one organization.
#[derive(Clone, Debug, SimpleObject)]
pub struct Organization {
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
    ) -> async_graphql::Result<
        crate::graphql::connection::Connection<crate::graphql::types::EventAttendee>,
    > {
        use crate::graphql::context::ContextExt;
        let actor = ctx.actor()?;
        let user = self
            .id
            .parse()
            .map_err(|_| crate::error::AppError::Internal("bad user id".into()))?;
        let args = crate::db::pagination::PageArgs {
            first,
            after,
            last,
            before,
        };
        let page = crate::services::events::registrations_of(ctx.db(), actor, user, &args).await?;
        Ok(crate::graphql::connection::Connection::from_page(page))
    }

    /// Live contacts this member added, newest first.
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> async_graphql::Result<crate::graphql::connection::Connection<crate::graphql::types::Contact>>
    {
        use crate::graphql::context::ContextExt;
        use crate::services::contacts as svc;
        let actor = ctx.actor()?;
        let filter = svc::ContactFilter {
            created_by: Some(
                self.id
                    .parse()
                    .map_err(|_| crate::error::AppError::Internal("bad user id".into()))?,
            ),
            ..Default::default()
        };
        let args = crate::db::pagination::PageArgs {
            first,
            after,
            last,
            before,
        };
        let page = svc::list(
            ctx.db(),
            actor,
            &filter,
            (svc::ContactSort::CreatedAt, sea_orm::Order::Desc),
            &args,
        )
        .await?;
        Ok(crate::graphql::connection::Connection::from_page(page))
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
