//! Zalo OA webhook events (ZALO.md §1), parsed leniently: every id and the timestamp stay
//! strings (ids exceed 2^53), coordinates may be strings or numbers, `user_submit_info` comes in
//! two shapes. Unknown fields are ignored; the raw bytes are kept by the caller for audit.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::report::{CaptureSource, Coordinates, MediaKind};

/// The name of the gateway's own event: a medium of the conversation was downloaded and read
/// (see [`Inspection`]). Zalo never sends it; the webhook ignores it when posted from outside.
pub const INSPECTED_EVENT: &str = "x_gateway_media_inspected";

/// One webhook event as Zalo posts it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(default)]
    pub app_id: String,
    #[serde(default)]
    pub event_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<Party>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<Party>,
    /// Present on follow/unfollow events instead of sender/recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oa_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follower: Option<Party>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id_by_app: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    /// Answer to a `request_user_info` form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<SubmittedInfo>,
    /// What the gateway read from a medium ([`INSPECTED_EVENT`] only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inspection: Option<Inspection>,
    /// Epoch milliseconds, as a string.
    #[serde(default, deserialize_with = "string_or_number")]
    pub timestamp: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Party {
    #[serde(default, deserialize_with = "string_or_number")]
    pub id: String,
    /// Present on `oa_send_*` echoes only when a human sent the message from the OA chat tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Message {
    #[serde(default, deserialize_with = "string_or_number")]
    pub msg_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote_msg_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub payload: AttachmentPayload,
}

/// The union of every attachment payload of ZALO.md's table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AttachmentPayload {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_u64"
    )]
    pub size: Option<u64>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub file_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coordinates: Option<RawCoordinates>,
}

/// Coordinates as Zalo sends them: strings, or (unconfirmed) numbers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RawCoordinates {
    #[serde(default, deserialize_with = "string_or_number")]
    pub latitude: String,
    #[serde(default, deserialize_with = "string_or_number")]
    pub longitude: String,
}

impl RawCoordinates {
    /// Parsed and range-checked WGS84 coordinates.
    pub fn parse(&self) -> Option<Coordinates> {
        let lat = self.latitude.trim().parse::<f64>().ok()?;
        let lon = self.longitude.trim().parse::<f64>().ok()?;
        let c = Coordinates { lat, lon };
        c.is_plausible().then_some(c)
    }
}

/// What a citizen filled into a `request_user_info` form. Both known shapes are accepted: flat
/// `address/city/district/ward`, or `full_address{user_city, user_ward, user_address}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SubmittedInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_string"
    )]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ward: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub district: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_address: Option<FullAddress>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FullAddress {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_ward: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_city: Option<String>,
}

/// What the gateway read from one medium of a draft, downloaded while the conversation went on.
/// It reaches the dialogue as an [`INSPECTED_EVENT`] on the same durable stream as the citizen's
/// events, so it is applied in order and stored with the draft.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Inspection {
    /// The [`super::MediaRef::msg_id`] of the medium.
    pub media: String,
    /// The download failed: nothing is known; the medium is downloaded again at submission.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub failed: bool,
    /// The file kept in the staging folder for the submission (a bare file name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staged: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<MediaKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured_at_source: Option<CaptureSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured_offset_minutes: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gps: Option<Coordinates>,
    /// Why the file is not usable evidence (Vietnamese, for the citizen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

/// What an event means for a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Something the citizen sent that can go into a report.
    UserMessage,
    /// The answer to our `request_user_info` form.
    UserSubmitInfo,
    Follow,
    Unfollow,
    /// An `oa_send_*` echo of a message the OA sent: never answered (reply loops).
    Echo,
    /// `user_received_message`, `user_seen_message`…: never answered.
    Receipt,
    /// The gateway's own [`INSPECTED_EVENT`].
    Inspected,
    /// Anything else (reactions, anonymous chat, events of other products).
    Other,
}

/// Why a webhook body is not a Zalo event at all.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("the body is not a JSON object of a Zalo event: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the event has no event_name")]
    NoEventName,
}

impl Event {
    /// Parse the raw body of a webhook request.
    pub fn parse(raw: &[u8]) -> Result<Event, EventError> {
        let event: Event = serde_json::from_slice(raw)?;
        if event.event_name.is_empty() {
            return Err(EventError::NoEventName);
        }
        Ok(event)
    }

    pub fn kind(&self) -> EventKind {
        let name = self.event_name.as_str();
        match name {
            "user_submit_info" => EventKind::UserSubmitInfo,
            INSPECTED_EVENT => EventKind::Inspected,
            "follow" => EventKind::Follow,
            "unfollow" => EventKind::Unfollow,
            "user_received_message" | "user_seen_message" | "user_reacted_message" => {
                EventKind::Receipt
            }
            _ if name.starts_with("oa_send_") => EventKind::Echo,
            _ if name.starts_with("user_send_") => EventKind::UserMessage,
            _ => EventKind::Other,
        }
    }

    /// The Zalo user the event is about (sender of user events, follower of follow events).
    pub fn user_id(&self) -> Option<&str> {
        let id = match self.kind() {
            EventKind::Follow | EventKind::Unfollow => self.follower.as_ref().map(|p| &p.id),
            EventKind::Echo => self.recipient.as_ref().map(|p| &p.id),
            _ => self.sender.as_ref().map(|p| &p.id),
        }?;
        (!id.is_empty()).then_some(id.as_str())
    }

    /// The OA the event is for: `recipient.id` of user events, `sender.id` of echoes, `oa_id`.
    pub fn oa_id(&self) -> Option<&str> {
        let id = match (&self.oa_id, self.kind()) {
            (Some(id), _) => Some(id),
            (None, EventKind::Echo) => self.sender.as_ref().map(|p| &p.id),
            (None, _) => self.recipient.as_ref().map(|p| &p.id),
        }?;
        (!id.is_empty()).then_some(id.as_str())
    }

    /// Zalo's message id, the de-duplication key of retried deliveries (R-PIPE-1).
    pub fn msg_id(&self) -> Option<&str> {
        self.message
            .as_ref()
            .map(|m| m.msg_id.as_str())
            .filter(|id| !id.is_empty())
    }

    /// A key that identifies this event across Zalo's retries: the msg_id when there is one,
    /// else the event name, user and timestamp (follow and user_submit_info carry no msg_id).
    pub fn dedup_key(&self) -> String {
        if let Some(i) = self
            .inspection
            .as_ref()
            .filter(|_| self.kind() == EventKind::Inspected)
        {
            return format!("inspected:{}", i.media);
        }
        match self.msg_id() {
            Some(id) => format!("msg:{id}"),
            None => format!(
                "{}:{}:{}",
                self.event_name,
                self.user_id().unwrap_or(""),
                self.timestamp
            ),
        }
    }

    /// The event time (epoch milliseconds). Zalo's own doc sample has a 12-digit value: it is
    /// read as milliseconds all the same.
    pub fn time(&self) -> Option<DateTime<Utc>> {
        let ms = self.timestamp.trim().parse::<i64>().ok()?;
        Utc.timestamp_millis_opt(ms).single()
    }
}

/// The report media kind of a Zalo attachment type, if it is evidence at all.
pub fn media_kind_of(attachment_type: &str) -> Option<MediaKind> {
    match attachment_type {
        "image" | "gif" => Some(MediaKind::Photo),
        "video" => Some(MediaKind::Video),
        "audio" | "voice" => Some(MediaKind::Audio),
        "file" => Some(MediaKind::Document),
        _ => None,
    }
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(opt_string(d)?.unwrap_or_default())
}

fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match v {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        Some(other) => Some(other.to_string()),
    })
}

fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(opt_string(d)?.and_then(|s| s.trim().parse::<u64>().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_official_text_sample_parses_with_string_ids() {
        let raw = br#"{"app_id":"360846524940903967","sender":{"id":"246845883529197922"},"user_id_by_app":"552177279717587730","recipient":{"id":"388613280878808645"},"event_name":"user_send_text","message":{"text":"message","msg_id":"96d3cdf3af150460909"},"timestamp":"154390853474"}"#;
        let e = Event::parse(raw).unwrap();
        assert_eq!(e.kind(), EventKind::UserMessage);
        assert_eq!(e.user_id(), Some("246845883529197922"));
        assert_eq!(e.oa_id(), Some("388613280878808645"));
        assert_eq!(e.msg_id(), Some("96d3cdf3af150460909"));
        assert_eq!(e.time().unwrap().timestamp_millis(), 154_390_853_474);
    }

    #[test]
    fn location_coordinates_are_read_from_strings_and_numbers() {
        for raw in [
            r#"{"event_name":"user_send_location","message":{"msg_id":"1","attachments":[{"type":"location","payload":{"coordinates":{"latitude":"10.7642473","longitude":"106.6564314"}}}]},"timestamp":"1720000000000"}"#,
            r#"{"event_name":"user_send_location","message":{"msg_id":"1","attachments":[{"type":"location","payload":{"coordinates":{"latitude":10.7642473,"longitude":106.6564314}}}]},"timestamp":1720000000000}"#,
        ] {
            let e = Event::parse(raw.as_bytes()).unwrap();
            let c = e.message.unwrap().attachments[0]
                .payload
                .coordinates
                .as_ref()
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!((c.lat, c.lon), (10.7642473, 106.6564314));
        }
    }

    #[test]
    fn echoes_follows_and_receipts_are_told_apart() {
        let echo = Event::parse(
            br#"{"app_id":"A","sender":{"id":"OA","admin_id":"9"},"recipient":{"id":"U"},"event_name":"oa_send_text","message":{"text":"x","msg_id":"m"},"timestamp":"1"}"#,
        )
        .unwrap();
        assert_eq!(echo.kind(), EventKind::Echo);
        assert_eq!(echo.oa_id(), Some("OA"));
        assert_eq!(echo.user_id(), Some("U"));
        let follow = Event::parse(
            br#"{"oa_id":"388613280879808645","follower":{"id":"24684588352919792"},"event_name":"follow","app_id":"1","timestamp":"154397978274"}"#,
        )
        .unwrap();
        assert_eq!(follow.kind(), EventKind::Follow);
        assert_eq!(follow.user_id(), Some("24684588352919792"));
        assert_eq!(follow.oa_id(), Some("388613280879808645"));
        let seen = Event::parse(br#"{"event_name":"user_seen_message","timestamp":"1"}"#).unwrap();
        assert_eq!(seen.kind(), EventKind::Receipt);
    }

    #[test]
    fn a_body_without_event_name_is_refused() {
        assert!(matches!(
            Event::parse(br#"{"app_id":"1"}"#),
            Err(EventError::NoEventName)
        ));
        assert!(matches!(Event::parse(b"[1,2]"), Err(EventError::Json(_))));
    }
}
