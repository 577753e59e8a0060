//! The "Long An Số" app's bearer tokens (Đ6.4, R-CH-APP): a JWT the app's identity provider
//! signed, sent as `Authorization: Bearer <token>` on `POST /v1/reports`, makes the report's
//! reporter verified (`verified_by: app_token`) with the token's subject — the app's user id —
//! as the channel identity (`app:<sub>` on the block list).
//!
//! Signatures: RS256 or ES256 with the keys of a JWKS document (`app_tokens.jwks_url`, fetched
//! over rustls, cached, fetched again — at most once per `jwks_refetch_secs` — when a token
//! names a key id it does not have), or HS256 with a shared key (`app_tokens.shared_key`). The
//! issuer and the audience must be the configured ones; the expiry is required and checked on
//! the injected clock, with a clock skew of `leeway_secs` (at most 300 s); a token issued or
//! valid only in the future (beyond the skew) is refused. A refused token is answered 401 with
//! the reason; nothing of the token is logged.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use normalizers::secret::Secret;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::clock::SharedClock;
use crate::config::Role;
use crate::http::auth::{bearer_token, Caller};
use crate::http::{ApiError, AppState};

/// Largest clock skew allowed between the identity provider and the gateway.
pub const MAX_LEEWAY_SECS: u64 = 300;

/// `[app_tokens]`: the verifier of the app's bearer tokens. Off while no key source is set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AppTokenConfig {
    /// The `iss` every token must carry.
    pub issuer: String,
    /// The `aud` every token must carry (one of its audiences).
    pub audience: String,
    /// JWKS document of the identity provider (RS256 / ES256 keys); https, or http on a
    /// loopback address only.
    pub jwks_url: Option<String>,
    /// Shared key of HS256 tokens.
    pub shared_key: Option<Secret>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, seconds (at most 300).
    pub leeway_secs: u64,
    /// The JWKS document is fetched again after this many seconds.
    pub jwks_cache_secs: u64,
    /// A token with an unknown key id fetches the JWKS again at most this often, seconds.
    pub jwks_refetch_secs: u64,
    /// Time limit of one JWKS fetch, seconds.
    pub jwks_timeout_secs: u64,
}

impl Default for AppTokenConfig {
    fn default() -> Self {
        AppTokenConfig {
            issuer: String::new(),
            audience: String::new(),
            jwks_url: None,
            shared_key: None,
            leeway_secs: 60,
            jwks_cache_secs: 3600,
            jwks_refetch_secs: 60,
            jwks_timeout_secs: 5,
        }
    }
}

impl AppTokenConfig {
    /// Whether the section asks for token verification (a key source is set).
    pub fn configured(&self) -> bool {
        self.jwks_url.as_deref().is_some_and(|u| !u.is_empty())
            || self.shared_key.as_ref().is_some_and(|k| !k.is_empty())
    }

    pub fn problems(&self) -> Vec<channels::ConfigProblem> {
        use channels::{ConfigProblem, Problem};
        let mut out = Vec::new();
        if !self.configured() {
            return out;
        }
        if self.issuer.trim().is_empty() {
            out.push(ConfigProblem::error(
                "app_tokens.issuer",
                Problem::Missing("the issuer (`iss`) app tokens must carry"),
            ));
        }
        if self.audience.trim().is_empty() {
            out.push(ConfigProblem::error(
                "app_tokens.audience",
                Problem::Missing("the audience (`aud`) app tokens must carry"),
            ));
        }
        if self.leeway_secs > MAX_LEEWAY_SECS {
            out.push(ConfigProblem::error(
                "app_tokens.leeway_secs",
                Problem::Invalid(format!("at most {MAX_LEEWAY_SECS} seconds")),
            ));
        }
        if let Some(url) = self.jwks_url.as_deref().filter(|u| !u.is_empty()) {
            if !jwks_url_allowed(url) {
                out.push(ConfigProblem::error(
                    "app_tokens.jwks_url",
                    Problem::Invalid(
                        "must be an https URL (http only on a loopback address)".into(),
                    ),
                ));
            }
        }
        if self
            .shared_key
            .as_ref()
            .is_some_and(|k| !k.is_empty() && k.expose().len() < 32)
        {
            out.push(ConfigProblem::error(
                "app_tokens.shared_key",
                Problem::Invalid("at least 32 bytes".into()),
            ));
        }
        if self.jwks_timeout_secs == 0 {
            out.push(ConfigProblem::error(
                "app_tokens.jwks_timeout_secs",
                Problem::Invalid("must be at least 1".into()),
            ));
        }
        out
    }
}

fn jwks_url_allowed(url: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(url) else {
        return false;
    };
    match u.scheme() {
        "https" => true,
        "http" => match u.host_str() {
            Some("localhost") => true,
            Some(h) => h
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback()),
            None => false,
        },
        _ => false,
    }
}

/// Why a token was refused; each is a 401 with [`TokenError::reason`].
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the app token is not a well-formed JWT")]
    Malformed,
    #[error("the app token's algorithm {0} is not accepted (RS256, ES256 with the JWKS; HS256 with the shared key)")]
    Algorithm(String),
    #[error("the app token names no key id (`kid`)")]
    NoKeyId,
    #[error("the app token's key id is not in the identity provider's key set")]
    UnknownKey,
    #[error("the app token's signature does not verify")]
    BadSignature,
    #[error("the app token has expired")]
    Expired,
    #[error("the app token is not valid yet")]
    NotYetValid,
    #[error("the app token has no expiry (`exp`)")]
    NoExpiry,
    #[error("the app token was issued by another issuer")]
    WrongIssuer,
    #[error("the app token is meant for another audience")]
    WrongAudience,
    #[error("the app token names no user (`sub`)")]
    NoSubject,
    /// The key set could not be fetched: not the client's fault (503).
    #[error("the identity provider's key set cannot be fetched: {0}")]
    KeysUnavailable(String),
}

impl TokenError {
    /// A stable short code (the `error_description` of `WWW-Authenticate`).
    pub fn reason(&self) -> &'static str {
        match self {
            TokenError::Malformed => "malformed",
            TokenError::Algorithm(_) => "algorithm_not_accepted",
            TokenError::NoKeyId => "no_key_id",
            TokenError::UnknownKey => "unknown_key_id",
            TokenError::BadSignature => "bad_signature",
            TokenError::Expired => "expired",
            TokenError::NotYetValid => "not_yet_valid",
            TokenError::NoExpiry => "no_expiry",
            TokenError::WrongIssuer => "wrong_issuer",
            TokenError::WrongAudience => "wrong_audience",
            TokenError::NoSubject => "no_subject",
            TokenError::KeysUnavailable(_) => "keys_unavailable",
        }
    }
}

/// The app user a verified token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppUser {
    /// The app's user id (`sub`).
    pub sub: String,
}

impl AppUser {
    /// A short digest of the user id: names the caller in rate limits and idempotency keys
    /// without the id itself.
    pub fn client(&self) -> String {
        let digest = Sha256::digest(format!("app-user:{}", self.sub).as_bytes());
        format!("app-{}", hex::encode(&digest[..6]))
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    exp: Option<i64>,
    nbf: Option<i64>,
    iat: Option<i64>,
}

struct CachedKeys {
    keys: JwkSet,
    fetched: tokio::time::Instant,
}

/// Verifies app tokens; one per gateway, shared by the handlers.
pub struct AppTokenVerifier {
    config: AppTokenConfig,
    clock: SharedClock,
    http: reqwest::Client,
    jwks: tokio::sync::Mutex<Option<CachedKeys>>,
}

/// Whether a bearer token has the shape of a JWT (three base64url parts), as opposed to an
/// API key.
pub fn looks_like_jwt(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() == 3
        && parts[..2].iter().all(|p| !p.is_empty())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

impl AppTokenVerifier {
    /// The verifier of `config`, none when the section is off.
    pub fn from_config(
        config: &AppTokenConfig,
        clock: SharedClock,
    ) -> Result<Option<Arc<Self>>, reqwest::Error> {
        if !config.configured() {
            return Ok(None);
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.jwks_timeout_secs.max(1)))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Some(Arc::new(AppTokenVerifier {
            config: config.clone(),
            clock,
            http,
            jwks: tokio::sync::Mutex::new(None),
        })))
    }

    /// Verify `token`: the app user it names, or why it is refused.
    pub async fn verify(&self, token: &str) -> Result<AppUser, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        let key = match header.alg {
            Algorithm::HS256 => match &self.config.shared_key {
                Some(k) if !k.is_empty() => DecodingKey::from_secret(k.expose().as_bytes()),
                _ => return Err(TokenError::Algorithm("HS256".into())),
            },
            Algorithm::RS256 | Algorithm::ES256 if self.jwks_configured() => {
                let kid = header.kid.as_deref().ok_or(TokenError::NoKeyId)?;
                self.key_for(kid, header.alg).await?
            }
            other => return Err(TokenError::Algorithm(format!("{other:?}"))),
        };
        let mut validation = Validation::new(header.alg);
        // Times are checked below on the injected clock; the library checks the signature,
        // the issuer and the audience.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.required_spec_claims.clear();
        validation.set_issuer(&[self.config.issuer.as_str()]);
        validation.set_audience(&[self.config.audience.as_str()]);
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
                ErrorKind::InvalidAudience => TokenError::WrongAudience,
                ErrorKind::MissingRequiredClaim(c) if c == "iss" => TokenError::WrongIssuer,
                ErrorKind::MissingRequiredClaim(c) if c == "aud" => TokenError::WrongAudience,
                ErrorKind::InvalidAlgorithm => TokenError::Algorithm(format!("{:?}", header.alg)),
                _ => TokenError::Malformed,
            }
        })?;
        let claims = data.claims;
        let now = self.clock.now().timestamp();
        let leeway = self.config.leeway_secs.min(MAX_LEEWAY_SECS) as i64;
        let exp = claims.exp.ok_or(TokenError::NoExpiry)?;
        if exp + leeway <= now {
            return Err(TokenError::Expired);
        }
        if claims.nbf.is_some_and(|nbf| nbf - leeway > now)
            || claims.iat.is_some_and(|iat| iat - leeway > now)
        {
            return Err(TokenError::NotYetValid);
        }
        let sub = claims
            .sub
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty() && s.len() <= 200 && !s.chars().any(char::is_whitespace))
            .ok_or(TokenError::NoSubject)?;
        Ok(AppUser { sub })
    }

    fn jwks_configured(&self) -> bool {
        self.config
            .jwks_url
            .as_deref()
            .is_some_and(|u| !u.is_empty())
    }

    /// The key `kid` of the (cached) key set, for `alg`.
    async fn key_for(&self, kid: &str, alg: Algorithm) -> Result<DecodingKey, TokenError> {
        let mut cached = self.jwks.lock().await;
        let now = tokio::time::Instant::now();
        let cache_for = Duration::from_secs(self.config.jwks_cache_secs);
        let refetch_after = Duration::from_secs(self.config.jwks_refetch_secs);
        let fresh = cached
            .as_ref()
            .is_some_and(|c| now.duration_since(c.fetched) < cache_for);
        let has_kid = cached.as_ref().is_some_and(|c| c.keys.find(kid).is_some());
        let may_refetch = cached
            .as_ref()
            .is_none_or(|c| now.duration_since(c.fetched) >= refetch_after);
        if !fresh || (!has_kid && may_refetch) {
            match self.fetch().await {
                Ok(keys) => *cached = Some(CachedKeys { keys, fetched: now }),
                // A stale key set still verifies the keys it has.
                Err(e) if cached.is_none() => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, "refreshing the app's JWKS failed; using the cached keys")
                }
            }
        }
        let jwk = cached
            .as_ref()
            .and_then(|c| c.keys.find(kid))
            .ok_or(TokenError::UnknownKey)?;
        let fits = matches!(
            (&jwk.algorithm, alg),
            (AlgorithmParameters::RSA(_), Algorithm::RS256)
                | (AlgorithmParameters::EllipticCurve(_), Algorithm::ES256)
        );
        if !fits {
            return Err(TokenError::Algorithm(format!("{alg:?} with this key")));
        }
        DecodingKey::from_jwk(jwk).map_err(|_| TokenError::UnknownKey)
    }

    async fn fetch(&self) -> Result<JwkSet, TokenError> {
        let url = self.config.jwks_url.as_deref().unwrap_or_default();
        let unavailable =
            |e: reqwest::Error| TokenError::KeysUnavailable(e.without_url().to_string());
        let res = self
            .http
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(unavailable)?;
        // A key set is small: bound what is read.
        let bytes = res.bytes().await.map_err(unavailable)?;
        if bytes.len() > 256 * 1024 {
            return Err(TokenError::KeysUnavailable(
                "the key set is larger than 256 KiB".into(),
            ));
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| TokenError::KeysUnavailable(format!("the key set is not a JWKS: {e}")))
    }
}

/// The submitter of `POST /v1/reports` and `POST /v1/reports/check`: an API client with a
/// submit key, or — with `[app_tokens]` — an app user whose bearer token verified. A bearer
/// that is no key and no JWT is refused as before (401); a JWT that does not verify is refused
/// with its reason.
pub struct SubmitAuth {
    pub caller: Caller,
    pub app_user: Option<AppUser>,
}

impl FromRequestParts<AppState> for SubmitAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let by_key = state.keys.require(&parts.headers, Role::Submit);
        let verifier = match (&by_key, &state.app_tokens) {
            (Err(ApiError::Unauthorized), Some(v)) => v.clone(),
            _ => {
                return by_key.map(|caller| SubmitAuth {
                    caller,
                    app_user: None,
                })
            }
        };
        let token = match bearer_token(&parts.headers) {
            Some(t) if looks_like_jwt(t) => t,
            _ => return Err(ApiError::Unauthorized),
        };
        let user = verifier.verify(token).await?;
        Ok(SubmitAuth {
            caller: Caller {
                role: Role::Submit,
                client: user.client(),
                agency: None,
            },
            app_user: Some(user),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwts_are_told_from_api_keys() {
        assert!(looks_like_jwt("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc-_"));
        assert!(!looks_like_jwt("submit-key-0123456789abcdef"));
        assert!(!looks_like_jwt("a.b"));
        assert!(!looks_like_jwt(".b.c"));
    }

    #[test]
    fn the_jwks_url_is_https_or_loopback() {
        assert!(jwks_url_allowed("https://id.example.vn/jwks.json"));
        assert!(jwks_url_allowed("http://127.0.0.1:8080/jwks"));
        assert!(!jwks_url_allowed("http://id.example.vn/jwks.json"));
        assert!(!jwks_url_allowed("file:///etc/passwd"));
    }
}
