//! Monthly and yearly intake figures (R-REP-1, Đ13.4, Đ15.1): counts by channel, field, commune
//! (old and new units), verdict and reason code; the time to forward and the on-time share; the
//! overdue and backlog lists (ids and tracking codes only); as JSON, CSV and charts.
//!
//! Periods are calendar months or years in Vietnam's time (UTC+7). A report belongs to the
//! period it was received in. Statuses, deadlines and the lists are as they stood at the
//! period's end, or now for the running period ("as of"), read from each report's trail, so
//! that the figures of a past month do not change when its reports move on.
//!
//! Every report is visited once, a page of documents at a time ([`Pipeline::scan_reports`]):
//! memory holds the counters, the forwarding times of the period and the two lists, never the
//! documents.
//!
//! # Layout
//! - `chart`: the SVG and PNG charts (plotters, with an embedded font).

pub mod chart;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use normalizers::calendar::{from_local, to_local, Calendar};
use normalizers::report::{CategoryField, Channel, Report};
use normalizers::trail::{DeadlineKind, TrailStatus};
use normalizers::validate::Status;
use serde::Serialize;
use utoipa::ToSchema;

use crate::pipeline::Pipeline;
use crate::store::StoreFailure;

/// Report documents read per page.
const PAGE: usize = 200;

/// The key of reports without a value in a table (no field, no matched commune).
pub const UNKNOWN: &str = "unknown";

/// A reporting period: a calendar month or year, in Vietnam's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Month { year: i32, month: u32 },
    Year(i32),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is no period: give a month as YYYY-MM (2026-11) or a year as YYYY (2026)")]
pub struct PeriodError(String);

impl FromStr for Period {
    type Err = PeriodError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || PeriodError(s.to_string());
        let s = s.trim();
        let year_of = |y: &str| -> Result<i32, PeriodError> {
            if y.len() != 4 || !y.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            y.parse::<i32>().map_err(|_| bad())
        };
        match s.split_once('-') {
            None => Ok(Period::Year(year_of(s)?)),
            Some((y, m)) => {
                let year = year_of(y)?;
                if m.len() != 2 || !m.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                let month: u32 = m.parse().map_err(|_| bad())?;
                if !(1..=12).contains(&month) {
                    return Err(bad());
                }
                Ok(Period::Month { year, month })
            }
        }
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Period::Month { year, month } => write!(f, "{year:04}-{month:02}"),
            Period::Year(year) => write!(f, "{year:04}"),
        }
    }
}

impl Period {
    fn first_day(self) -> NaiveDate {
        match self {
            Period::Month { year, month } => NaiveDate::from_ymd_opt(year, month, 1),
            Period::Year(year) => NaiveDate::from_ymd_opt(year, 1, 1),
        }
        .unwrap_or(NaiveDate::MIN)
    }

    /// The first day after the period.
    fn end_day(self) -> NaiveDate {
        match self {
            Period::Month { year, month: 12 } => NaiveDate::from_ymd_opt(year + 1, 1, 1),
            Period::Month { year, month } => NaiveDate::from_ymd_opt(year, month + 1, 1),
            Period::Year(year) => NaiveDate::from_ymd_opt(year + 1, 1, 1),
        }
        .unwrap_or(NaiveDate::MAX)
    }

    /// The first instant of the period (local midnight).
    pub fn start(self) -> DateTime<Utc> {
        from_local(self.first_day().and_time(chrono::NaiveTime::MIN))
    }

    /// The first instant after the period.
    pub fn end(self) -> DateTime<Utc> {
        from_local(self.end_day().and_time(chrono::NaiveTime::MIN))
    }

    /// The period as Vietnamese readers write it: `tháng 11/2026`, `năm 2026`.
    pub fn label_vi(self) -> String {
        match self {
            Period::Month { year, month } => format!("tháng {month}/{year}"),
            Period::Year(year) => format!("năm {year}"),
        }
    }
}

/// A count under a key (sorted by count, then key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Count {
    pub key: String,
    pub count: u64,
}

/// A count per old commune (with its old district) or new commune.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CommuneCount {
    /// Pre-2025 district (`old` table only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub district: Option<String>,
    pub commune: String,
    pub count: u64,
}

/// Reports received on one local day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Day {
    pub date: NaiveDate,
    pub count: u64,
}

/// Median and 90th percentile of durations (nearest rank), in minutes.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Spread {
    pub median_minutes: Option<f64>,
    pub p90_minutes: Option<f64>,
}

/// How fast reports were forwarded (Đ9.2: forward or refuse within 4 working hours).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Forwarding {
    /// Reports of the period forwarded to an agency by the as-of instant.
    pub forwarded: u64,
    /// From reception to the first forwarding, counting working hours only (07:00–17:00
    /// Monday to Friday less holidays: the calendar of the deadlines).
    pub working_time: Spread,
    /// The same on the wall clock.
    pub wall_clock: Spread,
    /// Reports of the period (not rejected at intake) decided — forwarded or refused — by
    /// their forward-or-refuse deadline.
    pub decided_on_time: u64,
    /// Decided after the deadline, or still undecided with the deadline passed.
    pub late: u64,
    /// Undecided, deadline still ahead: not counted in the share.
    pub pending: u64,
    /// `decided_on_time / (decided_on_time + late)`; none without such reports.
    pub on_time_share: Option<f64>,
}

/// A report in the overdue or backlog list: no personal data, no text.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Listed {
    pub id: String,
    pub tracking_code: String,
    /// Trail status at the as-of instant.
    #[schema(value_type = String)]
    pub status: TrailStatus,
    pub received_at: DateTime<Utc>,
    /// The deadline the status runs against, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_by: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub due_kind: Option<DeadlineKind>,
}

/// The figures of a period.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Figures {
    /// `2026-11` or `2026`.
    pub period: String,
    /// Start and end (exclusive) of the period, local midnights as UTC instants.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Statuses, deadlines and lists are as they stood then: the period's end, or now while
    /// the period runs.
    pub as_of: DateTime<Utc>,
    /// Reports received in the period.
    pub received: u64,
    /// Every channel, zeros included.
    pub by_channel: Vec<Count>,
    /// The five fields of Đ5 (zeros included) and `unknown`.
    pub by_field: Vec<Count>,
    /// Pre-2025 communes with their district; `unknown` where no unit matched.
    pub by_commune_old: Vec<CommuneCount>,
    /// Post-2025 communes; `unknown` where no unit matched.
    pub by_commune_new: Vec<CommuneCount>,
    /// `accepted`, `needs_review`, `rejected` (zeros included), `pending` when any.
    pub by_verdict: Vec<Count>,
    /// Codes of the reasons reports were rejected for (a report counts once per code).
    pub by_reason: Vec<Count>,
    /// Codes of the flags put before the IOC.
    pub by_flag: Vec<Count>,
    /// Trail status at the as-of instant of the period's reports not rejected at intake.
    pub by_status: Vec<Count>,
    /// Every day of the period up to the as-of instant.
    pub daily: Vec<Day>,
    pub forwarding: Forwarding,
    /// Reports (of any period up to the as-of instant) whose running deadline had passed.
    pub overdue: Vec<Listed>,
    /// Reports (of any period up to the as-of instant) not yet answered, refused or closed.
    pub backlog: Vec<Listed>,
}

/// What one report's trail says at an instant.
struct StateAt {
    status: TrailStatus,
    due_by: Option<DateTime<Utc>>,
    due_kind: Option<DeadlineKind>,
}

fn state_at(report: &Report, at: DateTime<Utc>) -> StateAt {
    let last = report.trail.iter().rfind(|e| e.at <= at);
    match last {
        Some(e) => StateAt {
            status: e.status,
            due_by: e.due_by,
            due_kind: e.due_kind,
        },
        None => StateAt {
            status: TrailStatus::Received,
            due_by: report.deadlines.forward_or_reject_by,
            due_kind: report
                .deadlines
                .forward_or_reject_by
                .map(|_| DeadlineKind::ForwardOrRefuse),
        },
    }
}

fn unfinished(status: TrailStatus) -> bool {
    matches!(
        status,
        TrailStatus::Received
            | TrailStatus::Accepted
            | TrailStatus::Forwarded
            | TrailStatus::AgencyAccepted
    )
}

/// The running tallies.
#[derive(Default)]
struct Tally {
    received: u64,
    by_channel: BTreeMap<String, u64>,
    by_field: BTreeMap<String, u64>,
    by_commune_old: BTreeMap<(Option<String>, String), u64>,
    by_commune_new: BTreeMap<String, u64>,
    by_verdict: BTreeMap<String, u64>,
    by_reason: BTreeMap<String, u64>,
    by_flag: BTreeMap<String, u64>,
    by_status: BTreeMap<String, u64>,
    daily: BTreeMap<NaiveDate, u64>,
    working_secs: Vec<i64>,
    wall_secs: Vec<i64>,
    on_time: u64,
    late: u64,
    pending: u64,
    overdue: Vec<Listed>,
    backlog: Vec<Listed>,
}

/// Field keys as the report schema writes them.
pub fn field_key(field: CategoryField) -> &'static str {
    match field {
        CategoryField::PublicAdministration => "public_administration",
        CategoryField::UrbanOrder => "urban_order",
        CategoryField::Traffic => "traffic",
        CategoryField::PublicSecurity => "public_security",
        CategoryField::Environment => "environment",
    }
}

/// Every field, in the order of Đ5.
pub const FIELDS: [CategoryField; 5] = [
    CategoryField::PublicAdministration,
    CategoryField::UrbanOrder,
    CategoryField::Traffic,
    CategoryField::PublicSecurity,
    CategoryField::Environment,
];

impl Tally {
    fn new() -> Self {
        let mut t = Tally::default();
        for c in Channel::ALL {
            t.by_channel.insert(c.as_str().into(), 0);
        }
        for f in FIELDS {
            t.by_field.insert(field_key(f).into(), 0);
        }
        for v in [Status::Accepted, Status::NeedsReview, Status::Rejected] {
            t.by_verdict.insert(v.as_str().into(), 0);
        }
        t
    }

    fn add(&mut self, report: &Report, period: Period, as_of: DateTime<Utc>, calendar: &Calendar) {
        if report.received_at > as_of {
            return;
        }
        let rejected = report.verdict.status == Status::Rejected;
        let state = state_at(report, as_of);
        if !rejected && unfinished(state.status) {
            let listed = Listed {
                id: report.id.clone(),
                tracking_code: report.tracking_code.clone(),
                status: state.status,
                received_at: report.received_at,
                due_by: state.due_by,
                due_kind: state.due_kind,
            };
            if state.due_by.is_some_and(|due| due < as_of) {
                self.overdue.push(listed.clone());
            }
            self.backlog.push(listed);
        }
        if report.received_at < period.start() || report.received_at >= period.end() {
            return;
        }
        self.received += 1;
        *self
            .by_channel
            .entry(report.channel.as_str().into())
            .or_default() += 1;
        let field = report
            .category
            .as_ref()
            .map(|c| field_key(c.field))
            .unwrap_or(UNKNOWN);
        *self.by_field.entry(field.into()).or_default() += 1;
        let admin = report.location.admin.as_ref();
        let old = admin
            .and_then(|a| a.old_commune.clone())
            .map(|c| (admin.and_then(|a| a.old_district.clone()), c))
            .unwrap_or((None, UNKNOWN.into()));
        *self.by_commune_old.entry(old).or_default() += 1;
        let new = admin
            .and_then(|a| a.new_commune.clone())
            .unwrap_or_else(|| UNKNOWN.into());
        *self.by_commune_new.entry(new).or_default() += 1;
        *self
            .by_verdict
            .entry(report.verdict.status.as_str().into())
            .or_default() += 1;
        let mut codes: Vec<&str> = report
            .verdict
            .reasons
            .iter()
            .map(|f| f.code.as_str())
            .collect();
        codes.sort_unstable();
        codes.dedup();
        for code in codes {
            *self.by_reason.entry(code.into()).or_default() += 1;
        }
        let mut flags: Vec<&str> = report
            .verdict
            .flags
            .iter()
            .map(|f| f.code.as_str())
            .collect();
        flags.sort_unstable();
        flags.dedup();
        for code in flags {
            *self.by_flag.entry(code.into()).or_default() += 1;
        }
        *self
            .daily
            .entry(to_local(report.received_at).date())
            .or_default() += 1;
        if rejected {
            return;
        }
        *self
            .by_status
            .entry(state.status.as_str().into())
            .or_default() += 1;
        let steps = || report.trail.iter().filter(|e| e.at <= as_of);
        if let Some(fwd) = steps().find(|e| e.status == TrailStatus::Forwarded) {
            self.working_secs.push(
                calendar
                    .working_time_between(report.received_at, fwd.at)
                    .num_seconds(),
            );
            self.wall_secs
                .push((fwd.at - report.received_at).num_seconds().max(0));
        }
        if let Some(due) = report.deadlines.forward_or_reject_by {
            let decided = steps()
                .find(|e| matches!(e.status, TrailStatus::Forwarded | TrailStatus::NotAccepted))
                .map(|e| e.at);
            match decided {
                Some(at) if at <= due => self.on_time += 1,
                Some(_) => self.late += 1,
                None if due < as_of => self.late += 1,
                None => self.pending += 1,
            }
        }
    }

    fn finish(self, period: Period, as_of: DateTime<Utc>) -> Figures {
        let counts = |m: BTreeMap<String, u64>| {
            let mut v: Vec<Count> = m
                .into_iter()
                .map(|(key, count)| Count { key, count })
                .collect();
            v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
            v
        };
        // Fixed-order tables keep their order (channels, fields, verdicts).
        let ordered = |m: &BTreeMap<String, u64>, keys: &[&str]| -> Vec<Count> {
            let mut v: Vec<Count> = keys
                .iter()
                .map(|k| Count {
                    key: k.to_string(),
                    count: m.get(*k).copied().unwrap_or(0),
                })
                .collect();
            for (k, c) in m {
                if !keys.contains(&k.as_str()) {
                    v.push(Count {
                        key: k.clone(),
                        count: *c,
                    });
                }
            }
            v
        };
        let channel_keys: Vec<&str> = Channel::ALL.iter().map(|c| c.as_str()).collect();
        let mut field_keys: Vec<&str> = FIELDS.iter().map(|f| field_key(*f)).collect();
        field_keys.push(UNKNOWN);
        let mut by_field = ordered(&self.by_field, &field_keys);
        by_field.retain(|c| c.key != UNKNOWN || c.count > 0);
        let verdict_keys = ["accepted", "needs_review", "rejected"];
        let mut by_commune_old: Vec<CommuneCount> = self
            .by_commune_old
            .into_iter()
            .map(|((district, commune), count)| CommuneCount {
                district,
                commune,
                count,
            })
            .collect();
        by_commune_old.sort_by_key(|c| std::cmp::Reverse(c.count));
        let mut by_commune_new: Vec<CommuneCount> = self
            .by_commune_new
            .into_iter()
            .map(|(commune, count)| CommuneCount {
                district: None,
                commune,
                count,
            })
            .collect();
        by_commune_new.sort_by_key(|c| std::cmp::Reverse(c.count));
        let mut daily = Vec::new();
        let last_day = to_local(as_of.min(period.end() - Duration::seconds(1))).date();
        let mut day = period.first_day();
        while day <= last_day && day < period.end_day() {
            daily.push(Day {
                date: day,
                count: self.daily.get(&day).copied().unwrap_or(0),
            });
            match day.succ_opt() {
                Some(d) => day = d,
                None => break,
            }
        }
        let decided = self.on_time + self.late;
        let mut overdue = self.overdue;
        overdue.sort_by(|a, b| a.due_by.cmp(&b.due_by).then_with(|| a.id.cmp(&b.id)));
        let mut backlog = self.backlog;
        backlog.sort_by(|a, b| a.id.cmp(&b.id));
        Figures {
            period: period.to_string(),
            from: period.start(),
            to: period.end(),
            as_of,
            received: self.received,
            by_channel: ordered(&self.by_channel, &channel_keys),
            by_field,
            by_commune_old,
            by_commune_new,
            by_verdict: ordered(&self.by_verdict, &verdict_keys),
            by_reason: counts(self.by_reason),
            by_flag: counts(self.by_flag),
            by_status: counts(self.by_status),
            daily,
            forwarding: Forwarding {
                forwarded: self.working_secs.len() as u64,
                working_time: spread(self.working_secs),
                wall_clock: spread(self.wall_secs),
                decided_on_time: self.on_time,
                late: self.late,
                pending: self.pending,
                on_time_share: (decided > 0).then(|| self.on_time as f64 / decided as f64),
            },
            overdue,
            backlog,
        }
    }
}

/// The nearest-rank percentile `p` (0–100] of sorted values.
fn nearest_rank(sorted: &[i64], p: u32) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (u64::from(p) * sorted.len() as u64).div_ceil(100).max(1) as usize;
    sorted.get(rank - 1).copied()
}

fn spread(mut secs: Vec<i64>) -> Spread {
    secs.sort_unstable();
    let minutes = |s: i64| (s as f64 / 6.0).round() / 10.0;
    Spread {
        median_minutes: nearest_rank(&secs, 50).map(minutes),
        p90_minutes: nearest_rank(&secs, 90).map(minutes),
    }
}

/// The as-of instant of `period` at `now`: its end, or now while it runs.
pub fn as_of(period: Period, now: DateTime<Utc>) -> DateTime<Utc> {
    now.min(period.end() - Duration::milliseconds(1))
}

/// Why the figures could not be made.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("reading the reports: {0}")]
    Store(#[from] StoreFailure),
    #[error("the period {0} has not started yet")]
    Future(String),
}

/// The figures of `period`, reading every stored report once, a page at a time.
pub async fn compute(pipeline: &Pipeline, period: Period) -> Result<Figures, StatsError> {
    let now = pipeline.now();
    if period.start() > now {
        return Err(StatsError::Future(period.to_string()));
    }
    let as_of = as_of(period, now);
    // Ids are ULIDs of the reception time: the embedded store stops after the last one
    // possible at the as-of instant.
    let upto =
        ulid::Ulid::from_parts(as_of.timestamp_millis().max(0) as u64, u128::MAX).to_string();
    let calendar = pipeline.calendar();
    let mut tally = Tally::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = pipeline
            .scan_reports(cursor.as_deref(), Some(&upto), PAGE)
            .await?;
        for doc in &page.documents {
            match serde_json::from_slice::<Report>(doc) {
                Ok(report) => tally.add(&report, period, as_of, calendar),
                // One unreadable document must not hide the month's figures; it is logged
                // without its content.
                Err(e) => {
                    tracing::warn!(error = %e, "a stored report is not readable; left out of the figures")
                }
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(tally.finish(period, as_of))
}

/// Output formats of the figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            other => Err(format!("`{other}` is no format: json or csv")),
        }
    }
}

/// A CSV field, quoted when needed (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn opt_num(v: Option<f64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// The figures as one CSV table `section,key,value,detail`: a row per count (`by_channel`,
/// `by_field`, `by_commune_old` with the district as detail, `by_commune_new`, `by_verdict`,
/// `by_reason`, `by_flag`, `by_status`, `daily`), the forwarding figures (`forwarding`), and a
/// row per listed report (`overdue`, `backlog`: key the id, value the tracking code, detail the
/// status and deadline).
pub fn to_csv(f: &Figures) -> String {
    let mut out = String::from("section,key,value,detail\r\n");
    let mut row = |section: &str, key: &str, value: &str, detail: &str| {
        let _ = write!(
            out,
            "{},{},{},{}\r\n",
            csv_field(section),
            csv_field(key),
            csv_field(value),
            csv_field(detail)
        );
    };
    let instant = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    row("period", &f.period, &instant(f.as_of), "as_of");
    row("received", "total", &f.received.to_string(), "");
    for (section, counts) in [
        ("by_channel", &f.by_channel),
        ("by_field", &f.by_field),
        ("by_verdict", &f.by_verdict),
        ("by_reason", &f.by_reason),
        ("by_flag", &f.by_flag),
        ("by_status", &f.by_status),
    ] {
        for c in counts {
            row(section, &c.key, &c.count.to_string(), "");
        }
    }
    for c in &f.by_commune_old {
        row(
            "by_commune_old",
            &c.commune,
            &c.count.to_string(),
            c.district.as_deref().unwrap_or(""),
        );
    }
    for c in &f.by_commune_new {
        row("by_commune_new", &c.commune, &c.count.to_string(), "");
    }
    for d in &f.daily {
        row("daily", &d.date.to_string(), &d.count.to_string(), "");
    }
    let fw = &f.forwarding;
    for (key, value) in [
        ("forwarded", fw.forwarded.to_string()),
        (
            "working_time_median_minutes",
            opt_num(fw.working_time.median_minutes),
        ),
        (
            "working_time_p90_minutes",
            opt_num(fw.working_time.p90_minutes),
        ),
        (
            "wall_clock_median_minutes",
            opt_num(fw.wall_clock.median_minutes),
        ),
        ("wall_clock_p90_minutes", opt_num(fw.wall_clock.p90_minutes)),
        ("decided_on_time", fw.decided_on_time.to_string()),
        ("late", fw.late.to_string()),
        ("pending", fw.pending.to_string()),
        ("on_time_share", opt_num(fw.on_time_share)),
    ] {
        row("forwarding", key, &value, "");
    }
    for (section, list) in [("overdue", &f.overdue), ("backlog", &f.backlog)] {
        for l in list {
            let detail = match l.due_by {
                Some(due) => format!("{} due {}", l.status, instant(due)),
                None => l.status.to_string(),
            };
            row(section, &l.id, &l.tracking_code, &detail);
        }
    }
    out
}

/// The year of a period (charts' titles).
pub fn year_of(period: Period) -> i32 {
    period.first_day().year()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_and_cover_local_time() {
        let p: Period = "2026-11".parse().unwrap();
        assert_eq!(p.to_string(), "2026-11");
        assert_eq!(p.start().to_rfc3339(), "2026-10-31T17:00:00+00:00");
        assert_eq!(p.end().to_rfc3339(), "2026-11-30T17:00:00+00:00");
        let y: Period = "2026".parse().unwrap();
        assert_eq!(y.end().to_rfc3339(), "2026-12-31T17:00:00+00:00");
        let d: Period = "2026-12".parse().unwrap();
        assert_eq!(d.end().to_rfc3339(), "2026-12-31T17:00:00+00:00");
        for bad in ["2026-13", "2026-1", "26-11", "2026-11-01", "", "abcd"] {
            assert!(bad.parse::<Period>().is_err(), "{bad}");
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
        assert_eq!(nearest_rank(&v, 50), Some(50));
        assert_eq!(nearest_rank(&v, 90), Some(90));
        assert_eq!(nearest_rank(&[7], 90), Some(7));
        assert_eq!(nearest_rank(&[1, 2, 3], 50), Some(2));
        assert_eq!(nearest_rank(&[], 50), None);
    }

    #[test]
    fn csv_quotes_fields_that_need_it() {
        assert_eq!(csv_field("Phường 1, Tân An"), "\"Phường 1, Tân An\"");
        assert_eq!(csv_field("a\"b"), "\"a\"\"b\"");
        assert_eq!(csv_field("plain"), "plain");
    }
}
