//! Benchmark of the email channel (issue 4), two figures each against a baseline in the same run:
//!
//! 1. Messages per second from a real Dovecot to the IOC queue through the whole gateway (email
//!    channel → normalizer → media inspection → validator → durable store → queue → move to
//!    Processed), against a bare IMAP `UID FETCH BODY.PEEK[]` loop over the same mailbox.
//! 2. MIME normalisation over `$CORPUS_DIR/email` (every message, in memory) against CPython's
//!    `email` parser (`tests/email/email_conformance.py bench`) on the same files.
//!
//! Dovecot is started by the test support code (installed from Debian when missing); the store is
//! the gateway's embedded store in a temporary folder; no SMTP server (replies stay queued).
//!
//! ```text
//! CORPUS_DIR=../shared/corpus cargo bench --bench email -- [messages=300] [rounds=20]
//! ```

#[path = "../tests/support/dovecot.rs"]
#[allow(dead_code)]
mod dovecot;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use channels::email::{self, TlsMode};
use channels::{CancellationToken, ChannelConfig};
use chrono::TimeZone;
use futures_util::TryStreamExt;
use normalizers::email::EmailOptions;
use normalizers::report::{Channel, Envelope};

/// A port nothing listens on right now (used by the Dovecot support code).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn arg(n: usize, default: usize) -> usize {
    std::env::args()
        .filter(|a| !a.starts_with("--"))
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

/// Citizen `n`'s report with a photo (EXIF 2 h before the test clock): its own address, phone
/// and Message-ID (one phone for every message made each a DUPLICATE of the first, screened
/// one after the other as one sender's are).
fn message(n: usize, photo_b64: &str) -> Vec<u8> {
    format!(
        "From: =?UTF-8?Q?Nguy=E1=BB=85n_Th=E1=BB=8B_Lan?= <lan{n}@example.vn>\r\n\
         To: 1022@longan.gov.vn\r\n\
         Subject: =?UTF-8?Q?C=C3=A2y_=C4=91=E1=BB=95?= {n}\r\n\
         Message-ID: <bench-{n}@example.vn>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\n\
         Content-Type: text/plain; charset=UTF-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         Cây xanh bị đổ chắn ngang đường trước trường tiểu học số {n}, xe máy không đi qua được.\r\n\
         Địa chỉ: 12 Hùng Vương, Phường 1, Tân An.\r\n\
         Điện thoại: 0912 {:03} {:03}\r\n\r\n\
         --b\r\n\
         Content-Type: image/jpeg; name=\"cay.jpg\"\r\n\
         Content-Disposition: attachment; filename=\"cay.jpg\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n\
         {photo_b64}\r\n\
         --b--\r\n",
        n / 1000 % 1000,
        n % 1000,
    )
    .into_bytes()
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for (i, chunk) in bytes.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push_str("\r\n");
        }
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(A[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

async fn bare_fetch_loop(d: &dovecot::Dovecot) -> (usize, Duration) {
    let config = d.email_config(TlsMode::None);
    let tls = email::tls::client_config(None, "imap_ca_file").expect("tls");
    let start = Instant::now();
    let mut s = email::imap::connect(&config, dovecot::PASSWORD, tls)
        .await
        .expect("login");
    s.select("INBOX").await.expect("select");
    let mut uids: Vec<u32> = s
        .uid_search("ALL")
        .await
        .expect("search")
        .into_iter()
        .collect();
    uids.sort_unstable();
    let mut bytes = 0usize;
    for uid in &uids {
        let fetches: Vec<_> = s
            .uid_fetch(uid.to_string(), "(UID BODY.PEEK[])")
            .await
            .expect("fetch")
            .try_collect()
            .await
            .expect("fetch stream");
        bytes += fetches
            .iter()
            .filter_map(|f| f.body())
            .map(<[u8]>::len)
            .sum::<usize>();
    }
    let elapsed = start.elapsed();
    let _ = s.logout().await;
    assert!(bytes > 0);
    (uids.len(), elapsed)
}

async fn gateway_to_queue(d: &dovecot::Dovecot, n: usize) -> Duration {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = gateway::config::Config {
        data_dir: dir.path().to_path_buf(),
        clock_start: Some(
            chrono::Utc
                .with_ymd_and_hms(2026, 11, 28, 3, 0, 0)
                .single()
                .expect("valid instant"),
        ),
        // Throughput, not abuse: every message comes from one unauthenticated domain.
        rate_limits: gateway::ratelimit::RateLimitConfig {
            enabled: false,
            ..Default::default()
        },
        ..gateway::config::Config::default()
    };
    let gw = gateway::server::build(config)
        .await
        .expect("gateway builds");
    let shutdown = CancellationToken::new();
    let ctx = gateway::server::channel_context(&gw.state, "bench", shutdown.clone());
    let start = Instant::now();
    let channel = d
        .email_config(TlsMode::None)
        .build(&ctx)
        .expect("email channel");
    let stats = channel.email_stats.clone().expect("email stats");
    while stats.snapshot().fetched < n as u64 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The last message is moved once its disposition is known; wait for the mailbox to empty.
    while d.count("gateway", "INBOX").await > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = start.elapsed();
    let stats = stats.snapshot();
    shutdown.cancel();
    let _ = channel.join().await;
    assert_eq!(
        stats.ingested as usize, n,
        "every message became a report: {stats:?}"
    );
    elapsed
}

fn normalise_corpus(rounds: usize) -> Option<(usize, Duration)> {
    let dir = PathBuf::from(std::env::var_os("CORPUS_DIR")?).join("email");
    let mut raws = Vec::new();
    for entry in std::fs::read_dir(&dir).ok()? {
        let path = entry.ok()?.path();
        if path.extension().is_some_and(|e| e == "eml") {
            raws.push(std::fs::read(path).ok()?);
        }
    }
    let envelope = Envelope {
        id: String::new(),
        tracking_code: String::new(),
        channel: Channel::Email,
        channel_ref: None,
        received_at: chrono::DateTime::UNIX_EPOCH,
    };
    let options = EmailOptions::default();
    let start = Instant::now();
    let mut parts = 0usize;
    for _ in 0..rounds {
        for raw in &raws {
            if let Ok(r) = normalizers::email::normalize(envelope.clone(), raw, &options) {
                parts += r.attachments.len() + 1;
            }
        }
    }
    let elapsed = start.elapsed();
    assert!(parts > 0);
    Some((raws.len() * rounds, elapsed))
}

fn cpython(rounds: usize) -> Option<f64> {
    let dir = PathBuf::from(std::env::var_os("CORPUS_DIR")?).join("email");
    let out = std::process::Command::new("python3")
        .arg(repo().join("tests/email/email_conformance.py"))
        .arg("bench")
        .arg(dir)
        .arg(rounds.to_string())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.split_whitespace()
        .find_map(|kv| kv.strip_prefix("per_second="))
        .and_then(|v| v.parse().ok())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let n = arg(1, 300);
    let rounds = arg(2, 20);
    let photo =
        std::fs::read(repo().join("fixtures/media/photo-2h-before.jpg")).expect("photo fixture");
    let photo_b64 = base64(&photo);

    let d = dovecot::Dovecot::start();
    for i in 0..n {
        d.append("gateway", "INBOX", &message(i, &photo_b64)).await;
    }
    let (fetched, bare) = bare_fetch_loop(&d).await;
    assert_eq!(fetched, n);
    let through = gateway_to_queue(&d, n).await;
    let bare_rate = n as f64 / bare.as_secs_f64();
    let gw_rate = n as f64 / through.as_secs_f64();
    println!(
        "IMAP, {n} messages of {} bytes:",
        message(0, &photo_b64).len()
    );
    println!("  bare UID FETCH loop:          {bare_rate:9.1} messages/s");
    println!(
        "  Dovecot -> IOC queue (moved): {gw_rate:9.1} messages/s  ({:.2} of the bare loop)",
        gw_rate / bare_rate
    );
    println!(
        "figure imap_to_ioc_queue: {gw_rate:.1} messages/s; baseline {bare_rate:.1} messages/s; ratio {:.3}",
        gw_rate / bare_rate
    );

    match (normalise_corpus(rounds), cpython(rounds)) {
        (Some((count, elapsed)), Some(py_rate)) => {
            let rate = count as f64 / elapsed.as_secs_f64();
            println!("MIME normalisation over corpus/email ({count} messages, {rounds} rounds):");
            println!("  normalizers::email::normalize: {rate:9.1} messages/s");
            println!("  CPython email (compat32):      {py_rate:9.1} messages/s");
            println!("  ratio:                         {:9.2}x", rate / py_rate);
            println!(
                "figure mime_normalisation: {rate:.1} messages/s; baseline {py_rate:.1} messages/s; ratio {:.2}",
                rate / py_rate
            );
        }
        _ => println!("MIME normalisation: skipped (CORPUS_DIR not set or python3 missing)"),
    }
}
