//! The IOC's API (R-Q-3): claim and acknowledge queue entries, read reports and their media, set a
//! report's status. IOC keys only.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use normalizers::report::{Report, ReportStatus};
use serde::{Deserialize, Serialize};
use tokio_util::io::ReaderStream;
use utoipa::{IntoParams, ToSchema};

use super::auth::{Authorized, Ioc};
use super::{ApiError, AppState};
use crate::blocklist::{BlockEntry, BlockRequest};
use crate::store::REPORTS_STREAM;

#[derive(Debug, Deserialize, IntoParams)]
pub struct ClaimQuery {
    /// How many entries at most (1–100, default 10).
    pub max: Option<usize>,
    /// The consumer's name, stable per IOC worker (letters, digits, `-_.`; default `ioc`).
    pub consumer: Option<String>,
}

/// One claimed queue entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueEntry {
    /// Acknowledge with `POST /v1/ioc/queue/{entry_id}/ack` once the report is safely taken over.
    pub entry_id: String,
    /// How many times this entry was handed out before (it was not acknowledged in time).
    pub deliveries: u64,
    /// The canonical report (schema: `/openapi.json` components `Report`).
    #[schema(value_type = Object)]
    pub report: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClaimResponse {
    pub entries: Vec<QueueEntry>,
}

/// Claim reports from the IOC queue (`ioc:reports`, consumer group `ioc`). Entries claimed and not
/// acknowledged within the claim timeout are handed out again.
#[utoipa::path(
    get, path = "/v1/ioc/queue", tag = "ioc",
    params(ClaimQuery),
    responses(
        (status = 200, description = "Claimed entries (possibly none)", body = ClaimResponse),
        (status = 400, description = "Bad parameters", body = super::error::ErrorBody),
        (status = 401, description = "No valid API key", body = super::error::ErrorBody),
        (status = 403, description = "Not an IOC key", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn claim(
    _: Authorized<Ioc>,
    State(state): State<AppState>,
    Query(q): Query<ClaimQuery>,
) -> Result<Json<ClaimResponse>, ApiError> {
    let max = q.max.unwrap_or(10);
    if !(1..=100).contains(&max) {
        return Err(ApiError::BadRequest("max must be between 1 and 100".into()));
    }
    let consumer = q.consumer.unwrap_or_else(|| "ioc".into());
    if consumer.is_empty()
        || consumer.len() > 64
        || !consumer
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(ApiError::BadRequest(
            "consumer must be 1 to 64 letters, digits, '-', '_' or '.'".into(),
        ));
    }
    let timeout = Duration::from_secs(state.config.queue.claim_timeout_secs);
    let entries = state
        .pipeline
        .claim(REPORTS_STREAM, &consumer, max, timeout)
        .await?;
    let entries = entries
        .into_iter()
        .map(|e| QueueEntry {
            entry_id: e.entry_id,
            deliveries: e.deliveries,
            report: serde_json::from_slice(&e.payload).unwrap_or(serde_json::Value::Null),
        })
        .collect();
    Ok(Json(ClaimResponse { entries }))
}

/// Acknowledge a claimed entry: it is never handed out again.
#[utoipa::path(
    post, path = "/v1/ioc/queue/{entry_id}/ack", tag = "ioc",
    params(("entry_id" = String, Path, description = "From the claim answer")),
    responses(
        (status = 204, description = "Acknowledged"),
        (status = 404, description = "No such pending entry (unknown or already acknowledged)", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn ack(
    _: Authorized<Ioc>,
    State(state): State<AppState>,
    Path(entry_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let acked = state.pipeline.ack(REPORTS_STREAM, &entry_id).await?;
    if acked {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!(
            "no pending queue entry {entry_id} (unknown or already acknowledged)"
        )))
    }
}

async fn load(state: &AppState, id: &str) -> Result<Report, ApiError> {
    if id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ApiError::NotFound(format!("no report {id}")));
    }
    state
        .pipeline
        .report(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no report {id}")))
}

/// A report by id.
#[utoipa::path(
    get, path = "/v1/reports/{id}", tag = "ioc",
    params(("id" = String, Path, description = "Report id")),
    responses(
        (status = 200, description = "The canonical report (components `Report`)", body = Object),
        (status = 404, description = "No such report", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get_report(
    _: Authorized<Ioc>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Report>, ApiError> {
    Ok(Json(load(&state, &id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct StatusBody {
    /// `open` or `closed`; closed reports no longer count as duplicates.
    #[schema(value_type = String)]
    pub status: ReportStatus,
}

/// Set a report's handling status.
#[utoipa::path(
    put, path = "/v1/reports/{id}/status", tag = "ioc",
    params(("id" = String, Path, description = "Report id")),
    request_body = StatusBody,
    responses(
        (status = 204, description = "Status set"),
        (status = 404, description = "No such report", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn set_status(
    _: Authorized<Ioc>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<StatusBody>,
) -> Result<StatusCode, ApiError> {
    let mut report = load(&state, &id).await?;
    report.status = body.status;
    state.pipeline.set_status(&report).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The n-th attachment of a report (0-based), as stored (original bytes).
#[utoipa::path(
    get, path = "/v1/reports/{id}/media/{n}", tag = "ioc",
    params(("id" = String, Path, description = "Report id"), ("n" = usize, Path, description = "Attachment index, 0-based")),
    responses(
        (status = 200, description = "The file, with its sniffed media type"),
        (status = 404, description = "No such report or attachment", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get_media(
    _: Authorized<Ioc>,
    State(state): State<AppState>,
    Path((id, n)): Path<(String, usize)>,
) -> Result<Response, ApiError> {
    let report = load(&state, &id).await?;
    let a = report
        .attachments
        .get(n)
        .ok_or_else(|| ApiError::NotFound(format!("report {id} has no attachment {n}")))?;
    // The report refers to it: a missing or unreadable original is the gateway's fault.
    let file = state
        .pipeline
        .media(&a.storage_key)
        .await
        .map_err(ApiError::internal)?;
    let mut res = Body::from_stream(ReaderStream::new(file)).into_response();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&a.media_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(a.size));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    Ok(res)
}

/// Block a sender (Đ13.1.e): their later reports are rejected with SENDER_BLOCKED.
#[utoipa::path(
    post, path = "/v1/ioc/blocklist", tag = "ioc",
    request_body = crate::blocklist::BlockRequest,
    responses(
        (status = 201, description = "Blocked (digest and masked hint; the identity is not stored)", body = crate::blocklist::BlockEntry),
        (status = 400, description = "Not a phone, email or account; no reason; expiry passed", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn block_add(
    _: Authorized<Ioc>,
    State(state): State<AppState>,
    Json(body): Json<BlockRequest>,
) -> Result<(StatusCode, Json<BlockEntry>), ApiError> {
    let entry = state.pipeline.block(&body).await?;
    Ok((StatusCode::CREATED, Json(entry)))
}

/// The block list: digests, masked hints, reasons, newest first.
#[utoipa::path(
    get, path = "/v1/ioc/blocklist", tag = "ioc",
    responses((status = 200, description = "Live entries", body = [crate::blocklist::BlockEntry])),
    security(("bearer" = []))
)]
pub async fn block_list(
    _: Authorized<Ioc>,
    State(state): State<AppState>,
) -> Result<Json<Vec<BlockEntry>>, ApiError> {
    Ok(Json(state.pipeline.blocked().await?))
}

/// Unblock a sender, by the digest from the list or by the identity itself.
#[utoipa::path(
    delete, path = "/v1/ioc/blocklist/{key}", tag = "ioc",
    params(("key" = String, Path, description = "Digest from the list, or the phone/email/account")),
    responses(
        (status = 204, description = "Unblocked"),
        (status = 404, description = "Not blocked", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn block_remove(
    _: Authorized<Ioc>,
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    match state.pipeline.unblock(&key).await? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::NotFound("this sender is not blocked".into())),
    }
}
