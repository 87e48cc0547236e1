//! `img-inspect --verify` on stores filled by real pulls: every image verifies; a flipped
//! byte in a layer file and a config with a wrong DiffID are each reported against the
//! right image, naming the blob and both digests, and make the exit status 1.

mod common;

use std::collections::BTreeMap;

use common::{inspect, manifest};
use img_core::Digest;
use img_core::index::NewImage;
use img_core::oci::{ImageConfig, Manifest, media_type};
use img_core::testing::Fixture;
use serde_json::Value;

#[test]
fn verify_reports_corrupt_layers_and_wrong_diff_ids() {
    let f = Fixture::new().expect("starting the test registry (needs the docker-registry package)");
    let alpine = f.pull("test/alpine-like:latest").unwrap().record.id;
    let oci = f.pull("test/oci-zstd:1").unwrap().record.id;
    let multi = f.pull_all_platforms("test/multi:latest").unwrap().record.id;
    // Plain ID lines, as `img-ls -a -q` prints them.
    let ids = format!(
        "{}\n{}\n{}\n",
        &alpine.hex()[..12],
        &oci.hex()[..12],
        &multi.hex()[..12]
    );

    let run = inspect(&f, &["--verify"], &ids).success();
    let reports = run.records::<Value>();
    assert_eq!(reports.len(), 3);
    for (r, id) in reports.iter().zip([&alpine, &oci, &multi]) {
        assert_eq!(r["Id"], id.to_string());
        assert_eq!(r["Ok"], true, "{r}");
        assert_eq!(r["Problems"], serde_json::json!([]));
    }
    // The index, three manifests, three configs and six layers.
    assert_eq!(reports[2]["Blobs"], 13);
    // img-inspect's own array read back: `img-inspect … | img-inspect --verify`.
    let array = inspect(&f, &[], &ids).stdout;
    let run = inspect(&f, &["--verify"], &array).success();
    assert_eq!(run.records::<Value>(), reports);

    // A wrong DiffID: alpine-like's layers under a config that lies about the second one.
    let store = f.store().unwrap();
    let alpine_image = f.image("test/alpine-like");
    let m = manifest(alpine_image, None);
    let mut config: ImageConfig =
        serde_json::from_slice(alpine_image.blob(&m.config.digest).unwrap()).unwrap();
    let right = config.rootfs.diff_ids[1].clone();
    let wrong = Digest::sha256_of(b"some other layer");
    config.rootfs.diff_ids[1] = wrong.clone();
    let config_bytes = serde_json::to_vec(&config).unwrap();
    let config_digest = Digest::sha256_of(&config_bytes);
    store
        .put_blob(media_type::DOCKER_CONFIG, &config_bytes, &config_digest)
        .unwrap();
    let mut bad = m.clone();
    bad.config.digest = config_digest.clone();
    bad.config.size = config_bytes.len() as u64;
    let bad_bytes = serde_json::to_vec(&bad).unwrap();
    let bad_digest = Digest::sha256_of(&bad_bytes);
    store
        .put_blob(media_type::DOCKER_MANIFEST, &bad_bytes, &bad_digest)
        .unwrap();
    let mut blobs = vec![config_digest.clone()];
    blobs.extend(bad.layers.iter().map(|l| l.digest.clone()));
    store
        .index()
        .put_image(&NewImage {
            id: config_digest.clone(),
            target: bad_digest,
            target_media_type: media_type::DOCKER_MANIFEST.into(),
            created: config.created.clone(),
            platform: "linux/amd64".into(),
            blobs,
            labels: BTreeMap::new(),
            tags: vec![("docker.io/library/liar".into(), "1".into())],
            repo_digests: Vec::new(),
        })
        .unwrap();

    // A flipped byte in the middle of oci-zstd's zstd layer.
    let oci_manifest: Manifest = manifest(f.image("test/oci-zstd"), None);
    let zstd_layer = &oci_manifest.layers[0];
    assert_eq!(zstd_layer.media_type, media_type::OCI_LAYER_ZSTD);
    let path = store.blob_path(&zstd_layer.digest);
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let actual = Digest::sha256_of(&bytes);

    let run = inspect(&f, &["--verify"], &format!("{ids}liar:1\n")).failure(1, 2);
    let reports = run.records::<Value>();
    assert_eq!(reports.len(), 4);
    assert_eq!(reports[0]["Ok"], true);
    assert_eq!(reports[2]["Ok"], true);
    let corrupt = &reports[1];
    assert_eq!(corrupt["Id"], oci.to_string());
    assert_eq!(corrupt["Ok"], false);
    let problems = corrupt["Problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{corrupt}");
    assert_eq!(problems[0]["Blob"], zstd_layer.digest.to_string());
    assert_eq!(problems[0]["Kind"], "layer");
    assert_eq!(problems[0]["Expected"], zstd_layer.digest.to_string());
    assert_eq!(problems[0]["Actual"], actual.to_string());
    // Each names the command that repairs it: a pull by the digest it came by, or (for
    // an image no registry digest names) loading its archive again.
    assert_eq!(
        corrupt["Repair"],
        format!(
            "img-pull --verify {}@{}",
            f.reference("test/oci-zstd"),
            f.image("test/oci-zstd").digest()
        )
    );
    assert_eq!(
        reports[3]["Repair"],
        "img-pack load -i ARCHIVE (the archive this image was loaded from)"
    );
    assert_eq!(reports[0].get("Repair"), None);
    let liar = &reports[3];
    assert_eq!(liar["Id"], config_digest.to_string());
    assert_eq!(liar["RepoTags"], serde_json::json!(["liar:1"]));
    let problems = liar["Problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{liar}");
    assert_eq!(problems[0]["Blob"], m.layers[1].digest.to_string());
    assert_eq!(problems[0]["Expected"], wrong.to_string());
    assert_eq!(problems[0]["Actual"], right.to_string());
    // In a pipe the records go on; stderr still tells a person which images failed.
    assert!(
        run.stderr
            .contains(&format!("\"{}\": verification failed", &oci.hex()[..12])),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("\"liar:1\": verification failed"),
        "{}",
        run.stderr
    );

    // A template over the reports, and an image that is not there.
    let run = inspect(
        &f,
        &[
            "--verify",
            "-f",
            "{{.Ok}} {{len .Problems}}",
            &alpine.to_string(),
            "gone:1",
        ],
        "",
    )
    .failure(1, 1);
    assert_eq!(run.stdout, "true 0\n");
    assert!(
        run.stderr.contains("\"gone:1\": no such image: gone:1"),
        "{}",
        run.stderr
    );
    // --platform means nothing to --verify: a usage error.
    let run = inspect(
        &f,
        &["--verify", "--platform", "linux/amd64", &alpine.to_string()],
        "",
    );
    assert_eq!(run.code, 2);
}
