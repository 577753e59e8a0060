//! What exactly is wrong with the capture time of a photo, recording or video (MEDIA_STALE).

use chrono::{DateTime, FixedOffset, Utc};

use super::describe_file;

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
