//! The `gateway` command line, run as a user would.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::{fixture, TEST_NOW};

fn gateway() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gateway"));
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    c
}

fn lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect()
}

#[test]
fn check_prints_one_verdict_per_file() {
    let out = gateway()
        .args(["check", "--now", TEST_NOW])
        .arg(fixture("app/001-complete-photo.json"))
        .arg(fixture("app/003-stale-photo.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = lines(&out.stdout);
    assert_eq!(v.len(), 2);
    assert_eq!(v[0]["verdict"], "needs_review");
    assert_eq!(v[1]["verdict"], "rejected");
    assert_eq!(v[1]["reasons"][0]["code"], "MEDIA_STALE");
    // The same stale photo is fresh if checked at its capture time.
    let out = gateway()
        .args(["check", "--now", "2026-11-25T02:00:00Z"])
        .arg(fixture("app/003-stale-photo.json"))
        .output()
        .unwrap();
    assert_eq!(lines(&out.stdout)[0]["verdict"], "needs_review");
}

#[test]
fn check_reports_an_unreadable_file_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"channel\": \"fax\"}").unwrap();
    let out = gateway()
        .args(["check", "--now", TEST_NOW])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(lines(&out.stdout)[0]["error"]
        .as_str()
        .unwrap()
        .contains("fax"));
}

#[test]
fn check_text_reads_lines_on_stdin() {
    let mut child = gateway()
        .arg("check-text")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            "Đèn đường hư ko sáng\nden duong bi hong\nĐèn đường trước số 12 bị hỏng.\n".as_bytes(),
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let v = lines(&out.stdout);
    assert_eq!(v.len(), 3);
    assert_eq!(v[0]["codes"], serde_json::json!(["CONTENT_ABBREVIATION"]));
    assert_eq!(v[0]["words"], serde_json::json!(["ko"]));
    assert_eq!(v[1]["codes"], serde_json::json!(["CONTENT_NO_DIACRITICS"]));
    assert_eq!(v[2]["codes"], serde_json::json!([]));
}

#[test]
fn locate_names_old_and_new_units() {
    let out = gateway()
        .args(["locate", "ấp 3, xa My Yen, huyen Ben Luc"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["admin"]["old_district"], "Huyện Bến Lức");
    assert_eq!(v["admin"]["old_commune"], "Xã Mỹ Yên");
    assert!(v["admin"]["new_commune"].is_string());
}

#[test]
fn inspect_reads_capture_time_and_gps() {
    let out = gateway()
        .arg("inspect")
        .arg(fixture("media/photo-2h-before.jpg"))
        .arg(fixture("media/voice-note.amr"))
        .output()
        .unwrap();
    let v = lines(&out.stdout);
    assert_eq!(v[0]["captured_at"], "2026-11-28T01:00:00.250Z");
    assert_eq!(v[0]["captured_at_source"], "exif");
    assert_eq!(v[0]["captured_offset_minutes"], 420);
    assert!((v[0]["gps"]["lat"].as_f64().unwrap() - 10.54).abs() < 1e-6);
    assert_eq!(v[1]["kind"], "audio");
    assert!(v[1]["captured_at"].is_null());
}

#[test]
fn check_config_masks_secrets_and_rejects_unknown_keys() {
    let out = gateway()
        .arg("check-config")
        .env(
            "GATEWAY_API_KEYS",
            "submit:very-secret-key-123456,ioc:another-secret-key-7890",
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("very-secret-key"), "{text}");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("g.toml");
    std::fs::write(&bad, "listn = \"127.0.0.1:1\"\n").unwrap();
    let out = gateway()
        .arg("--config")
        .arg(&bad)
        .arg("check-config")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("listn"));
}

#[test]
fn check_config_shows_no_secret_from_any_section() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("g.toml");
    std::fs::write(
        &file,
        "[[zalo.oa_tokens]]\noa_id = \"388613280878808645\"\n\
         access_token = \"secret-oa-access-31\"\nrefresh_token = \"secret-oa-refresh-32\"\n",
    )
    .unwrap();
    let secrets = [
        (
            "GATEWAY_REDIS_URL",
            "redis://:secret-redis-21@127.0.0.1:1/0",
        ),
        ("GATEWAY_DUPLICATES__IDENTITY_PEPPER", "secret-pepper-22"),
        (
            "GATEWAY_API_KEYS",
            "submit:secret-submit-key-23,ioc:secret-ioc-key-24",
        ),
        ("GATEWAY_IMAP_PASSWORD", "0123456"),
        ("GATEWAY_SMTP_PASSWORD", "secret-smtp-26"),
        ("GATEWAY_ZALO_OA_SECRET_KEY", "secret-oa-key-27"),
        ("GATEWAY_ZALO_APP_SECRET", "secret-app-28"),
        ("GATEWAY_ZALO_ACCESS_TOKEN", "secret-access-29"),
        ("GATEWAY_ZALO_REFRESH_TOKEN", "secret-refresh-30"),
    ];
    let out = gateway()
        .arg("--config")
        .arg(&file)
        .arg("check-config")
        .env("GATEWAY_IMAP_HOST", "127.0.0.1")
        .env("GATEWAY_IMAP_USER", "1022")
        .env("GATEWAY_SMTP_HOST", "127.0.0.1")
        .env("GATEWAY_ZALO_APP_ID", "360846524940903967")
        .envs(secrets)
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("360846524940903967"), "{text}");
    let mut values: Vec<&str> = secrets
        .iter()
        .map(|(_, v)| *v)
        .filter(|v| !v.contains(','))
        .collect();
    values.extend([
        "secret-redis-21",
        "secret-submit-key-23",
        "secret-ioc-key-24",
        "secret-oa-access-31",
        "secret-oa-refresh-32",
    ]);
    for value in values {
        assert!(!text.contains(value), "{value} shown: {text}");
    }
}

// `check-config` said "configuration is valid" for a channel section `serve` refuses to build.
#[test]
fn check_config_lists_channel_problems_with_their_severity() {
    let run = |api_base: &str| {
        gateway()
            .arg("check-config")
            .env("GATEWAY_ZALO_APP_ID", "360846524940903967")
            .env("GATEWAY_ZALO_API_BASE", api_base)
            .output()
            .unwrap()
    };
    let out = run("not a url");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("error: zalo.api_base"), "{stderr}");
    assert!(stderr.contains("warning: zalo.oa_secret_key"), "{stderr}");
    let out = run("https://openapi.zalo.me");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "warnings alone pass: {stderr}");
    assert!(stderr.contains("warning: zalo.oa_secret_key"), "{stderr}");
}

// Each error's message carries its cause, and `serve` printed every cause again after it.
#[test]
fn serve_says_why_it_cannot_start_once() {
    let dir = tempfile::tempdir().unwrap();
    let closed = crate::support::free_port();
    let out = gateway()
        .arg("serve")
        .env("GATEWAY_DATA_DIR", dir.path())
        .env("GATEWAY_LISTEN", "127.0.0.1:0")
        .env("GATEWAY_REDIS_URL", format!("redis://127.0.0.1:{closed}/0"))
        .env(
            "GATEWAY_DUPLICATES__IDENTITY_PEPPER",
            "cli-test-pepper-0123456789",
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line: {stderr}"));
    assert!(line.contains("queue backend (redis)"), "{line}");
    assert_eq!(
        line.matches("refused").count(),
        1,
        "the cause is said once: {line}"
    );
}
