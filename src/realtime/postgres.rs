//! PostgreSQL LISTEN/NOTIFY: every instance of the server hears every committed signal.
//!
//! Publishing is `SELECT pg_notify(..)` on the writing transaction's own connection, so
//! PostgreSQL delivers the notification when (and only when) that transaction commits. Each
//! instance keeps one dedicated `LISTEN` connection (not taken from the request pool); when it
//! is lost the instance closes its sockets (1012, see `Hub::interrupt`) and reconnects with
//! exponential backoff.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{DatabaseTransaction, DbErr};
use tokio::sync::watch;

use super::{Broker, Hub, Signal};

pub const CHANNEL: &str = "plugs_realtime";
/// PostgreSQL refuses payloads of 8000 bytes or more; signals are batched below that.
const MAX_PAYLOAD: usize = 7000;
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Every instance sends an empty notification this often through its request pool...
const HEARTBEAT: Duration = Duration::from_secs(20);
/// ...so a LISTEN connection that hears nothing for this long is taken as dead (a half-open
/// TCP connection would otherwise wait forever) and replaced.
const SILENCE: Duration = Duration::from_secs(65);

pub struct PgBroker {
    hub: Arc<Hub>,
}

impl PgBroker {
    /// Starts the listener and waits (up to `wait`) until it listens, so that a server that
    /// answers requests also hears its own changes.
    pub async fn start(
        db: &sea_orm::DatabaseConnection,
        database_url: &str,
        capacity: usize,
        wait: Duration,
    ) -> Result<Self, String> {
        let hub = Arc::new(Hub::new(capacity));
        let (ready_tx, mut ready) = watch::channel(false);
        tokio::spawn(listen(database_url.to_owned(), hub.clone(), ready_tx));
        tokio::spawn(heartbeat(db.clone(), Arc::downgrade(&hub)));
        tokio::time::timeout(wait, ready.wait_for(|r| *r))
            .await
            .map_err(|_| format!("the LISTEN connection was not up within {wait:?}"))?
            .map_err(|_| "the realtime listener stopped".to_string())?;
        Ok(Self { hub })
    }
}

/// Packs signals into JSON arrays that each stay under PostgreSQL's payload limit.
pub fn payloads(signals: &[Signal]) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut size = 2;
    for s in signals {
        let one = serde_json::to_string(s).expect("signals serialize");
        if !current.is_empty() && size + one.len() + 1 > MAX_PAYLOAD {
            out.push(format!("[{}]", current.join(",")));
            current.clear();
            size = 2;
        }
        size += one.len() + 1;
        current.push(one);
    }
    if !current.is_empty() {
        out.push(format!("[{}]", current.join(",")));
    }
    out
}

#[async_trait::async_trait]
impl Broker for PgBroker {
    async fn stage(&self, txn: &DatabaseTransaction, signals: &[Signal]) -> Result<(), DbErr> {
        for payload in payloads(signals) {
            crate::db::pg_notify(txn, CHANNEL, payload).await?;
        }
        Ok(())
    }

    fn committed(&self, signals: Vec<Signal>) {
        // The LISTEN connection delivers them, to this instance as to every other; the
        // sessions they end are forgotten here at once, before the writer's response leaves.
        signals.iter().for_each(|s| self.hub.forget(s));
    }

    fn hub(&self) -> &Hub {
        &self.hub
    }
}

/// The `application_name` of an instance's `LISTEN` connection (`pg_stat_activity`).
pub fn listener_name(hub: &Hub) -> String {
    format!("plugs-realtime-{}", hub.instance_id().simple())
}

async fn heartbeat(db: sea_orm::DatabaseConnection, hub: std::sync::Weak<Hub>) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    while hub.strong_count() > 0 {
        tick.tick().await;
        if let Err(e) = crate::db::pg_notify(&db, CHANNEL, "[]".into()).await {
            tracing::debug!("realtime: heartbeat not sent: {e}");
        }
    }
}

async fn listen(url: String, hub: Arc<Hub>, ready: watch::Sender<bool>) {
    let mut backoff = Duration::from_millis(100);
    let name = listener_name(&hub);
    loop {
        match connect(&url, &name).await {
            Ok(mut listener) => {
                if *ready.borrow() {
                    tracing::info!("realtime: LISTEN connection re-established");
                    // Sockets opened while it was down may have missed signals too.
                    hub.interrupt();
                }
                hub.feed(true);
                ready.send_replace(true);
                backoff = Duration::from_millis(100);
                loop {
                    let Ok(next) = tokio::time::timeout(SILENCE, listener.try_recv()).await else {
                        tracing::warn!(
                            "realtime: LISTEN connection silent for {SILENCE:?}; reconnecting"
                        );
                        break;
                    };
                    match next {
                        Ok(Some(n)) => match serde_json::from_str::<Vec<Signal>>(n.payload()) {
                            Ok(signals) => signals.into_iter().for_each(|s| hub.deliver(s)),
                            Err(e) => tracing::warn!("realtime: ignoring a malformed payload: {e}"),
                        },
                        Ok(None) => {
                            tracing::warn!("realtime: LISTEN connection lost; reconnecting");
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(
                                "realtime: LISTEN connection failed: {}; reconnecting",
                                crate::db::describe_sqlx(&e)
                            );
                            break;
                        }
                    }
                }
                // Whatever was committed until the new LISTEN is up is not delivered:
                // the sockets are closed so their clients reconnect and re-query.
                hub.feed(false);
                hub.interrupt();
            }
            Err(e) => tracing::warn!(
                "realtime: cannot LISTEN ({}); retrying in {backoff:?}",
                crate::db::describe_sqlx(&e)
            ),
        }
        if ready.is_closed() && Arc::strong_count(&hub) == 1 {
            return; // the application is gone
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// A pool of its own with one connection: the listener never takes one from the requests.
async fn connect(url: &str, name: &str) -> Result<PgListener, sea_orm::sqlx::Error> {
    use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
    let options: PgConnectOptions = url.parse::<PgConnectOptions>()?.application_name(name);
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    // Reconnection (and its backoff) is ours: a lost connection ends this listener.
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn payloads_stay_under_the_limit_and_keep_every_signal() {
        let signals: Vec<Signal> = (0..500)
            .map(|_| Signal::Notification {
                org: Uuid::new_v4(),
                user: Uuid::new_v4(),
                notification: Uuid::new_v4(),
            })
            .collect();
        let out = payloads(&signals);
        assert!(out.len() > 1);
        let mut back = Vec::new();
        for p in &out {
            assert!(p.len() < 8000, "{}", p.len());
            back.extend(serde_json::from_str::<Vec<Signal>>(p).unwrap());
        }
        assert_eq!(back, signals);
    }
}
