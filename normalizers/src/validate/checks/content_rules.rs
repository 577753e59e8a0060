//! Content rules of Đ7, all flagged for the IOC by default: COMPLAINT_OR_DENUNCIATION
//! (Đ1.1.b, Đ7.5), OFFENSIVE_CONTENT (Đ7.6), DEFAMATION_SUSPECTED (Đ7.4), from the text
//! analysis ([`Context::analysis`]).

use serde_json::json;

use crate::messages::text as msg;
use crate::report::Report;
use crate::validate::{Check, Code, Context, Hit};

const FIELD: &str = "content.text";

/// Khiếu nại, tố cáo, tranh chấp, khiếu kiện: not handled by the 1022 system.
pub struct ComplaintOrDenunciation;

impl Check for ComplaintOrDenunciation {
    fn code(&self) -> Code {
        Code::ComplaintOrDenunciation
    }

    fn run(&self, report: &Report, ctx: &Context<'_>, hits: &mut Vec<Hit>) {
        let a = ctx.analysis(report);
        if !a.complaint_terms.is_empty() {
            hits.push(
                Hit::new(FIELD, msg::complaint_or_denunciation(&a.complaint_terms))
                    .with_detail(json!({ "terms": a.complaint_terms })),
            );
        }
    }
}

/// Vulgar or offensive words. The words go to the IOC in `detail`, not back to the citizen.
pub struct OffensiveContent;

impl Check for OffensiveContent {
    fn code(&self) -> Code {
        Code::OffensiveContent
    }

    fn run(&self, report: &Report, ctx: &Context<'_>, hits: &mut Vec<Hit>) {
        let a = ctx.analysis(report);
        if !a.offensive_terms.is_empty() {
            hits.push(
                Hit::new(FIELD, msg::OFFENSIVE_CONTENT)
                    .with_detail(json!({ "words": a.offensive_terms })),
            );
        }
    }
}

/// Insults or accusations near a named person or an office-holder.
pub struct DefamationSuspected;

impl Check for DefamationSuspected {
    fn code(&self) -> Code {
        Code::DefamationSuspected
    }

    fn run(&self, report: &Report, ctx: &Context<'_>, hits: &mut Vec<Hit>) {
        let a = ctx.analysis(report);
        if !a.defamation.is_empty() {
            let mentions: Vec<_> = a
                .defamation
                .iter()
                .map(|(who, what)| json!({ "person": who, "words": what }))
                .collect();
            hits.push(
                Hit::new(FIELD, msg::DEFAMATION_SUSPECTED)
                    .with_detail(json!({ "mentions": mentions })),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Channel, Envelope};
    use crate::validate::{Status, ValidationConfig, Validator};
    use chrono::{TimeZone, Utc};

    fn verdict(text: &str) -> crate::validate::Verdict {
        let mut r = Report::new(Envelope {
            id: "01TEST".into(),
            tracking_code: "T1".into(),
            channel: Channel::Portal,
            channel_ref: None,
            received_at: Utc.with_ymd_and_hms(2026, 11, 30, 3, 0, 0).unwrap(),
        });
        r.content.text = text.into();
        let config = ValidationConfig::default();
        let ctx = Context::new(
            Utc.with_ymd_and_hms(2026, 11, 30, 3, 0, 0).unwrap(),
            &config,
        );
        Validator::with_checks(vec![
            Box::new(ComplaintOrDenunciation),
            Box::new(OffensiveContent),
            Box::new(DefamationSuspected),
        ])
        .validate(&r, &ctx)
    }

    #[test]
    fn a_mention_of_a_dispute_is_flagged_not_rejected() {
        let v =
            verdict("Hai nhà tranh chấp lối đi nên rào chắn ngang hẻm, xe cứu hỏa không vào được.");
        assert_eq!(v.status, Status::NeedsReview);
        assert_eq!(v.codes(), [Code::ComplaintOrDenunciation]);
        assert!(v.flags[0].message.contains("\"tranh chấp\""));
    }

    #[test]
    fn vulgar_words_are_flagged_without_quoting_them_to_the_citizen() {
        let v = verdict("Bọn nó đụ mẹ chửi bới cả xóm, đổ rác ra đường.");
        assert_eq!(v.codes(), [Code::OffensiveContent]);
        assert!(!v.flags[0].message.contains("đụ"));
        assert_eq!(v.flags[0].detail.as_ref().unwrap()["words"][0], "đụ mẹ");
    }

    #[test]
    fn insult_of_a_named_person_is_flagged_as_defamation() {
        let v = verdict("Ông Nguyễn Văn A là đồ ăn cướp, lấn chiếm đất công làm quán.");
        assert!(v.codes().contains(&Code::DefamationSuspected));
        assert_eq!(
            verdict("Đèn đường ở ấp 3 bị hỏng, ông Tư đã báo ấp.").status,
            Status::Accepted
        );
    }
}
