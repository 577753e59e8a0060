//! `[zalo]` configuration. Field names are flat so that environment variables map mechanically:
//! `GATEWAY_ZALO_APP_ID` → `app_id`, `GATEWAY_ZALO_MEDIA_HOSTS` → `media_hosts`, and so on.

use std::time::Duration;

use normalizers::secret::Secret;
use serde::{Deserialize, Deserializer, Serialize};

use crate::context::{ConfigProblem, Problem};

/// Settings of the Zalo channels (OA chat and mini app). The channel is enabled when `app_id`
/// is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ZaloConfig {
    /// Zalo app id (`GATEWAY_ZALO_APP_ID`); also the first term of the webhook signature.
    pub app_id: String,
    /// OA Secret Key of the app's webhook settings (`GATEWAY_ZALO_OA_SECRET_KEY`): signs webhooks.
    pub oa_secret_key: Secret,
    /// App Secret (`GATEWAY_ZALO_APP_SECRET`): token refresh and mini-app token exchange.
    pub app_secret: Secret,
    /// First OA access token (`GATEWAY_ZALO_ACCESS_TOKEN`). Rotated tokens live in the state
    /// store; this value only seeds it.
    pub access_token: Secret,
    /// First refresh token (`GATEWAY_ZALO_REFRESH_TOKEN`), single-use; seeds the state store.
    pub refresh_token: Secret,
    /// Extra OAs of the same app with their own first token pair (TOML only). OAs not listed
    /// here use `access_token`/`refresh_token`.
    pub oa_tokens: Vec<OaTokens>,
    /// OA ids served (`GATEWAY_ZALO_OA_IDS`, comma list). Empty: any OA of the app. Events for
    /// other OAs are answered 200 and dropped.
    #[serde(deserialize_with = "comma_list")]
    pub oa_ids: Vec<String>,
    /// `GATEWAY_ZALO_API_BASE`: the OA API.
    pub api_base: String,
    /// `GATEWAY_ZALO_OAUTH_BASE`: token refresh.
    pub oauth_base: String,
    /// `GATEWAY_ZALO_GRAPH_BASE`: mini-app token exchange.
    pub graph_base: String,
    /// Hosts media may be downloaded from (`GATEWAY_ZALO_MEDIA_HOSTS`, comma list). An entry
    /// starting with `.` matches that domain's subdomains; others match exactly. The Zalo CDN
    /// by default, so the gateway cannot be made to fetch arbitrary URLs.
    #[serde(deserialize_with = "comma_list")]
    pub media_hosts: Vec<String>,
    /// A conversation idle longer than this is over (its draft is dropped, the citizen told).
    pub dialogue_ttl_secs: u64,
    /// Largest medium downloaded or uploaded, in bytes.
    pub media_max_bytes: u64,
    /// Time limit of one media download.
    pub media_timeout_secs: u64,
    /// Deliveries of a submitting event after which a medium the CDN keeps failing to serve
    /// (5xx, timeout, connection error) is given up: the report goes on without it, the citizen
    /// is told. A 4xx answer gives a medium up at once.
    pub media_max_deliveries: u64,
    /// Wait before the first retry of an event whose medium failed transiently; each further
    /// delivery doubles it (`media_retry_base_secs · 2^deliveries`), up to
    /// `media_retry_max_secs`. A delivery of the event before then is left alone.
    pub media_retry_base_secs: u64,
    /// Longest wait between two retries of a transiently failing medium.
    pub media_retry_max_secs: u64,
    /// Conversations this instance processes at once (one worker each); at the cap the
    /// processor stops claiming events until a worker is free.
    pub conversation_workers: usize,
    /// Lifetime of the lock on a dialogue while one instance processes its event; the holder
    /// renews it every third of it (a long media download keeps it), so another instance never
    /// processes the same conversation at the same time. A crashed holder's lock lapses after it.
    pub lock_ttl_secs: u64,
    /// Media downloaded and inspected at once by this instance while conversations go on
    /// (each photo, video or voice note is read when it arrives, not only at "Gửi").
    pub media_inspections: usize,
    /// Time limit of one call to the Zalo APIs.
    pub api_timeout_secs: u64,
    /// Largest webhook body accepted (Zalo events are a few hundred bytes).
    pub webhook_max_bytes: usize,
    /// Largest mini-app request (report and all its media).
    pub miniapp_max_bytes: usize,
    /// Mini-app requests streaming files to disk at once on this instance
    /// (`GATEWAY_ZALO_MINIAPP_UPLOADS`); one more is answered 503 with `Retry-After`. Only
    /// requests whose access token Zalo verified take a place.
    pub miniapp_uploads: usize,
    /// Delivery attempts of one outbound message before it is recorded as undeliverable.
    pub outbox_max_attempts: u32,
    /// How long a delivered `msg_id` is remembered (Zalo retries for about an hour).
    pub seen_ttl_secs: u64,
    /// Refresh the access token when it expires within this many seconds.
    pub refresh_before_secs: u64,

    // --- Replay window of webhook events (issue 10, point 11) ---
    /// A first delivery of a webhook event whose signed `timestamp` is further than this from
    /// the gateway's clock (past or future) is refused: answered 200 with status `refused`,
    /// not stored. Default 15 minutes.
    pub event_window_secs: u64,
    /// The same bound for deliveries Zalo marks as retries (`num_retry` header): Zalo retries
    /// after 30 s, 5, 15, 30 and 60 min, so a genuine retry can arrive close to two hours after
    /// the event. The header is not signed, so this is the longest a captured event can be
    /// replayed; it must stay below `seen_ttl_secs` so that a replay of an event already
    /// processed is still recognised by its seen marker. Default 2 hours.
    pub event_retry_window_secs: u64,

    // --- Order of a conversation's events (issue 10, point 9) ---
    /// An event whose earlier events of the same conversation are still pending (claimed by an
    /// instance that died, or processed by another one) waits for them. The webhook numbers an
    /// event in the same atomic step as it stores it, so an earlier number always belongs to a
    /// stored event that will come: this bound is only a safety against an entry lost with the
    /// store's data (an operator's deletion, a restore). Once the waiting event was received
    /// this long ago the gap is skipped (`gateway_zalo_order_gaps_skipped_total`) and the late
    /// events are applied when they come. Keep it above `lock_ttl_secs` plus twice
    /// `queue.channel_claim_timeout_secs`, the longest another instance that died can hold an
    /// event (`check-config` warns). Default 600 s.
    pub order_gap_secs: u64,
    /// How soon an event deferred behind a busy dialogue or a pending earlier event is tried
    /// again by the instance that holds it. Default 1 s.
    pub order_retry_millis: u64,
}

/// A first token pair of one OA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OaTokens {
    pub oa_id: String,
    pub access_token: Secret,
    pub refresh_token: Secret,
}

impl Default for ZaloConfig {
    fn default() -> Self {
        ZaloConfig {
            app_id: String::new(),
            oa_secret_key: Secret::default(),
            app_secret: Secret::default(),
            access_token: Secret::default(),
            refresh_token: Secret::default(),
            oa_tokens: Vec::new(),
            oa_ids: Vec::new(),
            api_base: "https://openapi.zalo.me".into(),
            oauth_base: "https://oauth.zaloapp.com".into(),
            graph_base: "https://graph.zalo.me".into(),
            media_hosts: [
                ".zdn.vn",
                ".zadn.vn",
                ".zalo.me",
                ".zaloapp.com",
                ".zalo.vn",
            ]
            .map(String::from)
            .to_vec(),
            dialogue_ttl_secs: normalizers::zalo::DEFAULT_DIALOGUE_TTL_SECS,
            media_max_bytes: 50 * 1024 * 1024,
            media_timeout_secs: 60,
            media_max_deliveries: 5,
            media_retry_base_secs: 30,
            media_retry_max_secs: 15 * 60,
            conversation_workers: 64,
            lock_ttl_secs: 120,
            media_inspections: 4,
            api_timeout_secs: 10,
            webhook_max_bytes: 64 * 1024,
            miniapp_max_bytes: 200 * 1024 * 1024,
            miniapp_uploads: 8,
            outbox_max_attempts: 8,
            seen_ttl_secs: 3 * 3600,
            refresh_before_secs: 3600,
            // Replay window.
            event_window_secs: 15 * 60,
            event_retry_window_secs: 2 * 3600,
            // Order.
            order_gap_secs: 600,
            order_retry_millis: 1000,
        }
    }
}

impl ZaloConfig {
    pub fn enabled(&self) -> bool {
        !self.app_id.trim().is_empty()
    }

    /// What makes an enabled configuration unusable (errors) or partly unusable (warnings).
    pub fn problems(&self) -> Vec<ConfigProblem> {
        let mut out = Vec::new();
        if !self.enabled() {
            return out;
        }
        let missing = |key: &str, why| ConfigProblem::warning(key, Problem::Missing(why));
        if self.oa_secret_key.is_empty() {
            out.push(missing("zalo.oa_secret_key", "no webhook can be verified"));
        }
        if self.app_secret.is_empty() {
            out.push(missing("zalo.app_secret", "tokens cannot be refreshed"));
        }
        if self.access_token.is_empty() && self.refresh_token.is_empty() {
            out.push(missing(
                "zalo.access_token",
                "so is zalo.refresh_token, the OA cannot answer",
            ));
        }
        for (key, base) in [
            ("api_base", &self.api_base),
            ("oauth_base", &self.oauth_base),
            ("graph_base", &self.graph_base),
        ] {
            if reqwest::Url::parse(base).is_err() {
                out.push(ConfigProblem::error(
                    format!("zalo.{key}"),
                    Problem::NotAUrl(base.clone()),
                ));
            }
        }
        if self.event_retry_window_secs.max(self.event_window_secs) >= self.seen_ttl_secs {
            out.push(ConfigProblem::error(
                "zalo.event_retry_window_secs",
                Problem::Invalid(format!(
                    "the replay window ({}s) must be shorter than zalo.seen_ttl_secs ({}s), \
                     or an old event could be replayed after its seen marker expired",
                    self.event_retry_window_secs.max(self.event_window_secs),
                    self.seen_ttl_secs
                )),
            ));
        }
        if self.conversation_workers == 0 {
            out.push(ConfigProblem::error(
                "zalo.conversation_workers",
                Problem::Invalid("must be at least 1: no conversation would be processed".into()),
            ));
        }
        if self.lock_ttl_secs < 3 {
            out.push(ConfigProblem::error(
                "zalo.lock_ttl_secs",
                Problem::Invalid(format!(
                    "{}s is too short to be renewed in time (at least 3)",
                    self.lock_ttl_secs
                )),
            ));
        }
        if self.media_retry_base_secs > self.media_retry_max_secs {
            out.push(ConfigProblem::warning(
                "zalo.media_retry_base_secs",
                Problem::Invalid(format!(
                    "above zalo.media_retry_max_secs ({}s), which then bounds every wait",
                    self.media_retry_max_secs
                )),
            ));
        }
        if self.media_hosts.is_empty() {
            out.push(missing(
                "zalo.media_hosts",
                "no chat photo can be downloaded",
            ));
        }
        out
    }

    /// Whether a media URL may be fetched: http(s) on an allowed host.
    pub fn media_url_allowed(&self, url: &reqwest::Url) -> bool {
        matches!(url.scheme(), "http" | "https")
            && url
                .host_str()
                .is_some_and(|h| host_allowed(&self.media_hosts, h))
    }

    /// The token slot of an OA: OAs with their own pair in `oa_tokens` have their own slot,
    /// the others share the first pair.
    pub fn token_slot(&self, oa_id: &str) -> String {
        if self.oa_tokens.iter().any(|t| t.oa_id == oa_id) {
            oa_id.to_string()
        } else {
            "default".into()
        }
    }

    /// The first token pair of a slot (seed of the state store).
    pub fn seed_tokens(&self, slot: &str) -> (&Secret, &Secret) {
        match self.oa_tokens.iter().find(|t| t.oa_id == slot) {
            Some(t) => (&t.access_token, &t.refresh_token),
            None => (&self.access_token, &self.refresh_token),
        }
    }

    /// Whether events for this OA are served.
    pub fn serves_oa(&self, oa_id: Option<&str>) -> bool {
        self.oa_ids.is_empty() || oa_id.is_some_and(|id| self.oa_ids.iter().any(|o| o == id))
    }

    /// How far a webhook event's `timestamp` may be from now: the first-delivery window, or
    /// the retry window for deliveries marked as retries.
    pub fn event_window(&self, num_retry: u32) -> Duration {
        let secs = if num_retry > 0 {
            self.event_retry_window_secs.max(self.event_window_secs)
        } else {
            self.event_window_secs
        };
        Duration::from_secs(secs)
    }

    /// How long an event waits for the earlier events of its conversation.
    pub fn order_gap(&self) -> Duration {
        Duration::from_secs(self.order_gap_secs)
    }

    /// How soon a deferred event is tried again (at least 50 ms: never a spin).
    pub fn order_retry(&self) -> Duration {
        Duration::from_millis(self.order_retry_millis.max(50))
    }

    /// How long a dialogue lock lives unless its holder renews it.
    pub fn lock_ttl(&self) -> Duration {
        Duration::from_secs(self.lock_ttl_secs.max(3))
    }

    /// The wait before retrying an event whose medium failed transiently on its delivery
    /// number `deliveries + 1`: `media_retry_base_secs · 2^deliveries`, capped.
    pub fn media_retry_wait(&self, deliveries: u64) -> Duration {
        let cap = self.media_retry_max_secs;
        let wait = self
            .media_retry_base_secs
            .checked_shl(deliveries.min(63) as u32)
            .filter(|w| w >> deliveries.min(63) == self.media_retry_base_secs)
            .unwrap_or(cap);
        Duration::from_secs(wait.min(cap))
    }

    pub fn dialogue_ttl(&self) -> Duration {
        Duration::from_secs(self.dialogue_ttl_secs.max(60))
    }
}

pub(crate) fn host_allowed(allowed: &[String], host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    allowed.iter().any(|entry| {
        let entry = entry.trim().to_ascii_lowercase();
        if entry.is_empty() {
            false
        } else if let Some(domain) = entry.strip_prefix('.') {
            host == domain || host.ends_with(&entry)
        } else {
            host == entry
        }
    })
}

/// A list given as a TOML array or as one comma-separated string (environment variables).
fn comma_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrString {
        List(Vec<String>),
        One(String),
    }
    Ok(match ListOrString::deserialize(d)? {
        ListOrString::List(v) => v,
        ListOrString::One(s) => s.split(',').map(str::to_string).collect(),
    }
    .into_iter()
    .map(|s| s.trim().to_string())
    .filter(|s| !s.is_empty())
    .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_hosts_come_from_a_comma_list_and_match_suffixes_or_exact_hosts() {
        let c: ZaloConfig = serde_json::from_value(
            serde_json::json!({"app_id":"1","media_hosts":" .zdn.vn, 127.0.0.1 "}),
        )
        .unwrap();
        assert_eq!(c.media_hosts, vec![".zdn.vn", "127.0.0.1"]);
        let ok = |u: &str| c.media_url_allowed(&reqwest::Url::parse(u).unwrap());
        assert!(ok("http://f6.photo.talk.zdn.vn/a.jpg"));
        assert!(ok("http://127.0.0.1:8080/a.jpg"));
        assert!(!ok("http://zdn.vn.evil.com/a.jpg"));
        assert!(!ok("http://evilzdn.vn/a.jpg"));
        assert!(!ok("file:///etc/passwd"));
        assert!(!ok("http://169.254.169.254/latest"));
    }

    #[test]
    fn defaults_point_at_zalo_and_secrets_are_not_printed() {
        let c = ZaloConfig {
            app_id: "1".into(),
            oa_secret_key: "very-secret".into(),
            ..ZaloConfig::default()
        };
        assert_eq!(c.api_base, "https://openapi.zalo.me");
        assert!(
            c.media_url_allowed(&reqwest::Url::parse("https://f1.photo.talk.zdn.vn/x").unwrap())
        );
        assert!(!format!("{c:?}").contains("very-secret"));
        let problems = c.problems();
        assert!(
            problems
                .iter()
                .any(|p| p.key == "zalo.app_secret"
                    && p.severity == crate::context::Severity::Warning)
        );
        let c = ZaloConfig {
            api_base: "openapi".into(),
            ..c
        };
        assert!(c
            .problems()
            .iter()
            .any(|p| p.key == "zalo.api_base" && p.severity == crate::context::Severity::Error));
    }

    #[test]
    fn the_replay_window_defaults_to_15_minutes_and_must_end_before_the_seen_marker() {
        let c: ZaloConfig = serde_json::from_value(serde_json::json!({"app_id": "1"})).unwrap();
        assert_eq!(c.event_window(0), Duration::from_secs(15 * 60));
        assert_eq!(c.event_window(3), Duration::from_secs(2 * 3600));
        assert!(!c.problems().iter().any(|p| p.key.starts_with("zalo.event")));
        let c = ZaloConfig {
            event_retry_window_secs: c.seen_ttl_secs,
            ..c
        };
        assert!(c
            .problems()
            .iter()
            .any(|p| p.key == "zalo.event_retry_window_secs"
                && p.severity == crate::context::Severity::Error));
        // A first-delivery window wider than the retry window widens retries too.
        let c = ZaloConfig {
            event_window_secs: 3000,
            event_retry_window_secs: 60,
            ..ZaloConfig::default()
        };
        assert_eq!(c.event_window(1), Duration::from_secs(3000));
    }

    #[test]
    fn media_retries_wait_twice_as_long_each_delivery_up_to_the_cap() {
        let c = ZaloConfig {
            app_id: "1".into(),
            ..ZaloConfig::default()
        };
        let waits: Vec<u64> = (0..8).map(|n| c.media_retry_wait(n).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 900, 900, 900]);
        assert_eq!(c.media_retry_wait(u64::MAX).as_secs(), 900);
        assert_eq!(c.media_retry_wait(70).as_secs(), 900);
        assert_eq!(c.conversation_workers, 64);
        assert_eq!(c.lock_ttl(), Duration::from_secs(120));
        let c = ZaloConfig {
            conversation_workers: 0,
            lock_ttl_secs: 1,
            ..c
        };
        let keys: Vec<String> = c.problems().into_iter().map(|p| p.key).collect();
        assert!(keys.contains(&"zalo.conversation_workers".to_string()));
        assert!(keys.contains(&"zalo.lock_ttl_secs".to_string()));
    }
}
