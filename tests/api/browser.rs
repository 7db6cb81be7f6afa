//! What browsers and production clients need: CORS, the WebSocket Origin check, compression,
//! persisted queries and idempotency keys.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{Session, TestApp, error_code, spawn_app, spawn_app_with};

const FRONTEND: &str = "http://localhost:3000";

async fn with_frontend() -> TestApp {
    spawn_app_with(|c| c.cors = plugs::config::CorsOrigins::List(vec![FRONTEND.into()])).await
}

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(reqwest::Method::OPTIONS, app.url("/graphql"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, authorization, idempotency-key",
        )
        .send()
        .await
        .unwrap()
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

fn cors_headers(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .keys()
        .filter(|k| k.as_str().starts_with("access-control-"))
        .map(|k| k.to_string())
        .collect()
}

#[tokio::test]
async fn a_listed_origin_passes_the_preflight_and_reads_the_headers_others_get_nothing() {
    let app = with_frontend().await;
    let ok = preflight(&app, FRONTEND).await;
    assert_eq!(ok.status(), 204);
    assert_eq!(header(&ok, "access-control-allow-origin"), Some(FRONTEND));
    let methods = header(&ok, "access-control-allow-methods").unwrap();
    for m in ["POST", "GET", "OPTIONS"] {
        assert!(methods.contains(m), "{methods}");
    }
    let allowed = header(&ok, "access-control-allow-headers").unwrap();
    for h in ["content-type", "authorization", "idempotency-key"] {
        assert!(allowed.contains(h), "{allowed}");
    }
    assert_eq!(header(&ok, "access-control-max-age"), Some("600"));

    let evil = preflight(&app, "https://evil.example").await;
    assert_eq!(evil.status(), 403);
    assert!(cors_headers(&evil).is_empty(), "{:?}", cors_headers(&evil));

    // The actual request: the origin is echoed and the useful headers are exposed.
    let resp = app
        .client
        .post(app.url("/graphql"))
        .header("origin", FRONTEND)
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&resp, "access-control-allow-origin"), Some(FRONTEND));
    let exposed = header(&resp, "access-control-expose-headers")
        .unwrap()
        .to_owned();
    for h in [
        "x-request-id",
        "retry-after",
        "ratelimit",
        "ratelimit-policy",
    ] {
        assert!(exposed.contains(h), "{exposed}");
    }
    let other = app
        .client
        .post(app.url("/graphql"))
        .header("origin", "https://evil.example")
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    assert!(header(&other, "access-control-allow-origin").is_none());

    // Unset: same origin only, every preflight refused.
    let plain = spawn_app().await;
    let r = preflight(&plain, FRONTEND).await;
    assert_eq!(r.status(), 403);
    assert!(cors_headers(&r).is_empty());
}

async fn upgrade(app: &TestApp, origin: Option<&str>) -> Result<(), u16> {
    let url = app.url("/graphql/ws").replace("http://", "ws://");
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    if let Some(o) = origin {
        req.headers_mut().insert("origin", o.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok(_) => Ok(()),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn websocket_upgrades_from_unlisted_origins_are_refused() {
    let app = with_frontend().await;
    assert_eq!(upgrade(&app, Some("https://evil.example")).await, Err(403));
    assert_eq!(upgrade(&app, Some(FRONTEND)).await, Ok(()));
    assert_eq!(
        upgrade(&app, None).await,
        Ok(()),
        "no Origin: not a browser"
    );
    // The server's own origin (GraphiQL's page) is always allowed.
    let own = app.addr.clone();
    assert_eq!(upgrade(&app, Some(&own)).await, Ok(()));
}

#[tokio::test]
async fn large_responses_are_compressed_as_the_client_accepts_and_small_ones_are_not() {
    let app = spawn_app().await;
    let big = json!({ "query": "{ __schema { types { name fields { name } } } }" });
    for (accept, expect) in [("gzip", "gzip"), ("br", "br"), ("zstd", "zstd")] {
        let r = app
            .client
            .post(app.url("/graphql"))
            .header("accept-encoding", accept)
            .json(&big)
            .send()
            .await
            .unwrap();
        assert_eq!(header(&r, "content-encoding"), Some(expect));
        let compressed = r.bytes().await.unwrap().len();
        let plain = app
            .client
            .post(app.url("/graphql"))
            .json(&big)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .len();
        assert!(
            compressed * 3 < plain,
            "{accept}: {compressed} of {plain} bytes"
        );
    }
    let small = app
        .client
        .post(app.url("/graphql"))
        .header("accept-encoding", "gzip")
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    assert!(header(&small, "content-encoding").is_none());
    // GraphiQL's own assets too.
    let page = app
        .client
        .get(app.url("/"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&page, "content-encoding"), Some("gzip"));
}

fn sha(text: &str) -> String {
    plugs::graphql::persisted::sha256_hex(text)
}

fn apq(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

async fn post(app: &TestApp, token: Option<&str>, body: Value) -> Value {
    let mut req = app.client.post(app.url("/graphql")).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn automatic_persisted_queries_register_by_hash_and_meet_every_limit() {
    let app = spawn_app().await;
    let s = app.register().await;
    let query = format!(
        "query Me{} {{ me {{ id email }} }}",
        uuid::Uuid::new_v4().simple()
    );
    let hash = sha(&query);

    let miss = post(&app, Some(&s.access), json!({ "extensions": apq(&hash) })).await;
    assert_eq!(
        error_code(&miss),
        Some("PERSISTED_QUERY_NOT_FOUND"),
        "{miss}"
    );
    assert_eq!(miss["errors"][0]["message"], "PersistedQueryNotFound");
    let wrong = post(
        &app,
        Some(&s.access),
        json!({ "query": query, "extensions": apq(&sha("something else")) }),
    )
    .await;
    assert_eq!(error_code(&wrong), Some("BAD_USER_INPUT"), "{wrong}");
    let registered = post(
        &app,
        Some(&s.access),
        json!({ "query": query, "extensions": apq(&hash) }),
    )
    .await;
    assert_eq!(
        registered["data"]["me"]["email"],
        s.email.as_str(),
        "{registered}"
    );
    let by_hash = post(&app, Some(&s.access), json!({ "extensions": apq(&hash) })).await;
    assert_eq!(by_hash["data"], registered["data"]);

    // GET with the hash alone (what a CDN caches).
    let ext = apq(&hash).to_string();
    let got: Value = app
        .client
        .get(app.url("/graphql"))
        .query(&[("extensions", ext.as_str())])
        .bearer_auth(&s.access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["data"], registered["data"], "{got}");
    // A persisted mutation is still refused over GET.
    let mutation = "mutation { markAllNotificationsRead }";
    post(
        &app,
        Some(&s.access),
        json!({ "query": mutation, "extensions": apq(&sha(mutation)) }),
    )
    .await;
    let ext = apq(&sha(mutation)).to_string();
    let refused = app
        .client
        .get(app.url("/graphql"))
        .query(&[("extensions", ext.as_str())])
        .bearer_auth(&s.access)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 405);

    // Limits apply to a persisted document with each request's variables, exactly as to the
    // same text sent.
    let wide = format!(
        "query Wide{}($n: Int) {{ contacts(first: $n) {{ nodes {{ id interactions(first: 100) {{ nodes {{ id }} }} }} }} }}",
        uuid::Uuid::new_v4().simple()
    );
    let wide_hash = sha(&wide);
    let small = post(
        &app,
        Some(&s.access),
        json!({ "query": wide, "variables": { "n": 1 }, "extensions": apq(&wide_hash) }),
    )
    .await;
    assert!(small["data"]["contacts"].is_object(), "{small}");
    let by_text = post(
        &app,
        Some(&s.access),
        json!({ "query": wide, "variables": { "n": 100 } }),
    )
    .await;
    assert_eq!(error_code(&by_text), Some("QUERY_TOO_COMPLEX"), "{by_text}");
    let by_hash = post(
        &app,
        Some(&s.access),
        json!({ "variables": { "n": 100 }, "extensions": apq(&wide_hash) }),
    )
    .await;
    assert_eq!(by_hash["errors"], by_text["errors"], "{by_hash}");
    // A document the limits refuse is not registered.
    let mut deep = String::from(
        "{ me { organization { users { nodes { organization { users { nodes { organization { users { nodes { organization { users { nodes { id ",
    );
    deep.push_str(&"} ".repeat(13));
    deep.push('}');
    let text = post(
        &app,
        Some(&s.access),
        json!({ "query": deep, "extensions": apq(&sha(&deep)) }),
    )
    .await;
    assert_eq!(error_code(&text), Some("QUERY_TOO_COMPLEX"), "{text}");
    let hashed = post(
        &app,
        Some(&s.access),
        json!({ "extensions": apq(&sha(&deep)) }),
    )
    .await;
    assert_eq!(
        error_code(&hashed),
        Some("PERSISTED_QUERY_NOT_FOUND"),
        "{hashed}"
    );
}

#[tokio::test]
async fn trusted_mode_runs_only_the_manifests_documents() {
    let query = "query Ping { __typename }";
    let manifest: HashMap<String, String> = [(sha(query), query.to_owned())].into();
    let app = spawn_app_with(|c| {
        c.persisted = plugs::graphql::persisted::PersistedConfig {
            mode: plugs::graphql::persisted::Mode::Trusted,
            manifest: Arc::new(manifest),
        }
    })
    .await;
    let by_hash = post(&app, None, json!({ "extensions": apq(&sha(query)) })).await;
    assert_eq!(by_hash["data"]["__typename"], "Query", "{by_hash}");
    let by_text = post(&app, None, json!({ "query": query })).await;
    assert_eq!(by_text["data"]["__typename"], "Query", "{by_text}");
    let other = post(&app, None, json!({ "query": "{ __typename }" })).await;
    assert_eq!(
        error_code(&other),
        Some("PERSISTED_QUERY_NOT_FOUND"),
        "{other}"
    );
    let unknown = post(&app, None, json!({ "extensions": apq(&sha("{ x }")) })).await;
    assert_eq!(error_code(&unknown), Some("PERSISTED_QUERY_NOT_FOUND"));

    // A manifest whose hash is not its document's stops the configuration with one line.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manifest.json");
    std::fs::write(&path, json!({ sha("{ a }"): "{ b }" }).to_string()).unwrap();
    let err = plugs::graphql::persisted::PersistedConfig::from_env(
        Some("trusted"),
        Some(path.to_str().unwrap()),
    )
    .unwrap_err();
    assert_eq!(err.0, "PLUGS_TRUSTED_DOCUMENTS");
    assert!(
        err.1.contains("is not the SHA-256 of its document"),
        "{}",
        err.1
    );
}

const CREATE: &str = "mutation($n: String!) { createContact(input: { firstName: $n, lastName: \"Idem\" }) { id firstName } }";

async fn create_with_key(app: &TestApp, s: &Session, key: &str, name: &str) -> reqwest::Response {
    app.client
        .post(app.url("/graphql"))
        .bearer_auth(&s.access)
        .header("idempotency-key", key)
        .json(&json!({ "query": CREATE, "variables": { "n": name } }))
        .send()
        .await
        .unwrap()
}

async fn contacts_named(app: &TestApp, s: &Session, name: &str) -> i64 {
    let r = app
        .gql_as(
            &s.access,
            "query($q: String) { contacts(filter: { search: $q }) { totalCount } }",
            json!({ "q": name }),
        )
        .await;
    r["data"]["contacts"]["totalCount"].as_i64().unwrap()
}

#[tokio::test]
async fn an_idempotency_key_runs_a_mutation_once_and_replays_its_response() {
    let app = spawn_app().await;
    let s = app.register().await;
    let key = uuid::Uuid::new_v4().to_string();
    let name = format!("Once{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let first = create_with_key(&app, &s, &key, &name).await;
    assert_eq!(first.status(), 200);
    assert!(header(&first, "idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let again = create_with_key(&app, &s, &key, &name).await;
    assert_eq!(header(&again, "idempotent-replayed"), Some("true"));
    let again: Value = again.json().await.unwrap();
    assert_eq!(again, first, "the stored response");
    assert_eq!(contacts_named(&app, &s, &name).await, 1);

    // Another body with the same key: 422.
    let other = create_with_key(&app, &s, &key, "Someone else").await;
    assert_eq!(other.status(), 422);
    let body: Value = other.json().await.unwrap();
    assert_eq!(error_code(&body), Some("IDEMPOTENCY_KEY_REUSED"), "{body}");

    // Keys belong to their caller: another member's same key runs.
    let colleague = app.member(&s, false).await;
    let theirs = create_with_key(&app, &colleague, &key, &name).await;
    assert!(header(&theirs, "idempotent-replayed").is_none());
    assert_eq!(contacts_named(&app, &s, &name).await, 2);

    // A refused first try changes nothing and gives the key back.
    let fresh = uuid::Uuid::new_v4().to_string();
    let bad = create_with_key(&app, &s, &fresh, "").await;
    let bad: Value = bad.json().await.unwrap();
    assert_eq!(error_code(&bad), Some("BAD_USER_INPUT"), "{bad}");
    let good = create_with_key(&app, &s, &fresh, &format!("{name}b")).await;
    assert!(header(&good, "idempotent-replayed").is_none());
    let good: Value = good.json().await.unwrap();
    assert!(good["data"]["createContact"]["id"].is_string(), "{good}");

    // Malformed keys are refused; queries ignore the header.
    let long = "k".repeat(256);
    let r = create_with_key(&app, &s, &long, &name).await;
    assert_eq!(r.status(), 400);
    let q = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&s.access)
        .header("idempotency-key", &key)
        .json(&json!({ "query": "{ me { id } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(q.status(), 200);
    assert!(header(&q, "idempotent-replayed").is_none());

    // Expired keys are purged by their job.
    use plugs::entities::idempotency_keys as k;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    k::Entity::update_many()
        .col_expr(
            k::Column::ExpiresAt,
            Expr::value(chrono::Utc::now().fixed_offset() - chrono::Duration::hours(1)),
        )
        .filter(k::Column::IdempotencyKey.eq(&key))
        .exec(&app.db)
        .await
        .unwrap();
    use plugs::jobs::Job as _;
    plugs::jobs::kinds::PurgeIdempotencyKeys {}
        .run(app.job_context())
        .await
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    let left = k::Entity::find()
        .filter(k::Column::IdempotencyKey.eq(&key))
        .all(&app.db)
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn ten_concurrent_requests_with_one_key_create_exactly_one_row() {
    let app = Arc::new(spawn_app().await);
    let s = Arc::new(app.register().await);
    let key = uuid::Uuid::new_v4().to_string();
    let name = format!("Race{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (app, s, key, name) = (app.clone(), s.clone(), key.clone(), name.clone());
        tasks.push(tokio::spawn(async move {
            create_with_key(&app, &s, &key, &name)
                .await
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 409),
        "{statuses:?}"
    );
    assert!(statuses.contains(&200), "{statuses:?}");
    assert_eq!(contacts_named(&app, &s, &name).await, 1, "{statuses:?}");
    let replay = create_with_key(&app, &s, &key, &name).await;
    assert_eq!(header(&replay, "idempotent-replayed"), Some("true"));
}

#[tokio::test]
async fn a_refresh_retried_with_its_key_is_replayed_not_run_twice() {
    let app = spawn_app().await;
    let s = app.register().await;
    let key = uuid::Uuid::new_v4().to_string();
    let body = json!({
        "query": "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken } }",
        "variables": { "t": s.refresh },
    });
    // A client that still attaches its expired (here: malformed) access token.
    let send = || {
        app.client
            .post(app.url("/graphql"))
            .bearer_auth("expired.token.here")
            .header("idempotency-key", &key)
            .json(&body)
            .send()
    };
    let first: Value = send().await.unwrap().json().await.unwrap();
    let new_refresh = first["data"]["refreshToken"]["refreshToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{first}"))
        .to_owned();
    let again = send().await.unwrap();
    assert_eq!(header(&again, "idempotent-replayed"), Some("true"));
    let again: Value = again.json().await.unwrap();
    assert_eq!(again, first);
    // Not run twice: the old token was not presented again, so the session lives on.
    let next = app
        .graphql(
            "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }",
            json!({ "t": new_refresh }),
        )
        .await;
    assert!(
        next["data"]["refreshToken"]["accessToken"].is_string(),
        "{next}"
    );
}

#[tokio::test]
async fn a_mutation_sent_by_its_persisted_hash_is_idempotent_too() {
    let app = spawn_app().await;
    let s = app.register().await;
    let name = format!("Apq{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let doc = format!(
        "mutation {{ createContact(input: {{ firstName: \"{name}\", lastName: \"Hash\" }}) {{ id }} }}"
    );
    let hash = sha(&doc);
    let registered = post(
        &app,
        Some(&s.access),
        json!({ "query": doc, "extensions": apq(&hash) }),
    )
    .await;
    assert!(
        registered["data"]["createContact"]["id"].is_string(),
        "{registered}"
    );
    let key = uuid::Uuid::new_v4().to_string();
    let by_hash = || {
        app.client
            .post(app.url("/graphql"))
            .bearer_auth(&s.access)
            .header("idempotency-key", &key)
            .json(&json!({ "extensions": apq(&hash) }))
            .send()
    };
    let first = by_hash().await.unwrap();
    assert!(header(&first, "idempotent-replayed").is_none());
    let again = by_hash().await.unwrap();
    assert_eq!(header(&again, "idempotent-replayed"), Some("true"));
    assert_eq!(
        contacts_named(&app, &s, &name).await,
        2,
        "once by text, once by hash"
    );
}

#[tokio::test]
async fn with_persisted_queries_off_a_hash_alone_is_not_supported() {
    let app = spawn_app_with(|c| {
        c.persisted = plugs::graphql::persisted::PersistedConfig {
            mode: plugs::graphql::persisted::Mode::Off,
            manifest: Arc::default(),
        }
    })
    .await;
    let hash_only = post(
        &app,
        None,
        json!({ "extensions": apq(&sha("{ __typename }")) }),
    )
    .await;
    assert_eq!(
        error_code(&hash_only),
        Some("PERSISTED_QUERY_NOT_SUPPORTED"),
        "{hash_only}"
    );
    let with_text = post(
        &app,
        None,
        json!({ "query": "{ __typename }", "extensions": apq(&sha("{ __typename }")) }),
    )
    .await;
    assert_eq!(with_text["data"]["__typename"], "Query", "{with_text}");
}
