//! GraphQL-over-HTTP responses: the media type follows `Accept`, a request that never executed
//! has no `data` entry, and refusals before execution have the same JSON shape as everything
//! else.
//!
//! - `application/graphql-response+json` when the client lists it: request errors (parse,
//!   validation, limits) are 400, everything that executed is 200.
//! - `application/json` when the client asks only for that, sends `*/*`, or no `Accept` at
//!   all (older Apollo Client, most mobile and server-side clients): always 200 once the
//!   request could be read, as the spec asks for that legacy type.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::AppError;

pub const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json; charset=utf-8";
pub const JSON: &str = "application/json; charset=utf-8";

/// The response media type the client accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaType {
    GraphqlResponseJson,
    Json,
}

impl MediaType {
    /// Reads `Accept`: `application/graphql-response+json` wins when listed (and not refused
    /// with `q=0`); anything else, or nothing, is answered as `application/json`.
    pub fn negotiate(headers: &HeaderMap) -> Self {
        let wants_new = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|item| {
                let mut parts = item.split(';').map(str::trim);
                let mime = parts.next().unwrap_or("").to_ascii_lowercase();
                let refused = parts.any(|p| {
                    p.strip_prefix("q=")
                        .and_then(|q| q.parse::<f32>().ok())
                        .is_some_and(|q| q <= 0.0)
                });
                mime == "application/graphql-response+json" && !refused
            });
        if wants_new {
            Self::GraphqlResponseJson
        } else {
            Self::Json
        }
    }

    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Self::GraphqlResponseJson => GRAPHQL_RESPONSE_JSON,
            Self::Json => JSON,
        })
    }
}

/// One response as the spec shapes it: `data` is omitted when the request never executed.
#[derive(Serialize)]
struct Body_<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a async_graphql::Value>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [async_graphql::ServerError],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    extensions: &'a BTreeMap<String, async_graphql::Value>,
}

pub use crate::graphql::execute::is_request_error;

fn shaped(r: &async_graphql::Response) -> Body_<'_> {
    Body_ {
        data: (!is_request_error(r)).then_some(&r.data),
        errors: &r.errors,
        extensions: &r.extensions,
    }
}

/// The HTTP response for an executed (single or batched) GraphQL request.
pub fn graphql(media: MediaType, batch: async_graphql::BatchResponse) -> Response {
    let (json, status) = match &batch {
        async_graphql::BatchResponse::Single(r) => {
            let status = if media == MediaType::GraphqlResponseJson && is_request_error(r) {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            };
            (serde_json::to_vec(&shaped(r)), status)
        }
        async_graphql::BatchResponse::Batch(list) => (
            serde_json::to_vec(&list.iter().map(shaped).collect::<Vec<_>>()),
            StatusCode::OK,
        ),
    };
    let json = json.unwrap_or_else(|e| {
        tracing::error!(error = %e, "serializing a GraphQL response");
        br#"{"errors":[{"message":"internal server error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}"#
            .to_vec()
    });
    let mut resp = Response::new(Body::from(json));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, media.content_type());
    if batch.is_ok()
        && let Some(cache_control) = batch.cache_control().value()
        && let Ok(value) = HeaderValue::from_str(&cache_control)
    {
        resp.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    resp.headers_mut().extend(batch.http_headers());
    resp
}

/// A refusal before execution (malformed body, wrong method, limits), as a GraphQL error body.
pub fn refusal(media: MediaType, status: StatusCode, err: AppError) -> Response {
    let body = async_graphql::Response::from_errors(vec![err.into_request_error()]);
    let mut resp = graphql(media, body.into());
    *resp.status_mut() = status;
    if status == StatusCode::METHOD_NOT_ALLOWED {
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    resp
}

/// The request body's limit: `limits.body_bytes` (1 MiB), or `media.upload_bytes` (25 MiB)
/// for a multipart request (an upload). A declared length over it is refused at once; a body
/// that turns out longer fails while it is read (413 either way).
pub async fn body_limit(
    axum::extract::State(state): axum::extract::State<super::AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        });
    let limit = if multipart {
        state.config.media.upload_bytes
    } else {
        state.config.limits.body_bytes
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return refusal(
            MediaType::negotiate(request.headers()),
            StatusCode::PAYLOAD_TOO_LARGE,
            AppError::BadUserInput {
                message: format!("the request body is larger than {limit} bytes"),
                field: None,
            },
        );
    }
    // A body without a declared length (chunked) is cut while it is read; whatever reader
    // meets the cut (JSON, or the multipart parser, which words it its own way) the client is
    // told 413, as for a declared length.
    let hit = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = hit.clone();
    let media = MediaType::negotiate(request.headers());
    let request = request.map(move |body| {
        use http_body_util::BodyExt;
        axum::body::Body::new(http_body_util::Limited::new(body, limit).map_err(move |e| {
            if e.is::<http_body_util::LengthLimitError>() {
                flag.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            e
        }))
    });
    let resp = next.run(request).await;
    if hit.load(std::sync::atomic::Ordering::Relaxed)
        && resp.status() != StatusCode::PAYLOAD_TOO_LARGE
    {
        return refusal(
            media,
            StatusCode::PAYLOAD_TOO_LARGE,
            AppError::BadUserInput {
                message: format!("the request body is larger than {limit} bytes"),
                field: None,
            },
        );
    }
    resp
}

/// The body-limit layer answers 413 in plain text before any handler runs; clients get the
/// same JSON error shape as everywhere else.
pub async fn json_payload_too_large(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let media = MediaType::negotiate(request.headers());
    let resp = next.run(request).await;
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json {
        return refusal(
            media,
            StatusCode::PAYLOAD_TOO_LARGE,
            AppError::BadUserInput {
                message: "the request body is too large".into(),
                field: None,
            },
        );
    }
    resp.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn accept_picks_the_media_type() {
        assert_eq!(MediaType::negotiate(&HeaderMap::new()), MediaType::Json);
        assert_eq!(MediaType::negotiate(&accept("*/*")), MediaType::Json);
        assert_eq!(
            MediaType::negotiate(&accept("application/json")),
            MediaType::Json
        );
        assert_eq!(
            MediaType::negotiate(&accept(
                "application/graphql-response+json, application/json;q=0.9"
            )),
            MediaType::GraphqlResponseJson
        );
        assert_eq!(
            MediaType::negotiate(&accept("application/graphql-response+json;q=0")),
            MediaType::Json
        );
    }
}
