//! Imports: blobs whose digest is known only once their last byte is in (a legacy archive's
//! `layer.tar`, any entry of an archive being loaded). The bytes go to a locked file of
//! their own in `ingest/`, hashed as they are written; the result stays there, invisible,
//! until the caller has checked everything it loads and commits it under the digest it
//! hashes to. Dropped uncommitted, the file is removed: a failed load leaves nothing.
//!
//! A commit follows the store's rules: it takes the digest's ingest lock (so it never races
//! a pull of the same blob), then the GC lock shared, renames into `blobs/`, fsyncs the
//! directory, and only then inserts the row.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::lock::{LockFile, Mode};
use super::{BLOBS_DIR, INGEST_DIR, Store, sync_dir};
use crate::digest::{Algorithm, Digest, Hasher};
use crate::error::{Error, Result};

/// How many bytes pile up dirty before the writer asks the kernel to write them (as
/// ingest does): a large layer then needs little work at commit time. The flush runs on a
/// thread of its own, at most one at a time, so hashing the next bytes overlaps the disk
/// writing the previous ones.
const WRITE_BEHIND: u64 = 16 * 1024 * 1024;

/// A file being imported: implements [`Write`], hashing as it writes and refusing to go
/// past its limit. [`ImportWriter::finish`] gives the [`Staged`] blob.
pub struct ImportWriter<'s> {
    store: &'s Store,
    file: File,
    partial: PathBuf,
    lock: Option<LockFile>,
    hasher: Hasher,
    size: u64,
    limit: u64,
    unsynced: u64,
    flushing: Option<std::thread::JoinHandle<io::Result<()>>>,
}

/// An imported blob, hashed and complete but not yet visible in the store. Dropping it
/// removes it.
pub struct Staged<'s> {
    store: &'s Store,
    partial: PathBuf,
    lock: Option<LockFile>,
    digest: Digest,
    size: u64,
}

impl Store {
    /// Starts importing a blob hashed with `algorithm`, of at most `limit` bytes.
    pub fn import(&self, algorithm: Algorithm, limit: u64) -> Result<ImportWriter<'_>> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "import-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let dir = self.root.join(INGEST_DIR);
        // The lock first: GC leaves alone a partial whose `<name>.lock` somebody holds.
        let lock = LockFile::acquire(&dir.join(format!("{name}.lock")), Mode::Exclusive)?;
        let partial = dir.join(&name);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&partial)
            .map_err(|e| Error::io(e, format!("creating {}", partial.display())))?;
        Ok(ImportWriter {
            store: self,
            file,
            partial,
            lock: Some(lock),
            hasher: Hasher::new(algorithm),
            size: 0,
            limit,
            unsynced: 0,
            flushing: None,
        })
    }
}

impl ImportWriter<'_> {
    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl<'s> ImportWriter<'s> {
    /// Ends the import: the blob is staged under the digest its bytes hash to.
    pub fn finish(mut self) -> Result<Staged<'s>> {
        self.wait_flush()
            .map_err(|e| Error::io(e, format!("writing {}", self.partial.display())))?;
        let hasher = std::mem::replace(&mut self.hasher, Hasher::new(Algorithm::Sha256));
        Ok(Staged {
            store: self.store,
            partial: std::mem::take(&mut self.partial),
            lock: self.lock.take(),
            digest: hasher.finish(),
            size: self.size,
        })
    }
}

impl ImportWriter<'_> {
    /// Waits for the flush in flight, if any, and reports its failure.
    fn wait_flush(&mut self) -> io::Result<()> {
        match self.flushing.take() {
            Some(handle) => handle
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the flushing thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Write for ImportWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.size + buf.len() as u64 > self.limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("more than the {} bytes allowed", self.limit),
            ));
        }
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        self.unsynced += n as u64;
        if self.unsynced >= WRITE_BEHIND {
            self.wait_flush()?;
            let file = self.file.try_clone()?;
            self.flushing = Some(std::thread::spawn(move || file.sync_data()));
            self.unsynced = 0;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for ImportWriter<'_> {
    fn drop(&mut self) {
        let _ = self.wait_flush();
        discard(&self.partial, self.lock.take());
    }
}

impl Staged<'_> {
    /// The digest the bytes hash to.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Where the bytes are until committed, for reading them back (a config, a manifest).
    pub fn path(&self) -> &Path {
        &self.partial
    }

    /// Makes the blob visible: fsync, rename into `blobs/`, fsync the directory, row. A
    /// blob the store already has is left as it is and the staged copy removed.
    pub fn commit(mut self, media_type: &str) -> Result<()> {
        let digest = self.digest.clone();
        self.commit_inner(media_type)
            .map_err(|e| e.context(format!("committing {digest}")))
    }

    fn commit_inner(&mut self, media_type: &str) -> Result<()> {
        let store = self.store;
        let partial = self.partial.display().to_string();
        File::open(&self.partial)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io(e, format!("syncing {partial}")))?;
        let ingest_dir = store.root.join(INGEST_DIR);
        let name = format!("{}-{}", self.digest.algorithm().as_str(), self.digest.hex());
        // The digest's own ingest lock: a pull of the same blob waits for us, or we for it.
        let ingest_lock =
            LockFile::acquire(&ingest_dir.join(format!("{name}.lock")), Mode::Exclusive)?;
        let done = if store.has_blob(&self.digest)? {
            Ok(())
        } else {
            let _gc = LockFile::acquire(&store.gc_lock_path(), Mode::Shared)?;
            let dir = store
                .root
                .join(BLOBS_DIR)
                .join(self.digest.algorithm().as_str());
            std::fs::create_dir_all(&dir)
                .map_err(|e| Error::io(e, format!("creating {}", dir.display())))?;
            let target = store.blob_path(&self.digest);
            std::fs::rename(&self.partial, &target)
                .map_err(|e| Error::io(e, format!("renaming {partial} to {}", target.display())))?;
            sync_dir(&dir)?;
            sync_dir(&ingest_dir)?;
            store.index.insert_blob(&self.digest, self.size, media_type)
        };
        // Only when no pull left a partial of this digest beside it is its lock file ours
        // to remove.
        if !ingest_dir.join(&name).exists() {
            ingest_lock.remove()?;
        }
        done
    }
}

impl Drop for Staged<'_> {
    fn drop(&mut self) {
        // Committed: the partial was renamed away, and removing the name is a no-op.
        discard(&self.partial, self.lock.take());
    }
}

impl std::fmt::Debug for Staged<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Staged")
            .field("digest", &self.digest)
            .field("size", &self.size)
            .finish()
    }
}

impl std::fmt::Debug for ImportWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportWriter")
            .field("partial", &self.partial)
            .field("size", &self.size)
            .finish()
    }
}

/// Removes an uncommitted partial, then its lock file (still holding the lock, so that
/// GC never sees the partial without a held lock).
fn discard(partial: &Path, lock: Option<LockFile>) {
    if !partial.as_os_str().is_empty() {
        let _ = std::fs::remove_file(partial);
    }
    if let Some(lock) = lock {
        let _ = lock.remove();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::files_in;

    #[test]
    fn staged_blobs_are_invisible_until_committed_and_gone_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut w = store.import(Algorithm::Sha256, 100).unwrap();
        w.write_all(b"hello").unwrap();
        let staged = w.finish().unwrap();
        let d = Digest::sha256_of(b"hello");
        assert_eq!(staged.digest(), &d);
        assert_eq!(staged.size(), 5);
        assert!(!store.has_blob(&d).unwrap());
        assert!(files_in(&dir.path().join("blobs/sha256")).is_empty());
        drop(staged);
        assert!(files_in(&dir.path().join("ingest")).is_empty());

        let mut w = store.import(Algorithm::Sha256, 100).unwrap();
        w.write_all(b"hello").unwrap();
        w.finish()
            .unwrap()
            .commit("application/octet-stream")
            .unwrap();
        assert_eq!(store.read_blob(&d).unwrap(), b"hello");
        assert!(files_in(&dir.path().join("ingest")).is_empty());
        // Committing what is there already keeps the one copy.
        let mut w = store.import(Algorithm::Sha256, 100).unwrap();
        w.write_all(b"hello").unwrap();
        w.finish()
            .unwrap()
            .commit("application/octet-stream")
            .unwrap();
        assert_eq!(store.index().blobs().unwrap().len(), 1);
        assert!(files_in(&dir.path().join("ingest")).is_empty());
    }

    #[test]
    fn writing_past_the_limit_fails_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut w = store.import(Algorithm::Sha256, 4).unwrap();
        let err = w.write_all(b"hello").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        drop(w);
        assert!(files_in(&dir.path().join("ingest")).is_empty());
    }
}
