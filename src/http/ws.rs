//! `/graphql/ws`: GraphQL over WebSocket, `graphql-transport-ws` (preferred) and the legacy
//! `graphql-ws` (subscriptions-transport-ws) protocol.
//!
//! One task per socket owns it: it reads client messages, runs each operation as a stream,
//! writes what they yield, pings, and closes the socket with the protocol's codes:
//! 4400 malformed message, 4401 subscribe before `connection_ack`, 4403 token refused or
//! expired, 4408 no `connection_init` in time, 4409 duplicate operation id, 4429 a second
//! `connection_init`; 1013 a subscriber fell behind its bounded buffer; 1012 this instance
//! lost its realtime feed (reconnect and re-query). A socket that does not take a message within the write timeout is dropped.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_graphql::parser::types::OperationType;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::BoxStream;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::{Instant, sleep_until};

use super::AppState;
use super::auth::resolve_caller;
use super::fanout::{Item, Key, Out};
use super::wake;
use crate::auth::Caller;
use crate::graphql::context::WsControl;
use crate::graphql::loaders::{LoaderDelay, Loaders};
use crate::realtime::{Delivery, Topic, channel};
use crate::services::RequestMeta;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    /// `graphql-transport-ws`
    Transport,
    /// legacy `graphql-ws`
    Legacy,
}

/// Client messages of both protocols.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    ConnectionInit {
        #[serde(default)]
        payload: Option<Value>,
    },
    Ping {
        #[serde(default)]
        payload: Option<Value>,
    },
    Pong {},
    Subscribe {
        id: String,
        payload: async_graphql::Request,
    },
    Start {
        id: String,
        payload: async_graphql::Request,
    },
    Complete {
        id: String,
    },
    Stop {
        id: String,
    },
    ConnectionTerminate {},
}

struct Close(u16, String);

impl Close {
    fn new(code: u16, reason: impl Into<String>) -> Self {
        Self(code, reason.into())
    }
}

/// A close frame's reason holds at most 123 bytes; longer ones are cut at a character.
fn limit_reason(mut reason: String) -> String {
    if reason.len() > 123 {
        let mut end = 120;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
        reason.push_str("...");
    }
    reason
}

/// Why the loop ended.
enum End {
    Close(Close),
    /// The client went away or stopped reading: nothing more can be sent.
    Gone,
}

struct Connection {
    protocol: Protocol,
    state: AppState,
    meta: RequestMeta,
    control: WsControl,
    /// Set by `connection_init` once the token was accepted.
    authorization: Option<String>,
    acked: bool,
    /// When the access token expires (the socket closes then).
    expires: Option<Instant>,
    /// The session the socket was opened with, and its user's signals (to hear it end):
    /// handed to the loop once set.
    session: Option<(uuid::Uuid, channel::Receiver<Arc<Delivery>>)>,
    /// The running operations. One that is over (or refused, or completed by the client) is
    /// dropped, and with it everything it was running.
    ops: Operations,
    task: wake::Task,
}

struct Operation {
    id: String,
    /// `id` as a JSON string, for the messages that carry it.
    id_json: String,
    stream: BoxStream<'static, Out>,
    /// Raised when the stream woke the socket's task.
    source: wake::Source,
}

#[derive(Default)]
struct Operations {
    list: Vec<Operation>,
    /// Where the next look for a woken operation starts: one busy operation does not starve
    /// the others.
    next: usize,
}

enum OpEvent {
    /// A result of the operation at this index.
    Item(usize, Out),
    /// The operation's stream ended; it has left the list.
    Ended(Operation),
}

impl Operations {
    fn get(&self, id: &str) -> Option<usize> {
        self.list.iter().position(|op| op.id == id)
    }

    /// Polls the operations that were woken since they were last polled.
    fn poll(&mut self) -> Poll<OpEvent> {
        let n = self.list.len();
        for k in 0..n {
            let i = (self.next + k) % n;
            let op = &mut self.list[i];
            if !op.source.take() {
                continue;
            }
            let mut cx = Context::from_waker(op.source.waker());
            match op.stream.poll_next_unpin(&mut cx) {
                Poll::Ready(Some(out)) => {
                    // It may hold more without waking anyone.
                    op.source.raise();
                    self.next = i + 1;
                    return Poll::Ready(OpEvent::Item(i, out));
                }
                Poll::Ready(None) => {
                    return Poll::Ready(OpEvent::Ended(self.list.swap_remove(i)));
                }
                Poll::Pending => {}
            }
        }
        Poll::Pending
    }
}

/// What woke the socket's loop.
enum Woke {
    Message(Option<Result<Message, axum::Error>>),
    Op(OpEvent),
    Keepalive,
    End(Close),
}

/// Serves one upgraded socket. The subprotocol is the one negotiated at the upgrade
/// (`graphql-transport-ws` when the client named none).
///
/// The returned future is what every open socket costs while it waits, so what it keeps is
/// made here and moved into it once: an `async fn` would hold its arguments twice (as given
/// and as locals), and the socket alone is 368 bytes (#14).
pub fn serve(
    mut socket: WebSocket,
    state: AppState,
    meta: RequestMeta,
) -> impl Future<Output = ()> + Send + 'static {
    let protocol = match socket.protocol().and_then(|p| p.to_str().ok()) {
        Some("graphql-ws") => Protocol::Legacy,
        _ => Protocol::Transport,
    };
    let cfg = &state.config.realtime;
    let (init_timeout, keepalive_every, write_timeout) =
        (cfg.init_timeout, cfg.keepalive, cfg.write_timeout);
    let control = WsControl::new();
    let close_requests = control.clone();
    let mut interrupted = state.broker.hub().interruptions();
    interrupted.mark_unchanged();
    let mut conn = Connection {
        protocol,
        state,
        meta,
        control,
        authorization: None,
        acked: false,
        expires: None,
        session: None,
        ops: Operations::default(),
        task: wake::Task::default(),
    };
    // One owner reads and writes in turn (a split socket pays a lock on every poll). Inside,
    // everything captured is used where it lies, never moved to a local.
    async move {
        // The futures the loop waits on besides messages and results, made once: a socket wakes
        // once per delivery, and re-arming timers and waiters on every wake-up cost more than
        // writing the delivery (#14). They are one source of wake-ups (`wake`): a delivery
        // polls only the operation it woke, not these.
        let rest = conn.task.source();
        // `connection_init` in time, then the access token's expiry: one timer.
        let deadline = sleep_until(Instant::now() + init_timeout);
        let close_requested = close_requests.requested();
        let feed_interrupted = async {
            match interrupted.changed().await {
                Ok(()) => (),
                Err(_) => std::future::pending().await,
            }
        };
        let mut session_over: futures_util::future::BoxFuture<'static, Close> =
            Box::pin(std::future::pending());
        tokio::pin!(deadline, close_requested, feed_interrupted);
        let mut keepalive =
            tokio::time::interval_at(Instant::now() + keepalive_every, keepalive_every);

        let mut expiry_armed = false;
        let mut rest_first = false;
        let end = loop {
            // Set once, by `connection_init`; the source is raised so that the new waits are
            // polled (and registered).
            if let Some(at) = conn.expires
                && !expiry_armed
            {
                deadline.as_mut().reset(at);
                expiry_armed = true;
                rest.raise();
            }
            if let Some((family, rx)) = conn.session.take() {
                session_over = Box::pin(session_ended(family, rx));
                rest.raise();
            }
            // When both have something, results and the rest take turns.
            rest_first = !rest_first;
            let authorized = conn.authorization.is_some();
            let woke = std::future::poll_fn(|cx| {
                conn.task.register(cx);
                if !rest_first && let Poll::Ready(e) = conn.ops.poll() {
                    return Poll::Ready(Woke::Op(e));
                }
                if rest.take() {
                    let mut cx = Context::from_waker(rest.waker());
                    let cx = &mut cx;
                    // The socket last: a client that keeps it readable must not hold off its
                    // timeouts and close requests (each of those ends the loop).
                    let woke = if deadline.as_mut().poll(cx).is_ready() {
                        Some(Woke::End(if authorized {
                            Close::new(
                                4403,
                                "the access token has expired; reconnect with a fresh one",
                            )
                        } else {
                            Close::new(4408, "Connection initialisation timeout")
                        }))
                    } else if let Poll::Ready((code, reason)) = close_requested.as_mut().poll(cx) {
                        Some(Woke::End(Close(code, reason)))
                    } else if let Poll::Ready(close) = session_over.as_mut().poll(cx) {
                        Some(Woke::End(close))
                    } else if feed_interrupted.as_mut().poll(cx).is_ready() {
                        Some(Woke::End(Close::new(
                            1012,
                            "the realtime feed was interrupted; reconnect and re-query",
                        )))
                    } else if keepalive.poll_tick(cx).is_ready() {
                        Some(Woke::Keepalive)
                    } else if let Poll::Ready(msg) = socket.poll_next_unpin(cx) {
                        Some(Woke::Message(msg))
                    } else {
                        None
                    };
                    if let Some(woke) = woke {
                        rest.raise(); // the others were not looked at
                        return Poll::Ready(woke);
                    }
                }
                if rest_first && let Poll::Ready(e) = conn.ops.poll() {
                    return Poll::Ready(Woke::Op(e));
                }
                Poll::Pending
            })
            .await;
            let out: Result<Vec<Message>, End> = match woke {
                // Boxed: handling a message (signing in reads the database) must not size the
                // future every idle socket keeps.
                Woke::Message(msg) => match msg {
                    Some(Ok(Message::Text(text))) => Box::pin(conn.on_message(text.as_str())).await,
                    Some(Ok(Message::Binary(_))) => Err(End::Close(Close::new(
                        4400,
                        "binary messages are not supported",
                    ))),
                    Some(Err(e)) if e.to_string().contains("too long") => {
                        Err(End::Close(Close::new(
                            1009,
                            format!(
                                "messages are limited to {} bytes",
                                conn.state.config.limits.body_bytes
                            ),
                        )))
                    }
                    Some(Ok(Message::Close(_))) => {
                        // tungstenite queued its reply; let it out.
                        // Boxed: only a client's close waits here.
                        let _ = Box::pin(tokio::time::timeout(write_timeout, socket.flush())).await;
                        Err(End::Gone)
                    }
                    None | Some(Err(_)) => Err(End::Gone),
                    Some(Ok(_)) => Ok(Vec::new()), // ping/pong frames: axum answers pings itself
                },
                Woke::Op(event) => Ok(conn.on_op(event)),
                Woke::Keepalive => Ok(match (conn.acked, conn.protocol) {
                    (false, _) => Vec::new(),
                    (true, Protocol::Transport) => vec![text(json!({"type": "ping"}))],
                    (true, Protocol::Legacy) => vec![text(json!({"type": "ka"}))],
                }),
                Woke::End(close) => Err(End::Close(close)),
            };
            match out {
                Ok(messages) => {
                    let mut delivered = true;
                    for m in messages {
                        if !send(&mut socket, m, write_timeout).await {
                            delivered = false;
                            break;
                        }
                    }
                    if !delivered {
                        break End::Gone;
                    }
                }
                Err(end) => break end,
            }
        };
        drop(conn.ops);
        if let End::Close(Close(code, reason)) = end {
            if protocol == Protocol::Legacy && code == 4403 {
                // The legacy protocol reports a refused init with a message before closing.
                let refused =
                    text(json!({"type": "connection_error", "payload": {"message": reason}}));
                let _ = send(&mut socket, refused, write_timeout).await;
            }
            let frame = Message::Close(Some(CloseFrame {
                code,
                reason: Utf8Bytes::from(limit_reason(reason)),
            }));
            let _ = send(&mut socket, frame, write_timeout).await;
        }
    }
}

/// `false` when the socket is gone or did not take the message in time.
fn send(sink: &mut WebSocket, m: Message, timeout: Duration) -> impl Future<Output = bool> + '_ {
    let mut sending = SinkExt::send(sink, m); // (`Unpin`, unlike `WebSocket::send`)
    async move {
        // Nearly every message goes out at once: a timer only for one that has to wait, and
        // boxed, so that the rare wait does not size every socket's future.
        match std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut sending).poll(cx))).await {
            Poll::Ready(sent) => sent.is_ok(),
            Poll::Pending => matches!(
                Box::pin(tokio::time::timeout(timeout, sending)).await,
                Ok(Ok(()))
            ),
        }
    }
}

fn text(v: Value) -> Message {
    Message::Text(Utf8Bytes::from(v.to_string()))
}

/// Resolves when a signal ends the socket's session (or when such a signal may have been
/// missed).
async fn session_ended(family: uuid::Uuid, mut rx: channel::Receiver<Arc<Delivery>>) -> Close {
    loop {
        match rx.recv().await {
            Ok(d) if d.signal.ends_session(family) => {
                return Close::new(
                    4403,
                    "the session has ended (signed out, password changed or account deactivated)",
                );
            }
            Ok(_) => continue,
            Err(channel::RecvError::Lagged(_)) => {
                return Close::new(
                    crate::graphql::context::CLOSE_TOO_SLOW,
                    "too many events missed; reconnect and re-query",
                );
            }
            Err(channel::RecvError::Closed) => return std::future::pending().await,
        }
    }
}

/// The `type` of a raw client message, for error messages.
fn raw_type(raw: &str) -> String {
    serde_json::from_str::<Value>(raw)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned))
        .unwrap_or_default()
        .chars()
        .take(40)
        .collect()
}

async fn caller(state: &AppState, meta: &RequestMeta, authorization: &str) -> Caller {
    let mut meta = meta.clone();
    meta.request_id = uuid::Uuid::new_v4();
    resolve_caller(&state.db, &state.auth, Some(authorization), &meta).await
}

/// A request that never ran (parse or validation failure): no data, no error path.
impl Connection {
    async fn on_message(&mut self, raw: &str) -> Result<Vec<Message>, End> {
        let msg: ClientMessage = serde_json::from_str(raw).map_err(|e| {
            End::Close(Close::new(
                4400,
                format!("invalid message: {e}")
                    .chars()
                    .take(120)
                    .collect::<String>(),
            ))
        })?;
        let allowed = matches!(
            (&msg, self.protocol),
            (ClientMessage::ConnectionInit { .. }, _)
                | (
                    ClientMessage::Ping { .. }
                        | ClientMessage::Pong {}
                        | ClientMessage::Subscribe { .. }
                        | ClientMessage::Complete { .. },
                    Protocol::Transport,
                )
                | (
                    ClientMessage::Start { .. }
                        | ClientMessage::Stop { .. }
                        | ClientMessage::ConnectionTerminate {},
                    Protocol::Legacy,
                )
        );
        if !allowed {
            let name = raw_type(raw);
            return Err(End::Close(Close::new(
                4400,
                format!("{name:?} is not a message of this subprotocol"),
            )));
        }
        match msg {
            ClientMessage::ConnectionInit { payload } => self.on_init(payload).await,
            ClientMessage::Ping { payload } => Ok(match self.protocol {
                Protocol::Transport => {
                    let mut pong = json!({"type": "pong"});
                    if let Some(p) = payload {
                        pong["payload"] = p;
                    }
                    vec![text(pong)]
                }
                Protocol::Legacy => Vec::new(),
            }),
            ClientMessage::Pong {} => Ok(Vec::new()),
            ClientMessage::Subscribe { id, payload } | ClientMessage::Start { id, payload } => {
                self.on_subscribe(id, payload).await
            }
            ClientMessage::Complete { id } | ClientMessage::Stop { id } => {
                if let Some(i) = self.ops.get(&id) {
                    self.ops.list.swap_remove(i);
                }
                Ok(Vec::new())
            }
            ClientMessage::ConnectionTerminate {} => {
                Err(End::Close(Close::new(1000, "terminated")))
            }
        }
    }

    async fn on_init(&mut self, payload: Option<Value>) -> Result<Vec<Message>, End> {
        if self.authorization.is_some() {
            return Err(End::Close(Close::new(
                4429,
                "Too many initialisation requests",
            )));
        }
        let authorization = payload
            .as_ref()
            .and_then(|p| p.get("authorization").or_else(|| p.get("Authorization")))
            .and_then(|v| v.as_str())
            .map(|v| v.trim().to_owned());
        let refuse = |why: String| -> Result<Vec<Message>, End> {
            Err(End::Close(Close::new(4403, format!("Forbidden: {why}"))))
        };
        let Some(authorization) = authorization else {
            return refuse(
                "send {\"authorization\": \"Bearer <accessToken>\"} in connection_init".into(),
            );
        };
        let caller = caller(&self.state, &self.meta, &authorization).await;
        let actor = match caller {
            Caller::Authenticated(a) => a,
            Caller::Refused(why) => return refuse(why),
            Caller::Anonymous => return refuse("no access token".into()),
        };
        let token = authorization.split_once(' ').map_or("", |(_, t)| t.trim());
        // Closed when a new request with this token would be refused: the same instant, so an
        // expired token is never refused on one path and still served on another.
        let jwt = &self.state.auth.jwt;
        let remaining = jwt
            .verify(token)
            .ok()
            .map(|c| (jwt.refused_from(c.exp) - chrono::Utc::now().timestamp()).max(0) as u64)
            .unwrap_or(0);
        self.expires = Some(Instant::now() + Duration::from_secs(remaining));
        let topic = Topic::User {
            org: actor.organization_id,
            user: actor.user_id,
        };
        self.session = Some((actor.session_id, self.state.broker.hub().subscribe(topic)));
        self.authorization = Some(authorization);
        self.acked = true;
        tracing::debug!(user = %actor.user_id, "websocket connection acknowledged");
        Ok(vec![text(json!({"type": "connection_ack"}))])
    }

    async fn on_subscribe(
        &mut self,
        id: String,
        request: async_graphql::Request,
    ) -> Result<Vec<Message>, End> {
        let Some(authorization) = self.authorization.clone() else {
            return Err(End::Close(Close::new(4401, "Unauthorized")));
        };
        if self.ops.get(&id).is_some() {
            return Err(End::Close(Close::new(
                4409,
                format!("Subscriber for {id} already exists"),
            )));
        }
        let max = self.state.config.realtime.max_subscriptions;
        if self.ops.list.len() >= max {
            return Ok(vec![self.error(
                &id,
                json!([{
                    "message": format!("at most {max} active operations per connection; complete one first"),
                    "extensions": {"code": "BAD_USER_INPUT"},
                }]),
            )]);
        }
        // Every operation is authorized afresh: a session that ended since the socket
        // opened cannot start anything new. That (like everything touching the database)
        // happens inside the operation's stream, never in this loop: the loop must keep
        // polling the other operations, which may hold pooled connections meanwhile.
        let (state, meta, control) = (self.state.clone(), self.meta.clone(), self.control.clone());
        // Boxed: the setup future is large and, once done, must not keep its size for the
        // subscription's whole life (memory per idle subscription).
        let stream = futures_util::stream::once(Box::pin(async move {
            let caller = caller(&state, &meta, &authorization).await;
            let actor = match &caller {
                Caller::Authenticated(actor) => Some(actor.clone()),
                _ => None,
            };
            let mut meta = meta;
            meta.request_id = uuid::Uuid::new_v4();
            let prepared = match state.graphql.prepare(request.data(caller).data(meta)) {
                Ok(prepared) => prepared,
                Err(refused) => return futures_util::stream::iter([Out::Own(refused)]).boxed(),
            };
            let loaders = Loaders::new(&state.db, LoaderDelay(state.config.loader_delay));
            // A signed-in caller's subscription joins an identical one of the same viewer
            // (`fanout`); everything else runs on its own.
            let shared = match (&actor, prepared.operation_type()) {
                (Some(actor), Some(OperationType::Subscription)) => {
                    Key::new(prepared.request(), actor)
                }
                _ => None,
            };
            match shared {
                Some(key) => {
                    let executor = state.graphql.clone();
                    state
                        .fanout
                        .join(key, state.config.realtime.buffer, move |control| {
                            executor.stream(prepared.with_data(control).with_data(loaders))
                        })
                }
                None => state
                    .graphql
                    .stream(prepared.with_data(control).with_data(loaders))
                    .map(|r| Out::Own(Box::new(r)))
                    .boxed(),
            }
        }))
        .flatten()
        .boxed();
        self.ops.list.push(Operation {
            id_json: Value::String(id.clone()).to_string(),
            id,
            stream,
            source: self.task.source(),
        });
        Ok(Vec::new())
    }

    fn error(&self, id: &str, errors: Value) -> Message {
        text(
            json!({"type": "error", "id": id, "payload": match self.protocol {
                Protocol::Transport => errors,
                // The legacy protocol carries one error object.
                Protocol::Legacy => errors.get(0).cloned().unwrap_or(Value::Null),
            }}),
        )
    }

    fn on_op(&mut self, event: OpEvent) -> Vec<Message> {
        let (i, item) = match event {
            OpEvent::Item(i, item) => (i, item),
            OpEvent::Ended(op) => {
                return vec![text(json!({"type": "complete", "id": op.id}))];
            }
        };
        let kind = match self.protocol {
            Protocol::Transport => "next",
            Protocol::Legacy => "data",
        };
        match item {
            Out::Own(r) => self.on_result(i, kind, &Item::of(&r)),
            Out::Shared(shared) => self.on_result(i, kind, &shared),
            Out::Lagged(missed) => {
                self.control.too_slow(missed);
                Vec::new()
            }
        }
    }

    /// One result of an operation, its own or shared (`fanout`).
    fn on_result(&mut self, i: usize, kind: &str, item: &Item) -> Vec<Message> {
        match item {
            // A fan-out writes thousands of these: the payload was serialized once.
            Item::Next(payload) => {
                let id = &self.ops.list[i].id_json;
                let parts = [
                    r#"{"type":""#,
                    kind,
                    r#"","id":"#,
                    id,
                    r#","payload":"#,
                    payload,
                    "}",
                ];
                // Exactly as long as it needs: the bytes are then handed on without another
                // allocation.
                let mut s = String::with_capacity(parts.iter().map(|p| p.len()).sum());
                for part in parts {
                    s.push_str(part);
                }
                vec![Message::Text(Utf8Bytes::from(s))]
            }
            Item::Refused(errors) => {
                // Refused: no `complete` follows the error.
                let op = self.ops.list.swap_remove(i);
                vec![self.error(&op.id, errors.clone())]
            }
            Item::Close(code, reason) => {
                self.control.close(*code, reason.clone());
                Vec::new()
            }
            Item::Complete => Vec::new(),
        }
    }
}
