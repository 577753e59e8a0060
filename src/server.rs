//! `gateway serve`: build every component from the configuration and run until a signal.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::net::TcpListener;

use crate::clock::{SharedClock, StartedClock, SystemClock};
use crate::config::{ApiKey, ApiKeys, Config, Role};
use crate::http::{self, auth::KeyRing, AppState};
use crate::pipeline::Pipeline;
use crate::store::{BlobStore, Store};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot prepare the data folder {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open media storage: {0}")]
    Blobs(#[from] crate::store::BlobError),
    #[error("cannot open the queue backend ({kind}): {message}")]
    Store { kind: &'static str, message: String },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
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
    let clock = clock_for(&config);
    let blobs = BlobStore::open(config.media_dir()).await?;
    blobs.sweep_staging(Duration::from_secs(24 * 3600)).await;
    let store = match &config.redis_url {
        Some(url) if !url.is_empty() => Store::redis(url).await.map_err(|e| ServeError::Store {
            kind: "redis",
            message: e.0,
        })?,
        _ => Store::embedded(&config.data_dir.join("queue.redb"), clock.clone()).map_err(|e| {
            ServeError::Store {
                kind: "embedded",
                message: e.0,
            }
        })?,
    };
    let pipeline = Pipeline::new(
        store,
        blobs,
        clock.clone(),
        config.validation.clone(),
        Duration::from_secs(config.queue.idempotency_ttl_hours * 3600),
    );
    let keys = KeyRing::new(&config.api_keys);
    let state = AppState {
        pipeline,
        config: Arc::new(config),
        keys: Arc::new(keys),
        metrics: crate::metrics::install(),
        shutting_down: Arc::new(AtomicBool::new(false)),
    };
    Ok(Gateway { state, clock })
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
        },
        ApiKey {
            role: Role::Ioc,
            key: random_key(),
        },
    ];
    let text = toml::to_string(&KeysFile {
        api_keys: keys.clone(),
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

#[derive(serde::Serialize, serde::Deserialize)]
struct KeysFile {
    api_keys: Vec<ApiKey>,
}

fn random_key() -> String {
    let bytes: [u8; 24] = rand::rng().random();
    hex::encode(bytes)
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
    if let Some(path) = ensure_api_keys(&mut config)? {
        tracing::info!(path = %path.display(), "no API keys configured: using the generated keys in this file");
        eprintln!("API keys (roles submit and ioc) are in {}", path.display());
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
    tracing::info!(addr = %local, backend = state.pipeline.store.kind(), "gateway listening");
    eprintln!("gateway listening on http://{local}");
    let shutting_down = state.shutting_down.clone();
    let app = http::app(state);
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            shutting_down.store(true, Ordering::Relaxed);
            tracing::info!("shutdown requested: finishing requests in flight");
        })
        .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "server stopped with an error");
    }
    Ok(())
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
