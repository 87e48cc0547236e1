//! Ingest: a pull's blob, containerd style — the blob writer on a partial of its digest's
//! own, `ingest/<alg>-<hex>`, under that digest's lock, resumed after an interruption
//! (re-hashed, then an HTTP Range request goes on from its end). Writing and committing
//! are the blob writer's (writer.rs).

use std::fs::{File, OpenOptions};
use std::io;

use super::commit::rehash;
use super::lock::{LockFile, Mode};
use super::writer::{Guard, Size};
use super::{Check, INGEST_DIR, IngestWriter, Store};
use crate::digest::Digest;
use crate::error::{Error, Result};

/// What [`Store::ingest`] found.
#[derive(Debug)]
pub enum Ingest<'s> {
    /// The blob is not committed yet: write it (from [`IngestWriter::offset`] on), then
    /// [`IngestWriter::commit`]. Boxed: the writer carries a hasher's state.
    Writer(Box<IngestWriter<'s>>),
    /// The blob is committed already (perhaps by a process we waited for): nothing to do.
    AlreadyPresent,
}

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
        let size = expected_size.map_or(Size::Any, Size::Exact);
        let mut writer = IngestWriter::new(
            self,
            (file, partial),
            Guard::Digest(lock),
            Some(digest.clone()),
            (hasher, offset),
            size,
        );
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

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::error::ErrorKind;
    use crate::store::test_support::{
        assert_success, content, files_in, helper_env, signal, spawn_helper, wait_for,
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
        let Some((role, store, signals)) = helper_env() else {
            return;
        };
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
                        w.commit(Some(&d), "application/octet-stream").unwrap();
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
                        w.commit(Some(&d), "application/octet-stream").unwrap();
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
        w.commit(Some(&d), "application/vnd.oci.image.layer.v1.tar+gzip")
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
        let err = w.commit(Some(&d), "application/octet-stream").unwrap_err();
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
        w.commit(Some(&d), "application/octet-stream").unwrap();
        assert_eq!(store.read_blob(&d).unwrap(), data);
    }

    #[test]
    fn short_content_is_refused_and_kept_for_resuming() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (data, d) = content(6, 100);
        let mut w = writer(&store, &d, Some(100));
        w.write_all(&data[..40]).unwrap();
        let err = w.commit(Some(&d), "application/octet-stream").unwrap_err();
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
        w.commit(Some(&d), "application/octet-stream").unwrap();
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
        w.commit(Some(&e), "application/octet-stream").unwrap();
        assert_eq!(store.read_blob(&e).unwrap(), good);
    }
}
