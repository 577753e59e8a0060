//! The outbox sender (delivers `outbound:zalo_oa` through the OA API) and the token refresher.
//!
//! Delivery outcomes: sent → acknowledged; rate limited (-32), token or network trouble → the
//! sender backs off and tries the same message again (order kept), up to `outbox_max_attempts`;
//! user unreachable (-213/-230/-232/-244), refused, or out of attempts → recorded on
//! `zalo:undeliverable` for the IOC (which then uses another contact of the citizen).

use std::sync::Arc;
use std::time::Duration;

use crate::context::ChannelStorage;
use crate::intake::{DeliveryResult, Intake, Origin, Outbound, StreamEntry};
use crate::templates::zalo as tpl;

use super::client::{OaError, OaMessage};
use super::{ZaloChannel, OUTBOUND_STREAM, UNDELIVERABLE_STREAM};

const BATCH: usize = 16;

/// What became of one outbound entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    Sent,
    Undeliverable { code: i64, reason: String },
}

/// One attempt's result.
enum Attempt {
    Sent,
    /// Retry after this back-off (rate limit, token or network trouble).
    Retry(Duration),
    Undeliverable {
        code: i64,
        reason: String,
    },
}

pub(crate) async fn run_sender<I: Intake, S: ChannelStorage>(ch: Arc<ZaloChannel<I, S>>) {
    while let Some(entries) = ch.next_batch(OUTBOUND_STREAM, BATCH).await {
        for entry in entries {
            if let Err(e) = deliver_entry(&ch, &entry).await {
                tracing::error!(error = %e, "zalo outbound entry left for retry");
            }
            if ch.shutting_down() {
                return;
            }
        }
    }
}

/// Deliver one outbound entry, retrying in place with back-off (messages to one citizen keep
/// their order, and a rate limit holds every message back), then acknowledge it. Messages that
/// cannot be delivered are recorded on `zalo:undeliverable`. Returns `Ok(None)` when shutdown
/// interrupted the retries (the entry stays pending).
pub async fn deliver_entry<I: Intake, S: ChannelStorage>(
    ch: &ZaloChannel<I, S>,
    entry: &StreamEntry,
) -> Result<Option<Delivery>, crate::intake::StoreError> {
    let mut out: Outbound = match serde_json::from_value(entry.payload.clone()) {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(error = %e, "unreadable zalo outbound entry: dropped");
            ch.store.ack(OUTBOUND_STREAM, &entry.entry_id).await?;
            return Ok(None);
        }
    };
    // An IOC message's photos follow its text as OA image messages (by the public copy's
    // URL), in order; a retry goes on from the first one not sent.
    let mut messages = vec![message_of(&out)];
    if out.message_id.is_some() {
        match ch.intake.outbound_photos(&out).await {
            Ok(photos) => messages.extend(
                photos
                    .into_iter()
                    .filter_map(|p| p.url)
                    .map(|url| OaMessage::Image { url, text: None }),
            ),
            Err(e) => {
                tracing::warn!(error = %e, "the photos of an IOC message cannot be read; left for retry");
                return Err(e);
            }
        }
    }
    let mut next = 0;
    let delivery = loop {
        let Some(message) = messages.get(next) else {
            break Delivery::Sent;
        };
        match attempt(ch, &out, message).await {
            Attempt::Sent => next += 1,
            Attempt::Undeliverable { code, reason } => {
                break Delivery::Undeliverable { code, reason }
            }
            Attempt::Retry(_) if out.attempts + 1 >= ch.config.outbox_max_attempts => {
                break Delivery::Undeliverable {
                    code: 0,
                    reason: "too many failed attempts".into(),
                }
            }
            Attempt::Retry(backoff) => {
                out.attempts += 1;
                if ch.pause(backoff).await {
                    return Ok(None);
                }
            }
        }
    };
    if let Delivery::Undeliverable { code, reason } = &delivery {
        record_undeliverable(ch, &out, *code, reason).await?;
    }
    if out.message_id.is_some() {
        // An IOC message: the gateway records the result on the report and, when the
        // conversation's window has closed, tries the citizen's other contact.
        let result = match &delivery {
            Delivery::Sent => DeliveryResult::Sent,
            Delivery::Undeliverable { code, reason } => DeliveryResult::Undeliverable {
                code: Some(*code).filter(|c| *c != 0),
                reason: reason.clone(),
            },
        };
        if let Err(e) = ch.intake.delivered(&out, result).await {
            tracing::warn!(error = %e, "the delivery of an IOC message is not recorded");
        }
    }
    ch.store.ack(OUTBOUND_STREAM, &entry.entry_id).await?;
    Ok(Some(delivery))
}

/// The OA message an outbound entry's text becomes.
fn message_of(out: &Outbound) -> OaMessage {
    match out.kind.as_str() {
        "request_user_info" => OaMessage::RequestUserInfo {
            title: tpl::REQUEST_INFO_TITLE.into(),
            subtitle: out.text.clone(),
            image_url: None,
        },
        _ => OaMessage::Text {
            text: out.text.chars().take(tpl::MAX_TEXT_CHARS).collect(),
        },
    }
}

async fn attempt<I: Intake, S: ChannelStorage>(
    ch: &ZaloChannel<I, S>,
    out: &Outbound,
    message: &OaMessage,
) -> Attempt {
    let (oa_id, user_id) = match &out.origin {
        Origin::ZaloOa { oa_id, user_id } => (oa_id, user_id),
        // Mini-app user ids are app-scoped: the OA cannot write to them.
        _ => {
            return Attempt::Undeliverable {
                code: 0,
                reason: "origin is not a Zalo OA conversation".into(),
            }
        }
    };
    let backoff = Duration::from_millis(250u64.saturating_mul(1 << out.attempts.min(8)));
    match ch.client.send(oa_id, user_id, message).await {
        Ok(_) => Attempt::Sent,
        Err(OaError::RateLimited { .. }) => Attempt::Retry(backoff.max(Duration::from_secs(1))),
        Err(OaError::Undeliverable { code, message }) => Attempt::Undeliverable {
            code,
            reason: message,
        },
        Err(OaError::Refused { code, message }) => Attempt::Undeliverable {
            code,
            reason: message,
        },
        Err(e @ (OaError::Token(_) | OaError::Transport(_) | OaError::Store(_))) => {
            tracing::warn!(error = %e, "zalo message not sent yet");
            Attempt::Retry(backoff)
        }
    }
}

async fn record_undeliverable<I: Intake, S: ChannelStorage>(
    ch: &ZaloChannel<I, S>,
    out: &Outbound,
    code: i64,
    reason: &str,
) -> Result<(), crate::intake::StoreError> {
    tracing::warn!(code, kind = %out.kind, "zalo message undeliverable, recorded for the IOC");
    ch.store
        .push(
            UNDELIVERABLE_STREAM,
            serde_json::json!({
                "report_id": out.report_id,
                "origin": out.origin,
                "kind": out.kind,
                "text": out.text,
                "zalo_error": code,
                "reason": reason,
                "at": ch.intake.now(),
            }),
        )
        .await
        .map(|_| ())
}

/// Refresh each token slot shortly before it expires (one instance at a time: the lease).
pub(crate) async fn run_refresher<I: Intake, S: ChannelStorage>(ch: Arc<ZaloChannel<I, S>>) {
    let mut slots = Vec::new();
    if !ch.config.access_token.is_empty() || !ch.config.refresh_token.is_empty() {
        slots.push("default".to_string());
    }
    slots.extend(ch.config.oa_tokens.iter().map(|t| t.oa_id.clone()));
    loop {
        for slot in &slots {
            if let Err(e) = ch.client.refresh_if_due(slot).await {
                tracing::warn!(error = %e, slot, "zalo token refresh failed");
            }
        }
        if ch.pause(Duration::from_secs(60)).await {
            return;
        }
    }
}
