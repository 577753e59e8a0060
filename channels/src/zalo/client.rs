//! The OA API client (ZALO.md §2): consultation messages (`/v3.0/oa/message/cs`) and the access
//! token, rotated with single-use refresh tokens.
//!
//! Zalo reports errors with HTTP 200 and a negative `error`. -216/-220 (invalid or expired token)
//! refresh the token and retry once; -32 is the rate limit; -213/-230/-232/-244 mean the user
//! cannot be reached through the OA any more. The token pair lives in the [`StateStore`] under
//! `zalo:token:<slot>` and is replaced with compare-and-swap while holding the lease
//! `zalo:token-lease:<slot>`, so one instance at a time spends the refresh token.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::intake::{StateStore, StoreError};

use super::config::ZaloConfig;
use super::Clock;

/// One message to a Zalo user.
#[derive(Debug, Clone, PartialEq)]
pub enum OaMessage {
    Text {
        text: String,
    },
    /// An image by URL, with an optional caption.
    Image {
        url: String,
        text: Option<String>,
    },
    /// The form that asks for name, phone and address (answered by `user_submit_info`).
    RequestUserInfo {
        title: String,
        subtitle: String,
        image_url: Option<String>,
    },
}

/// What Zalo answered to a message sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub message_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum OaError {
    /// -32: too many requests; back off.
    #[error("Zalo rate limit (error {code})")]
    RateLimited { code: i64 },
    /// The user cannot be reached through the OA (-213 not following, -230/-232 no interaction
    /// in 7 days, -244 blocked): record it for the IOC, do not retry.
    #[error("the user cannot be reached through the OA (error {code}: {message})")]
    Undeliverable { code: i64, message: String },
    /// The token is still refused after one refresh, or cannot be refreshed.
    #[error("the OA access token is refused: {0}")]
    Token(String),
    /// Any other error code: the request itself is wrong (-201…); not retried.
    #[error("Zalo refused the message (error {code}: {message})")]
    Refused { code: i64, message: String },
    /// Network, timeout, non-200 status, unreadable answer: retry later.
    #[error("Zalo API unreachable: {0}")]
    Transport(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Stored token pair of one slot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// How long a token lease is held at most (a refresh takes one HTTP call).
const LEASE_TTL: Duration = Duration::from_secs(30);

pub struct OaClient<K> {
    http: reqwest::Client,
    config: Arc<ZaloConfig>,
    store: Arc<K>,
    clock: Clock,
    /// This process's owner value of the token lease (unique per process).
    instance: String,
}

#[derive(Deserialize)]
struct ApiReply {
    #[serde(default)]
    error: i64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    data: Option<serde_json::Value>,
}

impl<K: StateStore> OaClient<K> {
    pub fn new(
        http: reqwest::Client,
        config: Arc<ZaloConfig>,
        store: Arc<K>,
        clock: Clock,
        instance: String,
    ) -> Self {
        OaClient {
            http,
            config,
            store,
            clock,
            instance,
        }
    }

    /// Send one message to `user_id` as OA `oa_id`; refreshes the token once when Zalo says it
    /// is invalid or expired.
    pub async fn send(&self, oa_id: &str, user_id: &str, msg: &OaMessage) -> Result<Sent, OaError> {
        let slot = self.config.token_slot(oa_id);
        let body = message_body(user_id, msg);
        let token = self.current(&slot).await?;
        match self.post_cs(&token.access_token, &body).await {
            Err(OaError::Token(_)) => {
                let fresh = self.refresh(&slot, &token.access_token).await?;
                self.post_cs(&fresh.access_token, &body).await
            }
            other => other,
        }
    }

    async fn post_cs(&self, access_token: &str, body: &serde_json::Value) -> Result<Sent, OaError> {
        let url = format!(
            "{}/v3.0/oa/message/cs",
            self.config.api_base.trim_end_matches('/')
        );
        let resp = self
            .http
            .post(url)
            .header("access_token", access_token)
            .json(body)
            .timeout(Duration::from_secs(self.config.api_timeout_secs))
            .send()
            .await
            .map_err(|e| OaError::Transport(e.without_url().to_string()))?;
        if resp.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(OaError::RateLimited { code: 429 });
        }
        if !resp.status().is_success() {
            return Err(OaError::Transport(format!("HTTP {}", resp.status())));
        }
        let reply: ApiReply = resp
            .json()
            .await
            .map_err(|e| OaError::Transport(format!("unreadable answer: {}", e.without_url())))?;
        classify(reply).map(|data| Sent {
            message_id: data
                .as_ref()
                .and_then(|d| d.get("message_id"))
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
        })
    }

    /// The current token pair of a slot, seeded from the configuration on first use.
    pub async fn current(&self, slot: &str) -> Result<TokenPair, OaError> {
        let key = token_key(slot);
        if let Some(bytes) = self.store.get(&key).await? {
            if let Ok(pair) = serde_json::from_slice::<TokenPair>(&bytes) {
                return Ok(pair);
            }
        }
        let (access_token, refresh_token) = self.config.seed_tokens(slot);
        if access_token.is_empty() && refresh_token.is_empty() {
            return Err(OaError::Token(format!(
                "no token configured for slot {slot}"
            )));
        }
        let seed = TokenPair {
            access_token: access_token.expose().to_string(),
            refresh_token: refresh_token.expose().to_string(),
            expires_at: None,
        };
        let bytes = serde_json::to_vec(&seed).map_err(StoreError::new)?;
        // Another instance may have seeded (or already rotated) it meanwhile: theirs wins.
        if !self.store.put_if_absent(&key, &bytes, None).await? {
            if let Some(bytes) = self.store.get(&key).await? {
                if let Ok(pair) = serde_json::from_slice::<TokenPair>(&bytes) {
                    return Ok(pair);
                }
            }
        }
        Ok(seed)
    }

    /// Exchange the refresh token for a new pair, unless another caller already did since
    /// `stale_access` was read. One refresher at a time (lease); the new pair replaces the old
    /// one atomically (the refresh token is single-use).
    pub async fn refresh(&self, slot: &str, stale_access: &str) -> Result<TokenPair, OaError> {
        let lease = format!("zalo:token-lease:{slot}");
        let mut waited = Duration::ZERO;
        loop {
            if self
                .store
                .put_if_absent(&lease, self.instance.as_bytes(), Some(LEASE_TTL))
                .await?
            {
                break;
            }
            // Someone else is refreshing: wait for their result.
            if waited >= LEASE_TTL {
                return Err(OaError::Token("token refresh lease held too long".into()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            waited += Duration::from_millis(100);
            let current = self.current(slot).await?;
            if current.access_token != stale_access {
                return Ok(current);
            }
        }
        let result = self.refresh_holding_lease(slot, stale_access).await;
        let _ = self
            .store
            .compare_and_swap(&lease, Some(self.instance.as_bytes()), None, None)
            .await;
        result
    }

    async fn refresh_holding_lease(
        &self,
        slot: &str,
        stale_access: &str,
    ) -> Result<TokenPair, OaError> {
        let key = token_key(slot);
        let old_bytes = self.store.get(&key).await?;
        let old = match &old_bytes {
            Some(b) => serde_json::from_slice::<TokenPair>(b)
                .map_err(|e| OaError::Token(format!("stored token unreadable: {e}")))?,
            None => self.current(slot).await?,
        };
        if old.access_token != stale_access {
            return Ok(old);
        }
        if old.refresh_token.is_empty() {
            return Err(OaError::Token("no refresh token".into()));
        }
        let url = format!(
            "{}/v4/oa/access_token",
            self.config.oauth_base.trim_end_matches('/')
        );
        let resp = self
            .http
            .post(url)
            .header("secret_key", self.config.app_secret.expose())
            .form(&[
                ("refresh_token", old.refresh_token.as_str()),
                ("app_id", self.config.app_id.as_str()),
                ("grant_type", "refresh_token"),
            ])
            .timeout(Duration::from_secs(self.config.api_timeout_secs))
            .send()
            .await
            .map_err(|e| OaError::Transport(e.without_url().to_string()))?;
        if !resp.status().is_success() {
            return Err(OaError::Transport(format!(
                "token refresh: HTTP {}",
                resp.status()
            )));
        }
        let v: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| OaError::Transport(format!("token refresh: {}", e.without_url())))?;
        let access = v.get("access_token").and_then(|x| x.as_str()).unwrap_or("");
        let refresh = v
            .get("refresh_token")
            .and_then(|x| x.as_str())
            .unwrap_or("");
        if access.is_empty() || refresh.is_empty() {
            let code = v.get("error").and_then(|e| e.as_i64()).unwrap_or(0);
            return Err(OaError::Token(format!("refresh refused (error {code})")));
        }
        let expires_in = match v.get("expires_in") {
            Some(serde_json::Value::String(s)) => s.trim().parse::<i64>().ok(),
            Some(serde_json::Value::Number(n)) => n.as_i64(),
            _ => None,
        };
        let new = TokenPair {
            access_token: access.to_string(),
            refresh_token: refresh.to_string(),
            expires_at: expires_in.map(|s| (self.clock)() + chrono::Duration::seconds(s)),
        };
        let new_bytes = serde_json::to_vec(&new).map_err(StoreError::new)?;
        let swapped = self
            .store
            .compare_and_swap(&key, old_bytes.as_deref(), Some(&new_bytes), None)
            .await?;
        if !swapped {
            // The old refresh token is spent either way; keep the pair Zalo gave us.
            self.store.put(&key, &new_bytes, None).await?;
        }
        tracing::info!(slot, "zalo access token rotated");
        Ok(new)
    }

    /// Refresh the slot's token when it expires within `refresh_before_secs` (the refresher).
    pub async fn refresh_if_due(&self, slot: &str) -> Result<bool, OaError> {
        let current = self.current(slot).await?;
        let due = current.expires_at.is_some_and(|at| {
            at - (self.clock)() < chrono::Duration::seconds(self.config.refresh_before_secs as i64)
        });
        if due {
            self.refresh(slot, &current.access_token).await?;
        }
        Ok(due)
    }
}

pub(crate) fn token_key(slot: &str) -> String {
    format!("zalo:token:{slot}")
}

/// Map Zalo's HTTP-200 error codes.
fn classify(reply: ApiReply) -> Result<Option<serde_json::Value>, OaError> {
    match reply.error {
        0 => Ok(reply.data),
        -216 | -220 | -124 => Err(OaError::Token(format!("error {}", reply.error))),
        -32 => Err(OaError::RateLimited { code: reply.error }),
        -213 | -230 | -232 | -244 => Err(OaError::Undeliverable {
            code: reply.error,
            message: reply.message,
        }),
        code => Err(OaError::Refused {
            code,
            message: reply.message,
        }),
    }
}

/// The JSON body of `/v3.0/oa/message/cs`.
pub fn message_body(user_id: &str, msg: &OaMessage) -> serde_json::Value {
    let message = match msg {
        OaMessage::Text { text } => serde_json::json!({ "text": text }),
        OaMessage::Image { url, text } => {
            let mut m = serde_json::json!({
                "attachment": {"type": "template", "payload": {
                    "template_type": "media",
                    "elements": [{"media_type": "image", "url": url}]
                }}
            });
            if let Some(t) = text {
                m["text"] = serde_json::Value::String(t.clone());
            }
            m
        }
        OaMessage::RequestUserInfo {
            title,
            subtitle,
            image_url,
        } => {
            let mut element = serde_json::json!({
                "title": title.chars().take(100).collect::<String>(),
                "subtitle": subtitle.chars().take(500).collect::<String>(),
            });
            if let Some(u) = image_url {
                element["image_url"] = serde_json::Value::String(u.clone());
            }
            serde_json::json!({
                "attachment": {"type": "template", "payload": {
                    "template_type": "request_user_info",
                    "elements": [element]
                }}
            })
        }
    };
    serde_json::json!({ "recipient": { "user_id": user_id }, "message": message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_200_error_codes_are_classified() {
        let r = |error: i64| ApiReply {
            error,
            message: "m".into(),
            data: None,
        };
        assert!(classify(r(0)).is_ok());
        assert!(matches!(classify(r(-216)), Err(OaError::Token(_))));
        assert!(matches!(classify(r(-220)), Err(OaError::Token(_))));
        assert!(matches!(classify(r(-32)), Err(OaError::RateLimited { .. })));
        assert!(matches!(
            classify(r(-230)),
            Err(OaError::Undeliverable { code: -230, .. })
        ));
        assert!(matches!(
            classify(r(-232)),
            Err(OaError::Undeliverable { .. })
        ));
        assert!(matches!(
            classify(r(-201)),
            Err(OaError::Refused { code: -201, .. })
        ));
    }

    #[test]
    fn request_user_info_body_follows_the_v3_template() {
        let b = message_body(
            "U1",
            &OaMessage::RequestUserInfo {
                title: "t".repeat(150),
                subtitle: "s".into(),
                image_url: None,
            },
        );
        assert_eq!(b["recipient"]["user_id"], "U1");
        let p = &b["message"]["attachment"]["payload"];
        assert_eq!(p["template_type"], "request_user_info");
        assert_eq!(p["elements"][0]["title"].as_str().unwrap().len(), 100);
    }
}
