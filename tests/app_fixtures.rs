//! Golden fixtures of the app/portal channel: `fixtures/app/NNN-name.json` (a report JSON with a
//! `media` list) and `NNN-name.verdict.json` (the expected verdict: status, reason and flag codes
//! with their fields). On mismatch the test writes `NNN-name.verdict.json.failed` beside the
//! fixture; `UPDATE_FIXTURES=1` rewrites the expectations.

use serde_json::{json, Value};

use crate::support::{fixture, TEST_NOW};

fn summary(report: &normalizers::Report) -> Value {
    let list = |findings: &[normalizers::validate::Finding]| -> Vec<Value> {
        findings
            .iter()
            .map(|f| json!({"code": f.code, "field": f.field}))
            .collect()
    };
    json!({
        "verdict": report.verdict.status,
        "reasons": list(&report.verdict.reasons),
        "flags": list(&report.verdict.flags),
        "duplicate_of": report.verdict.duplicate_of.iter().map(|d| d.basis.clone()).collect::<Vec<_>>(),
        "occurred_at": report.occurred_at,
        // Rounded to 1e-6 degree (0.1 m): EXIF rationals do not print back exactly.
        "coordinates": report.location.coordinates.map(|c| json!({
            "lat": (c.lat * 1e6).round() / 1e6,
            "lon": (c.lon * 1e6).round() / 1e6,
        })),
        "reporter_phone": report.reporter.phone,
        "old_commune": report.location.admin.as_ref().and_then(|a| a.old_commune.clone()),
        "old_district": report.location.admin.as_ref().and_then(|a| a.old_district.clone()),
        "new_commune": report.location.admin.as_ref().and_then(|a| a.new_commune.clone()),
        "inside_jurisdiction": report.location.inside_jurisdiction,
        "category": report.category.as_ref().map(|c| json!({
            "field": c.field, "subcategory": c.subcategory, "source": c.source,
        })),
    })
}

#[test]
fn app_fixtures_match_their_expected_verdicts() {
    let dir = fixture("app");
    let now = TEST_NOW.parse().unwrap();
    let config = normalizers::validate::ValidationConfig::default();
    let update = std::env::var_os("UPDATE_FIXTURES").is_some();
    let mut cases = 0;
    let mut failures = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".json")
            || name.ends_with(".verdict.json")
            || name.ends_with(".context.json")
        {
            continue;
        }
        cases += 1;
        let geo = normalizers::geo::Geo::embedded();
        let email = Default::default();
        // `NNN-name.context.json`: what the shared store holds when this report arrives —
        // `earlier` open reports (fixture names) and `blocked` sender identities.
        let mut screening = gateway::offline::Screening::default();
        if let Ok(text) = std::fs::read_to_string(path.with_extension("context.json")) {
            let context: Value = serde_json::from_str(&text).unwrap();
            for earlier in context["earlier"].as_array().into_iter().flatten() {
                let earlier = dir.join(earlier.as_str().unwrap());
                let at = now - chrono::Duration::hours(1);
                let mut report = gateway::offline::check_file(&earlier, at, &config, geo, &email)
                    .unwrap()
                    .report()
                    .expect("an app report is never ignored");
                report.id = format!("EARLIER{}", screening.earlier.len() + 1);
                screening.earlier.push(report);
            }
            for blocked in context["blocked"].as_array().into_iter().flatten() {
                screening
                    .blocked
                    .push(blocked.as_str().unwrap().to_string());
            }
        }
        let report =
            gateway::offline::check_file_screened(&path, now, &config, geo, &email, &screening)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .report()
                .expect("an app report is never ignored");
        let got = summary(&report);
        let expected_path = path.with_extension("verdict.json");
        let failed_path = path.with_extension("verdict.json.failed");
        let pretty = serde_json::to_string_pretty(&got).unwrap() + "\n";
        if update {
            std::fs::write(&expected_path, &pretty).unwrap();
        }
        let expected: Option<Value> = std::fs::read_to_string(&expected_path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        if expected.as_ref() == Some(&got) {
            let _ = std::fs::remove_file(&failed_path);
        } else {
            std::fs::write(&failed_path, &pretty).unwrap();
            failures.push(name);
        }
    }
    assert!(cases > 0, "no fixture ran");
    assert!(
        failures.is_empty(),
        "{} of {cases} fixtures differ (see *.failed): {failures:?}",
        failures.len()
    );
}
