//! Load generator for the Zalo OA webhook (issue 5, benchmark): signed `user_send_text` events
//! per second verified and persisted on the `zalo:events` stream, against a bare axum handler
//! answering 200, in the same run; then the latency at a fixed 1,000 events/s.
//!
//! Loopback only, bounded in time and in requests in flight. The store is the gateway's embedded
//! store in a temporary folder, or Redis when `BENCH_REDIS_URL` is set
//! (e.g. `redis://127.0.0.1:6379/`; the bench writes only `zalo:*` keys of that database).
//!
//! ```text
//! cargo bench --bench zalo_webhook -- [seconds=5] [connections=32] [rate=1000]
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use channels::intake::{IngestError, Intake, Outcome, Submission};
use channels::zalo::{self, ZaloChannel, ZaloConfig};
use chrono::{DateTime, Utc};
use gateway::clock::{SharedClock, SystemClock};
use gateway::store::{ChannelStore, Store};
use normalizers::validate::ValidationConfig;
use sha2::{Digest, Sha256};

const APP_ID: &str = "3608465249409039";
const SECRET: &str = "bench-oa-secret";
const OA_ID: &str = "388613280878808645";

/// Only the clock is used on the webhook path.
struct ClockIntake(SharedClock);

impl Intake for ClockIntake {
    async fn ingest(&self, _submission: Submission) -> Result<Outcome, IngestError> {
        Err(IngestError::Invalid("the benchmark does not ingest".into()))
    }
    fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }
}

fn signed_event(n: u64) -> (String, String) {
    let body = serde_json::json!({
        "app_id": APP_ID,
        "sender": {"id": format!("{}", 246845883529197922u64 + n % 1000)},
        "user_id_by_app": "552177279717587730",
        "recipient": {"id": OA_ID},
        "event_name": "user_send_text",
        "message": {"text": "Đèn đường trước nhà số 12 bị hỏng từ tối qua.", "msg_id": format!("bench{n:016x}")},
        "timestamp": format!("{}", 1_764_468_000_000u64 + n),
    })
    .to_string();
    let mut h = Sha256::new();
    h.update(APP_ID.as_bytes());
    h.update(body.as_bytes());
    h.update(format!("{}", 1_764_468_000_000u64 + n).as_bytes());
    h.update(SECRET.as_bytes());
    (body, format!("mac={}", hex::encode(h.finalize())))
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

struct Run {
    ok: u64,
    errors: u64,
    elapsed: Duration,
    latencies_us: Vec<u64>,
}

impl Run {
    fn per_sec(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
    fn pct(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let mut v = self.latencies_us.clone();
        v.sort_unstable();
        let i = ((v.len() as f64 - 1.0) * p).round() as usize;
        v[i] as f64 / 1000.0
    }
}

/// Closed loop: `connections` clients post back to back for `secs`.
async fn saturate(url: &str, connections: usize, secs: u64, seq: Arc<AtomicU64>) -> Run {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (client, url, seq) = (client.clone(), url.to_string(), seq.clone());
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut err, mut lat) = (0u64, 0u64, Vec::new());
            while Instant::now() < deadline {
                let (body, sig) = signed_event(seq.fetch_add(1, Ordering::Relaxed));
                let t = Instant::now();
                let r = client
                    .post(&url)
                    .header("X-ZEvent-Signature", sig)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                match r {
                    Ok(resp) if resp.status() == StatusCode::OK => {
                        ok += 1;
                        lat.push(t.elapsed().as_micros() as u64);
                    }
                    _ => err += 1,
                }
            }
            (ok, err, lat)
        }));
    }
    let mut run = Run {
        ok: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies_us: Vec::new(),
    };
    for t in tasks {
        if let Ok((ok, err, lat)) = t.await {
            run.ok += ok;
            run.errors += err;
            run.latencies_us.extend(lat);
        }
    }
    run.elapsed = start.elapsed();
    run
}

/// Open loop: one request every 1/rate s for `secs`, at most 1,024 in flight; latency is
/// measured from the scheduled send time (no coordinated omission).
async fn fixed_rate(url: &str, rate: u64, secs: u64, seq: Arc<AtomicU64>) -> Run {
    let client = reqwest::Client::new();
    let limit = Arc::new(tokio::sync::Semaphore::new(1024));
    let total = rate * secs;
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    let mut dropped = 0u64;
    for i in 0..total {
        let scheduled = start + period.mul_f64(i as f64);
        tokio::time::sleep_until(scheduled.into()).await;
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            dropped += 1;
            continue;
        };
        let (client, url) = (client.clone(), url.to_string());
        let (body, sig) = signed_event(seq.fetch_add(1, Ordering::Relaxed));
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(&url)
                .header("X-ZEvent-Signature", sig)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            drop(permit);
            let ok = matches!(r, Ok(ref resp) if resp.status() == StatusCode::OK);
            (ok, scheduled.elapsed().as_micros() as u64)
        }));
    }
    let mut run = Run {
        ok: 0,
        errors: dropped,
        elapsed: Duration::ZERO,
        latencies_us: Vec::new(),
    };
    for t in tasks {
        match t.await {
            Ok((true, us)) => {
                run.ok += 1;
                run.latencies_us.push(us);
            }
            _ => run.errors += 1,
        }
    }
    run.elapsed = start.elapsed();
    run
}

fn report(name: &str, r: &Run) {
    println!(
        "{name:<34} {:>9.0} ok/s  ok={:<7} errors={:<5} p50={:.2} ms  p99={:.2} ms  max={:.2} ms",
        r.per_sec(),
        r.ok,
        r.errors,
        r.pct(0.50),
        r.pct(0.99),
        r.pct(1.0)
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let secs = args.first().copied().unwrap_or(5).clamp(1, 60);
    let connections = args.get(1).copied().unwrap_or(32).clamp(1, 256) as usize;
    let rate = args.get(2).copied().unwrap_or(1000).clamp(1, 20_000);

    let dir = tempfile::tempdir().expect("temp dir");
    let clock: SharedClock = Arc::new(SystemClock);
    let (store, kind) = match std::env::var("BENCH_REDIS_URL") {
        Ok(url) => (Store::redis(&url).await.expect("redis"), "redis"),
        Err(_) => (
            Store::embedded(&dir.path().join("bench.redb"), clock.clone()).expect("embedded store"),
            "embedded",
        ),
    };
    let channel_store = Arc::new(ChannelStore {
        store,
        claim_timeout: Duration::from_secs(60),
    });
    let config = ZaloConfig {
        app_id: APP_ID.into(),
        oa_secret_key: SECRET.into(),
        ..ZaloConfig::default()
    };
    let ctx = channels::ChannelContext {
        intake: Arc::new(ClockIntake(clock)),
        store: channel_store,
        instance_id: "bench".into(),
        shutdown: channels::CancellationToken::new(),
        staging: dir.path().to_path_buf(),
        validation: ValidationConfig::default(),
    };
    let channel = ZaloChannel::new(config, &ctx).expect("zalo channel");
    let webhook = format!("{}/v1/zalo/webhook", serve(zalo::router(channel)).await);
    let bare = serve(Router::new().route("/v1/zalo/webhook", post(|| async { StatusCode::OK })))
        .await
        + "/v1/zalo/webhook";

    println!(
        "zalo webhook benchmark: store={kind}, {secs} s per run, {connections} connections, fixed rate {rate}/s, {} cores",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    let seq = Arc::new(AtomicU64::new(0));
    // Warm-up (connections, store files).
    let _ = saturate(&webhook, connections, 1, seq.clone()).await;
    let _ = saturate(&bare, connections, 1, seq.clone()).await;
    let bare_saturated = saturate(&bare, connections, secs, seq.clone()).await;
    report("bare axum 200 (saturated)", &bare_saturated);
    let saturated = saturate(&webhook, connections, secs, seq.clone()).await;
    report("signed + persisted (saturated)", &saturated);
    let bare_fixed = fixed_rate(&bare, rate, secs, seq.clone()).await;
    report(&format!("bare axum 200 @ {rate}/s"), &bare_fixed);
    let fixed = fixed_rate(&webhook, rate, secs, seq.clone()).await;
    report(&format!("signed + persisted @ {rate}/s"), &fixed);
    // The lines `bench/run` collects.
    println!(
        "figure zalo_webhook_{kind}_persisted: {:.0} events/s; baseline {:.0} req/s; ratio {:.2}",
        saturated.per_sec(),
        bare_saturated.per_sec(),
        saturated.per_sec() / bare_saturated.per_sec()
    );
    println!(
        "figure zalo_webhook_{kind}_p99_at_{rate}: {:.2} ms; baseline {:.2} ms; ratio {:.2} (errors {})",
        fixed.pct(0.99),
        bare_fixed.pct(0.99),
        fixed.pct(0.99) / bare_fixed.pct(0.99),
        fixed.errors
    );
}
