//! The processing trail's storage (Đ12.2, R-MSG-TRACK, R-SLA-2): the tracking-code index, the
//! index of running deadlines, the lookup limiter, and the working-hours calendar from the
//! configuration. The transitions themselves are pure (`normalizers::trail`).
//!
//! Storage (both backends, through [`Store`] only):
//! - state key `track:<tracking code>` → report id, written at commit (idempotent), so that a
//!   citizen's code finds the report without scanning;
//! - scored index `trail:due`: member = report id, score = the deadline of its current status in
//!   epoch ms, payload = [`DueEntry`] JSON (ids, statuses and times only, no personal data);
//!   rewritten on every transition, removed when the status has no deadline;
//! - state key `trail:lock:<report id>` (TTL [`LOCK_TTL`]) while one change of the report's trail
//!   is being written, so that two IOC operators on any instances never overwrite each other;
//! - counters `track:rl:<source>:<minute>` (TTL two minutes) bounding lookups per source address.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use normalizers::calendar::{Calendar, CalendarError};
use normalizers::report::Report;
use normalizers::trail::{self, DeadlineKind, TrailStatus};
use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreFailure};

/// Scored index of the running deadlines.
pub const DUE_INDEX: &str = "trail:due";

/// Scored index of the requests submitted through Open311 (member = report id, score =
/// reception in epoch ms).
pub const OPEN311_INDEX: &str = "open311:requests";

/// How many running deadlines one listing reads at most.
pub const DUE_SCAN_MAX: usize = 10_000;

/// How long a report's change lock lives when its holder dies.
pub const LOCK_TTL: Duration = Duration::from_secs(10);

/// State key of the lock of a report's trail change.
pub fn lock_key(report_id: &str) -> String {
    format!("trail:lock:{report_id}")
}

/// State key of a tracking code.
pub fn track_key(code: &str) -> String {
    format!("track:{code}")
}

/// The calendar section (`[calendar]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CalendarConfig {
    /// Holiday files (one TOML file per year, the format of `normalizers/data/holidays/`), added
    /// to the shipped years; a file for a shipped year replaces it.
    pub holiday_files: Vec<PathBuf>,
}

/// The public tracking lookup (`[track]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackConfig {
    /// Lookups of tracking codes per source address and minute (JSON and HTML together).
    pub lookups_per_minute: u32,
}

impl Default for TrackConfig {
    fn default() -> Self {
        TrackConfig {
            lookups_per_minute: 30,
        }
    }
}

/// Why the calendar could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CalendarLoadError {
    #[error("cannot read holiday file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("holiday file {path}: {source}")]
    Invalid {
        path: PathBuf,
        #[source]
        source: CalendarError,
    },
}

/// The shipped years, with the configured files over them.
pub fn load_calendar(config: &CalendarConfig) -> Result<Calendar, CalendarLoadError> {
    let mut texts: Vec<(Option<&Path>, String)> = Vec::new();
    for path in &config.holiday_files {
        let text = std::fs::read_to_string(path).map_err(|source| CalendarLoadError::Read {
            path: path.clone(),
            source,
        })?;
        texts.push((Some(path), text));
    }
    let mut cal = Calendar::default();
    for (path, text) in &texts {
        cal.add_year(text)
            .map_err(|source| CalendarLoadError::Invalid {
                path: path.map(Path::to_path_buf).unwrap_or_default(),
                source,
            })?;
    }
    for text in normalizers::calendar::EMBEDDED_YEARS {
        let year = Calendar::from_toml(text).map_err(|source| CalendarLoadError::Invalid {
            path: PathBuf::from("(shipped)"),
            source,
        })?;
        if year.years().keys().all(|y| !cal.years().contains_key(y)) {
            cal.add_year(text)
                .map_err(|source| CalendarLoadError::Invalid {
                    path: PathBuf::from("(shipped)"),
                    source,
                })?;
        }
    }
    Ok(cal)
}

/// The first date of the next `days` days (from `now`, local) whose year has no holiday file.
pub fn uncovered_date(cal: &Calendar, now: DateTime<Utc>, days: i64) -> Option<NaiveDate> {
    let today = normalizers::calendar::to_local(now).date();
    (0..=days)
        .filter_map(|d| today.checked_add_signed(chrono::Duration::days(d)))
        .find(|date| !cal.covers(*date))
}

/// A running deadline as the IOC's overdue list shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DueEntry {
    pub report_id: String,
    #[schema(value_type = String)]
    pub status: TrailStatus,
    #[schema(value_type = String)]
    pub kind: DeadlineKind,
    pub due_by: DateTime<Utc>,
    /// The agency it was forwarded to, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency: Option<String>,
    /// Filled when listed: whether the deadline has passed.
    #[serde(default)]
    pub overdue: bool,
}

/// The deadline index entry of `report` (score: due instant in epoch ms, payload), none when no
/// deadline runs; [`TrailIndex::follow`] writes it, a new report's commit writes it with the report.
pub fn due_record(report: &Report) -> Result<Option<(i64, Vec<u8>)>, StoreFailure> {
    let Some((kind, due_by)) = trail::current_due(report) else {
        return Ok(None);
    };
    let entry = DueEntry {
        report_id: report.id.clone(),
        status: trail::current(report),
        kind,
        due_by,
        agency: trail::current_agency(report),
        overdue: false,
    };
    let payload = serde_json::to_vec(&entry).map_err(|source| StoreFailure::Corrupt {
        key: format!("due entry {}", report.id),
        source,
    })?;
    Ok(Some((due_by.timestamp_millis(), payload)))
}

/// The trail's indexes over the shared store.
#[derive(Clone)]
pub struct TrailIndex {
    store: Store,
}

impl TrailIndex {
    pub fn new(store: Store) -> Self {
        TrailIndex { store }
    }

    /// Record a committed report: its tracking code and, when it runs against one, its
    /// deadline. Idempotent.
    pub async fn record_new(&self, report: &Report) -> Result<(), StoreFailure> {
        if !report.tracking_code.is_empty() {
            self.store
                .put(
                    &track_key(&report.tracking_code),
                    report.id.as_bytes(),
                    None,
                )
                .await?;
        }
        // A replayed commit of a report the IOC already moved keeps its current deadline.
        self.follow(report).await
    }

    /// Follow the report's current status in the deadline index.
    pub async fn follow(&self, report: &Report) -> Result<(), StoreFailure> {
        match due_record(report)? {
            Some((score, payload)) => {
                self.store
                    .index_put(DUE_INDEX, &report.id, score, &payload)
                    .await
            }
            None => self
                .store
                .index_remove(DUE_INDEX, &report.id)
                .await
                .map(|_| ()),
        }
    }

    /// The report id behind a tracking code.
    pub async fn lookup(&self, code: &str) -> Result<Option<String>, StoreFailure> {
        Ok(self
            .store
            .get(&track_key(code))
            .await?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// Deadlines due by `until` (overdue first: earliest first), at most `limit`. The index
    /// answers latest first, so up to [`DUE_SCAN_MAX`] entries are read and the earliest kept.
    pub async fn due_by(
        &self,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<DueEntry>, StoreFailure> {
        let entries = self
            .store
            .index_range(
                DUE_INDEX,
                i64::MIN,
                until.timestamp_millis(),
                limit.max(DUE_SCAN_MAX),
            )
            .await?;
        let mut out: Vec<DueEntry> = entries
            .into_iter()
            .filter_map(|e| match serde_json::from_slice::<DueEntry>(&e.payload) {
                Ok(mut d) => {
                    d.overdue = d.due_by < now;
                    Some(d)
                }
                Err(err) => {
                    tracing::warn!(report_id = %e.member, error = %err, "unreadable due entry skipped");
                    None
                }
            })
            .collect();
        out.sort_by_key(|d| d.due_by);
        out.truncate(limit);
        Ok(out)
    }

    /// Record a request submitted through Open311 (listed by `GET /open311/v2/requests`).
    pub async fn record_open311(&self, report: &Report) -> Result<(), StoreFailure> {
        self.store
            .index_put(
                OPEN311_INDEX,
                &report.id,
                report.received_at.timestamp_millis(),
                b"",
            )
            .await
    }

    /// Ids of the Open311 requests received in `[from, to]`, newest first, at most `limit`.
    pub async fn open311_ids(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<String>, StoreFailure> {
        Ok(self
            .store
            .index_range(
                OPEN311_INDEX,
                from.timestamp_millis(),
                to.timestamp_millis(),
                limit,
            )
            .await?
            .into_iter()
            .map(|e| e.member)
            .collect())
    }

    /// Count a lookup from `source`; `Some(retry after)` when it is over `per_minute`.
    pub async fn lookup_allowed(
        &self,
        source: &str,
        per_minute: u32,
        now: DateTime<Utc>,
    ) -> Result<Option<Duration>, StoreFailure> {
        let minute = now.timestamp().div_euclid(60);
        let key = format!("track:rl:{source}:{minute}");
        let n = self.store.incr(&key, Duration::from_secs(120)).await?;
        if n > i64::from(per_minute) {
            let left = 60 - now.timestamp().rem_euclid(60);
            return Ok(Some(Duration::from_secs(left.max(1) as u64)));
        }
        Ok(None)
    }
}

/// Metrics of the trail (no personal data: stage names only).
pub mod metrics {
    use normalizers::trail::{DeadlineKind, TrailStatus};

    pub fn transition(status: TrailStatus) {
        metrics::counter!("gateway_trail_transitions_total", "status" => status.as_str())
            .increment(1);
    }

    /// A status left after its deadline.
    pub fn deadline_missed(kind: DeadlineKind) {
        metrics::counter!("gateway_deadlines_missed_total", "stage" => kind.as_str()).increment(1);
    }

    /// Reports whose current deadline has passed, and those due within the hour.
    pub fn overdue(overdue: usize, due_soon: usize) {
        metrics::gauge!("gateway_reports_overdue").set(overdue as f64);
        metrics::gauge!("gateway_reports_due_within_hour").set(due_soon as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_files_replace_shipped_years_and_add_new_ones() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("2028.toml");
        std::fs::write(
            &f,
            "year = 2028\n[[days_off]]\nname = \"Tết Dương lịch\"\ndate = \"2028-01-03\"\n",
        )
        .unwrap();
        let cal = load_calendar(&CalendarConfig {
            holiday_files: vec![f],
        })
        .unwrap();
        assert!(cal.covers(NaiveDate::from_ymd_opt(2028, 5, 1).unwrap()));
        assert!(cal.covers(NaiveDate::from_ymd_opt(2026, 5, 1).unwrap()));
        assert!(!cal.is_working_day(NaiveDate::from_ymd_opt(2028, 1, 3).unwrap()));
        let now: DateTime<Utc> = "2028-12-01T00:00:00Z".parse().unwrap();
        assert_eq!(
            uncovered_date(&cal, now, 60),
            NaiveDate::from_ymd_opt(2029, 1, 1)
        );
        let now: DateTime<Utc> = "2026-11-30T00:00:00Z".parse().unwrap();
        assert_eq!(uncovered_date(&cal, now, 60), None);
    }

    #[test]
    fn a_broken_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("bad.toml");
        std::fs::write(&f, "year = \"x\"").unwrap();
        let e = load_calendar(&CalendarConfig {
            holiday_files: vec![f.clone()],
        })
        .unwrap_err();
        assert!(e.to_string().contains("bad.toml"), "{e}");
    }
}
