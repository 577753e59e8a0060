//! Intake rate limits (R-SEC-4): per sender (phone, email, Zalo or app account), per source
//! address (client IP; the sending domain of an unauthenticated email) and per API client, on
//! every channel, counted in the shared store so that every instance sees the same counts.
//!
//! Sliding windows of the injected clock (two buckets, weighted): a counter per window number
//! (`ratelimit:<group>:<kind>:{<digest>}:<window>`, the digest the Redis Cluster hash tag), read
//! with the previous window's counter weighted by the part of that window still inside the
//! sliding window, in one atomic store step (`Store::sliding_admit`: one Lua script on Redis,
//! one write transaction on redb). A burst at the end of one window and another at the start of
//! the next get about one limit's worth together, not two. Only admitted requests count, and
//! `Retry-After` is when the next one would be admitted. The count and `Retry-After` are the
//! same on Redis and on the embedded store, and tests move windows with the clock. The digest
//! is keyed with the identity pepper (senders: the block list's [`identity_digest`]), so no
//! key holds personal data in clear. A submission's de-duplication key, once admitted, is
//! remembered (`ratelimit:seen:…`, keyed digest): a repeated delivery (a Zalo retry of the same
//! event, a retried `Idempotency-Key`) is admitted without being counted again.
//!
//! Public routes are limited per source address alone ([`PublicRoute`]: the API's dry run
//! `POST /v1/reports/check` and the published photos), counted as `channel="check"` and
//! `channel="public_media"`.
//!
//! What a limited submission becomes is the channel's: HTTP answers 429 with `Retry-After`, the
//! Zalo webhook drops the event (still 200 to Zalo) and the email poller moves the message to
//! the failed folder; chat and email citizens are told once per window. Every refusal counts in
//! `gateway_rate_limited_total{channel, limit}` (`channel`: `api` for the app, portal and Open311
//! clients, `zalo_miniapp`, `zalo_oa`, `email`; `limit`: `sender`, `source`, `client`).

use std::time::Duration;

use channels::ratelimit::{Admission, IpNet, LimitKind, Limited, Subjects};
use channels::{ConfigProblem, Problem};
use normalizers::identity::identity_digest;
use normalizers::report::Channel;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::SharedClock;
use crate::store::{Store, StoreFailure};

/// The limits of one channel. A limit of 0 is no limit. A key left out of a channel's table
/// keeps that channel's default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelLimits {
    /// Length of a window, in seconds.
    pub window_secs: u64,
    /// Submissions per sender identity per window (Zalo OA: webhook events per Zalo user).
    pub per_sender: u32,
    /// Submissions per source address per window.
    pub per_source: u32,
    /// Submissions per API client per window (the API only).
    pub per_client: u32,
}

/// A channel's table as written: every key optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelLimitsRepr {
    window_secs: Option<u64>,
    per_sender: Option<u32>,
    per_source: Option<u32>,
    per_client: Option<u32>,
}

/// Deserialisers of each channel's table over that channel's defaults.
macro_rules! limits_over_defaults {
    ($($name:ident => $field:ident),*) => {$(
        fn $name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ChannelLimits, D::Error> {
            let r = ChannelLimitsRepr::deserialize(d)?;
            let base = RateLimitConfig::default().$field;
            Ok(ChannelLimits {
                window_secs: r.window_secs.unwrap_or(base.window_secs),
                per_sender: r.per_sender.unwrap_or(base.per_sender),
                per_source: r.per_source.unwrap_or(base.per_source),
                per_client: r.per_client.unwrap_or(base.per_client),
            })
        }
    )*};
}

limits_over_defaults!(api_limits => api, miniapp_limits => miniapp, zalo_oa_limits => zalo_oa, email_limits => email);

/// A list written as a list, or as one text of items separated by commas (the environment).
fn list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Text(String),
        List(Vec<String>),
    }
    let items = match Repr::deserialize(d)? {
        Repr::Text(text) => text.split(',').map(str::to_string).collect(),
        Repr::List(items) => items,
    };
    items
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<T>().map_err(serde::de::Error::custom))
        .collect()
}

impl ChannelLimits {
    const fn hourly(per_sender: u32, per_source: u32, per_client: u32) -> Self {
        ChannelLimits {
            window_secs: 3600,
            per_sender,
            per_source,
            per_client,
        }
    }

    fn limit(&self, kind: LimitKind) -> u32 {
        match kind {
            LimitKind::Sender => self.per_sender,
            LimitKind::Source => self.per_source,
            LimitKind::Client => self.per_client,
        }
    }
}

/// A public route limited per source address only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicRoute {
    /// `POST /v1/reports/check`: the API's dry run (a full validation per request).
    Check,
    /// The public copies of published photos (`/v1/published/{code}/media/{n}`).
    PublicMedia,
}

impl PublicRoute {
    /// The counters' group and the metric's `channel` label.
    pub fn as_str(self) -> &'static str {
        match self {
            PublicRoute::Check => "check",
            PublicRoute::PublicMedia => "public_media",
        }
    }
}

/// The limit of a public route: requests per source address per (sliding) window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceLimits {
    /// Length of a window, in seconds.
    pub window_secs: u64,
    /// Requests per source address per window; 0: no limit.
    pub per_source: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceLimitsRepr {
    window_secs: Option<u64>,
    per_source: Option<u32>,
}

macro_rules! source_limits_over_defaults {
    ($($name:ident => $field:ident),*) => {$(
        fn $name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SourceLimits, D::Error> {
            let r = SourceLimitsRepr::deserialize(d)?;
            let base = RateLimitConfig::default().$field;
            Ok(SourceLimits {
                window_secs: r.window_secs.unwrap_or(base.window_secs),
                per_source: r.per_source.unwrap_or(base.per_source),
            })
        }
    )*};
}

source_limits_over_defaults!(check_limits => check, public_media_limits => public_media);

/// `[rate_limits]`: intake limits per channel, with sensible defaults for a province.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Off: nothing is counted or refused.
    pub enabled: bool,
    /// `POST /v1/reports` (app, portal, Open311 clients): sender = the reporter's phone, email
    /// and app account; source = the client IP; client = the API key.
    #[serde(deserialize_with = "api_limits")]
    pub api: ChannelLimits,
    /// `POST /v1/zalo/miniapp/reports`: sender = the Zalo user and phone Zalo confirmed;
    /// source = the client IP.
    #[serde(deserialize_with = "miniapp_limits")]
    pub miniapp: ChannelLimits,
    /// The OA webhook: sender = the Zalo user, counting the user's webhook events (a report
    /// takes several: text, photos, place, contact, "Gửi").
    #[serde(deserialize_with = "zalo_oa_limits")]
    pub zalo_oa: ChannelLimits,
    /// The mailbox: sender = the From address (and a phone written in the message); source =
    /// the sending domain when the sender does not authenticate (DMARC/DKIM).
    #[serde(deserialize_with = "email_limits")]
    pub email: ChannelLimits,
    /// `POST /v1/reports/check` per client address (429 with `Retry-After` past it).
    #[serde(deserialize_with = "check_limits")]
    pub check: SourceLimits,
    /// The public copies of published photos (`GET /v1/published/{code}/media/{n}`) per
    /// client address.
    #[serde(deserialize_with = "public_media_limits")]
    pub public_media: SourceLimits,
    /// API clients never limited (the IOC's own tools, a trusted portal backend): the first 12
    /// hex digits of the key's sha256 (`printf %s "$KEY" | sha256sum | cut -c1-12`). A list,
    /// or one text separated by commas (`GATEWAY_RATE_LIMITS__EXEMPT_API_CLIENTS=a,b`).
    #[serde(deserialize_with = "list")]
    pub exempt_api_clients: Vec<String>,
    /// Reverse proxies in front of the gateway whose `X-Forwarded-For` gives the client IP
    /// (addresses or networks: `10.0.0.0/8`). Empty: the connection's address is the client.
    /// A list, or one text separated by commas.
    #[serde(deserialize_with = "list")]
    pub trusted_proxies: Vec<IpNet>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            enabled: true,
            api: ChannelLimits::hourly(10, 60, 1000),
            miniapp: ChannelLimits::hourly(10, 60, 0),
            zalo_oa: ChannelLimits::hourly(100, 0, 0),
            email: ChannelLimits::hourly(10, 100, 0),
            // A dry run per edit of a form: generous, but bounded (each is a full validation).
            check: SourceLimits {
                window_secs: 3600,
                per_source: 600,
            },
            // A feed page shows a few photos each; a scraper is what this stops.
            public_media: SourceLimits {
                window_secs: 3600,
                per_source: 3000,
            },
            exempt_api_clients: Vec::new(),
            trusted_proxies: Vec::new(),
        }
    }
}

impl RateLimitConfig {
    /// The limits of a channel and the name its counters are grouped under.
    pub fn of(&self, channel: Channel) -> (&'static str, &ChannelLimits) {
        match channel {
            Channel::Email => ("email", &self.email),
            Channel::ZaloOa => ("zalo_oa", &self.zalo_oa),
            Channel::ZaloMiniapp => ("zalo_miniapp", &self.miniapp),
            Channel::App | Channel::Portal | Channel::Open311 => ("api", &self.api),
        }
    }

    /// The limit of a public route.
    pub fn public(&self, route: PublicRoute) -> &SourceLimits {
        match route {
            PublicRoute::Check => &self.check,
            PublicRoute::PublicMedia => &self.public_media,
        }
    }

    /// What `gateway check-config` and `serve` refuse or warn about.
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut out = Vec::new();
        if !self.enabled {
            out.push(ConfigProblem::warning(
                "rate_limits.enabled",
                Problem::Invalid(
                    "is false: no channel is rate limited (R-SEC-4); one sender can flood the IOC"
                        .into(),
                ),
            ));
            return out;
        }
        for (name, limits) in [
            ("api", &self.api),
            ("miniapp", &self.miniapp),
            ("zalo_oa", &self.zalo_oa),
            ("email", &self.email),
        ] {
            let any = limits.per_sender > 0 || limits.per_source > 0 || limits.per_client > 0;
            if any && limits.window_secs == 0 {
                out.push(ConfigProblem::error(
                    format!("rate_limits.{name}.window_secs"),
                    Problem::Invalid("must be at least 1 second".into()),
                ));
            }
            if limits.window_secs > 7 * 24 * 3600 {
                out.push(ConfigProblem::error(
                    format!("rate_limits.{name}.window_secs"),
                    Problem::Invalid("must be at most a week (604800)".into()),
                ));
            }
            if limits.per_sender == 0 {
                out.push(ConfigProblem::warning(
                    format!("rate_limits.{name}.per_sender"),
                    Problem::Invalid("is 0: senders on this channel are not limited".into()),
                ));
            }
        }
        for (name, limits) in [("check", &self.check), ("public_media", &self.public_media)] {
            if limits.per_source > 0 && limits.window_secs == 0 {
                out.push(ConfigProblem::error(
                    format!("rate_limits.{name}.window_secs"),
                    Problem::Invalid("must be at least 1 second".into()),
                ));
            }
            if limits.window_secs > 7 * 24 * 3600 {
                out.push(ConfigProblem::error(
                    format!("rate_limits.{name}.window_secs"),
                    Problem::Invalid("must be at most a week (604800)".into()),
                ));
            }
        }
        for (name, limits) in [("zalo_oa", &self.zalo_oa), ("email", &self.email)] {
            if limits.per_client > 0 {
                out.push(ConfigProblem::warning(
                    format!("rate_limits.{name}.per_client"),
                    Problem::Invalid("has no effect: this channel has no API clients".into()),
                ));
            }
        }
        if self.zalo_oa.per_source > 0 {
            out.push(ConfigProblem::warning(
                "rate_limits.zalo_oa.per_source",
                Problem::Invalid(
                    "has no effect: every webhook event comes from Zalo's servers".into(),
                ),
            ));
        }
        if self.miniapp.per_client > 0 {
            out.push(ConfigProblem::warning(
                "rate_limits.miniapp.per_client",
                Problem::Invalid("has no effect: the mini app has no API clients".into()),
            ));
        }
        for client in &self.exempt_api_clients {
            let ok = client.len() == 12 && client.bytes().all(|b| b.is_ascii_hexdigit());
            if !ok {
                out.push(ConfigProblem::error(
                    "rate_limits.exempt_api_clients",
                    Problem::Invalid(format!(
                        "`{client}` is not a client id: the first 12 hex digits of the key's \
                         sha256 (printf %s \"$KEY\" | sha256sum | cut -c1-12)"
                    )),
                ));
            }
        }
        out
    }

    /// Whether an API client is exempt from every limit.
    pub fn is_exempt(&self, client: &str) -> bool {
        self.exempt_api_clients
            .iter()
            .any(|c| c.eq_ignore_ascii_case(client))
    }
}

/// Counts submissions against the limits in the shared store.
pub struct RateLimiter {
    store: Store,
    clock: SharedClock,
    pepper: String,
    config: RateLimitConfig,
}

/// A counter expires this long after the window that reads it last ended (clock skew between
/// instances).
const EXPIRY_GRACE: Duration = Duration::from_secs(60);

/// One counter of a request: what it limits, its name (without window) and its limit.
struct Counter {
    kind: LimitKind,
    name: String,
    limit: u32,
}

impl RateLimiter {
    /// `pepper`: the identity pepper (`[duplicates] identity_pepper`), which keys the digests.
    pub fn new(
        store: Store,
        clock: SharedClock,
        pepper: impl Into<String>,
        config: RateLimitConfig,
    ) -> Self {
        RateLimiter {
            store,
            clock,
            pepper: pepper.into(),
            config,
        }
    }

    pub fn config(&self) -> &RateLimitConfig {
        &self.config
    }

    /// Count one submission on `channel` against every limit that applies to its subjects; it
    /// is limited when one more would take any counter past its limit. Only what is admitted
    /// counts (a counter admitted while another refused keeps its count).
    pub async fn admit(
        &self,
        channel: Channel,
        subjects: &Subjects,
    ) -> Result<Admission, StoreFailure> {
        self.admit_once(channel, None, subjects).await
    }

    /// [`admit`](Self::admit), unless `dedup_key` (the submission's de-duplication key: a
    /// Zalo event's message id, an `Idempotency-Key`, an email's Message-ID) was admitted
    /// already: a repeated delivery is admitted without being counted again.
    pub async fn admit_once(
        &self,
        channel: Channel,
        dedup_key: Option<&str>,
        subjects: &Subjects,
    ) -> Result<Admission, StoreFailure> {
        if !self.config.enabled {
            return Ok(Admission::Admitted);
        }
        if subjects
            .client
            .as_deref()
            .is_some_and(|c| self.config.is_exempt(c))
        {
            return Ok(Admission::Admitted);
        }
        let (group, limits) = self.config.of(channel);
        if limits.window_secs == 0 {
            return Ok(Admission::Admitted);
        }
        let mut counters: Vec<Counter> = Vec::new();
        for identity in &subjects.senders {
            counters.push(self.counter(
                group,
                LimitKind::Sender,
                identity_digest(identity, &self.pepper),
                limits,
            ));
        }
        if let Some(source) = &subjects.source {
            counters.push(self.counter(
                group,
                LimitKind::Source,
                self.digest("source", source),
                limits,
            ));
        }
        if let Some(client) = &subjects.client {
            counters.push(self.counter(
                group,
                LimitKind::Client,
                self.digest("client", client),
                limits,
            ));
        }
        // Remembered per key and counter, in the counter's own step: a handler that admits the
        // source first and the senders once it read them counts each once, and a counter that
        // admitted a submission refused by another is not counted again when it is retried.
        let seen = dedup_key.map(|k| self.digest("dedup", k));
        self.check(group, limits.window_secs, counters, seen.as_deref())
            .await
    }

    /// Count one request from `source` (the client address) on a public route.
    pub async fn admit_source(
        &self,
        route: PublicRoute,
        source: &str,
    ) -> Result<Admission, StoreFailure> {
        if !self.config.enabled {
            return Ok(Admission::Admitted);
        }
        let limits = self.config.public(route);
        if limits.window_secs == 0 || limits.per_source == 0 {
            return Ok(Admission::Admitted);
        }
        let group = route.as_str();
        let counter = Counter {
            kind: LimitKind::Source,
            name: format!("{group}:source:{{{}}}", self.digest("source", source)),
            limit: limits.per_source,
        };
        self.check(group, limits.window_secs, vec![counter], None)
            .await
    }

    fn counter(
        &self,
        group: &str,
        kind: LimitKind,
        digest: String,
        limits: &ChannelLimits,
    ) -> Counter {
        // The digest is the hash tag: both windows of a counter share one Redis Cluster slot.
        Counter {
            kind,
            name: format!("{group}:{}:{{{digest}}}", kind.as_str()),
            limit: limits.limit(kind),
        }
    }

    /// The sliding-window check of every counter (limit 0: not counted): the previous window's
    /// count weighted by the part of it still inside the sliding window, plus the current
    /// window's count. A burst at the end of one window and another at the start of the next
    /// together get about one limit's worth, not two.
    async fn check(
        &self,
        group: &'static str,
        window_secs: u64,
        counters: Vec<Counter>,
        dedup: Option<&str>,
    ) -> Result<Admission, StoreFailure> {
        let w = window_secs.saturating_mul(1000).max(1);
        let now_ms = self.clock.now().timestamp_millis().max(0) as u64;
        let window = now_ms / w;
        let elapsed = now_ms - window * w;
        let weight_ppm = ((w - elapsed) as u128 * 1_000_000 / w as u128) as u32;
        // Read again as the previous window during the next one.
        let ttl = Duration::from_millis(2 * w - elapsed) + EXPIRY_GRACE;
        // A repeat is recognised while it could still be counted: two windows.
        let seen_ttl = Duration::from_millis(2 * w) + EXPIRY_GRACE;
        // (kind, counter name, wait) of every counter that refused.
        let mut over: Vec<(LimitKind, String, Duration)> = Vec::new();
        for c in counters {
            if c.limit == 0 {
                continue;
            }
            // The digest first: the counter's name holds the hash tag of its Cluster slot.
            let marker = dedup.map(|d| format!("ratelimit:seen:{d}:{}", c.name));
            let count = self
                .store
                .sliding_admit(
                    &format!("ratelimit:{}:{window}", c.name),
                    &format!("ratelimit:{}:{}", c.name, window.wrapping_sub(1)),
                    weight_ppm,
                    i64::from(c.limit),
                    ttl,
                    marker.as_deref().map(|m| (m, seen_ttl)),
                )
                .await?;
            if !count.admitted {
                let wait = next_admission(count.previous, count.current, c.limit, w, elapsed);
                over.push((c.kind, c.name, wait));
            }
        }
        let Some((kind, name, _)) = over.first().cloned() else {
            return Ok(Admission::Admitted);
        };
        let retry_after = over
            .iter()
            .map(|(_, _, wait)| *wait)
            .max()
            .unwrap_or_default();
        // Told once: the first refusal of this counter within a window's length.
        let first = self
            .store
            .put_if_absent(
                &format!("ratelimit:told:{name}"),
                b"1",
                Some(Duration::from_millis(w)),
            )
            .await?;
        crate::metrics::rate_limited(group, kind.as_str());
        // One line per window and subject: a flood must not become a flood of log lines.
        if first {
            tracing::info!(
                channel = group,
                limit = kind.as_str(),
                "submission rate limited (further ones this window are counted in metrics)"
            );
        } else {
            tracing::debug!(
                channel = group,
                limit = kind.as_str(),
                "submission rate limited"
            );
        }
        Ok(Admission::Limited(Limited {
            kind,
            retry_after,
            first,
        }))
    }

    /// A keyed digest of a source address, a client or a de-duplication key (not an identity: its own domain).
    fn digest(&self, what: &str, value: &str) -> String {
        let mut h = Sha256::new();
        h.update(b"1022-ratelimit-v1\0");
        h.update((self.pepper.len() as u64).to_be_bytes());
        h.update(self.pepper.as_bytes());
        h.update(what.as_bytes());
        h.update(b"\0");
        h.update(value.trim().to_ascii_lowercase().as_bytes());
        hex::encode(&h.finalize()[..16])
    }
}

/// How long until one more would be admitted when nothing else is counted meanwhile: `w` the
/// window's length and `elapsed` the time into the current window, in milliseconds.
fn next_admission(previous: i64, current: i64, limit: u32, w: u64, elapsed: u64) -> Duration {
    let (p, c, l) = (
        previous.max(0) as f64,
        current.max(0) as f64,
        f64::from(limit),
    );
    let (w, e) = (w as f64, elapsed as f64);
    let at = if c + 1.0 <= l && p > 0.0 {
        // Within this window, once enough of the previous one slid out.
        (w - (l - 1.0 - c) * w / p).max(e)
    } else {
        // During the next window, once enough of this one slid out.
        let g = if c > 0.0 {
            (w - (l - 1.0) * w / c).max(0.0)
        } else {
            0.0
        };
        w + g
    };
    Duration::from_millis(((at - e).ceil() as u64).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::StartedClock;
    use normalizers::identity::Identity;
    use std::sync::Arc;

    fn limiter(dir: &std::path::Path, config: RateLimitConfig) -> (RateLimiter, Store) {
        let clock: SharedClock =
            Arc::new(StartedClock::new("2026-11-28T03:00:00Z".parse().unwrap()));
        let store = Store::embedded(&dir.join("q.redb"), clock.clone()).unwrap();
        (
            RateLimiter::new(store.clone(), clock, "pepper", config),
            store,
        )
    }

    fn sender(phone: &str) -> Subjects {
        Subjects {
            senders: vec![Identity::parse(phone).unwrap()],
            ..Subjects::default()
        }
    }

    #[tokio::test]
    async fn the_limit_refuses_past_n_and_tells_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = RateLimitConfig::default();
        config.api.per_sender = 2;
        let (rl, _) = limiter(dir.path(), config);
        let a = sender("0912345678");
        for _ in 0..2 {
            assert_eq!(
                rl.admit(Channel::App, &a).await.unwrap(),
                Admission::Admitted
            );
        }
        let Admission::Limited(l) = rl.admit(Channel::App, &a).await.unwrap() else {
            panic!("the third is limited");
        };
        assert_eq!(l.kind, LimitKind::Sender);
        assert!(l.first);
        // On the hour, 2 of 2 taken: the next once half of them slid out, at half past the
        // next hour.
        assert!(
            (5390..=5400).contains(&l.retry_after.as_secs()),
            "{:?}",
            l.retry_after
        );
        let Admission::Limited(l) = rl.admit(Channel::App, &a).await.unwrap() else {
            panic!("the fourth is limited");
        };
        assert!(!l.first, "told once per window");
        // Another sender, another channel group: unaffected.
        let b = sender("0987654321");
        assert_eq!(
            rl.admit(Channel::App, &b).await.unwrap(),
            Admission::Admitted
        );
        assert_eq!(
            rl.admit(Channel::Email, &a).await.unwrap(),
            Admission::Admitted
        );
        // The portal shares the API's counters.
        assert!(matches!(
            rl.admit(Channel::Portal, &a).await.unwrap(),
            Admission::Limited(_)
        ));
    }

    #[tokio::test]
    async fn exempt_clients_and_zero_limits_are_not_counted() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = RateLimitConfig::default();
        config.api.per_client = 1;
        config.api.per_source = 0;
        config.exempt_api_clients = vec!["abcdef012345".into()];
        let (rl, _) = limiter(dir.path(), config);
        let exempt = Subjects {
            client: Some("abcdef012345".into()),
            source: Some("192.0.2.1".into()),
            ..Subjects::default()
        };
        let other = Subjects {
            client: Some("000000000000".into()),
            source: Some("192.0.2.1".into()),
            ..Subjects::default()
        };
        for _ in 0..5 {
            assert_eq!(
                rl.admit(Channel::App, &exempt).await.unwrap(),
                Admission::Admitted
            );
        }
        assert_eq!(
            rl.admit(Channel::App, &other).await.unwrap(),
            Admission::Admitted
        );
        let Admission::Limited(l) = rl.admit(Channel::App, &other).await.unwrap() else {
            panic!("the client's second is limited");
        };
        assert_eq!(l.kind, LimitKind::Client);
    }

    #[tokio::test]
    async fn keys_hold_no_personal_data() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = RateLimitConfig::default();
        config.email.per_sender = 1;
        let (rl, store) = limiter(dir.path(), config);
        let s = Subjects {
            senders: vec![Identity::parse("an.nguyen@example.vn").unwrap()],
            source: Some("example.vn".into()),
            client: None,
        };
        rl.admit(Channel::Email, &s).await.unwrap();
        let digest = identity_digest(&s.senders[0], "pepper");
        let window = test_now_ms() / 3_600_000;
        let key = format!("ratelimit:email:sender:{{{digest}}}:{window}");
        assert!(store.get(&key).await.unwrap().is_some(), "{key}");
        assert!(!key.contains("example") && !key.contains("nguyen"));
    }

    /// A clock the test moves.
    struct SetClock(std::sync::Mutex<chrono::DateTime<chrono::Utc>>);

    impl crate::clock::Clock for SetClock {
        fn now(&self) -> chrono::DateTime<chrono::Utc> {
            *self.0.lock().unwrap()
        }
    }

    impl SetClock {
        fn set_ms(&self, ms: u64) {
            *self.0.lock().unwrap() =
                chrono::DateTime::from_timestamp_millis(ms as i64).expect("in range");
        }
    }

    /// N at the end of one window and N at the start of the next: about N taken, not 2N;
    /// afterwards the previous window slides out and requests are taken again at the rate.
    async fn sliding_window_on(store: Store, clock: Arc<SetClock>) {
        let mut config = RateLimitConfig::default();
        config.api.per_sender = 10;
        config.api.window_secs = 60;
        let rl = RateLimiter::new(store, clock.clone(), "pepper", config);
        let a = sender("0912345678");
        let start = test_now_ms(); // on the hour: a window starts
        let mut taken = 0;
        clock.set_ms(start + 59_000);
        for _ in 0..10 {
            taken += u32::from(rl.admit(Channel::App, &a).await.unwrap() == Admission::Admitted);
        }
        assert_eq!(taken, 10, "the first N at the end of a window are taken");
        clock.set_ms(start + 60_500);
        let mut retry = Duration::ZERO;
        for _ in 0..10 {
            match rl.admit(Channel::App, &a).await.unwrap() {
                Admission::Admitted => taken += 1,
                Admission::Limited(l) => retry = l.retry_after,
            }
        }
        assert!(taken <= 11, "{taken} taken across the boundary, not ~2N");
        // Next one: once 10% of the previous window slid out (6 s into this one).
        assert!(
            retry > Duration::from_millis(5_000) && retry <= Duration::from_millis(5_600),
            "{retry:?}"
        );
        clock.set_ms(start + 60_500 + retry.as_millis() as u64);
        assert_eq!(
            rl.admit(Channel::App, &a).await.unwrap(),
            Admission::Admitted,
            "taken when Retry-After said"
        );
        assert!(matches!(
            rl.admit(Channel::App, &a).await.unwrap(),
            Admission::Limited(_)
        ));
        // Two windows later, a full N again.
        clock.set_ms(start + 180_000);
        for _ in 0..10 {
            assert_eq!(
                rl.admit(Channel::App, &a).await.unwrap(),
                Admission::Admitted
            );
        }
    }

    #[tokio::test]
    async fn the_sliding_window_takes_about_n_across_a_window_boundary_embedded() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(SetClock(std::sync::Mutex::new(
            "2026-11-28T03:00:00Z".parse().unwrap(),
        )));
        let store = Store::embedded(&dir.path().join("q.redb"), clock.clone()).unwrap();
        sliding_window_on(store, clock).await;
    }

    #[tokio::test]
    async fn a_repeated_dedup_key_is_not_counted_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = RateLimitConfig::default();
        config.zalo_oa.per_sender = 2;
        config.api.per_sender = 2;
        let (rl, _) = limiter(dir.path(), config);
        let a = sender("0912345678");
        for _ in 0..5 {
            assert_eq!(
                rl.admit_once(Channel::ZaloOa, Some("msg:1"), &a)
                    .await
                    .unwrap(),
                Admission::Admitted,
                "Zalo delivering one event again"
            );
        }
        assert_eq!(
            rl.admit_once(Channel::ZaloOa, Some("msg:2"), &a)
                .await
                .unwrap(),
            Admission::Admitted
        );
        assert!(matches!(
            rl.admit_once(Channel::ZaloOa, Some("msg:3"), &a)
                .await
                .unwrap(),
            Admission::Limited(_)
        ));
        // The API admits a submission's source first, then its senders, under one key: the
        // senders still count.
        let source = Subjects {
            source: Some("192.0.2.1".into()),
            ..Subjects::default()
        };
        for key in ["idem-1", "idem-2"] {
            for subjects in [&source, &a] {
                assert_eq!(
                    rl.admit_once(Channel::App, Some(key), subjects)
                        .await
                        .unwrap(),
                    Admission::Admitted
                );
            }
        }
        let Admission::Limited(l) = rl
            .admit_once(Channel::App, Some("idem-3"), &a)
            .await
            .unwrap()
        else {
            panic!("the senders of idem-1 and idem-2 were counted");
        };
        assert_eq!(l.kind, LimitKind::Sender);
    }

    #[tokio::test]
    async fn a_retried_submission_refused_by_one_counter_is_not_counted_again_by_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = RateLimitConfig::default();
        config.api.per_sender = 2;
        let (rl, _) = limiter(dir.path(), config);
        let (phone, email) = ("0912345678", "lan@example.vn");
        // The email address has used its two submissions.
        for key in ["other-1", "other-2"] {
            assert_eq!(
                rl.admit_once(Channel::App, Some(key), &sender(email))
                    .await
                    .unwrap(),
                Admission::Admitted
            );
        }
        // A submission giving the phone and that address is refused, and retried by the app
        // with its Idempotency-Key: the phone is counted once, not at every retry.
        let both = Subjects {
            senders: vec![
                Identity::parse(phone).unwrap(),
                Identity::parse(email).unwrap(),
            ],
            ..Subjects::default()
        };
        for _ in 0..3 {
            assert!(matches!(
                rl.admit_once(Channel::App, Some("both-1"), &both)
                    .await
                    .unwrap(),
                Admission::Limited(_)
            ));
        }
        assert_eq!(
            rl.admit_once(Channel::App, Some("phone-1"), &sender(phone))
                .await
                .unwrap(),
            Admission::Admitted,
            "the phone's second submission: the retries of the first were counted again"
        );
        assert!(matches!(
            rl.admit_once(Channel::App, Some("phone-2"), &sender(phone))
                .await
                .unwrap(),
            Admission::Limited(_)
        ));
    }

    #[tokio::test]
    async fn public_routes_are_limited_per_source() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = RateLimitConfig::default();
        config.check.per_source = 2;
        let (rl, _) = limiter(dir.path(), config);
        for _ in 0..2 {
            assert_eq!(
                rl.admit_source(PublicRoute::Check, "192.0.2.1")
                    .await
                    .unwrap(),
                Admission::Admitted
            );
        }
        let Admission::Limited(l) = rl
            .admit_source(PublicRoute::Check, "192.0.2.1")
            .await
            .unwrap()
        else {
            panic!("the third check from one address is limited");
        };
        assert_eq!(l.kind, LimitKind::Source);
        assert_eq!(
            rl.admit_source(PublicRoute::Check, "192.0.2.2")
                .await
                .unwrap(),
            Admission::Admitted
        );
        assert_eq!(
            rl.admit_source(PublicRoute::PublicMedia, "192.0.2.1")
                .await
                .unwrap(),
            Admission::Admitted
        );
    }

    fn test_now_ms() -> u64 {
        "2026-11-28T03:00:00Z"
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
            .timestamp_millis() as u64
    }

    #[test]
    fn a_channel_table_keeps_the_channel_defaults_and_lists_read_from_text() {
        let c: RateLimitConfig = serde_json::from_value(serde_json::json!({
            "zalo_oa": {"window_secs": 600},
            "exempt_api_clients": "abcdef012345, 0123456789ab",
            "trusted_proxies": ["10.0.0.0/8", "127.0.0.1"],
        }))
        .unwrap();
        assert_eq!(c.zalo_oa.window_secs, 600);
        assert_eq!(
            c.zalo_oa.per_sender, 100,
            "the Zalo default, not another channel's"
        );
        assert_eq!(c.api, RateLimitConfig::default().api);
        assert_eq!(c.exempt_api_clients, ["abcdef012345", "0123456789ab"]);
        assert_eq!(c.trusted_proxies.len(), 2);
        assert!(serde_json::from_value::<RateLimitConfig>(
            serde_json::json!({"trusted_proxies": "10.0.0.0/33"})
        )
        .is_err());
        assert!(serde_json::from_value::<RateLimitConfig>(
            serde_json::json!({"api": {"per_sendr": 3}})
        )
        .is_err());
    }

    #[test]
    fn problems_name_their_keys() {
        let mut c = RateLimitConfig::default();
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        c.api.window_secs = 0;
        c.exempt_api_clients = vec!["not-a-client".into()];
        let p = c.problems();
        let keys: Vec<&str> = p.iter().map(|p| p.key.as_str()).collect();
        assert!(keys.contains(&"rate_limits.api.window_secs"), "{keys:?}");
        assert!(keys.contains(&"rate_limits.exempt_api_clients"), "{keys:?}");
        assert!(p.iter().all(|p| p.severity == channels::Severity::Error));
    }
}
