//! The webhook signature of Zalo OA (ZALO.md §1): lowercase hex of plain SHA-256 over
//! `app_id + raw_body + timestamp + oa_secret_key`, sent as `X-ZEvent-Signature: mac=<hex>`.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The expected signature (64 lowercase hex digits) of `raw_body`.
pub fn compute_mac(app_id: &str, raw_body: &[u8], timestamp: &str, oa_secret_key: &str) -> String {
    let mut h = Sha256::new();
    h.update(app_id.as_bytes());
    h.update(raw_body);
    h.update(timestamp.as_bytes());
    h.update(oa_secret_key.as_bytes());
    hex::encode(h.finalize())
}

/// Whether the `X-ZEvent-Signature` header value signs `raw_body` (the exact bytes received).
/// The `mac=` prefix is optional; hex is compared case-insensitively and in constant time.
pub fn verify(
    header: &str,
    app_id: &str,
    raw_body: &[u8],
    timestamp: &str,
    oa_secret_key: &str,
) -> bool {
    let given = header.trim();
    let given = given.strip_prefix("mac=").unwrap_or(given).trim();
    if given.len() != 64 || oa_secret_key.is_empty() {
        return false;
    }
    let given = given.to_ascii_lowercase();
    let expected = compute_mac(app_id, raw_body, timestamp, oa_secret_key);
    bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `payloads/user_send_text.json` minified (263 bytes), the ZALO.md test vector.
    const BODY: &[u8] = br#"{"app_id":"360846524940903967","sender":{"id":"246845883529197922"},"user_id_by_app":"552177279717587730","recipient":{"id":"388613280878808645"},"event_name":"user_send_text","message":{"text":"message","msg_id":"96d3cdf3af150460909"},"timestamp":"154390853474"}"#;
    const MAC: &str = "adc0ba9d0c046b376915f3b101b0e9f716b67fa8e79bead2d898364e8cf0bc84";

    #[test]
    fn the_zalo_md_test_vector_passes() {
        assert_eq!(BODY.len(), 263);
        assert_eq!(
            compute_mac(
                "360846524940903967",
                BODY,
                "154390853474",
                "TEST_OA_SECRET_KEY"
            ),
            MAC
        );
        let header = format!("mac={MAC}");
        assert!(verify(
            &header,
            "360846524940903967",
            BODY,
            "154390853474",
            "TEST_OA_SECRET_KEY"
        ));
        // Without the prefix and in upper case it is the same signature.
        assert!(verify(
            &MAC.to_ascii_uppercase(),
            "360846524940903967",
            BODY,
            "154390853474",
            "TEST_OA_SECRET_KEY"
        ));
    }

    #[test]
    fn any_change_breaks_the_signature() {
        let header = format!("mac={MAC}");
        let ok = |body: &[u8], app: &str, ts: &str, key: &str| verify(&header, app, body, ts, key);
        let mut reformatted = BODY.to_vec();
        reformatted.insert(1, b' ');
        assert!(!ok(
            &reformatted,
            "360846524940903967",
            "154390853474",
            "TEST_OA_SECRET_KEY"
        ));
        assert!(!ok(
            BODY,
            "360846524940903968",
            "154390853474",
            "TEST_OA_SECRET_KEY"
        ));
        assert!(!ok(
            BODY,
            "360846524940903967",
            "154390853475",
            "TEST_OA_SECRET_KEY"
        ));
        assert!(!ok(BODY, "360846524940903967", "154390853474", "OTHER_KEY"));
        assert!(!ok(BODY, "360846524940903967", "154390853474", ""));
        assert!(!verify(
            "mac=",
            "360846524940903967",
            BODY,
            "154390853474",
            "TEST_OA_SECRET_KEY"
        ));
        assert!(!verify(
            &MAC[..63],
            "360846524940903967",
            BODY,
            "154390853474",
            "TEST_OA_SECRET_KEY"
        ));
    }
}
