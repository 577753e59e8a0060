//! Content rules of Đ7: complaints and denunciations (Đ1.1.b, Đ7.5), vulgar or offensive words
//! (Đ7.6) and suspected defamation of a named person (Đ7.4). All match whole words.

use super::lexicon::Lexicon;
use crate::text::{Shape, Word};

/// Kinship and courtesy titles that, followed by a capitalised name, name a person.
const PERSON_TITLES: &[&str] = &[
    "ông", "bà", "anh", "chị", "cô", "chú", "bác", "cậu", "mợ", "dì", "thím", "thằng", "con", "mụ",
    "lão", "ả", "em", "ong", "ba", "chi", "chu", "bac",
];

/// Offices that identify one person even without a name (chủ tịch xã, trưởng ấp…).
const OFFICES: &[&[&str]] = &[
    &["chủ", "tịch"],
    &["phó", "chủ", "tịch"],
    &["bí", "thư"],
    &["giám", "đốc"],
    &["phó", "giám", "đốc"],
    &["trưởng", "ấp"],
    &["trưởng", "khu", "phố"],
    &["trưởng", "công", "an"],
    &["trưởng", "phòng"],
    &["công", "an", "xã"],
    &["công", "an", "phường"],
    &["cán", "bộ", "địa", "chính"],
    &["cán", "bộ", "xã"],
    &["cán", "bộ", "phường"],
    &["tổ", "trưởng"],
    &["đội", "trưởng"],
    &["thanh", "tra"],
    &["hiệu", "trưởng"],
];

/// Common family names: two or more capitalised words starting with one are a person's name.
const FAMILY_NAMES: &[&str] = &[
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ",
    "Hồ", "Ngô", "Dương", "Lý", "Đinh", "Lâm", "Trương", "Mai", "Đoàn", "Châu", "Tô", "Lương",
];

/// Tokens after a person is mentioned within which an insult is taken to be about them.
const WINDOW_AFTER: usize = 8;
/// Tokens before the mention ("đồ ăn cướp Nguyễn Văn A").
const WINDOW_BEFORE: usize = 3;

/// Complaint or denunciation terms. `unaccented_text`: the text is mostly typed without marks,
/// so ambiguous unaccented spellings ("to cao") count as the term.
pub fn complaint_terms(lx: &Lexicon, words: &[&str], unaccented_text: bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        match lx.complaint.longest_at(words, i) {
            Some((len, term)) if !term.ambiguous || unaccented_text => {
                if !out.contains(&term.term) {
                    out.push(term.term.clone());
                }
                i += len;
            }
            _ => i += 1,
        }
    }
    out
}

/// Offensive words as written. `accented_text`: the writer uses marks elsewhere, so an
/// unaccented spelling that is also an ordinary unmarked word ("cac", "buoi") is deliberate.
pub fn offensive_terms(lx: &Lexicon, tokens: &[Word<'_>], accented_text: bool) -> Vec<String> {
    let words: Vec<&str> = tokens.iter().map(|t| t.lower.as_str()).collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        match lx.offensive.longest_at(&words, i) {
            Some((len, term)) if term.innocent => i += len,
            Some((len, term)) if !term.ambiguous || accented_text => {
                let written = words[i..i + len].join(" ");
                if !out.contains(&written) {
                    out.push(written);
                }
                i += len;
            }
            _ => i += 1,
        }
    }
    out
}

/// Where a person is mentioned: (first token, one past the last token, how they are named).
fn mentions(tokens: &[Word<'_>]) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        // Title + capitalised name: "ông Nguyễn Văn A", "bà Tư".
        if PERSON_TITLES.contains(&t.lower.as_str()) {
            let mut j = i + 1;
            while j < tokens.len()
                && tokens[j].shape == Shape::Word
                && (tokens[j].is_titlecase() || tokens[j].is_uppercase())
                && !tokens[j].before.contains(['.', ',', ';', '\n'])
            {
                j += 1;
            }
            if j > i + 1 {
                out.push((i, j, join(&tokens[i..j])));
                i = j;
                continue;
            }
        }
        // Full name: "Nguyễn Văn A".
        if FAMILY_NAMES.contains(&t.text) {
            let mut j = i + 1;
            while j < tokens.len() && tokens[j].shape == Shape::Word && tokens[j].is_titlecase() {
                j += 1;
            }
            if j >= i + 2 {
                out.push((i, j, join(&tokens[i..j])));
                i = j;
                continue;
            }
        }
        // An office: "chủ tịch xã", "trưởng ấp".
        if let Some(office) = OFFICES.iter().find(|o| {
            o.len() <= tokens.len() - i && o.iter().zip(&tokens[i..]).all(|(w, t)| *w == t.lower)
        }) {
            let end = i + office.len();
            out.push((i, end, join(&tokens[i..end])));
            i = end;
            continue;
        }
        i += 1;
    }
    out
}

fn join(tokens: &[Word<'_>]) -> String {
    tokens.iter().map(|t| t.text).collect::<Vec<_>>().join(" ")
}

fn sentence_break(tokens: &[Word<'_>], from: usize, to: usize) -> bool {
    tokens[from + 1..=to]
        .iter()
        .any(|t| t.before.contains(['.', '!', '?', '\n']))
}

/// Insults or accusations close to a named person or an office-holder, in the same sentence.
pub fn defamation(
    lx: &Lexicon,
    tokens: &[Word<'_>],
    offensive: &[String],
) -> Vec<(String, String)> {
    let words: Vec<&str> = tokens.iter().map(|t| t.lower.as_str()).collect();
    let mut insults: Vec<(usize, String)> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if let Some((len, term)) = lx.defamation.longest_at(&words, i) {
            insults.push((i, term.term.clone()));
            i += len;
        } else if let Some((len, _)) = lx.offensive.longest_at(&words, i) {
            let written = words[i..i + len].join(" ");
            if offensive.contains(&written) {
                insults.push((i, written));
            }
            i += len;
        } else {
            i += 1;
        }
    }
    if insults.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for (start, end, who) in mentions(tokens) {
        for (at, insult) in &insults {
            let near_after =
                *at >= end && *at - end < WINDOW_AFTER && !sentence_break(tokens, start, *at);
            let near_before =
                *at < start && start - *at <= WINDOW_BEFORE && !sentence_break(tokens, *at, start);
            if (near_after || near_before) && !out.iter().any(|(w, x)| *w == who && x == insult) {
                out.push((who.clone(), insult.clone()));
            }
        }
    }
    out
}
