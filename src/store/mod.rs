//! Durable storage: content-addressed files for media and raw originals, and one backend for
//! everything else (reports, the IOC queue, channel streams, shared state).
//!
//! The backend is Redis (production, several instances) or an embedded redb file (one command,
//! no server). Both give the same semantics, checked by one contract test suite
//! (`tests/queue.rs`), so the rest of the gateway does not know which one runs.
//!
//! # Layout
//! - `blobs`: content-addressed files under the data folder.
//! - `embedded`: the redb backend.
//! - `redis`: the Redis Streams backend.
//! - `sentinel`: the Redis master named by Redis Sentinel, followed across failovers.

pub mod blobs;
mod embedded;
mod redis;
mod sentinel;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use channels::intake::{Numbered, Numbering, StateStore, StoreError, StreamEntry, Streams};

use crate::clock::SharedClock;

pub use blobs::{BlobError, BlobStore, Staged};
pub use redis::{RedisOptions, ReportArchive};

/// Stream of accepted and needs-review reports for the IOC.
pub const REPORTS_STREAM: &str = "ioc:reports";
/// Stream of rejected reports, kept for audit.
pub const REJECTIONS_STREAM: &str = "ioc:rejections";
/// The Zalo webhook's events (`channels::zalo::EVENTS_STREAM`), named here for the failpoint.
const ZALO_EVENTS_STREAM: &str = "zalo:events";
/// Consumer group of the IOC on [`REPORTS_STREAM`].
pub const IOC_GROUP: &str = "ioc";
/// Consumer group of the gateway's own workers on channel streams.
pub const GATEWAY_GROUP: &str = "gateway";

/// The backend failed (unreachable, I/O error, unreadable data): nothing was acknowledged, the
/// caller retries.
#[derive(Debug, thiserror::Error)]
pub enum StoreFailure {
    #[error("redis: {0}")]
    Redis(#[from] ::redis::RedisError),
    #[error("embedded store: {0}")]
    Embedded(#[from] redb::Error),
    #[error("embedded store: {0}")]
    Io(#[from] std::io::Error),
    /// A blocking store task panicked or was cancelled.
    #[error("embedded store task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The group-commit writer thread is gone (the store is closing).
    #[error("embedded store: the append writer stopped")]
    WriterStopped,
    /// One failed group commit, shared by every append of the batch.
    #[error("{0}")]
    Batch(#[source] Arc<StoreFailure>),
    /// An earlier I/O error left the embedded file unusable; it is reopened as soon as it can be.
    #[error(
        "embedded store unusable since an I/O error ({cause}); it reopens once the cause is gone"
    )]
    Faulted { cause: String },
    /// `durability = "replicas"`: a write reached fewer replicas than required within the
    /// timeout (it may still be on the master): nothing is acknowledged, the caller retries.
    #[error("redis: the write reached {reached} of {wanted} replicas in time")]
    NotReplicated { reached: u32, wanted: u32 },
    /// The operation needs something this deployment does not have.
    #[error("{0}")]
    Unsupported(&'static str),
    /// [`Store::append_numbered`] was given a payload that is not a JSON object with fields.
    #[error("a numbered stream entry must be a JSON object with at least one field")]
    NotNumberable,
    /// A stored document does not deserialise.
    #[error("stored {key} is not readable: {source}")]
    Corrupt {
        key: String,
        #[source]
        source: serde_json::Error,
    },
}

impl StoreFailure {
    /// An I/O error after which redb refuses every operation until the file is reopened.
    pub fn is_io_fault(&self) -> bool {
        match self {
            StoreFailure::Embedded(
                redb::Error::Io(_)
                | redb::Error::PreviousIo
                | redb::Error::Backend(_)
                | redb::Error::DatabaseClosed,
            ) => true,
            StoreFailure::Batch(inner) => inner.is_io_fault(),
            _ => false,
        }
    }
}

/// redb reports each kind of failure with its own type; all of them end in [`redb::Error`].
macro_rules! redb_failure {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreFailure {
            fn from(e: $t) -> Self {
                StoreFailure::Embedded(e.into())
            }
        }
    )*};
}

redb_failure!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// One entry of a scored index (see [`Store::index_put`]).
#[derive(Debug, Clone, PartialEq)]
pub struct IndexEntry {
    pub member: String,
    pub score: i64,
    pub payload: Vec<u8>,
}

/// One page of report documents (see [`Store::scan_reports`]).
#[derive(Debug, Default)]
pub struct ReportPage {
    pub documents: Vec<Vec<u8>>,
    /// Where the next page starts; none once every document was handed out.
    pub next: Option<String>,
}

/// What follows a report id in its de-duplication binding once the report is stored and queued
/// ([`Store::commit_report`]): a repeat finds it and appends nothing, however long after the
/// stream's append marker expired. A binding without it (a commit a crash interrupted, or one
/// written by an earlier version) is completed by the pipeline's repeat path.
const BINDING_COMMITTED: &str = " queued";

/// A de-duplication binding as stored: the report id, and whether its commit is complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub id: String,
    pub committed: bool,
}

impl Binding {
    pub fn parse(value: &[u8]) -> Binding {
        let value = String::from_utf8_lossy(value);
        match value.strip_suffix(BINDING_COMMITTED) {
            Some(id) => Binding {
                id: id.to_string(),
                committed: true,
            },
            None => Binding {
                id: value.into_owned(),
                committed: false,
            },
        }
    }

    fn committed_value(id: &str) -> Vec<u8> {
        format!("{id}{BINDING_COMMITTED}").into_bytes()
    }
}

/// One entry of a scored index written by [`Store::commit_report`].
#[derive(Debug, Clone)]
pub struct IndexPut {
    pub index: &'static str,
    pub member: String,
    pub score: i64,
    pub payload: Vec<u8>,
}

/// Everything a new report's commit writes, taken by [`Store::commit_report`] in one durable
/// store call: the binding of the submission's de-duplication key, the report document, its
/// entry on the IOC stream, the lookups (tracking code) and the scored indexes (deadline,
/// duplicate fingerprint) that follow it.
#[derive(Debug, Clone)]
pub struct ReportCommit {
    /// State key of the binding (`dedup:<key>`) and how long it lives.
    pub binding: String,
    pub binding_ttl: Option<Duration>,
    pub id: String,
    pub document: Vec<u8>,
    /// `ioc:reports` or `ioc:rejections`; the entry is the document, appended once per id.
    pub stream: &'static str,
    /// State values kept for good (`track:<code>` → id).
    pub state: Vec<(String, Vec<u8>)>,
    pub index: Vec<IndexPut>,
    /// Index entries scored below the bound are removed (at most [`INDEX_TRIM_BATCH`] each).
    pub trims: Vec<(&'static str, i64)>,
}

/// What [`Store::commit_report`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Committed {
    /// Everything is stored and queued, the binding marked committed; `document` is the
    /// stored one.
    Stored { document: Vec<u8> },
    /// A document of this id was stored already (a commit interrupted after storing it, or a
    /// concurrent one of the same submission): nothing was written; the caller completes that
    /// report instead.
    Earlier { document: Vec<u8> },
    /// The key is bound to another report id (a concurrent commit of the same submission won):
    /// nothing was written.
    BoundElsewhere(Binding),
}

/// Most entries [`Store::index_trim`] removes per call (keeps each call short).
pub const INDEX_TRIM_BATCH: usize = 1000;

/// One stream entry handed out by [`Store::claim`].
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub entry_id: String,
    pub payload: Vec<u8>,
    /// Deliveries before this one: 0 when first handed out, one more at each reclaim (Redis:
    /// the entry's times-delivered count, less this delivery).
    pub deliveries: u64,
}

/// One entry handed out to a group and not acknowledged yet (see [`Store::pending`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PendingEntry {
    /// The entry; `deliveries` counts the deliveries before the last one.
    pub entry: Entry,
    /// The consumer that holds it (the last one it was handed to).
    pub consumer: String,
    /// Since it was last handed out.
    pub idle: Duration,
}

/// The backend: a closed set, dispatched by `match`.
#[derive(Clone)]
pub enum Store {
    Redis(redis::RedisStore),
    Embedded(embedded::Embedded),
}

/// The answer of [`Store::sliding_admit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlidingCount {
    pub admitted: bool,
    /// The current window's count (this step included when admitted).
    pub current: i64,
    /// The previous window's count.
    pub previous: i64,
    /// Admitted as a repeat of a submission counted already (its `seen` marker existed).
    pub repeat: bool,
}

macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            Store::Redis(s) => s.$method($($arg),*).await,
            Store::Embedded(s) => s.$method($($arg),*).await,
        }
    };
}

impl Store {
    /// Redis with default options: no WAIT, no trimming, report documents kept in Redis.
    pub async fn redis(url: &str) -> Result<Store, StoreFailure> {
        Self::redis_with(url, RedisOptions::default()).await
    }

    pub async fn redis_with(url: &str, options: RedisOptions) -> Result<Store, StoreFailure> {
        let store = redis::RedisStore::connect(url, options).await?;
        store.ping().await?;
        Ok(Store::Redis(store))
    }

    /// Trim acknowledged stream entries past the retention now (Redis; also done from appends
    /// at most once a minute). The embedded store keeps its entries on disk.
    pub async fn trim_streams(&self) -> Result<u64, StoreFailure> {
        match self {
            Store::Redis(s) => s.trim_streams().await,
            Store::Embedded(_) => Ok(0),
        }
    }

    pub fn embedded(path: &Path, clock: SharedClock) -> Result<Store, StoreFailure> {
        Ok(Store::Embedded(embedded::Embedded::open(path, clock)?))
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Store::Redis(_) => "redis",
            Store::Embedded(_) => "embedded",
        }
    }

    /// Whether the backend answers (readiness).
    pub async fn ping(&self) -> Result<(), StoreFailure> {
        match self {
            Store::Redis(s) => s.ping().await,
            Store::Embedded(s) => s.ping().await,
        }
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreFailure> {
        dispatch!(self.get(key))
    }

    pub async fn put(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StoreFailure> {
        dispatch!(self.put(key, value, ttl))
    }

    pub async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreFailure> {
        dispatch!(self.put_if_absent(key, value, ttl))
    }

    pub async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreFailure> {
        dispatch!(self.compare_and_swap(key, expected, new, ttl))
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreFailure> {
        dispatch!(self.delete(key))
    }

    pub async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, StoreFailure> {
        dispatch!(self.incr(key, ttl))
    }

    /// A sliding-window limit over two counters (the current window's and the previous
    /// one's), in one atomic step: the estimate is `previous · weight_ppm / 10⁶ + current`;
    /// when one more stays within `limit` the current counter is incremented (it expires after
    /// `ttl`) and the step is admitted. Both counts as they are after the step.
    ///
    /// `seen`, the marker of one submission on this counter (a key in the counter's Redis
    /// Cluster slot, and how long it lives): when it exists the step is a repeated delivery,
    /// admitted without counting; an admitted step sets it. In the same step, so a repeat costs
    /// no extra round trip.
    pub async fn sliding_admit(
        &self,
        current: &str,
        previous: &str,
        weight_ppm: u32,
        limit: i64,
        ttl: Duration,
        seen: Option<(&str, Duration)>,
    ) -> Result<SlidingCount, StoreFailure> {
        dispatch!(self.sliding_admit(current, previous, weight_ppm, limit, ttl, seen))
    }

    /// Store a report document unless one with that id exists (first write wins).
    pub async fn put_report_if_absent(&self, id: &str, json: &[u8]) -> Result<(), StoreFailure> {
        dispatch!(self.put_report_if_absent(id, json))
    }

    /// Commit a new report in one durable store call (see [`ReportCommit`]). Embedded: one
    /// transaction of the group commit, so the reports of concurrent ingests (an IMAP batch)
    /// share one flush. Redis: the binding (`SET NX GET`), then every record in one pipeline
    /// (first write of the document wins; the append is once per id), `WAIT` when configured,
    /// then the binding marked committed; a crash in between leaves an unmarked binding, which
    /// the repeat path completes idempotently.
    pub async fn commit_report(&self, commit: &ReportCommit) -> Result<Committed, StoreFailure> {
        let committed = dispatch!(self.commit_report(commit))?;
        if matches!(committed, Committed::Stored { .. }) {
            crate::metrics::appended(commit.stream);
        }
        Ok(committed)
    }

    /// Mark the binding of a report complete (the repeat path, after finishing a commit that
    /// was interrupted or written by an earlier version), keeping its time to live.
    pub async fn mark_committed(&self, binding: &str, id: &str) -> Result<(), StoreFailure> {
        dispatch!(self.mark_committed(binding, id))
    }

    /// Overwrite a report document (status changes by the IOC).
    pub async fn replace_report(&self, id: &str, json: &[u8]) -> Result<(), StoreFailure> {
        dispatch!(self.replace_report(id, json))
    }

    pub async fn get_report(&self, id: &str) -> Result<Option<Vec<u8>>, StoreFailure> {
        dispatch!(self.get_report(id))
    }

    /// Every stored report's id, in no particular order (rebuilding indexes).
    pub async fn report_ids(&self) -> Result<Vec<String>, StoreFailure> {
        dispatch!(self.report_ids())
    }

    /// Page through the stored report documents, about `count` at a time, so that a caller
    /// visiting every report holds one page in memory: start with no cursor, go on with
    /// [`ReportPage::next`] until it is none. The embedded store pages in id order and stops
    /// after `upto` (ids are ULIDs, so in reception order); Redis pages in no particular order
    /// and ignores `upto`: the caller filters.
    pub async fn scan_reports(
        &self,
        cursor: Option<&str>,
        upto: Option<&str>,
        count: usize,
    ) -> Result<ReportPage, StoreFailure> {
        match self {
            Store::Redis(s) => s.scan_reports(cursor, count).await,
            Store::Embedded(s) => s.scan_reports(cursor, upto, count).await,
        }
    }

    /// Create consumer groups now (Redis; XGROUP CREATE … MKSTREAM, an existing group is fine)
    /// and keep them: appends to their streams re-create them when lost. The embedded store's
    /// groups exist implicitly, from the first entry.
    pub async fn ensure_groups(&self, groups: &[(&str, &str)]) -> Result<(), StoreFailure> {
        match self {
            Store::Redis(s) => s.ensure_groups(groups).await,
            Store::Embedded(_) => Ok(()),
        }
    }

    /// Append to a stream. With `dedup` (a report id), appending the same id twice leaves one
    /// entry and returns its id both times: a retried commit never doubles a report.
    pub async fn append(
        &self,
        stream: &str,
        dedup: Option<&str>,
        payload: &[u8],
    ) -> Result<String, StoreFailure> {
        if stream == ZALO_EVENTS_STREAM {
            crate::failpoint::hit("before_zalo_event_append");
        }
        let id = dispatch!(self.append(stream, dedup, payload))?;
        crate::metrics::appended(stream);
        Ok(id)
    }

    /// Append `payload` (a JSON object with at least one field) to a stream with the next
    /// number of `numbering`'s counter spliced in as `numbering.field`, the number taken in
    /// the same atomic step as the append (Redis: one script, the counter and the marker in
    /// the stream's hash slot; embedded: one transaction of the group commit). A number is
    /// never taken without its entry. With `numbering.once`, a repeat under that key within
    /// its lifetime appends nothing and returns the earlier entry's id and number.
    pub async fn append_numbered(
        &self,
        stream: &str,
        numbering: &Numbering,
        payload: &[u8],
    ) -> Result<Numbered, StoreFailure> {
        if !is_json_object_with_fields(payload) {
            return Err(StoreFailure::NotNumberable);
        }
        if stream == ZALO_EVENTS_STREAM {
            crate::failpoint::hit("before_zalo_event_append");
        }
        let numbered = dispatch!(self.append_numbered(stream, numbering, payload))?;
        if !numbered.repeated {
            crate::metrics::appended(stream);
        }
        Ok(numbered)
    }

    /// Hand out up to `max` entries to `consumer`: first those another consumer claimed more
    /// than `min_idle` ago without acknowledging (XAUTOCLAIM), then new ones (XREADGROUP).
    pub async fn claim(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        max: usize,
        min_idle: Duration,
    ) -> Result<Vec<Entry>, StoreFailure> {
        let entries = dispatch!(self.claim(stream, group, consumer, max, min_idle))?;
        crate::metrics::claimed(stream, group, entries.len());
        Ok(entries)
    }

    /// Acknowledge an entry; false when it was not pending (unknown or already acknowledged).
    pub async fn ack(
        &self,
        stream: &str,
        group: &str,
        entry_id: &str,
    ) -> Result<bool, StoreFailure> {
        let acked = dispatch!(self.ack(stream, group, entry_id))?;
        if acked {
            crate::metrics::acked(stream, group);
        }
        Ok(acked)
    }

    /// Up to `max` entries handed out to `group` and not acknowledged, oldest first, each
    /// with the consumer holding it (Redis: `XPENDING` then `XRANGE`; an entry trimmed away
    /// meanwhile is left out).
    pub async fn pending(
        &self,
        stream: &str,
        group: &str,
        max: usize,
    ) -> Result<Vec<PendingEntry>, StoreFailure> {
        dispatch!(self.pending(stream, group, max))
    }

    /// (length, pending for the group, not yet delivered to the group).
    pub async fn depth(&self, stream: &str, group: &str) -> Result<(u64, u64, u64), StoreFailure> {
        dispatch!(self.depth(stream, group))
    }

    /// Add `member` to the scored index `index` (a time-ordered set shared by every instance:
    /// duplicate fingerprints, the block list), replacing an earlier entry of the same member.
    pub async fn index_put(
        &self,
        index: &str,
        member: &str,
        score: i64,
        payload: &[u8],
    ) -> Result<(), StoreFailure> {
        dispatch!(self.index_put(index, member, score, payload))
    }

    /// Entries of `index` with `min <= score <= max`, highest score first, at most `limit`.
    pub async fn index_range(
        &self,
        index: &str,
        min: i64,
        max: i64,
        limit: usize,
    ) -> Result<Vec<IndexEntry>, StoreFailure> {
        dispatch!(self.index_range(index, min, max, limit))
    }

    /// Remove `member` from `index`; false when it was not there.
    pub async fn index_remove(&self, index: &str, member: &str) -> Result<bool, StoreFailure> {
        dispatch!(self.index_remove(index, member))
    }

    /// Remove up to [`INDEX_TRIM_BATCH`] entries of `index` scored below `below`; returns how
    /// many were removed.
    pub async fn index_trim(&self, index: &str, below: i64) -> Result<u64, StoreFailure> {
        dispatch!(self.index_trim(index, below))
    }
}

/// Whether `payload` is a serialised JSON object with at least one field, so that a number
/// can be spliced in before its closing brace (see [`with_number`]).
fn is_json_object_with_fields(payload: &[u8]) -> bool {
    payload.first() == Some(&b'{')
        && payload.last() == Some(&b'}')
        && matches!(
            serde_json::from_slice::<serde_json::Value>(payload),
            Ok(serde_json::Value::Object(m)) if !m.is_empty()
        )
}

/// `payload` (checked by [`is_json_object_with_fields`]) with `"field":number` added last; the
/// Redis script splices the same way.
fn with_number(payload: &[u8], field: &str, number: u64) -> Vec<u8> {
    let mut out = payload[..payload.len() - 1].to_vec();
    out.extend_from_slice(format!(",\"{field}\":{number}}}").as_bytes());
    out
}

/// The store as the channels see it: durable JSON streams and shared state.
#[derive(Clone)]
pub struct ChannelStore {
    pub store: Store,
    /// Entries of channel streams claimed and not acknowledged are handed out again after this.
    pub claim_timeout: Duration,
}

impl Streams for ChannelStore {
    async fn push(&self, stream: &str, payload: serde_json::Value) -> Result<String, StoreError> {
        let bytes = serde_json::to_vec(&payload).map_err(StoreError::new)?;
        self.store
            .append(stream, None, &bytes)
            .await
            .map_err(StoreError::new)
    }

    async fn push_once(
        &self,
        stream: &str,
        key: &str,
        payload: serde_json::Value,
    ) -> Result<String, StoreError> {
        let bytes = serde_json::to_vec(&payload).map_err(StoreError::new)?;
        self.store
            .append(stream, Some(key), &bytes)
            .await
            .map_err(StoreError::new)
    }

    async fn push_numbered(
        &self,
        stream: &str,
        numbering: &Numbering,
        payload: serde_json::Value,
    ) -> Result<Numbered, StoreError> {
        let bytes = serde_json::to_vec(&payload).map_err(StoreError::new)?;
        self.store
            .append_numbered(stream, numbering, &bytes)
            .await
            .map_err(StoreError::new)
    }

    async fn claim(
        &self,
        stream: &str,
        consumer: &str,
        max: usize,
    ) -> Result<Vec<StreamEntry>, StoreError> {
        let entries = self
            .store
            .claim(stream, GATEWAY_GROUP, consumer, max, self.claim_timeout)
            .await
            .map_err(StoreError::new)?;
        Ok(entries
            .into_iter()
            .filter_map(|e| {
                let payload = serde_json::from_slice(&e.payload).ok()?;
                Some(StreamEntry {
                    entry_id: e.entry_id,
                    payload,
                    deliveries: e.deliveries,
                })
            })
            .collect())
    }

    async fn ack(&self, stream: &str, entry_id: &str) -> Result<(), StoreError> {
        self.store
            .ack(stream, GATEWAY_GROUP, entry_id)
            .await
            .map(|_| ())
            .map_err(StoreError::new)
    }
}

impl StateStore for ChannelStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.store.get(key).await.map_err(StoreError::new)
    }

    async fn put(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), StoreError> {
        self.store
            .put(key, value, ttl)
            .await
            .map_err(StoreError::new)
    }

    async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        self.store
            .put_if_absent(key, value, ttl)
            .await
            .map_err(StoreError::new)
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        self.store
            .compare_and_swap(key, expected, new, ttl)
            .await
            .map_err(StoreError::new)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.store.delete(key).await.map_err(StoreError::new)
    }

    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, StoreError> {
        self.store.incr(key, ttl).await.map_err(StoreError::new)
    }
}
