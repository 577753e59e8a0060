//! One module per eligibility check. Adding a check: write the module, register it in [`all`].
//!
//! # Layout
//! - `content`: CONTENT_MISSING.
//! - `reporter`: REPORTER_NAME_MISSING, REPORTER_CONTACT_MISSING.
//! - `media`: MEDIA_MISSING, MEDIA_UNREADABLE.
//! - `time`: TIME_MISSING.
//! - `location`: LOCATION_MISSING.

mod content;
mod location;
mod media;
mod reporter;
mod time;

use super::Check;

/// Every check, in the order their findings are listed to the citizen.
pub fn all() -> Vec<Box<dyn Check>> {
    vec![
        Box::new(content::ContentMissing),
        Box::new(time::TimeMissing),
        Box::new(location::LocationMissing),
        Box::new(media::MediaMissing),
        Box::new(media::MediaUnreadable),
        Box::new(reporter::NameMissing),
        Box::new(reporter::ContactMissing),
    ]
}
