//! Capture-time extraction throughput over the EXIF corpus, against exiftool.
//!
//! Measures, over every file of `$CORPUS_DIR/exif` (held in memory, so disk speed is out of it):
//! - `read_exif`: locating and parsing the EXIF block (DateTimeOriginal, offset, GPS);
//! - `inspect`: what the gateway runs per attachment (sniff, header decode, EXIF, zone rules);
//! - exiftool 12 once per file (`exiftool -n -T -DateTimeOriginal … FILE`), as a gateway that
//!   shelled out per attachment would;
//! - exiftool in batch mode (one process, every file on the command line).
//!
//! Run: `CORPUS_DIR=/work/shared/corpus cargo bench -p normalizers --bench capture_time`
//! (exiftool: `apt-get install libimage-exiftool-perl`; skipped when absent).

use std::io::Cursor;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use normalizers::media::{inspect, read_exif, sniff, SNIFF_LEN};

const EXIFTOOL_ARGS: [&str; 6] = [
    "-n",
    "-T",
    "-DateTimeOriginal",
    "-OffsetTimeOriginal",
    "-GPSLatitude",
    "-GPSLongitude",
];

/// Repeat `pass` (one pass over every file) for at least `budget`; files per second.
fn files_per_second(files: usize, budget: Duration, mut pass: impl FnMut()) -> (f64, u32) {
    pass(); // warm-up
    let start = Instant::now();
    let mut passes = 0u32;
    while start.elapsed() < budget || passes == 0 {
        pass();
        passes += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    ((files as f64 * f64::from(passes)) / elapsed, passes)
}

fn exiftool_available() -> bool {
    Command::new("exiftool")
        .arg("-ver")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn main() {
    let Some(dir) = std::env::var_os("CORPUS_DIR").map(|d| PathBuf::from(d).join("exif")) else {
        println!("skipped: CORPUS_DIR not set");
        return;
    };
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                !name.ends_with(".tsv") && p.is_file()
            })
            .collect(),
        Err(_) => {
            println!("skipped: CORPUS_DIR has no exif/ folder");
            return;
        }
    };
    paths.sort();
    let files: Vec<Vec<u8>> = paths
        .iter()
        .map(|p| std::fs::read(p).expect("corpus file"))
        .collect();
    let total_bytes: usize = files.iter().map(Vec::len).sum();
    let n = files.len();
    println!(
        "corpus: {n} files, {:.1} MiB",
        total_bytes as f64 / (1 << 20) as f64
    );

    let mut found = 0usize;
    let (read_exif_rate, passes) = files_per_second(n, Duration::from_secs(3), || {
        found = 0;
        for bytes in &files {
            let media_type = sniff(&bytes[..bytes.len().min(SNIFF_LEN)]).media_type;
            if let Ok(Some(facts)) = read_exif(&mut Cursor::new(bytes), media_type) {
                found += usize::from(facts.date_time_original.is_some());
            }
        }
    });
    println!(
        "read_exif:             {read_exif_rate:>10.0} files/s  ({passes} passes, {found} DateTimeOriginal found)"
    );
    let mut captured = 0usize;
    let (inspect_rate, passes) = files_per_second(n, Duration::from_secs(3), || {
        captured = 0;
        for bytes in &files {
            let info = inspect(&mut Cursor::new(bytes), None);
            captured += usize::from(info.captured_at.is_some());
        }
    });
    println!(
        "inspect:               {inspect_rate:>10.0} files/s  ({passes} passes, {captured} capture times)"
    );

    if !exiftool_available() {
        println!("skipped exiftool comparison: exiftool not installed (apt-get install libimage-exiftool-perl)");
        return;
    }
    let start = Instant::now();
    for path in &paths {
        let status = Command::new("exiftool")
            .args(EXIFTOOL_ARGS)
            .arg(path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        assert!(status.is_ok(), "exiftool could not be run");
    }
    let per_file_rate = n as f64 / start.elapsed().as_secs_f64();
    println!("exiftool per file:     {per_file_rate:>10.1} files/s");

    let start = Instant::now();
    let status = Command::new("exiftool")
        .args(EXIFTOOL_ARGS)
        .args(&paths)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    assert!(status.is_ok(), "exiftool could not be run");
    let batch_rate = n as f64 / start.elapsed().as_secs_f64();
    println!("exiftool batch:        {batch_rate:>10.1} files/s");

    println!(
        "ratio read_exif / exiftool per file: {:.0}x; / exiftool batch: {:.0}x",
        read_exif_rate / per_file_rate,
        read_exif_rate / batch_rate
    );
    println!(
        "ratio inspect   / exiftool per file: {:.0}x; / exiftool batch: {:.0}x",
        inspect_rate / per_file_rate,
        inspect_rate / batch_rate
    );
    // The lines `bench/run` collects.
    println!(
        "figure capture_time_vs_exiftool_per_file: {read_exif_rate:.0} files/s; baseline {per_file_rate:.1} files/s; ratio {:.0}",
        read_exif_rate / per_file_rate
    );
    println!(
        "figure capture_time_vs_exiftool_batch: {read_exif_rate:.0} files/s; baseline {batch_rate:.1} files/s; ratio {:.0}",
        read_exif_rate / batch_rate
    );
}
