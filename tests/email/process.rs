//! The email channel's processing of one message, without servers: replies once per report and
//! within the per-address rate limit, nothing acknowledged while the gateway cannot store, bad
//! input routed to the failed folder, and the backfill import of an mbox.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use channels::email::{self, Disposition, Processor, OUTBOUND_STREAM};
use chrono::TimeZone;
use normalizers::validate::Status;

use channels::testing::{MemIntake, MemStore};

fn processor(
    intake: MemIntake,
    rate: u32,
    replies: bool,
) -> Processor<MemIntake, MemStore, MemStore> {
    let store = Arc::new(MemStore::with_claim_timeout(Duration::from_secs(5)));
    Processor {
        intake: Arc::new(intake),
        streams: store.clone(),
        state: store,
        options: email::email_options(&email::EmailConfig {
            trusted_authserv_id: Some(MX.into()),
            ..email::EmailConfig::default()
        }),
        reply_rate_per_hour: rate,
        reply_global_rate_per_hour: 1000,
        send_replies: replies,
        stats: Arc::default(),
    }
}

/// The authserv-id of the gateway's own receiving MTA, trusted in these tests.
const MX: &str = "mx.longan.gov.vn";

fn accepting() -> MemIntake {
    MemIntake::answering(
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 28, 3, 0, 0)
            .single()
            .expect("valid instant"),
        Status::Accepted,
    )
}

fn mail(from: &str, id: &str) -> Bytes {
    Bytes::from(format!(
        "From: {from}\r\nTo: 1022@longan.gov.vn\r\nSubject: x\r\nMessage-ID: <{id}>\r\n\r\nĐèn hỏng.\r\n"
    ))
}

#[tokio::test]
async fn a_sender_gets_at_most_the_hourly_number_of_replies() {
    let p = processor(accepting(), 2, true);
    for i in 0..4 {
        let d = p
            .handle(mail("an@example.vn", &format!("m{i}@x")), "k")
            .await;
        assert_eq!(d, Disposition::Processed);
    }
    assert_eq!(p.streams.entries(OUTBOUND_STREAM).len(), 2);
    assert_eq!(p.stats.snapshot().replies_rate_limited, 2);
    // Another address has its own allowance.
    p.handle(mail("binh@example.vn", "b1@x"), "k").await;
    assert_eq!(p.streams.entries(OUTBOUND_STREAM).len(), 3);
}

#[tokio::test]
async fn a_message_read_twice_is_one_report_and_one_reply() {
    let p = processor(accepting(), 10, true);
    let m = mail("an@example.vn", "same@x");
    assert_eq!(p.handle(m.clone(), "k").await, Disposition::Processed);
    assert_eq!(p.handle(m, "k").await, Disposition::Processed);
    assert_eq!(p.intake.received().len(), 1);
    assert_eq!(p.streams.entries(OUTBOUND_STREAM).len(), 1);
    let s = p.stats.snapshot();
    assert_eq!((s.ingested, s.replayed), (1, 1));
}

/// A crash after the reply was queued and before its marker was written: the message is read
/// again, and the citizen still gets one reply.
#[tokio::test]
async fn a_crash_between_queueing_the_reply_and_marking_it_sends_one_reply() {
    let p = processor(accepting(), 10, true);
    let m = mail("an@example.vn", "crash@x");
    assert_eq!(p.handle(m.clone(), "k").await, Disposition::Processed);
    let markers: Vec<String> = p
        .state
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("email:replied:"))
        .collect();
    assert_eq!(markers.len(), 1, "one reply marker: {markers:?}");
    channels::intake::StateStore::delete(&*p.state, &markers[0])
        .await
        .expect("delete");
    assert_eq!(p.handle(m, "k").await, Disposition::Processed);
    assert_eq!(outbound(&p).len(), 1);
}

#[tokio::test]
async fn nothing_is_acknowledged_while_the_gateway_cannot_store() {
    let p = processor(accepting(), 10, true);
    p.intake.unavailable.store(true, Ordering::SeqCst);
    assert_eq!(
        p.handle(mail("an@example.vn", "u@x"), "k").await,
        Disposition::Retry
    );
    assert!(p.streams.entries(OUTBOUND_STREAM).is_empty());
    p.intake.unavailable.store(false, Ordering::SeqCst);
    assert_eq!(
        p.handle(mail("an@example.vn", "u@x"), "k").await,
        Disposition::Processed
    );
    assert_eq!(p.intake.received().len(), 1);
}

#[tokio::test]
async fn bytes_that_are_not_a_message_go_to_the_failed_folder() {
    let p = processor(accepting(), 10, true);
    let d = p.handle(Bytes::from_static(b"\r\n\r\n"), "k").await;
    assert_eq!(d, Disposition::Failed("unparsable"));
    assert_eq!(p.intake.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn messages_without_message_id_are_keyed_by_their_mailbox_position() {
    let p = processor(accepting(), 10, true);
    let raw =
        Bytes::from_static("From: an@example.vn\r\nSubject: x\r\n\r\nĐèn hỏng.\r\n".as_bytes());
    p.handle(raw, "imap:INBOX:7:42").await;
    assert_eq!(p.intake.received()[0].dedup_key, "email:imap:INBOX:7:42");
}

#[tokio::test]
async fn an_mbox_backfill_ingests_without_answering_and_counts_what_it_did() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("old.mbox");
    let bounce =
        String::from_utf8(crate::support::read_fixture("email/005-bounce.eml")).expect("utf-8");
    let text = format!(
        "From an@example.vn Sat Nov 28 09:00:00 2026\n{}\n\
         From MAILER-DAEMON Sat Nov 28 09:01:00 2026\n{bounce}\n\
         From an@example.vn Sat Nov 28 09:02:00 2026\n{}\n",
        String::from_utf8_lossy(&mail("an@example.vn", "old-1@x")).replace("\r\n", "\n"),
        String::from_utf8_lossy(&mail("an@example.vn", "old-1@x")).replace("\r\n", "\n"),
    );
    std::fs::write(&path, text).expect("mbox written");
    let p = processor(accepting(), 10, false);
    let reader = email::open_mailbox(&path).expect("mbox opens");
    let mut seen = Vec::new();
    let summary = email::import(reader, &p, |n| seen.push(n))
        .await
        .expect("import runs");
    assert_eq!(seen, [1, 2, 3]);
    assert_eq!(summary.read, 3);
    assert_eq!(summary.ingested, 1);
    assert_eq!(summary.replayed, 1, "the repeated Message-ID");
    assert_eq!(summary.skipped_auto, 1, "the bounce");
    assert!(
        p.streams.entries(OUTBOUND_STREAM).is_empty(),
        "a backfill answers nobody"
    );
}

/// `gateway check` says what the live channel does, fixture by fixture: a message it ignores
/// reaches no intake and gets no reply; a message taken but "unanswered" gets no reply; every
/// other message is taken and answered.
#[tokio::test]
async fn gateway_check_and_the_live_processor_agree_on_every_email_fixture() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/email");
    let mut emls: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    emls.sort();
    let now = chrono::Utc
        .with_ymd_and_hms(2026, 11, 28, 3, 0, 0)
        .single()
        .unwrap();
    let channels = gateway::offline::CheckChannels {
        email: email::email_options(&email::EmailConfig::default()),
        zalo_oa_ids: Vec::new(),
    };
    let geo = normalizers::geo::Geo::embedded();
    let mut ignored = 0;
    for eml in &emls {
        let checked =
            gateway::offline::check_file(eml, now, &Default::default(), geo, &channels).unwrap();
        let v = gateway::offline::verdict_json(eml, &checked);
        let p = processor(accepting(), 10, true);
        let raw = Bytes::from(std::fs::read(eml).unwrap());
        assert_eq!(p.handle(raw, "k").await, Disposition::Processed);
        let taken = p.intake.received().len();
        let replies = p.streams.entries(OUTBOUND_STREAM).len();
        let name = eml.display();
        if v["verdict"] == "ignored" {
            ignored += 1;
            assert_eq!((taken, replies), (0, 0), "{name}: check says ignored: {v}");
        } else if v.get("unanswered").is_some() {
            assert_eq!(
                (taken, replies),
                (1, 0),
                "{name}: check says unanswered: {v}"
            );
        } else {
            assert_eq!(
                (taken, replies),
                (1, 1),
                "{name}: check gives a verdict: {v}"
            );
        }
    }
    assert!(ignored >= 3, "the auto-reply, bounce and own-mail fixtures");
}

/// A message a forger wrote: an unauthenticated From (no header of our MTA, a "pass" from a
/// host we do not trust), a Reply-To of a third party, and text meant for that third party in
/// the subject, the body and a file name.
fn forged(from: &str, id: &str) -> Bytes {
    Bytes::from(format!(
        "Authentication-Results: mail.lua-dao.example; dkim=pass header.d=example.vn; dmarc=pass header.from=example.vn\r\n\
         From: =?UTF-8?Q?Ng=C3=A2n_h=C3=A0ng?= <{from}>\r\n\
         Reply-To: nan.nhan@elsewhere.vn\r\n\
         To: 1022@longan.gov.vn\r\n\
         Subject: =?UTF-8?Q?T=C3=A0i_kho=E1=BA=A3n_b=E1=BB=8B_kh=C3=B3a=2C_x=C3=A1c_minh_t=E1=BA=A1i_lua-dao.example?=\r\n\
         Message-ID: <{id}>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\n\
         Content-Type: text/plain; charset=UTF-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         Quý khách vui lòng đăng nhập tại lua-dao.example để nhận lại tiền, đèn đường hỏng.\r\n\r\n\
         --b\r\n\
         Content-Type: image/png; name=\"nhan-tien-tai-lua-dao.example.png\"\r\n\
         Content-Disposition: attachment; filename=\"nhan-tien-tai-lua-dao.example.png\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n\
         iVBORw0KGgo=\r\n\
         --b--\r\n"
    ))
}

/// The same citizen mail, with a DMARC pass of our own MTA above everything.
fn authenticated(from: &str, id: &str) -> Bytes {
    let mut raw =
        format!("Authentication-Results: {MX}; dmarc=pass (p=none) header.from=example.vn\r\n")
            .into_bytes();
    raw.extend_from_slice(&forged(from, id));
    Bytes::from(raw)
}

fn outbound(p: &Processor<MemIntake, MemStore, MemStore>) -> Vec<serde_json::Value> {
    p.streams.entries(OUTBOUND_STREAM)
}

#[tokio::test]
async fn two_senders_with_one_message_id_are_two_reports_and_a_redelivery_is_none() {
    let p = processor(accepting(), 10, true);
    p.handle(mail("an@example.vn", "same@x"), "imap:INBOX:1:1")
        .await;
    p.handle(mail("binh@example.vn", "same@x"), "imap:INBOX:1:2")
        .await;
    // The first message again, at another UID (a lost checkpoint, a copy back to INBOX).
    p.handle(mail("an@example.vn", "same@x"), "imap:INBOX:2:7")
        .await;
    // The intake records each new key once: the redelivery was recognised as a replay.
    let keys: Vec<String> = p
        .intake
        .received()
        .into_iter()
        .map(|r| r.dedup_key)
        .collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_ne!(keys[0], keys[1], "another sender: another report");
    for k in &keys {
        assert!(!k.contains("example.vn"), "no address in keys: {k}");
    }
    let s = p.stats.snapshot();
    assert_eq!((s.ingested, s.replayed), (2, 1));
    assert_eq!(outbound(&p).len(), 2);
}

#[tokio::test]
async fn a_forged_sender_gets_a_fixed_text_at_its_from_only_that_quotes_nothing() {
    let p = processor(accepting(), 10, true);
    p.handle(forged("an@example.vn", "f1@x"), "k").await;
    let out = outbound(&p);
    assert_eq!(out.len(), 1, "{out:?}");
    let o = &out[0];
    assert_eq!(
        o["origin"]["address"], "an@example.vn",
        "From, never Reply-To"
    );
    assert_eq!(o["kind"], "receipt");
    assert!(o["origin"]["subject"].is_null(), "{o}");
    assert!(o["origin"]["message_id"].is_null(), "{o}");
    assert_eq!(o["origin"]["references"], serde_json::json!([]));
    let code = p.intake.received()[0].report.tracking_code.clone();
    let text = o["text"].as_str().unwrap();
    let html = o["html"].as_str().unwrap();
    for body in [text, html] {
        assert!(body.contains(&code), "the tracking code is given: {body}");
        for quoted in [
            "lua-dao",
            "Tài khoản",
            "đăng nhập",
            "Ngân hàng",
            "elsewhere",
            "nhan-tien",
        ] {
            assert!(!body.contains(quoted), "{quoted:?} quoted in {body}");
        }
    }
    // One fixed text, whoever the sender and whatever they wrote.
    let q = processor(accepting(), 10, true);
    q.handle(mail("binh@example.vn", "other@x"), "k").await;
    let code_q = q.intake.received()[0].report.tracking_code.clone();
    assert_eq!(
        outbound(&q)[0]["text"]
            .as_str()
            .unwrap()
            .replace(&code_q, "CODE"),
        text.replace(&code, "CODE")
    );
}

#[tokio::test]
async fn an_authenticated_sender_gets_the_full_reply_at_its_reply_to() {
    let p = processor(accepting(), 10, true);
    p.handle(authenticated("an@example.vn", "a1@x"), "k").await;
    let out = outbound(&p);
    assert_eq!(out.len(), 1);
    let o = &out[0];
    assert_eq!(o["origin"]["address"], "nan.nhan@elsewhere.vn");
    assert_eq!(o["kind"], "ack");
    assert_eq!(o["origin"]["message_id"], "a1@x");
    assert!(o["origin"]["subject"]
        .as_str()
        .unwrap()
        .starts_with("Tài khoản"));
}

#[tokio::test]
async fn replies_to_all_addresses_together_stop_at_the_global_hourly_limit() {
    let mut p = processor(accepting(), 10, true);
    p.reply_global_rate_per_hour = 3;
    for i in 0..5 {
        p.handle(mail(&format!("dan{i}@example.vn"), &format!("g{i}@x")), "k")
            .await;
    }
    assert_eq!(p.intake.received().len(), 5, "every report is taken");
    assert_eq!(outbound(&p).len(), 3);
    assert_eq!(p.stats.snapshot().replies_rate_limited, 2);
}
