//! Accounts and members: sign-up, sign-in, sessions, the organization, the member directory,
//! member management, the audit log.

use async_graphql::{Context, ID, InputObject, Json, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::db::pagination::PageArgs;
use crate::domain::enums::AuditAction;
use crate::error::AppError;
use crate::graphql::connection::Connection;
use crate::graphql::context::{ContextExt, change, non_null, parse_id};
use crate::graphql::types::{AuditLog, Organization, User};
use crate::services::{accounts, organizations, users};

type Res<T> = async_graphql::Result<T>;

#[derive(SimpleObject)]
pub struct AuthPayload {
    /// JWT for `Authorization: Bearer`; valid `expiresIn` seconds.
    access_token: String,
    /// Opaque; exchange it with `refreshToken` before it expires (30 days). Single use.
    refresh_token: String,
    expires_in: i32,
    user: User,
}

impl From<accounts::Session> for AuthPayload {
    fn from(s: accounts::Session) -> Self {
        Self {
            access_token: s.access_token,
            refresh_token: s.refresh_token,
            expires_in: s.expires_in as i32,
            user: s.user.into(),
        }
    }
}

#[derive(InputObject)]
pub struct RegisterInput {
    organization_name: String,
    organization_domain: Option<String>,
    email: String,
    /// 8 to 128 characters.
    password: String,
    first_name: String,
    last_name: String,
}

#[derive(InputObject)]
pub struct LoginInput {
    email: String,
    password: String,
    /// Needed only when the email and password open accounts in several organizations.
    organization_domain: Option<String>,
}

#[derive(InputObject)]
pub struct CreateUserInput {
    email: String,
    /// The first password, 8 to 128 characters; the member changes it with `changePassword`.
    password: String,
    first_name: String,
    last_name: String,
    is_admin: Option<bool>,
    phone: Option<String>,
    bio: Option<String>,
    avatar_url: Option<String>,
    job_title: Option<String>,
    company: Option<String>,
    linkedin_url: Option<String>,
}

/// Omitted fields stay as they are; `null` clears an optional field.
#[derive(InputObject, Default)]
pub struct UpdateMeInput {
    first_name: MaybeUndefined<String>,
    last_name: MaybeUndefined<String>,
    phone: MaybeUndefined<String>,
    bio: MaybeUndefined<String>,
    avatar_url: MaybeUndefined<String>,
    job_title: MaybeUndefined<String>,
    company: MaybeUndefined<String>,
    linkedin_url: MaybeUndefined<String>,
}

/// Omitted fields stay as they are; `null` clears an optional field.
#[derive(InputObject)]
pub struct UpdateUserInput {
    email: MaybeUndefined<String>,
    first_name: MaybeUndefined<String>,
    last_name: MaybeUndefined<String>,
    phone: MaybeUndefined<String>,
    bio: MaybeUndefined<String>,
    avatar_url: MaybeUndefined<String>,
    job_title: MaybeUndefined<String>,
    company: MaybeUndefined<String>,
    linkedin_url: MaybeUndefined<String>,
    /// A deactivated member cannot sign in; their sessions end.
    is_active: MaybeUndefined<bool>,
    is_admin: MaybeUndefined<bool>,
}

#[derive(InputObject)]
pub struct UpdateOrganizationInput {
    name: MaybeUndefined<String>,
    /// `null` removes the domain.
    domain: MaybeUndefined<String>,
    /// A JSON object; replaces the settings.
    settings: Option<Json<serde_json::Value>>,
}

#[derive(InputObject, Default)]
pub struct UserFilter {
    /// Case-insensitive match on first name, last name or email.
    search: Option<String>,
    is_active: Option<bool>,
    is_admin: Option<bool>,
    /// `true` lists deleted members (the trash; admins only).
    deleted: Option<bool>,
}

#[derive(InputObject, Default)]
pub struct AuditLogFilter {
    table_name: Option<String>,
    record_id: Option<ID>,
    action: Option<AuditAction>,
    user_id: Option<ID>,
    created_after: Option<DateTime<Utc>>,
    created_before: Option<DateTime<Utc>>,
}

impl TryFrom<UpdateMeInput> for users::ProfilePatch {
    type Error = AppError;
    fn try_from(i: UpdateMeInput) -> Result<Self, AppError> {
        Ok(Self {
            first_name: non_null(i.first_name, "firstName")?,
            last_name: non_null(i.last_name, "lastName")?,
            phone: change(i.phone),
            bio: change(i.bio),
            avatar_url: change(i.avatar_url),
            job_title: change(i.job_title),
            company: change(i.company),
            linkedin_url: change(i.linkedin_url),
        })
    }
}

pub fn page_args(
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> PageArgs {
    PageArgs {
        first,
        after,
        last,
        before,
    }
}

#[derive(Default)]
pub struct AccountQuery;

#[Object]
impl AccountQuery {
    /// The signed-in member.
    async fn me(&self, ctx: &Context<'_>) -> Res<User> {
        let actor = ctx.actor()?;
        let user = users::get(ctx.db(), actor, actor.user_id)
            .await?
            .ok_or_else(|| AppError::Unauthenticated("the account no longer exists".into()))?;
        Ok(user.into())
    }

    /// The signed-in member's organization.
    async fn organization(&self, ctx: &Context<'_>) -> Res<Organization> {
        Ok(organizations::get(ctx.db(), ctx.actor()?).await?.into())
    }

    /// Members of the organization, oldest first.
    async fn users(
        &self,
        ctx: &Context<'_>,
        filter: Option<UserFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Res<Connection<User>> {
        let f = filter.unwrap_or_default();
        let filter = users::UserFilter {
            search: f.search,
            is_active: f.is_active,
            is_admin: f.is_admin,
            deleted: f.deleted,
        };
        let page = users::list(
            ctx.db(),
            ctx.actor()?,
            &filter,
            &page_args(first, after, last, before),
        )
        .await?;
        Ok(Connection::from_page(page))
    }

    /// One live member; `null` when missing, deleted or in another organization.
    async fn user(&self, ctx: &Context<'_>, id: ID) -> Res<Option<User>> {
        let id = parse_id(&id, "id")?;
        Ok(users::get(ctx.db(), ctx.actor()?, id)
            .await?
            .map(Into::into))
    }

    /// Every change made in the organization, newest first (admins only).
    async fn audit_logs(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditLogFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Res<Connection<AuditLog>> {
        let actor = ctx.admin()?;
        let f = filter.unwrap_or_default();
        let filter = organizations::AuditFilter {
            table_name: f.table_name,
            record_id: f
                .record_id
                .as_ref()
                .map(|id| parse_id(id, "recordId"))
                .transpose()?,
            action: f.action,
            user_id: f
                .user_id
                .as_ref()
                .map(|id| parse_id(id, "userId"))
                .transpose()?,
            created_after: f.created_after,
            created_before: f.created_before,
        };
        let page = organizations::audit_logs(
            ctx.db(),
            actor,
            &filter,
            &page_args(first, after, last, before),
        )
        .await?;
        Ok(Connection::from_page(page))
    }
}

#[derive(Default)]
pub struct AccountMutation;

#[Object]
impl AccountMutation {
    /// Creates an organization and its first member, an admin, and signs them in.
    async fn register(&self, ctx: &Context<'_>, input: RegisterInput) -> Res<AuthPayload> {
        let session = accounts::register(
            ctx.db(),
            ctx.auth_service(),
            accounts::RegisterInput {
                organization_name: input.organization_name,
                organization_domain: input.organization_domain,
                email: input.email,
                password: input.password,
                first_name: input.first_name,
                last_name: input.last_name,
            },
            &ctx.meta(),
        )
        .await?;
        Ok(session.into())
    }

    /// Signs in. Wrong email and wrong password get the same answer.
    async fn login(&self, ctx: &Context<'_>, input: LoginInput) -> Res<AuthPayload> {
        let session = accounts::login(
            ctx.db(),
            ctx.auth_service(),
            &input.email,
            input.password,
            input.organization_domain.as_deref(),
            &ctx.meta(),
        )
        .await?;
        Ok(session.into())
    }

    /// Exchanges a refresh token for a new pair. Each refresh token works once; presenting a
    /// used one again ends the whole session.
    async fn refresh_token(&self, ctx: &Context<'_>, refresh_token: String) -> Res<AuthPayload> {
        let session = accounts::refresh(
            ctx.db(),
            ctx.broker(),
            ctx.auth_service(),
            &refresh_token,
            &ctx.meta(),
        )
        .await?;
        Ok(session.into())
    }

    /// Ends the session the refresh token belongs to.
    async fn logout(&self, ctx: &Context<'_>, refresh_token: String) -> Res<bool> {
        Ok(accounts::logout(ctx.db(), ctx.broker(), &refresh_token, &ctx.meta()).await?)
    }

    /// Changes the signed-in member's password and ends their other sessions.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        current_password: String,
        new_password: String,
    ) -> Res<bool> {
        let actor = ctx.actor()?;
        Ok(accounts::change_password(
            ctx.db(),
            ctx.broker(),
            ctx.auth_service(),
            actor,
            current_password,
            new_password,
        )
        .await?)
    }

    /// Updates the signed-in member's own profile.
    async fn update_me(&self, ctx: &Context<'_>, input: UpdateMeInput) -> Res<User> {
        Ok(users::update_me(ctx.db(), ctx.actor()?, input.try_into()?)
            .await?
            .into())
    }

    async fn update_organization(
        &self,
        ctx: &Context<'_>,
        input: UpdateOrganizationInput,
    ) -> Res<Organization> {
        let actor = ctx.admin()?;
        let patch = organizations::OrganizationPatch {
            name: non_null(input.name, "name")?,
            domain: change(input.domain),
            settings: input.settings.map(|j| j.0),
        };
        Ok(organizations::update(ctx.db(), actor, patch).await?.into())
    }

    /// Adds a member (admins only).
    async fn create_user(&self, ctx: &Context<'_>, input: CreateUserInput) -> Res<User> {
        let actor = ctx.admin()?;
        let new = users::NewUser {
            email: input.email,
            password: input.password,
            first_name: input.first_name,
            last_name: input.last_name,
            is_admin: input.is_admin.unwrap_or(false),
            phone: input.phone,
            bio: input.bio,
            avatar_url: input.avatar_url,
            job_title: input.job_title,
            company: input.company,
            linkedin_url: input.linkedin_url,
        };
        Ok(users::create(ctx.db(), ctx.auth_service(), actor, new)
            .await?
            .into())
    }

    /// Changes a member (admins only). The last active admin cannot lose the right.
    async fn update_user(&self, ctx: &Context<'_>, id: ID, input: UpdateUserInput) -> Res<User> {
        let actor = ctx.admin()?;
        let id = parse_id(&id, "id")?;
        let patch = users::UserPatch {
            profile: users::ProfilePatch {
                first_name: non_null(input.first_name, "firstName")?,
                last_name: non_null(input.last_name, "lastName")?,
                phone: change(input.phone),
                bio: change(input.bio),
                avatar_url: change(input.avatar_url),
                job_title: change(input.job_title),
                company: change(input.company),
                linkedin_url: change(input.linkedin_url),
            },
            email: non_null(input.email, "email")?,
            is_active: non_null(input.is_active, "isActive")?,
            is_admin: non_null(input.is_admin, "isAdmin")?,
        };
        Ok(users::update(ctx.db(), ctx.broker(), actor, id, patch)
            .await?
            .into())
    }

    /// Soft-deletes a member: they can no longer sign in (admins only).
    async fn delete_user(&self, ctx: &Context<'_>, id: ID) -> Res<User> {
        let actor = ctx.admin()?;
        Ok(
            users::delete(ctx.db(), ctx.broker(), actor, parse_id(&id, "id")?)
                .await?
                .into(),
        )
    }

    /// Brings a deleted member back (admins only).
    async fn restore_user(&self, ctx: &Context<'_>, id: ID) -> Res<User> {
        let actor = ctx.admin()?;
        Ok(users::restore(ctx.db(), actor, parse_id(&id, "id")?)
            .await?
            .into())
    }
}
