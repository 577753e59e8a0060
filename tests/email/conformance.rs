//! Conformance of the email normalizer over the third-party corpus (`$CORPUS_DIR/email`, 150
//! real and malformed messages): every message normalises without a panic, and the attachment
//! count and names per message equal those CPython's `email` package finds by the same rule
//! (`tests/email/email_conformance.py`, standard library only).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::TimeZone;
use normalizers::email::{attachment_names, normalize, EmailOptions};
use normalizers::report::{Channel, Envelope};

/// Messages where the two parsers legitimately read broken MIME differently. Each is a
/// deliberately malformed message; the test fails if this list stops being exactly the set of
/// differences (a new difference, or one that went away).
const KNOWN_DIVERGENCES: &[(&str, &str)] = &[
    ("cpython-msg_15.eml", "inner multipart reuses the outer boundary: CPython loses the image's headers, mail-parser keeps xx.gif"),
    ("stalwart-malformed-001.eml", "boundary `a` is a prefix of the outer `ab`: the parsers split differently"),
    ("stalwart-malformed-003.eml", "nested multipart with the same boundary as its parent"),
    ("stalwart-malformed-004.eml", "nested multipart with the same boundary as its parent"),
    ("stalwart-malformed-005.eml", "nested multipart with the same boundary as its parent"),
    ("stalwart-malformed-012.eml", "unterminated inner multipart: mail-parser lets it swallow the outer parts that follow"),
    ("stalwart-malformed-013.eml", "the same boundary reused at four nesting levels"),
    ("stalwart-thirdparty-015.eml", "forwarded messages with unterminated inner multiparts: mail-parser swallows the 2nd and 3rd forwarded message"),
];

fn corpus_email_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("CORPUS_DIR")?).join("email");
    dir.is_dir().then_some(dir)
}

fn eml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("corpus folder readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    files
}

fn escape(name: &str) -> String {
    name.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('|', "\\|")
}

#[test]
fn every_corpus_message_normalises_without_panic() {
    let Some(dir) = corpus_email_dir() else {
        eprintln!("skipped: CORPUS_DIR not set");
        return;
    };
    let files = eml_files(&dir);
    assert_eq!(files.len(), 150, "corpus/email holds 150 messages");
    let envelope = Envelope {
        id: "01KCORPUS00000000000000000".into(),
        tracking_code: String::new(),
        channel: Channel::Email,
        channel_ref: None,
        received_at: chrono::Utc
            .with_ymd_and_hms(2026, 11, 28, 3, 0, 0)
            .single()
            .expect("valid instant"),
    };
    let options = EmailOptions::default();
    let mut parsed = 0;
    for f in &files {
        let raw = std::fs::read(f).expect("readable");
        let result = std::panic::catch_unwind(|| normalize(envelope.clone(), &raw, &options));
        match result {
            Ok(Ok(report)) => {
                parsed += 1;
                assert!(
                    report.report.content.text.chars().all(|c| c != '\r'),
                    "{}: text keeps CR",
                    f.display()
                );
            }
            Ok(Err(e)) => eprintln!("{}: not a message: {e}", f.display()),
            Err(_) => panic!("normalize panicked on {}", f.display()),
        }
    }
    assert!(
        parsed >= 148,
        "only {parsed} of 150 corpus messages normalised"
    );
}

#[test]
fn attachment_names_equal_cpython_email() {
    let Some(dir) = corpus_email_dir() else {
        eprintln!("skipped: CORPUS_DIR not set");
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/email/email_conformance.py");
    let output = Command::new("python3")
        .arg(&script)
        .arg("names")
        .arg(&dir)
        .output()
        .expect("python3 runs (needed for the CPython comparison)");
    assert!(
        output.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let python: BTreeMap<String, String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(f, rest)| (f.to_string(), rest.to_string()))
        .collect();
    let files = eml_files(&dir);
    assert_eq!(python.len(), files.len(), "CPython read every file");
    let mut agree = 0;
    let mut differ = BTreeMap::new();
    for f in &files {
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let raw = std::fs::read(f).expect("readable");
        let names = attachment_names(&raw).unwrap_or_default();
        let ours = format!(
            "{}\t{}",
            names.len(),
            names
                .iter()
                .map(|n| escape(n))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        let theirs = python.get(&name).cloned().unwrap_or_default();
        if ours == theirs {
            agree += 1;
        } else {
            differ.insert(name, format!("ours {ours:?} / CPython {theirs:?}"));
        }
    }
    let known: BTreeMap<&str, &str> = KNOWN_DIVERGENCES.iter().copied().collect();
    let unexpected: Vec<_> = differ
        .iter()
        .filter(|(f, _)| !known.contains_key(f.as_str()))
        .collect();
    let healed: Vec<_> = known.keys().filter(|f| !differ.contains_key(**f)).collect();
    eprintln!(
        "attachment names: {agree} of {} messages agree with CPython",
        files.len()
    );
    assert!(
        unexpected.is_empty(),
        "new differences from CPython: {unexpected:#?}"
    );
    assert!(
        healed.is_empty(),
        "listed divergences that now agree (remove them): {healed:?}"
    );
    assert!(agree >= 140, "only {agree} messages agree");
}

/// Real clients' forwards in the corpus: the description is the forwarded message's text, the
/// cover note is not, and the reporter stays the person who forwarded.
#[test]
fn corpus_forwards_are_read_from_the_forwarded_message() {
    let Some(dir) = corpus_email_dir() else {
        eprintln!("skipped: CORPUS_DIR not set");
        return;
    };
    let envelope = Envelope {
        id: "01KCORPUS00000000000000000".into(),
        tracking_code: String::new(),
        channel: Channel::Email,
        channel_ref: None,
        received_at: chrono::Utc
            .with_ymd_and_hms(2026, 11, 28, 3, 0, 0)
            .single()
            .expect("valid instant"),
    };
    let cases = [
        // Gmail (2005) inline forward, with a cover note above it.
        (
            "mikel-attachment-attachment_with_encoded_name.eml",
            "Hi,\n\nTest attachments oddly encoded with japanese charset.",
            "xxxxxxxxx.xxxxxxx@gmail.com",
            "Signed email causes file attachments",
        ),
        (
            "mikel-attachment-attachment_with_base64_encoded_name.eml",
            "Hi,\n\nTest attachments with Base64 encoded filename.",
            "xxxxxxxxx.xxxxxxx@gmail.com",
            "Signed email causes file attachments",
        ),
        // Apple Mail forward as attachment (message/rfc822) with a cover note.
        (
            "mikel-attachment-attachment_message_rfc822.eml",
            "Just attaching another PDF, here, to see what the message looks like,\nand to see if I can figure out what is going wrong here.",
            "foo@example.com",
            "Another PDF",
        ),
    ];
    for (name, text, reporter, title) in cases {
        let raw = std::fs::read(dir.join(name)).expect("corpus file");
        let r = normalize(envelope.clone(), &raw, &EmailOptions::default())
            .expect("a message")
            .report;
        assert_eq!(r.content.text, text, "{name}");
        assert_eq!(r.reporter.email.as_deref(), Some(reporter), "{name}");
        assert_eq!(r.content.title.as_deref(), Some(title), "{name}");
    }
}
