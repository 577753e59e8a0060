//! EXIF of a photo: capture time (DateTimeOriginal + SubSecTimeOriginal + OffsetTimeOriginal),
//! GPS position and GPS clock.
//!
//! The EXIF block is located here, by walking the container with seeks and bounded reads (JPEG
//! segments up to the first scan, PNG and WebP chunks, JPEG XL boxes), then parsed by
//! kamadak-exif with `continue_on_error`, keeping whatever it could read from a damaged block.
//! HEIF/HEIC/AVIF item locations are resolved by kamadak-exif itself; TIFF and the camera raws
//! built on it (DNG, NEF, ARW, PEF, CR2, ORF, RW2: see [`super::tiff`]) are read up to
//! [`TIFF_CAP`] bytes.

use std::io::{BufReader, Read, Seek, SeekFrom};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use exif::{Field, In, Tag, Value};

use super::bmff;
use super::bounded::{be_u32, le_u32, read_vec, ParseError};
use super::capture::{parse_offset, parse_wall_clock, subsec_nanos};
use super::tiff;
use crate::report::Coordinates;

/// An EXIF block cannot be larger than this (JPEG APP1 is at most 64 KiB; PNG/WebP/JXL writers
/// store a few KiB).
pub const EXIF_CAP: u64 = 1 << 20;
/// TIFF/DNG keep their IFDs anywhere in the file: read at most this much of one.
pub const TIFF_CAP: u64 = 64 << 20;
/// The most kamadak-exif may allocate for one photo's EXIF ([`tiff::exif_parse_cost`]): real
/// blocks, maker notes, XMP and ICC profiles included, stay far below; a crafted block of
/// entries that all cover it is refused (no EXIF read) instead of taking gigabytes.
pub const EXIF_PARSE_BUDGET: u64 = 16 << 20;
/// Stop walking a container after this many segments/chunks/boxes.
const MAX_UNITS: usize = 4096;

/// What EXIF says about when and where a photo was taken, as written (no zone applied).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExifFacts {
    /// DateTimeOriginal with SubSecTimeOriginal, as the camera's clock showed it.
    pub date_time_original: Option<NaiveDateTime>,
    /// OffsetTimeOriginal, minutes east of UTC.
    pub offset_time_original: Option<i32>,
    /// DateTimeDigitized (exiftool's CreateDate) with its subseconds.
    pub date_time_digitized: Option<NaiveDateTime>,
    /// OffsetTimeDigitized.
    pub offset_time_digitized: Option<i32>,
    /// GPSLatitude/GPSLongitude with their N/S, E/W references applied.
    pub gps: Option<Coordinates>,
    /// GPSDateStamp + GPSTimeStamp (UTC).
    pub gps_time: Option<DateTime<Utc>>,
    /// IFD0 Orientation (1–8), kept so a stripped public copy still displays upright.
    pub orientation: Option<u16>,
}

/// Read the EXIF facts of a photo whose sniffed media type is `media_type`.
/// `Ok(None)`: the photo has no EXIF block (or its format never carries one).
pub fn read_exif<R: Read + Seek>(
    reader: &mut R,
    media_type: &str,
) -> Result<Option<ExifFacts>, ParseError> {
    reader.seek(SeekFrom::Start(0))?;
    let parsed = match media_type {
        "image/jpeg" => jpeg_exif(reader)?.map(parse_raw),
        "image/png" => png_exif(reader)?.map(parse_raw),
        "image/webp" => webp_exif(reader)?.map(parse_raw),
        "image/jxl" => bmff::jxl_exif(reader, EXIF_CAP)?.map(parse_raw),
        t if tiff::is_tiff_family(t) => Some(tiff_exif(read_tiff(reader)?)),
        "image/heif" | "image/heic" | "image/avif" => {
            let mut buffered = BufReader::new(&mut *reader);
            let result = exif::Reader::new()
                .continue_on_error(true)
                .read_from_container(&mut buffered);
            // Read lazily: nothing of the values is parsed before `facts`.
            Some(
                distill(result)
                    .filter(|exif| tiff::exif_parse_cost(exif.buf()) <= EXIF_PARSE_BUDGET),
            )
        }
        _ => None,
    };
    Ok(parsed.flatten().map(|exif| facts(&exif)))
}

/// The bytes of a TIFF-based file, from the start, at most [`TIFF_CAP`] of them.
pub fn read_tiff<R: Read + Seek>(reader: &mut R) -> Result<Vec<u8>, ParseError> {
    reader.seek(SeekFrom::Start(0))?;
    read_vec_upto(reader, TIFF_CAP)
}

/// The EXIF of a TIFF-based file's bytes (a raw variant's magic is made standard first).
pub fn tiff_exif(mut bytes: Vec<u8>) -> Option<exif::Exif> {
    tiff::standardise_magic(&mut bytes);
    parse_raw(bytes)
}

/// The facts of a parsed EXIF block.
pub fn facts_of(exif: &exif::Exif) -> ExifFacts {
    facts(exif)
}

/// Read up to `cap` bytes from the current position.
fn read_vec_upto<R: Read>(reader: &mut R, cap: u64) -> Result<Vec<u8>, ParseError> {
    let mut buf = Vec::new();
    reader.by_ref().take(cap).read_to_end(&mut buf)?;
    Ok(buf)
}

fn parse_raw(tiff: Vec<u8>) -> Option<exif::Exif> {
    if tiff::exif_parse_cost(&tiff) > EXIF_PARSE_BUDGET {
        return None;
    }
    distill(exif::Reader::new().continue_on_error(true).read_raw(tiff))
}

/// Keep what a damaged block yielded; `None` when nothing could be read.
fn distill(result: Result<exif::Exif, exif::Error>) -> Option<exif::Exif> {
    result
        .or_else(|e| e.distill_partial_result(|_ignored| {}))
        .ok()
}

/// The TIFF structure inside the APP1 `Exif\0\0` segment, looked for up to the first scan.
fn jpeg_exif<R: Read + Seek>(reader: &mut R) -> Result<Option<Vec<u8>>, ParseError> {
    let mut soi = [0u8; 2];
    reader.read_exact(&mut soi)?;
    if soi != [0xFF, 0xD8] {
        return Err(ParseError::Malformed("JPEG start"));
    }
    for _ in 0..MAX_UNITS {
        let Some(marker) = next_jpeg_marker(reader)? else {
            return Ok(None);
        };
        match marker {
            0xD8..=0xDA => return Ok(None),
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let mut len = [0u8; 2];
        reader.read_exact(&mut len)?;
        let body_len = u64::from(u16::from_be_bytes(len))
            .checked_sub(2)
            .ok_or(ParseError::Malformed("JPEG segment length"))?;
        if marker == 0xE1 && body_len >= 6 {
            let mut id = [0u8; 6];
            reader.read_exact(&mut id)?;
            if &id == b"Exif\0\0" {
                return read_vec(reader, body_len - 6, EXIF_CAP, "JPEG APP1").map(Some);
            }
            reader.seek(SeekFrom::Current(body_len as i64 - 6))?;
        } else {
            reader.seek(SeekFrom::Current(body_len as i64))?;
        }
    }
    Ok(None)
}

/// The next marker code, skipping fill bytes and (like libjpeg) a bounded run of stray bytes.
fn next_jpeg_marker<R: Read>(reader: &mut R) -> Result<Option<u8>, ParseError> {
    let mut byte = [0u8; 1];
    let mut skipped = 0usize;
    loop {
        if reader.read(&mut byte)? == 0 {
            return Ok(None);
        }
        if byte[0] == 0xFF {
            break;
        }
        skipped += 1;
        if skipped > 65_536 {
            return Ok(None);
        }
    }
    loop {
        if reader.read(&mut byte)? == 0 {
            return Ok(None);
        }
        if byte[0] != 0xFF {
            return Ok(Some(byte[0]));
        }
    }
}

/// The `eXIf` chunk of a PNG.
fn png_exif<R: Read + Seek>(reader: &mut R) -> Result<Option<Vec<u8>>, ParseError> {
    let mut sig = [0u8; 8];
    reader.read_exact(&mut sig)?;
    if &sig != b"\x89PNG\r\n\x1a\n" {
        return Err(ParseError::Malformed("PNG signature"));
    }
    for _ in 0..MAX_UNITS {
        let mut head = [0u8; 8];
        if reader.read(&mut head[..1])? == 0 {
            return Ok(None);
        }
        reader.read_exact(&mut head[1..])?;
        let len = u64::from(be_u32(&head, 0).unwrap_or(0));
        match &head[4..8] {
            b"eXIf" => return read_vec(reader, len, EXIF_CAP, "PNG eXIf").map(Some),
            b"IEND" => return Ok(None),
            _ => {
                reader.seek(SeekFrom::Current(len as i64 + 4))?;
            }
        }
    }
    Ok(None)
}

/// The `EXIF` chunk of a WebP (some writers keep the JPEG `Exif\0\0` prefix in it).
fn webp_exif<R: Read + Seek>(reader: &mut R) -> Result<Option<Vec<u8>>, ParseError> {
    let mut head = [0u8; 12];
    reader.read_exact(&mut head)?;
    if &head[0..4] != b"RIFF" || &head[8..12] != b"WEBP" {
        return Err(ParseError::Malformed("WebP header"));
    }
    for _ in 0..MAX_UNITS {
        let mut chunk = [0u8; 8];
        if reader.read(&mut chunk[..1])? == 0 {
            return Ok(None);
        }
        reader.read_exact(&mut chunk[1..])?;
        let len = u64::from(le_u32(&chunk, 4).unwrap_or(0));
        if &chunk[0..4] == b"EXIF" {
            let mut data = read_vec(reader, len, EXIF_CAP, "WebP EXIF")?;
            if data.starts_with(b"Exif\0\0") {
                data.drain(..6);
            }
            return Ok(Some(data));
        }
        reader.seek(SeekFrom::Current((len + (len & 1)) as i64))?;
    }
    Ok(None)
}

fn facts(exif: &exif::Exif) -> ExifFacts {
    // By tag and IFD: only the fields asked for are parsed (`fields()` would parse them all).
    let field = |tag: Tag| (0..8).find_map(|n| exif.get_field(tag, In(n)));
    let ascii = |tag: Tag| field(tag).and_then(first_ascii);
    let stamp = |time: Tag, subsec: Tag| {
        let text = ascii(time)?;
        let (at, _) = parse_wall_clock(&text)?;
        let nanos = ascii(subsec).map(|s| subsec_nanos(&s)).unwrap_or(0);
        Some(at + chrono::Duration::nanoseconds(i64::from(nanos)))
    };
    ExifFacts {
        date_time_original: stamp(Tag::DateTimeOriginal, Tag::SubSecTimeOriginal),
        offset_time_original: ascii(Tag::OffsetTimeOriginal).and_then(|s| parse_offset(&s)),
        date_time_digitized: stamp(Tag::DateTimeDigitized, Tag::SubSecTimeDigitized),
        offset_time_digitized: ascii(Tag::OffsetTimeDigitized).and_then(|s| parse_offset(&s)),
        gps: gps_position(&field),
        gps_time: gps_time(&field),
        orientation: field(Tag::Orientation)
            .and_then(|f| f.value.get_uint(0))
            .and_then(|v| u16::try_from(v).ok())
            .filter(|v| (1..=8).contains(v)),
    }
}

fn first_ascii(field: &Field) -> Option<String> {
    match &field.value {
        Value::Ascii(parts) => {
            let bytes = parts.first()?;
            let text = String::from_utf8_lossy(bytes);
            let text = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
            (!text.is_empty()).then(|| text.to_string())
        }
        _ => None,
    }
}

/// Degrees, minutes, seconds as rationals → decimal degrees. Some phones (HMD/Nokia) write
/// signed rationals; both are read.
fn dms(field: &Field) -> Option<f64> {
    let parts: Vec<(f64, bool)> = match &field.value {
        Value::Rational(v) => v.iter().map(|r| (r.to_f64(), r.denom != 0)).collect(),
        Value::SRational(v) => v.iter().map(|r| (r.to_f64(), r.denom != 0)).collect(),
        _ => return None,
    };
    let mut total = 0.0;
    for (i, (value, valid)) in parts.iter().take(3).enumerate() {
        if !valid {
            return None;
        }
        total += value / [1.0, 60.0, 3600.0][i];
    }
    (!parts.is_empty() && total.is_finite()).then_some(total)
}

fn gps_position<'a>(field: &impl Fn(Tag) -> Option<&'a Field>) -> Option<Coordinates> {
    let lat = dms(field(Tag::GPSLatitude)?)?;
    let lon = dms(field(Tag::GPSLongitude)?)?;
    let negative = |tag: Tag, neg: u8| {
        field(tag)
            .and_then(first_ascii)
            .is_some_and(|r| r.as_bytes().first() == Some(&neg))
    };
    // A reference of S/W makes the value negative; a writer that stored a negative value
    // without a reference is taken at its word.
    let lat = if negative(Tag::GPSLatitudeRef, b'S') {
        -lat.abs()
    } else {
        lat
    };
    let lon = if negative(Tag::GPSLongitudeRef, b'W') {
        -lon.abs()
    } else {
        lon
    };
    let c = Coordinates { lat, lon };
    ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)).then_some(c)
}

fn gps_time<'a>(field: &impl Fn(Tag) -> Option<&'a Field>) -> Option<DateTime<Utc>> {
    let date = first_ascii(field(Tag::GPSDateStamp)?)?;
    let b = date.as_bytes();
    let num = |r: std::ops::Range<usize>| std::str::from_utf8(b.get(r)?).ok()?.parse::<u32>().ok();
    let day = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let Value::Rational(hms) = &field(Tag::GPSTimeStamp)?.value else {
        return None;
    };
    if hms.len() < 3 || hms.iter().any(|r| r.denom == 0) {
        return None;
    }
    let seconds = hms[0].to_f64() * 3600.0 + hms[1].to_f64() * 60.0 + hms[2].to_f64();
    if !(0.0..86_400.0).contains(&seconds) {
        return None;
    }
    let millis = (seconds * 1000.0).round() as i64;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc() + chrono::Duration::milliseconds(millis))
}

/// Little helper for the strip module: the Orientation of a JPEG read from `reader`, if its EXIF
/// says (only its segments before the first scan are read).
pub fn jpeg_orientation_of<R: Read + Seek>(reader: &mut R) -> Option<u16> {
    let tiff = jpeg_exif(reader).ok()??;
    parse_raw(tiff)
        .map(|e| facts(&e))
        .and_then(|f| f.orientation)
}
