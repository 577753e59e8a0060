//! End to end through the real gateway: mail in a real Dovecot → the email channel → the real
//! pipeline (media inspection, validator, durable store) → the IOC queue, and the reply through
//! the durable outbox to a real SMTP server. The gateway's clock starts at the media fixtures'
//! test instant (2026-11-28T03:00:00Z).

use std::sync::Arc;
use std::time::{Duration, Instant};

use channels::email::{self, TlsMode};
use channels::{CancellationToken, ChannelConfig, ChannelContext, RunningChannel};
use gateway::pipeline::Pipeline;
use gateway::store::{REJECTIONS_STREAM, REPORTS_STREAM};
use normalizers::report::{CaptureSource, Report};
use normalizers::validate::{Code, Status};

use crate::support::dovecot::Dovecot;
use crate::support::gateway::InProcess;
use crate::support::read_fixture;
use crate::support::smtp::SmtpSink;

struct E2e {
    dovecot: Dovecot,
    sink: SmtpSink,
    pipeline: Arc<Pipeline>,
    channel: RunningChannel,
    shutdown: CancellationToken,
    _gateway: InProcess,
}

impl E2e {
    async fn start() -> E2e {
        let gateway = InProcess::start(|_| {}).await;
        let pipeline = gateway.state.pipeline.clone();
        let store = pipeline.channel_store(Duration::from_secs(5));
        let dovecot = Dovecot::start();
        let sink = SmtpSink::start();
        let config = email::EmailConfig {
            smtp_host: Some("127.0.0.1".into()),
            smtp_port: Some(sink.port),
            smtp_tls: TlsMode::None,
            idle_timeout_secs: 5,
            lease_ttl_secs: 30,
            ..dovecot.email_config(TlsMode::Implicit)
        };
        let shutdown = CancellationToken::new();
        let ctx = ChannelContext {
            intake: pipeline.clone(),
            store,
            instance_id: "e2e".into(),
            shutdown: shutdown.clone(),
            staging: pipeline.staging_dir(),
            validation: pipeline.validation().clone(),
        };
        let channel = config.build(&ctx).expect("email channel starts");
        E2e {
            dovecot,
            sink,
            pipeline,
            channel,
            shutdown,
            _gateway: gateway,
        }
    }

    /// Reports on `stream`, waiting until there are `n`.
    async fn reports(&self, stream: &str, n: usize) -> Vec<Report> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut found = Vec::new();
        while found.len() < n && Instant::now() < deadline {
            let entries = self
                .pipeline
                .claim(stream, "e2e-test", 10, Duration::from_secs(600))
                .await
                .expect("queue readable");
            for e in entries {
                let v: serde_json::Value =
                    serde_json::from_slice(&e.payload).expect("queue entry is JSON");
                // An entry is the report itself or wraps it under `report`.
                let report = v.get("report").cloned().unwrap_or(v);
                found.push(serde_json::from_value(report).expect("a canonical report"));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        found
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.channel.join().await.expect("clean shutdown");
    }
}

/// A citizen's email with one photo attached.
fn mail_with_photo(n: u32, photo: &str) -> Vec<u8> {
    let jpeg = read_fixture(&format!("media/{photo}"));
    let b64 = base64(&jpeg);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    format!(
        "From: =?UTF-8?Q?Nguy=E1=BB=85n_Th=E1=BB=8B_Lan?= <lan{n}@example.vn>\r\n\
         To: 1022@longan.gov.vn\r\n\
         Subject: =?UTF-8?Q?C=C3=A2y_=C4=91=E1=BB=95_ch=E1=BA=AFn_=C4=91=C6=B0=E1=BB=9Dng?=\r\n\
         Message-ID: <e2e-{n}@example.vn>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\n\
         Content-Type: text/plain; charset=UTF-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         Cây xanh bị đổ chắn ngang đường trước trường tiểu học, xe máy không đi qua được. \
         Đề nghị cơ quan chức năng sớm xử lý.\r\n\
         Địa chỉ: 12 Hùng Vương, Phường 1, Tân An.\r\n\
         Điện thoại: 0912 345 678\r\n\r\n\
         --b\r\n\
         Content-Type: image/jpeg; name=\"cay-do.jpg\"\r\n\
         Content-Disposition: attachment; filename=\"cay-do.jpg\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n\
         {}\r\n\
         --b--\r\n",
        lines.join("\r\n")
    )
    .into_bytes()
}

/// Standard base64 with padding (RFC 4648), for building MIME bodies.
pub(super) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn header(raw: &str, name: &str) -> Option<String> {
    raw.lines()
        .find(|l| {
            l.len() > name.len()
                && l[..name.len()].eq_ignore_ascii_case(name)
                && l[name.len()..].starts_with(':')
        })
        .map(|l| l[name.len() + 1..].trim().to_string())
}

fn reply_text(raw: &[u8]) -> String {
    let parsed = normalizers::email::normalize(
        normalizers::report::Envelope {
            id: String::new(),
            tracking_code: String::new(),
            channel: normalizers::report::Channel::Email,
            channel_ref: None,
            received_at: chrono::DateTime::UNIX_EPOCH,
        },
        raw,
        &normalizers::email::EmailOptions::default(),
    )
    .expect("the reply parses");
    parsed.report.content.text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_photo_by_email_reaches_the_ioc_queue_and_is_acknowledged_in_thread() {
    let t = E2e::start().await;
    t.dovecot
        .append(
            "gateway",
            "INBOX",
            &mail_with_photo(1, "photo-2h-before.jpg"),
        )
        .await;
    let reports = t.reports(REPORTS_STREAM, 1).await;
    assert_eq!(reports.len(), 1, "one report in the IOC queue");
    let r = &reports[0];
    assert_eq!(r.channel_ref.as_deref(), Some("e2e-1@example.vn"));
    assert_ne!(r.verdict.status, Status::Rejected, "{:?}", r.verdict);
    assert!(
        r.verdict.codes().contains(&Code::ReporterUnverified),
        "no DKIM: flagged"
    );
    assert_eq!(r.reporter.name.as_deref(), Some("Nguyễn Thị Lan"));
    assert_eq!(r.reporter.phone.as_deref(), Some("+84912345678"));
    assert_eq!(r.attachments.len(), 1);
    assert_eq!(r.attachments[0].captured_at_source, CaptureSource::Exif);
    assert_eq!(
        r.attachments[0].captured_at.map(|t| t.to_rfc3339()),
        Some("2026-11-28T01:00:00.250+00:00".to_string())
    );

    let replies = t.sink.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(replies.len(), 1, "one acknowledgement");
    let raw = String::from_utf8_lossy(&replies[0]).to_string();
    assert_eq!(
        header(&raw, "In-Reply-To").as_deref(),
        Some("<e2e-1@example.vn>")
    );
    assert_eq!(
        header(&raw, "Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    let text = reply_text(&replies[0]);
    assert!(
        text.contains(&format!("Mã phản ánh: {}", r.tracking_code)),
        "the ack carries the tracking code: {text}"
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_day_old_photo_is_rejected_by_email_naming_media_stale() {
    let t = E2e::start().await;
    t.dovecot
        .append(
            "gateway",
            "INBOX",
            &mail_with_photo(2, "photo-3d-before.jpg"),
        )
        .await;
    let rejected = t.reports(REJECTIONS_STREAM, 1).await;
    assert_eq!(rejected.len(), 1, "the rejection is recorded");
    assert!(rejected[0].verdict.codes().contains(&Code::MediaStale));
    let replies = t.sink.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(replies.len(), 1, "one rejection email");
    let text = reply_text(&replies[0]);
    assert!(text.contains("chưa được tiếp nhận"), "{text}");
    assert!(text.contains("[MEDIA_STALE]"), "{text}");
    assert!(
        text.contains("48 giờ"),
        "the reason says how to fix it: {text}"
    );
    assert!(
        t.reports(REPORTS_STREAM, 1).await.is_empty(),
        "not queued for the IOC"
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auto_reply_and_a_bounce_get_no_answer_from_the_real_gateway() {
    let t = E2e::start().await;
    for name in ["004-auto-reply.eml", "005-bounce.eml"] {
        t.dovecot
            .append("gateway", "INBOX", &read_fixture(&format!("email/{name}")))
            .await;
    }
    t.dovecot
        .append(
            "gateway",
            "INBOX",
            &mail_with_photo(3, "photo-2h-before.jpg"),
        )
        .await;
    let reports = t.reports(REPORTS_STREAM, 1).await;
    assert_eq!(reports.len(), 1);
    let replies = t.sink.wait_for(1, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(replies.len(), 1);
    assert_eq!(t.sink.messages().len(), 1, "only the citizen is answered");
    assert_eq!(
        t.channel
            .email_stats
            .as_ref()
            .expect("email stats")
            .snapshot()
            .skipped_auto,
        2
    );
    t.stop().await;
}

/// A backfill judges old mail by when it was sent (its Date), not by the day of the import: a
/// photo taken two hours before sending is not stale ten days later.
#[tokio::test]
async fn an_imported_old_mail_is_judged_by_its_date() {
    let gateway =
        InProcess::start(|c| c.clock_start = Some("2026-12-08T03:00:00Z".parse().unwrap())).await;
    let pipeline = gateway.state.pipeline.clone();
    let store = pipeline.channel_store(Duration::from_secs(5));
    let dir = tempfile::tempdir().unwrap();
    let mut raw = b"Date: Sat, 28 Nov 2026 10:00:00 +0700\r\n".to_vec();
    raw.extend_from_slice(&mail_with_photo(40, "photo-2h-before.jpg"));
    std::fs::write(dir.path().join("old.eml"), &raw).unwrap();
    let processor = email::Processor {
        intake: pipeline.clone(),
        streams: store.clone(),
        state: store,
        options: Default::default(),
        reply_rate_per_hour: 10,
        send_replies: false,
        stats: Default::default(),
    };
    let reader = email::open_mailbox(dir.path()).unwrap();
    let summary = email::import(reader, &processor, |_| {}).await.unwrap();
    assert_eq!(summary.ingested, 1);
    let entries = pipeline
        .claim(REPORTS_STREAM, "backfill", 10, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(entries.len(), 1, "queued for the IOC, not rejected");
    let report: Report = serde_json::from_slice(&entries[0].payload).unwrap();
    assert_eq!(report.received_at.to_rfc3339(), "2026-11-28T03:00:00+00:00");
    assert!(
        !report.verdict.codes().contains(&Code::MediaStale),
        "{:?}",
        report.verdict
    );
}
