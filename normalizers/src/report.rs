//! The canonical report (phản ánh hiện trường), SPEC §4.
//!
//! Every channel produces exactly this shape. It is versioned (`schema_version`) and its JSON
//! Schema is generated from these types and committed as `normalizers/schema/report.schema.json`.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::validate::Verdict;

/// Version of the report JSON schema. Bump on any incompatible change (2: `captured_at_source`
/// `miniapp_camera` and `attachments[].sent_at`; a send time is no longer a capture time).
pub const SCHEMA_VERSION: u32 = 2;

/// A citizen's field report (kiến nghị, phản ánh hiện trường) in canonical form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    pub schema_version: u32,
    /// Sortable unique id (ULID).
    pub id: String,
    /// Short, human-typable, non-enumerable code given to the citizen (mã phản ánh).
    pub tracking_code: String,
    pub channel: Channel,
    /// The channel's own id of the submission (Message-ID, Zalo msg_id, Idempotency-Key).
    pub channel_ref: Option<String>,
    /// When the gateway received the submission (UTC).
    pub received_at: DateTime<Utc>,
    pub reporter: Reporter,
    pub content: Content,
    pub category: Option<Category>,
    pub occurred_at: Option<OccurredAt>,
    pub location: Location,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// Media the citizen sent that the channel could not fetch (a Zalo chat photo whose link
    /// expired, a CDN that kept failing): the report went on without them, and the IOC sees
    /// that they existed. Absent when nothing was lost.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lost_media: Vec<LostMedium>,
    /// The citizen asked that the result not be published (bảo mật thông tin, Đ11.2).
    #[serde(default)]
    pub confidential: bool,
    pub verdict: Verdict,
    pub deadlines: Deadlines,
    /// Storage key of the raw original as received (the .eml, the webhook events, the API
    /// request's report part), kept for audit (R-PIPE-3, Đ12.1).
    #[serde(default)]
    pub raw_original: Option<String>,
    /// Open while the IOC handles it; closed reports no longer count as duplicates (Đ7.3).
    #[serde(default)]
    pub status: ReportStatus,
    /// The processing trail set by the IOC (Đ12.2): each status with its time, actor, agency,
    /// notes and deadline (`crate::trail`). Empty until the IOC first acts; not written then.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trail: Vec<crate::trail::TrailEntry>,
    /// The IOC withheld the result from publication (Đ11.3, or another reason it gave): the
    /// report is not published even once answered. Absent: published once answered, unless
    /// `confidential`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publication_withheld: Option<Withheld>,
    /// The IOC's disclosures of the reporter's contact to a handling agency (Đ8.3, Đ13.5), each
    /// with who, when and why. Without one (or the reporter's `consent_share_pii`), agencies
    /// see no contact.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disclosures: Vec<Disclosure>,
    /// Where the IOC's messages and the citizen's answers go (`crate::conversation`): the email
    /// thread or the Zalo OA conversation the report came from. Absent for the app, portal,
    /// mini app and Open311 (they read the tracking view).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_route: Option<crate::conversation::ReplyRoute>,
    /// The IOC's messages about the report, each with its delivery attempts (R-MSG-IOC).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<crate::conversation::IocMessage>,
    /// The citizen's answers and ratings (R-MSG-IOC, R-MSG-RATING): never public.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<crate::conversation::CitizenMessage>,
}

/// The IOC's decision not to publish a report's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Withheld {
    pub at: DateTime<Utc>,
    /// `ioc:<key id>`, never a person.
    pub actor: String,
    pub reason: String,
}

/// A disclosure of the reporter's contact to an agency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Disclosure {
    pub at: DateTime<Utc>,
    /// `ioc:<key id>`, never a person.
    pub actor: String,
    /// The agency the contact is disclosed to.
    pub agency: String,
    pub reason: String,
}

/// Coarse handling status: `closed` once the trail is closed (`crate::trail`), `open` before.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportStatus {
    #[default]
    Open,
    Closed,
}

/// Intake channel (kênh tiếp nhận), SPEC §2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    ZaloOa,
    ZaloMiniapp,
    App,
    Portal,
    Open311,
}

impl Channel {
    pub const ALL: [Channel; 6] = [
        Channel::Email,
        Channel::ZaloOa,
        Channel::ZaloMiniapp,
        Channel::App,
        Channel::Portal,
        Channel::Open311,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::ZaloOa => "zalo_oa",
            Channel::ZaloMiniapp => "zalo_miniapp",
            Channel::App => "app",
            Channel::Portal => "portal",
            Channel::Open311 => "open311",
        }
    }
}

/// Who sent the report (người phản ánh).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Reporter {
    pub kind: ReporterKind,
    pub name: Option<String>,
    /// E.164, Vietnamese spellings normalised (R-VAL-PHONE).
    pub phone: Option<String>,
    pub email: Option<String>,
    /// Identity on the channel: Zalo user id, app user id, email address of the sender.
    pub channel_identity: Option<String>,
    pub verified_by: VerifiedBy,
    /// Consent to share personal data with the handling agency (Đ8.3).
    #[serde(default)]
    pub consent_share_pii: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReporterKind {
    #[default]
    Individual,
    Organisation,
}

/// How the reporter's identity was authenticated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerifiedBy {
    Dkim,
    Zalo,
    AppToken,
    Otp,
    #[default]
    None,
}

/// The description (nội dung phản ánh).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Content {
    /// Title, when the channel has one (email subject).
    pub title: Option<String>,
    /// Text in Unicode NFC.
    pub text: String,
    /// Facts found by the language checks (R-VAL-TEXT); filled by the validator.
    #[serde(default)]
    pub language: Option<LanguageFacts>,
}

/// What the Vietnamese text analysis found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LanguageFacts {
    /// Share of Vietnamese-looking words that carry diacritics (0..1).
    pub diacritic_ratio: f32,
    /// Whether the text reads as Vietnamese.
    pub is_vietnamese: bool,
    /// Abbreviations found, with their full forms.
    #[serde(default)]
    pub abbreviations: Vec<Abbreviation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Abbreviation {
    pub word: String,
    pub full_form: String,
    /// `chat` (rejected by default) or `administrative` (flagged).
    pub kind: AbbreviationKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AbbreviationKind {
    Chat,
    Administrative,
}

/// One of the five fields of Đ5, with a sub-category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Category {
    pub field: CategoryField,
    pub subcategory: Option<String>,
    pub source: CategorySource,
    /// Confidence of a suggestion (0..1); 1 when the citizen chose it.
    pub confidence: f32,
}

/// The five fields of Đ5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CategoryField {
    /// Dịch vụ hành chính công.
    PublicAdministration,
    /// Trật tự đô thị xã hội (chiếu sáng, cây xanh, cấp thoát nước, viễn thông, điện lực).
    UrbanOrder,
    /// Giao thông.
    Traffic,
    /// An ninh trật tự, an toàn xã hội.
    PublicSecurity,
    /// Môi trường, khoáng sản và tài nguyên nước.
    Environment,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CategorySource {
    Given,
    Suggested,
}

/// When the incident happened, and how we know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OccurredAt {
    pub at: DateTime<Utc>,
    pub source: TimeSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimeSource {
    /// Stated by the citizen (a form field).
    Given,
    /// Read from the text ("lúc 7 giờ sáng nay").
    Text,
    /// Capture time of an attachment.
    Media,
    /// Time the channel saw the message.
    Channel,
}

/// Where the incident is (địa điểm).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Location {
    pub address: Option<String>,
    pub coordinates: Option<Coordinates>,
    pub coordinates_source: Option<CoordinatesSource>,
    /// Administrative units matched in the gazetteer (before and after the 2025 reform).
    pub admin: Option<AdminMatch>,
    /// Whether the coordinates lie inside the province boundary (None: no coordinates).
    pub inside_jurisdiction: Option<bool>,
}

/// WGS84 coordinates in decimal degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Coordinates {
    pub lat: f64,
    pub lon: f64,
}

impl Coordinates {
    /// Valid WGS84 range and not the (0, 0) null island that broken GPS writers produce.
    pub fn is_plausible(&self) -> bool {
        self.lat.is_finite()
            && self.lon.is_finite()
            && (-90.0..=90.0).contains(&self.lat)
            && (-180.0..=180.0).contains(&self.lon)
            && !(self.lat == 0.0 && self.lon == 0.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CoordinatesSource {
    Given,
    ExifGps,
    ZaloLocation,
    Geocoded,
    Text,
}

/// Gazetteer match: units before the 2025-07-01 reform and after it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AdminMatch {
    /// Pre-2025 district (huyện / thị xã / thành phố), full name.
    pub old_district: Option<String>,
    pub old_district_code: Option<String>,
    /// Pre-2025 commune (xã / phường / thị trấn), full name.
    pub old_commune: Option<String>,
    pub old_commune_code: Option<String>,
    /// Post-2025 commune or ward, full name.
    pub new_commune: Option<String>,
    pub new_commune_code: Option<String>,
    /// 0..1, how sure the match is.
    pub confidence: f32,
}

/// A photo, audio, video or document attached to the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Attachment {
    pub kind: MediaKind,
    /// Media type sniffed from the bytes (not the one the sender claimed).
    pub media_type: String,
    /// What the sender claimed (Content-Type, file name extension), for the record.
    pub claimed_type: Option<String>,
    pub file_name: Option<String>,
    pub size: u64,
    /// Lowercase hex sha256 of the bytes; also the storage key.
    pub sha256: String,
    /// When the medium was captured, read from the file (EXIF, the container) or vouched for by
    /// a channel that saw it being taken (`captured_at_source`). Never the time a channel sent
    /// or received the file: that is `sent_at`.
    pub captured_at: Option<DateTime<Utc>>,
    pub captured_at_source: CaptureSource,
    /// UTC offset of the capture time as written by the device, in minutes, when known.
    pub captured_offset_minutes: Option<i32>,
    /// When the citizen sent this file over the channel, when the channel knows it per file: the
    /// time of the Zalo chat message that carried it, the mini-app upload. Evidence for the IOC
    /// beside an unknown capture time (MEDIA_TIME_UNKNOWN), never a capture time: a photo taken
    /// last week can be sent today. Absent when the file came inside the report itself (email,
    /// API), whose `received_at` is then that time.
    #[serde(default)]
    pub sent_at: Option<DateTime<Utc>>,
    pub gps: Option<Coordinates>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
    /// Content-addressed storage key of the original.
    pub storage_key: String,
    /// Storage key of the public copy with metadata stripped, when one was made.
    pub public_key: Option<String>,
    /// Why the file could not be read, when it could not.
    pub unreadable: Option<String>,
}

/// A medium sent over a channel that could not be fetched. Never the URL (it carries the
/// channel's access parameters), only what the message said and why the fetch failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LostMedium {
    /// The kind the message announced.
    pub kind: MediaKind,
    /// The channel's id of the message that carried it (Zalo `msg_id`).
    pub channel_ref: Option<String>,
    pub file_name: Option<String>,
    /// When the citizen sent it.
    pub sent_at: Option<DateTime<Utc>>,
    pub reason: LostReason,
}

/// Why a medium could not be fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LostReason {
    /// The source answered 4xx (gone, expired, forbidden): given up at once.
    ClientError,
    /// The source kept answering 5xx (or 408/429) until the retries ran out.
    ServerError,
    /// The download kept taking longer than allowed.
    Timeout,
    /// The connection kept failing.
    Connection,
    /// Larger than the gateway accepts.
    TooLarge,
    /// Its address is not one media may be fetched from.
    NotAllowed,
    /// The gateway could not write it to its staging folder.
    Storage,
}

/// What the receiving side knows of a file whatever its content: how it was sent and stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReceivedFile {
    /// Lowercase hex sha256 of the bytes.
    pub sha256: String,
    pub size: u64,
    /// Where the receiver stores the bytes (the gateway's content address).
    pub storage_key: String,
    pub file_name: Option<String>,
    pub claimed_type: Option<String>,
    /// When the citizen sent the file over the channel (the chat message's time, the upload's):
    /// recorded as [`Attachment::sent_at`], never as the capture time.
    pub sent_at: Option<DateTime<Utc>>,
    /// A capture the channel itself vouches for, used when the file carries no time.
    pub vouched_capture: Option<VouchedCapture>,
}

/// A capture time a channel vouches for because it saw the medium being taken, not merely sent.
///
/// Only a channel that controls the capture and whose caller is authenticated can vouch: the
/// time a messenger delivered a file says nothing of when it was taken (a week-old gallery photo
/// whose EXIF the messenger stripped is sent "now"). Every other channel time is
/// [`ReceivedFile::sent_at`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VouchedCapture {
    /// Taken with the in-app camera of the Zalo mini app "Long An Số"
    /// (`chooseImage({sourceType:["camera"]})`) and uploaded at this instant, in a request whose
    /// access token Zalo verified.
    MiniappCamera(DateTime<Utc>),
}

impl VouchedCapture {
    pub fn at(self) -> DateTime<Utc> {
        match self {
            VouchedCapture::MiniappCamera(at) => at,
        }
    }

    pub fn source(self) -> CaptureSource {
        match self {
            VouchedCapture::MiniappCamera(_) => CaptureSource::MiniappCamera,
        }
    }
}

/// A file name as a sender gave it, kept for display only: the last path component (`/` or
/// `\`), without control characters (CR/LF, NUL, ESC…), at most 120 characters. Whatever the
/// channel (a multipart part, a mail attachment, a chat file), the IOC and the citizen's reply
/// never see a path or a character that breaks a line.
pub fn display_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    base.chars().filter(|c| !c.is_control()).take(120).collect()
}

impl Attachment {
    /// The attachment record of an inspected file. A capture time read from the file wins over
    /// a channel's vouched capture; the channel's send time is kept beside it, never as the
    /// capture time.
    pub fn from_inspection(info: crate::media::MediaInfo, file: ReceivedFile) -> Attachment {
        let (captured_at, captured_at_source, captured_offset_minutes) =
            match (info.captured_at, file.vouched_capture) {
                (Some(t), _) => (
                    Some(t),
                    info.captured_at_source,
                    info.captured_offset_minutes,
                ),
                (None, Some(v)) => (Some(v.at()), v.source(), None),
                (None, None) => (None, CaptureSource::None, None),
            };
        Attachment {
            kind: info.kind.unwrap_or(MediaKind::Document),
            media_type: info.media_type,
            claimed_type: file.claimed_type,
            file_name: file.file_name.as_deref().map(display_file_name),
            size: file.size,
            sha256: file.sha256,
            captured_at,
            captured_at_source,
            captured_offset_minutes,
            sent_at: file.sent_at,
            gps: info.gps,
            width: info.width,
            height: info.height,
            duration_ms: info.duration_ms,
            storage_key: file.storage_key,
            public_key: None,
            unreadable: info.unreadable,
        }
    }

    /// The capture time that counts for the 48-hour rule (Đ6.3): one read from the file or
    /// vouched for by the channel. A legacy `channel` time (a send time that older reports stored
    /// as the capture time) does not count.
    pub fn capture_time(&self) -> Option<DateTime<Utc>> {
        self.captured_at
            .filter(|_| self.captured_at_source.is_capture_evidence())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Photo,
    Video,
    Audio,
    Document,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Photo => "photo",
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
            MediaKind::Document => "document",
        }
    }
}

/// What vouches for `captured_at`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaptureSource {
    /// EXIF DateTimeOriginal (or DateTimeDigitized) of a photo.
    Exif,
    /// The container of a recording (MP4/MOV `mvhd`, QuickTime creationdate, ID3 dates).
    Container,
    /// The Zalo mini app's in-app camera, in a request whose access token Zalo verified.
    MiniappCamera,
    /// Legacy, never written now: reports stored before the send time was split off recorded
    /// the time a channel sent the file (a Zalo chat message's time, a mini-app upload) as the
    /// capture time. Kept so those reports still read; such a time does not count as a capture
    /// time.
    Channel,
    /// No capture time.
    #[default]
    None,
}

impl CaptureSource {
    /// Whether a time with this source is evidence of when the medium was captured.
    pub fn is_capture_evidence(self) -> bool {
        match self {
            CaptureSource::Exif | CaptureSource::Container | CaptureSource::MiniappCamera => true,
            CaptureSource::Channel | CaptureSource::None => false,
        }
    }
}

/// Working-hour deadlines (Đ9.2, Đ10).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Deadlines {
    /// Received + 4 working hours (Đ9.2): the IOC forwards or rejects by then.
    pub forward_or_reject_by: Option<DateTime<Utc>>,
    /// Set by the IOC when it forwards (4 working hours, Đ10).
    pub agency_accept_by: Option<DateTime<Utc>>,
    /// Set by the IOC when it forwards (7 working days, Đ10).
    pub agency_answer_by: Option<DateTime<Utc>>,
}

/// The fields every channel knows before normalisation starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub id: String,
    pub tracking_code: String,
    pub channel: Channel,
    pub channel_ref: Option<String>,
    pub received_at: DateTime<Utc>,
}

impl Report {
    /// An empty report for `envelope`, to be filled by a normalizer.
    pub fn new(envelope: Envelope) -> Self {
        Report {
            schema_version: SCHEMA_VERSION,
            id: envelope.id,
            tracking_code: envelope.tracking_code,
            channel: envelope.channel,
            channel_ref: envelope.channel_ref,
            received_at: envelope.received_at,
            reporter: Reporter::default(),
            content: Content::default(),
            category: None,
            occurred_at: None,
            location: Location::default(),
            attachments: Vec::new(),
            lost_media: Vec::new(),
            confidential: false,
            verdict: Verdict::default(),
            deadlines: Deadlines::default(),
            raw_original: None,
            status: ReportStatus::Open,
            trail: Vec::new(),
            publication_withheld: None,
            disclosures: Vec::new(),
            reply_route: None,
            messages: Vec::new(),
            answers: Vec::new(),
        }
    }
}

/// The JSON Schema of [`Report`], as committed in `normalizers/schema/report.schema.json`.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(Report);
    serde_json::to_value(schema).expect("a JSON schema always serialises")
}

#[cfg(test)]
mod file_name_tests {
    use super::display_file_name;

    #[test]
    fn a_file_name_is_shown_without_its_path_and_control_characters() {
        assert_eq!(
            display_file_name("../../../../tmp/gw-evil.jpg\u{7}"),
            "gw-evil.jpg"
        );
        assert_eq!(display_file_name("..\\..\\win.ini"), "win.ini");
        assert_eq!(display_file_name("ảnh\r\nBcc: x.jpg"), "ảnhBcc: x.jpg");
        assert_eq!(display_file_name(&"a".repeat(300)).len(), 120);
    }
}
