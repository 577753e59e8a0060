//! Redis end to end: the give-up rules read real delivery counts, memory stays bounded, and
//! several gateways share one Redis (issue 10, points 5 and 9).
//!
//! # Layout
//! - `Zalo`: a gateway in process with the Zalo channel on a real Redis, its claim timeout short.
//! - tests: a failing medium given up after `zalo.media_max_deliveries` on Redis; durability
//!   (`WAIT` with and without a replica); stream trimming; the report archive; the append
//!   markers' expiry; two gateway processes on one Redis (interleaved Zalo conversations and
//!   API submissions); two on one Redis and one Dovecot mailbox (the email lease, a kill).

use std::sync::Arc;
use std::time::Duration;

use channels::zalo::{self, ZaloChannel, ZaloConfig};
use channels::{CancellationToken, ChannelContext};
use gateway::config::Durability;
use gateway::pipeline::Pipeline;
use gateway::store::{RedisOptions, ReportArchive, Store};
use redis::aio::MultiplexedConnection;
use reqwest::StatusCode;

use crate::support::fake_zalo::{events, FakeZalo};
use crate::support::gateway::{call, client, InProcess, Process, IOC_KEY, SUBMIT_KEY};
use crate::support::redis::{RedisCluster, RedisServer};
use crate::support::{read_fixture, report_json, Multipart};

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
        // Retries a second apart, not the production back-off (30 s doubling).
        s["media_retry_base_secs"] = 1.into();
        s["media_retry_max_secs"] = 1.into();
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

// --- helpers over HTTP and raw Redis ---------------------------------------------------------

async fn raw(server: &RedisServer) -> MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn xlen(c: &mut MultiplexedConnection, stream: &str) -> u64 {
    redis::cmd("XLEN").arg(stream).query_async(c).await.unwrap()
}

/// Submit the app report with a photo under `key` (Idempotency-Key).
async fn submit(gw: &InProcess, key: &str) -> (StatusCode, serde_json::Value) {
    let body = Multipart::new()
        .json("report", &report_json())
        .file(
            "media",
            "den-hong.jpg",
            "image/jpeg",
            &read_fixture("media/photo-2h-before.jpg"),
        )
        .finish();
    call(gw, "POST", "/v1/reports", SUBMIT_KEY, Some(body), Some(key)).await
}

// --- durability: WAIT for replicas -----------------------------------------------------------

async fn gateway_waiting_for_a_replica(master: &RedisServer) -> InProcess {
    let url = master.url();
    InProcess::start(move |c| {
        c.redis_url = Some(url.into());
        c.redis.durability = Durability::Replicas;
        c.redis.wait_replicas = 1;
        c.redis.wait_timeout_ms = 300;
    })
    .await
}

#[tokio::test]
async fn with_durability_replicas_a_submission_is_acknowledged_once_a_replica_has_it() {
    let master = RedisServer::start();
    let replica = RedisServer::start_replica_of(&master);
    let gw = gateway_waiting_for_a_replica(&master).await;
    let (status, answer) = submit(&gw, "with-replica").await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    // The replica has the queued report.
    let mut on_replica = raw(&replica).await;
    assert_eq!(xlen(&mut on_replica, "ioc:reports").await, 1);
}

#[tokio::test]
async fn with_durability_replicas_and_no_replica_a_submission_is_refused_with_503() {
    let master = RedisServer::start();
    let gw = gateway_waiting_for_a_replica(&master).await;
    let (status, answer) = submit(&gw, "no-replica").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert!(
        answer.get("id").is_none(),
        "no report id handed out: {answer}"
    );
    // The citizen's app retries once a replica is back: one report, not two.
    let _replica = RedisServer::start_replica_of(&master);
    let (status, answer) = submit(&gw, "no-replica").await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let mut c = raw(&master).await;
    assert_eq!(xlen(&mut c, "ioc:reports").await, 1);
}

/// A scenario over a server as two tests: on Redis, and on Valkey when it is installed.
macro_rules! on_redis_and_valkey {
    ($scenario:ident: $on_redis:ident, $on_valkey:ident) => {
        #[tokio::test]
        async fn $on_redis() {
            $scenario(RedisServer::start()).await;
        }

        #[tokio::test]
        async fn $on_valkey() {
            if let Some(valkey) = RedisServer::start_valkey() {
                $scenario(valkey).await;
            }
        }
    };
}

// --- memory bound: trimming acknowledged entries --------------------------------------------

on_redis_and_valkey!(
    trimming:
    acknowledged_entries_past_retention_are_trimmed_and_unacknowledged_ones_never,
    on_valkey_acknowledged_entries_past_retention_are_trimmed_and_unacknowledged_ones_never
);

async fn trimming(server: RedisServer) {
    let options = RedisOptions {
        stream_retention: Some(Duration::from_millis(500)),
        ..RedisOptions::default()
    };
    let s = Store::redis_with(&server.url(), options).await.unwrap();
    let mut c = raw(&server).await;
    // Two groups read ioc:reports: the IOC, and an audit reader that has read nothing yet.
    s.ensure_groups(&[("ioc:reports", "ioc")]).await.unwrap();
    for i in 0..4 {
        s.append("ioc:reports", Some(&format!("r{i}")), b"{}")
            .await
            .unwrap();
    }
    s.append("ioc:rejections", Some("x0"), b"{}").await.unwrap();
    let idle = Duration::from_secs(60);
    let got = s.claim("ioc:reports", "ioc", "w", 3, idle).await.unwrap();
    assert_eq!(got.len(), 3);
    s.ack("ioc:reports", "ioc", &got[0].entry_id).await.unwrap();
    s.ack("ioc:reports", "ioc", &got[2].entry_id).await.unwrap();
    // Not yet past retention: nothing goes.
    assert_eq!(s.trim_streams().await.unwrap(), 0);
    tokio::time::sleep(Duration::from_millis(700)).await;
    // Entry 0 acknowledged and old: trimmed. Entry 1 pending: kept, and so is everything after
    // it (entry 2 acknowledged, entry 3 never delivered).
    assert_eq!(
        s.trim_streams().await.unwrap(),
        2,
        "entry 0 and the rejection"
    );
    assert_eq!(xlen(&mut c, "ioc:reports").await, 3);
    assert_eq!(xlen(&mut c, "ioc:rejections").await, 0);
    s.ack("ioc:reports", "ioc", &got[1].entry_id).await.unwrap();
    assert_eq!(s.trim_streams().await.unwrap(), 2, "entries 1 and 2");
    // Entry 3 was never delivered: kept until it is acknowledged.
    assert_eq!(xlen(&mut c, "ioc:reports").await, 1);
    let last = s.claim("ioc:reports", "ioc", "w", 10, idle).await.unwrap();
    assert_eq!(last.len(), 1, "the undelivered entry is still handed out");
    assert_eq!(last[0].deliveries, 0);
    // A second group that has read nothing holds everything back.
    redis::cmd("XGROUP")
        .arg("CREATE")
        .arg("ioc:reports")
        .arg("audit")
        .arg("0")
        .query_async::<()>(&mut c)
        .await
        .unwrap();
    s.ack("ioc:reports", "ioc", &last[0].entry_id)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    s.ensure_groups(&[("ioc:reports", "audit")]).await.unwrap();
    assert_eq!(
        s.trim_streams().await.unwrap(),
        0,
        "the audit group has not read it"
    );
    assert_eq!(xlen(&mut c, "ioc:reports").await, 1);
}

// --- memory bound: report documents archived, expired from Redis -----------------------------

#[tokio::test]
async fn a_report_expired_from_redis_is_read_from_the_archive_and_written_back() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let options = RedisOptions {
        archive: Some(ReportArchive {
            dir: dir.path().join("reports"),
            redis_ttl: Duration::from_millis(300),
        }),
        ..RedisOptions::default()
    };
    let s = Store::redis_with(&server.url(), options).await.unwrap();
    let id = "01JABCDEFGHJKMNPQRSTVWXYZ0";
    s.put_report_if_absent(id, b"{\"v\":1}").await.unwrap();
    s.put_report_if_absent(id, b"{\"v\":2}").await.unwrap();
    let file = dir.path().join("reports/Z0").join(format!("{id}.json"));
    assert_eq!(std::fs::read(&file).unwrap(), b"{\"v\":1}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut c = raw(&server).await;
    let live: Option<Vec<u8>> = redis::cmd("GET")
        .arg(format!("gw:report:{id}"))
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(live, None, "expired from Redis");
    assert_eq!(
        s.get_report(id).await.unwrap().as_deref(),
        Some(&b"{\"v\":1}"[..])
    );
    // First write still wins after expiry.
    s.put_report_if_absent(id, b"{\"v\":3}").await.unwrap();
    assert_eq!(
        s.get_report(id).await.unwrap().as_deref(),
        Some(&b"{\"v\":1}"[..])
    );
    s.replace_report(id, b"{\"v\":4}").await.unwrap();
    assert_eq!(std::fs::read(&file).unwrap(), b"{\"v\":4}");
    assert_eq!(
        s.get_report(id).await.unwrap().as_deref(),
        Some(&b"{\"v\":4}"[..])
    );
    // Ids from URLs never reach outside the archive.
    assert_eq!(s.get_report("../../etc/passwd").await.unwrap(), None);
}

#[tokio::test]
async fn through_the_api_an_archived_report_is_served_and_its_status_changes() {
    let server = RedisServer::start();
    let url = server.url();
    let gw = InProcess::start(move |c| c.redis_url = Some(url.into())).await;
    let (status, answer) = submit(&gw, "archived-1").await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let id = answer["id"].as_str().unwrap().to_string();
    let mut c = raw(&server).await;
    let key = format!("gw:report:{id}");
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut c)
        .await
        .unwrap();
    let days = 30 * 24 * 3600 * 1000;
    assert!(
        ttl > days - 60_000 && ttl <= days,
        "expires after 30 days: {ttl}"
    );
    // The retention passes: Redis forgets the document.
    redis::cmd("DEL")
        .arg(&key)
        .query_async::<()>(&mut c)
        .await
        .unwrap();
    let uri = format!("/v1/reports/{id}");
    let (status, report) = call(&gw, "GET", &uri, IOC_KEY, None, None).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["id"], id.as_str());
    let body = (
        "application/json".to_string(),
        br#"{"status":"closed"}"#.to_vec(),
    );
    let (status, _) = call(
        &gw,
        "PUT",
        &format!("{uri}/status"),
        IOC_KEY,
        Some(body),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, report) = call(&gw, "GET", &uri, IOC_KEY, None, None).await;
    assert_eq!(report["status"], "closed");
    let back: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(back > 0, "written back with its expiry: {back}");
    let archived = gw
        .dir
        .path()
        .join("reports")
        .join(&id[id.len() - 2..])
        .join(format!("{id}.json"));
    let on_disk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(archived).unwrap()).unwrap();
    assert_eq!(on_disk["status"], "closed");
}

// --- memory bound: append markers expire --------------------------------------------------

/// The remaining time to live (ms) of `key`: -1 none, -2 no such key.
async fn pttl(c: &mut MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query_async(c).await.unwrap()
}

// The marker that keeps a retried commit from queuing a report twice used to live for ever in
// Redis's memory. It lives the longer of the stream retention and the idempotency window, and
// a repeat within that window is still one report.
#[tokio::test]
async fn the_append_marker_expires_after_the_idempotency_window_and_a_repeat_within_it_is_one_report(
) {
    let server = RedisServer::start();
    let url = server.url();
    let gw = InProcess::start(move |c| {
        c.redis_url = Some(url.into());
        // A window longer than the stream retention (7 days): the marker follows the window.
        c.queue.idempotency_ttl_hours = 30 * 24;
    })
    .await;
    let (status, answer) = submit(&gw, "marker-1").await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let id = answer["id"].as_str().unwrap();
    let mut c = raw(&server).await;
    let ttl = pttl(&mut c, &format!("gw:{{ioc:reports}}:enqueued:{id}")).await;
    let window = 30 * 24 * 3600 * 1000i64;
    assert!(
        ttl > window - 60_000 && ttl <= window,
        "the marker expires with the idempotency window: PTTL {ttl}"
    );
    // Within the window the same key is the same report, queued once.
    let (status, again) = submit(&gw, "marker-1").await;
    assert!(status.is_success(), "{again}");
    assert_eq!(again["id"], id);
    assert_eq!(xlen(&mut c, "ioc:reports").await, 1);
}

// At the store: a marker past its time to live is gone from Redis; before that, appending the
// same report id again returns the first entry.
#[tokio::test]
async fn an_append_marker_dedups_until_its_time_to_live_and_is_then_removed() {
    let server = RedisServer::start();
    let options = RedisOptions {
        marker_ttl: Some(Duration::from_millis(800)),
        ..RedisOptions::default()
    };
    let s = Store::redis_with(&server.url(), options).await.unwrap();
    let mut c = raw(&server).await;
    let first = s.append("ioc:reports", Some("r1"), b"{}").await.unwrap();
    let marker = "gw:{ioc:reports}:enqueued:r1";
    let ttl = pttl(&mut c, marker).await;
    assert!(ttl > 0 && ttl <= 800, "PTTL {ttl}");
    let again = s.append("ioc:reports", Some("r1"), b"{}").await.unwrap();
    assert_eq!(
        again, first,
        "a repeat within the time to live is the same entry"
    );
    assert_eq!(xlen(&mut c, "ioc:reports").await, 1);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(pttl(&mut c, marker).await, -2, "the marker expired");
    // Without a time to live (retention 0: entries kept for ever), markers are kept too.
    let s = Store::redis_with(&server.url(), RedisOptions::default())
        .await
        .unwrap();
    s.append("ioc:reports", Some("r2"), b"{}").await.unwrap();
    assert_eq!(pttl(&mut c, "gw:{ioc:reports}:enqueued:r2").await, -1);
}

// --- several instances on one Redis (issue 10, point 9) --------------------------------------

/// Two `gateway serve` processes on one Redis, each with the Zalo channel pointed at one fake.
struct Pair {
    fake: FakeZalo,
    gateways: [Process; 2],
    redis: RedisServer,
    _dirs: [tempfile::TempDir; 2],
}

impl Pair {
    async fn start(redis: RedisServer) -> Pair {
        let fake = FakeZalo::start().await;
        let url = redis.url();
        let section = fake.zalo_section();
        let text = |k: &str| section[k].as_str().unwrap().to_string();
        let envs: Vec<(String, String)> = vec![
            ("GATEWAY_REDIS_URL".into(), url),
            (
                "GATEWAY_DUPLICATES__IDENTITY_PEPPER".into(),
                "two-instances-pepper".into(),
            ),
            ("GATEWAY_ZALO_APP_ID".into(), text("app_id")),
            ("GATEWAY_ZALO_OA_SECRET_KEY".into(), text("oa_secret_key")),
            ("GATEWAY_ZALO_APP_SECRET".into(), text("app_secret")),
            ("GATEWAY_ZALO_ACCESS_TOKEN".into(), text("access_token")),
            ("GATEWAY_ZALO_REFRESH_TOKEN".into(), text("refresh_token")),
            ("GATEWAY_ZALO_API_BASE".into(), text("api_base")),
            ("GATEWAY_ZALO_OAUTH_BASE".into(), text("oauth_base")),
            ("GATEWAY_ZALO_GRAPH_BASE".into(), text("graph_base")),
            ("GATEWAY_ZALO_MEDIA_HOSTS".into(), "127.0.0.1".into()),
        ];
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let start = |dir: &tempfile::TempDir, name: &str| {
            let mut envs: Vec<(&str, &str)> =
                envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            envs.push(("GATEWAY_INSTANCE_ID", name));
            Process::start(dir.path(), &envs)
        };
        let gateways = [start(&dirs[0], "gw-a"), start(&dirs[1], "gw-b")];
        Pair {
            fake,
            gateways,
            redis,
            _dirs: dirs,
        }
    }

    fn ms(&self) -> i64 {
        chrono::DateTime::parse_from_rfc3339(crate::support::TEST_NOW)
            .unwrap()
            .timestamp_millis()
    }

    /// Post a Zalo event to gateway `n`'s webhook.
    async fn send(&self, n: usize, body: &str) {
        let webhook = format!("{}/v1/zalo/webhook", self.gateways[n % 2].base);
        let s = self.fake.post_event(&webhook, body, None).await;
        assert_eq!(s, StatusCode::OK);
    }
}

/// What the OA told `user` once `done` holds, waiting up to `CROSS_INSTANCE_WAIT`: an event
/// of a conversation that another instance holds the lock of is retried after the channel
/// streams' claim timeout (60 s in `gateway serve`).
async fn wait_told(fake: &FakeZalo, user: &str, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = std::time::Instant::now() + CROSS_INSTANCE_WAIT;
    loop {
        let said: Vec<String> = fake
            .delivered_to(user)
            .iter()
            .map(|c| c.text().unwrap_or("[form]").to_string())
            .collect();
        if done(&said) {
            return said;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{user} was not told what was awaited: {said:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const CROSS_INSTANCE_WAIT: Duration = Duration::from_secs(100);

/// A whole Zalo conversation whose events go to the two gateways in turn (starting with
/// `first`); returns the tracking code the citizen was given.
async fn converse_across(p: &Pair, u: &str, first: usize, phone: &str) -> String {
    let at = |i: usize| first + i;
    let ms = p.ms();
    p.send(at(0), &events::text(u, &format!("{u}-1"), DESCRIPTION, ms))
        .await;
    wait_told(&p.fake, u, |s| s.len() >= 2).await;
    let mut photo = PNG.to_vec();
    photo.extend_from_slice(u.as_bytes());
    let url = p.fake.add_media(&format!("{u}.png"), "image/png", photo);
    p.send(at(1), &events::image(u, &format!("{u}-2"), &url, ms + 1))
        .await;
    p.send(
        at(2),
        &events::location(u, &format!("{u}-3"), "10.5366", "106.4138", ms + 2),
    )
    .await;
    p.send(
        at(3),
        &events::submit_info(u, "Nguyễn Văn An", phone, ms + 3),
    )
    .await;
    wait_told(&p.fake, u, |s| {
        s.iter().any(|m| m.starts_with("Tóm tắt phản ánh"))
    })
    .await;
    p.send(at(4), &events::text(u, &format!("{u}-5"), "Gửi", ms + 4))
        .await;
    let said = wait_told(&p.fake, u, |s| {
        s.iter().any(|m| m.contains("Mã phản ánh: LA-"))
    })
    .await;
    let last = said
        .iter()
        .find(|m| m.contains("Mã phản ánh: LA-"))
        .unwrap();
    last.split("Mã phản ánh: ")
        .nth(1)
        .and_then(|s| s.split('.').next())
        .unwrap()
        .to_string()
}

/// An API submission to gateway `base` under `key`, from its own phone number.
async fn submit_to(base: &str, key: &str, phone_suffix: u32) -> (u16, serde_json::Value) {
    let mut report = report_json();
    report["reporter"]["phone"] = format!("0912 345 {phone_suffix:03}").into();
    let (ct, body) = Multipart::new()
        .json("report", &report)
        .file(
            "media",
            "den-hong.jpg",
            "image/jpeg",
            &read_fixture("media/photo-2h-before.jpg"),
        )
        .finish();
    let res = client()
        .post(format!("{base}/v1/reports"))
        .bearer_auth(SUBMIT_KEY)
        .header("idempotency-key", key)
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or_default())
}

/// The `report_id` of every entry of `stream`, in order.
async fn report_ids(c: &mut MultiplexedConnection, stream: &str) -> Vec<String> {
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .query_async(c)
        .await
        .unwrap_or_default();
    entries
        .into_iter()
        .filter_map(|(_, fields)| {
            fields
                .into_iter()
                .find(|(k, _)| k == "report_id")
                .map(|(_, v)| v)
        })
        .collect()
}

on_redis_and_valkey!(
    two_gateways_on_one_server:
    two_gateways_on_one_redis_make_exactly_the_right_reports_and_answer_each_citizen_once,
    two_gateways_on_one_valkey_make_exactly_the_right_reports_and_answer_each_citizen_once
);

async fn two_gateways_on_one_server(server: RedisServer) {
    let p = Pair::start(server).await;
    let users = ["U-multi-1", "U-multi-2", "U-multi-3"];
    let bases: Vec<String> = p.gateways.iter().map(|g| g.base.clone()).collect();
    // Three conversations at once, their events alternating between the gateways, and API
    // submissions alternating too; one of them sent to both (the same Idempotency-Key).
    let api = async {
        let mut answers = Vec::new();
        for i in 0..4u32 {
            answers.push(submit_to(&bases[i as usize % 2], &format!("api-{i}"), i).await);
        }
        answers.push(submit_to(&bases[1], "api-0", 0).await);
        answers
    };
    let started = std::time::Instant::now();
    let (c1, c2, c3, answers) = tokio::join!(
        converse_across(&p, users[0], 0, "84912345601"),
        converse_across(&p, users[1], 1, "84912345602"),
        converse_across(&p, users[2], 0, "84912345603"),
        api
    );
    for (status, answer) in &answers {
        assert_eq!(*status, 201, "{answer}");
    }
    assert_eq!(
        answers[0].1["id"], answers[4].1["id"],
        "the same Idempotency-Key on the other gateway answers the same report"
    );
    let codes = [c1, c2, c3];
    eprintln!(
        "three conversations across two gateways took {:?}",
        started.elapsed()
    );
    // Each citizen got the tracking code once, and every message once.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for (u, code) in users.iter().zip(&codes) {
        let said: Vec<String> = p
            .fake
            .delivered_to(u)
            .iter()
            .map(|c| c.text().unwrap_or("[form]").to_string())
            .collect();
        let with_code = said.iter().filter(|m| m.contains(code.as_str())).count();
        assert_eq!(with_code, 1, "{u}: {said:#?}");
        let mut unique = said.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            unique.len(),
            said.len(),
            "{u} was told something twice: {said:#?}"
        );
    }
    let distinct: std::collections::BTreeSet<&String> = codes.iter().collect();
    assert_eq!(distinct.len(), 3, "three conversations, three reports");
    // Exactly 3 + 4 reports were queued (accepted or rejected), none twice.
    let mut c = raw(&p.redis).await;
    let mut ids = report_ids(&mut c, "ioc:reports").await;
    ids.extend(report_ids(&mut c, "ioc:rejections").await);
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "no report queued twice: {ids:?}");
    assert_eq!(ids.len(), 7, "{ids:?}");
    // The IOC claims across both gateways: each accepted report handed out once.
    let mut claimed = Vec::new();
    for (i, base) in bases.iter().enumerate() {
        let res = client()
            .get(format!("{base}/v1/ioc/queue?max=10&consumer=ioc-{i}"))
            .bearer_auth(IOC_KEY)
            .send()
            .await
            .unwrap();
        let answer: serde_json::Value = res.json().await.unwrap();
        for e in answer["entries"].as_array().unwrap() {
            claimed.push(e["report"]["id"].as_str().unwrap().to_string());
        }
    }
    claimed.sort();
    let mut queued = report_ids(&mut c, "ioc:reports").await;
    queued.sort();
    assert_eq!(claimed, queued);
}

// --- Redis Cluster -------------------------------------------------------------------------

#[tokio::test]
async fn on_a_redis_cluster_a_submission_is_claimed_by_the_ioc_and_acknowledged() {
    let cluster = RedisCluster::start();
    let url = cluster.url();
    let gw = InProcess::start(move |c| c.redis_url = Some(url.into())).await;
    let (status, answer) = submit(&gw, "cluster-1").await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let id = answer["id"].as_str().unwrap().to_string();
    // The same key again: the same report (the dedup binding and the append marker).
    let (status, again) = submit(&gw, "cluster-1").await;
    assert!(status.is_success(), "{again}");
    assert_eq!(again["id"], id.as_str());
    let (status, claimed) = call(
        &gw,
        "GET",
        "/v1/ioc/queue?max=10&consumer=ioc-1",
        IOC_KEY,
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{claimed}");
    let entries = claimed["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{claimed}");
    assert_eq!(entries[0]["report"]["id"], id.as_str());
    let entry_id = entries[0]["entry_id"].as_str().unwrap();
    let ack = format!("/v1/ioc/queue/{entry_id}/ack");
    let (status, _) = call(&gw, "POST", &ack, IOC_KEY, None, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&gw, "POST", &ack, IOC_KEY, None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "acknowledged once");
    let (status, report) = call(
        &gw,
        "GET",
        &format!("/v1/reports/{id}"),
        IOC_KEY,
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
}

// --- the email lease over real Redis (issue 10, point 9) -------------------------------------

/// A stream entry as `XRANGE` gives it: (id, [(field, value)]).
type RawEntry = (String, Vec<(String, Vec<u8>)>);

/// A citizen's plain-text email, sender and Message-ID numbered `i`.
fn lease_mail(i: usize) -> Vec<u8> {
    format!(
        "From: =?UTF-8?Q?Tr=E1=BA=A7n_V=C4=83n_B=C3=ACnh?= <dan-{i}@example.vn>\r\n\
         To: 1022@longan.gov.vn\r\n\
         Subject: =?UTF-8?Q?R=C3=A1c_th=E1=BA=A3i?=\r\n\
         Message-ID: <lease-{i}@example.vn>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=UTF-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         Rác thải sinh hoạt bị đổ tràn ra lòng đường trước chợ, bốc mùi hôi thối (lần {i}).\r\n\
         Địa chỉ: 12 Hùng Vương, Phường 1, Tân An.\r\n"
    )
    .into_bytes()
}

/// The instance holding the email lease of `INBOX` now, if any.
async fn lease_holder(c: &mut MultiplexedConnection) -> Option<String> {
    redis::cmd("GET")
        .arg("gw:state:email:lease:INBOX")
        .query_async(c)
        .await
        .unwrap()
}

/// Wait until `n` messages are in Processed and none in INBOX.
async fn wait_processed(dovecot: &crate::support::dovecot::Dovecot, n: u32, logs: &[&Process]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let inbox = dovecot.count("gateway", "INBOX").await;
        let processed = dovecot.count("gateway", "Processed").await;
        if inbox == 0 && processed >= n {
            assert_eq!(processed, n, "each message moved once");
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "INBOX {inbox}, Processed {processed} (awaited {n}); logs:\n{}",
            logs.iter()
                .map(|p| p.log_text())
                .collect::<Vec<_>>()
                .join("\n----\n")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The `To` address of a raw message.
fn recipient(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let to = text
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("to:"))
        .unwrap_or_default();
    let addr = to[3..].trim();
    addr.rsplit_once('<')
        .map(|(_, a)| a.trim_end_matches('>'))
        .unwrap_or(addr)
        .to_ascii_lowercase()
}

// Two `gateway serve` on one Redis and one Dovecot mailbox: one polls at a time (the lease),
// every email is one report and one answer, and when the holder is killed the other instance
// takes the lease over and carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_one_mailbox_take_each_email_once_and_the_lease_passes_on_a_kill() {
    use crate::support::dovecot::{Dovecot, PASSWORD};
    use crate::support::smtp::SmtpSink;
    const N: usize = 30;
    let redis = RedisServer::start();
    let dovecot = Dovecot::start();
    let sink = SmtpSink::start();
    let (url, imap_port, smtp_port) = (
        redis.url(),
        dovecot.imap_port.to_string(),
        sink.port.to_string(),
    );
    let envs = [
        ("GATEWAY_REDIS_URL", url.as_str()),
        (
            "GATEWAY_DUPLICATES__IDENTITY_PEPPER",
            "two-instances-pepper",
        ),
        ("GATEWAY_IMAP_HOST", "127.0.0.1"),
        ("GATEWAY_IMAP_PORT", imap_port.as_str()),
        ("GATEWAY_IMAP_TLS", "none"),
        ("GATEWAY_IMAP_USER", "gateway"),
        ("GATEWAY_IMAP_PASSWORD", PASSWORD),
        ("GATEWAY_SMTP_HOST", "127.0.0.1"),
        ("GATEWAY_SMTP_PORT", smtp_port.as_str()),
        ("GATEWAY_SMTP_TLS", "none"),
        ("GATEWAY_MAIL_FROM", "1022@longan.gov.vn"),
        // A short lease: the survivor takes over a few seconds after the holder dies.
        ("GATEWAY_EMAIL__LEASE_TTL_SECS", "6"),
    ];
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let start = |dir: &tempfile::TempDir, name: &'static str| {
        let mut envs = envs.to_vec();
        envs.push(("GATEWAY_INSTANCE_ID", name));
        Process::start(dir.path(), &envs)
    };
    let mut gateways = [start(&dirs[0], "gw-a"), start(&dirs[1], "gw-b")];
    let mut c = raw(&redis).await;

    for i in 0..N / 2 {
        dovecot.append("gateway", "INBOX", &lease_mail(i)).await;
    }
    wait_processed(&dovecot, (N / 2) as u32, &[&gateways[0], &gateways[1]]).await;
    let replies = sink.wait_for(N / 2, Duration::from_secs(60)).await;
    assert_eq!(
        replies.len(),
        N / 2,
        "each sender of the first half answered"
    );
    let holder = lease_holder(&mut c)
        .await
        .expect("one instance holds the lease");
    let (dead, survivor) = match holder.as_str() {
        "gw-a" => (0, "gw-b"),
        "gw-b" => (1, "gw-a"),
        other => panic!("unknown holder {other}"),
    };
    // SIGKILL: no release; the survivor waits for the lease to expire.
    gateways[dead].kill();
    for i in N / 2..N {
        dovecot.append("gateway", "INBOX", &lease_mail(i)).await;
    }
    wait_processed(&dovecot, N as u32, &[&gateways[1 - dead]]).await;
    assert_eq!(
        lease_holder(&mut c).await.as_deref(),
        Some(survivor),
        "the lease passed to the other gateway"
    );

    // Exactly N reports, one per Message-ID.
    let mut refs = Vec::new();
    for stream in ["ioc:reports", "ioc:rejections"] {
        let entries: Vec<RawEntry> = redis::cmd("XRANGE")
            .arg(stream)
            .arg("-")
            .arg("+")
            .query_async(&mut c)
            .await
            .unwrap();
        for (_, fields) in entries {
            let payload = fields.into_iter().find(|(k, _)| k == "payload").unwrap().1;
            let report: serde_json::Value = serde_json::from_slice(&payload).unwrap();
            refs.push(report["channel_ref"].as_str().unwrap().to_string());
        }
    }
    refs.sort();
    let mut expected: Vec<String> = (0..N).map(|i| format!("lease-{i}@example.vn")).collect();
    expected.sort();
    assert_eq!(refs, expected, "one report per email");

    // Each sender answered exactly once.
    let replies = sink.wait_for(N, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut to: Vec<String> = sink.messages().iter().map(|m| recipient(m)).collect();
    to.sort();
    let mut senders: Vec<String> = (0..N).map(|i| format!("dan-{i}@example.vn")).collect();
    senders.sort();
    assert_eq!(replies.len(), N);
    assert_eq!(to, senders, "one answer per sender");
}
