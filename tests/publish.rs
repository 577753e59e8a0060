//! Publication, agencies and disclosure through the running gateway (issue 12 points 5 and 7,
//! Đ8.3, Đ11, Đ13.5): the public feed of results and their photos' public copies, confidential
//! and withheld reports kept out, agency keys limited to their reports with the contact only
//! after consent or disclosure, the Open311 routes in the OpenAPI document, and the rebuild of
//! the indexes for reports stored before them — on the embedded store and on a real Redis.

use std::io::Cursor;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::gateway::{
    client, get, get_with, trail_step as step, InProcess, Process, IOC_KEY, SUBMIT_KEY,
};
use crate::support::redis::RedisServer;
use crate::support::{report_form, report_json};

const LONG_AN: &str = "UBND phường Long An";
const MY_YEN: &str = "UBND xã Mỹ Yên";
const LONG_AN_KEY: &str = "agency-key-longan-0123456789";
const MY_YEN_KEY: &str = "agency-key-myyen-0123456789ab";

fn keys() -> gateway::config::ApiKeys {
    gateway::config::parse_api_keys(&format!(
        "submit:{SUBMIT_KEY},ioc:{IOC_KEY},agency={LONG_AN}:{LONG_AN_KEY},agency={MY_YEN}:{MY_YEN_KEY}"
    ))
    .unwrap()
}

async fn embedded() -> (InProcess, Option<RedisServer>) {
    let gw = InProcess::start(|c| {
        c.track.lookups_per_minute = 1000;
        c.api_keys = keys();
    })
    .await;
    (gw, None)
}

async fn redis() -> (InProcess, Option<RedisServer>) {
    let server = RedisServer::start();
    let url = server.url();
    let gw = InProcess::start(move |c| {
        c.redis_url = Some(url.into());
        c.track.lookups_per_minute = 1000;
        c.api_keys = keys();
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
    results_are_published_without_personal_data_and_photos_without_metadata,
    agencies_see_only_their_reports_and_the_contact_only_when_allowed,
);

/// Three incidents reported by three citizens (the same photo fixture: a DUPLICATE flag for
/// the IOC, not a rejection of the same reporter).
const INCIDENTS: [(&str, &str, f64, f64, &str, &str); 3] = [
    (
        "Đèn đường trước số 12 đường Hùng Vương bị hỏng, cả đoạn đường tối om từ tối qua.",
        "12 Hùng Vương, Phường 1, Tân An",
        10.54,
        106.41,
        "Nguyễn Văn An",
        "0912 345 678",
    ),
    (
        "Cống thoát nước trên đường Nguyễn Huệ bị tắc, nước ngập sâu sau cơn mưa chiều qua.",
        "Đường Nguyễn Huệ, Phường 1, Tân An",
        10.536,
        106.413,
        "Lê Văn Cường",
        "0913 111 222",
    ),
    (
        "Có người đổ trộm rác thải xây dựng ra lề đường Trương Định vào sáng sớm nay.",
        "Đường Trương Định, Phường 2, Tân An",
        10.531,
        106.402,
        "Trần Thị Bình",
        "0987 654 321",
    ),
];

/// Every personal value the test reports carry, and their descriptions and addresses.
const PRIVATE: [&str; 19] = [
    "Lê Văn Cường",
    "913111222",
    "0913 111 222",
    "Nguyễn Văn An",
    "912345678",
    "0912 345 678",
    "an.nguyen@example.vn",
    "Trần Thị Bình",
    "987654321",
    "0987 654 321",
    "Hùng Vương",
    "số 12",
    "tối om",
    "Nguyễn Huệ",
    "ngập sâu",
    "Trương Định",
    "đổ trộm",
    "\"lat\"",
    "\"address\"",
];

fn assert_no_personal_data(text: &str) {
    for private in PRIVATE {
        assert!(!text.contains(private), "`{private}` is public: {text}");
    }
}

async fn submit(base: &str, incident: usize, extra: Value) -> Value {
    let (content, address, lat, lon, name, phone) = INCIDENTS[incident];
    let mut report = report_json();
    report["reporter"] = json!({"name": name, "phone": phone});
    if incident == 0 {
        report["reporter"]["email"] = json!("an.nguyen@example.vn");
    }
    report["content"] = json!(content);
    report["location"] = json!({"address": address, "lat": lat, "lon": lon});
    report["category"] = json!({"field": "urban_order"});
    for (k, v) in extra.as_object().unwrap() {
        report[k] = v.clone();
    }
    let res = client()
        .post(format!("{base}/v1/reports"))
        .bearer_auth(SUBMIT_KEY)
        .multipart(report_form(&report, "anh.jpg"))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn send(method: reqwest::Method, url: String, key: &str, body: Value) -> (StatusCode, Value) {
    let res = client()
        .request(method, url)
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn forward(base: &str, id: &str, agency: &str) {
    let (s, e) = step(base, id, json!({"status": "accepted"})).await;
    assert_eq!(s, StatusCode::OK, "{e}");
    let (s, e) = step(
        base,
        id,
        json!({"status": "forwarded", "agency": agency, "note": "internal-note"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{e}");
}

async fn feed(base: &str, query: &str) -> (String, Value) {
    let res = get(format!("{base}/v1/published{query}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap();
    (text, v)
}

fn codes(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["tracking_code"].as_str().unwrap().to_string())
        .collect()
}

async fn bytes(res: reqwest::Response) -> Vec<u8> {
    res.bytes().await.unwrap().to_vec()
}

fn inspect(bytes: &[u8]) -> normalizers::media::MediaInfo {
    normalizers::media::inspect(&mut Cursor::new(bytes), Some("image/jpeg"))
}

async fn results_are_published_without_personal_data_and_photos_without_metadata(
    gw: InProcess,
    _redis: Option<RedisServer>,
) {
    let base = gw.serve().await;
    let a = submit(&base, 0, json!({})).await;
    let b = submit(&base, 2, json!({"confidential": true})).await;
    let c = submit(&base, 1, json!({})).await;
    let (a_id, a_code) = (
        a["id"].as_str().unwrap(),
        a["tracking_code"].as_str().unwrap(),
    );
    let (b_id, b_code) = (
        b["id"].as_str().unwrap(),
        b["tracking_code"].as_str().unwrap(),
    );
    let (c_id, c_code) = (
        c["id"].as_str().unwrap(),
        c["tracking_code"].as_str().unwrap(),
    );

    // Nothing is published before a result.
    for id in [a_id, b_id, c_id] {
        forward(&base, id, LONG_AN).await;
    }
    let (_, page) = feed(&base, "").await;
    assert!(codes(&page).is_empty(), "{page}");

    // A answered by the agency, B (confidential) and C by the IOC.
    let (s, e) = send(
        reqwest::Method::POST,
        format!("{base}/v1/agency/reports/{a_id}/status"),
        LONG_AN_KEY,
        json!({"status": "agency_accepted"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{e}");
    let (s, e) = send(
        reqwest::Method::POST,
        format!("{base}/v1/agency/reports/{a_id}/status"),
        LONG_AN_KEY,
        json!({"status": "answered", "message": "Đã thay bóng đèn ngày 28/11.", "note": "internal-note"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{e}");
    for id in [b_id, c_id] {
        let (s, e) = step(&base, id, json!({"status": "agency_accepted"})).await;
        assert_eq!(s, StatusCode::OK, "{e}");
        let (s, e) = step(
            &base,
            id,
            json!({"status": "answered", "message": "Đã xử lý xong."}),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{e}");
    }

    // The feed: A and C, newest first; never B; no personal value anywhere.
    let (text, page) = feed(&base, "").await;
    assert_eq!(codes(&page), [c_code, a_code], "{page}");
    assert!(!text.contains(b_code));
    assert_no_personal_data(&text);
    for private in ["internal-note", "ioc:", "agency:", a_id, c_id] {
        assert!(!text.contains(private), "`{private}` is public: {text}");
    }
    let ra = &page["results"][1];
    assert_eq!(ra["result"], "Đã thay bóng đèn ngày 28/11.");
    assert_eq!(ra["agency"], LONG_AN);
    assert_eq!(
        ra["category"].as_str(),
        normalizers::vietnamese::field_name(normalizers::report::CategoryField::UrbanOrder)
    );
    // Times and the commune (the gazetteer's) as the IOC sees them.
    let ioc_view: Value = get_with(format!("{base}/v1/reports/{a_id}"), IOC_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ra["received_at"], ioc_view["received_at"]);
    let answered = ioc_view["trail"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["status"] == "answered")
        .unwrap();
    assert_eq!(ra["answered_at"], answered["at"]);
    let admin = &ioc_view["location"]["admin"];
    for unit in ["new_commune", "old_commune", "old_district"] {
        assert_eq!(
            ra["place"][unit].as_str(),
            admin[unit].as_str(),
            "{unit}: {ra} vs {admin}"
        );
    }
    let photos = ra["photos"].as_array().unwrap();
    assert_eq!(photos.len(), 1, "{ra}");

    // The photo: the public copy, without EXIF or GPS (the original has both).
    let original =
        bytes(get_with(format!("{base}/v1/reports/{a_id}/media/0"), IOC_KEY).await).await;
    assert!(inspect(&original).gps.is_some(), "the fixture has GPS");
    let res = get(format!("{base}{}", photos[0].as_str().unwrap())).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/jpeg");
    let public = bytes(res).await;
    let info = inspect(&public);
    assert!(info.unreadable.is_none(), "{info:?}");
    assert_eq!(info.media_type, "image/jpeg");
    assert!(info.gps.is_none() && info.captured_at.is_none(), "{info:?}");
    assert!(!public.windows(6).any(|w| w == b"Exif\0\0"), "EXIF left");
    assert_no_personal_data(&String::from_utf8_lossy(&public));
    // Only published reports' photos: not B's (confidential), not past the last photo.
    for path in [
        format!("/v1/published/{b_code}/media/0"),
        format!("/v1/published/{a_code}/media/1"),
        "/v1/published/LA-0000-0000/media/0".to_string(),
    ] {
        let res = get(format!("{base}{path}")).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }

    // Pages by cursor.
    let (_, first) = feed(&base, "?max=1").await;
    assert_eq!(codes(&first), [c_code]);
    let next = first["next"].as_str().expect("a next page");
    let (_, second) = feed(&base, &format!("?max=1&cursor={next}")).await;
    assert_eq!(codes(&second), [a_code]);
    assert!(second.get("next").is_none(), "{second}");
    let res = get(format!("{base}/v1/published?cursor=junk")).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // The IOC withholds A (Đ11.3): out of the feed, its photo gone; then lifts it.
    let url = format!("{base}/v1/reports/{a_id}/publication");
    let (s, e) = send(
        reqwest::Method::PUT,
        url.clone(),
        IOC_KEY,
        json!({"published": false}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "a reason is required: {e}");
    let (s, e) = send(
        reqwest::Method::PUT,
        url.clone(),
        SUBMIT_KEY,
        json!({"published": false, "reason": "x"}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
    let (s, e) = send(
        reqwest::Method::PUT,
        url.clone(),
        IOC_KEY,
        json!({"published": false, "reason": "Có thông tin thuộc bí mật nhà nước"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{e}");
    assert_eq!(e["published"], false);
    assert!(e["withheld"]["actor"].as_str().unwrap().starts_with("ioc:"));
    let (_, page) = feed(&base, "").await;
    assert_eq!(codes(&page), [c_code]);
    let res = get(format!("{base}{}", photos[0].as_str().unwrap())).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let (s, e) = send(
        reqwest::Method::PUT,
        url,
        IOC_KEY,
        json!({"published": true}),
    )
    .await;
    assert_eq!((s, &e["published"]), (StatusCode::OK, &json!(true)), "{e}");
    let (_, page) = feed(&base, "").await;
    assert_eq!(codes(&page), [c_code, a_code]);

    // Closing keeps the result published; the IOC returning it to the agency does not.
    let (s, e) = step(&base, a_id, json!({"status": "closed"})).await;
    assert_eq!(s, StatusCode::OK, "{e}");
    let (s, e) = step(&base, c_id, json!({"status": "agency_accepted"})).await;
    assert_eq!(s, StatusCode::OK, "{e}");
    let (_, page) = feed(&base, "").await;
    assert_eq!(codes(&page), [a_code]);
    // B stays unpublished even with the IOC's blessing: the citizen asked (Đ11.2).
    let (s, e) = send(
        reqwest::Method::PUT,
        format!("{base}/v1/reports/{b_id}/publication"),
        IOC_KEY,
        json!({"published": true}),
    )
    .await;
    assert_eq!((s, &e["published"]), (StatusCode::OK, &json!(false)), "{e}");
    let (text, _) = feed(&base, "").await;
    assert!(!text.contains(b_code));
}

async fn agency_get(base: &str, path: &str, key: &str) -> (StatusCode, String) {
    let res = get_with(format!("{base}/v1/agency/reports{path}"), key).await;
    let status = res.status();
    (status, res.text().await.unwrap())
}

async fn agency_step(base: &str, id: &str, key: &str, body: Value) -> (StatusCode, Value) {
    send(
        reqwest::Method::POST,
        format!("{base}/v1/agency/reports/{id}/status"),
        key,
        body,
    )
    .await
}

async fn agencies_see_only_their_reports_and_the_contact_only_when_allowed(
    gw: InProcess,
    _redis: Option<RedisServer>,
) {
    let base = gw.serve().await;
    let d = submit(&base, 0, json!({})).await;
    let e = submit(&base, 1, json!({"consent_share_pii": true})).await;
    let f = submit(&base, 2, json!({})).await;
    let (d_id, e_id, f_id) = (
        d["id"].as_str().unwrap(),
        e["id"].as_str().unwrap(),
        f["id"].as_str().unwrap(),
    );
    // Not forwarded yet: no agency sees it.
    let (s, _) = agency_get(&base, &format!("/{d_id}"), LONG_AN_KEY).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    forward(&base, d_id, LONG_AN).await;
    forward(&base, e_id, "ubnd  PHƯỜNG long an").await;
    forward(&base, f_id, LONG_AN).await;

    // Long An lists its three; Mỹ Yên none.
    let (s, text) = agency_get(&base, "", LONG_AN_KEY).await;
    assert_eq!(s, StatusCode::OK, "{text}");
    let list: Value = serde_json::from_str(&text).unwrap();
    let mut ids: Vec<&str> = list["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    ids.sort();
    let mut want = vec![d_id, e_id, f_id];
    want.sort();
    assert_eq!(ids, want, "{list}");
    assert_no_personal_data(&text);
    let (s, text) = agency_get(&base, "", MY_YEN_KEY).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["reports"],
        json!([])
    );

    // D without consent: the report, not the contact.
    let (s, text) = agency_get(&base, &format!("/{d_id}"), LONG_AN_KEY).await;
    assert_eq!(s, StatusCode::OK, "{text}");
    let view: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(view["contact"], "withheld");
    assert_eq!(view["report"]["reporter"]["phone"], Value::Null);
    assert!(view["report"]["content"]["text"]
        .as_str()
        .unwrap()
        .contains("Hùng Vương"));
    for private in ["Nguyễn Văn An", "912345678", "an.nguyen@example.vn"] {
        assert!(!text.contains(private), "`{private}` shown: {text}");
    }
    let res = get_with(
        format!("{base}/v1/agency/reports/{d_id}/media/0"),
        LONG_AN_KEY,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let photo = bytes(res).await;
    assert_eq!(inspect(&photo).media_type, "image/jpeg");
    // E with consent: the contact.
    let (s, text) = agency_get(&base, &format!("/{e_id}"), LONG_AN_KEY).await;
    assert_eq!(s, StatusCode::OK, "{text}");
    let view: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(view["contact"], "consent");
    assert_eq!(view["report"]["reporter"]["phone"], "+84913111222");

    // Another agency: 403 everywhere; the agency key on IOC routes: 403.
    for path in [format!("/{d_id}"), format!("/{d_id}/media/0")] {
        let (s, _) = agency_get(&base, &path, MY_YEN_KEY).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}");
    }
    let (s, _) = agency_step(
        &base,
        d_id,
        MY_YEN_KEY,
        json!({"status": "agency_accepted"}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    for path in [
        format!("/v1/reports/{d_id}"),
        format!("/v1/reports/{d_id}/media/0"),
        "/v1/ioc/queue".to_string(),
    ] {
        let res = get_with(format!("{base}{path}"), LONG_AN_KEY).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let (s, _) = step(&base, d_id, json!({"status": "agency_accepted"})).await;
    assert_eq!(s, StatusCode::OK, "the IOC may still act");
    // Only the agency's own steps.
    let (s, _) = agency_step(&base, d_id, LONG_AN_KEY, json!({"status": "closed"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, e) = agency_step(&base, d_id, LONG_AN_KEY, json!({"status": "answered"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "the result is required: {e}");

    // The IOC discloses D's contact to Long An (Đ13.5): recorded, visible to the IOC.
    let url = format!("{base}/v1/reports/{d_id}/disclose");
    let (s, _) = send(reqwest::Method::POST, url.clone(), IOC_KEY, json!({})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = send(
        reqwest::Method::POST,
        url.clone(),
        LONG_AN_KEY,
        json!({"reason": "x"}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let reason = "Cần liên hệ người phản ánh để xác định vị trí cột đèn";
    let (s, rec) = send(
        reqwest::Method::POST,
        url,
        IOC_KEY,
        json!({"reason": reason}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{rec}");
    assert_eq!(rec["agency"], LONG_AN);
    assert_eq!(rec["reason"], reason);
    assert!(rec["actor"].as_str().unwrap().starts_with("ioc:"));
    assert!(rec["at"].is_string());
    let ioc_view: Value = get_with(format!("{base}/v1/reports/{d_id}"), IOC_KEY)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ioc_view["disclosures"][0]["reason"], reason);
    let (_, text) = agency_get(&base, &format!("/{d_id}"), LONG_AN_KEY).await;
    let view: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(view["contact"], "disclosed");
    assert_eq!(view["report"]["reporter"]["phone"], "+84912345678");
    assert_eq!(view["report"]["reporter"]["name"], "Nguyễn Văn An");
    assert!(view["report"].get("disclosures").is_none(), "{view}");
    let (s, e) = agency_step(
        &base,
        d_id,
        LONG_AN_KEY,
        json!({"status": "answered", "message": "Đã thay bóng đèn."}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{e}");
    assert!(e["trail"].as_array().unwrap().last().unwrap()["actor"]
        .as_str()
        .unwrap()
        .starts_with("agency:"));

    // F forwarded on to Mỹ Yên: Long An no longer sees it, Mỹ Yên does.
    let (s, e) = step(
        &base,
        f_id,
        json!({"status": "forwarded", "agency": MY_YEN}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{e}");
    let (s, _) = agency_get(&base, &format!("/{f_id}"), LONG_AN_KEY).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, text) = agency_get(&base, "", LONG_AN_KEY).await;
    assert_eq!(s, StatusCode::OK);
    assert!(!text.contains(f_id), "{text}");
    let (s, text) = agency_get(&base, "", MY_YEN_KEY).await;
    assert_eq!(s, StatusCode::OK);
    assert!(text.contains(f_id), "{text}");
    let (s, e) = agency_step(
        &base,
        f_id,
        MY_YEN_KEY,
        json!({"status": "agency_accepted"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{e}");
    // The disclosure to Long An does not follow the report to Mỹ Yên.
    let (s, text) = agency_get(&base, &format!("/{f_id}"), MY_YEN_KEY).await;
    assert_eq!(s, StatusCode::OK);
    assert!(!text.contains("912345678"), "{text}");
}

/// The Open311 routes are in the OpenAPI document, with the other new routes.
#[tokio::test]
async fn the_openapi_document_lists_open311_and_the_new_routes() {
    let gw = InProcess::start(|_| {}).await;
    let base = gw.serve().await;
    let doc: Value = get(format!("{base}/openapi.json"))
        .await
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/open311/v2/discovery.{format}", "get"),
        ("/open311/v2/services.{format}", "get"),
        ("/open311/v2/services/{service_code}.{format}", "get"),
        ("/open311/v2/requests.{format}", "get"),
        ("/open311/v2/requests.{format}", "post"),
        ("/open311/v2/requests/{service_request_id}.{format}", "get"),
        ("/v1/published", "get"),
        ("/v1/published/{tracking_code}/media/{n}", "get"),
        ("/v1/reports/{id}/publication", "put"),
        ("/v1/reports/{id}/disclose", "post"),
        ("/v1/agency/reports", "get"),
        ("/v1/agency/reports/{id}", "get"),
        ("/v1/agency/reports/{id}/media/{n}", "get"),
        ("/v1/agency/reports/{id}/status", "post"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from /openapi.json"
        );
    }
    // Every reference resolves.
    let text = doc.to_string();
    for r in text.split("\"$ref\":\"").skip(1) {
        let target = &r[..r.find('"').unwrap()];
        let pointer = target.trim_start_matches('#');
        assert!(doc.pointer(pointer).is_some(), "dangling {target}");
    }
    // And the Open311 route answers as documented.
    let res = get(format!("{base}/open311/v2/services.json")).await;
    assert_eq!(res.status(), StatusCode::OK);
}

/// Reports stored before the indexes existed are found after `gateway reindex` and, once per
/// store, after a start.
#[tokio::test]
async fn reports_stored_before_the_indexes_are_found_after_a_reindex_embedded() {
    reindex_case(None).await;
}

#[tokio::test]
async fn reports_stored_before_the_indexes_are_found_after_a_reindex_redis() {
    let server = RedisServer::start();
    reindex_case(Some(server.url().to_string())).await;
    drop(server);
}

async fn open_store(dir: &std::path::Path, redis: Option<&str>) -> gateway::store::Store {
    match redis {
        Some(url) => gateway::store::Store::redis(url).await.unwrap(),
        None => gateway::store::Store::embedded(
            &dir.join("queue.redb"),
            std::sync::Arc::new(gateway::clock::SystemClock),
        )
        .unwrap(),
    }
}

/// Forget the indexes of one report, as a version before them would have left it.
async fn forget(dir: &std::path::Path, redis: Option<&str>, id: &str, code: &str) {
    let store = open_store(dir, redis).await;
    store.delete(&format!("track:{code}")).await.unwrap();
    store
        .index_remove(gateway::publication::PUBLISHED_INDEX, id)
        .await
        .unwrap();
    store
        .delete(gateway::publication::REINDEX_MARKER)
        .await
        .unwrap();
}

async fn reindex_case(redis: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut envs: Vec<(&str, &str)> = vec![("GATEWAY_TRACK__LOOKUPS_PER_MINUTE", "1000")];
    if let Some(url) = redis.as_deref() {
        envs.push(("GATEWAY_REDIS_URL", url));
        envs.push(("GATEWAY_DUPLICATES__IDENTITY_PEPPER", "publish-test-pepper"));
    }
    let mut gw = Process::start(dir.path(), &envs);
    let sub = submit(&gw.base, 0, json!({})).await;
    let (id, code) = (
        sub["id"].as_str().unwrap().to_string(),
        sub["tracking_code"].as_str().unwrap().to_string(),
    );
    forward(&gw.base, &id, LONG_AN).await;
    for body in [
        json!({"status": "agency_accepted"}),
        json!({"status": "answered", "message": "Đã thay bóng đèn."}),
    ] {
        let (s, e) = step(&gw.base, &id, body).await;
        assert_eq!(s, StatusCode::OK, "{e}");
    }
    gw.kill();

    // The command line.
    forget(dir.path(), redis.as_deref(), &id, &code).await;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gateway"));
    cmd.arg("reindex")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GATEWAY_DATA_DIR", dir.path())
        .env(
            "GATEWAY_API_KEYS",
            format!("submit:{SUBMIT_KEY},ioc:{IOC_KEY}"),
        );
    for (k, v) in &envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["reindexed"], 1, "{printed}");
    gw.restart(&envs);
    let res = get(format!("{}/v1/track/{code}", gw.base)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let (_, page) = feed(&gw.base, "").await;
    assert_eq!(codes(&page), [code.as_str()]);
    gw.kill();

    // At start, once per store (in the background).
    forget(dir.path(), redis.as_deref(), &id, &code).await;
    gw.restart(&envs);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let res = get(format!("{}/v1/track/{code}", gw.base)).await;
        let tracked = res.status();
        assert!([StatusCode::OK, StatusCode::NOT_FOUND].contains(&tracked));
        let (_, page) = feed(&gw.base, "").await;
        if tracked == StatusCode::OK && codes(&page) == [code.as_str()] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not reindexed at start: {}",
            gw.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
