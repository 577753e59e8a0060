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
) -> Result<Report, ApiError> {
    match find(state, source, code).await? {
        Some(r) if crate::conversation::contact_is_reporter(&r, contact) => Ok(r),
        _ => Err(ApiError::NotFound(
            "no report with this tracking code and contact".into(),
        )),
    }
}

fn dedup_key(headers: &axum::http::HeaderMap, code: &str, state: &AppState) -> String {
    match headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty() && k.len() <= 128)
    {
        Some(k) => format!("track:{code}:{k}"),
        None => format!("track:{code}:{}", state.pipeline.new_id()),
    }
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
    let report = reporters_report(&state, &source, &code, &body.contact).await?;
    let answered = attach(
        &state,
        &report,
        dedup_key(&headers, &report.tracking_code, &state),
        body.text,
        None,
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
    use normalizers::conversation::{rating_open, AnswerError, RatingValue};
    let report = reporters_report(&state, &source, &code, &body.contact).await?;
    if rating_open(&report).is_none() {
        let e = match normalizers::conversation::last_result(&report) {
            Some(_) => AnswerError::AlreadyRated,
            None => AnswerError::NothingToRate,
        };
        return Err(crate::pipeline::StatusError::Answer(e).into());
    }
    let reason = body.reason.filter(|r| !r.trim().is_empty());
    if body.rating == RatingValue::Dissatisfied && reason.is_none() {
        return Err(crate::pipeline::StatusError::Answer(AnswerError::ReasonRequired).into());
    }
    let answered = attach(
        &state,
        &report,
        dedup_key(&headers, &report.tracking_code, &state),
        reason.clone().unwrap_or_default(),
        Some((body.rating, reason)),
    )
    .await?;
    if answered.kind != "rating" {
        // The result was rated in the meantime.
        return Err(crate::pipeline::StatusError::Answer(AnswerError::AlreadyRated).into());
    }
    Ok((StatusCode::CREATED, Json(answered)))
}

async fn attach(
    state: &AppState,
    report: &Report,
    dedup_key: String,
    text: String,
    rating: Option<(normalizers::conversation::RatingValue, Option<String>)>,
) -> Result<AnswerResponse, ApiError> {
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
                media: Vec::new(),
                rating,
            },
        )
        .await
        .map_err(|e| match e {
            crate::conversation::AttachError::Status(s) => ApiError::from(s),
            crate::conversation::AttachError::Ingest(i) => ApiError::from(i),
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
            return Err(crate::pipeline::StatusError::Answer(
                normalizers::conversation::AnswerError::Offensive,
            )
            .into())
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
        Ok(Some(report)) => html(StatusCode::OK, &page(Some(&public_track(&report)), None)),
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
