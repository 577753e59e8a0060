//! What a media file is, read from its bytes: kind, sniffed type, dimensions, and whether it is
//! readable at all (MEDIA_UNREADABLE). Capture time and GPS come from the submodules.
//!
//! Pure: works on any `Read + Seek` (a file the caller opened, or bytes in memory); never opens a
//! file or the network itself.
//!
//! # Layout
//! - `sniff`: media type from magic bytes, and its kind.

mod sniff;

pub use sniff::{sniff, Sniffed};

use std::io::{Read, Seek, SeekFrom};

use chrono::{DateTime, Utc};
use serde::Serialize;

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
    /// Why the file is not usable evidence, when it is not (Vietnamese, for the citizen).
    pub unreadable: Option<String>,
}

/// Bytes read from the start of a file to sniff its type.
pub const SNIFF_LEN: usize = 8192;

/// Inspect one media file. `claimed` is the media type the sender declared, if any.
pub fn inspect<R: Read + Seek>(reader: &mut R, claimed: Option<&str>) -> MediaInfo {
    let mut head = Vec::with_capacity(SNIFF_LEN);
    if let Err(e) = reader.by_ref().take(SNIFF_LEN as u64).read_to_end(&mut head) {
        return unreadable("application/octet-stream", None, format!("lỗi đọc tệp ({e})"));
    }
    if head.is_empty() {
        return unreadable("application/octet-stream", None, "tệp rỗng".into());
    }
    let sniffed = sniff(&head);
    let mut info = MediaInfo {
        kind: sniffed.kind,
        media_type: sniffed.media_type.to_string(),
        ..MediaInfo::default()
    };
    let Some(kind) = sniffed.kind else {
        info.unreadable = Some("không nhận ra định dạng tệp".into());
        return info;
    };
    if let Some(claimed_kind) = claimed.and_then(kind_of_claimed_type) {
        if claimed_kind != kind && kind != MediaKind::Document {
            info.unreadable = Some(format!(
                "tệp được gửi là {} nhưng nội dung là {}",
                kind_vi(claimed_kind),
                kind_vi(kind)
            ));
            return info;
        }
    }
    if kind == MediaKind::Photo {
        if reader.seek(SeekFrom::Start(0)).is_err() {
            info.unreadable = Some("lỗi đọc tệp".into());
            return info;
        }
        match image_dimensions(reader, sniffed.media_type) {
            Ok(Some((w, h))) => {
                info.width = Some(w);
                info.height = Some(h);
            }
            Ok(None) => {}
            Err(why) => info.unreadable = Some(why),
        }
    }
    info
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
        Ok(_) => Err("ảnh không có kích thước".into()),
        Err(_) => Err("tệp ảnh bị hỏng hoặc không đúng định dạng".into()),
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

fn kind_vi(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Photo => "ảnh",
        MediaKind::Video => "video",
        MediaKind::Audio => "ghi âm",
        MediaKind::Document => "tài liệu",
    }
}

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
        let info = inspect(&mut Cursor::new(b"hello, not a photo".to_vec()), Some("image/jpeg"));
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
