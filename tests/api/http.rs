use reqwest::StatusCode;
use sea_orm::TransactionTrait;
use serde_json::{Value, json};

use crate::helpers::{error_code, spawn_app, spawn_app_with};

#[tokio::test]
async fn health_answers_ok() {
    let app = spawn_app().await;
    let resp = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({ "status": "ok" })
    );
}

#[tokio::test]
async fn ready_is_200_with_the_database_and_503_once_it_is_gone() {
    let app = spawn_app().await;
    let resp = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    // The app's pool is shared with this handle: closing it takes the database away.
    app.db.close_by_ref().await.unwrap();
    let resp = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Liveness is independent of the database.
    let resp = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn ready_answers_503_promptly_while_no_connection_is_free() {
    let app = spawn_app_with(|c| c.db_max_connections = 1).await;
    let held = app.db.begin().await.unwrap();
    let started = std::time::Instant::now();
    let resp = app.client.get(app.url("/ready")).send().await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Under the pool's 10 s acquire timeout: the 1 s readiness bound answered.
    assert!(
        elapsed < std::time::Duration::from_secs(9),
        "took {elapsed:?}"
    );

    held.rollback().await.unwrap();
    let resp = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn metrics_count_operations_by_type_and_report_pool_and_sockets() {
    let app = spawn_app().await;
    app.graphql("{ __typename }", json!({})).await;
    app.graphql("{ apiVersion }", json!({})).await;
    app.graphql("{ nope }", json!({})).await;
    let resp = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = resp.text().await.unwrap();
    assert!(
        text.contains("plugs_graphql_operations_total{operation=\"query\"} 2\n"),
        "{text}"
    );
    assert!(
        text.contains("plugs_graphql_operations_total{operation=\"invalid\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("plugs_graphql_operation_errors_total{operation=\"invalid\"} 1\n"));
    assert!(
        text.contains("plugs_graphql_operation_duration_seconds_count{operation=\"query\"} 2\n")
    );
    assert!(text.contains("plugs_db_pool_connections{state=\"idle\"}"));
    assert!(text.contains("plugs_websocket_connections 0\n"));
}

#[tokio::test]
async fn graphiql_page_loads_only_assets_served_by_the_binary() {
    let app = spawn_app().await;
    let resp = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    assert!(html.contains("GraphiQL"));
    assert!(
        !html.contains("http://") && !html.contains("https://") && !html.contains("//cdn"),
        "the page must not reference any external URL:\n{html}"
    );
    let mut assets = 0;
    for attr in ["src=\"", "href=\""] {
        for part in html.split(attr).skip(1) {
            let path = part.split('"').next().unwrap();
            assert!(path.starts_with('/'), "asset {path} is not served by us");
            let resp = app.client.get(app.url(path)).send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK, "{path}");
            assert!(resp.bytes().await.unwrap().len() > 1000, "{path} is empty");
            assets += 1;
        }
    }
    assert_eq!(assets, 4, "react, react-dom, graphiql js and css");
    let resp = app
        .client
        .get(app.url("/assets/graphiql/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn typename_answers_over_post_and_get() {
    let app = spawn_app().await;
    let body = app.graphql("{ __typename apiVersion }", json!({})).await;
    assert_eq!(body["data"]["__typename"], "Query");
    assert_eq!(body["data"]["apiVersion"], env!("CARGO_PKG_VERSION"));

    let resp = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", "{ __typename }")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body, json!({ "data": { "__typename": "Query" } }));
}

#[tokio::test]
async fn a_mutation_over_get_is_refused_with_405() {
    let app = spawn_app().await;
    for (query, op) in [
        ("mutation { __typename }", None),
        (
            "query A { __typename } mutation B { __typename }",
            Some("B"),
        ),
    ] {
        let mut params = vec![("query", query)];
        if let Some(op) = op {
            params.push(("operationName", op));
        }
        let resp = app
            .client
            .get(app.url("/graphql"))
            .query(&params)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED, "{query}");
        assert_eq!(resp.headers()["allow"], "POST");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
    }
    // The query of the same document is still allowed.
    let resp = app
        .client
        .get(app.url("/graphql"))
        .query(&[
            ("query", "query A { __typename } mutation B { __typename }"),
            ("operationName", "A"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_cross_site_form_post_is_refused() {
    let app = spawn_app().await;
    for content_type in [
        "application/x-www-form-urlencoded",
        "text/plain",
        "multipart/form-data; boundary=x",
    ] {
        let resp = app
            .client
            .post(app.url("/graphql"))
            .header("content-type", content_type)
            .body(r#"{"query":"{ __typename }"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}"
        );
        let body: Value = resp.json().await.unwrap();
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
    }
}

#[tokio::test]
async fn batches_run_up_to_the_limit_and_are_refused_beyond() {
    let app = spawn_app().await;
    let op = json!({ "query": "{ __typename }" });
    let ten: Vec<_> = std::iter::repeat_n(op.clone(), 10).collect();
    let resp = app
        .client
        .post(app.url("/graphql"))
        .json(&ten)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body.as_array().unwrap().len(), 10);

    let eleven: Vec<_> = std::iter::repeat_n(op, 11).collect();
    let resp = app
        .client
        .post(app.url("/graphql"))
        .json(&eleven)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
}

#[tokio::test]
async fn an_oversized_body_is_refused_and_the_server_keeps_answering() {
    let app = spawn_app_with(|c| c.limits.body_bytes = 64 * 1024).await;
    let padding = "x".repeat(100 * 1024);
    let resp = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": format!("{{ __typename }} # {padding}") }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body = app.graphql("{ __typename }", json!({})).await;
    assert_eq!(body["data"]["__typename"], "Query");
}

#[tokio::test]
async fn malformed_json_is_a_clear_400() {
    let app = spawn_app().await;
    let resp = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
    // There is no position in the document to point at (and lines start at 1, never 0).
    assert!(body["errors"][0].get("locations").is_none(), "{body}");
    assert!(body.get("data").is_none(), "{body}");
}

/// POSTs `{ query }` with the given `Accept` (none when `None`).
async fn post_accepting(
    app: &crate::helpers::TestApp,
    accept: Option<&str>,
    query: &str,
) -> (StatusCode, String, Value) {
    let mut req = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": query }));
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    (status, content_type, resp.json().await.unwrap())
}

#[tokio::test]
async fn the_response_type_follows_accept() {
    let app = spawn_app().await;
    for accept in [None, Some("*/*"), Some("application/json")] {
        let (status, ct, body) = post_accepting(&app, accept, "{ __typename }").await;
        assert_eq!(status, StatusCode::OK, "{accept:?}");
        assert_eq!(ct, "application/json; charset=utf-8", "{accept:?}");
        assert_eq!(body, json!({ "data": { "__typename": "Query" } }));
        // Older clients get 200 even for a document that does not parse.
        let (status, ct, body) = post_accepting(&app, accept, "{").await;
        assert_eq!(status, StatusCode::OK, "{accept:?}");
        assert!(ct.starts_with("application/json"), "{ct}");
        assert!(body.get("data").is_none(), "{body}");
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"));
    }
    let new = Some("application/graphql-response+json, application/json;q=0.9");
    let (status, ct, _) = post_accepting(&app, new, "{ __typename }").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ct, "application/graphql-response+json; charset=utf-8");
    // A request that never executes: 400 and no `data` entry at all.
    for bad in ["{", "{ noSuchField }", "query($id: ID!) { __typename }"] {
        let (status, ct, body) = post_accepting(&app, new, bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(ct.starts_with("application/graphql-response+json"));
        assert!(body.get("data").is_none(), "{bad}: {body}");
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    }
    // A refusal before parsing has the negotiated type too.
    let resp = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", "mutation { __typename }")])
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
}

#[tokio::test]
async fn an_error_inside_execution_keeps_its_data_entry() {
    // A resolver's error is not a request error: `data` stays, with the failed field null.
    let app = spawn_app().await;
    let (status, _, body) = post_accepting(
        &app,
        Some("application/graphql-response+json"),
        "{ apiVersion contact(id: \"00000000-0000-0000-0000-000000000000\") { id } }",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"]["apiVersion"],
        env!("CARGO_PKG_VERSION"),
        "{body}"
    );
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"), "{body}");
}

/// The body of `type X {` or `enum X {` in the SDL, as its member names.
fn sdl_members(sdl: &str, kind: &str, name: &str) -> Vec<String> {
    let head = format!("{kind} {name} {{");
    let start = sdl
        .find(&head)
        .unwrap_or_else(|| panic!("{head} missing from the schema"));
    let body = &sdl[start + head.len()..];
    let body = &body[..body.find("\n}").unwrap()];
    let mut in_doc = false;
    body.lines()
        .map(str::trim)
        .filter(|l| {
            if *l == "\"\"\"" {
                in_doc = !in_doc;
                return false;
            }
            !in_doc && !l.is_empty()
        })
        .map(|l| l.split([':', ' ', '(']).next().unwrap().to_owned())
        .collect()
}

#[test]
fn the_schema_describes_every_table_with_api_naming() {
    let sdl = plugs::graphql::sdl();
    let contact = sdl_members(&sdl, "type", "Contact");
    for f in [
        "id",
        "firstName",
        "leadScore",
        "lastInteraction",
        "contactType",
        "deletedAt",
    ] {
        assert!(
            contact.contains(&f.to_owned()),
            "Contact.{f} missing: {contact:?}"
        );
    }
    assert!(!contact.contains(&"organizationId".to_owned()));
    assert!(!contact.contains(&"isDeleted".to_owned()));
    assert_eq!(
        sdl_members(&sdl, "enum", "ContactStatus"),
        ["NEW_CLIENT", "EXISTING_CLIENT", "HOT_LEAD", "COLD_LEAD"]
    );
    assert_eq!(
        sdl_members(&sdl, "enum", "InteractionType"),
        ["MEETING", "CALL", "EMAIL", "LINKEDIN", "EVENT", "FOLLOW_UP"]
    );
    assert!(!sdl_members(&sdl, "type", "User").contains(&"passwordHash".to_owned()));
    assert!(!sdl_members(&sdl, "type", "Integration").contains(&"credentials".to_owned()));
    for ty in [
        "Organization",
        "User",
        "Contact",
        "ContactInteraction",
        "Event",
        "EventAttendee",
        "AgendaItem",
        "Expense",
        "Media",
        "MediaCollection",
        "Notification",
        "Integration",
        "IntegrationLog",
        "AnalyticsEvent",
        "AuditLog",
        "ContactPerformanceSummary",
        "EventAnalytics",
    ] {
        assert!(!sdl_members(&sdl, "type", ty).is_empty(), "{ty}");
    }
    for scalar in ["DateTime", "Date", "Decimal", "JSON"] {
        assert!(
            sdl.contains(&format!("scalar {scalar}")),
            "scalar {scalar} missing"
        );
    }
}

/// Production turns introspection off, so GraphiQL could only show an introspection error.
#[tokio::test]
async fn production_answers_the_home_page_with_how_to_call_the_api_instead_of_graphiql() {
    let app = spawn_app_with(|c| c.env = plugs::config::Environment::Production).await;
    let resp = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("introspection is disabled in production"),
        "{html}"
    );
    assert!(html.contains("POST /graphql"), "{html}");
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("/assets/graphiql/"), "{html}");
    // The API itself answers, and really hides its schema.
    let body = app.graphql("{ apiVersion }", json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    let body = app
        .graphql("{ __schema { types { name } } }", json!({}))
        .await;
    assert!(body["data"]["__schema"].is_null(), "{body}");
}
