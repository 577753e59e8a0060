//! The contract between channel adapters and the gateway's pipeline.

use std::future::Future;
use std::path::PathBuf;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use normalizers::report::Report;
use normalizers::validate::Verdict;
use serde::{Deserialize, Serialize};

/// One submission from a channel, normalised but not yet stored or validated.
#[derive(Debug)]
pub struct Submission {
    /// The channel's de-duplication key (R-PIPE-1): `Message-ID` (+ UIDVALIDITY/UID when there is
    /// none), the Zalo `msg_id` of the confirming message, the API client's `Idempotency-Key`.
    pub dedup_key: String,
    /// The raw original kept for audit (R-PIPE-3): the .eml, the webhook events, the request.
    pub raw: Bytes,
    /// File extension of the raw original in storage (`eml`, `json`).
    pub raw_extension: &'static str,
    /// The report as the channel's normalizer built it. `id` and `tracking_code` are assigned by
    /// the gateway; attachments are filled from `media` by the gateway.
    pub report: Report,
    pub media: Vec<MediaInput>,
    /// Where answers to the citizen go.
    pub origin: Origin,
}

/// One medium of a submission.
#[derive(Debug)]
pub struct MediaInput {
    pub file_name: Option<String>,
    /// The media type the sender declared.
    pub claimed_type: Option<String>,
    pub source: MediaSource,
    /// Capture time known from the channel itself (an in-app camera capture, the chat message
    /// time), used when the file carries none.
    pub channel_captured_at: Option<DateTime<Utc>>,
}

#[derive(Debug)]
pub enum MediaSource {
    /// Bytes already in memory (a MIME part of an email that is itself in memory).
    Bytes(Bytes),
    /// A file the channel already streamed to disk (inside the gateway's data folder); the
    /// gateway moves it into content-addressed storage.
    File(PathBuf),
}

/// Where a report came from, to answer the citizen on the same channel (R-MSG).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum Origin {
    Email {
        /// Address replies go to (Reply-To, else From).
        address: String,
        message_id: Option<String>,
        references: Vec<String>,
        subject: Option<String>,
    },
    ZaloOa {
        oa_id: String,
        user_id: String,
    },
    ZaloMiniapp {
        user_id: String,
    },
    Api {
        client: String,
    },
}

/// What became of a submission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub id: String,
    pub tracking_code: String,
    pub verdict: Verdict,
    /// The dedup key had been seen: this is the first submission's outcome, nothing new stored.
    pub replayed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Storage or queue failed: nothing was acknowledged; the channel must retry later.
    #[error("the submission could not be stored durably: {0}")]
    Unavailable(String),
    /// The submission is malformed beyond normalisation (too large, no parsable content).
    #[error("the submission is not acceptable: {0}")]
    Invalid(String),
}

/// The gateway's pipeline as a channel sees it.
pub trait Intake: Send + Sync + 'static {
    /// Store the raw original and media, validate, queue (or record the rejection), and only
    /// then return. Idempotent on `dedup_key`.
    fn ingest(
        &self,
        submission: Submission,
    ) -> impl Future<Output = Result<Outcome, IngestError>> + Send;

    /// The instant to validate against (the gateway's injected clock).
    fn now(&self) -> DateTime<Utc>;
}

/// A message to a citizen, waiting in a channel's durable outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outbound {
    /// The report it is about, when there is one.
    pub report_id: Option<String>,
    pub origin: Origin,
    /// `ack`, `rejection`, `ioc_message`, `prompt`.
    pub kind: String,
    /// Plain text (Vietnamese).
    pub text: String,
    /// HTML alternative, for email.
    pub html: Option<String>,
    /// How many delivery attempts failed so far.
    #[serde(default)]
    pub attempts: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutboundEntry {
    pub entry_id: String,
    pub message: Outbound,
}

#[derive(Debug, thiserror::Error)]
#[error("outbox unavailable: {0}")]
pub struct OutboxError(pub String);

/// A durable queue of messages per channel (`email`, `zalo_oa`…). At-least-once: an entry that is
/// claimed and not acknowledged within the claim timeout is handed out again.
pub trait Outbox: Send + Sync + 'static {
    fn push(
        &self,
        channel: &str,
        message: Outbound,
    ) -> impl Future<Output = Result<String, OutboxError>> + Send;
    fn claim(
        &self,
        channel: &str,
        consumer: &str,
        max: usize,
    ) -> impl Future<Output = Result<Vec<OutboundEntry>, OutboxError>> + Send;
    fn ack(
        &self,
        channel: &str,
        entry_id: &str,
    ) -> impl Future<Output = Result<(), OutboxError>> + Send;
}
