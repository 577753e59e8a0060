//! Files in the staging folder, owned until they are handed over.
//!
//! A [`StagedFile`] deletes its file when dropped, on every exit path (an error, a client that
//! drops the connection mid-upload and so cancels the handler, a failed ingest), unless it was
//! [`disarm`](StagedFile::disarm)ed because the file was moved into storage or handed to the
//! intake. A [`StagingWriter`] streams a file there, hashing it, and [`finish`](StagingWriter::finish)
//! flushes it to disk (`fsync`) before anyone may acknowledge it: the gateway's blob store and the
//! mini app share it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest, Sha256};
use tokio::fs::File;
use tokio::io::AsyncWriteExt;

/// A staged file that is deleted when dropped unless disarmed.
#[derive(Debug)]
pub struct StagedFile {
    path: PathBuf,
    armed: AtomicBool,
}

impl StagedFile {
    /// Take ownership of a file already in the staging folder.
    pub fn new(path: impl Into<PathBuf>) -> StagedFile {
        StagedFile {
            path: path.into(),
            armed: AtomicBool::new(true),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file was moved or handed over: dropping the guard no longer deletes it.
    pub fn disarm(&self) {
        self.armed.store(false, Ordering::Release);
    }

    /// Give up ownership: the caller (or the intake it hands the path to) deletes the file.
    pub fn into_path(self) -> PathBuf {
        self.disarm();
        self.path.clone()
    }

    /// Delete the file now.
    pub async fn remove(self) {
        if self.armed.swap(false, Ordering::AcqRel) {
            let _ = tokio::fs::remove_file(&self.path).await;
        }
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        if self.armed.load(Ordering::Acquire) {
            // One unlink: cheap enough to do synchronously, and it also runs when an async task
            // is cancelled, which is the case it exists for.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A file being streamed to the staging folder, hashed (sha256) as it goes; deleted if dropped
/// before [`finish`](Self::finish).
pub struct StagingWriter {
    file: File,
    guard: StagedFile,
    hasher: Sha256,
    size: u64,
}

/// A complete, durable staged file with its hash.
#[derive(Debug)]
pub struct Finished {
    pub file: StagedFile,
    pub sha256: String,
    pub size: u64,
}

impl StagingWriter {
    /// Create `dir/<prefix><random>.<machine>-<pid>.part`: the name tells which run staged it
    /// ([`staged_by_a_stopped_run`]).
    pub async fn create(dir: &Path, prefix: &str) -> std::io::Result<StagingWriter> {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        let a = h.finish();
        let b = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let path = dir.join(format!(
            "{prefix}{a:016x}{b:016x}.{}-{}.part",
            machine(),
            std::process::id()
        ));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await?;
        Ok(StagingWriter {
            file,
            guard: StagedFile::new(path),
            hasher: Sha256::new(),
            size: 0,
        })
    }

    /// Append a chunk. On an error (a full disk) the partial file is deleted when the writer
    /// is dropped.
    pub async fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
        self.file.write_all(chunk).await
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn path(&self) -> &Path {
        self.guard.path()
    }

    /// Flush and `fsync` the file; the staged file is durable when this returns.
    pub async fn finish(mut self) -> std::io::Result<Finished> {
        self.file.flush().await?;
        self.file.sync_all().await?;
        Ok(Finished {
            file: self.guard,
            sha256: hex::encode(self.hasher.finalize()),
            size: self.size,
        })
    }
}

/// `fsync` a directory, so that a rename or a new file in it survives a power cut.
pub async fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir).await?.sync_all().await
}

/// Remove the files of `dir` whose name `sweep` accepts and that were last written more than
/// `max_age` ago (what a crash, a dropped upload or a draft nobody came back to left behind);
/// how many were removed.
pub async fn sweep_old_files(
    dir: &std::path::Path,
    max_age: std::time::Duration,
    sweep: impl Fn(&str) -> bool,
) -> usize {
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return 0;
    };
    let mut removed = 0;
    while let Ok(Some(entry)) = entries.next_entry().await {
        if !sweep(&entry.file_name().to_string_lossy()) {
            continue;
        }
        let old = entry
            .metadata()
            .await
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > max_age);
        if old && tokio::fs::remove_file(entry.path()).await.is_ok() {
            removed += 1;
        }
    }
    removed
}

/// A short digest of the host name and the kernel's boot id (Linux): process ids are only
/// compared between runs of one machine and one boot.
pub fn machine() -> &'static str {
    static MACHINE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    MACHINE.get_or_init(|| {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let mut h = Sha256::new();
        h.update(read("/etc/hostname").trim());
        h.update([0]);
        h.update(read("/proc/sys/kernel/random/boot_id").trim());
        hex::encode(&h.finalize()[..4])
    })
}

/// Whether a process with this id exists (Linux `/proc`; elsewhere every process is taken to
/// be alive).
pub fn process_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

/// Whether the staged file `name` (see [`StagingWriter::create`]) was staged by an earlier run
/// on this machine and boot that is no longer running: its process is gone, or its process id
/// is this process's (a restarted container's first process gets the same one; asked at
/// start-up, before this run stages anything). A name without a run (staged by an older
/// version), of another machine or of a process still running: `false`, it waits for the
/// sweep of old files.
pub fn staged_by_a_stopped_run(name: &str) -> bool {
    let Some((_, run)) = name.strip_suffix(".part").and_then(|n| n.rsplit_once('.')) else {
        return false;
    };
    let Some((host, pid)) = run.split_once('-') else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    host == machine() && (pid == std::process::id() || !process_alive(pid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_staged_name_tells_whether_its_run_stopped() {
        let dead = {
            let mut child = std::process::Command::new("true").spawn().unwrap();
            child.wait().unwrap();
            child.id()
        };
        let live = std::process::id();
        let m = machine();
        let hex = "0123456789abcdef0123456789abcdef";
        assert!(staged_by_a_stopped_run(&format!("{hex}.{m}-{dead}.part")));
        assert!(staged_by_a_stopped_run(&format!(
            "miniapp-{hex}.{m}-{dead}.part"
        )));
        // This process's id at start-up: a previous run of a restarted container.
        assert!(staged_by_a_stopped_run(&format!("{hex}.{m}-{live}.part")));
        let parent = std::os::unix::process::parent_id();
        assert!(!staged_by_a_stopped_run(&format!(
            "{hex}.{m}-{parent}.part"
        )));
        assert!(!staged_by_a_stopped_run(&format!(
            "{hex}.00000000-{dead}.part"
        )));
        assert!(!staged_by_a_stopped_run(&format!("{hex}.part")));
        assert!(!staged_by_a_stopped_run(&format!("{hex}.{m}-x.part")));
    }

    #[tokio::test]
    async fn a_dropped_writer_or_guard_leaves_nothing_and_a_disarmed_one_keeps_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let count = || std::fs::read_dir(dir.path()).unwrap().count();
        let mut w = StagingWriter::create(dir.path(), "t-").await.unwrap();
        w.write(b"half a photo").await.unwrap();
        assert_eq!(count(), 1);
        drop(w);
        assert_eq!(count(), 0, "a writer dropped mid-file deletes it");

        let mut w = StagingWriter::create(dir.path(), "t-").await.unwrap();
        w.write(b"anh").await.unwrap();
        let done = w.finish().await.unwrap();
        assert_eq!(done.size, 3);
        assert_eq!(done.sha256, hex::encode(Sha256::digest(b"anh")));
        drop(done);
        assert_eq!(count(), 0, "a finished file not handed over is deleted");

        let w = StagingWriter::create(dir.path(), "t-").await.unwrap();
        let done = w.finish().await.unwrap();
        let path = done.file.into_path();
        assert!(path.exists(), "a file handed over stays");
        std::fs::remove_file(path).unwrap();
    }
}
