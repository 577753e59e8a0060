//! Component tests of the email channel against a real Dovecot and a real SMTP server
//! (aiosmtpd), with the in-memory intake and store of `channels::testing`.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use channels::email::{self, EmailConfig, EmailStatsSnapshot, TlsMode};
use channels::testing::{MemIntake, MemStore};
use channels::{CancellationToken, ChannelConfig, ChannelContext, RunningChannel};
use chrono::TimeZone;
use normalizers::validate::{Code, Status};

use crate::support::dovecot::Dovecot;
use crate::support::smtp::SmtpSink;

fn clock() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc
        .with_ymd_and_hms(2026, 11, 28, 3, 0, 0)
        .single()
        .expect("valid instant")
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/email")
            .join(name),
    )
    .expect("fixture")
}

/// A message with its own Message-ID, so that every test message is a distinct report. The
/// citizen's domain signs it (a DKIM pass written by the trusted MTA): its replies are in full.
fn citizen_mail(n: u32) -> Vec<u8> {
    format!(
        "Authentication-Results: mx.longan.gov.vn; dkim=pass header.d=example.vn\r\n\
         From: =?UTF-8?Q?Nguy=E1=BB=85n_V=C4=83n_An?= <an{n}@example.vn>\r\n\
         To: 1022@longan.gov.vn\r\n\
         Subject: =?UTF-8?Q?=C4=90=C3=A8n_h=E1=BB=8Fng_{n}?=\r\n\
         Message-ID: <citizen-{n}@example.vn>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=UTF-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         \u{110}\u{e8}n \u{111}\u{1b0}\u{1edd}ng h\u{1ecf}ng t\u{1ea1}i \u{1ea5}p 3, x\u{e3} M\u{1ef9} Y\u{ea}n.\r\n"
    )
    .into_bytes()
}

struct Harness {
    dovecot: Dovecot,
    sink: SmtpSink,
    intake: Arc<MemIntake>,
    store: Arc<MemStore>,
}

impl Harness {
    fn new(intake: MemIntake) -> Harness {
        Harness {
            dovecot: Dovecot::start(),
            sink: SmtpSink::start(),
            intake: Arc::new(intake),
            store: Arc::new(MemStore::with_claim_timeout(Duration::from_secs(3))),
        }
    }

    fn config(&self, tls: TlsMode) -> EmailConfig {
        EmailConfig {
            smtp_host: Some("127.0.0.1".into()),
            smtp_port: Some(self.sink.port),
            smtp_tls: TlsMode::None,
            idle_timeout_secs: 5,
            lease_ttl_secs: 30,
            trusted_authserv_id: Some("mx.longan.gov.vn".into()),
            ..self.dovecot.email_config(tls)
        }
    }

    fn spawn(
        &self,
        config: EmailConfig,
        instance: &str,
        shutdown: &CancellationToken,
    ) -> RunningChannel {
        let ctx = ChannelContext {
            intake: self.intake.clone(),
            store: self.store.clone(),
            instance_id: instance.into(),
            shutdown: shutdown.clone(),
            staging: std::env::temp_dir(),
            validation: Default::default(),
        };
        config.build(&ctx).expect("valid email config")
    }

    /// Wait until `mailbox` of the gateway user holds `n` messages.
    async fn wait_count(&self, mailbox: &str, n: u32, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let count = self.dovecot.count("gateway", mailbox).await;
            if count == n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{mailbox} holds {count}, expected {n}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn wait_until(&self, what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        while !f() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn stats(channel: &RunningChannel) -> EmailStatsSnapshot {
    channel
        .email_stats
        .as_ref()
        .expect("the email channel counts")
        .snapshot()
}

fn text_of(raw: &[u8]) -> normalizers::email::EmailReport {
    normalizers::email::normalize(
        normalizers::report::Envelope {
            id: String::new(),
            tracking_code: String::new(),
            channel: normalizers::report::Channel::Email,
            channel_ref: None,
            received_at: clock(),
        },
        raw,
        &normalizers::email::EmailOptions::default(),
    )
    .expect("reply parses")
}

fn header<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    raw.lines()
        .find(|l| {
            l.len() > name.len()
                && l[..name.len()].eq_ignore_ascii_case(name)
                && l[name.len()..].starts_with(':')
        })
        .map(|l| l[name.len() + 1..].trim())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imaps_mail_becomes_a_report_and_a_threaded_acknowledgement() {
    let h = Harness::new(MemIntake::answering(clock(), Status::Accepted));
    h.dovecot
        .append("gateway", "INBOX", &fixture("001-plain-text-dkim.eml"))
        .await;
    let shutdown = CancellationToken::new();
    let channel = h.spawn(h.config(TlsMode::Implicit), "gw-1", &shutdown);

    let replies = h.sink.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(replies.len(), 1, "one acknowledgement");
    let stored = h.intake.received();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].dedup_key,
        format!(
            "email:{}:CAF1a2b3c4d5e6f7@mail.gmail.com",
            channels::email::process::address_key("ngoc.nguyen@gmail.com")
        ),
        "Message-ID and sender (as a digest)"
    );
    assert_eq!(
        stored[0].media.len(),
        1,
        "the photo is handed to the intake"
    );
    assert_eq!(
        stored[0].report.content.title.as_deref(),
        Some("Cột đèn bị gãy trên Quốc lộ 1")
    );
    // The fixture has LF line ends; IMAP hands messages out with CRLF.
    let lf = fixture("001-plain-text-dkim.eml");
    let crlf_len = lf.len() + lf.iter().filter(|b| **b == b'\n').count();
    assert_eq!(
        stored[0].raw.len(),
        crlf_len,
        "the raw .eml is kept whole for audit"
    );
    assert!(matches!(
        &stored[0].origin,
        channels::Origin::Email { address, .. } if address == "ngoc.nguyen@gmail.com"
    ));

    let raw = String::from_utf8_lossy(&replies[0]).to_string();
    assert_eq!(
        header(&raw, "In-Reply-To"),
        Some("<CAF1a2b3c4d5e6f7@mail.gmail.com>")
    );
    assert_eq!(
        header(&raw, "References"),
        Some("<CAF1a2b3c4d5e6f7@mail.gmail.com>")
    );
    assert_eq!(header(&raw, "Auto-Submitted"), Some("auto-replied"));
    assert!(header(&raw, "To").is_some_and(|t| t.contains("ngoc.nguyen@gmail.com")));
    let reply = text_of(&replies[0]);
    assert_eq!(
        reply.report.content.title.as_deref(),
        Some("Re: Cột đèn bị gãy trên Quốc lộ 1")
    );
    assert!(
        reply.report.content.text.contains("Mã phản ánh: LA-0001"),
        "{}",
        reply.report.content.text
    );

    // Moved after ingest: the inbox empties, the message is in Processed.
    h.wait_count("Processed", 1, Duration::from_secs(10)).await;
    assert_eq!(h.dovecot.count("gateway", "INBOX").await, 0);
    let counters = channel
        .email_stats
        .clone()
        .expect("the email channel counts");
    shutdown.cancel();
    channel.join().await.expect("clean shutdown");
    let stats = counters.snapshot();
    assert_eq!((stats.ingested, stats.replies_sent), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_lists_the_reason_in_vietnamese_over_starttls() {
    let stale = normalizers::messages::media_stale(48);
    let h = Harness::new(MemIntake::rejecting(clock(), Code::MediaStale, &stale));
    h.dovecot.append("gateway", "INBOX", &citizen_mail(1)).await;
    let shutdown = CancellationToken::new();
    let channel = h.spawn(h.config(TlsMode::Starttls), "gw-1", &shutdown);
    let replies = h.sink.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(replies.len(), 1);
    let reply = text_of(&replies[0]);
    let text = &reply.report.content.text;
    assert!(text.contains("chưa được tiếp nhận"), "{text}");
    assert!(text.contains("[MEDIA_STALE]"), "{text}");
    assert!(text.contains("48 giờ"), "{text}");
    shutdown.cancel();
    channel.join().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_replies_and_bounces_are_never_answered() {
    let h = Harness::new(MemIntake::answering(clock(), Status::Accepted));
    h.dovecot
        .append("gateway", "INBOX", &fixture("004-auto-reply.eml"))
        .await;
    h.dovecot
        .append("gateway", "INBOX", &fixture("005-bounce.eml"))
        .await;
    h.dovecot.append("gateway", "INBOX", &citizen_mail(2)).await;
    let shutdown = CancellationToken::new();
    let channel = h.spawn(h.config(TlsMode::None), "gw-1", &shutdown);
    h.wait_until(
        "all three messages processed",
        Duration::from_secs(30),
        || stats(&channel).fetched == 3,
    )
    .await;
    let replies = h.sink.wait_for(1, Duration::from_secs(20)).await;
    // Give a wrongly queued reply the time to arrive before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let replies_after = h.sink.messages();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies_after.len(), 1, "only the citizen is answered");
    let raw = String::from_utf8_lossy(&replies_after[0]).to_string();
    assert!(
        header(&raw, "To").is_some_and(|t| t.contains("an2@example.vn")),
        "{raw}"
    );
    assert_eq!(
        h.intake.received().len(),
        1,
        "bounces and auto-replies are not reports"
    );
    assert_eq!(stats(&channel).skipped_auto, 2);
    h.wait_count("Processed", 3, Duration::from_secs(10)).await;
    shutdown.cancel();
    channel.join().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_between_fetch_and_acknowledgement_yields_exactly_one_report() {
    let h = Harness::new(MemIntake::answering(clock(), Status::Accepted));
    h.dovecot.append("gateway", "INBOX", &citizen_mail(3)).await;
    h.intake.hang_after_store.store(true, Ordering::SeqCst);
    let mut config = h.config(TlsMode::None);
    config.lease_ttl_secs = 6;
    let first = CancellationToken::new();
    let channel = h.spawn(config.clone(), "gw-1", &first);
    h.wait_until("the first ingest", Duration::from_secs(30), || {
        h.intake.calls.load(Ordering::SeqCst) == 1
    })
    .await;
    // Killed: the task is gone mid-ingest, nothing acknowledged, the lease not released.
    channel.abort();
    let _ = channel.join().await;
    first.cancel();
    assert_eq!(
        h.dovecot.count("gateway", "INBOX").await,
        1,
        "still in the mailbox"
    );
    assert!(h.sink.messages().is_empty());

    // Another instance takes over once the dead holder's lease expires (6 s), and finishes the job.
    let second = CancellationToken::new();
    let channel = h.spawn(config, "gw-2", &second);
    let replies = h.sink.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(replies.len(), 1, "one acknowledgement");
    assert_eq!(h.intake.received().len(), 1, "exactly one report");
    assert_eq!(stats(&channel).replayed, 1, "the repeat was recognised");
    h.wait_count("Processed", 1, Duration::from_secs(10)).await;
    second.cancel();
    channel.join().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_channel_recovers_when_dovecot_restarts_during_idle() {
    let h = Harness::new(MemIntake::answering(clock(), Status::Accepted));
    let shutdown = CancellationToken::new();
    let channel = h.spawn(h.config(TlsMode::None), "gw-1", &shutdown);
    h.dovecot.append("gateway", "INBOX", &citizen_mail(4)).await;
    h.wait_until("the first report", Duration::from_secs(30), || {
        h.intake.received().len() == 1
    })
    .await;
    // The poller is now in IDLE. Restart the server under it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    h.dovecot.restart();
    h.dovecot.append("gateway", "INBOX", &citizen_mail(5)).await;
    h.wait_until(
        "the report after the restart",
        Duration::from_secs(60),
        || h.intake.received().len() == 2,
    )
    .await;
    let stats = stats(&channel);
    assert!(
        stats.reconnects >= 1,
        "the session was re-opened: {stats:?}"
    );
    let replies = h.sink.wait_for(2, Duration::from_secs(20)).await;
    assert_eq!(replies.len(), 2);
    shutdown.cancel();
    channel.join().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_poller_at_a_time_and_a_takeover_when_it_stops() {
    let h = Harness::new(MemIntake::answering(clock(), Status::Accepted));
    let mut config = h.config(TlsMode::None);
    config.lease_ttl_secs = 6;
    config.idle_timeout_secs = 2;
    let stop_a = CancellationToken::new();
    let a = h.spawn(config.clone(), "gw-a", &stop_a);
    // Let A take the lease before B starts.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stop_b = CancellationToken::new();
    let b = h.spawn(config, "gw-b", &stop_b);
    for n in 10..13 {
        h.dovecot.append("gateway", "INBOX", &citizen_mail(n)).await;
    }
    h.wait_until("three reports", Duration::from_secs(30), || {
        h.intake.received().len() == 3
    })
    .await;
    let (fa, fb) = (stats(&a).fetched, stats(&b).fetched);
    assert_eq!((fa, fb), (3, 0), "only the lease holder polls");

    stop_a.cancel();
    a.join().await.expect("A stops and releases the lease");
    h.dovecot
        .append("gateway", "INBOX", &citizen_mail(13))
        .await;
    h.wait_until("B takes over", Duration::from_secs(30), || {
        h.intake.received().len() == 4
    })
    .await;
    assert_eq!(stats(&b).fetched, 1);
    assert_eq!(
        h.intake.calls.load(Ordering::SeqCst),
        4,
        "no message read twice"
    );
    stop_b.cancel();
    b.join().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_smtp_server_delays_replies_but_never_intake() {
    let h = Harness::new(MemIntake::answering(clock(), Status::Accepted));
    let mut config = h.config(TlsMode::None);
    // Nothing listens there.
    config.smtp_port = Some(crate::support::free_port());
    let shutdown = CancellationToken::new();
    let channel = h.spawn(config, "gw-1", &shutdown);
    for n in 20..22 {
        h.dovecot.append("gateway", "INBOX", &citizen_mail(n)).await;
    }
    h.wait_until("both reports", Duration::from_secs(30), || {
        h.intake.received().len() == 2
    })
    .await;
    h.wait_until("a failed delivery", Duration::from_secs(20), || {
        stats(&channel).replies_failed >= 1
    })
    .await;
    // A message's reply is queued after its report is taken: the second may still be on its
    // way when the first delivery fails.
    h.wait_until(
        "both replies in the outbox",
        Duration::from_secs(10),
        || h.store.entries(email::OUTBOUND_STREAM).len() == 2,
    )
    .await;
    h.wait_count("Processed", 2, Duration::from_secs(10)).await;
    assert_eq!(
        h.store.entries(email::OUTBOUND_STREAM).len(),
        2,
        "both replies wait in the outbox (none delivered, none dropped)"
    );
    shutdown.cancel();
    channel.join().await.expect("clean shutdown");
}
