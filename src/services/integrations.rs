//! Integrations (admins): connections to outside tools, one per provider and organization.
//! Credentials are write-only: encrypted at rest (`crypto::Keyring`, bound to the
//! organization and provider, so a ciphertext copied to another row does not decrypt), never
//! returned, never in audit rows (`audit` drops `credentials`), never in messages.
//!
//! HubSpot is the provider with a client (`testIntegration` asks its CRM v3 API who it is
//! talking to; the base URL is a setting, so tests run against a local fake). Mailchimp, Zoom
//! and Teams stay valid values, but connecting one is refused: nothing would use it.
//!
//! The table's unique `(organization_id, provider)` holds deleted rows too, so connecting a
//! provider again reuses its row (restoring it) rather than failing.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, QueryFilter, QueryOrder,
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::work::{Store, Work, missing};
use super::{Actor, now};
use crate::crypto::Keyring;
use crate::db::pagination::{Keyset, Page, PageArgs, SortKind, SortValue, paginate};
use crate::domain::enums::{
    DbEnum, IntegrationLogStatus, IntegrationOperation, IntegrationProvider, IntegrationStatus,
    IntegrationType,
};
use crate::entities::{integration_logs, integrations};
use crate::error::AppError;

/// HubSpot's API when the settings name no other (`settings.baseUrl`).
pub const HUBSPOT_API: &str = "https://api.hubapi.com";

/// Where an integration's credentials belong.
fn aad(org: Uuid, provider: &str) -> String {
    format!("integrations/{org}/{provider}")
}

/// The stored form of credentials: `{ "ciphertext": "<key id>:<...>" }`, or `{}` once
/// disconnected.
fn seal(keyring: &Keyring, org: Uuid, provider: &str, credentials: &Value) -> Value {
    json!({ "ciphertext": keyring.encrypt(credentials.to_string().as_bytes(), &aad(org, provider)) })
}

/// The credentials of a row, decrypted; `None` when it has none (disconnected).
pub fn open(keyring: &Keyring, row: &integrations::Model) -> Result<Option<Value>, AppError> {
    let Some(c) = row.credentials.get("ciphertext").and_then(Value::as_str) else {
        return Ok(None);
    };
    let plain = keyring
        .decrypt(c, &aad(row.organization_id, &row.provider))
        .map_err(|e| AppError::Internal(format!("integration {}: {e}", row.id)))?;
    serde_json::from_slice(&plain).map(Some).map_err(|_| {
        AppError::Internal(format!("integration {}: credentials are not JSON", row.id))
    })
}

fn type_of(p: IntegrationProvider) -> IntegrationType {
    match p {
        IntegrationProvider::Hubspot => IntegrationType::Crm,
        IntegrationProvider::Mailchimp => IntegrationType::Email,
        IntegrationProvider::Zoom | IntegrationProvider::Teams => IntegrationType::Video,
    }
}

/// Credentials a provider needs: HubSpot a private app's `accessToken`.
fn check_credentials(p: IntegrationProvider, c: &Value) -> Result<(), AppError> {
    let bad = |m: &str| AppError::bad_input("credentials", m);
    if !c.is_object() {
        return Err(bad("must be a JSON object"));
    }
    if c.to_string().len() > 8 * 1024 {
        return Err(bad("at most 8 KiB of JSON"));
    }
    match p {
        IntegrationProvider::Hubspot => match c.get("accessToken").and_then(Value::as_str) {
            Some(t) if !t.trim().is_empty() && t.len() <= 512 => Ok(()),
            _ => Err(bad(
                "HubSpot needs { \"accessToken\": \"<private app token>\" } (at most 512 characters)",
            )),
        },
        other => Err(AppError::bad_input(
            "provider",
            format!(
                "{} has no sync in The Plugs yet; only HUBSPOT can be connected",
                other.as_str()
            ),
        )),
    }
}

/// Settings a provider takes: HubSpot `baseUrl` (http(s), a public host unless private ones
/// are allowed) and `syncIntervalMinutes` (15 to 1440, or absent: on demand only).
async fn check_settings(
    p: IntegrationProvider,
    s: &Value,
    allow_private: bool,
) -> Result<(), AppError> {
    let bad = |m: String| AppError::bad_input("settings", m);
    if !s.is_object() {
        return Err(bad("must be a JSON object".into()));
    }
    if s.to_string().len() > 16 * 1024 {
        return Err(bad("at most 16 KiB of JSON".into()));
    }
    if p == IntegrationProvider::Hubspot {
        if let Some(u) = s.get("baseUrl") {
            let u = u
                .as_str()
                .ok_or_else(|| bad("baseUrl must be a URL".into()))?;
            let url = super::webhooks::parse_url(u)
                .map_err(|e| bad(format!("baseUrl: {}", e.public_message())))?;
            super::webhooks::check_destination(&url, allow_private)
                .await
                .map_err(|e| bad(format!("baseUrl: {}", e.public_message())))?;
        }
        if let Some(m) = s.get("syncIntervalMinutes")
            && !m.as_i64().is_some_and(|m| (15..=1440).contains(&m))
        {
            return Err(bad("syncIntervalMinutes must be 15 to 1440".into()));
        }
    }
    Ok(())
}

#[derive(Clone, Debug, Default)]
pub struct Connect {
    pub provider: Option<IntegrationProvider>,
    pub name: Option<String>,
    pub credentials: Option<Value>,
    pub settings: Option<Value>,
    pub is_active: Option<bool>,
}

/// What the API shows as the integration's name (`metadata.name`; the provider by default).
fn named(metadata: &Value, name: Option<String>) -> Result<Value, AppError> {
    let mut m = metadata.clone();
    if !m.is_object() {
        m = json!({});
    }
    if let Some(n) = name {
        m["name"] = json!(super::validate::required("name", &n, 255)?);
    }
    Ok(m)
}

/// Admins: connects a provider (HubSpot), or reconnects the organization's existing row of
/// it (restoring a deleted one). CONFLICT when it is already connected.
pub async fn connect(
    store: Store<'_>,
    keyring: &Keyring,
    allow_private: bool,
    actor: &Actor,
    input: Connect,
) -> Result<integrations::Model, AppError> {
    actor.admin()?;
    let provider = input
        .provider
        .ok_or_else(|| AppError::bad_input("provider", "is required"))?;
    let credentials = input
        .credentials
        .ok_or_else(|| AppError::bad_input("credentials", "is required"))?;
    check_credentials(provider, &credentials)?;
    let settings = input.settings.unwrap_or_else(|| json!({}));
    check_settings(provider, &settings, allow_private).await?;
    let org = actor.organization_id;
    let sealed = seal(keyring, org, provider.as_str(), &credentials);
    let w = Work::begin(store, actor).await?;
    let existing = w
        .lock(
            actor
                .scope()
                .find::<integrations::Entity>()
                .filter(integrations::Column::Provider.eq(provider.as_str())),
            sea_orm::sea_query::LockType::Update,
        )
        .one(&w.txn)
        .await?;
    let t = now();
    let row = match existing {
        Some(old) if !old.is_deleted && old.status == IntegrationStatus::Connected.as_str() => {
            return Err(AppError::Conflict {
                message: format!(
                    "{} is already connected: update it, or disconnect it first",
                    provider.as_str()
                ),
                field: Some("provider".into()),
            });
        }
        Some(old) => {
            let mut a: integrations::ActiveModel = old.clone().into();
            a.credentials = Set(sealed);
            a.settings = Set(settings);
            a.metadata = Set(named(&json!({}), input.name)?);
            a.status = Set(IntegrationStatus::Connected.as_str().into());
            a.is_active = Set(input.is_active.unwrap_or(true));
            a.is_deleted = Set(false);
            a.deleted_at = Set(None);
            a.updated_at = Set(t);
            let row = a.update(&w.txn).await?;
            w.audit::<integrations::Entity, _>(row.id, Some(&old), Some(&row))
                .await?;
            row
        }
        None => {
            let row = integrations::ActiveModel {
                id: Set(Uuid::new_v4()),
                organization_id: Set(org),
                provider: Set(provider.as_str().into()),
                integration_type: Set(type_of(provider).as_str().into()),
                credentials: Set(sealed),
                settings: Set(settings),
                is_active: Set(input.is_active.unwrap_or(true)),
                last_sync: Set(None),
                status: Set(IntegrationStatus::Connected.as_str().into()),
                metadata: Set(named(&json!({}), input.name)?),
                created_at: Set(t),
                updated_at: Set(t),
                is_deleted: Set(false),
                deleted_at: Set(None),
            }
            .insert(&w.txn)
            .await?;
            w.audit::<integrations::Entity, _>(row.id, None, Some(&row))
                .await?;
            row
        }
    };
    w.commit().await?;
    Ok(row)
}

/// Admins: new name, credentials (re-encrypted; the status goes back to CONNECTED), settings
/// or active flag.
pub async fn update(
    store: Store<'_>,
    keyring: &Keyring,
    allow_private: bool,
    actor: &Actor,
    id: Uuid,
    input: Connect,
) -> Result<integrations::Model, AppError> {
    actor.admin()?;
    let w = Work::begin(store, actor).await?;
    let old = w.locked::<integrations::Entity>(id).await?;
    let provider = IntegrationProvider::from_db(&old.provider)?;
    let mut a: integrations::ActiveModel = old.clone().into();
    if let Some(c) = input.credentials {
        check_credentials(provider, &c)?;
        a.credentials = Set(seal(keyring, old.organization_id, &old.provider, &c));
        a.status = Set(IntegrationStatus::Connected.as_str().into());
    }
    if let Some(s) = input.settings {
        check_settings(provider, &s, allow_private).await?;
        a.settings = Set(s);
    }
    if input.name.is_some() {
        a.metadata = Set(named(&old.metadata, input.name)?);
    }
    if let Some(on) = input.is_active {
        a.is_active = Set(on);
    }
    a.updated_at = Set(now());
    let row = a.update(&w.txn).await?;
    w.audit::<integrations::Entity, _>(id, Some(&old), Some(&row))
        .await?;
    w.commit().await?;
    Ok(row)
}

/// Admins: forgets the credentials; the row (and its logs) stay, DISCONNECTED.
pub async fn disconnect(
    store: Store<'_>,
    actor: &Actor,
    id: Uuid,
) -> Result<integrations::Model, AppError> {
    actor.admin()?;
    let w = Work::begin(store, actor).await?;
    let old = w.locked::<integrations::Entity>(id).await?;
    let mut a: integrations::ActiveModel = old.clone().into();
    a.credentials = Set(json!({}));
    a.status = Set(IntegrationStatus::Disconnected.as_str().into());
    a.updated_at = Set(now());
    let row = a.update(&w.txn).await?;
    w.audit::<integrations::Entity, _>(id, Some(&old), Some(&row))
        .await?;
    w.commit().await?;
    Ok(row)
}

/// Admins: soft delete or restore.
pub async fn set_deleted(
    store: Store<'_>,
    actor: &Actor,
    id: Uuid,
    deleted: bool,
) -> Result<integrations::Model, AppError> {
    actor.admin()?;
    let w = Work::begin(store, actor).await?;
    let row = w.set_deleted::<integrations::Entity>(id, deleted).await?;
    w.commit().await?;
    Ok(row)
}

/// Admins: the organization's live integrations, by provider.
pub async fn list(
    db: &DatabaseConnection,
    actor: &Actor,
) -> Result<Vec<integrations::Model>, AppError> {
    actor.admin()?;
    Ok(actor
        .scope()
        .live::<integrations::Entity>()
        .order_by_asc(integrations::Column::Provider)
        .all(db)
        .await?)
}

/// Admins: one live integration.
pub async fn get(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<Option<integrations::Model>, AppError> {
    actor.admin()?;
    Ok(actor
        .scope()
        .live_by_id::<integrations::Entity>(id)
        .one(db)
        .await?)
}

fn log_keyset() -> Keyset<integration_logs::Entity> {
    Keyset {
        name: "started_at desc",
        sort: integration_logs::Column::StartedAt,
        kind: SortKind::Time,
        nullable: false,
        id: integration_logs::Column::Id,
        direction: sea_orm::Order::Desc,
        value: |m| SortValue::Time(m.started_at.to_utc()),
        id_of: |m| m.id,
    }
}

/// Admins: an integration's runs, newest first.
pub async fn logs(
    db: &DatabaseConnection,
    actor: &Actor,
    integration: Uuid,
    args: &PageArgs,
) -> Result<Page<integration_logs::Model>, AppError> {
    actor.admin()?;
    let q = actor
        .scope()
        .find::<integration_logs::Entity>()
        .filter(integration_logs::Column::IntegrationId.eq(integration));
    paginate(db, q, &log_keyset(), args).await
}

/// Admins: queues a sync of a connected, active integration and returns its log row
/// (QUEUED). A sync already queued or running is returned instead of a second one.
pub async fn queue_sync(
    store: Store<'_>,
    actor: &Actor,
    id: Uuid,
) -> Result<integration_logs::Model, AppError> {
    actor.admin()?;
    let mut w = Work::begin(store, actor).await?;
    let row = w.locked::<integrations::Entity>(id).await?;
    if row.status == IntegrationStatus::Disconnected.as_str() || !row.is_active {
        return Err(AppError::bad_input(
            "id",
            "the integration is disconnected or inactive: connect or activate it first",
        ));
    }
    let open_run = actor
        .scope()
        .find::<integration_logs::Entity>()
        .filter(integration_logs::Column::IntegrationId.eq(id))
        .filter(integration_logs::Column::Status.is_in([
            IntegrationLogStatus::Queued.as_str(),
            IntegrationLogStatus::Running.as_str(),
        ]))
        .one(&w.txn)
        .await?;
    if let Some(log) = open_run {
        w.commit().await?;
        return Ok(log);
    }
    let log = new_log(actor.organization_id, id, Some(actor.user_id))
        .insert(&w.txn)
        .await?;
    w.audit::<integration_logs::Entity, _>(log.id, None, Some(&log))
        .await?;
    let job = crate::jobs::kinds::SyncIntegration {
        organization_id: actor.organization_id,
        integration_id: id,
        log_id: log.id,
        requested_by: Some(actor.user_id),
    };
    crate::jobs::enqueue(&mut w, &job, Default::default()).await?;
    w.commit().await?;
    Ok(log)
}

/// A QUEUED sync's log row.
pub fn new_log(
    organization_id: Uuid,
    integration_id: Uuid,
    requested_by: Option<Uuid>,
) -> integration_logs::ActiveModel {
    let t = now();
    integration_logs::ActiveModel {
        id: Set(Uuid::new_v4()),
        organization_id: Set(organization_id),
        integration_id: Set(integration_id),
        operation: Set(IntegrationOperation::Sync.as_str().into()),
        status: Set(IntegrationLogStatus::Queued.as_str().into()),
        message: Set(Some("queued".into())),
        request_data: Set(Some(json!({ "requestedBy": requested_by }))),
        response_data: Set(None),
        started_at: Set(t),
        completed_at: Set(None),
        records_processed: Set(0),
        records_failed: Set(0),
        error_details: Set(None),
        created_at: Set(t),
    }
}

/// A sync whose job was given up: its log row FAILED with the reason, if still open.
pub async fn give_up_sync(
    db: &DatabaseConnection,
    scope: crate::db::scoped::Scoped,
    log_id: Uuid,
    reason: &str,
) -> Result<(), AppError> {
    use sea_orm::sea_query::Expr;
    scope
        .update_many::<integration_logs::Entity>()
        .col_expr(
            integration_logs::Column::Status,
            Expr::value(IntegrationLogStatus::Failed.as_str()),
        )
        .col_expr(integration_logs::Column::Message, Expr::value(reason))
        .col_expr(integration_logs::Column::CompletedAt, Expr::value(now()))
        .filter(integration_logs::Column::Id.eq(log_id))
        .filter(integration_logs::Column::Status.is_in([
            IntegrationLogStatus::Queued.as_str(),
            IntegrationLogStatus::Running.as_str(),
        ]))
        .exec(db)
        .await?;
    Ok(())
}

/// Queues the syncs whose `settings.syncIntervalMinutes` slot has come, across organizations
/// (the scheduler; a slot's job is unique, so instances enqueue it once). Returns how many.
pub async fn schedule_due(
    db: &DatabaseConnection,
    now_utc: chrono::DateTime<chrono::Utc>,
) -> Result<usize, AppError> {
    use sea_orm::{EntityTrait, TransactionTrait};
    #[expect(
        clippy::disallowed_methods,
        reason = "the scheduler looks at every organization's integrations"
    )]
    let due = integrations::Entity::find()
        .filter(integrations::Column::IsDeleted.eq(false))
        .filter(integrations::Column::IsActive.eq(true))
        .filter(integrations::Column::Status.ne(IntegrationStatus::Disconnected.as_str()))
        .all(db)
        .await?;
    let mut added = 0;
    for i in due {
        let Some(minutes) = i.settings["syncIntervalMinutes"].as_u64() else {
            continue;
        };
        let every = std::time::Duration::from_secs(minutes.clamp(15, 1440) * 60);
        let (slot, _) = crate::jobs::schedule::slot(now_utc, every);
        let log = new_log(i.organization_id, i.id, None);
        let log_id = *log.id.as_ref();
        let job = crate::jobs::kinds::SyncIntegration {
            organization_id: i.organization_id,
            integration_id: i.id,
            log_id,
            requested_by: None,
        };
        let opts = crate::jobs::Enqueue {
            run_at: None,
            unique_key: Some(format!("integration.sync:{}@{slot}", i.id)),
        };
        let txn = db.begin().await?;
        if crate::jobs::enqueue_system(&txn, &job, opts).await? {
            log.insert(&txn).await?;
            txn.commit().await?;
            added += 1;
        }
    }
    Ok(added)
}

/// What `testIntegration` found.
pub struct TestResult {
    pub ok: bool,
    pub message: String,
    pub details: Value,
}

/// Admins: calls the provider with the stored credentials and says what it found. A refused
/// token sets the integration's status ERROR with the reason (and a working one CONNECTED).
pub async fn test(
    store: Store<'_>,
    keyring: &Keyring,
    allow_private: bool,
    actor: &Actor,
    id: Uuid,
) -> Result<TestResult, AppError> {
    actor.admin()?;
    let row = actor
        .scope()
        .live_by_id::<integrations::Entity>(id)
        .one(store.db)
        .await?
        .ok_or_else(missing::<integrations::Entity>)?;
    let Some(credentials) = open(keyring, &row)? else {
        return Ok(TestResult {
            ok: false,
            message: "the integration is disconnected: connect it with credentials first".into(),
            details: json!({}),
        });
    };
    use super::hubspot::{Api, Stop};
    // No waiting on a 429 here: the caller is waiting for an answer.
    let api = Api::for_integration(&row, &credentials, allow_private, 0);
    let current = IntegrationStatus::from_db(&row.status)?;
    let asked = api
        .post("/crm/v3/objects/contacts/search", &json!({ "limit": 1 }))
        .await;
    let (ok, message, details, status) = match asked {
        Ok(body) => (
            true,
            format!(
                "HubSpot answered: {} contact(s) visible to this token",
                body["total"].as_i64().unwrap_or(0)
            ),
            json!({ "total": body["total"] }),
            IntegrationStatus::Connected,
        ),
        Err(Stop::Refused(m)) => (false, m, json!({}), IntegrationStatus::Error),
        Err(Stop::Failed(m)) => (false, m, json!({}), current),
        Err(Stop::Ours(e)) => return Err(e),
    };
    if status.as_str() != row.status || (!ok && status == IntegrationStatus::Error) {
        let w = Work::begin(store, actor).await?;
        let old = w.locked::<integrations::Entity>(id).await?;
        let mut a: integrations::ActiveModel = old.clone().into();
        a.status = Set(status.as_str().into());
        a.metadata = Set(with_error(&old.metadata, (!ok).then_some(message.as_str())));
        a.updated_at = Set(now());
        let new = a.update(&w.txn).await?;
        w.audit::<integrations::Entity, _>(id, Some(&old), Some(&new))
            .await?;
        w.commit().await?;
    }
    Ok(TestResult {
        ok,
        message,
        details,
    })
}

/// An integration's metadata with `error` set to `error`, or without one.
pub(crate) fn with_error(metadata: &Value, error: Option<&str>) -> Value {
    let mut m = if metadata.is_object() {
        metadata.clone()
    } else {
        json!({})
    };
    match error {
        Some(e) => m["error"] = json!(e),
        None => {
            if let Some(o) = m.as_object_mut() {
                o.remove("error");
            }
        }
    }
    m
}
