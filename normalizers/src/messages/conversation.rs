//! What the citizen's tracking view calls the IOC's messages (R-MSG-IOC).

use crate::conversation::MessageKind;

/// The name of a message kind on the tracking page and in the messages the citizen receives.
pub fn kind_label(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::RequestDetail => "Đề nghị bổ sung thông tin",
        MessageKind::NotAccepted => "Thông báo không tiếp nhận",
        MessageKind::Forwarded => "Thông báo chuyển cơ quan xử lý",
        MessageKind::Result => "Kết quả xử lý",
        MessageKind::Other => "Thông báo",
    }
}

/// The heading of the messages' section on the tracking page.
pub const MESSAGES: &str = "Thông báo của Trung tâm 1022";

/// A citizen's answer refused for vulgar or offensive words (Đ7.6).
pub const ANSWER_OFFENSIVE: &str = "Tin nhắn có từ ngữ thô tục hoặc xúc phạm nên không được tiếp nhận. Vui lòng dùng lời lẽ lịch sự và chỉ trao đổi về sự việc đã phản ánh (Điều 7 Quy chế), rồi gửi lại.";
