//! Garbage collection: mark and sweep over blob rows, then files; and stale ingests.
//!
//! Roots are every image (tagged or not) and every live lease. The mark and the row half of
//! the sweep run in one `BEGIN IMMEDIATE` transaction (see
//! [`Index::collect_garbage_rows`](crate::index::Index::collect_garbage_rows)), so a lease
//! protecting a digest or an image recorded concurrently is either seen by the mark or
//! written after the rows are gone (and then the blob is simply fetched again).
//!
//! Files need one more guard. A commit renames a file into `blobs/` and then inserts its
//! row; if GC deleted a row it had judged garbage and a concurrent ingest committed the
//! same digest again before GC removed the file, GC would delete the new file under a fresh
//! row. So GC holds `gc.lock` exclusively from before its transaction until its last file
//! deletion, and every commit holds it shared around rename + row insert: a commit happens
//! wholly before a collection or wholly after it. We chose a lock over re-checking each row
//! before each unlink because the re-check still races with a rename that follows it, and
//! because the same lock makes orphan files (renamed, row never written) safe to remove.
//!
//! A collection first removes what needs no index write — partials nobody holds, and blob
//! files that no row references — and only then deletes rows and their files: on a full
//! disk, where SQLite cannot write, the first part still frees space, and the second then
//! has room (issue 9: `img-rm --prune` must work on a full disk).

use std::path::Path;
use std::time::{Duration, SystemTime};

use super::lock::{LockFile, Mode};
use super::{BLOBS_DIR, INGEST_DIR, LEASES_DIR, Store, lease};
use crate::digest::Digest;
use crate::error::{Error, ErrorKind, Result};

/// How a collection runs.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// A partial ingest nobody holds is removed once it is this old (by modification
    /// time), so a killed pull can still resume for a while. One day by default.
    pub ingest_max_age: Duration,
}

impl GcOptions {
    /// A person's explicit request to reclaim space (`img-rm --prune`): every partial
    /// that no process holds goes, whatever its age.
    pub fn prune() -> GcOptions {
        GcOptions {
            ingest_max_age: Duration::ZERO,
        }
    }
}

impl Default for GcOptions {
    fn default() -> GcOptions {
        GcOptions {
            ingest_max_age: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// What a collection removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Blob files removed (unreferenced, or orphaned by a killed commit).
    pub blobs_removed: u64,
    /// Bytes the removed blob files and partials took.
    pub bytes_reclaimed: u64,
    /// Stale partial ingests removed.
    pub ingests_removed: u64,
    /// Dead leases removed.
    pub leases_removed: u64,
}

impl GcReport {
    /// Adds what another pass removed.
    pub fn add(&mut self, other: &GcReport) {
        self.blobs_removed += other.blobs_removed;
        self.bytes_reclaimed += other.bytes_reclaimed;
        self.ingests_removed += other.ingests_removed;
        self.leases_removed += other.leases_removed;
    }
}

impl Store {
    /// Removes what no index row knows of, writing nothing to the index (so it works on a
    /// full disk): partials that nobody holds and that are older than
    /// `options.ingest_max_age`, and blob files without a row. `img-rm --prune` runs it
    /// before anything else.
    pub fn reclaim_unindexed(&self, options: &GcOptions) -> Result<GcReport> {
        let run = || {
            let _gc = LockFile::acquire(&self.gc_lock_path(), Mode::Exclusive)?;
            self.remove_unindexed(options)
        };
        run().map_err(|e| e.context(format!("reclaiming space in {}", self.root.display())))
    }

    /// Collects garbage with the default options.
    pub fn gc(&self) -> Result<GcReport> {
        self.gc_with(&GcOptions::default())
    }

    /// Collects garbage: removes every blob no image and no live lease references, the
    /// leases of dead processes, and partial ingests that nobody holds and that are older
    /// than `options.ingest_max_age`.
    pub fn gc_with(&self, options: &GcOptions) -> Result<GcReport> {
        self.collect(options)
            .map_err(|e| e.context(format!("collecting garbage in {}", self.root.display())))
    }

    fn collect(&self, options: &GcOptions) -> Result<GcReport> {
        let _gc = LockFile::acquire(&self.gc_lock_path(), Mode::Exclusive)?;
        let mut report = self.remove_unindexed(options)?;

        // A lease we cannot probe counts as live: keeping a blob is always safe.
        let (garbage, dead) = self
            .index
            .collect_garbage_rows(|row| lease::is_live(self, &row.id).unwrap_or(true))?;
        for row in &dead {
            lease::remove_dead(self, &row.id)?;
            report.leases_removed += 1;
        }
        for row in &garbage {
            if let Some(bytes) = remove_if_present(&self.blob_path(&row.digest))? {
                report.blobs_removed += 1;
                report.bytes_reclaimed += bytes;
            }
        }
        if !garbage.is_empty() {
            for alg in algorithm_dirs(&self.root)? {
                super::sync_dir(&alg)?;
            }
        }
        self.remove_stray_lease_files()?;
        Ok(report)
    }

    /// The part of a collection that writes nothing to the index; the caller holds the
    /// GC lock exclusively.
    fn remove_unindexed(&self, options: &GcOptions) -> Result<GcReport> {
        remove_unindexed(&self.root, &self.index, options)
    }

    /// For `img-rm --prune` on a store that may sit on a full disk, where even opening it
    /// for writing fails (SQLite needs room for its WAL): removes every partial nobody
    /// holds, which needs no index at all, and then, if the index can be read without
    /// writing and belongs to these blobs, blob files without a row.
    pub fn reclaim_before_open(root: &Path) -> Result<GcReport> {
        if root.join(super::INDEX_FILE).is_file() {
            super::check_writable(root)?;
        }
        let run = || -> Result<GcReport> {
            if !root.join(super::INDEX_FILE).is_file() {
                return Ok(GcReport::default());
            }
            let _gc = LockFile::acquire(&root.join(super::GC_LOCK_FILE), Mode::Exclusive)?;
            // Rows in the WAL count: only `mode=ro`, never `immutable`, may judge orphans.
            match Store::open_read_only_seeing_writers(root) {
                Ok(store) => remove_unindexed(root, &store.index, &GcOptions::prune()),
                Err(e) if e.kind() == ErrorKind::LostIndex => Err(e),
                Err(_) => {
                    let (ingests, bytes) = remove_stale_ingests(root, Duration::ZERO)?;
                    Ok(GcReport {
                        ingests_removed: ingests,
                        bytes_reclaimed: bytes,
                        ..GcReport::default()
                    })
                }
            }
        };
        run().map_err(|e| e.context(format!("reclaiming space in {}", root.display())))
    }
}

/// The part of a collection that writes nothing to the index; the caller holds the GC
/// lock exclusively.
fn remove_unindexed(
    root: &Path,
    index: &crate::index::Index,
    options: &GcOptions,
) -> Result<GcReport> {
    let mut report = GcReport::default();
    let (ingests, ingest_bytes) = remove_stale_ingests(root, options.ingest_max_age)?;
    report.ingests_removed = ingests;
    report.bytes_reclaimed += ingest_bytes;
    // Orphans: files renamed into place by a commit killed before its row insert. No
    // commit is in flight (the caller holds the GC lock exclusively), so a file
    // without a row now will not get one.
    let rows: std::collections::HashSet<Digest> =
        index.blobs()?.into_iter().map(|b| b.digest).collect();
    for alg in algorithm_dirs(root)? {
        for (digest, file) in blob_files(&alg)? {
            if !rows.contains(&digest)
                && let Some(bytes) = remove_if_present(&file)?
            {
                report.blobs_removed += 1;
                report.bytes_reclaimed += bytes;
            }
        }
        if report.blobs_removed > 0 {
            super::sync_dir(&alg)?;
        }
    }
    Ok(report)
}

/// The files of one algorithm's directory under `blobs/` that are named as blobs, with
/// their digests; anything else there is not ours to count or remove.
pub(super) fn blob_files(alg: &Path) -> Result<Vec<(Digest, std::path::PathBuf)>> {
    let Some(alg_name) = alg.file_name().and_then(|n| n.to_str()) else {
        return Ok(Vec::new());
    };
    Ok(read_dir(alg)?
        .into_iter()
        .filter_map(|file| {
            let hex = file.file_name()?.to_str()?;
            let digest = Digest::parse(&format!("{alg_name}:{hex}")).ok()?;
            Some((digest, file))
        })
        .collect())
}

/// The per-algorithm directories under `blobs/` (not `blobs/store-id`).
pub(super) fn algorithm_dirs(root: &Path) -> Result<Vec<std::path::PathBuf>> {
    Ok(read_dir(&root.join(BLOBS_DIR))?
        .into_iter()
        .filter(|p| p.is_dir())
        .collect())
}

/// Removes partials nobody holds (their own lock, or their import session's) that are
/// older than `max_age`, and lock files left without a partial.
fn remove_stale_ingests(root: &Path, max_age: Duration) -> Result<(u64, u64)> {
    let dir = root.join(INGEST_DIR);
    let now = SystemTime::now();
    let mut removed = 0;
    let mut bytes = 0;
    for path in read_dir(&dir)? {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if let Some(partial_name) = name.strip_suffix(".lock") {
            if !dir.join(partial_name).exists()
                && let Some(lock) = LockFile::try_exclusive(&path)?
                && !dir.join(partial_name).exists()
            {
                lock.remove()?;
            }
            continue;
        }
        // A session's partials share their session's lock (see `ImportSession`).
        let guard = dir.join(super::import::guard_lock_name(name));
        let Some(lock) = LockFile::try_exclusive(&guard)? else {
            continue; // somebody is writing it
        };
        let modified = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .map_err(|e| Error::io(e, format!("reading {}", path.display())))?;
        let age = now.duration_since(modified).unwrap_or(Duration::ZERO);
        if age >= max_age {
            if let Some(size) = remove_if_present(&path)? {
                removed += 1;
                bytes += size;
            }
            lock.remove()?;
        }
    }
    Ok((removed, bytes))
}

impl Store {
    /// Lease lock files whose row is gone and which nobody holds (a process killed while
    /// taking or releasing its lease).
    fn remove_stray_lease_files(&self) -> Result<()> {
        let ids: std::collections::HashSet<String> =
            self.index.leases()?.into_iter().map(|l| l.id).collect();
        for path in read_dir(&self.root.join(LEASES_DIR))? {
            let Some(id) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".lock"))
            else {
                continue;
            };
            if !ids.contains(id) {
                lease::remove_dead(self, id)?;
            }
        }
        Ok(())
    }
}

/// The entries of `dir` (none if it does not exist); the estimate walks what GC walks.
pub(super) fn read_dir(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(e, format!("listing {}", dir.display()))),
    };
    entries
        .map(|e| {
            e.map(|e| e.path())
                .map_err(|e| Error::io(e, format!("listing {}", dir.display())))
        })
        .collect()
}

/// The size of the file `path` (not following a symlink), or `None` if it is gone.
pub(super) fn size_if_present(path: &Path) -> Result<Option<u64>> {
    match std::fs::symlink_metadata(path) {
        Ok(m) => Ok(Some(m.len())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(e, format!("reading {}", path.display()))),
    }
}

/// Removes `path`, returning its size, or `None` if it was already gone.
fn remove_if_present(path: &Path) -> Result<Option<u64>> {
    let Some(size) = size_if_present(path)? else {
        return Ok(None);
    };
    match std::fs::remove_file(path) {
        Ok(()) => Ok(Some(size)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(e, format!("removing {}", path.display()))),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::index::NewImage;
    use crate::store::Ingest;
    use crate::store::test_support::{content, helper_env, signal, spawn_helper, wait_for};

    const HELPER: &str = "store::gc::tests::helper";

    fn put(store: &Store, seed: u8, len: usize) -> (Digest, u64) {
        let (data, d) = content(seed, len);
        store
            .put_blob("application/octet-stream", &data, &d)
            .unwrap();
        (d, len as u64)
    }

    /// Not a test on its own: the body of the child processes the tests below start.
    #[test]
    fn helper() {
        let Some((role, store, signals)) = helper_env() else {
            return;
        };
        let (name, digest) = role.split_once(':').unwrap();
        let lease = store.lease(&format!("testing {name}")).unwrap();
        lease.protect(&Digest::parse(digest).unwrap()).unwrap();
        signal(&signals, &format!("leased-{name}"));
        std::thread::sleep(std::time::Duration::from_secs(120));
        panic!("the parent should have killed this helper");
    }

    #[test]
    fn gc_keeps_roots_and_removes_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let (root, signals) = (dir.path().join("store"), dir.path().join("signals"));
        std::fs::create_dir(&signals).unwrap();
        let store = Store::open(&root).unwrap();
        let (layer, _) = put(&store, 1, 3000);
        let (manifest, _) = put(&store, 2, 300);
        let (config, _) = put(&store, 3, 200);
        let (leased_here, _) = put(&store, 4, 100);
        let (leased_by_dead, dead_size) = put(&store, 5, 700);
        let (leased_by_live, _) = put(&store, 6, 100);
        let (unreferenced, unref_size) = put(&store, 7, 1100);
        // An orphan: committed file, row never written (a commit killed in between).
        let (orphan_data, orphan) = content(8, 50);
        std::fs::write(store.blob_path(&orphan), &orphan_data).unwrap();

        store
            .index()
            .put_image(&NewImage {
                id: config.clone(),
                target: manifest.clone(),
                target_media_type: crate::oci::media_type::OCI_MANIFEST.into(),
                created: None,
                platform: "linux/amd64".into(),
                blobs: vec![layer.clone()],
                labels: BTreeMap::new(),
                tags: vec![],
                repo_digests: vec![],
            })
            .unwrap();
        let lease = store.lease("testing here").unwrap();
        lease.protect(&leased_here).unwrap();
        let mut dead = spawn_helper(HELPER, &format!("dead:{leased_by_dead}"), &root, &signals);
        let mut live = spawn_helper(HELPER, &format!("live:{leased_by_live}"), &root, &signals);
        wait_for(&signals, "leased-dead");
        wait_for(&signals, "leased-live");
        dead.kill().unwrap();
        dead.wait().unwrap();

        let report = store.gc().unwrap();
        live.kill().unwrap();
        live.wait().unwrap();
        assert_eq!(
            report,
            GcReport {
                blobs_removed: 3,
                bytes_reclaimed: dead_size + unref_size + 50,
                ingests_removed: 0,
                leases_removed: 1,
            }
        );
        for kept in [&layer, &manifest, &config, &leased_here, &leased_by_live] {
            assert!(store.has_blob(kept).unwrap(), "{kept} was removed");
        }
        for gone in [&leased_by_dead, &unreferenced, &orphan] {
            assert!(!store.blob_path(gone).exists(), "{gone} was kept");
            assert_eq!(store.index().blob(gone).unwrap(), None);
        }
        assert_eq!(store.index().leases().unwrap().len(), 2);

        // Once the lease goes and the killed helper's lease is collected, so do their blobs;
        // once the image goes, so do its blobs.
        drop(lease);
        let report = store.gc().unwrap();
        assert_eq!(report.blobs_removed, 2);
        assert_eq!(report.leases_removed, 1);
        assert!(store.has_blob(&layer).unwrap());
        store.index().delete_image(&config).unwrap();
        assert_eq!(store.gc().unwrap().blobs_removed, 3);
        assert!(store.index().blobs().unwrap().is_empty());
        assert!(
            std::fs::read_dir(root.join(LEASES_DIR))
                .unwrap()
                .next()
                .is_none()
        );
    }

    #[test]
    fn stale_ingests_go_only_when_unlocked_and_old() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let two_days_ago = SystemTime::now() - Duration::from_secs(2 * 24 * 3600);
        let partial = |seed: u8, age: Option<SystemTime>| {
            let (data, d) = content(seed, 1000);
            let Ingest::Writer(mut w) = store.ingest(&d, Some(1000)).unwrap() else {
                panic!("unexpectedly present")
            };
            std::io::Write::write_all(&mut w, &data[..500]).unwrap();
            let path = store
                .root()
                .join(INGEST_DIR)
                .join(format!("sha256-{}", d.hex()));
            if let Some(t) = age {
                std::fs::File::options()
                    .write(true)
                    .open(&path)
                    .unwrap()
                    .set_modified(t)
                    .unwrap();
            }
            (w, path)
        };
        let (old, old_path) = partial(1, Some(two_days_ago));
        drop(old);
        let (fresh, fresh_path) = partial(2, None);
        drop(fresh);
        let (held, held_path) = partial(3, Some(two_days_ago));

        let report = store.gc().unwrap();
        assert_eq!(report.ingests_removed, 1);
        assert!(!old_path.exists());
        assert!(fresh_path.exists());
        assert!(held_path.exists());
        assert_eq!(held.offset(), 500);
        drop(held);

        // Parameterised age: with zero, every unlocked partial is stale.
        let report = store
            .gc_with(&GcOptions {
                ingest_max_age: Duration::ZERO,
            })
            .unwrap();
        assert_eq!(report.ingests_removed, 2);
        assert!(
            std::fs::read_dir(store.root().join(INGEST_DIR))
                .unwrap()
                .next()
                .is_none()
        );
    }

    #[test]
    fn gc_racing_commits_never_leaves_a_row_without_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_owned();
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            let collector = s.spawn(|| {
                let store = Store::open(&root).unwrap();
                let mut runs = 0;
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    store.gc().unwrap();
                    runs += 1;
                }
                runs
            });
            let writers: Vec<_> = (0..3u8)
                .map(|t| {
                    let root = &root;
                    s.spawn(move || {
                        let store = Store::open(root).unwrap();
                        for i in 0..30u8 {
                            // Protected blobs must survive every collection; unprotected
                            // ones (the same content again and again) may go and come back.
                            let lease = store.lease("racing").unwrap();
                            let (data, d) = content(t * 50 + i, 2000);
                            lease.protect(&d).unwrap();
                            store
                                .put_blob("application/octet-stream", &data, &d)
                                .unwrap();
                            let (shared, sd) = content(200, 2000);
                            store
                                .put_blob("application/octet-stream", &shared, &sd)
                                .unwrap();
                            assert_eq!(store.read_blob(&d).unwrap(), data);
                        }
                    })
                })
                .collect();
            // Stop the collector before reporting a writer's panic, or the scope never ends.
            let results: Vec<_> = writers.into_iter().map(|w| w.join()).collect();
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            assert!(collector.join().unwrap() > 0);
            for r in results {
                r.unwrap();
            }
        });
        let store = Store::open(&root).unwrap();
        for row in store.index().blobs().unwrap() {
            assert!(
                store.blob_path(&row.digest).is_file(),
                "{} lost its file",
                row.digest
            );
        }
    }
}
