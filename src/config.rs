//! Configuration: one TOML file (`--config`), every key overridable by environment variables.
//!
//! Environment names: `GATEWAY_LISTEN`, `GATEWAY_DATA_DIR`, `GATEWAY_REDIS_URL`,
//! `GATEWAY_API_KEYS` (`role:key,role:key`), `GATEWAY_CLOCK_START`; the email channel's
//! `GATEWAY_IMAP_*`, `GATEWAY_SMTP_*`, `GATEWAY_MAIL_FROM` (keys of `[email]`); the Zalo channel's
//! `GATEWAY_ZALO_*` (keys of `[zalo]`); any other key as `GATEWAY_SECTION__KEY`
//! (e.g. `GATEWAY_LIMITS__MAX_FILES=5`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use channels::email::EmailConfig;
use channels::zalo::ZaloConfig;
use chrono::{DateTime, Utc};
use figment::providers::{Env, Format, Toml};
use figment::Figment;
use normalizers::secret::Secret;
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
    /// A password may sit in the URL: the whole value is a secret.
    pub redis_url: Option<Secret>,
    /// Redis durability and memory bounds (`[redis]`); unused on the embedded queue.
    pub redis: RedisConfig,
    /// API keys with their roles. Empty: `serve` generates one per role in `data_dir`.
    pub api_keys: ApiKeys,
    /// Start the clock at this instant instead of the system time (replays, tests).
    pub clock_start: Option<DateTime<Utc>>,
    /// Identifier of this instance among several sharing one Redis (default: the host name).
    pub instance_id: Option<String>,
    pub limits: Limits,
    pub queue: QueueConfig,
    pub validation: ValidationConfig,
    /// Duplicate detection and the identity pepper (`[duplicates]`, Đ7.3).
    pub duplicates: normalizers::duplicate::DuplicateConfig,
    pub geo: GeoConfig,
    /// Intake rate limits per sender, source address and API client (`[rate_limits]`, R-SEC-4).
    pub rate_limits: crate::ratelimit::RateLimitConfig,
    /// Bounds of the heavy media work: perceptual hashes, public copies (`[heavy_work]`).
    pub heavy_work: crate::heavy::HeavyWorkConfig,
    /// Log format: `text` or `json`.
    pub log_format: LogFormat,
    /// When set, `GET /metrics` requires `Authorization: Bearer <metrics_key>`
    /// (`GATEWAY_METRICS_KEY`).
    pub metrics_key: Option<Secret>,
    /// The email channel (`[email]`, `GATEWAY_IMAP_*`, `GATEWAY_SMTP_*`, `GATEWAY_MAIL_FROM`);
    /// none when neither the file nor the environment has any of its keys.
    pub email: Option<EmailConfig>,
    /// The Zalo channels (`[zalo]`, `GATEWAY_ZALO_*`).
    pub zalo: Option<ZaloConfig>,
    /// Holiday files over the shipped working-hours calendar (`[calendar]`, R-SLA-1).
    pub calendar: crate::trail::CalendarConfig,
    /// The public tracking lookup (`[track]`, R-MSG-TRACK).
    pub track: crate::trail::TrackConfig,
    /// The citizens' web form, its one-time codes and public checks (`[portal]`, R-CH-PORTAL).
    pub portal: crate::otp::PortalConfig,
    /// The "Long An Số" app's bearer tokens (`[app_tokens]`, Đ6.4).
    pub app_tokens: crate::apptoken::AppTokenConfig,
    /// The IOC's messages to the citizen (`[messages]`, R-MSG-IOC): the app backend's webhook.
    pub messages: crate::conversation::MessagesConfig,
    /// The IOC's web console at `/console` (`[console]`): its accounts and sessions.
    pub console: crate::http::console::ConsoleConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            redis_url: None,
            redis: RedisConfig::default(),
            api_keys: ApiKeys::default(),
            clock_start: None,
            instance_id: None,
            limits: Limits::default(),
            queue: QueueConfig::default(),
            validation: ValidationConfig::default(),
            duplicates: normalizers::duplicate::DuplicateConfig::default(),
            geo: GeoConfig::default(),
            rate_limits: crate::ratelimit::RateLimitConfig::default(),
            heavy_work: crate::heavy::HeavyWorkConfig::default(),
            log_format: LogFormat::Text,
            metrics_key: None,
            email: None,
            zalo: None,
            calendar: Default::default(),
            track: Default::default(),
            portal: Default::default(),
            app_tokens: Default::default(),
            messages: Default::default(),
            console: Default::default(),
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
    /// A request (a slow or endless upload included) is answered 408 after this many seconds;
    /// what it staged is deleted.
    pub request_timeout_secs: u64,
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
            request_timeout_secs: 600,
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
    /// An entry of a channel's own stream (`zalo:events`, `outbound:*`) claimed by an instance
    /// and not acknowledged within this many seconds is handed out again: how long the events
    /// of a conversation wait after an instance died holding one (`zalo.order_gap_secs` should
    /// be at least twice this).
    pub channel_claim_timeout_secs: u64,
    /// How long an Idempotency-Key is remembered. Email de-duplication bindings never expire:
    /// a message can be read again as long as the mailbox keeps it.
    pub idempotency_ttl_hours: u64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            claim_timeout_secs: 300,
            channel_claim_timeout_secs: 60,
            idempotency_ttl_hours: 24 * 7,
        }
    }
}

/// What a write to Redis must reach before the gateway acknowledges a report to a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// The Redis host answered the write (its own persistence: `appendfsync`).
    Write,
    /// Every append is followed by `WAIT wait_replicas wait_timeout_ms`; fewer replicas reached
    /// is a failure: nothing acknowledged, the channel retries (the API answers 503).
    Replicas,
}

/// `[redis]`: durability of acknowledged reports and the memory bound of Redis.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    pub durability: Durability,
    /// Replicas that must have every append (`durability = "replicas"`).
    pub wait_replicas: u32,
    /// How long an append waits for them.
    pub wait_timeout_ms: u64,
    /// Acknowledged stream entries older than this are trimmed (`XTRIM MINID`); entries still
    /// pending or not yet delivered to a group are never trimmed. 0: never trim. The append
    /// markers (`gw:{stream}:enqueued:<report id>`: a retried commit never queues a report
    /// twice) expire after this or `queue.idempotency_ttl_hours`, whichever is longer; with 0
    /// they are kept as long as the entries.
    pub stream_retention_hours: u64,
    /// Report documents are written through to `data_dir/reports/` (0600) and expire from Redis
    /// after this; `GET /v1/reports/{id}` reads the archive after that. 0: keep them in Redis
    /// for ever (and no archive).
    pub report_retention_days: u64,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            durability: Durability::Write,
            wait_replicas: 1,
            wait_timeout_ms: 1000,
            stream_retention_hours: 7 * 24,
            report_retention_days: 30,
        }
    }
}

impl RedisConfig {
    /// What is wrong with these settings, as `gateway check-config` shows it.
    pub fn problems(&self) -> Vec<channels::ConfigProblem> {
        let mut out = Vec::new();
        if self.durability == Durability::Replicas {
            if self.wait_replicas == 0 {
                out.push(channels::ConfigProblem::error(
                    "redis.wait_replicas",
                    channels::Problem::Invalid(
                        "must be at least 1 with durability = \"replicas\"".into(),
                    ),
                ));
            }
            if self.wait_timeout_ms == 0 {
                out.push(channels::ConfigProblem::error(
                    "redis.wait_timeout_ms",
                    channels::Problem::Invalid(
                        "must be above 0: WAIT 0 would block an append for ever".into(),
                    ),
                ));
            }
        }
        out
    }

    /// The archive of report documents, when reports expire from Redis.
    pub fn report_archive(&self, data_dir: &Path) -> Option<PathBuf> {
        (self.report_retention_days > 0).then(|| data_dir.join("reports"))
    }

    /// These settings as the Redis store takes them; `idempotency_window` is
    /// `queue.idempotency_ttl_hours`, which the append markers outlive.
    pub fn store_options(
        &self,
        data_dir: &Path,
        idempotency_window: std::time::Duration,
    ) -> crate::store::RedisOptions {
        const HOUR: u64 = 3600;
        let stream_retention = std::time::Duration::from_secs(self.stream_retention_hours * HOUR);
        crate::store::RedisOptions {
            // A repeated commit (same report id) comes within the idempotency window; an entry
            // lives in its stream at least the retention. Never trimmed: markers kept too.
            marker_ttl: (self.stream_retention_hours > 0)
                .then(|| stream_retention.max(idempotency_window)),
            wait: (self.durability == Durability::Replicas).then(|| {
                (
                    self.wait_replicas,
                    std::time::Duration::from_millis(self.wait_timeout_ms),
                )
            }),
            stream_retention: (self.stream_retention_hours > 0).then_some(stream_retention),
            archive: self
                .report_archive(data_dir)
                .map(|dir| crate::store::ReportArchive {
                    dir,
                    redis_ttl: std::time::Duration::from_secs(
                        self.report_retention_days * 24 * HOUR,
                    ),
                }),
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
    /// A handling agency (cơ quan xử lý, Đ10): sees only the reports forwarded to the agency named
    /// with its key, accepts and answers them (`/v1/agency/…`).
    Agency,
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "submit" => Ok(Role::Submit),
            "ioc" => Ok(Role::Ioc),
            "agency" => Ok(Role::Agency),
            other => Err(format!(
                "unknown role `{other}` (expected submit, ioc or agency)"
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub role: Role,
    pub key: Secret,
    /// The agency of an `agency` key, exactly as the IOC names it when forwarding (compared
    /// without regard to case, spacing or Unicode form); required with that role, refused with
    /// the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency: Option<String>,
}

impl ApiKey {
    /// An agency key names its agency; the other roles name none.
    fn check(&self) -> Result<(), String> {
        let named = self.agency.as_deref().is_some_and(|a| !a.trim().is_empty());
        match (self.role, named) {
            (Role::Agency, false) => {
                Err("an agency API key needs the agency's name (`agency = \"…\"`)".into())
            }
            (Role::Submit | Role::Ioc, true) => {
                Err("only agency API keys name an agency".to_string())
            }
            _ => Ok(()),
        }
    }
}

/// API keys, written in TOML as a list of `{role, key}` (`{role = "agency", key, agency}` for an
/// agency) or, as in `GATEWAY_API_KEYS`, as `"role:key,role:key"` (an agency as
/// `agency=<name>:key`, the name without `,`, `:` or `=`).
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
            Repr::List(keys) => {
                for k in &keys {
                    k.check().map_err(serde::de::Error::custom)?;
                }
                Ok(ApiKeys(keys))
            }
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
        let (role, agency) = match role.split_once('=') {
            Some((role, agency)) => (role, Some(agency.trim().to_string())),
            None => (role, None),
        };
        if key.len() < 16 {
            return Err(format!(
                "the {role} API key is too short (at least 16 characters)"
            ));
        }
        let k = ApiKey {
            role: role.parse()?,
            key: Secret::new(key),
            agency,
        };
        k.check()?;
        keys.push(k);
    }
    Ok(ApiKeys(keys))
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {path} does not exist")]
    Missing { path: PathBuf },
    #[error("invalid configuration: {0}")]
    Invalid(Box<figment::Error>),
    /// A channel key given by the environment that its channel's configuration does not accept.
    #[error("invalid configuration: {key} (from the environment): {source}")]
    ChannelEnv {
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("invalid configuration: [{section}]: {source}")]
    ChannelSection {
        section: &'static str,
        #[source]
        source: serde_json::Error,
    },
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
        let mut channel_env = std::collections::BTreeMap::new();
        for (name, value) in std::env::vars() {
            if let Some(key) = name.strip_prefix("GATEWAY_") {
                let key = key.to_ascii_lowercase();
                if is_channel_key(&key) {
                    channel_env.insert(env_key(&key), value);
                }
            }
        }
        config.email = channel_section(&figment, "email", &channel_env)?;
        config.zalo = channel_section(&figment, "zalo", &channel_env)?;
        Ok(config)
    }

    pub fn media_dir(&self) -> PathBuf {
        self.data_dir.join("media")
    }
}

/// Name of the generated identity pepper in the data folder.
pub const PEPPER_FILE: &str = "identity-pepper";

/// Why the identity pepper could not be settled.
#[derive(Debug, thiserror::Error)]
pub enum PepperError {
    /// Several instances share a Redis: a pepper generated by one would not be the others'.
    #[error(
        "duplicates.identity_pepper (GATEWAY_DUPLICATES__IDENTITY_PEPPER) must be set when the \
         queue is on Redis: every instance keys reporter identities with the same secret \
         (generate one with `openssl rand -hex 32`)"
    )]
    RedisWithoutPepper,
    #[error("cannot read or write the identity pepper {path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Config {
    /// Whether the queue is on Redis.
    pub fn uses_redis(&self) -> bool {
        self.redis_url.as_ref().is_some_and(|u| !u.is_empty())
    }

    /// The identity pepper keys the reporter digests (block list, same-reporter rule): without
    /// one, a digest of a phone number is reversed by hashing every number. The configured one
    /// wins; on Redis one must be configured; on the embedded store one is generated on first
    /// start into `data_dir/identity-pepper` (0600), as the API keys are. Returns the file
    /// when it is the one used.
    pub fn ensure_identity_pepper(&mut self) -> Result<Option<PathBuf>, PepperError> {
        if !self.duplicates.identity_pepper.is_empty() {
            return Ok(None);
        }
        if self.uses_redis() {
            return Err(PepperError::RedisWithoutPepper);
        }
        let path = self.data_dir.join(PEPPER_FILE);
        let file_error = |source| PepperError::File {
            path: path.clone(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) if !text.trim().is_empty() => {
                self.duplicates.identity_pepper = Secret::new(text.trim());
                return Ok(Some(path));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(file_error(e)),
        }
        if self.data_dir.join("queue.redb").exists() {
            tracing::warn!(
                "generating an identity pepper for a data folder already in use: block list \
                 entries and duplicate fingerprints recorded without one no longer match; \
                 block those senders again"
            );
        }
        let pepper = {
            use rand::Rng;
            // ThreadRng is a CSPRNG seeded from the operating system.
            let bytes: [u8; 32] = rand::rng().random();
            hex::encode(bytes)
        };
        std::fs::create_dir_all(&self.data_dir).map_err(file_error)?;
        write_private_file(&path, pepper.as_bytes()).map_err(file_error)?;
        self.duplicates.identity_pepper = Secret::new(pepper);
        Ok(Some(path))
    }
}

/// Write `bytes` to `path` readable by the gateway's user only (0600), whole or not at all:
/// a temporary file, flushed, renamed over `path`, the folder flushed.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Files and folders the gateway creates are its user's only: umask 0077 for the process (the
/// redb file, media, raw originals, staged downloads), the data folder 0700, and the secrets
/// and queue already there set to 0600 (a data folder from an older version).
pub fn restrict_permissions(data_dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
        std::fs::create_dir_all(data_dir)?;
        std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))?;
        for name in ["queue.redb", "api-keys.toml", PEPPER_FILE] {
            let path = data_dir.join(name);
            if path.exists() {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
            }
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(data_dir)?;
    Ok(())
}

/// A channel's section: its table in the file with the environment's `section.key` values over
/// it. An environment value is raw text; it is given to the channel's own configuration as text
/// first (ids longer than 2^53, numeric passwords and user names stay exact), and only when that
/// field refuses text, as a number, then as a boolean. None when neither source has the section.
fn channel_section<T: serde::de::DeserializeOwned>(
    figment: &Figment,
    section: &'static str,
    env: &std::collections::BTreeMap<String, String>,
) -> Result<Option<T>, ConfigError> {
    let table = match figment.find_value(section) {
        Ok(value) => Some(
            value
                .deserialize::<serde_json::Value>()
                .map_err(|e| ConfigError::Invalid(Box::new(e)))?,
        ),
        Err(_) => None,
    };
    let prefix = format!("{section}.");
    let overrides: Vec<(&str, &str)> = env
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(&prefix)?, v.as_str())))
        .collect();
    with_overrides(section, table, &overrides)
}

fn with_overrides<T: serde::de::DeserializeOwned>(
    section: &'static str,
    table: Option<serde_json::Value>,
    overrides: &[(&str, &str)],
) -> Result<Option<T>, ConfigError> {
    if table.is_none() && overrides.is_empty() {
        return Ok(None);
    }
    let mut fields = match table {
        Some(serde_json::Value::Object(fields)) => fields,
        None => serde_json::Map::new(),
        Some(_) => {
            return Err(ConfigError::ChannelSection {
                section,
                source: serde::de::Error::custom("must be a table"),
            })
        }
    };
    for (field, raw) in overrides {
        let accepts = |candidate: &serde_json::Value| {
            let mut trial = fields.clone();
            trial.insert(field.to_string(), candidate.clone());
            serde_json::from_value::<T>(serde_json::Value::Object(trial))
        };
        let text = serde_json::Value::String(raw.to_string());
        let refusal = match accepts(&text) {
            Ok(_) => {
                fields.insert(field.to_string(), text);
                continue;
            }
            Err(e) => e,
        };
        let number = raw
            .trim()
            .parse::<serde_json::Number>()
            .ok()
            .map(serde_json::Value::Number);
        let boolean = match raw.trim() {
            "true" | "1" | "yes" => Some(serde_json::Value::Bool(true)),
            "false" | "0" | "no" => Some(serde_json::Value::Bool(false)),
            _ => None,
        };
        // The last refusal is the most telling: `70000` for a port is out of range, not text.
        let mut refusal = refusal;
        let mut typed = None;
        for candidate in [number, boolean].into_iter().flatten() {
            match accepts(&candidate) {
                Ok(_) => {
                    typed = Some(candidate);
                    break;
                }
                Err(e) => refusal = e,
            }
        }
        let typed = typed.ok_or_else(|| ConfigError::ChannelEnv {
            key: format!("{section}.{field}"),
            source: refusal,
        })?;
        fields.insert(field.to_string(), typed);
    }
    serde_json::from_value(serde_json::Value::Object(fields))
        .map(Some)
        .map_err(|source| ConfigError::ChannelSection { section, source })
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
        let keys = parse_api_keys("agency=UBND phường Long An:abcdefghijklmnop1234").unwrap();
        assert_eq!(keys.0[0].role, Role::Agency);
        assert_eq!(keys.0[0].agency.as_deref(), Some("UBND phường Long An"));
        assert!(parse_api_keys("agency:abcdefghijklmnop1234").is_err());
        assert!(parse_api_keys("ioc=UBND:abcdefghijklmnop1234").is_err());
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
        assert_eq!(
            config.rate_limits,
            crate::ratelimit::RateLimitConfig::default(),
            "the example documents the default limits"
        );
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

    /// The error with its causes.
    fn error_text(e: &ConfigError) -> String {
        channels::intake::error_chain(e)
    }

    #[test]
    fn channel_values_from_the_environment_are_typed_like_the_channel_wants() {
        let zalo: ZaloConfig = with_overrides(
            "zalo",
            None,
            &[
                ("app_id", "360846524940903967"),
                ("media_timeout_secs", "30"),
            ],
        )
        .unwrap()
        .unwrap();
        assert_eq!(zalo.app_id, "360846524940903967", "ids stay text");
        assert_eq!(zalo.media_timeout_secs, 30);
        let email: EmailConfig = with_overrides(
            "email",
            Some(serde_json::json!({"imap_host": "imap"})),
            &[
                ("imap_port", "993"),
                ("imap_user", "1022"),
                ("imap_password", "0123456"),
            ],
        )
        .unwrap()
        .unwrap();
        assert_eq!(email.imap_host.as_deref(), Some("imap"));
        assert_eq!(email.imap_port, Some(993));
        assert_eq!(email.imap_user, "1022", "a numeric user name stays text");
        assert_eq!(
            email.imap_password.as_ref().map(Secret::expose),
            Some("0123456")
        );
        let err =
            with_overrides::<EmailConfig>("email", None, &[("imap_port", "imaps")]).unwrap_err();
        assert!(err.to_string().contains("email.imap_port"), "{err}");
        // A number out of range is said to be out of range, not to be text.
        let err =
            with_overrides::<EmailConfig>("email", None, &[("imap_port", "70000")]).unwrap_err();
        assert!(
            error_text(&err).contains("70000") && !error_text(&err).contains("string"),
            "{}",
            error_text(&err)
        );
        assert!(
            with_overrides::<EmailConfig>("email", None, &[])
                .unwrap()
                .is_none(),
            "no section, no channel"
        );
    }

    #[test]
    fn redis_settings_are_checked_and_mapped_to_store_options() {
        let mut r = RedisConfig::default();
        assert!(r.problems().is_empty());
        let hours = |h: u64| std::time::Duration::from_secs(h * 3600);
        let o = r.store_options(Path::new("/data"), hours(24));
        assert!(o.wait.is_none(), "durability = write: no WAIT");
        assert_eq!(o.stream_retention, Some(hours(7 * 24)));
        assert_eq!(
            o.marker_ttl,
            Some(hours(7 * 24)),
            "the retention, the longer"
        );
        let o = r.store_options(Path::new("/data"), hours(30 * 24));
        assert_eq!(o.marker_ttl, Some(hours(30 * 24)), "the window, the longer");
        assert_eq!(
            o.archive.map(|a| a.dir),
            Some(PathBuf::from("/data/reports"))
        );
        r.durability = Durability::Replicas;
        r.wait_replicas = 0;
        r.wait_timeout_ms = 0;
        let keys: Vec<String> = r.problems().into_iter().map(|p| p.key).collect();
        assert_eq!(keys, ["redis.wait_replicas", "redis.wait_timeout_ms"]);
        r.wait_replicas = 2;
        r.wait_timeout_ms = 500;
        r.stream_retention_hours = 0;
        r.report_retention_days = 0;
        let o = r.store_options(Path::new("/data"), hours(24));
        assert_eq!(o.wait, Some((2, std::time::Duration::from_millis(500))));
        assert!(o.stream_retention.is_none() && o.archive.is_none());
        assert!(
            o.marker_ttl.is_none(),
            "entries never trimmed: markers kept"
        );
    }
}

impl Config {
    /// What is wrong with `[portal]` and with the SMTP settings of `[email]` its one-time codes
    /// are sent with, as `gateway check-config` shows it. Errors are what `serve` refuses or
    /// what makes the form unusable (a limit of 0 refuses every code or check); warnings what
    /// works but not as a citizen would expect (no way to send codes, a code living for hours).
    pub fn portal_problems(&self) -> Vec<channels::ConfigProblem> {
        use channels::{ConfigProblem, Problem};
        let p = &self.portal;
        let mut out = Vec::new();
        if !p.enabled {
            if p.sms.is_some() {
                out.push(ConfigProblem::warning(
                    "portal.sms",
                    Problem::Invalid("set while portal.enabled = false: not used".into()),
                ));
            }
            return out;
        }
        for (key, value, what) in [
            ("portal.otp_ttl_secs", p.otp_ttl_secs, "no code could ever be entered"),
            (
                "portal.otp_max_attempts",
                u64::from(p.otp_max_attempts),
                "every code would be refused",
            ),
            (
                "portal.otp_per_contact_per_hour",
                u64::from(p.otp_per_contact_per_hour),
                "no code could be sent to any address",
            ),
            (
                "portal.otp_per_source_per_hour",
                u64::from(p.otp_per_source_per_hour),
                "no code could be requested from any address",
            ),
            (
                "portal.verified_ttl_secs",
                p.verified_ttl_secs,
                "a confirmed contact would expire before the report is sent",
            ),
            (
                "portal.checks_per_minute",
                u64::from(p.checks_per_minute),
                "the form's description hint, photo check and place suggestions would all be refused",
            ),
        ] {
            if value == 0 {
                out.push(ConfigProblem::error(
                    key,
                    Problem::Invalid(format!("must be at least 1: {what}")),
                ));
            }
        }
        if (1..60).contains(&p.otp_ttl_secs) {
            out.push(ConfigProblem::warning(
                "portal.otp_ttl_secs",
                Problem::Invalid(format!(
                    "{} s is too short to read the email and type the code (600 is the default)",
                    p.otp_ttl_secs
                )),
            ));
        } else if p.otp_ttl_secs > 3600 {
            out.push(ConfigProblem::warning(
                "portal.otp_ttl_secs",
                Problem::Invalid(format!(
                    "a code valid for {} minutes stays usable long after it is needed (600 s is the default)",
                    p.otp_ttl_secs / 60
                )),
            ));
        }
        if p.otp_max_attempts > 10 {
            out.push(ConfigProblem::warning(
                "portal.otp_max_attempts",
                Problem::Invalid(format!(
                    "{} guesses per code make a 6-digit code easier to guess (5 is the default)",
                    p.otp_max_attempts
                )),
            ));
        }
        if p.otp_per_source_per_hour > 0 && p.otp_per_source_per_hour < p.otp_per_contact_per_hour {
            out.push(ConfigProblem::warning(
                "portal.otp_per_source_per_hour",
                Problem::Invalid(format!(
                    "below portal.otp_per_contact_per_hour ({}): one address can never use the per-contact allowance",
                    p.otp_per_contact_per_hour
                )),
            ));
        }
        if (1..300).contains(&p.verified_ttl_secs) {
            out.push(ConfigProblem::warning(
                "portal.verified_ttl_secs",
                Problem::Invalid(format!(
                    "{} s may end before the citizen finishes the form (the report is then refused as `verification_stale`)",
                    p.verified_ttl_secs
                )),
            ));
        }
        let smtp = self
            .email
            .as_ref()
            .filter(|e| e.smtp_host.as_deref().is_some_and(|h| !h.trim().is_empty()));
        match smtp {
            None => out.push(ConfigProblem::warning(
                "email.smtp_host",
                Problem::Missing(
                    "the portal is enabled but no SMTP server (GATEWAY_SMTP_HOST) sends its \
                     one-time codes: no reporter can confirm an email address and every portal \
                     report waits for review (set portal.enabled = false to serve no form)",
                ),
            )),
            // With IMAP configured, the email channel's own problems cover these settings.
            Some(email) if !email.enabled() => {
                if !normalizers::contact::is_valid_email(&email.mail_from)
                    || email.mail_from.parse::<lettre::message::Mailbox>().is_err()
                {
                    out.push(ConfigProblem::error(
                        "email.mail_from",
                        Problem::Invalid(format!(
                            "{:?} is not an email address: the portal's codes are sent from it and `serve` refuses to start",
                            email.mail_from
                        )),
                    ));
                }
                if let Err(e) = email.smtp_password() {
                    out.push(e.into());
                }
            }
            Some(_) => {}
        }
        if let Some(sms) = &p.sms {
            out.push(ConfigProblem::warning(
                "portal.sms",
                Problem::Invalid(format!(
                    "provider {:?}: no SMS provider adapter is built into this gateway, phone numbers cannot be confirmed by a code (see otp::CodeSender)",
                    sms.provider
                )),
            ));
        }
        out
    }
}
