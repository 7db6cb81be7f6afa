//! `POST /analytics/events`: a JSON array of at most 500 events (the `trackEvents` input's
//! fields, camelCase; unknown fields refused) with `Authorization: Bearer <token>`. Answers
//! `200 {"stored": n}` once committed; 400 for a malformed or refused event (nothing stored),
//! 413 for more than 500 events or a body over 5 MiB, 401 without a valid token, 429 when the
//! member's or organization's rate budget is spent (charged one point per event).

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::response::{MediaType, refusal};
use crate::error::AppError;
use crate::services::analytics::{self as svc, EventInput, MAX_EVENTS};

/// The body limit of this route.
pub const MAX_BODY: usize = 5 * 1024 * 1024;

pub async fn track(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // Who first: an anonymous caller's body is never read.
    let actor = match super::export::actor_of(&state, &headers, peer).await {
        Ok(a) => a,
        Err(refused) => return refused,
    };
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            let e = AppError::bad_input("events", format!("the body is over {MAX_BODY} bytes"));
            return refusal(MediaType::Json, StatusCode::PAYLOAD_TOO_LARGE, e);
        }
    };
    // Counted before anything is built: a long array of tiny items is refused cheaply.
    let count = serde_json::from_slice::<Vec<serde::de::IgnoredAny>>(&body).map(|v| v.len());
    if let Ok(n) = count
        && n > MAX_EVENTS
    {
        let e = AppError::bad_input(
            "events",
            format!("at most {MAX_EVENTS} events per call ({n} sent); nothing was stored"),
        );
        return refusal(MediaType::Json, StatusCode::PAYLOAD_TOO_LARGE, e);
    }
    let events: Vec<EventInput> = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(e) => {
            let e = AppError::bad_input(
                "events",
                format!("the body must be a JSON array of events: {e}"),
            );
            return refusal(MediaType::Json, StatusCode::BAD_REQUEST, e);
        }
    };
    // Ingestion is charged by its event count.
    let payer = crate::graphql::rate::Payer::Member {
        user: actor.user_id,
        organization: actor.organization_id,
    };
    let charged = match state
        .graphql
        .rate_limits()
        .charge(payer, events.len() as u32)
    {
        Ok(c) => c.headers(),
        Err(r) => {
            let mut resp = refusal(MediaType::Json, StatusCode::TOO_MANY_REQUESTS, r.error);
            resp.headers_mut().extend(r.headers);
            return resp;
        }
    };
    let retention = state.config.jobs.analytics_retention;
    match svc::track(&state.db, &actor, events, retention).await {
        Ok(n) => {
            let mut resp = axum::Json(serde_json::json!({ "stored": n })).into_response();
            resp.headers_mut().extend(charged);
            resp
        }
        Err(e @ AppError::BadUserInput { .. }) => {
            refusal(MediaType::Json, StatusCode::BAD_REQUEST, e)
        }
        Err(e) => {
            tracing::error!("analytics ingestion: {e:?}");
            let e = AppError::Internal(String::new());
            refusal(MediaType::Json, StatusCode::INTERNAL_SERVER_ERROR, e)
        }
    }
}
