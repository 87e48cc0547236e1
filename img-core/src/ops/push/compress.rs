//! Uncompressed layers compressed for a push, as docker pushes them: an image of a legacy
//! archive (`docker save` of a `docker import`) holds plain tars, and it goes up with
//! gzip layers (`--compression-format gzip`, the default), zstd ones, or as stored
//! (`none`). Layers already compressed go up as stored.
//!
//! The compressed copy is a blob of the store like any other, its DiffID claim (the plain
//! tar's digest) recorded verified, since img made it from that tar read whole and
//! checked: a re-push finds it by DiffID and compresses nothing. The manifest that goes
//! up is a new one over those layers, its config unchanged (so is the image ID); it is
//! stored, and the push records its digest as the RepoDigest, pinning what it names.
//! Every blob is written under a lease and committed under the digest its bytes hash to.

use std::io::{Read, Write};

use crate::digest::{Algorithm, Digest, VerifyingReader};
use crate::error::{Error, ErrorKind, Result};
use crate::index::LayerDiffId;
use crate::oci::media_type::{self, Compression};
use crate::oci::{Descriptor, Manifest};
use crate::store::{Lease, Store};

/// How a push sends uncompressed layers (`--compression-format`, as podman names it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CompressionFormat {
    /// gzip, as docker pushes them.
    #[default]
    Gzip,
    /// zstd (an OCI manifest; docker 20.10 cannot pull it).
    Zstd,
    /// As stored: plain tars.
    None,
}

impl std::str::FromStr for CompressionFormat {
    type Err = Error;

    fn from_str(s: &str) -> Result<CompressionFormat> {
        match s {
            "gzip" => Ok(CompressionFormat::Gzip),
            "zstd" => Ok(CompressionFormat::Zstd),
            "none" => Ok(CompressionFormat::None),
            other => Err(Error::usage(format!(
                "invalid compression format {}: use gzip, zstd or none",
                crate::quote::quote(other)
            ))),
        }
    }
}

/// The manifest a push sends instead of the stored one.
#[derive(Debug)]
pub(super) struct Converted {
    /// The manifest over the compressed layers.
    pub manifest: Manifest,
    /// Its bytes, stored.
    pub bytes: Vec<u8>,
    /// Its digest.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// What it pins: itself, its config and its layers.
    pub closure: Vec<Digest>,
}

/// The manifest to push for `m` when it has uncompressed layers that `format` compresses
/// (`None`: push it as stored). Compressed copies are found by DiffID or made now.
pub(super) fn convert(
    store: &Store,
    lease: &Lease<'_>,
    m: &Manifest,
    media_type_of_m: &str,
    format: CompressionFormat,
) -> Result<Option<Converted>> {
    let wanted = match format {
        CompressionFormat::None => return Ok(None),
        CompressionFormat::Gzip => Compression::Gzip,
        CompressionFormat::Zstd => Compression::Zstd,
    };
    let plain =
        |l: &Descriptor| media_type::layer_compression(&l.media_type) == Some(Compression::None);
    if !m.layers.iter().any(plain) {
        return Ok(None);
    }
    let docker = media_type::base(media_type_of_m) == media_type::DOCKER_MANIFEST;
    let layer_type = match (wanted, docker) {
        (Compression::Gzip, true) => media_type::DOCKER_LAYER_GZIP,
        (Compression::Gzip, false) => media_type::OCI_LAYER_GZIP,
        (_, false) => media_type::OCI_LAYER_ZSTD,
        (_, true) => {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "a Docker schema 2 manifest cannot name zstd layers: push with \
                 --compression-format gzip",
            ));
        }
    };
    let mut layers = Vec::with_capacity(m.layers.len());
    for l in &m.layers {
        if !plain(l) {
            layers.push(l.clone());
            continue;
        }
        let (digest, size) = match compressed_copy(store, lease, &l.digest, wanted)? {
            Some(found) => found,
            None => compress(store, lease, l, wanted, layer_type)?,
        };
        layers.push(Descriptor {
            media_type: layer_type.to_owned(),
            digest,
            size,
            ..l.clone()
        });
    }
    let manifest = Manifest {
        layers,
        ..m.clone()
    };
    let bytes = serde_json::to_vec(&manifest).map_err(|e| {
        Error::new(
            ErrorKind::InvalidDocument,
            format!("encoding the manifest to push: {e}"),
        )
    })?;
    let digest = Digest::sha256_of(&bytes);
    let media_type = manifest
        .media_type
        .clone()
        .unwrap_or_else(|| media_type_of_m.to_owned());
    lease.protect(&digest)?;
    store.put_blob(&media_type, &bytes, &digest)?;
    let mut closure: Vec<Digest> = manifest.blobs().map(|d| d.digest.clone()).collect();
    closure.push(digest.clone());
    Ok(Some(Converted {
        manifest,
        bytes,
        digest,
        media_type,
        closure,
    }))
}

/// A stored copy of the layer `diff_id` compressed as `wanted` whose claim img verified,
/// pinned: what an earlier push made.
fn compressed_copy(
    store: &Store,
    lease: &Lease<'_>,
    diff_id: &Digest,
    wanted: Compression,
) -> Result<Option<(Digest, u64)>> {
    for (digest, verified) in store.index().layers_with_diff_id(diff_id)? {
        if !verified || &digest == diff_id {
            continue;
        }
        lease.protect(&digest)?;
        let Some(row) = store.index().blob(&digest)? else {
            continue;
        };
        if media_type::layer_compression(&row.media_type) == Some(wanted)
            && store.blob_path(&digest).is_file()
        {
            return Ok(Some((digest, row.size)));
        }
    }
    Ok(None)
}

/// Compresses the plain layer `l` into a new blob of the store; its digest and size.
fn compress(
    store: &Store,
    lease: &Lease<'_>,
    l: &Descriptor,
    wanted: Compression,
    layer_type: &str,
) -> Result<(Digest, u64)> {
    let doing = || format!("compressing layer {} for the push", l.digest);
    let file = store.open_blob(&l.digest)?;
    // Read whole and checked: a damaged tar is never compressed into a "verified" copy.
    let mut source = VerifyingReader::new(file, l.digest.clone(), Some(l.size));
    let mut writer = store.import(Algorithm::Sha256, u64::MAX)?;
    let io = |e: std::io::Error| Error::from(e).context(doing());
    match wanted {
        Compression::Zstd => {
            let mut enc = zstd::stream::Encoder::new(&mut writer, 3).map_err(io)?;
            std::io::copy(&mut source, &mut enc).map_err(io)?;
            enc.finish().map_err(io)?;
        }
        _ => {
            let mut enc =
                flate2::write::GzEncoder::new(&mut writer, flate2::Compression::default());
            std::io::copy(&mut source, &mut enc).map_err(io)?;
            enc.finish().map_err(io)?.flush().map_err(io)?;
        }
    }
    // The verifying reader checks at its end: one more read makes sure it was reached.
    let mut probe = [0u8; 1];
    if source.read(&mut probe).map_err(io)? != 0 {
        return Err(Error::new(
            ErrorKind::DigestMismatch,
            "the layer is longer than its size",
        )
        .context(doing()));
    }
    let staged = writer.finish()?;
    let digest = staged.digest().clone();
    let size = staged.size();
    lease.protect(&digest)?;
    staged.commit(layer_type)?;
    store.index().put_diff_ids(&[LayerDiffId {
        digest: digest.clone(),
        diff_id: l.digest.clone(),
        verified: true,
    }])?;
    Ok((digest, size))
}

/// The index `bytes` naming `children` (digest and size, in its order) instead of the
/// stored manifests: every other field kept as it was, so that only what the push
/// changed differs.
pub(super) fn reindex(bytes: &[u8], children: &[(Digest, u64)]) -> Result<Vec<u8>> {
    let invalid = |why: String| {
        Error::new(
            ErrorKind::InvalidDocument,
            format!("rewriting the index to push: {why}"),
        )
    };
    let mut doc: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
    let entries = doc
        .get_mut("manifests")
        .and_then(serde_json::Value::as_array_mut)
        .filter(|m| m.len() == children.len())
        .ok_or_else(|| invalid("its manifests are not the ones read".to_owned()))?;
    for (entry, (digest, size)) in entries.iter_mut().zip(children) {
        let entry = entry
            .as_object_mut()
            .ok_or_else(|| invalid("a manifest entry is not an object".to_owned()))?;
        entry.insert("digest".to_owned(), digest.to_string().into());
        entry.insert("size".to_owned(), (*size).into());
    }
    serde_json::to_vec(&doc).map_err(|e| invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reindex_changes_only_the_children_it_names() {
        let a = Digest::sha256_of(b"a");
        let b = Digest::sha256_of(b"b");
        let c = Digest::sha256_of(b"c");
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{a}","size":10,"platform":{{"architecture":"amd64","os":"linux"}}}},{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{b}","size":20,"annotations":{{"k":"v"}}}}],"annotations":{{"x":"y"}}}}"#
        );
        let out = reindex(index.as_bytes(), &[(c.clone(), 30), (b.clone(), 20)]).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["manifests"][0]["digest"], c.to_string());
        assert_eq!(v["manifests"][0]["size"], 30);
        assert_eq!(v["manifests"][0]["platform"]["architecture"], "amd64");
        assert_eq!(v["manifests"][1]["digest"], b.to_string());
        assert_eq!(v["manifests"][1]["annotations"]["k"], "v");
        assert_eq!(v["annotations"]["x"], "y");
        assert_eq!(v["mediaType"], "application/vnd.oci.image.index.v1+json");
        // A list of another length is not the index that was read.
        assert!(reindex(index.as_bytes(), &[(c, 30)]).is_err());
    }
}
