//! Media type from magic bytes.

use crate::report::MediaKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sniffed {
    pub media_type: &'static str,
    pub kind: Option<MediaKind>,
}

/// Sniff the media type of a file from its first bytes.
pub fn sniff(head: &[u8]) -> Sniffed {
    // AMR voice notes (Zalo's audio) are not known to `infer`.
    if head.starts_with(b"#!AMR\n") || head.starts_with(b"#!AMR-WB\n") {
        return Sniffed {
            media_type: "audio/amr",
            kind: Some(MediaKind::Audio),
        };
    }
    // ADTS AAC: sync word 0xFFF with layer 00.
    if head.len() >= 2 && head[0] == 0xFF && (head[1] & 0xF6) == 0xF0 {
        return Sniffed {
            media_type: "audio/aac",
            kind: Some(MediaKind::Audio),
        };
    }
    // MP3 without an ID3 tag: `infer` knows only three of the frame header spellings
    // (MPEG-1 layer III); low-rate voice recorders write MPEG-2/2.5.
    if super::audio::starts_with_mpeg_frames(head) {
        return Sniffed {
            media_type: "audio/mpeg",
            kind: Some(MediaKind::Audio),
        };
    }
    // TIFF and the camera raws built on it. `infer` misses the raw variants with their own magic
    // (Olympus ORF, Panasonic RW2) and calls a TIFF whose ninth byte is `C` unknown.
    if super::tiff::is_tiff_like(head) {
        let media_type = super::tiff::media_type_of_magic(head).unwrap_or(
            if head.get(8..11) == Some(b"CR\x02") {
                "image/x-canon-cr2"
            } else {
                "image/tiff"
            },
        );
        return Sniffed {
            media_type,
            kind: Some(MediaKind::Photo),
        };
    }
    if let Some(media_type) = heif_brand(head) {
        return Sniffed {
            media_type,
            kind: Some(MediaKind::Photo),
        };
    }
    let Some(t) = infer::get(head) else {
        return Sniffed {
            media_type: "application/octet-stream",
            kind: None,
        };
    };
    let media_type = t.mime_type();
    let kind = match t.matcher_type() {
        infer::MatcherType::Image => Some(MediaKind::Photo),
        infer::MatcherType::Video => Some(MediaKind::Video),
        infer::MatcherType::Audio => Some(MediaKind::Audio),
        infer::MatcherType::Doc | infer::MatcherType::Text => Some(MediaKind::Document),
        _ if media_type == "application/pdf" => Some(MediaKind::Document),
        _ => None,
    };
    Sniffed { media_type, kind }
}

/// HEIF still images by their `ftyp` brands. `infer` knows only `heic`/`heix` and `mif1`+`heic`,
/// so plain `mif1` HEIF files (and HEVC image sequences) would otherwise be unknown.
fn heif_brand(head: &[u8]) -> Option<&'static str> {
    if head.get(4..8) != Some(b"ftyp") {
        return None;
    }
    let size = u32::from_be_bytes(head.get(..4)?.try_into().ok()?) as usize;
    let ftyp = head.get(8..size.min(head.len()))?;
    let brands: Vec<&[u8]> = ftyp
        .chunks_exact(4)
        .enumerate()
        .filter(|(i, _)| *i != 1) // minor version
        .map(|(_, b)| b)
        .collect();
    let major = *brands.first()?;
    let has = |b: &[u8]| brands.contains(&b);
    if major == b"avif" || major == b"avis" || (has(b"mif1") && has(b"avif")) {
        return Some("image/avif");
    }
    const HEIF: [&[u8]; 8] = [
        b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1",
    ];
    HEIF.contains(&major).then_some("image/heif")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heif_brands_are_photos() {
        let plain = b"\0\0\0\x18ftypmif1\0\0\0\0mif1heix";
        assert_eq!(sniff(plain).media_type, "image/heif");
        assert_eq!(sniff(plain).kind, Some(MediaKind::Photo));
        let avif = b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf";
        assert_eq!(sniff(avif).media_type, "image/avif");
        let mp4 = b"\0\0\0\x18ftypisom\0\0\x02\0isomiso2";
        assert_eq!(sniff(mp4).kind, Some(MediaKind::Video));
    }

    #[test]
    fn tiff_based_raws_are_photos_whatever_their_magic() {
        for (head, media_type) in [
            (&b"II*\0\x08\0\0\0\0\0\0\0"[..], "image/tiff"),
            (b"MM\0*\0\0\0\x08\0\0\0\0", "image/tiff"),
            (b"II*\0\x10\0\0\0CR\x02\0", "image/x-canon-cr2"),
            (b"IIRO\x08\0\0\0\0\0\0\0", "image/x-olympus-orf"),
            (b"IIRS\x08\0\0\0\0\0\0\0", "image/x-olympus-orf"),
            (b"MMOR\0\0\0\x08\0\0\0\0", "image/x-olympus-orf"),
            (b"IIU\0\x08\0\0\0\0\0\0\0", "image/x-panasonic-rw2"),
            // A TIFF whose ninth byte is `C` (infer would call it unknown).
            (b"II*\0\x08\0\0\0C\0\0\0", "image/tiff"),
        ] {
            let s = sniff(head);
            assert_eq!((s.media_type, s.kind), (media_type, Some(MediaKind::Photo)));
        }
    }
}
