//! Golden fixtures of the email normalizer: `fixtures/email/NNN-name.eml` against
//! `NNN-name.report.json` (the report, attachment summaries, reply address and loop verdict).
//! Each fixture runs twice, with LF and with CRLF line endings, and must give the same JSON.
//! On a mismatch the actual JSON is written beside the fixture as `NNN-name.report.json.failed`.

use std::path::{Path, PathBuf};

use chrono::TimeZone;
use normalizers::email::{normalize, EmailOptions};
use normalizers::report::{Channel, Envelope};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/email")
}

fn envelope() -> Envelope {
    Envelope {
        id: "01KFIXTURE0000000000000000".into(),
        tracking_code: String::new(),
        channel: Channel::Email,
        channel_ref: None,
        received_at: chrono::Utc
            .with_ymd_and_hms(2026, 11, 28, 3, 0, 0)
            .single()
            .expect("valid instant"),
    }
}

fn options() -> EmailOptions {
    EmailOptions {
        trusted_authserv_id: Some("mx.longan.gov.vn".into()),
        own_addresses: vec!["1022@longan.gov.vn".into()],
    }
}

fn to_lf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\r' && raw.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(raw[i]);
        i += 1;
    }
    out
}

fn to_crlf(lf: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(lf.len() + lf.len() / 20);
    for &b in lf {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

fn actual_json(raw: &[u8]) -> serde_json::Value {
    match normalize(envelope(), raw, &options()) {
        Ok(report) => serde_json::to_value(report.summary()).expect("summary serialises"),
        Err(e) => serde_json::json!({ "error": e.to_string() }),
    }
}

/// The bytes of a text or message part sent without base64 carry the message's line endings
/// (a `message/delivery-status` part is 5 bytes longer with CRLF): their size and digest are
/// left out of the CRLF comparison. Everything else must be identical.
fn line_ending_neutral(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(list) = v.get_mut("attachments").and_then(|a| a.as_array_mut()) {
        for a in list {
            let textual = a
                .get("claimed_type")
                .and_then(|t| t.as_str())
                .is_some_and(|t| t.starts_with("text/") || t.starts_with("message/"));
            if let (true, Some(obj)) = (textual, a.as_object_mut()) {
                obj.remove("size");
                obj.remove("sha256");
            }
        }
    }
    v
}

#[test]
fn email_fixtures_match_their_reports_in_lf_and_crlf() {
    let dir = fixtures_dir();
    let mut emls: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures/email exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    emls.sort();
    let mut cases = 0;
    let mut failures = Vec::new();
    for eml in &emls {
        let raw = std::fs::read(eml).expect("fixture readable");
        let expected_path = eml.with_extension("report.json");
        let failed_path = eml.with_extension("report.json.failed");
        let expected: Option<serde_json::Value> = std::fs::read(&expected_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let lf = to_lf(&raw);
        let crlf = to_crlf(&lf);
        for (label, bytes) in [("LF", &lf), ("CRLF", &crlf)] {
            cases += 1;
            let actual = actual_json(bytes);
            let same = match label {
                "LF" => expected.as_ref() == Some(&actual),
                _ => {
                    expected.clone().map(line_ending_neutral)
                        == Some(line_ending_neutral(actual.clone()))
                }
            };
            if !same {
                // The LF result is the canonical one written for review.
                let canonical = actual_json(&lf);
                let pretty = serde_json::to_string_pretty(&canonical).expect("json");
                std::fs::write(&failed_path, pretty + "\n").expect("write .failed");
                failures.push(format!("{} ({label})", eml.display()));
            }
        }
    }
    assert!(cases > 0, "no fixture in {}", dir.display());
    assert!(
        failures.is_empty(),
        "{} of {cases} cases differ from their .report.json (actual written to .failed): {failures:#?}",
        failures.len()
    );
}
