//! What a report needs to be compared with later ones, and nothing more (no personal data in
//! clear): identity digests, the place, sketches of the description, media hashes.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::sketch::{hash32, shingles, Sketch};
use super::words::{admin_words, is_stop_word, words, Word, ADDRESS_NOISE};
use crate::identity::{identity_digest, Identity};
use crate::report::{CategoryField, CategorySource, Channel, Coordinates, MediaKind, Report};

/// What a report needs to be compared with later ones (no personal data in clear).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Fingerprint {
    pub id: String,
    pub received_at: DateTime<Utc>,
    pub channel: Channel,
    /// [`identity_digest`]s of the sender's identities, sorted.
    #[serde(default)]
    pub reporter: Vec<String>,
    pub coordinates: Option<Coordinates>,
    pub old_commune_code: Option<String>,
    pub new_commune_code: Option<String>,
    /// Hashes of the folded street-address tokens (commune and district names removed), sorted.
    #[serde(default)]
    pub address: Vec<u32>,
    /// The Đ5 field when the citizen chose it (a suggestion is not evidence).
    pub category: Option<CategoryField>,
    /// Words of the title and description with their diacritics.
    pub text_kept: Sketch,
    /// The same words folded (no marks, đ → d): text typed without diacritics still matches.
    pub text_folded: Sketch,
    #[serde(default)]
    pub media: Vec<MediaPrint>,
}

/// One attachment of a fingerprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MediaPrint {
    pub kind: MediaKind,
    pub sha256: String,
    /// dHash of a photo, 16 lowercase hex digits (a JSON number would lose bits).
    #[serde(default, with = "hex_u64")]
    #[schemars(with = "Option<String>")]
    pub phash: Option<u64>,
}

impl Fingerprint {
    /// The fingerprint of a report whose location has been derived (`normalizers::pipeline`
    /// fills `location.admin` and GPS coordinates). `phashes[i]` is the perceptual hash of
    /// attachment `i` (computed by the caller, which has the files); missing entries count as
    /// none.
    pub fn of(report: &Report, phashes: &[Option<u64>], pepper: &str) -> Fingerprint {
        let mut reporter: Vec<String> = Identity::of_report(report)
            .iter()
            .map(|i| identity_digest(i, pepper))
            .collect();
        reporter.sort();
        reporter.dedup();
        let loc = &report.location;
        let coordinates = loc
            .coordinates
            .filter(Coordinates::is_plausible)
            .or_else(|| {
                report
                    .attachments
                    .iter()
                    .filter(|a| a.unreadable.is_none())
                    .find_map(|a| a.gps.filter(Coordinates::is_plausible))
            });
        let admin_words = loc.admin.as_ref().map(admin_words).unwrap_or_default();
        let address_words: BTreeSet<String> = loc
            .address
            .as_deref()
            .map(|a| words(a).into_iter().map(|w| w.folded).collect())
            .unwrap_or_default();
        let address: BTreeSet<u32> = address_words
            .iter()
            .filter(|w| !admin_words.contains(*w) && !ADDRESS_NOISE.contains(&w.as_str()))
            .map(|w| hash32(w))
            .collect();
        let mut text = report.content.title.clone().unwrap_or_default();
        text.push('\n');
        text.push_str(&report.content.text);
        // The place is compared on its own; its words in the description would make two different
        // problems at one address look alike.
        let content: Vec<Word> = words(&text)
            .into_iter()
            .filter(|w| !is_stop_word(w))
            .filter(|w| !address_words.contains(&w.folded) && !admin_words.contains(&w.folded))
            .collect();
        let text_kept = Sketch::of(shingles(content.iter().map(|w| w.kept.as_str())));
        let text_folded = Sketch::of(shingles(content.iter().map(|w| w.folded.as_str())));
        let media = report
            .attachments
            .iter()
            .enumerate()
            .filter(|(_, a)| a.unreadable.is_none() && !a.sha256.is_empty())
            .map(|(i, a)| MediaPrint {
                kind: a.kind,
                sha256: a.sha256.to_ascii_lowercase(),
                phash: phashes.get(i).copied().flatten(),
            })
            .collect();
        Fingerprint {
            id: report.id.clone(),
            received_at: report.received_at,
            channel: report.channel,
            reporter,
            coordinates,
            old_commune_code: loc.admin.as_ref().and_then(|m| m.old_commune_code.clone()),
            new_commune_code: loc.admin.as_ref().and_then(|m| m.new_commune_code.clone()),
            address: address.into_iter().collect(),
            category: report
                .category
                .as_ref()
                .filter(|c| c.source == CategorySource::Given)
                .map(|c| c.field),
            text_kept,
            text_folded,
            media,
        }
    }
}

mod hex_u64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(&format!("{v:016x}")),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| u64::from_str_radix(&s, 16).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duplicate::test_support::{in_commune, report, with_media, LIGHT, PEPPER};

    #[test]
    fn a_fingerprint_holds_no_personal_data_and_survives_json() {
        let mut r = in_commune(
            report("01OLD", 0, LIGHT),
            "Số 12 đường Nguyễn Văn Tuôi, ấp 3",
        );
        r.reporter.name = Some("Nguyễn Văn An".into());
        r.reporter.phone = Some("+84912345678".into());
        r.reporter.email = Some("an.nguyen@example.vn".into());
        let r = with_media(r, &"ef".repeat(32));
        let print = Fingerprint::of(&r, &[Some(0xfedc_ba98_7654_3210)], PEPPER);
        let json = serde_json::to_string(&print).unwrap();
        for secret in ["912345678", "an.nguyen", "Nguyễn", "Tuôi", "tuoi"] {
            assert!(!json.contains(secret), "{secret} in {json}");
        }
        assert!(json.contains("\"fedcba9876543210\""), "{json}");
        let back: Fingerprint = serde_json::from_str(&json).unwrap();
        assert_eq!(back, print);
        assert_eq!(print.reporter.len(), 2);
    }
}
