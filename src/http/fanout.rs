//! Identical subscriptions share one execution (#14).
//!
//! A subscription over `/graphql/ws` whose document, operation name and variables match one
//! already running for the same viewer joins it instead of starting its own: one
//! async-graphql execution (its query environment, its resolver state, its hub receiver) per
//! distinct operation and viewer, each result serialized once and handed to every member as
//! shared bytes. A member costs a queue receiver and a pointer; the first one to subscribe pays
//! for the execution, which ends when its last member leaves.
//!
//! The viewer is part of the key because results depend on it: field visibility follows the
//! caller's user and role (`User.twoFactorEnabled`, media levels), and every row is scoped to
//! the caller's organization. Two members of one group therefore hold the same organization,
//! user, role and two-factor state: anything the first one could see, every other one could
//! see too. Each member's session is checked, and its operation limited and charged, on its
//! own before it joins; the resolver's own checks (the event exists and is the
//! organization's) ran once, for the first member, with the same viewer and arguments.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use async_graphql::Response;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use crate::auth::Actor;
use crate::graphql::context::WsControl;
use crate::graphql::execute::is_request_error;
use crate::realtime::channel::{self, RecvError};

/// What makes two subscriptions the same: the operation as sent, and the viewer.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Key {
    query: String,
    operation: Option<String>,
    variables: String,
    organization: uuid::Uuid,
    user: uuid::Uuid,
    admin: bool,
    two_factor_setup: bool,
}

impl Key {
    pub fn new(request: &async_graphql::Request, actor: &Actor) -> Option<Self> {
        Some(Self {
            query: request.query.clone(),
            operation: request.operation_name.clone(),
            variables: serde_json::to_string(&request.variables).ok()?,
            organization: actor.organization_id,
            user: actor.user_id,
            admin: actor.is_admin,
            two_factor_setup: actor.two_factor_setup,
        })
    }
}

/// What an execution hands its members.
#[derive(Debug)]
pub enum Item {
    /// A result: the `payload` of a `next` (or legacy `data`) message, serialized once.
    Next(String),
    /// The operation was refused before it ran: the errors of the `error` message.
    Refused(serde_json::Value),
    /// The execution asked for its sockets to be closed (it fell behind its hub topic).
    Close(u16, String),
    /// The operation is over.
    Complete,
}

/// What a member's stream yields.
pub enum Out {
    /// A response of an execution of the member's own (queries, mutations, anonymous callers).
    Own(Box<Response>),
    Shared(Arc<Item>),
    /// The member fell this many items behind its execution.
    Lagged(u64),
}

type Registry = Mutex<HashMap<Key, (u64, Weak<Group>)>>;

/// The running shared executions of this instance.
#[derive(Default)]
pub struct Groups {
    registry: Arc<Registry>,
    next_id: std::sync::atomic::AtomicU64,
}

struct Group {
    id: u64,
    key: Key,
    /// Holds nothing while idle (`realtime::channel`): cheap when few share an execution.
    channel: Arc<channel::Sender<Arc<Item>>>,
    driver: tokio::task::AbortHandle,
    registry: Weak<Registry>,
}

impl Drop for Group {
    /// The last member left: stop the execution and forget it.
    fn drop(&mut self) {
        self.driver.abort();
        if let Some(registry) = self.registry.upgrade() {
            unregister(&registry, &self.key, self.id);
        }
    }
}

fn unregister(registry: &Registry, key: &Key, id: u64) {
    let mut map = registry.lock().unwrap_or_else(|p| p.into_inner());
    if map.get(key).is_some_and(|(i, _)| *i == id) {
        map.remove(key);
    }
}

impl Groups {
    /// Joins the execution running `key`, or starts one with `start` (given the control its
    /// resolvers use to close every member's socket). `buffer`: how many items a member may
    /// fall behind before it is told so (its socket then closes).
    pub fn join(
        &self,
        key: Key,
        buffer: usize,
        start: impl FnOnce(WsControl) -> BoxStream<'static, Response>,
    ) -> BoxStream<'static, Out> {
        let mut map = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        let (group, member) = match map.get(&key).and_then(|(_, g)| g.upgrade()) {
            Some(group) => {
                // Under the lock: an execution that ends unregisters itself under it before
                // it sends `Complete`, so a member that found it here receives that.
                let member = group.channel.subscribe();
                (group, member)
            }
            None => {
                let id = self
                    .next_id
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let channel = Arc::new(channel::channel(buffer));
                // A member before the execution starts: its first result is not missed.
                let member = channel.subscribe();
                let control = WsControl::new();
                let stream = start(control.clone());
                let driver = tokio::spawn(drive(
                    stream,
                    control,
                    channel.clone(),
                    key.clone(),
                    id,
                    Arc::downgrade(&self.registry),
                ))
                .abort_handle();
                let group = Arc::new(Group {
                    id,
                    key: key.clone(),
                    channel,
                    driver,
                    registry: Arc::downgrade(&self.registry),
                });
                map.insert(key, (id, Arc::downgrade(&group)));
                (group, member)
            }
        };
        drop(map);
        // The member before the group: leaving, it must not count as a reader of anything.
        futures_util::stream::unfold((member, group), |(mut member, group)| async move {
            match member.recv().await {
                Ok(item) if matches!(*item, Item::Complete) => None,
                Ok(item) => Some((Out::Shared(item), (member, group))),
                Err(RecvError::Lagged(n)) => Some((Out::Lagged(n), (member, group))),
                Err(RecvError::Closed) => None,
            }
        })
        .boxed()
    }

    /// The running executions, and the subscriptions they serve (for `/metrics`).
    pub fn running(&self) -> (usize, usize) {
        let groups: Vec<Arc<Group>> = {
            let map = self.registry.lock().unwrap_or_else(|p| p.into_inner());
            map.values().filter_map(|(_, g)| g.upgrade()).collect()
        };
        // Read (and dropped) outside the registry's lock: the last pointer to a group may be
        // one of these, and dropping it takes that lock.
        let members = groups.iter().map(|g| g.channel.receiver_count()).sum();
        (groups.len(), members)
    }
}

/// Runs one execution, handing each result to the members as it comes.
async fn drive(
    mut stream: BoxStream<'static, Response>,
    control: WsControl,
    channel: Arc<channel::Sender<Arc<Item>>>,
    key: Key,
    id: u64,
    registry: Weak<Registry>,
) {
    // However the execution ends (its stream ends, it panics, it is aborted), it leaves the
    // registry and its members hear `Complete`.
    let ending = Ending {
        channel: channel.clone(),
        key,
        id,
        registry,
    };
    loop {
        let (item, may_end) = tokio::select! {
            r = stream.next() => match (r, control.pending()) {
                // A result without data is an error the stream usually ends with.
                (Some(r), _) => (Item::of(&r), r.data == async_graphql::Value::Null),
                // A stream that ended because it asked to close its sockets.
                (None, Some((code, reason))) => (Item::Close(code, reason), true),
                (None, None) => break,
            },
            (code, reason) = control.requested() => (Item::Close(code, reason), true),
        };
        let last = !matches!(item, Item::Next(_));
        // Unregistered before a result that may be the last: a subscriber arriving after it
        // starts afresh (and is answered) instead of joining to hear only `Complete`.
        if may_end || last {
            ending.unregister();
        }
        channel.send(Arc::new(item));
        if last {
            break;
        }
    }
}

struct Ending {
    channel: Arc<channel::Sender<Arc<Item>>>,
    key: Key,
    id: u64,
    registry: Weak<Registry>,
}

impl Ending {
    fn unregister(&self) {
        if let Some(registry) = self.registry.upgrade() {
            unregister(&registry, &self.key, self.id);
        }
    }
}

impl Drop for Ending {
    fn drop(&mut self) {
        // Unregistered first: a later subscriber starts a new execution instead of joining
        // one that has ended.
        self.unregister();
        self.channel.send(Arc::new(Item::Complete));
    }
}

impl Item {
    /// A response as its members receive it: a result, or the refusal of the operation.
    pub fn of(r: &Response) -> Self {
        let unserializable = |e: serde_json::Error| {
            Item::Refused(serde_json::json!([{
                "message": format!("unserializable result: {e}"),
                "extensions": { "code": "INTERNAL_SERVER_ERROR" },
            }]))
        };
        if is_request_error(r) {
            match serde_json::to_value(&r.errors) {
                Ok(errors) => Item::Refused(errors),
                Err(e) => unserializable(e),
            }
        } else {
            match serde_json::to_string(r) {
                Ok(payload) => Item::Next(payload),
                Err(e) => unserializable(e),
            }
        }
    }
}
