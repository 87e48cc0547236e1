//! The one blob writer: a partial in `ingest/`, hashed as it is written (on a thread of
//! its own past a few MiB), capped in size, and flushed behind on a thread of its own
//! (see [`WRITE_BEHIND`]). A pull's writer and a load's differ only in their partial's name
//! and its guard ([`Guard`]): a pull's `<alg>-<hex>` under that digest's lock, resumable
//! (see ingest.rs); a load's `<session>.<n>` under its session's one lock, removed if
//! dropped (see import.rs).
//!
//! [`BlobWriter::commit`] takes the digest the bytes must hash to when the caller knows one
//! (containerd's `Commit(size, expected)`); [`BlobWriter::finish`] stages the blob under
//! the digest it hashes to, invisible, for a load to commit once it has checked all it
//! loads. Either way a commit is fsync → verify → the digest's ingest lock → rename into
//! `blobs/` → fsync the directories → row ([`Store::publish`]); a pull's blobs share the
//! last three steps with the other commits in flight ([`BlobWriter::hand_to`], batch.rs).

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::batch::{CommitGroup, Then};
use super::import::SessionLock;
use super::lock::{LockFile, Mode};
use super::{Check, INGEST_DIR, Store};
use crate::digest::{Algorithm, Digest, HASH_ON_A_THREAD_AFTER, Hasher, Hashing};
use crate::error::{Error, ErrorKind, Result};

/// How many bytes a writer lets pile up in the page cache before asking the kernel to put
/// them on disk. With much memory the kernel would otherwise keep a whole large layer
/// dirty until the commit's fsync, and the disk would sit idle while the network works,
/// then the network while the disk does; flushing as we go overlaps the two, so the
/// commit's fsync finds little left to do. The flush runs on a thread of its own, at most
/// one at a time, so writing and hashing the next bytes overlap the disk writing these.
const WRITE_BEHIND: u64 = 16 * 1024 * 1024;

/// What keeps a partial from the garbage collector, and what becomes of it when its writer
/// goes without a commit.
pub(super) enum Guard {
    /// A pull's `ingest/<alg>-<hex>`, under that digest's own lock: kept when dropped
    /// uncommitted, for the next ingest of the digest to resume; the lock file goes once
    /// the partial has.
    Digest(LockFile),
    /// A load's `ingest/<session>.<n>`, under its session's one lock: removed when dropped
    /// uncommitted, before the session's lock is let go (so GC never sees the partial
    /// without a held lock).
    Session(Arc<SessionLock>),
}

impl Guard {
    /// Lets go of the partial at `partial` (if still there, as the guard says) and then of
    /// the lock.
    fn release(self, partial: &Path) {
        match self {
            Guard::Digest(lock) => {
                if !partial.exists() {
                    let _ = lock.remove();
                }
            }
            Guard::Session(session) => {
                let _ = std::fs::remove_file(partial);
                drop(session);
            }
        }
    }
}

/// A blob being written into `ingest/`: implements [`Write`], hashing as it writes;
/// writing past its limit fails at once. Made by [`Store::ingest`] (a pull's, resumable)
/// and [`Store::import`] / [`ImportSession::import`](super::ImportSession::import) (a
/// load's, digest learnt at the end).
pub struct BlobWriter<'s> {
    store: &'s Store,
    file: File,
    /// Empty once [`BlobWriter::finish`] has handed the partial on.
    partial: PathBuf,
    /// `None` once handed on.
    guard: Option<Guard>,
    /// The digest the partial was opened for (a pull's), which a commit checks too.
    digest: Option<Digest>,
    algorithm: Algorithm,
    /// The most bytes it takes.
    limit: Option<u64>,
    /// Whether `limit` is also the size a commit needs (a pull knows the blob's size).
    exact: bool,
    hasher: Hashing,
    written: u64,
    /// Bytes written since the last write-behind flush.
    unsynced: u64,
    flushing: Option<std::thread::JoinHandle<io::Result<()>>>,
}

/// A pull's writer: the blob's digest is known up front. The same type as
/// [`ImportWriter`], named as a pull's callers know it.
pub type IngestWriter<'s> = BlobWriter<'s>;
/// A load's writer: the digest is learnt when the last byte is in. The same type as
/// [`IngestWriter`], named as a load's callers know it.
pub type ImportWriter<'s> = BlobWriter<'s>;

/// How many bytes a writer takes.
#[derive(Debug, Clone, Copy)]
pub(super) enum Size {
    /// Exactly this many: more fails at once, fewer fails the commit (a pull's blob).
    Exact(u64),
    /// At most this many (an archive entry of this size, a caller's cap).
    AtMost(u64),
    /// Any number.
    Any,
}

impl<'s> BlobWriter<'s> {
    /// A writer for the partial `partial`, open as `file` (for appending), already holding
    /// the bytes `hashed` counts (a resumed partial's; none for a new one), opened for
    /// `digest` when a pull knows it.
    pub(super) fn new(
        store: &'s Store,
        (file, partial): (File, PathBuf),
        guard: Guard,
        digest: Option<Digest>,
        (hasher, written): (Hasher, u64),
        size: Size,
    ) -> BlobWriter<'s> {
        let (limit, exact) = match size {
            Size::Exact(n) => (Some(n), true),
            Size::AtMost(n) => (Some(n), false),
            Size::Any => (None, false),
        };
        BlobWriter {
            store,
            file,
            partial,
            guard: Some(guard),
            digest,
            algorithm: hasher.algorithm(),
            limit,
            exact,
            hasher: Hashing::Inline(hasher),
            written,
            unsynced: 0,
            flushing: None,
        }
    }

    /// Bytes already in the partial: where a resumed download goes on from.
    pub fn offset(&self) -> u64 {
        self.written
    }

    /// Bytes written so far (the same count as [`BlobWriter::offset`]).
    pub fn size(&self) -> u64 {
        self.written
    }

    /// The digest the writer was opened for (a pull's), if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// Starts over from zero (the server ignored our Range request).
    pub fn truncate(&mut self) -> Result<()> {
        let partial = self.partial.display().to_string();
        self.wait_flush()
            .map_err(|e| Error::io(e, format!("writing {partial}")))?;
        self.file
            .set_len(0)
            .map_err(|e| Error::io(e, format!("truncating {partial}")))?;
        let fresh = Hashing::Inline(Hasher::new(self.algorithm));
        let old = std::mem::replace(&mut self.hasher, fresh);
        let _ = old.finish();
        self.written = 0;
        self.unsynced = 0;
        Ok(())
    }

    /// Ends the writing: the blob is staged under the digest its bytes hash to, complete
    /// but not yet visible in the store.
    pub fn finish(mut self) -> Result<Staged<'s>> {
        self.wait_flush()
            .map_err(|e| Error::io(e, format!("writing {}", self.partial.display())))?;
        let hasher = std::mem::replace(&mut self.hasher, Hashing::Done)
            .finish()
            .map_err(|e| Error::io(e, format!("hashing {}", self.partial.display())))?;
        Ok(Staged {
            store: self.store,
            partial: std::mem::take(&mut self.partial),
            guard: self.guard.take(),
            digest: hasher.finish(),
            size: self.written,
        })
    }

    /// Commits the blob: its size must be complete (a pull's), its bytes must hash to
    /// `expected` when given and to the digest the writer was opened for, if any; then
    /// fsync, rename into `blobs/`, fsync the directories, and only then its row. Returns
    /// the digest committed. Content shorter than expected is kept for resuming; a digest
    /// mismatch commits nothing and removes the partial.
    pub fn commit(self, expected: Option<&Digest>, media_type: &str) -> Result<Digest> {
        let staged = self.verified(expected)?;
        let digest = staged.digest.clone();
        staged.commit(media_type)?;
        Ok(digest)
    }

    /// [`BlobWriter::commit`] with the other commits in flight in `group` (a pull's
    /// blobs): verified and synced here, then handed to the group's next batch (renamed
    /// into `blobs/` and recorded with the rest, one directory sync and one index
    /// transaction for all of them) and `then` told the outcome. Errors here are this
    /// blob's alone (a digest mismatch, as a commit of its own would say); a failed batch
    /// is told to `then` and by [`CommitGroup::finish`].
    pub fn hand_to<'g>(
        self,
        group: &CommitGroup<'g>,
        expected: Option<&Digest>,
        media_type: &str,
        then: Then<'g>,
    ) -> Result<Digest>
    where
        's: 'g,
    {
        let staged = self.verified(expected)?;
        let digest = staged.digest.clone();
        group.hand(staged, media_type, then)?;
        Ok(digest)
    }

    /// The staged blob, once its size and digest are as expected; errors say which blob
    /// they are of (`committing <digest>: …`) when the writer knows.
    fn verified(self, expected: Option<&Digest>) -> Result<Staged<'s>> {
        let named = expected.or(self.digest.as_ref()).cloned();
        self.verified_unnamed(expected).map_err(|e| match &named {
            Some(d) => e.context(format!("committing {d}")),
            None => e,
        })
    }

    fn verified_unnamed(self, expected: Option<&Digest>) -> Result<Staged<'s>> {
        if self.exact
            && let Some(size) = self.limit
            && self.written < size
        {
            return Err(Error::new(
                ErrorKind::Io,
                format!(
                    "content is incomplete: {} of {size} bytes written; the partial is kept for resuming",
                    self.written
                ),
            ));
        }
        let opened = self.digest.clone();
        let staged = self.finish()?;
        for want in [expected, opened.as_ref()].into_iter().flatten() {
            if staged.digest != *want {
                std::fs::remove_file(&staged.partial)
                    .map_err(|e| Error::io(e, format!("removing {}", staged.partial.display())))?;
                return Err(Error::new(
                    ErrorKind::DigestMismatch,
                    format!(
                        "digest mismatch: expected {want}, content hashes to {}; nothing was committed and the partial was removed",
                        staged.digest
                    ),
                ));
            }
        }
        Ok(staged)
    }

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

impl Write for BlobWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(limit) = self.limit
            && self.written + buf.len() as u64 > limit
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                match &self.digest {
                    Some(d) => format!("content of {d} is larger than its {limit} bytes"),
                    None => format!("more than the {limit} bytes allowed"),
                },
            ));
        }
        if self.written >= HASH_ON_A_THREAD_AFTER {
            self.hasher.move_to_thread();
        }
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n])?;
        self.written += n as u64;
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

impl Drop for BlobWriter<'_> {
    fn drop(&mut self) {
        let _ = self.wait_flush();
        let _ = std::mem::replace(&mut self.hasher, Hashing::Done).finish();
        if let Some(guard) = self.guard.take() {
            guard.release(&self.partial);
        }
    }
}

impl std::fmt::Debug for BlobWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobWriter")
            .field("digest", &self.digest)
            .field("limit", &self.limit)
            .field("partial", &self.partial)
            .field("written", &self.written)
            .finish()
    }
}

/// A written blob, hashed and complete but not yet visible in the store: commit it, or
/// drop it (a load's is then removed; a pull's stays for the next ingest of its digest).
pub struct Staged<'s> {
    store: &'s Store,
    partial: PathBuf,
    guard: Option<Guard>,
    digest: Digest,
    size: u64,
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

    /// The digest, in `algorithm`, of the bytes this compressed blob inflates to (a legacy
    /// `layer.tar`'s DiffID). Streamed under the bomb guard of
    /// [`decompress`](crate::compression::decompress), never held whole; the
    /// hashing runs on a thread of its own from the start, so inflating the next chunk
    /// overlaps hashing the last one (together they cost about what the slower does).
    pub fn inflated_digest(&self, algorithm: Algorithm) -> Result<Digest> {
        let file = File::open(&self.partial)
            .map_err(|e| Error::io(e, format!("opening {}", self.partial.display())))?;
        let (mut inflated, _) =
            crate::compression::decompress(io::BufReader::with_capacity(1 << 20, file))?;
        let mut hashing = Hashing::Inline(Hasher::new(algorithm));
        hashing.move_to_thread();
        let mut buf = vec![0u8; 1 << 20];
        // Errors carry no context of ours: the caller knows what this blob is to the user
        // (an archive path), which the staged file's name is not.
        loop {
            match inflated.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => hashing.update(&buf[..n])?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(hashing.finish()?.finish())
    }

    /// Makes the blob visible: fsync, rename into `blobs/`, fsync the directory, row. A
    /// blob the store already has intact is left as it is and the staged copy removed; a
    /// damaged one is replaced.
    pub fn commit(mut self, media_type: &str) -> Result<()> {
        let digest = self.digest.clone();
        self.commit_inner(media_type)
            .map_err(|e| e.context(format!("committing {digest}")))
    }

    /// Puts the bytes on disk: before any rename makes them visible.
    pub(super) fn sync(&self) -> Result<()> {
        File::open(&self.partial)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io(e, format!("syncing {}", self.partial.display())))
    }

    /// Whether this is a pull's partial, `ingest/<alg>-<hex>`, under the lock of its
    /// digest held since the ingest found the blob absent or damaged: it is published as
    /// it is, with no other check.
    pub(super) fn is_own_partial(&self) -> bool {
        let name = format!("{}-{}", self.digest.algorithm().as_str(), self.digest.hex());
        self.partial == self.store.root.join(INGEST_DIR).join(name)
            && matches!(self.guard, Some(Guard::Digest(_)))
    }

    fn commit_inner(&mut self, media_type: &str) -> Result<()> {
        let store = self.store;
        self.sync()?;
        let ingest_dir = store.root.join(INGEST_DIR);
        let name = format!("{}-{}", self.digest.algorithm().as_str(), self.digest.hex());
        // Any partial but a pull's own takes the digest's lock now, so that a pull of the
        // same blob waits for us, or we for it.
        if self.is_own_partial() {
            return store.publish(&self.partial, &self.digest, self.size, media_type);
        }
        let ingest_lock =
            LockFile::acquire(&ingest_dir.join(format!("{name}.lock")), Mode::Exclusive)?;
        // A blob already there is kept only if it still hashes right: a damaged one is
        // replaced by this verified copy, atomically by the rename below.
        let done = if store.blob_intact(&self.digest, Check::Hash)? == Some(true) {
            Ok(())
        } else {
            store.publish(&self.partial, &self.digest, self.size, media_type)
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
        if let Some(guard) = self.guard.take() {
            guard.release(&self.partial);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_imports_hash_on_a_thread_to_the_same_digest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let data: Vec<u8> = (0..20_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut w = store.import(Algorithm::Sha256, u64::MAX).unwrap();
        for chunk in data.chunks(1 << 20) {
            w.write_all(chunk).unwrap();
        }
        assert!(matches!(w.hasher, Hashing::Thread { .. }));
        let staged = w.finish().unwrap();
        assert_eq!(staged.digest(), &Digest::sha256_of(&data));
        assert_eq!(staged.size(), data.len() as u64);
    }
}
