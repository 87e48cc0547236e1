//! Finding a stored layer by its DiffID, for a load that must not store a second copy of a
//! layer the store holds in another compression: only a claim img has verified counts, so
//! an unverified candidate (what a pulled config claimed) is inflated, under the bomb
//! guard, and hashed first; the claim is then marked verified, or dropped as false.

use std::io::BufReader;

use super::{Lease, Store};
use crate::digest::{Digest, Hasher};
use crate::error::{Error, Result};
use crate::index::BlobRow;

impl Store {
    /// A committed layer blob that inflates to `diff_id`, pinned by `lease` before it is
    /// looked at; `None` when the store has none (or none whose claim holds).
    pub fn layer_with_diff_id(
        &self,
        diff_id: &Digest,
        lease: &Lease<'_>,
    ) -> Result<Option<BlobRow>> {
        for (digest, verified) in self.index.layers_with_diff_id(diff_id)? {
            lease.protect(&digest)?;
            let Some(row) = self.index.blob(&digest)? else {
                continue;
            };
            if !self.blob_path(&digest).is_file() {
                continue;
            }
            if !verified {
                // A blob that does not inflate (damaged, or not a layer at all) does not
                // hold the claim either.
                let holds = self
                    .inflated_digest(&digest, diff_id)
                    .is_ok_and(|d| &d == diff_id);
                self.index.settle_diff_id(&digest, diff_id, holds)?;
                if !holds {
                    continue;
                }
            }
            return Ok(Some(row));
        }
        Ok(None)
    }

    /// The digest, in `diff_id`'s algorithm, of what the committed blob inflates to.
    fn inflated_digest(&self, digest: &Digest, diff_id: &Digest) -> Result<Digest> {
        let file = self.open_blob(digest)?;
        let (inflated, _) =
            crate::compression::decompress(BufReader::with_capacity(1 << 20, file))?;
        Hasher::digest_reader(diff_id.algorithm(), inflated)
            .map_err(|e| Error::io(e, format!("inflating layer {digest}")))
    }
}
