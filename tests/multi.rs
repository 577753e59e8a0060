//! Redis end to end: the give-up rules read real delivery counts, and several gateways share
//! one Redis (issue 10, points 5 and 9).
//!
//! # Layout
//! - `Zalo`: a gateway in process with the Zalo channel on a real Redis, its claim timeout short.
//! - tests: a failing medium given up after `zalo.media_max_deliveries` on Redis.

use std::sync::Arc;
use std::time::Duration;

use channels::zalo::{self, ZaloChannel, ZaloConfig};
use channels::{CancellationToken, ChannelContext};
use gateway::pipeline::Pipeline;
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

/// The gateway in process on a real Redis with the Zalo channel, its webhook on a socket.
struct Zalo {
    fake: FakeZalo,
    gateway: InProcess,
    pipeline: Arc<Pipeline>,
    base: String,
    _shutdown: CancellationToken,
    _redis: RedisServer,
}

impl Zalo {
    async fn start(claim_timeout: Duration, adjust: impl FnOnce(&mut serde_json::Value)) -> Zalo {
        let redis = RedisServer::start();
        let fake = FakeZalo::start().await;
        let url = redis.url();
        let gateway = InProcess::start(|c| c.redis_url = Some(url.into())).await;
        let pipeline = gateway.state.pipeline.clone();
        let mut section = fake.zalo_section();
        adjust(&mut section);
        let config: ZaloConfig = serde_json::from_value(section).expect("the fake's settings");
        let shutdown = CancellationToken::new();
        let ctx = ChannelContext {
            intake: pipeline.clone(),
            store: pipeline.channel_store(claim_timeout),
            instance_id: "multi-test".into(),
            shutdown: shutdown.clone(),
            staging: pipeline.staging_dir(),
            validation: pipeline.validation().clone(),
        };
        let channel = ZaloChannel::new(config, &ctx).expect("zalo channel builds");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = zalo::router(channel.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        zalo::spawn_workers(channel);
        Zalo {
            fake,
            gateway,
            pipeline,
            base: format!("http://{addr}"),
            _shutdown: shutdown,
            _redis: redis,
        }
    }

    fn ms(&self) -> i64 {
        self.pipeline.now().timestamp_millis()
    }

    async fn send(&self, body: &str) {
        let webhook = format!("{}/v1/zalo/webhook", self.base);
        let s = self.fake.post_event(&webhook, body, None).await;
        assert_eq!(s, StatusCode::OK);
    }
}

// The give-up rule of Zalo media reads the entry's delivery count: on Redis it used to stay 1
// at every reclaim, so with `media_max_deliveries = 3` a medium answering 500 was retried for
// ever and the citizen never got a tracking code.
#[tokio::test]
async fn a_medium_failing_with_500_is_given_up_after_the_configured_deliveries_on_redis() {
    let z = Zalo::start(Duration::from_millis(700), |s| {
        s["media_max_deliveries"] = 3.into();
    })
    .await;
    let u = "U-redis-500";
    let good = z.fake.add_media("tot.jpg", "image/jpeg", PNG.to_vec());
    let dead = z.fake.fail_media("cdn-loi.jpg", 500);
    z.send(&events::text(u, "m1", DESCRIPTION, z.ms())).await;
    z.fake.wait_said(u, |s| s.len() >= 2).await;
    z.send(&events::image(u, "m2", &good, z.ms())).await;
    z.send(&events::image(u, "m3", &dead, z.ms())).await;
    z.send(&events::location(u, "m4", "10.5366", "106.4138", z.ms()))
        .await;
    z.send(&events::submit_info(
        u,
        "Trần Thị Bích",
        "0912345678",
        z.ms(),
    ))
    .await;
    z.fake
        .wait_said(u, |s| s.iter().any(|m| m.starts_with("Tóm tắt phản ánh")))
        .await;
    z.send(&events::text(u, "m6", "Gửi", z.ms())).await;
    let said = z
        .fake
        .wait_said(u, |s| s.iter().any(|m| m.contains("Mã phản ánh: LA-")))
        .await;
    assert!(
        said.contains(&channels::templates::zalo::media_failed(1)),
        "{said:#?}"
    );
    // The good photo once, the dead one at arrival (inspection) and at each of the 3
    // deliveries of "Gửi".
    let hits = z.fake.media_hits();
    assert!((4..=5).contains(&hits), "bounded retries, hits: {hits}");
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(
        z.fake.media_hits(),
        hits,
        "no retry after the report went on"
    );
    let entries = z
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
    drop(z.gateway);
}
