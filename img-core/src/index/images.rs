//! Images, tags, repo digests and labels: recording an image, listing, resolving, tagging
//! and deleting.

use std::collections::{BTreeMap, HashMap};

use rusqlite::{OptionalExtension, Transaction, params, params_from_iter, types::Value};

use super::filter::nanos;
use super::{Index, now, parse_digest, pins, to_u64};
use crate::digest::Digest;
use crate::error::{Error, ErrorKind, Result};

/// An image to record with [`Index::put_image`].
#[derive(Debug, Clone)]
pub struct NewImage {
    /// The image ID: the config digest of a one-platform image, the index digest of a
    /// multi-platform one.
    pub id: Digest,
    /// What the tag resolved to: the manifest, or the index.
    pub target: Digest,
    /// The target's media type.
    pub target_media_type: String,
    /// `created` from the config (RFC 3339), if it has one.
    pub created: Option<String>,
    /// The platform, `os/arch[/variant]`.
    pub platform: String,
    /// What the target brings besides itself and the ID (which are pinned anyway): its
    /// config and layers, and for an index its child manifests and their blobs (a
    /// one-platform pull adds the index it picked from).
    pub blobs: Vec<Digest>,
    /// The config's labels.
    pub labels: BTreeMap<String, String>,
    /// `(full name, tag)` pairs to point at this image, moved from any other image.
    pub tags: Vec<(String, String)>,
    /// `(full name, digest)` pairs: what each name resolved to.
    pub repo_digests: Vec<(String, Digest)>,
}

/// An image as the index records it, with its tags, repo digests and labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// The image ID.
    pub id: Digest,
    /// The manifest or index the image was recorded from.
    pub target: Digest,
    /// The target's media type.
    pub target_media_type: String,
    /// `created` from the config (RFC 3339), if any.
    pub created: Option<String>,
    /// Bytes the image's blobs take in the store (compressed, as stored).
    pub size: u64,
    /// The platform, `os/arch[/variant]`.
    pub platform: String,
    /// When a tag last moved to this image (RFC 3339).
    pub last_tag_time: Option<String>,
    /// `(full name, tag)`, sorted.
    pub tags: Vec<(String, String)>,
    /// `(full name, digest)`, sorted.
    pub repo_digests: Vec<(String, Digest)>,
    /// The config's labels.
    pub labels: BTreeMap<String, String>,
}

const IMAGE_COLUMNS: &str = "i.id, i.target_digest, i.target_media_type, i.created, i.size, \
     i.platform, i.last_tag_time, i.created_ns";

impl Index {
    /// Records an image in one transaction: its row, its target's closure, its labels, and
    /// its tags and repo digests (a tag naming another image moves here; the other image
    /// stays, untagged). Recording an image again points it at the new target; it then
    /// pins exactly the closure of its target, its tags' targets and its repo digests (see
    /// pins.rs), never the sum of what it was recorded with. A tag recorded for a
    /// synthesised target follows the image (target NULL), and when an image moves off a
    /// synthesised target its tags for it follow too. The size is computed from the blob
    /// rows, so record an image after committing its blobs.
    pub fn put_image(&self, image: &NewImage) -> Result<ImageInfo> {
        let id = image.id.to_string();
        self.write(|tx| {
            self.put_in(tx, image)?;
            self.load_one(tx, &id)?.ok_or_else(|| {
                Error::new(
                    ErrorKind::Corrupt,
                    format!("image {id} vanished while recording it"),
                )
            })
        })
    }

    /// Records many images in one transaction, each as [`Index::put_image`] does, in
    /// order (a later image's tag moves from an earlier one): for imports and benchmarks,
    /// where a commit (an fsync) an image would dominate.
    pub fn put_images(&self, images: &[NewImage]) -> Result<()> {
        self.write(|tx| images.iter().try_for_each(|image| self.put_in(tx, image)))
    }

    fn put_in(&self, tx: &Transaction<'_>, image: &NewImage) -> Result<()> {
        let id = image.id.to_string();
        let created_ns = image
            .created
            .as_deref()
            .and_then(|c| c.parse::<jiff::Timestamp>().ok())
            .map(nanos);
        let e = |e| self.err(e);
        let old_target: Option<String> = tx
            .query_row(
                "SELECT target_digest FROM images WHERE id = ?1",
                [&id],
                |r| r.get(0),
            )
            .optional()
            .map_err(e)?;
        let new_target = image.target.to_string();
        if let Some(old) = old_target.filter(|old| *old != new_target)
            && pins::is_synthesized(tx, &old).map_err(e)?
        {
            tx.execute(
                "UPDATE tags SET target_digest = NULL, target_media_type = NULL
                 WHERE image_id = ?1 AND target_digest = ?2",
                params![id, old],
            )
            .map_err(e)?;
        }
        tx.execute(
            "INSERT INTO images (id, target_digest, target_media_type, created, created_ns,
                                     size, platform, added_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7)
                 ON CONFLICT (id) DO UPDATE SET
                     target_digest = excluded.target_digest,
                     target_media_type = excluded.target_media_type,
                     created = excluded.created,
                     created_ns = excluded.created_ns,
                     platform = excluded.platform",
            params![
                id,
                image.target.to_string(),
                image.target_media_type,
                image.created,
                created_ns,
                image.platform,
                now()
            ],
        )
        .map_err(e)?;
        let mut closure = image.blobs.clone();
        closure.push(image.id.clone());
        pins::put_root(tx, &id, &image.target, &closure).map_err(e)?;
        tx.execute("DELETE FROM labels WHERE image_id = ?1", [&id])
            .map_err(e)?;
        for (k, v) in &image.labels {
            tx.execute(
                "INSERT INTO labels (image_id, key, value) VALUES (?1, ?2, ?3)",
                params![id, k, v],
            )
            .map_err(e)?;
        }
        let synthesized = pins::is_synthesized(tx, &new_target).map_err(e)?;
        let target =
            (!synthesized).then_some((new_target.as_str(), image.target_media_type.as_str()));
        let mut losers = Vec::new();
        for (name, tag) in &image.tags {
            losers.extend(self.tag_in(tx, &id, name, tag, target)?);
        }
        for (name, digest) in &image.repo_digests {
            losers.extend(self.repo_digest_in(tx, &id, name, digest)?);
        }
        pins::repin(tx, &id).map_err(e)?;
        losers.sort();
        losers.dedup();
        for other in losers {
            pins::repin(tx, &other).map_err(e)?;
        }
        Ok(())
    }

    /// Records `name@digest` for image `id` (an up-to-date pull restores it, as docker
    /// adds it back on every pull), moving it from any other image.
    pub fn add_repo_digest(&self, id: &Digest, name: &str, digest: &Digest) -> Result<()> {
        let id = id.to_string();
        self.write(|tx| {
            self.require_image(tx, &id)?;
            let loser = self.repo_digest_in(tx, &id, name, digest)?;
            pins::repin(tx, &id).map_err(|e| self.err(e))?;
            if let Some(other) = loser {
                pins::repin(tx, &other).map_err(|e| self.err(e))?;
            }
            Ok(())
        })
    }

    /// Points `name:tag` at image `id` with the target the existing image has (a load of
    /// an image the store holds: its tags only), for each pair, in one transaction with
    /// the images of `images` (recorded first, in order).
    pub fn put_images_and_tags(
        &self,
        images: &[NewImage],
        tags: &[(Digest, Vec<(String, String)>)],
    ) -> Result<()> {
        self.write(|tx| {
            images.iter().try_for_each(|image| self.put_in(tx, image))?;
            for (id, pairs) in tags {
                let id = id.to_string();
                let mut losers = Vec::new();
                for (name, tag) in pairs {
                    losers.extend(self.tag_in(tx, &id, name, tag, None)?);
                }
                for other in losers {
                    pins::repin(tx, &other).map_err(|e| self.err(e))?;
                }
            }
            Ok(())
        })
    }

    /// Fails with "no such image" unless image `id` is recorded (checked inside the write
    /// that then names it, so it cannot vanish in between).
    fn require_image(&self, tx: &Transaction<'_>, id: &str) -> Result<()> {
        tx.query_row("SELECT 1 FROM images WHERE id = ?1", [id], |_| Ok(()))
            .optional()
            .map_err(|e| self.err(e))?
            .ok_or_else(|| no_such_image(id))
    }

    /// Records `name@digest` for image `id`; returns the image it named before, if another.
    fn repo_digest_in(
        &self,
        tx: &Transaction<'_>,
        id: &str,
        name: &str,
        digest: &Digest,
    ) -> Result<Option<String>> {
        let e = |e| self.err(e);
        let digest = digest.clone();
        let before: Option<String> = tx
            .query_row(
                "SELECT image_id FROM repo_digests WHERE name = ?1 AND digest = ?2",
                params![name, digest.to_string()],
                |r| r.get(0),
            )
            .optional()
            .map_err(e)?;
        tx.execute(
            "INSERT INTO repo_digests (name, digest, image_id) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name, digest) DO UPDATE SET image_id = excluded.image_id",
            params![name, digest.to_string(), id],
        )
        .map_err(e)?;
        pins::ensure_root(tx, id, &digest).map_err(e)?;
        Ok(before.filter(|b| b != id))
    }

    /// Points `name:tag` at image `id`, moving it from any other image.
    pub fn tag(&self, id: &Digest, name: &str, tag: &str) -> Result<()> {
        let id = id.to_string();
        self.write(|tx| {
            self.require_image(tx, &id)?;
            if let Some(other) = self.tag_in(tx, &id, name, tag, None)? {
                pins::repin(tx, &other).map_err(|e| self.err(e))?;
            }
            Ok(())
        })
    }

    /// The manifest (or index) `name:tag` resolved to when it was pulled, with its media
    /// type; `None` for a tag that names the image's own target (see schema 3).
    pub fn tag_target(&self, name: &str, tag: &str) -> Result<Option<(Digest, String)>> {
        self.read(|tx| {
            let row: Option<(Option<String>, Option<String>)> = tx
                .query_row(
                    "SELECT target_digest, target_media_type FROM tags WHERE name = ?1 AND tag = ?2",
                    [name, tag],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(|e| self.err(e))?;
            Ok(match row {
                Some((Some(d), Some(mt))) => Digest::parse(&d).ok().map(|d| (d, mt)),
                _ => None,
            })
        })
    }

    /// Records `name:tag` for image `id`; `target` is the manifest the tag resolved to
    /// (`None`: the image's own target). Returns the image the tag moved from, if another
    /// (which the caller re-pins: a tag's target is one of its roots).
    fn tag_in(
        &self,
        tx: &Transaction<'_>,
        id: &str,
        name: &str,
        tag: &str,
        target: Option<(&str, &str)>,
    ) -> Result<Option<String>> {
        let before: Option<String> = tx
            .query_row(
                "SELECT image_id FROM tags WHERE name = ?1 AND tag = ?2",
                [name, tag],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let t = now();
        let (td, tm) = target.unzip();
        tx.execute(
            "INSERT INTO tags (name, tag, image_id, tagged_at, target_digest, target_media_type)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (name, tag) DO UPDATE SET
                 tagged_at = excluded.tagged_at,
                 -- Re-tagging the same image without a target keeps the one recorded.
                 target_digest = CASE WHEN excluded.target_digest IS NULL
                                       AND tags.image_id = excluded.image_id
                                      THEN tags.target_digest ELSE excluded.target_digest END,
                 target_media_type = CASE WHEN excluded.target_digest IS NULL
                                           AND tags.image_id = excluded.image_id
                                          THEN tags.target_media_type
                                          ELSE excluded.target_media_type END,
                 image_id = excluded.image_id",
            params![name, tag, id, t, td, tm],
        )
        .map_err(|e| self.err(e))?;
        tx.execute(
            "UPDATE images SET last_tag_time = ?2 WHERE id = ?1",
            params![id, t],
        )
        .map_err(|e| self.err(e))?;
        Ok(before.filter(|b| b != id))
    }

    /// Removes the tag `name:tag` and returns the image it named.
    pub fn untag(&self, name: &str, tag: &str) -> Result<Digest> {
        self.write(|tx| {
            let id: Option<String> = tx
                .query_row(
                    "DELETE FROM tags WHERE name = ?1 AND tag = ?2 RETURNING image_id",
                    [name, tag],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| self.err(e))?;
            if let Some(id) = &id {
                pins::repin(tx, id).map_err(|e| self.err(e))?;
            }
            match id {
                Some(id) => parse_digest(&id),
                None => Err(Error::new(
                    ErrorKind::NotFound,
                    format!("no such tag {name}:{tag}"),
                )),
            }
        })
    }

    /// Removes the repo digest `name@digest` and returns the image it named.
    pub fn remove_repo_digest(&self, name: &str, digest: &Digest) -> Result<Digest> {
        self.write(|tx| {
            let id: Option<String> = tx
                .query_row(
                    "DELETE FROM repo_digests WHERE name = ?1 AND digest = ?2 RETURNING image_id",
                    [name, &digest.to_string()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| self.err(e))?;
            if let Some(id) = &id {
                pins::repin(tx, id).map_err(|e| self.err(e))?;
            }
            match id {
                Some(id) => parse_digest(&id),
                None => Err(Error::new(
                    ErrorKind::NotFound,
                    format!("no such image {name}@{digest}"),
                )),
            }
        })
    }

    /// Deletes image `id` with its tags, repo digests and labels. Its blobs stay until the
    /// next garbage collection finds them unreferenced.
    pub fn delete_image(&self, id: &Digest) -> Result<()> {
        let id = id.to_string();
        self.write(|tx| {
            let n = tx
                .execute("DELETE FROM images WHERE id = ?1", [&id])
                .map_err(|e| self.err(e))?;
            if n == 0 {
                return Err(no_such_image(&id));
            }
            Ok(())
        })
    }

    /// The blobs image `id` pins (including its target and ID), by digest.
    pub fn image_blobs(&self, id: &Digest) -> Result<Vec<Digest>> {
        self.read(|tx| {
            let mut stmt = tx
                .prepare("SELECT digest FROM image_blobs WHERE image_id = ?1 ORDER BY digest")
                .map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map([id.to_string()], |r| r.get::<_, String>(0))
                .map_err(|e| self.err(e))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(|e| self.err(e))?;
            rows.iter().map(|d| parse_digest(d)).collect()
        })
    }

    /// The image with ID `id`.
    pub fn image(&self, id: &Digest) -> Result<Option<ImageInfo>> {
        self.read(|tx| self.load_one(tx, &id.to_string()))
    }

    /// Whether any image is tagged in, or was pulled from, repository `name` (in full).
    pub fn has_repository(&self, name: &str) -> Result<bool> {
        self.read(|tx| {
            tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM tags WHERE name = ?1)
                     OR EXISTS (SELECT 1 FROM repo_digests WHERE name = ?1)",
                [name],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
        })
    }

    /// The image `name:tag` names (`name` in full: `docker.io/library/alpine`).
    pub fn image_by_tag(&self, name: &str, tag: &str) -> Result<Option<ImageInfo>> {
        self.read(|tx| {
            let id: Option<String> = tx
                .query_row(
                    "SELECT image_id FROM tags WHERE name = ?1 AND tag = ?2",
                    [name, tag],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| self.err(e))?;
            match id {
                Some(id) => self.load_one(tx, &id),
                None => Ok(None),
            }
        })
    }

    /// The image `name@digest` names: a repo digest, or failing that an image of that
    /// name (tag or repo digest) whose target or ID is `digest`.
    pub fn image_by_digest(&self, name: &str, digest: &Digest) -> Result<Option<ImageInfo>> {
        self.read(|tx| {
            let id: Option<String> = tx
                .query_row(
                    "SELECT image_id FROM repo_digests WHERE name = ?1 AND digest = ?2
                     UNION ALL
                     SELECT image_id FROM tags WHERE name = ?1 AND target_digest = ?2
                     UNION ALL
                     SELECT i.id FROM images i WHERE (i.target_digest = ?2 OR i.id = ?2)
                       AND NOT EXISTS (SELECT 1 FROM repo_digests o
                                       WHERE o.image_id = i.id AND o.digest = ?2 AND o.name <> ?1)
                       AND (EXISTS (SELECT 1 FROM tags t WHERE t.image_id = i.id AND t.name = ?1)
                         OR EXISTS (SELECT 1 FROM repo_digests r
                                    WHERE r.image_id = i.id AND r.name = ?1))
                     LIMIT 1",
                    [name, &digest.to_string()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| self.err(e))?;
            match id {
                Some(id) => self.load_one(tx, &id),
                None => Ok(None),
            }
        })
    }

    /// The images whose ID starts with `prefix` (hex, `sha256:` optional), as docker
    /// resolves short IDs; more than one means the prefix is ambiguous. A prefix that is not
    /// lowercase hex matches nothing.
    pub fn images_by_id_prefix(&self, prefix: &str) -> Result<Vec<ImageInfo>> {
        let (alg, hex) = prefix.split_once(':').unwrap_or(("sha256", prefix));
        let hex_ok = !hex.is_empty()
            && hex.len() <= 128
            && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !hex_ok || !matches!(alg, "sha256" | "sha512") {
            return Ok(Vec::new());
        }
        // The prefix is plain hex, so it carries no LIKE wildcards.
        let pattern = format!("{alg}:{hex}%");
        self.read(|tx| {
            self.load_images(tx, "WHERE i.id LIKE ?1", vec![Value::Text(pattern.clone())])
        })
    }

    pub(super) fn load_one(&self, tx: &Transaction<'_>, id: &str) -> Result<Option<ImageInfo>> {
        let mut found = self.load_images(tx, "WHERE i.id = ?1", vec![Value::Text(id.into())])?;
        Ok(found.pop())
    }

    /// Images matching `where_sql` (over `images i`), newest first, with their tags, repo
    /// digests and labels.
    pub(super) fn load_images(
        &self,
        tx: &Transaction<'_>,
        where_sql: &str,
        params: Vec<Value>,
    ) -> Result<Vec<ImageInfo>> {
        let raw = self.raw_images(tx, where_sql, &params)?;
        self.with_children(tx, raw, true)
    }

    /// The rows of `images` matching `where_sql`, newest first (ties by ID).
    pub(super) fn raw_images(
        &self,
        tx: &Transaction<'_>,
        where_sql: &str,
        params: &[Value],
    ) -> Result<Vec<RawImage>> {
        let e = |e| self.err(e);
        let sql = format!(
            "SELECT {IMAGE_COLUMNS} FROM images i {where_sql}
             ORDER BY i.created_ns IS NULL, i.created_ns DESC, i.id"
        );
        let mut stmt = tx.prepare_cached(&sql).map_err(e)?;
        stmt.query_map(params_from_iter(params.iter()), |r| {
            Ok(RawImage {
                id: r.get(0)?,
                target: r.get(1)?,
                target_media_type: r.get(2)?,
                created: r.get(3)?,
                size: r.get(4)?,
                platform: r.get(5)?,
                last_tag_time: r.get(6)?,
                created_ns: r.get(7)?,
            })
        })
        .map_err(e)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(e)
    }

    /// The images of `raw` with their tags, repo digests and (with `labels`) labels: a few
    /// images by one indexed query each, many by scanning each child table once (a listing
    /// of a large store must not cost three queries an image).
    pub(super) fn with_children(
        &self,
        tx: &Transaction<'_>,
        raw: Vec<RawImage>,
        labels: bool,
    ) -> Result<Vec<ImageInfo>> {
        let e = |e| self.err(e);
        const TABLES: [(&str, &str, &str); 3] = [
            ("tags", "name, tag", "ORDER BY name, tag"),
            ("repo_digests", "name, digest", "ORDER BY name, digest"),
            ("labels", "key, value", ""),
        ];
        let tables = &TABLES[..if labels { 3 } else { 2 }];
        let mut children: Vec<Vec<Pairs>> = Vec::with_capacity(3);
        if raw.len() <= PER_IMAGE_MAX {
            for &(table, columns, order) in tables {
                let sql = format!("SELECT {columns} FROM {table} WHERE image_id = ?1 {order}");
                let mut stmt = tx.prepare_cached(&sql).map_err(e)?;
                let mut by_image = Vec::with_capacity(raw.len());
                for image in &raw {
                    let pairs = stmt
                        .query_map([&image.id], |r| Ok((r.get(0)?, r.get(1)?)))
                        .map_err(e)?
                        .collect::<rusqlite::Result<Pairs>>()
                        .map_err(e)?;
                    by_image.push(pairs);
                }
                children.push(by_image);
            }
        } else {
            // Each child row goes to its image's slot, found by the borrowed ID (no
            // allocation a row); rows of other images are skipped. Tags and repo digests
            // come in their primary key's order (name first), which a scan gives unsorted.
            let slot: HashMap<&str, usize> = raw
                .iter()
                .enumerate()
                .map(|(n, r)| (r.id.as_str(), n))
                .collect();
            for &(table, columns, order) in tables {
                let sql = format!("SELECT image_id, {columns} FROM {table} {order}");
                let mut stmt = tx.prepare(&sql).map_err(e)?;
                let mut rows = stmt.query([]).map_err(e)?;
                let mut by_image: Vec<Pairs> = vec![Vec::new(); raw.len()];
                while let Some(r) = rows.next().map_err(e)? {
                    let id = r.get_ref(0).map_err(e)?;
                    let id = id.as_str().map_err(|err| e(err.into()))?;
                    if let Some(&n) = slot.get(id) {
                        by_image[n].push((r.get(1).map_err(e)?, r.get(2).map_err(e)?));
                    }
                }
                children.push(by_image);
            }
        }
        if !labels {
            children.push(vec![Vec::new(); raw.len()]);
        }
        let (Some(labels), Some(digests), Some(tags)) =
            (children.pop(), children.pop(), children.pop())
        else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(raw.len());
        for (r, ((tags, digests), labels)) in raw
            .into_iter()
            .zip(tags.into_iter().zip(digests).zip(labels))
        {
            let repo_digests = digests
                .into_iter()
                .map(|(n, d)| Ok((n, parse_digest(&d)?)))
                .collect::<Result<Vec<_>>>()?;
            out.push(ImageInfo {
                id: parse_digest(&r.id)?,
                target: parse_digest(&r.target)?,
                target_media_type: r.target_media_type,
                created: r.created,
                size: to_u64(r.size),
                platform: r.platform,
                last_tag_time: r.last_tag_time,
                tags,
                repo_digests,
                labels: labels.into_iter().collect(),
            });
        }
        Ok(out)
    }
}

/// At most this many images get their children by one indexed query each; more are read
/// by scanning each child table once (an indexed query costs a few microseconds; the
/// scans of a 10,000-image store take tens of milliseconds).
pub(super) const PER_IMAGE_MAX: usize = 3000;

/// A row of `images` as read.
pub(super) struct RawImage {
    pub(super) id: String,
    target: String,
    target_media_type: String,
    created: Option<String>,
    size: i64,
    platform: String,
    last_tag_time: Option<String>,
    pub(super) created_ns: Option<i64>,
}

/// An image's rows of a child table, each a pair of its columns.
type Pairs = Vec<(String, String)>;

fn no_such_image(id: &str) -> Error {
    Error::new(ErrorKind::NotFound, format!("no such image {id}"))
}
