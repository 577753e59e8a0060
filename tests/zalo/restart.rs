//! A conversation's order across a SIGKILL of the gateway process (issue 10, point 9; the open
//! finding of HARNESSES.md): the gateway runs as a process (`support::gateway::Process`) on the
//! embedded store and on Redis, the fake Zalo posts the webhook events and re-posts one that got
//! no 200.
//!
//! - An event whose webhook request was killed before the event was stored must not hold the
//!   conversation: when Zalo re-sends it, it is answered at once, not after
//!   `zalo.order_gap_secs` (a number taken and never stored would be a gap that never fills).
//! - A restarted instance takes over the dialogue locks its killed run held: the event that
//!   was being processed at the kill is processed again as soon as the stream hands it back
//!   (the claim timeout), not after `zalo.lock_ttl_secs`, and applied once.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use super::{DESCRIPTION, PNG};
use crate::support::fake_zalo::{events, FakeZalo};
use crate::support::gateway::Process;
use crate::support::harness::{self as h, Channels};
use crate::support::redis::RedisServer;

/// Far longer than what the tests allow for an answer: waiting for it fails them.
const ORDER_GAP_SECS: &str = "60";
/// The stream hands a killed run's event out again after this.
const CLAIM_TIMEOUT_SECS: &str = "2";

/// The gateway's environment: its configuration for the fake Zalo, the store, short claims.
fn environment(
    dir: &std::path::Path,
    fake: &FakeZalo,
    redis: Option<&RedisServer>,
) -> Vec<(String, String)> {
    let config = h::write_config(dir, &Channels::zalo(fake), "");
    let mut envs = vec![
        (
            "GATEWAY_CONFIG".to_string(),
            config.to_str().unwrap().to_string(),
        ),
        ("GATEWAY_ZALO_ORDER_GAP_SECS".into(), ORDER_GAP_SECS.into()),
        (
            "GATEWAY_QUEUE__CHANNEL_CLAIM_TIMEOUT_SECS".into(),
            CLAIM_TIMEOUT_SECS.into(),
        ),
    ];
    if let Some(r) = redis {
        envs.push(("GATEWAY_REDIS_URL".into(), r.url().to_string()));
        envs.push((
            "GATEWAY_DUPLICATES__IDENTITY_PEPPER".into(),
            "zalo-restart-pepper-0123456789".into(),
        ));
    }
    envs
}

fn refs(envs: &[(String, String)]) -> Vec<(&str, &str)> {
    envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// What the OA told `user` once `done` holds, waiting up to `within`.
async fn said_within(
    fake: &FakeZalo,
    user: &str,
    within: Duration,
    done: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let said = h::zalo_said(fake, user);
        if done(&said) {
            return said;
        }
        assert!(
            Instant::now() < deadline,
            "{user} was not told what was awaited within {within:?}: {said:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn an_event_killed_before_it_was_stored_does_not_hold_the_conversation(
    redis: Option<RedisServer>,
) {
    let fake = FakeZalo::start().await;
    let dir = tempfile::tempdir().unwrap();
    let envs = environment(dir.path(), &fake, redis.as_ref());
    let mut armed = envs.clone();
    armed.push((
        "GATEWAY_FAILPOINT".into(),
        "before_zalo_event_append".into(),
    ));
    let mut gw = Process::start(&dir.path().join("data"), &refs(&armed));
    let webhook = format!("{}/v1/zalo/webhook", gw.base);
    let began = Instant::now();
    let ms = || h::test_ms(began.elapsed());
    let u = "U-killed-before-append";
    let first = events::text(u, "kb-1", DESCRIPTION, ms());
    let status = fake.post_event(&webhook, &first, None).await;
    assert_ne!(status, StatusCode::OK, "the gateway died before storing it");
    assert!(
        gw.wait_exit(Duration::from_secs(10)),
        "the failpoint aborted the gateway; log:\n{}",
        gw.log_text()
    );
    gw.restart(&refs(&envs));
    // Zalo re-sends the event that got no 200: it is the conversation's first, answered at once.
    assert_eq!(
        fake.post_event(&webhook, &first, Some(1)).await,
        StatusCode::OK
    );
    let said = said_within(&fake, u, Duration::from_secs(15), |s| s.len() >= 2).await;
    assert!(
        said.iter().any(|m| m.contains("ảnh")),
        "asked for a photo: {said:#?}"
    );
    // The conversation goes on in order, without waiting.
    let before = said.len();
    let url = fake.add_media("kb.png", "image/png", PNG.to_vec());
    let sent = Instant::now();
    assert_eq!(
        fake.post_event(&webhook, &events::image(u, "kb-2", &url, ms()), None)
            .await,
        StatusCode::OK
    );
    said_within(&fake, u, Duration::from_secs(15), |s| s.len() > before).await;
    assert!(sent.elapsed() < Duration::from_secs(15));
    assert!(
        !gw.log_text().contains("gap skipped"),
        "no event of the conversation was skipped"
    );
}

#[tokio::test]
async fn an_event_killed_before_it_was_stored_does_not_hold_the_conversation_on_the_embedded_store()
{
    an_event_killed_before_it_was_stored_does_not_hold_the_conversation(None).await;
}

#[tokio::test]
async fn an_event_killed_before_it_was_stored_does_not_hold_the_conversation_on_redis() {
    an_event_killed_before_it_was_stored_does_not_hold_the_conversation(Some(RedisServer::start()))
        .await;
}

/// "Gửi" is being processed — its photo downloading, slowly, under the dialogue lock — when the
/// gateway is killed. The restarted gateway gets it back after the claim timeout and must take
/// its own dead run's lock over: the citizen gets the tracking code within seconds (not after
/// the lock's 120 s), once, and one report is made with the contact form's data.
async fn a_restart_takes_over_its_killed_runs_dialogue_lock(redis: Option<RedisServer>) {
    let fake = FakeZalo::start().await;
    let dir = tempfile::tempdir().unwrap();
    let envs = environment(dir.path(), &fake, redis.as_ref());
    let mut gw = Process::start(&dir.path().join("data"), &refs(&envs));
    let webhook = format!("{}/v1/zalo/webhook", gw.base);
    let began = Instant::now();
    let ms = || h::test_ms(began.elapsed());
    let u = "U-restart-lock";
    let send = |body: String| {
        let (fake, webhook) = (&fake, webhook.clone());
        async move {
            assert_eq!(fake.post_event(&webhook, &body, None).await, StatusCode::OK);
        }
    };
    send(events::text(u, "rl-1", DESCRIPTION, ms())).await;
    said_within(&fake, u, Duration::from_secs(15), |s| s.len() >= 2).await;
    let slow = fake.add_slow_media("rl.png", "image/png", PNG.to_vec(), Duration::from_secs(10));
    send(events::image(u, "rl-2", &slow, ms())).await;
    send(events::location(u, "rl-3", "10.5366", "106.4138", ms())).await;
    send(events::submit_info(u, "Nguyễn Văn An", "84912345678", ms())).await;
    let said = said_within(&fake, u, Duration::from_secs(30), |s| {
        s.iter().any(|m| m.starts_with("Tóm tắt phản ánh"))
    })
    .await;
    let before = said.len();
    // "Gửi" while the photo's inspection still downloads: "Gửi" downloads it again, under the
    // dialogue lock. Kill the gateway once that second download started.
    let requests = fake.media_requests("rl.png").len();
    send(events::text(u, "rl-send", "Gửi", ms())).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while fake.media_requests("rl.png").len() <= requests.max(1) {
        assert!(
            Instant::now() < deadline,
            "\"Gửi\" never downloaded the photo: {:?}",
            fake.media_requests("rl.png")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let clock = h::clock_after(began.elapsed());
    let mut with_clock = refs(&envs);
    with_clock.push(("GATEWAY_CLOCK_START", &clock));
    gw.restart(&with_clock);
    let restarted = Instant::now();
    // Back after the claim timeout, then the download again (10 s): well within 40 s; the dead
    // run's lock would hold it 120 s.
    let said = said_within(&fake, u, Duration::from_secs(40), |s| {
        s.iter().any(|m| m.contains("Mã phản ánh: LA-"))
    })
    .await;
    eprintln!("tracking code {:?} after the restart", restarted.elapsed());
    // Time for a second answer or report to show.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let after: Vec<String> = h::zalo_said(&fake, u)[before..].to_vec();
    assert_eq!(after.len(), 1, "one answer, the tracking code: {after:#?}");
    assert!(after[0].contains("Mã phản ánh: LA-"), "{after:#?}");
    assert_eq!(said.last(), after.last());
    let queued = h::queued_by_ref(&gw.base).await;
    assert_eq!(queued.get("rl-send"), Some(&1), "one report: {queued:?}");
    assert_eq!(queued.len(), 1, "{queued:?}");
}

#[tokio::test]
async fn a_restart_takes_over_its_killed_runs_dialogue_lock_on_the_embedded_store() {
    a_restart_takes_over_its_killed_runs_dialogue_lock(None).await;
}

#[tokio::test]
async fn a_restart_takes_over_its_killed_runs_dialogue_lock_on_redis() {
    a_restart_takes_over_its_killed_runs_dialogue_lock(Some(RedisServer::start())).await;
}
