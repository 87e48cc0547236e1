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

/// Regression (issue 9, failure 1): a pull's manifest was committed (or found present)
/// before its lease protected it, so a prune in between swept it and the pull recorded
/// an image without its manifest. Each round deletes the image row (its blobs stay, as
/// garbage) and pulls it again while a prune loops on the same store.
#[test]
fn a_pull_racing_prune_never_records_an_image_without_its_manifest() {
    let f = Fixture::new().expect("starting the test registry (needs docker-registry)");
    let first = f.pull("test/alpine-like:latest").unwrap().record;
    let stop = std::sync::atomic::AtomicBool::new(false);
    let root = f.root();
    std::thread::scope(|s| {
        let pruner = s.spawn(|| {
            let store = Store::open(&root).unwrap();
            let mut rounds = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                img_core::ops::rm::prune(&store).unwrap();
                rounds += 1;
            }
            rounds
        });
        let _stop = StopOnDrop(&stop);
        let store = Store::open(&root).unwrap();
        for round in 0..40 {
            store.index().delete_image(&first.id).unwrap();
            let pulled = f
                .pull("test/alpine-like:latest")
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
            let info = store.index().image(&pulled.record.id).unwrap().unwrap();
            for d in store.index().image_blobs(&info.id).unwrap() {
                assert!(
                    store.has_blob(&d).unwrap(),
                    "round {round}: the pulled image's blob {d} has no row or no file"
                );
            }
            store.read_blob(&info.target).unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(pruner.join().unwrap() > 0, "the prune ran");
    });
    verify_store(&f.root());
}

/// Regression (issue 9, failure 2): a pull of an image already present re-tagged it
/// after a concurrent `img-rm -f` had deleted it, and failed with `no such image`. Now
/// the pull fetches what is missing and records the image again.
#[test]
fn a_pull_of_a_present_image_racing_rm_f_pulls_it_again() {
    let f = Fixture::new().expect("starting the test registry (needs docker-registry)");
    let name = "test/alpine-like:latest";
    f.pull(name).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let root = f.root();
    let reference = f.reference(name);
    std::thread::scope(|s| {
        let remover = s.spawn(|| {
            let store = Store::open(&root).unwrap();
            let target = img_core::record::Target::parse(&reference).unwrap();
            let mut removed = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let mut r = img_core::ops::rm::Remover::new(
                    &store,
                    img_core::ops::rm::RmOptions {
                        force: true,
                        ..Default::default()
                    },
                );
                match r.remove(&target) {
                    Ok(_) => removed += 1,
                    Err(e) if e.kind() == img_core::ErrorKind::NotFound => {}
                    Err(e) => panic!("img-rm -f: {e}"),
                }
                r.finish().unwrap();
            }
            removed
        });
        let _stop = StopOnDrop(&stop);
        for round in 0..60 {
            f.pull(name)
                .unwrap_or_else(|e| panic!("round {round}: the pull failed: {e}"));
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(remover.join().unwrap() > 0, "img-rm -f removed the image");
    });
    // Whatever the last rm left, one more pull gives a whole image.
    f.pull(name).unwrap();
    verify_store(&f.root());
}

/// Stops a background loop when the test's own thread ends, by failing or not: a scope
/// whose main thread panics would otherwise wait forever for the loop.
struct StopOnDrop<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}
