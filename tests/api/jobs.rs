//! Durable jobs: exactly once across workers and instances, retries with backoff then
//! DISCARDED, nothing for a rolled-back enqueue, a crashed worker's job taken again after its
//! lease, panics and unreadable payloads, one run per scheduled slot, shutdown releasing
//! running jobs, and the `jobs` query seen only by the organization's admins.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use plugs::db::jobs as q;
use plugs::jobs::{Enqueue, Job, JobContext, JobError, JobsConfig, Registry};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, TransactionTrait};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{TestApp, error_code, spawn_app};

/// Runs of each probe, by marker (every worker of this process records here).
static RUNS: LazyLock<Mutex<HashMap<String, u32>>> = LazyLock::new(Mutex::default);

/// The last error each probe was discarded with (the `on_discard` hook).
static DISCARDS: LazyLock<Mutex<HashMap<String, String>>> = LazyLock::new(Mutex::default);

fn runs(marker: &str) -> u32 {
    RUNS.lock().unwrap().get(marker).copied().unwrap_or(0)
}

/// Which test a probe belongs to: each test has a kind of its own, so the tests that run at
/// the same time (on one PostgreSQL database) never run each other's jobs.
trait Lane: Send + Sync + 'static {
    const KIND: &'static str;
}

macro_rules! lanes {
    ($($name:ident = $kind:literal),+ $(,)?) => {
        $(struct $name;
        impl Lane for $name {
            const KIND: &'static str = $kind;
        })+
    };
}

lanes!(
    Thousand = "test.thousand",
    Failing = "test.failing",
    Panicking = "test.panicking",
    Rollback = "test.rollback",
    Crash = "test.crash",
    Shutdown = "test.shutdown",
    Scheduled = "test.scheduled",
    Listed = "test.listed",
);

/// A job kind for tests: counts its runs, and fails, panics or sleeps as told.
#[derive(Debug, Serialize, Deserialize)]
#[serde(bound = "")]
struct Probe<L: Lane> {
    marker: String,
    #[serde(default)]
    fail_times: u32,
    #[serde(default)]
    panic: bool,
    #[serde(default)]
    sleep_ms: u64,
    #[serde(skip)]
    lane: std::marker::PhantomData<fn() -> L>,
}

impl<L: Lane> Probe<L> {
    fn new(marker: &str) -> Self {
        Self {
            marker: marker.to_owned(),
            fail_times: 0,
            panic: false,
            sleep_ms: 0,
            lane: std::marker::PhantomData,
        }
    }
}

impl<L: Lane> Job for Probe<L> {
    const KIND: &'static str = L::KIND;
    const MAX_ATTEMPTS: i32 = 3;

    fn run(self, _ctx: JobContext) -> BoxFuture<'static, Result<(), JobError>> {
        Box::pin(async move {
            let n = {
                let mut runs = RUNS.lock().unwrap();
                let n = runs.entry(self.marker.clone()).or_default();
                *n += 1;
                *n
            };
            tokio::time::sleep(Duration::from_millis(self.sleep_ms)).await;
            if self.panic {
                panic!("planned panic {n}");
            }
            if n <= self.fail_times {
                return Err(JobError::Retry(format!("planned failure {n}")));
            }
            Ok(())
        })
    }

    fn on_discard(self, _ctx: JobContext, error: String) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let mut d = DISCARDS.lock().unwrap();
            assert!(d.insert(self.marker, error).is_none(), "discarded twice");
        })
    }
}

fn config(workers: usize) -> JobsConfig {
    JobsConfig {
        workers,
        lease: Duration::from_secs(30),
        poll: Duration::from_millis(100),
        retry_base: Duration::from_millis(10),
        grace: Duration::from_millis(200),
        ..JobsConfig::default()
    }
}

/// Workers on `app`'s database, as another process would run them.
struct Workers {
    stop: tokio::sync::watch::Sender<bool>,
    handles: Vec<tokio::task::JoinHandle<()>>,
}

fn workers<L: Lane>(app: &TestApp, config: JobsConfig) -> Workers {
    workers_on::<L>(context(app, config))
}

fn workers_on<L: Lane>(ctx: JobContext) -> Workers {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let config = ctx.config.clone();
    let registry = Arc::new(Registry::default().with::<Probe<L>>());
    let handles = plugs::jobs::spawn_workers(
        ctx,
        registry,
        plugs::telemetry::Metrics::default(),
        config.workers,
        stopped,
    );
    Workers { stop, handles }
}

impl Workers {
    async fn stop(self) {
        plugs::startup::stop_jobs(self.stop, self.handles).await;
    }
}

/// Another instance on `app`'s database: a pool and a broker of its own.
async fn other_instance(app: &TestApp, config: JobsConfig) -> JobContext {
    JobContext {
        db: app.second_pool().await,
        storage: app.storage.clone(),
        broker: Arc::new(plugs::realtime::InProcessBroker::new(64)),
        config: Arc::new(config),
        keyring: app.keyring.clone(),
        mailer: app.mailer.clone(),
        composer: app.composer.clone(),
        webhook_allow_private: true,
    }
}

fn context(app: &TestApp, config: JobsConfig) -> JobContext {
    JobContext {
        db: app.db.clone(),
        storage: app.storage.clone(),
        broker: app.broker.clone(),
        config: Arc::new(config),
        keyring: app.keyring.clone(),
        mailer: app.mailer.clone(),
        composer: app.composer.clone(),
        webhook_allow_private: true,
    }
}

async fn enqueue<L: Lane>(app: &TestApp, probe: &Probe<L>, opts: Enqueue) -> bool {
    let added = plugs::jobs::enqueue_system(&app.db, probe, opts)
        .await
        .unwrap();
    plugs::jobs::wake(&app.broker);
    added
}

/// Deletes the jobs of lane `L` that earlier runs of the suite left on a kept database (only
/// one test uses each lane).
async fn forget_earlier_runs<L: Lane>(app: &TestApp) {
    use plugs::entities::jobs;
    jobs::Entity::delete_many()
        .filter(jobs::Column::Kind.eq(L::KIND))
        .exec(&app.db)
        .await
        .unwrap();
}

/// The job of a marker.
async fn job_of(app: &TestApp, marker: &str) -> plugs::entities::jobs::Model {
    use plugs::entities::jobs;
    let rows = jobs::Entity::find()
        .filter(jobs::Column::Kind.starts_with("test."))
        .all(&app.db)
        .await
        .unwrap();
    rows.into_iter()
        .find(|j| j.payload["marker"] == marker)
        .unwrap_or_else(|| panic!("no job for {marker}"))
}

/// Waits (10 s at most) until `done` holds for the marker's job.
async fn until(
    app: &TestApp,
    marker: &str,
    done: impl Fn(&plugs::entities::jobs::Model) -> bool,
) -> plugs::entities::jobs::Model {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let job = job_of(app, marker).await;
        if done(&job) {
            return job;
        }
        assert!(std::time::Instant::now() < deadline, "{job:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn marker() -> String {
    Uuid::new_v4().simple().to_string()
}

#[tokio::test]
async fn a_thousand_jobs_run_exactly_once_across_two_instances() {
    let a = spawn_app().await;
    let batch = marker();
    let markers: Vec<String> = (0..1000).map(|i| format!("{batch}-{i}")).collect();
    let txn = a.db.begin().await.unwrap();
    for m in &markers {
        plugs::jobs::enqueue_system(&txn, &Probe::<Thousand>::new(m), Enqueue::default())
            .await
            .unwrap();
    }
    txn.commit().await.unwrap();
    // Two instances (each its own pool and broker), four workers each, racing for the same rows.
    let b = other_instance(&a, config(4)).await;
    let b_broker = b.broker.clone();
    let wa = workers::<Thousand>(&a, config(4));
    let wb = workers_on::<Thousand>(b);
    plugs::jobs::wake(&a.broker);
    plugs::jobs::wake(&b_broker);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let done = markers.iter().filter(|m| runs(m) > 0).count();
        if done == markers.len() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{done} of 1000 ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wa.stop().await;
    wb.stop().await;
    let twice: Vec<_> = markers.iter().filter(|m| runs(m) != 1).collect();
    assert!(twice.is_empty(), "ran more than once: {twice:?}");
    use plugs::entities::jobs;
    let completed = jobs::Entity::find()
        .filter(jobs::Column::Kind.eq(Thousand::KIND))
        .filter(jobs::Column::State.eq("completed"))
        .filter(jobs::Column::Attempt.eq(1))
        .all(&a.db)
        .await
        .unwrap()
        .into_iter()
        .filter(|j| {
            j.payload["marker"]
                .as_str()
                .is_some_and(|m| m.starts_with(&batch))
        })
        .count();
    assert_eq!(completed, 1000);
}

#[tokio::test]
async fn a_failing_job_is_retried_with_backoff_then_discarded_with_its_last_error() {
    let app = spawn_app().await;
    let w = workers::<Failing>(&app, config(2));
    let m = marker();
    let failing = Probe {
        fail_times: 10,
        ..Probe::<Failing>::new(&m)
    };
    enqueue(&app, &failing, Enqueue::default()).await;
    let job = until(&app, &m, |j| j.state == "discarded").await;
    assert_eq!(job.attempt, Probe::<Failing>::MAX_ATTEMPTS);
    assert_eq!(runs(&m), 3);
    assert_eq!(job.last_error.as_deref(), Some("planned failure 3"));
    assert_eq!(
        DISCARDS.lock().unwrap().get(&m).map(String::as_str),
        Some("planned failure 3"),
        "the kind hears once that its job was given up"
    );
    // A job that fails once and then succeeds completes on its second attempt.
    let m2 = marker();
    let flaky = Probe {
        fail_times: 1,
        ..Probe::<Failing>::new(&m2)
    };
    enqueue(&app, &flaky, Enqueue::default()).await;
    let job = until(&app, &m2, |j| j.state == "completed").await;
    assert_eq!(job.attempt, 2);
    assert_eq!(job.last_error.as_deref(), Some("planned failure 1"));
    assert!(!DISCARDS.lock().unwrap().contains_key(&m2));
    w.stop().await;
}

#[tokio::test]
async fn a_panic_is_retried_and_the_worker_survives_and_an_unreadable_payload_is_discarded() {
    let app = spawn_app().await;
    let w = workers::<Panicking>(&app, config(1));
    let m = marker();
    let panicking = Probe {
        panic: true,
        ..Probe::<Panicking>::new(&m)
    };
    enqueue(&app, &panicking, Enqueue::default()).await;
    let job = until(&app, &m, |j| j.state == "discarded").await;
    assert_eq!(job.last_error.as_deref(), Some("the handler panicked"));
    assert_eq!(runs(&m), 3);
    // The one worker is still there.
    let m2 = marker();
    enqueue(&app, &Probe::<Panicking>::new(&m2), Enqueue::default()).await;
    until(&app, &m2, |j| j.state == "completed").await;
    // A payload an older version wrote, which this one cannot read: discarded at once.
    let m3 = marker();
    let inserted = q::insert(
        &app.db,
        q::NewJob {
            organization_id: None,
            kind: Panicking::KIND,
            payload: json!({ "marker": m3, "sleep_ms": "not a number" }),
            run_at: plugs::services::now(),
            max_attempts: 3,
            unique_key: None,
        },
        plugs::services::now(),
    )
    .await
    .unwrap();
    assert!(inserted);
    plugs::jobs::wake(&app.broker);
    let job = until(&app, &m3, |j| j.state == "discarded").await;
    assert_eq!(job.attempt, 1, "never retried");
    assert!(
        job.last_error
            .as_deref()
            .is_some_and(|e| e.contains("no longer parses")),
        "{job:?}"
    );
    w.stop().await;
}

#[tokio::test]
async fn a_job_enqueued_in_a_rolled_back_transaction_never_runs() {
    let app = spawn_app().await;
    let w = workers::<Rollback>(&app, config(2));
    let (gone, kept) = (marker(), marker());
    let txn = app.db.begin().await.unwrap();
    plugs::jobs::enqueue_system(&txn, &Probe::<Rollback>::new(&gone), Enqueue::default())
        .await
        .unwrap();
    txn.rollback().await.unwrap();
    let txn = app.db.begin().await.unwrap();
    plugs::jobs::enqueue_system(&txn, &Probe::<Rollback>::new(&kept), Enqueue::default())
        .await
        .unwrap();
    txn.commit().await.unwrap();
    plugs::jobs::wake(&app.broker);
    until(&app, &kept, |j| j.state == "completed").await;
    assert_eq!(runs(&gone), 0);
    use plugs::entities::jobs;
    let rows = jobs::Entity::find()
        .filter(jobs::Column::Kind.eq(Rollback::KIND))
        .all(&app.db)
        .await
        .unwrap();
    assert!(!rows.iter().any(|j| j.payload["marker"] == gone.as_str()));
    w.stop().await;
}

#[tokio::test]
async fn a_crashed_workers_job_runs_again_after_its_lease() {
    let app = spawn_app().await;
    let m = marker();
    enqueue(&app, &Probe::<Crash>::new(&m), Enqueue::default()).await;
    // A worker claims it with a short lease, then "dies" (never finishes, never renews).
    let now = plugs::services::now();
    let until_ = now + chrono::Duration::milliseconds(300);
    let mut claimed = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !claimed
        .iter()
        .any(|j: &plugs::entities::jobs::Model| j.payload["marker"] == m.as_str())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the job was never claimed"
        );
        claimed.extend(
            q::claim(
                &app.db,
                "crashed-worker",
                &[Crash::KIND],
                50,
                plugs::services::now(),
                until_,
            )
            .await
            .unwrap(),
        );
    }
    // Other tests' probes taken by the "crashed" worker are taken back after the lease too.
    let w = workers::<Crash>(&app, config(2));
    let job = until(&app, &m, |j| j.state == "completed").await;
    assert_eq!(job.attempt, 2, "the crashed run counts as an attempt");
    assert_eq!(runs(&m), 1, "only the second claim ran it");
    assert!(job.locked_by.is_none());
    w.stop().await;
}

#[tokio::test]
async fn shutdown_releases_a_running_job_and_gives_its_attempt_back() {
    let app = spawn_app().await;
    // On a database kept between runs, the slow job an earlier run released is still there
    // and older: it would take the only worker for its 30 s.
    forget_earlier_runs::<Shutdown>(&app).await;
    let w = workers::<Shutdown>(&app, config(1));
    let m = marker();
    let slow = Probe {
        sleep_ms: 30_000,
        ..Probe::<Shutdown>::new(&m)
    };
    enqueue(&app, &slow, Enqueue::default()).await;
    until(&app, &m, |j| j.state == "running").await;
    w.stop().await;
    let job = job_of(&app, &m).await;
    assert_eq!(job.state, "available", "{job:?}");
    assert_eq!(job.attempt, 0);
    assert!(job.locked_by.is_none());
}

#[tokio::test]
async fn a_scheduled_slot_runs_once_however_many_instances_schedule_it() {
    let a = spawn_app().await;
    // The slot an earlier run enqueued on a kept database would be this run's slot too.
    forget_earlier_runs::<Scheduled>(&a).await;
    let (ca, cb) = (context(&a, config(0)), other_instance(&a, config(0)).await);
    let m = marker();
    let probe = Probe::<Scheduled>::new(&m);
    // A period no other test uses, so the slot's key is this test's alone.
    let every = Duration::from_secs(1_000_003);
    let t = chrono::Utc::now();
    let (ra, rb) = tokio::join!(
        plugs::jobs::schedule::enqueue_slot(&ca, &probe, every, t),
        plugs::jobs::schedule::enqueue_slot(&cb, &probe, every, t),
    );
    assert_eq!(
        [ra.unwrap(), rb.unwrap()].iter().filter(|x| **x).count(),
        1,
        "one of the two enqueued the slot"
    );
    // Again, later in the same slot: nothing new.
    let later = t + chrono::Duration::seconds(1);
    let again = plugs::jobs::schedule::enqueue_slot(&ca, &probe, every, later).await;
    assert!(!again.unwrap());
    use plugs::entities::jobs;
    let (n, _) = plugs::jobs::schedule::slot(t, every);
    let count = jobs::Entity::find()
        .filter(jobs::Column::UniqueKey.eq(format!("{}@{n}", Scheduled::KIND)))
        .count(&a.db)
        .await
        .unwrap();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn admins_see_their_organizations_jobs_only() {
    let app = spawn_app().await;
    let a = app.register().await;
    let b = app.register().await;
    let member = app.member(&a, false).await;
    let org_a: Uuid = app
        .gql_as(&a.access, "{ organization { id } }", json!({}))
        .await["data"]["organization"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let m = marker();
    q::insert(
        &app.db,
        q::NewJob {
            organization_id: Some(org_a),
            kind: "test.organization_job",
            payload: json!({ "marker": m }),
            run_at: plugs::services::now(),
            max_attempts: 3,
            unique_key: None,
        },
        plugs::services::now(),
    )
    .await
    .unwrap();
    // And a system job, which belongs to no organization.
    enqueue(&app, &Probe::<Listed>::new(&marker()), Enqueue::default()).await;
    let list =
        "query($f: JobFilter) { jobs(filter: $f) { totalCount nodes { kind state attempt } } }";
    let seen = app.gql_as(&a.access, list, json!({})).await;
    // The organization's own jobs: this one, and the verification mail of its sign-up.
    assert_eq!(
        seen["data"]["jobs"],
        json!({ "totalCount": 2, "nodes": [
            { "kind": "test.organization_job", "state": "AVAILABLE", "attempt": 0 },
            { "kind": "mail.send", "state": "AVAILABLE", "attempt": 0 },
        ] })
    );
    let filtered = app
        .gql_as(&a.access, list, json!({ "f": { "state": ["COMPLETED"] } }))
        .await;
    assert_eq!(filtered["data"]["jobs"]["totalCount"], 0, "{filtered}");
    let other = app.gql_as(&b.access, list, json!({})).await;
    assert_eq!(
        other["data"]["jobs"],
        json!({ "totalCount": 1, "nodes": [{ "kind": "mail.send", "state": "AVAILABLE", "attempt": 0 }] }),
        "only its own sign-up mail"
    );
    let refused = app.gql_as(&member.access, list, json!({})).await;
    assert_eq!(error_code(&refused), Some("FORBIDDEN"), "{refused}");
    // The queue is visible to operators by state and kind.
    let text = app.metrics().await;
    assert!(
        text.contains("plugs_jobs{state=\"available\",kind=\"test.organization_job\"}"),
        "{text}"
    );
    assert!(text.contains("plugs_job_claim_latency_seconds_count"));
}

#[tokio::test]
async fn rows_deleted_long_ago_are_purged_and_the_rest_kept() {
    use crate::fixtures::{contact_model, event_model, expense_model, tenant};
    use plugs::entities::{contacts, events};
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    let app = spawn_app().await;
    let t = tenant(&app.db).await;
    let long_ago = plugs::services::now() - chrono::Duration::days(40);
    let yesterday = plugs::services::now() - chrono::Duration::days(1);
    let deleted = |mut c: contacts::ActiveModel, at| {
        c.is_deleted = Set(true);
        c.deleted_at = Set(Some(at));
        c
    };
    let old = deleted(contact_model(&t), long_ago)
        .insert(&app.db)
        .await
        .unwrap();
    let recent = deleted(contact_model(&t), yesterday)
        .insert(&app.db)
        .await
        .unwrap();
    let live = contact_model(&t).insert(&app.db).await.unwrap();
    // An event deleted long ago that an expense still points at stays.
    let mut e = event_model(&t);
    e.is_deleted = Set(true);
    e.deleted_at = Set(Some(long_ago));
    let kept_event = e.insert(&app.db).await.unwrap();
    expense_model(&t, Some(kept_event.id), rust_decimal::Decimal::new(100, 2))
        .insert(&app.db)
        .await
        .unwrap();
    let purged = plugs::db::purge::deleted_before(
        &app.db,
        plugs::services::now() - chrono::Duration::days(30),
    )
    .await
    .unwrap();
    assert!(purged >= 1);
    let db = app.db.clone();
    let exists = |id: Uuid| {
        let db = db.clone();
        async move {
            contacts::Entity::find_by_id(id)
                .one(&db)
                .await
                .unwrap()
                .is_some()
        }
    };
    assert!(!exists(old.id).await, "deleted 40 days ago: purged");
    assert!(exists(recent.id).await, "deleted yesterday: kept");
    assert!(exists(live.id).await, "never deleted: kept");
    assert!(
        events::Entity::find_by_id(kept_event.id)
            .one(&app.db)
            .await
            .unwrap()
            .is_some(),
        "an expense still points at it"
    );
    // The scheduler enqueues the purge once a day when a retention is configured.
    let ctx = context(
        &app,
        JobsConfig {
            purge_deleted_after: Some(chrono::Duration::days(30)),
            ..config(0)
        },
    );
    plugs::jobs::schedule::tick(&ctx, chrono::Utc::now())
        .await
        .unwrap();
    use plugs::entities::jobs;
    let purges = jobs::Entity::find()
        .filter(jobs::Column::Kind.eq("data.purge_deleted"))
        .count(&app.db)
        .await
        .unwrap();
    assert!(purges >= 1);
}
