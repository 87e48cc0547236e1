//! Committed blobs: whether one is intact ([`Store::blob_intact`], by size or by hash),
//! and [`Store::publish`], the end of every commit (rename into `blobs/`, fsync both
//! directories, then the row), with [`Store::publish_all`], the same for a batch. The blob writer, the pull's ingest and the load's imports
//! all go through these two.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use super::lock::{LockFile, Mode};
use super::{BLOBS_DIR, INGEST_DIR, Store, sync_dir};
use crate::digest::{Digest, Hasher};
use crate::error::{Error, Result};

/// How [`Store::ingest_checked`] and [`Store::blob_intact`] judge a committed blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Its file has the size its row records: one `stat`, done by every pull.
    Size,
    /// Its file hashes to its digest: reads the whole file (`--verify`).
    Hash,
}

impl Store {
    /// Whether the committed blob `digest` is intact by `check`: `None` when it has no
    /// row (not committed), `Some(false)` when its file is missing or damaged.
    pub fn blob_intact(&self, digest: &Digest, check: Check) -> Result<Option<bool>> {
        let Some(row) = self.index.blob(digest)? else {
            return Ok(None);
        };
        let path = self.blob_path(digest);
        let len = match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => m.len(),
            Ok(_) => return Ok(Some(false)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Some(false)),
            Err(e) => return Err(Error::io(e, format!("reading {}", path.display()))),
        };
        if len != row.size {
            return Ok(Some(false));
        }
        if check == Check::Size {
            return Ok(Some(true));
        }
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Some(false)),
            Err(e) => return Err(Error::io(e, format!("opening {}", path.display()))),
        };
        let (hasher, _) = rehash(&mut file, digest)
            .map_err(|e| Error::io(e, format!("reading {}", path.display())))?;
        Ok(Some(hasher.finish() == *digest))
    }

    /// The end of every commit, once the partial at `partial` is synced and verified:
    /// rename it into `blobs/` (over a damaged file, if any: readers see one or the
    /// other), sync both directories, and only then insert the blob's row. Holds
    /// `gc.lock` shared throughout, so no collection sweeps in between (see gc.rs).
    pub(super) fn publish(
        &self,
        partial: &Path,
        digest: &Digest,
        size: u64,
        media_type: &str,
    ) -> Result<()> {
        let _gc = LockFile::acquire(&self.gc_lock_path(), Mode::Shared)?;
        let dir = self.root.join(BLOBS_DIR).join(digest.algorithm().as_str());
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&dir)
            .map_err(|e| Error::io(e, format!("creating {}", dir.display())))?;
        let target = self.blob_path(digest);
        std::fs::rename(partial, &target).map_err(|e| {
            Error::io(
                e,
                format!("renaming {} to {}", partial.display(), target.display()),
            )
        })?;
        sync_dir(&dir)?;
        sync_dir(&self.root.join(INGEST_DIR))?;
        self.index.insert_blob(digest, size, media_type)
    }

    /// [`Store::publish`] for many blobs at once (a pull's group commit, see batch.rs),
    /// each `(partial, digest, size, media type)` synced and verified already: every
    /// rename, then one sync of each directory, then every row in one transaction, all
    /// under `gc.lock` shared. The outer error is the shared steps' (the renamed files
    /// then stay without rows, as one commit failing there leaves its file: the next
    /// ingest of the digest adopts it, GC removes it); the inner ones say, blob by blob
    /// in order, whether its rename succeeded, and only those that did get a row.
    pub(super) fn publish_all(
        &self,
        blobs: &[(&Path, &Digest, u64, &str)],
    ) -> Result<Vec<Result<()>>> {
        let _gc = LockFile::acquire(&self.gc_lock_path(), Mode::Shared)?;
        let mut dirs = Vec::new();
        let mut renamed = Vec::with_capacity(blobs.len());
        for &(partial, digest, _, _) in blobs {
            let dir = self.root.join(BLOBS_DIR).join(digest.algorithm().as_str());
            if !dirs.contains(&dir) {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(&dir)
                    .map_err(|e| Error::io(e, format!("creating {}", dir.display())))?;
                dirs.push(dir);
            }
            let target = self.blob_path(digest);
            renamed.push(std::fs::rename(partial, &target).map_err(|e| {
                Error::io(
                    e,
                    format!("renaming {} to {}", partial.display(), target.display()),
                )
            }));
        }
        dirs.push(self.root.join(INGEST_DIR));
        for dir in &dirs {
            sync_dir(dir)?;
        }
        let rows: Vec<(&Digest, u64, &str)> = blobs
            .iter()
            .zip(&renamed)
            .filter(|(_, r)| r.is_ok())
            .map(|(&(_, digest, size, media_type), _)| (digest, size, media_type))
            .collect();
        if !rows.is_empty() {
            self.index.insert_blobs(&rows)?;
        }
        Ok(renamed)
    }
}

/// Hashes `file` from the start; returns the hasher and the length hashed.
pub(super) fn rehash(file: &mut File, digest: &Digest) -> io::Result<(Hasher, u64)> {
    file.seek(SeekFrom::Start(0))?;
    let mut hasher = Hasher::new(digest.algorithm());
    let mut buf = vec![0u8; 64 * 1024];
    let mut len = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok((hasher, len));
        }
        hasher.update(&buf[..n]);
        len += n as u64;
    }
}
