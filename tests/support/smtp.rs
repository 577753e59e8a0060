//! A throwaway SMTP sink (aiosmtpd 1.4.6 from PyPI) on a free loopback port: every message it
//! receives is one file in its Maildir. The virtualenv lives in `target/test-venv` and is
//! created on first use (`python3 -m venv` + `pip install aiosmtpd==1.4.6`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;

pub struct SmtpSink {
    pub port: u16,
    pub maildir: PathBuf,
    child: Child,
    _tmp: tempfile::TempDir,
}

fn venv() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("test-venv")
}

fn ensure_aiosmtpd(venv: &Path) -> PathBuf {
    let python = venv.join("bin/python");
    let ready = || {
        Command::new(&python)
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ready() {
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(venv)
            .status()
            .is_ok_and(|s| s.success())
            && Command::new(venv.join("bin/pip"))
                .args(["install", "-q", "aiosmtpd==1.4.6"])
                .status()
                .is_ok_and(|s| s.success());
        assert!(
            ok && ready(),
            "could not install aiosmtpd into {}",
            venv.display()
        );
    }
    python
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        Self::start_on(free_port())
    }

    /// A sink on `port` (a restart of a stopped sink: the server "comes back" where the
    /// gateway expects it).
    pub fn start_on(port: u16) -> SmtpSink {
        let python = ensure_aiosmtpd(&venv());
        let tmp = tempfile::Builder::new()
            .prefix("gw-smtp-")
            .tempdir()
            .expect("temp dir");
        let maildir = tmp.path().join("Maildir");
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(maildir.join(sub)).expect("maildir");
        }
        let child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        SmtpSink {
            port,
            maildir,
            child,
            _tmp: tmp,
        }
    }

    /// Every message received so far, raw, in arrival order.
    pub fn messages(&self) -> Vec<Vec<u8>> {
        let mut files: Vec<(std::time::SystemTime, PathBuf)> =
            std::fs::read_dir(self.maildir.join("new"))
                .map(|rd| {
                    rd.filter_map(|e| e.ok())
                        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
                        .collect()
                })
                .unwrap_or_default();
        files.sort();
        files
            .into_iter()
            .filter_map(|(_, p)| std::fs::read(p).ok())
            .collect()
    }

    /// Wait until at least `n` messages arrived; returns them.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            let m = self.messages();
            if m.len() >= n || Instant::now() > deadline {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
