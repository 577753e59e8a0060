//! REPORTER_NAME_MISSING and REPORTER_CONTACT_MISSING (Đ6.4).
//!
//! Normalizers store the phone already in E.164 when it parsed; a phone that did not parse is
//! kept as given so this check can quote it back to the citizen.

use crate::contact::{is_valid_email, normalize_phone};
use crate::messages;
use crate::report::Report;
use crate::validate::{Check, Code, Context, Hit};

pub struct NameMissing;

impl Check for NameMissing {
    fn code(&self) -> Code {
        Code::ReporterNameMissing
    }

    fn run(&self, report: &Report, _ctx: &Context<'_>, hits: &mut Vec<Hit>) {
        let has_name = report
            .reporter
            .name
            .as_deref()
            .is_some_and(|n| n.chars().filter(|c| c.is_alphabetic()).count() >= 2);
        if !has_name {
            hits.push(Hit::new("reporter.name", messages::REPORTER_NAME_MISSING));
        }
    }
}

pub struct ContactMissing;

impl Check for ContactMissing {
    fn code(&self) -> Code {
        Code::ReporterContactMissing
    }

    fn run(&self, report: &Report, _ctx: &Context<'_>, hits: &mut Vec<Hit>) {
        let phone = report
            .reporter
            .phone
            .as_deref()
            .filter(|p| !p.trim().is_empty());
        let email = report
            .reporter
            .email
            .as_deref()
            .filter(|e| !e.trim().is_empty());
        let phone_ok = phone.is_some_and(|p| normalize_phone(p).is_some());
        let email_ok = email.is_some_and(is_valid_email);
        if phone_ok || email_ok {
            return;
        }
        match (phone, email) {
            (None, None) => hits.push(Hit::new("reporter", messages::REPORTER_CONTACT_MISSING)),
            (phone, email) => {
                if let Some(p) = phone {
                    hits.push(Hit::new(
                        "reporter.phone",
                        messages::reporter_phone_invalid(p),
                    ));
                }
                if let Some(e) = email {
                    hits.push(Hit::new(
                        "reporter.email",
                        messages::reporter_email_invalid(e),
                    ));
                }
            }
        }
    }
}
