//! Load script for the job queue (issue 13), on the database of `PLUGS_DATABASE_URL`
//! (PostgreSQL is the point; SQLite works too):
//! 1. throughput: N no-op jobs enqueued in one transaction, drained by 1, 4 and 16 workers;
//! 2. latency from an enqueue's commit to the job's start, one job per transaction at a
//!    steady rate, with 4 workers woken by the commit;
//! 3. what an enqueue adds to a write transaction (an insert alone vs insert + enqueue).
//!
//! ```sh
//! createdb -h 127.0.0.1 -U postgres plugs_jobs_load
//! PLUGS_DATABASE_URL=postgres://postgres@127.0.0.1:5432/plugs_jobs_load \
//!   cargo run --release --example jobs_load -- 5000
//! ```

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use migration::{Migrator, MigratorTrait};
use plugs::jobs::{Enqueue, Job, JobContext, JobError, JobsConfig, Registry};
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde::{Deserialize, Serialize};

/// When each marked job started.
static STARTED: LazyLock<Mutex<HashMap<u64, Instant>>> = LazyLock::new(Mutex::default);

#[derive(Serialize, Deserialize)]
struct Noop {
    n: u64,
}

impl Job for Noop {
    const KIND: &'static str = "load.noop";

    fn run(self, _ctx: JobContext) -> BoxFuture<'static, Result<(), JobError>> {
        Box::pin(async move {
            STARTED.lock().unwrap().insert(self.n, Instant::now());
            Ok(())
        })
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn drained(n0: u64, count: u64) {
    loop {
        let done = {
            let s = STARTED.lock().unwrap();
            (n0..n0 + count).all(|n| s.contains_key(&n))
        };
        if done {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::main]
async fn main() {
    let count: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5000);
    let url = std::env::var("PLUGS_DATABASE_URL").expect("PLUGS_DATABASE_URL");
    let db = plugs::db::connect_url(&url, 20).await.expect("database");
    Migrator::up(&db, None).await.expect("migrations");
    let broker: plugs::realtime::SharedBroker =
        Arc::new(plugs::realtime::InProcessBroker::new(1024));
    let config = JobsConfig {
        poll: Duration::from_millis(200),
        ..JobsConfig::default()
    };
    let storage_dir = std::env::temp_dir().join("plugs-jobs-load-media");
    let storage = plugs::storage::Storage::from_url(&format!("file://{}", storage_dir.display()))
        .expect("storage");
    let ctx = JobContext {
        db: db.clone(),
        storage,
        broker: broker.clone(),
        config: Arc::new(config.clone()),
        keyring: plugs::crypto::Keyring::development("jobs load"),
        webhook_allow_private: false,
        mailer: plugs::mail::Mailer::new(&Default::default()).expect("log mailer"),
        composer: plugs::mail::Composer::new(
            plugs::crypto::Keyring::development("jobs load"),
            "http://127.0.0.1:8080",
        ),
    };
    let registry = Arc::new(Registry::default().with::<Noop>());
    let mut next = 0u64;

    println!("1. throughput ({count} no-op jobs, enqueued in one transaction)");
    for workers in [1usize, 4, 16] {
        let txn = db.begin().await.unwrap();
        for n in next..next + count {
            plugs::jobs::enqueue_system(&txn, &Noop { n }, Enqueue::default())
                .await
                .unwrap();
        }
        txn.commit().await.unwrap();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let started = Instant::now();
        let handles = plugs::jobs::spawn_workers(
            ctx.clone(),
            registry.clone(),
            plugs::telemetry::Metrics::default(),
            workers,
            stopped,
        );
        drained(next, count).await;
        let took = started.elapsed();
        plugs::startup::stop_jobs(stop, handles).await;
        println!(
            "   {workers:>2} worker(s): {:>7.0} jobs/s ({took:.2?})",
            count as f64 / took.as_secs_f64()
        );
        next += count;
    }

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let handles = plugs::jobs::spawn_workers(
        ctx.clone(),
        registry.clone(),
        plugs::telemetry::Metrics::default(),
        4,
        stopped,
    );
    let samples = 1000u64;
    let mut committed = HashMap::new();
    for n in next..next + samples {
        let txn = db.begin().await.unwrap();
        plugs::jobs::enqueue_system(&txn, &Noop { n }, Enqueue::default())
            .await
            .unwrap();
        txn.commit().await.unwrap();
        committed.insert(n, Instant::now());
        plugs::jobs::wake(&broker);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drained(next, samples).await;
    plugs::startup::stop_jobs(stop, handles).await;
    let mut lat: Vec<Duration> = {
        let s = STARTED.lock().unwrap();
        committed
            .iter()
            .map(|(n, c)| s[n].saturating_duration_since(*c))
            .collect()
    };
    lat.sort();
    println!(
        "2. commit -> start, {samples} jobs one per transaction, 4 workers: p50 {:.2?}, p99 {:.2?}, max {:.2?}",
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        lat[lat.len() - 1]
    );

    let rounds = 500;
    let mut plain = Vec::with_capacity(rounds);
    let mut with_job = Vec::with_capacity(rounds);
    let backend = db.get_database_backend();
    let insert = match backend {
        sea_orm::DbBackend::Postgres => "INSERT INTO organizations (id, name) VALUES ($1, 'load')",
        _ => {
            "INSERT INTO organizations (id, name, created_at, updated_at) VALUES (?, 'load', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        }
    };
    for i in 0..rounds * 2 {
        let started = Instant::now();
        let txn = db.begin().await.unwrap();
        #[allow(clippy::disallowed_methods, reason = "a measurement, not the product")]
        let stmt =
            sea_orm::Statement::from_sql_and_values(backend, insert, [uuid::Uuid::new_v4().into()]);
        #[allow(clippy::disallowed_methods, reason = "a measurement, not the product")]
        txn.execute_raw(stmt).await.unwrap();
        if i % 2 == 1 {
            plugs::jobs::enqueue_system(
                &txn,
                &Noop {
                    n: u64::MAX - i as u64,
                },
                Enqueue::default(),
            )
            .await
            .unwrap();
        }
        txn.commit().await.unwrap();
        if i % 2 == 1 {
            with_job.push(started.elapsed());
        } else {
            plain.push(started.elapsed());
        }
    }
    plain.sort();
    with_job.sort();
    println!(
        "3. a write transaction: alone p50 {:.2?} p99 {:.2?}; with an enqueue p50 {:.2?} p99 {:.2?}",
        pct(&plain, 0.5),
        pct(&plain, 0.99),
        pct(&with_job, 0.5),
        pct(&with_job, 0.99)
    );
}
