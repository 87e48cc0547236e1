//! `img-inspect --verify`: re-hash every blob an image pins (index, manifests, configs,
//! layers) and check each layer's DiffID against its config, streaming — a layer is read
//! once, hashed as stored and, decompressed (gzip or zstd) on the fly, hashed again; no
//! layer is ever held in memory.
//!
//! Verification reads only: a problem is reported with the command that repairs it
//! ([`VerifyReport::repair`]: `img-pull --verify` for an image that came from a registry,
//! which fetches again exactly the damaged blobs; loading its archive again otherwise). A
//! layer shared by several manifests of an index is read once.

use std::collections::{BTreeSet, HashMap};
use std::io::{self, BufReader, Read};

use serde::Serialize;

use crate::compression::decompress_layer;
use crate::digest::{Digest, Hasher, HashingReader, HashingWriter};
use crate::error::{Error, Result};
use crate::index::ImageInfo;
use crate::oci::media_type::{self, Compression};
use crate::oci::{Descriptor, Document, ImageConfig, MAX_MANIFEST_SIZE, Manifest};
use crate::store::Store;

/// The read buffer of one layer: few syscalls, little memory.
const BUFFER: usize = 256 * 1024;
/// Largest config read into memory (docker's daemon caps configs far below this).
const MAX_CONFIG_SIZE: u64 = 64 * 1024 * 1024;

/// What `--verify` found for one image. In a pipe it is one JSON line:
///
/// ```json
/// {"Id": "sha256:…", "RepoTags": ["alpine:3.20"], "Ok": false, "Blobs": 4, "Bytes": 3624110,
///  "Problems": [{"Blob": "sha256:…", "Kind": "layer", "Expected": "sha256:…",
///                "Actual": "sha256:…", "Message": "layer sha256:… is corrupt: …"}]}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VerifyReport {
    /// The image ID.
    #[serde(rename = "Id")]
    pub id: Digest,
    /// Its tags, familiar forms.
    pub repo_tags: Vec<String>,
    /// Whether everything checked out.
    pub ok: bool,
    /// How many blobs were read.
    pub blobs: usize,
    /// How many bytes were read (as stored, compressed).
    pub bytes: u64,
    /// What is wrong, one entry a problem.
    pub problems: Vec<Problem>,
    /// The command that repairs the problems, when there are any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repair: Option<String>,
}

/// One thing wrong with an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Problem {
    /// The blob concerned.
    pub blob: Digest,
    /// What the blob is to the image: `index`, `manifest`, `config`, `layer` or `blob`.
    pub kind: String,
    /// The digest it should have (its own, or the config's DiffID), when that is the problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<Digest>,
    /// The digest it has, when that is the problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<Digest>,
    /// One line saying what is wrong, naming the blob.
    pub message: String,
}

impl VerifyReport {
    /// docker-style one-line summary: `sha256:… alpine:3.20: ok (4 blobs, 3.62MB)`, or the
    /// problems joined with `; `.
    pub fn line(&self) -> String {
        let name = self.repo_tags.first().map_or("<none>", String::as_str);
        if self.ok {
            format!(
                "{} {name}: ok ({} blobs, {})",
                self.id,
                self.blobs,
                crate::output::human_size(self.bytes)
            )
        } else {
            format!("{} {name}: FAILED: {}", self.id, self.what_is_wrong())
        }
    }

    /// The failure as an error, for stderr when the report itself goes to a program:
    /// `verification failed: …; repair with: …`; `None` when the image is sound.
    pub fn error(&self) -> Option<Error> {
        (!self.ok).then(|| {
            Error::new(
                crate::ErrorKind::DigestMismatch,
                format!("verification failed: {}", self.what_is_wrong()),
            )
        })
    }

    /// The problems joined with `; `, then how to repair them.
    fn what_is_wrong(&self) -> String {
        let what: Vec<&str> = self.problems.iter().map(|p| p.message.as_str()).collect();
        let mut text = what.join("; ");
        if let Some(repair) = &self.repair {
            text.push_str(&format!("; repair with: {repair}"));
        }
        text
    }
}

/// Re-hashes every blob `image` pins and checks every layer's DiffID against its config.
/// An error is returned only when the store cannot be read at all; what is wrong with
/// the image is in the report.
pub fn verify(store: &Store, image: &ImageInfo) -> Result<VerifyReport> {
    let mut v = Verifier {
        store,
        problems: Vec::new(),
        done: HashMap::new(),
        blobs: 0,
        bytes: 0,
    };
    let pinned: BTreeSet<Digest> = store.index().image_blobs(&image.id)?.into_iter().collect();
    let target_kind = if media_type::is_index(&image.target_media_type) {
        "index"
    } else {
        "manifest"
    };
    match v.document(&image.target, target_kind)? {
        Some(Document::Index(index)) => {
            for entry in index
                .manifests
                .iter()
                .filter(|e| pinned.contains(&e.digest))
            {
                if let Some(Document::Manifest(m)) = v.document(&entry.digest, "manifest")? {
                    v.image(&m)?;
                }
            }
        }
        Some(Document::Manifest(m)) => v.image(&m)?,
        None => {}
    }
    // Whatever else the image pins (the index a one-platform pull kept): hashed as is.
    for d in &pinned {
        if !v.done.contains_key(d) {
            v.blob(d, "blob", None, Compression::None)?;
        }
    }
    let repo_tags = image.familiar_tags()?;
    let ok = v.problems.is_empty();
    Ok(VerifyReport {
        id: image.id.clone(),
        repo_tags,
        ok,
        blobs: v.blobs,
        bytes: v.bytes,
        problems: v.problems,
        repair: if ok { None } else { Some(repair(image)?) },
    })
}

/// The command that fetches again what is damaged in `image`: a pull by the digest it was
/// pulled by, re-hashing (`--verify`) so that a damaged blob of the same size is found
/// too; an image that no registry digest names came from an archive.
fn repair(image: &ImageInfo) -> Result<String> {
    let Some((name, digest)) = image.repo_digests.first() else {
        return Ok("img-pack load -i ARCHIVE (the archive this image was loaded from)".to_owned());
    };
    let reference = crate::index::familiar_digest(name, digest)?;
    let mut command = "img-pull --verify".to_owned();
    if media_type::is_index(&image.target_media_type) {
        command.push_str(" --all-platforms");
    } else if &image.target != digest {
        // A one-platform pull from an index: the same platform again.
        command.push_str(&format!(" --platform {}", image.platform));
    }
    Ok(format!("{command} {reference}"))
}

struct Verifier<'a> {
    store: &'a Store,
    problems: Vec<Problem>,
    /// Blobs read so far, with the digest of their uncompressed content for a layer whose
    /// stored digest checked out.
    done: HashMap<Digest, Option<Digest>>,
    blobs: usize,
    bytes: u64,
}

/// What hashing one blob found.
struct Hashed {
    ok: bool,
    /// The uncompressed content's digest, for a layer that checked out.
    diff_id: Option<Digest>,
    /// The whole blob, when asked to keep it (documents).
    bytes: Option<Vec<u8>>,
}

impl Verifier<'_> {
    fn problem(&mut self, blob: &Digest, kind: &str, message: String) {
        self.problems.push(Problem {
            blob: blob.clone(),
            kind: kind.to_owned(),
            expected: None,
            actual: None,
            message,
        });
    }

    /// Hashes a manifest or index and parses it; `None` when it is missing, corrupt or
    /// malformed (a problem says which).
    fn document(&mut self, digest: &Digest, kind: &str) -> Result<Option<Document>> {
        if self.done.contains_key(digest) {
            // Read already (an index listing one manifest twice): nothing new to learn.
            return Ok(None);
        }
        let Some(h) = self.hash(digest, kind, None, None, Some(MAX_MANIFEST_SIZE))? else {
            return Ok(None);
        };
        let bytes = h.bytes.unwrap_or_default();
        if !h.ok {
            return Ok(None);
        }
        match Document::parse(None, &bytes) {
            Ok(d) => Ok(Some(d)),
            Err(e) => {
                self.problem(digest, kind, format!("{kind} {digest} is unreadable: {e}"));
                Ok(None)
            }
        }
    }

    /// The config and layers of one manifest, layers checked against the config's DiffIDs.
    fn image(&mut self, m: &Manifest) -> Result<()> {
        let config = self.config(&m.config)?;
        if let Some(c) = &config
            && c.rootfs.diff_ids.len() != m.layers.len()
        {
            self.problem(
                &m.config.digest,
                "config",
                format!(
                    "config {} lists {} DiffIDs for the manifest's {} layers",
                    m.config.digest,
                    c.rootfs.diff_ids.len(),
                    m.layers.len()
                ),
            );
        }
        for (i, layer) in m.layers.iter().enumerate() {
            let compression =
                media_type::layer_compression(&layer.media_type).unwrap_or(Compression::None);
            let diff_id = match self.done.get(&layer.digest) {
                Some(d) => d.clone(),
                None => self.blob(&layer.digest, "layer", Some(layer.size), compression)?,
            };
            let expected = config.as_ref().and_then(|c| c.rootfs.diff_ids.get(i));
            if let (Some(actual), Some(expected)) = (diff_id, expected)
                && &actual != expected
            {
                self.problems.push(Problem {
                    blob: layer.digest.clone(),
                    kind: "layer".to_owned(),
                    expected: Some(expected.clone()),
                    actual: Some(actual.clone()),
                    message: format!(
                        "layer {} uncompresses to {actual}, but config {} gives DiffID {expected}",
                        layer.digest, m.config.digest
                    ),
                });
            }
        }
        Ok(())
    }

    fn config(&mut self, desc: &Descriptor) -> Result<Option<ImageConfig>> {
        let d = &desc.digest;
        if self.done.contains_key(d) {
            // Shared by two manifests (an index of identical configs): read it again
            // for its DiffIDs, but count and check it once.
            return Ok(self
                .store
                .read_blob(d)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok()));
        }
        let Some(h) = self.hash(d, "config", Some(desc.size), None, Some(MAX_CONFIG_SIZE))? else {
            return Ok(None);
        };
        if !h.ok {
            return Ok(None);
        }
        match serde_json::from_slice(&h.bytes.unwrap_or_default()) {
            Ok(c) => Ok(Some(c)),
            Err(e) => {
                self.problem(d, "config", format!("config {d} is unreadable: {e}"));
                Ok(None)
            }
        }
    }

    /// Hashes a blob streaming (a layer decompressed too) and returns its DiffID.
    fn blob(
        &mut self,
        digest: &Digest,
        kind: &str,
        size: Option<u64>,
        compression: Compression,
    ) -> Result<Option<Digest>> {
        let layer = (kind == "layer").then_some(compression);
        Ok(self
            .hash(digest, kind, size, layer, None)?
            .and_then(|h| h.diff_id))
    }

    /// Reads a blob once: checks its digest and size (`size` from its descriptor, else
    /// its row), decompresses a layer (`layer`) to hash its content, and keeps the bytes
    /// of a document (up to `keep` bytes). `None` when the blob is missing.
    fn hash(
        &mut self,
        digest: &Digest,
        kind: &str,
        size: Option<u64>,
        layer: Option<Compression>,
        keep: Option<u64>,
    ) -> Result<Option<Hashed>> {
        self.done.insert(digest.clone(), None);
        let row = self.store.index().blob(digest)?;
        let file = match std::fs::File::open(self.store.blob_path(digest)) {
            Ok(f) if row.is_some() => f,
            Ok(_) => {
                self.problem(
                    digest,
                    kind,
                    format!("{kind} {digest} has no row in the index"),
                );
                return Ok(None);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.problem(
                    digest,
                    kind,
                    format!("{kind} {digest} is missing from the store"),
                );
                return Ok(None);
            }
            Err(e) => return Err(Error::io(e, format!("opening {kind} {digest}"))),
        };
        let expected_size = size.or(row.map(|r| r.size));
        let mut raw = BufReader::with_capacity(
            BUFFER,
            HashingReader::new(file, Hasher::new(digest.algorithm())),
        );
        let mut kept = Vec::new();
        let mut decoded = HashingWriter::new(Hasher::new(crate::digest::Algorithm::Sha256));
        let decode_result = match (keep, layer) {
            (Some(cap), _) => (&mut raw).take(cap).read_to_end(&mut kept).map(|_| ()),
            // Under the bomb guard: a stored layer is input from a registry too.
            (None, Some(c)) => match decompress_layer(&mut raw, c) {
                Ok(mut d) => io::copy(&mut d, &mut decoded).map(|_| ()),
                Err(e) => Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
            },
            // Not a layer: the drain below hashes it.
            (None, None) => Ok(()),
        };
        // The rest of the file (after a compressed stream's end, or past a document's
        // cap), so that the stored digest covers every byte.
        io::copy(&mut raw, &mut io::sink())
            .map_err(|e| Error::io(e, format!("reading {kind} {digest}")))?;
        let reader = raw.into_inner();
        let (read, actual) = reader.finish();
        self.blobs += 1;
        self.bytes += read;
        if &actual != digest {
            self.problems.push(Problem {
                blob: digest.clone(),
                kind: kind.to_owned(),
                expected: Some(digest.clone()),
                actual: Some(actual.clone()),
                message: format!("{kind} {digest} is corrupt: its content hashes to {actual}"),
            });
            return Ok(Some(Hashed {
                ok: false,
                diff_id: None,
                bytes: Some(kept),
            }));
        }
        if let Some(want) = expected_size
            && want != read
        {
            self.problem(
                digest,
                kind,
                format!("{kind} {digest} is {read} bytes, but its descriptor says {want}"),
            );
        }
        let diff_id = match (layer, decode_result) {
            (None, _) => None,
            (Some(_), Ok(())) => Some(decoded.finish()),
            (Some(c), Err(e)) => {
                let how = match c {
                    Compression::Gzip => "gzip",
                    Compression::Zstd => "zstd",
                    Compression::None => "tar",
                };
                self.problem(
                    digest,
                    kind,
                    format!("{kind} {digest} does not decompress as {how}: {e}"),
                );
                None
            }
        };
        self.done.insert(digest.clone(), diff_id.clone());
        Ok(Some(Hashed {
            ok: true,
            diff_id,
            bytes: keep.map(|_| kept),
        }))
    }
}

#[cfg(test)]
mod tests;
