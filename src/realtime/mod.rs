//! The realtime seam. A writing service collects [`Signal`]s in an [`Outbox`] and commits
//! through it; the [`Broker`] announces them so that nothing is announced for a change that
//! rolled back:
//!
//! - [`InProcessBroker`] (SQLite, one process) hands the signals to the local [`Hub`] after the
//!   transaction commits.
//! - [`postgres::PgBroker`] issues `pg_notify` inside the writing transaction (PostgreSQL
//!   delivers it only on commit) and a dedicated `LISTEN` connection on every instance hands
//!   what arrives to that instance's hub.
//!
//! Signals carry ids only. A subscriber is routed by [`Topic`] (organization + event, or
//! organization + user), so it never even sees another tenant's signal, and it loads the row
//! itself, scoped to its own organization (and user).
//!
//! Delivery guarantee: at most once, in commit order per instance. A subscriber that loses
//! its socket, or whose instance loses its `LISTEN` connection (the socket is then closed with
//! 1012 so the client knows), may have missed signals; after reconnecting it re-queries
//! (`notifications`, `event.attendees`) and sees everything that was committed.

pub mod channel;
pub mod postgres;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};

use sea_orm::{DatabaseTransaction, DbErr};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, async_graphql::Enum)]
pub enum AttendeeChangeKind {
    Registered,
    Cancelled,
    CheckedIn,
    CheckedOut,
    Updated,
}

/// What crosses the wire between instances: ids and the kind of change, never row data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Signal {
    Attendee {
        org: Uuid,
        event: Uuid,
        attendee: Uuid,
        kind: AttendeeChangeKind,
    },
    Notification {
        org: Uuid,
        user: Uuid,
        notification: Uuid,
    },
    /// Jobs were enqueued: workers look for due ones now rather than at their next poll.
    JobsAvailable,
    /// Sessions of a user ended (logout, reuse detected, password changed, deactivated,
    /// deleted): `family` only that one, else all of them `except` one (or all).
    SessionsEnded {
        org: Uuid,
        user: Uuid,
        family: Option<Uuid>,
        except: Option<Uuid>,
    },
    /// A member was promoted or demoted: what instances remember of their sessions is stale.
    AccessChanged { org: Uuid, user: Uuid },
}

/// Who may receive a signal: the members of one organization watching one event, or one user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Topic {
    Event {
        org: Uuid,
        event: Uuid,
    },
    User {
        org: Uuid,
        user: Uuid,
    },
    /// This instance's job workers.
    Jobs,
}

impl Signal {
    pub fn topic(&self) -> Topic {
        match *self {
            Signal::Attendee { org, event, .. } => Topic::Event { org, event },
            Signal::Notification { org, user, .. }
            | Signal::SessionsEnded { org, user, .. }
            | Signal::AccessChanged { org, user } => Topic::User { org, user },
            Signal::JobsAvailable => Topic::Jobs,
        }
    }

    /// Whether this signal ends the session `family` (sockets opened with it close).
    pub fn ends_session(&self, family: Uuid) -> bool {
        match *self {
            Signal::SessionsEnded {
                family: f, except, ..
            } => f.is_none_or(|f| f == family) && except != Some(family),
            _ => false,
        }
    }
}

/// What a delivery's shared load produced (an error is its message).
pub type Loaded = Result<Option<Arc<dyn std::any::Any + Send + Sync>>, String>;

/// One signal as the subscribers of its topic receive it. Every subscriber of a topic belongs
/// to the topic's organization, so what one of them loads (scoped to that organization) is
/// shared with the others instead of being loaded once per subscriber.
pub struct Delivery {
    pub signal: Signal,
    load: OnceLock<Shared<BoxFuture<'static, Loaded>>>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("signal", &self.signal)
            .finish()
    }
}

impl Delivery {
    pub fn new(signal: Signal) -> Self {
        Self {
            signal,
            load: OnceLock::new(),
        }
    }

    /// The shared load: the first caller starts `make` in a task of its own, every caller
    /// awaits the same result. No subscriber drives it for the others, so one stuck behind a
    /// slow socket delays nobody.
    pub async fn load<F>(&self, make: impl FnOnce() -> F) -> Loaded
    where
        F: std::future::Future<Output = Loaded> + Send + 'static,
    {
        let shared = self
            .load
            .get_or_init(|| {
                let task = tokio::spawn(make());
                async move { task.await.unwrap_or_else(|e| Err(e.to_string())) }
                    .boxed()
                    .shared()
            })
            .clone();
        shared.await
    }
}

/// This instance's subscribers, by topic. A topic's channel exists while someone listens.
/// Each channel is bounded: a receiver that falls `capacity` deliveries behind is told it
/// lagged (its socket is then closed) and publishers never wait for it.
pub struct Hub {
    topics: Mutex<HashMap<Topic, channel::Sender<Arc<Delivery>>>>,
    capacity: usize,
    /// Bumped when the feed was interrupted (the LISTEN connection was lost): open sockets
    /// are closed so their clients reconnect and re-query.
    interrupted: watch::Sender<u64>,
    /// Names this instance (its `LISTEN` connection's `application_name` on PostgreSQL).
    instance_id: Uuid,
    /// The instance's remembered sessions, which signals make stale (`auth::sessions`).
    sessions: OnceLock<Arc<crate::auth::sessions::SessionCache>>,
}

impl Hub {
    pub fn new(capacity: usize) -> Self {
        Self {
            topics: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            interrupted: watch::channel(0).0,
            instance_id: Uuid::new_v4(),
            sessions: OnceLock::new(),
        }
    }

    /// Signals delivered here from now on keep `cache` current.
    pub fn keep_current(&self, cache: Arc<crate::auth::sessions::SessionCache>) {
        let _ = self.sessions.set(cache);
    }

    /// Drops the remembered sessions `signal` makes stale (done on delivery; the writing
    /// instance also does it right after its commit).
    pub fn forget(&self, signal: &Signal) {
        if let Some(cache) = self.sessions.get() {
            cache.forget(signal);
        }
    }

    /// The feed of signals is down (`false`) or back (`true`): nothing is remembered meanwhile.
    pub fn feed(&self, up: bool) {
        if let Some(cache) = self.sessions.get() {
            if up { cache.resume() } else { cache.suspend() }
        }
    }

    fn topics(&self) -> std::sync::MutexGuard<'_, HashMap<Topic, channel::Sender<Arc<Delivery>>>> {
        self.topics.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn subscribe(&self, topic: Topic) -> channel::Receiver<Arc<Delivery>> {
        let mut topics = self.topics();
        topics
            .entry(topic)
            .or_insert_with(|| channel::channel(self.capacity))
            .subscribe()
    }

    /// Hands a signal to this instance's subscribers of its topic (if any).
    pub fn deliver(&self, signal: Signal) {
        self.forget(&signal);
        let topic = signal.topic();
        let mut topics = self.topics();
        if let Some(tx) = topics.get(&topic) {
            if tx.receiver_count() == 0 {
                topics.remove(&topic);
            } else {
                tx.send(Arc::new(Delivery::new(signal)));
            }
        }
    }

    /// Drops the channels nobody listens to any more (run periodically).
    pub fn prune(&self) {
        self.topics().retain(|_, tx| tx.receiver_count() > 0);
    }

    /// How many topics have a channel (for metrics and tests).
    pub fn topic_count(&self) -> usize {
        self.topics().len()
    }

    pub fn instance_id(&self) -> Uuid {
        self.instance_id
    }

    pub fn interrupt(&self) {
        self.interrupted.send_modify(|n| *n += 1);
    }

    pub fn interruptions(&self) -> watch::Receiver<u64> {
        self.interrupted.subscribe()
    }
}

#[async_trait::async_trait]
pub trait Broker: Send + Sync {
    /// Called inside the writing transaction, just before it commits.
    async fn stage(&self, txn: &DatabaseTransaction, signals: &[Signal]) -> Result<(), DbErr>;
    /// Called after the commit succeeded.
    fn committed(&self, signals: Vec<Signal>);
    /// This instance's subscribers.
    fn hub(&self) -> &Hub;
}

/// The broker shared by the schema and the services.
pub type SharedBroker = Arc<dyn Broker>;

/// One process: signals go to the local hub once the transaction has committed.
pub struct InProcessBroker {
    hub: Hub,
}

impl InProcessBroker {
    pub fn new(capacity: usize) -> Self {
        Self {
            hub: Hub::new(capacity),
        }
    }
}

#[async_trait::async_trait]
impl Broker for InProcessBroker {
    async fn stage(&self, _txn: &DatabaseTransaction, _signals: &[Signal]) -> Result<(), DbErr> {
        Ok(())
    }

    fn committed(&self, signals: Vec<Signal>) {
        for s in signals {
            self.hub.deliver(s);
        }
    }

    fn hub(&self) -> &Hub {
        &self.hub
    }
}

/// The signals of one transaction. Committing through the outbox is the only way a service
/// announces anything, so a returned error (rollback) announces nothing.
#[derive(Debug, Default)]
pub struct Outbox {
    signals: Vec<Signal>,
}

impl Outbox {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, signal: Signal) {
        self.signals.push(signal);
    }

    pub fn extend(&mut self, signals: impl IntoIterator<Item = Signal>) {
        self.signals.extend(signals);
    }

    pub async fn commit(
        self,
        txn: DatabaseTransaction,
        broker: &dyn Broker,
    ) -> Result<(), crate::error::AppError> {
        if self.signals.is_empty() {
            txn.commit().await?;
            return Ok(());
        }
        broker.stage(&txn, &self.signals).await?;
        txn.commit().await?;
        broker.committed(self.signals);
        Ok(())
    }
}
