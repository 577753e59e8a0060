//! Helpers shared by the integration tests: throwaway servers on free ports, the gateway in
//! process or as a child process, multipart bodies, fixtures.
//!
//! # Layout
//! - `redis`: a throwaway `redis-server` per test.
//! - `gateway`: the gateway in process (router or socket) and as a child process.
//! - `dovecot`: a throwaway Dovecot (IMAP, IMAPS, IDLE) per test, restartable.
//! - `smtp`: a throwaway SMTP sink (aiosmtpd in `target/test-venv`) per test.
//! - `fake_zalo`: a fake Zalo (webhook sender, OA API, token rotation, mini-app tokens, media).
//! - `harness`: retrying clients, distinct citizens and queue counts of the crash/outage harnesses.
//! - `tmpfs`: a small tmpfs to fill, for full-disk tests (root only).
//! - `browser`: headless Chromium over WebDriver (the portal's end-to-end test).

#![allow(dead_code)]

pub mod browser;
pub mod dovecot;
pub mod fake_zalo;
pub mod gateway;
pub mod harness;
pub mod redis;
pub mod smtp;
pub mod tmpfs;

use std::net::TcpListener;
use std::path::PathBuf;

/// The API's multipart form: `report` as JSON and the 2-hour-old photo fixture named `file_name`.
pub fn report_form(report: &serde_json::Value, file_name: &str) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .part(
            "report",
            reqwest::multipart::Part::text(report.to_string())
                .mime_str("application/json")
                .unwrap(),
        )
        .part(
            "media",
            reqwest::multipart::Part::bytes(read_fixture("media/photo-2h-before.jpg"))
                .file_name(file_name.to_string())
                .mime_str("image/jpeg")
                .unwrap(),
        )
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    // The kernel may hand the same free port to two quick binds in a row (each listener is
    // closed at once): never give one port twice to the servers of this test process.
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("the loopback interface has free ports");
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(path: &str) -> PathBuf {
    repo().join("fixtures").join(path)
}

/// The third-party corpus, when `CORPUS_DIR` points at it; tests skip with a message otherwise.
pub fn corpus() -> Option<PathBuf> {
    match std::env::var_os("CORPUS_DIR").map(PathBuf::from) {
        Some(p) if p.is_dir() => Some(p),
        _ => {
            eprintln!("skipped: CORPUS_DIR not set (or not a folder)");
            None
        }
    }
}

/// The fixed instant of the media fixtures: photos "2 h before" were captured at 01:00Z.
pub const TEST_NOW: &str = "2026-11-28T03:00:00Z";

/// A valid report part for the app channel.
pub fn report_json() -> serde_json::Value {
    serde_json::json!({
        "channel": "app",
        "reporter": {"name": "Nguyễn Văn An", "phone": "0912 345 678"},
        "content": "Đèn đường trước số 12 đường Hùng Vương bị hỏng, cả đoạn đường tối om từ tối qua.",
        "location": {"address": "12 Hùng Vương, Phường 1, Tân An", "lat": 10.54, "lon": 106.41},
    })
}

/// A multipart body builder (the gateway must accept what browsers and apps send).
pub struct Multipart {
    pub boundary: String,
    pub body: Vec<u8>,
}

impl Multipart {
    pub fn new() -> Self {
        Multipart {
            boundary: "----gw-test-boundary-7d93a1".into(),
            body: Vec::new(),
        }
    }

    pub fn json(mut self, name: &str, value: &serde_json::Value) -> Self {
        let part = format!(
            "--{}\r\nContent-Disposition: form-data; name=\"{name}\"\r\nContent-Type: application/json\r\n\r\n",
            self.boundary
        );
        self.body.extend_from_slice(part.as_bytes());
        self.body.extend_from_slice(value.to_string().as_bytes());
        self.body.extend_from_slice(b"\r\n");
        self
    }

    pub fn text(mut self, name: &str, value: &str) -> Self {
        let part = format!(
            "--{}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n",
            self.boundary
        );
        self.body.extend_from_slice(part.as_bytes());
        self
    }

    pub fn file(mut self, name: &str, file_name: &str, content_type: &str, bytes: &[u8]) -> Self {
        let part = format!(
            "--{}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\nContent-Type: {content_type}\r\n\r\n",
            self.boundary
        );
        self.body.extend_from_slice(part.as_bytes());
        self.body.extend_from_slice(bytes);
        self.body.extend_from_slice(b"\r\n");
        self
    }

    pub fn finish(mut self) -> (String, Vec<u8>) {
        self.body
            .extend_from_slice(format!("--{}--\r\n", self.boundary).as_bytes());
        (
            format!("multipart/form-data; boundary={}", self.boundary),
            self.body,
        )
    }
}

pub fn read_fixture(path: &str) -> Vec<u8> {
    std::fs::read(fixture(path)).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}
