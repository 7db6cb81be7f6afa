//! Load script for the media issue: (1) 20 clients uploading a 20 MiB file each at once
//! (throughput, and the server's resident memory sampled from /proc while they run: streaming
//! keeps it flat), (2) image variants per second (uploads `IMAGES` 2400x1600 PNGs, then waits
//! until the job workers have made every one READY).
//!
//! ```sh
//! export PLUGS_DATABASE_URL=sqlite:///tmp/plugs-media-load.db?mode=rwc
//! export PLUGS_STORAGE_URL=file:///tmp/plugs-media-load
//! cargo run --release -- seed --demo
//! cargo run --release &
//! cargo run --release --example media_load -- http://127.0.0.1:8080 $(pgrep -n plugs)
//! ```

use std::time::{Duration, Instant};

use serde_json::{Value, json};

const CLIENTS: usize = 20;
const FILE_MIB: usize = 20;
const IMAGES: usize = 40;

async fn gql(client: &reqwest::Client, url: &str, token: &str, query: &str) -> Value {
    client
        .post(url)
        .bearer_auth(token)
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("server answers")
        .json()
        .await
        .expect("JSON")
}

async fn upload(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    bytes: Vec<u8>,
    name: &str,
) -> Value {
    let operations = json!({
        "query": "mutation($file: Upload!) { uploadMedia(file: $file) { id status } }",
        "variables": { "file": null },
    });
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.file"] }).to_string())
        .part(
            "0",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
        );
    client
        .post(url)
        .bearer_auth(token)
        .header("apollo-require-preflight", "true")
        .multipart(form)
        .send()
        .await
        .expect("server answers")
        .json()
        .await
        .expect("JSON")
}

/// The server's resident set in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main]
async fn main() {
    // reqwest is built without a default TLS provider (as the server is).
    plugs::crypto::install_tls_provider();
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let pid: u32 = args
        .next()
        .and_then(|s| s.parse().ok())
        .expect("the server's pid");
    let url = format!("{base}/graphql");
    let client = reqwest::Client::new();
    let login = client
        .post(&url)
        .json(&json!({ "query": "mutation($e: String!, $p: String!) { login(input: { email: $e, password: $p }) { accessToken } }",
                       "variables": { "e": plugs::seed::ADMIN_EMAIL, "p": plugs::seed::ADMIN_PASSWORD } }))
        .send()
        .await
        .expect("server answers")
        .json::<Value>()
        .await
        .unwrap();
    let token = login["data"]["login"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("demo login: {login}"))
        .to_owned();

    // 1. Uploads.
    let file: Vec<u8> = (0..FILE_MIB * 1024 * 1024)
        .map(|i| b"The Plugs media load\n"[i % 21])
        .collect();
    let before = rss_mib(pid);
    let peak = std::sync::Arc::new(std::sync::Mutex::new(before));
    let sampling = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                let now = rss_mib(pid);
                {
                    let mut p = peak.lock().unwrap();
                    *p = p.max(now);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let started = Instant::now();
    let uploads = (0..CLIENTS).map(|i| {
        let (client, url, token, file) = (client.clone(), url.clone(), token.clone(), file.clone());
        tokio::spawn(
            async move { upload(&client, &url, &token, file, &format!("load-{i}.txt")).await },
        )
    });
    let mut ok = 0;
    for u in uploads {
        let body = u.await.unwrap();
        if body["errors"].is_null() {
            ok += 1;
        } else {
            eprintln!("refused: {body}");
        }
    }
    let took = started.elapsed();
    sampling.abort();
    let after = rss_mib(pid);
    let peak = *peak.lock().unwrap();
    let mib = (CLIENTS * FILE_MIB) as f64;
    println!(
        "uploads: {ok}/{CLIENTS} x {FILE_MIB} MiB in {:.2} s = {:.1} MiB/s; server RSS before {before:.1} MiB, peak {peak:.1} MiB (+{:.1}), after {after:.1} MiB",
        took.as_secs_f64(),
        mib / took.as_secs_f64(),
        peak - before
    );

    // 2. Image variants.
    let png = {
        let img = image::RgbImage::from_fn(2400, 1600, |x, y| {
            image::Rgb([(x % 251) as u8, (y % 241) as u8, ((x + y) % 239) as u8])
        });
        let mut out = Vec::new();
        image::DynamicImage::ImageRgb8(img)
            .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    };
    let pending = "{ media(filter: { status: [PROCESSING] }) { totalCount } }";
    let waiting = |body: Value| body["data"]["media"]["totalCount"].as_i64().unwrap_or(-1);
    assert_eq!(
        waiting(gql(&client, &url, &token, pending).await),
        0,
        "start with no image in progress"
    );
    // Timed from the first upload (the workers start as soon as the first image lands).
    let started = Instant::now();
    for i in 0..IMAGES {
        let body = upload(
            &client,
            &url,
            &token,
            png.clone(),
            &format!("photo-{i}.png"),
        )
        .await;
        assert!(body["errors"].is_null(), "{body}");
    }
    let uploaded = started.elapsed();
    loop {
        let left = waiting(gql(&client, &url, &token, pending).await);
        if left == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "{left} still processing"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = started.elapsed();
    let failed = gql(
        &client,
        &url,
        &token,
        "{ media(filter: { status: [FAILED] }) { totalCount } }",
    )
    .await;
    println!(
        "variants: {IMAGES} images of 2400x1600 ({} KiB PNG) uploaded one after another in {:.2} s, all READY {:.2} s after the first = {:.1} images/s (failed: {})",
        png.len() / 1024,
        uploaded.as_secs_f64(),
        took.as_secs_f64(),
        IMAGES as f64 / took.as_secs_f64(),
        failed["data"]["media"]["totalCount"]
    );
}
