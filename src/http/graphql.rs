//! `/graphql` over POST (queries and mutations, batches), GET (queries only) and WebSocket.

use std::net::SocketAddr;

use async_graphql::BatchRequest;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::parser::types::OperationType;
use axum::extract::{ConnectInfo, Request, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::auth::{request_meta, resolve_caller};
use super::response::{self, MediaType};
use crate::auth::Caller;
use crate::error::AppError;
use crate::graphql::loaders::Loaders;
use crate::services::RequestMeta;

pub(crate) async fn request_context(
    state: &AppState,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> (Caller, RequestMeta) {
    let meta = request_meta(&state.config, headers, peer);
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

fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
}

pub async fn post_handler(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let media = MediaType::negotiate(request.headers());
    match super::idempotency::key_of(&request, media) {
        Err(refused) => return *refused,
        Ok(Some(key)) if csrf_safe(request.headers()) && !is_multipart(request.headers()) => {
            return super::idempotency::run(state, peer, request, key, media).await;
        }
        Ok(Some(_)) if is_multipart(request.headers()) => {
            return response::refusal(
                media,
                StatusCode::BAD_REQUEST,
                AppError::bad_input(
                    "Idempotency-Key",
                    "uploads do not take an Idempotency-Key: use createUpload and completeUpload, \
                     which can be retried",
                ),
            );
        }
        Ok(_) => {}
    }
    post(state, peer, request, None).await
}

/// One POST, with the caller already resolved when `context` is given.
pub(crate) async fn post(
    state: AppState,
    peer: SocketAddr,
    request: Request,
    context: Option<(Caller, RequestMeta)>,
) -> Response {
    let media = MediaType::negotiate(request.headers());
    if !csrf_safe(request.headers()) {
        return response::refusal(
            media,
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
    let (parts, body) = request.into_parts();
    let request_headers = parts.headers;
    // An upload is read (its files spooled to disk) before any operation runs: only a signed-in
    // member may make the server do that, and only for one operation (a batch would share one
    // spooled file between operations running at once).
    let multipart = is_multipart(&request_headers);
    let early = if multipart {
        let (caller, meta) = request_context(&state, &request_headers, peer).await;
        if let Caller::Refused(why) = &caller {
            let err = AppError::Unauthenticated(why.clone());
            return response::refusal(media, StatusCode::UNAUTHORIZED, err);
        }
        if !matches!(caller, Caller::Authenticated(_)) {
            let err = AppError::Unauthenticated("uploads need a signed-in member".into());
            return response::refusal(media, StatusCode::UNAUTHORIZED, err);
        }
        Some((caller, meta))
    } else {
        None
    };
    let batch = match read_batch(&request_headers, body, state.config.media.upload_bytes).await {
        Ok(b) => b,
        Err(refused) => {
            return response::refusal(
                media,
                refused.status,
                AppError::BadUserInput {
                    message: refused.message,
                    field: None,
                },
            );
        }
    };
    // `[]` deserializes as one request without a query (serde reads a struct from a sequence).
    // A persisted query may come without its text (the executor fills it in from the hash).
    let empty = |r: &async_graphql::Request| {
        r.query.trim().is_empty() && !r.extensions.0.contains_key("persistedQuery")
    };
    let nothing_to_run = match &batch {
        BatchRequest::Batch(list) => list.is_empty(),
        BatchRequest::Single(r) => empty(r),
    };
    if nothing_to_run {
        return response::refusal(
            media,
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
        return response::refusal(
            media,
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
    if multipart && matches!(&batch, BatchRequest::Batch(list) if list.len() > 1) {
        return response::refusal(
            media,
            StatusCode::BAD_REQUEST,
            AppError::BadUserInput {
                message: "an upload request carries one operation, not a batch".into(),
                field: None,
            },
        );
    }
    let (caller, meta) = match early.or(context) {
        Some(known) => known,
        None => request_context(&state, &request_headers, peer).await,
    };
    let batch = match batch {
        BatchRequest::Single(r) => BatchRequest::Single(with_context(r, &state, &caller, &meta)),
        BatchRequest::Batch(list) => BatchRequest::Batch(
            list.into_iter()
                .map(|r| with_context(r, &state, &caller, &meta))
                .collect(),
        ),
    };
    let span = tracing::info_span!("graphql", request_id = %meta.request_id);
    let response = tracing::Instrument::instrument(state.graphql.execute_batch(batch), span).await;
    with_request_id(response::graphql(media, response), &meta)
}

/// The request body as GraphQL requests: JSON, or a multipart upload (`http::multipart`).
async fn read_batch(
    headers: &HeaderMap,
    body: axum::body::Body,
    max_file: usize,
) -> Result<BatchRequest, super::multipart::Refused> {
    use futures_util::TryStreamExt;
    use tokio_util::compat::TokioAsyncReadCompatExt;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(ToString::to_string);
    if let Some(ct) = content_type.as_deref()
        && ct
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("multipart/form-data")
    {
        let boundary = multer::parse_boundary(ct).map_err(|e| super::multipart::Refused {
            status: StatusCode::BAD_REQUEST,
            message: format!("malformed multipart request: {e}"),
        })?;
        return super::multipart::read(body, &boundary, max_file as u64).await;
    }
    let body = body
        .into_data_stream()
        .map_err(|e| std::io::Error::other(e.to_string()));
    let reader = tokio_util::io::StreamReader::new(body).compat();
    let options = async_graphql::http::MultipartOptions::default();
    async_graphql::http::receive_batch_body(content_type, reader, options)
        .await
        .map_err(|e| {
            let message = e.to_string();
            let status = if message.contains("length limit") {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            super::multipart::Refused {
                status,
                message: format!("malformed GraphQL request: {message}"),
            }
        })
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
    let media = MediaType::negotiate(request.headers());
    let mut req = match parse_get(request.uri().query().unwrap_or("")) {
        Ok(r) => r,
        Err(e) => {
            return response::refusal(
                media,
                StatusCode::BAD_REQUEST,
                AppError::BadUserInput {
                    message: format!("malformed GraphQL request: {e}"),
                    field: None,
                },
            );
        }
    };
    // A persisted query's text first: the guards below see the document itself.
    if let Err(refused) = state.graphql.resolve_persisted(&mut req) {
        let meta = request_meta(&state.config, request.headers(), peer);
        return with_request_id(response::graphql(media, (*refused).into()), &meta);
    }
    // The operation type is read by parsing, so the pre-parse guard runs first here too.
    let limits = &state.config.limits;
    if let Err(message) = crate::graphql::limits::pre_parse(&req.query, limits) {
        return response::refusal(
            media,
            StatusCode::BAD_REQUEST,
            AppError::QueryTooComplex(message),
        );
    }
    let (caller, meta) = request_context(&state, request.headers(), peer).await;
    let response = match state
        .graphql
        .prepare(with_context(req, &state, &caller, &meta))
    {
        Err(refused) => *refused,
        Ok(p)
            if p.operation_type()
                .is_some_and(|t| t != OperationType::Query) =>
        {
            return response::refusal(
                media,
                StatusCode::METHOD_NOT_ALLOWED,
                AppError::BadUserInput {
                    message: "only queries may be sent over GET; use POST for mutations".into(),
                    field: None,
                },
            );
        }
        Ok(p) => {
            let span = tracing::info_span!("graphql", request_id = %meta.request_id);
            tracing::Instrument::instrument(state.graphql.run(p), span).await
        }
    };
    with_request_id(response::graphql(media, response.into()), &meta)
}

/// Counts open sockets for `/metrics`, whichever way the connection ends.
struct WsGuard(crate::telemetry::Metrics);

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
    let public_url = state.config.media.public_url.as_deref();
    if !super::cors::websocket_origin_allowed(&state.config.cors, public_url, &headers) {
        return (
            StatusCode::FORBIDDEN,
            "this origin may not open a WebSocket here (PLUGS_CORS_ORIGINS)",
        )
            .into_response();
    }
    let meta = request_meta(&state.config, &headers, peer);
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(state.config.limits.body_bytes)
        // tungstenite's default 128 KiB read buffer per socket dominated memory with many
        // idle subscriptions, and it fills what it reserves: messages here are small (a
        // subscribe is a few hundred bytes), and larger ones still arrive whole, the buffer
        // growing for them (10,000 idle sockets: 11.3 KiB each with 4 KiB, 8.2 KiB with 1 KiB).
        .read_buffer_size(1024)
        .write_buffer_size(0)
        .on_upgrade(move |socket| {
            state.metrics.ws_opened();
            let guard = WsGuard(state.metrics.clone());
            // Not wrapped in another `async` block, which would keep the socket twice
            // (captured there, and in `serve`'s future).
            futures_util::FutureExt::map(super::ws::serve(socket, state, meta), move |()| {
                drop(guard)
            })
        })
        .into_response()
}
