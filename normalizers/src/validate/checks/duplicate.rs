//! DUPLICATE (Đ7.3): the report repeats one that is still open. The caller finds the earlier
//! reports (`normalizers::duplicate::find` over the gateway's index) and hands them in through
//! [`Context::duplicates`]; a repeat by the same reporter inside the window
//! ([`Context::duplicate_by_same_reporter`]) is rejected whatever the configured action, anyone
//! else's is flagged for the IOC with the ids, scores and basis of the earlier reports.

use serde_json::json;

use crate::messages;
use crate::report::Report;
use crate::validate::{Action, Check, Code, Context, Hit};

pub struct Duplicate;

impl Check for Duplicate {
    fn code(&self) -> Code {
        Code::Duplicate
    }

    fn run(&self, _report: &Report, ctx: &Context<'_>, hits: &mut Vec<Hit>) {
        if ctx.duplicates.is_empty() {
            return;
        }
        let earlier: Vec<_> = ctx
            .duplicates
            .iter()
            .map(|d| json!({ "id": d.id, "score": d.score, "basis": d.basis }))
            .collect();
        let detail =
            json!({ "duplicate_of": earlier, "same_reporter": ctx.duplicate_by_same_reporter });
        let hit = if ctx.duplicate_by_same_reporter {
            Hit::new("duplicate_of", messages::DUPLICATE_SAME_REPORTER).force(Action::Reject)
        } else {
            Hit::new("duplicate_of", messages::DUPLICATE_FLAG)
        };
        hits.push(hit.with_detail(detail));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Channel, Envelope};
    use crate::validate::{DuplicateRef, Status, ValidationConfig, Validator, Verdict};
    use chrono::TimeZone;

    fn report() -> Report {
        Report::new(Envelope {
            id: "01JNEW".into(),
            tracking_code: "LA-TEST-0001".into(),
            channel: Channel::ZaloOa,
            channel_ref: None,
            received_at: chrono::Utc.with_ymd_and_hms(2026, 11, 28, 3, 0, 0).unwrap(),
        })
    }

    fn earlier() -> Vec<DuplicateRef> {
        vec![
            DuplicateRef {
                id: "01JOLD1".into(),
                score: 1.0,
                basis: "same_media".into(),
            },
            DuplicateRef {
                id: "01JOLD2".into(),
                score: 0.71,
                basis: "place_and_text".into(),
            },
        ]
    }

    fn run(
        config: &ValidationConfig,
        duplicates: Vec<DuplicateRef>,
        same_reporter: bool,
    ) -> Verdict {
        let mut ctx = Context::new(
            chrono::Utc.with_ymd_and_hms(2026, 11, 28, 3, 0, 0).unwrap(),
            config,
        );
        ctx.duplicates = duplicates;
        ctx.duplicate_by_same_reporter = same_reporter;
        Validator::with_checks(vec![Box::new(Duplicate)]).validate(&report(), &ctx)
    }

    #[test]
    fn a_repeat_by_someone_else_is_flagged_with_the_earlier_ids() {
        let verdict = run(&ValidationConfig::default(), earlier(), false);
        assert_eq!(verdict.status, Status::NeedsReview);
        assert!(verdict.reasons.is_empty());
        let flag = &verdict.flags[0];
        assert_eq!(flag.code, Code::Duplicate);
        assert_eq!(flag.message, messages::DUPLICATE_FLAG);
        let detail = flag.detail.as_ref().unwrap();
        assert_eq!(detail["duplicate_of"][0]["id"], "01JOLD1");
        assert_eq!(detail["duplicate_of"][1]["basis"], "place_and_text");
        let ids: Vec<&str> = verdict.duplicate_of.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["01JOLD1", "01JOLD2"]);
    }

    #[test]
    fn the_same_reporter_resubmitting_is_rejected_even_when_the_code_is_only_flagged() {
        let verdict = run(&ValidationConfig::default(), earlier(), true);
        assert_eq!(verdict.status, Status::Rejected);
        assert_eq!(verdict.reasons.len(), 1);
        assert_eq!(verdict.reasons[0].code, Code::Duplicate);
        assert_eq!(
            verdict.reasons[0].message,
            messages::DUPLICATE_SAME_REPORTER
        );
        assert!(verdict.flags.is_empty());
    }

    #[test]
    fn no_earlier_report_no_finding() {
        let verdict = run(&ValidationConfig::default(), Vec::new(), false);
        assert_eq!(verdict.status, Status::Accepted);
        assert!(verdict.codes().is_empty());
    }

    #[test]
    fn switched_off_the_check_reports_nothing_not_even_a_same_reporter_repeat() {
        let mut config = ValidationConfig::default();
        config.actions.insert(Code::Duplicate, Action::Off);
        let verdict = run(&config, earlier(), true);
        assert_eq!(verdict.status, Status::Accepted);
        assert!(verdict.codes().is_empty());
    }
}
