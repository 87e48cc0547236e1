//! Imports: blobs whose digest is known only once their last byte is in (a legacy archive's
//! `layer.tar`, any entry of an archive being loaded). Each goes through the blob writer
//! (writer.rs) to a partial of its own in `ingest/`, `<session>.<n>`, guarded by its
//! session's one lock (an archive's blobs share it); [`ImportWriter::finish`] stages it
//! there, invisible, until the caller has checked everything it loads and commits it under
//! the digest it hashes to. Dropped uncommitted, the partial is removed: a failed load
//! leaves nothing.

use std::fs::OpenOptions;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::lock::LockFile;
use super::lock::Mode;
use super::writer::{Guard, Size};
use super::{INGEST_DIR, ImportWriter, Store};
use crate::digest::{Algorithm, Hasher};
use crate::error::{Error, Result};

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
pub(super) struct SessionLock(Option<LockFile>);

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
        Ok(ImportWriter::new(
            self.store,
            (file, partial),
            Guard::Session(self.guard.clone()),
            None,
            (Hasher::new(algorithm), 0),
            Size::AtMost(limit),
        ))
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

#[cfg(test)]
mod tests {
    use std::io::{self, Write};
    use std::path::Path;

    use super::*;
    use crate::digest::Digest;
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
