//! Configuration: one TOML file (`--config`), every key overridable by environment variables.
//!
//! Environment names: `GATEWAY_LISTEN`, `GATEWAY_DATA_DIR`, `GATEWAY_REDIS_URL`,
//! `GATEWAY_API_KEYS` (`role:key,role:key`), `GATEWAY_CLOCK_START`; the email channel's
//! `GATEWAY_IMAP_*`, `GATEWAY_SMTP_*`, `GATEWAY_MAIL_FROM` (keys of `[email]`); the Zalo channel's
//! `GATEWAY_ZALO_*` (keys of `[zalo]`); any other key as `GATEWAY_SECTION__KEY`
//! (e.g. `GATEWAY_LIMITS__MAX_FILES=5`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use figment::providers::{Env, Format, Toml};
use figment::Figment;
use normalizers::validate::ValidationConfig;
use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP API listens on.
    pub listen: SocketAddr,
    /// Folder of media, raw originals, the embedded queue and generated API keys.
    pub data_dir: PathBuf,
    /// Redis (or Valkey) URL; unset: the embedded queue in `data_dir`.
    pub redis_url: Option<String>,
    /// API keys with their roles. Empty: `serve` generates one per role in `data_dir`.
    pub api_keys: ApiKeys,
    /// Start the clock at this instant instead of the system time (replays, tests).
    pub clock_start: Option<DateTime<Utc>>,
    /// Identifier of this instance among several sharing one Redis (default: host name + pid).
    pub instance_id: Option<String>,
    pub limits: Limits,
    pub queue: QueueConfig,
    pub validation: ValidationConfig,
    /// Log format: `text` or `json`.
    pub log_format: LogFormat,
    /// The email channel (`[email]`): read by `channels::email`.
    pub email: Option<serde_json::Value>,
    /// The Zalo channels (`[zalo]`): read by `channels::zalo`.
    pub zalo: Option<serde_json::Value>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            redis_url: None,
            api_keys: ApiKeys::default(),
            clock_start: None,
            instance_id: None,
            limits: Limits::default(),
            queue: QueueConfig::default(),
            validation: ValidationConfig::default(),
            log_format: LogFormat::Text,
            email: None,
            zalo: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

/// Size bounds of submissions (R-PIPE-4). Past a bound the request is answered 413.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    pub photo_max_bytes: u64,
    pub audio_max_bytes: u64,
    pub video_max_bytes: u64,
    pub document_max_bytes: u64,
    /// Files per report.
    pub max_files: usize,
    /// The `report` JSON part.
    pub report_json_max_bytes: usize,
    /// The whole request body.
    pub request_max_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        const MB: u64 = 1_000_000;
        Limits {
            photo_max_bytes: 20 * MB,
            audio_max_bytes: 20 * MB,
            video_max_bytes: 200 * MB,
            document_max_bytes: 20 * MB,
            max_files: 10,
            report_json_max_bytes: 64 * 1024,
            request_max_bytes: 260 * MB,
        }
    }
}

impl Limits {
    pub fn max_for(&self, kind: normalizers::report::MediaKind) -> u64 {
        use normalizers::report::MediaKind::*;
        match kind {
            Photo => self.photo_max_bytes,
            Audio => self.audio_max_bytes,
            Video => self.video_max_bytes,
            Document => self.document_max_bytes,
        }
    }

    /// The largest any single file may be, before its kind is known.
    pub fn max_any(&self) -> u64 {
        self.photo_max_bytes
            .max(self.audio_max_bytes)
            .max(self.video_max_bytes)
            .max(self.document_max_bytes)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// An entry claimed by an IOC consumer and not acknowledged within this many seconds is
    /// handed out again (XAUTOCLAIM).
    pub claim_timeout_secs: u64,
    /// How long an Idempotency-Key is remembered.
    pub idempotency_ttl_hours: u64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            claim_timeout_secs: 300,
            idempotency_ttl_hours: 24 * 7,
        }
    }
}

/// Role of an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Submit reports (the app, the portal, Open311 clients).
    Submit,
    /// The IOC: claim and acknowledge the queue, read reports and media.
    Ioc,
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "submit" => Ok(Role::Submit),
            "ioc" => Ok(Role::Ioc),
            other => Err(format!("unknown role `{other}` (expected submit or ioc)")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub role: Role,
    pub key: String,
}

/// API keys, written in TOML as a list of `{role, key}` or, as in `GATEWAY_API_KEYS`, as
/// `"role:key,role:key"`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApiKeys(pub Vec<ApiKey>);

impl<'de> Deserialize<'de> for ApiKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Text(String),
            List(Vec<ApiKey>),
        }
        match Repr::deserialize(d)? {
            Repr::List(keys) => Ok(ApiKeys(keys)),
            Repr::Text(text) => parse_api_keys(&text).map_err(serde::de::Error::custom),
        }
    }
}

/// Parse `role:key,role:key`.
pub fn parse_api_keys(text: &str) -> Result<ApiKeys, String> {
    let mut keys = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (role, key) = item
            .split_once(':')
            .ok_or_else(|| "API keys are written role:key, separated by commas".to_string())?;
        let key = key.trim();
        if key.len() < 16 {
            return Err(format!(
                "the {role} API key is too short (at least 16 characters)"
            ));
        }
        keys.push(ApiKey {
            role: role.parse()?,
            key: key.to_string(),
        });
    }
    Ok(ApiKeys(keys))
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {path} does not exist")]
    Missing { path: PathBuf },
    #[error("invalid configuration: {0}")]
    Invalid(Box<figment::Error>),
}

/// Map an environment variable name (without `GATEWAY_`, lowercased) to its key path.
fn env_key(key: &str) -> String {
    if key.starts_with("imap_") || key.starts_with("smtp_") || key == "mail_from" {
        format!("email.{key}")
    } else if let Some(rest) = key.strip_prefix("zalo_") {
        format!("zalo.{rest}")
    } else {
        key.replace("__", ".")
    }
}

impl Config {
    /// Load `path` (if given) and the environment over it.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = path {
            if !path.exists() {
                return Err(ConfigError::Missing {
                    path: path.to_path_buf(),
                });
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(
            Env::prefixed("GATEWAY_")
                .ignore(&["api_keys"])
                .map(|k| env_key(&k.as_str().to_ascii_lowercase()).into()),
        );
        // API keys hold arbitrary characters: read them verbatim, not as a typed value.
        if let Ok(keys) = std::env::var("GATEWAY_API_KEYS") {
            figment = figment.merge(("api_keys", keys));
        }
        figment
            .extract()
            .map_err(|e| ConfigError::Invalid(Box::new(e)))
    }

    pub fn media_dir(&self) -> PathBuf {
        self.data_dir.join("media")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_of_the_contract_map_to_their_keys() {
        assert_eq!(env_key("imap_host"), "email.imap_host");
        assert_eq!(env_key("smtp_tls"), "email.smtp_tls");
        assert_eq!(env_key("mail_from"), "email.mail_from");
        assert_eq!(env_key("zalo_oa_secret_key"), "zalo.oa_secret_key");
        assert_eq!(env_key("limits__max_files"), "limits.max_files");
        assert_eq!(env_key("listen"), "listen");
    }

    #[test]
    fn api_keys_parse_from_the_env_form() {
        let keys = parse_api_keys("submit:abcdefghijklmnop1234, ioc:ZYXWVUTSRQPONMLK9876").unwrap();
        assert_eq!(keys.0.len(), 2);
        assert_eq!(keys.0[1].role, Role::Ioc);
        assert!(parse_api_keys("admin:abcdefghijklmnop1234").is_err());
        assert!(parse_api_keys("submit:short").is_err());
        assert!(parse_api_keys("nocolon").is_err());
    }

    #[test]
    fn defaults_follow_the_contract() {
        let c = Config::default();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert!(c.redis_url.is_none());
        assert_eq!(c.limits.max_files, 10);
        assert_eq!(c.limits.photo_max_bytes, 20_000_000);
        assert_eq!(c.limits.video_max_bytes, 200_000_000);
    }
}
