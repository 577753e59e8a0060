//! Sentences the gateway itself shows to citizens (Vietnamese): API answers a client may relay,
//! and the note on a file the gateway could not read. The validator's sentences are in
//! `normalizers::messages`.

use crate::config::Limits;

/// An attachment the gateway could not open after receiving it.
pub const FILE_UNREADABLE: &str = "không đọc được tệp";

/// The gateway is shutting down.
pub const SHUTTING_DOWN: &str =
    "Hệ thống đang bảo trì trong giây lát. Vui lòng gửi lại sau ít phút.";

/// Storage is unavailable: nothing was stored.
pub const UNAVAILABLE: &str =
    "Hệ thống tạm thời không lưu được phản ánh. Vui lòng gửi lại sau ít phút.";

/// The files are too large or too many, with the configured limits.
pub fn too_large(limits: &Limits) -> String {
    let photo = megabytes(limits.photo_max_bytes);
    let audio = megabytes(limits.audio_max_bytes);
    let sizes = if photo == audio {
        format!("Ảnh và ghi âm tối đa {photo} MB")
    } else {
        format!("Ảnh tối đa {photo} MB, ghi âm tối đa {audio} MB")
    };
    format!(
        "Tệp gửi kèm quá lớn hoặc quá nhiều tệp. {sizes}, video tối đa {} MB, không quá {} tệp mỗi phản ánh.",
        megabytes(limits.video_max_bytes),
        limits.max_files
    )
}

/// Decimal megabytes, as people count them: `20`, `2,5` (Vietnamese decimal comma).
fn megabytes(bytes: u64) -> String {
    let tenths = (bytes + 50_000) / 100_000;
    match tenths % 10 {
        0 => (tenths / 10).to_string(),
        d => format!("{},{d}", tenths / 10),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_limits_read_as_before() {
        assert_eq!(
            too_large(&Limits::default()),
            "Tệp gửi kèm quá lớn hoặc quá nhiều tệp. Ảnh và ghi âm tối đa 20 MB, video tối đa 200 MB, không quá 10 tệp mỗi phản ánh."
        );
    }

    #[test]
    fn configured_limits_are_shown() {
        let limits = Limits {
            photo_max_bytes: 2_500_000,
            audio_max_bytes: 30_000_000,
            max_files: 3,
            ..Limits::default()
        };
        assert_eq!(
            too_large(&limits),
            "Tệp gửi kèm quá lớn hoặc quá nhiều tệp. Ảnh tối đa 2,5 MB, ghi âm tối đa 30 MB, video tối đa 200 MB, không quá 3 tệp mỗi phản ánh."
        );
    }
}
