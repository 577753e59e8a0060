//! The event processor: takes persisted webhook events from `zalo:events`, runs them through the
//! conversation state machine under a per-dialogue lock, queues the OA's answers and, when the
//! citizen confirms, downloads the media and submits the report.
//!
//! An entry is acknowledged only after its effects are durable (state stored, answers queued,
//! report ingested); a failure leaves it to be handed out again. Re-processing is harmless: the
//! event's seen marker is written and the entry acknowledged before the dialogue lock is
//! released, a delivery of an event already processed is only acknowledged, the dialogue
//! ignores events it already applied and `Intake::ingest` is idempotent on the confirming
//! `msg_id`. The lock is renewed while an event is processed (a long download keeps it) and
//! nothing is said or stored when it was lost.
//!
//! Each medium is downloaded and inspected as soon as the event that brought it is applied, in a
//! background task bounded by `zalo.media_inspections` permits: the result (capture time, GPS,
//! readability, the staged file) goes back on `zalo:events` as the gateway's own
//! [`normalizers::zalo::INSPECTED_EVENT`], so it is applied in order, under the same lock, and
//! stored with the draft. A stale photo is refused at once; "Gửi" reuses the staged files.
//! Staged files of drafts that end without a report are deleted, and a sweeper removes those of
//! drafts nobody came back to.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use normalizers::geo::Geo;
use normalizers::report::{Channel, Envelope};
use normalizers::report::{LostMedium, MediaKind};
use normalizers::validate::Status;
use normalizers::validate::{Action, Code};
use normalizers::zalo::{
    self, Collecting, Dialogue, Draft, Event, Inspection, MediaRef, Prompt, StepEnv, Submit,
};
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::context::ChannelStorage;
use crate::intake::{
    IngestError, Intake, MediaInput, MediaSource, Numbering, Origin, Outbound, StoreError,
    StreamEntry, Submission,
};
use crate::templates::zalo as tpl;

use super::{media, ZaloChannel, EVENTS_STREAM, OUTBOUND_STREAM};

/// Entries claimed per round.
const BATCH: usize = 32;
/// A stored dialogue outlives its TTL by this much, so that the citizen can be told it expired.
const EXPIRY_GRACE: Duration = Duration::from_secs(2 * 24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("submission not stored: {0}")]
    Ingest(#[source] crate::intake::BoxError),
    #[error("media download failed, will retry: {0}")]
    Media(#[source] super::media::MediaError),
    #[error("dialogue busy in another worker")]
    Busy,
    /// The dialogue lock could not be renewed (the store was unreachable longer than its
    /// lifetime): another instance may hold it now, so nothing of this event was said or
    /// stored; the event is processed again.
    #[error("dialogue lock lost while processing")]
    LockLost,
    /// A medium of the event failed transiently and its retry is not due before this long.
    #[error("media retry not due for {0:?}")]
    NotDue(Duration),
    /// An earlier event of the conversation (by the webhook's sequence) is not applied yet:
    /// it is claimed by an instance that died or is still being processed elsewhere.
    #[error("an earlier event of the conversation is pending")]
    Pending,
}

impl ProcessError {
    /// Deferred behind another event of the conversation: tried again soon by the holder.
    fn deferred(&self) -> bool {
        matches!(self, ProcessError::Busy | ProcessError::Pending)
    }
}

pub(crate) fn dialogue_key(oa_id: &str, user_id: &str) -> String {
    format!("zalo:dialogue:{oa_id}:{user_id}")
}

/// The payload field of a `zalo:events` entry that holds its number in the conversation. (Entries
/// stored by earlier versions carry `seq`, taken in a separate step; they are applied as they
/// come, like unnumbered ones.)
pub(crate) const NUMBER_FIELD: &str = "number";

/// The conversation's [`Applied`] record (`zalo:order:<oa>:<user>`), written under the dialogue
/// lock; it outlives the dialogue, which ends with the report.
fn applied_key(dialogue: &str) -> String {
    match dialogue.strip_prefix("zalo:dialogue:") {
        Some(conversation) => format!("zalo:order:{conversation}"),
        None => format!("zalo:order:{dialogue}"),
    }
}

/// The counter outlives the applied record by this much, so a record never sees a counter that
/// started again (which would make new events look applied).
const SEQUENCE_MARGIN: Duration = Duration::from_secs(24 * 3600);
/// Skipped numbers remembered per conversation (the late events still applied when they come).
const SKIPPED_KEPT: usize = 64;

/// How the webhook appends an event of the conversation `oa_id`/`user_id` whose de-duplication
/// key is `dedup_key`: numbered by the conversation's counter (renewed by every event), at most
/// once per `zalo.seen_ttl_secs`.
pub(crate) fn numbering<I: Intake, S: ChannelStorage>(
    ch: &ZaloChannel<I, S>,
    oa_id: &str,
    user_id: &str,
    dedup_key: &str,
) -> Numbering {
    Numbering {
        counter: format!("{oa_id}:{user_id}"),
        counter_ttl: ch.config.dialogue_ttl() + EXPIRY_GRACE + SEQUENCE_MARGIN,
        field: NUMBER_FIELD,
        once: Some((
            dedup_key.to_string(),
            Duration::from_secs(ch.config.seen_ttl_secs.max(1)),
        )),
    }
}

/// Which of a conversation's numbered events were applied: all up to `last`, except the
/// `skipped` ones (a gap that did not fill in time), which are still applied when they come.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
struct Applied {
    last: u64,
    #[serde(default)]
    skipped: Vec<u64>,
}

/// What to do with the numbered event `seq` given the conversation's [`Applied`] record.
#[derive(Debug, PartialEq, Eq)]
enum Order {
    /// Applied before: only acknowledge.
    Done,
    /// Its turn (or a late one whose number was skipped): apply, then record this.
    Apply,
    /// Earlier events are missing and the wait is not over.
    Wait,
}

fn order_of(applied: &Applied, seq: u64, waited: Duration, gap: Duration) -> Order {
    if applied.skipped.contains(&seq) || seq == applied.last + 1 {
        Order::Apply
    } else if seq <= applied.last {
        Order::Done
    } else if waited >= gap {
        Order::Apply
    } else {
        Order::Wait
    }
}

impl Applied {
    /// The record once `seq` is applied; numbers jumped over are remembered as skipped.
    fn with(mut self, seq: u64) -> Applied {
        self.skipped.retain(|&n| n != seq);
        if seq > self.last {
            let from = (self.last + 1).max(seq.saturating_sub(SKIPPED_KEPT as u64));
            self.skipped.extend(from..seq);
            self.last = seq;
        }
        let excess = self.skipped.len().saturating_sub(SKIPPED_KEPT);
        self.skipped.drain(..excess);
        self
    }
}

/// When the next attempt at an event whose medium failed transiently is due (epoch ms).
fn retry_key(entry_id: &str) -> String {
    format!("zalo:retry:{entry_id}")
}

/// Events of one conversation are processed in order by a worker of their own, so that a slow
/// medium of one citizen never holds up another citizen's conversation. A worker ends when its
/// conversation has been idle for this long, or at once when it has nothing to do while the
/// processor is at `zalo.conversation_workers`.
const WORKER_IDLE: Duration = Duration::from_secs(5);

/// Raised by the dispatcher while it waits for a free worker: idle workers end at once.
#[derive(Default)]
struct Pressure {
    on: AtomicBool,
    notify: Notify,
}

impl Pressure {
    fn raise(&self) {
        self.on.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    fn lower(&self) {
        self.on.store(false, Ordering::SeqCst);
    }

    fn raised(&self) -> bool {
        self.on.load(Ordering::SeqCst)
    }
}

/// The dispatcher: claims events and hands each to the worker of its conversation, at most
/// `zalo.conversation_workers` workers at once. At the cap it claims nothing more until a worker
/// ends (entries already claimed for a new conversation wait for it), so a burst of
/// conversations with slow media holds events on the stream, not in memory.
pub(crate) async fn run<I: Intake, S: ChannelStorage>(ch: Arc<ZaloChannel<I, S>>) {
    let cap = ch.config.conversation_workers.max(1);
    let pressure = Arc::new(Pressure::default());
    let mut workers: HashMap<String, mpsc::UnboundedSender<StreamEntry>> = HashMap::new();
    // Entries handed to a worker and not finished yet: a redelivery of one is not queued twice.
    let in_flight: Arc<Mutex<HashSet<String>>> = Arc::default();
    let mut tasks = tokio::task::JoinSet::new();
    'claiming: loop {
        reap(&mut tasks, &mut workers);
        while tasks.len() >= cap {
            pressure.raise();
            tokio::select! {
                _ = tasks.join_next() => {}
                _ = ch.shutdown.cancelled() => break 'claiming,
            }
            reap(&mut tasks, &mut workers);
        }
        pressure.lower();
        let Some(entries) = ch.next_batch(EVENTS_STREAM, BATCH.min(cap)).await else {
            break;
        };
        for entry in entries {
            if !lock_set(&in_flight).insert(entry.entry_id.clone()) {
                continue;
            }
            let key = conversation_of(&entry).unwrap_or_else(|| entry.entry_id.clone());
            let mut entry = entry;
            loop {
                if !workers.contains_key(&key) {
                    reap(&mut tasks, &mut workers);
                    while tasks.len() >= cap {
                        pressure.raise();
                        let _ = tasks.join_next().await;
                        reap(&mut tasks, &mut workers);
                    }
                    pressure.lower();
                    let (tx, rx) = mpsc::unbounded_channel();
                    tasks.spawn(conversation_worker(
                        ch.clone(),
                        rx,
                        in_flight.clone(),
                        pressure.clone(),
                    ));
                    workers.insert(key.clone(), tx);
                }
                let tx = workers.get(&key).expect("a worker was just ensured");
                match tx.send(entry) {
                    Ok(()) => break,
                    // The worker just ended (idle): start another.
                    Err(mpsc::error::SendError(back)) => {
                        workers.remove(&key);
                        entry = back;
                    }
                }
            }
        }
    }
    // Shutdown: let the workers finish what they hold.
    drop(workers);
    while tasks.join_next().await.is_some() {}
}

/// Forget the workers that ended.
fn reap(
    tasks: &mut tokio::task::JoinSet<()>,
    workers: &mut HashMap<String, mpsc::UnboundedSender<StreamEntry>>,
) {
    while tasks.try_join_next().is_some() {}
    workers.retain(|_, tx| !tx.is_closed());
}

fn lock_set(set: &Mutex<HashSet<String>>) -> std::sync::MutexGuard<'_, HashSet<String>> {
    set.lock().unwrap_or_else(|p| p.into_inner())
}

/// The dialogue an entry belongs to, when it can be read.
fn conversation_of(entry: &StreamEntry) -> Option<String> {
    let raw = entry.payload.get("raw")?.as_str()?;
    let event = Event::parse(raw.as_bytes()).ok()?;
    Some(dialogue_key(event.oa_id()?, event.user_id()?))
}

/// An entry a worker holds: deferred ones (busy dialogue, earlier event pending) are tried
/// again every `zalo.order_retry_millis`, at most for `zalo.order_gap_secs` (then the stream
/// hands them out again after its claim timeout). An earlier event is pending only while it is
/// processed elsewhere, or claimed by an instance that died (back after the claim timeout; its
/// dialogue lock is taken over at once when that instance was this one's previous run).
struct Held {
    entry: StreamEntry,
    since: tokio::time::Instant,
}

async fn conversation_worker<I: Intake, S: ChannelStorage>(
    ch: Arc<ZaloChannel<I, S>>,
    mut rx: mpsc::UnboundedReceiver<StreamEntry>,
    in_flight: Arc<Mutex<HashSet<String>>>,
    pressure: Arc<Pressure>,
) {
    let mut held: Vec<Held> = Vec::new();
    loop {
        if held.is_empty() && pressure.raised() && rx.is_empty() {
            break;
        }
        let wait = if held.is_empty() {
            WORKER_IDLE
        } else {
            ch.config.order_retry()
        };
        tokio::select! {
            got = rx.recv() => match got {
                Some(entry) => {
                    hold(&mut held, entry);
                    while let Ok(entry) = rx.try_recv() {
                        hold(&mut held, entry);
                    }
                    run_held(&ch, &mut held, &in_flight).await;
                }
                None => break,
            },
            _ = tokio::time::sleep(wait) => {
                if held.is_empty() {
                    break;
                }
                run_held(&ch, &mut held, &in_flight).await;
            }
            _ = pressure.notify.notified() => {}
        }
    }
    // Idle or shutting down: refuse new entries, then try once those sent meanwhile; what is
    // still deferred is left to the stream.
    rx.close();
    while let Ok(entry) = rx.try_recv() {
        hold(&mut held, entry);
    }
    run_held(&ch, &mut held, &in_flight).await;
    for h in held {
        lock_set(&in_flight).remove(&h.entry.entry_id);
    }
}

fn hold(held: &mut Vec<Held>, entry: StreamEntry) {
    if held.iter().all(|h| h.entry.entry_id != entry.entry_id) {
        held.push(Held {
            entry,
            since: tokio::time::Instant::now(),
        });
    }
}

fn sequence_of(entry: &StreamEntry) -> u64 {
    entry
        .payload
        .get(NUMBER_FIELD)
        .and_then(|v| v.as_u64())
        .unwrap_or(0)
}

/// Try the held entries in the conversation's order; keep the deferred ones.
async fn run_held<I: Intake, S: ChannelStorage>(
    ch: &ZaloChannel<I, S>,
    held: &mut Vec<Held>,
    in_flight: &Mutex<HashSet<String>>,
) {
    held.sort_by_key(|h| sequence_of(&h.entry));
    let limit = ch.config.order_gap();
    let mut keep = Vec::new();
    for h in std::mem::take(held) {
        let deferred = handle_entry(ch, &h.entry).await;
        if deferred && h.since.elapsed() < limit && !ch.shutting_down() {
            keep.push(h);
        } else {
            lock_set(in_flight).remove(&h.entry.entry_id);
        }
    }
    *held = keep;
}

/// Process one entry; true when it was deferred behind another event of its conversation.
async fn handle_entry<I: Intake, S: ChannelStorage>(
    ch: &ZaloChannel<I, S>,
    entry: &StreamEntry,
) -> bool {
    match process_entry(ch, entry).await {
        Ok(()) => {}
        Err(e) if e.deferred() => {
            tracing::debug!(entry = %entry.entry_id, error = %e, "zalo event deferred: retried soon");
            return true;
        }
        Err(ProcessError::NotDue(wait)) => {
            tracing::debug!(entry = %entry.entry_id, wait_secs = wait.as_secs(), "zalo event retry not due")
        }
        Err(ProcessError::Busy) => {
            tracing::debug!(entry = %entry.entry_id, "zalo dialogue busy elsewhere: event left for retry")
        }
        Err(e) => {
            tracing::warn!(error = %e, entry = %entry.entry_id, deliveries = entry.deliveries, "zalo event left for retry")
        }
    }
    false
}

/// Process one persisted event and acknowledge it once its effects are durable. An `Err`
/// leaves it on the stream, to be handed out again.
pub async fn process_entry<I: Intake, S: ChannelStorage>(
    ch: &ZaloChannel<I, S>,
    entry: &StreamEntry,
) -> Result<(), ProcessError> {
    let Some(raw) = entry.payload.get("raw").and_then(|r| r.as_str()) else {
        tracing::error!(entry = %entry.entry_id, "zalo event entry without raw body: dropped");
        return ack(ch, entry).await;
    };
    let event = match Event::parse(raw.as_bytes()) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "persisted zalo event unreadable: dropped");
            return ack(ch, entry).await;
        }
    };
    let (Some(oa_id), Some(user_id)) = (event.oa_id(), event.user_id()) else {
        return ack(ch, entry).await;
    };
    if let Some(wait) = retry_not_due(ch, entry).await? {
        return Err(ProcessError::NotDue(wait));
    }
    let key = dialogue_key(oa_id, user_id);
    let lock = DialogueLock::acquire(ch, &key).await?;
    let result = process_held(ch, entry, &event, raw, &key, &lock).await;
    lock.release().await;
    result
}

/// The part of [`process_entry`] under the dialogue lock: an event already processed (by this
/// or another instance, whose acknowledgement this delivery raced) is only acknowledged; the
/// seen marker and the acknowledgement are written before the lock is released, so the next
/// holder never applies the event twice.
async fn process_held<I: Intake, S: ChannelStorage>(
    ch: &ZaloChannel<I, S>,
    entry: &StreamEntry,
    event: &Event,
    raw: &str,
    key: &str,
    lock: &DialogueLock<S>,
) -> Result<(), ProcessError> {
    // Numbered events are applied in the webhook's order; unnumbered ones (stored before the
    // numbering, and the gateway's own inspection results) as they come.
    let order = match entry.payload.get(NUMBER_FIELD).and_then(|v| v.as_u64()) {
        Some(seq) => {
            let applied: Applied = match ch.store.get(&applied_key(key)).await? {
                Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
                None => Applied::default(),
            };
            let received: Option<DateTime<Utc>> = entry
                .payload
                .get("received_at")
                .and_then(|v| serde_json::from_value(v.clone()).ok());
            let waited = received
                .and_then(|r| (ch.intake.now() - r).to_std().ok())
                .unwrap_or(Duration::ZERO);
            match order_of(&applied, seq, waited, ch.config.order_gap()) {
                Order::Done => return ack(ch, entry).await,
                Order::Wait => return Err(ProcessError::Pending),
                Order::Apply => {
                    if seq > applied.last + 1 {
                        // Every number belongs to a stored event: this one waited
                        // `zalo.order_gap_secs` for earlier events that never came back (an
                        // entry lost with the store's data, or pending far longer than a dead
                        // instance's lock and claim last).
                        tracing::warn!(
                            missing = seq - applied.last - 1,
                            "zalo conversation gap skipped: later event applied before earlier ones"
                        );
                        metrics::counter!("gateway_zalo_order_gaps_skipped_total").increment(1);
                    }
                    Some(applied.with(seq))
                }
            }
        }
        None => None,
    };
    // A repeated delivery of an event already processed (a Zalo retry persisted again, with a
    // number of its own) takes its turn, and only counts as applied.
    let seen = super::webhook::seen_key(&event.dedup_key());
    if ch.store.get(&seen).await?.is_some() {
        if let Some(applied) = &order {
            record_applied(ch, key, applied).await?;
        }
        return ack(ch, entry).await;
    }
    match process_locked(ch, event, raw, key, entry.deliveries, lock).await {
        Ok(()) => {}
        Err(e @ ProcessError::Media(_)) => {
            schedule_retry(ch, entry).await;
            return Err(e);
        }
        Err(e) => return Err(e),
    }
    if let Some(applied) = &order {
        // Before the acknowledgement: the next event of the conversation may go on.
        record_applied(ch, key, applied).await?;
    }
    // Zalo's later retries of this event are now answered without being persisted again.
    let ttl = Duration::from_secs(ch.config.seen_ttl_secs);
    if let Err(e) = ch.store.put(&seen, b"1", Some(ttl)).await {
        tracing::warn!(error = %e, "zalo dedup marker not stored");
    }
    if entry.deliveries > 0 {
        let _ = ch.store.delete(&retry_key(&entry.entry_id)).await;
    }
    ack(ch, entry).await
}

/// Store the conversation's [`Applied`] record (under the dialogue lock).
async fn record_applied<I: Intake, S: ChannelStorage>(
    ch: &ZaloChannel<I, S>,
    dialogue: &str,
    applied: &Applied,
) -> Result<(), ProcessError> {
    let bytes = serde_json::to_vec(applied).map_err(StoreError::new)?;
    let ttl = ch.config.dialogue_ttl() + EXPIRY_GRACE;
    ch.store
        .put(&applied_key(dialogue), &bytes, Some(ttl))
        .await?;
    Ok(())
}

async fn ack<I: Intake, S: ChannelStorage>(
    ch: &ZaloChannel<I, S>,
    entry: &StreamEntry,
) -> Result<(), ProcessError> {
    ch.store.ack(EVENTS_STREAM, &entry.entry_id).await?;
    Ok(())
}

/// How long until a retry of this entry is due, when an earlier delivery's medium failed
/// transiently and the back-off has not run out (re-deliveries of the stream come every claim
/// timeout; they are left alone until then).
async fn retry_not_due<I: Intake, S: ChannelStorage>(
    ch: &ZaloChannel<I, S>,
    entry: &StreamEntry,
) -> Result<Option<Duration>, ProcessError> {
    if entry.deliveries == 0 {
        return Ok(None);
    }
    let Some(bytes) = ch.store.get(&retry_key(&entry.entry_id)).await? else {
        return Ok(None);
    };
    let due: i64 = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let now = ch.intake.now().timestamp_millis();
    Ok((now < due).then(|| Duration::from_millis((due - now) as u64)))
}

/// Record when the next attempt at an entry whose medium failed transiently is due:
/// `zalo.media_retry_base_secs · 2^deliveries`, capped.
async fn schedule_retry<I: Intake, S: ChannelStorage>(ch: &ZaloChannel<I, S>, entry: &StreamEntry) {
    let wait = ch.config.media_retry_wait(entry.deliveries);
    let due = ch.intake.now().timestamp_millis()
        + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2);
    let ttl = wait + Duration::from_secs(24 * 3600);
    if let Err(e) = ch
        .store
        .put(
            &retry_key(&entry.entry_id),
            due.to_string().as_bytes(),
            Some(ttl),
        )
        .await
    {
        tracing::warn!(error = %e, "zalo media retry time not stored: retried at the next delivery");
    }
}

/// The lock on one dialogue, held by this process (`lock_owner`) and renewed every third of
/// `zalo.lock_ttl_secs` by a heartbeat (compare-and-swap on the owner) while the event is
/// processed, however long a media download takes. When a renewal finds the lock gone or
/// taken, [`DialogueLock::lost`] turns true and the event's effects are not written.
struct DialogueLock<S> {
    store: Arc<S>,
    key: String,
    owner: String,
    lost: Arc<AtomicBool>,
    stop: CancellationToken,
    heartbeat: tokio::task::JoinHandle<()>,
}

impl<S: ChannelStorage> DialogueLock<S> {
    async fn acquire<I: Intake>(
        ch: &ZaloChannel<I, S>,
        dialogue: &str,
    ) -> Result<DialogueLock<S>, ProcessError> {
        let key = format!("{dialogue}:lock");
        let ttl = ch.config.lock_ttl();
        let owner = ch.lock_owner.clone();
        if !ch
            .store
            .put_if_absent(&key, owner.as_bytes(), Some(ttl))
            .await?
            && !take_over(ch, &key, ttl).await?
        {
            return Err(ProcessError::Busy);
        }
        let lost = Arc::new(AtomicBool::new(false));
        let stop = CancellationToken::new();
        let heartbeat = tokio::spawn(renew(
            ch.store.clone(),
            key.clone(),
            owner.clone(),
            ttl,
            lost.clone(),
            stop.clone(),
        ));
        Ok(DialogueLock {
            store: ch.store.clone(),
            key,
            owner,
            lost,
            stop,
            heartbeat,
        })
    }

    fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Stop renewing and delete the lock if it is still this process's.
    async fn release(self) {
        self.stop.cancel();
        let _ = self.heartbeat.await;
        let _ = self
            .store
            .compare_and_swap(&self.key, Some(self.owner.as_bytes()), None, None)
            .await;
    }
}

/// Take the dialogue lock `key` over from a previous run of this instance (killed before it
/// released it): a restart does not wait `zalo.lock_ttl_secs` for its own dead locks. A lock of
/// another instance, or of a run that may still be alive, is left alone.
async fn take_over<I: Intake, S: ChannelStorage>(
    ch: &ZaloChannel<I, S>,
    key: &str,
    ttl: Duration,
) -> Result<bool, ProcessError> {
    let Some(held) = ch.store.get(key).await? else {
        return Ok(false);
    };
    let ours = super::LockOwner::parse(&ch.lock_owner);
    let dead = std::str::from_utf8(&held)
        .ok()
        .and_then(super::LockOwner::parse)
        .zip(ours)
        .is_some_and(|(theirs, ours)| theirs.previous_run(&ours));
    if !dead {
        return Ok(false);
    }
    let taken = ch
        .store
        .compare_and_swap(key, Some(&held), Some(ch.lock_owner.as_bytes()), Some(ttl))
        .await?;
    if taken {
        tracing::info!("zalo dialogue lock of this instance's previous run taken over");
        metrics::counter!("gateway_zalo_locks_taken_over_total").increment(1);
    }
    Ok(taken)
}

async fn renew<S: ChannelStorage>(
    store: Arc<S>,
    key: String,
    owner: String,
    ttl: Duration,
    lost: Arc<AtomicBool>,
    stop: CancellationToken,
) {
    let every = ttl / 3;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match store
            .compare_and_swap(
                &key,
                Some(owner.as_bytes()),
                Some(owner.as_bytes()),
                Some(ttl),
            )
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!("zalo dialogue lock lost while processing an event");
                lost.store(true, Ordering::SeqCst);
                return;
            }
            // Tried again at the next beat; a lock that lapsed meanwhile fails that one.
            Err(e) => tracing::warn!(error = %e, "zalo dialogue lock not renewed"),
        }
    }
}

async fn process_locked<I: Intake, S: ChannelStorage>(
    ch: &ZaloChannel<I, S>,
    event: &Event,
    raw: &str,
    key: &str,
    deliveries: u64,
    lock: &DialogueLock<S>,
) -> Result<(), ProcessError> {
    let (Some(oa_id), Some(user_id)) = (event.oa_id(), event.user_id()) else {
        return Ok(());
    };
    let state: Option<Dialogue> = match ch.store.get(key).await? {
        Some(bytes) => serde_json::from_slice(&bytes).ok(),
        None => None,
    };
    let now = ch.intake.now();
    let env = StepEnv {
        now,
        ttl: chrono::Duration::seconds(ch.config.dialogue_ttl().as_secs() as i64),
        validator: &ch.validator,
        config: &ch.validation,
        geo: Some(Geo::embedded()),
    };
    // Outside a draft, a text may answer the IOC about an earlier report (a request for
    // detail, the rating of a result, or quoting the code): it joins that report.
    if state.is_none() {
        if let Some(done) = answer_outside_draft(ch, event, raw, oa_id, user_id, lock).await? {
            return Ok(done);
        }
    }
    let t = zalo::step(state, event, raw, &env);
    if t.duplicate {
        return Ok(());
    }
    let origin = Origin::ZaloOa {
        oa_id: oa_id.to_string(),
        user_id: user_id.to_string(),
    };
    let mut outbound: Vec<Outbound> = t.prompts.iter().flat_map(|p| render(p, &origin)).collect();
    let mut discard = t.discard;
    let mut state = t.state;
    if let Some(submit) = t.submit {
        let staged = submit.draft.staged_files();
        let submitted = submit_report(ch, submit, &origin, now, deliveries).await?;
        outbound.extend(submitted.outbound);
        match submitted.held {
            // No evidence could be fetched: the draft stays, waiting for a new photo.
            Some(draft) => {
                state = Some(Dialogue::Collecting(Collecting {
                    draft,
                    asked: Some(zalo::Step::Media),
                    replace_description: false,
                    owed: false,
                }))
            }
            // Committed files were moved away; what is left is not needed any more.
            None => discard.extend(staged),
        }
    }
    // Another instance may hold the dialogue now: say and store nothing (the report itself,
    // if any, is bound to the confirming message and is not stored twice).
    if lock.lost() {
        return Err(ProcessError::LockLost);
    }
    for o in &outbound {
        let payload = serde_json::to_value(o).map_err(StoreError::new)?;
        ch.store.push(OUTBOUND_STREAM, payload).await?;
    }
    match state {
        Some(state) => {
            let bytes = serde_json::to_vec(&state).map_err(StoreError::new)?;
            let ttl = ch.config.dialogue_ttl() + EXPIRY_GRACE;
            ch.store.put(key, &bytes, Some(ttl)).await?;
        }
        None => ch.store.delete(key).await?,
    }
    for name in &discard {
        remove_staged(&ch.staging_dir, name).await;
    }
    for medium in t.inspect {
        tokio::spawn(inspect(
            Inspector::of(ch),
            oa_id.to_string(),
            user_id.to_string(),
            medium,
        ));
    }
    Ok(())
}

/// A user's text outside a draft handed to the gateway as a possible answer to one of their
/// reports (`Intake::answer`); `Some(())` when it was attached (and acknowledged), `None` when
/// it goes on through the dialogue as usual.
async fn answer_outside_draft<I: Intake, S: ChannelStorage>(
    ch: &ZaloChannel<I, S>,
    event: &Event,
    raw: &str,
    oa_id: &str,
    user_id: &str,
    lock: &DialogueLock<S>,
) -> Result<Option<()>, ProcessError> {
    if event.kind() != normalizers::zalo::EventKind::UserMessage {
        return Ok(None);
    }
    let Some(text) = event
        .message
        .as_ref()
        .and_then(|m| m.text.as_deref())
        .filter(|t| !t.trim().is_empty())
    else {
        return Ok(None);
    };
    let origin = Origin::ZaloOa {
        oa_id: oa_id.to_string(),
        user_id: user_id.to_string(),
    };
    let mut report = normalizers::report::Report::new(Envelope {
        id: String::new(),
        tracking_code: String::new(),
        channel: Channel::ZaloOa,
        channel_ref: event.msg_id().map(str::to_string),
        received_at: ch.intake.now(),
    });
    report.content.text = text.to_string();
    report.reporter.channel_identity = Some(user_id.to_string());
    let submission = crate::intake::Submission {
        dedup_key: format!(
            "zalo-answer:{}",
            ch.intake
                .keyed_digest(&format!("{oa_id}:{}", event.dedup_key()))
        ),
        raw: bytes::Bytes::from(raw.to_string()),
        report,
        media: Vec::new(),
        origin: origin.clone(),
    };
    let answered = match ch.intake.answer(submission).await {
        Ok(crate::intake::Answer::Attached(a)) => a,
        Ok(crate::intake::Answer::NotAnAnswer(_)) => return Ok(None),
        Err(crate::intake::IngestError::Unavailable(e)) => return Err(ProcessError::Ingest(e)),
        Err(e) => {
            // Not attachable (too long…): the dialogue takes it as the start of a report.
            tracing::info!(error = %e, "zalo text not taken as an answer");
            return Ok(None);
        }
    };
    if lock.lost() {
        return Err(ProcessError::LockLost);
    }
    let text = match answered.kind {
        crate::intake::AnsweredKind::Answer => {
            crate::templates::conversation::answer_received(&answered.tracking_code)
        }
        crate::intake::AnsweredKind::Rating => {
            crate::templates::conversation::rating_received(&answered.tracking_code)
        }
        crate::intake::AnsweredKind::RatingNeedsReason => {
            crate::templates::conversation::rating_needs_reason(&answered.tracking_code)
        }
        // Not attached (offensive words): told why once; the text starts no draft.
        crate::intake::AnsweredKind::Refused => {
            crate::templates::conversation::answer_refused(&answered.tracking_code)
        }
    };
    let ack = outbound(
        &origin,
        Some(answered.report_id.clone()),
        "answer_ack",
        text,
    );
    let payload = serde_json::to_value(&ack).map_err(StoreError::new)?;
    ch.store
        .push_once(
            OUTBOUND_STREAM,
            &format!("answer_ack:{}", answered.answer_id),
            payload,
        )
        .await?;
    Ok(Some(()))
}

/// Delete a staged file of the dialogue by its bare name (anything else is refused).
async fn remove_staged(dir: &Path, name: &str) {
    if !is_staged_name(name) {
        tracing::warn!("zalo staged file name refused");
        return;
    }
    match tokio::fs::remove_file(dir.join(name)).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(error = %e, "zalo staged file not removed"),
    }
}

/// A name [`media::download`] gives: `zalo-<hex>.part`, no directory.
fn is_staged_name(name: &str) -> bool {
    name.strip_prefix("zalo-")
        .and_then(|n| n.strip_suffix(".part"))
        .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// What a background inspection needs of the channel.
struct Inspector<S> {
    store: Arc<S>,
    config: Arc<super::ZaloConfig>,
    http: reqwest::Client,
    staging_dir: PathBuf,
    permits: Arc<Semaphore>,
    clock: super::Clock,
}

impl<S: ChannelStorage> Inspector<S> {
    fn of<I: Intake>(ch: &ZaloChannel<I, S>) -> Inspector<S> {
        let intake = ch.intake.clone();
        Inspector {
            store: ch.store.clone(),
            config: ch.config.clone(),
            http: ch.media_http.clone(),
            staging_dir: ch.staging_dir.clone(),
            permits: ch.inspections.clone(),
            clock: Arc::new(move || intake.now()),
        }
    }
}

/// Download and read one medium of a draft (at most `zalo.media_inspections` at once), then put
/// the result on `zalo:events` for the dialogue. A failed download is reported too (the medium
/// is downloaded again at "Gửi"), so an answer waiting for it is never lost.
async fn inspect<S: ChannelStorage>(
    ins: Inspector<S>,
    oa_id: String,
    user_id: String,
    m: MediaRef,
) {
    let Ok(_permit) = ins.permits.clone().acquire_owned().await else {
        return;
    };
    let mut inspection = Inspection {
        media: m.msg_id.clone(),
        ..Inspection::default()
    };
    match media::download(&ins.http, &ins.config, &m.url, &ins.staging_dir, &m.msg_id).await {
        Ok(d) => {
            let claimed = m.claimed_type.clone().or(d.content_type.clone());
            let path = d.path.clone();
            let read = tokio::task::spawn_blocking(move || {
                let file = std::fs::File::open(&path)?;
                let mut reader = std::io::BufReader::new(file);
                Ok::<_, std::io::Error>(normalizers::media::inspect(
                    &mut reader,
                    claimed.as_deref(),
                ))
            })
            .await;
            match read {
                Ok(Ok(info)) => {
                    inspection.staged =
                        d.path.file_name().map(|n| n.to_string_lossy().into_owned());
                    inspection.size = Some(d.size);
                    inspection.kind = info.kind;
                    inspection.media_type = Some(info.media_type);
                    inspection.width = info.width;
                    inspection.height = info.height;
                    inspection.duration_ms = info.duration_ms;
                    inspection.captured_at = info.captured_at;
                    inspection.captured_at_source = Some(info.captured_at_source);
                    inspection.captured_offset_minutes = info.captured_offset_minutes;
                    inspection.gps = info.gps;
                    inspection.unreadable = info.unreadable;
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "zalo medium not readable after download");
                    inspection.failed = true;
                    let _ = tokio::fs::remove_file(&d.path).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, "zalo medium inspection panicked");
                    inspection.failed = true;
                    let _ = tokio::fs::remove_file(&d.path).await;
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "zalo medium not inspected");
            inspection.failed = true;
        }
    }
    let now = (ins.clock)();
    let event = serde_json::json!({
        "event_name": zalo::INSPECTED_EVENT,
        "sender": {"id": user_id},
        "recipient": {"id": oa_id},
        "inspection": inspection,
        "timestamp": now.timestamp_millis().to_string(),
    });
    let entry = serde_json::json!({"raw": event.to_string(), "received_at": now});
    if let Err(e) = ins.store.push(EVENTS_STREAM, entry).await {
        tracing::error!(error = %e, "zalo inspection result not stored");
        if let Some(name) = &inspection.staged {
            remove_staged(&ins.staging_dir, name).await;
        }
    }
}

/// How often the sweeper looks for staged media of drafts nobody came back to.
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// Delete staged Zalo media older than any draft can be (the dialogue TTL and the grace its
/// state is kept for): drafts that expired without another event never discard their files.
pub(crate) async fn run_sweeper<I: Intake, S: ChannelStorage>(ch: Arc<ZaloChannel<I, S>>) {
    let max_age = ch.config.dialogue_ttl() + EXPIRY_GRACE;
    loop {
        let removed = sweep_staged(&ch.staging_dir, max_age).await;
        if removed > 0 {
            tracing::info!(removed, "stale zalo staged media removed");
        }
        if ch.pause(SWEEP_EVERY).await {
            return;
        }
    }
}

/// Remove the dialogue's staged files (see [`is_staged_name`]) older than `max_age`.
pub(crate) async fn sweep_staged(dir: &Path, max_age: Duration) -> usize {
    crate::staging::sweep_old_files(dir, max_age, is_staged_name).await
}

/// What became of a confirmed draft.
struct Submitted {
    /// What to tell the citizen.
    outbound: Vec<Outbound>,
    /// Not submitted: no photo, video or recording could be fetched and the regulation needs
    /// one. The draft without the lost media, to keep collecting.
    held: Option<Draft>,
}

/// Download the media, hand the report to the pipeline, and word the answer. Media given up
/// (a 4xx answer, or transient failures past `zalo.media_max_deliveries`) are recorded in the
/// report's `lost_media`; when none of the evidence could be fetched and the regulation needs
/// it (MEDIA_MISSING rejects), nothing is submitted and the citizen is asked to send it again.
async fn submit_report<I: Intake, S: ChannelStorage>(
    ch: &ZaloChannel<I, S>,
    submit: Submit,
    origin: &Origin,
    now: DateTime<Utc>,
    deliveries: u64,
) -> Result<Submitted, ProcessError> {
    // This is delivery number `deliveries + 1`: the last one that waits for a failing CDN.
    let give_up = deliveries + 1 >= ch.config.media_max_deliveries.max(1);
    let envelope = Envelope {
        id: String::new(),
        tracking_code: String::new(),
        channel: Channel::ZaloOa,
        channel_ref: Some(submit.dedup_key.clone()),
        received_at: now,
    };
    let (mut report, refs) = submit.draft.to_report(envelope);
    let mut inputs = Vec::with_capacity(refs.len());
    // Files downloaded here (not staged by an inspection of the draft).
    let mut fetched_here = Vec::new();
    let mut fetched_evidence = false;
    for r in &refs {
        if let Some(path) = staged_path(&ch.staging_dir, r).await {
            fetched_evidence |= r.kind != MediaKind::Document;
            inputs.push(MediaInput {
                file_name: r.file_name.clone(),
                claimed_type: r.claimed_type.clone(),
                source: MediaSource::File(path),
                sent_at: r.sent_at,
                vouched_capture: None,
            });
            continue;
        }
        // Not inspected yet, or its file is gone: download it now, under a name of its own (an
        // inspection of the same medium may still be writing the other).
        let key = format!("{}#submit", r.msg_id);
        match media::download(&ch.media_http, &ch.config, &r.url, &ch.staging_dir, &key).await {
            Ok(d) => {
                fetched_evidence |= r.kind != MediaKind::Document;
                fetched_here.push(d.path.clone());
                inputs.push(MediaInput {
                    file_name: r.file_name.clone(),
                    claimed_type: r.claimed_type.clone().or(d.content_type),
                    source: MediaSource::File(d.path),
                    sent_at: r.sent_at,
                    vouched_capture: None,
                })
            }
            Err(e) if e.is_transient() && !give_up => {
                for path in &fetched_here {
                    let _ = tokio::fs::remove_file(path).await;
                }
                return Err(ProcessError::Media(e));
            }
            Err(e) => {
                tracing::warn!(error = %e, deliveries, "zalo medium given up");
                report.lost_media.push(LostMedium {
                    kind: r.kind,
                    channel_ref: Some(r.msg_id.clone()),
                    file_name: r.file_name.clone(),
                    sent_at: r.sent_at,
                    reason: e.lost_reason(),
                });
            }
        }
    }
    let lost = report.lost_media.len();
    let evidence_lost = report
        .lost_media
        .iter()
        .any(|l| l.kind != MediaKind::Document);
    if evidence_lost
        && !fetched_evidence
        && ch.validation.action(Code::MediaMissing) == Action::Reject
    {
        for path in &fetched_here {
            let _ = tokio::fs::remove_file(path).await;
        }
        let mut draft = submit.draft;
        let gone: HashSet<&str> = report
            .lost_media
            .iter()
            .filter_map(|l| l.channel_ref.as_deref())
            .collect();
        draft.media.retain(|m| !gone.contains(m.msg_id.as_str()));
        return Ok(Submitted {
            outbound: vec![outbound(origin, None, "prompt", tpl::media_resend(lost))],
            held: Some(draft),
        });
    }
    let submission = Submission {
        dedup_key: format!("zalo:{}", submit.dedup_key),
        raw: submit.draft.raw_original().into_bytes().into(),
        report,
        media: inputs,
        origin: origin.clone(),
    };
    let mut out = Vec::new();
    if lost > 0 {
        out.push(outbound(origin, None, "prompt", tpl::media_failed(lost)));
    }
    let sent = |outbound| {
        Ok(Submitted {
            outbound,
            held: None,
        })
    };
    match ch.intake.ingest(submission).await {
        Ok(outcome) => {
            let report_id = Some(outcome.id.clone());
            if outcome.verdict.status == Status::Rejected {
                let reasons: Vec<String> = outcome
                    .verdict
                    .reasons
                    .iter()
                    .map(|f| f.message.clone())
                    .collect();
                out.push(outbound(
                    origin,
                    report_id,
                    "rejection",
                    tpl::rejected(&outcome.tracking_code, &reasons),
                ));
            } else {
                out.push(outbound(
                    origin,
                    report_id,
                    "ack",
                    tpl::accepted(&outcome.tracking_code),
                ));
            }
            sent(out)
        }
        Err(IngestError::Unavailable(e)) => Err(ProcessError::Ingest(e)),
        Err(IngestError::Invalid(e)) => {
            tracing::warn!(error = %e, "zalo submission refused by the pipeline");
            out.push(outbound(origin, None, "prompt", tpl::NOT_READY.to_string()));
            sent(out)
        }
        Err(IngestError::Internal(e)) => {
            tracing::error!(error = %e, "zalo submission not taken: gateway error");
            out.push(outbound(origin, None, "prompt", tpl::NOT_TAKEN.to_string()));
            sent(out)
        }
    }
}

/// The staged file of an inspected medium, when it is still there.
async fn staged_path(dir: &Path, m: &MediaRef) -> Option<PathBuf> {
    let name = m.staged().filter(|n| is_staged_name(n))?;
    let path = dir.join(name);
    tokio::fs::try_exists(&path)
        .await
        .unwrap_or(false)
        .then_some(path)
}

fn outbound(origin: &Origin, report_id: Option<String>, kind: &str, text: String) -> Outbound {
    Outbound {
        report_id,
        origin: origin.clone(),
        kind: kind.to_string(),
        text,
        html: None,
        attempts: 0,
        message_id: None,
    }
}

/// The OA's answer to one prompt: one text, or the `request_user_info` form with its text.
pub fn render(prompt: &Prompt, origin: &Origin) -> Vec<Outbound> {
    let text = |s: String| vec![outbound(origin, None, "prompt", s)];
    // A text about the contact is followed by Zalo's form that shares name and phone.
    let with_form = |mut out: Vec<Outbound>, contact: bool| {
        if contact {
            out.push(outbound(
                origin,
                None,
                "request_user_info",
                tpl::REQUEST_INFO_SUBTITLE.into(),
            ));
        }
        out
    };
    match prompt {
        Prompt::Welcome => text(tpl::WELCOME.into()),
        Prompt::Ask(step) => with_form(text(tpl::ask(*step).into()), *step == zalo::Step::Contact),
        Prompt::Fix { step, messages } => with_form(
            text(tpl::fix(*step, messages)),
            *step == zalo::Step::Contact,
        ),
        Prompt::Summary {
            description,
            media,
            coordinates,
            address,
            name,
            phone,
            notes,
        } => text(tpl::summary(
            description,
            *media,
            *coordinates,
            address.as_deref(),
            name.as_deref(),
            phone.as_deref(),
            notes,
        )),
        Prompt::NotReady => text(tpl::NOT_READY.into()),
        Prompt::Cancelled => text(tpl::CANCELLED.into()),
        Prompt::Restarted => text(tpl::RESTARTED.into()),
        Prompt::Expired => text(tpl::EXPIRED.into()),
        Prompt::DraftFull => text(tpl::DRAFT_FULL.into()),
        Prompt::Unsupported => text(tpl::UNSUPPORTED.into()),
        Prompt::StillMissing(missing) => with_form(
            text(tpl::still_missing(missing)),
            missing.first() == Some(&zalo::Step::Contact),
        ),
        Prompt::MediaRefused(refusal) => text(tpl::media_refused(refusal)),
    }
}

#[cfg(test)]
mod order_tests {
    use super::{order_of, Applied, Order, SKIPPED_KEPT};
    use std::time::Duration;

    const GAP: Duration = Duration::from_secs(120);

    #[test]
    fn numbered_events_are_applied_one_after_the_other() {
        let none = Applied::default();
        assert_eq!(order_of(&none, 1, Duration::ZERO, GAP), Order::Apply);
        assert_eq!(order_of(&none, 2, Duration::ZERO, GAP), Order::Wait);
        let one = none.with(1);
        assert_eq!(one.last, 1);
        assert!(one.skipped.is_empty());
        assert_eq!(order_of(&one, 1, Duration::ZERO, GAP), Order::Done);
        assert_eq!(order_of(&one, 2, Duration::ZERO, GAP), Order::Apply);
        assert_eq!(order_of(&one, 3, GAP / 2, GAP), Order::Wait);
    }

    #[test]
    fn a_gap_is_skipped_after_the_wait_and_its_late_events_still_applied() {
        let one = Applied::default().with(1);
        assert_eq!(order_of(&one, 4, GAP, GAP), Order::Apply);
        let four = one.with(4);
        assert_eq!(four.last, 4);
        assert_eq!(four.skipped, vec![2, 3]);
        // The late ones come: applied once each.
        assert_eq!(order_of(&four, 3, Duration::ZERO, GAP), Order::Apply);
        let late = four.with(3);
        assert_eq!(late.last, 4);
        assert_eq!(late.skipped, vec![2]);
        assert_eq!(order_of(&late, 3, Duration::ZERO, GAP), Order::Done);
        assert_eq!(order_of(&late, 5, Duration::ZERO, GAP), Order::Apply);
    }

    #[test]
    fn the_skipped_numbers_kept_are_bounded() {
        let far = Applied::default().with(1).with(10_000);
        assert_eq!(far.skipped.len(), SKIPPED_KEPT);
        assert_eq!(*far.skipped.last().unwrap(), 9_999);
        let more = far.with(20_000);
        assert_eq!(more.skipped.len(), SKIPPED_KEPT);
        assert_eq!(*more.skipped.first().unwrap(), 20_000 - SKIPPED_KEPT as u64);
    }
}
