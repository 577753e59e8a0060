//! A fake Zalo for tests: one axum server on 127.0.0.1:0 that behaves as `ZALO.md` says.
//!
//! - signs webhook events (`X-ZEvent-Signature: mac=…`) and posts them to the gateway, retrying
//!   with a `num_retry` header as Zalo does;
//! - serves media URLs (`/media/<name>`), any of them failing with a status, hanging, or
//!   answering slowly, and records when each was requested;
//! - answers `POST /v3.0/oa/message/cs` (checks the `access_token` header; error codes can be
//!   scripted; `-216` once the current token was expired by the test);
//! - rotates tokens at `POST /v4/oa/access_token` (form body, `secret_key` header, single-use
//!   refresh tokens);
//! - exchanges mini-app tokens at `GET /v2.0/me` and `GET /v2.0/me/info`;
//! - records everything it got.
//!
//! Used by the gateway's integration tests (`tests/zalo/`) and, through `#[path]`, by the unit
//! tests of `channels::zalo`; it depends only on axum, tokio, reqwest, serde_json, sha2 and hex.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use sha2::{Digest, Sha256};

pub const APP_ID: &str = "3608465249409039";
pub const OA_SECRET_KEY: &str = "fake-oa-secret-key";
pub const APP_SECRET: &str = "fake-app-secret";
pub const OA_ID: &str = "388613280878808645";
pub const FIRST_ACCESS_TOKEN: &str = "access-0";
pub const FIRST_REFRESH_TOKEN: &str = "refresh-0";

/// One `/v3.0/oa/message/cs` call as received.
#[derive(Debug, Clone)]
pub struct CsCall {
    pub access_token: String,
    pub body: serde_json::Value,
    /// The error code answered (0: sent).
    pub answered: i64,
}

impl CsCall {
    pub fn user_id(&self) -> &str {
        self.body["recipient"]["user_id"].as_str().unwrap_or("")
    }
    pub fn text(&self) -> Option<&str> {
        self.body["message"]["text"].as_str()
    }
    pub fn template_type(&self) -> Option<&str> {
        self.body["message"]["attachment"]["payload"]["template_type"].as_str()
    }
}

#[derive(Default)]
struct Inner {
    access_token: String,
    refresh_token: String,
    generation: u32,
    /// Error codes to answer to the next `/message/cs` calls, in order.
    cs_errors: VecDeque<i64>,
    cs_calls: Vec<CsCall>,
    refresh_calls: Vec<HashMap<String, String>>,
    media: HashMap<String, (String, Vec<u8>)>,
    media_hits: u32,
    /// Media names answered with this status instead of their bytes.
    media_status: HashMap<String, u16>,
    /// Media names answered only after this long (a slow CDN).
    media_delay: HashMap<String, std::time::Duration>,
    /// Every media request: the name and when it came.
    media_log: Vec<(String, std::time::Instant)>,
    miniapp_users: HashMap<String, serde_json::Value>,
    info_tokens: HashMap<String, serde_json::Value>,
    info_calls: Vec<(String, String)>,
}

/// The running fake.
#[derive(Clone)]
pub struct FakeZalo {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    http: reqwest::Client,
}

impl FakeZalo {
    pub async fn start() -> FakeZalo {
        let inner = Arc::new(Mutex::new(Inner {
            access_token: FIRST_ACCESS_TOKEN.into(),
            refresh_token: FIRST_REFRESH_TOKEN.into(),
            ..Inner::default()
        }));
        let app = Router::new()
            .route("/v3.0/oa/message/cs", post(message_cs))
            .route("/v4/oa/access_token", post(access_token))
            .route("/v2.0/me", get(me))
            .route("/v2.0/me/info", get(me_info))
            .route("/media/{name}", get(media))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake Zalo");
        let addr = listener.local_addr().expect("fake Zalo address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeZalo {
            addr,
            inner,
            http: reqwest::Client::new(),
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The `[zalo]` section that points the channels at this fake, as JSON (this file is built
    /// into two crates, which name `ZaloConfig` differently).
    pub fn zalo_section(&self) -> serde_json::Value {
        serde_json::json!({
            "app_id": APP_ID,
            "oa_secret_key": OA_SECRET_KEY,
            "app_secret": APP_SECRET,
            "access_token": FIRST_ACCESS_TOKEN,
            "refresh_token": FIRST_REFRESH_TOKEN,
            "api_base": self.base_url(),
            "oauth_base": self.base_url(),
            "graph_base": self.base_url(),
            "media_hosts": ["127.0.0.1"],
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Serve `bytes` at a media URL, returned.
    pub fn add_media(&self, name: &str, content_type: &str, bytes: Vec<u8>) -> String {
        self.lock()
            .media
            .insert(name.to_string(), (content_type.to_string(), bytes));
        format!("{}/media/{name}", self.base_url())
    }

    /// Make the media URL `name` answer `status` (404 gone, 500 CDN down...; 0: never answer),
    /// returned.
    pub fn fail_media(&self, name: &str, status: u16) -> String {
        self.lock().media_status.insert(name.to_string(), status);
        format!("{}/media/{name}", self.base_url())
    }

    /// Serve `bytes` at a media URL, returned, but answer each request only after `delay`.
    pub fn add_slow_media(
        &self,
        name: &str,
        content_type: &str,
        bytes: Vec<u8>,
        delay: std::time::Duration,
    ) -> String {
        self.lock().media_delay.insert(name.to_string(), delay);
        self.add_media(name, content_type, bytes)
    }

    /// When each request for the media URL `name` came, in order.
    pub fn media_requests(&self, name: &str) -> Vec<std::time::Instant> {
        self.lock()
            .media_log
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, at)| *at)
            .collect()
    }

    pub fn media_hits(&self) -> u32 {
        self.lock().media_hits
    }

    /// The next `/message/cs` calls answer these error codes (with HTTP 200), in order.
    pub fn script_cs_errors(&self, codes: &[i64]) {
        self.lock().cs_errors.extend(codes.iter().copied());
    }

    /// The current access token stops working (the next call gets -216).
    pub fn expire_access_token(&self) {
        let mut i = self.lock();
        i.access_token = format!("expired-{}", i.generation);
    }

    pub fn cs_calls(&self) -> Vec<CsCall> {
        self.lock().cs_calls.clone()
    }

    /// Messages delivered (answered 0) to `user_id`.
    pub fn delivered_to(&self, user_id: &str) -> Vec<CsCall> {
        self.cs_calls()
            .into_iter()
            .filter(|c| c.answered == 0 && c.user_id() == user_id)
            .collect()
    }

    /// The texts the OA sent `user_id` (a form shows as "[form]"), once `done` holds of them;
    /// panics after 10 s with every call made.
    pub async fn wait_said(&self, user_id: &str, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        for _ in 0..400 {
            let said: Vec<String> = self
                .delivered_to(user_id)
                .iter()
                .map(|c| c.text().unwrap_or("[form]").to_string())
                .collect();
            if done(&said) {
                return said;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!(
            "{user_id} was not told what was awaited: {:#?}",
            self.cs_calls()
        );
    }

    pub fn refresh_calls(&self) -> Vec<HashMap<String, String>> {
        self.lock().refresh_calls.clone()
    }

    pub fn current_tokens(&self) -> (String, String) {
        let i = self.lock();
        (i.access_token.clone(), i.refresh_token.clone())
    }

    /// A mini-app user known by its access token.
    pub fn add_miniapp_user(&self, access_token: &str, id: &str, name: &str) {
        self.lock().miniapp_users.insert(
            access_token.to_string(),
            serde_json::json!({"id": id, "name": name, "picture": {"data": {"url": "https://s120.avatar.talk.zdn.vn/x.jpg"}}}),
        );
    }

    /// A phone or location token and the `data` it exchanges for (single-use).
    pub fn add_info_token(&self, code: &str, data: serde_json::Value) {
        self.lock().info_tokens.insert(code.to_string(), data);
    }

    pub fn info_calls(&self) -> Vec<(String, String)> {
        self.lock().info_calls.clone()
    }

    /// The signature header Zalo would send with `body`.
    pub fn sign(body: &str) -> String {
        let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        let app_id = v["app_id"].as_str().unwrap_or("");
        let ts = v["timestamp"].as_str().unwrap_or("");
        let mut h = Sha256::new();
        h.update(app_id.as_bytes());
        h.update(body.as_bytes());
        h.update(ts.as_bytes());
        h.update(OA_SECRET_KEY.as_bytes());
        format!("mac={}", hex::encode(h.finalize()))
    }

    /// Post one signed event to the gateway's webhook; `num_retry` as Zalo sets it on retries.
    pub async fn post_event(
        &self,
        webhook_url: &str,
        body: &str,
        num_retry: Option<u32>,
    ) -> StatusCode {
        self.post_event_signed(webhook_url, body, &Self::sign(body), num_retry)
            .await
    }

    pub async fn post_event_signed(
        &self,
        webhook_url: &str,
        body: &str,
        signature: &str,
        num_retry: Option<u32>,
    ) -> StatusCode {
        let mut req = self
            .http
            .post(webhook_url)
            .header("content-type", "application/json")
            .header("X-ZEvent-Signature", signature)
            .body(body.to_string());
        if let Some(n) = num_retry {
            req = req.header("num_retry", n.to_string());
        }
        let status = req.send().await.map(|r| r.status().as_u16()).unwrap_or(0);
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY)
    }

    /// Deliver an event as Zalo does: retry (without the 30 s…1 h waits) until 200, at most
    /// `attempts` times. Returns the statuses seen.
    pub async fn deliver(&self, webhook_url: &str, body: &str, attempts: u32) -> Vec<StatusCode> {
        let mut seen = Vec::new();
        for n in 0..attempts {
            let s = self
                .post_event(webhook_url, body, (n > 0).then_some(n))
                .await;
            seen.push(s);
            if s == StatusCode::OK {
                break;
            }
        }
        seen
    }
}

/// Webhook event bodies as Zalo sends them (ids and timestamp as strings).
pub mod events {
    use super::{APP_ID, OA_ID};

    fn envelope(user: &str, name: &str, ms: i64, message: serde_json::Value) -> String {
        serde_json::json!({
            "app_id": APP_ID,
            "sender": {"id": user},
            "user_id_by_app": format!("app-{user}"),
            "recipient": {"id": OA_ID},
            "event_name": name,
            "message": message,
            "timestamp": ms.to_string(),
        })
        .to_string()
    }

    pub fn text(user: &str, msg_id: &str, text: &str, ms: i64) -> String {
        envelope(
            user,
            "user_send_text",
            ms,
            serde_json::json!({"msg_id": msg_id, "text": text}),
        )
    }

    pub fn image(user: &str, msg_id: &str, url: &str, ms: i64) -> String {
        envelope(
            user,
            "user_send_image",
            ms,
            serde_json::json!({"msg_id": msg_id, "attachments": [
                {"type": "image", "payload": {"url": url, "thumbnail": url}}]}),
        )
    }

    pub fn location(user: &str, msg_id: &str, lat: &str, lon: &str, ms: i64) -> String {
        envelope(
            user,
            "user_send_location",
            ms,
            serde_json::json!({"msg_id": msg_id, "attachments": [
                {"type": "location", "payload": {"coordinates": {"latitude": lat, "longitude": lon}}}]}),
        )
    }

    pub fn submit_info(user: &str, name: &str, phone: &str, ms: i64) -> String {
        serde_json::json!({
            "app_id": APP_ID,
            "sender": {"id": user},
            "recipient": {"id": OA_ID},
            "event_name": "user_submit_info",
            "timestamp": ms.to_string(),
            "info": {"name": name, "phone": phone, "full_address": {
                "user_city": "Tây Ninh", "user_ward": "Phường Long An", "user_address": "12 Nguyễn Huệ"}},
        })
        .to_string()
    }

    /// The echo Zalo sends for a message the OA sent.
    pub fn oa_echo(user: &str, msg_id: &str, text: &str, ms: i64) -> String {
        serde_json::json!({
            "app_id": APP_ID,
            "sender": {"id": OA_ID},
            "recipient": {"id": user},
            "event_name": "oa_send_text",
            "message": {"msg_id": msg_id, "text": text},
            "timestamp": ms.to_string(),
        })
        .to_string()
    }
}

type Shared = State<Arc<Mutex<Inner>>>;

fn locked(s: &Arc<Mutex<Inner>>) -> std::sync::MutexGuard<'_, Inner> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

async fn message_cs(State(s): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let token = headers
        .get("access_token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let mut i = locked(&s);
    let answered = if token != i.access_token {
        -216
    } else {
        i.cs_errors.pop_front().unwrap_or(0)
    };
    i.cs_calls.push(CsCall {
        access_token: token,
        body: body.clone(),
        answered,
    });
    let n = i.cs_calls.len();
    if answered == 0 {
        Json(
            serde_json::json!({"data": {"message_id": format!("oa-msg-{n}"),
            "user_id": body["recipient"]["user_id"]}, "error": 0, "message": "Success"}),
        )
        .into_response()
    } else {
        Json(serde_json::json!({"error": answered, "message": format!("fake error {answered}")}))
            .into_response()
    }
}

async fn access_token(State(s): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let form: HashMap<String, String> = String::from_utf8_lossy(&body)
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace('+', " ")))
        .collect();
    let mut i = locked(&s);
    i.refresh_calls.push(form.clone());
    let secret_ok = headers.get("secret_key").and_then(|v| v.to_str().ok()) == Some(APP_SECRET);
    let valid = secret_ok
        && form.get("grant_type").map(String::as_str) == Some("refresh_token")
        && form.get("app_id").map(String::as_str) == Some(APP_ID)
        && form.get("refresh_token") == Some(&i.refresh_token);
    if !valid {
        return Json(serde_json::json!({"error": -14014, "error_name": "Invalid refresh token"}))
            .into_response();
    }
    i.generation += 1;
    i.access_token = format!("access-{}", i.generation);
    i.refresh_token = format!("refresh-{}", i.generation);
    Json(
        serde_json::json!({"access_token": i.access_token, "refresh_token": i.refresh_token,
        "expires_in": "90000"}),
    )
    .into_response()
}

async fn me(
    State(s): Shared,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let token = headers
        .get("access_token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let i = locked(&s);
    match i.miniapp_users.get(token) {
        Some(u) if q.get("fields").is_some_and(|f| f.contains("id")) => {
            Json(u.clone()).into_response()
        }
        _ => Json(serde_json::json!({"error": 452, "message": "Access token is invalid"}))
            .into_response(),
    }
}

async fn me_info(State(s): Shared, headers: HeaderMap) -> Response {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let (token, code, secret) = (h("access_token"), h("code"), h("secret_key"));
    let mut i = locked(&s);
    i.info_calls.push((token.clone(), code.clone()));
    let known_user = i.miniapp_users.contains_key(&token);
    if secret != APP_SECRET || !known_user {
        return Json(serde_json::json!({"error": -501, "message": "invalid"})).into_response();
    }
    match i.info_tokens.remove(&code) {
        Some(data) => Json(serde_json::json!({"data": data, "error": 0, "message": "Success"}))
            .into_response(),
        None => {
            Json(serde_json::json!({"error": -1404, "message": "code expired"})).into_response()
        }
    }
}

async fn media(State(s): Shared, Path(name): Path<String>) -> Response {
    let (hang, delay) = {
        let mut i = locked(&s);
        i.media_hits += 1;
        i.media_log.push((name.clone(), std::time::Instant::now()));
        (
            i.media_status.get(&name) == Some(&0),
            i.media_delay.get(&name).copied(),
        )
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    if hang {
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
        return StatusCode::GATEWAY_TIMEOUT.into_response();
    }
    let i = locked(&s);
    if let Some(status) = i.media_status.get(&name) {
        return StatusCode::from_u16(*status)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            .into_response();
    }
    match i.media.get(&name) {
        Some((ct, bytes)) => (
            StatusCode::OK,
            [(axum::http::header::CONTENT_TYPE, ct.clone())],
            bytes.clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
