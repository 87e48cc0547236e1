//! What a garbage collection would free, computed without changing anything: the figure
//! `img-rm --prune --dry-run` reports.
//!
//! It follows [`Store::gc_with`] with [`GcOptions::prune`](super::GcOptions::prune) step by
//! step, reading only: partials whose guard lock nobody holds, blob files without a row,
//! and blob rows that no kept image and no live lease pins, each counted by the size of its
//! file as the collection counts what it removes. A blob a kept image shares is pinned, so
//! it is not counted; a lease of a dead process pins nothing, as the collection drops it.
//! The figure equals what the collection frees when nothing else writes to the store
//! meanwhile.

use std::collections::HashSet;
use std::path::Path;

use super::gc::{algorithm_dirs, blob_files, read_dir, size_if_present};
use super::lock::LockFile;
use super::{INGEST_DIR, Store};
use crate::digest::Digest;
use crate::error::Result;

impl Store {
    /// The bytes a prune's collection would free once the images `deleted` are gone.
    pub fn reclaimable_without(&self, deleted: &HashSet<Digest>) -> Result<u64> {
        self.estimate(deleted)
            .map_err(|e| e.context(format!("estimating space in {}", self.root.display())))
    }

    fn estimate(&self, deleted: &HashSet<Digest>) -> Result<u64> {
        let mut pinned: HashSet<Digest> = HashSet::new();
        let mut seen = HashSet::new();
        for row in self
            .index
            .list_images(&crate::index::ListFilter::default())?
        {
            if deleted.contains(&row.image.id) || !seen.insert(row.image.id.clone()) {
                continue;
            }
            pinned.extend(self.index.image_blobs(&row.image.id)?);
        }
        pinned.extend(self.live_lease_blobs()?);
        let rows: HashSet<Digest> = self.index.blobs()?.into_iter().map(|b| b.digest).collect();
        let mut bytes = unheld_partials(&self.root)?;
        for alg in algorithm_dirs(&self.root)? {
            for (digest, file) in blob_files(&alg)? {
                // An orphan (no row), or a row nothing will pin.
                if !rows.contains(&digest) || !pinned.contains(&digest) {
                    bytes += size_if_present(&file)?.unwrap_or(0);
                }
            }
        }
        Ok(bytes)
    }
}

/// The bytes of the partials whose guard lock nobody holds (probed without creating it).
fn unheld_partials(root: &Path) -> Result<u64> {
    let dir = root.join(INGEST_DIR);
    let mut bytes = 0;
    for path in read_dir(&dir)? {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.ends_with(".lock") {
            continue;
        }
        let guard = dir.join(super::import::guard_lock_name(name));
        if !LockFile::is_held(&guard)? {
            bytes += size_if_present(&path)?.unwrap_or(0);
        }
    }
    Ok(bytes)
}
