//! Blob sources (schema 5): the registry repositories a layer blob is known to be in,
//! because a pull fetched it from there or a push sent it there — what a push to another
//! repository of the same registry mounts from (`?mount=DIGEST&from=REPO`) rather than
//! uploading the bytes again, as docker's V2 metadata does.
//!
//! A source is a hint, never trusted for content: the registry checks that the source
//! repository has the blob (and that we may pull it) before it mounts, and answers 202 (an
//! upload to do) when it does not. A source that declined is forgotten for that blob
//! (`forget_blob_sources`), as docker forgets a failed mount candidate.

use rusqlite::params;

use super::Index;
use crate::digest::Digest;
use crate::error::Result;

impl Index {
    /// Records that `registry` (a reference's domain, `docker.io`) has each of `digests`
    /// in `repository` (its path, `library/alpine`); a known source is refreshed, so the
    /// latest comes first in [`Index::blob_sources`].
    pub fn put_blob_sources(
        &self,
        digests: &[&Digest],
        registry: &str,
        repository: &str,
    ) -> Result<()> {
        if digests.is_empty() {
            return Ok(());
        }
        self.write(|tx| {
            let e = |e| self.err(e);
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO blob_sources (digest, registry, repository, seen_ns)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (digest, registry, repository)
                     DO UPDATE SET seen_ns = excluded.seen_ns",
                )
                .map_err(e)?;
            // i64 nanoseconds last until 2262.
            let at = i64::try_from(jiff::Timestamp::now().as_nanosecond()).unwrap_or(i64::MAX);
            for d in digests {
                stmt.execute(params![d.to_string(), registry, repository, at])
                    .map_err(e)?;
            }
            Ok(())
        })
    }

    /// Forgets each (blob, repository) pair of `registry` in `sources`: a mount from
    /// there was declined (the repository no longer has the blob, or may not be read), so
    /// no push asks it again, as docker removes a failed candidate's V2 metadata.
    pub fn forget_blob_sources(&self, sources: &[(&Digest, &str)], registry: &str) -> Result<()> {
        if sources.is_empty() {
            return Ok(());
        }
        self.write(|tx| {
            let e = |e| self.err(e);
            let mut stmt = tx
                .prepare_cached(
                    "DELETE FROM blob_sources
                     WHERE digest = ?1 AND registry = ?2 AND repository = ?3",
                )
                .map_err(e)?;
            for (d, repository) in sources {
                stmt.execute(params![d.to_string(), registry, repository])
                    .map_err(e)?;
            }
            Ok(())
        })
    }

    /// Whether `registry` is known to have every one of `digests` in `repository`.
    pub fn has_blob_sources(
        &self,
        digests: &[&Digest],
        registry: &str,
        repository: &str,
    ) -> Result<bool> {
        self.read(|tx| {
            let e = |e| self.err(e);
            let mut stmt = tx
                .prepare_cached(
                    "SELECT 1 FROM blob_sources
                     WHERE digest = ?1 AND registry = ?2 AND repository = ?3",
                )
                .map_err(e)?;
            for d in digests {
                if !stmt
                    .exists(params![d.to_string(), registry, repository])
                    .map_err(e)?
                {
                    return Ok(false);
                }
            }
            Ok(true)
        })
    }

    /// The repositories of `registry` known to hold blob `digest`, the most recently seen
    /// first.
    pub fn blob_sources(&self, digest: &Digest, registry: &str) -> Result<Vec<String>> {
        self.read(|tx| {
            let e = |e| self.err(e);
            let mut stmt = tx
                .prepare(
                    "SELECT repository FROM blob_sources WHERE digest = ?1 AND registry = ?2
                     ORDER BY seen_ns DESC, repository",
                )
                .map_err(e)?;
            let rows = stmt
                .query_map(params![digest.to_string(), registry], |r| {
                    r.get::<_, String>(0)
                })
                .map_err(e)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(e)?;
            Ok(rows)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_per_registry_latest_first_and_go_with_the_blob() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open(&dir.path().join("index.db")).unwrap();
        let d = Digest::sha256_of(b"layer");
        index
            .insert_blob(&d, 5, "application/octet-stream")
            .unwrap();
        index
            .put_blob_sources(&[&d], "docker.io", "library/a")
            .unwrap();
        index.put_blob_sources(&[&d], "reg.lan", "me/base").unwrap();
        // Apart in time, so "latest" is not a tie broken by name.
        std::thread::sleep(std::time::Duration::from_millis(2));
        index
            .put_blob_sources(&[&d], "docker.io", "library/b")
            .unwrap();
        assert_eq!(
            index.blob_sources(&d, "docker.io").unwrap(),
            ["library/b", "library/a"]
        );
        assert_eq!(index.blob_sources(&d, "reg.lan").unwrap(), ["me/base"]);
        assert!(index.blob_sources(&d, "other").unwrap().is_empty());
        let e = Digest::sha256_of(b"other layer");
        assert!(index.has_blob_sources(&[&d], "reg.lan", "me/base").unwrap());
        assert!(
            !index
                .has_blob_sources(&[&d, &e], "reg.lan", "me/base")
                .unwrap()
        );
        assert!(
            !index
                .has_blob_sources(&[&d], "reg.lan", "library/a")
                .unwrap()
        );
    }

    #[test]
    fn a_forgotten_source_goes_for_that_blob_and_registry_only() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::open(&dir.path().join("index.db")).unwrap();
        let (a, b) = (Digest::sha256_of(b"a"), Digest::sha256_of(b"b"));
        for d in [&a, &b] {
            index.insert_blob(d, 1, "application/octet-stream").unwrap();
            index.put_blob_sources(&[d], "reg.lan", "me/gone").unwrap();
            index
                .put_blob_sources(&[d], "other.lan", "me/gone")
                .unwrap();
        }
        index.put_blob_sources(&[&a], "reg.lan", "me/kept").unwrap();
        index
            .forget_blob_sources(&[(&a, "me/gone")], "reg.lan")
            .unwrap();
        assert_eq!(index.blob_sources(&a, "reg.lan").unwrap(), ["me/kept"]);
        assert_eq!(index.blob_sources(&b, "reg.lan").unwrap(), ["me/gone"]);
        assert_eq!(index.blob_sources(&a, "other.lan").unwrap(), ["me/gone"]);
        // Nothing to forget: no transaction, no error.
        index.forget_blob_sources(&[], "reg.lan").unwrap();
    }
}
