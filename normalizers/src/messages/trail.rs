//! What the citizen's tracking view says about each step of the processing trail (Đ12.2).

use crate::trail::TrailStatus;

/// The name of a status on the citizen's tracking page.
pub fn status_label(status: TrailStatus) -> &'static str {
    match status {
        TrailStatus::Received => "Đã nhận phản ánh",
        TrailStatus::Accepted => "Đã tiếp nhận",
        TrailStatus::NotAccepted => "Không tiếp nhận",
        TrailStatus::Forwarded => "Đã chuyển cơ quan xử lý",
        TrailStatus::AgencyAccepted => "Cơ quan xử lý đã tiếp nhận",
        TrailStatus::Answered => "Đã có kết quả xử lý",
        TrailStatus::Closed => "Đã kết thúc",
    }
}

/// The title of the tracking page.
pub const PAGE_TITLE: &str = "Tra cứu phản ánh";
/// Column headers and labels of the tracking page.
pub const CODE: &str = "Mã phản ánh";
pub const CURRENT_STATUS: &str = "Trạng thái hiện tại";
pub const DUE_BY: &str = "Hạn xử lý";
pub const TIME: &str = "Thời gian";
pub const STEP: &str = "Bước xử lý";
pub const AGENCY: &str = "Cơ quan xử lý";
pub const MESSAGE: &str = "Thông tin gửi người phản ánh";
pub const CATEGORY: &str = "Lĩnh vực";

/// The tracking page of a code that finds nothing.
pub const NOT_FOUND: &str =
    "Không tìm thấy phản ánh với mã này. Vui lòng kiểm tra lại mã phản ánh (ví dụ LA-7K3M-Q9TX).";

/// Too many lookups from one address.
pub fn too_many_lookups(retry_after_secs: u64) -> String {
    format!("Bạn đã tra cứu quá nhiều lần. Vui lòng thử lại sau {retry_after_secs} giây.")
}

/// A report the gateway did not accept (the citizen got the reasons when sending it).
pub const REJECTED_AT_INTAKE: &str =
    "Phản ánh chưa đủ điều kiện tiếp nhận; lý do đã được gửi cho người phản ánh khi gửi phản ánh.";
