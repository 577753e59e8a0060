//! The event processor: takes persisted webhook events from `zalo:events`, runs them through the
//! conversation state machine under a per-dialogue lock, queues the OA's answers and, when the
//! citizen confirms, downloads the media and submits the report.
//!
//! An entry is acknowledged only after its effects are durable (state stored, answers queued,
//! report ingested); a failure leaves it to be handed out again. Re-processing is harmless: the
//! dialogue ignores events it already applied and `Intake::ingest` is idempotent on the
//! confirming `msg_id`.
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
use normalizers::validate::Status;
use normalizers::zalo::{self, Dialogue, Event, Inspection, MediaRef, Prompt, StepEnv, Submit};
use tokio::sync::{mpsc, Semaphore};

use crate::context::ChannelStorage;
use crate::intake::{
    IngestError, Intake, MediaInput, MediaSource, Origin, Outbound, StoreError, StreamEntry,
    Submission,
};
use crate::templates::zalo as tpl;

use super::{media, ZaloChannel, EVENTS_STREAM, OUTBOUND_STREAM};

/// Entries claimed per round.
const BATCH: usize = 32;
/// How long a dialogue lock is held at most.
const LOCK_TTL: Duration = Duration::from_secs(120);
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
}

pub(crate) fn dialogue_key(oa_id: &str, user_id: &str) -> String {
    format!("zalo:dialogue:{oa_id}:{user_id}")
}

/// Events of one conversation are processed in order by a worker of their own, so that a slow
/// medium of one citizen never holds up another citizen's conversation. A worker ends when its
/// conversation has been idle for this long.
const WORKER_IDLE: Duration = Duration::from_secs(5);

pub(crate) async fn run<I: Intake, S: ChannelStorage>(ch: Arc<ZaloChannel<I, S>>) {
    let mut workers: HashMap<String, mpsc::UnboundedSender<StreamEntry>> = HashMap::new();
    // Entries handed to a worker and not finished yet: a redelivery of one is not queued twice.
    let in_flight: Arc<Mutex<HashSet<String>>> = Arc::default();
    let mut tasks = tokio::task::JoinSet::new();
    while let Some(entries) = ch.next_batch(EVENTS_STREAM, BATCH).await {
        workers.retain(|_, tx| !tx.is_closed());
        while tasks.try_join_next().is_some() {}
        for entry in entries {
            if !lock_set(&in_flight).insert(entry.entry_id.clone()) {
                continue;
            }
            let key = conversation_of(&entry).unwrap_or_else(|| entry.entry_id.clone());
            let mut entry = entry;
            loop {
                let tx = workers.entry(key.clone()).or_insert_with(|| {
                    let (tx, rx) = mpsc::unbounded_channel();
                    tasks.spawn(conversation_worker(ch.clone(), rx, in_flight.clone()));
                    tx
                });
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

fn lock_set(set: &Mutex<HashSet<String>>) -> std::sync::MutexGuard<'_, HashSet<String>> {
    set.lock().unwrap_or_else(|p| p.into_inner())
}

/// The dialogue an entry belongs to, when it can be read.
fn conversation_of(entry: &StreamEntry) -> Option<String> {
    let raw = entry.payload.get("raw")?.as_str()?;
    let event = Event::parse(raw.as_bytes()).ok()?;
    Some(dialogue_key(event.oa_id()?, event.user_id()?))
}

async fn conversation_worker<I: Intake, S: ChannelStorage>(
    ch: Arc<ZaloChannel<I, S>>,
    mut rx: mpsc::UnboundedReceiver<StreamEntry>,
    in_flight: Arc<Mutex<HashSet<String>>>,
) {
    loop {
        match tokio::time::timeout(WORKER_IDLE, rx.recv()).await {
            Ok(Some(entry)) => handle_entry(&ch, &entry, &in_flight).await,
            Ok(None) => break,
            Err(_) => {
                // Idle: refuse new entries, then finish any sent meanwhile.
                rx.close();
                while let Ok(entry) = rx.try_recv() {
                    handle_entry(&ch, &entry, &in_flight).await;
                }
                break;
            }
        }
    }
}

async fn handle_entry<I: Intake, S: ChannelStorage>(
    ch: &ZaloChannel<I, S>,
    entry: &StreamEntry,
    in_flight: &Mutex<HashSet<String>>,
) {
    match process_entry(ch, entry).await {
        Ok(()) => {
            if let Err(e) = ch.store.ack(EVENTS_STREAM, &entry.entry_id).await {
                tracing::error!(error = %e, "zalo event not acknowledged");
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, entry = %entry.entry_id, "zalo event left for retry")
        }
    }
    lock_set(in_flight).remove(&entry.entry_id);
}

/// Process one persisted event. `Ok` means: acknowledge it.
pub async fn process_entry<I: Intake, S: ChannelStorage>(
    ch: &ZaloChannel<I, S>,
    entry: &StreamEntry,
) -> Result<(), ProcessError> {
    let Some(raw) = entry.payload.get("raw").and_then(|r| r.as_str()) else {
        tracing::error!(entry = %entry.entry_id, "zalo event entry without raw body: dropped");
        return Ok(());
    };
    let event = match Event::parse(raw.as_bytes()) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "persisted zalo event unreadable: dropped");
            return Ok(());
        }
    };
    let (Some(oa_id), Some(user_id)) = (event.oa_id(), event.user_id()) else {
        return Ok(());
    };
    let key = dialogue_key(oa_id, user_id);
    let lock = format!("{key}:lock");
    if !ch
        .store
        .put_if_absent(&lock, ch.lock_owner.as_bytes(), Some(LOCK_TTL))
        .await?
    {
        return Err(ProcessError::Busy);
    }
    let result = process_locked(ch, &event, raw, &key, oa_id, user_id, entry.deliveries).await;
    let _ = ch
        .store
        .compare_and_swap(&lock, Some(ch.lock_owner.as_bytes()), None, None)
        .await;
    if result.is_ok() {
        // Zalo's later retries of this event are now answered without being persisted again.
        let seen = super::webhook::seen_key(&event.dedup_key());
        let ttl = Duration::from_secs(ch.config.seen_ttl_secs);
        if let Err(e) = ch.store.put(&seen, b"1", Some(ttl)).await {
            tracing::warn!(error = %e, "zalo dedup marker not stored");
        }
    }
    result
}

async fn process_locked<I: Intake, S: ChannelStorage>(
    ch: &ZaloChannel<I, S>,
    event: &Event,
    raw: &str,
    key: &str,
    oa_id: &str,
    user_id: &str,
    deliveries: u64,
) -> Result<(), ProcessError> {
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
    if let Some(submit) = t.submit {
        let staged = submit.draft.staged_files();
        outbound.extend(submit_report(ch, submit, &origin, now, deliveries).await?);
        // Committed files were moved away; what is left is not needed any more.
        discard.extend(staged);
    }
    for o in &outbound {
        let payload = serde_json::to_value(o).map_err(StoreError::new)?;
        ch.store.push(OUTBOUND_STREAM, payload).await?;
    }
    match t.state {
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

/// Download the media, hand the report to the pipeline, and word the answer.
async fn submit_report<I: Intake, S: ChannelStorage>(
    ch: &ZaloChannel<I, S>,
    submit: Submit,
    origin: &Origin,
    now: DateTime<Utc>,
    deliveries: u64,
) -> Result<Vec<Outbound>, ProcessError> {
    // This is delivery number `deliveries + 1`: the last one that waits for a failing CDN.
    let give_up = deliveries + 1 >= ch.config.media_max_deliveries.max(1);
    let envelope = Envelope {
        id: String::new(),
        tracking_code: String::new(),
        channel: Channel::ZaloOa,
        channel_ref: Some(submit.dedup_key.clone()),
        received_at: now,
    };
    let (report, refs) = submit.draft.to_report(envelope);
    let mut inputs = Vec::with_capacity(refs.len());
    let mut failed = 0usize;
    for r in &refs {
        if let Some(path) = staged_path(&ch.staging_dir, r).await {
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
            Ok(d) => inputs.push(MediaInput {
                file_name: r.file_name.clone(),
                claimed_type: r.claimed_type.clone().or(d.content_type),
                source: MediaSource::File(d.path),
                sent_at: r.sent_at,
                vouched_capture: None,
            }),
            Err(e) if e.is_transient() && !give_up => return Err(ProcessError::Media(e)),
            Err(e) => {
                tracing::warn!(error = %e, deliveries, "zalo medium given up");
                failed += 1;
            }
        }
    }
    let submission = Submission {
        dedup_key: format!("zalo:{}", submit.dedup_key),
        raw: submit.draft.raw_original().into_bytes().into(),
        report,
        media: inputs,
        origin: origin.clone(),
    };
    let mut out = Vec::new();
    if failed > 0 {
        out.push(outbound(origin, None, "prompt", tpl::media_failed(failed)));
    }
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
            Ok(out)
        }
        Err(IngestError::Unavailable(e)) => Err(ProcessError::Ingest(e)),
        Err(IngestError::Invalid(e)) => {
            tracing::warn!(error = %e, "zalo submission refused by the pipeline");
            out.push(outbound(origin, None, "prompt", tpl::NOT_READY.to_string()));
            Ok(out)
        }
        Err(IngestError::Internal(e)) => {
            tracing::error!(error = %e, "zalo submission not taken: gateway error");
            out.push(outbound(origin, None, "prompt", tpl::NOT_TAKEN.to_string()));
            Ok(out)
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
