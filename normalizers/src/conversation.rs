//! The conversation between the IOC and the citizen about a report (R-MSG-IOC, Đ8, Đ10, Đ12):
//! the IOC's messages, where each was sent and what became of every attempt.
//!
//! A message has a kind (`request_detail`, `not_accepted`, `forwarded`, `result`, `other`), a
//! Vietnamese text, and is either meant for the citizen (delivered on the report's channel and
//! shown on the public tracking view) or an internal note (kept on the report for the IOC,
//! never delivered, never public). Every delivery attempt is recorded on the message
//! ([`DeliveryAttempt`]): queued to a channel's outbox, sent, undeliverable with its reason,
//! forwarded to another contact of the citizen, shown on the tracking page, posted to the app's
//! backend.
//!
//! The report keeps the route answers go back on ([`ReplyRoute`]): the email thread or the Zalo
//! OA conversation it came from, set by the gateway at intake.
//!
//! Pure: the caller hands in ids, the instant and the actor.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::report::{Channel, Report};

/// Bounds of a message's text (a Zalo OA text message holds 2000 characters, with the header
/// the gateway adds).
pub const MAX_TEXT_CHARS: usize = 1500;
/// Messages one report may carry (the IOC's and the delivery records together stay bounded).
pub const MAX_MESSAGES: usize = 100;
/// Attempts recorded per message.
pub const MAX_ATTEMPTS: usize = 20;
/// Photos one message may carry (Đ10.3: the result with photos of the fix).
pub const MAX_PHOTOS: usize = 6;

/// What the IOC tells the citizen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// The IOC asks for more detail (Đ9.1).
    RequestDetail,
    /// The report is not accepted, with the reason (Đ9.2).
    NotAccepted,
    /// The report was forwarded to an agency (Đ9.2).
    Forwarded,
    /// The result of the handling (Đ10.3).
    Result,
    Other,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::RequestDetail => "request_detail",
            MessageKind::NotAccepted => "not_accepted",
            MessageKind::Forwarded => "forwarded",
            MessageKind::Result => "result",
            MessageKind::Other => "other",
        }
    }
}

/// Where the citizen's answers and the IOC's messages go for a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum ReplyRoute {
    /// The email thread the report came in (the address replies go to, the Message-ID and
    /// References to thread under, the original subject).
    Email {
        address: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_id: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        references: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subject: Option<String>,
    },
    /// The Zalo OA conversation.
    ZaloOa { oa_id: String, user_id: String },
}

/// How one attempt went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryRoute {
    /// A reply in the report's email thread, or to the citizen's email address.
    Email,
    /// A message in the Zalo OA conversation.
    ZaloOa,
    /// Shown on the public tracking view (`/v1/track/{code}`, `/track/{code}`).
    TrackingPage,
    /// Posted to the app's backend (signed webhook).
    Webhook,
    /// No route to the citizen at all.
    None,
}

/// What became of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// Durably queued in the channel's outbox; the result follows as another attempt.
    Queued,
    /// Accepted by the channel (the SMTP server, the Zalo OA API, the app's backend), or
    /// published on the tracking view.
    Sent,
    /// Failed for now (the backend answered an error); the webhook is tried again from its
    /// outbox (a `queued` attempt follows), other routes are not.
    Failed,
    /// Cannot reach the citizen on this route; `reason` says why.
    Undeliverable,
}

/// One attempt to reach the citizen, with its result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeliveryAttempt {
    pub at: DateTime<Utc>,
    pub route: DeliveryRoute,
    pub outcome: DeliveryOutcome,
    /// Why it failed or was not delivered (a Zalo error code and text, an HTTP status, a
    /// fallback taken): no personal data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A photo the IOC attached (Đ10.3: a result comes with photos of the fix).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MessagePhoto {
    pub media_type: String,
    pub size: u64,
    pub storage_key: String,
    /// The copy without metadata, when one could be made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
}

/// A message of the IOC about a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IocMessage {
    /// Sortable unique id (ULID).
    pub id: String,
    pub kind: MessageKind,
    pub text: String,
    pub at: DateTime<Utc>,
    /// Who wrote it: `<role>:<key id>`, never a person.
    pub actor: String,
    /// An internal note: never delivered, never public.
    #[serde(default)]
    pub internal: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub photos: Vec<MessagePhoto>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<DeliveryAttempt>,
}

/// What the IOC asks to send.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub kind: MessageKind,
    pub text: String,
    pub internal: bool,
    pub photos: Vec<MessagePhoto>,
}

/// Why a message is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MessageError {
    #[error("`text` is empty")]
    Empty,
    #[error("`text` is longer than {max} characters")]
    TooLong { max: usize },
    #[error("`text` holds control characters")]
    Control,
    #[error("the report already carries {max} messages")]
    TooMany { max: usize },
    #[error("no message {0} on this report")]
    Unknown(String),
    #[error("a message carries at most {max} photos")]
    TooManyPhotos { max: usize },
}

impl MessageError {
    /// A conflict with the report's state (409) rather than a malformed request (400).
    pub fn is_conflict(&self) -> bool {
        matches!(self, MessageError::TooMany { .. })
    }
}

/// The text as it is stored and sent: trimmed, NFC, bounded, no control characters but line
/// breaks and tabs.
pub fn clean_text(text: &str) -> Result<String, MessageError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(MessageError::Empty);
    }
    if t.chars().count() > MAX_TEXT_CHARS {
        return Err(MessageError::TooLong {
            max: MAX_TEXT_CHARS,
        });
    }
    if t.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(MessageError::Control);
    }
    Ok(crate::text::nfc(&t.replace("\r\n", "\n")))
}

/// The route the IOC's messages take for this report: the stored reply route; for an email
/// report stored without one, the reporter's address in the thread of its Message-ID.
pub fn route_of(report: &Report) -> Option<ReplyRoute> {
    if let Some(r) = &report.reply_route {
        return Some(r.clone());
    }
    match report.channel {
        Channel::Email => report
            .reporter
            .email
            .clone()
            .or_else(|| report.reporter.channel_identity.clone())
            .map(|address| ReplyRoute::Email {
                address,
                message_id: report.channel_ref.clone(),
                references: Vec::new(),
                subject: report.content.title.clone(),
            }),
        _ => None,
    }
}

/// Which route a citizen-facing message of this report goes out on first.
pub fn first_route(report: &Report) -> DeliveryRoute {
    match (route_of(report), report.channel) {
        (Some(ReplyRoute::Email { .. }), _) => DeliveryRoute::Email,
        (Some(ReplyRoute::ZaloOa { .. }), _) => DeliveryRoute::ZaloOa,
        // The app, the portal, the mini app and Open311 clients read the tracking view (and
        // the app's backend gets the webhook when one is configured).
        (None, Channel::App | Channel::Portal | Channel::ZaloMiniapp | Channel::Open311) => {
            DeliveryRoute::TrackingPage
        }
        (None, _) => DeliveryRoute::None,
    }
}

/// Add the IOC's message to the report at `now`; the first attempt is recorded by the caller
/// once it knows how it went. Returns the stored message.
pub fn add(
    report: &mut Report,
    id: String,
    new: NewMessage,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<IocMessage, MessageError> {
    if report.messages.len() >= MAX_MESSAGES {
        return Err(MessageError::TooMany { max: MAX_MESSAGES });
    }
    let text = clean_text(&new.text)?;
    if new.photos.len() > MAX_PHOTOS {
        return Err(MessageError::TooManyPhotos { max: MAX_PHOTOS });
    }
    let message = IocMessage {
        id,
        kind: new.kind,
        text,
        at: now,
        actor: actor.to_string(),
        internal: new.internal,
        photos: new.photos,
        attempts: Vec::new(),
    };
    report.messages.push(message.clone());
    Ok(message)
}

/// Record an attempt on message `id`. Past [`MAX_ATTEMPTS`] the last one is replaced, so the
/// record stays bounded and shows how it ended.
pub fn record(report: &mut Report, id: &str, attempt: DeliveryAttempt) -> Result<(), MessageError> {
    let m = report
        .messages
        .iter_mut()
        .find(|m| m.id == id)
        .ok_or_else(|| MessageError::Unknown(id.to_string()))?;
    if m.attempts.len() >= MAX_ATTEMPTS {
        m.attempts.pop();
    }
    m.attempts.push(attempt);
    Ok(())
}

/// How the citizen rates the result (Đ8.1, R-MSG-RATING).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RatingValue {
    /// Rất hài lòng.
    VerySatisfied,
    /// Hài lòng.
    Satisfied,
    /// Không hài lòng (with a reason).
    Dissatisfied,
}

impl RatingValue {
    pub fn as_str(self) -> &'static str {
        match self {
            RatingValue::VerySatisfied => "very_satisfied",
            RatingValue::Satisfied => "satisfied",
            RatingValue::Dissatisfied => "dissatisfied",
        }
    }
}

/// The citizen's rating of one result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Rating {
    pub value: RatingValue,
    /// Why not satisfied (required with `dissatisfied`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The `result` message it rates.
    pub result_message_id: String,
}

/// A message from the citizen about their report: an answer (to a request for detail, or on
/// their own), or a rating of the result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CitizenMessage {
    /// Sortable unique id (ULID).
    pub id: String,
    pub at: DateTime<Utc>,
    /// The channel it came on.
    pub channel: Channel,
    /// The channel's own id of it (Message-ID, Zalo msg_id), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_ref: Option<String>,
    /// The text, validated like a report's (NFC, bounded); empty for a rating without words.
    #[serde(default)]
    pub text: String,
    /// Media sent with it, inspected and stored like a report's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<crate::report::Attachment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<Rating>,
    /// What the Vietnamese text checks found in the text, for the IOC (see [`check_answer`]):
    /// the answer is attached all the same.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<crate::validate::Code>,
}

/// Bounds of a citizen's answer.
pub const MAX_ANSWER_CHARS: usize = 4000;
/// Answers one report may carry.
pub const MAX_ANSWERS: usize = 100;

/// Why a citizen's answer or rating is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnswerError {
    #[error("the answer has neither text nor media")]
    Empty,
    #[error("the answer is longer than {max} characters")]
    TooLong { max: usize },
    #[error("the report already carries {max} answers")]
    TooMany { max: usize },
    #[error("there is no result to rate yet")]
    NothingToRate,
    #[error("this result is already rated")]
    AlreadyRated,
    #[error("`không hài lòng` needs a reason")]
    ReasonRequired,
    /// Đ7.6: vulgar or offensive words (the words are not repeated here, nor to the citizen).
    #[error("the answer has vulgar or offensive words")]
    Offensive,
}

impl AnswerError {
    /// What the citizen is told, in Vietnamese, where the refusal is theirs to fix.
    pub fn message_vi(&self) -> Option<&'static str> {
        match self {
            AnswerError::Offensive => Some(crate::messages::conversation::ANSWER_OFFENSIVE),
            _ => None,
        }
    }
}

/// The text checks of report descriptions that apply to an answer, each as flag for the IOC.
/// An answer is not a new report: Đ6.1 (Vietnamese with marks, no abbreviations) is what makes
/// a *report* admissible; refusing a citizen's reply to a request for detail because a phone
/// keyboard dropped the marks would break the exchange the IOC asked for, so those findings
/// are shown to the IOC on the answer instead. Đ7.6 (vulgar, offensive words) refuses.
const ANSWER_FLAGS: [crate::validate::Code; 6] = [
    crate::validate::Code::ContentNoDiacritics,
    crate::validate::Code::ContentPartialDiacritics,
    crate::validate::Code::ContentAbbreviation,
    crate::validate::Code::ContentNotVietnamese,
    crate::validate::Code::ComplaintOrDenunciation,
    crate::validate::Code::DefamationSuspected,
];

/// Run the Vietnamese text checks on an answer's (cleaned) text: refused when it has vulgar or
/// offensive words (Đ7.6); otherwise the codes to flag for the IOC (missing or partly missing
/// marks, abbreviations, not Vietnamese, complaint, suspected defamation), in SPEC order.
pub fn check_answer(text: &str) -> Result<Vec<crate::validate::Code>, AnswerError> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let analysis = crate::vietnamese::analyse(text);
    if !analysis.offensive_terms.is_empty() {
        return Err(AnswerError::Offensive);
    }
    let mut flags: Vec<_> = analysis
        .codes()
        .into_iter()
        .filter(|c| ANSWER_FLAGS.contains(c))
        .collect();
    flags.dedup();
    Ok(flags)
}

/// An answer's text: trimmed, NFC, bounded (empty allowed when media come with it).
pub fn clean_answer(text: &str, has_media: bool) -> Result<String, AnswerError> {
    let t = text.trim();
    if t.is_empty() && !has_media {
        return Err(AnswerError::Empty);
    }
    if t.chars().count() > MAX_ANSWER_CHARS {
        return Err(AnswerError::TooLong {
            max: MAX_ANSWER_CHARS,
        });
    }
    let t: String = t
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect();
    Ok(crate::text::nfc(&t))
}

/// The last `result` message sent to the citizen, when there is one.
pub fn last_result(report: &Report) -> Option<&IocMessage> {
    report
        .messages
        .iter()
        .rev()
        .find(|m| !m.internal && m.kind == MessageKind::Result)
}

/// Whether the last result still waits for its rating.
pub fn rating_open(report: &Report) -> Option<&IocMessage> {
    let result = last_result(report)?;
    let rated = report.answers.iter().any(|a| {
        a.rating
            .as_ref()
            .is_some_and(|r| r.result_message_id == result.id)
    });
    (!rated).then_some(result)
}

/// Whether the IOC's last message to the citizen asks for detail.
pub fn detail_requested(report: &Report) -> bool {
    report
        .messages
        .iter()
        .rev()
        .find(|m| !m.internal)
        .is_some_and(|m| m.kind == MessageKind::RequestDetail)
}

/// A rating written in an answer: `1`/`2`/`3` or the words (with or without marks), then the
/// reason. `None` when the text does not start with one.
pub fn parse_rating(text: &str) -> Option<(RatingValue, Option<String>)> {
    let t = crate::text::nfc(text.trim());
    // One char per char of `t`: NFC letters lose their marks, `đ` becomes `d`.
    let folded = crate::text::strip_marks(&t).to_lowercase();
    let starts = |word: &str| {
        folded.starts_with(word)
            && !folded[word.len()..]
                .chars()
                .next()
                .is_some_and(char::is_alphanumeric)
    };
    let (value, taken) = if starts("khong hai long") {
        (RatingValue::Dissatisfied, "khong hai long".len())
    } else if starts("rat hai long") {
        (RatingValue::VerySatisfied, "rat hai long".len())
    } else if starts("hai long") {
        (RatingValue::Satisfied, "hai long".len())
    } else if starts("1") {
        (RatingValue::VerySatisfied, 1)
    } else if starts("2") {
        (RatingValue::Satisfied, 1)
    } else if starts("3") {
        (RatingValue::Dissatisfied, 1)
    } else {
        return None;
    };
    // The reason: what follows, in the citizen's spelling.
    let rest: String = t.chars().skip(taken).collect();
    let rest = rest
        .trim_start_matches(|c: char| c.is_whitespace() || ".,:;-–—()".contains(c))
        .trim();
    Some((value, (!rest.is_empty()).then(|| rest.to_string())))
}

/// Record the citizen's rating of the last result.
pub fn rate(
    report: &mut Report,
    id: String,
    channel: Channel,
    channel_ref: Option<String>,
    value: RatingValue,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<CitizenMessage, AnswerError> {
    let result_id =
        rating_open(report)
            .map(|m| m.id.clone())
            .ok_or_else(|| match last_result(report) {
                Some(_) => AnswerError::AlreadyRated,
                None => AnswerError::NothingToRate,
            })?;
    let reason = match reason {
        Some(r) => Some(clean_answer(&r, false)?).filter(|r| !r.is_empty()),
        None => None,
    };
    if value == RatingValue::Dissatisfied && reason.is_none() {
        return Err(AnswerError::ReasonRequired);
    }
    let flags = match &reason {
        Some(r) => check_answer(r)?,
        None => Vec::new(),
    };
    if report.answers.len() >= MAX_ANSWERS {
        return Err(AnswerError::TooMany { max: MAX_ANSWERS });
    }
    let m = CitizenMessage {
        id,
        at: now,
        channel,
        channel_ref,
        text: reason.clone().unwrap_or_default(),
        attachments: Vec::new(),
        rating: Some(Rating {
            value,
            reason,
            result_message_id: result_id,
        }),
        flags,
    };
    report.answers.push(m.clone());
    Ok(m)
}

/// Attach the citizen's answer (its attachments already inspected and stored) to the report.
/// An answer already attached (same id) is not added twice.
pub fn answer(report: &mut Report, m: CitizenMessage) -> Result<CitizenMessage, AnswerError> {
    if let Some(existing) = report.answers.iter().find(|a| a.id == m.id) {
        return Ok(existing.clone());
    }
    if report.answers.len() >= MAX_ANSWERS {
        return Err(AnswerError::TooMany { max: MAX_ANSWERS });
    }
    report.answers.push(m.clone());
    Ok(m)
}

/// A message as the public tracking view shows it: kind, time, text, the paths of its photos'
/// public copies; no actor, no delivery details.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublicMessage {
    pub kind: MessageKind,
    /// The kind in Vietnamese.
    pub label: &'static str,
    pub at: DateTime<Utc>,
    pub text: String,
    /// Paths of the photos' public copies (EXIF and GPS stripped), served by
    /// `GET /v1/track/{code}/photos/{digest}`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub photos: Vec<String>,
}

/// The messages meant for the citizen, oldest first (internal notes never).
pub fn public_messages(report: &Report) -> Vec<PublicMessage> {
    report
        .messages
        .iter()
        .filter(|m| !m.internal)
        .map(|m| PublicMessage {
            kind: m.kind,
            label: crate::messages::conversation::kind_label(m.kind),
            at: m.at,
            text: m.text.clone(),
            photos: m
                .photos
                .iter()
                .filter_map(|p| photo_path(&report.tracking_code, p))
                .collect(),
        })
        .collect()
}

/// The digest naming a photo's public copy in public paths: the hex of its content address.
pub fn public_digest(photo: &MessagePhoto) -> Option<&str> {
    photo
        .public_key
        .as_deref()
        .and_then(|k| k.strip_prefix("sha256/"))
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The public path of a photo's stripped copy on the tracking view; `None` without one. The
/// path names the copy by its content digest, so it cannot be guessed from the code alone.
pub fn photo_path(tracking_code: &str, photo: &MessagePhoto) -> Option<String> {
    public_digest(photo).map(|d| format!("/v1/track/{tracking_code}/photos/{d}"))
}

/// The photo of a message meant for the citizen whose public copy has `digest` (internal
/// notes' photos never).
pub fn public_photo<'a>(report: &'a Report, digest: &str) -> Option<&'a MessagePhoto> {
    report
        .messages
        .iter()
        .filter(|m| !m.internal)
        .flat_map(|m| m.photos.iter())
        .find(|p| public_digest(p).is_some_and(|d| d.eq_ignore_ascii_case(digest)))
}

/// The photos of the last result sent to the citizen that have a public copy (Đ10.3, Đ11:
/// published with the result).
pub fn result_photos(report: &Report) -> Vec<&MessagePhoto> {
    last_result(report)
        .map(|m| {
            m.photos
                .iter()
                .filter(|p| public_digest(p).is_some())
                .collect()
        })
        .unwrap_or_default()
}

/// The usual file extension of a photo's media type (attachment names).
pub fn photo_extension(media_type: &str) -> &'static str {
    match media_type {
        "image/png" => "png",
        "image/webp" => "webp",
        _ => "jpg",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Envelope;

    fn report(channel: Channel) -> Report {
        Report::new(Envelope {
            id: "01TEST".into(),
            tracking_code: "LA-AAAA-BBBB".into(),
            channel,
            channel_ref: Some("m1@example.vn".into()),
            received_at: "2026-11-30T02:00:00Z".parse().unwrap(),
        })
    }

    fn new(kind: MessageKind, text: &str, internal: bool) -> NewMessage {
        NewMessage {
            kind,
            text: text.into(),
            internal,
            photos: Vec::new(),
        }
    }

    #[test]
    fn texts_are_checked_and_normalised() {
        assert_eq!(clean_text("  \n "), Err(MessageError::Empty));
        assert_eq!(
            clean_text(&"á".repeat(MAX_TEXT_CHARS + 1)),
            Err(MessageError::TooLong {
                max: MAX_TEXT_CHARS
            })
        );
        assert_eq!(clean_text("a\u{7}b"), Err(MessageError::Control));
        // Decomposed marks are composed (NFC); line breaks stay.
        assert_eq!(
            clean_text(" Đa\u{300} xong.\r\nCảm ơn ").unwrap(),
            "Đà xong.\nCảm ơn"
        );
    }

    #[test]
    fn internal_notes_never_reach_the_public_view() {
        let now = "2026-11-30T03:00:00Z".parse().unwrap();
        let mut r = report(Channel::App);
        add(
            &mut r,
            "M1".into(),
            new(MessageKind::RequestDetail, "Đề nghị gửi thêm ảnh.", false),
            "ioc:k",
            now,
        )
        .unwrap();
        add(
            &mut r,
            "M2".into(),
            new(MessageKind::Other, "ghi chú nội bộ", true),
            "ioc:k",
            now,
        )
        .unwrap();
        let public = public_messages(&r);
        assert_eq!(public.len(), 1);
        assert_eq!(public[0].text, "Đề nghị gửi thêm ảnh.");
        let json = serde_json::to_string(&public).unwrap();
        assert!(
            !json.contains("nội bộ") && !json.contains("ioc:k"),
            "{json}"
        );
    }

    fn photo(n: u8) -> MessagePhoto {
        MessagePhoto {
            media_type: "image/jpeg".into(),
            size: 10,
            storage_key: format!("sha256/{}", format!("{n:x}").repeat(64)),
            public_key: Some(format!("sha256/{}", format!("{:x}", n + 1).repeat(64))),
        }
    }

    #[test]
    fn photos_are_public_only_as_stripped_copies_of_messages_for_the_citizen() {
        let now = "2026-11-30T03:00:00Z".parse().unwrap();
        let mut r = report(Channel::App);
        let mut result = new(MessageKind::Result, "Đã sửa xong.", false);
        result.photos = vec![photo(1), photo(3)];
        add(&mut r, "M1".into(), result, "ioc:k", now).unwrap();
        let mut note = new(MessageKind::Other, "Ảnh nội bộ.", true);
        note.photos = vec![photo(5)];
        add(&mut r, "M2".into(), note, "ioc:k", now).unwrap();
        let public = public_messages(&r);
        assert_eq!(public.len(), 1);
        assert_eq!(
            public[0].photos,
            vec![
                format!("/v1/track/LA-AAAA-BBBB/photos/{}", "2".repeat(64)),
                format!("/v1/track/LA-AAAA-BBBB/photos/{}", "4".repeat(64)),
            ]
        );
        // The originals never, the internal note's copy never.
        assert!(public_photo(&r, &"4".repeat(64)).is_some());
        assert!(public_photo(&r, &"1".repeat(64)).is_none());
        assert!(public_photo(&r, &"6".repeat(64)).is_none());
        assert_eq!(result_photos(&r).len(), 2);
        let mut too_many = new(MessageKind::Result, "Ảnh.", false);
        too_many.photos = (0..=MAX_PHOTOS as u8).map(photo).collect();
        assert_eq!(
            add(&mut r, "M3".into(), too_many, "ioc:k", now),
            Err(MessageError::TooManyPhotos { max: MAX_PHOTOS })
        );
    }

    #[test]
    fn routes_follow_the_channel() {
        let mut r = report(Channel::Email);
        assert_eq!(first_route(&r), DeliveryRoute::None, "no address known");
        r.reporter.email = Some("an@example.vn".into());
        assert_eq!(first_route(&r), DeliveryRoute::Email);
        assert!(matches!(
            route_of(&r),
            Some(ReplyRoute::Email { message_id: Some(m), .. }) if m == "m1@example.vn"
        ));
        let mut z = report(Channel::ZaloOa);
        z.reply_route = Some(ReplyRoute::ZaloOa {
            oa_id: "OA1".into(),
            user_id: "U1".into(),
        });
        assert_eq!(first_route(&z), DeliveryRoute::ZaloOa);
        assert_eq!(
            first_route(&report(Channel::Portal)),
            DeliveryRoute::TrackingPage
        );
    }

    #[test]
    fn answers_go_through_the_text_checks() {
        use crate::validate::Code;
        assert_eq!(
            check_answer("Cột đèn số 15, cạnh trạm xe buýt."),
            Ok(Vec::new())
        );
        assert_eq!(check_answer(""), Ok(Vec::new()));
        let flags =
            check_answer("Cot den so 15 nam canh tram xe buyt tren duong Nguyen Hue.").unwrap();
        assert!(flags.contains(&Code::ContentNoDiacritics), "{flags:?}");
        let e = check_answer("Đồ cặc, sửa đèn chậm quá.").unwrap_err();
        assert_eq!(e, AnswerError::Offensive);
        assert!(e.message_vi().unwrap().contains("thô tục"));
        assert!(!e.to_string().contains("cặc"), "the words are not repeated");
    }

    #[test]
    fn ratings_are_read_from_answers() {
        assert_eq!(
            parse_rating("Rất hài lòng"),
            Some((RatingValue::VerySatisfied, None))
        );
        assert_eq!(
            parse_rating("hai long"),
            Some((RatingValue::Satisfied, None))
        );
        assert_eq!(
            parse_rating("Không hài lòng: đèn lại tắt sau hai ngày"),
            Some((
                RatingValue::Dissatisfied,
                Some("đèn lại tắt sau hai ngày".into())
            ))
        );
        assert_eq!(
            parse_rating("3 - chưa sửa"),
            Some((RatingValue::Dissatisfied, Some("chưa sửa".into())))
        );
        assert_eq!(parse_rating("12 Hùng Vương"), None);
        assert_eq!(parse_rating("Đèn vẫn hỏng"), None);
    }

    #[test]
    fn one_rating_per_result_and_dissatisfied_needs_a_reason() {
        let now: DateTime<Utc> = "2026-11-30T03:00:00Z".parse().unwrap();
        let mut r = report(Channel::App);
        let e = rate(
            &mut r,
            "A1".into(),
            Channel::App,
            None,
            RatingValue::Satisfied,
            None,
            now,
        );
        assert_eq!(e, Err(AnswerError::NothingToRate));
        add(
            &mut r,
            "M1".into(),
            new(MessageKind::Result, "Đã sửa xong.", false),
            "ioc:k",
            now,
        )
        .unwrap();
        let e = rate(
            &mut r,
            "A1".into(),
            Channel::App,
            None,
            RatingValue::Dissatisfied,
            None,
            now,
        );
        assert_eq!(e, Err(AnswerError::ReasonRequired));
        let m = rate(
            &mut r,
            "A1".into(),
            Channel::App,
            None,
            RatingValue::Dissatisfied,
            Some("Đèn lại tắt.".into()),
            now,
        )
        .unwrap();
        assert_eq!(m.rating.unwrap().result_message_id, "M1");
        let e = rate(
            &mut r,
            "A2".into(),
            Channel::App,
            None,
            RatingValue::Satisfied,
            None,
            now,
        );
        assert_eq!(e, Err(AnswerError::AlreadyRated));
        // A new result opens a new rating.
        add(
            &mut r,
            "M2".into(),
            new(MessageKind::Result, "Đã sửa lại.", false),
            "ioc:k",
            now,
        )
        .unwrap();
        assert!(rate(
            &mut r,
            "A3".into(),
            Channel::App,
            None,
            RatingValue::Satisfied,
            None,
            now
        )
        .is_ok());
    }

    #[test]
    fn attempts_are_recorded_and_bounded() {
        let now: DateTime<Utc> = "2026-11-30T03:00:00Z".parse().unwrap();
        let mut r = report(Channel::App);
        add(
            &mut r,
            "M1".into(),
            new(MessageKind::Other, "Xin chào.", false),
            "ioc:k",
            now,
        )
        .unwrap();
        let attempt = |outcome| DeliveryAttempt {
            at: now,
            route: DeliveryRoute::Email,
            outcome,
            reason: None,
        };
        for _ in 0..MAX_ATTEMPTS + 5 {
            record(&mut r, "M1", attempt(DeliveryOutcome::Failed)).unwrap();
        }
        record(&mut r, "M1", attempt(DeliveryOutcome::Sent)).unwrap();
        let m = &r.messages[0];
        assert_eq!(m.attempts.len(), MAX_ATTEMPTS);
        assert_eq!(m.attempts.last().unwrap().outcome, DeliveryOutcome::Sent);
        assert_eq!(
            record(&mut r, "M9", attempt(DeliveryOutcome::Sent)),
            Err(MessageError::Unknown("M9".into()))
        );
    }
}
