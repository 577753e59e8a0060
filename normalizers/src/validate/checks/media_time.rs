//! MEDIA_STALE, MEDIA_FUTURE, MEDIA_TIME_UNKNOWN (Đ6.3): the evidence must have been captured
//! within `media_max_age_hours` (48 h) before submission.
//!
//! Evidence is every attachment that is a readable photo, recording or video; documents and
//! unreadable files (MEDIA_UNREADABLE) are not judged here. A capture time is "known" when it
//! was read from the file (EXIF, container) or vouched for by a channel that saw the medium being
//! taken (the mini app's in-app camera after Zalo verified the caller): see
//! [`Attachment::capture_time`]. The time a channel sent or received the file (`sent_at`) is
//! never a capture time: a week-old gallery photo whose EXIF a messenger stripped is sent "now".
//!
//! - MEDIA_STALE: every medium with a known time was captured more than the maximum age before
//!   `ctx.now`. One medium captured within the window (or later) is enough: the report is not
//!   stale. One finding per stale medium, naming it.
//!   Media of unknown time do not make a report fresh, but they might be fresh, so they weaken
//!   the verdict: when the report also carries media of unknown time, MEDIA_STALE is at most a
//!   flag (the IOC looks at it) instead of a rejection. Only certainty rejects a citizen.
//! - MEDIA_FUTURE: a medium captured more than `media_future_skew_minutes` after `ctx.now` (a
//!   device clock that is wrong). One finding per such medium.
//! - MEDIA_TIME_UNKNOWN: a medium whose capture time could not be read (screenshots, messengers
//!   that strip EXIF, voice notes, default camera clocks) and that no channel vouches for. One
//!   finding per such medium; its detail carries the channel's send time (`sent_at`) and the
//!   report's `received_at` beside the unknown capture time, as evidence for the IOC.
//!
//! Every finding's `field` is `attachments[i]` and its `detail` carries the capture time.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::json;

use crate::messages;
use crate::report::{Attachment, MediaKind, Report};
use crate::validate::{Action, Check, Code, Context, Hit};

/// Readable photos, recordings and videos, with their index in `attachments`.
fn evidence(report: &Report) -> impl Iterator<Item = (usize, &Attachment)> {
    report
        .attachments
        .iter()
        .enumerate()
        .filter(|(_, a)| a.unreadable.is_none() && a.kind != MediaKind::Document)
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn time_detail(a: &Attachment, at: DateTime<Utc>, now: DateTime<Utc>) -> serde_json::Value {
    json!({
        "captured_at": rfc3339(at),
        "captured_at_local": crate::media::local_time(
            at,
            a.captured_offset_minutes.unwrap_or(crate::media::capture::LOCAL_OFFSET_MINUTES),
        ),
        "captured_at_source": a.captured_at_source,
        "submitted_at": rfc3339(now),
        "age_minutes": (now - at).num_minutes(),
    })
}

pub struct MediaStale;

impl Check for MediaStale {
    fn code(&self) -> Code {
        Code::MediaStale
    }

    fn run(&self, report: &Report, ctx: &Context<'_>, hits: &mut Vec<Hit>) {
        let hours = ctx.config.media_max_age_hours;
        let cutoff = ctx.now - Duration::hours(hours);
        let mut timed = Vec::new();
        let mut unknown = 0usize;
        for (i, a) in evidence(report) {
            match a.capture_time() {
                Some(at) => timed.push((i, a, at)),
                None => unknown += 1,
            }
        }
        if timed.is_empty() || timed.iter().any(|(_, _, at)| *at >= cutoff) {
            return;
        }
        for (i, a, at) in timed {
            let mut detail = time_detail(a, at, ctx.now);
            detail["max_age_hours"] = json!(hours);
            detail["media_of_unknown_time"] = json!(unknown);
            let mut hit = Hit::new(
                format!("attachments[{i}]"),
                messages::media::media_stale_file(i, a.file_name.as_deref(), at, hours),
            )
            .with_detail(detail);
            if unknown > 0 {
                hit = hit.at_most(Action::Flag);
            }
            hits.push(hit);
        }
    }
}

pub struct MediaFuture;

impl Check for MediaFuture {
    fn code(&self) -> Code {
        Code::MediaFuture
    }

    fn run(&self, report: &Report, ctx: &Context<'_>, hits: &mut Vec<Hit>) {
        let skew = ctx.config.media_future_skew_minutes;
        let latest = ctx.now + Duration::minutes(skew);
        for (i, a) in evidence(report) {
            let Some(at) = a.capture_time().filter(|at| *at > latest) else {
                continue;
            };
            let mut detail = time_detail(a, at, ctx.now);
            detail["ahead_minutes"] = json!((at - ctx.now).num_minutes());
            detail["skew_minutes"] = json!(skew);
            hits.push(
                Hit::new(
                    format!("attachments[{i}]"),
                    messages::media_future(i, a.file_name.as_deref()),
                )
                .with_detail(detail),
            );
        }
    }
}

pub struct MediaTimeUnknown;

impl Check for MediaTimeUnknown {
    fn code(&self) -> Code {
        Code::MediaTimeUnknown
    }

    fn run(&self, report: &Report, _ctx: &Context<'_>, hits: &mut Vec<Hit>) {
        for (i, a) in evidence(report).filter(|(_, a)| a.capture_time().is_none()) {
            // A report stored before the send time had its own field kept it in `captured_at`
            // (source `channel`): it is the same evidence.
            let sent_at = a.sent_at.or(a.captured_at);
            hits.push(
                Hit::new(
                    format!("attachments[{i}]"),
                    messages::media_time_unknown(i, a.file_name.as_deref()),
                )
                .with_detail(json!({
                    "captured_at": null,
                    "captured_at_source": a.captured_at_source,
                    "sent_at": sent_at.map(rfc3339),
                    "received_at": rfc3339(report.received_at),
                    "media_type": a.media_type,
                    "kind": a.kind,
                })),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{inspect, MediaInfo};
    use crate::report::{CaptureSource, Channel, Envelope, ReceivedFile, VouchedCapture};
    use crate::validate::{Status, ValidationConfig, Validator, Verdict};
    use chrono::TimeZone;
    use std::io::Cursor;

    /// The fixed test clock of the fixtures: 2026-11-28T03:00:00Z (10:00 in Long An).
    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 3, 0, 0).unwrap()
    }

    /// The attachment of an inspected file, keeping the inspection's capture source even without
    /// a time (so a check can be shown a source that vouches for nothing).
    fn attachment(name: &str, info: MediaInfo) -> Attachment {
        let source = info.captured_at_source;
        let mut a = Attachment::from_inspection(
            info,
            ReceivedFile {
                file_name: Some(name.to_string()),
                size: 1,
                ..ReceivedFile::default()
            },
        );
        a.captured_at_source = source;
        a
    }

    fn from_fixture(name: &str, bytes: &[u8]) -> Attachment {
        attachment(name, inspect(&mut Cursor::new(bytes), None))
    }

    fn timed(name: &str, kind: MediaKind, at: Option<DateTime<Utc>>) -> Attachment {
        attachment(
            name,
            MediaInfo {
                kind: Some(kind),
                media_type: "image/jpeg".into(),
                captured_at: at,
                captured_at_source: if at.is_some() {
                    CaptureSource::Exif
                } else {
                    CaptureSource::None
                },
                ..MediaInfo::default()
            },
        )
    }

    fn verdict(attachments: Vec<Attachment>, config: &ValidationConfig) -> Verdict {
        let mut report = crate::report::Report::new(Envelope {
            id: "01TEST".into(),
            tracking_code: "T".into(),
            channel: Channel::App,
            channel_ref: None,
            received_at: now(),
        });
        report.attachments = attachments;
        let validator = Validator::with_checks(vec![
            Box::new(MediaStale),
            Box::new(MediaFuture),
            Box::new(MediaTimeUnknown),
        ]);
        validator.validate(&report, &Context::new(now(), config))
    }

    macro_rules! fixture {
        ($name:literal) => {
            from_fixture(
                $name,
                include_bytes!(concat!("../../../../fixtures/media/", $name)),
            )
        };
    }

    #[test]
    fn a_photo_taken_two_hours_ago_passes() {
        let v = verdict(
            vec![fixture!("photo-2h-before.jpg")],
            &ValidationConfig::default(),
        );
        assert_eq!(v.status, Status::Accepted, "{v:?}");
    }

    #[test]
    fn a_photo_taken_three_days_ago_is_rejected_with_its_time() {
        let v = verdict(
            vec![fixture!("photo-3d-before.jpg")],
            &ValidationConfig::default(),
        );
        assert_eq!(v.status, Status::Rejected);
        assert_eq!(v.codes(), vec![Code::MediaStale]);
        let finding = &v.reasons[0];
        assert_eq!(finding.field, "attachments[0]");
        assert!(
            finding.message.contains("08:00 ngày 25/11/2026"),
            "{}",
            finding.message
        );
        let detail = finding.detail.as_ref().unwrap();
        assert_eq!(detail["captured_at"], "2026-11-25T01:00:00Z");
        assert_eq!(detail["captured_at_local"], "2026-11-25T08:00:00+07:00");
        assert_eq!(detail["age_minutes"], 74 * 60);
    }

    #[test]
    fn one_fresh_medium_saves_the_report() {
        let v = verdict(
            vec![
                fixture!("photo-3d-before.jpg"),
                fixture!("video-3d-before.mp4"),
                fixture!("audio-2h-before.mp3"),
            ],
            &ValidationConfig::default(),
        );
        assert_eq!(v.status, Status::Accepted, "{v:?}");
    }

    #[test]
    fn every_stale_medium_is_named() {
        let v = verdict(
            vec![
                fixture!("photo-3d-before.jpg"),
                fixture!("video-3d-before.mp4"),
                fixture!("audio-id3v23-3d-before.mp3"),
            ],
            &ValidationConfig::default(),
        );
        let fields: Vec<_> = v.reasons.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            ["attachments[0]", "attachments[1]", "attachments[2]"]
        );
    }

    #[test]
    fn unknown_time_media_turn_a_stale_rejection_into_a_flag() {
        let v = verdict(
            vec![
                fixture!("photo-3d-before.jpg"),
                fixture!("photo-no-exif.jpg"),
            ],
            &ValidationConfig::default(),
        );
        assert_eq!(v.status, Status::NeedsReview, "{v:?}");
        assert!(v.reasons.is_empty());
        let flagged: Vec<_> = v.flags.iter().map(|f| (f.code, f.field.as_str())).collect();
        assert_eq!(
            flagged,
            [
                (Code::MediaStale, "attachments[0]"),
                (Code::MediaTimeUnknown, "attachments[1]")
            ]
        );
    }

    #[test]
    fn the_boundary_is_the_configured_age() {
        let config = ValidationConfig::default();
        let just_inside = now() - Duration::hours(48);
        let just_outside = just_inside - Duration::seconds(1);
        let inside = verdict(
            vec![timed("a.jpg", MediaKind::Photo, Some(just_inside))],
            &config,
        );
        assert_eq!(inside.status, Status::Accepted);
        let outside = verdict(
            vec![timed("a.jpg", MediaKind::Photo, Some(just_outside))],
            &config,
        );
        assert_eq!(outside.codes(), vec![Code::MediaStale]);
        let lenient = ValidationConfig {
            media_max_age_hours: 96,
            ..ValidationConfig::default()
        };
        let three_days = verdict(vec![fixture!("photo-3d-before.jpg")], &lenient);
        assert_eq!(three_days.status, Status::Accepted);
    }

    #[test]
    fn a_future_capture_is_flagged_beyond_the_skew() {
        let v = verdict(
            vec![fixture!("photo-future.jpg")],
            &ValidationConfig::default(),
        );
        assert_eq!(v.status, Status::NeedsReview);
        assert_eq!(v.codes(), vec![Code::MediaFuture]);
        let detail = v.flags[0].detail.as_ref().unwrap();
        assert_eq!(detail["captured_at"], "2026-11-28T07:00:00Z");
        assert_eq!(detail["ahead_minutes"], 240);
        let within_skew = now() + Duration::minutes(9);
        let ok = verdict(
            vec![timed("a.jpg", MediaKind::Photo, Some(within_skew))],
            &ValidationConfig::default(),
        );
        assert_eq!(ok.status, Status::Accepted);
    }

    /// A file received over a channel with what the channel knows of it.
    fn received(name: &str, bytes: &[u8], file: ReceivedFile) -> Attachment {
        Attachment::from_inspection(
            inspect(&mut Cursor::new(bytes), None),
            ReceivedFile {
                file_name: Some(name.to_string()),
                size: bytes.len() as u64,
                ..file
            },
        )
    }

    const NO_EXIF: &[u8] = include_bytes!("../../../../fixtures/media/photo-no-exif.jpg");
    const THREE_DAYS: &[u8] = include_bytes!("../../../../fixtures/media/photo-3d-before.jpg");

    #[test]
    fn unknown_times_are_flagged_per_medium_but_documents_and_broken_files_are_not() {
        let v = verdict(
            vec![
                fixture!("photo-no-exif.jpg"),
                fixture!("voice-note.amr"),
                fixture!("photo-default-clock.jpg"),
                timed("don.pdf", MediaKind::Document, None),
                received(
                    "camera-trong-app.jpg",
                    NO_EXIF,
                    ReceivedFile {
                        vouched_capture: Some(VouchedCapture::MiniappCamera(now())),
                        ..ReceivedFile::default()
                    },
                ),
                fixture!("video-no-ftyp.mp4"),
                timed("exif.jpg", MediaKind::Photo, Some(now())),
            ],
            &ValidationConfig::default(),
        );
        let unknown: Vec<_> = v
            .flags
            .iter()
            .filter(|f| f.code == Code::MediaTimeUnknown)
            .map(|f| f.field.as_str())
            .collect();
        assert_eq!(
            unknown,
            ["attachments[0]", "attachments[1]", "attachments[2]"]
        );
        assert!(v.flags[0].message.contains("tệp đính kèm thứ 1"));
        assert!(!v.codes().contains(&Code::MediaStale));
    }

    // Regression: a chat photo whose EXIF the messenger stripped had the message's send time
    // written as its capture time, so a week-old gallery photo passed as fresh.
    #[test]
    fn a_send_time_is_evidence_beside_an_unknown_capture_time_never_the_capture_time() {
        let sent = now() - Duration::minutes(5);
        for (name, bytes) in [
            ("zalo-chat.jpg", NO_EXIF),
            (
                "ghi-am.amr",
                &include_bytes!("../../../../fixtures/media/voice-note.amr")[..],
            ),
            (
                "video-khong-gio.mp4",
                &include_bytes!("../../../../fixtures/media/video-no-time.mp4")[..],
            ),
        ] {
            let a = received(
                name,
                bytes,
                ReceivedFile {
                    sent_at: Some(sent),
                    ..ReceivedFile::default()
                },
            );
            assert_eq!(a.captured_at, None, "{name}");
            assert_eq!(a.captured_at_source, CaptureSource::None, "{name}");
            assert_eq!(a.sent_at, Some(sent), "{name}");
            let v = verdict(vec![a], &ValidationConfig::default());
            assert_eq!(v.status, Status::NeedsReview, "{name}: {v:?}");
            assert_eq!(v.codes(), vec![Code::MediaTimeUnknown], "{name}");
            let detail = v.flags[0].detail.as_ref().unwrap();
            assert_eq!(detail["captured_at"], serde_json::Value::Null, "{name}");
            assert_eq!(detail["captured_at_source"], "none", "{name}");
            assert_eq!(detail["sent_at"], "2026-11-28T02:55:00Z", "{name}");
            assert_eq!(detail["received_at"], "2026-11-28T03:00:00Z", "{name}");
        }
    }

    #[test]
    fn a_send_time_does_not_save_a_stale_photo_nor_does_an_unverified_channel() {
        // The file's own time wins over everything the channel says.
        let stale = received(
            "cu.jpg",
            THREE_DAYS,
            ReceivedFile {
                sent_at: Some(now()),
                vouched_capture: Some(VouchedCapture::MiniappCamera(now())),
                ..ReceivedFile::default()
            },
        );
        assert_eq!(stale.captured_at_source, CaptureSource::Exif);
        let v = verdict(vec![stale], &ValidationConfig::default());
        assert_eq!(v.status, Status::Rejected, "{v:?}");
        assert_eq!(v.codes(), vec![Code::MediaStale]);
        // A stale photo beside a freshly *sent* one of unknown time is only a flag, never an
        // acceptance: the send time does not make the second one fresh.
        let v = verdict(
            vec![
                fixture!("photo-3d-before.jpg"),
                received(
                    "zalo.jpg",
                    NO_EXIF,
                    ReceivedFile {
                        sent_at: Some(now()),
                        ..ReceivedFile::default()
                    },
                ),
            ],
            &ValidationConfig::default(),
        );
        assert_eq!(
            v.flags.iter().map(|f| f.code).collect::<Vec<_>>(),
            [Code::MediaStale, Code::MediaTimeUnknown]
        );
    }

    #[test]
    fn a_verified_in_app_camera_vouches_for_the_capture() {
        let at = now() - Duration::minutes(1);
        let a = received(
            "camera.jpg",
            NO_EXIF,
            ReceivedFile {
                sent_at: Some(at),
                vouched_capture: Some(VouchedCapture::MiniappCamera(at)),
                ..ReceivedFile::default()
            },
        );
        assert_eq!(a.captured_at, Some(at));
        assert_eq!(a.captured_at_source, CaptureSource::MiniappCamera);
        assert_eq!(a.capture_time(), Some(at));
        let v = verdict(vec![a], &ValidationConfig::default());
        assert_eq!(v.status, Status::Accepted, "{v:?}");
    }

    #[test]
    fn a_legacy_channel_time_read_from_a_stored_report_is_not_a_capture_time() {
        // Reports stored before `sent_at` existed wrote the chat message's time as the capture
        // time with the source `channel`; they still read, and the time counts as a send time.
        let stored = json!({
            "kind": "photo", "media_type": "image/jpeg", "claimed_type": "image/jpeg",
            "file_name": "zalo.jpg", "size": 1000, "sha256": "00",
            "captured_at": "2026-11-21T03:00:00Z", "captured_at_source": "channel",
            "captured_offset_minutes": null, "gps": null, "width": 10, "height": 10,
            "duration_ms": null, "storage_key": "00", "public_key": null, "unreadable": null
        });
        let a: Attachment = serde_json::from_value(stored).unwrap();
        assert_eq!(a.captured_at_source, CaptureSource::Channel);
        assert_eq!(a.sent_at, None);
        assert_eq!(a.capture_time(), None);
        let v = verdict(vec![a], &ValidationConfig::default());
        assert_eq!(v.codes(), vec![Code::MediaTimeUnknown]);
        let detail = v.flags[0].detail.as_ref().unwrap();
        assert_eq!(detail["captured_at_source"], "channel");
        assert_eq!(detail["sent_at"], "2026-11-21T03:00:00Z");
    }
}
