//! SENDER_BLOCKED (Đ13.1.e): the sender is on the block list for repeated abuse. The gateway
//! looks the sender's identities up (phone, email, Zalo id digests) and hands the answer in
//! through [`Context::sender_blocked`].

use crate::messages;
use crate::report::Report;
use crate::validate::{Check, Code, Context, Hit};

pub struct SenderBlocked;

impl Check for SenderBlocked {
    fn code(&self) -> Code {
        Code::SenderBlocked
    }

    fn run(&self, _report: &Report, ctx: &Context<'_>, hits: &mut Vec<Hit>) {
        if ctx.sender_blocked {
            hits.push(Hit::new("reporter", messages::SENDER_BLOCKED));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Channel, Envelope};
    use crate::validate::{Action, Status, ValidationConfig, Validator, Verdict};
    use chrono::TimeZone;

    fn run(config: &ValidationConfig, blocked: bool) -> Verdict {
        let at = chrono::Utc.with_ymd_and_hms(2026, 11, 28, 3, 0, 0).unwrap();
        let report = Report::new(Envelope {
            id: "01J".into(),
            tracking_code: "T".into(),
            channel: Channel::Email,
            channel_ref: None,
            received_at: at,
        });
        let mut ctx = Context::new(at, config);
        ctx.sender_blocked = blocked;
        Validator::with_checks(vec![Box::new(SenderBlocked)]).validate(&report, &ctx)
    }

    #[test]
    fn a_blocked_sender_is_rejected_with_the_hotline_to_call() {
        let verdict = run(&ValidationConfig::default(), true);
        assert_eq!(verdict.status, Status::Rejected);
        assert_eq!(verdict.reasons.len(), 1);
        assert_eq!(verdict.reasons[0].code, Code::SenderBlocked);
        assert_eq!(verdict.reasons[0].field, "reporter");
        assert!(verdict.reasons[0].message.contains("0272.1022"));
    }

    #[test]
    fn a_sender_not_on_the_list_passes() {
        assert_eq!(
            run(&ValidationConfig::default(), false).status,
            Status::Accepted
        );
    }

    #[test]
    fn the_action_can_be_lowered_to_a_flag() {
        let mut config = ValidationConfig::default();
        config.actions.insert(Code::SenderBlocked, Action::Flag);
        let verdict = run(&config, true);
        assert_eq!(verdict.status, Status::NeedsReview);
        assert_eq!(verdict.flags[0].code, Code::SenderBlocked);
    }
}
