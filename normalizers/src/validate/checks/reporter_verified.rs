//! REPORTER_UNVERIFIED (Đ6.4): the reporter's identity was not authenticated by the channel
//! (no DKIM/DMARC pass on email, no Zalo identity, no app token, no one-time code).

use crate::messages;
use crate::report::{Report, VerifiedBy};
use crate::validate::{Check, Code, Context, Hit};

pub struct ReporterUnverified;

impl Check for ReporterUnverified {
    fn code(&self) -> Code {
        Code::ReporterUnverified
    }

    fn run(&self, report: &Report, _ctx: &Context<'_>, hits: &mut Vec<Hit>) {
        if report.reporter.verified_by == VerifiedBy::None {
            hits.push(Hit::new(
                "reporter.verified_by",
                messages::REPORTER_UNVERIFIED,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Channel, Envelope};
    use crate::validate::{Status, ValidationConfig, Validator};
    use chrono::TimeZone;

    fn report(verified_by: VerifiedBy) -> Report {
        let mut r = Report::new(Envelope {
            id: "01J".into(),
            tracking_code: "T".into(),
            channel: Channel::Email,
            channel_ref: None,
            received_at: chrono::Utc.with_ymd_and_hms(2026, 11, 28, 3, 0, 0).unwrap(),
        });
        r.reporter.verified_by = verified_by;
        r
    }

    fn run(verified_by: VerifiedBy) -> crate::validate::Verdict {
        let config = ValidationConfig::default();
        let ctx = Context::new(
            chrono::Utc.with_ymd_and_hms(2026, 11, 28, 3, 0, 0).unwrap(),
            &config,
        );
        Validator::with_checks(vec![Box::new(ReporterUnverified)])
            .validate(&report(verified_by), &ctx)
    }

    #[test]
    fn an_unauthenticated_reporter_is_flagged_not_rejected() {
        let verdict = run(VerifiedBy::None);
        assert_eq!(verdict.status, Status::NeedsReview);
        assert_eq!(verdict.flags.len(), 1);
        assert_eq!(verdict.flags[0].code, Code::ReporterUnverified);
        assert_eq!(verdict.flags[0].field, "reporter.verified_by");
    }

    #[test]
    fn every_authentication_method_counts() {
        for by in [
            VerifiedBy::Dkim,
            VerifiedBy::Zalo,
            VerifiedBy::AppToken,
            VerifiedBy::Otp,
        ] {
            assert_eq!(run(by).status, Status::Accepted, "{by:?}");
        }
    }
}
