//! Incident time from the citizen's words (thời gian xảy ra): "lúc 7 giờ sáng nay", "7h30 sáng
//! hôm qua", "tối qua", "ngày 28/11", "sáng 28-11", "hôm kia", "cách đây 2 tiếng"…, with or
//! without diacritics, read relative to the time the report was received, in Asia/Ho_Chi_Minh.
//!
//! Only what reads reliably is returned: a phrase that points to the future ("sáng mai", a date
//! after reception), an impossible time ("15 giờ sáng", "31/11") or a bare number pair that may be
//! a house number ("số 28/11") gives nothing, and TIME_MISSING stays.
//!
//! Readings and their conventions:
//! - a clock time without a part of day is read on the 24-hour clock, as Vietnamese official
//!   writing does ("lúc 7 giờ" = 07:00; 19:00 is written "7 giờ tối" or "19 giờ"); without a day it
//!   is today, or yesterday when today's reading lies in the future ("lúc 22h" sent at 08:00);
//! - a part of day without a clock time stands for a typical hour (sáng 08:00, trưa 12:00, chiều
//!   15:00, tối 19:00, đêm/khuya 23:00) and a day alone for 12:00; when that is later than the
//!   reception on the same day, the reception time is used (the incident cannot be later);
//! - "đêm qua lúc 2 giờ" is the small hours of today;
//! - a date without a year is the latest such date not after reception (within 60 days back
//!   across New Year); a bare "28/11" counts only after a time word ("ngày", "hôm", "sáng"…);
//! - when the text gives several readable times, the earliest is the incident's start.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};

use crate::calendar::{from_local, to_local};
use crate::text::{tokenize, Token};

/// How precisely the text fixed the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// A clock time ("7h30"), or an offset in minutes or hours ("cách đây 2 tiếng").
    Minute,
    /// A part of the day ("tối qua").
    PartOfDay,
    /// A day only ("hôm kia", "ngày 28/11").
    Day,
}

/// A time read from the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextTime {
    pub at: DateTime<Utc>,
    pub precision: Precision,
    /// The words it was read from, as written.
    pub phrase: String,
}

/// Capture times this far after reception still count as "now" (clock skew).
const FUTURE_TOLERANCE_MINUTES: i64 = 10;

/// The incident time the text states, if it states one reliably.
pub fn occurred_at(text: &str, received_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    read(text, received_at).map(|t| t.at)
}

/// Like [`occurred_at`], with the precision and the phrase.
pub fn read(text: &str, received_at: DateTime<Utc>) -> Option<TextTime> {
    let nfc = crate::text::nfc(text);
    let tokens = tokenize(&nfc);
    let atoms = atoms(&nfc, &tokens, received_at);
    let received_local = to_local(received_at);
    let limit = received_local + Duration::minutes(FUTURE_TOLERANCE_MINUTES);
    clusters(&nfc, &tokens, &atoms)
        .into_iter()
        .filter_map(|cluster| {
            let (at, precision) = evaluate(cluster, received_local)?;
            (at <= limit).then(|| {
                let (first, last) = (cluster[0].start, cluster[cluster.len() - 1].end);
                TextTime {
                    // Within the clock-skew tolerance counts as the reception time.
                    at: from_local(at.min(received_local)),
                    precision,
                    phrase: nfc[tokens[first].start..tokens[last - 1].end].to_string(),
                }
            })
        })
        .min_by_key(|t| t.at)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Period {
    Sang,
    Trua,
    Chieu,
    Toi,
    Dem,
}

impl Period {
    fn of(t: &Token) -> Option<Period> {
        [
            ("sáng", Period::Sang),
            ("trưa", Period::Trua),
            ("chiều", Period::Chieu),
            ("tối", Period::Toi),
            ("đêm", Period::Dem),
            ("khuya", Period::Dem),
        ]
        .into_iter()
        .find(|(w, _)| t.is(w))
        .map(|(_, p)| p)
    }

    /// (typical hour, hour the period starts).
    fn hours(self) -> (u32, u32) {
        match self {
            Period::Sang => (8, 5),
            Period::Trua => (12, 11),
            Period::Chieu => (15, 13),
            Period::Toi => (19, 18),
            Period::Dem => (23, 21),
        }
    }

    /// The 24-hour reading of `h` said with this period, and whether it falls on the next
    /// calendar day ("2 giờ đêm" after the evening of the day named).
    fn clock(self, h: u32) -> Option<(u32, bool)> {
        match (self, h) {
            (Period::Sang, 0..=12) => Some((h, false)),
            (Period::Trua, 10..=14) => Some((h, false)),
            (Period::Trua, 1..=2) => Some((h + 12, false)),
            (Period::Chieu, 1..=11) => Some((h + 12, false)),
            (Period::Chieu, 12..=18) => Some((h, false)),
            (Period::Toi, 5..=11) => Some((h + 12, false)),
            (Period::Toi, 17..=23) => Some((h, false)),
            (Period::Dem, 8..=11) => Some((h + 12, false)),
            (Period::Dem, 20..=23) => Some((h, false)),
            (Period::Dem, 12) => Some((0, true)),
            (Period::Dem, 0..=5) => Some((h, true)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Day {
    /// Days relative to the day of reception (0 today, -1 yesterday).
    Relative(i64),
    Date {
        day: u32,
        month: u32,
        year: Option<i32>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Clock {
        h: u32,
        m: u32,
    },
    Period(Period),
    Day(Day),
    /// An exact instant ("cách đây 2 tiếng").
    Instant(NaiveDateTime),
    /// "mai", "tuần sau": the phrase is about the future.
    Future,
}

/// A recognised piece of a time phrase, over tokens `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Atom {
    start: usize,
    end: usize,
    kind: Kind,
}

const DATE_CONTEXT: [&str; 13] = [
    "ngày", "hôm", "sáng", "trưa", "chiều", "tối", "đêm", "khuya", "vào", "từ", "hồi", "lúc", "bữa",
];

/// Words that make a number pair an address, not a date ("số 28/11", "hẻm 12/3").
const ADDRESS_WORDS: [&str; 6] = ["số", "hẻm", "ngõ", "kiệt", "nhà", "lô"];

/// The atoms of a text, left to right: at each token the first reading that fits wins and its
/// tokens are consumed.
fn atoms(text: &str, tokens: &[Token], received_at: DateTime<Utc>) -> Vec<Atom> {
    let reader = Reader {
        text,
        tokens,
        received_local: to_local(received_at),
    };
    let mut out: Vec<Atom> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if let Some(reading) = reader.reading_at(i, out.last()) {
            i += match reading.kind {
                Some(kind) => push_at(&mut out, i, reading.len, kind),
                None => reading.len,
            };
            continue;
        }
        if let Some(period) = tokens.get(i).and_then(Period::of) {
            i += push_at(&mut out, i, 1, Kind::Period(period));
            if let Some(kind) = reader.day_after_period(i) {
                i += push_at(&mut out, i, 1, kind);
            }
            continue;
        }
        i += 1;
    }
    out
}

/// What a reading made of the tokens at one position: `len` tokens consumed, and the atom they
/// form, or none (a number group that is an address, not a time).
struct Reading {
    len: usize,
    kind: Option<Kind>,
}

impl Reading {
    fn atom(len: usize, kind: Kind) -> Option<Reading> {
        Some(Reading {
            len,
            kind: Some(kind),
        })
    }

    fn skip(len: usize) -> Option<Reading> {
        Some(Reading { len, kind: None })
    }
}

/// The tokens of one text, with the small questions every reading asks of them.
struct Reader<'a> {
    text: &'a str,
    tokens: &'a [Token],
    received_local: NaiveDateTime,
}

impl Reader<'_> {
    /// The punctuation between token `i` and the next one, trimmed.
    fn between(&self, i: usize) -> &str {
        match self.tokens.get(i + 1) {
            Some(next) => self.text[self.tokens[i].end..next.start].trim(),
            None => "",
        }
    }

    fn raw_len(&self, i: usize) -> usize {
        self.tokens[i].end - self.tokens[i].start
    }

    /// Token `i` as a number of at most four digits.
    fn num(&self, i: usize) -> Option<u32> {
        self.tokens
            .get(i)
            .filter(|t| t.is_number && self.raw_len(i) <= 4)
            .and_then(|t| t.text.parse().ok())
    }

    fn word(&self, i: usize, w: &str) -> bool {
        self.tokens.get(i).is_some_and(|t| t.is(w))
    }

    /// The readings tried at token `i`, in order; `last` is the atom read before.
    fn reading_at(&self, i: usize, last: Option<&Atom>) -> Option<Reading> {
        if let Some(reading) = self.ago(i) {
            return Some(reading);
        }
        if let Some(n) = self.num(i) {
            let number = self
                .colon_clock(i, n)
                .or_else(|| self.spoken_clock(i, n))
                .or_else(|| self.numeric_date(i, n, last));
            if number.is_some() {
                return number;
            }
        }
        self.spelled_date(i).or_else(|| self.relative_day(i))
    }

    /// "N đơn vị" at `at`: the instant or day N minutes, hours or days before reception.
    fn amount_back(&self, at: usize) -> Option<(usize, Kind)> {
        let n = i64::from(self.num(at)?);
        let unit = self.tokens.get(at + 1)?;
        let (minutes, day) = if unit.is("phút") {
            (n, false)
        } else if unit.is("tiếng") || unit.is("giờ") || unit.text == "h" {
            (n * 60, false)
        } else if unit.is("ngày") || unit.is("hôm") {
            (0, true)
        } else {
            return None;
        };
        let kind = if day {
            Kind::Day(Day::Relative(-n))
        } else {
            Kind::Instant(self.received_local - Duration::minutes(minutes))
        };
        Some((2, kind))
    }

    /// "cách đây N đơn vị", "N đơn vị trước".
    fn ago(&self, i: usize) -> Option<Reading> {
        if self.word(i, "cách") && self.word(i + 1, "đây") {
            if let Some((len, kind)) = self.amount_back(i + 2) {
                return Reading::atom(2 + len, kind);
            }
        }
        let (len, kind) = self.amount_back(i)?;
        if self.word(i + len, "trước") {
            return Reading::atom(len + 1, kind);
        }
        None
    }

    /// 07:30.
    fn colon_clock(&self, i: usize, n: u32) -> Option<Reading> {
        if self.between(i) != ":" {
            return None;
        }
        let m = self.num(i + 1).filter(|_| self.raw_len(i + 1) == 2)?;
        if n <= 23 && m <= 59 {
            return Reading::atom(2, Kind::Clock { h: n, m });
        }
        None
    }

    /// 7h, 7h30, 7 giờ 30 (phút), 7 giờ rưỡi, 7 giờ kém 15.
    fn spoken_clock(&self, i: usize, n: u32) -> Option<Reading> {
        let hour_word = self
            .tokens
            .get(i + 1)
            .is_some_and(|t| t.text == "h" || t.text == "g" || t.is("giờ"));
        if !hour_word || n > 24 {
            return None;
        }
        let mut len = 2;
        let mut m = 0;
        if self.word(i + 2, "rưỡi") {
            m = 30;
            len = 3;
        } else if self.word(i + 2, "kém") {
            if let Some(k) = self.num(i + 3).filter(|k| (1..60).contains(k)) {
                let len = if self.word(i + 4, "phút") { 5 } else { 4 };
                if n == 0 {
                    return Reading::skip(len);
                }
                return Reading::atom(
                    len,
                    Kind::Clock {
                        h: n - 1,
                        m: 60 - k,
                    },
                );
            }
        } else if let Some(mm) = self.num(i + 2).filter(|mm| *mm <= 59) {
            m = mm;
            len = 3;
            if self
                .tokens
                .get(i + 3)
                .is_some_and(|t| t.is("phút") || t.text == "p" || t.text == "ph")
            {
                len = 4;
            }
        }
        if n == 24 && m == 0 {
            return Reading::atom(len, Kind::Clock { h: 0, m: 0 });
        }
        if n < 24 {
            return Reading::atom(len, Kind::Clock { h: n, m });
        }
        None
    }

    /// 28/11, 28-11-2026, 28.11.2026. A group of numbers that is not a date is skipped whole.
    fn numeric_date(&self, i: usize, n: u32, last: Option<&Atom>) -> Option<Reading> {
        let sep = self.between(i);
        if !matches!(sep, "/" | "-" | ".") || self.raw_len(i) > 2 {
            return None;
        }
        let month = self.num(i + 1).filter(|_| self.raw_len(i + 1) <= 2)?;
        let mut len = 2;
        let mut year = None;
        if self.between(i + 1) == sep {
            if let Some(y) = self.num(i + 2) {
                year = match self.raw_len(i + 2) {
                    4 => Some(y as i32),
                    2 => Some(2000 + y as i32),
                    _ => None,
                };
                len = 3;
            }
        }
        // "12/3/5" (an alley number) or "1/2/3/4": not a date.
        let more_numbers = self.between(i + len - 1) == sep && self.num(i + len).is_some();
        let malformed_year = len == 3 && year.is_none();
        let tokens = self.tokens;
        let after_address_word = i > 0
            && (ADDRESS_WORDS.iter().any(|w| tokens[i - 1].is(w))
                || self.text[..tokens[i].start]
                    .trim_end()
                    .ends_with(['/', '-']));
        let context = i > 0
            && (DATE_CONTEXT.iter().any(|w| tokens[i - 1].is(w))
                || last.is_some_and(|a| {
                    a.end == i && matches!(a.kind, Kind::Clock { .. } | Kind::Period(_))
                }));
        if !more_numbers && !malformed_year && !after_address_word && (year.is_some() || context) {
            return Reading::atom(
                len,
                Kind::Day(Day::Date {
                    day: n,
                    month,
                    year,
                }),
            );
        }
        Reading::skip(len)
    }

    /// ngày 28 tháng 11 (năm 2026).
    fn spelled_date(&self, i: usize) -> Option<Reading> {
        if !self.word(i, "ngày") {
            return None;
        }
        let day = self.num(i + 1)?;
        if !self.word(i + 2, "tháng") {
            return None;
        }
        let month = self.num(i + 3)?;
        let (len, year) = match (self.word(i + 4, "năm"), self.num(i + 5)) {
            (true, Some(y)) if self.raw_len(i + 5) == 4 => (6, Some(y as i32)),
            _ => (4, None),
        };
        Reading::atom(len, Kind::Day(Day::Date { day, month, year }))
    }

    /// "hôm nay", "hôm qua", "hôm kia", "bữa nay"… at `at`: days relative to reception.
    fn day_word(&self, at: usize) -> Option<i64> {
        if !(self.word(at, "hôm") || self.word(at, "bữa")) {
            return None;
        }
        if self.word(at + 1, "nay") {
            Some(0)
        } else if self.word(at + 1, "qua") {
            Some(-1)
        } else if self.word(at + 1, "kia") {
            Some(-2)
        } else {
            None
        }
    }

    /// hôm nay, hôm qua, ngày hôm qua, ngày mai, tuần sau…
    fn relative_day(&self, i: usize) -> Option<Reading> {
        if let Some(rel) = self.day_word(i) {
            return Reading::atom(2, Kind::Day(Day::Relative(rel)));
        }
        if self.word(i, "ngày") {
            if let Some(rel) = self.day_word(i + 1) {
                return Reading::atom(3, Kind::Day(Day::Relative(rel)));
            }
            if self.word(i + 1, "mai") {
                return Reading::atom(2, Kind::Future);
            }
        }
        if (self.word(i, "tuần") || self.word(i, "tháng") || self.word(i, "năm"))
            && self.word(i + 1, "sau")
        {
            return Reading::atom(2, Kind::Future);
        }
        None
    }

    /// The day word right after a part of day: sáng nay, tối qua, chiều mai.
    fn day_after_period(&self, i: usize) -> Option<Kind> {
        if self.word(i, "nay") {
            Some(Kind::Day(Day::Relative(0)))
        } else if self.word(i, "qua") {
            Some(Kind::Day(Day::Relative(-1)))
        } else if self.word(i, "mai") {
            Some(Kind::Future)
        } else {
            None
        }
    }
}

fn push_at(out: &mut Vec<Atom>, start: usize, len: usize, kind: Kind) -> usize {
    out.push(Atom {
        start,
        end: start + len,
        kind,
    });
    len
}

/// Words that may stand between the parts of one time phrase.
const FILLERS: [&str; 8] = ["lúc", "vào", "khoảng", "tầm", "chừng", "hồi", "ngày", "khi"];

/// Group atoms that belong to one phrase: adjacent, or separated only by filler words or a
/// comma, within one sentence.
fn clusters<'a>(text: &str, tokens: &[Token], atoms: &'a [Atom]) -> Vec<&'a [Atom]> {
    let mut out = Vec::new();
    let mut first = 0;
    for k in 1..=atoms.len() {
        let split = match atoms.get(k) {
            None => true,
            Some(next) => {
                let prev = &atoms[k - 1];
                let gap_tokens = &tokens[prev.end..next.start];
                let gap_text = &text[tokens[prev.end - 1].end..tokens[next.start].start];
                gap_tokens.len() > 2
                    || gap_tokens.iter().any(|t| !FILLERS.iter().any(|w| t.is(w)))
                    || gap_text.contains(['.', '!', '?', ';', '\n'])
            }
        };
        if split {
            out.push(&atoms[first..k]);
            first = k;
        }
    }
    out.retain(|c| !c.is_empty());
    out
}

/// The local time a phrase means, relative to the local reception time.
fn evaluate(cluster: &[Atom], received: NaiveDateTime) -> Option<(NaiveDateTime, Precision)> {
    let mut clock = None;
    let mut period = None;
    let mut day: Option<Day> = None;
    for atom in cluster {
        match atom.kind {
            Kind::Future => return None,
            Kind::Instant(at) => return Some((at, Precision::Minute)),
            Kind::Clock { h, m } => {
                clock.get_or_insert((h, m));
            }
            Kind::Period(p) => {
                period.get_or_insert(p);
            }
            Kind::Day(d) => match day {
                Some(existing) if existing != d => {
                    // "hôm qua 28/11" is fine when both name the same day.
                    if resolve_day(existing, received) != resolve_day(d, received) {
                        return None;
                    }
                }
                _ => day = Some(d),
            },
        }
    }
    let today = received.date();
    let date = match day {
        Some(d) => Some(resolve_day(d, received)?),
        None => None,
    };
    match (clock, date) {
        (Some((h, m)), date) => {
            let (h, next_day) = match period {
                Some(p) => p.clock(h)?,
                None => (h, false),
            };
            let time = NaiveTime::from_hms_opt(h, m, 0)?;
            let mut at = date.unwrap_or(today).and_time(time);
            if next_day {
                at += Duration::days(1);
            }
            if date.is_none() && at > received + Duration::minutes(FUTURE_TOLERANCE_MINUTES) {
                at -= Duration::days(1);
            }
            Some((at, Precision::Minute))
        }
        (None, Some(date)) => {
            let (hour, starts, precision) = match period {
                Some(p) => {
                    let (typical, starts) = p.hours();
                    (typical, starts, Precision::PartOfDay)
                }
                None => (12, 0, Precision::Day),
            };
            let at = date.and_time(NaiveTime::from_hms_opt(hour, 0, 0)?);
            let start = date.and_time(NaiveTime::from_hms_opt(starts, 0, 0)?);
            if at > received && start <= received {
                Some((received, precision))
            } else {
                Some((at, precision))
            }
        }
        // A part of day alone ("sáng", "tối" — also "sang", "toi" = "tôi" without marks) says
        // nothing reliable.
        (None, None) => None,
    }
}

fn resolve_day(day: Day, received: NaiveDateTime) -> Option<NaiveDate> {
    let today = received.date();
    match day {
        Day::Relative(n) => today.checked_add_signed(Duration::days(n)),
        Day::Date {
            day,
            month,
            year: Some(year),
        } => NaiveDate::from_ymd_opt(year, month, day),
        Day::Date {
            day,
            month,
            year: None,
        } => {
            let this_year = NaiveDate::from_ymd_opt(today.year(), month, day);
            match this_year {
                Some(d) if d <= today => Some(d),
                _ => {
                    let last_year = NaiveDate::from_ymd_opt(today.year() - 1, month, day)?;
                    ((today - last_year).num_days() <= 60).then_some(last_year)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::local;

    /// Received on Monday 30/11/2026 at 10:00 in Long An.
    fn received() -> DateTime<Utc> {
        local(2026, 11, 30, 10, 0).unwrap()
    }

    fn at(m: u32, d: u32, h: u32, min: u32) -> Option<DateTime<Utc>> {
        local(2026, m, d, h, min)
    }

    fn read_at(text: &str, rx: DateTime<Utc>) -> Option<DateTime<Utc>> {
        occurred_at(text, rx)
    }

    #[test]
    fn phrases_with_diacritics() {
        let cases: &[(&str, Option<DateTime<Utc>>)] = &[
            ("Sự việc xảy ra lúc 7 giờ sáng nay", at(11, 30, 7, 0)),
            ("7h30 sáng hôm qua đèn đã tắt", at(11, 29, 7, 30)),
            ("tối qua nước ngập", at(11, 29, 19, 0)),
            ("ngày 28/11 rác chất đống", at(11, 28, 12, 0)),
            ("28/11/2026", at(11, 28, 12, 0)),
            ("sáng 28-11 có xe đổ trộm xà bần", at(11, 28, 8, 0)),
            ("hôm kia", at(11, 28, 12, 0)),
            ("lúc 19h ngày 27/11/2026", at(11, 27, 19, 0)),
            ("khoảng 2 giờ chiều hôm qua", at(11, 29, 14, 0)),
            ("10 giờ tối hôm kia", at(11, 28, 22, 0)),
            ("2 giờ đêm qua có tiếng nổ", at(11, 30, 2, 0)),
            ("cách đây 2 tiếng", at(11, 30, 8, 0)),
            ("3 ngày trước", at(11, 27, 12, 0)),
            ("ngày 5 tháng 11 năm 2026", at(11, 5, 12, 0)),
            ("ngày 5 tháng 11", at(11, 5, 12, 0)),
            ("lúc 07:45", at(11, 30, 7, 45)),
            ("lúc 22h", at(11, 29, 22, 0)),
            ("lúc 11 giờ", at(11, 29, 11, 0)),
            ("hôm qua lúc 8h15", at(11, 29, 8, 15)),
            ("8 giờ rưỡi sáng nay", at(11, 30, 8, 30)),
            ("9 giờ kém 15 sáng nay", at(11, 30, 8, 45)),
            ("Từ ngày 20/11 đến nay", at(11, 20, 12, 0)),
            ("trưa hôm qua lúc 12h30", at(11, 29, 12, 30)),
            ("ngày hôm qua", at(11, 29, 12, 0)),
            ("28.11.2026 lúc 6h", at(11, 28, 6, 0)),
            ("18/11/26", at(11, 18, 12, 0)),
        ];
        for (text, want) in cases {
            assert_eq!(read_at(text, received()), *want, "{text}");
        }
    }

    #[test]
    fn phrases_without_diacritics() {
        let cases: &[(&str, Option<DateTime<Utc>>)] = &[
            ("luc 7 gio sang nay", at(11, 30, 7, 0)),
            ("7h30 sang hom qua", at(11, 29, 7, 30)),
            ("toi qua", at(11, 29, 19, 0)),
            ("hom kia", at(11, 28, 12, 0)),
            ("chieu hom qua luc 3h", at(11, 29, 15, 0)),
            ("ngay 28/11", at(11, 28, 12, 0)),
            ("cach day 30 phut", at(11, 30, 9, 30)),
        ];
        for (text, want) in cases {
            assert_eq!(read_at(text, received()), *want, "{text}");
        }
    }

    #[test]
    fn part_of_day_today_is_clamped_to_reception_or_refused_before_it_starts() {
        let afternoon = local(2026, 11, 30, 14, 0).unwrap();
        assert_eq!(
            read_at("chiều nay", afternoon),
            Some(afternoon),
            "15:00 not yet: use 14:00"
        );
        let late = local(2026, 11, 30, 16, 0).unwrap();
        assert_eq!(read_at("chiều nay", late), at(11, 30, 15, 0));
        assert_eq!(
            read_at("chiều nay", received()),
            None,
            "afternoon not started at 10:00"
        );
        assert_eq!(read_at("hôm nay", received()), Some(received()));
    }

    #[test]
    fn future_impossible_and_unreliable_phrases_give_nothing() {
        for text in [
            "ngày mai",
            "sáng mai sẽ có người đến",
            "ngày 5/12/2026",
            "ngày 15/12",
            "tuần sau",
            "15 giờ sáng",
            "ngày 31/11",
            "số 28/11 đường Hùng Vương",
            "nhà 28/11",
            "hẻm 12/3/5 Nguyễn Huệ",
            "tôi thấy đèn hư",
            "toi thay den hu",
            "sang đường rất nguy hiểm",
            "buổi sáng",
            "",
        ] {
            assert_eq!(read_at(text, received()), None, "{text}");
        }
    }

    #[test]
    fn a_date_without_year_in_january_can_be_last_december() {
        let rx = local(2027, 1, 2, 9, 0).unwrap();
        assert_eq!(read_at("ngày 30/12", rx), local(2026, 12, 30, 12, 0));
        assert_eq!(
            read_at("ngày 30/6", rx),
            None,
            "half a year back across New Year"
        );
    }

    #[test]
    fn the_earliest_phrase_is_the_start() {
        let t = read("Từ tối hôm kia đến sáng nay vẫn còn ngập", received()).unwrap();
        assert_eq!(Some(t.at), at(11, 28, 19, 0));
        assert_eq!(t.precision, Precision::PartOfDay);
        assert_eq!(t.phrase, "tối hôm kia");
    }

    #[test]
    fn nfd_text_reads_like_nfc() {
        use unicode_normalization::UnicodeNormalization;
        let text = "7h30 sáng hôm qua";
        let nfd: String = text.nfd().collect();
        assert_eq!(read_at(&nfd, received()), read_at(text, received()));
        let t = read(text, received()).unwrap();
        assert_eq!(t.precision, Precision::Minute);
    }
}
