//! The SMTP sender: takes replies from the durable `outbound:email` stream, sends them with
//! lettre over rustls, and acknowledges each entry only once the SMTP server accepted it. A
//! failing server delays replies (backoff, redelivery by the stream) but never intake, which only
//! appends to the stream.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio_util::sync::CancellationToken;

use super::config::{ConfigError, EmailConfig, TlsMode};
use super::stats::EmailStats;
use super::OUTBOUND_STREAM;
use crate::intake::{Intake, Origin, Outbound, Streams};
use crate::templates::email::reply_subject;

/// Entries claimed per round.
const BATCH: usize = 16;
/// Pause when the outbox is empty.
const IDLE_PAUSE: Duration = Duration::from_secs(1);

/// `Auto-Submitted: auto-replied` (RFC 3834): tells other robots not to answer our replies.
#[derive(Debug, Clone)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-replied".to_string())
    }
}

/// `X-Auto-Response-Suppress: All`: Exchange/Outlook send no out-of-office to our replies.
#[derive(Debug, Clone)]
struct AutoResponseSuppress;

impl Header for AutoResponseSuppress {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Auto-Response-Suppress")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoResponseSuppress)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "All".to_string())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    #[error("the outbound entry is not an email reply")]
    NotEmail,
    #[error("invalid address: {0}")]
    Address(#[from] lettre::address::AddressError),
    #[error("message cannot be built: {0}")]
    Build(#[from] lettre::error::Error),
}

/// The reply email of `outbound`: threaded (In-Reply-To, References, "Re:"), text and HTML,
/// `Auto-Submitted: auto-replied`, with a Message-ID derived from the report so that a repeated
/// delivery is recognisably the same message.
pub fn build_reply(
    outbound: &Outbound,
    from: &Mailbox,
    date: SystemTime,
) -> Result<Message, ReplyError> {
    let Origin::Email {
        address,
        message_id,
        references,
        subject,
    } = &outbound.origin
    else {
        return Err(ReplyError::NotEmail);
    };
    let domain = from.email.domain().to_string();
    let local = match &outbound.report_id {
        Some(id) => format!("{}.{id}", outbound.kind),
        None => {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(outbound.text.as_bytes());
            format!("{}.{}", outbound.kind, hex::encode(&digest[..10]))
        }
    };
    let mut builder = Message::builder()
        .from(from.clone())
        .to(address.parse::<Mailbox>()?)
        .subject(reply_subject(subject.as_deref()))
        .date(date)
        .message_id(Some(format!("<{local}@{domain}>")))
        .header(AutoSubmitted)
        .header(AutoResponseSuppress);
    if let Some(id) = message_id {
        builder = builder.in_reply_to(format!("<{id}>"));
    }
    let mut refs: Vec<String> = references.iter().map(|r| format!("<{r}>")).collect();
    if let Some(id) = message_id {
        let own = format!("<{id}>");
        if !refs.contains(&own) {
            refs.push(own);
        }
    }
    if !refs.is_empty() {
        builder = builder.references(refs.join(" "));
    }
    let message = match &outbound.html {
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(
            outbound.text.clone(),
            html.clone(),
        ))?,
        None => builder.singlepart(SinglePart::plain(outbound.text.clone()))?,
    };
    Ok(message)
}

/// The SMTP transport described by the configuration (None when no SMTP host is set).
pub fn transport(
    config: &EmailConfig,
) -> Result<Option<AsyncSmtpTransport<Tokio1Executor>>, ConfigError> {
    let Some(host) = config.smtp_host.as_deref().filter(|h| !h.trim().is_empty()) else {
        return Ok(None);
    };
    let tls_parameters = || -> Result<TlsParameters, ConfigError> {
        let mut b = TlsParameters::builder(host.to_string());
        if let Some(path) = &config.smtp_ca_file {
            let pem = std::fs::read(path).map_err(|source| ConfigError::Unreadable {
                field: "smtp_ca_file",
                path: path.clone(),
                source,
            })?;
            let cert = Certificate::from_pem(&pem).map_err(|e| ConfigError::Invalid {
                field: "smtp_ca_file",
                problem: e.to_string(),
            })?;
            b = b.add_root_certificate(cert);
        }
        b.build_rustls().map_err(|e| ConfigError::Invalid {
            field: "smtp_tls",
            problem: e.to_string(),
        })
    };
    let tls = match config.smtp_tls {
        TlsMode::None => Tls::None,
        TlsMode::Starttls => Tls::Required(tls_parameters()?),
        TlsMode::Implicit => Tls::Wrapper(tls_parameters()?),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(config.smtp_port())
        .tls(tls)
        .timeout(Some(Duration::from_secs(30)));
    if let (Some(user), Some(password)) = (&config.smtp_user, config.smtp_password()?) {
        builder = builder.credentials(Credentials::new(
            user.clone(),
            password.expose().to_string(),
        ));
    }
    Ok(Some(builder.build()))
}

pub(crate) struct Sender<I, S> {
    pub transport: AsyncSmtpTransport<Tokio1Executor>,
    pub from: Mailbox,
    pub streams: Arc<S>,
    pub clock: Arc<I>,
    pub consumer: String,
    pub max_attempts: u32,
    pub max_backoff: Duration,
    pub stats: Arc<EmailStats>,
    pub shutdown: CancellationToken,
}

impl<I: Intake, S: Streams> Sender<I, S> {
    pub async fn run(self) {
        let mut failures: u32 = 0;
        while !self.shutdown.is_cancelled() {
            let entries = match self
                .streams
                .claim(OUTBOUND_STREAM, &self.consumer, BATCH)
                .await
            {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox unavailable");
                    self.pause(self.backoff(failures.max(1))).await;
                    continue;
                }
            };
            if entries.is_empty() {
                self.pause(IDLE_PAUSE).await;
                continue;
            }
            for entry in entries {
                if self.shutdown.is_cancelled() {
                    break;
                }
                let outbound: Outbound = match serde_json::from_value(entry.payload.clone()) {
                    Ok(o) => o,
                    Err(e) => {
                        tracing::error!(error = %e, "malformed outbox entry dropped");
                        self.ack(&entry.entry_id).await;
                        continue;
                    }
                };
                let attempts = u64::from(outbound.attempts) + entry.deliveries;
                if attempts >= u64::from(self.max_attempts) {
                    tracing::error!(kind = %outbound.kind, attempts, "reply given up after the last attempt");
                    self.stats.replies_given_up.fetch_add(1, Ordering::Relaxed);
                    self.ack(&entry.entry_id).await;
                    continue;
                }
                let date = SystemTime::from(self.clock.now());
                let message = match build_reply(&outbound, &self.from, date) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::error!(error = %e, kind = %outbound.kind, "reply cannot be built; dropped");
                        self.stats.replies_given_up.fetch_add(1, Ordering::Relaxed);
                        self.ack(&entry.entry_id).await;
                        continue;
                    }
                };
                match self.transport.send(message).await {
                    Ok(_) => {
                        failures = 0;
                        self.stats.replies_sent.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(kind = %outbound.kind, "reply sent");
                        self.ack(&entry.entry_id).await;
                    }
                    Err(e) if e.is_permanent() => {
                        tracing::error!(error = %e, kind = %outbound.kind, "reply refused permanently by the SMTP server");
                        self.stats.replies_given_up.fetch_add(1, Ordering::Relaxed);
                        self.ack(&entry.entry_id).await;
                    }
                    Err(e) => {
                        // Not acknowledged: the stream hands it out again after the claim
                        // timeout; meanwhile back off so a dead server is not hammered.
                        failures = failures.saturating_add(1);
                        self.stats.replies_failed.fetch_add(1, Ordering::Relaxed);
                        let wait = self.backoff(failures);
                        tracing::warn!(error = %e, retry_in = ?wait, "reply not sent");
                        self.pause(wait).await;
                        break;
                    }
                }
            }
        }
    }

    fn backoff(&self, failures: u32) -> Duration {
        let secs = 1u64 << failures.min(16);
        Duration::from_secs(secs).min(self.max_backoff)
    }

    async fn ack(&self, entry_id: &str) {
        if let Err(e) = self.streams.ack(OUTBOUND_STREAM, entry_id).await {
            tracing::warn!(error = %e, "outbox entry not acknowledged; it may be sent twice");
        }
    }

    async fn pause(&self, d: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = self.shutdown.cancelled() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbound(html: bool) -> Outbound {
        Outbound {
            report_id: Some("01KREPORT".into()),
            origin: Origin::Email {
                address: "an@example.vn".into(),
                message_id: Some("orig-1@example.vn".into()),
                references: vec!["first@example.vn".into(), "orig-1@example.vn".into()],
                subject: Some("Cột đèn bị gãy".into()),
            },
            kind: "ack".into(),
            text: "Mã phản ánh: K7Q".into(),
            html: html.then(|| "<p>Mã phản ánh: K7Q</p>".into()),
            attempts: 0,
        }
    }

    #[test]
    fn replies_are_threaded_marked_automatic_and_carry_both_forms() {
        let from: Mailbox = "Hệ thống 1022 <1022@longan.gov.vn>".parse().unwrap();
        let msg = build_reply(&outbound(true), &from, SystemTime::UNIX_EPOCH).unwrap();
        let raw = String::from_utf8(msg.formatted()).unwrap();
        assert!(raw.contains("In-Reply-To: <orig-1@example.vn>"), "{raw}");
        assert!(
            raw.contains("References: <first@example.vn> <orig-1@example.vn>"),
            "{raw}"
        );
        assert!(raw.contains("Auto-Submitted: auto-replied"));
        assert!(raw.contains("Message-ID: <ack.01KREPORT@longan.gov.vn>"));
        assert!(raw.contains("multipart/alternative"));
        assert!(raw.contains("text/html"));
        // The subject is RFC 2047-encoded; decode it with the normalizer's parser.
        let parsed = normalizers::email::normalize(
            normalizers::report::Envelope {
                id: String::new(),
                tracking_code: String::new(),
                channel: normalizers::report::Channel::Email,
                channel_ref: None,
                received_at: chrono::DateTime::UNIX_EPOCH,
            },
            raw.as_bytes(),
            &normalizers::email::EmailOptions::default(),
        )
        .unwrap();
        assert_eq!(
            parsed.report.content.title.as_deref(),
            Some("Re: Cột đèn bị gãy")
        );
        assert_eq!(
            parsed.auto_generated,
            Some(normalizers::email::AutoGenerated::AutoSubmitted),
            "our own replies are recognised as automatic"
        );
    }

    #[test]
    fn a_reply_to_a_non_email_origin_is_refused() {
        let mut o = outbound(false);
        o.origin = Origin::Api {
            client: "app".into(),
        };
        let from: Mailbox = "1022@longan.gov.vn".parse().unwrap();
        assert!(matches!(
            build_reply(&o, &from, SystemTime::UNIX_EPOCH),
            Err(ReplyError::NotEmail)
        ));
    }
}
