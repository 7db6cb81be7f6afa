//! Two-factor sign-in (TOTP) of the signed-in member.

use async_graphql::{Context, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::graphql::context::ContextExt;
use crate::services::two_factor;

type Res<T> = async_graphql::Result<T>;

/// A new secret to add to an authenticator app; `confirmTwoFactor` turns it on.
#[derive(SimpleObject)]
pub struct TwoFactorSetup {
    /// The secret in base32, for typing in by hand.
    secret: String,
    /// `otpauth://totp/...`: what the QR code holds.
    otpauth_uri: String,
    /// The QR code of `otpauthUri`, as a `data:image/svg+xml;base64,...` URL for an `<img>`.
    qr_code_svg: String,
}

/// Recovery codes: each signs in once in place of a code (`login(input: { totpCode })`).
/// Shown only now: keep them somewhere safe.
#[derive(SimpleObject)]
pub struct RecoveryCodes {
    codes: Vec<String>,
}

#[derive(SimpleObject)]
pub struct TwoFactorStatus {
    enabled: bool,
    confirmed_at: Option<DateTime<Utc>>,
    /// Unused recovery codes.
    recovery_codes_remaining: i32,
    /// The organization requires two-factor sign-in of every member.
    required_by_organization: bool,
}

#[derive(Default)]
pub struct TwoFactorQuery;

#[Object]
impl TwoFactorQuery {
    /// The signed-in member's two-factor sign-in.
    async fn two_factor(&self, ctx: &Context<'_>) -> Res<TwoFactorStatus> {
        let actor = ctx.actor_for_setup()?;
        let s = two_factor::status(ctx.db(), actor).await?;
        let org = crate::services::organizations::get(ctx.db(), actor).await?;
        Ok(TwoFactorStatus {
            enabled: s.enabled,
            confirmed_at: s.confirmed_at.map(|t| t.to_utc()),
            recovery_codes_remaining: i32::try_from(s.recovery_codes_left).unwrap_or(i32::MAX),
            required_by_organization: two_factor::required_by(&org),
        })
    }
}

#[derive(Default)]
pub struct TwoFactorMutation;

#[Object]
impl TwoFactorMutation {
    /// Starts setting up two-factor sign-in: a new secret for an authenticator app (replacing
    /// one not yet confirmed). `CONFLICT` when it is already on.
    async fn enable_two_factor(&self, ctx: &Context<'_>) -> Res<TwoFactorSetup> {
        let actor = ctx.actor_for_setup()?;
        let s = two_factor::enable(ctx.store(), &ctx.composer().keyring, actor).await?;
        Ok(TwoFactorSetup {
            secret: s.secret,
            otpauth_uri: s.otpauth_uri,
            qr_code_svg: s.qr_code_svg,
        })
    }

    /// Turns two-factor sign-in on with a current code of the authenticator app; returns ten
    /// recovery codes. A member whose organization requires it then refreshes their token.
    async fn confirm_two_factor(&self, ctx: &Context<'_>, code: String) -> Res<RecoveryCodes> {
        let actor = ctx.actor_for_setup()?;
        let codes = two_factor::confirm(ctx.store(), &ctx.composer().keyring, actor, &code).await?;
        Ok(RecoveryCodes { codes })
    }

    /// Turns two-factor sign-in off, with the password and a current code (or a recovery
    /// code). `FORBIDDEN` while the organization requires it.
    async fn disable_two_factor(
        &self,
        ctx: &Context<'_>,
        password: String,
        code: String,
    ) -> Res<bool> {
        let actor = ctx.actor()?;
        Ok(two_factor::disable(
            ctx.store(),
            ctx.auth_service(),
            &ctx.composer().keyring,
            actor,
            password,
            &code,
        )
        .await?)
    }

    /// Ten new recovery codes (the old ones stop working), with the password and a code.
    async fn regenerate_recovery_codes(
        &self,
        ctx: &Context<'_>,
        password: String,
        code: String,
    ) -> Res<RecoveryCodes> {
        let actor = ctx.actor()?;
        let codes = two_factor::regenerate_recovery_codes(
            ctx.store(),
            ctx.auth_service(),
            &ctx.composer().keyring,
            actor,
            password,
            &code,
        )
        .await?;
        Ok(RecoveryCodes { codes })
    }
}
