//! The Zalo channels (R-CH-ZALO-OA, R-CH-ZALO-MINIAPP): the OA webhook and its conversation,
//! the replies through the OA API, and the mini app's report endpoint.
//!
//! A webhook event is verified, persisted on the `zalo:events` stream and answered 200 at once;
//! the event processor then feeds it to the conversation state machine
//! ([`normalizers::zalo::dialogue`]) under a per-dialogue lock, pushes the OA's answers on
//! `outbound:zalo_oa`, and on "Gửi" downloads the media and hands the report to the [`Intake`].
//! The outbox sender delivers the answers through the OA API; messages Zalo will not deliver
//! are recorded on `zalo:undeliverable` for the IOC. The token refresher rotates the OA access
//! token before it expires. Everything shared between gateway instances lives in the
//! [`StateStore`] and [`Streams`].
//!
//! # Layout
//! - `config`: [`ZaloConfig`], the `[zalo]` table.
//! - `webhook`: `POST /v1/zalo/webhook` (signature, dedup, persist, 200).
//! - `processor`: the event processor (dialogue state, prompts, submission).
//! - `client`: the OA API client and the token rotation.
//! - `outbox`: the sender of `outbound:zalo_oa` and the token refresher.
//! - `media`: media download with host, size and time limits.
//! - `miniapp`: `POST /v1/zalo/miniapp/reports` and the mini-app token exchange.

pub mod client;
pub mod config;
pub mod media;
pub mod miniapp;
pub mod outbox;
pub mod processor;
pub mod webhook;

#[cfg(test)]
mod tests;

pub use client::{OaClient, OaError, OaMessage, TokenPair};
pub use config::{OaTokens, ZaloConfig};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::post;
use axum::Router;
use chrono::{DateTime, Utc};
use normalizers::validate::{ValidationConfig, Validator};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::intake::{Intake, StateStore, Streams};

/// The injected clock (the gateway's `Intake::now`).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Stream of raw webhook events, persisted before Zalo gets its 200.
pub const EVENTS_STREAM: &str = "zalo:events";
/// Stream of messages to OA users, delivered by the outbox sender.
pub const OUTBOUND_STREAM: &str = "outbound:zalo_oa";
/// Stream of messages Zalo would not deliver (user unreachable), for the IOC.
pub const UNDELIVERABLE_STREAM: &str = "zalo:undeliverable";

#[derive(Debug, thiserror::Error)]
pub enum ZaloError {
    #[error("zalo is not configured (zalo.app_id is empty)")]
    Disabled,
    #[error("zalo configuration: {0}")]
    Config(String),
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
}

/// The running Zalo channels, shared by the router and the workers.
pub struct ZaloChannel<I, S, K> {
    pub(crate) config: Arc<ZaloConfig>,
    pub(crate) intake: Arc<I>,
    pub(crate) streams: Arc<S>,
    pub(crate) store: Arc<K>,
    pub(crate) client: OaClient<K>,
    pub(crate) api_http: reqwest::Client,
    pub(crate) media_http: reqwest::Client,
    /// Where downloaded and uploaded media are written (the gateway's staging folder).
    pub(crate) staging_dir: PathBuf,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) validator: Validator,
    pub(crate) validation: ValidationConfig,
    /// Name of this instance in stream consumer groups and leases.
    pub(crate) instance: String,
}

impl<I: Intake, S: Streams, K: StateStore> ZaloChannel<I, S, K> {
    /// Build the channel from its configuration. `staging_dir` must exist and lie on the same
    /// file system as the gateway's media storage; `shutdown` turns true when the gateway stops
    /// (webhooks then get 503, workers finish their current entry and return).
    pub fn new(
        config: ZaloConfig,
        validation: ValidationConfig,
        intake: Arc<I>,
        streams: Arc<S>,
        store: Arc<K>,
        staging_dir: PathBuf,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Arc<Self>, ZaloError> {
        if !config.enabled() {
            return Err(ZaloError::Disabled);
        }
        if let Some(problem) = config
            .problems()
            .into_iter()
            .find(|p| p.contains("not a URL"))
        {
            return Err(ZaloError::Config(problem));
        }
        let config = Arc::new(config);
        let api_http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ZaloError::HttpClient(e.to_string()))?;
        let media_http =
            media::media_http_client(&config).map_err(|e| ZaloError::HttpClient(e.to_string()))?;
        let instance = format!(
            "{}-{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "gateway".into()),
            std::process::id()
        );
        let clock_intake = intake.clone();
        let clock: Clock = Arc::new(move || clock_intake.now());
        let client = OaClient::new(
            api_http.clone(),
            config.clone(),
            store.clone(),
            clock,
            instance.clone(),
        );
        Ok(Arc::new(ZaloChannel {
            config,
            intake,
            streams,
            store,
            client,
            api_http,
            media_http,
            staging_dir,
            shutdown,
            validator: Validator::default(),
            validation,
            instance,
        }))
    }

    pub fn config(&self) -> &ZaloConfig {
        &self.config
    }

    pub fn client(&self) -> &OaClient<K> {
        &self.client
    }

    pub(crate) fn shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Sleep `d`, or less when shutdown starts; true when shutting down.
    pub(crate) async fn pause(&self, d: Duration) -> bool {
        let mut rx = self.shutdown.clone();
        if *rx.borrow() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = rx.changed() => {}
        }
        let stopping = *rx.borrow();
        stopping
    }

    /// The next batch of entries of `stream` for this instance, waiting while there is none or
    /// the stream is unavailable; None when shutdown starts.
    pub(crate) async fn next_batch(
        &self,
        stream: &str,
        max: usize,
    ) -> Option<Vec<crate::intake::StreamEntry>> {
        loop {
            if self.shutting_down() {
                return None;
            }
            let wait = match self.streams.claim(stream, &self.instance, max).await {
                Ok(entries) if !entries.is_empty() => return Some(entries),
                Ok(_) => Duration::from_millis(100),
                Err(e) => {
                    tracing::error!(error = %e, stream, "zalo stream unavailable");
                    Duration::from_secs(1)
                }
            };
            if self.pause(wait).await {
                return None;
            }
        }
    }
}

/// The HTTP routes of the Zalo channels, to nest into the gateway's router:
/// `POST /v1/zalo/webhook` and `POST /v1/zalo/miniapp/reports`.
pub fn router<I: Intake, S: Streams, K: StateStore>(channel: Arc<ZaloChannel<I, S, K>>) -> Router {
    let webhook_limit = channel.config.webhook_max_bytes;
    let miniapp_limit = channel.config.miniapp_max_bytes;
    Router::new()
        .route(
            "/v1/zalo/webhook",
            post(webhook::handle::<I, S, K>).layer(DefaultBodyLimit::max(webhook_limit)),
        )
        .route(
            "/v1/zalo/miniapp/reports",
            post(miniapp::handle::<I, S, K>).layer(DefaultBodyLimit::max(miniapp_limit)),
        )
        .with_state(channel)
}

/// Start the event processor, the outbox sender and the token refresher. They run until the
/// shutdown signal turns true; await the handles to wait for them.
pub fn spawn_workers<I: Intake, S: Streams, K: StateStore>(
    channel: Arc<ZaloChannel<I, S, K>>,
) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(processor::run(channel.clone())),
        tokio::spawn(outbox::run_sender(channel.clone())),
        tokio::spawn(outbox::run_refresher(channel)),
    ]
}
