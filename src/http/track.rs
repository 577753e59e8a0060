//! The citizen's tracking view (R-MSG-TRACK, Đ12.2): `GET /v1/track/{code}` (JSON) and
//! `GET /track/{code}` (a plain HTML page, Vietnamese), public. They show the processing trail
//! and the messages meant for the citizen (`normalizers::trail::public_track`, the IOC's
//! messages of `normalizers::conversation` but internal notes): never personal
//! data, never internal notes. Lookups are counted per source address in the shared store and
//! refused past `track.lookups_per_minute` (429 with Retry-After), which with codes of 40 random
//! bits makes guessing hopeless.

use super::body::JsonBody;
use std::fmt::Write as _;
use std::time::Duration;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use normalizers::messages::conversation as conv;
use normalizers::messages::trail as msg;
use normalizers::report::Report;
use normalizers::trail::{public_track, PublicTrack};
use serde::Deserialize;

use super::{ApiError, AppState};

/// The client's address (the connection's, or `X-Forwarded-For` from a trusted proxy: see
/// [`channels::ratelimit::ClientIp`]); `local` when the server runs without connection info, as
/// in-process tests do. Never logged.
pub struct SourceIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for SourceIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let channels::ratelimit::ClientIp(ip) =
            channels::ratelimit::ClientIp::from_request_parts(parts, state).await?;
        Ok(SourceIp(
            ip.map(|ip| ip.to_string())
                .unwrap_or_else(|| "local".into()),
        ))
    }
}

/// A tracking code as typed: trimmed, upper case; `None` when it cannot be one.
fn normalise_code(code: &str) -> Option<String> {
    let code = code.trim().to_ascii_uppercase();
    (!code.is_empty()
        && code.len() <= 32
        && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    .then_some(code)
}

/// Count the lookup, then find the report.
async fn find(state: &AppState, source: &str, code: &str) -> Result<Option<Report>, ApiError> {
    let per_minute = state.config.track.lookups_per_minute.max(1);
    if let Some(wait) = state
        .pipeline
        .track_lookup_allowed(source, per_minute)
        .await?
    {
        let secs = wait.as_secs().max(1);
        return Err(ApiError::TooManyRequests {
            retry_after_secs: secs,
            message_vi: msg::too_many_lookups(secs),
        });
    }
    let Some(code) = normalise_code(code) else {
        return Ok(None);
    };
    Ok(state.pipeline.track(&code).await?)
}

/// The trail of a report by its tracking code.
#[utoipa::path(
    get, path = "/v1/track/{tracking_code}", tag = "tracking",
    params(("tracking_code" = String, Path, description = "The code the citizen was given, e.g. LA-7K3M-Q9TX")),
    responses(
        (status = 200, description = "The trail and the messages meant for the citizen (no personal data, no internal notes)", body = Object),
        (status = 404, description = "No report with this code", body = super::error::ErrorBody),
        (status = 429, description = "Too many lookups from this address; see Retry-After", body = super::error::ErrorBody),
    )
)]
pub async fn track_json(
    SourceIp(source): SourceIp,
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    match find(&state, &source, &code).await? {
        Some(report) => {
            let mut res = Json(public_track(&report)).into_response();
            private_headers(&mut res);
            Ok(res)
        }
        None => Err(ApiError::NotFound(
            "no report with this tracking code".into(),
        )),
    }
}

/// The public copy (EXIF and GPS stripped) of a photo the IOC sent with a message meant for
/// the citizen, by the copy's content digest (as the tracking view lists it). Not counted as
/// a lookup: the digest cannot be guessed, and a wrong code or digest are the same 404.
/// Internal notes' photos and originals are never served.
#[utoipa::path(
    get, path = "/v1/track/{tracking_code}/photos/{digest}", tag = "tracking",
    params(
        ("tracking_code" = String, Path, description = "The report's tracking code"),
        ("digest" = String, Path, description = "The photo as the tracking view names it (64 hex digits)"),
    ),
    responses(
        (status = 200, description = "The photo without its metadata"),
        (status = 404, description = "No such report or photo", body = super::error::ErrorBody),
    )
)]
pub async fn photo(
    State(state): State<AppState>,
    Path((code, digest)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::NotFound("no such photo".into());
    let code = normalise_code(&code).ok_or_else(not_found)?;
    if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(not_found());
    }
    let report = state.pipeline.track(&code).await?.ok_or_else(not_found)?;
    let photo = normalizers::conversation::public_photo(&report, &digest).ok_or_else(not_found)?;
    let key = photo.public_key.as_deref().ok_or_else(not_found)?;
    super::published::public_file(&state, key, &photo.media_type, "private, max-age=300").await
}

/// The citizen's answer through the app or the portal.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    /// The phone number or email address given with the report: the proof that the caller is
    /// the reporter.
    pub contact: String,
    /// The answer (up to 4000 characters).
    pub text: String,
}

/// The citizen's rating of the result.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RatingBody {
    /// The phone number or email address given with the report.
    pub contact: String,
    /// `very_satisfied` (rất hài lòng), `satisfied` (hài lòng) or `dissatisfied` (không hài
    /// lòng, with a `reason`).
    #[schema(value_type = String)]
    pub rating: normalizers::conversation::RatingValue,
    pub reason: Option<String>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AnswerResponse {
    pub tracking_code: String,
    pub answer_id: String,
    /// `citizen_message` or `rating`.
    pub kind: &'static str,
    /// What the citizen is told (Vietnamese).
    pub message_vi: String,
}

/// The report behind `code` when `contact` is the reporter's; 404 otherwise (whether the
/// code exists is not revealed to a wrong contact). Counted like a lookup.
async fn reporters_report(
    state: &AppState,
    source: &str,
    code: &str,
    contact: &str,
) -> Result<Report, CitizenError> {
    match find(state, source, code).await? {
        Some(r) if crate::conversation::contact_is_reporter(&r, contact) => Ok(r),
        _ => Err(CitizenError::NotReporter),
    }
}

/// Why a citizen's answer or rating was not recorded, typed so that the tracking page's forms
/// can show each cause beside its field; the JSON endpoints answer it as an [`ApiError`].
#[derive(Debug, thiserror::Error)]
enum CitizenError {
    /// No report with this code, or the contact is not the reporter's (not told apart).
    #[error("no report with this tracking code and contact")]
    NotReporter,
    #[error(transparent)]
    Answer(#[from] normalizers::conversation::AnswerError),
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<CitizenError> for ApiError {
    fn from(e: CitizenError) -> Self {
        match e {
            CitizenError::NotReporter => ApiError::NotFound(e.to_string()),
            CitizenError::Answer(a) => crate::pipeline::StatusError::Answer(a).into(),
            CitizenError::Api(e) => e,
        }
    }
}

/// The client's `Idempotency-Key`, when usable.
fn idempotency(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers.get("idempotency-key").and_then(|v| v.to_str().ok())
}

/// The de-duplication key of an answer: the client's key (a header, or the tracking page's
/// hidden form field), else a fresh id.
fn dedup_key(client_key: Option<&str>, code: &str, state: &AppState) -> String {
    match client_key.filter(|k| !k.is_empty() && k.len() <= 128) {
        Some(k) => format!("track:{code}:{k}"),
        None => format!("track:{code}:{}", state.pipeline.new_id()),
    }
}

/// The reporter's answer: found by code and contact, then attached (the JSON endpoint and the
/// tracking page's form).
async fn answer_as_reporter(
    state: &AppState,
    source: &str,
    code: &str,
    client_key: Option<&str>,
    contact: &str,
    text: String,
    media: Vec<channels::MediaInput>,
) -> Result<AnswerResponse, CitizenError> {
    let report = reporters_report(state, source, code, contact).await?;
    attach(
        state,
        &report,
        dedup_key(client_key, &report.tracking_code, state),
        text,
        None,
        media,
    )
    .await
}

/// The reporter's rating of the last result (the JSON endpoint and the tracking page's form).
async fn rate_as_reporter(
    state: &AppState,
    source: &str,
    code: &str,
    client_key: Option<&str>,
    contact: &str,
    value: normalizers::conversation::RatingValue,
    reason: Option<String>,
) -> Result<AnswerResponse, CitizenError> {
    use normalizers::conversation::{rating_open, AnswerError, RatingValue};
    let report = reporters_report(state, source, code, contact).await?;
    if rating_open(&report).is_none() {
        return Err(match normalizers::conversation::last_result(&report) {
            Some(_) => AnswerError::AlreadyRated,
            None => AnswerError::NothingToRate,
        }
        .into());
    }
    let reason = reason.filter(|r| !r.trim().is_empty());
    if value == RatingValue::Dissatisfied && reason.is_none() {
        return Err(AnswerError::ReasonRequired.into());
    }
    let answered = attach(
        state,
        &report,
        dedup_key(client_key, &report.tracking_code, state),
        reason.clone().unwrap_or_default(),
        Some((value, reason)),
        Vec::new(),
    )
    .await?;
    if answered.kind != "rating" {
        // The result was rated in the meantime.
        return Err(AnswerError::AlreadyRated.into());
    }
    Ok(answered)
}

/// The reporter answers the IOC (or adds detail) with the tracking code and their contact
/// (R-MSG-IOC): attached to the report and queued for the IOC as a `citizen_message`.
#[utoipa::path(
    post, path = "/v1/track/{tracking_code}/messages", tag = "tracking",
    params(("tracking_code" = String, Path, description = "The code the citizen was given")),
    request_body = AnswerBody,
    responses(
        (status = 201, description = "Attached to the report and queued for the IOC", body = AnswerResponse),
        (status = 400, description = "Empty or too long text", body = super::error::ErrorBody),
        (status = 404, description = "No report with this code and contact", body = super::error::ErrorBody),
        (status = 429, description = "Too many requests from this address; see Retry-After", body = super::error::ErrorBody),
    )
)]
pub async fn answer(
    SourceIp(source): SourceIp,
    State(state): State<AppState>,
    Path(code): Path<String>,
    headers: axum::http::HeaderMap,
    JsonBody(body): JsonBody<AnswerBody>,
) -> Result<(StatusCode, Json<AnswerResponse>), ApiError> {
    let answered = answer_as_reporter(
        &state,
        &source,
        &code,
        idempotency(&headers),
        &body.contact,
        body.text,
        Vec::new(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(answered)))
}

/// The reporter rates the result (Đ8.1, R-MSG-RATING): once per result, `dissatisfied` with a
/// reason; queued for the IOC as a `rating`.
#[utoipa::path(
    post, path = "/v1/track/{tracking_code}/rating", tag = "tracking",
    params(("tracking_code" = String, Path, description = "The code the citizen was given")),
    request_body = RatingBody,
    responses(
        (status = 201, description = "Recorded and queued for the IOC", body = AnswerResponse),
        (status = 400, description = "`dissatisfied` without a reason", body = super::error::ErrorBody),
        (status = 404, description = "No report with this code and contact", body = super::error::ErrorBody),
        (status = 409, description = "No result to rate yet, or the result is already rated", body = super::error::ErrorBody),
    )
)]
pub async fn rating(
    SourceIp(source): SourceIp,
    State(state): State<AppState>,
    Path(code): Path<String>,
    headers: axum::http::HeaderMap,
    JsonBody(body): JsonBody<RatingBody>,
) -> Result<(StatusCode, Json<AnswerResponse>), ApiError> {
    let answered = rate_as_reporter(
        &state,
        &source,
        &code,
        idempotency(&headers),
        &body.contact,
        body.rating,
        body.reason,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(answered)))
}

async fn attach(
    state: &AppState,
    report: &Report,
    dedup_key: String,
    text: String,
    rating: Option<(normalizers::conversation::RatingValue, Option<String>)>,
    media: Vec<channels::MediaInput>,
) -> Result<AnswerResponse, CitizenError> {
    use channels::templates::conversation as tpl;
    let is_rating = rating.is_some();
    let text = if is_rating && text.trim().is_empty() {
        // A rating without words: its value is the content.
        rating
            .as_ref()
            .map(|(v, _)| v.as_str().to_string())
            .unwrap_or_default()
    } else {
        text
    };
    let answered = state
        .pipeline
        .attach_answer(
            &report.id,
            crate::conversation::IncomingAnswer {
                channel: report.channel,
                channel_ref: None,
                dedup_key,
                text,
                media,
                rating,
            },
        )
        .await
        .map_err(|e| match e {
            crate::conversation::AttachError::Status(crate::pipeline::StatusError::Answer(a)) => {
                CitizenError::Answer(a)
            }
            crate::conversation::AttachError::Status(s) => ApiError::from(s).into(),
            crate::conversation::AttachError::Ingest(i) => ApiError::from(i).into(),
        })?;
    let (kind, message_vi) = match answered.kind {
        channels::AnsweredKind::Rating => ("rating", tpl::rating_received(&answered.tracking_code)),
        channels::AnsweredKind::RatingNeedsReason => (
            "citizen_message",
            tpl::rating_needs_reason(&answered.tracking_code),
        ),
        channels::AnsweredKind::Answer => (
            "citizen_message",
            tpl::answer_received(&answered.tracking_code),
        ),
        // `attach_answer` refuses offensive words with an error; only channels get this kind.
        channels::AnsweredKind::Refused => {
            return Err(CitizenError::Answer(
                normalizers::conversation::AnswerError::Offensive,
            ))
        }
    };
    Ok(AnswerResponse {
        tracking_code: answered.tracking_code,
        answer_id: answered.answer_id,
        kind,
        message_vi,
    })
}

#[derive(Debug, Deserialize)]
pub struct CodeQuery {
    pub code: Option<String>,
}

/// The tracking page with its lookup form (`/track?code=…`).
pub async fn track_form(
    source: SourceIp,
    state: State<AppState>,
    Query(q): Query<CodeQuery>,
) -> Response {
    match q.code {
        Some(code) if !code.trim().is_empty() => track_html(source, state, Path(code)).await,
        _ => html(StatusCode::OK, &page(None, None)),
    }
}

/// The tracking page of a code (HTML, Vietnamese).
pub async fn track_html(
    SourceIp(source): SourceIp,
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Response {
    match find(&state, &source, &code).await {
        Ok(Some(report)) => page_with_forms(&state, &report, StatusCode::OK, &FormEcho::default()),
        Ok(None) => html(StatusCode::NOT_FOUND, &page(None, Some(msg::NOT_FOUND))),
        Err(ApiError::TooManyRequests {
            retry_after_secs,
            message_vi,
        }) => {
            let mut res = html(
                StatusCode::TOO_MANY_REQUESTS,
                &page(None, Some(&message_vi)),
            );
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            res
        }
        // Storage down, a bug: the JSON error answer (logged with its id).
        Err(e) => e.into_response(),
    }
}

fn private_headers(res: &mut Response) {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
}

/// No script, no frame, no external resource, no inline style: the portal's stylesheet and the
/// messages' photos from this origin and the form back to this page.
pub const CSP: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn html(status: StatusCode, body: &str) -> Response {
    let mut res = (status, body.to_string()).into_response();
    private_headers(&mut res);
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

/// Text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A time as the citizen reads it: local (UTC+7), `dd/mm/yyyy HH:MM`.
fn local_time(t: chrono::DateTime<chrono::Utc>) -> String {
    normalizers::calendar::to_local(t)
        .format("%d/%m/%Y %H:%M")
        .to_string()
}

fn page(track: Option<&PublicTrack>, notice: Option<&str>) -> String {
    let mut b = String::new();
    let _ = write!(
        b,
        "<!DOCTYPE html>\n<html lang=\"vi\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"referrer\" content=\"no-referrer\">\n<title>{}</title>\n<link rel=\"stylesheet\" href=\"/assets/portal.css\">\n</head>\n<body>\n<h1>{}</h1>\n",
        escape(msg::PAGE_TITLE),
        escape(msg::PAGE_TITLE)
    );
    let _ = writeln!(
        b,
        "<form action=\"/track\" method=\"get\"><label>{} <input name=\"code\" maxlength=\"32\" required></label> <button type=\"submit\">{}</button></form>",
        escape(msg::CODE),
        escape(msg::PAGE_TITLE)
    );
    if let Some(n) = notice {
        let _ = writeln!(b, "<p role=\"alert\">{}</p>", escape(n));
    }
    if let Some(t) = track {
        let _ = writeln!(b, "<dl>");
        let _ = writeln!(
            b,
            "<dt>{}</dt><dd>{}</dd>",
            escape(msg::CODE),
            escape(&t.tracking_code)
        );
        let _ = writeln!(
            b,
            "<dt>{}</dt><dd>{}</dd>",
            escape(msg::CURRENT_STATUS),
            escape(t.label)
        );
        if let Some(c) = t.category {
            let _ = writeln!(
                b,
                "<dt>{}</dt><dd>{}</dd>",
                escape(msg::CATEGORY),
                escape(c)
            );
        }
        if let Some(due) = t.due_by {
            let _ = writeln!(
                b,
                "<dt>{}</dt><dd>{}</dd>",
                escape(msg::DUE_BY),
                escape(&local_time(due))
            );
        }
        let _ = writeln!(b, "</dl>");
        if let Some(r) = t.rejected {
            let _ = writeln!(b, "<p>{}</p>", escape(r));
        }
        let _ = writeln!(
            b,
            "<table>\n<thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>\n<tbody>",
            escape(msg::TIME),
            escape(msg::STEP),
            escape(msg::AGENCY),
            escape(msg::MESSAGE)
        );
        for s in &t.steps {
            let _ = writeln!(
                b,
                "<tr><td data-label=\"{}\">{}</td><td data-label=\"{}\">{}</td><td data-label=\"{}\">{}</td><td data-label=\"{}\">{}</td></tr>",
                escape(msg::TIME),
                escape(&local_time(s.at)),
                escape(msg::STEP),
                escape(s.label),
                escape(msg::AGENCY),
                escape(s.agency.as_deref().unwrap_or("")),
                escape(msg::MESSAGE),
                escape(s.message.as_deref().unwrap_or(""))
            );
        }
        let _ = writeln!(b, "</tbody>\n</table>");
        if !t.messages.is_empty() {
            let _ = writeln!(
                b,
                "<h2>{}</h2>\n<table>\n<thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead>\n<tbody>",
                escape(conv::MESSAGES),
                escape(msg::TIME),
                escape(msg::STEP),
                escape(msg::MESSAGE)
            );
            for m in &t.messages {
                let _ = writeln!(
                    b,
                    "<tr><td>{}</td><td>{}</td><td>{}{}</td></tr>",
                    escape(&local_time(m.at)),
                    escape(m.label),
                    escape(&m.text).replace('\n', "<br>"),
                    message_photos(&m.photos)
                );
            }
            let _ = writeln!(b, "</tbody>\n</table>");
        }
    }
    b.push_str("</body>\n</html>\n");
    b
}

/// The photos of a message on the tracking page: each a link to its stripped copy, shown.
fn message_photos(paths: &[String]) -> String {
    if paths.is_empty() {
        return String::new();
    }
    let mut b = String::from("<ul class=\"photos\">");
    for (i, path) in paths.iter().enumerate() {
        let alt = crate::messages::photo_alt(i + 1);
        let _ = write!(
            b,
            "<li><a href=\"{p}\"><img src=\"{p}\" alt=\"{a}\" width=\"160\" loading=\"lazy\"></a></li>",
            p = escape(path),
            a = escape(&alt)
        );
    }
    b.push_str("</ul>");
    b
}

// ---- The tracking page's answer and rating forms (server-rendered, no script) ----
//
// While the IOC's last message asks for detail, the page carries a form to answer it (text and
// an optional photo, `multipart/form-data` to `POST /track/{code}/answer`); after a result and
// until it is rated, a rating form (`POST /track/{code}/rating`). Both ask for the contact given
// with the report, the proof the JSON endpoints require, and go through the same code as them
// (`answer_as_reporter`, `rate_as_reporter`). The answer is the page again: each error beside
// its field, or the success notice. A hidden random key makes a re-sent form (reload, double
// click) attach nothing twice. Nothing personal is put in a URL; the contact typed is never
// echoed back into the page.

/// Which form a POST came from, what was typed, and what to say about it.
#[derive(Debug, Default)]
struct FormEcho {
    /// `answer` or `rating`: the form whose errors these are.
    form: &'static str,
    text: String,
    rating: Option<normalizers::conversation::RatingValue>,
    reason: String,
    /// (field, message) pairs: `contact`, `text`, `photo`, `rating`, `reason`, or `form`.
    errors: Vec<(&'static str, String)>,
    /// The success notice (the sentence the API answers with).
    done: Option<String>,
    /// The status of the page when refused (422 when only the form's own checks refused it).
    status: Option<StatusCode>,
    retry_after_secs: Option<u64>,
}

impl FormEcho {
    fn refuse(&mut self, r: Refusal) {
        if self.status.is_none() {
            self.status = Some(r.status);
            self.retry_after_secs = r.retry_after_secs;
        }
        self.errors.push((r.field, r.message));
    }

    fn error(&self, form: &str, field: &str) -> Option<&str> {
        (self.form == form)
            .then(|| {
                self.errors
                    .iter()
                    .find(|(f, _)| *f == field)
                    .map(|(_, m)| m.as_str())
            })
            .flatten()
    }
}

/// At most this many bytes of a form's text field are read.
const FORM_TEXT_MAX: usize = 64 * 1024;

/// A fresh key for the hidden field of a form.
fn form_key(state: &AppState) -> String {
    state.pipeline.new_id()
}

/// The page of `report` with its forms, answered with `status`.
fn page_with_forms(
    state: &AppState,
    report: &Report,
    status: StatusCode,
    echo: &FormEcho,
) -> Response {
    let body = page(Some(&public_track(report)), None);
    let forms = forms_html(state, report, echo);
    let body = match body.rfind("</body>") {
        Some(at) => format!("{}{forms}{}", &body[..at], &body[at..]),
        None => body + &forms,
    };
    html(status, &body)
}

/// The forms the report calls for now (none when nothing is asked of the citizen).
fn forms_html(state: &AppState, report: &Report, echo: &FormEcho) -> String {
    use crate::messages::track_form as t;
    use normalizers::conversation::{detail_requested, rating_open, RatingValue};
    let code = escape(&report.tracking_code);
    let mut b = String::new();
    if let Some(done) = &echo.done {
        let _ = writeln!(
            b,
            "<p class=\"form-done\" id=\"form-done\" role=\"status\">{}</p>",
            escape(done)
        );
    }
    // The errors of a form the report no longer calls for (rated meanwhile, no result yet):
    // shown on their own, since the form is not.
    let shown = |form: &str| match form {
        "answer" => detail_requested(report),
        "rating" => rating_open(report).is_some(),
        _ => false,
    };
    if !echo.form.is_empty() && !shown(echo.form) {
        for (_, e) in &echo.errors {
            let _ = writeln!(
                b,
                "<p class=\"form-error\" id=\"{}-form-error\" role=\"alert\">{}</p>",
                echo.form,
                escape(e)
            );
        }
    }
    let form_error = |b: &mut String, form: &str| {
        if let Some(e) = echo.error(form, "form") {
            let _ = writeln!(
                b,
                "<p class=\"error\" id=\"{form}-form-error\" role=\"alert\">{}</p>",
                escape(e)
            );
        }
    };
    // One labelled field with its help and its error (`aria-describedby`, `aria-invalid`).
    let field =
        |b: &mut String, form: &str, name: &str, label: &str, control: &str, help: Option<&str>| {
            let id = format!("{form}-{name}");
            let error = echo.error(form, name);
            let mut described = Vec::new();
            if help.is_some() {
                described.push(format!("{id}-help"));
            }
            if error.is_some() {
                described.push(format!("{id}-error"));
            }
            let attrs = format!(
                "id=\"{id}\" name=\"{name}\"{}{}",
                if described.is_empty() {
                    String::new()
                } else {
                    format!(" aria-describedby=\"{}\"", described.join(" "))
                },
                if error.is_some() {
                    " aria-invalid=\"true\""
                } else {
                    ""
                }
            );
            let _ = writeln!(b, "<div class=\"field\">");
            let _ = writeln!(b, "<label for=\"{id}\">{}</label>", escape(label));
            let _ = writeln!(b, "{}", control.replace("{ATTRS}", &attrs));
            if let Some(h) = help {
                let _ = writeln!(b, "<p class=\"help\" id=\"{id}-help\">{}</p>", escape(h));
            }
            if let Some(e) = error {
                let _ = writeln!(b, "<p class=\"error\" id=\"{id}-error\">{}</p>", escape(e));
            }
            let _ = writeln!(b, "</div>");
        };
    let contact_control =
        "<input {ATTRS} type=\"text\" autocomplete=\"off\" inputmode=\"email\" maxlength=\"254\" required>";
    if detail_requested(report) {
        let _ = writeln!(
            b,
            "<section class=\"track-form\" aria-labelledby=\"answer-title\">\n<h2 id=\"answer-title\">{}</h2>\n<p class=\"lead\">{}</p>",
            escape(t::ANSWER_TITLE),
            escape(t::ANSWER_LEAD)
        );
        form_error(&mut b, "answer");
        let _ = writeln!(
            b,
            "<form id=\"answer-form\" method=\"post\" action=\"/track/{code}/answer\" enctype=\"multipart/form-data\">\n<input type=\"hidden\" name=\"key\" value=\"{}\">",
            escape(&form_key(state))
        );
        field(
            &mut b,
            "answer",
            "contact",
            t::CONTACT,
            contact_control,
            Some(t::CONTACT_HELP),
        );
        let text = if echo.form == "answer" && echo.done.is_none() {
            escape(&echo.text)
        } else {
            String::new()
        };
        field(
            &mut b,
            "answer",
            "text",
            t::TEXT,
            &format!(
                "<textarea {{ATTRS}} rows=\"5\" maxlength=\"{}\">{text}</textarea>",
                normalizers::conversation::MAX_ANSWER_CHARS
            ),
            None,
        );
        field(
            &mut b,
            "answer",
            "photo",
            t::PHOTO,
            "<input {ATTRS} type=\"file\" accept=\"image/*\">",
            None,
        );
        let _ = writeln!(
            b,
            "<button type=\"submit\" class=\"primary\" id=\"answer-submit\">{}</button>\n</form>\n</section>",
            escape(t::SEND_ANSWER)
        );
    }
    if rating_open(report).is_some() {
        let _ = writeln!(
            b,
            "<section class=\"track-form\" aria-labelledby=\"rating-title\">\n<h2 id=\"rating-title\">{}</h2>\n<p class=\"lead\">{}</p>",
            escape(t::RATING_TITLE),
            escape(t::RATING_LEAD)
        );
        form_error(&mut b, "rating");
        let _ = writeln!(
            b,
            "<form id=\"rating-form\" method=\"post\" action=\"/track/{code}/rating\">\n<input type=\"hidden\" name=\"key\" value=\"{}\">",
            escape(&form_key(state))
        );
        field(
            &mut b,
            "rating",
            "contact",
            t::CONTACT,
            contact_control,
            Some(t::CONTACT_HELP),
        );
        let error = echo.error("rating", "rating");
        let _ = writeln!(
            b,
            "<fieldset class=\"choices\"{}>\n<legend>{}</legend>",
            if error.is_some() {
                " aria-describedby=\"rating-rating-error\""
            } else {
                ""
            },
            escape(t::RATING)
        );
        for (value, label) in [
            (RatingValue::VerySatisfied, t::VERY_SATISFIED),
            (RatingValue::Satisfied, t::SATISFIED),
            (RatingValue::Dissatisfied, t::DISSATISFIED),
        ] {
            let checked = echo.form == "rating" && echo.rating == Some(value);
            let _ = writeln!(
                b,
                "<div class=\"choice\"><input type=\"radio\" name=\"rating\" id=\"rating-{v}\" value=\"{v}\" required{}><label for=\"rating-{v}\">{}</label></div>",
                if checked { " checked" } else { "" },
                escape(label),
                v = value.as_str()
            );
        }
        if let Some(e) = error {
            let _ = writeln!(
                b,
                "<p class=\"error\" id=\"rating-rating-error\">{}</p>",
                escape(e)
            );
        }
        let _ = writeln!(b, "</fieldset>");
        let reason = if echo.form == "rating" {
            escape(&echo.reason)
        } else {
            String::new()
        };
        field(
            &mut b,
            "rating",
            "reason",
            t::REASON,
            &format!(
                "<textarea {{ATTRS}} rows=\"4\" maxlength=\"{}\">{reason}</textarea>",
                normalizers::conversation::MAX_ANSWER_CHARS
            ),
            None,
        );
        let _ = writeln!(
            b,
            "<button type=\"submit\" class=\"primary\" id=\"rating-submit\">{}</button>\n</form>\n</section>",
            escape(t::SEND_RATING)
        );
    }
    b
}

/// A refusal of an answer or a rating: the field it concerns (`form` for the whole form), the
/// sentence shown there, and the status the page is answered with.
struct Refusal {
    field: &'static str,
    message: String,
    status: StatusCode,
    retry_after_secs: Option<u64>,
}

impl Refusal {
    fn new(field: &'static str, message: impl Into<String>, status: StatusCode) -> Refusal {
        Refusal {
            field,
            message: message.into(),
            status,
            retry_after_secs: None,
        }
    }

    /// What the citizen can fix in what they typed (422).
    fn input(field: &'static str, message: impl Into<String>) -> Refusal {
        Refusal::new(field, message, StatusCode::UNPROCESSABLE_ENTITY)
    }
}

/// A refusal of the answer or the rating as shown on the page; `Err` for the failures that
/// are not the citizen's (storage, a bug): answered as the API does.
fn refusal(e: CitizenError, limits: &crate::config::Limits) -> Result<Refusal, ApiError> {
    use crate::messages::track_form as t;
    use normalizers::conversation::AnswerError as A;
    Ok(match e {
        CitizenError::NotReporter => {
            Refusal::new("contact", t::CONTACT_WRONG, StatusCode::NOT_FOUND)
        }
        CitizenError::Answer(a) => match a {
            A::Empty => Refusal::input("text", t::ANSWER_EMPTY),
            A::TooLong { max } => Refusal::input("text", t::answer_too_long(max)),
            A::TooMany { .. } => Refusal::new("form", t::TOO_MANY_ANSWERS, StatusCode::CONFLICT),
            A::NothingToRate => Refusal::new("form", t::NOTHING_TO_RATE, StatusCode::CONFLICT),
            A::AlreadyRated => Refusal::new("form", t::ALREADY_RATED, StatusCode::CONFLICT),
            A::ReasonRequired => Refusal::input("reason", t::REASON_MISSING),
            a @ A::Offensive => Refusal::input("text", a.message_vi().unwrap_or_default()),
        },
        CitizenError::Api(ApiError::TooManyRequests {
            retry_after_secs,
            message_vi,
        }) => Refusal {
            retry_after_secs: Some(retry_after_secs),
            ..Refusal::new("form", message_vi, StatusCode::TOO_MANY_REQUESTS)
        },
        CitizenError::Api(ApiError::PayloadTooLarge { .. }) => Refusal::new(
            "photo",
            crate::messages::too_large(limits),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        CitizenError::Api(ApiError::Refused { message_vi, .. }) => {
            Refusal::input("text", message_vi)
        }
        CitizenError::Api(ApiError::BadRequest(_) | ApiError::UnsupportedMediaType(_)) => {
            Refusal::new("form", t::BAD_FORM, StatusCode::BAD_REQUEST)
        }
        CitizenError::Api(e) => return Err(e),
    })
}

/// The page after a form was sent: the report as it is now (read without counting a lookup,
/// the POST was counted), the echo of the form.
async fn after_form(state: &AppState, code: &str, echo: FormEcho) -> Response {
    let status = if echo.done.is_some() {
        StatusCode::OK
    } else {
        echo.status.unwrap_or(StatusCode::UNPROCESSABLE_ENTITY)
    };
    let report = match normalise_code(code) {
        Some(code) => state.pipeline.track(&code).await,
        None => Ok(None),
    };
    match report {
        Ok(Some(report)) => {
            let mut res = page_with_forms(state, &report, status, &echo);
            if let Some(secs) = echo.retry_after_secs {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            res
        }
        Ok(None) => html(StatusCode::NOT_FOUND, &page(None, Some(msg::NOT_FOUND))),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// Read a text part of the answer form, bounded.
async fn form_text(mut field: axum::extract::multipart::Field<'_>) -> Result<String, ()> {
    let mut buf = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|_| ())? {
        if buf.len() + chunk.len() > FORM_TEXT_MAX {
            return Err(());
        }
        buf.extend_from_slice(&chunk);
    }
    String::from_utf8(buf).map_err(|_| ())
}

/// Whether a staged file is a photo (by its first bytes, not by what the browser claimed).
async fn is_photo(path: &std::path::Path) -> bool {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::with_capacity(512);
    match tokio::fs::File::open(path).await {
        Ok(f) => {
            if f.take(512).read_to_end(&mut head).await.is_err() {
                return false;
            }
        }
        Err(_) => return false,
    }
    normalizers::media::sniff(&head).kind == Some(normalizers::report::MediaKind::Photo)
}

/// `POST /track/{code}/answer` (`multipart/form-data`: `key`, `contact`, `text`, `photo`): the
/// tracking page's answer form.
pub async fn answer_form(
    SourceIp(source): SourceIp,
    State(state): State<AppState>,
    Path(code): Path<String>,
    mut multipart: axum::extract::Multipart,
) -> Response {
    use crate::messages::track_form as t;
    let mut echo = FormEcho {
        form: "answer",
        ..FormEcho::default()
    };
    let (mut key, mut contact) = (String::new(), String::new());
    let mut photo: Option<crate::pipeline::PreparedMedia> = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                let too_large = e.status() == StatusCode::PAYLOAD_TOO_LARGE;
                if let Some(p) = photo.take() {
                    state.pipeline.discard(p.staged).await;
                }
                echo.refuse(if too_large {
                    Refusal::new(
                        "photo",
                        crate::messages::too_large(&state.config.limits),
                        StatusCode::PAYLOAD_TOO_LARGE,
                    )
                } else {
                    Refusal::new("form", t::BAD_FORM, StatusCode::BAD_REQUEST)
                });
                return after_form(&state, &code, echo).await;
            }
        };
        let name = field.name().unwrap_or_default().to_string();
        let read = match name.as_str() {
            "key" => form_text(field).await.map(|v| key = v),
            "contact" => form_text(field).await.map(|v| contact = v),
            "text" => form_text(field).await.map(|v| echo.text = v),
            "photo" if photo.is_none() => {
                if field.file_name().is_none_or(str::is_empty) {
                    // No file chosen: the browser sends an empty part.
                    form_text(field).await.map(|_| ())
                } else {
                    match super::submit::stream_media(&state, field, 0).await {
                        Ok(p) => {
                            photo = Some(p);
                            Ok(())
                        }
                        Err(e) => {
                            match refusal(CitizenError::Api(e), &state.config.limits) {
                                Ok(r) => echo.refuse(Refusal {
                                    field: "photo",
                                    ..r
                                }),
                                Err(e) => return e.into_response(),
                            }
                            Ok(())
                        }
                    }
                }
            }
            _ => Err(()),
        };
        if read.is_err() {
            if let Some(p) = photo.take() {
                state.pipeline.discard(p.staged).await;
            }
            echo.refuse(Refusal::new("form", t::BAD_FORM, StatusCode::BAD_REQUEST));
            return after_form(&state, &code, echo).await;
        }
    }
    if contact.trim().is_empty() {
        echo.refuse(Refusal::input("contact", t::CONTACT_MISSING));
    }
    if let Some(p) = &photo {
        if !is_photo(p.staged.path()).await {
            echo.refuse(Refusal::input("photo", t::NOT_A_PHOTO));
        }
    }
    if !echo.errors.is_empty() {
        if let Some(p) = photo.take() {
            state.pipeline.discard(p.staged).await;
        }
        return after_form(&state, &code, echo).await;
    }
    // The staged photo is handed over by path; `photo` keeps its guard until the answer is
    // stored, so that a refused answer leaves no file (once stored, the file has moved).
    let media = photo
        .as_ref()
        .map(|p| channels::MediaInput {
            file_name: p.file_name.clone(),
            claimed_type: p.claimed_type.clone(),
            source: channels::MediaSource::File(p.staged.path().to_path_buf()),
            sent_at: Some(state.pipeline.now()),
            vouched_capture: None,
        })
        .into_iter()
        .collect();
    let result = answer_as_reporter(
        &state,
        &source,
        &code,
        Some(&key),
        &contact,
        echo.text.clone(),
        media,
    )
    .await;
    drop(photo);
    match result {
        Ok(answered) => echo.done = Some(answered.message_vi),
        Err(e) => match refusal(e, &state.config.limits) {
            Ok(r) => echo.refuse(r),
            Err(e) => return e.into_response(),
        },
    }
    after_form(&state, &code, echo).await
}

/// The rating form's fields (`application/x-www-form-urlencoded`).
#[derive(Debug, Deserialize)]
pub struct RatingForm {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub contact: String,
    #[serde(default)]
    pub rating: String,
    #[serde(default)]
    pub reason: String,
}

/// `POST /track/{code}/rating` (a form: `key`, `contact`, `rating`, `reason`): the tracking
/// page's rating form.
pub async fn rating_form(
    SourceIp(source): SourceIp,
    State(state): State<AppState>,
    Path(code): Path<String>,
    form: Result<axum::Form<RatingForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    use crate::messages::track_form as t;
    use normalizers::conversation::RatingValue;
    let mut echo = FormEcho {
        form: "rating",
        ..FormEcho::default()
    };
    let Ok(axum::Form(form)) = form else {
        echo.refuse(Refusal::new("form", t::BAD_FORM, StatusCode::BAD_REQUEST));
        return after_form(&state, &code, echo).await;
    };
    echo.reason = form.reason.chars().take(FORM_TEXT_MAX).collect();
    echo.rating = match form.rating.as_str() {
        "very_satisfied" => Some(RatingValue::VerySatisfied),
        "satisfied" => Some(RatingValue::Satisfied),
        "dissatisfied" => Some(RatingValue::Dissatisfied),
        _ => None,
    };
    if form.contact.trim().is_empty() {
        echo.refuse(Refusal::input("contact", t::CONTACT_MISSING));
    }
    match echo.rating {
        None => echo.refuse(Refusal::input("rating", t::RATING_MISSING)),
        Some(RatingValue::Dissatisfied) if echo.reason.trim().is_empty() => {
            echo.refuse(Refusal::input("reason", t::REASON_MISSING))
        }
        Some(_) => {}
    }
    let Some(value) = echo.rating.filter(|_| echo.errors.is_empty()) else {
        return after_form(&state, &code, echo).await;
    };
    let result = rate_as_reporter(
        &state,
        &source,
        &code,
        Some(&form.key),
        &form.contact,
        value,
        Some(echo.reason.clone()),
    )
    .await;
    match result {
        Ok(answered) => echo.done = Some(answered.message_vi),
        Err(e) => match refusal(e, &state.config.limits) {
            Ok(r) => echo.refuse(r),
            Err(e) => return e.into_response(),
        },
    }
    after_form(&state, &code, echo).await
}

/// Keep the overdue gauges current (every `every`, until shutdown): reports whose deadline has
/// passed and those due within the hour. Counts only, no ids.
pub async fn overdue_gauge(state: AppState, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match state.pipeline.due(chrono::Duration::hours(1), 10_000).await {
            Ok(entries) => {
                let overdue = entries.iter().filter(|e| e.overdue).count();
                crate::trail::metrics::overdue(overdue, entries.len() - overdue);
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the running deadlines"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_normalised_or_refused() {
        assert_eq!(
            normalise_code(" la-7k3m-q9tx ").as_deref(),
            Some("LA-7K3M-Q9TX")
        );
        assert_eq!(normalise_code("../etc"), None);
        assert_eq!(normalise_code(""), None);
        assert_eq!(normalise_code(&"A".repeat(33)), None);
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape("<script>\"x\" & 'y'"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;"
        );
    }
}
