//! The IOC's messages to the citizen (R-MSG-IOC, Đ9, Đ10.3): recorded on the report, then
//! delivered on the report's channel, every attempt and its result recorded on the message.
//!
//! - email reports: a reply in the citizen's thread (In-Reply-To/References, the tracking code
//!   in the subject) through the durable `outbound:email` outbox;
//! - Zalo OA reports: an OA message through `outbound:zalo_oa`; when Zalo answers that the
//!   conversation's window has closed (-230, -232) the message goes to the citizen's email
//!   address if they gave one, else it is recorded as undeliverable with the reason;
//! - app, portal, mini app, Open311: the tracking view (`/v1/track/{code}`), and for the app,
//!   portal and mini app a webhook to the app's backend when `[messages] webhook_url` is set,
//!   signed with HMAC-SHA256 over the body (`X-1022-Signature: sha256=<hex>`). The webhook is
//!   tried at once; a failed delivery goes to the durable `outbound:webhook` outbox, which
//!   [`run_webhook_outbox`] tries again with exponential back-off up to
//!   `webhook_max_attempts` attempts in all, each attempt recorded on the message, the last
//!   failure recorded as `undeliverable` (the tracking view still shows the message).
//!
//! Every message meant for the citizen is shown on the tracking view whatever its channel;
//! internal notes are stored only. Outbox entries are appended once per message (keyed by
//! its id); the channels report the result back through `Intake::delivered`.

use std::sync::OnceLock;
use std::time::Duration;

use channels::intake::{DeliveryResult, Origin, Outbound, Streams};
use channels::templates::conversation as tpl;
use normalizers::conversation::{
    self, DeliveryAttempt, DeliveryOutcome, DeliveryRoute, IocMessage, MessagePhoto, NewMessage,
    ReplyRoute,
};
use normalizers::media::MediaInfo;
use normalizers::report::{Channel, Report};
use normalizers::secret::Secret;
use serde::{Deserialize, Serialize};

use crate::pipeline::{Pipeline, PreparedMedia, StatusError};

/// Zalo's answers that the OA may no longer write to the user (no interaction within the
/// window): the message then goes to another contact of the citizen.
pub const WINDOW_CLOSED: [i64; 2] = [-230, -232];

/// The IOC's messages (`[messages]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MessagesConfig {
    /// The app's backend: IOC messages about app, portal and mini-app reports are POSTed here
    /// (JSON, no personal data). None: the tracking view only.
    pub webhook_url: Option<String>,
    /// Key of the HMAC-SHA256 signature of the webhook's body (required with `webhook_url`).
    pub webhook_secret: Option<Secret>,
    /// How long the webhook may take.
    pub webhook_timeout_secs: u64,
    /// Attempts of one webhook delivery in all (the first one included); 1 = no retry.
    pub webhook_max_attempts: u32,
    /// Wait before the second attempt, in milliseconds; doubled before each next one.
    pub webhook_retry_base_ms: u64,
    /// The gateway's public address (`https://1022.longan.gov.vn`): Zalo fetches the photos
    /// of the IOC's messages from there (`/v1/track/{code}/photos/{digest}`, the stripped
    /// copies) to show them as OA image messages. None: the Zalo message says the photos are
    /// on the tracking page.
    pub public_base_url: Option<String>,
}

impl Default for MessagesConfig {
    fn default() -> Self {
        MessagesConfig {
            webhook_url: None,
            webhook_secret: None,
            webhook_timeout_secs: 10,
            webhook_max_attempts: 6,
            webhook_retry_base_ms: 30_000,
            public_base_url: None,
        }
    }
}

impl MessagesConfig {
    /// What is wrong with the section.
    pub fn problems(&self) -> Vec<channels::ConfigProblem> {
        let mut out = Vec::new();
        if !(1..=MAX_WEBHOOK_ATTEMPTS).contains(&self.webhook_max_attempts) {
            out.push(channels::ConfigProblem::error(
                "messages.webhook_max_attempts",
                channels::Problem::Invalid(format!("between 1 and {MAX_WEBHOOK_ATTEMPTS}")),
            ));
        }
        if let Some(url) = &self.public_base_url {
            if !(url.starts_with("https://") || url.starts_with("http://"))
                || url.contains(['?', '#'])
            {
                out.push(channels::ConfigProblem::error(
                    "messages.public_base_url",
                    channels::Problem::NotAUrl(url.clone()),
                ));
            }
        }
        if let Some(url) = &self.webhook_url {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                out.push(channels::ConfigProblem::error(
                    "messages.webhook_url",
                    channels::Problem::NotAUrl(url.clone()),
                ));
            }
            if self
                .webhook_secret
                .as_ref()
                .is_none_or(|s| s.expose().len() < 16)
            {
                out.push(channels::ConfigProblem::error(
                    "messages.webhook_secret",
                    channels::Problem::Missing(
                        "the webhook cannot be signed (16 characters at least)",
                    ),
                ));
            }
        }
        out
    }
}

/// The most webhook attempts one message may take (its attempts are bounded, see
/// [`conversation::MAX_ATTEMPTS`]).
pub const MAX_WEBHOOK_ATTEMPTS: u32 = 10;

/// The outbox of webhook deliveries to try again.
pub const WEBHOOK_STREAM: &str = "outbound:webhook";

/// Which outboxes have a sender running (set once at start).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outboxes {
    /// The email channel sends replies (an SMTP server is configured).
    pub email: bool,
    /// The Zalo OA channel runs.
    pub zalo: bool,
}

/// The app-backend webhook, built from `[messages]`.
pub struct Webhook {
    url: String,
    secret: Secret,
    client: reqwest::Client,
    timeout: Duration,
    max_attempts: u32,
    retry_base: Duration,
}

impl Webhook {
    pub fn from_config(config: &MessagesConfig) -> Option<Webhook> {
        let url = config.webhook_url.clone()?;
        let secret = config.webhook_secret.clone()?;
        let timeout = Duration::from_secs(config.webhook_timeout_secs.max(1));
        let client = reqwest::Client::builder().timeout(timeout).build().ok()?;
        Some(Webhook {
            url,
            secret,
            client,
            timeout,
            max_attempts: config.webhook_max_attempts.clamp(1, MAX_WEBHOOK_ATTEMPTS),
            retry_base: Duration::from_millis(config.webhook_retry_base_ms.max(1)),
        })
    }

    /// The wait before attempt `n + 1` after `n` failed ones (n ≥ 1): the base, doubled each
    /// time.
    fn backoff(&self, failed: u32) -> Duration {
        self.retry_base
            .saturating_mul(1u32 << failed.saturating_sub(1).min(16))
    }

    /// How long an outbox entry may stay claimed: every wait and every attempt left, and a
    /// margin; past it another instance takes the entry over.
    fn claim_timeout(&self) -> Duration {
        let waits: Duration = (1..self.max_attempts).map(|n| self.backoff(n)).sum();
        waits + self.timeout * self.max_attempts + Duration::from_secs(60)
    }

    /// POST `body` signed; the attempt's outcome.
    async fn post(&self, body: Vec<u8>) -> (DeliveryOutcome, Option<String>) {
        let signature = format!("sha256={}", sign(self.secret.expose().as_bytes(), &body));
        let res = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-1022-Signature", signature)
            .body(body)
            .send()
            .await;
        match res {
            Ok(r) if r.status().is_success() => (DeliveryOutcome::Sent, None),
            Ok(r) => (
                DeliveryOutcome::Failed,
                Some(format!(
                    "the app's backend answered {}",
                    r.status().as_u16()
                )),
            ),
            Err(e) => (
                DeliveryOutcome::Failed,
                Some(format!(
                    "the app's backend did not answer: {}",
                    if e.is_timeout() {
                        "timeout"
                    } else {
                        "connection failed"
                    }
                )),
            ),
        }
    }
}

/// HMAC-SHA256 of `body` under `key`, hex.
pub fn sign(key: &[u8], body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes keys of any size");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// What the webhook carries: the report's id and code and the message (no personal data).
#[derive(Debug, Serialize)]
struct WebhookBody<'a> {
    report_id: &'a str,
    tracking_code: &'a str,
    channel: Channel,
    message_id: &'a str,
    kind: conversation::MessageKind,
    text: &'a str,
    at: chrono::DateTime<chrono::Utc>,
}

fn attempt(
    at: chrono::DateTime<chrono::Utc>,
    route: DeliveryRoute,
    outcome: DeliveryOutcome,
    reason: Option<String>,
) -> DeliveryAttempt {
    DeliveryAttempt {
        at,
        route,
        outcome,
        reason,
    }
}

/// The outbox entry of an IOC message on `route` (`base`: the gateway's public address).
fn outbound(
    report: &Report,
    m: &IocMessage,
    route: &ReplyRoute,
    fallback: bool,
    base: Option<&str>,
) -> Outbound {
    let code = &report.tracking_code;
    let photos = m
        .photos
        .iter()
        .filter(|p| conversation::public_digest(p).is_some())
        .count();
    let (origin, mut text) = match route {
        ReplyRoute::Email {
            address,
            message_id,
            references,
            subject,
        } => (
            Origin::Email {
                address: address.clone(),
                message_id: message_id.clone(),
                references: references.clone(),
                subject: Some(tpl::email_subject(code, subject.as_deref())),
            },
            if fallback {
                tpl::fallback_text(m.kind, code, &m.text)
            } else {
                tpl::text(m.kind, code, &m.text)
            },
        ),
        ReplyRoute::ZaloOa { oa_id, user_id } => (
            Origin::ZaloOa {
                oa_id: oa_id.clone(),
                user_id: user_id.clone(),
            },
            tpl::text(m.kind, code, &m.text),
        ),
    };
    if photos > 0 {
        let line = match (route, base) {
            (ReplyRoute::Email { .. }, _) => tpl::photos_attached(photos),
            (ReplyRoute::ZaloOa { .. }, Some(_)) => tpl::photos_follow(photos),
            (ReplyRoute::ZaloOa { .. }, None) => tpl::photos_on_tracking_page(photos, code, None),
        };
        text = format!("{text}\n\n{line}");
    }
    Outbound {
        report_id: Some(report.id.clone()),
        origin,
        kind: "ioc_message".into(),
        text,
        html: None,
        attempts: 0,
        message_id: Some(m.id.clone()),
    }
}

/// The citizen's email address to fall back on, when they gave one.
fn fallback_route(report: &Report) -> Option<ReplyRoute> {
    let address = report.reporter.email.clone()?;
    Some(ReplyRoute::Email {
        address,
        message_id: None,
        references: Vec::new(),
        subject: None,
    })
}

fn stream_of(route: &ReplyRoute) -> &'static str {
    match route {
        ReplyRoute::Email { .. } => channels::email::OUTBOUND_STREAM,
        ReplyRoute::ZaloOa { .. } => channels::zalo::OUTBOUND_STREAM,
    }
}

fn delivery_route(route: &ReplyRoute) -> DeliveryRoute {
    match route {
        ReplyRoute::Email { .. } => DeliveryRoute::Email,
        ReplyRoute::ZaloOa { .. } => DeliveryRoute::ZaloOa,
    }
}

/// Whether the outbox of `route` has a sender.
fn runs(outboxes: Outboxes, route: &ReplyRoute) -> bool {
    match route {
        ReplyRoute::Email { .. } => outboxes.email,
        ReplyRoute::ZaloOa { .. } => outboxes.zalo,
    }
}

/// The gateway's side of the IOC's messages.
pub struct Conversations {
    outboxes: OnceLock<Outboxes>,
    webhook: OnceLock<Option<Webhook>>,
    public_base_url: OnceLock<String>,
}

impl Default for Conversations {
    fn default() -> Self {
        Conversations {
            outboxes: OnceLock::new(),
            webhook: OnceLock::new(),
            public_base_url: OnceLock::new(),
        }
    }
}

impl Conversations {
    /// Set at start, once the channels are known.
    pub fn configure(&self, outboxes: Outboxes, webhook: Option<Webhook>) {
        let _ = self.outboxes.set(outboxes);
        let _ = self.webhook.set(webhook);
    }

    /// Set at start from `messages.public_base_url`.
    pub fn set_public_base_url(&self, url: Option<&str>) {
        if let Some(url) = url.map(|u| u.trim().trim_end_matches('/')) {
            if !url.is_empty() {
                let _ = self.public_base_url.set(url.to_string());
            }
        }
    }

    fn public_base_url(&self) -> Option<&str> {
        self.public_base_url.get().map(String::as_str)
    }

    fn outboxes(&self) -> Outboxes {
        self.outboxes.get().copied().unwrap_or_default()
    }

    fn webhook(&self) -> Option<&Webhook> {
        self.webhook.get().and_then(Option::as_ref)
    }
}

/// Append the message's outbox entry once (keyed by message and route).
async fn enqueue(
    pipeline: &Pipeline,
    report: &Report,
    m: &IocMessage,
    route: &ReplyRoute,
    fallback: bool,
) -> Result<(), channels::StoreError> {
    let entry = outbound(
        report,
        m,
        route,
        fallback,
        pipeline.conversations().public_base_url(),
    );
    let payload = serde_json::to_value(&entry).map_err(channels::StoreError::new)?;
    let key = format!(
        "ioc_message:{}:{}",
        m.id,
        if fallback { "fallback" } else { "first" }
    );
    pipeline
        .channel_store(Duration::from_secs(60))
        .push_once(stream_of(route), &key, payload)
        .await
        .map(|_| ())
}

/// Record `attempts` on message `message_id` of report `id` (retrying while another change
/// of the report holds its lock).
async fn record(
    pipeline: &Pipeline,
    id: &str,
    message_id: &str,
    attempts: Vec<DeliveryAttempt>,
) -> Result<Report, StatusError> {
    with_lock(pipeline, id, |mut report, _| {
        for a in attempts.clone() {
            conversation::record(&mut report, message_id, a)?;
        }
        Ok(Some(report))
    })
    .await
}

impl Pipeline {
    /// Record the IOC's message on report `id` and send it on the report's channel. Returns
    /// the report as stored and the message with the attempts made so far.
    pub async fn post_message(
        &self,
        id: &str,
        new: NewMessage,
        actor: &str,
    ) -> Result<(Report, IocMessage), StatusError> {
        let message_id = self.new_id();
        let internal = new.internal;
        let mut added = None;
        // The channels' results are recorded under the same lock: wait for them briefly.
        let mut report = with_lock(self, id, |mut report, now| {
            let m = conversation::add(&mut report, message_id.clone(), new.clone(), actor, now)?;
            if !m.internal {
                // Whatever the channel, the tracking view shows it from now on.
                conversation::record(
                    &mut report,
                    &m.id,
                    attempt(
                        now,
                        DeliveryRoute::TrackingPage,
                        DeliveryOutcome::Sent,
                        None,
                    ),
                )?;
            }
            added = Some(m);
            Ok(Some(report))
        })
        .await?;
        let Some(message) = added else {
            return Err(StatusError::NotFound(id.to_string()));
        };
        crate::metrics::ioc_message(message.kind.as_str());
        if internal {
            return Ok((report, message));
        }
        let now = self.now();
        let mut attempts = Vec::new();
        match conversation::route_of(&report) {
            Some(route) if runs(self.conversations().outboxes(), &route) => {
                if let ReplyRoute::ZaloOa { oa_id, user_id } = &route {
                    // The citizen's next text outside a draft may answer this message.
                    let key = zalo_awaiting_key(self, oa_id, user_id);
                    if let Err(e) = self
                        .put_state(&key, &report.id, Some(ZALO_AWAITING_TTL))
                        .await
                    {
                        tracing::warn!(error = %e, "the Zalo conversation is not bound to its report");
                    }
                }
                match enqueue(self, &report, &message, &route, false).await {
                    Ok(()) => attempts.push(attempt(
                        now,
                        delivery_route(&route),
                        DeliveryOutcome::Queued,
                        None,
                    )),
                    Err(e) => {
                        tracing::warn!(error = %e, report_id = %report.id, "IOC message not queued");
                        attempts.push(attempt(
                            now,
                            delivery_route(&route),
                            DeliveryOutcome::Failed,
                            Some("the outbox is unavailable".into()),
                        ));
                    }
                }
            }
            Some(route) => {
                attempts.push(attempt(
                    now,
                    delivery_route(&route),
                    DeliveryOutcome::Undeliverable,
                    Some(format!(
                        "the {} channel is not configured on this gateway",
                        match route {
                            ReplyRoute::Email { .. } => "email (SMTP)",
                            ReplyRoute::ZaloOa { .. } => "Zalo OA",
                        }
                    )),
                ));
            }
            None => match report.channel {
                Channel::App | Channel::Portal | Channel::ZaloMiniapp => {
                    if let Some(hook) = self.conversations().webhook() {
                        let body = WebhookBody {
                            report_id: &report.id,
                            tracking_code: &report.tracking_code,
                            channel: report.channel,
                            message_id: &message.id,
                            kind: message.kind,
                            text: &message.text,
                            at: message.at,
                        };
                        let bytes =
                            serde_json::to_vec(&body).map_err(|source| StatusError::Encode {
                                id: report.id.clone(),
                                source,
                            })?;
                        let (outcome, reason) = hook.post(bytes.clone()).await;
                        attempts.push(attempt(now, DeliveryRoute::Webhook, outcome, reason));
                        if outcome == DeliveryOutcome::Failed && hook.max_attempts > 1 {
                            attempts.push(
                                queue_webhook_retry(self, hook, &report.id, &message.id, bytes)
                                    .await,
                            );
                        }
                    }
                }
                Channel::Open311 => {}
                Channel::Email | Channel::ZaloOa => attempts.push(attempt(
                    now,
                    DeliveryRoute::None,
                    DeliveryOutcome::Undeliverable,
                    Some("no reply route is recorded for this report".into()),
                )),
            },
        }
        if !attempts.is_empty() {
            report = record(self, id, &message.id, attempts).await?;
        }
        let message = report
            .messages
            .iter()
            .find(|m| m.id == message.id)
            .cloned()
            .unwrap_or(message);
        Ok((report, message))
    }

    /// A channel's result for an IOC message: recorded on the message; a Zalo conversation
    /// whose window has closed falls back to the citizen's email address.
    pub async fn message_delivered(
        &self,
        out: &Outbound,
        result: DeliveryResult,
    ) -> Result<(), StatusError> {
        let (Some(id), Some(message_id)) = (&out.report_id, &out.message_id) else {
            return Ok(());
        };
        let now = self.now();
        let route = match &out.origin {
            Origin::Email { .. } => DeliveryRoute::Email,
            Origin::ZaloOa { .. } => DeliveryRoute::ZaloOa,
            _ => DeliveryRoute::None,
        };
        let (outcome, code, reason) = match result {
            DeliveryResult::Sent => (DeliveryOutcome::Sent, None, None),
            DeliveryResult::Undeliverable { code, reason } => {
                let reason = match code {
                    Some(c) => format!("error {c}: {reason}"),
                    None => reason,
                };
                (DeliveryOutcome::Undeliverable, code, Some(reason))
            }
        };
        let window_closed =
            route == DeliveryRoute::ZaloOa && code.is_some_and(|c| WINDOW_CLOSED.contains(&c));
        if !window_closed {
            record(
                self,
                id,
                message_id,
                vec![attempt(now, route, outcome, reason)],
            )
            .await?;
            return Ok(());
        }
        let Some(report) = self.report(id).await? else {
            return Ok(());
        };
        let message = report.messages.iter().find(|m| &m.id == message_id);
        let fallback = fallback_route(&report).filter(|_| self.conversations().outboxes().email);
        let mut attempts = Vec::new();
        match (message, fallback) {
            (Some(m), Some(route)) => {
                attempts.push(attempt(now, DeliveryRoute::ZaloOa, outcome, reason));
                match enqueue(self, &report, m, &route, true).await {
                    Ok(()) => attempts.push(attempt(
                        now,
                        DeliveryRoute::Email,
                        DeliveryOutcome::Queued,
                        Some(
                            "the Zalo conversation is closed: sent to the citizen's email address"
                                .into(),
                        ),
                    )),
                    Err(e) => {
                        tracing::warn!(error = %e, report_id = %report.id, "IOC message fallback not queued");
                        attempts.push(attempt(
                            now,
                            DeliveryRoute::Email,
                            DeliveryOutcome::Failed,
                            Some("the outbox is unavailable".into()),
                        ));
                    }
                }
            }
            _ => attempts.push(attempt(
                now,
                DeliveryRoute::ZaloOa,
                outcome,
                reason.map(|r| {
                    format!("{r}; the citizen gave no other contact the gateway can write to")
                }),
            )),
        }
        record(self, id, message_id, attempts).await?;
        Ok(())
    }
}

/// An entry of the webhook's outbox: the body as first posted (signed again at each attempt).
#[derive(Debug, Serialize, Deserialize)]
struct WebhookRetry {
    report_id: String,
    message_id: String,
    body: String,
}

/// Put a failed webhook delivery in the durable outbox (once per message); the attempt that
/// says so.
async fn queue_webhook_retry(
    pipeline: &Pipeline,
    hook: &Webhook,
    report_id: &str,
    message_id: &str,
    body: Vec<u8>,
) -> DeliveryAttempt {
    let now = pipeline.now();
    let entry = WebhookRetry {
        report_id: report_id.to_string(),
        message_id: message_id.to_string(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let pushed = match serde_json::to_value(&entry) {
        Ok(payload) => pipeline
            .channel_store(hook.claim_timeout())
            .push_once(WEBHOOK_STREAM, &format!("webhook:{message_id}"), payload)
            .await
            .map(|_| ()),
        Err(e) => Err(channels::StoreError::new(e)),
    };
    match pushed {
        Ok(()) => attempt(
            now,
            DeliveryRoute::Webhook,
            DeliveryOutcome::Queued,
            Some(format!(
                "tried again with back-off, {} attempts in all at most",
                hook.max_attempts
            )),
        ),
        Err(e) => {
            tracing::warn!(error = %e, report_id, "webhook retry not queued");
            attempt(
                now,
                DeliveryRoute::Webhook,
                DeliveryOutcome::Failed,
                Some("the outbox is unavailable: not tried again".into()),
            )
        }
    }
}

/// Deliver the webhook's outbox until `shutdown` (one task per gateway; several gateways on one
/// Redis share the entries). Does nothing when no webhook is configured.
pub async fn run_webhook_outbox(
    pipeline: std::sync::Arc<Pipeline>,
    consumer: String,
    shutdown: channels::CancellationToken,
) {
    let Some(hook) = pipeline.conversations().webhook() else {
        return;
    };
    let store = pipeline.channel_store(hook.claim_timeout());
    while !shutdown.is_cancelled() {
        let wait = match store.claim(WEBHOOK_STREAM, &consumer, 8).await {
            Ok(entries) if !entries.is_empty() => {
                for entry in entries {
                    if let Err(e) =
                        deliver_webhook(&pipeline, hook, &store, &entry, &shutdown).await
                    {
                        tracing::warn!(error = %e, "webhook retry left for later");
                    }
                    if shutdown.is_cancelled() {
                        return;
                    }
                }
                continue;
            }
            Ok(_) => Duration::from_millis(200),
            Err(e) => {
                tracing::warn!(error = %e, "the webhook outbox is unavailable");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Try one outbox entry again until it is delivered or out of attempts, each attempt recorded
/// on the message; then acknowledge it. The attempts made are counted from those recorded, so
/// a gateway restarted mid-way (the entry claimed again) goes on where the last one stopped.
async fn deliver_webhook(
    pipeline: &Pipeline,
    hook: &Webhook,
    store: &crate::store::ChannelStore,
    entry: &channels::intake::StreamEntry,
    shutdown: &channels::CancellationToken,
) -> Result<(), WebhookError> {
    let ack = || async {
        store
            .ack(WEBHOOK_STREAM, &entry.entry_id)
            .await
            .map_err(WebhookError::Outbox)
    };
    let retry: WebhookRetry = match serde_json::from_value(entry.payload.clone()) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "unreadable webhook outbox entry: dropped");
            return ack().await;
        }
    };
    let Some(report) = pipeline
        .report(&retry.report_id)
        .await
        .map_err(|e| WebhookError::Status(e.into()))?
    else {
        return ack().await;
    };
    let Some(message) = report.messages.iter().find(|m| m.id == retry.message_id) else {
        return ack().await;
    };
    let webhook_attempts = || {
        message
            .attempts
            .iter()
            .filter(|a| a.route == DeliveryRoute::Webhook)
    };
    if webhook_attempts().any(|a| {
        matches!(
            a.outcome,
            DeliveryOutcome::Sent | DeliveryOutcome::Undeliverable
        )
    }) {
        return ack().await;
    }
    let mut failed = webhook_attempts()
        .filter(|a| a.outcome == DeliveryOutcome::Failed)
        .count() as u32;
    let mut last_reason = None;
    loop {
        if failed >= hook.max_attempts {
            let reason = format!(
                "gave up after {failed} attempts{}",
                last_reason
                    .map(|r: String| format!(": {r}"))
                    .unwrap_or_default()
            );
            record(
                pipeline,
                &retry.report_id,
                &retry.message_id,
                vec![attempt(
                    pipeline.now(),
                    DeliveryRoute::Webhook,
                    DeliveryOutcome::Undeliverable,
                    Some(reason),
                )],
            )
            .await?;
            crate::metrics::webhook_gave_up();
            break;
        }
        tokio::select! {
            // Interrupted: the entry stays pending, another claim goes on.
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(hook.backoff(failed.max(1))) => {}
        }
        let (outcome, reason) = hook.post(retry.body.clone().into_bytes()).await;
        record(
            pipeline,
            &retry.report_id,
            &retry.message_id,
            vec![attempt(
                pipeline.now(),
                DeliveryRoute::Webhook,
                outcome,
                reason.clone(),
            )],
        )
        .await?;
        if outcome == DeliveryOutcome::Sent {
            break;
        }
        failed += 1;
        last_reason = reason;
    }
    ack().await
}

/// The photo types the IOC may attach: those a public copy without metadata can be made of.
pub const PHOTO_TYPES: [&str; 3] = ["image/jpeg", "image/png", "image/webp"];

/// Why the photos of an IOC message were refused (nothing is stored then). `index` counts
/// the `photo` parts from 1.
#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    #[error("at most {max} photos per message")]
    TooMany { max: usize },
    #[error("photo {index} is larger than {max} bytes")]
    TooLarge { index: usize, max: u64 },
    #[error("photo {index} is not a photo (it is {media_type})")]
    NotAPhoto { index: usize, media_type: String },
    #[error("photo {index} is {media_type}: send JPEG, PNG or WebP, of which a copy without metadata can be made")]
    Unsupported { index: usize, media_type: String },
    #[error("photo {index} cannot be read as an image")]
    Unreadable { index: usize },
    #[error("photo {index}: no copy without its metadata (EXIF, GPS) could be made of it")]
    NotStrippable { index: usize },
    #[error("the photos cannot be stored")]
    Store(#[source] channels::IngestError),
}

/// Whether an inspected file may go with an IOC message.
fn check_photo(index: usize, info: &MediaInfo) -> Result<(), PhotoError> {
    if info.kind != Some(normalizers::report::MediaKind::Photo) {
        return Err(PhotoError::NotAPhoto {
            index,
            media_type: info.media_type.clone(),
        });
    }
    if !PHOTO_TYPES.contains(&info.media_type.as_str()) {
        return Err(PhotoError::Unsupported {
            index,
            media_type: info.media_type.clone(),
        });
    }
    if info.unreadable.is_some() {
        return Err(PhotoError::Unreadable { index });
    }
    Ok(())
}

impl Pipeline {
    /// The photos of an IOC message, staged by the caller: each inspected (a photo of a
    /// strippable kind, readable) before any is stored; then each stored durably (content
    /// address, fsync) with its public copy. Any refusal stores nothing of the message: the
    /// staged files are deleted when `staged` is dropped. (A photo whose public copy fails
    /// after the others were stored leaves those files unreferenced, never recorded.)
    pub async fn take_photos(
        &self,
        staged: Vec<PreparedMedia>,
    ) -> Result<Vec<MessagePhoto>, PhotoError> {
        if staged.len() > conversation::MAX_PHOTOS {
            return Err(PhotoError::TooMany {
                max: conversation::MAX_PHOTOS,
            });
        }
        let mut infos = Vec::with_capacity(staged.len());
        for (i, p) in staged.iter().enumerate() {
            let info =
                crate::pipeline::inspect_file(p.staged.path(), p.claimed_type.as_deref()).await;
            check_photo(i + 1, &info)?;
            infos.push(info);
        }
        let mut photos = Vec::with_capacity(staged.len());
        for (i, (p, info)) in staged.iter().zip(infos).enumerate() {
            let a = self
                .commit_photo(p, info)
                .await
                .map_err(PhotoError::Store)?;
            if a.public_key.is_none() {
                return Err(PhotoError::NotStrippable { index: i + 1 });
            }
            photos.push(MessagePhoto {
                media_type: a.media_type,
                size: a.size,
                storage_key: a.storage_key,
                public_key: a.public_key,
            });
        }
        Ok(photos)
    }

    /// The photos of the IOC message an outbox entry carries, as the channels send them: the
    /// public copies on disk, named `anh-<n>.<ext>`, with their public URL when the gateway's
    /// public address is configured. Internal notes and unknown messages have none.
    pub async fn message_photos(
        &self,
        out: &Outbound,
    ) -> Result<Vec<channels::OutboundPhoto>, channels::StoreError> {
        let (Some(id), Some(message_id)) = (&out.report_id, &out.message_id) else {
            return Ok(Vec::new());
        };
        let Some(report) = self.report(id).await.map_err(channels::StoreError::new)? else {
            return Ok(Vec::new());
        };
        let Some(m) = report
            .messages
            .iter()
            .find(|m| &m.id == message_id && !m.internal)
        else {
            return Ok(Vec::new());
        };
        let base = self.conversations().public_base_url();
        let mut out = Vec::with_capacity(m.photos.len());
        for (i, p) in m.photos.iter().enumerate() {
            let Some(key) = p.public_key.as_deref() else {
                continue;
            };
            let path = self.media_path(key).map_err(channels::StoreError::new)?;
            out.push(channels::OutboundPhoto {
                path,
                media_type: p.media_type.clone(),
                size: p.size,
                file_name: format!(
                    "anh-{}.{}",
                    i + 1,
                    conversation::photo_extension(&p.media_type)
                ),
                url: base.and_then(|b| {
                    conversation::photo_path(&report.tracking_code, p)
                        .map(|path| format!("{b}{path}"))
                }),
            });
        }
        Ok(out)
    }
}

/// Report ids named by the gateway's own Message-IDs in a thread
/// (`<kind>.<report id>[.<message id>]@<domain>`), the latest first.
pub fn report_ids_in(references: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in references.iter().rev() {
        let r = r.trim().trim_start_matches('<').trim_end_matches('>');
        let Some((local, _domain)) = r.rsplit_once('@') else {
            continue;
        };
        let mut parts = local.split('.');
        let (Some(kind), Some(id)) = (parts.next(), parts.next()) else {
            continue;
        };
        let ours = ["ack", "rejection", "ioc_message", "answer_ack"].contains(&kind);
        if ours
            && id.len() == 26
            && id.chars().all(|c| c.is_ascii_alphanumeric())
            && !out.iter().any(|o| o == id)
        {
            out.push(id.to_string());
        }
    }
    out
}

/// The first tracking code written in `text` (`LA-XXXX-XXXX`, any case).
pub fn tracking_code_in(text: &str) -> Option<String> {
    let upper = text.to_ascii_uppercase();
    let bytes = upper.as_bytes();
    let is_code_char = |b: u8| b.is_ascii_alphanumeric();
    let mut from = 0;
    while let Some(pos) = upper[from..].find("LA-") {
        let start = from + pos;
        let code = upper.get(start..start + 12);
        let before_ok = start == 0 || !is_code_char(bytes[start - 1]);
        let after_ok = bytes.get(start + 12).is_none_or(|b| !is_code_char(*b));
        if let Some(code) = code {
            let c = code.as_bytes();
            if before_ok
                && after_ok
                && c[7] == b'-'
                && c[3..7].iter().chain(&c[8..12]).all(|b| is_code_char(*b))
            {
                return Some(code.to_string());
            }
        }
        from = start + 3;
    }
    None
}

/// Whether `address` is the reporter's own (the address the report came from, or the one
/// they gave).
fn sender_is_reporter(report: &Report, address: &str) -> bool {
    let a = address.trim().to_lowercase();
    if a.is_empty() {
        return false;
    }
    let route = match &report.reply_route {
        Some(ReplyRoute::Email { address, .. }) => Some(address.to_lowercase()),
        _ => None,
    };
    route.as_deref() == Some(a.as_str())
        || report.reporter.email.as_deref().map(str::to_lowercase) == Some(a.clone())
        || (report.channel == Channel::Email
            && report
                .reporter
                .channel_identity
                .as_deref()
                .map(str::to_lowercase)
                == Some(a))
}

/// Whether `contact` (a phone number written any usual way, or an email address) is one the
/// reporter gave.
pub fn contact_is_reporter(report: &Report, contact: &str) -> bool {
    let c = contact.trim();
    if c.is_empty() {
        return false;
    }
    if let Some(phone) = normalizers::contact::normalize_phone(c) {
        if report.reporter.phone.as_deref() == Some(phone.as_str()) {
            return true;
        }
    }
    c.contains('@') && sender_is_reporter(report, c)
}

/// What a citizen sent about their report.
pub struct IncomingAnswer {
    pub channel: Channel,
    pub channel_ref: Option<String>,
    /// The de-duplication key of the channel (a retry attaches nothing twice).
    pub dedup_key: String,
    pub text: String,
    pub media: Vec<channels::MediaInput>,
    /// A rating given as such (the app's form); else one may be read from the text.
    pub rating: Option<(conversation::RatingValue, Option<String>)>,
}

/// The IOC's queue entry of a citizen's answer or rating (no contact data).
#[derive(Debug, Serialize)]
struct AnswerEntry<'a> {
    kind: &'static str,
    report_id: &'a str,
    tracking_code: &'a str,
    answer: &'a conversation::CitizenMessage,
}

impl Pipeline {
    /// A citizen's mail that may answer one of their reports (`Intake::answer`).
    pub async fn take_answer(
        &self,
        submission: channels::Submission,
    ) -> Result<channels::Answer, channels::IngestError> {
        let unavailable = channels::IngestError::unavailable;
        if let channels::Origin::ZaloOa { oa_id, user_id } = &submission.origin {
            let route = ReplyRoute::ZaloOa {
                oa_id: oa_id.clone(),
                user_id: user_id.clone(),
            };
            let text = &submission.report.content.text;
            let target = match tracking_code_in(text) {
                // Quoting the code of one of their own reports.
                Some(code) => self
                    .track(&code)
                    .await
                    .map_err(unavailable)?
                    .filter(|r| r.reply_route.as_ref() == Some(&route)),
                // The report the IOC last wrote to them about, while it waits for an answer.
                None => match self
                    .get_state(&zalo_awaiting_key(self, oa_id, user_id))
                    .await
                    .map_err(unavailable)?
                {
                    Some(id) => self.report(&id).await.map_err(unavailable)?.filter(|r| {
                        r.reply_route.as_ref() == Some(&route)
                            && (conversation::detail_requested(r)
                                || conversation::rating_open(r).is_some())
                    }),
                    None => None,
                },
            };
            let Some(report) = target else {
                return Ok(channels::Answer::NotAnAnswer(Box::new(submission)));
            };
            let incoming = IncomingAnswer {
                channel: Channel::ZaloOa,
                channel_ref: submission.report.channel_ref.clone(),
                dedup_key: submission.dedup_key,
                text: submission.report.content.text,
                media: submission.media,
                rating: None,
            };
            return self.answer_or_refuse(&report, incoming).await;
        }
        let channels::Origin::Email {
            address,
            references,
            subject,
            message_id,
        } = &submission.origin
        else {
            return Ok(channels::Answer::NotAnAnswer(Box::new(submission)));
        };
        let mut target = None;
        for id in report_ids_in(references) {
            if let Some(r) = self.report(&id).await.map_err(unavailable)? {
                if sender_is_reporter(&r, address) {
                    target = Some(r);
                    break;
                }
            }
        }
        if target.is_none() {
            if let Some(code) = subject.as_deref().and_then(tracking_code_in) {
                target = self
                    .track(&code)
                    .await
                    .map_err(unavailable)?
                    .filter(|r| sender_is_reporter(r, address));
            }
        }
        let Some(report) = target else {
            return Ok(channels::Answer::NotAnAnswer(Box::new(submission)));
        };
        let text = submission.report.content.text.clone();
        if text.trim().is_empty() && submission.media.is_empty() {
            // Nothing but quoted text: a report of its own, refused with the reasons.
            return Ok(channels::Answer::NotAnAnswer(Box::new(submission)));
        }
        let incoming = IncomingAnswer {
            channel: Channel::Email,
            channel_ref: message_id.clone(),
            dedup_key: submission.dedup_key,
            text,
            media: submission.media,
            rating: None,
        };
        self.answer_or_refuse(&report, incoming).await
    }

    /// Attach a channel's answer; one with vulgar or offensive words (Đ7.6) is not attached
    /// and comes back as [`channels::AnsweredKind::Refused`], keyed by the id its
    /// de-duplication key is bound to, so the channel tells the citizen why once and takes
    /// the message as handled (not as a new report, not as a failure).
    async fn answer_or_refuse(
        &self,
        report: &Report,
        incoming: IncomingAnswer,
    ) -> Result<channels::Answer, channels::IngestError> {
        let bound = format!("answer:{}", incoming.dedup_key);
        let channel = incoming.channel;
        match self.attach_answer(&report.id, incoming).await {
            Ok(answered) => Ok(channels::Answer::Attached(answered)),
            Err(AttachError::Status(StatusError::Answer(conversation::AnswerError::Offensive))) => {
                // `attach_answer` bound the key before checking the text: the same id.
                let answer_id = self
                    .bind_once(&bound, &self.new_id())
                    .await
                    .map_err(channels::IngestError::unavailable)?;
                crate::metrics::citizen_answer("refused", channel.as_str());
                Ok(channels::Answer::Attached(channels::Answered {
                    report_id: report.id.clone(),
                    tracking_code: report.tracking_code.clone(),
                    answer_id,
                    kind: channels::AnsweredKind::Refused,
                    replayed: false,
                }))
            }
            Err(e) => Err(ingest_error(e)),
        }
    }

    /// Attach a citizen's answer (or rating) to report `id` and queue it for the IOC.
    pub async fn attach_answer(
        &self,
        id: &str,
        incoming: IncomingAnswer,
    ) -> Result<channels::Answered, AttachError> {
        let candidate = self.new_id();
        let answer_id = self
            .bind_once(&format!("answer:{}", incoming.dedup_key), &candidate)
            .await
            .map_err(StatusError::Store)?;
        let replayed = answer_id != candidate;
        let has_media = !incoming.media.is_empty();
        let text =
            conversation::clean_answer(&incoming.text, has_media).map_err(StatusError::Answer)?;
        // The text checks of descriptions (offensive words refuse; the rest is flagged for the
        // IOC), unless the text is only the value of a rating given as such.
        let words_of_citizen = incoming
            .rating
            .as_ref()
            .is_none_or(|(v, _)| text != v.as_str());
        let flags = if words_of_citizen {
            conversation::check_answer(&text).map_err(StatusError::Answer)?
        } else {
            Vec::new()
        };
        let attachments = if replayed
            && self
                .report(id)
                .await
                .map_err(StatusError::Store)?
                .is_some_and(|r| r.answers.iter().any(|a| a.id == answer_id))
        {
            Vec::new()
        } else {
            self.store_media(incoming.media)
                .await
                .map_err(AttachError::Ingest)?
        };
        let rating = incoming.rating.or_else(|| {
            (!has_media)
                .then(|| conversation::parse_rating(&text))
                .flatten()
        });
        let mut kind = channels::AnsweredKind::Answer;
        let mut stored = None;
        let report = with_lock(self, id, |mut report, now| {
            if let Some(existing) = report.answers.iter().find(|a| a.id == answer_id) {
                stored = Some(existing.clone());
                kind = match &existing.rating {
                    Some(_) => channels::AnsweredKind::Rating,
                    None => channels::AnsweredKind::Answer,
                };
                return Ok(None);
            }
            let plain = conversation::CitizenMessage {
                id: answer_id.clone(),
                at: now,
                channel: incoming.channel,
                channel_ref: incoming.channel_ref.clone(),
                text: text.clone(),
                attachments: attachments.clone(),
                rating: None,
                flags: flags.clone(),
            };
            let m = match rating.clone() {
                Some((value, reason)) if conversation::rating_open(&report).is_some() => {
                    match conversation::rate(
                        &mut report,
                        answer_id.clone(),
                        incoming.channel,
                        incoming.channel_ref.clone(),
                        value,
                        reason,
                        now,
                    ) {
                        Ok(m) => {
                            kind = channels::AnsweredKind::Rating;
                            m
                        }
                        Err(conversation::AnswerError::ReasonRequired) => {
                            kind = channels::AnsweredKind::RatingNeedsReason;
                            conversation::answer(&mut report, plain)?
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                _ => conversation::answer(&mut report, plain)?,
            };
            stored = Some(m);
            Ok(Some(report))
        })
        .await?;
        let answer = stored.ok_or_else(|| StatusError::NotFound(id.to_string()))?;
        let entry = AnswerEntry {
            kind: if answer.rating.is_some() {
                "rating"
            } else {
                "citizen_message"
            },
            report_id: &report.id,
            tracking_code: &report.tracking_code,
            answer: &answer,
        };
        let json = serde_json::to_vec(&entry).map_err(|source| StatusError::Encode {
            id: report.id.clone(),
            source,
        })?;
        self.queue_for_ioc(&format!("answer:{}", answer.id), &json)
            .await
            .map_err(StatusError::Store)?;
        crate::metrics::citizen_answer(entry.kind, incoming.channel.as_str());
        Ok(channels::Answered {
            report_id: report.id.clone(),
            tracking_code: report.tracking_code.clone(),
            answer_id: answer.id.clone(),
            kind,
            replayed,
        })
    }
}

fn ingest_error(e: AttachError) -> channels::IngestError {
    match e {
        AttachError::Status(StatusError::Answer(a)) => channels::IngestError::invalid(a),
        AttachError::Ingest(e) => e,
        e => channels::IngestError::unavailable(e),
    }
}

/// How long a Zalo conversation stays bound to the report the IOC last wrote about.
const ZALO_AWAITING_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// State key of the report the IOC last wrote to a Zalo user about (the user keyed, R-SEC-2).
fn zalo_awaiting_key(pipeline: &Pipeline, oa_id: &str, user_id: &str) -> String {
    use channels::Intake;
    format!(
        "answer:zalo:{}",
        pipeline.keyed_digest(&format!("{oa_id}:{user_id}"))
    )
}

/// Why a webhook outbox entry was left for later.
#[derive(Debug, thiserror::Error)]
enum WebhookError {
    #[error("the report cannot be read or written")]
    Status(#[from] StatusError),
    #[error("the webhook outbox is unavailable")]
    Outbox(#[source] channels::StoreError),
}

/// Why a citizen's answer was not attached.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error(transparent)]
    Status(#[from] StatusError),
    #[error(transparent)]
    Ingest(channels::IngestError),
}

/// Run `change` under the report's lock, retrying while another change holds it.
async fn with_lock(
    pipeline: &Pipeline,
    id: &str,
    mut change: impl FnMut(Report, chrono::DateTime<chrono::Utc>) -> Result<Option<Report>, StatusError>,
) -> Result<Report, StatusError> {
    let mut tries = 0;
    loop {
        match pipeline.locked(id, &mut change).await {
            Err(StatusError::Busy(_)) if tries < 100 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_gateways_own_message_ids_name_their_report() {
        let id = "01KB0000000000000000000000";
        let refs = vec![
            "x@example.vn".to_string(),
            format!("ack.{id}@longan.gov.vn"),
            format!("<ioc_message.{id}.01KB1111111111111111111111@longan.gov.vn>"),
            "ack.short@longan.gov.vn".to_string(),
        ];
        assert_eq!(report_ids_in(&refs), vec![id.to_string()]);
        assert_eq!(
            tracking_code_in("Re: [la-7k3m-q9tx] Đèn").as_deref(),
            Some("LA-7K3M-Q9TX")
        );
        assert_eq!(tracking_code_in("XLA-7K3M-Q9TX"), None);
        assert_eq!(tracking_code_in("LA-7K3M"), None);
    }

    #[test]
    fn a_webhook_needs_a_secret() {
        let c = MessagesConfig {
            webhook_url: Some("https://app.example.vn/1022".into()),
            ..Default::default()
        };
        assert_eq!(c.problems().len(), 1);
        let c = MessagesConfig {
            webhook_secret: Some(Secret::new("0123456789abcdef0123")),
            ..c
        };
        assert!(c.problems().is_empty());
        let too_many = MessagesConfig {
            webhook_max_attempts: MAX_WEBHOOK_ATTEMPTS + 1,
            ..c.clone()
        };
        assert_eq!(too_many.problems().len(), 1);
        for (url, problems) in [
            ("https://1022.longan.gov.vn", 0),
            ("1022.longan.gov.vn", 1),
            ("https://1022.longan.gov.vn/?x=1", 1),
        ] {
            let with_url = MessagesConfig {
                public_base_url: Some(url.into()),
                ..c.clone()
            };
            assert_eq!(with_url.problems().len(), problems, "{url}");
        }
        let hook = Webhook::from_config(&MessagesConfig {
            webhook_retry_base_ms: 100,
            ..c
        })
        .unwrap();
        let waits: Vec<_> = (1..=4).map(|n| hook.backoff(n).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800], "doubled each time");
        assert!(hook.claim_timeout() > Duration::from_millis(1500) + hook.timeout * 6);
    }
}
