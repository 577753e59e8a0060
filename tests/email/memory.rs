//! Small in-memory implementations of the gateway's traits for the email channel's component
//! tests: an intake that records submissions and de-duplicates on the key, streams with claim
//! timeouts, and a state store with TTLs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use channels::intake::{
    IngestError, Intake, Origin, Outcome, StateStore, StoreError, StreamEntry, Streams, Submission,
};
use chrono::{DateTime, Utc};
use normalizers::validate::{Code, Finding, Status, Verdict};

/// What the test intake remembers of one stored submission.
#[derive(Debug, Clone)]
pub struct Stored {
    pub dedup_key: String,
    pub title: Option<String>,
    pub media: usize,
    pub origin: Origin,
    pub raw_len: usize,
}

/// An intake that stores in memory and answers with a fixed verdict.
pub struct MemIntake {
    pub now: DateTime<Utc>,
    pub verdict: Mutex<Verdict>,
    stored: Mutex<Vec<Stored>>,
    /// Once the next submission is stored, never return (a gateway killed before it could
    /// acknowledge anything).
    pub hang_after_store: AtomicBool,
    /// Answer `Unavailable` (storage down) without storing anything.
    pub unavailable: AtomicBool,
    pub calls: AtomicUsize,
}

impl MemIntake {
    pub fn new(now: DateTime<Utc>, status: Status) -> Self {
        MemIntake {
            now,
            verdict: Mutex::new(Verdict {
                status,
                ..Verdict::default()
            }),
            stored: Mutex::new(Vec::new()),
            hang_after_store: AtomicBool::new(false),
            unavailable: AtomicBool::new(false),
            calls: AtomicUsize::new(0),
        }
    }

    pub fn rejecting(now: DateTime<Utc>, code: Code, message: &str) -> Self {
        let intake = MemIntake::new(now, Status::Rejected);
        intake.verdict.lock().expect("lock").reasons.push(Finding {
            code,
            field: "attachments".into(),
            message: message.into(),
            detail: None,
        });
        intake
    }

    pub fn stored(&self) -> Vec<Stored> {
        self.stored.lock().expect("lock").clone()
    }
}

impl Intake for MemIntake {
    async fn ingest(&self, submission: Submission) -> Result<Outcome, IngestError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(IngestError::Unavailable("storage down (test)".into()));
        }
        let verdict = self.verdict.lock().expect("lock").clone();
        let (index, replayed) = {
            let mut stored = self.stored.lock().expect("lock");
            match stored
                .iter()
                .position(|s| s.dedup_key == submission.dedup_key)
            {
                Some(i) => (i, true),
                None => {
                    stored.push(Stored {
                        dedup_key: submission.dedup_key.clone(),
                        title: submission.report.content.title.clone(),
                        media: submission.media.len(),
                        origin: submission.origin.clone(),
                        raw_len: submission.raw.len(),
                    });
                    (stored.len() - 1, false)
                }
            }
        };
        if self.hang_after_store.swap(false, Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        Ok(Outcome {
            id: format!("01KTEST{index:019}"),
            tracking_code: format!("TC{index:04}"),
            verdict,
            replayed,
        })
    }

    fn now(&self) -> DateTime<Utc> {
        self.now
    }
}

struct Entry {
    id: String,
    payload: serde_json::Value,
    acked: bool,
    claimed_until: Option<Instant>,
    deliveries: u64,
}

/// Streams with a claim timeout: an entry not acknowledged in time is handed out again.
pub struct MemStreams {
    claim_timeout: Duration,
    streams: Mutex<HashMap<String, Vec<Entry>>>,
    next: AtomicUsize,
}

impl MemStreams {
    pub fn new(claim_timeout: Duration) -> Self {
        MemStreams {
            claim_timeout,
            streams: Mutex::new(HashMap::new()),
            next: AtomicUsize::new(1),
        }
    }

    /// Payloads ever pushed to `stream`.
    pub fn pushed(&self, stream: &str) -> Vec<serde_json::Value> {
        self.streams
            .lock()
            .expect("lock")
            .get(stream)
            .map(|v| v.iter().map(|e| e.payload.clone()).collect())
            .unwrap_or_default()
    }
}

impl Streams for MemStreams {
    async fn push(&self, stream: &str, payload: serde_json::Value) -> Result<String, StoreError> {
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

/// Values with their expiry.
type Entries = HashMap<String, (Vec<u8>, Option<Instant>)>;

/// Key-value state with TTLs.
#[derive(Default)]
pub struct MemState {
    map: Mutex<Entries>,
}

impl MemState {
    fn live(map: &mut Entries, key: &str) -> Option<Vec<u8>> {
        let expired = map
            .get(key)
            .is_some_and(|(_, exp)| exp.is_some_and(|t| t <= Instant::now()));
        if expired {
            map.remove(key);
        }
        map.get(key).map(|(v, _)| v.clone())
    }
}

impl StateStore for MemState {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(Self::live(&mut self.map.lock().expect("lock"), key))
    }

    async fn put(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), StoreError> {
        self.map.lock().expect("lock").insert(
            key.to_string(),
            (value.to_vec(), ttl.map(|d| Instant::now() + d)),
        );
        Ok(())
    }

    async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let mut map = self.map.lock().expect("lock");
        if Self::live(&mut map, key).is_some() {
            return Ok(false);
        }
        map.insert(
            key.to_string(),
            (value.to_vec(), ttl.map(|d| Instant::now() + d)),
        );
        Ok(true)
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let mut map = self.map.lock().expect("lock");
        if Self::live(&mut map, key).as_deref() != expected {
            return Ok(false);
        }
        match new {
            Some(v) => {
                map.insert(
                    key.to_string(),
                    (v.to_vec(), ttl.map(|d| Instant::now() + d)),
                );
            }
            None => {
                map.remove(key);
            }
        }
        Ok(true)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.map.lock().expect("lock").remove(key);
        Ok(())
    }

    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, StoreError> {
        let mut map = self.map.lock().expect("lock");
        let current = Self::live(&mut map, key)
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|s| s.parse::<i64>().ok());
        let expiry = map.get(key).and_then(|(_, e)| *e);
        let next = current.unwrap_or(0) + 1;
        map.insert(
            key.to_string(),
            (
                next.to_string().into_bytes(),
                if current.is_some() {
                    expiry
                } else {
                    Some(Instant::now() + ttl)
                },
            ),
        );
        Ok(next)
    }
}
