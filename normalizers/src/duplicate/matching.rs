//! The matching rules of Đ7.3: same media, near-identical photos, or the same place with a
//! similar description; and whether the same reporter sent it.

use std::collections::BTreeSet;

use super::{distance_m, DuplicateConfig, Fingerprint, Sketch};
use crate::media::{hamming, is_distinctive};
use crate::validate::DuplicateRef;

/// What [`find`] concluded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Matches {
    /// Earlier open reports this one repeats, best first, at most `max_refs`.
    pub duplicates: Vec<DuplicateRef>,
    /// The same reporter already sent this inside the window: reject.
    pub same_reporter: bool,
}

/// Why two reports matched, with the score (0..1).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Basis {
    SameMedia,
    NearMedia(f32),
    PlaceAndText(f32),
}

impl Basis {
    fn score(self) -> f32 {
        match self {
            Basis::SameMedia => 1.0,
            Basis::NearMedia(s) | Basis::PlaceAndText(s) => s,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Basis::SameMedia => "same_media",
            Basis::NearMedia(_) => "near_media",
            Basis::PlaceAndText(_) => "place_and_text",
        }
    }
}

/// Compare a new report's fingerprint with the open ones (`open`: reports not closed by the IOC,
/// as the caller knows them). Fingerprints outside the window before `new.received_at`, and
/// `new` itself (a replayed submission), are ignored.
pub fn find(new: &Fingerprint, open: &[Fingerprint], config: &DuplicateConfig) -> Matches {
    let since = new.received_at - config.window();
    let mut found: Vec<(Basis, &Fingerprint)> = open
        .iter()
        .filter(|old| old.id != new.id && old.received_at >= since)
        .filter_map(|old| compare(new, old, config).map(|basis| (basis, old)))
        .collect();
    let same_reporter = found.iter().any(|(basis, old)| {
        let shared = old.reporter.iter().any(|d| new.reporter.contains(d));
        let strong = match basis {
            Basis::SameMedia | Basis::NearMedia(_) => true,
            Basis::PlaceAndText(score) => *score >= config.same_reporter_min_score,
        };
        shared && strong
    });
    found.sort_by(|(a, x), (b, y)| {
        b.score()
            .total_cmp(&a.score())
            .then(y.received_at.cmp(&x.received_at))
    });
    let duplicates = found
        .into_iter()
        .take(config.max_refs)
        .map(|(basis, old)| DuplicateRef {
            id: old.id.clone(),
            score: (basis.score() * 1000.0).round() / 1000.0,
            basis: basis.name().to_string(),
        })
        .collect();
    Matches {
        duplicates,
        same_reporter,
    }
}

fn compare(new: &Fingerprint, old: &Fingerprint, config: &DuplicateConfig) -> Option<Basis> {
    let same_media = new
        .media
        .iter()
        .any(|m| old.media.iter().any(|o| o.sha256 == m.sha256));
    if same_media {
        return Some(Basis::SameMedia);
    }
    let nearest_photo = new
        .media
        .iter()
        .filter_map(|m| m.phash.filter(|h| is_distinctive(*h)))
        .flat_map(|a| {
            old.media
                .iter()
                .filter_map(|o| o.phash.filter(|h| is_distinctive(*h)))
                .map(move |b| hamming(a, b))
        })
        .min();
    let near = nearest_photo
        .filter(|d| *d <= config.phash_max_distance)
        .map(|d| Basis::NearMedia(1.0 - d as f32 / 64.0));
    let place_and_text = place_score(new, old, config).and_then(|place| {
        let conflicting = matches!((new.category, old.category), (Some(a), Some(b)) if a != b);
        let text = text_similarity(new, old);
        (!conflicting && text >= config.text_similarity)
            .then(|| Basis::PlaceAndText((place + text) / 2.0))
    });
    match (near, place_and_text) {
        (Some(a), Some(b)) => Some(if a.score() >= b.score() { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// How surely the two reports are at the same place (0..1), or `None` when they are not.
fn place_score(a: &Fingerprint, b: &Fingerprint, config: &DuplicateConfig) -> Option<f32> {
    let distance = match (a.coordinates, b.coordinates) {
        (Some(p), Some(q)) => Some(distance_m(p, q)),
        _ => None,
    };
    let by_distance = distance
        .filter(|d| *d <= config.place_radius_m)
        .map(|d| 1.0 - 0.5 * (d / config.place_radius_m.max(1.0)) as f32);
    let same_commune = matches!((&a.new_commune_code, &b.new_commune_code), (Some(x), Some(y)) if x == y)
        || matches!((&a.old_commune_code, &b.old_commune_code), (Some(x), Some(y)) if x == y);
    let far_apart = distance.is_some_and(|d| d > config.place_conflict_m);
    let by_address = (same_commune && !far_apart)
        .then(|| jaccard_sorted(&a.address, &b.address))
        .filter(|s| *s >= config.address_similarity);
    match (by_distance, by_address) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

/// Similarity of two descriptions (0..1): the mean of the with-diacritics and the folded
/// similarities, each the larger of Jaccard and a discounted containment (a short repeat of a
/// long report).
fn text_similarity(a: &Fingerprint, b: &Fingerprint) -> f32 {
    let one = |x: &Sketch, y: &Sketch| x.jaccard(y).max(0.8 * x.containment(y));
    (one(&a.text_kept, &b.text_kept) + one(&a.text_folded, &b.text_folded)) / 2.0
}

fn jaccard_sorted(a: &[u32], b: &[u32]) -> f32 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let a: BTreeSet<u32> = a.iter().copied().collect();
    let b: BTreeSet<u32> = b.iter().copied().collect();
    let inter = a.intersection(&b).count();
    inter as f32 / (a.len() + b.len() - inter) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duplicate::test_support::*;
    use crate::report::{Category, CategoryField, CategorySource, Channel, Report};
    use unicode_normalization::UnicodeNormalization;

    #[test]
    fn the_same_problem_at_the_same_spot_is_a_duplicate() {
        let old = at_place(report("01OLD", -5, LIGHT), 10.6421, 106.4801);
        // About 20 m further north.
        let new = at_place(report("01NEW", 0, LIGHT_AGAIN), 10.64228, 106.4801);
        let m = find_in(&new, &[&old]);
        assert_eq!(m.duplicates.len(), 1, "{m:?}");
        assert_eq!(m.duplicates[0].id, "01OLD");
        assert_eq!(m.duplicates[0].basis, "place_and_text");
        assert!(m.duplicates[0].score > 0.5 && m.duplicates[0].score <= 1.0);
        assert!(!m.same_reporter, "no shared identity");
    }

    #[test]
    fn another_problem_at_the_same_spot_is_not() {
        let old = at_place(report("01OLD", -5, LIGHT), 10.6421, 106.4801);
        let new = at_place(report("01NEW", 0, GARBAGE), 10.6421, 106.4801);
        assert!(find_in(&new, &[&old]).duplicates.is_empty());
    }

    #[test]
    fn the_same_words_far_away_are_not() {
        let old = at_place(report("01OLD", -5, LIGHT), 10.6421, 106.4801);
        // About 120 m east: another street light.
        let new = at_place(report("01NEW", 0, LIGHT), 10.6421, 106.4812);
        assert!(
            distance_m(
                old.location.coordinates.unwrap(),
                new.location.coordinates.unwrap()
            ) > 100.0
        );
        assert!(find_in(&new, &[&old]).duplicates.is_empty());
    }

    #[test]
    fn the_same_commune_and_street_address_is_the_same_place() {
        let old = in_commune(
            report("01OLD", -5, LIGHT),
            "Số 12 đường Nguyễn Văn Tuôi, ấp 3, xã Mỹ Yên, huyện Bến Lức",
        );
        let new = in_commune(
            report("01NEW", 0, LIGHT_AGAIN),
            "12 Nguyễn Văn Tuôi, Ấp 3, X. Mỹ Yên, H. Bến Lức, Long An",
        );
        let m = find_in(&new, &[&old]);
        assert_eq!(m.duplicates.len(), 1, "{m:?}");
        // Same commune, another hamlet and street: not the same place.
        let elsewhere = in_commune(
            report("01ELSE", 0, LIGHT_AGAIN),
            "ấp 5, đường tỉnh 830, xã Mỹ Yên, huyện Bến Lức",
        );
        assert!(find_in(&elsewhere, &[&old]).duplicates.is_empty());
        // An address naming only the commune says nothing about the spot.
        let vague = in_commune(
            report("01VAGUE", 0, LIGHT_AGAIN),
            "xã Mỹ Yên, huyện Bến Lức",
        );
        assert!(find_in(&vague, &[&old]).duplicates.is_empty());
    }

    #[test]
    fn text_typed_without_diacritics_or_in_nfd_still_matches() {
        let old = at_place(report("01OLD", -5, LIGHT), 10.6421, 106.4801);
        let unmarked = at_place(report("01NEW", 0, LIGHT_UNMARKED), 10.6421, 106.4801);
        assert_eq!(find_in(&unmarked, &[&old]).duplicates.len(), 1);
        let nfd: String = LIGHT.nfd().collect();
        let decomposed = at_place(report("01OLD", -5, &nfd), 10.6421, 106.4801);
        assert_eq!(fp(&decomposed), fp(&old));
    }

    #[test]
    fn identical_media_match_anywhere_and_near_identical_photos_too() {
        let sha = "ab".repeat(32);
        let old = with_media(at_place(report("01OLD", -30, LIGHT), 10.64, 106.48), &sha);
        let new = with_media(
            at_place(report("01NEW", 0, GARBAGE), 10.70, 106.20),
            &sha.to_uppercase(),
        );
        let m = find_in(&new, &[&old]);
        assert_eq!(m.duplicates[0].basis, "same_media");
        assert_eq!(m.duplicates[0].score, 1.0);

        let photo = 0x9b3c_e1f0_5a5a_c3d2u64;
        let old = with_media(report("01OLD", -30, LIGHT), &"01".repeat(32));
        let new = with_media(report("01NEW", 0, GARBAGE), &"02".repeat(32));
        let near = find(
            &Fingerprint::of(&new, &[Some(photo ^ 0b1011)], PEPPER),
            &[Fingerprint::of(&old, &[Some(photo)], PEPPER)],
            &DuplicateConfig::default(),
        );
        assert_eq!(near.duplicates.len(), 1);
        assert_eq!(near.duplicates[0].basis, "near_media");
        assert!((near.duplicates[0].score - (1.0 - 3.0 / 64.0)).abs() < 0.001);
        let far = find(
            &Fingerprint::of(&new, &[Some(photo ^ 0xFF00)], PEPPER),
            &[Fingerprint::of(&old, &[Some(photo)], PEPPER)],
            &DuplicateConfig::default(),
        );
        assert!(far.duplicates.is_empty(), "8 bits apart is another photo");
        // Flat pictures all hash alike: no evidence.
        let flat = find(
            &Fingerprint::of(&new, &[Some(0)], PEPPER),
            &[Fingerprint::of(&old, &[Some(1)], PEPPER)],
            &DuplicateConfig::default(),
        );
        assert!(flat.duplicates.is_empty());
    }

    #[test]
    fn the_same_reporter_resubmitting_is_told_apart_from_another_citizen() {
        let mut old = at_place(report("01OLD", -5, LIGHT), 10.6421, 106.4801);
        old.reporter.phone = Some("+84912345678".into());
        // The same person through Zalo, phone written the usual way.
        let mut again = at_place(report("01NEW", 0, LIGHT), 10.6421, 106.4801);
        again.channel = Channel::ZaloOa;
        again.reporter.phone = Some("0912 345 678".into());
        again.reporter.channel_identity = Some("84712635120001".into());
        let m = find_in(&again, &[&old]);
        assert_eq!(m.duplicates.len(), 1);
        assert!(m.same_reporter);
        let mut neighbour = again.clone();
        neighbour.reporter.phone = Some("0987 654 321".into());
        let m = find_in(&neighbour, &[&old]);
        assert_eq!(m.duplicates.len(), 1);
        assert!(!m.same_reporter);
    }

    #[test]
    fn a_weak_match_by_the_same_reporter_is_only_flagged() {
        let config = DuplicateConfig {
            same_reporter_min_score: 0.99,
            ..DuplicateConfig::default()
        };
        let mut old = at_place(report("01OLD", -5, LIGHT), 10.6421, 106.4801);
        old.reporter.email = Some("an.nguyen@example.vn".into());
        let mut new = at_place(report("01NEW", 0, LIGHT_AGAIN), 10.6421, 106.4801);
        new.reporter.email = Some("An.Nguyen@Example.vn".into());
        let m = find(&fp(&new), &[fp(&old)], &config);
        assert_eq!(m.duplicates.len(), 1);
        assert!(!m.same_reporter);
    }

    #[test]
    fn reports_outside_the_window_and_the_report_itself_do_not_count() {
        let old = at_place(report("01OLD", -241, LIGHT), 10.6421, 106.4801);
        let new = at_place(report("01NEW", 0, LIGHT), 10.6421, 106.4801);
        assert!(find_in(&new, &[&old]).duplicates.is_empty());
        assert!(
            find_in(&new, &[&new]).duplicates.is_empty(),
            "a replay is not its own duplicate"
        );
        let recent = at_place(report("01REC", -239, LIGHT), 10.6421, 106.4801);
        assert_eq!(find_in(&new, &[&recent]).duplicates.len(), 1);
    }

    #[test]
    fn categories_chosen_differently_by_the_citizens_keep_reports_apart() {
        let mut old = at_place(report("01OLD", -5, LIGHT), 10.6421, 106.4801);
        let mut new = at_place(report("01NEW", 0, LIGHT_AGAIN), 10.6421, 106.4801);
        let given = |field| Category {
            field,
            subcategory: None,
            source: CategorySource::Given,
            confidence: 1.0,
        };
        old.category = Some(given(CategoryField::UrbanOrder));
        new.category = Some(given(CategoryField::Traffic));
        assert!(find_in(&new, &[&old]).duplicates.is_empty());
        new.category = Some(given(CategoryField::UrbanOrder));
        assert_eq!(find_in(&new, &[&old]).duplicates.len(), 1);
    }

    #[test]
    fn matches_are_ranked_and_capped() {
        let sha = "cd".repeat(32);
        let new = with_media(at_place(report("01NEW", 0, LIGHT), 10.6421, 106.4801), &sha);
        let by_text = at_place(report("01TEXT", -3, LIGHT_AGAIN), 10.6421, 106.4801);
        let by_media = with_media(report("01MEDIA", -4, GARBAGE), &sha);
        let m = find_in(&new, &[&by_text, &by_media]);
        let ids: Vec<&str> = m.duplicates.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["01MEDIA", "01TEXT"]);
        let many: Vec<Report> = (0..9)
            .map(|i| with_media(report(&format!("01M{i}"), -i - 1, GARBAGE), &sha))
            .collect();
        let refs: Vec<&Report> = many.iter().collect();
        assert_eq!(find_in(&new, &refs).duplicates.len(), 5);
    }
}
