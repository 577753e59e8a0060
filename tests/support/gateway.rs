//! The gateway under test: in process (router, or a real socket), or as a child process that a
//! test can kill and restart.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use gateway::config::{parse_api_keys, Config};
use gateway::http::{self, AppState};

pub const SUBMIT_KEY: &str = "submit-key-0123456789abcdef";
pub const IOC_KEY: &str = "ioc-key-0123456789abcdef0123";

/// A configuration on a temp data folder with known keys and the fixtures' clock.
pub fn test_config(data_dir: &Path) -> Config {
    Config {
        data_dir: data_dir.to_path_buf(),
        api_keys: parse_api_keys(&format!("submit:{SUBMIT_KEY},ioc:{IOC_KEY}")).unwrap(),
        clock_start: Some(super::TEST_NOW.parse().unwrap()),
        // Tests submit the same reporter many times; `tests/ratelimit.rs` turns them on.
        rate_limits: gateway::ratelimit::RateLimitConfig {
            enabled: false,
            ..Default::default()
        },
        ..Config::default()
    }
}

/// A gateway in this process.
pub struct InProcess {
    pub state: AppState,
    pub dir: tempfile::TempDir,
}

/// The email processor of a test: the real pipeline as intake and store, no replies sent.
pub type TestEmailProcessor = channels::email::Processor<
    gateway::pipeline::Pipeline,
    gateway::store::ChannelStore,
    gateway::store::ChannelStore,
>;

impl InProcess {
    /// The email channel's processor over this gateway's pipeline (default options, replies off).
    pub fn email_processor(&self) -> TestEmailProcessor {
        let pipeline = self.state.pipeline.clone();
        let store = pipeline.channel_store(Duration::from_secs(5));
        channels::email::Processor {
            intake: pipeline,
            streams: store.clone(),
            state: store,
            options: Default::default(),
            reply_rate_per_hour: 10,
            reply_global_rate_per_hour: 600,
            send_replies: false,
            stats: Default::default(),
        }
    }

    pub async fn start(adjust: impl FnOnce(&mut Config)) -> InProcess {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path());
        adjust(&mut config);
        let gw = gateway::server::build(config)
            .await
            .expect("gateway builds");
        InProcess {
            state: gw.state,
            dir,
        }
    }

    pub fn router(&self) -> axum::Router {
        http::app(self.state.clone())
    }

    /// Serve on a real socket; returns the base URL.
    pub async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = self.router();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        format!("http://{addr}")
    }
}

/// The `gateway serve` binary as a child process.
pub struct Process {
    pub base: String,
    pub port: u16,
    pub data_dir: PathBuf,
    envs: Vec<(String, String)>,
    child: Option<Child>,
    pub log: PathBuf,
}

impl Process {
    /// Start `gateway serve` on a free port with `data_dir` and extra environment.
    pub fn start(data_dir: &Path, envs: &[(&str, &str)]) -> Process {
        let port = super::free_port();
        let mut p = Process {
            base: format!("http://127.0.0.1:{port}"),
            port,
            data_dir: data_dir.to_path_buf(),
            envs: envs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            child: None,
            log: data_dir.join(format!("gateway-{port}.log")),
        };
        p.spawn();
        p
    }

    fn spawn(&mut self) {
        std::fs::create_dir_all(&self.data_dir).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gateway"));
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GATEWAY_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("GATEWAY_DATA_DIR", &self.data_dir)
            .env(
                "GATEWAY_API_KEYS",
                format!("submit:{SUBMIT_KEY},ioc:{IOC_KEY}"),
            )
            .env("GATEWAY_CLOCK_START", super::TEST_NOW)
            .env("GATEWAY_LOG", "info")
            // Tests submit the same reporter many times; `tests/ratelimit.rs` turns them on.
            .env("GATEWAY_RATE_LIMITS__ENABLED", "false")
            // Both streams in the log: a test may scan everything the gateway printed.
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("the gateway binary starts"));
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "the gateway exited at start ({status}); log:\n{}",
                        std::fs::read_to_string(&self.log).unwrap_or_default()
                    );
                }
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        panic!(
            "the gateway did not listen within 30 s; log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// SIGKILL: no graceful shutdown, no flush.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // The port must be free before a restart binds it again.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline
            && std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait for the process to exit on its own (a failpoint aborted it).
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(_)) = child.try_wait() {
                    self.child = None;
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Start again with the same data folder, with `envs` replacing the extra environment.
    pub fn restart(&mut self, envs: &[(&str, &str)]) {
        self.kill();
        self.envs = envs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.spawn();
    }

    /// The process id of the running gateway (a restart changes it).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An HTTP client for the tests.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// `GET url` without credentials; panics when the request cannot be sent.
pub async fn get(url: impl reqwest::IntoUrl) -> reqwest::Response {
    client().get(url).send().await.unwrap()
}

/// `GET url` with a bearer key; panics when the request cannot be sent.
pub async fn get_with(url: impl reqwest::IntoUrl, key: &str) -> reqwest::Response {
    client().get(url).bearer_auth(key).send().await.unwrap()
}

/// One IOC step of a report's trail: its status and JSON answer (`Null` when not JSON).
pub async fn trail_step(
    base: &str,
    id: &str,
    body: serde_json::Value,
) -> (reqwest::StatusCode, serde_json::Value) {
    let res = client()
        .post(format!("{base}/v1/reports/{id}/status"))
        .bearer_auth(IOC_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(serde_json::Value::Null))
}

/// One request to the in-process gateway's router under `key` (with an `Idempotency-Key` when
/// given, and `body` as (content type, bytes)): its status and JSON body (`Null` when not JSON).
pub async fn call(
    gw: &InProcess,
    method: &str,
    uri: &str,
    key: &str,
    body: Option<(String, Vec<u8>)>,
    idempotency_key: Option<&str>,
) -> (axum::http::StatusCode, serde_json::Value) {
    use tower::ServiceExt;

    let mut req = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {key}"));
    if let Some(k) = idempotency_key {
        req = req.header("idempotency-key", k);
    }
    let req = match body {
        Some((ct, bytes)) => req
            .header("content-type", ct)
            .body(axum::body::Body::from(bytes)),
        None => req.body(axum::body::Body::empty()),
    }
    .unwrap();
    let res = gw.router().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}
