//! Builds the application: database (migrated), schema, router, listener.

use std::future::Future;
use std::net::SocketAddr;

use migration::{Migrator, MigratorTrait};
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;

use crate::BoxError;
use crate::config::{Config, redact_url};
use crate::graphql::{Executor, build_schema};
use crate::http::{AppState, router};
use crate::telemetry::Metrics;

/// How long a graceful shutdown waits for in-flight requests.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(20);

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    addr: SocketAddr,
    db: DatabaseConnection,
    broker: crate::realtime::SharedBroker,
    /// Turned true at shutdown: workers stop claiming and finish or release their jobs.
    stop_jobs: tokio::sync::watch::Sender<bool>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Application {
    /// Connects, applies pending migrations and binds `config.bind` (port 0 picks a free port).
    pub async fn build(config: Config) -> Result<Self, BoxError> {
        let db = crate::db::connect(&config).await?;
        Migrator::up(&db, None).await.map_err(|e| {
            format!(
                "migrations failed on {}: {}",
                redact_url(&config.database_url),
                crate::db::describe(&e)
            )
        })?;
        Self::build_with_db(config, db).await
    }

    /// As `build`, on a database the caller has already connected and migrated.
    pub async fn build_with_db(config: Config, db: DatabaseConnection) -> Result<Self, BoxError> {
        crate::crypto::install_tls_provider();
        if config.keyring_is_development {
            tracing::warn!(
                "PLUGS_ENCRYPTION_KEYS is not set: secrets at rest use a development key derived from the development secret (set it in production)"
            );
        }
        if config.mail.smtp_url.is_none() {
            tracing::warn!(
                "PLUGS_SMTP_URL is not set: e-mail (invitations, verification, password resets, notifications) is written to the log instead of sent"
            );
        }
        let listener = TcpListener::bind(config.bind)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.bind))?;
        let addr = listener.local_addr()?;
        let metrics = Metrics::default();
        // Background work (job workers, the scheduler, the metrics scrape) runs on a handle
        // without the statement counter, which measures what requests cost.
        let background = db.clone();
        let mut db = db;
        let counter = metrics.clone();
        db.set_metric_callback(move |_| counter.statement_executed());
        let auth = crate::auth::Auth::new(&config.auth);
        let capacity = config.realtime.buffer;
        let broker: crate::realtime::SharedBroker = match db.get_database_backend() {
            sea_orm::DbBackend::Postgres => std::sync::Arc::new(
                crate::realtime::postgres::PgBroker::start(
                    &db,
                    &config.database_url,
                    capacity,
                    std::time::Duration::from_secs(10),
                )
                .await?,
            ),
            _ => std::sync::Arc::new(crate::realtime::InProcessBroker::new(capacity)),
        };
        broker.hub().keep_current(auth.sessions.clone());
        spawn_housekeeping(&broker);
        let storage = crate::storage::Storage::from_url(&config.storage_url)
            .map_err(|e| format!("PLUGS_STORAGE_URL: {e}"))?;
        let (stop_jobs, workers) = start_jobs(
            &background,
            &broker,
            &storage,
            &metrics,
            &config.jobs,
            &config,
        );
        let links = crate::services::media::Links::new(
            &config.auth.jwt_secret,
            config.media.link_ttl,
            config.media.public_url.as_deref(),
        );
        let rate = crate::graphql::rate::RateLimits::new(config.rate);
        rate.spawn_pruning();
        let (schema, validated) = build_schema(
            db.clone(),
            auth.clone(),
            broker.clone(),
            storage.clone(),
            links.clone(),
            rate.clone(),
            &config,
        );
        let state = AppState::new(crate::http::Shared {
            graphql: Executor::new(
                schema,
                validated,
                &config.limits,
                metrics.clone(),
                rate,
                config.persisted.clone(),
            ),
            auth,
            db: db.clone(),
            background_db: background,
            metrics,
            config,
            broker: broker.clone(),
            storage: storage.clone(),
            links,
            fanout: Default::default(),
        });
        Ok(Self {
            listener,
            router: router(state),
            addr,
            db,
            broker,
            stop_jobs,
            workers,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Where domain events are published (subscriptions listen here).
    pub fn broker(&self) -> crate::realtime::SharedBroker {
        self.broker.clone()
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), BoxError> {
        let (stop, workers) = (self.stop_jobs, self.workers);
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        let (signalled, mut on_signal) = tokio::sync::watch::channel(false);
        let server = axum::serve(self.listener, service).with_graceful_shutdown(async move {
            shutdown.await;
            let _ = signalled.send(true);
        });
        // In-flight requests get a grace period, not forever.
        let deadline = async move {
            let _ = on_signal.wait_for(|s| *s).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        };
        tokio::select! {
            r = server => r?,
            _ = deadline => tracing::warn!("requests still running after {SHUTDOWN_GRACE:?}; stopping anyway"),
        }
        stop_jobs(stop, workers).await;
        Ok(())
    }
}

/// This instance's own housekeeping: dropping hub topics nobody listens to any more (the hub
/// is this process's memory, so it is not a job). The task ends with the runtime.
fn spawn_housekeeping(broker: &crate::realtime::SharedBroker) {
    let hub = std::sync::Arc::downgrade(broker);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            match hub.upgrade() {
                Some(b) => b.hub().prune(),
                None => return,
            }
        }
    });
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}

/// The scheduler and `config.workers` job workers of this process, on the uncounted handle.
pub fn start_jobs(
    db: &DatabaseConnection,
    broker: &crate::realtime::SharedBroker,
    storage: &crate::storage::Storage,
    metrics: &Metrics,
    config: &crate::jobs::JobsConfig,
    app: &crate::config::Config,
) -> (
    tokio::sync::watch::Sender<bool>,
    Vec<tokio::task::JoinHandle<()>>,
) {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let ctx = crate::jobs::JobContext {
        db: db.clone(),
        storage: storage.clone(),
        broker: broker.clone(),
        config: std::sync::Arc::new(config.clone()),
        keyring: app.keyring.clone(),
        webhook_allow_private: app.webhook_allow_private,
        mailer: crate::mail::Mailer::new(&app.mail)
            .expect("the mail settings were checked at start"),
        composer: app.composer(),
    };
    crate::jobs::schedule::spawn(ctx.clone(), SCHEDULER_TICK, stopped.clone());
    let registry = std::sync::Arc::new(crate::jobs::Registry::standard());
    let workers =
        crate::jobs::spawn_workers(ctx, registry, metrics.clone(), config.workers, stopped);
    (stop, workers)
}

/// How often each instance enqueues the current slot of every schedule.
const SCHEDULER_TICK: std::time::Duration = std::time::Duration::from_secs(30);

/// Stops the workers: they finish their jobs within the grace period or release them.
pub async fn stop_jobs(
    stop: tokio::sync::watch::Sender<bool>,
    workers: Vec<tokio::task::JoinHandle<()>>,
) {
    let _ = stop.send(true);
    for w in workers {
        let _ = w.await;
    }
}
