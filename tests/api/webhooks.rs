//! Outgoing webhooks: Standard Webhooks signatures (checked with the `standardwebhooks`
//! crate), subscriptions, retries with the same `webhook-id`, 410 disabling, redelivery,
//! SSRF refusals at creation and delivery, secrets that never come back, key rotation, and
//! exactly one delivery per change with two instances.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{
    Session, TestApp, error_code, error_field as field, require_postgres, spawn_app_with,
    two_instances,
};

/// One request a receiver got.
#[derive(Clone, Debug)]
struct Received {
    headers: axum::http::HeaderMap,
    body: String,
}

/// A local endpoint that records what it gets and answers with `statuses` in turn (then 200).
#[derive(Clone)]
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(statuses: &[u16]) -> Receiver {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let statuses = Arc::new(Mutex::new(
            statuses.iter().rev().copied().collect::<Vec<_>>(),
        ));
        let (g, s) = (got.clone(), statuses.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let (g, s) = (g.clone(), s.clone());
                async move {
                    g.lock().unwrap().push(Received { headers, body });
                    let code = s.lock().unwrap().pop().unwrap_or(200);
                    (axum::http::StatusCode::from_u16(code).unwrap(), "thanks")
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver {
            url: format!("http://{addr}/hook"),
            got,
        }
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `n` requests arrived (at most `secs` seconds).
    async fn wait_for(&self, n: usize, secs: u64) -> Vec<Received> {
        for _ in 0..secs * 20 {
            if self.got().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.got()
    }
}

/// Job workers for webhook deliveries only, on `db` (`app`'s pool, or another instance's).
async fn workers(
    app: &TestApp,
    db: sea_orm::DatabaseConnection,
    allow_private: bool,
) -> tokio::sync::watch::Sender<bool> {
    let registry = plugs::jobs::Registry::default().with::<plugs::jobs::kinds::DeliverWebhook>();
    app.job_workers(db, registry, 2, allow_private)
}

const CREATE: &str =
    "mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) {
    secret endpoint { id url eventTypes isEnabled description } } }";

async fn endpoint(app: &TestApp, s: &Session, url: &str, types: &[&str]) -> (String, String) {
    let body = app
        .gql_as(
            &s.access,
            CREATE,
            json!({ "i": { "url": url, "eventTypes": types } }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let r = &body["data"]["createWebhookEndpoint"];
    (
        r["endpoint"]["id"].as_str().unwrap().to_owned(),
        r["secret"].as_str().unwrap().to_owned(),
    )
}

async fn contact(app: &TestApp, s: &Session, name: &str) -> String {
    let body = app
        .gql_as(
            &s.access,
            "mutation($n: String!) { createContact(input: { firstName: $n, lastName: \"Hook\" }) { id } }",
            json!({ "n": name }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["createContact"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn deliveries(app: &TestApp, s: &Session, endpoint: &str) -> Vec<Value> {
    let body = app
        .gql_as(
            &s.access,
            "query($e: ID!) { webhookDeliveries(endpointId: $e) { nodes { id eventType messageId status attempts lastStatusCode lastError lastResponse nextAttemptAt deliveredAt } } }",
            json!({ "e": endpoint }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["webhookDeliveries"]["nodes"]
        .as_array()
        .unwrap()
        .clone()
}

fn verify(secret: &str, r: &Received) -> Value {
    let wh = standardwebhooks::Webhook::new(secret).expect("a Standard Webhooks secret");
    wh.verify(r.body.as_bytes(), &r.headers)
        .unwrap_or_else(|e| panic!("the signature does not verify: {e:?} {r:?}"));
    serde_json::from_str(&r.body).unwrap()
}

fn header<'a>(r: &'a Received, name: &str) -> &'a str {
    r.headers.get(name).unwrap().to_str().unwrap()
}

#[tokio::test]
async fn a_change_is_delivered_signed_to_subscribed_endpoints_and_retried_with_the_same_id() {
    let app = spawn_app_with(|c| c.webhook_allow_private = true).await;
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    let a = Receiver::start(&[500]).await;
    let b = Receiver::start(&[]).await;
    let (ea, secret) = endpoint(
        &app,
        &admin,
        &a.url,
        &["contact.created", "contact.updated"],
    )
    .await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    let (eb, _) = endpoint(&app, &admin, &b.url, &["event.published"]).await;
    let stop = workers(&app, app.db.clone(), true).await;

    let id = contact(&app, &member, "Ada").await;
    let got = a.wait_for(2, 15).await;
    assert_eq!(got.len(), 2, "a 500, then the retry 5 s later: {got:?}");
    let first = verify(&secret, &got[0]);
    let second = verify(&secret, &got[1]);
    assert_eq!(
        header(&got[0], "webhook-id"),
        header(&got[1], "webhook-id"),
        "stable across attempts"
    );
    assert_eq!(first, second);
    assert_eq!(first["type"], "contact.created");
    assert_eq!(first["data"]["id"], id.as_str());
    assert_eq!(first["data"]["firstName"], "Ada");
    assert!(first["timestamp"].is_string());
    assert!(b.got().is_empty(), "not subscribed to contacts");

    // The receiver answered; the worker records the attempt just after.
    let mut d = deliveries(&app, &admin, &ea).await;
    for _ in 0..100 {
        if d[0]["status"] != "PENDING" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        d = deliveries(&app, &admin, &ea).await;
    }
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0]["status"], "SUCCEEDED");
    assert_eq!(d[0]["attempts"], 2);
    assert_eq!(d[0]["lastStatusCode"], 200);
    assert_eq!(d[0]["lastResponse"], "thanks");
    assert_eq!(d[0]["messageId"], header(&got[0], "webhook-id"));
    assert!(deliveries(&app, &admin, &eb).await.is_empty());

    // Members see none of it; the secret never comes back, nor sits in the database or audit.
    let denied = app
        .gql_as(&member.access, "{ webhookEndpoints { id } }", json!({}))
        .await;
    assert_eq!(error_code(&denied), Some("FORBIDDEN"), "{denied}");
    let listed = app
        .gql_as(
            &admin.access,
            "{ webhookEndpoints { id url eventTypes isEnabled failingSince } }",
            json!({}),
        )
        .await;
    assert_eq!(
        listed["data"]["webhookEndpoints"].as_array().unwrap().len(),
        2
    );
    let audit = app
        .gql_as(&admin.access, "{ auditLogs(filter: { tableName: \"webhook_endpoints\" }) { nodes { oldValues newValues } } }", json!({}))
        .await;
    let everything = format!("{listed}{audit}");
    let key = secret.trim_start_matches("whsec_");
    assert!(!everything.contains(key), "the secret leaked: {everything}");
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let row = plugs::entities::webhook_endpoints::Entity::find()
        .filter(
            plugs::entities::webhook_endpoints::Column::Id.eq(ea.parse::<uuid::Uuid>().unwrap()),
        )
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert!(!row.secret_encrypted.contains(key), "stored in the clear");

    // Rotation: a new secret signs from then on.
    let rotated = app
        .gql_as(
            &admin.access,
            "mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }",
            json!({ "id": ea }),
        )
        .await;
    let new_secret = rotated["data"]["rotateWebhookSecret"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_secret, secret);
    let upd = app
        .gql_as(&member.access, "mutation($id: ID!) { updateContact(id: $id, input: { lastName: \"Lovelace\" }) { id } }", json!({ "id": id }))
        .await;
    assert!(upd["errors"].is_null(), "{upd}");
    let got = a.wait_for(3, 10).await;
    assert_eq!(got.len(), 3);
    let third = verify(&new_secret, &got[2]);
    assert_eq!(third["type"], "contact.updated");
    assert_eq!(third["data"]["lastName"], "Lovelace");
    let old = standardwebhooks::Webhook::new(&secret).unwrap();
    assert!(old.verify(got[2].body.as_bytes(), &got[2].headers).is_err());
    stop.send(true).unwrap();
}

#[tokio::test]
async fn gone_disables_the_endpoint_and_redelivery_sends_the_same_message_again() {
    let app = spawn_app_with(|c| c.webhook_allow_private = true).await;
    let admin = app.register().await;
    let r = Receiver::start(&[410]).await;
    let (e, secret) = endpoint(&app, &admin, &r.url, &["contact.created"]).await;
    let stop = workers(&app, app.db.clone(), true).await;
    contact(&app, &admin, "Gone").await;
    r.wait_for(1, 10).await;
    let mut d = Vec::new();
    for _ in 0..100 {
        d = deliveries(&app, &admin, &e).await;
        if d[0]["status"] != "PENDING" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(d[0]["status"], "FAILED", "{d:?}");
    assert_eq!(d[0]["lastStatusCode"], 410);
    let listed = app
        .gql_as(
            &admin.access,
            "{ webhookEndpoints { id isEnabled disabledReason } }",
            json!({}),
        )
        .await;
    let ep = &listed["data"]["webhookEndpoints"][0];
    assert_eq!(ep["isEnabled"], false, "{listed}");
    assert!(ep["disabledReason"].as_str().unwrap().contains("410"));
    // Disabled: a new change is not queued for it.
    contact(&app, &admin, "Unheard").await;
    assert_eq!(deliveries(&app, &admin, &e).await.len(), 1);

    // Re-enabled and redelivered: the same webhook-id, signed afresh.
    let on = app
        .gql_as(&admin.access, "mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: { isEnabled: true }) { isEnabled disabledReason } }", json!({ "id": e }))
        .await;
    assert_eq!(
        on["data"]["updateWebhookEndpoint"],
        json!({ "isEnabled": true, "disabledReason": null })
    );
    let again = app
        .gql_as(
            &admin.access,
            "mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { status attempts } }",
            json!({ "id": d[0]["id"] }),
        )
        .await;
    assert_eq!(
        again["data"]["redeliverWebhook"],
        json!({ "status": "PENDING", "attempts": 0 }),
        "{again}"
    );
    let got = r.wait_for(2, 10).await;
    assert_eq!(got.len(), 2);
    verify(&secret, &got[1]);
    assert_eq!(header(&got[0], "webhook-id"), header(&got[1], "webhook-id"));
    stop.send(true).unwrap();
}

#[tokio::test]
async fn endpoints_on_private_addresses_are_refused_when_saved_and_when_delivering() {
    let app = spawn_app_with(|c| c.webhook_allow_private = false).await;
    let admin = app.register().await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://10.1.2.3/",
        "http://192.168.0.10/",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/",
        "http://[fd00::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "ftp://example.com/",
        "http://user:pw@example.com/",
        "not a url",
    ] {
        let body = app
            .gql_as(
                &admin.access,
                CREATE,
                json!({ "i": { "url": url, "eventTypes": ["contact.created"] } }),
            )
            .await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{url}: {body}");
        assert_eq!(field(&body), Some("url"), "{url}: {body}");
    }
    let bad_type = app
        .gql_as(
            &admin.access,
            CREATE,
            json!({ "i": { "url": "http://93.184.215.14/", "eventTypes": ["contact.exploded"] } }),
        )
        .await;
    assert_eq!(field(&bad_type), Some("eventTypes"), "{bad_type}");
    let member = app.member(&admin, false).await;
    let denied = app
        .gql_as(
            &member.access,
            CREATE,
            json!({ "i": { "url": "http://93.184.215.14/", "eventTypes": ["contact.created"] } }),
        )
        .await;
    assert_eq!(error_code(&denied), Some("FORBIDDEN"), "{denied}");

    // At delivery time (DNS may have changed since the endpoint was saved): the delivery
    // client's resolver hands out public addresses only, so a name that now resolves to a
    // private one reaches nothing, and an IP literal is refused before any request. (Called
    // directly: on the suite's shared database another test's worker may take any job.)
    let r = Receiver::start(&[]).await;
    let port = r
        .url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let sender = plugs::services::webhooks::Sender::new(false);
    let by_name = sender
        .client()
        .post(format!("http://localhost:{port}/hook"))
        .body("{}")
        .send()
        .await;
    assert!(
        by_name.is_err(),
        "localhost resolved for a webhook: {by_name:?}"
    );
    let literal = plugs::services::webhooks::parse_url(&r.url).unwrap();
    let refused = plugs::services::webhooks::check_destination(&literal, false).await;
    assert!(refused.is_err());
    assert!(r.got().is_empty(), "no request reached the private address");
}

#[tokio::test]
#[ignore = "PostgreSQL only: run with PLUGS_TEST_DATABASE_URL and --include-ignored"]
async fn a_change_on_either_of_two_instances_is_delivered_exactly_once() {
    require_postgres();
    let (a, b) = two_instances().await;
    let admin = a.register().await;
    let r = Receiver::start(&[]).await;
    let (e, secret) = endpoint(&a, &admin, &r.url, &["contact.created"]).await;
    let stop_a = workers(&a, a.db.clone(), true).await;
    let stop_b = workers(&a, b.second_pool().await, true).await;
    for i in 0..10 {
        let app = if i % 2 == 0 { &a } else { &b };
        contact(app, &admin, &format!("Twin{i}")).await;
    }
    let got = r.wait_for(10, 20).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_after = r.got();
    assert_eq!(got_after.len(), 10, "{got:?}");
    let mut ids: Vec<&str> = got_after.iter().map(|g| header(g, "webhook-id")).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 10, "each change once");
    for g in &got_after {
        verify(&secret, g);
    }
    assert_eq!(deliveries(&a, &admin, &e).await.len(), 10);
    stop_a.send(true).unwrap();
    stop_b.send(true).unwrap();
}

#[tokio::test]
async fn rotating_keys_re_encrypts_secrets_that_still_sign() {
    use base64::Engine;
    // The suite's keys (`helpers::test_keyring`): `test`, `k2`, `k1`; here `k1` encrypts.
    let k1 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let k2 = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
    let suite = crate::helpers::test_keyring();
    let old = plugs::crypto::Keyring::parse(&format!("k1:{k1}"))
        .unwrap()
        .with_older(&suite);
    let mut app = spawn_app_with(|c| {
        c.webhook_allow_private = true;
        c.keyring = old.clone();
    })
    .await;
    let admin = app.register().await;
    let r = Receiver::start(&[]).await;
    let (e, secret) = endpoint(&app, &admin, &r.url, &["contact.created"]).await;
    let connected = app
        .gql_as(
            &admin.access,
            "mutation { connectIntegration(input: { provider: HUBSPOT, credentials: { accessToken: \"tok-rotated\" }, settings: { baseUrl: \"http://127.0.0.1:9\" } }) { id } }",
            json!({}),
        )
        .await;
    let iid: uuid::Uuid = connected["data"]["connectIntegration"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{connected}"))
        .parse()
        .unwrap();
    let both = plugs::crypto::Keyring::parse(&format!("k2:{k2},k1:{k1}"))
        .unwrap()
        .with_older(&suite);
    let report = plugs::services::webhooks::reencrypt(&app.db, &both)
        .await
        .unwrap();
    let eid: uuid::Uuid = e.parse().unwrap();
    assert!(report.rotated >= 1);
    assert!(!report.failed.contains(&eid));
    use sea_orm::EntityTrait;
    let row = plugs::entities::webhook_endpoints::Entity::find_by_id(eid)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert!(
        row.secret_encrypted.starts_with("k2:"),
        "{}",
        row.secret_encrypted
    );
    // Integration credentials too: re-encrypted with k2, and k2 alone opens them.
    let integration = plugs::entities::integrations::Entity::find_by_id(iid)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap();
    assert!(!report.failed.contains(&iid));
    let sealed = integration.credentials["ciphertext"].as_str().unwrap();
    assert!(sealed.starts_with("k2:"), "{sealed}");
    let k2_only = plugs::crypto::Keyring::parse(&format!("k2:{k2}")).unwrap();
    let opened = plugs::services::integrations::open(&k2_only, &integration)
        .unwrap()
        .unwrap();
    assert_eq!(opened["accessToken"], "tok-rotated");
    // Only the new key now: deliveries still sign with the same secret.
    // Without k1: the rotated secret decrypts with k2 alone (the suite's other workers hold
    // k1 too, but the ciphertext now names k2).
    let worker_app_keyring = plugs::crypto::Keyring::parse(&format!("k2:{k2}"))
        .unwrap()
        .with_older(
            &plugs::crypto::Keyring::parse(&format!(
                "test:{}",
                base64::engine::general_purpose::STANDARD.encode([3u8; 32])
            ))
            .unwrap(),
        );
    app.keyring = worker_app_keyring;
    let stop = workers(&app, app.db.clone(), true).await;
    contact(&app, &admin, "Rotated").await;
    let got = r.wait_for(1, 10).await;
    assert_eq!(got.len(), 1);
    verify(&secret, &got[0]);
    stop.send(true).unwrap();
}

#[tokio::test]
async fn an_endpoint_failing_for_five_days_is_disabled_and_its_admins_told() {
    let app = spawn_app_with(|c| c.webhook_allow_private = true).await;
    let admin = app.register().await;
    let r = Receiver::start(&[500, 500, 500]).await;
    let (e, _) = endpoint(&app, &admin, &r.url, &["contact.created"]).await;
    // It has been failing for six days.
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    let since = plugs::services::now() - chrono::Duration::days(6);
    plugs::entities::webhook_endpoints::Entity::update_many()
        .col_expr(
            plugs::entities::webhook_endpoints::Column::FailingSince,
            Expr::value(since),
        )
        .filter(plugs::entities::webhook_endpoints::Column::Id.eq(e.parse::<uuid::Uuid>().unwrap()))
        .exec(&app.db)
        .await
        .unwrap();
    let stop = workers(&app, app.db.clone(), true).await;
    contact(&app, &admin, "Unlucky").await;
    r.wait_for(1, 10).await;
    let mut listed = Value::Null;
    for _ in 0..100 {
        listed = app
            .gql_as(&admin.access, "{ webhookEndpoints { isEnabled disabledReason } notifications { nodes { title message } } }", json!({}))
            .await;
        if listed["data"]["webhookEndpoints"][0]["isEnabled"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        listed["data"]["webhookEndpoints"][0]["isEnabled"], false,
        "{listed}"
    );
    assert!(
        listed["data"]["webhookEndpoints"][0]["disabledReason"]
            .as_str()
            .unwrap()
            .contains("failed since")
    );
    let told = listed["data"]["notifications"]["nodes"].as_array().unwrap();
    assert!(
        told.iter()
            .any(|n| n["title"] == "A webhook endpoint was disabled"),
        "{listed}"
    );
    let d = deliveries(&app, &admin, &e).await;
    assert_eq!(
        d[0]["status"], "PENDING",
        "its retry finds the endpoint disabled: {d:?}"
    );
    stop.send(true).unwrap();
}

/// Every event type is written as a delivery by the change it names, in that change's
/// transaction (no worker needed to see the rows); a refused change writes none.
#[tokio::test]
async fn every_event_type_is_announced_by_the_change_it_names() {
    let app = spawn_app_with(|c| c.webhook_allow_private = true).await;
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    let all = [
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
    let (e, _) = endpoint(&app, &admin, "http://127.0.0.1:9/none", &all).await;
    let ok = |body: Value| {
        assert!(body["errors"].is_null(), "{body}");
        body["data"].clone()
    };
    let gql = |s: &Session, q: &str, v: Value| {
        let (app, token, q) = (&app, s.access.clone(), q.to_owned());
        async move { app.gql_as(&token, &q, v).await }
    };
    let c = contact(&app, &admin, "Typed").await;
    ok(gql(
        &admin,
        "mutation($id: ID!) { updateContact(id: $id, input: { company: \"X\" }) { id } }",
        json!({ "id": c }),
    )
    .await);
    ok(gql(
        &admin,
        "mutation($id: ID!) { deleteContact(id: $id) { id } }",
        json!({ "id": c }),
    )
    .await);
    let ev = ok(gql(&admin, "mutation { createEvent(input: { title: \"Hooked\", startDate: \"2030-01-01T18:00:00Z\", endDate: \"2030-01-01T21:00:00Z\" }) { id } }", json!({})).await)["createEvent"]["id"].as_str().unwrap().to_owned();
    ok(gql(
        &admin,
        "mutation($id: ID!) { publishEvent(id: $id) { id } }",
        json!({ "id": ev }),
    )
    .await);
    ok(gql(
        &admin,
        "mutation($id: ID!) { updateEvent(id: $id, input: { venue: \"Hall\" }) { id } }",
        json!({ "id": ev }),
    )
    .await);
    ok(gql(
        &member,
        "mutation($e: ID!) { registerForEvent(eventId: $e) { id } }",
        json!({ "e": ev }),
    )
    .await);
    ok(gql(
        &admin,
        "mutation($e: ID!, $u: ID!) { checkInAttendee(eventId: $e, userId: $u) { id } }",
        json!({ "e": ev, "u": member.user_id }),
    )
    .await);
    ok(gql(
        &admin,
        "mutation($e: ID!, $u: ID) { registerForEvent(eventId: $e, userId: $u) { id } }",
        json!({ "e": ev, "u": admin.user_id }),
    )
    .await);
    ok(gql(
        &admin,
        "mutation($e: ID!) { cancelRegistration(eventId: $e) { id } }",
        json!({ "e": ev }),
    )
    .await);
    let expense = |title: &str| {
        let t = title.to_owned();
        let gql = &gql;
        let member = &member;
        async move {
            gql(member, "mutation($t: String!) { createExpense(input: { title: $t, amount: \"10.00\", expenseDate: \"2026-11-01\" }) { id } }", json!({ "t": t }))
                .await["data"]["createExpense"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let paid = expense("Paid").await;
    ok(gql(
        &admin,
        "mutation($id: ID!) { approveExpense(id: $id) { id } }",
        json!({ "id": paid }),
    )
    .await);
    ok(gql(
        &admin,
        "mutation($id: ID!) { markExpensePaid(id: $id) { id } }",
        json!({ "id": paid }),
    )
    .await);
    let rejected = expense("Rejected").await;
    ok(gql(
        &admin,
        "mutation($id: ID!) { rejectExpense(id: $id, reason: \"No\") { id } }",
        json!({ "id": rejected }),
    )
    .await);
    let (status, body) = crate::media::upload(
        &app,
        &admin.access,
        b"notes".to_vec(),
        "n.txt",
        Some("text/plain"),
        json!({}),
    )
    .await;
    assert!(body["errors"].is_null(), "{status}: {body}");
    ok(gql(
        &admin,
        "mutation($id: ID!) { cancelEvent(id: $id) { id } }",
        json!({ "id": ev }),
    )
    .await);
    // Refused: an expense approved by its own submitter writes nothing.
    let own = ok(gql(&admin, "mutation { createExpense(input: { title: \"Own\", amount: \"1.00\", expenseDate: \"2026-11-01\" }) { id } }", json!({})).await)["createExpense"]["id"].as_str().unwrap().to_owned();
    let refused = gql(
        &admin,
        "mutation($id: ID!) { approveExpense(id: $id) { id } }",
        json!({ "id": own }),
    )
    .await;
    assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{refused}");

    let body = app
        .gql_as(&admin.access, "query($e: ID!) { webhookDeliveries(endpointId: $e, first: 100) { nodes { eventType payload } } }", json!({ "e": e }))
        .await;
    let nodes = body["data"]["webhookDeliveries"]["nodes"]
        .as_array()
        .unwrap()
        .clone();
    let mut seen: Vec<String> = nodes
        .iter()
        .map(|n| n["eventType"].as_str().unwrap().to_owned())
        .collect();
    seen.sort();
    seen.dedup();
    let mut want: Vec<String> = all.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(seen, want, "{body}");
    let approved = nodes
        .iter()
        .filter(|n| n["eventType"] == "expense.approved")
        .count();
    assert_eq!(approved, 1, "the refused approval announced nothing");
    for n in &nodes {
        let p: Value = serde_json::from_str(n["payload"].as_str().unwrap()).unwrap();
        assert_eq!(p["type"], n["eventType"]);
        assert!(p["data"]["id"].is_string(), "{p}");
        assert!(
            p["data"].get("organizationId").is_some(),
            "camelCase keys: {p}"
        );
        assert!(
            p["data"].get("filePath").is_none(),
            "no storage internals: {p}"
        );
    }
}
