//! Writing to a registry: blob existence checks, cross-repository mounts, monolithic and
//! chunked blob uploads, and manifests.

use std::io::Read;
use std::sync::atomic::Ordering;

use super::auth::Scope;
use super::client::RegistryClient;
use super::http::{Body, Request, Response, Target, expect, header};
use super::paths::{ManifestRef, add_query, check_repository, display_ref, resolve_location};
use super::sealed::SealedReader;
use crate::digest::Digest;
use crate::error::{Answer, Error, ErrorKind, Result};
use crate::oci::{Descriptor, MAX_MANIFEST_SIZE};

/// How a pushed blob reached the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobPush {
    /// The registry linked it from the repository named in `mount_from`: no bytes sent.
    Mounted,
    /// Its bytes were uploaded.
    Uploaded,
}

impl RegistryClient {
    /// Whether `repository` has the blob `digest` (a HEAD request).
    pub fn blob_exists(&self, repository: &str, digest: &Digest) -> Result<bool> {
        let ctx = || format!("checking blob {digest} of {repository} on {}", self.host());
        let inner = || -> Result<bool> {
            check_repository(repository)?;
            let path = format!("/v2/{repository}/blobs/{digest}");
            let resp = self.send(Request::new("HEAD", path, Scope::push(repository)))?;
            match resp.status().as_u16() {
                404 => Ok(false),
                _ => expect(resp, &[200]).map(|_| true),
            }
        };
        inner().map_err(|e| e.context(ctx()))
    }

    /// Asks the registry to link the blob `blob` into `repository` from the repository
    /// `from`, sending no bytes: `true` when it did (201). When it declines (202: `from`
    /// lacks the blob, or the registry does not mount), the upload it opened is
    /// cancelled, as docker cancels it before asking its next candidate.
    pub fn mount_blob(&self, repository: &str, blob: &Descriptor, from: &str) -> Result<bool> {
        let ctx = || {
            format!(
                "mounting blob {} into {repository} from {from} on {}",
                blob.digest,
                self.host()
            )
        };
        let inner = || -> Result<bool> {
            check_repository(repository)?;
            check_repository(from)?;
            let base = self.base_url()?;
            let start = format!("/v2/{repository}/blobs/uploads/");
            let path = format!("{start}?mount={}&from={from}", blob.digest);
            let resp = self.send(Request::new("POST", path, Scope::mount(repository, from)))?;
            let resp = expect_upload(resp, &[201, 202])?;
            if resp.status().as_u16() == 201 {
                check_committed(&resp, &blob.digest)?;
                return Ok(true);
            }
            let location = upload_location(&resp, &base, &start)?;
            drop(resp);
            self.cancel_upload(repository, location);
            Ok(false)
        };
        inner().map_err(|e| e.context(ctx()))
    }

    /// Best effort: an abandoned upload would otherwise sit in the registry's storage
    /// until its purge runs.
    fn cancel_upload(&self, repository: &str, location: String) {
        let cancel = Request {
            method: "DELETE",
            target: Target::Url(location),
            headers: Vec::new(),
            body: Body::Empty,
            scope: Scope::push(repository),
        };
        let _ = self.send(cancel);
    }

    /// Uploads the blob `blob` (its digest and size) of `repository`, reading exactly
    /// `blob.size` bytes from `reader`, which must hash to `blob.digest`.
    ///
    /// With `mount_from`, the registry is first asked to link the blob from that
    /// repository (201: done, nothing sent); when it declines (202) the upload it opened
    /// is used. The bytes stream up in one PUT, unless the registry asks for chunks (an
    /// `OCI-Chunk-Min-Length` on the upload it opened, or a 413 to an earlier whole blob:
    /// that one fails, retryable from a new session, see [`needs_new_session`]) or
    /// `ClientOptions::chunk_size` says so: then in PATCH chunks and a final PUT. Nothing
    /// is buffered beyond what ureq writes at a time, and the last bytes are sent only
    /// once the whole blob hashed to its digest ([`SealedReader`]): a corrupt blob fails
    /// before the registry has all of it.
    pub fn push_blob(
        &self,
        repository: &str,
        blob: &Descriptor,
        mount_from: Option<&str>,
        reader: impl Read,
    ) -> Result<BlobPush> {
        let ctx = || {
            format!(
                "pushing blob {} to {repository} on {}",
                blob.digest,
                self.host()
            )
        };
        self.push_blob_inner(repository, blob, mount_from, reader)
            .map_err(|e| e.context(ctx()))
    }

    fn push_blob_inner(
        &self,
        repository: &str,
        blob: &Descriptor,
        mount_from: Option<&str>,
        reader: impl Read,
    ) -> Result<BlobPush> {
        check_repository(repository)?;
        let digest = &blob.digest;
        let base = self.base_url()?;
        let start = format!("/v2/{repository}/blobs/uploads/");
        let post_path = match mount_from {
            Some(from) => {
                check_repository(from)?;
                format!("{start}?mount={digest}&from={from}")
            }
            None => start.clone(),
        };
        let scope = match mount_from {
            Some(from) => Scope::mount(repository, from),
            None => Scope::push(repository),
        };
        let resp = self.send(Request::new("POST", post_path, scope))?;
        let resp = expect_upload(
            resp,
            if mount_from.is_some() {
                &[201, 202]
            } else {
                &[202]
            },
        )?;
        if resp.status().as_u16() == 201 {
            check_committed(&resp, digest)?;
            return Ok(BlobPush::Mounted);
        }
        let mut location = upload_location(&resp, &base, &start)?;
        let chunk_size = self.chunk_size(&resp, blob.size);
        drop(resp);
        let result = self.upload(
            repository,
            blob,
            reader,
            chunk_size,
            &base,
            &start,
            &mut location,
        );
        if result.is_err() {
            self.cancel_upload(repository, location);
        }
        result
    }

    /// The chunk size for a blob of `size` bytes to the upload `opened` answers, or
    /// `None` for one PUT: the options' for a blob larger than it; else, when the
    /// registry asks, at least the minimum it says it accepts (a blob smaller than a
    /// chunk then goes in one PATCH, since a 413 refused it in a PUT).
    fn chunk_size(&self, opened: &Response, size: u64) -> Option<u64> {
        if let Some(n) = self.options().chunk_size {
            return (size > n).then_some(n.max(1));
        }
        let min = header(opened, "oci-chunk-min-length").and_then(|v| v.trim().parse::<u64>().ok());
        let refused_whole = self.wants_chunks.load(Ordering::Relaxed);
        match (min, refused_whole) {
            (None, false) => None,
            (min, _) => Some(min.unwrap_or(0).max(ASKED_CHUNK_SIZE)),
        }
    }

    /// Sends the bytes to the upload at `location` (updated as the registry moves it)
    /// and commits them: in one PUT, or in chunks of `chunk_size`.
    #[allow(clippy::too_many_arguments)]
    fn upload(
        &self,
        repository: &str,
        blob: &Descriptor,
        reader: impl Read,
        chunk_size: Option<u64>,
        base: &str,
        start: &str,
        location: &mut String,
    ) -> Result<BlobPush> {
        let digest = &blob.digest;

        let sealed = SealedReader::new(reader, digest.clone(), blob.size);
        let chunked = chunk_size.is_some() && blob.size > 0;
        let mut source = Watched {
            // A chunk cut mid-body leaves an upload the registry will not cancel: chunks
            // end in zeros instead, and the failure is asked after each (sealed.rs).
            inner: if chunked { sealed.padding() } else { sealed },
            failure: None,
        };
        let scope = Scope::push(repository);
        let commit_url;
        let Some(chunk_size) = chunk_size.filter(|_| blob.size > 0) else {
            // Monolithic: the bytes and the commit in one PUT.
            commit_url = add_query(location, "digest", &digest.to_string());
            let mut body = (&mut source).take(blob.size);
            let req = Request {
                method: "PUT",
                target: Target::Url(commit_url),
                headers: vec![("content-type", "application/octet-stream".to_owned())],
                body: Body::Stream(&mut body, blob.size),
                scope,
            };
            let sent = self.send(req);
            let sent = source.blame(sent)?;
            if sent.status().as_u16() == 413 {
                // Too large for one request (a proxy's body limit): this upload is lost
                // with its stream; the next ones go in chunks.
                self.wants_chunks.store(true, Ordering::Relaxed);
                return Err(Error::new(
                    ErrorKind::Registry,
                    format!("{TOO_LARGE_AT_ONCE}: it goes up in chunks from a new upload session"),
                )
                .with_answer(Answer::WholeBlobTooLarge));
            }
            let resp = expect_upload(sent, &[201])?;
            check_committed(&resp, digest)?;
            ensure_source_ended(&mut source)?;
            return Ok(BlobPush::Uploaded);
        };
        let mut offset = 0u64;
        while offset < blob.size {
            let n = chunk_size.min(blob.size - offset);
            let last = offset + n - 1;
            let mut body = (&mut source).take(n);
            let req = Request {
                method: "PATCH",
                target: Target::Url(location.clone()),
                headers: vec![
                    ("content-type", "application/octet-stream".to_owned()),
                    ("content-range", format!("{offset}-{last}")),
                ],
                body: Body::Stream(&mut body, n),
                scope: scope.clone(),
            };
            let sent = self.send(req);
            let sent = source.blame(sent);
            // The content's failure is the one to tell, whatever the registry said of
            // the chunk it ended (the upload is cancelled from the location it gave).
            let padded = source.inner.failure().map(source_error);
            let resp = match (sent.and_then(|r| expect_upload(r, &[202])), padded) {
                (Ok(resp), None) => resp,
                (Ok(resp), Some(e)) => {
                    *location = upload_location(&resp, base, start)?;
                    return Err(e);
                }
                (Err(_), Some(e)) | (Err(e), None) => return Err(e),
            };
            if let Some(range) = header(&resp, "range")
                && range.trim() != format!("0-{last}")
            {
                return Err(Error::new(
                    ErrorKind::Registry,
                    format!("after sending bytes 0-{last}, the registry says it has {range:?}"),
                ));
            }
            *location = upload_location(&resp, base, start)?;
            offset += n;
        }
        // Every byte is sent; the source must end here and hash right before we commit.
        ensure_source_ended(&mut source)?;
        commit_url = add_query(location, "digest", &digest.to_string());
        let req = Request {
            method: "PUT",
            target: Target::Url(commit_url),
            headers: Vec::new(),
            body: Body::Empty,
            scope,
        };
        let resp = expect_upload(self.send(req)?, &[201])?;
        check_committed(&resp, digest)?;
        Ok(BlobPush::Uploaded)
    }

    /// Stores `bytes` as the manifest `reference` (a tag, or the digest the bytes hash
    /// to) of `repository`, declared as `media_type`. Returns the manifest's digest.
    pub fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest> {
        let ctx = || {
            format!(
                "pushing manifest {:?} to {}",
                display_ref(repository, reference),
                self.host()
            )
        };
        let inner = || -> Result<Digest> {
            check_repository(repository)?;
            let r = ManifestRef::parse(reference)?;
            if bytes.len() as u64 > MAX_MANIFEST_SIZE {
                return Err(Error::new(
                    ErrorKind::TooLarge,
                    format!(
                        "the manifest is {} bytes, more than the {MAX_MANIFEST_SIZE} bytes registries accept",
                        bytes.len()
                    ),
                ));
            }
            let digest = Digest::sha256_of(bytes);
            if let ManifestRef::Digest(d) = &r {
                d.verify(bytes)?;
            }
            let path = format!("/v2/{repository}/manifests/{}", r.as_path());
            let req = Request {
                method: "PUT",
                target: Target::Path(path),
                headers: vec![("content-type", media_type.to_owned())],
                body: Body::Bytes(bytes),
                scope: Scope::push(repository),
            };
            let resp = expect(self.send(req)?, &[201])?;
            check_committed(&resp, &digest)?;
            Ok(digest)
        };
        inner().map_err(|e| e.context(ctx()))
    }
}

/// [`expect`] for an upload's requests: a registry failing (5xx) says its status in the
/// message too, since the error envelope's own ("unknown error") does not tell people
/// what failed (the retry decision reads [`Error::status`]).
fn expect_upload(resp: Response, ok: &[u16]) -> Result<Response> {
    let status = resp.status().as_u16();
    expect(resp, ok).map_err(|e| {
        if status >= 500 {
            e.context(format!("HTTP {status}"))
        } else {
            e
        }
    })
}

/// The chunk size when the registry asks for chunks without saying how large (a 413), or
/// says a smaller minimum.
const ASKED_CHUNK_SIZE: u64 = 16 * 1024 * 1024;

/// What a blob push failing with 413 says.
const TOO_LARGE_AT_ONCE: &str = "the registry refused the blob in one request (HTTP 413)";

/// Whether a failed [`RegistryClient::push_blob`] may succeed from a new upload session
/// because the registry asked for chunks (a 413 to the whole blob; a 413 to a chunk is
/// not: the next session would send the same chunks).
pub fn needs_new_session(e: &Error) -> bool {
    e.answer() == Some(Answer::WholeBlobTooLarge)
}

/// Where the upload continues: the `Location` of a 202, made absolute.
fn upload_location(resp: &Response, base: &str, request_path: &str) -> Result<String> {
    let loc = header(resp, "location").ok_or_else(|| {
        Error::new(
            ErrorKind::Registry,
            "the registry opened an upload without saying where (no Location)",
        )
    })?;
    resolve_location(base, request_path, &loc)
}

/// The registry's `Docker-Content-Digest` of what it stored, when it says, must be ours.
fn check_committed(resp: &Response, digest: &Digest) -> Result<()> {
    match header(resp, "docker-content-digest") {
        Some(d) if d.trim() != digest.to_string() => Err(Error::new(
            ErrorKind::DigestMismatch,
            format!("pushed {digest}, the registry stored {}", d.trim()),
        )),
        _ => Ok(()),
    }
}

/// Reads once more so the sealed reader sees its end: an empty blob (whose request sent
/// no byte) is verified here, and a stream that went wrong says so.
fn ensure_source_ended(source: &mut impl Read) -> Result<()> {
    let mut probe = [0u8; 1];
    let n = source.read(&mut probe).map_err(source_error)?;
    if n != 0 {
        return Err(Error::new(
            ErrorKind::TooLarge,
            "the blob's content is longer than its descriptor's size",
        ));
    }
    Ok(())
}

/// The blob's source, remembering why it failed: a read error surfaces from ureq as a
/// transport error, but it is the content that was wrong.
struct Watched<R> {
    inner: R,
    failure: Option<std::io::Error>,
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => Ok(n),
            Err(e) => {
                let copy = std::io::Error::new(e.kind(), e.to_string());
                self.failure = Some(e);
                Err(copy)
            }
        }
    }
}

impl<R> Watched<R> {
    /// The source's own failure, if it is why `sent` failed.
    fn blame<T>(&mut self, sent: Result<T>) -> Result<T> {
        match (sent, self.failure.take()) {
            (Err(_), Some(e)) => Err(source_error(e)),
            (sent, _) => sent,
        }
    }
}

/// A failure of the verifying reader, as the kind it means.
fn source_error(e: std::io::Error) -> Error {
    let kind = match e.kind() {
        std::io::ErrorKind::InvalidData if e.to_string().contains("larger than") => {
            ErrorKind::TooLarge
        }
        std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof => {
            ErrorKind::DigestMismatch
        }
        _ => ErrorKind::Io,
    };
    Error::new(kind, Error::from(e).message().to_owned()).context("reading the blob")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What pushing `data` as the 3-byte blob "abc" gives: the bytes handed to the
    /// request body, and the error, as the push reports it.
    fn send(data: &[u8]) -> (Vec<u8>, Result<()>) {
        let d = Digest::sha256_of(b"abc");
        let mut source = SealedReader::new(data, d, 3);
        let mut sent = Vec::new();
        let copied = std::io::copy(&mut (&mut source).take(3), &mut sent).map_err(source_error);
        (sent, copied.and_then(|_| ensure_source_ended(&mut source)))
    }

    #[test]
    fn a_long_or_wrong_source_is_refused_before_its_last_byte_is_sent() {
        let (sent, r) = send(b"abc");
        assert_eq!(sent, b"abc");
        r.unwrap();

        let (sent, r) = send(b"abcd");
        assert!(sent.is_empty(), "{sent:?}");
        assert_eq!(r.unwrap_err().kind(), ErrorKind::TooLarge);

        let (sent, r) = send(b"abd");
        assert!(sent.is_empty(), "{sent:?}");
        assert_eq!(r.unwrap_err().kind(), ErrorKind::DigestMismatch);

        let (sent, r) = send(b"ab");
        assert_eq!(sent, b"ab");
        assert_eq!(r.unwrap_err().kind(), ErrorKind::DigestMismatch);
    }
}
