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
    info(title = "1022 ingestion gateway", description = "Field reports (phản ánh hiện trường) of Long An's Hệ thống 1022: submission, and the IOC's queue."),
    paths(
        super::submit::submit,
        super::submit::check,
        super::ioc::claim,
        super::ioc::ack,
        super::ioc::get_report,
        super::ioc::set_status,
        super::ioc::transition,
        super::ioc::overdue,
        super::messages::post,
        super::messages::list,
        super::track::track_json,
        super::track::answer,
        super::track::rating,
        super::ioc::get_media,
        super::ioc::block_add,
        super::ioc::block_list,
        super::ioc::block_remove,
        super::ops::healthz,
        super::ops::readyz,
        super::ops::metrics,
    ),
    components(schemas(super::error::ErrorBody, super::submit::SubmitResponse, super::submit::CheckResponse, super::ioc::ClaimResponse, super::ioc::QueueEntry, super::ioc::StatusBody, super::ioc::TransitionBody, super::ioc::TransitionResponse, super::ioc::OverdueResponse, super::messages::MessageBody, super::messages::MessageResponse, super::messages::MessagesResponse, super::track::AnswerBody, super::track::RatingBody, super::track::AnswerResponse, crate::trail::DueEntry, crate::blocklist::BlockRequest, crate::blocklist::BlockEntry)),
    modifiers(&Security),
)]
struct ApiDoc;

/// The document as JSON, with `Report` and `AppSubmission` added to the components.
pub fn document() -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serialises");
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
    }
    doc
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
