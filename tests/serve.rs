//! `gateway serve` wires every configured channel: the Zalo webhook answers on the main port
//! with signature checks, and the email channel starts from the `GATEWAY_IMAP_*` variables.

use std::time::Duration;

use crate::support::gateway::{client, Process};

const APP_ID: &str = "3608465249409039";
const SECRET: &str = "TEST_OA_SECRET_KEY";

/// The event's time: the gateway's clock starts at `TEST_NOW` (inside the replay window).
fn event_ms() -> String {
    chrono::DateTime::parse_from_rfc3339(crate::support::TEST_NOW)
        .unwrap()
        .timestamp_millis()
        .to_string()
}

fn event(msg_id: &str) -> String {
    serde_json::json!({
        "app_id": APP_ID,
        "sender": {"id": "2468458835291979"},
        "user_id_by_app": "55217727975291979",
        "recipient": {"id": "388613280878808645"},
        "event_name": "user_send_text",
        "message": {"msg_id": msg_id, "text": "Đèn đường trước nhà số 12 bị hỏng từ tối qua."},
        "timestamp": event_ms()
    })
    .to_string()
}

#[tokio::test]
async fn the_zalo_webhook_is_served_and_checks_signatures() {
    let dir = tempfile::tempdir().unwrap();
    // Zalo's APIs point at a closed port: replies wait in the outbox, intake goes on.
    let closed = format!("http://127.0.0.1:{}", crate::support::free_port());
    let gw = Process::start(
        dir.path(),
        &[
            ("GATEWAY_ZALO_APP_ID", APP_ID),
            ("GATEWAY_ZALO_OA_SECRET_KEY", SECRET),
            ("GATEWAY_ZALO_APP_SECRET", "app-secret"),
            ("GATEWAY_ZALO_ACCESS_TOKEN", "access-token"),
            ("GATEWAY_ZALO_REFRESH_TOKEN", "refresh-token"),
            ("GATEWAY_ZALO_API_BASE", &closed),
            ("GATEWAY_ZALO_OAUTH_BASE", &closed),
            ("GATEWAY_ZALO_GRAPH_BASE", &closed),
        ],
    );
    let body = event("serve-1");
    let mac =
        normalizers::zalo::signature::compute_mac(APP_ID, body.as_bytes(), &event_ms(), SECRET);
    let url = format!("{}/v1/zalo/webhook", gw.base);
    let ok = client()
        .post(&url)
        .header("content-type", "application/json")
        .header("x-zevent-signature", format!("mac={mac}"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200, "{}", gw.log_text());
    let bad = client()
        .post(&url)
        .header("content-type", "application/json")
        .header("x-zevent-signature", format!("mac={}", "0".repeat(64)))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    // The API of the gateway is still there on the same port.
    let health = client()
        .get(format!("{}/healthz", gw.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !gw.log_text().contains("2468458835291979"),
        "no Zalo user id in the logs"
    );
}

#[tokio::test]
async fn a_bad_channel_configuration_stops_serve_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
        .arg("serve")
        .env("GATEWAY_DATA_DIR", dir.path())
        .env(
            "GATEWAY_LISTEN",
            format!("127.0.0.1:{}", crate::support::free_port()),
        )
        .env("GATEWAY_IMAP_HOST", "127.0.0.1")
        .env("GATEWAY_IMAP_TLS", "sometimes")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sometimes") || err.contains("imap_tls"),
        "{err}"
    );
}
