//! The pure part of the pipeline: derive what can be derived, then validate.
//!
//! Derivation, in order:
//! 1. location: coordinates from the first attachment with credible GPS when the citizen gave
//!    none (`exif_gps`); the gazetteer match (`location.admin`) from the address, else from the
//!    title and text, else from the commune outline the coordinates fall in;
//!    `inside_jurisdiction` from the boundary. Needs [`Context::geo`]; without it
//!    only the GPS step runs.
//! 2. incident time: as given, else the earliest credible capture time of the media, else a time
//!    phrase in the title or text ("7h30 sáng hôm qua"), read relative to reception.
//! 3. language facts of the description (`content.language`) and, when the citizen chose no
//!    category, a suggested one with its confidence (Đ5).
//! 4. deadline: `forward_or_reject_by` = reception + 4 working hours (Đ9.2) on the shipped
//!    calendar, unless the caller already set it (e.g. from a calendar loaded from its config).

use crate::calendar::Calendar;
use crate::report::{
    Attachment, Category, CategorySource, CoordinatesSource, OccurredAt, Report, TimeSource,
};
use crate::timephrase;
use crate::validate::{Context, Validator, Verdict};
use crate::vietnamese;

/// Working hours the IOC has to forward or reject a report (Đ9.2).
pub const FORWARD_OR_REJECT_WORKING_HOURS: u32 = 4;

/// Fill the fields that follow from others, validate, and store the verdict on the report.
/// Returns the verdict.
pub fn finish(report: &mut Report, validator: &Validator, ctx: &Context<'_>) -> Verdict {
    derive(report, ctx);
    let verdict = validator.validate(report, ctx);
    report.verdict = verdict.clone();
    verdict
}

/// Fill the fields that follow from others (location, incident time, language facts, category,
/// deadline) without validating: callers that must consult shared state derived from these
/// fields (duplicate screening) derive first and validate once afterwards.
pub fn derive(report: &mut Report, ctx: &Context<'_>) {
    derive_location(report, ctx);
    derive_occurred_at(report, ctx);
    derive_language_and_category(report, ctx);
    derive_deadlines(report);
}

/// What the text analysis found, and a category when none was given.
fn derive_language_and_category(report: &mut Report, ctx: &Context<'_>) {
    let text = report.content.text.trim();
    if text.is_empty() {
        return;
    }
    // The facts are of the trimmed text; the checks analyse the text as it is. Most texts are
    // both, and then the context's analysis serves the checks too.
    let facts = if text.len() == report.content.text.len() {
        ctx.analysis(report).language_facts()
    } else {
        vietnamese::analyse(text).language_facts()
    };
    report.content.language = Some(facts);
    if report.category.is_none() {
        let text = match &report.content.title {
            Some(title) => format!("{title}\n{}", report.content.text),
            None => report.content.text.clone(),
        };
        report.category =
            vietnamese::suggest_category(&text).map(|(field, subcategory, confidence)| Category {
                field,
                subcategory,
                source: CategorySource::Suggested,
                confidence,
            });
    }
}

/// Coordinates from the media, gazetteer match, inside the jurisdiction or not.
fn derive_location(report: &mut Report, ctx: &Context<'_>) {
    let loc = &mut report.location;
    if !loc.coordinates.is_some_and(|c| c.is_plausible()) {
        let gps = report
            .attachments
            .iter()
            .filter(|a| a.unreadable.is_none())
            .find_map(|a| a.gps.filter(|g| g.is_plausible()));
        if let Some(gps) = gps {
            loc.coordinates = Some(gps);
            loc.coordinates_source = Some(CoordinatesSource::ExifGps);
        }
    }
    let Some(geo) = ctx.geo else {
        return;
    };
    let address = loc.address.as_deref().filter(|a| !a.trim().is_empty());
    // An address naming another province: no namesake of ours, from it or from the text.
    let named_outside = address.is_some_and(|a| geo.gazetteer().analyse(a).outside.is_some());
    if loc.admin.is_none() && !named_outside {
        loc.admin = address.and_then(|a| geo.locate(a)).or_else(|| {
            // No address, or one naming no place: the description often says where
            // ("đèn đường hư trước UBND xã Mỹ Yên").
            let text = match &report.content.title {
                Some(title) => format!("{title}\n{}", report.content.text),
                None => report.content.text.clone(),
            };
            geo.locate_in_text(&text)
        });
    }
    if loc.admin.is_none() {
        // A shared location or a photo's GPS, and no address naming a place: the commune the
        // point lies in.
        loc.admin = loc.coordinates.and_then(|c| geo.commune_at(c));
    }
    if let Some(point) = loc.coordinates.filter(|c| c.is_plausible()) {
        loc.inside_jurisdiction = Some(geo.inside(point));
    } else if named_outside {
        loc.inside_jurisdiction = Some(false);
    }
}

/// `occurred_at` as given, else the earliest credible capture time of the media, else a time
/// phrase of the text, else the earliest time the channel saw a medium sent (source `channel`:
/// a chat photo sent as the citizen reports; it never counts as a capture time).
fn derive_occurred_at(report: &mut Report, ctx: &Context<'_>) {
    if report.occurred_at.is_some() {
        return;
    }
    let skew = chrono::Duration::minutes(ctx.config.media_future_skew_minutes);
    let earliest = report
        .attachments
        .iter()
        .filter(|a| a.unreadable.is_none())
        .filter_map(Attachment::capture_time)
        .filter(|t| *t <= ctx.now + skew)
        .min();
    if let Some(at) = earliest {
        report.occurred_at = Some(OccurredAt {
            at,
            source: TimeSource::Media,
        });
        return;
    }
    let from_title = report
        .content
        .title
        .as_deref()
        .and_then(|t| timephrase::occurred_at(t, report.received_at));
    let from_text = timephrase::occurred_at(&report.content.text, report.received_at);
    let stated = from_title.into_iter().chain(from_text).min();
    if let Some(at) = stated.filter(|t| *t <= ctx.now + skew) {
        report.occurred_at = Some(OccurredAt {
            at,
            source: TimeSource::Text,
        });
    }
    // A send time (`attachments[].sent_at`) is never the incident time: a photo sent today may
    // show last week. Without a capture time or a stated time the citizen is asked (TIME_MISSING).
}

/// `forward_or_reject_by` on the shipped calendar, unless already set.
fn derive_deadlines(report: &mut Report) {
    if report.deadlines.forward_or_reject_by.is_none() {
        report.deadlines.forward_or_reject_by = Some(
            Calendar::embedded()
                .add_working_hours(report.received_at, FORWARD_OR_REJECT_WORKING_HOURS),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::local;
    use crate::geo::Geo;
    use crate::media::MediaInfo;
    use crate::report::{
        Attachment, CaptureSource, Channel, Coordinates, Envelope, MediaKind, ReceivedFile,
    };
    use crate::validate::{Code, ValidationConfig};

    /// Received on Friday 27/11/2026 at 16:30 in Long An.
    fn report(text: &str, address: Option<&str>) -> Report {
        let mut r = Report::new(Envelope {
            id: "01J".into(),
            tracking_code: "ABC".into(),
            channel: Channel::App,
            channel_ref: None,
            received_at: local(2026, 11, 27, 16, 30).unwrap(),
        });
        r.content.text = text.to_string();
        r.location.address = address.map(str::to_string);
        r
    }

    fn photo(
        gps: Option<Coordinates>,
        captured: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Attachment {
        Attachment::from_inspection(
            MediaInfo {
                kind: Some(MediaKind::Photo),
                media_type: "image/jpeg".into(),
                captured_at: captured,
                captured_at_source: if captured.is_some() {
                    CaptureSource::Exif
                } else {
                    CaptureSource::None
                },
                gps,
                ..MediaInfo::default()
            },
            ReceivedFile {
                size: 1000,
                sha256: "00".into(),
                storage_key: "00".into(),
                ..ReceivedFile::default()
            },
        )
    }

    fn finish_with(r: &mut Report, geo: Option<&Geo>) -> Verdict {
        let config = ValidationConfig::default();
        let mut ctx = Context::new(r.received_at, &config);
        ctx.geo = geo;
        finish(r, &Validator::default(), &ctx)
    }

    #[test]
    fn address_is_matched_and_deadline_set() {
        let mut r = report("Đèn đường bị hư", Some("ấp 3, xã Mỹ Yên, huyện Bến Lức"));
        let verdict = finish_with(&mut r, Some(Geo::embedded()));
        let admin = r.location.admin.as_ref().unwrap();
        assert_eq!(admin.old_commune.as_deref(), Some("Xã Mỹ Yên"));
        assert_eq!(admin.old_district.as_deref(), Some("Huyện Bến Lức"));
        assert!(!verdict.codes().contains(&Code::LocationMissing));
        // Friday 16:30 + 4 working hours = Monday 10:30.
        assert_eq!(
            r.deadlines.forward_or_reject_by,
            local(2026, 11, 30, 10, 30)
        );
    }

    #[test]
    fn the_text_names_the_place_when_the_address_is_empty() {
        let mut r = report("Rác tràn ra đường trước chợ Phường 3, TP. Tân An", None);
        finish_with(&mut r, Some(Geo::embedded()));
        let admin = r.location.admin.as_ref().unwrap();
        assert_eq!(admin.old_commune.as_deref(), Some("Phường 3"));
        assert_eq!(admin.old_district.as_deref(), Some("Thành phố Tân An"));
    }

    #[test]
    fn photo_gps_gives_coordinates_and_jurisdiction() {
        let mut r = report("Ngập nước", None);
        r.attachments
            .push(photo(Some(Coordinates { lat: 0.0, lon: 0.0 }), None));
        r.attachments.push(photo(
            Some(Coordinates {
                lat: 10.7769,
                lon: 106.7009,
            }),
            None,
        ));
        let verdict = finish_with(&mut r, Some(Geo::embedded()));
        assert_eq!(
            r.location.coordinates_source,
            Some(CoordinatesSource::ExifGps)
        );
        assert_eq!(
            r.location.coordinates.map(|c| c.lat),
            Some(10.7769),
            "null island skipped"
        );
        assert_eq!(r.location.inside_jurisdiction, Some(false));
        assert!(verdict
            .flags
            .iter()
            .any(|f| f.code == Code::LocationOutside));
        assert!(!verdict.codes().contains(&Code::LocationMissing));
    }

    #[test]
    fn coordinates_alone_give_the_commune() {
        let mut r = report("Ngập nước", None);
        r.location.coordinates = Some(Coordinates {
            lat: 10.6370,
            lon: 106.4897,
        });
        r.location.coordinates_source = Some(CoordinatesSource::ZaloLocation);
        finish_with(&mut r, Some(Geo::embedded()));
        let admin = r.location.admin.as_ref().unwrap();
        assert_eq!(admin.new_commune.as_deref(), Some("Xã Bến Lức"));
        assert_eq!(r.location.inside_jurisdiction, Some(true));
    }

    #[test]
    fn given_coordinates_are_kept() {
        let mut r = report("Ngập nước", None);
        r.location.coordinates = Some(Coordinates {
            lat: 10.5356,
            lon: 106.4131,
        });
        r.location.coordinates_source = Some(CoordinatesSource::ZaloLocation);
        r.attachments.push(photo(
            Some(Coordinates {
                lat: 10.7769,
                lon: 106.7009,
            }),
            None,
        ));
        finish_with(&mut r, Some(Geo::embedded()));
        assert_eq!(
            r.location.coordinates_source,
            Some(CoordinatesSource::ZaloLocation)
        );
        assert_eq!(r.location.inside_jurisdiction, Some(true));
    }

    #[test]
    fn unmatched_address_without_coordinates_is_missing() {
        let mut r = report("Ổ gà lớn", Some("123 Nguyễn Huệ"));
        let verdict = finish_with(&mut r, Some(Geo::embedded()));
        assert!(verdict
            .reasons
            .iter()
            .any(|f| f.code == Code::LocationMissing));
        assert!(r.location.admin.is_none());
        // Without a gazetteer the old rule applies: an address of some length is enough.
        let mut r = report("Ổ gà lớn", Some("123 Nguyễn Huệ"));
        let verdict = finish_with(&mut r, None);
        assert!(!verdict.codes().contains(&Code::LocationMissing));
        assert!(r.location.admin.is_none() && r.location.inside_jurisdiction.is_none());
    }

    #[test]
    fn incident_time_from_media_before_text() {
        let mut r = report("Sáng hôm qua lúc 7h30 đèn tắt", None);
        let captured = local(2026, 11, 27, 9, 0).unwrap();
        r.attachments.push(photo(None, Some(captured)));
        finish_with(&mut r, None);
        let occurred = r.occurred_at.as_ref().unwrap();
        assert_eq!(
            (occurred.at, occurred.source),
            (captured, TimeSource::Media)
        );
    }

    #[test]
    fn a_send_time_is_never_the_incident_time() {
        let sent = local(2026, 11, 27, 16, 20).unwrap();
        let mut chat_photo = photo(None, None);
        chat_photo.sent_at = Some(sent);
        let mut r = report("Đèn đường tắt cả đoạn", None);
        r.attachments.push(chat_photo.clone());
        let verdict = finish_with(&mut r, None);
        assert_eq!(r.occurred_at, None);
        assert_eq!(r.attachments[0].captured_at, None);
        assert!(verdict.codes().contains(&Code::TimeMissing));
        // A time the citizen wrote is the incident time.
        let mut r = report("Sáng hôm qua lúc 7h30 đèn tắt", None);
        r.attachments.push(chat_photo);
        finish_with(&mut r, None);
        assert_eq!(r.occurred_at.unwrap().source, TimeSource::Text);
    }

    #[test]
    fn incident_time_from_text_when_media_has_none() {
        let mut r = report("Sáng hôm qua lúc 7h30 đèn tắt", None);
        r.attachments.push(photo(None, None));
        let verdict = finish_with(&mut r, None);
        let occurred = r.occurred_at.as_ref().unwrap();
        assert_eq!(occurred.source, TimeSource::Text);
        assert_eq!(Some(occurred.at), local(2026, 11, 26, 7, 30));
        assert!(!verdict.codes().contains(&Code::TimeMissing));

        let mut r = report("Sáng mai sẽ ngập", None);
        let verdict = finish_with(&mut r, None);
        assert!(r.occurred_at.is_none());
        assert!(verdict.reasons.iter().any(|f| f.code == Code::TimeMissing));
    }
}
