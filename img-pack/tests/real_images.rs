//! Real images, made by the tools users make them with (a root filesystem imported by
//! docker, a multi-layer image built by podman), load with the IDs those tools gave them,
//! and the same images pulled from the registry — gzip under Docker schema 2, zstd under
//! OCI — are the same images: same ID, same layers as DiffIDs.

mod common;

use common::{fresh_root, run};
use img_core::Store;
use img_core::record::ImageRecord;
use img_core::testing::real_images::{self, RealImage};
use img_core::testing::{Fixture, verify_store};

fn fixture() -> Fixture {
    Fixture::new().expect("starting the test registry (needs the docker-registry package)")
}

fn diff_ids(store: &Store, id: &img_core::Digest) -> Vec<String> {
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.blob_path(id)).unwrap()).unwrap();
    config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_owned())
        .collect()
}

fn check(image: &RealImage, layers: usize) {
    let fx = fixture();
    // As its maker saved it: docker's (or podman's) ID and tag.
    let dir = tempfile::tempdir().unwrap();
    let root = fresh_root(dir.path(), "store");
    let archive = image.docker_archive.to_str().unwrap();
    let loaded: ImageRecord = run(&root, &["load", "-i", archive], None)
        .success()
        .record();
    assert_eq!(
        loaded.id, image.id,
        "{}: load keeps its maker's ID",
        image.name
    );
    let store = Store::open(&root).unwrap();
    assert_eq!(diff_ids(&store, &image.id).len(), layers, "{}", image.name);
    verify_store(&root);

    // Through a registry, both ways a registry holds it.
    for (repo, oci) in [("real/gzip:1", false), ("real/zstd:1", true)] {
        let pushed = if oci {
            real_images::push_oci_zstd(image, &fx.registry, repo)
        } else {
            real_images::push(image, &fx.registry, repo)
        }
        .unwrap_or_else(|e| panic!("{}: {e}", image.name));
        let pulled = fx
            .pull(repo)
            .unwrap_or_else(|e| panic!("{}: pulling {repo}: {e}", image.name))
            .record;
        assert_eq!(pulled.digest, pushed, "{}: {repo}", image.name);
        let store = fx.store().unwrap();
        // skopeo's OCI conversion writes its own config (OCI media type, same content
        // in the fields that matter), so compare what the image is: its layers' DiffIDs.
        assert_eq!(
            diff_ids(&store, &pulled.id),
            diff_ids(&Store::open(&root).unwrap(), &image.id),
            "{}: {repo}",
            image.name
        );
    }
    verify_store(&fx.root());
}

#[test]
fn a_root_filesystem_imported_by_docker_loads_and_pulls_as_docker_made_it() {
    let image = real_images::docker_import()
        .unwrap_or_else(|e| panic!("docker import of the test rootfs: {e}"));
    check(&image, 1);
}

#[test]
fn an_image_podman_built_loads_and_pulls_as_podman_made_it() {
    let image = real_images::podman_build()
        .unwrap_or_else(|e| panic!("podman build of the test image: {e}"));
    check(&image, 5);
}
