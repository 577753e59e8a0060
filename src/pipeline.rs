//! The pipeline: submission → normalizer (done by the channel) → media inspection → validator →
//! durable commit → queue or rejection stream (SPEC §3).
//!
//! Commit order makes every step idempotent, so a crash anywhere leaves the submission to be
//! processed again without doubling it (R-PIPE-1, R-PIPE-2):
//! 1. the de-duplication key's binding (`dedup:<key>`) is read: a repeat stops here;
//! 2. the raw original and the media are written to content-addressed files, flushed;
//! 3. one store call ([`Store::commit_report`]) binds the key to the report id (first binding
//!    wins), stores the report document (first write wins), appends it to `ioc:reports` or
//!    `ioc:rejections` at most once per id, writes its tracking code, deadline and fingerprint,
//!    and marks the binding committed: one redb transaction riding the group commit, or on
//!    Redis the binding, one pipeline, then the mark.
//!
//! Only then does `ingest` return, and only then does a channel acknowledge. A repeat finds the
//! binding: marked committed, it answers with the first outcome and writes nothing; unmarked (a
//! Redis commit interrupted before its mark, or one of an earlier version), it completes
//! whatever a crash left undone first.
//!
//! Screening and commit of one sender's submissions run one after the other in a process
//! ([`SenderLocks`]): a report sent several times at once (a double tap, an email sent twice
//! that lands in one IMAP batch) is screened against the copy committed before it, so the
//! copies are DUPLICATE rejections instead of several reports for the IOC.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use channels::intake::{IngestError, Intake, MediaInput, MediaSource, Origin, Outcome, Submission};
use channels::staging::StagedFile;
use chrono::{DateTime, Utc};
use normalizers::calendar::Calendar;
use normalizers::conversation::ReplyRoute;
use normalizers::duplicate::{DuplicateConfig, Fingerprint};
use normalizers::geo::Geo;
use normalizers::media::{self, MediaInfo};
use normalizers::report::{Attachment, MediaKind, ReceivedFile, Report, VouchedCapture};
use normalizers::validate::{Context, Status, ValidationConfig, Validator, Verdict};
use rand::Rng;

use crate::blocklist::{BlockEntry, BlockError, BlockList, BlockRequest};
use crate::clock::SharedClock;
use crate::duplicates::{DuplicateError, DuplicateIndex};
use crate::metrics as m;
use crate::publication::{PublishedReport, ReportIndexes};
use crate::ratelimit::{RateLimitConfig, RateLimiter};
use crate::store::blobs::BlobWriter;
use crate::store::{
    Binding, BlobError, BlobStore, ChannelStore, Committed, Entry, IndexPut, ReportCommit, Staged,
    Store, StoreFailure, IOC_GROUP, REJECTIONS_STREAM, REPORTS_STREAM,
};
use crate::trail::{DueEntry, TrailIndex};

/// How often, and how far apart, a commit that found its key bound by a concurrent one looks
/// for that one's report before giving up (the channel retries).
const CONCURRENT_COMMIT_POLLS: usize = 50;
const CONCURRENT_COMMIT_POLL: Duration = Duration::from_millis(100);

/// Photos larger than this get no public copy (the default photo limit is 20 MB).
const PUBLIC_COPY_MAX_BYTES: u64 = 40_000_000;

/// Chunks of a public copy handed from the heavy-work pool to the staging writer.
const COPY_CHUNK: usize = 64 * 1024;

/// The blocking side of a public copy: each write is one chunk for the async staging writer.
struct ChunkSender(tokio::sync::mpsc::Sender<Vec<u8>>);

impl std::io::Write for ChunkSender {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.blocking_send(buf.to_vec()).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "staging writer gone")
        })?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A medium already streamed to the staging folder and hashed. Its file is deleted when it is
/// dropped without having been committed.
#[derive(Debug)]
pub struct PreparedMedia {
    pub staged: Staged,
    pub file_name: Option<String>,
    pub claimed_type: Option<String>,
    /// When the citizen sent the file over the channel (evidence, never the capture time).
    pub sent_at: Option<DateTime<Utc>>,
    /// A capture the channel vouches for, used when the file carries no capture time.
    pub vouched_capture: Option<VouchedCapture>,
}

/// Why the IOC's status change was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("report {id} does not serialise: {source}")]
    Encode {
        id: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot store the report's status: {0}")]
    Store(#[from] StoreFailure),
    #[error("cannot update the duplicate index: {0}")]
    Index(#[from] DuplicateError),
    #[error("no report {0}")]
    NotFound(String),
    #[error("another change of report {0} is in progress; retry in a moment")]
    Busy(String),
    #[error("{0}")]
    Transition(#[from] normalizers::trail::TransitionError),
    /// The caller may not change this report (an agency it was not forwarded to).
    #[error("report {0} is not forwarded to this agency")]
    NotYours(String),
    /// The change does not fit the report as it is (a disclosure with no agency to go to).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Message(#[from] normalizers::conversation::MessageError),
    #[error("{0}")]
    Answer(#[from] normalizers::conversation::AnswerError),
}

pub struct Pipeline {
    store: Store,
    blobs: BlobStore,
    clock: SharedClock,
    geo: &'static Geo,
    /// Fingerprints of open reports shared by every instance (DUPLICATE, Đ7.3).
    duplicates: DuplicateIndex,
    /// Blocked senders (SENDER_BLOCKED, Đ13.1.e).
    blocklist: BlockList,
    validator: Validator,
    validation: ValidationConfig,
    dedup_ttl: Duration,
    /// Intake rate limits (R-SEC-4).
    limiter: RateLimiter,
    /// Tracking codes and running deadlines (Đ12.2, R-SLA-2).
    trail: TrailIndex,
    /// Published results and the agencies' lists (Đ11, Đ8.3).
    indexes: ReportIndexes,
    /// The working-hours calendar of the deadlines (R-SLA-1).
    calendar: Arc<Calendar>,
    /// The identity pepper, keying the digests channels put in shared state keys.
    pepper: Arc<str>,
    /// The IOC's messages: which outboxes run, the app backend's webhook.
    conversations: crate::conversation::Conversations,
    /// One sender's submissions are screened and committed one at a time.
    senders: SenderLocks,
}

/// Locks over the senders' identities, striped: a submission holds the stripes of every
/// identity its sender gave (phone, email, Zalo id…) from screening to commit, taken in
/// ascending order so two submissions sharing some identities cannot wait on each other. Two
/// senders on one stripe wait for each other's screening and commit, no more.
struct SenderLocks {
    stripes: Box<[tokio::sync::Mutex<()>]>,
}

impl SenderLocks {
    const STRIPES: usize = 1024;

    fn new() -> Self {
        SenderLocks {
            stripes: (0..Self::STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
        }
    }

    /// Hold the stripes of `report`'s sender (none when the report names nobody).
    async fn hold(&self, report: &Report) -> Vec<tokio::sync::MutexGuard<'_, ()>> {
        use std::hash::{BuildHasher, BuildHasherDefault};
        let hasher = BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default();
        let mut stripes: Vec<usize> = normalizers::identity::Identity::of_report(report)
            .iter()
            .map(|identity| (hasher.hash_one(identity) % Self::STRIPES as u64) as usize)
            .collect();
        stripes.sort_unstable();
        stripes.dedup();
        let mut held = Vec::with_capacity(stripes.len());
        for i in stripes {
            held.push(self.stripes[i].lock().await);
        }
        held
    }
}

impl Pipeline {
    // Each argument is one component or one configuration section, named at the one call
    // site (`server::build`).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        blobs: BlobStore,
        clock: SharedClock,
        geo: &'static Geo,
        validation: ValidationConfig,
        duplicates: DuplicateConfig,
        dedup_ttl: Duration,
        rate_limits: RateLimitConfig,
        calendar: Calendar,
    ) -> Arc<Self> {
        Arc::new(Pipeline {
            limiter: RateLimiter::new(
                store.clone(),
                clock.clone(),
                duplicates.identity_pepper.expose(),
                rate_limits,
            ),
            trail: TrailIndex::new(store.clone()),
            indexes: ReportIndexes::new(store.clone()),
            calendar: Arc::new(calendar),
            pepper: Arc::from(duplicates.identity_pepper.expose()),
            blocklist: BlockList::new(store.clone(), duplicates.identity_pepper.expose()),
            duplicates: DuplicateIndex::new(store.clone(), blobs.clone(), duplicates),
            store,
            blobs,
            clock,
            geo,
            validator: Validator::default(),
            validation,
            dedup_ttl,
            conversations: Default::default(),
            senders: SenderLocks::new(),
        })
    }

    /// The IOC's messages' routes, set once at start.
    pub fn conversations(&self) -> &crate::conversation::Conversations {
        &self.conversations
    }

    /// How long a de-duplication binding lives: an email may be read again as long as the
    /// mailbox keeps it (a lost checkpoint, a new UIDVALIDITY, an import of the Processed
    /// folder), so email bindings never expire; other keys (API `Idempotency-Key`s) live
    /// `queue.idempotency_ttl_hours`.
    fn binding_ttl(&self, report: &Report) -> Option<Duration> {
        (report.channel != normalizers::report::Channel::Email).then_some(self.dedup_ttl)
    }

    /// The gazetteer and boundary (the portal's place suggestions).
    pub fn geo(&self) -> &'static Geo {
        self.geo
    }

    /// The intake rate limits, for the HTTP handlers (channels go through [`Intake::admit`]).
    pub fn rate_limits(&self) -> &RateLimiter {
        &self.limiter
    }

    /// Count a submission against the rate limits, unless it repeats one already taken (its
    /// de-duplication key is bound): a retry is never refused for being a retry.
    pub async fn admit_submission(
        &self,
        channel: normalizers::report::Channel,
        dedup_key: Option<&str>,
        subjects: &channels::ratelimit::Subjects,
    ) -> Result<channels::ratelimit::Admission, StoreFailure> {
        if let Some(key) = dedup_key {
            if self.store.get(&format!("dedup:{key}")).await?.is_some() {
                return Ok(channels::ratelimit::Admission::Admitted);
            }
        }
        self.limiter.admit_once(channel, dedup_key, subjects).await
    }

    pub fn validation(&self) -> &ValidationConfig {
        &self.validation
    }

    /// The injected clock's instant.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// `redis` or `embedded`.
    pub fn store_kind(&self) -> &'static str {
        self.store.kind()
    }

    /// The store as the channels see it; their stream entries claimed and not acknowledged
    /// within `claim_timeout` are handed out again.
    pub fn channel_store(&self, claim_timeout: Duration) -> Arc<ChannelStore> {
        Arc::new(ChannelStore {
            store: self.store.clone(),
            claim_timeout,
        })
    }

    /// Where channels stream downloads before handing them over as [`MediaSource::File`].
    pub fn staging_dir(&self) -> PathBuf {
        self.blobs.staging_dir()
    }

    /// Whether the store answers (readiness).
    pub async fn readiness(&self) -> Result<(), StoreFailure> {
        self.store.ping().await
    }

    /// A new sortable id (ULID) at the injected clock's instant.
    pub fn new_id(&self) -> String {
        let ms = self.clock.now().timestamp_millis().max(0) as u64;
        ulid::Ulid::from_parts(ms, rand::rng().random()).to_string()
    }

    /// Load a stored report.
    pub async fn report(&self, id: &str) -> Result<Option<Report>, StoreFailure> {
        match self.store.get_report(id).await? {
            Some(bytes) => parse_report(id, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// A page of stored report documents (see [`Store::scan_reports`]): the figures visit
    /// every report this way without holding them all.
    pub async fn scan_reports(
        &self,
        cursor: Option<&str>,
        upto: Option<&str>,
        count: usize,
    ) -> Result<crate::store::ReportPage, StoreFailure> {
        self.store.scan_reports(cursor, upto, count).await
    }

    /// Record the IOC's status change of a stored report (`report.status` and its trail
    /// already set): the document, the duplicate index (closed reports leave it), the deadline
    /// index.
    pub async fn set_status(&self, report: &Report) -> Result<(), StatusError> {
        let json = serde_json::to_vec(report).map_err(|source| StatusError::Encode {
            id: report.id.clone(),
            source,
        })?;
        self.store.replace_report(&report.id, &json).await?;
        self.duplicates.set_status(report, self.clock.now()).await?;
        self.trail.follow(report).await?;
        self.indexes.follow(report).await?;
        Ok(())
    }

    /// Move a report along its trail at the clock's instant (`actor`: the API key's role and
    /// id). One change of a report at a time across instances (a lock in the shared store):
    /// a concurrent one gets [`StatusError::Busy`] instead of overwriting it.
    pub async fn transition(
        &self,
        id: &str,
        t: normalizers::trail::Transition,
        actor: &str,
    ) -> Result<Report, StatusError> {
        self.locked(id, |mut report, now| {
            let missed = normalizers::trail::apply(&mut report, t, actor, now, &self.calendar)?;
            if let Some(m) = missed {
                crate::trail::metrics::deadline_missed(m.kind);
            }
            crate::trail::metrics::transition(normalizers::trail::current(&report));
            Ok(Some(report))
        })
        .await
    }

    /// A transition by an agency: only `agency_accepted` and `answered`, only on a report last
    /// forwarded to `agency` (checked under the report's lock).
    pub async fn agency_transition(
        &self,
        id: &str,
        agency: &str,
        t: normalizers::trail::Transition,
        actor: &str,
    ) -> Result<Report, StatusError> {
        use normalizers::trail::TrailStatus;
        self.locked(id, |mut report, now| {
            if !crate::publication::forwarded_to(&report, agency)
                || !matches!(
                    t.status,
                    Some(TrailStatus::AgencyAccepted | TrailStatus::Answered)
                )
            {
                return Err(StatusError::NotYours(id.to_string()));
            }
            let missed = normalizers::trail::apply(&mut report, t, actor, now, &self.calendar)?;
            if let Some(m) = missed {
                crate::trail::metrics::deadline_missed(m.kind);
            }
            crate::trail::metrics::transition(normalizers::trail::current(&report));
            Ok(Some(report))
        })
        .await
    }

    /// Withhold a report's result from publication (`Some`: who, when, why), or lift that.
    pub async fn withhold(
        &self,
        id: &str,
        reason: Option<String>,
        actor: &str,
    ) -> Result<Report, StatusError> {
        self.locked(id, |mut report, now| {
            report.publication_withheld = reason.map(|reason| normalizers::report::Withheld {
                at: now,
                actor: actor.to_string(),
                reason,
            });
            Ok(Some(report))
        })
        .await
    }

    /// Disclose the reporter's contact to an agency (the one the report was last forwarded to
    /// when `agency` is `None`), recorded with who, when and why.
    pub async fn disclose(
        &self,
        id: &str,
        agency: Option<String>,
        reason: String,
        actor: &str,
    ) -> Result<Report, StatusError> {
        self.locked(id, |mut report, now| {
            let agency = agency
                .or_else(|| normalizers::trail::current_agency(&report))
                .ok_or_else(|| {
                    StatusError::Conflict(format!(
                        "report {id} was not forwarded to an agency: name the agency"
                    ))
                })?;
            report.disclosures.push(normalizers::report::Disclosure {
                at: now,
                actor: actor.to_string(),
                agency,
                reason,
            });
            Ok(Some(report))
        })
        .await
    }

    /// Published results, newest first, after `cursor`; the next page's cursor.
    pub async fn published_page(
        &self,
        cursor: Option<&(i64, String)>,
        limit: usize,
    ) -> Result<(Vec<PublishedReport>, Option<String>), StoreFailure> {
        self.indexes.published_page(cursor, limit).await
    }

    /// Ids of the reports last forwarded to `agency`, latest first, after `cursor`.
    pub async fn agency_page(
        &self,
        agency: &str,
        cursor: Option<&(i64, String)>,
        limit: usize,
    ) -> Result<(Vec<String>, Option<String>), StoreFailure> {
        self.indexes.agency_page(agency, cursor, limit).await
    }

    /// Rebuild the indexes of every stored report (tracking codes, running deadlines, published
    /// results, agencies' lists): reports stored before an index existed are found by it.
    /// Idempotent; returns how many reports were indexed. An unreadable report is skipped (and
    /// logged by id).
    pub async fn reindex(&self) -> Result<usize, StoreFailure> {
        let ids = self.store.report_ids().await?;
        let mut n = 0;
        for id in ids {
            let report = match self.report(&id).await {
                Ok(Some(r)) => r,
                Ok(None) => continue,
                Err(StoreFailure::Corrupt { .. }) => {
                    tracing::warn!(report_id = %id, "unreadable report skipped by the reindex");
                    continue;
                }
                Err(e) => return Err(e),
            };
            self.trail.record_new(&report).await?;
            self.indexes.follow(&report).await?;
            n += 1;
        }
        self.indexes.mark_reindexed().await?;
        Ok(n)
    }

    /// [`Pipeline::reindex`] unless it has already run on this store.
    pub async fn reindex_once(&self) -> Result<Option<usize>, StoreFailure> {
        if self.indexes.reindexed().await? {
            return Ok(None);
        }
        self.reindex().await.map(Some)
    }

    /// The legacy `PUT …/status`: close from any status, or reopen a closed report.
    pub async fn legacy_status(
        &self,
        id: &str,
        close: bool,
        actor: &str,
    ) -> Result<Report, StatusError> {
        self.locked(id, |mut report, now| {
            let changed = if close {
                normalizers::trail::force_close(&mut report, actor, now)
            } else {
                normalizers::trail::reopen(&mut report, actor, now)
            };
            Ok(changed.then_some(report))
        })
        .await
    }

    /// Read the report under its change lock, let `change` move it (`None`: nothing to store),
    /// store it.
    pub(crate) async fn locked(
        &self,
        id: &str,
        change: impl FnOnce(Report, DateTime<Utc>) -> Result<Option<Report>, StatusError>,
    ) -> Result<Report, StatusError> {
        let lock = crate::trail::lock_key(id);
        let token = self.new_id();
        if !self
            .store
            .put_if_absent(&lock, token.as_bytes(), Some(crate::trail::LOCK_TTL))
            .await?
        {
            return Err(StatusError::Busy(id.to_string()));
        }
        let result = async {
            let report = self
                .report(id)
                .await?
                .ok_or_else(|| StatusError::NotFound(id.to_string()))?;
            let before = report.clone();
            match change(report, self.clock.now())? {
                Some(changed) => {
                    self.set_status(&changed).await?;
                    Ok(changed)
                }
                None => Ok(before),
            }
        }
        .await;
        // Only our own lock (it may have expired and been taken by another change).
        let _ = self
            .store
            .compare_and_swap(&lock, Some(token.as_bytes()), None, None)
            .await;
        result
    }

    /// The report behind a tracking code.
    pub async fn track(&self, code: &str) -> Result<Option<Report>, StoreFailure> {
        match self.trail.lookup(code).await? {
            Some(id) => self.report(&id).await,
            None => Ok(None),
        }
    }

    /// Count a tracking lookup from `source`; `Some(retry after)` past `per_minute`.
    pub async fn track_lookup_allowed(
        &self,
        source: &str,
        per_minute: u32,
    ) -> Result<Option<Duration>, StoreFailure> {
        self.trail
            .lookup_allowed(source, per_minute, self.clock.now())
            .await
    }

    /// Running deadlines due by `now + within` (overdue first), at most `limit`.
    pub async fn due(
        &self,
        within: chrono::Duration,
        limit: usize,
    ) -> Result<Vec<DueEntry>, StoreFailure> {
        let now = self.clock.now();
        self.trail.due_by(now, now + within, limit).await
    }

    /// Record a report submitted through Open311 for its request list.
    pub async fn record_open311(&self, report: &Report) -> Result<(), StoreFailure> {
        self.trail.record_open311(report).await
    }

    /// Ids of the Open311 requests received in `[from, to]`, newest first.
    pub async fn open311_ids(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<String>, StoreFailure> {
        self.trail.open311_ids(from, to, limit).await
    }

    /// The working-hours calendar of the deadlines.
    pub fn calendar(&self) -> &Calendar {
        &self.calendar
    }

    /// Hand out up to `max` entries of an IOC stream (`ioc:reports`, `ioc:rejections`) to
    /// `consumer` of the IOC's group; entries claimed and not acknowledged within `min_idle` are
    /// handed out again.
    pub async fn claim(
        &self,
        stream: &str,
        consumer: &str,
        max: usize,
        min_idle: Duration,
    ) -> Result<Vec<Entry>, StoreFailure> {
        self.store
            .claim(stream, IOC_GROUP, consumer, max, min_idle)
            .await
    }

    /// Acknowledge an entry claimed by the IOC; false when it was not pending.
    pub async fn ack(&self, stream: &str, entry_id: &str) -> Result<bool, StoreFailure> {
        self.store.ack(stream, IOC_GROUP, entry_id).await
    }

    /// Up to `max` entries of an IOC stream claimed and not acknowledged yet, oldest first,
    /// each with the consumer holding it.
    pub async fn claimed(
        &self,
        stream: &str,
        max: usize,
    ) -> Result<Vec<crate::store::PendingEntry>, StoreFailure> {
        self.store.pending(stream, IOC_GROUP, max).await
    }

    /// (length, pending for the IOC, not yet delivered to the IOC) of an IOC stream.
    pub async fn queue_depth(&self, stream: &str) -> Result<(u64, u64, u64), StoreFailure> {
        self.store.depth(stream, IOC_GROUP).await
    }

    /// The stored original of an attachment.
    pub async fn media(&self, storage_key: &str) -> Result<tokio::fs::File, BlobError> {
        self.blobs.open_blob(storage_key).await
    }

    /// A writer streaming a medium to the staging folder.
    pub async fn stage_writer(&self) -> Result<BlobWriter, BlobError> {
        self.blobs.writer().await
    }

    /// Delete a staged medium that will not be committed (dropping it does the same).
    pub async fn discard(&self, staged: Staged) {
        self.blobs.discard(staged).await;
    }

    /// Block a sender (Đ13.1.e) from now on.
    pub async fn block(&self, request: &BlockRequest) -> Result<BlockEntry, BlockError> {
        self.blocklist.add(request, self.clock.now()).await
    }

    /// Unblock a sender by digest or identity; false when it was not blocked.
    pub async fn unblock(&self, key: &str) -> Result<bool, BlockError> {
        self.blocklist.remove(key).await
    }

    /// The live block list, newest first.
    pub async fn blocked(&self) -> Result<Vec<BlockEntry>, BlockError> {
        self.blocklist.list(self.clock.now()).await
    }

    /// Stage an input medium (bytes in memory, or a file a channel downloaded, owned from here
    /// on: committed or deleted).
    pub async fn stage(&self, input: StagedInput) -> Result<PreparedMedia, IngestError> {
        let staged = match input.source {
            StagedSource::Bytes(bytes) => {
                let mut w = self.blobs.writer().await.map_err(unavailable)?;
                w.write(&bytes).await.map_err(unavailable)?;
                w.finish().await.map_err(unavailable)?
            }
            StagedSource::File(file) => self.blobs.stage_file(file).await.map_err(unavailable)?,
        };
        let input = input.input;
        Ok(PreparedMedia {
            staged,
            file_name: input.file_name,
            claimed_type: input.claimed_type,
            sent_at: input.sent_at,
            vouched_capture: input.vouched_capture,
        })
    }

    /// Inspect staged media and attach them to the report (files stay staged).
    pub async fn attach(&self, report: &mut Report, media: &[PreparedMedia]) {
        for p in media {
            let info = inspect_file(p.staged.path(), p.claimed_type.as_deref()).await;
            report.attachments.push(attachment(p, info));
        }
    }

    /// Stage, inspect and store a channel's media outside a report's commit (a citizen's
    /// answer): each becomes an attachment with its public copy, its file content-addressed.
    pub async fn store_media(
        &self,
        inputs: Vec<MediaInput>,
    ) -> Result<Vec<Attachment>, IngestError> {
        let inputs: Vec<StagedInput> = inputs.into_iter().map(StagedInput::from).collect();
        let mut media = Vec::with_capacity(inputs.len());
        for input in inputs {
            media.push(self.stage(input).await?);
        }
        let mut out = Vec::with_capacity(media.len());
        for p in &media {
            let info = inspect_file(p.staged.path(), p.claimed_type.as_deref()).await;
            let mut a = attachment(p, info);
            a.storage_key = self.blobs.commit(&p.staged).await.map_err(unavailable)?;
            a.public_key = self.public_copy(&a).await?;
            out.push(a);
        }
        Ok(out)
    }

    /// Commit a staged photo of an IOC message, inspected by the caller: the original under
    /// its content address and its public copy (EXIF/GPS stripped; `public_key` stays `None`
    /// when none can be made).
    pub async fn commit_photo(
        &self,
        p: &PreparedMedia,
        info: MediaInfo,
    ) -> Result<Attachment, IngestError> {
        let mut a = attachment(p, info);
        a.storage_key = self.blobs.commit(&p.staged).await.map_err(unavailable)?;
        a.public_key = self.public_copy(&a).await?;
        Ok(a)
    }

    /// Where a stored file is on disk (a mail attachment is read from there).
    pub fn media_path(&self, storage_key: &str) -> Result<PathBuf, BlobError> {
        self.blobs.path_of(storage_key)
    }

    /// Append an entry to the IOC's queue (`ioc:reports`) at most once per `key`.
    pub async fn queue_for_ioc(&self, key: &str, payload: &[u8]) -> Result<(), StoreFailure> {
        self.store
            .append(REPORTS_STREAM, Some(key), payload)
            .await?;
        m::queued(REPORTS_STREAM);
        Ok(())
    }

    /// Small shared state of the conversations (`answer:zalo:<digest>`).
    pub async fn put_state(
        &self,
        key: &str,
        value: &str,
        ttl: Option<Duration>,
    ) -> Result<(), StoreFailure> {
        self.store.put(key, value.as_bytes(), ttl).await
    }

    pub async fn get_state(&self, key: &str) -> Result<Option<String>, StoreFailure> {
        Ok(self
            .store
            .get(key)
            .await?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// Count an event under `key` for `ttl` (the console's login attempts); the count so far.
    pub async fn count_state(&self, key: &str, ttl: Duration) -> Result<i64, StoreFailure> {
        self.store.incr(key, ttl).await
    }

    /// Forget small shared state (a console session at logout).
    pub async fn delete_state(&self, key: &str) -> Result<(), StoreFailure> {
        self.store.delete(key).await
    }

    /// Bind `key` to `value` unless bound; the value bound.
    pub async fn bind_once(&self, key: &str, value: &str) -> Result<String, StoreFailure> {
        if self
            .store
            .put_if_absent(key, value.as_bytes(), None)
            .await?
        {
            return Ok(value.to_string());
        }
        Ok(self
            .store
            .get(key)
            .await?
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|| value.to_string()))
    }

    /// Validate a report as of its reception (no storage): the 48-hour rule counts from when the
    /// citizen sent it, even when a backlog is processed later. Never later than the clock.
    ///
    /// The block list and the open reports it may repeat are read (not written); returns the
    /// verdict and the fingerprint to record once the report is committed.
    pub async fn validate(
        &self,
        report: &mut Report,
    ) -> Result<(Verdict, Fingerprint), IngestError> {
        let now = report.received_at.min(self.clock.now());
        let mut ctx = Context::new(now, &self.validation);
        ctx.geo = Some(self.geo);
        // On the configured calendar (the normalizer would use the shipped one).
        if report.deadlines.forward_or_reject_by.is_none() {
            report.deadlines.forward_or_reject_by = Some(self.calendar.add_working_hours(
                report.received_at,
                normalizers::trail::FORWARD_OR_REFUSE_WORKING_HOURS,
            ));
        }
        // Derivation first: the fingerprint needs the matched commune and the GPS coordinates.
        normalizers::pipeline::derive(report, &ctx);
        let blocked = self
            .blocklist
            .blocked_digests(report)
            .await
            .map_err(index_error)?;
        let screening = self
            .duplicates
            .screen_blocked(report, now, &blocked)
            .await
            .map_err(index_error)?;
        screening.apply(&mut ctx);
        let verdict = self.validator.validate(report, &ctx);
        report.verdict = verdict.clone();
        Ok((verdict, screening.fingerprint))
    }

    /// A dry run: inspect and validate, store nothing, delete the staged files.
    pub async fn check(
        &self,
        mut report: Report,
        media: Vec<PreparedMedia>,
    ) -> Result<Report, IngestError> {
        self.attach(&mut report, &media).await;
        let validated = self.validate(&mut report).await;
        for p in media {
            self.blobs.discard(p.staged).await;
        }
        validated.map(|_| report)
    }

    /// The whole pipeline for a submission whose media are already staged. When it fails
    /// (storage down, a full disk) or is cancelled, the staged files not yet committed are
    /// deleted (each [`Staged`] deletes its file when dropped): the channel sends or downloads
    /// them again with its retry.
    pub async fn ingest_prepared(
        &self,
        dedup_key: &str,
        raw: &[u8],
        report: Report,
        media: Vec<PreparedMedia>,
    ) -> Result<Outcome, IngestError> {
        self.commit_prepared(dedup_key, raw, report, media).await
    }

    async fn commit_prepared(
        &self,
        dedup_key: &str,
        raw: &[u8],
        mut report: Report,
        media: Vec<PreparedMedia>,
    ) -> Result<Outcome, IngestError> {
        let channel = report.channel.as_str();
        m::received(channel);
        let dedup = format!("dedup:{dedup_key}");
        // Step 1: an earlier binding of the key (read only: a new binding is written with the
        // report, in one store call).
        let bound = self
            .store
            .get(&dedup)
            .await
            .map_err(storage("dedup"))?
            .map(|b| Binding::parse(&b));
        let id = match bound {
            Some(bound) => match self.report(&bound.id).await.map_err(storage("report"))? {
                Some(existing) => {
                    for p in media {
                        self.blobs.discard(p.staged).await;
                    }
                    return self.repeat(&dedup, bound.committed, existing).await;
                }
                // Bound by a commit a crash interrupted (an earlier version bound first):
                // finished under that id.
                None => bound.id,
            },
            None => self.new_id(),
        };
        crate::failpoint::hit("after_dedup");
        // Step 2: the raw original and the media, durable before the report refers to them.
        report.id = id;
        if report.tracking_code.is_empty() {
            report.tracking_code = tracking_code();
        }
        let raw_key = self.blobs.put_bytes(raw).await.map_err(unavailable)?;
        report.raw_original = Some(raw_key);
        self.attach(&mut report, &media).await;
        for (p, a) in media.iter().zip(report.attachments.iter_mut()) {
            a.storage_key = self.blobs.commit(&p.staged).await.map_err(unavailable)?;
            a.public_key = self.public_copy(a).await?;
        }
        crate::failpoint::hit("after_media");
        // Held until the commit below has written the fingerprint (or failed).
        let _sender = self.senders.hold(&report).await;
        let (verdict, fingerprint) = self.validate(&mut report).await?;
        m::verdict(channel, &verdict);
        // Steps 3 and 4 in one store call: binding, document, queue entry, tracking code,
        // deadline and fingerprint.
        let commit = self.report_commit(&dedup, &report, &fingerprint)?;
        match self
            .store
            .commit_report(&commit)
            .await
            .map_err(storage("commit"))?
        {
            Committed::Stored { .. } => {
                m::queued(commit.stream);
                crate::failpoint::hit("after_queue");
                Ok(outcome(&report, false))
            }
            Committed::Earlier { document } => {
                let existing = parse_report(&report.id, &document).map_err(storage("report"))?;
                self.repeat(&dedup, false, existing).await
            }
            Committed::BoundElsewhere(bound) => {
                // A concurrent commit of the same submission holds the key: answer with its
                // report once it is stored.
                for _ in 0..CONCURRENT_COMMIT_POLLS {
                    if let Some(existing) =
                        self.report(&bound.id).await.map_err(storage("report"))?
                    {
                        return self.repeat(&dedup, bound.committed, existing).await;
                    }
                    tokio::time::sleep(CONCURRENT_COMMIT_POLL).await;
                }
                Err(IngestError::unavailable(
                    "a concurrent commit of the same submission is not finished yet",
                ))
            }
        }
    }

    /// Everything a new report's commit writes (see [`ReportCommit`]).
    fn report_commit(
        &self,
        dedup: &str,
        report: &Report,
        fingerprint: &Fingerprint,
    ) -> Result<ReportCommit, IngestError> {
        let document = serde_json::to_vec(report).map_err(IngestError::internal)?;
        let mut state = Vec::new();
        if !report.tracking_code.is_empty() {
            state.push((
                crate::trail::track_key(&report.tracking_code),
                report.id.clone().into_bytes(),
            ));
        }
        let mut index = Vec::new();
        let mut trims = Vec::new();
        if let Some((score, payload)) =
            crate::trail::due_record(report).map_err(IngestError::internal)?
        {
            index.push(IndexPut {
                index: crate::trail::DUE_INDEX,
                member: report.id.clone(),
                score,
                payload,
            });
        }
        if let Some((score, payload, horizon)) = self
            .duplicates
            .new_report_entry(report, fingerprint)
            .map_err(IngestError::internal)?
        {
            index.push(IndexPut {
                index: crate::duplicates::FINGERPRINTS_INDEX,
                member: report.id.clone(),
                score,
                payload,
            });
            trims.push((crate::duplicates::FINGERPRINTS_INDEX, horizon));
        }
        Ok(ReportCommit {
            binding: dedup.to_string(),
            binding_ttl: self.binding_ttl(report),
            id: report.id.clone(),
            document,
            stream: stream_of(report),
            state,
            index,
            trims,
        })
    }

    /// A repeat of a stored report: nothing to write once its commit is complete (the binding
    /// says so, however long after the stream's append marker expired); otherwise finish what
    /// an interrupted commit left (each step idempotent) and mark it complete. Answers as the
    /// first time.
    async fn repeat(
        &self,
        dedup: &str,
        committed: bool,
        existing: Report,
    ) -> Result<Outcome, IngestError> {
        if !committed {
            self.enqueue(&existing).await?;
            self.trail
                .record_new(&existing)
                .await
                .map_err(storage("trail"))?;
            let fingerprint = self.duplicates.fingerprint(&existing).await;
            self.duplicates
                .record_report(&existing, &fingerprint)
                .await
                .map_err(index_error)?;
            self.store
                .mark_committed(dedup, &existing.id)
                .await
                .map_err(storage("dedup"))?;
        }
        Ok(outcome(&existing, true))
    }

    /// A copy of a photo without EXIF/GPS, for publication (R-SEC-2), streamed from the stored
    /// file to a staged one in the heavy-work pool: JPEG and PNG segment by segment (a few
    /// hundred KiB whatever the photo's size), WebP whole (bounded by the photo size limit).
    async fn public_copy(&self, a: &Attachment) -> Result<Option<String>, IngestError> {
        const STRIPPABLE: [&str; 3] = ["image/jpeg", "image/png", "image/webp"];
        if a.kind != MediaKind::Photo
            || a.unreadable.is_some()
            || !STRIPPABLE.contains(&a.media_type.as_str())
            || a.size > PUBLIC_COPY_MAX_BYTES
        {
            return Ok(None);
        }
        let path = self.blobs.path_of(&a.storage_key).map_err(unavailable)?;
        let media_type = a.media_type.clone();
        // The stripped bytes go through a small channel to the staging writer (which hashes and
        // flushes them) while the job reads on.
        let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
        let cost = if media_type == "image/webp" {
            2 * a.size
        } else {
            COPY_CHUNK as u64 * 6 + 128 * 1024
        };
        let job = crate::heavy::pool().run(cost, move || -> std::io::Result<bool> {
            let mut reader = std::fs::File::open(path)?;
            let mut writer = std::io::BufWriter::with_capacity(COPY_CHUNK, ChunkSender(tx));
            let copied = media::strip_metadata_to(&media_type, &mut reader, &mut writer)?;
            std::io::Write::flush(&mut writer)?;
            Ok(copied)
        });
        let mut writer = self.blobs.writer().await.map_err(unavailable)?;
        let write = async {
            // Owned here: if writing fails, the channel closes and the job stops.
            let mut rx = rx;
            while let Some(chunk) = rx.recv().await {
                writer.write(&chunk).await?;
            }
            Ok::<_, BlobError>(())
        };
        let (copied, written) = tokio::join!(job, write);
        written.map_err(unavailable)?;
        match copied.map_err(unavailable)? {
            Ok(true) => {
                let staged = writer.finish().await.map_err(unavailable)?;
                Ok(Some(self.blobs.commit(&staged).await.map_err(unavailable)?))
            }
            // Not strippable after all (a broken file): no public copy, as before.
            Ok(false) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn enqueue(&self, report: &Report) -> Result<(), IngestError> {
        let stream = stream_of(report);
        let json = serde_json::to_vec(report).map_err(IngestError::internal)?;
        self.store
            .append(stream, Some(&report.id), &json)
            .await
            .map_err(storage("queue"))?;
        m::queued(stream);
        Ok(())
    }
}

impl Intake for Pipeline {
    fn keyed_digest(&self, value: &str) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(b"1022-state-key-v1\0");
        h.update((self.pepper.len() as u64).to_be_bytes());
        h.update(self.pepper.as_bytes());
        h.update(value.as_bytes());
        hex::encode(&h.finalize()[..16])
    }

    async fn ingest(&self, submission: Submission) -> Result<Outcome, IngestError> {
        // Every file handed over is owned before anything can fail: a failure staging the first
        // medium deletes the files of the others too.
        let inputs: Vec<StagedInput> = submission
            .media
            .into_iter()
            .map(StagedInput::from)
            .collect();
        let mut media = Vec::with_capacity(inputs.len());
        for input in inputs {
            media.push(self.stage(input).await?);
        }
        let mut report = submission.report;
        // Where the IOC's messages about it go (R-MSG-IOC).
        report.reply_route = match submission.origin {
            Origin::Email {
                address,
                message_id,
                references,
                subject,
            } => Some(ReplyRoute::Email {
                address,
                message_id,
                references,
                subject,
            }),
            Origin::ZaloOa { oa_id, user_id } => Some(ReplyRoute::ZaloOa { oa_id, user_id }),
            Origin::ZaloMiniapp { .. } | Origin::Api { .. } => None,
        };
        self.ingest_prepared(&submission.dedup_key, &submission.raw, report, media)
            .await
    }

    async fn answer(&self, submission: Submission) -> Result<channels::Answer, IngestError> {
        self.take_answer(submission).await
    }

    async fn delivered(
        &self,
        outbound: &channels::Outbound,
        result: channels::DeliveryResult,
    ) -> Result<(), channels::StoreError> {
        self.message_delivered(outbound, result)
            .await
            .map_err(channels::StoreError::new)
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    async fn outbound_photos(
        &self,
        outbound: &channels::Outbound,
    ) -> Result<Vec<channels::OutboundPhoto>, channels::StoreError> {
        self.message_photos(outbound).await
    }

    async fn admit(
        &self,
        request: channels::ratelimit::AdmitRequest<'_>,
    ) -> Result<channels::ratelimit::Admission, channels::StoreError> {
        self.admit_submission(request.channel, request.dedup_key, &request.subjects)
            .await
            .map_err(channels::StoreError::new)
    }
}

/// A channel's medium whose file, if it has one, the pipeline owns (deleted unless committed).
pub struct StagedInput {
    input: MediaInput,
    source: StagedSource,
}

enum StagedSource {
    Bytes(bytes::Bytes),
    File(StagedFile),
}

impl From<MediaInput> for StagedInput {
    fn from(mut input: MediaInput) -> StagedInput {
        let source =
            match std::mem::replace(&mut input.source, MediaSource::Bytes(bytes::Bytes::new())) {
                MediaSource::Bytes(b) => StagedSource::Bytes(b),
                MediaSource::File(path) => StagedSource::File(StagedFile::new(path)),
            };
        StagedInput { input, source }
    }
}

/// The IOC stream a report goes to.
fn stream_of(report: &Report) -> &'static str {
    match report.verdict.status {
        Status::Rejected => REJECTIONS_STREAM,
        _ => REPORTS_STREAM,
    }
}

fn parse_report(id: &str, bytes: &[u8]) -> Result<Report, StoreFailure> {
    serde_json::from_slice(bytes).map_err(|source| StoreFailure::Corrupt {
        key: format!("report {id}"),
        source,
    })
}

fn outcome(report: &Report, replayed: bool) -> Outcome {
    Outcome {
        id: report.id.clone(),
        tracking_code: report.tracking_code.clone(),
        verdict: report.verdict.clone(),
        replayed,
    }
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> IngestError {
    m::storage_error("blob");
    IngestError::unavailable(e)
}

fn index_error(e: impl std::error::Error + Send + Sync + 'static) -> IngestError {
    m::storage_error("duplicates");
    IngestError::unavailable(e)
}

fn storage(op: &'static str) -> impl Fn(StoreFailure) -> IngestError {
    move |e| {
        m::storage_error(op);
        IngestError::unavailable(e)
    }
}

/// Read what a staged file is, off the async threads.
pub async fn inspect_file(path: &std::path::Path, claimed: Option<&str>) -> MediaInfo {
    let path = path.to_path_buf();
    let claimed = claimed.map(str::to_string);
    tokio::task::spawn_blocking(move || match std::fs::File::open(&path) {
        Ok(file) => {
            let mut reader = std::io::BufReader::new(file);
            media::inspect(&mut reader, claimed.as_deref())
        }
        Err(_) => unreadable_file(),
    })
    .await
    .unwrap_or_else(|_| unreadable_file())
}

fn unreadable_file() -> MediaInfo {
    MediaInfo {
        media_type: "application/octet-stream".into(),
        unreadable: Some(normalizers::messages::media::FILE_NOT_OPENED.into()),
        ..MediaInfo::default()
    }
}

fn attachment(p: &PreparedMedia, info: MediaInfo) -> Attachment {
    Attachment::from_inspection(
        info,
        ReceivedFile {
            file_name: p.file_name.clone(),
            claimed_type: p.claimed_type.clone(),
            size: p.staged.size,
            sha256: p.staged.sha256.clone(),
            storage_key: crate::store::blobs::key_of(&p.staged.sha256),
            sent_at: p.sent_at,
            vouched_capture: p.vouched_capture,
        },
    )
}

/// Crockford base32 without I, L, O, U: easy to read out on the phone.
const CODE_ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A tracking code like `LA-7K3M-Q9TX`: 40 random bits, not derived from the id, so codes cannot
/// be enumerated.
pub fn tracking_code() -> String {
    let mut rng = rand::rng();
    let mut chars = [0u8; 8];
    for c in &mut chars {
        *c = CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())];
    }
    let s = String::from_utf8_lossy(&chars).into_owned();
    format!("LA-{}-{}", &s[..4], &s[4..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_codes_are_typable_and_distinct() {
        let a = tracking_code();
        let b = tracking_code();
        assert_ne!(a, b);
        assert_eq!(a.len(), 12);
        assert!(a.starts_with("LA-"));
        assert!(a[3..]
            .chars()
            .all(|c| c == '-' || CODE_ALPHABET.contains(&(c as u8))));
        assert!(!a[3..].contains(['I', 'L', 'O', 'U']));
    }
}
