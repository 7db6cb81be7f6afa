//! Sign-up, sign-in and sessions, and the signed-in member's own profile.

use async_graphql::{Context, InputObject, MaybeUndefined, Object, SimpleObject};

use crate::error::AppError;
use crate::graphql::args::{change, non_null};
use crate::graphql::context::ContextExt;
use crate::graphql::types::User;
use crate::services::{account_mail, accounts, users};

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
            user: User::from(s.user).setup_only(s.two_factor_setup),
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
    /// For members with two-factor sign-in: the current code of their authenticator app, or
    /// one of their recovery codes. Without it such a sign-in answers `TWO_FACTOR_REQUIRED`.
    totp_code: Option<String>,
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

#[derive(Default)]
pub struct AccountQuery;

#[Object]
impl AccountQuery {
    /// The signed-in member.
    async fn me(&self, ctx: &Context<'_>) -> Res<User> {
        let actor = ctx.actor_for_setup()?;
        let user =
            crate::services::live::<crate::entities::users::Entity>(ctx.db(), actor, actor.user_id)
                .await?
                .ok_or_else(|| AppError::Unauthenticated("the account no longer exists".into()))?;
        Ok(user.into())
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
            ctx.data_unchecked::<crate::realtime::SharedBroker>(),
            ctx.auth_service(),
            ctx.composer(),
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
            &ctx.composer().keyring,
            accounts::Credentials {
                email: &input.email,
                password: input.password,
                organization_domain: input.organization_domain.as_deref(),
                totp_code: input.totp_code.as_deref(),
            },
            &ctx.meta(),
        )
        .await?;
        Ok(session.into())
    }

    /// An invited member chooses their password (8 to 128 characters) with the token of their
    /// invitation link, and is signed in. The link works once.
    async fn accept_invitation(
        &self,
        ctx: &Context<'_>,
        token: String,
        password: String,
    ) -> Res<AuthPayload> {
        let session = account_mail::accept_invitation(
            ctx.db(),
            ctx.auth_service(),
            &token,
            password,
            &ctx.meta(),
        )
        .await?;
        Ok(session.into())
    }

    /// Confirms a member's e-mail address with the token of the link mailed to it.
    async fn verify_email(&self, ctx: &Context<'_>, token: String) -> Res<bool> {
        Ok(account_mail::verify_email(ctx.db(), &token, &ctx.meta()).await?)
    }

    /// Mails the signed-in member a new verification link (the earlier one stops working).
    async fn resend_verification(&self, ctx: &Context<'_>) -> Res<bool> {
        let actor = ctx.actor()?;
        Ok(account_mail::resend_verification(ctx.store(), ctx.composer(), actor).await?)
    }

    /// Mails a password-reset link (1 hour) to the accounts of this address (in the named
    /// organization, if given). The answer is `true` whether or not the address has an
    /// account; requests are limited per address and per client network.
    async fn request_password_reset(
        &self,
        ctx: &Context<'_>,
        email: String,
        organization_domain: Option<String>,
    ) -> Res<bool> {
        Ok(account_mail::request_password_reset(
            ctx.db(),
            ctx.data_unchecked::<crate::realtime::SharedBroker>(),
            ctx.auth_service(),
            ctx.composer(),
            &email,
            organization_domain.as_deref(),
            &ctx.meta(),
        )
        .await?)
    }

    /// Sets a new password with the token of a reset link (works once, within an hour) and
    /// ends every session of the member, open WebSockets included.
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        token: String,
        new_password: String,
    ) -> Res<bool> {
        Ok(account_mail::reset_password(
            ctx.db(),
            ctx.broker(),
            ctx.auth_service(),
            &token,
            new_password,
            &ctx.meta(),
        )
        .await?)
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
            ctx.store(),
            ctx.auth_service(),
            actor,
            current_password,
            new_password,
        )
        .await?)
    }

    /// Updates the signed-in member's own profile.
    async fn update_me(&self, ctx: &Context<'_>, input: UpdateMeInput) -> Res<User> {
        Ok(
            users::update_me(ctx.store(), ctx.actor()?, input.try_into()?)
                .await?
                .into(),
        )
    }
}
