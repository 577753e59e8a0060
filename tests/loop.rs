//! The IOC's messages to the citizen (issue 12 point 1, R-MSG-IOC) through the running gateway:
//! the API on a real socket, the email channel against a real Dovecot and a real SMTP server,
//! the Zalo OA channel against the fake Zalo, the app backend's webhook on a local server — on
//! the embedded store and on a real Redis.
//!
//! - app report: the message is on the tracking view (JSON and HTML) and POSTed to the app's
//!   backend signed with HMAC-SHA256; an internal note is neither; bad requests are refused;
//! - email report: the message is a reply in the citizen's thread (In-Reply-To/References, the
//!   tracking code in the subject) and its delivery is recorded as sent;
//! - Zalo OA report: an OA message, recorded as sent; when Zalo answers -230 the message is
//!   recorded undeliverable with the reason; when it answers -232 for a citizen who gave an
//!   email address, the message goes there instead.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use channels::email::{self as email_channel, TlsMode};
use channels::zalo::{self, ZaloChannel, ZaloConfig};
use channels::{CancellationToken, ChannelConfig, ChannelContext, Intake, RunningChannel};
use gateway::pipeline::Pipeline;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::dovecot::Dovecot;
use crate::support::fake_zalo::{events, FakeZalo};
use crate::support::gateway::{client, get, get_with, InProcess, IOC_KEY, SUBMIT_KEY};
use crate::support::redis::RedisServer;
use crate::support::smtp::SmtpSink;
use crate::support::{report_form, report_json};

const WEBHOOK_SECRET: &str = "loop-webhook-secret-0123456789";

/// A valid 2×2 PNG without EXIF, like a chat photo.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x08, 0x02, 0x00, 0x00, 0x00, 0xfd, 0xd4, 0x9a,
    0x73, 0x00, 0x00, 0x00, 0x11, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0x00,
    0x44, 0x60, 0xe2, 0x3f, 0x03, 0x00, 0x1d, 0xf0, 0x03, 0xfd, 0xa0, 0x33, 0x09, 0x89, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// What the app's backend received: (signature header, body).
type Hooked = Arc<Mutex<Vec<(Option<String>, Vec<u8>)>>>;

/// The gateway with its email and Zalo channels running, and everything they talk to.
struct Loop {
    gw: InProcess,
    base: String,
    pipeline: Arc<Pipeline>,
    dovecot: Dovecot,
    sink: SmtpSink,
    fake: FakeZalo,
    zalo_base: String,
    hooked: Hooked,
    _email: RunningChannel,
    _zalo: Arc<ZaloChannel<Pipeline, gateway::store::ChannelStore>>,
    shutdown: CancellationToken,
    _redis: Option<RedisServer>,
}

impl Drop for Loop {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The app's backend: records what it is sent, answers 204.
async fn app_backend() -> (String, Hooked) {
    let hooked: Hooked = Arc::default();
    let h = hooked.clone();
    let app = axum::Router::new().route(
        "/1022",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let h = h.clone();
                async move {
                    let sig = headers
                        .get("x-1022-signature")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    h.lock().unwrap().push((sig, body.to_vec()));
                    StatusCode::NO_CONTENT
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/1022"), hooked)
}

impl Loop {
    async fn start(redis: Option<RedisServer>) -> Loop {
        let fake = FakeZalo::start().await;
        let dovecot = Dovecot::start();
        let sink = SmtpSink::start();
        let (hook_url, hooked) = app_backend().await;
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
        let redis_url = redis.as_ref().map(|r| r.url().into());
        let (e, z) = (email_config.clone(), zalo_config.clone());
        let gw = InProcess::start(move |c| {
            c.redis_url = redis_url;
            c.track.lookups_per_minute = 1000;
            c.email = Some(e);
            c.zalo = Some(z);
            c.messages.webhook_url = Some(hook_url);
            c.messages.webhook_secret = Some(WEBHOOK_SECRET.into());
        })
        .await;
        let pipeline = gw.state.pipeline.clone();
        let shutdown = CancellationToken::new();
        let ctx = ChannelContext {
            intake: pipeline.clone(),
            store: pipeline.channel_store(Duration::from_secs(5)),
            instance_id: "loop".into(),
            shutdown: shutdown.clone(),
            staging: pipeline.staging_dir(),
            validation: pipeline.validation().clone(),
        };
        let email = email_config.build(&ctx).expect("email channel starts");
        let zalo_channel = ZaloChannel::new(zalo_config, &ctx).expect("zalo channel builds");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = zalo::router(zalo_channel.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        zalo::spawn_workers(zalo_channel.clone());
        let base = gw.serve().await;
        Loop {
            gw,
            base,
            pipeline,
            dovecot,
            sink,
            fake,
            zalo_base: format!("http://{addr}"),
            hooked,
            _email: email,
            _zalo: zalo_channel,
            shutdown,
            _redis: redis,
        }
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

    async fn messages(&self, id: &str) -> Value {
        let res = get_with(format!("{}/v1/reports/{id}/messages", self.base), IOC_KEY).await;
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
            let all = self.messages(id).await;
            let attempts = all["messages"]
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

    fn ms(&self) -> i64 {
        self.pipeline.now().timestamp_millis()
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

    /// The id of the report behind a tracking code.
    async fn id_of(&self, code: &str) -> String {
        self.pipeline
            .track(code)
            .await
            .unwrap()
            .expect("the code finds its report")
            .id
    }
}

impl Loop {
    /// The IOC's queue entries of `kind` about report `id` (claimed now; 60 s at most until
    /// there are `n`).
    async fn queued(&self, kind: &str, id: &str, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut found: Vec<Value> = Vec::new();
        loop {
            let res = get_with(
                format!("{}/v1/ioc/queue?max=100&consumer=loop-{kind}", self.base),
                IOC_KEY,
            )
            .await;
            let v: Value = res.json().await.unwrap();
            for e in v["entries"].as_array().unwrap() {
                let matches = e["kind"] == kind
                    && (e["report"]["report_id"] == id || e["report"]["id"] == id);
                if matches {
                    found.push(e.clone());
                }
            }
            if found.len() >= n || Instant::now() > deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn answers(&self, id: &str) -> Vec<Value> {
        let res = get_with(format!("{}/v1/reports/{id}", self.base), IOC_KEY).await;
        let v: Value = res.json().await.unwrap();
        v["answers"].as_array().cloned().unwrap_or_default()
    }

    async fn answers_until(&self, id: &str, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let a = self.answers(id).await;
            if a.len() >= n || Instant::now() > deadline {
                return a;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn track_post(&self, code: &str, what: &str, body: Value) -> (StatusCode, Value) {
        let res = client()
            .post(format!("{}/v1/track/{code}/{what}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }
}

fn outcomes(attempts: &[Value]) -> Vec<(String, String)> {
    attempts
        .iter()
        .map(|a| {
            (
                a["route"].as_str().unwrap_or_default().to_string(),
                a["outcome"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn has(attempts: &[Value], route: &str, outcome: &str) -> bool {
    outcomes(attempts)
        .iter()
        .any(|(r, o)| r == route && o == outcome)
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

/// The subject and text of a mail the gateway sent, decoded.
fn decoded(raw: &[u8]) -> (String, String) {
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
    .expect("the mail parses");
    (
        parsed.report.content.title.unwrap_or_default(),
        parsed.report.content.text,
    )
}

/// Mails the sink got that carry an IOC message (their Message-ID says so).
async fn ioc_mails(sink: &SmtpSink, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mails: Vec<String> = sink
            .messages()
            .into_iter()
            .map(|m| String::from_utf8_lossy(&m).into_owned())
            .filter(|m| header(m, "Message-ID").is_some_and(|h| h.contains("ioc_message.")))
            .collect();
        if mails.len() >= n || Instant::now() > deadline {
            return mails;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        mod embedded_backend {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
              async fn $name() { super::$name(super::Loop::start(None).await).await })+
        }
        mod redis_backend {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
              async fn $name() {
                  super::$name(super::Loop::start(Some(crate::support::redis::RedisServer::start())).await).await
              })+
        }
    };
}

both_backends!(the_ioc_messages_the_citizen_on_every_channel);

async fn the_ioc_messages_the_citizen_on_every_channel(l: Loop) {
    app_report(&l).await;
    email_report(&l).await;
    zalo_report(&l).await;
    // Nothing personal in the gateway's answers' logs is checked by `trust.rs`; the webhook
    // body carries ids and the message only.
    for (_, body) in l.hooked.lock().unwrap().iter() {
        let text = String::from_utf8_lossy(body);
        for private in ["Nguyễn Văn An", "912345678", "Hùng Vương", "@"] {
            assert!(
                !text.contains(private),
                "`{private}` sent to the app: {text}"
            );
        }
    }
    let _ = &l.gw;
}

async fn app_report(l: &Loop) {
    let res = client()
        .post(format!("{}/v1/reports", l.base))
        .bearer_auth(SUBMIT_KEY)
        .multipart(report_form(&report_json(), "den.jpg"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let sub: Value = res.json().await.unwrap();
    let id = sub["id"].as_str().unwrap();
    let code = sub["tracking_code"].as_str().unwrap();

    // Refused: no text, too long a text, control characters, an unknown kind or report, the
    // wrong key.
    for body in [
        json!({"kind": "request_detail", "text": "   "}),
        json!({"kind": "request_detail", "text": "á".repeat(1501)}),
        json!({"kind": "request_detail", "text": "Xin\u{7} chào"}),
    ] {
        let (s, b) = l.message(id, body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    }
    let (s, _) = l
        .message(id, json!({"kind": "khen_thuong", "text": "Cảm ơn."}))
        .await;
    assert!(s.is_client_error(), "{s}");
    let (s, _) = l
        .message(
            "01NOSUCHREPORT",
            json!({"kind": "other", "text": "Cảm ơn."}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let res = client()
        .post(format!("{}/v1/reports/{id}/messages", l.base))
        .bearer_auth(SUBMIT_KEY)
        .json(&json!({"kind": "other", "text": "Cảm ơn."}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(
        l.hooked.lock().unwrap().is_empty(),
        "nothing refused was sent"
    );

    // A request for detail: on the tracking view and at the app's backend, signed.
    let text = "Đề nghị ông/bà chụp thêm ảnh cột đèn từ xa để thấy số hiệu cột.";
    let (s, m) = l
        .message(id, json!({"kind": "request_detail", "text": text}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let attempts = m["message"]["attempts"].as_array().unwrap().clone();
    assert!(has(&attempts, "tracking_page", "sent"), "{attempts:?}");
    assert!(has(&attempts, "webhook", "sent"), "{attempts:?}");
    let message_id = m["message"]["id"].as_str().unwrap();
    {
        let hooked = l.hooked.lock().unwrap();
        assert_eq!(hooked.len(), 1);
        let (sig, body) = &hooked[0];
        use hmac::Mac;
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
        mac.update(body);
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(
            sig.as_deref(),
            Some(expected.as_str()),
            "signed over the body"
        );
        let v: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["report_id"], id);
        assert_eq!(v["tracking_code"], code);
        assert_eq!(v["message_id"], message_id);
        assert_eq!(v["kind"], "request_detail");
        assert_eq!(v["text"], text);
    }

    // An internal note: recorded for the IOC, sent nowhere.
    let note = "Ghi chú nội bộ: đã gọi điện lực kiểm tra.";
    let (s, m) = l
        .message(id, json!({"kind": "other", "text": note, "internal": true}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    assert_eq!(m["message"]["internal"], true);
    assert!(m["message"].get("attempts").is_none(), "{m}");
    assert_eq!(l.hooked.lock().unwrap().len(), 1, "notes are not sent");

    // The citizen's view: the message, not the note, not who wrote it.
    let res = get(format!("{}/v1/track/{code}", l.base)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.text().await.unwrap();
    let t: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(t["messages"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(t["messages"][0]["kind"], "request_detail");
    assert_eq!(t["messages"][0]["label"], "Đề nghị bổ sung thông tin");
    assert_eq!(t["messages"][0]["text"], text);
    assert!(!body.contains("nội bộ") && !body.contains("ioc:"), "{body}");
    let html = get(format!("{}/track/{code}", l.base))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Thông báo của Trung tâm 1022"), "{html}");
    assert!(html.contains("chụp thêm ảnh cột đèn"), "{html}");
    assert!(!html.contains("nội bộ"), "{html}");

    // The IOC's view: both, with their attempts, on the report and on its messages.
    let all = l.messages(id).await;
    assert_eq!(all["tracking_code"], code);
    assert_eq!(all["messages"].as_array().unwrap().len(), 2);
    let res = get_with(format!("{}/v1/reports/{id}", l.base), IOC_KEY).await;
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["messages"].as_array().unwrap().len(), 2);
    assert!(report["messages"][0]["actor"]
        .as_str()
        .unwrap()
        .starts_with("ioc:"));

    // The citizen answers with the code and their phone number (point 2); a wrong contact
    // finds nothing.
    let answer = "Cột đèn số 15, cạnh trạm xe buýt.";
    let (s, _) = l
        .track_post(
            code,
            "messages",
            json!({"contact": "0987 654 321", "text": answer}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, b) = l
        .track_post(
            code,
            "messages",
            json!({"contact": "+84 912 345 678", "text": "  "}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (s, b) = l
        .track_post(
            code,
            "messages",
            json!({"contact": "0912.345.678", "text": answer}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["kind"], "citizen_message");
    assert!(b["message_vi"].as_str().unwrap().contains(code), "{b}");
    let entries = l.queued("citizen_message", id, 1).await;
    assert_eq!(entries.len(), 1, "queued for the IOC as a citizen_message");
    assert_eq!(entries[0]["report"]["answer"]["text"], answer);
    assert_eq!(entries[0]["report"]["tracking_code"], code);
    let queued = entries[0]["report"].to_string();
    assert!(!queued.contains("912"), "no contact in the entry: {queued}");

    // Ratings (point 6): none before a result; then one, by the reporter, with a reason when
    // not satisfied.
    let (s, b) = l
        .track_post(
            code,
            "rating",
            json!({"contact": "0912345678", "rating": "satisfied"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    let (s, m) = l
        .message(
            id,
            json!({"kind": "result", "text": "Đã thay bóng đèn cột số 15 ngày 29/11/2026."}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let t: Value = get(format!("{}/v1/track/{code}", l.base))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(t["rating_requested"], true, "{t}");
    let (s, b) = l
        .track_post(
            code,
            "rating",
            json!({"contact": "0912345678", "rating": "dissatisfied"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (s, _) = l
        .track_post(
            code,
            "rating",
            json!({"contact": "0900000000", "rating": "very_satisfied"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "only the reporter rates");
    let (s, b) = l
        .track_post(
            code,
            "rating",
            json!({"contact": "0912345678", "rating": "dissatisfied", "reason": "Đèn lại tắt sau một ngày."}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["kind"], "rating");
    let (s, b) = l
        .track_post(
            code,
            "rating",
            json!({"contact": "0912345678", "rating": "satisfied"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "one rating per result: {b}");
    let entries = l.queued("rating", id, 1).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0]["report"]["answer"]["rating"]["value"],
        "dissatisfied"
    );
    let answers = l.answers(id).await;
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert_eq!(answers[1]["rating"]["reason"], "Đèn lại tắt sau một ngày.");
    let t: Value = get(format!("{}/v1/track/{code}", l.base))
        .await
        .json()
        .await
        .unwrap();
    assert!(t.get("rating_requested").is_none(), "{t}");
    assert!(
        !t.to_string().contains("Đèn lại tắt"),
        "answers are not public: {t}"
    );
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

async fn email_report(l: &Loop) {
    l.dovecot
        .append("gateway", "INBOX", &mail("loop-1@example.vn"))
        .await;
    // The acknowledgement carries the code.
    let acks = l.sink.wait_for(1, Duration::from_secs(60)).await;
    assert_eq!(acks.len(), 1, "the acknowledgement");
    let (_, ack_text) = decoded(&acks[0]);
    let code = ack_text
        .split("LA-")
        .nth(1)
        .map(|s| format!("LA-{}", &s[..9]))
        .expect("the code in the acknowledgement");
    let id = l.id_of(&code).await;

    let text = "Điện lực Tân An đã thay bóng đèn ngày 29/11/2026. Cảm ơn ông/bà đã phản ánh.";
    let (s, m) = l
        .message(&id, json!({"kind": "result", "text": text}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let message_id = m["message"]["id"].as_str().unwrap().to_string();
    let attempts = m["message"]["attempts"].as_array().unwrap().clone();
    assert!(has(&attempts, "email", "queued"), "{attempts:?}");

    let mails = ioc_mails(&l.sink, 1).await;
    assert_eq!(mails.len(), 1, "the message was mailed");
    let raw = &mails[0];
    assert_eq!(
        header(raw, "In-Reply-To").as_deref(),
        Some("<loop-1@example.vn>")
    );
    assert!(
        header(raw, "References").is_some_and(|r| r.contains("<loop-1@example.vn>")),
        "{raw}"
    );
    let (subject, body) = decoded(raw.as_bytes());
    assert!(subject.contains(&code), "{subject}");
    assert!(subject.contains("Đèn đường hỏng"), "{subject}");
    assert!(body.contains(text), "{body}");
    assert!(body.contains("Kết quả xử lý"), "{body}");

    let attempts = l
        .attempts_until(&id, &message_id, |a| has(a, "email", "sent"))
        .await;
    assert!(has(&attempts, "email", "sent"), "{attempts:?}");
    assert_eq!(
        outcomes(&attempts).first().map(|(r, _)| r.as_str()),
        Some("tracking_page")
    );

    // The citizen replies in the thread: a rating of the result, not a new report.
    let ioc_mail_id = header(raw, "Message-ID").unwrap();
    l.dovecot
        .append(
            "gateway",
            "INBOX",
            &reply(
                "loop-2@example.vn",
                &format!("In-Reply-To: {ioc_mail_id}\r\nReferences: <loop-1@example.vn> {ioc_mail_id}\r\n"),
                "Re: Đèn đường hỏng",
                "Rất hài lòng, cảm ơn Trung tâm.",
            ),
        )
        .await;
    let answers = l.answers_until(&id, 1).await;
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(answers[0]["rating"]["value"], "very_satisfied");
    assert_eq!(answers[0]["channel"], "email");
    assert_eq!(l.queued("rating", &id, 1).await.len(), 1);

    // Later, a mail quoting the code in its subject: more detail for the IOC.
    l.dovecot
        .append(
            "gateway",
            "INBOX",
            &reply(
                "loop-3@example.vn",
                "",
                &format!("Bổ sung phản ánh {code}"),
                "Đèn ở cột bên cạnh cũng chập chờn từ tối nay.",
            ),
        )
        .await;
    let answers = l.answers_until(&id, 2).await;
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert!(answers[1]["rating"].is_null());
    assert!(answers[1]["text"]
        .as_str()
        .unwrap()
        .contains("cột bên cạnh cũng chập chờn"));
    assert_eq!(l.queued("citizen_message", &id, 1).await.len(), 1);
    // Each answer was acknowledged, and none became a report of its own.
    let deadline = Instant::now() + Duration::from_secs(60);
    let acks = loop {
        let acks: Vec<String> = l
            .sink
            .messages()
            .into_iter()
            .map(|m| String::from_utf8_lossy(&m).into_owned())
            .filter(|m| header(m, "Message-ID").is_some_and(|h| h.contains("answer_ack.")))
            .collect();
        if acks.len() >= 2 || Instant::now() > deadline {
            break acks;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(acks.len(), 2);
    let (_, first) = decoded(acks[0].as_bytes());
    assert!(first.contains(&code), "{first}");
    // A mail taken as a new report would have been acknowledged as one: only the first was.
    let report_acks = l
        .sink
        .messages()
        .into_iter()
        .map(|m| String::from_utf8_lossy(&m).into_owned())
        .filter(|m| {
            header(m, "Message-ID")
                .is_some_and(|h| h.starts_with("<ack.") || h.starts_with("<rejection."))
        })
        .count();
    assert_eq!(report_acks, 1, "an answer became a report");
}

/// A reply of the citizen, authenticated (DKIM of their domain).
fn reply(message_id: &str, thread: &str, subject: &str, text: &str) -> Vec<u8> {
    let subject = format!("=?UTF-8?B?{}?=", base64_encode(subject.as_bytes()));
    format!(
        "Authentication-Results: mx.longan.gov.vn; dkim=pass header.d=example.vn\r\n\
         From: =?UTF-8?Q?V=C3=B5_Minh_Kh=C3=B4i?= <khoi@example.vn>\r\n\
         To: 1022@longan.gov.vn\r\n\
         Subject: {subject}\r\n\
         Message-ID: <{message_id}>\r\n\
         {thread}\
         Date: Sat, 28 Nov 2026 09:40:00 +0700\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=UTF-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         {text}\r\n"
    )
    .into_bytes()
}

fn base64_encode(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

async fn zalo_report(l: &Loop) {
    // Delivered in the conversation.
    let u = "U-loop-1";
    let code = l.converse(u, "lz").await;
    let id = l.id_of(&code).await;
    let text = "Phản ánh đã được chuyển đến UBND phường Long An để xử lý.";
    let (s, m) = l
        .message(&id, json!({"kind": "forwarded", "text": text}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let message_id = m["message"]["id"].as_str().unwrap().to_string();
    assert!(has(
        m["message"]["attempts"].as_array().unwrap(),
        "zalo_oa",
        "queued"
    ));
    let said = l
        .fake
        .wait_said(u, |s| s.iter().any(|m| m.contains(text)))
        .await;
    let got = said.iter().find(|m| m.contains(text)).unwrap();
    assert!(got.contains(&code), "{got}");
    let attempts = l
        .attempts_until(&id, &message_id, |a| has(a, "zalo_oa", "sent"))
        .await;
    assert!(has(&attempts, "zalo_oa", "sent"), "{attempts:?}");

    // A request for detail, and the citizen's text outside a draft answers it (point 2).
    let (s, m) = l
        .message(
            &id,
            json!({"kind": "request_detail", "text": "Đề nghị ông/bà cho biết số hiệu cột đèn."}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    l.fake
        .wait_said(u, |s| s.iter().any(|m| m.contains("số hiệu cột đèn")))
        .await;
    l.send_zalo(&events::text(u, "lz-answer", "Cột số LA15 ạ", l.ms()))
        .await;
    let said = l
        .fake
        .wait_said(u, |s| {
            s.iter()
                .any(|m| m.contains("đã nhận thông tin ông/bà gửi bổ sung"))
        })
        .await;
    assert!(said.last().unwrap().contains(&code), "{said:?}");
    let answers = l.answers_until(&id, 1).await;
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(answers[0]["text"], "Cột số LA15 ạ");
    assert_eq!(answers[0]["channel"], "zalo_oa");
    assert_eq!(l.queued("citizen_message", &id, 1).await.len(), 1);

    // The window has closed and the citizen gave no email: undeliverable, with the reason.
    l.fake.script_cs_errors(&[-230]);
    let (s, m) = l
        .message(
            &id,
            json!({"kind": "other", "text": "Đề nghị ông/bà liên hệ số 1022 khi cần."}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let closed_id = m["message"]["id"].as_str().unwrap().to_string();
    let attempts = l
        .attempts_until(&id, &closed_id, |a| has(a, "zalo_oa", "undeliverable"))
        .await;
    let failed = attempts
        .iter()
        .find(|a| a["route"] == "zalo_oa" && a["outcome"] == "undeliverable")
        .unwrap_or_else(|| panic!("{attempts:?}"));
    let reason = failed["reason"].as_str().unwrap();
    assert!(reason.contains("-230"), "{reason}");
    assert!(reason.contains("no other contact"), "{reason}");
    assert!(!has(&attempts, "email", "queued"), "{attempts:?}");

    // A Zalo OA report whose citizen also gave an email address (taken in through the real
    // pipeline as the OA channel hands it over): -232 sends it there.
    let mut report = l.pipeline.report(&id).await.unwrap().unwrap();
    report.id = String::new();
    report.tracking_code = String::new();
    report.reporter.email = Some("an.nguyen@example.vn".into());
    report.messages.clear();
    report.trail.clear();
    let outcome = l
        .pipeline
        .ingest(channels::Submission {
            dedup_key: "loop-zalo-with-email".into(),
            raw: bytes::Bytes::from_static(b"{}"),
            report,
            media: Vec::new(),
            origin: channels::Origin::ZaloOa {
                oa_id: "OA-loop".into(),
                user_id: "U-loop-2".into(),
            },
        })
        .await
        .unwrap();
    let before = ioc_mails(&l.sink, 0).await.len();
    l.fake.script_cs_errors(&[-232]);
    let text = "Đề nghị ông/bà cho biết thêm thời điểm đèn bắt đầu hỏng.";
    let (s, m) = l
        .message(&outcome.id, json!({"kind": "request_detail", "text": text}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let fallback_id = m["message"]["id"].as_str().unwrap().to_string();
    let attempts = l
        .attempts_until(&outcome.id, &fallback_id, |a| has(a, "email", "sent"))
        .await;
    assert!(has(&attempts, "zalo_oa", "undeliverable"), "{attempts:?}");
    assert!(has(&attempts, "email", "queued"), "{attempts:?}");
    assert!(has(&attempts, "email", "sent"), "{attempts:?}");
    let mails = ioc_mails(&l.sink, before + 1).await;
    let mail = mails
        .iter()
        .find(|m| header(m, "To").is_some_and(|t| t.contains("an.nguyen@example.vn")))
        .expect("the message went to the citizen's email address");
    let (subject, body) = decoded(mail.as_bytes());
    assert!(subject.contains(&outcome.tracking_code), "{subject}");
    assert!(body.contains(text), "{body}");
    assert!(body.contains("không gửi được qua Zalo"), "{body}");
}
