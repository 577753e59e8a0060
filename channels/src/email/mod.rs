//! The email channel (R-CH-EMAIL): citizens write to 1022@longan.gov.vn; the gateway reads the
//! mailbox over IMAP, turns every message into a report, and answers over SMTP.
//!
//! Nothing is lost and nothing is doubled (R-PIPE-1, R-PIPE-2): a message is fetched with
//! BODY.PEEK, handed to the [`Intake`], and moved to the processed folder only after `ingest`
//! returned (report, raw .eml and media durable and queued, or the rejection recorded) and the
//! reply was queued in the durable outbox. A crash anywhere leaves the message in the mailbox to
//! be read again, and the intake's de-duplication on Message-ID removes the repeat. There is no
//! time window: whatever is still in the mailbox after any downtime is processed. One instance
//! polls at a time (a lease in the [`StateStore`]).
//!
//! # Layout
//! - `config`: the `[email]` settings (`GATEWAY_IMAP_*`, `GATEWAY_SMTP_*`, `GATEWAY_MAIL_FROM`).
//! - `process`: one message to a submission, ingest, queue the reply (shared by IMAP and import).
//! - `imap`: the poller (IMAPS/STARTTLS, IDLE or polling, move to Processed/Failed, checkpoint).
//! - `lease`: single poller across instances.
//! - `outbox`: the SMTP sender of `outbound:email` (lettre, rustls, retries with backoff).
//! - `import`: Maildir and mbox backfill readers.
//! - `tls`: rustls configuration with an extra CA, plain/TLS stream.
//! - `stats`: counters for metrics.

pub mod config;
pub mod imap;
pub mod import;
pub mod lease;
pub mod outbox;
pub mod process;
pub mod stats;
pub mod tls;

pub use config::{ConfigError, EmailConfig, TlsMode};
pub use import::{import, open_mailbox, ImportStopped, ImportSummary, MailboxReader, RawMessage};
pub use process::{submission_from_eml, Disposition, EmailSubmission, Processor};
pub use stats::{EmailStats, EmailStatsSnapshot};
/// The shutdown signal [`spawn`] takes (re-exported so callers need no tokio-util dependency).
pub use tokio_util::sync::CancellationToken;

use std::sync::Arc;
use std::time::Duration;

use normalizers::email::EmailOptions;
use tokio::task::JoinHandle;

use crate::intake::{Intake, StateStore, Streams};

/// The durable stream of replies waiting to be sent.
pub const OUTBOUND_STREAM: &str = "outbound:email";

/// The running email channel.
pub struct EmailChannel {
    /// Completes after shutdown, once the poller released its lease and the sender stopped.
    pub handle: JoinHandle<()>,
    pub stats: Arc<EmailStats>,
}

/// The normalizer options that follow from the configuration.
pub fn email_options(config: &EmailConfig) -> EmailOptions {
    EmailOptions {
        trusted_authserv_id: config.trusted_authserv_id.clone(),
        own_addresses: vec![config.mail_from.trim().to_ascii_lowercase()],
    }
}

/// Start the IMAP poller (under the lease) and the SMTP outbox sender. Returns at once; both run
/// until `shutdown` is cancelled. `instance_id` must be stable across restarts of one instance
/// and distinct between instances running at the same time (the lease holder). Fails only on configuration that cannot work (missing
/// password, unreadable CA file); connection problems are retried with backoff while running.
pub fn spawn<I: Intake, S: Streams, T: StateStore>(
    config: EmailConfig,
    intake: Arc<I>,
    streams: Arc<S>,
    state: Arc<T>,
    instance_id: String,
    shutdown: CancellationToken,
) -> Result<EmailChannel, ConfigError> {
    config.validate()?;
    let stats = Arc::new(EmailStats::default());
    let mut tasks = Vec::new();
    if config.enabled() {
        let tls = tls::client_config(config.imap_ca_file.as_deref(), "imap_ca_file")?;
        let processor = Arc::new(Processor {
            intake: intake.clone(),
            streams: streams.clone(),
            state: state.clone(),
            options: email_options(&config),
            reply_rate_per_hour: config.reply_rate_per_hour,
            send_replies: true,
            stats: stats.clone(),
        });
        let poller = imap::Poller {
            lease: lease::Lease::new(
                &config.mailbox,
                &instance_id,
                Duration::from_secs(config.lease_ttl_secs.max(3)),
            ),
            password: config.imap_password()?,
            config: config.clone(),
            tls,
            processor,
            shutdown: shutdown.clone(),
        };
        tasks.push(tokio::spawn(poller.run()));
    }
    if let Some(transport) = outbox::transport(&config)? {
        let from = format!("Hệ thống 1022 <{}>", config.mail_from.trim())
            .parse()
            .map_err(|e: lettre::address::AddressError| ConfigError::Invalid {
                field: "mail_from",
                problem: e.to_string(),
            })?;
        let sender = outbox::Sender {
            transport,
            from,
            streams,
            clock: intake,
            consumer: format!("email-sender:{instance_id}"),
            max_attempts: config.smtp_max_attempts.max(1),
            max_backoff: Duration::from_secs(config.smtp_max_backoff_secs.max(1)),
            stats: stats.clone(),
            shutdown,
        };
        tasks.push(tokio::spawn(sender.run()));
    }
    let handle = tokio::spawn(async move {
        for t in tasks {
            if let Err(e) = t.await {
                tracing::error!(error = %e, "email channel task failed");
            }
        }
    });
    Ok(EmailChannel { handle, stats })
}
