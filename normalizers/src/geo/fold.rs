//! Vietnamese word forms for matching: with diacritics, without, and with the tone mark moved.
//!
//! Citizens type the same place three ways: with full diacritics ("Mộc Hóa"), with the tone mark
//! on another vowel ("Mộc Hoá", the newer official spelling), and without any mark ("Moc Hoa").
//! Each [`Token`] carries the three keys so that a match can say how exact it was:
//! - `toned`: the letters with their vowel marks (â, ă, ê, ô, ơ, ư, đ) and the tone moved to the
//!   end as a digit, so "hóa" and "hoá" compare equal but "hòa" does not;
//! - `folded`: no marks at all, `đ` as `d` ("moc hoa");
//! - `marked`: whether the word carried any mark: an unmarked word matches any marked spelling
//!   (the writer dropped the marks), a marked one that differs is a different word.

use unicode_normalization::UnicodeNormalization;

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

/// One word or number of a text, with its comparison keys.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    /// NFC, lowercase. Numbers without leading zeros ("05" → "5").
    pub text: String,
    /// Lowercase, no marks, `đ` → `d`.
    pub folded: String,
    /// Vowel marks kept, tone as a trailing digit (see the module doc).
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
    pub fn is(&self, word: &str) -> bool {
        let (folded, toned) = keys(word);
        self.toned == toned || (!self.marked && self.folded == folded)
    }
}

/// The (folded, toned) keys of one lowercase word.
pub(crate) fn keys(word: &str) -> (String, String) {
    let mut folded = String::with_capacity(word.len());
    let mut base = String::with_capacity(word.len());
    let mut tone: Option<char> = None;
    for c in word
        .chars()
        .flat_map(|c| c.to_lowercase())
        .collect::<String>()
        .nfd()
    {
        match c {
            '\u{0300}' => tone = Some('2'), // huyền
            '\u{0301}' => tone = Some('1'), // sắc
            '\u{0309}' => tone = Some('3'), // hỏi
            '\u{0303}' => tone = Some('4'), // ngã
            '\u{0323}' => tone = Some('5'), // nặng
            '\u{0302}' | '\u{0306}' | '\u{031B}' => base.push(c),
            c if is_combining(c) => {}
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
        toned.push(t);
    }
    (folded, toned)
}

fn is_combining(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}')
}

fn has_mark(word: &str) -> bool {
    word.nfd().any(|c| is_combining(c) || c == 'đ' || c == 'Đ')
}

/// Split `text` (any normalisation form) into words and numbers. Letters and digits that touch
/// ("p5", "7h30") become separate tokens with [`Gap::Glued`] between them.
pub(crate) fn tokenize(text: &str) -> Vec<Token> {
    let text: String = text.nfc().collect();
    let mut tokens: Vec<Token> = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if !c.is_alphanumeric() {
            chars.next();
            continue;
        }
        let digit = c.is_ascii_digit();
        let mut end = start;
        while let Some(&(i, c)) = chars.peek() {
            let same_class = if digit {
                c.is_ascii_digit()
            } else {
                c.is_alphanumeric() && !c.is_ascii_digit()
            };
            if !same_class {
                break;
            }
            end = i + c.len_utf8();
            chars.next();
        }
        let raw = &text[start..end];
        let lower: String = raw.chars().flat_map(|c| c.to_lowercase()).collect();
        let (text_form, folded, toned, marked) = if digit {
            let trimmed = lower.trim_start_matches('0');
            let n = if trimmed.is_empty() { "0" } else { trimmed }.to_string();
            (n.clone(), n.clone(), n, false)
        } else {
            let (folded, toned) = keys(&lower);
            let marked = has_mark(&lower);
            (lower, folded, toned, marked)
        };
        tokens.push(Token {
            text: text_form,
            folded,
            toned,
            marked,
            capitalised: raw.chars().next().is_some_and(char::is_uppercase),
            is_number: digit,
            gap_after: Gap::End,
            start,
            end,
        });
    }
    let count = tokens.len();
    for i in 0..count {
        let gap = if i + 1 == count {
            Gap::End
        } else {
            let between = &text[tokens[i].end..tokens[i + 1].start];
            if between.is_empty() {
                Gap::Glued
            } else if between.trim().is_empty() {
                Gap::Space
            } else if between.trim() == "." {
                Gap::Dot
            } else {
                Gap::Other
            }
        };
        tokens[i].gap_after = gap;
    }
    tokens
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
