use crate::support::repo;

/// The committed schema is what the types generate; regenerate with `UPDATE_SCHEMA=1`.
#[test]
fn committed_report_schema_is_current() {
    let path = repo().join("normalizers/schema/report.schema.json");
    let generated =
        serde_json::to_string_pretty(&normalizers::report::json_schema()).unwrap() + "\n";
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "normalizers/schema/report.schema.json is stale: run `UPDATE_SCHEMA=1 cargo test --test tests schema` and commit it"
    );
}

#[test]
fn schema_names_every_section_4_field() {
    let schema = normalizers::report::json_schema();
    let props = schema["properties"].as_object().unwrap();
    for field in [
        "id",
        "tracking_code",
        "schema_version",
        "channel",
        "channel_ref",
        "received_at",
        "reporter",
        "content",
        "category",
        "occurred_at",
        "location",
        "attachments",
        "confidential",
        "verdict",
        "deadlines",
    ] {
        assert!(props.contains_key(field), "schema lacks `{field}`");
    }
}
