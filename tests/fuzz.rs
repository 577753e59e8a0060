//! The fuzz targets of `fuzz/` on the stable toolchain: every regression input of
//! `fixtures/fuzz/<target>/` (inputs the fuzzer once broke the code with) and the seed corpus
//! (the fixtures, and the third-party corpus when `CORPUS_DIR` is set) through the same target
//! functions libFuzzer runs. A finding that comes back fails here.

use std::path::{Path, PathBuf};

use crate::support::{corpus, fixture};

#[path = "../fuzz/src/targets.rs"]
mod targets;

/// The files of `dir` (not recursive), sorted; none when it does not exist.
fn files(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(&keep))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Seeds of a target besides its regression inputs: the same folders `fuzz/run` seeds from.
fn seeds(target: &str) -> Vec<PathBuf> {
    let corpus = corpus();
    let from_corpus = |sub: &str, keep: &dyn Fn(&str) -> bool| match &corpus {
        Some(c) => files(&c.join(sub), keep),
        None => Vec::new(),
    };
    match target {
        "email" => {
            let eml = |n: &str| n.ends_with(".eml");
            let mut v = files(&fixture("email"), eml);
            v.extend(from_corpus("email", &eml));
            v
        }
        t if t.starts_with("media_") => {
            let media =
                |n: &str| !n.ends_with(".py") && !n.ends_with(".md") && !n.ends_with(".tsv");
            let mut v = files(&fixture("media"), media);
            v.extend(from_corpus("exif", &media));
            v
        }
        "zalo_event" => files(&fixture("zalo"), |n| {
            n.ends_with(".json") && !n.ends_with(".expected.json")
        }),
        // The multipart bodies are made from the app fixtures (`multipart_seeds`).
        _ => Vec::new(),
    }
}

/// `POST /v1/reports` bodies of the app fixtures: the `report` part (the fixture without its
/// `media` list) and each listed file as a `media` part, as `fuzz/run` makes them.
fn multipart_seeds() -> Vec<(String, Vec<u8>)> {
    let dir = fixture("app");
    let mut out = Vec::new();
    for path in files(&dir, |n| {
        n.ends_with(".json") && n.matches('.').count() == 1
    }) {
        let mut report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let media: Vec<String> = report
            .as_object_mut()
            .and_then(|o| o.remove("media"))
            .and_then(|m| serde_json::from_value(m).ok())
            .unwrap_or_default();
        let b = targets::BOUNDARY;
        let mut body = format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"report\"\r\nContent-Type: application/json\r\n\r\n{report}\r\n"
        )
        .into_bytes();
        for name in media {
            let file = dir.join(&name);
            let base = file.file_name().unwrap().to_string_lossy().to_string();
            body.extend_from_slice(
                format!("--{b}\r\nContent-Disposition: form-data; name=\"media\"; filename=\"{base}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
            );
            body.extend_from_slice(&std::fs::read(&file).unwrap());
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{b}--\r\n").as_bytes());
        out.push((path.display().to_string(), body));
    }
    out
}

fn replay(target: &str) {
    let regressions = files(&fixture("fuzz").join(target), |n| !n.starts_with('.'));
    let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
    for path in regressions.iter().chain(&seeds(target)) {
        inputs.push((path.display().to_string(), std::fs::read(path).unwrap()));
    }
    if target == "multipart" {
        inputs.extend(multipart_seeds());
    }
    assert!(!inputs.is_empty(), "no input for target {target}");
    for (name, data) in &inputs {
        let ran = std::panic::catch_unwind(|| targets::run(target, data));
        match ran {
            Ok(true) => {}
            Ok(false) => panic!("no target {target}"),
            Err(_) => panic!("target {target} fails on {name}"),
        }
    }
    eprintln!(
        "{target}: {} inputs ({} regression inputs)",
        inputs.len(),
        regressions.len()
    );
}

#[test]
fn every_regression_folder_is_a_target() {
    let listed: Vec<String> = files(&fixture("fuzz"), |_| true)
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        listed.is_empty(),
        "files directly under fixtures/fuzz: {listed:?}"
    );
    for dir in std::fs::read_dir(fixture("fuzz")).unwrap().flatten() {
        let name = dir.file_name().to_string_lossy().to_string();
        assert!(
            targets::TARGETS.contains(&name.as_str()),
            "fixtures/fuzz/{name} is not a target"
        );
    }
}

#[test]
fn email() {
    replay("email");
}

#[test]
fn media_inspect() {
    replay("media_inspect");
}

#[test]
fn media_exif() {
    replay("media_exif");
}

#[test]
fn media_strip() {
    replay("media_strip");
}

#[test]
fn media_phash() {
    replay("media_phash");
}

#[test]
fn zalo_event() {
    replay("zalo_event");
}

#[test]
fn multipart() {
    replay("multipart");
}
