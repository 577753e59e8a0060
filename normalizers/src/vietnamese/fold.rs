//! Letters and marks: stripping diacritics, splitting tone from shape, and decoding the raw
//! keystrokes of the Telex and VNI input methods (typed with the input method switched off).

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

/// The word with every mark removed and đ → d ("Đường" → "Duong").
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

fn is_combining(c: char) -> bool {
    ('\u{300}'..='\u{36F}').contains(&c)
}

fn is_vowel(c: char) -> bool {
    matches!(
        c,
        'a' | 'ă' | 'â' | 'e' | 'ê' | 'i' | 'o' | 'ô' | 'ơ' | 'u' | 'ư' | 'y'
    )
}

/// Decodes raw Telex keystrokes ("dduwowngf", "nuwowcs", "khoong") into `(shape, tone)`.
/// `None` when the word has no Telex key at all or the keys do not combine.
/// The caller checks the result against the syllable list.
pub fn telex(word: &str) -> Option<(String, u8)> {
    let mut out: Vec<char> = Vec::with_capacity(word.len());
    let mut tone = 0u8;
    let mut changed = false;
    let mut seen_vowel = false;
    for c in word.chars() {
        if !c.is_ascii_lowercase() {
            return None;
        }
        let key_tone = match c {
            's' => 1,
            'f' => 2,
            'r' => 3,
            'x' => 4,
            'j' => 5,
            _ => 0,
        };
        if key_tone > 0 && seen_vowel {
            if tone != 0 {
                return None;
            }
            tone = key_tone;
            changed = true;
            continue;
        }
        match (c, out.last().copied()) {
            ('d', Some('d')) if out.len() == 1 => {
                out[0] = 'đ';
                changed = true;
            }
            ('a', Some('a')) | ('e', Some('e')) | ('o', Some('o')) => {
                let last = out.len() - 1;
                out[last] = match c {
                    'a' => 'â',
                    'e' => 'ê',
                    _ => 'ô',
                };
                changed = true;
            }
            ('w', Some(prev)) if is_vowel(prev) => {
                let last = out.len() - 1;
                match prev {
                    'a' => out[last] = 'ă',
                    'o' | 'ơ' => {
                        out[last] = 'ơ';
                        if last > 0 && out[last - 1] == 'u' {
                            out[last - 1] = 'ư';
                        }
                    }
                    'u' => out[last] = 'ư',
                    _ => return None,
                }
                changed = true;
            }
            ('w', _) => {
                out.push('ư');
                seen_vowel = true;
                changed = true;
            }
            _ => {
                if is_vowel(c) {
                    seen_vowel = true;
                }
                out.push(c);
            }
        }
    }
    if !changed || !seen_vowel {
        return None;
    }
    Some((out.into_iter().collect(), tone))
}

/// Decodes raw VNI keystrokes ("d9u7o72ng", "to6i") into `(shape, tone)`: digits 1–5 are the
/// tones, 6 the circumflex, 7 the horn, 8 the breve, 9 the stroke of đ.
pub fn vni(word: &str) -> Option<(String, u8)> {
    if !word.starts_with(|c: char| c.is_ascii_lowercase())
        || !word.contains(|c: char| c.is_ascii_digit())
    {
        return None;
    }
    let mut out: Vec<char> = Vec::with_capacity(word.len());
    let mut tone = 0u8;
    for c in word.chars() {
        match c {
            'a'..='z' => out.push(c),
            '1'..='5' => {
                if tone != 0 || !out.iter().any(|c| is_vowel(*c)) {
                    return None;
                }
                tone = c as u8 - b'0';
            }
            '6' => {
                let i = out.iter().rposition(|c| matches!(c, 'a' | 'e' | 'o'))?;
                out[i] = match out[i] {
                    'a' => 'â',
                    'e' => 'ê',
                    _ => 'ô',
                };
            }
            '7' => {
                let i = out
                    .iter()
                    .rposition(|c| matches!(c, 'o' | 'u' | 'ơ' | 'ư'))?;
                match out[i] {
                    'o' | 'ơ' => {
                        out[i] = 'ơ';
                        if i > 0 && out[i - 1] == 'u' {
                            out[i - 1] = 'ư';
                        }
                    }
                    _ => out[i] = 'ư',
                }
            }
            '8' => {
                let i = out.iter().rposition(|c| *c == 'a')?;
                out[i] = 'ă';
            }
            '9' => {
                if out.first() != Some(&'d') {
                    return None;
                }
                out[0] = 'đ';
            }
            _ => return None,
        }
    }
    if out.len() < 2 {
        return None;
    }
    Some((out.into_iter().collect(), tone))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_marks_and_stroke() {
        assert_eq!(strip_marks("Đường Nguyễn Huệ"), "Duong Nguyen Hue");
        assert_eq!(strip_marks("nước"), "nuoc");
    }

    #[test]
    fn splits_tone_from_shape() {
        assert_eq!(split_tone("đường"), ("đương".to_string(), 2));
        assert_eq!(split_tone("nước"), ("nươc".to_string(), 1));
        assert_eq!(split_tone("cho"), ("cho".to_string(), 0));
    }

    #[test]
    fn decodes_telex_keystrokes() {
        assert_eq!(telex("dduwowngf"), Some(("đương".into(), 2)));
        assert_eq!(telex("nuwowcs"), Some(("nươc".into(), 1)));
        assert_eq!(telex("khoong"), Some(("không".into(), 0)));
        assert_eq!(telex("cho"), None, "no Telex key at all");
    }

    #[test]
    fn decodes_vni_keystrokes() {
        assert_eq!(vni("d9u7o72ng"), Some(("đương".into(), 2)));
        assert_eq!(vni("to6i"), Some(("tôi".into(), 0)));
        assert_eq!(vni("m2"), None, "a unit, not a syllable");
        assert_eq!(vni("vtv3"), None);
    }

    #[test]
    fn marked_letters() {
        assert!(is_marked_letter('ư'));
        assert!(is_marked_letter('Đ'));
        assert!(!is_marked_letter('a'));
        assert!(!is_marked_letter('中'));
    }
}
