//! What exactly is wrong with a photo, recording or video: why it cannot be read
//! (MEDIA_UNREADABLE, the cause [`crate::media::inspect`] records) and how old it is (MEDIA_STALE).

use std::fmt::Display;

use chrono::{DateTime, FixedOffset, Utc};

use super::describe_file;
use crate::report::MediaKind;

/// The file could not be read at all.
pub const FILE_NOT_READ: &str = "lỗi đọc tệp";

/// The receiver could not open the file it had stored (the cause is in its log).
pub const FILE_NOT_OPENED: &str = "không đọc được tệp";

/// The file has no bytes.
pub const FILE_EMPTY: &str = "tệp rỗng";

/// The first bytes match no known media format.
pub const FORMAT_UNKNOWN: &str = "không nhận ra định dạng tệp";

/// An image header that decodes to a zero width or height.
pub const PHOTO_WITHOUT_SIZE: &str = "ảnh không có kích thước";

/// The file could not be read, with the reader's cause.
pub fn file_read_error(cause: impl Display) -> String {
    format!("{FILE_NOT_READ} ({cause})")
}

/// The sender declared one kind of medium and the bytes are another.
pub fn kind_mismatch(claimed: MediaKind, actual: MediaKind) -> String {
    format!(
        "tệp được gửi là {} nhưng nội dung là {}",
        kind_name(claimed),
        kind_name(actual)
    )
}

/// The file starts like a medium of `kind` but its structure does not parse.
pub fn broken_file(kind: MediaKind) -> String {
    let what = match kind {
        MediaKind::Photo => "ảnh",
        MediaKind::Video => "video",
        MediaKind::Audio | MediaKind::Document => "ghi âm",
    };
    format!("tệp {what} bị hỏng hoặc không đúng định dạng")
}

fn kind_name(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Photo => "ảnh",
        MediaKind::Video => "video",
        MediaKind::Audio => "ghi âm",
        MediaKind::Document => "tài liệu",
    }
}

/// An instant as the citizen reads it: `08:00 ngày 25/11/2026`, in Asia/Ho_Chi_Minh (UTC+7).
pub fn local_time_vi(at: DateTime<Utc>) -> String {
    match FixedOffset::east_opt(7 * 3600) {
        Some(zone) => at
            .with_timezone(&zone)
            .format("%H:%M ngày %d/%m/%Y")
            .to_string(),
        None => at.format("%H:%M ngày %d/%m/%Y (UTC)").to_string(),
    }
}

/// One medium captured more than `hours` before the submission.
pub fn media_stale_file(
    index: usize,
    name: Option<&str>,
    captured_at: DateTime<Utc>,
    hours: i64,
) -> String {
    let which = capitalise(&describe_file(index, name));
    let when = local_time_vi(captured_at);
    format!(
        "{which} được ghi lại lúc {when}, cách thời điểm gửi hơn {hours} giờ. Quy chế yêu cầu hình ảnh, ghi âm, video ghi lại trong vòng {hours} giờ trước khi gửi: vui lòng chụp ảnh hoặc quay video mới tại hiện trường."
    )
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn unreadable_causes_name_the_kind_of_medium() {
        assert_eq!(
            broken_file(MediaKind::Photo),
            "tệp ảnh bị hỏng hoặc không đúng định dạng"
        );
        assert_eq!(
            broken_file(MediaKind::Audio),
            "tệp ghi âm bị hỏng hoặc không đúng định dạng"
        );
        assert_eq!(
            kind_mismatch(MediaKind::Video, MediaKind::Photo),
            "tệp được gửi là video nhưng nội dung là ảnh"
        );
        assert_eq!(file_read_error("eof"), "lỗi đọc tệp (eof)");
    }

    #[test]
    fn stale_message_names_the_file_and_its_local_time() {
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 1, 0, 0).unwrap();
        let text = media_stale_file(1, Some("ống cống.jpg"), at, 48);
        assert!(
            text.starts_with("Tệp đính kèm thứ 2 (\"ống cống.jpg\")"),
            "{text}"
        );
        assert!(text.contains("08:00 ngày 25/11/2026"), "{text}");
        assert!(text.contains("48 giờ"), "{text}");
    }
}
