//! Reading from a registry: manifests (capped and verified), their HEAD, and blobs as
//! streams that may resume at an offset.

use std::io::Read;

use super::auth::Scope;
use super::client::RegistryClient;
use super::http::{Request, expect, header};
use super::paths::{ManifestRef, check_repository, display_ref};
use super::retry;
use crate::digest::Digest;
use crate::error::{Error, ErrorKind, Result};
use crate::oci::{MAX_MANIFEST_SIZE, media_type};

/// A manifest as fetched: its exact bytes, the content type the registry declared, and
/// the `Docker-Content-Digest` it announced (checked against the bytes).
pub type FetchedManifest = (Vec<u8>, String, Option<Digest>);

/// What a HEAD of a manifest told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestHead {
    /// `(digest, size, content type)`, or `None` when the registry does not have it.
    pub found: Option<(Digest, u64, String)>,
    /// The `ratelimit-remaining` header as sent (`76;w=21600` on Docker Hub), if any.
    pub ratelimit_remaining: Option<String>,
}

/// A blob download in progress.
pub struct BlobResponse {
    /// The body, streamed from the network: from the start, or from the requested offset
    /// when `resumed`.
    pub reader: Box<dyn Read + Send>,
    /// The blob's whole size, when the registry said (Content-Length, or Content-Range's
    /// total for a partial answer).
    pub total_size: Option<u64>,
    /// Whether the registry honoured the range: the body starts at the requested offset.
    /// When false the body starts at byte 0 and the caller must start over.
    pub resumed: bool,
}

impl std::fmt::Debug for BlobResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobResponse")
            .field("total_size", &self.total_size)
            .field("resumed", &self.resumed)
            .finish_non_exhaustive()
    }
}

impl RegistryClient {
    /// Fetches the manifest or index `reference` (a tag or a digest) of `repository`,
    /// accepting every manifest and index type. Bodies over
    /// [`MAX_MANIFEST_SIZE`] are refused whatever Content-Length says; content fetched
    /// by digest must hash to it, and an announced `Docker-Content-Digest` must match.
    pub fn get_manifest(&self, repository: &str, reference: &str) -> Result<FetchedManifest> {
        let ctx = || {
            format!(
                "fetching manifest {:?} from {}",
                display_ref(repository, reference),
                self.host()
            )
        };
        self.get_manifest_inner(repository, reference)
            .map_err(|e| e.context(ctx()))
    }

    /// Sends the GET again when the body breaks off (a dropped connection: `send` only
    /// retries failures before the answer) or hashes wrong (damaged on the way: one
    /// fresh try, as for blobs).
    fn get_manifest_inner(&self, repository: &str, reference: &str) -> Result<FetchedManifest> {
        check_repository(repository)?;
        let r = ManifestRef::parse(reference)?;
        let mut attempt = 0;
        loop {
            match self.get_manifest_once(repository, &r)? {
                Err(e)
                    if attempt < self.options().retries
                        && (e.kind() == ErrorKind::Network
                            || (e.kind() == ErrorKind::DigestMismatch && attempt == 0)) =>
                {
                    std::thread::sleep(retry::backoff(attempt));
                    attempt += 1;
                }
                done => return done,
            }
        }
    }

    /// One GET. The outer error ends the fetch (`send` has retried what failed before an
    /// answer); the inner one is about the answer itself, which may be worth asking again.
    fn get_manifest_once(
        &self,
        repository: &str,
        r: &ManifestRef,
    ) -> Result<Result<FetchedManifest>> {
        let path = format!("/v2/{repository}/manifests/{}", r.as_path());
        let req = Request::new("GET", path, Scope::pull(repository))
            .header("accept", media_type::MANIFEST_ACCEPT);
        let resp = expect(self.send(req)?, &[200])?;
        let content_type = header(&resp, "content-type").unwrap_or_default();
        let announced = announced_digest(&resp)?;
        if let Some(len) = header(&resp, "content-length").and_then(|v| v.parse::<u64>().ok())
            && len > MAX_MANIFEST_SIZE
        {
            return Err(too_large(len));
        }
        let mut bytes = Vec::new();
        if let Err(e) = self
            .body_reader(resp)
            .take(MAX_MANIFEST_SIZE + 1)
            .read_to_end(&mut bytes)
        {
            // The answer started and broke off (or stalled): a transport failure, worth
            // asking again unless the host was given up on.
            let e = Error::new(ErrorKind::Network, e.to_string()).context("reading the manifest");
            return if self.stalled_for_good() {
                Err(e)
            } else {
                Ok(Err(e))
            };
        }
        if bytes.len() as u64 > MAX_MANIFEST_SIZE {
            return Err(too_large(bytes.len() as u64));
        }
        if let ManifestRef::Digest(d) = r
            && let Err(e) = d.verify(&bytes)
        {
            return Ok(Err(e));
        }
        if let Some(d) = &announced
            && let Err(e) = d.verify(&bytes)
        {
            return Ok(Err(e.context(
                "the registry's Docker-Content-Digest does not match the manifest",
            )));
        }
        Ok(Ok((bytes, content_type, announced)))
    }

    /// Asks for the manifest `reference` without its body: `Some((digest, size,
    /// content type))`, or `None` when the registry does not have it.
    pub fn head_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<(Digest, u64, String)>> {
        let head = self.check_manifest(repository, reference)?;
        Ok(head.found)
    }

    /// [`head_manifest`](Self::head_manifest), with the rate-limit header the registry
    /// sent along (Docker Hub's `ratelimit-remaining`), for `img-pull --check`.
    pub fn check_manifest(&self, repository: &str, reference: &str) -> Result<ManifestHead> {
        self.head_manifest_scoped(repository, reference, Scope::pull(repository))
    }

    /// [`head_manifest`](Self::head_manifest) on the way to a push, asked with the push's
    /// scope (pull and push), so that one token serves the whole push.
    pub fn head_manifest_for_push(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<(Digest, u64, String)>> {
        let head = self.head_manifest_scoped(repository, reference, Scope::push(repository))?;
        Ok(head.found)
    }

    fn head_manifest_scoped(
        &self,
        repository: &str,
        reference: &str,
        scope: Scope,
    ) -> Result<ManifestHead> {
        let ctx = || {
            format!(
                "checking manifest {:?} on {}",
                display_ref(repository, reference),
                self.host()
            )
        };
        self.head_manifest_inner(repository, reference, scope)
            .map_err(|e| e.context(ctx()))
    }

    fn head_manifest_inner(
        &self,
        repository: &str,
        reference: &str,
        scope: Scope,
    ) -> Result<ManifestHead> {
        check_repository(repository)?;
        let r = ManifestRef::parse(reference)?;
        let path = format!("/v2/{repository}/manifests/{}", r.as_path());
        let req = Request::new("HEAD", path, scope).header("accept", media_type::MANIFEST_ACCEPT);
        let resp = self.send(req)?;
        let ratelimit_remaining = header(&resp, "ratelimit-remaining")
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        if resp.status().as_u16() == 404 {
            return Ok(ManifestHead {
                found: None,
                ratelimit_remaining,
            });
        }
        let resp = expect(resp, &[200])?;
        let content_type = header(&resp, "content-type").unwrap_or_default();
        let size = header(&resp, "content-length")
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Registry,
                    "the registry did not say the manifest's size (no Content-Length)",
                )
            })?;
        let digest = match (announced_digest(&resp)?, r) {
            (Some(d), ManifestRef::Digest(asked)) if d != asked => {
                return Err(Error::new(
                    ErrorKind::DigestMismatch,
                    format!("asked for {asked}, the registry answered for {d}"),
                ));
            }
            (Some(d), _) => d,
            (None, ManifestRef::Digest(asked)) => asked,
            (None, ManifestRef::Tag(_)) => {
                return Err(Error::new(
                    ErrorKind::Registry,
                    "the registry did not say the manifest's digest (no Docker-Content-Digest); fetch it instead",
                ));
            }
        };
        Ok(ManifestHead {
            found: Some((digest, size, content_type)),
            ratelimit_remaining,
        })
    }

    /// Streams the blob `digest` of `repository`, from byte `range_start` when the
    /// registry honours ranges (see [`BlobResponse::resumed`]). The caller verifies the
    /// content (the digest module's `VerifyingReader`); nothing is buffered here.
    pub fn get_blob(
        &self,
        repository: &str,
        digest: &Digest,
        range_start: u64,
    ) -> Result<BlobResponse> {
        let ctx = || {
            format!(
                "fetching blob {digest} of {repository} from {}",
                self.host()
            )
        };
        self.get_blob_inner(repository, digest, range_start)
            .map_err(|e| e.context(ctx()))
    }

    fn get_blob_inner(
        &self,
        repository: &str,
        digest: &Digest,
        range_start: u64,
    ) -> Result<BlobResponse> {
        check_repository(repository)?;
        let path = format!("/v2/{repository}/blobs/{digest}");
        let mut req = Request::new("GET", path, Scope::pull(repository));
        if range_start > 0 {
            req = req.header("range", format!("bytes={range_start}-"));
        }
        let resp = expect(self.send(req)?, &[200, 206])?;
        let length = header(&resp, "content-length").and_then(|v| v.parse::<u64>().ok());
        let (total_size, resumed) = if resp.status().as_u16() == 206 {
            let range = header(&resp, "content-range").unwrap_or_default();
            let (first, total) = parse_content_range(&range).ok_or_else(|| {
                Error::new(
                    ErrorKind::Registry,
                    format!("the registry sent a partial answer with a malformed Content-Range {range:?}"),
                )
            })?;
            if first != range_start {
                return Err(Error::new(
                    ErrorKind::Registry,
                    format!("asked for bytes from {range_start}, the registry sent from {first}"),
                ));
            }
            (total.or(length.map(|l| l + range_start)), range_start > 0)
        } else {
            (length, false)
        };
        Ok(BlobResponse {
            reader: Box::new(self.body_reader(resp)),
            total_size,
            resumed,
        })
    }
}

fn too_large(len: u64) -> Error {
    Error::new(
        ErrorKind::TooLarge,
        format!("the manifest is {len} bytes, more than the {MAX_MANIFEST_SIZE} bytes allowed"),
    )
}

/// The `Docker-Content-Digest` header, parsed strictly (it may end up in a URL).
fn announced_digest(resp: &super::http::Response) -> Result<Option<Digest>> {
    match header(resp, "docker-content-digest") {
        None => Ok(None),
        Some(v) => Digest::parse(v.trim())
            .map(Some)
            .map_err(|e| e.context("the registry sent a malformed Docker-Content-Digest")),
    }
}

/// `bytes FIRST-LAST/TOTAL` (TOTAL may be `*`) → (FIRST, TOTAL).
fn parse_content_range(v: &str) -> Option<(u64, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let first: u64 = first.trim().parse().ok()?;
    let last: u64 = last.trim().parse().ok()?;
    if last < first {
        return None;
    }
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse::<u64>().ok()?),
    };
    Some((first, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_parse() {
        assert_eq!(
            parse_content_range("bytes 10-99/100"),
            Some((10, Some(100)))
        );
        assert_eq!(parse_content_range("bytes 0-0/*"), Some((0, None)));
        assert_eq!(parse_content_range("bytes 5-1/9"), None);
        assert_eq!(parse_content_range("items 0-1/2"), None);
        assert_eq!(parse_content_range(""), None);
    }
}
