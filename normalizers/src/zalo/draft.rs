//! The draft of a report collected over a Zalo OA conversation, and its conversion into a
//! canonical [`Report`] plus the media still to be downloaded.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::contact::normalize_phone;
use crate::intake_fields::{non_empty, phone_as_given};
use crate::media::MediaInfo;
use crate::report::{
    Attachment, Channel, Coordinates, CoordinatesSource, Envelope, MediaKind, ReceivedFile, Report,
    VerifiedBy,
};
use crate::text::nfc;

use super::event::{media_kind_of, Attachment as ZaloAttachment, Inspection, SubmittedInfo};

/// At most this many events go into one draft (and into its raw original).
pub const MAX_EVENTS: usize = 200;
/// At most this many media per report.
pub const MAX_MEDIA: usize = 20;
/// Description length cap, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 5_000;

/// A medium the citizen sent in the chat, to be downloaded when the report is submitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaRef {
    /// The Zalo message that carried it.
    pub msg_id: String,
    pub kind: MediaKind,
    /// Zalo's attachment type (`image`, `gif`, `video`, `audio`, `file`).
    pub zalo_type: String,
    pub url: String,
    pub file_name: Option<String>,
    /// Size Zalo announced (files only).
    pub size: Option<u64>,
    /// The media type the attachment type implies.
    pub claimed_type: Option<String>,
    /// When the message was sent: channel evidence of the capture time (chat photos usually
    /// carry no EXIF).
    pub sent_at: Option<DateTime<Utc>>,
    /// What the gateway read from the file while the conversation went on, once it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inspection: Option<Inspection>,
}

impl MediaRef {
    /// Read a media attachment of a user message; `None` for non-media (location, sticker, link).
    pub fn from_attachment(
        msg_id: &str,
        index: usize,
        a: &ZaloAttachment,
        sent_at: Option<DateTime<Utc>>,
    ) -> Option<MediaRef> {
        let kind = media_kind_of(&a.kind)?;
        let url = a.payload.url.as_deref()?.trim();
        if url.is_empty() {
            return None;
        }
        let claimed_type = match a.kind.as_str() {
            "image" => Some("image/jpeg".to_string()),
            "gif" => Some("image/gif".to_string()),
            "video" => Some("video/mp4".to_string()),
            "audio" | "voice" => Some("audio/amr".to_string()),
            _ => None,
        };
        let file_name = a.payload.name.clone().filter(|n| !n.trim().is_empty());
        Some(MediaRef {
            msg_id: if index == 0 {
                msg_id.to_string()
            } else {
                format!("{msg_id}#{index}")
            },
            kind,
            zalo_type: a.kind.clone(),
            url: url.to_string(),
            file_name,
            size: a.payload.size,
            claimed_type,
            sent_at,
            inspection: None,
        })
    }

    /// Whether the gateway has not yet reported on this medium.
    pub fn inspection_pending(&self) -> bool {
        self.inspection.is_none()
    }

    /// The inspection, when the file was read (not when its download failed).
    pub fn read(&self) -> Option<&Inspection> {
        self.inspection.as_ref().filter(|i| !i.failed)
    }

    /// The staged file kept for this medium, if any.
    pub fn staged(&self) -> Option<&str> {
        self.inspection.as_ref().and_then(|i| i.staged.as_deref())
    }

    /// A stand-in attachment used to validate a draft before "Gửi": what the gateway read from
    /// the file when it was inspected already (capture time, GPS, readability), else only what
    /// the message says (kind, claimed type). The message time is only its send time (`sent_at`).
    pub fn placeholder_attachment(&self) -> Attachment {
        let claimed = self
            .claimed_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".into());
        let info = match self.read() {
            Some(i) => MediaInfo {
                kind: i.kind.or(Some(self.kind)),
                media_type: i.media_type.clone().unwrap_or(claimed),
                width: i.width,
                height: i.height,
                duration_ms: i.duration_ms,
                captured_at: i.captured_at,
                captured_at_source: i.captured_at_source.unwrap_or_default(),
                captured_offset_minutes: i.captured_offset_minutes,
                gps: i.gps,
                unreadable: i.unreadable.clone(),
                ..MediaInfo::default()
            },
            None => MediaInfo {
                kind: Some(self.kind),
                media_type: claimed,
                ..MediaInfo::default()
            },
        };
        Attachment::from_inspection(
            info,
            ReceivedFile {
                file_name: self.file_name.clone(),
                claimed_type: self.claimed_type.clone(),
                size: self.read().and_then(|i| i.size).or(self.size).unwrap_or(0),
                sent_at: self.sent_at,
                ..ReceivedFile::default()
            },
        )
    }
}

/// What a conversation collected so far. Everything here is the citizen's own data: it lives in
/// the dialogue store (with a TTL) and never in logs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    pub oa_id: String,
    pub user_id: String,
    /// Paragraphs of the description, in the order sent.
    pub description: Vec<String>,
    /// Address of the incident, as typed.
    pub address: Option<String>,
    pub coordinates: Option<Coordinates>,
    pub media: Vec<MediaRef>,
    pub name: Option<String>,
    /// Phone as given (E.164 when it parsed).
    pub phone: Option<String>,
    /// The raw events that built the draft, in arrival order (the report's raw original).
    pub events: Vec<String>,
    /// De-duplication keys of the events applied (Zalo retries for an hour).
    pub applied: Vec<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub last_activity: Option<DateTime<Utc>>,
}

impl Draft {
    pub fn new(oa_id: &str, user_id: &str, now: DateTime<Utc>) -> Draft {
        Draft {
            oa_id: oa_id.to_string(),
            user_id: user_id.to_string(),
            started_at: Some(now),
            last_activity: Some(now),
            ..Draft::default()
        }
    }

    pub fn has_description(&self) -> bool {
        self.description.iter().any(|p| !p.trim().is_empty())
    }

    pub fn has_evidence(&self) -> bool {
        self.media.iter().any(|m| m.kind != MediaKind::Document)
    }

    pub fn has_location(&self) -> bool {
        self.coordinates.is_some() || self.address.is_some()
    }

    /// The GPS position read from the first inspected medium that has one.
    pub fn media_gps(&self) -> Option<Coordinates> {
        self.media
            .iter()
            .filter_map(MediaRef::read)
            .filter(|i| i.unreadable.is_none())
            .find_map(|i| i.gps.filter(|g| g.is_plausible()))
    }

    /// The staged files of the draft's media (bare names in the staging folder).
    pub fn staged_files(&self) -> Vec<String> {
        self.media
            .iter()
            .filter_map(|m| m.staged().map(str::to_string))
            .collect()
    }

    pub fn has_contact(&self) -> bool {
        self.name.is_some() && self.phone.is_some()
    }

    pub fn description_text(&self) -> String {
        nfc(self.description.join("\n").trim())
    }

    pub fn add_description(&mut self, text: &str) {
        let text = nfc(text.trim());
        if text.is_empty() {
            return;
        }
        let used: usize = self.description.iter().map(|p| p.chars().count()).sum();
        let room = MAX_DESCRIPTION_CHARS.saturating_sub(used);
        if room > 0 {
            self.description.push(text.chars().take(room).collect());
        }
    }

    pub fn replace_description(&mut self, text: &str) {
        self.description.clear();
        self.add_description(text);
    }

    pub fn set_address(&mut self, text: &str) {
        let text = nfc(text.trim());
        if !text.is_empty() {
            self.address = Some(text.chars().take(500).collect());
        }
    }

    /// Add a medium; false when the draft already holds [`MAX_MEDIA`].
    pub fn add_media(&mut self, media: MediaRef) -> bool {
        if self.media.len() >= MAX_MEDIA {
            return false;
        }
        if !self.media.iter().any(|m| m.msg_id == media.msg_id) {
            self.media.push(media);
        }
        true
    }

    /// Take name and phone from a `user_submit_info` form. The citizen's home address in the
    /// form is not the incident's place and is not used.
    pub fn set_submitted_info(&mut self, info: &SubmittedInfo) {
        if let Some(name) = non_empty(info.name.as_deref()) {
            self.name = Some(nfc(name));
        }
        if let Some(phone) = non_empty(info.phone.as_deref()) {
            self.phone = Some(phone_as_given(phone));
        }
    }

    /// Read a name and a phone number typed as text ("Nguyễn Văn A 0912 345 678"). Returns
    /// whether anything was taken.
    pub fn set_typed_contact(&mut self, text: &str) -> bool {
        let (phone, rest) = split_phone(text);
        let mut took = false;
        if let Some(phone) = phone {
            self.phone = Some(phone);
            took = true;
        }
        let name: String = rest
            .trim_matches(|c: char| c.is_whitespace() || ",;:-–.".contains(c))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let letters = name.chars().filter(|c| c.is_alphabetic()).count();
        let digits = name.chars().filter(|c| c.is_ascii_digit()).count();
        if letters >= 2 && digits == 0 && name.split_whitespace().count() <= 8 {
            self.name = Some(nfc(&name));
            took = true;
        }
        took
    }

    /// The canonical report of this draft, without attachments (the gateway fills them from the
    /// downloaded media), and the media to download.
    pub fn to_report(&self, envelope: Envelope) -> (Report, Vec<MediaRef>) {
        let mut report = Report::new(envelope);
        let r = &mut report.reporter;
        r.name = self.name.clone();
        r.phone = self.phone.clone();
        r.channel_identity = Some(self.user_id.clone()).filter(|u| !u.is_empty());
        r.verified_by = VerifiedBy::Zalo;
        report.content.text = self.description_text();
        report.location.address = self.address.clone();
        if let Some(c) = self.coordinates {
            report.location.coordinates = Some(c);
            report.location.coordinates_source = Some(CoordinatesSource::ZaloLocation);
        }
        (report, self.media.clone())
    }

    /// The report with stand-in attachments, to validate the draft as the citizen goes.
    pub fn preview_report(&self, now: DateTime<Utc>) -> Report {
        let envelope = Envelope {
            id: String::new(),
            tracking_code: String::new(),
            channel: Channel::ZaloOa,
            channel_ref: None,
            received_at: now,
        };
        self.report_with_stand_ins(envelope)
    }

    /// The report with a stand-in attachment for each medium not downloaded yet (see
    /// [`MediaRef::placeholder_attachment`]): what the checks see before "Gửi".
    pub fn report_with_stand_ins(&self, envelope: Envelope) -> Report {
        let (mut report, media) = self.to_report(envelope);
        report.attachments = media.iter().map(MediaRef::placeholder_attachment).collect();
        report
    }

    /// The raw original: a JSON array of the events, each exactly as received.
    pub fn raw_original(&self) -> String {
        let mut out =
            String::with_capacity(self.events.iter().map(|e| e.len() + 1).sum::<usize>() + 2);
        out.push('[');
        for (i, e) in self.events.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(e.trim());
        }
        out.push(']');
        out
    }
}

/// Find a Vietnamese phone number in `text`; returns it in E.164 and the text without it.
fn split_phone(text: &str) -> (Option<String>, String) {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() || chars[i] == '+' || chars[i] == '(' {
            let start = i;
            let mut end = i;
            let mut digits = 0;
            while end < chars.len()
                && (chars[end].is_ascii_digit() || " .-+()".contains(chars[end]))
            {
                if chars[end].is_ascii_digit() {
                    digits += 1;
                }
                end += 1;
            }
            if digits >= 9 {
                let candidate: String = chars[start..end].iter().collect();
                if let Some(phone) = normalize_phone(candidate.trim()) {
                    let rest: String = chars[..start].iter().chain(&chars[end..]).collect();
                    return (Some(phone), rest);
                }
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    (None, text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typed_contact_gives_name_and_e164_phone() {
        let mut d = Draft::default();
        assert!(d.set_typed_contact("Nguyễn Văn An, 0912 345 678"));
        assert_eq!(d.name.as_deref(), Some("Nguyễn Văn An"));
        assert_eq!(d.phone.as_deref(), Some("+84912345678"));
        let mut d = Draft::default();
        assert!(d.set_typed_contact("0912.345.678 Trần Thị Bình"));
        assert_eq!(d.name.as_deref(), Some("Trần Thị Bình"));
        let mut d = Draft::default();
        assert!(!d.set_typed_contact("12"));
        assert_eq!((d.name, d.phone), (None, None));
    }

    #[test]
    fn submitted_info_of_both_shapes_fills_name_and_phone_but_not_the_incident_place() {
        let new_shape: SubmittedInfo = serde_json::from_str(
            r#"{"name":"Name Example","phone":"84912345678","full_address":{"user_city":"Thành phố Hồ Chí Minh","user_address":"Đường số 13"}}"#,
        )
        .unwrap();
        let old_shape: SubmittedInfo = serde_json::from_str(
            r#"{"name":"Name Example","phone":84912345678,"address":"1 Lê Lợi","city":"Long An","district":"Bến Lức","ward":"Mỹ Yên"}"#,
        )
        .unwrap();
        for info in [new_shape, old_shape] {
            let mut d = Draft::default();
            d.set_submitted_info(&info);
            assert_eq!(d.name.as_deref(), Some("Name Example"));
            assert_eq!(d.phone.as_deref(), Some("+84912345678"));
            assert_eq!(d.address, None);
        }
    }

    #[test]
    fn the_raw_original_is_the_json_array_of_the_events_as_received() {
        let d = Draft {
            events: vec![r#"{"a": 1}"#.into(), r#"{"b":"ế"}"#.into()],
            ..Draft::default()
        };
        let raw = d.raw_original();
        assert_eq!(raw, r#"[{"a": 1},{"b":"ế"}]"#);
        let parsed: Vec<serde_json::Value> = serde_json::from_str(&raw).unwrap();
        assert_eq!(parsed.len(), 2);
    }
}
