//! Distance between two points on the Earth, for "the same place".

use crate::report::Coordinates;

/// Great-circle distance in metres (haversine, mean Earth radius).
pub fn distance_m(a: Coordinates, b: Coordinates) -> f64 {
    const R: f64 = 6_371_008.8;
    let (la1, la2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = la2 - la1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * R * h.sqrt().min(1.0).asin()
}
