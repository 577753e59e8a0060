//! Liveness, readiness and metrics.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

use super::{ApiError, AppState};
use crate::store::{REJECTIONS_STREAM, REPORTS_STREAM};

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "Alive")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness, with the cause when not ready (an error's text: no personal data).
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    /// What keeps the gateway from taking reports: shutting down, the queue store, the media
    /// folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// The gateway can take reports: it is not shutting down, the queue store commits (for the
/// embedded store: a write, which reopens the file after an earlier I/O error), and the media
/// folder takes a file (a full disk shows here).
#[utoipa::path(get, path = "/readyz", tag = "ops", responses(
    (status = 200, description = "Ready", body = Readiness),
    (status = 503, description = "Not ready: shutting down, queue store failing or unreachable, media folder not writable", body = Readiness),
))]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let not_ready = |cause: String| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Readiness {
                status: "not_ready",
                cause: Some(cause),
            }),
        )
    };
    if state.is_shutting_down() {
        return not_ready("shutting down".into());
    }
    if let Err(e) = state.pipeline.readiness().await {
        return not_ready(format!(
            "queue store: {}",
            channels::intake::error_chain(&e)
        ));
    }
    let staging = state.pipeline.staging_dir();
    if let Err(e) = media_probe(&staging).await {
        return not_ready(format!("media storage: {e}"));
    }
    // A disk with a few pages left passes the probe but cannot take a report: ready means
    // room for at least one photo of the largest size allowed.
    let need = state.config.limits.photo_max_bytes;
    if let Ok(free) = free_bytes(&staging) {
        if free < need {
            return not_ready(format!(
                "media storage: no space left on device: {free} bytes free, {need} needed for one photo"
            ));
        }
    }
    (
        StatusCode::OK,
        Json(Readiness {
            status: "ready",
            cause: None,
        }),
    )
}

/// Bytes an unprivileged process may still write on the file system of `dir`.
fn free_bytes(dir: &std::path::Path) -> std::io::Result<u64> {
    let st = rustix::fs::statvfs(dir)?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Write, flush and delete a small file in the staging folder: what every submission does
/// first. A half-written probe is removed too.
async fn media_probe(dir: &std::path::Path) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let name: u64 = rand::random();
    let path = dir.join(format!(".ready-{name:016x}"));
    let written = async {
        let mut f = tokio::fs::File::create(&path).await?;
        f.write_all(&[0u8; 4096]).await?;
        f.sync_all().await
    }
    .await;
    let removed = tokio::fs::remove_file(&path).await;
    written?;
    match removed {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Prometheus metrics: counters updated where things happen, and the depth of the IOC queues
/// read from O(1) sources (XLEN and XINFO GROUPS on Redis; counters kept in the same
/// transactions on the embedded store). With `metrics_key` set, `Authorization: Bearer KEY`
/// is required.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses(
    (status = 200, description = "Prometheus text format"),
    (status = 401, description = "`metrics_key` is set and the request does not carry it"),
))]
pub async fn metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    if let Some(key) = state.config.metrics_key.as_ref().filter(|k| !k.is_empty()) {
        let token = super::auth::bearer_token(&headers).unwrap_or_default();
        let given: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let wanted: [u8; 32] = Sha256::digest(key.expose().as_bytes()).into();
        if !bool::from(given.ct_eq(&wanted)) {
            return Err(ApiError::Unauthorized);
        }
    }
    let pipeline = &state.pipeline;
    if let Ok((len, pending, lag)) = pipeline.queue_depth(REPORTS_STREAM).await {
        crate::metrics::queue_depth(REPORTS_STREAM, len, pending, lag);
    }
    if let Ok((len, _, _)) = pipeline.queue_depth(REJECTIONS_STREAM).await {
        crate::metrics::queue_depth(REJECTIONS_STREAM, len, 0, 0);
    }
    crate::metrics::export_channel_stats();
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.metrics.render(),
    ))
}
