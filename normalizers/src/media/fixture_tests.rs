//! The generated fixtures of `fixtures/media/` (see `generate.py` there) read end to end.
//! Test clock: 2026-11-28T03:00:00Z; "2 h before" is 01:00Z = 08:00 in Asia/Ho_Chi_Minh.

use std::io::Cursor;

use chrono::{DateTime, TimeZone, Utc};

use super::*;

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../../../fixtures/media/", $name)).as_slice()
    };
}

fn at(y: i32, mo: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, 0, 0).unwrap()
}

fn look(bytes: &[u8], claimed: &str) -> MediaInfo {
    inspect(&mut Cursor::new(bytes), Some(claimed))
}

fn assert_long_an(info: &MediaInfo) {
    let gps = info.gps.expect("GPS position");
    assert!((gps.lat - 10.54).abs() < 1e-4, "lat {}", gps.lat);
    assert!((gps.lon - 106.41).abs() < 1e-4, "lon {}", gps.lon);
}

#[test]
fn photo_two_hours_before_in_every_image_format() {
    let files: [(&str, &[u8], &str); 5] = [
        ("jpg", fixture!("photo-2h-before.jpg"), "image/jpeg"),
        ("png", fixture!("photo-2h-before.png"), "image/png"),
        ("webp", fixture!("photo-2h-before.webp"), "image/webp"),
        ("tiff", fixture!("photo-2h-before.tiff"), "image/tiff"),
        ("heic", fixture!("photo-2h-before.heic"), "image/heif"),
    ];
    for (ext, bytes, media_type) in files {
        let info = look(bytes, "image/jpeg");
        assert_eq!(info.unreadable, None, "{ext}");
        assert_eq!(info.media_type, media_type, "{ext}");
        assert_eq!(info.kind, Some(MediaKind::Photo), "{ext}");
        let expected = at(2026, 11, 28, 1) + chrono::Duration::milliseconds(250);
        assert_eq!(info.captured_at, Some(expected), "{ext}");
        assert_eq!(info.captured_at_source, CaptureSource::Exif, "{ext}");
        assert_eq!(info.captured_offset_minutes, Some(420), "{ext}");
        assert_eq!(
            info.captured_offset_basis,
            Some(OffsetBasis::Written),
            "{ext}"
        );
        assert_long_an(&info);
    }
}

/// One camera raw fixture and what its EXIF says.
struct Raw {
    ext: &'static str,
    bytes: &'static [u8],
    media_type: &'static str,
    captured: DateTime<Utc>,
    offset_minutes: Option<i32>,
    gps: bool,
}

/// Camera raws (`generate_raw.py`): DNG and the TIFF-based raws give their EXIF capture time.
#[test]
fn camera_raws_give_their_exif_capture_time() {
    let two_hours = at(2026, 11, 28, 1);
    let raw = |ext, bytes, media_type, captured, offset_minutes, gps| Raw {
        ext,
        bytes,
        media_type,
        captured,
        offset_minutes,
        gps,
    };
    let files = [
        raw(
            "dng",
            fixture!("photo-2h-before.dng"),
            "image/x-adobe-dng",
            two_hours + chrono::Duration::milliseconds(250),
            Some(420),
            true,
        ),
        raw(
            "nef",
            fixture!("photo-3d-before.nef"),
            "image/x-nikon-nef",
            at(2026, 11, 25, 1),
            None,
            false,
        ),
        raw(
            "arw",
            fixture!("photo-2h-before.arw"),
            "image/x-sony-arw",
            two_hours,
            Some(420),
            true,
        ),
        raw(
            "pef",
            fixture!("photo-2h-before.pef"),
            "image/x-pentax-pef",
            two_hours,
            Some(420),
            false,
        ),
        raw(
            "cr2",
            fixture!("photo-2h-before.cr2"),
            "image/x-canon-cr2",
            two_hours,
            Some(420),
            false,
        ),
        raw(
            "orf",
            fixture!("photo-2h-before.orf"),
            "image/x-olympus-orf",
            two_hours,
            Some(420),
            false,
        ),
        raw(
            "rw2",
            fixture!("photo-2h-before.rw2"),
            "image/x-panasonic-rw2",
            two_hours,
            None,
            false,
        ),
    ];
    for f in files {
        let ext = f.ext;
        // Senders claim raws every way: a raw type, image/*, or nothing useful.
        for claimed in [f.media_type, "image/x-dcraw", "application/octet-stream"] {
            let info = look(f.bytes, claimed);
            assert_eq!(info.unreadable, None, "{ext} as {claimed}");
            assert_eq!(info.kind, Some(MediaKind::Photo), "{ext}");
            assert_eq!(info.media_type, f.media_type, "{ext}");
            // The sensor image's size, not the preview's.
            assert_eq!((info.width, info.height), (Some(64), Some(48)), "{ext}");
            assert_eq!(info.captured_at, Some(f.captured), "{ext}");
            assert_eq!(info.captured_at_source, CaptureSource::Exif, "{ext}");
            assert_eq!(info.captured_offset_minutes, f.offset_minutes, "{ext}");
            if f.gps {
                assert_long_an(&info);
            } else {
                assert_eq!(info.gps, None, "{ext}");
            }
        }
    }
}

#[test]
fn a_raw_without_capture_time_is_readable_of_unknown_time() {
    let info = look(fixture!("photo-raw-no-time.dng"), "image/x-adobe-dng");
    assert_eq!(info.unreadable, None);
    assert_eq!(info.media_type, "image/x-adobe-dng");
    assert_eq!(info.captured_at, None);
    assert_eq!(info.captured_at_source, CaptureSource::None);
}

#[test]
fn a_truncated_or_headless_raw_is_unreadable() {
    let dng = fixture!("photo-2h-before.dng");
    // Cut before IFD0 (which the writer put at the end, as some cameras do).
    let cut = look(&dng[..64], "image/x-adobe-dng");
    assert!(cut.unreadable.is_some(), "{cut:?}");
    // A raw's name on a TIFF header pointing nowhere.
    let nowhere = look(b"IIU\0\xf0\xff\xff\x0f\0\0\0\0", "image/x-panasonic-rw2");
    assert_eq!(nowhere.media_type, "image/x-panasonic-rw2");
    assert!(nowhere.unreadable.is_some());
}

#[test]
fn photo_three_days_before() {
    let info = look(fixture!("photo-3d-before.jpg"), "image/jpeg");
    assert_eq!(info.captured_at, Some(at(2026, 11, 25, 1)));
    assert_long_an(&info);
}

#[test]
fn photo_from_the_future() {
    let info = look(fixture!("photo-future.jpg"), "image/jpeg");
    assert_eq!(info.captured_at, Some(at(2026, 11, 28, 7)));
    assert_eq!(info.gps, None);
}

#[test]
fn photo_without_offset_is_read_in_ho_chi_minh_time() {
    let info = look(fixture!("photo-no-offset.jpg"), "image/jpeg");
    assert_eq!(info.captured_at, Some(at(2026, 11, 28, 1)));
    assert_eq!(info.captured_offset_minutes, None);
    assert_eq!(info.captured_offset_basis, Some(OffsetBasis::AssumedLocal));
}

#[test]
fn photo_offset_derived_from_the_gps_clock() {
    // Wall clock 02:00 on a phone left on UTC+1, GPS fix at 01:00 UTC.
    let info = look(fixture!("photo-gps-clock.jpg"), "image/jpeg");
    assert_eq!(info.captured_at, Some(at(2026, 11, 28, 1)));
    assert_eq!(info.captured_offset_minutes, Some(60));
    assert_eq!(info.captured_offset_basis, Some(OffsetBasis::GpsClock));
}

#[test]
fn default_camera_clock_is_unknown_not_stale() {
    let info = look(fixture!("photo-default-clock.jpg"), "image/jpeg");
    assert_eq!(info.unreadable, None);
    assert_eq!(info.captured_at, None);
    assert_eq!(info.captured_at_source, CaptureSource::None);
    assert!(info.time_note.unwrap().contains("2000-01-01"));
}

#[test]
fn photo_without_exif_is_readable_with_unknown_time() {
    let info = look(fixture!("photo-no-exif.jpg"), "image/jpeg");
    assert_eq!(info.unreadable, None);
    assert_eq!((info.width, info.height), (Some(24), Some(16)));
    assert_eq!(info.captured_at, None);
    assert_eq!(info.gps, None);
}

#[test]
fn mp4_mvhd_time_duration_and_xyz_position() {
    let info = look(fixture!("video-2h-before.mp4"), "video/mp4");
    assert_eq!(info.unreadable, None);
    assert_eq!(info.kind, Some(MediaKind::Video));
    assert_eq!(info.captured_at, Some(at(2026, 11, 28, 1)));
    assert_eq!(info.captured_at_source, CaptureSource::Container);
    assert_eq!(info.captured_offset_basis, Some(OffsetBasis::Utc));
    assert_eq!(info.duration_ms, Some(1000));
    assert_long_an(&info);
    let old = look(fixture!("video-3d-before.mp4"), "video/mp4");
    assert_eq!(old.captured_at, Some(at(2026, 11, 25, 1)));
}

#[test]
fn mov_quicktime_creation_date_with_its_zone() {
    let info = look(fixture!("video-2h-before.mov"), "video/quicktime");
    assert_eq!(info.unreadable, None);
    assert_eq!(info.media_type, "video/quicktime");
    assert_eq!(info.captured_at, Some(at(2026, 11, 28, 1)));
    assert_eq!(info.captured_offset_minutes, Some(420));
    assert_eq!(info.captured_offset_basis, Some(OffsetBasis::Written));
    assert_long_an(&info);
}

#[test]
fn mp4_with_zero_mvhd_time_is_unknown() {
    let info = look(fixture!("video-no-time.mp4"), "video/mp4");
    assert_eq!(info.unreadable, None);
    assert_eq!(info.captured_at, None);
    assert_eq!(info.duration_ms, Some(1000));
}

#[test]
fn mp4_without_ftyp_is_unreadable() {
    let info = look(fixture!("video-no-ftyp.mp4"), "video/mp4");
    assert_eq!(
        info.kind,
        Some(MediaKind::Video),
        "sniffed from its moov/mdat"
    );
    assert!(info.unreadable.unwrap().contains("video"));
}

#[test]
fn m4a_voice_memo_time() {
    let info = look(fixture!("audio-2h-before.m4a"), "audio/mp4");
    assert_eq!(info.unreadable, None);
    assert_eq!(info.kind, Some(MediaKind::Audio));
    assert_eq!(info.captured_at, Some(at(2026, 11, 28, 1)));
    assert_eq!(info.duration_ms.map(|d| d / 100), Some(10));
}

#[test]
fn mp3_id3_dates() {
    let v24 = look(fixture!("audio-2h-before.mp3"), "audio/mpeg");
    assert_eq!(v24.unreadable, None);
    assert_eq!(v24.captured_at, Some(at(2026, 11, 28, 1)));
    assert_eq!(v24.captured_at_source, CaptureSource::Container);
    let duration = v24.duration_ms.unwrap();
    assert!((800..=1200).contains(&duration), "{duration} ms");
    let v23 = look(fixture!("audio-id3v23-3d-before.mp3"), "audio/mpeg");
    assert_eq!(v23.captured_at, Some(at(2026, 11, 25, 1)));
    let untagged = look(fixture!("audio-no-tag.mp3"), "audio/mpeg");
    assert_eq!((untagged.unreadable, untagged.captured_at), (None, None));
}

#[test]
fn mp3_tag_without_audio_is_unreadable() {
    let info = look(fixture!("audio-tag-only.mp3"), "audio/mpeg");
    assert!(info.unreadable.unwrap().contains("ghi âm"));
}

#[test]
fn voice_notes_without_metadata_are_readable_with_unknown_time() {
    for (bytes, media_type) in [
        (fixture!("voice-note.amr"), "audio/amr"),
        (fixture!("voice-note.aac"), "audio/aac"),
    ] {
        let info = look(bytes, "audio/aac");
        assert_eq!(info.media_type, media_type);
        assert_eq!(info.unreadable, None, "{media_type}");
        assert_eq!(info.captured_at, None, "{media_type}");
    }
    let mut cut = fixture!("voice-note.amr")[..7].to_vec();
    cut[6] = 0xFF;
    assert!(look(&cut, "audio/amr").unreadable.is_some());
}

#[test]
fn truncated_media_never_panic() {
    let all: [&[u8]; 12] = [
        fixture!("photo-2h-before.jpg"),
        fixture!("photo-2h-before.png"),
        fixture!("photo-2h-before.webp"),
        fixture!("photo-2h-before.tiff"),
        fixture!("photo-2h-before.heic"),
        fixture!("video-2h-before.mp4"),
        fixture!("video-2h-before.mov"),
        fixture!("audio-2h-before.m4a"),
        fixture!("audio-2h-before.mp3"),
        fixture!("voice-note.aac"),
        fixture!("voice-note.amr"),
        fixture!("photo-rotated.jpg"),
    ];
    for bytes in all {
        for cut in (1..bytes.len()).step_by(7) {
            let _ = inspect(&mut Cursor::new(&bytes[..cut]), None);
            let mut flipped = bytes.to_vec();
            flipped[cut] ^= 0xA5;
            let _ = inspect(&mut Cursor::new(&flipped), None);
            let _ = strip_metadata("image/jpeg", &flipped);
            let _ = strip_metadata("image/png", &flipped);
            let _ = strip_metadata("image/webp", &flipped);
        }
    }
}

/// A stripped copy decodes, has the same size, and carries no capture time, GPS or EXIF text.
fn assert_stripped(original: &[u8], media_type: &str) -> Vec<u8> {
    let stripped = strip_metadata(media_type, original).expect("strippable");
    let before = look(original, media_type);
    let after = look(&stripped, media_type);
    assert_eq!(after.unreadable, None, "{media_type}");
    assert_eq!((after.width, after.height), (before.width, before.height));
    assert_eq!(after.gps, None, "{media_type}: GPS survived");
    assert_eq!(
        after.captured_at, None,
        "{media_type}: capture time survived"
    );
    let contains = |needle: &[u8]| stripped.windows(needle.len()).any(|w| w == needle);
    assert!(!contains(b"2026:11:28"), "{media_type}: date text survived");
    assert!(
        !contains(b"generate.py"),
        "{media_type}: camera model survived"
    );
    let format = image::ImageFormat::from_mime_type(media_type).unwrap();
    image::load_from_memory_with_format(&stripped, format).expect("the public copy decodes");
    stripped
}

#[test]
fn stripped_copies_have_no_gps_or_time() {
    assert_stripped(fixture!("photo-2h-before.jpg"), "image/jpeg");
    assert_stripped(fixture!("photo-2h-before.png"), "image/png");
    let webp = assert_stripped(fixture!("photo-2h-before.webp"), "image/webp");
    assert!(!webp.windows(4).any(|w| w == b"EXIF"));
    assert_eq!(
        strip_metadata("image/heif", fixture!("photo-2h-before.heic")),
        None
    );
    assert_eq!(strip_metadata("image/jpeg", b"not a jpeg"), None);
}

#[test]
fn stripped_jpeg_keeps_its_orientation_only() {
    let stripped = assert_stripped(fixture!("photo-rotated.jpg"), "image/jpeg");
    let facts = read_exif(&mut Cursor::new(&stripped), "image/jpeg")
        .unwrap()
        .expect("minimal EXIF block");
    assert_eq!(facts.orientation, Some(6));
    assert_eq!(facts.date_time_original, None);
    assert_eq!(facts.gps, None);
}

#[test]
fn inspect_json_for_the_cli() {
    let info = look(fixture!("photo-2h-before.jpg"), "image/jpeg");
    let json = inspect_json(&info);
    assert_eq!(json["kind"], "photo");
    assert_eq!(json["media_type"], "image/jpeg");
    assert_eq!(json["captured_at"], "2026-11-28T01:00:00.250Z");
    assert_eq!(json["captured_at_local"], "2026-11-28T08:00:00.250+07:00");
    assert_eq!(json["captured_at_source"], "exif");
    assert_eq!(json["captured_offset_minutes"], 420);
    assert_eq!(json["offset_basis"], "written");
    assert_eq!(
        json["gps"]["lat"].as_f64().map(|v| (v * 1e4).round()),
        Some(105_400.0)
    );
    let unknown = inspect_json(&look(fixture!("photo-no-exif.jpg"), "image/jpeg"));
    assert_eq!(unknown["captured_at"], serde_json::Value::Null);
    assert_eq!(unknown["captured_at_source"], "none");
}

/// A stream of `len` bytes: `head`, then zeros, then `tail`, never materialised; counts what
/// the reader asked for.
struct Sparse {
    head: Vec<u8>,
    tail: Vec<u8>,
    len: u64,
    pos: u64,
    bytes_read: u64,
}

impl Sparse {
    fn new(head: Vec<u8>, gap: u64, tail: Vec<u8>) -> Self {
        let len = head.len() as u64 + gap + tail.len() as u64;
        Sparse {
            head,
            tail,
            len,
            pos: 0,
            bytes_read: 0,
        }
    }

    fn byte(&self, at: u64) -> u8 {
        let tail_start = self.len - self.tail.len() as u64;
        if at < self.head.len() as u64 {
            self.head[at as usize]
        } else if at >= tail_start {
            self.tail[(at - tail_start) as usize]
        } else {
            0
        }
    }
}

impl std::io::Read for Sparse {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (self.len.saturating_sub(self.pos)).min(buf.len() as u64) as usize;
        for (i, b) in buf[..n].iter_mut().enumerate() {
            *b = self.byte(self.pos + i as u64);
        }
        self.pos += n as u64;
        self.bytes_read += n as u64;
        Ok(n)
    }
}

impl std::io::Seek for Sparse {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let base = match to {
            std::io::SeekFrom::Start(p) => p as i128,
            std::io::SeekFrom::End(d) => self.len as i128 + d as i128,
            std::io::SeekFrom::Current(d) => self.pos as i128 + d as i128,
        };
        self.pos = u64::try_from(base).map_err(|_| std::io::ErrorKind::InvalidInput)?;
        Ok(self.pos)
    }
}

/// The top-level boxes of a small MP4, by type.
fn top_level_boxes(mp4: &[u8]) -> Vec<([u8; 4], Vec<u8>)> {
    let mut at = 0;
    let mut out = Vec::new();
    while at + 8 <= mp4.len() {
        let size = u32::from_be_bytes(mp4[at..at + 4].try_into().unwrap()) as usize;
        out.push((
            mp4[at + 4..at + 8].try_into().unwrap(),
            mp4[at..at + size].to_vec(),
        ));
        at += size;
    }
    out
}

#[test]
fn a_200_mb_video_is_read_by_its_metadata_only() {
    // ftyp, a 200 MB mdat of zeros, then the moov of the 2h-before fixture (moov at the end,
    // as cameras write it): the capture time must come from a few kilobytes of reading.
    let boxes = top_level_boxes(fixture!("video-2h-before.mp4"));
    let part = |kind: &[u8; 4]| boxes.iter().find(|(k, _)| k == kind).unwrap().1.clone();
    let mdat_len: u64 = 200 << 20;
    let mut head = part(b"ftyp");
    head.extend_from_slice(&(mdat_len as u32).to_be_bytes());
    head.extend_from_slice(b"mdat");
    let mut video = Sparse::new(head, mdat_len - 8, part(b"moov"));
    let info = inspect(&mut video, Some("video/mp4"));
    assert_eq!(info.unreadable, None);
    assert_eq!(info.captured_at, Some(at(2026, 11, 28, 1)));
    assert!(
        video.bytes_read < 64 * 1024,
        "read {} bytes of a 200 MB video",
        video.bytes_read
    );
}

#[test]
fn a_photo_without_exif_is_not_scanned_past_its_headers() {
    // A JPEG with no EXIF segment followed by 50 MB of scan data: reading stops at the scan.
    let jpeg = fixture!("photo-no-exif.jpg");
    let sos = jpeg.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    let mut photo = Sparse::new(jpeg[..sos + 2].to_vec(), 50 << 20, vec![0xFF, 0xD9]);
    let facts = read_exif(&mut photo, "image/jpeg").unwrap();
    assert_eq!(facts, None);
    assert!(photo.bytes_read < 16 * 1024, "read {}", photo.bytes_read);
}

/// A real camera DNG (Nikon Z 9, from the third-party corpus, read through `CORPUS_DIR`):
/// recognised as DNG with its sensor size and its EXIF capture time at its written offset.
#[test]
fn a_real_nikon_dng_gives_its_capture_time() {
    let Some(dir) = std::env::var_os("CORPUS_DIR") else {
        eprintln!("skipped: CORPUS_DIR is not set (the real DNG lives in the corpus)");
        return;
    };
    let path = std::path::Path::new(&dir)
        .join("exif/exifpy-nikon_z_9_high_efficiency_compressed_dx_cropped_max_overexposed.dng");
    let Ok(bytes) = std::fs::read(&path) else {
        eprintln!("skipped: {} is absent", path.display());
        return;
    };
    let info = look(&bytes, "image/x-adobe-dng");
    assert_eq!(info.unreadable, None);
    assert_eq!(info.media_type, "image/x-adobe-dng");
    assert_eq!(info.kind, Some(MediaKind::Photo));
    assert_eq!((info.width, info.height), (Some(5392), Some(3592)));
    // 2025:08:10 19:02:53, SubSecTimeOriginal 27, at +03:00.
    assert_eq!(
        info.captured_at,
        Some(
            Utc.with_ymd_and_hms(2025, 8, 10, 16, 2, 53).unwrap()
                + chrono::Duration::milliseconds(270)
        )
    );
    assert_eq!(info.captured_offset_minutes, Some(180));
    assert_eq!(info.captured_at_source, CaptureSource::Exif);
}

/// Found by fuzzing `media_exif`: a TIFF block of entries that all cover the block made the
/// EXIF reader materialise entries × block size (40 MB and 0.4 s for a 160 kB raw of 38 such
/// entries; this one would take about 450 MB). It is refused as over the parse budget; the
/// photo stays readable, of unknown time.
#[test]
fn an_exif_block_of_entries_covering_it_is_not_parsed() {
    let bomb = super::tiff::tests::entries_covering_the_block(400, 48 * 1024);
    for media_type in ["image/tiff", "image/x-olympus-orf"] {
        let read = super::photo::read_exif(&mut Cursor::new(&bomb), media_type);
        assert!(
            matches!(read, Ok(None)),
            "{media_type}: {read:?} (parsed though over the budget)"
        );
    }
}

/// Every photo fixture's EXIF, maker notes and raw metadata included, is far within the
/// parse budget.
#[test]
fn real_exif_blocks_are_far_within_the_parse_budget() {
    for (name, bytes) in [
        ("photo-2h-before.jpg", fixture!("photo-2h-before.jpg")),
        ("photo-rotated.jpg", fixture!("photo-rotated.jpg")),
        ("photo-2h-before.tiff", fixture!("photo-2h-before.tiff")),
        ("photo-2h-before.dng", fixture!("photo-2h-before.dng")),
        ("photo-2h-before.cr2", fixture!("photo-2h-before.cr2")),
        ("photo-2h-before.arw", fixture!("photo-2h-before.arw")),
        ("photo-3d-before.nef", fixture!("photo-3d-before.nef")),
    ] {
        let tiff = if name.ends_with(".jpg") {
            exif::get_exif_attr_from_jpeg(&mut Cursor::new(bytes)).unwrap()
        } else {
            bytes.to_vec()
        };
        let cost = super::tiff::exif_parse_cost(&tiff);
        assert!(
            cost > 0 && cost < super::photo::EXIF_PARSE_BUDGET / 16,
            "{name}: {cost}"
        );
    }
}
