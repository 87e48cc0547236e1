//! `img-pack load`: read the archive into `ingest/` (every file hashed and checked as it
//! streams by), plan its images (every document and DiffID checked), and only then commit:
//! blobs under a lease, synthesised manifests, and every image in one index transaction.
//! Whatever fails before the commit leaves the store's images and blobs as they were, and
//! the staged files are removed as they drop.

use std::io::BufRead;
use std::path::Path;

use super::plan::{StoreLookup, plan};
use super::{LoadOptions, wanted_platform};
use crate::archive::{read_dir, read_tar};
use crate::digest::Digest;
use crate::error::Result;
use crate::record::ImageRecord;
use crate::reference::Reference;
use crate::store::{Lease, Store};

/// Where an archive comes from.
pub enum Source<'a> {
    /// A tar stream (a file or stdin), compressed or not.
    Stream(Box<dyn BufRead + 'a>),
    /// An OCI image layout directory.
    Dir(&'a Path),
}

/// One image loaded.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The image record (`img-pack load | img-inspect`).
    pub record: ImageRecord,
    /// The tags it loaded under, familiar forms (`app:1`).
    pub tags: Vec<String>,
    /// Tags that moved here from another image: the tag and that image's ID.
    pub moved: Vec<(String, Digest)>,
}

/// What a load did: the images, and warnings for the user (an untagged image).
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// The images, in archive order.
    pub images: Vec<Loaded>,
    /// Things loaded differently than the archive named them.
    pub warnings: Vec<String>,
}

/// Loads an archive whole, or not at all.
pub fn load(store: &Store, source: Source<'_>, options: &LoadOptions) -> Result<LoadReport> {
    let wanted = wanted_platform(options.platform.as_ref())?;
    let mut contents = match source {
        Source::Stream(input) => read_tar(store, input)?,
        Source::Dir(dir) => read_dir(store, dir)?,
    };
    let lease = store.lease("loading an archive")?;
    let mut warnings = Vec::new();
    let lookup = Lookup {
        store,
        lease: &lease,
    };
    let planned = plan(&contents, &lookup, &wanted, &mut |w| warnings.push(w))?;

    // Everything checked: commit. Pinned first, so nothing committed is collectable
    // before its image row exists.
    let mut all: Vec<&Digest> = Vec::new();
    for p in &planned {
        all.extend(p.blobs.keys());
    }
    lease.protect_all(&all)?;
    let committed = (|| -> Result<Vec<Vec<(String, Digest)>>> {
        for p in &planned {
            for (d, mt) in &p.blobs {
                if let Some(staged) = contents.blobs.remove(d) {
                    staged.commit(mt)?;
                }
            }
            for (mt, bytes) in &p.synthesized {
                store.put_blob(mt, bytes, &Digest::sha256_of(bytes))?;
            }
        }
        // Tags moving from other images, as docker reports them.
        let mut moved_all = Vec::new();
        for p in &planned {
            let mut moved = Vec::new();
            for n in &p.names {
                let tag = n.tag().unwrap_or(crate::reference::DEFAULT_TAG);
                if let Some(old) = store.index().image_by_tag(&n.name(), tag)?
                    && old.id != p.image.id
                {
                    moved.push((n.familiar(), old.id));
                }
            }
            moved_all.push(moved);
        }
        let news: Vec<_> = planned.iter().map(|p| p.image.clone()).collect();
        store.index().put_images(&news)?;
        Ok(moved_all)
    })();
    let moved_all = match committed {
        Ok(moved) => moved,
        Err(e) => {
            // A failure half-way through the commits (a full disk): the blobs committed
            // so far belong to no image. Unpinned, a collection removes them (and nothing
            // any image or running command uses), so the archive leaves nothing behind.
            drop(lease);
            let _ = store.gc();
            return Err(e);
        }
    };
    lease.release()?;

    let mut images = Vec::new();
    for (p, moved) in planned.iter().zip(moved_all) {
        let info = store.index().image(&p.image.id)?.ok_or_else(|| {
            crate::Error::new(
                crate::ErrorKind::Corrupt,
                format!("image {} vanished after loading it", p.image.id),
            )
        })?;
        images.push(Loaded {
            record: ImageRecord {
                id: info.id.clone(),
                reference: p.names.first().cloned(),
                digest: p.image.target.clone(),
                repo_tags: crate::ops::inspect::repo_tags(&info)?,
                repo_digests: crate::ops::inspect::repo_digests(&info)?,
                platform: info.platform.clone(),
                size: info.size,
                downloaded: None,
                reused: None,
            },
            tags: p.names.iter().map(Reference::familiar).collect(),
            moved,
        });
    }
    Ok(LoadReport { images, warnings })
}

struct Lookup<'a, 's> {
    store: &'s Store,
    lease: &'a Lease<'s>,
}

impl StoreLookup for Lookup<'_, '_> {
    fn has(&self, digest: &Digest) -> Result<bool> {
        self.lease.protect(digest)?;
        self.store.has_blob(digest)
    }

    fn read(&self, digest: &Digest) -> Result<Vec<u8>> {
        self.store.read_blob(digest)
    }
}
