//! `img-rm --prune --filter` with docker's `label!=` and `dangling` filters, on images
//! pulled from the test registry whose configs carry labels of the test's choosing.
//!
//! The expected results are what docker 20.10's daemon (`docker image prune`, docker 28
//! CLI) did with five images labelled as here: `label!=x` prunes only the one without
//! `x`; `label!=x=1 -f label!=y` keeps only the image with both; `dangling=false` (alone
//! or with `dangling=true`) prunes tagged images too; a value that is no boolean is an
//! invalid filter (the daemon's `Invalid filter 'dangling=[bogus]'`).

mod common;

use common::*;
use img_core::Digest;
use img_core::oci::Descriptor;
use img_core::oci::media_type::{Compression, OCI_CONFIG, OCI_MANIFEST};
use img_core::testing::images::{Flavor, ImageSpec, LayerSpec, build_image};
use img_core::testing::{Fixture, push_image};
use serde_json::Value;

const REPO: &str = "test/labelled";

/// Pushes `REPO:tag`, a one-layer OCI image whose config labels are exactly `labels`,
/// and returns its manifest digest and its ID (config digest).
fn push_labelled(f: &Fixture, tag: &str, seed: u64, labels: &[(&str, &str)]) -> (Digest, Digest) {
    let mut image = build_image(&ImageSpec {
        name: REPO.to_owned(),
        tag: tag.to_owned(),
        flavor: Flavor::Oci,
        platform: img_core::oci::Platform::parse("linux/amd64").unwrap(),
        layers: vec![LayerSpec {
            size: 2048,
            compression: Compression::Gzip,
        }],
        seed,
    });
    // The generator labels every config alike; give this one the labels asked for, and
    // name the new config in a new manifest.
    let mut config: Value = serde_json::from_slice(&image.blobs[0].1).unwrap();
    config["config"]["Labels"] = labels
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(*v)))
        .collect::<serde_json::Map<_, _>>()
        .into();
    let config_bytes = serde_json::to_vec(&config).unwrap();
    let config_desc = Descriptor::of(OCI_CONFIG, &config_bytes);
    image.blobs[0] = (config_desc.clone(), config_bytes);
    let mut manifest: Value = serde_json::from_slice(&image.top.1).unwrap();
    manifest["config"] = serde_json::to_value(&config_desc).unwrap();
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    image.top = (
        Descriptor::of(OCI_MANIFEST, &manifest_bytes),
        manifest_bytes,
    );
    push_image(&f.registry.client().unwrap(), &image).unwrap();
    (image.top.0.digest.clone(), config_desc.digest)
}

/// The IDs of the images in the store, sorted.
fn ids(f: &Fixture) -> Vec<Digest> {
    let mut ids: Vec<Digest> = f
        .store()
        .unwrap()
        .index()
        .list_images(&Default::default())
        .unwrap()
        .into_iter()
        .map(|row| row.image.id.clone())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// The IDs an `img-rm --prune` run reports deleted, sorted.
fn deleted_ids(records: &[Value]) -> Vec<Digest> {
    let mut ids: Vec<Digest> = records
        .iter()
        .filter_map(|r| r.get("Deleted")?.as_str()?.parse().ok())
        .collect();
    ids.sort();
    ids
}

fn sorted(ids: &[&Digest]) -> Vec<Digest> {
    let mut ids: Vec<Digest> = ids.iter().map(|d| (*d).clone()).collect();
    ids.sort();
    ids
}

/// Five images as in the docker run the module docs describe: a (x=1), b (x=2), c (y=1),
/// d (x=1, y=1) pulled by digest (dangling: no tag), and e (z=9) pulled by tag.
struct Five {
    a: Digest,
    b: Digest,
    c: Digest,
    d: Digest,
    e: Digest,
}

fn five(f: &Fixture) -> Five {
    let pull = |tag: &str, seed, labels: &[(&str, &str)], by_digest: bool| {
        let (manifest, id) = push_labelled(f, tag, seed, labels);
        let name = if by_digest {
            format!("{REPO}@{manifest}")
        } else {
            format!("{REPO}:{tag}")
        };
        f.pull(&name).unwrap();
        id
    };
    Five {
        a: pull("a", 101, &[("x", "1")], true),
        b: pull("b", 102, &[("x", "2")], true),
        c: pull("c", 103, &[("y", "1")], true),
        d: pull("d", 104, &[("x", "1"), ("y", "1")], true),
        e: pull("e", 105, &[("z", "9")], false),
    }
}

#[test]
fn label_not_prunes_the_images_without_the_label_and_several_must_all_match_to_keep() {
    let f = Fixture::new().expect("starting the test registry");
    let i = five(&f);
    assert_eq!(ids(&f), sorted(&[&i.a, &i.b, &i.c, &i.d, &i.e]));

    let prune = |filters: &[&str]| {
        let mut args = vec!["--prune"];
        for filter in filters {
            args.extend(["--filter", filter]);
        }
        deleted_ids(&rm(&f, &args, None).ok())
    };
    // Only c lacks x.
    assert_eq!(prune(&["label!=x"]), sorted(&[&i.c]));
    // b has x, but not x=1.
    assert_eq!(prune(&["label!=x=1"]), sorted(&[&i.b]));
    // d matches both negated labels and stays; a matches only the first and goes.
    assert_eq!(prune(&["label!=x=1", "label!=y"]), sorted(&[&i.a]));
    assert_eq!(ids(&f), sorted(&[&i.d, &i.e]));
    // label= and label!= together: d has x but also y=1.
    assert_eq!(prune(&["label=x", "label!=y=1"]), []);
    // The tagged image stays out of a dangling prune, whatever the labels say.
    assert_eq!(prune(&["label!=nothing"]), sorted(&[&i.d]));
    assert_eq!(ids(&f), sorted(&[&i.e]));
}

#[test]
fn dangling_false_wins_prunes_tagged_images_and_asks_first() {
    let f = Fixture::new().expect("starting the test registry");
    let i = five(&f);

    // Not a boolean: docker's invalid filter, exit status 1, nothing removed.
    for bad in ["dangling=bogus", "dangling=TRUE"] {
        let run = rm(&f, &["--prune", "-f", "--filter", bad], None).failure(1, 1);
        assert!(
            run.stderr.contains(&format!("invalid filter '{bad}'")),
            "{}",
            run.stderr
        );
    }
    assert_eq!(ids(&f).len(), 5);

    // dangling=false removes tagged images, as -a: without a terminal it needs -f.
    let run = rm(
        &f,
        &[
            "--prune",
            "--filter",
            "dangling=true",
            "--filter",
            "dangling=false",
        ],
        None,
    )
    .failure(2, 1);
    assert!(run.stderr.contains("confirm with -f"), "{}", run.stderr);
    assert_eq!(ids(&f).len(), 5);

    // dangling=true alone is the default: e keeps its tag and stays.
    let records = rm(
        &f,
        &[
            "--prune",
            "--filter",
            "dangling=true",
            "--filter",
            "label=x=1",
        ],
        None,
    )
    .ok();
    assert_eq!(deleted_ids(&records), sorted(&[&i.a, &i.d]));

    // With false among the values, the tagged e goes too, its tag untagged.
    let records = rm(
        &f,
        &[
            "--prune",
            "-f",
            "--filter",
            "dangling=true",
            "--filter",
            "dangling=false",
            "--filter",
            "label!=y",
        ],
        None,
    )
    .ok();
    assert_eq!(deleted_ids(&records), sorted(&[&i.b, &i.e]));
    assert!(
        records.contains(&untagged(&f.reference(&format!("{REPO}:e")))),
        "{records:?}"
    );
    assert_eq!(ids(&f), sorted(&[&i.c]));
}
