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
    /// Duplicate detection and the identity pepper (`[duplicates]`, Đ7.3).
    pub duplicates: normalizers::duplicate::DuplicateConfig,
    pub geo: GeoConfig,
    /// Log format: `text` or `json`.
    pub log_format: LogFormat,
    /// The email channel (`[email]`): read by `channels::email`.
    pub email: Option<serde_json::Value>,
    /// The Zalo channels (`[zalo]`): read by `channels::zalo`.
    pub zalo: Option<serde_json::Value>,
    /// Channel keys given by environment (`email.imap_host` → raw text), typed against the
    /// channel's own configuration when it is built (ids longer than 2^53, numeric passwords and
    /// user names must stay text).
    #[serde(skip)]
    pub channel_env: std::collections::BTreeMap<String, String>,
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
            duplicates: normalizers::duplicate::DuplicateConfig::default(),
            geo: GeoConfig::default(),
            log_format: LogFormat::Text,
            email: None,
            zalo: None,
            channel_env: Default::default(),
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

/// The gazetteer and boundary (R-VAL-LOC). Unset files: the data shipped with the gateway
/// (Long An before and after the 2025 reform). Set the four files together to replace it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GeoConfig {
    /// Pre-2025 units (TSV: province, district and commune codes and names).
    pub old_units: Option<PathBuf>,
    /// Post-2025 communes (TSV).
    pub new_units: Option<PathBuf>,
    /// Old → new mapping (TSV).
    pub old_to_new: Option<PathBuf>,
    /// Outline of the jurisdiction (GeoJSON).
    pub boundary: Option<PathBuf>,
    /// Optional outlines of the new communes (GeoJSON), to place a point in its commune.
    pub communes: Option<PathBuf>,
    /// Tolerance around the boundary, in metres (default 2000).
    pub margin_m: Option<f64>,
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

/// Environment keys (lowercase, without `GATEWAY_`) that belong to a channel section.
fn is_channel_key(key: &str) -> bool {
    key.starts_with("imap_")
        || key.starts_with("smtp_")
        || key == "mail_from"
        || key.starts_with("zalo_")
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
                .ignore(&["api_keys", "config", "log", "failpoint"])
                .filter(|k| !is_channel_key(&k.as_str().to_ascii_lowercase()))
                .map(|k| env_key(&k.as_str().to_ascii_lowercase()).into()),
        );
        // API keys hold arbitrary characters: read them verbatim, not as a typed value.
        if let Ok(keys) = std::env::var("GATEWAY_API_KEYS") {
            figment = figment.merge(("api_keys", keys));
        }
        let mut config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Invalid(Box::new(e)))?;
        for (name, value) in std::env::vars() {
            if let Some(key) = name.strip_prefix("GATEWAY_") {
                let key = key.to_ascii_lowercase();
                if is_channel_key(&key) {
                    config.channel_env.insert(env_key(&key), value);
                }
            }
        }
        Ok(config)
    }

    /// The `[section]` table of a channel with its environment overrides, each typed like the
    /// same key of `defaults` (the channel configuration's defaults serialised): numbers and
    /// booleans are parsed, everything else stays text.
    pub fn channel_section(
        &self,
        section: &str,
        defaults: &serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let table = match section {
            "email" => &self.email,
            "zalo" => &self.zalo,
            _ => &None,
        };
        let mut value = table.clone().unwrap_or_else(|| serde_json::json!({}));
        let Some(obj) = value.as_object_mut() else {
            return Err(format!("[{section}] must be a table"));
        };
        let prefix = format!("{section}.");
        for (key, raw) in &self.channel_env {
            let Some(field) = key.strip_prefix(&prefix) else {
                continue;
            };
            // Optional numbers default to null: their names say what they are.
            let numeric_name = ["_port", "_secs", "_bytes", "_attempts", "_per_hour", "_m"]
                .iter()
                .any(|suffix| field.ends_with(suffix));
            let expected = match defaults.get(field) {
                Some(serde_json::Value::Null) | None if numeric_name => {
                    Some(&serde_json::Value::Number(0.into()))
                }
                other => other,
            };
            let typed = match expected {
                Some(serde_json::Value::Number(_)) => raw
                    .trim()
                    .parse::<serde_json::Number>()
                    .map(serde_json::Value::Number)
                    .map_err(|_| format!("{section}.{field} must be a number, not `{raw}`"))?,
                Some(serde_json::Value::Bool(_)) => match raw.trim() {
                    "true" | "1" | "yes" => serde_json::Value::Bool(true),
                    "false" | "0" | "no" => serde_json::Value::Bool(false),
                    _ => {
                        return Err(format!(
                            "{section}.{field} must be true or false, not `{raw}`"
                        ))
                    }
                },
                _ => serde_json::Value::String(raw.clone()),
            };
            obj.insert(field.to_string(), typed);
        }
        Ok(value)
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

#[cfg(test)]
mod example_tests {
    use super::*;

    #[test]
    fn the_example_configuration_in_deploy_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/gateway.example.toml");
        let config = Config::load(Some(&path)).expect("deploy/gateway.example.toml is valid");
        assert_eq!(config.queue.claim_timeout_secs, 300);
        assert_eq!(config.limits.max_files, 10);
    }

    #[test]
    fn a_missing_file_is_a_clear_error() {
        let err = Config::load(Some(Path::new("/nonexistent/gateway.toml"))).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}

#[cfg(test)]
mod channel_env_tests {
    use super::*;

    #[test]
    fn channel_values_from_the_environment_are_typed_like_the_channel_wants() {
        let mut config = Config::default();
        for (k, v) in [
            ("zalo.app_id", "360846524940903967"),
            ("zalo.media_timeout_secs", "30"),
            ("email.imap_port", "993"),
            ("email.imap_user", "1022"),
            ("email.imap_password", "123456"),
        ] {
            config.channel_env.insert(k.into(), v.into());
        }
        let defaults = serde_json::json!({"app_id": "", "media_timeout_secs": 60});
        let zalo = config.channel_section("zalo", &defaults).unwrap();
        assert_eq!(zalo["app_id"], "360846524940903967", "ids stay text");
        assert_eq!(zalo["media_timeout_secs"], 30);
        let email = config
            .channel_section(
                "email",
                &serde_json::json!({"imap_port": null, "imap_user": null}),
            )
            .unwrap();
        assert_eq!(email["imap_port"], 993);
        assert_eq!(email["imap_user"], "1022", "a numeric user name stays text");
        assert_eq!(email["imap_password"], "123456");
        config
            .channel_env
            .insert("email.imap_port".into(), "imaps".into());
        let err = config
            .channel_section("email", &serde_json::json!({"imap_port": null}))
            .unwrap_err();
        assert!(err.contains("imap_port"), "{err}");
    }
}
