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
        assert_eq!(
            pulled.id, image.id,
            "{}: a docker push keeps the config",
            image.name
        );
        let size = size_of(&fx, &pulled.id);
        let bytes = blobs_bytes(&fx.root());
        for round in 0..2 {
            let loaded = load(&fx, &image.docker_archive);
            assert_eq!(loaded.id, image.id, "{}", image.name);
            // Tags only: the target stays the manifest pulled.
            assert_eq!(loaded.digest, pushed, "{} round {round}", image.name);
            assert_eq!(size_of(&fx, &image.id), size, "{}: SIZE", image.name);
            assert_eq!(blobs_bytes(&fx.root()), bytes, "{}: blobs/", image.name);
            let info = fx
                .store()
                .unwrap()
                .index()
                .image(&image.id)
                .unwrap()
                .unwrap();
            assert_eq!(info.target, pushed, "{}", image.name);
            assert_eq!(
                info.repo_digests.len(),
                1,
                "{}: RepoDigests kept",
                image.name
            );
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
        assert_eq!(
            info.target, pushed,
            "{}: re-pointed at the pull",
            image.name
        );
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
            store
                .index()
                .tag_target(&tag.name(), tag.tag().unwrap())
                .unwrap(),
            None,
            "{}",
            image.name
        );
        drop(store);
        verify_store(&fx.root());
    }
}

#[test]
fn a_legacy_layer_the_store_holds_in_another_compression_is_named_not_stored_once_verified() {
    // skopeo's OCI push writes a config of its own (another ID) over zstd layers with the
    // same DiffIDs: the load's image is new, its layers are not.
    let image = real_images::podman_build().unwrap_or_else(|e| panic!("podman build: {e}"));
    let fx = fixture();
    real_images::push_oci_zstd(&image, &fx.registry, "real/zstd:1").unwrap();
    let pulled = fx.pull("real/zstd:1").unwrap().record;
    assert_ne!(pulled.id, image.id);
    let store = fx.store().unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&store.read_blob(&pulled.digest).unwrap()).unwrap();
    let layers: Vec<Digest> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| Digest::parse(l["digest"].as_str().unwrap()).unwrap())
        .collect();
    let claims: Vec<_> = layers
        .iter()
        .map(|l| store.index().diff_ids_of(l).unwrap())
        .collect();
    assert!(
        claims.iter().all(|c| c.len() == 1 && !c[0].1),
        "a pull's claims are unverified: {claims:?}"
    );
    // A hostile claim: layer j's blob claims layer i's DiffID, and is tried first (the
    // candidates are tried by digest).
    let (i, j) = (0..layers.len())
        .flat_map(|i| (0..layers.len()).map(move |j| (i, j)))
        .find(|&(i, j)| layers[j] < layers[i])
        .unwrap();
    let stolen = claims[i][0].0.clone();
    store
        .index()
        .put_diff_ids(&[img_core::index::LayerDiffId {
            digest: layers[j].clone(),
            diff_id: stolen.clone(),
            verified: false,
        }])
        .unwrap();
    drop(store);
    let bytes = blobs_bytes(&fx.root());

    let loaded = load(&fx, &image.docker_archive);
    assert_eq!(loaded.id, image.id);
    let store = fx.store().unwrap();
    let synthesized: serde_json::Value =
        serde_json::from_slice(&store.read_blob(&loaded.digest).unwrap()).unwrap();
    let named: Vec<Digest> = synthesized["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| Digest::parse(l["digest"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(
        named, layers,
        "the synthesised manifest names the stored zstd layers"
    );
    assert!(
        synthesized["layers"][0]["mediaType"]
            .as_str()
            .unwrap()
            .ends_with("+zstd")
    );
    // Only the config and the manifest were stored.
    let config = store.index().blob(&image.id).unwrap().unwrap().size;
    let doc = store.index().blob(&loaded.digest).unwrap().unwrap().size;
    assert_eq!(blobs_bytes(&fx.root()), bytes + config + doc);
    // Checked, so verified; the false claim was dropped when it failed the check.
    for l in &layers {
        let c = store.index().diff_ids_of(l).unwrap();
        assert_eq!(c.len(), 1, "{l}: {c:?}");
        assert!(c[0].1, "{l}: verified");
    }
    assert_ne!(store.index().diff_ids_of(&layers[j]).unwrap()[0].0, stolen);
    drop(store);
    verify_store(&fx.root());
}

#[test]
fn a_pull_never_restores_a_repo_digest() {
    let image = real_images::podman_build().unwrap_or_else(|e| panic!("podman build: {e}"));
    let fx = fixture();
    let pushed = real_images::push(&image, &fx.registry, "real/app:1").unwrap();
    let pulled = fx.pull("real/app:1").unwrap().record;
    let saved = fx.dir().join("d.tar");
    let mut cmd = fx.command(PACK);
    cmd.args([
        "save",
        "-o",
        saved.to_str().unwrap(),
        &fx.reference("real/app:1"),
    ]);
    run_with(cmd, Stdio::null()).success();
    let store = fx.store().unwrap();
    store
        .index()
        .remove_references(&pulled.id, &[], &[], img_core::index::DeleteImage::Always)
        .unwrap()
        .unwrap();
    drop(store);
    let loaded = load(&fx, &saved);
    assert!(loaded.repo_digests.is_empty(), "{loaded:?}");
    let again = fx.pull("real/app:1").unwrap();
    let want = format!("{}@{pushed}", fx.reference("real/app"));
    assert_eq!(again.record.repo_digests, [want]);
    let info = fx
        .store()
        .unwrap()
        .index()
        .image(&pulled.id)
        .unwrap()
        .unwrap();
    assert_eq!(info.repo_digests.len(), 1);
    assert_eq!(info.size, pulled.size, "SIZE unchanged");
    verify_store(&fx.root());
}

/// Runs `sql` on the store's index with the sqlite3 tool.
fn sqlite(root: &Path, sql: &str) {
    let out = std::process::Command::new("sqlite3")
        .arg(root.join("index.db"))
        .arg(sql)
        .output()
        .expect("running sqlite3 (the sqlite3 package)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_store_doubled_before_the_fix_is_migrated_and_prune_reclaims_the_space() {
    let image = real_images::podman_build().unwrap_or_else(|e| panic!("podman build: {e}"));
    let fx = fixture();
    let pushed = real_images::push(&image, &fx.registry, "real/app:1").unwrap();
    // The blobs the old code left: the uncompressed layers and the manifest it synthesised.
    let loaded = load(&fx, &image.docker_archive);
    let pulled = fx.pull("real/app:1").unwrap().record;
    let store = fx.store().unwrap();
    let synthesized: serde_json::Value =
        serde_json::from_slice(&store.read_blob(&loaded.digest).unwrap()).unwrap();
    drop(store);
    let mut pins = vec![loaded.digest.to_string()];
    for l in synthesized["layers"].as_array().unwrap() {
        pins.push(l["digest"].as_str().unwrap().to_owned());
    }
    // The rows the old code wrote for `img-pull D; img-pack load d.tar` (the load
    // re-pointed the image at its manifest, and its pins were the sum of both), in an
    // index of schema 3.
    let (id, s, oci) = (
        &image.id,
        &loaded.digest,
        "application/vnd.oci.image.manifest.v1+json",
    );
    let tag = img_core::Reference::parse_normalized(&image.tag).unwrap();
    let mut sql = format!(
        "UPDATE images SET target_digest = '{s}', target_media_type = '{oci}' WHERE id = '{id}';
         UPDATE tags SET target_digest = '{s}', target_media_type = '{oci}'
           WHERE name = '{}' AND tag = '{}';",
        tag.name(),
        tag.tag().unwrap()
    );
    for p in &pins {
        sql += &format!("INSERT OR IGNORE INTO image_blobs VALUES ('{id}', '{p}');");
    }
    sql += &format!(
        "UPDATE images SET size = (SELECT SUM(b.size) FROM image_blobs ib JOIN blobs b
           ON b.digest = ib.digest WHERE ib.image_id = '{id}') WHERE id = '{id}';
         DROP TABLE image_roots; DROP TABLE layer_diff_ids; DROP TABLE synthesized;
         DROP TABLE blob_sources;
         DELETE FROM meta WHERE key = 'fill'; PRAGMA user_version = 3;"
    );
    sqlite(&fx.root(), &sql);
    let doubled = blobs_bytes(&fx.root());
    assert!(
        doubled > 2 * pulled.size,
        "the store was doubled: {doubled} vs {}",
        pulled.size
    );

    let store = fx.store().unwrap();
    assert_eq!(
        store.index().user_version().unwrap(),
        img_core::index::SCHEMA_VERSION
    );
    let info = store.index().image(id).unwrap().unwrap();
    assert_eq!(info.target, pushed, "re-pointed at the manifest pulled");
    assert_eq!(info.size, pulled.size, "SIZE back to the pulled image's");
    assert_eq!(
        store
            .index()
            .tag_target(&tag.name(), tag.tag().unwrap())
            .unwrap(),
        None
    );
    assert!(store.index().is_synthesized(s).unwrap());
    let report = store.gc_with(&GcOptions::prune()).unwrap();
    assert_eq!(report.bytes_reclaimed, doubled - pulled.size, "{report:?}");
    assert_eq!(blobs_bytes(&fx.root()), pulled.size);
    // The layers' DiffIDs were filled from the configs, unverified.
    let manifest: serde_json::Value =
        serde_json::from_slice(&store.read_blob(&pushed).unwrap()).unwrap();
    let first = Digest::parse(manifest["layers"][0]["digest"].as_str().unwrap()).unwrap();
    let claims = store.index().diff_ids_of(&first).unwrap();
    assert_eq!(claims.len(), 1);
    assert!(!claims[0].1, "filled by the migration: unverified");
    drop(store);
    verify_store(&fx.root());
}

#[test]
fn a_config_of_an_all_platforms_image_loads_as_a_classic_image_storing_nothing() {
    let fx = fixture();
    let multi = fx.pull_all_platforms("test/multi:latest").unwrap().record;
    let image = fx.image("test/multi");
    assert_eq!(&multi.id, image.digest(), "ID = the index digest");
    // A legacy archive (docker's save) of one platform: its config and layers.
    let (child, bytes) = &image.manifests[0];
    let manifest: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    let blob = |d: &str| -> Vec<u8> {
        let d = Digest::parse(d).unwrap();
        image
            .blobs
            .iter()
            .find(|(x, _)| x.digest == d)
            .unwrap()
            .1
            .clone()
    };
    let config = Digest::parse(manifest["config"]["digest"].as_str().unwrap()).unwrap();
    let mut tar = tar::Builder::new(Vec::new());
    let mut layers = Vec::new();
    for (n, l) in manifest["layers"].as_array().unwrap().iter().enumerate() {
        let path = format!("{n}/layer.tar");
        common::add_file(&mut tar, &path, &blob(l["digest"].as_str().unwrap()));
        layers.push(path);
    }
    let config_path = format!("{}.json", config.hex());
    common::add_file(&mut tar, &config_path, &blob(&config.to_string()));
    let entries =
        serde_json::json!([{"Config": config_path, "RepoTags": ["child:1"], "Layers": layers}]);
    common::add_file(&mut tar, "manifest.json", entries.to_string().as_bytes());
    let archive = fx.dir().join("child.tar");
    std::fs::write(&archive, tar.into_inner().unwrap()).unwrap();
    let bytes_before = blobs_bytes(&fx.root());

    let loaded = load(&fx, &archive);
    assert_eq!(loaded.id, config, "a classic image: ID = the config digest");
    assert_eq!(
        loaded.digest, child.digest,
        "its target is the platform manifest the store has"
    );
    assert_eq!(blobs_bytes(&fx.root()), bytes_before, "nothing stored");
    let store = fx.store().unwrap();
    assert!(
        store.index().image(&multi.id).unwrap().is_some(),
        "the index image stays"
    );
    let info = store.index().image(&config).unwrap().unwrap();
    assert_eq!(info.target, child.digest);
    assert_eq!(
        info.tags,
        [("docker.io/library/child".to_owned(), "1".to_owned())]
    );
    // Loading it again adds nothing either.
    drop(store);
    let again = load(&fx, &archive);
    assert_eq!(
        (again.id, again.digest, again.size),
        (config, child.digest.clone(), info.size)
    );
    assert_eq!(blobs_bytes(&fx.root()), bytes_before);
    verify_store(&fx.root());
}
