//! Integrations: write-only encrypted credentials, one row per provider (reconnect reuses
//! it), testIntegration, and the HubSpot two-way sync against a fake HubSpot written here
//! (its CRM v3 contacts search, batch create and batch update; 429s on demand).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, error_code, error_field as field, spawn_app_with};

const TOKEN: &str = "pat-na1-good-token-0123456789";

#[derive(Clone, Debug)]
struct HsContact {
    id: String,
    props: serde_json::Map<String, Value>,
    modified: chrono::DateTime<chrono::Utc>,
}

#[derive(Default)]
struct Fake {
    contacts: Vec<HsContact>,
    next_id: u64,
    /// 429s still to answer.
    throttle: u32,
    requests: u32,
    throttled: u32,
}

#[derive(Clone)]
struct HubSpot {
    url: String,
    state: Arc<Mutex<Fake>>,
}

fn iso(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn as_json(c: &HsContact) -> Value {
    let mut props = c.props.clone();
    props.insert("lastmodifieddate".into(), json!(iso(c.modified)));
    json!({ "id": c.id, "properties": props, "updatedAt": iso(c.modified) })
}

impl HubSpot {
    async fn start() -> HubSpot {
        use axum::http::{HeaderMap, StatusCode};
        let state: Arc<Mutex<Fake>> = Arc::default();
        let guard = |s: &Arc<Mutex<Fake>>,
                     h: &HeaderMap|
         -> Option<(StatusCode, axum::Json<Value>)> {
            let mut f = s.lock().unwrap();
            f.requests += 1;
            if h.get("authorization").and_then(|v| v.to_str().ok())
                != Some(&format!("Bearer {TOKEN}"))
            {
                return Some((
                    StatusCode::UNAUTHORIZED,
                    axum::Json(
                        json!({ "status": "error", "message": "Authentication credentials not found.", "category": "INVALID_AUTHENTICATION" }),
                    ),
                ));
            }
            if f.throttle > 0 {
                f.throttle -= 1;
                f.throttled += 1;
                return Some((
                    StatusCode::TOO_MANY_REQUESTS,
                    axum::Json(json!({ "status": "error", "message": "rate limited" })),
                ));
            }
            None
        };
        let (s1, s2, s3) = (state.clone(), state.clone(), state.clone());
        let app = axum::Router::new()
            .route(
                "/crm/v3/objects/contacts/search",
                axum::routing::post(move |h: HeaderMap, axum::Json(body): axum::Json<Value>| {
                    let s = s1.clone();
                    async move {
                        if let Some(refused) = guard(&s, &h) {
                            return (refused.0, [("retry-after", "1")], refused.1);
                        }
                        let f = s.lock().unwrap();
                        let filters = body["filterGroups"][0]["filters"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default();
                        let mut found: Vec<&HsContact> = f
                            .contacts
                            .iter()
                            .filter(|c| {
                                filters.iter().all(|flt| {
                                    match (flt["propertyName"].as_str(), flt["operator"].as_str()) {
                                        (Some("lastmodifieddate"), Some("GTE")) => {
                                            let ms: i64 =
                                                flt["value"].as_str().unwrap().parse().unwrap();
                                            c.modified.timestamp_millis() >= ms
                                        }
                                        (Some("email"), Some("IN")) => flt["values"]
                                            .as_array()
                                            .unwrap()
                                            .iter()
                                            .any(|v| Some(v) == c.props.get("email")),
                                        other => {
                                            panic!("the fake does not know the filter {other:?}")
                                        }
                                    }
                                })
                            })
                            .collect();
                        found.sort_by_key(|c| c.modified);
                        let limit = body["limit"].as_u64().unwrap_or(10) as usize;
                        let start: usize = body["after"].as_str().map_or(0, |a| a.parse().unwrap());
                        let page: Vec<Value> = found
                            .iter()
                            .skip(start)
                            .take(limit)
                            .map(|c| as_json(c))
                            .collect();
                        let mut out = json!({ "total": found.len(), "results": page });
                        if start + limit < found.len() {
                            out["paging"] =
                                json!({ "next": { "after": (start + limit).to_string() } });
                        }
                        (StatusCode::OK, [("retry-after", "0")], axum::Json(out))
                    }
                }),
            )
            .route(
                "/crm/v3/objects/contacts/batch/create",
                axum::routing::post(move |h: HeaderMap, axum::Json(body): axum::Json<Value>| {
                    let s = s2.clone();
                    async move {
                        if let Some(refused) = guard(&s, &h) {
                            return (refused.0, [("retry-after", "1")], refused.1);
                        }
                        let mut f = s.lock().unwrap();
                        let mut results = Vec::new();
                        for input in body["inputs"].as_array().unwrap() {
                            f.next_id += 1;
                            let c = HsContact {
                                id: format!("hs-{}", f.next_id),
                                props: input["properties"].as_object().unwrap().clone(),
                                modified: chrono::Utc::now(),
                            };
                            results.push(as_json(&c));
                            f.contacts.push(c);
                        }
                        (
                            StatusCode::CREATED,
                            [("retry-after", "0")],
                            axum::Json(json!({ "status": "COMPLETE", "results": results })),
                        )
                    }
                }),
            )
            .route(
                "/crm/v3/objects/contacts/batch/update",
                axum::routing::post(move |h: HeaderMap, axum::Json(body): axum::Json<Value>| {
                    let s = s3.clone();
                    async move {
                        if let Some(refused) = guard(&s, &h) {
                            return (refused.0, [("retry-after", "1")], refused.1);
                        }
                        let mut f = s.lock().unwrap();
                        let mut results = Vec::new();
                        for input in body["inputs"].as_array().unwrap() {
                            let id = input["id"].as_str().unwrap();
                            let c = f
                                .contacts
                                .iter_mut()
                                .find(|c| c.id == id)
                                .expect("a known HubSpot id");
                            for (k, v) in input["properties"].as_object().unwrap() {
                                c.props.insert(k.clone(), v.clone());
                            }
                            c.modified = chrono::Utc::now();
                            results.push(as_json(c));
                        }
                        (
                            StatusCode::OK,
                            [("retry-after", "0")],
                            axum::Json(json!({ "status": "COMPLETE", "results": results })),
                        )
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        HubSpot {
            url: format!("http://{addr}"),
            state,
        }
    }

    /// A contact created (or changed) in HubSpot now.
    fn put(&self, email: &str, first: &str, last: &str, company: &str) -> String {
        let mut f = self.state.lock().unwrap();
        let now = chrono::Utc::now();
        if let Some(c) = f
            .contacts
            .iter_mut()
            .find(|c| c.props.get("email") == Some(&json!(email)))
        {
            c.props.insert("firstname".into(), json!(first));
            c.props.insert("lastname".into(), json!(last));
            c.props.insert("company".into(), json!(company));
            c.modified = now;
            return c.id.clone();
        }
        f.next_id += 1;
        let id = format!("hs-{}", f.next_id);
        let props =
            json!({ "email": email, "firstname": first, "lastname": last, "company": company });
        f.contacts.push(HsContact {
            id: id.clone(),
            props: props.as_object().unwrap().clone(),
            modified: now,
        });
        id
    }

    fn get(&self, email: &str) -> Option<HsContact> {
        self.state
            .lock()
            .unwrap()
            .contacts
            .iter()
            .find(|c| c.props.get("email") == Some(&json!(email)))
            .cloned()
    }
}

const CONNECT: &str = "mutation($i: ConnectIntegrationInput!) { connectIntegration(input: $i) { id name provider integrationType status isActive settings metadata lastSync } }";

async fn connect(app: &TestApp, s: &Session, base: &str, token: &str) -> Value {
    app.gql_as(
        &s.access,
        CONNECT,
        json!({ "i": { "provider": "HUBSPOT", "name": "Sales CRM", "credentials": { "accessToken": token }, "settings": { "baseUrl": base } } }),
    )
    .await
}

fn app_with_private() -> impl FnOnce(&mut plugs::config::Config) {
    |c| c.webhook_allow_private = true
}

#[tokio::test]
async fn credentials_are_write_only_and_a_provider_has_one_row_that_reconnecting_reuses() {
    let app = spawn_app_with(app_with_private()).await;
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    let hs = HubSpot::start().await;

    let body = connect(&app, &admin, &hs.url, TOKEN).await;
    assert!(body["errors"].is_null(), "{body}");
    let i = &body["data"]["connectIntegration"];
    assert_eq!(i["name"], "Sales CRM");
    assert_eq!(i["provider"], "HUBSPOT");
    assert_eq!(i["integrationType"], "CRM");
    assert_eq!(i["status"], "CONNECTED");
    let id = i["id"].as_str().unwrap().to_owned();

    // Members see none of it.
    let denied = app
        .gql_as(&member.access, "{ integrations { id } }", json!({}))
        .await;
    assert_eq!(error_code(&denied), Some("FORBIDDEN"), "{denied}");
    let denied = connect(&app, &member, &hs.url, TOKEN).await;
    assert_eq!(error_code(&denied), Some("FORBIDDEN"), "{denied}");

    // Connected already: CONFLICT; other providers and bad input are refused clearly.
    let again = connect(&app, &admin, &hs.url, TOKEN).await;
    assert_eq!(error_code(&again), Some("CONFLICT"), "{again}");
    for (input, f) in [
        (
            json!({ "provider": "MAILCHIMP", "credentials": { "apiKey": "x" } }),
            "provider",
        ),
        (
            json!({ "provider": "HUBSPOT", "credentials": { "token": "x" } }),
            "credentials",
        ),
        (
            json!({ "provider": "HUBSPOT", "credentials": [1] }),
            "credentials",
        ),
        (
            json!({ "provider": "HUBSPOT", "credentials": { "accessToken": "x" }, "settings": { "syncIntervalMinutes": 1 } }),
            "settings",
        ),
    ] {
        let body = app
            .gql_as(&admin.access, CONNECT, json!({ "i": input }))
            .await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{input}: {body}");
        assert_eq!(field(&body), Some(f), "{body}");
    }

    // The token is nowhere: not in answers, audit rows, or the database column.
    let everything = app
        .gql_as(
            &admin.access,
            "query($id: ID!) { integrations { id settings metadata } integration(id: $id) { id metadata }
               auditLogs(filter: { tableName: \"integrations\" }) { nodes { oldValues newValues } } }",
            json!({ "id": id }),
        )
        .await;
    assert!(everything["errors"].is_null(), "{everything}");
    assert!(
        !everything.to_string().contains(TOKEN),
        "the token leaked: {everything}"
    );
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let row = plugs::entities::integrations::Entity::find()
        .filter(plugs::entities::integrations::Column::Id.eq(id.parse::<uuid::Uuid>().unwrap()))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert!(
        !row.credentials.to_string().contains(TOKEN),
        "stored in the clear: {}",
        row.credentials
    );
    assert!(row.credentials["ciphertext"].is_string());

    // Disconnect forgets the credentials; reconnecting reuses the row; so does connecting
    // after a delete (the unique (organization, provider) holds deleted rows too).
    let off = app
        .gql_as(
            &admin.access,
            "mutation($id: ID!) { disconnectIntegration(id: $id) { status } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        off["data"]["disconnectIntegration"]["status"], "DISCONNECTED",
        "{off}"
    );
    let back = connect(&app, &admin, &hs.url, TOKEN).await;
    assert_eq!(
        back["data"]["connectIntegration"]["id"],
        id.as_str(),
        "{back}"
    );
    let del = app
        .gql_as(
            &admin.access,
            "mutation($id: ID!) { deleteIntegration(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert!(del["errors"].is_null(), "{del}");
    let listed = app
        .gql_as(&admin.access, "{ integrations { id } }", json!({}))
        .await;
    assert_eq!(listed["data"]["integrations"], json!([]));
    let reborn = connect(&app, &admin, &hs.url, TOKEN).await;
    assert_eq!(
        reborn["data"]["connectIntegration"]["id"],
        id.as_str(),
        "{reborn}"
    );
    assert_eq!(reborn["data"]["connectIntegration"]["status"], "CONNECTED");

    // testIntegration: a good token finds the account; a refused one sets ERROR with the reason.
    hs.put("a@x.io", "A", "B", "C");
    let test = "mutation($id: ID!) { testIntegration(id: $id) { ok message details } }";
    let good = app.gql_as(&admin.access, test, json!({ "id": id })).await;
    assert_eq!(good["data"]["testIntegration"]["ok"], true, "{good}");
    assert!(
        good["data"]["testIntegration"]["message"]
            .as_str()
            .unwrap()
            .contains("1 contact")
    );
    let upd = app
        .gql_as(&admin.access, "mutation($id: ID!) { updateIntegration(id: $id, input: { credentials: { accessToken: \"revoked\" } }) { status } }", json!({ "id": id }))
        .await;
    assert!(upd["errors"].is_null(), "{upd}");
    let bad = app.gql_as(&admin.access, test, json!({ "id": id })).await;
    assert_eq!(bad["data"]["testIntegration"]["ok"], false, "{bad}");
    let state = app
        .gql_as(
            &admin.access,
            "query($id: ID!) { integration(id: $id) { status metadata } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(state["data"]["integration"]["status"], "ERROR");
    assert!(
        state["data"]["integration"]["metadata"]["error"]
            .as_str()
            .unwrap()
            .contains("refused")
    );
}

/// Job workers for syncs only.
fn workers(app: &TestApp) -> tokio::sync::watch::Sender<bool> {
    let registry = plugs::jobs::Registry::default().with::<plugs::jobs::kinds::SyncIntegration>();
    app.job_workers(app.db.clone(), registry, 1, true)
}

/// Runs a sync and waits for its log row to finish.
async fn sync(app: &TestApp, s: &Session, id: &str) -> Value {
    let body = app
        .gql_as(
            &s.access,
            "mutation($id: ID!) { syncIntegration(id: $id) { id status operation } }",
            json!({ "id": id }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["syncIntegration"]["status"], "QUEUED");
    let log = body["data"]["syncIntegration"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..400 {
        let logs = app
            .gql_as(&s.access, "query($id: ID!) { integration(id: $id) { lastSync logs(first: 20) { nodes { id status message recordsProcessed recordsFailed responseData errorDetails completedAt } } } }", json!({ "id": id }))
            .await;
        let nodes = logs["data"]["integration"]["logs"]["nodes"]
            .as_array()
            .unwrap()
            .clone();
        if let Some(l) = nodes.iter().find(|l| l["id"] == log.as_str())
            && !l["completedAt"].is_null()
        {
            return l.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the sync did not finish");
}

async fn contact_by_email(app: &TestApp, s: &Session, email: &str) -> Value {
    let body = app
        .gql_as(&s.access, "query($q: String) { contacts(filter: { search: $q }) { nodes { id firstName lastName email company metadata updatedAt } } }", json!({ "q": email }))
        .await;
    body["data"]["contacts"]["nodes"][0].clone()
}

#[tokio::test]
async fn hubspot_sync_pulls_and_pushes_contacts_both_ways_with_last_change_winning() {
    let app = spawn_app_with(app_with_private()).await;
    let admin = app.register().await;
    let hs = HubSpot::start().await;
    let id = connect(&app, &admin, &hs.url, TOKEN).await["data"]["connectIntegration"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let stop = workers(&app);

    // HubSpot has 250 contacts (three pages); we have two, one of them also in HubSpot.
    for n in 0..250 {
        hs.put(
            &format!("hs{n}@example.com"),
            &format!("Hs{n}"),
            "Remote",
            "HubCo",
        );
    }
    hs.put("both@example.com", "Both", "Remote", "HubCo");
    for (first, email) in [("Local", "local@example.com"), ("Both", "both@example.com")] {
        let b = app
            .gql_as(&admin.access, "mutation($f: String!, $e: String) { createContact(input: { firstName: $f, lastName: \"Ours\", email: $e, company: \"OurCo\" }) { id } }", json!({ "f": first, "e": email }))
            .await;
        assert!(b["errors"].is_null(), "{b}");
    }
    let first = sync(&app, &admin, &id).await;
    assert_eq!(first["status"], "SUCCESS", "{first}");
    // 250 created here, "both" taken from HubSpot? No: ours changed later, so ours won and went
    // there; "local" created there.
    assert_eq!(first["responseData"]["pulledCreated"], 250, "{first}");
    assert_eq!(first["responseData"]["pushedCreated"], 1, "{first}");
    assert_eq!(first["responseData"]["pushedUpdated"], 1, "{first}");
    let hs42 = contact_by_email(&app, &admin, "hs42@example.com").await;
    assert_eq!(hs42["firstName"], "Hs42");
    assert_eq!(hs42["company"], "HubCo");
    assert!(hs42["metadata"]["hubspot"]["id"].is_string(), "{hs42}");
    assert_eq!(
        hs.get("local@example.com").unwrap().props["firstname"],
        "Local"
    );
    assert_eq!(
        hs.get("both@example.com").unwrap().props["company"],
        "OurCo",
        "ours was newer"
    );
    assert_eq!(hs.state.lock().unwrap().contacts.len(), 252);

    // A quiet second run changes nothing on either side.
    let quiet = sync(&app, &admin, &id).await;
    assert_eq!(quiet["status"], "SUCCESS", "{quiet}");
    let d = &quiet["responseData"];
    assert_eq!(
        (
            d["pulledCreated"].as_i64(),
            d["pulledUpdated"].as_i64(),
            d["pushedCreated"].as_i64(),
            d["pushedUpdated"].as_i64()
        ),
        (Some(0), Some(0), Some(0), Some(0)),
        "{quiet}"
    );

    // An edit on each side travels; a conflict goes to the later change.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let local = contact_by_email(&app, &admin, "local@example.com").await;
    let edit = |cid: &str, company: &str| {
        let (app, admin) = (&app, &admin);
        let (cid, company) = (cid.to_owned(), company.to_owned());
        async move {
            let b = app
                .gql_as(&admin.access, "mutation($id: ID!, $c: String) { updateContact(id: $id, input: { company: $c }) { id } }", json!({ "id": cid, "c": company }))
                .await;
            assert!(b["errors"].is_null(), "{b}");
        }
    };
    edit(local["id"].as_str().unwrap(), "Edited here").await;
    hs.put("hs7@example.com", "Hs7", "Remote", "Edited there");
    let both = contact_by_email(&app, &admin, "both@example.com").await;
    edit(both["id"].as_str().unwrap(), "Our late edit").await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    hs.put("both@example.com", "Both", "Remote", "Their later edit");
    let third = sync(&app, &admin, &id).await;
    assert_eq!(third["status"], "SUCCESS", "{third}");
    assert_eq!(
        hs.get("local@example.com").unwrap().props["company"],
        "Edited here"
    );
    assert_eq!(
        contact_by_email(&app, &admin, "hs7@example.com").await["company"],
        "Edited there"
    );
    assert_eq!(
        contact_by_email(&app, &admin, "both@example.com").await["company"],
        "Their later edit",
        "theirs was later"
    );
    assert_eq!(
        hs.get("both@example.com").unwrap().props["company"],
        "Their later edit"
    );
    stop.send(true).unwrap();
}

#[tokio::test]
async fn hubspot_sync_waits_out_429_and_a_refused_token_sets_error() {
    let app = spawn_app_with(app_with_private()).await;
    let admin = app.register().await;
    let hs = HubSpot::start().await;
    let id = connect(&app, &admin, &hs.url, TOKEN).await["data"]["connectIntegration"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let stop = workers(&app);
    hs.put("one@example.com", "One", "Remote", "HubCo");
    hs.state.lock().unwrap().throttle = 2;
    let run = sync(&app, &admin, &id).await;
    assert_eq!(run["status"], "SUCCESS", "{run}");
    assert_eq!(
        hs.state.lock().unwrap().throttled,
        2,
        "both 429s were met and waited out"
    );
    assert_eq!(
        contact_by_email(&app, &admin, "one@example.com").await["firstName"],
        "One"
    );

    let upd = app
        .gql_as(&admin.access, "mutation($id: ID!) { updateIntegration(id: $id, input: { credentials: { accessToken: \"revoked\" } }) { id } }", json!({ "id": id }))
        .await;
    assert!(upd["errors"].is_null(), "{upd}");
    let refused = sync(&app, &admin, &id).await;
    assert_eq!(refused["status"], "FAILED", "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("refused"),
        "{refused}"
    );
    let state = app
        .gql_as(
            &admin.access,
            "query($id: ID!) { integration(id: $id) { status metadata } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(state["data"]["integration"]["status"], "ERROR", "{state}");
    assert!(!state.to_string().contains("revoked"), "{state}");
    stop.send(true).unwrap();
}

#[tokio::test]
async fn a_sync_interval_schedules_one_run_per_slot() {
    let app = spawn_app_with(app_with_private()).await;
    let admin = app.register().await;
    let hs = HubSpot::start().await;
    let body = app
        .gql_as(
            &admin.access,
            CONNECT,
            json!({ "i": { "provider": "HUBSPOT", "credentials": { "accessToken": TOKEN }, "settings": { "baseUrl": hs.url, "syncIntervalMinutes": 15 } } }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let id = body["data"]["connectIntegration"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let now = chrono::Utc::now();
    // Two instances' schedulers in the same slot: one run.
    plugs::services::integrations::schedule_due(&app.db, now)
        .await
        .unwrap();
    plugs::services::integrations::schedule_due(&app.db, now)
        .await
        .unwrap();
    let logs = "query($id: ID!) { integration(id: $id) { logs { nodes { status operation requestData } } } }";
    let queued = app.gql_as(&admin.access, logs, json!({ "id": id })).await;
    let nodes = queued["data"]["integration"]["logs"]["nodes"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(nodes.len(), 1, "{queued}");
    assert_eq!(nodes[0]["status"], "QUEUED");
    assert_eq!(nodes[0]["operation"], "SYNC");
    // The next slot: another.
    plugs::services::integrations::schedule_due(&app.db, now + chrono::Duration::minutes(15))
        .await
        .unwrap();
    let later = app.gql_as(&admin.access, logs, json!({ "id": id })).await;
    assert_eq!(
        later["data"]["integration"]["logs"]["nodes"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}
