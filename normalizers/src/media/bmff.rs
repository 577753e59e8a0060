//! ISO base media files (MP4, MOV, M4A, 3GP, HEIF/HEIC/AVIF) and JPEG XL boxes.
//!
//! Boxes are walked with seeks: only `ftyp`, `mvhd` and the small metadata boxes (`meta`,
//! `udta`, at most [`META_CAP`] bytes each) are read; `mdat` and the sample tables of a 200 MB
//! video are skipped, never loaded.
//!
//! Capture time: the QuickTime `com.apple.quicktime.creationdate` (`moov/meta` keys + ilst) with
//! its zone, else `mvhd` creation time (UTC, seconds since 1904-01-01). Position: the ISO 6709
//! string of `com.apple.quicktime.location.ISO6709` or of `moov/udta/©xyz`, or the 3GPP
//! `moov/udta/loci` box.

use std::io::{Read, Seek, SeekFrom};

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};

use super::bounded::{be_u16, be_u32, be_u64, read_vec, stream_len, ParseError};
use super::capture::{parse_offset, parse_wall_clock, split_fraction};
use crate::report::Coordinates;

/// A metadata box (`meta`, `udta`, `mvhd`) larger than this is not read.
pub const META_CAP: u64 = 1 << 20;
/// The `ftyp` box is a few dozen bytes; more than this is not a file type box.
const FTYP_CAP: u64 = 4096;
/// Stop walking after this many sibling boxes.
const MAX_BOXES: usize = 4096;
/// Seconds between 1904-01-01 (the QuickTime epoch) and 1970-01-01.
const EPOCH_1904_TO_1970: i64 = 2_082_844_800;

/// One box: its type and where its body lies in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BoxHeader {
    kind: [u8; 4],
    body_start: u64,
    end: u64,
}

/// The `ftyp` box: what the file says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileType {
    pub major_brand: [u8; 4],
    pub compatible: Vec<[u8; 4]>,
}

/// What a movie or audio container says about its recording.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MovieFacts {
    /// `mvhd` creation time (UTC); `None` when zero.
    pub mvhd_created: Option<DateTime<Utc>>,
    /// `mvhd` duration in milliseconds.
    pub duration_ms: Option<u64>,
    /// QuickTime creation date as a wall clock, with the zone written beside it (minutes).
    pub creation_date: Option<(NaiveDateTime, Option<i32>)>,
    /// ISO 6709 position (QuickTime location key or `©xyz`).
    pub gps: Option<Coordinates>,
}

/// Read a box header at the current position, bounded by `parent_end`. `Ok(None)` at the end.
fn read_header<R: Read + Seek>(
    reader: &mut R,
    parent_end: u64,
) -> Result<Option<BoxHeader>, ParseError> {
    let start = reader.stream_position()?;
    if start + 8 > parent_end {
        return Ok(None);
    }
    let mut head = [0u8; 8];
    reader.read_exact(&mut head)?;
    let size32 = be_u32(&head, 0).unwrap_or(0);
    let kind: [u8; 4] = [head[4], head[5], head[6], head[7]];
    let (size, header_len) = match size32 {
        0 => (parent_end - start, 8),
        1 => {
            let mut large = [0u8; 8];
            reader.read_exact(&mut large)?;
            (u64::from_be_bytes(large), 16)
        }
        n => (u64::from(n), 8),
    };
    if size < header_len || start.checked_add(size).is_none_or(|end| end > parent_end) {
        return Err(ParseError::Malformed("box size"));
    }
    Ok(Some(BoxHeader {
        kind,
        body_start: start + header_len,
        end: start + size,
    }))
}

/// Children of the box spanning `[start, end)`, visited with seeks.
fn for_each_child<R: Read + Seek>(
    reader: &mut R,
    start: u64,
    end: u64,
    mut visit: impl FnMut(&mut R, BoxHeader) -> Result<(), ParseError>,
) -> Result<(), ParseError> {
    let mut at = start;
    for _ in 0..MAX_BOXES {
        reader.seek(SeekFrom::Start(at))?;
        let Some(header) = read_header(reader, end)? else {
            return Ok(());
        };
        visit(reader, header)?;
        at = header.end;
    }
    Ok(())
}

/// Check that the file opens with a well-formed `ftyp` box and return it.
pub fn file_type<R: Read + Seek>(reader: &mut R) -> Result<FileType, ParseError> {
    let len = stream_len(reader)?;
    let header = read_header(reader, len)?.ok_or(ParseError::Malformed("ftyp"))?;
    if &header.kind != b"ftyp" {
        return Err(ParseError::Malformed("ftyp missing"));
    }
    let body = read_vec(reader, header.end - header.body_start, FTYP_CAP, "ftyp")?;
    if body.len() < 8 || (body.len() - 8) % 4 != 0 {
        return Err(ParseError::Malformed("ftyp size"));
    }
    let brand = |at: usize| -> [u8; 4] { [body[at], body[at + 1], body[at + 2], body[at + 3]] };
    let major_brand = brand(0);
    let printable = |b: &[u8; 4]| b.iter().all(|c| (0x20..0x7F).contains(c));
    if !printable(&major_brand) {
        return Err(ParseError::Malformed("ftyp brand"));
    }
    let compatible = (8..body.len()).step_by(4).map(brand).collect();
    Ok(FileType {
        major_brand,
        compatible,
    })
}

/// Walk a movie/audio container (after [`file_type`] succeeded) for its recording facts.
pub fn movie_facts<R: Read + Seek>(reader: &mut R) -> Result<MovieFacts, ParseError> {
    let len = stream_len(reader)?;
    let mut facts = MovieFacts::default();
    let mut found_moov = false;
    for_each_child(reader, 0, len, |reader, top| {
        if &top.kind != b"moov" || found_moov {
            return Ok(());
        }
        found_moov = true;
        for_each_child(reader, top.body_start, top.end, |reader, child| {
            let size = child.end - child.body_start;
            match &child.kind {
                b"mvhd" => {
                    let body = read_vec(reader, size, META_CAP, "mvhd")?;
                    read_mvhd(&body, &mut facts);
                }
                b"meta" | b"udta" if size <= META_CAP => {
                    let body = read_vec(reader, size, META_CAP, "metadata box")?;
                    if &child.kind == b"meta" {
                        read_quicktime_meta(&body, &mut facts);
                    } else {
                        read_udta(&body, &mut facts);
                    }
                }
                _ => {}
            }
            Ok(())
        })
    })?;
    if !found_moov {
        return Err(ParseError::Malformed("moov missing"));
    }
    Ok(facts)
}

fn read_mvhd(body: &[u8], facts: &mut MovieFacts) {
    let version = body.first().copied().unwrap_or(0);
    let (created, timescale, duration) = if version == 1 {
        (be_u64(body, 4), be_u32(body, 20), be_u64(body, 24))
    } else {
        (
            be_u32(body, 4).map(u64::from),
            be_u32(body, 12),
            be_u32(body, 16).map(u64::from),
        )
    };
    facts.mvhd_created = created
        .filter(|s| *s != 0)
        .and_then(|s| i64::try_from(s).ok())
        .and_then(|s| Utc.timestamp_opt(s - EPOCH_1904_TO_1970, 0).single());
    let all_ones = if version == 1 {
        u64::MAX
    } else {
        u64::from(u32::MAX)
    };
    facts.duration_ms = match (timescale, duration) {
        (Some(ts), Some(d)) if ts > 0 && d != all_ones => {
            Some((u128::from(d) * 1000 / u128::from(ts)) as u64)
        }
        _ => None,
    };
}

/// In-memory children of a box body.
fn children(body: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let size = be_u32(body, at)? as usize;
        let kind: [u8; 4] = body.get(at + 4..at + 8)?.try_into().ok()?;
        if size < 8 || at.checked_add(size)? > body.len() {
            return None;
        }
        let child = &body[at + 8..at + size];
        at += size;
        Some((kind, child))
    })
}

/// `meta` is a full box in ISO files (4 bytes version/flags) but not in QuickTime files.
fn meta_children(body: &[u8]) -> &[u8] {
    if body.get(4..8) == Some(b"hdlr") {
        body
    } else {
        body.get(4..).unwrap_or(&[])
    }
}

/// QuickTime metadata: `keys` names the items of `ilst` by 1-based index.
fn read_quicktime_meta(body: &[u8], facts: &mut MovieFacts) {
    let body = meta_children(body);
    let mut keys: Vec<&[u8]> = Vec::new();
    let mut items: Vec<(u32, &[u8])> = Vec::new();
    for (kind, child) in children(body) {
        match &kind {
            b"keys" => {
                let count = be_u32(child, 4).unwrap_or(0) as usize;
                let mut at = 8usize;
                for _ in 0..count.min(1024) {
                    let Some(size) = be_u32(child, at).map(|s| s as usize) else {
                        break;
                    };
                    let Some(name) = child.get(at + 8..at + size.max(8)) else {
                        break;
                    };
                    keys.push(name);
                    at += size.max(8);
                }
            }
            b"ilst" => {
                for (item, value) in children(child) {
                    items.push((u32::from_be_bytes(item), value));
                }
            }
            _ => {}
        }
    }
    for (index, value) in items {
        let Some(key) = index.checked_sub(1).and_then(|i| keys.get(i as usize)) else {
            continue;
        };
        let Some(text) = data_text(value) else {
            continue;
        };
        match *key {
            b"com.apple.quicktime.creationdate" => {
                facts.creation_date = parse_iso_datetime(&text);
            }
            b"com.apple.quicktime.location.ISO6709" => {
                facts.gps = facts.gps.or(parse_iso6709(&text));
            }
            _ => {}
        }
    }
}

/// The UTF-8 payload of an ilst item's `data` box.
fn data_text(item: &[u8]) -> Option<String> {
    let (_, data) = children(item).find(|(k, _)| k == b"data")?;
    let payload = data.get(8..)?;
    Some(String::from_utf8_lossy(payload).trim().to_string())
}

/// `udta`: QuickTime `©xyz` (16-bit length, 16-bit language, text).
fn read_udta(body: &[u8], facts: &mut MovieFacts) {
    for (kind, child) in children(body) {
        if &kind == b"\xA9xyz" && facts.gps.is_none() {
            let len = be_u16(child, 0).unwrap_or(0) as usize;
            if let Some(text) = child.get(4..4 + len) {
                facts.gps = parse_iso6709(&String::from_utf8_lossy(text));
            }
        }
        if &kind == b"loci" && facts.gps.is_none() {
            facts.gps = parse_loci(child);
        }
        if &kind == b"meta" {
            read_quicktime_meta(child, facts);
        }
    }
}

/// 3GPP `loci` (TS 26.244): version/flags, language, name (C string), role, then longitude,
/// latitude and altitude as signed 16.16 fixed point.
fn parse_loci(body: &[u8]) -> Option<Coordinates> {
    let name = body.get(6..)?;
    let name_end = 6 + name.iter().position(|b| *b == 0)? + 1;
    let fixed = |at: usize| -> Option<f64> { Some(f64::from(be_u32(body, at)? as i32) / 65536.0) };
    let lon = fixed(name_end + 1)?;
    let lat = fixed(name_end + 5)?;
    let c = Coordinates { lat, lon };
    c.is_plausible().then_some(c)
}

/// `2026-11-28T08:00:00+0700` (QuickTime creation date) → wall clock and zone in minutes.
pub fn parse_iso_datetime(text: &str) -> Option<(NaiveDateTime, Option<i32>)> {
    let (local, rest) = parse_wall_clock(text.trim())?;
    let (nanos, zone) = split_fraction(rest);
    let local = local + chrono::Duration::nanoseconds(i64::from(nanos));
    match parse_offset(zone) {
        Some(offset) => Some((local, Some(offset))),
        None if zone.trim().is_empty() => Some((local, None)),
        None => None,
    }
}

/// ISO 6709 `+10.5400+106.4100+002.000/` → coordinates.
pub fn parse_iso6709(text: &str) -> Option<Coordinates> {
    let text = text.trim().trim_end_matches('/');
    let b = text.as_bytes();
    let mut starts = b
        .iter()
        .enumerate()
        .filter(|(_, c)| **c == b'+' || **c == b'-')
        .map(|(i, _)| i);
    let lat_at = starts.next()?;
    let lon_at = starts.next()?;
    let lon_end = starts.next().unwrap_or(b.len());
    if lat_at != 0 {
        return None;
    }
    let lat: f64 = text[lat_at..lon_at].parse().ok()?;
    let lon: f64 = text[lon_at..lon_end].parse().ok()?;
    let c = Coordinates { lat, lon };
    c.is_plausible().then_some(c)
}

/// The EXIF (TIFF) block of a JPEG XL container: the `Exif` box, after its 4-byte offset.
pub fn jxl_exif<R: Read + Seek>(reader: &mut R, cap: u64) -> Result<Option<Vec<u8>>, ParseError> {
    let len = stream_len(reader)?;
    let mut found = None;
    for_each_child(reader, 0, len, |reader, header| {
        if &header.kind == b"Exif" && found.is_none() {
            let body = read_vec(reader, header.end - header.body_start, cap, "JXL Exif")?;
            let skip = be_u32(&body, 0).unwrap_or(0) as usize;
            found = body.get(4 + skip..).map(<[u8]>::to_vec);
        }
        Ok(())
    })?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn a_file_without_ftyp_is_refused() {
        let data = boxed(b"moov", &[]);
        assert!(file_type(&mut Cursor::new(data)).is_err());
        let mut data = boxed(b"ftyp", b"isom\0\0\0\0isommp41");
        data.truncate(14);
        assert!(file_type(&mut Cursor::new(data)).is_err(), "truncated ftyp");
    }

    #[test]
    fn a_forged_box_size_is_refused() {
        let mut data = boxed(b"ftyp", b"isom\0\0\0\0isom");
        data.extend_from_slice(&[0x7F, 0xFF, 0xFF, 0xFF]);
        data.extend_from_slice(b"moov");
        let mut r = Cursor::new(data);
        assert!(file_type(&mut r).is_ok());
        assert!(movie_facts(&mut r).is_err());
    }

    #[test]
    fn mvhd_time_and_duration() {
        let mut mvhd = vec![0u8; 100];
        let created = (EPOCH_1904_TO_1970 + 1_795_827_600) as u32; // 2026-11-28T01:00:00Z
        mvhd[4..8].copy_from_slice(&created.to_be_bytes());
        mvhd[12..16].copy_from_slice(&1000u32.to_be_bytes());
        mvhd[16..20].copy_from_slice(&2500u32.to_be_bytes());
        let mut data = boxed(b"ftyp", b"isom\0\0\0\0isom");
        data.extend(boxed(b"moov", &boxed(b"mvhd", &mvhd)));
        let mut r = Cursor::new(data);
        let facts = movie_facts(&mut r).unwrap();
        assert_eq!(
            facts.mvhd_created,
            Some(Utc.with_ymd_and_hms(2026, 11, 28, 1, 0, 0).unwrap())
        );
        assert_eq!(facts.duration_ms, Some(2500));
    }

    #[test]
    fn xyz_position_in_udta() {
        // QuickTime user data text: 16-bit length, 16-bit language, then the ISO 6709 string.
        let text = b"+10.5400+106.4100+002.000/";
        let mut xyz = (text.len() as u16).to_be_bytes().to_vec();
        xyz.extend_from_slice(&0x15C7u16.to_be_bytes());
        xyz.extend_from_slice(text);
        let mut data = boxed(b"ftyp", b"qt  \0\0\0\0qt  ");
        data.extend(boxed(b"moov", &boxed(b"udta", &boxed(b"\xA9xyz", &xyz))));
        let facts = movie_facts(&mut Cursor::new(data)).unwrap();
        let gps = facts.gps.unwrap();
        assert_eq!((gps.lat, gps.lon), (10.54, 106.41));
        assert_eq!(facts.mvhd_created, None);
    }

    #[test]
    fn iso6709_and_quicktime_dates() {
        let c = parse_iso6709("+10.5400+106.4100+002.000/").unwrap();
        assert_eq!((c.lat, c.lon), (10.54, 106.41));
        let c = parse_iso6709("-33.8688+151.2093/").unwrap();
        assert_eq!((c.lat, c.lon), (-33.8688, 151.2093));
        assert_eq!(parse_iso6709("garbage"), None);
        let (at, zone) = parse_iso_datetime("2026-11-28T08:00:00+0700").unwrap();
        assert_eq!(at.to_string(), "2026-11-28 08:00:00");
        assert_eq!(zone, Some(420));
        assert_eq!(parse_iso_datetime("2026-11-28T08:00:00 nonsense"), None);
    }
}
