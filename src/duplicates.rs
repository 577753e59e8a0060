//! The duplicate index (Đ7.3): fingerprints of committed reports, shared by every gateway
//! instance through the store, so that a report repeats one received on another channel or by
//! another instance.
//!
//! Storage (both backends, see [`Store::index_put`]):
//! - scored index `dup:fingerprints`: member = report id, score = `received_at` in epoch ms,
//!   payload = the [`Fingerprint`] JSON (identity digests and hashes only, no personal data).
//!   [`DuplicateIndex::candidates`] reads the window newest first; [`DuplicateIndex::record`]
//!   trims what fell out of it.
//! - state key `dup:closed:<id>` while the window lasts: the IOC closed the report
//!   (`PUT /v1/reports/{id}/status`). Closing also removes the fingerprint from the index, so a
//!   closed report no longer matches; the marker keeps a late [`DuplicateIndex::record`] (a
//!   replayed submission) from putting it back. Reopening records the fingerprint again.
//!
//! Races between instances are accepted and bounded: two instances committing the same repeat
//! within the same few milliseconds may each not see the other's report (both are queued, the IOC
//! sees two reports without a DUPLICATE flag between them); an IOC closing a report in the
//! milliseconds between a replay's marker check and its write leaves a closed fingerprint in the
//! index until the window ends. Neither loses a report.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use normalizers::duplicate::{DuplicateConfig, Fingerprint};
use normalizers::report::{MediaKind, Report, ReportStatus};
pub use normalizers::screen::Screening;
use normalizers::validate::Status;

use crate::store::{BlobStore, Store, StoreFailure};

/// Scored index of the fingerprints of open reports.
pub const FINGERPRINTS_INDEX: &str = "dup:fingerprints";

/// State key marking a report closed by the IOC.
pub fn closed_key(report_id: &str) -> String {
    format!("dup:closed:{report_id}")
}

/// The index failed to read or write the store; the caller retries the submission.
#[derive(Debug, thiserror::Error)]
pub enum DuplicateError {
    #[error("duplicate index: {0}")]
    Store(#[from] StoreFailure),
    #[error("duplicate index: fingerprint of {id} is not serialisable: {source}")]
    Encode {
        id: String,
        #[source]
        source: serde_json::Error,
    },
}

/// The duplicate index over the shared store.
#[derive(Clone)]
pub struct DuplicateIndex {
    store: Store,
    blobs: BlobStore,
    config: DuplicateConfig,
}

impl DuplicateIndex {
    pub fn new(store: Store, blobs: BlobStore, config: DuplicateConfig) -> Self {
        DuplicateIndex {
            store,
            blobs,
            config,
        }
    }

    pub fn config(&self) -> &DuplicateConfig {
        &self.config
    }

    /// The fingerprint of a report whose location is derived and whose media are committed to
    /// the blob store (the photos' perceptual hashes are read from there, off the async threads).
    pub async fn fingerprint(&self, report: &Report) -> Fingerprint {
        let phashes = self.phashes(report).await;
        Fingerprint::of(report, &phashes, self.config.identity_pepper.expose())
    }

    /// The perceptual hash of each readable photo of the report (committed to the blob store).
    pub async fn phashes(&self, report: &Report) -> Vec<Option<u64>> {
        let files: Vec<Option<PathBuf>> = report
            .attachments
            .iter()
            .map(|a| {
                let photo = a.kind == MediaKind::Photo && a.unreadable.is_none();
                photo
                    .then(|| self.blobs.path_of(&a.storage_key).ok())
                    .flatten()
            })
            .collect();
        phashes_of_files(files).await
    }

    /// Fingerprints of the reports received in the window before `received_at` (and after it:
    /// another instance's clock may run ahead), newest first, at most `max_candidates`.
    pub async fn candidates(
        &self,
        received_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Fingerprint>, DuplicateError> {
        let since = received_at.min(now) - self.config.window();
        let entries = self
            .store
            .index_range(
                FINGERPRINTS_INDEX,
                since.timestamp_millis(),
                i64::MAX,
                self.config.max_candidates,
            )
            .await?;
        Ok(entries
            .into_iter()
            .filter_map(|e| match serde_json::from_slice::<Fingerprint>(&e.payload) {
                Ok(fp) => Some(fp),
                Err(err) => {
                    // A fingerprint written by an incompatible version: skip it, it ages out.
                    tracing::warn!(report_id = %e.member, error = %err, "unreadable fingerprint skipped");
                    None
                }
            })
            .collect())
    }

    /// Screen `report` against the open reports of the window, with no sender blocked
    /// ([`crate::pipeline::Pipeline`] adds the block list).
    pub async fn screen(
        &self,
        report: &Report,
        now: DateTime<Utc>,
    ) -> Result<Screening, DuplicateError> {
        self.screen_blocked(report, now, &[]).await
    }

    /// Screen `report` against the open reports of the window and the `blocked` digests.
    pub async fn screen_blocked(
        &self,
        report: &Report,
        now: DateTime<Utc>,
        blocked: &[String],
    ) -> Result<Screening, DuplicateError> {
        let phashes = self.phashes(report).await;
        let open = self.candidates(report.received_at, now).await?;
        Ok(normalizers::screen::screen(
            report,
            &phashes,
            &open,
            blocked,
            &self.config,
        ))
    }

    /// Record a committed report's fingerprint so that later reports (on any instance) can match
    /// it, and trim fingerprints older than the window. Idempotent: recording the same report
    /// again replaces its entry. A report the IOC already closed is not recorded.
    pub async fn record(&self, fp: &Fingerprint) -> Result<(), DuplicateError> {
        if self.store.get(&closed_key(&fp.id)).await?.is_some() {
            return Ok(());
        }
        let payload = serde_json::to_vec(fp).map_err(|source| DuplicateError::Encode {
            id: fp.id.clone(),
            source,
        })?;
        self.store
            .index_put(
                FINGERPRINTS_INDEX,
                &fp.id,
                fp.received_at.timestamp_millis(),
                &payload,
            )
            .await?;
        let horizon = fp.received_at - self.config.window() - chrono::Duration::days(1);
        self.store
            .index_trim(FINGERPRINTS_INDEX, horizon.timestamp_millis())
            .await?;
        Ok(())
    }

    /// The fingerprint entry and the trim bound [`DuplicateIndex::record_report`] writes for a
    /// new report (none when its verdict keeps it out of the index), for a commit that writes
    /// them with the report. A new report cannot have been closed yet.
    pub fn new_report_entry(
        &self,
        report: &Report,
        fp: &Fingerprint,
    ) -> Result<Option<(i64, Vec<u8>, i64)>, DuplicateError> {
        if !matches!(
            report.verdict.status,
            Status::Accepted | Status::NeedsReview
        ) {
            return Ok(None);
        }
        let payload = serde_json::to_vec(fp).map_err(|source| DuplicateError::Encode {
            id: fp.id.clone(),
            source,
        })?;
        let horizon = fp.received_at - self.config.window() - chrono::Duration::days(1);
        Ok(Some((
            fp.received_at.timestamp_millis(),
            payload,
            horizon.timestamp_millis(),
        )))
    }

    /// Record `report` when its verdict lets it be a duplicate target: accepted or needs review
    /// (a rejected report is not handled by the IOC and the citizen may send it again, fixed).
    pub async fn record_report(
        &self,
        report: &Report,
        fp: &Fingerprint,
    ) -> Result<(), DuplicateError> {
        match report.verdict.status {
            Status::Accepted | Status::NeedsReview => self.record(fp).await,
            Status::Rejected | Status::Pending => Ok(()),
        }
    }

    /// Follow the IOC's status change of `report` (call after storing the new status): closed
    /// reports leave the index, reopened ones come back.
    pub async fn set_status(
        &self,
        report: &Report,
        now: DateTime<Utc>,
    ) -> Result<(), DuplicateError> {
        let key = closed_key(&report.id);
        match report.status {
            ReportStatus::Closed => {
                let ttl = self.config.window().to_std().ok();
                let until = (now + self.config.window()).timestamp_millis().to_string();
                self.store.put(&key, until.as_bytes(), ttl).await?;
                self.store
                    .index_remove(FINGERPRINTS_INDEX, &report.id)
                    .await?;
            }
            ReportStatus::Open => {
                self.store.delete(&key).await?;
                let fp = self.fingerprint(report).await;
                self.record_report(report, &fp).await?;
            }
        }
        Ok(())
    }
}

/// Perceptual hashes of the files (`None` entries and unreadable files give `None`), computed in
/// the heavy-work pool ([`crate::heavy`]): each waits for a worker and for the memory its decode
/// holds, read from the file's header first.
pub async fn phashes_of_files(files: Vec<Option<PathBuf>>) -> Vec<Option<u64>> {
    let mut hashes = Vec::with_capacity(files.len());
    for path in files {
        hashes.push(match path {
            Some(path) => phash_of_file(path).await,
            None => None,
        });
    }
    hashes
}

async fn phash_of_file(path: PathBuf) -> Option<u64> {
    let header = path.clone();
    let cost = tokio::task::spawn_blocking(move || {
        let file = std::io::BufReader::new(std::fs::File::open(header).ok()?);
        normalizers::media::decode_cost(file)
    })
    .await
    .ok()??;
    crate::heavy::pool()
        .run(cost, move || {
            let file = std::fs::File::open(path).ok()?;
            normalizers::media::phash(file)
        })
        .await
        .ok()?
}
