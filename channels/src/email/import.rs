//! Backfill of an old mailbox (`gateway import PATH`): a Maildir (`cur/` + `new/`), a folder of
//! `.eml` files, or an mbox file, read one message at a time and ingested through the same
//! [`Processor`](super::process::Processor) as live mail (de-duplicated on Message-ID, so an
//! import can be repeated or overlap the live mailbox).

use std::fs::File;
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};

/// One raw message and a stable key for it (used when it has no Message-ID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    pub key: String,
    pub raw: Vec<u8>,
}

/// A mailbox on disk, ready to be read.
pub struct MailboxReader {
    /// Number of messages when known up front (Maildir, folder of .eml); None for mbox.
    pub total: Option<usize>,
    pub messages: Box<dyn Iterator<Item = io::Result<RawMessage>> + Send>,
}

/// Largest single message read from disk (the same bound as the IMAP channel's default).
const MAX_FILE_BYTES: u64 = 40 * 1024 * 1024;

/// Open `path`: a directory is a Maildir (or a folder of `.eml` files), a file is an mbox.
pub fn open_mailbox(path: &Path) -> io::Result<MailboxReader> {
    if path.is_dir() {
        let files = maildir_files(path)?;
        Ok(MailboxReader {
            total: Some(files.len()),
            messages: Box::new(files.into_iter().map(read_file)),
        })
    } else {
        Ok(MailboxReader {
            total: None,
            messages: Box::new(read_mbox(path)?),
        })
    }
}

/// The message files of a Maildir (`cur/`, `new/`) or a folder of `.eml` files, in name order
/// (Maildir names start with the delivery time).
pub fn maildir_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let sub = ["cur", "new"].map(|s| dir.join(s));
    let is_maildir = sub.iter().any(|d| d.is_dir());
    let folders: Vec<PathBuf> = if is_maildir {
        sub.into_iter().filter(|d| d.is_dir()).collect()
    } else {
        vec![dir.to_path_buf()]
    };
    for folder in folders {
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            let hidden = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_none_or(|n| n.starts_with('.'));
            let wanted = is_maildir || path.extension().is_some_and(|e| e == "eml");
            if path.is_file() && !hidden && wanted {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

fn read_file(path: PathBuf) -> io::Result<RawMessage> {
    use std::io::Read;
    let file = File::open(&path)?;
    let mut raw = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut raw)?;
    if raw.len() as u64 > MAX_FILE_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is larger than {MAX_FILE_BYTES} bytes", path.display()),
        ));
    }
    // Maildir flags (":2,S") change when a message is read: keep them out of the key.
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let key = name.split(":2,").next().unwrap_or(name).to_string();
    Ok(RawMessage {
        key: format!("file:{key}"),
        raw,
    })
}

/// The messages of an mbox file (mboxrd `>From ` lines unescaped), numbered in file order.
pub fn read_mbox(path: &Path) -> io::Result<impl Iterator<Item = io::Result<RawMessage>> + Send> {
    let file = File::open(path)?;
    let stem = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("mbox")
        .to_string();
    Ok(normalizers::email::mbox_messages(BufReader::new(file))
        .enumerate()
        .map(move |(i, m)| {
            m.map(|raw| RawMessage {
                key: format!("mbox:{stem}:{i}"),
                raw,
            })
        }))
}

/// What an import did, for its closing summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportSummary {
    /// Messages read from the mailbox.
    pub read: u64,
    /// New reports.
    pub ingested: u64,
    /// Messages already ingested before (an earlier import, or the live mailbox).
    pub replayed: u64,
    /// Bounces, auto-replies and our own mail.
    pub skipped_auto: u64,
    /// Messages that cannot be processed (not a message, refused by the intake).
    pub failed: u64,
    /// Files that could not be read.
    pub unreadable: u64,
}

/// The intake stayed unavailable: the import stops; running it again resumes (imports are
/// idempotent).
#[derive(Debug, thiserror::Error)]
#[error("the gateway could not store message {key} after {attempts} attempts; run the import again to resume")]
pub struct ImportStopped {
    pub key: String,
    pub attempts: u32,
    pub summary: ImportSummary,
}

/// Ingest every message of `reader` through `processor` (build it with `send_replies: false`
/// for a backfill). `progress` is called after each message with the number read so far.
pub async fn import<I, S, T>(
    reader: MailboxReader,
    processor: &super::Processor<I, S, T>,
    mut progress: impl FnMut(u64),
) -> Result<ImportSummary, ImportStopped>
where
    I: crate::intake::Intake,
    S: crate::intake::Streams,
    T: crate::intake::StateStore,
{
    use super::Disposition;
    use std::sync::atomic::Ordering;
    const ATTEMPTS: u32 = 5;
    let before = processor.stats.snapshot();
    let mut summary = ImportSummary::default();
    let finish = |mut summary: ImportSummary| {
        let after = processor.stats.snapshot();
        summary.ingested = after.ingested - before.ingested;
        summary.replayed = after.replayed - before.replayed;
        summary.skipped_auto = after.skipped_auto - before.skipped_auto;
        summary.failed = after.failed - before.failed;
        summary
    };
    for message in reader.messages {
        summary.read += 1;
        let message = match message {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "mailbox message unreadable");
                summary.unreadable += 1;
                progress(summary.read);
                continue;
            }
        };
        let raw = bytes::Bytes::from(message.raw);
        // No server reception time for old mail: the sender's Date header (capped at now).
        let sent_at = normalizers::email::sent_at(&raw);
        let mut attempts = 0;
        loop {
            attempts += 1;
            match processor
                .handle_received(raw.clone(), &message.key, sent_at)
                .await
            {
                Disposition::Processed | Disposition::Failed(_) => break,
                Disposition::Retry if attempts < ATTEMPTS => {
                    // `handle` counted a fetch for each attempt: count the message once.
                    processor.stats.fetched.fetch_sub(1, Ordering::Relaxed);
                    tokio::time::sleep(std::time::Duration::from_secs(1 << attempts)).await;
                }
                Disposition::Retry => {
                    return Err(ImportStopped {
                        key: message.key,
                        attempts,
                        summary: finish(summary),
                    })
                }
            }
        }
        progress(summary.read);
    }
    Ok(finish(summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_mbox_yields_each_message_with_from_lines_unescaped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.mbox");
        std::fs::write(
            &path,
            "From a@x.vn Sat Nov 28 09:00:00 2026\nSubject: one\n\n>From the start\n\n\
             From b@x.vn Sat Nov 28 10:00:00 2026\nSubject: two\n\nbody\n",
        )
        .unwrap();
        let reader = open_mailbox(&path).unwrap();
        assert_eq!(reader.total, None);
        let messages: Vec<RawMessage> = reader.messages.map(Result::unwrap).collect();
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].key, "mbox:old.mbox:0");
        let first = String::from_utf8_lossy(&messages[0].raw);
        assert!(
            first.contains("Subject: one") && first.contains("\nFrom the start"),
            "{first}"
        );
        assert!(String::from_utf8_lossy(&messages[1].raw).contains("Subject: two"));
    }

    #[test]
    fn a_maildir_is_read_from_cur_and_new_with_flags_left_out_of_the_key() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        std::fs::write(
            dir.path().join("cur/1700000000.M1.host:2,S"),
            "Subject: a\n\nx\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("new/1700000001.M2.host"),
            "Subject: b\n\ny\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("tmp/1700000002.M3.host"), "half written").unwrap();
        let reader = open_mailbox(dir.path()).unwrap();
        assert_eq!(reader.total, Some(2));
        let keys: Vec<String> = reader.messages.map(|m| m.unwrap().key).collect();
        assert_eq!(keys, ["file:1700000000.M1.host", "file:1700000001.M2.host"]);
    }
}
