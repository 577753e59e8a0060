//! Vietnamese word forms for matching: with diacritics, without, and with the tone mark moved.
//!
//! Citizens type the same place or word three ways: with full diacritics ("Mộc Hóa"), with the
//! tone mark on another vowel ("Mộc Hoá", the newer official spelling), and without any mark
//! ("Moc Hoa"). The keys here let a comparison say how exact it was:
//! - the *folded* key ([`fold`]): no marks at all, `đ` as `d`, lowercase ("moc hoa");
//! - the *toned* key ([`keys`]): the letters with their vowel marks (â, ă, ê, ô, ơ, ư, đ) and the
//!   tone moved to the end as a digit, so "hóa" and "hoá" compare equal but "hòa" does not;
//! - the *marked* flag ([`is_marked`]): whether the word carried any mark: an unmarked word
//!   matches any marked spelling (the writer dropped the marks), a marked one that differs is a
//!   different word.
//!
//! [`strip_marks`] keeps case ("Đường" → "Duong"), [`fold_phrase`] folds a whole short answer
//! for keyword matching, and [`split_tone`] separates the tone from the letter shapes for the
//! syllable lexicon.

use unicode_normalization::UnicodeNormalization;

/// Combining marks of the five Vietnamese tones, in tone order 1..=5
/// (sắc, huyền, hỏi, ngã, nặng), the order of the VNI keys 1..5.
const TONE_MARKS: [char; 5] = ['\u{301}', '\u{300}', '\u{309}', '\u{303}', '\u{323}'];

/// Tone number (0 = ngang, 1 sắc, 2 huyền, 3 hỏi, 4 ngã, 5 nặng) of a combining mark.
fn tone_of_mark(c: char) -> Option<u8> {
    TONE_MARKS
        .iter()
        .position(|m| *m == c)
        .and_then(|i| u8::try_from(i + 1).ok())
}

/// The combining diacritical marks block: every mark a Vietnamese letter decomposes into.
pub(crate) fn is_combining(c: char) -> bool {
    ('\u{300}'..='\u{36F}').contains(&c)
}

/// Any Latin letter carrying a Vietnamese mark, or đ/Đ.
pub fn is_marked_letter(c: char) -> bool {
    if c == 'đ' || c == 'Đ' {
        return true;
    }
    !c.is_ascii() && c.is_alphabetic() && is_latin(c) && c.nfd().nth(1).is_some()
}

/// Latin script letters (ASCII, Latin-1, Latin Extended A/B, Latin Extended Additional).
pub fn is_latin(c: char) -> bool {
    c.is_ascii_alphabetic()
        || ('\u{C0}'..='\u{24F}').contains(&c)
        || ('\u{1E00}'..='\u{1EFF}').contains(&c)
}

/// Whether the word carries any mark (a combining mark once decomposed, or đ/Đ).
pub(crate) fn is_marked(word: &str) -> bool {
    word.nfd().any(|c| is_combining(c) || c == 'đ' || c == 'Đ')
}

/// The text with every mark removed and đ → d, case kept ("Đường" → "Duong").
pub fn strip_marks(s: &str) -> String {
    s.nfd()
        .filter(|c| !is_combining(*c))
        .map(|c| match c {
            'đ' => 'd',
            'Đ' => 'D',
            c => c,
        })
        .collect()
}

/// A short answer folded for keyword matching: lowercase, every combining mark removed (any
/// script's), `đ`/`Đ` → `d`, runs of white space collapsed to one space and the ends trimmed
/// ("  Gửi   ĐI " → "gui di").
pub fn fold_phrase(text: &str) -> String {
    let stripped: String = text
        .nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .map(|c| match c {
            'đ' | 'Đ' => 'd',
            c => c,
        })
        .collect::<String>()
        .to_lowercase();
    stripped.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
thread_local! {
    /// How many times [`keys`] ran on this thread (tests of what the matchers cost).
    pub(crate) static KEYS_CALLS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The (folded, toned) keys of one word (any case; see the module doc).
pub(crate) fn keys(word: &str) -> (String, String) {
    #[cfg(test)]
    KEYS_CALLS.with(|calls| calls.set(calls.get() + 1));
    let mut folded = String::with_capacity(word.len());
    let mut base = String::with_capacity(word.len());
    let mut tone: Option<u8> = None;
    for c in word
        .chars()
        .flat_map(|c| c.to_lowercase())
        .collect::<String>()
        .nfd()
    {
        match c {
            '\u{0302}' | '\u{0306}' | '\u{031B}' => base.push(c),
            c if is_combining(c) => {
                if let Some(t) = tone_of_mark(c) {
                    tone = Some(t);
                }
            }
            'đ' => {
                folded.push('d');
                base.push('đ');
            }
            c => {
                folded.push(c);
                base.push(c);
            }
        }
    }
    let mut toned: String = base.nfc().collect();
    if let Some(t) = tone {
        toned.push(char::from(b'0' + t));
    }
    (folded, toned)
}

/// Removes the tone mark but keeps the letter shapes (â ă ê ô ơ ư đ): ("đường" → ("đương", 2)).
pub fn split_tone(s: &str) -> (String, u8) {
    let mut tone = 0;
    let shape: String = s
        .nfd()
        .filter(|c| match tone_of_mark(*c) {
            Some(t) => {
                tone = t;
                false
            }
            None => true,
        })
        .nfc()
        .collect();
    (shape, tone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tone_placement_does_not_matter_but_the_tone_does() {
        assert_eq!(keys("hóa").1, keys("hoá").1);
        assert_eq!(keys("thủy").1, keys("thuỷ").1);
        assert_ne!(keys("hòa").1, keys("hóa").1);
        assert_ne!(keys("thạnh").1, keys("thành").1);
        assert_eq!(keys("thạnh").0, "thanh");
        assert_eq!(keys("Đức").0, "duc");
        assert_eq!(keys("Thạnh").0, "thanh");
    }

    #[test]
    fn tone_digits_follow_the_vni_order() {
        assert_eq!(keys("má").1, "ma1");
        assert_eq!(keys("mà").1, "ma2");
        assert_eq!(keys("mả").1, "ma3");
        assert_eq!(keys("mã").1, "ma4");
        assert_eq!(keys("mạ").1, "ma5");
        assert_eq!(keys("ma").1, "ma");
    }

    #[test]
    fn strips_marks_and_stroke() {
        assert_eq!(strip_marks("Đường Nguyễn Huệ"), "Duong Nguyen Hue");
        assert_eq!(strip_marks("nước"), "nuoc");
    }

    #[test]
    fn folds_phrases_for_keywords() {
        assert_eq!(fold_phrase("  Gửi   ĐI "), "gui di");
        assert_eq!(fold_phrase("HỦY\tbỏ"), "huy bo");
        assert_eq!(fold_phrase("Đồng ý"), "dong y");
    }

    #[test]
    fn splits_tone_from_shape() {
        assert_eq!(split_tone("đường"), ("đương".to_string(), 2));
        assert_eq!(split_tone("nước"), ("nươc".to_string(), 1));
        assert_eq!(split_tone("cho"), ("cho".to_string(), 0));
    }

    #[test]
    fn marked_letters_and_words() {
        assert!(is_marked_letter('ư'));
        assert!(is_marked_letter('Đ'));
        assert!(!is_marked_letter('a'));
        assert!(!is_marked_letter('中'));
        assert!(is_marked("đi") && is_marked("xã") && !is_marked("xa"));
    }
}
