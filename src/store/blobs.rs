//! Content-addressed files (sha256) under the data folder: media and raw originals.
//!
//! A blob is streamed to a temporary file while its hash is computed, flushed to disk, then
//! renamed to `sha256/ab/cd/<hex>`: a blob under its final name is always complete and durable.
//! The same bytes stored twice are stored once.

use std::path::{Path, PathBuf};

use rand::Rng;
use sha2::{Digest, Sha256};
use tokio::fs::{self, File};
use tokio::io::AsyncWriteExt;

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

/// A file being written, hashed as it goes.
pub struct BlobWriter {
    path: PathBuf,
    file: File,
    hasher: Sha256,
    size: u64,
}

/// A complete file in the staging folder, not yet under its content address.
#[derive(Debug, Clone)]
pub struct Staged {
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
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
        let name: u128 = rand::rng().random();
        let path = self.staging_dir().join(format!("{name:032x}.part"));
        let file = File::create(&path).await.map_err(io(&path))?;
        Ok(BlobWriter {
            path,
            file,
            hasher: Sha256::new(),
            size: 0,
        })
    }

    /// Stage a file that is already on disk (a channel's download): hash it by streaming.
    pub async fn stage_file(&self, path: &Path) -> Result<Staged, BlobError> {
        use tokio::io::AsyncReadExt;
        let mut file = File::open(path).await.map_err(io(path))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = file.read(&mut buf).await.map_err(io(path))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            size += n as u64;
        }
        Ok(Staged {
            path: path.to_path_buf(),
            sha256: hex::encode(hasher.finalize()),
            size,
        })
    }

    /// Store bytes already in memory.
    pub async fn put_bytes(&self, bytes: &[u8]) -> Result<String, BlobError> {
        let mut w = self.writer().await?;
        w.write(bytes).await?;
        let staged = w.finish().await?;
        let committed = self.commit(&staged).await;
        if committed.is_err() {
            self.discard(&staged).await;
        }
        committed
    }

    /// Move a staged file under its content address; returns the storage key.
    pub async fn commit(&self, staged: &Staged) -> Result<String, BlobError> {
        let key = key_of(&staged.sha256);
        let dest = self.path_of(&key)?;
        if fs::try_exists(&dest).await.unwrap_or(false) {
            let _ = fs::remove_file(&staged.path).await;
            return Ok(key);
        }
        let dir = dest.parent().expect("a blob path has a parent");
        fs::create_dir_all(dir).await.map_err(io(dir))?;
        fs::rename(&staged.path, &dest).await.map_err(io(&dest))?;
        sync_dir(dir).await?;
        Ok(key)
    }

    /// Delete a staged file that will not be kept (dry runs, rejected uploads).
    pub async fn discard(&self, staged: &Staged) {
        let _ = fs::remove_file(&staged.path).await;
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
}

pub fn key_of(sha256_hex: &str) -> String {
    format!("sha256/{sha256_hex}")
}

impl BlobWriter {
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), BlobError> {
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
        if let Err(e) = self.file.write_all(chunk).await {
            // A full disk: no half-written file is left behind, whatever the caller does next.
            let _ = fs::remove_file(&self.path).await;
            return Err(io(&self.path)(e));
        }
        Ok(())
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flush to disk and return the staged file.
    pub async fn finish(mut self) -> Result<Staged, BlobError> {
        let flushed = match self.file.flush().await {
            Ok(()) => self.file.sync_all().await,
            Err(e) => Err(e),
        };
        if let Err(e) = flushed {
            let _ = fs::remove_file(&self.path).await;
            return Err(io(&self.path)(e));
        }
        Ok(Staged {
            sha256: hex::encode(self.hasher.finalize()),
            size: self.size,
            path: self.path,
        })
    }

    /// Give up: delete the partial file.
    pub async fn abort(self) {
        drop(self.file);
        let _ = fs::remove_file(&self.path).await;
    }
}

async fn sync_dir(dir: &Path) -> Result<(), BlobError> {
    let d = File::open(dir).await.map_err(io(dir))?;
    d.sync_all().await.map_err(io(dir))
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
