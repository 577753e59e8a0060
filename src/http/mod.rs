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
//! - `published`: the public feed of published results and their photos' public copies (Đ11).
//! - `agency`: the handling agencies' reports and steps, and the IOC's disclosures (Đ8.3).
//! - `portal`: the citizens' web form, its assets and its public API (checks, place
//!   suggestions, one-time codes, submission).
//! - `open311`: Open311 GeoReport v2 under `/open311/v2/`.
//! - `stats`: the monthly and yearly figures and their charts (IOC).
//! - `console`: the IOC's web console at `/console` (sessions, CSRF, queue, actions, figures).
//! - `ops`: health, readiness, metrics.
//! - `openapi`: the OpenAPI document generated from the handlers.

pub mod agency;
pub mod auth;
pub mod body;
pub mod console;
pub mod error;
pub mod ioc;
pub mod messages;
pub mod open311;
pub mod openapi;
pub mod ops;
pub mod portal;
pub mod published;
pub mod stats;
pub mod submit;
pub mod track;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
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
    /// The verifier of the app's bearer tokens (`[app_tokens]`), when configured.
    pub app_tokens: Option<Arc<crate::apptoken::AppTokenVerifier>>,
    pub metrics: PrometheusHandle,
    /// The gateway's one shutdown token, also handed to every channel: once cancelled,
    /// readiness fails and new submissions get 503.
    pub shutdown: channels::CancellationToken,
    /// The portal's one-time codes (Đ6.4) and its public-check limiter.
    pub otp: Arc<crate::otp::Otp>,
}

impl AppState {
    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }
}

/// The router, without a socket: tests call it with `tower::ServiceExt::oneshot`.
pub fn app(state: AppState) -> Router {
    let body_limit = usize::try_from(state.config.limits.request_max_bytes).unwrap_or(usize::MAX);
    let portal_enabled = state.config.portal.enabled;
    let router = Router::new()
        .route("/v1/reports", post(submit::submit))
        .route(
            "/v1/reports/check",
            post(submit::check).route_layer(from_fn_with_state(state.clone(), limit_check)),
        )
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
        .route("/v1/reports/{id}/disclose", post(agency::disclose))
        .route(
            "/v1/reports/{id}/publication",
            put(published::set_publication),
        )
        .route("/v1/agency/reports", get(agency::list))
        .route("/v1/agency/reports/{id}", get(agency::get_report))
        .route("/v1/agency/reports/{id}/media/{n}", get(agency::get_media))
        .route("/v1/agency/reports/{id}/status", post(agency::transition))
        .route("/v1/published", get(published::feed))
        .route(
            "/v1/published/{code}/media/{n}",
            get(published::media).route_layer(from_fn_with_state(state.clone(), limit_media)),
        )
        .route(
            "/v1/published/{code}/result-media/{n}",
            get(published::result_media)
                .route_layer(from_fn_with_state(state.clone(), limit_media)),
        )
        .route("/v1/stats", get(stats::figures))
        .route("/v1/stats/charts/{file}", get(stats::chart))
        .route("/v1/track/{code}", get(track::track_json))
        .route("/v1/track/{code}/messages", post(track::answer))
        .route("/v1/track/{code}/rating", post(track::rating))
        .route(
            "/v1/track/{code}/photos/{digest}",
            get(track::photo).route_layer(from_fn_with_state(state.clone(), limit_media)),
        )
        .route("/track", get(track::track_form))
        .route("/track/{code}", get(track::track_html))
        .route("/track/{code}/answer", post(track::answer_form))
        .route("/track/{code}/rating", post(track::rating_form))
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
        // The stylesheet is also the tracking page's.
        .route("/assets/portal.css", get(portal::css))
        .route("/assets/console.css", get(console::css))
        .route("/assets/console.js", get(console::js))
        .route("/console", get(console::queue))
        .route("/console/login", post(console::login))
        .route("/console/logout", post(console::logout))
        .route("/console/queue/claim", post(console::claim))
        .route("/console/queue/{entry_id}/ack", post(console::ack))
        .route("/console/due", get(console::due))
        .route("/console/screened", get(console::screened))
        .route("/console/figures", get(console::figures))
        .route("/console/charts/{file}", get(console::chart))
        .route("/console/reports/{id}", get(console::report))
        .route("/console/reports/{id}/photos/{n}", get(console::photo))
        .route("/console/reports/{id}/messages", post(console::message))
        .route("/console/reports/{id}/status", post(console::status))
        .route("/console/reports/{id}/block", post(console::block));
    let router = if portal_enabled {
        router
            .route("/", get(portal::form))
            .route("/gui-phan-anh", get(portal::form))
            .route("/assets/portal.js", get(portal::js))
            .route("/v1/portal/check", post(portal::check))
            .route("/v1/portal/places", post(portal::places))
            .route("/v1/portal/otp", post(portal::request_code))
            .route("/v1/portal/otp/verify", post(portal::verify_code))
            .route("/v1/portal/reports", post(portal::submit_report))
    } else {
        router
    };
    router
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(state.config.limits.request_timeout_secs),
        ))
        .with_state(state)
}

/// Past the per-address limit of a public route (`[rate_limits] check`, `public_media`): 429
/// with `Retry-After`, counted in `gateway_rate_limited_total{channel=<route>,limit="source"}`.
async fn limit_public(
    state: &AppState,
    route: crate::ratelimit::PublicRoute,
    source: &str,
) -> Result<(), ApiError> {
    use channels::ratelimit::Admission;
    match state
        .pipeline
        .rate_limits()
        .admit_source(route, source)
        .await
    {
        Ok(Admission::Admitted) => Ok(()),
        Ok(Admission::Limited(limited)) => {
            let secs = limited.retry_after_secs();
            Err(ApiError::TooManyRequests {
                retry_after_secs: secs,
                message_vi: crate::messages::too_many_requests(secs),
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /v1/reports/check`, limited per client address.
async fn limit_check(
    State(state): State<AppState>,
    track::SourceIp(source): track::SourceIp,
    req: Request,
    next: Next,
) -> Response {
    match limit_public(&state, crate::ratelimit::PublicRoute::Check, &source).await {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// The published photos, limited per client address.
async fn limit_media(
    State(state): State<AppState>,
    track::SourceIp(source): track::SourceIp,
    req: Request,
    next: Next,
) -> Response {
    match limit_public(&state, crate::ratelimit::PublicRoute::PublicMedia, &source).await {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}
