//! `gateway check`: normalise and validate a submission file offline, storing nothing.
//!
//! Input kinds, by extension and content:
//! - `.eml`: an email as the mailbox 1022@longan.gov.vn receives it;
//! - `.json` array: a Zalo OA conversation (the webhook events, in order);
//! - `.json` object: a report as the app or portal sends it (`report` part of `POST /v1/reports`),
//!   plus an optional `"media": ["photo.jpg", …]` list of files relative to the JSON file.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use normalizers::app::{self, AppSubmission};
use normalizers::duplicate::{DuplicateConfig, Fingerprint};
use normalizers::email::EmailOptions;
use normalizers::geo::Geo;
use normalizers::identity::{identity_digest, Identity};
use normalizers::media;
use normalizers::report::{Attachment, Channel, Envelope, ReceivedFile, Report};
use normalizers::validate::{Context, ValidationConfig, Validator};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::store::blobs::key_of;

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a submission this command understands: {reason}")]
    Format { path: PathBuf, reason: String },
}

/// A report JSON file for `gateway check`.
#[derive(Debug, Deserialize)]
struct CheckFile {
    #[serde(default)]
    media: Vec<String>,
    #[serde(flatten)]
    report: serde_json::Map<String, serde_json::Value>,
}

/// Normalise and validate one submission file at `now`.
pub fn check_file(
    path: &Path,
    now: DateTime<Utc>,
    config: &ValidationConfig,
    geo: &Geo,
    email: &EmailOptions,
) -> Result<Report, CheckError> {
    let mut report = read_submission(path, now, email)?;
    let ctx = context(now, config, geo);
    normalizers::pipeline::finish(&mut report, &Validator::default(), &ctx);
    Ok(report)
}

fn context<'a>(now: DateTime<Utc>, config: &'a ValidationConfig, geo: &'a Geo) -> Context<'a> {
    let mut ctx = Context::new(now, config);
    ctx.geo = Some(geo);
    ctx
}

/// The report a submission file holds, normalised, neither derived nor validated.
fn read_submission(
    path: &Path,
    now: DateTime<Utc>,
    email: &EmailOptions,
) -> Result<Report, CheckError> {
    let read_err = |source| CheckError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    File::open(path)
        .map_err(read_err)?
        .take(MAX_INPUT_BYTES)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    let format = |reason: String| CheckError::Format {
        path: path.to_path_buf(),
        reason,
    };
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("eml"))
    {
        return eml_report(&bytes, now, email).map_err(format);
    }
    let text = String::from_utf8(bytes).map_err(|e| format(e.to_string()))?;
    if text.trim_start().starts_with('[') {
        // A Zalo OA conversation: the webhook events in order.
        let events: Vec<normalizers::zalo::Event> =
            serde_json::from_str(&text).map_err(|e| format(e.to_string()))?;
        let envelope = envelope(Channel::ZaloOa, now);
        let replayed = normalizers::zalo::replay(&events, envelope.received_at);
        return Ok(replayed.draft.report_with_stand_ins(envelope));
    }
    app_report(path, &text, now).map_err(format)
}

/// What the shared store would say about a report offline: earlier open reports it may repeat,
/// and blocked senders (their identities as written: phone, email or Zalo id).
#[derive(Debug, Default)]
pub struct Screening {
    pub earlier: Vec<Report>,
    pub blocked: Vec<String>,
    pub duplicates: DuplicateConfig,
}

/// [`check_file`] with the DUPLICATE and SENDER_BLOCKED checks against `screening`, as the
/// pipeline does with the shared index and block list: derived once, screened, validated once.
pub fn check_file_screened(
    path: &Path,
    now: DateTime<Utc>,
    config: &ValidationConfig,
    geo: &Geo,
    email: &EmailOptions,
    screening: &Screening,
) -> Result<Report, CheckError> {
    let mut report = read_submission(path, now, email)?;
    let mut ctx = context(now, config, geo);
    normalizers::pipeline::derive(&mut report, &ctx);
    let pepper = screening.duplicates.identity_pepper.expose();
    let open: Vec<Fingerprint> = screening
        .earlier
        .iter()
        .map(|r| Fingerprint::of(r, &[], pepper))
        .collect();
    let blocked: Vec<String> = screening
        .blocked
        .iter()
        .filter_map(|b| Identity::parse(b))
        .map(|i| identity_digest(&i, pepper))
        .collect();
    normalizers::screen::screen(&report, &[], &open, &blocked, &screening.duplicates)
        .apply(&mut ctx);
    report.verdict = Validator::default().validate(&report, &ctx);
    Ok(report)
}

/// Largest submission file read.
const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

fn eml_report(raw: &[u8], now: DateTime<Utc>, options: &EmailOptions) -> Result<Report, String> {
    let parsed = normalizers::email::normalize(envelope(Channel::Email, now), raw, options)
        .map_err(|e| e.to_string())?;
    let mut report = parsed.report;
    for a in &parsed.attachments {
        report.attachments.push(attachment_of_bytes(
            a.file_name.clone(),
            a.claimed_type.clone(),
            &a.bytes,
        ));
    }
    Ok(report)
}

fn envelope(channel: Channel, now: DateTime<Utc>) -> Envelope {
    Envelope {
        id: "offline".into(),
        tracking_code: "offline".into(),
        channel,
        channel_ref: None,
        received_at: now,
    }
}

fn app_report(path: &Path, text: &str, now: DateTime<Utc>) -> Result<Report, String> {
    let file: CheckFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let sub: AppSubmission = serde_json::from_value(serde_json::Value::Object(file.report))
        .map_err(|e| e.to_string())?;
    sub.check_shape().map_err(|e| e.to_string())?;
    let mut report = app::normalize(envelope(sub.channel.channel(), now), &sub);
    let base = path.parent().unwrap_or(Path::new("."));
    for name in &file.media {
        report
            .attachments
            .push(inspect_path(&base.join(name)).map_err(|e| e.to_string())?);
    }
    Ok(report)
}

/// Inspect a medium held in memory (an email part).
fn attachment_of_bytes(
    file_name: Option<String>,
    claimed_type: Option<String>,
    bytes: &[u8],
) -> Attachment {
    let sha = hex::encode(Sha256::digest(bytes));
    let info = media::inspect(&mut std::io::Cursor::new(bytes), claimed_type.as_deref());
    Attachment::from_inspection(
        info,
        ReceivedFile {
            file_name,
            claimed_type,
            size: bytes.len() as u64,
            storage_key: key_of(&sha),
            sha256: sha,
            sent_at: None,
            vouched_capture: None,
        },
    )
}

/// What `gateway check` prints for a report.
pub fn verdict_json(path: &Path, report: &Report) -> serde_json::Value {
    serde_json::json!({
        "file": path.display().to_string(),
        "channel": report.channel,
        "verdict": report.verdict.status,
        "reasons": report.verdict.reasons,
        "flags": report.verdict.flags,
        "occurred_at": report.occurred_at,
        "location": report.location,
        "attachments": report.attachments.iter().map(|a| serde_json::json!({
            "kind": a.kind, "media_type": a.media_type, "captured_at": a.captured_at,
            "captured_at_source": a.captured_at_source, "gps": a.gps,
        })).collect::<Vec<_>>(),
    })
}

/// Inspect a media file on disk as the pipeline would.
pub fn inspect_path(path: &Path) -> Result<Attachment, CheckError> {
    let read_err = |source| CheckError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(read_err)?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut reader = BufReader::new(File::open(path).map_err(read_err)?);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf).map_err(read_err)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    let sha = hex::encode(hasher.finalize());
    let info = media::inspect(&mut BufReader::new(file), None);
    Ok(Attachment::from_inspection(
        info,
        ReceivedFile {
            file_name: path.file_name().map(|n| n.to_string_lossy().into_owned()),
            size,
            storage_key: key_of(&sha),
            sha256: sha,
            ..ReceivedFile::default()
        },
    ))
}
