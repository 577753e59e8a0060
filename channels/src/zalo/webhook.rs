//! `POST /v1/zalo/webhook`: verify, persist, answer (ZALO.md §1).
//!
//! 503 while shutting down or when the stream is unavailable (Zalo retries); 401 without a valid
//! signature; 400 for a body that is not a Zalo event; 200 otherwise, only after the raw event is
//! on the `zalo:events` stream. Echoes of the OA's own messages, receipts and events of OAs not
//! served are answered 200 and dropped.
//!
//! One store write per event ([`crate::intake::Streams::push_numbered`], one Redis script or
//! one redb transaction) does three things at once: it recognises a repeated delivery of an
//! event already stored (Zalo retries with the same `event_id`/`msg_id`; a marker kept
//! `zalo.seen_ttl_secs`): answered 200 `duplicate`, nothing appended; it gives the event
//! `number`, the next of its conversation's counter, so that every instance's processor applies
//! a conversation's events in the order the webhook received them; and it appends the event.
//! A number is never taken without its event, so a number not yet applied always belongs to an
//! event still on the stream. The only other store call is the rate limit's counter.
//!
//! Rate limits: an event of a Zalo user past `rate_limits.zalo_oa` is answered 200 with
//! `{"status":"limited"}` and not stored; the first of the window queues one polite message.
//!
//! Replays: an event whose signed `timestamp` lies outside the window of `zalo.event_window_secs`
//! around the injected clock (`zalo.event_retry_window_secs` for deliveries marked as retries)
//! is refused: answered 200 with `{"status":"refused"}` — a non-2xx answer would only make Zalo
//! retry the same stale body and eventually disable the webhook — and not stored.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use normalizers::zalo::{self, Event, EventKind};

use normalizers::identity::Identity;
use normalizers::report::Channel;

use crate::context::ChannelStorage;
use crate::intake::{Intake, Origin, Outbound};
use crate::ratelimit::{Admission, AdmitRequest, Subjects};
use crate::templates::zalo as tpl;

use super::{ZaloChannel, EVENTS_STREAM, OUTBOUND_STREAM};

pub const SIGNATURE_HEADER: &str = "x-zevent-signature";

/// What the webhook did with an event (the `status` of the JSON answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    Persisted,
    Duplicate,
    Ignored,
    /// Outside the replay window: not stored.
    Refused,
    /// Past the rate limit of its Zalo user (`rate_limits.zalo_oa`): not stored, not turned
    /// into a draft or a report; the user is told once per window.
    Limited,
}

impl Disposition {
    fn as_str(self) -> &'static str {
        match self {
            Disposition::Persisted => "persisted",
            Disposition::Duplicate => "duplicate",
            Disposition::Ignored => "ignored",
            Disposition::Refused => "refused",
            Disposition::Limited => "limited",
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
        refused("signature");
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
        refused("signature");
        return error(StatusCode::UNAUTHORIZED, "bad signature");
    }
    let retry: u32 = headers
        .get("num_retry")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    if let Err(skew) = within_window(
        &event.timestamp,
        ch.intake.now(),
        config.event_window(retry),
    ) {
        // Counts and kinds only: the event's ids are personal data.
        refused("window");
        tracing::warn!(
            event = %event.event_name,
            num_retry = retry,
            skew_secs = skew,
            "zalo webhook event outside the replay window refused"
        );
        return (
            StatusCode::OK,
            Json(serde_json::json!({
                "status": Disposition::Refused.as_str(),
                "error": "event timestamp outside the accepted window",
            })),
        )
            .into_response();
    }
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
    if let Some(d) = limit(ch, event).await? {
        return Ok(d);
    }
    let raw = String::from_utf8_lossy(body);
    let entry = serde_json::json!({
        "raw": raw,
        "received_at": ch.intake.now(),
        "num_retry": retry,
    });
    let (Some(oa_id), Some(user_id)) = (event.oa_id(), event.user_id()) else {
        ch.store.push(EVENTS_STREAM, entry).await?;
        return Ok(Disposition::Persisted);
    };
    // One atomic step: the repeat check, the event's number in its conversation (the
    // processor applies them in this order) and the append.
    let numbering = super::processor::numbering(ch, oa_id, user_id, &event.dedup_key());
    let numbered = ch
        .store
        .push_numbered(EVENTS_STREAM, &numbering, entry)
        .await?;
    Ok(if numbered.repeated {
        Disposition::Duplicate
    } else {
        Disposition::Persisted
    })
}

/// Count the event against its Zalo user's limit (R-SEC-4). Past it the event is dropped
/// (Zalo still gets its 200) and the first dropped event of the window queues one polite
/// message to the user.
async fn limit<I: Intake, S: ChannelStorage>(
    ch: &ZaloChannel<I, S>,
    event: &Event,
) -> Result<Option<Disposition>, crate::intake::StoreError> {
    let (Some(oa_id), Some(user_id)) = (event.oa_id(), event.user_id()) else {
        return Ok(None);
    };
    // A repeated delivery of the event (Zalo retries) is not counted again.
    let dedup = event.dedup_key();
    let request = AdmitRequest {
        channel: Channel::ZaloOa,
        dedup_key: Some(&dedup),
        subjects: Subjects {
            senders: vec![Identity::Account {
                namespace: "zalo".into(),
                id: user_id.to_string(),
            }],
            ..Subjects::default()
        },
    };
    let Admission::Limited(limited) = ch.intake.admit(request).await? else {
        return Ok(None);
    };
    if limited.first {
        let notice = Outbound {
            report_id: None,
            origin: Origin::ZaloOa {
                oa_id: oa_id.to_string(),
                user_id: user_id.to_string(),
            },
            kind: "rate_limited".into(),
            text: tpl::rate_limited(limited.retry_after_secs()),
            html: None,
            attempts: 0,
            message_id: None,
        };
        let payload = serde_json::to_value(&notice).map_err(crate::intake::StoreError::new)?;
        ch.store.push(OUTBOUND_STREAM, payload).await?;
    }
    Ok(Some(Disposition::Limited))
}

/// Whether the event's `timestamp` (epoch milliseconds, a string) is within `window` of `now`;
/// otherwise how far off it is in seconds (negative: in the future), `i64::MIN` when unreadable.
fn within_window(
    timestamp: &str,
    now: chrono::DateTime<chrono::Utc>,
    window: std::time::Duration,
) -> Result<(), i64> {
    let Ok(ms) = timestamp.trim().parse::<i64>() else {
        return Err(i64::MIN);
    };
    let age_ms = now.timestamp_millis().saturating_sub(ms);
    let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
    if age_ms.unsigned_abs() <= window_ms.unsigned_abs() {
        Ok(())
    } else {
        Err(age_ms / 1000)
    }
}

/// Count a refused webhook event on `/metrics` (`gateway_zalo_events_refused_total`), by
/// reason only (`signature`: missing or wrong; `window`: dated outside the replay window).
fn refused(reason: &'static str) {
    metrics::counter!("gateway_zalo_events_refused_total", "reason" => reason).increment(1);
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// A webhook request declaring more than `limit` bytes gets 413 without being parsed, once its
/// body has been read and dropped within the bounds of [`crate::drain`] (answered before being
/// read, the sender would see a reset connection instead of the answer).
pub(crate) async fn refuse_oversized(limit: usize, request: Request, next: Next) -> Response {
    let declared = crate::drain::declared_length(request.headers());
    if declared.is_none_or(|n| n <= limit as u64) {
        return next.run(request).await;
    }
    crate::drain::drain(declared, request.into_body()).await;
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("the event is larger than {limit} bytes"),
    )
}

#[cfg(test)]
mod tests {
    use super::within_window;
    use chrono::TimeZone;
    use std::time::Duration;

    #[test]
    fn the_window_bounds_both_sides_and_refuses_unreadable_timestamps() {
        let now = chrono::Utc.with_ymd_and_hms(2026, 11, 28, 3, 0, 0).unwrap();
        let ms = |mins: i64| (now.timestamp_millis() - mins * 60_000).to_string();
        let w = Duration::from_secs(15 * 60);
        assert_eq!(within_window(&ms(0), now, w), Ok(()));
        assert_eq!(within_window(&ms(5), now, w), Ok(()));
        assert_eq!(within_window(&ms(15), now, w), Ok(()));
        assert_eq!(within_window(&ms(-14), now, w), Ok(()));
        assert_eq!(within_window(&ms(20), now, w), Err(1200));
        assert_eq!(within_window(&ms(-20), now, w), Err(-1200));
        assert!(within_window(&ms(60 * 24 * 365), now, w).is_err());
        assert_eq!(within_window("", now, w), Err(i64::MIN));
        assert_eq!(within_window("1.7e12", now, w), Err(i64::MIN));
        assert!(within_window(&i64::MIN.to_string(), now, w).is_err());
    }
}
