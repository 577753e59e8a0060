//! `POST /v1/reports` and `POST /v1/reports/check`: a multipart body with one `report` JSON part
//! and up to `limits.max_files` `media` file parts, streamed to the staging folder with per-kind
//! size bounds (R-PIPE-4), then through the pipeline.

use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use channels::ratelimit::{Admission, ClientIp, Subjects};
use normalizers::app::{self, AppSubmission};
use normalizers::identity::Identity;
use normalizers::media::sniff;
use normalizers::report::{Channel, Envelope, Report, VerifiedBy};
use normalizers::validate::{Finding, Status};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Caller;
use super::{ApiError, AppState};
use crate::apptoken::{AppUser, SubmitAuth};
use crate::config::Limits;
use crate::pipeline::PreparedMedia;

/// Answer to a submission.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubmitResponse {
    pub id: String,
    /// Give this to the citizen: it finds the report again.
    pub tracking_code: String,
    /// `accepted`, `needs_review` (201) or `rejected` (422).
    pub verdict: String,
    /// Why the report is rejected: every reason at once, each with how to fix it (Vietnamese).
    #[schema(value_type = Vec<Object>)]
    pub reasons: Vec<Finding>,
    /// What the IOC will look at (Vietnamese).
    #[schema(value_type = Vec<Object>)]
    pub flags: Vec<Finding>,
    /// This answer repeats the first answer to the same Idempotency-Key.
    pub replayed: bool,
}

/// Answer to a dry run.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckResponse {
    pub verdict: String,
    #[schema(value_type = Vec<Object>)]
    pub reasons: Vec<Finding>,
    #[schema(value_type = Vec<Object>)]
    pub flags: Vec<Finding>,
    /// The report as it would be queued (not stored).
    #[schema(value_type = Object)]
    pub report: Report,
}

/// A multipart submission read to the end: its `report` part and its staged media.
pub(super) struct Parsed {
    pub submission: AppSubmission,
    pub raw: Vec<u8>,
    pub media: Vec<PreparedMedia>,
}

/// Submit a report with its media.
#[utoipa::path(
    post,
    path = "/v1/reports",
    tag = "submission",
    request_body(content_type = "multipart/form-data", description = "Part `report` (JSON, see AppSubmission) and up to 10 parts `media` (files)."),
    params(("Idempotency-Key" = Option<String>, Header, description = "Repeating a request with the same key returns the first answer and never creates a second report.")),
    responses(
        (status = 201, description = "Accepted or needs review; queued for the IOC", body = SubmitResponse),
        (status = 422, description = "Rejected: every reason, in Vietnamese, with how to fix it; also when the citizen left fields out (only `channel` is required)", body = SubmitResponse),
        (status = 400, description = "Malformed request: not multipart, no `report` part, a `report` that is not a JSON object, a field of the wrong type or unknown, no `channel`", body = super::error::ErrorBody),
        (status = 401, description = "No valid API key, or an app token refused (expired, wrong issuer or audience, bad signature, unknown key id…: the reason in the message and in `WWW-Authenticate`)", body = super::error::ErrorBody),
        (status = 413, description = "A file or the request is too large, or too many files", body = super::error::ErrorBody),
        (status = 429, description = "Too many submissions from this sender (phone, email, app account), client address or API key in the window (`rate_limits.api`); `Retry-After` gives the seconds to wait. A repeated `Idempotency-Key` of a report already taken is never refused", body = super::error::ErrorBody),
        (status = 503, description = "Storage unavailable or shutting down; nothing stored", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn submit(
    SubmitAuth { caller, app_user }: SubmitAuth,
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    headers: HeaderMap,
    multipart: Multipart,
) -> Result<Response, ApiError> {
    if state.is_shutting_down() {
        return Err(ApiError::ShuttingDown);
    }
    let idempotency = idempotency_key(&headers)?;
    let dedup_key = match &idempotency {
        Some(key) => format!("api:{}:{key}", caller.client),
        None => format!("api:{}:{}", caller.client, state.pipeline.new_id()),
    };
    let repeatable = idempotency.as_ref().map(|_| dedup_key.as_str());
    // The client address and the API key are limited before the body is read.
    let source = Subjects {
        senders: Vec::new(),
        source: client_ip.map(|ip| ip.to_string()),
        client: Some(caller.client.clone()),
    };
    let admission = state
        .pipeline
        .admit_submission(Channel::App, repeatable, &source)
        .await?;
    if let Admission::Limited(limited) = admission {
        return Err(limited.into());
    }
    let parsed = parse(&state, multipart).await?;
    let report = build_report(
        &state,
        &caller,
        app_user.as_ref(),
        &parsed,
        idempotency.as_deref(),
    );
    let senders = Subjects {
        senders: Identity::of_report(&report),
        source: None,
        // Counted above, before the body was read.
        client: None,
    };
    if !senders.senders.is_empty()
        && !state
            .pipeline
            .rate_limits()
            .config()
            .is_exempt(&caller.client)
    {
        let admission = state
            .pipeline
            .admit_submission(report.channel, repeatable, &senders)
            .await;
        let limited = match admission {
            Ok(Admission::Admitted) => None,
            Ok(Admission::Limited(limited)) => Some(ApiError::from(limited)),
            Err(e) => Some(ApiError::from(e)),
        };
        if let Some(e) = limited {
            for m in parsed.media {
                state.pipeline.discard(m.staged).await;
            }
            return Err(e);
        }
    }
    ingest_and_answer(&state, &dedup_key, parsed, report).await
}

/// Store a parsed submission as `report` and answer as `POST /v1/reports` does: 201 with the
/// id, tracking code and verdict, 422 when the report is rejected (the portal answers alike).
pub(super) async fn ingest_and_answer(
    state: &AppState,
    dedup_key: &str,
    parsed: Parsed,
    report: Report,
) -> Result<Response, ApiError> {
    let outcome = state
        .pipeline
        .ingest_prepared(dedup_key, &parsed.raw, report, parsed.media)
        .await?;
    let status = if outcome.verdict.status == Status::Rejected {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::CREATED
    };
    let body = SubmitResponse {
        id: outcome.id,
        tracking_code: outcome.tracking_code,
        verdict: outcome.verdict.status.as_str().to_string(),
        reasons: outcome.verdict.reasons,
        flags: outcome.verdict.flags,
        replayed: outcome.replayed,
    };
    Ok((status, Json(body)).into_response())
}

/// Check a report without submitting it: nothing is stored.
#[utoipa::path(
    post,
    path = "/v1/reports/check",
    tag = "submission",
    request_body(content_type = "multipart/form-data", description = "The same body as POST /v1/reports."),
    responses(
        (status = 200, description = "The verdict the report would get", body = CheckResponse),
        (status = 400, description = "Malformed request", body = super::error::ErrorBody),
        (status = 401, description = "No valid API key, or an app token refused (expired, wrong issuer or audience, bad signature, unknown key id…: the reason in the message and in `WWW-Authenticate`)", body = super::error::ErrorBody),
        (status = 413, description = "Too large", body = super::error::ErrorBody),
        (status = 503, description = "Storage unavailable", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn check(
    SubmitAuth { caller, app_user }: SubmitAuth,
    State(state): State<AppState>,
    multipart: Multipart,
) -> Result<Json<CheckResponse>, ApiError> {
    let parsed = parse(&state, multipart).await?;
    let mut report = build_report(&state, &caller, app_user.as_ref(), &parsed, None);
    report.id = state.pipeline.new_id();
    let report = state.pipeline.check(report, parsed.media).await?;
    Ok(Json(CheckResponse {
        verdict: report.verdict.status.as_str().to_string(),
        reasons: report.verdict.reasons.clone(),
        flags: report.verdict.flags.clone(),
        report,
    }))
}

fn build_report(
    state: &AppState,
    caller: &Caller,
    app_user: Option<&AppUser>,
    parsed: &Parsed,
    idempotency: Option<&str>,
) -> Report {
    let envelope = Envelope {
        id: String::new(),
        tracking_code: String::new(),
        channel: parsed.submission.channel.channel(),
        channel_ref: idempotency.map(str::to_string),
        received_at: state.pipeline.now(),
    };
    let mut report = app::normalize(envelope, &parsed.submission);
    match app_user {
        // A verified app token (Đ6.4): the app's user is the reporter's identity on the app
        // channel (the block list names it `app:<user id>`).
        Some(user) => {
            report.channel = Channel::App;
            report.reporter.channel_identity = Some(user.sub.clone());
            report.reporter.verified_by = VerifiedBy::AppToken;
        }
        None => {
            report.reporter.channel_identity = Some(format!("api-client:{}", caller.client));
        }
    }
    report
}

pub(super) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let v = v
        .to_str()
        .map_err(|_| ApiError::BadRequest("Idempotency-Key must be visible ASCII".into()))?
        .trim();
    if v.is_empty() || v.len() > 200 || !v.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::BadRequest(
            "Idempotency-Key must be 1 to 200 visible ASCII characters".into(),
        ));
    }
    Ok(Some(v.to_string()))
}

fn multipart_error(e: MultipartError, limits: &Limits) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::too_large(
            "the request body is larger than the gateway accepts",
            limits,
        )
    } else {
        ApiError::BadRequest(format!("malformed multipart body: {}", e.body_text()))
    }
}

/// Read the whole multipart body. What was staged is deleted on every exit path that does not
/// hand it over: an error, or the client dropping the connection (the handler is cancelled and
/// the writer and staged files are dropped, which deletes them).
pub(super) async fn parse(state: &AppState, mut multipart: Multipart) -> Result<Parsed, ApiError> {
    let mut report: Option<(AppSubmission, Vec<u8>)> = None;
    let mut media: Vec<PreparedMedia> = Vec::new();
    let limits = &state.config.limits;
    let result: Result<(), ApiError> = async {
        while let Some(field) = multipart
            .next_field()
            .await
            .map_err(|e| multipart_error(e, limits))?
        {
            match field.name() {
                Some("report") => {
                    if report.is_some() {
                        return Err(ApiError::BadRequest("more than one `report` part".into()));
                    }
                    let raw = read_json_part(field, limits).await?;
                    // Missing fields are the validator's (422); wrong types are malformed (400).
                    let sub: AppSubmission = serde_json::from_slice(&raw).map_err(|e| {
                        ApiError::BadRequest(format!(
                            "the `report` part is not a valid report: {e}"
                        ))
                    })?;
                    sub.check_shape()
                        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
                    report = Some((sub, raw));
                }
                Some("media") => {
                    if media.len() >= limits.max_files {
                        return Err(ApiError::too_large(
                            format!("at most {} media files per report", limits.max_files),
                            limits,
                        ));
                    }
                    media.push(stream_media(state, field, media.len()).await?);
                }
                Some(other) => {
                    return Err(ApiError::BadRequest(format!(
                        "unexpected part `{other}`: expected `report` and `media`"
                    )))
                }
                None => return Err(ApiError::BadRequest("a multipart part has no name".into())),
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        for m in media {
            state.pipeline.discard(m.staged).await;
        }
        return Err(e);
    }
    let Some((submission, raw)) = report else {
        for m in media {
            state.pipeline.discard(m.staged).await;
        }
        return Err(ApiError::BadRequest(
            "the `report` JSON part is missing".into(),
        ));
    };
    Ok(Parsed {
        submission,
        raw,
        media,
    })
}

async fn read_json_part(mut field: Field<'_>, limits: &Limits) -> Result<Vec<u8>, ApiError> {
    let max = limits.report_json_max_bytes;
    let mut buf = Vec::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| multipart_error(e, limits))?
    {
        if buf.len() + chunk.len() > max {
            return Err(ApiError::too_large(
                format!("the `report` part is larger than {max} bytes"),
                limits,
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// Stream one file part to staging, bounding it by the limit of its sniffed kind.
pub(super) async fn stream_media(
    state: &AppState,
    mut field: Field<'_>,
    index: usize,
) -> Result<PreparedMedia, ApiError> {
    let limits = &state.config.limits;
    let file_name = field.file_name().map(sanitize_file_name);
    let claimed_type = field.content_type().map(str::to_string);
    let mut writer = state.pipeline.stage_writer().await?;
    let mut head: Vec<u8> = Vec::new();
    let mut limit = limits.max_any();
    let mut kind_known = false;
    loop {
        let chunk = match field.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                writer.abort().await;
                return Err(multipart_error(e, limits));
            }
        };
        if !kind_known {
            let need = 64 - head.len();
            head.extend_from_slice(&chunk[..chunk.len().min(need)]);
            if head.len() >= 64 {
                kind_known = true;
                if let Some(kind) = sniff(&head).kind {
                    limit = limits.max_for(kind);
                }
            }
        }
        if writer.size() + chunk.len() as u64 > limit {
            writer.abort().await;
            return Err(ApiError::too_large(
                format!("media file {} is larger than {} bytes", index + 1, limit),
                limits,
            ));
        }
        if let Err(e) = writer.write(&chunk).await {
            writer.abort().await;
            return Err(e.into());
        }
    }
    if !kind_known {
        if let Some(kind) = sniff(&head).kind {
            if writer.size() > limits.max_for(kind) {
                writer.abort().await;
                return Err(ApiError::too_large(
                    format!("media file {} is too large", index + 1),
                    limits,
                ));
            }
        }
    }
    let staged = writer.finish().await?;
    Ok(PreparedMedia {
        staged,
        file_name,
        claimed_type,
        sent_at: None,
        vouched_capture: None,
    })
}

/// Keep a file name for display only: no path, no control characters, bounded.
fn sanitize_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    base.chars().filter(|c| !c.is_control()).take(120).collect()
}
