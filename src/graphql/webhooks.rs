//! Outgoing webhooks (admins): endpoints, their secrets (shown once), deliveries.

use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::entities::{webhook_deliveries, webhook_endpoints};
use crate::graphql::args::{change, non_null, page, parse_id, set};
use crate::graphql::connection::Connection;
use crate::graphql::context::ContextExt;
use crate::graphql::scalars::{utc, utc_opt};
use crate::services::webhooks::{self as svc, EndpointPatch};

type Res<T> = async_graphql::Result<T>;

/// Where the organization's changes are POSTed (Standard Webhooks), and which.
#[derive(Clone, Debug, SimpleObject)]
pub struct WebhookEndpoint {
    pub id: ID,
    pub url: String,
    pub description: Option<String>,
    /// Among `contact.created|updated|deleted`, `event.published|cancelled|updated`,
    /// `attendee.registered|cancelled|checked_in`, `expense.submitted|approved|rejected|paid`,
    /// `media.ready`.
    pub event_types: Vec<String>,
    /// `false` once disabled (410 Gone, 5 days of failures, or by an admin).
    pub is_enabled: bool,
    pub disabled_reason: Option<String>,
    /// Since when every delivery has failed; `null` while deliveries succeed.
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<webhook_endpoints::Model> for WebhookEndpoint {
    fn from(m: webhook_endpoints::Model) -> Self {
        Self {
            id: m.id.into(),
            url: m.url,
            description: m.description,
            event_types: m
                .event_types
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            is_enabled: m.is_enabled,
            disabled_reason: m.disabled_reason,
            failing_since: utc_opt(m.failing_since),
            created_at: utc(m.created_at),
            updated_at: utc(m.updated_at),
        }
    }
}

/// An endpoint with its signing secret: returned only by `createWebhookEndpoint` and
/// `rotateWebhookSecret`; keep the secret, it is never shown again.
#[derive(SimpleObject)]
pub struct WebhookEndpointWithSecret {
    pub endpoint: WebhookEndpoint,
    /// `whsec_...`: verify `webhook-signature` with it (any Standard Webhooks library).
    pub secret: String,
}

#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookDeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    Succeeded,
    /// Its attempts are spent, or its endpoint was disabled or deleted.
    Failed,
}

impl WebhookDeliveryStatus {
    fn db(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    fn from_db(s: &str) -> Self {
        match s {
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            _ => Self::Pending,
        }
    }
}

/// One change sent to one endpoint, and how its attempts went.
#[derive(Clone, Debug, SimpleObject)]
pub struct WebhookDelivery {
    pub id: ID,
    pub endpoint_id: ID,
    pub event_type: String,
    /// The `webhook-id` header: the same on every attempt (receivers deduplicate by it).
    pub message_id: String,
    /// The JSON body sent: `{ type, timestamp, data }`.
    pub payload: String,
    pub status: WebhookDeliveryStatus,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    /// The start of the last response's body (at most 1,024 characters).
    pub last_response: Option<String>,
    pub last_duration_ms: Option<i32>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<webhook_deliveries::Model> for WebhookDelivery {
    fn from(m: webhook_deliveries::Model) -> Self {
        Self {
            id: m.id.into(),
            endpoint_id: m.endpoint_id.into(),
            event_type: m.event_type,
            message_id: m.message_id,
            payload: m.payload,
            status: WebhookDeliveryStatus::from_db(&m.status),
            attempts: m.attempts,
            last_status_code: m.last_status_code,
            last_error: m.last_error,
            last_response: m.last_response,
            last_duration_ms: m.last_duration_ms,
            next_attempt_at: utc_opt(m.next_attempt_at),
            delivered_at: utc_opt(m.delivered_at),
            created_at: utc(m.created_at),
            updated_at: utc(m.updated_at),
        }
    }
}

#[derive(InputObject)]
pub struct CreateWebhookEndpointInput {
    /// http(s), a public host (private, loopback and link-local addresses are refused).
    url: String,
    event_types: Vec<String>,
    description: Option<String>,
}

/// Omitted fields stay as they are.
#[derive(InputObject)]
pub struct UpdateWebhookEndpointInput {
    url: MaybeUndefined<String>,
    event_types: MaybeUndefined<Vec<String>>,
    description: MaybeUndefined<String>,
    /// `true` re-enables a disabled endpoint and forgets its failures; `false` pauses it.
    is_enabled: MaybeUndefined<bool>,
}

#[derive(InputObject, Default)]
pub struct WebhookDeliveryFilter {
    status: Option<Vec<WebhookDeliveryStatus>>,
    event_type: Option<String>,
}

#[derive(Default)]
pub struct WebhooksQuery;

#[Object]
impl WebhooksQuery {
    /// Admins: the organization's endpoints, oldest first.
    async fn webhook_endpoints(&self, ctx: &Context<'_>) -> Res<Vec<WebhookEndpoint>> {
        let rows = svc::list(ctx.db(), ctx.actor()?).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Admins: an endpoint's deliveries, newest first.
    #[allow(clippy::too_many_arguments)]
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        endpoint_id: ID,
        filter: Option<WebhookDeliveryFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Res<Connection<WebhookDelivery>> {
        let id = parse_id(&endpoint_id, "endpointId")?;
        let f = filter.unwrap_or_default();
        let filter = svc::DeliveryFilter {
            status: f
                .status
                .map(|s| s.into_iter().map(|v| v.db().to_owned()).collect()),
            event_type: f.event_type,
        };
        let p = svc::deliveries(
            ctx.db(),
            ctx.actor()?,
            id,
            &filter,
            &page(first, after, last, before),
        )
        .await?;
        Ok(Connection::from_page(p))
    }
}

#[derive(Default)]
pub struct WebhooksMutation;

fn secrets(ctx: &Context<'_>) -> Res<(crate::crypto::Keyring, bool)> {
    let w = ctx.data::<WebhookSettings>()?;
    Ok((w.keyring.clone(), w.allow_private))
}

/// What the webhook mutations need from configuration (schema data).
#[derive(Clone)]
pub struct WebhookSettings {
    pub keyring: crate::crypto::Keyring,
    pub allow_private: bool,
}

#[Object]
impl WebhooksMutation {
    /// Admins: a new endpoint and its secret, shown this once.
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookEndpointInput,
    ) -> Res<WebhookEndpointWithSecret> {
        let (keyring, allow_private) = secrets(ctx)?;
        let patch = EndpointPatch {
            url: Some(input.url),
            event_types: Some(input.event_types),
            description: set(input.description),
            enabled: None,
        };
        let (row, secret) =
            svc::create(ctx.store(), &keyring, allow_private, ctx.actor()?, patch).await?;
        Ok(WebhookEndpointWithSecret {
            endpoint: row.into(),
            secret,
        })
    }

    /// Admins.
    async fn update_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateWebhookEndpointInput,
    ) -> Res<WebhookEndpoint> {
        let (_, allow_private) = secrets(ctx)?;
        let i = input;
        let patch = EndpointPatch {
            url: non_null(i.url, "url")?,
            event_types: non_null(i.event_types, "eventTypes")?,
            description: change(i.description),
            enabled: non_null(i.is_enabled, "isEnabled")?,
        };
        let id = parse_id(&id, "id")?;
        Ok(
            svc::update(ctx.store(), allow_private, ctx.actor()?, id, patch)
                .await?
                .into(),
        )
    }

    /// Admins: removes the endpoint; its pending deliveries are not sent.
    async fn delete_webhook_endpoint(&self, ctx: &Context<'_>, id: ID) -> Res<WebhookEndpoint> {
        let id = parse_id(&id, "id")?;
        Ok(svc::delete(ctx.store(), ctx.actor()?, id).await?.into())
    }

    /// Admins: a new secret, shown this once; the old one stops signing at once.
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Res<WebhookEndpointWithSecret> {
        let (keyring, _) = secrets(ctx)?;
        let id = parse_id(&id, "id")?;
        let (row, secret) = svc::rotate_secret(ctx.store(), &keyring, ctx.actor()?, id).await?;
        Ok(WebhookEndpointWithSecret {
            endpoint: row.into(),
            secret,
        })
    }

    /// Admins: sends a delivery again now, with the same `webhook-id`.
    async fn redeliver_webhook(&self, ctx: &Context<'_>, delivery_id: ID) -> Res<WebhookDelivery> {
        let id = parse_id(&delivery_id, "deliveryId")?;
        Ok(svc::redeliver(ctx.store(), ctx.actor()?, id).await?.into())
    }
}

impl crate::graphql::fast::FastObject for WebhookDelivery {}
