//! What img-rm's integration tests share: running the binary on a fixture and reading
//! its records back.

#![allow(dead_code)]

use img_core::Digest;
use img_core::index::ImageInfo;
use img_core::store::Store;
use img_core::testing::{Fixture, Run};
use serde_json::Value;

/// Runs img-rm with `args` on the fixture's store; stdout is a pipe (JSON records), stdin
/// is `input` when given, else empty.
pub fn rm(f: &Fixture, args: &[&str], input: Option<&str>) -> Run {
    f.run(env!("CARGO_BIN_EXE_img-rm"), args, input)
}

/// `{"Untagged": s}`.
pub fn untagged(s: &str) -> Value {
    serde_json::json!({ "Untagged": s })
}

/// `{"Deleted": id}`.
pub fn deleted(id: &Digest) -> Value {
    serde_json::json!({ "Deleted": id.to_string() })
}

/// Docker's 12-digit short ID.
pub fn short(id: &Digest) -> String {
    id.hex()[..12].to_owned()
}

/// The image the fixture's `name` (`test/alpine-like:latest`) names in the store.
pub fn image(f: &Fixture, name: &str) -> ImageInfo {
    let r = img_core::Reference::parse_normalized(&f.reference(name)).unwrap();
    f.store()
        .unwrap()
        .index()
        .image_by_tag(&r.name(), r.tag().unwrap())
        .unwrap()
        .unwrap_or_else(|| panic!("{name} is not in the store"))
}

/// The blob files of `image`, with whether each is on disk.
pub fn blob_files(store: &Store, digests: &[Digest]) -> Vec<(Digest, bool)> {
    digests
        .iter()
        .map(|d| (d.clone(), store.blob_path(d).is_file()))
        .collect()
}

/// Asserts that every blob of `digests` is on disk (`true`) or gone (`false`).
pub fn assert_files(store: &Store, digests: &[Digest], present: bool) {
    for (d, there) in blob_files(store, digests) {
        assert_eq!(there, present, "blob {d} on disk: {there}");
    }
}

/// Adds the tag `target` to the image `source` names, through img-core (img-tag's code).
pub fn tag(f: &Fixture, source: &str, target: &str) {
    let store = f.store().unwrap();
    img_core::ops::tag::tag(
        &store,
        &img_core::record::Target::parse(source).unwrap(),
        &img_core::ops::tag::parse_target(target).unwrap(),
        &Default::default(),
    )
    .unwrap();
}
