//! Where a report is (R-VAL-LOC): the gazetteer of administrative units and the boundary of the
//! former Long An province.
//!
//! [`Geo`] bundles both. The shipped data (`normalizers/data/geo/`, MIT, see its NOTICE.md) is
//! compiled in and parsed once by [`Geo::embedded`]; the gateway can load replacement files named
//! in its configuration and hand their contents to [`Geo::from_sources`] (this crate opens no
//! files). Both generations of units are known: the 15 districts and 186 communes before the
//! 2025-07-01 reform, the 60 communes and wards after it, and the mapping between them. With the
//! outlines of the 60 new communes, a point without an address is placed in its commune.
//!
//! # Layout
//! - `tsv`: the tab-separated tables of the data files.
//! - `gazetteer`: units of both generations and the index of their names.
//! - `matcher`: the address matcher (mentions, hypotheses, resolution) over the gazetteer.
//! - `boundary`: the outline and the point-in-polygon test with a margin.
//! - `tests_gazetteer`: the matcher over the shipped data (every unit, real address shapes).

pub mod boundary;
pub mod gazetteer;
pub mod matcher;
#[cfg(test)]
mod tests_gazetteer;
mod tsv;

use std::sync::OnceLock;

use serde_json::json;

pub use boundary::Boundary;
pub use gazetteer::Gazetteer;
pub use matcher::Analysis;

use crate::report::{AdminMatch, Coordinates};

/// Default tolerance around the boundary: a point this close outside still counts as inside.
pub const DEFAULT_MARGIN_M: f64 = 2_000.0;

/// Why gazetteer or boundary data could not be loaded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GeoError {
    #[error("{file} table is empty")]
    Empty { file: &'static str },
    #[error("{file} table has no column `{column}`")]
    MissingColumn {
        file: &'static str,
        column: &'static str,
    },
    #[error("{file} table, line {line}: missing cells")]
    BadRow { file: &'static str, line: usize },
    #[error("{file} table, line {line}: `{name}` does not start with a unit kind (xã, phường, thị trấn, huyện, thị xã, thành phố)")]
    UnknownPrefix {
        file: &'static str,
        line: usize,
        name: String,
    },
    #[error("boundary GeoJSON is invalid: {reason}")]
    BoundaryJson { reason: String },
    #[error("boundary GeoJSON has no polygon")]
    BoundaryEmpty,
    #[error("commune outline with code `{code}` matches no commune of the gazetteer")]
    UnknownCommuneCode { code: String },
}

/// The contents of the data files (formats of `normalizers/data/geo/`).
#[derive(Debug, Clone, Copy)]
pub struct GeoSources<'a> {
    /// Pre-2025 units: district_code, district_full_name, ward_code, ward_full_name.
    pub old_units_tsv: &'a str,
    /// Post-2025 communes: ward_code, ward_full_name.
    pub new_units_tsv: &'a str,
    /// Old → new: old_district, old_ward, new_ward.
    pub old_to_new_tsv: &'a str,
    /// Outline of the jurisdiction: GeoJSON (Multi)Polygon, Feature or FeatureCollection.
    pub boundary_geojson: &'a str,
    /// Optional outlines of the new communes (FeatureCollection, `properties.code` = GSO code):
    /// lets a point without an address be placed in its commune.
    pub communes_geojson: Option<&'a str>,
}

/// The shipped data.
pub const EMBEDDED_SOURCES: GeoSources<'static> = GeoSources {
    old_units_tsv: include_str!("../../data/geo/long_an_admin_units_pre2025-07.tsv"),
    new_units_tsv: include_str!("../../data/geo/long_an_area_communes_2025.tsv"),
    old_to_new_tsv: include_str!("../../data/geo/long_an_old_to_new_2025.tsv"),
    boundary_geojson: include_str!("../../data/geo/long_an_boundary_derived.geojson"),
    communes_geojson: Some(include_str!(
        "../../data/geo/long_an_area_communes_2025.geojson"
    )),
};

/// Gazetteer + boundary + margin.
#[derive(Debug, Clone)]
pub struct Geo {
    gazetteer: Gazetteer,
    boundary: Boundary,
    /// Outline of each new commune, by index into the gazetteer's new communes.
    communes: Vec<(usize, Boundary)>,
    margin_m: f64,
}

impl Geo {
    /// Parse the files. The margin starts at [`DEFAULT_MARGIN_M`].
    pub fn from_sources(sources: GeoSources<'_>) -> Result<Geo, GeoError> {
        let gazetteer = Gazetteer::from_tsv(
            sources.old_units_tsv,
            sources.new_units_tsv,
            sources.old_to_new_tsv,
        )?;
        let mut communes = Vec::new();
        if let Some(text) = sources.communes_geojson {
            for (code, outline) in Boundary::per_feature(text)? {
                let index = gazetteer
                    .new_commune_index(&code)
                    .ok_or(GeoError::UnknownCommuneCode { code })?;
                communes.push((index, outline));
            }
        }
        Ok(Geo {
            gazetteer,
            boundary: Boundary::from_geojson(sources.boundary_geojson)?,
            communes,
            margin_m: DEFAULT_MARGIN_M,
        })
    }

    /// The shipped data, parsed on first use and shared afterwards.
    pub fn embedded() -> &'static Geo {
        static GEO: OnceLock<Geo> = OnceLock::new();
        GEO.get_or_init(|| {
            // The shipped files are tested (`embedded_data_loads`): failing here is a build defect.
            Geo::from_sources(EMBEDDED_SOURCES).expect("the shipped geo data parses")
        })
    }

    /// Set the tolerance around the boundary, in metres (negative values count as 0).
    pub fn with_margin_m(mut self, margin_m: f64) -> Geo {
        self.margin_m = margin_m.max(0.0);
        self
    }

    pub fn margin_m(&self) -> f64 {
        self.margin_m
    }

    pub fn gazetteer(&self) -> &Gazetteer {
        &self.gazetteer
    }

    pub fn boundary(&self) -> &Boundary {
        &self.boundary
    }

    /// Match a free-text address against the gazetteer.
    pub fn locate(&self, address: &str) -> Option<AdminMatch> {
        self.gazetteer.locate(address)
    }

    /// The new commune a point lies in (its old district too when the commune was formed from
    /// one district only). A point in no commune but within the margin of one (a river bank, a
    /// seam between outlines) goes to the nearest. `None` without commune outlines or outside.
    pub fn commune_at(&self, point: Coordinates) -> Option<AdminMatch> {
        if !point.is_plausible() {
            return None;
        }
        let inside = self
            .communes
            .iter()
            .find(|(_, outline)| outline.contains(point, 0.0))
            .map(|(i, _)| (*i, 0.9));
        let nearest = || {
            self.communes
                .iter()
                .filter(|(_, outline)| outline.contains(point, self.margin_m))
                .map(|(i, outline)| (*i, outline.distance_m(point)))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(i, _)| (i, 0.6))
        };
        let (index, confidence) = inside.or_else(nearest)?;
        Some(self.gazetteer.new_commune_match(index, confidence))
    }

    /// Match the place named in a description (stricter than [`Geo::locate`]: unprefixed names
    /// count only when capitalised).
    pub fn locate_in_text(&self, text: &str) -> Option<AdminMatch> {
        self.gazetteer.locate_in_text(text)
    }

    /// Whether the point lies inside the jurisdiction, margin included.
    pub fn inside(&self, point: Coordinates) -> bool {
        self.boundary.contains(point, self.margin_m)
    }
}

/// The answer of `gateway locate TEXT`: the match, and the names read in the text with the
/// units each could be (to see why a match was or was not made).
pub fn locate_json(geo: &Geo, text: &str) -> serde_json::Value {
    let analysis = geo.gazetteer.analyse(text);
    json!({
        "input": text,
        "matched": analysis.admin.is_some(),
        "admin": analysis.admin,
        "mentions": analysis.mentions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geo() -> &'static Geo {
        Geo::embedded()
    }

    fn at(lat: f64, lon: f64) -> Coordinates {
        Coordinates { lat, lon }
    }

    #[test]
    fn embedded_data_loads() {
        let g = Geo::from_sources(EMBEDDED_SOURCES).unwrap();
        assert_eq!(g.gazetteer().counts(), (15, 186, 60));
        // The one row pointing outside the area: Phường 4 (Tân An) → Phường Tân Ninh.
        assert_eq!(g.gazetteer().skipped_mapping_rows(), 1);
        let [min_lon, min_lat, max_lon, max_lat] = g.boundary().bbox();
        assert!((105.4..105.6).contains(&min_lon) && (106.7..106.8).contains(&max_lon));
        assert!((10.3..10.5).contains(&min_lat) && (11.0..11.1).contains(&max_lat));
    }

    /// The shipped files are the corpus files (R-VAL-LOC data provenance), except the four
    /// mapping rows NOTICE.md lists as corrected.
    #[test]
    fn shipped_data_matches_the_corpus() {
        let Some(dir) = std::env::var_os("CORPUS_DIR")
            .map(|d| std::path::PathBuf::from(d).join("geo"))
            .filter(|d| d.is_dir())
        else {
            eprintln!("skipped: CORPUS_DIR not set");
            return;
        };
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
        assert_eq!(
            EMBEDDED_SOURCES.old_units_tsv,
            read("long_an_admin_units_pre2025-07.tsv")
        );
        assert_eq!(
            EMBEDDED_SOURCES.new_units_tsv,
            read("long_an_area_communes_2025.tsv")
        );
        assert_eq!(
            EMBEDDED_SOURCES.boundary_geojson,
            read("long_an_boundary_derived.geojson")
        );
        assert_eq!(
            EMBEDDED_SOURCES.communes_geojson,
            Some(read("long_an_area_communes_2025.geojson").as_str())
        );
        let corpus = read("long_an_old_to_new_2025.tsv");
        let shipped: Vec<&str> = EMBEDDED_SOURCES.old_to_new_tsv.lines().collect();
        let original: Vec<&str> = corpus.lines().collect();
        assert_eq!(shipped.len(), original.len());
        let changed: Vec<(&str, &str)> = original
            .iter()
            .zip(&shipped)
            .filter(|(a, b)| a != b)
            .map(|(a, b)| (*a, *b))
            .collect();
        assert_eq!(changed.len(), 4);
        for (before, after) in changed {
            assert!(before.contains("Huyện Tân Thạnh") && before.contains("\t\t"));
            assert_eq!(after, before.replace("\t\t", "\tXã Tân Thạnh\t"));
        }
    }

    #[test]
    fn known_places_are_inside_and_neighbours_outside() {
        let g = geo();
        assert!(g.inside(at(10.5356, 106.4131)), "Tân An centre");
        assert!(g.inside(at(10.6370, 106.4897)), "Bến Lức");
        assert!(g.inside(at(10.5190, 106.7040)), "Cần Giuộc");
        assert!(!g.inside(at(11.3100, 106.0980)), "Tây Ninh city");
        assert!(
            !g.inside(at(10.7769, 106.7009)),
            "Hồ Chí Minh City, District 1"
        );
        assert!(!g.inside(at(10.3600, 106.3650)), "Mỹ Tho");
        assert!(!g.inside(at(21.0285, 105.8542)), "Hà Nội");
    }

    #[test]
    fn a_point_is_placed_in_its_new_commune() {
        let g = geo();
        assert_eq!(g.communes.len(), 60);
        let m = g.commune_at(at(10.6370, 106.4897)).unwrap();
        assert_eq!(m.new_commune.as_deref(), Some("Xã Bến Lức"));
        assert_eq!(m.old_district.as_deref(), Some("Huyện Bến Lức"));
        assert_eq!(m.old_commune, None);
        assert_eq!(
            g.commune_at(at(10.7769, 106.7009)),
            None,
            "Hồ Chí Minh City"
        );
        assert_eq!(g.commune_at(at(0.0, 0.0)), None);
        // Every commune's own bbox centre is usually inside it; at least most must resolve to
        // themselves (concave outlines may put the centre in a neighbour).
        let own = g
            .communes
            .iter()
            .filter(|(i, outline)| {
                let [x0, y0, x1, y1] = outline.bbox();
                let centre = at((y0 + y1) / 2.0, (x0 + x1) / 2.0);
                g.commune_at(centre)
                    .and_then(|m| m.new_commune_code)
                    .is_some_and(|c| c == g.gazetteer.new_communes[*i].code)
            })
            .count();
        assert!(own >= 40, "{own} of 60");
    }

    #[test]
    fn without_commune_outlines_points_are_not_placed() {
        let g = Geo::from_sources(GeoSources {
            communes_geojson: None,
            ..EMBEDDED_SOURCES
        })
        .unwrap();
        assert_eq!(g.commune_at(at(10.6370, 106.4897)), None);
        assert!(g.inside(at(10.6370, 106.4897)));
        let bad = Geo::from_sources(GeoSources {
            communes_geojson: Some(
                r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"99999"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}}]}"#,
            ),
            ..EMBEDDED_SOURCES
        });
        assert!(matches!(bad, Err(GeoError::UnknownCommuneCode { .. })));
    }

    #[test]
    fn margin_is_configurable() {
        let g = geo();
        // Find a point just outside the outline: walk north from Tân An until outside with no
        // margin, then check the margin decides.
        let strict = g.clone().with_margin_m(0.0);
        let mut p = at(10.5356, 106.4131);
        while strict.inside(p) {
            p.lat += 0.001;
        }
        p.lat += 0.005; // ~550 m beyond the edge
        assert!(!strict.inside(p));
        assert!(g.inside(p), "default 2 km margin");
        assert!(!g.clone().with_margin_m(300.0).inside(p));
    }

    #[test]
    fn locate_json_explains_the_match() {
        let v = locate_json(geo(), "xã Mỹ Yên, huyện Bến Lức");
        assert_eq!(v["matched"], true);
        assert_eq!(v["admin"]["old_commune"], "Xã Mỹ Yên");
        assert_eq!(v["mentions"].as_array().map(Vec::len), Some(2));
        let v = locate_json(geo(), "không có địa chỉ");
        assert_eq!(v["matched"], false);
        assert!(v["admin"].is_null());
    }
}
