//! The processing trail of a report (Đ12.2, Đ2.2, R-Q-3) and its deadlines (Đ9.2, Đ10, R-SLA-2).
//!
//! Statuses: `received → accepted | not_accepted`, `accepted → forwarded (agency)`,
//! `forwarded → agency_accepted` (or back to `accepted` when the agency returns it, Đ10.1, or
//! `forwarded` again to another agency), `agency_accepted → answered`, `answered → closed` (or
//! back to `agency_accepted` when the IOC returns an insufficient result, Đ10.3),
//! `not_accepted → closed`. Each transition is a [`TrailEntry`] with its time, actor (an API key
//! id and role, never a person), optional agency, internal note (never public), message for the
//! citizen, and the deadline of the new status:
//!
//! - `received`, `accepted`: forward or refuse by reception + 4 working hours (Đ9.2);
//! - `forwarded`: the agency accepts or returns by forwarding + 4 working hours (Đ10.1);
//! - `agency_accepted`: the agency answers by forwarding + 7 working days (Đ10.2 counts "từ khi
//!   nhận được kiến nghị, phản ánh", i.e. from when the agency received it, the forwarding).
//!
//! A new report has an empty trail (its reception is `received_at`); the first transition writes
//! the `received` entry too, so a stored trail is complete. The coarse `Report::status` follows:
//! `closed` once closed, `open` otherwise (the duplicate index and old readers use it).
//!
//! Pure: the caller hands in the instant and the calendar.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::calendar::Calendar;
use crate::report::{Report, ReportStatus};
use crate::validate::Status;

/// Working hours to forward or refuse after reception (Đ9.2).
pub const FORWARD_OR_REFUSE_WORKING_HOURS: u32 = 4;
/// Working hours for the agency to accept or return after forwarding (Đ10.1).
pub const AGENCY_ACCEPT_WORKING_HOURS: u32 = 4;
/// Working days for the agency to answer after it received the report (Đ10.2).
pub const AGENCY_ANSWER_WORKING_DAYS: u32 = 7;

/// Bounds of the free texts of a transition.
pub const MAX_NOTE_CHARS: usize = 2000;
pub const MAX_MESSAGE_CHARS: usize = 4000;
pub const MAX_AGENCY_CHARS: usize = 200;

/// A status of the processing trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TrailStatus {
    Received,
    Accepted,
    NotAccepted,
    Forwarded,
    AgencyAccepted,
    Answered,
    Closed,
}

impl TrailStatus {
    pub const ALL: [TrailStatus; 7] = [
        TrailStatus::Received,
        TrailStatus::Accepted,
        TrailStatus::NotAccepted,
        TrailStatus::Forwarded,
        TrailStatus::AgencyAccepted,
        TrailStatus::Answered,
        TrailStatus::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TrailStatus::Received => "received",
            TrailStatus::Accepted => "accepted",
            TrailStatus::NotAccepted => "not_accepted",
            TrailStatus::Forwarded => "forwarded",
            TrailStatus::AgencyAccepted => "agency_accepted",
            TrailStatus::Answered => "answered",
            TrailStatus::Closed => "closed",
        }
    }

    /// The statuses reachable from this one.
    pub fn next(self) -> &'static [TrailStatus] {
        use TrailStatus::*;
        match self {
            Received => &[Accepted, NotAccepted],
            Accepted => &[Forwarded, NotAccepted],
            NotAccepted => &[Closed],
            Forwarded => &[AgencyAccepted, Accepted, Forwarded],
            AgencyAccepted => &[Answered],
            Answered => &[Closed, AgencyAccepted],
            Closed => &[],
        }
    }

    /// Open311 (GeoReport v2) knows `open` and `closed`: refused, answered and closed reports
    /// are closed requests.
    pub fn open311(self) -> &'static str {
        match self {
            TrailStatus::NotAccepted | TrailStatus::Answered | TrailStatus::Closed => "closed",
            _ => "open",
        }
    }
}

impl std::fmt::Display for TrailStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which deadline of R-SLA-2 a status runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineKind {
    /// The IOC forwards or refuses (Đ9.2).
    ForwardOrRefuse,
    /// The agency accepts or returns (Đ10.1).
    AgencyAccept,
    /// The agency answers (Đ10.2).
    AgencyAnswer,
}

impl DeadlineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeadlineKind::ForwardOrRefuse => "forward_or_refuse",
            DeadlineKind::AgencyAccept => "agency_accept",
            DeadlineKind::AgencyAnswer => "agency_answer",
        }
    }
}

/// One step of the trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TrailEntry {
    pub status: TrailStatus,
    pub at: DateTime<Utc>,
    /// Who set it: `gateway`, or `<role>:<key id>` (a short digest of the API key, no person).
    pub actor: String,
    /// The agency the report is forwarded to (`forwarded`), or that handles it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency: Option<String>,
    /// Internal note of the IOC: never shown to the citizen or published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Text meant for the citizen (the reason of a refusal, the result), shown on the tracking
    /// view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The deadline this status runs against, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_by: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_kind: Option<DeadlineKind>,
}

/// What the IOC asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transition {
    pub status: Option<TrailStatus>,
    pub agency: Option<String>,
    pub note: Option<String>,
    pub message: Option<String>,
}

/// Why a transition is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TransitionError {
    #[error(
        "a report in status `{from}` cannot go to `{to}`; from `{from}` it can go to: {allowed}"
    )]
    NotAllowed {
        from: TrailStatus,
        to: TrailStatus,
        allowed: String,
    },
    #[error("the report was rejected at intake and is not on the IOC's trail")]
    RejectedAtIntake,
    #[error("`{status}` needs `{field}`")]
    Missing {
        status: TrailStatus,
        field: &'static str,
    },
    #[error("`{field}` is longer than {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("`agency` is only given with `forwarded`")]
    AgencyNotExpected,
}

impl TransitionError {
    /// A conflict with the report's current status (409), rather than a malformed request (400).
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            TransitionError::NotAllowed { .. } | TransitionError::RejectedAtIntake
        )
    }
}

/// A deadline that had passed when the report left the status it belonged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Missed {
    pub kind: DeadlineKind,
    pub due_by: DateTime<Utc>,
}

/// The status the report is in.
pub fn current(report: &Report) -> TrailStatus {
    match report.trail.last() {
        Some(e) => e.status,
        None if report.status == ReportStatus::Closed => TrailStatus::Closed,
        None => TrailStatus::Received,
    }
}

/// The deadline the report's current status runs against, if any.
pub fn current_due(report: &Report) -> Option<(DeadlineKind, DateTime<Utc>)> {
    if report.verdict.status == Status::Rejected {
        return None;
    }
    let d = &report.deadlines;
    match current(report) {
        TrailStatus::Received | TrailStatus::Accepted => d
            .forward_or_reject_by
            .map(|t| (DeadlineKind::ForwardOrRefuse, t)),
        TrailStatus::Forwarded => d.agency_accept_by.map(|t| (DeadlineKind::AgencyAccept, t)),
        TrailStatus::AgencyAccepted => d.agency_answer_by.map(|t| (DeadlineKind::AgencyAnswer, t)),
        _ => None,
    }
}

/// The trail as stored, with the implicit `received` step of a report no one has acted on yet.
pub fn entries(report: &Report) -> Vec<TrailEntry> {
    if !report.trail.is_empty() {
        return report.trail.clone();
    }
    vec![received_entry(report)]
}

fn received_entry(report: &Report) -> TrailEntry {
    TrailEntry {
        status: TrailStatus::Received,
        at: report.received_at,
        actor: "gateway".into(),
        agency: None,
        note: None,
        message: None,
        due_by: report.deadlines.forward_or_reject_by,
        due_kind: report
            .deadlines
            .forward_or_reject_by
            .map(|_| DeadlineKind::ForwardOrRefuse),
    }
}

fn clean(
    value: Option<String>,
    field: &'static str,
    max: usize,
) -> Result<Option<String>, TransitionError> {
    let Some(v) = value else { return Ok(None) };
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    if v.chars().count() > max {
        return Err(TransitionError::TooLong { field, max });
    }
    Ok(Some(crate::text::nfc(v)))
}

/// Apply the IOC's transition at `now`: append the entry, set the deadlines, follow with the
/// coarse status. Returns the deadline the left status had missed, if it had.
pub fn apply(
    report: &mut Report,
    t: Transition,
    actor: &str,
    now: DateTime<Utc>,
    calendar: &Calendar,
) -> Result<Option<Missed>, TransitionError> {
    if report.verdict.status == Status::Rejected {
        return Err(TransitionError::RejectedAtIntake);
    }
    let to = t.status.ok_or(TransitionError::Missing {
        status: TrailStatus::Received,
        field: "status",
    })?;
    let from = current(report);
    if !from.next().contains(&to) {
        let allowed = from.next().iter().map(|s| s.as_str()).collect::<Vec<_>>();
        return Err(TransitionError::NotAllowed {
            from,
            to,
            allowed: if allowed.is_empty() {
                "nothing (the trail is over)".into()
            } else {
                allowed.join(", ")
            },
        });
    }
    let agency = clean(t.agency, "agency", MAX_AGENCY_CHARS)?;
    let note = clean(t.note, "note", MAX_NOTE_CHARS)?;
    let message = clean(t.message, "message", MAX_MESSAGE_CHARS)?;
    match to {
        TrailStatus::Forwarded if agency.is_none() => {
            return Err(TransitionError::Missing {
                status: to,
                field: "agency",
            })
        }
        TrailStatus::NotAccepted | TrailStatus::Answered if message.is_none() => {
            // Đ9.2: the citizen is told why; Đ10.3: the result is stated.
            return Err(TransitionError::Missing {
                status: to,
                field: "message",
            });
        }
        TrailStatus::Forwarded => {}
        _ if agency.is_some() => return Err(TransitionError::AgencyNotExpected),
        _ => {}
    }
    let missed = current_due(report)
        .filter(|(_, due)| *due < now)
        .map(|(kind, due_by)| Missed { kind, due_by });
    if report.trail.is_empty() {
        let first = received_entry(report);
        report.trail.push(first);
    }
    let agency = match to {
        TrailStatus::Forwarded => {
            report.deadlines.agency_accept_by =
                Some(calendar.add_working_hours(now, AGENCY_ACCEPT_WORKING_HOURS));
            report.deadlines.agency_answer_by =
                Some(calendar.add_working_days(now, AGENCY_ANSWER_WORKING_DAYS));
            agency
        }
        // The agency handling it, for the record of the steps it takes.
        TrailStatus::AgencyAccepted | TrailStatus::Answered => current_agency(report),
        _ => None,
    };
    report.status = if to == TrailStatus::Closed {
        ReportStatus::Closed
    } else {
        ReportStatus::Open
    };
    let mut entry = TrailEntry {
        status: to,
        at: now,
        actor: actor.to_string(),
        agency,
        note,
        message,
        due_by: None,
        due_kind: None,
    };
    report.trail.push(entry.clone());
    if let Some((kind, due)) = current_due(report) {
        entry.due_by = Some(due);
        entry.due_kind = Some(kind);
        if let Some(last) = report.trail.last_mut() {
            *last = entry;
        }
    }
    Ok(missed)
}

/// The agency of the last forwarding, if the report was forwarded.
pub fn current_agency(report: &Report) -> Option<String> {
    report
        .trail
        .iter()
        .rev()
        .find(|e| e.status == TrailStatus::Forwarded)
        .and_then(|e| e.agency.clone())
}

/// The last time the trail moved (the reception when it never did).
pub fn updated_at(report: &Report) -> DateTime<Utc> {
    report
        .trail
        .last()
        .map(|e| e.at)
        .unwrap_or(report.received_at)
}

/// The legacy `PUT /v1/reports/{id}/status` with `closed`: close from any status.
pub fn force_close(report: &mut Report, actor: &str, now: DateTime<Utc>) -> bool {
    if current(report) == TrailStatus::Closed {
        return false;
    }
    if report.trail.is_empty() {
        let first = received_entry(report);
        report.trail.push(first);
    }
    report.trail.push(TrailEntry {
        status: TrailStatus::Closed,
        at: now,
        actor: actor.to_string(),
        agency: None,
        note: None,
        message: None,
        due_by: None,
        due_kind: None,
    });
    report.status = ReportStatus::Closed;
    true
}

/// The legacy `PUT /v1/reports/{id}/status` with `open`: a closed report goes back to the
/// status it had before closing (its deadline as it was).
pub fn reopen(report: &mut Report, actor: &str, now: DateTime<Utc>) -> bool {
    if current(report) != TrailStatus::Closed {
        return false;
    }
    let before = report
        .trail
        .iter()
        .rev()
        .find(|e| e.status != TrailStatus::Closed)
        .cloned();
    report.status = ReportStatus::Open;
    let Some(before) = before else {
        // Closed before trails existed: back to received.
        report.trail.push(TrailEntry {
            actor: actor.to_string(),
            at: now,
            ..received_entry(report)
        });
        return true;
    };
    report.trail.push(TrailEntry {
        status: before.status,
        at: now,
        actor: actor.to_string(),
        agency: before.agency,
        note: None,
        message: None,
        due_by: before.due_by,
        due_kind: before.due_kind,
    });
    true
}

/// One step as the public sees it: no actor, no internal note.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublicStep {
    pub status: TrailStatus,
    /// The status in Vietnamese.
    pub label: &'static str,
    pub at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agency: Option<String>,
    /// What the IOC or the agency told the citizen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_by: Option<DateTime<Utc>>,
}

/// The tracking view of a report (R-MSG-TRACK): the trail and the messages meant for the
/// citizen, never personal data (no reporter, no address, no description, no media) and never
/// internal notes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublicTrack {
    pub tracking_code: String,
    pub received_at: DateTime<Utc>,
    pub status: TrailStatus,
    pub label: &'static str,
    /// The field of Đ5, in Vietnamese, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_by: Option<DateTime<Utc>>,
    /// Set when the gateway did not accept the report at intake.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected: Option<&'static str>,
    pub steps: Vec<PublicStep>,
    /// The IOC's messages to the citizen (never internal notes), oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<crate::conversation::PublicMessage>,
    /// The last result waits for the citizen's rating (`POST /v1/track/{code}/rating`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub rating_requested: bool,
}

/// The public view of `report`.
pub fn public_track(report: &Report) -> PublicTrack {
    use crate::messages::trail as msg;
    let rejected = report.verdict.status == Status::Rejected;
    let steps = if rejected {
        vec![PublicStep {
            status: TrailStatus::Received,
            label: msg::status_label(TrailStatus::Received),
            at: report.received_at,
            agency: None,
            message: None,
            due_by: None,
        }]
    } else {
        entries(report)
            .into_iter()
            .map(|e| PublicStep {
                status: e.status,
                label: msg::status_label(e.status),
                at: e.at,
                agency: e.agency,
                message: e.message,
                due_by: e.due_by,
            })
            .collect()
    };
    let status = if rejected {
        TrailStatus::NotAccepted
    } else {
        current(report)
    };
    PublicTrack {
        tracking_code: report.tracking_code.clone(),
        received_at: report.received_at,
        status,
        label: msg::status_label(status),
        category: report
            .category
            .as_ref()
            .and_then(|c| crate::vietnamese::field_name(c.field)),
        due_by: current_due(report).map(|(_, t)| t),
        rejected: rejected.then_some(msg::REJECTED_AT_INTAKE),
        steps,
        messages: crate::conversation::public_messages(report),
        rating_requested: crate::conversation::rating_open(report).is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::local;
    use crate::report::{Channel, Envelope};

    fn report() -> Report {
        // Monday 30 November 2026, 09:00 local.
        let received = local(2026, 11, 30, 9, 0).unwrap();
        let mut r = Report::new(Envelope {
            id: "01TEST".into(),
            tracking_code: "LA-AAAA-BBBB".into(),
            channel: Channel::App,
            channel_ref: None,
            received_at: received,
        });
        r.verdict.status = Status::Accepted;
        r.deadlines.forward_or_reject_by = Some(local(2026, 11, 30, 13, 0).unwrap());
        r
    }

    fn go(status: TrailStatus) -> Transition {
        Transition {
            status: Some(status),
            ..Transition::default()
        }
    }

    #[test]
    fn the_whole_trail_with_its_deadlines() {
        let cal = Calendar::embedded();
        let mut r = report();
        assert_eq!(current(&r), TrailStatus::Received);
        let at = local(2026, 11, 30, 10, 0).unwrap();
        apply(&mut r, go(TrailStatus::Accepted), "ioc:abc", at, cal).unwrap();
        assert_eq!(r.trail.len(), 2, "the received step is written too");
        assert_eq!(r.trail[0].status, TrailStatus::Received);
        assert_eq!(r.trail[1].due_by, r.deadlines.forward_or_reject_by);
        // Forwarded Monday 12:00 (in time): 4 working hours = 16:00; 7 working days = Wednesday
        // 9 December 12:00.
        let at = local(2026, 11, 30, 12, 0).unwrap();
        let fw = Transition {
            agency: Some("UBND xã Mỹ Yên".into()),
            ..go(TrailStatus::Forwarded)
        };
        assert_eq!(apply(&mut r, fw, "ioc:abc", at, cal).unwrap(), None);
        assert_eq!(r.trail[2].due_by, local(2026, 11, 30, 16, 0));
        assert_eq!(r.deadlines.agency_answer_by, local(2026, 12, 9, 12, 0));
        // Accepted by the agency late: the missed deadline is reported.
        let late = local(2026, 12, 1, 11, 0).unwrap();
        let missed = apply(
            &mut r,
            go(TrailStatus::AgencyAccepted),
            "ioc:abc",
            late,
            cal,
        )
        .unwrap()
        .unwrap();
        assert_eq!(missed.kind, DeadlineKind::AgencyAccept);
        assert_eq!(r.trail[3].agency.as_deref(), Some("UBND xã Mỹ Yên"));
        assert_eq!(r.trail[3].due_by, local(2026, 12, 9, 12, 0));
        let answered = Transition {
            message: Some("Đã thay bóng đèn.".into()),
            note: Some("internal".into()),
            ..go(TrailStatus::Answered)
        };
        apply(&mut r, answered, "ioc:abc", late, cal).unwrap();
        apply(&mut r, go(TrailStatus::Closed), "ioc:abc", late, cal).unwrap();
        assert_eq!(r.status, ReportStatus::Closed);
        let err = apply(&mut r, go(TrailStatus::Accepted), "ioc:abc", late, cal).unwrap_err();
        assert!(err.is_conflict());
        let public = serde_json::to_string(&public_track(&r)).unwrap();
        assert!(public.contains("Đã thay bóng đèn."));
        assert!(!public.contains("internal"));
        assert!(!public.contains("ioc:abc"));
    }

    #[test]
    fn invalid_transitions_and_missing_fields() {
        let cal = Calendar::embedded();
        let now = local(2026, 11, 30, 10, 0).unwrap();
        let mut r = report();
        let e = apply(&mut r, go(TrailStatus::Answered), "a", now, cal).unwrap_err();
        assert!(matches!(e, TransitionError::NotAllowed { .. }));
        assert!(e.to_string().contains("accepted, not_accepted"));
        let e = apply(&mut r, go(TrailStatus::NotAccepted), "a", now, cal).unwrap_err();
        assert_eq!(
            e,
            TransitionError::Missing {
                status: TrailStatus::NotAccepted,
                field: "message"
            }
        );
        apply(&mut r, go(TrailStatus::Accepted), "a", now, cal).unwrap();
        let e = apply(&mut r, go(TrailStatus::Forwarded), "a", now, cal).unwrap_err();
        assert!(!e.is_conflict());
        assert!(r.trail.len() == 2, "a refused transition changes nothing");
        r.verdict.status = Status::Rejected;
        let e = apply(&mut r, go(TrailStatus::Forwarded), "a", now, cal).unwrap_err();
        assert_eq!(e, TransitionError::RejectedAtIntake);
    }

    #[test]
    fn legacy_close_and_reopen() {
        let cal = Calendar::embedded();
        let now = local(2026, 11, 30, 10, 0).unwrap();
        let mut r = report();
        apply(&mut r, go(TrailStatus::Accepted), "a", now, cal).unwrap();
        assert!(force_close(&mut r, "a", now));
        assert!(!force_close(&mut r, "a", now));
        assert_eq!(r.status, ReportStatus::Closed);
        assert!(reopen(&mut r, "a", now));
        assert_eq!(current(&r), TrailStatus::Accepted);
        assert_eq!(r.status, ReportStatus::Open);
        assert_eq!(
            current_due(&r).map(|d| d.1),
            r.deadlines.forward_or_reject_by
        );
    }

    #[test]
    fn old_reports_without_a_trail_read() {
        let mut r = report();
        let mut v = serde_json::to_value(&r).unwrap();
        assert!(v.get("trail").is_none(), "an empty trail is not written");
        v["status"] = "closed".into();
        r = serde_json::from_value(v).unwrap();
        assert_eq!(current(&r), TrailStatus::Closed);
        assert!(r.trail.is_empty());
    }
}
