//! The API's errors. Client errors come back as they are and are not logged as errors; internal
//! errors come back as a generic body with an id that is logged with the whole chain of causes.
//!
//! Every conversion of a component's error into an [`ApiError`] is here, so that handlers use `?`
//! and the mapping of failures to statuses is read in one place.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use channels::intake::{BoxError, IngestError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::blocklist::BlockError;
use crate::config::Limits;
use crate::duplicates::DuplicateError;
use crate::pipeline::StatusError;
use crate::store::{BlobError, StoreFailure};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// A JSON body that does not parse as the endpoint's type (`super::body::JsonBody`).
    #[error("{0}")]
    MalformedJson(String),
    /// A JSON endpoint called without `Content-Type: application/json`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A JSON body past the request body limit.
    #[error("{0}")]
    BodyTooLarge(String),
    /// A request refused for a reason the citizen can fix: 400 with `message_vi`.
    #[error("{message}")]
    Refused {
        message: String,
        message_vi: &'static str,
    },
    #[error("missing or invalid API key: send `Authorization: Bearer <key>`")]
    Unauthorized,
    #[error("this API key may not use this endpoint")]
    Forbidden,
    /// An app bearer token was refused (Đ6.4): 401 with the reason.
    #[error("{0}")]
    AppToken(crate::apptoken::TokenError),
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the resource's state (a transition the trail does not allow).
    #[error("{0}")]
    Conflict(String),
    /// Too many requests from one source; retry after this many seconds.
    #[error("too many requests: retry in {retry_after_secs} s")]
    TooManyRequests {
        retry_after_secs: u64,
        message_vi: String,
    },
    /// `message_vi` states the configured limits (see [`ApiError::too_large`]).
    #[error("{detail}")]
    PayloadTooLarge { detail: String, message_vi: String },
    /// An intake rate limit (R-SEC-4): answered 429 with `Retry-After`.
    #[error("too many submissions from this {kind} in a short time; retry after {retry_after_secs} seconds")]
    RateLimited {
        kind: &'static str,
        retry_after_secs: u64,
    },
    #[error("the gateway is shutting down; retry on another instance or in a moment")]
    ShuttingDown,
    #[error("storage is unavailable; nothing was stored, retry later")]
    Unavailable(#[source] BoxError),
    #[error("internal error")]
    Internal(#[source] BoxError),
}

impl ApiError {
    /// The HTTP status this error is answered with (the pages answer with it too).
    pub fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::MalformedJson(_) | ApiError::Refused { .. } => {
                StatusCode::BAD_REQUEST
            }
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unauthorized | ApiError::AppToken(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooManyRequests { .. } | ApiError::RateLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::PayloadTooLarge { .. } | ApiError::BodyTooLarge(_) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::ShuttingDown | ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl ApiError {
    /// A file or the request exceeds `limits`.
    pub fn too_large(detail: impl Into<String>, limits: &Limits) -> Self {
        ApiError::PayloadTooLarge {
            detail: detail.into(),
            message_vi: crate::messages::too_large(limits),
        }
    }

    pub fn unavailable(e: impl Into<BoxError>) -> Self {
        ApiError::Unavailable(e.into())
    }

    pub fn internal(e: impl Into<BoxError>) -> Self {
        ApiError::Internal(e.into())
    }
}

impl From<StoreFailure> for ApiError {
    fn from(e: StoreFailure) -> Self {
        match e {
            StoreFailure::Corrupt { .. } | StoreFailure::Unsupported(_) => ApiError::internal(e),
            _ => ApiError::unavailable(e),
        }
    }
}

impl From<crate::apptoken::TokenError> for ApiError {
    fn from(e: crate::apptoken::TokenError) -> Self {
        match e {
            e @ crate::apptoken::TokenError::KeysUnavailable(_) => ApiError::unavailable(e),
            e => ApiError::AppToken(e),
        }
    }
}

impl From<BlobError> for ApiError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::Io { .. } => ApiError::unavailable(e),
            BlobError::BadKey(_) => ApiError::internal(e),
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Unavailable(source) => ApiError::Unavailable(source),
            IngestError::Invalid(reason) => ApiError::BadRequest(reason.to_string()),
            IngestError::Internal(source) => ApiError::Internal(source),
        }
    }
}

impl From<BlockError> for ApiError {
    fn from(e: BlockError) -> Self {
        match e {
            e if e.is_client_error() => ApiError::BadRequest(e.to_string()),
            BlockError::Store(f) => f.into(),
            e => ApiError::internal(e),
        }
    }
}

impl From<DuplicateError> for ApiError {
    fn from(e: DuplicateError) -> Self {
        match e {
            DuplicateError::Store(f) => f.into(),
            e @ DuplicateError::Encode { .. } => ApiError::internal(e),
        }
    }
}

impl From<StatusError> for ApiError {
    fn from(e: StatusError) -> Self {
        match e {
            StatusError::Store(f) => f.into(),
            StatusError::Index(d) => d.into(),
            StatusError::NotFound(id) => ApiError::NotFound(format!("no report {id}")),
            e @ StatusError::Busy(_) => ApiError::Conflict(e.to_string()),
            StatusError::Transition(t) if t.is_conflict() => ApiError::Conflict(t.to_string()),
            StatusError::Transition(t) => ApiError::BadRequest(t.to_string()),
            StatusError::Message(m) if m.is_conflict() => ApiError::Conflict(m.to_string()),
            StatusError::Message(m) => ApiError::BadRequest(m.to_string()),
            StatusError::Answer(a) => match a {
                normalizers::conversation::AnswerError::NothingToRate
                | normalizers::conversation::AnswerError::AlreadyRated
                | normalizers::conversation::AnswerError::TooMany { .. } => {
                    ApiError::Conflict(a.to_string())
                }
                a => match a.message_vi() {
                    Some(message_vi) => ApiError::Refused {
                        message: a.to_string(),
                        message_vi,
                    },
                    None => ApiError::BadRequest(a.to_string()),
                },
            },
            e @ StatusError::Encode { .. } => ApiError::internal(e),
            StatusError::NotYours(_) => ApiError::Forbidden,
            StatusError::Conflict(m) => ApiError::Conflict(m),
        }
    }
}

impl From<crate::conversation::PhotoError> for ApiError {
    fn from(e: crate::conversation::PhotoError) -> Self {
        use crate::conversation::PhotoError;
        match e {
            PhotoError::Store(i) => i.into(),
            e @ (PhotoError::TooMany { .. } | PhotoError::TooLarge { .. }) => {
                ApiError::BodyTooLarge(e.to_string())
            }
            e @ (PhotoError::NotAPhoto { .. }
            | PhotoError::Unsupported { .. }
            | PhotoError::NotStrippable { .. }) => ApiError::UnsupportedMediaType(e.to_string()),
            e @ PhotoError::Unreadable { .. } => ApiError::BadRequest(e.to_string()),
        }
    }
}

/// Error body of every non-2xx answer except 422 (which carries the verdict).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code: `bad_request`, `unauthorized` (a refused app token adds
    /// `WWW-Authenticate: Bearer error="invalid_token", error_description="<reason>"`),
    /// `forbidden`, `not_found`,
    /// `payload_too_large`, `conflict`, `too_many_requests`, `rate_limited`, `unavailable`,
    /// `internal`.
    pub error: &'static str,
    /// What went wrong, for the developer of the client.
    pub message: String,
    /// The same for the citizen, in Vietnamese, where the client may show it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_vi: Option<String>,
    /// Id of the logged internal error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_id: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        use crate::messages as msg;
        let (status, code, vi) = match &self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request", None),
            ApiError::MalformedJson(_) => (
                StatusCode::BAD_REQUEST,
                "bad_request",
                Some(msg::MALFORMED_JSON.to_string()),
            ),
            ApiError::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                Some(msg::MALFORMED_JSON.to_string()),
            ),
            ApiError::BodyTooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                Some(msg::BODY_TOO_LARGE.to_string()),
            ),
            ApiError::Refused { message_vi, .. } => (
                StatusCode::BAD_REQUEST,
                "bad_request",
                Some(message_vi.to_string()),
            ),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", None),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "forbidden", None),
            ApiError::AppToken(_) => (StatusCode::UNAUTHORIZED, "unauthorized", None),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", None),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict", None),
            ApiError::TooManyRequests { message_vi, .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                Some(message_vi.clone()),
            ),
            ApiError::PayloadTooLarge { message_vi, .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                Some(message_vi.clone()),
            ),
            ApiError::RateLimited {
                retry_after_secs, ..
            } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                Some(msg::rate_limited(*retry_after_secs)),
            ),
            ApiError::ShuttingDown => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                Some(msg::SHUTTING_DOWN.to_string()),
            ),
            ApiError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                Some(msg::UNAVAILABLE.to_string()),
            ),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", None),
        };
        crate::metrics::http_error(status.as_u16());
        let mut error_id = None;
        if let ApiError::Internal(_) | ApiError::Unavailable(_) = &self {
            let id = ulid::Ulid::new().to_string();
            tracing::error!(error_id = %id, error = %channels::intake::error_chain(&self), "request failed");
            error_id = Some(id);
        }
        let body = ErrorBody {
            error: code,
            message: self.to_string(),
            message_vi: vi,
            error_id,
        };
        let retry_after = match &self {
            ApiError::RateLimited {
                retry_after_secs, ..
            }
            | ApiError::TooManyRequests {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        let mut res = (status, Json(body)).into_response();
        if let ApiError::AppToken(e) = &self {
            // RFC 6750: the reason in a form a client library reads.
            let challenge = format!(
                "Bearer error=\"invalid_token\", error_description=\"{}\"",
                e.reason()
            );
            if let Ok(v) = axum::http::HeaderValue::from_str(&challenge) {
                res.headers_mut()
                    .insert(axum::http::header::WWW_AUTHENTICATE, v);
            }
        }
        if let Some(secs) = retry_after {
            res.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs),
            );
        }
        res
    }
}

impl From<channels::ratelimit::Limited> for ApiError {
    fn from(l: channels::ratelimit::Limited) -> Self {
        use channels::ratelimit::LimitKind;
        ApiError::RateLimited {
            kind: match l.kind {
                LimitKind::Sender => "sender",
                LimitKind::Source => "address",
                LimitKind::Client => "API client",
            },
            retry_after_secs: l.retry_after_secs(),
        }
    }
}
