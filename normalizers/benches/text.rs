//! Throughput of the Vietnamese text analysis (`vietnamese::analyse`) in MB/s, over the 3,300
//! news sentences of `$CORPUS_DIR/vietnamese/with_diacritics.txt` (held in memory).
//!
//! Run: `CORPUS_DIR=/work/shared/corpus cargo bench -p normalizers --bench text`.
//! Without CORPUS_DIR it prints "skipped: CORPUS_DIR not set" and measures nothing.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use normalizers::vietnamese::{analyse, suggest_category};

fn corpus() -> Option<String> {
    let dir = std::env::var_os("CORPUS_DIR").map(PathBuf::from)?;
    std::fs::read_to_string(dir.join("vietnamese").join("with_diacritics.txt")).ok()
}

fn bench(c: &mut Criterion) {
    let Some(text) = corpus() else {
        eprintln!("skipped: CORPUS_DIR not set (or with_diacritics.txt missing)");
        return;
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    // Build the lexicon outside the measurement.
    analyse("Đèn đường hỏng");

    let mut group = c.benchmark_group("vietnamese");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("analyse per sentence", |b| {
        b.iter(|| {
            lines
                .iter()
                .map(|l| usize::from(analyse(std::hint::black_box(l)).rejects()))
                .sum::<usize>()
        })
    });
    group.bench_function("suggest_category per sentence", |b| {
        b.iter(|| {
            lines
                .iter()
                .filter(|l| suggest_category(std::hint::black_box(l)).is_some())
                .count()
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
