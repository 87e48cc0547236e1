//! Docker's familiar forms of the names the index stores (`alpine`, `alpine:3.20`,
//! `alpine@sha256:…`): the one builder that the image record, ls, inspect, rm and verify
//! use, so that every tool shows a name the same way.

use super::ImageInfo;
use crate::digest::Digest;
use crate::error::Result;
use crate::reference::Reference;

/// Docker's familiar form of a full name (`docker.io/library/alpine` → `alpine`), as
/// [`Reference::familiar_name`] gives it; a name the grammar refuses (only a tampered
/// index holds one) is shown as it is.
pub fn familiar_name(full: &str) -> String {
    Reference::parse_normalized_name(full)
        .map(|r| r.familiar_name())
        .unwrap_or_else(|_| full.to_owned())
}

/// `name:tag` as docker shows it (`alpine:3.20`), from a full name and a tag.
pub fn familiar_tag(name: &str, tag: &str) -> Result<String> {
    Ok(Reference::parse_normalized_name(name)?
        .with_tag(tag)?
        .familiar())
}

/// `name@digest` as docker shows it (`alpine@sha256:…`), from a full name and a digest.
pub fn familiar_digest(name: &str, digest: &Digest) -> Result<String> {
    Ok(Reference::parse_normalized_name(name)?
        .with_digest(digest.clone())
        .familiar())
}

impl ImageInfo {
    /// Its tags, familiar `name:tag` forms, sorted as the index returns them: docker's
    /// `RepoTags`.
    pub fn familiar_tags(&self) -> Result<Vec<String>> {
        self.tags
            .iter()
            .map(|(name, tag)| familiar_tag(name, tag))
            .collect()
    }

    /// Its repository digests, familiar `name@digest` forms: docker's `RepoDigests`.
    pub fn familiar_digests(&self) -> Result<Vec<String>> {
        self.repo_digests
            .iter()
            .map(|(name, digest)| familiar_digest(name, digest))
            .collect()
    }
}
