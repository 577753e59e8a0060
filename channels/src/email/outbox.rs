//! The SMTP sender: takes replies from the durable `outbound:email` stream, sends them with
//! lettre over rustls, and acknowledges each entry only once the SMTP server accepted it. A
//! failing server delays replies (backoff, redelivery by the stream) but never intake, which only
//! appends to the stream.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio_util::sync::CancellationToken;

use super::config::{ConfigError, EmailConfig, TlsMode};
use super::stats::EmailStats;
use super::OUTBOUND_STREAM;
use crate::intake::{DeliveryResult, Intake, Origin, Outbound, Streams};
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

/// An error as it may be logged: its whole chain of causes with every email address and phone
/// number removed. SMTP servers quote the recipient in their refusals (`550 5.1.1
/// <an@example.vn>: Recipient address rejected`); the typed error keeps the text for whoever
/// handles it, the log gets this (R-SEC-2).
pub struct Scrubbed<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Scrubbed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&scrub(&crate::intake::error_chain(self.0)))
    }
}

/// `text` with email addresses replaced by `<address>` and phone numbers (9 digits or more,
/// with or without `+`, spaces, dots, dashes or parentheses between them) by `<phone>`.
pub fn scrub(text: &str) -> String {
    scrub_phones(&scrub_addresses(text))
}

fn scrub_addresses(text: &str) -> String {
    let is_local = |c: char| !c.is_whitespace() && !"<>()[]{},;:\"'`@".contains(c);
    let is_domain = |c: char| c.is_alphanumeric() || c == '.' || c == '-';
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '@' {
            let mut start = i;
            while start > 0 && is_local(chars[start - 1]) {
                start -= 1;
            }
            let mut end = i + 1;
            while end < chars.len() && is_domain(chars[end]) {
                end += 1;
            }
            // A sentence's full stop or an ellipsis after the address is not part of it.
            while end > i + 1 && matches!(chars[end - 1], '.' | '-') {
                end -= 1;
            }
            let domain: String = chars[i + 1..end].iter().collect();
            if start < i && domain.trim_matches('.').contains('.') {
                // Drop the local part already copied, then the whole address.
                for _ in start..i {
                    out.pop();
                }
                out.push_str("<address>");
                i = end;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

fn scrub_phones(text: &str) -> String {
    const SEPARATORS: &str = " .-()";
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let starts = chars[i].is_ascii_digit()
            || (chars[i] == '+' && chars.get(i + 1).is_some_and(char::is_ascii_digit));
        let glued = i > 0 && chars[i - 1].is_alphanumeric();
        // A date (`2026-11-30`) is not a phone number.
        let date = chars.len() >= i + 10
            && chars[i..i + 10].iter().enumerate().all(|(k, c)| {
                if k == 4 || k == 7 {
                    *c == '-'
                } else {
                    c.is_ascii_digit()
                }
            });
        if date && !glued {
            out.extend(&chars[i..i + 10]);
            i += 10;
            continue;
        }
        if starts && !glued {
            // The longest run of digits with single separators between them.
            let mut end = i + 1;
            let mut digits = usize::from(chars[i].is_ascii_digit());
            let mut last_digit = i + 1;
            // At most two separators in a row (`) `, ` (`), and only before more digits.
            let mut gap = 0;
            while end < chars.len() {
                let c = chars[end];
                if c.is_ascii_digit() {
                    digits += 1;
                    end += 1;
                    last_digit = end;
                    gap = 0;
                } else if SEPARATORS.contains(c) && gap < 2 {
                    end += 1;
                    gap += 1;
                } else {
                    break;
                }
            }
            if digits >= 9 {
                out.push_str("<phone>");
                i = last_digit;
                continue;
            }
            out.extend(&chars[i..last_digit.max(i + 1)]);
            i = last_digit.max(i + 1);
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    #[error("the outbound entry is not an email reply")]
    NotEmail,
    #[error("invalid address: {0}")]
    Address(#[from] lettre::address::AddressError),
    #[error("message cannot be built: {0}")]
    Build(#[from] lettre::error::Error),
    #[error("attachment {name} has an unusable media type: {source}")]
    AttachmentType {
        name: String,
        #[source]
        source: lettre::message::header::ContentTypeErr,
    },
}

/// A file attached to a reply (an IOC message's photo, its public copy).
#[derive(Debug, Clone, PartialEq)]
pub struct ReplyAttachment {
    pub file_name: String,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// The most bytes of photos one reply carries: mail servers commonly refuse messages past
/// 25 MB, and base64 adds a third. Photos past it are left out (the text says where to see
/// them: the tracking page).
pub const MAX_ATTACHED_BYTES: u64 = 15 * 1024 * 1024;

/// `outbound` with a line telling the citizen that `left_out` photos did not fit in the mail
/// (the text announced them all when the message was recorded).
fn with_left_out_line(outbound: &Outbound, left_out: usize) -> std::borrow::Cow<'_, Outbound> {
    if left_out == 0 {
        return std::borrow::Cow::Borrowed(outbound);
    }
    let mut changed = outbound.clone();
    changed.text = format!(
        "{}\n\n{}",
        changed.text,
        crate::templates::conversation::photos_left_out(left_out)
    );
    std::borrow::Cow::Owned(changed)
}

/// The reply email of `outbound`: threaded (In-Reply-To, References, "Re:"), text and HTML,
/// `Auto-Submitted: auto-replied`, with a Message-ID derived from the report so that a repeated
/// delivery is recognisably the same message.
pub fn build_reply(
    outbound: &Outbound,
    from: &Mailbox,
    date: SystemTime,
) -> Result<Message, ReplyError> {
    build_reply_with(outbound, from, date, &[])
}

/// [`build_reply`] with files attached (`multipart/mixed`: the text, or its text and HTML
/// forms, then each file).
pub fn build_reply_with(
    outbound: &Outbound,
    from: &Mailbox,
    date: SystemTime,
    attachments: &[ReplyAttachment],
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
    let local = match (&outbound.report_id, &outbound.message_id) {
        // Each IOC message about a report is its own mail.
        (Some(id), Some(m)) => format!("{}.{id}.{m}", outbound.kind),
        (Some(id), None) => format!("{}.{id}", outbound.kind),
        (None, _) => {
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
    if !attachments.is_empty() {
        let mut mixed = match &outbound.html {
            Some(html) => MultiPart::mixed().multipart(MultiPart::alternative_plain_html(
                outbound.text.clone(),
                html.clone(),
            )),
            None => MultiPart::mixed().singlepart(SinglePart::plain(outbound.text.clone())),
        };
        for a in attachments {
            let content_type =
                ContentType::parse(&a.media_type).map_err(|source| ReplyError::AttachmentType {
                    name: a.file_name.clone(),
                    source,
                })?;
            mixed = mixed.singlepart(
                Attachment::new(a.file_name.clone()).body(a.bytes.clone(), content_type),
            );
        }
        return Ok(builder.multipart(mixed)?);
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
                    tracing::warn!(error = %Scrubbed(&e), "outbox unavailable");
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
                        tracing::error!(error = %Scrubbed(&e), "malformed outbox entry dropped");
                        self.ack(&entry.entry_id).await;
                        continue;
                    }
                };
                let attempts = u64::from(outbound.attempts) + entry.deliveries;
                if attempts >= u64::from(self.max_attempts) {
                    tracing::error!(kind = %outbound.kind, attempts, "reply given up after the last attempt");
                    self.stats.replies_given_up.fetch_add(1, Ordering::Relaxed);
                    self.report(
                        &outbound,
                        DeliveryResult::Undeliverable {
                            code: None,
                            reason: format!("given up after {attempts} failed attempts"),
                        },
                    )
                    .await;
                    self.ack(&entry.entry_id).await;
                    continue;
                }
                let (attachments, left_out) = match self.attachments(&outbound).await {
                    Ok(a) => a,
                    Err(e) => {
                        // The report or a photo cannot be read now: not acknowledged, tried
                        // again like a server that is down.
                        failures = failures.saturating_add(1);
                        self.stats.replies_failed.fetch_add(1, Ordering::Relaxed);
                        let wait = self.backoff(failures);
                        tracing::warn!(error = %Scrubbed(e.as_ref()), retry_in = ?wait, "the photos of a reply cannot be read");
                        self.pause(wait).await;
                        break;
                    }
                };
                let date = SystemTime::from(self.clock.now());
                let message = match build_reply_with(
                    &with_left_out_line(&outbound, left_out),
                    &self.from,
                    date,
                    &attachments,
                ) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::error!(error = %Scrubbed(&e), kind = %outbound.kind, "reply cannot be built; dropped");
                        self.stats.replies_given_up.fetch_add(1, Ordering::Relaxed);
                        self.report(
                            &outbound,
                            DeliveryResult::Undeliverable {
                                code: None,
                                reason: format!("the mail cannot be built: {}", Scrubbed(&e)),
                            },
                        )
                        .await;
                        self.ack(&entry.entry_id).await;
                        continue;
                    }
                };
                match self.transport.send(message).await {
                    Ok(_) => {
                        failures = 0;
                        self.stats.replies_sent.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(kind = %outbound.kind, "reply sent");
                        self.report(&outbound, DeliveryResult::Sent).await;
                        self.ack(&entry.entry_id).await;
                    }
                    Err(e) if e.is_permanent() => {
                        tracing::error!(error = %Scrubbed(&e), kind = %outbound.kind, "reply refused permanently by the SMTP server");
                        self.stats.replies_given_up.fetch_add(1, Ordering::Relaxed);
                        self.report(
                            &outbound,
                            DeliveryResult::Undeliverable {
                                code: e.status().map(|c| i64::from(u16::from(c))),
                                reason: format!("refused by the SMTP server: {}", Scrubbed(&e)),
                            },
                        )
                        .await;
                        self.ack(&entry.entry_id).await;
                    }
                    Err(e) => {
                        // Not acknowledged: the stream hands it out again after the claim
                        // timeout; meanwhile back off so a dead server is not hammered.
                        failures = failures.saturating_add(1);
                        self.stats.replies_failed.fetch_add(1, Ordering::Relaxed);
                        let wait = self.backoff(failures);
                        tracing::warn!(error = %Scrubbed(&e), retry_in = ?wait, "reply not sent");
                        self.pause(wait).await;
                        break;
                    }
                }
            }
        }
    }

    /// The photos of an IOC message, read from their public copies, as long as they fit in
    /// [`MAX_ATTACHED_BYTES`] together; and how many were left out.
    async fn attachments(
        &self,
        outbound: &Outbound,
    ) -> Result<(Vec<ReplyAttachment>, usize), Box<dyn std::error::Error + Send + Sync>> {
        if outbound.message_id.is_none() {
            return Ok((Vec::new(), 0));
        }
        let photos = self.clock.outbound_photos(outbound).await?;
        let mut out = Vec::with_capacity(photos.len());
        let mut total = 0u64;
        let mut left_out = 0;
        for p in photos {
            if total + p.size > MAX_ATTACHED_BYTES {
                tracing::info!(kind = %outbound.kind, "a photo is left out of a reply: too large to mail");
                left_out += 1;
                continue;
            }
            let bytes = read_bounded(&p.path, MAX_ATTACHED_BYTES - total).await?;
            total += bytes.len() as u64;
            out.push(ReplyAttachment {
                file_name: p.file_name,
                media_type: p.media_type,
                bytes,
            });
        }
        Ok((out, left_out))
    }

    /// Tell the gateway what became of an IOC message (other replies are not followed).
    async fn report(&self, outbound: &Outbound, result: DeliveryResult) {
        if outbound.message_id.is_none() {
            return;
        }
        if let Err(e) = self.clock.delivered(outbound, result).await {
            tracing::warn!(error = %Scrubbed(&e), "the delivery of an IOC message is not recorded");
        }
    }

    fn backoff(&self, failures: u32) -> Duration {
        let secs = 1u64 << failures.min(16);
        Duration::from_secs(secs).min(self.max_backoff)
    }

    async fn ack(&self, entry_id: &str) {
        if let Err(e) = self.streams.ack(OUTBOUND_STREAM, entry_id).await {
            tracing::warn!(error = %Scrubbed(&e), "outbox entry not acknowledged; it may be sent twice");
        }
    }

    async fn pause(&self, d: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = self.shutdown.cancelled() => {}
        }
    }
}

/// Read a file of at most `max` bytes (a larger one is an error, never read whole).
async fn read_bounded(path: &std::path::Path, max: u64) -> std::io::Result<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::open(path).await?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes).await?;
    if bytes.len() as u64 > max {
        return Err(std::io::Error::other("the file is larger than announced"));
    }
    Ok(bytes)
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
            message_id: None,
        }
    }

    #[test]
    fn a_reply_whose_photos_did_not_all_fit_says_so() {
        let from: Mailbox = "Hệ thống 1022 <1022@longan.gov.vn>".parse().unwrap();
        let o = outbound(false);
        assert_eq!(with_left_out_line(&o, 0).text, o.text);
        let changed = with_left_out_line(&o, 2);
        assert!(
            changed.text.starts_with("Mã phản ánh: K7Q\n\n"),
            "{}",
            changed.text
        );
        assert!(
            changed
                .text
                .ends_with(&crate::templates::conversation::photos_left_out(2)),
            "{}",
            changed.text
        );
        assert!(changed.text.contains("2 ảnh không gửi kèm được"));
        build_reply(&changed, &from, SystemTime::UNIX_EPOCH).unwrap();
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
    fn photos_are_attached_after_the_text() {
        let from: Mailbox = "1022@longan.gov.vn".parse().unwrap();
        let photo = ReplyAttachment {
            file_name: "anh-1.jpg".into(),
            media_type: "image/jpeg".into(),
            bytes: vec![0xff, 0xd8, 0xff, 0xd9],
        };
        let msg = build_reply_with(
            &outbound(true),
            &from,
            SystemTime::UNIX_EPOCH,
            std::slice::from_ref(&photo),
        )
        .unwrap();
        let raw = String::from_utf8(msg.formatted()).unwrap();
        assert!(raw.contains("multipart/mixed"), "{raw}");
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(raw.contains("filename=\"anh-1.jpg\""), "{raw}");
        assert!(raw.contains("Content-Type: image/jpeg"), "{raw}");
        let bad = ReplyAttachment {
            media_type: "not a type".into(),
            ..photo
        };
        assert!(matches!(
            build_reply_with(&outbound(false), &from, SystemTime::UNIX_EPOCH, &[bad]),
            Err(ReplyError::AttachmentType { .. })
        ));
    }

    #[test]
    fn logged_errors_carry_no_address_and_no_phone() {
        // What SMTP servers say when they refuse, as seen in their logs and RFC 5321 examples.
        let cases = [
            (
                "permanent error (550): 5.1.1 <nguyen.van.an@gmail.com>: Recipient address rejected: User unknown in virtual mailbox table",
                "permanent error (550): 5.1.1 <<address>>: Recipient address rejected: User unknown in virtual mailbox table",
            ),
            (
                "permanent error (553): 5.7.1 tran_thi_b+1022@yahoo.com.vn... Relaying denied",
                "permanent error (553): 5.7.1 <address>... Relaying denied",
            ),
            (
                "transient error (452): 4.2.2 The email account that you tried to reach is over quota: lê.hoàng@longan.gov.vn",
                "transient error (452): 4.2.2 The email account that you tried to reach is over quota: <address>",
            ),
            (
                "permanent error (550): RCPT TO:<Pham.Minh@Example.VN> rejected, callback 0912 345 678 / +84 (28) 3822-1234 / 0912.345.678",
                "permanent error (550): RCPT TO:<<address>> rejected, callback <phone> / <phone> / <phone>",
            ),
            (
                "connection error: Connection refused (os error 111)",
                "connection error: Connection refused (os error 111)",
            ),
            (
                "transient error (421): 4.7.0 mx.example.vn Try again later, session 2026-11-30 10:15",
                "transient error (421): 4.7.0 mx.example.vn Try again later, session 2026-11-30 10:15",
            ),
        ];
        for (said, logged) in cases {
            assert_eq!(scrub(said), logged);
        }
        // Through the Display used in logs, causes included.
        #[derive(Debug, thiserror::Error)]
        #[error("reply not sent")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::other(
            "550 <an@example.vn> unknown, call 0987654321",
        ));
        assert_eq!(
            Scrubbed(&e).to_string(),
            "reply not sent: 550 <<address>> unknown, call <phone>"
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
