//! Removing an image's references, and the image itself, in one transaction (img-rm and
//! its prune).
//!
//! img-rm decides what to remove from a snapshot of the image (docker's rules), then
//! applies that decision here in one `BEGIN IMMEDIATE` transaction, so that a tag another
//! process adds or moves meanwhile is never lost: a listed reference that no longer names
//! the image makes the whole call a no-op (`Ok(None)`, the caller looks again), and an image
//! is deleted only if the condition still holds inside the transaction.

use rusqlite::{OptionalExtension, Transaction, params};

use super::{Index, parse_digest};
use crate::digest::Digest;
use crate::error::Result;

/// When [`Index::remove_references`] deletes the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteImage {
    /// Keep the image, whatever is left naming it.
    Never,
    /// Delete it when no tag and no repo digest names it any more (img-rm of its last
    /// reference).
    IfUnreferenced,
    /// Delete it, with its repo digests, when no tag names it (prune: a dangling image).
    IfUntagged,
    /// Delete it with every reference still naming it (img-rm -f).
    Always,
}

/// What [`Index::remove_references`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemovedReferences {
    /// `(full name, tag)` pairs removed, in the order asked, then any removed with the image.
    pub tags: Vec<(String, String)>,
    /// `(full name, digest)` pairs removed, likewise.
    pub repo_digests: Vec<(String, Digest)>,
    /// Whether the image row went too (its blobs stay until the next garbage collection).
    pub deleted: bool,
}

impl Index {
    /// In one transaction: removes `tags` and `repo_digests` from image `id`, then deletes
    /// the image as `delete` says.
    ///
    /// Returns `Ok(None)`, having changed nothing, when the image is gone or one of the
    /// listed references no longer names it (another process moved or removed it since the
    /// caller looked): the caller should look again.
    pub fn remove_references(
        &self,
        id: &Digest,
        tags: &[(String, String)],
        repo_digests: &[(String, Digest)],
        delete: DeleteImage,
    ) -> Result<Option<RemovedReferences>> {
        let id = id.to_string();
        // The transaction is rolled back, changing nothing, when a listed reference moved.
        let outcome = self.write_or_rollback(|tx| {
            let e = |e| self.err(e);
            let exists = tx
                .query_row("SELECT 1 FROM images WHERE id = ?1", [&id], |_| Ok(()))
                .optional()
                .map_err(e)?;
            if exists.is_none() {
                return Ok(None);
            }
            let mut removed = RemovedReferences::default();
            for (name, tag) in tags {
                let n = tx
                    .execute(
                        "DELETE FROM tags WHERE name = ?1 AND tag = ?2 AND image_id = ?3",
                        params![name, tag, id],
                    )
                    .map_err(e)?;
                if n == 0 {
                    return Ok(None);
                }
                removed.tags.push((name.clone(), tag.clone()));
            }
            for (name, digest) in repo_digests {
                let n = tx
                    .execute(
                        "DELETE FROM repo_digests WHERE name = ?1 AND digest = ?2 AND image_id = ?3",
                        params![name, digest.to_string(), id],
                    )
                    .map_err(e)?;
                if n == 0 {
                    return Ok(None);
                }
                removed.repo_digests.push((name.clone(), digest.clone()));
            }
            let (tags_left, digests_left) = self.reference_counts(tx, &id)?;
            let go = match delete {
                DeleteImage::Never => false,
                DeleteImage::IfUnreferenced => tags_left == 0 && digests_left == 0,
                DeleteImage::IfUntagged => tags_left == 0,
                DeleteImage::Always => true,
            };
            if go {
                // Report what goes with the image, as docker lists every reference it removes.
                removed.tags.extend(self.take_tags(tx, &id)?);
                removed.repo_digests.extend(self.take_repo_digests(tx, &id)?);
                tx.execute("DELETE FROM images WHERE id = ?1", [&id])
                    .map_err(e)?;
                removed.deleted = true;
            } else {
                // What it pins is the closure of the references it has left.
                super::pins::repin(tx, &id).map_err(e)?;
            }
            Ok(Some(removed))
        })?;
        Ok(outcome)
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction; commits when it returns `Some`, rolls
    /// back when it returns `None` or an error.
    fn write_or_rollback<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<Option<T>>,
    ) -> Result<Option<T>> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        match f(&tx)? {
            Some(value) => {
                tx.commit().map_err(|e| self.err(e))?;
                Ok(Some(value))
            }
            None => {
                tx.rollback().map_err(|e| self.err(e))?;
                Ok(None)
            }
        }
    }

    fn reference_counts(&self, tx: &Transaction<'_>, id: &str) -> Result<(u64, u64)> {
        tx.query_row(
            "SELECT (SELECT COUNT(*) FROM tags WHERE image_id = ?1),
                    (SELECT COUNT(*) FROM repo_digests WHERE image_id = ?1)",
            [id],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
        )
        .map(|(t, d)| (super::to_u64(t), super::to_u64(d)))
        .map_err(|e| self.err(e))
    }

    fn take_tags(&self, tx: &Transaction<'_>, id: &str) -> Result<Vec<(String, String)>> {
        self.take_pairs(
            tx,
            "DELETE FROM tags WHERE image_id = ?1 RETURNING name, tag",
            id,
        )
    }

    fn take_repo_digests(&self, tx: &Transaction<'_>, id: &str) -> Result<Vec<(String, Digest)>> {
        self.take_pairs(
            tx,
            "DELETE FROM repo_digests WHERE image_id = ?1 RETURNING name, digest",
            id,
        )?
        .into_iter()
        .map(|(n, d)| Ok((n, parse_digest(&d)?)))
        .collect()
    }

    /// Runs a `DELETE … RETURNING a, b` for image `id` and returns the pairs, sorted.
    fn take_pairs(
        &self,
        tx: &Transaction<'_>,
        sql: &str,
        id: &str,
    ) -> Result<Vec<(String, String)>> {
        let mut stmt = tx.prepare(sql).map_err(|e| self.err(e))?;
        let mut rows = stmt
            .query_map([id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        rows.sort();
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::index::NewImage;

    const ALPINE: &str = "docker.io/library/alpine";
    const MINE: &str = "docker.io/me/alpine";

    fn d(s: &str) -> Digest {
        Digest::sha256_of(s.as_bytes())
    }

    fn setup() -> (tempfile::TempDir, Index, Digest) {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open(&dir.path().join("index.db")).unwrap();
        let info = index
            .put_image(&NewImage {
                id: d("config"),
                target: d("manifest"),
                target_media_type: crate::oci::media_type::OCI_MANIFEST.into(),
                created: None,
                platform: "linux/amd64".into(),
                blobs: vec![d("layer")],
                labels: BTreeMap::new(),
                tags: vec![(ALPINE.into(), "3.20".into()), (MINE.into(), "1".into())],
                repo_digests: vec![(ALPINE.into(), d("manifest"))],
            })
            .unwrap();
        (dir, index, info.id)
    }

    fn tag(name: &str, tag: &str) -> (String, String) {
        (name.to_owned(), tag.to_owned())
    }

    #[test]
    fn removes_listed_references_and_deletes_only_when_unreferenced() {
        let (_dir, index, id) = setup();
        let r = index
            .remove_references(
                &id,
                &[tag(ALPINE, "3.20")],
                &[(ALPINE.into(), d("manifest"))],
                DeleteImage::IfUnreferenced,
            )
            .unwrap()
            .unwrap();
        assert_eq!(r.tags, [tag(ALPINE, "3.20")]);
        assert!(!r.deleted, "me/alpine:1 still names it");
        let info = index.image(&id).unwrap().unwrap();
        assert_eq!(info.tags, [tag(MINE, "1")]);
        assert!(info.repo_digests.is_empty());
        let r = index
            .remove_references(&id, &[tag(MINE, "1")], &[], DeleteImage::IfUnreferenced)
            .unwrap()
            .unwrap();
        assert!(r.deleted);
        assert_eq!(index.image(&id).unwrap(), None);
        // Its blobs are no longer pinned.
        assert!(index.image_blobs(&id).unwrap().is_empty());
    }

    #[test]
    fn a_reference_that_moved_changes_nothing() {
        let (_dir, index, id) = setup();
        let other = index
            .put_image(&NewImage {
                id: d("config 2"),
                target: d("manifest 2"),
                target_media_type: crate::oci::media_type::OCI_MANIFEST.into(),
                created: None,
                platform: "linux/amd64".into(),
                blobs: vec![],
                labels: BTreeMap::new(),
                tags: vec![tag(MINE, "1")],
                repo_digests: vec![],
            })
            .unwrap();
        // me/alpine:1 now names the other image: removing it "from" the first is refused
        // as a whole, the alpine tag included.
        let r = index
            .remove_references(
                &id,
                &[tag(ALPINE, "3.20"), tag(MINE, "1")],
                &[],
                DeleteImage::Always,
            )
            .unwrap();
        assert_eq!(r, None);
        let info = index.image(&id).unwrap().unwrap();
        assert_eq!(info.tags, [tag(ALPINE, "3.20")]);
        assert_eq!(
            index.image(&other.id).unwrap().unwrap().tags,
            [tag(MINE, "1")]
        );
        // A gone image: None too.
        index.delete_image(&other.id).unwrap();
        assert_eq!(
            index
                .remove_references(&other.id, &[], &[], DeleteImage::Always)
                .unwrap(),
            None
        );
    }

    #[test]
    fn always_reports_every_reference_it_removes() {
        let (_dir, index, id) = setup();
        let r = index
            .remove_references(&id, &[], &[], DeleteImage::Always)
            .unwrap()
            .unwrap();
        assert!(r.deleted);
        assert_eq!(r.tags, [tag(ALPINE, "3.20"), tag(MINE, "1")]);
        assert_eq!(r.repo_digests, [(ALPINE.to_owned(), d("manifest"))]);
    }

    #[test]
    fn if_untagged_keeps_a_tagged_image_and_deletes_a_dangling_one_with_its_digests() {
        let (_dir, index, id) = setup();
        let r = index
            .remove_references(&id, &[], &[], DeleteImage::IfUntagged)
            .unwrap()
            .unwrap();
        assert_eq!(r, RemovedReferences::default());
        assert!(index.image(&id).unwrap().is_some());
        index
            .remove_references(
                &id,
                &[tag(ALPINE, "3.20"), tag(MINE, "1")],
                &[],
                DeleteImage::Never,
            )
            .unwrap()
            .unwrap();
        let r = index
            .remove_references(&id, &[], &[], DeleteImage::IfUntagged)
            .unwrap()
            .unwrap();
        assert!(r.deleted);
        assert_eq!(r.repo_digests, [(ALPINE.to_owned(), d("manifest"))]);
    }
}
