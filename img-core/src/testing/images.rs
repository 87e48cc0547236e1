//! Deterministic test images: real tar layers of seeded random and repeated-text files,
//! compressed with gzip or zstd, configs with true diff_ids, manifests in OCI and Docker
//! schema 2 flavours, and a three-platform index. The same seed gives the same bytes, so
//! digests are stable across runs and machines.

use std::collections::BTreeMap;
use std::io::Write;

use crate::digest::Digest;
use crate::oci::media_type::{self, Compression};
use crate::oci::{Descriptor, History, ImageConfig, Index, Manifest, Platform, RootFs, RunConfig};

/// Every test image was created at this instant (2024-01-01T00:00:00Z).
pub const CREATED: &str = "2024-01-01T00:00:00Z";
const MTIME: u64 = 1_704_067_200;

/// A generated image: everything a registry needs to serve `name:tag`.
#[derive(Debug, Clone)]
pub struct TestImage {
    /// The repository path (`test/multi`).
    pub name: String,
    /// The tag the top document is pushed under.
    pub tag: String,
    /// Configs and layers, each with its descriptor.
    pub blobs: Vec<Content>,
    /// The platform manifests of an index (pushed by digest before the index); empty
    /// for a single-platform image. Descriptors carry the platform.
    pub manifests: Vec<Content>,
    /// The tagged document: a manifest, or an index of `manifests`.
    pub top: Content,
}

impl TestImage {
    /// `name:tag`.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.name, self.tag)
    }

    /// The digest the tag resolves to.
    pub fn digest(&self) -> &Digest {
        &self.top.0.digest
    }

    /// Whether the top document is an index.
    pub fn is_index(&self) -> bool {
        media_type::is_index(&self.top.0.media_type)
    }

    /// The platforms of an index's manifests, in order (empty for a single image).
    pub fn platforms(&self) -> Vec<Platform> {
        self.manifests
            .iter()
            .filter_map(|(d, _)| d.platform.clone())
            .collect()
    }

    /// The bytes of the blob `digest`, if it is one of the image's.
    pub fn blob(&self, digest: &Digest) -> Option<&[u8]> {
        self.blobs
            .iter()
            .find(|(d, _)| &d.digest == digest)
            .map(|(_, b)| b.as_slice())
    }
}

/// SplitMix64: a tiny, fast, well-mixed PRNG. Not for secrets; for test content.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `len` random (incompressible) bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(len);
        out
    }
}

/// Which spec's media types an image uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// OCI image spec (gzip, zstd or plain layers).
    Oci,
    /// Docker schema 2 (gzip layers only: it has no zstd type).
    Docker,
}

/// One layer to generate: its uncompressed size (roughly) and its compression.
#[derive(Debug, Clone, Copy)]
pub struct LayerSpec {
    /// About how many bytes of file content the tar holds: half random, half text.
    pub size: usize,
    /// How the tar is compressed.
    pub compression: Compression,
}

/// An image to generate.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    /// The repository path.
    pub name: String,
    /// The tag.
    pub tag: String,
    /// The media types.
    pub flavor: Flavor,
    /// The platform written into the config.
    pub platform: Platform,
    /// The layers, bottom first.
    pub layers: Vec<LayerSpec>,
    /// Seeds the content; different seeds give different digests.
    pub seed: u64,
}

/// A tar of a few files: `etc/<tag>-release`, a random file and a repeated-text file
/// under `opt/<tag>/`, with fixed owners, modes and times.
pub fn layer_tar(tag: &str, size: usize, seed: u64) -> Vec<u8> {
    let mut rng = SplitMix64::new(seed);
    let random = rng.bytes(size / 2);
    let line =
        format!("img test layer {tag} seed {seed}: the quick brown fox jumps over the lazy dog\n");
    let text: Vec<u8> = line.bytes().cycle().take(size - size / 2).collect();
    let release = format!("NAME=img-test\nLAYER={tag}\nSEED={seed}\n");

    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8], dir: bool| {
        let mut h = tar::Header::new_ustar();
        if dir {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
        } else {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o644);
        }
        h.set_size(data.len() as u64);
        h.set_mtime(MTIME);
        h.set_uid(0);
        h.set_gid(0);
        // Writing into a Vec cannot fail, and the names are short ASCII.
        let _ = h.set_username("root");
        let _ = h.set_groupname("root");
        let _ = b.append_data(&mut h, path, data);
    };
    add("etc/", b"", true);
    add(&format!("etc/{tag}-release"), release.as_bytes(), false);
    add("opt/", b"", true);
    add(&format!("opt/{tag}/"), b"", true);
    add(&format!("opt/{tag}/random.bin"), &random, false);
    add(&format!("opt/{tag}/text.txt"), &text, false);
    b.into_inner().unwrap_or_default()
}

/// `data` compressed as asked, deterministically (gzip with no name and time 0; zstd
/// level 3, single-threaded).
pub fn compress(data: &[u8], compression: Compression) -> Vec<u8> {
    match compression {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            // Writes into a Vec cannot fail.
            let _ = e.write_all(data);
            e.finish().unwrap_or_default()
        }
        Compression::Zstd => zstd::encode_all(data, 3).unwrap_or_default(),
    }
}

fn layer_media_type(flavor: Flavor, c: Compression) -> &'static str {
    match (flavor, c) {
        (Flavor::Docker, _) => media_type::DOCKER_LAYER_GZIP,
        (Flavor::Oci, Compression::None) => media_type::OCI_LAYER_TAR,
        (Flavor::Oci, Compression::Gzip) => media_type::OCI_LAYER_GZIP,
        (Flavor::Oci, Compression::Zstd) => media_type::OCI_LAYER_ZSTD,
    }
}

/// Generates one single-platform image.
pub fn build_image(spec: &ImageSpec) -> TestImage {
    let (mut manifest_desc, manifest, blobs) = build_parts(spec);
    // A tagged manifest's descriptor carries no platform; only index entries do.
    manifest_desc.platform = None;
    TestImage {
        name: spec.name.clone(),
        tag: spec.tag.clone(),
        blobs,
        manifests: Vec::new(),
        top: (manifest_desc, manifest),
    }
}

/// A blob, a manifest or an index with its descriptor.
pub type Content = (Descriptor, Vec<u8>);

/// A manifest, its descriptor and its blobs.
fn build_parts(spec: &ImageSpec) -> (Descriptor, Vec<u8>, Vec<Content>) {
    let mut blobs = Vec::new();
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    let mut history = Vec::new();
    for (i, l) in spec.layers.iter().enumerate() {
        // Docker schema 2 has no zstd layer type: such a layer is gzip there.
        let compression = match (spec.flavor, l.compression) {
            (Flavor::Docker, _) => Compression::Gzip,
            (_, c) => c,
        };
        let seed = spec.seed.wrapping_mul(1000).wrapping_add(i as u64);
        let tar = layer_tar(&format!("layer{i}"), l.size, seed);
        diff_ids.push(Digest::sha256_of(&tar));
        let bytes = compress(&tar, compression);
        let desc = Descriptor::of(layer_media_type(spec.flavor, compression), &bytes);
        layers.push(desc.clone());
        blobs.push((desc, bytes));
        history.push(History {
            created: Some(CREATED.to_owned()),
            created_by: Some(format!("img test: layer {i} ({} bytes)", l.size)),
            ..History::default()
        });
    }
    let mut labels = BTreeMap::new();
    labels.insert(
        "org.opencontainers.image.title".to_owned(),
        spec.name.clone(),
    );
    labels.insert("dev.img.test.seed".to_owned(), spec.seed.to_string());
    let config = ImageConfig {
        created: Some(CREATED.to_owned()),
        architecture: spec.platform.architecture.clone(),
        os: spec.platform.os.clone(),
        variant: spec.platform.variant.clone(),
        config: Some(RunConfig {
            env: Some(vec![
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
                format!("IMG_TEST_SEED={}", spec.seed),
            ]),
            cmd: Some(vec!["/bin/sh".to_owned()]),
            working_dir: Some("/".to_owned()),
            labels: Some(labels),
            ..RunConfig::default()
        }),
        rootfs: RootFs {
            kind: "layers".to_owned(),
            diff_ids,
        },
        history,
        ..ImageConfig::default()
    };
    let config_bytes = to_json(&config);
    let config_type = match spec.flavor {
        Flavor::Oci => media_type::OCI_CONFIG,
        Flavor::Docker => media_type::DOCKER_CONFIG,
    };
    let config_desc = Descriptor::of(config_type, &config_bytes);
    blobs.insert(0, (config_desc.clone(), config_bytes));
    let manifest_type = match spec.flavor {
        Flavor::Oci => media_type::OCI_MANIFEST,
        Flavor::Docker => media_type::DOCKER_MANIFEST,
    };
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(manifest_type.to_owned()),
        config: config_desc,
        layers,
        subject: None,
        annotations: BTreeMap::new(),
    };
    let bytes = to_json(&manifest);
    let mut desc = Descriptor::of(manifest_type, &bytes);
    desc.platform = Some(spec.platform.clone());
    (desc, bytes, blobs)
}

/// Generates an OCI index of one image per spec (their tags are ignored; their names go
/// into the configs' title label).
pub fn build_index(name: &str, tag: &str, specs: &[ImageSpec]) -> TestImage {
    let mut blobs: Vec<Content> = Vec::new();
    let mut manifests = Vec::new();
    for spec in specs {
        let (desc, bytes, parts) = build_parts(spec);
        for (d, b) in parts {
            if !blobs.iter().any(|(e, _)| e.digest == d.digest) {
                blobs.push((d, b));
            }
        }
        manifests.push((desc, bytes));
    }
    let index = Index {
        schema_version: 2,
        media_type: Some(media_type::OCI_INDEX.to_owned()),
        manifests: manifests.iter().map(|(d, _)| d.clone()).collect(),
        annotations: BTreeMap::new(),
    };
    let bytes = to_json(&index);
    TestImage {
        name: name.to_owned(),
        tag: tag.to_owned(),
        blobs,
        manifests,
        top: (Descriptor::of(media_type::OCI_INDEX, &bytes), bytes),
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Our own plain structs always serialise.
    serde_json::to_vec_pretty(value).unwrap_or_default()
}

fn platform(os: &str, arch: &str, variant: Option<&str>) -> Platform {
    Platform {
        architecture: arch.to_owned(),
        os: os.to_owned(),
        variant: variant.map(str::to_owned),
        os_version: None,
        os_features: None,
    }
}

/// An OCI image of `n` gzip layers of about `layer_size` bytes each, for benchmarks:
/// `test/generated:<n>x<layer_size>-<seed>`.
pub fn image_with_layers(n: usize, layer_size: usize, seed: u64) -> TestImage {
    build_image(&ImageSpec {
        name: "test/generated".to_owned(),
        tag: format!("{n}x{layer_size}-{seed}"),
        flavor: Flavor::Oci,
        platform: platform("linux", "amd64", None),
        layers: vec![
            LayerSpec {
                size: layer_size,
                compression: Compression::Gzip,
            };
            n
        ],
        seed,
    })
}

/// `test/big:latest`: one OCI gzip layer holding about `layer_size` bytes of content, half
/// random and half text, so it is a little over `layer_size / 2` bytes compressed.
pub fn big_image(layer_size: usize) -> TestImage {
    build_image(&ImageSpec {
        name: "test/big".to_owned(),
        tag: "latest".to_owned(),
        flavor: Flavor::Oci,
        platform: platform("linux", "amd64", None),
        layers: vec![LayerSpec {
            size: layer_size,
            compression: Compression::Gzip,
        }],
        seed: 4,
    })
}

/// The images `cargo xtask registry` and the registry tests push:
///
/// - `test/alpine-like:latest` — Docker schema 2, two gzip layers, linux/amd64;
/// - `test/oci-zstd:1` — OCI, a zstd and a gzip layer, linux/amd64;
/// - `test/multi:latest` — an OCI index for linux/amd64, linux/arm64/v8, linux/arm/v7;
/// - `test/big:latest` — one layer of 4 MiB of content, about 2 MiB gzipped ([`big_image`]).
pub fn standard_set() -> Vec<TestImage> {
    let gz = |size| LayerSpec {
        size,
        compression: Compression::Gzip,
    };
    let zst = |size| LayerSpec {
        size,
        compression: Compression::Zstd,
    };
    let amd64 = platform("linux", "amd64", None);
    let alpine = build_image(&ImageSpec {
        name: "test/alpine-like".to_owned(),
        tag: "latest".to_owned(),
        flavor: Flavor::Docker,
        platform: amd64.clone(),
        layers: vec![gz(96 * 1024), gz(8 * 1024)],
        seed: 1,
    });
    let oci = build_image(&ImageSpec {
        name: "test/oci-zstd".to_owned(),
        tag: "1".to_owned(),
        flavor: Flavor::Oci,
        platform: amd64.clone(),
        layers: vec![zst(64 * 1024), gz(32 * 1024)],
        seed: 2,
    });
    let per_platform = |platform: Platform, seed| ImageSpec {
        name: "test/multi".to_owned(),
        tag: "latest".to_owned(),
        flavor: Flavor::Oci,
        platform,
        layers: vec![gz(48 * 1024), gz(4 * 1024)],
        seed,
    };
    let multi = build_index(
        "test/multi",
        "latest",
        &[
            per_platform(amd64, 30),
            per_platform(platform("linux", "arm64", Some("v8")), 31),
            per_platform(platform("linux", "arm", Some("v7")), 32),
        ],
    );
    vec![alpine, oci, multi, big_image(4 * 1024 * 1024)]
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::oci::Document;

    #[test]
    fn splitmix_is_the_reference_sequence() {
        // The first outputs of SplitMix64 seeded with 0, as published with the algorithm.
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(SplitMix64::new(7).bytes(13).len(), 13);
    }

    #[test]
    fn generation_is_deterministic() {
        let a = standard_set();
        let b = standard_set();
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.digest(), y.digest(), "{}", x.reference());
        }
        assert_ne!(a[0].digest(), a[1].digest());
    }

    #[test]
    fn configs_name_the_true_diff_ids_and_layers_unpack() {
        for image in standard_set() {
            let manifests: Vec<&[u8]> = if image.is_index() {
                image.manifests.iter().map(|(_, b)| b.as_slice()).collect()
            } else {
                vec![image.top.1.as_slice()]
            };
            for m in manifests {
                let Document::Manifest(m) = Document::parse(None, m).unwrap() else {
                    panic!("not a manifest");
                };
                let config: ImageConfig =
                    serde_json::from_slice(image.blob(&m.config.digest).unwrap()).unwrap();
                assert_eq!(config.rootfs.diff_ids.len(), m.layers.len());
                for (layer, diff_id) in m.layers.iter().zip(&config.rootfs.diff_ids) {
                    let bytes = image.blob(&layer.digest).unwrap();
                    assert_eq!(layer.size, bytes.len() as u64);
                    let mut tar = Vec::new();
                    match media_type::layer_compression(&layer.media_type).unwrap() {
                        Compression::Gzip => {
                            flate2::read::GzDecoder::new(bytes)
                                .read_to_end(&mut tar)
                                .unwrap();
                        }
                        Compression::Zstd => tar = zstd::decode_all(bytes).unwrap(),
                        Compression::None => tar = bytes.to_vec(),
                    }
                    assert_eq!(&Digest::sha256_of(&tar), diff_id);
                    let names: Vec<String> = tar::Archive::new(&tar[..])
                        .entries()
                        .unwrap()
                        .map(|e| e.unwrap().path().unwrap().display().to_string())
                        .collect();
                    assert!(names.iter().any(|n| n.ends_with("random.bin")), "{names:?}");
                }
            }
        }
    }

    #[test]
    fn docker_flavor_never_has_zstd_and_multi_has_three_platforms() {
        let set = standard_set();
        let alpine = &set[0];
        assert_eq!(alpine.top.0.media_type, media_type::DOCKER_MANIFEST);
        assert!(
            alpine
                .blobs
                .iter()
                .all(|(d, _)| !d.media_type.contains("zstd"))
        );
        let oci = &set[1];
        assert!(
            oci.blobs
                .iter()
                .any(|(d, _)| d.media_type == media_type::OCI_LAYER_ZSTD)
        );
        let multi = &set[2];
        assert!(multi.is_index());
        let shown: Vec<String> = multi.platforms().iter().map(|p| p.to_string()).collect();
        assert_eq!(shown, ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]);
        let big = big_image(1 << 20);
        let layer = &big.blobs[1].0;
        assert!(
            layer.size > 500_000,
            "random half stays incompressible: {}",
            layer.size
        );
    }
}
