//! Load script for the contacts issue: requests/s and latency percentiles of
//! (a) `contacts(first: 50, orderBy: LEAD_SCORE DESC)` and (b) the nested page of 100 contacts
//! with `createdBy`, `interactionCount` and `interactions(first: 5) { nodes { user { id } } }`,
//! plus the SQL statements one (b) request runs (from `/metrics`).
//!
//! ```sh
//! createdb -h 127.0.0.1 -U postgres plugs_load
//! export PLUGS_DATABASE_URL=postgres://postgres@127.0.0.1:5432/plugs_load
//! cargo run --release -- seed --demo --contacts 10000 --interactions 100000
//! cargo run --release &
//! cargo run --release --example contacts_load -- http://127.0.0.1:8080 15 8
//! ```
//! Arguments: base URL, seconds per scenario (default 10), concurrent clients (default 8).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

const A: &str = "{ contacts(first: 50, orderBy: [{ field: LEAD_SCORE, direction: DESC }]) { nodes { id firstName lastName leadScore company } pageInfo { endCursor } } }";
const B: &str = "{ contacts(first: 100) { nodes { id createdBy { id } interactionCount interactions(first: 5) { nodes { id user { id } } } } } }";

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

async fn statements(client: &reqwest::Client, base: &str) -> u64 {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("plugs_db_statements_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

async fn run(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    query: &'static str,
    secs: u64,
    clients: usize,
) -> Vec<Duration> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, url, token) = (client.clone(), url.to_owned(), token.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let body = gql(&client, &url, Some(&token), query, json!({})).await;
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

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
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
    let clients: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(8);
    let url = format!("{base}/graphql");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let login = gql(
        &client,
        &url,
        None,
        "mutation($e: String!, $p: String!) { login(input: { email: $e, password: $p }) { accessToken } }",
        json!({ "e": plugs::seed::ADMIN_EMAIL, "p": plugs::seed::ADMIN_PASSWORD }),
    )
    .await;
    let token = login["data"]["login"]["accessToken"]
        .as_str()
        .expect("seeded demo admin")
        .to_owned();

    let before = statements(&client, &base).await;
    let body = gql(&client, &url, Some(&token), B, json!({})).await;
    let after = statements(&client, &base).await;
    let n = body["data"]["contacts"]["nodes"]
        .as_array()
        .map_or(0, |v| v.len());
    println!(
        "(b) one request: {} statements for {n} contacts (auth included)",
        after - before
    );

    for (label, q) in [
        ("(a) contacts by lead score", A),
        ("(b) nested page of 100", B),
    ] {
        let lat = run(&client, &url, &token, q, secs, clients).await;
        println!(
            "{label:<28} clients={clients} n={:<6} rps={:<7.1} p50={:>8.2?} p99={:>8.2?} max={:>8.2?}",
            lat.len(),
            lat.len() as f64 / secs as f64,
            pct(&lat, 0.5),
            pct(&lat, 0.99),
            lat.last().unwrap()
        );
    }
}
