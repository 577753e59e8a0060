//! In-memory implementations of the gateway contracts and the harness that runs the Zalo
//! channels on a real socket against the fake Zalo.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use normalizers::report::{Attachment, ReceivedFile, Report};
use normalizers::validate::{Context, ValidationConfig, Validator};

use crate::intake::{
    IngestError, Intake, MediaSource, Origin, Outbound, Outcome, StateStore, StoreError,
    StreamEntry, Streams, Submission,
};
use crate::zalo::{self, ZaloChannel, ZaloConfig};

use super::fake_zalo::{self, FakeZalo};

/// A submission as the test intake received it, media read back from the staged files.
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
    pub channel_captured_at: Option<DateTime<Utc>>,
}

/// The pipeline stand-in: validates like the gateway (media inspected from the staged files,
/// the channel's capture time used when the file has none), idempotent on the dedup key.
pub struct TestIntake {
    pub now: Mutex<DateTime<Utc>>,
    pub received: Mutex<Vec<Received>>,
    outcomes: Mutex<HashMap<String, Outcome>>,
    /// When set, ingest fails as if storage were down.
    pub unavailable: Mutex<bool>,
}

impl TestIntake {
    pub fn new(now: DateTime<Utc>) -> TestIntake {
        TestIntake {
            now: Mutex::new(now),
            received: Mutex::new(Vec::new()),
            outcomes: Mutex::new(HashMap::new()),
            unavailable: Mutex::new(false),
        }
    }

    pub fn advance(&self, d: chrono::Duration) {
        let mut now = self.now.lock().unwrap();
        *now += d;
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

impl Intake for TestIntake {
    async fn ingest(&self, submission: Submission) -> Result<Outcome, IngestError> {
        if *self.unavailable.lock().unwrap() {
            return Err(IngestError::Unavailable("test store down".into()));
        }
        if let Some(o) = self.outcomes.lock().unwrap().get(&submission.dedup_key) {
            let mut o = o.clone();
            o.replayed = true;
            return Ok(o);
        }
        let mut report = submission.report;
        let n = self.received.lock().unwrap().len() + 1;
        report.id = format!("01TEST{n:04}");
        report.tracking_code = format!("LA-{n:04}");
        let mut media = Vec::new();
        for m in &submission.media {
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
                    channel_captured_at: m.channel_captured_at,
                    ..ReceivedFile::default()
                },
            ));
            media.push(ReceivedMedia {
                file_name: m.file_name.clone(),
                bytes,
                channel_captured_at: m.channel_captured_at,
            });
        }
        let config = ValidationConfig::default();
        let now = self.now();
        let ctx = Context::new(now, &config);
        let verdict = normalizers::pipeline::finish(&mut report, &Validator::default(), &ctx);
        let outcome = Outcome {
            id: report.id.clone(),
            tracking_code: report.tracking_code.clone(),
            verdict,
            replayed: false,
        };
        self.outcomes
            .lock()
            .unwrap()
            .insert(submission.dedup_key.clone(), outcome.clone());
        self.received.lock().unwrap().push(Received {
            dedup_key: submission.dedup_key,
            raw: submission.raw,
            report,
            media,
            origin: submission.origin,
        });
        Ok(outcome)
    }

    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap()
    }
}

struct MemEntry {
    id: String,
    payload: serde_json::Value,
    acked: bool,
    claimed_at: Option<Instant>,
    deliveries: u64,
}

/// Streams in memory; an entry claimed and not acknowledged within 2 s is handed out again.
#[derive(Default)]
pub struct MemStreams {
    streams: Mutex<HashMap<String, Vec<MemEntry>>>,
    next: AtomicU64,
    pub fail_push: Mutex<bool>,
}

impl MemStreams {
    pub fn entries(&self, stream: &str) -> Vec<serde_json::Value> {
        self.streams
            .lock()
            .unwrap()
            .get(stream)
            .map(|v| v.iter().map(|e| e.payload.clone()).collect())
            .unwrap_or_default()
    }

    pub fn pending(&self, stream: &str) -> usize {
        self.streams
            .lock()
            .unwrap()
            .get(stream)
            .map(|v| v.iter().filter(|e| !e.acked).count())
            .unwrap_or(0)
    }
}

impl Streams for MemStreams {
    async fn push(&self, stream: &str, payload: serde_json::Value) -> Result<String, StoreError> {
        if *self.fail_push.lock().unwrap() {
            return Err(StoreError::new("test streams down"));
        }
        let id = format!("{}-0", self.next.fetch_add(1, Ordering::SeqCst));
        self.streams
            .lock()
            .unwrap()
            .entry(stream.to_string())
            .or_default()
            .push(MemEntry {
                id: id.clone(),
                payload,
                acked: false,
                claimed_at: None,
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
        let mut all = self.streams.lock().unwrap();
        let Some(entries) = all.get_mut(stream) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for e in entries.iter_mut() {
            if out.len() >= max {
                break;
            }
            let free = e
                .claimed_at
                .is_none_or(|t| t.elapsed() > Duration::from_secs(2));
            if !e.acked && free {
                out.push(StreamEntry {
                    entry_id: e.id.clone(),
                    payload: e.payload.clone(),
                    deliveries: e.deliveries,
                });
                e.deliveries += 1;
                e.claimed_at = Some(Instant::now());
            }
        }
        Ok(out)
    }

    async fn ack(&self, stream: &str, entry_id: &str) -> Result<(), StoreError> {
        if let Some(entries) = self.streams.lock().unwrap().get_mut(stream) {
            for e in entries.iter_mut().filter(|e| e.id == entry_id) {
                e.acked = true;
            }
        }
        Ok(())
    }
}

/// Key-value state in memory (TTLs are not enforced: the dialogue's own expiry is under test).
#[derive(Default)]
pub struct MemStore {
    map: Mutex<HashMap<String, Vec<u8>>>,
}

impl MemStore {
    pub fn get_now(&self, key: &str) -> Option<Vec<u8>> {
        self.map.lock().unwrap().get(key).cloned()
    }

    pub fn keys(&self) -> Vec<String> {
        self.map.lock().unwrap().keys().cloned().collect()
    }
}

impl StateStore for MemStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.map.lock().unwrap().get(key).cloned())
    }

    async fn put(&self, key: &str, value: &[u8], _ttl: Option<Duration>) -> Result<(), StoreError> {
        self.map.lock().unwrap().insert(key.into(), value.to_vec());
        Ok(())
    }

    async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        _ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let mut m = self.map.lock().unwrap();
        if m.contains_key(key) {
            return Ok(false);
        }
        m.insert(key.into(), value.to_vec());
        Ok(true)
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        _ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let mut m = self.map.lock().unwrap();
        if m.get(key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        match new {
            Some(v) => m.insert(key.into(), v.to_vec()),
            None => m.remove(key),
        };
        Ok(true)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.map.lock().unwrap().remove(key);
        Ok(())
    }

    async fn incr(&self, key: &str, _ttl: Duration) -> Result<i64, StoreError> {
        let mut m = self.map.lock().unwrap();
        let v = m
            .get(key)
            .and_then(|b| std::str::from_utf8(b).ok()?.parse::<i64>().ok())
            .unwrap_or(0)
            + 1;
        m.insert(key.into(), v.to_string().into_bytes());
        Ok(v)
    }
}

pub type TestChannel = ZaloChannel<TestIntake, MemStreams, MemStore>;

/// The Zalo channels served on 127.0.0.1:0 with their workers, and the fake Zalo.
pub struct Harness {
    pub fake: FakeZalo,
    pub base: String,
    pub intake: Arc<TestIntake>,
    pub streams: Arc<MemStreams>,
    pub store: Arc<MemStore>,
    pub channel: Arc<TestChannel>,
    pub shutdown: tokio::sync::watch::Sender<bool>,
    pub staging: tempfile::TempDir,
    pub http: reqwest::Client,
}

pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-30T02:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

impl Harness {
    pub async fn start() -> Harness {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tune: impl FnOnce(&mut ZaloConfig)) -> Harness {
        let fake = FakeZalo::start().await;
        let mut config = ZaloConfig {
            app_id: fake_zalo::APP_ID.into(),
            oa_secret_key: fake_zalo::OA_SECRET_KEY.into(),
            app_secret: fake_zalo::APP_SECRET.into(),
            access_token: fake_zalo::FIRST_ACCESS_TOKEN.into(),
            refresh_token: fake_zalo::FIRST_REFRESH_TOKEN.into(),
            api_base: fake.base_url(),
            oauth_base: fake.base_url(),
            graph_base: fake.base_url(),
            media_hosts: vec!["127.0.0.1".into()],
            dialogue_ttl_secs: 3600,
            ..ZaloConfig::default()
        };
        tune(&mut config);
        let intake = Arc::new(TestIntake::new(t0()));
        let streams = Arc::new(MemStreams::default());
        let store = Arc::new(MemStore::default());
        let staging = tempfile::tempdir().unwrap();
        let (shutdown, rx) = tokio::sync::watch::channel(false);
        let channel = ZaloChannel::new(
            config,
            ValidationConfig::default(),
            intake.clone(),
            streams.clone(),
            store.clone(),
            PathBuf::from(staging.path()),
            rx,
        )
        .unwrap();
        let app = zalo::router(channel.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        zalo::spawn_workers(channel.clone());
        Harness {
            fake,
            base: format!("http://{addr}"),
            intake,
            streams,
            store,
            channel,
            shutdown,
            staging,
            http: reqwest::Client::new(),
        }
    }

    pub fn webhook(&self) -> String {
        format!("{}/v1/zalo/webhook", self.base)
    }

    /// Epoch milliseconds of the test clock now.
    pub fn ms(&self) -> i64 {
        self.intake.now().timestamp_millis()
    }

    /// Post a signed event and expect 200.
    pub async fn send(&self, body: &str) {
        let s = self.fake.post_event(&self.webhook(), body, None).await;
        assert_eq!(s, reqwest::StatusCode::OK, "webhook refused {body}");
    }

    /// Messages delivered to `user` (texts; `[form]` for request_user_info).
    pub fn said_to(&self, user: &str) -> Vec<String> {
        self.fake
            .delivered_to(user)
            .iter()
            .map(|c| match c.template_type() {
                Some(t) => format!("[{t}]"),
                None => c.text().unwrap_or_default().to_string(),
            })
            .collect()
    }

    /// Wait until `user` got `count` messages in all (the processor and sender are async).
    pub async fn wait_said(&self, user: &str, count: usize) -> Vec<String> {
        for _ in 0..200 {
            let said = self.said_to(user);
            if said.len() >= count {
                // Let a wrongly extra message show up before the caller asserts.
                tokio::time::sleep(Duration::from_millis(150)).await;
                return self.said_to(user);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "{user} got {} messages, expected {count}: {:#?}",
            self.said_to(user).len(),
            self.said_to(user)
        );
    }

    pub async fn wait_received(&self, count: usize) -> Vec<Received> {
        for _ in 0..200 {
            if self.intake.received().len() >= count {
                return self.intake.received();
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "the intake got {} submissions, expected {count}",
            self.intake.received().len()
        );
    }

    pub fn outbound(&self) -> Vec<Outbound> {
        self.streams
            .entries(zalo::OUTBOUND_STREAM)
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect()
    }
}
