//! The monthly and yearly figures for the IOC (R-REP-1, Đ13.4): `GET /v1/stats` as JSON or CSV,
//! and the charts as SVG or PNG under `GET /v1/stats/charts/{chart}.{svg|png}`. IOC keys only.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::{Authorized, Ioc};
use super::{ApiError, AppState};
use crate::stats::chart::{self, Chart, ImageFormat};
use crate::stats::{self, Figures, Format, Period, StatsError};

#[derive(Debug, Deserialize, IntoParams)]
pub struct StatsQuery {
    /// A month, `YYYY-MM` (Vietnam's time).
    pub month: Option<String>,
    /// A year, `YYYY`.
    pub year: Option<String>,
    /// `json` (default) or `csv`; without it the `Accept` header decides (`text/csv`).
    pub format: Option<String>,
}

impl From<StatsError> for ApiError {
    fn from(e: StatsError) -> Self {
        match e {
            StatsError::Store(f) => f.into(),
            e @ StatsError::Future(_) => ApiError::BadRequest(e.to_string()),
        }
    }
}

fn period(q: &StatsQuery) -> Result<Period, ApiError> {
    let given = match (&q.month, &q.year) {
        (Some(m), None) => m,
        (None, Some(y)) => y,
        _ => {
            return Err(ApiError::BadRequest(
                "give exactly one of `month` (YYYY-MM) or `year` (YYYY)".into(),
            ))
        }
    };
    let p: Period = given
        .parse()
        .map_err(|e: stats::PeriodError| ApiError::BadRequest(e.to_string()))?;
    match (p, q.month.is_some()) {
        (Period::Month { .. }, true) | (Period::Year(_), false) => Ok(p),
        _ => Err(ApiError::BadRequest(
            "`month` is YYYY-MM and `year` is YYYY".into(),
        )),
    }
}

fn format(q: &StatsQuery, headers: &HeaderMap) -> Result<Format, ApiError> {
    if let Some(f) = &q.format {
        return f.parse().map_err(ApiError::BadRequest);
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    Ok(if accept.contains("text/csv") {
        Format::Csv
    } else {
        Format::Json
    })
}

/// The figures of a month or a year: counts by channel, field, commune (old and new units),
/// verdict, reason and flag code, trail status; time to forward (median and p90, in working
/// time and on the wall clock) and the on-time share; the overdue and backlog lists (ids and
/// tracking codes only). `?format=csv` or `Accept: text/csv` for one CSV table.
#[utoipa::path(
    get, path = "/v1/stats", tag = "ioc",
    params(StatsQuery),
    responses(
        (status = 200, description = "The figures (JSON, or CSV `section,key,value,detail`)", body = Figures),
        (status = 400, description = "No period, a malformed one, one not started, or an unknown format", body = super::error::ErrorBody),
        (status = 401, description = "No valid API key", body = super::error::ErrorBody),
        (status = 403, description = "Not an IOC key", body = super::error::ErrorBody),
        (status = 503, description = "Storage unavailable", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn figures(
    _: Authorized<Ioc>,
    State(state): State<AppState>,
    Query(q): Query<StatsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let period = period(&q)?;
    let format = format(&q, &headers)?;
    let figures = stats::compute(&state.pipeline, period).await?;
    Ok(match format {
        Format::Json => Json(figures).into_response(),
        Format::Csv => {
            let mut res = stats::to_csv(&figures).into_response();
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            res
        }
    })
}

/// A chart of the figures: `by-channel`, `by-field` or `daily`, as `.svg` or `.png`.
#[utoipa::path(
    get, path = "/v1/stats/charts/{file}", tag = "ioc",
    params(
        ("file" = String, Path, description = "`by-channel.svg`, `by-field.png`, `daily.svg`…"),
        StatsQuery,
    ),
    responses(
        (status = 200, description = "The chart (image/svg+xml or image/png)"),
        (status = 400, description = "No period or a malformed one", body = super::error::ErrorBody),
        (status = 404, description = "No such chart", body = super::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn chart(
    _: Authorized<Ioc>,
    State(state): State<AppState>,
    Path(file): Path<String>,
    Query(q): Query<StatsQuery>,
) -> Result<Response, ApiError> {
    let not_found = || {
        ApiError::NotFound(format!(
            "no chart `{file}`: by-channel, by-field or daily, with .svg or .png"
        ))
    };
    let (name, ext) = file.rsplit_once('.').ok_or_else(not_found)?;
    let which = Chart::from_name(name).ok_or_else(not_found)?;
    let image = match ext {
        "svg" => ImageFormat::Svg,
        "png" => ImageFormat::Png,
        _ => return Err(not_found()),
    };
    let period = period(&q)?;
    let figures = stats::compute(&state.pipeline, period).await?;
    let bytes = tokio::task::spawn_blocking(move || chart::render(which, image, period, &figures))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let mut res = bytes.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(image.content_type()),
    );
    Ok(res)
}
