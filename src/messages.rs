//! Sentences the gateway itself shows to citizens (Vietnamese): API answers a client may relay.
//! The validator's sentences, the causes of unreadable media included, are in
//! `normalizers::messages`.

use crate::config::Limits;

/// The gateway is shutting down.
pub const SHUTTING_DOWN: &str =
    "Hệ thống đang bảo trì trong giây lát. Vui lòng gửi lại sau ít phút.";

/// Storage is unavailable: nothing was stored.
pub const UNAVAILABLE: &str =
    "Hệ thống tạm thời không lưu được phản ánh. Vui lòng gửi lại sau ít phút.";

/// Too many reports from one sender, address or application in a short time (HTTP 429), with
/// how long to wait.
pub fn rate_limited(retry_after_secs: u64) -> String {
    format!(
        "Bạn đã gửi quá nhiều phản ánh trong thời gian ngắn. Vui lòng gửi lại sau {}.",
        channels::templates::wait(retry_after_secs)
    )
}

/// The files are too large or too many, with the configured limits.
pub fn too_large(limits: &Limits) -> String {
    let photo = size(limits.photo_max_bytes);
    let audio = size(limits.audio_max_bytes);
    let sizes = if photo == audio {
        format!("Ảnh và ghi âm tối đa {photo}")
    } else {
        format!("Ảnh tối đa {photo}, ghi âm tối đa {audio}")
    };
    format!(
        "Tệp gửi kèm quá lớn hoặc quá nhiều tệp. {sizes}, video tối đa {}, không quá {} tệp mỗi phản ánh.",
        size(limits.video_max_bytes),
        limits.max_files
    )
}

/// A size in decimal units as people count them (`20 MB`, `2,5 MB`, `500 byte`; Vietnamese
/// decimal comma), rounded down so that it never promises more than the limit.
fn size(bytes: u64) -> String {
    let Some((unit, name)) = [(1_000_000, "MB"), (1_000, "KB")]
        .into_iter()
        .find(|(unit, _)| bytes >= *unit)
    else {
        return format!("{bytes} byte");
    };
    let tenths = bytes * 10 / unit;
    match tenths % 10 {
        0 => format!("{} {name}", tenths / 10),
        d => format!("{},{d} {name}", tenths / 10),
    }
}

/// The `service_notice` of an Open311 request the gateway accepted: the tracking code to keep.
pub fn open311_notice(tracking_code: &str) -> String {
    format!(
        "Đã nhận phản ánh. Mã phản ánh của bạn là {tracking_code}; giữ mã này để tra cứu kết quả xử lý."
    )
}

/// Open311 attribute descriptions (service definitions).
pub const OPEN311_ATTR_OCCURRED_AT: &str = "Thời điểm xảy ra sự việc";
pub const OPEN311_ATTR_CONFIDENTIAL: &str = "Giữ bí mật kết quả xử lý (không công khai)";
pub const OPEN311_YES: &str = "Có";
pub const OPEN311_NO: &str = "Không";
/// The description of a service that stands for a whole field of Đ5.
pub fn open311_field_service(field_name: &str) -> String {
    format!("Các phản ánh khác thuộc lĩnh vực {field_name}")
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

    #[test]
    fn waits_are_rounded_up() {
        assert_eq!(
            rate_limited(30),
            "Bạn đã gửi quá nhiều phản ánh trong thời gian ngắn. Vui lòng gửi lại sau 30 giây."
        );
    }

    #[test]
    fn small_limits_are_not_rounded_up() {
        assert_eq!(size(500), "500 byte");
        assert_eq!(size(64_999), "64,9 KB");
        assert_eq!(size(1_999_999), "1,9 MB");
    }
}
