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
    channel: Arc<Channel>,
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
                let member = group.channel.member();
                (group, member)
            }
            None => {
                let id = self
                    .next_id
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let channel = Arc::new(Channel::new(buffer));
                // A member before the execution starts: its first result is not missed.
                let member = channel.member();
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
                Received::Item(item) if matches!(*item, Item::Complete) => None,
                Received::Item(item) => Some((Out::Shared(item), (member, group))),
                Received::Lagged(n) => Some((Out::Lagged(n), (member, group))),
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
        let members = groups.iter().map(|g| g.channel.lock().members).sum();
        (groups.len(), members)
    }
}

/// What an execution's members read from: the items not yet read by every member, at most
/// `capacity` of them (a member further behind is told so). Unlike a preallocated ring it
/// holds nothing while idle: an execution per viewer must stay cheap when few share it.
struct Channel {
    state: Mutex<State>,
    notify: tokio::sync::Notify,
    capacity: usize,
}

struct State {
    /// Each item with how many members have yet to read it.
    items: std::collections::VecDeque<(Arc<Item>, usize)>,
    /// The number of `items[0]`.
    first: u64,
    members: usize,
}

impl Channel {
    fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(State {
                items: Default::default(),
                first: 0,
                members: 0,
            }),
            notify: tokio::sync::Notify::new(),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new member reads what is sent from now on.
    fn member(self: &Arc<Self>) -> Member {
        let mut state = self.lock();
        state.members += 1;
        Member {
            channel: self.clone(),
            next: state.first + state.items.len() as u64,
        }
    }

    fn send(&self, item: Item) {
        let mut state = self.lock();
        if state.members > 0 {
            let members = state.members;
            state.items.push_back((Arc::new(item), members));
            while state.items.len() > self.capacity {
                state.items.pop_front();
                state.first += 1;
            }
        }
        drop(state);
        self.notify.notify_waiters();
    }
}

impl State {
    /// Drops the items every member has read.
    fn trim(&mut self) {
        while self.items.front().is_some_and(|(_, unread)| *unread == 0) {
            self.items.pop_front();
            self.first += 1;
        }
    }
}

struct Member {
    channel: Arc<Channel>,
    /// The number of the next item to read.
    next: u64,
}

enum Received {
    Item(Arc<Item>),
    Lagged(u64),
}

impl Member {
    async fn recv(&mut self) -> Received {
        loop {
            let notified = self.channel.notify.notified();
            tokio::pin!(notified);
            // Registered before looking, so a send in between is not missed.
            notified.as_mut().enable();
            {
                let mut state = self.channel.lock();
                if self.next < state.first {
                    let missed = state.first - self.next;
                    self.next = state.first;
                    return Received::Lagged(missed);
                }
                let at = (self.next - state.first) as usize;
                if let Some((item, unread)) = state.items.get_mut(at) {
                    *unread -= 1;
                    let item = item.clone();
                    self.next += 1;
                    state.trim();
                    return Received::Item(item);
                }
            }
            notified.await;
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let mut state = self.channel.lock();
        state.members -= 1;
        let from = self.next.saturating_sub(state.first) as usize;
        for (_, unread) in state.items.iter_mut().skip(from) {
            *unread -= 1;
        }
        state.trim();
    }
}

/// Runs one execution, handing each result to the members as it comes.
async fn drive(
    mut stream: BoxStream<'static, Response>,
    control: WsControl,
    channel: Arc<Channel>,
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
                (Some(r), _) => (item(&r), r.data == async_graphql::Value::Null),
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
        channel.send(item);
        if last {
            break;
        }
    }
}

struct Ending {
    channel: Arc<Channel>,
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
        self.channel.send(Item::Complete);
    }
}

fn item(r: &Response) -> Item {
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
