//! Reporter contact details: Vietnamese phone numbers to E.164 (R-VAL-PHONE) and email syntax.

/// Normalise a Vietnamese phone number written in any usual way to E.164 (`+84…`).
///
/// Accepts `0912 345 678`, `0912.345.678`, `+84 912345678`, `84-912-345-678`, `(+84) 912…`,
/// `0084…`, and landlines with their area code (`0272 3 826 111`, `028 3829 1234`). Returns
/// `None` for anything that is not a Vietnamese mobile or landline number.
pub fn normalize_phone(input: &str) -> Option<String> {
    let trimmed = input.trim();
    if trimmed.is_empty() || trimmed.len() > 40 {
        return None;
    }
    let mut digits = String::with_capacity(16);
    let mut plus = false;
    for c in trimmed.chars() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if digits.is_empty() && !plus => plus = true,
            ' ' | '.' | '-' | '(' | ')' | '\u{a0}' => {}
            _ => return None,
        }
    }
    // National significant number (without the leading 0 or the country code).
    let national = if let Some(rest) = digits.strip_prefix("0084") {
        rest.to_string()
    } else if plus || (digits.starts_with("84") && digits.len() >= 11) {
        digits.strip_prefix("84")?.to_string()
    } else if let Some(rest) = digits.strip_prefix('0') {
        rest.to_string()
    } else {
        return None;
    };
    let national = national.strip_prefix('0').unwrap_or(&national).to_string();
    if is_mobile(&national) || is_landline(&national) {
        Some(format!("+84{national}"))
    } else {
        None
    }
}

/// Mobile numbers since the 2018 renumbering: 9 digits starting 3, 5, 7, 8 or 9.
fn is_mobile(n: &str) -> bool {
    n.len() == 9 && matches!(n.as_bytes()[0], b'3' | b'5' | b'7' | b'8' | b'9')
}

/// Landlines since 2017: area codes 2xx (and 24, 28) followed by the subscriber number,
/// 10 national digits in all.
fn is_landline(n: &str) -> bool {
    n.len() == 10 && n.starts_with('2')
}

/// Syntax check of an email address (addr-spec, dot-atom form, with a dotted domain).
pub fn is_valid_email(input: &str) -> bool {
    let s = input.trim();
    if s.len() > 254 {
        return false;
    }
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    if local.is_empty() || local.len() > 64 || domain.is_empty() {
        return false;
    }
    let local_ok = local
        .split('.')
        .all(|part| !part.is_empty() && part.chars().all(is_atext));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
    local_ok && domain_ok
}

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usual_spellings_of_a_mobile_number_normalise_to_e164() {
        for s in [
            "0912 345 678",
            "0912345678",
            "0912.345.678",
            "+84 912345678",
            "+84912345678",
            "84-912-345-678",
            "84912345678",
            "(+84) 912 345 678",
            "0084 912 345 678",
            "+84 (0) 912 345 678",
        ] {
            assert_eq!(normalize_phone(s).as_deref(), Some("+84912345678"), "{s}");
        }
    }

    #[test]
    fn landlines_keep_their_area_code() {
        assert_eq!(
            normalize_phone("0272 3 826 111").as_deref(),
            Some("+842723826111")
        );
        assert_eq!(
            normalize_phone("028 3829 1234").as_deref(),
            Some("+842838291234")
        );
    }

    #[test]
    fn non_vietnamese_or_malformed_numbers_are_refused() {
        for s in [
            "",
            "12345",
            "0123 456 789 0",
            "+1 415 555 0100",
            "0912 345 67",
            "091234567890",
            "0612345678",
            "abc",
            "0912-345-678 ext 5",
            "1022",
        ] {
            assert_eq!(normalize_phone(s), None, "{s}");
        }
    }

    #[test]
    fn email_syntax() {
        assert!(is_valid_email("nguyen.van.a@gmail.com"));
        assert!(is_valid_email("1022@longan.gov.vn"));
        assert!(is_valid_email("a+tag@sub.example.vn"));
        for bad in [
            "",
            "no-at",
            "a@b",
            "a@@b.vn",
            "a..b@x.vn",
            ".a@x.vn",
            "a@-x.vn",
            "a b@x.vn",
            "a@x.v1",
        ] {
            assert!(!is_valid_email(bad), "{bad}");
        }
    }
}
