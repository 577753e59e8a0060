//! The handling agencies' API (Đ8.3, Đ10, Đ13.5), `agency` keys only, each naming its agency:
//! the reports last forwarded to that agency (list, one report, its media) and their two steps
//! (`agency_accepted`, `answered`); anything else is 403. The reporter's contact is shown only
//! where the citizen consented (`consent_share_pii`) or the IOC disclosed it to this agency with
//! `POST /v1/reports/{id}/disclose` (IOC keys), recorded on the report with who, when and why.

use super::body::JsonBody;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use chrono::{DateTime, Utc};
use normalizers::report::{Disclosure, Report};
use normalizers::trail::{self, TrailStatus, Transition};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Agency, Authorized, Caller, Ioc};
use super::ioc::TransitionResponse;
use super::{ApiError, AppState};
use crate::publication;

/// Longest reason of a disclosure or a withholding.
pub const MAX_REASON_CHARS: usize = 1000;

/// A report id as the routes take it; anything else is no report.
pub(super) fn check_id(id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ApiError::NotFound(format!("no report {id}")));
    }
    Ok(())
}

/// A required reason, trimmed, NFC, bounded.
pub(super) fn reason(text: Option<String>) -> Result<String, ApiError> {
    let text = text.as_deref().map(str::trim).unwrap_or_default();
    if text.is_empty() {
        return Err(ApiError::BadRequest("`reason` is required".into()));
    }
    if text.chars().count() > MAX_REASON_CHARS {
        return Err(ApiError::BadRequest(format!(
            "`reason` is longer than {MAX_REASON_CHARS} characters"
        )));
    }
    Ok(normalizers::text::nfc(text))
}

fn agency_of(caller: &Caller) -> Result<&str, ApiError> {
    caller.agency.as_deref().ok_or(ApiError::Forbidden)
}

/// The report, if it was last forwarded to the caller's agency (403 otherwise, 404 when none).
async fn load_own(state: &AppState, caller: &Caller, id: &str) -> Result<Report, ApiError> {
    check_id(id)?;
    let agency = agency_of(caller)?;
    let report = state
        .pipeline
        .report(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no report {id}")))?;
    if !publication::forwarded_to(&report, agency) {
        return Err(ApiError::Forbidden);
    }
    Ok(report)
}

/// Why the agency sees the reporter's contact, if it does.
fn contact_basis(report: &Report, agency: &str) -> Option<&'static str> {
    if report.reporter.consent_share_pii {
        Some("consent")
    } else if report
        .disclosures
        .iter()
        .any(|d| publication::same_agency(&d.agency, agency))
    {
        Some("disclosed")
    } else {
        None
    }
}

/// A report as an agency sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgencyReport {
    /// `consent` (the citizen agreed, Đ8.3), `disclosed` (by the IOC, Đ13.5) or `withheld`:
    /// then the reporter's name, phone, email and channel identity are null.
    pub contact: String,
    /// The canonical report (components `Report`) without the raw original, the channel's
    /// message id and the IOC's disclosure records.
    #[schema(value_type = Object)]
    pub report: Report,
}

fn agency_view(mut report: Report, agency: &str) -> AgencyReport {
    let basis = contact_basis(&report, agency);
    if basis.is_none() {
        let r = &mut report.reporter;
        r.name = None;
        r.phone = None;
        r.email = None;
        r.channel_identity = None;
    }
    report.raw_original = None;
    report.channel_ref = None;
    report.disclosures.clear();
    AgencyReport {
        contact: basis.unwrap_or("withheld").to_string(),
        report,
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListQuery {
    /// Reports per page (1–100, default 20).
    pub max: Option<usize>,
    /// `next` of the previous page.
    pub cursor: Option<String>,
}

/// One report of an agency's list.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgencyListed {
    pub id: String,
    pub tracking_code: String,
    #[schema(value_type = String)]
    pub status: TrailStatus,
    pub received_at: DateTime<Utc>,
    /// When it was last forwarded to the agency.
    pub forwarded_at: Option<DateTime<Utc>>,
    /// The deadline the current status runs against.
    pub due_by: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgencyList {
    pub reports: Vec<AgencyListed>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// The reports last forwarded to the caller's agency, latest forwarding first.
#[utoipa::path(
    get, path = "/v1/agency/reports", tag = "agency",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of the agency's reports", body = AgencyList),
        (status = 400, description = "Bad parameters", body = super::error::ErrorBody),
        (status = 403, description = "Not an agency key", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    Authorized { caller, .. }: Authorized<Agency>,
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<AgencyList>, ApiError> {
    let agency = agency_of(&caller)?;
    let max = q.max.unwrap_or(20);
    if !(1..=100).contains(&max) {
        return Err(ApiError::BadRequest("max must be between 1 and 100".into()));
    }
    let cursor = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(
            publication::parse_cursor(c)
                .ok_or_else(|| ApiError::BadRequest("cursor is not one this list gave".into()))?,
        ),
    };
    let (ids, next) = state
        .pipeline
        .agency_page(agency, cursor.as_ref(), max)
        .await?;
    let mut reports = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(report) = state.pipeline.report(&id).await? else {
            continue;
        };
        // The index follows every change; the report decides.
        if !publication::forwarded_to(&report, agency) {
            continue;
        }
        reports.push(AgencyListed {
            forwarded_at: report
                .trail
                .iter()
                .rev()
                .find(|e| e.status == TrailStatus::Forwarded)
                .map(|e| e.at),
            status: trail::current(&report),
            due_by: trail::current_due(&report).map(|(_, t)| t),
            id: report.id,
            tracking_code: report.tracking_code,
            received_at: report.received_at,
        });
    }
    Ok(Json(AgencyList { reports, next }))
}

/// A report forwarded to the caller's agency.
#[utoipa::path(
    get, path = "/v1/agency/reports/{id}", tag = "agency",
    params(("id" = String, Path, description = "Report id")),
    responses(
        (status = 200, description = "The report, the contact only with consent or disclosure", body = AgencyReport),
        (status = 403, description = "Not an agency key, or not forwarded to this agency", body = super::error::ErrorBody),
        (status = 404, description = "No such report", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get_report(
    Authorized { caller, .. }: Authorized<Agency>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<AgencyReport>, ApiError> {
    let report = load_own(&state, &caller, &id).await?;
    Ok(Json(agency_view(report, agency_of(&caller)?)))
}

/// The n-th attachment (0-based) of a report forwarded to the caller's agency: a photo's public
/// copy (no device metadata) when there is one, the original otherwise.
#[utoipa::path(
    get, path = "/v1/agency/reports/{id}/media/{n}", tag = "agency",
    params(("id" = String, Path, description = "Report id"), ("n" = usize, Path, description = "Attachment index, 0-based")),
    responses(
        (status = 200, description = "The file"),
        (status = 403, description = "Not an agency key, or not forwarded to this agency", body = super::error::ErrorBody),
        (status = 404, description = "No such report or attachment", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get_media(
    Authorized { caller, .. }: Authorized<Agency>,
    State(state): State<AppState>,
    Path((id, n)): Path<(String, usize)>,
) -> Result<Response, ApiError> {
    let report = load_own(&state, &caller, &id).await?;
    let a = report
        .attachments
        .get(n)
        .ok_or_else(|| ApiError::NotFound(format!("report {id} has no attachment {n}")))?;
    let key = a.public_key.as_deref().unwrap_or(&a.storage_key);
    super::published::public_file(&state, key, &a.media_type, "private, no-store").await
}

/// A step of the agency.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgencyStepBody {
    /// `agency_accepted` or `answered`.
    #[schema(value_type = String)]
    pub status: TrailStatus,
    /// Internal note (never public).
    pub note: Option<String>,
    /// For the citizen: the result, required with `answered` (Đ10.3).
    pub message: Option<String>,
}

/// Accept (Đ10.1) or answer (Đ10.2) a report forwarded to the caller's agency.
#[utoipa::path(
    post, path = "/v1/agency/reports/{id}/status", tag = "agency",
    params(("id" = String, Path, description = "Report id")),
    request_body = AgencyStepBody,
    responses(
        (status = 200, description = "Recorded; the trail as it now is", body = TransitionResponse),
        (status = 400, description = "A field missing or too long", body = super::error::ErrorBody),
        (status = 403, description = "Not forwarded to this agency, or a step that is not the agency's", body = super::error::ErrorBody),
        (status = 404, description = "No such report", body = super::error::ErrorBody),
        (status = 409, description = "The trail does not allow this step now", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn transition(
    Authorized { caller, .. }: Authorized<Agency>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<AgencyStepBody>,
) -> Result<Json<TransitionResponse>, ApiError> {
    load_own(&state, &caller, &id).await?;
    let report = state
        .pipeline
        .agency_transition(
            &id,
            agency_of(&caller)?,
            Transition {
                status: Some(body.status),
                agency: None,
                note: body.note,
                message: body.message,
            },
            &format!("agency:{}", caller.client),
        )
        .await?;
    Ok(Json(TransitionResponse {
        status: trail::current(&report),
        due_by: trail::current_due(&report).map(|(_, t)| t),
        trail: report.trail,
    }))
}

/// A disclosure asked by the IOC.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscloseBody {
    /// Why the agency needs the contact (Đ8.3: at the request of a competent authority).
    pub reason: Option<String>,
    /// The agency; default: the one the report was last forwarded to.
    pub agency: Option<String>,
}

/// Disclose the reporter's contact to an agency (Đ8.3, Đ13.5), recorded on the report with the
/// IOC key, the time and the reason (`disclosures` of `GET /v1/reports/{id}`).
#[utoipa::path(
    post, path = "/v1/reports/{id}/disclose", tag = "ioc",
    params(("id" = String, Path, description = "Report id")),
    request_body = DiscloseBody,
    responses(
        (status = 201, description = "Recorded", body = Object),
        (status = 400, description = "No reason", body = super::error::ErrorBody),
        (status = 404, description = "No such report", body = super::error::ErrorBody),
        (status = 409, description = "Not forwarded and no agency named, or another change is being written", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn disclose(
    Authorized { caller, .. }: Authorized<Ioc>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<DiscloseBody>,
) -> Result<(StatusCode, Json<Disclosure>), ApiError> {
    check_id(&id)?;
    let reason = reason(body.reason)?;
    let agency = match body.agency.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(a) if a.chars().count() > trail::MAX_AGENCY_CHARS => {
            return Err(ApiError::BadRequest(format!(
                "`agency` is longer than {} characters",
                trail::MAX_AGENCY_CHARS
            )))
        }
        Some(a) => Some(normalizers::text::nfc(a)),
    };
    let report = state
        .pipeline
        .disclose(&id, agency, reason, &format!("ioc:{}", caller.client))
        .await?;
    let recorded = report
        .disclosures
        .last()
        .cloned()
        .ok_or_else(|| ApiError::internal(std::io::Error::other("disclosure not recorded")))?;
    tracing::info!(report_id = %id, "reporter contact disclosed to an agency");
    Ok((StatusCode::CREATED, Json(recorded)))
}
