use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

use crate::support::gateway::{InProcess, IOC_KEY, SUBMIT_KEY};
use crate::support::{read_fixture, report_json, Multipart};

async fn call(
    gw: &InProcess,
    method: &str,
    uri: &str,
    key: Option<&str>,
    body: Option<(String, Vec<u8>)>,
    extra: &[(&str, &str)],
) -> (StatusCode, Vec<u8>) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(key) = key {
        req = req.header("authorization", format!("Bearer {key}"));
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let req = match body {
        Some((ct, bytes)) => req.header("content-type", ct).body(Body::from(bytes)),
        None => req.body(Body::empty()),
    }
    .unwrap();
    let res = gw.router().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 64 << 20)
        .await
        .unwrap()
        .to_vec();
    (status, bytes)
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(bytes)))
}

fn photo_body(report: &Value) -> (String, Vec<u8>) {
    Multipart::new()
        .json("report", report)
        .file(
            "media",
            "den-hong.jpg",
            "image/jpeg",
            &read_fixture("media/photo-2h-before.jpg"),
        )
        .finish()
}

/// How many rejected reports are kept for audit (`ioc:rejections`).
async fn rejections_kept(gw: &InProcess) -> u64 {
    let (len, _, _) = gw
        .state
        .pipeline
        .queue_depth("ioc:rejections")
        .await
        .unwrap();
    len
}

async fn queue_entries(gw: &InProcess) -> Vec<Value> {
    let (status, body) = call(
        gw,
        "GET",
        "/v1/ioc/queue?max=100&consumer=t",
        Some(IOC_KEY),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    json(&body)["entries"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_complete_report_is_created_queued_and_readable_by_the_ioc() {
    let gw = InProcess::start(|_| {}).await;
    let (status, body) = call(
        &gw,
        "POST",
        "/v1/reports",
        Some(SUBMIT_KEY),
        Some(photo_body(&report_json())),
        &[],
    )
    .await;
    let answer = json(&body);
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let id = answer["id"].as_str().unwrap().to_string();
    let code = answer["tracking_code"].as_str().unwrap();
    assert!(code.starts_with("LA-") && code.len() == 12, "{code}");
    assert_ne!(answer["verdict"], "rejected");
    assert!(answer["reasons"].as_array().unwrap().is_empty());

    let entries = queue_entries(&gw).await;
    assert_eq!(entries.len(), 1);
    let report = &entries[0]["report"];
    assert_eq!(report["id"], id.as_str());
    assert_eq!(
        report["reporter"]["phone"], "+84912345678",
        "phone normalised to E.164"
    );
    assert_eq!(report["attachments"][0]["media_type"], "image/jpeg");
    assert_eq!(report["attachments"][0]["captured_at_source"], "exif");
    assert!(report["raw_original"]
        .as_str()
        .unwrap()
        .starts_with("sha256/"));

    let (status, body) = call(
        &gw,
        "GET",
        &format!("/v1/reports/{id}"),
        Some(IOC_KEY),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["tracking_code"], code);

    let (status, media) = call(
        &gw,
        "GET",
        &format!("/v1/reports/{id}/media/0"),
        Some(IOC_KEY),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        media,
        read_fixture("media/photo-2h-before.jpg"),
        "the original bytes come back"
    );
    let (status, _) = call(
        &gw,
        "GET",
        &format!("/v1/reports/{id}/media/1"),
        Some(IOC_KEY),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Acknowledged entries are never handed out again.
    let entry = entries[0]["entry_id"].as_str().unwrap();
    let (status, _) = call(
        &gw,
        "POST",
        &format!("/v1/ioc/queue/{entry}/ack"),
        Some(IOC_KEY),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(
        &gw,
        "POST",
        &format!("/v1/ioc/queue/{entry}/ack"),
        Some(IOC_KEY),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_same_idempotency_key_never_makes_a_second_report() {
    let gw = InProcess::start(|_| {}).await;
    let key = [("idempotency-key", "app-7f1c2a")];
    let (s1, b1) = call(
        &gw,
        "POST",
        "/v1/reports",
        Some(SUBMIT_KEY),
        Some(photo_body(&report_json())),
        &key,
    )
    .await;
    let (s2, b2) = call(
        &gw,
        "POST",
        "/v1/reports",
        Some(SUBMIT_KEY),
        Some(photo_body(&report_json())),
        &key,
    )
    .await;
    assert_eq!(s1, StatusCode::CREATED);
    assert_eq!(s2, StatusCode::CREATED);
    let (a1, a2) = (json(&b1), json(&b2));
    assert_eq!(a1["id"], a2["id"]);
    assert_eq!(a1["tracking_code"], a2["tracking_code"]);
    assert_eq!(a2["replayed"], true);
    assert_eq!(queue_entries(&gw).await.len(), 1);
    // Another key is another report (here from another citizen: the same citizen sending the
    // same report again under a new key is a DUPLICATE rejection, see tests/duplicates.rs).
    let mut neighbour = report_json();
    neighbour["reporter"]["phone"] = serde_json::json!("0987 654 321");
    let (s3, b3) = call(
        &gw,
        "POST",
        "/v1/reports",
        Some(SUBMIT_KEY),
        Some(photo_body(&neighbour)),
        &[("idempotency-key", "app-other")],
    )
    .await;
    assert_eq!(s3, StatusCode::CREATED);
    assert_ne!(json(&b3)["id"], a1["id"]);
}

#[tokio::test]
async fn a_rejected_report_lists_every_reason_in_vietnamese_and_is_not_queued() {
    let gw = InProcess::start(|_| {}).await;
    let report = serde_json::json!({"channel": "portal", "reporter": {}, "content": ""});
    let (body_ct, body) = Multipart::new().json("report", &report).finish();
    let (status, answer) = call(
        &gw,
        "POST",
        "/v1/reports",
        Some(SUBMIT_KEY),
        Some((body_ct, body)),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let answer = json(&answer);
    let codes: Vec<&str> = answer["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    for code in [
        "CONTENT_MISSING",
        "TIME_MISSING",
        "LOCATION_MISSING",
        "MEDIA_MISSING",
        "REPORTER_NAME_MISSING",
        "REPORTER_CONTACT_MISSING",
    ] {
        assert!(codes.contains(&code), "{code} missing from {codes:?}");
    }
    for r in answer["reasons"].as_array().unwrap() {
        let msg = r["message"].as_str().unwrap();
        assert!(
            msg.contains("Vui lòng") || msg.contains("vui lòng"),
            "the message says how to fix it: {msg}"
        );
    }
    assert!(answer["tracking_code"].is_string());
    assert!(
        queue_entries(&gw).await.is_empty(),
        "rejected reports do not reach the IOC queue"
    );
    assert_eq!(
        rejections_kept(&gw).await,
        1,
        "the rejection is kept for audit"
    );
}

#[tokio::test]
async fn an_invalid_phone_is_quoted_back() {
    let gw = InProcess::start(|_| {}).await;
    let mut report = report_json();
    report["reporter"]["phone"] = "12345".into();
    let (status, answer) = call(
        &gw,
        "POST",
        "/v1/reports",
        Some(SUBMIT_KEY),
        Some(photo_body(&report)),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let answer = json(&answer);
    let r = &answer["reasons"][0];
    assert_eq!(r["code"], "REPORTER_CONTACT_MISSING");
    assert_eq!(r["field"], "reporter.phone");
    assert!(r["message"].as_str().unwrap().contains("12345"));
}

#[tokio::test]
async fn a_file_that_is_not_what_it_claims_is_unreadable() {
    let gw = InProcess::start(|_| {}).await;
    let (ct, body) = Multipart::new()
        .json("report", &report_json())
        .file(
            "media",
            "anh.jpg",
            "image/jpeg",
            b"%PDF-1.4 this is not a photo at all, only text and more text",
        )
        .finish();
    let (status, answer) = call(
        &gw,
        "POST",
        "/v1/reports",
        Some(SUBMIT_KEY),
        Some((ct, body)),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let codes: Vec<String> = json(&answer)["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap().to_string())
        .collect();
    assert!(codes.contains(&"MEDIA_UNREADABLE".to_string()), "{codes:?}");
}

#[tokio::test]
async fn authentication_and_roles_are_enforced() {
    let gw = InProcess::start(|_| {}).await;
    let (s, _) = call(
        &gw,
        "POST",
        "/v1/reports",
        None,
        Some(photo_body(&report_json())),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = call(
        &gw,
        "POST",
        "/v1/reports",
        Some("wrong-key-wrong-key-wrong"),
        Some(photo_body(&report_json())),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = call(&gw, "GET", "/v1/ioc/queue", Some(SUBMIT_KEY), None, &[]).await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "a submit key cannot read the IOC queue"
    );
    let (s, _) = call(
        &gw,
        "POST",
        "/v1/reports",
        Some(IOC_KEY),
        Some(photo_body(&report_json())),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(queue_entries(&gw).await.is_empty(), "nothing was stored");
}

#[tokio::test]
async fn malformed_requests_get_400_saying_what_is_wrong_and_store_nothing() {
    let gw = InProcess::start(|_| {}).await;
    let cases: Vec<((String, Vec<u8>), &str)> = vec![
        (Multipart::new().file("media", "a.jpg", "image/jpeg", &read_fixture("media/photo-2h-before.jpg")).finish(), "`report` JSON part is missing"),
        (Multipart::new().text("report", "{not json").finish(), "not a valid report"),
        (Multipart::new().json("report", &serde_json::json!({"channel":"fax","reporter":{},"content":"x"})).finish(), "not a valid report"),
        (Multipart::new().json("report", &serde_json::json!({"channel":"app","reporter":{},"content":"x","extra":1})).finish(), "unknown field"),
        (Multipart::new().json("report", &serde_json::json!({"channel":"app","reporter":{},"content":"x","location":{"lat":10.5}})).finish(), "together"),
        (Multipart::new().json("report", &serde_json::json!({"channel":"app","reporter":{},"content":"x","occurred_at":"yesterday"})).finish(), "not a valid report"),
        (Multipart::new().json("report", &report_json()).text("comment", "hi").finish(), "unexpected part"),
        (("multipart/form-data; boundary=zzz".into(), b"garbage without boundary".to_vec()), "multipart"),
    ];
    for ((ct, body), expect) in cases {
        let (s, answer) = call(
            &gw,
            "POST",
            "/v1/reports",
            Some(SUBMIT_KEY),
            Some((ct, body)),
            &[],
        )
        .await;
        let answer = json(&answer);
        assert_eq!(s, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["error"], "bad_request");
        assert!(
            answer["message"].as_str().unwrap().contains(expect),
            "{answer} should say {expect}"
        );
    }
    let (s, answer) = call(
        &gw,
        "POST",
        "/v1/reports",
        Some(SUBMIT_KEY),
        Some(photo_body(&report_json())),
        &[("idempotency-key", "")],
    )
    .await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert!(queue_entries(&gw).await.is_empty());
    let staged = std::fs::read_dir(gw.dir.path().join("media/tmp"))
        .unwrap()
        .count();
    assert_eq!(staged, 0, "no staged file is left behind");
}

#[tokio::test]
async fn oversized_files_and_too_many_files_get_413_and_store_nothing() {
    let gw = InProcess::start(|c| {
        c.limits.photo_max_bytes = 500;
        c.limits.max_files = 2;
    })
    .await;
    let (s, answer) = call(
        &gw,
        "POST",
        "/v1/reports",
        Some(SUBMIT_KEY),
        Some(photo_body(&report_json())),
        &[],
    )
    .await;
    assert_eq!(
        s,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let answer = json(&answer);
    assert_eq!(answer["error"], "payload_too_large");
    assert!(answer["message_vi"].as_str().unwrap().contains("MB"));

    let tiny = b"#!AMR\n0123456789".to_vec();
    let (ct, body) = Multipart::new()
        .json("report", &report_json())
        .file("media", "1.amr", "audio/amr", &tiny)
        .file("media", "2.amr", "audio/amr", &tiny)
        .file("media", "3.amr", "audio/amr", &tiny)
        .finish();
    let (s, answer) = call(
        &gw,
        "POST",
        "/v1/reports",
        Some(SUBMIT_KEY),
        Some((ct, body)),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(json(&answer)["message"]
        .as_str()
        .unwrap()
        .contains("at most 2"));
    assert!(queue_entries(&gw).await.is_empty());
    let staged = std::fs::read_dir(gw.dir.path().join("media/tmp"))
        .unwrap()
        .count();
    assert_eq!(staged, 0, "partial uploads are deleted");
}

/// The Vietnamese 413 sentence used to state the default limits whatever was configured.
#[tokio::test]
async fn the_413_sentence_states_the_configured_limits() {
    let limits = |c: &mut gateway::config::Config| {
        (c.limits.photo_max_bytes, c.limits.max_files) = (2_500_000, 1);
    };
    let gw = InProcess::start(limits).await;
    let tiny = b"#!AMR\n0123456789".to_vec();
    let two_files = Multipart::new()
        .json("report", &report_json())
        .file("media", "1.amr", "audio/amr", &tiny)
        .file("media", "2.amr", "audio/amr", &tiny)
        .finish();
    let req = Some(two_files);
    let (s, answer) = call(&gw, "POST", "/v1/reports", Some(SUBMIT_KEY), req, &[]).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    let vi = json(&answer)["message_vi"].as_str().unwrap().to_string();
    assert!(
        vi.contains("Ảnh tối đa 2,5 MB, ghi âm tối đa 20 MB"),
        "{vi}"
    );
    assert!(vi.contains("không quá 1 tệp"), "{vi}");
}

#[tokio::test]
async fn a_request_body_over_the_total_limit_gets_413() {
    let gw = InProcess::start(|c| c.limits.request_max_bytes = 2_000).await;
    let big = Multipart::new()
        .json("report", &report_json())
        .file("media", "a.amr", "audio/amr", &vec![b'x'; 10_000])
        .finish();
    let (s2, _) = call(&gw, "POST", "/v1/reports", Some(SUBMIT_KEY), Some(big), &[]).await;
    assert_eq!(s2, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(queue_entries(&gw).await.is_empty());
}

#[tokio::test]
async fn the_dry_run_checks_without_storing() {
    let gw = InProcess::start(|_| {}).await;
    let (s, answer) = call(
        &gw,
        "POST",
        "/v1/reports/check",
        Some(SUBMIT_KEY),
        Some(photo_body(&report_json())),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let answer = json(&answer);
    assert_ne!(answer["verdict"], "rejected", "{answer}");
    assert_eq!(answer["report"]["attachments"][0]["kind"], "photo");
    assert!(queue_entries(&gw).await.is_empty());
    assert_eq!(rejections_kept(&gw).await, 0);
    let stored = walk_files(&gw.dir.path().join("media"));
    assert_eq!(stored, 0, "the dry run leaves no file");
}

fn walk_files(dir: &std::path::Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            n += walk_files(&e.path());
        } else {
            n += 1;
        }
    }
    n
}

#[tokio::test]
async fn the_ioc_closes_a_report() {
    let gw = InProcess::start(|_| {}).await;
    let (_, body) = call(
        &gw,
        "POST",
        "/v1/reports",
        Some(SUBMIT_KEY),
        Some(photo_body(&report_json())),
        &[],
    )
    .await;
    let id = json(&body)["id"].as_str().unwrap().to_string();
    let status_body = (
        "application/json".to_string(),
        br#"{"status":"closed"}"#.to_vec(),
    );
    let (s, _) = call(
        &gw,
        "PUT",
        &format!("/v1/reports/{id}/status"),
        Some(IOC_KEY),
        Some(status_body),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, body) = call(
        &gw,
        "GET",
        &format!("/v1/reports/{id}"),
        Some(IOC_KEY),
        None,
        &[],
    )
    .await;
    assert_eq!(json(&body)["status"], "closed");
    let (s, _) = call(
        &gw,
        "GET",
        "/v1/reports/01NOSUCHREPORT",
        Some(IOC_KEY),
        None,
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn ops_endpoints_answer() {
    let gw = InProcess::start(|_| {}).await;
    let (s, _) = call(&gw, "GET", "/healthz", None, None, &[]).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(&gw, "GET", "/readyz", None, None, &[]).await;
    assert_eq!(s, StatusCode::OK);
    call(
        &gw,
        "POST",
        "/v1/reports",
        Some(SUBMIT_KEY),
        Some(photo_body(&report_json())),
        &[],
    )
    .await;
    let (s, body) = call(&gw, "GET", "/metrics", None, None, &[]).await;
    assert_eq!(s, StatusCode::OK);
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains("gateway_reports_received_total"), "{text}");
    assert!(text.contains("gateway_queue_length"), "{text}");
    assert!(!text.contains("0912"), "no personal data in metrics");
    let (s, body) = call(&gw, "GET", "/openapi.json", None, None, &[]).await;
    assert_eq!(s, StatusCode::OK);
    let doc = json(&body);
    for path in [
        "/v1/reports",
        "/v1/reports/check",
        "/v1/ioc/queue",
        "/v1/ioc/queue/{entry_id}/ack",
        "/v1/reports/{id}",
        "/v1/reports/{id}/media/{n}",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(doc["paths"].get(path).is_some(), "OpenAPI lacks {path}");
    }
    assert!(doc["components"]["schemas"]["Report"]["properties"]["tracking_code"].is_object());
    gw.state.shutdown.cancel();
    let (s, _) = call(&gw, "GET", "/readyz", None, None, &[]).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    let (s, _) = call(
        &gw,
        "POST",
        "/v1/reports",
        Some(SUBMIT_KEY),
        Some(photo_body(&report_json())),
        &[],
    )
    .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn a_report_with_a_photo_through_a_real_socket() {
    let gw = InProcess::start(|_| {}).await;
    let base = gw.serve().await;
    let form = reqwest::multipart::Form::new()
        .part(
            "report",
            reqwest::multipart::Part::text(report_json().to_string())
                .mime_str("application/json")
                .unwrap(),
        )
        .part(
            "media",
            reqwest::multipart::Part::bytes(read_fixture("media/photo-2h-before.jpg"))
                .file_name("a.jpg")
                .mime_str("image/jpeg")
                .unwrap(),
        );
    let res = crate::support::gateway::client()
        .post(format!("{base}/v1/reports"))
        .bearer_auth(SUBMIT_KEY)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let answer: Value = res.json().await.unwrap();
    let res = crate::support::gateway::client()
        .get(format!("{base}/v1/ioc/queue?max=1&consumer=socket"))
        .bearer_auth(IOC_KEY)
        .send()
        .await
        .unwrap();
    let entries: Value = res.json().await.unwrap();
    assert_eq!(entries["entries"][0]["report"]["id"], answer["id"]);
}

/// A form the citizen left incomplete is a verdict (422, every reason in Vietnamese), whatever the
/// shape of the omission: a key left out, an empty object, a null.
#[tokio::test]
async fn an_incomplete_form_is_a_rejection_with_every_reason_not_a_malformed_request() {
    let gw = InProcess::start(|_| {}).await;
    let cases: Vec<(&str, Value, &[&str])> = vec![
        (
            "no content key",
            serde_json::json!({"channel": "portal", "reporter": {"name": "Trần Thị Bích", "phone": "0912 345 678"}}),
            &["CONTENT_MISSING"],
        ),
        (
            "no reporter key",
            serde_json::json!({"channel": "portal", "content": "Cống thoát nước trước chợ bị nghẹt, nước tràn lên mặt đường."}),
            &["REPORTER_NAME_MISSING", "REPORTER_CONTACT_MISSING"],
        ),
        (
            "only the channel",
            serde_json::json!({"channel": "app"}),
            &[
                "CONTENT_MISSING",
                "TIME_MISSING",
                "LOCATION_MISSING",
                "MEDIA_MISSING",
                "REPORTER_NAME_MISSING",
                "REPORTER_CONTACT_MISSING",
            ],
        ),
        (
            "empty objects",
            serde_json::json!({"channel": "portal", "reporter": {}, "location": {}, "content": "Đèn đường hỏng."}),
            &[
                "LOCATION_MISSING",
                "REPORTER_NAME_MISSING",
                "REPORTER_CONTACT_MISSING",
            ],
        ),
        (
            "nulls from a form library",
            serde_json::json!({"channel": "portal", "reporter": null, "content": null, "location": null, "occurred_at": null, "category": null}),
            &[
                "CONTENT_MISSING",
                "LOCATION_MISSING",
                "REPORTER_NAME_MISSING",
                "REPORTER_CONTACT_MISSING",
            ],
        ),
        (
            "reporter with empty strings",
            serde_json::json!({"channel": "app", "reporter": {"name": "", "phone": "", "email": ""}, "content": "   "}),
            &[
                "CONTENT_MISSING",
                "REPORTER_NAME_MISSING",
                "REPORTER_CONTACT_MISSING",
            ],
        ),
    ];
    for (case, report, expected) in cases {
        let (status, answer) = call(
            &gw,
            "POST",
            "/v1/reports",
            Some(SUBMIT_KEY),
            Some(Multipart::new().json("report", &report).finish()),
            &[],
        )
        .await;
        let answer = json(&answer);
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{case}: {answer}");
        assert_eq!(answer["verdict"], "rejected", "{case}");
        let reasons = answer["reasons"].as_array().unwrap();
        for code in expected {
            assert!(
                reasons.iter().any(|r| r["code"] == *code),
                "{case}: {code} missing from {answer}"
            );
        }
        for r in reasons {
            let msg = r["message"].as_str().unwrap();
            assert!(
                msg.to_lowercase().contains("vui lòng"),
                "{case}: every reason says in Vietnamese how to fix it: {msg}"
            );
        }
        // The dry run gives the same verdict.
        let (status, answer) = call(
            &gw,
            "POST",
            "/v1/reports/check",
            Some(SUBMIT_KEY),
            Some(Multipart::new().json("report", &report).finish()),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{case}");
        assert_eq!(json(&answer)["verdict"], "rejected", "{case}");
    }
    assert!(
        queue_entries(&gw).await.is_empty(),
        "no rejection reaches the IOC"
    );
}

/// Wrong types and bodies that are not a report object stay malformed requests (400).
#[tokio::test]
async fn wrongly_typed_fields_and_non_objects_stay_400() {
    let gw = InProcess::start(|_| {}).await;
    let cases: Vec<(&str, Value)> = vec![
        (
            "content is a number",
            serde_json::json!({"channel": "app", "reporter": {}, "content": 5}),
        ),
        (
            "content is an object",
            serde_json::json!({"channel": "app", "reporter": {}, "content": {}}),
        ),
        (
            "reporter is a string",
            serde_json::json!({"channel": "app", "reporter": "Nguyễn Văn An", "content": "x"}),
        ),
        (
            "reporter is a list",
            serde_json::json!({"channel": "app", "reporter": [], "content": "x"}),
        ),
        (
            "phone is a number",
            serde_json::json!({"channel": "app", "reporter": {"phone": 912345678}, "content": "x"}),
        ),
        (
            "location is a string",
            serde_json::json!({"channel": "app", "reporter": {}, "content": "x", "location": "Tân An"}),
        ),
        (
            "location is a list",
            serde_json::json!({"channel": "app", "reporter": {}, "content": "x", "location": ["Tân An", 10.5, 106.4]}),
        ),
        (
            "category is a list",
            serde_json::json!({"channel": "app", "reporter": {}, "content": "x", "category": ["traffic"]}),
        ),
        (
            "unknown reporter key",
            serde_json::json!({"channel": "app", "reporter": {"tel": "0912 345 678"}, "content": "x"}),
        ),
        (
            "no channel",
            serde_json::json!({"reporter": {}, "content": "x"}),
        ),
        ("an array", serde_json::json!([{"channel": "app"}])),
        ("a string", serde_json::json!("Đèn đường hỏng")),
        ("null", Value::Null),
    ];
    for (case, report) in cases {
        let (status, answer) = call(
            &gw,
            "POST",
            "/v1/reports",
            Some(SUBMIT_KEY),
            Some(Multipart::new().json("report", &report).finish()),
            &[],
        )
        .await;
        let answer = json(&answer);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {answer}");
        assert_eq!(answer["error"], "bad_request", "{case}");
    }
    assert!(queue_entries(&gw).await.is_empty());
    assert_eq!(
        rejections_kept(&gw).await,
        0,
        "a malformed request stores nothing"
    );
}

/// The OpenAPI document says which keys are required: only `channel`.
#[tokio::test]
async fn the_openapi_submission_schema_requires_only_the_channel() {
    let gw = InProcess::start(|_| {}).await;
    let (status, body) = call(&gw, "GET", "/openapi.json", None, None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let doc = json(&body);
    let schema = &doc["components"]["schemas"]["AppSubmission"];
    assert_eq!(
        schema["required"],
        serde_json::json!(["channel"]),
        "{schema}"
    );
    for field in ["content", "reporter", "location"] {
        assert!(schema["properties"][field].is_object(), "{field}: {schema}");
    }
}

/// An address in another province (or the former Tây Ninh province) is outside the area even
/// when a commune of ours has the same name, and the answer names the place found.
#[tokio::test]
async fn an_address_in_another_province_is_answered_as_outside_naming_the_place() {
    let gw = InProcess::start(|_| {}).await;
    for (i, (address, place)) in [
        (
            "ấp Tân Thuận, huyện Châu Thành, Tiền Giang",
            "tỉnh Tiền Giang",
        ),
        ("45 Lê Lợi, Phường 1, TP. Mỹ Tho", "thành phố Mỹ Tho"),
        ("xã Cẩm Giang, huyện Gò Dầu, tỉnh Tây Ninh", "huyện Gò Dầu"),
        (
            "Châu Thành, Tây Ninh",
            "huyện Châu Thành (tỉnh Tây Ninh cũ)",
        ),
        ("hẻm 12, xã Bình Chánh, Tp HCM", "Thành phố Hồ Chí Minh"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut report = report_json();
        report["reporter"]["phone"] = format!("0912 345 60{i}").into();
        report["location"] = serde_json::json!({ "address": address });
        report["occurred_at"] = "2026-11-28T07:30:00+07:00".into();
        let body = Multipart::new()
            .json("report", &report)
            .file(
                "media",
                "anh.jpg",
                "image/jpeg",
                &read_fixture("media/photo-no-exif.jpg"),
            )
            .finish();
        let (status, answer) = call(
            &gw,
            "POST",
            "/v1/reports",
            Some(SUBMIT_KEY),
            Some(body),
            &[],
        )
        .await;
        let answer = json(&answer);
        assert_eq!(status, StatusCode::CREATED, "{address}: {answer}");
        assert_eq!(answer["verdict"], "needs_review", "{address}");
        let flag = answer["flags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == "LOCATION_OUTSIDE")
            .unwrap_or_else(|| panic!("{address}: {answer}"));
        let message = flag["message"].as_str().unwrap();
        assert!(message.contains(place), "{address}: {message}");
        assert!(message.contains("ngoài địa bàn"), "{message}");
        assert!(
            !answer["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["code"] == "LOCATION_MISSING"),
            "{address}: the place is given, it is outside: {answer}"
        );
        let (_, stored) = call(
            &gw,
            "GET",
            &format!("/v1/reports/{}", answer["id"].as_str().unwrap()),
            Some(IOC_KEY),
            None,
            &[],
        )
        .await;
        let stored = json(&stored);
        assert_eq!(
            stored["location"]["inside_jurisdiction"], false,
            "{address}"
        );
        assert!(stored["location"]["admin"].is_null(), "{address}: {stored}");
    }
}
