//! What a media file is, read from its bytes: kind, sniffed type, dimensions, whether it is
//! readable at all (MEDIA_UNREADABLE), and when and where it was captured (R-VAL-TIME).
//!
//! Pure: works on any `Read + Seek` (a file the caller opened, or bytes in memory); never opens a
//! file or the network itself. Containers are walked with seeks and bounded reads, so a 200 MB
//! video costs a few kilobytes of reading and a forged size field cannot allocate gigabytes.
//!
//! # Layout
//! - `sniff`: media type from magic bytes, and its kind.
//! - `capture`: wall clock + offset → instant; default camera clocks; the zone rules.
//! - `photo`: EXIF capture time, offset and GPS of JPEG, HEIC/HEIF/AVIF, PNG, WebP, TIFF, JXL
//!   and the TIFF-based camera raws.
//! - `tiff`: TIFF structure of plain TIFF and camera raws (DNG, NEF, ARW, PEF, CR2, ORF, RW2):
//!   the refined media type, whether it holds sensor data, the sensor size.
//! - `bmff`: ISO base media (MP4, MOV, M4A, HEIF): `ftyp`, `mvhd`, QuickTime metadata, `©xyz`.
//! - `audio`: MP3 (ID3v2 dates, MPEG frame check), AMR and ADTS voice-note checks.
//! - `strip`: public copies of JPEG/PNG/WebP without EXIF/XMP/GPS (R-SEC-2).
//! - `bounded`: capped reads and the parse error shared by the parsers.
//! - `phash`: perceptual hash (dHash) of photos for near-duplicate media (Đ7.3), bounded decode.

mod audio;
mod bmff;
mod bounded;
pub mod capture;
mod phash;
mod photo;
mod sniff;
mod strip;
mod tiff;

pub use capture::OffsetBasis;
pub use phash::{decode_cost, dhash, hamming, is_distinctive, phash, MAX_PIXELS, SCALED_MIN_SIDE};
pub use photo::{read_exif, ExifFacts};
pub use sniff::{sniff, Sniffed};
pub use strip::{strip_metadata, strip_metadata_to};

use std::io::{Read, Seek, SeekFrom};

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use serde::Serialize;

use crate::messages::media as messages;
use crate::report::{CaptureSource, Coordinates, MediaKind};

/// Everything read from one media file.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MediaInfo {
    pub kind: Option<MediaKind>,
    /// Sniffed media type (`application/octet-stream` when unknown).
    pub media_type: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
    pub captured_at: Option<DateTime<Utc>>,
    pub captured_at_source: CaptureSource,
    pub captured_offset_minutes: Option<i32>,
    pub gps: Option<Coordinates>,
    /// Why the file is not usable evidence, when it is not (Vietnamese, for the citizen: the
    /// causes are in [`crate::messages::media`]).
    pub unreadable: Option<String>,
    /// Where the offset of `captured_at` came from (None when there is no capture time).
    pub captured_offset_basis: Option<OffsetBasis>,
    /// Why a capture time that is in the file was not used (a default camera clock), for
    /// operators; English.
    pub time_note: Option<String>,
}

/// Bytes read from the start of a file to sniff its type.
pub const SNIFF_LEN: usize = 8192;

/// Inspect one media file. `claimed` is the media type the sender declared, if any.
pub fn inspect<R: Read + Seek>(reader: &mut R, claimed: Option<&str>) -> MediaInfo {
    let mut head = Vec::with_capacity(SNIFF_LEN);
    if let Err(e) = reader
        .by_ref()
        .take(SNIFF_LEN as u64)
        .read_to_end(&mut head)
    {
        return unreadable(
            "application/octet-stream",
            None,
            messages::file_read_error(e),
        );
    }
    if head.is_empty() {
        return unreadable(
            "application/octet-stream",
            None,
            messages::FILE_EMPTY.into(),
        );
    }
    let sniffed = sniff(&head);
    let mut info = MediaInfo {
        kind: sniffed.kind,
        media_type: sniffed.media_type.to_string(),
        ..MediaInfo::default()
    };
    let Some(kind) = sniffed.kind else {
        info.unreadable = Some(messages::FORMAT_UNKNOWN.into());
        return info;
    };
    if let Some(claimed_kind) = claimed.and_then(kind_of_claimed_type) {
        if claimed_kind != kind {
            info.unreadable = Some(messages::kind_mismatch(claimed_kind, kind));
            return info;
        }
    }
    if reader.seek(SeekFrom::Start(0)).is_err() {
        info.unreadable = Some(messages::FILE_NOT_READ.into());
        return info;
    }
    match kind {
        MediaKind::Photo => inspect_photo(reader, &head, &mut info),
        MediaKind::Video | MediaKind::Audio => inspect_recording(reader, &head, &mut info),
        MediaKind::Document => {}
    }
    info
}

/// Whether the first bytes are an ISO base media `ftyp` box.
fn is_isobmff(head: &[u8]) -> bool {
    head.get(4..8) == Some(b"ftyp")
}

fn inspect_photo<R: Read + Seek>(reader: &mut R, head: &[u8], info: &mut MediaInfo) {
    let media_type = info.media_type.clone();
    if tiff::is_tiff_family(&media_type) {
        inspect_tiff(reader, info);
        return;
    }
    if matches!(media_type.as_str(), "image/heif" | "image/avif") || is_isobmff(head) {
        if bmff::file_type(reader).is_err() {
            info.unreadable = Some(messages::broken_file(MediaKind::Photo));
            return;
        }
    } else if !set_dimensions(info, image_dimensions(reader, &media_type)) {
        return;
    }
    // Broken EXIF leaves the photo usable evidence: its capture time is just unknown.
    if let Ok(Some(facts)) = photo::read_exif(reader, &media_type) {
        apply_exif(info, &facts);
    }
}

/// Record the decoded dimensions; false (the file marked unreadable) when decoding failed.
fn set_dimensions(info: &mut MediaInfo, decoded: Result<Option<(u32, u32)>, String>) -> bool {
    match decoded {
        Ok(dims) => {
            if let Some((w, h)) = dims {
                info.width = Some(w);
                info.height = Some(h);
            }
            true
        }
        Err(why) => {
            info.unreadable = Some(why);
            false
        }
    }
}

/// TIFF and the camera raws built on it: the IFD structure says which raw it is and its sensor
/// size (the image crate decodes plain TIFF only); the EXIF IFD gives the capture time.
fn inspect_tiff<R: Read + Seek>(reader: &mut R, info: &mut MediaInfo) {
    let broken = || Some(messages::broken_file(MediaKind::Photo));
    let Ok(bytes) = photo::read_tiff(reader) else {
        info.unreadable = broken();
        return;
    };
    let Ok(layout) = tiff::layout(&bytes) else {
        info.unreadable = broken();
        return;
    };
    info.media_type = layout.media_type.to_string();
    if layout.raw {
        info.width = layout.width;
        info.height = layout.height;
    } else {
        let decoded = reader
            .seek(SeekFrom::Start(0))
            .map_err(|_| messages::FILE_NOT_READ.to_string())
            .and_then(|_| image_dimensions(reader, "image/tiff"));
        if !set_dimensions(info, decoded) {
            return;
        }
    }
    if let Some(exif) = photo::tiff_exif(bytes) {
        apply_exif(info, &photo::facts_of(&exif));
    }
}

/// The capture time and GPS position of a photo's EXIF facts.
fn apply_exif(info: &mut MediaInfo, facts: &ExifFacts) {
    info.gps = facts.gps.filter(Coordinates::is_plausible);
    let stamp = facts
        .date_time_original
        .map(|t| (t, facts.offset_time_original))
        .or(facts
            .date_time_digitized
            .map(|t| (t, facts.offset_time_digitized)));
    if let Some((local, offset)) = stamp {
        match capture::resolve_local(local, offset, facts.gps_time) {
            Some(resolved) => set_capture(info, resolved, CaptureSource::Exif),
            None => info.time_note = Some(default_clock_note(&local.to_string())),
        }
    }
}

fn inspect_recording<R: Read + Seek>(reader: &mut R, head: &[u8], info: &mut MediaInfo) {
    let kind = info.kind.unwrap_or(MediaKind::Video);
    let media_type = info.media_type.clone();
    let isobmff_type = matches!(
        media_type.as_str(),
        "video/mp4" | "video/quicktime" | "video/x-m4v" | "audio/m4a" | "audio/mp4" | "video/3gpp"
    );
    if isobmff_type || is_isobmff(head) {
        let facts = bmff::file_type(reader).and_then(|_| bmff::movie_facts(reader));
        let Ok(facts) = facts else {
            info.unreadable = Some(messages::broken_file(kind));
            return;
        };
        info.duration_ms = facts.duration_ms;
        info.gps = facts.gps;
        let from_quicktime = facts
            .creation_date
            .map(|(local, zone)| (local, capture::resolve_local(local, zone, None)));
        match (from_quicktime, facts.mvhd_created) {
            (Some((_, Some(resolved))), _) => {
                set_capture(info, resolved, CaptureSource::Container);
            }
            (_, Some(utc)) => match capture::resolve_utc(utc) {
                Some(resolved) => set_capture(info, resolved, CaptureSource::Container),
                None => info.time_note = Some(default_clock_note(&utc.to_rfc3339())),
            },
            (Some((local, None)), None) => {
                info.time_note = Some(default_clock_note(&local.to_string()));
            }
            (None, None) => {}
        }
        return;
    }
    let checked = match media_type.as_str() {
        "audio/mpeg" => audio::read_mp3(reader).map(|facts| {
            info.duration_ms = facts.duration_ms;
            if let Some((local, zone)) = facts.recorded {
                match capture::resolve_local(local, zone, None) {
                    Some(resolved) => set_capture(info, resolved, CaptureSource::Container),
                    None => info.time_note = Some(default_clock_note(&local.to_string())),
                }
            }
        }),
        "audio/amr" => audio::check_amr(reader),
        "audio/aac" => audio::check_adts(reader),
        _ => Ok(()),
    };
    if checked.is_err() {
        info.unreadable = Some(messages::broken_file(kind));
    }
}

fn set_capture(info: &mut MediaInfo, resolved: capture::Resolved, source: CaptureSource) {
    info.captured_at = Some(resolved.at);
    info.captured_at_source = source;
    info.captured_offset_basis = Some(resolved.basis);
    info.captured_offset_minutes = match resolved.basis {
        OffsetBasis::Written | OffsetBasis::GpsClock => resolved.offset_minutes,
        OffsetBasis::Utc | OffsetBasis::AssumedLocal => None,
    };
}

fn default_clock_note(written: &str) -> String {
    format!("capture time {written} is a camera's unset default clock; ignored")
}

/// What `gateway inspect FILE` prints: kind, media type, size, capture time with its source and
/// offset (UTC and as the device's local time), GPS, and why the file is unusable if it is.
pub fn inspect_json(info: &MediaInfo) -> serde_json::Value {
    let local = info.captured_at.map(|at| {
        let minutes = info
            .captured_offset_minutes
            .unwrap_or(capture::LOCAL_OFFSET_MINUTES);
        local_time(at, minutes)
    });
    serde_json::json!({
        "kind": info.kind.map(MediaKind::as_str),
        "media_type": info.media_type,
        "width": info.width,
        "height": info.height,
        "duration_ms": info.duration_ms,
        "captured_at": info.captured_at.map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        "captured_at_local": local,
        "captured_at_source": info.captured_at_source,
        "captured_offset_minutes": info.captured_offset_minutes,
        "offset_basis": info.captured_offset_basis,
        "gps": info.gps.map(|g| serde_json::json!({ "lat": g.lat, "lon": g.lon })),
        "time_note": info.time_note,
        "unreadable": info.unreadable,
    })
}

/// `at` shown at a UTC offset (RFC 3339), e.g. `2026-11-28T08:00:00+07:00`.
pub fn local_time(at: DateTime<Utc>, offset_minutes: i32) -> String {
    let zone = FixedOffset::east_opt(offset_minutes * 60)
        .or(FixedOffset::east_opt(capture::LOCAL_OFFSET_MINUTES * 60));
    match zone {
        Some(zone) => at
            .with_timezone(&zone)
            .to_rfc3339_opts(SecondsFormat::AutoSi, false),
        None => at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
    }
}

fn unreadable(media_type: &str, kind: Option<MediaKind>, why: String) -> MediaInfo {
    MediaInfo {
        kind,
        media_type: media_type.to_string(),
        unreadable: Some(why),
        ..MediaInfo::default()
    }
}

/// Decode the image header (not the pixels) to prove the file is an image of that type.
/// `Ok(None)` for formats the image crate does not decode (HEIC/HEIF/AVIF).
fn image_dimensions<R: Read + Seek>(
    reader: &mut R,
    media_type: &str,
) -> Result<Option<(u32, u32)>, String> {
    let format = match media_type {
        "image/jpeg" => image::ImageFormat::Jpeg,
        "image/png" => image::ImageFormat::Png,
        "image/webp" => image::ImageFormat::WebP,
        "image/gif" => image::ImageFormat::Gif,
        "image/tiff" => image::ImageFormat::Tiff,
        _ => return Ok(None),
    };
    let buffered = std::io::BufReader::new(reader);
    let decoder = image::ImageReader::with_format(buffered, format);
    match decoder.into_dimensions() {
        Ok((w, h)) if w > 0 && h > 0 => Ok(Some((w, h))),
        Ok(_) => Err(messages::PHOTO_WITHOUT_SIZE.into()),
        Err(_) => Err(messages::broken_file(MediaKind::Photo)),
    }
}

/// The kind a declared media type or file extension claims.
pub fn kind_of_claimed_type(claimed: &str) -> Option<MediaKind> {
    let claimed = claimed.trim().to_ascii_lowercase();
    let top = claimed.split('/').next().unwrap_or("");
    match top {
        "image" => Some(MediaKind::Photo),
        "video" => Some(MediaKind::Video),
        "audio" => Some(MediaKind::Audio),
        _ => None,
    }
}

#[cfg(test)]
mod fixture_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn tiny_png() -> Vec<u8> {
        let img = image::RgbImage::from_pixel(3, 2, image::Rgb([200, 10, 10]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn a_png_is_a_readable_photo_with_its_size() {
        let info = inspect(&mut Cursor::new(tiny_png()), Some("image/png"));
        assert_eq!(info.kind, Some(MediaKind::Photo));
        assert_eq!(info.media_type, "image/png");
        assert_eq!((info.width, info.height), (Some(3), Some(2)));
        assert_eq!(info.unreadable, None);
    }

    #[test]
    fn a_truncated_png_is_unreadable() {
        let mut bytes = tiny_png();
        bytes.truncate(20);
        let info = inspect(&mut Cursor::new(bytes), None);
        assert!(info.unreadable.is_some());
    }

    #[test]
    fn text_claiming_to_be_a_photo_is_unreadable() {
        let info = inspect(
            &mut Cursor::new(b"hello, not a photo".to_vec()),
            Some("image/jpeg"),
        );
        assert_eq!(info.kind, None);
        assert!(info.unreadable.is_some());
    }

    #[test]
    fn a_photo_claimed_as_video_is_unreadable() {
        let info = inspect(&mut Cursor::new(tiny_png()), Some("video/mp4"));
        assert_eq!(info.kind, Some(MediaKind::Photo));
        assert!(info.unreadable.unwrap().contains("video"));
    }
}
