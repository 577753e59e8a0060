//! JSON request bodies whose refusals come back in the API's error format.
//!
//! axum's own `Json` extractor answers a malformed body with a plain-text line; every JSON
//! endpoint takes [`JsonBody`] instead, so a client (or the portal's script) always reads
//! `{"error","message","message_vi"}`: 400 for a body that is not the expected JSON (its
//! message names the field), 415 without `Content-Type: application/json`, 413 past
//! [`JSON_BODY_MAX_BYTES`]. The router's body limit is sized for uploads (hundreds of
//! megabytes); a JSON body is read into memory, so it has its own, small bound, checked while
//! reading. A body refused early (415, 413) is read and dropped first, within the bounds of
//! [`channels::drain`], so the client reads the answer instead of a reset connection.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use axum::Json;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use super::ApiError;

/// A JSON request body of type `T`.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let declared = channels::drain::declared_length(req.headers());
        if !is_json(req.headers()) {
            channels::drain::drain(declared, req.into_body()).await;
            return Err(ApiError::UnsupportedMediaType(
                "expected a request with `Content-Type: application/json`".into(),
            ));
        }
        let too_large = || {
            ApiError::BodyTooLarge(format!(
                "a JSON body is at most {JSON_BODY_MAX_BYTES} bytes"
            ))
        };
        if declared.is_some_and(|n| n > JSON_BODY_MAX_BYTES as u64) {
            channels::drain::drain(declared, req.into_body()).await;
            return Err(too_large());
        }
        let mut stream = req.into_body().into_data_stream();
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::BadRequest(format!("the request body could not be read: {e}"))
            })?;
            if bytes.len() + chunk.len() > JSON_BODY_MAX_BYTES {
                let read = (bytes.len() + chunk.len()) as u64;
                channels::drain::drain_stream(stream, read).await;
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        match Json::<T>::from_bytes(&bytes) {
            Ok(Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(refusal(rejection)),
        }
    }
}

/// The largest JSON body any endpoint reads (the longest is an IOC message of 1,500
/// characters or a citizen's answer of 4,000: far below).
pub const JSON_BODY_MAX_BYTES: usize = 256 * 1024;

fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn refusal(rejection: JsonRejection) -> ApiError {
    let detail = rejection.body_text();
    match rejection.status() {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(detail),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::BodyTooLarge(detail),
        _ => ApiError::MalformedJson(detail),
    }
}
