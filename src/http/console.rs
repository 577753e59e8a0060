//! The IOC's web console at `/console` (R-Q-3, issue 13 point 3): login with the accounts of
//! `[console]` (argon2id hashes), the IOC queue (claim the next entries, see who holds each,
//! acknowledge one's own), the running deadlines, the screened reports by verdict (the rejected
//! ones with their reasons), a report's page with its place and actions (message the citizen,
//! move it along the trail, block the sender), and the month's figures with their charts. Codes
//! are shown by their Vietnamese names (`crate::labels`).
//!
//! Pages are server-rendered with the portal's strict Content-Security-Policy; every report
//! text goes through [`escape`]. A session is a random id in an HttpOnly, SameSite=Strict
//! cookie (Secure unless `console.insecure_cookie`); the shared store keeps only its sha256
//! digest, with the account, the session's CSRF token and its expiry on the injected clock.
//! Every POST form carries the CSRF token (403 without it). Login attempts are counted per
//! account and per source address. Report ids are the only identifiers in URLs.
//!
//! The handlers call the same pipeline functions as the IOC's API (`ioc`, `messages`,
//! `stats`), never the HTTP API.

use std::fmt::Write as _;
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use chrono::{DateTime, Utc};
use normalizers::conversation::{MessageKind, NewMessage};
use normalizers::report::Report;
use normalizers::trail::{self, TrailStatus, Transition};
use normalizers::validate::Status;
use rand::RngCore;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::track::{escape, SourceIp};
use super::{ApiError, AppState};
use crate::blocklist::BlockRequest;
use crate::labels;
use crate::publication;
use crate::stats::chart::{self, Chart, ImageFormat, Layout};
use crate::stats::{self, Period};
use crate::store::{PendingEntry, REPORTS_STREAM};

const PAGE: &str = include_str!("assets/console.html");
const CSS: &str = include_str!("assets/console.css");
const JS: &str = include_str!("assets/console.js");

/// The session cookie's name.
pub const COOKIE: &str = "console_session";

/// `[console]`: the IOC's accounts and their sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Who may log in; none: the console only shows its login page and refuses every login.
    pub accounts: Vec<ConsoleAccount>,
    /// A session ends this many minutes after login.
    pub session_ttl_mins: u64,
    /// Failed logins per account and per source address within `login_window_mins` before
    /// further attempts are refused (429).
    pub login_max_failures: u32,
    pub login_window_mins: u64,
    /// Leave `Secure` off the session cookie: only for a console served over plain HTTP on a
    /// trusted network (and tests). Default false.
    pub insecure_cookie: bool,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            accounts: Vec::new(),
            session_ttl_mins: 480,
            login_max_failures: 5,
            login_window_mins: 15,
            insecure_cookie: false,
        }
    }
}

/// One IOC operator's account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleAccount {
    pub username: String,
    /// The argon2id hash printed by `gateway console-password` (PHC string).
    pub password_hash: String,
}

/// The argon2id hash (PHC string) of a console password.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt)?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Whether `hash` is an argon2id PHC string (`gateway check-config` checks the accounts).
pub fn is_password_hash(hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| h.algorithm.as_str() == "argon2id")
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A session as the shared store keeps it (under the digest of its id).
#[derive(Debug, Serialize, Deserialize)]
struct Session {
    user: String,
    csrf: String,
    expires_at: DateTime<Utc>,
}

fn digest_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn session_key(id: &str) -> String {
    format!("console:session:{}", digest_hex(id))
}

fn random_token() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The live session of a request, if any (an expired one is removed).
async fn session(state: &AppState, headers: &HeaderMap) -> Result<Option<Session>, ApiError> {
    let Some(id) = cookie_value(headers, COOKIE) else {
        return Ok(None);
    };
    if id.len() != 64 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let key = session_key(id);
    let Some(json) = state.pipeline.get_state(&key).await? else {
        return Ok(None);
    };
    let Ok(s) = serde_json::from_str::<Session>(&json) else {
        return Ok(None);
    };
    if s.expires_at <= state.pipeline.now() {
        state.pipeline.delete_state(&key).await?;
        return Ok(None);
    }
    Ok(Some(s))
}

fn cookie(state: &AppState, value: &str, max_age: u64) -> HeaderValue {
    let secure = if state.config.console.insecure_cookie {
        ""
    } else {
        "; Secure"
    };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("console_session=; Path=/console"))
}

fn headers_for_page(res: &mut Response) {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(super::portal::CSP),
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
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// A whole page: the shell with its title, navigation (when logged in) and body.
fn page(status: StatusCode, title: &str, session: Option<&Session>, body: &str) -> Response {
    let nav = match session {
        Some(s) => format!(
            "<nav><a href=\"/console\">Hàng đợi</a> <a href=\"/console/figures\">Số liệu</a> \
             <span class=\"who\">{}</span>\
             <form method=\"post\" action=\"/console/logout\" class=\"inline\">{}\
             <button type=\"submit\">Đăng xuất</button></form></nav>",
            escape(&s.user),
            csrf_field(s)
        ),
        None => String::new(),
    };
    let html = PAGE
        .replace("{{TITLE}}", &escape(title))
        .replace("{{NAV}}", &nav)
        .replace("{{BODY}}", body);
    let mut res = (status, html).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers_for_page(&mut res);
    res
}

fn csrf_field(s: &Session) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape(&s.csrf)
    )
}

fn error_page(e: ApiError, session: Option<&Session>) -> Response {
    let status = e_status(&e);
    let text = match status {
        StatusCode::CONFLICT => format!("Không thực hiện được: {e}"),
        StatusCode::NOT_FOUND => "Không tìm thấy.".to_string(),
        s if s.is_client_error() => format!("Yêu cầu không hợp lệ: {e}"),
        _ => "Lỗi hệ thống, xin thử lại sau.".to_string(),
    };
    if status.is_server_error() {
        tracing::warn!(error = %channels::intake::error_chain(&e), "console: request failed");
    }
    page(
        status,
        "Lỗi",
        session,
        &format!(
            "<p class=\"error\" role=\"alert\">{}</p><p><a href=\"/console\">Về hàng đợi</a></p>",
            escape(&text)
        ),
    )
}

fn e_status(e: &ApiError) -> StatusCode {
    e.status_code()
}

fn see_other(to: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    headers_for_page(&mut res);
    res
}

fn login_page(status: StatusCode, notice: Option<&str>) -> Response {
    let notice = notice
        .map(|n| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(n)))
        .unwrap_or_default();
    page(
        status,
        "Đăng nhập",
        None,
        &format!(
            "<h1>Bàn điều hành 1022</h1>{notice}\
             <form method=\"post\" action=\"/console/login\" class=\"login\">\
             <label for=\"username\">Tên đăng nhập</label>\
             <input id=\"username\" name=\"username\" autocomplete=\"username\" required>\
             <label for=\"password\">Mật khẩu</label>\
             <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
             <button type=\"submit\">Đăng nhập</button></form>"
        ),
    )
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    pub username: String,
    pub password: String,
}

/// `POST /console/login`.
pub async fn login(
    State(state): State<AppState>,
    SourceIp(source): SourceIp,
    Form(form): Form<LoginForm>,
) -> Response {
    match do_login(&state, &source, form).await {
        Ok(res) => res,
        Err(e) => error_page(e, None),
    }
}

async fn do_login(state: &AppState, source: &str, form: LoginForm) -> Result<Response, ApiError> {
    let c = &state.config.console;
    let window = Duration::from_secs(c.login_window_mins.max(1) * 60);
    let user_key = format!("console:login:user:{}", &digest_hex(&form.username)[..32]);
    let source_key = format!("console:login:source:{}", &digest_hex(source)[..32]);
    let max = i64::from(c.login_max_failures.max(1));
    let failures_user = state.pipeline.get_state(&user_key).await?;
    let failures_source = state.pipeline.get_state(&source_key).await?;
    let over = |v: Option<String>| v.and_then(|v| v.parse::<i64>().ok()).unwrap_or(0) >= max;
    if over(failures_user) || over(failures_source) {
        return Ok(login_page(
            StatusCode::TOO_MANY_REQUESTS,
            Some(&format!(
                "Đăng nhập sai quá nhiều lần. Xin thử lại sau {} phút.",
                c.login_window_mins.max(1)
            )),
        ));
    }
    let account = c
        .accounts
        .iter()
        .find(|a| bool::from(a.username.as_bytes().ct_eq(form.username.as_bytes())));
    let hash = account.map(|a| a.password_hash.clone());
    let password = form.password;
    // argon2 is slow on purpose: off the async workers.
    let ok = tokio::task::spawn_blocking(move || match hash {
        Some(h) => verify_password(&password, &h),
        None => false,
    })
    .await
    .map_err(ApiError::internal)?;
    if !ok {
        state.pipeline.count_state(&user_key, window).await?;
        state.pipeline.count_state(&source_key, window).await?;
        tracing::info!("console: a login was refused");
        return Ok(login_page(
            StatusCode::UNAUTHORIZED,
            Some("Tên đăng nhập hoặc mật khẩu không đúng."),
        ));
    }
    let id = random_token();
    let ttl = Duration::from_secs(c.session_ttl_mins.max(1) * 60);
    let s = Session {
        user: form.username,
        csrf: random_token(),
        expires_at: state.pipeline.now()
            + chrono::Duration::from_std(ttl).map_err(ApiError::internal)?,
    };
    let json = serde_json::to_string(&s).map_err(ApiError::internal)?;
    state
        .pipeline
        .put_state(&session_key(&id), &json, Some(ttl))
        .await?;
    let mut res = see_other("/console");
    res.headers_mut()
        .insert(header::SET_COOKIE, cookie(state, &id, ttl.as_secs()));
    Ok(res)
}

/// A logged-in operator's POSTed form: the session, checked against the CSRF token the form
/// carries, and the form's other fields as `T`. Every state-changing handler of the console
/// takes it; its refusals are pages: no session → 303 to the login page, a missing or wrong
/// token → 403, a form that does not parse → 400.
pub struct Posted<T> {
    session: Session,
    form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for Posted<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let s = match session(state, req.headers()).await {
            Ok(Some(s)) => s,
            Ok(None) => return Err(see_other("/console")),
            Err(e) => return Err(error_page(e, None)),
        };
        let fields = match Form::<Vec<(String, String)>>::from_request(req, state).await {
            Ok(Form(fields)) => fields,
            Err(e) => return Err(error_page(ApiError::BadRequest(e.body_text()), Some(&s))),
        };
        let csrf = fields
            .iter()
            .rfind(|(k, _)| k == "csrf")
            .map(|(_, v)| v.as_str())
            .unwrap_or_default();
        if csrf.is_empty() || !bool::from(s.csrf.as_bytes().ct_eq(csrf.as_bytes())) {
            return Err(page(
                StatusCode::FORBIDDEN,
                "Không hợp lệ",
                Some(&s),
                "<p class=\"error\" role=\"alert\">Biểu mẫu đã hết hạn hoặc không hợp lệ. Xin tải lại trang.</p>",
            ));
        }
        // The fields are text: one JSON object of them (the last of a repeated name wins).
        let object: serde_json::Map<String, serde_json::Value> = fields
            .into_iter()
            .filter(|(k, _)| k != "csrf")
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect();
        match serde_json::from_value::<T>(serde_json::Value::Object(object)) {
            Ok(form) => Ok(Posted { session: s, form }),
            Err(e) => Err(error_page(
                ApiError::BadRequest(format!("the form: {e}")),
                Some(&s),
            )),
        }
    }
}

/// A logged-in operator reading a page; without a session, 303 to the login page.
pub struct Operator(Session);

impl axum::extract::FromRequestParts<AppState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Response> {
        match session(state, &parts.headers).await {
            Ok(Some(s)) => Ok(Operator(s)),
            Ok(None) => Err(see_other("/console")),
            Err(e) => Err(error_page(e, None)),
        }
    }
}

/// No fields but the CSRF token.
#[derive(Debug, Deserialize)]
pub struct NoFields {}

/// `POST /console/logout`.
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    _: Posted<NoFields>,
) -> Response {
    if let Some(id) = cookie_value(&headers, COOKIE) {
        if let Err(e) = state.pipeline.delete_state(&session_key(id)).await {
            return error_page(e.into(), None);
        }
    }
    let mut res = see_other("/console");
    res.headers_mut()
        .insert(header::SET_COOKIE, cookie(&state, "", 0));
    res
}

/// "còn 3 giờ 5 phút" / "quá hạn 20 phút", with the seconds left for the script's ticking.
fn countdown(due: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (due - now).num_seconds();
    let m = secs.unsigned_abs().div_ceil(60);
    let (h, m) = (m / 60, m % 60);
    let span = if h > 0 {
        format!("{h} giờ {m} phút")
    } else {
        format!("{m} phút")
    };
    let (class, text) = if secs >= 0 {
        ("due", format!("còn {span}"))
    } else {
        ("due overdue", format!("quá hạn {span}"))
    };
    format!(
        "<span class=\"{class}\" data-remaining=\"{secs}\" title=\"{}\">{text}</span>",
        escape(&due.to_rfc3339())
    )
}

/// A time as the IOC reads it: local (UTC+7), `HH:MM dd/mm/yyyy`.
fn local(t: DateTime<Utc>) -> String {
    normalizers::calendar::to_local(t)
        .format("%H:%M %d/%m/%Y")
        .to_string()
}

/// The verdict's CSS class (no internal code on a page) and its name.
fn verdict_label(r: &Report) -> (&'static str, &'static str) {
    let s = r.verdict.status;
    let class = match s {
        Status::Accepted => "accepted",
        Status::NeedsReview => "review",
        Status::Rejected => "rejected",
        Status::Pending => "pending",
    };
    (class, labels::verdict(s))
}

fn verdict_badge(r: &Report) -> String {
    let (class, label) = verdict_label(r);
    format!("<span class=\"verdict v-{class}\">{}</span>", escape(label))
}

fn status_badge(st: TrailStatus) -> String {
    format!(
        "<span class=\"status\">{}</span>",
        escape(labels::status(st))
    )
}

fn kind_label(k: MessageKind) -> &'static str {
    MESSAGE_KINDS
        .iter()
        .find(|(m, _)| *m == k)
        .map(|(_, l)| *l)
        .unwrap_or("Khác")
}

/// The commune before and after the 2025 reform (old district too), on one line.
fn place(r: &Report) -> String {
    match &r.location.admin {
        Some(a) => {
            let old = match (&a.old_commune, &a.old_district) {
                (Some(c), Some(d)) => format!("{c}, {d}"),
                (Some(c), None) => c.clone(),
                (None, Some(d)) => d.clone(),
                (None, None) => "?".into(),
            };
            format!(
                "{} → {}",
                escape(&old),
                escape(a.new_commune.as_deref().unwrap_or("?"))
            )
        }
        None => "chưa xác định".to_string(),
    }
}

/// The report's place in full: the commune old and new, the coordinates and a small map (a
/// marker on the province's bounding box, drawn as inline SVG: no tiles, no request).
fn place_block(state: &AppState, r: &Report) -> String {
    let coordinates = match r.location.coordinates {
        Some(c) if c.is_plausible() => format!(
            "{:.5}, {:.5}{}",
            c.lat,
            c.lon,
            match r.location.inside_jurisdiction {
                Some(false) => " (ngoài địa bàn tỉnh)",
                _ => "",
            }
        ),
        _ => "không có".into(),
    };
    let map = r
        .location
        .coordinates
        .filter(|c| c.is_plausible())
        .map(|c| mini_map(state.pipeline.geo().boundary().bbox(), c.lat, c.lon))
        .unwrap_or_default();
    format!(
        "<dt>Địa bàn (cũ → mới)</dt><dd>{}</dd><dt>Tọa độ</dt><dd>{}{map}</dd>",
        place(r),
        escape(&coordinates)
    )
}

/// An SVG of the bounding box `[min lon, min lat, max lon, max lat]` with a marker at the
/// point (clamped to the edge, hollow, when it lies outside).
fn mini_map(bbox: [f64; 4], lat: f64, lon: f64) -> String {
    let [min_lon, min_lat, max_lon, max_lat] = bbox;
    // Degrees of longitude are shorter than degrees of latitude by cos(latitude).
    let k = ((min_lat + max_lat) / 2.0).to_radians().cos();
    let (w, h) = ((max_lon - min_lon) * k, max_lat - min_lat);
    if !(w > 0.0 && h > 0.0) {
        return String::new();
    }
    let width = 240.0;
    let height = (width * h / w).clamp(80.0, 320.0);
    let x = (lon - min_lon) / (max_lon - min_lon) * width;
    let y = (max_lat - lat) / (max_lat - min_lat) * height;
    let inside = (0.0..=width).contains(&x) && (0.0..=height).contains(&y);
    let (x, y) = (x.clamp(6.0, width - 6.0), y.clamp(6.0, height - 6.0));
    let fill = if inside { "#a4161a" } else { "none" };
    format!(
        "<svg class=\"minimap\" viewBox=\"0 0 {width:.0} {height:.0}\" width=\"{width:.0}\" height=\"{height:.0}\" \
         role=\"img\" aria-label=\"Vị trí trong khung tỉnh Long An\">\
         <rect x=\"0.5\" y=\"0.5\" width=\"{:.0}\" height=\"{:.0}\" fill=\"#eef4ea\" stroke=\"#6b8f71\"/>\
         <path d=\"M{:.1} 0V{height:.0}M0 {:.1}H{width:.0}\" stroke=\"#c7d0d9\" stroke-dasharray=\"4 4\"/>\
         <circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"6\" fill=\"{fill}\" stroke=\"#a4161a\" stroke-width=\"2\"/></svg>",
        width - 1.0,
        height - 1.0,
        width / 2.0,
        height / 2.0,
    )
}

/// The reasons and flags: the check's Vietnamese name, then what it found.
fn findings(r: &Report) -> String {
    let mut out = String::new();
    for (class, list) in [("reason", &r.verdict.reasons), ("flag", &r.verdict.flags)] {
        for f in list {
            let _ = write!(
                out,
                "<li class=\"{class}\"><strong>{}</strong>: {}</li>",
                escape(labels::code(f.code)),
                escape(&f.message)
            );
        }
    }
    if out.is_empty() {
        String::new()
    } else {
        format!("<ul class=\"findings\">{out}</ul>")
    }
}

fn thumbnails(r: &Report) -> String {
    let mut out = String::new();
    for (n, _) in publication::public_photos(r).iter().enumerate() {
        let _ = write!(
            out,
            "<img class=\"thumb\" src=\"/console/reports/{}/photos/{n}\" alt=\"Ảnh {}\" loading=\"lazy\">",
            escape(&r.id),
            n + 1
        );
    }
    out
}

fn excerpt(text: &str, max: usize) -> String {
    let mut s: String = text.chars().take(max).collect();
    if text.chars().count() > max {
        s.push('…');
    }
    s
}

/// The page's tabs: the IOC queue, the running deadlines, the screened reports by verdict.
fn tabs(current: &str) -> String {
    let mut out = String::new();
    for (href, label) in [
        ("/console", "Hàng đợi"),
        ("/console/due", "Hạn xử lý"),
        (
            "/console/screened?verdict=accepted",
            labels::verdict(Status::Accepted),
        ),
        (
            "/console/screened?verdict=review",
            labels::verdict(Status::NeedsReview),
        ),
        (
            "/console/screened?verdict=rejected",
            labels::verdict(Status::Rejected),
        ),
    ] {
        let here = if href == current {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(out, "<a href=\"{href}\"{here}>{}</a>", escape(label));
    }
    format!("<nav class=\"tabs\" aria-label=\"Danh sách\">{out}</nav>")
}

/// One report in a list: code, verdict, status, countdown, excerpt, place, findings, photos.
fn report_row(r: &Report, now: DateTime<Utc>, extra: &str) -> String {
    let due = trail::current_due(r)
        .map(|(_, t)| countdown(t, now))
        .unwrap_or_default();
    format!(
        "<li class=\"report\"><a class=\"open\" href=\"/console/reports/{id}\">{code}</a> \
         {verdict} {status} {due}{dups}{extra}\
         <p class=\"meta\">{channel} · {received}</p>\
         <p class=\"desc\">{desc}</p><p class=\"place\">{place}</p>{findings}\
         <div class=\"thumbs\">{thumbs}</div>{answers}</li>",
        id = escape(&r.id),
        code = escape(&r.tracking_code),
        verdict = verdict_badge(r),
        // A rejected report never entered the trail's steps.
        status = if r.verdict.status == Status::Rejected {
            String::new()
        } else {
            status_badge(trail::current(r))
        },
        dups = if r.verdict.duplicate_of.is_empty() {
            String::new()
        } else {
            " <span class=\"dup\">có thể trùng</span>".to_string()
        },
        channel = escape(labels::channel(r.channel)),
        received = escape(&local(r.received_at)),
        desc = escape(&excerpt(&r.content.text, 200)),
        place = place(r),
        findings = findings(r),
        thumbs = thumbnails(r),
        answers = if r.answers.is_empty() {
            String::new()
        } else {
            format!(
                "<p class=\"answers\">{} trả lời của người dân</p>",
                r.answers.len()
            )
        },
    )
}

/// The consumer name under which an operator claims from the IOC queue (the API's consumers
/// are the IOC systems' own names): `console.<account>`, or a digest of an account name that
/// is not a valid consumer name.
fn consumer_of(user: &str) -> String {
    let plain = !user.is_empty()
        && user.len() <= 48
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if plain {
        format!("console.{user}")
    } else {
        format!("console.{}", &digest_hex(user)[..16])
    }
}

/// Who holds a claimed entry, as the page says it.
fn holder(state: &AppState, me: &Session, consumer: &str) -> String {
    if consumer == consumer_of(&me.user) {
        return "Bạn đang xử lý".into();
    }
    let account = state
        .config
        .console
        .accounts
        .iter()
        .find(|a| consumer_of(&a.username) == consumer);
    match account {
        Some(a) => format!("Đang do {} xử lý", a.username),
        None => format!("Đang do hệ thống IOC ({consumer}) xử lý"),
    }
}

/// The most claimed entries the queue page lists.
const CLAIMED_SHOWN: usize = 200;
/// The most claimed entries an acknowledgement looks through for its holder.
const CLAIMED_LOOKED_UP: usize = 10_000;

/// `GET /console`: the login page, or the IOC queue: how many reports wait to be claimed, the
/// form that claims the next ones, and the claimed ones with who holds each; the operator's own
/// can be acknowledged from here.
pub async fn queue(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let s = match session(&state, &headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return login_page(StatusCode::OK, None),
        Err(e) => return error_page(e, None),
    };
    match render_queue(&state, &s).await {
        Ok(body) => page(StatusCode::OK, "Hàng đợi", Some(&s), &body),
        Err(e) => error_page(e, Some(&s)),
    }
}

async fn render_queue(state: &AppState, s: &Session) -> Result<String, ApiError> {
    let now = state.pipeline.now();
    let (_, pending, waiting) = state.pipeline.queue_depth(REPORTS_STREAM).await?;
    let claimed = state
        .pipeline
        .claimed(REPORTS_STREAM, CLAIMED_SHOWN)
        .await?;
    let timeout = Duration::from_secs(state.config.queue.claim_timeout_secs);
    let mine = consumer_of(&s.user);
    let csrf = csrf_field(s);
    let mut rows = String::new();
    for c in &claimed {
        let held = format!(
            "<p class=\"holder{}\">{}{}</p>",
            if c.consumer == mine { " mine" } else { "" },
            escape(&holder(state, s, &c.consumer)),
            if c.idle >= timeout {
                " — đã quá thời gian giữ, có thể được nhận lại"
            } else {
                ""
            }
        );
        let ack = if c.consumer == mine {
            format!(
                "<form method=\"post\" action=\"/console/queue/{}/ack\" class=\"inline ack\">{csrf}\
                 <button type=\"submit\">Đã xử lý xong</button></form>",
                escape(&c.entry.entry_id)
            )
        } else {
            String::new()
        };
        rows.push_str(&queue_row(state, c, now, &format!("{held}{ack}")).await?);
    }
    if rows.is_empty() {
        rows =
            "<li>Chưa nhận phản ánh nào. Bấm “Nhận phản ánh” để nhận các phản ánh tiếp theo.</li>"
                .into();
    }
    Ok(format!(
        "{tabs}<h1>Hàng đợi của Trung tâm IOC</h1>\
         <p class=\"depth\">Chờ nhận: <strong>{waiting}</strong> · Đã nhận, chưa xong: <strong>{pending}</strong></p>\
         <form method=\"post\" action=\"/console/queue/claim\" class=\"inline claim\">{csrf}\
         <label for=\"max\">Số phản ánh</label><select id=\"max\" name=\"max\">\
         <option>1</option><option selected>5</option><option>10</option><option>20</option></select>\
         <button type=\"submit\">Nhận phản ánh</button></form>\
         <ul class=\"queue claimed\">{rows}</ul>",
        tabs = tabs("/console"),
    ))
}

/// A claimed entry: a report (its stored state, which may have moved on since it was queued),
/// or a citizen's answer or rating about one.
async fn queue_row(
    state: &AppState,
    c: &PendingEntry,
    now: DateTime<Utc>,
    extra: &str,
) -> Result<String, ApiError> {
    let payload: serde_json::Value =
        serde_json::from_slice(&c.entry.payload).unwrap_or(serde_json::Value::Null);
    let kind = payload.get("kind").and_then(|k| k.as_str());
    let id = payload
        .get(if kind.is_some() { "report_id" } else { "id" })
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let report = match valid_id(id) {
        Ok(()) => state.pipeline.report(id).await?,
        Err(_) => None,
    };
    Ok(match (kind, report) {
        (None, Some(r)) => report_row(&r, now, extra),
        (Some(kind), Some(r)) => {
            let what = if kind == "rating" {
                "Người dân đánh giá kết quả"
            } else {
                "Người dân trả lời"
            };
            let text = payload
                .pointer("/answer/text")
                .and_then(|t| t.as_str())
                .unwrap_or_default();
            format!(
                "<li class=\"report answer\"><span class=\"kind\">{}</span> \
                 <a class=\"open\" href=\"/console/reports/{}\">{}</a>{extra}<p class=\"desc\">{}</p></li>",
                escape(what),
                escape(&r.id),
                escape(&r.tracking_code),
                escape(&excerpt(text, 300))
            )
        }
        (_, None) => format!(
            "<li class=\"report\"><span class=\"kind\">Mục {}</span>{extra}</li>",
            escape(&c.entry.entry_id)
        ),
    })
}

#[derive(Debug, Deserialize)]
pub struct ClaimForm {
    #[serde(default)]
    pub max: String,
}

/// `POST /console/queue/claim`: claim the next entries of the IOC queue for this operator
/// (the API's claim: entries left unacknowledged past the claim timeout come first).
pub async fn claim(
    State(state): State<AppState>,
    Posted { session: s, form }: Posted<ClaimForm>,
) -> Response {
    let result = async {
        let max = match form.max.trim() {
            "" => 5,
            m => m
                .parse::<usize>()
                .ok()
                .filter(|m| (1..=20).contains(m))
                .ok_or_else(|| ApiError::BadRequest("max is 1 to 20".into()))?,
        };
        let timeout = Duration::from_secs(state.config.queue.claim_timeout_secs);
        state
            .pipeline
            .claim(REPORTS_STREAM, &consumer_of(&s.user), max, timeout)
            .await?;
        Ok::<_, ApiError>(())
    }
    .await;
    match result {
        Ok(()) => see_other("/console"),
        Err(e) => error_page(e, Some(&s)),
    }
}

/// `POST /console/queue/{entry_id}/ack`: the operator is done with an entry they hold; it
/// leaves the queue for good.
pub async fn ack(
    State(state): State<AppState>,
    Path(entry_id): Path<String>,
    Posted {
        session: s,
        form: NoFields {},
    }: Posted<NoFields>,
) -> Response {
    let result = async {
        let well_formed = entry_id.len() <= 40
            && entry_id.split_once('-').is_some_and(|(a, b)| {
                !a.is_empty()
                    && !b.is_empty()
                    && a.chars().chain(b.chars()).all(|c| c.is_ascii_digit())
            });
        let gone = || ApiError::NotFound(format!("no claimed queue entry {entry_id}"));
        if !well_formed {
            return Err(gone());
        }
        let claimed = state
            .pipeline
            .claimed(REPORTS_STREAM, CLAIMED_LOOKED_UP)
            .await?;
        let entry = claimed
            .iter()
            .find(|c| c.entry.entry_id == entry_id)
            .ok_or_else(gone)?;
        if entry.consumer != consumer_of(&s.user) {
            return Err(ApiError::Conflict(format!(
                "queue entry {entry_id} is held by someone else"
            )));
        }
        if !state.pipeline.ack(REPORTS_STREAM, &entry_id).await? {
            return Err(gone());
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => see_other("/console"),
        Err(e) => error_page(e, Some(&s)),
    }
}

#[derive(Debug, Deserialize)]
pub struct DueQuery {
    /// The page, from 1 (anything else is the first page).
    pub trang: Option<String>,
}

/// Reports shown on one page of the running deadlines.
pub const DUE_PAGE: usize = 50;

/// `GET /console/due?trang=N`: the running deadlines of the next 60 days (and the overdue
/// ones), soonest first, [`DUE_PAGE`] to a page, with how many there are and how many are
/// overdue, so an operator on a flood day sees the whole backlog, not its first part.
pub async fn due(
    State(state): State<AppState>,
    Operator(s): Operator,
    Query(q): Query<DueQuery>,
) -> Response {
    let page_no = q
        .trang
        .and_then(|t| t.trim().parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    match render_due(&state, page_no).await {
        Ok(body) => page(StatusCode::OK, "Hạn xử lý", Some(&s), &body),
        Err(e) => error_page(e, Some(&s)),
    }
}

async fn render_due(state: &AppState, page_no: usize) -> Result<String, ApiError> {
    let now = state.pipeline.now();
    let due = state
        .pipeline
        .due(chrono::Duration::days(60), crate::trail::DUE_SCAN_MAX)
        .await?;
    let total = due.len();
    let overdue = due.iter().filter(|d| d.overdue).count();
    let pages = total.div_ceil(DUE_PAGE).max(1);
    let page_no = page_no.min(pages);
    let mut rows = String::new();
    for d in due.iter().skip((page_no - 1) * DUE_PAGE).take(DUE_PAGE) {
        let Some(r) = state.pipeline.report(&d.report_id).await? else {
            continue;
        };
        rows.push_str(&report_row(&r, now, ""));
    }
    if rows.is_empty() {
        rows = "<li>Không có phản ánh nào đang chờ xử lý.</li>".into();
    }
    let summary = if total == 0 {
        String::new()
    } else {
        format!(
            "<p class=\"meta\">{total} phản ánh đang chạy hạn, {overdue} quá hạn. \
             Trang {page_no}/{pages}, hạn gần nhất trước.</p>"
        )
    };
    let mut nav = String::new();
    if page_no > 1 {
        nav.push_str(&format!(
            "<a href=\"/console/due?trang={}\" rel=\"prev\">Trang trước</a> ",
            page_no - 1
        ));
    }
    if page_no < pages {
        nav.push_str(&format!(
            "<a href=\"/console/due?trang={}\" rel=\"next\">Trang sau</a>",
            page_no + 1
        ));
    }
    let nav = if nav.is_empty() {
        nav
    } else {
        format!("<nav class=\"pages\" aria-label=\"Trang\">{nav}</nav>")
    };
    Ok(format!(
        "{}<h1>Phản ánh đang chờ xử lý</h1>{summary}<ul class=\"queue\">{rows}</ul>{nav}",
        tabs("/console/due")
    ))
}

#[derive(Debug, Deserialize)]
pub struct ScreenedQuery {
    pub verdict: Option<String>,
}

/// How far back the screened lists look, and how many they show.
const SCREENED_DAYS: i64 = 30;
const SCREENED_SHOWN: usize = 100;

/// `GET /console/screened?verdict=accepted|review|rejected`: what the gateway's screening
/// decided over the last 30 days, newest first — with the rejected reports, which never reach
/// the IOC queue, and their reasons.
pub async fn screened(
    State(state): State<AppState>,
    Operator(s): Operator,
    Query(q): Query<ScreenedQuery>,
) -> Response {
    match render_screened(&state, q.verdict.as_deref().unwrap_or("rejected")).await {
        Ok(body) => page(StatusCode::OK, "Kết quả sàng lọc", Some(&s), &body),
        Err(e) => error_page(e, Some(&s)),
    }
}

async fn render_screened(state: &AppState, verdict: &str) -> Result<String, ApiError> {
    let (wanted, slug) = [
        (Status::Accepted, "accepted"),
        (Status::NeedsReview, "review"),
        (Status::Rejected, "rejected"),
    ]
    .into_iter()
    .find(|(_, slug)| *slug == verdict)
    .ok_or_else(|| ApiError::BadRequest(format!("unknown verdict {verdict}")))?;
    let now = state.pipeline.now();
    let since = now - chrono::Duration::days(SCREENED_DAYS);
    let mut found: Vec<Report> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = state
            .pipeline
            .scan_reports(cursor.as_deref(), None, 200)
            .await?;
        for doc in &page.documents {
            let Ok(r) = serde_json::from_slice::<Report>(doc) else {
                continue;
            };
            if r.verdict.status == wanted && r.received_at >= since {
                found.push(r);
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    found.sort_by(|a, b| b.received_at.cmp(&a.received_at).then(b.id.cmp(&a.id)));
    let total = found.len();
    found.truncate(SCREENED_SHOWN);
    let mut rows = String::new();
    for r in &found {
        rows.push_str(&report_row(r, now, ""));
    }
    if rows.is_empty() {
        rows = "<li>Không có phản ánh nào.</li>".into();
    }
    let label = labels::verdict(wanted);
    Ok(format!(
        "{}<h1>Phản ánh {} trong {SCREENED_DAYS} ngày qua</h1>\
         <p class=\"depth\">Số phản ánh: <strong>{total}</strong>{}</p><ul class=\"queue screened\">{rows}</ul>",
        tabs(&format!("/console/screened?verdict={slug}")),
        escape(&label.to_lowercase()),
        if total > SCREENED_SHOWN {
            format!(" (hiện {SCREENED_SHOWN} phản ánh mới nhất)")
        } else {
            String::new()
        }
    ))
}

fn valid_id(id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ApiError::NotFound(format!("no report {id}")));
    }
    Ok(())
}

async fn load(state: &AppState, id: &str) -> Result<Report, ApiError> {
    valid_id(id)?;
    state
        .pipeline
        .report(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no report {id}")))
}

/// `GET /console/reports/{id}`: the whole report and its actions.
pub async fn report(
    State(state): State<AppState>,
    Operator(s): Operator,
    Path(id): Path<String>,
) -> Response {
    let result = async {
        let r = load(&state, &id).await?;
        let dups = duplicates(&state, &r).await?;
        Ok::<_, ApiError>((r, dups))
    }
    .await;
    match result {
        Ok((r, dups)) => page(
            StatusCode::OK,
            &r.tracking_code,
            Some(&s),
            &render_report(&state, &r, &s, &dups),
        ),
        Err(e) => error_page(e, Some(&s)),
    }
}

const MESSAGE_KINDS: [(MessageKind, &str); 5] = [
    (MessageKind::RequestDetail, "Đề nghị bổ sung thông tin"),
    (MessageKind::NotAccepted, "Không tiếp nhận"),
    (MessageKind::Forwarded, "Đã chuyển xử lý"),
    (MessageKind::Result, "Kết quả xử lý"),
    (MessageKind::Other, "Khác"),
];

/// The reports this one may repeat (Đ7.3), side by side with it.
async fn duplicates(state: &AppState, r: &Report) -> Result<String, ApiError> {
    if r.verdict.duplicate_of.is_empty() {
        return Ok(String::new());
    }
    let mut out = format!(
        "<div class=\"side\"><section><h3>Phản ánh này</h3><p class=\"desc\">{}</p><p class=\"place\">{}</p><div class=\"thumbs\">{}</div></section>",
        escape(&excerpt(&r.content.text, 300)),
        place(r),
        thumbnails(r)
    );
    for d in r.verdict.duplicate_of.iter().take(3) {
        if valid_id(&d.id).is_err() {
            continue;
        }
        let Some(other) = state.pipeline.report(&d.id).await? else {
            continue;
        };
        let _ = write!(
            out,
            "<section><h3><a href=\"/console/reports/{}\">{}</a> <span class=\"score\">{:.0}% · {}</span></h3>\
             <p class=\"desc\">{}</p><p class=\"place\">{}</p><div class=\"thumbs\">{}</div></section>",
            escape(&other.id),
            escape(&other.tracking_code),
            d.score * 100.0,
            escape(&d.basis),
            escape(&excerpt(&other.content.text, 300)),
            place(&other),
            thumbnails(&other)
        );
    }
    out.push_str("</div>");
    Ok(format!("<h2>Có thể trùng với</h2>{out}"))
}

fn render_report(state: &AppState, r: &Report, s: &Session, dups: &str) -> String {
    let now = state.pipeline.now();
    let csrf = csrf_field(s);
    let id = escape(&r.id);
    let due = trail::current_due(r)
        .map(|(_, t)| countdown(t, now))
        .unwrap_or_default();
    let mut messages = String::new();
    for m in &r.messages {
        let _ = write!(
            messages,
            "<li class=\"ioc\"><span class=\"kind\">{}{}</span> <time>{}</time> <p>{}</p></li>",
            escape(kind_label(m.kind)),
            if m.internal {
                " (ghi chú nội bộ)"
            } else {
                ""
            },
            escape(&local(m.at)),
            escape(&m.text)
        );
    }
    for a in &r.answers {
        let _ = write!(
            messages,
            "<li class=\"citizen\"><span class=\"kind\">Người dân trả lời</span> <time>{}</time> <p>{}</p></li>",
            escape(&local(a.at)),
            escape(&a.text)
        );
    }
    let mut trail_rows = String::new();
    for t in &r.trail {
        let _ = write!(
            trail_rows,
            "<li>{} <time>{}</time></li>",
            escape(normalizers::messages::trail::status_label(t.status)),
            escape(&local(t.at))
        );
    }
    if trail_rows.is_empty() {
        let _ = write!(
            trail_rows,
            "<li>{} <time>{}</time></li>",
            escape(normalizers::messages::trail::status_label(
                TrailStatus::Received
            )),
            escape(&local(r.received_at))
        );
    }
    let mut kinds = String::new();
    for (k, label) in MESSAGE_KINDS {
        let _ = write!(
            kinds,
            "<option value=\"{}\">{}</option>",
            k.as_str(),
            escape(label)
        );
    }
    let mut statuses = String::new();
    for st in TrailStatus::ALL {
        if st == TrailStatus::Received {
            continue;
        }
        let _ = write!(
            statuses,
            "<option value=\"{}\">{}</option>",
            st.as_str(),
            escape(normalizers::messages::trail::status_label(st))
        );
    }
    let reporter = &r.reporter;
    let contact = [
        reporter.name.as_deref(),
        reporter.phone.as_deref(),
        reporter.email.as_deref(),
    ]
    .into_iter()
    .flatten()
    .map(escape)
    .collect::<Vec<_>>()
    .join(", ");
    let blockable =
        reporter.phone.is_some() || reporter.email.is_some() || reporter.channel_identity.is_some();
    let block = if blockable {
        format!(
            "<form method=\"post\" action=\"/console/reports/{id}/block\" class=\"action\">{csrf}\
             <h2>Chặn người gửi</h2><label for=\"reason\">Lý do</label>\
             <input id=\"reason\" name=\"reason\" required maxlength=\"500\">\
             <button type=\"submit\" class=\"danger\">Chặn</button></form>"
        )
    } else {
        String::new()
    };
    format!(
        "<h1>Phản ánh <span class=\"code\">{code}</span></h1>\
         <p>{verdict} {status} {due}</p>\
         {findings}<p class=\"desc\">{desc}</p>\
         <dl><dt>Kênh</dt><dd>{channel}</dd><dt>Nhận lúc</dt><dd>{received}</dd>\
         {place}<dt>Người phản ánh</dt><dd>{contact}</dd></dl>\
         <div class=\"thumbs\">{thumbs}</div>{dups}\
         <h2>Trao đổi với người dân</h2><ul class=\"messages\">{messages}</ul>\
         <form method=\"post\" action=\"/console/reports/{id}/messages\" class=\"action\">{csrf}\
         <h2>Gửi tin nhắn</h2><label for=\"kind\">Loại</label>\
         <select id=\"kind\" name=\"kind\">{kinds}</select>\
         <label for=\"text\">Nội dung</label>\
         <textarea id=\"text\" name=\"text\" required maxlength=\"1500\" rows=\"4\"></textarea>\
         <button type=\"submit\">Gửi</button></form>\
         <form method=\"post\" action=\"/console/reports/{id}/status\" class=\"action\">{csrf}\
         <h2>Chuyển trạng thái</h2><label for=\"status\">Trạng thái</label>\
         <select id=\"status\" name=\"status\">{statuses}</select>\
         <label for=\"agency\">Cơ quan xử lý (khi chuyển)</label><input id=\"agency\" name=\"agency\">\
         <label for=\"message\">Nội dung cho người dân</label><textarea id=\"message\" name=\"message\" rows=\"3\"></textarea>\
         <label for=\"note\">Ghi chú nội bộ</label><input id=\"note\" name=\"note\">\
         <button type=\"submit\">Lưu</button></form>{block}\
         <h2>Quá trình xử lý</h2><ol class=\"trail\">{trail_rows}</ol>",
        code = escape(&r.tracking_code),
        verdict = verdict_badge(r),
        status = status_badge(trail::current(r)),
        findings = findings(r),
        desc = escape(&r.content.text),
        channel = escape(labels::channel(r.channel)),
        received = escape(&local(r.received_at)),
        place = place_block(state, r),
        thumbs = thumbnails(r),
    )
}

#[derive(Debug, Deserialize)]
pub struct MessageForm {
    pub kind: String,
    pub text: String,
}

/// `POST /console/reports/{id}/messages`: send a message to the citizen.
pub async fn message(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { session: s, form }: Posted<MessageForm>,
) -> Response {
    let kind: Result<MessageKind, _> =
        serde_json::from_value(serde_json::Value::String(form.kind.clone()));
    let Ok(kind) = kind else {
        return error_page(
            ApiError::BadRequest(format!("unknown message kind {}", form.kind)),
            Some(&s),
        );
    };
    let result = async {
        valid_id(&id)?;
        state
            .pipeline
            .post_message(
                &id,
                NewMessage {
                    kind,
                    text: form.text,
                    internal: false,
                    photos: Vec::new(),
                },
                &actor(&s),
            )
            .await
            .map_err(console_refusal)?;
        Ok::<_, ApiError>(())
    }
    .await;
    match result {
        Ok(()) => see_other(&format!("/console/reports/{id}")),
        Err(e) => error_page(e, Some(&s)),
    }
}

/// Who acted, as recorded on the report: the console and the account's short digest.
fn actor(s: &Session) -> String {
    format!("console:{}", &digest_hex(&s.user)[..12])
}

#[derive(Debug, Deserialize)]
pub struct StatusForm {
    pub status: String,
    #[serde(default)]
    pub agency: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub note: String,
}

fn non_empty(s: String) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// A refused step in the operator's language: the trail's refusals and a concurrent change are
/// explained in Vietnamese (same status as the API's answer); anything else as the API says it.
fn console_refusal(e: crate::pipeline::StatusError) -> ApiError {
    use crate::messages::console as m;
    use crate::pipeline::StatusError;
    match e {
        StatusError::Transition(t) if t.is_conflict() => {
            ApiError::Conflict(m::transition_refused(&t))
        }
        StatusError::Transition(t) => ApiError::BadRequest(m::transition_refused(&t)),
        StatusError::Busy(_) => ApiError::Conflict(m::BUSY.to_string()),
        StatusError::Message(e) if e.is_conflict() => ApiError::Conflict(m::message_refused(&e)),
        StatusError::Message(e) => ApiError::BadRequest(m::message_refused(&e)),
        other => other.into(),
    }
}

/// `POST /console/reports/{id}/status`: a step along the trail.
pub async fn status(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { session: s, form }: Posted<StatusForm>,
) -> Response {
    let result = async {
        let status: TrailStatus =
            serde_json::from_value(serde_json::Value::String(form.status.clone()))
                .map_err(|_| ApiError::BadRequest(format!("unknown status {}", form.status)))?;
        load(&state, &id).await?;
        state
            .pipeline
            .transition(
                &id,
                Transition {
                    status: Some(status),
                    agency: non_empty(form.agency),
                    note: non_empty(form.note),
                    message: non_empty(form.message),
                },
                &actor(&s),
            )
            .await
            .map_err(console_refusal)?;
        Ok::<_, ApiError>(())
    }
    .await;
    match result {
        Ok(()) => see_other(&format!("/console/reports/{id}")),
        Err(e) => error_page(e, Some(&s)),
    }
}

#[derive(Debug, Deserialize)]
pub struct BlockForm {
    pub reason: String,
}

/// `POST /console/reports/{id}/block`: block the report's sender (phone, else email, else the
/// channel's account); the identity is taken from the report, never from the form.
pub async fn block(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Posted { session: s, form }: Posted<BlockForm>,
) -> Response {
    let result = async {
        let r = load(&state, &id).await?;
        let identity = r
            .reporter
            .phone
            .clone()
            .or_else(|| r.reporter.email.clone())
            .or_else(|| r.reporter.channel_identity.clone())
            .ok_or_else(|| ApiError::BadRequest("this report names no sender".into()))?;
        let entry = state
            .pipeline
            .block(&BlockRequest {
                identity,
                reason: form.reason,
                expires_at: None,
                added_by: Some(actor(&s)),
            })
            .await?;
        Ok::<_, ApiError>(entry)
    }
    .await;
    match result {
        Ok(entry) => page(
            StatusCode::OK,
            "Đã chặn",
            Some(&s),
            &format!(
                "<p role=\"status\">Đã chặn người gửi {}.</p><p><a href=\"/console/reports/{}\">Về phản ánh</a></p>",
                escape(&entry.hint),
                escape(&id)
            ),
        ),
        Err(e) => error_page(e, Some(&s)),
    }
}

/// `GET /console/reports/{id}/photos/{n}`: the public copy (EXIF and GPS stripped) of a photo.
pub async fn photo(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, n)): Path<(String, usize)>,
) -> Response {
    let result = async {
        if session(&state, &headers).await?.is_none() {
            return Err(ApiError::Unauthorized);
        }
        let r = load(&state, &id).await?;
        let photos = publication::public_photos(&r);
        let p = photos
            .get(n)
            .ok_or_else(|| ApiError::NotFound("no such photo".into()))?;
        let key = p
            .public_key
            .as_deref()
            .ok_or_else(|| ApiError::NotFound("no such photo".into()))?;
        super::published::public_file(&state, key, &p.media_type, "private, max-age=300").await
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

#[derive(Debug, Deserialize)]
pub struct MonthQuery {
    pub month: Option<String>,
    /// Charts only: `wide` (default) or `narrow`.
    pub layout: Option<String>,
}

fn month_of(state: &AppState, q: &MonthQuery) -> Result<(String, Period), ApiError> {
    let month = match &q.month {
        Some(m) => m.clone(),
        None => state
            .pipeline
            .now()
            .with_timezone(&chrono::FixedOffset::east_opt(7 * 3600).expect("UTC+7"))
            .format("%Y-%m")
            .to_string(),
    };
    let p: Period = month
        .parse()
        .map_err(|e: stats::PeriodError| ApiError::BadRequest(e.to_string()))?;
    match p {
        Period::Month { .. } => Ok((month, p)),
        _ => Err(ApiError::BadRequest("month is YYYY-MM".into())),
    }
}

/// `GET /console/figures?month=YYYY-MM`: the month's counts and its charts.
pub async fn figures(
    State(state): State<AppState>,
    Operator(s): Operator,
    Query(q): Query<MonthQuery>,
) -> Response {
    let result = async {
        let (month, period) = month_of(&state, &q)?;
        let figures = stats::compute(&state.pipeline, period).await?;
        let mut tables = String::new();
        for (caption, kind, list) in [
            ("Theo kênh", labels::Kind::Channel, &figures.by_channel),
            ("Theo lĩnh vực", labels::Kind::Field, &figures.by_field),
            (
                "Theo kết quả sàng lọc",
                labels::Kind::Verdict,
                &figures.by_verdict,
            ),
            ("Theo trạng thái", labels::Kind::Status, &figures.by_status),
            ("Lý do từ chối", labels::Kind::Code, &figures.by_reason),
            ("Cảnh báo cho IOC", labels::Kind::Code, &figures.by_flag),
        ] {
            let rows: Vec<(String, u64)> = list
                .iter()
                .map(|c| (labels::of_key(kind, &c.key).to_string(), c.count))
                .collect();
            tables.push_str(&table(caption, &rows));
        }
        let communes = |list: &[stats::CommuneCount], old: bool| -> Vec<(String, u64)> {
            list.iter()
                .map(|c| {
                    let name = if c.commune == stats::UNKNOWN {
                        labels::NOT_KNOWN.to_string()
                    } else {
                        match (&c.district, old) {
                            (Some(d), true) => format!("{}, {d}", c.commune),
                            _ => c.commune.clone(),
                        }
                    };
                    (name, c.count)
                })
                .collect()
        };
        tables.push_str(&table(
            "Theo xã, phường (trước 2025)",
            &communes(&figures.by_commune_old, true),
        ));
        tables.push_str(&table(
            "Theo xã, phường (sau 2025)",
            &communes(&figures.by_commune_new, false),
        ));
        let total = figures.received.to_string();
        let f = &figures.forwarding;
        let minutes = |m: Option<f64>| match m {
            Some(m) if m >= 60.0 => format!("{:.1} giờ", m / 60.0),
            Some(m) => format!("{m:.0} phút"),
            None => "—".into(),
        };
        let forwarding = format!(
            "<table><caption>Chuyển xử lý</caption>\
             <tr><th scope=\"row\">Đã chuyển cơ quan xử lý</th><td>{}</td></tr>\
             <tr><th scope=\"row\">Thời gian chuyển (giờ hành chính), trung vị</th><td>{}</td></tr>\
             <tr><th scope=\"row\">Thời gian chuyển (giờ hành chính), 90%</th><td>{}</td></tr>\
             <tr><th scope=\"row\">Tỷ lệ đúng hạn</th><td>{}</td></tr>\
             <tr><th scope=\"row\">Quá hạn</th><td>{}</td></tr></table>",
            f.forwarded,
            escape(&minutes(f.working_time.median_minutes)),
            escape(&minutes(f.working_time.p90_minutes)),
            f.on_time_share
                .map(|v| format!("{:.0}%", v * 100.0))
                .unwrap_or_else(|| "—".into()),
            figures.overdue.len(),
        );
        let m = escape(&month);
        let mut charts = String::new();
        for c in Chart::ALL {
            let name = c.name();
            let _ = write!(
                charts,
                "<picture><source media=\"(max-width: 40rem)\" \
                 srcset=\"/console/charts/{name}.svg?month={m}&amp;layout=narrow\">\
                 <img class=\"chart\" src=\"/console/charts/{name}.svg?month={m}\" alt=\"{}\"></picture>",
                escape(chart::subject(c))
            );
        }
        Ok::<_, ApiError>(format!(
            "<h1>Số liệu tháng {m}</h1><p class=\"total\">Tổng số phản ánh: <strong>{}</strong></p>\
             <form method=\"get\" action=\"/console/figures\" class=\"inline\">\
             <label for=\"month\">Tháng</label><input id=\"month\" name=\"month\" value=\"{m}\" pattern=\"[0-9]{{4}}-[0-9]{{2}}\">\
             <button type=\"submit\">Xem</button></form>\
             <div class=\"tables\">{forwarding}{tables}</div><div class=\"charts\">{charts}</div>",
            escape(&total)
        ))
    }
    .await;
    match result {
        Ok(body) => page(StatusCode::OK, "Số liệu", Some(&s), &body),
        Err(e) => error_page(e, Some(&s)),
    }
}

/// A two-column table of named counts.
fn table(caption: &str, rows: &[(String, u64)]) -> String {
    let mut out = String::new();
    for (name, count) in rows {
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{}</th><td>{count}</td></tr>",
            escape(name)
        );
    }
    if rows.is_empty() {
        out.push_str("<tr><td colspan=\"2\">Không có</td></tr>");
    }
    format!("<table><caption>{}</caption>{out}</table>", escape(caption))
}

/// `GET /console/charts/{file}?month=&layout=narrow`: a chart of the figures, for a logged-in
/// operator (`narrow`: laid out for a phone).
pub async fn chart(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(file): Path<String>,
    Query(q): Query<MonthQuery>,
) -> Response {
    let result = async {
        if session(&state, &headers).await?.is_none() {
            return Err(ApiError::Unauthorized);
        }
        let not_found = || ApiError::NotFound(format!("no chart `{file}`"));
        let (name, ext) = file.rsplit_once('.').ok_or_else(not_found)?;
        let which = Chart::from_name(name).ok_or_else(not_found)?;
        let image = match ext {
            "svg" => ImageFormat::Svg,
            "png" => ImageFormat::Png,
            _ => return Err(not_found()),
        };
        let layout = match q.layout.as_deref() {
            None => Layout::Wide,
            Some(l) => Layout::from_name(l)
                .ok_or_else(|| ApiError::BadRequest(format!("unknown layout {l}")))?,
        };
        let (_, period) = month_of(&state, &q)?;
        let figures = stats::compute(&state.pipeline, period).await?;
        let bytes = tokio::task::spawn_blocking(move || {
            chart::render_as(which, image, layout, period, &figures)
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
        let mut res = bytes.into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(image.content_type()),
        );
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok(res)
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    res
}

pub async fn css() -> Response {
    asset(CSS, "text/css; charset=utf-8")
}

pub async fn js() -> Response {
    asset(JS, "text/javascript; charset=utf-8")
}
