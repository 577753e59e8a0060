//! The Zalo channels wired to the real gateway: the real pipeline (`gateway::pipeline`) and the
//! real store (embedded redb, and a throwaway Redis), the webhook served on a real socket, and
//! the fake Zalo of `support::fake_zalo`. The conversation logic in all its branches is tested
//! in `channels::zalo` (unit tests); here whole conversations must land in the IOC queue.
//!
//! # Layout
//! - this file: harness and tests (happy path on both stores, retried delivery, mini app).
//! - `media`: media that cannot be fetched (lost media in the report, the draft kept when no
//!   evidence came, the back-off of retries), the cap on conversation workers, refused events
//!   counted on `/metrics`.
//! - `instances`: two processors on one store and a download longer than the dialogue lock.
//! - `order`: events of one conversation applied in order when an instance died holding one.
//! - `numbering`: the store's numbered append the webhook stores events with (both stores and
//!   a Redis Cluster).
//! - `restart`: the gateway process killed before an event was stored, and while it held a
//!   dialogue lock: the conversation goes on at once after the restart, in order.

mod instances;
mod media;
mod numbering;
mod order;
mod restart;

use std::sync::Arc;
use std::time::Duration;

use channels::zalo::{self, ZaloChannel, ZaloConfig};
use channels::{CancellationToken, ChannelContext};
use gateway::pipeline::Pipeline;
use gateway::store::ChannelStore;
use normalizers::report::{CaptureSource, CoordinatesSource, VerifiedBy};
use normalizers::validate::Status;
use reqwest::StatusCode;

use crate::support::fake_zalo::{events, FakeZalo};
use crate::support::gateway::InProcess;
use crate::support::redis::RedisServer;

/// A valid 2×2 PNG without EXIF, like a chat photo.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x08, 0x02, 0x00, 0x00, 0x00, 0xfd, 0xd4, 0x9a,
    0x73, 0x00, 0x00, 0x00, 0x11, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0x00,
    0x44, 0x60, 0xe2, 0x3f, 0x03, 0x00, 0x1d, 0xf0, 0x03, 0xfd, 0xa0, 0x33, 0x09, 0x89, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

const DESCRIPTION: &str =
    "Đèn đường trước nhà số 12 đường Nguyễn Huệ bị hỏng từ tối qua, cả đoạn đường tối om.";

type RealChannel = ZaloChannel<Pipeline, ChannelStore>;

struct Real {
    fake: FakeZalo,
    _gateway: InProcess,
    pipeline: Arc<Pipeline>,
    base: String,
    _channel: Arc<RealChannel>,
    _shutdown: CancellationToken,
    _redis: Option<RedisServer>,
    /// The channel's settings (a second processor gets the same).
    config: ZaloConfig,
    claim_timeout: Duration,
}

impl Real {
    async fn start(redis: Option<RedisServer>) -> Real {
        Self::start_at(redis, None).await
    }

    /// The gateway with its clock started at `clock_start` (when given).
    async fn start_at(
        redis: Option<RedisServer>,
        clock_start: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Real {
        Self::start_tuned(redis, clock_start, Duration::from_secs(5), |_| {}).await
    }

    /// The gateway with the channel's stream claim timeout and settings adjusted.
    async fn start_tuned(
        redis: Option<RedisServer>,
        clock_start: Option<chrono::DateTime<chrono::Utc>>,
        claim_timeout: Duration,
        tune: impl FnOnce(&mut ZaloConfig),
    ) -> Real {
        Self::start_with(redis, clock_start, claim_timeout, tune, true).await
    }

    /// The webhook alone: events are persisted, processed only by processors the test starts
    /// ([`Real::second_processor`]) or claimed by hand from the store.
    async fn start_webhook_only(
        redis: Option<RedisServer>,
        claim_timeout: Duration,
        tune: impl FnOnce(&mut ZaloConfig),
    ) -> Real {
        Self::start_with(redis, None, claim_timeout, tune, false).await
    }

    async fn start_with(
        redis: Option<RedisServer>,
        clock_start: Option<chrono::DateTime<chrono::Utc>>,
        claim_timeout: Duration,
        tune: impl FnOnce(&mut ZaloConfig),
        workers: bool,
    ) -> Real {
        let fake = FakeZalo::start().await;
        let redis_url = redis.as_ref().map(|r| r.url().into());
        let gateway = InProcess::start(|c| {
            c.redis_url = redis_url;
            c.clock_start = clock_start;
        })
        .await;
        let pipeline = gateway.state.pipeline.clone();
        let store = pipeline.channel_store(claim_timeout);
        let mut config: ZaloConfig =
            serde_json::from_value(fake.zalo_section()).expect("the fake's settings");
        tune(&mut config);
        let shutdown = CancellationToken::new();
        let ctx = ChannelContext {
            intake: pipeline.clone(),
            store,
            instance_id: "zalo-test".into(),
            shutdown: shutdown.clone(),
            staging: pipeline.staging_dir(),
            validation: pipeline.validation().clone(),
        };
        let channel = ZaloChannel::new(config.clone(), &ctx).expect("zalo channel builds");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = zalo::router(channel.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        if workers {
            zalo::spawn_workers(channel.clone());
        }
        Real {
            fake,
            _gateway: gateway,
            pipeline,
            base: format!("http://{addr}"),
            _channel: channel,
            _shutdown: shutdown,
            _redis: redis,
            config,
            claim_timeout,
        }
    }

    /// Another instance's processor on the same store (its own consumer name and lock owner),
    /// with the same settings; it stops when the returned token is cancelled or dropped.
    fn second_processor(&self, instance_id: &str) -> tokio_util::sync::DropGuard {
        let shutdown = CancellationToken::new();
        let ctx = ChannelContext {
            intake: self.pipeline.clone(),
            store: self.pipeline.channel_store(self.claim_timeout),
            instance_id: instance_id.into(),
            shutdown: shutdown.clone(),
            staging: self.pipeline.staging_dir(),
            validation: self.pipeline.validation().clone(),
        };
        let channel = ZaloChannel::new(self.config.clone(), &ctx).expect("zalo channel builds");
        zalo::spawn_workers(channel);
        shutdown.drop_guard()
    }

    fn webhook(&self) -> String {
        format!("{}/v1/zalo/webhook", self.base)
    }

    fn ms(&self) -> i64 {
        self.pipeline.now().timestamp_millis()
    }

    async fn send(&self, body: &str) {
        let s = self.fake.post_event(&self.webhook(), body, None).await;
        assert_eq!(s, StatusCode::OK);
    }

    async fn wait_said(&self, user: &str, count: usize) -> Vec<String> {
        self.fake.wait_said(user, |said| said.len() >= count).await
    }
}

impl Real {
    /// Wait until `user` got a message starting with `start`; every message so far.
    /// The one report queued for the IOC (claimed from `ioc:reports`), as stored.
    async fn the_one_queued_report(&self) -> normalizers::report::Report {
        let entries = self
            .pipeline
            .claim(
                gateway::store::REPORTS_STREAM,
                "test-ioc",
                10,
                Duration::from_secs(60),
            )
            .await
            .unwrap();
        assert_eq!(entries.len(), 1, "one report queued for the IOC");
        let queued: serde_json::Value = serde_json::from_slice(&entries[0].payload).unwrap();
        self.pipeline
            .report(queued["id"].as_str().unwrap_or_default())
            .await
            .unwrap()
            .expect("stored report")
    }

    async fn wait_said_starting(&self, user: &str, start: &str) -> Vec<String> {
        self.fake
            .wait_said(user, |said| said.iter().any(|m| m.starts_with(start)))
            .await
    }
}

/// A whole conversation, ending with the tracking code, which is returned.
async fn converse(r: &Real, u: &str, prefix: &str) -> String {
    r.send(&events::text(u, &format!("{prefix}1"), DESCRIPTION, r.ms()))
        .await;
    converse_after_text(r, u, prefix).await
}

/// The rest of [`converse`], once the description was sent.
async fn converse_after_text(r: &Real, u: &str, prefix: &str) -> String {
    r.wait_said(u, 2).await;
    let url = r
        .fake
        .add_media(&format!("{prefix}.jpg"), "image/jpeg", PNG.to_vec());
    r.send(&events::image(u, &format!("{prefix}2"), &url, r.ms()))
        .await;
    r.send(&events::location(
        u,
        &format!("{prefix}3"),
        "10.5366",
        "106.4138",
        r.ms(),
    ))
    .await;
    r.send(&events::submit_info(
        u,
        "Nguyễn Văn An",
        "84912345678",
        r.ms(),
    ))
    .await;
    // The place question comes or not, as the photo's inspection (no GPS) and the shared
    // location race.
    let said = r.wait_said_starting(u, "Tóm tắt phản ánh").await;
    r.send(&events::text(u, &format!("{prefix}5"), "Gửi", r.ms()))
        .await;
    let said = r.wait_said(u, said.len() + 1).await;
    let last = said.last().unwrap();
    assert!(last.contains("Mã phản ánh: LA-"), "{last}");
    last.split("Mã phản ánh: ")
        .nth(1)
        .and_then(|s| s.split('.').next())
        .unwrap()
        .to_string()
}

async fn happy_path(r: &Real) {
    let u = "U-real-1";
    let photo_ms = r.ms();
    let code = converse(r, u, "h").await;
    // The report is in storage with its media and its raw original.
    let report = r.the_one_queued_report().await;
    assert_eq!(report.tracking_code, code);
    assert_ne!(report.verdict.status, Status::Rejected);
    assert_eq!(report.channel_ref.as_deref(), Some("h5"));
    assert_eq!(report.reporter.verified_by, VerifiedBy::Zalo);
    assert_eq!(report.reporter.phone.as_deref(), Some("+84912345678"));
    assert_eq!(
        report.location.coordinates_source,
        Some(CoordinatesSource::ZaloLocation)
    );
    assert_eq!(report.attachments.len(), 1);
    let a = &report.attachments[0];
    assert_eq!(a.media_type, "image/png");
    assert_eq!(a.size, PNG.len() as u64);
    // A chat photo without EXIF: its capture time is unknown (flagged for the IOC), and the
    // message's send time is kept beside it, never as the capture time.
    assert_eq!(a.captured_at, None);
    assert_eq!(a.captured_at_source, CaptureSource::None);
    let sent = a.sent_at.expect("send time recorded").timestamp_millis();
    assert!(
        (sent - photo_ms).abs() < 5_000,
        "the message time is the send time"
    );
    let flag = report
        .verdict
        .flags
        .iter()
        .find(|f| f.code == normalizers::validate::Code::MediaTimeUnknown)
        .expect("MEDIA_TIME_UNKNOWN flag");
    assert_eq!(flag.field, "attachments[0]");
    let detail = flag.detail.as_ref().unwrap();
    assert_eq!(detail["captured_at"], serde_json::Value::Null);
    assert_eq!(
        detail["sent_at"],
        a.sent_at
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    );
    // Staged downloads were moved into storage, none left behind.
    let staged = std::fs::read_dir(r.pipeline.staging_dir())
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(staged, 0);
}

#[tokio::test]
async fn a_whole_conversation_lands_in_the_ioc_queue_with_the_embedded_store() {
    let r = Real::start(None).await;
    happy_path(&r).await;
}

#[tokio::test]
async fn a_whole_conversation_lands_in_the_ioc_queue_with_redis() {
    let r = Real::start(Some(RedisServer::start())).await;
    happy_path(&r).await;
}

#[tokio::test]
async fn an_event_retried_by_zalo_and_a_repeated_confirmation_make_one_report() {
    let r = Real::start(Some(RedisServer::start())).await;
    let u = "U-real-2";
    let first = events::text(u, "dup-a", DESCRIPTION, r.ms());
    let statuses = r.fake.deliver(&r.webhook(), &first, 1).await;
    assert_eq!(statuses, vec![StatusCode::OK]);
    for n in 1..3 {
        assert_eq!(
            r.fake.post_event(&r.webhook(), &first, Some(n)).await,
            StatusCode::OK
        );
    }
    let code = converse_after_text(&r, u, "d").await;
    let before = r.wait_said(u, 0).await.len();
    // The citizen taps "Gửi" again: a new dialogue starts; nothing is stored twice.
    r.send(&events::text(u, "d5-again", "Gửi", r.ms())).await;
    r.wait_said(u, before + 1).await;
    let report = r.the_one_queued_report().await;
    assert_eq!(report.tracking_code, code);
    assert_eq!(
        report.content.text, DESCRIPTION,
        "the retried text counted once"
    );
}

#[tokio::test]
async fn a_miniapp_report_with_phone_and_location_tokens_is_stored_verified() {
    let r = Real::start(None).await;
    r.fake.add_miniapp_user("ma-token", "Z100", "Lê Văn Cường");
    r.fake
        .add_info_token("phone-code", serde_json::json!({"number": "84912345678"}));
    r.fake.add_info_token(
        "loc-code",
        serde_json::json!({"latitude": "10.5366", "longitude": "106.4138"}),
    );
    let report = serde_json::json!({
        "content": "Ổ gà lớn giữa đường Hùng Vương, xe máy dễ té ngã.",
        "address": "Đường Hùng Vương, phường Long An",
    });
    let form = reqwest::multipart::Form::new()
        .text("access_token", "ma-token")
        .text("phone_token", "phone-code")
        .text("location_token", "loc-code")
        .text("report", report.to_string())
        .part(
            "camera",
            reqwest::multipart::Part::bytes(PNG.to_vec())
                .file_name("camera.png")
                .mime_str("image/png")
                .unwrap(),
        );
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/zalo/miniapp/reports", r.base))
        .header("Idempotency-Key", "mini-1")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_ne!(body["status"], "rejected", "{body}");
    let stored = r
        .pipeline
        .report(body["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.tracking_code,
        body["tracking_code"].as_str().unwrap()
    );
    assert_eq!(stored.reporter.channel_identity.as_deref(), Some("Z100"));
    assert_eq!(stored.reporter.phone.as_deref(), Some("+84912345678"));
    // The in-app camera of a caller Zalo verified vouches for the capture.
    assert_eq!(
        stored.attachments[0].captured_at_source,
        CaptureSource::MiniappCamera
    );
    assert!(stored.attachments[0].captured_at.is_some());
    assert_eq!(
        stored.location.coordinates_source,
        Some(CoordinatesSource::ZaloLocation)
    );
}

fn media_fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/media")
        .join(name);
    std::fs::read(path).expect("media fixture")
}

// Through the real gateway: a stale photo is refused while the citizen is still there (not
// after "Gửi"), a photo's GPS places the report without a question, the staged photo is
// committed without a second download and nothing is left in the staging folder.
#[tokio::test]
async fn a_stale_photo_is_refused_at_once_and_a_gps_photo_places_the_report() {
    let clock = chrono::DateTime::parse_from_rfc3339("2026-11-28T03:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let r = Real::start_at(None, Some(clock)).await;
    let u = "U-real-media";
    let stale = r
        .fake
        .add_media("cu.jpg", "image/jpeg", media_fixture("photo-3d-before.jpg"));
    let fresh = r.fake.add_media(
        "moi.jpg",
        "image/jpeg",
        media_fixture("photo-2h-before.jpg"),
    );
    r.send(&events::text(u, "x1", DESCRIPTION, r.ms())).await;
    r.wait_said(u, 2).await;
    r.send(&events::image(u, "x2", &stale, r.ms())).await;
    let said = r.wait_said(u, 4).await;
    assert!(
        said[2].starts_with("Ảnh này chụp cách đây 3 ngày, vui lòng gửi ảnh chụp mới."),
        "{said:#?}"
    );
    r.send(&events::image(u, "x3", &fresh, r.ms())).await;
    let said = r.wait_said(u, 6).await;
    assert!(
        said[4].starts_with("Bạn vui lòng cho biết họ tên"),
        "{said:#?}"
    );
    r.send(&events::submit_info(
        u,
        "Nguyễn Văn An",
        "84912345678",
        r.ms(),
    ))
    .await;
    r.wait_said_starting(u, "Tóm tắt phản ánh").await;
    r.send(&events::text(u, "x5", "Tôi xác nhận gửi phản ánh", r.ms()))
        .await;
    let said = r.wait_said(u, 8).await;
    assert!(said[7].contains("Mã phản ánh: LA-"), "{said:#?}");
    assert_eq!(r.fake.media_hits(), 2, "each photo downloaded once");
    let report = r.the_one_queued_report().await;
    assert_eq!(
        report.location.coordinates_source,
        Some(CoordinatesSource::ExifGps)
    );
    assert_eq!(report.attachments.len(), 1);
    assert_eq!(
        report.attachments[0].captured_at_source,
        CaptureSource::Exif
    );
    let staged = std::fs::read_dir(r.pipeline.staging_dir())
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(staged, 0, "no staged file left behind");
}

// Through the real gateway: a photo whose link is gone (404) does not hold the report back; it
// is submitted with the photo that could be fetched, and the citizen is told one file was lost.
#[tokio::test]
async fn a_dead_media_link_does_not_hold_the_report_back() {
    let r = Real::start(None).await;
    let u = "U-real-dead-link";
    let ok = r.fake.add_media("con.jpg", "image/jpeg", PNG.to_vec());
    let dead = r.fake.fail_media("het-han.jpg", 404);
    r.send(&events::text(u, "k1", DESCRIPTION, r.ms())).await;
    r.wait_said(u, 2).await;
    r.send(&events::image(u, "k2", &ok, r.ms())).await;
    r.send(&events::image(u, "k3", &dead, r.ms())).await;
    r.send(&events::location(u, "k4", "10.5366", "106.4138", r.ms()))
        .await;
    r.send(&events::submit_info(
        u,
        "Phạm Thị Dung",
        "84912345678",
        r.ms(),
    ))
    .await;
    r.wait_said_starting(u, "Tóm tắt phản ánh").await;
    r.send(&events::text(u, "k6", "Gửi", r.ms())).await;
    let said = r
        .fake
        .wait_said(u, |s| s.iter().any(|m| m.contains("Mã phản ánh: LA-")))
        .await;
    assert!(
        said.contains(&channels::templates::zalo::media_failed(1)),
        "{said:#?}"
    );
    let report = r.the_one_queued_report().await;
    assert_eq!(
        report.attachments.len(),
        1,
        "the photo that could be fetched"
    );
}

/// Post a signed event and return the webhook's answer (status code and JSON body).
async fn post_signed(r: &Real, body: &str, num_retry: Option<u32>) -> (u16, serde_json::Value) {
    let mut req = reqwest::Client::new()
        .post(r.webhook())
        .header("content-type", "application/json")
        .header("X-ZEvent-Signature", FakeZalo::sign(body))
        .body(body.to_string());
    if let Some(n) = num_retry {
        req = req.header("num_retry", n.to_string());
    }
    let res = req.send().await.expect("webhook answers");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or_default())
}

#[tokio::test]
async fn events_outside_the_replay_window_are_refused_and_not_stored() {
    let r = Real::start(None).await;
    let min = 60_000;
    // Signed correctly, but captured and replayed: too old, or dated in the future.
    let stale = [
        ("U-replay-old", r.ms() - 20 * min, None),
        ("U-replay-future", r.ms() + 20 * min, None),
        ("U-replay-retry-3h", r.ms() - 3 * 60 * min, Some(5)),
    ];
    for (user, ms, retry) in stale {
        let body = events::text(user, &format!("{user}-1"), DESCRIPTION, ms);
        let (status, answer) = post_signed(&r, &body, retry).await;
        assert_eq!(status, 200, "Zalo gets its 200 and does not retry");
        assert_eq!(answer["status"], "refused", "{user}: {answer}");
    }
    // Within the window: taken. A genuine retry of Zalo (30 s … 1 h later) too.
    let fresh = events::text("U-replay-5min", "fresh-1", DESCRIPTION, r.ms() - 5 * min);
    let (status, answer) = post_signed(&r, &fresh, None).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("persisted"))
    );
    let retried = events::text("U-replay-retry", "retry-1", DESCRIPTION, r.ms() - 50 * min);
    let (status, answer) = post_signed(&r, &retried, Some(3)).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("persisted"))
    );
    r.wait_said("U-replay-5min", 1).await;
    r.wait_said("U-replay-retry", 1).await;
    // The refused events were never stored: the OA said nothing to their senders, although
    // the events posted after them have been processed.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (user, _, _) in stale {
        assert!(
            r.fake.delivered_to(user).is_empty(),
            "{user} was answered: the replayed event was processed"
        );
    }
}
