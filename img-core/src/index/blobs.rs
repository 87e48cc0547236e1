//! Blob rows, lease rows and the row half of garbage collection.

use rusqlite::{OptionalExtension, Transaction, params};

use super::{Index, now, parse_digest, to_i64, to_u64};
use crate::digest::Digest;
use crate::error::Result;

/// A committed blob, as the index records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRow {
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// The media type it was committed with.
    pub media_type: String,
    /// When it was committed (RFC 3339).
    pub committed_at: String,
}

/// A lease, as the index records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    /// Its id, also the name of its lock file (`leases/<id>.lock`).
    pub id: String,
    /// What the holder is doing (`pulling docker.io/library/alpine:3.20`).
    pub purpose: String,
    /// The process that took it.
    pub pid: u32,
    /// When it was taken (RFC 3339).
    pub created_at: String,
}

impl Index {
    /// Records a committed blob; a row already there (another process committed the same
    /// content) is kept as it is.
    pub(crate) fn insert_blob(&self, digest: &Digest, size: u64, media_type: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO blobs (digest, size, media_type, committed_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (digest) DO NOTHING",
                params![digest.to_string(), to_i64(size), media_type, now()],
            )
            .map_err(|e| self.err(e))?;
            Ok(())
        })
    }

    /// Records committed blobs, `(digest, size, media type)` each, in one transaction (a
    /// pull's batch of commits: one fsync of the index for them all); rows already there
    /// are kept as they are.
    pub(crate) fn insert_blobs(&self, blobs: &[(&Digest, u64, &str)]) -> Result<()> {
        let at = now();
        self.write(|tx| {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO blobs (digest, size, media_type, committed_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (digest) DO NOTHING",
                )
                .map_err(|e| self.err(e))?;
            for (digest, size, media_type) in blobs {
                insert
                    .execute(params![digest.to_string(), to_i64(*size), media_type, at])
                    .map_err(|e| self.err(e))?;
            }
            Ok(())
        })
    }

    /// The row of `digest`, if the blob is committed.
    pub fn blob(&self, digest: &Digest) -> Result<Option<BlobRow>> {
        self.read(|tx| {
            let row = tx
                .query_row(
                    "SELECT size, media_type, committed_at FROM blobs WHERE digest = ?1",
                    [digest.to_string()],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                        ))
                    },
                )
                .optional()
                .map_err(|e| self.err(e))?;
            Ok(row.map(|(size, media_type, committed_at)| BlobRow {
                digest: digest.clone(),
                size: to_u64(size),
                media_type,
                committed_at,
            }))
        })
    }

    /// Every blob row, by digest.
    pub fn blobs(&self) -> Result<Vec<BlobRow>> {
        self.read(|tx| {
            let mut stmt = tx
                .prepare("SELECT digest, size, media_type, committed_at FROM blobs ORDER BY digest")
                .map_err(|e| self.err(e))?;
            let rows = stmt.query_map([], raw_blob_row).map_err(|e| self.err(e))?;
            let mut out = Vec::new();
            for row in rows {
                let (digest, size, media_type, committed_at) = row.map_err(|e| self.err(e))?;
                out.push(BlobRow {
                    digest: parse_digest(&digest)?,
                    size: to_u64(size),
                    media_type,
                    committed_at,
                });
            }
            Ok(out)
        })
    }

    /// The digests of the layers the images hold (any image, tagged or not), sorted, each
    /// once: what `img-pack inventory` prints. Manifests and configs are left out.
    pub fn image_layers(&self) -> Result<Vec<Digest>> {
        self.read(|tx| {
            let mut stmt = tx
                .prepare(
                    "SELECT DISTINCT b.digest, b.media_type FROM image_blobs ib \
                     JOIN blobs b ON b.digest = ib.digest ORDER BY b.digest",
                )
                .map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(|e| self.err(e))?;
            let mut out = Vec::new();
            for row in rows {
                let (digest, media_type) = row.map_err(|e| self.err(e))?;
                if crate::oci::media_type::layer_compression(&media_type).is_some() {
                    out.push(parse_digest(&digest)?);
                }
            }
            Ok(out)
        })
    }

    /// Records a new lease pinning `digests`, in one transaction. The caller holds its
    /// lock file already, so that a garbage collector never sees the row without a held
    /// lock and takes the lease for dead.
    pub(crate) fn insert_lease(
        &self,
        id: &str,
        purpose: &str,
        pid: u32,
        digests: &[&Digest],
    ) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO leases (id, purpose, pid, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![id, purpose, i64::from(pid), now()],
            )
            .map_err(|e| self.err(e))?;
            self.lease_protect_in(tx, id, digests)
        })
    }

    /// Removes a lease and what it pins.
    pub(crate) fn delete_lease(&self, id: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute("DELETE FROM leases WHERE id = ?1", [id])
                .map_err(|e| self.err(e))?;
            Ok(())
        })
    }

    /// Records that lease `id` pins `digest` (a blob that need not exist yet).
    pub(crate) fn lease_protect(&self, id: &str, digests: &[&Digest]) -> Result<()> {
        // One transaction for all: each commit is an fsync, and a pull pins every blob of
        // an image up front.
        self.write(|tx| self.lease_protect_in(tx, id, digests))
    }

    fn lease_protect_in(&self, tx: &Transaction<'_>, id: &str, digests: &[&Digest]) -> Result<()> {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO lease_blobs (lease_id, digest) VALUES (?1, ?2)
                 ON CONFLICT DO NOTHING",
            )
            .map_err(|e| self.err(e))?;
        for digest in digests {
            stmt.execute(params![id, digest.to_string()])
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// Every lease row, live or not (liveness is a lock file question, see `store`).
    pub fn leases(&self) -> Result<Vec<LeaseRow>> {
        self.read(|tx| self.lease_rows(tx, None))
    }

    /// The lease rows that pin any of `digests`.
    pub fn leases_protecting(&self, digests: &[Digest]) -> Result<Vec<LeaseRow>> {
        self.read(|tx| {
            let mut out: Vec<LeaseRow> = Vec::new();
            for d in digests {
                for row in self.lease_rows(tx, Some(d))? {
                    if !out.iter().any(|r| r.id == row.id) {
                        out.push(row);
                    }
                }
            }
            Ok(out)
        })
    }

    /// The digests lease `id` pins.
    pub(crate) fn lease_digests(&self, id: &str) -> Result<Vec<Digest>> {
        self.read(|tx| {
            let mut stmt = tx
                .prepare("SELECT digest FROM lease_blobs WHERE lease_id = ?1 ORDER BY digest")
                .map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map([id], |r| r.get::<_, String>(0))
                .map_err(|e| self.err(e))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(|e| self.err(e))?;
            // A malformed row pins nothing a digest could name.
            Ok(rows.iter().filter_map(|d| Digest::parse(d).ok()).collect())
        })
    }

    fn lease_rows(
        &self,
        tx: &rusqlite::Transaction<'_>,
        digest: Option<&Digest>,
    ) -> Result<Vec<LeaseRow>> {
        let sql = match digest {
            None => "SELECT id, purpose, pid, created_at FROM leases ORDER BY created_at",
            Some(_) => {
                "SELECT id, purpose, pid, created_at FROM leases
                 WHERE id IN (SELECT lease_id FROM lease_blobs WHERE digest = ?1)
                 ORDER BY created_at"
            }
        };
        let mut stmt = tx.prepare(sql).map_err(|e| self.err(e))?;
        let map = |r: &rusqlite::Row<'_>| {
            Ok(LeaseRow {
                id: r.get(0)?,
                purpose: r.get(1)?,
                pid: u32::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                created_at: r.get(3)?,
            })
        };
        let rows = match digest {
            None => stmt.query_map([], map),
            Some(d) => stmt.query_map([d.to_string()], map),
        }
        .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }

    /// The row half of garbage collection, in one `BEGIN IMMEDIATE` transaction so that
    /// nothing can pin a blob between the mark and the sweep: drops the leases for which
    /// `is_live` says no (their pins go with them), then deletes and returns every blob row
    /// that no image and no remaining lease references. The caller deletes the files
    /// afterwards — a file is deleted only once no row references it.
    pub(crate) fn collect_garbage_rows(
        &self,
        mut is_live: impl FnMut(&LeaseRow) -> bool,
    ) -> Result<(Vec<BlobRow>, Vec<LeaseRow>)> {
        self.write(|tx| {
            let mut dead = Vec::new();
            for lease in self.lease_rows(tx, None)? {
                if !is_live(&lease) {
                    tx.execute("DELETE FROM leases WHERE id = ?1", [&lease.id])
                        .map_err(|e| self.err(e))?;
                    dead.push(lease);
                }
            }
            let mut stmt = tx
                .prepare(
                    "SELECT digest, size, media_type, committed_at FROM blobs
                     WHERE digest NOT IN (SELECT digest FROM image_blobs)
                       AND digest NOT IN (SELECT digest FROM lease_blobs)",
                )
                .map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map([], raw_blob_row)
                .map_err(|e| self.err(e))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(|e| self.err(e))?;
            let mut garbage = Vec::new();
            for (digest, size, media_type, committed_at) in rows {
                tx.execute("DELETE FROM blobs WHERE digest = ?1", [&digest])
                    .map_err(|e| self.err(e))?;
                // A malformed digest row is deleted too, but has no file to remove.
                if let Ok(digest) = Digest::parse(&digest) {
                    garbage.push(BlobRow {
                        digest,
                        size: to_u64(size),
                        media_type,
                        committed_at,
                    });
                }
            }
            super::layers::forget_swept(tx).map_err(|e| self.err(e))?;
            Ok((garbage, dead))
        })
    }
}

/// `digest, size, media_type, committed_at`, as the blob listings select them.
type RawBlobRow = (String, i64, String, String);

fn raw_blob_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawBlobRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}
