//! Load script for the auth issue: p99 latency of a cheap authenticated query (`{ me { id } }`)
//! alone, then while 50 logins run at once. Speed is measured here, never asserted in tests.
//!
//! ```sh
//! cargo run --release &                                  # a server on 127.0.0.1:8080
//! cargo run --release --example auth_load -- http://127.0.0.1:8080 20
//! ```
//! Arguments: base URL (default http://127.0.0.1:8080), seconds per phase (default 10).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const PASSWORD: &str = "load test password";

async fn gql(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    query: &str,
    vars: Value,
) -> Value {
    let mut req = client
        .post(url)
        .json(&json!({ "query": query, "variables": vars }));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send()
        .await
        .expect("server answers")
        .json()
        .await
        .expect("JSON")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Runs `{ me { id } }` from 4 clients for `secs`, returns sorted latencies.
async fn measure_me(client: &reqwest::Client, url: &str, token: &str, secs: u64) -> Vec<Duration> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (client, url, token) = (client.clone(), url.to_owned(), token.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let body = gql(&client, &url, Some(&token), "{ me { id } }", json!({})).await;
                assert!(body["errors"].is_null(), "{body}");
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    all
}

fn report(label: &str, lat: &[Duration], secs: u64) {
    println!(
        "{label:<28} n={:<6} rps={:<7.0} p50={:>7.2?} p90={:>7.2?} p99={:>7.2?} max={:>7.2?}",
        lat.len(),
        lat.len() as f64 / secs as f64,
        percentile(lat, 0.50),
        percentile(lat, 0.90),
        percentile(lat, 0.99),
        lat.last().copied().unwrap_or_default(),
    );
}

#[tokio::main]
async fn main() {
    // reqwest is built without a default TLS provider (as the server is).
    plugs::crypto::install_tls_provider();
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let secs: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(10);
    let url = format!("{base}/graphql");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(128)
        .build()
        .unwrap();

    let tag = uuid::Uuid::new_v4().simple().to_string();
    let domain = format!("load-{}.test", &tag[..10]);
    let email = format!("load@{domain}");
    let body = gql(
        &client,
        &url,
        None,
        "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }",
        json!({ "i": { "organizationName": "Load", "organizationDomain": domain, "email": email,
                       "password": PASSWORD, "firstName": "L", "lastName": "T" } }),
    )
    .await;
    let token = body["data"]["register"]["accessToken"]
        .as_str()
        .expect("registered")
        .to_owned();

    let alone = measure_me(&client, &url, &token, secs).await;
    report("me alone", &alone, secs);

    // 50 clients logging in back to back (correct password: failures would hit the rate limit).
    let stop = Arc::new(AtomicBool::new(false));
    let logins = Arc::new(AtomicUsize::new(0));
    let mut login_tasks = Vec::new();
    for _ in 0..50 {
        let (client, url, email, stop, logins) = (
            client.clone(),
            url.clone(),
            email.clone(),
            stop.clone(),
            logins.clone(),
        );
        login_tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let body = gql(
                    &client,
                    &url,
                    None,
                    "mutation($e: String!, $p: String!) { login(input: { email: $e, password: $p }) { expiresIn } }",
                    json!({ "e": email, "p": PASSWORD }),
                )
                .await;
                assert!(body["errors"].is_null(), "{body}");
                lat.push(t.elapsed());
                logins.fetch_add(1, Ordering::Relaxed);
            }
            lat
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let loaded = measure_me(&client, &url, &token, secs).await;
    stop.store(true, Ordering::Relaxed);
    let mut login_lat = Vec::new();
    for t in login_tasks {
        login_lat.extend(t.await.unwrap());
    }
    login_lat.sort();
    report("me during 50 logins", &loaded, secs);
    report("login (50 concurrent)", &login_lat, secs);
    println!("logins completed: {}", logins.load(Ordering::Relaxed));
}
