//! Perceptual hash of photos (64-bit difference hash, dHash) for near-duplicate media (Đ7.3).
//!
//! Two photos of the same scene that were re-encoded by a messenger, resized or recompressed
//! differ in every byte (their sha256 differ) but keep the same coarse brightness layout. The
//! dHash records that layout: the picture is reduced to 9×8 grey cells, and each of the 64 bits
//! says whether a cell is brighter than its right neighbour. The Hamming distance between two
//! hashes measures how different two pictures look. Measured on the real photos of
//! `corpus/exif`: each of 59 photos resized to 1280 px or to half size and recompressed (JPEG
//! quality 30 to 70) stayed within 6 bits of its original; among the 1485 pairs of the 55
//! distinctive ones, no two different pictures came closer than 10 bits (one pair at 6 is a
//! single picture stored as PNG and as WebP). Cropping moves the cells: a 95 % centre crop stays
//! within 6 bits for 46 photos of 59.
//!
//! Decoding is bounded (R-SEC-3): the header is read first and a picture of more than
//! [`MAX_PIXELS`] is refused before its pixels are decoded, so a small "decompression bomb"
//! cannot make the gateway allocate gigabytes. The EXIF orientation is applied, so a copy that a
//! messenger rotated physically hashes like the original.
//!
//! JPEG photos (nearly every phone photo) are decoded DCT-scaled: the inverse DCT of each 8×8
//! block is computed at 1/2, 1/4 or 1/8 size, the smallest that still leaves at least
//! [`SCALED_MIN_SIDE`] pixels on each side (more than the 288×256 the hash reduces to first). A
//! 48-megapixel baseline photo is decoded straight to 1000×750 pixels (2 MB instead of 192 MB),
//! and the hash is the same as from a full decode within a few bits. Progressive JPEGs still
//! keep their coefficients (2 bytes per pixel and component) while decoding; other formats are
//! decoded whole. [`decode_cost`] estimates those bytes so the caller can bound concurrent work.

use std::io::{BufReader, Read, Seek};

use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

/// Largest picture hashed: 50 megapixels (an 8K frame is 33 Mpx, a 48 Mpx phone sensor fits).
pub const MAX_PIXELS: u64 = 50_000_000;

/// Memory the decoder may use for one picture (the decoded RGBA buffer of [`MAX_PIXELS`] plus
/// headroom for the decoder's own buffers).
const MAX_DECODE_BYTES: u64 = MAX_PIXELS * 4 + 64 * 1024 * 1024;

/// Hashes with fewer set bits than this, or more than `64 - MIN_BITS`, describe an almost flat
/// or a plain gradient picture (a blank screenshot, a photo of the sky): every such picture hashes
/// alike, so they must not count as near-identical.
const MIN_BITS: u32 = 8;

/// The 64-bit dHash of the photo in `reader`, or `None` when it is not a picture the `image`
/// crate decodes (JPEG, PNG, WebP, GIF, TIFF; HEIC is not), is corrupt, or is larger than
/// [`MAX_PIXELS`].
pub fn phash<R: Read + Seek>(mut reader: R) -> Option<u64> {
    let start = reader.stream_position().ok()?;
    let mut magic = [0u8; 3];
    let is_jpeg = reader.read_exact(&mut magic).is_ok() && magic == [0xFF, 0xD8, 0xFF];
    reader.seek(std::io::SeekFrom::Start(start)).ok()?;
    let image = if is_jpeg {
        match decode_jpeg_scaled(&mut reader)? {
            Some(image) => image,
            None => {
                // A pixel format the scaled decoder does not hand out (CMYK, 16-bit).
                reader.seek(std::io::SeekFrom::Start(start)).ok()?;
                decode_bounded(reader)?
            }
        }
    } else {
        decode_bounded(reader)?
    };
    Some(dhash(&image))
}

/// Smallest side of a DCT-scaled decode: above the 288×256 the hash first reduces to, so the
/// hash of a scaled decode matches the hash of a full one.
pub const SCALED_MIN_SIDE: u32 = 288;

/// Bytes a [`phash`] of this picture holds at its peak, estimated from its header (`None` when
/// the header is not a picture [`phash`] decodes). A baseline JPEG costs its scaled decode, a
/// progressive one its coefficients, other formats their decoded RGBA pixels.
pub fn decode_cost<R: Read + Seek>(mut reader: R) -> Option<u64> {
    let start = reader.stream_position().ok()?;
    let mut magic = [0u8; 3];
    let is_jpeg = reader.read_exact(&mut magic).is_ok() && magic == [0xFF, 0xD8, 0xFF];
    reader.seek(std::io::SeekFrom::Start(start)).ok()?;
    if is_jpeg {
        let mut decoder = jpeg_decoder::Decoder::new(BufReader::new(reader));
        decoder.read_info().ok()?;
        let info = decoder.info()?;
        let (w, h) = (u64::from(info.width), u64::from(info.height));
        let pixels = w * h;
        let components = info.pixel_format.pixel_bytes().min(4) as u64;
        let scaled = matches!(
            info.pixel_format,
            jpeg_decoder::PixelFormat::L8 | jpeg_decoder::PixelFormat::RGB24
        );
        return Some(match info.coding_process {
            // Left to the full decoder (see `phash`).
            _ if !scaled => pixels * 4,
            jpeg_decoder::CodingProcess::DctProgressive => pixels * components * 2,
            _ => {
                let s = u64::from(jpeg_scale(info.width.into(), info.height.into()));
                // Scaled output plus the decoder's planes and one row of MCUs.
                (w * s / 8 + 1) * (h * s / 8 + 1) * components * 3 + w * 16 * components
            }
        });
    }
    let reader = ImageReader::new(BufReader::new(reader))
        .with_guessed_format()
        .ok()?;
    let (w, h) = reader.into_dimensions().ok()?;
    Some(u64::from(w) * u64::from(h) * 4)
}

/// The IDCT size (out of 8) of a scaled decode of a `width`×`height` JPEG: the smallest that
/// keeps both sides at least [`SCALED_MIN_SIDE`] (8 = full size).
fn jpeg_scale(width: u32, height: u32) -> u32 {
    let scaled = |len: u32, s: u32| (len * s).div_ceil(8);
    [1, 2, 4]
        .into_iter()
        .find(|&s| scaled(width, s) >= SCALED_MIN_SIDE && scaled(height, s) >= SCALED_MIN_SIDE)
        .unwrap_or(8)
}

/// A DCT-scaled decode of a JPEG with its EXIF orientation applied. `None` when it is not a
/// decodable JPEG within [`MAX_PIXELS`]; `Some(None)` for pixel formats left to the full decoder.
fn decode_jpeg_scaled<R: Read>(reader: R) -> Option<Option<DynamicImage>> {
    let mut decoder = jpeg_decoder::Decoder::new(BufReader::new(reader));
    decoder.read_info().ok()?;
    let info = decoder.info()?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    if width == 0 || height == 0 || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return None;
    }
    let format = info.pixel_format;
    if !matches!(
        format,
        jpeg_decoder::PixelFormat::L8 | jpeg_decoder::PixelFormat::RGB24
    ) {
        return Some(None);
    }
    let orientation = decoder
        .exif_data()
        .and_then(image::metadata::Orientation::from_exif_chunk);
    let s = jpeg_scale(width, height);
    let (w, h) = ((width * s).div_ceil(8), (height * s).div_ceil(8));
    let (w, h) = decoder.scale(w as u16, h as u16).ok()?;
    decoder.set_max_decoding_buffer_size(MAX_DECODE_BYTES as usize);
    let pixels = decoder.decode().ok()?;
    let (w, h) = (u32::from(w), u32::from(h));
    let mut image = match format {
        jpeg_decoder::PixelFormat::L8 => {
            DynamicImage::ImageLuma8(image::GrayImage::from_raw(w, h, pixels)?)
        }
        _ => DynamicImage::ImageRgb8(image::RgbImage::from_raw(w, h, pixels)?),
    };
    if let Some(orientation) = orientation {
        image.apply_orientation(orientation);
    }
    Some(Some(image))
}

/// Number of bits in which two hashes differ (0 = identical look, 64 = opposite).
pub fn hamming(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

/// Whether a hash says enough about a picture to compare it: not a flat image or a plain
/// gradient, which all hash alike.
pub fn is_distinctive(hash: u64) -> bool {
    let ones = hash.count_ones();
    (MIN_BITS..=64 - MIN_BITS).contains(&ones)
}

/// The dHash of an already decoded picture.
pub fn dhash(image: &DynamicImage) -> u64 {
    // A fast box reduction to at most 288×256 first, then a triangle filter down to the 9×8
    // cells: a box reduction straight to 9×8 aliases when the size is not a multiple of the
    // cells, and a half-size copy then lands up to 16 bits away (measured on corpus/exif).
    let (width, height) = (image.width().min(288), image.height().min(256));
    let cells = image
        .thumbnail_exact(width, height)
        .resize_exact(9, 8, FilterType::Triangle)
        .to_luma8();
    let mut hash = 0u64;
    for y in 0..8 {
        for x in 0..8 {
            let left = cells.get_pixel(x, y).0[0];
            let right = cells.get_pixel(x + 1, y).0[0];
            hash = (hash << 1) | u64::from(left > right);
        }
    }
    hash
}

fn decode_bounded<R: Read + Seek>(reader: R) -> Option<DynamicImage> {
    let reader = ImageReader::new(BufReader::new(reader))
        .with_guessed_format()
        .ok()?;
    let supported = matches!(
        reader.format()?,
        ImageFormat::Jpeg
            | ImageFormat::Png
            | ImageFormat::WebP
            | ImageFormat::Gif
            | ImageFormat::Tiff
    );
    if !supported {
        return None;
    }
    let mut reader = reader;
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    // The decoder has read only the header here: refuse a bomb before its pixels are decoded.
    let mut decoder = reader.into_decoder().ok()?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return None;
    }
    let orientation = decoder.orientation().ok();
    let mut image = DynamicImage::from_decoder(decoder).ok()?;
    if let Some(orientation) = orientation {
        image.apply_orientation(orientation);
    }
    Some(image)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use image::{imageops::FilterType, ImageEncoder, Rgb, RgbImage};
    use std::io::Cursor;

    /// A deterministic "photo": overlapping discs and bars of varied brightness on a textured
    /// background, different for every seed, 640×480.
    pub(crate) fn scene(seed: u64) -> RgbImage {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (w, h) = (640u32, 480u32);
        let mut img = RgbImage::from_fn(w, h, |x, y| {
            let v = ((x / 7 + y / 5) % 23) as u8 * 3 + 60;
            Rgb([v, v.saturating_add(10), v / 2 + 40])
        });
        for _ in 0..14 {
            let cx = (next() % u64::from(w)) as i64;
            let cy = (next() % u64::from(h)) as i64;
            let r = (next() % 140 + 30) as i64;
            let colour = Rgb([next() as u8, next() as u8, next() as u8]);
            let bar = next() % 3 == 0;
            for y in (cy - r).max(0)..(cy + r).min(i64::from(h)) {
                for x in (cx - r).max(0)..(cx + r).min(i64::from(w)) {
                    let inside = bar || (x - cx).pow(2) + (y - cy).pow(2) <= r * r;
                    if inside {
                        img.put_pixel(x as u32, y as u32, colour);
                    }
                }
            }
        }
        img
    }

    pub(crate) fn jpeg(img: &RgbImage, quality: u8) -> Vec<u8> {
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
            .write_image(
                img,
                img.width(),
                img.height(),
                image::ExtendedColorType::Rgb8,
            )
            .unwrap();
        out
    }

    fn encoded(img: &RgbImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    fn hash_of(bytes: Vec<u8>) -> u64 {
        phash(Cursor::new(bytes)).expect("decodable")
    }

    #[test]
    fn a_recompressed_and_resized_copy_is_near_identical() {
        let original = scene(1);
        let reference = hash_of(jpeg(&original, 92));
        assert!(is_distinctive(reference), "{reference:064b}");
        let half = image::imageops::resize(&original, 320, 240, FilterType::Triangle);
        let thumb = image::imageops::resize(&original, 160, 120, FilterType::Nearest);
        let variants = [
            ("jpeg q35", hash_of(jpeg(&original, 35))),
            ("png", hash_of(encoded(&original, ImageFormat::Png))),
            (
                "webp lossless",
                hash_of(encoded(&original, ImageFormat::WebP)),
            ),
            ("gif", hash_of(encoded(&original, ImageFormat::Gif))),
            ("tiff", hash_of(encoded(&original, ImageFormat::Tiff))),
            ("half size q60", hash_of(jpeg(&half, 60))),
            ("thumbnail", hash_of(jpeg(&thumb, 80))),
        ];
        for (what, hash) in variants {
            let d = hamming(reference, hash);
            assert!(d <= 6, "{what}: distance {d}");
        }
    }

    #[test]
    fn different_photos_are_far_apart() {
        let hashes: Vec<u64> = (1..=12)
            .map(|seed| hash_of(jpeg(&scene(seed), 85)))
            .collect();
        for (i, a) in hashes.iter().enumerate() {
            for b in &hashes[i + 1..] {
                assert!(hamming(*a, *b) > 10, "{a:016x} vs {b:016x}");
            }
        }
    }

    #[test]
    fn a_brightened_copy_keeps_its_hash_but_a_mirrored_one_does_not() {
        let original = scene(3);
        let reference = hash_of(jpeg(&original, 90));
        let mut brighter = original.clone();
        for p in brighter.pixels_mut() {
            p.0 = p.0.map(|c| c.saturating_add(25));
        }
        assert!(hamming(reference, hash_of(jpeg(&brighter, 90))) <= 6);
        let mirrored = image::imageops::flip_horizontal(&original);
        assert!(hamming(reference, hash_of(jpeg(&mirrored, 90))) > 10);
    }

    #[test]
    fn the_exif_orientation_is_applied_before_hashing() {
        // A phone stores the sensor's pixels and says "rotate 90°" in EXIF; a messenger sends
        // the pixels already rotated. Both must hash alike.
        let upright = scene(5);
        let sensor = image::imageops::rotate270(&upright);
        let mut with_tag = jpeg(&sensor, 90);
        // APP1 Exif segment, big-endian TIFF, one IFD0 entry: Orientation (0x0112) = 6.
        let tiff: [u8; 26] = [
            b'M', b'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0,
            0,
        ];
        let mut app1 = vec![0xFF, 0xE1];
        let len = (2 + 6 + tiff.len()) as u16;
        app1.extend_from_slice(&len.to_be_bytes());
        app1.extend_from_slice(b"Exif\0\0");
        app1.extend_from_slice(&tiff);
        with_tag.splice(2..2, app1);
        let rotated_by_tag = hash_of(with_tag);
        let upright_hash = hash_of(jpeg(&upright, 90));
        assert!(hamming(rotated_by_tag, upright_hash) <= 6);
        assert!(hamming(hash_of(jpeg(&sensor, 90)), upright_hash) > 10);
    }

    #[test]
    fn a_large_jpeg_is_hashed_from_a_scaled_decode_like_from_a_full_one() {
        // 2560×1920 decodes at 1/4 (640×480): ≥ SCALED_MIN_SIDE on each side.
        assert_eq!(jpeg_scale(2560, 1920), 2);
        assert_eq!(jpeg_scale(8000, 6000), 1);
        assert_eq!(jpeg_scale(640, 480), 8);
        assert_eq!(jpeg_scale(4000, 400), 8);
        for seed in [1, 4, 7] {
            let big = image::imageops::resize(&scene(seed), 2560, 1920, FilterType::Triangle);
            let bytes = jpeg(&big, 90);
            let scaled = hash_of(bytes.clone());
            let full = dhash(&decode_bounded(Cursor::new(bytes.clone())).unwrap());
            assert!(
                hamming(scaled, full) <= 3,
                "seed {seed}: {scaled:016x} vs {full:016x}"
            );
            // The decode held at most a quarter of the side: ~1/16 of the full pixels.
            let cost = decode_cost(Cursor::new(bytes)).unwrap();
            assert!(cost < 2560 * 1920 * 3 / 4, "{cost}");
            let small = hash_of(jpeg(&scene(seed), 90));
            assert!(hamming(scaled, small) <= 6, "seed {seed}: resized copy");
        }
    }

    #[test]
    fn flat_pictures_and_gradients_are_not_distinctive() {
        let flat = RgbImage::from_pixel(200, 100, Rgb([90, 90, 90]));
        assert!(!is_distinctive(hash_of(jpeg(&flat, 90))));
        // The committed media fixtures are small colour gradients.
        let fixture = include_bytes!("../../../fixtures/media/photo-2h-before.jpg");
        assert!(!is_distinctive(hash_of(fixture.to_vec())));
        assert!(is_distinctive(hash_of(jpeg(&scene(9), 90))));
    }

    #[test]
    fn a_decompression_bomb_is_refused_before_decoding() {
        // A PNG whose header claims 10 000 × 10 000 pixels (100 Mpx) with almost no data.
        let mut png = Vec::new();
        png.extend_from_slice(b"\x89PNG\r\n\x1a\n");
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&10_000u32.to_be_bytes());
        ihdr.extend_from_slice(&10_000u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        png.extend_from_slice(&(ihdr.len() as u32).to_be_bytes());
        let mut chunk = b"IHDR".to_vec();
        chunk.extend_from_slice(&ihdr);
        png.extend_from_slice(&chunk);
        png.extend_from_slice(&crc32(&chunk).to_be_bytes());
        assert_eq!(phash(Cursor::new(png)), None);
    }

    #[test]
    fn what_is_not_a_decodable_picture_has_no_hash() {
        assert_eq!(phash(Cursor::new(b"not a picture at all".to_vec())), None);
        let mut truncated = jpeg(&scene(2), 90);
        truncated.truncate(200);
        assert_eq!(phash(Cursor::new(truncated)), None);
        let heic = include_bytes!("../../../fixtures/media/photo-2h-before.heic");
        assert_eq!(phash(Cursor::new(heic.to_vec())), None);
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
}
