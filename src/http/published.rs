//! Published results (Đ11, R-MSG-PUBLISH): `GET /v1/published`, the public feed for the portal
//! (newest first, by cursor, rate-limited per address like the tracking lookups), and
//! `GET /v1/published/{tracking_code}/media/{n}` and `…/result-media/{n}`, the public copies
//! (EXIF and GPS stripped) of the photos of published reports and of their results only. The IOC withholds a result from publication with
//! `PUT /v1/reports/{id}/publication`. What is published, and why the description is not:
//! `crate::publication`.

use super::body::JsonBody;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use tokio_util::io::ReaderStream;
use utoipa::{IntoParams, ToSchema};

use super::auth::{Authorized, Ioc};
use super::track::SourceIp;
use super::{ApiError, AppState};
use crate::publication::{self, PublishedReport};

/// Largest page of the feed.
pub const MAX_PAGE: usize = 100;

#[derive(Debug, Deserialize, IntoParams)]
pub struct FeedQuery {
    /// Results per page (1–100, default 20).
    pub max: Option<usize>,
    /// `next` of the previous page.
    pub cursor: Option<String>,
}

/// One page of published results.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedPage {
    pub results: Vec<PublishedReport>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Published results (Đ11.1), newest first: tracking code, field, commune, times, agency,
/// result text and the paths of the photos' public copies. No personal data, no description;
/// confidential reports (Đ11.2) and results the IOC withheld never appear.
#[utoipa::path(
    get, path = "/v1/published", tag = "published",
    params(FeedQuery),
    responses(
        (status = 200, description = "A page of results", body = FeedPage),
        (status = 400, description = "Bad parameters", body = super::error::ErrorBody),
        (status = 429, description = "Too many requests from this address; see Retry-After", body = super::error::ErrorBody),
    )
)]
pub async fn feed(
    SourceIp(source): SourceIp,
    State(state): State<AppState>,
    Query(q): Query<FeedQuery>,
) -> Result<Json<FeedPage>, ApiError> {
    let per_minute = state.config.track.lookups_per_minute.max(1);
    if let Some(wait) = state
        .pipeline
        .track_lookup_allowed(&format!("published:{source}"), per_minute)
        .await?
    {
        let secs = wait.as_secs().max(1);
        return Err(ApiError::TooManyRequests {
            retry_after_secs: secs,
            message_vi: normalizers::messages::trail::too_many_lookups(secs),
        });
    }
    let max = q.max.unwrap_or(20);
    if !(1..=MAX_PAGE).contains(&max) {
        return Err(ApiError::BadRequest(format!(
            "max must be between 1 and {MAX_PAGE}"
        )));
    }
    let cursor = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(
            publication::parse_cursor(c)
                .ok_or_else(|| ApiError::BadRequest("cursor is not one this feed gave".into()))?,
        ),
    };
    let (results, next) = state.pipeline.published_page(cursor.as_ref(), max).await?;
    Ok(Json(FeedPage { results, next }))
}

/// The published report of a tracking code; 404 (the same answer) for a malformed code, an
/// unknown one, and a report that is not published.
async fn published_report(
    state: &AppState,
    code: &str,
) -> Result<normalizers::report::Report, ApiError> {
    let not_found = || ApiError::NotFound("no such published photo".into());
    let code = code.trim().to_ascii_uppercase();
    if code.is_empty()
        || code.len() > 32
        || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(not_found());
    }
    let report = state.pipeline.track(&code).await?.ok_or_else(not_found)?;
    if publication::published(&report).is_none() {
        return Err(not_found());
    }
    Ok(report)
}

/// The public copy of the n-th photo (0-based, in the order of `photos`) of a published report:
/// EXIF and GPS stripped. 404 for anything not published.
#[utoipa::path(
    get, path = "/v1/published/{tracking_code}/media/{n}", tag = "published",
    params(
        ("tracking_code" = String, Path, description = "The published report's tracking code"),
        ("n" = usize, Path, description = "Photo index, 0-based"),
    ),
    responses(
        (status = 200, description = "The photo without its metadata"),
        (status = 404, description = "No such published report or photo", body = super::error::ErrorBody),
    )
)]
pub async fn media(
    State(state): State<AppState>,
    Path((code, n)): Path<(String, usize)>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::NotFound("no such published photo".into());
    let report = published_report(&state, &code).await?;
    let photos = publication::public_photos(&report);
    let photo = photos.get(n).ok_or_else(not_found)?;
    let key = photo.public_key.as_deref().ok_or_else(not_found)?;
    public_file(&state, key, &photo.media_type, "public, max-age=300").await
}

/// The public copy of the n-th photo (0-based, in the order of `result_photos`) the last
/// result of a published report came with: EXIF and GPS stripped. 404 for anything not
/// published.
#[utoipa::path(
    get, path = "/v1/published/{tracking_code}/result-media/{n}", tag = "published",
    params(
        ("tracking_code" = String, Path, description = "The published report's tracking code"),
        ("n" = usize, Path, description = "Photo index, 0-based"),
    ),
    responses(
        (status = 200, description = "The photo without its metadata"),
        (status = 404, description = "No such published report or photo", body = super::error::ErrorBody),
    )
)]
pub async fn result_media(
    State(state): State<AppState>,
    Path((code, n)): Path<(String, usize)>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::NotFound("no such published photo".into());
    let report = published_report(&state, &code).await?;
    let photos = normalizers::conversation::result_photos(&report);
    let photo = photos.get(n).ok_or_else(not_found)?;
    let key = photo.public_key.as_deref().ok_or_else(not_found)?;
    public_file(&state, key, &photo.media_type, "public, max-age=300").await
}

/// A stored file by key, streamed with its media type (a file the report refers to that is
/// missing is the gateway's fault).
pub(super) async fn public_file(
    state: &AppState,
    key: &str,
    media_type: &str,
    cache: &'static str,
) -> Result<Response, ApiError> {
    let file = state
        .pipeline
        .media(key)
        .await
        .map_err(ApiError::internal)?;
    let len = file.metadata().await.map_err(ApiError::internal)?.len();
    let mut res = Body::from_stream(ReaderStream::new(file)).into_response();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(media_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    Ok(res)
}

/// Whether a report's result may be published.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublicationBody {
    /// `false` withholds the result from publication (it is still sent to the citizen);
    /// `true` lifts an earlier withholding (a confidential report stays unpublished).
    pub published: bool,
    /// Why it is withheld (required with `false`, kept on the report; not public).
    pub reason: Option<String>,
}

/// Whether the report is published now, and the withholding on record.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicationState {
    pub published: bool,
    pub confidential: bool,
    #[schema(value_type = Option<Object>)]
    pub withheld: Option<normalizers::report::Withheld>,
}

/// Withhold a report's result from publication, or lift that (Đ11.3).
#[utoipa::path(
    put, path = "/v1/reports/{id}/publication", tag = "ioc",
    params(("id" = String, Path, description = "Report id")),
    request_body = PublicationBody,
    responses(
        (status = 200, description = "Recorded", body = PublicationState),
        (status = 400, description = "No reason to withhold", body = super::error::ErrorBody),
        (status = 404, description = "No such report", body = super::error::ErrorBody),
        (status = 409, description = "Another change of the report is being written", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn set_publication(
    Authorized { caller, .. }: Authorized<Ioc>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PublicationBody>,
) -> Result<Json<PublicationState>, ApiError> {
    super::agency::check_id(&id)?;
    let reason = if body.published {
        None
    } else {
        Some(super::agency::reason(body.reason)?)
    };
    let report = state
        .pipeline
        .withhold(&id, reason, &format!("ioc:{}", caller.client))
        .await?;
    Ok(Json(PublicationState {
        published: publication::published(&report).is_some(),
        confidential: report.confidential,
        withheld: report.publication_withheld,
    }))
}
