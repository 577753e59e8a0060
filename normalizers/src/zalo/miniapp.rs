//! Normalizer of the mini app "Long An Số" (R-CH-ZALO-MINIAPP): the `report` JSON part of
//! `POST /v1/zalo/miniapp/reports`, plus the identity, phone and location the gateway obtained by
//! exchanging the mini app's tokens with Zalo (never trusted from the client).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::AppCategory;
use crate::intake_fields::{non_empty, phone_as_given, IntakeFields};
use crate::report::{Coordinates, CoordinatesSource, Envelope, Report, VerifiedBy};

/// The `report` part the mini app sends.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MiniappSubmission {
    pub content: String,
    /// Name the citizen typed; the Zalo display name is used when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// Phone typed by hand, used only when no phone token was exchanged.
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    /// A point picked on the map (the location token, when given, wins).
    #[serde(default)]
    pub lat: Option<f64>,
    #[serde(default)]
    pub lon: Option<f64>,
    #[serde(default)]
    pub category: Option<AppCategory>,
    #[serde(default)]
    pub occurred_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub confidential: Option<bool>,
    #[serde(default)]
    pub consent_share_pii: Option<bool>,
}

/// What Zalo said about the user (`/v2.0/me`, `/v2.0/me/info`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MiniappIdentity {
    pub user_id: String,
    pub display_name: Option<String>,
    /// From the phone token (`84…`).
    pub phone: Option<String>,
    /// From the location token.
    pub location: Option<Coordinates>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MiniappError {
    #[error("lat and lon must be given together and lie in range")]
    BadCoordinates,
}

/// Build the canonical report (attachments are added by the gateway from the uploaded media).
pub fn normalize_miniapp(
    envelope: Envelope,
    sub: &MiniappSubmission,
    identity: &MiniappIdentity,
) -> Result<Report, MiniappError> {
    let typed_point = match (sub.lat, sub.lon) {
        (Some(lat), Some(lon)) => {
            let c = Coordinates { lat, lon };
            if !c.is_plausible() {
                return Err(MiniappError::BadCoordinates);
            }
            Some(c)
        }
        (None, None) => None,
        _ => return Err(MiniappError::BadCoordinates),
    };
    let coordinates = match identity.location {
        Some(c) => Some((c, CoordinatesSource::ZaloLocation)),
        None => typed_point.map(|c| (c, CoordinatesSource::Given)),
    };
    let mut report = IntakeFields {
        content: &sub.content,
        reporter_kind: None,
        name: non_empty(sub.name.as_deref()).or(identity.display_name.as_deref()),
        phone: sub.phone.as_deref(),
        email: sub.email.as_deref(),
        category: sub.category.as_ref(),
        occurred_at: sub.occurred_at,
        address: sub.address.as_deref(),
        coordinates,
        confidential: sub.confidential,
        consent_share_pii: sub.consent_share_pii,
    }
    .into_report(envelope);
    let r = &mut report.reporter;
    // The number Zalo vouches for (phone token) wins over a typed one.
    if let Some(phone) = identity.phone.as_deref() {
        r.phone = Some(phone_as_given(phone));
    }
    r.channel_identity = Some(identity.user_id.clone());
    r.verified_by = VerifiedBy::Zalo;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Channel;

    fn envelope() -> Envelope {
        Envelope {
            id: "01J".into(),
            tracking_code: "ABC".into(),
            channel: Channel::ZaloMiniapp,
            channel_ref: Some("k1".into()),
            received_at: DateTime::parse_from_rfc3339("2026-11-30T02:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
        }
    }

    #[test]
    fn exchanged_phone_and_location_win_over_typed_ones() {
        let sub = MiniappSubmission {
            content: "Cống thoát nước bị tắc.".into(),
            phone: Some("0987 654 321".into()),
            lat: Some(10.5),
            lon: Some(106.4),
            ..MiniappSubmission::default()
        };
        let id = MiniappIdentity {
            user_id: "Z1".into(),
            display_name: Some("Lê Văn Cường".into()),
            phone: Some("84912345678".into()),
            location: Some(Coordinates {
                lat: 10.54,
                lon: 106.41,
            }),
        };
        let r = normalize_miniapp(envelope(), &sub, &id).unwrap();
        assert_eq!(r.reporter.phone.as_deref(), Some("+84912345678"));
        assert_eq!(r.reporter.name.as_deref(), Some("Lê Văn Cường"));
        assert_eq!(r.reporter.verified_by, VerifiedBy::Zalo);
        assert_eq!(r.location.coordinates.unwrap().lat, 10.54);
        assert_eq!(
            r.location.coordinates_source,
            Some(CoordinatesSource::ZaloLocation)
        );

        let bare = MiniappIdentity {
            user_id: "Z1".into(),
            ..MiniappIdentity::default()
        };
        let r = normalize_miniapp(envelope(), &sub, &bare).unwrap();
        assert_eq!(r.reporter.phone.as_deref(), Some("+84987654321"));
        assert_eq!(
            r.location.coordinates_source,
            Some(CoordinatesSource::Given)
        );
    }

    #[test]
    fn half_coordinates_are_malformed() {
        let sub = MiniappSubmission {
            content: "x".into(),
            lat: Some(10.0),
            ..MiniappSubmission::default()
        };
        let id = MiniappIdentity::default();
        assert_eq!(
            normalize_miniapp(envelope(), &sub, &id),
            Err(MiniappError::BadCoordinates)
        );
    }
}
