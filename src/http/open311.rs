//! Open311 GeoReport v2 under `/open311/v2/` (R-CH-OPEN311, `shared/open311/GEOREPORT.md`):
//! `discovery`, `services`, `services/{code}`, `requests` (GET, POST), `requests/{id}`, each with
//! a `.json` or `.xml` suffix.
//!
//! Services are the sub-categories of the five fields of Đ5 (`categories.json`), plus one
//! service per field for what fits no sub-category; `group` is the field's name. A POST (form
//! or multipart with `media` file parts, our extension: a 1022 report needs a photo; `media_url`
//! is not fetched) needs a `submit` API key (`api_key`) and becomes a canonical report of channel
//! `open311` through the same pipeline; a rejection answers 400 with one Open311 error per
//! reason. Statuses come from the processing trail (`open`/`closed`, `status_notes` the step's
//! name and message). GET answers are public: no reporter, no description, no exact address
//! (the commune, coordinates to 3 decimals).

use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use chrono::{DateTime, Utc};
use normalizers::app::{self, ApiChannel, AppCategory, AppLocation, AppReporter, AppSubmission};
use normalizers::report::{CategoryField, Channel, Envelope, Report};
use normalizers::trail;
use normalizers::validate::Status;
use serde::Serialize;

use super::track::escape;
use super::{ApiError, AppState};
use crate::config::Role;
use crate::messages as msg;
use crate::pipeline::PreparedMedia;

/// The jurisdiction this gateway serves (`jurisdiction_id`).
pub const JURISDICTION: &str = "longan.gov.vn";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{file}", get(top_get).post(top_post))
        .route("/services/{file}", get(service_definition))
        .route("/requests/{file}", get(request_one))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fmt {
    Json,
    Xml,
}

/// `name.json` / `name.xml` → (name, format).
fn split(file: &str) -> Option<(&str, Fmt)> {
    let (name, ext) = file.rsplit_once('.')?;
    match ext {
        "json" => Some((name, Fmt::Json)),
        "xml" => Some((name, Fmt::Xml)),
        _ => None,
    }
}

/// An Open311 error answer.
struct Errors {
    status: StatusCode,
    fmt: Fmt,
    errors: Vec<(u16, String)>,
}

impl Errors {
    fn one(status: StatusCode, fmt: Fmt, description: impl Into<String>) -> Errors {
        Errors {
            status,
            fmt,
            errors: vec![(status.as_u16(), description.into())],
        }
    }
}

impl IntoResponse for Errors {
    fn into_response(self) -> Response {
        match self.fmt {
            Fmt::Json => {
                let body: Vec<serde_json::Value> = self
                    .errors
                    .iter()
                    .map(|(c, d)| serde_json::json!({"code": c, "description": d}))
                    .collect();
                (self.status, axum::Json(body)).into_response()
            }
            Fmt::Xml => {
                let mut x = xml_head("errors");
                for (c, d) in &self.errors {
                    x.push_str("<error>");
                    leaf(&mut x, "code", &c.to_string());
                    leaf(&mut x, "description", d);
                    x.push_str("</error>");
                }
                x.push_str("</errors>");
                xml(self.status, x)
            }
        }
    }
}

/// Gateway failures (storage down, a bug) as Open311 errors, logged like every `ApiError`.
fn from_api(e: ApiError, fmt: Fmt) -> Response {
    let fallback = e.into_response();
    let status = fallback.status();
    if status.is_server_error() {
        Errors::one(status, fmt, "the service is unavailable, retry later").into_response()
    } else {
        fallback
    }
}

fn xml_head(root: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"utf-8\"?><{root}>")
}

fn leaf(x: &mut String, name: &str, value: &str) {
    x.push_str(&format!("<{name}>{}</{name}>", escape(value)));
}

fn xml(status: StatusCode, body: String) -> Response {
    let mut res = (status, body).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    res
}

/// A JSON value as XML elements: objects as nested elements, arrays as repeated `item` names.
fn to_xml(x: &mut String, name: &str, v: &serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Null => x.push_str(&format!("<{name}/>")),
        Value::Bool(b) => leaf(x, name, if *b { "true" } else { "false" }),
        Value::Number(n) => leaf(x, name, &n.to_string()),
        Value::String(s) => leaf(x, name, s),
        Value::Array(items) => {
            // Open311 XML wraps lists in their plural name with singular items.
            let item = match name {
                "endpoints" => "endpoint",
                "formats" => "format",
                "attributes" => "attribute",
                "values" => "value",
                "keywords" => "keyword",
                _ => "item",
            };
            x.push_str(&format!("<{name}>"));
            for i in items {
                to_xml(x, item, i);
            }
            x.push_str(&format!("</{name}>"));
        }
        Value::Object(map) => {
            x.push_str(&format!("<{name}>"));
            for (k, v) in map {
                to_xml(x, k, v);
            }
            x.push_str(&format!("</{name}>"));
        }
    }
}

/// A list answer: JSON array, or `<root><item>…</item>…</root>`.
fn list(
    fmt: Fmt,
    status: StatusCode,
    root: &str,
    item: &str,
    items: &[serde_json::Value],
) -> Response {
    match fmt {
        Fmt::Json => (status, axum::Json(items)).into_response(),
        Fmt::Xml => {
            let mut x = xml_head(root);
            for i in items {
                to_xml(&mut x, item, i);
            }
            x.push_str(&format!("</{root}>"));
            xml(status, x)
        }
    }
}

#[derive(Debug, serde::Deserialize, Default)]
pub struct Common {
    pub jurisdiction_id: Option<String>,
    pub service_request_id: Option<String>,
    pub service_code: Option<String>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub status: Option<String>,
}

fn check_jurisdiction(q: &Common, fmt: Fmt) -> Result<(), Errors> {
    match q.jurisdiction_id.as_deref() {
        None | Some("") | Some(JURISDICTION) => Ok(()),
        Some(_) => Err(Errors::one(
            StatusCode::NOT_FOUND,
            fmt,
            format!("unknown jurisdiction_id: this service is {JURISDICTION}"),
        )),
    }
}

/// A path that names no resource: 404 in JSON (the format is unknown).
fn path_not_found(message: &'static str) -> Errors {
    Errors::one(StatusCode::NOT_FOUND, Fmt::Json, message)
}

/// The resource and format named by the last path segment, in this service's jurisdiction.
fn resource<'a>(file: &'a str, q: &Common) -> Result<(&'a str, Fmt), Errors> {
    let Some((name, fmt)) = split(file) else {
        return Err(path_not_found("paths end with .json or .xml"));
    };
    check_jurisdiction(q, fmt)?;
    Ok((name, fmt))
}

async fn top_get(
    State(state): State<AppState>,
    Path(file): Path<String>,
    Query(q): Query<Common>,
) -> Response {
    let (name, fmt) = match resource(&file, &q) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    match name {
        "discovery" => discovery(&state, fmt),
        "services" => list(fmt, StatusCode::OK, "services", "service", &services()),
        "requests" => match requests(&state, &q, fmt).await {
            Ok(r) => r,
            Err(r) => r,
        },
        _ => Errors::one(
            StatusCode::NOT_FOUND,
            fmt,
            format!("no such resource: {name}"),
        )
        .into_response(),
    }
}

fn discovery(_state: &AppState, fmt: Fmt) -> Response {
    let v = serde_json::json!({
        "changeset": "2026-11-30T00:00:00Z",
        "contact": "Trung tâm IOC tỉnh Long An — Hệ thống 1022",
        "key_service": "API keys are issued by the IOC (role submit)",
        "endpoints": [
            {"specification": "http://wiki.open311.org/GeoReport_v2", "url": "/open311/v2", "changeset": "2026-11-30T00:00:00Z", "type": "production", "formats": ["text/xml", "application/json"]},
        ],
    });
    match fmt {
        Fmt::Json => axum::Json(v).into_response(),
        Fmt::Xml => {
            let mut x = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
            to_xml(&mut x, "discovery", &v);
            xml(StatusCode::OK, x)
        }
    }
}

fn field_code(field: CategoryField) -> String {
    serde_json::to_value(field)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// One service per sub-category, then one per field (in the order of `categories.json`).
fn services() -> Vec<serde_json::Value> {
    let cats = normalizers::vietnamese::categories();
    let mut out: Vec<serde_json::Value> = cats
        .iter()
        .map(|(_, field_name, id, name)| {
            serde_json::json!({
                "service_code": id, "service_name": name, "description": field_name,
                "metadata": true, "type": "realtime", "keywords": "", "group": field_name,
            })
        })
        .collect();
    let mut seen = Vec::new();
    for (field, field_name, _, _) in &cats {
        if seen.contains(field) {
            continue;
        }
        seen.push(*field);
        out.push(serde_json::json!({
            "service_code": field_code(*field), "service_name": field_name,
            "description": msg::open311_field_service(field_name),
            "metadata": true, "type": "realtime", "keywords": "", "group": field_name,
        }));
    }
    out
}

/// The field and sub-category of a service code.
fn service(code: &str) -> Option<(CategoryField, Option<String>, String)> {
    let cats = normalizers::vietnamese::categories();
    if let Some((field, _, id, name)) = cats.iter().find(|c| c.2 == code) {
        return Some((*field, Some(id.to_string()), name.to_string()));
    }
    cats.iter()
        .find(|c| field_code(c.0) == code)
        .map(|(field, field_name, _, _)| (*field, None, field_name.to_string()))
}

async fn service_definition(Path(file): Path<String>, Query(q): Query<Common>) -> Response {
    let (code, fmt) = match resource(&file, &q) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    if service(code).is_none() {
        return Errors::one(StatusCode::NOT_FOUND, fmt, format!("no service {code}"))
            .into_response();
    }
    let v = serde_json::json!({
        "service_code": code,
        "attributes": [
            {"variable": true, "code": "occurred_at", "datatype": "datetime", "required": false,
             "datatype_description": "ISO 8601", "order": 1, "description": msg::OPEN311_ATTR_OCCURRED_AT},
            {"variable": true, "code": "confidential", "datatype": "singlevaluelist", "required": false,
             "datatype_description": "", "order": 2, "description": msg::OPEN311_ATTR_CONFIDENTIAL,
             "values": [{"key": "true", "name": msg::OPEN311_YES}, {"key": "false", "name": msg::OPEN311_NO}]},
        ],
    });
    match fmt {
        Fmt::Json => axum::Json(v).into_response(),
        Fmt::Xml => {
            let mut x = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
            to_xml(&mut x, "service_definition", &v);
            xml(StatusCode::OK, x)
        }
    }
}

/// A request as the public sees it.
#[derive(Serialize)]
struct PublicRequest {
    service_request_id: String,
    status: &'static str,
    status_notes: String,
    service_name: Option<String>,
    service_code: Option<String>,
    description: Option<String>,
    agency_responsible: Option<String>,
    service_notice: Option<String>,
    requested_datetime: String,
    updated_datetime: String,
    expected_datetime: Option<String>,
    address: Option<String>,
    address_id: Option<String>,
    zipcode: Option<String>,
    lat: Option<f64>,
    long: Option<f64>,
    media_url: Option<String>,
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn public_request(r: &Report) -> PublicRequest {
    let status = trail::current(r);
    let last = trail::entries(r).pop();
    let label = normalizers::messages::trail::status_label(status);
    let status_notes = match last.as_ref().and_then(|e| e.message.as_deref()) {
        Some(m) => format!("{label}: {m}"),
        None => label.to_string(),
    };
    let (service_code, service_name) = match &r.category {
        Some(c) => match &c.subcategory {
            Some(sub) => (
                Some(sub.clone()),
                normalizers::vietnamese::subcategory_name(sub).map(str::to_string),
            ),
            None => (
                Some(field_code(c.field)),
                normalizers::vietnamese::field_name(c.field).map(str::to_string),
            ),
        },
        None => (None, None),
    };
    let coords = r.location.coordinates;
    PublicRequest {
        service_request_id: r.id.clone(),
        status: status.open311(),
        status_notes,
        service_name,
        service_code,
        // The citizen's text may name people: not public.
        description: None,
        agency_responsible: trail::current_agency(r),
        service_notice: None,
        requested_datetime: iso(r.received_at),
        updated_datetime: iso(trail::updated_at(r)),
        expected_datetime: trail::current_due(r).map(|(_, t)| iso(t)),
        address: r
            .location
            .admin
            .as_ref()
            .and_then(|a| a.new_commune.clone().or_else(|| a.old_commune.clone())),
        address_id: None,
        zipcode: None,
        lat: coords.map(|c| round3(c.lat)),
        long: coords.map(|c| round3(c.lon)),
        media_url: None,
    }
}

/// The public form of `reports` as a `service_requests` list.
fn service_requests(fmt: Fmt, reports: &[Report]) -> Response {
    list(
        fmt,
        StatusCode::OK,
        "service_requests",
        "request",
        &request_values(reports),
    )
}

fn request_values(reports: &[Report]) -> Vec<serde_json::Value> {
    reports
        .iter()
        .filter_map(|r| serde_json::to_value(public_request(r)).ok())
        .collect()
}

/// A report that Open311 shows: submitted through Open311 and accepted at intake.
async fn open311_report(state: &AppState, id: &str) -> Result<Option<Report>, ApiError> {
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Ok(None);
    }
    Ok(state
        .pipeline
        .report(id)
        .await?
        .filter(|r| r.channel == Channel::Open311 && r.verdict.status != Status::Rejected))
}

fn parse_date(s: Option<&str>, fmt: Fmt, name: &str) -> Result<Option<DateTime<Utc>>, Errors> {
    match s {
        None | Some("") => Ok(None),
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| {
                Errors::one(
                    StatusCode::BAD_REQUEST,
                    fmt,
                    format!("{name} is not an ISO 8601 time with a zone"),
                )
            }),
    }
}

async fn requests(state: &AppState, q: &Common, fmt: Fmt) -> Result<Response, Response> {
    let mut reports = Vec::new();
    if let Some(ids) = q.service_request_id.as_deref().filter(|s| !s.is_empty()) {
        for id in ids.split(',').map(str::trim).take(100) {
            if let Some(r) = open311_report(state, id)
                .await
                .map_err(|e| from_api(e, fmt))?
            {
                reports.push(r);
            }
        }
        return Ok(service_requests(fmt, &reports));
    }
    let now = state.pipeline.now();
    let end = parse_date(q.end_date.as_deref(), fmt, "end_date")
        .map_err(IntoResponse::into_response)?
        .unwrap_or(now);
    let start = parse_date(q.start_date.as_deref(), fmt, "start_date")
        .map_err(IntoResponse::into_response)?
        .unwrap_or(end - chrono::Duration::days(90));
    if end < start || end - start > chrono::Duration::days(90) {
        return Err(Errors::one(
            StatusCode::BAD_REQUEST,
            fmt,
            "start_date and end_date span at most 90 days",
        )
        .into_response());
    }
    // Both filters may be comma lists.
    let statuses: Vec<&str> = q
        .status
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if statuses.iter().any(|s| !matches!(*s, "open" | "closed")) {
        return Err(
            Errors::one(StatusCode::BAD_REQUEST, fmt, "status is open or closed").into_response(),
        );
    }
    let codes: Vec<&str> = q
        .service_code
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let ids = state
        .pipeline
        .open311_ids(start, end, 1000)
        .await
        .map_err(|e| from_api(e.into(), fmt))?;
    for id in ids {
        let Some(r) = open311_report(state, &id)
            .await
            .map_err(|e| from_api(e, fmt))?
        else {
            continue;
        };
        if !statuses.is_empty() && !statuses.contains(&trail::current(&r).open311()) {
            continue;
        }
        if !codes.is_empty() {
            let code = public_request(&r).service_code;
            if !codes.iter().any(|c| code.as_deref() == Some(*c)) {
                continue;
            }
        }
        reports.push(r);
    }
    Ok(service_requests(fmt, &reports))
}

async fn request_one(
    State(state): State<AppState>,
    Path(file): Path<String>,
    Query(q): Query<Common>,
) -> Response {
    let (id, fmt) = match resource(&file, &q) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    match open311_report(&state, id).await {
        Ok(Some(r)) => service_requests(fmt, &[r]),
        Ok(None) => {
            Errors::one(StatusCode::NOT_FOUND, fmt, format!("no request {id}")).into_response()
        }
        Err(e) => from_api(e, fmt),
    }
}

/// The fields of a POST, from a form or a multipart body.
#[derive(Default)]
struct PostFields {
    values: Vec<(String, String)>,
    media: Vec<PreparedMedia>,
}

impl PostFields {
    fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }
}

async fn read_post(state: &AppState, req: Request, fmt: Fmt) -> Result<PostFields, Response> {
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !multipart {
        let Form(values): Form<Vec<(String, String)>> =
            Form::from_request(req, state).await.map_err(|e| {
                Errors::one(StatusCode::BAD_REQUEST, fmt, e.body_text()).into_response()
            })?;
        return Ok(PostFields {
            values,
            media: Vec::new(),
        });
    }
    let mut mp = Multipart::from_request(req, state)
        .await
        .map_err(|e| Errors::one(StatusCode::BAD_REQUEST, fmt, e.body_text()).into_response())?;
    let mut fields = PostFields::default();
    let limits = &state.config.limits;
    let result: Result<(), Response> = async {
        while let Some(field) = mp.next_field().await.map_err(|e| {
            Errors::one(
                e.status(),
                fmt,
                format!("malformed multipart body: {}", e.body_text()),
            )
            .into_response()
        })? {
            let name = field.name().unwrap_or_default().to_string();
            if name == "media" {
                if fields.media.len() >= limits.max_files {
                    return Err(Errors::one(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        fmt,
                        format!("at most {} media files per request", limits.max_files),
                    )
                    .into_response());
                }
                let m = super::submit::stream_media(state, field, fields.media.len())
                    .await
                    .map_err(|e| from_api(e, fmt))?;
                fields.media.push(m);
            } else {
                let text = field.text().await.map_err(|e| {
                    Errors::one(StatusCode::BAD_REQUEST, fmt, e.body_text()).into_response()
                })?;
                if text.len() > limits.report_json_max_bytes {
                    return Err(Errors::one(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        fmt,
                        format!("field {name} is too long"),
                    )
                    .into_response());
                }
                fields.values.push((name, text));
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        for m in fields.media {
            state.pipeline.discard(m.staged).await;
        }
        return Err(e);
    }
    Ok(fields)
}

fn bad(fmt: Fmt, d: impl Into<String>) -> Errors {
    Errors::one(StatusCode::BAD_REQUEST, fmt, d)
}

/// The canonical report of a POST (the app normalizer's rules: phone to E.164, NFC…).
fn to_submission(f: &PostFields, fmt: Fmt) -> Result<AppSubmission, Errors> {
    let code = f
        .get("service_code")
        .ok_or_else(|| bad(fmt, "service_code is required"))?;
    let (field, subcategory, _) =
        service(code).ok_or_else(|| bad(fmt, format!("no service {code}")))?;
    let num = |name: &str| -> Result<Option<f64>, Errors> {
        f.get(name)
            .map(|v| {
                v.parse::<f64>()
                    .map_err(|_| bad(fmt, format!("{name} is not a number")))
            })
            .transpose()
    };
    let (lat, lon) = (num("lat")?, num("long")?);
    let address = f.get("address_string").map(str::to_string);
    if lat.is_some() != lon.is_some() {
        return Err(bad(fmt, "lat and long are given together"));
    }
    if lat.is_none() && address.is_none() && f.get("address_id").is_none() {
        return Err(bad(
            fmt,
            "a place is required: lat and long, or address_string",
        ));
    }
    let name = match (f.get("first_name"), f.get("last_name")) {
        // Vietnamese order: family name first.
        (Some(first), Some(last)) => Some(format!("{last} {first}")),
        (Some(n), None) | (None, Some(n)) => Some(n.to_string()),
        (None, None) => None,
    };
    let occurred_at = match f.get("attribute[occurred_at]") {
        Some(v) => Some(
            DateTime::parse_from_rfc3339(v)
                .map_err(|_| bad(fmt, "attribute[occurred_at] is not an ISO 8601 time"))?
                .with_timezone(&Utc),
        ),
        None => None,
    };
    let confidential = match f.get("attribute[confidential]") {
        Some("true") => Some(true),
        Some("false") | None => None,
        Some(_) => return Err(bad(fmt, "attribute[confidential] is true or false")),
    };
    let sub = AppSubmission {
        channel: ApiChannel::App,
        reporter: AppReporter {
            name,
            phone: f.get("phone").map(str::to_string),
            email: f.get("email").map(str::to_string),
            kind: None,
        },
        content: f.get("description").unwrap_or_default().to_string(),
        category: Some(AppCategory { field, subcategory }),
        occurred_at,
        location: Some(AppLocation { address, lat, lon }),
        confidential,
        consent_share_pii: None,
    };
    sub.check_shape().map_err(|e| bad(fmt, e.to_string()))?;
    Ok(sub)
}

async fn top_post(
    State(state): State<AppState>,
    Path(file): Path<String>,
    Query(q): Query<Common>,
    req: Request,
) -> Response {
    let Some(("requests", fmt)) = split(&file) else {
        return path_not_found("POST is for requests.json or requests.xml").into_response();
    };
    if let Err(e) = check_jurisdiction(&q, fmt) {
        return e.into_response();
    }
    if state.is_shutting_down() {
        return from_api(ApiError::ShuttingDown, fmt);
    }
    // The key may come as a bearer header too.
    let header_key = super::auth::bearer_token(req.headers()).map(str::to_string);
    let fields = match read_post(&state, req, fmt).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let key = fields.get("api_key").map(str::to_string).or(header_key);
    let mut headers = HeaderMap::new();
    if let Some(k) = &key {
        if let Ok(v) = HeaderValue::from_str(&format!("Bearer {k}")) {
            headers.insert(header::AUTHORIZATION, v);
        }
    }
    let caller = match state.keys.require(&headers, Role::Submit) {
        Ok(c) => c,
        Err(_) => {
            for m in fields.media {
                state.pipeline.discard(m.staged).await;
            }
            return Errors::one(
                StatusCode::FORBIDDEN,
                fmt,
                "a valid api_key (role submit) is required",
            )
            .into_response();
        }
    };
    let sub = match to_submission(&fields, fmt) {
        Ok(s) => s,
        Err(r) => {
            for m in fields.media {
                state.pipeline.discard(m.staged).await;
            }
            return r.into_response();
        }
    };
    let raw = serde_json::to_vec(&sub).unwrap_or_default();
    let envelope = Envelope {
        id: String::new(),
        tracking_code: String::new(),
        channel: Channel::Open311,
        channel_ref: None,
        received_at: state.pipeline.now(),
    };
    let mut report = app::normalize(envelope, &sub);
    report.reporter.channel_identity = Some(format!("open311-client:{}", caller.client));
    let dedup_key = format!("open311:{}:{}", caller.client, state.pipeline.new_id());
    let outcome = match state
        .pipeline
        .ingest_prepared(&dedup_key, &raw, report, fields.media)
        .await
    {
        Ok(o) => o,
        Err(e) => return from_api(e.into(), fmt),
    };
    if outcome.verdict.status == Status::Rejected {
        return Errors {
            status: StatusCode::BAD_REQUEST,
            fmt,
            errors: outcome
                .verdict
                .reasons
                .iter()
                .map(|r| (400, format!("{}: {}", r.code.as_str(), r.message)))
                .collect(),
        }
        .into_response();
    }
    match state.pipeline.report(&outcome.id).await {
        Ok(Some(r)) => {
            if let Err(e) = state.pipeline.record_open311(&r).await {
                return from_api(e.into(), fmt);
            }
        }
        Ok(None) => return from_api(ApiError::internal("committed report vanished"), fmt),
        Err(e) => return from_api(e.into(), fmt),
    }
    let v = serde_json::json!({
        "service_request_id": outcome.id,
        "service_notice": msg::open311_notice(&outcome.tracking_code),
        "account_id": null,
    });
    list(
        fmt,
        StatusCode::CREATED,
        "service_requests",
        "request",
        &[v],
    )
}
