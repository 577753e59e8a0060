//! Vietnamese text handling shared by every normalizer: NFC, folding to unmarked lowercase, the
//! toned key and the marked flag, and the one tokenizer.
//!
//! This is a top-level module rather than a part of `vietnamese` because its users are not only
//! the text analysis: the gazetteer matcher (`geo`) and the time phrases (`timephrase`) tokenize
//! with it, the duplicate fingerprints (`duplicate`) and the Zalo dialogue's keywords fold with
//! it, every channel normalizer takes NFC from it, and none of them should depend on the
//! analysis' lexicon to do so. `vietnamese` builds on it. (The duplicate fingerprints keep their
//! own word split, "p5" as one word: stored fingerprints depend on it.)
//!
//! # Layout
//! - `fold`: marks and tones: [`strip_marks`], the comparison keys of a word, [`fold_phrase`],
//!   [`split_tone`], letter classes.
//! - `tokens`: word runs, read whole with their separators ([`words`]) or cut where letters meet
//!   digits with comparison keys and byte ranges (`tokenize`).

mod fold;
mod tokens;

pub use fold::{fold_phrase, is_latin, is_marked_letter, split_tone, strip_marks};
pub(crate) use tokens::{folded_key, tokenize, Gap, Token};
pub use tokens::{words, Shape, Word};

use unicode_normalization::UnicodeNormalization;

/// Unicode NFC: the same Vietnamese letter typed precomposed or with combining marks compares equal.
///
/// Text that the quick check proves normalised already (all of ASCII, and nearly all UTF-8 mail
/// and chat, which is typed precomposed) is copied as it is: the full decomposition and
/// recomposition cost a quarter of the email normalizer over the corpus (BENCHMARKS.md,
/// "Profiles"). The result is the same either way.
pub fn nfc(s: &str) -> String {
    if unicode_normalization::is_nfc_quick(s.chars()) == unicode_normalization::IsNormalized::Yes {
        return s.to_string();
    }
    s.nfc().collect()
}

/// [`nfc`] of an owned text, without a copy when it is normalised already.
pub fn nfc_owned(s: String) -> String {
    if unicode_normalization::is_nfc_quick(s.chars()) == unicode_normalization::IsNormalized::Yes {
        return s;
    }
    s.nfc().collect()
}
