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

fn with_account(c: &mut gateway::config::Config) {
    c.console.accounts = vec![gateway::http::console::ConsoleAccount {
        username: USER.into(),
        password_hash: gateway::http::console::hash_password(PASSWORD).unwrap(),
    }];
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

    // The queue: the report with its verdict, its place and its countdown; the markup of the
    // description shown as text.
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

    // The queue: the report, its thumbnail loaded, its countdown.
    browser
        .wait_until(
            "the queue",
            "return document.querySelector('ul.queue') !== null;",
            t,
        )
        .await;
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

    // The figures page with its charts loaded.
    browser.goto(&format!("{base}/console/figures")).await;
    browser
        .wait_until(
            "the charts",
            "var c = document.querySelectorAll('img.chart'); return c.length === 3 && Array.prototype.every.call(c, function (i) { return i.complete && i.naturalWidth > 0; });",
            t,
        )
        .await;
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
    let (_, queue) = page(&base, "/console", &cookie).await;
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
