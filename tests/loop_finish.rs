//! The loop with the citizen finished (issue 12), through the running gateway on the embedded
//! store and on Redis.
//!
//! The app backend's webhook: a delivery that fails is tried again from the durable
//! `outbound:webhook` outbox with back-off, every attempt recorded on the message; a backend
//! that fails twice then accepts gets the message on the third attempt, signed each time; one
//! that never accepts is given up after `webhook_max_attempts`, recorded `undeliverable`.
//!
//! Citizens' answers through the Vietnamese text checks: `POST /v1/track/{code}/messages` refuses
//! an answer with vulgar or offensive words (Đ7.6) with the Vietnamese reason and attaches
//! nothing; an answer typed without marks is attached (Đ6.1 governs reports, not the exchange
//! that follows) and flagged for the IOC on the report and in its queue entry; a rating's
//! reason goes through the same checks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::gateway::{client, get_with, InProcess, IOC_KEY, SUBMIT_KEY};
use crate::support::redis::RedisServer;
use crate::support::{report_form, report_json};

const WEBHOOK_SECRET: &str = "finish-webhook-secret-0123456789";

/// What the app's backend was sent: (signature header, body, status answered).
type Hooked = Arc<Mutex<Vec<(Option<String>, Vec<u8>, u16)>>>;

/// The app's backend: answers 503 to the first two deliveries of each message, then 204; to
/// messages whose text says "không bao giờ", always 503.
async fn flaky_backend() -> (String, Hooked) {
    let hooked: Hooked = Arc::default();
    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let h = hooked.clone();
    let app = axum::Router::new().route(
        "/1022",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let (h, seen) = (h.clone(), seen.clone());
                async move {
                    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let id = v["message_id"].as_str().unwrap_or_default().to_string();
                    let n = {
                        let mut seen = seen.lock().unwrap();
                        let n = seen.entry(id).or_default();
                        *n += 1;
                        *n
                    };
                    let never = v["text"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("không bao giờ");
                    let status = if never || n <= 2 {
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        StatusCode::NO_CONTENT
                    };
                    let sig = headers
                        .get("x-1022-signature")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    h.lock()
                        .unwrap()
                        .push((sig, body.to_vec(), status.as_u16()));
                    status
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

struct Gw {
    _gw: InProcess,
    base: String,
    hooked: Hooked,
    shutdown: channels::CancellationToken,
    _redis: Option<RedisServer>,
}

impl Drop for Gw {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start(redis: Option<RedisServer>) -> Gw {
    let redis_url = redis.as_ref().map(|r| r.url().into());
    let (hook_url, hooked) = flaky_backend().await;
    let gw = InProcess::start(move |c| {
        c.redis_url = redis_url;
        c.track.lookups_per_minute = 1000;
        c.messages.webhook_url = Some(hook_url);
        c.messages.webhook_secret = Some(WEBHOOK_SECRET.into());
        c.messages.webhook_max_attempts = 4;
        c.messages.webhook_retry_base_ms = 100;
    })
    .await;
    let base = gw.serve().await;
    // The outbox's sender, as `gateway serve` runs it.
    let shutdown = channels::CancellationToken::new();
    tokio::spawn(gateway::conversation::run_webhook_outbox(
        gw.state.pipeline.clone(),
        "finish".into(),
        shutdown.clone(),
    ));
    Gw {
        _gw: gw,
        base,
        hooked,
        shutdown,
        _redis: redis,
    }
}

/// (route, outcome) of each attempt.
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

fn webhook(attempts: &[Value]) -> Vec<String> {
    outcomes(attempts)
        .into_iter()
        .filter(|(r, _)| r == "webhook")
        .map(|(_, o)| o)
        .collect()
}

impl Gw {
    async fn post(&self, path: &str, key: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut req = client().post(format!("{}{path}", self.base)).json(&body);
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// The attempts of message `message_id`, once its webhook delivery is settled (sent or
    /// undeliverable; 30 s at most).
    async fn settled(&self, id: &str, message_id: &str) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let res = get_with(format!("{}/v1/reports/{id}/messages", self.base), IOC_KEY).await;
            assert_eq!(res.status(), StatusCode::OK);
            let v: Value = res.json().await.unwrap();
            let attempts = v["messages"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["id"] == message_id)
                .and_then(|m| m["attempts"].as_array().cloned())
                .unwrap_or_default();
            let done = webhook(&attempts)
                .iter()
                .any(|o| o == "sent" || o == "undeliverable");
            if done || Instant::now() > deadline {
                return attempts;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn answers(&self, id: &str) -> Vec<Value> {
        let res = get_with(format!("{}/v1/reports/{id}", self.base), IOC_KEY).await;
        assert_eq!(res.status(), StatusCode::OK);
        let v: Value = res.json().await.unwrap();
        v["answers"].as_array().cloned().unwrap_or_default()
    }

    /// The IOC's `citizen_message` entries about report `id` (30 s at most until `n`).
    async fn queued(&self, id: &str, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut found = Vec::new();
        loop {
            let res = get_with(
                format!("{}/v1/ioc/queue?max=100&consumer=answers", self.base),
                IOC_KEY,
            )
            .await;
            let v: Value = res.json().await.unwrap();
            for e in v["entries"].as_array().unwrap() {
                if e["kind"] == "citizen_message" && e["report"]["report_id"] == id {
                    found.push(e.clone());
                }
            }
            if found.len() >= n || Instant::now() > deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_is_tried_again_embedded() {
    the_webhook_is_tried_again(start(None).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_is_tried_again_redis() {
    the_webhook_is_tried_again(start(Some(RedisServer::start())).await).await;
}

async fn app_report(g: &Gw) -> (String, String) {
    let res = client()
        .post(format!("{}/v1/reports", g.base))
        .bearer_auth(SUBMIT_KEY)
        .multipart(report_form(&report_json(), "den.jpg"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let sub: Value = res.json().await.unwrap();
    (
        sub["id"].as_str().unwrap().to_string(),
        sub["tracking_code"].as_str().unwrap().to_string(),
    )
}

async fn the_webhook_is_tried_again(g: Gw) {
    let (id, code) = app_report(&g).await;
    let text = "Đề nghị ông/bà chụp thêm ảnh cột đèn từ xa để thấy số hiệu cột.";
    let (s, m) = g
        .post(
            &format!("/v1/reports/{id}/messages"),
            Some(IOC_KEY),
            json!({"kind": "request_detail", "text": text}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let message_id = m["message"]["id"].as_str().unwrap().to_string();
    // The first attempt failed at once; the retry is queued.
    let first = m["message"]["attempts"].as_array().unwrap().clone();
    assert_eq!(webhook(&first), ["failed", "queued"], "{first:?}");
    let reason = first
        .iter()
        .find(|a| a["outcome"] == "failed")
        .and_then(|a| a["reason"].as_str())
        .unwrap_or_default();
    assert!(reason.contains("503"), "{reason}");

    // Failed twice, accepted on the third attempt; each attempt recorded with its time.
    let attempts = g.settled(&id, &message_id).await;
    assert_eq!(
        webhook(&attempts),
        ["failed", "queued", "failed", "sent"],
        "{attempts:?}"
    );
    let times: Vec<chrono::DateTime<chrono::Utc>> = attempts
        .iter()
        .filter(|a| a["route"] == "webhook")
        .map(|a| a["at"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert!(
        times[3] - times[0] >= chrono::Duration::milliseconds(300),
        "backed off 100 ms then 200 ms: {times:?}"
    );
    {
        let hooked = g.hooked.lock().unwrap();
        let ours: Vec<_> = hooked
            .iter()
            .filter(|(_, b, _)| String::from_utf8_lossy(b).contains(&message_id))
            .collect();
        assert_eq!(
            ours.iter().map(|(_, _, s)| *s).collect::<Vec<_>>(),
            [503, 503, 204]
        );
        for (sig, body, _) in &ours {
            assert_eq!(body, &ours[0].1, "the same body each time");
            use hmac::Mac;
            let mut mac =
                hmac::Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
            mac.update(body);
            let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
            assert_eq!(sig.as_deref(), Some(expected.as_str()), "signed each time");
        }
        let v: Value = serde_json::from_slice(&ours[0].1).unwrap();
        assert_eq!(v["tracking_code"], code.as_str());
        assert_eq!(v["text"], text);
    }

    // A backend that never accepts: four attempts in all, then undeliverable with the reason.
    let (s, m) = g
        .post(
            &format!("/v1/reports/{id}/messages"),
            Some(IOC_KEY),
            json!({"kind": "other", "text": "Tin này không bao giờ được nhận."}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let never_id = m["message"]["id"].as_str().unwrap().to_string();
    let attempts = g.settled(&id, &never_id).await;
    assert_eq!(
        webhook(&attempts),
        [
            "failed",
            "queued",
            "failed",
            "failed",
            "failed",
            "undeliverable"
        ],
        "{attempts:?}"
    );
    let last = attempts.last().unwrap()["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(last.contains("gave up after 4 attempts"), "{last}");
    // Nothing more is tried once given up.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let sent = g
        .hooked
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, b, _)| String::from_utf8_lossy(b).contains(&never_id))
        .count();
    assert_eq!(sent, 4);
    // The tracking view shows both messages whatever became of the webhook.
    let res = crate::support::gateway::get(format!("{}/v1/track/{code}", g.base)).await;
    let t: Value = res.json().await.unwrap();
    assert_eq!(t["messages"].as_array().unwrap().len(), 2, "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_checked_embedded() {
    answers_are_checked(start(None).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_checked_redis() {
    answers_are_checked(start(Some(RedisServer::start())).await).await;
}

async fn answers_are_checked(g: Gw) {
    let (id, code) = app_report(&g).await;
    let (id, code) = (id.as_str(), code.as_str());
    let answer_path = format!("/v1/track/{code}/messages");

    // Vulgar words: refused with the reason in Vietnamese, the words not repeated.
    let (s, b) = g
        .post(
            &answer_path,
            None,
            json!({"contact": "0912345678", "text": "Đồ cặc, sao sửa đèn chậm thế."}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let vi = b["message_vi"].as_str().unwrap_or_default();
    assert!(vi.contains("thô tục") && vi.contains("Điều 7"), "{b}");
    assert!(!b.to_string().contains("cặc"), "{b}");
    assert!(g.answers(id).await.is_empty(), "nothing attached");

    // A correct answer: attached, nothing flagged.
    let good = "Cột đèn số 15, cạnh trạm xe buýt.";
    let (s, b) = g
        .post(
            &answer_path,
            None,
            json!({"contact": "0912345678", "text": good}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    // Typed without marks: attached all the same, flagged for the IOC.
    let bare = "Cot den so 15 nam canh tram xe buyt tren duong Nguyen Hue.";
    let (s, b) = g
        .post(
            &answer_path,
            None,
            json!({"contact": "0912345678", "text": bare}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert!(b["message_vi"].as_str().unwrap().contains(code), "{b}");

    let answers = g.answers(id).await;
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert_eq!(answers[0]["text"], good);
    assert!(answers[0].get("flags").is_none(), "{:?}", answers[0]);
    assert_eq!(answers[1]["text"], bare);
    let flags = answers[1]["flags"].as_array().cloned().unwrap_or_default();
    assert!(
        flags.contains(&json!("CONTENT_NO_DIACRITICS")),
        "{:?}",
        answers[1]
    );
    let entries = g.queued(id, 2).await;
    assert_eq!(entries.len(), 2, "{entries:?}");
    let flagged = entries
        .iter()
        .find(|e| e["report"]["answer"]["text"] == bare)
        .expect("the unmarked answer is queued");
    assert!(
        flagged["report"]["answer"]["flags"]
            .as_array()
            .is_some_and(|f| f.contains(&json!("CONTENT_NO_DIACRITICS"))),
        "{flagged}"
    );

    // A rating's reason goes through the same checks.
    let (s, m) = g
        .post(
            &format!("/v1/reports/{id}/messages"),
            Some(IOC_KEY),
            json!({"kind": "result", "text": "Đã thay bóng đèn cột số 15 ngày 29/11/2026."}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let (s, b) = g
        .post(
            &format!("/v1/track/{code}/rating"),
            None,
            json!({"contact": "0912345678", "rating": "dissatisfied", "reason": "Bọn cặc làm ẩu."}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(
        b["message_vi"]
            .as_str()
            .unwrap_or_default()
            .contains("thô tục"),
        "{b}"
    );
    let (s, b) = g
        .post(
            &format!("/v1/track/{code}/rating"),
            None,
            json!({"contact": "0912345678", "rating": "very_satisfied"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["kind"], "rating");
    let answers = g.answers(id).await;
    assert_eq!(answers.len(), 3, "{answers:?}");
    assert!(
        answers[2].get("flags").is_none(),
        "a rating without words is not checked: {:?}",
        answers[2]
    );
}
