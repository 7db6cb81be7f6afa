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
    let mut text = state.metrics.render(&state.db);
    // The queue's counts come from the database; a scrape must not hang on it.
    let counts = tokio::time::timeout(
        std::time::Duration::from_secs(1),
        crate::db::jobs::counts(&state.background_db),
    )
    .await;
    text.push_str(
        &state
            .metrics
            .render_jobs(&counts.ok().and_then(Result::ok).unwrap_or_default()),
    );
    let (executions, members) = state.fanout.running();
    text.push_str(&format!(
        "# HELP plugs_subscription_executions Running subscription executions (identical \
         subscriptions of one viewer share one).\n# TYPE plugs_subscription_executions gauge\n\
         plugs_subscription_executions {executions}\n\
         # HELP plugs_subscription_members Subscriptions served by those executions.\n\
         # TYPE plugs_subscription_members gauge\nplugs_subscription_members {members}\n"
    ));
    text.push_str(
        "# HELP plugs_rate_limited_total Operations refused for a spent budget, by bucket.\n",
    );
    text.push_str("# TYPE plugs_rate_limited_total counter\n");
    for (bucket, n) in state.graphql.rate_limits().limited() {
        text.push_str(&format!(
            "plugs_rate_limited_total{{bucket=\"{bucket}\"}} {n}\n"
        ));
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}
