//! The IOC's messages to the citizen (R-MSG-IOC): `POST /v1/reports/{id}/messages` records a
//! message and sends it on the report's channel (`crate::conversation`);
//! `GET /v1/reports/{id}/messages` lists them with every delivery attempt. IOC keys only.
//!
//! The message comes as JSON, or as `multipart/form-data` with the same JSON in a `message`
//! part and up to [`MAX_PHOTOS`] `photo` parts (Đ10.3: a result comes with photos of the fix).
//! Each photo is streamed to the staging folder within `limits.photo_max_bytes`, inspected
//! (a JPEG, PNG or WebP photo that reads), stored with its EXIF/GPS-stripped public copy and
//! recorded on the message before the answer; a refused photo records nothing, and staged
//! files are deleted on every exit path (`channels::staging::StagedFile`).

use super::body::JsonBody;
use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::Json;
use normalizers::conversation::{IocMessage, MessageKind, NewMessage, MAX_PHOTOS};
use normalizers::media::sniff;
use normalizers::report::MediaKind;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{Authorized, Ioc};
use super::{ApiError, AppState};
use crate::conversation::PhotoError;
use crate::pipeline::PreparedMedia;

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

/// The multipart form of a message with photos (documentation of the request body).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct MessageForm {
    /// The message, as the JSON body (`kind`, `text`, `internal`), with
    /// `Content-Type: application/json`.
    #[schema(value_type = MessageBody)]
    pub message: String,
    /// 0 to 6 photos (JPEG, PNG or WebP, each within `limits.photo_max_bytes`); their EXIF and
    /// GPS are removed from the copies the citizen and the public see.
    #[schema(value_type = Vec<String>, format = Binary)]
    pub photo: Vec<Vec<u8>>,
}

/// Send a message to the citizen on the report's channel (email reply in the thread, Zalo OA
/// message with a fallback to email when Zalo's window has closed, the tracking view and the
/// app's webhook), or record an internal note. With photos: a `multipart/form-data` body (the
/// email reply attaches their stripped copies, Zalo gets them as image messages or a pointer
/// to the tracking page, which shows them).
#[utoipa::path(
    post, path = "/v1/reports/{id}/messages", tag = "ioc",
    params(("id" = String, Path, description = "Report id")),
    request_body(
        description = "The message as JSON, or `multipart/form-data` with the JSON in a `message` part and up to 6 `photo` parts",
        content(
            (MessageBody = "application/json"),
            (MessageForm = "multipart/form-data"),
        )
    ),
    responses(
        (status = 201, description = "Recorded with its photos; queued or sent (see `attempts`)", body = MessageResponse),
        (status = 400, description = "Empty or too long text, unknown kind, no `message` part, a photo that cannot be read", body = super::error::ErrorBody),
        (status = 404, description = "No such report", body = super::error::ErrorBody),
        (status = 409, description = "Another change of the report is being written, or too many messages", body = super::error::ErrorBody),
        (status = 413, description = "More than 6 photos, or a photo past `limits.photo_max_bytes`", body = super::error::ErrorBody),
        (status = 415, description = "Neither JSON nor multipart, or a `photo` part that is not a JPEG, PNG or WebP photo", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn post(
    Authorized { caller, .. }: Authorized<Ioc>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<(StatusCode, Json<MessageResponse>), ApiError> {
    valid_id(&id)?;
    let (body, photos) = if is_multipart(&request) {
        let multipart = Multipart::from_request(request, &state)
            .await
            .map_err(|e| {
                ApiError::BadRequest(format!("malformed multipart body: {}", e.body_text()))
            })?;
        let (body, staged) = read_form(&state, multipart).await?;
        // What would refuse the message refuses it before its photos are stored.
        normalizers::conversation::clean_text(&body.text)
            .map_err(crate::pipeline::StatusError::Message)?;
        if state.pipeline.report(&id).await?.is_none() {
            return Err(ApiError::NotFound(format!("no report {id}")));
        }
        // Inspected, then stored durably with their public copies, before anything is recorded.
        let photos = state.pipeline.take_photos(staged).await?;
        (body, photos)
    } else {
        let JsonBody(body) = JsonBody::<MessageBody>::from_request(request, &state).await?;
        (body, Vec::new())
    };
    let (_, message) = state
        .pipeline
        .post_message(
            &id,
            NewMessage {
                kind: body.kind,
                text: body.text,
                internal: body.internal,
                photos,
            },
            &format!("ioc:{}", caller.client),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(MessageResponse { message })))
}

fn is_multipart(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("multipart/form-data")
        })
}

fn multipart_error(e: MultipartError, state: &AppState) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::too_large(
            "the request body is larger than the gateway accepts",
            &state.config.limits,
        )
    } else {
        ApiError::BadRequest(format!("malformed multipart body: {}", e.body_text()))
    }
}

/// Read the form to the end: the `message` part and the staged photos (deleted when dropped,
/// so every error path leaves nothing in the staging folder).
async fn read_form(
    state: &AppState,
    mut multipart: Multipart,
) -> Result<(MessageBody, Vec<PreparedMedia>), ApiError> {
    let mut body: Option<MessageBody> = None;
    let mut photos: Vec<PreparedMedia> = Vec::new();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(e, state))?
    {
        match field.name() {
            Some("message") => {
                if body.is_some() {
                    return Err(ApiError::BadRequest("more than one `message` part".into()));
                }
                let raw = read_message_part(field, state).await?;
                body = Some(serde_json::from_slice(&raw).map_err(|e| {
                    ApiError::MalformedJson(format!(
                        "the `message` part is not a valid message: {e}"
                    ))
                })?);
            }
            Some("photo") => {
                if photos.len() >= MAX_PHOTOS {
                    return Err(PhotoError::TooMany { max: MAX_PHOTOS }.into());
                }
                let index = photos.len() + 1;
                photos.push(stream_photo(state, field, index).await?);
            }
            Some(other) => {
                return Err(ApiError::BadRequest(format!(
                    "unexpected part `{other}`: expected `message` and `photo`"
                )))
            }
            None => return Err(ApiError::BadRequest("a multipart part has no name".into())),
        }
    }
    let body =
        body.ok_or_else(|| ApiError::BadRequest("the `message` JSON part is missing".into()))?;
    Ok((body, photos))
}

async fn read_message_part(mut field: Field<'_>, state: &AppState) -> Result<Vec<u8>, ApiError> {
    let max = super::body::JSON_BODY_MAX_BYTES;
    let mut buf = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, state))? {
        if buf.len() + chunk.len() > max {
            return Err(ApiError::BodyTooLarge(format!(
                "the `message` part is at most {max} bytes"
            )));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// Stream one `photo` part to the staging folder within the photo size limit, refusing at
/// once a part whose first bytes are another kind of medium.
async fn stream_photo(
    state: &AppState,
    mut field: Field<'_>,
    index: usize,
) -> Result<PreparedMedia, ApiError> {
    let max = state.config.limits.photo_max_bytes;
    let claimed_type = field.content_type().map(str::to_string);
    // Dropped on every early return: the partial file is deleted.
    let mut writer = state.pipeline.stage_writer().await?;
    let mut head: Vec<u8> = Vec::new();
    let mut sniffed = false;
    while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, state))? {
        if !sniffed {
            let need = 64 - head.len();
            head.extend_from_slice(&chunk[..chunk.len().min(need)]);
            if head.len() >= 64 {
                sniffed = true;
                refuse_other_kinds(&head, index)?;
            }
        }
        if writer.size() + chunk.len() as u64 > max {
            return Err(PhotoError::TooLarge { index, max }.into());
        }
        writer.write(&chunk).await?;
    }
    if !sniffed {
        refuse_other_kinds(&head, index)?;
    }
    let staged = writer.finish().await?;
    Ok(PreparedMedia {
        staged,
        file_name: None,
        claimed_type,
        sent_at: None,
        vouched_capture: None,
    })
}

/// A part that sniffs as a video, an audio file or a document is refused before it is read on.
fn refuse_other_kinds(head: &[u8], index: usize) -> Result<(), PhotoError> {
    let s = sniff(head);
    match s.kind {
        Some(MediaKind::Photo) | None => Ok(()),
        Some(_) => Err(PhotoError::NotAPhoto {
            index,
            media_type: s.media_type.to_string(),
        }),
    }
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
