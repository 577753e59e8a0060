//! Benchmark (not a test) of photo and video reports against the release gateway on the embedded
//! backend, the gateway running as its own process so that its peak RSS (`VmHWM`) is measured
//! alone. Scenarios (the first argument; all of them when absent):
//!
//! - `photo`: `POST /v1/reports` with a 4.3 MB JPEG, 8 at a time — reports/s against the
//!   baseline of `sha256sum` plus a flushed copy of the same bytes (the least any durable
//!   content-addressed store must do) in the same run; the gateway's peak RSS.
//! - `photo48`: 32 concurrent reports with a 48-megapixel JPEG each (a phone camera's), peak RSS.
//! - `video`: 32 concurrent reports with a 190 MiB MP4 each, peak RSS.
//!
//! The large inputs are generated into the temporary folder (`TMPDIR`) and deleted after; the
//! large uploads are streamed from the file by a raw HTTP/1.1 client, so the load generator does
//! not hold 32 copies in memory. Each scenario prints `figure …` / `peak RSS …` lines that
//! `bench/run` collects.
//!
//! `cargo bench --bench submit -- [photo|photo48|video]` (environment: BENCH_REQUESTS, default
//! 200; BENCH_CONCURRENCY, 8; BENCH_UPLOADS, 32).

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SUBMIT_KEY: &str = "bench-submit-key-0123456789";
const IOC_KEY: &str = "bench-ioc-key-0123456789abcd";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A real camera-sized JPEG of about 4 MB (noisy pixels do not compress).
fn four_mb_jpeg() -> Vec<u8> {
    let (w, h) = (1740u32, 1300u32);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let n = (seed & 0x3f) as u8;
        image::Rgb([
            ((x / 8) as u8).wrapping_add(n),
            ((y / 6) as u8).wrapping_add(n),
            n.wrapping_mul(3),
        ])
    });
    let mut out = Cursor::new(Vec::new());
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 97);
    enc.encode_image(&img).expect("encode");
    out.into_inner()
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let scenario = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .unwrap_or_default();
    println!(
        "machine: {} cores; gateway: {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        env!("CARGO_BIN_EXE_gateway")
    );
    if scenario.is_empty() || scenario == "photo" {
        photo_throughput();
    }
    if scenario.is_empty() || scenario == "photo48" {
        concurrent_uploads(Upload::Photo48, &[]);
        // As `deploy/` runs it (gateway.service, Dockerfile): two malloc arenas.
        concurrent_uploads(Upload::Photo48, &[("MALLOC_ARENA_MAX", "2")]);
    }
    if scenario.is_empty() || scenario == "video" {
        concurrent_uploads(Upload::Video, &[]);
    }
}

fn photo_throughput() {
    let requests = env_usize("BENCH_REQUESTS", 200);
    let concurrency = env_usize("BENCH_CONCURRENCY", 8);
    let jpeg = four_mb_jpeg();
    let mb = jpeg.len() as f64 / 1e6;
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("photo.jpg");
    std::fs::write(&photo, &jpeg).unwrap();

    // Baseline: `sha256sum` plus a flushed copy of the same bytes, N times, with the same
    // concurrency as the requests below.
    let start = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..concurrency {
            let (photo, dir) = (&photo, dir.path());
            scope.spawn(move || {
                for i in (t..requests).step_by(concurrency) {
                    let out = Command::new("sha256sum")
                        .arg(photo)
                        .output()
                        .expect("sha256sum");
                    assert!(out.status.success());
                    let dest = dir.join(format!("copy-{i}"));
                    std::fs::copy(photo, &dest).unwrap();
                    std::fs::File::open(&dest).unwrap().sync_all().unwrap();
                    std::fs::remove_file(&dest).unwrap();
                }
            });
        }
    });
    let baseline = start.elapsed();
    let baseline_rate = requests as f64 / baseline.as_secs_f64();

    // The gateway.
    let data = dir.path().join("data");
    let (mut child, port) = start_gateway(&data, &[]);
    let rss_idle = peak_rss_kib(child.id());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    // Distinct citizens in distinct streets: the same citizen sending the same report twice
    // would be rejected as a duplicate (Đ7.3).
    let report = report_json;
    let (elapsed, created) = rt.block_on(async {
        let client = reqwest::Client::new();
        let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..requests {
            let permit = sem.clone().acquire_owned().await.unwrap();
            let (client, base, report) = (client.clone(), base.clone(), report(i));
            // Distinct bytes per request, as distinct photos would be.
            let mut body = jpeg.clone();
            body.extend_from_slice(format!("{i:08}").as_bytes());
            tasks.push(tokio::spawn(async move {
                let form = reqwest::multipart::Form::new()
                    .part(
                        "report",
                        reqwest::multipart::Part::text(report)
                            .mime_str("application/json")
                            .unwrap(),
                    )
                    .part(
                        "media",
                        reqwest::multipart::Part::bytes(body)
                            .file_name("p.jpg")
                            .mime_str("image/jpeg")
                            .unwrap(),
                    );
                let res = client
                    .post(format!("{base}/v1/reports"))
                    .bearer_auth(SUBMIT_KEY)
                    .header("idempotency-key", format!("bench-{i}"))
                    .multipart(form)
                    .send()
                    .await
                    .unwrap();
                drop(permit);
                res.status().as_u16()
            }));
        }
        let mut created = 0;
        for t in tasks {
            if t.await.unwrap() == 201 {
                created += 1;
            }
        }
        (start.elapsed(), created)
    });
    let rss_peak = peak_rss_kib(child.id());
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(created, requests, "every request got 201");
    let rate = requests as f64 / elapsed.as_secs_f64();
    println!(
        "payload: {:.2} MB JPEG, {requests} requests, concurrency {concurrency}",
        mb
    );
    println!(
        "gateway POST /v1/reports: {rate:.1} reports/s, {:.1} MB/s",
        rate * mb
    );
    println!("baseline sha256sum + copy + fsync (same concurrency): {baseline_rate:.1} files/s, {:.1} MB/s", baseline_rate * mb);
    println!("ratio gateway / baseline: {:.2}", rate / baseline_rate);
    println!(
        "gateway RSS: {:.1} MiB idle, {:.1} MiB peak (payload in flight: {:.1} MB)",
        rss_idle as f64 / 1024.0,
        rss_peak as f64 / 1024.0,
        mb * concurrency as f64
    );
    println!(
        "figure photo_report_4mb: {rate:.1} reports/s; baseline {baseline_rate:.1} files/s; ratio {:.2}",
        rate / baseline_rate
    );
    println!(
        "peak RSS {concurrency}x{mb:.1}MB photo uploads: {:.1} MiB (idle {:.1} MiB)",
        rss_peak as f64 / 1024.0,
        rss_idle as f64 / 1024.0
    );
}

/// Start the release gateway on the embedded store in `data`; wait until it listens.
fn start_gateway(data: &Path, envs: &[(&str, &str)]) -> (Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .arg("serve")
        .env("GATEWAY_LISTEN", format!("127.0.0.1:{port}"))
        .env("GATEWAY_DATA_DIR", data)
        .env(
            "GATEWAY_API_KEYS",
            format!("submit:{SUBMIT_KEY},ioc:{IOC_KEY}"),
        )
        .env("GATEWAY_LOG", "warn")
        // Throughput, not abuse: every request comes from one address and one key.
        .env("GATEWAY_RATE_LIMITS__ENABLED", "false")
        .envs(envs.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("gateway binary");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "gateway did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, port)
}

fn report_json(i: usize) -> String {
    serde_json::json!({
        "channel": "app",
        "reporter": {"name": "Nguyễn Văn An", "phone": format!("09{:08}", 10_000_000 + i)},
        "content": format!("Đèn đường trước số {} đường Hùng Vương bị hỏng, cả đoạn đường tối om.", i + 1),
        "occurred_at": "2026-11-28T19:30:00+07:00",
        "location": {"address": format!("{} Hùng Vương, Phường 1, Tân An", i + 1), "lat": 10.54 + i as f64 * 0.001, "lon": 106.41}
    })
    .to_string()
}

#[derive(Clone, Copy, PartialEq)]
enum Upload {
    Photo48,
    Video,
}

/// A 48-megapixel (8000×6000) baseline JPEG of 12–19 MB, as phone cameras write them: smooth
/// shapes with sensor noise, at the highest quality that stays under the default 20 MB photo
/// limit.
fn write_48mp_jpeg(path: &Path) {
    let (w, h) = (8000u32, 6000u32);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let n = (seed & 0x0f) as u8;
        image::Rgb([
            ((x / 31) as u8).wrapping_add(n),
            ((y / 23) as u8).wrapping_add(n / 2),
            (((x + y) / 47) as u8).wrapping_add(n),
        ])
    });
    for quality in [88, 80, 70, 55, 40] {
        let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(file, quality);
        enc.encode_image(&img).expect("encode");
        drop(enc);
        if std::fs::metadata(path).unwrap().len() < 19_500_000 {
            return;
        }
    }
}

/// A 190 MiB MP4: the fixture's boxes, then a `free` box whose last 8 bytes each upload sends
/// itself (distinct bytes per report; the box size counts them).
fn write_190mib_mp4(path: &Path) {
    let head = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/media/video-2h-before.mp4"),
    )
    .expect("video fixture");
    let total: u64 = 190 << 20;
    let free_len = total - head.len() as u64;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    f.write_all(&head).unwrap();
    f.write_all(&(free_len as u32).to_be_bytes()).unwrap();
    f.write_all(b"free").unwrap();
    let chunk = vec![0u8; 1 << 20];
    let mut left = free_len - 8 - 8;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    f.flush().unwrap();
}

/// POST one report whose medium is `file` followed by `suffix`, streamed from disk over a raw
/// HTTP/1.1 connection; the answer's status code.
async fn upload(port: u16, i: usize, file: &Path, content_type: &str, suffix: &[u8]) -> u16 {
    let boundary = "bench-boundary-5f1c2e";
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"report\"\r\nContent-Type: application/json\r\n\r\n{}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"media\"; filename=\"m\"\r\nContent-Type: {content_type}\r\n\r\n",
        report_json(i)
    );
    let tail = format!("\r\n--{boundary}--\r\n");
    let size = std::fs::metadata(file).unwrap().len();
    let length = head.len() as u64 + size + suffix.len() as u64 + tail.len() as u64;
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let request = format!(
        "POST /v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {SUBMIT_KEY}\r\nIdempotency-Key: bench-big-{i}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(request.as_bytes()).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let mut f = tokio::fs::File::open(file).await.unwrap();
    tokio::io::copy(&mut f, &mut s).await.unwrap();
    s.write_all(suffix).await.unwrap();
    s.write_all(tail.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// N reports with a large medium each, all sent at once; the gateway's peak RSS.
fn concurrent_uploads(kind: Upload, envs: &[(&str, &str)]) {
    let uploads = env_usize("BENCH_UPLOADS", 32);
    let dir = tempfile::tempdir().unwrap();
    let (file, content_type, what) = match kind {
        Upload::Photo48 => {
            let p = dir.path().join("photo48.jpg");
            write_48mp_jpeg(&p);
            (p, "image/jpeg", "48MP photo")
        }
        Upload::Video => {
            let p = dir.path().join("video190.mp4");
            write_190mib_mp4(&p);
            (p, "video/mp4", "190MiB video")
        }
    };
    let size = std::fs::metadata(&file).unwrap().len();
    let (mut child, port) = start_gateway(&dir.path().join("data"), envs);
    let pid = child.id();
    let rss_idle = peak_rss_kib(pid);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let start = Instant::now();
    let statuses: Vec<u16> = rt.block_on(async {
        let tasks: Vec<_> = (0..uploads)
            .map(|i| {
                let file = file.clone();
                tokio::spawn(async move {
                    let suffix = format!("{i:08}");
                    upload(port, i, &file, content_type, suffix.as_bytes()).await
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    let elapsed = start.elapsed();
    let rss_peak = peak_rss_kib(pid);
    let _ = child.kill();
    let _ = child.wait();
    // 422: taken and queued as a rejection (the bench video's capture time is days old).
    let taken = statuses.iter().filter(|s| matches!(**s, 201 | 422)).count();
    assert_eq!(taken, uploads, "every upload was taken: {statuses:?}");
    let peak = rss_peak as f64 / 1024.0;
    let idle = rss_idle as f64 / 1024.0;
    println!(
        "{uploads} concurrent {what} reports ({:.1} MB each): all taken (201/422) in {:.1} s",
        size as f64 / 1e6,
        elapsed.as_secs_f64()
    );
    let settings: Vec<String> = envs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let settings = if settings.is_empty() {
        String::new()
    } else {
        format!(" with {}", settings.join(" "))
    };
    println!(
        "peak RSS {uploads}x{}{settings}: {peak:.1} MiB (idle {idle:.1} MiB, {:.2} MiB per upload in flight; goal <= 150 MiB)",
        what.replace(' ', "-"),
        (peak - idle) / uploads as f64
    );
}
