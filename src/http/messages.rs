//! The IOC's messages to the citizen (R-MSG-IOC): `POST /v1/reports/{id}/messages` records a
//! message and sends it on the report's channel (`crate::conversation`);
//! `GET /v1/reports/{id}/messages` lists them with every delivery attempt. IOC keys only.

use super::body::JsonBody;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use normalizers::conversation::{IocMessage, MessageKind, NewMessage};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{Authorized, Ioc};
use super::{ApiError, AppState};

/// A message of the IOC about a report.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    /// `request_detail`, `not_accepted`, `forwarded`, `result` or `other`.
    #[schema(value_type = String)]
    pub kind: MessageKind,
    /// Vietnamese text for the citizen (1–1500 characters); the gateway frames it with the
    /// tracking code.
    pub text: String,
    /// An internal note: kept on the report for the IOC, never sent, never public.
    #[serde(default)]
    pub internal: bool,
}

/// The message as recorded, with the attempts made so far (`tracking_page`: shown on the
/// tracking view; `email`/`zalo_oa` `queued`: in the channel's outbox, the result follows;
/// `webhook`: posted to the app's backend).
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageResponse {
    #[schema(value_type = Object)]
    pub message: IocMessage,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessagesResponse {
    pub report_id: String,
    pub tracking_code: String,
    /// Oldest first, each with its delivery attempts.
    #[schema(value_type = Vec<Object>)]
    pub messages: Vec<IocMessage>,
}

fn valid_id(id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ApiError::NotFound(format!("no report {id}")));
    }
    Ok(())
}

/// Send a message to the citizen on the report's channel (email reply in the thread, Zalo OA
/// message with a fallback to email when Zalo's window has closed, the tracking view and the
/// app's webhook), or record an internal note.
#[utoipa::path(
    post, path = "/v1/reports/{id}/messages", tag = "ioc",
    params(("id" = String, Path, description = "Report id")),
    request_body = MessageBody,
    responses(
        (status = 201, description = "Recorded; queued or sent (see `attempts`)", body = MessageResponse),
        (status = 400, description = "Empty or too long text, unknown kind", body = super::error::ErrorBody),
        (status = 404, description = "No such report", body = super::error::ErrorBody),
        (status = 409, description = "Another change of the report is being written, or too many messages", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn post(
    Authorized { caller, .. }: Authorized<Ioc>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<MessageBody>,
) -> Result<(StatusCode, Json<MessageResponse>), ApiError> {
    valid_id(&id)?;
    let (_, message) = state
        .pipeline
        .post_message(
            &id,
            NewMessage {
                kind: body.kind,
                text: body.text,
                internal: body.internal,
                photos: Vec::new(),
            },
            &format!("ioc:{}", caller.client),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(MessageResponse { message })))
}

/// The IOC's messages about a report, each with every delivery attempt and its result.
#[utoipa::path(
    get, path = "/v1/reports/{id}/messages", tag = "ioc",
    params(("id" = String, Path, description = "Report id")),
    responses(
        (status = 200, description = "The messages", body = MessagesResponse),
        (status = 404, description = "No such report", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    _: Authorized<Ioc>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<MessagesResponse>, ApiError> {
    valid_id(&id)?;
    let report = state
        .pipeline
        .report(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no report {id}")))?;
    Ok(Json(MessagesResponse {
        report_id: report.id,
        tracking_code: report.tracking_code,
        messages: report.messages,
    }))
}
