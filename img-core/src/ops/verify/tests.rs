//! Tests of verify: intact images, a flipped byte in each kind of blob, a wrong DiffID, a
//! missing blob.

use super::*;
use crate::ops::inspect::tests::{put_multi, put_single};

fn flip_byte(store: &Store, digest: &Digest, at: u64) {
    let path = store.blob_path(digest);
    let mut bytes = std::fs::read(&path).unwrap();
    let i = (at as usize).min(bytes.len() - 1);
    bytes[i] ^= 0x55;
    std::fs::write(&path, bytes).unwrap();
}

fn manifest_of(store: &Store, image: &ImageInfo) -> Manifest {
    match Document::parse(None, &store.read_blob(&image.target).unwrap()).unwrap() {
        Document::Manifest(m) => *m,
        Document::Index(_) => panic!("an index"),
    }
}

#[test]
fn intact_images_verify() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let single = put_single(&store, "1", false);
    let r = verify(&store, &single).unwrap();
    assert!(r.ok, "{:?}", r.problems);
    // Manifest, config, two layers.
    assert_eq!(r.blobs, 4);
    assert_eq!(r.bytes, single.size);
    assert!(r.line().contains(": ok (4 blobs"), "{}", r.line());
    let multi = put_multi(&store);
    let r = verify(&store, &multi).unwrap();
    assert!(r.ok, "{:?}", r.problems);
    // Index, then two manifests with their config and two layers each.
    assert_eq!(r.blobs, 9);
}

#[test]
fn a_flipped_byte_in_a_layer_names_the_layer_and_both_digests() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let image = put_single(&store, "1", false);
    let m = manifest_of(&store, &image);
    for layer in &m.layers {
        flip_byte(&store, &layer.digest, layer.size / 2);
    }
    let r = verify(&store, &image).unwrap();
    assert!(!r.ok);
    assert_eq!(r.problems.len(), 2, "{:?}", r.problems);
    for (p, layer) in r.problems.iter().zip(&m.layers) {
        assert_eq!(p.kind, "layer");
        assert_eq!(p.blob, layer.digest);
        assert_eq!(p.expected.as_ref(), Some(&layer.digest));
        let actual = Digest::sha256_of(&std::fs::read(store.blob_path(&layer.digest)).unwrap());
        assert_eq!(p.actual.as_ref(), Some(&actual));
        assert!(p.message.contains("is corrupt"), "{}", p.message);
    }
    assert!(r.line().contains("FAILED"), "{}", r.line());
}

#[test]
fn a_wrong_diff_id_is_reported_with_the_configs_and_the_actual_digest() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let image = put_single(&store, "bad", true);
    let m = manifest_of(&store, &image);
    let r = verify(&store, &image).unwrap();
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    let p = &r.problems[0];
    let zstd_layer = &m.layers[1];
    assert_eq!(p.blob, zstd_layer.digest);
    assert_eq!(p.expected, Some(Digest::sha256_of(b"not the content")));
    let content = zstd::stream::decode_all(
        std::fs::read(store.blob_path(&zstd_layer.digest))
            .unwrap()
            .as_slice(),
    )
    .unwrap();
    assert_eq!(p.actual, Some(Digest::sha256_of(&content)));
    assert!(p.message.contains("DiffID"), "{}", p.message);
}

#[test]
fn corrupt_config_and_index_and_missing_blobs_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let single = put_single(&store, "1", false);
    flip_byte(&store, &single.id, 3);
    let r = verify(&store, &single).unwrap();
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert_eq!(r.problems[0].kind, "config");
    assert_eq!(r.problems[0].blob, single.id);

    let multi = put_multi(&store);
    flip_byte(&store, &multi.target, 10);
    let r = verify(&store, &multi).unwrap();
    assert!(!r.ok);
    assert!(
        r.problems
            .iter()
            .any(|p| p.kind == "index" && p.blob == multi.target)
    );
    // The index is unreadable, yet every pinned blob was still hashed.
    assert_eq!(r.blobs, 9);

    let other = put_single(&store, "2", false);
    let m = manifest_of(&store, &other);
    std::fs::remove_file(store.blob_path(&m.layers[0].digest)).unwrap();
    let r = verify(&store, &other).unwrap();
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert!(r.problems[0].message.contains("missing"));
    assert_eq!(r.problems[0].blob, m.layers[0].digest);
}

#[test]
fn a_truncated_layer_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let image = put_single(&store, "1", false);
    let m = manifest_of(&store, &image);
    let path = store.blob_path(&m.layers[0].digest);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let r = verify(&store, &image).unwrap();
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert_eq!(r.problems[0].blob, m.layers[0].digest);
    assert_eq!(r.problems[0].expected.as_ref(), Some(&m.layers[0].digest));
}
