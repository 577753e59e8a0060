//! Replies of the email channel (R-MSG-ACK, R-MSG-REJECT): plain text and HTML, Vietnamese.
//!
//! The reasons themselves (what is wrong, how to fix it) are the validator's findings from
//! `normalizers::messages`; these templates frame them.

use normalizers::validate::Finding;

/// Subject of a reply: "Re: " and the citizen's subject, or a generic subject when there was none.
pub fn reply_subject(original: Option<&str>) -> String {
    // One line: the control characters a decoded subject may carry (CR/LF of an encoded word,
    // tabs) become single spaces, so nothing the sender wrote breaks the reply's header.
    let one_line = original.map(|s| {
        s.split(|c: char| c.is_control() || c.is_whitespace())
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    });
    match one_line.as_deref().filter(|s| !s.is_empty()) {
        Some(s) if s.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("re:")) => s.to_string(),
        Some(s) => format!("Re: {s}"),
        None => "Re: Phản ánh gửi Hệ thống 1022".to_string(),
    }
}

/// A reply body in both forms.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplyText {
    pub text: String,
    pub html: String,
}

const SIGNATURE: &str = "Trung tâm Giám sát, điều hành đô thị thông minh (IOC)\nHệ thống tiếp nhận phản ánh hiện trường 1022\nTổng đài hướng dẫn: 0272.1022";

const AUTOMATIC_NOTE: &str =
    "Đây là thư trả lời tự động. Để bổ sung thông tin, vui lòng trả lời thư này và giữ nguyên mã phản ánh.";

/// The acknowledgement: the tracking code and what happens next (Đ9.2). `flags` are findings
/// the IOC will look at; they are listed so the citizen can improve the report if they wish.
pub fn acknowledgement(tracking_code: &str, flags: &[Finding]) -> ReplyText {
    let mut text = format!(
        "Kính gửi Quý ông/bà,\n\n\
         Hệ thống 1022 đã tiếp nhận phản ánh của Quý ông/bà.\n\
         Mã phản ánh: {tracking_code}\n\n\
         Trung tâm IOC sẽ xem xét và chuyển phản ánh đến cơ quan có thẩm quyền, hoặc thông báo lý do \
         chưa tiếp nhận, trong vòng 4 giờ làm việc. Kết quả xử lý sẽ được gửi lại qua địa chỉ thư này.\n"
    );
    let mut html = format!(
        "<p>Kính gửi Quý ông/bà,</p>\
         <p>Hệ thống 1022 đã tiếp nhận phản ánh của Quý ông/bà.<br>\
         Mã phản ánh: <strong>{}</strong></p>\
         <p>Trung tâm IOC sẽ xem xét và chuyển phản ánh đến cơ quan có thẩm quyền, hoặc thông báo lý do \
         chưa tiếp nhận, trong vòng 4 giờ làm việc. Kết quả xử lý sẽ được gửi lại qua địa chỉ thư này.</p>",
        escape(tracking_code)
    );
    if !flags.is_empty() {
        text.push_str("\nPhản ánh sẽ được kiểm tra thêm về các điểm sau:\n");
        html.push_str("<p>Phản ánh sẽ được kiểm tra thêm về các điểm sau:</p><ul>");
        for f in flags {
            text.push_str(&format!("- {}\n", f.message));
            html.push_str(&format!("<li>{}</li>", escape(&f.message)));
        }
        html.push_str("</ul>");
    }
    finish(text, html)
}

/// The reply to a sender whose domain does not authenticate (no DMARC pass, no aligned DKIM
/// pass in the trusted Authentication-Results): its From may be forged, so the reply is one
/// fixed text that quotes nothing the sender wrote (no subject, file name, description or
/// finding) and only gives the tracking code. The same text whatever the verdict.
pub fn unauthenticated_receipt(tracking_code: &str) -> ReplyText {
    let text = format!(
        "Kính gửi Quý ông/bà,\n\n\
         Hệ thống 1022 đã nhận được một thư gửi từ địa chỉ này.\n\
         Mã phản ánh: {tracking_code}\n\n\
         Vì địa chỉ gửi thư chưa được xác thực, thư trả lời này không nhắc lại nội dung đã nhận. \
         Để biết kết quả tiếp nhận, vui lòng gọi Tổng đài 0272.1022 và cung cấp mã phản ánh trên. \
         Nếu Quý ông/bà không gửi thư nào đến Hệ thống 1022, xin bỏ qua thư này.\n"
    );
    let html = format!(
        "<p>Kính gửi Quý ông/bà,</p>\
         <p>Hệ thống 1022 đã nhận được một thư gửi từ địa chỉ này.<br>\
         Mã phản ánh: <strong>{}</strong></p>\
         <p>Vì địa chỉ gửi thư chưa được xác thực, thư trả lời này không nhắc lại nội dung đã nhận. \
         Để biết kết quả tiếp nhận, vui lòng gọi Tổng đài 0272.1022 và cung cấp mã phản ánh trên. \
         Nếu Quý ông/bà không gửi thư nào đến Hệ thống 1022, xin bỏ qua thư này.</p>",
        escape(tracking_code)
    );
    finish(text, html)
}

/// Past the rate limit of one sender or sending domain (R-SEC-4): sent once per window, then
/// silence. Quotes nothing the sender wrote (its From may be forged).
pub fn rate_limited(retry_after_secs: u64) -> ReplyText {
    let wait = super::wait(retry_after_secs);
    let body = format!(
        "Hệ thống 1022 đã nhận được nhiều thư từ địa chỉ này trong thời gian ngắn nên tạm thời chưa \
         tiếp nhận thêm phản ánh: thư vừa gửi chưa được ghi nhận thành phản ánh. Vui lòng gửi lại sau \
         {wait}. Nếu sự việc khẩn cấp, vui lòng gọi Tổng đài 0272.1022."
    );
    // Not `finish`: there is no tracking code to keep in an answer.
    let note = "Đây là thư trả lời tự động.";
    let text = format!("Kính gửi Quý ông/bà,\n\n{body}\n\n{note}\n\n--\n{SIGNATURE}\n");
    let html = format!(
        "<!DOCTYPE html><html lang=\"vi\"><head><meta charset=\"utf-8\"></head><body>\
         <p>Kính gửi Quý ông/bà,</p><p>{}</p><p><em>{note}</em></p><p>--<br>{}</p></body></html>",
        escape(&body),
        escape(SIGNATURE).replace('\n', "<br>")
    );
    ReplyText { text, html }
}

/// The rejection: every reason with how to fix it (Đ6, R-MSG-REJECT), each with its code.
pub fn rejection(tracking_code: &str, reasons: &[Finding]) -> ReplyText {
    let mut text = format!(
        "Kính gửi Quý ông/bà,\n\n\
         Phản ánh của Quý ông/bà (mã {tracking_code}) chưa được tiếp nhận vì chưa đáp ứng yêu cầu \
         của Quy chế tiếp nhận phản ánh qua Hệ thống 1022 (Điều 6):\n\n"
    );
    let mut html = format!(
        "<p>Kính gửi Quý ông/bà,</p>\
         <p>Phản ánh của Quý ông/bà (mã {}) chưa được tiếp nhận vì chưa đáp ứng yêu cầu \
         của Quy chế tiếp nhận phản ánh qua Hệ thống 1022 (Điều 6):</p><ol>",
        escape(tracking_code)
    );
    for (i, r) in reasons.iter().enumerate() {
        text.push_str(&format!("{}. {} [{}]\n", i + 1, r.message, r.code));
        html.push_str(&format!(
            "<li>{} <small>[{}]</small></li>",
            escape(&r.message),
            r.code
        ));
    }
    html.push_str("</ol>");
    text.push_str(
        "\nVui lòng bổ sung, sửa các điểm trên và gửi lại phản ánh bằng một thư mới đến 1022@longan.gov.vn.\n",
    );
    html.push_str(
        "<p>Vui lòng bổ sung, sửa các điểm trên và gửi lại phản ánh bằng một thư mới đến 1022@longan.gov.vn.</p>",
    );
    finish(text, html)
}

fn finish(mut text: String, mut html: String) -> ReplyText {
    text.push_str(&format!("\n{AUTOMATIC_NOTE}\n\n--\n{SIGNATURE}\n"));
    html.push_str(&format!(
        "<p><em>{}</em></p><p>--<br>{}</p>",
        escape(AUTOMATIC_NOTE),
        escape(SIGNATURE).replace('\n', "<br>")
    ));
    ReplyText {
        text,
        html: format!(
            "<!DOCTYPE html><html lang=\"vi\"><head><meta charset=\"utf-8\"></head><body>{html}</body></html>"
        ),
    }
}

/// Minimal HTML escaping of text placed in element content.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use normalizers::validate::Code;

    fn finding(code: Code, message: &str) -> Finding {
        Finding {
            code,
            field: "x".into(),
            message: message.into(),
            detail: None,
        }
    }

    #[test]
    fn replies_keep_the_thread_subject() {
        assert_eq!(reply_subject(Some("Cột đèn bị gãy")), "Re: Cột đèn bị gãy");
        assert_eq!(reply_subject(Some("RE: Cột đèn")), "RE: Cột đèn");
        assert_eq!(reply_subject(None), "Re: Phản ánh gửi Hệ thống 1022");
        assert_eq!(
            reply_subject(Some("Rác thải\r\nBcc: x@evil.example\r\n\r\n<b>gấp</b>\t!")),
            "Re: Rác thải Bcc: x@evil.example <b>gấp</b> !"
        );
        assert_eq!(
            reply_subject(Some("\r\n")),
            "Re: Phản ánh gửi Hệ thống 1022"
        );
    }

    #[test]
    fn the_acknowledgement_gives_the_tracking_code_in_both_forms() {
        let r = acknowledgement("K7Q-4MX2", &[]);
        assert!(r.text.contains("Mã phản ánh: K7Q-4MX2"));
        assert!(r.html.contains("<strong>K7Q-4MX2</strong>"));
        assert!(r.text.contains("4 giờ làm việc"));
    }

    #[test]
    fn the_rejection_lists_every_reason_with_its_code_and_escapes_html() {
        let reasons = [
            finding(Code::MediaStale, "Ảnh chụp cách đây hơn 48 giờ <cũ>."),
            finding(Code::LocationMissing, "Chưa rõ địa điểm."),
        ];
        let r = rejection("AB12", &reasons);
        assert!(r
            .text
            .contains("1. Ảnh chụp cách đây hơn 48 giờ <cũ>. [MEDIA_STALE]"));
        assert!(r.text.contains("2. Chưa rõ địa điểm. [LOCATION_MISSING]"));
        assert!(r.html.contains("&lt;cũ&gt;"));
        assert!(!r.html.contains("<cũ>"));
        assert!(r.html.contains("[MEDIA_STALE]"));
    }

    #[test]
    fn the_rate_limit_notice_says_how_long_to_wait() {
        let r = rate_limited(1800);
        assert!(r.text.contains("sau 30 phút"), "{}", r.text);
        assert!(r.html.contains("sau 30 phút"));
        assert!(r.text.contains("chưa được ghi nhận"));
    }

    #[test]
    fn the_unauthenticated_receipt_is_one_fixed_text_around_the_tracking_code() {
        let a = unauthenticated_receipt("LA-7K2M-Q9XD");
        let b = unauthenticated_receipt("LA-0000-0001");
        assert!(a.text.contains("Mã phản ánh: LA-7K2M-Q9XD"));
        assert!(a.html.contains("<strong>LA-7K2M-Q9XD</strong>"));
        assert!(a.text.contains("chưa được xác thực"));
        assert_eq!(
            a.text.replace("LA-7K2M-Q9XD", "X"),
            b.text.replace("LA-0000-0001", "X")
        );
        assert_eq!(
            a.html.replace("LA-7K2M-Q9XD", "X"),
            b.html.replace("LA-0000-0001", "X")
        );
    }
}
