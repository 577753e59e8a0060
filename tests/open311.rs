//! Open311 GeoReport v2 (issue 12 point 8) through the running gateway: the real `georeport`
//! client from PyPI round-trips a report and reads its status (embedded store and Redis), and
//! the errors, XML and keys of the specification.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::gateway::{client, get, get_with, trail_step, InProcess, IOC_KEY, SUBMIT_KEY};
use crate::support::redis::RedisServer;
use crate::support::{fixture, repo};

const GEOREPORT: &str = "georeport==0.3.1";

fn venv() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("test-venv")
}

/// The venv's python with `georeport` (installed by `tests/run`, or here on first use).
fn python() -> PathBuf {
    let venv = venv();
    let python = venv.join("bin/python");
    let ready = || {
        Command::new(&python)
            .args(["-c", "import georeport, requests"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ready() {
        let ok = (python.exists()
            || Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .is_ok_and(|s| s.success()))
            && Command::new(venv.join("bin/pip"))
                .args(["install", "-q", GEOREPORT])
                .status()
                .is_ok_and(|s| s.success());
        assert!(
            ok && ready(),
            "could not install {GEOREPORT} into {}",
            venv.display()
        );
    }
    python
}

fn script(args: &[&str]) -> String {
    let out = Command::new(python())
        .arg(repo().join("tests/open311/roundtrip.py"))
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "roundtrip.py {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

async fn step(base: &str, id: &str, body: Value) {
    let (status, _) = trail_step(base, id, body).await;
    assert_eq!(status, StatusCode::OK);
}

async fn georeport_round_trip(gw: InProcess) {
    let base = gw.serve().await;
    let photo = fixture("media/photo-2h-before.jpg");
    let b = base.clone();
    let id = tokio::task::spawn_blocking(move || {
        script(&["post", &b, SUBMIT_KEY, photo.to_str().unwrap()])
    })
    .await
    .unwrap();
    assert_eq!(id.len(), 26, "a report id: {id}");
    // Through the same pipeline: the IOC has it, as an Open311 report.
    let res = get_with(format!("{base}/v1/reports/{id}"), IOC_KEY).await;
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["channel"], "open311");
    assert_eq!(report["category"]["subcategory"], "chieu_sang");
    assert_eq!(report["reporter"]["phone"], "+84912345678");
    assert_eq!(report["reporter"]["name"], "Nguyễn Văn An");
    let b = base.clone();
    let i = id.clone();
    tokio::task::spawn_blocking(move || script(&["read", &b, &i, "open"]))
        .await
        .unwrap();
    step(&base, &id, json!({"status": "accepted"})).await;
    step(
        &base,
        &id,
        json!({"status": "forwarded", "agency": "UBND phường Tân An"}),
    )
    .await;
    step(&base, &id, json!({"status": "agency_accepted"})).await;
    step(
        &base,
        &id,
        json!({"status": "answered", "message": "Đã thay bóng đèn."}),
    )
    .await;
    step(&base, &id, json!({"status": "closed"})).await;
    let b = base.clone();
    let i = id.clone();
    tokio::task::spawn_blocking(move || script(&["read", &b, &i, "closed"]))
        .await
        .unwrap();
    // status_notes and the agency in the public request.
    let res = get(format!("{base}/open311/v2/requests/{id}.json")).await;
    let one: Value = res.json().await.unwrap();
    assert_eq!(one[0]["agency_responsible"], "UBND phường Tân An");
    assert_eq!(one[0]["status_notes"], "Đã kết thúc");
    let res = get(format!("{base}/open311/v2/requests.json?status=closed")).await;
    let closed: Value = res.json().await.unwrap();
    assert_eq!(closed.as_array().unwrap().len(), 1, "{closed}");
    let res = get(format!("{base}/open311/v2/requests.json?status=open")).await;
    let open: Value = res.json().await.unwrap();
    assert!(open.as_array().unwrap().is_empty(), "{open}");
    for (query, n) in [
        ("status=open,closed&service_code=traffic,chieu_sang", 1),
        ("service_code=traffic", 0),
    ] {
        let res = get(format!("{base}/open311/v2/requests.json?{query}")).await;
        let found: Value = res.json().await.unwrap();
        assert_eq!(found.as_array().unwrap().len(), n, "{query}: {found}");
    }
}

#[tokio::test]
async fn georeport_round_trips_a_report_on_the_embedded_store() {
    georeport_round_trip(InProcess::start(|_| {}).await).await;
}

#[tokio::test]
async fn georeport_round_trips_a_report_on_redis() {
    let server = RedisServer::start();
    let url = server.url();
    georeport_round_trip(InProcess::start(move |c| c.redis_url = Some(url.into())).await).await;
}

fn form(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut f: Vec<(String, String)> = [
        ("api_key", SUBMIT_KEY),
        ("service_code", "chieu_sang"),
        ("lat", "10.54"),
        ("long", "106.41"),
        ("first_name", "An"),
        ("last_name", "Nguyễn Văn"),
        ("phone", "0912 345 678"),
        (
            "description",
            "Đèn đường trước số 12 đường Hùng Vương bị hỏng, cả đoạn đường tối om từ tối qua.",
        ),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        f.retain(|(kk, _)| kk != k);
        if !v.is_empty() {
            f.push((k.to_string(), v.to_string()));
        }
    }
    f
}

#[tokio::test]
async fn rejections_keys_and_formats_follow_the_specification() {
    let gw = InProcess::start(|_| {}).await;
    let base = gw.serve().await;
    let post = |fmt: &'static str, body: Vec<(String, String)>| {
        let base = base.clone();
        async move {
            client()
                .post(format!("{base}/open311/v2/requests.{fmt}"))
                .form(&body)
                .send()
                .await
                .unwrap()
        }
    };
    // A form without a photo goes through the pipeline and is rejected: Open311 errors, one
    // per reason, with the stable code and the Vietnamese message.
    let res = post("json", form(&[])).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let errors: Value = res.json().await.unwrap();
    let first = &errors.as_array().unwrap()[0];
    assert_eq!(first["code"], 400);
    assert!(
        errors.as_array().unwrap().iter().any(|e| e["description"]
            .as_str()
            .unwrap()
            .starts_with("MEDIA_MISSING")),
        "{errors}"
    );
    // The same in XML.
    let res = post("xml", form(&[])).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let xml = res.text().await.unwrap();
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?><errors><error><code>400</code><description>"), "{xml}");
    // No key, a wrong key, an IOC key: refused.
    for key in ["", "not-a-key-0123456789", IOC_KEY] {
        let res = post("json", form(&[("api_key", key)])).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
    // Malformed: unknown service, no place, half coordinates.
    for extra in [
        vec![("service_code", "teleport")],
        vec![("lat", ""), ("long", "")],
        vec![("long", "")],
    ] {
        let res = post("json", form(&extra)).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let e: Value = res.json().await.unwrap();
        assert_eq!(e[0]["code"], 400, "{e}");
    }
    // Services in XML: every field of Đ5 and its sub-categories.
    let res = get(format!("{base}/open311/v2/services.xml")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let xml = res.text().await.unwrap();
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?><services><service>"));
    for code in [
        "public_administration",
        "urban_order",
        "traffic",
        "public_security",
        "environment",
        "chieu_sang",
    ] {
        assert!(
            xml.contains(&format!("<service_code>{code}</service_code>")),
            "{code}"
        );
    }
    let res = get(format!("{base}/open311/v2/discovery.json")).await;
    let d: Value = res.json().await.unwrap();
    assert_eq!(d["endpoints"][0]["formats"][1], "application/json");
    // Another jurisdiction, another format, an unknown request.
    for path in [
        "services.json?jurisdiction_id=hanoi.gov.vn",
        "services.csv",
        "requests/01NOSUCHREQUEST0000000000.json",
        "services/teleport.json",
    ] {
        let res = get(format!("{base}/open311/v2/{path}")).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let res = client()
        .get(format!(
            "{base}/open311/v2/requests.json?start_date=2026-01-01T00:00:00Z&end_date=2026-11-01T00:00:00Z"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "more than 90 days");
}
