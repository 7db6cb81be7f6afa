//! `/graphql` over POST (queries and mutations, batches), GET (queries only) and WebSocket.

use std::net::{IpAddr, SocketAddr};

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, ErrorExtensions};
use async_graphql_axum::{GraphQLBatchRequest, GraphQLResponse};
use axum::extract::{ConnectInfo, Request, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::error::AppError;
use crate::graphql::context::{Caller, resolve_caller};
use crate::graphql::loaders::Loaders;
use crate::services::RequestMeta;

/// The client's address: the peer, or, when the peer is a trusted proxy, the right-most
/// address in `X-Forwarded-For` that is not itself a trusted proxy.
fn client_ip(headers: &HeaderMap, peer: IpAddr, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
}

fn request_meta(state: &AppState, headers: &HeaderMap, peer: SocketAddr) -> RequestMeta {
    RequestMeta {
        request_id: uuid::Uuid::new_v4(),
        ip: Some(client_ip(
            headers,
            peer.ip(),
            &state.config.auth.trusted_proxies,
        )),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(500).collect()),
    }
}

async fn request_context(
    state: &AppState,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> (Caller, RequestMeta) {
    let meta = request_meta(state, headers, peer);
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let caller = resolve_caller(&state.db, &state.auth, authorization, &meta).await;
    (caller, meta)
}

fn with_context(
    req: async_graphql::Request,
    state: &AppState,
    caller: &Caller,
    meta: &RequestMeta,
) -> async_graphql::Request {
    req.data(caller.clone())
        .data(meta.clone())
        .data(Loaders::new(
            &state.db,
            crate::graphql::loaders::LoaderDelay(state.config.loader_delay),
        ))
}

/// A GraphQL-shaped error body with an HTTP status, for refusals before execution.
pub fn error_response(status: StatusCode, err: AppError) -> Response {
    let body = async_graphql::Response::from_errors(vec![
        err.extend()
            .into_server_error(async_graphql::Pos::default()),
    ]);
    let mut resp = (status, GraphQLResponse::from(body)).into_response();
    if status == StatusCode::METHOD_NOT_ALLOWED {
        resp.headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
    }
    resp
}

/// CSRF rule (API.md): a browser can send a cross-site "simple" POST (form or text/plain)
/// without a preflight, so only JSON, or multipart carrying a preflight-forcing header, is run.
fn csrf_safe(headers: &HeaderMap) -> bool {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mime = content_type.split(';').next().unwrap_or("").trim();
    match mime {
        "application/json" | "application/graphql-response+json" => true,
        "multipart/form-data" => {
            headers.contains_key("apollo-require-preflight")
                || headers.contains_key("x-apollo-operation-name")
        }
        _ => false,
    }
}

pub async fn post_handler(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    if !csrf_safe(request.headers()) {
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::BadUserInput {
                message:
                    "POST /graphql needs Content-Type: application/json (or multipart/form-data \
                          with an Apollo-Require-Preflight header)"
                        .into(),
                field: None,
            },
        );
    }
    let request_headers = request.headers().clone();
    let batch = match <GraphQLBatchRequest as axum::extract::FromRequest<AppState>>::from_request(
        request, &state,
    )
    .await
    {
        Ok(b) => b.into_inner(),
        Err(rejection) => {
            let message = rejection.0.to_string();
            // The body-limit layer surfaces here as a read error.
            let status = if message.contains("length limit") {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            return error_response(
                status,
                AppError::BadUserInput {
                    message: format!("malformed GraphQL request: {message}"),
                    field: None,
                },
            );
        }
    };
    // `[]` deserializes as one request without a query (serde reads a struct from a sequence).
    let nothing_to_run = match &batch {
        BatchRequest::Batch(list) => list.is_empty(),
        BatchRequest::Single(r) => r.query.trim().is_empty(),
    };
    if nothing_to_run {
        return error_response(
            StatusCode::BAD_REQUEST,
            AppError::BadUserInput {
                message: "the request has no query (or is an empty batch)".into(),
                field: None,
            },
        );
    }
    if let BatchRequest::Batch(list) = &batch
        && list.len() > state.config.limits.batch_size
    {
        return error_response(
            StatusCode::BAD_REQUEST,
            AppError::BadUserInput {
                message: format!(
                    "a batch may hold at most {} operations; this one has {}",
                    state.config.limits.batch_size,
                    list.len()
                ),
                field: None,
            },
        );
    }
    let (caller, meta) = request_context(&state, &request_headers, peer).await;
    let batch = match batch {
        BatchRequest::Single(r) => BatchRequest::Single(with_context(r, &state, &caller, &meta)),
        BatchRequest::Batch(list) => BatchRequest::Batch(
            list.into_iter()
                .map(|r| with_context(r, &state, &caller, &meta))
                .collect(),
        ),
    };
    let span = tracing::info_span!("graphql", request_id = %meta.request_id);
    let response = tracing::Instrument::instrument(state.schema.execute_batch(batch), span).await;
    let status = match &response {
        async_graphql::BatchResponse::Single(r) => status_for(&request_headers, r),
        async_graphql::BatchResponse::Batch(_) => StatusCode::OK,
    };
    let mut resp = GraphQLResponse::from(response).into_response();
    *resp.status_mut() = status;
    with_request_id(resp, &meta)
}

/// GraphQL-over-HTTP: with `Accept: application/graphql-response+json`, a request that never
/// executed (parse or validation errors: no data, no error path) is a 400; with plain
/// `application/json` it stays 200 for older clients.
fn status_for(headers: &HeaderMap, r: &async_graphql::Response) -> StatusCode {
    let wants_new_type = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/graphql-response+json"));
    let request_error = r.data == async_graphql::Value::Null
        && !r.errors.is_empty()
        && r.errors.iter().all(|e| e.path.is_empty());
    if wants_new_type && request_error {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    }
}

/// The body-limit layer answers 413 in plain text before any handler runs; clients get the
/// same JSON error shape as everywhere else.
pub async fn json_payload_too_large(resp: Response) -> Response {
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json {
        return error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            AppError::BadUserInput {
                message: "the request body is too large".into(),
                field: None,
            },
        );
    }
    resp
}

fn with_request_id(mut resp: Response, meta: &RequestMeta) -> Response {
    if let Ok(v) = header::HeaderValue::from_str(&meta.request_id.to_string()) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// GraphQL-over-HTTP GET parameters. async-graphql's own `parse_query_string` reads
/// `operation_name` where the spec says `operationName`, so this one reads both.
#[derive(serde::Deserialize)]
struct GetParams {
    #[serde(default)]
    query: String,
    #[serde(rename = "operationName", alias = "operation_name")]
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

fn parse_get(query_string: &str) -> Result<async_graphql::Request, String> {
    let p: GetParams = serde_urlencoded::from_str(query_string).map_err(|e| e.to_string())?;
    let json = |field: &str, raw: Option<String>| -> Result<serde_json::Value, String> {
        match raw {
            Some(raw) => serde_json::from_str(&raw).map_err(|e| format!("invalid {field}: {e}")),
            None => Ok(serde_json::Value::Null),
        }
    };
    let variables = json("variables", p.variables)?;
    let extensions = json("extensions", p.extensions)?;
    let mut req = async_graphql::Request::new(p.query)
        .variables(async_graphql::Variables::from_json(variables));
    if let serde_json::Value::Object(map) = extensions {
        req.extensions.0 = map
            .into_iter()
            .map(|(k, v)| (k, async_graphql::Value::from_json(v).unwrap_or_default()))
            .collect();
    }
    if let Some(name) = p.operation_name {
        req = req.operation_name(name);
    }
    Ok(req)
}

/// GET runs queries only: a mutation over GET could be triggered by a link or an image tag.
pub async fn get_handler(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let req = match parse_get(request.uri().query().unwrap_or("")) {
        Ok(r) => r,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                AppError::BadUserInput {
                    message: format!("malformed GraphQL request: {e}"),
                    field: None,
                },
            );
        }
    };
    // The operation type is read by parsing, so the pre-parse guard runs first here too.
    let limits = &state.config.limits;
    if let Err(message) =
        crate::graphql::limits::pre_parse(&req.query, limits.nesting, limits.tokens)
    {
        return error_response(StatusCode::BAD_REQUEST, AppError::QueryTooComplex(message));
    }
    if let Ok(doc) = async_graphql::parser::parse_query(&req.query) {
        let selected = doc.operations.iter().find(|(name, _)| {
            req.operation_name.is_none()
                || name.map(|n| n.as_str()) == req.operation_name.as_deref()
        });
        if let Some((_, op)) = selected
            && op.node.ty != OperationType::Query
        {
            return error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                AppError::BadUserInput {
                    message: "only queries may be sent over GET; use POST for mutations".into(),
                    field: None,
                },
            );
        }
    }
    let (caller, meta) = request_context(&state, request.headers(), peer).await;
    let req = with_context(req, &state, &caller, &meta);
    let span = tracing::info_span!("graphql", request_id = %meta.request_id);
    let response = tracing::Instrument::instrument(state.schema.execute(req), span).await;
    let status = status_for(request.headers(), &response);
    let mut resp = GraphQLResponse::from(response).into_response();
    *resp.status_mut() = status;
    with_request_id(resp, &meta)
}

/// Counts open sockets for `/metrics`, whichever way the connection ends.
struct WsGuard(super::metrics::Metrics);

impl Drop for WsGuard {
    fn drop(&mut self) {
        self.0.ws_closed();
    }
}

/// Authentication happens in `connection_init` (`{"authorization": "Bearer <token>"}`);
/// the protocol itself is in `http::ws`.
pub async fn ws_handler(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let meta = request_meta(&state, &headers, peer);
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(state.config.limits.body_bytes)
        // tungstenite's default 128 KiB read buffer per socket dominated memory with many
        // idle subscriptions; messages here are small, and larger ones still arrive whole.
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |socket| async move {
            state.metrics.ws_opened();
            let _guard = WsGuard(state.metrics.clone());
            super::ws::serve(socket, state, meta).await;
        })
        .into_response()
}
