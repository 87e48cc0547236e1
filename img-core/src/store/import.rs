//! Imports: blobs whose digest is known only once their last byte is in (a legacy archive's
//! `layer.tar`, any entry of an archive being loaded). The bytes go to a file of their own
//! in `ingest/`, guarded by their session's one lock (an archive's blobs share it), hashed
//! as they are written; the result stays there, invisible,
//! until the caller has checked everything it loads and commits it under the digest it
//! hashes to. Dropped uncommitted, the file is removed: a failed load leaves nothing. A
//! staged compressed blob can also be hashed as it inflates (a legacy layer's DiffID).
//!
//! A commit follows the store's rules: it takes the digest's ingest lock (so it never races
//! a pull of the same blob), then the GC lock shared, renames into `blobs/`, fsyncs the
//! directory, and only then inserts the row.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::lock::{LockFile, Mode};
use super::{INGEST_DIR, Store};
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
    guard: Option<Arc<SessionLock>>,
    hasher: Hashing,
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
    guard: Option<Arc<SessionLock>>,
    digest: Digest,
    size: u64,
}

/// A set of imports guarded by one lock: a load stages every blob of its archive until it
/// commits, and a lock file (an open descriptor) for each would make an archive of more
/// blobs than the open-file limit (often 1024) unloadable. So a session holds one lock,
/// `ingest/<session>.lock`, and names its partials `ingest/<session>.<n>`; GC reads a
/// partial's name up to its first dot as the session whose lock guards it (see
/// [`guard_lock_name`]). The lock lives as long as the session or any of its writers or
/// staged blobs, and goes with the last of them, after their partials; a killed load's
/// lock dies with it, and GC then removes its partials as it does any unheld ones.
pub struct ImportSession<'s> {
    store: &'s Store,
    name: String,
    guard: Arc<SessionLock>,
    next: u64,
}

/// The held lock of a session; dropped with the last import of the session, it removes
/// its lock file while still holding it (so GC never sees a partial of the session beside
/// an unheld lock while the session lives).
struct SessionLock(Option<LockFile>);

impl Drop for SessionLock {
    fn drop(&mut self) {
        if let Some(lock) = self.0.take() {
            let _ = lock.remove();
        }
    }
}

/// The name of the lock file that guards the ingest partial `partial`: `<session>.lock`
/// for a session's `<session>.<n>`, else `<partial>.lock` (a pull's `sha256-<hex>`).
pub(crate) fn guard_lock_name(partial: &str) -> String {
    match partial.split_once('.') {
        Some((session, _)) => format!("{session}.lock"),
        None => format!("{partial}.lock"),
    }
}

impl Store {
    /// Starts a session of imports that share one lock (an archive's many blobs).
    pub fn import_session(&self) -> Result<ImportSession<'_>> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        // The time as well as the pid: a pid reused after a kill must not adopt the dead
        // session's leftovers (they would then live as long as the new session).
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let name = format!(
            "import-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let dir = self.root.join(INGEST_DIR);
        // The lock before any partial: GC leaves alone a partial whose guard is held.
        let lock = LockFile::acquire(&dir.join(format!("{name}.lock")), Mode::Exclusive)?;
        Ok(ImportSession {
            store: self,
            name,
            guard: Arc::new(SessionLock(Some(lock))),
            next: 0,
        })
    }

    /// Starts importing a blob hashed with `algorithm`, of at most `limit` bytes, in a
    /// session of its own.
    pub fn import(&self, algorithm: Algorithm, limit: u64) -> Result<ImportWriter<'_>> {
        self.import_session()?.import(algorithm, limit)
    }
}

impl<'s> ImportSession<'s> {
    /// Starts importing a blob hashed with `algorithm`, of at most `limit` bytes.
    pub fn import(&mut self, algorithm: Algorithm, limit: u64) -> Result<ImportWriter<'s>> {
        let partial = self
            .store
            .root
            .join(INGEST_DIR)
            .join(format!("{}.{}", self.name, self.next));
        self.next += 1;
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&partial)
            .map_err(|e| Error::io(e, format!("creating {}", partial.display())))?;
        Ok(ImportWriter {
            store: self.store,
            file,
            partial,
            guard: Some(self.guard.clone()),
            hasher: Hashing::Inline(Hasher::new(algorithm)),
            size: 0,
            limit,
            unsynced: 0,
            flushing: None,
        })
    }
}

impl std::fmt::Debug for ImportSession<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportSession")
            .field("name", &self.name)
            .field("next", &self.next)
            .finish()
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
        let hashing = std::mem::replace(
            &mut self.hasher,
            Hashing::Inline(Hasher::new(Algorithm::Sha256)),
        );
        let hasher = hashing
            .finish()
            .map_err(|e| Error::io(e, format!("hashing {}", self.partial.display())))?;
        Ok(Staged {
            store: self.store,
            partial: std::mem::take(&mut self.partial),
            guard: self.guard.take(),
            digest: hasher.finish(),
            size: self.size,
        })
    }
}

/// Past this many bytes, hashing moves to a thread of its own: a large layer is then read,
/// written and hashed at once rather than one after the other.
const HASH_ON_A_THREAD_AFTER: u64 = 4 * 1024 * 1024;
/// Chunks in flight to the hashing thread (memory stays bounded by a few of them).
const CHUNKS_IN_FLIGHT: usize = 4;

/// Where the bytes are hashed: inline, or on a thread fed copies of them.
enum Hashing {
    Inline(Hasher),
    Thread {
        to: std::sync::mpsc::SyncSender<Vec<u8>>,
        back: std::sync::mpsc::Receiver<Vec<u8>>,
        in_flight: usize,
        handle: std::thread::JoinHandle<Hasher>,
    },
    Done,
}

impl Hashing {
    fn move_to_thread(&mut self) {
        if !matches!(self, Hashing::Inline(_)) {
            return;
        }
        let Hashing::Inline(mut hasher) = std::mem::replace(self, Hashing::Done) else {
            return;
        };
        let (to, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(CHUNKS_IN_FLIGHT);
        let (tx_back, back) = std::sync::mpsc::channel();
        let handle = std::thread::spawn(move || {
            for chunk in rx {
                hasher.update(&chunk);
                // The writer may be gone already; its chunks need no recycling then.
                let _ = tx_back.send(chunk);
            }
            hasher
        });
        *self = Hashing::Thread {
            to,
            back,
            in_flight: 0,
            handle,
        };
    }

    fn update(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Hashing::Inline(h) => {
                h.update(data);
                Ok(())
            }
            Hashing::Thread {
                to,
                back,
                in_flight,
                ..
            } => {
                // A chunk the thread is done with, else a new one while few are out.
                let mut chunk = match back.try_recv() {
                    Ok(c) => {
                        *in_flight -= 1;
                        c
                    }
                    Err(_) if *in_flight < CHUNKS_IN_FLIGHT => Vec::new(),
                    Err(_) => {
                        let c = back.recv().map_err(|_| gone())?;
                        *in_flight -= 1;
                        c
                    }
                };
                chunk.clear();
                chunk.extend_from_slice(data);
                to.send(chunk).map_err(|_| gone())?;
                *in_flight += 1;
                Ok(())
            }
            Hashing::Done => Err(gone()),
        }
    }

    fn finish(self) -> io::Result<Hasher> {
        match self {
            Hashing::Inline(h) => Ok(h),
            Hashing::Thread { to, handle, .. } => {
                drop(to);
                handle.join().map_err(|_| gone())
            }
            Hashing::Done => Err(gone()),
        }
    }
}

fn gone() -> io::Error {
    io::Error::other("the hashing thread stopped")
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
        if self.size >= HASH_ON_A_THREAD_AFTER {
            self.hasher.move_to_thread();
        }
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n])?;
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
        let _ = std::mem::replace(&mut self.hasher, Hashing::Done).finish();
        discard(&self.partial, self.guard.take());
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
        // A blob already there is kept only if it still hashes right: a damaged one is
        // replaced by this verified copy, atomically by the rename below.
        let done = if store.blob_intact(&self.digest, super::Check::Hash)? == Some(true) {
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
        discard(&self.partial, self.guard.take());
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

/// Removes an uncommitted partial, then lets go of its session's lock (the last one out
/// removes the lock file): never the other way round, so that GC never sees the partial
/// without a held lock.
fn discard(partial: &Path, guard: Option<Arc<SessionLock>>) {
    if !partial.as_os_str().is_empty() {
        let _ = std::fs::remove_file(partial);
    }
    drop(guard);
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

    #[test]
    fn inflated_digest_hashes_what_a_compressed_blob_inflates_to() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let data: Vec<u8> = (0..6_000_000u32).map(|i| (i % 253) as u8).collect();
        let zst = zstd::encode_all(&data[..], 1).unwrap();
        let mut w = store.import(Algorithm::Sha256, u64::MAX).unwrap();
        w.write_all(&zst).unwrap();
        let staged = w.finish().unwrap();
        assert_eq!(staged.digest(), &Digest::sha256_of(&zst));
        assert_eq!(
            staged.inflated_digest(Algorithm::Sha256).unwrap(),
            Digest::sha256_of(&data)
        );
        // Cut short, the stream fails rather than hashing what it has.
        let mut w = store.import(Algorithm::Sha256, u64::MAX).unwrap();
        w.write_all(&zst[..zst.len() / 2]).unwrap();
        assert!(
            w.finish()
                .unwrap()
                .inflated_digest(Algorithm::Sha256)
                .is_err()
        );
    }

    #[test]
    fn a_session_guards_all_its_partials_with_one_lock_that_goes_last() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let ingest = dir.path().join(INGEST_DIR);
        let mut session = store.import_session().unwrap();
        let mut staged = Vec::new();
        for i in 0..5u8 {
            let mut w = session.import(Algorithm::Sha256, 100).unwrap();
            w.write_all(&[i; 10]).unwrap();
            staged.push(w.finish().unwrap());
        }
        let writing = session.import(Algorithm::Sha256, 100).unwrap();
        drop(session);
        let names = |dir: &Path| -> Vec<String> {
            files_in(dir)
                .iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect()
        };
        let files = names(&ingest);
        assert_eq!(files.iter().filter(|n| n.ends_with(".lock")).count(), 1);
        assert_eq!(files.len(), 7, "{files:?}");
        // `img-rm --prune`'s collection takes every partial nobody holds: none of these.
        let report = store.gc_with(&crate::store::GcOptions::prune()).unwrap();
        assert_eq!(report.ingests_removed, 0);
        assert_eq!(names(&ingest), files);

        staged.remove(0).commit("application/octet-stream").unwrap();
        drop(writing);
        assert!(names(&ingest).iter().any(|n| n.ends_with(".lock")));
        drop(staged);
        assert_eq!(names(&ingest), Vec::<String>::new());
        assert_eq!(
            store.read_blob(&Digest::sha256_of(&[0; 10])).unwrap(),
            [0; 10]
        );
    }

    #[test]
    fn a_dead_sessions_partials_and_lock_are_collected() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let ingest = dir.path().join(INGEST_DIR);
        // What a killed load leaves: partials, and the lock file nobody holds any more.
        for n in ["import-1-2-3.0", "import-1-2-3.1", "import-1-2-3.lock"] {
            std::fs::write(ingest.join(n), b"partial").unwrap();
        }
        assert_eq!(guard_lock_name("import-1-2-3.1"), "import-1-2-3.lock");
        assert_eq!(guard_lock_name("sha256-ab"), "sha256-ab.lock");
        let report = store.gc_with(&crate::store::GcOptions::prune()).unwrap();
        assert_eq!(report.ingests_removed, 2);
        assert!(files_in(&ingest).is_empty(), "{:?}", files_in(&ingest));
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
