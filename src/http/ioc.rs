//! The IOC's API (R-Q-3): claim and acknowledge queue entries, read reports and their media, set a
//! report's status along the processing trail, list running deadlines. IOC keys only.

use super::body::JsonBody;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use normalizers::report::{Report, ReportStatus};
use normalizers::trail::{self, TrailEntry, TrailStatus, Transition};
use serde::{Deserialize, Serialize};
use tokio_util::io::ReaderStream;
use utoipa::{IntoParams, ToSchema};

use super::auth::{Authorized, Caller, Ioc};
use super::{ApiError, AppState};
use crate::blocklist::{BlockEntry, BlockRequest};
use crate::store::REPORTS_STREAM;
use crate::trail::DueEntry;

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
    /// `report` (a new report), `citizen_message` (the citizen's answer about a report already
    /// queued) or `rating` (the citizen's rating of a result).
    pub kind: String,
    /// The canonical report (schema: `/openapi.json` components `Report`); for the other
    /// kinds `{kind, report_id, tracking_code, answer}`.
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
        .map(|e| {
            let report: serde_json::Value =
                serde_json::from_slice(&e.payload).unwrap_or(serde_json::Value::Null);
            // Reports carry no `kind`; the citizen's answers and ratings do.
            let kind = report
                .get("kind")
                .and_then(|k| k.as_str())
                .unwrap_or("report")
                .to_string();
            QueueEntry {
                entry_id: e.entry_id,
                deliveries: e.deliveries,
                kind,
                report,
            }
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

/// Legacy: close a report from any status (`closed`), or reopen a closed one to the status it
/// had (`open`). Recorded on the trail like every change; prefer `POST /v1/reports/{id}/status`.
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
    Authorized { caller, .. }: Authorized<Ioc>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<StatusBody>,
) -> Result<StatusCode, ApiError> {
    load(&state, &id).await?;
    let close = body.status == ReportStatus::Closed;
    state
        .pipeline
        .legacy_status(&id, close, &actor(&caller))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who moved a report: the key's role and short id, never a person.
fn actor(caller: &Caller) -> String {
    format!("ioc:{}", caller.client)
}

/// A step along the processing trail.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionBody {
    /// `accepted`, `not_accepted`, `forwarded`, `agency_accepted`, `answered` or `closed`.
    #[schema(value_type = String)]
    pub status: TrailStatus,
    /// The agency the report is forwarded to (required with `forwarded`, refused otherwise).
    pub agency: Option<String>,
    /// Internal note: kept on the report, never shown to the citizen.
    pub note: Option<String>,
    /// Text for the citizen, shown on the tracking view (required with `not_accepted`: the
    /// reason, Đ9.2; and with `answered`: the result, Đ10.3).
    pub message: Option<String>,
}

/// The trail of a report after a transition.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransitionResponse {
    #[schema(value_type = String)]
    pub status: TrailStatus,
    /// The deadline the new status runs against, when it has one.
    pub due_by: Option<chrono::DateTime<chrono::Utc>>,
    #[schema(value_type = Vec<Object>)]
    pub trail: Vec<TrailEntry>,
}

/// Move a report along its processing trail (Đ12.2): `received → accepted | not_accepted →
/// forwarded → agency_accepted → answered → closed`, with the deadline of each step on the
/// working-hours calendar (Đ9.2, Đ10). Closed reports leave the DUPLICATE window.
#[utoipa::path(
    post, path = "/v1/reports/{id}/status", tag = "ioc",
    params(("id" = String, Path, description = "Report id")),
    request_body = TransitionBody,
    responses(
        (status = 200, description = "Recorded; the trail as it now is", body = TransitionResponse),
        (status = 400, description = "A field missing or too long (agency, message)", body = super::error::ErrorBody),
        (status = 404, description = "No such report", body = super::error::ErrorBody),
        (status = 409, description = "The trail does not allow this step from the current status, or another change of the report is being written", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn transition(
    Authorized { caller, .. }: Authorized<Ioc>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<TransitionBody>,
) -> Result<Json<TransitionResponse>, ApiError> {
    load(&state, &id).await?;
    let report = state
        .pipeline
        .transition(
            &id,
            Transition {
                status: Some(body.status),
                agency: body.agency,
                note: body.note,
                message: body.message,
            },
            &actor(&caller),
        )
        .await?;
    Ok(Json(TransitionResponse {
        status: trail::current(&report),
        due_by: trail::current_due(&report).map(|(_, t)| t),
        trail: report.trail,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct OverdueQuery {
    /// Also list what falls due within this many minutes (default 60).
    pub within_minutes: Option<u32>,
    /// At most this many (1–1000, default 200).
    pub max: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OverdueResponse {
    /// Earliest deadline first; `overdue` is true when it has passed.
    pub entries: Vec<DueEntry>,
}

/// Reports whose current deadline has passed or falls within the hour (Đ13.1.b).
#[utoipa::path(
    get, path = "/v1/ioc/overdue", tag = "ioc",
    params(OverdueQuery),
    responses(
        (status = 200, description = "Running deadlines due soon or passed", body = OverdueResponse),
        (status = 400, description = "Bad parameters", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn overdue(
    _: Authorized<Ioc>,
    State(state): State<AppState>,
    Query(q): Query<OverdueQuery>,
) -> Result<Json<OverdueResponse>, ApiError> {
    let max = q.max.unwrap_or(200);
    if !(1..=1000).contains(&max) {
        return Err(ApiError::BadRequest(
            "max must be between 1 and 1000".into(),
        ));
    }
    let within = chrono::Duration::minutes(i64::from(q.within_minutes.unwrap_or(60)));
    let entries = state.pipeline.due(within, max).await?;
    Ok(Json(OverdueResponse { entries }))
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
    JsonBody(body): JsonBody<BlockRequest>,
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
