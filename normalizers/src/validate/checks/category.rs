//! CATEGORY_OUT_OF_SCOPE (Đ7.1): the report is not in any of the five fields of Đ5. Flagged
//! when the citizen chose no category and nothing in the title or description fits one
//! ([`crate::vietnamese::suggest_category`]).

use crate::messages::text as msg;
use crate::report::Report;
use crate::validate::{Check, Code, Context, Hit};
use crate::vietnamese::suggest_category;

pub struct CategoryOutOfScope;

impl Check for CategoryOutOfScope {
    fn code(&self) -> Code {
        Code::CategoryOutOfScope
    }

    fn run(&self, report: &Report, _ctx: &Context<'_>, hits: &mut Vec<Hit>) {
        if report.category.is_some() || !report.content.text.chars().any(char::is_alphabetic) {
            return;
        }
        let text = match &report.content.title {
            Some(title) => format!("{title}\n{}", report.content.text),
            None => report.content.text.clone(),
        };
        if suggest_category(&text).is_none() {
            hits.push(Hit::new("category", msg::CATEGORY_OUT_OF_SCOPE));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Category, CategoryField, CategorySource, Channel, Envelope};
    use crate::validate::{ValidationConfig, Validator};
    use chrono::{TimeZone, Utc};

    fn codes(text: &str, title: Option<&str>, category: Option<Category>) -> Vec<Code> {
        let mut r = Report::new(Envelope {
            id: "01TEST".into(),
            tracking_code: "T1".into(),
            channel: Channel::Email,
            channel_ref: None,
            received_at: Utc.with_ymd_and_hms(2026, 11, 30, 3, 0, 0).unwrap(),
        });
        r.content.text = text.into();
        r.content.title = title.map(String::from);
        r.category = category;
        let config = ValidationConfig::default();
        let ctx = Context::new(
            Utc.with_ymd_and_hms(2026, 11, 30, 3, 0, 0).unwrap(),
            &config,
        );
        Validator::with_checks(vec![Box::new(CategoryOutOfScope)])
            .validate(&r, &ctx)
            .codes()
    }

    #[test]
    fn out_of_scope_only_when_nothing_fits_and_nothing_was_chosen() {
        let off_topic = "Tôi muốn hỏi giá vé xem ca nhạc tối thứ bảy.";
        assert_eq!(codes(off_topic, None, None), [Code::CategoryOutOfScope]);
        assert!(codes("Mặt đường có ổ gà lớn trước chợ.", None, None).is_empty());
        assert!(
            codes("Xem ảnh đính kèm.", Some("Đèn đường bị hỏng"), None).is_empty(),
            "title counts"
        );
        let chosen = Category {
            field: CategoryField::Traffic,
            subcategory: None,
            source: CategorySource::Given,
            confidence: 1.0,
        };
        assert!(codes(off_topic, None, Some(chosen)).is_empty());
    }
}
