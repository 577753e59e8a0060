//! Benchmark (not a test): `POST /v1/reports` with a 4 MB JPEG against the release gateway on the
//! embedded backend — reports/s, MB/s and the gateway's peak RSS — and, in the same run, the
//! baseline of `sha256sum` plus a copy of the same bytes (the least any durable content-addressed
//! store must do). Prints the ratio.
//!
//! `cargo bench --bench submit` (environment: BENCH_REQUESTS, default 200; BENCH_CONCURRENCY, 8).

use std::io::Cursor;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = dir.path().join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_gateway"))
        .arg("serve")
        .env("GATEWAY_LISTEN", format!("127.0.0.1:{port}"))
        .env("GATEWAY_DATA_DIR", &data)
        .env(
            "GATEWAY_API_KEYS",
            format!("submit:{SUBMIT_KEY},ioc:{IOC_KEY}"),
        )
        .env("GATEWAY_LOG", "warn")
        // Throughput, not abuse: every request comes from one address and one key.
        .env("GATEWAY_RATE_LIMITS__ENABLED", "false")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("gateway binary");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "gateway did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let rss_idle = peak_rss_kib(child.id());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    // Distinct citizens in distinct streets: the same citizen sending the same report twice
    // would be rejected as a duplicate (Đ7.3).
    let report = |i: usize| {
        serde_json::json!({
            "channel": "app",
            "reporter": {"name": "Nguyễn Văn An", "phone": format!("09{:08}", 10_000_000 + i)},
            "content": format!("Đèn đường trước số {} đường Hùng Vương bị hỏng, cả đoạn đường tối om.", i + 1),
            "occurred_at": "2026-11-28T19:30:00+07:00",
            "location": {"address": format!("{} Hùng Vương, Phường 1, Tân An", i + 1), "lat": 10.54 + i as f64 * 0.001, "lon": 106.41}
        })
        .to_string()
    };
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
}
