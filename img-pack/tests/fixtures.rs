//! The archives other tools wrote (go-containerregistry's test data, kept outside the
//! project in ../shared/fixtures/archives): each loads as its README says, or fails with a
//! clear line and nothing stored.

mod common;

use common::{assert_untouched, fixtures, fresh_root, run};
use img_core::record::ImageRecord;
use img_core::testing::verify_store;

/// Loads fixture `name` into a fresh store; returns the run and the store's root.
fn load(name: &str) -> (img_core::testing::Run, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let root = fresh_root(dir.path(), "store");
    let file = fixtures().join(name);
    let r = run(&root, &["load", "-i", file.to_str().unwrap()], None);
    (r, dir)
}

fn loaded(name: &str) -> (Vec<ImageRecord>, tempfile::TempDir) {
    let (r, dir) = load(name);
    let records = r.success().records::<ImageRecord>();
    verify_store(&dir.path().join("store"));
    (records, dir)
}

#[test]
fn docker_25s_save_loads_one_untagged_image() {
    let (records, _dir) = loaded("ggcr-hello-world-v25.tar");
    assert_eq!(records.len(), 1);
    assert!(
        records[0].id.hex().starts_with("ee301c92"),
        "{:?}",
        records[0]
    );
    assert!(records[0].repo_tags.is_empty());
}

#[test]
fn legacy_archives_load_with_their_tags() {
    let (records, _dir) = loaded("ggcr-test_image_1.tar");
    assert_eq!(records.len(), 1);
    assert!(
        records[0]
            .repo_tags
            .iter()
            .any(|t| t.ends_with(":test_image_1")),
        "{:?}",
        records[0].repo_tags
    );
    let (records, _dir) = loaded("ggcr-test_image_2.tar");
    assert_eq!(records.len(), 1);
    assert!(!records[0].repo_tags.is_empty());
    let (records, _dir) = loaded("ggcr-test_load_manifest.tar");
    assert_eq!(records.len(), 1);
}

#[test]
fn a_bundle_loads_both_images_keeping_foreign_layers_as_descriptors() {
    let (records, dir) = loaded("ggcr-test_bundle.tar");
    let tags: Vec<&str> = records
        .iter()
        .flat_map(|r| r.repo_tags.iter().map(String::as_str))
        .collect();
    assert_eq!(tags, ["test_image_2:latest", "test_image_1:latest"]);
    // The first image's layer is named by LayerSources: its manifest keeps that descriptor.
    let store = img_core::Store::open(&dir.path().join("store")).unwrap();
    let m: img_core::oci::Manifest =
        serde_json::from_slice(&store.read_blob(&records[0].digest).unwrap()).unwrap();
    assert_eq!(
        m.layers[0].media_type,
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    );
    assert_eq!(m.layers[0].size, 165);
}

#[test]
fn a_layer_tar_symlink_resolves_inside_the_archive() {
    let (records, _dir) = loaded("ggcr-test_link.tar");
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| !r.repo_tags.is_empty()));
}

#[test]
fn archives_without_an_image_fail_clearly_and_store_nothing() {
    for (name, want) in [
        ("ggcr-no_manifest.tar", "before 1.10"),
        ("ggcr-null_manifest.tar", "names no image"),
    ] {
        let (r, dir) = load(name);
        let r = r.failure(1, 1);
        assert!(r.stderr.contains(want), "{name}: {}", r.stderr);
        assert_untouched(&dir.path().join("store"));
    }
}
