//! Layer DiffIDs (schema 4): for each stored layer blob, the DiffID (the digest of the tar
//! it inflates to) that a config claims for it, and whether img has checked the claim.
//!
//! A pulled layer's DiffID is only what its config says (a pull does not inflate layers),
//! so a hostile registry could claim another image's DiffID for its own blob. A load
//! therefore skips an archive's layer only for a blob whose claim is verified: img
//! inflated that blob and hashed it (or it is the uncompressed tar itself, its digest the
//! DiffID), and a claim found false is dropped. A blob may carry several claims; the
//! rows go with the blob's row (GC).

use rusqlite::{Transaction, params};

use super::{Index, parse_digest};
use crate::digest::Digest;
use crate::error::Result;

/// A config's claim about a layer blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDiffId {
    /// The layer blob, as stored (compressed or not).
    pub digest: Digest,
    /// The DiffID the config claims for it.
    pub diff_id: Digest,
    /// Whether img checked it (inflated the blob and hashed it).
    pub verified: bool,
}

impl Index {
    /// Records DiffID claims (a verified one stays verified).
    pub fn put_diff_ids(&self, claims: &[LayerDiffId]) -> Result<()> {
        if claims.is_empty() {
            return Ok(());
        }
        self.write(|tx| put_claims(tx, claims).map_err(|e| self.err(e)))
    }

    /// The committed blobs claimed to inflate to `diff_id`, verified ones first; each with
    /// whether its claim is verified. A blob whose digest is the DiffID (the tar itself)
    /// counts as verified: its digest was checked when it was committed.
    pub fn layers_with_diff_id(&self, diff_id: &Digest) -> Result<Vec<(Digest, bool)>> {
        self.read(|tx| {
            let e = |e| self.err(e);
            let mut stmt = tx
                .prepare(
                    "SELECT l.digest, l.verified OR l.digest = l.diff_id FROM layer_diff_ids l
                     JOIN blobs b ON b.digest = l.digest
                     WHERE l.diff_id = ?1 ORDER BY 2 DESC, l.digest",
                )
                .map_err(e)?;
            self.digest_flags(&mut stmt, diff_id)
        })
    }

    /// The claims recorded for blob `digest`: DiffID and whether verified.
    pub fn diff_ids_of(&self, digest: &Digest) -> Result<Vec<(Digest, bool)>> {
        self.read(|tx| {
            let e = |e| self.err(e);
            let mut stmt = tx
                .prepare(
                    "SELECT diff_id, verified FROM layer_diff_ids WHERE digest = ?1 ORDER BY diff_id",
                )
                .map_err(e)?;
            self.digest_flags(&mut stmt, digest)
        })
    }

    /// The rows of `stmt` (one digest parameter) as (digest, flag) pairs.
    fn digest_flags(
        &self,
        stmt: &mut rusqlite::Statement<'_>,
        param: &Digest,
    ) -> Result<Vec<(Digest, bool)>> {
        let e = |e| self.err(e);
        let rows = stmt
            .query_map([param.to_string()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?))
            })
            .map_err(e)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(e)?;
        rows.into_iter()
            .map(|(d, v)| Ok((parse_digest(&d)?, v)))
            .collect()
    }

    /// Settles a claim img checked: verified when `holds`, else dropped (it was false).
    pub(crate) fn settle_diff_id(
        &self,
        digest: &Digest,
        diff_id: &Digest,
        holds: bool,
    ) -> Result<()> {
        self.write(|tx| {
            let sql = if holds {
                "UPDATE layer_diff_ids SET verified = 1 WHERE digest = ?1 AND diff_id = ?2"
            } else {
                "DELETE FROM layer_diff_ids WHERE digest = ?1 AND diff_id = ?2"
            };
            tx.execute(sql, params![digest.to_string(), diff_id.to_string()])
                .map_err(|e| self.err(e))?;
            Ok(())
        })
    }
}

pub(super) fn put_claims(tx: &Transaction<'_>, claims: &[LayerDiffId]) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO layer_diff_ids (digest, diff_id, verified) VALUES (?1, ?2, ?3)
         ON CONFLICT (digest, diff_id) DO UPDATE SET verified = verified OR excluded.verified",
    )?;
    for c in claims {
        stmt.execute(params![
            c.digest.to_string(),
            c.diff_id.to_string(),
            c.verified
        ])?;
    }
    Ok(())
}

/// Drops the claims, marks and sources of blobs that have no row any more (after a sweep).
pub(super) fn forget_swept(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute(
        "DELETE FROM layer_diff_ids WHERE digest NOT IN (SELECT digest FROM blobs)",
        [],
    )?;
    tx.execute(
        "DELETE FROM synthesized WHERE digest NOT IN (SELECT digest FROM blobs)",
        [],
    )?;
    tx.execute(
        "DELETE FROM blob_sources WHERE digest NOT IN (SELECT digest FROM blobs)",
        [],
    )?;
    Ok(())
}
