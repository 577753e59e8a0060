//! The fields that the form-like channels (app, portal, Zalo mini app) fill the same way: a
//! citizen typed them into a form and they are normalised identically whichever form it was.
//!
//! Each normalizer maps its own submission onto [`IntakeFields`] and adds what only it knows
//! afterwards (the mini app: the phone and identity Zalo vouches for).

use chrono::{DateTime, Utc};

use crate::app::AppCategory;
use crate::contact::normalize_phone;
use crate::report::{
    Category, CategorySource, Coordinates, CoordinatesSource, Envelope, OccurredAt, Report,
    ReporterKind, TimeSource,
};
use crate::text::nfc;

/// What the citizen filled in, as sent (blank text counts as absent).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct IntakeFields<'a> {
    pub content: &'a str,
    pub reporter_kind: Option<ReporterKind>,
    pub name: Option<&'a str>,
    /// Kept as typed when it is not a Vietnamese number, so the validator can say so.
    pub phone: Option<&'a str>,
    pub email: Option<&'a str>,
    pub category: Option<&'a AppCategory>,
    pub occurred_at: Option<DateTime<Utc>>,
    pub address: Option<&'a str>,
    /// The point and who placed it; the caller has checked it is in range.
    pub coordinates: Option<(Coordinates, CoordinatesSource)>,
    pub confidential: Option<bool>,
    pub consent_share_pii: Option<bool>,
}

impl IntakeFields<'_> {
    /// The canonical report of these fields (no attachments): text in NFC, the phone in E.164
    /// when it parses, the email lowercase, the category and time as given by the citizen.
    pub fn into_report(self, envelope: Envelope) -> Report {
        let mut report = Report::new(envelope);
        let r = &mut report.reporter;
        r.kind = self.reporter_kind.unwrap_or_default();
        r.name = non_empty(self.name).map(nfc);
        r.phone = non_empty(self.phone).map(phone_as_given);
        r.email = non_empty(self.email).map(|e| e.to_ascii_lowercase());
        r.consent_share_pii = self.consent_share_pii.unwrap_or(false);
        report.content.text = nfc(self.content.trim());
        report.category = self.category.map(|c| Category {
            field: c.field,
            subcategory: non_empty(c.subcategory.as_deref()).map(nfc),
            source: CategorySource::Given,
            confidence: 1.0,
        });
        report.occurred_at = self.occurred_at.map(|at| OccurredAt {
            at,
            source: TimeSource::Given,
        });
        report.location.address = non_empty(self.address).map(nfc);
        if let Some((c, source)) = self.coordinates {
            report.location.coordinates = Some(c);
            report.location.coordinates_source = Some(source);
        }
        report.confidential = self.confidential.unwrap_or(false);
        report
    }
}

/// A phone number in E.164 when it is a Vietnamese number, else as given.
pub fn phone_as_given(phone: &str) -> String {
    normalize_phone(phone).unwrap_or_else(|| phone.to_string())
}

/// The trimmed text, or `None` when it is blank.
pub fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Channel;
    use chrono::TimeZone;

    #[test]
    fn blank_fields_are_absent_and_given_ones_normalised() {
        let sent = Utc.timestamp_opt(1_796_000_000, 0).unwrap();
        let fields = IntakeFields {
            content: "  Cống thoát nước bị tắc.  ",
            name: Some("   "),
            phone: Some(" 0912 345 678 "),
            email: Some("An.Nguyen@Example.VN"),
            address: Some(""),
            occurred_at: Some(sent),
            ..IntakeFields::default()
        };
        let report = fields.into_report(Envelope {
            id: "01F".into(),
            tracking_code: "F".into(),
            channel: Channel::Portal,
            channel_ref: None,
            received_at: sent,
        });
        assert_eq!(report.content.text, "Cống thoát nước bị tắc.");
        assert_eq!(report.reporter.name, None);
        assert_eq!(report.reporter.phone.as_deref(), Some("+84912345678"));
        assert_eq!(
            report.reporter.email.as_deref(),
            Some("an.nguyen@example.vn")
        );
        assert_eq!(report.location.address, None);
        assert_eq!(
            report.occurred_at.map(|o| o.source),
            Some(TimeSource::Given)
        );
        assert!(!report.confidential && !report.reporter.consent_share_pii);
    }
}
