//! The IOC console at `/console` (issue 13 point 3): logins against argon2id hashes, sessions
//! in the shared store that expire on the injected clock, CSRF tokens on every form, login
//! attempts limited, no personal data in URLs; and an operator's round trip in headless
//! Chromium on a phone and a desktop: the report with its thumbnail and countdown, a request
//! for detail that the citizen's tracking page shows.

use std::time::Duration;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::browser::Browser;
use crate::support::gateway::{client, get_with, InProcess, IOC_KEY, SUBMIT_KEY};
use crate::support::redis::RedisServer;
use crate::support::{report_form, report_json, TEST_NOW};

const USER: &str = "truc-ban-1";
const PASSWORD: &str = "mật-khẩu-đủ-dài-2026";
/// A second operator, for who-holds-what.
const OTHER: &str = "truc-ban-2";

fn with_account(c: &mut gateway::config::Config) {
    c.console.accounts = vec![gateway::http::console::ConsoleAccount {
        username: USER.into(),
        password_hash: gateway::http::console::hash_password(PASSWORD).unwrap(),
    }];
}

fn with_two_accounts(c: &mut gateway::config::Config) {
    with_account(c);
    c.console
        .accounts
        .push(gateway::http::console::ConsoleAccount {
            username: OTHER.into(),
            password_hash: gateway::http::console::hash_password(PASSWORD).unwrap(),
        });
}

/// A client that does not follow redirects and keeps no cookies: the test carries them.
fn raw_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

async fn login(base: &str, user: &str, password: &str) -> reqwest::Response {
    raw_client()
        .post(format!("{base}/console/login"))
        .form(&[("username", user), ("password", password)])
        .send()
        .await
        .unwrap()
}

/// Log in; the session cookie (`name=value`).
async fn session(base: &str) -> String {
    let res = login(base, USER, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let set = res.headers()[SET_COOKIE].to_str().unwrap().to_string();
    set.split(';').next().unwrap().to_string()
}

async fn page(base: &str, path: &str, cookie: &str) -> (StatusCode, String) {
    let res = raw_client()
        .get(format!("{base}{path}"))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    (res.status(), res.text().await.unwrap())
}

async fn post_form(
    base: &str,
    path: &str,
    cookie: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    raw_client()
        .post(format!("{base}{path}"))
        .header(COOKIE, cookie)
        .form(form)
        .send()
        .await
        .unwrap()
}

/// The CSRF token of the page's forms.
fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    html[at..at + 64].to_string()
}

async fn submit(base: &str, report: &Value) -> Value {
    let res = client()
        .post(format!("{base}/v1/reports"))
        .bearer_auth(SUBMIT_KEY)
        .multipart(report_form(report, "den.jpg"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json().await.unwrap()
}

/// A report the screening rejects: the description written without its marks.
async fn submit_rejected(base: &str) -> Value {
    let mut report = report_json();
    report["content"] =
        json!("Den duong truoc so 12 duong Hung Vuong bi hong, ca doan duong toi om tu toi qua.");
    let res = client()
        .post(format!("{base}/v1/reports"))
        .bearer_auth(SUBMIT_KEY)
        .multipart(report_form(&report, "den.jpg"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    res.json().await.unwrap()
}

/// Claim the next entries of the IOC queue as the session's operator (the queue page's form).
async fn claim(base: &str, cookie: &str, max: &str) {
    let (_, html) = page(base, "/console", cookie).await;
    let res = post_form(
        base,
        "/console/queue/claim",
        cookie,
        &[("csrf", &csrf(&html)), ("max", max)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/console");
}

/// The queue entry ids the page offers to acknowledge.
fn ack_ids(html: &str) -> Vec<String> {
    urls(html)
        .into_iter()
        .filter_map(|u| {
            u.strip_prefix("/console/queue/")
                .and_then(|r| r.strip_suffix("/ack"))
                .map(str::to_string)
        })
        .collect()
}

/// Internal codes no page may show an operator: channel, field, verdict and status keys, and
/// every check code.
fn internal_codes() -> Vec<String> {
    let mut out: Vec<String> = [
        "zalo_oa",
        "zalo_miniapp",
        "open311",
        "public_administration",
        "urban_order",
        "public_security",
        "needs_review",
        "not_accepted",
        "agency_accepted",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    out.extend(
        normalizers::validate::Code::ALL
            .iter()
            .map(|c| c.as_str().to_string()),
    );
    out
}

/// The text of every row header of the page's tables.
fn row_headers(html: &str) -> Vec<String> {
    html.split("<th scope=\"row\">")
        .skip(1)
        .map(|rest| rest[..rest.find("</th>").unwrap()].to_string())
        .collect()
}

async fn messages(base: &str, id: &str) -> Vec<Value> {
    let v: Value = get_with(format!("{base}/v1/reports/{id}/messages"), IOC_KEY)
        .await
        .json()
        .await
        .unwrap();
    v["messages"].as_array().unwrap().clone()
}

/// Every URL a page links to, loads or posts to.
fn urls(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["href=\"", "src=\"", "action=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            let end = rest.find('"').unwrap();
            out.push(rest[..end].to_string());
            rest = &rest[end..];
        }
    }
    out
}

fn assert_no_personal_data_in(urls: &[String]) {
    for u in urls {
        let lower = u.to_lowercase();
        for bit in [
            "0912",
            "345",
            "678",
            "nguy",
            "an@",
            "%40",
            "@",
            "hùng",
            "h%c3%b9ng",
        ] {
            assert!(!lower.contains(bit), "personal data in URL {u}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_sessions_and_csrf_on_the_embedded_store() {
    let gw = InProcess::start(with_account).await;
    let base = gw.serve().await;
    let mut report = report_json();
    report["content"] =
        json!("Đèn đường hỏng <script>alert(1)</script> trước số 12 đường Hùng Vương, tối om.");
    let sub = submit(&base, &report).await;
    let id = sub["id"].as_str().unwrap();
    let code = sub["tracking_code"].as_str().unwrap();

    // Not logged in: the login page, under the strict policy; reports and figures redirect.
    let (status, html) = page(&base, "/console", "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("action=\"/console/login\""), "{html}");
    assert!(!html.contains(code));
    for path in [format!("/console/reports/{id}"), "/console/figures".into()] {
        let res = raw_client()
            .get(format!("{base}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
    }
    let res = raw_client()
        .get(format!("{base}/console/reports/{id}/photos/0"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // Wrong password, unknown account: refused, no cookie.
    for (u, p) in [(USER, "sai-mat-khau-roi"), ("khong-co", PASSWORD)] {
        let res = login(&base, u, p).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(res.headers().get(SET_COOKIE).is_none());
        let body = res.text().await.unwrap();
        assert!(
            body.contains("Tên đăng nhập hoặc mật khẩu không đúng"),
            "{body}"
        );
    }

    // The right one: a session cookie that scripts cannot read and other sites cannot send.
    let res = login(&base, USER, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/console");
    let set = res.headers()[SET_COOKIE].to_str().unwrap().to_string();
    for part in [
        "HttpOnly",
        "SameSite=Strict",
        "Secure",
        "Path=/console",
        "Max-Age=28800",
    ] {
        assert!(set.contains(part), "{part} missing in {set}");
    }
    let cookie = set.split(';').next().unwrap().to_string();

    // The IOC queue: one report waiting; claimed, it shows with its verdict, its place and
    // its countdown, held by this operator; the markup of the description shown as text.
    let (_, queue) = page(&base, "/console", &cookie).await;
    assert!(queue.contains("Chờ nhận: <strong>1</strong>"), "{queue}");
    assert!(!queue.contains(code), "not claimed yet: {queue}");
    // Claiming is a form like the others: without its token, refused.
    let res = post_form(&base, "/console/queue/claim", &cookie, &[("max", "5")]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    claim(&base, &cookie, "5").await;
    let res = raw_client()
        .get(format!("{base}/console"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
    let queue = res.text().await.unwrap();
    assert!(queue.contains(code), "{queue}");
    assert!(queue.contains("Bạn đang xử lý"), "{queue}");
    assert!(queue.contains("Chờ nhận: <strong>0</strong>"), "{queue}");
    assert!(queue.contains("còn "), "countdown: {queue}");
    assert!(queue.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!queue.contains("<script>alert"));
    assert!(queue.contains(&format!("/console/reports/{id}/photos/0")));

    // The report page, and the thumbnail: the public copy, without EXIF.
    let (status, report_page) = page(&base, &format!("/console/reports/{id}"), &cookie).await;
    assert_eq!(status, StatusCode::OK);
    let res = raw_client()
        .get(format!("{base}/console/reports/{id}/photos/0"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/jpeg");
    let photo = res.bytes().await.unwrap();
    assert!(photo.starts_with(&[0xff, 0xd8]));
    assert!(!photo.windows(6).any(|w| w == b"Exif\0\0"), "EXIF left");

    // No personal data in any URL of the pages (the contacts are on the page, in POST bodies).
    let mut all = urls(&queue);
    all.extend(urls(&report_page));
    assert!(all.len() > 5, "{all:?}");
    assert_no_personal_data_in(&all);

    // A form without its CSRF token, or with another: 403 and nothing sent.
    let token = csrf(&report_page);
    let path = format!("/console/reports/{id}/messages");
    for form in [
        vec![("kind", "request_detail"), ("text", "Xin gửi thêm ảnh.")],
        vec![
            ("csrf", "0".repeat(64).as_str()),
            ("kind", "request_detail"),
            ("text", "Xin gửi thêm ảnh."),
        ],
    ] {
        let res = post_form(&base, &path, &cookie, &form).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
    // Without a session at all: back to the login page, nothing sent.
    let res = post_form(
        &base,
        &path,
        "",
        &[("csrf", &token), ("kind", "request_detail"), ("text", "x")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(messages(&base, id).await.is_empty());
    // An empty message is refused in Vietnamese, nothing sent.
    let res = post_form(
        &base,
        &path,
        &cookie,
        &[("csrf", &token), ("kind", "request_detail"), ("text", "  ")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let refusal = res.text().await.unwrap();
    assert!(refusal.contains("Tin nhắn chưa có nội dung."), "{refusal}");
    assert!(!refusal.contains("`text`"), "{refusal}");
    assert!(messages(&base, id).await.is_empty());

    // With it: sent, and back on the report page, which shows it.
    let text = "Đề nghị ông/bà chụp thêm ảnh cột đèn số 12.";
    let res = post_form(
        &base,
        &path,
        &cookie,
        &[("csrf", &token), ("kind", "request_detail"), ("text", text)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], format!("/console/reports/{id}"));
    let sent = messages(&base, id).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["kind"], "request_detail");
    assert_eq!(sent[0]["text"], text);
    assert!(sent[0]["actor"].as_str().unwrap().starts_with("console:"));
    assert!(!sent[0]["actor"].as_str().unwrap().contains(USER));
    let (_, report_page) = page(&base, &format!("/console/reports/{id}"), &cookie).await;
    assert!(report_page.contains(text));

    // A step along the trail: accepted; a step the trail refuses is a 409 page.
    let res = post_form(
        &base,
        &format!("/console/reports/{id}/status"),
        &cookie,
        &[("csrf", &token), ("status", "accepted")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let r: Value = get_with(format!("{base}/v1/reports/{id}"), IOC_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        r["trail"].as_array().unwrap().last().unwrap()["status"],
        "accepted"
    );
    let res = post_form(
        &base,
        &format!("/console/reports/{id}/status"),
        &cookie,
        &[("csrf", &token), ("status", "answered")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    // The refusal is explained in Vietnamese, with the steps' names, never the trail's codes.
    let refusal = res.text().await.unwrap();
    assert!(
        refusal.contains(
            "Không thể chuyển phản ánh từ bước «Đã tiếp nhận» sang «Đã có kết quả xử lý»"
        ),
        "{refusal}"
    );
    assert!(refusal.contains("«Đã chuyển cơ quan xử lý»"), "{refusal}");
    for code in ["accepted", "answered", "forwarded", "cannot go"] {
        assert!(!refusal.contains(code), "{code} in {refusal}");
    }

    // The figures page with its charts, served to the session only.
    let (status, figures) = page(&base, "/console/figures?month=2026-11", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        figures.contains("Tổng số phản ánh: <strong>1</strong>"),
        "{figures}"
    );
    let res = raw_client()
        .get(format!(
            "{base}/console/charts/by-channel.svg?month=2026-11"
        ))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("image/svg+xml"));
    let res = raw_client()
        .get(format!(
            "{base}/console/charts/by-channel.svg?month=2026-11"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // Block the sender: the identity comes from the report; the page shows the masked hint.
    let res = post_form(
        &base,
        &format!("/console/reports/{id}/block"),
        &cookie,
        &[("csrf", &token), ("reason", "Gửi tin quấy rối nhiều lần")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.text().await.unwrap();
    assert!(body.contains("Đã chặn người gửi"), "{body}");
    assert!(!body.contains("0912 345 678") && !body.contains("912345678"));
    let blocked: Value = get_with(format!("{base}/v1/ioc/blocklist"), IOC_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(blocked.as_array().unwrap().len(), 1, "{blocked}");

    // Logout needs the token too; then the session is gone.
    let res = post_form(&base, "/console/logout", &cookie, &[]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = post_form(&base, "/console/logout", &cookie, &[("csrf", &token)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(res.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let (_, html) = page(&base, "/console", &cookie).await;
    assert!(html.contains("action=\"/console/login\"") && !html.contains(code));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_attempts_are_limited_per_account() {
    let gw = InProcess::start(|c| {
        with_account(c);
        c.console.login_max_failures = 3;
    })
    .await;
    let base = gw.serve().await;
    for _ in 0..3 {
        assert_eq!(
            login(&base, USER, "sai-mat-khau-roi").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // Even the right password is refused now, with the reason.
    let res = login(&base, USER, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().get(SET_COOKIE).is_none());
    let body = res.text().await.unwrap();
    assert!(body.contains("Đăng nhập sai quá nhiều lần"), "{body}");
}

/// Sessions live in the shared store: a second gateway on the same Redis knows them, and
/// refuses them once its clock is past their end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_expires_on_the_injected_clock_on_redis() {
    let redis = RedisServer::start();
    let url = redis.url();
    let start: chrono::DateTime<chrono::Utc> = TEST_NOW.parse().unwrap();
    let at = |mins: i64| {
        let url = url.clone();
        move |c: &mut gateway::config::Config| {
            with_account(c);
            c.console.session_ttl_mins = 60;
            c.redis_url = Some(url.clone().into());
            c.clock_start = Some(start + chrono::Duration::minutes(mins));
        }
    };
    let first = InProcess::start(at(0)).await;
    let base = first.serve().await;
    let cookie = session(&base).await;
    let (_, html) = page(&base, "/console", &cookie).await;
    assert!(
        html.contains("Hàng đợi") && html.contains("/console/logout"),
        "{html}"
    );

    let later = InProcess::start(at(59)).await;
    let later_base = later.serve().await;
    let (_, html) = page(&later_base, "/console", &cookie).await;
    assert!(
        html.contains("/console/logout"),
        "still valid at 59 min: {html}"
    );

    let expired = InProcess::start(at(61)).await;
    let expired_base = expired.serve().await;
    let (_, html) = page(&expired_base, "/console", &cookie).await;
    assert!(html.contains("action=\"/console/login\""), "{html}");
    assert!(!html.contains("/console/logout"));
    // And a form of the expired session does nothing.
    let res = post_form(&expired_base, "/console/logout", &cookie, &[("csrf", "x")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

async fn operator_round_trip(width: u32, height: u32, label: &str) {
    let Some(browser) = Browser::start(width, height).await else {
        return;
    };
    let gw = InProcess::start(|c| {
        with_account(c);
        c.console.insecure_cookie = true;
    })
    .await;
    let base = gw.serve().await;
    let sub = submit(&base, &report_json()).await;
    let id = sub["id"].as_str().unwrap().to_string();
    let code = sub["tracking_code"].as_str().unwrap().to_string();
    submit_rejected(&base).await;
    let t = Duration::from_secs(30);

    browser.goto(&format!("{base}/console")).await;
    browser
        .script(
            "window.__csp = []; document.addEventListener('securitypolicyviolation', function (e) { window.__csp.push(e.violatedDirective); });",
            json!([]),
        )
        .await;
    browser
        .screenshot(&format!("console-{label}-login"), true)
        .await;
    let user = browser.wait_for("#username", t).await;
    browser.type_into(&user, USER).await;
    let pass = browser.wait_for("#password", t).await;
    browser.type_into(&pass, PASSWORD).await;
    let button = browser.wait_for("form.login button", t).await;
    browser.click(&button).await;

    // The queue: nothing claimed yet; "Nhận phản ánh" claims the report for this operator,
    // shown with its thumbnail loaded and its countdown.
    browser
        .wait_until(
            "the queue",
            "return document.querySelector('ul.queue') !== null;",
            t,
        )
        .await;
    let count = browser
        .script(
            "return document.querySelectorAll('li.report').length;",
            json!([]),
        )
        .await;
    assert_eq!(count, 0);
    let claim = browser.wait_for("form.claim button", t).await;
    browser.click(&claim).await;
    let holder = browser.wait_for("li.report .holder", t).await;
    assert_eq!(browser.text(&holder).await, "Bạn đang xử lý");
    let open = browser.wait_for("li.report a.open", t).await;
    assert_eq!(browser.text(&open).await, code);
    browser
        .wait_until(
            "the thumbnail",
            "var i = document.querySelector('img.thumb'); return i !== null && i.complete && i.naturalWidth > 0;",
            t,
        )
        .await;
    let due = browser.wait_for("li.report .due", t).await;
    assert!(browser.text(&due).await.starts_with("còn "));
    let overflow = browser
        .script(
            "return document.documentElement.scrollWidth <= window.innerWidth;",
            json!([]),
        )
        .await;
    assert_eq!(overflow, true, "no horizontal scrolling");
    browser
        .screenshot(&format!("console-{label}-queue"), true)
        .await;

    // The report; a request for detail.
    browser.click(&open).await;
    let text = browser.wait_for("#text", t).await;
    assert!(browser
        .url()
        .await
        .ends_with(&format!("/console/reports/{id}")));
    browser
        .script(
            "document.getElementById('kind').value = 'request_detail';",
            json!([]),
        )
        .await;
    let request = "Đề nghị ông/bà gửi thêm ảnh chụp gần cột đèn bị hỏng.";
    browser.type_into(&text, request).await;
    browser
        .screenshot(&format!("console-{label}-report"), true)
        .await;
    let send = browser
        .wait_for("form[action$='/messages'] button", t)
        .await;
    browser.click(&send).await;
    browser
        .wait_until(
            "the message on the report page",
            "return document.querySelector('ul.messages li.ioc') !== null;",
            t,
        )
        .await;
    let shown = browser.wait_for("ul.messages li.ioc p", t).await;
    assert_eq!(browser.text(&shown).await, request);
    browser
        .screenshot(&format!("console-{label}-sent"), true)
        .await;

    // Done with it: acknowledged from the queue, it leaves it.
    browser.goto(&format!("{base}/console")).await;
    let ack = browser.wait_for("form.ack button", t).await;
    browser.click(&ack).await;
    browser
        .wait_until(
            "the acknowledged report gone from the queue",
            "return document.querySelector('form.claim') !== null && document.querySelectorAll('li.report').length === 0;",
            t,
        )
        .await;
    browser
        .screenshot(&format!("console-{label}-acknowledged"), true)
        .await;

    // The rejected reports, with their reasons in Vietnamese.
    browser
        .goto(&format!("{base}/console/screened?verdict=rejected"))
        .await;
    let reason = browser.wait_for("li.report ul.findings li.reason", t).await;
    assert!(
        browser
            .text(&reason)
            .await
            .starts_with("Nội dung viết không dấu"),
        "the reason's name"
    );
    let overflow = browser
        .script(
            "return document.documentElement.scrollWidth <= window.innerWidth;",
            json!([]),
        )
        .await;
    assert_eq!(overflow, true, "no horizontal scrolling");
    browser
        .screenshot(&format!("console-{label}-rejected"), true)
        .await;

    // The figures page with its charts loaded.
    browser.goto(&format!("{base}/console/figures")).await;
    browser
        .wait_until(
            "the charts",
            "var c = document.querySelectorAll('img.chart'); return c.length === 3 && Array.prototype.every.call(c, function (i) { return i.complete && i.naturalWidth > 0; });",
            t,
        )
        .await;
    // Every chart drawn within the page's width (the phone gets the narrow layout).
    let fits = browser
        .script(
            "return Array.prototype.every.call(document.querySelectorAll('img.chart'), function (i) { return i.getBoundingClientRect().right <= window.innerWidth; }) && document.documentElement.scrollWidth <= window.innerWidth;",
            json!([]),
        )
        .await;
    assert_eq!(fits, true, "the charts fit the page");
    let narrow = browser
        .script(
            "return document.querySelector('img.chart').currentSrc.indexOf('layout=narrow') >= 0;",
            json!([]),
        )
        .await;
    assert_eq!(narrow, json!(width < 640), "the layout for the width");
    browser
        .screenshot(&format!("console-{label}-figures"), true)
        .await;
    let violations = browser
        .script("return window.__csp || [];", json!([]))
        .await;
    assert_eq!(violations, json!([]), "CSP violations");

    // The citizen's tracking page shows the request.
    browser.goto(&format!("{base}/track/{code}")).await;
    browser
        .wait_until(
            "the request on the tracking page",
            &format!(
                "return document.body.textContent.indexOf({}) >= 0;",
                serde_json::to_string(request).unwrap()
            ),
            t,
        )
        .await;
    browser
        .screenshot(&format!("console-{label}-track"), true)
        .await;
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_asks_for_detail_from_a_phone() {
    operator_round_trip(390, 844, "phone").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_asks_for_detail_from_a_desktop() {
    operator_round_trip(1280, 900, "desktop").await;
}

/// A report that may repeat another is shown side by side with it; here on Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspected_duplicates_side_by_side_on_redis() {
    let redis = RedisServer::start();
    let url = redis.url();
    let gw = InProcess::start(move |c| {
        with_account(c);
        c.redis_url = Some(url.into());
    })
    .await;
    let base = gw.serve().await;
    let first = submit(&base, &report_json()).await;
    // A neighbour reports the same light with the same photo: flagged, not rejected.
    let mut neighbour = report_json();
    neighbour["reporter"] = json!({"name": "Trần Thị Bích", "phone": "0987 654 321"});
    let second = submit(&base, &neighbour).await;
    let r: Value = get_with(
        format!("{base}/v1/reports/{}", second["id"].as_str().unwrap()),
        IOC_KEY,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        r["verdict"]["duplicate_of"][0]["id"], first["id"],
        "the neighbour's report repeats the first: {}",
        r["verdict"]
    );
    let cookie = session(&base).await;
    let (_, queue) = page(&base, "/console/due", &cookie).await;
    assert!(queue.contains("có thể trùng"), "{queue}");
    let (status, html) = page(
        &base,
        &format!("/console/reports/{}", second["id"].as_str().unwrap()),
        &cookie,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let side = &html[html
        .find("Có thể trùng với")
        .expect("the side-by-side block")..];
    assert!(
        side.contains(first["tracking_code"].as_str().unwrap()),
        "{side}"
    );
    assert!(side.contains(&format!(
        "/console/reports/{}/photos/0",
        first["id"].as_str().unwrap()
    )));
}

/// Claim and acknowledge from the console, on Redis: a claimed report shows who holds it to
/// every operator, only its holder can acknowledge it, and an acknowledged one leaves the
/// queue for good (the API hands it out no more).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_shows_the_holder_and_ack_takes_it_out_of_the_queue_on_redis() {
    let redis = RedisServer::start();
    let url = redis.url();
    let gw = InProcess::start(move |c| {
        with_two_accounts(c);
        c.redis_url = Some(url.into());
    })
    .await;
    let base = gw.serve().await;
    let first = submit(&base, &report_json()).await;
    let mut other = report_json();
    other["reporter"] = json!({"name": "Trần Thị Bích", "phone": "0987 654 321"});
    other["content"] = json!("Cây xanh gãy đổ chắn ngang đường Nguyễn Huệ, xe máy không qua được.");
    let second = submit(&base, &other).await;
    let code1 = first["tracking_code"].as_str().unwrap();
    let code2 = second["tracking_code"].as_str().unwrap();

    let me = session(&base).await;
    let res = login(&base, OTHER, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let them = res.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();

    // One each: the first operator claims one entry, the second the next.
    claim(&base, &me, "1").await;
    claim(&base, &them, "1").await;
    let (_, mine) = page(&base, "/console", &me).await;
    assert!(mine.contains(code1) && mine.contains(code2), "{mine}");
    assert!(mine.contains("Bạn đang xử lý"), "{mine}");
    assert!(
        mine.contains(&format!("Đang do {OTHER} xử lý")),
        "who holds the other: {mine}"
    );
    assert!(mine.contains("Chờ nhận: <strong>0</strong>"), "{mine}");
    // Only one's own entry can be acknowledged from the page.
    let my_ids = ack_ids(&mine);
    assert_eq!(my_ids.len(), 1, "{mine}");
    let (_, theirs) = page(&base, "/console", &them).await;
    assert!(
        theirs.contains(&format!("Đang do {USER} xử lý")),
        "{theirs}"
    );
    let their_ids = ack_ids(&theirs);
    assert_eq!(their_ids.len(), 1);
    assert_ne!(my_ids, their_ids);
    // Acknowledging another's entry is refused, and changes nothing.
    let res = post_form(
        &base,
        &format!("/console/queue/{}/ack", their_ids[0]),
        &me,
        &[("csrf", &csrf(&mine))],
    )
    .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    // Without the token: refused.
    let res = post_form(
        &base,
        &format!("/console/queue/{}/ack", my_ids[0]),
        &me,
        &[],
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Mine, acknowledged: gone from both operators' queue.
    let held = mine
        .split("<li class=\"report")
        .find(|li| li.contains("Bạn đang xử lý"))
        .unwrap();
    let my_code = if held.contains(code1) { code1 } else { code2 };
    let their_code = if my_code == code1 { code2 } else { code1 };
    let res = post_form(
        &base,
        &format!("/console/queue/{}/ack", my_ids[0]),
        &me,
        &[("csrf", &csrf(&mine))],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/console");
    let (_, mine) = page(&base, "/console", &me).await;
    assert!(!mine.contains(my_code), "acknowledged, gone: {mine}");
    assert!(mine.contains(their_code), "{mine}");
    assert!(ack_ids(&mine).is_empty());
    let (_, theirs) = page(&base, "/console", &them).await;
    assert!(!theirs.contains(my_code), "{theirs}");
    // A second acknowledgement finds nothing.
    let res = post_form(
        &base,
        &format!("/console/queue/{}/ack", my_ids[0]),
        &me,
        &[("csrf", &csrf(&mine))],
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // The API's claim hands out neither: one is acknowledged, the other held (within the
    // claim timeout).
    let claimed: Value = get_with(format!("{base}/v1/ioc/queue?max=10"), IOC_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(claimed["entries"], json!([]), "{claimed}");
}

/// The screened lists: a rejected report, which never reaches the IOC queue, is listed with
/// its reason in Vietnamese; the figures page names channels, fields, verdicts, statuses and
/// reasons in Vietnamese and shows none of the internal codes, nor do its charts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_reports_and_figures_in_vietnamese_on_the_embedded_store() {
    let gw = InProcess::start(with_account).await;
    let base = gw.serve().await;
    let accepted = submit(&base, &report_json()).await;
    let rejected = submit_rejected(&base).await;
    let cookie = session(&base).await;

    let (status, html) = page(&base, "/console/screened?verdict=rejected", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Den duong truoc so 12"), "{html}");
    assert!(html.contains("Bị từ chối"), "{html}");
    assert!(
        html.contains("Nội dung viết không dấu"),
        "the reason: {html}"
    );
    if let Some(code) = rejected["tracking_code"].as_str() {
        assert!(html.contains(code), "{html}");
    }
    assert!(
        !html.contains(accepted["tracking_code"].as_str().unwrap()),
        "{html}"
    );
    for code in internal_codes() {
        assert!(!html.contains(&code), "{code} shown: {html}");
    }
    let (_, html) = page(&base, "/console/screened?verdict=review", &cookie).await;
    assert!(!html.contains("Den duong truoc so 12"), "{html}");
    let (_, all) = page(&base, "/console/screened?verdict=accepted", &cookie).await;
    let (_, review) = page(&base, "/console/screened?verdict=review", &cookie).await;
    let code = accepted["tracking_code"].as_str().unwrap();
    assert!(
        all.contains(code) ^ review.contains(code),
        "the accepted report in exactly one of the two lists"
    );
    let (status, _) = page(&base, "/console/screened?verdict=nonsense", &cookie).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The figures: every row named in Vietnamese.
    let (status, figures) = page(&base, "/console/figures?month=2026-11", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    for label in [
        "Ứng dụng Long An Số",
        "Zalo OA",
        "Thư điện tử",
        "Dịch vụ hành chính công",
        "Trật tự đô thị",
        "Bị từ chối",
        "Cần xem xét",
        "Nội dung viết không dấu",
        "Lý do từ chối",
    ] {
        assert!(figures.contains(label), "{label} missing: {figures}");
    }
    let main = &figures[figures.find("<main>").unwrap()..];
    for code in internal_codes() {
        assert!(!main.contains(&code), "{code} shown: {main}");
    }
    let headers = row_headers(main);
    assert!(headers.len() > 15, "{headers:?}");
    for h in &headers {
        assert!(!h.contains('_'), "an internal key as a row: {h}");
        for key in ["email", "app", "portal", "unknown", "accepted", "received"] {
            assert_ne!(h, key, "an internal key as a row");
        }
    }
    for chart in ["by-channel", "by-field"] {
        for layout in ["", "&layout=narrow"] {
            let (status, svg) = page(
                &base,
                &format!("/console/charts/{chart}.svg?month=2026-11{layout}"),
                &cookie,
            )
            .await;
            assert_eq!(status, StatusCode::OK);
            for code in internal_codes() {
                assert!(!svg.contains(&code), "{code} in {chart}{layout}");
            }
            assert!(
                svg.contains("Ứng dụng Long An Số") || svg.contains("Dịch vụ hành chính công"),
                "{chart}{layout}"
            );
        }
    }
}

/// `gateway console-password` prints a hash that logs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_printed_password_hash_logs_in() {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
        .arg("console-password")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(PASSWORD));
    let gw = InProcess::start(move |c| {
        c.console.accounts = vec![gateway::http::console::ConsoleAccount {
            username: USER.into(),
            password_hash: hash,
        }];
    })
    .await;
    let base = gw.serve().await;
    assert_eq!(
        login(&base, USER, PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        login(&base, USER, "mat-khau-khac-han").await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Too short a password is refused.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
        .arg("console-password")
        .env_clear()
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "ngan").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
}

/// A flood day's backlog: the running deadlines come fifty to a page, soonest first, with how
/// many there are and how many are overdue; every report is on exactly one page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_deadlines_are_paged_with_their_count() {
    let gw = InProcess::start(with_account).await;
    let base = gw.serve().await;
    let n = gateway::http::console::DUE_PAGE + 3;
    let mut codes = Vec::new();
    for i in 0..n {
        let answer = submit(&base, &crate::support::harness::api_report(300 + i)).await;
        codes.push(answer["tracking_code"].as_str().unwrap().to_string());
    }
    let cookie = session(&base).await;
    let shown = |html: &str| -> Vec<String> {
        codes
            .iter()
            .filter(|c| html.contains(&format!(">{c}</a>")))
            .cloned()
            .collect()
    };
    let (status, first) = page(&base, "/console/due", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        first.contains(&format!("{n} phản ánh đang chạy hạn, 0 quá hạn")),
        "{first}"
    );
    assert!(first.contains("Trang 1/2"), "{first}");
    assert!(first.contains("href=\"/console/due?trang=2\""), "{first}");
    assert!(!first.contains("Trang trước"), "{first}");
    let on_first = shown(&first);
    assert_eq!(on_first.len(), gateway::http::console::DUE_PAGE);
    let (status, second) = page(&base, "/console/due?trang=2", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(second.contains("Trang 2/2"), "{second}");
    assert!(second.contains("href=\"/console/due?trang=1\""), "{second}");
    assert!(!second.contains("Trang sau"), "{second}");
    let on_second = shown(&second);
    assert_eq!(on_second.len(), 3, "{on_second:?}");
    assert!(on_second.iter().all(|c| !on_first.contains(c)));
    assert!(codes
        .iter()
        .all(|c| on_first.contains(c) || on_second.contains(c)));
    // A page past the end shows the last one; a page that is no number, the first.
    let (_, past) = page(&base, "/console/due?trang=9", &cookie).await;
    assert_eq!(shown(&past), on_second);
    let (status, odd) = page(&base, "/console/due?trang=hai", &cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown(&odd), on_first);
}
