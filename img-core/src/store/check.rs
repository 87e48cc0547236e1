//! [`Store::check`]: the store examined as a paranoid `fsck` would — every blob file hashes
//! to its name, every blob row has its file, every image has every blob it pins — and
//! what nothing pins or is half-written, counted. One walk for every caller: the tests'
//! `verify_store` panics on its report, the stress run counts it, and a user-facing
//! check can print it.

use std::collections::BTreeSet;

use super::Store;
use crate::digest::{Algorithm, Hasher};
use crate::index::ListFilter;

/// What [`Store::check`] found. Problems are described, not returned as errors, so that
/// one walk reports everything wrong rather than the first thing.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// Blob files under `blobs/sha256/`.
    pub files: usize,
    /// Blobs an image pins that are missing, files that do not hash to their name, and
    /// rows without their file.
    pub lost: usize,
    /// Blob files that no image pins (collectable, not wrong).
    pub unpinned: usize,
    /// Partial downloads and imports under `ingest/` (lock files not counted).
    pub partials: usize,
    /// Everything wrong, one line each, in the order found.
    pub problems: Vec<String>,
}

impl CheckReport {
    /// Whether nothing is wrong (unpinned blobs and partials are not wrong).
    pub fn is_sound(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Store {
    /// Walks the blob directory, the blob rows and every image's pins, hashing each blob
    /// file. Reads only: safe on a read-only store and beside running commands (a blob
    /// committed or collected meanwhile may show as a transient problem).
    pub fn check(&self) -> CheckReport {
        let mut c = CheckReport::default();
        let mut files = BTreeSet::new();
        let dir = self.root().join("blobs").join(Algorithm::Sha256.as_str());
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let hashed = std::fs::File::open(entry.path())
                    .and_then(|f| Hasher::digest_reader(Algorithm::Sha256, f));
                match hashed {
                    Ok(h) if h.hex() == name => {}
                    Ok(h) => {
                        c.lost += 1;
                        c.problems.push(format!(
                            "blob file {name} does not hash to its name (its bytes hash to {h})"
                        ));
                    }
                    Err(e) => c
                        .problems
                        .push(format!("reading blob file {}: {e}", entry.path().display())),
                }
                c.files += 1;
                files.insert(name);
            }
        }
        if let Ok(entries) = std::fs::read_dir(self.root().join("ingest")) {
            c.partials = entries
                .flatten()
                .filter(|e| !e.file_name().to_string_lossy().ends_with(".lock"))
                .count();
        }
        let index = self.index();
        match index.blobs() {
            Ok(rows) => {
                for row in rows {
                    if !files.contains(row.digest.hex()) {
                        c.lost += 1;
                        c.problems
                            .push(format!("blob row {} has no file", row.digest));
                    }
                }
            }
            Err(e) => c.problems.push(format!("listing the blob rows: {e}")),
        }
        let mut pinned: BTreeSet<String> = BTreeSet::new();
        match index.list_images(&ListFilter::default()) {
            Ok(rows) => {
                for row in rows {
                    match index.image_blobs(&row.image.id) {
                        Ok(ds) => {
                            for d in ds {
                                if !files.contains(d.hex()) {
                                    c.lost += 1;
                                    c.problems.push(format!(
                                        "image {} pins {d}, which is missing",
                                        row.image.id
                                    ));
                                }
                                pinned.insert(d.hex().to_owned());
                            }
                        }
                        Err(e) => c
                            .problems
                            .push(format!("listing the blobs of {}: {e}", row.image.id)),
                    }
                }
            }
            Err(e) => c.problems.push(format!("listing the images: {e}")),
        }
        c.unpinned = files.difference(&pinned).count();
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;

    #[test]
    fn a_sound_store_counts_its_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.check(), CheckReport::default());
        let d = Digest::sha256_of(b"hello");
        store
            .put_blob("application/octet-stream", b"hello", &d)
            .unwrap();
        let report = store.check();
        assert!(report.is_sound(), "{report:?}");
        assert_eq!((report.files, report.unpinned), (1, 1));
    }

    #[test]
    fn a_corrupt_file_and_a_row_without_its_file_are_lost() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (a, b) = (Digest::sha256_of(b"hello"), Digest::sha256_of(b"bye"));
        store
            .put_blob("application/octet-stream", b"hello", &a)
            .unwrap();
        store
            .put_blob("application/octet-stream", b"bye", &b)
            .unwrap();
        // Committed blobs may be read-only: replace the file rather than write into it.
        std::fs::remove_file(store.blob_path(&a)).unwrap();
        std::fs::write(store.blob_path(&a), b"jello").unwrap();
        std::fs::remove_file(store.blob_path(&b)).unwrap();
        let report = store.check();
        assert_eq!(report.lost, 2, "{report:?}");
        assert!(
            report.problems[0].contains("does not hash to its name"),
            "{report:?}"
        );
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.contains(&format!("blob row {b} has no file"))),
            "{report:?}"
        );
    }
}
