//! Integrations (admins): connect, update, disconnect, delete/restore, test.

use async_graphql::{Context, ID, InputObject, Json, MaybeUndefined, Object, SimpleObject};

use crate::domain::enums::IntegrationProvider;
use crate::graphql::args::{non_null, parse_id};
use crate::graphql::context::ContextExt;
use crate::graphql::types::{Integration, IntegrationLog};
use crate::graphql::webhooks::WebhookSettings;
use crate::services::integrations::{self as svc, Connect};

type Res<T> = async_graphql::Result<T>;

#[derive(InputObject)]
pub struct ConnectIntegrationInput {
    /// HUBSPOT (the others have no sync yet and are refused).
    provider: IntegrationProvider,
    /// Default: the provider.
    name: Option<String>,
    /// Write-only, encrypted at rest, never returned. HubSpot: `{ "accessToken": "..." }`
    /// (a private app token with the CRM contacts scopes).
    credentials: Json<serde_json::Value>,
    /// HubSpot: `baseUrl` (default https://api.hubapi.com), `syncIntervalMinutes` (15 to 1440).
    settings: Option<Json<serde_json::Value>>,
    is_active: Option<bool>,
}

/// Omitted fields stay as they are.
#[derive(InputObject)]
pub struct UpdateIntegrationInput {
    name: MaybeUndefined<String>,
    /// Replaces the stored credentials (the status becomes CONNECTED again).
    credentials: MaybeUndefined<Json<serde_json::Value>>,
    settings: MaybeUndefined<Json<serde_json::Value>>,
    is_active: MaybeUndefined<bool>,
}

/// What `testIntegration` found.
#[derive(SimpleObject)]
pub struct IntegrationTestResult {
    /// The provider accepted the credentials.
    ok: bool,
    message: String,
    details: Json<serde_json::Value>,
}

fn settings(ctx: &Context<'_>) -> Res<(crate::crypto::Keyring, bool)> {
    let w = ctx.data::<WebhookSettings>()?;
    Ok((w.keyring.clone(), w.allow_private))
}

#[derive(Default)]
pub struct IntegrationsQuery;

#[Object]
impl IntegrationsQuery {
    /// Admins: the organization's integrations, by provider.
    async fn integrations(&self, ctx: &Context<'_>) -> Res<Vec<Integration>> {
        let rows = svc::list(ctx.db(), ctx.actor()?).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Admins: one live integration; `null` when missing, deleted or another organization's.
    async fn integration(&self, ctx: &Context<'_>, id: ID) -> Res<Option<Integration>> {
        let id = parse_id(&id, "id")?;
        Ok(svc::get(ctx.db(), ctx.actor()?, id).await?.map(Into::into))
    }
}

#[derive(Default)]
pub struct IntegrationsMutation;

#[Object]
impl IntegrationsMutation {
    /// Admins: connects a provider, or reconnects the organization's row of it (restoring a
    /// deleted one); CONFLICT while it is connected.
    async fn connect_integration(
        &self,
        ctx: &Context<'_>,
        input: ConnectIntegrationInput,
    ) -> Res<Integration> {
        let (keyring, allow_private) = settings(ctx)?;
        let c = Connect {
            provider: Some(input.provider),
            name: input.name,
            credentials: Some(input.credentials.0),
            settings: input.settings.map(|j| j.0),
            is_active: input.is_active,
        };
        Ok(
            svc::connect(ctx.store(), &keyring, allow_private, ctx.actor()?, c)
                .await?
                .into(),
        )
    }

    /// Admins.
    async fn update_integration(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateIntegrationInput,
    ) -> Res<Integration> {
        let (keyring, allow_private) = settings(ctx)?;
        let i = input;
        let c = Connect {
            provider: None,
            name: non_null(i.name, "name")?,
            credentials: non_null(i.credentials, "credentials")?.map(|j| j.0),
            settings: non_null(i.settings, "settings")?.map(|j| j.0),
            is_active: non_null(i.is_active, "isActive")?,
        };
        let id = parse_id(&id, "id")?;
        Ok(
            svc::update(ctx.store(), &keyring, allow_private, ctx.actor()?, id, c)
                .await?
                .into(),
        )
    }

    /// Admins: forgets the credentials (DISCONNECTED); the integration and its logs stay.
    async fn disconnect_integration(&self, ctx: &Context<'_>, id: ID) -> Res<Integration> {
        let id = parse_id(&id, "id")?;
        Ok(svc::disconnect(ctx.store(), ctx.actor()?, id).await?.into())
    }

    async fn delete_integration(&self, ctx: &Context<'_>, id: ID) -> Res<Integration> {
        let id = parse_id(&id, "id")?;
        Ok(svc::set_deleted(ctx.store(), ctx.actor()?, id, true)
            .await?
            .into())
    }

    async fn restore_integration(&self, ctx: &Context<'_>, id: ID) -> Res<Integration> {
        let id = parse_id(&id, "id")?;
        Ok(svc::set_deleted(ctx.store(), ctx.actor()?, id, false)
            .await?
            .into())
    }

    /// Admins: queues a sync (pull HubSpot's changes, push ours) and returns its log row,
    /// QUEUED; it moves to RUNNING, then SUCCESS, PARTIAL or FAILED. A sync already queued or
    /// running is returned instead of a second one.
    async fn sync_integration(&self, ctx: &Context<'_>, id: ID) -> Res<IntegrationLog> {
        let id = parse_id(&id, "id")?;
        Ok(svc::queue_sync(ctx.store(), ctx.actor()?, id).await?.into())
    }

    /// Admins: calls the provider with the stored credentials. A refused token sets the
    /// status ERROR with the reason in `metadata.error`.
    async fn test_integration(&self, ctx: &Context<'_>, id: ID) -> Res<IntegrationTestResult> {
        let (keyring, allow_private) = settings(ctx)?;
        let id = parse_id(&id, "id")?;
        let r = svc::test(ctx.store(), &keyring, allow_private, ctx.actor()?, id).await?;
        Ok(IntegrationTestResult {
            ok: r.ok,
            message: r.message,
            details: Json(r.details),
        })
    }
}
