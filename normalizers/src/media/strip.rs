//! Public copies of photos without their metadata (SPEC R-SEC-2): no EXIF (capture time, GPS,
//! camera serial), no XMP, no IPTC, no text chunks.
//!
//! Whitelists rather than blacklists: a JPEG keeps only the segments needed to decode it (JFIF,
//! ICC profile, Adobe colour transform, tables, frames, scans) and stops at the first EOI, so
//! the extra images phones append after it (MPF depth and gain maps, each with its own EXIF) are
//! dropped too. The EXIF Orientation is the one tag carried over, in a minimal EXIF block of its
//! own, so the public copy still displays upright. PNG drops `eXIf`, `tEXt`, `zTXt`, `iTXt` and
//! `tIME`; WebP drops `EXIF` and `XMP ` and clears their flags in `VP8X`.

use super::bounded::{be_u16, be_u32, le_u32};
use super::photo::jpeg_orientation;

/// A copy of `bytes` without metadata, for the formats that can be stripped (JPEG, PNG, WebP,
/// by sniffed media type). `None` for other formats and for files too broken to rewrite.
pub fn strip_metadata(media_type: &str, bytes: &[u8]) -> Option<Vec<u8>> {
    match media_type {
        "image/jpeg" => strip_jpeg(bytes),
        "image/png" => strip_png(bytes),
        "image/webp" => strip_webp(bytes),
        _ => None,
    }
}

fn strip_jpeg(b: &[u8]) -> Option<Vec<u8>> {
    if !b.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut orientation = jpeg_orientation(b).filter(|o| *o != 1);
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(&[0xFF, 0xD8]);
    let mut i = 2usize;
    loop {
        while b.get(i) == Some(&0xFF) && b.get(i + 1) == Some(&0xFF) {
            i += 1;
        }
        if b.get(i) != Some(&0xFF) {
            return None;
        }
        let marker = *b.get(i + 1)?;
        match marker {
            0xD9 => {
                out.extend_from_slice(&[0xFF, 0xD9]);
                return Some(out);
            }
            0xD8 => return None,
            0x01 | 0xD0..=0xD7 => {
                out.extend_from_slice(&[0xFF, marker]);
                i += 2;
                continue;
            }
            _ => {}
        }
        let len = usize::from(be_u16(b, i + 2)?);
        if len < 2 {
            return None;
        }
        let segment = b.get(i..i + 2 + len)?;
        let body = &segment[4..];
        if marker != 0xE0 {
            if let Some(o) = orientation.take() {
                out.extend(orientation_app1(o));
            }
        }
        if marker == 0xDA {
            let end = scan_end(b, i + 2 + len);
            out.extend_from_slice(&b[i..end]);
            if end >= b.len() {
                // Truncated scan: keep what decodes, close the image.
                out.extend_from_slice(&[0xFF, 0xD9]);
                return Some(out);
            }
            i = end;
            continue;
        }
        let keep = match marker {
            0xE0 => body.starts_with(b"JFIF\0") || body.starts_with(b"JFXX\0"),
            0xE2 => body.starts_with(b"ICC_PROFILE\0"),
            0xEE => body.starts_with(b"Adobe"),
            0xE1..=0xEF | 0xFE => false,
            _ => true,
        };
        if keep {
            out.extend_from_slice(segment);
        }
        i += 2 + len;
    }
}

/// End of the entropy-coded data starting at `from`: the next marker that is not a stuffed
/// byte, a restart marker or fill.
fn scan_end(b: &[u8], from: usize) -> usize {
    let mut j = from;
    while j + 1 < b.len() {
        if b[j] == 0xFF {
            let next = b[j + 1];
            if next != 0x00 && !(0xD0..=0xD7).contains(&next) && next != 0xFF {
                return j;
            }
        }
        j += 1;
    }
    b.len()
}

/// An APP1 EXIF block holding only IFD0 Orientation.
fn orientation_app1(orientation: u16) -> Vec<u8> {
    let mut seg = vec![0xFF, 0xE1, 0x00, 34];
    seg.extend_from_slice(b"Exif\0\0MM\0\x2A\0\0\0\x08");
    seg.extend_from_slice(&1u16.to_be_bytes());
    seg.extend_from_slice(&[0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01]);
    seg.extend_from_slice(&orientation.to_be_bytes());
    seg.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    seg
}

fn strip_png(b: &[u8]) -> Option<Vec<u8>> {
    const SIG: &[u8] = b"\x89PNG\r\n\x1a\n";
    if !b.starts_with(SIG) {
        return None;
    }
    let mut out = SIG.to_vec();
    let mut i = SIG.len();
    while i < b.len() {
        let len = be_u32(b, i)? as usize;
        let total = len.checked_add(12)?;
        let chunk = b.get(i..i.checked_add(total)?)?;
        let kind = &chunk[4..8];
        if !matches!(kind, b"eXIf" | b"tEXt" | b"zTXt" | b"iTXt" | b"tIME") {
            out.extend_from_slice(chunk);
        }
        i += total;
        if kind == b"IEND" {
            return Some(out);
        }
    }
    None
}

fn strip_webp(b: &[u8]) -> Option<Vec<u8>> {
    if b.len() < 12 || &b[..4] != b"RIFF" || &b[8..12] != b"WEBP" {
        return None;
    }
    let riff_end = (le_u32(b, 4)? as usize).checked_add(8)?.min(b.len());
    let mut chunks = Vec::new();
    let mut i = 12usize;
    while i + 8 <= riff_end {
        let len = le_u32(b, i + 4)? as usize;
        let padded = len.checked_add(len & 1)?;
        let end = (i + 8).checked_add(padded)?;
        let chunk = b.get(i..end.min(riff_end))?;
        if chunk.len() < 8 + len {
            return None;
        }
        match &chunk[..4] {
            b"EXIF" | b"XMP " => {}
            b"VP8X" if len >= 1 => {
                let mut vp8x = chunk.to_vec();
                vp8x[8] &= !(0x08 | 0x04);
                chunks.push(vp8x);
            }
            _ => chunks.push(chunk.to_vec()),
        }
        i = end;
    }
    let body_len: usize = 4 + chunks.iter().map(Vec::len).sum::<usize>();
    let mut out = Vec::with_capacity(body_len + 8);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&u32::try_from(body_len).ok()?.to_le_bytes());
    out.extend_from_slice(b"WEBP");
    for c in chunks {
        out.extend(c);
    }
    Some(out)
}
