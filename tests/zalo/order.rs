//! Events of one conversation are applied in the order the webhook received them, whichever
//! instance holds them: an event claimed by an instance that died (never acknowledged) holds
//! back the later events of its conversation until the stream hands it out again. (A number
//! whose event was never stored cannot arise: the webhook numbers and stores an event in one
//! step, `restart.rs` kills it just before; the skip of a gap after `zalo.order_gap_secs`, a
//! safety against an entry lost with the store's data, is unit-tested in the processor.)

use std::time::{Duration, Instant};

use channels::Streams;

use super::{Real, DESCRIPTION, PNG};
use crate::support::fake_zalo::events;
use crate::support::redis::RedisServer;

const NAME: &str = "Nguyễn Văn An";

/// The contact form is claimed by a consumer that dies; "Gửi", sent after it, reaches another
/// processor at once. The report must be made after the form, with its data, exactly once,
/// and the citizen answered once: the summary, then the tracking code.
async fn a_form_held_by_a_dead_instance_is_applied_before_the_confirmation(
    redis: Option<RedisServer>,
) {
    let claim_timeout = Duration::from_secs(2);
    let r = Real::start_webhook_only(redis, claim_timeout, |c| {
        c.order_gap_secs = 60;
        c.order_retry_millis = 200;
    })
    .await;
    let u = "U-order-dead";
    {
        let _first = r.second_processor("zalo-first");
        r.send(&events::text(u, "od-1", DESCRIPTION, r.ms())).await;
        r.wait_said(u, 2).await;
        let url = r.fake.add_media("od.jpg", "image/jpeg", PNG.to_vec());
        r.send(&events::image(u, "od-2", &url, r.ms())).await;
        r.send(&events::location(u, "od-3", "10.5366", "106.4138", r.ms()))
            .await;
        // The contact is asked for with Zalo's form.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !r
            .fake
            .delivered_to(u)
            .iter()
            .any(|c| c.template_type() == Some("request_user_info"))
        {
            assert!(
                Instant::now() < deadline,
                "the contact form was never asked for"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Let the photo's inspection result be applied too.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // That instance has stopped; the stream is drained (nothing claimed below but the form).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = r.wait_said(u, 0).await.len();
    r.send(&events::submit_info(u, NAME, "84912345678", r.ms()))
        .await;
    let store = r.pipeline.channel_store(claim_timeout);
    let dead = store
        .claim(channels::zalo::EVENTS_STREAM, "zalo-dead", 10)
        .await
        .unwrap();
    assert!(
        dead.iter().any(|e| e.payload["raw"]
            .as_str()
            .unwrap_or_default()
            .contains("user_submit_info")),
        "the dying consumer holds the form: {dead:?}"
    );
    // Another instance gets the confirmation at once; the form comes back only after the claim
    // timeout.
    let _second = r.second_processor("zalo-second");
    r.send(&events::text(u, "od-send", "Gửi", r.ms())).await;
    r.fake
        .wait_said(u, |s| s.iter().any(|m| m.contains("Mã phản ánh: LA-")))
        .await;
    // Time for a repeated answer or a second report to show.
    tokio::time::sleep(claim_timeout * 3).await;
    let after: Vec<String> = r.wait_said(u, 0).await[before..].to_vec();
    assert_eq!(after.len(), 2, "the summary, then the code: {after:#?}");
    assert!(after[0].starts_with("Tóm tắt phản ánh"), "{after:#?}");
    assert!(after[1].contains("Mã phản ánh: LA-"), "{after:#?}");
    let report = r.the_one_queued_report().await;
    assert_eq!(report.reporter.phone.as_deref(), Some("+84912345678"));
    assert_eq!(report.reporter.name.as_deref(), Some(NAME));
    assert_eq!(report.channel_ref.as_deref(), Some("od-send"));
}

#[tokio::test]
async fn a_form_held_by_a_dead_instance_on_redis_is_applied_before_the_confirmation() {
    a_form_held_by_a_dead_instance_is_applied_before_the_confirmation(Some(RedisServer::start()))
        .await;
}

#[tokio::test]
async fn a_form_held_by_a_dead_consumer_of_the_embedded_store_is_applied_before_the_confirmation() {
    a_form_held_by_a_dead_instance_is_applied_before_the_confirmation(None).await;
}
