//! The downloads of one pull: blobs fetched in parallel into the store's ingest, each
//! resumed from its partial, retried when the transfer breaks, verified before commit,
//! committed in batches with the others in flight (store/batch.rs).

use std::io::{Read, Write};

use super::Puller;
use crate::error::{Error, ErrorKind, Result};
use crate::oci::Descriptor;
use crate::ops::parallel;
use crate::ops::progress::BlobEvent;
use crate::store::{CommitGroup, Ingest, Then};

/// Attempts at one blob before giving up: transfers that break mid-way resume from what
/// arrived; content that fails its digest is fetched again once from scratch.
const BLOB_ATTEMPTS: u32 = 5;
/// The copy buffer of one download: large enough for few syscalls, small enough that
/// `jobs` of them stay far below the memory target.
const COPY_BUFFER: usize = 256 * 1024;

impl Puller<'_> {
    /// Fetches `blobs` with up to `jobs` at once; the first failure stops new work and is
    /// returned once the running downloads end (their partials stay for a resume).
    pub(super) fn fetch_blobs(&self, blobs: &[&Descriptor]) -> Result<(u64, u64)> {
        self.check_space(blobs)?;
        for b in blobs {
            self.progress.blob(b, BlobEvent::Waiting);
        }
        // The last blob first, as pulls always went.
        let order: Vec<&Descriptor> = blobs.iter().rev().copied().collect();
        // Small blobs are mostly their round trip: more of them at once, on connections
        // the pool keeps for the next one. An explicit --jobs below the default is kept
        // for them too (one at a time means one at a time).
        let jobs = self.options.jobs.max(1);
        let small_jobs = if jobs >= crate::settings::DEFAULT_JOBS {
            jobs.max(super::SMALL_BLOB_JOBS)
        } else {
            jobs
        };
        // Their commits go in batches: what arrives while one batch syncs goes in the
        // next, one directory sync and one index transaction for all of them.
        let group = self.store.commit_group();
        let done = parallel::run_sized(
            &order,
            jobs,
            small_jobs,
            |desc| desc.size < super::SMALL_BLOB,
            |desc| self.fetch_blob(desc, &group),
        );
        // Every blob handed over is committed by now (a leader commits until none is
        // waiting): whether they all went in.
        let committed = group.finish();
        let done = done?;
        committed?;
        Ok(done
            .into_iter()
            .fold((0, 0), |(dl, re), (d, r)| (dl + d, re + r)))
    }

    /// Refuses at once a download the store's filesystem cannot hold, rather than fill
    /// the disk first (a manifest may claim any size: 10 TB, with a body that never ends).
    fn check_space(&self, blobs: &[&Descriptor]) -> Result<()> {
        let mut needed = 0u64;
        for b in blobs {
            if self
                .store
                .blob_intact(&b.digest, crate::store::Check::Size)?
                != Some(true)
            {
                needed = needed.saturating_add(b.size);
            }
        }
        let free = self.store.free_bytes()?;
        if needed > free {
            return Err(Error::new(
                ErrorKind::Io,
                format!(
                    "no space left on device for this image: its blobs take {} to download but only {} is free in {}: free some space (img-rm --prune removes what no image uses) and try again",
                    crate::output::human_size(needed),
                    crate::output::human_size(free),
                    self.store.root().display()
                ),
            ));
        }
        Ok(())
    }

    /// One blob into the store: resumed from a partial when there is one, retried when the
    /// transfer breaks, verified before commit. Returns (bytes downloaded, bytes reused).
    pub(super) fn fetch_blob<'g>(
        &'g self,
        desc: &'g Descriptor,
        group: &CommitGroup<'g>,
    ) -> Result<(u64, u64)> {
        let ctx = || format!("fetching blob {}", desc.digest);
        let mut downloaded = 0u64;
        let mut attempt = 0;
        loop {
            // The client has already retried a request that got no good answer; only a
            // transfer that broke off (or hashed wrong) is worth another attempt here.
            let mut refused = false;
            let mut writer =
                match self
                    .store
                    .ingest_checked(&desc.digest, Some(desc.size), self.options.check())
                {
                    Ok(Ingest::AlreadyPresent) => {
                        self.progress.blob(desc, BlobEvent::Exists);
                        return Ok((downloaded, if downloaded == 0 { desc.size } else { 0 }));
                    }
                    Ok(Ingest::Writer(w)) => w,
                    Err(e) => return Err(e.context(ctx())),
                };
            let result = (|| -> Result<()> {
                let offset = writer.offset();
                if offset < desc.size {
                    let resp = self
                        .client
                        .get_blob(self.reference.path(), &desc.digest, offset)
                        .inspect_err(|_| refused = true)?;
                    if offset > 0 && !resp.resumed {
                        // The server ignored Range: start over from byte zero.
                        writer.truncate()?;
                    } else if offset > 0 {
                        self.progress.blob(desc, BlobEvent::Resuming(offset));
                    }
                    copy(resp.reader, &mut writer, |n| {
                        downloaded += n;
                        self.progress.blob(desc, BlobEvent::Progress(n));
                    })
                    .map_err(|e| cut_off(e, writer.offset(), desc.size))?;
                }
                Ok(())
            })();
            let result = result.and_then(|()| {
                self.progress.blob(desc, BlobEvent::Verifying);
                // Done once its batch is committed, on whichever thread commits it; this
                // one goes on to the next download meanwhile.
                let then: Then<'g> = Box::new(move |outcome| {
                    if outcome.is_ok() {
                        self.progress.blob(desc, BlobEvent::Done);
                    }
                });
                writer
                    .hand_to(group, Some(&desc.digest), &desc.media_type, then)
                    .map(drop)
            });
            match result {
                Ok(()) => return Ok((downloaded, 0)),
                Err(e) if !refused && attempt + 1 < BLOB_ATTEMPTS && retryable(&e, attempt) => {
                    attempt += 1;
                    self.progress.blob(desc, BlobEvent::Retrying(e.to_string()));
                    std::thread::sleep(crate::registry::backoff(attempt - 1));
                }
                // The client's own error names the blob, the repository and the host.
                Err(e) if refused => return Err(e),
                Err(e) if attempt > 0 => {
                    return Err(e.context(format!("{} ({} attempts)", ctx(), attempt + 1)));
                }
                Err(e) => return Err(e.context(ctx())),
            }
        }
    }
}

/// A transfer that broke off, said in our words: the HTTP library's ("Peer disconnected")
/// name neither who closed nor how far it got.
fn cut_off(e: std::io::Error, offset: u64, size: u64) -> Error {
    let closed = matches!(
        e.kind(),
        std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
    ) || e.to_string().contains("Peer disconnected");
    if closed {
        return Error::network_io(
            std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("the registry closed the connection after {offset} of {size} bytes"),
            ),
            "receiving the blob",
        );
    }
    Error::network_io(e, "receiving the blob")
}

/// Whether a failed blob transfer may succeed if tried again.
fn retryable(e: &Error, attempt: u32) -> bool {
    match e.kind() {
        ErrorKind::Network => true,
        ErrorKind::Io => matches!(
            e.io_kind(),
            Some(
                std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::Other
            )
        ),
        // Bytes that hash wrong may have been damaged on the way: one fresh try.
        ErrorKind::DigestMismatch => attempt == 0,
        _ => false,
    }
}

fn copy(
    mut from: impl Read,
    to: &mut impl Write,
    mut seen: impl FnMut(u64),
) -> std::io::Result<u64> {
    let mut buf = vec![0u8; COPY_BUFFER];
    let mut total = 0;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        total += n as u64;
        seen(n as u64);
    }
}
