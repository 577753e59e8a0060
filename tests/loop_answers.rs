//! Citizens' answers through the Vietnamese text checks (issue 12, H8 point 3), through the
//! running gateway on the embedded store and on Redis: `POST /v1/track/{code}/messages` refuses
//! an answer with vulgar or offensive words (Đ7.6) with the Vietnamese reason and attaches
//! nothing; an answer typed without marks is attached (Đ6.1 governs reports, not the exchange
//! that follows) and flagged for the IOC on the report and in its queue entry; a rating's
//! reason goes through the same checks.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::gateway::{client, get_with, InProcess, IOC_KEY, SUBMIT_KEY};
use crate::support::redis::RedisServer;
use crate::support::{report_form, report_json};

struct Gw {
    _gw: InProcess,
    base: String,
    _redis: Option<RedisServer>,
}

async fn start(redis: Option<RedisServer>) -> Gw {
    let redis_url = redis.as_ref().map(|r| r.url().into());
    let gw = InProcess::start(move |c| {
        c.redis_url = redis_url;
        c.track.lookups_per_minute = 1000;
    })
    .await;
    let base = gw.serve().await;
    Gw {
        _gw: gw,
        base,
        _redis: redis,
    }
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
async fn answers_are_checked_embedded() {
    answers_are_checked(start(None).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_checked_redis() {
    answers_are_checked(start(Some(RedisServer::start())).await).await;
}

async fn answers_are_checked(g: Gw) {
    let res = client()
        .post(format!("{}/v1/reports", g.base))
        .bearer_auth(SUBMIT_KEY)
        .multipart(report_form(&report_json(), "den.jpg"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let sub: Value = res.json().await.unwrap();
    let id = sub["id"].as_str().unwrap();
    let code = sub["tracking_code"].as_str().unwrap();
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
