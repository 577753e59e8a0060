//! Prometheus metrics (`GET /metrics`). Labels carry channels, verdicts and codes only: never
//! personal data (R-SEC-2).

use std::sync::OnceLock;

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

pub fn http_error(status: u16) {
    metrics::counter!("gateway_http_errors_total", "status" => status.to_string()).increment(1);
}
