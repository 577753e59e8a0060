//! The API's errors. Client errors come back as they are and are not logged as errors; internal
//! errors come back as a generic body with an id that is logged.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("missing or invalid API key: send `Authorization: Bearer <key>`")]
    Unauthorized,
    #[error("this API key may not use this endpoint")]
    Forbidden,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("the gateway is shutting down; retry on another instance or in a moment")]
    ShuttingDown,
    #[error("storage is unavailable; nothing was stored, retry later")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

/// Error body of every non-2xx answer except 422 (which carries the verdict).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code: `bad_request`, `unauthorized`, `forbidden`, `not_found`,
    /// `payload_too_large`, `unavailable`, `internal`.
    pub error: &'static str,
    /// What went wrong, for the developer of the client.
    pub message: String,
    /// The same for the citizen, in Vietnamese, where the client may show it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_vi: Option<&'static str>,
    /// Id of the logged internal error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_id: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, vi) = match &self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request", None),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", None),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "forbidden", None),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", None),
            ApiError::PayloadTooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                Some("Tệp gửi kèm quá lớn hoặc quá nhiều tệp. Ảnh và ghi âm tối đa 20 MB, video tối đa 200 MB, không quá 10 tệp mỗi phản ánh."),
            ),
            ApiError::ShuttingDown => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                Some("Hệ thống đang bảo trì trong giây lát. Vui lòng gửi lại sau ít phút."),
            ),
            ApiError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                Some("Hệ thống tạm thời không lưu được phản ánh. Vui lòng gửi lại sau ít phút."),
            ),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", None),
        };
        crate::metrics::http_error(status.as_u16());
        let mut error_id = None;
        let message = match &self {
            ApiError::Internal(detail) | ApiError::Unavailable(detail) => {
                let id = ulid::Ulid::new().to_string();
                tracing::error!(error_id = %id, detail = %detail, "request failed");
                error_id = Some(id);
                self.to_string()
            }
            _ => self.to_string(),
        };
        let body = ErrorBody {
            error: code,
            message,
            message_vi: vi,
            error_id,
        };
        (status, Json(body)).into_response()
    }
}
