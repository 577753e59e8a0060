//! Download of chat media from Zalo's CDN to the gateway's staging folder: allowed hosts only
//! (redirects included), a size bound checked on `Content-Length` and while streaming, and a time
//! limit on the whole download. The gateway sniffs and stores the file afterwards.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::config::{host_allowed, ZaloConfig};

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("media URL is not allowed (host not in zalo.media_hosts or not http/https)")]
    HostNotAllowed,
    #[error("media URL is malformed")]
    BadUrl,
    #[error("medium larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("media download took longer than {0:?}")]
    Timeout(Duration),
    /// The request failed (connection, TLS, body cut off); the URL is not kept (it carries
    /// Zalo's access parameters).
    #[error("media download failed: {0}")]
    Http(#[source] reqwest::Error),
    /// The CDN answered with an error status.
    #[error("media download failed: HTTP {0}")]
    Status(reqwest::StatusCode),
    #[error("staging file: {0}")]
    Io(#[from] std::io::Error),
}

impl MediaError {
    /// Worth retrying later (the CDN or the disk was unavailable), as opposed to a bad or gone
    /// medium: a 4xx answer is final (except 408 Request Timeout and 429 Too Many Requests),
    /// a 5xx answer, a timeout or a connection error is not.
    pub fn is_transient(&self) -> bool {
        match self {
            MediaError::Timeout(_) | MediaError::Http(_) | MediaError::Io(_) => true,
            MediaError::Status(s) => {
                !s.is_client_error()
                    || *s == reqwest::StatusCode::REQUEST_TIMEOUT
                    || *s == reqwest::StatusCode::TOO_MANY_REQUESTS
            }
            MediaError::HostNotAllowed | MediaError::BadUrl | MediaError::TooLarge { .. } => false,
        }
    }
}

impl MediaError {
    /// What the report records of a medium given up for this error (a status class, never the
    /// URL).
    pub fn lost_reason(&self) -> normalizers::report::LostReason {
        use normalizers::report::LostReason;
        match self {
            MediaError::Status(s) if !self.is_transient() && s.is_client_error() => {
                LostReason::ClientError
            }
            MediaError::Status(_) => LostReason::ServerError,
            MediaError::Timeout(_) => LostReason::Timeout,
            MediaError::Http(_) => LostReason::Connection,
            MediaError::TooLarge { .. } => LostReason::TooLarge,
            MediaError::HostNotAllowed | MediaError::BadUrl => LostReason::NotAllowed,
            MediaError::Io(_) => LostReason::Storage,
        }
    }
}

/// A medium written to the staging folder.
#[derive(Debug, Clone, PartialEq)]
pub struct Downloaded {
    pub path: PathBuf,
    pub size: u64,
    pub content_type: Option<String>,
}

/// The HTTP client for media: it follows redirects only to allowed hosts.
pub fn media_http_client(config: &ZaloConfig) -> Result<reqwest::Client, reqwest::Error> {
    let hosts = Arc::new(config.media_hosts.clone());
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        let ok = matches!(attempt.url().scheme(), "http" | "https")
            && attempt
                .url()
                .host_str()
                .is_some_and(|h| host_allowed(&hosts, h));
        if !ok {
            attempt.error("redirect to a host not in zalo.media_hosts")
        } else if attempt.previous().len() >= 5 {
            attempt.error("too many redirects")
        } else {
            attempt.follow()
        }
    });
    reqwest::Client::builder()
        .redirect(policy)
        .connect_timeout(Duration::from_secs(10))
        .build()
}

/// Download `url` into `dir` under a name derived from `key` (the message id): a retried
/// download overwrites its own earlier attempt.
pub async fn download(
    http: &reqwest::Client,
    config: &ZaloConfig,
    url: &str,
    dir: &Path,
    key: &str,
) -> Result<Downloaded, MediaError> {
    let parsed = reqwest::Url::parse(url).map_err(|_| MediaError::BadUrl)?;
    if !config.media_url_allowed(&parsed) {
        return Err(MediaError::HostNotAllowed);
    }
    let limit = Duration::from_secs(config.media_timeout_secs.max(1));
    let path = dir.join(staging_name(key, url));
    let result = tokio::time::timeout(limit, fetch(http, parsed, &path, config.media_max_bytes))
        .await
        .unwrap_or(Err(MediaError::Timeout(limit)));
    if result.is_err() {
        let _ = tokio::fs::remove_file(&path).await;
    }
    result
}

async fn fetch(
    http: &reqwest::Client,
    url: reqwest::Url,
    path: &Path,
    max: u64,
) -> Result<Downloaded, MediaError> {
    let resp = http
        .get(url)
        .send()
        .await
        .map_err(|e| MediaError::Http(e.without_url()))?;
    if !resp.status().is_success() {
        return Err(MediaError::Status(resp.status()));
    }
    if resp.content_length().is_some_and(|n| n > max) {
        return Err(MediaError::TooLarge { limit: max });
    }
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut file = tokio::fs::File::create(path).await?;
    let mut size = 0u64;
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| MediaError::Http(e.without_url()))?;
        size += chunk.len() as u64;
        if size > max {
            return Err(MediaError::TooLarge { limit: max });
        }
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    file.sync_all().await?;
    Ok(Downloaded {
        path: path.to_path_buf(),
        size,
        content_type,
    })
}

fn staging_name(key: &str, url: &str) -> String {
    let mut h = Sha256::new();
    h.update(key.as_bytes());
    h.update([0]);
    h.update(url.as_bytes());
    format!("zalo-{}.part", &hex::encode(h.finalize())[..24])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_are_final_except_408_and_429_and_server_errors_are_transient() {
        let status = |n: u16| MediaError::Status(reqwest::StatusCode::from_u16(n).unwrap());
        for n in [400, 401, 403, 404, 410, 451] {
            assert!(!status(n).is_transient(), "{n} is final");
        }
        for n in [408, 429, 500, 502, 503, 504] {
            assert!(status(n).is_transient(), "{n} is transient");
        }
        assert!(MediaError::Timeout(Duration::from_secs(1)).is_transient());
        assert!(!MediaError::HostNotAllowed.is_transient());
        assert!(!MediaError::TooLarge { limit: 1 }.is_transient());
    }

    #[test]
    fn a_lost_medium_is_recorded_by_the_class_of_its_failure() {
        use normalizers::report::LostReason;
        let status = |n: u16| MediaError::Status(reqwest::StatusCode::from_u16(n).unwrap());
        assert_eq!(status(404).lost_reason(), LostReason::ClientError);
        assert_eq!(status(429).lost_reason(), LostReason::ServerError);
        assert_eq!(status(503).lost_reason(), LostReason::ServerError);
        assert_eq!(
            MediaError::Timeout(Duration::from_secs(1)).lost_reason(),
            LostReason::Timeout
        );
        assert_eq!(
            MediaError::HostNotAllowed.lost_reason(),
            LostReason::NotAllowed
        );
    }
}
