//! The IOC's web console at `/console` (R-Q-3, issue 13 point 3): login with the accounts of
//! `[console]` (argon2id hashes), the pre-screened reports with their running deadlines, a
//! report's page with its actions (message the citizen, move it along the trail, block the
//! sender), and the month's figures with their charts.
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
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use chrono::{DateTime, Utc};
use normalizers::conversation::{MessageKind, NewMessage};
use normalizers::report::Report;
use normalizers::trail::{self, TrailStatus, Transition};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::track::{escape, SourceIp};
use super::{ApiError, AppState};
use crate::blocklist::BlockRequest;
use crate::publication;
use crate::stats::chart::{self, Chart, ImageFormat};
use crate::stats::{self, Period};

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

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// The session of a POST whose form carries its CSRF token; 403 otherwise (no session: 303 to
/// the login page).
async fn posted(state: &AppState, headers: &HeaderMap, csrf: &str) -> Result<Session, Response> {
    let s = match session(state, headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return Err(see_other("/console")),
        Err(e) => return Err(error_page(e, None)),
    };
    if csrf.is_empty() || !bool::from(s.csrf.as_bytes().ct_eq(csrf.as_bytes())) {
        return Err(page(
            StatusCode::FORBIDDEN,
            "Không hợp lệ",
            Some(&s),
            "<p class=\"error\" role=\"alert\">Biểu mẫu đã hết hạn hoặc không hợp lệ. Xin tải lại trang.</p>",
        ));
    }
    Ok(s)
}

/// `POST /console/logout`.
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(res) = posted(&state, &headers, &form.csrf).await {
        return res;
    }
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

fn name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
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

fn verdict_label(r: &Report) -> (&'static str, &'static str) {
    use normalizers::validate::Status;
    let s = r.verdict.status;
    let label = match s {
        Status::Accepted => "Hợp lệ",
        Status::NeedsReview => "Cần xem xét",
        Status::Rejected => "Bị từ chối",
        Status::Pending => "Đang chờ",
    };
    (s.as_str(), label)
}

fn verdict_badge(r: &Report) -> String {
    let (class, label) = verdict_label(r);
    format!("<span class=\"verdict v-{class}\">{}</span>", escape(label))
}

fn status_badge(st: TrailStatus) -> String {
    format!(
        "<span class=\"status\">{}</span>",
        escape(normalizers::messages::trail::status_label(st))
    )
}

fn kind_label(k: MessageKind) -> &'static str {
    MESSAGE_KINDS
        .iter()
        .find(|(m, _)| *m == k)
        .map(|(_, l)| *l)
        .unwrap_or("Khác")
}

fn place(r: &Report) -> String {
    match &r.location.admin {
        Some(a) => format!(
            "{} → {}",
            escape(a.old_commune.as_deref().unwrap_or("?")),
            escape(a.new_commune.as_deref().unwrap_or("?"))
        ),
        None => "chưa xác định".to_string(),
    }
}

fn findings(r: &Report) -> String {
    let mut out = String::new();
    for (class, list) in [("reason", &r.verdict.reasons), ("flag", &r.verdict.flags)] {
        for f in list {
            let _ = write!(
                out,
                "<li class=\"{class}\"><code>{}</code> {}</li>",
                escape(&name(&f.code)),
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

/// `GET /console`: the login page, or the reports with a running deadline (overdue first).
pub async fn queue(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let s = match session(&state, &headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return login_page(StatusCode::OK, None),
        Err(e) => return error_page(e, None),
    };
    match render_queue(&state).await {
        Ok(body) => page(StatusCode::OK, "Hàng đợi", Some(&s), &body),
        Err(e) => error_page(e, Some(&s)),
    }
}

async fn render_queue(state: &AppState) -> Result<String, ApiError> {
    let now = state.pipeline.now();
    let due = state.pipeline.due(chrono::Duration::days(60), 200).await?;
    let mut rows = String::new();
    for d in &due {
        let Some(r) = state.pipeline.report(&d.report_id).await? else {
            continue;
        };
        let _ = write!(
            rows,
            "<li class=\"report\"><a class=\"open\" href=\"/console/reports/{id}\">{code}</a> \
             {verdict} {status} {countdown}{dups}\
             <p class=\"desc\">{desc}</p><p class=\"place\">{place}</p>{findings}\
             <div class=\"thumbs\">{thumbs}</div>{answers}</li>",
            id = escape(&r.id),
            code = escape(&r.tracking_code),
            verdict = verdict_badge(&r),
            status = status_badge(d.status),
            countdown = countdown(d.due_by, now),
            dups = if r.verdict.duplicate_of.is_empty() {
                String::new()
            } else {
                " <span class=\"dup\">có thể trùng</span>".to_string()
            },
            desc = escape(&excerpt(&r.content.text, 200)),
            place = place(&r),
            findings = findings(&r),
            thumbs = thumbnails(&r),
            answers = if r.answers.is_empty() {
                String::new()
            } else {
                format!(
                    "<p class=\"answers\">{} trả lời của người dân</p>",
                    r.answers.len()
                )
            },
        );
    }
    if rows.is_empty() {
        rows = "<li>Không có phản ánh nào đang chờ xử lý.</li>".into();
    }
    Ok(format!(
        "<h1>Phản ánh đang chờ xử lý</h1><ul class=\"queue\">{rows}</ul>"
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
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let s = match session(&state, &headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return see_other("/console"),
        Err(e) => return error_page(e, None),
    };
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
         <dt>Địa bàn (cũ → mới)</dt><dd>{place}</dd><dt>Người phản ánh</dt><dd>{contact}</dd></dl>\
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
        channel = escape(r.channel.as_str()),
        received = escape(&local(r.received_at)),
        place = place(r),
        thumbs = thumbnails(r),
    )
}

#[derive(Debug, Deserialize)]
pub struct MessageForm {
    #[serde(default)]
    pub csrf: String,
    pub kind: String,
    pub text: String,
}

/// `POST /console/reports/{id}/messages`: send a message to the citizen.
pub async fn message(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<MessageForm>,
) -> Response {
    let s = match posted(&state, &headers, &form.csrf).await {
        Ok(s) => s,
        Err(res) => return res,
    };
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
            .await?;
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
    #[serde(default)]
    pub csrf: String,
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

/// `POST /console/reports/{id}/status`: a step along the trail.
pub async fn status(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<StatusForm>,
) -> Response {
    let s = match posted(&state, &headers, &form.csrf).await {
        Ok(s) => s,
        Err(res) => return res,
    };
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
            .await?;
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
    #[serde(default)]
    pub csrf: String,
    pub reason: String,
}

/// `POST /console/reports/{id}/block`: block the report's sender (phone, else email, else the
/// channel's account); the identity is taken from the report, never from the form.
pub async fn block(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<BlockForm>,
) -> Response {
    let s = match posted(&state, &headers, &form.csrf).await {
        Ok(s) => s,
        Err(res) => return res,
    };
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
    headers: HeaderMap,
    Query(q): Query<MonthQuery>,
) -> Response {
    let s = match session(&state, &headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return see_other("/console"),
        Err(e) => return error_page(e, None),
    };
    let result = async {
        let (month, period) = month_of(&state, &q)?;
        let figures = stats::compute(&state.pipeline, period).await?;
        let mut tables = String::new();
        for (caption, list) in [
            ("Theo kênh", &figures.by_channel),
            ("Theo lĩnh vực", &figures.by_field),
            ("Theo kết quả sàng lọc", &figures.by_verdict),
            ("Theo trạng thái", &figures.by_status),
        ] {
            let mut rows = String::new();
            for c in list {
                let _ = write!(
                    rows,
                    "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
                    escape(&c.key),
                    c.count
                );
            }
            let _ = write!(
                tables,
                "<table><caption>{}</caption>{rows}</table>",
                escape(caption)
            );
        }
        let total = figures.received.to_string();
        let m = escape(&month);
        let mut charts = String::new();
        for c in ["by-channel", "by-field", "daily"] {
            let _ = write!(
                charts,
                "<img class=\"chart\" src=\"/console/charts/{c}.svg?month={m}\" alt=\"{c}\">"
            );
        }
        Ok::<_, ApiError>(format!(
            "<h1>Số liệu tháng {m}</h1><p class=\"total\">Tổng số phản ánh: <strong>{}</strong></p>\
             <form method=\"get\" action=\"/console/figures\" class=\"inline\">\
             <label for=\"month\">Tháng</label><input id=\"month\" name=\"month\" value=\"{m}\" pattern=\"[0-9]{{4}}-[0-9]{{2}}\">\
             <button type=\"submit\">Xem</button></form>\
             <div class=\"tables\">{tables}</div><div class=\"charts\">{charts}</div>",
            escape(&total)
        ))
    }
    .await;
    match result {
        Ok(body) => page(StatusCode::OK, "Số liệu", Some(&s), &body),
        Err(e) => error_page(e, Some(&s)),
    }
}

/// `GET /console/charts/{file}?month=`: a chart of the figures, for a logged-in operator.
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
        let (_, period) = month_of(&state, &q)?;
        let figures = stats::compute(&state.pipeline, period).await?;
        let bytes =
            tokio::task::spawn_blocking(move || chart::render(which, image, period, &figures))
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
