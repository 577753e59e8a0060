//! From a wall-clock capture time to an instant: the zone rules of R-VAL-TIME.
//!
//! A device writes its clock's local time. The UTC offset comes, in order, from what the device
//! wrote next to it (EXIF `OffsetTimeOriginal`, the QuickTime creation date's zone), from the GPS
//! clock (UTC) when both are in the file and differ by a real zone offset give or take a few
//! minutes, and otherwise from the reporter's zone, Asia/Ho_Chi_Minh (UTC+7, no daylight
//! saving). Clocks that were never set (1970, 1998-01-01, 2000-01-01, anything before 2000) give
//! no capture time at all: such a medium is "time unknown", never "stale".

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};
use serde::Serialize;

/// Asia/Ho_Chi_Minh, the reporters' zone (UTC+7 all year).
pub const LOCAL_OFFSET_MINUTES: i32 = 7 * 60;

/// Offsets outside this range are not real zones (UTC−12 … UTC+14).
const MIN_OFFSET_MINUTES: i32 = -12 * 60;
const MAX_OFFSET_MINUTES: i32 = 14 * 60;

/// A GPS fix may be a little older than the shutter; more than this and the two clocks disagree.
const GPS_TOLERANCE_SECONDS: i64 = 5 * 60;

/// Where the UTC offset of a capture time came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OffsetBasis {
    /// Written by the device beside the time (EXIF OffsetTimeOriginal, QuickTime zone).
    Written,
    /// Derived from the GPS clock (UTC) in the same file.
    GpsClock,
    /// The container stores UTC (MP4/MOV `mvhd`).
    Utc,
    /// Nothing said: the reporter's zone, Asia/Ho_Chi_Minh, was assumed.
    AssumedLocal,
}

/// A capture instant with the offset it was read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved {
    pub at: DateTime<Utc>,
    /// The offset used; `None` for UTC containers.
    pub offset_minutes: Option<i32>,
    pub basis: OffsetBasis,
}

/// Whether a wall-clock time is a camera's unset default clock rather than a capture time.
pub fn is_default_clock(local: NaiveDateTime) -> bool {
    local.year() < 2000 || local.date() == NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default()
}

/// Whether an offset in minutes is a real zone offset.
pub fn plausible_offset(minutes: i32) -> bool {
    (MIN_OFFSET_MINUTES..=MAX_OFFSET_MINUTES).contains(&minutes)
}

/// The instant of a wall-clock capture time. `written` is the offset stored beside it, `gps_utc`
/// the GPS date/time of the same file. `None` for a default clock.
pub fn resolve_local(
    local: NaiveDateTime,
    written: Option<i32>,
    gps_utc: Option<DateTime<Utc>>,
) -> Option<Resolved> {
    if is_default_clock(local) {
        return None;
    }
    let (offset, basis) = match written.filter(|m| plausible_offset(*m)) {
        Some(m) => (m, OffsetBasis::Written),
        None => match gps_utc.and_then(|gps| offset_from_gps(local, gps)) {
            Some(m) => (m, OffsetBasis::GpsClock),
            None => (LOCAL_OFFSET_MINUTES, OffsetBasis::AssumedLocal),
        },
    };
    let at = (local - chrono::Duration::minutes(i64::from(offset))).and_utc();
    Some(Resolved {
        at,
        offset_minutes: Some(offset),
        basis,
    })
}

/// A UTC instant read from a container; `None` for a default clock.
pub fn resolve_utc(at: DateTime<Utc>) -> Option<Resolved> {
    if is_default_clock(at.naive_utc()) {
        return None;
    }
    Some(Resolved {
        at,
        offset_minutes: None,
        basis: OffsetBasis::Utc,
    })
}

/// Zone offsets in use that are not whole hours (minutes): Newfoundland, Marquesas, Iran,
/// Afghanistan, India, Nepal, Myanmar, Eucla, central Australia, Lord Howe, Chatham.
const PART_HOUR_OFFSETS: [i32; 11] = [-210, -570, 210, 270, 330, 345, 390, 525, 570, 630, 765];

/// The zone offset the GPS clock implies: the real zone offset nearest to the difference, when
/// the difference is within a few minutes of it.
fn offset_from_gps(local: NaiveDateTime, gps: DateTime<Utc>) -> Option<i32> {
    let diff = (local - gps.naive_utc()).num_seconds();
    let whole_hours = (MIN_OFFSET_MINUTES / 60..=MAX_OFFSET_MINUTES / 60).map(|h| h * 60);
    let nearest = whole_hours
        .chain(PART_HOUR_OFFSETS)
        .min_by_key(|m| (diff - i64::from(*m) * 60).abs())?;
    ((diff - i64::from(nearest) * 60).abs() <= GPS_TOLERANCE_SECONDS).then_some(nearest)
}

/// Parse `+07:00`, `-0500`, `Z` into minutes east of UTC.
pub fn parse_offset(text: &str) -> Option<i32> {
    let text = text.trim();
    if text == "Z" || text == "z" {
        return Some(0);
    }
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i32 = digits[..2].parse().ok()?;
    let minutes: i32 = digits[2..].parse().ok()?;
    if minutes >= 60 {
        return None;
    }
    let total = sign * (hours * 60 + minutes);
    plausible_offset(total).then_some(total)
}

/// Parse a wall-clock date-time as cameras and taggers write it: `2026:11:28 08:00:00`,
/// `2026-11-28T08:00:00`, `2026-11-28 08:00`. Returns the time and whatever follows it (a zone,
/// fractional seconds). Seconds are optional; the date and the hour:minute are not.
pub fn parse_wall_clock(text: &str) -> Option<(NaiveDateTime, &str)> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(range)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let date_sep = |i: usize| matches!(b.get(i), Some(b':' | b'-' | b'/'));
    if !(date_sep(4) && date_sep(7) && matches!(b.get(10), Some(b' ' | b'T'))) {
        return None;
    }
    if b.get(13) != Some(&b':') {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let (hour, minute) = (num(11..13)?, num(14..16)?);
    let (second, rest_at) = if b.get(16) == Some(&b':') {
        (num(17..19)?, 19)
    } else {
        (0, 16)
    };
    let time = chrono::NaiveTime::from_hms_opt(hour, minute, second)?;
    Some((date.and_time(time), &text[rest_at..]))
}

/// Fractional seconds such as `.054` at the start of `rest`, in nanoseconds, and what follows.
pub fn split_fraction(rest: &str) -> (u32, &str) {
    let Some(digits) = rest.strip_prefix('.') else {
        return (0, rest);
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    (subsec_nanos(&digits[..end]), &digits[end..])
}

/// EXIF SubSecTime-style digits (`054` = 54 ms) to nanoseconds; extra digits are cut.
pub fn subsec_nanos(digits: &str) -> u32 {
    let digits: String = digits
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .take(9)
        .collect();
    if digits.is_empty() {
        return 0;
    }
    let value: u32 = digits.parse().unwrap_or(0);
    value * 10u32.pow(9 - digits.len() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn wall(s: &str) -> NaiveDateTime {
        parse_wall_clock(s).unwrap().0
    }

    #[test]
    fn written_offset_wins() {
        let r = resolve_local(wall("2026:11:28 08:00:00"), Some(60), None).unwrap();
        assert_eq!(r.at, Utc.with_ymd_and_hms(2026, 11, 28, 7, 0, 0).unwrap());
        assert_eq!(
            (r.offset_minutes, r.basis),
            (Some(60), OffsetBasis::Written)
        );
    }

    #[test]
    fn without_offset_the_time_is_read_in_ho_chi_minh() {
        let r = resolve_local(wall("2026:11:28 08:00:00"), None, None).unwrap();
        assert_eq!(r.at, Utc.with_ymd_and_hms(2026, 11, 28, 1, 0, 0).unwrap());
        assert_eq!(r.basis, OffsetBasis::AssumedLocal);
    }

    #[test]
    fn a_consistent_gps_clock_gives_the_offset() {
        // iPhone 7 in Sheffield: 18:18:05 local, GPS fix 17:17:58.65 UTC → UTC+1.
        let gps = Utc.with_ymd_and_hms(2016, 9, 28, 17, 17, 58).unwrap();
        let r = resolve_local(wall("2016:09:28 18:18:05"), None, Some(gps)).unwrap();
        assert_eq!(
            (r.offset_minutes, r.basis),
            (Some(60), OffsetBasis::GpsClock)
        );
        assert_eq!(r.at, Utc.with_ymd_and_hms(2016, 9, 28, 17, 18, 5).unwrap());
    }

    #[test]
    fn an_inconsistent_gps_clock_is_ignored() {
        // Nikon P6000: GPS date one day later with minutes apart: not a zone difference.
        let gps = Utc.with_ymd_and_hms(2008, 10, 23, 14, 27, 7).unwrap();
        let r = resolve_local(wall("2008:10:22 16:28:39"), None, Some(gps)).unwrap();
        assert_eq!(r.basis, OffsetBasis::AssumedLocal);
        let gps = Utc.with_ymd_and_hms(2026, 11, 28, 0, 40, 0).unwrap();
        let r = resolve_local(wall("2026:11:28 08:00:00"), None, Some(gps)).unwrap();
        assert_eq!(
            r.basis,
            OffsetBasis::AssumedLocal,
            "7 h 20 min is no zone offset"
        );
        // India: 11:00 local, 05:31 UTC → UTC+5:30.
        let gps = Utc.with_ymd_and_hms(2026, 11, 28, 5, 31, 0).unwrap();
        let r = resolve_local(wall("2026:11:28 11:00:00"), None, Some(gps)).unwrap();
        assert_eq!(r.offset_minutes, Some(330));
    }

    #[test]
    fn default_clocks_are_no_capture_time() {
        for s in [
            "1970:01:01 00:00:00",
            "1998:01:01 00:00:00",
            "2000:01:01 00:00:00",
            "2000:01:01 00:17:12",
            "1999:05:25 21:00:09",
        ] {
            assert_eq!(resolve_local(wall(s), None, None), None, "{s}");
        }
        assert!(resolve_local(wall("2000:01:02 08:00:00"), None, None).is_some());
        let epoch_1904 = Utc.with_ymd_and_hms(1904, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(resolve_utc(epoch_1904), None);
    }

    #[test]
    fn wall_clocks_in_the_usual_spellings() {
        let expected = NaiveDate::from_ymd_opt(2026, 11, 28)
            .unwrap()
            .and_hms_opt(8, 0, 0)
            .unwrap();
        assert_eq!(parse_wall_clock("2026:11:28 08:00:00").unwrap().0, expected);
        assert_eq!(parse_wall_clock("2026-11-28T08:00").unwrap().0, expected);
        let (t, rest) = parse_wall_clock("2026-11-28T08:00:00.250+0700").unwrap();
        assert_eq!(t, expected);
        let (nanos, zone) = split_fraction(rest);
        assert_eq!((nanos, parse_offset(zone)), (250_000_000, Some(420)));
        assert_eq!(parse_wall_clock("2026:13:28 08:00:00"), None);
        assert_eq!(parse_wall_clock("    :  :     :  :  "), None);
        assert_eq!(parse_wall_clock("2026"), None);
    }

    #[test]
    fn offsets_and_subseconds() {
        assert_eq!(parse_offset("+07:00"), Some(420));
        assert_eq!(parse_offset("-05:00"), Some(-300));
        assert_eq!(parse_offset("+0530"), Some(330));
        assert_eq!(parse_offset("Z"), Some(0));
        assert_eq!(parse_offset("+25:00"), None);
        assert_eq!(parse_offset("   :  "), None);
        assert_eq!(subsec_nanos("054"), 54_000_000);
        assert_eq!(subsec_nanos("023460"), 23_460_000);
        assert_eq!(subsec_nanos(""), 0);
    }
}
