//! Abbreviations (viết tắt, Đ6.1): chat shortcuts ("ko", "đc", "j", "ntn") and administrative
//! ones ("UBND", "CSGT", "TP.", "P.5").
//!
//! Only whole tokens are abbreviations. Single letters are taken for chat shortcuts only between
//! words: never after a number ("10 m", "5 g sáng"), before or after a dot, slash or hyphen
//! ("P.5", "3/2", "Wai-kru"), after an address word ("lô b", "khu a"), or in the compounds where
//! they are ordinary words ("e ngại", "a dua").

use super::lexicon::Lexicon;
use super::WordClass;
use crate::report::{Abbreviation, AbbreviationKind};
use crate::text::{Shape, Word};

/// Words after which a single letter is a name of a part (lô B, khu A, tổ c), not a shortcut.
const PART_WORDS: &[&str] = &[
    "lô",
    "khu",
    "dãy",
    "block",
    "tầng",
    "phòng",
    "căn",
    "hẻm",
    "kiệt",
    "ngõ",
    "ngách",
    "ấp",
    "tổ",
    "số",
    "đường",
    "loại",
    "hạng",
    "mục",
    "điểm",
    "phần",
    "câu",
    "vitamin",
    "nhóm",
    "lớp",
    "tòa",
    "khối",
    "cấp",
    "cổng",
    "cửa",
    "bảng",
    "trụ",
    "cột",
    "chữ",
    "kí",
    "ký",
    "hiệu",
    "tuyến",
    "nhánh",
    "đoạn",
    "làn",
    "mẫu",
    "bản",
    "kiểu",
    "dạng",
    "size",
    "điều",
    "khoản",
];

/// Two-word compounds in which a single letter is an ordinary Vietnamese word.
const LETTER_COMPOUNDS: &[(&str, &str)] = &[
    ("e", "ngại"),
    ("e", "sợ"),
    ("e", "dè"),
    ("e", "thẹn"),
    ("e", "lệ"),
    ("e", "ấp"),
    ("a", "dua"),
    ("a", "tòng"),
    ("a", "lô"),
    ("a", "ha"),
    ("a", "di"),
    ("à", "ơi"),
];

/// Units written after a number ("500 kg", "20 m", "5 g sáng" = 5 giờ sáng).
const UNITS: &[&str] = &["k", "m", "g", "h", "t", "s", "l", "đ", "kg", "cc", "p", "d"];

/// Misspellings used as slang that are also words of their own ("bít" = to seal, "bít lối đi";
/// "pít" of "pít tông"): a shortcut of "biết" only next to the words "biết" goes with.
const SLANG_IN_CONTEXT: &[&str] = &["bít", "pít"];

/// Words before which or after which "bít" means "biết" ("không bít", "bít gì", "ai bít").
const KNOW_NEIGHBOURS: &[&str] = &[
    "không", "ko", "k", "kh", "hok", "hk", "hông", "chưa", "ai", "đâu", "mới", "cũng", "đã", "sẽ",
    "muốn", "tôi", "mình", "mik", "mk", "em", "e", "anh", "chị", "tui", "t", "gì", "j", "rồi", "r",
    "là", "được", "đc", "dc", "hết", "luôn", "lun", "nào", "sao",
];

/// Road designations written before the road's number ("QL1A", "QL 1A", "ĐT.830", "ĐT 827",
/// "TL 10", "HL 5", "ĐH 22"): the road's proper name, not an abbreviation to spell out.
const ROAD_CODES: &[&str] = &["QL", "ĐT", "DT", "TL", "HL", "ĐH", "DH", "ĐX"];

/// Written against the previous word: "Wai-kru", "3/2", "đ / kg", "v.v", ":v".
fn joined_before(before: &str) -> bool {
    // ":v", ":d", "=))": emoticons, not words.
    before.ends_with(['.', '/', '-', '\'', '’', '&', '_', '@', ':', ';', '=', '^'])
        || before.trim() == "/"
}

/// Written against the next word: "k-icm", "P.5", "q.1" (but a dot that ends a sentence is not).
fn joined_after(after: &str, has_next: bool) -> bool {
    after.starts_with(['/', '-', '\'', '’', '&', '_', '@']) || (after == "." && has_next)
}

/// Abbreviations in `tokens`, each once. `accented_text`: the writer otherwise uses marks, so a
/// shortcut that is also an unmarked word ("a", "lun") is a shortcut.
pub fn find(
    lx: &Lexicon,
    tokens: &[Word<'_>],
    classes: &[WordClass],
    accented_text: bool,
    shouting: bool,
) -> Vec<Abbreviation> {
    let mut found: Vec<Abbreviation> = Vec::new();
    let mut push = |word: &str, full: &str, kind: AbbreviationKind| {
        if !found.iter().any(|a| a.word == word) {
            found.push(Abbreviation {
                word: word.to_string(),
                full_form: full.to_string(),
                kind,
            });
        }
    };
    let mut skip_next = false;
    for (i, tok) in tokens.iter().enumerate() {
        if skip_next {
            skip_next = false;
            continue;
        }
        let prev = i.checked_sub(1).and_then(|p| tokens.get(p));
        let next = tokens.get(i + 1);
        if tok.shape == Shape::Mixed && classes[i] == WordClass::Number {
            if let Some((word, full)) = number_shorthand(tok, prev) {
                push(&word, &full, AbbreviationKind::Chat);
            }
            continue;
        }
        if tok.shape != Shape::Word {
            continue;
        }

        // "TP.HCM", "v.v": a compound written with an inner dot.
        if tok.after == "." {
            if let Some(n) = next.filter(|n| n.shape == Shape::Word) {
                let compound = format!("{}.{}", tok.text, n.text);
                if let Some(e) = lx.formal.get(&compound) {
                    push(&compound, &e.full_form, AbbreviationKind::Administrative);
                    skip_next = true;
                    continue;
                }
            }
        }

        if let Some(kind) = administrative(lx, tok, next, &classes[i]) {
            push(tok.text, &kind, AbbreviationKind::Administrative);
            continue;
        }

        if let Some(full) = chat(lx, tok, prev, next, accented_text, shouting) {
            push(&tok.lower, &full, AbbreviationKind::Chat);
        }
    }
    found
}

/// The full form when `tok` is an administrative abbreviation.
fn administrative(
    lx: &Lexicon,
    tok: &Word<'_>,
    next: Option<&Word<'_>>,
    class: &WordClass,
) -> Option<String> {
    if tok.lower.chars().count() == 1 {
        // "P.5", "Q. 1", "X. Mỹ Yên", "H. Bến Lức": a single capital with a dot, then a number
        // or a name. "H. nhé" (an initial) is not.
        let dotted = tok.after.trim_end() == ".";
        let then_unit = next.is_some_and(|n| n.shape != Shape::Word || n.is_titlecase());
        if tok.is_uppercase() && dotted && then_unit {
            return lx.formal.get(tok.text).map(|e| e.full_form.clone());
        }
        return None;
    }
    if tok.is_uppercase() {
        if ROAD_CODES.contains(&tok.text)
            && next.is_some_and(|n| {
                n.shape != Shape::Word && matches!(tok.after, "" | " " | "." | ". " | "-")
            })
        {
            return None;
        }
        if *class == WordClass::Acronym || !lx.is_syllable(&tok.lower) {
            return lx.formal.get(tok.text).map(|e| e.full_form.clone());
        }
        return None;
    }
    if tok.is_lowercase()
        && !lx.chat.contains_key(&tok.lower)
        && !lx.is_syllable(&tok.lower)
        && !lx.loanwords.contains(&tok.lower)
    {
        // "ubnd", "tp", "vn": the administrative shortcut typed in lower case.
        return lx.formal_lower.get(&tok.lower).map(|e| e.full_form.clone());
    }
    None
}

/// The full form when `tok` is a chat shortcut here.
fn chat(
    lx: &Lexicon,
    tok: &Word<'_>,
    prev: Option<&Word<'_>>,
    next: Option<&Word<'_>>,
    accented_text: bool,
    shouting: bool,
) -> Option<String> {
    let lower = tok.lower.as_str();
    // In capitals a word is an acronym ("CB CC"), unless the whole text is in capitals.
    let casing_ok = tok.is_lowercase()
        || (tok.sentence_start && tok.is_titlecase() && tok.letters() >= 2)
        || (shouting && tok.letters() >= 2 && !lx.formal.contains_key(tok.text));
    if !casing_ok {
        return None;
    }
    if lx.loanwords.contains(lower) {
        return None;
    }
    let entry = match lx.chat.get(lower) {
        Some(e) => e.full_form.clone(),
        None => return teencode(lx, tok),
    };
    if SLANG_IN_CONTEXT.contains(&lower)
        && ![prev, next]
            .iter()
            .flatten()
            .any(|w| KNOW_NEIGHBOURS.contains(&w.lower.as_str()))
    {
        return None;
    }
    // A shortcut that is also a word written without marks ("lun", "ac") is only a shortcut
    // where the writer otherwise uses marks. "a" and "e" alone are hardly ever words.
    if tok.letters() > 1 && lx.is_syllable(lower) && !accented_text {
        return None;
    }
    let after_number =
        prev.is_some_and(|p| p.shape != Shape::Word) && !tok.before.contains(['\n', ',', ';']);
    if after_number && UNITS.contains(&lower) {
        return None;
    }
    if tok.letters() == 1 {
        if joined_before(tok.before)
            || joined_after(tok.after, next.is_some())
            || (tok.after.starts_with('.') && next.is_some())
        {
            return None;
        }
        // "h. 15 tuổi", "q. 1": a letter with a dot before a number or a name is an initial.
        if tok.after.trim_start().starts_with('.')
            && next.is_some_and(|n| n.shape != Shape::Word || n.is_titlecase())
        {
            return None;
        }
        if prev.is_some_and(|p| PART_WORDS.contains(&p.lower.as_str())) {
            return None;
        }
        if next.is_some_and(|n| n.shape == Shape::Number && !n.before.contains(',')) {
            return None;
        }
        if next.is_some_and(|n| LETTER_COMPOUNDS.contains(&(lower, n.lower.as_str()))) {
            return None;
        }
    } else if joined_before(tok.before) || joined_after(tok.after, next.is_some()) {
        return None;
    }
    Some(entry)
}

/// Teencode spellings of a marked word: "đúg" → "đúng", "chúg" → "chúng" (the n of -ng
/// dropped), "ngèo" → "nghèo", "ngề" → "nghề" (ng for ngh before e, ê, i).
fn teencode(lx: &Lexicon, tok: &Word<'_>) -> Option<String> {
    let lower = tok.lower.as_str();
    if lower.is_ascii() || lx.is_syllable(lower) {
        return None;
    }
    if lower.ends_with('g') && !lower.ends_with("ng") {
        let repaired = format!("{}ng", &lower[..lower.len() - 1]);
        if lx.is_syllable(&repaired) {
            return Some(repaired);
        }
    }
    if let Some(rest) = lower.strip_prefix("ng") {
        let repaired = format!("ngh{rest}");
        if lx.is_syllable(&repaired) {
            return Some(repaired);
        }
    }
    None
}

/// Money, time and weekday shorthands written against a number, with their full form: "50k" →
/// "50 nghìn đồng", "5tr" → "5 triệu đồng", "5h" → "5 giờ", "10h30" → "10 giờ 30", "30p" →
/// "30 phút", "t7" → "thứ bảy". Only in lower case and only the whole token: "QL1A", "4G",
/// "m2", "ĐT.830", "T7" (a block, a code) are not shorthands; "km/h" is a unit. A decimal
/// written before ("1,5tr") is quoted with it.
fn number_shorthand(tok: &Word<'_>, prev: Option<&Word<'_>>) -> Option<(String, String)> {
    const WEEKDAYS: [&str; 6] = [
        "thứ hai",
        "thứ ba",
        "thứ tư",
        "thứ năm",
        "thứ sáu",
        "thứ bảy",
    ];
    if !tok.is_lowercase() || !tok.text.is_ascii() {
        return None;
    }
    if joined_before(tok.before) && !tok.before.ends_with('.') || tok.after.starts_with('/') {
        return None;
    }
    let text = tok.text;
    if let Some(day) = text.strip_prefix('t') {
        let n: usize = day.parse().ok()?;
        // A weekday stands alone ("t7 tuần trước"), not after a number or a dot ("ĐT.t7").
        if !(2..=7).contains(&n) || day.len() != 1 || joined_before(tok.before) {
            return None;
        }
        return Some((text.to_string(), WEEKDAYS[n - 2].to_string()));
    }
    let digits_end = text.find(|c: char| !c.is_ascii_digit())?;
    if digits_end == 0 {
        return None;
    }
    let (number, unit) = text.split_at(digits_end);
    // "1,5tr", "2.5k": the whole amount is quoted.
    let number = match prev {
        Some(p) if p.shape == Shape::Number && matches!(tok.before, "," | ".") => {
            format!("{}{}{number}", p.text, tok.before)
        }
        _ => number.to_string(),
    };
    let word = if number.len() > digits_end {
        format!("{number}{unit}")
    } else {
        text.to_string()
    };
    let full = match unit {
        "k" => format!("{number} nghìn đồng"),
        "tr" => format!("{number} triệu đồng"),
        "h" => format!("{number} giờ"),
        "p" => format!("{number} phút"),
        _ => {
            // "10h30", "7h05": hours and minutes.
            let minutes = unit.strip_prefix('h')?;
            if minutes.len() != 2 || !minutes.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            format!("{number} giờ {minutes}")
        }
    };
    Some((word, full))
}
