//! TIFF-based photos: plain TIFF and the camera raws built on it (Adobe DNG, Nikon NEF, Sony
//! ARW, Pentax PEF, Canon CR2, Olympus ORF, Panasonic RW2).
//!
//! A raw is a TIFF container: IFD0 (often a small preview), the sensor image (a CFA or
//! linear-raw IFD, in the IFD0 chain or in a SubIFD) and the EXIF IFD with the capture time.
//! ORF and RW2 change the TIFF magic number (`IIRO`/`IIRS`/`MMOR`, `IIU\0`); CR2 marks `CR\x02`
//! after the header. This module recognises them from the IFD structure (the image crate cannot
//! decode sensor data), finds the sensor size, and hands kamadak-exif a buffer whose magic is
//! the standard one so the EXIF IFD is read like any TIFF's.
//!
//! Pure and bounded: works on the bytes the caller read (at most [`super::photo::TIFF_CAP`]),
//! follows at most [`MAX_IFDS`] IFDs of at most [`MAX_ENTRIES`] entries, never allocates from a
//! count written in the file.

use super::bounded::ParseError;

/// Most IFDs visited in one file (the IFD0 chain and its SubIFDs).
const MAX_IFDS: usize = 32;
/// Most entries read from one IFD.
const MAX_ENTRIES: usize = 1024;

const TAG_IMAGE_WIDTH: u16 = 0x0100;
const TAG_IMAGE_LENGTH: u16 = 0x0101;
const TAG_PHOTOMETRIC: u16 = 0x0106;
const TAG_MAKE: u16 = 0x010F;
const TAG_SUB_IFDS: u16 = 0x014A;
const TAG_DNG_VERSION: u16 = 0xC612;
/// Panasonic RW2 IFD0: SensorWidth, SensorHeight.
const TAG_RW2_SENSOR_WIDTH: u16 = 0x0002;
const TAG_RW2_SENSOR_HEIGHT: u16 = 0x0003;

/// PhotometricInterpretation of sensor data: colour filter array, linear raw (DNG).
const PHOTOMETRIC_CFA: u32 = 32803;
const PHOTOMETRIC_LINEAR_RAW: u32 = 34892;

/// The TIFF magic numbers of the variants: standard, Olympus ORF (`RO`, `RS`), Panasonic RW2.
const MAGIC_TIFF: u16 = 42;
const MAGIC_ORF: u16 = 0x4F52;
const MAGIC_ORF_S: u16 = 0x5352;
const MAGIC_RW2: u16 = 0x0055;

/// Whether the first bytes are a TIFF header, standard or one of the raw variants.
pub fn is_tiff_like(head: &[u8]) -> bool {
    header(head).is_some()
}

/// The media type of a TIFF variant whose magic alone says what it is (ORF, RW2).
pub fn media_type_of_magic(head: &[u8]) -> Option<&'static str> {
    match header(head)?.1 {
        MAGIC_ORF | MAGIC_ORF_S => Some("image/x-olympus-orf"),
        MAGIC_RW2 => Some("image/x-panasonic-rw2"),
        _ => None,
    }
}

/// Media types of the TIFF family (as sniffed or as refined here).
pub fn is_tiff_family(media_type: &str) -> bool {
    matches!(
        media_type,
        "image/tiff"
            | "image/x-adobe-dng"
            | "image/x-canon-cr2"
            | "image/x-nikon-nef"
            | "image/x-sony-arw"
            | "image/x-pentax-pef"
            | "image/x-olympus-orf"
            | "image/x-panasonic-rw2"
    )
}

/// What the IFD structure of a TIFF-based file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Refined media type: a raw's own type, else `image/tiff`.
    pub media_type: &'static str,
    /// Holds sensor data (a camera raw), which the image crate does not decode.
    pub raw: bool,
    /// Size of the largest image in the file (the sensor image of a raw).
    pub width: Option<u32>,
    pub height: Option<u32>,
}

fn header(bytes: &[u8]) -> Option<(bool, u16)> {
    let big = match bytes.get(..2)? {
        b"II" => false,
        b"MM" => true,
        _ => return None,
    };
    let magic = read_u16(bytes, 2, big)?;
    matches!(magic, MAGIC_TIFF | MAGIC_ORF | MAGIC_ORF_S | MAGIC_RW2).then_some((big, magic))
}

fn read_u16(b: &[u8], at: usize, big: bool) -> Option<u16> {
    let s: [u8; 2] = b.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(if big {
        u16::from_be_bytes(s)
    } else {
        u16::from_le_bytes(s)
    })
}

fn read_u32(b: &[u8], at: usize, big: bool) -> Option<u32> {
    let s: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(if big {
        u32::from_be_bytes(s)
    } else {
        u32::from_le_bytes(s)
    })
}

/// One IFD entry: tag, type, count and the offset of its value (inline or pointed to).
struct Entry {
    tag: u16,
    kind: u16,
    count: u32,
    value_at: usize,
}

struct Reader<'a> {
    bytes: &'a [u8],
    big: bool,
}

impl Reader<'_> {
    fn entries(&self, ifd: usize) -> Option<(Vec<Entry>, u32)> {
        let count = usize::from(read_u16(self.bytes, ifd, self.big)?).min(MAX_ENTRIES);
        let mut out = Vec::with_capacity(count);
        for i in 0..count {
            let at = ifd + 2 + 12 * i;
            let tag = read_u16(self.bytes, at, self.big)?;
            let kind = read_u16(self.bytes, at + 2, self.big)?;
            let n = read_u32(self.bytes, at + 4, self.big)?;
            let unit = match kind {
                1 | 2 | 6 | 7 => 1u64,
                3 | 8 => 2,
                4 | 9 | 11 | 13 => 4,
                5 | 10 | 12 => 8,
                _ => 1,
            };
            let value_at = if unit * u64::from(n) <= 4 {
                at + 8
            } else {
                read_u32(self.bytes, at + 8, self.big)? as usize
            };
            out.push(Entry {
                tag,
                kind,
                count: n,
                value_at,
            });
        }
        let next = read_u32(self.bytes, ifd + 2 + 12 * count, self.big).unwrap_or(0);
        Some((out, next))
    }

    /// The i-th value of an integer entry (BYTE, SHORT, LONG, IFD).
    fn uint(&self, e: &Entry, i: u32) -> Option<u32> {
        if i >= e.count {
            return None;
        }
        let i = i as usize;
        match e.kind {
            1 | 7 => self.bytes.get(e.value_at + i).map(|b| u32::from(*b)),
            3 => read_u16(self.bytes, e.value_at + 2 * i, self.big).map(u32::from),
            4 | 13 => read_u32(self.bytes, e.value_at + 4 * i, self.big),
            _ => None,
        }
    }

    fn ascii(&self, e: &Entry) -> Option<String> {
        let end = e.value_at.checked_add(e.count as usize)?;
        let raw = self.bytes.get(e.value_at..end.min(self.bytes.len()))?;
        let text = String::from_utf8_lossy(raw);
        let text = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
        (!text.is_empty()).then(|| text.to_string())
    }
}

/// Read the IFD structure of a TIFF-based file from its bytes.
pub fn layout(bytes: &[u8]) -> Result<Layout, ParseError> {
    let (big, magic) = header(bytes).ok_or(ParseError::Malformed("TIFF header"))?;
    let r = Reader { bytes, big };
    let ifd0 = read_u32(bytes, 4, big).ok_or(ParseError::Malformed("TIFF header"))? as usize;
    let mut queue = vec![ifd0];
    let mut seen = Vec::new();
    let mut make = None;
    let mut dng = false;
    let mut sensor_data = false;
    let mut largest: Option<(u32, u32)> = None;
    let mut rw2_sensor = (None, None);
    while let Some(at) = queue.pop() {
        if at < 8 || seen.contains(&at) || seen.len() >= MAX_IFDS {
            continue;
        }
        seen.push(at);
        let Some((entries, next)) = r.entries(at) else {
            if seen.len() == 1 {
                return Err(ParseError::Malformed("TIFF IFD0"));
            }
            continue;
        };
        let first = seen.len() == 1;
        let (mut w, mut h) = (None, None);
        for e in &entries {
            match e.tag {
                TAG_IMAGE_WIDTH => w = r.uint(e, 0),
                TAG_IMAGE_LENGTH => h = r.uint(e, 0),
                TAG_PHOTOMETRIC => {
                    sensor_data |=
                        matches!(r.uint(e, 0), Some(PHOTOMETRIC_CFA | PHOTOMETRIC_LINEAR_RAW))
                }
                TAG_MAKE if make.is_none() => make = r.ascii(e),
                TAG_DNG_VERSION if first => dng = true,
                TAG_SUB_IFDS => {
                    for i in 0..e.count.min(MAX_IFDS as u32) {
                        if let Some(sub) = r.uint(e, i) {
                            queue.push(sub as usize);
                        }
                    }
                }
                TAG_RW2_SENSOR_WIDTH if first && magic == MAGIC_RW2 => rw2_sensor.0 = r.uint(e, 0),
                TAG_RW2_SENSOR_HEIGHT if first && magic == MAGIC_RW2 => rw2_sensor.1 = r.uint(e, 0),
                _ => {}
            }
        }
        if let (Some(w), Some(h)) = (w.filter(|w| *w > 0), h.filter(|h| *h > 0)) {
            let bigger = largest
                .is_none_or(|(lw, lh)| u64::from(w) * u64::from(h) > u64::from(lw) * u64::from(lh));
            if bigger {
                largest = Some((w, h));
            }
        }
        if next != 0 {
            queue.push(next as usize);
        }
    }
    if let (Some(w), Some(h)) = rw2_sensor {
        largest = Some((w, h));
    }
    let cr2 = bytes.get(8..11) == Some(b"CR\x02");
    let maker = make
        .as_deref()
        .map(str::to_ascii_uppercase)
        .unwrap_or_default();
    let media_type = if dng {
        "image/x-adobe-dng"
    } else if cr2 {
        "image/x-canon-cr2"
    } else if let Some(t) = media_type_of_magic(bytes) {
        t
    } else if sensor_data && maker.starts_with("NIKON") {
        "image/x-nikon-nef"
    } else if sensor_data && maker.starts_with("SONY") {
        "image/x-sony-arw"
    } else if sensor_data && (maker.starts_with("PENTAX") || maker.starts_with("RICOH")) {
        "image/x-pentax-pef"
    } else {
        "image/tiff"
    };
    Ok(Layout {
        media_type,
        raw: sensor_data || media_type != "image/tiff",
        width: largest.map(|(w, _)| w),
        height: largest.map(|(_, h)| h),
    })
}

/// What kamadak-exif may allocate for the EXIF of the TIFF structure `bytes` (standard magic),
/// in bytes, counted before it parses anything: the IFDs it reads (the IFD0 chain, at most 8,
/// and the Exif, GPS and Interop IFDs they point to, each once) hold entries whose values it
/// materialises when read, so a crafted block whose many entries all cover the whole block
/// costs entries × block size. Each entry counts its value at the size kamadak-exif gives it
/// (an ASCII byte may become an empty string of its own: 24 bytes) plus the entry itself. An
/// upper bound: values it would refuse as truncated are not counted, everything else is.
pub fn exif_parse_cost(bytes: &[u8]) -> u64 {
    /// The IFD contexts of kamadak-exif: a pointer tag means a child IFD only in its context.
    #[derive(Clone, Copy, PartialEq)]
    enum Context {
        Tiff,
        Exif,
        Other,
    }
    const ENTRY: u64 = 48;
    let Some(big) = (match bytes.get(..2) {
        Some(b"II") => Some(false),
        Some(b"MM") => Some(true),
        _ => None,
    }) else {
        return 0;
    };
    let Some(ifd0) = read_u32(bytes, 4, big) else {
        return 0;
    };
    let mut cost = 0u64;
    let mut seen: Vec<usize> = Vec::new();
    // (offset, context); the IFD0 chain is followed from each IFD0-chain entry's `next`.
    let mut chain = Some(ifd0 as usize);
    let mut chain_ifds = 0;
    let mut children: Vec<(usize, Context)> = Vec::new();
    loop {
        let (at, context) = if let Some(child) = children.pop() {
            child
        } else if let Some(at) = chain.take().filter(|at| *at != 0 && chain_ifds < 8) {
            chain_ifds += 1;
            (at, Context::Tiff)
        } else {
            break;
        };
        if seen.contains(&at) {
            continue;
        }
        seen.push(at);
        let Some(count) = read_u16(bytes, at, big) else {
            continue;
        };
        let count = usize::from(count);
        for i in 0..count {
            let entry = at + 2 + 12 * i;
            let (Some(tag), Some(kind), Some(n)) = (
                read_u16(bytes, entry, big),
                read_u16(bytes, entry + 2, big),
                read_u32(bytes, entry + 4, big),
            ) else {
                break;
            };
            let child = match (context, tag) {
                (Context::Tiff, 0x8769) => Some(Context::Exif),
                (Context::Tiff, 0x8825) => Some(Context::Other),
                (Context::Exif, 0xA005) => Some(Context::Other),
                _ => None,
            };
            if let Some(child) = child {
                if let Some(pointer) = read_u32(bytes, entry + 8, big) {
                    children.push((pointer as usize, child));
                }
                continue;
            }
            let (unit, parsed) = match kind {
                1 | 6 | 7 => (1u64, 1u64),
                2 => (1, 24),
                3 | 8 => (2, 2),
                4 | 9 | 11 => (4, 4),
                5 | 10 | 12 => (8, 8),
                _ => (0, 0),
            };
            let length = unit * u64::from(n);
            let stored = length <= 4
                || read_u32(bytes, entry + 8, big)
                    .is_some_and(|o| u64::from(o) + length <= bytes.len() as u64);
            cost += ENTRY;
            if stored {
                cost += parsed * u64::from(n);
            }
        }
        if context == Context::Tiff {
            chain = read_u32(bytes, at + 2 + 12 * count, big).map(|n| n as usize);
        }
    }
    cost
}

/// Give a raw variant's header the standard TIFF magic, so an EXIF reader that knows only TIFF
/// walks its IFDs (ORF and RW2 keep the standard IFD layout behind their own magic).
pub fn standardise_magic(bytes: &mut [u8]) {
    if let Some((big, magic)) = header(bytes) {
        if magic != MAGIC_TIFF {
            let standard = if big {
                MAGIC_TIFF.to_be_bytes()
            } else {
                MAGIC_TIFF.to_le_bytes()
            };
            bytes[2..4].copy_from_slice(&standard);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A little-endian TIFF block whose IFD0 holds `entries` ASCII entries, each covering the
    /// same `fill` zero bytes (found by fuzzing: 38 such entries in a 160 kB raw took 40 MB and
    /// 0.4 s; the cost grows with entries × size).
    pub(crate) fn entries_covering_the_block(entries: u16, fill: u32) -> Vec<u8> {
        let data_at = 8 + 2 + 12 * u32::from(entries) + 4;
        let mut b = b"II*\0\x08\0\0\0".to_vec();
        b.extend(entries.to_le_bytes());
        for i in 0..entries {
            b.extend((0x1000 + i).to_le_bytes());
            b.extend(2u16.to_le_bytes());
            b.extend(fill.to_le_bytes());
            b.extend(data_at.to_le_bytes());
        }
        b.extend(0u32.to_le_bytes());
        b.resize((data_at + fill) as usize, 0);
        b
    }

    #[test]
    fn the_exif_parse_cost_counts_every_entry_covering_the_block() {
        let bomb = entries_covering_the_block(400, 48 * 1024);
        assert_eq!(
            exif_parse_cost(&bomb),
            400 * (48 + 24 * 48 * 1024),
            "each ASCII byte may become a string of its own"
        );
        assert!(exif_parse_cost(&bomb) > super::super::photo::EXIF_PARSE_BUDGET);
        // A value pointing past the block is refused by the parser: not counted.
        let mut truncated = entries_covering_the_block(1, 64);
        truncated.truncate(truncated.len() - 1);
        assert_eq!(exif_parse_cost(&truncated), 48);
        // Not a TIFF structure: nothing to parse.
        assert_eq!(exif_parse_cost(b"\xff\xd8\xff"), 0);
    }

    #[test]
    fn raw_variants_are_tiff_like_by_their_magic() {
        assert!(is_tiff_like(b"II*\0\x08\0\0\0"));
        assert!(is_tiff_like(b"MM\0*\0\0\0\x08"));
        assert_eq!(
            media_type_of_magic(b"IIRO\x08\0\0\0"),
            Some("image/x-olympus-orf")
        );
        assert_eq!(
            media_type_of_magic(b"IIRS\x08\0\0\0"),
            Some("image/x-olympus-orf")
        );
        assert_eq!(
            media_type_of_magic(b"MMOR\0\0\0\x08"),
            Some("image/x-olympus-orf")
        );
        assert_eq!(
            media_type_of_magic(b"IIU\0\x08\0\0\0"),
            Some("image/x-panasonic-rw2")
        );
        assert!(
            !is_tiff_like(b"II+\0\x10\0\0\0"),
            "BigTIFF is not read here"
        );
        assert!(!is_tiff_like(b"IIxx"));
        assert!(!is_tiff_like(b"I"));
    }

    #[test]
    fn a_loop_of_ifds_and_absurd_counts_end() {
        // IFD0 at 8 with 0xFFFF entries claimed and its next-IFD pointer back to itself.
        let mut b = b"II*\0\x08\0\0\0\xff\xff".to_vec();
        b.extend_from_slice(&[0u8; 64]);
        assert!(matches!(
            layout(&b),
            Err(ParseError::Malformed("TIFF IFD0"))
        ));
        let mut looped = b"II*\0\x08\0\0\0\x00\x00".to_vec();
        looped.extend_from_slice(&8u32.to_le_bytes());
        let l = layout(&looped).unwrap();
        assert_eq!(l.media_type, "image/tiff");
        assert!(!l.raw);
        assert!(matches!(
            layout(b"II*\0\xff\xff\0\0"),
            Err(ParseError::Malformed("TIFF IFD0"))
        ));
    }

    #[test]
    fn standardising_the_magic_keeps_the_byte_order() {
        let mut orf = b"IIRO\x08\0\0\0".to_vec();
        standardise_magic(&mut orf);
        assert_eq!(&orf[..4], b"II*\0");
        let mut orf_be = b"MMOR\0\0\0\x08".to_vec();
        standardise_magic(&mut orf_be);
        assert_eq!(&orf_be[..4], b"MM\0*");
        let mut rw2 = b"IIU\0\x08\0\0\0".to_vec();
        standardise_magic(&mut rw2);
        assert_eq!(&rw2[..4], b"II*\0");
    }
}
