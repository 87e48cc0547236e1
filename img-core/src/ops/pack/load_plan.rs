//! From what an archive holds to the images a load records: index.json's descriptors
//! (names from `io.containerd.image.name`, else a full `org.opencontainers.image.ref.name`)
//! and manifest.json's entries (a manifest synthesised for legacy images, DiffIDs checked,
//! a compressed `layer.tar` by the digest of the tar it inflates to),
//! the two joined by config digest. Every check happens here, before anything is committed.
//!
//! Nothing the store holds is stored again. An image whose ID the store has already (its
//! config, or the index of a multi-platform image) loads as its tags only: its target,
//! pins and size stay. A config the store has a manifest of (a platform of an
//! `--all-platforms` image) becomes a classic image over that manifest, storing nothing.
//! A legacy archive's layer the store holds in another compression (docker saves layers
//! uncompressed; a pull keeps them compressed) is matched by DiffID against a stored blob
//! whose DiffID img verified (see store/layers.rs), and the manifest img synthesises
//! names that blob instead.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::archive::Contents;
use crate::archive::layout::{
    ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, INDEX_JSON, MANIFEST_JSON, ManifestEntry,
    REPOSITORIES,
};
use crate::digest::Digest;
use crate::error::{Error, ErrorKind, Result};
use crate::index::{LayerDiffId, NewImage};
use crate::oci::{Descriptor, Document, ImageConfig, Index, Manifest, Platform, media_type};
use crate::quote::quote;
use crate::reference::Reference;

/// One image to record.
#[derive(Debug)]
pub(super) struct Planned {
    pub image: NewImage,
    /// The names it loads under, in order.
    pub names: Vec<Reference>,
    /// Every blob it needs, with the media type to record for it.
    pub blobs: BTreeMap<Digest, String>,
    /// Documents we wrote for it (a legacy image's manifest): media type and bytes.
    pub synthesized: Vec<(String, Vec<u8>)>,
    /// The image is in the store already: the load records its tags only.
    pub existing: bool,
    /// Every blob it needs is in the store already (a manifest of its config is): the
    /// load records the image and commits nothing.
    pub existing_blobs: bool,
    /// What its configs say its layer blobs inflate to, and whether that was checked.
    pub layers: Vec<LayerDiffId>,
    /// The config digests it covers (to join manifest.json's entries to it).
    configs: BTreeSet<Digest>,
}

/// What planning reads besides the archive: whether the store has a blob (pinning it).
pub(super) trait StoreLookup {
    /// Whether the store has `digest`; pins it first.
    fn has(&self, digest: &Digest) -> Result<bool>;
    /// The bytes of a document the store has.
    fn read(&self, digest: &Digest) -> Result<Vec<u8>>;
    /// The target (and its media type) of image `id` when the store has it whole; pins
    /// its blobs first.
    fn image(&self, id: &Digest) -> Result<Option<(Digest, String)>>;
    /// A manifest the store has whole for `config` (a platform of a multi-platform
    /// image), with its blobs; pinned first.
    fn manifest_of(&self, config: &Digest) -> Result<Option<StoredManifest>>;
    /// A stored layer blob verified to inflate to `diff_id`, as a descriptor; pinned first.
    fn layer(&self, diff_id: &Digest) -> Result<Option<Descriptor>>;
}

/// A manifest the store has, with every blob it names (and their media types).
pub(super) type StoredManifest = (Descriptor, Vec<(Digest, String)>);

#[derive(Deserialize)]
struct IndexJson {
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

/// Plans every image of the archive; `warn` hears what loads differently than named.
pub(super) fn plan(
    contents: &Contents<'_>,
    store: &dyn StoreLookup,
    wanted: &Platform,
    warn: &mut dyn FnMut(String),
) -> Result<Vec<Planned>> {
    let mut p = Planner {
        contents,
        store,
        partial: false,
    };
    let mut images: Vec<Planned> = Vec::new();
    if let Some(bytes) = contents.docs.get(INDEX_JSON) {
        let index: IndexJson = serde_json::from_slice(bytes)
            .map_err(|e| invalid(format!("index.json is malformed: {e}")))?;
        p.partial = index
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(super::PARTIAL_ANNOTATION));
        for d in index.manifests.unwrap_or_default() {
            let names = names_of(&d, warn);
            let planned = p
                .of_descriptor(&d, wanted)
                .and_then(|planned| p.settle(planned))
                .map_err(|e| e.context(format!("index.json: {}", d.digest)))?;
            merge(&mut images, planned, names);
        }
    }
    if let Some(bytes) = contents.docs.get(MANIFEST_JSON) {
        let entries: Option<Vec<ManifestEntry>> = serde_json::from_slice(bytes)
            .map_err(|e| invalid(format!("manifest.json is malformed: {e}")))?;
        for (i, entry) in entries.unwrap_or_default().iter().enumerate() {
            let mut names = Vec::new();
            for t in entry.repo_tags.iter().flatten() {
                names.push(Reference::parse_normalized(t).map_err(|e| {
                    e.context(format!("manifest.json: image {i}: tag {}", quote(t)))
                })?);
            }
            // Docker 25 lists an image in both: the index.json one is the real manifest.
            let config = p.path_digest(&entry.config);
            if let Some(c) = &config
                && let Some(existing) = images.iter_mut().find(|x| x.configs.contains(c))
            {
                add_names(existing, names);
                continue;
            }
            let planned = p
                .of_entry(entry)
                .and_then(|planned| p.settle(planned))
                .map_err(|e| e.context(format!("manifest.json: image {i}")))?;
            merge(&mut images, planned, names);
        }
    }
    if images.is_empty() {
        let why = if contents.docs.contains_key(MANIFEST_JSON)
            || contents.docs.contains_key(INDEX_JSON)
        {
            "the archive names no image: its manifest.json and index.json list none; there is nothing to load"
        } else if contents.docs.contains_key(REPOSITORIES) {
            "the archive has a repositories file but no manifest.json: it is from docker before 1.10, which img cannot load"
        } else {
            "the archive names no image: it has neither manifest.json nor index.json; there is nothing to load"
        };
        return Err(Error::new(ErrorKind::InvalidDocument, why));
    }
    Ok(images)
}

/// Adds `planned` under `names`, or the names to the same image planned already.
fn merge(images: &mut Vec<Planned>, mut planned: Planned, names: Vec<Reference>) {
    if let Some(existing) = images.iter_mut().find(|x| x.image.id == planned.image.id) {
        add_names(existing, names);
        return;
    }
    add_names(&mut planned, names);
    images.push(planned);
}

fn add_names(p: &mut Planned, names: Vec<Reference>) {
    for n in names {
        if !p.names.contains(&n) {
            let tag = n.tag().unwrap_or(crate::reference::DEFAULT_TAG).to_owned();
            p.image.tags.push((n.name(), tag));
            p.names.push(n);
        }
    }
}

/// The names an index.json descriptor gives: the full `io.containerd.image.name`, else
/// `org.opencontainers.image.ref.name` when it is a full reference (`app:1`); a bare tag
/// (`1.0`) names no repository, and the image loads untagged.
fn names_of(d: &Descriptor, warn: &mut dyn FnMut(String)) -> Vec<Reference> {
    if let Some(n) = d.annotations.get(ANNOTATION_IMAGE_NAME)
        && let Ok(r) = Reference::parse_normalized(n)
    {
        return vec![r];
    }
    if let Some(n) = d.annotations.get(ANNOTATION_REF_NAME) {
        let full = n.contains(':') && !n.rsplit(':').next().unwrap_or("").contains('/');
        if full && let Ok(r) = Reference::parse_normalized(n) {
            return vec![r];
        }
        warn(format!(
            "index.json names {} {n:?}, a tag without a repository: the image loads untagged",
            d.digest
        ));
    }
    Vec::new()
}

struct Planner<'a, 's> {
    contents: &'a Contents<'s>,
    store: &'a dyn StoreLookup,
    /// index.json says the archive is partial (`save --exclude-from`): its missing
    /// layers must be in the store.
    partial: bool,
}

impl Planner<'_, '_> {
    /// `planned` as tags only, when the store has its image whole already.
    fn settle(&self, planned: Planned) -> Result<Planned> {
        if planned.existing {
            return Ok(planned);
        }
        match self.store.image(&planned.image.id)? {
            Some((target, mt)) => Ok(existing(planned, target, mt)),
            None => Ok(planned),
        }
    }

    /// What the store holds of the image of config `id` already: the image itself (tags
    /// only), or a manifest of it (a classic image over it, storing nothing).
    fn held_by_store(&self, id: &Digest, config: &ImageConfig) -> Result<Option<Planned>> {
        if let Some((target, mt)) = self.store.image(id)? {
            let p = planned(
                id.clone(),
                &Descriptor::of(&mt, b""),
                config,
                BTreeMap::new(),
                vec![],
            );
            return Ok(Some(existing(p, target, mt)));
        }
        let Some((manifest, blobs)) = self.store.manifest_of(id)? else {
            return Ok(None);
        };
        let mut p = planned(
            id.clone(),
            &manifest,
            config,
            blobs.into_iter().collect(),
            vec![],
        );
        p.existing_blobs = true;
        Ok(Some(p))
    }

    /// The digest of what an archive path holds (a `blobs/…` path names it itself).
    fn path_digest(&self, path: &str) -> Option<Digest> {
        let clean = crate::archive::safety::entry_name(std::path::Path::new(path)).ok()?;
        self.contents
            .files
            .get(&clean)
            .cloned()
            .or_else(|| crate::archive::layout::digest_of_path(&clean))
    }

    /// Whether the blob is here (archive or store), of the size its descriptor says.
    fn check(&self, d: &Descriptor, what: &str) -> Result<bool> {
        if let Some(s) = self.contents.blobs.get(&d.digest) {
            if s.size() != d.size {
                return Err(Error::new(
                    ErrorKind::TooLarge,
                    format!(
                        "{what} {} is {} bytes in the archive, but its descriptor says {}",
                        d.digest,
                        s.size(),
                        d.size
                    ),
                ));
            }
            return Ok(true);
        }
        self.store.has(&d.digest)
    }

    fn require(&self, d: &Descriptor, what: &str) -> Result<()> {
        if self.check(d, what)? {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::NotFound,
                format!("{what} {} is missing from the archive", d.digest),
            ))
        }
    }

    fn read(&self, digest: &Digest, what: &str) -> Result<Vec<u8>> {
        if self.contents.blobs.contains_key(digest) {
            self.contents.read_doc(digest, what)
        } else {
            self.store.read(digest)
        }
    }

    fn config(&self, d: &Descriptor) -> Result<ImageConfig> {
        let bytes = self.read(&d.digest, "config")?;
        serde_json::from_slice(&bytes)
            .map_err(|e| invalid(format!("config {} is not an image config: {e}", d.digest)))
    }

    fn manifest(&self, d: &Descriptor) -> Result<Document> {
        self.require(d, "manifest")?;
        let bytes = self.read(&d.digest, "manifest")?;
        Document::parse(Some(&d.media_type), &bytes)
            .map_err(|e| e.context(format!("manifest {}", d.digest)))
    }

    /// An index.json descriptor: one manifest, or an index of several.
    fn of_descriptor(&self, d: &Descriptor, wanted: &Platform) -> Result<Planned> {
        match self.manifest(d)? {
            Document::Manifest(m) => self.one_manifest(d, &m),
            Document::Index(index) => self.index(d, &index, wanted, 0),
        }
    }

    fn one_manifest(&self, d: &Descriptor, m: &Manifest) -> Result<Planned> {
        let (config, mut blobs) = self.manifest_blobs(m)?;
        blobs.insert(d.digest.clone(), d.media_type.clone());
        let mut p = planned(m.config.digest.clone(), d, &config, blobs, vec![]);
        p.layers = claims(m, &config);
        Ok(p)
    }

    /// A manifest's config and layers, checked; foreign layers the archive lacks stay
    /// descriptors.
    fn manifest_blobs(&self, m: &Manifest) -> Result<(ImageConfig, BTreeMap<Digest, String>)> {
        let mut blobs = BTreeMap::new();
        self.require(&m.config, "config")?;
        let config = self.config(&m.config)?;
        if config.rootfs.diff_ids.len() != m.layers.len() {
            return Err(invalid(format!(
                "the config lists {} layers, the manifest {}",
                config.rootfs.diff_ids.len(),
                m.layers.len()
            )));
        }
        blobs.insert(m.config.digest.clone(), m.config.media_type.clone());
        for l in &m.layers {
            let foreign = !l.urls.is_empty() || l.media_type.contains("foreign");
            if self.check(l, "layer")? {
                blobs.insert(l.digest.clone(), l.media_type.clone());
            } else if self.partial {
                // The first layer the bundle left out that this store lacks: nothing has
                // been committed yet, so the whole load fails here.
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "layer {} is not in this partial bundle ({}) nor in the store: save \
                         the bundle against this store's inventory (img-pack inventory), or \
                         load the images it was made against first",
                        l.digest,
                        super::PARTIAL_ANNOTATION
                    ),
                ));
            } else if !foreign {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!("layer {} is missing from the archive", l.digest),
                ));
            }
        }
        Ok((config, blobs))
    }

    /// An index: the whole index when every platform image is here, else the wanted
    /// platform's image alone (docker 25 saves only the platforms it has).
    fn index(
        &self,
        d: &Descriptor,
        index: &Index,
        wanted: &Platform,
        depth: usize,
    ) -> Result<Planned> {
        if depth > 4 {
            return Err(invalid("indexes nest more than four deep".to_owned()));
        }
        let children: Vec<&Descriptor> = index.images().collect();
        if children.is_empty() {
            // An index of indexes (containerd's export of a multi-platform image): the
            // first one that is here.
            for c in &index.manifests {
                if media_type::is_index(&c.media_type)
                    && self.check(c, "index")?
                    && let Document::Index(inner) = self.manifest(c)?
                {
                    return self.index(c, &inner, wanted, depth + 1);
                }
            }
            return Err(invalid(format!("index {} lists no image", d.digest)));
        }
        let mut complete = Vec::new();
        for c in &children {
            if !self.check(c, "manifest")? {
                continue;
            }
            let Document::Manifest(m) = self.manifest(c)? else {
                continue;
            };
            match self.manifest_blobs(&m) {
                Ok((config, blobs)) => complete.push((*c, m, config, blobs)),
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
        let shown = complete
            .iter()
            .position(|(c, ..)| c.platform.as_ref().is_some_and(|p| wanted.matches(p)))
            .unwrap_or(0);
        if complete.is_empty() {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("no image of index {} is complete in the archive", d.digest),
            ));
        }
        if complete.len() < children.len() {
            let (c, m, config, mut blobs) = complete.swap_remove(shown);
            blobs.insert(c.digest.clone(), c.media_type.clone());
            let mut p = planned(m.config.digest.clone(), c, &config, blobs, vec![]);
            p.layers = claims(&m, &config);
            return Ok(p);
        }
        let mut all = BTreeMap::new();
        all.insert(d.digest.clone(), d.media_type.clone());
        let mut configs = Vec::new();
        let mut layers = Vec::new();
        for (c, m, config, blobs) in &complete {
            all.insert(c.digest.clone(), c.media_type.clone());
            all.extend(blobs.clone());
            configs.push(m.config.digest.clone());
            layers.extend(claims(m, config));
        }
        let (_, _, config, _) = &complete[shown];
        let mut p = planned(d.digest.clone(), d, config, all, configs);
        p.layers = layers;
        Ok(p)
    }

    /// A manifest.json entry: its config and layers by path, a manifest synthesised.
    fn of_entry(&self, entry: &ManifestEntry) -> Result<Planned> {
        let config_digest = self.path_digest(&entry.config).ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("its config {} is not in the archive", quote(&entry.config)),
            )
        })?;
        let config_bytes = self.read(&config_digest, "config")?;
        let config: ImageConfig = serde_json::from_slice(&config_bytes).map_err(|e| {
            invalid(format!(
                "its config {} is not an image config: {e}",
                quote(&entry.config)
            ))
        })?;
        if config.rootfs.diff_ids.len() != entry.layers.len() {
            return Err(invalid(format!(
                "its config lists {} layers, manifest.json {}",
                config.rootfs.diff_ids.len(),
                entry.layers.len()
            )));
        }
        if let Some(p) = self.held_by_store(&config_digest, &config)? {
            return Ok(p);
        }
        let mut blobs = BTreeMap::new();
        let mut claims = Vec::new();
        let config_desc = Descriptor::of(media_type::OCI_CONFIG, &config_bytes);
        blobs.insert(config_digest.clone(), media_type::OCI_CONFIG.to_owned());
        let mut layers = Vec::new();
        for (path, diff_id) in entry.layers.iter().zip(&config.rootfs.diff_ids) {
            let source = entry.layer_sources.as_ref().and_then(|s| s.get(diff_id));
            if let Some(src) = source {
                if self.check(src, "layer")? {
                    blobs.insert(src.digest.clone(), src.media_type.clone());
                }
                // Otherwise a foreign layer: kept as its descriptor, fetched by whoever
                // needs it from its URLs.
                layers.push(src.clone());
                continue;
            }
            let digest = self.path_digest(path).ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!("its layer {} is not in the archive", quote(path)),
                )
            })?;
            let (size, mt) = self.layer_kind(&digest, path)?;
            if mt == media_type::OCI_LAYER_TAR && &digest != diff_id {
                return Err(Error::new(
                    ErrorKind::DigestMismatch,
                    format!(
                        "its layer {} hashes to {digest}, but the config's DiffID is {diff_id}",
                        quote(path)
                    ),
                ));
            }
            if mt != media_type::OCI_LAYER_TAR {
                // A compressed layer.tar: its DiffID names the tar inside, so that is what
                // must hash right; otherwise an image whose files differ from what its
                // config promises would load, and only fail (or not) when unpacked.
                let inner = self.uncompressed_digest(&digest, diff_id, path)?;
                if &inner != diff_id {
                    return Err(Error::new(
                        ErrorKind::DigestMismatch,
                        format!(
                            "its layer {} decompresses to a tar that hashes to {inner}, but the config's DiffID is {diff_id}",
                            quote(path)
                        ),
                    ));
                }
            }
            // The same layer stored in another compression (pulled): named instead of
            // storing a second copy, once the store's copy is known to inflate to it.
            if !self.store.has(&digest)?
                && let Some(stored) = self.store.layer(diff_id)?
            {
                blobs.insert(stored.digest.clone(), stored.media_type.clone());
                claims.push(LayerDiffId {
                    digest: stored.digest.clone(),
                    diff_id: diff_id.clone(),
                    verified: true,
                });
                layers.push(stored);
                continue;
            }
            claims.push(LayerDiffId {
                digest: digest.clone(),
                diff_id: diff_id.clone(),
                verified: true,
            });
            blobs.insert(digest.clone(), mt.to_owned());
            layers.push(Descriptor {
                media_type: mt.to_owned(),
                digest,
                size,
                urls: Vec::new(),
                annotations: BTreeMap::new(),
                platform: None,
                artifact_type: None,
            });
        }
        let manifest = Manifest::for_legacy_image(config_desc, layers);
        let bytes = serde_json::to_vec(&manifest)
            .map_err(|e| invalid(format!("encoding a manifest: {e}")))?;
        let top = Descriptor::of(media_type::OCI_MANIFEST, &bytes);
        blobs.insert(top.digest.clone(), media_type::OCI_MANIFEST.to_owned());
        let mut p = planned(config_digest, &top, &config, blobs, vec![]);
        p.synthesized
            .push((media_type::OCI_MANIFEST.to_owned(), bytes));
        p.layers = claims;
        Ok(p)
    }

    /// The digest (in the DiffID's algorithm) of a staged compressed layer's uncompressed
    /// bytes. Streamed: a layer may be gigabytes, so it is inflated a buffer at a time and
    /// never held whole, under the bomb guard, which stops a layer that inflates without
    /// end (it would cost no disk, but time without bound).
    fn uncompressed_digest(&self, digest: &Digest, diff_id: &Digest, path: &str) -> Result<Digest> {
        let staged = self.contents.blobs.get(digest).ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("its layer {} is not in the archive", quote(path)),
            )
        })?;
        staged
            .inflated_digest(diff_id.algorithm())
            .map_err(|e| e.context(format!("decompressing its layer {}", quote(path))))
    }

    /// A legacy layer's size and media type, from its first bytes.
    fn layer_kind(&self, digest: &Digest, path: &str) -> Result<(u64, &'static str)> {
        let staged = self.contents.blobs.get(digest).ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("its layer {} is not in the archive", quote(path)),
            )
        })?;
        let mut head = [0u8; 4];
        let n = std::fs::File::open(staged.path())
            .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
            .map_err(|e| Error::io(e, format!("reading back layer {}", quote(path))))?;
        let mt = match crate::compression::sniff(&head[..n]) {
            crate::compression::Outer::Gzip => media_type::OCI_LAYER_GZIP,
            crate::compression::Outer::Zstd => media_type::OCI_LAYER_ZSTD,
            crate::compression::Outer::None => media_type::OCI_LAYER_TAR,
            other => {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!(
                        "its layer {} is compressed with {other:?}, which no image layer may be",
                        quote(path)
                    ),
                ));
            }
        };
        Ok((staged.size(), mt))
    }
}

/// `planned` turned into a load of its tags only onto the image the store has.
fn existing(mut planned: Planned, target: Digest, target_media_type: String) -> Planned {
    planned.image.target = target;
    planned.image.target_media_type = target_media_type;
    planned.blobs.clear();
    planned.synthesized.clear();
    planned.layers.clear();
    planned.existing = true;
    planned
}

/// What a manifest's config claims its layers inflate to (checked only for a layer that
/// is the tar itself).
fn claims(m: &Manifest, config: &ImageConfig) -> Vec<LayerDiffId> {
    m.layers
        .iter()
        .zip(&config.rootfs.diff_ids)
        .map(|(l, diff_id)| LayerDiffId {
            digest: l.digest.clone(),
            diff_id: diff_id.clone(),
            verified: &l.digest == diff_id,
        })
        .collect()
}

fn planned(
    id: Digest,
    target: &Descriptor,
    config: &ImageConfig,
    blobs: BTreeMap<Digest, String>,
    extra_configs: Vec<Digest>,
) -> Planned {
    let platform = Platform {
        os: config.os.clone(),
        architecture: config.architecture.clone(),
        variant: config.variant.clone(),
        ..Platform::default()
    };
    let mut configs: BTreeSet<Digest> = extra_configs.into_iter().collect();
    configs.insert(id.clone());
    Planned {
        image: NewImage {
            id,
            target: target.digest.clone(),
            target_media_type: target.media_type.clone(),
            created: config.created.clone(),
            platform: platform.to_string(),
            blobs: blobs.keys().cloned().collect(),
            labels: config
                .config
                .as_ref()
                .and_then(|r| r.labels.clone())
                .unwrap_or_default()
                .into_iter()
                .collect(),
            tags: Vec::new(),
            repo_digests: Vec::new(),
        },
        names: Vec::new(),
        blobs,
        synthesized: Vec::new(),
        existing: false,
        existing_blobs: false,
        layers: Vec::new(),
        configs,
    }
}

fn invalid(msg: String) -> Error {
    Error::new(ErrorKind::InvalidDocument, msg)
}
