//! The processing trail through the running gateway (issue 12 points 3 and 4): IOC transitions
//! with their deadlines and 409s, the public tracking view (JSON and HTML) without personal data
//! or internal notes, the lookup limit, closed reports leaving the DUPLICATE window, and the
//! overdue list — on the embedded store and on a real Redis.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::gateway::{
    client, get, get_with, trail_step as step, InProcess, IOC_KEY, SUBMIT_KEY,
};
use crate::support::redis::RedisServer;
use crate::support::{report_form, report_json};

async fn embedded() -> (InProcess, Option<RedisServer>) {
    (
        InProcess::start(|c| c.track.lookups_per_minute = 1000).await,
        None,
    )
}

async fn redis() -> (InProcess, Option<RedisServer>) {
    let server = RedisServer::start();
    let url = server.url();
    let gw = InProcess::start(move |c| {
        c.redis_url = Some(url.into());
        c.track.lookups_per_minute = 1000;
    })
    .await;
    (gw, Some(server))
}

macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        mod embedded_backend {
            $(#[tokio::test] async fn $name() { let (gw, r) = super::embedded().await; super::$name(gw, r).await })+
        }
        mod redis_backend {
            $(#[tokio::test] async fn $name() { let (gw, r) = super::redis().await; super::$name(gw, r).await })+
        }
    };
}

both_backends!(
    the_ioc_walks_a_report_along_its_trail_and_the_citizen_follows_it,
    a_closed_report_leaves_the_duplicate_window,
);

fn submission(phone: &str) -> reqwest::multipart::Form {
    let mut report = report_json();
    report["reporter"]["phone"] = json!(phone);
    report_form(&report, "den-hong.jpg")
}

async fn submit(base: &str, phone: &str) -> Value {
    let res = client()
        .post(format!("{base}/v1/reports"))
        .bearer_auth(SUBMIT_KEY)
        .multipart(submission(phone))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json().await.unwrap()
}

async fn track(base: &str, code: &str) -> (StatusCode, String) {
    let res = get(format!("{base}/v1/track/{code}")).await;
    let status = res.status();
    (status, res.text().await.unwrap())
}

/// The entry of report `id` in an overdue list.
fn overdue_entry(due: &Value, id: &str) -> Option<Value> {
    due["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["report_id"] == id)
        .cloned()
}

fn assert_no_personal_data(text: &str) {
    for private in [
        "Nguyễn Văn An",
        "912345678",
        "0912",
        "Hùng Vương",
        "tối om",
        "internal-note",
        "ioc:",
    ] {
        assert!(!text.contains(private), "`{private}` is public: {text}");
    }
}

async fn the_ioc_walks_a_report_along_its_trail_and_the_citizen_follows_it(
    gw: InProcess,
    _redis: Option<RedisServer>,
) {
    let base = gw.serve().await;
    let sub = submit(&base, "0912 345 678").await;
    let id = sub["id"].as_str().unwrap();
    let code = sub["tracking_code"].as_str().unwrap();

    // Received: the citizen sees it with the forwarding deadline (Saturday 28/11 10:00 local →
    // Monday 30/11 11:00 local = 04:00Z).
    let (s, body) = track(&base, &code.to_lowercase()).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let t: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(t["status"], "received");
    assert_eq!(t["due_by"], "2026-11-30T04:00:00Z");
    assert_no_personal_data(&body);

    // The IOC's running deadlines list it.
    let res = get_with(
        format!("{base}/v1/ioc/overdue?within_minutes=10000"),
        IOC_KEY,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let due: Value = res.json().await.unwrap();
    let mine = overdue_entry(&due, id).expect("listed");
    assert_eq!(mine["kind"], "forward_or_refuse");
    assert_eq!(mine["overdue"], false);
    // Not within the default hour.
    let res = get_with(format!("{base}/v1/ioc/overdue"), IOC_KEY).await;
    let due: Value = res.json().await.unwrap();
    assert!(due["entries"].as_array().unwrap().is_empty(), "{due}");
    // IOC only.
    let res = get_with(format!("{base}/v1/ioc/overdue"), SUBMIT_KEY).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // Steps the trail does not allow: 409 with what is allowed.
    let (s, e) = step(&base, id, json!({"status": "answered", "message": "x"})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert!(e["message"]
        .as_str()
        .unwrap()
        .contains("accepted, not_accepted"));
    let (s, _) = step(&base, id, json!({"status": "forwarded", "agency": "A"})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = step(&base, id, json!({"status": "flying"})).await;
    assert!(s.is_client_error());

    let (s, r) = step(&base, id, json!({"status": "accepted"})).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["trail"].as_array().unwrap().len(), 2);
    assert_eq!(r["trail"][0]["status"], "received");
    assert_eq!(r["due_by"], "2026-11-30T04:00:00Z");
    // Forwarding needs the agency.
    let (s, e) = step(&base, id, json!({"status": "forwarded"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (s, r) = step(
        &base,
        id,
        json!({"status": "forwarded", "agency": "UBND phường Tân An", "note": "internal-note: gọi anh Bình"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    // Forwarded during the weekend: the agency's 4 working hours end Monday 11:00 local.
    assert_eq!(r["due_by"], "2026-11-30T04:00:00Z");
    let (s, r) = step(&base, id, json!({"status": "agency_accepted"})).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    // 7 working days from the forwarding: Tuesday 8/12 17:00 local.
    assert_eq!(r["due_by"], "2026-12-08T10:00:00Z");
    let (s, _) = step(&base, id, json!({"status": "answered"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "an answer states the result");
    let (s, r) = step(
        &base,
        id,
        json!({"status": "answered", "message": "Đã thay bóng đèn <b>mới</b> ngày 29/11."}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["due_by"], Value::Null);

    // The citizen's view: the trail, the agency, the result; no note, no actor.
    let (_, body) = track(&base, code).await;
    let t: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(t["status"], "answered");
    let steps: Vec<&str> = t["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "received",
            "accepted",
            "forwarded",
            "agency_accepted",
            "answered"
        ]
    );
    assert_eq!(t["steps"][2]["agency"], "UBND phường Tân An");
    assert!(body.contains("Đã thay bóng đèn"));
    assert_no_personal_data(&body);

    // The HTML view: Vietnamese, escaped, strict CSP.
    let res = get(format!("{base}/track/{code}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let csp = res.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = res.text().await.unwrap();
    assert!(html.contains("Đã có kết quả xử lý"), "{html}");
    assert!(html.contains("&lt;b&gt;mới&lt;/b&gt;"), "{html}");
    assert!(!html.contains("<b>"));
    assert_no_personal_data(&html);
    let res = get(format!("{base}/track?code={code}")).await;
    assert_eq!(res.status(), StatusCode::OK);

    let (s, _) = step(&base, id, json!({"status": "closed"})).await;
    assert_eq!(s, StatusCode::OK);
    let (s, e) = step(&base, id, json!({"status": "accepted"})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    // The IOC's own view has the whole trail, notes and actors included.
    let res = get_with(format!("{base}/v1/reports/{id}"), IOC_KEY).await;
    let full: Value = res.json().await.unwrap();
    assert_eq!(full["status"], "closed");
    assert_eq!(full["trail"].as_array().unwrap().len(), 6);
    assert!(full["trail"][2]["note"]
        .as_str()
        .unwrap()
        .contains("internal-note"));
    assert!(full["trail"][1]["actor"]
        .as_str()
        .unwrap()
        .starts_with("ioc:"));
    assert_eq!(
        full["deadlines"]["agency_answer_by"],
        "2026-12-08T10:00:00Z"
    );

    // Unknown codes: 404, in JSON and HTML.
    let (s, _) = track(&base, "LA-0000-0000").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let res = get(format!("{base}/track/LA-0000-0000")).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.text().await.unwrap().contains("Không tìm thấy"));
}

async fn a_closed_report_leaves_the_duplicate_window(gw: InProcess, _redis: Option<RedisServer>) {
    let base = gw.serve().await;
    let first = submit(&base, "0912 345 678").await;
    let id = first["id"].as_str().unwrap();
    let flags = |v: &Value| -> Vec<String> {
        v["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["code"].as_str().unwrap().to_string())
            .collect()
    };
    let neighbour = submit(&base, "0987 654 321").await;
    assert!(
        flags(&neighbour).contains(&"DUPLICATE".into()),
        "{neighbour}"
    );
    for body in [
        json!({"status": "not_accepted", "message": "Đèn đã được sửa trước khi phản ánh được gửi."}),
        json!({"status": "closed"}),
    ] {
        let (s, r) = step(&base, id, body).await;
        assert_eq!(s, StatusCode::OK, "{r}");
    }
    let (s, r) = step(
        &base,
        neighbour["id"].as_str().unwrap(),
        json!({"status": "not_accepted", "message": "Trùng phản ánh đã xử lý."}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let (s, r) = step(
        &base,
        neighbour["id"].as_str().unwrap(),
        json!({"status": "closed"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let third = submit(&base, "0903 123 456").await;
    assert!(!flags(&third).contains(&"DUPLICATE".into()), "{third}");
}

/// Lookups are bounded per source address: 429 with Retry-After, for found and unknown codes.
#[tokio::test]
async fn tracking_lookups_are_rate_limited() {
    let gw = InProcess::start(|c| c.track.lookups_per_minute = 3).await;
    let base = gw.serve().await;
    let sub = submit(&base, "0912 345 678").await;
    let code = sub["tracking_code"].as_str().unwrap();
    for c in [code, "LA-0000-0000", code] {
        let (s, _) = track(&base, c).await;
        assert_ne!(s, StatusCode::TOO_MANY_REQUESTS);
    }
    let res = get(format!("{base}/v1/track/{code}")).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait));
    let body: Value = res.json().await.unwrap();
    assert!(body["message_vi"].as_str().unwrap().contains("thử lại"));
    let res = get(format!("{base}/track/{code}")).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
}

/// A second instance on the same Redis, three days later: the report's deadline has passed and
/// the overdue list says so.
#[tokio::test]
async fn a_missed_deadline_is_listed_as_overdue_by_any_instance() {
    let (gw, redis) = redis().await;
    let base = gw.serve().await;
    let sub = submit(&base, "0912 345 678").await;
    let id = sub["id"].as_str().unwrap();
    let url = redis.as_ref().unwrap().url();
    let later = InProcess::start(move |c| {
        c.redis_url = Some(url.into());
        c.clock_start = Some("2026-12-01T03:00:00Z".parse().unwrap());
    })
    .await;
    let later_base = later.serve().await;
    let res = get_with(format!("{later_base}/v1/ioc/overdue"), IOC_KEY).await;
    let due: Value = res.json().await.unwrap();
    let mine = overdue_entry(&due, id).unwrap_or_else(|| panic!("not listed: {due}"));
    assert_eq!(mine["overdue"], true);
    assert_eq!(mine["status"], "received");
    // Acting on it late moves it off the list.
    let (s, _) = step(&later_base, id, json!({"status": "accepted"})).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = step(
        &later_base,
        id,
        json!({"status": "forwarded", "agency": "Sở Xây dựng"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let res = get_with(format!("{later_base}/v1/ioc/overdue"), IOC_KEY).await;
    let due: Value = res.json().await.unwrap();
    assert!(
        !due["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["report_id"] == id && e["overdue"] == true),
        "{due}"
    );
    // Counted as a missed stage, with no id in the metrics.
    let metrics = get(format!("{later_base}/metrics"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("gateway_deadlines_missed_total{stage=\"forward_or_refuse\"}"),
        "{metrics}"
    );
    assert!(!metrics.contains(id));
}

/// A report the gateway rejected keeps its code: the citizen sees it was not accepted, without
/// the reasons (they were in the answer) and without anything of the report.
#[tokio::test]
async fn a_rejected_report_is_tracked_as_not_accepted() {
    let gw = InProcess::start(|_| {}).await;
    let base = gw.serve().await;
    let form = reqwest::multipart::Form::new().part(
        "report",
        reqwest::multipart::Part::text(report_json().to_string())
            .mime_str("application/json")
            .unwrap(),
    );
    let res = client()
        .post(format!("{base}/v1/reports"))
        .bearer_auth(SUBMIT_KEY)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let sub: Value = res.json().await.unwrap();
    let (s, body) = track(&base, sub["tracking_code"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let t: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(t["status"], "not_accepted");
    assert!(t["rejected"]
        .as_str()
        .unwrap()
        .contains("chưa đủ điều kiện"));
    assert!(!body.contains("MEDIA_MISSING"));
    assert_eq!(t["due_by"], Value::Null);
    assert_no_personal_data(&body);
    // The IOC cannot move it along the trail.
    let (s, _) = step(
        &base,
        sub["id"].as_str().unwrap(),
        json!({"status": "accepted"}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
}

fn check_config(envs: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_gateway"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .arg("check-config");
    for (k, v) in envs {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Holiday files from the configuration: a broken one is an error, a calendar that does not
/// cover the next 60 days a warning of `check-config` and of `serve` at start.
#[test]
fn holiday_files_are_checked_and_the_calendar_coverage_is_warned() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "year = 2028\n[[days_off]]\nname = \"x\"\ndate = \"2028-13-01\"\n",
    )
    .unwrap();
    let (code, err) = check_config(&[(
        "GATEWAY_CALENDAR__HOLIDAY_FILES",
        &format!("[\"{}\"]", bad.display()),
    )]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("calendar.holiday_files") && err.contains("2028-13-01"),
        "{err}"
    );
    // Late 2027: 2028 has no file yet.
    let (code, err) = check_config(&[("GATEWAY_CLOCK_START", "2027-11-15T00:00:00Z")]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("warning: calendar.holiday_files") && err.contains("2028-01-01"),
        "{err}"
    );
    let good = dir.path().join("2028.toml");
    std::fs::write(
        &good,
        "year = 2028\n[[days_off]]\nname = \"Tết Dương lịch\"\ndate = \"2028-01-01\"\n",
    )
    .unwrap();
    let (code, err) = check_config(&[
        ("GATEWAY_CLOCK_START", "2027-11-15T00:00:00Z"),
        (
            "GATEWAY_CALENDAR__HOLIDAY_FILES",
            &format!("[\"{}\"]", good.display()),
        ),
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("calendar.holiday_files"), "{err}");
    // `serve` warns in its log.
    let data = tempfile::tempdir().unwrap();
    let mut gw = crate::support::gateway::Process::start(
        data.path(),
        &[("GATEWAY_CLOCK_START", "2027-11-15T00:00:00Z")],
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !gw.log_text().contains("no holiday file") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let log = gw.log_text();
    gw.kill();
    assert!(
        log.contains("no holiday file") && log.contains("2028-01-01"),
        "{log}"
    );
}

/// Two changes of one report at once (two operators, two instances): the second gets 409 while
/// the first holds the report's lock, instead of overwriting it.
#[tokio::test]
async fn a_change_in_progress_is_not_overwritten() {
    let (gw, _redis) = redis().await;
    let base = gw.serve().await;
    let sub = submit(&base, "0912 345 678").await;
    let id = sub["id"].as_str().unwrap();
    let store = gw
        .state
        .pipeline
        .channel_store(std::time::Duration::from_secs(5))
        .store
        .clone();
    let lock = gateway::trail::lock_key(id);
    store
        .put(&lock, b"another-change", Some(gateway::trail::LOCK_TTL))
        .await
        .unwrap();
    let (s, e) = step(&base, id, json!({"status": "accepted"})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("in progress"),
        "{e}"
    );
    let res = client()
        .put(format!("{base}/v1/reports/{id}/status"))
        .bearer_auth(IOC_KEY)
        .json(&json!({"status": "closed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    // Not released by someone else's change.
    assert_eq!(
        store.get(&lock).await.unwrap().as_deref(),
        Some(&b"another-change"[..])
    );
    store.delete(&lock).await.unwrap();
    let (s, r) = step(&base, id, json!({"status": "accepted"})).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert!(store.get(&lock).await.unwrap().is_none(), "released");
}
