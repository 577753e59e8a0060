//! Messages about the description itself (R-VAL-TEXT, Đ6.1) and the content rules of Đ7: what
//! was found, quoted back, and how to write it instead.

/// At most this many words are quoted in one message.
const MAX_QUOTED: usize = 8;

fn quoted(words: impl IntoIterator<Item = String>) -> String {
    words
        .into_iter()
        .take(MAX_QUOTED)
        .collect::<Vec<_>>()
        .join(", ")
}

/// CONTENT_NO_DIACRITICS: typed without marks (`examples`), or as raw keystrokes
/// (`keystrokes`: what was typed and the word meant).
pub fn content_no_diacritics(examples: &[String], keystrokes: &[(String, String)]) -> String {
    if !keystrokes.is_empty() {
        let pairs = quoted(
            keystrokes
                .iter()
                .map(|(typed, meant)| format!("\"{typed}\" → \"{meant}\"")),
        );
        return format!(
            "Nội dung phản ánh có vẻ được gõ khi chưa bật bộ gõ tiếng Việt (Telex hoặc VNI), ví dụ {pairs}. Quy chế yêu cầu viết tiếng Việt có dấu: vui lòng bật bộ gõ tiếng Việt (bàn phím tiếng Việt trên điện thoại, Unikey hoặc EVKey trên máy tính) rồi viết lại nội dung."
        );
    }
    let sample = if examples.is_empty() {
        String::new()
    } else {
        format!(
            " (ví dụ {})",
            quoted(examples.iter().map(|w| format!("\"{w}\"")))
        )
    };
    format!(
        "Nội dung phản ánh được viết không dấu hoặc thiếu dấu{sample}. Quy chế yêu cầu viết tiếng Việt có dấu đầy đủ để tránh hiểu sai: vui lòng viết lại có dấu, ví dụ \"duong bi ngap\" → \"đường bị ngập\"."
    )
}

/// CONTENT_PARTIAL_DIACRITICS (only flagged): a few words written without their marks.
pub fn content_partial_diacritics(words: &[String]) -> String {
    let list = quoted(words.iter().map(|w| format!("\"{w}\"")));
    format!(
        "Nội dung phản ánh có một số từ viết không dấu: {list}. Phản ánh vẫn được tiếp nhận; lần sau vui lòng viết đầy đủ dấu tiếng Việt để tránh hiểu sai nội dung."
    )
}

/// CONTENT_ABBREVIATION for chat shortcuts: each with its full form.
pub fn content_chat_abbreviations(found: &[(String, String)]) -> String {
    let pairs = quoted(found.iter().map(|(word, full)| {
        if full.starts_with('(') {
            format!("\"{word}\" (từ ngữ thô tục, vui lòng bỏ)")
        } else {
            format!("\"{word}\" → \"{full}\"")
        }
    }));
    format!(
        "Nội dung phản ánh có từ viết tắt: {pairs}. Quy chế yêu cầu không viết tắt: vui lòng viết đầy đủ các từ này rồi gửi lại."
    )
}

/// CONTENT_ABBREVIATION for administrative abbreviations (only flagged).
pub fn content_administrative_abbreviations(found: &[(String, String)]) -> String {
    let pairs = quoted(
        found
            .iter()
            .map(|(word, full)| format!("\"{word}\" ({full})")),
    );
    format!(
        "Nội dung phản ánh có từ viết tắt hành chính: {pairs}. Phản ánh vẫn được tiếp nhận; lần sau vui lòng viết đầy đủ để tránh hiểu nhầm."
    )
}

pub const CONTENT_NOT_VIETNAMESE: &str =
    "Nội dung phản ánh không được viết bằng tiếng Việt. Hệ thống 1022 chỉ tiếp nhận phản ánh viết bằng tiếng Việt có dấu: vui lòng viết lại nội dung bằng tiếng Việt. Nếu cần hỗ trợ, vui lòng gọi Tổng đài 0272.1022.";

/// COMPLAINT_OR_DENUNCIATION: the terms found.
pub fn complaint_or_denunciation(terms: &[String]) -> String {
    let list = quoted(terms.iter().map(|t| format!("\"{t}\"")));
    format!(
        "Nội dung phản ánh có đề cập đến khiếu nại, tố cáo hoặc tranh chấp ({list}). Hệ thống 1022 không giải quyết khiếu nại, tố cáo, tranh chấp, khiếu kiện (Điều 7 Quy chế): các việc này được giải quyết theo Luật Khiếu nại, Luật Tố cáo tại cơ quan có thẩm quyền. Phản ánh sẽ được kiểm tra thêm trước khi chuyển xử lý."
    )
}

pub const OFFENSIVE_CONTENT: &str =
    "Nội dung phản ánh có từ ngữ thô tục hoặc xúc phạm. Vui lòng dùng lời lẽ lịch sự và chỉ mô tả sự việc (Điều 7 Quy chế); phản ánh sẽ được kiểm tra thêm trước khi chuyển xử lý.";

pub const DEFAMATION_SUSPECTED: &str =
    "Nội dung phản ánh có lời lẽ có thể xúc phạm danh dự, uy tín của người được nêu tên hoặc nêu chức vụ. Vui lòng chỉ mô tả sự việc bạn chứng kiến, không quy kết hay xúc phạm cá nhân (Điều 7 Quy chế); phản ánh sẽ được kiểm tra thêm trước khi chuyển xử lý.";

pub const CATEGORY_OUT_OF_SCOPE: &str =
    "Nội dung phản ánh chưa thấy thuộc lĩnh vực tiếp nhận của Hệ thống 1022 (Điều 5 Quy chế): dịch vụ hành chính công; trật tự đô thị (chiếu sáng, cây xanh, cấp thoát nước, viễn thông, điện lực); giao thông; an ninh trật tự, an toàn xã hội; môi trường, khoáng sản và tài nguyên nước. Vui lòng chọn lĩnh vực hoặc mô tả rõ hơn sự việc; phản ánh sẽ được kiểm tra thêm.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_quote_words_and_full_forms() {
        let m = content_chat_abbreviations(&[
            ("ko".into(), "không".into()),
            ("vl".into(), "(từ ngữ thô tục)".into()),
        ]);
        assert!(m.contains("\"ko\" → \"không\""), "{m}");
        assert!(m.contains("\"vl\" (từ ngữ thô tục"), "{m}");
        let m = content_no_diacritics(&[], &[("dduwowngf".into(), "đường".into())]);
        assert!(m.contains("\"dduwowngf\" → \"đường\"") && m.contains("bộ gõ tiếng Việt"));
        let m = content_partial_diacritics(&["thu".into(), "tuc".into(), "duyet".into()]);
        assert!(
            m.contains("\"tuc\", \"duyet\"") && m.contains("vẫn được tiếp nhận"),
            "{m}"
        );
        let m = content_no_diacritics(&["duong".into()], &[]);
        assert!(m.contains("\"duong\"") && m.contains("có dấu"));
    }
}
