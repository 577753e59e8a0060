//! Reporter identities (người phản ánh) and their keyed digests, pure.
//!
//! An [`Identity`] is a normalised phone number, email address or channel account. The block list
//! (SENDER_BLOCKED) and the duplicate screen's same-reporter rule key on its [`identity_digest`],
//! never on the identity itself; operators see it [`masked`](Identity::masked).
//!
//! Identity digests are keyed with a secret pepper from the configuration: a plain sha256 of a
//! Vietnamese mobile number can be reversed by trying the 10⁹ numbers.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use crate::contact::{is_valid_email, normalize_phone};
use crate::report::{Channel, Report};

/// A normalised identity of a reporter: what the block list and the same-reporter rule key on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Identity {
    /// E.164 (`+84912345678`).
    Phone(String),
    /// Lowercase address.
    Email(String),
    /// A channel account: Zalo user id (`zalo`), app/portal/Open311 user id (the channel name).
    Account { namespace: String, id: String },
}

impl Identity {
    /// Parse what an operator types: a phone number in any usual spelling, an email address, or
    /// `namespace:id` for an account (`zalo:8471263512`). `None` when it is none of these.
    pub fn parse(input: &str) -> Option<Identity> {
        let input = input.trim();
        if let Some(phone) = normalize_phone(input) {
            return Some(Identity::Phone(phone));
        }
        if input.contains('@') {
            return is_valid_email(input).then(|| Identity::Email(input.to_lowercase()));
        }
        let (namespace, id) = input.split_once(':')?;
        let namespace = namespace.trim().to_ascii_lowercase();
        let id = id.trim();
        let known = matches!(namespace.as_str(), "zalo" | "app" | "portal" | "open311");
        if !known || id.is_empty() || id.len() > 200 || id.chars().any(char::is_whitespace) {
            return None;
        }
        Some(Identity::Account {
            namespace,
            id: id.to_string(),
        })
    }

    /// Every identity of a report's sender: phone, email, and the channel account. The API
    /// client of the app and portal channels (`api-client:…`) is the software that relayed the
    /// report, not the citizen, and is left out.
    pub fn of_report(report: &Report) -> Vec<Identity> {
        let r = &report.reporter;
        let mut out = BTreeSet::new();
        if let Some(phone) = r.phone.as_deref().and_then(normalize_phone) {
            out.insert(Identity::Phone(phone));
        }
        if let Some(email) = r.email.as_deref().filter(|e| is_valid_email(e)) {
            out.insert(Identity::Email(email.trim().to_lowercase()));
        }
        if let Some(id) = r.channel_identity.as_deref().map(str::trim) {
            let relayed = id.starts_with("api-client:");
            if !id.is_empty() && !relayed {
                let identity = match report.channel {
                    Channel::Email if is_valid_email(id) => {
                        Some(Identity::Email(id.to_lowercase()))
                    }
                    Channel::Email => None,
                    Channel::ZaloOa | Channel::ZaloMiniapp => Some(Identity::Account {
                        namespace: "zalo".into(),
                        id: id.to_string(),
                    }),
                    other => Some(Identity::Account {
                        namespace: other.as_str().into(),
                        id: id.to_string(),
                    }),
                };
                out.extend(identity);
            }
        }
        out.into_iter().collect()
    }

    /// The canonical text that is digested (`phone:+84…`, `email:…`, `zalo:…`).
    fn canonical(&self) -> String {
        match self {
            Identity::Phone(p) => format!("phone:{p}"),
            Identity::Email(e) => format!("email:{e}"),
            Identity::Account { namespace, id } => format!("{namespace}:{id}"),
        }
    }

    /// A hint an operator can recognise without the identity being stored:
    /// `+8491****678`, `n***@gmail.com`, `zalo:84****12`.
    pub fn masked(&self) -> String {
        fn mask(s: &str, keep_start: usize, keep_end: usize) -> String {
            let chars: Vec<char> = s.chars().collect();
            if chars.len() <= keep_start + keep_end {
                return "*".repeat(chars.len().max(1));
            }
            let start: String = chars[..keep_start].iter().collect();
            let end: String = chars[chars.len() - keep_end..].iter().collect();
            format!("{start}****{end}")
        }
        match self {
            Identity::Phone(p) => mask(p, 5, 3),
            Identity::Email(e) => match e.rsplit_once('@') {
                Some((local, domain)) => {
                    let first: String = local.chars().take(1).collect();
                    format!("{first}***@{domain}")
                }
                None => mask(e, 1, 0),
            },
            Identity::Account { namespace, id } => format!("{namespace}:{}", mask(id, 2, 2)),
        }
    }
}

/// Keyed digest of an identity (lowercase hex sha256): equal identities give equal digests, and
/// without the pepper a digest does not give the identity back.
pub fn identity_digest(identity: &Identity, pepper: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"1022-identity-v1\0");
    h.update((pepper.len() as u64).to_be_bytes());
    h.update(pepper.as_bytes());
    h.update(identity.canonical().as_bytes());
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Envelope;
    use chrono::{TimeZone, Utc};

    /// A report whose sender is known to `channel` as `account`.
    fn sent_by(channel: Channel, account: &str) -> Report {
        let received_at = Utc.with_ymd_and_hms(2026, 11, 28, 3, 0, 0).unwrap();
        let envelope = Envelope {
            id: "01ID".into(),
            tracking_code: "LA-01ID".into(),
            channel,
            channel_ref: None,
            received_at,
        };
        let mut report = Report::new(envelope);
        report.reporter.channel_identity = Some(account.into());
        report
    }

    #[test]
    fn identities_are_normalised_masked_and_keyed() {
        let phone = Identity::parse(" 0912.345.678 ").unwrap();
        assert_eq!(phone, Identity::Phone("+84912345678".into()));
        assert_eq!(phone.masked(), "+8491****678");
        assert_eq!(Identity::parse("+84 912 345 678"), Some(phone.clone()));
        let email = Identity::parse("An.Nguyen@Example.VN").unwrap();
        assert_eq!(email, Identity::Email("an.nguyen@example.vn".into()));
        assert_eq!(email.masked(), "a***@example.vn");
        let zalo = Identity::parse("Zalo:8471263512").unwrap();
        assert_eq!(zalo.masked(), "zalo:84****12");
        for bad in [
            "",
            "hello",
            "not@an@email",
            "facebook:123",
            "zalo:",
            "zalo:a b",
        ] {
            assert_eq!(Identity::parse(bad), None, "{bad}");
        }
        let d = identity_digest(&phone, "p1");
        assert_eq!(d.len(), 64);
        assert_eq!(
            d,
            identity_digest(&Identity::parse("84912345678").unwrap(), "p1")
        );
        assert_ne!(
            d,
            identity_digest(&phone, "p2"),
            "the pepper keys the digest"
        );
        assert_ne!(d, identity_digest(&email, "p1"));
    }

    #[test]
    fn the_api_client_is_not_the_reporter() {
        let a = sent_by(Channel::App, "api-client:long-an-so");
        assert!(Identity::of_report(&a).is_empty());
        let mut e = sent_by(Channel::Email, "Dan@Example.vn");
        e.reporter.email = Some("dan@example.vn".into());
        assert_eq!(
            Identity::of_report(&e),
            [Identity::Email("dan@example.vn".into())]
        );
        let z = sent_by(Channel::ZaloMiniapp, "5512");
        assert_eq!(
            Identity::of_report(&z),
            [Identity::Account {
                namespace: "zalo".into(),
                id: "5512".into()
            }]
        );
    }
}
