//! A throwaway Dovecot 2.3 (IMAP, IMAPS, IDLE) on free loopback ports, in a temp folder, with
//! users `gateway` and `citizen` (password `secret`). Installed from Debian when missing (as
//! root). Stopped and wiped on drop.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use channels::email::{imap, EmailConfig, TlsMode};

use super::free_port;

pub const PASSWORD: &str = "secret";

pub struct Dovecot {
    pub dir: PathBuf,
    pub imap_port: u16,
    pub imaps_port: u16,
    /// Self-signed server certificate (CN/SAN localhost, 127.0.0.1), for `imap_ca_file`.
    pub cert: PathBuf,
    conf: PathBuf,
    _tmp: tempfile::TempDir,
}

fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn ensure_installed() {
    let present =
        Path::new("/usr/sbin/dovecot").exists() && Path::new("/usr/lib/dovecot/imap").exists();
    if present {
        return;
    }
    assert!(
        is_root(),
        "Dovecot is not installed: apt-get install dovecot-imapd (needs root)"
    );
    let status = Command::new("sh")
        .arg("-c")
        .arg("export DEBIAN_FRONTEND=noninteractive; (apt-get install -y -qq --no-install-recommends dovecot-imapd || (apt-get update -qq && apt-get install -y -qq --no-install-recommends dovecot-imapd)) >/dev/null")
        .status()
        .expect("apt-get runs");
    assert!(status.success(), "installing dovecot-imapd failed");
}

const CONF: &str = r#"protocols = imap
listen = 127.0.0.1
# A restart must drop logged-in sessions too, as a real server restart does.
shutdown_clients = yes
instance_name = gwtest-@IMAP_PORT@
base_dir = @DIR@/run
state_dir = @DIR@/state
log_path = @DIR@/log/dovecot.log
info_log_path = @DIR@/log/dovecot.log
default_internal_user = @RUNUSER@
default_internal_group = @RUNGROUP@
default_login_user = @RUNUSER@
first_valid_uid = 1
last_valid_uid = 0
disable_plaintext_auth = no
auth_mechanisms = plain login
ssl = yes
ssl_cert = <@DIR@/tls/cert.pem
ssl_key = <@DIR@/tls/key.pem
ssl_min_protocol = TLSv1.2
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u @DIR@/users
}
userdb {
  driver = static
  args = uid=@MAILUSER@ gid=@MAILGROUP@ home=@DIR@/mail/%u
}
mail_location = maildir:~/Maildir
mail_fsync = never
namespace inbox {
  inbox = yes
  separator = /
}
protocol imap {
  imap_idle_notify_interval = 1 mins
}
service anvil {
  chroot =
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = @IMAP_PORT@
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = @IMAPS_PORT@
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    port = 0
  }
  inet_listener pop3s {
    port = 0
  }
}
service submission-login {
  inet_listener submission {
    port = 0
  }
}
"#;

impl Dovecot {
    pub fn start() -> Dovecot {
        ensure_installed();
        let tmp = tempfile::Builder::new()
            .prefix("gw-dovecot-")
            .tempdir()
            .expect("temp dir");
        let dir = tmp.path().to_path_buf();
        for sub in ["run", "state", "log", "tls", "mail"] {
            std::fs::create_dir_all(dir.join(sub)).expect("dovecot dirs");
        }
        let root = is_root();
        let run = |cmd: &str| {
            let ok = Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "failed: {cmd}");
        };
        run(&format!("chmod 755 {}", dir.display()));
        run(&format!(
            "openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=localhost \
             -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
             -addext 'basicConstraints=critical,CA:FALSE' -addext 'extendedKeyUsage=serverAuth' \
             -keyout {d}/tls/key.pem -out {d}/tls/cert.pem 2>/dev/null",
            d = dir.display()
        ));
        std::fs::write(
            dir.join("users"),
            format!("gateway:{{PLAIN}}{PASSWORD}\ncitizen:{{PLAIN}}{PASSWORD}\n"),
        )
        .expect("users file");
        let (run_user, run_group, mail_user, mail_group) = if root {
            run(&format!("chmod 640 {d}/users && chgrp dovecot {d}/users && chown -R nobody:nogroup {d}/mail", d = dir.display()));
            (
                "dovecot".to_string(),
                "dovecot".to_string(),
                "nobody".to_string(),
                "nogroup".to_string(),
            )
        } else {
            let user = String::from_utf8_lossy(
                &Command::new("id").arg("-un").output().expect("id").stdout,
            )
            .trim()
            .to_string();
            let group = String::from_utf8_lossy(
                &Command::new("id").arg("-gn").output().expect("id").stdout,
            )
            .trim()
            .to_string();
            (user.clone(), group.clone(), user, group)
        };
        let imap_port = free_port();
        let imaps_port = free_port();
        let conf_text = CONF
            .replace("@DIR@", &dir.display().to_string())
            .replace("@RUNUSER@", &run_user)
            .replace("@RUNGROUP@", &run_group)
            .replace("@MAILUSER@", &mail_user)
            .replace("@MAILGROUP@", &mail_group)
            .replace("@IMAP_PORT@", &imap_port.to_string())
            .replace("@IMAPS_PORT@", &imaps_port.to_string());
        let conf = dir.join("dovecot.conf");
        std::fs::write(&conf, conf_text).expect("dovecot.conf");
        let d = Dovecot {
            cert: dir.join("tls/cert.pem"),
            dir,
            imap_port,
            imaps_port,
            conf,
            _tmp: tmp,
        };
        d.launch();
        d
    }

    fn launch(&self) {
        let status = Command::new("dovecot")
            .arg("-c")
            .arg(&self.conf)
            .status()
            .expect("dovecot runs");
        assert!(
            status.success(),
            "dovecot did not start: {}",
            self.log_tail()
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while !port_open(self.imap_port) || !port_open(self.imaps_port) {
            assert!(
                Instant::now() < deadline,
                "dovecot did not listen: {}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stop the server and wait until its ports are closed (exited daemons may linger as
    /// zombies here, so the port is what counts).
    pub fn stop(&self) {
        // Sessions already logged in are served by child processes of the master. Where PID 1
        // does not reap (this sandbox) they can outlive `doveadm stop`; a real restart ends
        // them, so they are ended here too, by their pids.
        let children = self.master_pid().map(children_of).unwrap_or_default();
        let _ = Command::new("doveadm")
            .arg("-c")
            .arg(&self.conf)
            .arg("stop")
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while port_open(self.imap_port) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if port_open(self.imap_port) {
            if let Some(pid) = self.master_pid() {
                let _ = Command::new("kill").arg(pid.to_string()).status();
            }
        }
        for pid in children {
            let _ = Command::new("kill")
                .arg("-9")
                .arg(pid.to_string())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }

    fn master_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.join("run/master.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Stop and start again on the same ports with the same mail.
    pub fn restart(&self) {
        self.stop();
        self.launch();
    }

    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("log/dovecot.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Channel settings for the `gateway` user over `tls`.
    pub fn email_config(&self, tls: TlsMode) -> EmailConfig {
        EmailConfig {
            imap_host: Some(
                if tls == TlsMode::None {
                    "127.0.0.1"
                } else {
                    "localhost"
                }
                .into(),
            ),
            imap_port: Some(if tls == TlsMode::Implicit {
                self.imaps_port
            } else {
                self.imap_port
            }),
            imap_tls: tls,
            imap_user: "gateway".into(),
            imap_password: Some(PASSWORD.into()),
            imap_ca_file: Some(self.cert.clone()),
            ..EmailConfig::default()
        }
    }

    async fn session(&self, user: &str) -> imap::ImapSession {
        let mut config = self.email_config(TlsMode::None);
        config.imap_user = user.into();
        let tls = channels::email::tls::client_config(None, "imap_ca_file").expect("tls config");
        imap::connect(&config, PASSWORD, tls)
            .await
            .expect("test IMAP login")
    }

    /// Deliver `raw` into `user`'s `mailbox` (IMAP APPEND).
    pub async fn append(&self, user: &str, mailbox: &str, raw: &[u8]) {
        let mut s = self.session(user).await;
        s.append(mailbox, None, None, raw).await.expect("APPEND");
        let _ = s.logout().await;
    }

    /// Messages in `user`'s `mailbox`; 0 when it does not exist.
    pub async fn count(&self, user: &str, mailbox: &str) -> u32 {
        let mut s = self.session(user).await;
        let n = s
            .status(mailbox, "(MESSAGES)")
            .await
            .map(|m| m.exists)
            .unwrap_or(0);
        let _ = s.logout().await;
        n
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Pids whose parent is `parent` (from /proc).
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    // "pid (comm) state ppid …": comm may contain spaces, so split after ')'.
                    let after = stat.rsplit_once(')')?.1;
                    after.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(parent)
        })
        .collect()
}
