//! Outage harnesses (issue 10, "Harnesses"), against the gateway as a real process:
//!
//! - Redis killed for a while under a steady webhook load: nothing acknowledged (200) is lost,
//!   `/readyz` names the cause while it is down and recovers after (`OUTAGE_RATE` events/s,
//!   `OUTAGE_REDIS_DOWN_SECS`);
//! - the SMTP server down, then back on the same port: intake goes on, the replies wait and
//!   leave later, once each (`OUTAGE_SMTP_DOWN_SECS`);
//! - Dovecot restarted while the gateway IDLEs: intake resumes;
//! - the disk full for a while under an API load (a small tmpfs; needs root, skipped otherwise):
//!   every submission ends in exactly one report, `media/tmp` empty, no restart.
//!
//! The suite runs small sizes; `tests/harness/outage` runs the full ones (HARNESSES.md).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use crate::support::dovecot::Dovecot;
use crate::support::fake_zalo::{events, FakeZalo};
use crate::support::gateway::Process;
use crate::support::harness::{self as h, Channels, PersistentRedis};
use crate::support::smtp::SmtpSink;
use crate::support::tmpfs::Tmpfs;

const PEPPER: &str = "outage-harness-pepper-0123456789";

/// Wait until `/readyz` answers `want`; the last body.
async fn wait_ready(base: &str, want: u16, within: Duration) -> serde_json::Value {
    let deadline = Instant::now() + within;
    loop {
        let (status, body) = h::get(base, "/readyz").await;
        if status == want {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz did not answer {want} within {within:?}: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Before,
    Down,
    After,
}

/// Per event: its number, the phase of its first post, the first status, the phase it was
/// acknowledged in.
type Outcomes = Arc<Mutex<Vec<(usize, Phase, u16, Phase)>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_killed_under_webhook_load_loses_nothing_acknowledged() {
    let rate = h::env_size("OUTAGE_RATE", 40).max(1);
    let down_secs = h::env_size("OUTAGE_REDIS_DOWN_SECS", 5);
    let (before_secs, after_secs) = (2, 3);
    let total = (rate * (before_secs + down_secs + after_secs)) as usize;
    eprintln!("redis outage: {rate} events/s, Redis down {down_secs} s, {total} events");
    let mut redis = PersistentRedis::start();
    let fake = FakeZalo::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = h::write_config(dir.path(), &Channels::zalo(&fake), "");
    let url = redis.url();
    let gw = Process::start(
        &dir.path().join("data"),
        &[
            ("GATEWAY_CONFIG", config.to_str().unwrap()),
            ("GATEWAY_REDIS_URL", &url),
            ("GATEWAY_DUPLICATES__IDENTITY_PEPPER", PEPPER),
        ],
    );
    let webhook = format!("{}/v1/zalo/webhook", gw.base);
    let began = Instant::now();
    let phase = Arc::new(Mutex::new(Phase::Before));
    let outcomes: Outcomes = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(120 + down_secs * 2);

    let load = {
        let (fake, webhook, phase, outcomes) = (
            fake.clone(),
            webhook.clone(),
            phase.clone(),
            outcomes.clone(),
        );
        tokio::spawn(async move {
            let mut tasks = Vec::new();
            let every = Duration::from_secs_f64(1.0 / rate as f64);
            for n in 0..total {
                let (fake, webhook, phase, outcomes) = (
                    fake.clone(),
                    webhook.clone(),
                    phase.clone(),
                    outcomes.clone(),
                );
                tasks.push(tokio::spawn(async move {
                    let body = events::text(
                        &h::zalo_user(n),
                        &format!("out-{n}"),
                        &format!(
                            "Đèn đường trước nhà số {} đường Nguyễn Huệ bị hỏng từ tối qua.",
                            n + 1
                        ),
                        h::test_ms(began.elapsed()),
                    );
                    let first_phase = *phase.lock().unwrap();
                    let mut first = None;
                    let mut retry = 0;
                    loop {
                        let s = fake
                            .post_event(&webhook, &body, (retry > 0).then_some(retry))
                            .await
                            .as_u16();
                        first.get_or_insert(s);
                        if s == 200 {
                            break;
                        }
                        assert!(Instant::now() < deadline, "event {n} never taken");
                        retry += 1;
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    let acked = *phase.lock().unwrap();
                    outcomes
                        .lock()
                        .unwrap()
                        .push((n, first_phase, first.unwrap(), acked));
                }));
                tokio::time::sleep(every).await;
            }
            for t in tasks {
                t.await.unwrap();
            }
        })
    };

    tokio::time::sleep(Duration::from_secs(before_secs)).await;
    *phase.lock().unwrap() = Phase::Down;
    redis.kill();
    let down_at = Instant::now();
    let readiness = wait_ready(&gw.base, 503, Duration::from_secs(10)).await;
    let cause = readiness["cause"].as_str().unwrap_or_default().to_string();
    assert!(
        cause.to_lowercase().contains("redis") || cause.to_lowercase().contains("connection"),
        "/readyz names the cause: {readiness}"
    );
    let noticed = down_at.elapsed();
    tokio::time::sleep(Duration::from_secs(down_secs).saturating_sub(noticed)).await;
    let mut redis = tokio::task::spawn_blocking(move || {
        redis.start_again();
        redis
    })
    .await
    .unwrap();
    *phase.lock().unwrap() = Phase::After;
    let back_at = Instant::now();
    wait_ready(&gw.base, 200, Duration::from_secs(30)).await;
    let ready_again = back_at.elapsed();
    load.await.unwrap();

    // Every event was taken in the end, and every one taken was processed: its citizen heard
    // from the OA.
    let outcomes = outcomes.lock().unwrap().clone();
    assert_eq!(outcomes.len(), total);
    let users: Vec<String> = (0..total).map(h::zalo_user).collect();
    loop {
        // One pass over the fake's calls per round (asking it per user copies every call for
        // each of the thousands of users of the full size).
        let answered: std::collections::HashSet<String> = fake
            .cs_calls()
            .iter()
            .filter(|c| c.answered == 0)
            .map(|c| c.user_id().to_string())
            .collect();
        let unanswered: Vec<&String> = users.iter().filter(|u| !answered.contains(*u)).collect();
        if unanswered.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} events acknowledged and never processed, e.g. {:?}; log:\n{}",
            unanswered.len(),
            &unanswered[..unanswered.len().min(5)],
            gw.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut table: BTreeMap<String, usize> = BTreeMap::new();
    for (_, first_phase, first, acked) in &outcomes {
        *table
            .entry(format!(
                "sent {first_phase:?}: first {first}, taken {acked:?}"
            ))
            .or_default() += 1;
    }
    let taken_while_down = outcomes
        .iter()
        .filter(|(_, p, s, _)| *p == Phase::Down && *s == 200)
        .count();
    eprintln!(
        "redis outage: OK — {total} events, all processed; /readyz said {cause:?} after \
         {noticed:?}, ready {ready_again:?} after Redis came back; {taken_while_down} \
         events posted as Redis was being killed still got their 200 (and were processed); \
         {table:#?}"
    );
    redis.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_down_then_back_replies_wait_and_leave_once() {
    let down_secs = h::env_size("OUTAGE_SMTP_DOWN_SECS", 5);
    let dovecot = Dovecot::start();
    let sink = SmtpSink::start();
    let smtp_port = sink.port;
    let dir = tempfile::tempdir().unwrap();
    // Appended to the `[email]` section: retry a failed reply every 2 s at most.
    let config = h::write_config(
        dir.path(),
        &Channels::email(dovecot.imap_port, smtp_port),
        "smtp_max_backoff_secs = 2\n",
    );
    let gw = h::start_configured(dir.path(), &config);
    dovecot
        .append("gateway", "INBOX", &h::citizen_mail(0))
        .await;
    assert_eq!(sink.wait_for(1, Duration::from_secs(60)).await.len(), 1);
    drop(sink);
    let down_at = Instant::now();
    for n in 1..=3 {
        dovecot
            .append("gateway", "INBOX", &h::citizen_mail(n))
            .await;
    }
    // Intake does not wait for the mail server.
    let deadline = Instant::now() + Duration::from_secs(60);
    while dovecot.count("gateway", "Processed").await < 4 {
        assert!(Instant::now() < deadline, "{}", gw.log_text());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let queued = h::queued_by_ref(&gw.base).await;
    assert_eq!(queued.len(), 4, "{queued:?}");
    tokio::time::sleep(Duration::from_secs(down_secs).saturating_sub(down_at.elapsed())).await;
    let sink = SmtpSink::start_on(smtp_port);
    let back = Instant::now();
    // A reply that failed is handed out again after the channel's claim timeout (60 s).
    let got = sink.wait_for(3, Duration::from_secs(150)).await;
    let waited = back.elapsed();
    assert_eq!(
        got.len(),
        3,
        "replies after the server came back\n{}",
        gw.log_text()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let by = h::replies_by_recipient(&sink.messages());
    for n in 1..=3 {
        assert_eq!(by.get(&h::mail_sender(n)).map(Vec::len), Some(1), "{by:?}");
    }
    assert_eq!(by.len(), 3, "nothing else: {by:?}");
    eprintln!("smtp outage: OK — down {down_secs} s, the 3 waiting replies left {waited:?} after it came back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dovecot_restarted_while_the_gateway_idles_intake_resumes() {
    let dovecot = Dovecot::start();
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let config = h::write_config(
        dir.path(),
        &Channels::email(dovecot.imap_port, sink.port),
        "",
    );
    let gw = h::start_configured(dir.path(), &config);
    dovecot
        .append("gateway", "INBOX", &h::citizen_mail(0))
        .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while dovecot.count("gateway", "Processed").await < 1 {
        assert!(Instant::now() < deadline, "{}", gw.log_text());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The gateway is now waiting in IDLE.
    tokio::time::sleep(Duration::from_secs(1)).await;
    dovecot.restart();
    let restarted = Instant::now();
    dovecot
        .append("gateway", "INBOX", &h::citizen_mail(1))
        .await;
    let deadline = Instant::now() + Duration::from_secs(90);
    while dovecot.count("gateway", "Processed").await < 2 {
        assert!(
            Instant::now() < deadline,
            "intake did not resume after the restart\n{}",
            gw.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let resumed = restarted.elapsed();
    assert_eq!(sink.wait_for(2, Duration::from_secs(30)).await.len(), 2);
    let queued = h::queued_by_ref(&gw.base).await;
    assert_eq!(queued.len(), 2, "{queued:?}");
    assert!(queued.values().all(|n| *n == 1));
    eprintln!(
        "dovecot restart: OK — the mail sent after the restart was processed {resumed:?} after it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_under_load_ends_with_one_report_per_submission() {
    let full_secs = h::env_size("OUTAGE_DISK_FULL_SECS", 3);
    let submissions = h::env_size("OUTAGE_DISK_SUBMISSIONS", 40) as usize;
    let Some(fs) = Tmpfs::mount("48m") else {
        eprintln!("SKIPPED: mounting a tmpfs needs root; the disk-full outage did not run");
        return;
    };
    let data = fs.path().join("data");
    let gw = Process::start(&data, &[]);
    let pid = gw.pid();
    let base = gw.base.clone();
    let deadline = Instant::now() + Duration::from_secs(120 + full_secs);
    let load = futures_util::stream::iter(0..submissions)
        .map(|i| {
            let base = base.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(50 * i as u64)).await;
                h::submit_retrying(&base, &format!("disk-{i}"), &h::api_report(i), deadline).await
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>();
    let outage = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let filler = tokio::task::block_in_place(|| fs.fill());
        let (status, body) = h::get(&base, "/readyz").await;
        tokio::time::sleep(Duration::from_secs(full_secs)).await;
        std::fs::remove_file(filler).unwrap();
        (status, body)
    };
    let (answers, (status, readiness)) = tokio::join!(load, outage);
    assert_eq!(status, 503, "/readyz while the disk is full: {readiness}");
    let cause = readiness["cause"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        cause.contains("space") || cause.contains("os error 28"),
        "{readiness}"
    );
    let refused = answers.iter().filter(|a| a.attempts > 1).count();
    for a in &answers {
        assert_eq!(a.status, 201, "{:?}", a.body);
    }
    wait_ready(&base, 200, Duration::from_secs(20)).await;
    let queued = h::queued_by_ref(&base).await;
    assert_eq!(queued.len(), submissions, "{queued:?}");
    assert!(queued.values().all(|n| *n == 1), "{queued:?}");
    assert!(
        h::staged_files(&data).is_empty(),
        "{:?}",
        h::staged_files(&data)
    );
    assert_eq!(gw.pid(), pid, "no restart");
    eprintln!(
        "disk full: OK — {submissions} submissions, {refused} refused (503) while full and taken \
         on a retry, one report each"
    );
}
