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

/// The authserv-id of the receiving MTA the gateway trusts in these tests.
const MX: &str = "mx.longan.gov.vn";

/// `raw` as our MTA delivers mail of a domain that signs it: a DKIM pass for example.vn on top.
fn signed(raw: Vec<u8>) -> Vec<u8> {
    let mut out =
        format!("Authentication-Results: {MX}; dkim=pass header.d=example.vn\r\n").into_bytes();
    out.extend_from_slice(&raw);
    out
}

impl E2e {
    async fn start() -> E2e {
        Self::start_with(|_| {}).await
    }

    async fn start_with(adjust: impl FnOnce(&mut email::EmailConfig)) -> E2e {
        let gateway = InProcess::start(|_| {}).await;
        let pipeline = gateway.state.pipeline.clone();
        let store = pipeline.channel_store(Duration::from_secs(5));
        let dovecot = Dovecot::start();
        let sink = SmtpSink::start();
        let mut config = email::EmailConfig {
            trusted_authserv_id: Some(MX.into()),
            smtp_host: Some("127.0.0.1".into()),
            smtp_port: Some(sink.port),
            smtp_tls: TlsMode::None,
            idle_timeout_secs: 5,
            lease_ttl_secs: 30,
            ..dovecot.email_config(TlsMode::Implicit)
        };
        adjust(&mut config);
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
        self.claimed(&[stream], n).await
    }

    /// Reports on either stream (a repeated photo may be judged a duplicate), waiting until
    /// there are `n`.
    async fn taken(&self, n: usize) -> Vec<Report> {
        self.claimed(&[REPORTS_STREAM, REJECTIONS_STREAM], n).await
    }

    /// Reports claimed from `streams`, waiting (30 s at most) until there are `n`.
    async fn claimed(&self, streams: &[&str], n: usize) -> Vec<Report> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut found = Vec::new();
        while found.len() < n && Instant::now() < deadline {
            for stream in streams {
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

/// A base64 MIME body of a media fixture, in 76-character lines.
fn b64_fixture(name: &str) -> String {
    let b64 = base64(&read_fixture(&format!("media/{name}")));
    b64.as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// A daughter forwards her father's report "as attachment" (message/rfc822, Thunderbird) with a
/// cover note and one more photo of her own.
fn forwarded_as_attachment() -> Vec<u8> {
    format!(
        "From: =?UTF-8?Q?Tr=E1=BA=A7n_Th=E1=BB=8B_Thu?= <thu.tran@example.vn>\r\n\
         To: 1022@longan.gov.vn\r\n\
         Subject: =?UTF-8?Q?Fwd:_C=C3=A2y_=C4=91=E1=BB=95_ch=E1=BA=AFn_=C4=91=C6=B0=E1=BB=9Dng?=\r\n\
         Message-ID: <fwd-e2e-1@example.vn>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n\
         --outer\r\n\
         Content-Type: text/plain; charset=UTF-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         Em chuyển tiếp phản ánh của ba em, kèm một ảnh em chụp thêm. SĐT của em: 0909 111 222.\r\n\r\n\
         --outer\r\n\
         Content-Type: message/rfc822\r\n\
         Content-Disposition: attachment; filename=\"phan-anh.eml\"\r\n\r\n\
         From: =?UTF-8?Q?Tr=E1=BA=A7n_V=C4=83n_B=E1=BA=A3y?= <bay.tran@example.vn>\r\n\
         To: thu.tran@example.vn\r\n\
         Subject: =?UTF-8?Q?C=C3=A2y_=C4=91=E1=BB=95_ch=E1=BA=AFn_=C4=91=C6=B0=E1=BB=9Dng?=\r\n\
         Date: Sat, 28 Nov 2026 08:30:00 +0700\r\n\
         Message-ID: <inner-e2e-1@example.vn>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"inner\"\r\n\r\n\
         --inner\r\n\
         Content-Type: text/plain; charset=UTF-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         Cây xanh bị đổ chắn ngang đường trước trường tiểu học, xe máy không đi qua được. \
         Đề nghị cơ quan chức năng sớm xử lý.\r\n\
         Địa chỉ: 12 Hùng Vương, Phường 1, Tân An.\r\n\
         Điện thoại của ba: 0918 765 432\r\n\r\n\
         --inner\r\n\
         Content-Type: image/jpeg; name=\"cay-do.jpg\"\r\n\
         Content-Disposition: attachment; filename=\"cay-do.jpg\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n\
         {}\r\n\
         --inner--\r\n\r\n\
         --outer\r\n\
         Content-Type: image/jpeg; name=\"them.jpg\"\r\n\
         Content-Disposition: attachment; filename=\"them.jpg\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n\
         {}\r\n\
         --outer--\r\n",
        b64_fixture("photo-2h-before.jpg"),
        b64_fixture("photo-gps-clock.jpg"),
    )
    .into_bytes()
}

/// An Outlook forward (FW:, "-----Original Message-----") with nothing typed above it and the
/// photo attached to the outer message.
fn forwarded_inline_outlook() -> Vec<u8> {
    format!(
        "From: =?UTF-8?Q?Ph=E1=BA=A1m_H=E1=BB=AFu_L=E1=BB=99c?= <loc.pham@example.vn>\r\n\
         To: 1022@longan.gov.vn\r\n\
         Subject: =?UTF-8?Q?FW:_C=E1=BB=99t_=C4=91=C3=A8n_g=C3=A3y?=\r\n\
         Message-ID: <fwd-e2e-2@example.vn>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\n\
         Content-Type: text/plain; charset=UTF-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         \r\n\
         -----Original Message-----\r\n\
         From: Võ Minh Tâm [mailto:tam.vo@example.vn]\r\n\
         Sent: Saturday, November 28, 2026 8:42 AM\r\n\
         To: Phạm Hữu Lộc <loc.pham@example.vn>\r\n\
         Subject: Cột đèn gãy\r\n\r\n\
         Cột đèn chiếu sáng trên đường bị gãy, đổ nghiêng ra lòng đường, rất nguy hiểm vào ban đêm.\r\n\
         Địa chỉ: 45 Quốc lộ 1, phường 2, thành phố Tân An.\r\n\r\n\
         --b\r\n\
         Content-Type: image/jpeg; name=\"cot-den.jpg\"\r\n\
         Content-Disposition: attachment; filename=\"cot-den.jpg\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n\
         {}\r\n\
         --b--\r\n",
        b64_fixture("photo-2h-before.jpg"),
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_report_is_the_inner_message_from_the_person_who_forwarded_it() {
    let t = E2e::start().await;
    t.dovecot
        .append("gateway", "INBOX", &signed(forwarded_as_attachment()))
        .await;
    t.dovecot
        .append("gateway", "INBOX", &signed(forwarded_inline_outlook()))
        .await;
    let mut reports = t.reports(REPORTS_STREAM, 2).await;
    assert_eq!(reports.len(), 2, "both forwards reach the IOC queue");
    reports.sort_by(|a, b| a.channel_ref.cmp(&b.channel_ref));

    let r = &reports[0];
    assert_eq!(r.channel_ref.as_deref(), Some("fwd-e2e-1@example.vn"));
    assert!(
        r.content
            .text
            .starts_with("Cây xanh bị đổ chắn ngang đường"),
        "the description is the forwarded report, not the cover note: {}",
        r.content.text
    );
    assert!(
        !r.content.text.contains("chuyển tiếp"),
        "{}",
        r.content.text
    );
    assert_eq!(r.content.title.as_deref(), Some("Cây đổ chắn đường"));
    assert_eq!(
        r.location.address.as_deref(),
        Some("12 Hùng Vương, Phường 1, Tân An")
    );
    assert_eq!(r.reporter.email.as_deref(), Some("thu.tran@example.vn"));
    assert_eq!(r.reporter.name.as_deref(), Some("Trần Thị Thu"));
    assert_eq!(
        r.reporter.phone.as_deref(),
        Some("+84909111222"),
        "the forwarder's phone, not the father's"
    );
    assert_eq!(r.attachments.len(), 2, "the inner photo and the outer one");
    assert!(
        r.attachments.iter().all(|a| a.captured_at.is_some()),
        "both photos are evidence with their capture time: {:?}",
        r.attachments
    );
    assert_ne!(r.verdict.status, Status::Rejected, "{:?}", r.verdict);

    let r = &reports[1];
    assert_eq!(r.channel_ref.as_deref(), Some("fwd-e2e-2@example.vn"));
    assert!(
        r.content
            .text
            .starts_with("Cột đèn chiếu sáng trên đường bị gãy"),
        "{}",
        r.content.text
    );
    assert!(!r.content.text.contains("Original Message"));
    assert_eq!(r.reporter.email.as_deref(), Some("loc.pham@example.vn"));
    assert_eq!(r.reporter.name.as_deref(), Some("Phạm Hữu Lộc"));
    assert_eq!(r.attachments.len(), 1);
    assert_ne!(r.verdict.status, Status::Rejected, "{:?}", r.verdict);

    // Each forward is answered to the person who forwarded it, in their thread.
    let replies = t.sink.wait_for(2, Duration::from_secs(30)).await;
    assert_eq!(replies.len(), 2);
    let mut threads: Vec<(String, String)> = replies
        .iter()
        .map(|raw| {
            let raw = String::from_utf8_lossy(raw).to_string();
            (
                header(&raw, "In-Reply-To").unwrap_or_default(),
                header(&raw, "To").unwrap_or_default(),
            )
        })
        .collect();
    threads.sort();
    assert_eq!(threads[0].0, "<fwd-e2e-1@example.vn>");
    assert!(
        threads[0].1.contains("thu.tran@example.vn"),
        "{:?}",
        threads[0]
    );
    assert_eq!(threads[1].0, "<fwd-e2e-2@example.vn>");
    assert!(
        threads[1].1.contains("loc.pham@example.vn"),
        "{:?}",
        threads[1]
    );
    for raw in &replies {
        let raw = String::from_utf8_lossy(raw);
        assert!(!raw.contains("bay.tran@example.vn") && !raw.contains("tam.vo@example.vn"));
    }
    t.stop().await;
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
            &signed(mail_with_photo(1, "photo-2h-before.jpg")),
        )
        .await;
    let reports = t.reports(REPORTS_STREAM, 1).await;
    assert_eq!(reports.len(), 1, "one report in the IOC queue");
    let r = &reports[0];
    assert_eq!(r.channel_ref.as_deref(), Some("e2e-1@example.vn"));
    assert_ne!(r.verdict.status, Status::Rejected, "{:?}", r.verdict);
    assert!(
        !r.verdict.codes().contains(&Code::ReporterUnverified),
        "an aligned DKIM pass of the trusted MTA: verified"
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
            &signed(mail_with_photo(2, "photo-3d-before.jpg")),
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
    let dir = tempfile::tempdir().unwrap();
    let mut raw = b"Date: Sat, 28 Nov 2026 10:00:00 +0700\r\n".to_vec();
    raw.extend_from_slice(&mail_with_photo(40, "photo-2h-before.jpg"));
    std::fs::write(dir.path().join("old.eml"), &raw).unwrap();
    let processor = gateway.email_processor();
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

/// The reply's subject (decoded) and text, as the citizen's mail client shows them.
fn reply_shown(raw: &[u8]) -> (String, String) {
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
    (
        parsed.report.content.title.unwrap_or_default(),
        parsed.report.content.text,
    )
}

/// A mail with a photo whose From may be forged: `results` are its Authentication-Results
/// lines (none, another host's, or ours), the Reply-To points elsewhere, and the subject and
/// file name carry text meant for a third party.
fn mail_to_third_party(n: u32, results: &str) -> Vec<u8> {
    let mut raw = results.as_bytes().to_vec();
    let mail = String::from_utf8(mail_with_photo(n, "photo-2h-before.jpg"))
        .unwrap()
        .replace(
            "To: 1022@longan.gov.vn\r\n",
            "Reply-To: nan-nhan@elsewhere.vn\r\nTo: 1022@longan.gov.vn\r\n",
        )
        .replace(
            "Subject: =?UTF-8?Q?C=C3=A2y_=C4=91=E1=BB=95_ch=E1=BA=AFn_=C4=91=C6=B0=E1=BB=9Dng?=",
            "Subject: =?UTF-8?Q?Nh=E1=BA=ADn_qu=C3=A0_t=E1=BA=A1i_uu-dai.example?=",
        )
        .replace("cay-do.jpg", "xac-minh-tai-uu-dai.example.jpg");
    raw.extend_from_slice(mail.as_bytes());
    raw
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_sender_gets_the_fixed_text_at_from_only_and_an_authenticated_one_the_full_reply()
{
    let t = E2e::start().await;
    // No Authentication-Results at all; a "pass" from a host we do not trust.
    t.dovecot
        .append("gateway", "INBOX", &mail_to_third_party(50, ""))
        .await;
    t.dovecot
        .append(
            "gateway",
            "INBOX",
            &mail_to_third_party(
                51,
                "Authentication-Results: relay.uu-dai.example; dkim=pass header.d=example.vn; dmarc=pass header.from=example.vn\r\n",
            ),
        )
        .await;
    // Our MTA's DMARC pass for the From domain.
    t.dovecot
        .append(
            "gateway",
            "INBOX",
            &mail_to_third_party(
                52,
                &format!(
                    "Authentication-Results: {MX}; dmarc=pass (p=none) header.from=example.vn\r\n"
                ),
            ),
        )
        .await;
    let reports = t.taken(3).await;
    assert_eq!(reports.len(), 3, "every report is taken");
    let replies = t.sink.wait_for(3, Duration::from_secs(30)).await;
    assert_eq!(replies.len(), 3);
    let code_of = |n: u32| {
        reports
            .iter()
            .find(|r| r.channel_ref.as_deref() == Some(&format!("e2e-{n}@example.vn")))
            .map(|r| r.tracking_code.clone())
            .expect("report of the mail")
    };
    for raw_bytes in &replies {
        let raw = String::from_utf8_lossy(raw_bytes).to_string();
        let to = header(&raw, "To").unwrap_or_default();
        let (subject, text) = reply_shown(raw_bytes);
        if to.contains("nan-nhan@elsewhere.vn") {
            // The authenticated sender asked for answers at its Reply-To: the full reply (an
            // acknowledgement, or a rejection with its reasons when the repeated photo makes it
            // a duplicate), threaded, quoting the subject.
            assert!(
                text.contains(&code_of(52)) && !text.contains("chưa được xác thực"),
                "{text}"
            );
            assert_eq!(subject, "Re: Nhận quà tại uu-dai.example");
            assert_eq!(
                header(&raw, "In-Reply-To").as_deref(),
                Some("<e2e-52@example.vn>")
            );
        } else {
            assert!(
                to.contains("lan5") && to.contains("@example.vn"),
                "From only: {to}"
            );
            let n = if to.contains("lan50@") { 50 } else { 51 };
            assert!(
                text.contains(&code_of(n)),
                "the tracking code is given: {text}"
            );
            assert_eq!(
                subject, "Re: Phản ánh gửi Hệ thống 1022",
                "no quoted subject"
            );
            assert!(header(&raw, "In-Reply-To").is_none() && header(&raw, "References").is_none());
            for quoted in [
                "uu-dai",
                "Nhận quà",
                "xac-minh",
                "Cây xanh",
                "Hùng Vương",
                "elsewhere",
            ] {
                assert!(
                    !text.contains(quoted) && !raw.contains(quoted),
                    "{quoted:?} quoted to a possibly forged sender: {text}"
                );
            }
        }
    }
    let to_reply_to = replies
        .iter()
        .filter(|r| String::from_utf8_lossy(r).contains("elsewhere.vn"))
        .count();
    assert_eq!(
        to_reply_to, 1,
        "only the authenticated mail is answered at its Reply-To"
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sender_writing_more_than_the_hourly_limit_gets_only_that_many_replies() {
    const LIMIT: u32 = 3;
    let t = E2e::start_with(|c| c.reply_rate_per_hour = LIMIT).await;
    for i in 0..=LIMIT {
        // One sender (lan60@example.vn), new messages.
        let mail = String::from_utf8(mail_with_photo(60, "photo-2h-before.jpg"))
            .unwrap()
            .replace("<e2e-60@example.vn>", &format!("<rate-{i}@example.vn>"));
        t.dovecot.append("gateway", "INBOX", mail.as_bytes()).await;
    }
    let reports = t.taken(LIMIT as usize + 1).await;
    assert_eq!(reports.len(), LIMIT as usize + 1, "every report is taken");
    let replies = t
        .sink
        .wait_for(LIMIT as usize, Duration::from_secs(30))
        .await;
    // Give a wrongly sent extra reply the time to arrive.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(replies.len(), LIMIT as usize);
    assert_eq!(t.sink.messages().len(), LIMIT as usize);
    let stats = t
        .channel
        .email_stats
        .as_ref()
        .expect("email stats")
        .snapshot();
    assert_eq!(stats.replies_rate_limited, 1);
    t.stop().await;
}

/// The Message-ID binding lives as long as the mailbox keeps mail: a message read again after
/// the API's Idempotency-Key retention (here none at all) is still the same report.
#[tokio::test]
async fn an_email_read_again_after_the_idempotency_retention_is_still_one_report() {
    let gateway = InProcess::start(|c| c.queue.idempotency_ttl_hours = 0).await;
    let pipeline = gateway.state.pipeline.clone();
    let processor = gateway.email_processor();
    let raw = bytes::Bytes::from(mail_with_photo(70, "photo-2h-before.jpg"));
    processor.handle(raw.clone(), "imap:INBOX:1:70").await;
    // Read again later at another position (a new UIDVALIDITY, a copy back from Processed).
    processor.handle(raw, "imap:INBOX:2:3").await;
    let s = processor.stats.snapshot();
    assert_eq!((s.ingested, s.replayed), (1, 1));
    let entries = pipeline
        .claim(REPORTS_STREAM, "retention", 10, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(entries.len(), 1, "one report in the IOC queue");
}

/// The state keys an email leaves in the shared store (its de-duplication binding, the reply
/// counters) hold a digest keyed with the identity pepper: the plain sha256 of the sender's
/// address, which anyone can compute from a list of addresses, is in no key.
#[tokio::test]
async fn the_store_keys_of_an_email_do_not_give_the_sender_back() {
    use sha2::Digest;
    let redis = crate::support::redis::RedisServer::start();
    let url = redis.url();
    let gateway = InProcess::start(|c| c.redis_url = Some(url.as_str().into())).await;
    let mut processor = gateway.email_processor();
    processor.send_replies = true;
    let raw = bytes::Bytes::from(mail_with_photo(71, "photo-2h-before.jpg"));
    processor.handle(raw, "imap:INBOX:1:71").await;
    assert_eq!(processor.stats.snapshot().ingested, 1);
    let out = std::process::Command::new("redis-cli")
        .args(["-u", url.as_str(), "--scan", "--pattern", "*email*"])
        .output()
        .expect("redis-cli");
    let keys = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(keys.contains("email:reply-rate:"), "{keys}");
    assert!(keys.contains("e2e-71@example.vn"), "the binding: {keys}");
    let address = "lan71@example.vn";
    let unkeyed = hex::encode(&sha2::Sha256::digest(address.as_bytes())[..12]);
    assert!(!keys.contains(&unkeyed), "{keys}");
    assert!(!keys.contains(address), "{keys}");
}

/// An email read again (a lost checkpoint, a copy back from Processed) after the append marker
/// of its report expired — markers on Redis live the stream retention, the email's binding for
/// good — answers "already there" and appends nothing: the IOC queue keeps one entry.
async fn an_email_read_again_after_its_append_marker_expired_is_queued_once(redis: bool) {
    let server = redis.then(crate::support::redis::RedisServer::start);
    let url = server.as_ref().map(|s| s.url());
    let gateway = InProcess::start(|c| {
        if let Some(url) = &url {
            c.redis_url = Some(url.as_str().into());
            // The shortest lifetime the configuration allows for the markers (an hour);
            // their expiry is then played by deleting them.
            c.redis.stream_retention_hours = 1;
            c.queue.idempotency_ttl_hours = 1;
        }
    })
    .await;
    let pipeline = gateway.state.pipeline.clone();
    let processor = gateway.email_processor();
    let raw = bytes::Bytes::from(mail_with_photo(72, "photo-2h-before.jpg"));
    processor.handle(raw.clone(), "imap:INBOX:1:72").await;
    assert_eq!(processor.stats.snapshot().ingested, 1);
    if let Some(url) = &url {
        let out = std::process::Command::new("redis-cli")
            .args(["-u", url.as_str(), "--scan", "--pattern", "*enqueued*"])
            .output()
            .expect("redis-cli");
        let markers = String::from_utf8_lossy(&out.stdout).to_string();
        let markers: Vec<&str> = markers.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(
            markers.len(),
            1,
            "the append marker of the report: {markers:?}"
        );
        let status = std::process::Command::new("redis-cli")
            .args(["-u", url.as_str(), "DEL", markers[0]])
            .status()
            .expect("redis-cli");
        assert!(status.success());
    }
    // Read again at another position, the marker gone.
    processor.handle(raw, "imap:INBOX:2:4").await;
    let s = processor.stats.snapshot();
    assert_eq!((s.ingested, s.replayed), (1, 1));
    let (length, _, _) = pipeline.queue_depth(REPORTS_STREAM).await.unwrap();
    assert_eq!(length, 1, "the report is queued once");
}

#[tokio::test]
async fn an_email_read_again_after_its_append_marker_expired_is_queued_once_embedded() {
    an_email_read_again_after_its_append_marker_expired_is_queued_once(false).await;
}

#[tokio::test]
async fn an_email_read_again_after_its_append_marker_expired_is_queued_once_redis() {
    an_email_read_again_after_its_append_marker_expired_is_queued_once(true).await;
}
