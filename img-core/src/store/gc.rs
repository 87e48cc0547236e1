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

use std::path::Path;
use std::time::{Duration, SystemTime};

use super::lock::{LockFile, Mode};
use super::{BLOBS_DIR, INGEST_DIR, LEASES_DIR, Store, lease};
use crate::digest::Digest;
use crate::error::{Error, Result};

/// How a collection runs.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// A partial ingest nobody holds is removed once it is this old (by modification
    /// time), so a killed pull can still resume for a while. One day by default.
    pub ingest_max_age: Duration,
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
    /// Bytes those files took.
    pub bytes_reclaimed: u64,
    /// Stale partial ingests removed.
    pub ingests_removed: u64,
    /// Dead leases removed.
    pub leases_removed: u64,
}

impl Store {
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
        let mut report = GcReport::default();
        let _gc = LockFile::acquire(&self.gc_lock_path(), Mode::Exclusive)?;

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

        // Orphans: files renamed into place by a commit killed before its row insert. No
        // commit is in flight (we hold the GC lock exclusively), so a file without a row now
        // will not get one.
        let rows: std::collections::HashSet<Digest> =
            self.index.blobs()?.into_iter().map(|b| b.digest).collect();
        let blobs = self.root.join(BLOBS_DIR);
        for alg in read_dir(&blobs)? {
            let Some(alg_name) = alg.file_name().and_then(|n| n.to_str()).map(str::to_owned)
            else {
                continue;
            };
            for file in read_dir(&alg)? {
                let Some(hex) = file.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                // Only files named as blobs; anything else is not ours to remove.
                let Ok(digest) = Digest::parse(&format!("{alg_name}:{hex}")) else {
                    continue;
                };
                if !rows.contains(&digest)
                    && let Some(bytes) = remove_if_present(&file)?
                {
                    report.blobs_removed += 1;
                    report.bytes_reclaimed += bytes;
                }
            }
        }
        if !garbage.is_empty() || report.blobs_removed > 0 {
            for alg in read_dir(&blobs)? {
                super::sync_dir(&alg)?;
            }
        }

        report.ingests_removed = self.remove_stale_ingests(options.ingest_max_age)?;
        self.remove_stray_lease_files()?;
        Ok(report)
    }

    /// Removes partials nobody holds that are older than `max_age`, and lock files left
    /// without a partial.
    fn remove_stale_ingests(&self, max_age: Duration) -> Result<u64> {
        let dir = self.root.join(INGEST_DIR);
        let now = SystemTime::now();
        let mut removed = 0;
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
            let Some(lock) = LockFile::try_exclusive(&dir.join(format!("{name}.lock")))? else {
                continue; // somebody is writing it
            };
            let modified = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .map_err(|e| Error::io(e, format!("reading {}", path.display())))?;
            let age = now.duration_since(modified).unwrap_or(Duration::ZERO);
            if age >= max_age {
                if remove_if_present(&path)?.is_some() {
                    removed += 1;
                }
                lock.remove()?;
            }
        }
        Ok(removed)
    }

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

/// The entries of `dir` (none if it does not exist).
fn read_dir(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
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

/// Removes `path`, returning its size, or `None` if it was already gone.
fn remove_if_present(path: &Path) -> Result<Option<u64>> {
    let size = match std::fs::symlink_metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(e, format!("reading {}", path.display()))),
    };
    match std::fs::remove_file(path) {
        Ok(()) => Ok(Some(size)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(e, format!("removing {}", path.display()))),
    }
}
