//! One module per eligibility check. Adding a check: write the module, register it in [`all`].
//!
//! # Layout
//! - `content`: CONTENT_MISSING.
//! - `language`: CONTENT_NO_DIACRITICS, CONTENT_PARTIAL_DIACRITICS, CONTENT_ABBREVIATION, CONTENT_NOT_VIETNAMESE.
//! - `content_rules`: COMPLAINT_OR_DENUNCIATION, OFFENSIVE_CONTENT, DEFAMATION_SUSPECTED.
//! - `category`: CATEGORY_OUT_OF_SCOPE.
//! - `reporter`: REPORTER_NAME_MISSING, REPORTER_CONTACT_MISSING.
//! - `reporter_verified`: REPORTER_UNVERIFIED.
//! - `media`: MEDIA_MISSING, MEDIA_UNREADABLE.
//! - `media_time`: MEDIA_STALE, MEDIA_FUTURE, MEDIA_TIME_UNKNOWN.
//! - `time`: TIME_MISSING.
//! - `location`: LOCATION_MISSING.
//! - `location_outside`: LOCATION_OUTSIDE.
//! - `sender_blocked`: SENDER_BLOCKED (listed first: nothing else matters for a blocked sender).
//! - `duplicate`: DUPLICATE.

mod category;
mod content;
mod content_rules;
mod duplicate;
mod language;
mod location;
mod location_outside;
mod media;
mod media_time;
mod reporter;
mod reporter_verified;
mod sender_blocked;
mod time;

use super::Check;

/// Every check, in the order their findings are listed to the citizen.
pub fn all() -> Vec<Box<dyn Check>> {
    vec![
        Box::new(sender_blocked::SenderBlocked),
        Box::new(content::ContentMissing),
        Box::new(language::NotVietnamese),
        Box::new(language::NoDiacritics),
        Box::new(language::PartialDiacritics),
        Box::new(language::Abbreviations),
        Box::new(content_rules::ComplaintOrDenunciation),
        Box::new(content_rules::OffensiveContent),
        Box::new(content_rules::DefamationSuspected),
        Box::new(category::CategoryOutOfScope),
        Box::new(time::TimeMissing),
        Box::new(location::LocationMissing),
        Box::new(location_outside::LocationOutside),
        Box::new(media::MediaMissing),
        Box::new(media::MediaUnreadable),
        Box::new(media_time::MediaStale),
        Box::new(media_time::MediaFuture),
        Box::new(media_time::MediaTimeUnknown),
        Box::new(reporter::NameMissing),
        Box::new(reporter::ContactMissing),
        Box::new(reporter_verified::ReporterUnverified),
        Box::new(duplicate::Duplicate),
    ]
}
