//! The tracking page's answer and rating forms (issue 13, issue 12 points 2 and 6): a citizen
//! answers a request for detail with a photo and, after the result, rates the handling — in
//! headless Chromium on a phone-sized viewport (screenshots in `target/screenshots/`) and as
//! plain form posts on the embedded store and on Redis; the IOC reads both through the API.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::browser::Browser;
use crate::support::gateway::{client, get, get_with, InProcess, IOC_KEY, SUBMIT_KEY};
use crate::support::redis::RedisServer;
use crate::support::{fixture, read_fixture};

const PHONE: &str = "0912 345 678";

const LAMP: &str =
    "Đèn đường trước số 15 đường Nguyễn Huệ bị hỏng, cả đoạn đường tối om từ tối qua.";

/// A report from the app with the citizen's phone: (id, tracking code).
async fn report(base: &str, text: &str) -> (String, String) {
    let report = json!({
        "channel": "app",
        "reporter": {"name": "Nguyễn Thị Hoa", "phone": PHONE},
        "content": text,
        "category": {"field": "urban_order"},
        "location": {"address": "15 Nguyễn Huệ, Phường 1, Tân An", "lat": 10.54, "lon": 106.41},
    });
    let form = crate::support::report_form(&report, "photo-no-exif.jpg");
    let res = client()
        .post(format!("{base}/v1/reports"))
        .bearer_auth(SUBMIT_KEY)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    (
        body["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}"))
            .to_string(),
        body["tracking_code"].as_str().unwrap().to_string(),
    )
}

/// The IOC sends the citizen a message of `kind`.
async fn ioc_message(base: &str, id: &str, kind: &str, text: &str) {
    let res = client()
        .post(format!("{base}/v1/reports/{id}/messages"))
        .bearer_auth(IOC_KEY)
        .json(&json!({"kind": kind, "text": text}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
}

/// The report as the IOC reads it.
async fn ioc_report(base: &str, id: &str) -> Value {
    let res = get_with(format!("{base}/v1/reports/{id}"), IOC_KEY).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

/// The IOC queue's entries of `kind` for report `id` (claimed by a fresh consumer each time:
/// only what was not handed out before).
async fn queued(base: &str, consumer: &str) -> Vec<Value> {
    let res = get_with(
        format!("{base}/v1/ioc/queue?max=100&consumer={consumer}"),
        IOC_KEY,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    v["entries"].as_array().cloned().unwrap_or_default()
}

fn of_kind<'a>(entries: &'a [Value], kind: &str, id: &str) -> Vec<&'a Value> {
    entries
        .iter()
        .filter(|e| e["report"]["kind"] == kind && e["report"]["report_id"] == id)
        .collect()
}

/// The hidden key of `form` in the page.
fn form_key(html: &str, form: &str) -> String {
    let at = html
        .find(&format!("id=\"{form}\""))
        .unwrap_or_else(|| panic!("no {form} in {html}"));
    let rest = &html[at..];
    let v = &rest[rest.find("name=\"key\" value=\"").unwrap() + 18..];
    v[..v.find('"').unwrap()].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizen_answers_and_rates_from_the_tracking_page_on_a_phone() {
    let Some(browser) = Browser::start(390, 844).await else {
        return;
    };
    let gw = InProcess::start(|_| {}).await;
    let base = gw.serve().await;
    let t = Duration::from_secs(30);
    let (id, code) = report(&base, LAMP).await;
    // What the IOC held before: the report itself.
    let _ = queued(&base, "before").await;

    // No request, no result: no form.
    let html = get(format!("{base}/track/{code}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !html.contains("answer-form") && !html.contains("rating-form"),
        "{html}"
    );

    ioc_message(
        &base,
        &id,
        "request_detail",
        "Đề nghị ông/bà chụp thêm ảnh cột đèn và cho biết số hiệu cột.",
    )
    .await;
    let res = get(format!("{base}/track/{code}")).await;
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("form-action 'self'"),
        "{csp}"
    );
    assert!(!csp.contains("script-src"), "no script on the page: {csp}");
    let html = res.text().await.unwrap();
    assert!(
        !html.contains("<script") && !html.contains(" style="),
        "{html}"
    );

    browser.goto(&format!("{base}/track/{code}")).await;
    let form = browser.wait_for("#answer-form", t).await;
    assert!(
        browser.find("#rating-form").await.is_none(),
        "no result yet"
    );
    let labels = browser
        .script(
            "return Array.from(document.querySelectorAll('#answer-form input:not([type=hidden]), #answer-form textarea')).every(function (el) { return document.querySelector('label[for=\"' + el.id + '\"]') !== null; });",
            json!([]),
        )
        .await;
    assert_eq!(labels, true, "every control has its label");
    let fits = browser
        .script(
            "return document.documentElement.scrollWidth <= window.innerWidth;",
            json!([]),
        )
        .await;
    assert_eq!(fits, true, "the page fits a phone");
    let _ = form;
    browser.screenshot("track-answer-phone", true).await;

    // A wrong contact: the error beside the field, what was typed kept, as text.
    let typed = "Cột đèn số 15, cạnh trạm xe buýt. </textarea><script>alert(1)</script>";
    browser
        .type_into(
            &browser.wait_for("#answer-contact", t).await,
            "0987 000 111",
        )
        .await;
    browser
        .type_into(&browser.wait_for("#answer-text", t).await, typed)
        .await;
    browser
        .click(&browser.wait_for("#answer-submit", t).await)
        .await;
    let error = browser
        .text(&browser.wait_for("#answer-contact-error", t).await)
        .await;
    assert!(error.contains("không khớp"), "{error}");
    let state = browser
        .script(
            "var c = document.getElementById('answer-contact'); return [c.getAttribute('aria-invalid'), c.getAttribute('aria-describedby'), document.getElementById('answer-text').value, document.querySelectorAll('script').length];",
            json!([]),
        )
        .await;
    assert_eq!(state[0], "true");
    assert!(
        state[1].as_str().unwrap().contains("answer-contact-error"),
        "{state}"
    );
    assert_eq!(state[2], typed, "the text kept, as text");
    assert_eq!(state[3], 0, "no script came in with the text");
    browser.screenshot("track-answer-phone-error", true).await;

    // The reporter's phone and a photo: sent.
    browser
        .type_into(&browser.wait_for("#answer-contact", t).await, PHONE)
        .await;
    let photo = fixture("media/photo-no-exif.jpg");
    browser
        .type_into(
            &browser.wait_for("#answer-photo", t).await,
            photo.to_str().unwrap(),
        )
        .await;
    browser
        .click(&browser.wait_for("#answer-submit", t).await)
        .await;
    let done = browser.text(&browser.wait_for("#form-done", t).await).await;
    assert!(done.contains(&code), "{done}");
    browser.screenshot("track-answer-phone-done", true).await;

    // The IOC sees the answer with its photo, queued as a citizen message.
    let doc = ioc_report(&base, &id).await;
    let answers = doc["answers"].as_array().unwrap();
    assert_eq!(answers.len(), 1, "{doc}");
    assert_eq!(answers[0]["text"], typed);
    let attachments = answers[0]["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1, "{}", answers[0]);
    assert_eq!(attachments[0]["kind"], "photo");
    let entries = queued(&base, "after-answer").await;
    assert_eq!(
        of_kind(&entries, "citizen_message", &id).len(),
        1,
        "{entries:?}"
    );

    // The result: the rating form. "Không hài lòng" without a reason is refused beside it.
    ioc_message(
        &base,
        &id,
        "result",
        "Đã thay bóng đèn cột số 15 ngày 29/11/2026.",
    )
    .await;
    browser.goto(&format!("{base}/track/{code}")).await;
    browser.wait_for("#rating-form", t).await;
    browser.screenshot("track-rating-phone", true).await;
    browser
        .type_into(
            &browser.wait_for("#rating-contact", t).await,
            "+84912345678",
        )
        .await;
    browser
        .click(&browser.wait_for("label[for=rating-dissatisfied]", t).await)
        .await;
    browser
        .click(&browser.wait_for("#rating-submit", t).await)
        .await;
    let error = browser
        .text(&browser.wait_for("#rating-reason-error", t).await)
        .await;
    assert!(error.contains("lý do"), "{error}");
    let checked = browser
        .script(
            "return document.getElementById('rating-dissatisfied').checked;",
            json!([]),
        )
        .await;
    assert_eq!(checked, true, "the choice kept");
    browser.screenshot("track-rating-phone-error", true).await;
    browser
        .type_into(
            &browser.wait_for("#rating-contact", t).await,
            "+84912345678",
        )
        .await;
    browser
        .type_into(
            &browser.wait_for("#rating-reason", t).await,
            "Đèn lại tắt sau một ngày.",
        )
        .await;
    browser
        .click(&browser.wait_for("#rating-submit", t).await)
        .await;
    let done = browser.text(&browser.wait_for("#form-done", t).await).await;
    assert!(done.contains(&code), "{done}");
    assert!(
        browser.find("#rating-form").await.is_none(),
        "one rating per result: the form is gone"
    );
    browser.screenshot("track-rating-phone-done", true).await;
    browser.set_viewport(1280, 900).await;
    browser.screenshot("track-rating-desktop-done", true).await;

    // The IOC sees the rating.
    let doc = ioc_report(&base, &id).await;
    let rating = doc["answers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["rating"].is_object())
        .unwrap_or_else(|| panic!("no rating in {doc}"))
        .clone();
    assert_eq!(rating["rating"]["value"], "dissatisfied");
    assert_eq!(rating["rating"]["reason"], "Đèn lại tắt sau một ngày.");
    let entries = queued(&base, "after-rating").await;
    assert_eq!(of_kind(&entries, "rating", &id).len(), 1, "{entries:?}");

    // A desktop view of a page with the answer form.
    let (id2, code2) = report(
        &base,
        "Cống thoát nước trước chợ phường 2 bị nghẹt, nước tràn lên mặt đường mỗi khi mưa.",
    )
    .await;
    ioc_message(&base, &id2, "request_detail", "Đề nghị gửi thêm ảnh.").await;
    browser.goto(&format!("{base}/track/{code2}")).await;
    browser.wait_for("#answer-form", t).await;
    browser.screenshot("track-answer-desktop", true).await;
    browser.quit().await;
}

/// The same forms as plain posts (what a browser without CSS sends), on one store.
async fn forms_over_http(redis: Option<String>) {
    let gw = InProcess::start(|c| c.redis_url = redis.map(Into::into)).await;
    let base = gw.serve().await;
    let (id, code) = report(&base, LAMP).await;
    ioc_message(&base, &id, "request_detail", "Đề nghị gửi thêm ảnh.").await;
    let html = get(format!("{base}/track/{code}"))
        .await
        .text()
        .await
        .unwrap();
    let key = form_key(&html, "answer-form");
    let answer = |contact: &str, text: &str, photo: Option<(&str, Vec<u8>)>| {
        let mut form = reqwest::multipart::Form::new()
            .text("key", key.clone())
            .text("contact", contact.to_string())
            .text("text", text.to_string());
        form = match photo {
            Some((name, bytes)) => form.part(
                "photo",
                reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
            ),
            // A browser sends an empty part when no file is chosen.
            None => form.part(
                "photo",
                reqwest::multipart::Part::bytes(Vec::new()).file_name(""),
            ),
        };
        let base = base.clone();
        let code = code.clone();
        async move {
            let res = client()
                .post(format!("{base}/track/{code}/answer"))
                .multipart(form)
                .send()
                .await
                .unwrap();
            (res.status(), res.text().await.unwrap())
        }
    };
    // Neither text nor photo; a file that is not a photo; a wrong contact.
    let (s, page) = answer(PHONE, "  ", None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("id=\"answer-text-error\""), "{page}");
    let (s, page) = answer(
        PHONE,
        "Ảnh đây.",
        Some(("a.txt", b"not a photo at all, just some words".repeat(4))),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("id=\"answer-photo-error\""), "{page}");
    let (s, page) = answer("0987 000 111", "Cột số 15.", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(page.contains("id=\"answer-contact-error\""), "{page}");
    assert!(!page.contains("0987 000 111"), "the contact is not echoed");
    // Sent twice with the same form key (a reload): one answer.
    for _ in 0..2 {
        let (s, page) = answer(
            PHONE,
            "Cột số 15, cạnh trạm xe buýt.",
            Some(("cot.png", read_fixture("media/photo-2h-before.png"))),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{page}");
        assert!(page.contains("id=\"form-done\""), "{page}");
    }
    let doc = ioc_report(&base, &id).await;
    assert_eq!(doc["answers"].as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(doc["answers"][0]["attachments"][0]["kind"], "photo");
    // Nothing left in the staging folder by the refused photo or the stored one.
    let left = crate::support::harness::staged_files(gw.dir.path());
    assert!(left.is_empty(), "staged files left: {left:?}");

    // Rating: none before a result; then once.
    let rate = |contact: &str, rating: &str, reason: &str| {
        let form = [
            ("key", "k-rating"),
            ("contact", contact),
            ("rating", rating),
            ("reason", reason),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let url = format!("{base}/track/{code}/rating");
        async move {
            let res = client().post(url).form(&form).send().await.unwrap();
            (res.status(), res.text().await.unwrap())
        }
    };
    let (s, page) = rate(PHONE, "satisfied", "").await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(page.contains("chưa có kết quả"), "{page}");
    ioc_message(&base, &id, "result", "Đã thay bóng đèn.").await;
    let (s, page) = rate(PHONE, "", "").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("id=\"rating-rating-error\""), "{page}");
    let (s, page) = rate(PHONE, "very_satisfied", "").await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert!(!page.contains("id=\"rating-form\""), "{page}");
    let (s, page) = rate(PHONE, "satisfied", "").await;
    assert_eq!(s, StatusCode::CONFLICT, "one rating per result");
    assert!(page.contains("đã được đánh giá"), "{page}");
    let doc = ioc_report(&base, &id).await;
    let ratings: Vec<&Value> = doc["answers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["rating"].is_object())
        .collect();
    assert_eq!(ratings.len(), 1, "{doc}");
    assert_eq!(ratings[0]["rating"]["value"], "very_satisfied");
}

#[tokio::test]
async fn the_forms_work_as_plain_posts_on_the_embedded_store() {
    forms_over_http(None).await;
}

#[tokio::test]
async fn the_forms_work_as_plain_posts_on_redis() {
    let server = RedisServer::start();
    forms_over_http(Some(server.url().to_string())).await;
}
