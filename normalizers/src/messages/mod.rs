//! Every citizen-facing sentence of the validator, in Vietnamese, in one place.
//!
//! Each message says what is wrong and how to fix it. Checks call these; no check writes
//! Vietnamese inline. Areas with many messages have a submodule here.
//!
//! # Layout
//! - `conversation`: the names of the IOC's messages to the citizen.
//! - `geo`: what exactly is missing or wrong about the place (LOCATION_*).
//! - `media`: why a medium cannot be read (MEDIA_UNREADABLE causes), which medium is too old,
//!   with its capture time (MEDIA_STALE).
//! - `trail`: the citizen's tracking view of the processing trail (status names, labels).
//! - `text`: the description (no diacritics, abbreviations, language) and the Đ7 content rules.

pub mod conversation;
pub mod geo;
pub mod media;
pub mod text;
pub mod trail;

pub const CONTENT_MISSING: &str =
    "Phản ánh chưa có nội dung. Vui lòng mô tả sự việc bạn thấy: việc gì, ở đâu, vào lúc nào.";

pub const REPORTER_NAME_MISSING: &str =
    "Chưa có họ và tên người phản ánh. Vui lòng cho biết họ tên của bạn hoặc tên tổ chức của bạn.";

pub const REPORTER_CONTACT_MISSING: &str =
    "Chưa có số điện thoại hoặc địa chỉ thư điện tử hợp lệ để liên hệ. Vui lòng cung cấp số điện thoại (ví dụ 0912 345 678) hoặc địa chỉ thư điện tử (ví dụ ten@example.com).";

pub fn reporter_phone_invalid(given: &str) -> String {
    format!(
        "Số điện thoại \"{given}\" không phải là số điện thoại Việt Nam hợp lệ. Vui lòng nhập số di động 10 chữ số (ví dụ 0912 345 678) hoặc số cố định có mã vùng (ví dụ 0272 3 826 111)."
    )
}

pub fn reporter_email_invalid(given: &str) -> String {
    format!(
        "Địa chỉ thư điện tử \"{given}\" không hợp lệ. Vui lòng kiểm tra lại (ví dụ ten@example.com)."
    )
}

pub const MEDIA_MISSING: &str =
    "Phản ánh chưa có hình ảnh, ghi âm hoặc video về sự việc. Vui lòng gửi kèm ít nhất một hình ảnh, đoạn ghi âm hoặc video ghi lại tại hiện trường trong vòng 48 giờ.";

pub fn media_unreadable(index: usize, name: Option<&str>, why: &str) -> String {
    let which = describe_file(index, name);
    format!("Không đọc được {which}: {why}. Vui lòng gửi lại tệp gốc dạng ảnh (JPEG, PNG, HEIC), video (MP4, MOV) hoặc ghi âm (MP3, M4A, AMR).")
}

pub fn media_stale(hours: i64) -> String {
    format!(
        "Tất cả hình ảnh, ghi âm, video đều được ghi lại cách đây hơn {hours} giờ. Quy chế yêu cầu tư liệu ghi lại trong vòng 48 giờ trước khi gửi: vui lòng chụp ảnh hoặc quay video mới tại hiện trường."
    )
}

pub fn media_future(index: usize, name: Option<&str>) -> String {
    let which = describe_file(index, name);
    format!("Thời gian ghi lại của {which} muộn hơn thời điểm gửi. Vui lòng kiểm tra ngày giờ trên thiết bị của bạn.")
}

pub fn media_time_unknown(index: usize, name: Option<&str>) -> String {
    let which = describe_file(index, name);
    format!("Không xác định được thời gian ghi lại {which}. Nếu có thể, vui lòng gửi ảnh gốc từ máy ảnh hoặc điện thoại thay vì ảnh chụp màn hình hay ảnh đã qua ứng dụng nhắn tin.")
}

pub const TIME_MISSING: &str =
    "Chưa rõ thời gian xảy ra sự việc. Vui lòng cho biết ngày và giờ (ví dụ \"lúc 7 giờ sáng ngày 28/11/2026\") hoặc gửi ảnh, video gốc có thời gian chụp.";

pub const LOCATION_MISSING: &str =
    "Chưa rõ địa điểm xảy ra sự việc. Vui lòng ghi địa chỉ cụ thể (số nhà, tên đường, ấp/khu phố, xã/phường) hoặc chia sẻ vị trí trên bản đồ.";

pub const LOCATION_OUTSIDE: &str =
    "Vị trí được chia sẻ nằm ngoài địa bàn khu vực Long An. Hệ thống 1022 chỉ tiếp nhận phản ánh trên địa bàn: vui lòng kiểm tra lại vị trí.";

pub const REPORTER_UNVERIFIED: &str =
    "Chưa xác thực được danh tính người gửi. Phản ánh vẫn được tiếp nhận và sẽ được kiểm tra thêm.";

pub const SENDER_BLOCKED: &str =
    "Tài khoản hoặc địa chỉ gửi đã bị tạm ngừng tiếp nhận do vi phạm quy chế nhiều lần (Điều 13). Vui lòng liên hệ Tổng đài 0272.1022 nếu cần được hỗ trợ.";

pub const DUPLICATE_FLAG: &str = "Sự việc này có thể đã được phản ánh trước đó và đang được xử lý.";

pub const DUPLICATE_SAME_REPORTER: &str =
    "Bạn đã gửi phản ánh này trước đó và phản ánh đang được xử lý. Vui lòng không gửi lại; bạn có thể theo dõi kết quả bằng mã phản ánh đã nhận.";

fn describe_file(index: usize, name: Option<&str>) -> String {
    match name {
        Some(name) if !name.is_empty() => format!("tệp đính kèm thứ {} (\"{name}\")", index + 1),
        _ => format!("tệp đính kèm thứ {}", index + 1),
    }
}
