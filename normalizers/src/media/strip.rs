//! Public copies of photos without their metadata (SPEC R-SEC-2): no EXIF (capture time, GPS,
//! camera serial), no XMP, no IPTC, no text chunks.
//!
//! Whitelists rather than blacklists: a JPEG keeps only the segments needed to decode it (JFIF,
//! ICC profile, Adobe colour transform, tables, frames, scans) and stops at the first EOI, so
//! the extra images phones append after it (MPF depth and gain maps, each with its own EXIF) are
//! dropped too. The EXIF Orientation is the one tag carried over, in a minimal EXIF block of its
//! own, so the public copy still displays upright. PNG drops `eXIf`, `tEXt`, `zTXt`, `iTXt` and
//! `tIME`; WebP drops `EXIF` and `XMP ` and clears their flags in `VP8X`.

use std::io::{self, Read, Seek, SeekFrom, Write};

use super::bounded::{be_u32, le_u32};
use super::photo::jpeg_orientation_of;

/// A copy of `bytes` without metadata, for the formats that can be stripped (JPEG, PNG, WebP,
/// by sniffed media type). `None` for other formats and for files too broken to rewrite.
pub fn strip_metadata(media_type: &str, bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len());
    match strip_metadata_to(media_type, &mut io::Cursor::new(bytes), &mut out) {
        Ok(true) => Some(out),
        _ => None,
    }
}

/// Write a copy of the picture in `reader` without metadata to `writer`, streaming: JPEG and
/// PNG are copied segment by segment (memory bounded by one 64 KiB segment, whatever the file
/// size); WebP, whose header holds the total size, is read whole. `Ok(false)` when the format
/// cannot be stripped or the file is too broken to rewrite: what was written is then not a
/// picture and must be thrown away. `Err` when reading or writing failed.
pub fn strip_metadata_to<R: Read + Seek, W: Write>(
    media_type: &str,
    reader: &mut R,
    writer: &mut W,
) -> io::Result<bool> {
    match media_type {
        "image/jpeg" => strip_jpeg(reader, writer),
        "image/png" => strip_png(reader, writer),
        "image/webp" => {
            let mut bytes = Vec::new();
            reader.read_to_end(&mut bytes)?;
            match strip_webp(&bytes) {
                Some(copy) => writer.write_all(&copy).map(|()| true),
                None => Ok(false),
            }
        }
        _ => Ok(false),
    }
}

/// A forward-only window on a reader: large enough for any JPEG segment (64 KiB + marker).
struct Window<R> {
    inner: R,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

impl<R: Read> Window<R> {
    const CAPACITY: usize = 128 * 1024;

    fn new(inner: R) -> Self {
        Window {
            inner,
            buf: vec![0u8; Self::CAPACITY].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    /// The bytes available now (at least `n` unless the input ends first; `n` ≤ capacity).
    fn fill(&mut self, n: usize) -> io::Result<&[u8]> {
        if self.end - self.start < n {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            while self.end < n {
                let read = match self.inner.read(&mut self.buf[self.end..]) {
                    Ok(0) => break,
                    Ok(read) => read,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                self.end += read;
            }
        }
        Ok(&self.buf[self.start..self.end])
    }

    fn byte(&mut self, k: usize) -> io::Result<Option<u8>> {
        Ok(self.fill(k + 1)?.get(k).copied())
    }

    fn consume(&mut self, n: usize) {
        self.start += n.min(self.end - self.start);
    }
}

fn strip_jpeg<R: Read + Seek, W: Write>(reader: &mut R, out: &mut W) -> io::Result<bool> {
    let origin = reader.stream_position()?;
    let mut orientation = jpeg_orientation_of(reader).filter(|o| *o != 1);
    reader.seek(SeekFrom::Start(origin))?;
    let mut b = Window::new(reader);
    if b.fill(2)?.get(..2) != Some(&[0xFF, 0xD8][..]) {
        return Ok(false);
    }
    b.consume(2);
    out.write_all(&[0xFF, 0xD8])?;
    loop {
        while b.byte(0)? == Some(0xFF) && b.byte(1)? == Some(0xFF) {
            b.consume(1);
        }
        if b.byte(0)? != Some(0xFF) {
            return Ok(false);
        }
        let Some(marker) = b.byte(1)? else {
            return Ok(false);
        };
        match marker {
            0xD9 => {
                out.write_all(&[0xFF, 0xD9])?;
                return Ok(true);
            }
            0xD8 => return Ok(false),
            0x01 | 0xD0..=0xD7 => {
                out.write_all(&[0xFF, marker])?;
                b.consume(2);
                continue;
            }
            _ => {}
        }
        let (Some(hi), Some(lo)) = (b.byte(2)?, b.byte(3)?) else {
            return Ok(false);
        };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        if len < 2 {
            return Ok(false);
        }
        let segment = b.fill(2 + len)?;
        if segment.len() < 2 + len {
            return Ok(false);
        }
        if marker != 0xE0 {
            if let Some(o) = orientation.take() {
                out.write_all(&orientation_app1(o))?;
            }
        }
        let segment = &b.fill(2 + len)?[..2 + len];
        if marker == 0xDA {
            out.write_all(segment)?;
            b.consume(2 + len);
            if !copy_scan(&mut b, out)? {
                // Truncated scan: keep what decodes, close the image.
                out.write_all(&[0xFF, 0xD9])?;
                return Ok(true);
            }
            continue;
        }
        let body = &segment[4..];
        let keep = match marker {
            0xE0 => body.starts_with(b"JFIF\0") || body.starts_with(b"JFXX\0"),
            0xE2 => body.starts_with(b"ICC_PROFILE\0"),
            0xEE => body.starts_with(b"Adobe"),
            0xE1..=0xEF | 0xFE => false,
            _ => true,
        };
        if keep {
            out.write_all(segment)?;
        }
        b.consume(2 + len);
    }
}

/// Copy the entropy-coded data up to the next marker that is not a stuffed byte, a restart
/// marker or fill (left in the window); false when the input ends first (all of it copied).
fn copy_scan<R: Read, W: Write>(b: &mut Window<R>, out: &mut W) -> io::Result<bool> {
    loop {
        let avail = b.fill(2)?;
        if avail.len() < 2 {
            let n = avail.len();
            out.write_all(avail)?;
            b.consume(n);
            return Ok(false);
        }
        let mut j = 0;
        let mut marker_at = None;
        while j + 1 < avail.len() {
            match avail[j..avail.len() - 1].iter().position(|&x| x == 0xFF) {
                None => {
                    j = avail.len() - 1;
                    break;
                }
                Some(p) => {
                    j += p;
                    let next = avail[j + 1];
                    if next != 0x00 && !(0xD0..=0xD7).contains(&next) && next != 0xFF {
                        marker_at = Some(j);
                        break;
                    }
                    j += 1;
                }
            }
        }
        // Everything before `j` is scan data; a last 0xFF waits for its next byte.
        let upto = marker_at.unwrap_or(j);
        out.write_all(&avail[..upto])?;
        b.consume(upto);
        if marker_at.is_some() {
            return Ok(true);
        }
    }
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

fn strip_png<R: Read, W: Write>(reader: &mut R, out: &mut W) -> io::Result<bool> {
    const SIG: &[u8] = b"\x89PNG\r\n\x1a\n";
    let mut b = Window::new(reader);
    if !b.fill(SIG.len())?.starts_with(SIG) {
        return Ok(false);
    }
    out.write_all(SIG)?;
    b.consume(SIG.len());
    loop {
        let head = b.fill(8)?;
        if head.is_empty() {
            return Ok(false);
        }
        let Some(len) = be_u32(head, 0) else {
            return Ok(false);
        };
        if head.len() < 8 {
            return Ok(false);
        }
        let kind: [u8; 4] = head[4..8].try_into().expect("four bytes");
        let Some(mut left) = u64::from(len).checked_add(12) else {
            return Ok(false);
        };
        let keep = !matches!(&kind, b"eXIf" | b"tEXt" | b"zTXt" | b"iTXt" | b"tIME");
        while left > 0 {
            let avail = b.fill(1)?;
            if avail.is_empty() {
                return Ok(false);
            }
            let n = avail.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            if keep {
                out.write_all(&avail[..n])?;
            }
            b.consume(n);
            left -= n as u64;
        }
        if &kind == b"IEND" {
            return Ok(true);
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader handing out at most `step` bytes per read, so that markers, stuffed bytes and
    /// segment headers fall across the window's refills.
    struct Trickle<'a> {
        inner: io::Cursor<&'a [u8]>,
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.step);
            self.inner.read(&mut buf[..n])
        }
    }

    impl Seek for Trickle<'_> {
        fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
            self.inner.seek(pos)
        }
    }

    fn streamed(media_type: &str, bytes: &[u8], step: usize) -> Option<Vec<u8>> {
        let mut reader = Trickle {
            inner: io::Cursor::new(bytes),
            step,
        };
        let mut out = Vec::new();
        strip_metadata_to(media_type, &mut reader, &mut out)
            .expect("in-memory I/O")
            .then_some(out)
    }

    #[test]
    fn the_copy_does_not_depend_on_how_the_input_arrives() {
        let jpeg = include_bytes!("../../../fixtures/media/photo-rotated.jpg").as_slice();
        let png = include_bytes!("../../../fixtures/media/photo-2h-before.png").as_slice();
        // A phone's trailing image after the first EOI, and a scan cut short.
        let mut with_trailer = jpeg.to_vec();
        with_trailer.extend_from_slice(jpeg);
        let truncated = &jpeg[..jpeg.len() - 40];
        let cases: [(&str, &[u8]); 4] = [
            ("image/jpeg", jpeg),
            ("image/jpeg", &with_trailer),
            ("image/jpeg", truncated),
            ("image/png", png),
        ];
        for (media_type, bytes) in cases {
            let whole = strip_metadata(media_type, bytes).expect("strippable");
            for step in [1, 2, 3, 7, 4096] {
                assert_eq!(
                    streamed(media_type, bytes, step).as_deref(),
                    Some(whole.as_slice()),
                    "{media_type}, {step}-byte reads"
                );
            }
        }
        let copy = strip_metadata("image/jpeg", &with_trailer).unwrap();
        assert_eq!(copy, strip_metadata("image/jpeg", jpeg).unwrap());
        assert!(strip_metadata("image/jpeg", truncated)
            .unwrap()
            .ends_with(&[0xFF, 0xD9]));
    }

    #[test]
    fn a_broken_file_gives_no_copy_however_it_arrives() {
        let png = include_bytes!("../../../fixtures/media/photo-2h-before.png").as_slice();
        let cut = &png[..png.len() - 5];
        assert_eq!(strip_metadata("image/png", cut), None);
        assert_eq!(streamed("image/png", cut, 3), None);
        assert_eq!(streamed("image/jpeg", b"\xFF\xD8\xFF", 1), None);
    }
}
