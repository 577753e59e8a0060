//! Every sentence the Zalo OA and the mini app say to the citizen, in Vietnamese.
//!
//! The OA sends plain text (at most 2,000 characters per message, ZALO.md §2); messages are kept
//! short and end with what the citizen should do next.

use normalizers::report::{Coordinates, MediaKind};
use normalizers::zalo::{Refusal, Step};

/// Zalo refuses texts longer than this (characters).
pub const MAX_TEXT_CHARS: usize = 2_000;

pub const WELCOME: &str =
    "Xin chào! Đây là kênh tiếp nhận phản ánh hiện trường Hệ thống 1022 tỉnh Long An. \
Để gửi phản ánh, bạn hãy gửi lần lượt: (1) nội dung sự việc bằng tiếng Việt có dấu, \
(2) ít nhất một hình ảnh hoặc video chụp tại hiện trường, (3) vị trí hoặc địa chỉ nơi xảy ra, \
(4) họ tên và số điện thoại của bạn. Gõ \"Hủy\" để hủy, \"Làm lại\" để bắt đầu lại.";

pub const NOT_READY: &str =
    "Phản ánh của bạn chưa đủ thông tin để gửi. Vui lòng bổ sung phần còn thiếu dưới đây.";

/// The gateway failed on its side (a bug, not the citizen's message): the report was not taken.
pub const NOT_TAKEN: &str = "Xin lỗi, hệ thống gặp lỗi kỹ thuật nên chưa tiếp nhận được phản ánh của bạn. Vui lòng gửi lại phản ánh sau ít phút.";

pub const CANCELLED: &str =
    "Đã hủy phản ánh đang soạn. Khi cần, bạn có thể gửi phản ánh mới bất cứ lúc nào.";

pub const RESTARTED: &str = "Đã xóa phản ánh đang soạn. Chúng ta bắt đầu lại.";

pub const EXPIRED: &str = "Phản ánh bạn soạn trước đó đã quá thời gian chờ nên đã bị hủy. \
Tin nhắn vừa rồi được dùng để bắt đầu một phản ánh mới.";

pub const DRAFT_FULL: &str =
    "Phản ánh đã có quá nhiều tin nhắn hoặc tệp đính kèm. Vui lòng gõ \"Gửi\" để gửi hoặc \"Làm lại\" để soạn lại.";

pub const UNSUPPORTED: &str =
    "Hệ thống chưa dùng được loại tin nhắn này cho phản ánh (nhãn dán, liên kết…). \
Vui lòng gửi nội dung bằng chữ, hình ảnh, video, ghi âm hoặc vị trí.";

pub const SUBMIT_FAILED: &str = "Hệ thống đang bận nên chưa lưu được phản ánh của bạn. \
Vui lòng gõ \"Gửi\" lại sau ít phút; các thông tin bạn đã gửi vẫn được giữ.";

/// Past the rate limit of one Zalo user (R-SEC-4): said once per window; what the citizen
/// sends meanwhile is not taken.
pub fn rate_limited(retry_after_secs: u64) -> String {
    format!(
        "Bạn đã gửi quá nhiều tin nhắn trong thời gian ngắn nên các tin nhắn tiếp theo tạm thời \
chưa được tiếp nhận. Vui lòng gửi lại sau {}. Nếu sự việc khẩn cấp, vui lòng gọi Tổng đài 0272.1022.",
        super::wait(retry_after_secs)
    )
}

/// Past the rate limit of the mini app (one Zalo user or one address): the report was not taken.
pub fn miniapp_rate_limited(retry_after_secs: u64) -> String {
    format!(
        "Bạn đã gửi quá nhiều phản ánh trong thời gian ngắn nên phản ánh này chưa được tiếp nhận. \
Vui lòng gửi lại sau {}.",
        super::wait(retry_after_secs)
    )
}

/// Title of the `request_user_info` form (≤ 100 characters).
pub const REQUEST_INFO_TITLE: &str = "Thông tin người phản ánh";

/// Subtitle of the `request_user_info` form (≤ 500 characters).
pub const REQUEST_INFO_SUBTITLE: &str = "Theo Quy chế 1022, phản ánh cần họ tên và số điện thoại của người gửi để cơ quan chức năng liên hệ khi cần. Bấm vào đây để chia sẻ.";

/// The question for a missing part of the report.
pub fn ask(step: Step) -> &'static str {
    match step {
        Step::Description => "Bạn vui lòng mô tả sự việc: việc gì, ở đâu, xảy ra lúc nào. Vui lòng viết tiếng Việt có dấu, không viết tắt.",
        Step::Media => "Bạn vui lòng gửi ít nhất một hình ảnh, video hoặc đoạn ghi âm chụp/ghi tại hiện trường trong vòng 48 giờ.",
        Step::Location => "Sự việc xảy ra ở đâu? Bạn vui lòng chia sẻ vị trí (bấm dấu + rồi chọn Vị trí) hoặc gõ địa chỉ cụ thể: số nhà, tên đường, ấp/khu phố, xã/phường.",
        Step::Time => "Sự việc xảy ra lúc nào? Bạn vui lòng cho biết thời gian, ví dụ: \"khoảng 7 giờ tối qua\" hoặc \"sáng nay lúc 6 giờ\".",
        Step::Contact => "Bạn vui lòng cho biết họ tên và số điện thoại bằng cách bấm vào biểu mẫu bên dưới, hoặc gõ theo mẫu: Nguyễn Văn A 0912 345 678.",
    }
}

/// The part of a report a step is about, as a noun for a list.
fn part(step: Step) -> &'static str {
    match step {
        Step::Description => "nội dung sự việc",
        Step::Media => "hình ảnh, video hoặc ghi âm tại hiện trường",
        Step::Location => "vị trí hoặc địa chỉ nơi xảy ra",
        Step::Time => "thời gian xảy ra",
        Step::Contact => "họ tên và số điện thoại",
    }
}

/// The event was taken and the report still lacks these parts (in order); the first is what
/// the citizen should send next.
pub fn still_missing(missing: &[Step]) -> String {
    let parts: Vec<&str> = missing.iter().map(|s| part(*s)).collect();
    match parts.as_slice() {
        [] => "Đã nhận thông tin của bạn.".to_string(),
        [only] => format!("Đã nhận thông tin của bạn. Phản ánh còn thiếu {only}."),
        [first, ..] => format!(
            "Đã nhận thông tin của bạn. Phản ánh còn thiếu: {}. Bạn vui lòng gửi tiếp {first}.",
            parts.join("; ")
        ),
    }
}

/// How long ago, in the largest whole unit ("3 ngày", "5 giờ").
fn age(d: chrono::Duration) -> String {
    if d.num_days() >= 1 {
        format!("{} ngày", d.num_days())
    } else if d.num_hours() >= 1 {
        format!("{} giờ", d.num_hours())
    } else {
        format!("{} phút", d.num_minutes().max(1))
    }
}

/// A medium the citizen just sent cannot be evidence; it was not kept.
pub fn media_refused(refusal: &Refusal) -> String {
    match refusal {
        Refusal::Stale { kind, age: a } => {
            let (this, new) = match kind {
                MediaKind::Video => ("Video này quay", "video quay mới"),
                MediaKind::Audio => ("Đoạn ghi âm này ghi", "đoạn ghi âm mới"),
                MediaKind::Photo | MediaKind::Document => ("Ảnh này chụp", "ảnh chụp mới"),
            };
            format!(
                "{this} cách đây {}, vui lòng gửi {new}. Theo Quy chế 1022, hình ảnh, video, ghi âm phải được ghi lại trong vòng 48 giờ.",
                age(*a)
            )
        }
        Refusal::Unreadable(why) => truncate(format!(
            "Tệp bạn vừa gửi không dùng được làm bằng chứng: {why} Vui lòng gửi hình ảnh, video hoặc ghi âm khác."
        )),
    }
}

/// What to fix, with the validator's own messages.
pub fn fix(step: Step, messages: &[String]) -> String {
    let lead = match step {
        Step::Description => "Nội dung phản ánh cần sửa lại:",
        Step::Media => "Hình ảnh, video chưa đạt yêu cầu:",
        Step::Location => "Địa điểm chưa rõ:",
        Step::Time => "Thời gian xảy ra chưa rõ:",
        Step::Contact => "Thông tin liên hệ chưa đầy đủ:",
    };
    let mut out = String::from(lead);
    for m in messages {
        out.push_str("\n- ");
        out.push_str(m);
    }
    if step == Step::Description {
        out.push_str("\nVui lòng gửi lại toàn bộ nội dung đã sửa trong một tin nhắn.");
    }
    truncate(out)
}

/// The summary shown before confirmation.
pub fn summary(
    description: &str,
    media: usize,
    coordinates: Option<Coordinates>,
    address: Option<&str>,
    name: Option<&str>,
    phone: Option<&str>,
    notes: &[String],
) -> String {
    let mut place = Vec::new();
    if let Some(a) = address {
        place.push(a.to_string());
    }
    if let Some(c) = coordinates {
        place.push(format!("vị trí {:.6}, {:.6}", c.lat, c.lon));
    }
    let short: String = description.chars().take(600).collect();
    let ellipsis = if description.chars().count() > 600 {
        "…"
    } else {
        ""
    };
    let mut out = format!(
        "Tóm tắt phản ánh của bạn:\n- Nội dung: {short}{ellipsis}\n- Hình ảnh, video, ghi âm: {media} tệp\n- Địa điểm: {}\n- Người phản ánh: {} – {}",
        if place.is_empty() { "chưa có".to_string() } else { place.join("; ") },
        name.unwrap_or("chưa có"),
        phone.map(display_phone).unwrap_or_else(|| "chưa có".into()),
    );
    if !notes.is_empty() {
        out.push_str("\nLưu ý:");
        for n in notes {
            out.push_str("\n- ");
            out.push_str(n);
        }
    }
    out.push_str(
        "\nGõ \"Gửi\" để gửi phản ánh, \"Hủy\" để hủy, hoặc gửi thêm thông tin để bổ sung.",
    );
    truncate(out)
}

/// The report was queued for the IOC.
pub fn accepted(tracking_code: &str) -> String {
    format!(
        "Phản ánh của bạn đã được tiếp nhận. Mã phản ánh: {tracking_code}. \
Trung tâm IOC sẽ xem xét và chuyển đến cơ quan có thẩm quyền trong vòng 4 giờ làm việc; \
kết quả xử lý sẽ được thông báo qua kênh này. Vui lòng giữ mã phản ánh để tra cứu."
    )
}

/// The report was rejected by the checks: every reason.
pub fn rejected(tracking_code: &str, reasons: &[String]) -> String {
    let mut out =
        format!("Phản ánh (mã {tracking_code}) chưa được tiếp nhận vì chưa đáp ứng Quy chế 1022:");
    for r in reasons {
        out.push_str("\n- ");
        out.push_str(r);
    }
    out.push_str("\nVui lòng bổ sung và gửi lại phản ánh.");
    truncate(out)
}

/// Some media could not be downloaded from Zalo.
pub fn media_failed(count: usize) -> String {
    format!("{count} tệp đính kèm không tải được từ Zalo (tệp quá lớn, đường dẫn đã hết hạn hoặc máy chủ Zalo không phản hồi) nên không được gửi kèm phản ánh.")
}

/// None of the photos, videos or recordings could be downloaded from Zalo: the report was not
/// sent, the draft is kept, and the citizen is asked to send the evidence again.
pub fn media_resend(count: usize) -> String {
    let what = if count == 1 {
        "Tệp hình ảnh, video hoặc ghi âm bạn đã gửi".to_string()
    } else {
        format!("{count} tệp hình ảnh, video hoặc ghi âm bạn đã gửi")
    };
    format!(
        "{what} không tải được từ Zalo (đường dẫn đã hết hạn hoặc máy chủ Zalo không phản hồi) \
nên phản ánh chưa được gửi. Theo Quy chế 1022, phản ánh cần có hình ảnh, video hoặc ghi âm về sự việc. \
Bạn vui lòng gửi lại ảnh hoặc video; các thông tin khác bạn đã gửi vẫn được giữ."
    )
}

/// `+84912345678` → `0912 345 678`, as Vietnamese people write it.
fn display_phone(p: &str) -> String {
    match p.strip_prefix("+84") {
        Some(rest) if rest.len() == 9 => {
            format!("0{} {} {}", &rest[..3], &rest[3..6], &rest[6..])
        }
        Some(rest) => format!("0{rest}"),
        None => p.to_string(),
    }
}

fn truncate(s: String) -> String {
    if s.chars().count() <= MAX_TEXT_CHARS {
        s
    } else {
        let mut t: String = s.chars().take(MAX_TEXT_CHARS - 1).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_fit_one_zalo_message() {
        let notes = vec!["ý".repeat(3000)];
        let s = summary("mô tả", 1, None, None, None, None, &notes);
        assert_eq!(s.chars().count(), MAX_TEXT_CHARS);
    }

    #[test]
    fn the_summary_shows_the_phone_as_written_in_vietnam() {
        let s = summary(
            "Đèn đường hỏng",
            2,
            None,
            Some("Ấp 3, xã Mỹ Yên"),
            Some("Nguyễn Văn An"),
            Some("+84912345678"),
            &[],
        );
        assert!(s.contains("0912 345 678"), "{s}");
        assert!(s.contains("2 tệp"));
        assert!(s.contains("\"Gửi\""));
    }
}
