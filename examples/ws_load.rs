//! Load script for the realtime issue: N idle subscriptions to one event on one server, then
//! a series of changes to that event. Prints the server's resident memory before and after
//! the sockets opened, and, per change, the time from the mutation's HTTP response to each
//! subscriber's delivery (p50/p99 over every delivery, and the last subscriber's).
//!
//! ```sh
//! ulimit -n 30000
//! cargo run --release &                      # SQLite; or PLUGS_DATABASE_URL=postgres://...
//! cargo run --release --example ws_load -- http://127.0.0.1:8080 10000 1 20 $(pgrep -n plugs)
//! #                                         server URL            sockets subs/socket changes server pid
//! ```
//! The client runs on the same machine, so its own scheduling is part of what it measures.
//! `WS_LOAD_VIEWERS=n` spreads the sockets over n members of the organization (the admin and
//! n-1 more), round robin: identical subscriptions share one execution only per viewer.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

async fn gql(client: &reqwest::Client, url: &str, token: &str, query: &str, vars: Value) -> Value {
    let mut request = client.post(url);
    if !token.is_empty() {
        request = request.bearer_auth(token);
    }
    let body: Value = request
        .json(&json!({ "query": query, "variables": vars }))
        .send()
        .await
        .expect("server answers")
        .json()
        .await
        .expect("JSON");
    assert!(body["errors"].is_null(), "{query}: {body}");
    body
}

/// A server message, as far as this client reads it.
#[derive(serde::Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    payload: Option<Payload<'a>>,
}

#[derive(serde::Deserialize)]
struct Payload<'a> {
    #[serde(default, borrow)]
    data: Option<Data<'a>>,
}

#[derive(serde::Deserialize)]
struct Data<'a> {
    #[serde(rename = "eventAttendeeChanged", default, borrow)]
    change: Option<Change<'a>>,
}

#[derive(serde::Deserialize)]
struct Change<'a> {
    #[serde(borrow)]
    attendee: Attendee<'a>,
}

#[derive(serde::Deserialize)]
struct Attendee<'a> {
    #[serde(default, borrow)]
    notes: Option<Cow<'a, str>>,
}

/// The deliveries so far, and how many each change has had.
struct Tally {
    arrivals: Mutex<Vec<(usize, Instant)>>,
    counts: Vec<AtomicUsize>,
    everyone: usize,
    complete: tokio::sync::Notify,
}

impl Tally {
    fn arrived(&self, change: usize, at: Instant) {
        let Some(count) = self.counts.get(change) else {
            return;
        };
        self.arrivals.lock().unwrap().push((change, at));
        if count.fetch_add(1, Ordering::AcqRel) + 1 == self.everyone {
            self.complete.notify_one();
        }
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn rss_kib(pid: Option<u32>) -> Option<f64> {
    std::fs::read_to_string(format!("/proc/{}/status", pid?))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
}

/// CPU time a process has used so far (user + system, from /proc), in milliseconds.
fn cpu_ms(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // USER_HZ is 100 on Linux.
    Some(ticks * 10.0)
}

fn rss_mib(pid: Option<u32>) -> String {
    match (pid, rss_kib(pid)) {
        (None, _) => "n/a (pass the server pid)".into(),
        (_, None) => "n/a".into(),
        (_, Some(kib)) => format!("{:.1} MiB", kib / 1024.0),
    }
}

#[tokio::main]
async fn main() {
    // reqwest is built without a default TLS provider (as the server is).
    plugs::crypto::install_tls_provider();
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let sockets: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let per_socket: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let changes: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(20);
    let pid: Option<u32> = args.next().and_then(|s| s.parse().ok());
    let url = format!("{base}/graphql");
    let ws_url = format!("{}/graphql/ws", base.replace("http://", "ws://"));
    let client = reqwest::Client::new();

    // A fresh organization with one published event and one registration to change.
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let reg: Value = client
        .post(&url)
        .json(&json!({ "query": "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }",
            "variables": { "i": { "organizationName": "WS load", "organizationDomain": format!("ws-{}.test", &tag[..10]),
                "email": format!("admin@ws-{}.test", &tag[..10]), "password": "ws load password", "firstName": "W", "lastName": "S" } } }))
        .send().await.unwrap().json().await.unwrap();
    let token = reg["data"]["register"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("register: {reg}"))
        .to_owned();
    // Viewers: the admin, then members created and signed in one by one.
    let viewers: usize = std::env::var("WS_LOAD_VIEWERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let mut tokens = vec![token.clone()];
    for i in 1..viewers {
        let email = format!("m{i}@ws-{}.test", &tag[..10]);
        gql(&client, &url, &token, "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
            json!({ "i": { "email": email, "password": "ws load password", "firstName": "M", "lastName": "V" } })).await;
        let login = gql(
            &client,
            &url,
            "",
            "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
            json!({ "i": { "email": email, "password": "ws load password" } }),
        )
        .await;
        tokens.push(
            login["data"]["login"]["accessToken"]
                .as_str()
                .expect("a token")
                .to_owned(),
        );
    }
    if viewers > 1 {
        println!("{viewers} viewers signed in");
    }
    let start = chrono::Utc::now() + chrono::Duration::days(7);
    let e = gql(&client, &url, &token, "mutation($i: CreateEventInput!) { createEvent(input: $i) { id } }",
        json!({ "i": { "title": "Load", "startDate": start.to_rfc3339(), "endDate": (start + chrono::Duration::hours(2)).to_rfc3339() } })).await;
    let event = e["data"]["createEvent"]["id"].as_str().unwrap().to_owned();
    gql(
        &client,
        &url,
        &token,
        "mutation($id: ID!) { publishEvent(id: $id) { id } }",
        json!({ "id": event }),
    )
    .await;
    let r = gql(
        &client,
        &url,
        &token,
        "mutation($e: ID!) { registerForEvent(eventId: $e) { id } }",
        json!({ "e": event }),
    )
    .await;
    let attendee = r["data"]["registerForEvent"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    println!("server RSS before the sockets: {}", rss_mib(pid));
    let rss_before = rss_kib(pid);
    // Every delivery: (change number, when it arrived). Socket tasks record their own and
    // wake the main task only when a change has reached every socket: a channel message per
    // delivery woke the main thread 10,000 times a change, a quarter of this client's CPU.
    let tally = Arc::new(Tally {
        arrivals: Mutex::new(Vec::with_capacity(sockets * per_socket * changes.max(1))),
        counts: (0..=changes).map(|_| AtomicUsize::new(0)).collect(),
        everyone: sockets * per_socket,
        complete: tokio::sync::Notify::new(),
    });
    // Sockets set up at once (env WS_LOAD_CONCURRENCY): a burst of setups costs the server
    // transient memory that its allocator may keep as resident afterwards.
    let concurrency: usize = std::env::var("WS_LOAD_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let gate = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let opened = Instant::now();
    let mut ready = Vec::new();
    for socket in 0..sockets {
        let (ws_url, token, event, tally, gate) = (
            ws_url.clone(),
            tokens[socket % tokens.len()].clone(),
            event.clone(),
            tally.clone(),
            gate.clone(),
        );
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
        ready.push(ready_rx);
        tokio::spawn(async move {
            let permit = gate.acquire_owned().await.unwrap();
            let mut req = ws_url.into_client_request().unwrap();
            req.headers_mut().insert(
                "sec-websocket-protocol",
                "graphql-transport-ws".parse().unwrap(),
            );
            // tungstenite's default 128 KiB read buffer is zeroed on every read: with 10,000
            // sockets that was half of this client's CPU, taken from the server it measures.
            let config = WebSocketConfig::default().read_buffer_size(4096);
            let (mut ws, _) =
                tokio_tungstenite::connect_async_with_config(req, Some(config), false)
                    .await
                    .expect("upgrade");
            ws.send(Message::text(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } }).to_string())).await.unwrap();
            // The protocol allows subscribing only once the server acknowledged (graphql-ws
            // closes a socket that subscribes earlier with 4401).
            while let Some(Ok(msg)) = ws.next().await {
                if let Message::Text(t) = msg
                    && serde_json::from_str::<Value>(&t).unwrap()["type"] == "connection_ack"
                {
                    break;
                }
            }
            for i in 0..per_socket {
                ws.send(Message::text(json!({ "id": format!("s{i}"), "type": "subscribe", "payload": {
                    "query": "subscription($e: ID!) { eventAttendeeChanged(eventId: $e) { kind currentAttendees attendee { id notes } } }",
                    "variables": { "e": event } } }).to_string())).await.unwrap();
            }
            // A probe operation answers once the subscriptions before it are running.
            ws.send(Message::text(
                json!({ "id": "probe", "type": "subscribe", "payload": { "query": "{ apiVersion }" } })
                    .to_string(),
            ))
            .await
            .unwrap();
            let mut ready_tx = Some(ready_tx);
            let mut permit = Some(permit);
            while let Some(Ok(msg)) = ws.next().await {
                let at = Instant::now();
                let Message::Text(t) = msg else { continue };
                // Typed and borrowed: this client shares the CPU with the server it measures.
                let frame: Frame = serde_json::from_str(&t).unwrap();
                match frame.kind.as_ref() {
                    "complete" if frame.id.as_deref() == Some("probe") => {
                        permit.take();
                        if let Some(r) = ready_tx.take() {
                            let _ = r.send(());
                        }
                    }
                    "ping" => {
                        let _ = ws
                            .send(Message::text(json!({ "type": "pong" }).to_string()))
                            .await;
                    }
                    "next" if frame.id.as_deref() != Some("probe") => {
                        let notes = frame
                            .payload
                            .and_then(|p| p.data?.change?.attendee.notes)
                            .unwrap_or_default();
                        if let Ok(n) = notes.trim_start_matches("change ").parse::<usize>() {
                            tally.arrived(n, at);
                        }
                    }
                    _ => {}
                }
            }
        });
    }
    for r in ready {
        r.await.expect("every socket subscribed");
    }
    let subscriptions = sockets * per_socket;
    println!(
        "{sockets} sockets x {per_socket} = {subscriptions} subscriptions ready in {:.1?}",
        opened.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!("server RSS with them idle: {}", rss_mib(pid));
    let rss_idle = rss_kib(pid);

    let mut all = Vec::new();
    let mut lasts = Vec::new();
    let changes = if subscriptions == 0 { 0 } else { changes };
    // CPU spent by the server and by this client over the changes (each change's fan-out).
    let server_pid = pid.map(|p| p.to_string());
    let cpu_before = (server_pid.as_deref().and_then(cpu_ms), cpu_ms("self"));
    for n in 1..=changes {
        gql(
            &client,
            &url,
            &token,
            "mutation($id: ID!, $n: String!) { updateAttendee(id: $id, input: { notes: $n }) { id } }",
            json!({ "id": attendee, "n": format!("change {n}") }),
        )
        .await;
        let responded = Instant::now();
        tokio::time::timeout(Duration::from_secs(30), async {
            while tally.counts[n].load(Ordering::Acquire) < subscriptions {
                tally.complete.notified().await;
            }
        })
        .await
        .expect("every subscriber is served within 30 s");
        let arrivals = std::mem::take(&mut *tally.arrivals.lock().unwrap());
        let mut last = Duration::ZERO;
        // Without late copies of earlier changes.
        for (_, at) in arrivals.into_iter().filter(|(m, _)| *m == n) {
            let d = at.saturating_duration_since(responded);
            all.push(d);
            last = last.max(d);
        }
        lasts.push(last);
        println!("change {n}: all {subscriptions} delivered, last after {last:.1?}");
    }
    let cpu_after = (server_pid.as_deref().and_then(cpu_ms), cpu_ms("self"));
    all.sort();
    lasts.sort();
    if changes == 0 {
        return;
    }
    let per_change = |before: Option<f64>, after: Option<f64>| match (before, after) {
        (Some(b), Some(a)) => format!("{:.1}", (a - b) / changes as f64),
        _ => "n/a".into(),
    };
    let (server_cpu, client_cpu) = (
        per_change(cpu_before.0, cpu_after.0),
        per_change(cpu_before.1, cpu_after.1),
    );
    println!(
        "from the mutation's response to a delivery, over {} deliveries: p50 {:.1?}, p99 {:.1?}",
        all.len(),
        pct(&all, 0.5),
        pct(&all, 0.99)
    );
    println!(
        "to the last subscriber's delivery, over {changes} changes: p50 {:.1?}, p99 {:.1?}",
        pct(&lasts, 0.5),
        pct(&lasts, 0.99)
    );
    println!(
        "CPU per change (its {subscriptions} deliveries, with the mutation; from /proc in 10 ms \
         ticks over all changes): server {server_cpu} ms, this client {client_cpu} ms"
    );
    println!("server RSS after: {}", rss_mib(pid));
    // One line for scripts (bench/realtime): per-subscription memory, the tail latencies and the
    // CPU per change.
    let per_sub = match (rss_before, rss_idle) {
        (Some(b), Some(i)) => format!("{:.1}", (i - b) / subscriptions as f64),
        _ => "n/a".into(),
    };
    println!(
        "RESULT subscriptions={subscriptions} kib_per_subscription={per_sub} \
         p99_delivery_ms={:.1} p50_last_ms={:.1} p99_last_ms={:.1} \
         server_cpu_ms_per_change={server_cpu} client_cpu_ms_per_change={client_cpu}",
        pct(&all, 0.99).as_secs_f64() * 1e3,
        pct(&lasts, 0.5).as_secs_f64() * 1e3,
        pct(&lasts, 0.99).as_secs_f64() * 1e3,
    );
}
