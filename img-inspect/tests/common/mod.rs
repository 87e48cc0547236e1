//! What img-inspect's tests share: running the binary on a fixture, reading the test
//! images' documents.

#![allow(dead_code)]

use img_core::Digest;
use img_core::oci::{Document, ImageConfig, Manifest};
use img_core::testing::{Fixture, Run, TestImage};

/// Runs img-inspect on the fixture's store with `args`, feeding `stdin` (empty: none).
pub fn inspect(fixture: &Fixture, args: &[&str], stdin: &str) -> Run {
    fixture.run(env!("CARGO_BIN_EXE_img-inspect"), args, Some(stdin))
}

/// A single image's manifest, or the manifest of an index's entry `i`.
pub fn manifest(image: &TestImage, i: Option<usize>) -> Manifest {
    let bytes = match i {
        None => &image.top.1,
        Some(i) => &image.manifests[i].1,
    };
    match Document::parse(None, bytes).unwrap() {
        Document::Manifest(m) => *m,
        Document::Index(_) => panic!("{} is an index", image.name),
    }
}

/// The config a manifest names.
pub fn config(image: &TestImage, m: &Manifest) -> ImageConfig {
    serde_json::from_slice(image.blob(&m.config.digest).unwrap()).unwrap()
}

/// Digests as the strings JSON holds.
pub fn strings(ds: &[Digest]) -> Vec<String> {
    ds.iter().map(ToString::to_string).collect()
}
