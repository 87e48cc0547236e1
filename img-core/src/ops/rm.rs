//! `img-rm`: docker rmi (untag, then delete an image nothing names any more) and docker
//! image prune (delete every dangling image, then collect garbage; its `--filter` values
//! are parsed by [`parse_prune_filters`]).
//!
//! Docker's rules, as its daemon applies them:
//!
//! - **By tag** (`alpine:3.20`): the tag goes. When it was its repository's last tag on the
//!   image, that repository's digest references (`alpine@sha256:…`) go with it. When
//!   nothing names the image any more, it is deleted — a repo digest of another
//!   repository keeps it.
//! - **By digest reference** (`alpine@sha256:…`): that repo digest goes, and the image with
//!   it when nothing else names it.
//! - **By ID or ID prefix**: when at most one tag and only that repository's digests name
//!   the image, they all go and the image is deleted. Otherwise it is refused, docker's
//!   words: `conflict: unable to delete 9234e8fb04c4 (must be forced) - image is
//!   referenced in multiple repositories` (two tags of one repository count, as in
//!   docker); `force` removes every reference and the image.
//! - **In use**: an image a live lease holds (a pull committing it, a save streaming it:
//!   [`Store::image_users`]) is not deleted unless `force`; removing a tag that leaves it
//!   named is fine. Forced, the image's row goes at once, and its blobs stay as long as
//!   the lease protects them: garbage collection never takes what a live lease pins.
//!
//! Deleting an image removes its row; its blobs go in one garbage collection after all the
//! removals of a command ([`Remover::finish`]), unless `no_prune`, then at the next
//! collection. Every decision is taken from a snapshot and applied in one transaction that
//! changes nothing if a reference moved meanwhile ([`crate::index::Index::remove_references`]);
//! the removal is then decided again.

use crate::digest::Digest;
use crate::error::{Error, ErrorKind, Result};
use crate::index::{DeleteImage, ImageInfo, ListFilter, RemovedReferences};
use crate::record::{RemovalRecord, Target};
use crate::reference::{DEFAULT_TAG, Reference};
use crate::store::{GcOptions, GcReport, Store};

use super::resolve::{Via, resolve};

mod dry_run;
mod filter;

pub use dry_run::{prune_dry_run, prune_dry_run_at};
pub use filter::{PRUNE_FILTER_KEYS, parse_prune_filters};

/// How often a removal is decided again when other processes keep changing the image's
/// references under it.
const ATTEMPTS: usize = 5;

/// How img-rm removes.
#[derive(Debug, Clone, Default)]
pub struct RmOptions {
    /// `-f`: remove an image referenced in several repositories or in use.
    pub force: bool,
    /// `--no-prune`: keep deleted images' blobs until the next garbage collection.
    pub no_prune: bool,
}

/// Removes images one target at a time, then collects garbage once ([`Remover::finish`]).
#[derive(Debug)]
pub struct Remover<'s> {
    store: &'s Store,
    options: RmOptions,
    deleted: usize,
}

/// What `img-rm --prune` did: the records to print, the last one `SpaceReclaimed`.
#[derive(Debug, Clone)]
pub struct Pruned {
    /// `Untagged` and `Deleted` for each dangling image deleted, then `SpaceReclaimed`.
    pub records: Vec<RemovalRecord>,
    /// The garbage collection's report.
    pub gc: GcReport,
}

/// What to do to one image, decided from a snapshot of it.
#[derive(Debug)]
struct Plan {
    tags: Vec<(String, String)>,
    repo_digests: Vec<(String, Digest)>,
    delete: DeleteImage,
    /// Whether the image goes, as far as the snapshot tells.
    deletes: bool,
    /// By ID while several references name it: docker's "referenced in multiple
    /// repositories".
    multiple: bool,
}

impl<'s> Remover<'s> {
    /// A remover for `store`.
    pub fn new(store: &'s Store, options: RmOptions) -> Remover<'s> {
        Remover {
            store,
            options,
            deleted: 0,
        }
    }

    /// Removes what `target` names (see the module docs for docker's rules) and returns
    /// the records to print, in docker's order: `Untagged` for each reference removed,
    /// then `Deleted` if the image went.
    pub fn remove(&mut self, target: &Target) -> Result<Vec<RemovalRecord>> {
        for _ in 0..ATTEMPTS {
            let found = resolve(self.store.index(), target)?;
            let plan = plan(&found.image, &found.via)?;
            self.check(&found.image, &found.via, &plan)?;
            if let Some(removed) = self.store.index().remove_references(
                &found.image.id,
                &plan.tags,
                &plan.repo_digests,
                plan.delete,
            )? {
                if removed.deleted {
                    self.deleted += 1;
                }
                return Ok(records(&found.image.id, &removed));
            }
        }
        Err(Error::new(
            ErrorKind::Conflict,
            format!(
                "the references of {target} kept changing while removing it (other img \
                 processes are tagging it); try again"
            ),
        ))
    }

    /// Refuses what docker refuses unless forced: deleting an image in use, deleting by ID
    /// an image several references name.
    fn check(&self, image: &ImageInfo, via: &Via, plan: &Plan) -> Result<()> {
        if self.options.force || !plan.deletes {
            return Ok(());
        }
        let users = self.store.image_users(image)?;
        if !users.is_empty() {
            let by: Vec<String> = users
                .iter()
                .map(|u| format!("{} (pid {})", u.purpose, u.pid))
                .collect();
            let by = by.join(", ");
            let message = match via {
                Via::Tag(r) | Via::Digest(r) => format!(
                    "conflict: unable to remove repository reference {:?} (must force) - \
                     image {} is in use by {by}",
                    shown(r),
                    image.id.short()
                ),
                Via::Id => format!(
                    "conflict: unable to delete {} (must be forced) - image is in use by {by}",
                    image.id.short()
                ),
            };
            return Err(Error::new(ErrorKind::Conflict, message));
        }
        if plan.multiple {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!(
                    "conflict: unable to delete {} (must be forced) - image is referenced in \
                     multiple repositories",
                    image.id.short()
                ),
            ));
        }
        Ok(())
    }

    /// How many images this remover deleted so far.
    pub fn deleted(&self) -> usize {
        self.deleted
    }

    /// Collects garbage once, after all the removals, when an image was deleted and
    /// `no_prune` is off: the deleted images' blobs that nothing else pins go.
    pub fn finish(self) -> Result<Option<GcReport>> {
        if self.deleted == 0 || self.options.no_prune {
            return Ok(None);
        }
        self.store.gc().map(Some)
    }
}

/// Decides what removing `image`, named via `via`, takes away.
fn plan(image: &ImageInfo, via: &Via) -> Result<Plan> {
    match via {
        Via::Tag(r) => {
            let name = r.name();
            let tag = r.tag().unwrap_or(DEFAULT_TAG).to_owned();
            let tags = vec![(name.clone(), tag)];
            let tags_left: Vec<_> = image.tags.iter().filter(|t| !tags.contains(t)).collect();
            // The repository's digest references go with its last tag, as in docker.
            let repo_digests: Vec<(String, Digest)> = if tags_left.iter().any(|(n, _)| *n == name) {
                Vec::new()
            } else {
                image
                    .repo_digests
                    .iter()
                    .filter(|(n, _)| *n == name)
                    .cloned()
                    .collect()
            };
            let digests_left = image.repo_digests.len() - repo_digests.len();
            Ok(Plan {
                deletes: tags_left.is_empty() && digests_left == 0,
                tags,
                repo_digests,
                delete: DeleteImage::IfUnreferenced,
                multiple: false,
            })
        }
        Via::Digest(r) => {
            let name = r.name();
            let Some(digest) = r.digest() else {
                return Err(no_such(r));
            };
            let entry = (name, digest.clone());
            // Found through a tag whose target is this digest, with no such digest
            // reference recorded: there is nothing of that name to remove.
            if !image.repo_digests.contains(&entry) {
                return Err(no_such(r));
            }
            Ok(Plan {
                deletes: image.tags.is_empty() && image.repo_digests.len() == 1,
                tags: Vec::new(),
                repo_digests: vec![entry],
                delete: DeleteImage::IfUnreferenced,
                multiple: false,
            })
        }
        Via::Id => {
            let single = is_single_reference(&image.tags, &image.repo_digests);
            let none = image.tags.is_empty() && image.repo_digests.is_empty();
            if single || none {
                return Ok(Plan {
                    tags: image.tags.clone(),
                    repo_digests: image.repo_digests.clone(),
                    // A reference added meanwhile keeps the image, as docker's re-check does.
                    delete: DeleteImage::IfUnreferenced,
                    deletes: true,
                    multiple: false,
                });
            }
            // Refused unless forced (see `Remover::check`); forced, every reference goes
            // with the image, each reported.
            Ok(Plan {
                tags: Vec::new(),
                repo_digests: Vec::new(),
                delete: DeleteImage::Always,
                deletes: true,
                multiple: true,
            })
        }
    }
}

/// Docker's `isSingleReference`: at most one tag, and digest references of that one
/// repository only (one reference of any kind counts). False when nothing names it.
fn is_single_reference(tags: &[(String, String)], digests: &[(String, Digest)]) -> bool {
    if tags.len() + digests.len() <= 1 {
        return tags.len() + digests.len() == 1;
    }
    if tags.len() > 1 {
        return false;
    }
    let single = match (tags.first(), digests.first()) {
        (Some((name, _)), _) | (None, Some((name, _))) => name,
        (None, None) => return false,
    };
    digests.iter().all(|(n, _)| n == single)
}

/// The records for what one removal did, in docker's order.
fn records(id: &Digest, removed: &RemovedReferences) -> Vec<RemovalRecord> {
    let mut out = Vec::new();
    for (name, tag) in &removed.tags {
        out.push(RemovalRecord::Untagged(familiar_tag(name, tag)));
    }
    for (name, digest) in &removed.repo_digests {
        out.push(RemovalRecord::Untagged(familiar_digest(name, digest)));
    }
    if removed.deleted {
        out.push(RemovalRecord::Deleted(id.clone()));
    }
    out
}

/// `docker image prune`: deletes every dangling image (no tag) that is not in use, with
/// its repo digests, then collects garbage (also orphan blobs and unheld partial ingests).
/// The last record is `SpaceReclaimed`.
///
/// A person asking to reclaim space gets every partial download nobody holds removed,
/// whatever its age (automatic collection keeps young ones for resuming). What needs no
/// index write goes first, so that prune works on a full disk, where the index cannot be
/// written until some space is free.
pub fn prune(store: &Store) -> Result<Pruned> {
    prune_with(store, &PruneOptions::default())
}

/// What `img-rm --prune` removes beyond docker's default (dangling images).
#[derive(Debug, Clone, Default)]
pub struct PruneOptions {
    /// `-a`: every image no lease holds, tagged or not (docker's `image prune -a`: all
    /// images no container uses).
    pub all: bool,
    /// `--filter` ([`parse_prune_filters`]): `until=…` (as `before`), `label=…`,
    /// `label!=…`, and `dangling`, where `Some(false)` prunes every image as `all` does
    /// (docker's daemon reads `-a` as `dangling=false`).
    pub filter: ListFilter,
}

impl PruneOptions {
    /// Whether tagged images go too: `-a`, or a `dangling=false` filter (docker's CLI
    /// sends `-a` as that very filter, so the two are one thing to its daemon).
    pub fn removes_tagged(&self) -> bool {
        self.all || self.filter.dangling == Some(false)
    }
}

/// [`prune`] with docker's `-a` and `--filter`.
pub fn prune_with(store: &Store, prune: &PruneOptions) -> Result<Pruned> {
    prune_after(store, prune, GcReport::default())
}

/// `img-rm --prune` on the store at `root`: first the space that can be had without
/// opening the store for writing ([`Store::reclaim_before_open`]: on a full disk even
/// that needs room), then [`prune_with`].
pub fn prune_at(root: &std::path::Path, prune: &PruneOptions) -> Result<Pruned> {
    let early = Store::reclaim_before_open(root)?;
    let store = Store::open(root)?;
    prune_after(&store, prune, early)
}

/// `img-rm --rebuild-index`: what was restored from the blobs of a store whose index was
/// lost, and the one line of advice img-rm prints after the restored IDs.
pub struct Rebuilt {
    /// The restored images, by ID.
    pub images: Vec<Digest>,
    /// What to tell the user: counts, that the images are untagged, what to do next.
    pub summary: String,
}

/// Rebuilds the index of the store at `root` ([`Store::rebuild_index`]) and words what it
/// did: the images come back untagged, so the advice is to tag before a prune.
pub fn rebuild_index_at(root: &std::path::Path) -> Result<Rebuilt> {
    let report = Store::rebuild_index(root)?;
    let mut summary = format!(
        "rebuilt the index of {}: {} images from {} blobs, untagged: tag the ones to keep with img-tag, since img-rm --prune removes untagged images",
        root.display(),
        report.images.len(),
        report.blobs
    );
    if !report.damaged.is_empty() {
        summary.push_str(&format!(
            "; {} damaged blob files left out (img-rm --prune removes them)",
            report.damaged.len()
        ));
    }
    if let Some(lost) = &report.lost_index {
        summary.push_str(&format!("; the lost index is kept as {}", lost.display()));
    }
    Ok(Rebuilt {
        images: report.images,
        summary,
    })
}

fn prune_after(store: &Store, prune: &PruneOptions, reclaimed: GcReport) -> Result<Pruned> {
    let options = GcOptions::prune();
    let mut early = store.reclaim_unindexed(&options)?;
    early.add(&reclaimed);
    let all = prune.removes_tagged();
    let filter = ListFilter {
        dangling: if all { None } else { Some(true) },
        ..prune.filter.clone()
    };
    let delete = if all {
        DeleteImage::Always
    } else {
        DeleteImage::IfUntagged
    };
    let mut seen = std::collections::HashSet::new();
    let mut records_out = Vec::new();
    for row in store.index().list_images(&filter)? {
        let image = row.image;
        if !seen.insert(image.id.clone()) {
            continue; // one row per repository of its digests
        }
        // In use: docker's prune skips images containers use; ours, images leases hold.
        if !store.image_users(&image)?.is_empty() {
            continue;
        }
        // Tagged since we listed it: no longer dangling, kept (IfUntagged decides inside
        // the transaction).
        if let Some(removed) = store
            .index()
            .remove_references(&image.id, &[], &[], delete)?
            && removed.deleted
        {
            records_out.extend(records(&image.id, &removed));
        }
    }
    let mut gc = early;
    gc.add(&store.gc_with(&options)?);
    records_out.push(RemovalRecord::SpaceReclaimed(gc.bytes_reclaimed));
    Ok(Pruned {
        records: records_out,
        gc,
    })
}

/// `name:tag` as docker shows it; the stored name as is if it no longer parses.
fn familiar_tag(name: &str, tag: &str) -> String {
    Reference::parse_normalized_name(name)
        .and_then(|r| r.with_tag(tag))
        .map(|r| r.familiar())
        .unwrap_or_else(|_| format!("{name}:{tag}"))
}

/// `name@digest` as docker shows it.
fn familiar_digest(name: &str, digest: &Digest) -> String {
    Reference::parse_normalized_name(name)
        .map(|r| r.with_digest(digest.clone()).familiar())
        .unwrap_or_else(|_| format!("{name}@{digest}"))
}

/// A reference as the user would have written it: `alpine:3.20`, `alpine@sha256:…`
/// (a tag given with a digest is dropped, as docker drops it).
fn shown(r: &Reference) -> String {
    match r.digest() {
        Some(_) => r.without_tag().familiar(),
        None => r.familiar(),
    }
}

fn no_such(r: &Reference) -> Error {
    Error::new(ErrorKind::NotFound, format!("no such image: {}", shown(r)))
}

#[cfg(test)]
mod tests;
