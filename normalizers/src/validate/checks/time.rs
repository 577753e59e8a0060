//! TIME_MISSING (Đ6.2, Đ7.2): the incident time, given or derivable from the media.

use crate::messages;
use crate::report::Report;
use crate::validate::{Check, Code, Context, Hit};

pub struct TimeMissing;

impl Check for TimeMissing {
    fn code(&self) -> Code {
        Code::TimeMissing
    }

    fn run(&self, report: &Report, _ctx: &Context<'_>, hits: &mut Vec<Hit>) {
        if report.occurred_at.is_none() {
            hits.push(Hit::new("occurred_at", messages::TIME_MISSING));
        }
    }
}
