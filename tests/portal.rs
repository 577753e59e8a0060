//! The citizens' portal (R-CH-PORTAL, issue 13 points 1, 2a, 5): the one-time code by email over
//! a real SMTP sink (the code read from the message the sink received), on the embedded store
//! and on Redis; the limits on codes; the pages' security headers; the public checks; and the
//! whole form end to end in headless Chromium on a phone-sized viewport.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::browser::Browser;
use crate::support::gateway::{client, get_with, InProcess, IOC_KEY};
use crate::support::redis::RedisServer;
use crate::support::smtp::SmtpSink;
use crate::support::{fixture, read_fixture, Multipart};

const EMAIL: &str = "an.nguyen@example.vn";

/// A gateway in this process on a real socket whose codes go to `sink`.
async fn portal_gateway(
    sink: &SmtpSink,
    adjust: impl FnOnce(&mut gateway::config::Config),
) -> (InProcess, String) {
    let port = sink.port;
    let gw = InProcess::start(|c| {
        c.email = Some(channels::email::EmailConfig {
            smtp_host: Some("127.0.0.1".into()),
            smtp_port: Some(port),
            smtp_tls: channels::email::TlsMode::None,
            mail_from: "1022@longan.gov.vn".into(),
            ..Default::default()
        });
        adjust(c);
    })
    .await;
    let base = gw.serve().await;
    (gw, base)
}

async fn post_json(
    url: &str,
    body: Value,
) -> (reqwest::StatusCode, reqwest::header::HeaderMap, Value) {
    let res = client().post(url).json(&body).send().await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    (status, headers, res.json().await.unwrap_or(Value::Null))
}

/// The messages of the sink, parsed: (recipient, subject, text body).
fn mails(sink: &SmtpSink) -> Vec<(String, String, String)> {
    sink.messages()
        .iter()
        .map(|raw| {
            let m = mail_parser::MessageParser::default()
                .parse(raw)
                .expect("a parsable message");
            let to = m
                .to()
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .unwrap_or_default()
                .to_string();
            (
                to,
                m.subject().unwrap_or_default().to_string(),
                m.body_text(0).unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The six digits of a code message.
fn code_in(text: &str) -> String {
    let digits: Vec<&str> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| w.len() == 6)
        .collect();
    assert_eq!(digits.len(), 1, "one 6-digit code in: {text}");
    digits[0].to_string()
}

/// Wait for the `n`th message and return its code.
async fn nth_code(sink: &SmtpSink, n: usize) -> String {
    sink.wait_for(n, Duration::from_secs(30)).await;
    let all = mails(sink);
    assert!(all.len() >= n, "{} messages, expected {n}", all.len());
    code_in(&all[n - 1].2)
}

fn portal_report(email: &str) -> Value {
    json!({
        "channel": "portal",
        "reporter": {"name": "Nguyễn Văn An", "email": email},
        "content": "Đèn đường trước số 12 đường Hùng Vương bị hỏng, cả đoạn đường tối om từ tối qua.",
        "location": {"address": "12 Hùng Vương, Phường 1, Tân An", "lat": 10.54, "lon": 106.41},
    })
}

async fn submit(
    base: &str,
    report: &Value,
    photo: &str,
    verification: Option<&str>,
) -> (reqwest::StatusCode, Value) {
    let (ct, body) = Multipart::new()
        .json("report", report)
        .file(
            "media",
            photo.rsplit('/').next().unwrap(),
            if photo.ends_with(".png") {
                "image/png"
            } else {
                "image/jpeg"
            },
            &read_fixture(photo),
        )
        .finish();
    let mut req = client()
        .post(format!("{base}/v1/portal/reports"))
        .header("content-type", ct)
        .body(body);
    if let Some(t) = verification {
        req = req.header("x-portal-verification", t);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The whole code flow on one backend; `stored` returns every byte the store holds for the
/// check that neither the code nor the address is stored in clear.
async fn code_flow(base: &str, sink: &SmtpSink, stored: impl AsyncFnOnce() -> Vec<u8>) {
    let (status, _, challenge) =
        post_json(&format!("{base}/v1/portal/otp"), json!({"contact": EMAIL})).await;
    assert_eq!(status, 202, "{challenge}");
    assert_eq!(challenge["sent_to"], "a***@example.vn");
    assert_eq!(challenge["expires_in_secs"], 600);
    let id = challenge["challenge"].as_str().unwrap().to_string();
    let code = nth_code(sink, 1).await;
    let (to, subject, text) = mails(sink).remove(0);
    assert_eq!(to, EMAIL);
    assert!(subject.contains("Mã xác nhận"), "{subject}");
    assert!(text.contains("10 phút"), "{text}");

    // Only digests are stored: neither the code nor the address appears in the store.
    let bytes = stored().await;
    let marker = b"otp:challenge:";
    assert!(
        bytes.windows(marker.len()).any(|w| w == marker),
        "the challenge is where the check looks"
    );
    for secret in [code.as_bytes(), EMAIL.as_bytes()] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret),
            "{} stored in clear",
            String::from_utf8_lossy(secret)
        );
    }

    // A wrong code: refused, with the attempts left.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, headers, body) = post_json(
        &format!("{base}/v1/portal/otp/verify"),
        json!({"challenge": id, "code": wrong}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(headers["x-attempts-left"], "4");
    assert_eq!(
        body["message_vi"],
        "Mã xác nhận không đúng. Bạn còn 4 lần thử."
    );

    // The right code gives the verification token, once.
    let (status, _, verified) = post_json(
        &format!("{base}/v1/portal/otp/verify"),
        json!({"challenge": id, "code": code}),
    )
    .await;
    assert_eq!(status, 200, "{verified}");
    let token = verified["verification"].as_str().unwrap().to_string();
    let (status, _, again) = post_json(
        &format!("{base}/v1/portal/otp/verify"),
        json!({"challenge": id, "code": code}),
    )
    .await;
    assert_eq!(status, 410, "{again}");

    // A report from that address with the token is verified and, nothing else wrong, accepted.
    let (status, answer) = submit(
        base,
        &portal_report(&EMAIL.to_uppercase()),
        "media/photo-2h-before.jpg",
        Some(&token),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["verdict"], "accepted", "{answer}");
    let report: Value = get_with(
        format!("{base}/v1/reports/{}", answer["id"].as_str().unwrap()),
        IOC_KEY,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(report["reporter"]["verified_by"], "otp");
    assert_eq!(report["channel"], "portal");

    // The token does not confirm another address.
    let (status, other) = submit(
        base,
        &portal_report("someone.else@example.vn"),
        "media/photo-2h-before.jpg",
        Some(&token),
    )
    .await;
    assert_eq!(status, 409, "{other}");
    assert_eq!(other["error"], "verification_stale");
    assert!(other["message_vi"].as_str().unwrap().contains("hết hạn"));

    // Without a code, a report (another one: not a duplicate) waits for review.
    let other_report = json!({
        "channel": "portal",
        "reporter": {"name": "Nguyễn Văn An", "email": EMAIL},
        "content": "Rác thải đổ thành đống lớn bên lề đường Nguyễn Huệ, bốc mùi hôi suốt mấy ngày nay.",
        "location": {"address": "Đường Nguyễn Huệ, Phường 2, Tân An", "lat": 10.536, "lon": 106.405},
    });
    let (status, plain) = submit(base, &other_report, "media/photo-2h-before.png", None).await;
    assert_eq!(status, 201, "{plain}");
    assert_eq!(plain["verdict"], "needs_review");
    assert!(
        plain["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "REPORTER_UNVERIFIED"),
        "{plain}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_code_confirms_the_reporter_on_the_embedded_store() {
    let sink = SmtpSink::start();
    let (gw, base) = portal_gateway(&sink, |_| {}).await;
    let db = gw.dir.path().join("queue.redb");
    code_flow(&base, &sink, async || std::fs::read(&db).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_code_confirms_the_reporter_on_redis() {
    let redis = RedisServer::start();
    let url = redis.url();
    let sink = SmtpSink::start();
    let u = url.clone();
    let (_gw, base) = portal_gateway(&sink, |c| c.redis_url = Some(u.into())).await;
    let dump = async || {
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("*otp:*")
            .query_async(&mut con)
            .await
            .unwrap();
        assert!(
            keys.iter().any(|k| k.contains("otp:challenge:")),
            "{keys:?}"
        );
        let mut all = Vec::new();
        for k in keys {
            all.extend_from_slice(k.as_bytes());
            let kind: String = redis::cmd("TYPE")
                .arg(&k)
                .query_async(&mut con)
                .await
                .unwrap();
            if kind == "string" {
                let v: Vec<u8> = redis::cmd("GET")
                    .arg(&k)
                    .query_async(&mut con)
                    .await
                    .unwrap();
                all.extend_from_slice(&v);
            }
        }
        all
    };
    code_flow(&base, &sink, dump).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_codes_are_limited_and_a_used_up_challenge_is_gone() {
    let sink = SmtpSink::start();
    let (_gw, base) = portal_gateway(&sink, |_| {}).await;
    let (_, _, challenge) =
        post_json(&format!("{base}/v1/portal/otp"), json!({"contact": EMAIL})).await;
    let id = challenge["challenge"].as_str().unwrap().to_string();
    let code = nth_code(&sink, 1).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for left in (0..5).rev() {
        let (status, headers, body) = post_json(
            &format!("{base}/v1/portal/otp/verify"),
            json!({"challenge": id, "code": wrong}),
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(headers["x-attempts-left"], left.to_string().as_str());
    }
    // Five wrong codes: even the right one is refused now; a new code must be requested.
    let (status, _, body) = post_json(
        &format!("{base}/v1/portal/otp/verify"),
        json!({"challenge": id, "code": code}),
    )
    .await;
    assert_eq!(status, 410, "{body}");
    assert_eq!(
        body["message_vi"],
        "Mã xác nhận đã hết hạn hoặc đã được dùng. Vui lòng nhận mã mới."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_code_is_refused() {
    let sink = SmtpSink::start();
    let (_gw, base) = portal_gateway(&sink, |c| c.portal.otp_ttl_secs = 1).await;
    let (_, _, challenge) =
        post_json(&format!("{base}/v1/portal/otp"), json!({"contact": EMAIL})).await;
    let code = nth_code(&sink, 1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, _, body) = post_json(
        &format!("{base}/v1/portal/otp/verify"),
        json!({"challenge": challenge["challenge"], "code": code}),
    )
    .await;
    assert_eq!(status, 410, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_requests_are_limited_per_address_and_per_source() {
    let sink = SmtpSink::start();
    let (_gw, base) = portal_gateway(&sink, |c| {
        c.portal.otp_per_contact_per_hour = 2;
        c.portal.otp_per_source_per_hour = 3;
    })
    .await;
    let url = format!("{base}/v1/portal/otp");
    for _ in 0..2 {
        let (status, _, body) = post_json(&url, json!({"contact": EMAIL})).await;
        assert_eq!(status, 202, "{body}");
    }
    // The third code to one address within the hour is refused, with when to retry.
    let (status, headers, body) = post_json(&url, json!({"contact": EMAIL})).await;
    assert_eq!(status, 429, "{body}");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    assert!(body["message_vi"]
        .as_str()
        .unwrap()
        .starts_with("Bạn đã yêu cầu quá nhiều mã xác nhận"));
    // The source address's own bound: the fourth request from it, another address.
    let (status, _, body) = post_json(&url, json!({"contact": "b.tran@example.vn"})).await;
    assert_eq!(status, 429, "{body}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.messages().len(), 2, "no mail for refused requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_sender_the_code_request_says_so_in_vietnamese() {
    let gw = InProcess::start(|_| {}).await;
    let base = gw.serve().await;
    let url = format!("{base}/v1/portal/otp");
    let (status, _, body) = post_json(&url, json!({"contact": EMAIL})).await;
    assert_eq!(status, 503, "{body}");
    assert!(body["message_vi"].as_str().unwrap().contains("qua email"));
    let (status, _, body) = post_json(&url, json!({"contact": "0912 345 678"})).await;
    assert_eq!(status, 503, "{body}");
    assert!(body["message_vi"].as_str().unwrap().contains("tin nhắn"));
    let (status, _, body) = post_json(&url, json!({"contact": "không phải email"})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_contact");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_have_a_strict_policy_and_no_inline_code() {
    let gw = InProcess::start(|_| {}).await;
    let base = gw.serve().await;
    for path in ["/", "/gui-phan-anh"] {
        let res = client().get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let csp = res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(res.headers()["x-frame-options"], "DENY");
        let html = res.text().await.unwrap();
        assert!(html.contains("<html lang=\"vi\">"));
        // One script, from a file; no inline script, style or handler.
        assert_eq!(html.matches("<script").count(), 1);
        assert!(html.contains("<script src=\"/assets/portal.js\" defer></script>"));
        assert!(!html.contains("<style"));
        assert!(!html.contains(" style="));
        assert!(!html.contains(" onclick=") && !html.contains(" onload="));
        // Every control has its label; the five fields of Đ5 are offered.
        for id in [
            "content",
            "occurred",
            "field",
            "subcategory",
            "address",
            "media",
            "name",
            "phone",
            "email",
            "otp-code",
            "confidential",
        ] {
            assert!(
                html.contains(&format!("<label for=\"{id}\"")),
                "no label for {id}"
            );
        }
        for field in [
            "public_administration",
            "urban_order",
            "traffic",
            "public_security",
            "environment",
        ] {
            assert!(
                html.contains(&format!("<option value=\"{field}\">")),
                "{field}"
            );
        }
        assert!(html.contains("Không công khai thông tin cá nhân của tôi"));
    }
    let js = client()
        .get(format!("{base}/assets/portal.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        js.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(js.headers()["x-content-type-options"], "nosniff");
    let js = js.text().await.unwrap();
    assert!(!js.contains("innerHTML"), "text is only ever set as text");
    let css = client()
        .get(format!("{base}/assets/portal.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    // The tracking page uses the same stylesheet, allowed by its policy.
    let track = client().get(format!("{base}/track")).send().await.unwrap();
    let csp = track.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("style-src 'self'") && !csp.contains("script-src"),
        "{csp}"
    );
    assert!(track
        .text()
        .await
        .unwrap()
        .contains("href=\"/assets/portal.css\""));
    // Contacts and typed addresses go in bodies, never in a URL.
    for path in ["/v1/portal/places?q=x", "/v1/portal/otp?contact=x"] {
        let res = client().get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(res.status(), 405, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_checks_give_the_servers_findings_and_places() {
    let gw = InProcess::start(|_| {}).await;
    let base = gw.serve().await;
    let (ct, body) = Multipart::new()
        .json(
            "report",
            &json!({"channel": "portal", "content": "Den duong truoc nha so 12 bi hong may ngay nay roi, toi om"}),
        )
        .finish();
    let res = client()
        .post(format!("{base}/v1/portal/check"))
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert!(
        v["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "CONTENT_NO_DIACRITICS" && f["field"] == "content.text"),
        "{v}"
    );
    // A chosen photo: its capture time, read by the server.
    let (ct, body) = Multipart::new()
        .json("report", &json!({"channel": "portal"}))
        .file(
            "media",
            "a.jpg",
            "image/jpeg",
            &read_fixture("media/photo-3d-before.jpg"),
        )
        .finish();
    let v: Value = client()
        .post(format!("{base}/v1/portal/check"))
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v["media"][0]["captured_at"].is_string(), "{v}");
    assert!(
        v["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "MEDIA_STALE"),
        "{v}"
    );
    // Suggestions by old and new names, accents aside.
    let (status, _, places) =
        post_json(&format!("{base}/v1/portal/places"), json!({"q": "tan an"})).await;
    assert_eq!(status, 200);
    let places = places["places"].as_array().unwrap().clone();
    assert!(!places.is_empty());
    assert!(
        places.iter().any(|p| p["note"]
            .as_str()
            .unwrap()
            .starts_with("Tên trước 01/7/2025")),
        "{places:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_checks_are_limited_per_source() {
    let gw = InProcess::start(|c| c.portal.checks_per_minute = 2).await;
    let base = gw.serve().await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let (status, _, _) =
            post_json(&format!("{base}/v1/portal/places"), json!({"q": "tan an"})).await;
        statuses.push(status.as_u16());
    }
    assert_eq!(statuses, [200, 200, 429]);
}

/// The citizen's whole visit in headless Chromium on a 390×844 viewport, with screenshots of
/// every page on a phone and a desktop size in `target/screenshots/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizen_sends_a_verified_report_from_a_phone() {
    let Some(browser) = Browser::start(390, 844).await else {
        return;
    };
    let sink = SmtpSink::start();
    let (_gw, base) = portal_gateway(&sink, |_| {}).await;
    let t = Duration::from_secs(30);
    browser.goto(&format!("{base}/gui-phan-anh")).await;
    browser
        .script(
            "window.__csp = []; document.addEventListener('securitypolicyviolation', function (e) { window.__csp.push(e.violatedDirective); });",
            json!([]),
        )
        .await;
    let width = browser.script("return window.innerWidth;", json!([])).await;
    assert_eq!(width, 390, "phone viewport");
    // The stylesheet applied (allowed by the policy): the submit button is the portal's blue.
    let bg = browser
        .script(
            "return getComputedStyle(document.getElementById('submit')).backgroundColor;",
            json!([]),
        )
        .await;
    assert_eq!(bg, "rgb(11, 87, 164)");
    // No horizontal scrolling on a phone.
    let overflow = browser
        .script(
            "return document.documentElement.scrollWidth <= window.innerWidth;",
            json!([]),
        )
        .await;
    assert_eq!(overflow, true);
    browser.screenshot("portal-phone-empty", true).await;

    // An unaccented description: the hint appears; fixed, it goes.
    let content = browser.wait_for("#content", t).await;
    browser
        .type_into(
            &content,
            "Den duong truoc so 12 duong Hung Vuong bi hong, ca doan duong toi om tu toi qua.",
        )
        .await;
    browser
        .wait_until(
            "the diacritics hint",
            "var h = document.getElementById('content-hint'); return !h.hidden && h.textContent.length > 10;",
            t,
        )
        .await;
    let hint = browser
        .text(&browser.wait_for("#content-hint", t).await)
        .await;
    assert!(hint.contains("dấu"), "{hint}");
    browser.screenshot("portal-phone-hint", false).await;
    browser.clear(&content).await;
    browser
        .type_into(
            &content,
            "Đèn đường trước số 12 đường Hùng Vương bị hỏng, cả đoạn đường tối om từ tối qua.",
        )
        .await;
    browser
        .wait_until(
            "the hint to go",
            "return document.getElementById('content-hint').hidden;",
            t,
        )
        .await;

    // Field, sub-category, place with suggestions.
    browser
        .click(
            &browser
                .wait_for("#field option[value='urban_order']", t)
                .await,
        )
        .await;
    browser
        .click(
            &browser
                .wait_for("#subcategory option[value='chieu_sang']", t)
                .await,
        )
        .await;
    let address = browser.wait_for("#address", t).await;
    browser.type_into(&address, "Phường 1").await;
    browser
        .wait_until(
            "place suggestions",
            "return document.querySelectorAll('#place-list option').length > 0;",
            t,
        )
        .await;
    browser.clear(&address).await;
    browser
        .type_into(&address, "12 Hùng Vương, Phường 1, Tân An")
        .await;

    // A photo taken 2 hours ago (the gateway's clock is the fixtures' instant).
    let media = browser.wait_for("#media", t).await;
    let photo = fixture("media/photo-2h-before.jpg");
    browser.type_into(&media, photo.to_str().unwrap()).await;
    browser
        .wait_until(
            "the capture time of the photo",
            "var s = document.querySelector('#media-list .ok'); return !!s && s.textContent.indexOf('Thời điểm chụp') === 0;",
            t,
        )
        .await;

    // Name, email, and the code read from the SMTP sink.
    browser
        .type_into(&browser.wait_for("#name", t).await, "Nguyễn Văn An")
        .await;
    browser
        .type_into(&browser.wait_for("#email", t).await, EMAIL)
        .await;
    browser.click(&browser.wait_for("#otp-send", t).await).await;
    let code = nth_code(&sink, 1).await;
    browser
        .wait_until(
            "the code field",
            "return !document.getElementById('otp-entry').hidden;",
            t,
        )
        .await;
    browser
        .type_into(&browser.wait_for("#otp-code", t).await, &code)
        .await;
    browser
        .click(&browser.wait_for("#otp-verify", t).await)
        .await;
    browser
        .wait_until(
            "the confirmation",
            "return document.getElementById('otp-status').textContent.indexOf('Đã xác nhận email') === 0;",
            t,
        )
        .await;
    browser
        .click(&browser.wait_for("#confidential", t).await)
        .await;
    browser.screenshot("portal-phone-filled", true).await;

    browser.click(&browser.wait_for("#submit", t).await).await;
    browser
        .wait_until(
            "the tracking code",
            "return !document.getElementById('done').hidden;",
            Duration::from_secs(60),
        )
        .await;
    let code = browser
        .text(&browser.wait_for("#tracking-code", t).await)
        .await;
    assert!(code.starts_with("LA-") && code.len() == 12, "{code}");
    let verdict = browser
        .text(&browser.wait_for("#done-verdict", t).await)
        .await;
    assert!(verdict.contains("đã được tiếp nhận"), "accepted: {verdict}");
    browser.screenshot("portal-phone-done", false).await;

    // The report on the IOC's side: verified by the code, confidential, the photo attached.
    let track: Value = client()
        .get(format!("{base}/v1/track/{code}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(track["tracking_code"], code.as_str(), "{track}");
    let queue: Value = get_with(format!("{base}/v1/ioc/queue?max=10&consumer=t"), IOC_KEY)
        .await
        .json()
        .await
        .unwrap();
    let report = &queue["entries"][0]["report"];
    assert_eq!(report["tracking_code"], code.as_str(), "{queue}");
    assert_eq!(report["reporter"]["verified_by"], "otp");
    assert_eq!(report["verdict"]["status"], "accepted", "{report}");
    assert_eq!(report["confidential"], true);
    assert_eq!(report["category"]["subcategory"], "chieu_sang");
    assert_eq!(report["attachments"].as_array().unwrap().len(), 1);

    // The tracking page, by its link.
    browser
        .click(&browser.wait_for("#tracking-link", t).await)
        .await;
    browser
        .wait_until(
            "the tracking page",
            "return location.pathname.indexOf('/track/') === 0;",
            t,
        )
        .await;
    let body = browser.text(&browser.wait_for("dl", t).await).await;
    assert!(body.contains(&code), "{body}");
    let fits = browser
        .script(
            "return document.documentElement.scrollWidth <= window.innerWidth;",
            json!([]),
        )
        .await;
    assert_eq!(fits, true, "the tracking page fits a phone");
    browser.screenshot("track-phone", true).await;
    let violations = browser
        .script("return window.__csp || [];", json!([]))
        .await;
    assert_eq!(violations, json!([]), "no CSP violation on the form");

    // Desktop size: the form and the tracking page.
    browser.set_viewport(1280, 900).await;
    browser.screenshot("track-desktop", true).await;
    browser.goto(&format!("{base}/")).await;
    browser.wait_for("#content", t).await;
    browser.screenshot("portal-desktop", true).await;
    browser.quit().await;
}

/// `gateway serve` as deployed: the form at `/` and codes through the SMTP server named by the
/// `GATEWAY_SMTP_*` environment (no IMAP configured).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_serve_sends_codes_through_the_smtp_environment() {
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let port = sink.port.to_string();
    let gw = crate::support::gateway::Process::start(
        dir.path(),
        &[
            ("GATEWAY_SMTP_HOST", "127.0.0.1"),
            ("GATEWAY_SMTP_PORT", &port),
            ("GATEWAY_SMTP_TLS", "none"),
        ],
    );
    let page = client().get(format!("{}/", gw.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("Gửi phản ánh hiện trường"));
    let (status, _, body) = post_json(
        &format!("{}/v1/portal/otp", gw.base),
        json!({"contact": EMAIL}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let code = nth_code(&sink, 1).await;
    assert_eq!(code.len(), 6);
    // Neither the address nor the code in the gateway's log.
    let log = gw.log_text();
    assert!(!log.contains(EMAIL) && !log.contains(&code), "{log}");
}

/// The portal's public API is in `/openapi.json` (issue 13): each route with its body and its
/// errors, every reference resolving, and what a route answers has the documented shape.
#[tokio::test]
async fn the_openapi_document_describes_the_portal_api() {
    let gw = InProcess::start(|_| {}).await;
    let base = gw.serve().await;
    let doc: Value = client()
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schema_of = |op: &Value, pointer: &str| -> Value {
        let r = op
            .pointer(pointer)
            .and_then(|r| r.as_str())
            .unwrap_or_else(|| panic!("no {pointer} in {op}"));
        doc.pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("dangling {r}"))
            .clone()
    };
    let json_body = "/requestBody/content/application~1json/schema/$ref";
    let answer =
        |status: &str| format!("/responses/{status}/content/application~1json/schema/$ref");
    for (path, body, ok, errors) in [
        (
            "/v1/portal/check",
            None,
            ("200", vec!["verdict", "reasons", "flags", "media"]),
            vec!["400", "413", "429", "503"],
        ),
        (
            "/v1/portal/places",
            Some(vec!["q"]),
            ("200", vec!["places"]),
            vec!["400", "415", "429"],
        ),
        (
            "/v1/portal/otp",
            Some(vec!["contact"]),
            (
                "202",
                vec!["challenge", "expires_in_secs", "kind", "sent_to"],
            ),
            vec!["400", "429", "502", "503"],
        ),
        (
            "/v1/portal/otp/verify",
            Some(vec!["challenge", "code"]),
            ("200", vec!["verification", "expires_in_secs"]),
            vec!["400", "410", "422"],
        ),
        (
            "/v1/portal/reports",
            None,
            ("201", vec!["id", "tracking_code", "verdict"]),
            vec!["400", "409", "413", "429", "503"],
        ),
    ] {
        let op = doc["paths"][path]["post"].clone();
        assert!(op.is_object(), "POST {path} missing from /openapi.json");
        assert_eq!(op["tags"], json!(["portal"]), "{path}");
        assert!(
            op.get("security").is_none(),
            "{path} is public: no API key ({op})"
        );
        match body {
            Some(fields) => {
                let schema = schema_of(&op, json_body);
                for f in fields {
                    assert!(
                        schema["required"].as_array().unwrap().contains(&json!(f)),
                        "{path}: `{f}` required in {schema}"
                    );
                }
            }
            None => assert!(
                op.pointer("/requestBody/content/multipart~1form-data")
                    .is_some(),
                "{path} takes multipart: {op}"
            ),
        }
        let schema = schema_of(&op, &answer(ok.0));
        for f in ok.1 {
            assert!(
                schema["properties"].get(f).is_some(),
                "{path} {}: `{f}` in {schema}",
                ok.0
            );
        }
        for status in errors {
            let schema = schema_of(&op, &answer(status));
            assert!(
                schema["properties"].get("message_vi").is_some(),
                "{path} {status}: the API's error body ({schema})"
            );
        }
    }
    // A rejected report: every reason, in the submission's answer.
    let rejected = schema_of(&doc["paths"]["/v1/portal/reports"]["post"], &answer("422"));
    assert!(
        rejected["properties"].get("reasons").is_some(),
        "{rejected}"
    );
    let text = doc.to_string();
    for r in text.split("\"$ref\":\"").skip(1) {
        let target = &r[..r.find('"').unwrap()];
        assert!(
            doc.pointer(target.trim_start_matches('#')).is_some(),
            "dangling {target}"
        );
    }
    // What the routes answer has the documented fields.
    let (s, _, places) =
        post_json(&format!("{base}/v1/portal/places"), json!({"q": "ben luc"})).await;
    assert_eq!(s, 200, "{places}");
    let first = &places["places"][0];
    assert!(
        first["label"].is_string() && first["note"].is_string(),
        "{places}"
    );
    let place = doc.pointer("/components/schemas/Place/properties").unwrap();
    assert!(place.get("label").is_some() && place.get("note").is_some());
    let (s, _, refused) = post_json(
        &format!("{base}/v1/portal/otp"),
        json!({"contact": "not a contact"}),
    )
    .await;
    assert_eq!(s, 400, "{refused}");
    assert_eq!(refused["error"], "invalid_contact");
    assert!(refused["message_vi"].is_string());
}
