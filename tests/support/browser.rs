//! Headless Chromium driven over WebDriver (Debian `chromium` + `chromium-driver`): a small
//! client of the W3C WebDriver protocol (JSON over HTTP, with the tests' `reqwest`), enough to
//! load pages, type, click, run a script, resize and take screenshots.
//!
//! Availability: `./tests/run` installs both packages and sets `BROWSER_TESTS=required`,
//! so there a missing driver FAILS the test. Run outside `./tests/run` (a developer's
//! `cargo test`) without the packages, a browser test prints why and skips.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

/// The key under which WebDriver returns an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where the screenshots go (not committed): `target/screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("screenshots")
}

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in names {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
}

/// A page element.
#[derive(Debug, Clone)]
pub struct El(String);

impl Browser {
    /// Start chromedriver and a headless Chromium session whose viewport is `width`×`height`.
    /// `None` (with a message on stderr) when the browser is not installed and not required.
    pub async fn start(width: u32, height: u32) -> Option<Browser> {
        let required = std::env::var("BROWSER_TESTS").as_deref() == Ok("required");
        let driver = find_program(&["chromedriver"]);
        let chromium = find_program(&["chromium", "chromium-browser"]);
        let (Some(driver), Some(chromium)) = (driver, chromium) else {
            assert!(
                !required,
                "BROWSER_TESTS=required but chromium/chromedriver are not installed \
                 (apt-get install chromium chromium-driver)"
            );
            eprintln!(
                "skipped: no chromium/chromedriver on PATH (apt-get install chromium \
                 chromium-driver; ./tests/run installs them and makes this test required)"
            );
            return None;
        };
        let port = super::free_port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(res) = http.get(format!("{base}/status")).send().await {
                if res.status().is_success() {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--hide-scrollbars", "--lang=vi-VN",
                    format!("--window-size={width},{height}"),
                ],
            },
        }}});
        let mut browser = Browser {
            driver: child,
            base,
            session: String::new(),
            http,
        };
        let res = browser.raw("POST", "/session", Some(caps)).await;
        browser.session = res["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {res}"))
            .to_string();
        browser.set_viewport(width, height).await;
        Some(browser)
    }

    async fn raw(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body.unwrap_or_else(|| json!({}))),
        };
        let res = req.send().await.expect("WebDriver answers");
        let v: Value = res.json().await.expect("WebDriver answers JSON");
        v["value"].clone()
    }

    /// A command of this session; panics on a WebDriver error.
    async fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let v = self
            .raw(method, &format!("/session/{}{path}", self.session), body)
            .await;
        if let Some(err) = v.get("error") {
            panic!("WebDriver {method} {path}: {err}: {}", v["message"]);
        }
        v
    }

    /// Resize the window so that the page's viewport is `width`×`height` CSS pixels.
    pub async fn set_viewport(&self, width: u32, height: u32) {
        for _ in 0..3 {
            let inner = self
                .script("return [window.innerWidth, window.innerHeight];", json!([]))
                .await;
            let (iw, ih) = (
                inner[0].as_i64().unwrap_or(0),
                inner[1].as_i64().unwrap_or(0),
            );
            if iw == i64::from(width) && ih == i64::from(height) {
                return;
            }
            let rect = self.cmd("GET", "/window/rect", None).await;
            let ow = rect["width"].as_i64().unwrap_or(0);
            let oh = rect["height"].as_i64().unwrap_or(0);
            let (w, h) = if iw == 0 {
                (i64::from(width), i64::from(height))
            } else {
                (ow + i64::from(width) - iw, oh + i64::from(height) - ih)
            };
            self.cmd(
                "POST",
                "/window/rect",
                Some(json!({"width": w, "height": h})),
            )
            .await;
        }
    }

    pub async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url }))).await;
    }

    pub async fn url(&self) -> String {
        self.cmd("GET", "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub async fn find(&self, css: &str) -> Option<El> {
        let v = self
            .raw(
                "POST",
                &format!("/session/{}/element", self.session),
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v.get(ELEMENT).and_then(Value::as_str).map(|s| El(s.into()))
    }

    /// The element, waiting up to `timeout` for it to exist.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> El {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(el) = self.find(css).await {
                return el;
            }
            assert!(Instant::now() < deadline, "no element {css}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Wait until the script returns true.
    pub async fn wait_until(&self, what: &str, script: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.script(script, json!([])).await == Value::Bool(true) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what} ({script})"
            );
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    pub async fn type_into(&self, el: &El, text: &str) {
        self.cmd(
            "POST",
            &format!("/element/{}/value", el.0),
            Some(json!({ "text": text })),
        )
        .await;
    }

    pub async fn clear(&self, el: &El) {
        self.cmd("POST", &format!("/element/{}/clear", el.0), None)
            .await;
    }

    pub async fn click(&self, el: &El) {
        self.cmd("POST", &format!("/element/{}/click", el.0), None)
            .await;
    }

    pub async fn text(&self, el: &El) -> String {
        self.cmd("GET", &format!("/element/{}/text", el.0), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub async fn script(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// A PNG of the viewport, or of the whole page when `full_page` (the window is made as tall
    /// as the page for the shot, then restored).
    pub async fn screenshot(&self, name: &str, full_page: bool) -> PathBuf {
        let (w, h) = {
            let v = self
                .script("return [window.innerWidth, window.innerHeight];", json!([]))
                .await;
            (
                v[0].as_u64().unwrap_or(390) as u32,
                v[1].as_u64().unwrap_or(844) as u32,
            )
        };
        if full_page {
            let full = self
                .script(
                    "return Math.ceil(document.documentElement.scrollHeight);",
                    json!([]),
                )
                .await
                .as_u64()
                .unwrap_or(u64::from(h)) as u32;
            self.set_viewport(w, full.max(h)).await;
        }
        let b64 = self.cmd("GET", "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().expect("a base64 screenshot"))
            .expect("base64");
        if full_page {
            self.set_viewport(w, h).await;
        }
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// End the session (Chromium exits), then chromedriver.
    pub async fn quit(self) {
        drop(self);
    }
}

impl Drop for Browser {
    /// Also on a failed test: the session is deleted first (with a plain blocking request, as
    /// drop cannot await) so that Chromium exits with it, then chromedriver is stopped.
    fn drop(&mut self) {
        use std::io::{Read, Write};
        let addr = self.base.trim_start_matches("http://").to_string();
        if let Ok(mut s) = std::net::TcpStream::connect(&addr) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(
                s,
                "DELETE /session/{} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.session
            );
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
