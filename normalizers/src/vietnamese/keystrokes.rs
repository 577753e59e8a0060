//! Raw keystrokes of the Telex and VNI input methods, typed with the input method switched off
//! ("dduwowngf", "d9u7o72ng"), decoded into the syllable meant.

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
}
