//! Duplicate reports (phản ánh trùng lặp, Đ7.3) and reporter identities, pure.
//!
//! A [`Fingerprint`] is what a report needs to be compared with later ones, and nothing more: the
//! reporter's identities as keyed digests (never the phone number or email itself), the place
//! (coordinates, old and new commune codes, hashed address tokens), bottom-k sketches of the
//! description's words (once with diacritics, once folded without them), and each attachment's
//! sha256 with the perceptual hash of photos. The gateway stores fingerprints of committed
//! reports where every instance sees them and hands the open ones of the window to [`find`].
//!
//! [`find`] says a new report repeats an earlier one when
//! - they share a medium byte for byte (`same_media`), or
//! - two photos look alike: dHash within [`DuplicateConfig::phash_max_distance`] bits
//!   (`near_media`: re-encoded by a messenger, resized), or
//! - they are at the same place (≤ [`DuplicateConfig::place_radius_m`], or the same commune and a
//!   similar street address) and their descriptions are similar (`place_and_text`).
//!
//! The same reporter sending the same thing again inside the window is told so and rejected
//! (the DUPLICATE check forces `reject` with `DUPLICATE_SAME_REPORTER`); anyone else's repeat is
//! flagged for the IOC with the ids and scores of the earlier reports.
//!
//! Identity digests ([`identity_digest`]) are keyed with a secret pepper from the configuration:
//! a plain sha256 of a Vietnamese mobile number can be reversed by trying the 10⁹ numbers.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::contact::{is_valid_email, normalize_phone};
use crate::media::{hamming, is_distinctive};
use crate::report::{
    AdminMatch, CategoryField, CategorySource, Channel, Coordinates, MediaKind, Report,
};
use crate::text::nfc;
use crate::validate::DuplicateRef;
use crate::vietnamese::strip_marks;

/// Tunables of duplicate detection (`[duplicates]` in the gateway's configuration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DuplicateConfig {
    /// How far back a report can be repeated, in hours. Reports closed by the IOC
    /// (`PUT /v1/reports/{id}/status`) stop counting before that. Default 240 h (10 days): the
    /// agency answers within 7 working days (Đ10), which is up to 11 calendar days with a
    /// weekend and a holiday; the IOC closing a report ends its window earlier.
    pub window_hours: i64,
    /// Two reports whose coordinates are this close are at the same place (metres).
    pub place_radius_m: f64,
    /// When both reports have coordinates further apart than this (metres), a similar address
    /// does not make them the same place (two streets of the same name in one commune).
    pub place_conflict_m: f64,
    /// Jaccard similarity of the street-address tokens (commune and district names removed)
    /// from which two addresses in the same commune are the same place.
    pub address_similarity: f32,
    /// Similarity of the descriptions (0..1) from which two reports at the same place describe
    /// the same thing.
    pub text_similarity: f32,
    /// Largest Hamming distance between the dHashes of two photos that still look identical.
    pub phash_max_distance: u32,
    /// Least score of a place-and-text match for the same reporter's repeat to be rejected
    /// (media matches always count); below it the repeat is only flagged.
    pub same_reporter_min_score: f32,
    /// Most earlier reports listed in `duplicate_of`.
    pub max_refs: usize,
    /// Most fingerprints read from the window per submission (the newest first).
    pub max_candidates: usize,
    /// Secret mixed into identity digests (phone, email, Zalo id) so that they cannot be
    /// reversed by trying every number. Set it in production and never change it: the block
    /// list and the duplicate index are keyed by these digests.
    pub identity_pepper: crate::secret::Secret,
}

impl Default for DuplicateConfig {
    fn default() -> Self {
        DuplicateConfig {
            window_hours: 240,
            place_radius_m: 50.0,
            place_conflict_m: 500.0,
            address_similarity: 0.5,
            text_similarity: 0.3,
            phash_max_distance: 6,
            same_reporter_min_score: 0.6,
            max_refs: 5,
            max_candidates: 5000,
            identity_pepper: Default::default(),
        }
    }
}

impl DuplicateConfig {
    pub fn window(&self) -> Duration {
        Duration::hours(self.window_hours.max(0))
    }
}

// --- identities ------------------------------------------------------------------------------

/// A normalised identity of a reporter: what the block list and the same-reporter rule key on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Identity {
    /// E.164 (`+84912345678`).
    Phone(String),
    /// Lowercase address.
    Email(String),
    /// A channel account: Zalo user id (`zalo`), app/portal/Open311 user id (the channel name).
    Account { namespace: String, id: String },
}

impl Identity {
    /// Parse what an operator types: a phone number in any usual spelling, an email address, or
    /// `namespace:id` for an account (`zalo:8471263512`). `None` when it is none of these.
    pub fn parse(input: &str) -> Option<Identity> {
        let input = input.trim();
        if let Some(phone) = normalize_phone(input) {
            return Some(Identity::Phone(phone));
        }
        if input.contains('@') {
            return is_valid_email(input).then(|| Identity::Email(input.to_lowercase()));
        }
        let (namespace, id) = input.split_once(':')?;
        let namespace = namespace.trim().to_ascii_lowercase();
        let id = id.trim();
        let known = matches!(namespace.as_str(), "zalo" | "app" | "portal" | "open311");
        if !known || id.is_empty() || id.len() > 200 || id.chars().any(char::is_whitespace) {
            return None;
        }
        Some(Identity::Account {
            namespace,
            id: id.to_string(),
        })
    }

    /// Every identity of a report's sender: phone, email, and the channel account. The API
    /// client of the app and portal channels (`api-client:…`) is the software that relayed the
    /// report, not the citizen, and is left out.
    pub fn of_report(report: &Report) -> Vec<Identity> {
        let r = &report.reporter;
        let mut out = BTreeSet::new();
        if let Some(phone) = r.phone.as_deref().and_then(normalize_phone) {
            out.insert(Identity::Phone(phone));
        }
        if let Some(email) = r.email.as_deref().filter(|e| is_valid_email(e)) {
            out.insert(Identity::Email(email.trim().to_lowercase()));
        }
        if let Some(id) = r.channel_identity.as_deref().map(str::trim) {
            let relayed = id.starts_with("api-client:");
            if !id.is_empty() && !relayed {
                let identity = match report.channel {
                    Channel::Email if is_valid_email(id) => {
                        Some(Identity::Email(id.to_lowercase()))
                    }
                    Channel::Email => None,
                    Channel::ZaloOa | Channel::ZaloMiniapp => Some(Identity::Account {
                        namespace: "zalo".into(),
                        id: id.to_string(),
                    }),
                    other => Some(Identity::Account {
                        namespace: other.as_str().into(),
                        id: id.to_string(),
                    }),
                };
                out.extend(identity);
            }
        }
        out.into_iter().collect()
    }

    /// The canonical text that is digested (`phone:+84…`, `email:…`, `zalo:…`).
    fn canonical(&self) -> String {
        match self {
            Identity::Phone(p) => format!("phone:{p}"),
            Identity::Email(e) => format!("email:{e}"),
            Identity::Account { namespace, id } => format!("{namespace}:{id}"),
        }
    }

    /// A hint an operator can recognise without the identity being stored:
    /// `+8491****678`, `n***@gmail.com`, `zalo:84****12`.
    pub fn masked(&self) -> String {
        fn mask(s: &str, keep_start: usize, keep_end: usize) -> String {
            let chars: Vec<char> = s.chars().collect();
            if chars.len() <= keep_start + keep_end {
                return "*".repeat(chars.len().max(1));
            }
            let start: String = chars[..keep_start].iter().collect();
            let end: String = chars[chars.len() - keep_end..].iter().collect();
            format!("{start}****{end}")
        }
        match self {
            Identity::Phone(p) => mask(p, 5, 3),
            Identity::Email(e) => match e.rsplit_once('@') {
                Some((local, domain)) => {
                    let first: String = local.chars().take(1).collect();
                    format!("{first}***@{domain}")
                }
                None => mask(e, 1, 0),
            },
            Identity::Account { namespace, id } => format!("{namespace}:{}", mask(id, 2, 2)),
        }
    }
}

/// Keyed digest of an identity (lowercase hex sha256): equal identities give equal digests, and
/// without the pepper a digest does not give the identity back.
pub fn identity_digest(identity: &Identity, pepper: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"1022-identity-v1\0");
    h.update((pepper.len() as u64).to_be_bytes());
    h.update(pepper.as_bytes());
    h.update(identity.canonical().as_bytes());
    hex::encode(h.finalize())
}

// --- fingerprints ----------------------------------------------------------------------------

/// What a report needs to be compared with later ones (no personal data in clear).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Fingerprint {
    pub id: String,
    pub received_at: DateTime<Utc>,
    pub channel: Channel,
    /// [`identity_digest`]s of the sender's identities, sorted.
    #[serde(default)]
    pub reporter: Vec<String>,
    pub coordinates: Option<Coordinates>,
    pub old_commune_code: Option<String>,
    pub new_commune_code: Option<String>,
    /// Hashes of the folded street-address tokens (commune and district names removed), sorted.
    #[serde(default)]
    pub address: Vec<u32>,
    /// The Đ5 field when the citizen chose it (a suggestion is not evidence).
    pub category: Option<CategoryField>,
    /// Words of the title and description with their diacritics.
    pub text_kept: Sketch,
    /// The same words folded (no marks, đ → d): text typed without diacritics still matches.
    pub text_folded: Sketch,
    #[serde(default)]
    pub media: Vec<MediaPrint>,
}

/// One attachment of a fingerprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MediaPrint {
    pub kind: MediaKind,
    pub sha256: String,
    /// dHash of a photo, 16 lowercase hex digits (a JSON number would lose bits).
    #[serde(default, with = "hex_u64")]
    #[schemars(with = "Option<String>")]
    pub phash: Option<u64>,
}

/// A bottom-k sketch of a set of shingles: the `K` smallest 32-bit hashes and the size of the
/// set. Exact for sets of up to `K` shingles (every description of a few sentences), an unbiased
/// Jaccard estimate beyond.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Sketch {
    /// Distinct shingles in the text.
    pub size: u32,
    /// The smallest hashes, ascending.
    pub mins: Vec<u32>,
}

/// Hashes kept per sketch.
const K: usize = 128;

impl Sketch {
    fn of(shingles: impl IntoIterator<Item = String>) -> Sketch {
        let all: BTreeSet<u32> = shingles.into_iter().map(|s| hash32(&s)).collect();
        Sketch {
            size: u32::try_from(all.len()).unwrap_or(u32::MAX),
            mins: all.into_iter().take(K).collect(),
        }
    }

    /// Estimated Jaccard similarity |A∩B| / |A∪B| (exact when both sets fit the sketch).
    pub fn jaccard(&self, other: &Sketch) -> f32 {
        if self.mins.is_empty() || other.mins.is_empty() {
            return 0.0;
        }
        // The k smallest hashes of A∪B are among the two sketches; count those in both.
        let (a, b) = (&self.mins, &other.mins);
        let (mut i, mut j, mut taken, mut shared) = (0, 0, 0usize, 0usize);
        while taken < K && (i < a.len() || j < b.len()) {
            match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) if x == y => {
                    shared += 1;
                    i += 1;
                    j += 1;
                }
                (Some(x), Some(y)) if x < y => i += 1,
                (Some(_), Some(_)) => j += 1,
                (Some(_), None) => i += 1,
                (None, _) => j += 1,
            }
            taken += 1;
        }
        shared as f32 / taken as f32
    }

    /// Share of the smaller set found in the larger one (|A∩B| / min(|A|, |B|)), from the
    /// Jaccard estimate and the set sizes: a short report repeating part of a long one.
    pub fn containment(&self, other: &Sketch) -> f32 {
        let smaller = self.size.min(other.size);
        if smaller == 0 {
            return 0.0;
        }
        let j = self.jaccard(other);
        let intersection = j * (self.size as f32 + other.size as f32) / (1.0 + j);
        (intersection / smaller as f32).min(1.0)
    }
}

impl Fingerprint {
    /// The fingerprint of a report whose location has been derived (`normalizers::pipeline`
    /// fills `location.admin` and GPS coordinates). `phashes[i]` is the perceptual hash of
    /// attachment `i` (computed by the caller, which has the files); missing entries count as
    /// none.
    pub fn of(report: &Report, phashes: &[Option<u64>], pepper: &str) -> Fingerprint {
        let mut reporter: Vec<String> = Identity::of_report(report)
            .iter()
            .map(|i| identity_digest(i, pepper))
            .collect();
        reporter.sort();
        reporter.dedup();
        let loc = &report.location;
        let coordinates = loc
            .coordinates
            .filter(Coordinates::is_plausible)
            .or_else(|| {
                report
                    .attachments
                    .iter()
                    .filter(|a| a.unreadable.is_none())
                    .find_map(|a| a.gps.filter(Coordinates::is_plausible))
            });
        let admin_words = loc.admin.as_ref().map(admin_words).unwrap_or_default();
        let address_words: BTreeSet<String> = loc
            .address
            .as_deref()
            .map(|a| words(a).into_iter().map(|w| w.folded).collect())
            .unwrap_or_default();
        let address: BTreeSet<u32> = address_words
            .iter()
            .filter(|w| !admin_words.contains(*w) && !ADDRESS_NOISE.contains(&w.as_str()))
            .map(|w| hash32(w))
            .collect();
        let mut text = report.content.title.clone().unwrap_or_default();
        text.push('\n');
        text.push_str(&report.content.text);
        // The place is compared on its own; its words in the description would make two different
        // problems at one address look alike.
        let content: Vec<Word> = words(&text)
            .into_iter()
            .filter(|w| !is_stop_word(w))
            .filter(|w| !address_words.contains(&w.folded) && !admin_words.contains(&w.folded))
            .collect();
        let text_kept = Sketch::of(shingles(content.iter().map(|w| w.kept.as_str())));
        let text_folded = Sketch::of(shingles(content.iter().map(|w| w.folded.as_str())));
        let media = report
            .attachments
            .iter()
            .enumerate()
            .filter(|(_, a)| a.unreadable.is_none() && !a.sha256.is_empty())
            .map(|(i, a)| MediaPrint {
                kind: a.kind,
                sha256: a.sha256.to_ascii_lowercase(),
                phash: phashes.get(i).copied().flatten(),
            })
            .collect();
        Fingerprint {
            id: report.id.clone(),
            received_at: report.received_at,
            channel: report.channel,
            reporter,
            coordinates,
            old_commune_code: loc.admin.as_ref().and_then(|m| m.old_commune_code.clone()),
            new_commune_code: loc.admin.as_ref().and_then(|m| m.new_commune_code.clone()),
            address: address.into_iter().collect(),
            category: report
                .category
                .as_ref()
                .filter(|c| c.source == CategorySource::Given)
                .map(|c| c.field),
            text_kept,
            text_folded,
            media,
        }
    }
}

// --- matching --------------------------------------------------------------------------------

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

/// Great-circle distance in metres (haversine, mean Earth radius).
pub fn distance_m(a: Coordinates, b: Coordinates) -> f64 {
    const R: f64 = 6_371_008.8;
    let (la1, la2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = la2 - la1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * R * h.sqrt().min(1.0).asin()
}

// --- words -----------------------------------------------------------------------------------

/// Function words and courtesy formulas that say nothing about the problem. Compared with the
/// word as written; a word typed without any mark is compared with their folded forms.
const STOP_WORDS: &[&str] = &[
    "à", "ạ", "anh", "bà", "bị", "các", "cảm", "chị", "cho", "chúng", "có", "con", "của", "đã",
    "đang", "để", "được", "em", "gửi", "kính", "khi", "là", "lại", "mà", "một", "này", "nên",
    "nhé", "như", "những", "ở", "ông", "ơn", "rất", "sẽ", "tại", "thì", "tôi", "trong", "và", "vì",
    "với", "xin",
];

fn is_stop_word(w: &Word) -> bool {
    static FOLDED: OnceLock<BTreeSet<String>> = OnceLock::new();
    if STOP_WORDS.contains(&w.kept.as_str()) {
        return true;
    }
    let unmarked = w.kept == w.folded;
    unmarked
        && FOLDED
            .get_or_init(|| STOP_WORDS.iter().map(|s| strip_marks(s)).collect())
            .contains(&w.folded)
}

/// Generic words of Vietnamese addresses (folded): they say what kind of place, not which.
const ADDRESS_NOISE: &[&str] = &[
    "so", "duong", "pho", "hem", "kiet", "ngo", "ap", "khu", "to", "thon", "xom", "phuong", "xa",
    "thi", "tran", "huyen", "quan", "tp", "thanh", "tinh", "p", "x", "q", "h", "tt", "kp", "dt",
    "ql", "tl", "gan", "truoc", "doi", "dien", "canh", "tai", "o", "long", "an", "viet", "nam",
];

struct Word {
    /// NFC, lowercase, diacritics kept.
    kept: String,
    /// No marks, đ → d.
    folded: String,
}

/// Lowercase words of a text (NFC first), numbers without leading zeros.
fn words(text: &str) -> Vec<Word> {
    let text = nfc(text).to_lowercase();
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let kept = if w.bytes().all(|b| b.is_ascii_digit()) {
                let trimmed = w.trim_start_matches('0');
                if trimmed.is_empty() { "0" } else { trimmed }.to_string()
            } else {
                w.to_string()
            };
            Word {
                folded: strip_marks(&kept),
                kept,
            }
        })
        .collect()
}

/// Words of the commune and district names of a gazetteer match (folded).
fn admin_words(m: &AdminMatch) -> BTreeSet<String> {
    [&m.old_district, &m.old_commune, &m.new_commune]
        .into_iter()
        .flatten()
        .flat_map(|name| words(name).into_iter().map(|w| w.folded))
        .collect()
}

/// Unigrams and bigrams of a word sequence.
fn shingles<'a>(words: impl Iterator<Item = &'a str>) -> Vec<String> {
    let words: Vec<&str> = words.collect();
    let mut out: Vec<String> = words.iter().map(|w| format!("1:{w}")).collect();
    out.extend(words.windows(2).map(|p| format!("2:{} {}", p[0], p[1])));
    out
}

/// A stable 32-bit hash (FNV-1a 64 with a final mix): fingerprints are stored and compared
/// across versions of the gateway, so the std hasher (which may change) is not usable.
fn hash32(s: &str) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    (h >> 32) as u32
}

mod hex_u64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(&format!("{v:016x}")),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| u64::from_str_radix(&s, 16).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Attachment, CaptureSource, Category, Envelope};
    use chrono::TimeZone;
    use unicode_normalization::UnicodeNormalization;

    const PEPPER: &str = "test-pepper";

    fn at(hours_after: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 3, 0, 0).unwrap() + Duration::hours(hours_after)
    }

    fn report(id: &str, hours_after: i64, text: &str) -> Report {
        let mut r = Report::new(Envelope {
            id: id.into(),
            tracking_code: format!("LA-{id}"),
            channel: Channel::App,
            channel_ref: None,
            received_at: at(hours_after),
        });
        r.content.text = text.into();
        r
    }

    fn at_place(mut r: Report, lat: f64, lon: f64) -> Report {
        r.location.coordinates = Some(Coordinates { lat, lon });
        r
    }

    fn in_commune(mut r: Report, address: &str) -> Report {
        r.location.address = Some(address.into());
        r.location.admin = Some(AdminMatch {
            old_district: Some("Huyện Bến Lức".into()),
            old_district_code: Some("80506".into()),
            old_commune: Some("Xã Mỹ Yên".into()),
            old_commune_code: Some("27832".into()),
            new_commune: Some("Xã Bến Lức".into()),
            new_commune_code: Some("27817".into()),
            confidence: 0.9,
        });
        r
    }

    fn with_media(mut r: Report, sha: &str) -> Report {
        r.attachments.push(Attachment {
            kind: MediaKind::Photo,
            media_type: "image/jpeg".into(),
            claimed_type: None,
            file_name: None,
            size: 1000,
            sha256: sha.into(),
            captured_at: None,
            captured_at_source: CaptureSource::None,
            captured_offset_minutes: None,
            gps: None,
            width: None,
            height: None,
            duration_ms: None,
            storage_key: format!("sha256/{sha}"),
            public_key: None,
            unreadable: None,
        });
        r
    }

    fn fp(r: &Report) -> Fingerprint {
        Fingerprint::of(r, &[], PEPPER)
    }

    fn find_in(new: &Report, open: &[&Report]) -> Matches {
        let open: Vec<Fingerprint> = open.iter().map(|r| fp(r)).collect();
        find(&fp(new), &open, &DuplicateConfig::default())
    }

    const LIGHT: &str = "Đèn đường trước nhà văn hóa ấp 3 bị hỏng, cả đoạn đường tối om từ tối qua, rất nguy hiểm cho người đi xe máy.";
    const LIGHT_AGAIN: &str = "Đèn đường trước nhà văn hóa ấp 3 hỏng rồi, buổi tối cả đoạn đường tối om, người đi xe máy rất nguy hiểm.";
    const LIGHT_UNMARKED: &str = "Den duong truoc nha van hoa ap 3 bi hong, ca doan duong toi om tu toi qua, rat nguy hiem cho nguoi di xe may.";
    const GARBAGE: &str = "Rác thải sinh hoạt đổ thành đống trước nhà văn hóa ấp 3 đã một tuần chưa có ai thu gom, bốc mùi hôi thối.";

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

    #[test]
    fn a_fingerprint_holds_no_personal_data_and_survives_json() {
        let mut r = in_commune(
            report("01OLD", 0, LIGHT),
            "Số 12 đường Nguyễn Văn Tuôi, ấp 3",
        );
        r.reporter.name = Some("Nguyễn Văn An".into());
        r.reporter.phone = Some("+84912345678".into());
        r.reporter.email = Some("an.nguyen@example.vn".into());
        let r = with_media(r, &"ef".repeat(32));
        let print = Fingerprint::of(&r, &[Some(0xfedc_ba98_7654_3210)], PEPPER);
        let json = serde_json::to_string(&print).unwrap();
        for secret in ["912345678", "an.nguyen", "Nguyễn", "Tuôi", "tuoi"] {
            assert!(!json.contains(secret), "{secret} in {json}");
        }
        assert!(json.contains("\"fedcba9876543210\""), "{json}");
        let back: Fingerprint = serde_json::from_str(&json).unwrap();
        assert_eq!(back, print);
        assert_eq!(print.reporter.len(), 2);
    }

    #[test]
    fn identities_are_normalised_masked_and_keyed() {
        let phone = Identity::parse(" 0912.345.678 ").unwrap();
        assert_eq!(phone, Identity::Phone("+84912345678".into()));
        assert_eq!(phone.masked(), "+8491****678");
        assert_eq!(Identity::parse("+84 912 345 678"), Some(phone.clone()));
        let email = Identity::parse("An.Nguyen@Example.VN").unwrap();
        assert_eq!(email, Identity::Email("an.nguyen@example.vn".into()));
        assert_eq!(email.masked(), "a***@example.vn");
        let zalo = Identity::parse("Zalo:8471263512").unwrap();
        assert_eq!(zalo.masked(), "zalo:84****12");
        for bad in [
            "",
            "hello",
            "not@an@email",
            "facebook:123",
            "zalo:",
            "zalo:a b",
        ] {
            assert_eq!(Identity::parse(bad), None, "{bad}");
        }
        let d = identity_digest(&phone, "p1");
        assert_eq!(d.len(), 64);
        assert_eq!(
            d,
            identity_digest(&Identity::parse("84912345678").unwrap(), "p1")
        );
        assert_ne!(
            d,
            identity_digest(&phone, "p2"),
            "the pepper keys the digest"
        );
        assert_ne!(d, identity_digest(&email, "p1"));
    }

    #[test]
    fn the_api_client_is_not_the_reporter() {
        let mut a = report("01A", 0, LIGHT);
        a.reporter.channel_identity = Some("api-client:long-an-so".into());
        assert!(Identity::of_report(&a).is_empty());
        let mut e = report("01E", 0, LIGHT);
        e.channel = Channel::Email;
        e.reporter.channel_identity = Some("Dan@Example.vn".into());
        e.reporter.email = Some("dan@example.vn".into());
        assert_eq!(
            Identity::of_report(&e),
            [Identity::Email("dan@example.vn".into())]
        );
        let mut z = report("01Z", 0, LIGHT);
        z.channel = Channel::ZaloMiniapp;
        z.reporter.channel_identity = Some("5512".into());
        assert_eq!(
            Identity::of_report(&z),
            [Identity::Account {
                namespace: "zalo".into(),
                id: "5512".into()
            }]
        );
    }

    #[test]
    fn sketches_are_exact_for_short_texts_and_close_for_long_ones() {
        let a = Sketch::of(["x", "y", "z", "w"].map(String::from));
        let b = Sketch::of(["x", "y", "z", "v"].map(String::from));
        assert!((a.jaccard(&b) - 3.0 / 5.0).abs() < 1e-6);
        assert!((a.containment(&b) - 0.75).abs() < 1e-3);
        // 1000 shingles sharing 500: true Jaccard 1/3.
        let big_a = Sketch::of((0..1000).map(|i| format!("s{i}")));
        let big_b = Sketch::of((500..1500).map(|i| format!("s{i}")));
        assert_eq!(big_a.mins.len(), K);
        let j = big_a.jaccard(&big_b);
        assert!((j - 1.0 / 3.0).abs() < 0.1, "{j}");
        assert_eq!(Sketch::default().jaccard(&a), 0.0);
    }
}
