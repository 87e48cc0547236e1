//! Tests of inspect over images built in a temporary store, and the small image builder
//! that verify's tests share.

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::{Value, json};

use super::*;
use crate::index::NewImage;
use crate::oci::media_type::Compression;
use crate::oci::{RootFs, RunConfig};

pub(crate) const DOCKER_NAME: &str = "docker.io/library/app";

/// `data` compressed as a layer would be.
pub(crate) fn compress(data: &[u8], c: Compression) -> Vec<u8> {
    match c {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Compression::Zstd => zstd::stream::encode_all(data, 3).unwrap(),
    }
}

/// One platform's manifest, config and layers committed to `store`; `bad_diff` writes a
/// wrong DiffID for the last layer. Returns the manifest's descriptor (with `platform`)
/// and every blob digest.
pub(crate) fn put_manifest(
    store: &Store,
    platform: &str,
    layers: &[(Compression, Vec<u8>)],
    bad_diff: bool,
) -> (Descriptor, Vec<Digest>) {
    // As written (Platform::parse would drop arm64's "v8", which real configs carry).
    let parts: Vec<&str> = platform.split('/').collect();
    let p = Platform {
        os: parts[0].into(),
        architecture: parts[1].into(),
        variant: parts.get(2).map(|v| v.to_string()),
        ..Platform::default()
    };
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for (c, content) in layers {
        let bytes = compress(content, *c);
        let mt = match c {
            Compression::None => media_type::OCI_LAYER_TAR,
            Compression::Gzip => media_type::OCI_LAYER_GZIP,
            Compression::Zstd => media_type::OCI_LAYER_ZSTD,
        };
        let d = Descriptor::of(mt, &bytes);
        store.put_blob(mt, &bytes, &d.digest).unwrap();
        descs.push(d);
        diff_ids.push(Digest::sha256_of(content));
    }
    if bad_diff && let Some(last) = diff_ids.last_mut() {
        *last = Digest::sha256_of(b"not the content");
    }
    let mut labels = BTreeMap::new();
    labels.insert("org.example.platform".to_owned(), platform.to_owned());
    let mut ports = BTreeMap::new();
    ports.insert("8080/tcp".to_owned(), json!({}));
    let config = ImageConfig {
        created: Some("2024-01-01T00:00:00Z".into()),
        author: Some("tester".into()),
        architecture: p.architecture.clone(),
        os: p.os.clone(),
        variant: p.variant.clone(),
        config: Some(RunConfig {
            env: Some(vec!["PATH=/bin".into(), format!("PLATFORM={platform}")]),
            cmd: Some(vec!["/bin/app".into()]),
            exposed_ports: Some(ports),
            labels: Some(labels),
            working_dir: Some("/srv".into()),
            ..RunConfig::default()
        }),
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids,
        },
        ..ImageConfig::default()
    };
    let config_bytes = serde_json::to_vec(&config).unwrap();
    let config_desc = Descriptor::of(media_type::OCI_CONFIG, &config_bytes);
    store
        .put_blob(media_type::OCI_CONFIG, &config_bytes, &config_desc.digest)
        .unwrap();
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(media_type::OCI_MANIFEST.into()),
        config: config_desc.clone(),
        layers: descs.clone(),
        subject: None,
        annotations: BTreeMap::new(),
    };
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let mut desc = Descriptor::of(media_type::OCI_MANIFEST, &bytes);
    store
        .put_blob(media_type::OCI_MANIFEST, &bytes, &desc.digest)
        .unwrap();
    let mut blobs = vec![desc.digest.clone(), config_desc.digest];
    blobs.extend(descs.into_iter().map(|d| d.digest));
    desc.platform = Some(p);
    (desc, blobs)
}

fn layers(seed: &str) -> Vec<(Compression, Vec<u8>)> {
    vec![
        (
            Compression::Gzip,
            format!("{seed} base ").repeat(5000).into_bytes(),
        ),
        (
            Compression::Zstd,
            format!("{seed} top ").repeat(3000).into_bytes(),
        ),
    ]
}

/// A one-platform image `app:<tag>` (ID = config digest, tag names the manifest).
pub(crate) fn put_single(store: &Store, tag: &str, bad_diff: bool) -> ImageInfo {
    let (m, blobs) = put_manifest(store, "linux/amd64", &layers(tag), bad_diff);
    let config = blobs[1].clone();
    store
        .index()
        .put_image(&NewImage {
            id: config,
            target: m.digest.clone(),
            target_media_type: m.media_type.clone(),
            created: Some("2024-01-01T00:00:00Z".into()),
            platform: "linux/amd64".into(),
            blobs,
            labels: BTreeMap::new(),
            tags: vec![(DOCKER_NAME.into(), tag.into())],
            repo_digests: vec![(DOCKER_NAME.into(), m.digest)],
        })
        .unwrap()
}

/// An index image `app:multi` of amd64 and arm64/v8 (ID = index digest) and an arm/v7
/// entry that is not in the store, as after a pull of some platforms.
pub(crate) fn put_multi(store: &Store) -> ImageInfo {
    let (amd, mut blobs) = put_manifest(store, "linux/amd64", &layers("amd"), false);
    let (arm, arm_blobs) = put_manifest(store, "linux/arm64/v8", &layers("arm"), false);
    blobs.extend(arm_blobs);
    let mut absent = Descriptor::of(media_type::OCI_MANIFEST, b"never stored");
    absent.platform = Some(Platform::parse("linux/arm/v7").unwrap());
    let index = Index {
        schema_version: 2,
        media_type: Some(media_type::OCI_INDEX.into()),
        manifests: vec![amd, arm, absent],
        annotations: BTreeMap::new(),
    };
    let bytes = serde_json::to_vec(&index).unwrap();
    let d = Digest::sha256_of(&bytes);
    store.put_blob(media_type::OCI_INDEX, &bytes, &d).unwrap();
    store
        .index()
        .put_image(&NewImage {
            id: d.clone(),
            target: d.clone(),
            target_media_type: media_type::OCI_INDEX.into(),
            created: Some("2024-01-01T00:00:00Z".into()),
            platform: "linux/amd64".into(),
            blobs,
            labels: BTreeMap::new(),
            tags: vec![(DOCKER_NAME.into(), "multi".into())],
            repo_digests: vec![(DOCKER_NAME.into(), d)],
        })
        .unwrap()
}

fn value(store: &Store, image: &ImageInfo, platform: Option<&str>) -> Value {
    let options = InspectOptions {
        platform: platform.map(|p| Platform::parse(p).unwrap()),
        resolved: None,
    };
    inspect_value(&inspect(store, image, &options).unwrap())
}

#[test]
fn single_platform_image_has_dockers_shape() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let image = put_single(&store, "1", false);
    let v = value(&store, &image, None);
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "Id",
            "RepoTags",
            "RepoDigests",
            "Parent",
            "Comment",
            "Created",
            "DockerVersion",
            "Author",
            "Config",
            "Architecture",
            "Os",
            "Size",
            "GraphDriver",
            "RootFS",
            "Metadata",
            "Descriptor"
        ]
    );
    assert_eq!(v["Id"], image.id.to_string());
    assert_eq!(v["RepoTags"], json!(["app:1"]));
    assert_eq!(v["RepoDigests"], json!([format!("app@{}", image.target)]));
    assert_eq!(v["Author"], "tester");
    assert_eq!(v["Created"], "2024-01-01T00:00:00Z");
    assert_eq!(v["Config"]["Cmd"], json!(["/bin/app"]));
    assert_eq!(v["Config"]["ExposedPorts"], json!({"8080/tcp": {}}));
    assert_eq!(v["Config"]["WorkingDir"], "/srv");
    assert_eq!(v["Config"]["Entrypoint"], Value::Null);
    assert_eq!(v["Size"], image.size);
    assert!(image.size > 0);
    assert_eq!(v["RootFS"]["Type"], "layers");
    assert_eq!(v["RootFS"]["Layers"].as_array().unwrap().len(), 2);
    assert_eq!(v["GraphDriver"], json!({"Data": null, "Name": "img"}));
    assert_eq!(
        v["Metadata"]["LastTagTime"],
        image.last_tag_time.clone().unwrap()
    );
    assert_eq!(v["Descriptor"]["digest"], image.target.to_string());
    assert_eq!(v["Descriptor"]["mediaType"], media_type::OCI_MANIFEST);
    let size = store.index().blob(&image.target).unwrap().unwrap().size;
    assert_eq!(v["Descriptor"]["size"], size);
}

#[test]
fn a_platform_other_than_the_images_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let image = put_single(&store, "1", false);
    assert_eq!(value(&store, &image, Some("linux/amd64"))["Os"], "linux");
    let options = InspectOptions {
        platform: Some(Platform::parse("linux/arm64").unwrap()),
        resolved: None,
    };
    let err = inspect(&store, &image, &options).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("linux/amd64"), "{err}");
}

#[test]
fn an_index_shows_one_platform_and_lists_its_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let image = put_multi(&store);
    let index = read_index(&store, &image.target).unwrap();
    let v = value(&store, &image, Some("linux/arm64"));
    assert_eq!(v["Id"], image.target.to_string());
    assert_eq!(v["Architecture"], "arm64");
    assert_eq!(v["Variant"], "v8");
    assert!(
        v["Config"]["Env"]
            .as_array()
            .unwrap()
            .contains(&json!("PLATFORM=linux/arm64/v8"))
    );
    assert_eq!(v["Descriptor"]["mediaType"], media_type::OCI_INDEX);
    assert_eq!(v["Descriptor"]["digest"], image.target.to_string());
    let m = v["Manifests"].as_array().unwrap();
    assert_eq!(m.len(), 3);
    for (entry, desc) in m.iter().zip(&index.manifests) {
        assert_eq!(entry["ID"], desc.digest.to_string());
        assert_eq!(entry["Descriptor"]["digest"], desc.digest.to_string());
        assert_eq!(entry["Kind"], "image");
        assert_eq!(entry["ImageData"]["Containers"], json!([]));
    }
    assert_eq!(m[0]["Available"], true);
    assert_eq!(m[1]["Available"], true);
    assert_eq!(m[2]["Available"], false);
    assert_eq!(m[2]["Size"]["Content"], 0);
    assert_eq!(m[1]["ImageData"]["Platform"]["architecture"], "arm64");
    assert!(m[0]["Size"]["Content"].as_u64().unwrap() > 0);
    // The arm/v7 entry is listed but not pulled: asking for it says so.
    let options = InspectOptions {
        platform: Some(Platform::parse("linux/arm/v7").unwrap()),
        resolved: None,
    };
    let err = inspect(&store, &image, &options).unwrap_err();
    assert!(err.to_string().contains("not in the store"), "{err}");
    let options = InspectOptions {
        platform: Some(Platform::parse("linux/s390x").unwrap()),
        resolved: None,
    };
    let err = inspect(&store, &image, &options).unwrap_err();
    assert!(
        err.to_string().contains("has no platform linux/s390x"),
        "{err}"
    );
}

#[test]
fn an_index_defaults_to_an_available_platform() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let image = put_multi(&store);
    let v = value(&store, &image, None);
    let host = Platform::host();
    let arch = v["Architecture"].as_str().unwrap();
    if host.architecture == "arm64" {
        assert_eq!(arch, "arm64");
    } else {
        // Not the host's: the one the pull chose (amd64 here).
        assert_eq!(arch, "amd64");
    }
}

#[test]
fn missing_config_is_an_error_naming_the_blob() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let image = put_single(&store, "1", false);
    std::fs::remove_file(store.blob_path(&image.id)).unwrap();
    let err = inspect(&store, &image, &InspectOptions::default()).unwrap_err();
    assert!(err.to_string().contains(&image.id.to_string()), "{err}");
}
