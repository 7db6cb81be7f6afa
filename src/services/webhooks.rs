//! Outgoing webhooks (Standard Webhooks): an organization's admins register endpoints for
//! event types; a change of a subscribed type writes one delivery row per endpoint in the
//! change's own transaction (a rolled-back change sends nothing) and enqueues a job that
//! POSTs it, signed `v1,<base64 HMAC-SHA256("{webhook-id}.{webhook-timestamp}.{body}")>` with
//! the endpoint's `whsec_` secret (encrypted at rest). Failed attempts are retried after 5 s,
//! 5 min, 30 min, 2 h, 5 h, 10 h and 10 h, then the delivery is FAILED; 410 Gone disables the
//! endpoint at once, and an endpoint failing for 5 days is disabled and its admins told.
//!
//! SSRF: only http(s) URLs; a host that resolves to a private, loopback, link-local, shared,
//! multicast or otherwise non-public address is refused when the endpoint is saved and again
//! when each request connects (the HTTP client's resolver filters, so DNS rebinding finds
//! nothing), unless `PLUGS_WEBHOOK_ALLOW_PRIVATE=true`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, Order, PaginatorTrait, QueryFilter, QueryOrder,
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::validate::{Text::Plain, set_text};
use super::work::{Store, Work, missing};
use super::{Actor, Change, now};
use crate::crypto::Keyring;
use crate::db::pagination::{Keyset, Page, PageArgs, SortKind, SortValue, paginate};
use crate::db::scoped::Scoped;
use crate::entities::{webhook_deliveries as deliveries, webhook_endpoints as endpoints};
use crate::error::AppError;

/// Every event type an endpoint may subscribe to.
pub const EVENT_TYPES: &[&str] = &[
    "contact.created",
    "contact.updated",
    "contact.deleted",
    "event.published",
    "event.cancelled",
    "event.updated",
    "attendee.registered",
    "attendee.cancelled",
    "attendee.checked_in",
    "expense.submitted",
    "expense.approved",
    "expense.rejected",
    "expense.paid",
    "media.ready",
];

/// Waits before the 2nd, 3rd, ... attempt; after the last one fails the delivery is FAILED.
pub const RETRY_AFTER: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// An endpoint failing this long is disabled.
pub const DISABLE_AFTER: chrono::Duration = chrono::Duration::days(5);
/// Endpoints per organization.
pub const MAX_ENDPOINTS: u64 = 20;
/// How much of a response body is kept with the delivery.
const KEEP_RESPONSE: usize = 1024;

/// Whether an address is one the public internet routes to (nothing internal to us or the
/// endpoint's network).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_unspecified()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
                || (a == 192 && b == 0 && v4.octets()[2] == 0) // IETF protocol assignments
                || (a == 198 && (b == 18 || b == 19)) // benchmarking
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let [first, second, ..] = v6.segments();
            // Global unicast only (2000::/3), less the ranges that tunnel to or embed other
            // addresses (6to4, Teredo) and those reserved for documentation and ORCHID.
            (first & 0xe000) == 0x2000
                && first != 0x2002
                && !(first == 0x2001 && second == 0x0000)
                && !(first == 0x2001 && second == 0x0db8)
                && !(first == 0x2001 && (second & 0xfff0) == 0x0010)
        }
    }
}

/// An http(s) URL with a host and no credentials, at most 2,048 characters.
pub fn parse_url(raw: &str) -> Result<reqwest::Url, AppError> {
    let bad = |m: &str| AppError::bad_input("url", m);
    let raw = raw.trim();
    if raw.len() > 2048 {
        return Err(bad("at most 2048 characters"));
    }
    let url = reqwest::Url::parse(raw).map_err(|e| bad(&format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must be an http or https URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry credentials"));
    }
    Ok(url)
}

/// Refuses a URL whose host is, or resolves to, a non-public address (unless allowed).
pub async fn check_destination(url: &reqwest::Url, allow_private: bool) -> Result<(), AppError> {
    if allow_private {
        return Ok(());
    }
    let refused = |why: String| AppError::bad_input("url", why);
    let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']);
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| refused(format!("{host} does not resolve: {e}")))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(refused(format!("{host} does not resolve")));
    }
    if addrs.iter().any(|a| !is_public(a.ip())) {
        // Which address is not said: it would map internal names for whoever asks.
        return Err(refused(format!(
            "{host} is or resolves to a private, loopback, link-local or reserved address; only public hosts are allowed"
        )));
    }
    Ok(())
}

/// The HTTP client of deliveries: 10 s timeout, no redirects, and a resolver that only ever
/// hands out public addresses (unless private ones are allowed). One per process.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    allow_private: bool,
}

struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{} has no public address", name.as_str()).into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl Sender {
    /// The shared HTTP client (integrations call providers through it too).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The process's sender for this policy.
    pub fn shared(allow_private: bool) -> &'static Sender {
        static PUBLIC: std::sync::OnceLock<Sender> = std::sync::OnceLock::new();
        static ANY: std::sync::OnceLock<Sender> = std::sync::OnceLock::new();
        let cell = if allow_private { &ANY } else { &PUBLIC };
        cell.get_or_init(|| Sender::new(allow_private))
    }

    pub fn new(allow_private: bool) -> Self {
        crate::crypto::install_tls_provider();
        let mut b = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve the host itself, past the filtering resolver.
            .no_proxy()
            .user_agent(concat!("plugs-webhooks/", env!("CARGO_PKG_VERSION")));
        if !allow_private {
            b = b.dns_resolver(Arc::new(PublicOnly));
        }
        Self {
            client: b.build().expect("the webhook HTTP client builds"),
            allow_private,
        }
    }
}

/// A fresh signing secret: `whsec_` and 24 random bytes in base64 (Standard Webhooks).
fn new_secret() -> String {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).expect("the OS random generator is available");
    format!("whsec_{}", STANDARD.encode(bytes))
}

/// Where an endpoint's secret belongs (its ciphertext decrypts only there).
fn aad(org: Uuid, endpoint: Uuid) -> String {
    format!("webhook_endpoints/{org}/{endpoint}")
}

/// `v1,<base64 HMAC-SHA256>` of `{id}.{timestamp}.{body}` with the secret's bytes.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> Result<String, AppError> {
    let key = STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .map_err(|_| AppError::Internal("a webhook secret is not base64".into()))?;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).expect("HMAC takes any key");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

#[derive(Clone, Debug, Default)]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub description: Change<String>,
    /// `true` re-enables a disabled endpoint (and forgets its failures).
    pub enabled: Option<bool>,
}

fn event_types(list: Vec<String>) -> Result<Value, AppError> {
    let mut out: Vec<String> = Vec::new();
    for t in list {
        let t = t.trim().to_owned();
        if !EVENT_TYPES.contains(&t.as_str()) {
            return Err(AppError::bad_input(
                "eventTypes",
                format!(
                    "{t:?} is not an event type (one of {})",
                    EVENT_TYPES.join(", ")
                ),
            ));
        }
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.is_empty() {
        return Err(AppError::bad_input(
            "eventTypes",
            "name at least one event type",
        ));
    }
    Ok(json!(out))
}

async fn apply(
    a: &mut endpoints::ActiveModel,
    p: EndpointPatch,
    allow_private: bool,
) -> Result<(), AppError> {
    if let Some(u) = p.url {
        let url = parse_url(&u)?;
        check_destination(&url, allow_private).await?;
        a.url = Set(url.to_string());
    }
    if let Some(t) = p.event_types {
        a.event_types = Set(event_types(t)?);
    }
    set_text(
        &mut a.description,
        "description",
        p.description,
        Plain(1_000),
    )?;
    if let Some(e) = p.enabled {
        a.is_enabled = Set(e);
        if e {
            a.disabled_reason = Set(None);
            a.failing_since = Set(None);
        }
    }
    Ok(())
}

/// Admins: a new endpoint, and its secret (shown this once).
pub async fn create(
    store: Store<'_>,
    keyring: &Keyring,
    allow_private: bool,
    actor: &Actor,
    patch: EndpointPatch,
) -> Result<(endpoints::Model, String), AppError> {
    actor.admin()?;
    if patch.url.is_none() {
        return Err(AppError::bad_input("url", "is required"));
    }
    if patch.event_types.is_none() {
        return Err(AppError::bad_input("eventTypes", "is required"));
    }
    let id = Uuid::new_v4();
    let secret = new_secret();
    let t = now();
    let mut a = endpoints::ActiveModel {
        id: Set(id),
        organization_id: Set(actor.organization_id),
        created_by: Set(actor.user_id),
        secret_encrypted: Set(keyring.encrypt(secret.as_bytes(), &aad(actor.organization_id, id))),
        is_enabled: Set(true),
        created_at: Set(t),
        updated_at: Set(t),
        is_deleted: Set(false),
        ..Default::default()
    };
    apply(&mut a, patch, allow_private).await?;
    let w = Work::begin(store, actor).await?;
    let count = actor
        .scope()
        .live::<endpoints::Entity>()
        .count(&w.txn)
        .await?;
    if count >= MAX_ENDPOINTS {
        return Err(AppError::bad_input(
            "url",
            format!("an organization has at most {MAX_ENDPOINTS} webhook endpoints"),
        ));
    }
    let row = a.insert(&w.txn).await?;
    w.audit::<endpoints::Entity, _>(id, None, Some(&row))
        .await?;
    w.commit().await?;
    Ok((row, secret))
}

pub async fn update(
    store: Store<'_>,
    allow_private: bool,
    actor: &Actor,
    id: Uuid,
    patch: EndpointPatch,
) -> Result<endpoints::Model, AppError> {
    actor.admin()?;
    let w = Work::begin(store, actor).await?;
    let old = w.live::<endpoints::Entity>(id).await?;
    let mut a: endpoints::ActiveModel = old.clone().into();
    apply(&mut a, patch, allow_private).await?;
    a.updated_at = Set(now());
    let row = a.update(&w.txn).await?;
    w.audit::<endpoints::Entity, _>(id, Some(&old), Some(&row))
        .await?;
    w.commit().await?;
    Ok(row)
}

/// Admins: a new secret (shown this once); the old one stops signing at once.
pub async fn rotate_secret(
    store: Store<'_>,
    keyring: &Keyring,
    actor: &Actor,
    id: Uuid,
) -> Result<(endpoints::Model, String), AppError> {
    actor.admin()?;
    let w = Work::begin(store, actor).await?;
    let old = w.live::<endpoints::Entity>(id).await?;
    let secret = new_secret();
    let mut a: endpoints::ActiveModel = old.clone().into();
    a.secret_encrypted = Set(keyring.encrypt(secret.as_bytes(), &aad(old.organization_id, id)));
    a.updated_at = Set(now());
    let row = a.update(&w.txn).await?;
    w.audit::<endpoints::Entity, _>(id, Some(&old), Some(&row))
        .await?;
    w.commit().await?;
    Ok((row, secret))
}

/// Admins: removes an endpoint (soft); its pending deliveries are not sent.
pub async fn delete(
    store: Store<'_>,
    actor: &Actor,
    id: Uuid,
) -> Result<endpoints::Model, AppError> {
    actor.admin()?;
    let w = Work::begin(store, actor).await?;
    let row = w.set_deleted::<endpoints::Entity>(id, true).await?;
    w.commit().await?;
    Ok(row)
}

/// Admins: the organization's live endpoints, oldest first.
pub async fn list(
    db: &DatabaseConnection,
    actor: &Actor,
) -> Result<Vec<endpoints::Model>, AppError> {
    actor.admin()?;
    Ok(actor
        .scope()
        .live::<endpoints::Entity>()
        .order_by_asc(endpoints::Column::CreatedAt)
        .order_by_asc(endpoints::Column::Id)
        .all(db)
        .await?)
}

#[derive(Clone, Debug, Default)]
pub struct DeliveryFilter {
    pub status: Option<Vec<String>>,
    pub event_type: Option<String>,
}

fn delivery_keyset() -> Keyset<deliveries::Entity> {
    Keyset {
        name: "created_at desc",
        sort: deliveries::Column::CreatedAt,
        kind: SortKind::Time,
        nullable: false,
        id: deliveries::Column::Id,
        direction: Order::Desc,
        value: |m| SortValue::Time(m.created_at.to_utc()),
        id_of: |m| m.id,
    }
}

/// Admins: an endpoint's deliveries, newest first.
pub async fn deliveries(
    db: &DatabaseConnection,
    actor: &Actor,
    endpoint: Uuid,
    f: &DeliveryFilter,
    args: &PageArgs,
) -> Result<Page<deliveries::Model>, AppError> {
    actor.admin()?;
    actor
        .scope()
        .live_by_id::<endpoints::Entity>(endpoint)
        .one(db)
        .await?
        .ok_or_else(missing::<endpoints::Entity>)?;
    let mut q = actor
        .scope()
        .find::<deliveries::Entity>()
        .filter(deliveries::Column::EndpointId.eq(endpoint));
    if let Some(s) = &f.status {
        q = q.filter(deliveries::Column::Status.is_in(s.iter().cloned()));
    }
    if let Some(t) = &f.event_type {
        q = q.filter(deliveries::Column::EventType.eq(t.trim()));
    }
    paginate(db, q, &delivery_keyset(), args).await
}

/// Admins: sends a delivery again now (same `webhook-id`, a fresh timestamp and signature),
/// whatever became of it; its attempts start over.
pub async fn redeliver(
    store: Store<'_>,
    actor: &Actor,
    id: Uuid,
) -> Result<deliveries::Model, AppError> {
    actor.admin()?;
    let mut w = Work::begin(store, actor).await?;
    let old = actor
        .scope()
        .by_id::<deliveries::Entity>(id)
        .one(&w.txn)
        .await?
        .ok_or_else(missing::<deliveries::Entity>)?;
    w.live::<endpoints::Entity>(old.endpoint_id).await?;
    let mut a: deliveries::ActiveModel = old.clone().into();
    a.status = Set("pending".into());
    a.attempts = Set(0);
    a.next_attempt_at = Set(Some(now()));
    a.updated_at = Set(now());
    let row = a.update(&w.txn).await?;
    w.audit::<deliveries::Entity, _>(id, Some(&old), Some(&row))
        .await?;
    let job = crate::jobs::kinds::DeliverWebhook {
        organization_id: row.organization_id,
        delivery_id: row.id,
        attempt: 0,
    };
    crate::jobs::enqueue(&mut w, &job, Default::default()).await?;
    w.commit().await?;
    Ok(row)
}

/// A row as the API shows it: keys in camelCase; secrets and storage internals left out.
pub fn api_json(row: &impl serde::Serialize) -> Value {
    match serde_json::to_value(row) {
        Ok(Value::Object(map)) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| {
                    !matches!(
                        k.as_str(),
                        "password_hash" | "secret_encrypted" | "file_path" | "upload_expires_at"
                    )
                })
                .map(|(k, v)| (crate::error::camel_case(&k), v))
                .collect(),
        ),
        Ok(other) => other,
        Err(_) => Value::Null,
    }
}

/// Writes a delivery for each live, enabled endpoint of `org` subscribed to `event_type`, in
/// `txn`; returns the deliveries' ids (the caller enqueues their jobs in the same
/// transaction). One statement when no endpoint listens.
async fn write_deliveries(
    txn: &impl ConnectionTrait,
    scope: Scoped,
    event_type: &str,
    data: Value,
) -> Result<Vec<Uuid>, AppError> {
    let listening: Vec<endpoints::Model> = scope
        .live::<endpoints::Entity>()
        .filter(endpoints::Column::IsEnabled.eq(true))
        .all(txn)
        .await?
        .into_iter()
        .filter(|e| {
            e.event_types
                .as_array()
                .is_some_and(|t| t.iter().any(|v| v.as_str() == Some(event_type)))
        })
        .collect();
    if listening.is_empty() {
        return Ok(Vec::new());
    }
    let t = now();
    let body = json!({
        "type": event_type,
        "timestamp": t.to_utc().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": data,
    })
    .to_string();
    let mut ids = Vec::with_capacity(listening.len());
    for e in listening {
        let id = Uuid::new_v4();
        deliveries::ActiveModel {
            id: Set(id),
            organization_id: Set(e.organization_id),
            endpoint_id: Set(e.id),
            event_type: Set(event_type.to_owned()),
            message_id: Set(format!("msg_{}", Uuid::new_v4().simple())),
            payload: Set(body.clone()),
            status: Set("pending".into()),
            attempts: Set(0),
            next_attempt_at: Set(Some(t)),
            created_at: Set(t),
            updated_at: Set(t),
            ..Default::default()
        }
        .insert(txn)
        .await?;
        ids.push(id);
    }
    Ok(ids)
}

/// Announces a change to the endpoints listening for `event_type`, in the change's unit of
/// work. `data` is the changed object as the API shows it (`api_json`).
pub async fn emit(w: &mut Work<'_>, event_type: &str, data: Value) -> Result<(), AppError> {
    debug_assert!(EVENT_TYPES.contains(&event_type), "{event_type}");
    let scope = w.actor.scope();
    let ids = write_deliveries(&w.txn, scope, event_type, data).await?;
    for delivery_id in ids {
        let job = crate::jobs::kinds::DeliverWebhook {
            organization_id: scope.organization_id(),
            delivery_id,
            attempt: 0,
        };
        crate::jobs::enqueue(w, &job, Default::default()).await?;
    }
    Ok(())
}

/// As `emit`, for work that has no actor (a background job), in `txn`; the caller wakes the
/// workers after committing.
pub async fn emit_system(
    txn: &impl ConnectionTrait,
    scope: Scoped,
    event_type: &str,
    data: Value,
) -> Result<usize, AppError> {
    let ids = write_deliveries(txn, scope, event_type, data).await?;
    for delivery_id in &ids {
        let job = crate::jobs::kinds::DeliverWebhook {
            organization_id: scope.organization_id(),
            delivery_id: *delivery_id,
            attempt: 0,
        };
        crate::jobs::enqueue_system(txn, &job, Default::default()).await?;
    }
    Ok(ids.len())
}

/// A delivery whose job was given up (trouble on our side, a key no longer configured): it
/// is FAILED with the reason, if it was still pending.
pub async fn give_up(
    db: &DatabaseConnection,
    scope: Scoped,
    id: Uuid,
    reason: &str,
) -> Result<(), AppError> {
    scope
        .update_many::<deliveries::Entity>()
        .col_expr(deliveries::Column::Status, Expr::value("failed"))
        .col_expr(deliveries::Column::LastError, Expr::value(reason))
        .col_expr(
            deliveries::Column::NextAttemptAt,
            Expr::value(Option::<chrono::DateTime<chrono::FixedOffset>>::None),
        )
        .col_expr(deliveries::Column::UpdatedAt, Expr::value(now()))
        .filter(deliveries::Column::Id.eq(id))
        .filter(deliveries::Column::Status.eq("pending"))
        .exec(db)
        .await?;
    Ok(())
}

/// What one attempt came to.
struct Attempt {
    status: Option<u16>,
    error: Option<String>,
    response: Option<String>,
    millis: i32,
}

async fn send_once(
    sender: &Sender,
    url: &str,
    headers: [(&str, String); 3],
    body: String,
) -> Attempt {
    let started = std::time::Instant::now();
    let parsed = match parse_url(url) {
        Ok(u) => u,
        Err(e) => {
            return Attempt {
                status: None,
                error: Some(e.public_message()),
                response: None,
                millis: 0,
            };
        }
    };
    // An IP literal never meets the resolver: check it here.
    if let Err(e) = check_destination(&parsed, sender.allow_private).await {
        return Attempt {
            status: None,
            error: Some(e.public_message()),
            response: None,
            millis: 0,
        };
    }
    let mut req = sender
        .client
        .post(parsed)
        .header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let result = req.body(body).send().await;
    let millis = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
    match result {
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            // Only the start is kept, so only the start is read.
            let mut head: Vec<u8> = Vec::new();
            while head.len() < KEEP_RESPONSE * 4 {
                match resp.chunk().await {
                    Ok(Some(c)) => head.extend_from_slice(&c),
                    _ => break,
                }
            }
            drop(resp);
            let kept: String = String::from_utf8_lossy(&head)
                .chars()
                .take(KEEP_RESPONSE)
                .collect();
            Attempt {
                status: Some(status),
                error: None,
                response: (!kept.is_empty()).then_some(kept),
                millis,
            }
        }
        Err(e) => Attempt {
            status: None,
            error: Some(if e.is_timeout() {
                "timed out after 10 s".to_owned()
            } else {
                crate::error::chain(&e)
            }),
            response: None,
            millis,
        },
    }
}

/// The job's work: one attempt of one pending delivery, recorded; schedules the next attempt
/// (a new job) when it failed and attempts remain.
pub async fn deliver(
    db: &DatabaseConnection,
    broker: &crate::realtime::SharedBroker,
    sender: &Sender,
    keyring: &Keyring,
    scope: Scoped,
    id: Uuid,
    attempt: i32,
) -> Result<(), AppError> {
    let Some(d) = scope.by_id::<deliveries::Entity>(id).one(db).await? else {
        return Ok(());
    };
    // A job for another attempt (a redelivery started the count over) is stale.
    if d.status != "pending" || d.attempts != attempt {
        return Ok(());
    }
    // Claimed: of two jobs for one attempt, one sends.
    let claimed = scope
        .update_many::<deliveries::Entity>()
        .col_expr(deliveries::Column::Attempts, Expr::value(attempt + 1))
        .col_expr(deliveries::Column::UpdatedAt, Expr::value(now()))
        .filter(deliveries::Column::Id.eq(id))
        .filter(deliveries::Column::Status.eq("pending"))
        .filter(deliveries::Column::Attempts.eq(attempt))
        .exec(db)
        .await?
        .rows_affected;
    if claimed != 1 {
        return Ok(());
    }
    let result = deliver_claimed(db, broker, sender, keyring, scope, d, attempt).await;
    if result.is_err() {
        // Our side failed before the attempt was recorded: give the attempt back, so the
        // job's retry makes it.
        let _ = scope
            .update_many::<deliveries::Entity>()
            .col_expr(deliveries::Column::Attempts, Expr::value(attempt))
            .filter(deliveries::Column::Id.eq(id))
            .filter(deliveries::Column::Status.eq("pending"))
            .filter(deliveries::Column::Attempts.eq(attempt + 1))
            .exec(db)
            .await;
    }
    result
}

/// One claimed attempt: send, then record it (and schedule the next one).
async fn deliver_claimed(
    db: &DatabaseConnection,
    broker: &crate::realtime::SharedBroker,
    sender: &Sender,
    keyring: &Keyring,
    scope: Scoped,
    d: deliveries::Model,
    attempt: i32,
) -> Result<(), AppError> {
    let id = d.id;
    let endpoint = scope
        .live_by_id::<endpoints::Entity>(d.endpoint_id)
        .one(db)
        .await?;
    let Some(endpoint) = endpoint.filter(|e| e.is_enabled) else {
        scope
            .update_many::<deliveries::Entity>()
            .col_expr(deliveries::Column::Status, Expr::value("failed"))
            .col_expr(
                deliveries::Column::LastError,
                Expr::value("the endpoint was disabled or deleted"),
            )
            .col_expr(
                deliveries::Column::NextAttemptAt,
                Expr::value(Option::<chrono::DateTime<chrono::FixedOffset>>::None),
            )
            .col_expr(deliveries::Column::UpdatedAt, Expr::value(now()))
            .filter(deliveries::Column::Id.eq(id))
            .exec(db)
            .await?;
        return Ok(());
    };
    let secret = keyring
        .decrypt(
            &endpoint.secret_encrypted,
            &aad(endpoint.organization_id, endpoint.id),
        )
        .map_err(|e| AppError::Internal(format!("webhook endpoint {}: {e}", endpoint.id)))?;
    let secret = String::from_utf8(secret)
        .map_err(|_| AppError::Internal("a webhook secret is not text".into()))?;
    let timestamp = chrono::Utc::now().timestamp();
    let signature = sign(&secret, &d.message_id, timestamp, &d.payload)?;
    let result = send_once(
        sender,
        &endpoint.url,
        [
            ("webhook-id", d.message_id.clone()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature),
        ],
        d.payload.clone(),
    )
    .await;
    let attempts = attempt + 1;
    let ok = result.status.is_some_and(|s| (200..300).contains(&s));
    let gone = result.status == Some(410);
    let t = now();
    let retry_in = (!ok && !gone)
        .then(|| RETRY_AFTER.get(usize::try_from(attempt).unwrap_or(usize::MAX)))
        .flatten();
    let status = match (ok, retry_in) {
        (true, _) => "succeeded",
        (false, Some(_)) => "pending",
        (false, None) => "failed",
    };
    let next = retry_in.map(|wait| t + chrono::Duration::from_std(*wait).unwrap_or_default());
    let txn = crate::db::write_txn(db).await?;
    let mut outbox = crate::realtime::Outbox::new();
    // Recorded only if this attempt is still the delivery's latest (not reset meanwhile).
    let current = scope.by_id::<deliveries::Entity>(id);
    let current = if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        sea_orm::QuerySelect::lock(current, sea_orm::sea_query::LockType::Update)
    } else {
        current
    };
    let Some(d) = current.one(&txn).await? else {
        return Ok(());
    };
    if d.status != "pending" || d.attempts != attempts {
        txn.commit().await?;
        return Ok(());
    }
    let mut a: deliveries::ActiveModel = d.clone().into();
    a.status = Set(status.into());
    a.attempts = Set(attempts);
    a.last_status_code = Set(result.status.map(i32::from));
    a.last_error = Set(result.error.clone());
    a.last_response = Set(result.response);
    a.last_duration_ms = Set(Some(result.millis));
    a.next_attempt_at = Set(next);
    a.delivered_at = Set(ok.then_some(t));
    a.updated_at = Set(t);
    a.update(&txn).await?;
    let mut e: endpoints::ActiveModel = endpoint.clone().into();
    let mut disable: Option<String> = None;
    if ok {
        e.failing_since = Set(None);
    } else if gone {
        disable = Some("the endpoint answered 410 Gone".into());
    } else {
        let since = endpoint.failing_since.unwrap_or(t);
        e.failing_since = Set(Some(since));
        if t - since >= DISABLE_AFTER {
            disable = Some(format!(
                "every delivery failed since {}",
                since
                    .to_utc()
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ));
        }
    }
    if let Some(reason) = &disable {
        e.is_enabled = Set(false);
        e.disabled_reason = Set(Some(reason.clone()));
        let admins: Vec<Uuid> = super::users::active_admins(scope)
            .all(&txn)
            .await?
            .into_iter()
            .map(|u| u.id)
            .collect();
        let items = admins
            .into_iter()
            .map(|u| {
                super::notifications::NewNotification::new(
                    u,
                    crate::domain::enums::NotificationType::Warning,
                    "A webhook endpoint was disabled",
                    format!("{} was disabled: {reason}.", endpoint.url),
                    json!({ "webhookEndpointId": endpoint.id }),
                )
            })
            .collect();
        super::notifications::notify(&txn, &mut outbox, scope.organization_id(), items).await?;
    }
    if e.is_changed() {
        e.updated_at = Set(t);
        e.update(&txn).await?;
    }
    if let Some(at) = next {
        let job = crate::jobs::kinds::DeliverWebhook {
            organization_id: scope.organization_id(),
            delivery_id: id,
            attempt: attempts,
        };
        let opts = crate::jobs::Enqueue {
            run_at: Some(at.to_utc()),
            unique_key: None,
        };
        crate::jobs::enqueue_system(&txn, &job, opts).await?;
    }
    outbox.commit(txn, broker.as_ref()).await?;
    Ok(())
}

/// What `plugs keys rotate` did.
#[derive(Debug, Default)]
pub struct Rotation {
    /// Secrets re-encrypted with the current key.
    pub rotated: u64,
    /// Rows no configured key decrypts (left as they are; the command fails naming them).
    pub failed: Vec<Uuid>,
}

/// Re-encrypts, with the current key, every secret at rest (webhook secrets, integration
/// credentials) encrypted with another one.
pub async fn reencrypt(db: &DatabaseConnection, keyring: &Keyring) -> Result<Rotation, AppError> {
    let mut report = Rotation::default();
    #[expect(
        clippy::disallowed_methods,
        reason = "key rotation re-encrypts every organization's secrets"
    )]
    let all = endpoints::Entity::find().all(db).await?;
    for e in all {
        if !keyring.is_stale(&e.secret_encrypted) {
            continue;
        }
        let where_ = aad(e.organization_id, e.id);
        let Ok(plain) = keyring.decrypt(&e.secret_encrypted, &where_) else {
            report.failed.push(e.id);
            continue;
        };
        let mut a: endpoints::ActiveModel = e.into();
        a.secret_encrypted = Set(keyring.encrypt(&plain, &where_));
        a.update(db).await?;
        report.rotated += 1;
    }
    #[expect(
        clippy::disallowed_methods,
        reason = "key rotation re-encrypts every organization's secrets"
    )]
    let all = crate::entities::integrations::Entity::find()
        .all(db)
        .await?;
    for i in all {
        let Some(c) = i.credentials.get("ciphertext").and_then(Value::as_str) else {
            continue;
        };
        if !keyring.is_stale(c) {
            continue;
        }
        let where_ = format!("integrations/{}/{}", i.organization_id, i.provider);
        let Ok(plain) = keyring.decrypt(c, &where_) else {
            report.failed.push(i.id);
            continue;
        };
        let mut a: crate::entities::integrations::ActiveModel = i.into();
        a.credentials = Set(json!({ "ciphertext": keyring.encrypt(&plain, &where_) }));
        a.update(db).await?;
        report.rotated += 1;
    }
    Ok(report)
}
