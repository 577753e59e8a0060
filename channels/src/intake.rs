//! The contract between channel adapters and the gateway's pipeline.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use normalizers::report::{Report, VouchedCapture};
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
    /// When the citizen sent the file over the channel (the chat message's time, the upload's),
    /// when the channel knows it: evidence kept beside the capture time, never used as one.
    pub sent_at: Option<DateTime<Utc>>,
    /// A capture the channel saw being taken and vouches for (the mini app's in-app camera in a
    /// request whose token Zalo verified), used when the file carries no capture time.
    pub vouched_capture: Option<VouchedCapture>,
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

/// The cause of a failure on the gateway's side of the contract. Channels cannot name the
/// gateway's error types, so the cause travels boxed, with its own chain of sources.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An error and its causes on one line, for logs and operators. The messages of this workspace
/// already name their cause, so a cause is added only when the text so far does not say it:
/// each reason appears once whether an error's message includes its source or not.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let said = c.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        cause = c.source();
    }
    text
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Storage or queue failed: nothing was acknowledged; the channel must retry later.
    #[error("the submission could not be stored durably: {0}")]
    Unavailable(#[source] BoxError),
    /// The submission is malformed beyond normalisation (too large, no parsable content).
    #[error("the submission is not acceptable: {0}")]
    Invalid(#[source] BoxError),
    /// A bug on the gateway's side (a report that does not serialise): retrying will not help.
    #[error("the gateway failed to process the submission: {0}")]
    Internal(#[source] BoxError),
}

impl IngestError {
    pub fn unavailable(e: impl Into<BoxError>) -> Self {
        IngestError::Unavailable(e.into())
    }

    pub fn invalid(e: impl Into<BoxError>) -> Self {
        IngestError::Invalid(e.into())
    }

    pub fn internal(e: impl Into<BoxError>) -> Self {
        IngestError::Internal(e.into())
    }
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

    /// A digest of `value` (an address, an account) keyed with the gateway's identity pepper,
    /// for state keys shared between instances: equal values give equal keys, and a key does
    /// not give the value back without the pepper (R-SEC-2). The default, for test doubles, is
    /// unkeyed.
    fn keyed_digest(&self, value: &str) -> String {
        use sha2::Digest;
        hex::encode(&sha2::Sha256::digest(value.as_bytes())[..12])
    }

    /// Count a submission against the intake rate limits (R-SEC-4) before ingesting it; a
    /// limited submission is not ingested. A repeat of a submission already taken (its
    /// `dedup_key` bound) is admitted without being counted. The default admits everything.
    fn admit(
        &self,
        request: crate::ratelimit::AdmitRequest<'_>,
    ) -> impl Future<Output = Result<crate::ratelimit::Admission, StoreError>> + Send {
        let _ = request;
        std::future::ready(Ok(crate::ratelimit::Admission::Admitted))
    }

    /// A citizen's message that may answer one of their reports (an email reply in the thread
    /// of the gateway's mail, or quoting the tracking code, from the reporter's own
    /// authenticated address): attached to the report and queued for the IOC as a
    /// `citizen_message` (or `rating`) entry, or handed back to be ingested as a report.
    /// Idempotent on the submission's `dedup_key`. The default hands everything back.
    fn answer(
        &self,
        submission: Submission,
    ) -> impl Future<Output = Result<Answer, IngestError>> + Send {
        std::future::ready(Ok(Answer::NotAnAnswer(Box::new(submission))))
    }

    /// A channel delivered (or could not deliver) an outbound message carrying an IOC message
    /// (`Outbound::message_id`): the gateway records the attempt on the report and, when the
    /// channel cannot reach the citizen, tries another contact. Called after the channel's
    /// outcome, before the outbox entry is acknowledged. The default, for test doubles, does
    /// nothing.
    fn delivered(
        &self,
        outbound: &Outbound,
        result: DeliveryResult,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = (outbound, result);
        std::future::ready(Ok(()))
    }

    /// The photos an outbound IOC message carries (`Outbound::message_id`): the public copies
    /// (EXIF and GPS stripped) to attach to a mail, and their public URLs for an OA image
    /// message when the gateway knows its public address. The default, for test doubles: none.
    fn outbound_photos(
        &self,
        outbound: &Outbound,
    ) -> impl Future<Output = Result<Vec<OutboundPhoto>, StoreError>> + Send {
        let _ = outbound;
        std::future::ready(Ok(Vec::new()))
    }
}

/// A photo sent with an IOC message: the stripped public copy, never the original.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundPhoto {
    /// The public copy on disk.
    pub path: std::path::PathBuf,
    pub media_type: String,
    pub size: u64,
    /// The attachment's name (`anh-1.jpg`…).
    pub file_name: String,
    /// Where the public copy can be fetched from outside (for Zalo's image messages), when
    /// the gateway's public address is configured.
    pub url: Option<String>,
}

/// A message to a citizen, waiting in a channel's outbound stream (`outbound:email`…).
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
    /// The IOC's message it carries (`kind` `ioc_message`): its delivery result is reported
    /// back through [`Intake::delivered`] and recorded on the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

/// What the gateway made of a citizen's message that may answer one of their reports.
#[derive(Debug)]
pub enum Answer {
    /// Not an answer to a report of this citizen: ingest it as a new report.
    NotAnAnswer(Box<Submission>),
    /// Attached to the report and queued for the IOC.
    Attached(Answered),
}

/// A citizen's answer attached to their report.
#[derive(Debug, Clone, PartialEq)]
pub struct Answered {
    pub report_id: String,
    pub tracking_code: String,
    /// The id of the citizen's message on the report.
    pub answer_id: String,
    pub kind: AnsweredKind,
    /// The same message was attached before (a retry): nothing new stored or queued.
    pub replayed: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AnsweredKind {
    /// Text and media for the IOC.
    Answer,
    /// A rating of the result.
    Rating,
    /// `không hài lòng` without a reason: kept as an answer, the citizen is asked why.
    RatingNeedsReason,
    /// Not attached: the text has vulgar or offensive words (Đ7.6). The citizen is told why,
    /// once (`answer_id` keys that reply); the message is handled, not failed, and starts no
    /// new report.
    Refused,
}

/// What became of an outbound message, as the channel reports it to the gateway.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryResult {
    /// The channel's server accepted it.
    Sent,
    /// It cannot be delivered on this channel: the channel's error code (Zalo's), and the reason
    /// (no personal data).
    Undeliverable { code: Option<i64>, reason: String },
}

/// One entry handed out by [`Streams::claim`].
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEntry {
    pub entry_id: String,
    pub payload: serde_json::Value,
    /// How many times it was handed out before (0 on first delivery).
    pub deliveries: u64,
}

/// The durable store failed; the cause is the backend's own error.
#[derive(Debug, thiserror::Error)]
#[error("durable store unavailable: {0}")]
pub struct StoreError(#[source] pub BoxError);

impl StoreError {
    pub fn new(e: impl Into<BoxError>) -> Self {
        StoreError(e.into())
    }
}

/// Durable at-least-once streams of JSON entries (`outbound:email`, `zalo:events`…), backed by
/// Redis Streams or the embedded store. An entry claimed and not acknowledged within the claim
/// timeout is handed out again.
pub trait Streams: Send + Sync + 'static {
    /// Append durably; returns the entry id once the entry is durable.
    fn push(
        &self,
        stream: &str,
        payload: serde_json::Value,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;
    /// Append durably unless an entry was appended to `stream` under `key` before: then nothing
    /// is appended and the earlier entry's id is returned. A retried step after a crash (the
    /// entry appended, the caller's own marker not yet written) appends nothing twice.
    fn push_once(
        &self,
        stream: &str,
        key: &str,
        payload: serde_json::Value,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;
    /// Append durably with the next number of `numbering.counter` written into the payload
    /// (a JSON object) as `numbering.field`, the number taken in the same atomic step as the
    /// append (Redis: one script; embedded: one transaction): every number taken belongs to an
    /// entry that exists, so a missing number means an entry not processed yet, never a lost
    /// one. With `numbering.once`, a repeat under that key within its lifetime appends nothing,
    /// takes no number, and returns the earlier entry (`repeated`).
    fn push_numbered(
        &self,
        stream: &str,
        numbering: &Numbering,
        payload: serde_json::Value,
    ) -> impl Future<Output = Result<Numbered, StoreError>> + Send;
    /// Hand out up to `max` entries not yet acknowledged (new ones, and ones whose claim expired).
    fn claim(
        &self,
        stream: &str,
        consumer: &str,
        max: usize,
    ) -> impl Future<Output = Result<Vec<StreamEntry>, StoreError>> + Send;
    /// Mark an entry done; it is never handed out again.
    fn ack(
        &self,
        stream: &str,
        entry_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// How [`Streams::push_numbered`] numbers an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Numbering {
    /// The counter's name (e.g. one per conversation); its numbers start at 1.
    pub counter: String,
    /// The counter's lifetime, renewed by every append that takes a number.
    pub counter_ttl: Duration,
    /// The payload field that receives the number.
    pub field: &'static str,
    /// Append at most once under this key (and its lifetime).
    pub once: Option<(String, Duration)>,
}

/// What [`Streams::push_numbered`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Numbered {
    pub entry_id: String,
    /// The entry's number (the earlier entry's, when `repeated`).
    pub number: u64,
    /// The `once` key was used before: nothing was appended.
    pub repeated: bool,
}

/// Small durable key-value state shared by all gateway instances (Redis or embedded): IMAP
/// checkpoints, leases, de-duplication markers, dialogue state, OAuth tokens, rate counters.
/// Keys are namespaced by the caller (`email:checkpoint:INBOX`, `zalo:seen:<msg_id>`).
pub trait StateStore: Send + Sync + 'static {
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;
    /// Set, with an optional time to live.
    fn put(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Set only if absent; true when this call set it.
    fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Atomically replace `expected` (None: absent) by `new` (None: delete); true when swapped.
    /// Leases and single-use token rotation are built on this.
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl: Option<Duration>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Increment a counter, creating it with `ttl` when absent; returns the new value.
    fn incr(
        &self,
        key: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("disk full")]
    struct Leaf;

    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error("cannot store the report: {0}")]
        Says(#[source] Leaf),
        #[error("cannot store the report")]
        Silent(#[source] Leaf),
    }

    #[test]
    fn every_cause_is_named_once() {
        assert_eq!(
            error_chain(&Outer::Says(Leaf)),
            "cannot store the report: disk full"
        );
        assert_eq!(
            error_chain(&Outer::Silent(Leaf)),
            "cannot store the report: disk full"
        );
        let boxed = IngestError::unavailable(Outer::Says(Leaf));
        assert_eq!(
            error_chain(&boxed),
            "the submission could not be stored durably: cannot store the report: disk full"
        );
    }
}
