//! The fuzz targets' bodies: one function per target, taking the fuzzer's bytes.
//!
//! Each function drives the real code of one input path of the gateway and panics only when an
//! invariant breaks (beyond the panics, out-of-memory and hangs libFuzzer watches for itself).
//! The same file is compiled twice: into the cargo-fuzz crate (`fuzz/`, nightly, libFuzzer) and
//! into the workspace's integration tests (`tests/fuzz.rs`, stable), which replay the regression
//! inputs of `fixtures/fuzz/<target>/` and the seed corpus through these functions.
//!
//! Nothing here is given a clock: the instant of every report is the fixed [`NOW`].

use std::io::Cursor;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use normalizers::email::EmailOptions;
use normalizers::media::{self, MediaInfo};
use normalizers::report::{Attachment, Channel, Envelope, ReceivedFile, Report};
use normalizers::validate::{Context, ValidationConfig, Validator};

/// The instant every report is received and validated at (the fixtures' clock).
pub const NOW: &str = "2026-11-28T03:00:00Z";

/// The names of the targets, as `fuzz/run` and the replay test know them.
pub const TARGETS: &[&str] = &[
    "email",
    "media_inspect",
    "media_exif",
    "media_strip",
    "media_phash",
    "zalo_event",
    "multipart",
];

/// Run the target called `name` on `data`. False when there is no such target.
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "email" => email(data),
        "media_inspect" => media_inspect(data),
        "media_exif" => media_exif(data),
        "media_strip" => media_strip(data),
        "media_phash" => media_phash(data),
        "zalo_event" => zalo_event(data),
        "multipart" => multipart(data),
        _ => return false,
    }
    true
}

fn now() -> DateTime<Utc> {
    NOW.parse().expect("NOW is an RFC 3339 instant")
}

fn envelope(channel: Channel) -> Envelope {
    Envelope {
        id: "01KFUZZ".into(),
        tracking_code: "LA-FUZZ-0000".into(),
        channel,
        channel_ref: None,
        received_at: now(),
    }
}

/// Derive and validate as the gateway does (gazetteer and boundary loaded), then check that the
/// report still serialises.
fn finish(report: &mut Report) {
    let config = ValidationConfig::default();
    let mut ctx = Context::new(now(), &config);
    ctx.geo = Some(normalizers::geo::Geo::embedded());
    normalizers::pipeline::finish(report, &Validator::default(), &ctx);
    serde_json::to_vec(report).expect("a validated report serialises");
}

/// An attachment record of bytes held in memory, as `gateway check` makes one.
fn attachment(file_name: Option<String>, claimed_type: Option<String>, bytes: &[u8]) -> Attachment {
    let info = media::inspect(&mut Cursor::new(bytes), claimed_type.as_deref());
    Attachment::from_inspection(
        info,
        ReceivedFile {
            sha256: "0".repeat(64),
            size: bytes.len() as u64,
            storage_key: "sha256/fuzz".into(),
            file_name,
            claimed_type,
            sent_at: None,
            vouched_capture: None,
        },
    )
}

// --- email -----------------------------------------------------------------------------------

const OWN_ADDRESS: &str = "1022@longan.gov.vn";

/// A raw message through the email channel: `submission_from_eml` (the MIME normalizer), every
/// attachment inspected, the report derived and validated, then the reply the channel would
/// send built with lettre. The reply's header block must name one recipient, the sender's
/// address, and nothing the message wrote may add a header to it (header injection).
pub fn email(data: &[u8]) {
    let options = EmailOptions {
        trusted_authserv_id: Some("mx.longan.gov.vn".into()),
        own_addresses: vec![OWN_ADDRESS.into()],
    };
    let _ = normalizers::email::attachment_names(data);
    let _ = normalizers::email::sent_at(data);
    for message in normalizers::email::mbox_messages(Cursor::new(data)).take(4) {
        let _ = message;
    }
    let Ok(submission) = channels::email::submission_from_eml(
        bytes::Bytes::copy_from_slice(data),
        now(),
        &options,
        "fuzz:1",
    ) else {
        return;
    };
    let authenticated = submission.authenticated;
    let mut report = submission.submission.report;
    for m in &submission.submission.media {
        let channels::MediaSource::Bytes(bytes) = &m.source else {
            panic!("the email channel hands its media over as bytes");
        };
        report.attachments.push(attachment(
            m.file_name.clone(),
            m.claimed_type.clone(),
            bytes,
        ));
    }
    finish(&mut report);
    let outcome = channels::Outcome {
        id: report.id.clone(),
        tracking_code: report.tracking_code.clone(),
        verdict: report.verdict.clone(),
        replayed: false,
    };
    let origin = submission.submission.origin;
    let channels::Origin::Email { address, .. } = &origin else {
        panic!("an email's origin is an email address");
    };
    let address = address.clone();
    let Some(outbound) = channels::email::process::reply_for(&outcome, origin, authenticated)
    else {
        return;
    };
    let from: lettre::message::Mailbox = OWN_ADDRESS.parse().expect("our own address parses");
    // An address lettre refuses is no reply at all: the outbox gives the message up.
    let Ok(reply) = channels::email::outbox::build_reply(&outbound, &from, std::time::UNIX_EPOCH)
    else {
        return;
    };
    check_reply_headers(&reply.formatted(), &address);
}

/// Header names a reply may carry, each once.
const REPLY_HEADERS: &[&str] = &[
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "auto-submitted",
    "x-auto-response-suppress",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
];

fn check_reply_headers(formatted: &[u8], address: &str) {
    let end = formatted
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a reply has a header block");
    let block = std::str::from_utf8(&formatted[..end]).expect("reply headers are ASCII");
    let mut seen: Vec<String> = Vec::new();
    let mut to = String::new();
    for line in block.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if seen.last().map(String::as_str) == Some("to") {
                to.push_str(line);
            }
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("reply header line without a name: {line:?}"));
        let name = name.to_ascii_lowercase();
        assert!(
            REPLY_HEADERS.contains(&name.as_str()),
            "the reply carries an unexpected header {name:?}: {block}"
        );
        assert!(!seen.contains(&name), "header {name:?} twice: {block}");
        if name == "to" {
            to.push_str(value);
        }
        seen.push(name);
    }
    assert!(
        !to.contains(','),
        "the reply goes to more than one recipient: {to:?}"
    );
    assert!(
        to.to_ascii_lowercase()
            .contains(&address.to_ascii_lowercase()),
        "the reply does not go to the sender's address {address:?}: {to:?}"
    );
}

// --- media -----------------------------------------------------------------------------------

/// Sniffing and inspection (every container parser behind `media::inspect`), with and without
/// a claimed type; the attachment record built from it serialises.
pub fn media_inspect(data: &[u8]) {
    let sniffed = media::sniff(&data[..data.len().min(media::SNIFF_LEN)]);
    let info = media::inspect(&mut Cursor::new(data), None);
    assert_eq!(
        info.kind, sniffed.kind,
        "inspection and sniffing disagree on the kind"
    );
    check_info(&info);
    let claimed = media::inspect(&mut Cursor::new(data), Some(sniffed.media_type));
    check_info(&claimed);
    let _ = media::inspect_json(&info);
    serde_json::to_vec(&attachment(None, None, data)).expect("an attachment serialises");
}

fn check_info(info: &MediaInfo) {
    if let Some(gps) = info.gps {
        assert!(gps.is_plausible(), "implausible GPS kept: {gps:?}");
    }
    if let Some(minutes) = info.captured_offset_minutes {
        assert!(minutes.abs() < 24 * 60, "offset out of range: {minutes}");
    }
}

/// Media types whose EXIF reader `read_exif` picks by name.
const EXIF_TYPES: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/jxl",
    "image/tiff",
    "image/x-adobe-dng",
    "image/x-olympus-orf",
    "image/x-panasonic-rw2",
    "image/heic",
];

/// Every container walker that locates EXIF (JPEG segments, PNG and WebP chunks, JPEG XL boxes,
/// TIFF IFDs of the raws, HEIF items), on the same bytes whatever they sniff as.
pub fn media_exif(data: &[u8]) {
    for media_type in EXIF_TYPES {
        let _ = media::read_exif(&mut Cursor::new(data), media_type);
    }
}

/// The public copy of a photo (R-SEC-2): when stripping succeeds, the copy has neither a GPS
/// position nor a capture time, is no larger than the original, and stripping it again
/// changes nothing.
pub fn media_strip(data: &[u8]) {
    let sniffed = media::sniff(data).media_type;
    for media_type in ["image/jpeg", "image/png", "image/webp"] {
        let Some(copy) = media::strip_metadata(media_type, data) else {
            continue;
        };
        if media_type != sniffed {
            continue;
        }
        let info = media::inspect(&mut Cursor::new(&copy), None);
        assert_eq!(info.gps, None, "the public copy keeps a GPS position");
        assert_eq!(
            info.captured_at, None,
            "the public copy keeps a capture time"
        );
        if let Ok(Some(facts)) = media::read_exif(&mut Cursor::new(&copy), media_type) {
            assert_eq!(facts.gps, None, "the public copy's EXIF keeps GPS");
            assert_eq!(
                facts.date_time_original, None,
                "the public copy's EXIF keeps a time"
            );
            assert_eq!(
                facts.date_time_digitized, None,
                "the public copy's EXIF keeps a time"
            );
        }
        let again = media::strip_metadata(media_type, &copy);
        assert_eq!(
            again.as_deref(),
            Some(&copy[..]),
            "stripping is not idempotent"
        );
    }
}

/// The perceptual hash (bounded decode of any photo).
pub fn media_phash(data: &[u8]) {
    let _ = media::phash(Cursor::new(data));
}

// --- Zalo ------------------------------------------------------------------------------------

/// A webhook body, or a conversation (a JSON array of bodies): each body parsed as the webhook
/// does, its accessors used, then the conversation replayed through the dialogue state machine
/// and its report derived and validated.
pub fn zalo_event(data: &[u8]) {
    use normalizers::zalo::Event;
    let bodies: Vec<Vec<u8>> = match serde_json::from_slice::<Vec<serde_json::Value>>(data) {
        Ok(values) => values
            .iter()
            .take(64)
            .map(|v| serde_json::to_vec(v).expect("a JSON value serialises"))
            .collect(),
        Err(_) => vec![data.to_vec()],
    };
    let mut events = Vec::new();
    for body in &bodies {
        let Ok(event) = Event::parse(body) else {
            continue;
        };
        let _ = (event.kind(), event.user_id(), event.oa_id(), event.msg_id());
        let _ = (event.dedup_key(), event.time());
        if let Some(message) = &event.message {
            for a in &message.attachments {
                let _ = normalizers::zalo::event::media_kind_of(&a.kind);
                if let Some(c) = a.payload.coordinates.as_ref().and_then(|c| c.parse()) {
                    assert!(c.is_plausible(), "implausible coordinates: {c:?}");
                }
            }
        }
        let mac = normalizers::zalo::compute_mac(&event.app_id, body, &event.timestamp, "secret");
        assert!(
            normalizers::zalo::verify(
                &format!("mac={mac}"),
                &event.app_id,
                body,
                &event.timestamp,
                "secret"
            ),
            "a body's own signature does not verify"
        );
        events.push(event);
    }
    if events.is_empty() {
        return;
    }
    let replayed = normalizers::zalo::replay(&events, now());
    let mut report = replayed
        .draft
        .report_with_stand_ins(envelope(Channel::ZaloOa));
    finish(&mut report);
    let _ = replayed.draft.raw_original();
}

// --- multipart -------------------------------------------------------------------------------

/// The multipart boundary of the `multipart` target's bodies.
pub const BOUNDARY: &str = "fuzzboundary";
const SUBMIT_KEY: &str = "fuzz-submit-key-0123456789abcdef";

struct InProcess {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
    staging: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn gateway() -> &'static InProcess {
    static GATEWAY: OnceLock<InProcess> = OnceLock::new();
    GATEWAY.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let dir = tempfile::tempdir().expect("a temporary data folder");
        let config = gateway::config::Config {
            data_dir: dir.path().to_path_buf(),
            api_keys: gateway::config::parse_api_keys(&format!("submit:{SUBMIT_KEY}"))
                .expect("the fuzz API key parses"),
            clock_start: Some(now()),
            ..gateway::config::Config::default()
        };
        let staging = config.media_dir().join("tmp");
        let built = runtime
            .block_on(gateway::server::build(config))
            .expect("the gateway builds");
        InProcess {
            router: gateway::http::app(built.state),
            runtime,
            staging,
            _dir: dir,
        }
    })
}

/// A request body to `POST /v1/reports/check` on the real router (axum's multipart reader, the
/// `report` part, streamed and staged `media` parts, inspection, validation): never a 5xx, the
/// answer is JSON, and nothing is left in the staging folder.
pub fn multipart(data: &[u8]) {
    use tower::ServiceExt;
    let gw = gateway();
    let request = axum::http::Request::post("/v1/reports/check")
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .header("authorization", format!("Bearer {SUBMIT_KEY}"))
        .body(axum::body::Body::from(data.to_vec()))
        .expect("a request");
    let (status, body) = gw.runtime.block_on(async {
        let response = gw
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router answers");
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 24)
            .await
            .expect("the answer is read");
        (status, body)
    });
    assert!(
        !status.is_server_error(),
        "{status}: {}",
        String::from_utf8_lossy(&body)
    );
    serde_json::from_slice::<serde_json::Value>(&body).expect("the answer is JSON");
    let left: Vec<_> = std::fs::read_dir(&gw.staging)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "staged files left behind: {left:?}");
}
