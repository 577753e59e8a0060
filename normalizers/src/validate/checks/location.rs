//! LOCATION_MISSING (Đ6.2, Đ7.2): plausible coordinates, or an address that matches the gazetteer.
//!
//! With the gazetteer in the context ([`Context::geo`]) an address counts only when it names a
//! commune, ward or district of the area (matched by the pipeline into `location.admin`, or here
//! when the check runs alone). The message then says what is missing: nothing given, an address
//! naming no known place, or a name shared by several places. Without a gazetteer the check falls
//! back to "coordinates or an address of some substance". An address naming a place outside the
//! area (another province) is not missing: LOCATION_OUTSIDE answers it.

use serde_json::json;

use crate::messages;
use crate::report::Report;
use crate::validate::{Check, Code, Context, Hit};

pub struct LocationMissing;

/// Letters and digits an address needs when no gazetteer is available.
const MIN_ADDRESS_CHARS: usize = 6;

impl Check for LocationMissing {
    fn code(&self) -> Code {
        Code::LocationMissing
    }

    fn run(&self, report: &Report, ctx: &Context<'_>, hits: &mut Vec<Hit>) {
        let loc = &report.location;
        if loc.coordinates.is_some_and(|c| c.is_plausible()) || loc.admin.is_some() {
            return;
        }
        let address = loc
            .address
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty());
        let Some(geo) = ctx.geo else {
            let substantial = address.is_some_and(|a| {
                a.chars().filter(|c| c.is_alphanumeric()).count() >= MIN_ADDRESS_CHARS
            });
            if !substantial {
                hits.push(Hit::new("location", messages::LOCATION_MISSING));
            }
            return;
        };
        let Some(address) = address else {
            hits.push(
                Hit::new("location", messages::LOCATION_MISSING)
                    .with_detail(json!({ "reason": "no_address" })),
            );
            return;
        };
        let analysis = geo.gazetteer().analyse(address);
        // A place outside the area is a place: LOCATION_OUTSIDE says where it is.
        if analysis.admin.is_some() || analysis.outside.is_some() {
            return;
        }
        if analysis.mentions.is_empty() {
            hits.push(
                Hit::new("location.address", messages::geo::LOCATION_UNMATCHED)
                    .with_detail(json!({ "reason": "unmatched" })),
            );
        } else {
            let names: Vec<String> = analysis.mentions.iter().map(|m| m.text.clone()).collect();
            hits.push(
                Hit::new(
                    "location.address",
                    messages::geo::location_ambiguous(&names),
                )
                .with_detail(json!({ "reason": "ambiguous", "names": names })),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::Geo;
    use crate::report::{Channel, Coordinates, Envelope, Report};
    use crate::validate::ValidationConfig;
    use chrono::TimeZone;

    fn report(address: Option<&str>, coordinates: Option<Coordinates>) -> Report {
        let mut r = Report::new(Envelope {
            id: "01J".into(),
            tracking_code: "ABC".into(),
            channel: Channel::App,
            channel_ref: None,
            received_at: chrono::Utc.with_ymd_and_hms(2026, 11, 30, 3, 0, 0).unwrap(),
        });
        r.location.address = address.map(str::to_string);
        r.location.coordinates = coordinates;
        r
    }

    fn run(r: &Report, geo: Option<&Geo>) -> Vec<Hit> {
        let config = ValidationConfig::default();
        let mut ctx = Context::new(r.received_at, &config);
        ctx.geo = geo;
        let mut hits = Vec::new();
        LocationMissing.run(r, &ctx, &mut hits);
        hits
    }

    #[test]
    fn an_address_in_the_gazetteer_or_coordinates_suffice() {
        let geo = Some(Geo::embedded());
        assert!(run(&report(Some("ấp 3, xã Mỹ Yên, huyện Bến Lức"), None), geo).is_empty());
        let tan_an = Coordinates {
            lat: 10.5356,
            lon: 106.4131,
        };
        assert!(run(&report(None, Some(tan_an)), geo).is_empty());
    }

    #[test]
    fn an_address_that_names_no_place_is_missing_and_says_why() {
        let geo = Some(Geo::embedded());
        let hits = run(&report(Some("123 Nguyễn Huệ, gần chợ"), None), geo);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].message, messages::geo::LOCATION_UNMATCHED);
        assert_eq!(hits[0].detail.as_ref().unwrap()["reason"], "unmatched");
        // Null island from a broken GPS writer is no location either.
        let zero = Coordinates { lat: 0.0, lon: 0.0 };
        let hits = run(&report(None, Some(zero)), geo);
        assert_eq!(hits[0].message, messages::LOCATION_MISSING);
    }

    #[test]
    fn an_ambiguous_name_asks_for_the_district() {
        let hits = run(&report(Some("Phường 1"), None), Some(Geo::embedded()));
        assert_eq!(hits.len(), 1);
        assert!(
            hits[0].message.contains("\"Phường 1\""),
            "{}",
            hits[0].message
        );
        assert!(hits[0].message.contains("trùng với nhiều nơi"));
        assert_eq!(hits[0].detail.as_ref().unwrap()["reason"], "ambiguous");
    }

    #[test]
    fn an_address_in_another_province_is_not_missing() {
        let geo = Some(Geo::embedded());
        for address in [
            "huyện Châu Thành, tỉnh Trà Vinh",
            "TP. Mỹ Tho",
            "Bến Cầu, Tây Ninh",
        ] {
            assert!(
                run(&report(Some(address), None), geo).is_empty(),
                "{address}"
            );
        }
    }

    #[test]
    fn without_a_gazetteer_any_substantial_address_passes() {
        assert!(run(&report(Some("123 Nguyễn Huệ, gần chợ"), None), None).is_empty());
        assert_eq!(run(&report(Some("gần"), None), None).len(), 1);
        assert_eq!(run(&report(None, None), None).len(), 1);
    }
}
