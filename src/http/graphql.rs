//! `/graphql` over POST (queries and mutations, batches), GET (queries only) and WebSocket.

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, ErrorExtensions};
use async_graphql_axum::{GraphQLBatchRequest, GraphQLProtocol, GraphQLResponse, GraphQLWebSocket};
use axum::extract::{Request, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::error::AppError;

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

pub async fn post_handler(State(state): State<AppState>, request: Request) -> Response {
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
    GraphQLResponse::from(state.schema.execute_batch(batch).await).into_response()
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
pub async fn get_handler(State(state): State<AppState>, request: Request) -> Response {
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
    GraphQLResponse::from(state.schema.execute(req).await).into_response()
}

/// Counts open sockets for `/metrics`, whichever way the connection ends.
struct WsGuard(super::metrics::Metrics);

impl Drop for WsGuard {
    fn drop(&mut self) {
        self.0.ws_closed();
    }
}

pub async fn ws_handler(
    State(state): State<AppState>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| async move {
            state.metrics.ws_opened();
            let _guard = WsGuard(state.metrics.clone());
            GraphQLWebSocket::new(socket, state.schema.clone(), protocol)
                .serve()
                .await;
        })
        .into_response()
}
