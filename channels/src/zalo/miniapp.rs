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
//! Zalo (`/v2.0/me`, `/v2.0/me/info`). `Idempotency-Key` makes retries safe. Answers: 200 with
//! the outcome (`status` accepted | needs_review | rejected, `reasons`, `flags`), 400 malformed,
//! 401 token refused, 413 too large, 503 unavailable or shutting down.

use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use normalizers::report::{Channel, Coordinates, Envelope, VouchedCapture};
use normalizers::zalo::{normalize_miniapp, MiniappIdentity, MiniappSubmission};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::context::ChannelStorage;
use crate::intake::{
    error_chain, BoxError, IngestError, Intake, MediaInput, MediaSource, Origin, Submission,
};

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
            MiniappApiError::ShuttingDown | MiniappApiError::Unavailable { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            MiniappApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if let MiniappApiError::Unavailable { .. } | MiniappApiError::Internal(_) = &self {
            tracing::error!(error = %error_chain(&self), "mini-app report not taken");
        }
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}

struct Upload {
    path: PathBuf,
    file_name: Option<String>,
    content_type: Option<String>,
    camera: bool,
    sha256: String,
}

#[derive(Default)]
struct Parts {
    access_token: Option<String>,
    phone_token: Option<String>,
    location_token: Option<String>,
    report: Option<Vec<u8>>,
    files: Vec<Upload>,
}

impl Parts {
    async fn discard(self) {
        for f in self.files {
            let _ = tokio::fs::remove_file(&f.path).await;
        }
    }
}

pub(crate) async fn handle<I: Intake, S: ChannelStorage>(
    State(ch): State<Arc<ZaloChannel<I, S>>>,
    headers: HeaderMap,
    multipart: Multipart,
) -> Response {
    if ch.shutting_down() {
        return MiniappApiError::ShuttingDown.into_response();
    }
    let mut parts = match read_parts(&ch, multipart).await {
        Ok(p) => p,
        Err((e, partial)) => {
            partial.discard().await;
            return e.into_response();
        }
    };
    if parts.access_token.is_none() {
        parts.access_token = headers
            .get("x-zalo-access-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
    }
    let idempotency = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 200)
        .map(str::to_string);
    match submit(&ch, &mut parts, idempotency).await {
        Ok(body) => (StatusCode::OK, Json(body)).into_response(),
        Err(e) => {
            parts.discard().await;
            e.into_response()
        }
    }
}

async fn read_parts<I: Intake, S: ChannelStorage>(
    ch: &ZaloChannel<I, S>,
    mut multipart: Multipart,
) -> Result<Parts, (MiniappApiError, Parts)> {
    let mut parts = Parts::default();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                let err = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    MiniappApiError::TooLarge(e.body_text())
                } else {
                    MiniappApiError::BadRequest(format!(
                        "malformed multipart body: {}",
                        e.body_text()
                    ))
                };
                return Err((err, parts));
            }
        };
        let name = field.name().unwrap_or_default().to_string();
        match name.as_str() {
            "camera" | "media" => {
                if parts.files.len() >= MAX_FILES {
                    return Err((
                        MiniappApiError::BadRequest(format!("at most {MAX_FILES} files")),
                        parts,
                    ));
                }
                match stage_file(ch, field, name == "camera").await {
                    Ok(u) => parts.files.push(u),
                    Err(e) => return Err((e, parts)),
                }
            }
            "access_token" | "phone_token" | "location_token" | "report" => {
                let bytes = match read_small(field).await {
                    Ok(b) => b,
                    Err(e) => return Err((e, parts)),
                };
                let text = || String::from_utf8_lossy(&bytes).trim().to_string();
                match name.as_str() {
                    "access_token" => parts.access_token = Some(text()),
                    "phone_token" => parts.phone_token = Some(text()).filter(|t| !t.is_empty()),
                    "location_token" => {
                        parts.location_token = Some(text()).filter(|t| !t.is_empty())
                    }
                    _ => parts.report = Some(bytes),
                }
            }
            other => {
                return Err((
                    MiniappApiError::BadRequest(format!("unexpected part `{other}`")),
                    parts,
                ))
            }
        }
    }
    Ok(parts)
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

async fn stage_file<I: Intake, S: ChannelStorage>(
    ch: &ZaloChannel<I, S>,
    mut field: axum::extract::multipart::Field<'_>,
    camera: bool,
) -> Result<Upload, MiniappApiError> {
    let file_name = field.file_name().map(str::to_string);
    let content_type = field.content_type().map(str::to_string);
    let unique = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let path = ch
        .staging_dir
        .join(format!("miniapp-{}-{unique:016x}.part", std::process::id()));
    let io = |e: std::io::Error| MiniappApiError::unavailable("staging", e);
    let mut file = tokio::fs::File::create(&path).await.map_err(io)?;
    let mut upload = Upload {
        path,
        file_name,
        content_type,
        camera,
        sha256: String::new(),
    };
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    loop {
        let chunk = match field.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                let _ = tokio::fs::remove_file(&upload.path).await;
                return Err(if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    MiniappApiError::TooLarge(e.body_text())
                } else {
                    MiniappApiError::BadRequest(e.body_text())
                });
            }
        };
        size += chunk.len() as u64;
        if size > ch.config.media_max_bytes {
            let _ = tokio::fs::remove_file(&upload.path).await;
            return Err(MiniappApiError::TooLarge(format!(
                "a file exceeds {} bytes",
                ch.config.media_max_bytes
            )));
        }
        hasher.update(&chunk);
        if let Err(e) = file.write_all(&chunk).await {
            let _ = tokio::fs::remove_file(&upload.path).await;
            return Err(io(e));
        }
    }
    if let Err(e) = file.flush().await {
        let _ = tokio::fs::remove_file(&upload.path).await;
        return Err(io(e));
    }
    upload.sha256 = hex::encode(hasher.finalize());
    Ok(upload)
}

async fn submit<I: Intake, S: ChannelStorage>(
    ch: &ZaloChannel<I, S>,
    parts: &mut Parts,
    idempotency: Option<String>,
) -> Result<serde_json::Value, MiniappApiError> {
    let access_token = parts
        .access_token
        .clone()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| MiniappApiError::Unauthorized("access_token is required".into()))?;
    let report_bytes = parts
        .report
        .clone()
        .ok_or_else(|| MiniappApiError::BadRequest("the `report` part is required".into()))?;
    let sub: MiniappSubmission = serde_json::from_slice(&report_bytes)
        .map_err(|e| MiniappApiError::BadRequest(format!("report: {e}")))?;
    let caller = exchange(ch, &access_token, parts).await?;
    let identity = &caller.0;
    let now = ch.intake.now();
    let key = idempotency.unwrap_or_else(|| {
        let mut h = Sha256::new();
        h.update(&report_bytes);
        for f in &parts.files {
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
    let report = normalize_miniapp(envelope, &sub, identity)
        .map_err(|e| MiniappApiError::BadRequest(e.to_string()))?;
    let media = std::mem::take(&mut parts.files)
        .into_iter()
        .map(|u| MediaInput {
            file_name: u.file_name,
            claimed_type: u.content_type,
            source: MediaSource::File(u.path),
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

/// Exchange the mini app's tokens with Zalo (ZALO.md §3).
async fn exchange<I: Intake, S: ChannelStorage>(
    ch: &ZaloChannel<I, S>,
    access_token: &str,
    parts: &Parts,
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
    let mut identity = MiniappIdentity {
        user_id,
        display_name: me.get("name").and_then(|n| n.as_str()).map(str::to_string),
        phone: None,
        location: None,
    };
    for (token, is_phone) in [(&parts.phone_token, true), (&parts.location_token, false)] {
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
    Ok(VerifiedCaller(identity))
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
