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

/// A JSON body the gateway cannot read (wrong shape, a value not among those allowed).
pub const MALFORMED_JSON: &str =
    "Dữ liệu gửi lên không đúng định dạng. Vui lòng kiểm tra lại các trường và giá trị đã nhập.";

/// A JSON body past the request body limit.
pub const BODY_TOO_LARGE: &str = "Dữ liệu gửi lên quá lớn. Vui lòng rút gọn nội dung và gửi lại.";

/// Too many reports from one sender, address or application in a short time (HTTP 429), with
/// how long to wait.
pub fn rate_limited(retry_after_secs: u64) -> String {
    format!(
        "Bạn đã gửi quá nhiều phản ánh trong thời gian ngắn. Vui lòng gửi lại sau {}.",
        channels::templates::wait(retry_after_secs)
    )
}

/// Too many requests to a public route from one address in a short time (HTTP 429), with how
/// long to wait.
pub fn too_many_requests(retry_after_secs: u64) -> String {
    format!(
        "Có quá nhiều yêu cầu từ địa chỉ của bạn trong thời gian ngắn. Vui lòng thử lại sau {}.",
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

/// The portal's one-time codes and public checks (Đ6.4): API answers the form shows beside the
/// contact field, and the texts that carry the code.
/// The text alternative of the n-th photo of an IOC message on the tracking page.
pub fn photo_alt(n: usize) -> String {
    format!("Ảnh {n} do Trung tâm 1022 gửi kèm")
}

pub mod portal {
    /// Subject of the email that carries a code.
    pub const CODE_EMAIL_SUBJECT: &str = "Mã xác nhận gửi phản ánh Hệ thống 1022 Long An";

    /// Body of the email that carries a code.
    pub fn code_email(code: &str, minutes: u64) -> String {
        format!(
            "Mã xác nhận của bạn là: {code}\n\n\
             Nhập mã này vào trang gửi phản ánh của Hệ thống 1022 tỉnh Long An trong vòng \
             {minutes} phút. Không chia sẻ mã này với bất kỳ ai.\n\n\
             Nếu bạn không yêu cầu mã, hãy bỏ qua thư này.\n"
        )
    }

    /// Text of the SMS that carries a code (for an SMS provider adapter).
    pub fn code_sms(code: &str, minutes: u64) -> String {
        format!("Mã xác nhận phản ánh 1022 Long An: {code} (hiệu lực {minutes} phút). Không chia sẻ mã này.")
    }

    /// The contact is neither an email address nor a phone number.
    pub const INVALID_CONTACT: &str =
        "Địa chỉ email hoặc số điện thoại chưa đúng. Vui lòng kiểm tra lại.";

    /// Codes cannot be sent to this kind of contact (no SMS provider, no SMTP server).
    pub const NO_PHONE_CODES: &str = "Hiện chưa gửi được mã xác nhận qua tin nhắn. Bạn có thể xác nhận bằng email, hoặc gửi phản ánh không xác nhận (phản ánh sẽ được kiểm tra thêm).";
    pub const NO_EMAIL_CODES: &str = "Hiện chưa gửi được mã xác nhận qua email. Bạn vẫn có thể gửi phản ánh không xác nhận (phản ánh sẽ được kiểm tra thêm).";

    /// The mail server or SMS provider failed.
    pub const SEND_FAILED: &str = "Chưa gửi được mã xác nhận. Vui lòng thử lại sau ít phút.";

    /// Too many codes requested.
    pub fn too_many_codes(retry_after_secs: u64) -> String {
        format!(
            "Bạn đã yêu cầu quá nhiều mã xác nhận. Vui lòng thử lại sau {}.",
            channels::templates::wait(retry_after_secs)
        )
    }

    /// A wrong code, with the attempts left.
    pub fn wrong_code(attempts_left: u32) -> String {
        if attempts_left == 0 {
            "Mã xác nhận không đúng. Bạn đã nhập sai quá số lần cho phép, vui lòng nhận mã mới."
                .to_string()
        } else {
            format!("Mã xác nhận không đúng. Bạn còn {attempts_left} lần thử.")
        }
    }

    /// The code expired, was used, or was entered wrong too often.
    pub const CODE_EXPIRED: &str =
        "Mã xác nhận đã hết hạn hoặc đã được dùng. Vui lòng nhận mã mới.";

    /// The confirmation sent with a report expired or is for another contact.
    pub const VERIFICATION_STALE: &str = "Xác nhận email hoặc số điện thoại đã hết hạn hoặc không khớp với thông tin liên hệ đã nhập. Vui lòng nhận mã mới.";

    /// Too many checks from one address.
    pub fn too_many_checks(retry_after_secs: u64) -> String {
        format!(
            "Bạn thao tác quá nhanh. Vui lòng thử lại sau {}.",
            channels::templates::wait(retry_after_secs)
        )
    }

    /// Note beside a suggested commune created on 1 July 2025.
    pub const NEW_UNIT: &str = "Xã, phường mới (từ 01/7/2025)";
    /// Note beside a suggested former commune whose successor is not known.
    pub const OLD_UNIT: &str = "Tên trước 01/7/2025";

    /// Note beside a suggested former commune: what it is part of now.
    pub fn now_named(new_commune: &str) -> String {
        format!("Tên trước 01/7/2025, nay thuộc {new_commune}")
    }
}

/// The answer and rating forms of the tracking page (`http::track`): labels, and the errors
/// shown beside a field.
pub mod track_form {
    /// Heading and lead of the answer form (shown while a request for detail is open).
    pub const ANSWER_TITLE: &str = "Trả lời đề nghị bổ sung thông tin";
    pub const ANSWER_LEAD: &str = "Trung tâm 1022 đề nghị bạn bổ sung thông tin. Nhập nội dung trả lời, có thể gửi kèm một ảnh.";
    /// Heading and lead of the rating form (shown after a result, until it is rated).
    pub const RATING_TITLE: &str = "Đánh giá kết quả xử lý";
    pub const RATING_LEAD: &str =
        "Phản ánh của bạn đã có kết quả xử lý. Vui lòng cho biết mức độ hài lòng của bạn.";
    /// The proof that the visitor is the reporter.
    pub const CONTACT: &str = "Số điện thoại hoặc email bạn đã dùng khi gửi phản ánh";
    pub const CONTACT_HELP: &str =
        "Dùng để xác nhận bạn là người gửi phản ánh; không hiển thị trên trang.";
    pub const TEXT: &str = "Nội dung trả lời";
    pub const PHOTO: &str = "Ảnh kèm theo (không bắt buộc)";
    pub const SEND_ANSWER: &str = "Gửi trả lời";
    pub const RATING: &str = "Mức độ hài lòng";
    pub const VERY_SATISFIED: &str = "Rất hài lòng";
    pub const SATISFIED: &str = "Hài lòng";
    pub const DISSATISFIED: &str = "Không hài lòng";
    pub const REASON: &str = "Lý do (bắt buộc khi không hài lòng)";
    pub const SEND_RATING: &str = "Gửi đánh giá";
    /// A required marker read by screen readers and shown as `*`.
    pub const REQUIRED: &str = "(bắt buộc)";

    /// The contact is missing.
    pub const CONTACT_MISSING: &str =
        "Vui lòng nhập số điện thoại hoặc email bạn đã dùng khi gửi phản ánh.";
    /// The contact is not the reporter's (whether the code exists is not revealed).
    pub const CONTACT_WRONG: &str = "Số điện thoại hoặc email không khớp với phản ánh này. Vui lòng nhập đúng thông tin bạn đã dùng khi gửi phản ánh.";
    /// Neither text nor photo.
    pub const ANSWER_EMPTY: &str = "Vui lòng nhập nội dung trả lời hoặc chọn một ảnh.";
    /// The text is too long.
    pub fn answer_too_long(max: usize) -> String {
        format!("Nội dung trả lời quá dài (tối đa {max} ký tự).")
    }
    /// The report has as many answers as it may carry.
    pub const TOO_MANY_ANSWERS: &str = "Phản ánh này đã nhận đủ số lần trả lời cho phép. Vui lòng liên hệ Trung tâm 1022 qua đường dây nóng.";
    /// The file chosen is not a photo.
    pub const NOT_A_PHOTO: &str =
        "Tệp đã chọn không phải là ảnh. Vui lòng chọn ảnh (JPEG, PNG, HEIC…).";
    /// No level chosen.
    pub const RATING_MISSING: &str = "Vui lòng chọn mức độ hài lòng.";
    /// `không hài lòng` without a reason.
    pub const REASON_MISSING: &str = "Vui lòng cho biết lý do bạn không hài lòng.";
    /// The result was rated already (or there is none).
    pub const ALREADY_RATED: &str = "Kết quả xử lý này đã được đánh giá.";
    pub const NOTHING_TO_RATE: &str = "Phản ánh này chưa có kết quả xử lý để đánh giá.";
    /// The form's submission could not be read.
    pub const BAD_FORM: &str =
        "Không đọc được nội dung gửi lên. Vui lòng tải lại trang và gửi lại.";
}

/// The console's explanations of a step along the trail that was refused (the operator's
/// language; the API answers the same refusals in English).
pub mod console {
    use normalizers::trail::{TrailStatus, TransitionError};

    fn step(s: TrailStatus) -> String {
        format!("«{}»", crate::labels::status(s))
    }

    fn field(name: &str) -> &'static str {
        match name {
            "agency" => "cơ quan xử lý",
            "message" => "nội dung cho người dân",
            "note" => "ghi chú nội bộ",
            _ => "thông tin bắt buộc",
        }
    }

    /// Why the trail refused the step, in Vietnamese, with the steps' names.
    pub fn transition_refused(e: &TransitionError) -> String {
        match e {
            TransitionError::NotAllowed { from, to, .. } => {
                let next: Vec<String> = from.next().iter().map(|s| step(*s)).collect();
                let then = if next.is_empty() {
                    "Phản ánh đã kết thúc, không còn bước nào tiếp theo.".to_string()
                } else {
                    format!("Từ bước này chỉ có thể chuyển sang: {}.", next.join(", "))
                };
                format!(
                    "Không thể chuyển phản ánh từ bước {} sang {}. {then}",
                    step(*from),
                    step(*to)
                )
            }
            TransitionError::RejectedAtIntake => {
                "Phản ánh đã bị từ chối khi tiếp nhận nên không có quá trình xử lý.".to_string()
            }
            TransitionError::Missing { status, field: f } => {
                format!("Bước {} cần có {}.", step(*status), field(f))
            }
            TransitionError::TooLong { field: f, max } => {
                format!("Phần {} dài quá {max} ký tự.", field(f))
            }
            TransitionError::AgencyNotExpected => {
                "Chỉ ghi cơ quan xử lý khi chuyển phản ánh cho cơ quan xử lý.".to_string()
            }
        }
    }

    /// Why a message to the citizen was not sent, in Vietnamese.
    pub fn message_refused(e: &normalizers::conversation::MessageError) -> String {
        use normalizers::conversation::MessageError as E;
        match e {
            E::Empty => "Tin nhắn chưa có nội dung.".to_string(),
            E::TooLong { max } => format!("Tin nhắn dài quá {max} ký tự; vui lòng rút gọn."),
            E::Control => "Tin nhắn có ký tự điều khiển không hợp lệ; vui lòng gõ lại.".to_string(),
            E::TooMany { max } => {
                format!("Phản ánh đã có {max} tin nhắn, không gửi thêm được.")
            }
            E::Unknown(_) => "Không tìm thấy tin nhắn này trên phản ánh.".to_string(),
            E::TooManyPhotos { max } => format!("Mỗi tin nhắn gửi được tối đa {max} ảnh."),
        }
    }

    /// Another change of the same report was being written.
    pub const BUSY: &str =
        "Phản ánh đang được cập nhật bởi một thao tác khác; vui lòng thử lại sau giây lát.";
}
