//! Zalo (R-CH-ZALO-OA, R-CH-ZALO-MINIAPP), the pure part: webhook events, their signature, the
//! OA conversation as a state machine, and the conversion of what a conversation or the mini app
//! collected into a canonical report. No I/O here: the HTTP side is `channels::zalo`.
//!
//! # Layout
//! - `event`: webhook events (ids kept as strings), their kinds, attachments, submitted info.
//! - `signature`: `X-ZEvent-Signature` computation and constant-time verification.
//! - `draft`: what a conversation collected; report and media references from it.
//! - `dialogue`: the conversation state machine (`step`, one handler per state), keywords,
//!   prompts.
//! - `miniapp`: normalizer of mini-app submissions.
//! - `golden` (tests): the conversations of `fixtures/zalo/` against their expected outcome.

pub mod dialogue;
pub mod draft;
pub mod event;
pub mod miniapp;
pub mod signature;

#[cfg(test)]
mod golden;

pub use dialogue::{
    keyword, step, Collecting, Dialogue, Keyword, Prompt, Refusal, Step, StepEnv, Submit,
    Transition,
};
pub use draft::{Draft, MediaRef};
pub use event::{Event, EventError, EventKind, Inspection, INSPECTED_EVENT};
pub use miniapp::{normalize_miniapp, MiniappError, MiniappIdentity, MiniappSubmission};
pub use signature::{compute_mac, verify};

use chrono::{DateTime, Duration, Utc};

use crate::report::{Envelope, Report};
use crate::validate::{ValidationConfig, Validator};

/// Default idle time after which a conversation is over (`dialogue_ttl_secs` in the config).
pub const DEFAULT_DIALOGUE_TTL_SECS: u64 = 24 * 3600;

/// What replaying a conversation gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    /// The draft a "Gửi" submitted, else the last draft (empty when there was none).
    pub draft: Draft,
    /// Whether the citizen's confirmation was taken (the draft was complete).
    pub submitted: bool,
    /// What the OA said after each event, in order (empty when it said nothing).
    pub prompts: Vec<Vec<Prompt>>,
}

/// Replay a saved conversation (webhook events in arrival order) through the same state machine
/// as the live chat. Each event is processed at its own timestamp (or `received_at` when it has
/// none), with the default checks and the default dialogue TTL.
pub fn replay(events: &[Event], received_at: DateTime<Utc>) -> Replay {
    let validator = Validator::default();
    let config = ValidationConfig::default();
    let ttl = Duration::seconds(DEFAULT_DIALOGUE_TTL_SECS as i64);
    let mut state = None;
    let mut submitted = None;
    let mut prompts = Vec::with_capacity(events.len());
    for event in events {
        let raw = serde_json::to_string(event).unwrap_or_default();
        let env = StepEnv {
            now: event.time().unwrap_or(received_at),
            ttl,
            validator: &validator,
            config: &config,
            geo: Some(crate::geo::Geo::embedded()),
        };
        let t = step(state, event, &raw, &env);
        prompts.push(t.prompts);
        if let Some(s) = t.submit {
            submitted = Some(s.draft);
        }
        state = t.state;
    }
    match submitted {
        Some(draft) => Replay {
            draft,
            submitted: true,
            prompts,
        },
        None => Replay {
            draft: state.map(|s| s.draft().clone()).unwrap_or_default(),
            submitted: false,
            prompts,
        },
    }
}

/// The report a saved conversation builds (without attachments) and the media still to
/// download: [`replay`], then [`Draft::to_report`].
pub fn conversation_to_report(envelope: Envelope, events: &[Event]) -> (Report, Vec<MediaRef>) {
    let replayed = replay(events, envelope.received_at);
    replayed.draft.to_report(envelope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline;
    use crate::report::{Channel, CoordinatesSource};
    use crate::validate::{Code, Context, Status};

    /// What `gateway check conversation.json` does: the conversation's report with the media
    /// standing in as attachments, finished and validated.
    fn check_conversation(
        envelope: Envelope,
        events: &[Event],
        validator: &Validator,
        ctx: &Context<'_>,
    ) -> Report {
        let mut report = replay(events, envelope.received_at)
            .draft
            .report_with_stand_ins(envelope);
        pipeline::finish(&mut report, validator, ctx);
        report
    }

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-30T02:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn conversation() -> Vec<Event> {
        let ms = |s: i64| (t0().timestamp_millis() + s * 1000).to_string();
        let raw = serde_json::json!([
            {"app_id":"1","event_name":"user_send_image","sender":{"id":"U1"},"recipient":{"id":"OA1"},
             "message":{"msg_id":"m1","attachments":[{"type":"image","payload":{"url":"https://f1.photo.talk.zdn.vn/1.jpg"}}]},"timestamp":ms(0)},
            {"app_id":"1","event_name":"user_send_text","sender":{"id":"U1"},"recipient":{"id":"OA1"},
             "message":{"msg_id":"m2","text":"Cây xanh ngã chắn ngang đường lúc 7 giờ sáng nay, xe không qua được."},"timestamp":ms(30)},
            {"app_id":"1","event_name":"user_send_location","sender":{"id":"U1"},"recipient":{"id":"OA1"},
             "message":{"msg_id":"m3","attachments":[{"type":"location","payload":{"coordinates":{"latitude":"10.5366","longitude":"106.4138"}}}]},"timestamp":ms(60)},
            {"app_id":"1","event_name":"user_submit_info","sender":{"id":"U1"},"recipient":{"id":"OA1"},
             "info":{"name":"Nguyễn Văn An","phone":"84912345678"},"timestamp":ms(90)},
            {"app_id":"1","event_name":"user_send_text","sender":{"id":"U1"},"recipient":{"id":"OA1"},
             "message":{"msg_id":"m5","text":"Gửi"},"timestamp":ms(120)}
        ]);
        serde_json::from_value(raw).unwrap()
    }

    #[test]
    fn a_whole_conversation_becomes_one_report() {
        let envelope = Envelope {
            id: "01J".into(),
            tracking_code: "T".into(),
            channel: Channel::ZaloOa,
            channel_ref: Some("m5".into()),
            received_at: t0() + Duration::minutes(2),
        };
        let (report, media) = conversation_to_report(envelope.clone(), &conversation());
        assert_eq!(
            report.content.text,
            "Cây xanh ngã chắn ngang đường lúc 7 giờ sáng nay, xe không qua được."
        );
        assert_eq!(media.len(), 1);
        assert_eq!(media[0].sent_at, Some(t0()));
        assert_eq!(report.reporter.phone.as_deref(), Some("+84912345678"));
        assert_eq!(report.reporter.channel_identity.as_deref(), Some("U1"));
        assert_eq!(
            report.location.coordinates_source,
            Some(CoordinatesSource::ZaloLocation)
        );
        let config = ValidationConfig::default();
        let ctx = Context::new(envelope.received_at, &config);
        let checked = check_conversation(envelope, &conversation(), &Validator::default(), &ctx);
        assert!(
            checked.verdict.reasons.is_empty(),
            "{:?}",
            checked.verdict.codes()
        );
        assert_ne!(checked.verdict.status, Status::Rejected);
        assert!(!checked.verdict.codes().contains(&Code::TimeMissing));
    }

    #[test]
    fn a_conversation_without_photo_is_rejected_for_missing_media() {
        let events: Vec<Event> = conversation()
            .into_iter()
            .filter(|e| e.event_name != "user_send_image")
            .collect();
        let envelope = Envelope {
            id: "01J".into(),
            tracking_code: "T".into(),
            channel: Channel::ZaloOa,
            channel_ref: None,
            received_at: t0() + Duration::minutes(2),
        };
        let config = ValidationConfig::default();
        let ctx = Context::new(envelope.received_at, &config);
        let checked = check_conversation(envelope, &events, &Validator::default(), &ctx);
        assert_eq!(checked.verdict.status, Status::Rejected);
        assert!(checked.verdict.codes().contains(&Code::MediaMissing));
    }
}
