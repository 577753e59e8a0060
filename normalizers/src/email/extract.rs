//! Facts a citizen writes into the body of an email: phone number, address, coordinates (a maps
//! link or "10.53, 106.41"), and a name in a labelled line or a signature block.

use crate::contact::normalize_phone;
use crate::report::Coordinates;

/// Labels that introduce the reporter's name ("Họ tên: Nguyễn Văn An").
const NAME_LABELS: &[&str] = &[
    "họ và tên",
    "họ tên",
    "người phản ánh",
    "người gửi",
    "tên người gửi",
    "ho va ten",
    "ho ten",
];

/// Labels that introduce a phone number.
const PHONE_LABELS: &[&str] = &[
    "số điện thoại",
    "điện thoại",
    "sđt",
    "đt",
    "so dien thoai",
    "dien thoai",
    "sdt",
    "phone",
    "tel",
    "mobile",
];

/// Labels that introduce the place of the incident.
const ADDRESS_LABELS: &[&str] = &[
    "địa chỉ",
    "địa điểm",
    "vị trí",
    "nơi xảy ra",
    "dia chi",
    "dia diem",
    "vi tri",
    "address",
    "location",
];

/// Words of an administrative address (after lowercasing), used to find an unlabelled address.
const ADDRESS_WORDS: &[&str] = &[
    "xã ",
    "phường ",
    "thị trấn ",
    "huyện ",
    "thị xã ",
    "thành phố ",
    "tp.",
    "ấp ",
    "khu phố ",
    "quốc lộ ",
    "tỉnh lộ ",
    "đường ",
];

/// Closing formulas after which a signature name follows.
const CLOSINGS: &[&str] = &[
    "trân trọng",
    "kính thư",
    "thân ái",
    "xin cảm ơn",
    "cảm ơn",
    "tran trong",
    "best regards",
    "regards",
    "thanks",
];

/// Bytes of the longest of [`CLOSINGS`].
const MAX_CLOSING_BYTES: usize = 16;

/// Longest address or name taken from a line.
const MAX_FIELD_CHARS: usize = 200;

/// A name written in a labelled line ("Họ tên: …") of the body.
pub fn labelled_name(text: &str) -> Option<String> {
    labelled_value(text, NAME_LABELS)
        .map(|v| strip_trailing_punct(&v))
        .filter(|v| looks_like_name(v))
}

/// The name in the signature: the line after a closing formula ("Trân trọng,") or the first
/// line after the RFC 3676 delimiter `-- `.
pub fn signature_name(text: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        // A closing formula is a short line: lowercasing shrinks a letter to a third of its
        // bytes at most, so a line longer than three times the longest formula is none.
        if trimmed != "--"
            && trimmed.trim_end_matches([',', '.', '!', ':']).len() > 3 * MAX_CLOSING_BYTES
        {
            continue;
        }
        let lower = trimmed.to_lowercase();
        let lower = lower.trim_end_matches([',', '.', '!', ':']);
        let is_closing = trimmed == "--" || CLOSINGS.contains(&lower);
        if !is_closing {
            continue;
        }
        let candidate = lines[i + 1..]
            .iter()
            .map(|l| l.trim())
            .find(|l| !l.is_empty())
            .map(strip_trailing_punct);
        if let Some(name) = candidate.filter(|c| looks_like_name(c)) {
            return Some(name);
        }
    }
    None
}

/// A plausible personal or organisation name: 2 to 8 words of letters (dots and hyphens allowed),
/// each starting with an uppercase letter, not an email address.
pub fn looks_like_name(s: &str) -> bool {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > 80 || s.contains('@') {
        return false;
    }
    let words: Vec<&str> = s.split_whitespace().collect();
    if !(1..=8).contains(&words.len()) {
        return false;
    }
    let letters_only = words.iter().all(|w| {
        w.chars()
            .all(|c| c.is_alphabetic() || c == '.' || c == '-' || c == '\'')
    });
    let capitalised = words
        .iter()
        .all(|w| w.chars().next().is_some_and(char::is_uppercase));
    let letters = s.chars().filter(|c| c.is_alphabetic()).count();
    letters_only && capitalised && letters >= 2
}

/// The first Vietnamese phone number of the text, in E.164; labelled numbers first.
pub fn phone(text: &str) -> Option<String> {
    if let Some(value) = labelled_value(text, PHONE_LABELS) {
        if let Some(p) = phone_candidates(&value).into_iter().next() {
            return Some(p);
        }
    }
    phone_candidates(text).into_iter().next()
}

/// Every run of phone-number characters in `text` that normalises to a Vietnamese number.
///
/// Read in place, without a copy of the text as chars: a run starts at an ASCII byte and every
/// phone character but U+00A0 is ASCII.
fn phone_candidates(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let starts = b.is_ascii_digit() || b == b'+' || b == b'(';
        if !starts {
            i += 1;
            continue;
        }
        let after_word = text[..i]
            .chars()
            .next_back()
            .is_some_and(|p| p.is_alphanumeric() || p == '/');
        if after_word {
            i += 1;
            continue;
        }
        let mut j = i;
        loop {
            match bytes.get(j) {
                Some(&c) if c.is_ascii() && is_phone_char(char::from(c)) => j += 1,
                // U+00A0 in UTF-8.
                Some(0xC2) if bytes.get(j + 1) == Some(&0xA0) => j += 2,
                _ => break,
            }
        }
        let run = &text[i..j];
        let ends_with_space = run.chars().next_back().is_some_and(char::is_whitespace);
        let followed_by_word = !ends_with_space
            && text[j..]
                .chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '/');
        if !followed_by_word {
            // A run may hold the number followed by other digits ("0912 345 678 lúc 7 giờ" is
            // cut by the letters; "0912345678 0913..." by a double space).
            for piece in run.split("  ") {
                let piece = piece.trim_matches(|c: char| c == '.' || c == '-' || c.is_whitespace());
                let digits = piece.bytes().filter(u8::is_ascii_digit).count();
                if (9..=13).contains(&digits) {
                    if let Some(p) = normalize_phone(piece) {
                        found.push(p);
                    }
                }
            }
        }
        i = j.max(i + 1);
    }
    found
}

fn is_phone_char(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, '+' | ' ' | '.' | '-' | '(' | ')' | '\u{a0}')
}

/// Coordinates from a maps link (Google, Apple, OpenStreetMap, `geo:`) or a plain decimal pair
/// "10.53, 106.41" in the text.
pub fn coordinates(text: &str) -> Option<Coordinates> {
    link_coordinates(text).or_else(|| plain_coordinates(text))
}

fn link_coordinates(text: &str) -> Option<Coordinates> {
    // Every link kind below has "map" in it or starts with "geo:" (see the token filter): a text
    // without either anywhere has no link, and most mail has none.
    if !may_have_map_link(text) {
        return None;
    }
    for token in text.split(|c: char| c.is_whitespace() || c == '<' || c == '>' || c == '"') {
        // Every link kind below has "map" in it or starts with "geo:": other words are skipped
        // without a lowercase copy.
        let bytes = token.as_bytes();
        let maybe_map = bytes.windows(3).any(|w| w.eq_ignore_ascii_case(b"map"))
            || bytes
                .get(..4)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"geo:"));
        if !maybe_map {
            continue;
        }
        let lower = token.to_ascii_lowercase();
        let is_map = lower.contains("google.") && lower.contains("map")
            || lower.contains("goo.gl/maps")
            || lower.contains("maps.apple.com")
            || lower.contains("openstreetmap.org")
            || lower.starts_with("geo:");
        if !is_map {
            continue;
        }
        let decoded = lower.replace("%2c", ",").replace("%20", "");
        // OpenStreetMap: mlat=…&mlon=… or #map=zoom/lat/lon.
        if let (Some(lat), Some(lon)) = (param(&decoded, "mlat="), param(&decoded, "mlon=")) {
            if let Some(c) = checked(lat, lon) {
                return Some(c);
            }
        }
        if let Some(pos) = decoded.find("#map=") {
            let mut it = decoded[pos + 5..].split('/');
            let (_zoom, lat, lon) = (it.next(), it.next(), it.next());
            if let (Some(lat), Some(lon)) =
                (lat.and_then(number_prefix), lon.and_then(number_prefix))
            {
                if let Some(c) = checked(lat, lon) {
                    return Some(c);
                }
            }
        }
        for marker in [
            "@",
            "q=",
            "ll=",
            "query=",
            "daddr=",
            "destination=",
            "geo:",
            "sll=",
        ] {
            let mut rest = decoded.as_str();
            while let Some(pos) = rest.find(marker) {
                let after = &rest[pos + marker.len()..];
                if let Some(c) = pair(after) {
                    return Some(c);
                }
                rest = after;
            }
        }
    }
    None
}

/// Byte offsets of the ASCII character `c` in `text`, ascending (memchr-backed `str::find`).
fn offsets(text: &str, c: char) -> impl Iterator<Item = usize> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let pos = at + text.get(at..)?.find(c)?;
        at = pos + 1;
        Some(pos)
    })
}

/// Whether some token of `text` can be a maps link: "map" in any ASCII case somewhere, or
/// "geo:" (the filter of [`link_coordinates`], applied to the whole text at once).
fn may_have_map_link(text: &str) -> bool {
    let bytes = text.as_bytes();
    let map_at = |p: usize| {
        bytes
            .get(p + 1..p + 3)
            .is_some_and(|w| w.eq_ignore_ascii_case(b"ap"))
    };
    offsets(text, 'm').any(map_at)
        || offsets(text, 'M').any(map_at)
        || offsets(text, ':').any(|p| p >= 3 && bytes[p - 3..p].eq_ignore_ascii_case(b"geo"))
}

fn param(s: &str, key: &str) -> Option<f64> {
    let pos = s.find(key)?;
    number_prefix(&s[pos + key.len()..])
}

/// A "lat,lon" pair at the start of `s` (spaces and '+' allowed after the comma).
fn pair(s: &str) -> Option<Coordinates> {
    let (lat, rest) = number_with_len(s)?;
    let rest = &s[rest..];
    let rest = rest.strip_prefix(',')?;
    let rest = rest.trim_start_matches([' ', '+']);
    let (lon, _) = number_with_len(rest)?;
    checked(lat, lon)
}

/// A plain "10.53, 106.41" pair: two decimals with at least two fraction digits each.
///
/// The first pair in the text: a number starts at a digit or '-' not preceded by a letter, a
/// digit or '.', runs greedily (`-`? digits (`.` digits)?) and is followed by ',' or ';'. Every
/// such number ends right before a separator, so the separators are found first (memchr) and
/// the number ending there is read backwards; the starts are then tried in text order, as a
/// forward scan would ([`tests::plain_pairs_match_the_forward_scan`]).
fn plain_coordinates(text: &str) -> Option<Coordinates> {
    let bytes = text.as_bytes();
    let mut commas = offsets(text, ',').peekable();
    let mut semicolons = offsets(text, ';').peekable();
    let boundary =
        |i: usize| i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'.');
    loop {
        let sep = match (commas.peek(), semicolons.peek()) {
            (Some(&c), Some(&s)) if s < c => semicolons.next(),
            (Some(_), _) => commas.next(),
            (None, _) => semicolons.next(),
        }?;
        // The latitude: digits '.' at least two digits, right before the separator.
        let mut dot = sep;
        while dot > 0 && bytes[dot - 1].is_ascii_digit() {
            dot -= 1;
        }
        if sep - dot < 2 || dot == 0 || bytes[dot - 1] != b'.' {
            continue;
        }
        let int_end = dot - 1;
        let mut int_start = int_end;
        while int_start > 0 && bytes[int_start - 1].is_ascii_digit() {
            int_start -= 1;
        }
        if int_start == int_end {
            continue;
        }
        let rest = text[sep + 1..].trim_start_matches(' ');
        let Some(lon_len) = number_len(rest) else {
            continue;
        };
        if fraction_digits(&rest[..lon_len]) < 2 {
            continue;
        }
        let Ok(lon) = rest[..lon_len].parse::<f64>() else {
            continue;
        };
        // A '-' right before the digits starts the number first, then the digits themselves
        // (a '-' is not a word character).
        let signed = (int_start > 0 && bytes[int_start - 1] == b'-' && boundary(int_start - 1))
            .then(|| int_start - 1);
        let unsigned = boundary(int_start).then_some(int_start);
        for start in signed.into_iter().chain(unsigned) {
            if let Ok(lat) = text[start..sep].parse::<f64>() {
                if let Some(c) = checked(lat, lon) {
                    return Some(c);
                }
            }
        }
    }
}

fn fraction_digits(s: &str) -> usize {
    s.split_once('.').map_or(0, |(_, f)| f.len())
}

/// A decimal number at the start of `s` and its length in bytes.
fn number_with_len(s: &str) -> Option<(f64, usize)> {
    let end = number_len(s)?;
    s[..end].parse().ok().map(|v| (v, end))
}

/// The length in bytes of the decimal number (`-`? digits (`.` digits)?) at the start of `s`.
fn number_len(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut end = 0;
    if bytes.first() == Some(&b'-') {
        end = 1;
    }
    let digits_start = end;
    while end < bytes.len() && bytes[end].is_ascii_digit() {
        end += 1;
    }
    if end == digits_start {
        return None;
    }
    if end < bytes.len() && bytes[end] == b'.' {
        let frac_start = end + 1;
        let mut k = frac_start;
        while k < bytes.len() && bytes[k].is_ascii_digit() {
            k += 1;
        }
        if k > frac_start {
            end = k;
        }
    }
    Some(end)
}

fn number_prefix(s: &str) -> Option<f64> {
    number_with_len(s).map(|(v, _)| v)
}

fn checked(lat: f64, lon: f64) -> Option<Coordinates> {
    let c = Coordinates { lat, lon };
    c.is_plausible().then_some(c)
}

/// The place of the incident: a labelled line ("Địa chỉ: …"), else the first sentence that
/// names an administrative unit or a street, from its locator word ("tại", "ở") when it has one.
pub fn address(text: &str) -> Option<String> {
    // A labelled value is an address when it has a number or an address word ("Vị trí: xem
    // bản đồ" is not).
    for v in labelled_values(text, ADDRESS_LABELS) {
        let v = strip_trailing_punct(&v);
        let lower = format!("{} ", v.to_lowercase());
        let addressy = v.chars().any(|c| c.is_ascii_digit())
            || ADDRESS_WORDS.iter().any(|w| lower.contains(w));
        if addressy && !lower.contains("http") {
            return Some(truncate(&v));
        }
    }
    // Every sentence below is read only if it names an address word; a sentence's lowercase is
    // a part of the whole text's, so a text without any of them is done here (most mail).
    let lower_text = text.to_lowercase();
    if !ADDRESS_WORDS.iter().any(|w| lower_text.contains(w)) {
        return None;
    }
    for sentence in text.split(['\n', '.', '!', '?']) {
        let lower = sentence.to_lowercase();
        if lower.contains("http") || lower.contains('@') {
            continue;
        }
        let Some(first_unit) = ADDRESS_WORDS.iter().filter_map(|w| lower.find(w)).min() else {
            continue;
        };
        // Start after the locator word ("tại", "ở") that an address word follows most closely,
        // else at the first address word.
        let start = [" tại ", " ở ", " trước ", " gần ", " trên "]
            .iter()
            .flat_map(|w| lower.match_indices(w).map(move |(p, _)| p + w.len()))
            .filter_map(|p| {
                let gap = ADDRESS_WORDS
                    .iter()
                    .filter_map(|w| lower[p..].find(w))
                    .min()?;
                Some((gap, p))
            })
            .min()
            .map_or(first_unit, |(_, p)| p);
        // `lower` and `sentence` may differ in byte length (a few uppercase letters lowercase to
        // longer sequences); map the start back through char counts.
        let start_chars = lower[..start].chars().count();
        let original: String = sentence.chars().skip(start_chars).collect();
        let value = strip_trailing_punct(&original);
        if value.chars().filter(|c| c.is_alphabetic()).count() >= 4 {
            return Some(truncate(&value));
        }
    }
    None
}

/// The value after `label:` on the first line that starts with one of the labels.
fn labelled_value(text: &str, labels: &[&str]) -> Option<String> {
    labelled_values(text, labels).into_iter().next()
}

/// The values after `label:` on every line that starts with one of the labels.
fn labelled_values(text: &str, labels: &[&str]) -> Vec<String> {
    let mut values = Vec::new();
    for line in text.lines() {
        // A labelled line has a colon (lowercasing neither adds nor removes one).
        if !line.contains(':') {
            continue;
        }
        let trimmed = line.trim().trim_start_matches(['-', '*', '•', ' ']);
        let lower = trimmed.to_lowercase();
        for label in labels {
            let Some(after) = lower.strip_prefix(label) else {
                continue;
            };
            let after = after.trim_start();
            let Some(value_lower) = after.strip_prefix(':') else {
                continue;
            };
            // Same suffix length in chars in the original line.
            let value_chars = value_lower.chars().count();
            let total = trimmed.chars().count();
            let value: String = trimmed.chars().skip(total - value_chars).collect();
            let value = value.trim().to_string();
            if !value.is_empty() {
                values.push(value);
                break;
            }
        }
    }
    values
}

fn strip_trailing_punct(s: &str) -> String {
    s.trim()
        .trim_end_matches(['.', ',', ';', ':', '!'])
        .trim()
        .to_string()
}

fn truncate(s: &str) -> String {
    s.chars().take(MAX_FIELD_CHARS).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn max_closing_bytes_bounds_every_closing() {
        assert!(super::CLOSINGS
            .iter()
            .all(|c| c.len() <= super::MAX_CLOSING_BYTES));
    }

    use super::*;

    #[test]
    fn phones_in_the_usual_spellings_are_found_in_prose() {
        assert_eq!(
            phone("Liên hệ tôi qua số 0912 345 678 lúc nào cũng được").as_deref(),
            Some("+84912345678")
        );
        assert_eq!(
            phone("SĐT: +84 912.345.678").as_deref(),
            Some("+84912345678")
        );
        assert_eq!(
            phone("ĐT: 0272 3 826 111").as_deref(),
            Some("+842723826111")
        );
    }

    #[test]
    fn dates_coordinates_and_house_numbers_are_not_phones() {
        assert_eq!(phone("Ngày 28/11/2026 lúc 7 giờ, số nhà 123"), None);
        assert_eq!(phone("Tọa độ 10.53, 106.41"), None);
        assert_eq!(phone("Mã hồ sơ ABC0912345678"), None);
    }

    #[test]
    fn maps_links_give_coordinates() {
        let cases = [
            "https://www.google.com/maps/place/X/@10.5361,106.4132,17z",
            "https://maps.google.com/?q=10.5361,106.4132",
            "https://www.google.com/maps/search/?api=1&query=10.5361%2C106.4132",
            "http://maps.apple.com/?ll=10.5361,106.4132&q=Here",
            "https://www.openstreetmap.org/?mlat=10.5361&mlon=106.4132#map=17/10.5361/106.4132",
            "https://www.openstreetmap.org/#map=17/10.5361/106.4132",
            "geo:10.5361,106.4132",
        ];
        for link in cases {
            let text = format!("Vị trí trên bản đồ: {link} nhé");
            let c = coordinates(&text).unwrap_or_else(|| panic!("{link}"));
            assert!(
                (c.lat - 10.5361).abs() < 1e-9 && (c.lon - 106.4132).abs() < 1e-9,
                "{link}"
            );
        }
    }

    #[test]
    fn plain_decimal_pairs_give_coordinates_but_prices_do_not() {
        let c = coordinates("Tọa độ: 10.53, 106.41").unwrap();
        assert_eq!((c.lat, c.lon), (10.53, 106.41));
        assert!(coordinates("Giá 1.5, 2.0 triệu").is_none());
        assert!(coordinates("Version 1.2.3, 4.56").is_none());
        assert!(
            coordinates("0.00, 0.00").is_none(),
            "null island is not a place"
        );
    }

    /// The forward scan `plain_coordinates` replaced: every start position in text order.
    fn forward_scan(text: &str) -> Option<Coordinates> {
        let bytes = text.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            let starts = b.is_ascii_digit() || b == b'-';
            let after_word =
                i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'.');
            if !starts || after_word {
                continue;
            }
            let s = &text[i..];
            let Some(lat_len) = number_len(s) else {
                continue;
            };
            let rest = &s[lat_len..];
            let Some(rest) = rest.strip_prefix(',').or_else(|| rest.strip_prefix(';')) else {
                continue;
            };
            let rest = rest.trim_start_matches(' ');
            let Some(lon_len) = number_len(rest) else {
                continue;
            };
            if fraction_digits(&s[..lat_len]) < 2 || fraction_digits(&rest[..lon_len]) < 2 {
                continue;
            }
            let (Ok(lat), Ok(lon)) = (s[..lat_len].parse(), rest[..lon_len].parse()) else {
                continue;
            };
            if let Some(c) = checked(lat, lon) {
                return Some(c);
            }
        }
        None
    }

    #[test]
    fn plain_pairs_match_the_forward_scan() {
        // Random texts over the characters that matter (digits, signs, separators, letters,
        // a multi-byte letter), from a fixed-seed generator.
        const ALPHABET: &[&str] = &[
            "0", "1", "5", "9", "0", "4", ".", ".", ",", ";", " ", " ", "-", "a", "x", "đ", "\n",
            "10.53", "106.41", "-0.00", "95.12",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut found = 0;
        for _ in 0..20_000 {
            let len = (next() % 24) as usize;
            let text: String = (0..len)
                .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                .collect();
            let expected = forward_scan(&text);
            found += usize::from(expected.is_some());
            assert_eq!(plain_coordinates(&text), expected, "{text:?}");
        }
        assert!(found > 100, "the generator makes pairs ({found})");
    }

    /// The char-vector scan `phone_candidates` replaced.
    fn phone_candidates_by_chars(text: &str) -> Vec<String> {
        let mut found = Vec::new();
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let starts = c.is_ascii_digit() || c == '+' || c == '(';
            let after_word = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '/');
            if !starts || after_word {
                i += 1;
                continue;
            }
            let mut j = i;
            while j < chars.len() && is_phone_char(chars[j]) {
                j += 1;
            }
            let run: String = chars[i..j].iter().collect();
            let ends_with_space = chars[i..j].last().is_some_and(|c| c.is_whitespace());
            let followed_by_word = !ends_with_space
                && j < chars.len()
                && (chars[j].is_alphabetic() || chars[j] == '/');
            if !followed_by_word {
                for piece in run.split("  ") {
                    let piece =
                        piece.trim_matches(|c: char| c == '.' || c == '-' || c.is_whitespace());
                    let digits = piece.chars().filter(char::is_ascii_digit).count();
                    if (9..=13).contains(&digits) {
                        if let Some(p) = normalize_phone(piece) {
                            found.push(p);
                        }
                    }
                }
            }
            i = j.max(i + 1);
        }
        found
    }

    #[test]
    fn phone_runs_match_the_char_scan() {
        const ALPHABET: &[&str] = &[
            "0",
            "9",
            "1",
            "2",
            "3",
            "4",
            "8",
            " ",
            " ",
            "  ",
            ".",
            "-",
            "+84",
            "(",
            ")",
            "\u{a0}",
            "/",
            "a",
            "đ",
            "Đ",
            "½",
            "\n",
            "0912",
            "345",
            "678",
            "0912345678",
            "+84 912.345.678",
        ];
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut found = 0;
        for _ in 0..20_000 {
            let len = (next() % 20) as usize;
            let text: String = (0..len)
                .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                .collect();
            let expected = phone_candidates_by_chars(&text);
            found += usize::from(!expected.is_empty());
            assert_eq!(phone_candidates(&text), expected, "{text:?}");
        }
        assert!(found > 100, "the generator makes phones ({found})");
    }

    #[test]
    fn map_link_filter_keeps_every_link_token() {
        for text in ["MAP", "xx maP", "Geo:1", "a GEO:", "geo", "ma", "m", ""] {
            let token_filter = text.split_whitespace().any(|t| {
                t.to_ascii_lowercase().contains("map") || t.to_ascii_lowercase().starts_with("geo:")
            });
            assert!(!token_filter || may_have_map_link(text), "{text}");
        }
        assert!(!may_have_map_link("geo ma m ap"));
    }

    #[test]
    fn labelled_address_wins_over_prose() {
        let text = "Đường bị ngập ở xã Mỹ Yên.\nĐịa chỉ: 12 Quốc lộ 1, phường 2, Tân An.";
        assert_eq!(
            address(text).as_deref(),
            Some("12 Quốc lộ 1, phường 2, Tân An")
        );
    }

    #[test]
    fn unlabelled_address_starts_at_the_locator_word() {
        let text = "Đèn đường bị hỏng tại ấp 3, xã Mỹ Yên, huyện Bến Lức từ hôm qua";
        assert_eq!(
            address(text).as_deref(),
            Some("ấp 3, xã Mỹ Yên, huyện Bến Lức từ hôm qua")
        );
    }

    #[test]
    fn names_from_labels_and_signatures() {
        assert_eq!(
            labelled_name("Họ tên: Nguyễn Thị Bích Ngọc\nSĐT: 0912345678").as_deref(),
            Some("Nguyễn Thị Bích Ngọc")
        );
        assert_eq!(
            signature_name("Nội dung.\n\nTrân trọng,\nTrần Văn Bình\n0912 345 678").as_deref(),
            Some("Trần Văn Bình")
        );
        assert_eq!(
            signature_name("Nội dung.\n-- \nLê Hoàng Nam\n").as_deref(),
            Some("Lê Hoàng Nam")
        );
        assert_eq!(signature_name("Trân trọng,\nxin hãy xử lý sớm"), None);
    }
}
