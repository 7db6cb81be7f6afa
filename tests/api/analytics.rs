//! Analytics ingestion and reads: the server fills who and where, all-or-nothing batches, the
//! 500 limit, exact counts under concurrency, series across days, retention, isolation.

use chrono::{Duration, DurationRound, Utc};
use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, error_code, error_field, spawn_app};

const TRACK: &str = "mutation($e: [AnalyticsEventInput!]!) { trackEvents(events: $e) }";

async fn track(app: &TestApp, s: &Session, events: Value) -> Value {
    app.gql_as(&s.access, TRACK, json!({ "e": events })).await
}

async fn post(app: &TestApp, s: &Session, body: &Value) -> (u16, Value) {
    let resp = app
        .client
        .post(app.url("/analytics/events"))
        .bearer_auth(&s.access)
        .header("user-agent", "PlugsTest/1.0")
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn events(app: &TestApp, s: &Session, filter: Value) -> Value {
    app.gql_as(
        &s.access,
        "query($f: AnalyticsEventFilter) { analyticsEvents(filter: $f, first: 100) { totalCount nodes { id userId eventName eventCategory properties sessionId ipAddress userAgent pageUrl referrer eventTimestamp } } }",
        json!({ "f": filter }),
    )
    .await
}

fn count(body: &Value) -> i64 {
    body["data"]["analyticsEvents"]["totalCount"]
        .as_i64()
        .unwrap_or_else(|| panic!("{body}"))
}

#[tokio::test]
async fn events_are_recorded_for_the_caller_and_read_by_admins_only() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    let stranger = app.register().await;
    let yesterday = (Utc::now() - Duration::days(1)).to_rfc3339();
    let got = track(
        &app,
        &member,
        json!([
            { "eventName": "contact_viewed", "eventCategory": "contacts", "properties": { "contactId": "c1" },
              "sessionId": "s-1", "pageUrl": "https://app.example/contacts/c1", "referrer": "https://app.example/" },
            { "eventName": "contact_viewed", "eventCategory": "contacts", "timestamp": yesterday },
            { "eventName": "search" }
        ]),
    )
    .await;
    assert_eq!(got["data"]["trackEvents"], 3, "{got}");
    let (status, body) = post(
        &app,
        &member,
        &json!([{ "eventName": "export_clicked", "eventCategory": "contacts" }]),
    )
    .await;
    assert_eq!((status, &body), (200, &json!({ "stored": 1 })));

    let all = events(&app, &admin, json!({})).await;
    assert_eq!(count(&all), 4, "{all}");
    let nodes = all["data"]["analyticsEvents"]["nodes"].as_array().unwrap();
    assert!(nodes.iter().all(|n| n["userId"] == member.user_id.as_str()));
    let first = nodes.iter().find(|n| n["sessionId"] == "s-1").unwrap();
    assert_eq!(first["properties"], json!({ "contactId": "c1" }));
    assert_eq!(first["pageUrl"], "https://app.example/contacts/c1");
    assert_eq!(first["ipAddress"], "127.0.0.1");
    let http = nodes
        .iter()
        .find(|n| n["eventName"] == "export_clicked")
        .unwrap();
    assert_eq!(http["userAgent"], "PlugsTest/1.0");
    let search = nodes.iter().find(|n| n["eventName"] == "search").unwrap();
    assert_eq!(search["eventCategory"], "general");
    let viewed = events(&app, &admin, json!({ "eventName": "contact_viewed" })).await;
    assert_eq!(count(&viewed), 2);
    let recent = events(
        &app,
        &admin,
        json!({ "from": (Utc::now() - Duration::hours(1)).to_rfc3339() }),
    )
    .await;
    assert_eq!(count(&recent), 3);
    let mine = events(&app, &admin, json!({ "userId": member.user_id })).await;
    assert_eq!(count(&mine), 4);

    // Paging, newest first.
    let page = app
        .gql_as(
            &admin.access,
            "{ analyticsEvents(first: 3) { edges { cursor node { eventTimestamp } } pageInfo { hasNextPage endCursor } } }",
            json!({}),
        )
        .await;
    let conn = &page["data"]["analyticsEvents"];
    assert_eq!(conn["pageInfo"]["hasNextPage"], true, "{page}");
    let rest = app
        .gql_as(
            &admin.access,
            "query($a: String) { analyticsEvents(first: 3, after: $a) { edges { node { eventTimestamp } } pageInfo { hasNextPage } } }",
            json!({ "a": conn["pageInfo"]["endCursor"] }),
        )
        .await;
    let rest = rest["data"]["analyticsEvents"]["edges"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(rest.len(), 1);
    assert_eq!(
        rest[0]["node"]["eventTimestamp"].as_str().unwrap()[..10],
        yesterday[..10]
    );

    // Members do not read analytics; another organization sees none of ours.
    for doc in [
        "{ analyticsEvents { totalCount } }",
        "{ analyticsSeries(interval: DAY, from: \"2026-01-01T00:00:00Z\", to: \"2026-01-02T00:00:00Z\") { count } }",
    ] {
        let refused = app.gql_as(&member.access, doc, json!({})).await;
        assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{doc}: {refused}");
    }
    assert_eq!(count(&events(&app, &stranger, json!({})).await), 0);
    assert_eq!(
        count(&events(&app, &stranger, json!({ "userId": member.user_id })).await),
        0
    );

    // A client cannot name an organization or a member.
    let forged = track(
        &app,
        &member,
        json!([{ "eventName": "x", "organizationId": "00000000-0000-0000-0000-000000000000" }]),
    )
    .await;
    assert!(forged["errors"].is_array(), "{forged}");
    let (status, _) = post(
        &app,
        &member,
        &json!([{ "eventName": "x", "userId": admin.user_id }]),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        count(&events(&app, &admin, json!({})).await),
        4,
        "nothing more stored"
    );
}

#[tokio::test]
async fn a_call_is_all_or_nothing_within_its_limits() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let many: Vec<Value> = (0..501)
        .map(|i| json!({ "eventName": format!("e{i}") }))
        .collect();
    let refused = track(&app, &admin, json!(many)).await;
    assert_eq!(error_code(&refused), Some("BAD_USER_INPUT"), "{refused}");
    assert_eq!(error_field(&refused), Some("events"));
    let (status, body) = post(&app, &admin, &json!(many)).await;
    assert_eq!(status, 413, "{body}");
    let future = (Utc::now() + Duration::hours(1)).to_rfc3339();
    let ancient = (Utc::now() - Duration::days(4000)).to_rfc3339();
    let big = "x".repeat(9 * 1024);
    for (bad, field) in [
        (
            json!({ "eventName": "late", "timestamp": future }),
            "events[1].timestamp",
        ),
        (
            json!({ "eventName": "old", "timestamp": ancient }),
            "events[1].timestamp",
        ),
        (
            json!({ "eventName": "p", "properties": [1, 2] }),
            "events[1].properties",
        ),
        (
            json!({ "eventName": "p", "properties": { "blob": big } }),
            "events[1].properties",
        ),
        (json!({ "eventName": "  " }), "events[1].eventName"),
        (json!({ "eventName": "a\u{0}b" }), "events[1].eventName"),
        (
            json!({ "eventName": "p", "properties": { "k": "a\u{0}b" } }),
            "events[1].properties",
        ),
        (
            json!({ "eventName": "n".repeat(101) }),
            "events[1].eventName",
        ),
    ] {
        let body = track(&app, &admin, json!([{ "eventName": "fine" }, bad])).await;
        assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{field}: {body}");
        assert_eq!(error_field(&body), Some(field), "{body}");
    }
    let (status, _) = post(&app, &admin, &json!({ "eventName": "not an array" })).await;
    assert_eq!(status, 400);
    let (status, _) = post(
        &app,
        &admin,
        &json!([{ "eventName": "late", "timestamp": future }]),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        count(&events(&app, &admin, json!({})).await),
        0,
        "nothing stored"
    );
    let exactly = track(
        &app,
        &admin,
        json!(
            (0..500)
                .map(|i| json!({ "eventName": format!("e{i}") }))
                .collect::<Vec<_>>()
        ),
    )
    .await;
    assert_eq!(exactly["data"]["trackEvents"], 500, "{exactly}");
    let anonymous = app
        .client
        .post(app.url("/analytics/events"))
        .json(&json!([]))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
}

#[tokio::test]
async fn concurrent_batches_are_all_counted() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let batch: Vec<Value> = (0..500)
        .map(|i| json!({ "eventName": "load", "properties": { "i": i } }))
        .collect();
    let body = json!(batch);
    let calls = (0..10).map(|_| post(&app, &admin, &body));
    for (status, got) in futures_util::future::join_all(calls).await {
        assert_eq!((status, got), (200, json!({ "stored": 500 })));
    }
    assert_eq!(count(&events(&app, &admin, json!({})).await), 5_000);
}

#[tokio::test]
async fn series_count_events_and_members_per_bucket_across_days() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let member = app.member(&admin, false).await;
    let day = Utc::now().duration_trunc(Duration::days(1)).unwrap() - Duration::days(3);
    let at = |d: i64, h: i64| (day + Duration::days(d) + Duration::hours(h)).to_rfc3339();
    track(
        &app,
        &admin,
        json!([{ "eventName": "open", "timestamp": at(0, 10) }, { "eventName": "open", "timestamp": at(0, 10) }, { "eventName": "open", "timestamp": at(1, 9) }, { "eventName": "other", "timestamp": at(1, 9) }]),
    )
    .await;
    let ok = track(
        &app,
        &member,
        json!([{ "eventName": "open", "timestamp": at(0, 11) }]),
    )
    .await;
    assert!(ok["errors"].is_null(), "{ok}");
    let series = |interval: &str| {
        let (app, token) = (&app, admin.access.clone());
        let doc = format!(
            "query($f: DateTime!, $t: DateTime!) {{ analyticsSeries(eventName: \"open\", interval: {interval}, from: $f, to: $t) {{ bucket count uniqueUsers }} }}"
        );
        let vars = json!({ "f": day.to_rfc3339(), "t": (day + Duration::days(3)).to_rfc3339() });
        async move { app.gql_as(&token, &doc, vars).await }
    };
    let days = series("DAY").await;
    assert_eq!(
        days["data"]["analyticsSeries"],
        json!([
            { "bucket": day.to_rfc3339(), "count": 3, "uniqueUsers": 2 },
            { "bucket": (day + Duration::days(1)).to_rfc3339(), "count": 1, "uniqueUsers": 1 },
        ]),
        "{days}"
    );
    let hours = series("HOUR").await;
    let hours = hours["data"]["analyticsSeries"].as_array().unwrap().clone();
    assert_eq!(hours.len(), 3, "{hours:?}");
    assert_eq!(hours[0]["count"], 2);
    let weeks = series("WEEK").await;
    let total: i64 = weeks["data"]["analyticsSeries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 4);
    let wide = app
        .gql_as(
            &admin.access,
            "{ analyticsSeries(interval: HOUR, from: \"2020-01-01T00:00:00Z\", to: \"2026-01-01T00:00:00Z\") { count } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&wide), Some("BAD_USER_INPUT"), "{wide}");
}

#[tokio::test]
async fn the_retention_job_deletes_old_events_only() {
    let app = spawn_app().await;
    let admin = app.register().await;
    let old = (Utc::now() - Duration::days(300)).to_rfc3339();
    let got = track(
        &app,
        &admin,
        json!([{ "eventName": "ancient", "timestamp": old }, { "eventName": "ancient", "timestamp": old }, { "eventName": "fresh" }]),
    )
    .await;
    assert_eq!(got["data"]["trackEvents"], 3, "{got}");
    let job = plugs::jobs::kinds::PurgeAnalytics { days: 299 };
    let ctx = app.job_context();
    plugs::jobs::Job::run(job, ctx)
        .await
        .expect("the purge ran");
    let left = events(&app, &admin, json!({})).await;
    assert_eq!(count(&left), 1, "{left}");
    assert_eq!(
        left["data"]["analyticsEvents"]["nodes"][0]["eventName"],
        "fresh"
    );
}
