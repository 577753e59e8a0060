//! The Vietnamese names the IOC's pages and the charts give to the gateway's internal codes:
//! channels, the fields of Đ5, screening verdicts, trail statuses and check codes (SPEC §5).
//! One place, so that no page or chart shows `zalo_oa`, `needs_review` or
//! `public_administration`. The figures key their counts by these codes (`stats::Count::key`);
//! [`of_key`] names such a key whatever it counts.
//!
//! Trail statuses keep the citizen's wording (`normalizers::messages::trail::status_label`).

use normalizers::report::{CategoryField, Channel};
use normalizers::trail::TrailStatus;
use normalizers::validate::{Code, Status};

/// The key the figures count reports under when no unit, field… was found (`stats::UNKNOWN`).
const UNKNOWN: &str = crate::stats::UNKNOWN;

/// Shown for a key no table knows: never the key itself.
pub const OTHER: &str = "Khác";
/// Shown for [`UNKNOWN`].
pub const NOT_KNOWN: &str = "Chưa xác định";

/// A channel, as the monthly report writes it.
pub fn channel(c: Channel) -> &'static str {
    match c {
        Channel::Email => "Thư điện tử",
        Channel::ZaloOa => "Zalo OA",
        Channel::ZaloMiniapp => "Zalo Mini App",
        Channel::App => "Ứng dụng Long An Số",
        Channel::Portal => "Cổng 1022",
        Channel::Open311 => "Open311",
    }
}

/// A field of Đ5.
pub fn field(f: CategoryField) -> &'static str {
    match f {
        CategoryField::PublicAdministration => "Dịch vụ hành chính công",
        CategoryField::UrbanOrder => "Trật tự đô thị",
        CategoryField::Traffic => "Giao thông",
        CategoryField::PublicSecurity => "An ninh trật tự",
        CategoryField::Environment => "Môi trường",
    }
}

/// A screening verdict.
pub fn verdict(s: Status) -> &'static str {
    match s {
        Status::Accepted => "Hợp lệ",
        Status::NeedsReview => "Cần xem xét",
        Status::Rejected => "Bị từ chối",
        Status::Pending => "Đang chờ",
    }
}

/// A status of the processing trail (the citizen's wording).
pub fn status(s: TrailStatus) -> &'static str {
    normalizers::messages::trail::status_label(s)
}

/// A check code (a reason a report was rejected, or a flag put before the IOC).
pub fn code(c: Code) -> &'static str {
    match c {
        Code::ContentMissing => "Thiếu nội dung phản ánh",
        Code::ContentNoDiacritics => "Nội dung viết không dấu",
        Code::ContentPartialDiacritics => "Một số từ viết không dấu",
        Code::ContentAbbreviation => "Nội dung viết tắt",
        Code::ContentNotVietnamese => "Nội dung không viết bằng tiếng Việt",
        Code::TimeMissing => "Thiếu thời gian sự việc",
        Code::LocationMissing => "Thiếu địa điểm",
        Code::LocationOutside => "Địa điểm ngoài tỉnh Long An",
        Code::MediaMissing => "Thiếu hình ảnh, video",
        Code::MediaStale => "Ảnh, video chụp đã quá lâu",
        Code::MediaFuture => "Thời điểm chụp sau thời điểm gửi",
        Code::MediaTimeUnknown => "Không rõ thời điểm chụp",
        Code::MediaUnreadable => "Tệp đính kèm không đọc được",
        Code::ReporterNameMissing => "Thiếu họ tên người phản ánh",
        Code::ReporterContactMissing => "Thiếu thông tin liên hệ",
        Code::ReporterUnverified => "Chưa xác thực người phản ánh",
        Code::CategoryOutOfScope => "Ngoài lĩnh vực tiếp nhận",
        Code::Duplicate => "Có thể trùng phản ánh khác",
        Code::DefamationSuspected => "Nghi có nội dung vu khống, xúc phạm danh dự",
        Code::ComplaintOrDenunciation => "Khiếu nại, tố cáo (không thuộc 1022)",
        Code::OffensiveContent => "Từ ngữ thô tục, xúc phạm",
        Code::SenderBlocked => "Người gửi bị chặn",
    }
}

/// What a key of the figures counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Field,
    Verdict,
    Status,
    Code,
}

/// The Vietnamese name of a figures key (`zalo_oa`, `public_administration`, `needs_review`,
/// `forwarded`, `MEDIA_STALE`…): [`NOT_KNOWN`] for `unknown`, [`OTHER`] for a key the table
/// does not know (never the key itself).
pub fn of_key(kind: Kind, key: &str) -> &'static str {
    fn parse<T: serde::de::DeserializeOwned>(key: &str) -> Option<T> {
        serde_json::from_value(serde_json::Value::String(key.to_string())).ok()
    }
    if key == UNKNOWN {
        return NOT_KNOWN;
    }
    let found = match kind {
        Kind::Channel => Channel::ALL
            .into_iter()
            .find(|c| c.as_str() == key)
            .map(channel),
        Kind::Field => parse(key).map(field),
        Kind::Verdict => parse(key).map(verdict),
        Kind::Status => parse(key).map(status),
        Kind::Code => key.parse::<Code>().ok().map(code),
    };
    found.unwrap_or(OTHER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_vietnamese_name_and_none_shows_the_code() {
        for c in Code::ALL {
            let name = of_key(Kind::Code, c.as_str());
            assert_ne!(name, OTHER, "{c}");
            assert!(!name.contains('_'), "{c}: {name}");
        }
        for c in Channel::ALL {
            assert_ne!(of_key(Kind::Channel, c.as_str()), OTHER);
        }
        for s in TrailStatus::ALL {
            assert_ne!(of_key(Kind::Status, s.as_str()), OTHER);
        }
        assert_eq!(
            of_key(Kind::Field, "public_administration"),
            "Dịch vụ hành chính công"
        );
        assert_eq!(of_key(Kind::Verdict, "needs_review"), "Cần xem xét");
        assert_eq!(of_key(Kind::Field, "unknown"), NOT_KNOWN);
        assert_eq!(of_key(Kind::Channel, "fax"), OTHER);
    }
}
