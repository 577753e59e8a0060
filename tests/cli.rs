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

// Several instances on one Redis must key reporter digests alike: `serve` refuses to start
// without a configured pepper there, and `check-config` says so before.
#[test]
fn check_config_says_a_redis_deployment_needs_an_identity_pepper() {
    let out = gateway()
        .arg("check-config")
        .env("GATEWAY_REDIS_URL", "redis://127.0.0.1:6379/")
        .env_remove("GATEWAY_DUPLICATES__IDENTITY_PEPPER")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("error: duplicates.identity_pepper"),
        "{stderr}"
    );
    let out = gateway()
        .arg("check-config")
        .env("GATEWAY_REDIS_URL", "redis://127.0.0.1:6379/")
        .env(
            "GATEWAY_DUPLICATES__IDENTITY_PEPPER",
            "0123456789abcdef0123",
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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

/// One Zalo webhook event as a file, as the webhook receives it.
fn zalo_event(dir: &std::path::Path, name: &str, event: Value) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(&event).unwrap()).unwrap();
    path
}

const OA: &str = "388613280878808645";
const USER: &str = "2468458835291979";

fn user_text(text: &str, msg_id: &str, oa: &str) -> Value {
    serde_json::json!({
        "app_id": "3608465249409039", "event_name": "user_send_text",
        "sender": {"id": USER}, "recipient": {"id": oa}, "user_id_by_app": "55217727975291979",
        "message": {"msg_id": msg_id, "text": text}, "timestamp": "1764468000000"
    })
}

fn echo() -> Value {
    serde_json::json!({
        "app_id": "3608465249409039", "event_name": "oa_send_text",
        "sender": {"id": OA}, "recipient": {"id": USER},
        "message": {"msg_id": "oa1", "text": "Trung tâm 1022 xin chào. Ông/bà vui lòng mô tả sự việc."},
        "timestamp": "1764468001000"
    })
}

fn seen() -> Value {
    serde_json::json!({
        "app_id": "3608465249409039", "event_name": "user_seen_message",
        "sender": {"id": USER}, "recipient": {"id": OA},
        "message": {"msg_ids": ["oa1"]}, "timestamp": "1764468002000"
    })
}

fn follow(name: &str) -> Value {
    serde_json::json!({
        "app_id": "3608465249409039", "event_name": name, "oa_id": OA,
        "follower": {"id": USER}, "user_id_by_app": "55217727975291979",
        "source": "oa_profile", "timestamp": "1764467990000"
    })
}

// `gateway check` showed an auto-reply, a bounce and the OA's own echo as rejected reports
// (CONTENT_MISSING, MEDIA_MISSING…), where the live gateway drops them without a report.
#[test]
fn check_shows_what_the_live_gateway_ignores_as_ignored_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(std::path::PathBuf, &str)> = vec![
        (fixture("email/004-auto-reply.eml"), "auto_submitted"),
        (fixture("email/005-bounce.eml"), "bounce"),
        (fixture("email/007-own-mail-loop.eml"), "own_address"),
        (zalo_event(dir.path(), "echo", echo()), "zalo_echo"),
        (zalo_event(dir.path(), "seen", seen()), "zalo_receipt"),
        (
            zalo_event(dir.path(), "follow", follow("follow")),
            "zalo_follow",
        ),
        (
            zalo_event(dir.path(), "unfollow", follow("unfollow")),
            "zalo_unfollow",
        ),
        (
            zalo_event(
                dir.path(),
                "reaction",
                serde_json::json!({"app_id": "3608465249409039", "event_name": "user_reacted_message",
                    "sender": {"id": USER}, "recipient": {"id": OA},
                    "message": {"msg_id": "oa1", "react_icon": "/-heart"}, "timestamp": "1764468003000"}),
            ),
            "zalo_receipt",
        ),
        (
            zalo_event(
                dir.path(),
                "conversation",
                serde_json::json!([follow("follow"), echo(), seen()]),
            ),
            "zalo_no_citizen_message",
        ),
    ];
    let out = gateway()
        .args(["check", "--now", TEST_NOW])
        .args(cases.iter().map(|(p, _)| p))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "ignored input is checked, not a failure: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = lines(&out.stdout);
    assert_eq!(v.len(), cases.len());
    for ((path, reason), v) in cases.iter().zip(&v) {
        assert_eq!(v["verdict"], "ignored", "{}: {v}", path.display());
        assert_eq!(v["reason"], *reason, "{}: {v}", path.display());
        assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()), "{v}");
        assert!(v.get("reasons").is_none(), "not a rejected report: {v}");
    }
    assert_eq!(v[0]["channel"], "email");
    assert_eq!(v[3]["channel"], "zalo_oa");
    let events: Vec<&str> = v[8]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["zalo_follow", "zalo_echo", "zalo_receipt"]);
}

#[test]
fn check_still_judges_what_the_live_gateway_takes() {
    let dir = tempfile::tempdir().unwrap();
    // A citizen's text among echoes and receipts is a conversation, not ignored.
    let conversation = zalo_event(
        dir.path(),
        "conversation",
        serde_json::json!([
            follow("follow"),
            echo(),
            user_text("Đèn đường trước số 12 Hùng Vương bị hỏng.", "u1", OA),
            seen()
        ]),
    );
    // A report through a mailing list is taken, but not answered.
    let list = dir.path().join("list.eml");
    std::fs::write(
        &list,
        "From: =?UTF-8?Q?T=E1=BB=95_d=C3=A2n_ph=E1=BB=91?= <to-dan-pho-3@googlegroups.com>\r\n\
         To: 1022@longan.gov.vn\r\nSubject: =?UTF-8?Q?=C4=90=C3=A8n_h=E1=BB=8Fng?=\r\n\
         Message-ID: <list-1@googlegroups.com>\r\nList-Id: <to-dan-pho-3.googlegroups.com>\r\n\
         Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         Đèn đường trước số 12 Hùng Vương, phường 1, Tân An bị hỏng.\r\n",
    )
    .unwrap();
    let out = gateway()
        .args(["check", "--now", TEST_NOW])
        .arg(fixture("email/001-plain-text-dkim.eml"))
        .arg(&conversation)
        .arg(&list)
        .arg(fixture(
            "email/019-forward-as-attachment-with-cover-note.eml",
        ))
        .output()
        .unwrap();
    assert!(out.status.success());
    let v = lines(&out.stdout);
    for v in &v {
        assert_ne!(v["verdict"], "ignored", "{v}");
        assert!(v["reasons"].is_array(), "{v}");
    }
    assert!(v[0].get("unanswered").is_none());
    assert_eq!(v[2]["unanswered"], "mailing_list");
    // The forwarded report's stated time ("sáng nay") is of the day it was written, the 25th.
    assert_eq!(v[3]["occurred_at"]["at"], "2026-11-24T23:00:00Z");
}

#[test]
fn check_ignores_events_for_an_oa_the_gateway_does_not_serve() {
    let dir = tempfile::tempdir().unwrap();
    let other = zalo_event(
        dir.path(),
        "other-oa",
        serde_json::json!([user_text("Đèn đường hỏng.", "u1", "111111111111111111")]),
    );
    let served = zalo_event(
        dir.path(),
        "served",
        serde_json::json!([user_text("Đèn đường hỏng.", "u2", OA)]),
    );
    let out = gateway()
        .args(["check", "--now", TEST_NOW])
        .arg(&other)
        .arg(&served)
        .env("GATEWAY_ZALO_OA_IDS", OA)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v = lines(&out.stdout);
    assert_eq!(v[0]["verdict"], "ignored");
    assert_eq!(v[0]["reason"], "zalo_other_oa");
    assert_ne!(v[1]["verdict"], "ignored");
}

#[test]
fn check_help_documents_the_ignored_verdict_and_the_exit_status() {
    let out = gateway().args(["check", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "\"verdict\": \"ignored\"",
        "own_address",
        "zalo_echo",
        "Exit status: 0 when every file was checked",
        "2 when",
    ] {
        assert!(help.contains(needle), "{needle} not in: {help}");
    }
}

/// `check-config` and the portal (`[portal]`, and the SMTP server its one-time codes go
/// through): a limit of 0 or a sender address `serve` refuses is an error (exit 2); no way
/// to send codes, an SMS section without an adapter, a code living for hours are warnings.
#[test]
fn check_config_reports_portal_problems() {
    let run = |envs: &[(&str, &str)]| {
        let out = gateway()
            .arg("check-config")
            .envs(envs.iter().copied())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        (out.status.code(), stderr)
    };

    // The portal is on by default: without an SMTP server no code can be sent.
    let (code, stderr) = run(&[]);
    assert_eq!(code, Some(0), "a warning alone passes: {stderr}");
    assert!(
        stderr.contains("warning: email.smtp_host")
            && stderr.contains("one-time codes")
            && stderr.contains("portal.enabled = false"),
        "{stderr}"
    );
    let (code, stderr) = run(&[("GATEWAY_PORTAL__ENABLED", "false")]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("email.smtp_host"), "{stderr}");
    let (code, stderr) = run(&[
        ("GATEWAY_SMTP_HOST", "127.0.0.1"),
        ("GATEWAY_MAIL_FROM", "1022@longan.gov.vn"),
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("portal"), "nothing to say: {stderr}");
    assert!(!stderr.contains("email."), "nothing to say: {stderr}");

    // Limits of 0: every code or check refused.
    let (code, stderr) = run(&[
        ("GATEWAY_SMTP_HOST", "127.0.0.1"),
        ("GATEWAY_PORTAL__OTP_TTL_SECS", "0"),
        ("GATEWAY_PORTAL__OTP_MAX_ATTEMPTS", "0"),
        ("GATEWAY_PORTAL__OTP_PER_CONTACT_PER_HOUR", "0"),
        ("GATEWAY_PORTAL__CHECKS_PER_MINUTE", "0"),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    for key in [
        "error: portal.otp_ttl_secs must be at least 1",
        "error: portal.otp_max_attempts must be at least 1",
        "error: portal.otp_per_contact_per_hour must be at least 1",
        "error: portal.checks_per_minute must be at least 1",
    ] {
        assert!(stderr.contains(key), "`{key}` in {stderr}");
    }
    assert!(stderr.contains("configuration has errors"), "{stderr}");
    // …but not when the portal is off.
    let (code, stderr) = run(&[
        ("GATEWAY_PORTAL__ENABLED", "false"),
        ("GATEWAY_PORTAL__OTP_MAX_ATTEMPTS", "0"),
    ]);
    assert_eq!(code, Some(0), "{stderr}");

    // Settings that work but not as a citizen expects.
    let (code, stderr) = run(&[
        ("GATEWAY_SMTP_HOST", "127.0.0.1"),
        ("GATEWAY_PORTAL__OTP_TTL_SECS", "86400"),
        ("GATEWAY_PORTAL__OTP_MAX_ATTEMPTS", "50"),
        ("GATEWAY_PORTAL__OTP_PER_CONTACT_PER_HOUR", "10"),
        ("GATEWAY_PORTAL__OTP_PER_SOURCE_PER_HOUR", "3"),
        ("GATEWAY_PORTAL__VERIFIED_TTL_SECS", "30"),
    ]);
    assert_eq!(code, Some(0), "warnings alone pass: {stderr}");
    for key in [
        "warning: portal.otp_ttl_secs a code valid for 1440 minutes",
        "warning: portal.otp_max_attempts 50 guesses",
        "warning: portal.otp_per_source_per_hour below portal.otp_per_contact_per_hour (10)",
        "warning: portal.verified_ttl_secs 30 s",
    ] {
        assert!(stderr.contains(key), "`{key}` in {stderr}");
    }
    let (_, stderr) = run(&[
        ("GATEWAY_SMTP_HOST", "127.0.0.1"),
        ("GATEWAY_PORTAL__OTP_TTL_SECS", "20"),
    ]);
    assert!(
        stderr.contains("warning: portal.otp_ttl_secs 20 s is too short"),
        "{stderr}"
    );

    // An SMS section: no adapter is built in.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("g.toml");
    std::fs::write(
        &file,
        "[portal.sms]\nprovider = \"vietguys\"\nendpoint = \"https://sms.example.vn/api\"\n",
    )
    .unwrap();
    let out = gateway()
        .arg("--config")
        .arg(&file)
        .arg("check-config")
        .env("GATEWAY_SMTP_HOST", "127.0.0.1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: portal.sms provider \"vietguys\": no SMS provider adapter"),
        "{stderr}"
    );

    // SMTP for the codes only (no IMAP): a sender address `serve` cannot use, and a password
    // file that cannot be read, are errors here as they are at start.
    let missing = dir.path().join("no-such-password");
    let envs = [
        ("GATEWAY_SMTP_HOST", "127.0.0.1"),
        ("GATEWAY_MAIL_FROM", "Trung tâm 1022"),
        ("GATEWAY_SMTP_PASSWORD_FILE", missing.to_str().unwrap()),
    ];
    let (code, stderr) = run(&envs);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("error: email.mail_from \"Trung tâm 1022\" is not an email address"),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: email.smtp_password_file") && stderr.contains("no-such-password"),
        "{stderr}"
    );
    let mut serve = gateway()
        .arg("serve")
        .env("GATEWAY_DATA_DIR", dir.path())
        .env("GATEWAY_LISTEN", "127.0.0.1:0")
        .envs(envs[..2].iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = serve.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = serve.kill();
            let _ = serve.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(
        status.is_some_and(|s| !s.success()),
        "serve refuses the same sender address ({status:?})"
    );
}
