//! The IOC's messages as the citizen receives them (R-MSG-IOC): the Vietnamese frame around
//! the IOC's text, for email and Zalo alike.

use normalizers::conversation::MessageKind;
use normalizers::messages::conversation::kind_label;

/// The subject of an IOC message by email: the tracking code first, then the citizen's
/// subject (the reply is threaded under the citizen's message).
pub fn email_subject(tracking_code: &str, original: Option<&str>) -> String {
    match original.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) if s.contains(tracking_code) => s.to_string(),
        Some(s) => format!("[{tracking_code}] {s}"),
        None => format!("[{tracking_code}] Phản ánh gửi Hệ thống 1022"),
    }
}

/// What the citizen is asked to do after a message of this kind.
fn closing(kind: MessageKind, tracking_code: &str) -> String {
    match kind {
        MessageKind::RequestDetail => format!(
            "Ông/bà vui lòng trả lời tin nhắn này và giữ nguyên mã phản ánh {tracking_code} để bổ sung thông tin."
        ),
        MessageKind::Result => rating_request(tracking_code),
        _ => format!("Ông/bà có thể tra cứu quá trình xử lý bằng mã phản ánh {tracking_code}."),
    }
}

/// The plain text of an IOC message (email body, Zalo text).
pub fn text(kind: MessageKind, tracking_code: &str, body: &str) -> String {
    format!(
        "Trung tâm Giám sát, điều hành đô thị thông minh (Hệ thống 1022) – {label}\nVề phản ánh mã {tracking_code}:\n\n{body}\n\n{closing}",
        label = kind_label(kind),
        closing = closing(kind, tracking_code),
    )
}

/// The same for a message sent to another contact of the citizen because their Zalo
/// conversation could not be reached.
pub fn fallback_text(kind: MessageKind, tracking_code: &str, body: &str) -> String {
    format!(
        "{}\n\n(Tin nhắn này được gửi qua thư điện tử vì không gửi được qua Zalo OA.)",
        text(kind, tracking_code, body)
    )
}

/// The request to rate the result, added to a `result` message (Đ8.1, R-MSG-RATING).
pub fn rating_request(tracking_code: &str) -> String {
    format!(
        "Mời ông/bà đánh giá kết quả xử lý phản ánh {tracking_code} bằng cách trả lời tin nhắn này: \
         1 – Rất hài lòng; 2 – Hài lòng; 3 – Không hài lòng (xin ghi kèm lý do)."
    )
}

/// The short acknowledgement of a citizen's answer.
pub fn answer_received(tracking_code: &str) -> String {
    format!(
        "Trung tâm 1022 đã nhận thông tin ông/bà gửi bổ sung cho phản ánh mã {tracking_code}. Xin cảm ơn."
    )
}

/// The acknowledgement of a rating.
pub fn rating_received(tracking_code: &str) -> String {
    format!(
        "Trung tâm 1022 đã nhận đánh giá của ông/bà về kết quả xử lý phản ánh mã {tracking_code}. Xin cảm ơn."
    )
}

/// `không hài lòng` came without a reason.
pub fn rating_needs_reason(tracking_code: &str) -> String {
    format!(
        "Ông/bà chưa hài lòng với kết quả xử lý phản ánh mã {tracking_code}. Vui lòng trả lời \
         \"3\" kèm lý do chưa hài lòng để Trung tâm 1022 xem xét lại."
    )
}

/// The polite fixed reply to a citizen's answer that was not taken because it has vulgar or
/// offensive words (Đ7.6): what was wrong and what to do, without repeating the words.
pub fn answer_refused(tracking_code: &str) -> String {
    format!(
        "Trung tâm 1022 chưa thể tiếp nhận tin nhắn ông/bà vừa gửi về phản ánh mã {tracking_code} \
         vì tin nhắn có từ ngữ thô tục hoặc thiếu văn hóa (khoản 6 Điều 7 Quy chế). Kính mong \
         ông/bà dùng lời lẽ lịch sự, chỉ trao đổi về sự việc đã phản ánh và gửi lại. Xin cảm ơn."
    )
}

/// The line an IOC message by email adds when photos are attached to it.
pub fn photos_attached(count: usize) -> String {
    format!("Kèm theo thư này là {count} ảnh do Trung tâm 1022 gửi.")
}

/// The line an emailed IOC message adds when some of its photos did not fit in one mail.
pub fn photos_left_out(count: usize) -> String {
    format!(
        "{count} ảnh không gửi kèm được vì vượt quá dung lượng cho phép của thư; ông/bà xem \
         đầy đủ ảnh trên trang tra cứu phản ánh."
    )
}

/// The line an IOC message on Zalo adds when its photos follow as image messages.
pub fn photos_follow(count: usize) -> String {
    format!("{count} ảnh kèm theo được gửi ngay sau tin nhắn này.")
}

/// The line an IOC message on Zalo adds when its photos can only be seen on the tracking page
/// (`page`: its address, when the gateway knows its public address).
pub fn photos_on_tracking_page(count: usize, tracking_code: &str, page: Option<&str>) -> String {
    match page {
        Some(url) => format!("Ông/bà xem {count} ảnh kèm theo tại trang tra cứu: {url}"),
        None => format!(
            "Ông/bà xem {count} ảnh kèm theo trên trang tra cứu phản ánh, với mã {tracking_code}."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_is_in_the_subject_and_the_text() {
        assert_eq!(
            email_subject("LA-AAAA-BBBB", Some("Đèn đường hỏng")),
            "[LA-AAAA-BBBB] Đèn đường hỏng"
        );
        assert_eq!(
            email_subject("LA-AAAA-BBBB", Some("Re: [LA-AAAA-BBBB] Đèn")),
            "Re: [LA-AAAA-BBBB] Đèn"
        );
        let t = text(MessageKind::Result, "LA-AAAA-BBBB", "Đã thay bóng đèn.");
        assert!(t.contains("Kết quả xử lý") && t.contains("LA-AAAA-BBBB"));
        assert!(t.contains("Đã thay bóng đèn."));
        assert!(text(MessageKind::RequestDetail, "LA-X", "Gửi ảnh.").contains("trả lời"));
        assert!(
            t.contains("1 – Rất hài lòng"),
            "a result asks for a rating: {t}"
        );
    }

    #[test]
    fn a_refused_answer_is_told_why_without_the_words() {
        let t = answer_refused("LA-AAAA-BBBB");
        assert!(t.contains("LA-AAAA-BBBB") && t.contains("thô tục") && t.contains("gửi lại"));
        assert!(photos_attached(2).contains("2 ảnh"));
        assert!(
            photos_on_tracking_page(1, "LA-X", Some("https://a.vn/track/LA-X"))
                .contains("https://a.vn/track/LA-X")
        );
    }
}
