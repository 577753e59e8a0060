//! Measures the Vietnamese text checks on the third-party corpus (R-VAL-TEXT).
//!
//! `CORPUS_DIR=/work/shared/corpus cargo run -p normalizers --release --example eval_text [-- -v]`
//!
//! Prints the false-rejection rate on proper news sentences (goal ≤ 0.5 %), the recall of
//! CONTENT_NO_DIACRITICS on the same sentences with every mark stripped (goal ≥ 99 %), the recall
//! of CONTENT_ABBREVIATION on real informal comments whose gold normalisation expands a shortcut
//! (goal ≥ 95 %), and a confusion table. `-v` lists every miss. The informal corpus is for
//! research use only: it is read from CORPUS_DIR, never copied.
//!
//! `… --example eval_text -- --stdin` instead prints, for each line read from stdin, the JSON
//! of `vietnamese::check_text_line` (codes and words to fix).

use std::path::PathBuf;
use std::time::Instant;

use normalizers::vietnamese::eval::{evaluate, partial_diacritics, partial_table, PARTIAL_SEED};

fn main() -> std::io::Result<()> {
    if std::env::args().any(|a| a == "--stdin") {
        // One JSON line per input line: what `gateway check-text` prints.
        for line in std::io::stdin().lines() {
            println!("{}", normalizers::vietnamese::check_text_line(&line?));
        }
        return Ok(());
    }
    let Some(dir) = std::env::var_os("CORPUS_DIR")
        .map(PathBuf::from)
        .filter(|d| d.is_dir())
    else {
        eprintln!(
            "skipped: CORPUS_DIR not set (point it at the corpus folder, e.g. /work/shared/corpus)"
        );
        return Ok(());
    };
    let verbose = std::env::args().any(|a| a == "-v" || a == "--verbose");
    let vi = dir.join("vietnamese");
    let proper = std::fs::read_to_string(vi.join("with_diacritics.txt"))?;
    let informal = std::fs::read_to_string(vi.join("informal_normalized.tsv"))?;

    let started = Instant::now();
    let r = evaluate(&proper, &informal);
    let took = started.elapsed();

    let pct = |x: f64| x * 100.0;
    println!("R-VAL-TEXT evaluation on {}", vi.display());
    println!(
        "false rejections on with_diacritics.txt: {}/{} = {:.2}% (goal <= 0.5%)",
        r.false_rejections.len(),
        r.proper_lines,
        pct(r.false_rejection_rate())
    );
    println!(
        "CONTENT_NO_DIACRITICS recall on stripped sentences: {}/{} = {:.2}% (goal >= 99%)",
        r.stripped_lines - r.stripped_missed.len(),
        r.stripped_lines,
        pct(r.no_diacritics_recall())
    );
    println!(
        "CONTENT_ABBREVIATION recall on informal.txt (gold expands a shortcut): {}/{} = {:.2}% (goal >= 95%)",
        r.abbreviation_lines - r.abbreviation_missed.len(),
        r.abbreviation_lines,
        pct(r.abbreviation_recall())
    );
    println!(
        "informal lines without a gold shortcut flagged CONTENT_ABBREVIATION anyway: {}/{}",
        r.informal_other_flagged, r.informal_other_lines
    );
    println!(
        "\nconfusion (lines per set raising each code):\n{}",
        r.confusion_table()
    );
    println!("evaluated in {:.2?}", took);

    let rows = partial_diacritics(&proper, PARTIAL_SEED);
    println!(
        "\npartial diacritics: share of Vietnamese words stripped of marks (seed {PARTIAL_SEED}):\n{}",
        partial_table(&rows)
    );
    if verbose {
        for r in &rows {
            println!(
                "passed at {:.0}% (first {}):",
                r.share * 100.0,
                r.passed_examples.len()
            );
            for line in &r.passed_examples {
                println!("  {line}");
            }
        }
    }

    let limit = if verbose { usize::MAX } else { 10 };
    println!(
        "\nfalse rejections (first {}):",
        limit.min(r.false_rejections.len())
    );
    for (line, codes) in r.false_rejections.iter().take(limit) {
        let codes: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
        println!("  {codes:?} {line}");
    }
    println!(
        "\nstripped lines missed (first {}):",
        limit.min(r.stripped_missed.len())
    );
    for line in r.stripped_missed.iter().take(limit) {
        println!("  {line}");
    }
    println!(
        "\nabbreviation lines missed (first {}):",
        limit.min(r.abbreviation_missed.len())
    );
    for (line, pairs) in r.abbreviation_missed.iter().take(limit) {
        println!("  {pairs:?} <- {line}");
    }
    if verbose {
        println!("\ninformal lines without a gold shortcut but flagged:");
        for (line, words) in &r.informal_other_flagged_lines {
            println!("  {words:?} <- {line}");
        }
    }
    Ok(())
}
