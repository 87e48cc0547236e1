//! Checking a store the way a paranoid `fsck` would, after a test has pulled, removed or
//! been killed into it: [`Store::check`], which panics here on the first thing wrong.

use std::path::Path;

use crate::store::Store;

/// Checks the store at `root` with [`Store::check`]: every file under `blobs/sha256/`
/// hashes to its name, every blob row has its file, and every image row has every blob it
/// pins. Panics naming what is wrong; returns the number of blob files.
#[track_caller]
pub fn verify_store(root: &Path) -> usize {
    let store =
        Store::open(root).unwrap_or_else(|e| panic!("opening the store {}: {e}", root.display()));
    let report = store.check();
    assert!(
        report.is_sound(),
        "the store {} is not sound:\n{}",
        root.display(),
        report.problems.join("\n")
    );
    report.files
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
