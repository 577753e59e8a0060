//! Photos on the IOC's messages (issue 12 point 1, Đ10.3: a result comes with photos of the
//! fix) and citizens' answers refused for offensive words (Đ7.6), through the running gateway
//! on the embedded store and on a real Redis: the API on a real socket, the email channel
//! against a real Dovecot and a real SMTP server, the Zalo OA channel against the fake Zalo.
//!
//! - a multipart message with two photos (a JPEG with EXIF and GPS, a PNG with a capture time)
//!   is answered 201 with both recorded; the email reply in the SMTP sink carries them as
//!   attachments without EXIF or GPS; the tracking view (JSON and HTML) lists them and serves
//!   the stripped copies; an internal note's photo is never public;
//! - a Zalo report's citizen gets the text, then one OA image message per photo whose URL
//!   serves the stripped copy;
//! - `/v1/published` lists the result's photos of a non-confidential report (fetchable,
//!   stripped) and nothing of a confidential one;
//! - a bad photo (a video, a HEIC, a broken JPEG, one too large, too many) is refused with
//!   415/400/413, nothing is recorded and the staging folder is empty;
//! - an offensive answer by email gets one polite reply saying why and the mail is moved to
//!   Processed, not Failed, nothing attached; by Zalo the same reply, no new draft, and the
//!   conversation still answers the report.

use std::io::Cursor;
use std::sync::Arc;
use std::time::{Duration, Instant};

use channels::email::{self as email_channel, TlsMode};
use channels::zalo::{self, ZaloChannel, ZaloConfig};
use channels::{CancellationToken, ChannelConfig, ChannelContext, RunningChannel};
use gateway::pipeline::Pipeline;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::dovecot::Dovecot;
use crate::support::fake_zalo::{events, FakeZalo};
use crate::support::gateway::{client, get, get_with, trail_step, InProcess, IOC_KEY, SUBMIT_KEY};
use crate::support::redis::RedisServer;
use crate::support::smtp::SmtpSink;
use crate::support::{read_fixture, report_form, report_json};

/// A valid 2×2 PNG without metadata, like a chat photo.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x08, 0x02, 0x00, 0x00, 0x00, 0xfd, 0xd4, 0x9a,
    0x73, 0x00, 0x00, 0x00, 0x11, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0x00,
    0x44, 0x60, 0xe2, 0x3f, 0x03, 0x00, 0x1d, 0xf0, 0x03, 0xfd, 0xa0, 0x33, 0x09, 0x89, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// A `photo` part: file name, content type, bytes.
type Photo = (&'static str, &'static str, Vec<u8>);

/// The photo size limit of these tests (the fixtures are about 1 kB).
const PHOTO_MAX: u64 = 50_000;

/// Words of Đ7.6 (vulgar), as a citizen might write them.
const OFFENSIVE: &str = "Đồ cặc, sửa cái đèn mà chậm quá.";

/// The gateway with its email and Zalo channels running, and everything they talk to.
struct Gw {
    gw: InProcess,
    base: String,
    pipeline: Arc<Pipeline>,
    dovecot: Dovecot,
    sink: SmtpSink,
    fake: FakeZalo,
    zalo_base: String,
    _email: RunningChannel,
    _zalo: Arc<ZaloChannel<Pipeline, gateway::store::ChannelStore>>,
    shutdown: CancellationToken,
    _redis: Option<RedisServer>,
}

impl Drop for Gw {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Gw {
    async fn start(redis: Option<RedisServer>) -> Gw {
        let fake = FakeZalo::start().await;
        let dovecot = Dovecot::start();
        let sink = SmtpSink::start();
        let email_config = email_channel::EmailConfig {
            trusted_authserv_id: Some("mx.longan.gov.vn".into()),
            smtp_host: Some("127.0.0.1".into()),
            smtp_port: Some(sink.port),
            smtp_tls: TlsMode::None,
            idle_timeout_secs: 5,
            lease_ttl_secs: 30,
            ..dovecot.email_config(TlsMode::Implicit)
        };
        let zalo_config: ZaloConfig =
            serde_json::from_value(fake.zalo_section()).expect("the fake's settings");
        // The gateway's public address is its socket's: Zalo fetches the photos from there.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let redis_url = redis.as_ref().map(|r| r.url().into());
        let (e, z, b) = (email_config.clone(), zalo_config.clone(), base.clone());
        let gw = InProcess::start(move |c| {
            c.redis_url = redis_url;
            c.track.lookups_per_minute = 1000;
            c.limits.photo_max_bytes = PHOTO_MAX;
            c.email = Some(e);
            c.zalo = Some(z);
            c.messages.public_base_url = Some(format!("{b}/"));
        })
        .await;
        let app = gw.router();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let pipeline = gw.state.pipeline.clone();
        let shutdown = CancellationToken::new();
        let ctx = ChannelContext {
            intake: pipeline.clone(),
            store: pipeline.channel_store(Duration::from_secs(5)),
            instance_id: "photos".into(),
            shutdown: shutdown.clone(),
            staging: pipeline.staging_dir(),
            validation: pipeline.validation().clone(),
        };
        let email = email_config.build(&ctx).expect("email channel starts");
        let zalo_channel = ZaloChannel::new(zalo_config, &ctx).expect("zalo channel builds");
        let zl = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let zalo_base = format!("http://{}", zl.local_addr().unwrap());
        let zapp = zalo::router(zalo_channel.clone());
        tokio::spawn(async move {
            let _ = axum::serve(zl, zapp).await;
        });
        zalo::spawn_workers(zalo_channel.clone());
        Gw {
            gw,
            base,
            pipeline,
            dovecot,
            sink,
            fake,
            zalo_base,
            _email: email,
            _zalo: zalo_channel,
            shutdown,
            _redis: redis,
        }
    }

    fn ms(&self) -> i64 {
        self.pipeline.now().timestamp_millis()
    }

    /// The staging folder's files.
    fn staged(&self) -> Vec<String> {
        std::fs::read_dir(self.pipeline.staging_dir())
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// POST a message as a multipart form: `message` JSON and the `photo` parts.
    async fn message_with(&self, id: &str, body: Value, photos: &[Photo]) -> (StatusCode, Value) {
        let mut form = reqwest::multipart::Form::new().part(
            "message",
            reqwest::multipart::Part::text(body.to_string())
                .mime_str("application/json")
                .unwrap(),
        );
        for (name, content_type, bytes) in photos {
            form = form.part(
                "photo",
                reqwest::multipart::Part::bytes(bytes.clone())
                    .file_name(name.to_string())
                    .mime_str(content_type)
                    .unwrap(),
            );
        }
        let res = client()
            .post(format!("{}/v1/reports/{id}/messages", self.base))
            .bearer_auth(IOC_KEY)
            .multipart(form)
            .send()
            .await
            .unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn message(&self, id: &str, body: Value) -> (StatusCode, Value) {
        let res = client()
            .post(format!("{}/v1/reports/{id}/messages", self.base))
            .bearer_auth(IOC_KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn report(&self, id: &str) -> Value {
        let res = get_with(format!("{}/v1/reports/{id}", self.base), IOC_KEY).await;
        assert_eq!(res.status(), StatusCode::OK);
        res.json().await.unwrap()
    }

    /// The attempts of message `message_id`, once `done` holds for them (60 s at most).
    async fn attempts_until(
        &self,
        id: &str,
        message_id: &str,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let report = self.report(id).await;
            let attempts = report["messages"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["id"] == message_id)
                .map(|m| m["attempts"].as_array().cloned().unwrap_or_default())
                .unwrap_or_default();
            if done(&attempts) || Instant::now() > deadline {
                return attempts;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn send_zalo(&self, body: &str) {
        let webhook = format!("{}/v1/zalo/webhook", self.zalo_base);
        assert_eq!(
            self.fake.post_event(&webhook, body, None).await,
            StatusCode::OK
        );
    }

    /// A whole Zalo OA conversation by `u`; the tracking code.
    async fn converse(&self, u: &str, prefix: &str) -> String {
        self.send_zalo(&events::text(
            u,
            &format!("{prefix}1"),
            "Đèn đường trước nhà số 12 đường Nguyễn Huệ bị hỏng từ tối qua, cả đoạn đường tối om.",
            self.ms(),
        ))
        .await;
        self.fake.wait_said(u, |s| s.len() >= 2).await;
        let url = self
            .fake
            .add_media(&format!("{prefix}.png"), "image/png", PNG.to_vec());
        self.send_zalo(&events::image(u, &format!("{prefix}2"), &url, self.ms()))
            .await;
        self.send_zalo(&events::location(
            u,
            &format!("{prefix}3"),
            "10.5366",
            "106.4138",
            self.ms(),
        ))
        .await;
        self.send_zalo(&events::submit_info(
            u,
            "Nguyễn Văn An",
            "84912345678",
            self.ms(),
        ))
        .await;
        let said = self
            .fake
            .wait_said(u, |s| s.iter().any(|m| m.starts_with("Tóm tắt phản ánh")))
            .await;
        self.send_zalo(&events::text(u, &format!("{prefix}5"), "Gửi", self.ms()))
            .await;
        let said = self.fake.wait_said(u, |s| s.len() > said.len()).await;
        let last = said.last().unwrap();
        assert!(last.contains("Mã phản ánh: LA-"), "{last}");
        last.split("Mã phản ánh: ")
            .nth(1)
            .and_then(|s| s.split('.').next())
            .unwrap()
            .to_string()
    }

    async fn id_of(&self, code: &str) -> String {
        self.pipeline
            .track(code)
            .await
            .unwrap()
            .expect("the code finds its report")
            .id
    }

    /// An app report (with `extra` fields); (id, tracking code).
    async fn app_report(&self, extra: Value) -> (String, String) {
        let mut report = report_json();
        for (k, v) in extra.as_object().unwrap() {
            report[k] = v.clone();
        }
        // A second report of the same reporter with the same photo would be a duplicate.
        let form = match extra.get("reporter") {
            None => report_form(&report, "den.jpg"),
            Some(_) => reqwest::multipart::Form::new()
                .part(
                    "report",
                    reqwest::multipart::Part::text(report.to_string())
                        .mime_str("application/json")
                        .unwrap(),
                )
                .part(
                    "media",
                    reqwest::multipart::Part::bytes(read_fixture("media/photo-2h-before.webp"))
                        .file_name("cong.webp")
                        .mime_str("image/webp")
                        .unwrap(),
                ),
        };
        let res = client()
            .post(format!("{}/v1/reports", self.base))
            .bearer_auth(SUBMIT_KEY)
            .multipart(form)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let v: Value = res.json().await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{v}");
        (
            v["id"].as_str().unwrap().to_string(),
            v["tracking_code"].as_str().unwrap().to_string(),
        )
    }

    /// Move a report to `answered` (the result published unless confidential).
    async fn answer(&self, id: &str) {
        for body in [
            json!({"status": "accepted"}),
            json!({"status": "forwarded", "agency": "UBND phường Long An"}),
            json!({"status": "agency_accepted"}),
            json!({"status": "answered", "message": "Đã thay bóng đèn ngày 29/11/2026."}),
        ] {
            let (s, e) = trail_step(&self.base, id, body.clone()).await;
            assert_eq!(s, StatusCode::OK, "{body}: {e}");
        }
    }
}

fn has(attempts: &[Value], route: &str, outcome: &str) -> bool {
    attempts
        .iter()
        .any(|a| a["route"] == route && a["outcome"] == outcome)
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

/// A mail the gateway sent, parsed: its text and its attachments.
fn parse_mail(raw: &[u8]) -> normalizers::email::EmailReport {
    normalizers::email::normalize(
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
    .expect("the mail parses")
}

/// The code in the gateway's answer to a citizen's first mail (an acknowledgement, or a
/// rejection: both carry it).
async fn code_of_first_answer(sink: &SmtpSink) -> String {
    let mails = sink.wait_for(1, Duration::from_secs(60)).await;
    assert!(!mails.is_empty(), "the gateway answered the report");
    let raw = String::from_utf8_lossy(&mails[0]).into_owned();
    let id = header(&raw, "Message-ID").unwrap_or_default();
    assert!(
        id.starts_with("<ack.") || id.starts_with("<rejection."),
        "{raw}"
    );
    parse_mail(raw.as_bytes())
        .report
        .content
        .text
        .split("LA-")
        .nth(1)
        .map(|s| format!("LA-{}", &s[..9]))
        .expect("the code in the answer")
}

/// Mails in the sink whose Message-ID starts with `<kind>.`, once there are `n` (60 s at most).
async fn mails_of(sink: &SmtpSink, kind: &str, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mails: Vec<String> = sink
            .messages()
            .into_iter()
            .map(|m| String::from_utf8_lossy(&m).into_owned())
            .filter(|m| {
                header(m, "Message-ID").is_some_and(|h| h.starts_with(&format!("<{kind}.")))
            })
            .collect();
        if mails.len() >= n || Instant::now() > deadline {
            return mails;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What a photo's bytes are, read like the gateway reads them.
fn inspect(bytes: &[u8], claimed: &str) -> normalizers::media::MediaInfo {
    normalizers::media::inspect(&mut Cursor::new(bytes), Some(claimed))
}

/// A photo as served or sent: readable, of its type, with no capture time, no GPS, no EXIF.
fn assert_stripped(bytes: &[u8], media_type: &str) {
    let info = inspect(bytes, media_type);
    assert!(info.unreadable.is_none(), "{info:?}");
    assert_eq!(info.media_type, media_type);
    assert!(
        info.gps.is_none() && info.captured_at.is_none(),
        "metadata left: {info:?}"
    );
    assert!(!bytes.windows(6).any(|w| w == b"Exif\0\0"), "EXIF left");
    assert!(!bytes.windows(4).any(|w| w == b"eXIf"), "PNG EXIF left");
}

async fn fetch(url: &str) -> (StatusCode, Option<String>, Vec<u8>) {
    let res = get(url).await;
    let status = res.status();
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, ct, res.bytes().await.unwrap().to_vec())
}

/// A citizen's plain mail.
fn mail(message_id: &str) -> Vec<u8> {
    format!(
        "Authentication-Results: mx.longan.gov.vn; dkim=pass header.d=example.vn\r\n\
         From: =?UTF-8?Q?V=C3=B5_Minh_Kh=C3=B4i?= <khoi@example.vn>\r\n\
         To: 1022@longan.gov.vn\r\n\
         Subject: =?UTF-8?Q?=C4=90=C3=A8n_=C4=91=C6=B0=E1=BB=9Dng_h=E1=BB=8Fng?=\r\n\
         Message-ID: <{message_id}>\r\n\
         Date: Sat, 28 Nov 2026 09:30:00 +0700\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=UTF-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         Kính gửi Trung tâm 1022,\r\n\r\n\
         Đèn đường trước nhà số 78 Trương Định, Phường 3, Tân An bị hỏng từ tối hôm qua, \
         cả đoạn đường tối om rất nguy hiểm cho người đi đường.\r\n\r\n\
         Người phản ánh: Võ Minh Khôi\r\n\
         Điện thoại: 0933 579 135\r\n"
    )
    .into_bytes()
}

/// A reply of the citizen in the thread of `in_reply_to`, authenticated.
fn reply(message_id: &str, in_reply_to: &str, text: &str) -> Vec<u8> {
    format!(
        "Authentication-Results: mx.longan.gov.vn; dkim=pass header.d=example.vn\r\n\
         From: =?UTF-8?Q?V=C3=B5_Minh_Kh=C3=B4i?= <khoi@example.vn>\r\n\
         To: 1022@longan.gov.vn\r\n\
         Subject: Re: den duong\r\n\
         Message-ID: <{message_id}>\r\n\
         In-Reply-To: {in_reply_to}\r\n\
         References: {in_reply_to}\r\n\
         Date: Sat, 28 Nov 2026 09:40:00 +0700\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=UTF-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         {text}\r\n"
    )
    .into_bytes()
}

/// The two photos of the result: a JPEG with EXIF and GPS, a PNG with a capture time.
fn result_photos() -> Vec<Photo> {
    let jpeg = read_fixture("media/photo-gps-clock.jpg");
    let png = read_fixture("media/photo-2h-before.png");
    let info = inspect(&jpeg, "image/jpeg");
    assert!(info.gps.is_some(), "the JPEG fixture has GPS: {info:?}");
    assert!(
        inspect(&png, "image/png").captured_at.is_some(),
        "the PNG fixture has a capture time"
    );
    vec![
        ("sua-den.jpg", "image/jpeg", jpeg),
        ("sua-den.png", "image/png", png),
    ]
}

macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        mod embedded_backend {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
              async fn $name() { super::$name(super::Gw::start(None).await).await })+
        }
        mod redis_backend {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
              async fn $name() {
                  super::$name(super::Gw::start(Some(crate::support::redis::RedisServer::start())).await).await
              })+
        }
    };
}

both_backends!(
    the_iocs_photos_reach_the_citizen_stripped,
    bad_photos_record_nothing,
    offensive_answers_are_refused_politely,
);

async fn the_iocs_photos_reach_the_citizen_stripped(g: Gw) {
    // An email report.
    g.dovecot
        .append("gateway", "INBOX", &mail("photos-1@example.vn"))
        .await;
    let code = code_of_first_answer(&g.sink).await;
    let id = g.id_of(&code).await;

    // The result with two photos: 201, both recorded with their public copies.
    let text = "Điện lực Tân An đã thay bóng đèn ngày 29/11/2026, ảnh chụp sau khi sửa.";
    let photos = result_photos();
    let (s, m) = g
        .message_with(&id, json!({"kind": "result", "text": text}), &photos)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let recorded = m["message"]["photos"].as_array().unwrap();
    assert_eq!(recorded.len(), 2, "{m}");
    for p in recorded {
        assert!(
            p["public_key"].as_str().unwrap().starts_with("sha256/"),
            "{p}"
        );
        assert_ne!(
            p["public_key"], p["storage_key"],
            "a copy, not the original"
        );
    }
    assert_eq!(recorded[0]["media_type"], "image/jpeg");
    assert_eq!(recorded[1]["media_type"], "image/png");
    let message_id = m["message"]["id"].as_str().unwrap().to_string();
    assert!(g.staged().is_empty(), "staging left: {:?}", g.staged());

    // The reply in the thread carries both, stripped.
    let mails = mails_of(&g.sink, "ioc_message", 1).await;
    assert_eq!(mails.len(), 1, "the message was mailed");
    let raw = &mails[0];
    assert_eq!(
        header(raw, "In-Reply-To").as_deref(),
        Some("<photos-1@example.vn>")
    );
    let parsed = parse_mail(raw.as_bytes());
    assert!(parsed.report.content.text.contains(text), "{raw}");
    assert!(
        parsed
            .report
            .content
            .text
            .contains("Kèm theo thư này là 2 ảnh"),
        "{raw}"
    );
    let files: Vec<_> = parsed
        .attachments
        .iter()
        .map(|a| {
            (
                a.file_name.clone().unwrap_or_default(),
                a.claimed_type.clone(),
            )
        })
        .collect();
    assert_eq!(
        files,
        [
            ("anh-1.jpg".to_string(), Some("image/jpeg".to_string())),
            ("anh-2.png".to_string(), Some("image/png".to_string())),
        ],
        "{raw}"
    );
    assert_stripped(&parsed.attachments[0].bytes, "image/jpeg");
    assert_stripped(&parsed.attachments[1].bytes, "image/png");
    let attempts = g
        .attempts_until(&id, &message_id, |a| has(a, "email", "sent"))
        .await;
    assert!(has(&attempts, "email", "sent"), "{attempts:?}");

    // An internal note with a photo: recorded, never public.
    let (s, note) = g
        .message_with(
            &id,
            json!({"kind": "other", "text": "Ảnh nội bộ của đội điện lực.", "internal": true}),
            // Another picture than the result's (the same pixels would be the same copy).
            &[(
                "noi-bo.webp",
                "image/webp",
                read_fixture("media/photo-2h-before.webp"),
            )],
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{note}");
    let note_digest = note["message"]["photos"][0]["public_key"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256/")
        .to_string();

    // The tracking view lists the result's two photos and serves their stripped copies.
    let res = get(format!("{}/v1/track/{code}", g.base)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.text().await.unwrap();
    let t: Value = serde_json::from_str(&body).unwrap();
    let listed: Vec<String> = t["messages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["photos"].as_array().cloned().unwrap_or_default())
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed.len(), 2, "{body}");
    assert!(
        !body.contains(&note_digest),
        "an internal photo is listed: {body}"
    );
    assert!(
        !body.contains("storage_key") && !body.contains("nội bộ"),
        "{body}"
    );
    for (path, media_type) in listed.iter().zip(["image/jpeg", "image/png"]) {
        assert!(
            path.starts_with(&format!("/v1/track/{code}/photos/")),
            "{path}"
        );
        let (s, ct, bytes) = fetch(&format!("{}{path}", g.base)).await;
        assert_eq!(s, StatusCode::OK, "{path}");
        assert_eq!(ct.as_deref(), Some(media_type));
        assert_stripped(&bytes, media_type);
    }
    let html = get(format!("{}/track/{code}", g.base)).await;
    let csp = html.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("img-src 'self'"), "{csp}");
    let html = html.text().await.unwrap();
    for path in &listed {
        assert!(html.contains(&format!("<img src=\"{path}\"")), "{html}");
    }
    assert!(!html.contains(&note_digest), "{html}");
    // Neither the note's copy, nor an original, nor another report's code.
    let original = recorded[0]["storage_key"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256/")
        .to_string();
    let first_digest = listed[0].rsplit('/').next().unwrap().to_string();
    for path in [
        format!("/v1/track/{code}/photos/{note_digest}"),
        format!("/v1/track/{code}/photos/{original}"),
        format!("/v1/track/LA-0000-0000/photos/{first_digest}"),
        format!("/v1/track/{code}/photos/..%2F..%2Fetc"),
    ] {
        let (s, _, _) = fetch(&format!("{}{path}", g.base)).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
    }

    // Published with the result (an app report, not confidential): the result's photos,
    // stripped.
    let (pid, pcode) = g.app_report(json!({})).await;
    let (s, m) = g
        .message_with(&pid, json!({"kind": "result", "text": text}), &photos)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    g.answer(&pid).await;
    let feed: Value = get(format!("{}/v1/published", g.base))
        .await
        .json()
        .await
        .unwrap();
    let entry = feed["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["tracking_code"] == pcode.as_str())
        .unwrap_or_else(|| panic!("{feed}"))
        .clone();
    let published = entry["result_photos"].as_array().unwrap();
    assert_eq!(published.len(), 2, "{entry}");
    for (path, media_type) in published.iter().zip(["image/jpeg", "image/png"]) {
        let (s, ct, bytes) = fetch(&format!("{}{}", g.base, path.as_str().unwrap())).await;
        assert_eq!(s, StatusCode::OK, "{path}");
        assert_eq!(ct.as_deref(), Some(media_type));
        assert_stripped(&bytes, media_type);
    }
    let text = feed.to_string();
    for private in ["Nguyễn Văn An", "912 345 678", "Hùng Vương", "storage_key"] {
        assert!(!text.contains(private), "`{private}` is public: {text}");
    }

    // A confidential report's result photos are not published.
    let (cid, ccode) = g
        .app_report(json!({
            "confidential": true,
            "reporter": {"name": "Trần Thị Bích", "phone": "0987 654 321"},
            "content": "Nắp cống trước số 40 đường Nguyễn Đình Chiểu bị vỡ, rất nguy hiểm cho xe máy.",
            "location": {"address": "40 Nguyễn Đình Chiểu, Phường 1, Tân An", "lat": 10.535, "lon": 106.405},
        }))
        .await;
    let (s, m) = g
        .message_with(
            &cid,
            json!({"kind": "result", "text": "Đã sửa xong."}),
            &[(
                "sua.jpg",
                "image/jpeg",
                read_fixture("media/photo-gps-clock.jpg"),
            )],
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    g.answer(&cid).await;
    let feed: Value = get(format!("{}/v1/published", g.base))
        .await
        .json()
        .await
        .unwrap();
    assert!(!feed.to_string().contains(&ccode), "{feed}");
    let (s, _, _) = fetch(&format!("{}/v1/published/{ccode}/result-media/0", g.base)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // A Zalo OA report: the text, then one image message per photo, by the public copy's URL.
    let u = "U-photos-1";
    let zcode = g.converse(u, "ph").await;
    let zid = g.id_of(&zcode).await;
    let before = g.fake.delivered_to(u).len();
    let (s, m) = g
        .message_with(
            &zid,
            json!({"kind": "result", "text": "Đèn đã được sửa xong."}),
            &photos,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let zmessage = m["message"]["id"].as_str().unwrap().to_string();
    let attempts = g
        .attempts_until(&zid, &zmessage, |a| has(a, "zalo_oa", "sent"))
        .await;
    assert!(has(&attempts, "zalo_oa", "sent"), "{attempts:?}");
    let calls = g.fake.delivered_to(u);
    let calls = &calls[before..];
    assert_eq!(calls.len(), 3, "{calls:#?}");
    let said = calls[0].text().unwrap();
    assert!(
        said.contains("Đèn đã được sửa xong.") && said.contains("2 ảnh"),
        "{said}"
    );
    for (call, media_type) in calls[1..].iter().zip(["image/jpeg", "image/png"]) {
        assert_eq!(call.template_type(), Some("media"), "{:?}", call.body);
        let element = &call.body["message"]["attachment"]["payload"]["elements"][0];
        assert_eq!(element["media_type"], "image");
        let url = element["url"].as_str().unwrap();
        assert!(
            url.starts_with(&format!("{}/v1/track/{zcode}/photos/", g.base)),
            "{url}"
        );
        let (s, ct, bytes) = fetch(url).await;
        assert_eq!(s, StatusCode::OK, "{url}");
        assert_eq!(ct.as_deref(), Some(media_type));
        assert_stripped(&bytes, media_type);
    }
    let _ = &g.gw;
}

async fn bad_photos_record_nothing(g: Gw) {
    let (id, _) = g.app_report(json!({})).await;
    let jpeg = read_fixture("media/photo-gps-clock.jpg");
    let mut too_large = jpeg.clone();
    too_large.resize(PHOTO_MAX as usize + 1, 0);
    let broken = jpeg[..200].to_vec();
    let body = json!({"kind": "result", "text": "Đã sửa xong."});
    let cases: Vec<(StatusCode, Vec<Photo>)> = vec![
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            vec![
                ("den.jpg", "image/jpeg", jpeg.clone()),
                (
                    "video.mp4",
                    "video/mp4",
                    read_fixture("media/video-2h-before.mp4"),
                ),
            ],
        ),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            vec![(
                "anh.heic",
                "image/heic",
                read_fixture("media/photo-2h-before.heic"),
            )],
        ),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            vec![("ghi-chu.jpg", "image/jpeg", b"khong phai anh".repeat(10))],
        ),
        (
            StatusCode::BAD_REQUEST,
            vec![("hong.jpg", "image/jpeg", broken)],
        ),
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            vec![
                ("den.jpg", "image/jpeg", jpeg.clone()),
                ("lon.jpg", "image/jpeg", too_large),
            ],
        ),
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            (0..7)
                .map(|_| ("den.jpg", "image/jpeg", jpeg.clone()))
                .collect(),
        ),
    ];
    for (expected, photos) in cases {
        let names: Vec<_> = photos.iter().map(|p| p.0).collect();
        let (s, b) = g.message_with(&id, body.clone(), &photos).await;
        assert_eq!(s, expected, "{names:?}: {b}");
        assert!(
            b["message"].as_str().is_some_and(|m| m.contains("photo")),
            "{b}"
        );
        let report = g.report(&id).await;
        assert!(
            report["messages"].as_array().is_none_or(|m| m.is_empty()),
            "{names:?} recorded: {report}"
        );
        assert!(g.staged().is_empty(), "{names:?} left {:?}", g.staged());
    }
    // No `message` part, or a text the message would refuse: nothing stored either.
    let (s, b) = g
        .message_with(
            &id,
            json!({"kind": "result", "text": "  "}),
            &[("den.jpg", "image/jpeg", jpeg.clone())],
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(g.staged().is_empty());
    // JSON stays accepted, and a good form after all the bad ones records one message.
    let (s, b) = g
        .message(&id, json!({"kind": "other", "text": "Xin chào."}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = g
        .message_with(&id, body, &[("den.jpg", "image/jpeg", jpeg)])
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let report = g.report(&id).await;
    assert_eq!(report["messages"].as_array().unwrap().len(), 2, "{report}");
    assert!(g.staged().is_empty());
}

async fn offensive_answers_are_refused_politely(g: Gw) {
    // Email: a result, then an offensive reply in its thread.
    g.dovecot
        .append("gateway", "INBOX", &mail("offensive-1@example.vn"))
        .await;
    let code = code_of_first_answer(&g.sink).await;
    let id = g.id_of(&code).await;
    let (s, m) = g
        .message(
            &id,
            json!({"kind": "request_detail", "text": "Đề nghị ông/bà cho biết số hiệu cột đèn."}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let mails = mails_of(&g.sink, "ioc_message", 1).await;
    let ioc_mail = header(&mails[0], "Message-ID").unwrap();
    g.dovecot
        .append(
            "gateway",
            "INBOX",
            &reply("offensive-2@example.vn", &ioc_mail, OFFENSIVE),
        )
        .await;
    let refused = mails_of(&g.sink, "answer_ack", 1).await;
    assert_eq!(refused.len(), 1, "one polite reply");
    let said = parse_mail(refused[0].as_bytes()).report.content.text;
    assert!(said.contains(&code) && said.contains("thô tục"), "{said}");
    assert!(!said.contains("cặc"), "the words are not repeated: {said}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while g.dovecot.count("gateway", "Processed").await < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(g.dovecot.count("gateway", "Processed").await, 2, "handled");
    assert_eq!(g.dovecot.count("gateway", "Failed").await, 0, "not failed");
    let report = g.report(&id).await;
    assert!(
        report["answers"].as_array().is_none_or(|a| a.is_empty()),
        "attached: {report}"
    );
    // Not a report of its own either (only the first mail was acknowledged as one), and the
    // reply was sent once.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let answers_to_reports = g
        .sink
        .messages()
        .iter()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .filter(|m| {
            header(m, "Message-ID")
                .is_some_and(|h| h.starts_with("<ack.") || h.starts_with("<rejection."))
        })
        .count();
    assert_eq!(
        answers_to_reports, 1,
        "the offensive answer became a report"
    );
    assert_eq!(mails_of(&g.sink, "answer_ack", 1).await.len(), 1);

    // Zalo: a request for detail, an offensive answer, then a proper one.
    let u = "U-offensive-1";
    let zcode = g.converse(u, "of").await;
    let zid = g.id_of(&zcode).await;
    let (s, m) = g
        .message(
            &zid,
            json!({"kind": "request_detail", "text": "Đề nghị ông/bà cho biết số hiệu cột đèn."}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    g.fake
        .wait_said(u, |s| s.iter().any(|m| m.contains("số hiệu cột đèn")))
        .await;
    let before = g.fake.delivered_to(u).len();
    g.send_zalo(&events::text(u, "of-bad", OFFENSIVE, g.ms()))
        .await;
    let said = g
        .fake
        .wait_said(u, |s| {
            s.len() > before && s.last().is_some_and(|m| m.contains("thô tục"))
        })
        .await;
    assert!(said.last().unwrap().contains(&zcode), "{said:?}");
    // Nothing else is said (a new draft would be answered with what it still needs).
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        g.fake.delivered_to(u).len(),
        before + 1,
        "{:#?}",
        &g.fake.delivered_to(u)[before..]
    );
    let report = g.report(&zid).await;
    assert!(
        report["answers"].as_array().is_none_or(|a| a.is_empty()),
        "{report}"
    );
    // The conversation still answers the report.
    g.send_zalo(&events::text(u, "of-good", "Cột số LA15 ạ", g.ms()))
        .await;
    g.fake
        .wait_said(u, |s| {
            s.iter()
                .any(|m| m.contains("đã nhận thông tin ông/bà gửi bổ sung"))
        })
        .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let answers = loop {
        let report = g.report(&zid).await;
        let a = report["answers"].as_array().cloned().unwrap_or_default();
        if !a.is_empty() || Instant::now() > deadline {
            break a;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(answers[0]["text"], "Cột số LA15 ạ");
}
