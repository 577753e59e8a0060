//! Hostile input (issue 10, "Harnesses"), against the gateway as a real process: each attack
//! gets its clear answer and the next citizen's report goes through as usual.
//!
//! - decompression bombs: a PNG declaring 50 000 × 50 000 pixels over a zlib stream of zeros;
//!   a zip bomb attached to an email;
//! - endless and slow uploads: 413 past the photo limit, 408 after `limits.request_timeout_secs`,
//!   nothing left in `media/tmp`;
//! - path traversal and control characters in file names (API multipart, email attachment);
//! - header injection through the sender's name and the subject (CR/LF in encoded words);
//! - HTML and script in the report text: stored and returned as JSON text;
//! - oversized and deeply nested JSON (API `report` part, Zalo webhook): 4xx in the error format.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::dovecot::Dovecot;
use crate::support::fake_zalo::FakeZalo;
use crate::support::gateway::{client, Process, IOC_KEY, SUBMIT_KEY};
use crate::support::harness::{self as h, Channels};
use crate::support::smtp::SmtpSink;
use crate::support::{read_fixture, Multipart};

// --- building blocks --------------------------------------------------------------------------

/// CRC-32 (IEEE), table-driven.
fn crc32(bytes: &[u8]) -> u32 {
    let mut table = [0u32; 256];
    for (i, t) in table.iter_mut().enumerate() {
        let mut c = i as u32;
        for _ in 0..8 {
            c = if c & 1 == 1 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
        *t = c;
    }
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc = table[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

/// A raw deflate stream (one fixed-Huffman block) of `1 + 258 * reps` zero bytes: one literal,
/// then back-references of 258 bytes at distance 1 (13 bits each, a ratio of about 160:1).
fn deflated_zeros(reps: usize) -> (Vec<u8>, usize) {
    struct Bits {
        out: Vec<u8>,
        acc: u32,
        n: u32,
    }
    impl Bits {
        fn bit(&mut self, b: u32) {
            self.acc |= (b & 1) << self.n;
            self.n += 1;
            if self.n == 8 {
                self.out.push(self.acc as u8);
                self.acc = 0;
                self.n = 0;
            }
        }
        /// A Huffman code, most significant bit first.
        fn code(&mut self, code: u32, len: u32) {
            for i in (0..len).rev() {
                self.bit(code >> i);
            }
        }
    }
    let mut w = Bits {
        out: Vec::new(),
        acc: 0,
        n: 0,
    };
    w.bit(1); // BFINAL
    w.bit(1); // BTYPE = 01 (fixed), least significant bit first
    w.bit(0);
    w.code(0x30, 8); // literal 0
    for _ in 0..reps {
        w.code(0xC5, 8); // length 258 (symbol 285)
        w.code(0, 5); // distance 1
    }
    w.code(0, 7); // end of block
    if w.n > 0 {
        w.out.push(w.acc as u8);
    }
    (w.out, 1 + 258 * reps)
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut c = kind.to_vec();
    c.extend_from_slice(data);
    out.extend_from_slice(&c);
    out.extend_from_slice(&crc32(&c).to_be_bytes());
}

/// A PNG that claims 50 000 × 50 000 grey pixels (2.5 GB decoded) and carries 10 MB of zeros
/// compressed into about 65 kB.
fn png_bomb() -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&50_000u32.to_be_bytes());
    ihdr.extend_from_slice(&50_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    png_chunk(&mut png, b"IHDR", &ihdr);
    let (deflate, n) = deflated_zeros(40_000);
    let mut zlib = vec![0x78, 0x01];
    zlib.extend_from_slice(&deflate);
    let adler = (((n % 65_521) as u32) << 16) | 1;
    zlib.extend_from_slice(&adler.to_be_bytes());
    png_chunk(&mut png, b"IDAT", &zlib);
    png_chunk(&mut png, b"IEND", &[]);
    png
}

/// A zip archive of one entry that inflates to 10 MB of zeros (and says it is 4 GB).
fn zip_bomb() -> Vec<u8> {
    let (deflate, n) = deflated_zeros(40_000);
    let crc = crc32(&vec![0u8; n]);
    let name = b"bao-cao.txt";
    let mut z = Vec::new();
    let header = |z: &mut Vec<u8>, central: bool| {
        if central {
            z.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            z.extend_from_slice(&20u16.to_le_bytes());
        } else {
            z.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        }
        z.extend_from_slice(&20u16.to_le_bytes()); // version needed
        z.extend_from_slice(&0u16.to_le_bytes()); // flags
        z.extend_from_slice(&8u16.to_le_bytes()); // deflate
        z.extend_from_slice(&0u32.to_le_bytes()); // time, date
        z.extend_from_slice(&crc.to_le_bytes());
        z.extend_from_slice(&(deflate.len() as u32).to_le_bytes());
        z.extend_from_slice(&u32::MAX.to_le_bytes()); // "4 GB"
        z.extend_from_slice(&(name.len() as u16).to_le_bytes());
        z.extend_from_slice(&0u16.to_le_bytes()); // extra
        if central {
            z.extend_from_slice(&[0u8; 12]); // comment, disk, attributes
            z.extend_from_slice(&0u32.to_le_bytes()); // offset of the local header
        }
        z.extend_from_slice(name);
    };
    header(&mut z, false);
    z.extend_from_slice(&deflate);
    let central_at = z.len();
    header(&mut z, true);
    let central_len = z.len() - central_at;
    z.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    z.extend_from_slice(&[0u8; 4]);
    z.extend_from_slice(&1u16.to_le_bytes());
    z.extend_from_slice(&1u16.to_le_bytes());
    z.extend_from_slice(&(central_len as u32).to_le_bytes());
    z.extend_from_slice(&(central_at as u32).to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z
}

async fn post_multipart(gw: &Process, body: (String, Vec<u8>)) -> (u16, Value) {
    let res = client()
        .post(format!("{}/v1/reports", gw.base))
        .bearer_auth(SUBMIT_KEY)
        .header("content-type", body.0)
        .body(body.1)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn get_json(gw: &Process, path: &str) -> (u16, Value, String) {
    let res = client()
        .get(format!("{}{path}", gw.base))
        .bearer_auth(IOC_KEY)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, res.json().await.unwrap_or(Value::Null), ct)
}

/// A citizen's ordinary report goes through: the gateway is unaffected.
async fn an_ordinary_report_goes_through(gw: &Process, n: usize) {
    let a = h::submit_retrying(
        &gw.base,
        &format!("ordinary-{n}"),
        &h::api_report(n),
        Instant::now() + Duration::from_secs(30),
    )
    .await;
    assert_eq!(a.status, 201, "{:?}\n{}", a.body, gw.log_text());
    assert_eq!(a.attempts, 1, "answered at once");
}

fn assert_error_format(body: &Value, code: &str) {
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

// --- API ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_png_bomb_is_inspected_without_being_decoded() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Process::start(dir.path(), &[]);
    let bomb = png_bomb();
    assert!(bomb.len() < 100_000, "{}", bomb.len());
    let started = Instant::now();
    let (status, body) = post_multipart(
        &gw,
        Multipart::new()
            .json("report", &h::api_report(0))
            .file("media", "anh.png", "image/png", &bomb)
            .finish(),
    )
    .await;
    let took = started.elapsed();
    assert!(status == 201 || status == 422, "{status} {body}");
    assert!(took < Duration::from_secs(10), "answered in {took:?}");
    assert!(gw.pid().is_some(), "still running");
    an_ordinary_report_goes_through(&gw, 1).await;
    // The bomb is kept as the citizen sent it, for the IOC.
    let id = body["id"].as_str().unwrap();
    let (s, report, _) = get_json(&gw, &format!("/v1/reports/{id}")).await;
    assert_eq!(s, 200);
    assert_eq!(
        report["attachments"][0]["size"],
        bomb.len() as u64,
        "{report}"
    );
}

/// One file part with a raw `Content-Disposition` parameter (`filename="…"` or `filename*=…`).
fn file_part(report: &Value, disposition_name: &str) -> (String, Vec<u8>) {
    let mut form = Multipart::new().json("report", report);
    let mut part = format!(
        "--{}\r\nContent-Disposition: form-data; name=\"media\"; {disposition_name}\r\nContent-Type: image/jpeg\r\n\r\n",
        form.boundary
    )
    .into_bytes();
    part.extend_from_slice(&read_fixture("media/photo-2h-before.jpg"));
    part.extend_from_slice(b"\r\n");
    form.body.extend_from_slice(&part);
    form.finish()
}

#[tokio::test]
async fn file_names_with_paths_and_control_characters_stay_names() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Process::start(dir.path(), &[]);
    // (the parameter as sent, the name kept when the request is taken)
    let cases = [
        (
            "filename=\"../../../../../../tmp/gw-hostile-evil.jpg\"",
            Some("gw-hostile-evil.jpg"),
        ),
        (
            "filename=\"..\\..\\..\\windows\\win.ini.jpg\"",
            Some("win.ini.jpg"),
        ),
        ("filename=\"anh\u{7}do.jpg\"", None),
        ("filename=\"anh\u{1b}[31mdo.jpg\"", None),
        ("filename=\"anh\u{0}do.jpg\"", None),
        (
            "filename*=UTF-8''..%2F..%2Ftmp%2Fgw-hostile-evil.jpg%0D%0AX-Injected%3A%201",
            None,
        ),
    ];
    for (n, (param, expected)) in cases.iter().enumerate() {
        let (status, body) = post_multipart(&gw, file_part(&h::api_report(10 + n), param)).await;
        // A control character in a part header is malformed HTTP: refused as such (400);
        // otherwise the report is taken and the name kept as a bare name.
        if status == 400 {
            assert_error_format(&body, "bad_request");
            assert!(expected.is_none(), "{param}: {body}");
            continue;
        }
        assert_eq!(status, 201, "{param}: {body}");
        let id = body["id"].as_str().unwrap();
        let (_, report, _) = get_json(&gw, &format!("/v1/reports/{id}")).await;
        let name = report["attachments"][0]["file_name"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert!(
            !name.contains('/') && !name.contains('\\') && !name.chars().any(char::is_control),
            "{param}: kept as {name:?}"
        );
        if let Some(e) = expected {
            assert_eq!(&name, e, "{param}");
        }
    }
    assert!(!std::path::Path::new("/tmp/gw-hostile-evil.jpg").exists());
    // Nothing was written under a name the client chose.
    let mut todo = vec![dir.path().to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            assert!(
                !name.contains("evil") && !name.contains("win.ini"),
                "{name}"
            );
            if e.path().is_dir() {
                todo.push(e.path());
            }
        }
    }
    an_ordinary_report_goes_through(&gw, 3).await;
}

#[tokio::test]
async fn html_and_script_in_the_text_are_stored_and_returned_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Process::start(dir.path(), &[]);
    let mut report = h::api_report(4);
    let content = format!(
        "{} <script>alert('xss')</script><img src=x onerror=\"alert(1)\"> &amp; <b>gấp</b>",
        report["content"].as_str().unwrap()
    );
    report["content"] = Value::String(content.clone());
    report["reporter"]["name"] = Value::String("<i>Nguyễn</i> Văn An".into());
    let (status, body) = post_multipart(
        &gw,
        Multipart::new()
            .json("report", &report)
            .file(
                "media",
                "a.jpg",
                "image/jpeg",
                &read_fixture("media/photo-2h-before.jpg"),
            )
            .finish(),
    )
    .await;
    assert!(status == 201 || status == 422, "{status} {body}");
    let id = body["id"].as_str().unwrap();
    let (s, stored, ct) = get_json(&gw, &format!("/v1/reports/{id}")).await;
    assert_eq!(s, 200);
    assert!(ct.starts_with("application/json"), "{ct}");
    let text = serde_json::to_string(&stored).unwrap();
    assert!(
        text.contains("<script>alert('xss')</script>"),
        "kept as the citizen wrote it: {stored}"
    );
    assert!(text.contains("<i>Nguyễn</i> Văn An"), "{stored}");
    // What the citizen sees back is JSON too, never markup to render.
    let raw = client()
        .get(format!("{}/v1/reports/{id}", gw.base))
        .bearer_auth(IOC_KEY)
        .send()
        .await
        .unwrap();
    assert!(raw
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap().starts_with("application/json")));
    an_ordinary_report_goes_through(&gw, 5).await;
}

#[tokio::test]
async fn oversized_and_deeply_nested_report_json_get_4xx_in_the_error_format() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Process::start(dir.path(), &[]);
    // Past `limits.report_json_max_bytes` (64 kB).
    let mut big = h::api_report(6);
    big["content"] = Value::String("Đèn đường hỏng. ".repeat(10_000));
    let (status, body) = post_multipart(&gw, Multipart::new().json("report", &big).finish()).await;
    assert_eq!(status, 413, "{body}");
    assert_error_format(&body, "payload_too_large");
    assert!(body["message_vi"].as_str().is_some_and(|m| !m.is_ascii()));
    // 10 000 levels of nesting, far below the size bound.
    let deep = format!(
        "{{\"channel\":\"app\",\"content\":{}1{}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let mut form = Multipart::new();
    form.body.extend_from_slice(
        format!(
            "--{}\r\nContent-Disposition: form-data; name=\"report\"\r\nContent-Type: application/json\r\n\r\n{deep}\r\n",
            form.boundary
        )
        .as_bytes(),
    );
    let started = Instant::now();
    let (status, body) = post_multipart(&gw, form.finish()).await;
    assert_eq!(status, 400, "{body}");
    assert_error_format(&body, "bad_request");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(gw.pid().is_some());
    an_ordinary_report_goes_through(&gw, 7).await;
}

/// Every JSON endpoint refuses a body it cannot read in the API's error format (with the
/// Vietnamese sentence a client can show), never with a plain-text line: a value not among
/// those allowed, a body that is not JSON, no JSON content type, a body past the limit. A
/// large body refused early is read first: the client gets the answer, not a reset connection.
#[tokio::test]
async fn malformed_json_bodies_get_the_error_format_on_every_json_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Process::start(dir.path(), &[]);
    let a = h::submit_retrying(
        &gw.base,
        "json-refusals",
        &h::api_report(11),
        Instant::now() + Duration::from_secs(30),
    )
    .await;
    assert_eq!(a.status, 201, "{:?}", a.body);
    let id = a.body["id"].as_str().unwrap().to_string();
    let code = a.body["tracking_code"].as_str().unwrap().to_string();
    let cases: Vec<(String, Option<&str>)> = vec![
        (format!("/v1/reports/{id}/status"), Some(IOC_KEY)),
        (format!("/v1/reports/{id}/messages"), Some(IOC_KEY)),
        ("/v1/ioc/blocklist".to_string(), Some(IOC_KEY)),
        (format!("/v1/track/{code}/messages"), None),
        (format!("/v1/track/{code}/rating"), None),
    ];
    for (path, key) in &cases {
        let post = |ct: Option<&'static str>, body: Vec<u8>| {
            let mut rb = client().post(format!("{}{path}", gw.base)).body(body);
            if let Some(k) = key {
                rb = rb.bearer_auth(k);
            }
            if let Some(ct) = ct {
                rb = rb.header("content-type", ct);
            }
            rb
        };
        for (ct, body, status, error) in [
            (
                Some("application/json"),
                br#"{"status":"bogus","kind":"bogus","rating":"bogus","identity":7}"#.to_vec(),
                400,
                "bad_request",
            ),
            (
                Some("application/json"),
                b"{not json".to_vec(),
                400,
                "bad_request",
            ),
            (
                Some("text/plain"),
                b"{}".to_vec(),
                415,
                "unsupported_media_type",
            ),
            (
                Some("text/plain"),
                vec![b'a'; 8 << 20],
                415,
                "unsupported_media_type",
            ),
            (
                Some("application/json"),
                format!("{{\"text\":\"{}\"}}", "a".repeat(8 << 20)).into_bytes(),
                413,
                "payload_too_large",
            ),
        ] {
            let res = post(ct, body).send().await.unwrap();
            let got = res.status().as_u16();
            let ctype = res
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let text = res.text().await.unwrap();
            assert_eq!(got, status, "{path}: {text}");
            assert!(
                ctype.starts_with("application/json"),
                "{path}: {ctype} {text}"
            );
            let body: Value = serde_json::from_str(&text).unwrap();
            assert_error_format(&body, error);
            assert!(
                body["message_vi"].as_str().is_some_and(|m| !m.is_ascii()),
                "{path}: {body}"
            );
        }
    }
    an_ordinary_report_goes_through(&gw, 12).await;
}

/// The head of a multipart upload of one JPEG, announced as `content_length` bytes.
fn upload_head(port: u16, content_length: u64) -> Vec<u8> {
    let photo = read_fixture("media/photo-2h-before.jpg");
    let mut head = format!(
        "POST /v1/reports HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {SUBMIT_KEY}\r\n\
         Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {content_length}\r\n\r\n\
         --b\r\nContent-Disposition: form-data; name=\"media\"; filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
    )
    .into_bytes();
    head.extend_from_slice(&photo[..600]);
    head
}

async fn read_status(s: &mut (impl tokio::io::AsyncRead + Unpin)) -> (u16, String) {
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(30), s.read(&mut buf)).await {
            Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                got.extend_from_slice(&buf[..n]);
                if got.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
        }
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[tokio::test]
async fn an_endless_upload_is_cut_at_the_photo_limit_and_leaves_nothing_staged() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Process::start(
        dir.path(),
        &[("GATEWAY_LIMITS__PHOTO_MAX_BYTES", "2000000")],
    );
    let s = tokio::net::TcpStream::connect(("127.0.0.1", gw.port))
        .await
        .unwrap();
    let (mut rd, mut wr) = s.into_split();
    let port = gw.port;
    // Keep sending until the gateway stops reading (it answered and closed).
    let writer = tokio::spawn(async move {
        wr.write_all(&upload_head(port, 50_000_000_000))
            .await
            .unwrap();
        let chunk = vec![0x55u8; 64 * 1024];
        let mut sent = 0u64;
        while sent < 200_000_000 {
            match tokio::time::timeout(Duration::from_secs(5), wr.write_all(&chunk)).await {
                Ok(Ok(())) => sent += chunk.len() as u64,
                _ => break,
            }
        }
        sent
    });
    let (status, text) = read_status(&mut rd).await;
    assert_eq!(status, 413, "{text}");
    let sent = tokio::time::timeout(Duration::from_secs(30), writer)
        .await
        .expect("the gateway stopped reading")
        .unwrap();
    assert!(sent < 200_000_000, "the gateway kept reading {sent} bytes");
    drop(rd);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h::staged_files(dir.path()), Vec::<String>::new());
    an_ordinary_report_goes_through(&gw, 8).await;
}

#[tokio::test]
async fn a_slow_upload_is_answered_408_and_its_staged_file_removed() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Process::start(dir.path(), &[("GATEWAY_LIMITS__REQUEST_TIMEOUT_SECS", "3")]);
    let s = tokio::net::TcpStream::connect(("127.0.0.1", gw.port))
        .await
        .unwrap();
    let (mut rd, mut wr) = s.into_split();
    let port = gw.port;
    let started = Instant::now();
    // A slowloris: one byte every 200 ms, for ever.
    let trickle = tokio::spawn(async move {
        wr.write_all(&upload_head(port, 1_000_000)).await.unwrap();
        loop {
            if wr.write_all(b"x").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        h::staged_files(dir.path()).len(),
        1,
        "the upload is being staged"
    );
    let (status, text) = read_status(&mut rd).await;
    trickle.abort();
    assert_eq!(status, 408, "{text}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "cut after {took:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h::staged_files(dir.path()), Vec::<String>::new());
    an_ordinary_report_goes_through(&gw, 9).await;
}

// --- Zalo webhook ------------------------------------------------------------------------------

#[tokio::test]
async fn oversized_and_deeply_nested_webhook_events_get_4xx() {
    let fake = FakeZalo::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = h::write_config(dir.path(), &Channels::zalo(&fake), "");
    let gw = h::start_configured(dir.path(), &config);
    let webhook = format!("{}/v1/zalo/webhook", gw.base);
    let ms = h::test_ms(Duration::ZERO);
    // A signed event far past `zalo.webhook_max_bytes` (6.6 MB: more than the loopback's socket
    // buffers hold, so an answer sent before the body is read would reach the sender as a reset
    // connection, which the fake maps to 502).
    let huge = crate::support::fake_zalo::events::text(
        &h::zalo_user(1),
        "hostile-1",
        &"Đèn đường hỏng. ".repeat(300_000),
        ms,
    );
    let status = fake.post_event(&webhook, &huge, None).await;
    assert_eq!(status, 413);
    // 10 000 levels of nesting in an event of a few kB.
    let deep = format!(
        "{{\"app_id\":\"{}\",\"event_name\":\"user_send_text\",\"timestamp\":\"{ms}\",\"message\":{}1{}}}",
        crate::support::fake_zalo::APP_ID,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let res = client()
        .post(&webhook)
        .header("content-type", "application/json")
        .header("X-ZEvent-Signature", FakeZalo::sign(&deep))
        .body(deep)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    // The next citizen's event is taken.
    let ok = crate::support::fake_zalo::events::text(
        &h::zalo_user(2),
        "hostile-2",
        "Đèn đường trước nhà số 3 đường Nguyễn Huệ bị hỏng từ tối qua.",
        ms,
    );
    assert_eq!(fake.post_event(&webhook, &ok, None).await, 200);
    fake.wait_said(&h::zalo_user(2), |s| !s.is_empty()).await;
    assert!(gw.pid().is_some());
}

// --- email -------------------------------------------------------------------------------------

/// Base64 of `s` as an RFC 2047 encoded word.
fn encoded_word(s: &str) -> String {
    format!("=?UTF-8?B?{}?=", h::base64(s.as_bytes()))
}

/// A signed (DKIM pass for example.vn, from the trusted MTA) mail from `from` with a photo named
/// `photo_name` and any `extra` MIME parts.
fn hostile_mail(
    from: &str,
    name: &str,
    subject: &str,
    id: &str,
    photo_name: &str,
    extra: &str,
) -> Vec<u8> {
    let photo = read_fixture("media/photo-2h-before.jpg");
    let b64: String = photo.chunks(57).map(|c| h::base64(c) + "\r\n").collect();
    format!(
        "Authentication-Results: mx.longan.gov.vn; dkim=pass header.d=example.vn; dmarc=pass header.from=example.vn\r\n\
         From: {name} <{from}>\r\n\
         To: 1022@longan.gov.vn\r\n\
         Subject: {subject}\r\n\
         Message-ID: <{id}>\r\n\
         Date: Sat, 28 Nov 2026 09:30:00 +0700\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\n\
         Content-Type: text/plain; charset=UTF-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         Rác thải sinh hoạt bị đổ tràn ra lòng đường trước nhà số 9 đường Trương Định, bốc mùi hôi thối.\r\n\
         Địa chỉ: 9 Trương Định, Phường 3, Tân An.\r\n\r\n\
         --b\r\n\
         Content-Type: image/jpeg; name=\"{photo_name}\"\r\n\
         Content-Disposition: attachment; filename=\"{photo_name}\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n\
         {b64}{extra}--b--\r\n"
    )
    .into_bytes()
}

fn headers_of(raw: &[u8]) -> Vec<String> {
    // The sink stores messages with LF line ends; the wire had CRLF.
    let text = String::from_utf8_lossy(raw).replace("\r\n", "\n");
    text.split("\n\n")
        .next()
        .unwrap_or("")
        .replace("\n ", " ")
        .replace("\n\t", " ")
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_mail_header_injection_traversal_names_and_a_zip_bomb() {
    let dovecot = Dovecot::start();
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let config = h::write_config(
        dir.path(),
        &Channels::email(dovecot.imap_port, sink.port),
        "",
    );
    let data = dir.path().join("data");
    let gw = h::start_configured(dir.path(), &config);

    // 1. CR/LF in the sender's name and the subject, as encoded words.
    let name = encoded_word("Nguyễn Văn An\r\nBcc: victim@evil.example\r\nX-Injected: name");
    let subject = encoded_word(
        "Rác thải\r\nBcc: victim2@evil.example\r\nX-Injected: subject\r\n\r\n<html>body</html>",
    );
    dovecot
        .append(
            "gateway",
            "INBOX",
            &hostile_mail(
                "an@example.vn",
                &name,
                &subject,
                "hostile-1@example.vn",
                "rac.jpg",
                "",
            ),
        )
        .await;
    // 2. A path and control characters in the attachment's name.
    dovecot
        .append(
            "gateway",
            "INBOX",
            &hostile_mail(
                "binh@example.vn",
                "Binh",
                "Rac",
                "hostile-2@example.vn",
                "../../../../../../tmp/gw-hostile-mail.jpg\u{7}",
                "",
            ),
        )
        .await;
    // 3. A zip bomb beside the photo.
    let zip: String = zip_bomb()
        .chunks(57)
        .map(|c| h::base64(c) + "\r\n")
        .collect();
    let zip_part = format!(
        "--b\r\nContent-Type: application/zip; name=\"bao-cao.zip\"\r\n\
         Content-Disposition: attachment; filename=\"bao-cao.zip\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{zip}"
    );
    dovecot
        .append(
            "gateway",
            "INBOX",
            &hostile_mail(
                "chi@example.vn",
                "Chi",
                "Rac",
                "hostile-3@example.vn",
                "rac.jpg",
                &zip_part,
            ),
        )
        .await;
    // 4. An ordinary citizen afterwards.
    dovecot
        .append("gateway", "INBOX", &h::citizen_mail(4))
        .await;

    let deadline = Instant::now() + Duration::from_secs(90);
    while dovecot.count("gateway", "Processed").await < 4 || sink.messages().len() < 4 {
        assert!(
            Instant::now() < deadline,
            "not all processed: {} processed, {} failed, {} replies\n{}",
            dovecot.count("gateway", "Processed").await,
            dovecot.count("gateway", "Failed").await,
            sink.messages().len(),
            gw.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let replies = sink.messages();
    assert_eq!(replies.len(), 4);
    for raw in &replies {
        let headers = headers_of(raw);
        for line in &headers {
            let l = line.to_ascii_lowercase();
            assert!(
                !l.starts_with("bcc:") && !l.starts_with("x-injected:"),
                "an injected header: {line}\n{headers:#?}"
            );
        }
        let rcpt: Vec<&String> = headers
            .iter()
            .filter(|l| l.to_ascii_lowercase().starts_with("x-rcptto:"))
            .collect();
        for r in rcpt {
            assert!(!r.contains("evil.example"), "{r}");
        }
        let text = String::from_utf8_lossy(raw);
        assert!(!text.contains("victim@evil.example\r\n"), "{text}");
    }
    let by = h::replies_by_recipient(&replies);
    for who in [
        "an@example.vn",
        "binh@example.vn",
        "chi@example.vn",
        "cong.dan.4@example.vn",
    ] {
        assert_eq!(by.get(who).map(Vec::len), Some(1), "{who}: {by:?}");
    }
    // The quoted subject is one line: CR/LF of the encoded word do not survive into the reply.
    let to_an = replies
        .iter()
        .find(|r| String::from_utf8_lossy(r).contains("To: an@example.vn"))
        .unwrap();
    let subject = decoded_subject(to_an);
    assert!(
        !subject.chars().any(char::is_control),
        "the reply's subject: {subject:?}"
    );
    assert!(subject.starts_with("Re: Rác thải"), "{subject:?}");
    // The zip is refused with its own reason.
    let to_chi = replies
        .iter()
        .find(|r| String::from_utf8_lossy(r).contains("To: chi@example.vn"))
        .unwrap();
    let text = String::from_utf8_lossy(to_chi);
    assert!(text.contains("MEDIA_UNREADABLE"), "{text}");
    assert!(!std::path::Path::new("/tmp/gw-hostile-mail.jpg").exists());

    // The IOC reads the accepted reports, with names that are names only.
    let mut entries = Vec::new();
    loop {
        let res: Value = client()
            .get(format!("{}/v1/ioc/queue?max=100&consumer=hostile", gw.base))
            .bearer_auth(IOC_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let batch = res["entries"].as_array().cloned().unwrap_or_default();
        if batch.is_empty() {
            break;
        }
        entries.extend(batch);
    }
    let mut refs: Vec<&str> = entries
        .iter()
        .map(|e| e["report"]["channel_ref"].as_str().unwrap_or(""))
        .collect();
    refs.sort();
    assert_eq!(refs, ["crash-4@example.vn", "hostile-2@example.vn"]);
    for e in &entries {
        for a in e["report"]["attachments"].as_array().unwrap() {
            let n = a["file_name"].as_str().unwrap_or("");
            assert!(
                !n.contains('/') && !n.contains('\\') && !n.chars().any(char::is_control),
                "{n:?}"
            );
        }
    }
    assert!(
        h::staged_files(&data).is_empty(),
        "{:?}",
        h::staged_files(&data)
    );
}

/// The `Subject:` of a raw message, unfolded, its UTF-8 B encoded words decoded (adjacent
/// encoded words joined without the space between them, as RFC 2047 says).
fn decoded_subject(raw: &[u8]) -> String {
    let headers = headers_of(raw);
    let value = headers
        .iter()
        .find_map(|l| l.strip_prefix("Subject:"))
        .unwrap_or("")
        .trim()
        .to_string();
    let mut out = String::new();
    let mut previous_encoded = false;
    for token in value.split_whitespace() {
        let lower = token.to_ascii_lowercase();
        let encoded = lower.starts_with("=?utf-8?b?") && lower.ends_with("?=");
        let joined = encoded && previous_encoded;
        if !(out.is_empty() || joined) {
            out.push(' ');
        }
        if encoded {
            out.push_str(&String::from_utf8_lossy(&unbase64(
                &token[10..token.len() - 2],
            )));
        } else {
            out.push_str(token);
        }
        previous_encoded = encoded;
    }
    out
}

fn unbase64(s: &str) -> Vec<u8> {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut n) = (0u32, 0);
    for c in s.bytes() {
        let Some(v) = T.iter().position(|t| *t == c) else {
            continue;
        };
        acc = (acc << 6) | v as u32;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((acc >> n) as u8);
        }
    }
    out
}
