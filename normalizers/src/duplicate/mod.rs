//! Duplicate reports (phản ánh trùng lặp, Đ7.3), pure.
//!
//! A [`Fingerprint`] is what a report needs to be compared with later ones, and nothing more: the
//! reporter's identities as keyed digests (never the phone number or email itself), the place
//! (coordinates, old and new commune codes, hashed address tokens), bottom-k sketches of the
//! description's words (once with diacritics, once folded without them), and each attachment's
//! sha256 with the perceptual hash of photos. The gateway stores fingerprints of committed
//! reports where every instance sees them and hands the open ones of the window to [`find`].
//!
//! [`find`] says a new report repeats an earlier one when
//! - they share a medium byte for byte (`same_media`), or
//! - two photos look alike: dHash within [`DuplicateConfig::phash_max_distance`] bits
//!   (`near_media`: re-encoded by a messenger, resized), or
//! - they are at the same place (≤ [`DuplicateConfig::place_radius_m`], or the same commune and a
//!   similar street address) and their descriptions are similar (`place_and_text`).
//!
//! The same reporter sending the same thing again inside the window is told so and rejected
//! (the DUPLICATE check forces `reject` with `DUPLICATE_SAME_REPORTER`); anyone else's repeat is
//! flagged for the IOC with the ids and scores of the earlier reports.
//!
//! Reporters are compared by the keyed digests of [`crate::identity`], never by their phone
//! number or email.
//!
//! # Layout
//! - `config`: the tunables (`[duplicates]` in the gateway's configuration).
//! - `fingerprint`: what a report is compared on ([`Fingerprint`], [`MediaPrint`]).
//! - `words`: the words of a description or an address, without stop words and address noise.
//! - `sketch`: bottom-k sketches of word shingles and their Jaccard and containment estimates.
//! - `matching`: the rules of Đ7.3 ([`find`]) and the place and text scores.
//! - `distance`: great-circle distance between two points.
//! - `test_support` (tests): the reports and fingerprints the tests compare.

mod config;
mod distance;
mod fingerprint;
mod matching;
mod sketch;
#[cfg(test)]
mod test_support;
mod words;

pub use config::DuplicateConfig;
pub use distance::distance_m;
pub use fingerprint::{Fingerprint, MediaPrint};
pub use matching::{find, Matches};
pub use sketch::Sketch;
