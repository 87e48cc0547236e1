//! img-rm while a pull runs: removing an image (and collecting its garbage) while another
//! process pulls an image sharing its layers — both succeed and the pulled image verifies.

mod common;

use std::time::{Duration, Instant};

use common::*;
use img_core::oci::Platform;
use img_core::oci::media_type::Compression;
use img_core::ops::progress::NoProgress;
use img_core::ops::pull::{PullOptions, pull};
use img_core::settings::Config;
use img_core::store::Store;
use img_core::testing::Fixture;
use img_core::testing::fault_proxy::{Fault, FaultProxy};
use img_core::testing::images::{Flavor, ImageSpec, LayerSpec, build_image};
use img_core::testing::{push_image, verify_store};
use img_core::{Digest, Reference};

/// Two images from one seed: `test/share-a` has a small layer, `test/share-b` the same
/// layer (same seed, index and size give the same bytes) under a large one.
fn images() -> (img_core::testing::TestImage, img_core::testing::TestImage) {
    let gz = |size| LayerSpec {
        size,
        compression: Compression::Gzip,
    };
    let spec = |name: &str, layers| ImageSpec {
        name: name.to_owned(),
        tag: "latest".to_owned(),
        flavor: Flavor::Oci,
        platform: Platform::parse("linux/amd64").unwrap(),
        layers,
        seed: 77,
    };
    let a = build_image(&spec("test/share-a", vec![gz(64 * 1024)]));
    let b = build_image(&spec(
        "test/share-b",
        vec![gz(64 * 1024), gz(2 * 1024 * 1024)],
    ));
    (a, b)
}

fn layers(image: &img_core::testing::TestImage) -> Vec<(Digest, u64)> {
    let m: img_core::oci::Manifest = serde_json::from_slice(&image.top.1).unwrap();
    m.layers
        .iter()
        .map(|l| (l.digest.clone(), l.size))
        .collect()
}

#[test]
fn rm_of_an_image_while_a_pull_of_another_sharing_its_layers_runs() {
    let f = Fixture::new().expect("starting the test registry (needs docker-registry)");
    let (a, b) = images();
    let (a_layers, b_layers) = (layers(&a), layers(&b));
    let (shared, shared_size) = a_layers[0].clone();
    assert_eq!(b_layers[0].0, shared, "the images share their first layer");
    let (big, big_size) = b_layers[1].clone();
    assert!(big_size > 512 * 1024, "the big layer drips long enough");
    let client = f.registry.client().unwrap();
    push_image(&client, &a).unwrap();
    push_image(&client, &b).unwrap();
    f.pull("test/share-a:latest").unwrap();
    let a_info = image(&f, "test/share-a:latest");
    let a_blobs = f.store().unwrap().index().image_blobs(&a_info.id).unwrap();

    // The pull of B goes through a proxy that drips blobs: 64 KiB every 100 ms.
    let proxy = FaultProxy::start(&f.registry.addr(), |method, path, _| {
        if method == "GET" && path.contains("/blobs/") {
            Fault::Slow(Duration::from_millis(100))
        } else {
            Fault::Pass
        }
    })
    .unwrap();
    let b_ref =
        Reference::parse_normalized(&format!("{}/{}", proxy.addr(), b.reference())).unwrap();
    let root = f.root();
    let puller = std::thread::spawn(move || {
        let store = Store::open(&root).unwrap();
        let options = PullOptions {
            jobs: 3,
            ..PullOptions::default()
        };
        pull(&store, &b_ref, &options, &Config::default(), &NoProgress)
    });

    // Once the big layer is on its way (and the shared one found in the store), remove A.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !proxy.seen().iter().any(|r| r.path.contains(big.hex())) {
        assert!(
            Instant::now() < deadline,
            "the pull never asked for the big layer"
        );
        assert!(!puller.is_finished(), "the pull ended early");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    let out = rm(&f, &[&f.reference("test/share-a:latest")], None).ok();
    assert_eq!(out.last(), Some(&deleted(&a_info.id)), "{out:?}");
    assert!(
        !puller.is_finished(),
        "img-rm (and its garbage collection) ran while the pull was still going"
    );

    let pulled = puller.join().unwrap().expect("the pull succeeds");
    let record = &pulled[0].record;
    assert_eq!(
        record.reused,
        Some(shared_size),
        "the shared layer was reused from the store, kept by the pull's lease"
    );
    // B verifies: every blob it pins is on disk, and every blob file hashes to its digest.
    let store = f.store().unwrap();
    let b_blobs = store.index().image_blobs(&record.id).unwrap();
    assert!(b_blobs.contains(&shared) && b_blobs.contains(&big));
    verify_store(&f.root());
    // A is gone, its own blobs with it; the shared layer stays for B.
    assert_eq!(store.index().image(&a_info.id).unwrap(), None);
    let own: Vec<Digest> = a_blobs.into_iter().filter(|d| *d != shared).collect();
    assert!(!own.is_empty());
    assert_files(&store, &own, false);
    assert!(store.blob_path(&shared).is_file());
    // Nothing the pull needs was left for a later collection to find broken.
    store.gc().unwrap();
    for d in &b_blobs {
        assert!(store.has_blob(d).unwrap(), "{d}");
    }
    verify_store(&f.root());
}
