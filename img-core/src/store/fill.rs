//! The fill of an index upgraded to schema 4, run by the first writer that opens the store:
//! for every image, the closure of each of its roots read from its manifests and configs
//! (what it pins from now on), the DiffIDs its configs claim for its layers (recorded
//! unverified: a load verifies one before trusting it), and the manifests img synthesised
//! for legacy archives, recognised byte for byte.
//!
//! An image whose target img synthesised (a legacy load of an image pulled before, which
//! the old rule re-pointed at its uncompressed copy) is re-pointed at the manifest one of
//! its repo digests resolved to, where the store has it; its tags for the synthesised
//! manifest follow it. What only the synthesised manifest used is then pinned by nothing,
//! and `img-rm --prune` gives the space back.

use super::Store;
use crate::digest::Digest;
use crate::error::Result;
use crate::index::{Filled, LayerDiffId, PendingImage};
use crate::oci::{Document, ImageConfig, Manifest, media_type};

impl Store {
    /// Runs the fill if the index still needs it.
    pub(super) fn fill_index(&self) -> Result<()> {
        if !self.index.fill_is_pending()? {
            return Ok(());
        }
        self.index
            .fill_pending(|image| fill_one(self, image).ok())
            .map_err(|e| e.context("upgrading the index to schema 4"))?;
        Ok(())
    }

    /// A committed document and its media type, parsed.
    fn document(&self, digest: &Digest) -> Result<Option<(Document, Vec<u8>, String)>> {
        let Some(row) = self.index.blob(digest)? else {
            return Ok(None);
        };
        if !media_type::is_manifest(&row.media_type) && !media_type::is_index(&row.media_type) {
            return Ok(None);
        }
        let bytes = self.read_blob(digest)?;
        let doc = Document::parse(Some(&row.media_type), &bytes)?;
        Ok(Some((doc, bytes, row.media_type)))
    }

    /// Whether the committed manifest `digest` is one img synthesised.
    fn looks_synthesized(&self, digest: &Digest) -> Result<bool> {
        Ok(match self.document(digest)? {
            Some((Document::Manifest(_), bytes, _)) => Manifest::is_legacy_synthesis(&bytes),
            _ => false,
        })
    }
}

fn fill_one(store: &Store, image: &PendingImage) -> Result<Filled> {
    let mut filled = Filled::default();
    let classic = !media_type::is_index(&image.target_media_type);
    let mut target = image.target.clone();
    for t in std::iter::once(&image.target).chain(&image.tag_targets) {
        if classic && store.looks_synthesized(t)? && !filled.synthesized.contains(t) {
            filled.synthesized.push(t.clone());
        }
    }
    if filled.synthesized.contains(&target)
        && let Some(real) = real_manifest(store, image)?
    {
        target = real.0.clone();
        filled.retarget = Some(real);
    }
    if store.document(&target)?.is_none() {
        // A target that cannot be read: the image keeps everything it pinned.
        return Err(crate::Error::new(
            crate::ErrorKind::NotFound,
            format!(
                "the target {target} of image {} is not in the store",
                image.id
            ),
        ));
    }
    let mut roots = vec![target.clone()];
    for r in image.tag_targets.iter().chain(&image.repo_digests) {
        if !roots.contains(r) && !filled.synthesized.contains(r) {
            roots.push(r.clone());
        }
    }
    for root in roots {
        let mut blobs = Vec::new();
        closure(store, &root, &image.id, &mut blobs, &mut filled.layers, 0)?;
        filled.roots.push((root, blobs));
    }
    Ok(filled)
}

/// The manifest, with its media type, one of the image's repo digests resolved to: the
/// digest itself, or the platform manifest of an index that has the image's config.
fn real_manifest(store: &Store, image: &PendingImage) -> Result<Option<(Digest, String)>> {
    for r in &image.repo_digests {
        match store.document(r)? {
            Some((Document::Manifest(m), _, mt)) if m.config.digest == image.id => {
                return Ok(Some((r.clone(), mt)));
            }
            Some((Document::Index(index), _, _)) => {
                for child in index.images() {
                    if let Some((Document::Manifest(m), _, mt)) = store.document(&child.digest)?
                        && m.config.digest == image.id
                    {
                        return Ok(Some((child.digest.clone(), mt)));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(None)
}

/// What `root` brings to image `id`: a manifest its config and layers (and their DiffID
/// claims); an index that is the image itself its platform manifests and theirs; any other
/// index (a one-platform image's repo digest) itself alone.
fn closure(
    store: &Store,
    root: &Digest,
    id: &Digest,
    out: &mut Vec<Digest>,
    layers: &mut Vec<LayerDiffId>,
    depth: usize,
) -> Result<()> {
    match store.document(root)? {
        Some((Document::Manifest(m), _, _)) => {
            out.extend(m.blobs().map(|b| b.digest.clone()));
            if let Ok(bytes) = store.read_blob(&m.config.digest)
                && let Ok(config) = serde_json::from_slice::<ImageConfig>(&bytes)
            {
                for (l, diff_id) in m.layers.iter().zip(&config.rootfs.diff_ids) {
                    layers.push(LayerDiffId {
                        digest: l.digest.clone(),
                        diff_id: diff_id.clone(),
                        verified: false,
                    });
                }
            }
        }
        Some((Document::Index(index), _, _)) if root == id && depth < 4 => {
            for child in &index.manifests {
                out.push(child.digest.clone());
                closure(store, &child.digest, &child.digest, out, layers, depth + 1)?;
            }
        }
        _ => {}
    }
    Ok(())
}
