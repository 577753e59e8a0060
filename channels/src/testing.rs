//! The in-memory test double of the channel contract, shared by the channels' own tests and the
//! gateway's: an [`Intake`] that records submissions and is idempotent on the dedup key, and a
//! [`MemStore`] that is both the [`Streams`] (with a claim timeout) and the [`StateStore`] (with
//! TTLs). Behind the cargo feature `testing`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use normalizers::report::{Attachment, ReceivedFile, Report, VouchedCapture};
use normalizers::validate::{Code, Context, Finding, Status, ValidationConfig, Validator, Verdict};

use crate::intake::{
    IngestError, Intake, MediaSource, Numbered, Numbering, Origin, Outcome, StateStore, StoreError,
    StreamEntry, Streams, Submission,
};

/// A submission as the test intake received it, media read back from bytes or staged files.
#[derive(Debug, Clone)]
pub struct Received {
    pub dedup_key: String,
    pub raw: Bytes,
    pub report: Report,
    pub media: Vec<ReceivedMedia>,
    pub origin: Origin,
}

/// One medium of a received submission.
#[derive(Debug, Clone)]
pub struct ReceivedMedia {
    pub file_name: Option<String>,
    pub bytes: Vec<u8>,
    pub sent_at: Option<DateTime<Utc>>,
    pub vouched_capture: Option<VouchedCapture>,
}

/// The pipeline stand-in. By default it validates like the gateway (media inspected, a capture
/// the channel vouches for used when the file has none); [`MemIntake::answering`] gives every
/// submission a fixed verdict instead. The n-th distinct submission gets the id `01TEST000n` and
/// the tracking code `LA-000n`; a repeat of a dedup key gets its first outcome, `replayed`.
pub struct MemIntake {
    now: Mutex<DateTime<Utc>>,
    fixed: Mutex<Option<Verdict>>,
    received: Mutex<Vec<Received>>,
    outcomes: Mutex<HashMap<String, Outcome>>,
    /// Answer `Unavailable` (storage down) without storing anything.
    pub unavailable: AtomicBool,
    /// Answer `Internal` (a bug in the gateway, e.g. a report that cannot be serialised).
    pub internal_error: AtomicBool,
    /// Once the next submission is stored, never return (a gateway killed before it could
    /// acknowledge anything).
    pub hang_after_store: AtomicBool,
    /// Calls of `ingest`, whatever their result.
    pub calls: AtomicUsize,
}

impl MemIntake {
    pub fn new(now: DateTime<Utc>) -> MemIntake {
        MemIntake {
            now: Mutex::new(now),
            fixed: Mutex::new(None),
            received: Mutex::new(Vec::new()),
            outcomes: Mutex::new(HashMap::new()),
            unavailable: AtomicBool::new(false),
            internal_error: AtomicBool::new(false),
            hang_after_store: AtomicBool::new(false),
            calls: AtomicUsize::new(0),
        }
    }

    /// Every submission gets a verdict of `status` without being validated.
    pub fn answering(now: DateTime<Utc>, status: Status) -> MemIntake {
        let intake = MemIntake::new(now);
        *intake.fixed.lock().expect("lock") = Some(Verdict {
            status,
            ..Verdict::default()
        });
        intake
    }

    /// Every submission is rejected with `code` on its attachments.
    pub fn rejecting(now: DateTime<Utc>, code: Code, message: &str) -> MemIntake {
        let intake = MemIntake::answering(now, Status::Rejected);
        if let Some(verdict) = intake.fixed.lock().expect("lock").as_mut() {
            verdict.reasons.push(Finding {
                code,
                field: "attachments".into(),
                message: message.into(),
                detail: None,
            });
        }
        intake
    }

    pub fn advance(&self, d: chrono::Duration) {
        *self.now.lock().expect("lock") += d;
    }

    /// The distinct submissions stored so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    fn attach(
        report: &mut Report,
        m: &crate::intake::MediaInput,
    ) -> Result<ReceivedMedia, IngestError> {
        let bytes = match &m.source {
            MediaSource::Bytes(b) => b.to_vec(),
            MediaSource::File(p) => std::fs::read(p).map_err(IngestError::invalid)?,
        };
        let info = normalizers::media::inspect(
            &mut std::io::Cursor::new(&bytes),
            m.claimed_type.as_deref(),
        );
        report.attachments.push(Attachment::from_inspection(
            info,
            ReceivedFile {
                file_name: m.file_name.clone(),
                claimed_type: m.claimed_type.clone(),
                size: bytes.len() as u64,
                sent_at: m.sent_at,
                vouched_capture: m.vouched_capture,
                ..ReceivedFile::default()
            },
        ));
        Ok(ReceivedMedia {
            file_name: m.file_name.clone(),
            bytes,
            sent_at: m.sent_at,
            vouched_capture: m.vouched_capture,
        })
    }
}

impl Intake for MemIntake {
    async fn ingest(&self, submission: Submission) -> Result<Outcome, IngestError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(IngestError::unavailable("test store down"));
        }
        if self.internal_error.load(Ordering::SeqCst) {
            return Err(IngestError::internal("test serialisation bug"));
        }
        if let Some(o) = self
            .outcomes
            .lock()
            .expect("lock")
            .get(&submission.dedup_key)
        {
            let mut o = o.clone();
            o.replayed = true;
            return Ok(o);
        }
        let mut report = submission.report;
        let n = self.received.lock().expect("lock").len() + 1;
        report.id = format!("01TEST{n:04}");
        report.tracking_code = format!("LA-{n:04}");
        let mut media = Vec::new();
        for m in &submission.media {
            media.push(Self::attach(&mut report, m)?);
        }
        let fixed = self.fixed.lock().expect("lock").clone();
        let verdict = match fixed {
            Some(verdict) => verdict,
            None => {
                let config = ValidationConfig::default();
                let ctx = Context::new(self.now(), &config);
                normalizers::pipeline::finish(&mut report, &Validator::default(), &ctx)
            }
        };
        let outcome = Outcome {
            id: report.id.clone(),
            tracking_code: report.tracking_code.clone(),
            verdict,
            replayed: false,
        };
        self.outcomes
            .lock()
            .expect("lock")
            .insert(submission.dedup_key.clone(), outcome.clone());
        self.received.lock().expect("lock").push(Received {
            dedup_key: submission.dedup_key,
            raw: submission.raw,
            report,
            media,
            origin: submission.origin,
        });
        if self.hang_after_store.swap(false, Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        Ok(outcome)
    }

    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().expect("lock")
    }
}

struct Entry {
    id: String,
    payload: serde_json::Value,
    acked: bool,
    claimed_until: Option<Instant>,
    deliveries: u64,
}

/// Values with their expiry.
type Values = HashMap<String, (Vec<u8>, Option<Instant>)>;

/// Streams and state in memory. An entry claimed and not acknowledged within the claim timeout
/// (2 s unless [`MemStore::with_claim_timeout`]) is handed out again; values expire after their
/// TTL in real time (the test clock of [`MemIntake`] does not move them).
pub struct MemStore {
    claim_timeout: Duration,
    streams: Mutex<HashMap<String, Vec<Entry>>>,
    next: AtomicU64,
    values: Mutex<Values>,
    /// When set, `push` fails as if the store were down.
    pub fail_push: AtomicBool,
    /// Entries appended by `push_once`, by (stream, key).
    pushed_once: Mutex<HashMap<(String, String), String>>,
}

impl Default for MemStore {
    fn default() -> Self {
        MemStore::with_claim_timeout(Duration::from_secs(2))
    }
}

impl MemStore {
    pub fn with_claim_timeout(claim_timeout: Duration) -> MemStore {
        MemStore {
            claim_timeout,
            streams: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
            pushed_once: Mutex::new(HashMap::new()),
            values: Mutex::new(HashMap::new()),
            fail_push: AtomicBool::new(false),
        }
    }

    /// Payloads ever pushed to `stream`, acknowledged or not.
    pub fn entries(&self, stream: &str) -> Vec<serde_json::Value> {
        self.streams
            .lock()
            .expect("lock")
            .get(stream)
            .map(|v| v.iter().map(|e| e.payload.clone()).collect())
            .unwrap_or_default()
    }

    /// Entries of `stream` not acknowledged yet.
    pub fn pending(&self, stream: &str) -> usize {
        self.streams
            .lock()
            .expect("lock")
            .get(stream)
            .map(|v| v.iter().filter(|e| !e.acked).count())
            .unwrap_or(0)
    }

    /// The live value of `key`, without going through the async trait.
    pub fn get_now(&self, key: &str) -> Option<Vec<u8>> {
        Self::live(&mut self.values.lock().expect("lock"), key)
    }

    pub fn keys(&self) -> Vec<String> {
        self.values.lock().expect("lock").keys().cloned().collect()
    }

    fn live(map: &mut Values, key: &str) -> Option<Vec<u8>> {
        let expired = map
            .get(key)
            .is_some_and(|(_, exp)| exp.is_some_and(|t| t <= Instant::now()));
        if expired {
            map.remove(key);
        }
        map.get(key).map(|(v, _)| v.clone())
    }

    fn set(map: &mut Values, key: &str, value: &[u8], ttl: Option<Duration>) {
        map.insert(
            key.to_string(),
            (value.to_vec(), ttl.map(|d| Instant::now() + d)),
        );
    }
}

impl Streams for MemStore {
    async fn push(&self, stream: &str, payload: serde_json::Value) -> Result<String, StoreError> {
        if self.fail_push.load(Ordering::SeqCst) {
            return Err(StoreError::new("test streams down"));
        }
        let id = format!("{}-0", self.next.fetch_add(1, Ordering::SeqCst));
        self.streams
            .lock()
            .expect("lock")
            .entry(stream.to_string())
            .or_default()
            .push(Entry {
                id: id.clone(),
                payload,
                acked: false,
                claimed_until: None,
                deliveries: 0,
            });
        Ok(id)
    }

    async fn push_once(
        &self,
        stream: &str,
        key: &str,
        payload: serde_json::Value,
    ) -> Result<String, StoreError> {
        let k = (stream.to_string(), key.to_string());
        if let Some(id) = self.pushed_once.lock().expect("lock").get(&k) {
            return Ok(id.clone());
        }
        let id = self.push(stream, payload).await?;
        self.pushed_once.lock().expect("lock").insert(k, id.clone());
        Ok(id)
    }

    async fn push_numbered(
        &self,
        stream: &str,
        numbering: &Numbering,
        payload: serde_json::Value,
    ) -> Result<Numbered, StoreError> {
        if self.fail_push.load(Ordering::SeqCst) {
            return Err(StoreError::new("test streams down"));
        }
        // One lock over the marker, the counter and the append: atomic, as the real stores.
        let mut values = self.values.lock().expect("lock");
        let once = numbering
            .once
            .as_ref()
            .map(|(k, ttl)| (format!("{stream}\u{0}once\u{0}{k}"), *ttl));
        if let Some((key, _)) = &once {
            if let Some(done) = Self::live(&mut values, key) {
                let done = String::from_utf8_lossy(&done).into_owned();
                let (id, n) = done.split_once(' ').unwrap_or((&done, "0"));
                return Ok(Numbered {
                    entry_id: id.to_string(),
                    number: n.parse().unwrap_or(0),
                    repeated: true,
                });
            }
        }
        let counter = format!("{stream}\u{0}counter\u{0}{}", numbering.counter);
        let number = Self::live(&mut values, &counter)
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            + 1;
        Self::set(
            &mut values,
            &counter,
            number.to_string().as_bytes(),
            Some(numbering.counter_ttl),
        );
        let mut payload = payload;
        payload[numbering.field] = number.into();
        let id = format!("{}-0", self.next.fetch_add(1, Ordering::SeqCst));
        self.streams
            .lock()
            .expect("lock")
            .entry(stream.to_string())
            .or_default()
            .push(Entry {
                id: id.clone(),
                payload,
                acked: false,
                claimed_until: None,
                deliveries: 0,
            });
        if let Some((key, ttl)) = &once {
            Self::set(
                &mut values,
                key,
                format!("{id} {number}").as_bytes(),
                Some(*ttl),
            );
        }
        Ok(Numbered {
            entry_id: id,
            number,
            repeated: false,
        })
    }

    async fn claim(
        &self,
        stream: &str,
        _consumer: &str,
        max: usize,
    ) -> Result<Vec<StreamEntry>, StoreError> {
        let now = Instant::now();
        let mut streams = self.streams.lock().expect("lock");
        let Some(entries) = streams.get_mut(stream) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for e in entries.iter_mut() {
            if out.len() >= max {
                break;
            }
            if e.acked || e.claimed_until.is_some_and(|t| t > now) {
                continue;
            }
            out.push(StreamEntry {
                entry_id: e.id.clone(),
                payload: e.payload.clone(),
                deliveries: e.deliveries,
            });
            e.deliveries += 1;
            e.claimed_until = Some(now + self.claim_timeout);
        }
        Ok(out)
    }

    async fn ack(&self, stream: &str, entry_id: &str) -> Result<(), StoreError> {
        if let Some(entries) = self.streams.lock().expect("lock").get_mut(stream) {
            for e in entries.iter_mut().filter(|e| e.id == entry_id) {
                e.acked = true;
            }
        }
        Ok(())
    }
}

impl StateStore for MemStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.get_now(key))
    }

    async fn put(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), StoreError> {
        Self::set(&mut self.values.lock().expect("lock"), key, value, ttl);
        Ok(())
    }

    async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let mut map = self.values.lock().expect("lock");
        if Self::live(&mut map, key).is_some() {
            return Ok(false);
        }
        Self::set(&mut map, key, value, ttl);
        Ok(true)
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let mut map = self.values.lock().expect("lock");
        if Self::live(&mut map, key).as_deref() != expected {
            return Ok(false);
        }
        match new {
            Some(v) => Self::set(&mut map, key, v, ttl),
            None => {
                map.remove(key);
            }
        }
        Ok(true)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.values.lock().expect("lock").remove(key);
        Ok(())
    }

    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, StoreError> {
        let mut map = self.values.lock().expect("lock");
        let current = Self::live(&mut map, key)
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|s| s.parse::<i64>().ok());
        let expiry = map.get(key).and_then(|(_, e)| *e);
        let next = current.unwrap_or(0) + 1;
        let expiry = if current.is_some() {
            expiry
        } else {
            Some(Instant::now() + ttl)
        };
        map.insert(key.to_string(), (next.to_string().into_bytes(), expiry));
        Ok(next)
    }
}
