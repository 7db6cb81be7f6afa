//! `/graphql/ws`: GraphQL over WebSocket, `graphql-transport-ws` (preferred) and the legacy
//! `graphql-ws` (subscriptions-transport-ws) protocol.
//!
//! One task per socket owns it: it reads client messages, runs each operation as a stream,
//! writes what they yield, pings, and closes the socket with the protocol's codes:
//! 4400 malformed message, 4401 subscribe before `connection_ack`, 4403 token refused or
//! expired, 4408 no `connection_init` in time, 4409 duplicate operation id, 4429 a second
//! `connection_init`; 1013 a subscriber fell behind its bounded buffer; 1012 this instance
//! lost its realtime feed (reconnect and re-query). A socket that does not take a message within the write timeout is dropped.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::parser::types::OperationType;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::{AbortHandle, Abortable, BoxStream, SelectAll};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::{Instant, sleep_until};

use super::AppState;
use super::auth::resolve_caller;
use super::fanout::{Item, Key, Out};
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
    /// Active operations by id, each with the number it was started under (an id may be
    /// reused once its operation is over; a late item of the old one must not touch the new).
    active: HashMap<String, (u64, AbortHandle)>,
    started: u64,
    streams: SelectAll<BoxStream<'static, (String, u64, Option<Out>)>>,
}

/// Serves one upgraded socket. The subprotocol is the one negotiated at the upgrade
/// (`graphql-transport-ws` when the client named none).
pub async fn serve(socket: WebSocket, state: AppState, meta: RequestMeta) {
    let protocol = match socket.protocol().and_then(|p| p.to_str().ok()) {
        Some("graphql-ws") => Protocol::Legacy,
        _ => Protocol::Transport,
    };
    let cfg = state.config.realtime.clone();
    // One owner reads and writes in turn (a split socket pays a lock on every poll).
    let mut socket = socket;
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
        active: HashMap::new(),
        started: 0,
        streams: SelectAll::new(),
    };
    // The futures the loop waits on besides messages and results, made once: a socket wakes
    // once per delivery, and re-arming timers and waiters on every wake-up cost more than
    // writing the delivery (#14).
    let init_deadline = sleep_until(Instant::now() + cfg.init_timeout);
    let far = Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600);
    let expiry = sleep_until(far);
    let close_requested = close_requests.requested();
    let feed_interrupted = async {
        match interrupted.changed().await {
            Ok(()) => (),
            Err(_) => std::future::pending().await,
        }
    };
    let mut session_over: futures_util::future::BoxFuture<'static, Close> =
        Box::pin(std::future::pending());
    tokio::pin!(init_deadline, expiry, close_requested, feed_interrupted);
    let mut keepalive = tokio::time::interval_at(Instant::now() + cfg.keepalive, cfg.keepalive);

    let mut expiry_armed = false;
    let end = loop {
        // Set once, by `connection_init`.
        if let Some(at) = conn.expires
            && !expiry_armed
        {
            expiry.as_mut().reset(at);
            expiry_armed = true;
        }
        if let Some((family, rx)) = conn.session.take() {
            session_over = Box::pin(session_ended(family, rx));
        }
        let out: Result<Vec<Message>, End> = tokio::select! {
            msg = socket.next() => match msg {
                // Boxed: handling a message (signing in reads the database) must not size the
                // future every idle socket keeps.
                Some(Ok(Message::Text(text))) => Box::pin(conn.on_message(text.as_str())).await,
                Some(Ok(Message::Binary(_))) => Err(End::Close(Close::new(4400, "binary messages are not supported"))),
                Some(Err(e)) if e.to_string().contains("too long") => Err(End::Close(Close::new(
                    1009,
                    format!("messages are limited to {} bytes", conn.state.config.limits.body_bytes),
                ))),
                Some(Ok(Message::Close(_))) => {
                    // tungstenite queued its reply; let it out.
                    let _ = tokio::time::timeout(cfg.write_timeout, socket.flush()).await;
                    Err(End::Gone)
                }
                None | Some(Err(_)) => Err(End::Gone),
                Some(Ok(_)) => Ok(Vec::new()), // ping/pong frames: axum answers pings itself
            },
            Some((id, n, item)) = conn.streams.next(), if !conn.streams.is_empty() => {
                Ok(conn.on_item(id, n, item))
            }
            _ = &mut init_deadline, if conn.authorization.is_none() => {
                Err(End::Close(Close::new(4408, "Connection initialisation timeout")))
            }
            _ = &mut expiry, if conn.expires.is_some() => {
                Err(End::Close(Close::new(4403, "the access token has expired; reconnect with a fresh one")))
            }
            _ = keepalive.tick() => Ok(match (conn.acked, conn.protocol) {
                (false, _) => Vec::new(),
                (true, Protocol::Transport) => vec![text(json!({"type": "ping"}))],
                (true, Protocol::Legacy) => vec![text(json!({"type": "ka"}))],
            }),
            (code, reason) = &mut close_requested => Err(End::Close(Close(code, reason))),
            close = &mut session_over => Err(End::Close(close)),
            () = &mut feed_interrupted => Err(End::Close(Close::new(
                1012,
                "the realtime feed was interrupted; reconnect and re-query",
            ))),
        };
        match out {
            Ok(messages) => {
                let mut delivered = true;
                for m in messages {
                    if !send(&mut socket, m, cfg.write_timeout).await {
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
    for (_, (_, handle)) in conn.active.drain() {
        handle.abort();
    }
    if let End::Close(Close(code, reason)) = end {
        if protocol == Protocol::Legacy && code == 4403 {
            // The legacy protocol reports a refused init with a message before closing.
            let refused = text(json!({"type": "connection_error", "payload": {"message": reason}}));
            let _ = send(&mut socket, refused, cfg.write_timeout).await;
        }
        let frame = Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from(limit_reason(reason)),
        }));
        let _ = tokio::time::timeout(cfg.write_timeout, socket.send(frame)).await;
    }
}

/// `false` when the socket is gone or did not take the message in time.
async fn send(sink: &mut WebSocket, m: Message, timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, sink.send(m)).await,
        Ok(Ok(()))
    )
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
                if let Some((_, h)) = self.active.remove(&id) {
                    h.abort();
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
        if self.active.contains_key(&id) {
            return Err(End::Close(Close::new(
                4409,
                format!("Subscriber for {id} already exists"),
            )));
        }
        let max = self.state.config.realtime.max_subscriptions;
        if self.active.len() >= max {
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
        .flatten();
        let (handle, registration) = AbortHandle::new_pair();
        self.started += 1;
        let n = self.started;
        let tagged = {
            let id = id.clone();
            let done = id.clone();
            stream
                .map(move |r| (id.clone(), n, Some(r)))
                .chain(futures_util::stream::once(async move { (done, n, None) }))
        };
        self.streams
            .push(Abortable::new(tagged, registration).boxed());
        self.active.insert(id, (n, handle));
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

    fn on_item(&mut self, id: String, n: u64, item: Option<Out>) -> Vec<Message> {
        if self.active.get(&id).map(|(m, _)| *m) != Some(n) {
            return Vec::new(); // completed (or ended) meanwhile
        }
        let kind = match self.protocol {
            Protocol::Transport => "next",
            Protocol::Legacy => "data",
        };
        match item {
            Some(Out::Own(r)) => self.on_result(id, kind, &Item::of(&r)),
            Some(Out::Shared(shared)) => self.on_result(id, kind, &shared),
            Some(Out::Lagged(missed)) => {
                self.control.too_slow(missed);
                Vec::new()
            }
            None => {
                self.active.remove(&id);
                vec![text(json!({"type": "complete", "id": id}))]
            }
        }
    }

    /// One result of an operation, its own or shared (`fanout`).
    fn on_result(&mut self, id: String, kind: &str, item: &Item) -> Vec<Message> {
        match item {
            // A fan-out writes thousands of these: the payload was serialized once.
            Item::Next(payload) => {
                let id = Value::String(id).to_string();
                let mut s = String::with_capacity(payload.len() + id.len() + 32);
                s.push_str(r#"{"type":""#);
                s.push_str(kind);
                s.push_str(r#"","id":"#);
                s.push_str(&id);
                s.push_str(r#","payload":"#);
                s.push_str(payload);
                s.push('}');
                vec![Message::Text(Utf8Bytes::from(s))]
            }
            Item::Refused(errors) => {
                self.active.remove(&id);
                vec![self.error(&id, errors.clone())]
            }
            Item::Close(code, reason) => {
                self.control.close(*code, reason.clone());
                Vec::new()
            }
            Item::Complete => Vec::new(),
        }
    }
}
