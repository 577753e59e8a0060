//! Reporter verification by a one-time code (Đ6.4, R-CH-PORTAL): the portal confirms an email
//! address (or, with an SMS provider, a phone number) before a report is sent, and the report
//! then carries `verified_by: otp`.
//!
//! The flow, all state in the shared store (so any instance answers any step):
//! 1. `request`: a 6-digit code is drawn, sent through the contact's [`CodeSender`], and a
//!    *challenge* (a random id returned to the browser) is stored as
//!    `otp:challenge:<digest of the id>` holding the keyed digest of the contact and the keyed
//!    digest of the code, never either in clear; it expires after `portal.otp_ttl_secs`.
//!    Requests are counted per contact and per source address in fixed one-hour windows.
//! 2. `verify`: each attempt increments `otp:attempts:<digest of the id>`; past
//!    `portal.otp_max_attempts` the challenge is deleted. The right code deletes the challenge
//!    (one use) and stores a *verification* (a random token returned to the browser) as
//!    `otp:verified:<digest of the token>` → the contact's digest, for
//!    `portal.verified_ttl_secs`.
//! 3. The portal's submission sends the token (header `X-Portal-Verification`); the report is
//!    marked verified only when its email or phone has the digest the token was issued for.
//!
//! Digests are keyed with the identity pepper (`normalizers::identity::identity_digest` for
//! contacts): a plain hash of a 6-digit code or a phone number is reversed by trying them all.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use normalizers::contact::{is_valid_email, normalize_phone};
use normalizers::identity::{identity_digest, Identity};
use normalizers::report::Report;
use normalizers::secret::Secret;
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::clock::SharedClock;
use crate::store::{Store, StoreFailure};

/// `[portal]`: the public form, its one-time codes and its public checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PortalConfig {
    /// Serve the form (`/`, `/gui-phan-anh`), its assets and its public API (`/v1/portal/…`).
    pub enabled: bool,
    /// How long a code may be entered.
    pub otp_ttl_secs: u64,
    /// Wrong codes before the challenge is dropped (a new code must be requested).
    pub otp_max_attempts: u32,
    /// Codes sent to one email address or phone number per hour.
    pub otp_per_contact_per_hour: u32,
    /// Codes requested from one source address per hour (all contacts together).
    pub otp_per_source_per_hour: u32,
    /// How long a confirmed contact stays confirmed for the reports sent from that form.
    pub verified_ttl_secs: u64,
    /// Public dry runs (the description hint, the capture-time warning) and place suggestions
    /// per source address per minute.
    pub checks_per_minute: u32,
    /// Phone codes: the SMS provider (`[portal.sms]`). No provider ships with the gateway:
    /// see [`CodeSender`]; while none is built in, a configured section only logs a warning and
    /// phone numbers cannot be confirmed.
    pub sms: Option<SmsConfig>,
}

impl Default for PortalConfig {
    fn default() -> Self {
        PortalConfig {
            enabled: true,
            otp_ttl_secs: 600,
            otp_max_attempts: 5,
            otp_per_contact_per_hour: 5,
            otp_per_source_per_hour: 20,
            verified_ttl_secs: 3600,
            checks_per_minute: 60,
            sms: None,
        }
    }
}

/// `[portal.sms]`: what an SMS provider adapter is built from (the shape every Vietnamese
/// brand-name SMS gateway needs: an HTTPS endpoint, a key, the registered sender name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsConfig {
    /// Name of the provider adapter (none is built in yet).
    pub provider: String,
    /// The provider's HTTPS endpoint.
    pub endpoint: Option<String>,
    /// The provider's API key.
    pub api_key: Option<Secret>,
    /// The registered brand name the messages are sent under (e.g. `UBND LONGAN`).
    pub sender_name: Option<String>,
}

/// What kind of contact a code confirms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContactKind {
    Email,
    Phone,
}

/// A code on its way to a citizen.
#[derive(Debug, Clone)]
pub struct CodeMessage {
    /// The 6 digits.
    pub code: String,
    /// How long it may be entered.
    pub valid_for: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The provider refused or could not be reached; the text never holds the contact.
    #[error("the code could not be sent: {0}")]
    Failed(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The contact cannot receive this kind of message.
    #[error("invalid recipient")]
    Recipient,
}

/// The future a [`CodeSender`] returns.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>>;

/// Delivers a one-time code to one contact.
///
/// The interface of an SMS provider adapter (phone codes): implement this trait with
/// `kind() == ContactKind::Phone` and build it from `[portal.sms]` in `server::build`.
/// - `to` is the number in E.164 (`+84912345678`); the text to send is
///   [`crate::messages::portal::code_sms`].
/// - Return `Ok` only once the provider accepted the message; a refusal or a timeout is
///   `SendError::Failed` (the citizen is asked to try again; nothing is retried behind their
///   back, since a late code is worse than none), a number the provider cannot reach
///   `SendError::Recipient`.
/// - Never log `to` or the code; error sources must not carry them either.
/// - Bound the call (a 10-second timeout): the citizen waits on it.
pub trait CodeSender: Send + Sync + 'static {
    fn kind(&self) -> ContactKind;
    fn send<'a>(&'a self, to: &'a str, message: &'a CodeMessage) -> SendFuture<'a>;
}

/// Codes by email over SMTP (the `[email]` section's `smtp_*` and `mail_from`).
pub struct EmailCodeSender {
    transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
    from: lettre::message::Mailbox,
}

impl EmailCodeSender {
    pub fn new(
        transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
        from: lettre::message::Mailbox,
    ) -> Self {
        EmailCodeSender { transport, from }
    }
}

impl CodeSender for EmailCodeSender {
    fn kind(&self) -> ContactKind {
        ContactKind::Email
    }

    fn send<'a>(&'a self, to: &'a str, message: &'a CodeMessage) -> SendFuture<'a> {
        Box::pin(async move {
            use lettre::AsyncTransport;
            let to: lettre::message::Mailbox = to.parse().map_err(|_| SendError::Recipient)?;
            let minutes = message.valid_for.as_secs().div_ceil(60);
            let email = lettre::Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(crate::messages::portal::CODE_EMAIL_SUBJECT)
                .header(lettre::message::header::ContentType::TEXT_PLAIN)
                .body(crate::messages::portal::code_email(&message.code, minutes))
                .map_err(|e| SendError::Failed(Box::new(e)))?;
            tokio::time::timeout(Duration::from_secs(20), self.transport.send(email))
                .await
                .map_err(|e| SendError::Failed(Box::new(e)))?
                .map(|_| ())
                .map_err(|e| {
                    // lettre's error may quote the server, which may quote the address.
                    SendError::Failed(channels::email::outbox::scrub(&e.to_string()).into())
                })
        })
    }
}

/// Why a code was not sent or not accepted (each answered with a Vietnamese sentence).
#[derive(Debug, thiserror::Error)]
pub enum OtpError {
    #[error("not a valid email address or phone number")]
    InvalidContact,
    #[error("codes cannot be sent to this kind of contact on this gateway")]
    NoSender(ContactKind),
    #[error("too many codes requested; retry after {retry_after_secs} s")]
    TooMany { retry_after_secs: u64 },
    #[error(transparent)]
    Send(#[from] SendError),
    #[error("the code is wrong ({attempts_left} attempts left)")]
    WrongCode { attempts_left: u32 },
    #[error("the code has expired or was used up; request a new one")]
    Expired,
    #[error(transparent)]
    Store(#[from] StoreFailure),
}

/// A code sent: what the browser keeps to verify it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Challenge {
    pub challenge: String,
    pub expires_in_secs: u64,
    pub kind: ContactKind,
    /// The contact as the citizen may recognise it (`n***@gmail.com`).
    pub sent_to: String,
}

/// A confirmed contact: the token the submission carries.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Verification {
    pub verification: String,
    pub expires_in_secs: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredChallenge {
    contact: String,
    code: String,
    expires_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredVerification {
    contact: String,
    expires_at: DateTime<Utc>,
}

/// The one-time code service.
pub struct Otp {
    store: Store,
    clock: SharedClock,
    pepper: String,
    config: PortalConfig,
    senders: Vec<Arc<dyn CodeSender>>,
}

impl Otp {
    /// `pepper` keys every digest; an empty one (an in-process build that skipped
    /// `ensure_identity_pepper`) is replaced by a random key of this process.
    pub fn new(
        store: Store,
        clock: SharedClock,
        pepper: &str,
        config: PortalConfig,
        senders: Vec<Arc<dyn CodeSender>>,
    ) -> Self {
        let pepper = if pepper.is_empty() {
            hex::encode(rand::rng().random::<[u8; 32]>())
        } else {
            pepper.to_string()
        };
        Otp {
            store,
            clock,
            pepper,
            config,
            senders,
        }
    }

    pub fn config(&self) -> &PortalConfig {
        &self.config
    }

    /// The kinds of contact a code can be sent to.
    pub fn kinds(&self) -> Vec<ContactKind> {
        self.senders.iter().map(|s| s.kind()).collect()
    }

    fn digest(&self, purpose: &str, value: &str) -> String {
        let mut h = Sha256::new();
        h.update(b"1022-otp-v1\0");
        h.update((self.pepper.len() as u64).to_be_bytes());
        h.update(self.pepper.as_bytes());
        h.update(purpose.as_bytes());
        h.update(b"\0");
        h.update(value.as_bytes());
        hex::encode(h.finalize())
    }

    fn contact_digest(&self, identity: &Identity) -> String {
        identity_digest(identity, &self.pepper)
    }

    /// Count one event against a fixed window; `Some(seconds left in the window)` past `max`.
    pub async fn over_limit(
        &self,
        key: &str,
        max: u32,
        window_secs: i64,
    ) -> Result<Option<u64>, StoreFailure> {
        let now = self.clock.now().timestamp();
        let window = now.div_euclid(window_secs);
        let key = format!("{key}:{window}");
        let n = self
            .store
            .incr(&key, Duration::from_secs(2 * window_secs as u64))
            .await?;
        if n > i64::from(max) {
            let left = window_secs - now.rem_euclid(window_secs);
            return Ok(Some(left.max(1) as u64));
        }
        Ok(None)
    }

    /// Count a public check (dry run, suggestion) from `source`.
    pub async fn check_allowed(&self, source: &str) -> Result<Option<u64>, StoreFailure> {
        let key = format!("portal:rl:check:{}", self.digest("source", source));
        self.over_limit(&key, self.config.checks_per_minute.max(1), 60)
            .await
    }

    /// Send a code to `contact` (an email address or a phone number) for a request from
    /// `source` (the client address).
    pub async fn request(&self, contact: &str, source: &str) -> Result<Challenge, OtpError> {
        let (identity, to) = parse_contact(contact).ok_or(OtpError::InvalidContact)?;
        let kind = match identity {
            Identity::Phone(_) => ContactKind::Phone,
            _ => ContactKind::Email,
        };
        let sender = self
            .senders
            .iter()
            .find(|s| s.kind() == kind)
            .ok_or(OtpError::NoSender(kind))?;
        let contact_digest = self.contact_digest(&identity);
        let source_key = format!("otp:rl:source:{}", self.digest("source", source));
        if let Some(retry_after_secs) = self
            .over_limit(
                &source_key,
                self.config.otp_per_source_per_hour.max(1),
                3600,
            )
            .await?
        {
            return Err(OtpError::TooMany { retry_after_secs });
        }
        let contact_key = format!("otp:rl:contact:{contact_digest}");
        if let Some(retry_after_secs) = self
            .over_limit(
                &contact_key,
                self.config.otp_per_contact_per_hour.max(1),
                3600,
            )
            .await?
        {
            return Err(OtpError::TooMany { retry_after_secs });
        }
        let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
        let challenge = hex::encode(rand::rng().random::<[u8; 16]>());
        let ttl = Duration::from_secs(self.config.otp_ttl_secs.max(1));
        let stored = StoredChallenge {
            contact: contact_digest,
            code: self.digest(&format!("code:{challenge}"), &code),
            expires_at: self.clock.now() + chrono::Duration::from_std(ttl).unwrap_or_default(),
        };
        let json = serde_json::to_vec(&stored).expect("a challenge serialises");
        self.store
            .put(&self.challenge_key(&challenge), &json, Some(ttl))
            .await?;
        let message = CodeMessage {
            code,
            valid_for: ttl,
        };
        if let Err(e) = sender.send(&to, &message).await {
            let _ = self.store.delete(&self.challenge_key(&challenge)).await;
            return Err(e.into());
        }
        crate::metrics::otp("sent");
        Ok(Challenge {
            challenge,
            expires_in_secs: ttl.as_secs(),
            kind,
            sent_to: identity.masked(),
        })
    }

    fn challenge_key(&self, challenge: &str) -> String {
        format!("otp:challenge:{}", self.digest("challenge", challenge))
    }

    fn attempts_key(&self, challenge: &str) -> String {
        format!("otp:attempts:{}", self.digest("challenge", challenge))
    }

    fn verified_key(&self, token: &str) -> String {
        format!("otp:verified:{}", self.digest("verification", token))
    }

    /// Check a code typed for `challenge`.
    pub async fn verify(&self, challenge: &str, code: &str) -> Result<Verification, OtpError> {
        let challenge = challenge.trim();
        if challenge.is_empty() || challenge.len() > 64 {
            return Err(OtpError::Expired);
        }
        let key = self.challenge_key(challenge);
        let Some(raw) = self.store.get(&key).await? else {
            return Err(OtpError::Expired);
        };
        let stored: StoredChallenge =
            serde_json::from_slice(&raw).map_err(|e| StoreFailure::Corrupt {
                key: key.clone(),
                source: e,
            })?;
        let now = self.clock.now();
        if stored.expires_at <= now {
            let _ = self.store.delete(&key).await;
            return Err(OtpError::Expired);
        }
        let ttl = Duration::from_secs(self.config.otp_ttl_secs.max(1));
        let attempts = self.store.incr(&self.attempts_key(challenge), ttl).await?;
        let max = i64::from(self.config.otp_max_attempts.max(1));
        if attempts > max {
            self.store.delete(&key).await?;
            crate::metrics::otp("locked");
            return Err(OtpError::Expired);
        }
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        let typed = self.digest(&format!("code:{challenge}"), &code);
        if !bool::from(typed.as_bytes().ct_eq(stored.code.as_bytes())) {
            crate::metrics::otp("wrong");
            let attempts_left = (max - attempts).max(0) as u32;
            if attempts_left == 0 {
                self.store.delete(&key).await?;
            }
            return Err(OtpError::WrongCode { attempts_left });
        }
        // One use: a second verification of the same code finds nothing.
        self.store.delete(&key).await?;
        let token = hex::encode(rand::rng().random::<[u8; 32]>());
        let vttl = Duration::from_secs(self.config.verified_ttl_secs.max(1));
        let record = StoredVerification {
            contact: stored.contact,
            expires_at: now + chrono::Duration::from_std(vttl).unwrap_or_default(),
        };
        self.store
            .put(
                &self.verified_key(&token),
                &serde_json::to_vec(&record).expect("a verification serialises"),
                Some(vttl),
            )
            .await?;
        crate::metrics::otp("verified");
        Ok(Verification {
            verification: token,
            expires_in_secs: vttl.as_secs(),
        })
    }

    /// Whether `token` confirms one of the report's contacts (its email or phone).
    pub async fn confirms(&self, token: &str, report: &Report) -> Result<bool, StoreFailure> {
        let token = token.trim();
        if token.is_empty() || token.len() > 128 {
            return Ok(false);
        }
        let key = self.verified_key(token);
        let Some(raw) = self.store.get(&key).await? else {
            return Ok(false);
        };
        let Ok(record) = serde_json::from_slice::<StoredVerification>(&raw) else {
            return Ok(false);
        };
        if record.expires_at <= self.clock.now() {
            return Ok(false);
        }
        let r = &report.reporter;
        let contacts = [
            r.email
                .as_deref()
                .filter(|e| is_valid_email(e))
                .map(|e| Identity::Email(e.trim().to_lowercase())),
            r.phone
                .as_deref()
                .and_then(normalize_phone)
                .map(Identity::Phone),
        ];
        Ok(contacts
            .iter()
            .flatten()
            .any(|id| self.contact_digest(id) == record.contact))
    }
}

/// An email address or a phone number as typed: its identity and where to send the code.
fn parse_contact(input: &str) -> Option<(Identity, String)> {
    let input = input.trim();
    if input.len() > 254 {
        return None;
    }
    if input.contains('@') {
        return is_valid_email(input).then(|| {
            let e = input.to_lowercase();
            (Identity::Email(e.clone()), e)
        });
    }
    normalize_phone(input).map(|p| (Identity::Phone(p.clone()), p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_are_parsed_and_normalised() {
        assert_eq!(
            parse_contact(" An@Example.VN ")
                .map(|(_, to)| to)
                .as_deref(),
            Some("an@example.vn")
        );
        assert!(matches!(
            parse_contact("0912 345 678"),
            Some((Identity::Phone(p), _)) if p == "+84912345678"
        ));
        assert!(parse_contact("not a contact").is_none());
        assert!(parse_contact("a@").is_none());
    }
}
