//! Normalizer of the app and portal API (R-CH-APP, R-CH-PORTAL): the `report` JSON part of
//! `POST /v1/reports` into a canonical report.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};

use crate::intake_fields::IntakeFields;
use crate::report::{
    CategoryField, Channel, Coordinates, CoordinatesSource, Envelope, Report, ReporterKind,
};

/// The `report` part of an API submission, as the app or the portal sends it. Only `channel` is
/// required: what the citizen left out (no `content`, no `reporter`, empty objects, nulls) is
/// for the validator to list, so an incomplete form is a rejection with every reason, not a
/// malformed request. Wrong types (`"content": 5`, a list for an object) stay malformed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppSubmission {
    /// `app` or `portal`.
    pub channel: ApiChannel,
    #[serde(default, deserialize_with = "object_or_null")]
    #[schemars(with = "Option<AppReporter>")]
    pub reporter: AppReporter,
    #[serde(default, deserialize_with = "string_or_null")]
    #[schemars(with = "Option<String>")]
    pub content: String,
    #[serde(default, deserialize_with = "optional_object")]
    pub category: Option<AppCategory>,
    /// When it happened (RFC 3339).
    #[serde(default)]
    pub occurred_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "optional_object")]
    pub location: Option<AppLocation>,
    #[serde(default)]
    pub confidential: Option<bool>,
    #[serde(default)]
    pub consent_share_pii: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApiChannel {
    App,
    Portal,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppReporter {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub kind: Option<ReporterKind>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppCategory {
    pub field: CategoryField,
    #[serde(default)]
    pub subcategory: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppLocation {
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub lat: Option<f64>,
    #[serde(default)]
    pub lon: Option<f64>,
}

fn string_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// A JSON object or null; serde's derived structs would also take a list of the fields' values.
fn optional_object<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    d: D,
) -> Result<Option<T>, D::Error> {
    match Option::<serde_json::Map<String, serde_json::Value>>::deserialize(d)? {
        Some(map) => serde_json::from_value(serde_json::Value::Object(map))
            .map(Some)
            .map_err(D::Error::custom),
        None => Ok(None),
    }
}

fn object_or_null<'de, D: Deserializer<'de>, T: DeserializeOwned + Default>(
    d: D,
) -> Result<T, D::Error> {
    Ok(optional_object(d)?.unwrap_or_default())
}

impl ApiChannel {
    pub fn channel(self) -> Channel {
        match self {
            ApiChannel::App => Channel::App,
            ApiChannel::Portal => Channel::Portal,
        }
    }
}

/// Why a submission cannot be turned into a report at all (HTTP 400, not a verdict).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AppSubmissionError {
    #[error("location.lat and location.lon must be given together")]
    HalfCoordinates,
    #[error("location coordinates are out of range (lat -90..90, lon -180..180)")]
    CoordinatesOutOfRange,
}

impl AppSubmission {
    /// Structural checks that make the request malformed rather than ineligible.
    pub fn check_shape(&self) -> Result<(), AppSubmissionError> {
        if let Some(loc) = &self.location {
            match (loc.lat, loc.lon) {
                (Some(lat), Some(lon)) => {
                    let c = Coordinates { lat, lon };
                    if !(c.lat.is_finite()
                        && c.lon.is_finite()
                        && (-90.0..=90.0).contains(&lat)
                        && (-180.0..=180.0).contains(&lon))
                    {
                        return Err(AppSubmissionError::CoordinatesOutOfRange);
                    }
                }
                (None, None) => {}
                _ => return Err(AppSubmissionError::HalfCoordinates),
            }
        }
        Ok(())
    }
}

/// Build the canonical report of an API submission (attachments are added by the caller).
pub fn normalize(envelope: Envelope, sub: &AppSubmission) -> Report {
    let location = sub.location.as_ref();
    let coordinates = location.and_then(|loc| match (loc.lat, loc.lon) {
        (Some(lat), Some(lon)) => Some((Coordinates { lat, lon }, CoordinatesSource::Given)),
        _ => None,
    });
    IntakeFields {
        content: &sub.content,
        reporter_kind: sub.reporter.kind,
        name: sub.reporter.name.as_deref(),
        phone: sub.reporter.phone.as_deref(),
        email: sub.reporter.email.as_deref(),
        category: sub.category.as_ref(),
        occurred_at: sub.occurred_at,
        address: location.and_then(|loc| loc.address.as_deref()),
        coordinates,
        confidential: sub.confidential,
        consent_share_pii: sub.consent_share_pii,
    }
    .into_report(envelope)
}
