//! LOCATION_MISSING (Đ6.2, Đ7.2): coordinates, or an address that names a place.

use crate::messages;
use crate::report::Report;
use crate::validate::{Check, Code, Context, Hit};

pub struct LocationMissing;

impl Check for LocationMissing {
    fn code(&self) -> Code {
        Code::LocationMissing
    }

    fn run(&self, report: &Report, _ctx: &Context<'_>, hits: &mut Vec<Hit>) {
        let loc = &report.location;
        let has_coordinates = loc.coordinates.is_some_and(|c| c.is_plausible());
        let has_address = loc.admin.is_some()
            || loc
                .address
                .as_deref()
                .is_some_and(|a| a.chars().filter(|c| c.is_alphanumeric()).count() >= 6);
        if !has_coordinates && !has_address {
            hits.push(Hit::new("location", messages::LOCATION_MISSING));
        }
    }
}
