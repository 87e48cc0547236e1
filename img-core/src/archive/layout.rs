//! The documents an image archive carries besides its blobs: docker's `manifest.json`
//! (one entry an image), `repositories` (legacy tags), `oci-layout`, and the paths blobs
//! live under in the OCI layout.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::oci::Descriptor;

/// `manifest.json`.
pub const MANIFEST_JSON: &str = "manifest.json";
/// `index.json` (OCI image layout).
pub const INDEX_JSON: &str = "index.json";
/// `oci-layout`.
pub const OCI_LAYOUT: &str = "oci-layout";
/// `repositories` (legacy tags).
pub const REPOSITORIES: &str = "repositories";
/// What `oci-layout` holds.
pub const OCI_LAYOUT_CONTENT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Annotation naming an image with its full reference (containerd, docker 25).
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";
/// Annotation naming an image in an OCI layout (docker 25 puts the tag alone there).
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// One image of `manifest.json`, with docker's keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// The config's path in the archive.
    #[serde(rename = "Config")]
    pub config: String,
    /// Familiar `name:tag`s, or null for an untagged image.
    #[serde(rename = "RepoTags", default)]
    pub repo_tags: Option<Vec<String>>,
    /// The layers' paths, base first.
    #[serde(rename = "Layers", default)]
    pub layers: Vec<String>,
    /// Descriptors by DiffID, for layers to keep as they were (foreign layers).
    #[serde(
        rename = "LayerSources",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub layer_sources: Option<BTreeMap<Digest, Descriptor>>,
}

/// `blobs/<alg>/<hex>`: where the OCI layout keeps `digest`.
pub fn blob_path(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm().as_str(), digest.hex())
}

/// The digest a `blobs/<alg>/<hex>` path names, parsed strictly; `None` for any other path.
pub fn digest_of_path(path: &str) -> Option<Digest> {
    let rest = path.strip_prefix("blobs/")?;
    let (alg, hex) = rest.split_once('/')?;
    Digest::parse(&format!("{alg}:{hex}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_paths_round_trip_and_refuse_garbage() {
        let d = Digest::sha256_of(b"x");
        assert_eq!(digest_of_path(&blob_path(&d)), Some(d));
        for bad in [
            "blobs/sha256/../../etc/passwd",
            "blobs/sha256/ABC",
            "blobs/md5/00",
            "blobs/sha256",
            "x/sha256/00",
        ] {
            assert_eq!(digest_of_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn manifest_json_reads_null_tags_and_layer_sources() {
        let d = Digest::sha256_of(b"x");
        let text = format!(
            r#"[{{"Config":"c.json","RepoTags":null,"Layers":["a/layer.tar"],"LayerSources":{{"{d}":{{"mediaType":"application/vnd.oci.image.layer.v1.tar","size":1,"digest":"{d}"}}}}}}]"#
        );
        let entries: Vec<ManifestEntry> = serde_json::from_str(&text).unwrap();
        assert_eq!(entries[0].repo_tags, None);
        assert_eq!(entries[0].layer_sources.as_ref().unwrap()[&d].size, 1);
    }
}
