//! Rate limits: complexity charged to per-member and per-organization buckets (anonymous
//! operations to per-IP ones), `RATE_LIMITED` with `retryAfter`, the RateLimit headers, and what
//! is never limited.

use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, error_code, spawn_app_with};

async fn app_with(user: u32, org: u32, ip: u32) -> TestApp {
    spawn_app_with(move |c| {
        c.rate = plugs::graphql::rate::RateConfig {
            user_per_minute: user,
            org_per_minute: org,
            ip_per_minute: ip,
        };
    })
    .await
}

/// Runs `query` as `token`: (body, ratelimit-policy, ratelimit, retry-after).
async fn call(app: &TestApp, token: Option<&str>, query: &str) -> (Value, String, String, String) {
    let mut req = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": query }));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let h = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (policy, state, retry) = (h("ratelimit-policy"), h("ratelimit"), h("retry-after"));
    (resp.json().await.unwrap(), policy, state, retry)
}

/// Calls until refused; returns the refusal and how many calls went through.
async fn until_limited(app: &TestApp, s: &Session) -> ((Value, String, String, String), usize) {
    for served in 0..500 {
        let got = call(app, Some(&s.access), "{ me { id } }").await;
        if error_code(&got.0) == Some("RATE_LIMITED") {
            return (got, served);
        }
        assert!(got.0["errors"].is_null(), "{}", got.0);
    }
    panic!("never limited");
}

fn remaining(state: &str, bucket: &str) -> u64 {
    state
        .split(',')
        .map(str::trim)
        .find(|m| m.starts_with(&format!("\"{bucket}\"")))
        .and_then(|m| m.split(";r=").nth(1))
        .and_then(|r| r.split(';').next())
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("no {bucket} in {state:?}"))
}

#[tokio::test]
async fn members_then_their_organization_are_limited_and_others_are_not() {
    let app = app_with(40, 70, 100_000).await;
    let admin = app.register().await;
    let a = app.member(&admin, false).await;
    let b = app.member(&admin, false).await;
    let other = app.register().await;

    let (first, policy, state, _) = call(&app, Some(&a.access), "{ me { id } }").await;
    assert!(first["errors"].is_null(), "{first}");
    assert_eq!(policy, "\"user\";q=40;w=60, \"org\";q=70;w=60");
    assert!(remaining(&state, "user") < 40, "{state}");

    // A spends their own budget: refused with retryAfter, Retry-After and r=0.
    let ((refused, _, state, retry), served) = until_limited(&app, &a).await;
    assert!(served > 5, "{served}");
    let after = refused["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .unwrap();
    assert!((1..=60).contains(&after), "{refused}");
    assert_eq!(retry, after.to_string());
    assert_eq!(remaining(&state, "user"), 0, "{state}");

    // B, same organization, is served until the organization's budget is spent.
    let ((refused, _, state, _), served) = until_limited(&app, &b).await;
    assert!(served >= 1, "B was served before the organization ran out");
    assert_eq!(error_code(&refused), Some("RATE_LIMITED"));
    assert_eq!(
        remaining(&state, "org"),
        0,
        "the organization's bucket: {state}"
    );
    assert!(
        remaining(&state, "user") > 0,
        "B's own budget is not what stopped them: {state}"
    );

    // Another organization is unaffected; health and metrics are never limited.
    let (theirs, _, _, _) = call(&app, Some(&other.access), "{ me { id } }").await;
    assert!(theirs["errors"].is_null(), "{theirs}");
    for _ in 0..50 {
        let h = app.client.get(app.url("/health")).send().await.unwrap();
        assert_eq!(h.status().as_u16(), 200);
    }
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("plugs_rate_limited_total{bucket=\"user\"} 1")
            && metrics.contains("plugs_rate_limited_total{bucket=\"org\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn expensive_queries_spend_the_budget_faster() {
    let app = app_with(5_000, 100_000, 100_000).await;
    let admin = app.register().await;
    let (_, _, before, _) = call(&app, Some(&admin.access), "{ me { id } }").await;
    let cheap = 5_000 - remaining(&before, "user");
    let (body, _, after, _) = call(
        &app,
        Some(&admin.access),
        "{ contacts(first: 100) { nodes { id firstName lastName email createdBy { id firstName } } } }",
    )
    .await;
    assert!(body["errors"].is_null(), "{body}");
    let expensive = remaining(&before, "user") - remaining(&after, "user");
    assert!(
        expensive > 50 * cheap,
        "a 100-row page cost {expensive}, `me` cost {cheap}"
    );
    // A document costing more than a minute's budget can never run: not a wait, a refusal.
    let app = app_with(100, 100_000, 100_000).await;
    let admin = app.register().await;
    let (refused, _, _, _) = call(
        &app,
        Some(&admin.access),
        "{ contacts(first: 100) { nodes { id firstName } } }",
    )
    .await;
    assert_eq!(error_code(&refused), Some("QUERY_TOO_COMPLEX"), "{refused}");
}

#[tokio::test]
async fn anonymous_operations_are_limited_per_client_ip() {
    let app = app_with(100_000, 100_000, 30).await;
    let admin = app.register().await;
    let mut limited = None;
    for _ in 0..200 {
        let (body, policy, _, _) = call(
            &app,
            None,
            "mutation { refreshToken(refreshToken: \"not-a-token\") { accessToken } }",
        )
        .await;
        if error_code(&body) == Some("RATE_LIMITED") {
            limited = Some(body);
            break;
        }
        assert_eq!(policy, "\"ip\";q=30;w=60");
    }
    let limited = limited.expect("anonymous calls from one IP are limited");
    assert!(
        limited["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .unwrap()
            >= 1
    );
    // A signed-in member from the same address is charged to their own buckets.
    let (me, _, _, _) = call(&app, Some(&admin.access), "{ me { id } }").await;
    assert!(me["errors"].is_null(), "{me}");
}
