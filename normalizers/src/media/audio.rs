//! Audio without an ISO container: MP3 (ID3v2 tag + MPEG audio frames), AMR and ADTS AAC voice
//! notes.
//!
//! Soundness (MEDIA_UNREADABLE): an MP3 must have two consecutive valid MPEG audio frame headers
//! (or one frame that ends the file) within [`SYNC_WINDOW`] bytes of the end of its tag; an AMR
//! file a valid first frame header; an ADTS stream two consecutive valid frame headers.
//!
//! Capture time: the ID3v2 recording time `TDRC` (else the encoding time `TDEN`; v2.3 `TYER` +
//! `TDAT` + `TIME`; v2.2 `TYE`/`TDA`/`TIM`). A year or a date alone is no capture time. ID3v2.4
//! declares its timestamps UTC, but recorders and taggers write the wall clock, so like EXIF
//! without an offset the time is read in Asia/Ho_Chi_Minh unless it carries a zone. AMR and
//! ADTS carry no metadata: their capture time is unknown.

use std::io::{Read, Seek, SeekFrom};

use chrono::{NaiveDate, NaiveDateTime};

use super::bounded::{be_u32, read_vec, stream_len, ParseError};
use super::capture::{parse_offset, parse_wall_clock, split_fraction};

/// How far past the ID3 tag the first MPEG frame is looked for.
pub const SYNC_WINDOW: u64 = 64 * 1024;
/// Text frames longer than this are not dates.
const TEXT_FRAME_CAP: u64 = 256;
/// Stop walking a tag after this many frames.
const MAX_FRAMES: usize = 1024;

/// What an MP3 says about its recording.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mp3Facts {
    /// Recording wall-clock time and its zone (minutes) when the tag wrote one.
    pub recorded: Option<(NaiveDateTime, Option<i32>)>,
    pub duration_ms: Option<u64>,
}

/// Read an MP3: validate its frames, read its ID3v2 dates and its duration.
pub fn read_mp3<R: Read + Seek>(reader: &mut R) -> Result<Mp3Facts, ParseError> {
    let len = stream_len(reader)?;
    let mut head = [0u8; 10];
    let got = reader.read(&mut head)?;
    let mut facts = Mp3Facts::default();
    let mut audio_start = 0u64;
    if got == 10 && &head[..3] == b"ID3" {
        let size = syncsafe(&head[6..10]).ok_or(ParseError::Malformed("ID3 size"))?;
        let footer = if head[3] == 4 && head[5] & 0x10 != 0 {
            10
        } else {
            0
        };
        audio_start = 10 + u64::from(size) + footer;
        if audio_start >= len {
            return Err(ParseError::Malformed("ID3 tag size"));
        }
        let dates = read_id3_dates(reader, head[3], head[5], 10 + u64::from(size))?;
        facts.recorded = dates.recorded();
    }
    reader.seek(SeekFrom::Start(audio_start))?;
    let window = read_vec(
        reader,
        SYNC_WINDOW.min(len.saturating_sub(audio_start)),
        SYNC_WINDOW,
        "MP3 audio",
    )?;
    let (at, first) = first_mpeg_frame(&window, len - audio_start)
        .ok_or(ParseError::Malformed("MPEG audio frames"))?;
    facts.duration_ms = Some(mp3_duration_ms(
        &window[at..],
        &first,
        len - audio_start - at as u64,
    ));
    Ok(facts)
}

fn syncsafe(b: &[u8]) -> Option<u32> {
    if b.len() != 4 || b.iter().any(|x| x & 0x80 != 0) {
        return None;
    }
    Some(b.iter().fold(0u32, |acc, x| (acc << 7) | u32::from(*x)))
}

#[derive(Debug, Default)]
struct Id3Dates {
    recording: Option<String>,
    encoding: Option<String>,
    year: Option<String>,
    day_month: Option<String>,
    hour_minute: Option<String>,
}

impl Id3Dates {
    fn recorded(&self) -> Option<(NaiveDateTime, Option<i32>)> {
        let timestamp = |text: &String| {
            let (local, rest) = parse_wall_clock(text)?;
            let (nanos, zone) = split_fraction(rest);
            let local = local + chrono::Duration::nanoseconds(i64::from(nanos));
            Some((local, parse_offset(zone)))
        };
        if let Some(t) = self.recording.as_ref().and_then(timestamp) {
            return Some(t);
        }
        if let Some(t) = self.encoding.as_ref().and_then(timestamp) {
            return Some(t);
        }
        // ID3v2.3: TYER "2026", TDAT "2811" (DDMM), TIME "0800" (HHMM).
        let digits = |s: &String, n: usize| {
            let s = s.trim();
            (s.len() == n && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.to_string())
        };
        let year: i32 = digits(self.year.as_ref()?, 4)?.parse().ok()?;
        let dm = digits(self.day_month.as_ref()?, 4)?;
        let hm = digits(self.hour_minute.as_ref()?, 4)?;
        let date = NaiveDate::from_ymd_opt(year, dm[2..].parse().ok()?, dm[..2].parse().ok()?)?;
        let time = date.and_hms_opt(hm[..2].parse().ok()?, hm[2..].parse().ok()?, 0)?;
        Some((time, None))
    }
}

/// Walk the frames of an ID3v2 tag ending at `tag_end`, reading only the date frames.
fn read_id3_dates<R: Read + Seek>(
    reader: &mut R,
    version: u8,
    flags: u8,
    tag_end: u64,
) -> Result<Id3Dates, ParseError> {
    let mut dates = Id3Dates::default();
    if !(2..=4).contains(&version) {
        return Ok(dates);
    }
    let tag_unsync = flags & 0x80 != 0;
    let mut at = 10u64;
    if version >= 3 && flags & 0x40 != 0 {
        let mut ext = [0u8; 4];
        reader.read_exact(&mut ext)?;
        let ext_len = if version == 4 {
            u64::from(syncsafe(&ext).ok_or(ParseError::Malformed("ID3 extended header"))?)
        } else {
            u64::from(u32::from_be_bytes(ext)) + 4
        };
        at += ext_len;
    }
    let header_len: u64 = if version == 2 { 6 } else { 10 };
    for _ in 0..MAX_FRAMES {
        if at + header_len > tag_end {
            break;
        }
        reader.seek(SeekFrom::Start(at))?;
        let mut h = [0u8; 10];
        reader.read_exact(&mut h[..header_len as usize])?;
        if h[0] == 0 {
            break; // padding
        }
        let (id, size, format_flags): (&[u8], u64, u8) = match version {
            2 => (
                &h[..3],
                u64::from(h[3]) << 16 | u64::from(h[4]) << 8 | u64::from(h[5]),
                0,
            ),
            3 => (&h[..4], u64::from(be_u32(&h, 4).unwrap_or(0)), h[9]),
            _ => (
                &h[..4],
                u64::from(syncsafe(&h[4..8]).unwrap_or(u32::MAX)),
                h[9],
            ),
        };
        let body_start = at + header_len;
        if body_start + size > tag_end {
            break;
        }
        let slot = match id {
            b"TDRC" | b"TRD" => Some(&mut dates.recording),
            b"TDEN" => Some(&mut dates.encoding),
            b"TYER" | b"TYE" => Some(&mut dates.year),
            b"TDAT" | b"TDA" => Some(&mut dates.day_month),
            b"TIME" | b"TIM" => Some(&mut dates.hour_minute),
            _ => None,
        };
        let (compressed_or_encrypted, unsync, length_indicator) = match version {
            3 => (format_flags & 0xC0 != 0, tag_unsync, 0),
            4 => (
                format_flags & 0x0C != 0,
                tag_unsync || format_flags & 0x02 != 0,
                if format_flags & 0x01 != 0 { 4 } else { 0 },
            ),
            _ => (false, tag_unsync, 0),
        };
        if let Some(slot) = slot {
            if size <= TEXT_FRAME_CAP && !compressed_or_encrypted && slot.is_none() {
                let mut body = read_vec(reader, size, TEXT_FRAME_CAP, "ID3 frame")?;
                if unsync {
                    body = remove_unsync(&body);
                }
                *slot = body.get(length_indicator..).and_then(decode_text);
            }
        }
        at = body_start + size;
    }
    Ok(dates)
}

fn remove_unsync(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut prev = 0u8;
    for &x in b {
        if !(prev == 0xFF && x == 0x00) {
            out.push(x);
        }
        prev = x;
    }
    out
}

/// An ID3 text frame: encoding byte, then the first of its null-separated values.
fn decode_text(body: &[u8]) -> Option<String> {
    let (&encoding, text) = body.split_first()?;
    let decoded = match encoding {
        0 => text.iter().map(|&b| char::from(b)).collect::<String>(),
        3 => String::from_utf8_lossy(text).into_owned(),
        1 | 2 => {
            let (big_endian, units) = match text {
                [0xFE, 0xFF, rest @ ..] => (true, rest),
                [0xFF, 0xFE, rest @ ..] => (false, rest),
                rest => (encoding == 2, rest),
            };
            let words: Vec<u16> = units
                .chunks_exact(2)
                .map(|c| {
                    if big_endian {
                        u16::from_be_bytes([c[0], c[1]])
                    } else {
                        u16::from_le_bytes([c[0], c[1]])
                    }
                })
                .collect();
            String::from_utf16_lossy(&words)
        }
        _ => return None,
    };
    let first = decoded.split('\0').next().unwrap_or("").trim().to_string();
    (!first.is_empty()).then_some(first)
}

/// An MPEG audio frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MpegFrame {
    mpeg1: bool,
    layer: u8,
    bitrate_kbps: u32,
    sample_rate: u32,
    mono: bool,
    len: usize,
}

impl MpegFrame {
    fn samples(&self) -> u32 {
        match (self.layer, self.mpeg1) {
            (1, _) => 384,
            (3, false) => 576,
            _ => 1152,
        }
    }
}

fn mpeg_frame(b: &[u8]) -> Option<MpegFrame> {
    let h = b.get(..4)?;
    if h[0] != 0xFF || h[1] & 0xE0 != 0xE0 {
        return None;
    }
    let version = (h[1] >> 3) & 3; // 0: 2.5, 1: reserved, 2: MPEG-2, 3: MPEG-1
    let layer = match (h[1] >> 1) & 3 {
        3 => 1,
        2 => 2,
        1 => 3,
        _ => return None,
    };
    let bitrate_index = usize::from(h[2] >> 4);
    let rate_index = usize::from((h[2] >> 2) & 3);
    if version == 1 || bitrate_index == 0 || bitrate_index == 15 || rate_index == 3 {
        return None;
    }
    let mpeg1 = version == 3;
    const V1: [[u32; 14]; 3] = [
        [
            32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448,
        ],
        [
            32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384,
        ],
        [
            32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
        ],
    ];
    const V2: [[u32; 14]; 2] = [
        [
            32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256,
        ],
        [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
    ];
    let bitrate_kbps = if mpeg1 {
        V1[usize::from(layer - 1)][bitrate_index - 1]
    } else {
        V2[usize::from(layer.min(2) - 1)][bitrate_index - 1]
    };
    let base = [44_100, 48_000, 32_000][rate_index];
    let sample_rate = match version {
        3 => base,
        2 => base / 2,
        _ => base / 4,
    };
    let padding = u32::from((h[2] >> 1) & 1);
    let len = match layer {
        1 => (12 * bitrate_kbps * 1000 / sample_rate + padding) * 4,
        3 if !mpeg1 => 72 * bitrate_kbps * 1000 / sample_rate + padding,
        _ => 144 * bitrate_kbps * 1000 / sample_rate + padding,
    } as usize;
    Some(MpegFrame {
        mpeg1,
        layer,
        bitrate_kbps,
        sample_rate,
        mono: h[3] >> 6 == 3,
        len,
    })
}

/// Whether `head` starts with two consecutive MPEG audio frames (an MP3 without ID3 tag).
pub fn starts_with_mpeg_frames(head: &[u8]) -> bool {
    let Some(frame) = mpeg_frame(head) else {
        return false;
    };
    head.get(frame.len..)
        .and_then(mpeg_frame)
        .is_some_and(|next| next.sample_rate == frame.sample_rate && next.layer == frame.layer)
}

/// The first frame followed by a matching frame (or by the end of the file).
fn first_mpeg_frame(window: &[u8], remaining: u64) -> Option<(usize, MpegFrame)> {
    (0..window.len().saturating_sub(3)).find_map(|at| {
        let frame = mpeg_frame(&window[at..])?;
        let next = at + frame.len;
        if next as u64 == remaining {
            return Some((at, frame));
        }
        let second = mpeg_frame(window.get(next..)?)?;
        (second.sample_rate == frame.sample_rate && second.layer == frame.layer)
            .then_some((at, frame))
    })
}

/// Duration from the Xing/Info frame count, else from the bitrate (constant bitrate).
fn mp3_duration_ms(frame_bytes: &[u8], frame: &MpegFrame, audio_len: u64) -> u64 {
    let side_info = match (frame.mpeg1, frame.mono) {
        (true, false) => 32,
        (true, true) | (false, false) => 17,
        (false, true) => 9,
    };
    let tag_at = 4 + side_info;
    if let Some(tag) = frame_bytes.get(tag_at..tag_at + 12) {
        if (&tag[..4] == b"Xing" || &tag[..4] == b"Info") && tag[7] & 1 != 0 {
            let frames = u64::from(be_u32(tag, 8).unwrap_or(0));
            return frames * u64::from(frame.samples()) * 1000 / u64::from(frame.sample_rate);
        }
    }
    audio_len * 8 / u64::from(frame.bitrate_kbps)
}

/// Validate an AMR (narrow- or wide-band) voice note.
pub fn check_amr<R: Read + Seek>(reader: &mut R) -> Result<(), ParseError> {
    reader.seek(SeekFrom::Start(0))?;
    let mut head = Vec::new();
    reader.by_ref().take(128).read_to_end(&mut head)?;
    let (frames, sizes): (&[u8], &[usize; 16]) = if let Some(rest) = head.strip_prefix(b"#!AMR\n") {
        (
            rest,
            &[13, 14, 16, 18, 20, 21, 27, 32, 6, 0, 0, 0, 0, 0, 0, 1],
        )
    } else if let Some(rest) = head.strip_prefix(b"#!AMR-WB\n") {
        (
            rest,
            &[18, 24, 33, 37, 41, 47, 51, 59, 61, 6, 0, 0, 0, 0, 1, 1],
        )
    } else {
        return Err(ParseError::Malformed("AMR header"));
    };
    let frame_size = |b: u8| -> Option<usize> {
        if b & 0x83 != 0 {
            return None;
        }
        let size = sizes[usize::from((b >> 3) & 0x0F)];
        (size > 0).then_some(size)
    };
    let first = frames.first().and_then(|b| frame_size(*b));
    let first = first.ok_or(ParseError::Malformed("AMR frames"))?;
    match frames.get(first) {
        Some(b) if frame_size(*b).is_none() => Err(ParseError::Malformed("AMR frames")),
        _ => Ok(()),
    }
}

/// Validate an ADTS AAC stream: two consecutive frame headers (or one that ends the file).
pub fn check_adts<R: Read + Seek>(reader: &mut R) -> Result<(), ParseError> {
    let len = stream_len(reader)?;
    let window = read_vec(reader, len.min(16 * 1024), 16 * 1024, "ADTS")?;
    let frame_len = |b: &[u8]| -> Option<usize> {
        let h = b.get(..7)?;
        if h[0] != 0xFF || h[1] & 0xF6 != 0xF0 || (h[2] >> 2) & 0x0F >= 13 {
            return None;
        }
        let n = (usize::from(h[3] & 3) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5);
        (n >= 7).then_some(n)
    };
    let first = frame_len(&window).ok_or(ParseError::Malformed("ADTS header"))?;
    if first as u64 == len || window.get(first..).and_then(frame_len).is_some() {
        Ok(())
    } else {
        Err(ParseError::Malformed("ADTS frames"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A silent 128 kbps 44.1 kHz MPEG-1 layer III frame (417 bytes, no padding).
    fn frame() -> Vec<u8> {
        let mut f = vec![0u8; 417];
        f[..4].copy_from_slice(&[0xFF, 0xFB, 0x90, 0x64]);
        f
    }

    fn id3v24(frames: &[(&[u8; 4], &str)]) -> Vec<u8> {
        let mut body = Vec::new();
        for (id, text) in frames {
            let size = text.len() as u32 + 1;
            body.extend_from_slice(*id);
            body.extend_from_slice(&[
                (size >> 21) as u8 & 0x7F,
                (size >> 14) as u8 & 0x7F,
                (size >> 7) as u8 & 0x7F,
                size as u8 & 0x7F,
            ]);
            body.extend_from_slice(&[0, 0, 3]);
            body.extend_from_slice(text.as_bytes());
        }
        let size = body.len() as u32;
        let mut tag = b"ID3\x04\x00\x00".to_vec();
        tag.extend_from_slice(&[
            (size >> 21) as u8 & 0x7F,
            (size >> 14) as u8 & 0x7F,
            (size >> 7) as u8 & 0x7F,
            size as u8 & 0x7F,
        ]);
        tag.extend(body);
        tag
    }

    #[test]
    fn tdrc_is_the_recording_time() {
        let mut data = id3v24(&[(b"TIT2", "Ghi âm"), (b"TDRC", "2026-11-28T08:00:00")]);
        data.extend(frame());
        data.extend(frame());
        let facts = read_mp3(&mut Cursor::new(data)).unwrap();
        let (at, zone) = facts.recorded.unwrap();
        assert_eq!(at.to_string(), "2026-11-28 08:00:00");
        assert_eq!(zone, None);
        assert_eq!(facts.duration_ms, Some(834 * 8 / 128));
    }

    #[test]
    fn a_year_alone_is_no_capture_time() {
        let mut data = id3v24(&[(b"TDRC", "2026")]);
        data.extend(frame());
        let facts = read_mp3(&mut Cursor::new(data)).unwrap();
        assert_eq!(facts.recorded, None);
    }

    #[test]
    fn an_id3_tag_without_audio_is_unreadable() {
        let mut data = id3v24(&[(b"TDRC", "2026-11-28T08:00:00")]);
        data.extend_from_slice(b"this is not MPEG audio at all, only text");
        assert!(read_mp3(&mut Cursor::new(data)).is_err());
    }

    #[test]
    fn a_forged_tag_size_does_not_panic() {
        let mut data = b"ID3\x04\x00\x00\x7F\x7F\x7F\x7F".to_vec();
        data.extend(frame());
        assert!(read_mp3(&mut Cursor::new(data)).is_err());
    }

    #[test]
    fn amr_and_adts_headers() {
        let mut amr = b"#!AMR\n".to_vec();
        for _ in 0..3 {
            amr.push(0x3C); // FT 7 (12.2 kbit/s), quality bit
            amr.extend([0u8; 31]);
        }
        assert!(check_amr(&mut Cursor::new(amr)).is_ok());
        assert!(check_amr(&mut Cursor::new(b"#!AMR\n\xFF\xFF".to_vec())).is_err());
        assert!(
            check_amr(&mut Cursor::new(b"#!AMR\n".to_vec())).is_err(),
            "no frames"
        );

        let adts_frame = |len: usize| {
            let mut f = vec![0u8; len];
            f[..7].copy_from_slice(&[
                0xFF,
                0xF1,
                0x50,
                0x80 | ((len >> 11) as u8 & 3),
                (len >> 3) as u8,
                ((len & 7) as u8) << 5 | 0x1F,
                0xFC,
            ]);
            f
        };
        let mut adts = adts_frame(100);
        adts.extend(adts_frame(120));
        assert!(check_adts(&mut Cursor::new(adts)).is_ok());
        let mut bad = adts_frame(100);
        bad.extend([0u8; 50]);
        assert!(check_adts(&mut Cursor::new(bad)).is_err());
    }
}
