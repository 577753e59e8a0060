//! LOCATION_OUTSIDE (Đ1): the address names a place outside the former Long An province
//! (another province, a district of the former Tây Ninh province: it wins over a namesake of
//! ours, and the message names it), or the coordinates lie outside, margin included (the margin
//! is part of [`crate::geo::Geo`]).
//!
//! Uses the boundary in [`Context::geo`] when there is one, else `location.inside_jurisdiction`
//! as the pipeline recorded it. No coordinates, or implausible ones, is LOCATION_MISSING's
//! business, not this check's.

use serde_json::json;

use crate::messages;
use crate::report::{CoordinatesSource, Report};
use crate::validate::{Check, Code, Context, Hit};

pub struct LocationOutside;

impl Check for LocationOutside {
    fn code(&self) -> Code {
        Code::LocationOutside
    }

    fn run(&self, report: &Report, ctx: &Context<'_>, hits: &mut Vec<Hit>) {
        let loc = &report.location;
        let named_outside = ctx.geo.and_then(|geo| {
            let address = loc.address.as_deref().filter(|a| !a.trim().is_empty())?;
            geo.gazetteer().analyse(address).outside
        });
        if let Some(place) = named_outside {
            // The place's name, not the address: no personal data in the detail.
            hits.push(
                Hit::new(
                    "location.address",
                    messages::geo::location_outside_address(&place.name),
                )
                .with_detail(json!({ "source": "address", "place": place.name })),
            );
            return;
        }
        let Some(point) = loc.coordinates.filter(|c| c.is_plausible()) else {
            return;
        };
        let inside = match ctx.geo {
            Some(geo) => geo.inside(point),
            None => loc.inside_jurisdiction.unwrap_or(true),
        };
        if inside {
            return;
        }
        let message = match loc.coordinates_source {
            Some(CoordinatesSource::ExifGps) => messages::geo::LOCATION_OUTSIDE_PHOTO,
            _ => messages::LOCATION_OUTSIDE,
        };
        // The distance (rounded to 100 m) tells the IOC whether it is a border case; the exact
        // point is already on the report.
        let detail = match ctx.geo {
            Some(geo) => json!({
                "distance_km": (geo.boundary().distance_m(point) / 100.0).round() / 10.0,
                "margin_km": geo.margin_m() / 1000.0,
            }),
            None => json!({}),
        };
        hits.push(Hit::new("location.coordinates", message).with_detail(detail));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::Geo;
    use crate::report::{Channel, Coordinates, Envelope};
    use crate::validate::{Action, Status, ValidationConfig, Validator};
    use chrono::TimeZone;

    fn report(lat: f64, lon: f64, source: CoordinatesSource) -> Report {
        let mut r = Report::new(Envelope {
            id: "01J".into(),
            tracking_code: "ABC".into(),
            channel: Channel::ZaloOa,
            channel_ref: None,
            received_at: chrono::Utc.with_ymd_and_hms(2026, 11, 30, 3, 0, 0).unwrap(),
        });
        r.location.coordinates = Some(Coordinates { lat, lon });
        r.location.coordinates_source = Some(source);
        r
    }

    fn hits(r: &Report, geo: Option<&Geo>) -> Vec<Hit> {
        let config = ValidationConfig::default();
        let mut ctx = Context::new(r.received_at, &config);
        ctx.geo = geo;
        let mut hits = Vec::new();
        LocationOutside.run(r, &ctx, &mut hits);
        hits
    }

    #[test]
    fn inside_the_area_is_not_flagged() {
        let r = report(10.5356, 106.4131, CoordinatesSource::ZaloLocation);
        assert!(hits(&r, Some(Geo::embedded())).is_empty());
    }

    #[test]
    fn ho_chi_minh_city_is_flagged_with_its_distance() {
        let r = report(10.7769, 106.7009, CoordinatesSource::ZaloLocation);
        let h = hits(&r, Some(Geo::embedded()));
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].message, messages::LOCATION_OUTSIDE);
        let km = h[0].detail.as_ref().unwrap()["distance_km"]
            .as_f64()
            .unwrap();
        assert!(km > 2.0 && km < 40.0, "{km}");
        let photo = report(10.7769, 106.7009, CoordinatesSource::ExifGps);
        assert_eq!(
            hits(&photo, Some(Geo::embedded()))[0].message,
            messages::geo::LOCATION_OUTSIDE_PHOTO
        );
    }

    #[test]
    fn the_flag_does_not_reject_by_default() {
        let r = report(21.0285, 105.8542, CoordinatesSource::Given);
        let config = ValidationConfig::default();
        let mut ctx = Context::new(r.received_at, &config);
        ctx.geo = Some(Geo::embedded());
        let verdict = Validator::with_checks(vec![Box::new(LocationOutside)]).validate(&r, &ctx);
        assert_eq!(verdict.status, Status::NeedsReview);
        assert_eq!(verdict.flags[0].code, Code::LocationOutside);
        assert_eq!(Code::LocationOutside.default_action(), Action::Flag);
    }

    #[test]
    fn an_address_in_another_province_is_flagged_naming_the_place() {
        let mut r = report(10.5356, 106.4131, CoordinatesSource::ExifGps);
        r.location.address = Some("ấp 4, xã Tân Hội Đông, huyện Châu Thành, Tiền Giang".into());
        let h = hits(&r, Some(Geo::embedded()));
        assert_eq!(h.len(), 1, "the address wins over coordinates inside");
        assert_eq!(h[0].field, "location.address");
        assert!(h[0].message.contains("tỉnh Tiền Giang"), "{}", h[0].message);
        assert_eq!(h[0].detail.as_ref().unwrap()["source"], "address");
        r.location.coordinates = None;
        r.location.address = Some("Gò Dầu, Tây Ninh".into());
        let h = hits(&r, Some(Geo::embedded()));
        assert!(h[0].message.contains("huyện Gò Dầu"), "{}", h[0].message);
        r.location.address = Some("xã Mỹ Yên, tỉnh Tây Ninh".into());
        assert!(
            hits(&r, Some(Geo::embedded())).is_empty(),
            "the new province"
        );
        r.location.address = Some("Gò Dầu, Tây Ninh".into());
        assert!(hits(&r, None).is_empty(), "no gazetteer: not judged");
    }

    #[test]
    fn without_a_boundary_the_recorded_answer_is_used() {
        let mut r = report(21.0285, 105.8542, CoordinatesSource::Given);
        assert!(hits(&r, None).is_empty(), "unknown: not flagged");
        r.location.inside_jurisdiction = Some(false);
        assert_eq!(hits(&r, None).len(), 1);
    }
}
