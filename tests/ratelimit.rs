//! Intake rate limits (issue 10 point 7, R-SEC-4) through the real interfaces: `gateway serve`
//! as a process over HTTP, on the embedded store and on a real Redis; the Zalo webhook fed by
//! the fake Zalo, whose OA API counts what the citizen is told; the email channel over a real
//! Dovecot and SMTP sink. The limits are set small by the environment, as an operator would.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::gateway::{client, Process, IOC_KEY, SUBMIT_KEY};
use crate::support::redis::RedisServer;
use crate::support::{read_fixture, TEST_NOW};

const PEPPER: &str = "ratelimit-test-pepper-0123456789";

/// A distinct report (place, text) of the sender with `phone`.
fn report(phone: &str, n: usize) -> Value {
    serde_json::json!({
        "channel": "app",
        "reporter": {"name": "Nguyễn Văn An", "phone": phone},
        "content": format!(
            "Đèn đường trước số {} đường Hùng Vương bị hỏng, cả đoạn đường tối om từ tối qua.",
            n + 10
        ),
        "location": {
            "address": format!("{} Hùng Vương, Phường 1, Tân An", n + 10),
            "lat": 10.5400 + n as f64 * 0.002,
            "lon": 106.4100,
        },
    })
}

async fn submit(
    base: &str,
    key: &str,
    report: &Value,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let form = reqwest::multipart::Form::new().part(
        "report",
        reqwest::multipart::Part::text(report.to_string())
            .mime_str("application/json")
            .unwrap(),
    );
    let mut req = client()
        .post(format!("{base}/v1/reports"))
        .bearer_auth(key)
        .multipart(form);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

/// The value of one metric line (`name{labels}`), 0 when absent.
async fn metric(base: &str, series: &str) -> f64 {
    let text = client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

fn limited_series(channel: &str, limit: &str) -> String {
    format!("gateway_rate_limited_total{{channel=\"{channel}\",limit=\"{limit}\"}}")
}

/// The report was taken (queued, or its rejection recorded: these reports carry no photo).
fn taken(status: StatusCode) -> bool {
    status == StatusCode::CREATED || status == StatusCode::UNPROCESSABLE_ENTITY
}

/// `gateway serve` with the limits on and `envs` over them.
fn start(data: &std::path::Path, envs: &[(&str, &str)]) -> Process {
    let mut all = vec![("GATEWAY_RATE_LIMITS__ENABLED", "true")];
    all.extend_from_slice(envs);
    Process::start(data, &all)
}

/// The client id of an API key (how logs and `rate_limits.exempt_api_clients` name it).
fn client_id(key: &str) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..6])
}

async fn api_sender_limit(redis: Option<&RedisServer>) {
    let dir = tempfile::tempdir().unwrap();
    let url = redis.map(RedisServer::url);
    let exempt_key = "exempt-submit-key-0123456789";
    let keys = format!("submit:{SUBMIT_KEY},submit:{exempt_key},ioc:{IOC_KEY}");
    let exempt = client_id(exempt_key);
    let mut envs = vec![
        ("GATEWAY_RATE_LIMITS__API__PER_SENDER", "2"),
        ("GATEWAY_API_KEYS", keys.as_str()),
        ("GATEWAY_RATE_LIMITS__EXEMPT_API_CLIENTS", exempt.as_str()),
    ];
    if let Some(url) = &url {
        envs.push(("GATEWAY_REDIS_URL", url));
        envs.push(("GATEWAY_DUPLICATES__IDENTITY_PEPPER", PEPPER));
    }
    let gw = start(dir.path(), &envs);
    let a = "0912 345 678";
    for n in 0..2 {
        let key = format!("a-{n}");
        let res = submit(
            &gw.base,
            SUBMIT_KEY,
            &report(a, n),
            &[("idempotency-key", &key)],
        )
        .await;
        assert!(taken(res.status()), "{}", gw.log_text());
    }
    // The third report of the hour from this phone: 429, Retry-After, the error format.
    let res = submit(
        &gw.base,
        SUBMIT_KEY,
        &report(a, 2),
        &[("idempotency-key", "a-2")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // The clock starts on the hour, the sliding window is an hour: the next one is taken
    // once half of this hour slid out of it, at 04:30.
    assert!((5000..=5400).contains(&retry), "Retry-After {retry}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("sender"),
        "{body}"
    );
    let vi = body["message_vi"].as_str().unwrap();
    assert!(
        vi.contains("Bạn đã gửi quá nhiều phản ánh") && (vi.contains("giờ") || vi.contains("phút")),
        "{vi}"
    );
    // The same phone written another way is the same sender.
    let res = submit(&gw.base, SUBMIT_KEY, &report("+84912345678", 3), &[]).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // A repeat of a report already taken is answered as before, not refused.
    let res = submit(
        &gw.base,
        SUBMIT_KEY,
        &report(a, 0),
        &[("idempotency-key", "a-0")],
    )
    .await;
    assert!(taken(res.status()));
    assert_eq!(res.json::<Value>().await.unwrap()["replayed"], true);
    // Another sender is not affected.
    let res = submit(&gw.base, SUBMIT_KEY, &report("0987 654 321", 4), &[]).await;
    assert!(taken(res.status()), "{}", gw.log_text());
    // A trusted client (the IOC's own tool) is never limited.
    for n in 5..8 {
        let res = submit(&gw.base, exempt_key, &report(a, n), &[]).await;
        assert!(taken(res.status()), "exempt client, report {n}");
    }
    assert_eq!(
        metric(&gw.base, &limited_series("api", "sender")).await,
        2.0
    );
    // The refused ones never reached the pipeline: 2, the repeat, the other sender, 3 exempt.
    assert_eq!(
        metric(&gw.base, "gateway_reports_received_total{channel=\"app\"}").await,
        7.0
    );
    // No key of the shared store names the sender in clear.
    if let Some(redis) = redis {
        let out = std::process::Command::new("redis-cli")
            .args(["-u", &redis.url(), "--scan", "--pattern", "*ratelimit*"])
            .output()
            .expect("redis-cli");
        let keys = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(keys.contains("ratelimit:api:sender:"), "{keys}");
        assert!(
            !keys.contains("912345678") && !keys.contains("127.0.0.1"),
            "{keys}"
        );
    }
}

#[tokio::test]
async fn api_answers_429_with_retry_after_past_the_sender_limit_embedded() {
    api_sender_limit(None).await;
}

#[tokio::test]
async fn api_answers_429_with_retry_after_past_the_sender_limit_redis() {
    let redis = RedisServer::start();
    api_sender_limit(Some(&redis)).await;
}

/// Per client address: behind a trusted proxy the address is the one it forwarded for; from
/// anyone else `X-Forwarded-For` is not believed.
#[tokio::test]
async fn the_source_address_is_limited_and_read_from_trusted_proxies_only() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(
        dir.path(),
        &[
            ("GATEWAY_RATE_LIMITS__API__PER_SENDER", "0"),
            ("GATEWAY_RATE_LIMITS__API__PER_SOURCE", "2"),
            ("GATEWAY_RATE_LIMITS__TRUSTED_PROXIES", "[\"127.0.0.1/32\"]"),
        ],
    );
    let phone = |n: usize| format!("09{:08}", 12_345_600 + n);
    let from = |ip: &'static str| [("x-forwarded-for", ip)];
    for n in 0..2 {
        let res = submit(
            &gw.base,
            SUBMIT_KEY,
            &report(&phone(n), n),
            &from("203.0.113.7"),
        )
        .await;
        assert!(taken(res.status()), "{}", gw.log_text());
    }
    let res = submit(
        &gw.base,
        SUBMIT_KEY,
        &report(&phone(2), 2),
        &from("203.0.113.7"),
    )
    .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    let body: Value = res.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("address"),
        "{body}"
    );
    // Another citizen behind the same proxy.
    let res = submit(
        &gw.base,
        SUBMIT_KEY,
        &report(&phone(3), 3),
        &from("198.51.100.4"),
    )
    .await;
    assert!(taken(res.status()));
    assert_eq!(
        metric(&gw.base, &limited_series("api", "source")).await,
        1.0
    );
    drop(gw);

    // Without trusted proxies the header is the client's own word: every request is 127.0.0.1.
    let dir = tempfile::tempdir().unwrap();
    let gw = start(
        dir.path(),
        &[
            ("GATEWAY_RATE_LIMITS__API__PER_SENDER", "0"),
            ("GATEWAY_RATE_LIMITS__API__PER_SOURCE", "2"),
        ],
    );
    let spoofed = ["192.0.2.1", "192.0.2.2", "192.0.2.3"];
    let mut statuses = Vec::new();
    for (n, ip) in spoofed.iter().enumerate() {
        let res = submit(
            &gw.base,
            SUBMIT_KEY,
            &report(&phone(n), n),
            &[("x-forwarded-for", ip)],
        )
        .await;
        statuses.push(res.status());
    }
    assert!(taken(statuses[0]) && taken(statuses[1]), "{statuses:?}");
    assert_eq!(statuses[2], StatusCode::TOO_MANY_REQUESTS);
}

/// The window passes and the sender may submit again (a short window on the real clock).
#[tokio::test]
async fn after_the_window_the_sender_is_taken_again() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(
        dir.path(),
        &[
            ("GATEWAY_RATE_LIMITS__API__PER_SENDER", "2"),
            ("GATEWAY_RATE_LIMITS__API__WINDOW_SECS", "3"),
        ],
    );
    let a = "0912 345 678";
    // Up to the first refusal (a window may end meanwhile: then more are taken).
    let mut n = 0;
    let retry = loop {
        assert!(n < 12, "never limited: {}", gw.log_text());
        let res = submit(&gw.base, SUBMIT_KEY, &report(a, n), &[]).await;
        n += 1;
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            let secs: u64 = res.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            // Sliding: at most the rest of this window and half of the next.
            assert!((1..=5).contains(&secs), "Retry-After {secs}");
            break secs;
        }
        assert!(taken(res.status()));
    };
    // Waiting as told, the next is taken; a burst right after it is refused again.
    tokio::time::sleep(Duration::from_secs(retry) + Duration::from_millis(100)).await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let res = submit(&gw.base, SUBMIT_KEY, &report(a, n), &[]).await;
        n += 1;
        statuses.push(res.status());
    }
    assert!(taken(statuses[0]), "{statuses:?}");
    assert_eq!(
        statuses[2],
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        gw.log_text()
    );
}

/// A `[zalo]` section for the fake, and `[email]` for Dovecot and the SMTP sink when given.
fn channels_config(
    fake: &crate::support::fake_zalo::FakeZalo,
    mail: Option<(
        &crate::support::dovecot::Dovecot,
        &crate::support::smtp::SmtpSink,
    )>,
) -> String {
    let zalo = fake.zalo_section();
    let mut config = format!(
        "[zalo]\n\
         app_id = {app_id}\noa_secret_key = {oa}\napp_secret = {app_secret}\n\
         access_token = {access}\nrefresh_token = {refresh}\n\
         api_base = {base}\noauth_base = {base}\ngraph_base = {base}\n\
         media_hosts = [\"127.0.0.1\"]\n\n",
        app_id = zalo["app_id"],
        oa = zalo["oa_secret_key"],
        app_secret = zalo["app_secret"],
        access = zalo["access_token"],
        refresh = zalo["refresh_token"],
        base = zalo["api_base"],
    );
    if let Some((dovecot, sink)) = mail {
        config.push_str(&format!(
            "[email]\n\
             imap_host = \"127.0.0.1\"\nimap_port = {imap}\nimap_tls = \"none\"\n\
             imap_user = \"gateway\"\nimap_password = \"{password}\"\n\
             smtp_host = \"127.0.0.1\"\nsmtp_port = {smtp}\nsmtp_tls = \"none\"\n\
             idle_timeout_secs = 5\n\n",
            imap = dovecot.imap_port,
            password = crate::support::dovecot::PASSWORD,
            smtp = sink.port,
        ));
    }
    config
}

/// `gateway serve` in `dir/data` with the limits on, the channels of [`channels_config`] (its
/// file in `dir`) and one more setting.
fn start_with_channels(
    dir: &std::path::Path,
    fake: &crate::support::fake_zalo::FakeZalo,
    mail: Option<(
        &crate::support::dovecot::Dovecot,
        &crate::support::smtp::SmtpSink,
    )>,
    setting: (&str, &str),
) -> Process {
    let config_path = dir.join("gateway.toml");
    std::fs::write(&config_path, channels_config(fake, mail)).unwrap();
    start(
        &dir.join("data"),
        &[("GATEWAY_CONFIG", config_path.to_str().unwrap()), setting],
    )
}

/// The milliseconds of the gateway's clock (started at [`TEST_NOW`] when `started`).
fn clock_ms(started: Instant) -> i64 {
    chrono::DateTime::parse_from_rfc3339(TEST_NOW)
        .unwrap()
        .timestamp_millis()
        + started.elapsed().as_millis() as i64
}

async fn queued_reports(base: &str) -> usize {
    let res = client()
        .get(format!(
            "{base}/v1/ioc/queue?max=100&consumer=rl-{}",
            rand_suffix()
        ))
        .bearer_auth(IOC_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    v["entries"].as_array().unwrap().len()
}

fn rand_suffix() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Zalo OA: past the limit of a Zalo user, events are not turned into drafts or reports; the
/// citizen hears one polite message (counted at the fake Zalo), Zalo always gets 200.
#[tokio::test]
async fn a_zalo_user_past_the_limit_is_told_once_and_gets_no_report() {
    use crate::support::fake_zalo::{events, FakeZalo};

    let dir = tempfile::tempdir().unwrap();
    let fake = FakeZalo::start().await;
    // One report takes five events here (text, photo, place, contact, "Gửi").
    let gw = start_with_channels(
        dir.path(),
        &fake,
        None,
        ("GATEWAY_RATE_LIMITS__ZALO_OA__PER_SENDER", "5"),
    );
    let started = Instant::now();
    let webhook = format!("{}/v1/zalo/webhook", gw.base);
    let photo = fake.add_media(
        "rl.jpg",
        "image/jpeg",
        read_fixture("media/photo-2h-before.jpg"),
    );
    let user = "8372650194400000001";
    // Posts one event; the webhook's answer.
    let post = |body: String| {
        let fake = &fake;
        let webhook = webhook.clone();
        async move {
            let res = client()
                .post(&webhook)
                .header("content-type", "application/json")
                .header("X-ZEvent-Signature", FakeZalo::sign(&body))
                .body(body)
                .send()
                .await
                .unwrap();
            let _ = fake;
            assert_eq!(res.status(), StatusCode::OK, "Zalo always gets 200");
            res.json::<Value>().await.unwrap()["status"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let conversation = |round: usize| {
        let m = |i: usize| format!("rl-{round}-{i}");
        [
            events::text(
                user,
                &m(1),
                "Đèn đường trước nhà số 12 đường Nguyễn Huệ bị hỏng từ tối qua, cả đoạn đường tối om.",
                clock_ms(started),
            ),
            events::image(user, &m(2), &photo, clock_ms(started)),
            events::location(user, &m(3), "10.5366", "106.4138", clock_ms(started)),
            events::submit_info(user, "Phạm Thu Hà", "84938765432", clock_ms(started)),
        ]
    };
    // The first report: every event taken.
    let [text, image, location, contact] = conversation(1);
    assert_eq!(post(text).await, "persisted");
    fake.wait_said(user, |said| !said.is_empty()).await;
    for e in [image, location, contact] {
        assert_eq!(post(e).await, "persisted");
    }
    let said = fake
        .wait_said(user, |said| {
            said.iter().any(|m| m.starts_with("Tóm tắt phản ánh"))
        })
        .await;
    assert_eq!(
        post(events::text(user, "rl-1-5", "Gửi", clock_ms(started))).await,
        "persisted"
    );
    let said = fake.wait_said(user, |s| s.len() > said.len()).await;
    assert!(said.last().unwrap().contains("LA-"), "{said:#?}");
    let before = said.len();
    // The second report: past the limit from its first event.
    let mut statuses = Vec::new();
    let [text, image, location, contact] = conversation(2);
    for e in [text, image, location, contact] {
        statuses.push(post(e).await);
    }
    statuses.push(post(events::text(user, "rl-2-5", "Gửi", clock_ms(started))).await);
    assert!(statuses.iter().all(|s| s == "limited"), "{statuses:?}");
    let said = fake.wait_said(user, |s| s.len() > before).await;
    // Whatever else might come, give it time to.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let said_now: Vec<String> = fake
        .delivered_to(user)
        .iter()
        .map(|c| c.text().unwrap_or("[form]").to_string())
        .collect();
    assert_eq!(said_now.len(), before + 1, "one message: {said_now:#?}");
    let notice = &said[before];
    assert!(
        notice.contains("Bạn đã gửi quá nhiều tin nhắn") && notice.contains("Vui lòng gửi lại sau"),
        "{notice}"
    );
    assert_eq!(queued_reports(&gw.base).await, 1, "{}", gw.log_text());
    // Another citizen is answered as usual.
    let other = "8372650194400000002";
    assert_eq!(
        post(events::text(other, "rl-o-1", "Xin chào", clock_ms(started))).await,
        "persisted"
    );
    fake.wait_said(other, |said| !said.is_empty()).await;
    assert_eq!(
        metric(&gw.base, &limited_series("zalo_oa", "sender")).await,
        5.0
    );
    // The user's id is in no log line.
    assert!(!gw.log_text().contains(user));
}

fn mail(from: &str, n: usize) -> Vec<u8> {
    format!(
        "From: =?UTF-8?Q?V=C3=B5_Minh_Kh=C3=B4i?= <{from}>\r\n\
         To: 1022@longan.gov.vn\r\n\
         Subject: =?UTF-8?Q?=C4=90=C3=A8n_=C4=91=C6=B0=E1=BB=9Dng_h=E1=BB=8Fng?=\r\n\
         Message-ID: <rl-{n}@example.vn>\r\n\
         Date: Sat, 28 Nov 2026 09:30:00 +0700\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=UTF-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         Kính gửi Trung tâm 1022,\r\n\r\n\
         Đèn đường trước nhà số {} Trương Định, Phường 3, Tân An bị hỏng từ tối hôm qua, \
         cả đoạn đường tối om rất nguy hiểm cho người đi đường.\r\n\r\n\
         Người phản ánh: Võ Minh Khôi\r\n",
        70 + n
    )
    .into_bytes()
}

/// Email through Dovecot: past the sender's limit a message is not ingested but moved to the
/// failed folder; the first one of the window is answered with one polite notice at the SMTP
/// sink, the next ones get silence; the metrics count them.
#[tokio::test]
async fn an_email_sender_past_the_limit_gets_one_notice_then_silence() {
    use crate::support::dovecot::Dovecot;
    use crate::support::fake_zalo::FakeZalo;
    use crate::support::smtp::SmtpSink;

    let dir = tempfile::tempdir().unwrap();
    let fake = FakeZalo::start().await;
    let dovecot = Dovecot::start();
    let sink = SmtpSink::start();
    let from = "khoi.vo@example.vn";
    for n in 0..4 {
        dovecot.append("gateway", "INBOX", &mail(from, n)).await;
    }
    let gw = start_with_channels(
        dir.path(),
        &fake,
        Some((&dovecot, &sink)),
        ("GATEWAY_RATE_LIMITS__EMAIL__PER_SENDER", "1"),
    );
    // Every message leaves the inbox: one to Processed, three to Failed.
    let deadline = Instant::now() + Duration::from_secs(60);
    while dovecot.count("gateway", "INBOX").await > 0 {
        assert!(Instant::now() < deadline, "{}", gw.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let replies = sink.wait_for(2, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let replies_now = sink.messages();
    assert_eq!(
        replies_now.len(),
        2,
        "the receipt and one notice: {}",
        gw.log_text()
    );
    let texts: Vec<String> = replies
        .iter()
        .map(|r| {
            // The email normalizer decodes the MIME body.
            let envelope = normalizers::report::Envelope {
                id: String::new(),
                tracking_code: String::new(),
                channel: normalizers::report::Channel::Email,
                channel_ref: None,
                received_at: TEST_NOW.parse().unwrap(),
            };
            normalizers::email::normalize(envelope, r, &Default::default())
                .expect("reply parses")
                .report
                .content
                .text
        })
        .collect();
    // The mailbox processes a batch of messages at once: which of the four was taken, and which
    // reply left first, is not fixed.
    let receipts = texts.iter().filter(|t| t.contains("Mã phản ánh")).count();
    let notices = texts
        .iter()
        .filter(|t| t.contains("nhiều thư từ địa chỉ này") && t.contains("Vui lòng gửi lại sau"))
        .count();
    assert_eq!((receipts, notices), (1, 1), "{texts:#?}");
    assert!(
        texts
            .iter()
            .filter(|t| t.contains("nhiều thư từ địa chỉ này"))
            .all(|t| !t.contains("Trương Định")),
        "the notice quotes nothing"
    );
    assert_eq!(
        dovecot.count("gateway", "Processed").await,
        1,
        "{}",
        gw.log_text()
    );
    assert_eq!(dovecot.count("gateway", "Failed").await, 3);
    // One message only became a report (rejected: it has no photo).
    assert_eq!(
        metric(
            &gw.base,
            "gateway_reports_received_total{channel=\"email\"}"
        )
        .await,
        1.0
    );
    assert_eq!(
        metric(&gw.base, &limited_series("email", "sender")).await,
        3.0
    );
    assert!(!gw.log_text().contains(from));
}

/// The mini app: past the limit of a Zalo user, 429 with `Retry-After` and the Vietnamese text.
#[tokio::test]
async fn a_miniapp_user_past_the_limit_gets_429() {
    use crate::support::fake_zalo::FakeZalo;

    let dir = tempfile::tempdir().unwrap();
    let fake = FakeZalo::start().await;
    let gw = start_with_channels(
        dir.path(),
        &fake,
        None,
        ("GATEWAY_RATE_LIMITS__MINIAPP__PER_SENDER", "1"),
    );
    fake.add_miniapp_user("rl-token-a", "Z1000000001", "Đặng Quốc Bảo");
    fake.add_miniapp_user("rl-token-b", "Z1000000002", "Lê Thị Hồng");
    let send = |token: &'static str, n: usize| {
        let base = gw.base.clone();
        async move {
            let mini = serde_json::json!({
                "content": format!("Ổ gà lớn giữa đường trước số {} Hùng Vương, xe máy dễ té ngã.", n + 10),
                "address": format!("{} Hùng Vương, phường Long An", n + 10),
            });
            let form = reqwest::multipart::Form::new()
                .text("access_token", token)
                .text("report", mini.to_string());
            client()
                .post(format!("{base}/v1/zalo/miniapp/reports"))
                .multipart(form)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(send("rl-token-a", 0).await.status(), StatusCode::OK);
    let res = send("rl-token-a", 1).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    let body: Value = res.json().await.unwrap();
    assert!(
        body["message_vi"]
            .as_str()
            .unwrap()
            .contains("Bạn đã gửi quá nhiều phản ánh"),
        "{body}"
    );
    assert_eq!(send("rl-token-b", 2).await.status(), StatusCode::OK);
    assert_eq!(
        metric(&gw.base, &limited_series("zalo_miniapp", "sender")).await,
        1.0
    );
}

/// `gateway check-config` shows the limits and refuses what `serve` refuses.
#[test]
fn check_config_validates_the_limits() {
    let dir = tempfile::tempdir().unwrap();
    let run = |envs: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gateway"));
        cmd.arg("check-config")
            .env_clear()
            .env("GATEWAY_DATA_DIR", dir.path());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let out = run(&[("GATEWAY_RATE_LIMITS__EMAIL__PER_SENDER", "3")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["rate_limits"]["email"]["per_sender"], 3);
    assert_eq!(
        shown["rate_limits"]["email"]["per_source"], 100,
        "the email default kept"
    );
    let out = run(&[
        ("GATEWAY_RATE_LIMITS__API__WINDOW_SECS", "0"),
        ("GATEWAY_RATE_LIMITS__EXEMPT_API_CLIENTS", "not-a-client-id"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error: rate_limits.api.window_secs"),
        "{stderr}"
    );
    assert!(
        stderr.contains("error: rate_limits.exempt_api_clients"),
        "{stderr}"
    );
    let out = run(&[("GATEWAY_RATE_LIMITS__TRUSTED_PROXIES", "10.0.0.0/40")]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("10.0.0.0/40"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&[("GATEWAY_RATE_LIMITS__ENABLED", "false")]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning: rate_limits.enabled"));
    // `serve` refuses the same errors.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
        .arg("serve")
        .env_clear()
        .env("GATEWAY_DATA_DIR", dir.path())
        .env("GATEWAY_LISTEN", "127.0.0.1:0")
        .env("GATEWAY_RATE_LIMITS__API__WINDOW_SECS", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("rate_limits.api.window_secs"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `POST /v1/reports/check` (a dry run): its answer, and the gateway's clock (`received_at`).
async fn check(base: &str, n: usize) -> (StatusCode, Option<u64>, Value) {
    let form = reqwest::multipart::Form::new().part(
        "report",
        reqwest::multipart::Part::text(report("0912 345 678", n).to_string())
            .mime_str("application/json")
            .unwrap(),
    );
    let res = client()
        .post(format!("{base}/v1/reports/check"))
        .bearer_auth(SUBMIT_KEY)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let retry = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    (status, retry, res.json().await.unwrap_or_default())
}

/// N requests at the end of one window and N at the start of the next: a fixed window takes
/// 2N, the sliding window about N (issue 10 point 7: the dry run is limited per address).
async fn check_across_a_window_boundary(redis: Option<&RedisServer>) {
    const N: usize = 5;
    const W_MS: u64 = 4000;
    let dir = tempfile::tempdir().unwrap();
    let url = redis.map(RedisServer::url);
    let mut envs = vec![
        ("GATEWAY_RATE_LIMITS__CHECK__WINDOW_SECS", "4"),
        ("GATEWAY_RATE_LIMITS__CHECK__PER_SOURCE", "5"),
    ];
    if let Some(url) = &url {
        envs.push(("GATEWAY_REDIS_URL", url));
        envs.push(("GATEWAY_DUPLICATES__IDENTITY_PEPPER", PEPPER));
    }
    let gw = start(dir.path(), &envs);
    // The gateway's clock, read from a dry run's `received_at`.
    let (status, _, answer) = check(&gw.base, 0).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let synced = Instant::now();
    let received: chrono::DateTime<chrono::Utc> = answer["report"]["received_at"]
        .as_str()
        .expect("received_at")
        .parse()
        .unwrap();
    let gw_ms = |at: Instant| received.timestamp_millis() as u64 + (at - synced).as_millis() as u64;
    // The end of the next window: 3.3 s into it.
    let now = gw_ms(Instant::now());
    let next = (now / W_MS + 1) * W_MS;
    tokio::time::sleep(Duration::from_millis(next + 3300 - now)).await;
    let mut first = Vec::new();
    for n in 0..N {
        first.push(check(&gw.base, n + 1).await);
    }
    let boundary = next + W_MS;
    let now = gw_ms(Instant::now());
    assert!(now < boundary, "the first burst ended within its window");
    tokio::time::sleep(Duration::from_millis(boundary + 200 - now)).await;
    let mut second = Vec::new();
    for n in 0..N {
        second.push(check(&gw.base, n + 10).await);
    }
    let ok = |v: &[(StatusCode, Option<u64>, Value)]| {
        v.iter().filter(|(s, _, _)| *s == StatusCode::OK).count()
    };
    let (a, b) = (ok(&first), ok(&second));
    assert!(a >= N - 1, "the end of a window takes the limit: {a}");
    assert!(
        a + b <= N + 1,
        "{a} + {b} taken across the boundary: about N ({N}), not 2N"
    );
    let (status, retry, body) = second
        .iter()
        .find(|(s, _, _)| *s != StatusCode::OK)
        .expect("some refused");
    assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(retry.is_some_and(|r| (1..=8).contains(&r)), "{retry:?}");
    assert_eq!(body["error"], "too_many_requests", "{body}");
    assert!(
        body["message_vi"]
            .as_str()
            .unwrap_or_default()
            .contains("Vui lòng thử lại sau"),
        "{body}"
    );
    assert!(metric(&gw.base, &limited_series("check", "source")).await >= 1.0);
}

#[tokio::test]
async fn the_dry_run_is_limited_per_address_with_a_sliding_window_embedded() {
    check_across_a_window_boundary(None).await;
}

#[tokio::test]
async fn the_dry_run_is_limited_per_address_with_a_sliding_window_redis() {
    let redis = RedisServer::start();
    check_across_a_window_boundary(Some(&redis)).await;
}

/// The public photo routes (published photos, a result's photos, the tracking page's photos)
/// share one limit per address: 429 with Retry-After past it, whichever route is asked.
#[tokio::test]
async fn public_media_is_limited_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let gw = start(
        dir.path(),
        &[("GATEWAY_RATE_LIMITS__PUBLIC_MEDIA__PER_SOURCE", "3")],
    );
    let get = |path: &'static str| {
        let url = format!("{}{path}", gw.base);
        async move { client().get(url).send().await.unwrap() }
    };
    for path in [
        "/v1/published/LA-0000-0000/media/0",
        "/v1/published/LA-0000-0000/result-media/0",
        "/v1/track/LA-0000-0000/photos/0000000000000000",
    ] {
        assert_eq!(get(path).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
    for path in [
        "/v1/track/LA-0000-0000/photos/0000000000000000",
        "/v1/published/LA-0000-0000/result-media/0",
    ] {
        let res = get(path).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
    }
    let res = get("/v1/published/LA-0000-0000/media/0").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=7200).contains(&retry), "Retry-After {retry}");
    assert_eq!(
        metric(&gw.base, &limited_series("public_media", "source")).await,
        3.0
    );
    // The feed is not this limit's: still answered.
    let res = client()
        .get(format!("{}/v1/published", gw.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

/// Zalo delivering one event again (its retries) does not count it against the user again.
#[tokio::test]
async fn a_repeated_zalo_event_is_not_counted_again() {
    use crate::support::fake_zalo::{events, FakeZalo};

    let dir = tempfile::tempdir().unwrap();
    let fake = FakeZalo::start().await;
    let gw = start_with_channels(
        dir.path(),
        &fake,
        None,
        ("GATEWAY_RATE_LIMITS__ZALO_OA__PER_SENDER", "3"),
    );
    let started = Instant::now();
    let webhook = format!("{}/v1/zalo/webhook", gw.base);
    let post = |body: String| {
        let webhook = webhook.clone();
        async move {
            let res = client()
                .post(&webhook)
                .header("content-type", "application/json")
                .header("X-ZEvent-Signature", FakeZalo::sign(&body))
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK, "Zalo always gets 200");
            res.json::<Value>().await.unwrap()["status"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let user = "8372650194400000003";
    let hello = events::text(user, "rep-1", "Xin chào", clock_ms(started));
    assert_eq!(post(hello.clone()).await, "persisted");
    for _ in 0..4 {
        assert_eq!(post(hello.clone()).await, "duplicate", "{}", gw.log_text());
    }
    // Two more distinct events are within the limit of 3: the repeats did not count.
    for m in ["rep-2", "rep-3"] {
        assert_eq!(
            post(events::text(user, m, "Đèn đường hỏng", clock_ms(started))).await,
            "persisted"
        );
    }
    assert_eq!(
        post(events::text(
            user,
            "rep-4",
            "Đèn đường hỏng",
            clock_ms(started)
        ))
        .await,
        "limited"
    );
}
