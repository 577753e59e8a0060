//! Staged uploads never leak (issue 10, point 3): every way an ingest can fail after files were
//! staged — a client that hangs up mid-file, a file over its limit after another was staged, a
//! malformed request after its files, the store going down, an email retried while the store
//! is down — leaves the staging folder (`media/tmp`) empty, without waiting for the 24-hour sweep.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use channels::email::Disposition;
use channels::{Intake, MediaInput, MediaSource, Origin, Submission};
use gateway::store::REPORTS_STREAM;
use normalizers::secret::Secret;
use tokio::io::AsyncWriteExt;

use crate::support::gateway::{client, InProcess, SUBMIT_KEY};
use crate::support::redis::RedisServer;
use crate::support::{read_fixture, report_json, Multipart};

fn staging(gw: &InProcess) -> PathBuf {
    gw.dir.path().join("media").join("tmp")
}

fn staged(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < until, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn post(base: &str, (content_type, body): (String, Vec<u8>)) -> reqwest::Response {
    client()
        .post(format!("{base}/v1/reports"))
        .bearer_auth(SUBMIT_KEY)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_client_that_hangs_up_mid_file_leaves_no_partial_file() {
    let gw = InProcess::start(|_| {}).await;
    let base = gw.serve().await;
    let tmp = staging(&gw);
    let photo = read_fixture("media/photo-2h-before.jpg");
    let boundary = "----citizen-phone-upload";
    let mut head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"report\"\r\nContent-Type: application/json\r\n\r\n{}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"media\"; filename=\"o-ga.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n",
        report_json()
    )
    .into_bytes();
    head.extend_from_slice(&photo[..photo.len() / 2]);
    let addr = base.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST /v1/reports HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {SUBMIT_KEY}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
        head.len() + photo.len() * 4
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    tcp.write_all(&head).await.unwrap();
    tcp.flush().await.unwrap();
    wait_until("the upload is being staged", || staged(&tmp).len() == 1).await;
    // The phone goes through a tunnel: the connection is gone, half the photo written.
    drop(tcp);
    wait_until("the partial file is deleted", || staged(&tmp).is_empty()).await;
}

/// The handler cancelled mid-upload (the request timeout, or the server dropping a dead
/// connection's request): one file complete and staged, the next half written. Both go.
#[tokio::test]
async fn a_cancelled_upload_leaves_neither_its_complete_nor_its_partial_file() {
    use tower::ServiceExt;
    let gw = InProcess::start(|_| {}).await;
    let tmp = staging(&gw);
    let photo = read_fixture("media/photo-2h-before.jpg");
    let boundary = "----slow-network-upload";
    let mut first = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"report\"\r\nContent-Type: application/json\r\n\r\n{}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"media\"; filename=\"1.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n",
        report_json()
    )
    .into_bytes();
    first.extend_from_slice(&photo);
    first.extend_from_slice(
        format!("\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"media\"; filename=\"2.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").as_bytes(),
    );
    first.extend_from_slice(&photo[..photo.len() / 2]);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let body =
        axum::body::Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        }));
    let request = axum::http::Request::post("/v1/reports")
        .header("authorization", format!("Bearer {SUBMIT_KEY}"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .unwrap();
    let handler = tokio::spawn(gw.router().oneshot(request));
    tx.send(Ok(Bytes::from(first))).await.unwrap();
    wait_until("both files are being staged", || staged(&tmp).len() == 2).await;
    handler.abort();
    let _ = handler.await;
    wait_until("the staged files are deleted", || staged(&tmp).is_empty()).await;
    drop(tx);
}

#[tokio::test]
async fn a_second_file_over_its_limit_leaves_neither_file() {
    let photo = read_fixture("media/photo-2h-before.jpg");
    let limit = photo.len() as u64 + 100;
    let gw = InProcess::start(|c| c.limits.photo_max_bytes = limit).await;
    let base = gw.serve().await;
    let mut big = photo.clone();
    big.extend(std::iter::repeat_n(0u8, 4096));
    let body = Multipart::new()
        .json("report", &report_json())
        .file("media", "truoc.jpg", "image/jpeg", &photo)
        .file("media", "sau.jpg", "image/jpeg", &big)
        .finish();
    let resp = post(&base, body).await;
    assert_eq!(resp.status(), 413);
    assert!(
        staged(&staging(&gw)).is_empty(),
        "{:?}",
        staged(&staging(&gw))
    );
}

#[tokio::test]
async fn a_request_refused_after_its_files_were_staged_leaves_nothing() {
    let gw = InProcess::start(|_| {}).await;
    let base = gw.serve().await;
    let tmp = staging(&gw);
    let photo = read_fixture("media/photo-2h-before.jpg");
    // Files first, then what makes the request malformed (400).
    let cases = [
        Multipart::new()
            .file("media", "a.jpg", "image/jpeg", &photo)
            .file("media", "b.jpg", "image/jpeg", &photo)
            .text("report", "{\"channel\": \"app\", \"content\": 12}")
            .finish(),
        Multipart::new()
            .file("media", "a.jpg", "image/jpeg", &photo)
            .text("ghi_chu", "gửi thêm")
            .finish(),
        // No report at all.
        Multipart::new()
            .file("media", "a.jpg", "image/jpeg", &photo)
            .finish(),
    ];
    for body in cases {
        let resp = post(&base, body).await;
        assert_eq!(resp.status(), 400);
        assert!(staged(&tmp).is_empty(), "{:?}", staged(&tmp));
    }
    // Rejected by the validator (422, the description left empty): the files are stored
    // with the rejection, none left staged.
    let mut empty = report_json();
    empty["content"] = serde_json::json!("");
    let body = Multipart::new()
        .json("report", &empty)
        .file("media", "a.jpg", "image/jpeg", &photo)
        .finish();
    let resp = post(&base, body).await;
    assert_eq!(resp.status(), 422, "{}", resp.text().await.unwrap());
    assert!(staged(&tmp).is_empty(), "{:?}", staged(&tmp));
}

/// A redis-server on a given port (the one a killed server had), stopped when dropped.
struct Revived {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Revived {
    fn on(port: u16) -> Revived {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server");
        let until = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < until, "redis did not come back");
            std::thread::sleep(Duration::from_millis(20));
        }
        Revived { child, _dir: dir }
    }
}

impl Drop for Revived {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn on_redis(redis: &RedisServer) -> InProcess {
    let url = redis.url();
    InProcess::start(move |c| {
        c.redis_url = Some(Secret::new(url));
        c.duplicates.identity_pepper = Secret::new("staging-test-pepper-0123456789");
    })
    .await
}

#[tokio::test]
async fn the_store_going_down_after_the_files_were_staged_leaves_nothing() {
    let mut redis = RedisServer::start();
    let gw = on_redis(&redis).await;
    let base = gw.serve().await;
    let photo = read_fixture("media/photo-2h-before.jpg");
    redis.kill();
    let body = Multipart::new()
        .json("report", &report_json())
        .file("media", "a.jpg", "image/jpeg", &photo)
        .file(
            "media",
            "b.png",
            "image/png",
            &read_fixture("media/photo-2h-before.png"),
        )
        .finish();
    let resp = post(&base, body).await;
    assert_eq!(resp.status(), 503);
    assert!(
        staged(&staging(&gw)).is_empty(),
        "{:?}",
        staged(&staging(&gw))
    );
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A citizen's mail with two photos attached, as a phone's mail app writes it.
fn mail_with_two_photos() -> Vec<u8> {
    let part = |name: &str, bytes: &[u8]| {
        let b64 = base64(bytes);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "--b\r\nContent-Type: image/jpeg; name=\"{name}\"\r\n\
             Content-Disposition: attachment; filename=\"{name}\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            lines.join("\r\n")
        )
    };
    let photo = read_fixture("media/photo-2h-before.jpg");
    let other = read_fixture("media/photo-3d-before.jpg");
    format!(
        "From: =?UTF-8?Q?Tr=E1=BA=A7n_V=C4=83n_B=C3=ACnh?= <binh.tran@example.vn>\r\n\
         To: 1022@longan.gov.vn\r\n\
         Subject: =?UTF-8?Q?=E1=BB=94_g=C3=A0_=C4=91=C6=B0=E1=BB=9Dng_H=C3=B9ng_V=C6=B0=C6=A1ng?=\r\n\
         Message-ID: <staging-retry-1@example.vn>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\n\
         Content-Type: text/plain; charset=UTF-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         Đường Hùng Vương đoạn trước chợ có ổ gà rất lớn, tối qua có người đi xe máy bị té. \
         Gửi kèm 2 ảnh chụp hiện trường.\r\n\
         Địa chỉ: 12 Hùng Vương, Phường 1, Tân An.\r\n\
         Điện thoại: 0912 345 678\r\n\r\n\
         {}{}--b--\r\n",
        part("o-ga-1.jpg", &photo),
        part("o-ga-2.jpg", &other)
    )
    .into_bytes()
}

#[tokio::test]
async fn an_email_retried_while_the_store_is_down_does_not_multiply_staged_files() {
    let mut redis = RedisServer::start();
    let port = redis.port;
    let gw = on_redis(&redis).await;
    let tmp = staging(&gw);
    let pipeline = gw.state.pipeline.clone();
    let processor = gw.email_processor();
    let raw = Bytes::from(mail_with_two_photos());
    redis.kill();
    for attempt in 1..=3 {
        let d = processor.handle(raw.clone(), "imap:INBOX:1:7").await;
        assert_eq!(d, Disposition::Retry, "attempt {attempt}");
        assert!(
            staged(&tmp).is_empty(),
            "attempt {attempt}: {:?}",
            staged(&tmp)
        );
    }
    // The store is back: the next retry stores the report with both photos, nothing staged.
    let _revived = Revived::on(port);
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        match processor.handle(raw.clone(), "imap:INBOX:1:7").await {
            Disposition::Processed => break,
            d => assert!(Instant::now() < until, "never stored: {d:?}"),
        }
        assert!(staged(&tmp).is_empty(), "{:?}", staged(&tmp));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(staged(&tmp).is_empty(), "{:?}", staged(&tmp));
    let entries = pipeline
        .claim(REPORTS_STREAM, "staging-test", 10, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    let report: normalizers::report::Report = serde_json::from_slice(&entries[0].payload).unwrap();
    assert_eq!(report.attachments.len(), 2);
}

#[tokio::test]
async fn a_failure_staging_one_medium_deletes_the_files_handed_over_with_it() {
    // A channel hands over two downloaded files and a third that vanished: the pipeline owns
    // all of them from the call, so none stays behind.
    let gw = InProcess::start(|_| {}).await;
    let tmp = staging(&gw);
    let pipeline = gw.state.pipeline.clone();
    let a = tmp.join("download-a.part");
    let b = tmp.join("download-b.part");
    std::fs::write(&a, read_fixture("media/photo-2h-before.jpg")).unwrap();
    std::fs::write(&b, read_fixture("media/photo-2h-before.png")).unwrap();
    let file = |p: &Path| MediaInput {
        file_name: None,
        claimed_type: None,
        source: MediaSource::File(p.to_path_buf()),
        sent_at: None,
        vouched_capture: None,
    };
    let report = gateway_report(&pipeline);
    let submission = Submission {
        dedup_key: "test:vanished".into(),
        raw: Bytes::from_static(b"{}"),
        report,
        media: vec![file(&tmp.join("gone.part")), file(&a), file(&b)],
        origin: Origin::Api {
            client: "test".into(),
        },
    };
    let result = Intake::ingest(&*pipeline, submission).await;
    assert!(result.is_err());
    assert!(staged(&tmp).is_empty(), "{:?}", staged(&tmp));
}

fn gateway_report(pipeline: &gateway::pipeline::Pipeline) -> normalizers::report::Report {
    let envelope = normalizers::report::Envelope {
        id: String::new(),
        tracking_code: String::new(),
        channel: normalizers::report::Channel::App,
        channel_ref: None,
        received_at: pipeline.now(),
    };
    let sub: normalizers::app::AppSubmission = serde_json::from_value(report_json()).unwrap();
    normalizers::app::normalize(envelope, &sub)
}

/// The mini-app endpoint over the real pipeline on Redis, against the fake Zalo.
struct MiniApp {
    fake: crate::support::fake_zalo::FakeZalo,
    gateway: InProcess,
    base: String,
    _shutdown: channels::CancellationToken,
}

impl MiniApp {
    async fn start(redis: &RedisServer) -> MiniApp {
        use channels::zalo::{self, ZaloChannel, ZaloConfig};
        let fake = crate::support::fake_zalo::FakeZalo::start().await;
        let gateway = on_redis(redis).await;
        let pipeline = gateway.state.pipeline.clone();
        let config: ZaloConfig =
            serde_json::from_value(fake.zalo_section()).expect("the fake's settings");
        let shutdown = channels::CancellationToken::new();
        let ctx = channels::ChannelContext {
            intake: pipeline.clone(),
            store: pipeline.channel_store(Duration::from_secs(5)),
            instance_id: "staging-test".into(),
            shutdown: shutdown.clone(),
            staging: pipeline.staging_dir(),
            validation: pipeline.validation().clone(),
        };
        let channel = ZaloChannel::new(config, &ctx).expect("zalo channel builds");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = zalo::router(channel);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        MiniApp {
            fake,
            gateway,
            base: format!("http://{addr}/v1/zalo/miniapp/reports"),
            _shutdown: shutdown,
        }
    }
}

fn miniapp_form(token_first: Option<&str>) -> reqwest::multipart::Form {
    use reqwest::multipart::{Form, Part};
    let report = serde_json::json!({
        "content": "Nắp cống trước nhà số 45 đường Nguyễn Huệ bị vỡ, trẻ em đi học dễ sụp chân.",
        "address": "45 Nguyễn Huệ, phường Long An",
    });
    let mut form = Form::new();
    if let Some(t) = token_first {
        form = form.text("access_token", t.to_string());
    }
    form.text("report", report.to_string())
        .part(
            "camera",
            Part::bytes(read_fixture("media/photo-2h-before.jpg"))
                .file_name("camera-1.jpg")
                .mime_str("image/jpeg")
                .unwrap(),
        )
        .part(
            "media",
            Part::bytes(read_fixture("media/photo-2h-before.png"))
                .file_name("IMG_3312.png")
                .mime_str("image/png")
                .unwrap(),
        )
}

#[tokio::test]
async fn the_miniapp_stages_nothing_it_does_not_store() {
    let mut redis = RedisServer::start();
    let m = MiniApp::start(&redis).await;
    m.fake.add_miniapp_user("ma-token", "Z900", "Phan Thị Ngọc");
    let tmp = staging(&m.gateway);
    let http = reqwest::Client::new();
    let send = |form| http.post(&m.base).multipart(form).send();

    // A token Zalo refuses: 401, and no file was ever written.
    let resp = send(miniapp_form(Some("forged"))).await.unwrap();
    assert_eq!(resp.status(), 401);
    assert!(staged(&tmp).is_empty(), "{:?}", staged(&tmp));
    // The files before the token: 400.
    let late_token = miniapp_form(None).text("access_token", "ma-token");
    let resp = send(late_token).await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(staged(&tmp).is_empty(), "{:?}", staged(&tmp));
    // Stored: the files moved into storage, none left staged.
    let resp = send(miniapp_form(Some("ma-token"))).await.unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    assert!(staged(&tmp).is_empty(), "{:?}", staged(&tmp));
    // The store down after the files were staged: 503, and they are gone.
    redis.kill();
    let resp = http
        .post(&m.base)
        .header("Idempotency-Key", "mini-down")
        .multipart(miniapp_form(Some("ma-token")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert!(staged(&tmp).is_empty(), "{:?}", staged(&tmp));
}
