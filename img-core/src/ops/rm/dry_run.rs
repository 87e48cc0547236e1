//! `img-rm --prune --dry-run`: what a prune would remove and free, from a store opened
//! read-only, changing nothing.
//!
//! The images are chosen as [`super::prune_with`] chooses them (the same filter, the same
//! skipping of images in use), their records are the ones the real run would print, and
//! the figure is [`Store::reclaimable_without`] those images: partials nobody holds,
//! orphan blob files, and blobs no kept image and no live lease pins. With nothing else
//! writing to the store meanwhile, it equals the real prune's `SpaceReclaimed`.

use std::collections::HashSet;
use std::path::Path;

use crate::digest::Digest;
use crate::error::Result;
use crate::index::{ListFilter, RemovedReferences};
use crate::record::RemovalRecord;
use crate::store::{BLOBS_DIR, INDEX_FILE, Store};

use super::{PruneOptions, records};

/// What [`super::prune_at`] would do to the store at `root`: the records it would print,
/// the last one `SpaceReclaimed`. The store is opened read-only (seeing other writers'
/// commits, so that no blob a concurrent commit recorded is taken for an orphan); a root
/// with no store yet has nothing to free.
pub fn prune_dry_run_at(root: &Path, prune: &PruneOptions) -> Result<Vec<RemovalRecord>> {
    if !root.join(INDEX_FILE).exists() && !root.join(BLOBS_DIR).exists() {
        return Ok(vec![RemovalRecord::SpaceReclaimed(0)]);
    }
    let store = Store::open_read_only_seeing_writers(root)?;
    prune_dry_run(&store, prune)
}

/// [`prune_dry_run_at`] on an open store.
pub fn prune_dry_run(store: &Store, prune: &PruneOptions) -> Result<Vec<RemovalRecord>> {
    let all = prune.removes_tagged();
    let filter = ListFilter {
        dangling: if all { None } else { Some(true) },
        ..prune.filter.clone()
    };
    let mut deleted: HashSet<Digest> = HashSet::new();
    let mut out = Vec::new();
    for row in store.index().list_images(&filter)? {
        let image = row.image;
        if deleted.contains(&image.id) || !store.image_users(&image)?.is_empty() {
            continue;
        }
        // What the real run's transaction takes with the image: every reference, sorted.
        let mut tags = image.tags.clone();
        tags.sort();
        let mut repo_digests = image.repo_digests.clone();
        repo_digests.sort_by_key(|(n, d)| (n.clone(), d.to_string()));
        let removed = RemovedReferences {
            tags,
            repo_digests,
            deleted: true,
        };
        out.extend(records(&image.id, &removed));
        deleted.insert(image.id.clone());
    }
    out.push(RemovalRecord::SpaceReclaimed(
        store.reclaimable_without(&deleted)?,
    ));
    Ok(out)
}

#[cfg(test)]
mod tests;
