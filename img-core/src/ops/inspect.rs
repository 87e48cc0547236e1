//! `img-inspect`: docker's image inspect object for an image of the store, built from its
//! manifest (or index), its config and its index rows.
//!
//! An image whose tag names an index (pulled with `--all-platforms`; its ID is the index
//! digest) shows one platform's config — `--platform`'s, which must be in the store, else
//! `DOCKER_DEFAULT_PLATFORM`'s or the host's when available, else the one the pull chose —
//! and lists every manifest of the index under `Manifests`, as docker's containerd store
//! does. `Descriptor` is what the image's tag names: its manifest, or its index.
//!
//! [`to_docker_json`] prints the array as `docker inspect` does; templates run over
//! [`inspect_typed`]'s Go-typed value, falling back to [`inspect_value`]'s JSON as docker
//! falls back to the daemon's, so docker users' `--format` templates print what docker's do.

mod record;
mod typed;

pub use record::{
    AttestationData, ContainerConfig, GRAPH_DRIVER_NAME, GraphDriver, ImageData, ImageInspect,
    ManifestSize, ManifestSummary, Metadata, RootFs, UnpackedSize, ZERO_TIME, to_docker_json,
    to_docker_json_compact,
};
pub use typed::inspect_typed;

use crate::digest::Digest;
use crate::error::{Error, ErrorKind, Result};
use crate::index::ImageInfo;
use crate::oci::{Descriptor, Document, ImageConfig, Index, Manifest, Platform, media_type};
use crate::store::Store;

/// How to inspect.
#[derive(Debug, Clone, Default)]
pub struct InspectOptions {
    /// The platform whose config to show for an image that is an index (`--platform`);
    /// it must be in the store. For a one-platform image, it must be the image's.
    pub platform: Option<Platform>,
    /// The manifest (or index) the given reference resolved to, with its media type:
    /// shown as `Descriptor` when the store has it (one image can be reached through
    /// several manifests). `None`: the image's own target.
    pub resolved: Option<(Digest, String)>,
}

/// What [`InspectOptions::resolved`] should be for an image found through `via`: the
/// manifest its tag recorded, or the digest it was named by.
pub fn resolved_target(
    store: &Store,
    via: &crate::ops::resolve::Via,
) -> Result<Option<(Digest, String)>> {
    use crate::ops::resolve::Via;
    match via {
        Via::Tag(r) => {
            let tag = r.tag().unwrap_or(crate::reference::DEFAULT_TAG);
            store.index().tag_target(&r.name(), tag)
        }
        Via::Digest(r) => Ok(match r.digest() {
            Some(d) => store
                .index()
                .blob(d)?
                .filter(|b| {
                    media_type::is_manifest(&b.media_type) || media_type::is_index(&b.media_type)
                })
                .map(|b| (d.clone(), b.media_type)),
            None => None,
        }),
        Via::Id => Ok(None),
    }
}

/// docker's image inspect object for `image`.
pub fn inspect(store: &Store, image: &ImageInfo, options: &InspectOptions) -> Result<ImageInspect> {
    let target = match &options.resolved {
        Some((d, mt)) if store.blob_path(d).is_file() => descriptor_of(store, d, mt)?,
        _ => descriptor_of(store, &image.target, &image.target_media_type)?,
    };
    let (config, manifests) = if media_type::is_index(&image.target_media_type) {
        let index = read_index(store, &image.target)?;
        let summaries = summarize(store, &index)?;
        let chosen = choose(&index, &summaries, image, options)?;
        let manifest = read_manifest(store, &chosen.digest)?;
        (read_config(store, &manifest)?, summaries)
    } else {
        let manifest = read_manifest(store, &image.target)?;
        let config = read_config(store, &manifest)?;
        if let Some(want) = &options.platform {
            let have = platform_of(&config);
            if !want.matches(&have) {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "the image's platform is {have}, not {want}: it has no other platform in the store"
                    ),
                ));
            }
        }
        (config, Vec::new())
    };
    let f = record::from_config(&config);
    Ok(ImageInspect {
        id: image.id.clone(),
        repo_tags: image.familiar_tags()?,
        repo_digests: image.familiar_digests()?,
        parent: String::new(),
        comment: f.comment,
        created: f.created,
        docker_version: f.docker_version,
        author: f.author,
        config: f.config,
        architecture: f.architecture,
        variant: f.variant,
        os: f.os,
        os_version: f.os_version,
        size: image.size,
        graph_driver: GraphDriver {
            data: None,
            name: GRAPH_DRIVER_NAME.to_owned(),
        },
        rootfs: f.rootfs,
        metadata: Metadata {
            last_tag_time: image
                .last_tag_time
                .clone()
                .unwrap_or_else(|| ZERO_TIME.to_owned()),
        },
        descriptor: target,
        manifests,
    })
}

/// [`inspect`]'s record as JSON, what `--format` templates run over.
pub fn inspect_value(record: &ImageInspect) -> serde_json::Value {
    record::to_value(record)
}

/// The descriptor of a stored blob: its media type as recorded, its size from its row
/// (else its file).
fn descriptor_of(store: &Store, digest: &Digest, media_type: &str) -> Result<Descriptor> {
    let size = match store.index().blob(digest)? {
        Some(row) => row.size,
        None => std::fs::metadata(store.blob_path(digest))
            .map(|m| m.len())
            .map_err(|_| missing(digest))?,
    };
    Ok(Descriptor {
        media_type: media_type.to_owned(),
        digest: digest.clone(),
        size,
        urls: Vec::new(),
        annotations: Default::default(),
        platform: None,
        artifact_type: None,
    })
}

fn missing(digest: &Digest) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("blob {digest} of the image is missing from the store; pull the image again"),
    )
}

fn read_document(store: &Store, digest: &Digest) -> Result<Document> {
    let bytes = store.read_blob(digest)?;
    Document::parse(None, &bytes).map_err(|e| e.context(format!("reading {digest}")))
}

fn read_index(store: &Store, digest: &Digest) -> Result<Index> {
    match read_document(store, digest)? {
        Document::Index(i) => Ok(i),
        Document::Manifest(_) => Err(not_a(digest, "an index, but it is a manifest")),
    }
}

fn read_manifest(store: &Store, digest: &Digest) -> Result<Manifest> {
    match read_document(store, digest)? {
        Document::Manifest(m) => Ok(*m),
        Document::Index(_) => Err(not_a(digest, "a manifest, but it is an index")),
    }
}

fn not_a(digest: &Digest, what: &str) -> Error {
    Error::new(
        ErrorKind::Corrupt,
        format!("the store records {digest} as {what}"),
    )
}

fn read_config(store: &Store, manifest: &Manifest) -> Result<ImageConfig> {
    let d = &manifest.config.digest;
    let bytes = store.read_blob(d)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::new(
            ErrorKind::InvalidDocument,
            format!("image config {d} is malformed: {e}"),
        )
    })
}

fn platform_of(config: &ImageConfig) -> Platform {
    Platform {
        architecture: config.architecture.clone(),
        os: config.os.clone(),
        variant: config.variant.clone().filter(|v| !v.is_empty()),
        ..Platform::default()
    }
}

/// One `Manifests` entry per index entry, in the index's order.
fn summarize(store: &Store, index: &Index) -> Result<Vec<ManifestSummary>> {
    let mut out = Vec::with_capacity(index.manifests.len());
    for entry in &index.manifests {
        let mut content = 0;
        let mut available = false;
        let mut config_platform = None;
        if let Some(size) = stored_size(store, &entry.digest)? {
            content += size;
            available = true;
            match read_document(store, &entry.digest) {
                Ok(Document::Manifest(m)) => {
                    for b in m.blobs() {
                        match stored_size(store, &b.digest)? {
                            Some(size) => content += size,
                            None => available = false,
                        }
                    }
                    if available && let Ok(c) = read_config(store, &m) {
                        config_platform = Some(platform_of(&c));
                    }
                }
                // A nested index or an unreadable manifest: not something we can show.
                _ => available = false,
            }
        }
        let kind = kind_of(entry);
        let image_data = (kind == "image").then(|| ImageData {
            platform: entry
                .platform
                .clone()
                .or(config_platform)
                .unwrap_or_default(),
            containers: Vec::new(),
            size: UnpackedSize { unpacked: 0 },
        });
        let attestation_data = (kind == "attestation")
            .then(|| {
                entry
                    .annotations
                    .get(ATTESTATION_FOR)
                    .and_then(|d| Digest::parse(d).ok())
                    .map(|d| AttestationData { r#for: d })
            })
            .flatten();
        out.push(ManifestSummary {
            id: entry.digest.clone(),
            descriptor: entry.clone(),
            available,
            size: ManifestSize {
                total: content,
                content,
            },
            kind: kind.to_owned(),
            image_data,
            attestation_data,
        });
    }
    Ok(out)
}

/// BuildKit's annotations on an attestation manifest of an index.
const ATTESTATION_TYPE: &str = "vnd.docker.reference.type";
const ATTESTATION_FOR: &str = "vnd.docker.reference.digest";

fn kind_of(entry: &Descriptor) -> &'static str {
    if entry.annotations.get(ATTESTATION_TYPE).map(String::as_str) == Some("attestation-manifest") {
        "attestation"
    } else if media_type::is_manifest(&entry.media_type)
        && entry.platform.as_ref().is_none_or(|p| p.os != "unknown")
    {
        "image"
    } else {
        "unknown"
    }
}

/// The size of a blob that is in the store (row and file), or `None`.
fn stored_size(store: &Store, digest: &Digest) -> Result<Option<u64>> {
    Ok(match store.index().blob(digest)? {
        Some(row) if store.blob_path(digest).is_file() => Some(row.size),
        _ => None,
    })
}

/// The index entry whose config to show (see the module docs for the order).
fn choose<'a>(
    index: &'a Index,
    summaries: &[ManifestSummary],
    image: &ImageInfo,
    options: &InspectOptions,
) -> Result<&'a Descriptor> {
    let usable = |want: &Platform| {
        index.manifests.iter().zip(summaries).find(|(d, s)| {
            s.available && s.kind == "image" && d.platform.as_ref().is_some_and(|p| want.matches(p))
        })
    };
    if let Some(want) = &options.platform {
        return match usable(want) {
            Some((d, _)) => Ok(d),
            None => {
                let listed = index
                    .manifests
                    .iter()
                    .any(|d| d.platform.as_ref().is_some_and(|p| want.matches(p)));
                let msg = if listed {
                    format!(
                        "platform {want} of the image is not in the store; pull it with --platform {want}"
                    )
                } else {
                    let have: Vec<String> = index
                        .images()
                        .filter_map(|d| d.platform.as_ref().map(Platform::to_string))
                        .collect();
                    format!(
                        "the image has no platform {want} (it has {})",
                        have.join(", ")
                    )
                };
                Err(Error::new(ErrorKind::NotFound, msg))
            }
        };
    }
    let mut preferences = Vec::new();
    if let Ok(p) = std::env::var("DOCKER_DEFAULT_PLATFORM")
        && let Ok(p) = Platform::parse(&p)
    {
        preferences.push(p);
    }
    preferences.push(Platform::host());
    preferences.extend(Platform::parse(&image.platform));
    for want in &preferences {
        if let Some((d, _)) = usable(want) {
            return Ok(d);
        }
    }
    index
        .manifests
        .iter()
        .zip(summaries)
        .find(|(_, s)| s.available && s.kind == "image")
        .map(|(d, _)| d)
        .ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "no manifest of index {} is complete in the store; pull the image again",
                    image.target
                ),
            )
        })
}

#[cfg(test)]
pub(crate) mod tests;
