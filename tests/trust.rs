//! Trust and operations (issue 10): the store recovers from a full disk without a restart and
//! says so on `/readyz`; `/metrics` counts where things happen and can require a key; personal
//! data stays out of logs and metrics, the identity pepper is generated (or required on Redis),
//! and what the gateway writes is its user's only.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::gateway::{client, Process, IOC_KEY, SUBMIT_KEY};
use crate::support::report_form;
use crate::support::tmpfs::Tmpfs;

/// Distinct reports (no two are duplicates of each other), as citizens write them.
fn report(n: usize) -> Value {
    const CASES: [(&str, &str, &str, &str, f64, f64); 4] = [
        (
            "Nguyễn Văn An",
            "0912 345 678",
            "Đèn đường trước số 12 đường Hùng Vương bị hỏng, cả đoạn đường tối om từ tối qua.",
            "12 Hùng Vương, Phường 1, Tân An",
            10.5400,
            106.4100,
        ),
        (
            "Lê Thị Hồng",
            "0987 654 321",
            "Rác thải sinh hoạt đổ thành đống lớn ở đầu hẻm 45 đường Trương Định, bốc mùi hôi thối.",
            "Hẻm 45 Trương Định, Phường 3, Tân An",
            10.5350,
            106.4050,
        ),
        (
            "Trần Minh Tuấn",
            "0903 112 358",
            "Nắp cống trên đường Nguyễn Đình Chiểu bị vỡ, rất nguy hiểm cho người đi xe máy ban đêm.",
            "88 Nguyễn Đình Chiểu, Phường 2, Tân An",
            10.5300,
            106.4150,
        ),
        (
            "Phạm Thu Trang",
            "0977 246 810",
            "Cây xanh bị gãy cành lớn đè lên vỉa hè đường Lê Lợi, người đi bộ phải đi xuống lòng đường.",
            "20 Lê Lợi, Phường 1, Tân An",
            10.5420,
            106.4180,
        ),
    ];
    let (name, phone, content, address, lat, lon) = CASES[n % CASES.len()];
    serde_json::json!({
        "channel": "app",
        "reporter": {"name": name, "phone": phone},
        "content": content,
        "location": {"address": address, "lat": lat, "lon": lon},
    })
}

fn form(report: &Value) -> reqwest::multipart::Form {
    report_form(report, "den-duong.jpg")
}

async fn submit(base: &str, key: &str, report: &Value) -> reqwest::Response {
    client()
        .post(format!("{base}/v1/reports"))
        .bearer_auth(SUBMIT_KEY)
        .header("idempotency-key", key)
        .multipart(form(report))
        .send()
        .await
        .unwrap()
}

async fn get(url: &str, key: Option<&str>) -> (u16, String) {
    let mut req = client().get(url);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn claim_all(base: &str) -> Vec<Value> {
    let (status, body) = get(
        &format!("{base}/v1/ioc/queue?max=100&consumer=trust-test"),
        Some(IOC_KEY),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["entries"].as_array().unwrap().clone()
}

/// Files under `dir` (recursively), without the test's own log files.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if !p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("gateway-"))
            {
                out.push(p);
            }
        }
    }
    out
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The readiness probe shipped for Docker's HEALTHCHECK and the systemd health timer.
fn probe(port: u16) -> (bool, String) {
    let out = std::process::Command::new("bash")
        .arg(crate::support::repo().join("deploy/readyz-probe"))
        .arg(format!("127.0.0.1:{port}"))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

// --- point 2: a full disk ---------------------------------------------------------------------

#[tokio::test]
async fn a_full_disk_answers_503_then_recovers_without_a_restart() {
    let Some(fs) = Tmpfs::mount("48m") else {
        eprintln!("SKIPPED: mounting a tmpfs needs root; the full-disk test did not run");
        return;
    };
    let data = fs.path().join("data");
    let gw = Process::start(&data, &[]);
    let pid = gw.pid();
    let mut before = Vec::new();
    for n in 0..2 {
        let res = submit(&gw.base, &format!("before-{n}"), &report(n)).await;
        assert_eq!(res.status(), 201, "{}", gw.log_text());
        let v: Value = res.json().await.unwrap();
        before.push(v["id"].as_str().unwrap().to_string());
    }
    let filler = fs.fill();
    // A citizen submits while the disk is full: refused cleanly, with a sentence to show.
    let res = submit(&gw.base, "during", &report(2)).await;
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "unavailable", "{body}");
    let vi = body["message_vi"].as_str().unwrap_or_default();
    assert!(
        !vi.is_empty() && !vi.is_ascii(),
        "a Vietnamese sentence: {body}"
    );
    // Readiness says why, without personal data.
    let (status, text) = get(&format!("{}/readyz", gw.base), None).await;
    assert_eq!(status, 503, "{text}");
    let readiness: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(readiness["status"], "not_ready");
    let cause = readiness["cause"].as_str().unwrap();
    assert!(
        cause.to_lowercase().contains("no space left") || cause.contains("os error 28"),
        "{cause}"
    );
    assert!(
        !cause.contains("0912") && !cause.contains("Nguyễn"),
        "{cause}"
    );
    let (healthy, said) = probe(gw.port);
    assert!(
        !healthy,
        "the HEALTHCHECK probe fails while the disk is full"
    );
    assert!(said.contains("not ready"), "{said}");
    // Nothing half-written stays in the staging folder.
    let staged: Vec<_> = std::fs::read_dir(data.join("media/tmp"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(staged.is_empty(), "left in media/tmp: {staged:?}");
    // Space is back: the same process takes reports again.
    std::fs::remove_file(filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, text) = get(&format!("{}/readyz", gw.base), None).await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "not ready again: {text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(probe(gw.port).0, "the probe passes again");
    let res = submit(&gw.base, "after", &report(3)).await;
    assert_eq!(res.status(), 201, "{}", gw.log_text());
    let after: Value = res.json().await.unwrap();
    // The retry of the refused submission is taken too, once.
    let res = submit(&gw.base, "during", &report(2)).await;
    assert_eq!(res.status(), 201);
    assert_eq!(gw.pid(), pid, "no restart");
    let queued: Vec<String> = claim_all(&gw.base)
        .await
        .iter()
        .map(|e| e["report"]["id"].as_str().unwrap().to_string())
        .collect();
    for id in before
        .iter()
        .chain([after["id"].as_str().unwrap().to_string()].iter())
    {
        assert!(queued.contains(id), "{id} missing from {queued:?}");
    }
    assert_eq!(queued.len(), 4, "{queued:?}");
}

// --- point 8: metrics -------------------------------------------------------------------------

fn metric(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name_and_labels))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_count_queue_operations_and_require_the_key_when_set() {
    let dir = tempfile::tempdir().unwrap();
    let key = "metrics-key-0123456789abcdef";
    let gw = Process::start(dir.path(), &[("GATEWAY_METRICS_KEY", key)]);
    let url = format!("{}/metrics", gw.base);
    assert_eq!(get(&url, None).await.0, 401, "no key");
    assert_eq!(get(&url, Some("wrong-key-0123456789")).await.0, 401);
    assert_eq!(
        get(&url, Some(SUBMIT_KEY)).await.0,
        401,
        "an API key is not it"
    );
    for n in 0..3 {
        let res = submit(&gw.base, &format!("m-{n}"), &report(n)).await;
        assert_eq!(res.status(), 201);
    }
    let entries = claim_all(&gw.base).await;
    assert_eq!(entries.len(), 3);
    let ack = client()
        .post(format!(
            "{}/v1/ioc/queue/{}/ack",
            gw.base,
            entries[0]["entry_id"].as_str().unwrap()
        ))
        .bearer_auth(IOC_KEY)
        .send()
        .await
        .unwrap();
    assert!(ack.status().is_success());
    let (status, text) = get(&url, Some(key)).await;
    assert_eq!(status, 200, "{text}");
    let want = [
        ("gateway_stream_appended_total{stream=\"ioc:reports\"}", 3.0),
        (
            "gateway_stream_claimed_total{stream=\"ioc:reports\",group=\"ioc\"}",
            3.0,
        ),
        (
            "gateway_stream_acked_total{stream=\"ioc:reports\",group=\"ioc\"}",
            1.0,
        ),
        ("gateway_queue_length{stream=\"ioc:reports\"}", 3.0),
        ("gateway_queue_pending{stream=\"ioc:reports\"}", 2.0),
        ("gateway_queue_undelivered{stream=\"ioc:reports\"}", 0.0),
        ("gateway_reports_received_total{channel=\"app\"}", 3.0),
    ];
    for (name, value) in want {
        assert_eq!(metric(&text, name), Some(value), "{name} in\n{text}");
    }
    // Without a key configured, /metrics stays open (the existing scrapers).
    let open = Process::start(&dir.path().join("open"), &[]);
    assert_eq!(get(&format!("{}/metrics", open.base), None).await.0, 200);
}

// --- point 10: pepper, permissions ------------------------------------------------------------

#[tokio::test]
async fn serve_generates_a_private_identity_pepper_once_and_writes_private_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut gw = Process::start(&data, &[]);
    let pepper_path = data.join("identity-pepper");
    let pepper = std::fs::read_to_string(&pepper_path).unwrap();
    assert_eq!(pepper.len(), 64, "{pepper}");
    assert!(pepper.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(mode(&pepper_path), 0o600);
    let res = submit(&gw.base, "perm-1", &report(0)).await;
    assert_eq!(res.status(), 201);
    gw.restart(&[]);
    assert_eq!(
        std::fs::read_to_string(&pepper_path).unwrap(),
        pepper,
        "the same pepper after a restart"
    );
    assert_eq!(mode(&data), 0o700, "the data folder");
    let files = files_under(&data);
    assert!(files.iter().any(|f| f.ends_with("queue.redb")), "{files:?}");
    assert!(
        files
            .iter()
            .filter(|f| f.to_string_lossy().contains("sha256"))
            .count()
            >= 2,
        "media and raw original: {files:?}"
    );
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    assert!(
        !gw.log_text().contains(pepper.trim()),
        "the pepper is never logged"
    );
    // A pepper given by the configuration is used as is; nothing is generated.
    let other = dir.path().join("configured");
    let _gw = Process::start(
        &other,
        &[(
            "GATEWAY_DUPLICATES__IDENTITY_PEPPER",
            "a-configured-pepper-0123456789",
        )],
    );
    assert!(!other.join("identity-pepper").exists());
}

#[test]
fn serve_on_redis_without_a_pepper_refuses_to_start_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
        .arg("serve")
        .env_clear()
        .env("GATEWAY_DATA_DIR", dir.path())
        .env(
            "GATEWAY_LISTEN",
            format!("127.0.0.1:{}", crate::support::free_port()),
        )
        .env("GATEWAY_REDIS_URL", "redis://127.0.0.1:1/")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains("GATEWAY_DUPLICATES__IDENTITY_PEPPER") && lines[0].contains("Redis"),
        "{err}"
    );
    assert!(!dir.path().join("identity-pepper").exists());
}

// --- point 10: a scan of every log line and the metrics for the personal values used ----------

/// A 2×2 PNG without EXIF, like a chat photo.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x08, 0x02, 0x00, 0x00, 0x00, 0xfd, 0xd4, 0x9a,
    0x73, 0x00, 0x00, 0x00, 0x11, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0x00,
    0x44, 0x60, 0xe2, 0x3f, 0x03, 0x00, 0x1d, 0xf0, 0x03, 0xfd, 0xa0, 0x33, 0x09, 0x89, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// Every personal value the scenarios below hand to the gateway, in the forms they could be
/// printed in (as written, digits only, E.164, without the trunk prefix, unaccented).
const PERSONAL: &[&str] = &[
    // API (app): reporter, phone, email, exact address.
    "Trần Thị Bích Ngọc",
    "Tran Thi Bich Ngoc",
    "0903 112 359",
    "0903112359",
    "903112359",
    "ngoc.tran1022@gmail.com",
    "45 Nguyễn Đình Chiểu",
    // Email: sender, address, phone and street in the body.
    "Võ Minh Khôi",
    "Vo Minh Khoi",
    "khoi.vo.la@yahoo.com.vn",
    "0933 579 135",
    "933579135",
    "78 Trương Định",
    // Zalo OA: user id, name and phone of the shared info.
    "8372650194437712345",
    "Phạm Thu Hà",
    "Pham Thu Ha",
    "84938765432",
    "938765432",
    // Zalo mini app: user id, name, phone behind the token, address.
    "Z7788990011",
    "Đặng Quốc Bảo",
    "Dang Quoc Bao",
    "84945678123",
    "945678123",
    "17 Hùng Vương",
    // The IOC blocks a sender.
    "0966 111 222",
    "966111222",
];

fn mail(from: &str) -> Vec<u8> {
    format!(
        "From: =?UTF-8?Q?V=C3=B5_Minh_Kh=C3=B4i?= <{from}>\r\n\
         To: 1022@longan.gov.vn\r\n\
         Subject: =?UTF-8?Q?=C4=90=C3=A8n_=C4=91=C6=B0=E1=BB=9Dng_h=E1=BB=8Fng?=\r\n\
         Message-ID: <scan-1@yahoo.com.vn>\r\n\
         Date: Sat, 28 Nov 2026 09:30:00 +0700\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=UTF-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         Kính gửi Trung tâm 1022,\r\n\r\n\
         Đèn đường trước nhà số 78 Trương Định, Phường 3, Tân An bị hỏng từ tối hôm qua, \
         cả đoạn đường tối om rất nguy hiểm cho người đi đường.\r\n\r\n\
         Người phản ánh: Võ Minh Khôi\r\n\
         Điện thoại: 0933 579 135\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn no_personal_value_reaches_the_logs_or_the_metrics() {
    use crate::support::dovecot::{Dovecot, PASSWORD};
    use crate::support::fake_zalo::{events, FakeZalo};
    use crate::support::smtp::SmtpSink;

    let dir = tempfile::tempdir().unwrap();
    let fake = FakeZalo::start().await;
    let dovecot = Dovecot::start();
    let sink = SmtpSink::start();
    dovecot
        .append("gateway", "INBOX", &mail("khoi.vo.la@yahoo.com.vn"))
        .await;
    let zalo = fake.zalo_section();
    let config = format!(
        "[email]\n\
         imap_host = \"127.0.0.1\"\nimap_port = {imap}\nimap_tls = \"none\"\n\
         imap_user = \"gateway\"\nimap_password = \"{PASSWORD}\"\n\
         smtp_host = \"127.0.0.1\"\nsmtp_port = {smtp}\nsmtp_tls = \"none\"\n\
         idle_timeout_secs = 5\n\n\
         [zalo]\n\
         app_id = {app_id}\noa_secret_key = {oa}\napp_secret = {app_secret}\n\
         access_token = {access}\nrefresh_token = {refresh}\n\
         api_base = {base}\noauth_base = {base}\ngraph_base = {base}\n\
         media_hosts = [\"127.0.0.1\"]\n",
        imap = dovecot.imap_port,
        smtp = sink.port,
        app_id = zalo["app_id"],
        oa = zalo["oa_secret_key"],
        app_secret = zalo["app_secret"],
        access = zalo["access_token"],
        refresh = zalo["refresh_token"],
        base = zalo["api_base"],
    );
    let config_path = dir.path().join("gateway.toml");
    std::fs::write(&config_path, config).unwrap();
    let metrics_key = "scan-metrics-key-0123456789";
    let gw = Process::start(
        &dir.path().join("data"),
        &[
            ("GATEWAY_CONFIG", config_path.to_str().unwrap()),
            ("GATEWAY_METRICS_KEY", metrics_key),
            (
                "GATEWAY_LOG",
                "info,gateway=debug,channels=debug,normalizers=debug",
            ),
        ],
    );
    let started = Instant::now();
    let start_ms = chrono::DateTime::parse_from_rfc3339(crate::support::TEST_NOW)
        .unwrap()
        .timestamp_millis();
    let ms = || start_ms + started.elapsed().as_millis() as i64;

    // API (app).
    let app = serde_json::json!({
        "channel": "app",
        "reporter": {"name": "Trần Thị Bích Ngọc", "phone": "0903 112 359",
                     "email": "ngoc.tran1022@gmail.com"},
        "content": "Nắp cống trước nhà số 45 Nguyễn Đình Chiểu bị vỡ, rất nguy hiểm cho xe máy đi ban đêm.",
        "location": {"address": "45 Nguyễn Đình Chiểu, Phường 2, Tân An", "lat": 10.5310, "lon": 106.4120},
    });
    let res = submit(&gw.base, "scan-app", &app).await;
    assert!(res.status().is_success() || res.status() == 422);

    // Zalo OA: a whole conversation.
    let webhook = format!("{}/v1/zalo/webhook", gw.base);
    let user = "8372650194437712345";
    let send = |body: String| {
        let fake = &fake;
        let webhook = webhook.clone();
        async move {
            assert_eq!(fake.post_event(&webhook, &body, None).await, 200);
        }
    };
    send(events::text(
        user,
        "scan-z1",
        "Đèn đường trước chợ Phường 1 bị hỏng từ tối qua, cả đoạn đường tối om.",
        ms(),
    ))
    .await;
    fake.wait_said(user, |said| said.len() >= 2).await;
    let url = fake.add_media("scan.png", "image/png", PNG.to_vec());
    send(events::image(user, "scan-z2", &url, ms())).await;
    send(events::location(
        user,
        "scan-z3",
        "10.5366",
        "106.4138",
        ms(),
    ))
    .await;
    send(events::submit_info(
        user,
        "Phạm Thu Hà",
        "84938765432",
        ms(),
    ))
    .await;
    // The place question comes or not, as the photo's inspection and the shared location race:
    // wait for the summary, then for the answer to "Gửi".
    let said = fake
        .wait_said(user, |said| {
            said.iter().any(|m| m.starts_with("Tóm tắt phản ánh"))
        })
        .await;
    send(events::text(user, "scan-z5", "Gửi", ms())).await;
    let said = fake.wait_said(user, |s| s.len() > said.len()).await;
    assert!(said.last().unwrap().contains("LA-"), "{said:#?}");

    // Zalo mini app.
    fake.add_miniapp_user("scan-ma-token", "Z7788990011", "Đặng Quốc Bảo");
    fake.add_info_token("scan-phone", serde_json::json!({"number": "84945678123"}));
    fake.add_info_token(
        "scan-loc",
        serde_json::json!({"latitude": "10.5366", "longitude": "106.4138"}),
    );
    let mini = serde_json::json!({
        "content": "Ổ gà lớn giữa đường trước số 17 Hùng Vương, xe máy dễ té ngã.",
        "address": "17 Hùng Vương, phường Long An",
    });
    let form = reqwest::multipart::Form::new()
        .text("access_token", "scan-ma-token")
        .text("phone_token", "scan-phone")
        .text("location_token", "scan-loc")
        .text("report", mini.to_string())
        .part(
            "camera",
            reqwest::multipart::Part::bytes(PNG.to_vec())
                .file_name("camera.png")
                .mime_str("image/png")
                .unwrap(),
        );
    let res = client()
        .post(format!("{}/v1/zalo/miniapp/reports", gw.base))
        .header("Idempotency-Key", "scan-mini")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", gw.log_text());

    // Email: the mail is taken and answered over SMTP.
    let replies = sink.wait_for(1, Duration::from_secs(60)).await;
    assert_eq!(replies.len(), 1, "{}", gw.log_text());

    // The IOC reads the queue and blocks a sender.
    assert!(claim_all(&gw.base).await.len() >= 3, "{}", gw.log_text());
    let res = client()
        .post(format!("{}/v1/ioc/blocklist", gw.base))
        .bearer_auth(IOC_KEY)
        .json(&serde_json::json!({"identity": "0966 111 222", "reason": "gửi nội dung xúc phạm nhiều lần"}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());

    let (status, metrics) = get(&format!("{}/metrics", gw.base), Some(metrics_key)).await;
    assert_eq!(status, 200);
    for channel in ["app", "email", "zalo_oa", "zalo_miniapp"] {
        assert!(
            metrics.contains(&format!(
                "gateway_reports_received_total{{channel=\"{channel}\"}}"
            )),
            "every scenario ran ({channel}):\n{metrics}"
        );
    }
    assert!(
        metrics.contains("gateway_email_replies_total{outcome=\"sent\"} 1"),
        "{metrics}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = gw.log_text();
    // The scan reads what the gateway printed while it handled each channel.
    for said in ["channel started", "email ingested", "reply sent"] {
        assert!(log.contains(said), "the log lacks {said:?}: {log}");
    }
    // The scan itself finds a value where there is one.
    assert_eq!(
        personal_in("x", "WARN reply not sent to khoi.vo.la@yahoo.com.vn").len(),
        1
    );
    let mut found = personal_in("log", &log);
    found.extend(personal_in("metrics", &metrics));
    assert!(
        found.is_empty(),
        "personal data found:\n{}",
        found.join("\n")
    );
}

/// Lines of `text` that carry one of [`PERSONAL`].
fn personal_in(what: &str, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for value in PERSONAL {
        for line in text.lines().filter(|l| l.contains(value)) {
            found.push(format!("{what}: {value:?} in {line}"));
        }
    }
    found
}

/// `gateway block add` on the embedded store, before and after the first `serve`: the command
/// line keys its digests with the same generated pepper as the serving gateway, so the sender
/// it blocks is refused (SENDER_BLOCKED) by the gateway.
#[tokio::test]
async fn a_sender_blocked_from_the_command_line_is_refused_by_the_serving_gateway() {
    let block = |data: &std::path::Path, phone: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
            .args(["block", "add", phone, "--reason", "spam"])
            .env_clear()
            .env("GATEWAY_DATA_DIR", data)
            .env("GATEWAY_CLOCK_START", crate::support::TEST_NOW)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let dir = tempfile::tempdir().unwrap();
    // Blocked before the gateway ever ran here.
    let first = dir.path().join("first");
    block(&first, "0912 345 678");
    let gw = Process::start(&first, &[]);
    let res = submit(&gw.base, "cli-block-1", &report(0)).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["verdict"], "rejected", "{body}");
    assert!(body.to_string().contains("SENDER_BLOCKED"), "{body}");
    drop(gw);
    // Blocked after the gateway generated its pepper.
    let second = dir.path().join("second");
    drop(Process::start(&second, &[]));
    block(&second, "0987 654 321");
    let gw = Process::start(&second, &[]);
    let res = submit(&gw.base, "cli-block-2", &report(1)).await;
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["verdict"], "rejected", "{body}");
    assert!(body.to_string().contains("SENDER_BLOCKED"), "{body}");
}
