//! The mini-app endpoint: token exchange with the fake Zalo, media in the same request.

use std::sync::atomic::Ordering;

use normalizers::report::{CaptureSource, CoordinatesSource, VerifiedBy, VouchedCapture};
use normalizers::validate::Code;
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;

use super::conversations::PNG;
use super::harness::Harness;
use crate::intake::Origin;

fn form(access: &str, phone: Option<&str>, location: Option<&str>) -> Form {
    let report = serde_json::json!({
        "content": "Ổ gà lớn giữa đường Hùng Vương, xe máy dễ té ngã.",
        "address": "Đường Hùng Vương, phường Long An",
        "consent_share_pii": true,
    });
    let mut f = Form::new()
        .text("access_token", access.to_string())
        .text("report", report.to_string());
    if let Some(p) = phone {
        f = f.text("phone_token", p.to_string());
    }
    if let Some(l) = location {
        f = f.text("location_token", l.to_string());
    }
    f.part("camera", png_part("camera-1.png"))
}

/// A PNG photo part named `file_name`.
fn png_part(file_name: &str) -> Part {
    Part::bytes(PNG.to_vec())
        .file_name(file_name.to_string())
        .mime_str("image/png")
        .unwrap()
}

fn url(h: &Harness) -> String {
    format!("{}/v1/zalo/miniapp/reports", h.base)
}

#[tokio::test]
async fn a_miniapp_report_with_phone_and_location_tokens_is_verified_server_side() {
    let h = Harness::start().await;
    h.fake.add_miniapp_user("ma-token", "Z100", "Lê Văn Cường");
    h.fake
        .add_info_token("phone-code", serde_json::json!({"number": "84912345678"}));
    h.fake.add_info_token(
        "loc-code",
        serde_json::json!({"latitude": "10.5366", "longitude": 106.4138, "provider": "gps", "timestamp": "1764468000000"}),
    );
    let resp = h
        .http
        .post(url(&h))
        .header("Idempotency-Key", "k-1")
        .multipart(form("ma-token", Some("phone-code"), Some("loc-code")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["tracking_code"], "LA-0001");
    assert_ne!(body["status"], "rejected", "{body}");
    assert_eq!(body["replayed"], false);

    let r = &h.intake.received()[0];
    assert_eq!(r.dedup_key, "zalo_miniapp:Z100:k-1");
    assert_eq!(r.report.reporter.name.as_deref(), Some("Lê Văn Cường"));
    assert_eq!(r.report.reporter.phone.as_deref(), Some("+84912345678"));
    assert_eq!(r.report.reporter.channel_identity.as_deref(), Some("Z100"));
    assert_eq!(r.report.reporter.verified_by, VerifiedBy::Zalo);
    assert!(r.report.reporter.consent_share_pii);
    let c = r.report.location.coordinates.unwrap();
    assert_eq!((c.lat, c.lon), (10.5366, 106.4138));
    assert_eq!(
        r.report.location.coordinates_source,
        Some(CoordinatesSource::ZaloLocation)
    );
    assert_eq!(
        r.origin,
        Origin::ZaloMiniapp {
            user_id: "Z100".into()
        }
    );
    // The in-app camera capture of a verified caller: the channel vouches for its capture at
    // the upload time (the PNG carries no capture time of its own).
    let now = crate::intake::Intake::now(&*h.intake);
    assert_eq!(r.media.len(), 1);
    assert_eq!(r.media[0].bytes, PNG);
    assert_eq!(r.media[0].file_name.as_deref(), Some("camera-1.png"));
    assert_eq!(r.media[0].sent_at, Some(now));
    assert_eq!(
        r.media[0].vouched_capture,
        Some(VouchedCapture::MiniappCamera(now))
    );
    let a = &r.report.attachments[0];
    assert_eq!(a.captured_at, Some(now));
    assert_eq!(a.captured_at_source, CaptureSource::MiniappCamera);
    assert_eq!(a.sent_at, Some(now));
    assert!(!r.report.verdict.codes().contains(&Code::MediaTimeUnknown));
    // The tokens went to Zalo with the app secret, not trusted from the client.
    let calls = h.fake.info_calls();
    assert_eq!(calls.len(), 2);
    assert!(calls.iter().all(|(token, _)| token == "ma-token"));

    // A retry with the same key is the same report (the tokens are spent: none sent again).
    let resp = h
        .http
        .post(url(&h))
        .header("Idempotency-Key", "k-1")
        .multipart(form("ma-token", None, None))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["replayed"], true);
    assert_eq!(body["tracking_code"], "LA-0001");
    assert_eq!(h.intake.received().len(), 1);
}

#[tokio::test]
async fn a_refused_access_token_is_401_and_leaves_no_staged_file() {
    let h = Harness::start().await;
    let resp = h
        .http
        .post(url(&h))
        .multipart(form("forged", None, None))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // Nothing counted: the camera file never reached the intake, let alone as a capture.
    assert_eq!(h.intake.calls.load(Ordering::SeqCst), 0);
    assert!(h.intake.received().is_empty());
    assert_eq!(std::fs::read_dir(h.staging.path()).unwrap().count(), 0);
    // Without any token either.
    let resp = h
        .http
        .post(url(&h))
        .multipart(form("", None, None))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(h.intake.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_library_photo_without_exif_is_of_unknown_time_with_its_upload_time_beside_it() {
    let h = Harness::start().await;
    h.fake.add_miniapp_user("ma-token", "Z300", "Trần Thị Bé");
    let report = serde_json::json!({
        "content": "Cống thoát nước trước chợ Tân An bị nghẹt, nước tràn lên mặt đường.",
        "address": "Chợ Tân An, phường Long An",
        "occurred_at": "2026-11-30T06:30:00+07:00",
    });
    let form = Form::new()
        .text("access_token", "ma-token")
        .text("report", report.to_string())
        .part("media", png_part("IMG_2041.png"))
        .part("camera", png_part("camera-2.png"));
    let resp = h.http.post(url(&h)).multipart(form).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: serde_json::Value = resp.json().await.unwrap();
    let now = crate::intake::Intake::now(&*h.intake);
    let r = &h.intake.received()[0];
    let library = &r.report.attachments[0];
    assert_eq!(library.captured_at, None);
    assert_eq!(library.captured_at_source, CaptureSource::None);
    assert_eq!(library.sent_at, Some(now));
    let camera = &r.report.attachments[1];
    assert_eq!(camera.captured_at_source, CaptureSource::MiniappCamera);
    let unknown: Vec<_> = r
        .report
        .verdict
        .flags
        .iter()
        .filter(|f| f.code == Code::MediaTimeUnknown)
        .collect();
    assert_eq!(unknown.len(), 1, "{:?}", r.report.verdict);
    assert_eq!(unknown[0].field, "attachments[0]");
    let detail = unknown[0].detail.as_ref().unwrap();
    assert_eq!(detail["captured_at"], serde_json::Value::Null);
    assert_eq!(
        detail["sent_at"],
        now.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    );
    assert!(body["flags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["code"] == "MEDIA_TIME_UNKNOWN" && f["field"] == "attachments[0]"));
}

#[tokio::test]
async fn a_spent_phone_token_is_refused() {
    let h = Harness::start().await;
    h.fake.add_miniapp_user("ma-token", "Z200", "Phạm Thị Dung");
    let resp = h
        .http
        .post(url(&h))
        .multipart(form("ma-token", Some("never-issued"), None))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("phone_token"));
    assert!(h.intake.received().is_empty());
}

#[tokio::test]
async fn a_miniapp_file_over_the_limit_is_413() {
    let h = Harness::start_with(|c| c.media_max_bytes = 40).await;
    h.fake.add_miniapp_user("ma-token", "Z300", "Võ Văn Em");
    let resp = h
        .http
        .post(url(&h))
        .multipart(form("ma-token", None, None))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(std::fs::read_dir(h.staging.path()).unwrap().count(), 0);
}

// A failure inside the gateway was answered 400, telling the mini app its request was wrong.
#[tokio::test]
async fn a_gateway_bug_is_a_500_and_storage_down_a_503() {
    let h = Harness::start().await;
    h.fake.add_miniapp_user("ma-token", "Z100", "Lê Văn Cường");
    let send = |key: &'static str| {
        h.http
            .post(url(&h))
            .header("Idempotency-Key", key)
            .multipart(form("ma-token", None, None))
            .send()
    };
    h.intake
        .internal_error
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let resp = send("k-bug").await.unwrap();
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(
        !body.to_string().contains("serialisation"),
        "the cause stays in the log: {body}"
    );
    h.intake
        .internal_error
        .store(false, std::sync::atomic::Ordering::SeqCst);
    h.intake
        .unavailable
        .store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        send("k-down").await.unwrap().status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
}

// ---- Staged uploads never leak; the token is verified before any file byte (issue 10, 3-4).

const BOUNDARY: &str = "miniapp-test-boundary";

fn text_part(name: &str, value: &str) -> Vec<u8> {
    format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
        .into_bytes()
}

/// The head of a file part; its bytes follow.
fn file_head(name: &str, file_name: &str) -> Vec<u8> {
    format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\nContent-Type: image/jpeg\r\n\r\n"
    )
    .into_bytes()
}

fn report_part() -> Vec<u8> {
    text_part(
        "report",
        &serde_json::json!({
            "content": "Đèn đường trước trường tiểu học Bình Tâm tắt cả tuần nay, tối đi học rất nguy hiểm.",
            "address": "Đường Nguyễn Thông, phường Long An",
        })
        .to_string(),
    )
}

type Chunks = tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>;

/// A request whose body the test writes piece by piece (a mini app on a slow network).
fn streamed(
    h: &Harness,
    headers: &[(&str, &str)],
) -> (
    Chunks,
    tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(16);
    let body = reqwest::Body::wrap_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    let mut req = h.http.post(url(h)).header(
        "content-type",
        format!("multipart/form-data; boundary={BOUNDARY}"),
    );
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(body);
    (tx, tokio::spawn(req.send()))
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !cond() {
        assert!(std::time::Instant::now() < until, "timed out: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_file_before_the_access_token_is_400_and_nothing_is_written() {
    let h = Harness::start().await;
    h.fake.add_miniapp_user("ma-token", "Z400", "Đỗ Thị Hoa");
    // The citizen's app put the photo first and the token after it.
    let form = Form::new()
        .text(
            "report",
            serde_json::json!({"content": "Cây đổ chắn ngang đường Trương Định.", "address": "Đường Trương Định, phường Long An"})
                .to_string(),
        )
        .part(
            "camera",
            png_part("camera-1.png"),
        )
        .text("access_token", "ma-token");
    let resp = h.http.post(url(&h)).multipart(form).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = resp.json().await.unwrap();
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("before any file"), "{error}");
    assert!(error.contains("X-Zalo-Access-Token"), "{error}");
    assert_eq!(h.intake.calls.load(Ordering::SeqCst), 0);
    assert!(h.staged().is_empty(), "{:?}", h.staged());

    // The same request with the token in the header is fine: the header comes before any part.
    let form = Form::new()
        .text(
            "report",
            serde_json::json!({"content": "Cây đổ chắn ngang đường Trương Định.", "address": "Đường Trương Định, phường Long An"})
                .to_string(),
        )
        .part(
            "camera",
            png_part("camera-1.png"),
        );
    let resp = h
        .http
        .post(url(&h))
        .header("X-Zalo-Access-Token", "ma-token")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(h.intake.received()[0].media[0].bytes, PNG);
}

#[tokio::test]
async fn a_refused_token_is_answered_before_the_file_arrives_and_not_one_byte_is_staged() {
    let h = Harness::start().await;
    let (tx, resp) = streamed(&h, &[]);
    tx.send(Ok(text_part("access_token", "forged-token")))
        .await
        .unwrap();
    let mut head = file_head("camera", "IMG_0001.jpg");
    head.extend_from_slice(&[0xFF, 0xD8, 0xFF, 0xE0]);
    head.extend_from_slice(&[0x5a; 32 * 1024]);
    tx.send(Ok(head)).await.unwrap();
    // The body is still open (the file is not finished), and the answer is already there.
    let resp = tokio::time::timeout(std::time::Duration::from_secs(5), resp)
        .await
        .expect("answered without waiting for the rest of the file")
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(h.staged().is_empty(), "{:?}", h.staged());
    assert_eq!(h.intake.calls.load(Ordering::SeqCst), 0);
    drop(tx);
}

#[tokio::test]
async fn a_connection_dropped_mid_file_leaves_no_partial_file() {
    let h = Harness::start().await;
    h.fake.add_miniapp_user("ma-token", "Z500", "Ngô Văn Tài");
    let (tx, resp) = streamed(&h, &[]);
    tx.send(Ok(text_part("access_token", "ma-token")))
        .await
        .unwrap();
    tx.send(Ok(report_part())).await.unwrap();
    let mut head = file_head("camera", "IMG_0002.jpg");
    head.extend_from_slice(&[0x5a; 64 * 1024]);
    tx.send(Ok(head)).await.unwrap();
    // The file is being written.
    wait_until("the upload is staged", || h.staged().len() == 1).await;
    // The phone loses its network: the connection breaks mid-file.
    tx.send(Err(std::io::Error::other("network lost")))
        .await
        .unwrap();
    let _ = resp.await;
    wait_until("the partial file is deleted", || h.staged().is_empty()).await;
    assert_eq!(h.intake.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn uploads_beyond_the_configured_places_are_503_with_retry_after() {
    let h = Harness::start_with(|c| c.miniapp_uploads = 1).await;
    h.fake.add_miniapp_user("ma-token", "Z600", "Huỳnh Thị Lan");
    // One upload holds the only place, mid-file.
    let (tx, slow) = streamed(&h, &[("X-Zalo-Access-Token", "ma-token")]);
    tx.send(Ok(report_part())).await.unwrap();
    let mut head = file_head("camera", "IMG_0003.jpg");
    head.extend_from_slice(&[0x5a; 1024]);
    tx.send(Ok(head)).await.unwrap();
    wait_until("the first upload is staged", || h.staged().len() == 1).await;

    let resp = h
        .http
        .post(url(&h))
        .multipart(form("ma-token", None, None))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["retry-after"], "5");
    assert_eq!(h.staged().len(), 1, "the refused request staged nothing");

    // The first one finishes and frees its place; the next upload goes through.
    tx.send(Ok(format!("\r\n--{BOUNDARY}--\r\n").into_bytes()))
        .await
        .unwrap();
    drop(tx);
    assert_eq!(slow.await.unwrap().unwrap().status(), StatusCode::OK);
    let resp = h
        .http
        .post(url(&h))
        .multipart(form("ma-token", None, None))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_failed_ingest_leaves_no_staged_file() {
    let h = Harness::start().await;
    h.fake.add_miniapp_user("ma-token", "Z700", "Lý Văn Phúc");
    let two_files = || form("ma-token", None, None).part("media", png_part("IMG_0004.png"));
    for (flag, status) in [
        (&h.intake.unavailable, StatusCode::SERVICE_UNAVAILABLE),
        (&h.intake.internal_error, StatusCode::INTERNAL_SERVER_ERROR),
    ] {
        flag.store(true, Ordering::SeqCst);
        let resp = h
            .http
            .post(url(&h))
            .multipart(two_files())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status);
        assert!(h.staged().is_empty(), "{:?}", h.staged());
        flag.store(false, Ordering::SeqCst);
    }
    // Refused after staging (a report the normalizer cannot take): nothing left either.
    let bad = Form::new()
        .text("access_token", "ma-token")
        .part("camera", png_part("camera-9.png"))
        .text("report", "{ this is not json");
    let resp = h.http.post(url(&h)).multipart(bad).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(h.staged().is_empty(), "{:?}", h.staged());
    assert_eq!(h.intake.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_part_sent_twice_is_400_and_nothing_is_staged() {
    let h = Harness::start().await;
    h.fake
        .add_miniapp_user("ma-token", "Z800", "Trương Văn Khải");
    // A second token after the files would swap the identity the files were verified under.
    let resp = h
        .http
        .post(url(&h))
        .multipart(form("ma-token", None, None).text("access_token", "ma-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("access_token"),
        "{body}"
    );
    let resp = h
        .http
        .post(url(&h))
        .multipart(form("ma-token", None, None).text("report", "{}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(h.staged().is_empty(), "{:?}", h.staged());
    assert_eq!(h.intake.calls.load(Ordering::SeqCst), 0);
}
