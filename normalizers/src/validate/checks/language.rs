//! CONTENT_NO_DIACRITICS, CONTENT_ABBREVIATION, CONTENT_NOT_VIETNAMESE (Đ6.1: "sử dụng ngôn
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
