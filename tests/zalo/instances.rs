//! Two processors on one store (two gateway instances on one Redis; two processors of one
//! process on the embedded store): a media download longer than the dialogue lock's lifetime
//! and the stream's claim timeout makes exactly one report, and the citizen is answered once.

use std::time::Duration;

use super::{Real, DESCRIPTION, PNG};
use crate::support::fake_zalo::events;
use crate::support::redis::RedisServer;

async fn one_report_despite_a_long_download(redis: Option<RedisServer>) {
    // The claim timeout (1 s) and the lock's lifetime (3 s) are far shorter than the download
    // (7 s): without the lock's renewal the other processor takes the event over mid-download.
    let r = Real::start_tuned(redis, None, Duration::from_secs(1), |c| {
        c.lock_ttl_secs = 3;
        c.media_timeout_secs = 30;
    })
    .await;
    let _other = r.second_processor("zalo-test-other");
    let u = "U-two-instances";
    let slow = r.fake.add_slow_media(
        "ti-slow.jpg",
        "image/jpeg",
        PNG.to_vec(),
        Duration::from_secs(7),
    );
    r.send(&events::text(u, "ti-1", DESCRIPTION, r.ms())).await;
    r.wait_said(u, 2).await;
    r.send(&events::image(u, "ti-2", &slow, r.ms())).await;
    r.send(&events::location(u, "ti-3", "10.5366", "106.4138", r.ms()))
        .await;
    r.send(&events::submit_info(
        u,
        "Nguyễn Văn An",
        "84912345678",
        r.ms(),
    ))
    .await;
    let said = r.wait_said_starting(u, "Tóm tắt phản ánh").await;
    let before = said.len();
    r.send(&events::text(u, "ti-send", "Gửi", r.ms())).await;
    let said = r
        .fake
        .wait_said(u, |s| s.iter().any(|m| m.contains("Mã phản ánh: LA-")))
        .await;
    // Give a second processing of "Gửi" the time to show: the inspection and a re-download.
    tokio::time::sleep(Duration::from_secs(9)).await;
    let after: Vec<String> = r.fake.wait_said(u, |_| true).await[before..].to_vec();
    assert_eq!(
        after,
        vec![said.last().unwrap().clone()],
        "the citizen is answered once, nothing else"
    );
    let report = r.the_one_queued_report().await;
    assert_eq!(report.attachments.len(), 1);
}

#[tokio::test]
async fn two_processors_on_redis_make_one_report_despite_a_download_longer_than_the_lock() {
    one_report_despite_a_long_download(Some(RedisServer::start())).await;
}

#[tokio::test]
async fn two_processors_on_the_embedded_store_make_one_report_despite_a_long_download() {
    one_report_despite_a_long_download(None).await;
}
