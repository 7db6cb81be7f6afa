//! `Idempotency-Key` on `POST /graphql` (the IETF draft, Stripe's semantics): a request that
//! runs a mutation with the header runs at most once per caller and key for 24 hours.
//!
//! - The first request claims the key (a `running` row; concurrent claims meet the unique
//!   index and exactly one wins) and runs. Every unit of work of its mutation marks the row
//!   `committed` in its own transaction, so a crash between the commit and storing the response
//!   can never lead to a second run. The response is then stored (`completed`) and returned.
//! - A repeat with the same body gets the stored response again, with `idempotent-replayed:
//!   true`; a repeat with another body `422 IDEMPOTENCY_KEY_REUSED`; a repeat while the first is
//!   still running (or committed without a stored response) `409 CONFLICT`.
//! - A first request refused before it changed anything (it committed nothing and answered
//!   with errors) gives its key back, so a corrected retry with the same key runs.
//! - Queries ignore the header. A key is `user:<id>`'s or, before sign-in, the client
//!   network's. Expired keys are purged by an hourly job.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use uuid::Uuid;

use super::AppState;
use super::response::{self, MediaType};
use crate::auth::Caller;
use crate::db::idempotency as q;
use crate::error::AppError;
use crate::services::now;

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED: &str = "idempotent-replayed";
/// How long a key is remembered.
pub const TTL: chrono::Duration = chrono::Duration::hours(24);

/// The request's key: `None` without the header; a refusal when it is malformed.
pub fn key_of(request: &Request, media: MediaType) -> Result<Option<String>, Box<Response>> {
    let Some(raw) = request.headers().get(HEADER) else {
        return Ok(None);
    };
    let bad = || {
        Box::new(response::refusal(
            media,
            StatusCode::BAD_REQUEST,
            AppError::bad_input(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            ),
        ))
    };
    let text = raw.to_str().map_err(|_| bad())?.trim();
    // The draft's structured-field form is a quoted string; a bare token is accepted too.
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    if text.is_empty() || text.len() > 255 || !text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(bad());
    }
    Ok(Some(text.to_owned()))
}

/// Whether a JSON GraphQL body (one operation or a batch) selects a mutation; a persisted
/// query sent by its hash alone is looked up.
fn runs_mutation(state: &AppState, body: &[u8]) -> bool {
    use async_graphql::parser::types::OperationType;
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false;
    };
    let ops = match json {
        serde_json::Value::Array(list) => list,
        one => vec![one],
    };
    ops.iter().any(|op| {
        let persisted = || {
            op.pointer("/extensions/persistedQuery/sha256Hash")
                .and_then(|h| h.as_str())
                .and_then(|h| state.graphql.persisted_text(h))
        };
        let Some(query) = op
            .get("query")
            .and_then(|q| q.as_str())
            .filter(|q| !q.trim().is_empty())
            .map(str::to_owned)
            .or_else(persisted)
        else {
            return false;
        };
        let name = op.get("operationName").and_then(|n| n.as_str());
        async_graphql::parser::parse_query(&query).is_ok_and(|doc| {
            doc.operations.iter().any(|(n, o)| {
                o.node.ty == OperationType::Mutation
                    && (name.is_none() || n.map(|n| n.as_str()) == name)
            })
        })
    })
}

/// Runs `request` (its body already within the size limit) under its key.
pub async fn run(
    state: AppState,
    peer: SocketAddr,
    request: Request,
    key: String,
    media: MediaType,
) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, state.config.limits.body_bytes).await {
        Ok(b) => b,
        Err(_) => {
            return response::refusal(
                media,
                StatusCode::PAYLOAD_TOO_LARGE,
                AppError::bad_input("body", "the request body is too large"),
            );
        }
    };
    let rebuilt = |bytes: bytes::Bytes| Request::from_parts(parts.clone(), Body::from(bytes));
    if !runs_mutation(&state, &bytes) {
        return super::graphql::post(state, peer, rebuilt(bytes), None).await;
    }
    let (mut caller, mut meta) =
        super::graphql::request_context(&state, &parts.headers, peer).await;
    let (who, organization) = match &caller {
        Caller::Authenticated(a) => (format!("user:{}", a.user_id), Some(a.organization_id)),
        // A refused token still runs the anonymous mutations (refreshToken, login): the key
        // is the client network's, as without a token.
        Caller::Refused(_) | Caller::Anonymous => (
            meta.ip
                .map(crate::auth::rate_limit::network_key)
                .unwrap_or_else(|| "ip:unknown".into()),
            None,
        ),
    };
    let hash = crate::graphql::persisted::sha256_hex(&String::from_utf8_lossy(&bytes));
    let id = match claim(&state, organization, &who, &key, &hash).await {
        Ok(Claim::Mine(id)) => id,
        Ok(Claim::Replay(row)) => return replay(*row, &state),
        Ok(Claim::Refused(resp)) => return resp(media),
        Err(e) => return response::refusal(media, StatusCode::INTERNAL_SERVER_ERROR, e),
    };
    meta.idempotency = Some(id);
    if let Caller::Authenticated(a) = &mut caller {
        a.meta.idempotency = Some(id);
    }
    // On a task of its own: a client that disconnects (the retry case) does not stop the
    // request half-way between its commit and storing its response.
    let request = rebuilt(bytes);
    let task = tokio::spawn(async move {
        let resp = super::graphql::post(state.clone(), peer, request, Some((caller, meta))).await;
        let (parts, body) = resp.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        if let Err(e) = settle(&state, id, &parts, &body).await {
            tracing::error!(key = %id, "storing an idempotent response: {e:?}");
        }
        Response::from_parts(parts, Body::from(body))
    });
    match task.await {
        Ok(resp) => resp,
        Err(e) => response::refusal(
            media,
            StatusCode::INTERNAL_SERVER_ERROR,
            AppError::Internal(format!("an idempotent request failed: {e}")),
        ),
    }
}

/// A `running` row this old belongs to a request that died (its process crashed): the key
/// is taken over. Longer than any request runs.
const ABANDONED_AFTER: chrono::Duration = chrono::Duration::minutes(5);

enum Claim {
    Mine(Uuid),
    Replay(Box<crate::entities::idempotency_keys::Model>),
    Refused(fn(MediaType) -> Response),
}

async fn claim(
    state: &AppState,
    organization: Option<Uuid>,
    who: &str,
    key: &str,
    hash: &str,
) -> Result<Claim, AppError> {
    let db = &state.db;
    // Twice at most: an expired row found in the way is removed, then the key is claimed anew.
    for _ in 0..2 {
        let t = now();
        if let Some(id) = q::insert(db, organization, who, key, hash, t, t + TTL).await? {
            return Ok(Claim::Mine(id));
        }
        let Some(row) = q::find(db, who, key).await? else {
            continue; // released or purged meanwhile
        };
        if row.expires_at <= t {
            q::delete_expired_one(db, row.id, t).await?;
            continue;
        }
        if row.state == q::RUNNING && row.updated_at <= t - ABANDONED_AFTER {
            q::release(db, row.id).await?;
            continue;
        }
        if row.request_hash != hash {
            return Ok(Claim::Refused(|media| {
                response::refusal(
                    media,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    AppError::IdempotencyKeyReused(
                        "this Idempotency-Key was used with a different request".into(),
                    ),
                )
            }));
        }
        if row.state == q::COMMITTED {
            return Ok(Claim::Refused(|media| {
                response::refusal(
                    media,
                    StatusCode::CONFLICT,
                    AppError::Conflict {
                        message: "the request with this Idempotency-Key ran, but its response \
                                  could not be kept: read the result instead of retrying"
                            .into(),
                        field: None,
                    },
                )
            }));
        }
        if row.state != q::COMPLETED {
            return Ok(Claim::Refused(|media| {
                response::refusal(
                    media,
                    StatusCode::CONFLICT,
                    AppError::Conflict {
                        message: "a request with this Idempotency-Key is still running; retry \
                                  shortly"
                            .into(),
                        field: None,
                    },
                )
            }));
        }
        return Ok(Claim::Replay(Box::new(row)));
    }
    Err(AppError::Internal(
        "an idempotency key kept changing while it was claimed".into(),
    ))
}

fn aad(id: Uuid) -> String {
    format!("plugs idempotent response v1 {id}")
}

fn replay(row: crate::entities::idempotency_keys::Model, state: &AppState) -> Response {
    let status = row
        .response_status
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let body = row
        .response_body
        .as_deref()
        .and_then(|sealed| state.config.keyring.decrypt(sealed, &aad(row.id)).ok())
        .unwrap_or_default();
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    let content_type = row
        .response_content_type
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
        .unwrap_or(HeaderValue::from_static("application/json"));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    resp.headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    resp
}

/// Keeps the response to replay when the request changed something (or succeeded); otherwise
/// gives the key back.
async fn settle(
    state: &AppState,
    id: Uuid,
    parts: &axum::http::response::Parts,
    body: &[u8],
) -> Result<(), AppError> {
    let committed = q::state(&state.db, id).await?.as_deref() == Some(q::COMMITTED);
    let clean = parts.status.is_success()
        && serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| match v {
            serde_json::Value::Array(list) => list.iter().all(|r| r.get("errors").is_none()),
            one => one.get("errors").is_none(),
        });
    if !committed && !clean {
        q::release(&state.db, id).await?;
        return Ok(());
    }
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    // Sealed: a stored response may hold session tokens (login, refreshToken).
    let sealed = state.config.keyring.encrypt(body, &aad(id));
    q::complete(
        &state.db,
        id,
        parts.status.as_u16(),
        content_type,
        &sealed,
        now(),
    )
    .await?;
    Ok(())
}
