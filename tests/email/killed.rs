//! The `gateway serve` process, its email channel configured by environment (`GATEWAY_IMAP_*`,
//! `GATEWAY_SMTP_*`), killed between fetching a message and acknowledging it: after the restart
//! there is exactly one report in the IOC queue and one acknowledgement (R-PIPE-1, R-PIPE-2).

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::dovecot::{Dovecot, PASSWORD};
use crate::support::gateway::{client, Process, IOC_KEY};
use crate::support::smtp::SmtpSink;

async fn claim_all(base: &str) -> Vec<Value> {
    let res: Value = client()
        .get(format!("{base}/v1/ioc/queue?max=100&consumer=email-killed"))
        .bearer_auth(IOC_KEY)
        .send()
        .await
        .expect("IOC API answers")
        .json()
        .await
        .expect("JSON");
    res["entries"].as_array().cloned().unwrap_or_default()
}

fn citizen_mail() -> Vec<u8> {
    let photo = crate::support::read_fixture("media/photo-2h-before.jpg");
    let b64: String = photo
        .chunks(57)
        .map(|c| super::e2e::base64(c) + "\r\n")
        .collect();
    format!(
        "From: =?UTF-8?Q?Tr=E1=BA=A7n_V=C4=83n_B=C3=ACnh?= <binh@example.vn>\r\n\
         To: 1022@longan.gov.vn\r\n\
         Subject: =?UTF-8?Q?R=C3=A1c_th=E1=BA=A3i?=\r\n\
         Message-ID: <killed-1@example.vn>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\n\
         Content-Type: text/plain; charset=UTF-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         Rác thải sinh hoạt bị đổ tràn ra lòng đường trước chợ, bốc mùi hôi thối.\r\n\
         Địa chỉ: 12 Hùng Vương, Phường 1, Tân An.\r\n\r\n\
         --b\r\n\
         Content-Type: image/jpeg; name=\"rac.jpg\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n\
         {b64}--b--\r\n"
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_killed_between_fetch_and_acknowledgement_leaves_exactly_one_report() {
    let dovecot = Dovecot::start();
    let sink = SmtpSink::start();
    dovecot.append("gateway", "INBOX", &citizen_mail()).await;
    let (imap_port, smtp_port) = (dovecot.imap_port.to_string(), sink.port.to_string());
    let email_env = [
        ("GATEWAY_IMAP_HOST", "127.0.0.1"),
        ("GATEWAY_IMAP_PORT", imap_port.as_str()),
        ("GATEWAY_IMAP_TLS", "none"),
        ("GATEWAY_IMAP_USER", "gateway"),
        ("GATEWAY_IMAP_PASSWORD", PASSWORD),
        ("GATEWAY_SMTP_HOST", "127.0.0.1"),
        ("GATEWAY_SMTP_PORT", smtp_port.as_str()),
        ("GATEWAY_SMTP_TLS", "none"),
        ("GATEWAY_MAIL_FROM", "1022@longan.gov.vn"),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    let mut with_failpoint = email_env.to_vec();
    // Queued for the IOC, then killed before the channel could answer or move the message.
    with_failpoint.push(("GATEWAY_FAILPOINT", "after_queue"));
    let mut gw = Process::start(dir.path(), &with_failpoint);
    assert!(
        gw.wait_exit(Duration::from_secs(60)),
        "the failpoint aborted the gateway; log:\n{}",
        gw.log_text()
    );
    assert_eq!(
        dovecot.count("gateway", "INBOX").await,
        1,
        "not acknowledged to IMAP"
    );
    assert!(
        sink.messages().is_empty(),
        "nothing answered before the crash"
    );

    gw.restart(&email_env);
    let deadline = Instant::now() + Duration::from_secs(60);
    while dovecot.count("gateway", "INBOX").await > 0 {
        assert!(
            Instant::now() < deadline,
            "the restarted gateway did not finish; log:\n{}",
            gw.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let entries = claim_all(&gw.base).await;
    assert_eq!(entries.len(), 1, "exactly one report queued: {entries:?}");
    assert_eq!(entries[0]["report"]["channel_ref"], "killed-1@example.vn");
    let replies = sink.wait_for(1, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(replies.len(), 1);
    assert_eq!(sink.messages().len(), 1, "one acknowledgement");
    assert_eq!(dovecot.count("gateway", "Processed").await, 1);
}
