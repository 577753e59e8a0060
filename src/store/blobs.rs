//! Content-addressed files (sha256) under the data folder: media and raw originals.
//!
//! A blob is streamed to a temporary file while its hash is computed, flushed to disk, then
//! renamed to `sha256/ab/cd/<hex>`: a blob under its final name is always complete and durable.
//! The same bytes stored twice are stored once.

use std::path::{Path, PathBuf};

use channels::staging::{StagedFile, StagingWriter};
use sha2::{Digest, Sha256};
use tokio::fs::{self, File};

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("storage I/O failed on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("not a storage key: {0}")]
    BadKey(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BlobError + '_ {
    move |source| BlobError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

/// A file being written to the staging folder, hashed as it goes; deleted if dropped unfinished.
pub struct BlobWriter {
    inner: StagingWriter,
}

/// A complete, durable file in the staging folder, not yet under its content address. Dropped
/// without [`BlobStore::commit`], it deletes its file: a failed or abandoned ingest leaves nothing.
#[derive(Debug)]
pub struct Staged {
    file: StagedFile,
    pub sha256: String,
    pub size: u64,
}

impl Staged {
    pub fn path(&self) -> &Path {
        self.file.path()
    }
}

impl BlobStore {
    /// Open (and create) the store under `root`.
    pub async fn open(root: impl Into<PathBuf>) -> Result<Self, BlobError> {
        let root = root.into();
        for dir in [root.join("tmp"), root.join("sha256")] {
            fs::create_dir_all(&dir).await.map_err(io(&dir))?;
        }
        Ok(BlobStore { root })
    }

    /// The staging folder (channels stream downloads there before handing them over).
    pub fn staging_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Start writing a new file in the staging folder.
    pub async fn writer(&self) -> Result<BlobWriter, BlobError> {
        let dir = self.staging_dir();
        let inner = StagingWriter::create(&dir, "").await.map_err(io(&dir))?;
        Ok(BlobWriter { inner })
    }

    /// Stage a file that is already on disk (a channel's download): hash it by streaming. The
    /// file is owned from here on: deleted unless committed.
    pub async fn stage_file(&self, file: StagedFile) -> Result<Staged, BlobError> {
        use tokio::io::AsyncReadExt;
        let path = file.path().to_path_buf();
        let path = path.as_path();
        let mut reader = File::open(path).await.map_err(io(path))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = reader.read(&mut buf).await.map_err(io(path))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            size += n as u64;
        }
        Ok(Staged {
            file,
            sha256: hex::encode(hasher.finalize()),
            size,
        })
    }

    /// Store bytes already in memory.
    pub async fn put_bytes(&self, bytes: &[u8]) -> Result<String, BlobError> {
        let mut w = self.writer().await?;
        w.write(bytes).await?;
        let staged = w.finish().await?;
        // Not committed: `staged` deletes its file when dropped.
        self.commit(&staged).await
    }

    /// Move a staged file under its content address; returns the storage key.
    pub async fn commit(&self, staged: &Staged) -> Result<String, BlobError> {
        let key = key_of(&staged.sha256);
        let dest = self.path_of(&key)?;
        if fs::try_exists(&dest).await.unwrap_or(false) {
            // Already stored: the staged copy is deleted when `staged` is dropped.
            return Ok(key);
        }
        let dir = dest.parent().expect("a blob path has a parent");
        fs::create_dir_all(dir).await.map_err(io(dir))?;
        fs::rename(staged.path(), &dest).await.map_err(io(&dest))?;
        staged.file.disarm();
        sync_dir(dir).await?;
        Ok(key)
    }

    /// Delete a staged file that will not be kept (dry runs, rejected uploads).
    pub async fn discard(&self, staged: Staged) {
        staged.file.remove().await;
    }

    pub fn path_of(&self, key: &str) -> Result<PathBuf, BlobError> {
        let hex = key
            .strip_prefix("sha256/")
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| BlobError::BadKey(key.to_string()))?;
        Ok(self
            .root
            .join("sha256")
            .join(&hex[0..2])
            .join(&hex[2..4])
            .join(hex))
    }

    pub async fn exists(&self, key: &str) -> bool {
        match self.path_of(key) {
            Ok(p) => fs::try_exists(p).await.unwrap_or(false),
            Err(_) => false,
        }
    }

    pub async fn open_blob(&self, key: &str) -> Result<File, BlobError> {
        let path = self.path_of(key)?;
        File::open(&path).await.map_err(io(&path))
    }

    /// Remove staging files older than `max_age` left by a crash mid-upload.
    pub async fn sweep_staging(&self, max_age: std::time::Duration) -> usize {
        channels::sweep_old_files(&self.staging_dir(), max_age, |_| true).await
    }

    /// Remove every upload staged by an earlier run (the blob store's and the mini app's files;
    /// not the Zalo dialogue's `zalo-*` drafts, which outlive a restart). Only for a data folder
    /// this process holds alone (the embedded store's lock): nothing else can be writing them.
    pub async fn sweep_orphan_uploads(&self) -> usize {
        channels::sweep_old_files(
            &self.staging_dir(),
            std::time::Duration::ZERO,
            is_upload_name,
        )
        .await
    }

    /// Remove the uploads staged by earlier runs of this machine that are no longer running
    /// ([`channels::staging::staged_by_a_stopped_run`]): for a media folder that instances on
    /// Redis may share. Another instance's uploads in progress are kept, and so are files the
    /// names of which cannot tell (another machine's, an older version's): those wait for the
    /// 24-hour sweep. Call at start-up, before anything is staged.
    pub async fn sweep_uploads_of_stopped_runs(&self) -> usize {
        channels::sweep_old_files(&self.staging_dir(), std::time::Duration::ZERO, |name| {
            is_upload_name(name) && channels::staging::staged_by_a_stopped_run(name)
        })
        .await
    }
}

/// The names [`BlobStore::writer`] and the mini app give staged uploads:
/// `[miniapp-]<hex>[.<run>].part` (the run, read by [`channels::staging::staged_by_a_stopped_run`],
/// is absent from older versions' names).
fn is_upload_name(name: &str) -> bool {
    let rest = name.strip_prefix("miniapp-").unwrap_or(name);
    rest.strip_suffix(".part")
        .map(|r| r.split_once('.').map_or(r, |(random, _run)| random))
        .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

pub fn key_of(sha256_hex: &str) -> String {
    format!("sha256/{sha256_hex}")
}

impl BlobWriter {
    /// Append a chunk; on an error (a full disk) the partial file is deleted with the writer.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), BlobError> {
        let path = self.inner.path().to_path_buf();
        self.inner.write(chunk).await.map_err(io(&path))
    }

    pub fn size(&self) -> u64 {
        self.inner.size()
    }

    pub fn path(&self) -> &Path {
        self.inner.path()
    }

    /// Flush to disk (`fsync`) and return the staged file.
    pub async fn finish(self) -> Result<Staged, BlobError> {
        let path = self.inner.path().to_path_buf();
        let done = self.inner.finish().await.map_err(io(&path))?;
        Ok(Staged {
            file: done.file,
            sha256: done.sha256,
            size: done.size,
        })
    }

    /// Give up: delete the partial file (dropping the writer does the same).
    pub async fn abort(self) {
        drop(self);
    }
}

async fn sync_dir(dir: &Path) -> Result<(), BlobError> {
    channels::staging::sync_dir(dir).await.map_err(io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_same_bytes_are_stored_once_under_their_hash() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).await.unwrap();
        let k1 = store.put_bytes(b"anh hien truong").await.unwrap();
        let k2 = store.put_bytes(b"anh hien truong").await.unwrap();
        assert_eq!(k1, k2);
        let expected = hex::encode(Sha256::digest(b"anh hien truong"));
        assert_eq!(k1, format!("sha256/{expected}"));
        assert!(store.exists(&k1).await);
        let staged_left = std::fs::read_dir(store.staging_dir()).unwrap().count();
        assert_eq!(staged_left, 0, "no temporary file is left behind");
    }

    #[tokio::test]
    async fn a_staged_file_not_committed_is_deleted_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).await.unwrap();
        let left = || std::fs::read_dir(store.staging_dir()).unwrap().count();
        let mut w = store.writer().await.unwrap();
        w.write(b"anh chup o ga").await.unwrap();
        let staged = w.finish().await.unwrap();
        assert_eq!(left(), 1);
        drop(staged);
        assert_eq!(left(), 0, "an abandoned staged file is deleted");
        // Committed: moved, not deleted; a second copy of the same bytes is dropped.
        for _ in 0..2 {
            let mut w = store.writer().await.unwrap();
            w.write(b"anh chup o ga").await.unwrap();
            let staged = w.finish().await.unwrap();
            let key = store.commit(&staged).await.unwrap();
            drop(staged);
            assert!(store.exists(&key).await);
            assert_eq!(left(), 0);
        }
    }

    #[test]
    fn keys_cannot_escape_the_store() {
        let store = BlobStore {
            root: PathBuf::from("/data/media"),
        };
        assert!(store.path_of("sha256/../../etc/passwd").is_err());
        assert!(store.path_of("/etc/passwd").is_err());
        assert!(store.path_of(&format!("sha256/{}", "a".repeat(64))).is_ok());
    }
}
