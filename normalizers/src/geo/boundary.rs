//! The jurisdiction outline (ranh giới) and the point-in-polygon test with a margin.
//!
//! The outline is a GeoJSON (Multi)Polygon in WGS84 lon/lat. A point is inside when it lies in
//! the polygon (even-odd rule over the outer ring and its holes) or within `margin_m` metres of
//! its edge: GPS error, a photo taken from the bank of the boundary river, and the simplified
//! outline all put real reports a little outside. Distances use a local equirectangular
//! projection, accurate to well under a metre at this scale and latitude.

use serde_json::Value;

use super::GeoError;
use crate::report::Coordinates;

/// Metres per degree of latitude (WGS84 mean).
const M_PER_DEG_LAT: f64 = 110_574.0;
/// Metres per degree of longitude at the equator.
const M_PER_DEG_LON: f64 = 111_320.0;

#[derive(Debug, Clone, Copy, PartialEq)]
struct BBox {
    min_lon: f64,
    min_lat: f64,
    max_lon: f64,
    max_lat: f64,
}

impl BBox {
    fn of(points: &[(f64, f64)]) -> Option<BBox> {
        let first = points.first()?;
        let mut b = BBox {
            min_lon: first.0,
            min_lat: first.1,
            max_lon: first.0,
            max_lat: first.1,
        };
        for &(lon, lat) in points {
            b.min_lon = b.min_lon.min(lon);
            b.max_lon = b.max_lon.max(lon);
            b.min_lat = b.min_lat.min(lat);
            b.max_lat = b.max_lat.max(lat);
        }
        Some(b)
    }

    fn union(self, o: BBox) -> BBox {
        BBox {
            min_lon: self.min_lon.min(o.min_lon),
            min_lat: self.min_lat.min(o.min_lat),
            max_lon: self.max_lon.max(o.max_lon),
            max_lat: self.max_lat.max(o.max_lat),
        }
    }

    /// Whether (lon, lat) lies in the box grown by `margin_m` metres.
    fn contains(&self, lon: f64, lat: f64, margin_m: f64) -> bool {
        let dlat = margin_m / M_PER_DEG_LAT;
        let dlon = margin_m / (M_PER_DEG_LON * lat.to_radians().cos().max(0.01));
        lon >= self.min_lon - dlon
            && lon <= self.max_lon + dlon
            && lat >= self.min_lat - dlat
            && lat <= self.max_lat + dlat
    }
}

#[derive(Debug, Clone)]
struct Polygon {
    /// Outer ring first, then holes; each ring closed or not, as given.
    rings: Vec<Vec<(f64, f64)>>,
    bbox: BBox,
}

/// A (multi)polygon outline with a bounding box.
#[derive(Debug, Clone)]
pub struct Boundary {
    polygons: Vec<Polygon>,
    bbox: BBox,
}

impl Boundary {
    /// Read a GeoJSON FeatureCollection, Feature or bare Polygon/MultiPolygon geometry. Every
    /// polygon of every feature becomes part of the outline.
    pub fn from_geojson(text: &str) -> Result<Boundary, GeoError> {
        let value: Value = serde_json::from_str(text).map_err(|e| GeoError::BoundaryJson {
            reason: e.to_string(),
        })?;
        let mut polygons = Vec::new();
        collect(&value, &mut polygons)?;
        let bbox = polygons
            .iter()
            .map(|p| p.bbox)
            .reduce(BBox::union)
            .ok_or(GeoError::BoundaryEmpty)?;
        Ok(Boundary { polygons, bbox })
    }

    /// One outline per feature of a GeoJSON FeatureCollection, with the feature's
    /// `properties.code` (else its `id`) as a string. Features without a code are an error: the
    /// caller matches them to gazetteer units by code.
    pub fn per_feature(text: &str) -> Result<Vec<(String, Boundary)>, GeoError> {
        let value: Value = serde_json::from_str(text).map_err(|e| GeoError::BoundaryJson {
            reason: e.to_string(),
        })?;
        let features = value
            .get("features")
            .and_then(Value::as_array)
            .ok_or_else(|| shape("expected a FeatureCollection"))?;
        let mut out = Vec::with_capacity(features.len());
        for feature in features {
            let code = feature
                .get("properties")
                .and_then(|p| p.get("code"))
                .or_else(|| feature.get("id"))
                .and_then(|c| match c {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .ok_or_else(|| shape("feature without `properties.code` or `id`"))?;
            let mut polygons = Vec::new();
            collect(feature, &mut polygons)?;
            let bbox = polygons
                .iter()
                .map(|p| p.bbox)
                .reduce(BBox::union)
                .ok_or(GeoError::BoundaryEmpty)?;
            out.push((code, Boundary { polygons, bbox }));
        }
        Ok(out)
    }

    /// Whether the point lies inside the outline or within `margin_m` metres of it.
    pub fn contains(&self, point: Coordinates, margin_m: f64) -> bool {
        let (lon, lat) = (point.lon, point.lat);
        if !point.is_plausible() || !self.bbox.contains(lon, lat, margin_m) {
            return false;
        }
        let inside = self
            .polygons
            .iter()
            .filter(|p| p.bbox.contains(lon, lat, 0.0))
            .any(|p| inside_rings(&p.rings, lon, lat));
        inside || (margin_m > 0.0 && self.distance_m(point) <= margin_m)
    }

    /// Distance in metres from the point to the nearest edge of the outline.
    pub fn distance_m(&self, point: Coordinates) -> f64 {
        let kx = M_PER_DEG_LON * point.lat.to_radians().cos();
        let ky = M_PER_DEG_LAT;
        let mut best = f64::INFINITY;
        for polygon in &self.polygons {
            for ring in &polygon.rings {
                for edge in ring.windows(2) {
                    let (ax, ay) = ((edge[0].0 - point.lon) * kx, (edge[0].1 - point.lat) * ky);
                    let (bx, by) = ((edge[1].0 - point.lon) * kx, (edge[1].1 - point.lat) * ky);
                    best = best.min(distance_to_segment(ax, ay, bx, by));
                }
            }
        }
        best
    }

    /// (min lon, min lat, max lon, max lat).
    pub fn bbox(&self) -> [f64; 4] {
        [
            self.bbox.min_lon,
            self.bbox.min_lat,
            self.bbox.max_lon,
            self.bbox.max_lat,
        ]
    }
}

/// Distance from the origin to segment AB.
fn distance_to_segment(ax: f64, ay: f64, bx: f64, by: f64) -> f64 {
    let (dx, dy) = (bx - ax, by - ay);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 {
        0.0
    } else {
        (-(ax * dx + ay * dy) / len2).clamp(0.0, 1.0)
    };
    let (px, py) = (ax + t * dx, ay + t * dy);
    (px * px + py * py).sqrt()
}

/// Even-odd rule over all rings: a point in a hole is outside.
fn inside_rings(rings: &[Vec<(f64, f64)>], lon: f64, lat: f64) -> bool {
    let mut inside = false;
    for ring in rings {
        let n = ring.len();
        if n < 3 {
            continue;
        }
        let mut j = n - 1;
        for i in 0..n {
            let (xi, yi) = ring[i];
            let (xj, yj) = ring[j];
            if (yi > lat) != (yj > lat) && lon < (xj - xi) * (lat - yi) / (yj - yi) + xi {
                inside = !inside;
            }
            j = i;
        }
    }
    inside
}

fn collect(value: &Value, out: &mut Vec<Polygon>) -> Result<(), GeoError> {
    match value.get("type").and_then(Value::as_str) {
        Some("FeatureCollection") => {
            let features = value
                .get("features")
                .and_then(Value::as_array)
                .ok_or_else(|| shape("FeatureCollection without `features`"))?;
            for f in features {
                collect(f, out)?;
            }
        }
        Some("Feature") => {
            if let Some(g) = value.get("geometry").filter(|g| !g.is_null()) {
                collect(g, out)?;
            }
        }
        Some("GeometryCollection") => {
            for g in value
                .get("geometries")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                collect(g, out)?;
            }
        }
        Some("Polygon") => out.push(polygon(coordinates(value)?)?),
        Some("MultiPolygon") => {
            let polys = coordinates(value)?
                .as_array()
                .ok_or_else(|| shape("MultiPolygon coordinates are not an array"))?;
            for p in polys {
                out.push(polygon(p)?);
            }
        }
        // Points and lines carry no area: ignore them.
        Some(_) => {}
        None => return Err(shape("object without `type`")),
    }
    Ok(())
}

fn coordinates(value: &Value) -> Result<&Value, GeoError> {
    value
        .get("coordinates")
        .ok_or_else(|| shape("geometry without `coordinates`"))
}

fn polygon(rings: &Value) -> Result<Polygon, GeoError> {
    let rings = rings
        .as_array()
        .ok_or_else(|| shape("polygon is not an array of rings"))?
        .iter()
        .map(|ring| {
            ring.as_array()
                .ok_or_else(|| shape("ring is not an array"))?
                .iter()
                .map(|p| {
                    let lon = p.get(0).and_then(Value::as_f64);
                    let lat = p.get(1).and_then(Value::as_f64);
                    match (lon, lat) {
                        (Some(lon), Some(lat)) => Ok((lon, lat)),
                        _ => Err(shape("position is not [lon, lat]")),
                    }
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bbox = rings
        .first()
        .and_then(|r| BBox::of(r))
        .ok_or(GeoError::BoundaryEmpty)?;
    Ok(Polygon { rings, bbox })
}

fn shape(reason: &str) -> GeoError {
    GeoError::BoundaryJson {
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 0.1° square near Tân An with a 0.02° hole in its middle.
    const SQUARE: &str = r#"{"type":"Feature","geometry":{"type":"Polygon","coordinates":[
        [[106.3,10.5],[106.4,10.5],[106.4,10.6],[106.3,10.6],[106.3,10.5]],
        [[106.34,10.54],[106.36,10.54],[106.36,10.56],[106.34,10.56],[106.34,10.54]]]}}"#;

    fn at(lat: f64, lon: f64) -> Coordinates {
        Coordinates { lat, lon }
    }

    #[test]
    fn inside_outside_hole_and_margin() {
        let b = Boundary::from_geojson(SQUARE).unwrap();
        assert!(b.contains(at(10.52, 106.32), 0.0));
        assert!(!b.contains(at(10.55, 106.35), 0.0), "in the hole");
        // 0.01° of latitude is about 1.1 km.
        let just_north = at(10.61, 106.35);
        assert!(!b.contains(just_north, 0.0));
        assert!(b.contains(just_north, 2_000.0));
        assert!(!b.contains(just_north, 1_000.0));
        let d = b.distance_m(just_north);
        assert!((d - 1_105.7).abs() < 5.0, "{d}");
        assert!(!b.contains(at(10.8, 106.7), 2_000.0));
        assert!(
            !b.contains(at(0.0, 0.0), 1e9),
            "null island is never inside"
        );
    }

    #[test]
    fn malformed_geojson_is_an_error_not_a_panic() {
        assert!(Boundary::from_geojson("{").is_err());
        assert!(Boundary::from_geojson(r#"{"type":"Polygon"}"#).is_err());
        assert!(Boundary::from_geojson(r#"{"type":"Polygon","coordinates":[[["a",1]]]}"#).is_err());
        assert!(matches!(
            Boundary::from_geojson(r#"{"type":"FeatureCollection","features":[]}"#),
            Err(GeoError::BoundaryEmpty)
        ));
    }
}
