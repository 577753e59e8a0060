//! Vietnamese text handling shared by every normalizer: NFC, folding to unmarked lowercase, the
//! toned key and the marked flag, and the one tokenizer.
//!
//! This is a top-level module rather than a part of `vietnamese` because its users are not only
//! the text analysis: the gazetteer matcher (`geo`), the time phrases (`timephrase`), the
//! duplicate fingerprints (`duplicate`), the Zalo dialogue's keywords and every channel
//! normalizer (NFC) fold and tokenize the same way, and none of them should depend on the
//! analysis' lexicon to do so. `vietnamese` builds on it.
//!
//! # Layout
//! - `fold`: marks and tones: [`strip_marks`], [`fold`], [`keys`], [`is_marked`],
//!   [`fold_phrase`], [`split_tone`], letter classes.
//! - `tokens`: word runs, read whole with their separators ([`words`]) or cut where letters meet
//!   digits with comparison keys and byte ranges (`tokenize`).

mod fold;
mod tokens;

pub use fold::{
    fold, fold_phrase, is_latin, is_marked, is_marked_letter, keys, split_tone, strip_marks,
};
pub(crate) use tokens::{folded_key, tokenize, Gap, Token};
pub use tokens::{words, Shape, Word};

use unicode_normalization::UnicodeNormalization;

/// Unicode NFC: the same Vietnamese letter typed precomposed or with combining marks compares equal.
pub fn nfc(s: &str) -> String {
    s.nfc().collect()
}
