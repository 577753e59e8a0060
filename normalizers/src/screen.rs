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
    let fingerprint = Fingerprint::of(report, phashes, &config.identity_pepper);
    let found = duplicate::find(&fingerprint, open, config);
    let sender_blocked = fingerprint.reporter.iter().any(|d| blocked.contains(d));
    Screening {
        fingerprint,
        duplicates: found.duplicates,
        same_reporter: found.same_reporter,
        sender_blocked,
    }
}
