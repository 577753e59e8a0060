//! `[email]` configuration. Field names are flat so that each maps to one environment variable:
//! `GATEWAY_IMAP_HOST` → `imap_host`, `GATEWAY_SMTP_TLS` → `smtp_tls`, `GATEWAY_MAIL_FROM` →
//! `mail_from`, and so on.

use std::path::PathBuf;
use std::time::Duration;

use normalizers::secret::Secret;
use serde::{Deserialize, Serialize};

use crate::context::{ConfigProblem, Problem};

/// How the connection to a mail server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Implicit,
    /// Plain connection upgraded with STARTTLS (IMAP 143, submission 587); the upgrade is required.
    Starttls,
    /// No TLS at all: only for a server on loopback or inside a trusted network.
    None,
}

/// Settings of the email channel. The channel is enabled when `imap_host` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailConfig {
    /// IMAP server (`GATEWAY_IMAP_HOST`). Unset: the email channel is off.
    pub imap_host: Option<String>,
    /// IMAP port (`GATEWAY_IMAP_PORT`); default 993 for `implicit`, 143 otherwise.
    pub imap_port: Option<u16>,
    /// `implicit` | `starttls` | `none` (`GATEWAY_IMAP_TLS`).
    pub imap_tls: TlsMode,
    /// Login (`GATEWAY_IMAP_USER`).
    pub imap_user: String,
    /// Password (`GATEWAY_IMAP_PASSWORD`); prefer `imap_password_file`.
    pub imap_password: Option<Secret>,
    /// File holding the password (a container secret); trailing newline ignored.
    pub imap_password_file: Option<PathBuf>,
    /// PEM file with an extra trusted certificate or CA (`GATEWAY_IMAP_CA_FILE`), added to the
    /// Mozilla roots: for a provincial server with its own CA.
    pub imap_ca_file: Option<PathBuf>,
    /// Mailbox the citizens' mail arrives in.
    pub mailbox: String,
    /// Where a message goes once its report is durable and queued (or its rejection recorded).
    pub processed_folder: String,
    /// Where a message that cannot be processed goes (never re-fetched, never lost).
    pub failed_folder: String,
    /// Seconds between polls when the server has no IDLE.
    pub poll_interval_secs: u64,
    /// Longest IDLE before it is renewed (also bounds how long a lost connection goes unnoticed).
    pub idle_timeout_secs: u64,
    /// Lease of the single poller across gateway instances; renewed well before it expires.
    pub lease_ttl_secs: u64,
    /// Messages larger than this go to the failed folder unread (R-PIPE-4).
    pub max_message_bytes: u32,
    /// authserv-id of the receiving MTA whose `Authentication-Results` are trusted
    /// (`mx.longan.gov.vn`). Unset: every sender is REPORTER_UNVERIFIED.
    pub trusted_authserv_id: Option<String>,
    /// Replies per address and hour; more are not sent (mail loops, abuse).
    pub reply_rate_per_hour: u32,
    /// Replies per hour to all addresses together, counted in the shared state store so that
    /// every instance agrees; more are not sent (a flood of forged senders cannot make the
    /// gateway mail many third parties).
    pub reply_global_rate_per_hour: u32,
    /// SMTP server for replies (`GATEWAY_SMTP_HOST`). Unset: no replies are sent (they wait in
    /// the outbox).
    pub smtp_host: Option<String>,
    /// SMTP port (`GATEWAY_SMTP_PORT`); default 465 for `implicit`, 587 for `starttls`, 25 otherwise.
    pub smtp_port: Option<u16>,
    /// `implicit` | `starttls` | `none` (`GATEWAY_SMTP_TLS`).
    pub smtp_tls: TlsMode,
    /// SMTP login (`GATEWAY_SMTP_USER`); none: no authentication.
    pub smtp_user: Option<String>,
    /// SMTP password (`GATEWAY_SMTP_PASSWORD`).
    pub smtp_password: Option<Secret>,
    pub smtp_password_file: Option<PathBuf>,
    /// PEM file with an extra trusted certificate for the SMTP server.
    pub smtp_ca_file: Option<PathBuf>,
    /// Sender of replies (`GATEWAY_MAIL_FROM`), also the address whose own mail is never answered.
    pub mail_from: String,
    /// Delivery attempts of one reply before it is given up (logged and counted).
    pub smtp_max_attempts: u32,
    /// Longest pause between delivery attempts while the SMTP server fails.
    pub smtp_max_backoff_secs: u64,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            imap_host: None,
            imap_port: None,
            imap_tls: TlsMode::Implicit,
            imap_user: String::new(),
            imap_password: None,
            imap_password_file: None,
            imap_ca_file: None,
            mailbox: "INBOX".into(),
            processed_folder: "Processed".into(),
            failed_folder: "Failed".into(),
            poll_interval_secs: 60,
            idle_timeout_secs: 300,
            lease_ttl_secs: 120,
            max_message_bytes: 40 * 1024 * 1024,
            trusted_authserv_id: None,
            reply_rate_per_hour: 10,
            reply_global_rate_per_hour: 600,
            smtp_host: None,
            smtp_port: None,
            smtp_tls: TlsMode::Starttls,
            smtp_user: None,
            smtp_password: None,
            smtp_password_file: None,
            smtp_ca_file: None,
            mail_from: "1022@longan.gov.vn".into(),
            smtp_max_attempts: 12,
            smtp_max_backoff_secs: 300,
        }
    }
}

/// A setting that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("email.{field}: {problem}")]
    Invalid {
        field: &'static str,
        problem: String,
    },
    #[error("email.{field}: cannot read {path}: {source}")]
    Unreadable {
        field: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl EmailConfig {
    pub fn enabled(&self) -> bool {
        self.imap_host
            .as_deref()
            .is_some_and(|h| !h.trim().is_empty())
    }

    pub fn imap_port(&self) -> u16 {
        self.imap_port.unwrap_or(match self.imap_tls {
            TlsMode::Implicit => 993,
            _ => 143,
        })
    }

    pub fn smtp_port(&self) -> u16 {
        self.smtp_port.unwrap_or(match self.smtp_tls {
            TlsMode::Implicit => 465,
            TlsMode::Starttls => 587,
            TlsMode::None => 25,
        })
    }

    pub fn idle_timeout(&self) -> Duration {
        // The lease must outlive one IDLE round, or another instance takes over mid-IDLE.
        let cap = self.lease_ttl_secs.saturating_div(3).max(1);
        Duration::from_secs(self.idle_timeout_secs.clamp(1, cap))
    }

    /// The IMAP password from `imap_password_file`, else `imap_password`.
    pub fn imap_password(&self) -> Result<Secret, ConfigError> {
        secret(
            "imap_password_file",
            self.imap_password_file.as_ref(),
            self.imap_password.as_ref(),
        )
    }

    pub fn smtp_password(&self) -> Result<Option<Secret>, ConfigError> {
        if self.smtp_password_file.is_none() && self.smtp_password.is_none() {
            return Ok(None);
        }
        secret(
            "smtp_password_file",
            self.smtp_password_file.as_ref(),
            self.smtp_password.as_ref(),
        )
        .map(Some)
    }

    /// What can be checked without connecting; every problem here is an error.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut out = Vec::new();
        if !self.enabled() {
            return out;
        }
        if self.imap_user.trim().is_empty() {
            out.push(ConfigProblem::error(
                "email.imap_user",
                Problem::Missing("required when imap_host is set"),
            ));
        }
        if let Err(e) = self.imap_password() {
            out.push(e.into());
        }
        if let Err(e) = self.smtp_password() {
            out.push(e.into());
        }
        if !normalizers::contact::is_valid_email(&self.mail_from) {
            out.push(ConfigProblem::error(
                "email.mail_from",
                Problem::Invalid("not an email address".into()),
            ));
        }
        for (field, name) in [
            ("mailbox", &self.mailbox),
            ("processed_folder", &self.processed_folder),
            ("failed_folder", &self.failed_folder),
        ] {
            if name.trim().is_empty() || name.contains(['"', '\r', '\n']) {
                out.push(ConfigProblem::error(
                    format!("email.{field}"),
                    Problem::Invalid("empty or contains quotes or line breaks".into()),
                ));
            }
        }
        out
    }
}

impl From<ConfigError> for ConfigProblem {
    fn from(e: ConfigError) -> ConfigProblem {
        match e {
            ConfigError::Invalid { field, problem } => {
                ConfigProblem::error(format!("email.{field}"), Problem::Invalid(problem))
            }
            ConfigError::Unreadable {
                field,
                path,
                source,
            } => ConfigProblem::error(
                format!("email.{field}"),
                Problem::Unreadable { path, source },
            ),
        }
    }
}

fn secret(
    field: &'static str,
    file: Option<&PathBuf>,
    inline: Option<&Secret>,
) -> Result<Secret, ConfigError> {
    if let Some(path) = file {
        let s = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
            field,
            path: path.clone(),
            source,
        })?;
        return Ok(Secret::new(s.trim_end_matches(['\r', '\n'])));
    }
    inline.cloned().ok_or(ConfigError::Invalid {
        field,
        problem: "no password given (set the password or the password file)".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_style_flat_keys_deserialise() {
        let cfg: EmailConfig = serde_json::from_value(serde_json::json!({
            "imap_host": "imap.longan.gov.vn",
            "imap_tls": "starttls",
            "imap_user": "1022",
            "imap_password": "0123456",
            "smtp_tls": "none",
            "smtp_port": 2525
        }))
        .expect("valid config");
        assert!(cfg.enabled());
        assert_eq!(cfg.imap_port(), 143);
        assert_eq!(cfg.smtp_port(), 2525);
        assert_eq!(cfg.mailbox, "INBOX");
        assert!(cfg.problems().is_empty());
        assert_eq!(cfg.imap_password().unwrap().expose(), "0123456");
        assert!(!format!("{cfg:?}").contains("0123456"));
    }

    #[test]
    fn the_channel_is_off_without_a_host_and_needs_credentials_with_one() {
        assert!(!EmailConfig::default().enabled());
        let cfg = EmailConfig {
            imap_host: Some("imap".into()),
            imap_user: "u".into(),
            ..EmailConfig::default()
        };
        let problems = cfg.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].key, "email.imap_password_file");
        assert_eq!(problems[0].severity, crate::context::Severity::Error);
    }

    #[test]
    fn idle_never_outlasts_a_third_of_the_lease() {
        let cfg = EmailConfig {
            idle_timeout_secs: 600,
            lease_ttl_secs: 90,
            ..EmailConfig::default()
        };
        assert_eq!(cfg.idle_timeout(), Duration::from_secs(30));
    }
}
