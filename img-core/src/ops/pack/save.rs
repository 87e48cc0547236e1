//! `img-pack save`: every image resolved and every blob found (and pinned by a lease)
//! before a byte is written, then one reproducible tar stream in docker 25's dual format —
//! `blobs/sha256/…`, `index.json` with names, `manifest.json`, `oci-layout`,
//! `repositories` — each shared blob once, layers exactly as stored.

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::{Value, json};

use crate::archive::layout::{
    self, ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, ManifestEntry, OCI_LAYOUT_CONTENT,
};
use crate::archive::writer::ArchiveWriter;
use crate::digest::Digest;
use crate::error::{Error, ErrorKind, Result};
use crate::oci::{Descriptor, Document, Manifest, Platform, media_type};
use crate::record::Target;
use crate::reference::Reference;
use crate::store::Store;

use super::{SaveOptions, wanted_platform};

/// One image of the archive: what index.json points at and what manifest.json lists.
struct Planned {
    /// index.json's descriptor (a manifest, or an index of every platform kept).
    top: Descriptor,
    /// The names it is saved under (tags), in order; empty for an image saved by ID.
    names: Vec<Reference>,
    /// The manifest a legacy loader takes (manifest.json's entry).
    legacy: Manifest,
    /// Its config's DiffIDs, which key manifest.json's `LayerSources`.
    diff_ids: Vec<Digest>,
}

/// What will be written: images in order, and every blob by digest with its size.
struct Plan {
    images: Vec<Planned>,
    blobs: BTreeMap<Digest, u64>,
    /// Layers left out (`--exclude-from`): a partial bundle when not empty.
    excluded: Vec<Digest>,
}

/// Writes the archive of `targets` to `out`; `progress` hears the bytes written so far.
/// Nothing is written unless every target resolves and every blob is in the store.
pub fn save<W: Write>(
    store: &Store,
    targets: &[Target],
    options: &SaveOptions,
    out: W,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<W> {
    if targets.is_empty() {
        return Err(Error::usage("nothing to save: name at least one image"));
    }
    let lease = store.lease("saving an archive")?;
    let mut plan = plan(store, targets, options)?;
    leave_out(store, &mut plan, &options.exclude)?;
    // Pinned, then checked: from here on no GC can take a blob the archive needs.
    lease.protect_all(&plan.blobs.keys().collect::<Vec<_>>())?;
    for d in plan.blobs.keys() {
        if !store.has_blob(d)? {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("blob {d} is missing from the store; pull the image again"),
            ));
        }
    }
    let total: u64 = plan.blobs.values().sum();
    let mut w = ArchiveWriter::new(out);
    w.dir("blobs/")?;
    w.dir("blobs/sha256/")?;
    for (d, size) in &plan.blobs {
        let file = store.open_blob(d)?;
        w.file(&layout::blob_path(d), *size, file)?;
        progress(w.written(), total);
    }
    w.bytes(layout::INDEX_JSON, &index_json(&plan))?;
    // A partial bundle has no manifest.json (nor the legacy repositories): a loader
    // that reads only those fails at once rather than half-loading it.
    if plan.excluded.is_empty() {
        w.bytes(layout::MANIFEST_JSON, &manifest_json(&plan)?)?;
    }
    w.bytes(layout::OCI_LAYOUT, OCI_LAYOUT_CONTENT)?;
    if plan.excluded.is_empty()
        && let Some(repos) = repositories(&plan)
    {
        w.bytes(layout::REPOSITORIES, &repos)?;
    }
    let out = w.finish()?;
    lease.release()?;
    Ok(out)
}

fn plan(store: &Store, targets: &[Target], options: &SaveOptions) -> Result<Plan> {
    let wanted = wanted_platform(options.platform.as_ref())?;
    let mut images: Vec<Planned> = Vec::new();
    let mut blobs = BTreeMap::new();
    for target in targets {
        let resolved = super::super::resolve::resolve(store.index(), target)
            .map_err(|e| e.context(format!("saving {:?}", target.to_string())))?;
        let name = match &resolved.via {
            super::super::resolve::Via::Tag(r) => Some(match r.tag() {
                Some(_) => r.clone(),
                None => r.with_tag(crate::reference::DEFAULT_TAG)?,
            }),
            _ => None,
        };
        let (top, legacy) = plan_image(store, &resolved.image, options, &wanted, &mut blobs)
            .map_err(|e| e.context(format!("saving {:?}", target.to_string())))?;
        // The same image named twice is one image with both names.
        match images.iter_mut().find(|p| p.top.digest == top.digest) {
            Some(p) => {
                if let Some(n) = name
                    && !p.names.contains(&n)
                {
                    p.names.push(n);
                }
            }
            None => {
                let config = store.read_blob(&legacy.config.digest)?;
                let diff_ids = serde_json::from_slice::<crate::oci::ImageConfig>(&config)
                    .map(|c| c.rootfs.diff_ids)
                    .unwrap_or_default();
                images.push(Planned {
                    top,
                    names: name.into_iter().collect(),
                    legacy,
                    diff_ids,
                })
            }
        }
    }
    Ok(Plan {
        images,
        blobs,
        excluded: Vec::new(),
    })
}

/// Takes the layers `exclude` names out of the plan. Only layers (by the media type the
/// store committed them with): a manifest or config an inventory happens to name still
/// travels, since the load reads them.
fn leave_out(
    store: &Store,
    plan: &mut Plan,
    exclude: &std::collections::BTreeSet<Digest>,
) -> Result<()> {
    let mut excluded = Vec::new();
    for d in plan.blobs.keys().filter(|d| exclude.contains(*d)) {
        let layer = store
            .index()
            .blob(d)?
            .is_some_and(|row| media_type::layer_compression(&row.media_type).is_some());
        if layer {
            excluded.push(d.clone());
        }
    }
    for d in &excluded {
        plan.blobs.remove(d);
    }
    plan.excluded = excluded;
    Ok(())
}

/// The descriptor index.json gets and the manifest manifest.json lists, adding every blob
/// to write to `blobs`.
fn plan_image(
    store: &Store,
    image: &crate::index::ImageInfo,
    options: &SaveOptions,
    wanted: &Platform,
    blobs: &mut BTreeMap<Digest, u64>,
) -> Result<(Descriptor, Manifest)> {
    let bytes = store.read_blob(&image.target)?;
    let top = Descriptor::of(&image.target_media_type, &bytes);
    match Document::parse(Some(&image.target_media_type), &bytes)? {
        Document::Manifest(m) => {
            if let Some(p) = &options.platform
                && Platform::parse(&image.platform).is_ok_and(|have| !p.matches(&have))
            {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!("the image is {}, not {p}", image.platform),
                ));
            }
            add_manifest(store, &top, &m, blobs)?;
            Ok((top, *m))
        }
        Document::Index(index) => {
            let mut present = Vec::new();
            for d in index.images() {
                if store.has_blob(&d.digest)? {
                    let m = read_manifest(store, d)?;
                    present.push((d.clone(), m));
                }
            }
            let chosen = present
                .iter()
                .position(|(d, _)| d.platform.as_ref().is_some_and(|p| wanted.matches(p)));
            if options.platform.is_some() {
                // One platform alone: saved as that platform's image.
                let Some(i) = chosen else {
                    return Err(Error::new(
                        ErrorKind::NotFound,
                        format!("no image for platform {wanted} in the store for this index"),
                    ));
                };
                let (d, m) = present.swap_remove(i);
                add_manifest(store, &d, &m, blobs)?;
                let mut top = d;
                top.platform = None;
                return Ok((top, m));
            }
            let Some((_, legacy)) = present.get(chosen.unwrap_or(0)).cloned() else {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    "none of the index's images is in the store",
                ));
            };
            blobs.insert(top.digest.clone(), top.size);
            for (d, m) in &present {
                add_manifest(store, d, m, blobs)?;
            }
            Ok((top, legacy))
        }
    }
}

fn read_manifest(store: &Store, d: &Descriptor) -> Result<Manifest> {
    match Document::parse(Some(&d.media_type), &store.read_blob(&d.digest)?)? {
        Document::Manifest(m) => Ok(*m),
        Document::Index(_) => Err(Error::new(
            ErrorKind::Unsupported,
            format!("manifest {} is an index inside an index", d.digest),
        )),
    }
}

/// A manifest, its config and its layers (foreign layers the store lacks stay out: they
/// travel as descriptors, as docker saves them).
fn add_manifest(
    store: &Store,
    d: &Descriptor,
    m: &Manifest,
    blobs: &mut BTreeMap<Digest, u64>,
) -> Result<()> {
    blobs.insert(d.digest.clone(), d.size);
    blobs.insert(m.config.digest.clone(), m.config.size);
    for l in &m.layers {
        if is_foreign(l) && !store.has_blob(&l.digest)? {
            continue;
        }
        blobs.insert(l.digest.clone(), l.size);
    }
    Ok(())
}

fn is_foreign(l: &Descriptor) -> bool {
    !l.urls.is_empty()
        || l.media_type.contains("foreign")
        || l.media_type.contains("nondistributable")
}

fn index_json(plan: &Plan) -> Vec<u8> {
    let mut manifests = Vec::new();
    for p in &plan.images {
        if p.names.is_empty() {
            manifests.push(descriptor_json(&p.top, None));
        }
        for n in &p.names {
            manifests.push(descriptor_json(&p.top, Some(n)));
        }
    }
    let mut doc = json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_INDEX,
        "manifests": manifests,
    });
    if !plan.excluded.is_empty() {
        doc["annotations"] = json!({ super::PARTIAL_ANNOTATION: "true" });
    }
    doc.to_string().into_bytes()
}

fn descriptor_json(d: &Descriptor, name: Option<&Reference>) -> Value {
    let mut v = json!({
        "mediaType": d.media_type,
        "digest": d.digest.to_string(),
        "size": d.size,
    });
    if let Some(n) = name {
        v["annotations"] = json!({
            ANNOTATION_IMAGE_NAME: n.to_string(),
            ANNOTATION_REF_NAME: n.tag().unwrap_or(crate::reference::DEFAULT_TAG),
        });
    }
    v
}

fn manifest_json(plan: &Plan) -> Result<Vec<u8>> {
    let entries: Vec<ManifestEntry> = plan
        .images
        .iter()
        .map(|p| {
            let mut layers = Vec::new();
            let mut sources = BTreeMap::new();
            for (i, l) in p.legacy.layers.iter().enumerate() {
                layers.push(layout::blob_path(&l.digest));
                if !plan.blobs.contains_key(&l.digest) {
                    // A foreign layer, not in the archive: its descriptor travels instead,
                    // keyed by DiffID as docker writes it.
                    let key = p.diff_ids.get(i).unwrap_or(&l.digest).clone();
                    sources.insert(key, l.clone());
                }
            }
            ManifestEntry {
                config: layout::blob_path(&p.legacy.config.digest),
                repo_tags: if p.names.is_empty() {
                    None
                } else {
                    Some(p.names.iter().map(Reference::familiar).collect())
                },
                layers,
                layer_sources: if sources.is_empty() {
                    None
                } else {
                    Some(sources)
                },
            }
        })
        .collect();
    serde_json::to_vec(&entries)
        .map_err(|e| Error::new(ErrorKind::Io, format!("encoding manifest.json: {e}")))
}

/// Legacy `repositories`: familiar name → tag → the top layer's hex, as docker writes it.
fn repositories(plan: &Plan) -> Option<Vec<u8>> {
    let mut repos: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for p in &plan.images {
        let Some(top) = p.legacy.layers.last() else {
            continue;
        };
        for n in &p.names {
            repos.entry(n.familiar_name()).or_default().insert(
                n.tag().unwrap_or(crate::reference::DEFAULT_TAG).to_owned(),
                top.digest.hex().to_owned(),
            );
        }
    }
    if repos.is_empty() {
        return None;
    }
    serde_json::to_vec(&repos).ok()
}
