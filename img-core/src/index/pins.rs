//! What an image pins: exactly the closure of its roots — its target, its tags' targets and
//! its repo digests — never what it was once recorded with (schema 4).
//!
//! `image_roots` holds, for each root of an image, the blobs that root brings (a manifest:
//! itself, its config and layers; an index the image is made of: its platform manifests
//! and theirs). [`repin`] drops the rows of roots the image no longer has and recomputes
//! `image_blobs` (what GC marks) and the image's size from the rest, so re-recording an
//! image, moving a tag or removing a repo digest can free blobs; the old rule (recording
//! again adds to what an image pins) is what let a load double a pulled image for good.
//!
//! The manifests img synthesises for legacy archives are marked (`synthesized`): a tag
//! recorded for one follows the image (its target is NULL), so when a pull re-points the
//! image at the manifest it pulled, what only the synthesised manifest used is unpinned.
//!
//! The fill of an index upgraded to schema 4 ([`Index::fill_pending`]) reads manifests and
//! configs, which the index cannot: the store computes each image's roots and hands them here.

use rusqlite::{OptionalExtension, Transaction, params};

use super::layers::LayerDiffId;
use super::{ImageInfo, Index, parse_digest};
use crate::digest::Digest;
use crate::error::Result;

/// The roots of image `?1`, as a query.
const ROOTS: &str = "SELECT target_digest FROM images WHERE id = ?1
     UNION SELECT target_digest FROM tags WHERE image_id = ?1 AND target_digest IS NOT NULL
     UNION SELECT digest FROM repo_digests WHERE image_id = ?1";

/// An image recorded before schema 4, as the fill sees it.
#[derive(Debug, Clone)]
pub(crate) struct PendingImage {
    pub id: Digest,
    pub target: Digest,
    pub target_media_type: String,
    /// The targets its tags record (schema 3), besides its own.
    pub tag_targets: Vec<Digest>,
    /// The digests its repo digests name.
    pub repo_digests: Vec<Digest>,
}

/// What the store found for a [`PendingImage`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Filled {
    /// The real manifest (and its media type) to re-point an image at whose target img
    /// synthesised.
    pub retarget: Option<(Digest, String)>,
    /// Manifests among its targets that img synthesised.
    pub synthesized: Vec<Digest>,
    /// Each root (after any re-pointing) with the blobs it brings.
    pub roots: Vec<(Digest, Vec<Digest>)>,
    /// The DiffIDs its configs claim for its layers (unverified).
    pub layers: Vec<LayerDiffId>,
}

impl Index {
    /// Records that image `id`'s root `root` (one of its repo digests: a manifest a push
    /// made over compressed layers) brings `blobs`, and re-pins the image.
    pub fn put_root(&self, id: &Digest, root: &Digest, blobs: &[Digest]) -> Result<ImageInfo> {
        let key = id.to_string();
        self.write(|tx| {
            let e = |e| self.err(e);
            put_root(tx, &key, root, blobs).map_err(e)?;
            repin(tx, &key).map_err(e)?;
            self.load_one(tx, &key)?.ok_or_else(|| {
                crate::error::Error::new(
                    crate::error::ErrorKind::NotFound,
                    format!("image {id} was deleted during the push"),
                )
            })
        })
    }

    /// Whether the index still needs the fill of schema 4 (an index upgraded from 3).
    pub(crate) fn fill_is_pending(&self) -> Result<bool> {
        self.read(|tx| {
            let row = tx
                .query_row("SELECT 1 FROM meta WHERE key = 'fill'", [], |_| Ok(()))
                .optional()
                .map_err(|e| self.err(e))?;
            Ok(row.is_some())
        })
    }

    /// Runs the fill of schema 4, if it is due: `compute` says, for each image, what the
    /// store's manifests and configs say (`None`: they could not be read, and the image
    /// keeps everything it pinned); then every image is re-pinned in one `BEGIN IMMEDIATE`
    /// transaction (two processes opening an upgraded store at once fill it once).
    /// `compute` reads through this index, so it runs before that transaction, outside
    /// the connection's lock (inside it, its first query waited on itself for ever); an
    /// image removed meanwhile is skipped. Returns whether it ran.
    pub(crate) fn fill_pending(
        &self,
        mut compute: impl FnMut(&PendingImage) -> Option<Filled>,
    ) -> Result<bool> {
        let pending = self.read(|tx| self.pending_images(tx))?;
        let computed: Vec<(PendingImage, Option<Filled>)> = pending
            .into_iter()
            .map(|image| {
                let filled = compute(&image);
                (image, filled)
            })
            .collect();
        self.write(|tx| {
            let e = |e| self.err(e);
            let due = tx
                .query_row("SELECT 1 FROM meta WHERE key = 'fill'", [], |_| Ok(()))
                .optional()
                .map_err(e)?;
            if due.is_none() {
                return Ok(false);
            }
            for (image, filled) in computed {
                let id = image.id.to_string();
                let exists = tx
                    .query_row("SELECT 1 FROM images WHERE id = ?1", [&id], |_| Ok(()))
                    .optional()
                    .map_err(e)?;
                if exists.is_none() {
                    continue;
                }
                let Some(filled) = filled else {
                    // Its documents could not be read: it keeps all it pinned, as its
                    // target's closure (keeping a blob is always safe).
                    keep_all(tx, &id, &image.target).map_err(e)?;
                    continue;
                };
                if let Some((real, mt)) = &filled.retarget {
                    tx.execute(
                        "UPDATE images SET target_digest = ?2, target_media_type = ?3 WHERE id = ?1",
                        params![id, real.to_string(), mt],
                    )
                    .map_err(e)?;
                }
                for d in &filled.synthesized {
                    mark_synthesized(tx, d).map_err(e)?;
                    // A tag recorded for a synthesised manifest follows the image.
                    tx.execute(
                        "UPDATE tags SET target_digest = NULL, target_media_type = NULL
                         WHERE image_id = ?1 AND target_digest = ?2",
                        params![id, d.to_string()],
                    )
                    .map_err(e)?;
                }
                tx.execute("DELETE FROM image_roots WHERE image_id = ?1", [&id])
                    .map_err(e)?;
                for (root, blobs) in &filled.roots {
                    put_root(tx, &id, root, blobs).map_err(e)?;
                }
                super::layers::put_claims(tx, &filled.layers).map_err(e)?;
                repin(tx, &id).map_err(e)?;
            }
            tx.execute("DELETE FROM meta WHERE key = 'fill'", [])
                .map_err(e)?;
            Ok(true)
        })
    }

    fn pending_images(&self, tx: &Transaction<'_>) -> Result<Vec<PendingImage>> {
        let e = |e| self.err(e);
        let mut stmt = tx
            .prepare("SELECT id, target_digest, target_media_type FROM images ORDER BY id")
            .map_err(e)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(e)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(e)?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, target, target_media_type) in rows {
            let digests = |sql: &str| -> Result<Vec<Digest>> {
                let mut stmt = tx.prepare_cached(sql).map_err(e)?;
                let found = stmt
                    .query_map([&id], |r| r.get::<_, String>(0))
                    .map_err(e)?
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .map_err(e)?;
                found.iter().map(|d| parse_digest(d)).collect()
            };
            out.push(PendingImage {
                id: parse_digest(&id)?,
                target: parse_digest(&target)?,
                target_media_type,
                tag_targets: digests(
                    "SELECT DISTINCT target_digest FROM tags
                     WHERE image_id = ?1 AND target_digest IS NOT NULL ORDER BY 1",
                )?,
                repo_digests: digests(
                    "SELECT DISTINCT digest FROM repo_digests WHERE image_id = ?1 ORDER BY 1",
                )?,
            });
        }
        Ok(out)
    }

    /// Whether img synthesised the manifest `digest` (for a legacy archive's image).
    pub fn is_synthesized(&self, digest: &Digest) -> Result<bool> {
        self.read(|tx| is_synthesized(tx, &digest.to_string()).map_err(|e| self.err(e)))
    }

    /// Marks manifests img synthesised, before the images using them are recorded.
    pub(crate) fn mark_synthesized(&self, digests: &[Digest]) -> Result<()> {
        if digests.is_empty() {
            return Ok(());
        }
        self.write(|tx| {
            digests
                .iter()
                .try_for_each(|d| mark_synthesized(tx, d))
                .map_err(|e| self.err(e))
        })
    }

    /// The manifests (digest and media type, as committed) that images pinning `config`
    /// also pin: where to look for a manifest of that config (a platform of a
    /// multi-platform image).
    pub(crate) fn manifests_beside(&self, config: &Digest) -> Result<Vec<(Digest, String)>> {
        self.read(|tx| {
            let e = |e| self.err(e);
            let mut stmt = tx
                .prepare(
                    "SELECT DISTINCT b.digest, b.media_type FROM image_blobs ib
                     JOIN blobs b ON b.digest = ib.digest
                     WHERE ib.image_id IN (SELECT image_id FROM image_blobs WHERE digest = ?1)
                     ORDER BY b.digest",
                )
                .map_err(e)?;
            let rows = stmt
                .query_map([config.to_string()], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(e)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(e)?;
            let mut out = Vec::new();
            for (d, mt) in rows {
                if crate::oci::media_type::is_manifest(&mt) {
                    out.push((parse_digest(&d)?, mt));
                }
            }
            Ok(out)
        })
    }
}

pub(super) fn is_synthesized(tx: &Transaction<'_>, digest: &str) -> rusqlite::Result<bool> {
    Ok(tx
        .query_row(
            "SELECT 1 FROM synthesized WHERE digest = ?1",
            [digest],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

fn mark_synthesized(tx: &Transaction<'_>, digest: &Digest) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO synthesized (digest) VALUES (?1) ON CONFLICT DO NOTHING",
        [digest.to_string()],
    )?;
    Ok(())
}

/// Records that `root` of image `id` brings `blobs` (and itself), replacing what it
/// brought before.
pub(super) fn put_root(
    tx: &Transaction<'_>,
    id: &str,
    root: &Digest,
    blobs: &[Digest],
) -> rusqlite::Result<()> {
    let root = root.to_string();
    tx.execute(
        "DELETE FROM image_roots WHERE image_id = ?1 AND root = ?2",
        params![id, root],
    )?;
    let mut stmt = tx.prepare_cached(
        "INSERT INTO image_roots (image_id, root, digest) VALUES (?1, ?2, ?3)
         ON CONFLICT DO NOTHING",
    )?;
    stmt.execute(params![id, root, root])?;
    for d in blobs {
        stmt.execute(params![id, root, d.to_string()])?;
    }
    Ok(())
}

/// Makes everything image `id` pins now the closure of its target.
fn keep_all(tx: &Transaction<'_>, id: &str, target: &Digest) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM image_roots WHERE image_id = ?1", [id])?;
    tx.execute(
        "INSERT INTO image_roots (image_id, root, digest)
         SELECT ?1, ?2, digest FROM image_blobs WHERE image_id = ?1
         UNION SELECT ?1, ?2, ?2",
        params![id, target.to_string()],
    )?;
    Ok(())
}

/// Adds `root` to image `id` when the image has no rows for it yet (a repo digest: the
/// digest alone).
pub(super) fn ensure_root(tx: &Transaction<'_>, id: &str, root: &Digest) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO image_roots (image_id, root, digest) VALUES (?1, ?2, ?2)
         ON CONFLICT DO NOTHING",
        params![id, root.to_string()],
    )?;
    Ok(())
}

/// Recomputes what image `id` pins from the roots it has now, and its size: the rows of
/// roots it lost go, `image_blobs` becomes its ID, its roots and their closures.
pub(super) fn repin(tx: &Transaction<'_>, id: &str) -> rusqlite::Result<()> {
    tx.execute(
        &format!("DELETE FROM image_roots WHERE image_id = ?1 AND root NOT IN ({ROOTS})"),
        [id],
    )?;
    tx.execute("DELETE FROM image_blobs WHERE image_id = ?1", [id])?;
    tx.execute(
        &format!(
            "INSERT INTO image_blobs (image_id, digest)
             SELECT ?1, d FROM (SELECT digest AS d FROM image_roots WHERE image_id = ?1
                                UNION SELECT ?1
                                UNION {ROOTS})
             WHERE d IS NOT NULL"
        ),
        [id],
    )?;
    tx.execute(
        "UPDATE images SET size = (
             SELECT COALESCE(SUM(b.size), 0) FROM image_blobs ib
             JOIN blobs b ON b.digest = ib.digest WHERE ib.image_id = ?1)
         WHERE id = ?1",
        [id],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::{Index, NewImage};
    use crate::Digest;

    fn d(s: &str) -> Digest {
        Digest::sha256_of(s.as_bytes())
    }

    fn image(target: &str, layer: &str, tags: &[(&str, &str)]) -> NewImage {
        NewImage {
            id: d("config"),
            target: d(target),
            target_media_type: crate::oci::media_type::OCI_MANIFEST.into(),
            created: None,
            platform: "linux/amd64".into(),
            blobs: vec![d("config"), d(layer)],
            labels: BTreeMap::new(),
            tags: tags
                .iter()
                .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
                .collect(),
            repo_digests: vec![],
        }
    }

    fn open() -> (tempfile::TempDir, Index) {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open(&dir.path().join("index.db")).unwrap();
        (dir, index)
    }

    #[test]
    fn recording_an_image_again_pins_its_roots_not_the_sum_of_what_it_was_recorded_with() {
        let (_dir, index) = open();
        let mut pulled = image("gzip manifest", "gzip layer", &[("docker.io/x/app", "1")]);
        pulled.repo_digests = vec![("docker.io/x/app".into(), d("gzip manifest"))];
        index.put_image(&pulled).unwrap();
        // A synthesised manifest over uncompressed layers, recorded for the same config.
        index.mark_synthesized(&[d("tar manifest")]).unwrap();
        index
            .put_image(&image(
                "tar manifest",
                "tar layer",
                &[("docker.io/x/app", "2")],
            ))
            .unwrap();
        let pins = index.image_blobs(&d("config")).unwrap();
        assert!(pins.contains(&d("tar layer")) && pins.contains(&d("gzip layer")));
        // The loaded tag follows the image; the pulled one keeps its manifest.
        assert_eq!(index.tag_target("docker.io/x/app", "2").unwrap(), None);
        // A pull re-points it: what only the synthesised manifest used goes.
        index.put_image(&pulled).unwrap();
        let mut pins = index.image_blobs(&d("config")).unwrap();
        pins.sort();
        let mut want = vec![d("config"), d("gzip layer"), d("gzip manifest")];
        want.sort();
        assert_eq!(pins, want);
        // Moving the pulled tag (with its manifest) away leaves the repo digest's closure.
        let mut other = image("other manifest", "other layer", &[("docker.io/x/app", "1")]);
        other.id = d("other config");
        other.blobs = vec![d("other layer")];
        index.put_image(&other).unwrap();
        assert!(
            index
                .image_blobs(&d("config"))
                .unwrap()
                .contains(&d("gzip layer"))
        );
        index
            .remove_repo_digest("docker.io/x/app", &d("gzip manifest"))
            .unwrap();
        assert!(
            index
                .image_blobs(&d("config"))
                .unwrap()
                .contains(&d("gzip layer")),
            "its own target stays"
        );
    }
}
