//! `POST /v1/zalo/miniapp/reports`: a report from the mini app "Long An Số" (R-CH-ZALO-MINIAPP).
//!
//! A `multipart/form-data` request with the parts:
//! - `access_token`: the mini app's `getAccessToken()` token (or header `X-Zalo-Access-Token`);
//! - `phone_token`, `location_token` (optional): tokens of `getPhoneNumber()`/`getLocation()`;
//! - `report`: JSON [`MiniappSubmission`];
//! - `camera` (files captured with the in-app camera) and `media` (files picked from the
//!   library), in any number.
//!
//! Every file records its upload time as `sent_at`. Only a `camera` file is a capture the channel
//! vouches for (`captured_at_source = miniapp_camera`, at the upload time, when the file carries
//! no capture time of its own), and only once Zalo verified the request's access token: the
//! vouch is made from the [`VerifiedCaller`] that the token exchange alone returns. A library
//! file without EXIF is of unknown capture time (MEDIA_TIME_UNKNOWN) like any other.
//!
//! Identity, phone and location are never taken from the client: the tokens are exchanged with
//! Zalo (`/v2.0/me`, `/v2.0/me/info`). `Idempotency-Key` makes retries safe.
//!
//! **Verify first.** The access token must arrive before any file: in the header
//! `X-Zalo-Access-Token`, or as an `access_token` part placed before every `camera`/`media`
//! part. It is verified with Zalo before the first byte of a file is written; a file part before
//! any token is refused (400); each non-file part may come once (a repeat is 400). Files are streamed to the staging folder and fsynced
//! ([`crate::staging::StagingWriter`]) before the report is handed over, and deleted on every
//! path that does not hand them over (an error, a dropped connection, a failed ingest). At most
//! `zalo.miniapp_uploads` verified requests stream files at once; one more gets 503 with
//! `Retry-After`.
//!
//! Answers: 200 with the outcome (`status` accepted | needs_review | rejected, `reasons`,
//! `flags`), 400 malformed (or a file before the token), 401 token missing or refused, 413 too
//! large, 429 with `Retry-After` past a rate limit of the address (checked before anything is
//! read) or of the Zalo user and phone (`rate_limits.miniapp`), 503 unavailable, shutting down, or every upload place taken (with `Retry-After`).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use normalizers::report::{Channel, Coordinates, Envelope, VouchedCapture};
use normalizers::zalo::{normalize_miniapp, MiniappIdentity, MiniappSubmission};
use sha2::{Digest, Sha256};
use tokio::sync::OwnedSemaphorePermit;

use crate::context::ChannelStorage;
use crate::intake::{
    error_chain, BoxError, IngestError, Intake, MediaInput, MediaSource, Origin, Submission,
};
use crate::ratelimit::{Admission, AdmitRequest, ClientIp, Limited, Subjects};
use crate::staging::{StagedFile, StagingWriter};
use normalizers::identity::Identity;

use super::ZaloChannel;

/// Largest non-file part (the report JSON, a token).
const MAX_FIELD_BYTES: usize = 64 * 1024;
/// Most files in one report.
const MAX_FILES: usize = 20;

/// An error answer of the mini-app endpoint.
#[derive(Debug, thiserror::Error)]
pub enum MiniappApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("the gateway is shutting down")]
    ShuttingDown,
    /// Every upload place (`zalo.miniapp_uploads`) is taken: retry after `Retry-After`.
    #[error("too many uploads at once; retry shortly")]
    Busy,
    /// Past a rate limit of this Zalo user or address (`rate_limits.miniapp`): 429 with
    /// `Retry-After`.
    #[error("too many reports in a short time; retry after {} seconds", .0.retry_after_secs())]
    RateLimited(Limited),
    /// Storage or Zalo failed: nothing was stored, the mini app retries.
    #[error("{what} unavailable; nothing was stored, retry later")]
    Unavailable {
        what: &'static str,
        #[source]
        source: BoxError,
    },
    /// A bug in the gateway (not the caller's fault).
    #[error("internal error")]
    Internal(#[source] BoxError),
}

impl MiniappApiError {
    fn unavailable(what: &'static str, source: impl Into<BoxError>) -> Self {
        MiniappApiError::Unavailable {
            what,
            source: source.into(),
        }
    }
}

impl IntoResponse for MiniappApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            MiniappApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            MiniappApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            MiniappApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            MiniappApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            MiniappApiError::ShuttingDown
            | MiniappApiError::Busy
            | MiniappApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            MiniappApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if let MiniappApiError::Unavailable { .. } | MiniappApiError::Internal(_) = &self {
            tracing::error!(error = %error_chain(&self), "mini-app report not taken");
        }
        if let MiniappApiError::RateLimited(limited) = &self {
            let secs = limited.retry_after_secs();
            let body = Json(serde_json::json!({
                "error": self.to_string(),
                "message_vi": crate::templates::zalo::miniapp_rate_limited(secs),
            }));
            let retry = [(axum::http::header::RETRY_AFTER, secs.to_string())];
            return (status, retry, body).into_response();
        }
        let body = Json(serde_json::json!({ "error": self.to_string() }));
        if let MiniappApiError::Busy = &self {
            let retry = [(
                axum::http::header::RETRY_AFTER,
                BUSY_RETRY_AFTER_SECS.to_string(),
            )];
            return (status, retry, body).into_response();
        }
        (status, body).into_response()
    }
}

/// How long a mini app is asked to wait when every upload place is taken.
const BUSY_RETRY_AFTER_SECS: u64 = 5;

struct Upload {
    /// Deleted when dropped, on every exit path, unless handed to the intake.
    file: StagedFile,
    file_name: Option<String>,
    content_type: Option<String>,
    camera: bool,
    sha256: String,
}

/// A request read whole: the caller verified by Zalo, its fields and its staged files.
struct Received {
    access_token: String,
    caller: VerifiedCaller,
    phone_token: Option<String>,
    location_token: Option<String>,
    report: Option<Vec<u8>>,
    files: Vec<Upload>,
    /// The upload place, held until the files are committed or deleted.
    _place: Option<OwnedSemaphorePermit>,
}

pub(crate) async fn handle<I: Intake, S: ChannelStorage>(
    State(ch): State<Arc<ZaloChannel<I, S>>>,
    ClientIp(client_ip): ClientIp,
    headers: HeaderMap,
    multipart: Multipart,
) -> Response {
    if ch.shutting_down() {
        return MiniappApiError::ShuttingDown.into_response();
    }
    // The address is limited before anything is read or asked of Zalo.
    if let Some(ip) = client_ip {
        let request = AdmitRequest {
            channel: Channel::ZaloMiniapp,
            dedup_key: None,
            subjects: Subjects {
                source: Some(ip.to_string()),
                ..Subjects::default()
            },
        };
        match ch.intake.admit(request).await {
            Ok(Admission::Admitted) => {}
            Ok(Admission::Limited(limited)) => {
                return MiniappApiError::RateLimited(limited).into_response()
            }
            Err(e) => return MiniappApiError::unavailable("storage", e).into_response(),
        }
    }
    let header_token = headers
        .get("x-zalo-access-token")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    let idempotency = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 200)
        .map(str::to_string);
    // Whatever happens below (an error, the client hanging up and this future being dropped),
    // the staged files are owned by `Upload`s and deleted unless the intake took them.
    let received = match read_parts(&ch, header_token, multipart).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    match submit(&ch, received, idempotency).await {
        Ok(body) => (StatusCode::OK, Json(body)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Read the form. The access token (header, or an `access_token` part before any file) is
/// verified with Zalo before the first file byte is written; a file part before any token is
/// refused. Unauthenticated callers can make the gateway hold at most the small parts
/// ([`MAX_FIELD_BYTES`] each, each at most once) in memory, and nothing on disk.
async fn read_parts<I: Intake, S: ChannelStorage>(
    ch: &ZaloChannel<I, S>,
    header_token: Option<String>,
    mut multipart: Multipart,
) -> Result<Received, MiniappApiError> {
    let mut field_token: Option<String> = None;
    let mut verified: Option<(String, VerifiedCaller)> = None;
    let mut place: Option<OwnedSemaphorePermit> = None;
    let mut phone_token = None;
    let mut location_token = None;
    let mut report = None;
    let mut files: Vec<Upload> = Vec::new();
    let mut seen: Vec<&'static str> = Vec::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return Err(if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    MiniappApiError::TooLarge(e.body_text())
                } else {
                    MiniappApiError::BadRequest(format!(
                        "malformed multipart body: {}",
                        e.body_text()
                    ))
                })
            }
        };
        let name = field.name().unwrap_or_default().to_string();
        match name.as_str() {
            "camera" | "media" => {
                if verified.is_none() {
                    let Some(token) = field_token.clone().or_else(|| header_token.clone()) else {
                        // An empty token sent in its place is a missing token, not a file
                        // out of order.
                        if seen.contains(&"access_token") {
                            return Err(MiniappApiError::Unauthorized(
                                "access_token is required".into(),
                            ));
                        }
                        return Err(MiniappApiError::BadRequest(
                            "the access token must come before any file: send the \
                             `access_token` part first, or the X-Zalo-Access-Token header"
                                .into(),
                        ));
                    };
                    let caller = verify(ch, &token).await?;
                    verified = Some((token, caller));
                }
                if place.is_none() {
                    place = Some(
                        ch.miniapp_uploads
                            .clone()
                            .try_acquire_owned()
                            .map_err(|_| MiniappApiError::Busy)?,
                    );
                }
                if files.len() >= MAX_FILES {
                    return Err(MiniappApiError::BadRequest(format!(
                        "at most {MAX_FILES} files"
                    )));
                }
                files.push(stage_file(ch, field, name == "camera").await?);
            }
            "access_token" | "phone_token" | "location_token" | "report" => {
                let key: &'static str = match name.as_str() {
                    "access_token" => "access_token",
                    "phone_token" => "phone_token",
                    "location_token" => "location_token",
                    _ => "report",
                };
                if seen.contains(&key) {
                    return Err(MiniappApiError::BadRequest(format!(
                        "the `{key}` part is sent more than once"
                    )));
                }
                seen.push(key);
                if key == "access_token" && verified.is_some() {
                    return Err(MiniappApiError::BadRequest(
                        "the `access_token` part must come before any file".into(),
                    ));
                }
                let bytes = read_small(field).await?;
                let text = || String::from_utf8_lossy(&bytes).trim().to_string();
                match key {
                    "access_token" => field_token = Some(text()).filter(|t| !t.is_empty()),
                    "phone_token" => phone_token = Some(text()).filter(|t| !t.is_empty()),
                    "location_token" => location_token = Some(text()).filter(|t| !t.is_empty()),
                    _ => report = Some(bytes),
                }
            }
            other => {
                return Err(MiniappApiError::BadRequest(format!(
                    "unexpected part `{other}`"
                )))
            }
        }
    }
    let (access_token, caller) = match verified {
        Some(v) => v,
        None => {
            let token = field_token
                .or(header_token)
                .ok_or_else(|| MiniappApiError::Unauthorized("access_token is required".into()))?;
            let caller = verify(ch, &token).await?;
            (token, caller)
        }
    };
    Ok(Received {
        access_token,
        caller,
        phone_token,
        location_token,
        report,
        files,
        _place: place,
    })
}

async fn read_small(
    mut field: axum::extract::multipart::Field<'_>,
) -> Result<Vec<u8>, MiniappApiError> {
    let mut out = Vec::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| MiniappApiError::BadRequest(e.body_text()))?
    {
        if out.len() + chunk.len() > MAX_FIELD_BYTES {
            return Err(MiniappApiError::TooLarge(format!(
                "a form field exceeds {MAX_FIELD_BYTES} bytes"
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Stream one file to the staging folder, fsynced before it is handed over (like the API's).
async fn stage_file<I: Intake, S: ChannelStorage>(
    ch: &ZaloChannel<I, S>,
    mut field: axum::extract::multipart::Field<'_>,
    camera: bool,
) -> Result<Upload, MiniappApiError> {
    let file_name = field.file_name().map(str::to_string);
    let content_type = field.content_type().map(str::to_string);
    let io = |e: std::io::Error| MiniappApiError::unavailable("staging", e);
    // Dropped on any early return (or a dropped connection): the partial file is deleted.
    let mut writer = StagingWriter::create(&ch.staging_dir, "miniapp-")
        .await
        .map_err(io)?;
    loop {
        let chunk = match field.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                return Err(if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    MiniappApiError::TooLarge(e.body_text())
                } else {
                    MiniappApiError::BadRequest(e.body_text())
                });
            }
        };
        if writer.size() + chunk.len() as u64 > ch.config.media_max_bytes {
            return Err(MiniappApiError::TooLarge(format!(
                "a file exceeds {} bytes",
                ch.config.media_max_bytes
            )));
        }
        writer.write(&chunk).await.map_err(io)?;
    }
    let done = writer.finish().await.map_err(io)?;
    Ok(Upload {
        file: done.file,
        file_name,
        content_type,
        camera,
        sha256: done.sha256,
    })
}

async fn submit<I: Intake, S: ChannelStorage>(
    ch: &ZaloChannel<I, S>,
    mut received: Received,
    idempotency: Option<String>,
) -> Result<serde_json::Value, MiniappApiError> {
    let report_bytes = received
        .report
        .take()
        .ok_or_else(|| MiniappApiError::BadRequest("the `report` part is required".into()))?;
    let sub: MiniappSubmission = serde_json::from_slice(&report_bytes)
        .map_err(|e| MiniappApiError::BadRequest(format!("report: {e}")))?;
    let identity = enrich(ch, &received).await?;
    let caller = &received.caller;
    let now = ch.intake.now();
    let key = idempotency.unwrap_or_else(|| {
        let mut h = Sha256::new();
        h.update(&report_bytes);
        for f in &received.files {
            h.update(f.sha256.as_bytes());
        }
        hex::encode(h.finalize())
    });
    let dedup_key = format!("zalo_miniapp:{}:{key}", identity.user_id);
    let envelope = Envelope {
        id: String::new(),
        tracking_code: String::new(),
        channel: Channel::ZaloMiniapp,
        channel_ref: Some(key),
        received_at: now,
    };
    let report = normalize_miniapp(envelope, &sub, &identity)
        .map_err(|e| MiniappApiError::BadRequest(e.to_string()))?;
    // The Zalo user and the phone Zalo confirmed; the staged files are deleted when refused.
    let request = AdmitRequest {
        channel: Channel::ZaloMiniapp,
        dedup_key: Some(&dedup_key),
        subjects: Subjects {
            senders: Identity::of_report(&report),
            ..Subjects::default()
        },
    };
    match ch.intake.admit(request).await {
        Ok(Admission::Admitted) => {}
        Ok(Admission::Limited(limited)) => return Err(MiniappApiError::RateLimited(limited)),
        Err(e) => return Err(MiniappApiError::unavailable("storage", e)),
    }
    // The guards stay here until the intake answered: a failed or cancelled ingest deletes the
    // files (the gateway's pipeline does too; deleting twice is harmless), a successful one
    // moved them into storage.
    let media = received
        .files
        .iter()
        .map(|u| MediaInput {
            file_name: u.file_name.clone(),
            claimed_type: u.content_type.clone(),
            source: MediaSource::File(u.file.path().to_path_buf()),
            sent_at: Some(now),
            vouched_capture: u.camera.then(|| caller.camera_capture(now)),
        })
        .collect();
    let submission = Submission {
        dedup_key,
        raw: report_bytes.into(),
        report,
        media,
        origin: Origin::ZaloMiniapp {
            user_id: identity.user_id.clone(),
        },
    };
    let outcome = ch.intake.ingest(submission).await.map_err(|e| match e {
        IngestError::Unavailable(m) => MiniappApiError::unavailable("storage", m),
        IngestError::Invalid(m) => MiniappApiError::BadRequest(m.to_string()),
        IngestError::Internal(m) => MiniappApiError::Internal(m),
    })?;
    for f in &received.files {
        f.file.disarm();
    }
    let finding = |f: &normalizers::validate::Finding| serde_json::json!({"code": f.code, "field": f.field, "message": f.message});
    Ok(serde_json::json!({
        "id": outcome.id,
        "tracking_code": outcome.tracking_code,
        "status": outcome.verdict.status.as_str(),
        "reasons": outcome.verdict.reasons.iter().map(finding).collect::<Vec<_>>(),
        "flags": outcome.verdict.flags.iter().map(finding).collect::<Vec<_>>(),
        "replayed": outcome.replayed,
    }))
}

/// The caller's identity as Zalo confirmed it. Only [`exchange`] makes one, after Zalo accepted
/// the access token: what the request vouches for is derived from it.
struct VerifiedCaller(MiniappIdentity);

impl VerifiedCaller {
    /// A photo or video this verified caller took with the mini app's in-app camera and
    /// uploaded at `uploaded_at`.
    fn camera_capture(&self, uploaded_at: chrono::DateTime<chrono::Utc>) -> VouchedCapture {
        VouchedCapture::MiniappCamera(uploaded_at)
    }
}

/// Verify the mini app's access token with Zalo (ZALO.md §3, `/v2.0/me`).
async fn verify<I: Intake, S: ChannelStorage>(
    ch: &ZaloChannel<I, S>,
    access_token: &str,
) -> Result<VerifiedCaller, MiniappApiError> {
    let base = ch.config.graph_base.trim_end_matches('/');
    let timeout = Duration::from_secs(ch.config.api_timeout_secs);
    let unavailable = |e: reqwest::Error| MiniappApiError::unavailable("Zalo", e.without_url());
    let me: serde_json::Value = ch
        .api_http
        .get(format!("{base}/v2.0/me"))
        .query(&[("fields", "id,name,picture")])
        .header("access_token", access_token)
        .timeout(timeout)
        .send()
        .await
        .map_err(unavailable)?
        .json()
        .await
        .map_err(unavailable)?;
    let user_id = me
        .get("id")
        .and_then(json_string)
        .filter(|id| !id.is_empty() && zalo_ok(&me))
        .ok_or_else(|| MiniappApiError::Unauthorized("access_token refused by Zalo".into()))?;
    Ok(VerifiedCaller(MiniappIdentity {
        user_id,
        display_name: me.get("name").and_then(|n| n.as_str()).map(str::to_string),
        phone: None,
        location: None,
    }))
}

/// The verified identity with the phone and location the request's tokens give (exchanged with
/// Zalo, `/v2.0/me/info`).
async fn enrich<I: Intake, S: ChannelStorage>(
    ch: &ZaloChannel<I, S>,
    received: &Received,
) -> Result<MiniappIdentity, MiniappApiError> {
    let base = ch.config.graph_base.trim_end_matches('/');
    let timeout = Duration::from_secs(ch.config.api_timeout_secs);
    let unavailable = |e: reqwest::Error| MiniappApiError::unavailable("Zalo", e.without_url());
    let access_token = received.access_token.as_str();
    let mut identity = received.caller.0.clone();
    for (token, is_phone) in [
        (&received.phone_token, true),
        (&received.location_token, false),
    ] {
        let Some(code) = token else { continue };
        let info: serde_json::Value = ch
            .api_http
            .get(format!("{base}/v2.0/me/info"))
            .header("access_token", access_token)
            .header("code", code.as_str())
            .header("secret_key", ch.config.app_secret.expose())
            .timeout(timeout)
            .send()
            .await
            .map_err(unavailable)?
            .json()
            .await
            .map_err(unavailable)?;
        let data = info.get("data").filter(|_| zalo_ok(&info));
        let which = if is_phone {
            "phone_token"
        } else {
            "location_token"
        };
        let refused = || MiniappApiError::BadRequest(format!("{which} refused by Zalo"));
        let data = data.ok_or_else(refused)?;
        if is_phone {
            identity.phone = Some(
                data.get("number")
                    .and_then(json_string)
                    .ok_or_else(refused)?,
            );
        } else {
            let lat = data.get("latitude").and_then(json_f64);
            let lon = data.get("longitude").and_then(json_f64);
            let c = match (lat, lon) {
                (Some(lat), Some(lon)) => Coordinates { lat, lon },
                _ => return Err(refused()),
            };
            identity.location = Some(c).filter(|c| c.is_plausible());
        }
    }
    Ok(identity)
}

fn zalo_ok(v: &serde_json::Value) -> bool {
    v.get("error").and_then(|e| e.as_i64()).unwrap_or(0) == 0
}

fn json_string(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn json_f64(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::String(s) => s.trim().parse().ok(),
        serde_json::Value::Number(n) => n.as_f64(),
        _ => None,
    }
}
