//! The gazetteer (danh mục đơn vị hành chính) of the Long An area: its units and the index of
//! their names.
//!
//! It knows three kinds of unit: the 15 pre-2025 districts (huyện, thị xã, thành phố), their 186
//! communes (xã, phường, thị trấn), and the 60 communes and wards formed on 2025-07-01, with the
//! old → new mapping between communes. Citizens write both generations of names for years, with
//! or without diacritics, with full or short prefixes ("P.5", "TT. Bến Lức", "H. Đức Hòa"): the
//! index is by folded bare name, and `matcher` reads addresses against it.

use std::collections::HashMap;

use serde::Serialize;

use super::tsv::Tsv;
use super::GeoError;
use crate::report::AdminMatch;
use crate::text::{folded_key, tokenize};

/// Kind of a pre-2025 district-level unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DistrictKind {
    /// Huyện.
    Huyen,
    /// Thị xã.
    ThiXa,
    /// Thành phố.
    ThanhPho,
    /// Quận (none in Long An; accepted as a prefix).
    Quan,
}

/// Kind of a commune-level unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CommuneKind {
    /// Xã.
    Xa,
    /// Phường.
    Phuong,
    /// Thị trấn (only before 2025).
    ThiTran,
}

#[derive(Debug, Clone)]
pub(crate) struct District {
    pub code: String,
    pub full_name: String,
    pub kind: DistrictKind,
}

#[derive(Debug, Clone)]
pub(crate) struct OldCommune {
    pub code: String,
    pub full_name: String,
    pub kind: CommuneKind,
    pub district: usize,
    /// Successor communes (several when the commune was divided).
    pub successors: Vec<usize>,
}

#[derive(Debug, Clone)]
pub(crate) struct NewCommune {
    pub code: String,
    pub full_name: String,
    pub kind: CommuneKind,
    /// The old district all its predecessor communes belonged to, when there is one.
    pub old_district: Option<usize>,
}

/// A unit of either generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Unit {
    District(usize),
    Old(usize),
    New(usize),
}

#[derive(Debug, Clone)]
pub(super) struct NameEntry {
    pub unit: Unit,
    /// Toned keys of the bare name's words.
    pub toned: Vec<String>,
    /// Whether the name is a ward number ("Phường 5" → "5").
    pub numeric: bool,
}

/// Districts, communes and the mapping between the two generations, indexed by name.
#[derive(Debug, Clone)]
pub struct Gazetteer {
    pub(crate) districts: Vec<District>,
    pub(crate) old_communes: Vec<OldCommune>,
    pub(crate) new_communes: Vec<NewCommune>,
    /// Folded bare name ("my yen") → the units with that name.
    pub(super) names: HashMap<String, Vec<NameEntry>>,
    pub(super) max_name_words: usize,
    /// Mapping rows that named a unit this gazetteer does not know (kept for `check-config`).
    skipped_mapping_rows: usize,
}

const DISTRICT_PREFIXES: [(&str, DistrictKind); 4] = [
    ("thành phố", DistrictKind::ThanhPho),
    ("thị xã", DistrictKind::ThiXa),
    ("huyện", DistrictKind::Huyen),
    ("quận", DistrictKind::Quan),
];

const COMMUNE_PREFIXES: [(&str, CommuneKind); 3] = [
    ("thị trấn", CommuneKind::ThiTran),
    ("phường", CommuneKind::Phuong),
    ("xã", CommuneKind::Xa),
];

/// Split "Huyện Bến Lức" into its kind and bare name.
fn split_prefix<K: Copy>(full: &str, prefixes: &[(&str, K)]) -> Option<(K, String)> {
    let tokens = tokenize(full);
    for (prefix, kind) in prefixes {
        let words: Vec<&str> = prefix.split(' ').collect();
        if tokens.len() > words.len() && words.iter().zip(&tokens).all(|(w, t)| t.is(w)) {
            let start = tokens[words.len()].start;
            let full_nfc = crate::text::nfc(full);
            return Some((*kind, full_nfc[start..].trim().to_string()));
        }
    }
    None
}

/// Key that joins names across files regardless of tone placement and case.
fn join_key(full_name: &str) -> String {
    tokenize(full_name)
        .iter()
        .map(|t| t.toned.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The pre-2025 table read: districts and their communes, with the keys the mapping table
/// joins on.
struct OldUnits {
    districts: Vec<District>,
    communes: Vec<OldCommune>,
    district_by_key: HashMap<String, usize>,
    commune_by_key: HashMap<(usize, String), usize>,
}

impl OldUnits {
    fn read(tsv: &str) -> Result<Self, GeoError> {
        let table = Tsv::parse("old units", tsv)?;
        let (c_dcode, c_dname) = (
            table.column("district_code")?,
            table.column("district_full_name")?,
        );
        let (c_wcode, c_wname) = (table.column("ward_code")?, table.column("ward_full_name")?);
        let mut units = OldUnits {
            districts: Vec::new(),
            communes: Vec::new(),
            district_by_key: HashMap::new(),
            commune_by_key: HashMap::new(),
        };
        let mut district_by_code: HashMap<String, usize> = HashMap::new();
        for (line, row) in &table.rows {
            let dcode = table.cell(*line, row, c_dcode)?;
            let dname = table.cell(*line, row, c_dname)?;
            let district = match district_by_code.get(dcode) {
                Some(&i) => i,
                None => {
                    let kind = kind_of(&table, *line, dname, &DISTRICT_PREFIXES)?;
                    let i = units.add_district(dcode, dname, kind);
                    district_by_code.insert(dcode.to_string(), i);
                    i
                }
            };
            let wname = table.cell(*line, row, c_wname)?;
            let kind = kind_of(&table, *line, wname, &COMMUNE_PREFIXES)?;
            units.communes.push(OldCommune {
                code: table.cell(*line, row, c_wcode)?.to_string(),
                full_name: crate::text::nfc(wname),
                kind,
                district,
                successors: Vec::new(),
            });
            units
                .commune_by_key
                .insert((district, join_key(wname)), units.communes.len() - 1);
        }
        Ok(units)
    }

    fn add_district(&mut self, code: &str, name: &str, kind: DistrictKind) -> usize {
        self.districts.push(District {
            code: code.to_string(),
            full_name: crate::text::nfc(name),
            kind,
        });
        let i = self.districts.len() - 1;
        self.district_by_key.insert(join_key(name), i);
        i
    }
}

/// The post-2025 table read: the new communes, with the key the mapping table joins on.
struct NewUnits {
    communes: Vec<NewCommune>,
    by_key: HashMap<String, usize>,
}

impl NewUnits {
    fn read(tsv: &str) -> Result<Self, GeoError> {
        let table = Tsv::parse("new units", tsv)?;
        let (c_code, c_name) = (table.column("ward_code")?, table.column("ward_full_name")?);
        let mut units = NewUnits {
            communes: Vec::new(),
            by_key: HashMap::new(),
        };
        for (line, row) in &table.rows {
            let name = table.cell(*line, row, c_name)?;
            let kind = kind_of(&table, *line, name, &COMMUNE_PREFIXES)?;
            units.communes.push(NewCommune {
                code: table.cell(*line, row, c_code)?.to_string(),
                full_name: crate::text::nfc(name),
                kind,
                old_district: None,
            });
            units
                .by_key
                .insert(join_key(name), units.communes.len() - 1);
        }
        Ok(units)
    }
}

/// The kind a unit's full name starts with, or the error naming the row.
fn kind_of<K: Copy>(
    table: &Tsv<'_>,
    line: usize,
    full_name: &str,
    prefixes: &[(&str, K)],
) -> Result<K, GeoError> {
    split_prefix(full_name, prefixes)
        .map(|(kind, _)| kind)
        .ok_or_else(|| GeoError::UnknownPrefix {
            file: table.file,
            line,
            name: full_name.to_string(),
        })
}

/// Reads the old → new table into the successors of the old communes, and gives each new
/// commune the old district all its predecessors shared. Returns the rows naming a unit the
/// two other tables do not know.
fn link_generations(tsv: &str, old: &mut OldUnits, new: &mut NewUnits) -> Result<usize, GeoError> {
    let map = Tsv::parse("old-to-new mapping", tsv)?;
    let (c_od, c_ow, c_nw) = (
        map.column("old_district")?,
        map.column("old_ward")?,
        map.column("new_ward")?,
    );
    let mut skipped = 0;
    let mut predecessors: Vec<Vec<usize>> = vec![Vec::new(); new.communes.len()];
    for (line, row) in &map.rows {
        let district = old
            .district_by_key
            .get(&join_key(map.cell(*line, row, c_od)?));
        let commune = district.and_then(|&d| {
            let key = join_key(map.cell(*line, row, c_ow).unwrap_or_default());
            old.commune_by_key.get(&(d, key))
        });
        let successor = new.by_key.get(&join_key(map.cell(*line, row, c_nw)?));
        match (commune, successor) {
            (Some(&o), Some(&n)) => {
                if !old.communes[o].successors.contains(&n) {
                    old.communes[o].successors.push(n);
                }
                predecessors[n].push(o);
            }
            _ => skipped += 1,
        }
    }
    for (n, preds) in predecessors.iter().enumerate() {
        let mut ds = preds.iter().map(|&o| old.communes[o].district);
        if let Some(first) = ds.next() {
            if ds.all(|d| d == first) {
                new.communes[n].old_district = Some(first);
            }
        }
    }
    Ok(skipped)
}

impl Gazetteer {
    /// Build from the three tables (formats of `data/geo/`, see its NOTICE.md):
    /// `old_units_tsv` (district_code, district_full_name, ward_code, ward_full_name),
    /// `new_units_tsv` (ward_code, ward_full_name) and `old_to_new_tsv`
    /// (old_district, old_ward, new_ward).
    pub fn from_tsv(
        old_units_tsv: &str,
        new_units_tsv: &str,
        old_to_new_tsv: &str,
    ) -> Result<Self, GeoError> {
        let mut old = OldUnits::read(old_units_tsv)?;
        let mut new = NewUnits::read(new_units_tsv)?;
        let skipped = link_generations(old_to_new_tsv, &mut old, &mut new)?;
        let mut gazetteer = Gazetteer {
            districts: old.districts,
            old_communes: old.communes,
            new_communes: new.communes,
            names: HashMap::new(),
            max_name_words: 1,
            skipped_mapping_rows: skipped,
        };
        gazetteer.index_names();
        Ok(gazetteer)
    }

    fn index_names(&mut self) {
        let mut entries: Vec<(String, Unit)> = Vec::new();
        for (i, d) in self.districts.iter().enumerate() {
            if let Some((_, bare)) = split_prefix(&d.full_name, &DISTRICT_PREFIXES) {
                entries.push((bare, Unit::District(i)));
            }
        }
        for (i, c) in self.old_communes.iter().enumerate() {
            if let Some((_, bare)) = split_prefix(&c.full_name, &COMMUNE_PREFIXES) {
                entries.push((bare, Unit::Old(i)));
            }
        }
        for (i, c) in self.new_communes.iter().enumerate() {
            if let Some((_, bare)) = split_prefix(&c.full_name, &COMMUNE_PREFIXES) {
                entries.push((bare, Unit::New(i)));
            }
        }
        for (bare, unit) in entries {
            let tokens = tokenize(&bare);
            if tokens.is_empty() {
                continue;
            }
            let folded = folded_key(&tokens);
            self.max_name_words = self.max_name_words.max(tokens.len());
            self.names.entry(folded).or_default().push(NameEntry {
                unit,
                numeric: tokens.iter().all(|t| t.is_number),
                toned: tokens.into_iter().map(|t| t.toned).collect(),
            });
        }
    }

    /// Index of the new commune with this GSO code.
    pub(crate) fn new_commune_index(&self, code: &str) -> Option<usize> {
        self.new_communes.iter().position(|c| c.code == code)
    }

    /// A match naming only a new commune (and its old district when it has one).
    pub(crate) fn new_commune_match(&self, index: usize, confidence: f32) -> AdminMatch {
        let commune = &self.new_communes[index];
        let district = commune.old_district.map(|d| &self.districts[d]);
        AdminMatch {
            old_district: district.map(|d| d.full_name.clone()),
            old_district_code: district.map(|d| d.code.clone()),
            old_commune: None,
            old_commune_code: None,
            new_commune: Some(commune.full_name.clone()),
            new_commune_code: Some(commune.code.clone()),
            confidence,
        }
    }

    /// Rows of the old → new table that named a unit this gazetteer does not know.
    pub fn skipped_mapping_rows(&self) -> usize {
        self.skipped_mapping_rows
    }

    /// Number of (old districts, old communes, new communes).
    pub fn counts(&self) -> (usize, usize, usize) {
        (
            self.districts.len(),
            self.old_communes.len(),
            self.new_communes.len(),
        )
    }

    /// Full names of every old commune with its district, and of every new commune (for tests and
    /// `check-config`).
    pub fn unit_names(&self) -> (Vec<(String, String)>, Vec<String>) {
        let old = self
            .old_communes
            .iter()
            .map(|c| {
                (
                    c.full_name.clone(),
                    self.districts[c.district].full_name.clone(),
                )
            })
            .collect();
        let new = self
            .new_communes
            .iter()
            .map(|c| c.full_name.clone())
            .collect();
        (old, new)
    }

    pub(super) fn unit_name(&self, unit: Unit) -> &str {
        match unit {
            Unit::District(i) => &self.districts[i].full_name,
            Unit::Old(i) => &self.old_communes[i].full_name,
            Unit::New(i) => &self.new_communes[i].full_name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_split_from_names() {
        assert_eq!(
            split_prefix("Thị trấn Bến Lức", &COMMUNE_PREFIXES),
            Some((CommuneKind::ThiTran, "Bến Lức".to_string()))
        );
        assert_eq!(
            split_prefix("Thành phố Tân An", &DISTRICT_PREFIXES),
            Some((DistrictKind::ThanhPho, "Tân An".to_string()))
        );
        assert_eq!(split_prefix("Ấp 3", &COMMUNE_PREFIXES), None);
        assert_eq!(join_key("Xã Mộc Hóa"), join_key("xã Mộc Hoá"));
    }
}
