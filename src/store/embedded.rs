//! The embedded backend (R-Q-2): the queue semantics of Redis Streams on redb, an ACID
//! key-value file in the data folder. Every operation is one write transaction: a crash leaves
//! either all of it or none of it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use channels::intake::{Numbered, Numbering};

use super::{Entry, IndexEntry, StoreFailure};
use crate::clock::SharedClock;

/// key → 8-byte big-endian expiry (epoch ms, 0 = never) followed by the value.
const STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("state");
/// report id → report JSON.
const REPORTS: TableDefinition<&str, &[u8]> = TableDefinition::new("reports");
/// (stream, seq) → payload JSON.
const ENTRIES: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("entries");
/// stream → last seq assigned; "stream\u{0}group" → last seq delivered to the group.
const CURSORS: TableDefinition<&str, u64> = TableDefinition::new("cursors");
/// ("stream\u{0}group", seq) → consumer, claimed-at (ms), deliveries.
const PENDING: TableDefinition<(&str, u64), (&str, u64, u64)> = TableDefinition::new("pending");
/// "stream\u{0}report id" → seq: makes enqueue_once idempotent.
const ENQUEUED: TableDefinition<&str, u64> = TableDefinition::new("enqueued");
/// (index, score, member) → payload: the scored indexes, in score order.
const INDEX: TableDefinition<(&str, i64, &str), &[u8]> = TableDefinition::new("index");
/// (index, member) → score: finds a member's entry in [`INDEX`].
const INDEX_MEMBERS: TableDefinition<(&str, &str), i64> = TableDefinition::new("index_members");
/// Counters kept in the same transactions as what they count, so that `depth` reads them
/// instead of scanning: "pending\u{0}stream\u{0}group" → entries delivered and not acknowledged.
const COUNTS: TableDefinition<&str, u64> = TableDefinition::new("counts");
/// Set in [`COUNTS`] once the counters were computed from the tables (files written before the
/// counters existed get them computed once, at open).
const COUNTS_READY: &str = "counts-ready-v1";

/// How often a faulted store tries to reopen its file, at most.
const REOPEN_INTERVAL: Duration = Duration::from_millis(250);

#[derive(Clone)]
pub struct Embedded {
    db: Arc<Handle>,
    clock: SharedClock,
    /// The group-commit writer: every write transaction of the store goes through it.
    appender: std::sync::mpsc::Sender<Job>,
}

/// The open database and what to do after an I/O error.
///
/// redb refuses every operation after a failed write (a full disk, a lost device) until the
/// file is closed and opened again. The handle remembers the fault, answers every operation
/// with it meanwhile, and reopens the file (redb then repairs it from its last commit) at the
/// next operation once nothing holds the old one: the store recovers without a restart as soon
/// as the cause is gone.
struct Handle {
    path: PathBuf,
    slot: Mutex<Slot>,
}

struct Slot {
    db: Option<Arc<Database>>,
    /// Why the store is unusable (an I/O error's text: no personal data).
    fault: Option<String>,
    last_attempt: Option<Instant>,
}

impl Handle {
    /// The database to use now, reopened first if an I/O error left it unusable.
    fn current(&self) -> Result<Arc<Database>, StoreFailure> {
        let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        if slot.fault.is_none() {
            if let Some(db) = &slot.db {
                return Ok(db.clone());
            }
        }
        let cause = slot.fault.clone().unwrap_or_else(|| "closed".into());
        if slot
            .last_attempt
            .is_some_and(|t| t.elapsed() < REOPEN_INTERVAL)
        {
            return Err(StoreFailure::Faulted { cause });
        }
        slot.last_attempt = Some(Instant::now());
        if let Some(db) = slot.db.take() {
            match Arc::try_unwrap(db) {
                // Closing a database after an I/O error fails the same way: it is dropped.
                Ok(db) => {
                    let _ = db.close();
                }
                Err(still_used) => {
                    slot.db = Some(still_used);
                    return Err(StoreFailure::Faulted { cause });
                }
            }
        }
        match open_database(&self.path) {
            Ok(db) => {
                let db = Arc::new(db);
                slot.db = Some(db.clone());
                slot.fault = None;
                tracing::warn!(previous_error = %cause, "embedded store reopened after an I/O error: taking reports again");
                Ok(db)
            }
            Err(e) => {
                slot.fault = Some(e.to_string());
                Err(e)
            }
        }
    }

    /// Remember an I/O error that leaves the file unusable until it is reopened.
    fn note(&self, e: &StoreFailure) {
        if !e.is_io_fault() {
            return;
        }
        let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        if slot.fault.is_none() {
            tracing::error!(error = %e, "embedded store I/O error: refusing reports until the store can be reopened");
            slot.fault = Some(e.to_string());
            slot.last_attempt = Some(Instant::now());
        }
    }

    /// The latched fault, if any.
    fn fault(&self) -> Option<String> {
        let slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        slot.fault.clone()
    }
}

/// Open (or create) the file, create the tables, and compute the counters once if the file
/// predates them.
fn open_database(path: &Path) -> Result<Database, StoreFailure> {
    let db = Database::create(path)?;
    let txn = db.begin_write()?;
    {
        txn.open_table(STATE)?;
        txn.open_table(REPORTS)?;
        txn.open_table(ENTRIES)?;
        txn.open_table(CURSORS)?;
        txn.open_table(ENQUEUED)?;
        txn.open_table(INDEX)?;
        txn.open_table(INDEX_MEMBERS)?;
        let pending = txn.open_table(PENDING)?;
        let mut counts = txn.open_table(COUNTS)?;
        if counts.get(COUNTS_READY)?.is_none() {
            let mut per_group = std::collections::BTreeMap::<String, u64>::new();
            for item in pending.iter()? {
                let (k, _) = item?;
                *per_group.entry(k.value().0.to_string()).or_default() += 1;
            }
            for (gk, n) in per_group {
                counts.insert(pending_key(&gk).as_str(), n)?;
            }
            counts.insert(COUNTS_READY, 1)?;
        }
    }
    txn.commit()?;
    Ok(db)
}

fn pending_key(group_key: &str) -> String {
    format!("pending\u{0}{group_key}")
}

/// Add `delta` to a counter of [`COUNTS`].
fn add_count(
    counts: &mut redb::Table<&str, u64>,
    key: &str,
    delta: i64,
) -> Result<(), StoreFailure> {
    let current = counts.get(key)?.map_or(0, |v| v.value());
    counts.insert(key, current.saturating_add_signed(delta))?;
    Ok(())
}

struct AppendJob {
    stream: String,
    dedup: Option<String>,
    payload: Vec<u8>,
    /// Number the entry in the same transaction ([`Embedded::append_numbered`]).
    numbering: Option<JobNumbering>,
    reply: tokio::sync::oneshot::Sender<Result<Appended, StoreFailure>>,
}

/// The numbering of one append: keys of [`STATE`] (expiry-prefixed values, like every state
/// value), the field the number goes in, and the clock's instant at the call.
struct JobNumbering {
    counter: String,
    counter_ttl_ms: u64,
    field: &'static str,
    /// The once marker and its lifetime (ms).
    once: Option<(String, u64)>,
    now: u64,
}

/// What one append of the group commit did.
#[derive(Debug, Clone, Copy)]
struct Appended {
    seq: u64,
    /// The entry's number, for a numbered append.
    number: u64,
    /// The once marker was found: nothing appended, `seq` and `number` are the earlier entry's.
    repeated: bool,
}

/// Most jobs (appends and other writes) committed in one transaction.
const MAX_BATCH: usize = 512;

/// One job of the group-commit writer.
enum Job {
    Append(AppendJob),
    Write(Box<dyn WriteOp>),
}

/// A write of the store (a put, an index update, a claim…) run inside the writer's shared
/// transaction. `apply` may run more than once: when another job of the batch fails, the shared
/// transaction is dropped (nothing of it is committed) and every job runs again alone.
trait WriteOp: Send {
    fn apply(&mut self, txn: &WriteTransaction) -> Result<(), StoreFailure>;
    /// Answer the caller: the result of the last `apply` once committed, or the failure.
    fn finish(self: Box<Self>, outcome: Result<(), StoreFailure>);
}

struct Op<T, F> {
    f: F,
    now: u64,
    result: Option<T>,
    reply: tokio::sync::oneshot::Sender<Result<T, StoreFailure>>,
}

impl<T, F> WriteOp for Op<T, F>
where
    T: Send,
    F: FnMut(&WriteTransaction, u64) -> Result<T, StoreFailure> + Send,
{
    fn apply(&mut self, txn: &WriteTransaction) -> Result<(), StoreFailure> {
        self.result = Some((self.f)(txn, self.now)?);
        Ok(())
    }

    fn finish(self: Box<Self>, outcome: Result<(), StoreFailure>) {
        let Op { result, reply, .. } = *self;
        let answer = outcome.and_then(|()| result.ok_or(StoreFailure::WriterStopped));
        let _ = reply.send(answer);
    }
}

/// The group-commit writer. It takes every job waiting at that moment (appends from webhooks,
/// the puts, index updates and claims of concurrent ingests) into one transaction, so that a
/// burst costs one flush to disk, not one per write; each caller is answered only after the
/// commit that holds its write. It holds the database weakly, so that dropping the last store
/// closes the file; it stops when the last sender is dropped.
fn run_appender(handle: std::sync::Weak<Handle>, jobs: std::sync::mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut appends = Vec::new();
        let mut writes: Vec<Box<dyn WriteOp>> = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Append(a) => appends.push(a),
                Job::Write(w) => writes.push(w),
            }
            if appends.len() + writes.len() < MAX_BATCH {
                next = jobs.try_recv().ok();
            }
        }
        let Some(handle) = handle.upgrade() else {
            for job in appends {
                let _ = job.reply.send(Err(StoreFailure::WriterStopped));
            }
            for w in writes {
                w.finish(Err(StoreFailure::WriterStopped));
            }
            return;
        };
        let mut committed = handle
            .current()
            .map_err(Failed::from)
            .and_then(|db| commit_batch(&db, &appends, &mut writes));
        if matches!(committed, Err(Failed::Apply(_))) && appends.len() + writes.len() > 1 {
            // One job failed before the commit (nothing was written): the others must not fail
            // with it. The appends commit together as before, every other write alone.
            let mut alone = Vec::with_capacity(writes.len());
            for mut w in writes {
                let one = handle
                    .current()
                    .map_err(Failed::from)
                    .and_then(|db| commit_batch(&db, &[], std::slice::from_mut(&mut w)))
                    .map(|_| ())
                    .map_err(Failed::into_inner);
                if let Err(e) = &one {
                    handle.note(e);
                }
                alone.push((w, one));
            }
            for (w, one) in alone {
                w.finish(one);
            }
            writes = Vec::new();
            committed = if appends.is_empty() {
                Ok(Vec::new())
            } else {
                handle
                    .current()
                    .map_err(Failed::from)
                    .and_then(|db| commit_batch(&db, &appends, &mut []))
            };
        }
        let committed = committed.map_err(Failed::into_inner);
        if let Err(e) = &committed {
            handle.note(e);
        }
        drop(handle);
        match committed {
            Ok(seqs) => {
                for (job, seq) in appends.into_iter().zip(seqs) {
                    let _ = job.reply.send(Ok(seq));
                }
                for w in writes {
                    w.finish(Ok(()));
                }
            }
            Err(e) => {
                let e = Arc::new(e);
                for job in appends {
                    let _ = job.reply.send(Err(StoreFailure::Batch(e.clone())));
                }
                for w in writes {
                    w.finish(Err(StoreFailure::Batch(e.clone())));
                }
            }
        }
    }
}

/// Why a group commit failed: a job (nothing written yet), or the transaction itself.
#[derive(Debug)]
enum Failed {
    Apply(StoreFailure),
    Commit(StoreFailure),
}

impl Failed {
    fn into_inner(self) -> StoreFailure {
        match self {
            Failed::Apply(e) | Failed::Commit(e) => e,
        }
    }
}

impl From<StoreFailure> for Failed {
    fn from(e: StoreFailure) -> Self {
        Failed::Commit(e)
    }
}

/// Run `batch` (appends) and `writes` in one transaction and commit it; returns what each
/// append did (its sequence number, and its number in a numbered stream).
fn commit_batch(
    db: &Database,
    batch: &[AppendJob],
    writes: &mut [Box<dyn WriteOp>],
) -> Result<Vec<Appended>, Failed> {
    let txn = db.begin_write().map_err(StoreFailure::from)?;
    let seqs = append_in(&txn, batch).map_err(Failed::Apply)?;
    for w in writes.iter_mut() {
        w.apply(&txn).map_err(Failed::Apply)?;
    }
    txn.commit().map_err(StoreFailure::from)?;
    Ok(seqs)
}

fn append_in(txn: &WriteTransaction, batch: &[AppendJob]) -> Result<Vec<Appended>, StoreFailure> {
    let mut seqs = Vec::with_capacity(batch.len());
    if batch.is_empty() {
        return Ok(seqs);
    }
    {
        let mut enqueued = txn.open_table(ENQUEUED)?;
        let mut cursors = txn.open_table(CURSORS)?;
        let mut entries = txn.open_table(ENTRIES)?;
        let mut state = txn.open_table(STATE)?;
        for job in batch {
            if let Some(numbering) = &job.numbering {
                seqs.push(append_numbered_in(
                    &mut cursors,
                    &mut entries,
                    &mut state,
                    &job.stream,
                    numbering,
                    &job.payload,
                )?);
                continue;
            }
            let seq = append_once_in(
                &mut enqueued,
                &mut cursors,
                &mut entries,
                &job.stream,
                job.dedup.as_deref(),
                &job.payload,
            )?;
            seqs.push(Appended {
                seq,
                number: 0,
                repeated: false,
            });
        }
    }
    Ok(seqs)
}

/// Append `payload` to `stream` unless an entry for `dedup` (`stream\0report id`) is there;
/// the entry's sequence number either way.
fn append_once_in(
    enqueued: &mut redb::Table<&str, u64>,
    cursors: &mut redb::Table<&str, u64>,
    entries: &mut redb::Table<(&str, u64), &[u8]>,
    stream: &str,
    dedup: Option<&str>,
    payload: &[u8],
) -> Result<u64, StoreFailure> {
    if let Some(k) = dedup {
        if let Some(seq) = enqueued.get(k)?.map(|v| v.value()) {
            return Ok(seq);
        }
    }
    let seq = cursors.get(stream)?.map_or(0, |v| v.value()) + 1;
    cursors.insert(stream, seq)?;
    entries.insert((stream, seq), payload)?;
    if let Some(k) = dedup {
        enqueued.insert(k, seq)?;
    }
    Ok(seq)
}

/// A state value: its expiry (epoch ms, 0 = never) then the bytes.
fn state_value(value: &[u8], ttl: Option<Duration>, now: u64) -> Vec<u8> {
    let expires = ttl.map_or(0, |d| now + (d.as_millis() as u64).max(1));
    let mut buf = expires.to_be_bytes().to_vec();
    buf.extend_from_slice(value);
    buf
}

/// Put `member` in `index` with `score` and `payload`, replacing an earlier entry of it.
fn index_put_in(
    txn: &WriteTransaction,
    index: &str,
    member: &str,
    score: i64,
    payload: &[u8],
) -> Result<(), StoreFailure> {
    let mut members = txn.open_table(INDEX_MEMBERS)?;
    let mut entries = txn.open_table(INDEX)?;
    let previous = members.insert((index, member), score)?.map(|v| v.value());
    if let Some(previous) = previous {
        entries.remove((index, previous, member))?;
    }
    entries.insert((index, score, member), payload)?;
    Ok(())
}

/// Remove up to [`super::INDEX_TRIM_BATCH`] entries of `index` scored below `below`.
fn index_trim_in(txn: &WriteTransaction, index: &str, below: i64) -> Result<u64, StoreFailure> {
    let mut members = txn.open_table(INDEX_MEMBERS)?;
    let mut entries = txn.open_table(INDEX)?;
    let mut old = Vec::new();
    for item in entries.range((index, i64::MIN, "")..(index, below, ""))? {
        let (k, _) = item?;
        let (_, score, member) = k.value();
        old.push((score, member.to_string()));
        if old.len() >= super::INDEX_TRIM_BATCH {
            break;
        }
    }
    for (score, member) in &old {
        entries.remove((index, *score, member.as_str()))?;
        members.remove((index, member.as_str()))?;
    }
    Ok(old.len() as u64)
}

/// A report's whole commit in one transaction (see [`super::ReportCommit`]): nothing is written
/// when the key is bound to another id or the document is already stored.
fn commit_report_in(
    txn: &WriteTransaction,
    now: u64,
    c: &super::ReportCommit,
) -> Result<super::Committed, StoreFailure> {
    use super::{Binding, Committed};
    {
        let state = txn.open_table(STATE)?;
        let bound = state
            .get(c.binding.as_str())?
            .and_then(|v| live_value(v.value(), now));
        if let Some(bound) = bound {
            let bound = Binding::parse(&bound);
            if bound.id != c.id {
                return Ok(Committed::BoundElsewhere(bound));
            }
        }
        let reports = txn.open_table(REPORTS)?;
        let earlier = reports.get(c.id.as_str())?.map(|d| d.value().to_vec());
        if let Some(document) = earlier {
            return Ok(Committed::Earlier { document });
        }
    }
    txn.open_table(REPORTS)?
        .insert(c.id.as_str(), c.document.as_slice())?;
    {
        let mut enqueued = txn.open_table(ENQUEUED)?;
        let mut cursors = txn.open_table(CURSORS)?;
        let mut entries = txn.open_table(ENTRIES)?;
        let dedup = format!("{}\u{0}{}", c.stream, c.id);
        append_once_in(
            &mut enqueued,
            &mut cursors,
            &mut entries,
            c.stream,
            Some(&dedup),
            &c.document,
        )?;
    }
    for put in &c.index {
        index_put_in(txn, put.index, &put.member, put.score, &put.payload)?;
    }
    for (index, below) in &c.trims {
        index_trim_in(txn, index, *below)?;
    }
    let mut state = txn.open_table(STATE)?;
    for (key, value) in &c.state {
        state.insert(key.as_str(), state_value(value, None, now).as_slice())?;
    }
    state.insert(
        c.binding.as_str(),
        state_value(&Binding::committed_value(&c.id), c.binding_ttl, now).as_slice(),
    )?;
    Ok(Committed::Stored {
        document: c.document.clone(),
    })
}

/// One numbered append inside the group commit's transaction: the once marker, the counter
/// and the entry are written together or not at all.
fn append_numbered_in(
    cursors: &mut redb::Table<&str, u64>,
    entries: &mut redb::Table<(&str, u64), &[u8]>,
    state: &mut redb::Table<&str, &[u8]>,
    stream: &str,
    numbering: &JobNumbering,
    payload: &[u8],
) -> Result<Appended, StoreFailure> {
    let now = numbering.now;
    if let Some((once, _)) = &numbering.once {
        let done = state
            .get(once.as_str())?
            .and_then(|v| live_value(v.value(), now));
        let earlier = done.as_deref().and_then(|d| {
            let (seq, number) = std::str::from_utf8(d).ok()?.split_once(' ')?;
            Some((seq.parse().ok()?, number.parse().ok()?))
        });
        if let Some((seq, number)) = earlier {
            return Ok(Appended {
                seq,
                number,
                repeated: true,
            });
        }
    }
    let number = state
        .get(numbering.counter.as_str())?
        .and_then(|v| live_value(v.value(), now))
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        + 1;
    let expiring = |value: &str, ttl_ms: u64| {
        let mut buf = (now + ttl_ms.max(1)).to_be_bytes().to_vec();
        buf.extend_from_slice(value.as_bytes());
        buf
    };
    state.insert(
        numbering.counter.as_str(),
        expiring(&number.to_string(), numbering.counter_ttl_ms).as_slice(),
    )?;
    let seq = cursors.get(stream)?.map_or(0, |v| v.value()) + 1;
    cursors.insert(stream, seq)?;
    let payload = super::with_number(payload, numbering.field, number);
    entries.insert((stream, seq), payload.as_slice())?;
    if let Some((once, ttl_ms)) = &numbering.once {
        state.insert(
            once.as_str(),
            expiring(&format!("{seq} {number}"), *ttl_ms).as_slice(),
        )?;
    }
    Ok(Appended {
        seq,
        number,
        repeated: false,
    })
}

fn group_key(stream: &str, group: &str) -> String {
    format!("{stream}\u{0}{group}")
}

impl Embedded {
    pub fn open(path: &Path, clock: SharedClock) -> Result<Self, StoreFailure> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        create_private(path)?;
        let db = Arc::new(Handle {
            path: path.to_path_buf(),
            slot: Mutex::new(Slot {
                db: Some(Arc::new(open_database(path)?)),
                fault: None,
                last_attempt: None,
            }),
        });
        let (appender, jobs) = std::sync::mpsc::channel();
        let weak = Arc::downgrade(&db);
        std::thread::Builder::new()
            .name("redb-appender".into())
            .spawn(move || run_appender(weak, jobs))?;
        Ok(Embedded {
            db,
            clock,
            appender,
        })
    }

    fn now_ms(&self) -> u64 {
        self.clock.now().timestamp_millis().max(0) as u64
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Database, u64) -> Result<T, StoreFailure> + Send + 'static,
    ) -> Result<T, StoreFailure> {
        let handle = self.db.clone();
        let now = self.now_ms();
        tokio::task::spawn_blocking(move || {
            let result = handle.current().and_then(|db| f(&db, now));
            if let Err(e) = &result {
                handle.note(e);
            }
            result
        })
        .await?
    }

    /// Run `f` in the group-commit writer's next transaction (with the store's clock in epoch
    /// ms); returns once that transaction is committed. `f` may run twice: when another write of
    /// the batch fails, the shared transaction is dropped uncommitted and `f` runs again alone.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnMut(&WriteTransaction, u64) -> Result<T, StoreFailure> + Send + 'static,
    ) -> Result<T, StoreFailure> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let op = Op {
            f,
            now: self.now_ms(),
            result: None,
            reply,
        };
        self.appender
            .send(Job::Write(Box::new(op)))
            .map_err(|_| StoreFailure::WriterStopped)?;
        answer.await.map_err(|_| StoreFailure::WriterStopped)?
    }

    /// Readiness: a write that commits (a full disk or a lost device shows here), after
    /// reopening the file if an earlier I/O error left it unusable.
    pub async fn ping(&self) -> Result<(), StoreFailure> {
        let now = self.now_ms().to_be_bytes();
        self.put("gw:ping", &now, None).await
    }

    /// Why the store refuses operations, while it does.
    pub fn fault(&self) -> Option<String> {
        self.db.fault()
    }

    // --- state ---------------------------------------------------------------------------

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreFailure> {
        let key = key.to_string();
        self.blocking(move |db, now| {
            let txn = db.begin_read()?;
            let t = txn.open_table(STATE)?;
            Ok(t.get(key.as_str())?
                .and_then(|v| live_value(v.value(), now)))
        })
        .await
    }

    /// Set `key` when `cond` holds for its current live value; returns whether it was set.
    async fn put_when(
        &self,
        key: &str,
        value: Option<Vec<u8>>,
        ttl: Option<Duration>,
        cond: impl Fn(Option<&[u8]>) -> bool + Send + 'static,
    ) -> Result<bool, StoreFailure> {
        let key = key.to_string();
        self.write(move |txn, now| {
            let swapped = {
                let mut t = txn.open_table(STATE)?;
                let current = t
                    .get(key.as_str())?
                    .and_then(|v| live_value(v.value(), now));
                if !cond(current.as_deref()) {
                    false
                } else {
                    match &value {
                        Some(v) => {
                            let expires = ttl.map_or(0, |d| now + d.as_millis() as u64);
                            let mut buf = expires.to_be_bytes().to_vec();
                            buf.extend_from_slice(v);
                            t.insert(key.as_str(), buf.as_slice())?;
                        }
                        None => {
                            t.remove(key.as_str())?;
                        }
                    }
                    true
                }
            };
            Ok(swapped)
        })
        .await
    }

    pub async fn put(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StoreFailure> {
        self.put_when(key, Some(value.to_vec()), ttl, |_| true)
            .await
            .map(|_| ())
    }

    pub async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreFailure> {
        self.put_when(key, Some(value.to_vec()), ttl, |cur| cur.is_none())
            .await
    }

    pub async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreFailure> {
        let expected = expected.map(<[u8]>::to_vec);
        self.put_when(key, new.map(<[u8]>::to_vec), ttl, move |cur| {
            cur == expected.as_deref()
        })
        .await
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreFailure> {
        self.put_when(key, None, None, |_| true).await.map(|_| ())
    }

    pub async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, StoreFailure> {
        let key = key.to_string();
        self.write(move |txn, now| {
            let n = {
                let mut t = txn.open_table(STATE)?;
                let (count, expires) = match t.get(key.as_str())? {
                    Some(v) if live_value(v.value(), now).is_some() => {
                        let raw = v.value();
                        let expires = u64::from_be_bytes(raw[..8].try_into().expect("8 bytes"));
                        let count = std::str::from_utf8(&raw[8..])
                            .ok()
                            .and_then(|s| s.parse::<i64>().ok())
                            .unwrap_or(0);
                        (count, expires)
                    }
                    _ => (0, now + ttl.as_millis() as u64),
                };
                let n = count + 1;
                let mut buf = expires.to_be_bytes().to_vec();
                buf.extend_from_slice(n.to_string().as_bytes());
                t.insert(key.as_str(), buf.as_slice())?;
                n
            };
            Ok(n)
        })
        .await
    }

    /// See [`super::Store::sliding_admit`]: read both counters and increment the current one
    /// in one write transaction.
    pub async fn sliding_admit(
        &self,
        current: &str,
        previous: &str,
        weight_ppm: u32,
        limit: i64,
        ttl: Duration,
        seen: Option<(&str, Duration)>,
    ) -> Result<super::SlidingCount, StoreFailure> {
        let (current, previous) = (current.to_string(), previous.to_string());
        let seen = seen.map(|(key, ttl)| (key.to_string(), ttl));
        self.write(move |txn, now| {
            let mut t = txn.open_table(STATE)?;
            let read = |raw: Option<&[u8]>| -> (i64, u64) {
                match raw {
                    Some(raw) if live_value(raw, now).is_some() => (
                        std::str::from_utf8(&raw[8..])
                            .ok()
                            .and_then(|s| s.parse::<i64>().ok())
                            .unwrap_or(0),
                        u64::from_be_bytes(raw[..8].try_into().expect("8 bytes")),
                    ),
                    _ => (0, now + ttl.as_millis() as u64),
                }
            };
            let (prev, _) = read(t.get(previous.as_str())?.as_ref().map(|v| v.value()));
            let (cur, expires) = read(t.get(current.as_str())?.as_ref().map(|v| v.value()));
            if let Some((marker, _)) = &seen {
                let marked = t.get(marker.as_str())?;
                if marked.is_some_and(|v| live_value(v.value(), now).is_some()) {
                    return Ok(super::SlidingCount {
                        admitted: true,
                        current: cur,
                        previous: prev,
                        repeat: true,
                    });
                }
            }
            let estimate = prev as f64 * f64::from(weight_ppm) / 1e6 + cur as f64;
            if estimate + 1.0 > limit as f64 {
                return Ok(super::SlidingCount {
                    admitted: false,
                    current: cur,
                    previous: prev,
                    repeat: false,
                });
            }
            let n = cur + 1;
            let mut buf = expires.to_be_bytes().to_vec();
            buf.extend_from_slice(n.to_string().as_bytes());
            t.insert(current.as_str(), buf.as_slice())?;
            if let Some((marker, marker_ttl)) = &seen {
                let mut buf = (now + marker_ttl.as_millis() as u64).to_be_bytes().to_vec();
                buf.push(b'1');
                t.insert(marker.as_str(), buf.as_slice())?;
            }
            Ok(super::SlidingCount {
                admitted: true,
                current: n,
                previous: prev,
                repeat: false,
            })
        })
        .await
    }

    // --- reports -------------------------------------------------------------------------

    pub async fn put_report_if_absent(&self, id: &str, json: &[u8]) -> Result<(), StoreFailure> {
        let (id, json) = (id.to_string(), json.to_vec());
        self.write(move |txn, _| {
            {
                let mut t = txn.open_table(REPORTS)?;
                if t.get(id.as_str())?.is_none() {
                    t.insert(id.as_str(), json.as_slice())?;
                }
            }
            Ok(())
        })
        .await
    }

    /// See [`super::Store::commit_report`]: one write of the group commit, so the commits of
    /// concurrent ingests share a flush.
    pub async fn commit_report(
        &self,
        commit: &super::ReportCommit,
    ) -> Result<super::Committed, StoreFailure> {
        let commit = commit.clone();
        let committed = self
            .write(move |txn, now| commit_report_in(txn, now, &commit))
            .await?;
        // Nothing lies between storing and queuing here: the one point after both.
        crate::failpoint::hit("after_report");
        Ok(committed)
    }

    /// See [`super::Store::mark_committed`].
    pub async fn mark_committed(&self, binding: &str, id: &str) -> Result<(), StoreFailure> {
        let (binding, id) = (binding.to_string(), id.to_string());
        self.write(move |txn, now| {
            let mut state = txn.open_table(STATE)?;
            let current = state.get(binding.as_str())?.map(|v| v.value().to_vec());
            if let Some(raw) = current {
                let live = live_value(&raw, now);
                if live.is_some_and(|v| super::Binding::parse(&v).id == id) {
                    let mut buf = raw[..8].to_vec();
                    buf.extend_from_slice(&super::Binding::committed_value(&id));
                    state.insert(binding.as_str(), buf.as_slice())?;
                }
            }
            Ok(())
        })
        .await
    }

    pub async fn replace_report(&self, id: &str, json: &[u8]) -> Result<(), StoreFailure> {
        let (id, json) = (id.to_string(), json.to_vec());
        self.write(move |txn, _| {
            {
                let mut t = txn.open_table(REPORTS)?;
                t.insert(id.as_str(), json.as_slice())?;
            }
            Ok(())
        })
        .await
    }

    pub async fn get_report(&self, id: &str) -> Result<Option<Vec<u8>>, StoreFailure> {
        let id = id.to_string();
        self.blocking(move |db, _| {
            let txn = db.begin_read()?;
            let t = txn.open_table(REPORTS)?;
            Ok(t.get(id.as_str())?.map(|v| v.value().to_vec()))
        })
        .await
    }

    /// Every stored report's id.
    pub async fn report_ids(&self) -> Result<Vec<String>, StoreFailure> {
        self.blocking(move |db, _| {
            let txn = db.begin_read()?;
            let t = txn.open_table(REPORTS)?;
            let mut ids = Vec::new();
            for item in t.iter()? {
                let (k, _) = item?;
                ids.push(k.value().to_string());
            }
            Ok(ids)
        })
        .await
    }

    /// Up to `count` report documents with ids after `after` (all from the first when none)
    /// and not after `upto`, in id order (ids are ULIDs: reception order); the last id read
    /// is the cursor of the next page, none once the range is exhausted.
    pub async fn scan_reports(
        &self,
        after: Option<&str>,
        upto: Option<&str>,
        count: usize,
    ) -> Result<super::ReportPage, StoreFailure> {
        use std::ops::Bound;
        let (after, upto) = (after.map(str::to_string), upto.map(str::to_string));
        self.blocking(move |db, _| {
            let txn = db.begin_read()?;
            let t = txn.open_table(REPORTS)?;
            let lower = match &after {
                Some(a) => Bound::Excluded(a.as_str()),
                None => Bound::Unbounded,
            };
            let upper = match &upto {
                Some(u) => Bound::Included(u.as_str()),
                None => Bound::Unbounded,
            };
            let mut documents = Vec::new();
            let mut last = None;
            for item in t.range::<&str>((lower, upper))? {
                let (k, v) = item?;
                documents.push(v.value().to_vec());
                last = Some(k.value().to_string());
                if documents.len() >= count.max(1) {
                    break;
                }
            }
            let next = if documents.len() >= count.max(1) {
                last
            } else {
                None
            };
            Ok(super::ReportPage { documents, next })
        })
        .await
    }

    // --- streams -------------------------------------------------------------------------

    /// Append `payload` unless an entry for `dedup` (a report id) is already in `stream`.
    ///
    /// Appends from concurrent callers are group-committed: one writer thread takes every append
    /// waiting at that moment into one transaction, so a burst of webhook events costs one
    /// flush to disk, not one each. Each caller returns only after the commit that holds its
    /// entry.
    pub async fn append(
        &self,
        stream: &str,
        dedup: Option<&str>,
        payload: &[u8],
    ) -> Result<String, StoreFailure> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = AppendJob {
            stream: stream.to_string(),
            dedup: dedup.map(|d| format!("{stream}\u{0}{d}")),
            payload: payload.to_vec(),
            numbering: None,
            reply,
        };
        self.appender
            .send(Job::Append(job))
            .map_err(|_| StoreFailure::WriterStopped)?;
        answer
            .await
            .map_err(|_| StoreFailure::WriterStopped)?
            .map(|a| format!("{}-0", a.seq))
    }

    /// See [`super::Store::append_numbered`]: the marker, the counter (state values under
    /// keys of the stream's own, `stream\0counter\0name` and `stream\0once\0key`) and the
    /// entry are written in one transaction of the group commit.
    pub async fn append_numbered(
        &self,
        stream: &str,
        numbering: &Numbering,
        payload: &[u8],
    ) -> Result<Numbered, StoreFailure> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = AppendJob {
            stream: stream.to_string(),
            dedup: None,
            payload: payload.to_vec(),
            numbering: Some(JobNumbering {
                counter: format!("{stream}\u{0}counter\u{0}{}", numbering.counter),
                counter_ttl_ms: numbering.counter_ttl.as_millis() as u64,
                field: numbering.field,
                once: numbering.once.as_ref().map(|(key, ttl)| {
                    (
                        format!("{stream}\u{0}once\u{0}{key}"),
                        ttl.as_millis() as u64,
                    )
                }),
                now: self.now_ms(),
            }),
            reply,
        };
        self.appender
            .send(Job::Append(job))
            .map_err(|_| StoreFailure::WriterStopped)?;
        let a = answer.await.map_err(|_| StoreFailure::WriterStopped)??;
        Ok(Numbered {
            entry_id: format!("{}-0", a.seq),
            number: a.number,
            repeated: a.repeated,
        })
    }

    /// Re-claim entries pending longer than `min_idle`, then deliver new ones, up to `max`.
    pub async fn claim(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        max: usize,
        min_idle: Duration,
    ) -> Result<Vec<Entry>, StoreFailure> {
        let (stream, gk, consumer) = (
            stream.to_string(),
            group_key(stream, group),
            consumer.to_string(),
        );
        self.write(move |txn, now| {
            let mut out = Vec::new();
            {
                let mut pending = txn.open_table(PENDING)?;
                let entries = txn.open_table(ENTRIES)?;
                let idle_ms = min_idle.as_millis() as u64;
                let mut stale = Vec::new();
                for item in pending.range((gk.as_str(), 0u64)..=(gk.as_str(), u64::MAX))? {
                    let (k, v) = item?;
                    let (_, claimed_at, deliveries) = v.value();
                    if now.saturating_sub(claimed_at) >= idle_ms {
                        stale.push((k.value().1, deliveries));
                        if stale.len() >= max {
                            break;
                        }
                    }
                }
                let mut pending_delta = 0i64;
                for (seq, deliveries) in stale {
                    let payload = entries.get((stream.as_str(), seq))?;
                    let Some(payload) = payload else {
                        pending.remove((gk.as_str(), seq))?;
                        pending_delta -= 1;
                        continue;
                    };
                    out.push(Entry {
                        entry_id: format!("{seq}-0"),
                        payload: payload.value().to_vec(),
                        deliveries,
                    });
                    pending.insert((gk.as_str(), seq), (consumer.as_str(), now, deliveries + 1))?;
                }
                if out.len() < max {
                    let mut cursors = txn.open_table(CURSORS)?;
                    let delivered = cursors.get(gk.as_str())?.map_or(0, |v| v.value());
                    let mut last = delivered;
                    for item in entries
                        .range((stream.as_str(), delivered + 1)..=(stream.as_str(), u64::MAX))?
                    {
                        if out.len() >= max {
                            break;
                        }
                        let (k, v) = item?;
                        let seq = k.value().1;
                        out.push(Entry {
                            entry_id: format!("{seq}-0"),
                            payload: v.value().to_vec(),
                            deliveries: 0,
                        });
                        pending.insert((gk.as_str(), seq), (consumer.as_str(), now, 1))?;
                        pending_delta += 1;
                        last = seq;
                    }
                    if last != delivered {
                        cursors.insert(gk.as_str(), last)?;
                    }
                }
                if pending_delta != 0 {
                    let mut counts = txn.open_table(COUNTS)?;
                    add_count(&mut counts, &pending_key(&gk), pending_delta)?;
                }
            }
            Ok(out)
        })
        .await
    }

    pub async fn ack(
        &self,
        stream: &str,
        group: &str,
        entry_id: &str,
    ) -> Result<bool, StoreFailure> {
        let Some(seq) = parse_entry_id(entry_id) else {
            return Ok(false);
        };
        let gk = group_key(stream, group);
        self.write(move |txn, _| {
            let removed = {
                let mut pending = txn.open_table(PENDING)?;
                let removed = pending.remove((gk.as_str(), seq))?.is_some();
                if removed {
                    let mut counts = txn.open_table(COUNTS)?;
                    add_count(&mut counts, &pending_key(&gk), -1)?;
                }
                removed
            };
            Ok(removed)
        })
        .await
    }

    /// Up to `max` entries delivered to the group and not acknowledged, in stream order, with
    /// their holder.
    pub async fn pending(
        &self,
        stream: &str,
        group: &str,
        max: usize,
    ) -> Result<Vec<super::PendingEntry>, StoreFailure> {
        let (stream, gk) = (stream.to_string(), group_key(stream, group));
        self.blocking(move |db, now| {
            let txn = db.begin_read()?;
            let pending = txn.open_table(PENDING)?;
            let entries = txn.open_table(ENTRIES)?;
            let mut out = Vec::new();
            for item in pending.range((gk.as_str(), 0u64)..=(gk.as_str(), u64::MAX))? {
                if out.len() >= max {
                    break;
                }
                let (k, v) = item?;
                let seq = k.value().1;
                let (consumer, claimed_at, deliveries) = v.value();
                let Some(payload) = entries.get((stream.as_str(), seq))? else {
                    continue;
                };
                out.push(super::PendingEntry {
                    entry: Entry {
                        entry_id: format!("{seq}-0"),
                        payload: payload.value().to_vec(),
                        deliveries: deliveries.saturating_sub(1),
                    },
                    consumer: consumer.to_string(),
                    idle: Duration::from_millis(now.saturating_sub(claimed_at)),
                });
            }
            Ok(out)
        })
        .await
    }

    /// (entries in the stream, entries delivered to the group and not acknowledged, entries
    /// not yet delivered to the group). Three key reads, whatever the length of the stream:
    /// entries are never removed, so the length is the last sequence number, and the pending
    /// count is kept by `claim` and `ack`.
    pub async fn depth(&self, stream: &str, group: &str) -> Result<(u64, u64, u64), StoreFailure> {
        let (stream, gk) = (stream.to_string(), group_key(stream, group));
        self.blocking(move |db, _| {
            let txn = db.begin_read()?;
            let cursors = txn.open_table(CURSORS)?;
            let last = cursors.get(stream.as_str())?.map_or(0, |v| v.value());
            let delivered = cursors.get(gk.as_str())?.map_or(0, |v| v.value());
            let counts = txn.open_table(COUNTS)?;
            let n_pending = counts
                .get(pending_key(&gk).as_str())?
                .map_or(0, |v| v.value());
            Ok((last, n_pending, last.saturating_sub(delivered)))
        })
        .await
    }

    // --- scored indexes ------------------------------------------------------------------

    /// Add `member` to `index` with `score` and `payload`, replacing an earlier entry of it.
    pub async fn index_put(
        &self,
        index: &str,
        member: &str,
        score: i64,
        payload: &[u8],
    ) -> Result<(), StoreFailure> {
        let (index, member, payload) = (index.to_string(), member.to_string(), payload.to_vec());
        self.write(move |txn, _| index_put_in(txn, &index, &member, score, &payload))
            .await
    }

    /// Entries of `index` with `min <= score <= max`, highest score first, at most `limit`.
    pub async fn index_range(
        &self,
        index: &str,
        min: i64,
        max: i64,
        limit: usize,
    ) -> Result<Vec<IndexEntry>, StoreFailure> {
        let index = index.to_string();
        self.blocking(move |db, _| {
            let txn = db.begin_read()?;
            let entries = txn.open_table(INDEX)?;
            let mut out = Vec::new();
            if min > max || limit == 0 {
                return Ok(out);
            }
            let end = (index.as_str(), max.saturating_add(1), "");
            let range = if max == i64::MAX {
                entries.range((index.as_str(), min, "")..=(index.as_str(), i64::MAX, "\u{10FFFF}"))
            } else {
                entries.range((index.as_str(), min, "")..end)
            };
            for item in range?.rev() {
                let (k, v) = item?;
                let (_, score, member) = k.value();
                out.push(IndexEntry {
                    member: member.to_string(),
                    score,
                    payload: v.value().to_vec(),
                });
                if out.len() >= limit {
                    break;
                }
            }
            Ok(out)
        })
        .await
    }

    /// Remove `member` from `index`; false when it was not there.
    pub async fn index_remove(&self, index: &str, member: &str) -> Result<bool, StoreFailure> {
        let (index, member) = (index.to_string(), member.to_string());
        self.write(move |txn, _| {
            let removed = {
                let mut members = txn.open_table(INDEX_MEMBERS)?;
                let mut entries = txn.open_table(INDEX)?;
                let score = members
                    .remove((index.as_str(), member.as_str()))?
                    .map(|v| v.value());
                if let Some(score) = score {
                    entries.remove((index.as_str(), score, member.as_str()))?;
                }
                score.is_some()
            };
            Ok(removed)
        })
        .await
    }

    /// Remove the entries of `index` scored below `below`, at most `INDEX_TRIM_BATCH` per call;
    /// returns how many were removed.
    pub async fn index_trim(&self, index: &str, below: i64) -> Result<u64, StoreFailure> {
        let index = index.to_string();
        self.write(move |txn, _| index_trim_in(txn, &index, below))
            .await
    }
}

/// Create the file readable by the gateway's user only (before redb opens it).
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path).map(drop)
}

fn live_value(raw: &[u8], now: u64) -> Option<Vec<u8>> {
    if raw.len() < 8 {
        return None;
    }
    let expires = u64::from_be_bytes(raw[..8].try_into().ok()?);
    (expires == 0 || expires > now).then(|| raw[8..].to_vec())
}

fn parse_entry_id(id: &str) -> Option<u64> {
    id.strip_suffix("-0").unwrap_or(id).parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small tmpfs on a temp folder, unmounted when dropped; None when this process may not
    /// mount (not root).
    struct Tmpfs {
        dir: tempfile::TempDir,
    }

    impl Tmpfs {
        fn mount(size: &str) -> Option<Tmpfs> {
            let dir = tempfile::tempdir().ok()?;
            let ok = std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(dir.path())
                .status()
                .is_ok_and(|s| s.success());
            ok.then_some(Tmpfs { dir })
        }

        /// Write a filler file until the file system refuses one more byte.
        fn fill(&self) -> PathBuf {
            use std::io::Write;
            let path = self.dir.path().join("filler");
            let mut f = std::fs::File::create(&path).unwrap();
            for chunk in [1 << 20, 4096, 1] {
                let buf = vec![0u8; chunk];
                while f.write_all(&buf).is_ok() {}
            }
            drop(f);
            path
        }
    }

    impl Drop for Tmpfs {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }

    #[tokio::test]
    async fn pending_lists_the_claimed_entries_with_their_holder() {
        let dir = tempfile::tempdir().unwrap();
        let clock: SharedClock = Arc::new(crate::clock::SystemClock);
        let store = Embedded::open(&dir.path().join("p.redb"), clock).unwrap();
        for i in 0..3 {
            store
                .append(
                    "s",
                    Some(&format!("r{i}")),
                    format!("{{\"n\":{i}}}").as_bytes(),
                )
                .await
                .unwrap();
        }
        assert!(store.pending("s", "g", 10).await.unwrap().is_empty());
        let a = store
            .claim("s", "g", "a", 1, Duration::from_secs(60))
            .await
            .unwrap();
        let b = store
            .claim("s", "g", "b", 1, Duration::from_secs(60))
            .await
            .unwrap();
        let pending = store.pending("s", "g", 10).await.unwrap();
        let held: Vec<(&str, &str, &[u8])> = pending
            .iter()
            .map(|p| {
                (
                    p.entry.entry_id.as_str(),
                    p.consumer.as_str(),
                    p.entry.payload.as_slice(),
                )
            })
            .collect();
        assert_eq!(
            held,
            vec![
                (a[0].entry_id.as_str(), "a", &b"{\"n\":0}"[..]),
                (b[0].entry_id.as_str(), "b", &b"{\"n\":1}"[..]),
            ]
        );
        assert_eq!(store.pending("s", "g", 1).await.unwrap().len(), 1);
        assert!(store.ack("s", "g", &a[0].entry_id).await.unwrap());
        let pending = store.pending("s", "g", 10).await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].consumer, "b");
        assert_eq!(pending[0].entry.deliveries, 0);
    }

    #[tokio::test]
    async fn depth_reads_counters_kept_by_claim_and_ack() {
        let dir = tempfile::tempdir().unwrap();
        let clock: SharedClock = Arc::new(crate::clock::SystemClock);
        let store = Embedded::open(&dir.path().join("q.redb"), clock.clone()).unwrap();
        for i in 0..5 {
            store
                .append("s", Some(&format!("r{i}")), b"{}")
                .await
                .unwrap();
        }
        store.append("s", Some("r0"), b"{}").await.unwrap();
        assert_eq!(store.depth("s", "g").await.unwrap(), (5, 0, 5));
        let got = store
            .claim("s", "g", "c", 3, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(store.depth("s", "g").await.unwrap(), (5, 3, 2));
        // Re-claiming pending entries does not count them twice.
        store
            .claim("s", "g", "c2", 10, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(store.depth("s", "g").await.unwrap(), (5, 5, 0));
        assert!(store.ack("s", "g", &got[0].entry_id).await.unwrap());
        assert!(!store.ack("s", "g", &got[0].entry_id).await.unwrap());
        assert_eq!(store.depth("s", "g").await.unwrap(), (5, 4, 0));
        drop(store);
        // A file whose counters are lost is counted again at open.
        let path = dir.path().join("q.redb");
        std::thread::sleep(Duration::from_millis(100));
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.delete_table(COUNTS).unwrap();
            txn.commit().unwrap();
        }
        let store = Embedded::open(&path, clock).unwrap();
        assert_eq!(store.depth("s", "g").await.unwrap(), (5, 4, 0));
    }

    #[tokio::test]
    async fn a_full_disk_faults_the_store_which_recovers_once_space_is_back() {
        let Some(fs) = Tmpfs::mount("16m") else {
            eprintln!("SKIPPED: mounting a tmpfs needs root (the disk-full test did not run)");
            return;
        };
        let clock: SharedClock = Arc::new(crate::clock::SystemClock);
        let store = Embedded::open(&fs.dir.path().join("queue.redb"), clock).unwrap();
        store.put("before", b"kept", None).await.unwrap();
        store.append("s", Some("r1"), b"{\"n\":1}").await.unwrap();
        let filler = fs.fill();
        // Values large enough that redb has to grow its file.
        let big = vec![7u8; 256 * 1024];
        let mut failure = None;
        for i in 0..200 {
            if let Err(e) = store.put(&format!("big{i}"), &big, None).await {
                failure = Some(e);
                break;
            }
        }
        let failure = failure.expect("a full disk makes a write fail");
        assert!(failure.is_io_fault(), "{failure}");
        let refused = store
            .ping()
            .await
            .expect_err("not ready while the disk is full");
        let cause = refused.to_string();
        assert!(
            cause.contains("No space left") || cause.contains("os error 28"),
            "{cause}"
        );
        assert!(store.fault().is_some());
        std::fs::remove_file(filler).unwrap();
        // No restart: the next operations reopen the file.
        let deadline = Instant::now() + Duration::from_secs(5);
        while store.ping().await.is_err() {
            assert!(Instant::now() < deadline, "the store did not recover");
            tokio::time::sleep(REOPEN_INTERVAL).await;
        }
        assert!(store.fault().is_none());
        assert_eq!(
            store.get("before").await.unwrap().as_deref(),
            Some(&b"kept"[..])
        );
        store.append("s", Some("r2"), b"{\"n\":2}").await.unwrap();
        let entries = store
            .claim("s", "g", "c", 10, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(
            entries.len(),
            2,
            "the entry committed before the fault is kept"
        );
    }
}
