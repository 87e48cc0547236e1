//! Incremental bundles: `img-pack inventory` of the receiving store, `save --exclude-from`
//! leaving out the layers it lists (a partial bundle: no manifest.json, index.json
//! annotated `io.img.partial`), and `load` completing each image from the store, or
//! failing whole, naming the first layer missing, when the store lacks one.

mod common;

use common::{assert_untouched, doc, entries, fresh_root, run};
use img_core::digest::Digest;
use img_core::oci::{Document, Manifest};
use img_core::store::Store;
use img_core::testing::{Fixture, TestImage, verify_store};

const ALPINE: &str = "test/alpine-like:latest";
const OCI: &str = "test/oci-zstd:1";

fn fixture() -> Fixture {
    Fixture::new().expect("starting the test registry (needs the docker-registry package)")
}

fn manifest(image: &TestImage) -> Manifest {
    match Document::parse(None, &image.top.1).unwrap() {
        Document::Manifest(m) => *m,
        Document::Index(_) => panic!("{} is an index", image.reference()),
    }
}

fn layers(image: &TestImage) -> Vec<Digest> {
    manifest(image)
        .layers
        .iter()
        .map(|l| l.digest.clone())
        .collect()
}

/// The blob digests an archive carries.
fn carried(archive: &[u8]) -> Vec<Digest> {
    entries(archive)
        .into_iter()
        .filter_map(|(n, k, _)| {
            let hex = n.strip_prefix("blobs/sha256/")?;
            (k == b'0').then(|| Digest::parse(&format!("sha256:{hex}")).unwrap())
        })
        .collect()
}

/// A sending store with both images, a receiving one with the first alone (loaded from a
/// full bundle), the receiver's inventory and the partial bundle of both made against it.
struct Setup {
    f: Fixture,
    receiver: std::path::PathBuf,
    partial: std::path::PathBuf,
    full_size: u64,
}

fn setup() -> Setup {
    let f = fixture();
    f.pull(ALPINE).unwrap();
    f.pull(OCI).unwrap();
    let (alpine, oci) = (f.reference(ALPINE), f.reference(OCI));
    let dir = f.dir().to_path_buf();
    let full = dir.join("base.tar");
    let full_s = full.to_str().unwrap();
    run(&f.root(), &["save", "-o", full_s, &alpine], None).success();
    let receiver = fresh_root(&dir, "receiver");
    run(&receiver, &["load", "-i", full_s], None).success();

    let inventory = run(&receiver, &["inventory"], None).success().stdout;
    let mut want: Vec<String> = layers(f.image(ALPINE))
        .iter()
        .map(Digest::to_string)
        .collect();
    want.sort();
    assert_eq!(
        inventory.lines().collect::<Vec<_>>(),
        want,
        "sorted, one a line"
    );
    let inv = dir.join("receiver.inventory");
    std::fs::write(&inv, &inventory).unwrap();

    let both = dir.join("both.tar");
    run(
        &f.root(),
        &["save", "-o", both.to_str().unwrap(), &alpine, &oci],
        None,
    )
    .success();
    let partial = dir.join("release.tar");
    run(
        &f.root(),
        &[
            "save",
            "--exclude-from",
            inv.to_str().unwrap(),
            "-o",
            partial.to_str().unwrap(),
            &alpine,
            &oci,
        ],
        None,
    )
    .success();
    Setup {
        full_size: std::fs::metadata(&both).unwrap().len(),
        f,
        receiver,
        partial,
    }
}

#[test]
fn a_partial_bundle_carries_only_what_the_inventory_lacks_and_loads_there_whole() {
    let s = setup();
    let archive = std::fs::read(&s.partial).unwrap();
    let names: Vec<String> = entries(&archive).into_iter().map(|(n, _, _)| n).collect();
    assert!(!names.contains(&"manifest.json".to_owned()), "{names:?}");
    assert!(!names.contains(&"repositories".to_owned()), "{names:?}");
    let index = doc(&archive, "index.json");
    assert_eq!(index["annotations"]["io.img.partial"], "true");

    let blobs = carried(&archive);
    let (alpine, oci) = (s.f.image(ALPINE), s.f.image(OCI));
    for l in layers(alpine) {
        assert!(!blobs.contains(&l), "the receiver's layer {l} travelled");
    }
    for l in layers(oci) {
        assert!(blobs.contains(&l), "the new layer {l} is missing");
    }
    // Manifests and configs always travel.
    for image in [alpine, oci] {
        assert!(blobs.contains(image.digest()));
        assert!(blobs.contains(&manifest(image).config.digest));
    }
    assert!((archive.len() as u64) < s.full_size);

    let loaded = run(
        &s.receiver,
        &["load", "-i", s.partial.to_str().unwrap()],
        None,
    )
    .success();
    assert_eq!(
        loaded.records::<serde_json::Value>().len(),
        2,
        "{}",
        loaded.stdout
    );
    verify_store(&s.receiver);
    let store = Store::open(&s.receiver).unwrap();
    for image in [alpine, oci] {
        let name = format!("{}/{}", s.f.registry.addr(), image.name);
        let info = store
            .index()
            .image_by_tag(&name, &image.tag)
            .unwrap()
            .unwrap_or_else(|| panic!("{name} was not loaded"));
        for l in layers(image) {
            assert!(store.index().image_blobs(&info.id).unwrap().contains(&l));
            assert!(store.has_blob(&l).unwrap());
        }
    }
}

#[test]
fn a_partial_bundle_into_a_store_lacking_a_layer_fails_whole_naming_the_first_missing() {
    let s = setup();
    let empty = fresh_root(s.f.dir(), "empty");
    let r = run(&empty, &["load", "-i", s.partial.to_str().unwrap()], None);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let first = &layers(s.f.image(ALPINE))[0];
    assert!(r.stderr.contains(&first.to_string()), "{}", r.stderr);
    assert!(r.stderr.contains("partial bundle"), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert_untouched(&empty);
}

#[test]
fn an_inventory_that_is_not_one_digest_a_line_is_refused_naming_the_line() {
    let f = fixture();
    f.pull(ALPINE).unwrap();
    let inv = f.dir().join("bad.inventory");
    std::fs::write(&inv, "sha256:nothex\n").unwrap();
    let out = f.dir().join("x.tar");
    let r = run(
        &f.root(),
        &[
            "save",
            "--exclude-from",
            inv.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            &f.reference(ALPINE),
        ],
        None,
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("line 1"), "{}", r.stderr);
    assert!(!out.exists());
    // An inventory of nothing left out gives the full, docker-loadable format.
    std::fs::write(&inv, "").unwrap();
    run(
        &f.root(),
        &[
            "save",
            "--exclude-from",
            inv.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            &f.reference(ALPINE),
        ],
        None,
    )
    .success();
    let archive = std::fs::read(&out).unwrap();
    assert!(
        entries(&archive)
            .iter()
            .any(|(n, _, _)| n == "manifest.json")
    );
    assert_eq!(
        doc(&archive, "index.json")["annotations"],
        serde_json::Value::Null
    );
}
