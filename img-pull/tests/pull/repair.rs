//! Repairing damaged blobs (issue 9, failure 6): every pull checks the size of each blob
//! file of an image it finds present and fetches again one that differs; `--verify`
//! re-hashes every blob and fetches again those that do not match, also for a layer
//! shared with another image; `img-inspect --verify` names that command.

use img_core::oci::Manifest;
use img_core::testing::Fixture;

use super::*;

const IMAGE: &str = "test/alpine-like:latest";

fn layers(f: &Fixture) -> Manifest {
    manifest_of(f.image("test/alpine-like"), None).2
}

/// Flips one byte in the middle of a blob file, keeping its size.
fn flip_a_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_truncated_layer_is_fetched_again_by_a_plain_pull() {
    let f = Fixture::new().expect("starting the test registry (needs docker-registry)");
    let reference = f.reference(IMAGE);
    pull_in(&f, &[&reference]).success();
    let layer = layers(&f).layers[0].clone();
    let store = f.store().unwrap();
    let path = store.blob_path(&layer.digest);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();

    let r = pull_in(&f, &[&reference]).success().record();
    assert_eq!(
        r.downloaded,
        Some(layer.size),
        "only the damaged layer again"
    );
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    verify_store(&f.root());
}

#[test]
fn a_flipped_byte_in_a_shared_layer_is_found_by_inspect_and_repaired_by_pull_verify() {
    let f = Fixture::new().expect("starting the test registry (needs docker-registry)");
    let reference = f.reference(IMAGE);
    pull_in(&f, &[&reference]).success();
    // A second image sharing every blob: the same image under another tag.
    let m = layers(&f);
    let layer = &m.layers[0];
    let store = f.store().unwrap();
    let id = store
        .index()
        .image_by_tag(&f.reference("test/alpine-like"), "latest")
        .unwrap()
        .unwrap()
        .id;
    store
        .index()
        .tag(&id, &f.reference("test/alpine-like"), "other")
        .unwrap();
    let path = store.blob_path(&layer.digest);
    let good = std::fs::read(&path).unwrap();
    flip_a_byte(&path);

    // A plain pull checks sizes only: the same size passes, and says so.
    let r = pull_in(&f, &[&reference]).success().record();
    assert_eq!(r.downloaded, Some(0));

    // Verification (img-inspect --verify's) finds it and names the command that repairs it.
    let image = store.index().image(&id).unwrap().unwrap();
    let report = img_core::ops::verify::verify(&store, &image).unwrap();
    assert!(!report.ok);
    let digest_ref = format!("{}@{}", f.reference("test/alpine-like"), r.digest);
    let repair = format!("img-pull --verify {digest_ref}");
    assert_eq!(report.repair.as_deref(), Some(repair.as_str()));
    assert!(report.line().ends_with(&format!("; repair with: {repair}")));

    // The command it names repairs it: only that layer is fetched again.
    let r = pull_in(&f, &["--verify", &digest_ref]).success().record();
    assert_eq!(r.downloaded, Some(layer.size));
    assert_eq!(std::fs::read(&path).unwrap(), good);
    verify_store(&f.root());
    // And again: everything re-hashes right, nothing is fetched.
    let r = pull_in(&f, &["--verify", &digest_ref]).success().record();
    assert_eq!(r.downloaded, Some(0));
    // The other tag's image is the repaired one: it verifies too.
    let other = store.index().image(&id).unwrap().unwrap();
    assert!(other.tags.iter().any(|(_, t)| t == "other"));
    assert!(img_core::ops::verify::verify(&store, &other).unwrap().ok);
}
