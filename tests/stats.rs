//! Monthly figures (issue 13 point 4, R-REP-1): reports made through the running gateway at
//! chosen instants (the gateway restarted with its clock set) on every channel — the app's API,
//! the portal's own endpoint, an email read from a real Dovecot, a Zalo OA conversation with the
//! fake Zalo, the Zalo mini app —, moved along their trails by the IOC, then the figures of
//! November 2026 from `GET /v1/stats` and from `gateway stats` —
//! exact counts, the percentiles of the time to forward, the on-time share, the overdue and
//! backlog lists as they stood at the month's end, CSV, and the charts (PNG decoded, SVG parsed
//! with its Vietnamese labels). On the embedded store and on Redis (the endpoint through the
//! report archive, the command line through SCAN).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::dovecot::Dovecot;
use crate::support::fake_zalo::{events, FakeZalo};
use crate::support::gateway::{client, get_with, trail_step, Process, IOC_KEY, SUBMIT_KEY};
use crate::support::harness::{self, deliver_retrying, Channels};
use crate::support::read_fixture;
use crate::support::redis::RedisServer;
use crate::support::smtp::SmtpSink;

const TAN_AN: &str = "12 Hùng Vương, Phường 1, Tân An";
const BEN_LUC: &str = "ấp 3, xã Mỹ Yên, huyện Bến Lức";

/// One report to make: channel, field, address, text.
fn report(channel: &str, field: &str, address: &str, text: &str) -> Value {
    json!({
        "channel": channel,
        "reporter": {"name": "Trần Thị Bình", "phone": "0987 654 321"},
        "content": text,
        "category": {"field": field},
        "location": {"address": address},
    })
}

/// Submit `report` at the gateway's clock `now`, the incident an hour before.
async fn submit(base: &str, now: &str, report: &Value) -> Value {
    let mut report = report.clone();
    let occurred = chrono::DateTime::parse_from_rfc3339(now).unwrap() - chrono::Duration::hours(1);
    report["occurred_at"] = json!(occurred.to_rfc3339());
    let form = reqwest::multipart::Form::new()
        .part(
            "report",
            reqwest::multipart::Part::text(report.to_string())
                .mime_str("application/json")
                .unwrap(),
        )
        .part(
            "media",
            reqwest::multipart::Part::bytes(read_fixture("media/photo-no-exif.jpg"))
                .file_name("anh.jpg")
                .mime_str("image/jpeg")
                .unwrap(),
        );
    // The portal's reports come through the portal's own public endpoint, the app's through
    // the API with a submit key.
    let req = if report["channel"] == "portal" {
        client().post(format!("{base}/v1/portal/reports"))
    } else {
        client()
            .post(format!("{base}/v1/reports"))
            .bearer_auth(SUBMIT_KEY)
    };
    let res = req.multipart(form).send().await.unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert!(
        status == StatusCode::CREATED || status == StatusCode::UNPROCESSABLE_ENTITY,
        "{status}: {body}"
    );
    body
}

/// The test servers of the channels that are not HTTP submissions.
struct Servers {
    dovecot: Dovecot,
    _sink: SmtpSink,
    fake: FakeZalo,
}

/// The IOC queue as claimed so far (entries once claimed are not handed out again).
#[derive(Default)]
struct Claimed(Vec<Value>);

impl Claimed {
    /// The queued report `pick` finds, claiming entries until it comes (60 s at most).
    async fn wait_for(&mut self, gw: &Process, what: &str, pick: impl Fn(&Value) -> bool) -> Value {
        let base = &gw.base;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(r) = self.0.iter().map(|e| &e["report"]).find(|r| pick(r)) {
                return r.clone();
            }
            if Instant::now() > deadline {
                let log = gw.log_text();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                panic!(
                    "no queued report {what}; the gateway's log ends with:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            let res = get_with(
                format!("{base}/v1/ioc/queue?max=100&consumer=stats"),
                IOC_KEY,
            )
            .await;
            assert_eq!(res.status(), StatusCode::OK);
            let v: Value = res.json().await.unwrap();
            let entries = v["entries"].as_array().cloned().unwrap_or_default();
            if entries.is_empty() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            self.0.extend(entries);
        }
    }
}

/// What a gateway answered about a report taken off a channel: its verdict and codes, in the
/// shape of the API's answer (`verdict`, `reasons`, `flags`).
fn as_answer(report: &Value) -> Value {
    json!({
        "id": report["id"],
        "tracking_code": report["tracking_code"],
        "verdict": report["verdict"]["status"],
        "reasons": report["verdict"]["reasons"],
        "flags": report["verdict"]["flags"],
    })
}

/// The email of a citizen (no photo capture time: the photo has no EXIF).
fn citizen_mail() -> Vec<u8> {
    let photo = read_fixture("media/photo-no-exif.jpg");
    let b64: String = photo
        .chunks(57)
        .map(|c| harness::base64(c) + "\r\n")
        .collect();
    format!(
        "From: =?UTF-8?Q?L=C3=AA_V=C4=83n_C=C6=B0=E1=BB=9Dng?= <cuong.le@example.vn>\r\n\
         To: 1022@longan.gov.vn\r\n\
         Subject: =?UTF-8?Q?C=E1=BB=91ng_tho=C3=A1t_n=C6=B0=E1=BB=9Bc?=\r\n\
         Message-ID: <stats-mail-1@example.vn>\r\n\
         Date: Mon, 30 Nov 2026 15:05:00 +0700\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\n\
         Content-Type: text/plain; charset=UTF-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         Lúc 14 giờ ngày 30/11/2026 nắp cống thoát nước trước số 40 đường Trương Định bị vỡ, xe máy đi qua rất dễ sụp bánh.\r\n\
         Địa chỉ: 40 Trương Định, Phường 3, Tân An.\r\n\r\n\
         --b\r\n\
         Content-Type: image/jpeg; name=\"cong.jpg\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n\
         {b64}--b--\r\n"
    )
    .into_bytes()
}

const ZALO_USER: &str = "8420000000000000777";

/// A Zalo OA conversation (description, photo, place, contact, "Gửi") at the gateway's clock
/// `now` (the instant it was started at, plus the time since).
async fn zalo_conversation(fake: &FakeZalo, base: &str, started: (&str, Instant)) {
    let clock = || {
        chrono::DateTime::parse_from_rfc3339(started.0)
            .unwrap()
            .timestamp_millis()
            + started.1.elapsed().as_millis() as i64
    };
    let webhook = format!("{base}/v1/zalo/webhook");
    let deadline = Instant::now() + Duration::from_secs(60);
    let u = ZALO_USER;
    let text =
        "Lúc 14 giờ 30 ngày 30/11/2026 cây xanh bị gãy cành lớn đè lên dây điện trước nhà số 8 đường Nguyễn Huệ, rất nguy hiểm.";
    deliver_retrying(
        fake,
        &webhook,
        &events::text(u, "st-1", text, clock()),
        deadline,
    )
    .await;
    let url = fake.add_media(
        "st-photo.jpg",
        "image/jpeg",
        read_fixture("media/photo-no-exif.jpg"),
    );
    deliver_retrying(
        fake,
        &webhook,
        &events::image(u, "st-2", &url, clock()),
        deadline,
    )
    .await;
    deliver_retrying(
        fake,
        &webhook,
        &events::location(u, "st-3", "10.5366", "106.4138", clock()),
        deadline,
    )
    .await;
    deliver_retrying(
        fake,
        &webhook,
        &events::submit_info(u, "Phạm Thị Dung", "84914000777", clock()),
        deadline,
    )
    .await;
    fake.wait_said(u, |said| {
        said.iter().any(|m| m.starts_with("Tóm tắt phản ánh"))
    })
    .await;
    deliver_retrying(
        fake,
        &webhook,
        &events::text(u, "st-4", "Gửi", clock()),
        deadline,
    )
    .await;
}

/// A mini-app report (the user known to the fake Zalo by its access token).
async fn miniapp_report(fake: &FakeZalo, base: &str) -> Value {
    fake.add_miniapp_user("stats-ma-token", "Z2000000009", "Võ Minh Đức");
    let mini = json!({
        "content": "Đường ống nước bị vỡ làm nước tràn ra mặt đường trước chợ Bến Lức từ sáng nay.",
        "phone": "0918 222 333",
        "address": "chợ Bến Lức, thị trấn Bến Lức, huyện Bến Lức",
        "category": {"field": "environment"},
        "occurred_at": "2026-11-30T07:00:00Z",
    });
    let form = reqwest::multipart::Form::new()
        .text("access_token", "stats-ma-token")
        .text("report", mini.to_string())
        .part(
            "media",
            reqwest::multipart::Part::bytes(read_fixture("media/photo-no-exif.jpg"))
                .file_name("ong-nuoc.jpg")
                .mime_str("image/jpeg")
                .unwrap(),
        );
    let res = client()
        .post(format!("{base}/v1/zalo/miniapp/reports"))
        .header("Idempotency-Key", "stats-mini-1")
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    json!({
        "id": body["id"],
        "tracking_code": body["tracking_code"],
        "verdict": body["status"],
        "reasons": body["reasons"],
        "flags": body["flags"],
    })
}

async fn step(base: &str, id: &str, body: Value) {
    let doc: Value = get_with(format!("{base}/v1/reports/{id}"), IOC_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(doc["verdict"]["status"], "rejected", "{}", doc["verdict"]);
    let (s, r) = trail_step(base, id, body).await;
    assert_eq!(s, StatusCode::OK, "{r}");
}

/// The gateway restarted with its clock at `at`, the backend's environment kept.
fn at(gw: &mut Process, backend: &[(String, String)], at: &str) {
    let mut envs: Vec<(&str, &str)> = backend
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    envs.push(("GATEWAY_CLOCK_START", at));
    gw.restart(&envs);
}

fn count(figures: &Value, table: &str, key: &str) -> u64 {
    figures[table]
        .as_array()
        .unwrap_or_else(|| panic!("no table {table}: {figures}"))
        .iter()
        .find(|c| c["key"] == key)
        .map(|c| c["count"].as_u64().unwrap())
        .unwrap_or(0)
}

fn table(figures: &Value, name: &str) -> BTreeMap<String, u64> {
    figures[name]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["key"].as_str().unwrap().to_string(),
                c["count"].as_u64().unwrap(),
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

fn ids(list: &Value) -> Vec<String> {
    let mut v: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

fn close_to(v: &Value, expected: f64) {
    let got = v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"));
    // The clock runs on from each restart: a second or two of difference.
    assert!(
        (got - expected).abs() < 0.5,
        "{got} minutes, expected {expected}"
    );
}

/// What the test made, to check the figures against.
struct Made {
    /// id → the gateway's answer, for November's reports.
    november: BTreeMap<String, Value>,
    october: String,
    december: String,
    r: BTreeMap<&'static str, String>,
}

async fn make_reports(gw: &mut Process, backend: &[(String, String)], servers: &Servers) -> Made {
    let mut november = BTreeMap::new();
    let mut r = BTreeMap::new();
    let made = |name: &'static str, answer: Value, r: &mut BTreeMap<&'static str, String>| {
        let id = answer["id"].as_str().unwrap().to_string();
        r.insert(name, id.clone());
        id
    };

    // October: left untouched, it is in November's backlog and overdue lists, not its counts.
    at(gw, backend, "2026-10-29T02:00:00Z");
    let a = submit(
        &gw.base,
        "2026-10-29T02:00:00Z",
        &report(
            "app",
            "traffic",
            TAN_AN,
            "Ổ gà lớn giữa đường Hùng Vương gây nguy hiểm cho xe máy qua lại.",
        ),
    )
    .await;
    let october = made("r0", a, &mut r);

    // R1: Monday 08:00 local; forwarded at 10:00 (2 working hours), answered on the 4th.
    at(gw, backend, "2026-11-02T01:00:00Z");
    let a = submit(
        &gw.base,
        "2026-11-02T01:00:00Z",
        &report(
            "app",
            "traffic",
            TAN_AN,
            "Đèn tín hiệu giao thông ở ngã tư Hùng Vương bị tắt từ sáng nay.",
        ),
    )
    .await;
    let r1 = made("r1", a.clone(), &mut r);
    november.insert(r1.clone(), a);
    at(gw, backend, "2026-11-02T03:00:00Z");
    step(&gw.base, &r1, json!({"status": "accepted"})).await;
    step(
        &gw.base,
        &r1,
        json!({"status": "forwarded", "agency": "Sở Giao thông vận tải"}),
    )
    .await;
    step(&gw.base, &r1, json!({"status": "agency_accepted"})).await;
    at(gw, backend, "2026-11-04T03:00:00Z");
    step(
        &gw.base,
        &r1,
        json!({"status": "answered", "message": "Đã sửa đèn tín hiệu."}),
    )
    .await;

    // R2 (portal): Thursday 15:00; forwarded Friday 08:00 (3 working hours, 17 wall-clock).
    at(gw, backend, "2026-11-05T08:00:00Z");
    let a = submit(
        &gw.base,
        "2026-11-05T08:00:00Z",
        &report(
            "portal",
            "environment",
            BEN_LUC,
            "Rác thải đổ trộm bên bờ kênh gây mùi hôi suốt nhiều ngày.",
        ),
    )
    .await;
    let r2 = made("r2", a.clone(), &mut r);
    november.insert(r2.clone(), a);
    at(gw, backend, "2026-11-06T01:00:00Z");
    step(&gw.base, &r2, json!({"status": "accepted"})).await;
    step(
        &gw.base,
        &r2,
        json!({"status": "forwarded", "agency": "UBND xã Mỹ Yên"}),
    )
    .await;

    // R3: Monday 09:00; accepted, forwarded Tuesday 09:00 (10 working hours: late), closed.
    at(gw, backend, "2026-11-09T02:00:00Z");
    let a = submit(
        &gw.base,
        "2026-11-09T02:00:00Z",
        &report(
            "app",
            "urban_order",
            TAN_AN,
            "Cây xanh ngã đổ chắn ngang vỉa hè trước trường tiểu học.",
        ),
    )
    .await;
    let r3 = made("r3", a.clone(), &mut r);
    november.insert(r3.clone(), a);
    at(gw, backend, "2026-11-09T03:00:00Z");
    step(&gw.base, &r3, json!({"status": "accepted"})).await;
    at(gw, backend, "2026-11-10T02:00:00Z");
    step(
        &gw.base,
        &r3,
        json!({"status": "forwarded", "agency": "Công ty Công trình đô thị"}),
    )
    .await;
    step(&gw.base, &r3, json!({"status": "agency_accepted"})).await;
    step(
        &gw.base,
        &r3,
        json!({"status": "answered", "message": "Đã dọn cây."}),
    )
    .await;
    step(&gw.base, &r3, json!({"status": "closed"})).await;

    // R4 (portal): refused at once (decided on time, never forwarded).
    at(gw, backend, "2026-11-16T03:00:00Z");
    let a = submit(
        &gw.base,
        "2026-11-16T03:00:00Z",
        &report(
            "portal",
            "traffic",
            BEN_LUC,
            "Xe tải chở cát chạy quá tốc độ trên tỉnh lộ vào giờ tan học.",
        ),
    )
    .await;
    let r4 = made("r4", a.clone(), &mut r);
    november.insert(r4.clone(), a);
    step(
        &gw.base,
        &r4,
        json!({"status": "not_accepted", "message": "Nội dung không thuộc phạm vi tiếp nhận."}),
    )
    .await;

    // R5: Friday 09:00, never handled: overdue.
    at(gw, backend, "2026-11-20T02:00:00Z");
    let a = submit(
        &gw.base,
        "2026-11-20T02:00:00Z",
        &report(
            "app",
            "public_security",
            TAN_AN,
            "Nhóm thanh niên tụ tập gây ồn ào ở công viên sau mười giờ đêm.",
        ),
    )
    .await;
    let r5 = made("r5", a.clone(), &mut r);
    november.insert(r5.clone(), a);

    // R6: rejected at intake (no diacritics).
    at(gw, backend, "2026-11-25T02:00:00Z");
    let a = submit(
        &gw.base,
        "2026-11-25T02:00:00Z",
        &report(
            "app",
            "traffic",
            TAN_AN,
            "Den duong truoc so 12 bi hong, ca doan duong toi om tu toi qua.",
        ),
    )
    .await;
    assert_eq!(a["verdict"], "rejected", "{a}");
    let r6 = made("r6", a.clone(), &mut r);
    november.insert(r6, a);

    // R7: Friday 09:00, forwarded 09:30; the agency accepts only in December (after the month).
    at(gw, backend, "2026-11-27T02:00:00Z");
    let a = submit(
        &gw.base,
        "2026-11-27T02:00:00Z",
        &report(
            "app",
            "traffic",
            BEN_LUC,
            "Cột điện nghiêng sát mép đường, dây điện võng thấp rất nguy hiểm.",
        ),
    )
    .await;
    let r7 = made("r7", a.clone(), &mut r);
    november.insert(r7.clone(), a);
    at(gw, backend, "2026-11-27T02:30:00Z");
    step(&gw.base, &r7, json!({"status": "accepted"})).await;
    step(
        &gw.base,
        &r7,
        json!({"status": "forwarded", "agency": "Điện lực Bến Lức"}),
    )
    .await;

    // R9 (portal): Monday 30th 15:00: its deadline (1 December 09:00) is after the month.
    at(gw, backend, "2026-11-30T08:00:00Z");
    let a = submit(
        &gw.base,
        "2026-11-30T08:00:00Z",
        &report(
            "portal",
            "environment",
            BEN_LUC,
            "Nước thải từ cơ sở chế biến chảy thẳng ra ruộng lúa của dân.",
        ),
    )
    .await;
    let r9 = made("r9", a.clone(), &mut r);
    november.insert(r9, a);

    // The same afternoon, one report on each other channel: an email read from Dovecot, a
    // Zalo OA conversation, the mini app. Their deadlines too are after the month.
    let started = Instant::now();
    servers
        .dovecot
        .append("gateway", "INBOX", &citizen_mail())
        .await;
    zalo_conversation(&servers.fake, &gw.base, ("2026-11-30T08:00:00Z", started)).await;
    let a = miniapp_report(&servers.fake, &gw.base).await;
    let mini = made("mini", a.clone(), &mut r);
    november.insert(mini, a);
    let mut queue = Claimed::default();
    let mail = queue
        .wait_for(gw, "from the email", |r| r["channel"] == "email")
        .await;
    let id = made("mail", as_answer(&mail), &mut r);
    november.insert(id, as_answer(&mail));
    let oa = queue
        .wait_for(gw, "from Zalo OA", |r| r["channel"] == "zalo_oa")
        .await;
    let id = made("oa", as_answer(&oa), &mut r);
    november.insert(id, as_answer(&oa));

    // December.
    at(gw, backend, "2026-12-01T03:00:00Z");
    step(&gw.base, &r7, json!({"status": "agency_accepted"})).await;
    let a = submit(
        &gw.base,
        "2026-12-01T03:00:00Z",
        &report(
            "app",
            "traffic",
            TAN_AN,
            "Biển báo giao thông bị gãy đổ sau cơn mưa lớn tối qua.",
        ),
    )
    .await;
    let december = made("r8", a, &mut r);

    Made {
        november,
        october,
        december,
        r,
    }
}

/// The tally of the gateway's answers for one key of the verdict (`reasons`, `flags`).
fn codes(made: &Made, key: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for answer in made.november.values() {
        let mut seen: Vec<&str> = answer[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["code"].as_str().unwrap())
            .collect();
        seen.sort();
        seen.dedup();
        for c in seen {
            *out.entry(c.to_string()).or_default() += 1;
        }
    }
    out
}

async fn check_figures(f: &Value, made: &Made, base: &str) {
    let r = |n: &str| made.r[n].clone();
    assert_eq!(f["period"], "2026-11");
    assert_eq!(f["from"], "2026-10-31T17:00:00Z");
    assert_eq!(f["to"], "2026-11-30T17:00:00Z");
    assert_eq!(f["as_of"], "2026-11-30T16:59:59.999Z");
    assert_eq!(f["received"], 11, "{f}");

    // Channels: every one listed, zeros included.
    assert_eq!(f["by_channel"].as_array().unwrap().len(), 6);
    let channels: BTreeMap<String, u64> = [
        ("app", 5),
        ("portal", 3),
        ("email", 1),
        ("zalo_oa", 1),
        ("zalo_miniapp", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(table(f, "by_channel"), channels, "{f}");
    assert_eq!(count(f, "by_channel", "open311"), 0);

    // Fields: the app's and the portal's as sent, the mini app's as chosen, the email's and
    // the Zalo conversation's as the gateway classified them; each as its stored report says.
    let mut docs = BTreeMap::new();
    for id in made.november.keys() {
        let res = get_with(format!("{base}/v1/reports/{id}"), IOC_KEY).await;
        assert_eq!(res.status(), StatusCode::OK, "{id}");
        let doc: Value = res.json().await.unwrap();
        docs.insert(id.clone(), doc);
    }
    let mut fields: BTreeMap<String, u64> = BTreeMap::new();
    for doc in docs.values() {
        let field = doc["category"]["field"].as_str().unwrap_or("unknown");
        *fields.entry(field.to_string()).or_default() += 1;
    }
    assert_eq!(table(f, "by_field"), fields, "{f}");
    assert_eq!(
        docs[&r("mini")]["category"]["field"],
        "environment",
        "the mini app's field as chosen"
    );
    for name in ["mail", "oa"] {
        assert!(
            docs[&r(name)]["category"]["field"].is_string(),
            "{name} classified: {}",
            docs[&r(name)]
        );
    }
    assert!(count(f, "by_field", "traffic") >= 4, "{f}");
    assert!(count(f, "by_field", "environment") >= 3, "{f}");
    assert!(count(f, "by_field", "public_security") >= 1, "{f}");

    // Verdicts and codes as the gateway answered each submission.
    let mut verdicts: BTreeMap<String, u64> = BTreeMap::new();
    for a in made.november.values() {
        *verdicts
            .entry(a["verdict"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(table(f, "by_verdict"), verdicts);
    let rejected: Vec<&str> = made
        .r
        .iter()
        .filter(|(_, id)| {
            made.november
                .get(*id)
                .is_some_and(|a| a["verdict"] == "rejected")
        })
        .map(|(name, _)| *name)
        .collect();
    assert_eq!(rejected, ["r6"], "only the unmarked text is rejected");
    assert_eq!(table(f, "by_reason"), codes(made, "reasons"));
    assert!(count(f, "by_reason", "CONTENT_NO_DIACRITICS") == 1, "{f}");
    assert_eq!(table(f, "by_flag"), codes(made, "flags"));

    // Communes: the units each stored report was placed in, old and new.
    let mut old: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut new: BTreeMap<String, u64> = BTreeMap::new();
    for doc in docs.values() {
        let admin = &doc["location"]["admin"];
        let c = admin["old_commune"]
            .as_str()
            .unwrap_or("unknown")
            .to_string();
        let d = admin["old_district"].as_str().unwrap_or("").to_string();
        let d = if c == "unknown" { String::new() } else { d };
        *old.entry((d, c)).or_default() += 1;
        let n = admin["new_commune"]
            .as_str()
            .unwrap_or("unknown")
            .to_string();
        *new.entry(n).or_default() += 1;
    }
    let got_old: BTreeMap<(String, String), u64> = f["by_commune_old"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                (
                    c["district"].as_str().unwrap_or("").to_string(),
                    c["commune"].as_str().unwrap().to_string(),
                ),
                c["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got_old, old);
    let got_new: BTreeMap<String, u64> = f["by_commune_new"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["commune"].as_str().unwrap().to_string(),
                c["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got_new, new);
    assert!(
        new.keys().filter(|k| *k != "unknown").count() >= 2,
        "the two addresses name two new communes: {new:?}"
    );

    // Status at the month's end: R7's December step does not count.
    let status = table(f, "by_status");
    let expected: BTreeMap<String, u64> = [
        ("forwarded", 2),
        ("received", 5),
        ("answered", 1),
        ("closed", 1),
        ("not_accepted", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(status, expected);

    // One row per day: one report on each of seven days, four on the 30th.
    let daily = f["daily"].as_array().unwrap();
    assert_eq!(daily.len(), 30);
    assert_eq!(daily[0]["date"], "2026-11-01");
    let busy: Vec<(&str, u64)> = daily
        .iter()
        .filter(|d| d["count"] != 0)
        .map(|d| (d["date"].as_str().unwrap(), d["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        busy,
        [
            ("2026-11-02", 1),
            ("2026-11-05", 1),
            ("2026-11-09", 1),
            ("2026-11-16", 1),
            ("2026-11-20", 1),
            ("2026-11-25", 1),
            ("2026-11-27", 1),
            ("2026-11-30", 4)
        ]
    );

    // Forwarding: R1 2 h, R2 3 h (17 h on the wall clock), R3 10 h (24 h), R7 30 min.
    let fw = &f["forwarding"];
    assert_eq!(fw["forwarded"], 4);
    close_to(&fw["working_time"]["median_minutes"], 120.0);
    close_to(&fw["working_time"]["p90_minutes"], 600.0);
    close_to(&fw["wall_clock"]["median_minutes"], 120.0);
    close_to(&fw["wall_clock"]["p90_minutes"], 1440.0);
    // On time: R1, R2, R4 (refused), R7; late: R3, R5; pending: R9 and the email, Zalo and
    // mini-app reports of the same afternoon.
    assert_eq!(fw["decided_on_time"], 4);
    assert_eq!(fw["late"], 2);
    assert_eq!(fw["pending"], 4);
    assert!((fw["on_time_share"].as_f64().unwrap() - 4.0 / 6.0).abs() < 1e-9);

    // Lists as at the month's end, ids and tracking codes only.
    let mut overdue = vec![made.october.clone(), r("r2"), r("r5"), r("r7")];
    overdue.sort();
    assert_eq!(ids(&f["overdue"]), overdue);
    let mut backlog = overdue.clone();
    backlog.extend([r("r9"), r("mail"), r("oa"), r("mini")]);
    backlog.sort();
    assert_eq!(ids(&f["backlog"]), backlog);
    let r7 = f["overdue"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == r("r7").as_str())
        .unwrap();
    assert_eq!(r7["status"], "forwarded");
    assert_eq!(r7["due_kind"], "agency_accept");
    assert_eq!(
        r7["tracking_code"],
        made.november[&r("r7")]["tracking_code"]
    );
    assert!(!ids(&f["backlog"]).contains(&made.december));
    let text = f.to_string();
    for private in [
        "Trần Thị Bình",
        "0987",
        "987654321",
        "Hùng Vương",
        "Ổ gà",
        "Sở Giao thông",
        "cuong.le",
        "Lê Văn Cường",
        ZALO_USER,
        "Phạm Thị Dung",
        "914000777",
        "Z2000000009",
        "918222333",
        "Võ Minh Đức",
        "Trương Định",
    ] {
        assert!(!text.contains(private), "`{private}` in the figures");
    }
}

/// The rows of the figures' CSV (RFC 4180 quoting), four fields each.
fn csv_rows(csv: &str) -> Vec<[String; 4]> {
    let mut rows = Vec::new();
    for line in csv.lines().skip(1) {
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '"' if quoted && chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                '"' => quoted = !quoted,
                ',' if !quoted => fields.push(std::mem::take(&mut field)),
                c => field.push(c),
            }
        }
        fields.push(field);
        let n = fields.len();
        rows.push(
            fields
                .try_into()
                .unwrap_or_else(|_| panic!("{n} fields in the CSV row `{line}`")),
        );
    }
    rows
}

fn svg_texts(svg: &str) -> String {
    let doc = roxmltree::Document::parse(svg).expect("the SVG is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect::<Vec<_>>()
        .join("|")
}

/// The bars' colours: blue (by channel, by field), green (daily).
const BARS: [u8; 3] = [31, 119, 180];
const DAYS: [u8; 3] = [44, 160, 44];

/// A PNG of the chart size with at least `min` pixels of the bars' colour.
fn check_png(bytes: &[u8], colour: [u8; 3], min: usize) {
    let img = image::load_from_memory_with_format(bytes, image::ImageFormat::Png)
        .expect("the PNG decodes");
    assert_eq!((img.width(), img.height()), (1000, 560));
    // The bars were drawn (an empty chart has axes and labels only).
    let rgb = img.to_rgb8();
    let bars = rgb.pixels().filter(|p| p.0 == colour).count();
    assert!(bars >= min, "{bars} pixels of the bars' colour");
}

fn cli(data_dir: &Path, backend: &[(String, String)], args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gateway"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GATEWAY_DATA_DIR", data_dir)
        .env("GATEWAY_CLOCK_START", "2026-12-02T03:00:00Z");
    for (k, v) in backend {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "gateway {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

async fn figures_of_a_month(
    mut backend: Vec<(String, String)>,
    cli_backend: Vec<(String, String)>,
    embedded: bool,
) {
    // Every report carries the same photo: no duplicate window, so that each is counted on
    // its own (the duplicate rules have their own tests).
    backend.push((
        "GATEWAY_DUPLICATES__WINDOW_HOURS".to_string(),
        "0".to_string(),
    ));
    // Email from a real Dovecot (replies to an SMTP sink), Zalo against the fake.
    let servers = Servers {
        dovecot: Dovecot::start(),
        _sink: SmtpSink::start(),
        fake: FakeZalo::start().await,
    };
    let conf_dir = tempfile::tempdir().unwrap();
    let config = harness::write_config(
        conf_dir.path(),
        &Channels {
            imap_port: Some(servers.dovecot.imap_port),
            smtp_port: Some(servers._sink.port),
            zalo: Some(&servers.fake),
        },
        "",
    );
    backend.push((
        "GATEWAY_CONFIG".to_string(),
        config.to_str().unwrap().to_string(),
    ));
    let dir = tempfile::tempdir().unwrap();
    let envs: Vec<(&str, &str)> = backend
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut gw = Process::start(dir.path(), &envs);
    let made = make_reports(&mut gw, &backend, &servers).await;
    at(&mut gw, &backend, "2026-12-02T03:00:00Z");
    let base = gw.base.clone();

    let res = get_with(format!("{base}/v1/stats?month=2026-11"), IOC_KEY).await;
    assert_eq!(res.status(), StatusCode::OK);
    let f: Value = res.json().await.unwrap();
    check_figures(&f, &made, &base).await;

    // CSV, by parameter or by Accept.
    let res = get_with(format!("{base}/v1/stats?month=2026-11&format=csv"), IOC_KEY).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = res.text().await.unwrap();
    let res = client()
        .get(format!("{base}/v1/stats?month=2026-11"))
        .bearer_auth(IOC_KEY)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), csv);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "section,key,value,detail");
    for row in [
        "received,total,11,",
        "by_channel,app,5,",
        "by_channel,portal,3,",
        "by_channel,email,1,",
        "by_channel,zalo_oa,1,",
        "by_channel,zalo_miniapp,1,",
        "by_field,traffic,4,",
        "forwarding,forwarded,4,",
        "forwarding,decided_on_time,4,",
        "forwarding,late,2,",
    ] {
        assert!(lines.contains(&row), "no row `{row}` in\n{csv}");
    }
    // Every count of the JSON figures (checked above against the reports) is a CSV row.
    let rows = csv_rows(&csv);
    for section in [
        "by_channel",
        "by_field",
        "by_verdict",
        "by_reason",
        "by_flag",
        "by_commune_new",
    ] {
        let key = if section == "by_commune_new" {
            "commune"
        } else {
            "key"
        };
        let from_json: BTreeMap<String, String> = f[section]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c[key].as_str().unwrap().to_string(), c["count"].to_string()))
            .collect();
        let from_csv: BTreeMap<String, String> = rows
            .iter()
            .filter(|r| r[0] == section)
            .map(|r| (r[1].clone(), r[2].clone()))
            .collect();
        assert_eq!(from_csv, from_json, "{section} in\n{csv}");
    }
    let old_json: BTreeMap<(String, String), String> = f["by_commune_old"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                (
                    c["district"].as_str().unwrap_or("").to_string(),
                    c["commune"].as_str().unwrap().to_string(),
                ),
                c["count"].to_string(),
            )
        })
        .collect();
    let old_csv: BTreeMap<(String, String), String> = rows
        .iter()
        .filter(|r| r[0] == "by_commune_old")
        .map(|r| ((r[3].clone(), r[1].clone()), r[2].clone()))
        .collect();
    assert_eq!(old_csv, old_json, "{csv}");
    let r7 = &made.r["r7"];
    let code = made.november[r7]["tracking_code"].as_str().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("overdue,{r7},{code},forwarded due "))),
        "{csv}"
    );

    // The year so far: October's, November's and December's reports.
    let res = get_with(format!("{base}/v1/stats?year=2026"), IOC_KEY).await;
    let y: Value = res.json().await.unwrap();
    assert_eq!(y["received"], 13, "{y}");
    assert_eq!(y["period"], "2026");
    assert_eq!(
        y["daily"].as_array().unwrap().len(),
        336,
        "1 January to 2 December"
    );

    // Charts from the endpoint.
    let res = get_with(
        format!("{base}/v1/stats/charts/by-field.svg?month=2026-11"),
        IOC_KEY,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("image/svg+xml"));
    let texts = svg_texts(&res.text().await.unwrap());
    for label in [
        "Giao thông",
        "Môi trường",
        "Trật tự đô thị",
        "Phản ánh theo lĩnh vực — tháng 11/2026",
    ] {
        assert!(
            texts.contains(label),
            "`{label}` not in the SVG's text: {texts}"
        );
    }
    let res = get_with(
        format!("{base}/v1/stats/charts/daily.png?month=2026-11"),
        IOC_KEY,
    )
    .await;
    assert_eq!(res.headers()["content-type"], "image/png");
    check_png(&res.bytes().await.unwrap(), DAYS, 8 * 2000);
    // Every chart in both formats; the by-channel one with the bars of the five channels used.
    for name in ["by-channel", "by-field", "daily"] {
        for ext in ["svg", "png"] {
            let res = get_with(
                format!("{base}/v1/stats/charts/{name}.{ext}?month=2026-11"),
                IOC_KEY,
            )
            .await;
            assert_eq!(res.status(), StatusCode::OK, "{name}.{ext}");
            let bytes = res.bytes().await.unwrap();
            if ext == "svg" {
                let texts = svg_texts(std::str::from_utf8(&bytes).unwrap());
                assert!(texts.contains("tháng 11/2026"), "{name}: {texts}");
            } else {
                let colour = if name == "daily" { DAYS } else { BARS };
                check_png(&bytes, colour, 5 * 2000);
            }
        }
    }

    // Refusals.
    for (query, status) in [
        ("month=2026-13", StatusCode::BAD_REQUEST),
        ("", StatusCode::BAD_REQUEST),
        ("month=2026-11&year=2026", StatusCode::BAD_REQUEST),
        ("month=2027-01", StatusCode::BAD_REQUEST),
        ("month=2026-11&format=xml", StatusCode::BAD_REQUEST),
    ] {
        let res = get_with(format!("{base}/v1/stats?{query}"), IOC_KEY).await;
        assert_eq!(res.status(), status, "{query}");
    }
    let res = get_with(format!("{base}/v1/stats?month=2026-11"), SUBMIT_KEY).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = get_with(
        format!("{base}/v1/stats/charts/pie.svg?month=2026-11"),
        IOC_KEY,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // The command line: the embedded store is the gateway's own file, read once it stopped.
    if embedded {
        gw.kill();
    }
    let charts = dir.path().join("charts");
    let out = cli(
        dir.path(),
        &cli_backend,
        &[
            "stats",
            "--month",
            "2026-11",
            "--chart",
            charts.to_str().unwrap(),
        ],
    );
    let from_cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(from_cli, f, "the command line and the endpoint agree");
    let out = cli(
        dir.path(),
        &cli_backend,
        &["stats", "--month", "2026-11", "--format", "csv"],
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), csv);
    for name in ["by-channel", "by-field", "daily"] {
        let svg = std::fs::read_to_string(charts.join(format!("{name}.svg"))).unwrap();
        let texts = svg_texts(&svg);
        assert!(texts.contains("tháng 11/2026"), "{name}: {texts}");
        let colour = if name == "daily" { DAYS } else { BARS };
        check_png(
            &std::fs::read(charts.join(format!("{name}.png"))).unwrap(),
            colour,
            8 * 2000,
        );
    }
    let texts = svg_texts(&std::fs::read_to_string(charts.join("by-channel.svg")).unwrap());
    for label in [
        "Ứng dụng Long An Số",
        "Cổng 1022",
        "Thư điện tử",
        "Phản ánh theo kênh tiếp nhận",
    ] {
        assert!(texts.contains(label), "`{label}` not in {texts}");
    }
}

#[tokio::test]
async fn monthly_figures_on_the_embedded_store() {
    figures_of_a_month(Vec::new(), Vec::new(), true).await;
}

#[tokio::test]
async fn monthly_figures_on_redis_through_the_archive_and_through_scan() {
    let server = RedisServer::start();
    let backend = vec![
        ("GATEWAY_REDIS_URL".to_string(), server.url().to_string()),
        (
            "GATEWAY_DUPLICATES__IDENTITY_PEPPER".to_string(),
            "stats-test-pepper".to_string(),
        ),
    ];
    // The command line reads the same Redis without the archive: SCAN over the documents.
    let mut cli_backend = backend.clone();
    cli_backend.push((
        "GATEWAY_REDIS__REPORT_RETENTION_DAYS".to_string(),
        "0".to_string(),
    ));
    figures_of_a_month(backend, cli_backend, false).await;
}
