//! `img-push`: docker push — send an image of the store to the registry its name points
//! at, exactly as stored (the same manifest bytes, so the registry's digest is the
//! image's), and record `repo@digest` among its RepoDigests.
//!
//! Order is what keeps a registry consistent whatever happens: every blob first (HEAD,
//! then the missing ones uploaded in parallel, re-hashed as they stream), the config last
//! of the blobs, platform manifests by digest before their index, and the tag last of
//! all, so an interrupted push never leaves a tag naming a manifest whose blobs are
//! missing. A lease pins the image's blobs for the whole push (a concurrent prune cannot
//! take one from under the upload).

use std::io::Read;
use std::sync::{Mutex, PoisonError};

use crate::digest::Digest;
use crate::error::{Answer, Error, ErrorKind, Result};
use crate::index::ImageInfo;
use crate::oci::{Descriptor, Document, ImageConfig, Manifest, Platform};
use crate::ops::parallel;
use crate::record::{ImageRecord, PushRecord};
use crate::reference::{DEFAULT_TAG, Reference};
use crate::registry::{BlobPush, RegistryClient, Security, endpoints, needs_new_session};
use crate::settings::Config;
use crate::store::Store;

mod compress;
pub mod display;
pub mod progress;

pub use compress::CompressionFormat;
pub use progress::{LayerEvent, NoPushProgress, PushProgress};

/// How many source repositories a layer is asked to be mounted from before it is
/// uploaded: docker's "up to three" candidates.
const MOUNT_CANDIDATES: usize = 3;

/// Attempts at one blob: a PUT failing with 5xx or a cut connection starts a new upload
/// session, this many times in all.
const BLOB_ATTEMPTS: u32 = 3;

/// How to push.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// Push only this platform of a multi-platform image (the tag names its manifest).
    pub platform: Option<Platform>,
    /// Push every tag of the repository that the store has.
    pub all_tags: bool,
    /// Parallel blob uploads (at least 1).
    pub jobs: usize,
    /// Plain HTTP and unverified TLS allowed for this command.
    pub insecure: bool,
    /// How uncompressed layers go up (`--compression-format`).
    pub compression: CompressionFormat,
}

/// One pushed tag.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The record img-push prints in a pipe.
    pub record: PushRecord,
    /// The tag pushed (`latest`).
    pub tag: String,
    /// The size of the manifest (or index) the tag names, as docker's last line says.
    pub size: u64,
}

/// Pushes `reference` (every tag of its repository in the store with `all_tags`).
pub fn push(
    store: &Store,
    reference: &Reference,
    options: &PushOptions,
    config: &Config,
    progress: &dyn PushProgress,
) -> Result<Vec<Pushed>> {
    if reference.digest().is_some() {
        return Err(Error::usage(format!(
            "cannot push a digest reference ({}): push NAME[:TAG]",
            reference.familiar()
        )));
    }
    let security = Security {
        insecure: options.insecure,
    };
    // Mirrors serve pulls only: a push goes to the registry itself.
    let client = endpoints(reference.domain(), config, security)?
        .into_iter()
        .find(|e| !e.mirror)
        .map(|e| e.client)
        .ok_or_else(|| Error::new(ErrorKind::NotFound, "no registry to push to"))?;
    let references = if options.all_tags {
        if reference.tag().is_some() {
            return Err(Error::usage("tag can't be used with --all-tags/-a"));
        }
        let tags = store_tags(store, &reference.name())?;
        if tags.is_empty() {
            return Err(not_local(reference));
        }
        tags.iter()
            .map(|t| reference.repository().with_tag(t))
            .collect::<Result<Vec<_>>>()?
    } else {
        vec![match reference.tag() {
            Some(_) => reference.clone(),
            None => reference.repository().with_tag(DEFAULT_TAG)?,
        }]
    };
    progress.repository(reference);
    let mut out = Vec::new();
    for r in &references {
        let pushed = Pusher {
            store,
            client: &client,
            reference: r,
            options,
            progress,
        }
        .run()
        .map_err(refusal)?;
        progress.pushed(&pushed.tag, &pushed.record.image.digest, pushed.size);
        out.push(pushed);
    }
    Ok(out)
}

/// The tags of repository `name` (full) in the store, sorted.
fn store_tags(store: &Store, name: &str) -> Result<Vec<String>> {
    let filter = crate::index::ListFilter {
        reference: vec![name.to_owned()],
        ..Default::default()
    };
    let mut tags: Vec<String> = store
        .index()
        .list_images(&filter)?
        .into_iter()
        .filter(|row| row.repository.as_deref() == Some(name))
        .filter_map(|row| row.tag)
        .collect();
    tags.sort();
    tags.dedup();
    Ok(tags)
}

/// A registry refusing the push, in docker's words (whether it said 401 after the token
/// it gave, or 403): the registry's own phrasing varies and says nothing more. Credentials
/// the registry layer found wrong or missing ([`Answer::Credentials`]) keep its wording,
/// the one every tool gives ("refused the credentials of …", "log in first"): docker's
/// line is for a refusal of access, and would hide that the password is what to fix.
fn refusal(e: Error) -> Error {
    match e.kind() {
        ErrorKind::Unauthorized if e.answer() == Some(Answer::Credentials) => e,
        ErrorKind::Unauthorized | ErrorKind::Denied => Error::new(
            ErrorKind::Denied,
            "denied: requested access to the resource is denied",
        ),
        _ => e,
    }
}

/// docker's refusal for a name the store does not have.
fn not_local(reference: &Reference) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!(
            "An image does not exist locally with the tag: {}",
            reference.familiar_name()
        ),
    )
}

/// Bytes by how they reached the registry.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    pushed: u64,
    mounted: u64,
    existing: u64,
}

/// One blob in the repository: its bytes by how they went, and the sources asked to
/// mount it that declined, to forget.
struct Sent {
    totals: Totals,
    declined: Vec<String>,
}

/// One tag's push.
struct Pusher<'a> {
    store: &'a Store,
    client: &'a RegistryClient,
    reference: &'a Reference,
    options: &'a PushOptions,
    progress: &'a dyn PushProgress,
}

impl Pusher<'_> {
    fn run(&self) -> Result<Pushed> {
        let name = self.reference.name();
        let tag = self.reference.tag().unwrap_or(DEFAULT_TAG).to_owned();
        let image = self
            .store
            .index()
            .image_by_tag(&name, &tag)?
            .ok_or_else(|| not_local(self.reference))?;
        let blobs = self.store.index().image_blobs(&image.id)?;
        let mut pinned: Vec<&Digest> = blobs.iter().collect();
        pinned.extend([&image.id, &image.target]);
        // The lease and its pins in one commit: a re-push is little more than its writes.
        let lease = self
            .store
            .lease_protecting(&format!("pushing {}", self.reference.familiar()), &pinned)?;
        let repo = self.reference.path();
        let bytes = self.read(&image.target)?;
        let mut totals = Totals::default();
        // What a manifest made for the push (compressed layers) pins.
        let mut converted = None;
        let (digest, media_type, bytes) =
            match Document::parse(Some(&image.target_media_type), &bytes)? {
                Document::Manifest(m) => {
                    if let Some(p) = &self.options.platform
                        && !Platform::parse(&image.platform).is_ok_and(|have| p.matches(&have))
                    {
                        return Err(Error::new(
                            ErrorKind::NotFound,
                            format!(
                                "image {} is {}, not {p}: it has no other platform to push",
                                self.reference.familiar(),
                                image.platform
                            ),
                        ));
                    }
                    match compress::convert(
                        self.store,
                        &lease,
                        &m,
                        &image.target_media_type,
                        self.options.compression,
                    )? {
                        Some(c) => {
                            self.push_manifest_blobs(&c.manifest, &c.digest, &mut totals)?;
                            converted = Some(c.closure);
                            (c.digest, c.media_type, c.bytes)
                        }
                        None => {
                            self.push_manifest_blobs(&m, &image.target, &mut totals)?;
                            (image.target.clone(), image.target_media_type.clone(), bytes)
                        }
                    }
                }
                Document::Index(index) => {
                    if let Some(p) = &self.options.platform {
                        let entry = index.select(p).ok_or_else(|| {
                            Error::new(
                                ErrorKind::NotFound,
                                format!(
                                    "image {} has no manifest for platform {p}",
                                    self.reference.familiar()
                                ),
                            )
                        })?;
                        let child = self.child(entry)?.ok_or_else(|| {
                            missing_child(self.reference, entry, "is not in the store")
                        })?;
                        match compress::convert(
                            self.store,
                            &lease,
                            &child.0,
                            &entry.media_type,
                            self.options.compression,
                        )? {
                            Some(c) => {
                                self.push_manifest_blobs(&c.manifest, &c.digest, &mut totals)?;
                                converted = Some(c.closure);
                                (c.digest, c.media_type, c.bytes)
                            }
                            None => {
                                self.push_manifest_blobs(&child.0, &entry.digest, &mut totals)?;
                                (entry.digest.clone(), entry.media_type.clone(), child.1)
                            }
                        }
                    } else {
                        // Each child as the one-manifest case goes (its uncompressed
                        // layers compressed), and the index over what went up.
                        let mut pushed_children = Vec::with_capacity(index.manifests.len());
                        let mut made = Vec::new();
                        for entry in &index.manifests {
                            match self.child(entry)? {
                                Some((m, child_bytes)) => {
                                    let (d, media_type, child_bytes, m) = match compress::convert(
                                        self.store,
                                        &lease,
                                        &m,
                                        &entry.media_type,
                                        self.options.compression,
                                    )? {
                                        Some(c) => {
                                            made.extend(c.closure);
                                            (c.digest, c.media_type, c.bytes, c.manifest)
                                        }
                                        None => (
                                            entry.digest.clone(),
                                            entry.media_type.clone(),
                                            child_bytes,
                                            m,
                                        ),
                                    };
                                    self.push_manifest_blobs(&m, &d, &mut totals)?;
                                    self.client.put_manifest(
                                        repo,
                                        &d.to_string(),
                                        &media_type,
                                        &child_bytes,
                                    )?;
                                    pushed_children.push((d, child_bytes.len() as u64));
                                }
                                // docker 28's rule: a child the store lacks is fine when the
                                // repository already has it.
                                None => {
                                    if self
                                        .client
                                        .head_manifest_for_push(repo, &entry.digest.to_string())?
                                        .is_none()
                                    {
                                        return Err(missing_child(
                                            self.reference,
                                            entry,
                                            "is not available locally or in the remote repository",
                                        ));
                                    }
                                    pushed_children.push((entry.digest.clone(), entry.size));
                                }
                            }
                        }
                        if made.is_empty() {
                            (image.target.clone(), image.target_media_type.clone(), bytes)
                        } else {
                            let bytes = compress::reindex(&bytes, &pushed_children)?;
                            let digest = Digest::sha256_of(&bytes);
                            lease.protect(&digest)?;
                            self.store
                                .put_blob(&image.target_media_type, &bytes, &digest)?;
                            made.push(digest.clone());
                            converted = Some(made);
                            (digest, image.target_media_type.clone(), bytes)
                        }
                    }
                }
            };
        // The tag last of all: everything it names is in the registry now.
        let pushed = self.client.put_manifest(repo, &tag, &media_type, &bytes)?;
        if pushed != digest {
            return Err(Error::new(
                ErrorKind::DigestMismatch,
                format!("pushed {digest}, the registry stored {pushed}"),
            ));
        }
        let mut info = self.record_repo_digest(&image, &digest)?;
        if let Some(closure) = converted {
            info = self.store.index().put_root(&image.id, &digest, &closure)?;
        }
        lease.release()?;
        let mut record = ImageRecord::of(self.reference, &digest, &info, 0, 0)?;
        record.downloaded = None;
        record.reused = None;
        Ok(Pushed {
            record: PushRecord {
                image: record,
                pushed: totals.pushed,
                mounted: totals.mounted,
                existing: totals.existing,
            },
            tag,
            size: bytes.len() as u64,
        })
    }

    /// A blob of the image, which the lease pins: gone only if the store was damaged.
    fn read(&self, digest: &Digest) -> Result<Vec<u8>> {
        self.store.read_blob(digest).map_err(|e| {
            e.context(format!(
                "reading {digest} of {}: repair it with img-pull --verify",
                self.reference.familiar()
            ))
        })
    }

    /// A child manifest of an index, when the store has it.
    fn child(&self, entry: &Descriptor) -> Result<Option<(Manifest, Vec<u8>)>> {
        if !self.store.has_blob(&entry.digest)? {
            return Ok(None);
        }
        let bytes = self.read(&entry.digest)?;
        match Document::parse(Some(&entry.media_type), &bytes)? {
            Document::Manifest(m) => Ok(Some((*m, bytes))),
            Document::Index(_) => Err(Error::new(
                ErrorKind::Unsupported,
                format!("manifest {} is an index inside an index", entry.digest),
            )),
        }
    }

    /// `repo@digest` among the image's RepoDigests, as docker records after a push;
    /// nothing written when the image has it already (a re-push: a commit is an fsync).
    fn record_repo_digest(&self, image: &ImageInfo, digest: &Digest) -> Result<ImageInfo> {
        let name = self.reference.name();
        if image
            .repo_digests
            .iter()
            .any(|(n, d)| *n == name && d == digest)
        {
            return Ok(image.clone());
        }
        let index = self.store.index();
        index.add_repo_digest(&image.id, &name, digest)?;
        index.image(&image.id)?.ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("image {} was removed during the push", image.id),
            )
        })
    }

    /// The blobs of manifest `m` (whose digest is `digest`): none asked for when the
    /// repository has the manifest already ([`Self::already_there`]); else every one
    /// HEADed first, [`head_jobs`] at once (a HEAD is a round trip, and a re-push is
    /// nothing but HEADs); then the layers the repository lacks go up `jobs` at once
    /// (docker's max-concurrent-uploads), and the config last.
    fn push_manifest_blobs(
        &self,
        m: &Manifest,
        digest: &Digest,
        totals: &mut Totals,
    ) -> Result<()> {
        let diff_ids = self
            .read(&m.config.digest)
            .ok()
            .and_then(|b| serde_json::from_slice::<ImageConfig>(&b).ok())
            .map(|c| c.rootfs.diff_ids)
            .unwrap_or_default();
        // Top layer first, as docker lists and starts them (its rows, and the ones past
        // `jobs` that wait, are the same).
        let layers: Vec<(&Descriptor, Option<&Digest>)> = m
            .layers
            .iter()
            .enumerate()
            .rev()
            .map(|(i, l)| (l, diff_ids.get(i)))
            .collect();
        for (l, diff_id) in &layers {
            self.progress.layer(l, *diff_id, LayerEvent::Preparing);
        }
        let jobs = parallel::workers(self.options.jobs, layers.len());
        // docker's rows past the first `jobs` say `Waiting`, on a re-push too: its
        // transfers run max-concurrent-uploads at once and each HEADs its blob inside its
        // slot. The rows stay docker's; img's HEADs below do not wait for a slot.
        for (l, diff_id) in layers.iter().skip(jobs) {
            self.progress.layer(l, *diff_id, LayerEvent::Waiting);
        }
        if self.already_there(m, digest)? {
            for (l, diff_id) in &layers {
                self.progress.layer(l, *diff_id, LayerEvent::Exists);
            }
            // Recorded unless every layer is known here already (a re-push: its rows stay
            // as they are rather than cost a commit).
            let digests: Vec<&Digest> = layers.iter().map(|(l, _)| &l.digest).collect();
            let index = self.store.index();
            let (domain, repo) = (self.reference.domain(), self.reference.path());
            if !index.has_blob_sources(&digests, domain, repo)? {
                index.put_blob_sources(&digests, domain, repo)?;
            }
            totals.existing += m.layers.iter().map(|l| l.size).sum::<u64>() + m.config.size;
            return Ok(());
        }
        let mut blobs: Vec<(&Descriptor, Option<&Digest>)> = layers.clone();
        blobs.push((&m.config, None));
        let heads: Vec<usize> = (0..blobs.len()).collect();
        let mut present = vec![false; blobs.len()];
        let found = parallel::run(&heads, head_jobs(self.options.jobs), |&i| {
            let (desc, diff_id) = blobs[i];
            let here = self
                .client
                .blob_exists(self.reference.path(), &desc.digest)?;
            if here {
                self.progress.layer(desc, diff_id, LayerEvent::Exists);
            }
            Ok((i, here))
        })?;
        for (i, here) in found {
            present[i] = here;
        }
        let mut sum = Totals::default();
        let mut missing = Vec::new();
        for (&(desc, diff_id), &here) in blobs.iter().zip(&present).take(layers.len()) {
            if here {
                sum.existing += desc.size;
            } else {
                missing.push((desc, diff_id));
            }
        }
        // The layers the repository now holds, recorded as its blobs in one write (even
        // when an upload failed: those that made it are there), each with the sources
        // that declined to mount it.
        let reached = Mutex::new(
            blobs
                .iter()
                .zip(&present)
                .take(layers.len())
                .filter(|(_, here)| **here)
                .map(|((desc, _), _)| (*desc, Vec::new()))
                .collect::<Vec<(&Descriptor, Vec<String>)>>(),
        );
        let uploaded = parallel::run(&missing, jobs, |&(desc, diff_id)| {
            let sent = self.send_blob(desc, diff_id)?;
            reached
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((desc, sent.declined));
            Ok(sent.totals)
        });
        let reached = reached.into_inner().unwrap_or_else(PoisonError::into_inner);
        let digests: Vec<&Digest> = reached
            .iter()
            .filter(|(d, _)| is_layer(d))
            .map(|(d, _)| &d.digest)
            .collect();
        self.store.index().put_blob_sources(
            &digests,
            self.reference.domain(),
            self.reference.path(),
        )?;
        // docker's rule: a source that declined the mount of a blob now in the target
        // (so the registry and the push's access were fine) lacks it, or may not be
        // read; it is never asked for that blob again.
        let declined: Vec<(&Digest, &str)> = reached
            .iter()
            .flat_map(|(d, from)| from.iter().map(|r| (&d.digest, r.as_str())))
            .collect();
        self.store
            .index()
            .forget_blob_sources(&declined, self.reference.domain())?;
        for t in uploaded? {
            sum.pushed += t.pushed;
            sum.mounted += t.mounted;
        }
        if present[layers.len()] {
            sum.existing += m.config.size;
        } else {
            let t = self.send_blob(&m.config, None)?.totals;
            sum.pushed += t.pushed;
            sum.mounted += t.mounted;
        }
        totals.pushed += sum.pushed;
        totals.mounted += sum.mounted;
        totals.existing += sum.existing;
        Ok(())
    }

    /// Whether the repository has the manifest `digest` already: asked (one HEAD) only
    /// when the store saw its layers there, a re-push. The registry then holds every
    /// blob the manifest names, since it refuses a manifest whose blobs it lacks, so none
    /// is HEADed (go-containerregistry skips them the same way); a fresh push asks
    /// nothing more than before.
    fn already_there(&self, m: &Manifest, digest: &Digest) -> Result<bool> {
        let Some(layer) = m.layers.first() else {
            return Ok(false);
        };
        let repo = self.reference.path();
        let seen_here = self
            .store
            .index()
            .blob_sources(&layer.digest, self.reference.domain())?
            .iter()
            .any(|r| r == repo);
        if !seen_here {
            return Ok(false);
        }
        let found = self
            .client
            .head_manifest_for_push(repo, &digest.to_string())?;
        Ok(found.is_some_and(|(d, _, _)| &d == digest))
    }

    /// The repositories of this registry a layer is asked to be mounted from, as docker
    /// asks: the [`MOUNT_CANDIDATES`] the store saw it in most recently, other than the
    /// target. Configs are never mounted.
    fn mount_sources(&self, desc: &Descriptor) -> Result<Vec<String>> {
        if !is_layer(desc) {
            return Ok(Vec::new());
        }
        let repo = self.reference.path();
        Ok(self
            .store
            .index()
            .blob_sources(&desc.digest, self.reference.domain())?
            .into_iter()
            .filter(|r| r != repo)
            .take(MOUNT_CANDIDATES)
            .collect())
    }

    /// Asks each source but the last to mount the layer, in turn: the first that does is
    /// returned. A source that declines (it lacks the blob: the registry opens an upload,
    /// cancelled here) or fails is passed over, as docker passes over its candidates; the
    /// last is left to [`Self::send_blob`], whose upload uses the session it opens. Those
    /// that declined or refused access go to `declined`; one that failed (a 5xx, a cut)
    /// said nothing about the blob and is kept.
    fn mount_from_any(
        &self,
        desc: &Descriptor,
        sources: &mut Vec<String>,
        declined: &mut Vec<String>,
    ) -> Result<Option<String>> {
        while sources.len() > 1 {
            let from = sources.remove(0);
            match self.client.mount_blob(self.reference.path(), desc, &from) {
                Ok(true) => return Ok(Some(from)),
                Ok(false) => declined.push(from),
                Err(e) if e.kind() == ErrorKind::DigestMismatch => return Err(e),
                Err(e) if refused(&e) => declined.push(from),
                Err(_) => {}
            }
        }
        Ok(None)
    }

    /// One blob the repository lacks: a mount, or its bytes streamed from the store and
    /// re-hashed on the way; a failed upload is retried from a new session.
    fn send_blob(&self, desc: &Descriptor, diff_id: Option<&Digest>) -> Result<Sent> {
        let repo = self.reference.path();
        let mut sources = self.mount_sources(desc)?;
        let mut declined = Vec::new();
        if let Some(source) = self.mount_from_any(desc, &mut sources, &mut declined)? {
            self.progress
                .layer(desc, diff_id, LayerEvent::Mounted(source));
            return Ok(Sent {
                totals: Totals {
                    mounted: desc.size,
                    ..Totals::default()
                },
                declined,
            });
        }
        let mut from = sources.pop();
        let mut attempt = 1;
        loop {
            let file = self.store.open_blob(&desc.digest)?;
            let reader = Counting {
                inner: file,
                seen: |n| self.progress.layer(desc, diff_id, LayerEvent::Progress(n)),
            };
            match self.client.push_blob(repo, desc, from.as_deref(), reader) {
                Ok(BlobPush::Uploaded) => {
                    // Asked to mount, the registry opened an upload instead: declined.
                    declined.extend(from);
                    self.progress.layer(desc, diff_id, LayerEvent::Pushed);
                    return Ok(Sent {
                        totals: Totals {
                            pushed: desc.size,
                            ..Totals::default()
                        },
                        declined,
                    });
                }
                Ok(BlobPush::Mounted) => {
                    // docker names the source by its path (`Mounted from me/base`).
                    let source = from.unwrap_or_default();
                    self.progress
                        .layer(desc, diff_id, LayerEvent::Mounted(source));
                    return Ok(Sent {
                        totals: Totals {
                            mounted: desc.size,
                            ..Totals::default()
                        },
                        declined,
                    });
                }
                Err(e)
                    if e.kind() == ErrorKind::DigestMismatch || e.kind() == ErrorKind::TooLarge =>
                {
                    return Err(e.context(format!(
                        "blob {} of {} in the store does not match its digest: the upload was \
                         abandoned; repair the image with img-pull --verify",
                        desc.digest,
                        self.reference.familiar()
                    )));
                }
                // Refused the source (no pull access there): upload instead, as docker
                // goes on after a mount it may not make.
                Err(e) if from.is_some() && refused(&e) => {
                    declined.extend(from.take());
                }
                Err(e) if attempt < BLOB_ATTEMPTS && retryable(&e) => {
                    crate::notice::say(&format!(
                        "retrying the upload of {} (attempt {} of {BLOB_ATTEMPTS}): {e}",
                        desc.digest.short(),
                        attempt + 1
                    ));
                    self.progress.layer(desc, diff_id, LayerEvent::Retrying);
                    std::thread::sleep(crate::registry::backoff(attempt - 1));
                    attempt += 1;
                    // A new session uploads the bytes.
                    from = None;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// How many HEADs a push sends at once: as many as a pull's small blobs (each is one
/// round trip on a pooled connection), unless `--jobs` asks for fewer than the default
/// (one at a time means one at a time).
fn head_jobs(jobs: usize) -> usize {
    let jobs = jobs.max(1);
    if jobs >= crate::settings::DEFAULT_JOBS {
        jobs.max(parallel::ROUND_TRIP_JOBS)
    } else {
        jobs
    }
}

/// Whether the registry refused access (to a mount's source, when the push may go on).
fn refused(e: &Error) -> bool {
    matches!(e.kind(), ErrorKind::Unauthorized | ErrorKind::Denied)
}

/// Whether `desc` is a layer (what docker mounts): a config or manifest never is.
fn is_layer(desc: &Descriptor) -> bool {
    crate::oci::media_type::layer_compression(&desc.media_type).is_some()
}

/// The refusal for an index child the push cannot send.
fn missing_child(reference: &Reference, entry: &Descriptor, why: &str) -> Error {
    let platform = entry
        .platform
        .as_ref()
        .map(|p| format!(" ({p})"))
        .unwrap_or_default();
    Error::new(
        ErrorKind::NotFound,
        format!(
            "manifest {}{platform} of {} {why}: pull it with img-pull --all-platforms, or push \
             one platform with --platform",
            entry.digest,
            reference.familiar()
        ),
    )
}

/// Whether an upload may succeed from a new session: the registry failed (5xx) or the
/// connection broke; a refusal (4xx) will not change.
fn retryable(e: &Error) -> bool {
    match e.kind() {
        ErrorKind::Network => true,
        // A 413 to the whole blob: the next session sends it in chunks.
        ErrorKind::Registry => e.status().is_some_and(|s| s >= 500) || needs_new_session(e),
        _ => false,
    }
}

/// A reader reporting how many bytes went through it.
struct Counting<R, F> {
    inner: R,
    seen: F,
}

impl<R: Read, F: Fn(u64)> Read for Counting<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            (self.seen)(n as u64);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 16: the decisions read the typed answer, never the message, whose words
    /// vary and may change.
    #[test]
    fn refusals_keep_credential_errors_and_give_dockers_line_for_access() {
        let docker = "denied: requested access to the resource is denied";
        let login = Error::new(ErrorKind::Unauthorized, "the token server wants a login")
            .with_answer(Answer::Credentials)
            .context("pushing");
        let kept = refusal(login.clone());
        assert_eq!(kept.to_string(), login.to_string());
        for access in [
            Error::new(ErrorKind::Unauthorized, "authentication required")
                .with_answer(Answer::Status(401)),
            Error::new(ErrorKind::Denied, "forbidden").with_answer(Answer::Status(403)),
            // Words that look like the credentials' are not what decides.
            Error::new(
                ErrorKind::Unauthorized,
                "log in first: refused the credentials",
            ),
        ] {
            let e = refusal(access.context("pushing"));
            assert_eq!(
                (e.kind(), e.to_string()),
                (ErrorKind::Denied, docker.to_owned())
            );
        }
        let other =
            Error::new(ErrorKind::NotFound, "manifest unknown").with_answer(Answer::Status(404));
        assert_eq!(refusal(other).kind(), ErrorKind::NotFound);
    }

    #[test]
    fn an_upload_is_retried_after_a_5xx_a_cut_or_a_whole_blob_refused_never_after_a_4xx() {
        let registry = |status| {
            Error::new(ErrorKind::Registry, "unknown error")
                .with_answer(Answer::Status(status))
                .context("pushing blob")
        };
        for status in [500, 502, 503, 599] {
            assert!(retryable(&registry(status)), "{status}");
        }
        for status in [400, 404, 405, 413, 416, 429] {
            assert!(!retryable(&registry(status)), "{status}");
        }
        let whole =
            Error::new(ErrorKind::Registry, "too large").with_answer(Answer::WholeBlobTooLarge);
        assert!(retryable(&whole) && needs_new_session(&whole));
        assert!(retryable(&Error::new(
            ErrorKind::Network,
            "connection reset"
        )));
        // The status's words without its type decide nothing.
        assert!(!retryable(&Error::new(
            ErrorKind::Registry,
            "HTTP 500: unknown error"
        )));
        assert!(!needs_new_session(&Error::new(
            ErrorKind::Registry,
            "the registry refused the blob in one request (HTTP 413)"
        )));
        // A refusal is not retried, whatever its status.
        let denied = Error::new(ErrorKind::Denied, "denied").with_answer(Answer::Status(503));
        assert!(!retryable(&denied));
    }
}
