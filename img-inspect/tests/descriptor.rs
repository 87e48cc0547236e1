//! img-inspect's `Descriptor` per reference: one image (one config) in the registry under
//! two manifests — docker schema 2 media types under one tag, OCI under another — pulled
//! under both tags. (`skopeo copy --format oci` will not do for the OCI one: it rewrites
//! the config, so the two would be two images.) docker shows, as
//! `Descriptor`, the manifest the reference given resolved to, not whichever was pulled
//! last; so must img.
//!
//! The expected digests, media types and sizes come from the registry itself (the
//! manifest bytes `curl` gets, hashed, and its `Docker-Content-Digest` header), never
//! from img.

mod common;

use std::process::Command;

use common::inspect;
use img_core::Digest;
use img_core::oci::Platform;
use img_core::oci::media_type::{Compression, DOCKER_MANIFEST, OCI_MANIFEST};
use img_core::testing::images::{Flavor, ImageSpec, LayerSpec, build_image};
use img_core::testing::{Fixture, push_image, stdout_of};
use serde_json::{Value, json};

const REPO: &str = "test/same";

/// Pushes the one image as `REPO:tag` with `flavor`'s media types (the fixture's own
/// helper; both flavors write the same config bytes for gzip layers).
fn push(f: &Fixture, flavor: Flavor, tag: &str) {
    let image = build_image(&ImageSpec {
        name: REPO.to_owned(),
        tag: tag.to_owned(),
        flavor,
        platform: Platform::parse("linux/amd64").unwrap(),
        layers: vec![LayerSpec {
            size: 4096,
            compression: Compression::Gzip,
        }],
        seed: 77,
    });
    push_image(&f.registry.client().unwrap(), &image).unwrap();
}

/// What the registry serves for `REPO:tag` with `Accept: accept`: the manifest as the
/// descriptor docker would show (`mediaType`, `digest`, `size`) and the config digest it
/// names. The digest is the bytes' sha256, checked against `Docker-Content-Digest`.
fn served(f: &Fixture, tag: &str, accept: &str) -> (Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let headers = dir.path().join("headers");
    let url = format!("http://{}/v2/{REPO}/manifests/{tag}", f.registry.addr());
    let bytes = stdout_of(Command::new("curl").args([
        "--silent",
        "--fail",
        "--header",
        &format!("Accept: {accept}"),
        "--dump-header",
        headers.to_str().unwrap(),
        &url,
    ]));
    let digest = Digest::sha256_of(&bytes).to_string();
    let headers = std::fs::read_to_string(&headers).unwrap();
    let header = headers
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("docker-content-digest")
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no Docker-Content-Digest in {headers}"));
    assert_eq!(header, digest, "the registry's digest of {tag}");
    let manifest: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(manifest["mediaType"], accept, "{tag}: {manifest}");
    let config = manifest["config"]["digest"].as_str().unwrap().to_owned();
    (
        json!({ "mediaType": accept, "digest": digest, "size": bytes.len() }),
        config,
    )
}

/// `img-inspect -f TEMPLATE reference`'s one line.
fn inspected(f: &Fixture, template: &str, reference: &str) -> String {
    let run = inspect(f, &["-f", template, reference], "").success();
    run.stdout.trim_end_matches('\n').to_owned()
}

/// `{{json .Descriptor}}` of `reference`, parsed.
fn descriptor(f: &Fixture, reference: &str) -> Value {
    let line = inspected(f, "{{json .Descriptor}}", reference);
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
}

#[test]
fn each_tag_and_digest_shows_the_manifest_it_resolved_to() {
    let f = Fixture::new().expect("starting the test registry (needs the docker-registry package)");
    push(&f, Flavor::Docker, "docker");
    push(&f, Flavor::Oci, "oci");
    let (a, config_a) = served(&f, "docker", DOCKER_MANIFEST);
    let (b, config_b) = served(&f, "oci", OCI_MANIFEST);
    // One image under two manifests: the same config, two digests.
    assert_eq!(config_a, config_b);
    assert_ne!(a["digest"], b["digest"]);

    // B pulled last: the tag A still shows A.
    f.pull(&format!("{REPO}:docker")).unwrap();
    f.pull(&format!("{REPO}:oci")).unwrap();
    let name = f.reference(REPO);
    let tag_a = format!("{name}:docker");
    let tag_b = format!("{name}:oci");
    for r in [&tag_a, &tag_b] {
        assert_eq!(
            inspected(&f, "{{.Id}}", r),
            config_a,
            "{r} is the one image"
        );
    }
    assert_eq!(descriptor(&f, &tag_a), a);
    assert_eq!(descriptor(&f, &tag_b), b);

    // By digest: each names its own manifest, whatever the tags say.
    let digest_a = a["digest"].as_str().unwrap();
    let digest_b = b["digest"].as_str().unwrap();
    assert_eq!(descriptor(&f, &format!("{name}@{digest_a}")), a);
    assert_eq!(descriptor(&f, &format!("{name}@{digest_b}")), b);
    // Both digest references are recorded, as docker records them.
    let mut digests: Vec<String> =
        serde_json::from_str(&inspected(&f, "{{json .RepoDigests}}", &tag_a)).unwrap();
    digests.sort();
    let mut want = vec![format!("{name}@{digest_a}"), format!("{name}@{digest_b}")];
    want.sort();
    assert_eq!(digests, want);
}
