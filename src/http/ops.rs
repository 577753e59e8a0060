//! Liveness, readiness and metrics.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::AppState;
use crate::store::{REJECTIONS_STREAM, REPORTS_STREAM};

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "Alive")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// The gateway can take reports: storage answers and it is not shutting down.
#[utoipa::path(get, path = "/readyz", tag = "ops", responses(
    (status = 200, description = "Ready"),
    (status = 503, description = "Not ready (storage unreachable or shutting down)"),
))]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.is_shutting_down() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    match state.pipeline.readiness().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "storage unreachable"),
    }
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus text format")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let pipeline = &state.pipeline;
    if let Ok((len, pending, lag)) = pipeline.queue_depth(REPORTS_STREAM).await {
        crate::metrics::queue_depth(REPORTS_STREAM, len, pending, lag);
    }
    if let Ok((len, _, _)) = pipeline.queue_depth(REJECTIONS_STREAM).await {
        crate::metrics::queue_depth(REJECTIONS_STREAM, len, 0, 0);
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.metrics.render(),
    )
}
