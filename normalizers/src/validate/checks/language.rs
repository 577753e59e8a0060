//! CONTENT_NO_DIACRITICS, CONTENT_PARTIAL_DIACRITICS, CONTENT_ABBREVIATION,
//! CONTENT_NOT_VIETNAMESE (Đ6.1: "sử dụng ngôn
//! ngữ tiếng Việt, có dấu, không viết tắt"), from the text analysis ([`Context::analysis`]).
//!
//! A description too short to be one is CONTENT_MISSING's business: these checks stay silent
//! on it. A text that is not Vietnamese gets only CONTENT_NOT_VIETNAMESE.

use serde_json::json;

use crate::messages::text as msg;
use crate::report::Report;
use crate::validate::{Action, Check, Code, Context, Hit};
use crate::vietnamese::Analysis;

const FIELD: &str = "content.text";

/// Fewer letters than this is left to CONTENT_MISSING.
const MIN_LETTERS: usize = 3;

fn analysed(report: &Report, ctx: &Context<'_>) -> Option<std::sync::Arc<Analysis>> {
    let text = &report.content.text;
    let letters = text
        .chars()
        .filter(|c| c.is_alphabetic())
        .take(MIN_LETTERS)
        .count();
    (letters >= MIN_LETTERS).then(|| ctx.analysis(report))
}

/// Vietnamese typed without marks, or as raw Telex/VNI keystrokes.
pub struct NoDiacritics;

impl Check for NoDiacritics {
    fn code(&self) -> Code {
        Code::ContentNoDiacritics
    }

    fn run(&self, report: &Report, ctx: &Context<'_>, hits: &mut Vec<Hit>) {
        let Some(a) = analysed(report, ctx) else {
            return;
        };
        if !a.is_vietnamese || !a.lacks_diacritics {
            return;
        }
        let detail = json!({
            "diacritic_ratio": a.diacritic_ratio,
            "words": a.unaccented_examples,
            "keystrokes": a.keystrokes.iter().map(|(w, s)| json!({"word": w, "meant": s})).collect::<Vec<_>>(),
        });
        hits.push(
            Hit::new(
                FIELD,
                msg::content_no_diacritics(&a.unaccented_examples, &a.keystrokes),
            )
            .with_detail(detail),
        );
    }
}

/// Vietnamese written with marks where a few words lack them (below a third of the words that
/// should carry marks): flagged for the IOC with the words, the citizen is not turned away.
pub struct PartialDiacritics;

impl Check for PartialDiacritics {
    fn code(&self) -> Code {
        Code::ContentPartialDiacritics
    }

    fn run(&self, report: &Report, ctx: &Context<'_>, hits: &mut Vec<Hit>) {
        let Some(a) = analysed(report, ctx) else {
            return;
        };
        if !a.is_vietnamese || !a.partial_diacritics {
            return;
        }
        let detail = json!({
            "words": a.partial_words,
            "unmarked_words": a.unmarked_words,
            "markable_words": a.markable_words,
            "unmarked_share": a.unmarked_share(),
        });
        hits.push(
            Hit::new(FIELD, msg::content_partial_diacritics(&a.partial_words)).with_detail(detail),
        );
    }
}

/// Chat shortcuts (rejected by default) and administrative abbreviations (at most flagged).
pub struct Abbreviations;

impl Check for Abbreviations {
    fn code(&self) -> Code {
        Code::ContentAbbreviation
    }

    fn run(&self, report: &Report, ctx: &Context<'_>, hits: &mut Vec<Hit>) {
        let Some(a) = analysed(report, ctx) else {
            return;
        };
        if !a.is_vietnamese {
            return;
        }
        let pairs = |it: &mut dyn Iterator<Item = &crate::report::Abbreviation>| {
            it.map(|x| (x.word.clone(), x.full_form.clone()))
                .collect::<Vec<_>>()
        };
        let chat = pairs(&mut a.chat_abbreviations());
        if !chat.is_empty() {
            let detail = json!({ "abbreviations": a.chat_abbreviations().collect::<Vec<_>>() });
            hits.push(Hit::new(FIELD, msg::content_chat_abbreviations(&chat)).with_detail(detail));
        }
        let admin = pairs(&mut a.administrative_abbreviations());
        if !admin.is_empty() {
            let detail =
                json!({ "abbreviations": a.administrative_abbreviations().collect::<Vec<_>>() });
            hits.push(
                Hit::new(FIELD, msg::content_administrative_abbreviations(&admin))
                    .with_detail(detail)
                    .at_most(Action::Flag),
            );
        }
    }
}

/// The description is not in Vietnamese.
pub struct NotVietnamese;

impl Check for NotVietnamese {
    fn code(&self) -> Code {
        Code::ContentNotVietnamese
    }

    fn run(&self, report: &Report, ctx: &Context<'_>, hits: &mut Vec<Hit>) {
        let Some(a) = analysed(report, ctx) else {
            return;
        };
        if a.is_vietnamese {
            return;
        }
        let detail = json!({
            "foreign_words": a.foreign,
            "other_script_letters": a.other_script_letters,
            "words": a.words,
        });
        hits.push(Hit::new(FIELD, msg::CONTENT_NOT_VIETNAMESE).with_detail(detail));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Channel, Envelope};
    use crate::validate::{Status, ValidationConfig, Validator};
    use chrono::{TimeZone, Utc};

    fn report(text: &str) -> Report {
        let mut r = Report::new(Envelope {
            id: "01TEST".into(),
            tracking_code: "T1".into(),
            channel: Channel::App,
            channel_ref: None,
            received_at: Utc.with_ymd_and_hms(2026, 11, 30, 3, 0, 0).unwrap(),
        });
        r.content.text = text.into();
        r
    }

    fn run(check: &dyn Check, text: &str) -> Vec<crate::validate::Finding> {
        let config = ValidationConfig::default();
        let ctx = Context::new(
            Utc.with_ymd_and_hms(2026, 11, 30, 3, 0, 0).unwrap(),
            &config,
        );
        let v = Validator::with_checks(vec![match check.code() {
            Code::ContentNoDiacritics => Box::new(NoDiacritics) as Box<dyn Check>,
            Code::ContentAbbreviation => Box::new(Abbreviations),
            Code::ContentPartialDiacritics => Box::new(PartialDiacritics),
            _ => Box::new(NotVietnamese),
        }])
        .validate(&report(text), &ctx);
        v.reasons.into_iter().chain(v.flags).collect()
    }

    #[test]
    fn unaccented_description_is_rejected_with_how_to_fix() {
        let config = ValidationConfig::default();
        let ctx = Context::new(
            Utc.with_ymd_and_hms(2026, 11, 30, 3, 0, 0).unwrap(),
            &config,
        );
        let v = Validator::with_checks(vec![Box::new(NoDiacritics)])
            .validate(&report("Den duong truoc nha toi bi hu ba ngay nay"), &ctx);
        assert_eq!(v.status, Status::Rejected);
        assert!(v.reasons[0].message.contains("có dấu"));
        assert!(run(&NoDiacritics, "Đèn đường trước nhà tôi bị hư ba ngày nay").is_empty());
    }

    #[test]
    fn a_few_unmarked_words_are_flagged_with_the_words_from_a_third_rejected() {
        let config = ValidationConfig::default();
        let ctx = Context::new(
            Utc.with_ymd_and_hms(2026, 11, 30, 3, 0, 0).unwrap(),
            &config,
        );
        let checks =
            || -> Vec<Box<dyn Check>> { vec![Box::new(NoDiacritics), Box::new(PartialDiacritics)] };
        let v = Validator::with_checks(checks()).validate(
            &report("Tôi đến xã làm thủ tuc cấp giay tờ đất nhưng hồ sơ nộp từ tháng trước vẫn chưa được duyet, cán bộ hẹn mãi."),
            &ctx,
        );
        assert_eq!(v.status, Status::NeedsReview, "{v:?}");
        assert_eq!(v.flags.len(), 1);
        assert_eq!(v.flags[0].code, Code::ContentPartialDiacritics);
        assert_eq!(
            v.flags[0].detail.as_ref().unwrap()["words"],
            json!(["tuc", "giay", "duyet"])
        );
        assert!(v.flags[0].message.contains("\"duyet\""));
        // A third of the words that should carry marks: refused.
        let v = Validator::with_checks(checks()).validate(
            &report("Tôi đến xã làm thu tuc cấp giay to đất nhưng ho so nộp từ tháng trước chua duoc duyet."),
            &ctx,
        );
        assert_eq!(v.status, Status::Rejected, "{v:?}");
        assert_eq!(v.reasons[0].code, Code::ContentNoDiacritics);
        assert!(v.flags.is_empty());
        // Names, numbers, codes, units and loanwords are not judged.
        assert!(run(
            &PartialDiacritics,
            "Ông Nguyen Van Tu ở ấp 3, QL1A km 1930 có camera và wifi, xe chạy 60 km/h."
        )
        .is_empty());
    }

    #[test]
    fn chat_is_rejected_administrative_only_flagged() {
        let config = ValidationConfig::default();
        let ctx = Context::new(
            Utc.with_ymd_and_hms(2026, 11, 30, 3, 0, 0).unwrap(),
            &config,
        );
        let v = Validator::with_checks(vec![Box::new(Abbreviations)]).validate(
            &report("Đèn đường hư mà ko ai sửa, UBND xã chưa trả lời"),
            &ctx,
        );
        assert_eq!(v.status, Status::Rejected);
        assert_eq!(v.reasons.len(), 1);
        assert!(
            v.reasons[0].message.contains("\"ko\" → \"không\""),
            "{}",
            v.reasons[0].message
        );
        assert_eq!(v.flags.len(), 1);
        assert!(v.flags[0].message.contains("UBND"));
        let only_admin = Validator::with_checks(vec![Box::new(Abbreviations)]).validate(
            &report("CSGT đã có mặt tại hiện trường nhưng đèn tín hiệu vẫn hỏng"),
            &ctx,
        );
        assert_eq!(only_admin.status, Status::NeedsReview);
    }

    #[test]
    fn foreign_description_is_rejected_and_nothing_else() {
        let text = "The street light in front of my house has been broken for three days.";
        assert_eq!(run(&NotVietnamese, text).len(), 1);
        assert!(run(&NoDiacritics, text).is_empty());
        assert!(run(&Abbreviations, text).is_empty());
        assert!(
            run(&NotVietnamese, "ok").is_empty(),
            "too short: CONTENT_MISSING's business"
        );
    }
}
