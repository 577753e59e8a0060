//! Intake rate limits (R-SEC-4): per sender (phone, email, Zalo or app account), per source
//! address (client IP; the sending domain of an unauthenticated email) and per API client, on
//! every channel, counted in the shared store so that every instance sees the same counts.
//!
//! Fixed windows of the injected clock: a counter is keyed by the window's number
//! (`ratelimit:<group>:<kind>:<digest>:<window>`) and expires after it, so the count, the window
//! and `Retry-After` are the same on Redis and on the embedded store, and tests move windows with
//! the clock. The digest is keyed with the identity pepper (senders: the block list's
//! [`identity_digest`]), so no key holds personal data in clear.
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

/// A counter expires this long after its window ended (clock skew between instances).
const EXPIRY_GRACE: Duration = Duration::from_secs(60);

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
    /// is limited when any counter passed its limit. Every counter of the submission is
    /// counted, refused or not (attempts count).
    pub async fn admit(
        &self,
        channel: Channel,
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
        let window_ms = limits.window_secs.saturating_mul(1000);
        let now_ms = self.clock.now().timestamp_millis().max(0) as u64;
        let window = now_ms / window_ms;
        let retry_after = Duration::from_millis((window + 1) * window_ms - now_ms);
        let ttl = retry_after + EXPIRY_GRACE;
        let mut counted: Vec<(LimitKind, String)> = Vec::new();
        for identity in &subjects.senders {
            counted.push((LimitKind::Sender, identity_digest(identity, &self.pepper)));
        }
        if let Some(source) = &subjects.source {
            counted.push((LimitKind::Source, self.digest("source", source)));
        }
        if let Some(client) = &subjects.client {
            counted.push((LimitKind::Client, self.digest("client", client)));
        }
        // (kind, count, limit) of every counter past its limit.
        let mut over: Vec<(LimitKind, i64, i64)> = Vec::new();
        for (kind, digest) in counted {
            let limit = i64::from(limits.limit(kind));
            if limit == 0 {
                continue;
            }
            let key = format!("ratelimit:{group}:{}:{digest}:{window}", kind.as_str());
            let count = self.store.incr(&key, ttl).await?;
            if count > limit {
                over.push((kind, count, limit));
            }
        }
        let Some(&(kind, _, _)) = over.first() else {
            return Ok(Admission::Admitted);
        };
        // Told once: when every counter past its limit has just passed it.
        let first = over.iter().all(|(_, count, limit)| *count == limit + 1);
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

    /// A keyed digest of a source address or a client (not an identity: its own domain).
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
        assert!(l.retry_after <= Duration::from_secs(3600));
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
        let key = format!("ratelimit:email:sender:{digest}:{window}");
        assert!(store.get(&key).await.unwrap().is_some(), "{key}");
        assert!(!key.contains("example") && !key.contains("nguyen"));
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
