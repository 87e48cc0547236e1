//! `img-pack load`: read the archive into `ingest/` (every file hashed and checked as it
//! streams by), plan its images (every document and DiffID checked), and only then commit:
//! blobs under a lease, synthesised manifests, and every image in one index transaction.
//! Whatever fails before the commit leaves the store's images and blobs as they were, and
//! the staged files are removed as they drop.
//!
//! An image the store has already loads as its tags only, and a layer the store holds in
//! another compression is not stored again (load_plan.rs): loading an image again never
//! changes its size. The record's `Digest` is then the target the store has.

use std::io::BufRead;
use std::path::Path;

use super::load_plan::{StoreLookup, StoredManifest, plan};
use super::{LoadOptions, wanted_platform};
use crate::archive::{read_dir, read_tar};
use crate::digest::Digest;
use crate::error::Result;
use crate::oci::media_type::{self, Compression};
use crate::oci::{Descriptor, Document};
use crate::ops::progress::{LoadLayer, LoadProgress, NoProgress};
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
    load_with_progress(store, source, options, &NoProgress)
}

/// [`load`], telling `progress` which layers it stores and as it stores each (a stream's
/// bytes are counted by the caller: [`crate::ops::progress::Counted`]).
pub fn load_with_progress(
    store: &Store,
    source: Source<'_>,
    options: &LoadOptions,
    progress: &dyn LoadProgress,
) -> Result<LoadReport> {
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
    let shown = layers_to_show(store, &planned, &contents)?;
    progress.layers(&shown.iter().map(|(_, l)| l.clone()).collect::<Vec<_>>());
    let committed = (|| -> Result<Vec<Vec<(String, Digest)>>> {
        // The layers the display shows first, in their images' order, as docker loads
        // them; then everything else.
        for (i, (d, _)) in shown.iter().enumerate() {
            let mt = planned.iter().find_map(|p| p.blobs.get(d));
            if let (Some(mt), Some(staged)) = (mt, contents.blobs.remove(d)) {
                let size = staged.size();
                staged.commit(mt)?;
                progress.layer(i, size);
            }
        }
        for p in &planned {
            if p.existing || p.existing_blobs {
                continue;
            }
            for (d, mt) in &p.blobs {
                if let Some(staged) = contents.blobs.remove(d) {
                    staged.commit(mt)?;
                }
            }
            for (mt, bytes) in &p.synthesized {
                store.put_blob(mt, bytes, &Digest::sha256_of(bytes))?;
            }
        }
        // What the archive carries that the store holds already is stored nothing new,
        // but a copy there that no longer hashes right (a damaged blob) is replaced by
        // the archive's verified one: commit re-hashes the stored copy and keeps it when
        // it is whole. Only digests the store has: a layer the store holds in another
        // compression is never stored again.
        let carried: Vec<Digest> = contents.blobs.keys().cloned().collect();
        for d in carried {
            if let Some(row) = store.index().blob(&d)?
                && let Some(staged) = contents.blobs.remove(&d)
            {
                staged.commit(&row.media_type)?;
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
        // Facts about the blobs first (all committed now, and pinned): what the layers
        // inflate to, which manifests img wrote; then the images, in one transaction.
        let claims: Vec<_> = planned.iter().flat_map(|p| p.layers.clone()).collect();
        store.index().put_diff_ids(&claims)?;
        let synthesized: Vec<Digest> = planned
            .iter()
            .filter(|p| !p.existing && !p.synthesized.is_empty())
            .map(|p| p.image.target.clone())
            .collect();
        store.index().mark_synthesized(&synthesized)?;
        let news: Vec<_> = planned
            .iter()
            .filter(|p| !p.existing)
            .map(|p| p.image.clone())
            .collect();
        let tags_only: Vec<_> = planned
            .iter()
            .filter(|p| p.existing)
            .map(|p| (p.image.id.clone(), p.image.tags.clone()))
            .collect();
        store.index().put_images_and_tags(&news, &tags_only)?;
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
        let mut record = ImageRecord::of(p.names.first(), &p.image.target, &info, 0, 0)?;
        // What a pull moved; a load downloads nothing.
        record.downloaded = None;
        record.reused = None;
        images.push(Loaded {
            record,
            tags: p.names.iter().map(Reference::familiar).collect(),
            moved,
        });
    }
    Ok(LoadReport { images, warnings })
}

/// The layers a load's display shows, in order: those it stores (the planner decided which
/// it needs; a layer the store already holds, by digest or by DiffID, is not among them),
/// each once, with the blob it is stored as.
fn layers_to_show(
    store: &Store,
    planned: &[super::load_plan::Planned],
    contents: &crate::archive::Contents<'_>,
) -> Result<Vec<(Digest, LoadLayer)>> {
    let mut shown: Vec<(Digest, LoadLayer)> = Vec::new();
    for p in planned.iter().filter(|p| !p.existing && !p.existing_blobs) {
        for l in &p.layers {
            let Some(staged) = contents.blobs.get(&l.digest) else {
                continue;
            };
            if !p.blobs.contains_key(&l.digest)
                || shown.iter().any(|(d, _)| *d == l.digest)
                || store.has_blob(&l.digest)?
            {
                continue;
            }
            shown.push((
                l.digest.clone(),
                LoadLayer {
                    diff_id: l.diff_id.clone(),
                    size: staged.size(),
                },
            ));
        }
    }
    Ok(shown)
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

    fn image(&self, id: &Digest) -> Result<Option<(Digest, String)>> {
        let Some(info) = self.store.index().image(id)? else {
            return Ok(None);
        };
        let blobs = self.store.index().image_blobs(id)?;
        self.lease.protect_all(&blobs.iter().collect::<Vec<_>>())?;
        for d in &blobs {
            if !self.store.has_blob(d)? {
                // Damaged: loaded as a new image, which brings back what is missing.
                return Ok(None);
            }
        }
        Ok(Some((info.target, info.target_media_type)))
    }

    fn manifest_of(&self, config: &Digest) -> Result<Option<StoredManifest>> {
        for (digest, mt) in self.store.index().manifests_beside(config)? {
            self.lease.protect(&digest)?;
            let Ok(bytes) = self.store.read_blob(&digest) else {
                continue;
            };
            let Ok(Document::Manifest(m)) = Document::parse(Some(&mt), &bytes) else {
                continue;
            };
            if &m.config.digest != config {
                continue;
            }
            let mut blobs = vec![(digest.clone(), mt.clone())];
            let mut whole = true;
            for b in m.blobs() {
                self.lease.protect(&b.digest)?;
                whole &= self.store.has_blob(&b.digest)?;
                blobs.push((b.digest.clone(), b.media_type.clone()));
            }
            if whole {
                return Ok(Some((Descriptor::of(&mt, &bytes), blobs)));
            }
        }
        Ok(None)
    }

    fn layer(&self, diff_id: &Digest) -> Result<Option<Descriptor>> {
        let Some(row) = self.store.layer_with_diff_id(diff_id, self.lease)? else {
            return Ok(None);
        };
        // The synthesised manifest is OCI: the stored blob under the OCI name of its
        // compression.
        let media_type = match media_type::layer_compression(&row.media_type) {
            Some(Compression::Gzip) => media_type::OCI_LAYER_GZIP,
            Some(Compression::Zstd) => media_type::OCI_LAYER_ZSTD,
            Some(Compression::None) | None => media_type::OCI_LAYER_TAR,
        };
        Ok(Some(Descriptor {
            media_type: media_type.to_owned(),
            digest: row.digest,
            size: row.size,
            urls: Vec::new(),
            annotations: Default::default(),
            platform: None,
            artifact_type: None,
        }))
    }
}
