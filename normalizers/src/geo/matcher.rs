//! The address matcher: which units of the [`Gazetteer`] a text names.
//!
//! Matching works in three steps:
//! 1. *Mentions*: every longest run of words that spells a unit name, with the prefix before it
//!    ("xã", "huyện", "P.", "ấp", "tỉnh"…) deciding which kinds of unit it can be. Names after
//!    a non-administrative prefix (ấp, khu phố, đường…) or a province prefix are skipped.
//! 2. *Hypotheses*: each candidate unit proposes a place (old district, old commune, new
//!    commune), filled in through the data (a commune's district, an old commune's successor).
//! 3. *Support*: a hypothesis scores the best candidate of each mention consistent with it; the
//!    best-supported, most specific hypothesis wins. A tie between different places keeps only
//!    what they agree on ("Phường 1" alone: Tân An or Kiến Tường, so nothing).

use std::collections::HashSet;

use serde::Serialize;

use super::gazetteer::{CommuneKind, DistrictKind, Gazetteer, NameEntry, Unit};
use crate::report::AdminMatch;
use crate::text::{folded_key, tokenize, Gap, Token};

/// The runs of tokens from `start` that a name may span (at most `max_words`, longest first,
/// never across a comma or a full stop), each with its folded key.
fn name_windows(
    tokens: &[Token],
    start: usize,
    max_words: usize,
) -> impl Iterator<Item = (&[Token], String)> {
    let longest = max_words.min(tokens.len() - start);
    (1..=longest).rev().filter_map(move |len| {
        let window = &tokens[start..start + len];
        let crosses = window[..len - 1]
            .iter()
            .any(|t| !matches!(t.gap_after, Gap::Space | Gap::Glued));
        (!crosses).then(|| (window, folded_key(window)))
    })
}

/// Unit names that are also everyday phrases (folded): "an ninh" (security), "bình tâm" (calm),
/// "tân lập" (newly founded). Without a prefix they count only when capitalised.
const COMMON_WORD_NAMES: [&str; 3] = ["an ninh", "binh tam", "tan lap"];

impl Gazetteer {
    /// Match an address: names count with or without a prefix, in any case.
    pub fn locate(&self, address: &str) -> Option<AdminMatch> {
        self.analyse(address).admin
    }

    /// Match the place named in a description, which is mostly not about places: a name without
    /// a prefix counts only when capitalised ("ở Bến Lức", not "tân hiệp phát").
    pub fn locate_in_text(&self, text: &str) -> Option<AdminMatch> {
        self.analyse_with(text, true).admin
    }

    /// The match of an address with the mentions it was built from.
    pub fn analyse(&self, address: &str) -> Analysis {
        self.analyse_with(address, false)
    }

    fn analyse_with(&self, text: &str, strict: bool) -> Analysis {
        let tokens = tokenize(text);
        let mentions = self.mentions(&tokens, text, strict);
        let nfc = crate::text::nfc(text);
        // "huyện Châu Thành, Tiền Giang", "TP. Mỹ Tho", "Gò Dầu": another province wins over a
        // namesake of ours.
        let outside = outside_place(self, &tokens, &nfc, &mentions, strict);
        let admin = if outside.is_some() {
            None
        } else {
            self.resolve(&mentions)
        };
        let mentions = mentions
            .iter()
            .map(|m| MentionReport {
                text: nfc
                    .get(tokens[m.prefix_start].start..tokens[m.end - 1].end)
                    .unwrap_or_default()
                    .to_string(),
                prefix: m.prefix,
                candidates: m
                    .candidates
                    .iter()
                    .map(|(u, w)| (self.unit_name(*u).to_string(), (w * 100.0).round() / 100.0))
                    .collect(),
            })
            .collect();
        Analysis {
            admin,
            mentions,
            outside,
        }
    }

    fn mentions(&self, tokens: &[Token], text: &str, strict: bool) -> Vec<Mention> {
        // In a text typed all in one case, capitals say nothing (except in strict mode).
        let case_matters = strict
            || (text.chars().any(char::is_uppercase) && text.chars().any(char::is_lowercase));
        let mut found: Vec<Mention> = Vec::new();
        let mut i = 0;
        'outer: while i < tokens.len() {
            let (prefix, prefix_len) = prefix_before(tokens, i);
            for (window, folded) in name_windows(tokens, i, self.max_name_words) {
                let len = window.len();
                let Some(entries) = self.names.get(&folded) else {
                    continue;
                };
                if let Some(mention) = self.mention(window, i, prefix, entries, case_matters) {
                    i += len;
                    if let Some(mut m) = mention {
                        m.prefix_start = m.start - prefix_len;
                        found.push(m);
                    }
                    continue 'outer;
                }
            }
            i += 1;
        }
        // An unprefixed name shared by a district and a commune ("Bến Lức") is the district,
        // unless the text names its district with a prefix elsewhere.
        let prefixed_district = found
            .iter()
            .any(|m| matches!(m.prefix, Prefix::District(_)));
        for m in &mut found {
            if m.prefix == Prefix::None
                && m.candidates
                    .iter()
                    .any(|(u, _)| matches!(u, Unit::District(_)))
                && m.candidates
                    .iter()
                    .any(|(u, _)| !matches!(u, Unit::District(_)))
            {
                m.candidates
                    .retain(|(u, _)| matches!(u, Unit::District(_)) != prefixed_district);
            }
        }
        found.retain(|m| !m.candidates.is_empty());
        found
    }

    /// A mention of one of `entries` spelled by `window`. `None`: the words do not make a
    /// mention here (try shorter). `Some(None)`: they are consumed but name no unit (a province,
    /// a hamlet, a street).
    fn mention(
        &self,
        window: &[Token],
        start: usize,
        prefix: Prefix,
        entries: &[NameEntry],
        case_matters: bool,
    ) -> Option<Option<Mention>> {
        match prefix {
            Prefix::NonAdmin | Prefix::Province => return Some(None),
            Prefix::None => {
                // "Long An" without "phường" is the (former) province.
                let province = window.len() == 2 && window[0].is("long") && window[1].is("an");
                if province {
                    return Some(None);
                }
                let capitalised = window.iter().all(|t| t.is_number || t.capitalised);
                if case_matters && !capitalised {
                    return None;
                }
                // Names that are also everyday words ("an ninh" = security) need a prefix or
                // capitals even in a text typed all in lowercase.
                let common_words = folded_key(window);
                if !capitalised && COMMON_WORD_NAMES.contains(&common_words.as_str()) {
                    return None;
                }
            }
            _ => {}
        }
        let mut candidates: Vec<(Unit, f32, Quality, bool)> = Vec::new();
        for entry in entries {
            let quality = quality(window, &entry.toned);
            let weight = match (prefix, entry.unit) {
                (Prefix::None, _) if entry.numeric => continue,
                // Other diacritics without a prefix are another word ("Thanh Hóa", the
                // province, is not "Thạnh Hóa").
                (Prefix::None, _) if quality == Quality::Loose => continue,
                (Prefix::None, _) => 0.7,
                (Prefix::District(Some(kind)), Unit::District(i))
                    if kind != self.districts[i].kind =>
                {
                    0.8
                }
                (Prefix::District(_), Unit::District(_)) => 1.0,
                (Prefix::District(_), _) => continue,
                (Prefix::Commune(_), Unit::District(_)) => continue,
                (Prefix::Commune(kind), Unit::Old(i)) => {
                    kind_weight(kind, self.old_communes[i].kind)
                }
                (Prefix::Commune(kind), Unit::New(i)) => {
                    kind_weight(kind, self.new_communes[i].kind)
                }
                _ => continue,
            };
            if entry.numeric && prefix != Prefix::Commune(Some(CommuneKind::Phuong)) {
                continue;
            }
            candidates.push((
                entry.unit,
                weight * quality.factor(),
                quality,
                weight >= 1.0,
            ));
        }
        // The unit whose kind the prefix names excludes namesakes of another kind: "xã Hậu
        // Nghĩa" is the new commune, not the former "thị trấn Hậu Nghĩa".
        if candidates.iter().any(|c| c.3) {
            candidates.retain(|c| c.3 || prefix == Prefix::None);
        }
        // A spelling that matches exactly excludes those that match only without diacritics
        // ("Bình Thành" is not "Bình Thạnh").
        if candidates.iter().any(|c| c.2 != Quality::Loose) {
            candidates.retain(|c| c.2 != Quality::Loose);
        }
        if candidates.is_empty() {
            return None;
        }
        Some(Some(Mention {
            prefix_start: start,
            start,
            end: start + window.len(),
            prefix,
            candidates: candidates.into_iter().map(|(u, w, _, _)| (u, w)).collect(),
        }))
    }

    fn old_district_of(&self, unit: Unit) -> Option<usize> {
        match unit {
            Unit::District(d) => Some(d),
            Unit::Old(o) => Some(self.old_communes[o].district),
            Unit::New(n) => self.new_communes[n].old_district,
        }
    }

    fn hypotheses(&self, unit: Unit) -> Vec<Place> {
        match unit {
            Unit::District(d) => vec![Place {
                district: Some(d),
                old: None,
                new: None,
            }],
            Unit::Old(o) => {
                let c = &self.old_communes[o];
                if c.successors.is_empty() {
                    return vec![Place {
                        district: Some(c.district),
                        old: Some(o),
                        new: None,
                    }];
                }
                c.successors
                    .iter()
                    .map(|&n| Place {
                        district: Some(c.district),
                        old: Some(o),
                        new: Some(n),
                    })
                    .collect()
            }
            Unit::New(n) => vec![Place {
                district: self.old_district_of(unit),
                old: None,
                new: Some(n),
            }],
        }
    }

    fn supports(&self, unit: Unit, place: &Place) -> bool {
        match unit {
            Unit::District(d) => place.district == Some(d),
            Unit::Old(o) => {
                place.old == Some(o)
                    || (place.old.is_none()
                        && place
                            .new
                            .is_some_and(|n| self.old_communes[o].successors.contains(&n)))
            }
            Unit::New(n) => place.new == Some(n),
        }
    }

    /// One place from the equally supported hypotheses `top` (never empty), and whether the
    /// choice was ambiguous.
    fn settle(&self, top: &[Place], mentions: &[Mention]) -> (Place, bool) {
        let agree = |places: &[Place], f: fn(&Place) -> Option<usize>| {
            let v = f(&places[0]);
            places.iter().all(|p| f(p) == v).then_some(v).flatten()
        };
        let district = agree(top, |p| p.district);
        let olds: Vec<Place> = top.iter().filter(|p| p.old.is_some()).copied().collect();
        let news: Vec<Place> = top
            .iter()
            .filter(|p| p.old.is_none() && p.new.is_some())
            .copied()
            .collect();
        let mut top = top.to_vec();
        if !olds.is_empty() && !news.is_empty() {
            let district_named = mentions.iter().any(|m| {
                m.candidates
                    .iter()
                    .any(|(u, _)| matches!(u, Unit::District(_)))
            });
            let old_ids: HashSet<usize> = olds.iter().filter_map(|p| p.old).collect();
            let new_ids: HashSet<usize> = news.iter().filter_map(|p| p.new).collect();
            if district_named {
                // Districts were abolished in 2025: naming one marks an old-style address.
                top = olds;
            } else if old_ids.len() == 1 && new_ids.len() == 1 {
                // One name, two units ("xã Vĩnh Thạnh": the old commune, now part of Tân Hưng,
                // and the new commune of that name): record both readings.
                let place = Place {
                    district,
                    old: old_ids.into_iter().next(),
                    new: new_ids.into_iter().next(),
                };
                return (place, true);
            } else if new_ids.len() == 1 {
                // Several old namesakes but one new unit: the writer used the new name.
                top = news;
            }
        }
        let place = Place {
            district: agree(&top, |p| p.district),
            old: agree(&top, |p| p.old),
            new: agree(&top, |p| p.new),
        };
        // A divided commune leaves its successor open: that is the data, not an ambiguity.
        let ambiguous = top.iter().any(|p| {
            p.district != place.district
                || p.old != place.old
                || (place.old.is_none() && p.new != place.new)
        });
        (place, ambiguous)
    }

    fn resolve(&self, mentions: &[Mention]) -> Option<AdminMatch> {
        let mut places: Vec<Place> = mentions
            .iter()
            .flat_map(|m| m.candidates.iter())
            .flat_map(|(u, _)| self.hypotheses(*u))
            .collect();
        places.sort_unstable();
        places.dedup();
        let score = |place: &Place| -> f32 {
            mentions
                .iter()
                .map(|m| {
                    m.candidates
                        .iter()
                        .filter(|(u, _)| self.supports(*u, place))
                        .map(|(_, w)| *w)
                        .fold(0.0_f32, f32::max)
                })
                .sum()
        };
        // Tie-break: the place more candidates agree with ("xã Khánh Hưng" is both the old
        // commune and the new one of that name, so the old one's successor of that name wins).
        let agreement = |place: &Place| -> f32 {
            mentions
                .iter()
                .flat_map(|m| m.candidates.iter())
                .filter(|(u, _)| self.supports(*u, place))
                .map(|(_, w)| *w)
                .sum()
        };
        // A place outside every district the text names is not taken while a place inside one
        // is possible: a ward number or a common commune name recurs across districts
        // ("Phường 2" is only in Kiến Tường now), a district is named on purpose ("Phường 2,
        // Tân An" is in Tân An, its ward left open).
        let named: HashSet<usize> = mentions
            .iter()
            .flat_map(|m| m.candidates.iter())
            .filter_map(|(u, _)| match u {
                Unit::District(d) => Some(*d),
                _ => None,
            })
            .collect();
        let in_named = |p: &Place| p.district.is_some_and(|d| named.contains(&d));
        if places.iter().any(in_named) {
            places.retain(in_named);
        }
        let scored: Vec<(Place, f32, f32)> = places
            .into_iter()
            .map(|p| (p, score(&p), agreement(&p)))
            .collect();
        let best = scored.iter().map(|s| s.1).fold(0.0_f32, f32::max);
        if best <= 0.0 {
            return None;
        }
        let best_agreement = scored
            .iter()
            .filter(|s| s.1 >= best - 1e-4)
            .map(|s| s.2)
            .fold(0.0_f32, f32::max);
        let mut top: Vec<Place> = scored
            .iter()
            .filter(|s| s.1 >= best - 1e-4 && s.2 >= best_agreement - 1e-4)
            .map(|s| s.0)
            .collect();
        // Equal support: the more specific place that contains the other wins.
        let all = top.clone();
        top.retain(|p| !all.iter().any(|q| q != p && q.refines(p)));
        let (place, ambiguous) = self.settle(&top, mentions);
        if place.district.is_none() && place.old.is_none() && place.new.is_none() {
            return None;
        }
        let mut confidence = (0.35 + 0.3 * best).min(0.97);
        if place.old.is_none() && place.new.is_none() {
            confidence *= 0.8;
        }
        if ambiguous {
            confidence *= 0.7;
        }
        let district = place.district.map(|d| &self.districts[d]);
        let old = place.old.map(|o| &self.old_communes[o]);
        let new = place.new.map(|n| &self.new_communes[n]);
        Some(AdminMatch {
            old_district: district.map(|d| d.full_name.clone()),
            old_district_code: district.map(|d| d.code.clone()),
            old_commune: old.map(|c| c.full_name.clone()),
            old_commune_code: old.map(|c| c.code.clone()),
            new_commune: new.map(|c| c.full_name.clone()),
            new_commune_code: new.map(|c| c.code.clone()),
            confidence: (confidence * 100.0).round() / 100.0,
        })
    }
}

/// How closely the words spell the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quality {
    /// Same letters, marks and tones (tone placement aside).
    Exact,
    /// Typed without any diacritics.
    Plain,
    /// Same letters, different marks: a typo or another place.
    Loose,
}

impl Quality {
    fn factor(self) -> f32 {
        match self {
            Quality::Exact => 1.0,
            Quality::Plain => 0.9,
            Quality::Loose => 0.6,
        }
    }
}

fn quality(window: &[Token], toned: &[String]) -> Quality {
    // A name typed with marks on some words means the unmarked ones really have none
    // ("Tân Thanh" is not "Tân Thạnh").
    let typed_with_marks = window.iter().any(|t| t.marked);
    let mut q = Quality::Exact;
    for (t, want) in window.iter().zip(toned) {
        if &t.toned == want {
            continue;
        }
        if t.marked || typed_with_marks {
            return Quality::Loose;
        }
        q = Quality::Plain;
    }
    q
}

fn kind_weight(said: Option<CommuneKind>, actual: CommuneKind) -> f32 {
    match said {
        Some(k) if k != actual => 0.8,
        _ => 1.0,
    }
}

/// Places outside the area that citizens name in addresses: other provinces, their districts
/// and cities, the former Tây Ninh province's districts (this project's list, see NOTICE.md).
const OTHER_PLACES: &str = include_str!("../../data/geo/other_places.tsv");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OtherKind {
    /// Another province or centrally governed city.
    Province,
    /// A district, town or city of another province.
    Place,
    /// Counts only after "thành phố"/"TP"/"thị xã"/"TX" ("TP. Tây Ninh").
    City,
    /// A name shared with one of our districts: counts only with its province named too and
    /// no other place of ours.
    Namesake,
    /// Read and skipped ("Đồng Tháp Mười", the region, is not the province).
    Ignore,
}

#[derive(Debug)]
struct OtherPlace {
    toned: Vec<String>,
    kind: OtherKind,
    shown: String,
    /// Only after a prefix ("tỉnh TG", "tỉnh Hòa Bình"): a short form or a common phrase.
    needs_prefix: bool,
    /// For a namesake: the folded name of the province that must be named too.
    with_province: Option<String>,
}

struct OtherPlaces {
    by_key: std::collections::HashMap<String, Vec<OtherPlace>>,
    max_words: usize,
    rows: usize,
}

fn other_places() -> &'static OtherPlaces {
    static PLACES: std::sync::LazyLock<OtherPlaces> = std::sync::LazyLock::new(|| {
        let mut places = OtherPlaces {
            by_key: std::collections::HashMap::new(),
            max_words: 1,
            rows: 0,
        };
        let rows = OTHER_PLACES
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("name\t") && !l.trim().is_empty());
        for line in rows {
            let cols: Vec<&str> = line.split('\t').collect();
            let col = |i: usize| cols.get(i).map_or("", |c| c.trim());
            let kind = match col(1) {
                "province" => OtherKind::Province,
                "place" => OtherKind::Place,
                "city" => OtherKind::City,
                "namesake" => OtherKind::Namesake,
                "ignore" => OtherKind::Ignore,
                // Checked by a test: every row has a known kind.
                _ => continue,
            };
            let tokens = tokenize(col(0));
            if tokens.is_empty() {
                continue;
            }
            places.rows += 1;
            places.max_words = places.max_words.max(tokens.len());
            let with_province = match col(3) {
                "" | "prefix" => None,
                province => Some(folded_key(&tokenize(province))),
            };
            places
                .by_key
                .entry(folded_key(&tokens))
                .or_default()
                .push(OtherPlace {
                    toned: tokens.iter().map(|t| t.toned.clone()).collect(),
                    kind,
                    shown: col(2).to_string(),
                    needs_prefix: col(3) == "prefix",
                    with_province,
                });
        }
        places
    });
    &PLACES
}

/// How many rows of the list of other places were read (a test checks none is skipped).
#[cfg(test)]
pub(super) fn other_place_rows() -> usize {
    other_places().rows
}

/// A place outside the area named in a text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutsidePlace {
    /// As written, with its prefix ("TP. Mỹ Tho").
    pub text: String,
    /// Its full name, to show the citizen ("thành phố Mỹ Tho (tỉnh Tiền Giang cũ, …)").
    pub name: String,
}

/// The place outside the area that the text names, if any: "huyện Châu Thành, Tiền Giang",
/// "TP. Mỹ Tho", "Gò Dầu, Tây Ninh", "TP.HCM". A province found is preferred to a district
/// (it names the place more surely). Unprefixed names do not count after "ấp", "đường"…, in a
/// text that names Long An itself, or (in a description) when not capitalised; a name that is
/// also one of ours counts unprefixed only as typed exactly ("Thanh Hóa", not "Thạnh Hóa").
fn outside_place(
    gazetteer: &Gazetteer,
    tokens: &[Token],
    nfc: &str,
    mentions: &[Mention],
    strict: bool,
) -> Option<OutsidePlace> {
    let places = other_places();
    let long_an_named = names_long_an(tokens);
    let mut found: Vec<(OutsidePlace, OtherKind)> = Vec::new();
    let mut i = 0;
    'outer: while i < tokens.len() {
        let (mut prefix, mut prefix_len) = prefix_before(tokens, i);
        // A word before a comma is no prefix ("Sơn Dương, Tuyên Quang" typed without marks
        // ends in "duong", not "đường").
        if i >= 1 && matches!(tokens[i - 1].gap_after, Gap::Other) {
            (prefix, prefix_len) = (Prefix::None, 0);
        }
        // "T. Tiền Giang": T. for tỉnh (only with its dot).
        let t_dot = prefix == Prefix::None
            && i >= 1
            && tokens[i - 1].text == "t"
            && tokens[i - 1].gap_after == Gap::Dot;
        if t_dot {
            prefix_len = 1;
        }
        let prefixed = t_dot
            || matches!(
                prefix,
                Prefix::Province | Prefix::District(_) | Prefix::Commune(_)
            );
        for (window, key) in name_windows(tokens, i, places.max_words) {
            let len = window.len();
            let Some(entries) = places.by_key.get(&key) else {
                continue;
            };
            let ours = gazetteer.names.get(&key);
            // Part of a longer name of ours ("xã Thái Bình Trung").
            let inside_longer = mentions
                .iter()
                .any(|m| m.start <= i && m.end >= i + len && m.end - m.start > len);
            // "huyện Thanh Hoá", "xã Thanh Hoa": a unit prefix before a name that is also ours.
            let ours_by_prefix = ours.is_some()
                && matches!(prefix, Prefix::District(_) | Prefix::Commune(_))
                && !t_dot;
            let accepted = entries.iter().find(|entry| {
                if prefix == Prefix::NonAdmin || inside_longer {
                    return false;
                }
                if ours_by_prefix && entry.kind != OtherKind::Namesake {
                    return false;
                }
                let q = quality(window, &entry.toned);
                match entry.kind {
                    OtherKind::Ignore => true,
                    OtherKind::City => {
                        matches!(
                            prefix,
                            Prefix::District(Some(DistrictKind::ThanhPho | DistrictKind::ThiXa))
                        ) && q != Quality::Loose
                    }
                    OtherKind::Namesake => {
                        let province_named = entry
                            .with_province
                            .as_deref()
                            .is_some_and(|p| names_phrase(tokens, p));
                        let ours_elsewhere = mentions.iter().any(|m| m.start != i);
                        province_named && !ours_elsewhere && q != Quality::Loose
                    }
                    OtherKind::Province | OtherKind::Place if prefixed => q != Quality::Loose,
                    OtherKind::Province | OtherKind::Place => {
                        // "…, Huế" closing an address is the city even without a prefix.
                        let closing = i + len == tokens.len()
                            && i >= 1
                            && matches!(tokens[i - 1].gap_after, Gap::Other);
                        if (entry.needs_prefix && !closing) || long_an_named {
                            return false;
                        }
                        if strict && !window.iter().all(|t| t.capitalised) {
                            return false;
                        }
                        match ours {
                            // "Thanh Hóa" the province, typed exactly, not our "Thạnh Hóa".
                            Some(ours) => {
                                q == Quality::Exact
                                    && !ours
                                        .iter()
                                        .any(|o| quality(window, &o.toned) == Quality::Exact)
                            }
                            None => q != Quality::Loose,
                        }
                    }
                }
            });
            if let Some(entry) = accepted {
                if entry.kind != OtherKind::Ignore {
                    let from = tokens[i - prefix_len].start;
                    let to = window[len - 1].end;
                    found.push((
                        OutsidePlace {
                            text: nfc.get(from..to).unwrap_or_default().to_string(),
                            name: entry.shown.clone(),
                        },
                        entry.kind,
                    ));
                }
                i += len;
                continue 'outer;
            }
        }
        i += 1;
    }
    let province = found.iter().position(|(_, k)| *k == OtherKind::Province);
    let pick = province.unwrap_or(0);
    (pick < found.len()).then(|| found.swap_remove(pick).0)
}

/// Whether the text names the (former) province of Long An: "Long An", "tỉnh Long An" (not
/// "phường Long An", a ward).
fn names_long_an(tokens: &[Token]) -> bool {
    (0..tokens.len().saturating_sub(1)).any(|k| {
        tokens[k].is("long")
            && tokens[k + 1].is("an")
            && tokens[k].gap_after == Gap::Space
            && matches!(prefix_before(tokens, k).0, Prefix::None | Prefix::Province)
    })
}

/// Whether the words of the folded `phrase` appear in a row in the text.
fn names_phrase(tokens: &[Token], phrase: &str) -> bool {
    let words: Vec<&str> = phrase.split(' ').collect();
    tokens
        .windows(words.len())
        .any(|w| w.iter().zip(&words).all(|(t, p)| t.folded == *p))
}

/// What the word(s) before a name say it is. Markets and bridges ("chợ Bến Lức", "cầu Tân An")
/// are named after the place they are in, so those words are not prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "unit")]
pub enum Prefix {
    None,
    District(Option<DistrictKind>),
    Commune(Option<CommuneKind>),
    /// "tỉnh Long An": a province, not a unit of the gazetteer.
    Province,
    /// "ấp", "khu phố", "đường"…: a name that is not an administrative unit.
    NonAdmin,
}

fn prefix_before(tokens: &[Token], i: usize) -> (Prefix, usize) {
    let two = |a: &str, b: &str| i >= 2 && tokens[i - 2].is(a) && tokens[i - 1].is(b);
    if two("thị", "trấn") {
        return (Prefix::Commune(Some(CommuneKind::ThiTran)), 2);
    }
    if two("thị", "xã") {
        return (Prefix::District(Some(DistrictKind::ThiXa)), 2);
    }
    if two("thành", "phố") {
        return (Prefix::District(Some(DistrictKind::ThanhPho)), 2);
    }
    if two("khu", "phố") || two("quốc", "lộ") || two("tỉnh", "lộ") || two("khu", "vực")
    {
        return (Prefix::NonAdmin, 2);
    }
    if i == 0 {
        return (Prefix::None, 0);
    }
    let t = &tokens[i - 1];
    let abbreviation =
        matches!(t.gap_after, Gap::Dot | Gap::Glued) || t.text.chars().all(|c| c.is_uppercase());
    let full: &[(&str, Prefix)] = &[
        ("xã", Prefix::Commune(Some(CommuneKind::Xa))),
        ("phường", Prefix::Commune(Some(CommuneKind::Phuong))),
        ("huyện", Prefix::District(Some(DistrictKind::Huyen))),
        ("quận", Prefix::District(Some(DistrictKind::Quan))),
        ("tỉnh", Prefix::Province),
        ("ấp", Prefix::NonAdmin),
        ("đường", Prefix::NonAdmin),
        ("hẻm", Prefix::NonAdmin),
        ("kênh", Prefix::NonAdmin),
        ("sông", Prefix::NonAdmin),
        ("khóm", Prefix::NonAdmin),
        ("tổ", Prefix::NonAdmin),
    ];
    for (word, prefix) in full {
        if t.is(word) {
            return (*prefix, 1);
        }
    }
    // Short forms: "TT", "TP", "TX", "KP" as they are; one letter only with a dot or glued to a
    // number ("P.5", "P5", "F5", "X. Mỹ Yên", "H. Đức Hòa").
    let prefix = match t.text.as_str() {
        "tt" => Prefix::Commune(Some(CommuneKind::ThiTran)),
        "tp" => Prefix::District(Some(DistrictKind::ThanhPho)),
        "tx" => Prefix::District(Some(DistrictKind::ThiXa)),
        "kp" | "đ" => Prefix::NonAdmin,
        "p" | "f" if abbreviation => Prefix::Commune(Some(CommuneKind::Phuong)),
        "x" if matches!(t.gap_after, Gap::Dot) => Prefix::Commune(Some(CommuneKind::Xa)),
        "h" if matches!(t.gap_after, Gap::Dot) => Prefix::District(Some(DistrictKind::Huyen)),
        "q" if abbreviation => Prefix::District(Some(DistrictKind::Quan)),
        _ => return (Prefix::None, 0),
    };
    (prefix, 1)
}

#[derive(Debug, Clone)]
struct Mention {
    /// First token of the prefix ("phường" of "phường 1"), or `start` without one.
    prefix_start: usize,
    start: usize,
    end: usize,
    prefix: Prefix,
    candidates: Vec<(Unit, f32)>,
}

/// A place hypothesis: indices into the gazetteer's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Place {
    district: Option<usize>,
    old: Option<usize>,
    new: Option<usize>,
}

impl Place {
    /// `self` says everything `other` says, and more.
    fn refines(&self, other: &Place) -> bool {
        let covers = |a: Option<usize>, b: Option<usize>| b.is_none() || a == b;
        covers(self.district, other.district)
            && covers(self.old, other.old)
            && covers(self.new, other.new)
            && self != other
    }
}

/// What the matcher found in a text: the match and the names it read.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub admin: Option<AdminMatch>,
    pub mentions: Vec<MentionReport>,
    /// A place outside the area the text names (then `admin` is `None`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outside: Option<OutsidePlace>,
}

/// One name found in the text, with the units it could be and their weights.
#[derive(Debug, Clone, Serialize)]
pub struct MentionReport {
    pub text: String,
    pub prefix: Prefix,
    pub candidates: Vec<(String, f32)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn place_refinement() {
        let a = Place {
            district: Some(1),
            old: Some(2),
            new: Some(3),
        };
        let b = Place {
            district: Some(1),
            old: None,
            new: Some(3),
        };
        assert!(a.refines(&b) && !b.refines(&a) && !a.refines(&a));
    }
}
