//! What the crash and outage harnesses share: clients that retry as real ones do (the app with
//! the same `Idempotency-Key` on a connection error or a 5xx, Zalo re-posting a webhook event
//! that did not get a 200), the gateway configuration of every channel against the test
//! servers, distinct citizens' submissions (no two the same citizen, so none is rejected as a
//! repeat) and a count of the IOC queue by `channel_ref`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::fake_zalo::{events, FakeZalo};
use super::gateway::{client, IOC_KEY, SUBMIT_KEY};

/// A size from the environment (`name`), else `default`.
pub fn env_size(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// The milliseconds of [`super::TEST_NOW`] plus `elapsed`: the gateway's clock when it started
/// at `TEST_NOW` that long ago.
pub fn test_ms(elapsed: Duration) -> i64 {
    chrono::DateTime::parse_from_rfc3339(super::TEST_NOW)
        .unwrap()
        .timestamp_millis()
        + elapsed.as_millis() as i64
}

/// `TEST_NOW + elapsed` as RFC 3339: a restarted gateway's clock goes on from there instead of
/// going back to `TEST_NOW` (scheduled retries would otherwise wait for the lost time).
pub fn clock_after(elapsed: Duration) -> String {
    chrono::DateTime::from_timestamp_millis(test_ms(elapsed))
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Settings of the test servers the gateway's channels use.
pub struct Channels<'a> {
    pub imap_port: Option<u16>,
    pub smtp_port: Option<u16>,
    pub zalo: Option<&'a FakeZalo>,
}

impl<'a> Channels<'a> {
    /// Email only, against a Dovecot on `imap_port` and an SMTP sink on `smtp_port`.
    pub fn email(imap_port: u16, smtp_port: u16) -> Channels<'a> {
        Channels {
            imap_port: Some(imap_port),
            smtp_port: Some(smtp_port),
            zalo: None,
        }
    }

    /// Zalo only, against the fake.
    pub fn zalo(fake: &'a FakeZalo) -> Channels<'a> {
        Channels {
            imap_port: None,
            smtp_port: None,
            zalo: Some(fake),
        }
    }
}

/// The gateway process in `dir/data` with the configuration file `config`.
pub fn start_configured(dir: &Path, config: &Path) -> super::gateway::Process {
    super::gateway::Process::start(
        &dir.join("data"),
        &[("GATEWAY_CONFIG", config.to_str().unwrap())],
    )
}

/// A configuration file with the email and Zalo sections for the test servers, with rates and
/// windows wide enough for a harness (many citizens in minutes, a run longer than 15 min).
pub fn write_config(dir: &Path, channels: &Channels<'_>, extra: &str) -> PathBuf {
    let mut config = String::new();
    if let (Some(imap), Some(smtp)) = (channels.imap_port, channels.smtp_port) {
        config.push_str(&format!(
            "[email]\n\
             imap_host = \"127.0.0.1\"\nimap_port = {imap}\nimap_tls = \"none\"\n\
             imap_user = \"gateway\"\nimap_password = \"{pw}\"\n\
             smtp_host = \"127.0.0.1\"\nsmtp_port = {smtp}\nsmtp_tls = \"none\"\n\
             mail_from = \"1022@longan.gov.vn\"\n\
             idle_timeout_secs = 5\npoll_interval_secs = 1\n\
             reply_global_rate_per_hour = 1000000\n\
             trusted_authserv_id = \"mx.longan.gov.vn\"\n\n",
            pw = super::dovecot::PASSWORD,
        ));
    }
    if let Some(fake) = channels.zalo {
        let z = fake.zalo_section();
        config.push_str(&format!(
            "[zalo]\n\
             app_id = {app_id}\noa_secret_key = {oa}\napp_secret = {app_secret}\n\
             access_token = {access}\nrefresh_token = {refresh}\n\
             api_base = {base}\noauth_base = {base}\ngraph_base = {base}\n\
             media_hosts = [\"127.0.0.1\"]\n\
             event_window_secs = 7000\n\n",
            app_id = z["app_id"],
            oa = z["oa_secret_key"],
            app_secret = z["app_secret"],
            access = z["access_token"],
            refresh = z["refresh_token"],
            base = z["api_base"],
        ));
    }
    config.push_str(extra);
    let path = dir.join("gateway.toml");
    std::fs::write(&path, config).unwrap();
    path
}

/// The report of API citizen `n`: its own phone, place and words.
pub fn api_report(n: usize) -> Value {
    const WHAT: [&str; 4] = [
        "Đèn đường trước số {n} đường Hùng Vương bị hỏng, cả đoạn đường tối om từ tối qua.",
        "Rác thải sinh hoạt đổ thành đống lớn ở đầu hẻm {n} đường Trương Định, bốc mùi hôi thối.",
        "Nắp cống trước nhà số {n} Nguyễn Đình Chiểu bị vỡ, rất nguy hiểm cho người đi xe máy.",
        "Cây xanh gãy cành lớn đè lên vỉa hè trước số {n} đường Lê Lợi, người đi bộ phải tránh.",
    ];
    let k = n % WHAT.len();
    serde_json::json!({
        "channel": "app",
        "reporter": {"name": "Nguyễn Văn An", "phone": format!("0913{:06}", n % 1_000_000)},
        "content": WHAT[k].replace("{n}", &(n + 1).to_string()),
        "location": {
            "address": format!("{} Hùng Vương, Phường 1, Tân An", n + 1),
            // About 110 m apart: no two reports share a place.
            "lat": 10.50 + (n % 60) as f64 * 0.001,
            "lon": 106.38 + (n / 60 % 60) as f64 * 0.001,
        },
    })
}

fn api_form(report: &Value) -> reqwest::multipart::Form {
    super::report_form(report, "hien-truong.jpg")
}

/// What a retrying client finally got.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    /// Requests sent, the first included.
    pub attempts: u32,
}

/// Submit as the app does: on a connection error, a timeout or a 5xx, the same request again
/// with the same `Idempotency-Key`, until `deadline`. A 4xx other than 408/429 is returned.
pub async fn submit_retrying(base: &str, key: &str, report: &Value, deadline: Instant) -> Answer {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let res = http
            .post(format!("{base}/v1/reports"))
            .bearer_auth(SUBMIT_KEY)
            .header("idempotency-key", key)
            .multipart(api_form(report))
            .send()
            .await;
        if let Ok(res) = res {
            let status = res.status().as_u16();
            let retry = status >= 500 || status == 408 || status == 429;
            if !retry {
                let body = res.json().await.unwrap_or(Value::Null);
                return Answer {
                    status,
                    body,
                    attempts,
                };
            }
        }
        assert!(
            Instant::now() < deadline,
            "{key}: no answer after {attempts} attempts"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// Post a signed webhook event as Zalo does until it gets a 200 (Zalo waits 30 s and more
/// between retries; the harness waits less). The number of posts.
pub async fn deliver_retrying(
    fake: &FakeZalo,
    webhook: &str,
    body: &str,
    deadline: Instant,
) -> u32 {
    let mut n = 0;
    loop {
        let status = fake.post_event(webhook, body, (n > 0).then_some(n)).await;
        n += 1;
        if status == 200 {
            return n;
        }
        assert!(
            Instant::now() < deadline,
            "a webhook event was not taken after {n} posts (last {status})"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// Seconds without progress after which a harness calls the gateway stuck: well past the claim
/// timeout (60 s) after which a killed run's entries are handed out again.
pub const STALL_SECS: u64 = 240;

/// The Zalo user of conversation `n`.
pub fn zalo_user(n: usize) -> String {
    format!("77{:014}", n)
}

/// The `msg_id` of the "Gửi" of conversation `n`: the `channel_ref` of its report.
pub fn zalo_ref(n: usize) -> String {
    format!("crz{n}-5")
}

/// What the OA sent `user` (delivered), as texts ("[form]" for a form).
pub fn zalo_said(fake: &FakeZalo, user: &str) -> Vec<String> {
    fake.delivered_to(user)
        .iter()
        .map(|c| c.text().unwrap_or("[form]").to_string())
        .collect()
}

/// Receipts (tracking codes) the OA sent `user`.
pub fn zalo_receipts(fake: &FakeZalo, user: &str) -> usize {
    zalo_said(fake, user)
        .iter()
        .filter(|m| m.contains("Mã phản ánh: LA-"))
        .count()
}

/// One whole OA conversation of citizen `n` (description, photo, location, contact, "Gửi"),
/// each event delivered until taken, `clock` the gateway's time in ms. Waits for the summary
/// before confirming, as a citizen reads it first.
pub async fn zalo_conversation(
    fake: &FakeZalo,
    webhook: &str,
    n: usize,
    clock: impl Fn() -> i64,
    deadline: Instant,
) {
    let u = zalo_user(n);
    let p = format!("crz{n}-");
    let text = format!(
        "Đèn đường trước nhà số {} đường Nguyễn Huệ bị hỏng từ tối qua, cả đoạn đường tối om.",
        n + 1
    );
    deliver_retrying(
        fake,
        webhook,
        &events::text(&u, &format!("{p}1"), &text, clock()),
        deadline,
    )
    .await;
    let url = fake.add_media(
        &format!("{p}photo.png"),
        "image/png",
        super::read_fixture("media/photo-2h-before.png"),
    );
    deliver_retrying(
        fake,
        webhook,
        &events::image(&u, &format!("{p}2"), &url, clock()),
        deadline,
    )
    .await;
    let (lat, lon) = (
        10.50 + (n % 60) as f64 * 0.001,
        106.40 + (n / 60 % 60) as f64 * 0.001,
    );
    deliver_retrying(
        fake,
        webhook,
        &events::location(
            &u,
            &format!("{p}3"),
            &format!("{lat:.4}"),
            &format!("{lon:.4}"),
            clock(),
        ),
        deadline,
    )
    .await;
    let phone = format!("84914{:06}", n % 1_000_000);
    deliver_retrying(
        fake,
        webhook,
        &events::submit_info(&u, "Nguyễn Văn Bình", &phone, clock()),
        deadline,
    )
    .await;
    // A summary comes within seconds; past the claim timeout of a killed run's events (60 s)
    // and their retries, the conversation is stuck.
    let stuck = (Instant::now() + Duration::from_secs(STALL_SECS)).min(deadline);
    while !zalo_said(fake, &u)
        .iter()
        .any(|m| m.starts_with("Tóm tắt phản ánh"))
    {
        assert!(
            Instant::now() < stuck,
            "{u} never got a summary: {:#?}",
            zalo_said(fake, &u)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    deliver_retrying(
        fake,
        webhook,
        &events::text(&u, &zalo_ref(n), "Gửi", clock()),
        deadline,
    )
    .await;
}

/// Email `n` of a distinct citizen, with a photo taken 2 h before `TEST_NOW`.
pub fn citizen_mail(n: usize) -> Vec<u8> {
    let photo = super::read_fixture("media/photo-2h-before.jpg");
    let b64: String = photo.chunks(57).map(|c| base64(c) + "\r\n").collect();
    format!(
        "From: =?UTF-8?Q?Tr=E1=BA=A7n_V=C4=83n_B=C3=ACnh?= <{from}>\r\n\
         To: 1022@longan.gov.vn\r\n\
         Subject: =?UTF-8?Q?R=C3=A1c_th=E1=BA=A3i?=\r\n\
         Message-ID: <{id}>\r\n\
         Date: Sat, 28 Nov 2026 09:30:00 +0700\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\n\
         Content-Type: text/plain; charset=UTF-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         Rác thải sinh hoạt bị đổ tràn ra lòng đường trước nhà số {k} đường Trương Định, bốc mùi hôi thối.\r\n\
         Địa chỉ: {k} Trương Định, Phường 3, Tân An.\r\n\r\n\
         --b\r\n\
         Content-Type: image/jpeg; name=\"rac.jpg\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n\
         {b64}--b--\r\n",
        from = mail_sender(n),
        id = mail_ref(n),
        k = n + 1,
    )
    .into_bytes()
}

/// The sender of email `n`.
pub fn mail_sender(n: usize) -> String {
    format!("cong.dan.{n}@example.vn")
}

/// The Message-ID of email `n`: the `channel_ref` of its report.
pub fn mail_ref(n: usize) -> String {
    format!("crash-{n}@example.vn")
}

/// Replies the SMTP sink received, by recipient (`To:` address): the Message-ID of each.
pub fn replies_by_recipient(messages: &[Vec<u8>]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in messages {
        let text = String::from_utf8_lossy(m);
        let header = |name: &str| {
            text.lines()
                .take_while(|l| !l.is_empty())
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
                })
                .unwrap_or_default()
        };
        let to = header("To");
        let to = to
            .rsplit_once('<')
            .map(|(_, a)| a.trim_end_matches('>').to_string())
            .unwrap_or(to);
        out.entry(to.to_lowercase())
            .or_default()
            .push(header("Message-ID"));
    }
    out
}

/// The tracking codes the OA told `user`, one per receipt sent.
pub fn zalo_receipt_codes(fake: &FakeZalo, user: &str) -> Vec<String> {
    zalo_said(fake, user)
        .iter()
        .filter_map(|m| {
            let code = m.split("Mã phản ánh: ").nth(1)?;
            Some(
                code.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect(),
            )
        })
        .collect()
}

/// Claim every entry of the IOC queue (one consumer) and count the reports by `channel_ref`.
pub async fn queued_by_ref(base: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    loop {
        let res = client()
            .get(format!("{base}/v1/ioc/queue?max=100&consumer=harness"))
            .bearer_auth(IOC_KEY)
            .send()
            .await
            .expect("the IOC API answers");
        assert_eq!(res.status(), 200);
        let v: Value = res.json().await.unwrap();
        let entries = v["entries"].as_array().cloned().unwrap_or_default();
        if entries.is_empty() {
            return out;
        }
        for e in entries {
            let r = e["report"]["channel_ref"]
                .as_str()
                .unwrap_or("")
                .to_string();
            *out.entry(r).or_insert(0) += 1;
        }
    }
}

/// Files left in the staging folder of `data_dir`.
pub fn staged_files(data_dir: &Path) -> Vec<String> {
    std::fs::read_dir(data_dir.join("media/tmp"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Standard base64 with padding (for email bodies).
pub fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// A `redis-server` with the persistence the README asks for (AOF, `appendfsync always`) that
/// an outage test can kill (SIGKILL) and start again on the same port and files.
pub struct PersistentRedis {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

impl PersistentRedis {
    pub fn start() -> PersistentRedis {
        let mut r = PersistentRedis {
            port: super::free_port(),
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        r.start_again();
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Start (again) on the same port with the same files; waits until it answers PING.
    pub fn start_again(&mut self) {
        use std::io::{Read, Write};
        let child = std::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed (tests/run installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                let mut buf = [0u8; 7];
                if s.write_all(b"PING\r\n").is_ok()
                    && s.read_exact(&mut buf).is_ok()
                    && &buf == b"+PONG\r\n"
                {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "redis-server did not come back");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: Redis is gone at once, as in a crash.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PersistentRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `GET path` on the gateway: the status and the body as JSON (Null when not JSON).
pub async fn get(base: &str, path: &str) -> (u16, Value) {
    match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
        .get(format!("{base}{path}"))
        .send()
        .await
    {
        Ok(res) => {
            let status = res.status().as_u16();
            (status, res.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}
