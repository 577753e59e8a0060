//! Fault injection for crash tests: `GATEWAY_FAILPOINT=<name>` makes the process abort at that
//! point of the commit, as a power cut would. Unset in production (the default), it costs one
//! comparison per point.
//!
//! Points: `after_dedup` (the key's binding read, nothing stored), `after_media` (raw original
//! and media written, no report), `after_report` (report stored and queued; on Redis before its
//! binding is marked committed, on the embedded store, where both are one transaction, after
//! it), `after_queue` (queued, the channel not yet answered), `before_zalo_event_append` (a
//! Zalo webhook event verified and counted, not yet stored).

use std::sync::OnceLock;

static ARMED: OnceLock<Option<String>> = OnceLock::new();

pub fn hit(name: &str) {
    let armed = ARMED.get_or_init(|| std::env::var("GATEWAY_FAILPOINT").ok());
    if armed.as_deref() == Some(name) {
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
}
