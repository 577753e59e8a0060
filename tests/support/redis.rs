//! A throwaway Redis on a free port, stopped when dropped; also a replica of another one.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        Self::start_attempt(&[], 0)
    }

    /// A replica of `master`, returned once its link to the master is up.
    pub fn start_replica_of(master: &RedisServer) -> RedisServer {
        let port = master.port.to_string();
        let replica = Self::start_attempt(&["--replicaof", "127.0.0.1", &port], 0);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if replica.info().contains("master_link_status:up") {
                return replica;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the replica did not sync: {}", replica.info());
    }

    /// `INFO replication`, as text.
    pub fn info(&self) -> String {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return String::new();
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        if s.write_all(b"INFO replication\r\n").is_err() {
            return String::new();
        }
        let mut buf = vec![0u8; 8192];
        let n = s.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    fn start_attempt(extra: &[&str], attempt: u32) -> RedisServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = super::free_port();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .args(extra)
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "redis-server is not installed: run the README's test command, which installs it",
            );
        let mut server = RedisServer {
            port,
            child,
            _dir: dir,
        };
        if server.wait_ready() {
            return server;
        }
        server.kill();
        assert!(attempt < 5, "could not start redis-server");
        Self::start_attempt(extra, attempt + 1)
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                use std::io::{Read, Write};
                let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                if s.write_all(b"PING\r\n").is_ok() {
                    let mut buf = [0u8; 7];
                    if s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n" {
                        return true;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Stop the server and start a new one on the same port (data is not kept: `--save ''`).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
