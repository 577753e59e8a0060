//! R-VAL-TEXT measured on the third-party corpus: proper Vietnamese prose is not rejected,
//! the same prose without marks is caught, and real chat shortcuts are caught.
//!
//! Needs `CORPUS_DIR` (the corpus folder, e.g. /work/shared/corpus); skipped without it. The
//! informal corpus is research-only: it is read in place and never copied into the repository.

use std::path::PathBuf;

use normalizers::vietnamese::eval::evaluate;

fn corpus_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("CORPUS_DIR")?);
    dir.join("vietnamese").is_dir().then_some(dir)
}

#[test]
fn text_checks_meet_their_goals_on_the_corpus() {
    let Some(dir) = corpus_dir() else {
        eprintln!("skipped: CORPUS_DIR not set");
        return;
    };
    let vi = dir.join("vietnamese");
    let proper =
        std::fs::read_to_string(vi.join("with_diacritics.txt")).expect("with_diacritics.txt");
    let informal = std::fs::read_to_string(vi.join("informal_normalized.tsv"))
        .expect("informal_normalized.tsv");
    let r = evaluate(&proper, &informal);

    // The suite really ran on the corpus, not on an empty file.
    assert!(r.proper_lines >= 3000, "{} proper lines", r.proper_lines);
    assert!(
        r.stripped_lines >= 3000,
        "{} stripped lines",
        r.stripped_lines
    );
    assert!(
        r.abbreviation_lines >= 900,
        "{} informal lines with a shortcut",
        r.abbreviation_lines
    );

    assert!(
        r.false_rejection_rate() <= 0.005,
        "false rejections {:.2}% > 0.5%: {:#?}",
        r.false_rejection_rate() * 100.0,
        r.false_rejections.iter().take(20).collect::<Vec<_>>()
    );
    assert!(
        r.no_diacritics_recall() >= 0.99,
        "CONTENT_NO_DIACRITICS recall {:.2}% < 99%: {:#?}",
        r.no_diacritics_recall() * 100.0,
        r.stripped_missed.iter().take(20).collect::<Vec<_>>()
    );
    assert!(
        r.abbreviation_recall() >= 0.95,
        "CONTENT_ABBREVIATION recall {:.2}% < 95%: {:#?}",
        r.abbreviation_recall() * 100.0,
        r.abbreviation_missed.iter().take(20).collect::<Vec<_>>()
    );
}

#[test]
fn informal_lines_not_in_nfc_give_the_same_answer_as_their_nfc_form() {
    let Some(dir) = corpus_dir() else {
        eprintln!("skipped: CORPUS_DIR not set");
        return;
    };
    let informal =
        std::fs::read_to_string(dir.join("vietnamese").join("informal.txt")).expect("informal.txt");
    let mut decomposed = 0;
    for line in informal.lines() {
        let nfc = normalizers::text::nfc(line);
        if nfc != line {
            decomposed += 1;
            assert_eq!(
                normalizers::vietnamese::analyse(line),
                normalizers::vietnamese::analyse(&nfc),
                "line {decomposed} analysed differently in NFD and NFC"
            );
        }
    }
    assert!(
        decomposed >= 40,
        "the corpus has 51 lines not in NFC; found {decomposed}"
    );
}
