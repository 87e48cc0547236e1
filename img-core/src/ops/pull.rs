//! `img-pull`: fetch an image from its registry (or a mirror) into the store — manifest or
//! index, config and layers, each verified before it becomes visible — and point the tag
//! at it.
//!
//! The model is DESIGN.md's: after a one-platform pull the tag names that platform's
//! manifest and the image ID is the config digest; after `--all-platforms` the tag names
//! the index and the ID is the index digest. RepoDigests hold what the reference resolved
//! to (the index digest when the tag names an index), so pulling that again is "up to date".
//!
//! Layers download in parallel into `ingest/`; an interrupted pull keeps its partials and
//! the next one resumes them with `Range`. A lease pins everything the pull has committed
//! until the image row exists, so a concurrent `img-rm --prune` cannot sweep it.
//!
//! Recording the image points it at the manifest pulled: an image loaded from a legacy
//! archive (its target a manifest img synthesised) is re-pointed, its loaded tags follow,
//! and what only the synthesised manifest used is no longer pinned (index/pins.rs). An
//! up-to-date pull records the repo digest the reference resolved to, as docker does.
//! The DiffIDs the config claims are recorded, unverified, for loads to match layers by.

use std::collections::BTreeMap;

use crate::digest::Digest;
use crate::error::{Error, ErrorKind, Result};
use crate::index::{ImageInfo, LayerDiffId, NewImage};
use crate::oci::{Descriptor, Document, ImageConfig, Index, Manifest, Platform, media_type};
use crate::record::ImageRecord;
use crate::reference::Reference;
use crate::registry::{Endpoint, RegistryClient, Security, endpoints};
use crate::settings::Config;
use crate::store::{Check, Lease, Store};

use super::progress::PullProgress;

mod download;

/// Blobs smaller than this are small: their transfer is mostly its round trip.
pub const SMALL_BLOB: u64 = 1024 * 1024;
/// How many small blobs a pull fetches at once (connections to one host): the issue's
/// bound for HTTP/1.1, where each transfer holds a connection.
pub const SMALL_BLOB_JOBS: usize = super::parallel::ROUND_TRIP_JOBS;

/// How to pull.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// The platform to pick from an index (default: `DOCKER_DEFAULT_PLATFORM`, else the host).
    pub platform: Option<Platform>,
    /// Pull every platform of an index; the tag names the index.
    pub all_platforms: bool,
    /// Pull every tag of the repository.
    pub all_tags: bool,
    /// Parallel blob downloads (at least 1).
    pub jobs: usize,
    /// Plain HTTP and unverified TLS allowed for this command.
    pub insecure: bool,
    /// Re-hash every blob of the image found in the store and fetch again those that do
    /// not match their digest (`--verify`); without it a present blob is checked by size.
    pub verify: bool,
}

impl PullOptions {
    /// The platform to pick: `--platform`, else `DOCKER_DEFAULT_PLATFORM`, else the host.
    pub fn wanted_platform(&self) -> Result<Platform> {
        if let Some(p) = &self.platform {
            return Ok(p.clone());
        }
        match std::env::var("DOCKER_DEFAULT_PLATFORM") {
            Ok(v) if !v.is_empty() => {
                Platform::parse(&v).map_err(|e| e.context("DOCKER_DEFAULT_PLATFORM"))
            }
            _ => Ok(Platform::host()),
        }
    }

    /// How a blob found in the store is judged intact.
    fn check(&self) -> Check {
        if self.verify {
            Check::Hash
        } else {
            Check::Size
        }
    }
}

/// What one pulled image came to.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The record img-pull prints.
    pub record: ImageRecord,
    /// Whether the store had it already (docker's "Image is up to date").
    pub up_to_date: bool,
}

/// Pulls `reference` (every tag of its repository with `all_tags`) into `store`.
pub fn pull(
    store: &Store,
    reference: &Reference,
    options: &PullOptions,
    config: &Config,
    progress: &dyn PullProgress,
) -> Result<Vec<Pulled>> {
    let wanted = options.wanted_platform()?;
    let security = Security {
        insecure: options.insecure,
    };
    let endpoints = endpoints(reference.domain(), config, security)?;
    if options.all_tags {
        if reference.digest().is_some() {
            // docker's words.
            return Err(Error::usage("tag can't be used with --all-tags/-a"));
        }
        let repo = reference.repository();
        let tags = first_answer(&endpoints, |client| client.tags(repo.path()))?;
        let mut out = Vec::new();
        for tag in tags {
            let r = repo.with_tag(&tag)?;
            let pulled = pull_one(store, &r, options, &wanted, &endpoints, progress)
                .map_err(|e| e.context(format!("pulling {:?}", r.familiar())))?;
            out.push(pulled);
        }
        return Ok(out);
    }
    let pulled = pull_one(store, reference, options, &wanted, &endpoints, progress)?;
    Ok(vec![pulled])
}

/// `f` on each endpoint in order until one answers; a mirror's failure falls through to
/// the next endpoint, the registry's own failure is the answer.
fn first_answer<T>(
    endpoints: &[Endpoint],
    mut f: impl FnMut(&RegistryClient) -> Result<T>,
) -> Result<T> {
    let mut last = None;
    for ep in endpoints {
        match f(&ep.client) {
            Ok(t) => return Ok(t),
            Err(e) if ep.mirror => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| Error::new(ErrorKind::NotFound, "no registry to ask")))
}

/// Pulls one reference from the first endpoint that has it.
fn pull_one(
    store: &Store,
    reference: &Reference,
    options: &PullOptions,
    wanted: &Platform,
    endpoints: &[Endpoint],
    progress: &dyn PullProgress,
) -> Result<Pulled> {
    // Pulled by digest before, for this platform: nothing to ask anyone.
    if let Some(d) = reference.digest()
        && let Some(pulled) = up_to_date(store, reference, d, options, wanted)?
    {
        return Ok(pulled);
    }
    first_answer(endpoints, |client| {
        Puller {
            store,
            client,
            reference,
            options,
            wanted,
            progress,
        }
        .run()
    })
}

/// Whether `image` is what a pull resolving to `resolved` with these options would make.
fn fits(image: &ImageInfo, resolved: &Digest, all_platforms: bool, wanted: &Platform) -> bool {
    let is_index = media_type::is_index(&image.target_media_type);
    if all_platforms {
        return is_index && &image.target == resolved;
    }
    // A manifest's own digest names exactly this image, whatever its platform (a pull
    // by a platform manifest's digest, or a tag naming a single-platform image).
    !is_index
        && (&image.target == resolved
            || Platform::parse(&image.platform).is_ok_and(|p| wanted.matches(&p)))
}

/// The pull that finds `resolved` already in the store, intact: re-tags it and returns its
/// record. `None` when a real pull must follow: the image is absent, does not fit these
/// options, has a damaged blob, or was deleted by a concurrent `img-rm -f` meanwhile (the
/// pull then fetches what is missing and records the image again).
fn up_to_date(
    store: &Store,
    reference: &Reference,
    resolved: &Digest,
    options: &PullOptions,
    wanted: &Platform,
) -> Result<Option<Pulled>> {
    let Some(image) = store.index().image_by_digest(&reference.name(), resolved)? else {
        return Ok(None);
    };
    if !fits(&image, resolved, options.all_platforms, wanted) {
        return Ok(None);
    }
    // Pinned (in one transaction) before their presence is checked: a concurrent prune
    // cannot take the blobs between "they are there" and the tag that makes them an
    // image's again; one that ran before shows as a blob missing below.
    let lease = store.lease(&format!("pulling {}", reference.familiar()))?;
    let blobs = store.index().image_blobs(&image.id)?;
    let mut pinned: Vec<&Digest> = blobs.iter().collect();
    pinned.extend([&image.id, &image.target, resolved]);
    lease.protect_all(&pinned)?;
    for d in &blobs {
        if store.blob_intact(d, options.check())? != Some(true) {
            return Ok(None);
        }
    }
    // docker says "up to date" only when the tag already named the image; a new tag for
    // an image already present is "Downloaded newer image".
    let name = reference.name();
    let had_tag = reference
        .tag()
        .is_none_or(|t| image.tags.iter().any(|(n, tg)| *n == name && tg == t));
    // Re-recording moves the tag here if it pointed elsewhere and refreshes nothing else
    // but the repo digest, which docker adds back on every pull (a load, or an img-rm of
    // it, leaves an image without one).
    if let Some(tag) = reference.tag() {
        match store.index().tag(&image.id, &reference.name(), tag) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    match store
        .index()
        .add_repo_digest(&image.id, &reference.name(), resolved)
    {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    }
    let Some(info) = store.index().image(&image.id)? else {
        return Ok(None);
    };
    lease.release()?;
    Ok(Some(Pulled {
        record: ImageRecord::of(reference, resolved, &info, 0, info.size)?,
        up_to_date: had_tag,
    }))
}

/// One pull from one endpoint.
struct Puller<'a> {
    store: &'a Store,
    client: &'a RegistryClient,
    reference: &'a Reference,
    options: &'a PullOptions,
    wanted: &'a Platform,
    progress: &'a dyn PullProgress,
}

/// One platform's image, fetched.
struct Fetched {
    manifest_digest: Digest,
    config_digest: Digest,
    config: ImageConfig,
    blobs: Vec<Digest>,
}

impl<'a> Puller<'a> {
    fn run(&self) -> Result<Pulled> {
        let name = self.reference.name();
        let asked = match (self.reference.digest(), self.reference.tag()) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.to_owned(),
            (None, None) => crate::reference::DEFAULT_TAG.to_owned(),
        };
        // A HEAD first when the store has an image of this repository: when the tag
        // still resolves to what we have, that is the whole pull. Otherwise the GET is
        // needed anyway, and a HEAD before it would only cost a round trip.
        if self.reference.digest().is_none()
            && self.store.index().has_repository(&name)?
            && let Ok(Some((resolved, _, _))) =
                self.client.head_manifest(self.reference.path(), &asked)
            && let Some(pulled) = up_to_date(
                self.store,
                self.reference,
                &resolved,
                self.options,
                self.wanted,
            )?
        {
            // docker's display still says what it pulls from when nothing is fetched.
            self.progress.resolved(self.reference, &resolved);
            return Ok(pulled);
        }
        let (bytes, content_type, announced) =
            self.client.get_manifest(self.reference.path(), &asked)?;
        let resolved = match announced {
            Some(d) => d,
            None => Digest::sha256_of(&bytes),
        };
        if let Some(d) = self.reference.digest() {
            d.verify(&bytes)
                .map_err(|e| e.context("verifying the manifest"))?;
        }
        self.progress.resolved(self.reference, &resolved);
        let lease = self
            .store
            .lease(&format!("pulling {}", self.reference.familiar()))?;
        // Pinned before it is written or found present (regression: a prune between the
        // manifest's commit and its protection left an image without its manifest); a
        // child manifest of an index is, likewise, in `fetch_child`.
        lease.protect(&resolved)?;
        let existed = self.store.index().image_by_digest(&name, &resolved)?;
        let document = Document::parse(Some(&content_type), &bytes)?;
        let (new, downloaded, reused) = match document {
            Document::Manifest(m) => {
                let (f, dl, re) = self.fetch_image(&lease, &m, &resolved)?;
                self.store.put_blob(&content_type, &bytes, &resolved)?;
                (
                    self.new_image(
                        f.config_digest.clone(),
                        &resolved,
                        &resolved,
                        &content_type,
                        &f,
                        Vec::new(),
                    ),
                    dl,
                    re,
                )
            }
            Document::Index(index) => {
                self.pull_index(&lease, &index, &bytes, &content_type, &resolved)?
            }
        };
        let info = self.store.index().put_image(&new)?;
        lease.release()?;
        Ok(Pulled {
            record: ImageRecord::of(self.reference, &resolved, &info, downloaded, reused)?,
            // A `--verify` pull that found every blob intact changed nothing.
            up_to_date: downloaded == 0 && existed.is_some_and(|e| e.id == info.id),
        })
    }

    /// The index: one platform's image (the tag names that manifest), or all of them (the
    /// tag names the index).
    fn pull_index(
        &self,
        lease: &Lease<'_>,
        index: &Index,
        bytes: &[u8],
        content_type: &str,
        resolved: &Digest,
    ) -> Result<(NewImage, u64, u64)> {
        if !self.options.all_platforms {
            let entry = index.select(self.wanted).ok_or_else(|| {
                let available: Vec<String> = index
                    .images()
                    .filter_map(|d| d.platform.as_ref().map(Platform::to_string))
                    .collect();
                Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "no image for platform {} in the index (it has {}): choose one with --platform",
                        self.wanted,
                        if available.is_empty() { "none".to_owned() } else { available.join(", ") }
                    ),
                )
            })?;
            let (f, dl, re) = self.fetch_child(lease, entry)?;
            // The index is kept too, so that inspect can show what the tag resolved to.
            self.store.put_blob(content_type, bytes, resolved)?;
            let new = self.new_image(
                f.config_digest.clone(),
                resolved,
                &entry.digest,
                &entry.media_type,
                &f,
                vec![resolved.clone()],
            );
            return Ok((new, dl, re));
        }
        let mut all = Vec::new();
        let (mut downloaded, mut reused) = (0, 0);
        for entry in index.images() {
            let (f, dl, re) = self.fetch_child(lease, entry)?;
            downloaded += dl;
            reused += re;
            all.push((entry.platform.clone(), f));
        }
        self.store.put_blob(content_type, bytes, resolved)?;
        // What inspect and ls show for the index: the host's platform if it is there.
        let shown = all
            .iter()
            .position(|(p, _)| p.as_ref().is_some_and(|p| self.wanted.matches(p)))
            .unwrap_or(0);
        let Some((_, main)) = all.get(shown) else {
            return Err(Error::new(
                ErrorKind::InvalidDocument,
                "the index lists no image manifests",
            ));
        };
        let mut extra: Vec<Digest> = Vec::new();
        for (_, f) in &all {
            extra.push(f.manifest_digest.clone());
            extra.extend(f.blobs.iter().cloned());
        }
        let new = self.new_image(
            resolved.clone(),
            resolved,
            resolved,
            content_type,
            main,
            extra,
        );
        Ok((new, downloaded, reused))
    }

    /// One platform's image of an index: its manifest (kept), config and layers.
    fn fetch_child(&self, lease: &Lease<'_>, entry: &Descriptor) -> Result<(Fetched, u64, u64)> {
        // Pinned before the store is asked for it.
        lease.protect(&entry.digest)?;
        let (m, m_bytes) = self.fetch_manifest(entry)?;
        let fetched = self.fetch_image(lease, &m, &entry.digest)?;
        self.store
            .put_blob(&entry.media_type, &m_bytes, &entry.digest)?;
        Ok(fetched)
    }

    fn new_image(
        &self,
        id: Digest,
        resolved: &Digest,
        target: &Digest,
        target_media_type: &str,
        main: &Fetched,
        extra: Vec<Digest>,
    ) -> NewImage {
        let name = self.reference.name();
        let mut blobs = main.blobs.clone();
        blobs.push(main.manifest_digest.clone());
        blobs.extend(extra);
        blobs.sort();
        blobs.dedup();
        let c = &main.config;
        let platform = Platform {
            os: c.os.clone(),
            architecture: c.architecture.clone(),
            variant: c.variant.clone(),
            ..Platform::default()
        };
        NewImage {
            id,
            target: target.clone(),
            target_media_type: target_media_type.to_owned(),
            created: c.created.clone(),
            platform: platform.to_string(),
            blobs,
            labels: c
                .config
                .as_ref()
                .and_then(|r| r.labels.clone())
                .unwrap_or_default()
                .into_iter()
                .collect::<BTreeMap<_, _>>(),
            tags: self
                .reference
                .tag()
                .map(|t| vec![(name.clone(), t.to_owned())])
                .unwrap_or_default(),
            repo_digests: vec![(name, resolved.clone())],
        }
    }

    /// A child manifest of an index, by digest, verified.
    fn fetch_manifest(&self, entry: &Descriptor) -> Result<(Manifest, Vec<u8>)> {
        if entry.size > crate::oci::MAX_MANIFEST_SIZE {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!(
                    "manifest {} is {} bytes, more than 4 MiB",
                    entry.digest, entry.size
                ),
            ));
        }
        let bytes = match self.store.read_blob(&entry.digest) {
            Ok(b) => b,
            Err(_) => {
                let (b, _, _) = self
                    .client
                    .get_manifest(self.reference.path(), &entry.digest.to_string())
                    .map_err(|e| e.context(format!("fetching manifest {}", entry.digest)))?;
                entry.digest.verify(&b)?;
                b
            }
        };
        match Document::parse(Some(&entry.media_type), &bytes)? {
            Document::Manifest(m) => Ok((*m, bytes)),
            Document::Index(_) => Err(Error::new(
                ErrorKind::Unsupported,
                format!("manifest {} is an index inside an index", entry.digest),
            )),
        }
    }

    /// Config and layers of one manifest, in parallel; returns the image and the bytes
    /// downloaded and reused.
    fn fetch_image(
        &self,
        lease: &Lease<'_>,
        m: &Manifest,
        manifest_digest: &Digest,
    ) -> Result<(Fetched, u64, u64)> {
        let config_mt = media_type::base(&m.config.media_type);
        if config_mt != media_type::OCI_CONFIG && config_mt != media_type::DOCKER_CONFIG {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("not a container image: its config is {config_mt:?}"),
            ));
        }
        for l in &m.layers {
            if media_type::layer_compression(&l.media_type).is_none() {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!(
                        "layer {} has unsupported media type {:?}",
                        l.digest, l.media_type
                    ),
                ));
            }
        }
        let blobs: Vec<&Descriptor> = m.blobs().collect();
        // Pinned before fetching: a committed blob is never without a root.
        lease.protect_all(&blobs.iter().map(|b| &b.digest).collect::<Vec<_>>())?;
        let (downloaded, reused) = self.fetch_blobs(&blobs)?;
        let config_bytes = self.store.read_blob(&m.config.digest)?;
        let config: ImageConfig = serde_json::from_slice(&config_bytes).map_err(|e| {
            Error::new(
                ErrorKind::InvalidDocument,
                format!("image config {} is malformed: {e}", m.config.digest),
            )
        })?;
        if config.rootfs.diff_ids.len() != m.layers.len() {
            return Err(Error::new(
                ErrorKind::InvalidDocument,
                format!(
                    "the config lists {} layers, the manifest {}",
                    config.rootfs.diff_ids.len(),
                    m.layers.len()
                ),
            ));
        }
        // What the config claims its layers inflate to, unverified (a pull does not
        // inflate them): a later load of the same image checks before relying on it.
        let claims: Vec<LayerDiffId> = m
            .layers
            .iter()
            .zip(&config.rootfs.diff_ids)
            .map(|(l, diff_id)| LayerDiffId {
                digest: l.digest.clone(),
                diff_id: diff_id.clone(),
                verified: false,
            })
            .collect();
        self.store.index().put_diff_ids(&claims)?;
        // Where the layers are, so a push to another repository of this registry mounts
        // them rather than uploading them again.
        let layers: Vec<&Digest> = m.layers.iter().map(|l| &l.digest).collect();
        self.store.index().put_blob_sources(
            &layers,
            self.reference.domain(),
            self.reference.path(),
        )?;
        Ok((
            Fetched {
                manifest_digest: manifest_digest.clone(),
                config_digest: m.config.digest.clone(),
                config,
                blobs: blobs.iter().map(|b| b.digest.clone()).collect(),
            },
            downloaded,
            reused,
        ))
    }
}
