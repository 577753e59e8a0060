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
//!
//! The channel is built by [`EmailConfig`]'s [`ChannelConfig::build`].

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

use std::sync::Arc;
use std::time::Duration;

use normalizers::email::EmailOptions;

use crate::context::{
    ChannelConfig, ChannelContext, ChannelError, ChannelStorage, ConfigProblem, RunningChannel,
};
use crate::intake::Intake;

/// The durable stream of replies waiting to be sent.
pub const OUTBOUND_STREAM: &str = "outbound:email";

/// The normalizer options that follow from the configuration.
pub fn email_options(config: &EmailConfig) -> EmailOptions {
    EmailOptions {
        trusted_authserv_id: config.trusted_authserv_id.clone(),
        own_addresses: vec![config.mail_from.trim().to_ascii_lowercase()],
    }
}

fn refused(e: ConfigError) -> ChannelError {
    ChannelError::config(EmailConfig::NAME, ConfigProblem::from(e))
}

impl ChannelConfig for EmailConfig {
    const NAME: &'static str = "email";

    /// An IMAP host (the poller) or an SMTP host (the sender of queued replies).
    fn configured(&self) -> bool {
        self.enabled() || self.smtp_host.is_some()
    }

    fn problems(&self) -> Vec<ConfigProblem> {
        EmailConfig::problems(self)
    }

    /// Start the IMAP poller (under the lease held in the name of `ctx.instance_id`) and the
    /// SMTP outbox sender; both run until `ctx.shutdown` is cancelled and the poller released
    /// its lease. Fails only on configuration that cannot work (missing password, unreadable CA
    /// file); connection problems are retried with backoff while running.
    fn build<I: Intake, S: ChannelStorage>(
        &self,
        ctx: &ChannelContext<I, S>,
    ) -> Result<RunningChannel, ChannelError> {
        self.refuse_errors()?;
        let config = self.clone();
        let stats = Arc::new(EmailStats::default());
        let mut tasks = Vec::new();
        if config.enabled() {
            let tls = tls::client_config(config.imap_ca_file.as_deref(), "imap_ca_file")
                .map_err(refused)?;
            let processor = Arc::new(Processor {
                intake: ctx.intake.clone(),
                streams: ctx.store.clone(),
                state: ctx.store.clone(),
                options: email_options(&config),
                reply_rate_per_hour: config.reply_rate_per_hour,
                reply_global_rate_per_hour: config.reply_global_rate_per_hour,
                send_replies: true,
                stats: stats.clone(),
            });
            let poller = imap::Poller {
                lease: lease::Lease::new(
                    &config.mailbox,
                    &ctx.instance_id,
                    Duration::from_secs(config.lease_ttl_secs.max(3)),
                ),
                password: config.imap_password().map_err(refused)?,
                config: config.clone(),
                tls,
                processor,
                shutdown: ctx.shutdown.clone(),
            };
            tasks.push(tokio::spawn(poller.run()));
        }
        if let Some(transport) = outbox::transport(&config).map_err(refused)? {
            let from = format!("Hệ thống 1022 <{}>", config.mail_from.trim())
                .parse()
                .map_err(|e: lettre::address::AddressError| {
                    refused(ConfigError::Invalid {
                        field: "mail_from",
                        problem: e.to_string(),
                    })
                })?;
            let sender = outbox::Sender {
                transport,
                from,
                streams: ctx.store.clone(),
                clock: ctx.intake.clone(),
                consumer: format!("email-sender:{}", ctx.instance_id),
                max_attempts: config.smtp_max_attempts.max(1),
                max_backoff: Duration::from_secs(config.smtp_max_backoff_secs.max(1)),
                stats: stats.clone(),
                shutdown: ctx.shutdown.clone(),
            };
            tasks.push(tokio::spawn(sender.run()));
        }
        Ok(RunningChannel {
            router: None,
            tasks,
            email_stats: Some(stats),
        })
    }
}
