//! Ingest: writing a blob into the store, containerd style — a locked, resumable partial in
//! `ingest/`, hashed while written, committed by fsync → verify → rename → fsync dir → row.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

use super::lock::{LockFile, Mode};
use super::{BLOBS_DIR, INGEST_DIR, Store, sync_dir};
use crate::digest::{Digest, Hasher};
use crate::error::{Error, ErrorKind, Result};

/// What [`Store::ingest`] found.
#[derive(Debug)]
pub enum Ingest<'s> {
    /// The blob is not committed yet: write it (from [`IngestWriter::offset`] on), then
    /// [`IngestWriter::commit`].
    Writer(IngestWriter<'s>),
    /// The blob is committed already (perhaps by a process we waited for): nothing to do.
    AlreadyPresent,
}

/// A locked partial blob in `ingest/`. Implements [`Write`], hashing as it writes; writing
/// past the expected size fails at once. Dropping it without committing keeps the partial
/// for the next ingest of the same digest to resume.
pub struct IngestWriter<'s> {
    store: &'s Store,
    digest: Digest,
    expected_size: Option<u64>,
    file: File,
    partial: PathBuf,
    lock: LockFile,
    hasher: Hasher,
    offset: u64,
}

impl Store {
    /// Starts (or resumes) writing the blob `digest`, of `expected_size` bytes if known.
    ///
    /// Takes the exclusive lock of `ingest/<alg>-<hex>.lock`, waiting for any other process
    /// (or thread) ingesting the same digest; if that one committed the blob, returns
    /// [`Ingest::AlreadyPresent`]. A partial left by an earlier, interrupted run is kept and
    /// re-hashed: [`IngestWriter::offset`] says where to resume (an HTTP Range request).
    pub fn ingest(&self, digest: &Digest, expected_size: Option<u64>) -> Result<Ingest<'_>> {
        let doing = || format!("ingesting {digest}");
        if self.has_blob(digest)? {
            return Ok(Ingest::AlreadyPresent);
        }
        let name = format!("{}-{}", digest.algorithm().as_str(), digest.hex());
        let dir = self.root.join(INGEST_DIR);
        let lock = LockFile::acquire(&dir.join(format!("{name}.lock")), Mode::Exclusive)
            .map_err(|e| e.context(doing()))?;
        // Whoever held the lock before us may have committed the blob.
        if self.has_blob(digest)? || self.adopt_orphan(digest, expected_size)? {
            lock.remove().map_err(|e| e.context(doing()))?;
            return Ok(Ingest::AlreadyPresent);
        }
        let partial = dir.join(&name);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&partial)
            .map_err(|e| Error::io(e, format!("opening {}", partial.display())))
            .map_err(|e| e.context(doing()))?;
        let (hasher, offset) =
            rehash(&mut file, digest).map_err(|e| Error::io(e, format!("reading {}", partial.display())))?;
        let mut writer = IngestWriter {
            store: self,
            digest: digest.clone(),
            expected_size,
            file,
            partial,
            lock,
            hasher,
            offset,
        };
        // A partial longer than the blob cannot be a prefix of it.
        if expected_size.is_some_and(|size| offset > size) {
            writer.truncate()?;
        }
        Ok(Ingest::Writer(writer))
    }

    /// A blob file without a row is a commit killed between its rename and its row insert
    /// (GC removes such files only while holding the GC lock exclusively). If it hashes
    /// right, insert its row; if not, remove it. Called holding the digest's ingest lock.
    fn adopt_orphan(&self, digest: &Digest, expected_size: Option<u64>) -> Result<bool> {
        let path = self.blob_path(digest);
        if !path.is_file() {
            return Ok(false);
        }
        let _gc = LockFile::acquire(&self.gc_lock_path(), Mode::Shared)?;
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(Error::io(e, format!("opening {}", path.display()))),
        };
        let (hasher, size) =
            rehash(&mut file, digest).map_err(|e| Error::io(e, format!("reading {}", path.display())))?;
        if hasher.finish() == *digest && expected_size.is_none_or(|s| s == size) {
            self.index
                .insert_blob(digest, size, "application/octet-stream")?;
            Ok(true)
        } else {
            std::fs::remove_file(&path)
                .map_err(|e| Error::io(e, format!("removing {}", path.display())))?;
            Ok(false)
        }
    }
}

impl std::fmt::Debug for IngestWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestWriter")
            .field("digest", &self.digest)
            .field("expected_size", &self.expected_size)
            .field("partial", &self.partial)
            .field("offset", &self.offset)
            .finish()
    }
}

impl IngestWriter<'_> {
    /// Bytes already in the partial: resume the download from here.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The digest being written.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// Starts over from zero (the server ignored our Range request).
    pub fn truncate(&mut self) -> Result<()> {
        self.file
            .set_len(0)
            .map_err(|e| Error::io(e, format!("truncating {}", self.partial.display())))?;
        self.hasher = Hasher::new(self.digest.algorithm());
        self.offset = 0;
        Ok(())
    }

    /// Commits the blob: fsync the partial, verify its size and digest, rename it into
    /// `blobs/`, fsync the directory, and only then insert its row. A digest mismatch
    /// commits nothing and removes the partial; content shorter than expected is kept for
    /// resuming.
    pub fn commit(mut self, media_type: &str) -> Result<()> {
        let digest = self.digest.clone();
        self.commit_inner(media_type)
            .map_err(|e| e.context(format!("committing {digest}")))
    }

    fn commit_inner(&mut self, media_type: &str) -> Result<()> {
        let partial = self.partial.display().to_string();
        self.file
            .sync_all()
            .map_err(|e| Error::io(e, format!("syncing {partial}")))?;
        if let Some(size) = self.expected_size
            && self.offset < size
        {
            return Err(Error::new(
                ErrorKind::Io,
                format!(
                    "content is incomplete: {} of {size} bytes written; the partial is kept for resuming",
                    self.offset
                ),
            ));
        }
        let got = self.hasher.clone().finish();
        if got != self.digest {
            std::fs::remove_file(&self.partial)
                .map_err(|e| Error::io(e, format!("removing {partial}")))?;
            return Err(Error::new(
                ErrorKind::DigestMismatch,
                format!(
                    "digest mismatch: expected {}, content hashes to {got}; nothing was committed and the partial was removed",
                    self.digest
                ),
            ));
        }
        let store = self.store;
        // Shared: many commits at once, but none while GC sweeps (see the module docs).
        let _gc = LockFile::acquire(&store.gc_lock_path(), Mode::Shared)?;
        let dir = store
            .root
            .join(BLOBS_DIR)
            .join(self.digest.algorithm().as_str());
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&dir)
            .map_err(|e| Error::io(e, format!("creating {}", dir.display())))?;
        let target = store.blob_path(&self.digest);
        std::fs::rename(&self.partial, &target)
            .map_err(|e| Error::io(e, format!("renaming {partial} to {}", target.display())))?;
        sync_dir(&dir)?;
        sync_dir(&store.root.join(INGEST_DIR))?;
        store
            .index
            .insert_blob(&self.digest, self.offset, media_type)?;
        Ok(())
    }
}

impl Drop for IngestWriter<'_> {
    fn drop(&mut self) {
        // After a commit the partial is gone (renamed or removed): the lock file has no
        // further use. Otherwise it stays beside the partial; either way the lock is released
        // as the file closes.
        if !self.partial.exists() {
            let _ = std::fs::remove_file(self.lock.path());
        }
    }
}

impl Write for IngestWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(size) = self.expected_size
            && self.offset + buf.len() as u64 > size
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "content of {} is larger than its {size} bytes",
                    self.digest
                ),
            ));
        }
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.offset += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Hashes `file` from the start; returns the hasher and the length hashed.
fn rehash(file: &mut File, digest: &Digest) -> io::Result<(Hasher, u64)> {
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
