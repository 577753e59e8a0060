//! The output of the email normalizer over the third-party corpus (`$CORPUS_DIR/email`, 150
//! messages) is pinned: for every message, the sha256 of the JSON of its [`EmailSummary`]
//! (report, attachment names/types/sizes/digests, reply info, loop verdict), or of its error,
//! must equal the line recorded in `fixtures/email/corpus-digests.tsv`. A speed-up of the
//! normalizer must not change a single field of a single message.
//!
//! Needs `CORPUS_DIR`; skipped without it. Only digests are recorded, never corpus content.
//! After a deliberate change of the output, regenerate the file with
//! `PIN_WRITE=1 CORPUS_DIR=… cargo test -p normalizers --test email_corpus_digest` and review
//! the diff: every changed line is a message whose output changed.
//!
//! [`EmailSummary`]: normalizers::email::EmailSummary

use std::path::{Path, PathBuf};

use chrono::TimeZone;
use normalizers::email::{normalize, EmailOptions};
use normalizers::report::{Channel, Envelope};
use sha2::{Digest, Sha256};

fn pinned_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/email/corpus-digests.tsv")
}

/// `file name \t sha256` of every message, sorted by file name.
fn digests(dir: &Path) -> Vec<(String, String)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("corpus folder readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    let envelope = Envelope {
        id: "01KCORPUS00000000000000000".into(),
        tracking_code: "LA-PIN".into(),
        channel: Channel::Email,
        channel_ref: None,
        received_at: chrono::Utc
            .with_ymd_and_hms(2026, 11, 28, 3, 0, 0)
            .single()
            .expect("valid instant"),
    };
    // Both settings exercised: a trusted authserv-id and an own address.
    let options = EmailOptions {
        trusted_authserv_id: Some("mx.longan.gov.vn".into()),
        own_addresses: vec!["1022@longan.gov.vn".into()],
    };
    files
        .iter()
        .map(|f| {
            let raw = std::fs::read(f).expect("readable");
            let json = match normalize(envelope.clone(), &raw, &options) {
                Ok(r) => serde_json::to_vec(&r.summary()).expect("summary serialises"),
                Err(e) => format!("error: {e}").into_bytes(),
            };
            let name = f
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            (name, hex::encode(Sha256::digest(&json)))
        })
        .collect()
}

#[test]
fn the_normalised_corpus_is_unchanged() {
    let Some(dir) = std::env::var_os("CORPUS_DIR")
        .map(|d| PathBuf::from(d).join("email"))
        .filter(|d| d.is_dir())
    else {
        eprintln!("skipped: CORPUS_DIR not set");
        return;
    };
    let got = digests(&dir);
    assert_eq!(got.len(), 150, "corpus/email holds 150 messages");
    let text: String = got.iter().map(|(f, d)| format!("{f}\t{d}\n")).collect();
    if std::env::var_os("PIN_WRITE").is_some() {
        std::fs::write(pinned_file(), &text).expect("pinned digests written");
        return;
    }
    let pinned = std::fs::read_to_string(pinned_file()).expect("fixtures/email/corpus-digests.tsv");
    let changed: Vec<&str> = text
        .lines()
        .zip(pinned.lines())
        .filter(|(a, b)| a != b)
        .map(|(a, _)| a.split('\t').next().unwrap_or(a))
        .collect();
    assert!(
        changed.is_empty() && text.lines().count() == pinned.lines().count(),
        "the normalised output changed for {} message(s): {changed:?}",
        changed.len()
    );
}

#[test]
fn the_digest_is_stable_across_runs() {
    // The pin is only meaningful if the output is deterministic (no map iteration order, no
    // clock): two runs in one process give the same digests.
    let Some(dir) = std::env::var_os("CORPUS_DIR")
        .map(|d| PathBuf::from(d).join("email"))
        .filter(|d| d.is_dir())
    else {
        eprintln!("skipped: CORPUS_DIR not set");
        return;
    };
    assert_eq!(digests(&dir), digests(&dir));
}
