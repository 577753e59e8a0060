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
//!
//! The channels are built by [`ZaloConfig`]'s [`ChannelConfig::build`].

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
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::context::{
    ChannelConfig, ChannelContext, ChannelError, ChannelStorage, ConfigProblem, RunningChannel,
};
use crate::intake::Intake;

/// The injected clock (the gateway's `Intake::now`).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Stream of raw webhook events, persisted before Zalo gets its 200.
pub const EVENTS_STREAM: &str = "zalo:events";
/// Stream of messages to OA users, delivered by the outbox sender.
pub const OUTBOUND_STREAM: &str = "outbound:zalo_oa";
/// Stream of messages Zalo would not deliver (user unreachable), for the IOC.
pub const UNDELIVERABLE_STREAM: &str = "zalo:undeliverable";

/// The running Zalo channels, shared by the router and the workers.
pub struct ZaloChannel<I, S> {
    pub(crate) config: Arc<ZaloConfig>,
    pub(crate) intake: Arc<I>,
    pub(crate) store: Arc<S>,
    pub(crate) client: OaClient<S>,
    pub(crate) api_http: reqwest::Client,
    pub(crate) media_http: reqwest::Client,
    /// Where downloaded and uploaded media are written (the gateway's staging folder).
    pub(crate) staging_dir: PathBuf,
    pub(crate) shutdown: CancellationToken,
    pub(crate) validator: Validator,
    pub(crate) validation: ValidationConfig,
    /// Name of this instance in stream consumer groups.
    pub(crate) instance: String,
    /// Permits of the background media inspections (`zalo.media_inspections`).
    pub(crate) inspections: Arc<tokio::sync::Semaphore>,
    /// Places of the mini-app uploads (`zalo.miniapp_uploads`).
    pub(crate) miniapp_uploads: Arc<tokio::sync::Semaphore>,
    /// Owner value of the locks and leases this process takes (dialogue locks, the token
    /// lease): unique per process, so that two processes configured with one instance id never
    /// release each other's lock. A dialogue lock left by a previous run of this instance
    /// ([`LockOwner::previous_run`]) is taken over at once.
    pub(crate) lock_owner: String,
}

/// `instance_id:machine:pid:nonce`: the instance, a digest of the machine it runs on (host
/// name and boot), the process id, and a nonce different for every channel built.
fn lock_owner(instance_id: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let nonce = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!(
        "{instance_id}:{}:{}:{nonce:016x}",
        crate::staging::machine(),
        std::process::id()
    )
}

/// A lock owner value (see [`lock_owner`]), read back from the store.
pub(crate) struct LockOwner<'a> {
    instance: &'a str,
    machine: &'a str,
    pid: u32,
    nonce: &'a str,
}

impl<'a> LockOwner<'a> {
    pub(crate) fn parse(owner: &'a str) -> Option<LockOwner<'a>> {
        let mut parts = owner.rsplitn(4, ':');
        let nonce = parts.next()?;
        let pid = parts.next()?.parse().ok()?;
        let machine = parts.next()?;
        let instance = parts.next()?;
        Some(LockOwner {
            instance,
            machine,
            pid,
            nonce,
        })
    }

    /// Whether `self` is a run of the same instance as `current` (this process's owner) that
    /// is no longer running: the same instance id on the same machine and boot, another run,
    /// and its process gone (or its process id now this process's, as a restarted container's
    /// first process gets the same one). A process id that is still in use (reused by an
    /// unrelated process, or a second process misconfigured with this instance id) is not
    /// taken for dead: its locks lapse after `zalo.lock_ttl_secs`.
    pub(crate) fn previous_run(&self, current: &LockOwner<'_>) -> bool {
        self.instance == current.instance
            && self.machine == current.machine
            && self.nonce != current.nonce
            && (self.pid == current.pid || !crate::staging::process_alive(self.pid))
    }
}

fn http_client_error(source: reqwest::Error) -> ChannelError {
    ChannelError::HttpClient {
        channel: ZaloConfig::NAME,
        source,
    }
}

impl<I: Intake, S: ChannelStorage> ZaloChannel<I, S> {
    /// Build the channel from its configuration and the context. `ctx.staging` must exist and
    /// lie on the same file system as the gateway's media storage; once `ctx.shutdown` is
    /// cancelled webhooks get 503 and workers finish their current entry and return.
    pub fn new(config: ZaloConfig, ctx: &ChannelContext<I, S>) -> Result<Arc<Self>, ChannelError> {
        config.refuse_errors()?;
        let config = Arc::new(config);
        let api_http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(http_client_error)?;
        let media_http = media::media_http_client(&config).map_err(http_client_error)?;
        let clock_intake = ctx.intake.clone();
        let clock: Clock = Arc::new(move || clock_intake.now());
        let lock_owner = lock_owner(&ctx.instance_id);
        let inspections = Arc::new(tokio::sync::Semaphore::new(config.media_inspections.max(1)));
        let client = OaClient::new(
            api_http.clone(),
            config.clone(),
            ctx.store.clone(),
            clock,
            lock_owner.clone(),
        );
        let miniapp_uploads = Arc::new(tokio::sync::Semaphore::new(config.miniapp_uploads.max(1)));
        Ok(Arc::new(ZaloChannel {
            config,
            intake: ctx.intake.clone(),
            store: ctx.store.clone(),
            client,
            api_http,
            media_http,
            staging_dir: ctx.staging.clone(),
            shutdown: ctx.shutdown.clone(),
            validator: Validator::default(),
            validation: ctx.validation.clone(),
            instance: ctx.instance_id.clone(),
            inspections,
            miniapp_uploads,
            lock_owner,
        }))
    }

    pub fn config(&self) -> &ZaloConfig {
        &self.config
    }

    pub fn client(&self) -> &OaClient<S> {
        &self.client
    }

    pub(crate) fn shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// Sleep `d`, or less when shutdown starts; true when shutting down.
    pub(crate) async fn pause(&self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = self.shutdown.cancelled() => {}
        }
        self.shutting_down()
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
            let wait = match self.store.claim(stream, &self.instance, max).await {
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
pub fn router<I: Intake, S: ChannelStorage>(channel: Arc<ZaloChannel<I, S>>) -> Router {
    let webhook_limit = channel.config.webhook_max_bytes;
    let miniapp_limit = channel.config.miniapp_max_bytes;
    Router::new()
        .route(
            "/v1/zalo/webhook",
            post(webhook::handle::<I, S>)
                .layer(DefaultBodyLimit::max(webhook_limit))
                .layer(axum::middleware::from_fn(move |request, next| {
                    webhook::refuse_oversized(webhook_limit, request, next)
                })),
        )
        .route(
            "/v1/zalo/miniapp/reports",
            post(miniapp::handle::<I, S>).layer(DefaultBodyLimit::max(miniapp_limit)),
        )
        .with_state(channel)
}

/// Start the event processor, the outbox sender, the token refresher and the sweeper of staged
/// media. They run until the
/// shutdown token is cancelled; await the handles to wait for them.
pub fn spawn_workers<I: Intake, S: ChannelStorage>(
    channel: Arc<ZaloChannel<I, S>>,
) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(processor::run(channel.clone())),
        tokio::spawn(outbox::run_sender(channel.clone())),
        tokio::spawn(processor::run_sweeper(channel.clone())),
        tokio::spawn(outbox::run_refresher(channel)),
    ]
}

impl ChannelConfig for ZaloConfig {
    const NAME: &'static str = "zalo";

    fn configured(&self) -> bool {
        self.enabled()
    }

    fn problems(&self) -> Vec<ConfigProblem> {
        ZaloConfig::problems(self)
    }

    /// The webhook and mini-app routes and the workers.
    fn build<I: Intake, S: ChannelStorage>(
        &self,
        ctx: &ChannelContext<I, S>,
    ) -> Result<RunningChannel, ChannelError> {
        let channel = ZaloChannel::new(self.clone(), ctx)?;
        Ok(RunningChannel {
            router: Some(router(channel.clone())),
            tasks: spawn_workers(channel),
            email_stats: None,
        })
    }
}
