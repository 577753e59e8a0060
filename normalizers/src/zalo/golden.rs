//! Golden conversations: every `fixtures/zalo/NNN-name.json` (webhook events) replayed and
//! checked against `NNN-name.expected.json`. A mismatch writes `NNN-name.failed` beside it.

use std::path::PathBuf;

use chrono::Duration;
use serde_json::{json, Value};

use super::{replay, Event, Prompt, Refusal, Step};
use crate::geo::Geo;
use crate::pipeline;
use crate::report::{Channel, Envelope};
use crate::validate::{Context, ValidationConfig, Validator};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/zalo")
}

/// What a fixture is compared on.
fn project(events: &[Event]) -> Value {
    let last = events
        .iter()
        .filter_map(Event::time)
        .max()
        .expect("a conversation has timestamps");
    let received_at = last + Duration::seconds(1);
    let r = replay(events, received_at);
    let envelope = Envelope {
        id: "01GOLDEN".into(),
        tracking_code: "GOLDEN".into(),
        channel: Channel::ZaloOa,
        channel_ref: None,
        received_at,
    };
    let mut report = r.draft.report_with_stand_ins(envelope);
    let config = ValidationConfig::default();
    let mut ctx = Context::new(received_at, &config);
    ctx.geo = Some(Geo::embedded());
    let verdict = pipeline::finish(&mut report, &Validator::default(), &ctx);
    json!({
        "submitted": r.submitted,
        "status": verdict.status.as_str(),
        "reasons": verdict.reasons.iter().map(|f| f.code.as_str()).collect::<Vec<_>>(),
        "content_text": report.content.text,
        "media": report.attachments.len(),
        "name": report.reporter.name,
        "phone": report.reporter.phone,
        "address": report.location.address,
        "coordinates_source": report.location.coordinates_source,
        "events": r.draft.events.len(),
        "said": r.prompts.iter().map(|p| said(p)).collect::<Vec<_>>(),
    })
}

fn step_name(s: &Step) -> &'static str {
    match s {
        Step::Description => "description",
        Step::Media => "media",
        Step::Location => "location",
        Step::Time => "time",
        Step::Contact => "contact",
    }
}

/// What the OA said after one event, in short: `ask:location + summary`, `` when silent.
fn said(prompts: &[Prompt]) -> String {
    let names: Vec<String> = prompts
        .iter()
        .map(|p| match p {
            Prompt::Welcome => "welcome".into(),
            Prompt::Ask(s) => format!("ask:{}", step_name(s)),
            Prompt::Fix { step, .. } => format!("fix:{}", step_name(step)),
            Prompt::Summary { .. } => "summary".into(),
            Prompt::NotReady => "not_ready".into(),
            Prompt::Cancelled => "cancelled".into(),
            Prompt::Restarted => "restarted".into(),
            Prompt::Expired => "expired".into(),
            Prompt::DraftFull => "draft_full".into(),
            Prompt::Unsupported => "unsupported".into(),
            Prompt::StillMissing(m) => format!(
                "still_missing:{}",
                m.iter().map(step_name).collect::<Vec<_>>().join(",")
            ),
            Prompt::MediaRefused(Refusal::Stale { age, .. }) => {
                format!("media_refused:stale:{}d", age.num_days())
            }
            Prompt::MediaRefused(Refusal::Unreadable(_)) => "media_refused:unreadable".into(),
        })
        .collect();
    names.join(" + ")
}

fn matches(expected: &Value, actual: &Value) -> bool {
    // An expectation without a key would hold for any outcome.
    let Some(exp) = expected.as_object().filter(|e| !e.is_empty()) else {
        return false;
    };
    exp.iter().all(|(k, v)| match k.as_str() {
        "status_not" => actual["status"] != *v,
        _ => actual.get(k) == Some(v),
    })
}

#[test]
fn golden_conversations_give_their_expected_reports() {
    let mut cases = 0;
    let mut failed = Vec::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .expect("fixtures/zalo exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "json")
                && !p.to_string_lossy().ends_with(".expected.json")
        })
        .collect();
    paths.sort();
    for path in paths {
        let events: Vec<Event> =
            serde_json::from_slice(&std::fs::read(&path).expect("fixture readable"))
                .expect("fixture is a JSON array of events");
        let expected_path = path.with_extension("expected.json");
        let expected: Value =
            serde_json::from_slice(&std::fs::read(&expected_path).expect("expected file"))
                .expect("expected JSON");
        let actual = project(&events);
        let failed_path = path.with_extension("failed");
        if matches(&expected, &actual) {
            let _ = std::fs::remove_file(&failed_path);
        } else {
            let pretty = serde_json::to_string_pretty(&actual).unwrap_or_default();
            let _ = std::fs::write(&failed_path, pretty + "\n");
            failed.push(
                path.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .to_string(),
            );
        }
        cases += 1;
    }
    assert!(cases > 0, "no fixture ran");
    assert!(
        failed.is_empty(),
        "golden mismatches (see .failed files): {failed:?}"
    );
}

#[test]
fn the_same_conversation_in_nfd_gives_the_same_report() {
    let path = fixtures().join("001-happy-path.json");
    let text = std::fs::read_to_string(path).expect("fixture");
    let nfd: String = unicode_normalization::UnicodeNormalization::nfd(text.as_str()).collect();
    assert_ne!(nfd, text);
    let a: Vec<Event> = serde_json::from_str(&text).expect("events");
    let b: Vec<Event> = serde_json::from_str(&nfd).expect("events");
    let (pa, pb) = (project(&a), project(&b));
    assert_eq!(pa["content_text"], pb["content_text"]);
    assert_eq!(pa["name"], pb["name"]);
    assert_eq!(pa["submitted"], pb["submitted"]);
    assert_eq!(pa["status"], pb["status"]);
}
