//! The embedded backend (R-Q-2): the queue semantics of Redis Streams on redb, an ACID
//! key-value file in the data folder. Every operation is one write transaction: a crash leaves
//! either all of it or none of it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

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

#[derive(Clone)]
pub struct Embedded {
    db: Arc<Database>,
    clock: SharedClock,
    appender: std::sync::mpsc::Sender<AppendJob>,
}

struct AppendJob {
    stream: String,
    dedup: Option<String>,
    payload: Vec<u8>,
    reply: tokio::sync::oneshot::Sender<Result<u64, StoreFailure>>,
}

/// Most appends committed in one transaction.
const MAX_BATCH: usize = 512;

/// The group-commit writer. It holds the database weakly, so that dropping the last store
/// closes the file; it stops when the last sender is dropped.
fn run_appender(db: std::sync::Weak<Database>, jobs: std::sync::mpsc::Receiver<AppendJob>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let Some(db) = db.upgrade() else {
            for job in batch {
                let _ = job.reply.send(Err(StoreFailure::WriterStopped));
            }
            return;
        };
        match commit_batch(&db, &batch) {
            Ok(seqs) => {
                for (job, seq) in batch.into_iter().zip(seqs) {
                    let _ = job.reply.send(Ok(seq));
                }
            }
            Err(e) => {
                let e = Arc::new(e);
                for job in batch {
                    let _ = job.reply.send(Err(StoreFailure::Batch(e.clone())));
                }
            }
        }
    }
}

fn commit_batch(db: &Database, batch: &[AppendJob]) -> Result<Vec<u64>, StoreFailure> {
    let txn = db.begin_write()?;
    let mut seqs = Vec::with_capacity(batch.len());
    {
        let mut enqueued = txn.open_table(ENQUEUED)?;
        let mut cursors = txn.open_table(CURSORS)?;
        let mut entries = txn.open_table(ENTRIES)?;
        for job in batch {
            let existing = match &job.dedup {
                Some(k) => enqueued.get(k.as_str())?.map(|v| v.value()),
                None => None,
            };
            let seq = match existing {
                Some(seq) => seq,
                None => {
                    let stream = job.stream.as_str();
                    let seq = cursors.get(stream)?.map_or(0, |v| v.value()) + 1;
                    cursors.insert(stream, seq)?;
                    entries.insert((stream, seq), job.payload.as_slice())?;
                    if let Some(k) = &job.dedup {
                        enqueued.insert(k.as_str(), seq)?;
                    }
                    seq
                }
            };
            seqs.push(seq);
        }
    }
    txn.commit()?;
    Ok(seqs)
}

fn group_key(stream: &str, group: &str) -> String {
    format!("{stream}\u{0}{group}")
}

impl Embedded {
    pub fn open(path: &Path, clock: SharedClock) -> Result<Self, StoreFailure> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        {
            txn.open_table(STATE)?;
            txn.open_table(REPORTS)?;
            txn.open_table(ENTRIES)?;
            txn.open_table(CURSORS)?;
            txn.open_table(PENDING)?;
            txn.open_table(ENQUEUED)?;
            txn.open_table(INDEX)?;
            txn.open_table(INDEX_MEMBERS)?;
        }
        txn.commit()?;
        let db = Arc::new(db);
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
        let db = self.db.clone();
        let now = self.now_ms();
        tokio::task::spawn_blocking(move || f(&db, now)).await?
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
        cond: impl FnOnce(Option<&[u8]>) -> bool + Send + 'static,
    ) -> Result<bool, StoreFailure> {
        let key = key.to_string();
        self.blocking(move |db, now| {
            let txn = db.begin_write()?;
            let swapped = {
                let mut t = txn.open_table(STATE)?;
                let current = t
                    .get(key.as_str())?
                    .and_then(|v| live_value(v.value(), now));
                if !cond(current.as_deref()) {
                    false
                } else {
                    match value {
                        Some(v) => {
                            let expires = ttl.map_or(0, |d| now + d.as_millis() as u64);
                            let mut buf = expires.to_be_bytes().to_vec();
                            buf.extend_from_slice(&v);
                            t.insert(key.as_str(), buf.as_slice())?;
                        }
                        None => {
                            t.remove(key.as_str())?;
                        }
                    }
                    true
                }
            };
            txn.commit()?;
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
        self.blocking(move |db, now| {
            let txn = db.begin_write()?;
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
            txn.commit()?;
            Ok(n)
        })
        .await
    }

    // --- reports -------------------------------------------------------------------------

    pub async fn put_report_if_absent(&self, id: &str, json: &[u8]) -> Result<(), StoreFailure> {
        let (id, json) = (id.to_string(), json.to_vec());
        self.blocking(move |db, _| {
            let txn = db.begin_write()?;
            {
                let mut t = txn.open_table(REPORTS)?;
                if t.get(id.as_str())?.is_none() {
                    t.insert(id.as_str(), json.as_slice())?;
                }
            }
            Ok(txn.commit()?)
        })
        .await
    }

    pub async fn replace_report(&self, id: &str, json: &[u8]) -> Result<(), StoreFailure> {
        let (id, json) = (id.to_string(), json.to_vec());
        self.blocking(move |db, _| {
            let txn = db.begin_write()?;
            {
                let mut t = txn.open_table(REPORTS)?;
                t.insert(id.as_str(), json.as_slice())?;
            }
            Ok(txn.commit()?)
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
            reply,
        };
        self.appender
            .send(job)
            .map_err(|_| StoreFailure::WriterStopped)?;
        answer
            .await
            .map_err(|_| StoreFailure::WriterStopped)?
            .map(|seq| format!("{seq}-0"))
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
        self.blocking(move |db, now| {
            let txn = db.begin_write()?;
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
                for (seq, deliveries) in stale {
                    let payload = entries.get((stream.as_str(), seq))?;
                    let Some(payload) = payload else {
                        pending.remove((gk.as_str(), seq))?;
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
                        last = seq;
                    }
                    if last != delivered {
                        cursors.insert(gk.as_str(), last)?;
                    }
                }
            }
            txn.commit()?;
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
        self.blocking(move |db, _| {
            let txn = db.begin_write()?;
            let removed = {
                let mut pending = txn.open_table(PENDING)?;
                let removed = pending.remove((gk.as_str(), seq))?.is_some();
                removed
            };
            txn.commit()?;
            Ok(removed)
        })
        .await
    }

    /// (entries in the stream, entries delivered to the group and not acknowledged, entries
    /// not yet delivered to the group).
    pub async fn depth(&self, stream: &str, group: &str) -> Result<(u64, u64, u64), StoreFailure> {
        let (stream, gk) = (stream.to_string(), group_key(stream, group));
        self.blocking(move |db, _| {
            let txn = db.begin_read()?;
            let cursors = txn.open_table(CURSORS)?;
            let last = cursors.get(stream.as_str())?.map_or(0, |v| v.value());
            let delivered = cursors.get(gk.as_str())?.map_or(0, |v| v.value());
            let pending = txn.open_table(PENDING)?;
            let n_pending = pending
                .range((gk.as_str(), 0u64)..=(gk.as_str(), u64::MAX))?
                .count() as u64;
            let entries = txn.open_table(ENTRIES)?;
            let total = entries
                .range((stream.as_str(), 0u64)..=(stream.as_str(), u64::MAX))?
                .count() as u64;
            Ok((total, n_pending, last.saturating_sub(delivered)))
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
        self.blocking(move |db, _| {
            let txn = db.begin_write()?;
            {
                let mut members = txn.open_table(INDEX_MEMBERS)?;
                let mut entries = txn.open_table(INDEX)?;
                let previous = members
                    .insert((index.as_str(), member.as_str()), score)?
                    .map(|v| v.value());
                if let Some(previous) = previous {
                    entries.remove((index.as_str(), previous, member.as_str()))?;
                }
                entries.insert((index.as_str(), score, member.as_str()), payload.as_slice())?;
            }
            Ok(txn.commit()?)
        })
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
        self.blocking(move |db, _| {
            let txn = db.begin_write()?;
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
            txn.commit()?;
            Ok(removed)
        })
        .await
    }

    /// Remove the entries of `index` scored below `below`, at most `INDEX_TRIM_BATCH` per call;
    /// returns how many were removed.
    pub async fn index_trim(&self, index: &str, below: i64) -> Result<u64, StoreFailure> {
        let index = index.to_string();
        self.blocking(move |db, _| {
            let txn = db.begin_write()?;
            let removed = {
                let mut members = txn.open_table(INDEX_MEMBERS)?;
                let mut entries = txn.open_table(INDEX)?;
                let mut old = Vec::new();
                for item in
                    entries.range((index.as_str(), i64::MIN, "")..(index.as_str(), below, ""))?
                {
                    let (k, _) = item?;
                    let (_, score, member) = k.value();
                    old.push((score, member.to_string()));
                    if old.len() >= super::INDEX_TRIM_BATCH {
                        break;
                    }
                }
                for (score, member) in &old {
                    entries.remove((index.as_str(), *score, member.as_str()))?;
                    members.remove((index.as_str(), member.as_str()))?;
                }
                old.len() as u64
            };
            txn.commit()?;
            Ok(removed)
        })
        .await
    }
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
