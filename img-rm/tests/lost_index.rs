//! Regression (issue 9, failure 8): with `index.db` deleted or truncated, img-ls showed
//! an empty store and `img-rm --prune` then deleted every blob file as an orphan. Now the
//! store's identity (in the index and in `blobs/store-id`) tells a lost index from an
//! empty store: every command says so and deletes nothing, and `img-rm --rebuild-index`
//! restores every image whose blobs are there, untagged under its ID.

mod common;

use std::collections::BTreeSet;

use common::*;
use img_core::ErrorKind;
use img_core::store::Store;
use img_core::testing::{Fixture, verify_store};
use img_core::{Digest, Reference};

/// Every blob file in the store, by name.
fn blob_files(f: &Fixture) -> BTreeSet<String> {
    std::fs::read_dir(f.root().join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn pulled(f: &Fixture) -> Vec<Digest> {
    let mut ids = vec![
        f.pull("test/alpine-like:latest").unwrap().record.id,
        f.pull("test/oci-zstd:1").unwrap().record.id,
    ];
    ids.push(f.pull_all_platforms("test/multi:latest").unwrap().record.id);
    ids.sort();
    ids
}

/// Every way a command meets the lost index: refused, one line, nothing deleted.
fn assert_refused_everywhere(f: &Fixture, files: &BTreeSet<String>) {
    for open in [Store::open, Store::open_read_only] {
        let err = open(&f.root()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::LostIndex, "{err}");
        assert!(err.to_string().contains("img-rm --rebuild-index"), "{err}");
    }
    let out = rm(f, &["--prune"], None).failure(1, 1);
    assert!(out.stderr.contains("has lost its index"), "{}", out.stderr);
    assert!(out.stdout.is_empty());
    assert_eq!(&blob_files(f), files, "no blob file was deleted");
}

fn rebuild_and_check(f: &Fixture, ids: &[Digest], files: &BTreeSet<String>) {
    let out = rm(f, &["--rebuild-index"], None);
    assert_eq!(out.code, 0, "{out:?}");
    let mut restored: Vec<Digest> = out
        .records::<serde_json::Value>()
        .iter()
        .map(|r| Digest::parse(r["Restored"].as_str().unwrap()).unwrap())
        .collect();
    restored.sort();
    assert_eq!(restored, ids, "every image comes back under its ID");
    assert!(out.stderr.contains("rebuilt the index"), "{}", out.stderr);
    let store = f.store().unwrap();
    for id in ids {
        let image = store.index().image(id).unwrap().unwrap();
        assert!(image.tags.is_empty(), "restored untagged");
        assert!(img_core::ops::verify::verify(&store, &image).unwrap().ok);
    }
    // The multi-platform image is whole: the index and its three platforms.
    let multi = f.image("test/multi");
    let image = store.index().image(multi.digest()).unwrap().unwrap();
    assert_eq!(image.target, *multi.digest());
    assert_eq!(
        store.index().image_blobs(&image.id).unwrap().len(),
        1 + 3 * 4
    );
    // Garbage collection keeps every restored image's blobs (untagged images are roots).
    store.gc().unwrap();
    assert_eq!(&blob_files(f), files);
    verify_store(&f.root());
    // Tagging brings a name back, and the tagged image then survives a prune (which, as
    // docker's, removes untagged images: the summary line warns of it).
    assert!(
        out.stderr
            .contains("img-rm --prune removes untagged images")
    );
    let name = Reference::parse_normalized(&f.reference("test/alpine-like")).unwrap();
    store.index().tag(&ids[0], &name.name(), "back").unwrap();
    rm(f, &["--prune"], None).success();
    let kept = store.index().image(&ids[0]).unwrap().unwrap();
    assert!(img_core::ops::verify::verify(&store, &kept).unwrap().ok);
    verify_store(&f.root());
    // A whole index is not rebuilt (that would drop its tags).
    let out = rm(f, &["--rebuild-index"], None).failure(1, 1);
    assert!(out.stderr.contains("nothing to rebuild"), "{}", out.stderr);
}

#[test]
fn a_deleted_index_is_said_everywhere_deletes_nothing_and_is_rebuilt() {
    let f = Fixture::new().expect("starting the test registry (needs docker-registry)");
    let ids = pulled(&f);
    let files = blob_files(&f);
    for name in ["index.db", "index.db-wal", "index.db-shm"] {
        let _ = std::fs::remove_file(f.root().join(name));
    }
    assert_refused_everywhere(&f, &files);
    // Still refused after a pull tried to write: no new index was made.
    let err = f.pull("test/alpine-like:latest").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LostIndex);
    assert!(!f.root().join("index.db").exists());
    rebuild_and_check(&f, &ids, &files);
}

#[test]
fn an_index_truncated_to_nothing_is_lost_not_empty() {
    let f = Fixture::new().expect("starting the test registry (needs docker-registry)");
    let ids = pulled(&f);
    let files = blob_files(&f);
    std::fs::write(f.root().join("index.db"), b"").unwrap();
    let _ = std::fs::remove_file(f.root().join("index.db-wal"));
    assert_refused_everywhere(&f, &files);
    rebuild_and_check(&f, &ids, &files);
    let kept: Vec<_> = std::fs::read_dir(f.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("index.db.lost-"))
        .collect();
    assert!(!kept.is_empty(), "the lost index is kept aside");
}

#[test]
fn another_stores_index_is_recognised_as_lost() {
    let f = Fixture::new().expect("starting the test registry (needs docker-registry)");
    let ids = pulled(&f);
    let files = blob_files(&f);
    // A new, empty store's index put in place of this one's.
    let other = tempfile::tempdir().unwrap();
    drop(Store::open(other.path()).unwrap());
    for name in ["index.db-wal", "index.db-shm"] {
        let _ = std::fs::remove_file(f.root().join(name));
    }
    std::fs::copy(other.path().join("index.db"), f.root().join("index.db")).unwrap();
    let err = Store::open(&f.root()).unwrap_err();
    assert!(
        err.to_string().contains("belongs to another store"),
        "{err}"
    );
    assert_refused_everywhere(&f, &files);
    rebuild_and_check(&f, &ids, &files);
}
