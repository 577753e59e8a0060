//! The words of a description or an address as duplicate detection compares them: lowercase,
//! with and without diacritics, minus the words that say nothing about the problem or the spot.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use crate::report::AdminMatch;
use crate::text::{nfc, strip_marks};

/// Function words and courtesy formulas that say nothing about the problem. Compared with the
/// word as written; a word typed without any mark is compared with their folded forms.
const STOP_WORDS: &[&str] = &[
    "à", "ạ", "anh", "bà", "bị", "các", "cảm", "chị", "cho", "chúng", "có", "con", "của", "đã",
    "đang", "để", "được", "em", "gửi", "kính", "khi", "là", "lại", "mà", "một", "này", "nên",
    "nhé", "như", "những", "ở", "ông", "ơn", "rất", "sẽ", "tại", "thì", "tôi", "trong", "và", "vì",
    "với", "xin",
];

pub(super) fn is_stop_word(w: &Word) -> bool {
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
pub(super) const ADDRESS_NOISE: &[&str] = &[
    "so", "duong", "pho", "hem", "kiet", "ngo", "ap", "khu", "to", "thon", "xom", "phuong", "xa",
    "thi", "tran", "huyen", "quan", "tp", "thanh", "tinh", "p", "x", "q", "h", "tt", "kp", "dt",
    "ql", "tl", "gan", "truoc", "doi", "dien", "canh", "tai", "o", "long", "an", "viet", "nam",
];

pub(super) struct Word {
    /// NFC, lowercase, diacritics kept.
    pub(super) kept: String,
    /// No marks, đ → d.
    pub(super) folded: String,
}

/// Lowercase words of a text (NFC first), numbers without leading zeros.
pub(super) fn words(text: &str) -> Vec<Word> {
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
pub(super) fn admin_words(m: &AdminMatch) -> BTreeSet<String> {
    [&m.old_district, &m.old_commune, &m.new_commune]
        .into_iter()
        .flatten()
        .flat_map(|name| words(name).into_iter().map(|w| w.folded))
        .collect()
}
