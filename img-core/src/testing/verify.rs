//! Checking a store the way a paranoid `fsck` would, after a test has pulled, removed or
//! been killed into it: the blob files, the blob rows and the images' pins agree.

use std::io::Read;
use std::path::Path;

use crate::digest::{Algorithm, Hasher};
use crate::index::ListFilter;
use crate::store::Store;

/// Checks the store at `root`: every file under `blobs/sha256/` hashes to its name, every
/// blob row has its file, and every image row has every blob it pins. Panics naming the
/// first thing wrong; returns the number of blob files.
#[track_caller]
pub fn verify_store(root: &Path) -> usize {
    let mut files = 0;
    let dir = root.join("blobs/sha256");
    if dir.is_dir() {
        let entries =
            std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
        for entry in entries {
            let path = entry
                .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
                .path();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            assert_eq!(
                hash_file(&path),
                name,
                "blob file {} does not hash to its name",
                path.display()
            );
            files += 1;
        }
    }
    let store =
        Store::open(root).unwrap_or_else(|e| panic!("opening the store {}: {e}", root.display()));
    let index = store.index();
    let blobs = index
        .blobs()
        .unwrap_or_else(|e| panic!("listing the blob rows: {e}"));
    for row in blobs {
        assert!(
            store.blob_path(&row.digest).is_file(),
            "blob row {} has no file",
            row.digest
        );
    }
    let images = index
        .list_images(&ListFilter::default())
        .unwrap_or_else(|e| panic!("listing the images: {e}"));
    for row in images {
        let pinned = index
            .image_blobs(&row.image.id)
            .unwrap_or_else(|e| panic!("listing the blobs of {}: {e}", row.image.id));
        for d in pinned {
            assert!(
                store.blob_path(&d).is_file(),
                "image {} pins {d}, which is missing",
                row.image.id
            );
        }
    }
    files
}

/// The sha256 hex of the file at `path`, read in 1 MiB pieces (layers can be large).
#[track_caller]
fn hash_file(path: &Path) -> String {
    let mut hasher = Hasher::new(Algorithm::Sha256);
    let mut f =
        std::fs::File::open(path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    hasher.finish().hex().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_good_blobs_and_panics_on_a_corrupt_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(verify_store(dir.path()), 0);
        let d = crate::Digest::sha256_of(b"hello");
        store
            .put_blob("application/octet-stream", b"hello", &d)
            .unwrap();
        assert_eq!(verify_store(dir.path()), 1);
        // Committed blobs may be read-only: replace the file rather than write into it.
        std::fs::remove_file(store.blob_path(&d)).unwrap();
        std::fs::write(store.blob_path(&d), b"jello").unwrap();
        let err = std::panic::catch_unwind(|| verify_store(dir.path())).unwrap_err();
        let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("does not hash to its name"), "{msg}");
    }

    #[test]
    fn panics_when_a_blob_row_lost_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = crate::Digest::sha256_of(b"hello");
        store
            .put_blob("application/octet-stream", b"hello", &d)
            .unwrap();
        std::fs::remove_file(store.blob_path(&d)).unwrap();
        let err = std::panic::catch_unwind(|| verify_store(dir.path())).unwrap_err();
        let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("has no file"), "{msg}");
    }
}
