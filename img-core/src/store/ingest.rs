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
    /// [`IngestWriter::commit`]. Boxed: the writer carries a hasher's state.
    Writer(Box<IngestWriter<'s>>),
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
    /// Bytes written since the last write-behind flush (see [`WRITE_BEHIND`]).
    unsynced: u64,
}

/// How many bytes a writer lets pile up in the page cache before asking the kernel to put
/// them on disk. With much memory the kernel would otherwise keep a whole large layer
/// dirty until the commit's fsync, and the disk would sit idle while the network works,
/// then the network while the disk does; flushing as we go overlaps the two, so the
/// commit's fsync finds little left to do.
const WRITE_BEHIND: u64 = 16 * 1024 * 1024;

impl Store {
    /// Starts (or resumes) writing the blob `digest`, of `expected_size` bytes if known.
    ///
    /// Takes the exclusive lock of `ingest/<alg>-<hex>.lock`, waiting for any other process
    /// (or thread) ingesting the same digest; if that one committed the blob, returns
    /// [`Ingest::AlreadyPresent`]. A partial left by an earlier, interrupted run is kept and
    /// re-hashed: [`IngestWriter::offset`] says where to resume (an HTTP Range request).
    ///
    /// A committed blob whose file has the wrong size (damaged on disk) counts as absent:
    /// the writer's commit replaces the bad file by a rename, so readers see the old file
    /// or the new one, never a mix. [`Store::ingest_checked`] with [`Check::Hash`] also
    /// re-hashes the committed file (`img-pull --verify`).
    pub fn ingest(&self, digest: &Digest, expected_size: Option<u64>) -> Result<Ingest<'_>> {
        self.ingest_checked(digest, expected_size, Check::Size)
    }

    /// [`Store::ingest`], judging a committed blob intact by `check`.
    pub fn ingest_checked(
        &self,
        digest: &Digest,
        expected_size: Option<u64>,
        check: Check,
    ) -> Result<Ingest<'_>> {
        let doing = || format!("ingesting {digest}");
        if self.blob_intact(digest, check)? == Some(true) {
            return Ok(Ingest::AlreadyPresent);
        }
        let name = format!("{}-{}", digest.algorithm().as_str(), digest.hex());
        let dir = self.root.join(INGEST_DIR);
        let lock = LockFile::acquire(&dir.join(format!("{name}.lock")), Mode::Exclusive)
            .map_err(|e| e.context(doing()))?;
        // Whoever held the lock before us may have committed (or repaired) the blob. A row
        // whose file is damaged keeps its file until the repair's rename replaces it.
        let present = match self.blob_intact(digest, check)? {
            Some(intact) => intact,
            None => self.adopt_orphan(digest, expected_size)?,
        };
        if present {
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
        let (hasher, offset) = rehash(&mut file, digest)
            .map_err(|e| Error::io(e, format!("reading {}", partial.display())))?;
        let mut writer = IngestWriter {
            store: self,
            digest: digest.clone(),
            expected_size,
            file,
            partial,
            lock,
            hasher,
            offset,
            unsynced: 0,
        };
        // A partial longer than the blob cannot be a prefix of it.
        if expected_size.is_some_and(|size| offset > size) {
            writer.truncate()?;
        }
        Ok(Ingest::Writer(Box::new(writer)))
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
        let (hasher, size) = rehash(&mut file, digest)
            .map_err(|e| Error::io(e, format!("reading {}", path.display())))?;
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
        self.store
            .publish(&self.partial, &self.digest, self.offset, media_type)
    }
}

impl Store {
    /// The end of every commit, once the partial at `partial` is synced and verified:
    /// rename it into `blobs/` (over a damaged file, if any: readers see one or the
    /// other), sync both directories, and only then insert the blob's row. Holds
    /// `gc.lock` shared throughout, so no collection sweeps in between (see gc.rs).
    pub(super) fn publish(
        &self,
        partial: &std::path::Path,
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
                format!("content of {} is larger than its {size} bytes", self.digest),
            ));
        }
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.offset += n as u64;
        self.unsynced += n as u64;
        if self.unsynced >= WRITE_BEHIND {
            self.file.sync_data()?;
            self.unsynced = 0;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::{
        ROLE_VAR, ROOT_VAR, SIGNAL_VAR, assert_success, content, files_in, signal, spawn_helper,
        wait_for,
    };

    const HELPER: &str = "store::ingest::tests::helper";
    const BIG: usize = 1 << 20;

    fn writer<'s>(store: &'s Store, d: &Digest, size: Option<u64>) -> IngestWriter<'s> {
        match store.ingest(d, size).unwrap() {
            Ingest::Writer(w) => *w,
            Ingest::AlreadyPresent => panic!("{d} unexpectedly present"),
        }
    }

    /// Not a test on its own: the body of the child processes the tests below start.
    #[test]
    fn helper() {
        let Ok(role) = std::env::var(ROLE_VAR) else {
            return;
        };
        let root = PathBuf::from(std::env::var(ROOT_VAR).unwrap());
        let signals = PathBuf::from(std::env::var(SIGNAL_VAR).unwrap());
        let store = Store::open(&root).unwrap();
        let (data, d) = content(1, BIG);
        match role.split_once(':') {
            Some(("whole", name)) => {
                signal(&signals, &format!("ready-{name}"));
                wait_for(&signals, "go");
                match store.ingest(&d, Some(BIG as u64)).unwrap() {
                    Ingest::AlreadyPresent => signal(&signals, &format!("present-{name}")),
                    Ingest::Writer(mut w) => {
                        assert_eq!(w.offset(), 0);
                        for chunk in data.chunks(64 * 1024) {
                            w.write_all(chunk).unwrap();
                            std::thread::sleep(std::time::Duration::from_millis(3));
                        }
                        w.commit("application/octet-stream").unwrap();
                        signal(&signals, &format!("wrote-{name}"));
                    }
                }
            }
            Some(("part", _)) => {
                let mut w = writer(&store, &d, Some(BIG as u64));
                w.write_all(&data[..300_000]).unwrap();
                signal(&signals, "partial-written");
                // Wait to be killed mid-ingest.
                std::thread::sleep(std::time::Duration::from_secs(120));
                panic!("the parent should have killed this helper");
            }
            _ => panic!("unknown helper role {role}"),
        }
    }

    #[test]
    fn two_processes_ingesting_one_blob_end_with_one_blob() {
        let dir = tempfile::tempdir().unwrap();
        let (root, signals) = (dir.path().join("store"), dir.path().join("signals"));
        std::fs::create_dir(&signals).unwrap();
        let store = Store::open(&root).unwrap();
        let children: Vec<_> = ["a", "b"]
            .iter()
            .map(|n| spawn_helper(HELPER, &format!("whole:{n}"), &root, &signals))
            .collect();
        wait_for(&signals, "ready-a");
        wait_for(&signals, "ready-b");
        signal(&signals, "go");
        for c in children {
            assert_success(c, "an ingesting helper");
        }
        let wrote: Vec<_> = ["a", "b"]
            .iter()
            .filter(|n| signals.join(format!("wrote-{n}")).exists())
            .collect();
        assert_eq!(wrote.len(), 1, "exactly one process writes the blob");
        let (data, d) = content(1, BIG);
        assert_eq!(
            files_in(&root.join("blobs/sha256")),
            vec![store.blob_path(&d)]
        );
        assert_eq!(store.index().blobs().unwrap().len(), 1);
        assert_eq!(std::fs::read(store.blob_path(&d)).unwrap(), data);
        assert!(files_in(&root.join("ingest")).is_empty());
    }

    #[test]
    fn threads_with_their_own_handles_ingesting_one_blob_end_with_one_blob() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_owned();
        let (data, d) = content(2, 256 * 1024);
        let barrier = std::sync::Barrier::new(4);
        let wrote = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    let store = Store::open(&root).unwrap();
                    barrier.wait();
                    if let Ingest::Writer(mut w) =
                        store.ingest(&d, Some(data.len() as u64)).unwrap()
                    {
                        for chunk in data.chunks(16 * 1024) {
                            w.write_all(chunk).unwrap();
                        }
                        w.commit("application/octet-stream").unwrap();
                        wrote.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(wrote.into_inner(), 1);
        let store = Store::open(&root).unwrap();
        assert_eq!(
            files_in(&root.join("blobs/sha256")),
            vec![store.blob_path(&d)]
        );
        assert_eq!(store.index().blobs().unwrap().len(), 1);
        assert_eq!(store.read_blob(&d).unwrap(), data);
    }

    #[test]
    fn killed_writer_leaves_nothing_visible_and_the_next_ingest_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let (root, signals) = (dir.path().join("store"), dir.path().join("signals"));
        std::fs::create_dir(&signals).unwrap();
        let store = Store::open(&root).unwrap();
        let mut child = spawn_helper(HELPER, "part:x", &root, &signals);
        wait_for(&signals, "partial-written");
        child.kill().unwrap();
        child.wait().unwrap();

        let (data, d) = content(1, BIG);
        assert!(files_in(&root.join("blobs/sha256")).is_empty());
        assert!(!store.has_blob(&d).unwrap());
        assert_eq!(store.index().blob(&d).unwrap(), None);

        let mut w = writer(&store, &d, Some(BIG as u64));
        assert_eq!(w.offset(), 300_000);
        w.write_all(&data[300_000..]).unwrap();
        w.commit("application/vnd.oci.image.layer.v1.tar+gzip")
            .unwrap();
        assert!(store.has_blob(&d).unwrap());
        assert_eq!(std::fs::read(store.blob_path(&d)).unwrap(), data);
        let row = store.index().blob(&d).unwrap().unwrap();
        assert_eq!(row.size, BIG as u64);
        assert_eq!(
            row.media_type,
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
    }

    #[test]
    fn digest_mismatch_commits_nothing_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (_, d) = content(3, 1000);
        let (wrong, _) = content(4, 1000);
        let mut w = writer(&store, &d, Some(1000));
        w.write_all(&wrong).unwrap();
        let err = w.commit("application/octet-stream").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DigestMismatch);
        let msg = err.to_string();
        assert!(msg.contains("digest mismatch"), "{msg}");
        assert!(msg.contains(&d.to_string()), "{msg}");
        assert!(files_in(&dir.path().join("blobs/sha256")).is_empty());
        assert!(store.index().blobs().unwrap().is_empty());
        // The bad partial is gone: the next ingest starts from zero.
        assert!(files_in(&dir.path().join("ingest")).is_empty());
        assert_eq!(writer(&store, &d, Some(1000)).offset(), 0);
    }

    #[test]
    fn writing_past_the_expected_size_fails_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (data, d) = content(5, 10);
        let mut w = writer(&store, &d, Some(10));
        w.write_all(&data[..6]).unwrap();
        let err = w.write(&[0; 5]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(w.offset(), 6);
        w.write_all(&data[6..]).unwrap();
        w.commit("application/octet-stream").unwrap();
        assert_eq!(store.read_blob(&d).unwrap(), data);
    }

    #[test]
    fn short_content_is_refused_and_kept_for_resuming() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (data, d) = content(6, 100);
        let mut w = writer(&store, &d, Some(100));
        w.write_all(&data[..40]).unwrap();
        let err = w.commit("application/octet-stream").unwrap_err();
        assert!(err.to_string().contains("40 of 100 bytes"), "{err}");
        assert!(!store.has_blob(&d).unwrap());
        assert_eq!(writer(&store, &d, Some(100)).offset(), 40);
    }

    #[test]
    fn truncate_restarts_when_the_server_ignores_range() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (data, d) = content(7, 5000);
        let mut w = writer(&store, &d, None);
        w.write_all(b"garbage from a previous attempt").unwrap();
        drop(w);
        let mut w = writer(&store, &d, None);
        assert_eq!(w.offset(), 31);
        w.truncate().unwrap();
        assert_eq!(w.offset(), 0);
        w.write_all(&data).unwrap();
        w.commit("application/octet-stream").unwrap();
        assert_eq!(store.read_blob(&d).unwrap(), data);
    }

    #[test]
    fn a_blob_file_without_a_row_is_adopted_if_it_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (data, d) = content(8, 4000);
        std::fs::write(store.blob_path(&d), &data).unwrap();
        assert!(!store.has_blob(&d).unwrap());
        assert!(matches!(
            store.ingest(&d, Some(4000)).unwrap(),
            Ingest::AlreadyPresent
        ));
        assert!(store.has_blob(&d).unwrap());

        let (good, e) = content(9, 4000);
        std::fs::write(store.blob_path(&e), b"not the content").unwrap();
        let mut w = writer(&store, &e, Some(4000));
        assert!(!store.blob_path(&e).exists(), "the bad file is removed");
        w.write_all(&good).unwrap();
        w.commit("application/octet-stream").unwrap();
        assert_eq!(store.read_blob(&e).unwrap(), good);
    }
}
