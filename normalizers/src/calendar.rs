//! The working-hours calendar (R-SLA-1, Đ4.2, Đ9, Đ10): 07:00–17:00 Asia/Ho_Chi_Minh, Monday to
//! Friday, minus public holidays and compensatory days off, plus the weekend days worked in
//! exchange for a day off.
//!
//! Holidays come from one TOML file per year (`normalizers/data/holidays/YYYY.toml`; Tết and Giỗ
//! Tổ Hùng Vương follow the lunar calendar and the exact days are announced each year, so they
//! are data, not code). [`Calendar::embedded`] has the shipped years; the gateway can load others
//! with [`Calendar::from_toml`]. For a year with no file the calendar still counts Monday to
//! Friday, and [`Calendar::covers`] says so, so that the gateway can warn.
//!
//! Deadlines: "N working hours after X" starts at X if X is inside working hours, else at the next
//! opening, and only working time counts. "N working days" is N × 10 working hours, i.e. the same
//! clock time N working days later (the end of the N-th working day when X is outside hours).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc,
    Weekday,
};
use serde::Deserialize;

/// Asia/Ho_Chi_Minh: UTC+7 all year (no daylight saving time).
pub const VIETNAM_OFFSET_SECONDS: i32 = 7 * 3600;

/// The shipped holiday files.
pub const EMBEDDED_YEARS: [&str; 3] = [
    include_str!("../data/holidays/2025.toml"),
    include_str!("../data/holidays/2026.toml"),
    include_str!("../data/holidays/2027.toml"),
];

/// Why a holiday file was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CalendarError {
    #[error("holiday file is not valid TOML: {reason}")]
    Toml { reason: String },
    #[error("holiday file for {year}: `{value}` is not a date (YYYY-MM-DD)")]
    BadDate { year: i32, value: String },
    #[error("holiday file for {year}: `{name}` needs `date`, or `from` and `to`")]
    MissingDate { year: i32, name: String },
    #[error("holiday file for {year}: `{name}` ends before it starts")]
    ReversedRange { year: i32, name: String },
    #[error("holiday file for {year}: {date} lies in another year")]
    WrongYear { year: i32, date: NaiveDate },
    #[error("holiday file for {year}: working day {date} is not a Saturday or Sunday")]
    WorkingDayNotWeekend { year: i32, date: NaiveDate },
    #[error("holiday files: {year} given twice")]
    DuplicateYear { year: i32 },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct YearFile {
    year: i32,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    provisional: bool,
    #[serde(default)]
    days_off: Vec<Entry>,
    #[serde(default)]
    working_days: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    name: String,
}

/// What the calendar knows of one year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YearInfo {
    pub source: Option<String>,
    /// Computed from the law, not an announced schedule.
    pub provisional: bool,
}

/// Working days and hours of the state agencies the IOC forwards to.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    /// Weekdays off (holidays, compensatory days, swapped days), with their names.
    days_off: BTreeMap<NaiveDate, String>,
    /// Weekend days worked (làm bù).
    working_days: BTreeMap<NaiveDate, String>,
    years: BTreeMap<i32, YearInfo>,
}

/// Opening of the working day (local).
const OPEN: NaiveTime = match NaiveTime::from_hms_opt(7, 0, 0) {
    Some(t) => t,
    None => panic!("07:00 is a valid time"),
};

/// Closing of the working day (local).
const CLOSE: NaiveTime = match NaiveTime::from_hms_opt(17, 0, 0) {
    Some(t) => t,
    None => panic!("17:00 is a valid time"),
};

const VIETNAM: FixedOffset = match FixedOffset::east_opt(VIETNAM_OFFSET_SECONDS) {
    Some(o) => o,
    None => panic!("UTC+7 is a valid offset"),
};

/// Length of one working day.
pub fn working_day_length() -> Duration {
    CLOSE - OPEN
}

/// Local wall-clock time in Asia/Ho_Chi_Minh.
pub fn to_local(t: DateTime<Utc>) -> NaiveDateTime {
    t.with_timezone(&VIETNAM).naive_local()
}

/// The UTC instant of a wall-clock time in Asia/Ho_Chi_Minh.
pub fn from_local(t: NaiveDateTime) -> DateTime<Utc> {
    // A fixed offset maps every local time to exactly one instant.
    (t - Duration::seconds(i64::from(VIETNAM_OFFSET_SECONDS))).and_utc()
}

impl Calendar {
    /// The shipped years (2025–2027), parsed on first use.
    pub fn embedded() -> &'static Calendar {
        static CAL: OnceLock<Calendar> = OnceLock::new();
        CAL.get_or_init(|| {
            // Tested by `embedded_files_parse`: failing here is a build defect.
            Calendar::from_tomls(&EMBEDDED_YEARS).expect("the shipped holiday files parse")
        })
    }

    /// One year's file.
    pub fn from_toml(text: &str) -> Result<Calendar, CalendarError> {
        let mut cal = Calendar::default();
        cal.add_year(text)?;
        Ok(cal)
    }

    /// Several years' files.
    pub fn from_tomls(texts: &[&str]) -> Result<Calendar, CalendarError> {
        let mut cal = Calendar::default();
        for text in texts {
            cal.add_year(text)?;
        }
        Ok(cal)
    }

    /// Add one year's file.
    pub fn add_year(&mut self, text: &str) -> Result<(), CalendarError> {
        let file: YearFile = toml::from_str(text).map_err(|e| CalendarError::Toml {
            reason: e.to_string(),
        })?;
        let year = file.year;
        if self.years.contains_key(&year) {
            return Err(CalendarError::DuplicateYear { year });
        }
        let mut days_off = Vec::new();
        for entry in &file.days_off {
            for date in entry.dates(year)? {
                days_off.push((date, entry.name.clone()));
            }
        }
        let mut working = Vec::new();
        for entry in &file.working_days {
            for date in entry.dates(year)? {
                if !is_weekend(date) {
                    return Err(CalendarError::WorkingDayNotWeekend { year, date });
                }
                working.push((date, entry.name.clone()));
            }
        }
        self.days_off.extend(days_off);
        self.working_days.extend(working);
        self.years.insert(
            year,
            YearInfo {
                source: file.source,
                provisional: file.provisional,
            },
        );
        Ok(())
    }

    /// Whether a holiday file was loaded for the year of `date`.
    pub fn covers(&self, date: NaiveDate) -> bool {
        self.years.contains_key(&date.year())
    }

    /// The years loaded, with their source notes.
    pub fn years(&self) -> &BTreeMap<i32, YearInfo> {
        &self.years
    }

    /// Why `date` is not a working day, when it is a listed day off.
    pub fn day_off_name(&self, date: NaiveDate) -> Option<&str> {
        self.days_off.get(&date).map(String::as_str)
    }

    /// Every listed day off in the years loaded.
    pub fn days_off(&self) -> BTreeSet<NaiveDate> {
        self.days_off.keys().copied().collect()
    }

    /// Whether the agencies work on this (local) date.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        if self.working_days.contains_key(&date) {
            return true;
        }
        !is_weekend(date) && !self.days_off.contains_key(&date)
    }

    /// Whether the instant falls inside working hours.
    pub fn is_working_time(&self, t: DateTime<Utc>) -> bool {
        let local = to_local(t);
        self.is_working_day(local.date()) && local.time() >= OPEN && local.time() < CLOSE
    }

    /// The first working instant at or after `t` (local).
    fn next_open(&self, mut t: NaiveDateTime) -> NaiveDateTime {
        // Bounded: no calendar has a year of consecutive days off; the bound only guards against
        // a pathological file.
        for _ in 0..3660 {
            let date = t.date();
            if self.is_working_day(date) && t.time() < CLOSE {
                return t.max(date.and_time(OPEN));
            }
            t = match date.succ_opt() {
                Some(next) => next.and_time(OPEN),
                None => return t,
            };
        }
        t
    }

    /// `start` + `amount` of working time.
    pub fn add_working_duration(&self, start: DateTime<Utc>, amount: Duration) -> DateTime<Utc> {
        let mut left = amount.max(Duration::zero());
        let mut t = self.next_open(to_local(start));
        loop {
            let close = t.date().and_time(CLOSE);
            let available = close - t;
            if left <= available {
                return from_local(t + left);
            }
            left -= available;
            let next = self.next_open(close);
            if next == close {
                // Past the last representable date: nothing sensible is left to count.
                return from_local(close);
            }
            t = next;
        }
    }

    /// `start` + `hours` working hours: Friday 16:30 + 4 h = Monday 10:30 (no holiday between).
    pub fn add_working_hours(&self, start: DateTime<Utc>, hours: u32) -> DateTime<Utc> {
        self.add_working_duration(start, Duration::hours(i64::from(hours)))
    }

    /// `start` + `days` working days (each 10 working hours).
    pub fn add_working_days(&self, start: DateTime<Utc>, days: u32) -> DateTime<Utc> {
        self.add_working_duration(start, working_day_length() * days as i32)
    }

    /// Working time between two instants (zero when `to` is not after `from`): the "time to
    /// forward" of the monthly reports (R-REP-1).
    pub fn working_time_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        let end = to_local(to);
        let mut t = self.next_open(to_local(from));
        let mut total = Duration::zero();
        while t < end {
            let close = t.date().and_time(CLOSE);
            total += close.min(end) - t;
            let next = self.next_open(close);
            if next == close {
                break;
            }
            t = next;
        }
        total
    }
}

impl Entry {
    fn dates(&self, year: i32) -> Result<Vec<NaiveDate>, CalendarError> {
        let parse = |s: &str| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| CalendarError::BadDate {
                year,
                value: s.to_string(),
            })
        };
        let (from, to) = match (&self.date, &self.from, &self.to) {
            (Some(d), None, None) => (parse(d)?, parse(d)?),
            (None, Some(f), Some(t)) => (parse(f)?, parse(t)?),
            _ => {
                return Err(CalendarError::MissingDate {
                    year,
                    name: self.name.clone(),
                })
            }
        };
        if to < from {
            return Err(CalendarError::ReversedRange {
                year,
                name: self.name.clone(),
            });
        }
        let dates: Vec<NaiveDate> = from.iter_days().take_while(|d| *d <= to).collect();
        if let Some(d) = dates.iter().find(|d| d.year() != year) {
            return Err(CalendarError::WrongYear { year, date: *d });
        }
        Ok(dates)
    }
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// Local date and time in Asia/Ho_Chi_Minh to UTC, for tests and callers that think in local time.
pub fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> Option<DateTime<Utc>> {
    VIETNAM
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cal() -> &'static Calendar {
        Calendar::embedded()
    }

    fn t(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        local(y, m, d, h, min).unwrap()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn embedded_files_parse() {
        let c = Calendar::from_tomls(&EMBEDDED_YEARS).unwrap();
        assert_eq!(
            c.years().keys().copied().collect::<Vec<_>>(),
            [2025, 2026, 2027]
        );
        assert!(c.years()[&2027].provisional && !c.years()[&2026].provisional);
        assert!(c.covers(date(2026, 6, 1)) && !c.covers(date(2028, 6, 1)));
    }

    #[test]
    fn friday_afternoon_plus_four_hours_is_monday_morning() {
        // 2026-11-27 is a Friday.
        assert_eq!(
            cal().add_working_hours(t(2026, 11, 27, 16, 30), 4),
            t(2026, 11, 30, 10, 30)
        );
    }

    #[test]
    fn outside_hours_counts_from_the_next_opening() {
        // Tuesday 22:00 → Wednesday 07:00 + 4 h.
        assert_eq!(
            cal().add_working_hours(t(2026, 11, 24, 22, 0), 4),
            t(2026, 11, 25, 11, 0)
        );
        // Before opening on a working day.
        assert_eq!(
            cal().add_working_hours(t(2026, 11, 25, 5, 45), 4),
            t(2026, 11, 25, 11, 0)
        );
        // Saturday → Monday.
        assert_eq!(
            cal().add_working_hours(t(2026, 11, 28, 9, 0), 4),
            t(2026, 11, 30, 11, 0)
        );
        // Exactly at closing time the deadline is the closing time, not the next morning.
        assert_eq!(
            cal().add_working_hours(t(2026, 11, 25, 13, 0), 4),
            t(2026, 11, 25, 17, 0)
        );
        assert_eq!(
            cal().add_working_hours(t(2026, 11, 25, 17, 0), 1),
            t(2026, 11, 26, 8, 0)
        );
    }

    #[test]
    fn utc_input_is_read_in_vietnam_time() {
        // 09:30 UTC on Friday is 16:30 in Long An.
        let start = Utc.with_ymd_and_hms(2026, 11, 27, 9, 30, 0).unwrap();
        assert_eq!(
            cal().add_working_hours(start, 4),
            Utc.with_ymd_and_hms(2026, 11, 30, 3, 30, 0).unwrap()
        );
    }

    #[test]
    fn tet_2026_is_skipped() {
        // Friday 13/2/2026 15:00 + 4 h: 2 h on Friday, then Tết until Sunday 22/2.
        assert_eq!(
            cal().add_working_hours(t(2026, 2, 13, 15, 0), 4),
            t(2026, 2, 23, 9, 0)
        );
        for d in 14..=22 {
            assert!(!cal().is_working_day(date(2026, 2, d)), "2026-02-{d}");
        }
        assert!(cal().is_working_day(date(2026, 2, 23)));
    }

    #[test]
    fn holidays_and_compensatory_days() {
        let c = cal();
        assert!(!c.is_working_day(date(2026, 1, 1)));
        assert!(
            !c.is_working_day(date(2026, 4, 27)),
            "Giỗ Tổ on Sunday, compensated Monday"
        );
        assert!(!c.is_working_day(date(2026, 4, 30)));
        assert!(!c.is_working_day(date(2026, 5, 1)));
        assert!(!c.is_working_day(date(2025, 9, 1)) && !c.is_working_day(date(2025, 9, 2)));
        assert!(
            !c.is_working_day(date(2027, 5, 3)),
            "1/5/2027 is a Saturday"
        );
        assert!(c.is_working_day(date(2026, 4, 28)));
        assert!(c
            .day_off_name(date(2026, 4, 27))
            .is_some_and(|n| n.contains("Giỗ Tổ")));
        // Wednesday 29/4/2026 16:00 + 4 h: 1 h, then 30/4, 1/5 and the weekend, then 3 h.
        assert_eq!(
            c.add_working_hours(t(2026, 4, 29, 16, 0), 4),
            t(2026, 5, 4, 10, 0)
        );
    }

    #[test]
    fn make_up_saturday_is_a_working_day() {
        let c = cal();
        assert!(
            c.is_working_day(date(2025, 4, 26)),
            "Saturday worked for Friday 2/5/2025"
        );
        assert!(!c.is_working_day(date(2025, 5, 2)));
        assert!(!c.is_working_day(date(2025, 4, 19)), "an ordinary Saturday");
        // Friday 25/4/2025 16:00 + 4 h: 1 h Friday, 3 h on the make-up Saturday.
        assert_eq!(
            c.add_working_hours(t(2025, 4, 25, 16, 0), 4),
            t(2025, 4, 26, 10, 0)
        );
    }

    #[test]
    fn working_days_and_time_between() {
        let c = cal();
        // Monday 10:00 + 7 working days = Wednesday of the next week 10:00.
        assert_eq!(
            c.add_working_days(t(2026, 11, 23, 10, 0), 7),
            t(2026, 12, 2, 10, 0)
        );
        // Received on Saturday: the end of the first working day.
        assert_eq!(
            c.add_working_days(t(2026, 11, 28, 10, 0), 1),
            t(2026, 11, 30, 17, 0)
        );
        assert_eq!(
            c.working_time_between(t(2026, 11, 27, 16, 30), t(2026, 11, 30, 10, 30)),
            Duration::hours(4)
        );
        assert_eq!(
            c.working_time_between(t(2026, 11, 30, 10, 0), t(2026, 11, 27, 10, 0)),
            Duration::zero()
        );
        // A year with no file still skips weekends.
        assert_eq!(
            c.add_working_hours(t(2030, 1, 4, 16, 0), 2),
            t(2030, 1, 7, 8, 0)
        );
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        let e = |s: &str| Calendar::from_toml(s).unwrap_err();
        assert!(matches!(e("year = "), CalendarError::Toml { .. }));
        assert!(matches!(
            e("year = 2026\n[[days_off]]\ndate = \"2026-13-01\"\nname = \"x\""),
            CalendarError::BadDate { .. }
        ));
        assert!(matches!(
            e("year = 2026\n[[days_off]]\ndate = \"2025-12-31\"\nname = \"x\""),
            CalendarError::WrongYear { .. }
        ));
        assert!(matches!(
            e("year = 2026\n[[working_days]]\ndate = \"2026-11-30\"\nname = \"x\""),
            CalendarError::WorkingDayNotWeekend { .. }
        ));
        assert!(matches!(
            e("year = 2026\n[[days_off]]\nfrom = \"2026-02-20\"\nto = \"2026-02-16\"\nname = \"x\""),
            CalendarError::ReversedRange { .. }
        ));
        assert!(matches!(
            e("year = 2026\n[[days_off]]\nname = \"x\""),
            CalendarError::MissingDate { .. }
        ));
        let twice = Calendar::from_tomls(&[EMBEDDED_YEARS[1], EMBEDDED_YEARS[1]]).unwrap_err();
        assert_eq!(twice, CalendarError::DuplicateYear { year: 2026 });
    }
}
