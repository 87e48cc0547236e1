//! Rebuilding a lost index from the blobs (`img-rm --rebuild-index`): every blob file that
//! hashes to its name gets its row back, and every image whose manifest, config and layers
//! are all there is recorded again — untagged, under its ID — so that nothing downloaded
//! is lost with the index.
//!
//! An index (manifest list) whose platform manifests are all present becomes that
//! multi-platform image (its ID is the index digest, as after `img-pull --all-platforms`);
//! its platform manifests are then part of it rather than images of their own. An index
//! with only some platforms present (what a one-platform pull keeps) is pinned by the
//! images of the platforms it has, as it was before.
//!
//! It runs under the store's exclusive lock (`gc.lock`), so no commit and no collection
//! runs meanwhile; the lost index is kept beside the new one as `index.db.lost-<time>`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::path::Path;

use super::identity::{self, BlobSide};
use super::lock::{LockFile, Mode};
use super::{BLOBS_DIR, GC_LOCK_FILE, INDEX_FILE, Store};
use crate::digest::{Algorithm, Digest, Hasher};
use crate::error::{Error, ErrorKind, Result};
use crate::index::{Index, NewImage};
use crate::oci::{Descriptor, Document, ImageConfig, MAX_MANIFEST_SIZE, Manifest, Platform};

/// What a rebuild found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RebuildReport {
    /// The images recorded again, by ID.
    pub images: Vec<Digest>,
    /// Blob files that hash to their names and got their rows back.
    pub blobs: u64,
    /// Blob files that do not hash to their names: left without a row (the next prune
    /// removes them), since a blob is visible only once verified.
    pub damaged: Vec<Digest>,
    /// Where the lost index was moved, if there was one.
    pub lost_index: Option<std::path::PathBuf>,
}

impl Store {
    /// Rebuilds the index of the store at `root` from its blobs. Refuses a store whose
    /// index is whole (rebuilding would drop its tags): only a lost index is rebuilt.
    pub fn rebuild_index(root: &Path) -> Result<RebuildReport> {
        rebuild(root).map_err(|e| e.context(format!("rebuilding the index of {}", root.display())))
    }
}

fn rebuild(root: &Path) -> Result<RebuildReport> {
    let _exclusive = LockFile::acquire(&root.join(GC_LOCK_FILE), Mode::Exclusive)?;
    match Store::open(root) {
        Err(e) if e.kind() == ErrorKind::LostIndex => {}
        Err(e) => return Err(e),
        Ok(_) => {
            return Err(Error::new(
                ErrorKind::Conflict,
                "the index is whole: there is nothing to rebuild (a rebuild would drop every tag)",
            ));
        }
    }
    let blob_side = BlobSide::read(root)?;
    let mut report = RebuildReport::default();
    let index_path = root.join(INDEX_FILE);
    if index_path.exists() {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let aside = root.join(format!("{INDEX_FILE}.lost-{secs}"));
        for suffix in ["", "-wal", "-shm"] {
            let from = root.join(format!("{INDEX_FILE}{suffix}"));
            let to = root.join(format!("{INDEX_FILE}.lost-{secs}{suffix}"));
            match std::fs::rename(&from, &to) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(e, format!("moving {} aside", from.display()))),
            }
        }
        report.lost_index = Some(aside);
    }
    let index = Index::open(&index_path)?;
    let id = blob_side
        .id
        .clone()
        .unwrap_or_else(|| identity::new_id(root));
    index.ensure_store_id(&id)?;
    if blob_side.id.is_none() {
        identity::write_id(root, &id)?;
    }

    // Every blob that verifies gets its row; documents are kept for the second pass.
    let dir = root.join(BLOBS_DIR).join(Algorithm::Sha256.as_str());
    let mut present: HashMap<Digest, u64> = HashMap::new();
    let mut documents: BTreeMap<Digest, Document> = BTreeMap::new();
    for entry in
        std::fs::read_dir(&dir).map_err(|e| Error::io(e, format!("listing {}", dir.display())))?
    {
        let path = entry
            .map_err(|e| Error::io(e, format!("listing {}", dir.display())))?
            .path();
        let Some(digest) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| Digest::parse(&format!("sha256:{n}")).ok())
        else {
            continue;
        };
        let Some((size, head)) = hash_file(&path, &digest)? else {
            report.damaged.push(digest);
            continue;
        };
        let doc = head.and_then(|bytes| Document::parse(None, &bytes).ok());
        let media_type = match &doc {
            Some(Document::Manifest(m)) => m
                .media_type
                .clone()
                .unwrap_or_else(|| crate::oci::media_type::OCI_MANIFEST.to_owned()),
            Some(Document::Index(i)) => i
                .media_type
                .clone()
                .unwrap_or_else(|| crate::oci::media_type::OCI_INDEX.to_owned()),
            None => "application/octet-stream".to_owned(),
        };
        index.insert_blob(&digest, size, &media_type)?;
        report.blobs += 1;
        present.insert(digest.clone(), size);
        if let Some(doc) = doc {
            documents.insert(digest, doc);
        }
    }

    // One-platform images: a manifest whose config and layers are all there.
    let mut images: BTreeMap<Digest, NewImage> = BTreeMap::new();
    for (digest, doc) in &documents {
        if let Document::Manifest(m) = doc
            && let Some(image) = manifest_image(root, digest, m, &present)
        {
            images.insert(digest.clone(), image);
        }
    }
    // Indexes: whole ones become multi-platform images (their manifests part of them);
    // partial ones are pinned by the images of the platforms they have.
    let mut recorded: Vec<NewImage> = Vec::new();
    let mut in_an_index: BTreeSet<Digest> = BTreeSet::new();
    let mut partial_pins: HashMap<Digest, Vec<Digest>> = HashMap::new();
    for (digest, doc) in &documents {
        let Document::Index(ix) = doc else { continue };
        let children: Vec<&Descriptor> = ix.images().collect();
        if children.is_empty() {
            continue;
        }
        if children.iter().all(|c| images.contains_key(&c.digest)) {
            let host = Platform::host();
            let main = children
                .iter()
                .find(|c| c.platform.as_ref().is_some_and(|p| host.matches(p)))
                .unwrap_or(&children[0]);
            let Some(first) = images.get(&main.digest) else {
                continue;
            };
            let mut blobs = vec![digest.clone()];
            for c in &children {
                in_an_index.insert(c.digest.clone());
                if let Some(i) = images.get(&c.digest) {
                    blobs.push(i.target.clone());
                    blobs.push(i.id.clone());
                    blobs.extend(i.blobs.iter().cloned());
                }
            }
            blobs.sort();
            blobs.dedup();
            recorded.push(NewImage {
                id: digest.clone(),
                target: digest.clone(),
                target_media_type: ix
                    .media_type
                    .clone()
                    .unwrap_or_else(|| crate::oci::media_type::OCI_INDEX.to_owned()),
                blobs,
                ..first.clone()
            });
        } else {
            for c in children.iter().filter(|c| images.contains_key(&c.digest)) {
                partial_pins
                    .entry(c.digest.clone())
                    .or_default()
                    .push(digest.clone());
            }
        }
    }
    // Two manifests of one config (the same image pushed twice) are one image: the first
    // by digest keeps it.
    let mut ids: BTreeSet<Digest> = recorded.iter().map(|i| i.id.clone()).collect();
    for (digest, mut image) in images {
        if in_an_index.contains(&digest) || !ids.insert(image.id.clone()) {
            continue;
        }
        if let Some(pins) = partial_pins.remove(&digest) {
            image.blobs.extend(pins);
        }
        recorded.push(image);
    }
    index.put_images(&recorded)?;
    report.images = recorded.into_iter().map(|i| i.id).collect();
    Ok(report)
}

/// The untagged image `m` makes when its config and layers are all present.
fn manifest_image(
    root: &Path,
    digest: &Digest,
    m: &Manifest,
    present: &HashMap<Digest, u64>,
) -> Option<NewImage> {
    if !m.blobs().all(|b| present.contains_key(&b.digest)) {
        return None;
    }
    let path = root
        .join(BLOBS_DIR)
        .join(m.config.digest.algorithm().as_str())
        .join(m.config.digest.hex());
    let config: ImageConfig = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    if config.rootfs.diff_ids.len() != m.layers.len() {
        return None;
    }
    let platform = Platform {
        os: config.os.clone(),
        architecture: config.architecture.clone(),
        variant: config.variant.clone(),
        ..Platform::default()
    };
    Some(NewImage {
        id: m.config.digest.clone(),
        target: digest.clone(),
        target_media_type: m
            .media_type
            .clone()
            .unwrap_or_else(|| crate::oci::media_type::OCI_MANIFEST.to_owned()),
        created: config.created.clone(),
        platform: platform.to_string(),
        blobs: m.blobs().map(|b| b.digest.clone()).collect(),
        labels: config
            .config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default()
            .into_iter()
            .collect(),
        tags: Vec::new(),
        repo_digests: Vec::new(),
    })
}

/// Hashes the file at `path`: `None` when it does not hash to `digest`, else its size and,
/// for a small file that may be a JSON document, its bytes.
fn hash_file(path: &Path, digest: &Digest) -> Result<Option<(u64, Option<Vec<u8>>)>> {
    let doing = || format!("reading {}", path.display());
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(e, doing()))?;
    let mut hasher = Hasher::new(digest.algorithm());
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    let mut head: Option<Vec<u8>> = Some(Vec::new());
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(e, doing()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
        if let Some(h) = &mut head {
            if size > MAX_MANIFEST_SIZE || (h.is_empty() && buf[0] != b'{') {
                head = None;
            } else {
                h.extend_from_slice(&buf[..n]);
            }
        }
    }
    if hasher.finish() != *digest {
        return Ok(None);
    }
    Ok(Some((size, head)))
}
