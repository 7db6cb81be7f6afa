//! Durable background jobs, in the database (the River / Oban / graphile-worker design):
//!
//! - **Enqueue** inside the transaction of the change that causes the job (`enqueue` with a
//!   `Work`, or `enqueue_system`): a rolled-back change enqueues nothing. A `unique_key` makes
//!   the enqueue idempotent. New work wakes the workers of every instance through the realtime
//!   broker after commit (LISTEN/NOTIFY on PostgreSQL); a slow poll is the safety net.
//! - **Claim** with a lease (`db::jobs::claim`: `FOR UPDATE SKIP LOCKED` on PostgreSQL). A
//!   long job's lease is renewed by a heartbeat; a crashed worker's job is taken again once
//!   its lease runs out. Handlers must therefore be idempotent: a job may run twice.
//! - **Retry** an error or a panic with exponential backoff and jitter, up to `max_attempts`,
//!   then DISCARDED with the last error kept. A payload that no longer parses (an old version)
//!   is discarded at once. A worker claims only the kinds it knows, so a kind added by a newer
//!   version waits for an instance that runs it.
//! - **Schedule** periodic work as jobs whose unique key names the slot (`kind@slot`), so each
//!   run happens once however many instances schedule it (`schedule.rs`).
//! - **Shutdown**: workers stop claiming, let running jobs finish within a grace period, and
//!   release the rest (available again, the attempt given back).

pub mod kinds;
pub mod schedule;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::watch;

use crate::db::jobs::{self as q, NewJob, Outcome};
use crate::error::AppError;
use crate::realtime::{SharedBroker, Signal, Topic};
use crate::services::{Work, now};
use crate::telemetry::Metrics;

/// How the queue runs (`PLUGS_WORKERS`, `PLUGS_JOB_*`).
#[derive(Clone, Debug)]
pub struct JobsConfig {
    /// Workers inside the server (0: jobs run only in `plugs worker` processes).
    pub workers: usize,
    /// How long a claim holds a job before another worker may take it.
    pub lease: Duration,
    /// How often an idle worker looks for due jobs when nothing woke it.
    pub poll: Duration,
    /// The first retry's delay; each further one doubles (capped at an hour), ±10 % jitter.
    pub retry_base: Duration,
    /// How long a shutdown waits for running jobs before releasing them.
    pub grace: Duration,
    /// Hard-delete rows soft-deleted longer ago than this (`None`: never).
    pub purge_deleted_after: Option<chrono::Duration>,
    /// How often expired notifications are deleted.
    pub notification_purge: Duration,
    /// How long the bytes of deleted media are kept (`PLUGS_MEDIA_RETENTION_DAYS`).
    pub media_retention: chrono::Duration,
    /// How long analytics events are kept (`PLUGS_ANALYTICS_RETENTION_DAYS`).
    pub analytics_retention: chrono::Duration,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            workers: 2,
            lease: Duration::from_secs(60),
            poll: Duration::from_secs(5),
            retry_base: Duration::from_secs(1),
            grace: Duration::from_secs(10),
            purge_deleted_after: None,
            notification_purge: Duration::from_secs(3600),
            media_retention: chrono::Duration::days(30),
            analytics_retention: chrono::Duration::days(395),
        }
    }
}

/// What a handler may use.
#[derive(Clone)]
pub struct JobContext {
    pub db: DatabaseConnection,
    /// Where media and other bytes live.
    pub storage: crate::storage::Storage,
    pub broker: SharedBroker,
    pub config: Arc<JobsConfig>,
    /// Decrypts secrets at rest (webhook signing secrets).
    pub keyring: crate::crypto::Keyring,
    /// Outgoing webhooks may reach private addresses (`PLUGS_WEBHOOK_ALLOW_PRIVATE`).
    pub webhook_allow_private: bool,
    /// Sends e-mail (SMTP, or the log).
    pub mailer: crate::mail::Mailer,
    /// Seals queued mail and builds the links in it.
    pub composer: crate::mail::Composer,
}

/// Why a run failed.
#[derive(Debug)]
pub enum JobError {
    /// Worth another attempt (an outside service was down, a conflict).
    Retry(String),
    /// Never worth another attempt (bad input that will stay bad).
    Permanent(String),
}

impl From<AppError> for JobError {
    fn from(e: AppError) -> Self {
        JobError::Retry(format!("{e:?}"))
    }
}

impl From<sea_orm::DbErr> for JobError {
    fn from(e: sea_orm::DbErr) -> Self {
        JobError::Retry(crate::db::describe(&e))
    }
}

/// A kind of job: its payload type, and what running one does.
pub trait Job: Serialize + DeserializeOwned + Send + 'static {
    const KIND: &'static str;
    const MAX_ATTEMPTS: i32 = 10;
    fn run(self, ctx: JobContext) -> BoxFuture<'static, Result<(), JobError>>;

    /// Called once when the job is given up (its attempts spent, or a permanent failure), with
    /// the last error: for a kind whose subject must not wait forever (an image left
    /// PROCESSING). Best effort: a failure here is logged, the job is discarded anyway.
    fn on_discard(self, ctx: JobContext, error: String) -> BoxFuture<'static, ()> {
        let _ = (ctx, error);
        Box::pin(async {})
    }
}

type Handler = fn(Value, JobContext) -> BoxFuture<'static, Result<(), JobError>>;
type DiscardHandler = fn(Value, JobContext, String) -> BoxFuture<'static, ()>;

fn discard_typed<J: Job>(payload: Value, ctx: JobContext, error: String) -> BoxFuture<'static, ()> {
    match serde_json::from_value::<J>(payload) {
        Ok(job) => job.on_discard(ctx, error),
        Err(_) => Box::pin(async {}),
    }
}

fn run_typed<J: Job>(payload: Value, ctx: JobContext) -> BoxFuture<'static, Result<(), JobError>> {
    match serde_json::from_value::<J>(payload) {
        Ok(job) => job.run(ctx),
        Err(e) => Box::pin(async move {
            Err(JobError::Permanent(format!(
                "the payload no longer parses as a {} job: {e}",
                J::KIND
            )))
        }),
    }
}

/// The handlers this process knows, by kind.
#[derive(Default)]
pub struct Registry {
    handlers: HashMap<&'static str, Handler>,
    discards: HashMap<&'static str, DiscardHandler>,
}

impl Registry {
    pub fn with<J: Job>(mut self) -> Self {
        self.handlers.insert(J::KIND, run_typed::<J>);
        self.discards.insert(J::KIND, discard_typed::<J>);
        self
    }

    /// The kinds this registry runs (workers claim only these).
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut kinds: Vec<_> = self.handlers.keys().copied().collect();
        kinds.sort_unstable();
        kinds
    }

    /// Every job kind of the product.
    pub fn standard() -> Self {
        kinds::register(Self::default())
    }
}

/// When and how a job is enqueued.
#[derive(Clone, Debug, Default)]
pub struct Enqueue {
    /// Not before this (default: now).
    pub run_at: Option<DateTime<Utc>>,
    /// At most one job with this key ever: enqueueing it again does nothing.
    pub unique_key: Option<String>,
}

fn new_job<J: Job>(org: Option<uuid::Uuid>, job: &J, opts: Enqueue) -> Result<NewJob, AppError> {
    let payload = serde_json::to_value(job)
        .map_err(|e| AppError::Internal(format!("a {} payload: {e}", J::KIND)))?;
    Ok(NewJob {
        organization_id: org,
        kind: J::KIND,
        payload,
        run_at: opts.run_at.map(|t| t.fixed_offset()).unwrap_or_else(now),
        max_attempts: J::MAX_ATTEMPTS,
        unique_key: opts.unique_key,
    })
}

/// Enqueues a job of the actor's organization in the unit of work's transaction; workers hear
/// of it once the transaction commits. `false`: its unique key was taken.
pub async fn enqueue<J: Job>(w: &mut Work<'_>, job: &J, opts: Enqueue) -> Result<bool, AppError> {
    let new = new_job(Some(w.actor.organization_id), job, opts)?;
    let added = q::insert(&w.txn, new, now()).await?;
    if added {
        w.signal(Signal::JobsAvailable);
    }
    Ok(added)
}

/// Enqueues a job of `organization_id` in `conn` (a transaction of a change made without a
/// `Work`: sign-up, a job). Workers are woken by `wake` after the caller commits.
pub async fn enqueue_for<J: Job>(
    conn: &impl ConnectionTrait,
    organization_id: uuid::Uuid,
    job: &J,
    opts: Enqueue,
) -> Result<bool, AppError> {
    let new = new_job(Some(organization_id), job, opts)?;
    Ok(q::insert(conn, new, now()).await?)
}

/// Enqueues a job that belongs to no organization (housekeeping), in `conn` (a transaction
/// or the pool). Workers are woken by `wake` after the caller commits, or by their poll.
pub async fn enqueue_system<J: Job>(
    conn: &impl ConnectionTrait,
    job: &J,
    opts: Enqueue,
) -> Result<bool, AppError> {
    let new = new_job(None, job, opts)?;
    Ok(q::insert(conn, new, now()).await?)
}

/// Wakes this instance's workers (after a commit outside a `Work`; other instances find the
/// job at their next poll).
pub fn wake(broker: &SharedBroker) {
    broker.hub().deliver(Signal::JobsAvailable);
}

/// The delay before attempt `attempt + 1` of a job that failed its `attempt`th run.
pub fn backoff(base: Duration, attempt: i32) -> Duration {
    let exp = attempt.clamp(1, 20) as u32 - 1;
    let delay = base
        .saturating_mul(2u32.saturating_pow(exp))
        .min(Duration::from_secs(3600));
    // ±10 % so that jobs which failed together do not all come back at the same instant.
    let jitter = (uuid::Uuid::new_v4().as_u128() % 2001) as f64 / 10_000.0 - 0.1;
    delay.mul_f64(1.0 + jitter)
}

/// Workers of this process; they stop when `shutdown` turns true.
pub fn spawn_workers(
    ctx: JobContext,
    registry: Arc<Registry>,
    metrics: Metrics,
    count: usize,
    shutdown: watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let instance = ctx.broker.hub().instance_id().simple().to_string();
    (0..count)
        .map(|i| {
            let worker = Worker {
                id: format!("{}-{i}", &instance[..12]),
                ctx: ctx.clone(),
                registry: registry.clone(),
                metrics: metrics.clone(),
                shutdown: shutdown.clone(),
            };
            tokio::spawn(worker.run())
        })
        .collect()
}

struct Worker {
    id: String,
    ctx: JobContext,
    registry: Arc<Registry>,
    metrics: Metrics,
    shutdown: watch::Receiver<bool>,
}

impl Worker {
    fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    async fn run(mut self) {
        let mut wake = self.ctx.broker.hub().subscribe(Topic::Jobs);
        let kinds = self.registry.kinds();
        while !self.stopping() {
            let t = now();
            let until = t + chrono::Duration::from_std(self.ctx.config.lease).unwrap_or_default();
            match q::claim(&self.ctx.db, &self.id, &kinds, 1, t, until).await {
                Ok(jobs) if !jobs.is_empty() => {
                    for job in jobs {
                        self.run_one(job).await;
                    }
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(worker = %self.id, "claiming jobs: {}", crate::db::describe(&e));
                }
            }
            tokio::select! {
                // A dropped sender (the application is gone) stops the worker too.
                r = self.shutdown.changed() => if r.is_err() { return },
                r = wake.recv() => {
                    if let Err(crate::realtime::channel::RecvError::Closed) = r {
                        wake = self.ctx.broker.hub().subscribe(Topic::Jobs);
                    }
                }
                _ = tokio::time::sleep(self.ctx.config.poll) => {}
            }
        }
    }

    async fn run_one(&mut self, job: crate::entities::jobs::Model) {
        let latency = (Utc::now() - job.run_at.to_utc())
            .to_std()
            .unwrap_or_default();
        self.metrics.job_claimed(latency);
        let Some(handler) = self.registry.handlers.get(job.kind.as_str()).copied() else {
            let error = format!("this instance has no handler for {:?}", job.kind);
            return self.finish(&job, Err(JobError::Retry(error))).await;
        };
        let mut task = tokio::spawn(handler(job.payload.clone(), self.ctx.clone()));
        let beat = (self.ctx.config.lease / 3).max(Duration::from_millis(50));
        let result = loop {
            tokio::select! {
                r = &mut task => break r,
                _ = tokio::time::sleep(beat) => {
                    let until = now() + chrono::Duration::from_std(self.ctx.config.lease).unwrap_or_default();
                    if let Ok(false) = q::heartbeat(&self.ctx.db, job.id, &self.id, until).await {
                        tracing::warn!(job = %job.id, "lost the lease of a running job");
                    }
                }
                // Already stopping counts too: a shutdown between the claim and this point
                // must release the job as well, not wait for it to finish.
                () = async { drop(self.shutdown.wait_for(|stop| *stop).await) } => {
                    match tokio::time::timeout(self.ctx.config.grace, &mut task).await {
                        Ok(r) => break r,
                        Err(_) => {
                            task.abort();
                            let _ = q::finish(&self.ctx.db, job.id, &self.id, Outcome::Released, now()).await;
                            tracing::info!(job = %job.id, kind = %job.kind, "released at shutdown");
                            return;
                        }
                    }
                }
            }
        };
        let result = match result {
            Ok(r) => r,
            Err(e) if e.is_panic() => Err(JobError::Retry("the handler panicked".into())),
            Err(e) => Err(JobError::Retry(format!("the handler did not finish: {e}"))),
        };
        self.finish(&job, result).await;
    }

    async fn finish(&self, job: &crate::entities::jobs::Model, result: Result<(), JobError>) {
        let t = now();
        let outcome = match result {
            Ok(()) => Outcome::Completed,
            Err(JobError::Permanent(error)) => Outcome::Discarded { error },
            Err(JobError::Retry(error)) if job.attempt >= job.max_attempts => {
                Outcome::Discarded { error }
            }
            Err(JobError::Retry(error)) => {
                let delay = backoff(self.ctx.config.retry_base, job.attempt);
                let run_at = t + chrono::Duration::from_std(delay).unwrap_or_default();
                Outcome::Retry { run_at, error }
            }
        };
        let state = match &outcome {
            Outcome::Completed => "completed",
            Outcome::Retry { .. } => "retried",
            Outcome::Discarded { .. } => "discarded",
            Outcome::Released => "released",
        };
        if let Outcome::Discarded { error } | Outcome::Retry { error, .. } = &outcome {
            tracing::warn!(job = %job.id, kind = %job.kind, attempt = job.attempt, "job failed ({state}): {error}");
        }
        if let (Outcome::Discarded { error }, Some(hook)) =
            (&outcome, self.registry.discards.get(job.kind.as_str()))
        {
            let hook = hook(job.payload.clone(), self.ctx.clone(), error.clone());
            if let Err(e) = tokio::spawn(hook).await {
                tracing::error!(job = %job.id, "the discard hook failed: {e}");
            }
        }
        self.metrics.job_finished(state);
        match q::finish(&self.ctx.db, job.id, &self.id, outcome, t).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!(job = %job.id, "the job's lease was lost before it ended"),
            Err(e) => {
                tracing::error!(job = %job.id, "recording a job's end: {}", crate::db::describe(&e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let base = Duration::from_secs(1);
        for (attempt, secs) in [(1, 1.0), (2, 2.0), (3, 4.0), (6, 32.0)] {
            let d = backoff(base, attempt).as_secs_f64();
            assert!((secs * 0.9..=secs * 1.1).contains(&d), "{attempt}: {d}");
        }
        assert!(backoff(base, 40) <= Duration::from_secs(3960));
    }
}
