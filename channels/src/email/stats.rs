//! Counters of the email channel, for metrics and logs (counts only: no personal data).

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Live counters, shared by the poller and the sender.
#[derive(Debug, Default)]
pub struct EmailStats {
    /// Messages fetched from the mailbox (or read by an import).
    pub fetched: AtomicU64,
    /// New reports stored by the intake.
    pub ingested: AtomicU64,
    /// Messages the intake had already seen (re-read after a crash or a failed move).
    pub replayed: AtomicU64,
    /// Bounces, auto-replies and our own mail: not reports, not answered.
    pub skipped_auto: AtomicU64,
    /// Messages moved to the failed folder.
    pub failed: AtomicU64,
    /// Messages left in the mailbox because the intake or the outbox was unavailable.
    pub retried: AtomicU64,
    pub replies_queued: AtomicU64,
    pub replies_rate_limited: AtomicU64,
    pub replies_sent: AtomicU64,
    /// Failed delivery attempts (retried later).
    pub replies_failed: AtomicU64,
    /// Replies dropped after the last attempt or a permanent SMTP refusal.
    pub replies_given_up: AtomicU64,
    /// IMAP connections opened after the first one.
    pub reconnects: AtomicU64,
}

/// A copy of the counters at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EmailStatsSnapshot {
    pub fetched: u64,
    pub ingested: u64,
    pub replayed: u64,
    pub skipped_auto: u64,
    pub failed: u64,
    pub retried: u64,
    pub replies_queued: u64,
    pub replies_rate_limited: u64,
    pub replies_sent: u64,
    pub replies_failed: u64,
    pub replies_given_up: u64,
    pub reconnects: u64,
}

impl EmailStats {
    pub fn snapshot(&self) -> EmailStatsSnapshot {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        EmailStatsSnapshot {
            fetched: g(&self.fetched),
            ingested: g(&self.ingested),
            replayed: g(&self.replayed),
            skipped_auto: g(&self.skipped_auto),
            failed: g(&self.failed),
            retried: g(&self.retried),
            replies_queued: g(&self.replies_queued),
            replies_rate_limited: g(&self.replies_rate_limited),
            replies_sent: g(&self.replies_sent),
            replies_failed: g(&self.replies_failed),
            replies_given_up: g(&self.replies_given_up),
            reconnects: g(&self.reconnects),
        }
    }
}
