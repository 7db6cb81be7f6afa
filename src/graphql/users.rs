//! Members: the directory every member reads, and its management (admins only).

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object};

use crate::entities;
use crate::graphql::args::{change, non_null, page, parse_id};
use crate::graphql::connection::Connection;
use crate::graphql::context::ContextExt;
use crate::graphql::types::User;
use crate::services::{self, users};

type Res<T> = async_graphql::Result<T>;

#[derive(InputObject, Default)]
pub struct UserFilter {
    /// Case-insensitive match on first name, last name or email.
    search: Option<String>,
    is_active: Option<bool>,
    is_admin: Option<bool>,
    /// `true` lists deleted members (the trash; admins only).
    deleted: Option<bool>,
}

#[derive(InputObject)]
pub struct CreateUserInput {
    /// The first password, 8 to 128 characters; the member changes it with `changePassword`.
    password: String,
    #[graphql(flatten)]
    member: InviteUserInput,
}

/// A member who chooses their own password: `inviteUser` mails them a one-time link (7 days).
#[derive(InputObject)]
pub struct InviteUserInput {
    email: String,
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

impl InviteUserInput {
    fn member(self, password: Option<String>) -> users::NewUser {
        users::NewUser {
            email: self.email,
            password,
            first_name: self.first_name,
            last_name: self.last_name,
            is_admin: self.is_admin.unwrap_or(false),
            phone: self.phone,
            bio: self.bio,
            avatar_url: self.avatar_url,
            job_title: self.job_title,
            company: self.company,
            linkedin_url: self.linkedin_url,
        }
    }
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

#[derive(Default)]
pub struct UsersQuery;

#[Object]
impl UsersQuery {
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
            &page(first, after, last, before),
        )
        .await?;
        Ok(Connection::from_page(page))
    }

    /// One live member; `null` when missing, deleted or in another organization.
    async fn user(&self, ctx: &Context<'_>, id: ID) -> Res<Option<User>> {
        let id = parse_id(&id, "id")?;
        Ok(
            services::live::<entities::users::Entity>(ctx.db(), ctx.actor()?, id)
                .await?
                .map(Into::into),
        )
    }
}

async fn add_member(ctx: &Context<'_>, new: users::NewUser) -> Res<User> {
    let actor = ctx.admin()?;
    let auth = ctx.auth_service();
    Ok(users::create(ctx.store(), auth, ctx.composer(), actor, new)
        .await?
        .into())
}

#[derive(Default)]
pub struct UsersMutation;

#[Object]
impl UsersMutation {
    /// Adds a member (admins only).
    async fn create_user(&self, ctx: &Context<'_>, input: CreateUserInput) -> Res<User> {
        let new = input.member.member(Some(input.password));
        add_member(ctx, new).await
    }

    /// Adds a member without a password and mails them a one-time link to choose one and sign
    /// in (`acceptInvitation`; 7 days). Admins only.
    async fn invite_user(&self, ctx: &Context<'_>, input: InviteUserInput) -> Res<User> {
        add_member(ctx, input.member(None)).await
    }

    /// Mails an invited member a new link; the earlier one stops working. Admins only.
    async fn resend_invitation(&self, ctx: &Context<'_>, user_id: ID) -> Res<User> {
        let actor = ctx.admin()?;
        let id = parse_id(&user_id, "userId")?;
        Ok(
            services::account_mail::resend_invitation(ctx.store(), ctx.composer(), actor, id)
                .await?
                .into(),
        )
    }

    /// Withdraws an invitation not yet accepted: the link stops working and the invited
    /// member is deleted. Admins only.
    async fn revoke_invitation(&self, ctx: &Context<'_>, user_id: ID) -> Res<User> {
        let actor = ctx.admin()?;
        let id = parse_id(&user_id, "userId")?;
        Ok(
            services::account_mail::revoke_invitation(ctx.store(), actor, id)
                .await?
                .into(),
        )
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
        Ok(users::update(ctx.store(), ctx.composer(), actor, id, patch)
            .await?
            .into())
    }

    /// Soft-deletes a member: they can no longer sign in (admins only).
    async fn delete_user(&self, ctx: &Context<'_>, id: ID) -> Res<User> {
        let actor = ctx.admin()?;
        Ok(users::delete(ctx.store(), actor, parse_id(&id, "id")?)
            .await?
            .into())
    }

    /// Brings a deleted member back (admins only).
    async fn restore_user(&self, ctx: &Context<'_>, id: ID) -> Res<User> {
        let actor = ctx.admin()?;
        Ok(users::restore(ctx.store(), actor, parse_id(&id, "id")?)
            .await?
            .into())
    }
}
