//! The one tokenizer, with two views of the same word runs.
//!
//! A *word run* is a maximal run of letters, digits and combining marks. The text checks read
//! the runs as they are ([`words`]): a [`Word`] keeps what sits between it and its neighbours (a
//! dot after "P", a slash in "3/2") because abbreviations and address parts are told apart by it,
//! and keeps letters and digits together ("m2", "d9u7o72ng") because a unit or a VNI keystroke is
//! one word. Address and time matching read each run cut where letters meet digits ([`tokenize`]):
//! "p5" is the ward prefix then the number, "7h30" is seven, h, thirty; a [`Token`] carries the
//! comparison keys of [`super::fold`], its byte range and the kind of [`Gap`] to the next token.

use std::cell::RefCell;
use std::collections::HashMap;

use unicode_normalization::UnicodeNormalization;

use super::fold::{is_combining, is_marked, keys};

/// Byte ranges of the word runs of `text`.
fn runs(text: &str) -> Vec<(usize, usize)> {
    let is_word_char = |c: char| c.is_alphanumeric() || is_combining(c);
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        match (is_word_char(c), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, text.len()));
    }
    spans
}

/// What a word is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Letters only.
    Word,
    /// Digits only.
    Number,
    /// Letters and digits ("m2", "4G", "d9u7o72ng").
    Mixed,
}

/// One word run, as the text checks read it.
#[derive(Debug, Clone)]
pub struct Word<'a> {
    /// As written (NFC).
    pub text: &'a str,
    pub lower: String,
    pub shape: Shape,
    /// Characters between the previous word and this one.
    pub before: &'a str,
    /// Characters between this word and the next one.
    pub after: &'a str,
    /// First word of a sentence (text start or after . ! ? : or a line break).
    pub sentence_start: bool,
}

impl Word<'_> {
    /// "Nguyễn", "Bến": first letter upper, rest lower.
    pub fn is_titlecase(&self) -> bool {
        let mut chars = self.text.chars();
        chars.next().is_some_and(char::is_uppercase) && chars.all(|c| !c.is_uppercase())
    }

    /// Every letter upper case ("UBND", "TP").
    pub fn is_uppercase(&self) -> bool {
        self.text.chars().any(char::is_alphabetic)
            && self
                .text
                .chars()
                .filter(|c| c.is_alphabetic())
                .all(char::is_uppercase)
    }

    pub fn is_lowercase(&self) -> bool {
        self.text.chars().all(|c| !c.is_uppercase())
    }

    pub fn letters(&self) -> usize {
        self.text.chars().filter(|c| c.is_alphabetic()).count()
    }
}

/// The words of `text` (which should be NFC), letters and digits kept together.
pub fn words(text: &str) -> Vec<Word<'_>> {
    let spans = runs(text);
    let mut out = Vec::with_capacity(spans.len());
    for (k, &(s, e)) in spans.iter().enumerate() {
        let prev_end = if k == 0 { 0 } else { spans[k - 1].1 };
        let next_start = spans.get(k + 1).map_or(text.len(), |n| n.0);
        let word = &text[s..e];
        let before = &text[prev_end..s];
        let has_alpha = word.chars().any(char::is_alphabetic);
        let has_digit = word.chars().any(|c| c.is_numeric());
        let shape = match (has_alpha, has_digit) {
            (true, false) => Shape::Word,
            (false, _) => Shape::Number,
            (true, true) => Shape::Mixed,
        };
        out.push(Word {
            text: word,
            lower: word.to_lowercase(),
            shape,
            before,
            after: &text[e..next_start],
            sentence_start: k == 0
                || before.contains(['.', '!', '?', ':', '\n', '"', '“', '(', '-', '…']),
        });
    }
    out
}

/// How a token is separated from the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gap {
    /// Nothing between the two ("p5": `p` then `5`).
    Glued,
    /// Only white space.
    Space,
    /// A dot, possibly followed by white space ("TP. Tân An", "P.5").
    Dot,
    /// Any other punctuation (comma, slash, dash, colon, end of line…).
    Other,
    /// Last token of the text.
    End,
}

/// One word or number, as address and time matching read it, with its comparison keys.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    /// NFC, lowercase. Numbers without leading zeros ("05" → "5").
    pub text: String,
    /// Lowercase, no marks, `đ` → `d`.
    pub folded: String,
    /// Vowel marks kept, tone as a trailing digit (see [`super::fold`]).
    pub toned: String,
    /// Whether any letter carried a mark.
    pub marked: bool,
    /// First letter was uppercase in the original.
    pub capitalised: bool,
    pub is_number: bool,
    /// Separation from the next token.
    pub gap_after: Gap,
    /// Byte range in the NFC text given to [`tokenize`].
    pub start: usize,
    pub end: usize,
}

impl Token {
    /// Whether this token is the word `word` (given in lowercase with diacritics): the same word
    /// with its tone anywhere, or the same letters typed without any mark.
    ///
    /// The callers compare every token with a few dozen constant words (unit prefixes, time
    /// words, fillers): most comparisons are refused by the first letter, and a word's keys are
    /// computed once per thread ([`pattern_keys`]), not at every comparison (an address-heavy
    /// text of some kilobytes used to spend most of its matching time folding the same words).
    pub fn is(&self, word: &str) -> bool {
        if let Some(&first) = word.as_bytes().first() {
            if first.is_ascii_alphabetic()
                && self.folded.as_bytes().first() != Some(&first.to_ascii_lowercase())
            {
                return false;
            }
        }
        pattern_keys(word, |folded, toned| {
            self.toned == toned || (!self.marked && self.folded == folded)
        })
    }

    fn new(text: &str, start: usize, end: usize) -> Token {
        let raw = &text[start..end];
        let digit = raw.starts_with(|c: char| c.is_ascii_digit());
        let lower: String = raw.chars().flat_map(|c| c.to_lowercase()).collect();
        let (text_form, folded, toned, marked) = if digit {
            let trimmed = lower.trim_start_matches('0');
            let n = if trimmed.is_empty() { "0" } else { trimmed }.to_string();
            (n.clone(), n.clone(), n, false)
        } else {
            let (folded, toned) = keys(&lower);
            let marked = is_marked(&lower);
            (lower, folded, toned, marked)
        };
        Token {
            text: text_form,
            folded,
            toned,
            marked,
            capitalised: raw.chars().next().is_some_and(char::is_uppercase),
            is_number: digit,
            gap_after: Gap::End,
            start,
            end,
        }
    }
}

/// The most pattern words [`pattern_keys`] keeps per thread: the callers use a few dozen
/// constants; a caller comparing with unbounded input only makes the memo start over.
const PATTERN_KEYS_MAX: usize = 1024;

/// A word's comparison keys: (folded, toned).
type Keys = (Box<str>, Box<str>);

thread_local! {
    /// The comparison keys of the words tokens are compared with.
    static PATTERN_KEYS: RefCell<HashMap<Box<str>, Keys>> = RefCell::new(HashMap::new());
}

/// Call `compare` with the comparison keys (folded, toned) of `word`, computed at its first use
/// on this thread.
fn pattern_keys<R>(word: &str, compare: impl FnOnce(&str, &str) -> R) -> R {
    PATTERN_KEYS.with_borrow_mut(|memo| {
        if let Some((folded, toned)) = memo.get(word) {
            return compare(folded, toned);
        }
        let (folded, toned) = keys(word);
        let answer = compare(&folded, &toned);
        if memo.len() >= PATTERN_KEYS_MAX {
            memo.clear();
        }
        memo.insert(word.into(), (folded.into(), toned.into()));
        answer
    })
}

/// The folded keys of `tokens` joined by single spaces ("my yen"): the key names are indexed
/// and looked up by.
pub(crate) fn folded_key(tokens: &[Token]) -> String {
    tokens
        .iter()
        .map(|t| t.folded.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Byte ranges of the pieces of one word run: letters and ASCII digits apart, combining marks
/// left over after NFC (no precomposed form) dropped as separators.
fn pieces(text: &str, (start, end): (usize, usize), out: &mut Vec<(usize, usize)>) {
    let mut piece: Option<(usize, bool)> = None;
    for (i, c) in text[start..end].char_indices() {
        let i = start + i;
        let class = c.is_alphanumeric().then(|| c.is_ascii_digit());
        match (piece, class) {
            (Some((s, digit)), Some(d)) if d == digit => piece = Some((s, digit)),
            (previous, class) => {
                if let Some((s, _)) = previous {
                    out.push((s, i));
                }
                piece = class.map(|d| (i, d));
            }
        }
    }
    if let Some((s, _)) = piece {
        out.push((s, end));
    }
}

fn gap(between: &str) -> Gap {
    if between.is_empty() {
        Gap::Glued
    } else if between.trim().is_empty() {
        Gap::Space
    } else if between.trim() == "." {
        Gap::Dot
    } else {
        Gap::Other
    }
}

/// Split `text` (any normalisation form) into words and numbers. Letters and digits that touch
/// ("p5", "7h30") become separate tokens with [`Gap::Glued`] between them. Byte ranges refer to
/// the NFC form of `text`.
pub(crate) fn tokenize(text: &str) -> Vec<Token> {
    let text: String = text.nfc().collect();
    let mut spans = Vec::new();
    for run in runs(&text) {
        pieces(&text, run, &mut spans);
    }
    let mut out: Vec<Token> = spans
        .iter()
        .map(|&(s, e)| Token::new(&text, s, e))
        .collect();
    for (i, next) in spans.iter().enumerate().skip(1) {
        out[i - 1].gap_after = gap(&text[spans[i - 1].1..next.0]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing the email normalizer: a description of some kilobytes naming many places
    /// took a second, most of it folding the same constant words again at every comparison.
    #[test]
    fn matching_folds_each_pattern_word_once_not_at_every_comparison() {
        use super::super::fold::KEYS_CALLS;
        let sentence = "Tại ấp 3 xã Mỹ Yên huyện Bến Lức, đường Hùng Vương phường 1 thành phố \
                        Tân An có đèn hỏng lúc 19 giờ ngày 28/11, sáng nay khoảng 7h30. ";
        let text = sentence.repeat(40);
        let received = chrono::DateTime::parse_from_rfc3339("2026-11-29T09:00:00+07:00")
            .expect("a time")
            .to_utc();
        let geo = crate::geo::Geo::embedded();
        // The first use on this thread folds each constant word once.
        let _ = geo.locate_in_text(sentence);
        let _ = crate::timephrase::read(sentence, received);

        let tokens = tokenize(&text).len();
        let before = KEYS_CALLS.get();
        let _ = geo.locate_in_text(&text);
        let _ = crate::timephrase::read(&text, received);
        let calls = KEYS_CALLS.get() - before;
        // Tokenizing the text folds each token once; each reader tokenizes it once.
        assert!(
            calls <= 3 * tokens,
            "{calls} foldings for {tokens} tokens: the matchers fold their constant words again"
        );
    }

    #[test]
    fn words_keep_separators_for_address_parts() {
        let t = words("P.5, đường 3/2");
        let texts: Vec<&str> = t.iter().map(|t| t.text).collect();
        assert_eq!(texts, ["P", "5", "đường", "3", "2"]);
        assert_eq!(t[0].after, ".");
        assert_eq!(t[3].after, "/");
        assert_eq!(t[1].shape, Shape::Number);
        assert!(t[0].sentence_start && !t[2].sentence_start);
    }

    #[test]
    fn mixed_words() {
        let t = words("d9u7o72ng 4G");
        assert_eq!(t[0].shape, Shape::Mixed);
        assert_eq!(t[1].shape, Shape::Mixed);
    }

    #[test]
    fn nfd_input_gives_the_same_tokens_as_nfc() {
        let nfc = "Xã Mỹ Yên, huyện Bến Lức";
        let nfd: String = nfc.nfd().collect();
        let a: Vec<_> = tokenize(nfc).into_iter().map(|t| t.toned).collect();
        let b: Vec<_> = tokenize(&nfd).into_iter().map(|t| t.toned).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn letters_and_digits_split_and_gaps_are_recorded() {
        let t = tokenize("P.05, F5 7h30");
        let texts: Vec<_> = t.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(texts, ["p", "5", "f", "5", "7", "h", "30"]);
        assert_eq!(t[0].gap_after, Gap::Dot);
        assert_eq!(t[1].gap_after, Gap::Other);
        assert_eq!(t[2].gap_after, Gap::Glued);
        assert!(t[2].capitalised && !t[5].capitalised);
        assert_eq!(t[6].gap_after, Gap::End);
    }

    #[test]
    fn a_leftover_combining_mark_separates_tokens() {
        // "q̃" has no precomposed form: NFC keeps the mark, which is no letter.
        let t = tokenize("aq\u{303}b 1²");
        let texts: Vec<_> = t.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(texts, ["aq", "b", "1", "²"]);
        assert_eq!(t[0].gap_after, Gap::Other);
        assert_eq!(t[2].gap_after, Gap::Glued);
    }

    #[test]
    fn an_unmarked_word_matches_any_spelling_a_marked_one_only_its_own() {
        let t = tokenize("xa xã xá");
        assert!(t[0].is("xã") && t[1].is("xã"));
        assert!(!t[2].is("xã"));
        let folded: Vec<_> = tokenize("Thị trấn  Đức Hòa!")
            .into_iter()
            .map(|t| t.folded)
            .collect();
        assert_eq!(folded, ["thi", "tran", "duc", "hoa"]);
    }
}
