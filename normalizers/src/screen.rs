//! Screening of a report against what the shared store holds about other reports and senders:
//! the open reports it may repeat (DUPLICATE, Đ7.3) and the blocked senders (SENDER_BLOCKED,
//! Đ13.1.e).
//!
//! The gateway reads the open fingerprints and the blocked digests from its store, `gateway
//! check` builds them from files; both hand them to [`screen`] and validate once with the
//! result applied to the validator's [`Context`].

use crate::duplicate::{self, DuplicateConfig, Fingerprint};
use crate::report::Report;
use crate::validate::{Context, DuplicateRef};

/// What the shared state says about a report, and its fingerprint to record once it is
/// committed.
#[derive(Debug, Clone)]
pub struct Screening {
    pub fingerprint: Fingerprint,
    pub duplicates: Vec<DuplicateRef>,
    pub same_reporter: bool,
    pub sender_blocked: bool,
}

impl Screening {
    /// Hand the findings to the validator.
    pub fn apply(&self, ctx: &mut Context<'_>) {
        ctx.duplicates = self.duplicates.clone();
        ctx.duplicate_by_same_reporter = self.same_reporter;
        ctx.sender_blocked = self.sender_blocked;
    }
}

/// Screen a derived report (location and incident time known). `phashes`: the perceptual hash
/// of each attachment, when it is a readable photo; `open`: fingerprints of the open reports of
/// the window; `blocked`: identity digests (keyed with `config.identity_pepper`) of blocked
/// senders, at least those of this report's sender that are blocked.
pub fn screen(
    report: &Report,
    phashes: &[Option<u64>],
    open: &[Fingerprint],
    blocked: &[String],
    config: &DuplicateConfig,
) -> Screening {
    let fingerprint = Fingerprint::of(report, phashes, config.identity_pepper.expose());
    let found = duplicate::find(&fingerprint, open, config);
    let sender_blocked = fingerprint.reporter.iter().any(|d| blocked.contains(d));
    Screening {
        fingerprint,
        duplicates: found.duplicates,
        same_reporter: found.same_reporter,
        sender_blocked,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{identity_digest, Identity};
    use crate::report::{Channel, Coordinates, Envelope};
    use crate::validate::ValidationConfig;
    use chrono::{TimeZone, Utc};

    fn report(id: &str, minutes_after: i64) -> Report {
        let mut r = Report::new(Envelope {
            id: id.into(),
            tracking_code: format!("LA-{id}"),
            channel: Channel::App,
            channel_ref: None,
            received_at: Utc.with_ymd_and_hms(2026, 11, 28, 3, 0, 0).unwrap()
                + chrono::Duration::minutes(minutes_after),
        });
        r.content.text = "Cây xanh ngã chắn ngang đường Hùng Vương, xe không qua được.".into();
        r.location.coordinates = Some(Coordinates {
            lat: 10.5354,
            lon: 106.4136,
        });
        r.reporter.phone = Some("0912345678".into());
        r
    }

    #[test]
    fn a_repeat_by_a_blocked_sender_is_found_and_blocked() {
        let config = DuplicateConfig {
            identity_pepper: "pepper".into(),
            ..DuplicateConfig::default()
        };
        let first = report("01FIRST", 0);
        let open = [Fingerprint::of(
            &first,
            &[],
            config.identity_pepper.expose(),
        )];
        let again = report("01AGAIN", 30);
        let phone = Identity::parse("0912345678").unwrap();
        let blocked = [identity_digest(&phone, config.identity_pepper.expose())];

        let screening = screen(&again, &[], &open, &blocked, &config);
        assert!(screening.sender_blocked);
        assert_eq!(screening.duplicates[0].id, "01FIRST");
        assert_eq!(screening.fingerprint.id, "01AGAIN");

        let validation = ValidationConfig::default();
        let mut ctx = Context::new(again.received_at, &validation);
        screening.apply(&mut ctx);
        assert!(ctx.sender_blocked);
        assert_eq!(ctx.duplicates, screening.duplicates);
        assert_eq!(ctx.duplicate_by_same_reporter, screening.same_reporter);

        let unblocked = screen(&again, &[], &open, &["other".into()], &config);
        assert!(!unblocked.sender_blocked);
    }
}
