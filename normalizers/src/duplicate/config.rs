//! The tunables of duplicate detection.

use chrono::Duration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Tunables of duplicate detection (`[duplicates]` in the gateway's configuration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DuplicateConfig {
    /// How far back a report can be repeated, in hours. Reports closed by the IOC
    /// (`PUT /v1/reports/{id}/status`) stop counting before that. Default 240 h (10 days): the
    /// agency answers within 7 working days (Đ10), which is up to 11 calendar days with a
    /// weekend and a holiday; the IOC closing a report ends its window earlier.
    pub window_hours: i64,
    /// Two reports whose coordinates are this close are at the same place (metres).
    pub place_radius_m: f64,
    /// When both reports have coordinates further apart than this (metres), a similar address
    /// does not make them the same place (two streets of the same name in one commune).
    pub place_conflict_m: f64,
    /// Jaccard similarity of the street-address tokens (commune and district names removed)
    /// from which two addresses in the same commune are the same place.
    pub address_similarity: f32,
    /// Similarity of the descriptions (0..1) from which two reports at the same place describe
    /// the same thing.
    pub text_similarity: f32,
    /// Largest Hamming distance between the dHashes of two photos that still look identical.
    pub phash_max_distance: u32,
    /// Least score of a place-and-text match for the same reporter's repeat to be rejected
    /// (media matches always count); below it the repeat is only flagged.
    pub same_reporter_min_score: f32,
    /// Most earlier reports listed in `duplicate_of`.
    pub max_refs: usize,
    /// Most fingerprints read from the window per submission (the newest first).
    pub max_candidates: usize,
    /// Secret mixed into identity digests (phone, email, Zalo id) so that they cannot be
    /// reversed by trying every number. Set it in production and never change it: the block
    /// list and the duplicate index are keyed by these digests.
    pub identity_pepper: crate::secret::Secret,
}

impl Default for DuplicateConfig {
    fn default() -> Self {
        DuplicateConfig {
            window_hours: 240,
            place_radius_m: 50.0,
            place_conflict_m: 500.0,
            address_similarity: 0.5,
            text_similarity: 0.3,
            phash_max_distance: 6,
            same_reporter_min_score: 0.6,
            max_refs: 5,
            max_candidates: 5000,
            identity_pepper: Default::default(),
        }
    }
}

impl DuplicateConfig {
    pub fn window(&self) -> Duration {
        Duration::hours(self.window_hours.max(0))
    }
}
