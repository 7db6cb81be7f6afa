//! Load script for the events issue: (1) 200 clients registering at once for one event with
//! 50 seats (throughput, p99, and the exact seat count), (2) requests/s of the nested events
//! page (20 events with organizer, agenda speakers and the first 10 attendees' names).
//!
//! ```sh
//! export PLUGS_DATABASE_URL=postgres://postgres@127.0.0.1:5432/plugs_load
//! cargo run --release -- seed --demo            # or the scaled seed of contacts_load
//! cargo run --release &
//! cargo run --release --example events_load -- http://127.0.0.1:8080 10
//! ```

use std::time::{Duration, Instant};

use serde_json::{Value, json};

async fn gql(client: &reqwest::Client, url: &str, token: &str, query: &str, vars: Value) -> Value {
    client
        .post(url)
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": vars }))
        .send()
        .await
        .expect("server answers")
        .json()
        .await
        .expect("JSON")
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
    let url = format!("{base}/graphql");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let login: Value = client
        .post(&url)
        .json(&json!({ "query": "mutation($e: String!, $p: String!) { login(input: { email: $e, password: $p }) { accessToken } }",
                       "variables": { "e": plugs::seed::ADMIN_EMAIL, "p": plugs::seed::ADMIN_PASSWORD } }))
        .send().await.unwrap().json().await.unwrap();
    let token = login["data"]["login"]["accessToken"]
        .as_str()
        .expect("seeded demo admin")
        .to_owned();

    // 200 members to register (created by the admin; argon2 makes this the slow part).
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let mut members = Vec::new();
    for i in 0..200 {
        let body = gql(&client, &url, &token, "mutation($e: String!) { createUser(input: { email: $e, password: \"load test password\", firstName: \"L\", lastName: \"T\" }) { id } }",
            json!({ "e": format!("load-{}-{i}@demo.theplugs.example", &tag[..8]) })).await;
        members.push(
            body["data"]["createUser"]["id"]
                .as_str()
                .expect("member")
                .to_owned(),
        );
    }
    let start = chrono::Utc::now() + chrono::Duration::days(30);
    let ev = gql(&client, &url, &token, "mutation($s: DateTime!, $e: DateTime!) { createEvent(input: { title: \"Load night\", startDate: $s, endDate: $e, maxAttendees: 50 }) { id } }",
        json!({ "s": start.to_rfc3339(), "e": (start + chrono::Duration::hours(3)).to_rfc3339() })).await;
    let event = ev["data"]["createEvent"]["id"].as_str().unwrap().to_owned();
    gql(
        &client,
        &url,
        &token,
        "mutation($id: ID!) { publishEvent(id: $id) { id } }",
        json!({ "id": event }),
    )
    .await;

    let t0 = Instant::now();
    let tasks: Vec<_> = members.iter().map(|m| {
        let (client, url, token, event, m) = (client.clone(), url.clone(), token.clone(), event.clone(), m.clone());
        tokio::spawn(async move {
            let t = Instant::now();
            let body = gql(&client, &url, &token, "mutation($e: ID!, $u: ID) { registerForEvent(eventId: $e, userId: $u) { id } }", json!({ "e": event, "u": m })).await;
            let code = body["errors"][0]["extensions"]["code"].as_str().unwrap_or("OK").to_owned();
            (t.elapsed(), code)
        })
    }).collect();
    let mut lat = Vec::new();
    let (mut ok, mut full, mut other) = (0, 0, 0);
    for t in tasks {
        let (d, code) = t.await.unwrap();
        lat.push(d);
        match code.as_str() {
            "OK" => ok += 1,
            "EVENT_FULL" => full += 1,
            _ => other += 1,
        }
    }
    let wall = t0.elapsed();
    lat.sort();
    let seats = gql(
        &client,
        &url,
        &token,
        "query($id: ID!) { event(id: $id) { currentAttendees } }",
        json!({ "id": event }),
    )
    .await;
    println!(
        "registration burst: 200 clients, 50 seats: {ok} registered, {full} EVENT_FULL, {other} other; currentAttendees={}",
        seats["data"]["event"]["currentAttendees"]
    );
    println!(
        "  wall {:.2?} ({:.0} registrations/s), p50 {:.2?}, p99 {:.2?}, max {:.2?}",
        wall,
        200.0 / wall.as_secs_f64(),
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        lat.last().unwrap()
    );

    let page = "{ events(first: 20) { nodes { id createdBy { id } agenda { speaker { id } } attendees(first: 10) { nodes { user { firstName } } } } } }";
    let deadline = Instant::now() + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (client, url, token) = (client.clone(), url.clone(), token.clone());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let body = gql(&client, &url, &token, page, json!({})).await;
                    assert!(body["errors"].is_null(), "{body}");
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    lat.sort();
    println!(
        "nested events page: 8 clients, {} requests, {:.1} req/s, p50 {:.2?}, p99 {:.2?}",
        lat.len(),
        lat.len() as f64 / secs as f64,
        pct(&lat, 0.5),
        pct(&lat, 0.99)
    );
}
