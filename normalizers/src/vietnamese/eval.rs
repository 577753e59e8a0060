//! Corpus evaluation of the text checks (R-VAL-TEXT: measured, not hand-picked). Pure: the
//! caller reads the corpus files and passes their contents. Used by `examples/eval_text.rs` and
//! `tests/text_corpus.rs`.
//!
//! - False rejections: lines of proper news prose (with diacritics) that [`super::analyse`]
//!   would get rejected.
//! - Recall of CONTENT_NO_DIACRITICS: the same lines with every mark stripped (đ → d).
//! - Recall of CONTENT_ABBREVIATION: informal comments whose gold normalisation expands a
//!   shortcut ("ko" → "không", "vn" → "việt nam"); the pairs are found by aligning the informal
//!   and the gold tokens.
//! - Partial diacritics ([`partial_diacritics`]): the proper lines with a share s of their
//!   Vietnamese words stripped of marks (deterministic seed): per s, the share flagged
//!   CONTENT_PARTIAL_DIACRITICS, rejected CONTENT_NO_DIACRITICS, and passed.

use std::collections::BTreeMap;

use super::lexicon;
use crate::text::strip_marks;
use crate::validate::Code;

/// The figures of one evaluation run.
#[derive(Debug, Clone, Default)]
pub struct EvalReport {
    /// Lines of `with_diacritics.txt` analysed.
    pub proper_lines: usize,
    /// Of those, lines that would be rejected, with the codes.
    pub false_rejections: Vec<(String, Vec<Code>)>,
    /// Stripped lines that differ from their original (others cannot be told apart).
    pub stripped_lines: usize,
    /// Stripped lines not flagged CONTENT_NO_DIACRITICS.
    pub stripped_missed: Vec<String>,
    /// Informal lines whose gold normalisation expands a shortcut.
    pub abbreviation_lines: usize,
    /// Those not flagged CONTENT_ABBREVIATION, with the expansions the gold has.
    pub abbreviation_missed: Vec<(String, Vec<(String, String)>)>,
    /// Informal lines without a gold expansion, and how many of them were flagged anyway.
    pub informal_other_lines: usize,
    pub informal_other_flagged: usize,
    /// Those lines, with the abbreviations found (to review by hand: most are real shortcuts
    /// the gold left as they were, "ad", "idol").
    pub informal_other_flagged_lines: Vec<(String, Vec<String>)>,
    /// (corpus set, code) → lines with that code.
    pub confusion: BTreeMap<(String, String), usize>,
    /// Lines per corpus set.
    pub set_sizes: BTreeMap<String, usize>,
}

impl EvalReport {
    pub fn false_rejection_rate(&self) -> f64 {
        ratio(self.false_rejections.len(), self.proper_lines)
    }

    pub fn no_diacritics_recall(&self) -> f64 {
        1.0 - ratio(self.stripped_missed.len(), self.stripped_lines)
    }

    pub fn abbreviation_recall(&self) -> f64 {
        1.0 - ratio(self.abbreviation_missed.len(), self.abbreviation_lines)
    }

    /// The confusion table as text: one row per corpus set, one column per code.
    pub fn confusion_table(&self) -> String {
        let columns = [
            "CONTENT_NO_DIACRITICS",
            "CONTENT_PARTIAL_DIACRITICS",
            "CONTENT_ABBREVIATION(chat)",
            "CONTENT_ABBREVIATION(admin)",
            "CONTENT_NOT_VIETNAMESE",
            "COMPLAINT_OR_DENUNCIATION",
            "OFFENSIVE_CONTENT",
            "DEFAMATION_SUSPECTED",
            "REJECTED",
        ];
        let mut out = format!("{:<28}{:>7}", "set", "lines");
        for c in &columns {
            out.push_str(&format!(" {:>w$}", short(c), w = short(c).len().max(6)));
        }
        out.push('\n');
        for (set, n) in &self.set_sizes {
            out.push_str(&format!("{set:<28}{n:>7}"));
            for c in &columns {
                let v = self
                    .confusion
                    .get(&(set.clone(), (*c).to_string()))
                    .copied()
                    .unwrap_or(0);
                out.push_str(&format!(" {:>w$}", v, w = short(c).len().max(6)));
            }
            out.push('\n');
        }
        out
    }

    fn count(&mut self, set: &str, text: &str) {
        *self.set_sizes.entry(set.to_string()).or_default() += 1;
        let a = super::analyse(text);
        let mut cols: Vec<&str> = Vec::new();
        if a.lacks_diacritics {
            cols.push("CONTENT_NO_DIACRITICS");
        }
        if a.partial_diacritics {
            cols.push("CONTENT_PARTIAL_DIACRITICS");
        }
        if a.chat_abbreviations().next().is_some() {
            cols.push("CONTENT_ABBREVIATION(chat)");
        }
        if a.administrative_abbreviations().next().is_some() {
            cols.push("CONTENT_ABBREVIATION(admin)");
        }
        if !a.is_vietnamese {
            cols.push("CONTENT_NOT_VIETNAMESE");
        }
        if !a.complaint_terms.is_empty() {
            cols.push("COMPLAINT_OR_DENUNCIATION");
        }
        if !a.offensive_terms.is_empty() {
            cols.push("OFFENSIVE_CONTENT");
        }
        if !a.defamation.is_empty() {
            cols.push("DEFAMATION_SUSPECTED");
        }
        if a.rejects() {
            cols.push("REJECTED");
        }
        for c in cols {
            *self
                .confusion
                .entry((set.to_string(), c.to_string()))
                .or_default() += 1;
        }
    }
}

fn short(column: &str) -> &str {
    column.strip_prefix("CONTENT_").unwrap_or(column)
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Runs the three measurements. `with_diacritics`: one proper sentence per line.
/// `informal_normalized`: the TSV `id, informal, gold` with a header row.
pub fn evaluate(with_diacritics: &str, informal_normalized: &str) -> EvalReport {
    let mut r = EvalReport::default();
    for line in with_diacritics
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        r.proper_lines += 1;
        let a = super::analyse(line);
        if a.rejects() {
            r.false_rejections.push((line.to_string(), a.codes()));
        }
        r.count("with_diacritics", line);

        let stripped = strip_marks(line);
        if stripped != line {
            r.stripped_lines += 1;
            if !super::analyse(&stripped).lacks_diacritics {
                r.stripped_missed.push(stripped.clone());
            }
            r.count("stripped", &stripped);
        }
    }
    for row in informal_normalized.lines().skip(1) {
        let mut cols = row.split('\t');
        let (Some(_), Some(informal), Some(gold)) = (cols.next(), cols.next(), cols.next()) else {
            continue;
        };
        let expansions = gold_expansions(informal, gold);
        let a = super::analyse(informal);
        let flagged = a.codes().contains(&Code::ContentAbbreviation);
        if expansions.is_empty() {
            r.informal_other_lines += 1;
            if flagged {
                r.informal_other_flagged += 1;
                let words = a.abbreviations.iter().map(|x| x.word.clone()).collect();
                r.informal_other_flagged_lines
                    .push((informal.to_string(), words));
            }
            r.count("informal (no gold shortcut)", informal);
        } else {
            r.abbreviation_lines += 1;
            if !flagged {
                r.abbreviation_missed
                    .push((informal.to_string(), expansions));
            }
            r.count("informal (gold shortcut)", informal);
        }
    }
    r
}

/// Lowercase, unmarked, đ → d: the key tokens are aligned on.
fn key(word: &str) -> String {
    strip_marks(&crate::text::nfc(word).to_lowercase())
}

/// The (informal word, gold expansion) pairs of a line where the gold spells out a shortcut.
pub fn gold_expansions(informal: &str, gold: &str) -> Vec<(String, String)> {
    let a: Vec<&str> = informal.split_whitespace().collect();
    let b: Vec<&str> = gold.split_whitespace().collect();
    let ka: Vec<String> = a.iter().map(|w| key(w)).collect();
    let kb: Vec<String> = b.iter().map(|w| key(w)).collect();
    let mut out = Vec::new();
    for (ai, bj) in align(&ka, &kb) {
        let inf = crate::text::nfc(a[ai.start]).to_lowercase();
        let pairs: Vec<(String, String)> = if ai.len() == 1 {
            vec![(inf, b[bj.clone()].join(" "))]
        } else {
            ai.clone()
                .zip(bj.clone())
                .map(|(i, j)| (crate::text::nfc(a[i]).to_lowercase(), b[j].to_string()))
                .collect()
        };
        for (i, g) in pairs {
            if is_expansion(&i, &g) {
                out.push((i, g));
            }
        }
    }
    out
}

/// A gold word spells out a shortcut: the informal word is a shorter skeleton of it
/// ("k" → "không", "vn" → "việt nam", "j" → "gì"), not a respelling ("thui" → "thôi") nor a
/// different word of its own ("lon" → "loan").
fn is_expansion(informal: &str, gold: &str) -> bool {
    let inf = key(informal);
    let g: String = key(gold).chars().filter(|c| !c.is_whitespace()).collect();
    if inf.is_empty() || !inf.chars().all(|c| c.is_ascii_lowercase()) || gold.contains('-') {
        return false;
    }
    if inf.len() >= g.len() {
        return false;
    }
    let lx = lexicon::get();
    if informal.chars().count() >= 2 && lx.is_syllable(informal) && !gold.contains(' ') {
        return false;
    }
    let teen: String = inf
        .chars()
        .map(|c| match c {
            'j' => "gi".to_string(),
            'z' => "d".to_string(),
            'w' => "qu".to_string(),
            'f' => "ph".to_string(),
            c => c.to_string(),
        })
        .collect();
    [inf.as_str(), teen.as_str()]
        .iter()
        .any(|s| s.chars().next() == g.chars().next() && is_subsequence(s, &g))
}

fn is_subsequence(needle: &str, hay: &str) -> bool {
    let mut hay = hay.chars();
    needle.chars().all(|c| hay.any(|h| h == c))
}

/// Unmatched runs between the longest common subsequence of `a` and `b`, as index ranges.
fn align(a: &[String], b: &[String]) -> Vec<(std::ops::Range<usize>, std::ops::Range<usize>)> {
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u16; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    let (mut si, mut sj) = (0, 0);
    while i < n && j < m {
        if a[i] == b[j] {
            if si < i && sj < j {
                out.push((si..i, sj..j));
            }
            i += 1;
            j += 1;
            si = i;
            sj = j;
        } else if lcs[i + 1][j] >= lcs[i][j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    if si < n && sj < m {
        out.push((si..n, sj..m));
    }
    out
}

/// The shares of Vietnamese words stripped by [`partial_diacritics`].
pub const PARTIAL_SHARES: [f64; 6] = [0.05, 0.10, 0.20, 0.33, 0.50, 1.00];

/// The seed of [`partial_diacritics`] used by the example and the corpus test.
pub const PARTIAL_SEED: u64 = 1022;

/// One row of the partial-diacritics measurement.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartialRow {
    /// Share of the Vietnamese words stripped.
    pub share: f64,
    /// Lines where at least one word was stripped (shorter lines at small shares have none).
    pub lines: usize,
    /// Flagged CONTENT_PARTIAL_DIACRITICS (and not rejected for missing marks).
    pub partial: usize,
    /// Rejected CONTENT_NO_DIACRITICS.
    pub rejected: usize,
    /// Neither: the stripped words went unnoticed.
    pub passed: usize,
    /// Some of the lines passed, for review.
    pub passed_examples: Vec<String>,
}

impl PartialRow {
    pub fn partial_rate(&self) -> f64 {
        ratio(self.partial, self.lines)
    }
    pub fn rejected_rate(&self) -> f64 {
        ratio(self.rejected, self.lines)
    }
    pub fn passed_rate(&self) -> f64 {
        ratio(self.passed, self.lines)
    }
    /// Caught either way (flagged or rejected).
    pub fn caught_rate(&self) -> f64 {
        ratio(self.partial + self.rejected, self.lines)
    }
}

/// The rows as a table (the figures of issue 9 point 11).
pub fn partial_table(rows: &[PartialRow]) -> String {
    let mut out = format!(
        "{:>8} {:>6} {:>9} {:>15} {:>8}\n",
        "stripped", "lines", "PARTIAL", "NO_DIACRITICS", "passed"
    );
    for r in rows {
        out.push_str(&format!(
            "{:>7.0}% {:>6} {:>8.1}% {:>14.1}% {:>7.1}%\n",
            r.share * 100.0,
            r.lines,
            r.partial_rate() * 100.0,
            r.rejected_rate() * 100.0,
            r.passed_rate() * 100.0
        ));
    }
    out
}

/// SplitMix64: a small deterministic generator, so the stripped set is the same on every run.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// `line` with a share `share` of its Vietnamese words (valid syllables, names inside a
/// sentence excluded) stripped of their marks: round(share × words) of the marked ones, chosen
/// by `rng`. None when no word would be stripped.
pub fn strip_share(line: &str, share: f64, rng: &mut impl FnMut(usize) -> usize) -> Option<String> {
    let lx = lexicon::get();
    let words = crate::text::words(line);
    let vietnamese: Vec<&crate::text::Word<'_>> = words
        .iter()
        .filter(|w| (w.sentence_start || !w.is_titlecase()) && lx.is_syllable(&w.lower))
        .collect();
    let k = (share * vietnamese.len() as f64).round() as usize;
    let mut marked: Vec<&&crate::text::Word<'_>> = vietnamese
        .iter()
        .filter(|w| strip_marks(w.text) != w.text)
        .collect();
    if k == 0 || marked.is_empty() {
        return None;
    }
    // Fisher–Yates, then the first k.
    for i in (1..marked.len()).rev() {
        marked.swap(i, rng(i + 1));
    }
    let mut chosen: Vec<usize> = marked
        .iter()
        .take(k)
        .map(|w| w.text.as_ptr() as usize - line.as_ptr() as usize)
        .collect();
    chosen.sort_unstable();
    let mut out = String::with_capacity(line.len());
    let mut at = 0;
    for start in chosen {
        let word = words
            .iter()
            .find(|w| w.text.as_ptr() as usize - line.as_ptr() as usize == start)?;
        out.push_str(&line[at..start]);
        out.push_str(&strip_marks(word.text));
        at = start + word.text.len();
    }
    out.push_str(&line[at..]);
    Some(out)
}

/// The partial-diacritics measurement on the proper lines, one row per share of
/// [`PARTIAL_SHARES`].
pub fn partial_diacritics(with_diacritics: &str, seed: u64) -> Vec<PartialRow> {
    let lines: Vec<String> = with_diacritics
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(crate::text::nfc)
        .collect();
    PARTIAL_SHARES
        .iter()
        .enumerate()
        .map(|(i, &share)| {
            let mut rng = SplitMix(seed ^ (i as u64).wrapping_mul(0x0100_0000_01B3));
            let mut pick = |n: usize| rng.below(n);
            let mut row = PartialRow {
                share,
                ..PartialRow::default()
            };
            for line in &lines {
                let Some(text) = strip_share(line, share, &mut pick) else {
                    continue;
                };
                row.lines += 1;
                let a = super::analyse(&text);
                if a.lacks_diacritics {
                    row.rejected += 1;
                } else if a.partial_diacritics {
                    row.partial += 1;
                } else {
                    row.passed += 1;
                    if row.passed_examples.len() < 20 {
                        row.passed_examples.push(text);
                    }
                }
            }
            row
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_gold_expansions() {
        let pairs = gold_expansions(
            "sao t gửi đc bây , vn ơi thui",
            "sao tao gửi được bây , việt nam ơi thôi",
        );
        assert_eq!(
            pairs,
            vec![
                ("t".to_string(), "tao".to_string()),
                ("đc".to_string(), "được".to_string()),
                ("vn".to_string(), "việt nam".to_string()),
            ]
        );
        assert!(gold_expansions("lúp lúp như chó .", "núp núp như chó .").is_empty());
    }

    #[test]
    fn strip_share_strips_the_share_asked_deterministically() {
        let line = "Người dân phản ánh đường bị ngập sâu nhiều ngày, xe cộ không đi được, rác trôi khắp nơi.";
        let run = |share: f64, seed: u64| {
            let mut rng = SplitMix(seed);
            strip_share(line, share, &mut |n| rng.below(n))
        };
        assert_eq!(run(0.2, 7), run(0.2, 7), "same seed, same line");
        let half = run(0.5, 7).unwrap();
        let bare = |t: &str| {
            crate::text::words(t)
                .iter()
                .filter(|w| w.text.is_ascii())
                .count()
        };
        // 19 syllables: round(9.5) = 10 stripped, all marked, on top of "xe", already bare.
        assert_eq!(bare(line), 1);
        assert_eq!(bare(&half), 11, "{half}");
        assert_eq!(run(1.0, 7).unwrap(), strip_marks(line));
        assert!(run(0.01, 7).is_none(), "rounds to no word");
    }
}
