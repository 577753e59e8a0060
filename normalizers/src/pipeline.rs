//! The pure part of the pipeline: derive what can be derived, then validate.

use crate::report::{OccurredAt, Report, TimeSource};
use crate::validate::{Context, Validator, Verdict};

/// Fill the fields that follow from others (incident time from the media), validate, and store
/// the verdict on the report. Returns the verdict.
pub fn finish(report: &mut Report, validator: &Validator, ctx: &Context<'_>) -> Verdict {
    derive_occurred_at(report, ctx);
    let verdict = validator.validate(report, ctx);
    report.verdict = verdict.clone();
    verdict
}

/// `occurred_at` as given, else the earliest credible capture time of the media.
fn derive_occurred_at(report: &mut Report, ctx: &Context<'_>) {
    if report.occurred_at.is_some() {
        return;
    }
    let skew = chrono::Duration::minutes(ctx.config.media_future_skew_minutes);
    let earliest = report
        .attachments
        .iter()
        .filter(|a| a.unreadable.is_none())
        .filter_map(|a| a.captured_at)
        .filter(|t| *t <= ctx.now + skew)
        .min();
    if let Some(at) = earliest {
        report.occurred_at = Some(OccurredAt {
            at,
            source: TimeSource::Media,
        });
    }
}
