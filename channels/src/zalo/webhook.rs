//! `POST /v1/zalo/webhook`: verify, persist, answer (ZALO.md §1).
//!
//! 503 while shutting down or when the stream is unavailable (Zalo retries); 401 without a valid
//! signature; 400 for a body that is not a Zalo event; 200 otherwise, only after the raw event is
//! on the `zalo:events` stream. Echoes of the OA's own messages, receipts, events of OAs not
//! served and repeated deliveries of an event already processed (marker `zalo:seen:<key>`, set
//! by the processor) are answered 200 and dropped. The webhook itself writes once per event (the
//! stream push): a retry arriving before the first delivery was processed is persisted again and
//! ignored by the dialogue, which remembers the events it applied.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use normalizers::zalo::{self, Event, EventKind};

use crate::context::ChannelStorage;
use crate::intake::Intake;

use super::{ZaloChannel, EVENTS_STREAM};

pub const SIGNATURE_HEADER: &str = "x-zevent-signature";

/// What the webhook did with an event (the `status` of the JSON answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    Persisted,
    Duplicate,
    Ignored,
}

impl Disposition {
    fn as_str(self) -> &'static str {
        match self {
            Disposition::Persisted => "persisted",
            Disposition::Duplicate => "duplicate",
            Disposition::Ignored => "ignored",
        }
    }
}

pub(crate) fn seen_key(dedup_key: &str) -> String {
    format!("zalo:seen:{dedup_key}")
}

pub(crate) async fn handle<I: Intake, S: ChannelStorage>(
    State(ch): State<Arc<ZaloChannel<I, S>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if ch.shutting_down() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    let Some(signature) = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()) else {
        return error(StatusCode::UNAUTHORIZED, "missing X-ZEvent-Signature");
    };
    let event = match Event::parse(&body) {
        Ok(e) => e,
        // Without a parsable body there is no app_id/timestamp to check the signature with.
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let config = &ch.config;
    if event.app_id != config.app_id
        || !zalo::verify(
            signature,
            &event.app_id,
            &body,
            &event.timestamp,
            config.oa_secret_key.expose(),
        )
    {
        tracing::warn!(event = %event.event_name, "zalo webhook with a bad signature");
        return error(StatusCode::UNAUTHORIZED, "bad signature");
    }
    let retry: u32 = headers
        .get("num_retry")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    match accept(&ch, &event, &body, retry).await {
        Ok(d) => (
            StatusCode::OK,
            Json(serde_json::json!({ "status": d.as_str() })),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "zalo event not persisted");
            error(StatusCode::SERVICE_UNAVAILABLE, "event store unavailable")
        }
    }
}

async fn accept<I: Intake, S: ChannelStorage>(
    ch: &ZaloChannel<I, S>,
    event: &Event,
    body: &[u8],
    retry: u32,
) -> Result<Disposition, crate::intake::StoreError> {
    match event.kind() {
        // The gateway's own inspection events come only from its processor, never from outside.
        EventKind::Echo | EventKind::Receipt | EventKind::Other | EventKind::Inspected => {
            return Ok(Disposition::Ignored)
        }
        _ => {}
    }
    if !ch.config.serves_oa(event.oa_id()) {
        return Ok(Disposition::Ignored);
    }
    let key = seen_key(&event.dedup_key());
    if ch.store.get(&key).await?.is_some() {
        return Ok(Disposition::Duplicate);
    }
    let raw = String::from_utf8_lossy(body);
    ch.store
        .push(
            EVENTS_STREAM,
            serde_json::json!({
                "raw": raw,
                "received_at": ch.intake.now(),
                "num_retry": retry,
            }),
        )
        .await?;
    Ok(Disposition::Persisted)
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}
