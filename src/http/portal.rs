//! The citizens' web portal (R-CH-PORTAL): the form at `/` and `/gui-phan-anh`, its one
//! stylesheet and one script (`/assets/portal.css`, `/assets/portal.js`, also used by the
//! tracking page), and the public API the form calls, without an API key:
//! - `POST /v1/portal/check`: the dry run of `/v1/reports/check` (the description hint, the
//!   capture-time warning of a chosen file), nothing stored;
//! - `POST /v1/portal/places`: commune suggestions from the gazetteer (old and new names);
//! - `POST /v1/portal/otp`, `POST /v1/portal/otp/verify`: the one-time code ([`crate::otp`]);
//! - `POST /v1/portal/reports`: the submission, marked `verified_by: otp` when the header
//!   `X-Portal-Verification` carries a token issued for the report's email or phone.
//!
//! Every page is server-rendered with a strict Content-Security-Policy (scripts and styles from
//! this origin only, no inline code); whatever the citizen typed is only ever put in the page
//! as text (`textContent` in the script, [`escape`] on the server). Contacts travel in POST
//! bodies only, never in a URL. No cookie is set or read, so a cross-site request cannot act
//! with a citizen's credentials: see ARCHITECTURE.md ("The portal and CSRF").

use super::body::JsonBody;
use std::fmt::Write as _;

use axum::extract::{Multipart, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use channels::ratelimit::{Admission, ClientIp, Subjects};
use normalizers::app;
use normalizers::identity::Identity;
use normalizers::report::{Channel, Envelope, Report, VerifiedBy};
use normalizers::validate::Finding;
use normalizers::vietnamese::{categories, field_name};
use serde::{Deserialize, Serialize};

use super::error::ErrorBody;
use super::submit::{self, Parsed};
use super::track::{escape, SourceIp};
use super::{ApiError, AppState};
use crate::messages::portal as msg;
use crate::otp::{ContactKind, OtpError};

const PAGE: &str = include_str!("assets/portal.html");
const CSS: &str = include_str!("assets/portal.css");
const JS: &str = include_str!("assets/portal.js");

/// The portal's pages: this origin's script, style, images (previews of chosen photos are
/// `blob:` URLs) and requests only; nothing inline, no frame, forms post here only.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; media-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The header that carries the token of a confirmed contact.
pub const VERIFICATION_HEADER: &str = "x-portal-verification";

fn security_headers(res: &mut Response, csp: &'static str) {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("geolocation=(self), camera=(self), microphone=(self)"),
    );
}

/// The form (HTML, Vietnamese).
pub async fn form(State(state): State<AppState>) -> Response {
    let mut res = (StatusCode::OK, render(&state)).into_response();
    security_headers(&mut res, CSP);
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut res = (StatusCode::OK, body).into_response();
    security_headers(&mut res, CSP);
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    res
}

pub async fn css() -> Response {
    asset(CSS, "text/css; charset=utf-8")
}

pub async fn js() -> Response {
    asset(JS, "text/javascript; charset=utf-8")
}

/// The page with the five fields of Đ5 and their sub-categories filled in.
fn render(state: &AppState) -> String {
    let mut fields = String::new();
    let mut subcategories = String::new();
    let mut seen = Vec::new();
    for (field, _, sub_id, sub_name) in categories() {
        let value = serde_json::to_value(field)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        if !seen.contains(&value) {
            let name = field_name(field).unwrap_or(&value);
            let _ = write!(
                fields,
                "<option value=\"{}\">{}</option>",
                escape(&value),
                escape(name)
            );
            seen.push(value.clone());
        }
        let _ = write!(
            subcategories,
            "<option value=\"{}\" data-field=\"{}\">{}</option>",
            escape(sub_id),
            escape(&value),
            escape(sub_name)
        );
    }
    let limits = &state.config.limits;
    PAGE.replace("{{FIELDS}}", &fields)
        .replace("{{SUBCATEGORIES}}", &subcategories)
        .replace("{{MAX_FILES}}", &limits.max_files.to_string())
        .replace(
            "{{OTP_MINUTES}}",
            &state
                .otp
                .config()
                .otp_ttl_secs
                .div_ceil(60)
                .max(1)
                .to_string(),
        )
        .replace(
            "{{PHONE_CODES}}",
            if state.otp.kinds().contains(&ContactKind::Phone) {
                "true"
            } else {
                "false"
            },
        )
}

/// A Vietnamese error answer of the portal's own endpoints.
fn refusal(status: StatusCode, code: &'static str, message: &str, message_vi: &str) -> Response {
    crate::metrics::http_error(status.as_u16());
    (
        status,
        Json(ErrorBody {
            error: code,
            message: message.to_string(),
            message_vi: Some(message_vi.to_string()),
            error_id: None,
        }),
    )
        .into_response()
}

async fn count_check(state: &AppState, source: &str) -> Result<(), ApiError> {
    if let Some(secs) = state.otp.check_allowed(source).await? {
        return Err(ApiError::TooManyRequests {
            retry_after_secs: secs,
            message_vi: msg::too_many_checks(secs),
        });
    }
    Ok(())
}

/// The canonical report of a portal form: always the portal channel, no account.
fn build_report(state: &AppState, parsed: &Parsed, idempotency: Option<&str>) -> Report {
    let envelope = Envelope {
        id: String::new(),
        tracking_code: String::new(),
        channel: Channel::Portal,
        channel_ref: idempotency.map(str::to_string),
        received_at: state.pipeline.now(),
    };
    app::normalize(envelope, &parsed.submission)
}

/// What the form's dry run answers: the verdict and its findings (the report itself is not
/// echoed back).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PortalCheck {
    /// `accepted`, `needs_review` or `rejected`: what the report would get.
    pub verdict: String,
    /// Findings that would reject it, each with its stable code and Vietnamese message.
    #[schema(value_type = Vec<Object>)]
    pub reasons: Vec<Finding>,
    /// Findings the IOC would see as flags.
    #[schema(value_type = Vec<Object>)]
    pub flags: Vec<Finding>,
    /// Each file's kind and capture time (the form shows it beside the file).
    pub media: Vec<CheckedMedia>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CheckedMedia {
    /// `photo`, `video`, `audio` or `document`.
    #[schema(value_type = String)]
    pub kind: normalizers::report::MediaKind,
    pub captured_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// `POST /v1/portal/check`: the body of `/v1/reports/check`, public, counted per address.
#[utoipa::path(
    post, path = "/v1/portal/check", tag = "portal",
    request_body(content_type = "multipart/form-data", description = "The body of POST /v1/reports: part `report` (JSON, see AppSubmission) and up to 10 parts `media`. Nothing is stored."),
    responses(
        (status = 200, description = "The verdict the report would get, its findings, each file's kind and capture time", body = PortalCheck),
        (status = 400, description = "Malformed request: not multipart, no `report` part, a field of the wrong type", body = ErrorBody),
        (status = 413, description = "A file or the request is too large, or too many files", body = ErrorBody),
        (status = 429, description = "Too many checks from this address (`portal.checks_per_minute`); see Retry-After", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
    )
)]
pub async fn check(
    SourceIp(source): SourceIp,
    State(state): State<AppState>,
    multipart: Multipart,
) -> Result<Json<PortalCheck>, ApiError> {
    count_check(&state, &source).await?;
    let parsed = submit::parse(&state, multipart).await?;
    let mut report = build_report(&state, &parsed, None);
    report.id = state.pipeline.new_id();
    let report = state.pipeline.check(report, parsed.media).await?;
    Ok(Json(PortalCheck {
        media: report
            .attachments
            .iter()
            .map(|a| CheckedMedia {
                kind: a.kind,
                captured_at: a.captured_at,
            })
            .collect(),
        verdict: report.verdict.status.as_str().to_string(),
        reasons: report.verdict.reasons,
        flags: report.verdict.flags,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlacesQuery {
    /// What the citizen typed (a commune's old or new name, with or without marks).
    pub q: String,
}

/// One suggested place.
#[derive(Debug, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Place {
    /// What goes in the address field.
    pub label: String,
    /// What it is now or was before (the 2025 merger), for the citizen to recognise it.
    pub note: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Places {
    pub places: Vec<Place>,
}

/// At most this many suggestions.
const MAX_PLACES: usize = 8;

/// `POST /v1/portal/places` `{"q": "…"}`: communes whose old (before 1/7/2025) or new name
/// contains what was typed, accents and case aside. A POST so that what the citizen types (it
/// may be their home address) stays out of URLs and access logs.
#[utoipa::path(
    post, path = "/v1/portal/places", tag = "portal",
    request_body = PlacesQuery,
    responses(
        (status = 200, description = "Up to 8 communes, names starting with the text first (none below 2 letters)", body = Places),
        (status = 400, description = "Not a JSON object with `q`", body = ErrorBody),
        (status = 415, description = "Not `application/json`", body = ErrorBody),
        (status = 429, description = "Too many requests from this address (`portal.checks_per_minute`); see Retry-After", body = ErrorBody),
    )
)]
pub async fn places(
    SourceIp(source): SourceIp,
    State(state): State<AppState>,
    JsonBody(q): JsonBody<PlacesQuery>,
) -> Result<Json<Places>, ApiError> {
    count_check(&state, &source).await?;
    Ok(Json(Places {
        places: suggest(state.pipeline.geo(), &q.q),
    }))
}

/// Suggestions for `typed` from the gazetteer: names starting with it first.
pub fn suggest(geo: &normalizers::geo::Geo, typed: &str) -> Vec<Place> {
    use normalizers::text::fold_phrase;
    let q = fold_phrase(typed.chars().take(100).collect::<String>().as_str());
    if q.chars().count() < 2 {
        return Vec::new();
    }
    let (old, new) = geo.gazetteer().unit_names();
    let mut hits: Vec<(u8, Place)> = Vec::new();
    let rank = |name: &str| -> Option<u8> {
        let folded = fold_phrase(name);
        if folded.starts_with(&q) || folded.split(' ').any(|w| w.starts_with(&q)) {
            Some(0)
        } else if folded.contains(&q) {
            Some(1)
        } else {
            None
        }
    };
    for name in &new {
        if let Some(r) = rank(name) {
            hits.push((
                r,
                Place {
                    label: name.clone(),
                    note: msg::NEW_UNIT.to_string(),
                },
            ));
        }
    }
    for (name, district) in &old {
        let label = format!("{name}, {district}");
        if let Some(r) = rank(&label) {
            let now = geo
                .locate(&label)
                .and_then(|m| m.new_commune)
                .map(|n| msg::now_named(&n))
                .unwrap_or_else(|| msg::OLD_UNIT.to_string());
            hits.push((r, Place { label, note: now }));
        }
    }
    hits.sort_by_key(|(r, _)| *r);
    hits.into_iter().take(MAX_PLACES).map(|(_, p)| p).collect()
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// An email address or a phone number.
    pub contact: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeEntry {
    /// The `challenge` of `POST /v1/portal/otp`'s answer.
    pub challenge: String,
    /// The 6 digits the citizen received.
    pub code: String,
}

fn otp_refusal(e: OtpError) -> Response {
    match e {
        OtpError::InvalidContact => refusal(
            StatusCode::BAD_REQUEST,
            "invalid_contact",
            &e.to_string(),
            msg::INVALID_CONTACT,
        ),
        OtpError::NoSender(kind) => refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_code_sender",
            &e.to_string(),
            match kind {
                ContactKind::Phone => msg::NO_PHONE_CODES,
                ContactKind::Email => msg::NO_EMAIL_CODES,
            },
        ),
        OtpError::TooMany { retry_after_secs } => {
            let mut res = refusal(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                &e.to_string(),
                &msg::too_many_codes(retry_after_secs),
            );
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            res
        }
        OtpError::Send(ref source) => {
            tracing::warn!(error = %source, "a one-time code could not be sent");
            refusal(
                StatusCode::BAD_GATEWAY,
                "send_failed",
                &e.to_string(),
                msg::SEND_FAILED,
            )
        }
        OtpError::WrongCode { attempts_left } => {
            let mut res = refusal(
                StatusCode::UNPROCESSABLE_ENTITY,
                "wrong_code",
                &e.to_string(),
                &msg::wrong_code(attempts_left),
            );
            res.headers_mut().insert(
                "x-attempts-left",
                HeaderValue::from(u64::from(attempts_left)),
            );
            res
        }
        OtpError::Expired => refusal(
            StatusCode::GONE,
            "code_expired",
            &e.to_string(),
            msg::CODE_EXPIRED,
        ),
        OtpError::Store(f) => ApiError::from(f).into_response(),
    }
}

/// `POST /v1/portal/otp` `{"contact": "…"}`: send a code. 202 with the challenge.
#[utoipa::path(
    post, path = "/v1/portal/otp", tag = "portal",
    request_body = CodeRequest,
    responses(
        (status = 202, description = "A code was sent (email over SMTP; phone through an SMS provider when one is configured)", body = crate::otp::Challenge),
        (status = 400, description = "`invalid_contact`: neither an email address nor a phone number (or a malformed body)", body = ErrorBody),
        (status = 415, description = "Not `application/json`", body = ErrorBody),
        (status = 429, description = "`too_many_requests`: too many codes for this contact or from this address (`portal.otp_per_contact_per_hour`, `otp_per_source_per_hour`); see Retry-After", body = ErrorBody),
        (status = 502, description = "`send_failed`: the mail server or SMS provider refused or is down", body = ErrorBody),
        (status = 503, description = "`no_code_sender`: codes cannot be sent to this kind of contact (no SMTP, no SMS provider); or storage unavailable, or shutting down", body = ErrorBody),
    )
)]
pub async fn request_code(
    SourceIp(source): SourceIp,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CodeRequest>,
) -> Response {
    if state.is_shutting_down() {
        return ApiError::ShuttingDown.into_response();
    }
    match state.otp.request(&body.contact, &source).await {
        Ok(challenge) => (StatusCode::ACCEPTED, Json(challenge)).into_response(),
        Err(e) => otp_refusal(e),
    }
}

/// `POST /v1/portal/otp/verify` `{"challenge", "code"}`: 200 with the verification token.
#[utoipa::path(
    post, path = "/v1/portal/otp/verify", tag = "portal",
    request_body = CodeEntry,
    responses(
        (status = 200, description = "The contact is confirmed: send `verification` as the `X-Portal-Verification` header of POST /v1/portal/reports", body = crate::otp::Verification),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 410, description = "`code_expired`: the code expired, was used, or was entered wrong too often", body = ErrorBody),
        (status = 415, description = "Not `application/json`", body = ErrorBody),
        (status = 422, description = "`wrong_code`: the attempts left in `X-Attempts-Left`", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
    )
)]
pub async fn verify_code(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CodeEntry>,
) -> Response {
    match state.otp.verify(&body.challenge, &body.code).await {
        Ok(v) => (StatusCode::OK, Json(v)).into_response(),
        Err(e) => otp_refusal(e),
    }
}

/// `POST /v1/portal/reports`: the body of `POST /v1/reports` without an API key, counted per
/// source address and per sender; `Idempotency-Key` as there.
#[utoipa::path(
    post, path = "/v1/portal/reports", tag = "portal",
    request_body(content_type = "multipart/form-data", description = "The body of POST /v1/reports (part `report`, JSON, see AppSubmission; up to 10 parts `media`); the channel is always `portal`."),
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Repeating a request with the same key returns the first answer and never creates a second report."),
        ("X-Portal-Verification" = Option<String>, Header, description = "The token of POST /v1/portal/otp/verify for the report's email or phone: the reporter becomes `verified_by: otp`."),
    ),
    responses(
        (status = 201, description = "Accepted or needs review; queued for the IOC; the tracking code to keep", body = super::submit::SubmitResponse),
        (status = 422, description = "Rejected: every reason, in Vietnamese, with how to fix it", body = super::submit::SubmitResponse),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 409, description = "`verification_stale`: the verification expired or was issued for another contact", body = ErrorBody),
        (status = 413, description = "A file or the request is too large, or too many files", body = ErrorBody),
        (status = 429, description = "Too many submissions from this address or sender (`rate_limits.portal`); see Retry-After", body = ErrorBody),
        (status = 503, description = "Storage unavailable or shutting down; nothing stored", body = ErrorBody),
    )
)]
pub async fn submit_report(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    headers: HeaderMap,
    multipart: Multipart,
) -> Result<Response, ApiError> {
    if state.is_shutting_down() {
        return Err(ApiError::ShuttingDown);
    }
    let idempotency = submit::idempotency_key(&headers)?;
    let dedup_key = match &idempotency {
        Some(key) => format!("portal:{key}"),
        None => format!("portal:{}", state.pipeline.new_id()),
    };
    let repeatable = idempotency.as_ref().map(|_| dedup_key.as_str());
    let source = Subjects {
        senders: Vec::new(),
        source: client_ip.map(|ip| ip.to_string()),
        client: None,
    };
    if let Admission::Limited(limited) = state
        .pipeline
        .admit_submission(Channel::Portal, repeatable, &source)
        .await?
    {
        return Err(limited.into());
    }
    let parsed = submit::parse(&state, multipart).await?;
    let mut report = build_report(&state, &parsed, idempotency.as_deref());
    let token = headers
        .get(VERIFICATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let refused = if let Some(token) = token {
        match state.otp.confirms(token, &report).await {
            Ok(true) => {
                report.reporter.verified_by = VerifiedBy::Otp;
                None
            }
            Ok(false) => Some(refusal(
                StatusCode::CONFLICT,
                "verification_stale",
                "the verification expired or was issued for another contact",
                msg::VERIFICATION_STALE,
            )),
            Err(e) => Some(ApiError::from(e).into_response()),
        }
    } else {
        None
    };
    let refused = match refused {
        Some(r) => Some(r),
        None => {
            let senders = Subjects {
                senders: Identity::of_report(&report),
                source: None,
                client: None,
            };
            if senders.senders.is_empty() {
                None
            } else {
                match state
                    .pipeline
                    .admit_submission(Channel::Portal, repeatable, &senders)
                    .await
                {
                    Ok(Admission::Admitted) => None,
                    Ok(Admission::Limited(l)) => Some(ApiError::from(l).into_response()),
                    Err(e) => Some(ApiError::from(e).into_response()),
                }
            }
        }
    };
    if let Some(res) = refused {
        for m in parsed.media {
            state.pipeline.discard(m.staged).await;
        }
        return Ok(res);
    }
    submit::ingest_and_answer(&state, &dedup_key, parsed, report).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_find_old_and_new_names_without_accents() {
        let geo = normalizers::geo::Geo::embedded();
        let places = suggest(geo, "ben luc");
        assert!(!places.is_empty());
        assert!(places.len() <= MAX_PLACES);
        assert!(
            places
                .iter()
                .all(|p| normalizers::text::fold_phrase(&p.label).contains("ben luc")),
            "{places:?}"
        );
        assert!(suggest(geo, "b").is_empty());
    }
}
