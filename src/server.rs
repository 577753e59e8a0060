//! `gateway serve`: build every component from the configuration and run until a signal.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use normalizers::geo::{Geo, GeoSources};
use rand::Rng;
use tokio::net::TcpListener;

use crate::clock::{SharedClock, StartedClock, SystemClock};
use crate::config::{ApiKey, ApiKeys, Config, Role};
use crate::http::{self, auth::KeyRing, AppState};
use crate::pipeline::Pipeline;
use crate::store::{BlobStore, ChannelStore, Store, GATEWAY_GROUP, IOC_GROUP, REPORTS_STREAM};
use channels::{ChannelConfig, ChannelContext, ChannelError, RunningChannel};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot prepare the data folder {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open media storage: {0}")]
    Blobs(#[from] crate::store::BlobError),
    #[error("cannot open the queue backend ({kind}): {source}")]
    Store {
        kind: &'static str,
        #[source]
        source: crate::store::StoreFailure,
    },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot load the gazetteer/boundary: {0}")]
    Geo(#[source] normalizers::geo::GeoError),
    #[error("geo.{0} must be set with the other geo files")]
    GeoIncomplete(&'static str),
    #[error("cannot read the geo file {path}: {source}")]
    GeoFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Channel(#[from] ChannelError),
    #[error("invalid rate_limits configuration: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    RateLimits(Vec<channels::ConfigProblem>),
    #[error("invalid configuration: {0}")]
    Config(#[source] channels::ConfigProblem),
    #[error(transparent)]
    Pepper(#[from] crate::config::PepperError),
    #[error("cannot load the working-hours calendar: {0}")]
    Calendar(#[from] crate::trail::CalendarLoadError),
    #[error("cannot set up the portal's one-time codes: {0}")]
    Portal(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("cannot build the app token verifier's HTTP client: {0}")]
    AppTokens(#[source] reqwest::Error),
    #[error("cannot write generated API keys to {path}: {source}")]
    Keys {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Everything `serve` builds, reusable by tests that run a gateway in-process.
pub struct Gateway {
    pub state: AppState,
    pub clock: SharedClock,
    pub instance_id: String,
}

pub fn clock_for(config: &Config) -> SharedClock {
    match config.clock_start {
        Some(start) => Arc::new(StartedClock::new(start)),
        None => Arc::new(SystemClock),
    }
}

/// Open storage and build the application state.
pub async fn build(config: Config) -> Result<Gateway, ServeError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| ServeError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    if let Some(problem) = config.heavy_work.problems().into_iter().next() {
        return Err(ServeError::Config(problem));
    }
    if let Some(problem) = config
        .app_tokens
        .problems()
        .into_iter()
        .find(|p| p.severity == channels::Severity::Error)
    {
        return Err(ServeError::Config(problem));
    }
    crate::heavy::configure(&config.heavy_work);
    let clock = clock_for(&config);
    let blobs = BlobStore::open(config.media_dir()).await?;
    blobs.sweep_staging(Duration::from_secs(24 * 3600)).await;
    let store = match &config.redis_url {
        Some(url) if !url.is_empty() => {
            let options = config.redis.store_options(
                &config.data_dir,
                Duration::from_secs(config.queue.idempotency_ttl_hours * 3600),
            );
            Store::redis_with(url.expose(), options)
                .await
                .map_err(|source| ServeError::Store {
                    kind: "redis",
                    source,
                })?
        }
        _ => Store::embedded(&config.data_dir.join("queue.redb"), clock.clone()).map_err(
            |source| ServeError::Store {
                kind: "embedded",
                source,
            },
        )?,
    };
    // The embedded store's lock makes the data folder this process's alone: an upload staged
    // by a run that was killed is an orphan. Instances on Redis may share a media folder: there
    // only the uploads whose names say their run stopped (this machine, process gone) are;
    // the 24-hour sweep above removes the others.
    let removed = if matches!(store, Store::Embedded(_)) {
        blobs.sweep_orphan_uploads().await
    } else {
        blobs.sweep_uploads_of_stopped_runs().await
    };
    if removed > 0 {
        tracing::info!(removed, "staged uploads of a stopped run removed");
    }
    store
        .ensure_groups(&consumer_groups(&config))
        .await
        .map_err(|source| ServeError::Store {
            kind: store.kind(),
            source,
        })?;
    let geo = load_geo(&config.geo)?;
    let calendar = crate::trail::load_calendar(&config.calendar)?;
    if let Some(date) = crate::trail::uncovered_date(&calendar, clock.now(), 60) {
        tracing::warn!(%date, "the working-hours calendar has no holiday file for this date within the next 60 days: add one to calendar.holiday_files, deadlines count Monday to Friday only");
    }
    let otp = crate::otp::Otp::new(
        store.clone(),
        clock.clone(),
        config.duplicates.identity_pepper.expose(),
        config.portal.clone(),
        code_senders(&config)?,
    );
    let pipeline = Pipeline::new(
        store,
        blobs,
        clock.clone(),
        geo,
        config.validation.clone(),
        config.duplicates.clone(),
        Duration::from_secs(config.queue.idempotency_ttl_hours * 3600),
        config.rate_limits.clone(),
        calendar,
    );
    if let Some(problem) = config
        .messages
        .problems()
        .into_iter()
        .find(|p| p.severity == channels::Severity::Error)
    {
        return Err(ServeError::Config(problem));
    }
    pipeline.conversations().configure(
        crate::conversation::Outboxes {
            email: config
                .email
                .as_ref()
                .is_some_and(|e| e.smtp_host.as_deref().is_some_and(|h| !h.trim().is_empty())),
            zalo: config.zalo.as_ref().is_some_and(|z| {
                use channels::ChannelConfig;
                z.configured()
            }),
        },
        crate::conversation::Webhook::from_config(&config.messages),
    );
    pipeline
        .conversations()
        .set_public_base_url(config.messages.public_base_url.as_deref());
    let keys = KeyRing::new(&config.api_keys);
    let app_tokens =
        crate::apptoken::AppTokenVerifier::from_config(&config.app_tokens, clock.clone())
            .map_err(ServeError::AppTokens)?;
    let instance_id = instance_id(&config);
    let state = AppState {
        pipeline,
        config: Arc::new(config),
        keys: Arc::new(keys),
        app_tokens,
        metrics: crate::metrics::install(),
        shutdown: channels::CancellationToken::new(),
        otp: Arc::new(otp),
    };
    Ok(Gateway {
        state,
        clock,
        instance_id,
    })
}

/// Who delivers the portal's one-time codes: email over the `[email]` section's SMTP server
/// (`smtp_host`, `mail_from`; the IMAP side need not be configured). Phone codes need an SMS
/// provider adapter ([`crate::otp::CodeSender`]); none is built in.
fn code_senders(config: &Config) -> Result<Vec<Arc<dyn crate::otp::CodeSender>>, ServeError> {
    let mut senders: Vec<Arc<dyn crate::otp::CodeSender>> = Vec::new();
    if let Some(email) = &config.email {
        if let Some(transport) = channels::email::outbox::transport(email)
            .map_err(|e| ServeError::Portal(Box::new(e)))?
        {
            let from: lettre::message::Mailbox = email
                .mail_from
                .parse()
                .map_err(|e| ServeError::Portal(Box::new(e)))?;
            senders.push(Arc::new(crate::otp::EmailCodeSender::new(transport, from)));
        }
    }
    if let Some(sms) = &config.portal.sms {
        tracing::warn!(
            provider = %sms.provider,
            "portal.sms is set but no SMS provider adapter is built into this gateway: phone numbers cannot be confirmed by a code"
        );
    }
    Ok(senders)
}

/// Every consumer group this deployment reads, created at start so that a fresh deployment can
/// be read with `XREADGROUP` at once: the IOC's on its queue, the gateway's own on the streams
/// of the configured channels.
pub fn consumer_groups(config: &Config) -> Vec<(&'static str, &'static str)> {
    let mut groups = vec![(REPORTS_STREAM, IOC_GROUP)];
    if config.email.as_ref().is_some_and(|c| c.configured()) {
        groups.push((channels::email::OUTBOUND_STREAM, GATEWAY_GROUP));
    }
    if config.zalo.as_ref().is_some_and(|c| c.configured()) {
        groups.push((channels::zalo::EVENTS_STREAM, GATEWAY_GROUP));
        groups.push((channels::zalo::OUTBOUND_STREAM, GATEWAY_GROUP));
    }
    groups
}

/// The configured gazetteer and boundary, or the shipped ones. Loaded once per process.
pub fn load_geo(config: &crate::config::GeoConfig) -> Result<&'static Geo, ServeError> {
    let files = [
        &config.old_units,
        &config.new_units,
        &config.old_to_new,
        &config.boundary,
    ];
    let geo = if files.iter().all(|f| f.is_none()) && config.communes.is_none() {
        match config.margin_m {
            None => return Ok(Geo::embedded()),
            Some(m) => Geo::from_sources(normalizers::geo::EMBEDDED_SOURCES)
                .map_err(ServeError::Geo)?
                .with_margin_m(m),
        }
    } else {
        let read = |p: &Option<PathBuf>, what: &'static str| -> Result<String, ServeError> {
            let p = p.as_ref().ok_or(ServeError::GeoIncomplete(what))?;
            std::fs::read_to_string(p).map_err(|source| ServeError::GeoFile {
                path: p.clone(),
                source,
            })
        };
        let old_units = read(&config.old_units, "old_units")?;
        let new_units = read(&config.new_units, "new_units")?;
        let old_to_new = read(&config.old_to_new, "old_to_new")?;
        let boundary = read(&config.boundary, "boundary")?;
        let communes = match &config.communes {
            Some(_) => Some(read(&config.communes, "communes")?),
            None => None,
        };
        let geo = Geo::from_sources(GeoSources {
            old_units_tsv: &old_units,
            new_units_tsv: &new_units,
            old_to_new_tsv: &old_to_new,
            boundary_geojson: &boundary,
            communes_geojson: communes.as_deref(),
        })
        .map_err(ServeError::Geo)?;
        match config.margin_m {
            Some(m) => geo.with_margin_m(m),
            None => geo,
        }
    };
    Ok(Box::leak(Box::new(geo)))
}

/// With no keys configured, use (or create on first start) one key per role in the data folder.
pub fn ensure_api_keys(config: &mut Config) -> Result<Option<PathBuf>, ServeError> {
    if !config.api_keys.0.is_empty() {
        return Ok(None);
    }
    let path = config.data_dir.join("api-keys.toml");
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Ok(keys) = toml::from_str::<KeysFile>(&text) {
            config.api_keys = ApiKeys(keys.api_keys);
            return Ok(Some(path));
        }
    }
    let keys = vec![
        ApiKey {
            role: Role::Submit,
            key: random_key(),
            agency: None,
        },
        ApiKey {
            role: Role::Ioc,
            key: random_key(),
            agency: None,
        },
    ];
    let text = toml::to_string(&KeysFileOut {
        api_keys: keys
            .iter()
            .map(|k| StoredKey {
                role: k.role,
                key: k.key.expose(),
            })
            .collect(),
    })
    .expect("keys serialise");
    std::fs::create_dir_all(&config.data_dir).map_err(|source| ServeError::Keys {
        path: path.clone(),
        source,
    })?;
    write_private(&path, &text).map_err(|source| ServeError::Keys {
        path: path.clone(),
        source,
    })?;
    config.api_keys = ApiKeys(keys);
    Ok(Some(path))
}

#[derive(serde::Deserialize)]
struct KeysFile {
    api_keys: Vec<ApiKey>,
}

/// The generated keys as written to `api-keys.toml`: the real values, which the serialisation
/// of [`ApiKey`] masks.
#[derive(serde::Serialize)]
struct KeysFileOut<'a> {
    api_keys: Vec<StoredKey<'a>>,
}

#[derive(serde::Serialize)]
struct StoredKey<'a> {
    role: Role,
    key: &'a str,
}

fn random_key() -> normalizers::secret::Secret {
    let bytes: [u8; 24] = rand::rng().random();
    hex::encode(bytes).into()
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// Run the gateway until SIGINT/SIGTERM.
pub async fn serve(mut config: Config) -> Result<(), ServeError> {
    crate::config::restrict_permissions(&config.data_dir).map_err(|source| {
        ServeError::DataDir {
            path: config.data_dir.clone(),
            source,
        }
    })?;
    if let Some(path) = config.ensure_identity_pepper()? {
        tracing::info!(path = %path.display(), "identity pepper read from the data folder");
    }
    if let Some(path) = ensure_api_keys(&mut config)? {
        tracing::info!(path = %path.display(), "no API keys configured: using the generated keys in this file");
        eprintln!("API keys (roles submit and ioc) are in {}", path.display());
    }
    let limit_errors: Vec<channels::ConfigProblem> = config
        .rate_limits
        .problems()
        .into_iter()
        .filter(|p| p.severity == channels::Severity::Error)
        .collect();
    if !limit_errors.is_empty() {
        return Err(ServeError::RateLimits(limit_errors));
    }
    for problem in config.rate_limits.problems() {
        tracing::warn!(%problem, "rate limits configuration");
    }
    let listen = config.listen;
    let gateway = build(config).await?;
    let state = gateway.state.clone();
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: listen,
            source,
        })?;
    let local = listener.local_addr().unwrap_or(listen);
    tracing::info!(addr = %local, backend = state.pipeline.store_kind(), "gateway listening");
    eprintln!("gateway listening on http://{local}");
    let shutdown = state.shutdown.clone();
    let ctx = channel_context(&state, &gateway.instance_id, shutdown.clone());
    let mut app = http::app(state.clone());
    let mut running = Vec::new();
    // Every channel the same way; portal and Open311 channels join this list.
    for channel in [
        start(state.config.email.as_ref(), &ctx)?,
        start(state.config.zalo.as_ref(), &ctx)?,
    ]
    .into_iter()
    .flatten()
    {
        if let Some(router) = &channel.router {
            app = app.merge(router.clone());
        }
        if let Some(stats) = &channel.email_stats {
            crate::metrics::register_email_stats(stats.clone());
        }
        running.push(channel);
    }
    // The client address of every request (the rate limits per source address), believed from
    // `X-Forwarded-For` only when the connection comes from a trusted proxy.
    let app = app.layer(axum::Extension(channels::ratelimit::TrustedProxies(
        Arc::new(state.config.rate_limits.trusted_proxies.clone()),
    )));
    // Failed deliveries of the app backend's webhook, tried again with back-off.
    tokio::spawn(crate::conversation::run_webhook_outbox(
        state.pipeline.clone(),
        gateway.instance_id.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(crate::http::track::overdue_gauge(
        state.clone(),
        Duration::from_secs(60),
    ));
    // Reports stored before an index existed (the tracking codes, the published results, the
    // agencies' lists): indexed once per store, in the background.
    let pipeline = state.pipeline.clone();
    tokio::spawn(async move {
        match pipeline.reindex_once().await {
            Ok(Some(n)) => tracing::info!(reports = n, "report indexes rebuilt"),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot rebuild the report indexes: run `gateway reindex`")
            }
        }
    });
    let stop = shutdown.clone();
    let result = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        stop.cancel();
        tracing::info!("shutdown requested: finishing requests in flight");
    })
    .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "server stopped with an error");
    }
    // Also when the server stopped without a signal: the channels must not outlive it.
    shutdown.cancel();
    for channel in running {
        if let Err(e) = channel.join().await {
            tracing::error!(error = %e, "channel task failed");
        }
    }
    Ok(())
}

/// The store as the channels see it.
pub fn channel_store(state: &AppState) -> Arc<ChannelStore> {
    let timeout = state.config.queue.channel_claim_timeout_secs.max(1);
    state.pipeline.channel_store(Duration::from_secs(timeout))
}

/// What every channel of this gateway is built from.
pub fn channel_context(
    state: &AppState,
    instance_id: &str,
    shutdown: channels::CancellationToken,
) -> ChannelContext<Pipeline, ChannelStore> {
    ChannelContext {
        intake: state.pipeline.clone(),
        store: channel_store(state),
        instance_id: instance_id.to_string(),
        shutdown,
        staging: state.pipeline.staging_dir(),
        validation: state.pipeline.validation().clone(),
    }
}

/// Build a channel whose section is configured; a channel not configured is not built.
fn start<C: ChannelConfig>(
    section: Option<&C>,
    ctx: &ChannelContext<Pipeline, ChannelStore>,
) -> Result<Option<RunningChannel>, ServeError> {
    let Some(config) = section.filter(|c| c.configured()) else {
        return Ok(None);
    };
    for problem in config.problems() {
        tracing::warn!(channel = C::NAME, %problem, "channel configuration");
    }
    let channel = config.build(ctx)?;
    tracing::info!(channel = C::NAME, "channel started");
    Ok(Some(channel))
}

/// This instance's stable name among several sharing one Redis: the configured one, else the
/// host name (stable across restarts, so a restarted instance resumes its own leases at once).
/// Every channel's lease holder and stream consumer names derive from it.
pub fn instance_id(config: &Config) -> String {
    if let Some(id) = &config.instance_id {
        return id.clone();
    }
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "gateway".into())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_api_keys_are_written_whole_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let path = ensure_api_keys(&mut config)
            .unwrap()
            .expect("keys generated");
        let text = std::fs::read_to_string(&path).unwrap();
        let keys: Vec<&str> = config.api_keys.0.iter().map(|k| k.key.expose()).collect();
        assert_eq!(keys.len(), 2);
        for key in &keys {
            assert_eq!(key.len(), 48);
            assert!(text.contains(key), "{text}");
        }
        let mut again = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        ensure_api_keys(&mut again).unwrap();
        assert_eq!(again.api_keys, config.api_keys);
    }
}
