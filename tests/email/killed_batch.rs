//! The email channel processes a batch of messages at once and commits their writes together
//! (the embedded store's group commit). `gateway serve` killed in the middle of such a batch —
//! the first message of six to reach a commit step aborts the process while the others are at
//! other steps — and restarted: every message becomes exactly one report and one
//! acknowledgement, and every message ends in Processed (exactly-once, "move only after
//! queued").

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::dovecot::{Dovecot, PASSWORD};
use crate::support::gateway::{client, Process, IOC_KEY};
use crate::support::smtp::SmtpSink;

const MESSAGES: usize = 6;

async fn claim_all(base: &str) -> Vec<Value> {
    let res: Value = client()
        .get(format!(
            "{base}/v1/ioc/queue?max=100&consumer=email-killed-batch"
        ))
        .bearer_auth(IOC_KEY)
        .send()
        .await
        .expect("IOC API answers")
        .json()
        .await
        .expect("JSON");
    res["entries"].as_array().cloned().unwrap_or_default()
}

fn citizen_mail(n: usize, photo_b64: &str) -> Vec<u8> {
    format!(
        "From: =?UTF-8?Q?Tr=E1=BA=A7n_V=C4=83n_B=C3=ACnh?= <binh{n}@example.vn>\r\n\
         To: 1022@longan.gov.vn\r\n\
         Subject: =?UTF-8?Q?R=C3=A1c_th=E1=BA=A3i?= {n}\r\n\
         Message-ID: <killed-batch-{n}@example.vn>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\n\
         Content-Type: text/plain; charset=UTF-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         Rác thải sinh hoạt bị đổ tràn ra lòng đường trước chợ số {n}, bốc mùi hôi thối.\r\n\
         Địa chỉ: 12 Hùng Vương, Phường 1, Tân An.\r\n\r\n\
         --b\r\n\
         Content-Type: image/jpeg; name=\"rac.jpg\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n\
         {photo_b64}--b--\r\n"
    )
    .into_bytes()
}

/// Six messages in the mailbox, the gateway aborted at `failpoint` by the first message of the
/// batch to reach it, restarted without it: six reports, six acknowledgements, all moved.
async fn killed_mid_batch_at(failpoint: &str) {
    let dovecot = Dovecot::start();
    let sink = SmtpSink::start();
    let photo = crate::support::read_fixture("media/photo-2h-before.jpg");
    let b64: String = photo
        .chunks(57)
        .map(|c| super::e2e::base64(c) + "\r\n")
        .collect();
    for n in 0..MESSAGES {
        dovecot
            .append("gateway", "INBOX", &citizen_mail(n, &b64))
            .await;
    }
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
    with_failpoint.push(("GATEWAY_FAILPOINT", failpoint));
    let mut gw = Process::start(dir.path(), &with_failpoint);
    assert!(
        gw.wait_exit(Duration::from_secs(60)),
        "the failpoint aborted the gateway; log:\n{}",
        gw.log_text()
    );
    assert_eq!(
        dovecot.count("gateway", "INBOX").await,
        MESSAGES as u32,
        "nothing of the interrupted batch was moved before it was queued"
    );
    assert!(
        sink.messages().is_empty(),
        "nothing answered before the crash"
    );

    gw.restart(&email_env);
    let deadline = Instant::now() + Duration::from_secs(90);
    while dovecot.count("gateway", "INBOX").await > 0 {
        assert!(
            Instant::now() < deadline,
            "the restarted gateway did not finish; log:\n{}",
            gw.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let entries = claim_all(&gw.base).await;
    let refs: Vec<String> = entries
        .iter()
        .map(|e| {
            e["report"]["channel_ref"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    let distinct: BTreeSet<&String> = refs.iter().collect();
    let expected: BTreeSet<String> = (0..MESSAGES)
        .map(|n| format!("killed-batch-{n}@example.vn"))
        .collect();
    assert_eq!(
        refs.len(),
        MESSAGES,
        "exactly one report per message: {refs:?}"
    );
    assert_eq!(
        distinct.into_iter().cloned().collect::<BTreeSet<_>>(),
        expected
    );
    let replies = sink.wait_for(MESSAGES, Duration::from_secs(60)).await;
    assert_eq!(replies.len(), MESSAGES);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        sink.messages().len(),
        MESSAGES,
        "one acknowledgement per message"
    );
    assert_eq!(dovecot.count("gateway", "Processed").await, MESSAGES as u32);
    assert_eq!(dovecot.count("gateway", "Failed").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_when_the_first_message_of_a_batch_is_queued() {
    killed_mid_batch_at("after_queue").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_when_the_first_message_of_a_batch_has_its_report_stored() {
    killed_mid_batch_at("after_report").await;
}
