//! Conformance of the EXIF reader against exiftool 12.57 over the third-party photo corpus
//! (`$CORPUS_DIR/exif`, 80 real camera/phone files): `EXPECTED_BY_GROUP.tsv` gives the values
//! exiftool found in the EXIF groups only (not XMP or maker notes, which we do not read).
//!
//! For every file: `inspect` and `read_exif` return without panicking; DateTimeOriginal (with
//! SubSecTimeOriginal), OffsetTimeOriginal and the GPS position equal exiftool's EXIF values,
//! and are absent where exiftool found none in EXIF. Default camera clocks give no capture time.
//!
//! Run: `CORPUS_DIR=/work/shared/corpus cargo test -p normalizers --test exif_corpus -- --nocapture`

use std::collections::HashMap;
use std::io::Cursor;
use std::path::PathBuf;

use chrono::NaiveDateTime;
use normalizers::media::{capture, inspect, read_exif, sniff, ExifFacts, SNIFF_LEN};

fn corpus() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("CORPUS_DIR")?).join("exif");
    dir.join("EXPECTED_BY_GROUP.tsv").is_file().then_some(dir)
}

/// One row of `EXPECTED_BY_GROUP.tsv`, by column name; `-` (absent) and `` (empty) are `None`.
struct Row(HashMap<String, String>);

impl Row {
    fn get(&self, column: &str) -> Option<&str> {
        let value = self.0.get(column).map(String::as_str)?;
        (value != "-" && !value.is_empty()).then_some(value)
    }
}

fn rows(dir: &std::path::Path) -> Vec<Row> {
    let text = std::fs::read_to_string(dir.join("EXPECTED_BY_GROUP.tsv")).expect("expected tsv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            Row(header
                .iter()
                .zip(l.split('\t'))
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect())
        })
        .collect()
}

fn expected_dto(row: &Row) -> Option<NaiveDateTime> {
    let (t, _) = capture::parse_wall_clock(row.get("EXIF:DateTimeOriginal")?)?;
    let nanos = row
        .get("EXIF:SubSecTimeOriginal")
        .map(capture::subsec_nanos)
        .unwrap_or(0);
    Some(t + chrono::Duration::nanoseconds(i64::from(nanos)))
}

fn expected_gps(row: &Row) -> Option<(f64, f64)> {
    let lat: f64 = row.get("GPS:GPSLatitude")?.parse().ok()?;
    let lon: f64 = row.get("GPS:GPSLongitude")?.parse().ok()?;
    let lat = if row.get("GPS:GPSLatitudeRef") == Some("S") {
        -lat
    } else {
        lat
    };
    let lon = if row.get("GPS:GPSLongitudeRef") == Some("W") {
        -lon
    } else {
        lon
    };
    Some((lat, lon))
}

#[derive(Default)]
struct Tally {
    files: usize,
    with_exif: usize,
    dto_equal: usize,
    offset_equal: usize,
    gps_equal: usize,
    default_clock: usize,
    captured: usize,
    unreadable: Vec<String>,
    mismatches: Vec<String>,
}

#[test]
fn exif_matches_exiftool_over_the_corpus() {
    let Some(dir) = corpus() else {
        println!("skipped: CORPUS_DIR not set (or no exif/EXPECTED_BY_GROUP.tsv in it)");
        return;
    };
    let mut t = Tally::default();
    for row in rows(&dir) {
        let name = row.0["FileName"].clone();
        let bytes = std::fs::read(dir.join(&name)).expect("corpus file");
        t.files += 1;
        // Never panics, whatever the file; the report only needs it not to.
        let info = inspect(&mut Cursor::new(&bytes), None);
        t.captured += usize::from(info.captured_at.is_some());
        if let Some(why) = &info.unreadable {
            t.unreadable.push(format!("{name} ({why})"));
        }
        let head = &bytes[..bytes.len().min(SNIFF_LEN)];
        let media_type = sniff(head).media_type;
        let facts = read_exif(&mut Cursor::new(&bytes), media_type)
            .ok()
            .flatten()
            .unwrap_or_default();
        if facts != ExifFacts::default() {
            t.with_exif += 1;
        }

        let want = expected_dto(&row);
        if facts.date_time_original == want {
            t.dto_equal += usize::from(want.is_some());
        } else {
            t.mismatches.push(format!(
                "{name}: DateTimeOriginal {:?}, exiftool {want:?}",
                facts.date_time_original
            ));
        }

        let want = row
            .get("EXIF:OffsetTimeOriginal")
            .and_then(capture::parse_offset);
        if facts.offset_time_original == want {
            t.offset_equal += usize::from(want.is_some());
        } else {
            t.mismatches.push(format!(
                "{name}: OffsetTimeOriginal {:?}, exiftool {want:?}",
                facts.offset_time_original
            ));
        }

        let want = expected_gps(&row);
        let got = facts.gps.map(|c| (c.lat, c.lon));
        let same = match (got, want) {
            (Some(g), Some(w)) => (g.0 - w.0).abs() < 1e-6 && (g.1 - w.1).abs() < 1e-6,
            (None, None) => true,
            _ => false,
        };
        if same {
            t.gps_equal += usize::from(want.is_some());
        } else {
            t.mismatches
                .push(format!("{name}: GPS {got:?}, exiftool {want:?}"));
        }

        // A camera's unset clock is no capture time (unknown, never stale).
        if let Some(dto) = facts.date_time_original {
            if capture::is_default_clock(dto) {
                t.default_clock += 1;
                if info.captured_at.is_some() {
                    t.mismatches
                        .push(format!("{name}: default clock {dto} used as capture time"));
                }
            }
        }
    }
    println!(
        "exif corpus: {} files, {} with EXIF read; DateTimeOriginal equal {} , OffsetTimeOriginal equal {}, GPS equal {} (all where exiftool found them in EXIF); {} default clocks ignored; {} mismatches",
        t.files,
        t.with_exif,
        t.dto_equal,
        t.offset_equal,
        t.gps_equal,
        t.default_clock,
        t.mismatches.len()
    );
    println!(
        "  capture time resolved for {} files; unreadable as evidence: {:?}",
        t.captured, t.unreadable
    );
    for m in &t.mismatches {
        println!("  mismatch: {m}");
    }
    assert!(t.files >= 80, "the corpus has 80 files, read {}", t.files);
    assert!(t.mismatches.is_empty(), "{} mismatches", t.mismatches.len());
}

/// R-SEC-3: damaged real files (cut short, bytes flipped in their metadata) never panic the
/// reader, the inspector or the stripper.
#[test]
fn damaged_corpus_files_never_panic() {
    let Some(dir) = corpus() else {
        println!("skipped: CORPUS_DIR not set (or no exif/EXPECTED_BY_GROUP.tsv in it)");
        return;
    };
    let mut cases = 0usize;
    for row in rows(&dir) {
        let bytes = std::fs::read(dir.join(&row.0["FileName"])).expect("corpus file");
        let media_type = sniff(&bytes[..bytes.len().min(SNIFF_LEN)]).media_type;
        let metadata_end = bytes.len().min(64 * 1024);
        for k in 1..=12usize {
            let cut = &bytes[..metadata_end * k / 13];
            let mut flipped = bytes[..metadata_end].to_vec();
            let at = metadata_end * k / 13;
            for b in flipped.iter_mut().skip(at).take(4) {
                *b = !*b;
            }
            for damaged in [cut, flipped.as_slice()] {
                let _ = inspect(&mut Cursor::new(damaged), None);
                let _ = read_exif(&mut Cursor::new(damaged), media_type);
                let _ = normalizers::media::strip_metadata(media_type, damaged);
                cases += 1;
            }
        }
    }
    println!("damaged corpus files: {cases} cases, no panic");
    assert!(cases >= 80 * 24);
}

/// R-SEC-2 on real phone and camera files: the public copy of every JPEG, PNG and WebP of the
/// corpus keeps its size and loses its capture time and GPS, including the EXIF of the extra
/// images phones append after the main one.
#[test]
fn stripped_corpus_photos_keep_no_time_or_position() {
    let Some(dir) = corpus() else {
        println!("skipped: CORPUS_DIR not set (or no exif/EXPECTED_BY_GROUP.tsv in it)");
        return;
    };
    let (mut stripped, mut had_gps) = (0usize, 0usize);
    for row in rows(&dir) {
        let name = &row.0["FileName"];
        let bytes = std::fs::read(dir.join(name)).expect("corpus file");
        let media_type = sniff(&bytes[..bytes.len().min(SNIFF_LEN)]).media_type;
        let before = inspect(&mut Cursor::new(&bytes), None);
        if before.unreadable.is_some() {
            continue;
        }
        let Some(copy) = normalizers::media::strip_metadata(media_type, &bytes) else {
            continue;
        };
        stripped += 1;
        had_gps += usize::from(before.gps.is_some());
        let after = inspect(&mut Cursor::new(&copy), None);
        assert_eq!(after.unreadable, None, "{name}");
        assert_eq!(
            (after.width, after.height),
            (before.width, before.height),
            "{name}"
        );
        assert_eq!((after.captured_at, after.gps), (None, None), "{name}");
        let exif_blocks = copy.windows(6).filter(|w| w == b"Exif\0\0").count();
        assert!(exif_blocks <= 1, "{name}: {exif_blocks} EXIF blocks left");
        assert!(
            !copy.windows(9).any(|w| w == b"http://ns"),
            "{name}: XMP left"
        );
    }
    println!("stripped {stripped} corpus photos ({had_gps} with GPS): no time, no GPS left");
    assert!(stripped >= 60, "only {stripped} photos stripped");
}
