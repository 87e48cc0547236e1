//! Listing images for `img-ls`: one row a tag (or `<none>`), filtered in SQL where the
//! filter allows and by reference patterns on the names first.

use std::sync::Arc;

use rusqlite::{Transaction, types::Value};

use super::Index;
use super::filter::{ListFilter, RefMatcher};
use super::images::{ImageInfo, PER_IMAGE_MAX};
use crate::digest::Digest;
use crate::error::Result;

/// One row of `img-ls`: an image under one of its tags, or `<none>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRow {
    /// The image, shared by the rows of its tags; its `labels` are not read (empty).
    pub image: Arc<ImageInfo>,
    /// The full repository name, `None` for `<none>`.
    pub repository: Option<String>,
    /// The tag, `None` for `<none>`.
    pub tag: Option<String>,
    /// The repo digest recorded for this repository, if any.
    pub digest: Option<Digest>,
}

impl Index {
    /// `img-ls`: one row per tag, plus one `<none>` row per untagged image (one per
    /// repository if it has repo digests, as docker shows a pull by digest), newest first
    /// (ties by ID), each image's rows by name and tag. A malformed reference pattern is a
    /// usage error.
    ///
    /// The rows' images carry no labels (`labels` is empty: label filters run in SQL, and
    /// a listing of a large store would spend a third of its time reading them); ask
    /// [`Index::image`] for them.
    ///
    /// A listing of many images reads each table once; a filtered one reads the few images
    /// it keeps by their keys (reference patterns are first tried on the names alone).
    pub fn list_images(&self, filter: &ListFilter) -> Result<Vec<ImageRow>> {
        let mut matcher = filter.reference_matcher()?;
        let (where_sql, params) = filter.where_clause();
        let images = self.read(|tx| match &mut matcher {
            None => {
                let raw = self.raw_images(tx, &where_sql, &params)?;
                self.with_children(tx, raw, false)
            }
            Some(m) => {
                // Only the images with a name the patterns may match: found from the names
                // alone, then fetched one by one when they are few.
                let ids = self.ids_matching(tx, m)?;
                let raw = if ids.len() <= PER_IMAGE_MAX {
                    let by_id = format!(
                        "{} i.id = ?{}",
                        if where_sql.is_empty() { "WHERE" } else { "AND" },
                        params.len() + 1
                    );
                    let mut raw = Vec::with_capacity(ids.len());
                    for id in ids {
                        let mut p = params.clone();
                        p.push(Value::Text(id));
                        raw.extend(self.raw_images(tx, &format!("{where_sql} {by_id}"), &p)?);
                    }
                    raw.sort_by(|a, b| {
                        (
                            a.created_ns.is_none(),
                            std::cmp::Reverse(a.created_ns),
                            &a.id,
                        )
                            .cmp(&(
                                b.created_ns.is_none(),
                                std::cmp::Reverse(b.created_ns),
                                &b.id,
                            ))
                    });
                    raw
                } else {
                    let mut raw = self.raw_images(tx, &where_sql, &params)?;
                    raw.retain(|r| ids.contains(&r.id));
                    raw
                };
                self.with_children(tx, raw, false)
            }
        })?;
        let mut rows = Vec::with_capacity(images.len());
        for image in images {
            let image = Arc::new(image);
            let digest_for = |name: &str| {
                image
                    .repo_digests
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, d)| d.clone())
            };
            let mut image_rows = Vec::new();
            if image.tags.is_empty() {
                let mut names: Vec<&str> =
                    image.repo_digests.iter().map(|(n, _)| n.as_str()).collect();
                names.dedup();
                if names.is_empty() {
                    image_rows.push((None, None, None));
                }
                for name in names {
                    image_rows.push((Some(name.to_owned()), None, digest_for(name)));
                }
            } else {
                for (name, tag) in &image.tags {
                    image_rows.push((Some(name.clone()), Some(tag.clone()), digest_for(name)));
                }
            }
            for (repository, tag, digest) in image_rows {
                let keep = match &mut matcher {
                    None => true,
                    Some(m) => m.matches(
                        repository.as_deref(),
                        tag.as_deref(),
                        digest.as_ref().map(|d| d.to_string()).as_deref(),
                    ),
                };
                if keep {
                    rows.push(ImageRow {
                        image: Arc::clone(&image),
                        repository,
                        tag,
                        digest,
                    });
                }
            }
        }
        Ok(rows)
    }

    /// The IDs of the images with a tag or repo digest that `m` may match (a superset of
    /// the rows it matches: a tag is tried without the digest of its repository), read
    /// from the names alone.
    fn ids_matching(
        &self,
        tx: &Transaction<'_>,
        m: &mut RefMatcher,
    ) -> Result<std::collections::BTreeSet<String>> {
        let e = |e| self.err(e);
        let mut ids = std::collections::BTreeSet::new();
        for (sql, is_tag) in [
            ("SELECT name, tag, image_id FROM tags", true),
            ("SELECT name, digest, image_id FROM repo_digests", false),
        ] {
            let mut stmt = tx.prepare(sql).map_err(e)?;
            let mut rows = stmt.query([]).map_err(e)?;
            while let Some(r) = rows.next().map_err(e)? {
                let text = |i| -> Result<&str> {
                    r.get_ref(i)
                        .map_err(e)?
                        .as_str()
                        .map_err(|err| e(err.into()))
                };
                let (name, second) = (text(0)?, text(1)?);
                let hit = if is_tag {
                    m.matches(Some(name), Some(second), None)
                } else {
                    m.matches(Some(name), None, Some(second))
                };
                if hit {
                    ids.insert(text(2)?.to_owned());
                }
            }
        }
        Ok(ids)
    }
}
