//! The gateway killed at every step of a commit, then restarted: the client's retry (same
//! Idempotency-Key) ends with exactly one report in the IOC queue (R-PIPE-1, R-PIPE-2).

use std::time::Duration;

use serde_json::Value;

use crate::support::gateway::{client, Process, IOC_KEY, SUBMIT_KEY};
use crate::support::redis::RedisServer;

/// On Redis the identity pepper must be configured (every instance shares it).
const REDIS_PEPPER: &str = "restart-test-pepper-0123456789";
use crate::support::{read_fixture, report_json};

fn form() -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .part(
            "report",
            reqwest::multipart::Part::text(report_json().to_string())
                .mime_str("application/json")
                .unwrap(),
        )
        .part(
            "media",
            reqwest::multipart::Part::bytes(read_fixture("media/photo-2h-before.jpg"))
                .file_name("a.jpg")
                .mime_str("image/jpeg")
                .unwrap(),
        )
}

async fn submit(base: &str, key: &str) -> reqwest::Result<reqwest::Response> {
    client()
        .post(format!("{base}/v1/reports"))
        .bearer_auth(SUBMIT_KEY)
        .header("idempotency-key", key)
        .multipart(form())
        .send()
        .await
}

async fn claim_all(base: &str) -> Vec<Value> {
    let res: Value = client()
        .get(format!("{base}/v1/ioc/queue?max=100&consumer=restart-test"))
        .bearer_auth(IOC_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    res["entries"].as_array().unwrap().clone()
}

async fn crash_then_retry(extra: &[(&str, &str)], point: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut envs = extra.to_vec();
    envs.push(("GATEWAY_FAILPOINT", point));
    let mut gw = Process::start(dir.path(), &envs);
    let first = submit(&gw.base, "retry-me").await;
    assert!(
        first.is_err() || !first.unwrap().status().is_success(),
        "{point}: no answer before the crash"
    );
    assert!(
        gw.wait_exit(Duration::from_secs(10)),
        "{point}: the failpoint aborted the gateway"
    );
    gw.restart(extra);
    let res = submit(&gw.base, "retry-me").await.unwrap();
    assert_eq!(res.status(), 201, "{point}: the retry succeeds");
    let answer: Value = res.json().await.unwrap();
    let entries = claim_all(&gw.base).await;
    assert_eq!(
        entries.len(),
        1,
        "{point}: exactly one report queued, got {entries:?}"
    );
    assert_eq!(entries[0]["report"]["id"], answer["id"], "{point}");
    // A further retry changes nothing.
    let again: Value = submit(&gw.base, "retry-me")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["id"], answer["id"]);
    assert_eq!(again["replayed"], true);
    assert!(claim_all(&gw.base).await.is_empty(), "{point}: nothing new");
}

#[tokio::test]
async fn crash_after_binding_the_key_embedded() {
    crash_then_retry(&[], "after_dedup").await;
}

#[tokio::test]
async fn crash_after_storing_media_embedded() {
    crash_then_retry(&[], "after_media").await;
}

#[tokio::test]
async fn crash_after_storing_the_report_embedded() {
    crash_then_retry(&[], "after_report").await;
}

#[tokio::test]
async fn crash_after_queueing_before_answering_embedded() {
    crash_then_retry(&[], "after_queue").await;
}

#[tokio::test]
async fn crash_after_storing_the_report_redis() {
    let redis = RedisServer::start();
    let url = redis.url();
    crash_then_retry(
        &[
            ("GATEWAY_REDIS_URL", url.as_str()),
            ("GATEWAY_DUPLICATES__IDENTITY_PEPPER", REDIS_PEPPER),
        ],
        "after_report",
    )
    .await;
}

#[tokio::test]
async fn crash_after_queueing_before_answering_redis() {
    let redis = RedisServer::start();
    let url = redis.url();
    crash_then_retry(
        &[
            ("GATEWAY_REDIS_URL", url.as_str()),
            ("GATEWAY_DUPLICATES__IDENTITY_PEPPER", REDIS_PEPPER),
        ],
        "after_queue",
    )
    .await;
}

/// The README's promise: a report accepted before a restart is still there after it.
#[tokio::test]
async fn a_report_survives_a_kill_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut gw = Process::start(dir.path(), &[]);
    let res = submit(&gw.base, "k1").await.unwrap();
    assert_eq!(res.status(), 201);
    let answer: Value = res.json().await.unwrap();
    let id = answer["id"].as_str().unwrap().to_string();
    gw.kill();
    gw.restart(&[]);
    let report: Value = client()
        .get(format!("{}/v1/reports/{id}", gw.base))
        .bearer_auth(IOC_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["tracking_code"], answer["tracking_code"]);
    let entries = claim_all(&gw.base).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["report"]["id"], id.as_str());
    assert!(
        !gw.log_text().contains("0912"),
        "no phone number in the logs"
    );
    assert!(
        !gw.log_text().contains("Nguyễn Văn An"),
        "no name in the logs"
    );
}

/// A crash in the middle of an upload leaves nothing behind but a staging file that the next
/// start sweeps (after a day) and no report.
#[tokio::test]
async fn a_connection_cut_mid_upload_stores_no_report() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let gw = Process::start(dir.path(), &[]);
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", gw.port))
        .await
        .unwrap();
    let head = format!(
        "POST /v1/reports HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {SUBMIT_KEY}\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n--b\r\nContent-Disposition: form-data; name=\"media\"; filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&read_fixture("media/photo-2h-before.jpg")[..500])
        .await
        .unwrap();
    drop(s);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(claim_all(&gw.base).await.is_empty());
    let staged = std::fs::read_dir(dir.path().join("media/tmp"))
        .unwrap()
        .count();
    assert_eq!(staged, 0, "the partial upload was deleted");
}
