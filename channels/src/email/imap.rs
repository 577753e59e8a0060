//! The IMAP poller: connect (IMAPS, STARTTLS or plain), hold the lease, fetch every unprocessed
//! message with BODY.PEEK, hand it to the [`Processor`], and only then move it to the processed
//! (or failed) folder; wait with IDLE where the server has it, else poll. Any error drops the
//! connection and reconnects with backoff: nothing is acknowledged that is not durable, so a
//! repeat is harmless (the intake is idempotent on the Message-ID).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use async_imap::{Client, Session};
use bytes::Bytes;
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio_rustls::rustls::ClientConfig;
use tokio_util::sync::CancellationToken;

use super::config::{EmailConfig, TlsMode};
use super::lease::Lease;
use super::process::{Disposition, Processor};
use super::tls::{self, MailStream};
use crate::intake::{Intake, StateStore, Streams};

/// Keyword set on processed messages when the server can neither MOVE nor UID EXPUNGE.
const DONE_KEYWORD: &str = "$Gateway1022Done";

const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Messages fetched and processed together: their durable steps meet in the store's group
/// commit, and they are moved with one command.
const BATCH: usize = 32;
/// Bytes of messages held at once by a batch (a single larger message is still fetched alone).
const BATCH_BYTES: u64 = 64 << 20;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for any single IMAP command (a server that stops answering is a dead server).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("cannot connect to the IMAP server: {0}")]
    Connect(std::io::Error),
    #[error("IMAP login refused: {0}")]
    Login(async_imap::error::Error),
    #[error("IMAP server does not offer STARTTLS")]
    NoStarttls,
    #[error("IMAP command failed: {0}")]
    Imap(#[from] async_imap::error::Error),
    #[error("IMAP server did not answer within {0:?}")]
    Timeout(Duration),
    #[error("state store: {0}")]
    Store(#[from] crate::intake::StoreError),
    #[error("mailbox {0} has no UIDVALIDITY")]
    NoUidValidity(String),
}

/// Where the poller got to in one mailbox: every UID up to `last_uid` of `uid_validity` is
/// durable and moved out of the mailbox (or flagged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub uid_validity: u32,
    pub last_uid: u32,
}

pub(crate) struct Poller<I, S, T> {
    pub config: EmailConfig,
    pub password: normalizers::secret::Secret,
    pub tls: Arc<ClientConfig>,
    pub processor: Arc<Processor<I, S, T>>,
    pub lease: Lease,
    pub shutdown: CancellationToken,
}

enum Exit {
    Shutdown,
    LeaseLost,
}

/// An authenticated IMAP session over a plain or TLS connection.
pub type ImapSession = Session<MailStream>;

impl<I: Intake, S: Streams, T: StateStore> Poller<I, S, T> {
    /// Run until shutdown: wait for the lease, poll, reconnect with backoff on any error.
    pub async fn run(self) {
        let state = self.processor.state.clone();
        let mut backoff = Duration::from_secs(1);
        let mut connections = 0u64;
        let retry_lease = self.config.idle_timeout().min(Duration::from_secs(10));
        while !self.shutdown.is_cancelled() {
            match self.lease.acquire_or_renew(state.as_ref()).await {
                Ok(true) => {}
                Ok(false) => {
                    self.pause(retry_lease).await;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "email lease unavailable");
                    self.pause(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            }
            if connections > 0 {
                self.processor
                    .stats
                    .reconnects
                    .fetch_add(1, Ordering::Relaxed);
            }
            connections += 1;
            match self.session(&mut backoff).await {
                Ok(Exit::Shutdown) => break,
                Ok(Exit::LeaseLost) => {
                    tracing::info!("email lease lost to another instance; polling stops here");
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "IMAP session ended");
                    self.pause(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        if let Err(e) = self.lease.release(state.as_ref()).await {
            tracing::warn!(error = %e, "email lease not released; it expires by itself");
        }
    }

    async fn pause(&self, d: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = self.shutdown.cancelled() => {}
        }
    }

    /// One connection: select, drain the mailbox, wait for more, until error/shutdown/lease loss.
    async fn session(&self, backoff: &mut Duration) -> Result<Exit, ImapError> {
        let mut session = connect(&self.config, self.password.expose(), self.tls.clone()).await?;
        let caps = timed(session.capabilities()).await??;
        let can_move = caps.has_str("MOVE");
        let can_uid_expunge = caps.has_str("UIDPLUS");
        let can_idle = caps.has_str("IDLE");
        for folder in [&self.config.processed_folder, &self.config.failed_folder] {
            ensure_folder(&mut session, folder).await?;
        }
        let mailbox = timed(session.select(&self.config.mailbox)).await??;
        let uid_validity = mailbox
            .uid_validity
            .ok_or_else(|| ImapError::NoUidValidity(self.config.mailbox.clone()))?;
        tracing::info!(can_move, can_idle, "IMAP session open");
        *backoff = Duration::from_secs(1);
        let state = self.processor.state.clone();
        let checkpoint_key = format!("email:checkpoint:{}", self.config.mailbox);
        let mut checkpoint = load_checkpoint(state.as_ref(), &checkpoint_key).await?;
        if checkpoint.is_some_and(|c| c.uid_validity != uid_validity) {
            // The server renumbered the mailbox: start over; the intake's de-duplication on
            // Message-ID keeps re-read messages from becoming second reports.
            tracing::warn!("UIDVALIDITY changed; re-reading the whole mailbox");
            checkpoint = None;
        }
        let mut last_uid = checkpoint.map_or(0, |c| c.last_uid);

        loop {
            if self.shutdown.is_cancelled() {
                let _ = timed(session.logout()).await;
                return Ok(Exit::Shutdown);
            }
            let query = if can_move || can_uid_expunge {
                format!("UID {}:*", last_uid.saturating_add(1))
            } else {
                format!(
                    "UID {}:* UNKEYWORD {DONE_KEYWORD}",
                    last_uid.saturating_add(1)
                )
            };
            let mut uids: Vec<u32> = timed(session.uid_search(&query))
                .await??
                .into_iter()
                // `n:*` names the last message even when its UID is below n.
                .filter(|u| *u > last_uid)
                .collect();
            uids.sort_unstable();
            let mut stalled = false;
            let mut renewed = std::time::Instant::now();
            let mut pending = uids.as_slice();
            while !pending.is_empty() {
                if self.shutdown.is_cancelled() {
                    break;
                }
                // A backlog after downtime can take longer than the lease: renew as we go, so
                // that no other instance starts on the same messages.
                if renewed.elapsed() > self.lease.ttl() / 3 {
                    if !self.lease.acquire_or_renew(state.as_ref()).await? {
                        let _ = timed(session.logout()).await;
                        return Ok(Exit::LeaseLost);
                    }
                    renewed = std::time::Instant::now();
                }
                let batch = &pending[..pending.len().min(BATCH)];
                let fetched = self.fetch_batch(&mut session, batch).await?;
                pending = &pending[fetched.len()..];
                // The messages of a batch are processed at once, each in its own task (the
                // normalizer and the media inspection use every core; the durable steps meet in
                // the store's group commit); each is moved only once it is queued, in UID order,
                // and the first that must be retried stops the batch there.
                let tasks: Vec<_> = fetched
                    .iter()
                    .map(|(uid, f)| match f {
                        // Expunged by someone else between SEARCH and FETCH.
                        Fetched::Gone => None,
                        Fetched::TooLarge => {
                            tracing::warn!(
                                reason = "too_large",
                                "email larger than max_message_bytes"
                            );
                            self.processor.stats.failed.fetch_add(1, Ordering::Relaxed);
                            Some(Task::Done(Disposition::Failed("too_large")))
                        }
                        Fetched::Message(raw, internal_date) => {
                            let fallback =
                                format!("imap:{}:{uid_validity}:{uid}", self.config.mailbox);
                            let (processor, raw, date) =
                                (self.processor.clone(), raw.clone(), *internal_date);
                            Some(Task::Running(tokio::spawn(async move {
                                processor.handle_received(raw, &fallback, date).await
                            })))
                        }
                    })
                    .collect();
                let mut dispositions = Vec::with_capacity(tasks.len());
                for task in tasks {
                    dispositions.push(match task {
                        None => None,
                        Some(Task::Done(d)) => Some(d),
                        // A task that panicked stored nothing it did not finish: retry later.
                        Some(Task::Running(handle)) => Some(handle.await.unwrap_or_else(|e| {
                            tracing::error!(error = %e, "email processing task failed");
                            Disposition::Retry
                        })),
                    });
                }
                let mut processed = Vec::new();
                let mut failed = Vec::new();
                let mut done_upto = None;
                for ((uid, _), disposition) in fetched.iter().zip(dispositions) {
                    match disposition {
                        None => {}
                        Some(Disposition::Processed) => processed.push(*uid),
                        Some(Disposition::Failed(_)) => failed.push(*uid),
                        Some(Disposition::Retry) => {
                            stalled = true;
                            break;
                        }
                    }
                    done_upto = Some(*uid);
                }
                for (uids, folder) in [
                    (&processed, &self.config.processed_folder),
                    (&failed, &self.config.failed_folder),
                ] {
                    if !uids.is_empty() {
                        dispose(
                            &mut session,
                            &uid_set(uids),
                            folder,
                            can_move,
                            can_uid_expunge,
                        )
                        .await?;
                    }
                }
                if let Some(uid) = done_upto {
                    last_uid = uid;
                    let c = Checkpoint {
                        uid_validity,
                        last_uid,
                    };
                    save_checkpoint(state.as_ref(), &checkpoint_key, c).await?;
                }
                if stalled {
                    break;
                }
            }
            if !self.lease.acquire_or_renew(state.as_ref()).await? {
                let _ = timed(session.logout()).await;
                return Ok(Exit::LeaseLost);
            }
            if stalled {
                // The gateway could not store a message: wait, then try it again.
                self.pause(*backoff).await;
                *backoff = (*backoff * 2).min(MAX_BACKOFF);
                continue;
            }
            if self.shutdown.is_cancelled() {
                continue;
            }
            if can_idle {
                session = self.idle(session).await?;
            } else {
                self.pause(Duration::from_secs(self.config.poll_interval_secs.max(1)))
                    .await;
                timed(session.noop()).await??;
            }
        }
    }

    /// IDLE until the server reports a change, the IDLE timeout passes, or shutdown.
    async fn idle(&self, session: ImapSession) -> Result<ImapSession, ImapError> {
        let mut handle = session.idle();
        timed(handle.init()).await??;
        let (wait, stop) = handle.wait_with_timeout(self.config.idle_timeout());
        let result = tokio::select! {
            r = wait => r,
            _ = self.shutdown.cancelled() => Ok(IdleResponse::ManualInterrupt),
        };
        drop(stop);
        result?;
        let session = timed(handle.done()).await??;
        // EXISTS/EXPUNGE notices are not needed (the next SEARCH sees the mailbox as it is):
        // drain them so the bounded channel never fills.
        while session.unsolicited_responses.try_recv().is_ok() {}
        Ok(session)
    }

    /// Fetch a prefix of `uids` (at most [`BATCH`] messages and [`BATCH_BYTES`] bytes, at least
    /// one message) in two commands: their sizes, then the bodies of those within
    /// `max_message_bytes`. Every UID of the prefix is answered, `Gone` when expunged meanwhile.
    async fn fetch_batch(
        &self,
        session: &mut ImapSession,
        uids: &[u32],
    ) -> Result<Vec<(u32, Fetched)>, ImapError> {
        let set = uid_set(uids);
        let fetches: Vec<_> = timed(async {
            session
                .uid_fetch(&set, "(UID RFC822.SIZE)")
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await??;
        let size_of = |uid: u32| {
            fetches
                .iter()
                .find(|f| f.uid == Some(uid))
                .map(|f| f.size.unwrap_or(0))
        };
        let mut batch = Vec::new();
        let mut bytes = 0u64;
        for &uid in uids {
            let size = size_of(uid);
            let cost = u64::from(size.unwrap_or(0).min(self.config.max_message_bytes));
            if !batch.is_empty() && bytes + cost > BATCH_BYTES {
                break;
            }
            bytes += cost;
            batch.push((
                uid,
                match size {
                    None => Fetched::Gone,
                    Some(s) if s > self.config.max_message_bytes => Fetched::TooLarge,
                    Some(_) => Fetched::Gone, // replaced below by the body, if it comes
                },
                size.is_some_and(|s| s <= self.config.max_message_bytes),
            ));
        }
        let wanted: Vec<u32> = batch.iter().filter(|b| b.2).map(|b| b.0).collect();
        if !wanted.is_empty() {
            let bodies: Vec<_> = timed(async {
                session
                    .uid_fetch(uid_set(&wanted), "(UID INTERNALDATE BODY.PEEK[])")
                    .await?
                    .try_collect::<Vec<_>>()
                    .await
            })
            .await??;
            for (uid, fetched, want) in &mut batch {
                if !*want {
                    continue;
                }
                if let Some((b, date)) = bodies
                    .iter()
                    .find(|f| f.uid == Some(*uid))
                    .and_then(|f| f.body().map(|b| (b, f.internal_date())))
                {
                    *fetched = Fetched::Message(
                        Bytes::copy_from_slice(b),
                        date.map(|d| d.with_timezone(&chrono::Utc)),
                    );
                }
            }
        }
        Ok(batch.into_iter().map(|(uid, f, _)| (uid, f)).collect())
    }
}

/// An IMAP UID set: `4,5,9`.
fn uid_set(uids: &[u32]) -> String {
    uids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// One message of a batch: its disposition known at once, or its processing task.
enum Task {
    Done(Disposition),
    Running(tokio::task::JoinHandle<Disposition>),
}

enum Fetched {
    /// The message and when the server received it (INTERNALDATE).
    Message(Bytes, Option<chrono::DateTime<chrono::Utc>>),
    TooLarge,
    Gone,
}

/// Open, greet, (STARTTLS,) log in.
pub async fn connect(
    config: &EmailConfig,
    password: &str,
    tls_config: Arc<ClientConfig>,
) -> Result<ImapSession, ImapError> {
    let host = config.imap_host.as_deref().unwrap_or_default();
    let port = config.imap_port();
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port)))
        .await
        .map_err(|_| ImapError::Timeout(CONNECT_TIMEOUT))?
        .map_err(ImapError::Connect)?;
    let stream = match config.imap_tls {
        TlsMode::Implicit => MailStream::Tls(Box::new(
            timed(tls::wrap(tls_config, host, tcp))
                .await?
                .map_err(ImapError::Connect)?,
        )),
        TlsMode::None => MailStream::Plain(tcp),
        TlsMode::Starttls => {
            let mut client = Client::new(MailStream::Plain(tcp));
            timed(client.read_response())
                .await?
                .map_err(ImapError::Connect)?;
            timed(client.run_command_and_check_ok("STARTTLS", None))
                .await?
                .map_err(|_| ImapError::NoStarttls)?;
            let MailStream::Plain(tcp) = client.into_inner() else {
                return Err(ImapError::NoStarttls);
            };
            MailStream::Tls(Box::new(
                timed(tls::wrap(tls_config, host, tcp))
                    .await?
                    .map_err(ImapError::Connect)?,
            ))
        }
    };
    let mut client = Client::new(stream);
    if config.imap_tls != TlsMode::Starttls {
        // The greeting (after STARTTLS there is none).
        timed(client.read_response())
            .await?
            .map_err(ImapError::Connect)?;
    }
    timed(client.login(&config.imap_user, password))
        .await?
        .map_err(|(e, _)| ImapError::Login(e))
}

async fn ensure_folder(session: &mut ImapSession, folder: &str) -> Result<(), ImapError> {
    let exists = timed(async {
        session
            .list(None, Some(folder))
            .await?
            .try_collect::<Vec<_>>()
            .await
    })
    .await??
    .iter()
    .any(|n| n.name() == folder);
    if !exists {
        timed(session.create(folder)).await??;
        tracing::info!(folder, "IMAP folder created");
    }
    Ok(())
}

/// Move a message out of the mailbox: MOVE, else COPY + \Deleted + UID EXPUNGE, else COPY and
/// mark it done with a keyword (it stays, but is never fetched again).
async fn dispose(
    session: &mut ImapSession,
    set: &str,
    folder: &str,
    can_move: bool,
    can_uid_expunge: bool,
) -> Result<(), ImapError> {
    if can_move {
        timed(session.uid_mv(&set, folder)).await??;
        return Ok(());
    }
    timed(session.uid_copy(&set, folder)).await??;
    if can_uid_expunge {
        timed(async {
            session
                .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await??;
        timed(async {
            session
                .uid_expunge(&set)
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await??;
    } else {
        timed(async {
            session
                .uid_store(&set, format!("+FLAGS.SILENT ({DONE_KEYWORD})"))
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await??;
    }
    Ok(())
}

async fn load_checkpoint<T: StateStore>(
    state: &T,
    key: &str,
) -> Result<Option<Checkpoint>, ImapError> {
    Ok(state
        .get(key)
        .await?
        .and_then(|b| serde_json::from_slice(&b).ok()))
}

async fn save_checkpoint<T: StateStore>(
    state: &T,
    key: &str,
    c: Checkpoint,
) -> Result<(), ImapError> {
    let bytes = serde_json::to_vec(&c).map_err(crate::intake::StoreError::new)?;
    state.put(key, &bytes, None).await?;
    Ok(())
}

async fn timed<F: std::future::Future>(f: F) -> Result<F::Output, ImapError> {
    tokio::time::timeout(COMMAND_TIMEOUT, f)
        .await
        .map_err(|_| ImapError::Timeout(COMMAND_TIMEOUT))
}
