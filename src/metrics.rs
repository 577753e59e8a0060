//! Prometheus metrics (`GET /metrics`). Labels carry channels, verdicts, codes and stream names
//! only: never personal data (R-SEC-2).
//!
//! Every counter is incremented where its event happens (a report received, a verdict, a stream
//! append, claim or acknowledgement); a scrape renders them and reads the queue depth from O(1)
//! sources, so its cost does not grow with the queue.

use std::sync::{Arc, Mutex, OnceLock};

use channels::email::EmailStats;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use normalizers::validate::Verdict;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Install the recorder once per process; later calls return the same handle.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (tests embedding several gateways):
            // then this handle renders nothing new, which is acceptable there.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

pub fn received(channel: &str) {
    metrics::counter!("gateway_reports_received_total", "channel" => channel.to_string())
        .increment(1);
}

pub fn verdict(channel: &str, verdict: &Verdict) {
    metrics::counter!(
        "gateway_verdicts_total",
        "channel" => channel.to_string(),
        "verdict" => verdict.status.as_str()
    )
    .increment(1);
    for f in &verdict.reasons {
        metrics::counter!("gateway_findings_total", "code" => f.code.as_str(), "action" => "reject")
            .increment(1);
    }
    for f in &verdict.flags {
        metrics::counter!("gateway_findings_total", "code" => f.code.as_str(), "action" => "flag")
            .increment(1);
    }
}

pub fn queued(stream: &'static str) {
    metrics::counter!("gateway_reports_queued_total", "stream" => stream).increment(1);
}

pub fn storage_error(op: &'static str) {
    metrics::counter!("gateway_storage_errors_total", "op" => op).increment(1);
}

pub fn queue_depth(stream: &'static str, length: u64, pending: u64, undelivered: u64) {
    metrics::gauge!("gateway_queue_length", "stream" => stream).set(length as f64);
    metrics::gauge!("gateway_queue_pending", "stream" => stream).set(pending as f64);
    metrics::gauge!("gateway_queue_undelivered", "stream" => stream).set(undelivered as f64);
}

/// A submission refused by an intake rate limit (`limit`: sender, source or client).
pub fn rate_limited(channel: &'static str, limit: &'static str) {
    metrics::counter!("gateway_rate_limited_total", "channel" => channel, "limit" => limit)
        .increment(1);
}

/// An IOC message recorded (its kind: `request_detail`, `result`…).
pub fn ioc_message(kind: &'static str) {
    metrics::counter!("gateway_ioc_messages_total", "kind" => kind).increment(1);
}

/// A webhook delivery of an IOC message given up after its last attempt.
pub fn webhook_gave_up() {
    metrics::counter!("gateway_webhook_gave_up_total").increment(1);
}

/// A citizen's answer or rating joined its report (`kind`: `citizen_message`, `rating`).
pub fn citizen_answer(kind: &'static str, channel: &'static str) {
    metrics::counter!("gateway_citizen_answers_total", "kind" => kind, "channel" => channel)
        .increment(1);
}

pub fn http_error(status: u16) {
    metrics::counter!("gateway_http_errors_total", "status" => status.to_string()).increment(1);
}

/// One append to a stream (a report queued, an event or a reply waiting for delivery).
pub fn appended(stream: &str) {
    metrics::counter!("gateway_stream_appended_total", "stream" => stream.to_string()).increment(1);
}

/// Entries handed out to a consumer group (new ones and re-claimed ones).
pub fn claimed(stream: &str, group: &str, n: usize) {
    if n > 0 {
        metrics::counter!(
            "gateway_stream_claimed_total",
            "stream" => stream.to_string(),
            "group" => group.to_string()
        )
        .increment(n as u64);
    }
}

/// An entry acknowledged by its consumer group.
pub fn acked(stream: &str, group: &str) {
    metrics::counter!(
        "gateway_stream_acked_total",
        "stream" => stream.to_string(),
        "group" => group.to_string()
    )
    .increment(1);
}

/// The email channels' live counters, exported at each scrape.
static EMAIL_STATS: Mutex<Vec<Arc<EmailStats>>> = Mutex::new(Vec::new());

/// Export a running email channel's counters on `/metrics`.
pub fn register_email_stats(stats: Arc<EmailStats>) {
    EMAIL_STATS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(stats);
}

/// Copy the channels' counters into the exported ones (a few atomic loads).
pub fn export_channel_stats() {
    let all = EMAIL_STATS.lock().unwrap_or_else(|p| p.into_inner());
    if all.is_empty() {
        return;
    }
    let mut sum = channels::email::EmailStatsSnapshot::default();
    for s in all.iter() {
        let s = s.snapshot();
        sum.fetched += s.fetched;
        sum.ingested += s.ingested;
        sum.replayed += s.replayed;
        sum.skipped_auto += s.skipped_auto;
        sum.failed += s.failed;
        sum.retried += s.retried;
        sum.replies_queued += s.replies_queued;
        sum.replies_rate_limited += s.replies_rate_limited;
        sum.replies_sent += s.replies_sent;
        sum.replies_failed += s.replies_failed;
        sum.replies_given_up += s.replies_given_up;
        sum.reconnects += s.reconnects;
    }
    for (outcome, n) in [
        ("fetched", sum.fetched),
        ("ingested", sum.ingested),
        ("replayed", sum.replayed),
        ("skipped_auto", sum.skipped_auto),
        ("failed", sum.failed),
        ("retried", sum.retried),
    ] {
        metrics::counter!("gateway_email_messages_total", "outcome" => outcome).absolute(n);
    }
    for (outcome, n) in [
        ("queued", sum.replies_queued),
        ("rate_limited", sum.replies_rate_limited),
        ("sent", sum.replies_sent),
        ("failed", sum.replies_failed),
        ("given_up", sum.replies_given_up),
    ] {
        metrics::counter!("gateway_email_replies_total", "outcome" => outcome).absolute(n);
    }
    metrics::counter!("gateway_email_reconnects_total").absolute(sum.reconnects);
}

/// One-time codes of the portal (Đ6.4): `sent`, `wrong`, `locked` (too many wrong codes),
/// `verified`. No contact, no code.
pub fn otp(outcome: &'static str) {
    metrics::counter!("gateway_portal_otp_total", "outcome" => outcome).increment(1);
}
