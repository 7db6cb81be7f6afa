use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use super::AppState;

/// Liveness: the process answers.
pub async fn health() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// A readiness probe that waits for the pool's acquire timeout (10 s) outlives the
/// orchestrator's own probe timeout: no answer within this is an answer.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Readiness: the database answers, promptly.
pub async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let answered = tokio::time::timeout(READY_TIMEOUT, crate::db::ping(&state.db)).await;
    if answered.unwrap_or(false) {
        (StatusCode::OK, Json(json!({ "status": "ready" })))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "reason": "database unreachable" })),
        )
    }
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(&state.db),
    )
}
