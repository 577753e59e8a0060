//! Text helpers shared by the normalizers.

use unicode_normalization::UnicodeNormalization;

/// Unicode NFC: the same Vietnamese letter typed precomposed or with combining marks compares equal.
pub fn nfc(s: &str) -> String {
    s.nfc().collect()
}
