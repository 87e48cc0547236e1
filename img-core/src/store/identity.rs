//! The store's identity: a random name made with the store and carried by both its index
//! (`meta.store-id`) and its blob directory (`blobs/store-id`). It is how a lost index is
//! recognised: an `index.db` that is missing, empty or another store's, beside a `blobs/`
//! that holds this store's blobs, is never taken for an empty store — no command runs on
//! it (so none deletes a blob) until `img-rm --rebuild-index` makes a new index from the
//! blobs.
//!
//! Order of creation: the index first (its id in the migration's transaction), then the
//! blob directory's file, written by rename. A process killed in between leaves an index
//! with an id and blobs without one, and no blob yet (nothing is committed before a store
//! is open), which the next open completes. A store made before identities existed gets
//! one at its first open by this img (its index is upgraded in place).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{BLOBS_DIR, INDEX_FILE};
use crate::digest::{Algorithm, Digest};
use crate::error::{Error, ErrorKind, Result};
use crate::index::Index;

/// The file in `blobs/` that names the store.
pub const STORE_ID_FILE: &str = "store-id";

/// What the blob directory says about the store, read before the index is touched.
pub(super) struct BlobSide {
    /// The identity `blobs/store-id` holds.
    pub id: Option<String>,
    /// Whether `blobs/` holds any blob file.
    pub has_blobs: bool,
}

impl BlobSide {
    pub(super) fn read(root: &Path) -> Result<BlobSide> {
        let id_path = id_path(root);
        let id = match std::fs::read_to_string(&id_path) {
            Ok(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(e, format!("reading {}", id_path.display()))),
        };
        Ok(BlobSide {
            id,
            has_blobs: has_blob_files(root)?,
        })
    }

    /// Whether this blob directory belongs to a store (and so needs its index).
    pub(super) fn belongs_to_a_store(&self) -> bool {
        self.id.is_some() || self.has_blobs
    }
}

/// Fails with [`ErrorKind::LostIndex`] when `index.db` is missing or empty beside blobs
/// that belong to a store: checked before the index is opened, since opening creates it.
pub(super) fn check_index_present(root: &Path, blobs: &BlobSide) -> Result<()> {
    let len = std::fs::metadata(root.join(INDEX_FILE))
        .map(|m| m.len())
        .unwrap_or(0);
    if len == 0 && blobs.belongs_to_a_store() {
        return Err(lost(root, "index.db is missing or empty"));
    }
    Ok(())
}

/// Checks that `index` belongs to the blobs beside it; a writer (`write`) completes an
/// identity that only the index carries yet, or gives a store without one its identity.
pub(super) fn check(root: &Path, index: &Index, blobs: &BlobSide, write: bool) -> Result<()> {
    match (index.store_id()?, &blobs.id) {
        (Some(a), Some(b)) if &a == b => Ok(()),
        (Some(_), Some(_)) => Err(lost(root, "index.db belongs to another store")),
        (None, Some(_)) => Err(lost(root, "index.db carries no store identity")),
        (Some(a), None) if write => write_id(root, &a),
        (None, None) if write => {
            let id = index.ensure_store_id(&new_id(root))?;
            write_id(root, &id)
        }
        // A reader leaves the completion to the next writer.
        (_, None) => Ok(()),
    }
}

/// The error every command gives on a store whose index is lost.
pub(super) fn lost(root: &Path, why: &str) -> Error {
    Error::new(
        ErrorKind::LostIndex,
        format!(
            "store {} has lost its index ({why}) while blobs/ holds its images: nothing was changed or deleted; rebuild the index from the blobs with `img-rm --rebuild-index`",
            root.display()
        ),
    )
}

/// Writes `blobs/store-id` by rename, so that a reader sees no half-written identity.
pub(super) fn write_id(root: &Path, id: &str) -> Result<()> {
    let path = id_path(root);
    // A name of this writer's own: threads of one process may open a new store at once.
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = root
        .join(BLOBS_DIR)
        .join(format!(".{STORE_ID_FILE}.{}.{n}", std::process::id()));
    let doing = || format!("writing {}", path.display());
    let mut file = std::fs::File::create(&tmp).map_err(|e| Error::io(e, doing()))?;
    file.write_all(format!("{id}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(e, doing()))?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(e, doing()))?;
    super::sync_dir(&root.join(BLOBS_DIR))
}

/// A new identity: unique enough among stores (pid, time and place), not a secret.
pub(super) fn new_id(root: &Path) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let seed = format!("{}-{nanos}-{}", std::process::id(), root.display());
    Digest::sha256_of(seed.as_bytes()).hex()[..32].to_owned()
}

fn id_path(root: &Path) -> PathBuf {
    root.join(BLOBS_DIR).join(STORE_ID_FILE)
}

/// Whether `blobs/sha256/` holds a file named as a blob.
fn has_blob_files(root: &Path) -> Result<bool> {
    let dir = root.join(BLOBS_DIR).join(Algorithm::Sha256.as_str());
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io(e, format!("listing {}", dir.display()))),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(e, format!("listing {}", dir.display())))?;
        if let Some(name) = entry.file_name().to_str()
            && Digest::parse(&format!("sha256:{name}")).is_ok()
        {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn read_id(root: &Path) -> String {
        std::fs::read_to_string(id_path(root))
            .unwrap()
            .trim()
            .to_owned()
    }

    #[test]
    fn a_new_store_carries_one_identity_in_its_index_and_its_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = store.index().store_id().unwrap().unwrap();
        assert_eq!(id.len(), 32);
        assert_eq!(read_id(dir.path()), id);
        drop(store);
        // Opening again keeps it.
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.index().store_id().unwrap().unwrap(), id);
    }

    #[test]
    fn a_store_from_before_identities_is_upgraded_not_taken_for_lost() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let d = Digest::sha256_of(b"kept");
        {
            let store = Store::open(root).unwrap();
            store.put_blob("application/json", b"kept", &d).unwrap();
        }
        // What an img from before identities left, once its index is upgraded: no
        // identity in the index (migration 2 made an empty meta table), none in blobs/.
        let conn = rusqlite::Connection::open(root.join(INDEX_FILE)).unwrap();
        conn.execute_batch("DELETE FROM meta").unwrap();
        drop(conn);
        std::fs::remove_file(id_path(root)).unwrap();

        let store = Store::open(root).unwrap();
        assert!(store.has_blob(&d).unwrap(), "nothing lost");
        let id = store.index().store_id().unwrap().unwrap();
        assert_eq!(read_id(root), id);
    }

    #[test]
    fn a_reader_opens_a_store_that_a_writer_has_not_finished_naming() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        drop(Store::open(root).unwrap());
        // Killed between the index's identity and the blobs' file: the reader goes on,
        // the next writer completes it.
        std::fs::remove_file(id_path(root)).unwrap();
        drop(Store::open_read_only(root).unwrap());
        assert!(!id_path(root).exists(), "a reader writes nothing");
        let store = Store::open(root).unwrap();
        assert_eq!(read_id(root), store.index().store_id().unwrap().unwrap());
    }
}
