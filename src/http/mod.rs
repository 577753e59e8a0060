//! The HTTP API (axum): submission for the app and the portal, the IOC's queue and reports,
//! health, readiness, metrics and the OpenAPI document.
//!
//! # Layout
//! - `error`: the one `ApiError` every handler returns.
//! - `auth`: API keys and roles.
//! - `submit`: `POST /v1/reports` and `POST /v1/reports/check` (multipart, streamed, bounded).
//! - `ioc`: the IOC's queue, reports, media, the processing trail and running deadlines.
//! - `messages`: the IOC's messages to the citizen and their delivery attempts.
//! - `track`: the citizen's tracking view (JSON and HTML), public and rate-limited.
//! - `open311`: Open311 GeoReport v2 under `/open311/v2/`.
//! - `ops`: health, readiness, metrics.
//! - `openapi`: the OpenAPI document generated from the handlers.

pub mod auth;
pub mod error;
pub mod ioc;
pub mod messages;
pub mod open311;
pub mod openapi;
pub mod ops;
pub mod submit;
pub mod track;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::Config;
use crate::pipeline::Pipeline;

pub use error::ApiError;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub pipeline: Arc<Pipeline>,
    pub config: Arc<Config>,
    pub keys: Arc<auth::KeyRing>,
    pub metrics: PrometheusHandle,
    /// The gateway's one shutdown token, also handed to every channel: once cancelled,
    /// readiness fails and new submissions get 503.
    pub shutdown: channels::CancellationToken,
}

impl AppState {
    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }
}

/// The router, without a socket: tests call it with `tower::ServiceExt::oneshot`.
pub fn app(state: AppState) -> Router {
    let body_limit = usize::try_from(state.config.limits.request_max_bytes).unwrap_or(usize::MAX);
    Router::new()
        .route("/v1/reports", post(submit::submit))
        .route("/v1/reports/check", post(submit::check))
        .route("/v1/reports/{id}", get(ioc::get_report))
        .route(
            "/v1/reports/{id}/status",
            put(ioc::set_status).post(ioc::transition),
        )
        .route(
            "/v1/reports/{id}/messages",
            post(messages::post).get(messages::list),
        )
        .route("/v1/ioc/overdue", get(ioc::overdue))
        .route("/v1/track/{code}", get(track::track_json))
        .route("/v1/track/{code}/messages", post(track::answer))
        .route("/v1/track/{code}/rating", post(track::rating))
        .route("/track", get(track::track_form))
        .route("/track/{code}", get(track::track_html))
        .nest("/open311/v2", open311::router())
        .route("/v1/reports/{id}/media/{n}", get(ioc::get_media))
        .route("/v1/ioc/queue", get(ioc::claim))
        .route("/v1/ioc/queue/{entry_id}/ack", post(ioc::ack))
        .route(
            "/v1/ioc/blocklist",
            post(ioc::block_add).get(ioc::block_list),
        )
        .route("/v1/ioc/blocklist/{key}", delete(ioc::block_remove))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(openapi::serve))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(state.config.limits.request_timeout_secs),
        ))
        .with_state(state)
}
