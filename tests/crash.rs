//! The crash harness (issue 10, "Harnesses"): the gateway as a real process on the embedded
//! store, emails delivered into Dovecot, app submissions (HTTP) and Zalo OA conversations (the
//! fake Zalo) sent concurrently while the gateway is SIGKILLed at random moments and restarted.
//! Clients retry as real ones do. Afterwards: exactly one report per submission in the IOC queue
//! (counted by `channel_ref`), every citizen answered exactly once (the SMTP sink, the fake
//! Zalo), every mail moved to `Processed`, `media/tmp` empty.
//!
//! The suite runs a small size; `tests/harness/crash` runs any size (see HARNESSES.md):
//! `CRASH_EMAILS`, `CRASH_SUBMISSIONS` (half app, half Zalo), `CRASH_KILLS`,
//! `CRASH_KILL_EVERY_MS` (the mean time between kills), `CRASH_CONCURRENCY`, `CRASH_SEED`;
//! `CRASH_KEEP=1` keeps the data folder and the gateway's log.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rand::{Rng, SeedableRng};

use crate::support::dovecot::Dovecot;
use crate::support::fake_zalo::FakeZalo;
use crate::support::gateway::Process;
use crate::support::harness::{self as h, Channels, PersistentRedis};
use crate::support::smtp::SmtpSink;

struct Size {
    emails: usize,
    api: usize,
    zalo: usize,
    kills: usize,
    kill_every_ms: u64,
    concurrency: usize,
    seed: u64,
}

impl Size {
    fn from_env() -> Size {
        let submissions = h::env_size("CRASH_SUBMISSIONS", 30) as usize;
        Size {
            emails: h::env_size("CRASH_EMAILS", 30) as usize,
            api: submissions - submissions / 2,
            zalo: submissions / 2,
            kills: h::env_size("CRASH_KILLS", 5) as usize,
            kill_every_ms: h::env_size("CRASH_KILL_EVERY_MS", 2500),
            concurrency: h::env_size("CRASH_CONCURRENCY", 4).max(1) as usize,
            seed: h::env_size("CRASH_SEED", rand::rng().random::<u32>() as u64),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_at_random_moments_under_load_nothing_is_lost_or_doubled() {
    crash_harness(None).await;
}

/// The same on Redis (AOF, `appendfsync always`): the gateway is killed, Redis is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_at_random_moments_under_load_on_redis_nothing_is_lost_or_doubled() {
    let redis = PersistentRedis::start();
    crash_harness(Some(&redis)).await;
}

async fn crash_harness(redis: Option<&PersistentRedis>) {
    let size = Size::from_env();
    let store = if redis.is_some() { "redis" } else { "embedded" };
    eprintln!(
        "crash harness ({store}): {} emails, {} app + {} Zalo submissions, {} kills every ~{} ms, seed {}",
        size.emails, size.api, size.zalo, size.kills, size.kill_every_ms, size.seed
    );
    let began = Instant::now();
    let dovecot = Dovecot::start();
    let sink = SmtpSink::start();
    let fake = FakeZalo::start().await;
    // `CRASH_KEEP=1` keeps the data folder and the gateway's log for a failed run.
    let dir = tempfile::Builder::new()
        .prefix("crash-")
        .disable_cleanup(std::env::var("CRASH_KEEP").is_ok_and(|v| v == "1"))
        .tempdir()
        .unwrap();
    eprintln!(
        "crash harness ({store}): data and log in {}",
        dir.path().display()
    );
    let config = h::write_config(
        dir.path(),
        &Channels {
            imap_port: Some(dovecot.imap_port),
            smtp_port: Some(sink.port),
            zalo: Some(&fake),
        },
        "",
    );
    let config = config.to_str().unwrap().to_string();
    let data = dir.path().join("data");
    let mut envs = vec![("GATEWAY_CONFIG".to_string(), config.clone())];
    if let Some(r) = redis {
        envs.push(("GATEWAY_REDIS_URL".into(), r.url()));
        envs.push((
            "GATEWAY_DUPLICATES__IDENTITY_PEPPER".into(),
            "crash-harness-pepper-0123456789".into(),
        ));
    }
    let env_refs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let gw = Process::start(&data, &env_refs);
    let base = gw.base.clone();
    let webhook = format!("{base}/v1/zalo/webhook");
    let gw = Arc::new(Mutex::new(gw));

    // The killer: SIGKILL at random moments, restart at once with the clock going on.
    let killer = {
        let gw = gw.clone();
        let envs = envs.clone();
        let (kills, every, seed) = (size.kills, size.kill_every_ms, size.seed);
        std::thread::spawn(move || {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut restart_ms = Vec::new();
            for _ in 0..kills {
                let wait = rng.random_range(every / 4..=every * 7 / 4);
                std::thread::sleep(Duration::from_millis(wait));
                let clock = h::clock_after(began.elapsed());
                let t = Instant::now();
                let mut with_clock: Vec<(&str, &str)> =
                    envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                with_clock.push(("GATEWAY_CLOCK_START", &clock));
                gw.lock().unwrap().restart(&with_clock);
                restart_ms.push(t.elapsed().as_millis() as u64);
            }
            restart_ms
        })
    };

    let deadline =
        Instant::now() + Duration::from_secs(120 + 3 * (size.emails + size.api + size.zalo) as u64);
    let load = Instant::now();
    // Emails arrive in the mailbox while everything else goes on.
    let mails = {
        let n = size.emails;
        let dovecot = &dovecot;
        async move {
            for i in 0..n {
                dovecot
                    .append("gateway", "INBOX", &h::citizen_mail(i))
                    .await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let api = futures_util::stream::iter(0..size.api)
        .map(|i| {
            let base = base.clone();
            async move {
                let a = h::submit_retrying(
                    &base,
                    &format!("crash-api-{i}"),
                    &h::api_report(i),
                    deadline,
                )
                .await;
                (i, a)
            }
        })
        .buffer_unordered(size.concurrency)
        .collect::<Vec<_>>();
    let zalo = futures_util::stream::iter(0..size.zalo)
        .map(|i| {
            let (fake, webhook) = (&fake, webhook.as_str());
            async move {
                h::zalo_conversation(fake, webhook, i, || h::test_ms(began.elapsed()), deadline)
                    .await;
            }
        })
        .buffer_unordered(size.concurrency)
        .collect::<Vec<_>>();
    let ((), answers, _) = tokio::join!(mails, api, zalo);
    let load_secs = load.elapsed().as_secs_f64();
    let restart_ms = tokio::task::spawn_blocking(move || killer.join().unwrap())
        .await
        .unwrap();

    // Every API submission got its answer: accepted or needing review.
    let retried = answers.iter().filter(|(_, a)| a.attempts > 1).count();
    for (i, a) in &answers {
        assert_eq!(a.status, 201, "app submission {i}: {:?}", a.body);
    }

    // The gateway finishes what is left: the mailbox, the replies, the Zalo receipts.
    let base = gw.lock().unwrap().base.clone();
    let users: Vec<String> = (0..size.zalo).map(h::zalo_user).collect();
    let mut last = (0, 0, 0, 0);
    let mut progress_at = Instant::now();
    loop {
        let inbox = dovecot.count("gateway", "INBOX").await;
        let processed = dovecot.count("gateway", "Processed").await as usize;
        let replies = sink.messages().len();
        let receipts = users
            .iter()
            .filter(|u| h::zalo_receipts(&fake, u) > 0)
            .count();
        if inbox == 0
            && processed >= size.emails
            && replies >= size.emails
            && receipts == users.len()
        {
            break;
        }
        if (inbox, processed, replies, receipts) != last {
            last = (inbox, processed, replies, receipts);
            progress_at = Instant::now();
        }
        let stalled = progress_at.elapsed() > Duration::from_secs(h::STALL_SECS);
        if stalled || Instant::now() > deadline {
            let waiting: Vec<(String, Vec<String>)> = users
                .iter()
                .filter(|u| h::zalo_receipts(&fake, u) == 0)
                .map(|u| (u.clone(), h::zalo_said(&fake, u)))
                .collect();
            panic!(
                "not finished (stalled {stalled}): {inbox} mails in INBOX, {processed} processed, \
                 {replies} replies, {receipts}/{} Zalo receipts; Zalo citizens without one and \
                 what they were told: {waiting:#?}\nlog tail:\n{}",
                users.len(),
                tail(&gw.lock().unwrap().log_text())
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let drained_secs = load.elapsed().as_secs_f64();
    // Anything sent twice would come now.
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Exactly one report per submission.
    let queued = h::queued_by_ref(&base).await;
    let mut expected: Vec<String> = (0..size.api).map(|i| format!("crash-api-{i}")).collect();
    expected.extend((0..size.emails).map(h::mail_ref));
    expected.extend((0..size.zalo).map(h::zalo_ref));
    let missing: Vec<&String> = expected
        .iter()
        .filter(|r| !queued.contains_key(*r))
        .collect();
    let doubled: Vec<(&String, &usize)> = queued.iter().filter(|(_, n)| **n > 1).collect();
    let unknown: Vec<&String> = queued.keys().filter(|r| !expected.contains(r)).collect();
    assert!(missing.is_empty(), "lost: {missing:?}");
    assert!(doubled.is_empty(), "doubled: {doubled:?}");
    assert!(unknown.is_empty(), "reports nobody sent: {unknown:?}");

    // Every citizen answered exactly once: one reply (one Message-ID, one tracking code) each.
    // A crash between the SMTP server's or Zalo's acceptance and the outbox acknowledgement
    // sends that same reply again (at least once rather than never): counted as resends.
    let replies = h::replies_by_recipient(&sink.messages());
    let mut wrong_replies: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut resends = 0;
    for i in 0..size.emails {
        let ids = replies.get(&h::mail_sender(i)).cloned().unwrap_or_default();
        let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
        resends += ids.len() - distinct.len();
        if distinct.len() != 1 {
            wrong_replies.insert(h::mail_sender(i), ids);
        }
    }
    assert!(
        wrong_replies.is_empty(),
        "emails answered other than once: {wrong_replies:?}"
    );
    assert_eq!(
        replies.len(),
        size.emails,
        "replies to unknown addresses: {replies:?}"
    );
    let mut wrong_receipts = Vec::new();
    for u in &users {
        let codes = h::zalo_receipt_codes(&fake, u);
        let distinct: std::collections::BTreeSet<&String> = codes.iter().collect();
        resends += codes.len() - distinct.len();
        if distinct.len() != 1 {
            wrong_receipts.push((u.clone(), codes));
        }
    }
    assert!(
        wrong_receipts.is_empty(),
        "Zalo citizens told a code other than once: {wrong_receipts:?}"
    );
    // Events of a conversation are applied in order across kills: once every report is made no
    // dialogue is left open. An earlier event applied after a later one left the dialogue
    // waiting for another "Gửi" (no report), or — the contact form re-applied after the report —
    // opened a new dialogue. (What the citizen was told cannot show it: a prompt resent by the
    // outbox after a kill also comes after the receipt.)
    if let Some(r) = redis {
        let open = open_dialogues(r.port);
        assert!(
            open.is_empty(),
            "Zalo dialogues left open after every report was made (events applied out of \
             order): {open:?}"
        );
    }
    assert_eq!(
        dovecot.count("gateway", "Processed").await as usize,
        size.emails
    );
    assert_eq!(dovecot.count("gateway", "Failed").await, 0);

    // A restart removes the uploads a killed run had staged: on the embedded store every one
    // (the data folder is the process's alone), on Redis those whose names say their run
    // stopped (instances may share a media folder; here every run is on this machine). A Zalo
    // medium staged while the gateway was killed can be left referenced by no draft: it waits
    // for the Zalo sweeper (dialogue TTL + grace), and is counted.
    let (zalo_orphans, uploads): (Vec<String>, Vec<String>) = h::staged_files(&data)
        .into_iter()
        .partition(|n| n.starts_with("zalo-"));
    assert!(uploads.is_empty(), "left in media/tmp: {uploads:?}");
    let (orphans, zalo_orphans) = (uploads.len(), zalo_orphans.len());
    let kills = restart_ms.len();
    let mean_restart = restart_ms.iter().sum::<u64>() / kills.max(1) as u64;
    eprintln!(
        "crash harness ({store}): OK — {} reports ({} app, {} email, {} Zalo), {kills} kills (restart to \
         listening: mean {mean_restart} ms, max {} ms), {retried} app submissions retried, {resends} replies resent after a kill, {orphans} staged uploads left, \
         {zalo_orphans} Zalo media for the Zalo sweeper; \
         load sent in {load_secs:.1} s, all answered in {drained_secs:.1} s, total {:.1} s",
        expected.len(),
        size.api,
        size.emails,
        size.zalo,
        restart_ms.iter().max().copied().unwrap_or(0),
        began.elapsed().as_secs_f64()
    );
}

/// The Zalo dialogues stored on the Redis at `port` (not their locks).
fn open_dialogues(port: u16) -> Vec<String> {
    let out = std::process::Command::new("redis-cli")
        .args([
            "-p",
            &port.to_string(),
            "--scan",
            "--pattern",
            "*zalo:dialogue:*",
        ])
        .output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|k| !k.ends_with(":lock"))
        .map(String::from)
        .collect()
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// A restart on the embedded store removes the uploads a killed run staged, and keeps the
/// Zalo dialogue's drafts (they outlive a restart).
#[tokio::test]
async fn a_restart_on_the_embedded_store_removes_orphan_uploads_and_keeps_zalo_drafts() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("media/tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let orphans = [
        "0123456789abcdef0123456789abcdef.part",
        "miniapp-fedcba9876543210fedcba9876543210.part",
    ];
    for name in orphans {
        std::fs::write(tmp.join(name), b"half a photo").unwrap();
    }
    std::fs::write(
        tmp.join("zalo-00112233445566778899aabbccddeeff.part"),
        b"draft",
    )
    .unwrap();
    let _gw = Process::start(dir.path(), &[]);
    assert_eq!(
        h::staged_files(dir.path()),
        ["zalo-00112233445566778899aabbccddeeff.part"]
    );
}

/// On Redis the media folder may be shared by instances: a restart removes the uploads of this
/// machine's runs that are no longer running, and keeps another process's upload in progress,
/// files whose names cannot tell (another machine's, an older version's) and the Zalo drafts.
#[tokio::test]
async fn a_restart_on_redis_removes_the_uploads_of_stopped_runs_only() {
    let redis = PersistentRedis::start();
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("media/tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let machine = channels::staging::machine();
    let dead = {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        child.wait().unwrap();
        child.id()
    };
    let running = std::process::id();
    let hex = "0123456789abcdef0123456789abcdef";
    let orphans = [
        format!("{hex}.{machine}-{dead}.part"),
        format!("miniapp-{hex}.{machine}-{dead}.part"),
    ];
    let kept = [
        format!("{hex}.{machine}-{running}.part"),
        format!("{hex}.0badc0de-{dead}.part"),
        format!("{hex}.part"),
        "zalo-00112233445566778899aabbccddeeff.part".to_string(),
    ];
    for name in orphans.iter().chain(&kept) {
        std::fs::write(tmp.join(name), b"half a photo").unwrap();
    }
    let url = redis.url();
    let _gw = Process::start(
        dir.path(),
        &[
            ("GATEWAY_REDIS_URL", url.as_str()),
            (
                "GATEWAY_DUPLICATES__IDENTITY_PEPPER",
                "crash-harness-pepper-0123456789",
            ),
        ],
    );
    let mut expected = kept.to_vec();
    expected.sort();
    let mut left = h::staged_files(dir.path());
    left.sort();
    assert_eq!(left, expected);
}
