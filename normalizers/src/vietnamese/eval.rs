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
}
