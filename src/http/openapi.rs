//! The OpenAPI document, generated from the handlers; the report schemas come from the
//! normalizers' JSON Schema (the same one committed in `normalizers/schema/report.schema.json`).

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "1022 ingestion gateway", description = "Field reports (phản ánh hiện trường) of Long An's Hệ thống 1022: submission, the citizens' portal (public, no API key, when `portal.enabled`), the IOC's queue and trail, the agencies, tracking, published results, and Open311 GeoReport v2."),
    paths(
        super::submit::submit,
        super::submit::check,
        super::ioc::claim,
        super::ioc::ack,
        super::ioc::get_report,
        super::ioc::set_status,
        super::ioc::transition,
        super::ioc::overdue,
        super::stats::figures,
        super::stats::chart,
        super::track::track_json,
        super::published::feed,
        super::published::media,
        super::published::result_media,
        super::track::photo,
        super::published::set_publication,
        super::agency::list,
        super::agency::get_report,
        super::agency::get_media,
        super::agency::transition,
        super::agency::disclose,
        super::messages::post,
        super::messages::list,
        super::track::answer,
        super::track::rating,
        super::ioc::get_media,
        super::ioc::block_add,
        super::ioc::block_list,
        super::ioc::block_remove,
        super::ops::healthz,
        super::ops::readyz,
        super::ops::metrics,
        super::portal::check,
        super::portal::places,
        super::portal::request_code,
        super::portal::verify_code,
        super::portal::submit_report,
    ),
    components(schemas(super::error::ErrorBody, super::submit::SubmitResponse, super::submit::CheckResponse, super::ioc::ClaimResponse, super::ioc::QueueEntry, super::ioc::StatusBody, super::ioc::TransitionBody, super::ioc::TransitionResponse, super::ioc::OverdueResponse, crate::trail::DueEntry, crate::blocklist::BlockRequest, crate::blocklist::BlockEntry, super::published::FeedPage, super::published::PublicationBody, super::published::PublicationState, crate::publication::PublishedReport, crate::publication::PublicPlace, super::agency::AgencyList, super::agency::AgencyListed, super::agency::AgencyReport, super::agency::AgencyStepBody, super::agency::DiscloseBody, crate::stats::Figures, crate::stats::Count, crate::stats::CommuneCount, crate::stats::Day, crate::stats::Spread, crate::stats::Forwarding, crate::stats::Listed, super::messages::MessageBody, super::messages::MessageForm, super::messages::MessageResponse, super::messages::MessagesResponse, super::track::AnswerBody, super::track::RatingBody, super::track::AnswerResponse, super::portal::PortalCheck, super::portal::CheckedMedia, super::portal::PlacesQuery, super::portal::Places, super::portal::Place, super::portal::CodeRequest, super::portal::CodeEntry, crate::otp::Challenge, crate::otp::Verification, crate::otp::ContactKind)),
    modifiers(&Security),
)]
struct ApiDoc;

/// The document as JSON, with `Report` and `AppSubmission` added to the components and the
/// Open311 routes to the paths.
pub fn document() -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serialises");
    if let Some(paths) = doc.pointer_mut("/paths").and_then(|p| p.as_object_mut()) {
        for (path, item) in open311_paths() {
            paths.insert(path.to_string(), item);
        }
    }
    let schemas = doc
        .pointer_mut("/components/schemas")
        .and_then(|s| s.as_object_mut());
    if let Some(schemas) = schemas {
        for (name, schema) in [
            ("Report", normalizers::report::json_schema()),
            (
                "AppSubmission",
                serde_json::to_value(schemars::schema_for!(normalizers::app::AppSubmission))
                    .expect("a JSON schema serialises"),
            ),
        ] {
            schemas.insert(name.to_string(), rebase_defs(schema, name));
        }
        schemas.insert("Open311Request".to_string(), open311_request_schema());
    }
    doc
}

/// The Open311 GeoReport v2 routes (`http::open311`), written out: their handlers answer JSON or
/// XML after the path's suffix, which the generated paths do not describe.
fn open311_paths() -> Vec<(&'static str, serde_json::Value)> {
    use serde_json::json;
    let format = json!({"name": "format", "in": "path", "required": true,
        "description": "Answer format", "schema": {"type": "string", "enum": ["json", "xml"]}});
    let jurisdiction = json!({"name": "jurisdiction_id", "in": "query", "required": false,
        "description": "Only this gateway's jurisdiction is served", "schema": {"type": "string"}});
    let q = |name: &str, description: &str| {
        json!({"name": name, "in": "query", "required": false, "description": description,
            "schema": {"type": "string"}})
    };
    let answer = |description: &str| {
        json!({"description": description, "content": {
            "application/json": {"schema": {}}, "text/xml": {"schema": {}}}})
    };
    let errors = json!({"description": "Open311 errors: a list of {code, description}",
        "content": {"application/json": {"schema": {"type": "array", "items": {"type": "object",
            "properties": {"code": {"type": "integer"}, "description": {"type": "string"}}}}},
            "text/xml": {"schema": {}}}});
    vec![
        (
            "/open311/v2/discovery.{format}",
            json!({"get": {"tags": ["open311"], "summary": "Service discovery: endpoints, formats, contact",
                "operationId": "open311_discovery", "parameters": [format],
                "responses": {"200": answer("The discovery document")}}}),
        ),
        (
            "/open311/v2/services.{format}",
            json!({"get": {"tags": ["open311"], "summary": "Services: the sub-categories of the five fields of Đ5 (group: the field)",
                "operationId": "open311_services", "parameters": [format, jurisdiction],
                "responses": {"200": answer("The service list"), "404": errors}}}),
        ),
        (
            "/open311/v2/services/{service_code}.{format}",
            json!({"get": {"tags": ["open311"], "summary": "A service's definition (its attributes)",
                "operationId": "open311_service_definition",
                "parameters": [{"name": "service_code", "in": "path", "required": true, "schema": {"type": "string"}}, format, jurisdiction],
                "responses": {"200": answer("The service definition"), "404": errors}}}),
        ),
        (
            "/open311/v2/requests.{format}",
            json!({
                "get": {"tags": ["open311"], "summary": "Requests submitted through Open311, newest first (public: no reporter, no description, no exact address)",
                    "operationId": "open311_requests",
                    "parameters": [format, jurisdiction,
                        q("service_request_id", "Comma-separated ids (then the other filters are ignored)"),
                        q("service_code", "Only this service"),
                        q("start_date", "ISO 8601 with a zone"),
                        q("end_date", "ISO 8601 with a zone"),
                        q("status", "open or closed")],
                    "responses": {"200": answer("The requests"), "400": errors}},
                "post": {"tags": ["open311"], "summary": "Submit a request: a canonical report of channel open311 through the same pipeline",
                    "operationId": "open311_post_request",
                    "parameters": [format],
                    "requestBody": {"required": true, "content": {
                        "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/Open311Request"}},
                        "multipart/form-data": {"schema": {"$ref": "#/components/schemas/Open311Request"}}}},
                    "responses": {"200": answer("The new request's id (service_request_id) and token"),
                        "201": answer("The new request's id (service_request_id) and token"),
                        "400": errors, "403": errors}}
            }),
        ),
        (
            "/open311/v2/requests/{service_request_id}.{format}",
            json!({"get": {"tags": ["open311"], "summary": "One request with its status from the processing trail",
                "operationId": "open311_request",
                "parameters": [{"name": "service_request_id", "in": "path", "required": true, "schema": {"type": "string"}}, format, jurisdiction],
                "responses": {"200": answer("The request (a list of one)"), "404": errors}}}),
        ),
    ]
}

/// The form of an Open311 POST (GeoReport v2 fields, with `media` file parts as an extension).
fn open311_request_schema() -> serde_json::Value {
    serde_json::json!({"type": "object", "required": ["api_key", "service_code"], "properties": {
        "api_key": {"type": "string", "description": "A `submit` API key (or the Authorization header)"},
        "jurisdiction_id": {"type": "string"},
        "service_code": {"type": "string"},
        "lat": {"type": "number"}, "long": {"type": "number"},
        "address_string": {"type": "string"}, "address_id": {"type": "string"},
        "email": {"type": "string"}, "phone": {"type": "string"},
        "first_name": {"type": "string"}, "last_name": {"type": "string"},
        "description": {"type": "string", "description": "Vietnamese with diacritics (Đ6)"},
        "media_url": {"type": "string", "description": "Recorded, not fetched"},
        "attribute[occurred_at]": {"type": "string", "description": "ISO 8601 with a zone"},
        "attribute[confidential]": {"type": "string", "enum": ["true", "false"], "description": "Do not publish the result (Đ11.2)"},
        "media": {"type": "array", "items": {"type": "string", "format": "binary"}, "description": "Photos, audio, video (multipart only)"}
    }})
}

/// schemars puts sub-schemas under `$defs` with `#/$defs/X` references: keep them inside the
/// component so the references resolve.
fn rebase_defs(mut schema: serde_json::Value, name: &str) -> serde_json::Value {
    let text = schema.to_string().replace(
        "\"#/$defs/",
        &format!("\"#/components/schemas/{name}/$defs/"),
    );
    if let Ok(v) = serde_json::from_str(&text) {
        schema = v;
    }
    if let Some(obj) = schema.as_object_mut() {
        obj.remove("$schema");
    }
    schema
}

/// The OpenAPI document.
pub async fn serve() -> Json<serde_json::Value> {
    Json(document())
}
