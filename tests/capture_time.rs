//! The 48-hour rule's evidence through the real interfaces (Đ6.3, SPEC §5): what sets a capture
//! time (the file; a channel that saw the capture) and what never does (the time a file was sent).
//! Camera raws (DNG, NEF, ARW, PEF, CR2, ORF, RW2) through the submit API and `gateway check`.
//! The Zalo webhook and the mini app are covered in `zalo` (the real pipeline) and in the
//! channel's own tests.

use std::process::Command;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

use crate::support::gateway::{InProcess, IOC_KEY, SUBMIT_KEY};
use crate::support::{fixture, read_fixture, Multipart, TEST_NOW};

async fn post(
    gw: &InProcess,
    uri: &str,
    key: &str,
    body: (String, Vec<u8>),
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method("POST")
        .uri(uri)
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", body.0)
        .body(Body::from(body.1))
        .unwrap();
    let res = gw.router().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 16 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

async fn stored(gw: &InProcess, id: &str) -> Value {
    let req = Request::builder()
        .uri(format!("/v1/reports/{id}"))
        .header("authorization", format!("Bearer {IOC_KEY}"))
        .body(Body::empty())
        .unwrap();
    let res = gw.router().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(res.into_body(), 16 << 20)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn citizen(content: &str) -> Value {
    serde_json::json!({
        "channel": "portal",
        "reporter": {"name": "Võ Minh Tâm", "phone": "0903 112 458"},
        "content": content,
        "location": {"address": "45 Nguyễn Huệ, Phường 1, thành phố Tân An"},
    })
}

/// Every TIFF-based raw a citizen's camera writes is taken by the API (sniffed from its bytes,
/// whatever the sender claimed), with its EXIF capture time.
#[tokio::test]
async fn camera_raws_are_taken_by_the_submit_api_with_their_exif_time() {
    let gw = InProcess::start(|_| {}).await;
    let raws = [
        (
            "DSC_0412.DNG",
            "photo-2h-before.dng",
            "image/x-adobe-dng",
            "2026-11-28T01:00:00.250Z",
        ),
        (
            "DSC01544.ARW",
            "photo-2h-before.arw",
            "image/x-sony-arw",
            "2026-11-28T01:00:00Z",
        ),
        (
            "IMGP2231.PEF",
            "photo-2h-before.pef",
            "image/x-pentax-pef",
            "2026-11-28T01:00:00Z",
        ),
        (
            "IMG_7781.CR2",
            "photo-2h-before.cr2",
            "image/x-canon-cr2",
            "2026-11-28T01:00:00Z",
        ),
        (
            "P1050093.ORF",
            "photo-2h-before.orf",
            "image/x-olympus-orf",
            "2026-11-28T01:00:00Z",
        ),
        (
            "P1000418.RW2",
            "photo-2h-before.rw2",
            "image/x-panasonic-rw2",
            "2026-11-28T01:00:00Z",
        ),
    ];
    let mut form = Multipart::new().json(
        "report",
        &citizen("Cây xanh bật gốc ngã đè lên vỉa hè trước số 45 đường Nguyễn Huệ, người đi bộ phải đi xuống lòng đường."),
    );
    for (i, (name, file, _, _)) in raws.iter().enumerate() {
        // Browsers send raws as octet-stream or an image/x-… type.
        let claimed = if i % 2 == 0 {
            "application/octet-stream"
        } else {
            "image/x-dcraw"
        };
        form = form.file(
            "media",
            name,
            claimed,
            &read_fixture(&format!("media/{file}")),
        );
    }
    let (status, answer) = post(&gw, "/v1/reports", SUBMIT_KEY, form.finish()).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let codes: Vec<&str> = answer["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(!codes.contains(&"MEDIA_TIME_UNKNOWN"), "{answer}");
    assert!(!codes.contains(&"MEDIA_UNREADABLE"), "{answer}");
    let report = stored(&gw, answer["id"].as_str().unwrap()).await;
    let attachments = report["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), raws.len());
    for (a, (name, _, media_type, captured)) in attachments.iter().zip(raws) {
        assert_eq!(a["media_type"], media_type, "{name}");
        assert_eq!(a["kind"], "photo", "{name}");
        assert_eq!(a["captured_at"], captured, "{name}");
        assert_eq!(a["captured_at_source"], "exif", "{name}");
        assert_eq!(a["sent_at"], Value::Null, "{name}");
        assert_eq!(
            (a["width"].as_u64(), a["height"].as_u64()),
            (Some(64), Some(48)),
            "{name}"
        );
        assert_eq!(a["unreadable"], Value::Null, "{name}");
    }
}

/// A raw's EXIF time counts like a JPEG's: three days old is stale, with no time it is flagged.
#[tokio::test]
async fn a_stale_raw_is_rejected_and_a_raw_without_time_is_flagged() {
    let gw = InProcess::start(|_| {}).await;
    let stale = Multipart::new()
        .json(
            "report",
            &citizen("Bãi rác tự phát bên hông chợ Bến Lức bốc mùi hôi thối, ruồi nhặng nhiều."),
        )
        .file(
            "media",
            "DSC_9120.NEF",
            "image/x-nikon-nef",
            &read_fixture("media/photo-3d-before.nef"),
        )
        .finish();
    let (status, answer) = post(&gw, "/v1/reports", SUBMIT_KEY, stale).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["reasons"][0]["code"], "MEDIA_STALE", "{answer}");
    assert!(
        answer["reasons"][0]["message"]
            .as_str()
            .unwrap()
            .contains("25/11/2026"),
        "{answer}"
    );

    let mut report = citizen(
        "Đèn tín hiệu giao thông ở ngã tư Quốc lộ 1 và đường Hùng Vương bị tắt từ sáng nay.",
    );
    report["occurred_at"] = "2026-11-28T07:15:00+07:00".into();
    let untimed = Multipart::new()
        .json("report", &report)
        .file(
            "media",
            "IMG_0001.DNG",
            "image/x-adobe-dng",
            &read_fixture("media/photo-raw-no-time.dng"),
        )
        .finish();
    let (status, answer) = post(&gw, "/v1/reports", SUBMIT_KEY, untimed).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let flags = answer["flags"].as_array().unwrap();
    assert!(
        flags
            .iter()
            .any(|f| f["code"] == "MEDIA_TIME_UNKNOWN" && f["field"] == "attachments[0]"),
        "{answer}"
    );
}

/// `gateway check` and `gateway inspect` read raws as the API does.
#[test]
fn gateway_check_and_inspect_read_raw_camera_files() {
    let out = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .args(["check", "--now", TEST_NOW])
        .arg(fixture("app/014-raw-dng-camera.json"))
        .arg(fixture("app/015-raw-nef-stale.json"))
        .arg(fixture("app/016-raw-orf-and-rw2.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(v.len(), 3);
    assert_ne!(v[0]["verdict"], "rejected", "{}", v[0]);
    assert_eq!(v[1]["verdict"], "rejected");
    assert_eq!(v[1]["reasons"][0]["code"], "MEDIA_STALE");
    assert_ne!(v[2]["verdict"], "rejected", "{}", v[2]);

    let out = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .arg("inspect")
        .arg(fixture("media/photo-2h-before.rw2"))
        .arg(fixture("media/photo-2h-before.orf"))
        .output()
        .unwrap();
    let v: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(v[0]["media_type"], "image/x-panasonic-rw2");
    assert_eq!(v[0]["captured_at"], "2026-11-28T01:00:00Z");
    assert_eq!(v[1]["media_type"], "image/x-olympus-orf");
    assert_eq!(v[1]["captured_at_source"], "exif");
}

/// The app and portal API has no channel that saw a capture: a photo without EXIF is of unknown
/// time whatever the client says, and a client cannot smuggle in a camera claim.
#[tokio::test]
async fn the_api_cannot_vouch_for_a_capture_time() {
    let gw = InProcess::start(|_| {}).await;
    let photo = read_fixture("media/photo-no-exif.jpg");
    let text = "Sáng nay lúc 7 giờ tôi thấy nắp cống trước trường tiểu học Phường 3 bị vỡ, học sinh đi ngang rất nguy hiểm.";
    let (status, answer) = post(
        &gw,
        "/v1/reports",
        SUBMIT_KEY,
        Multipart::new()
            .json("report", &citizen(text))
            .file("media", "IMG_20261128.jpg", "image/jpeg", &photo)
            .finish(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let flag = answer["flags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "MEDIA_TIME_UNKNOWN")
        .cloned()
        .unwrap_or_else(|| panic!("no MEDIA_TIME_UNKNOWN: {answer}"));
    assert_eq!(flag["field"], "attachments[0]");
    let report = stored(&gw, answer["id"].as_str().unwrap()).await;
    let a = &report["attachments"][0];
    assert_eq!(a["captured_at"], Value::Null);
    assert_eq!(a["captured_at_source"], "none");
    // The finding shows the IOC when the gateway received it, beside the unknown capture time.
    let finding = report["verdict"]["flags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "MEDIA_TIME_UNKNOWN")
        .unwrap()
        .clone();
    assert_eq!(finding["detail"]["captured_at"], Value::Null);
    assert_eq!(finding["detail"]["received_at"], report["received_at"]);

    // A camera claim in the report or as a part name is refused, not believed.
    let mut claimed = citizen(text);
    claimed["camera"] = true.into();
    let (status, _) = post(
        &gw,
        "/v1/reports",
        SUBMIT_KEY,
        Multipart::new()
            .json("report", &claimed)
            .file("media", "IMG_20261128.jpg", "image/jpeg", &photo)
            .finish(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = post(
        &gw,
        "/v1/reports",
        SUBMIT_KEY,
        Multipart::new()
            .json("report", &citizen(text))
            .file("camera", "IMG_20261128.jpg", "image/jpeg", &photo)
            .finish(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
