//! The harness that runs the Zalo channels on a real socket against the fake Zalo, with the
//! in-memory intake and store of [`crate::testing`].

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use normalizers::validate::ValidationConfig;

use crate::context::ChannelContext;
use crate::intake::{Intake, Outbound};
use crate::testing::{MemIntake, MemStore, Received};
use crate::zalo::{self, ZaloChannel, ZaloConfig};
use crate::CancellationToken;

use super::fake_zalo::FakeZalo;

pub type TestChannel = ZaloChannel<MemIntake, MemStore>;

/// The Zalo channels served on 127.0.0.1:0 with their workers, and the fake Zalo.
pub struct Harness {
    pub fake: FakeZalo,
    pub base: String,
    pub intake: Arc<MemIntake>,
    pub store: Arc<MemStore>,
    pub channel: Arc<TestChannel>,
    pub shutdown: CancellationToken,
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
        Self::start_at(t0(), tune).await
    }

    /// The harness with its clock at `now` (the media fixtures are dated from
    /// 2026-11-28T03:00:00Z).
    pub async fn start_at(now: DateTime<Utc>, tune: impl FnOnce(&mut ZaloConfig)) -> Harness {
        let fake = FakeZalo::start().await;
        let mut config = ZaloConfig {
            dialogue_ttl_secs: 3600,
            ..serde_json::from_value(fake.zalo_section()).expect("the fake's settings")
        };
        tune(&mut config);
        let intake = Arc::new(MemIntake::new(now));
        let store = Arc::new(MemStore::default());
        let staging = tempfile::tempdir().unwrap();
        let shutdown = CancellationToken::new();
        let ctx = ChannelContext {
            intake: intake.clone(),
            store: store.clone(),
            instance_id: "test-instance".into(),
            shutdown: shutdown.clone(),
            staging: staging.path().to_path_buf(),
            validation: ValidationConfig::default(),
        };
        let channel = ZaloChannel::new(config, &ctx).unwrap();
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

    /// Wait until `user` got a message for which `pred` holds; all messages so far.
    pub async fn wait_said_that(&self, user: &str, pred: impl Fn(&str) -> bool) -> Vec<String> {
        for _ in 0..200 {
            let said = self.said_to(user);
            if said.iter().any(|m| pred(m)) {
                tokio::time::sleep(Duration::from_millis(150)).await;
                return self.said_to(user);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "{user} never got the message awaited: {:#?}",
            self.said_to(user)
        );
    }

    /// Names of the files left in the staging folder.
    pub fn staged(&self) -> Vec<String> {
        std::fs::read_dir(self.staging.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
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
        self.store
            .entries(zalo::OUTBOUND_STREAM)
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect()
    }
}
