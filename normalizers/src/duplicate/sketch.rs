//! Bottom-k sketches of a text's word shingles: a fixed-size summary from which the similarity
//! of two descriptions is estimated without keeping the text.

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A bottom-k sketch of a set of shingles: the `K` smallest 32-bit hashes and the size of the
/// set. Exact for sets of up to `K` shingles (every description of a few sentences), an unbiased
/// Jaccard estimate beyond.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Sketch {
    /// Distinct shingles in the text.
    pub size: u32,
    /// The smallest hashes, ascending.
    pub mins: Vec<u32>,
}

/// Hashes kept per sketch.
const K: usize = 128;

impl Sketch {
    pub(super) fn of(shingles: impl IntoIterator<Item = String>) -> Sketch {
        let all: BTreeSet<u32> = shingles.into_iter().map(|s| hash32(&s)).collect();
        Sketch {
            size: u32::try_from(all.len()).unwrap_or(u32::MAX),
            mins: all.into_iter().take(K).collect(),
        }
    }

    /// Estimated Jaccard similarity |A∩B| / |A∪B| (exact when both sets fit the sketch).
    pub fn jaccard(&self, other: &Sketch) -> f32 {
        if self.mins.is_empty() || other.mins.is_empty() {
            return 0.0;
        }
        // The k smallest hashes of A∪B are among the two sketches; count those in both.
        let (a, b) = (&self.mins, &other.mins);
        let (mut i, mut j, mut taken, mut shared) = (0, 0, 0usize, 0usize);
        while taken < K && (i < a.len() || j < b.len()) {
            match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) if x == y => {
                    shared += 1;
                    i += 1;
                    j += 1;
                }
                (Some(x), Some(y)) if x < y => i += 1,
                (Some(_), Some(_)) => j += 1,
                (Some(_), None) => i += 1,
                (None, _) => j += 1,
            }
            taken += 1;
        }
        shared as f32 / taken as f32
    }

    /// Share of the smaller set found in the larger one (|A∩B| / min(|A|, |B|)), from the
    /// Jaccard estimate and the set sizes: a short report repeating part of a long one.
    pub fn containment(&self, other: &Sketch) -> f32 {
        let smaller = self.size.min(other.size);
        if smaller == 0 {
            return 0.0;
        }
        let j = self.jaccard(other);
        let intersection = j * (self.size as f32 + other.size as f32) / (1.0 + j);
        (intersection / smaller as f32).min(1.0)
    }
}

/// Unigrams and bigrams of a word sequence.
pub(super) fn shingles<'a>(words: impl Iterator<Item = &'a str>) -> Vec<String> {
    let words: Vec<&str> = words.collect();
    let mut out: Vec<String> = words.iter().map(|w| format!("1:{w}")).collect();
    out.extend(words.windows(2).map(|p| format!("2:{} {}", p[0], p[1])));
    out
}

/// A stable 32-bit hash (FNV-1a 64 with a final mix): fingerprints are stored and compared
/// across versions of the gateway, so the std hasher (which may change) is not usable.
pub(super) fn hash32(s: &str) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    (h >> 32) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sketches_are_exact_for_short_texts_and_close_for_long_ones() {
        let a = Sketch::of(["x", "y", "z", "w"].map(String::from));
        let b = Sketch::of(["x", "y", "z", "v"].map(String::from));
        assert!((a.jaccard(&b) - 3.0 / 5.0).abs() < 1e-6);
        assert!((a.containment(&b) - 0.75).abs() < 1e-3);
        // 1000 shingles sharing 500: true Jaccard 1/3.
        let big_a = Sketch::of((0..1000).map(|i| format!("s{i}")));
        let big_b = Sketch::of((500..1500).map(|i| format!("s{i}")));
        assert_eq!(big_a.mins.len(), K);
        let j = big_a.jaccard(&big_b);
        assert!((j - 1.0 / 3.0).abs() < 0.1, "{j}");
        assert_eq!(Sketch::default().jaccard(&a), 0.0);
    }
}
