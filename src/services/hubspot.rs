//! Two-way contact sync with HubSpot's CRM v3 API (`objects/contacts`).
//!
//! A run (`syncIntegration`, or every `settings.syncIntervalMinutes`) is one `integration_logs`
//! row: QUEUED, RUNNING, then SUCCESS, PARTIAL (some records failed) or FAILED.
//!
//! - Pull: HubSpot contacts modified since the last sync (`search` on `lastmodifieddate`,
//!   paged), matched to ours by e-mail (case-insensitive). A new e-mail creates a contact; a
//!   known one takes HubSpot's values unless ours changed later (last change wins).
//! - Push: our contacts with an e-mail changed since they were last synced (or never synced)
//!   and not just pulled: updated in HubSpot when it knows them (by id, or found by e-mail),
//!   created otherwise, in batches of 100.
//! - Mapping: firstname, lastname, email, phone, company, jobtitle. A HubSpot contact without a
//!   name gets the e-mail's local part as first name and `-` as last name.
//! - Each synced contact keeps `metadata.hubspot = { id, syncedAt }`; a contact is "changed
//!   since synced" when its `updatedAt` is later than `syncedAt`.
//! - 429: waits `Retry-After` (at most 30 s) and tries again, five times at most. 401/403: the
//!   integration's status becomes ERROR with HubSpot's reason, and the run FAILED.
//! - Writes go through the contact service (validated, audited, announced by webhooks) as the
//!   admin who asked for the run (a scheduled run: the longest-standing active admin).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, QueryFilter, QueryOrder,
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::contacts::{self, ContactPatch};
use super::work::Store;
use super::{Actor, Change, now};
use crate::crypto::Keyring;
use crate::db::scoped::Scoped;
use crate::domain::enums::{DbEnum, IntegrationLogStatus, IntegrationStatus};
use crate::entities::{contacts as contact_rows, integration_logs, integrations, users};
use crate::error::AppError;

const PROPERTIES: [&str; 7] = [
    "email",
    "firstname",
    "lastname",
    "phone",
    "company",
    "jobtitle",
    "lastmodifieddate",
];
const PAGE: usize = 100;
const MAX_RETRIES: u32 = 5;

/// Why a call (and so a run) stopped.
pub(crate) enum Stop {
    /// HubSpot refused the token.
    Refused(String),
    /// HubSpot or the network failed (429 beyond the retries, 5xx, unreachable).
    Failed(String),
    Ours(AppError),
}

impl From<AppError> for Stop {
    fn from(e: AppError) -> Self {
        Stop::Ours(e)
    }
}

impl From<sea_orm::DbErr> for Stop {
    fn from(e: sea_orm::DbErr) -> Self {
        Stop::Ours(e.into())
    }
}

/// HubSpot's API as one integration reaches it.
pub(crate) struct Api {
    client: &'static reqwest::Client,
    base: String,
    token: String,
    allow_private: bool,
    /// 429s waited out per call before giving up.
    retries: u32,
}

impl Api {
    /// The integration's base URL (`settings.baseUrl`, else HubSpot's) and token.
    pub(crate) fn for_integration(
        row: &integrations::Model,
        credentials: &Value,
        allow_private: bool,
        retries: u32,
    ) -> Api {
        Api {
            client: super::webhooks::Sender::shared(allow_private).client(),
            base: row.settings["baseUrl"]
                .as_str()
                .unwrap_or(super::integrations::HUBSPOT_API)
                .trim_end_matches('/')
                .to_owned(),
            token: credentials["accessToken"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            allow_private,
            retries,
        }
    }

    /// POSTs `body` to `path`, waiting out 429s; the JSON answer.
    pub(crate) async fn post(&self, path: &str, body: &Value) -> Result<Value, Stop> {
        let url = super::webhooks::parse_url(&format!("{}{path}", self.base))
            .map_err(|e| Stop::Failed(e.public_message()))?;
        super::webhooks::check_destination(&url, self.allow_private)
            .await
            .map_err(|e| Stop::Failed(e.public_message()))?;
        let mut tries = 0;
        loop {
            let resp = self
                .client
                .post(url.clone())
                .bearer_auth(&self.token)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .map_err(|e| {
                    Stop::Failed(format!(
                        "HubSpot could not be reached: {}",
                        crate::error::chain(&e)
                    ))
                })?;
            let code = resp.status().as_u16();
            if code == 429 && tries < self.retries {
                tries += 1;
                let wait = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(1)
                    .min(30);
                tokio::time::sleep(Duration::from_secs(wait)).await;
                continue;
            }
            let text = resp.text().await.unwrap_or_default();
            let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            return match code {
                200..=299 => Ok(answer),
                401 | 403 => Err(Stop::Refused(format!(
                    "HubSpot refused the token ({code}): {}",
                    answer["message"].as_str().unwrap_or("no reason given")
                ))),
                429 => Err(Stop::Failed(format!(
                    "HubSpot answered 429 (rate limited) after {} wait(s)",
                    self.retries
                ))),
                _ => Err(Stop::Failed(format!(
                    "HubSpot answered {code} to {path}: {}",
                    answer["message"].as_str().unwrap_or("")
                ))),
            };
        }
    }
}

/// A HubSpot contact as the sync reads it.
struct Remote {
    id: String,
    email: String,
    props: Value,
    modified: Option<DateTime<Utc>>,
}

fn remote(v: &Value) -> Option<Remote> {
    let props = v["properties"].clone();
    let email = props["email"].as_str()?.trim().to_lowercase();
    if email.is_empty() {
        return None;
    }
    let modified = props["lastmodifieddate"]
        .as_str()
        .or(v["updatedAt"].as_str())
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.to_utc());
    Some(Remote {
        id: v["id"].as_str()?.to_owned(),
        email,
        props,
        modified,
    })
}

fn text(props: &Value, key: &str) -> Option<String> {
    props[key]
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Our fields from HubSpot's properties (a missing property clears ours, but the name).
fn patch_from(r: &Remote) -> ContactPatch {
    let set = |v: Option<String>| v.map_or(Change::Clear, Change::Set);
    ContactPatch {
        first_name: Some(
            text(&r.props, "firstname")
                .unwrap_or_else(|| r.email.split('@').next().unwrap_or("-").to_owned()),
        ),
        last_name: Some(text(&r.props, "lastname").unwrap_or_else(|| "-".to_owned())),
        email: Change::Set(r.email.clone()),
        phone: set(text(&r.props, "phone")),
        company: set(text(&r.props, "company")),
        job_title: set(text(&r.props, "jobtitle")),
        ..Default::default()
    }
}

/// Whether our contact already holds HubSpot's values.
fn same(local: &contact_rows::Model, r: &Remote) -> bool {
    let p = patch_from(r);
    let eq = |ours: &Option<String>, theirs: &Change<String>| match theirs {
        Change::Set(v) => ours.as_deref() == Some(v.as_str()),
        Change::Clear => ours.is_none(),
        Change::Keep => true,
    };
    Some(local.first_name.clone()) == p.first_name
        && Some(local.last_name.clone()) == p.last_name
        && eq(&local.phone, &p.phone)
        && eq(&local.company, &p.company)
        && eq(&local.job_title, &p.job_title)
}

/// HubSpot's properties from our contact.
fn properties(c: &contact_rows::Model) -> Value {
    json!({
        "email": c.email,
        "firstname": c.first_name,
        "lastname": c.last_name,
        "phone": c.phone.clone().unwrap_or_default(),
        "company": c.company.clone().unwrap_or_default(),
        "jobtitle": c.job_title.clone().unwrap_or_default(),
    })
}

/// When the contact was last synced (`metadata.hubspot.syncedAt`).
fn synced_at(c: &contact_rows::Model) -> Option<DateTime<FixedOffset>> {
    c.metadata["hubspot"]["syncedAt"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
}

fn changed_since_synced(c: &contact_rows::Model) -> bool {
    synced_at(c).is_none_or(|s| c.updated_at > s)
}

/// Records `metadata.hubspot = { id, syncedAt: updatedAt }` without touching `updatedAt`.
async fn mark_synced(
    db: &DatabaseConnection,
    scope: Scoped,
    c: &contact_rows::Model,
    hubspot_id: &str,
) -> Result<(), AppError> {
    let mut metadata = c.metadata.clone();
    if !metadata.is_object() {
        metadata = json!({});
    }
    metadata["hubspot"] = json!({
        "id": hubspot_id,
        "syncedAt": c.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    });
    scope
        .update_many::<contact_rows::Entity>()
        .col_expr(contact_rows::Column::Metadata, Expr::value(metadata))
        .filter(contact_rows::Column::Id.eq(c.id))
        .exec(db)
        .await?;
    Ok(())
}

#[derive(Default)]
struct Tally {
    pulled_created: u32,
    pulled_updated: u32,
    pushed_created: u32,
    pushed_updated: u32,
    unchanged: u32,
    failed: Vec<Value>,
}

/// The admin a run writes as: `requested_by` while an active admin, else the organization's
/// longest-standing active admin.
async fn writer(
    db: &DatabaseConnection,
    scope: Scoped,
    requested_by: Option<Uuid>,
) -> Result<Option<Actor>, AppError> {
    let admins = super::users::active_admins(scope)
        .order_by_asc(users::Column::CreatedAt)
        .all(db)
        .await?;
    let chosen = admins
        .iter()
        .find(|u| Some(u.id) == requested_by)
        .or(admins.first());
    Ok(chosen.map(|u| Actor {
        user_id: u.id,
        organization_id: scope.organization_id(),
        is_admin: true,
        session_id: Uuid::nil(),
        meta: Default::default(),
        two_factor_setup: false,
    }))
}

/// Sets a log row's outcome.
async fn finish(
    db: &DatabaseConnection,
    log: &integration_logs::Model,
    status: IntegrationLogStatus,
    message: String,
    tally: &Tally,
) -> Result<(), AppError> {
    let mut a: integration_logs::ActiveModel = log.clone().into();
    a.status = Set(status.as_str().into());
    a.message = Set(Some(message));
    a.completed_at = Set(Some(now()));
    let processed = tally.pulled_created
        + tally.pulled_updated
        + tally.pushed_created
        + tally.pushed_updated
        + tally.unchanged;
    a.records_processed = Set(i32::try_from(processed).unwrap_or(i32::MAX));
    a.records_failed = Set(i32::try_from(tally.failed.len()).unwrap_or(i32::MAX));
    a.response_data = Set(Some(json!({
        "pulledCreated": tally.pulled_created,
        "pulledUpdated": tally.pulled_updated,
        "pushedCreated": tally.pushed_created,
        "pushedUpdated": tally.pushed_updated,
        "unchanged": tally.unchanged,
    })));
    if !tally.failed.is_empty() {
        a.error_details = Set(Some(json!({ "records": tally.failed })));
    }
    a.update(db).await?;
    Ok(())
}

/// One run: the job's work for the log row `log_id` of integration `id`.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    db: &DatabaseConnection,
    broker: &crate::realtime::SharedBroker,
    keyring: &Keyring,
    allow_private: bool,
    scope: Scoped,
    id: Uuid,
    log_id: Uuid,
    requested_by: Option<Uuid>,
) -> Result<(), AppError> {
    let Some(log) = scope
        .by_id::<integration_logs::Entity>(log_id)
        .one(db)
        .await?
    else {
        return Ok(());
    };
    if log.status != IntegrationLogStatus::Queued.as_str()
        && log.status != IntegrationLogStatus::Running.as_str()
    {
        return Ok(());
    }
    let mut tally = Tally::default();
    let integration = scope.live_by_id::<integrations::Entity>(id).one(db).await?;
    let Some(integration) =
        integration.filter(|i| i.is_active && i.status != IntegrationStatus::Disconnected.as_str())
    else {
        let msg = "the integration is deleted, inactive or disconnected".to_owned();
        return finish(db, &log, IntegrationLogStatus::Failed, msg, &tally).await;
    };
    let Some(credentials) = super::integrations::open(keyring, &integration)? else {
        let msg = "the integration has no credentials".to_owned();
        return finish(db, &log, IntegrationLogStatus::Failed, msg, &tally).await;
    };
    let Some(actor) = writer(db, scope, requested_by).await? else {
        let msg = "the organization has no active admin to write as".to_owned();
        return finish(db, &log, IntegrationLogStatus::Failed, msg, &tally).await;
    };
    let started = now();
    let mut running: integration_logs::ActiveModel = log.clone().into();
    running.status = Set(IntegrationLogStatus::Running.as_str().into());
    running.started_at = Set(started);
    let log = running.update(db).await?;
    let api = Api::for_integration(&integration, &credentials, allow_private, MAX_RETRIES);
    let store = Store {
        db,
        broker: broker.as_ref(),
    };
    let outcome = sync(
        &api,
        store,
        scope,
        &actor,
        integration.last_sync,
        &mut tally,
    )
    .await;
    let (status, message, integration_status, error) = match outcome {
        Ok(()) if tally.failed.is_empty() => (
            IntegrationLogStatus::Success,
            "synced".to_owned(),
            IntegrationStatus::Connected,
            None,
        ),
        Ok(()) => (
            IntegrationLogStatus::Partial,
            format!("synced; {} record(s) failed", tally.failed.len()),
            IntegrationStatus::Connected,
            None,
        ),
        Err(Stop::Refused(m)) => (
            IntegrationLogStatus::Failed,
            m.clone(),
            IntegrationStatus::Error,
            Some(m),
        ),
        Err(Stop::Failed(m)) => (
            IntegrationLogStatus::Failed,
            m,
            IntegrationStatus::from_db(&integration.status)?,
            None,
        ),
        Err(Stop::Ours(e)) => {
            let m = format!("the sync failed on our side: {}", e.public_message());
            finish(db, &log, IntegrationLogStatus::Failed, m, &tally).await?;
            return Err(e);
        }
    };
    finish(db, &log, status, message, &tally).await?;
    let mut a: integrations::ActiveModel = integration.clone().into();
    a.status = Set(integration_status.as_str().into());
    a.metadata = Set(super::integrations::with_error(
        &integration.metadata,
        error.as_deref(),
    ));
    if status != IntegrationLogStatus::Failed {
        // Changes made while this run went are picked up by the next one.
        a.last_sync = Set(Some(started));
    }
    a.updated_at = Set(now());
    a.update(db).await?;
    Ok(())
}

async fn sync(
    api: &Api,
    store: Store<'_>,
    scope: Scoped,
    actor: &Actor,
    since: Option<DateTime<FixedOffset>>,
    tally: &mut Tally,
) -> Result<(), Stop> {
    let db = store.db;
    // Pull.
    let mut pulled: HashSet<Uuid> = HashSet::new();
    let mut after: Option<String> = None;
    loop {
        let mut body = json!({
            "properties": PROPERTIES,
            "sorts": [{ "propertyName": "lastmodifieddate", "direction": "ASCENDING" }],
            "limit": PAGE,
        });
        if let Some(s) = since {
            body["filterGroups"] = json!([{ "filters": [{
                "propertyName": "lastmodifieddate",
                "operator": "GTE",
                "value": s.timestamp_millis().to_string(),
            }] }]);
        }
        if let Some(a) = &after {
            body["after"] = json!(a);
        }
        let page = api.post("/crm/v3/objects/contacts/search", &body).await?;
        for r in page["results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(remote)
        {
            let local = scope
                .live::<contact_rows::Entity>()
                .filter(contact_rows::Column::Email.eq(r.email.clone()))
                .one(db)
                .await?;
            let written = match local {
                Some(c) if same(&c, &r) => {
                    tally.unchanged += 1;
                    if synced_at(&c).is_none() || c.metadata["hubspot"]["id"] != json!(r.id) {
                        mark_synced(db, scope, &c, &r.id).await?;
                    }
                    pulled.insert(c.id);
                    continue;
                }
                Some(c)
                    if changed_since_synced(&c)
                        && r.modified.is_some_and(|m| c.updated_at.to_utc() > m) =>
                {
                    // Ours changed later: ours wins, pushed below.
                    continue;
                }
                Some(c) => {
                    let done = contacts::update(store, actor, c.id, patch_from(&r)).await;
                    if done.is_ok() {
                        tally.pulled_updated += 1;
                    }
                    done
                }
                None => {
                    let done = contacts::create(store, actor, None, patch_from(&r)).await;
                    if done.is_ok() {
                        tally.pulled_created += 1;
                    }
                    done
                }
            };
            match written {
                Ok(c) => {
                    mark_synced(db, scope, &c, &r.id).await?;
                    pulled.insert(c.id);
                }
                Err(e) => tally.failed.push(json!({
                    "hubspotId": r.id,
                    "email": r.email,
                    "error": e.public_message(),
                })),
            }
        }
        match page["paging"]["next"]["after"].as_str() {
            Some(a) if !a.is_empty() => after = Some(a.to_owned()),
            _ => break,
        }
    }

    // Push.
    let mut q = scope
        .live::<contact_rows::Entity>()
        .filter(contact_rows::Column::Email.is_not_null());
    if let Some(s) = since {
        q = q.filter(contact_rows::Column::UpdatedAt.gte(s));
    }
    let candidates: Vec<contact_rows::Model> = q
        .order_by_asc(contact_rows::Column::UpdatedAt)
        .all(db)
        .await?
        .into_iter()
        .filter(|c| !pulled.contains(&c.id) && changed_since_synced(c))
        .collect();
    for batch in candidates.chunks(PAGE) {
        // HubSpot ids: ours from the last sync, or found by e-mail.
        let unknown: Vec<String> = batch
            .iter()
            .filter(|c| c.metadata["hubspot"]["id"].as_str().is_none())
            .filter_map(|c| c.email.clone())
            .collect();
        let mut by_email: HashMap<String, String> = HashMap::new();
        if !unknown.is_empty() {
            let found = api
                .post(
                    "/crm/v3/objects/contacts/search",
                    &json!({
                        "filterGroups": [{ "filters": [{ "propertyName": "email", "operator": "IN", "values": unknown }] }],
                        "properties": ["email"],
                        "limit": PAGE,
                    }),
                )
                .await?;
            for r in found["results"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(remote)
            {
                by_email.insert(r.email, r.id);
            }
        }
        let mut updates = Vec::new();
        let mut creates = Vec::new();
        for c in batch {
            let id = c.metadata["hubspot"]["id"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| c.email.as_ref().and_then(|e| by_email.get(e).cloned()));
            match id {
                Some(id) => updates.push((c, id)),
                None => creates.push(c),
            }
        }
        if !updates.is_empty() {
            let inputs: Vec<Value> = updates
                .iter()
                .map(|(c, id)| json!({ "id": id, "properties": properties(c) }))
                .collect();
            api.post(
                "/crm/v3/objects/contacts/batch/update",
                &json!({ "inputs": inputs }),
            )
            .await?;
            for (c, id) in &updates {
                mark_synced(db, scope, c, id).await?;
                tally.pushed_updated += 1;
            }
        }
        if !creates.is_empty() {
            let inputs: Vec<Value> = creates
                .iter()
                .map(|c| json!({ "properties": properties(c) }))
                .collect();
            let made = api
                .post(
                    "/crm/v3/objects/contacts/batch/create",
                    &json!({ "inputs": inputs }),
                )
                .await?;
            let ids: HashMap<String, String> = made["results"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(remote)
                .map(|r| (r.email, r.id))
                .collect();
            for c in &creates {
                match c.email.as_ref().and_then(|e| ids.get(e)) {
                    Some(id) => {
                        mark_synced(db, scope, c, id).await?;
                        tally.pushed_created += 1;
                    }
                    None => tally.failed.push(json!({
                        "contactId": c.id,
                        "email": c.email,
                        "error": "HubSpot did not return the created contact",
                    })),
                }
            }
        }
    }
    Ok(())
}
