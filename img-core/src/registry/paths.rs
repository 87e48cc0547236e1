//! The URL paths of the distribution API, and the checks that keep anything but a valid
//! repository, tag or digest out of them.

use crate::digest::Digest;
use crate::error::{Error, ErrorKind, Result};

/// Checks a repository path (`library/alpine`) with the reference grammar's own rules
/// (lowercase components of `[a-z0-9]` joined by `.`, `_`, `__` or dashes, separated by
/// `/`), before it goes into a URL.
pub fn check_repository(repo: &str) -> Result<()> {
    let bad = |why: String| {
        Error::new(
            ErrorKind::InvalidReference,
            format!("invalid repository name {repo:?}: {why}"),
        )
    };
    if repo.len() > crate::reference::MAX_PATH_LEN {
        return Err(bad(format!(
            "longer than {} characters",
            crate::reference::MAX_PATH_LEN
        )));
    }
    crate::reference::check_path(repo, repo).map_err(bad)
}

/// What a manifest reference is: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestRef {
    /// A tag (`3.20`).
    Tag(String),
    /// A digest (`sha256:…`).
    Digest(Digest),
}

impl ManifestRef {
    /// Parses a tag (`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`) or, when it has a colon, a digest.
    pub fn parse(reference: &str) -> Result<ManifestRef> {
        if reference.contains(':') {
            return Digest::parse(reference).map(ManifestRef::Digest);
        }
        let bytes = reference.as_bytes();
        let ok = !bytes.is_empty()
            && bytes.len() <= 128
            && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if ok {
            Ok(ManifestRef::Tag(reference.to_owned()))
        } else {
            Err(Error::new(
                ErrorKind::InvalidReference,
                format!(
                    "invalid tag {reference:?}: up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'"
                ),
            ))
        }
    }

    /// The path segment.
    pub fn as_path(&self) -> String {
        match self {
            ManifestRef::Tag(t) => t.clone(),
            ManifestRef::Digest(d) => d.to_string(),
        }
    }
}

/// `repo:tag` or `repo@digest`, for messages.
pub fn display_ref(repo: &str, reference: &str) -> String {
    if reference.contains(':') {
        format!("{repo}@{reference}")
    } else {
        format!("{repo}:{reference}")
    }
}

/// Resolves a `Location` (or `Link`) value against `base` (`scheme://host`): an absolute
/// URL is kept, an absolute path is put on `base`, and a relative path is taken as relative
/// to `request_path`'s directory.
pub fn resolve_location(base: &str, request_path: &str, location: &str) -> Result<String> {
    let location = location.trim();
    if location.starts_with("http://") || location.starts_with("https://") {
        return Ok(location.to_owned());
    }
    if location.starts_with("//") {
        let scheme = base.split("://").next().unwrap_or("https");
        return Ok(format!("{scheme}:{location}"));
    }
    if let Some(path) = location.strip_prefix('/') {
        return Ok(format!("{base}/{path}"));
    }
    if location.is_empty() {
        return Err(Error::new(
            ErrorKind::Registry,
            "the registry sent an empty Location",
        ));
    }
    let path = request_path.split('?').next().unwrap_or("");
    let dir = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "/",
    };
    Ok(format!("{base}{dir}{location}"))
}

/// Appends `key=value` to a URL that may already have a query.
pub fn add_query(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{key}={value}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_grammar() {
        for ok in [
            "alpine",
            "library/alpine",
            "a/b/c",
            "my-app",
            "my--app",
            "my_app",
            "my__app",
            "my.app",
            "test/oci-zstd",
            "0x/9",
        ] {
            check_repository(ok).unwrap();
        }
        for bad in [
            "", "Alpine", "/alpine", "alpine/", "a//b", "a/../b", "-a", "a-", "a___b", "a._b",
            "a b", "a?b", "a%2fb",
        ] {
            let e = check_repository(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidReference, "{bad}");
        }
    }

    #[test]
    fn references_are_tags_or_strict_digests() {
        assert_eq!(
            ManifestRef::parse("3.20").unwrap(),
            ManifestRef::Tag("3.20".into())
        );
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(ManifestRef::parse(&d).unwrap().as_path(), d);
        assert_eq!(
            ManifestRef::parse("sha256:../../x").unwrap_err().kind(),
            ErrorKind::InvalidDigest
        );
        for bad in ["", ".hidden", "-x", "a/b", "a?b", &"x".repeat(129)] {
            assert_eq!(
                ManifestRef::parse(bad).unwrap_err().kind(),
                ErrorKind::InvalidReference,
                "{bad}"
            );
        }
    }

    #[test]
    fn locations_resolve_like_a_browser() {
        let base = "http://127.0.0.1:5000";
        let req = "/v2/a/blobs/uploads/";
        assert_eq!(
            resolve_location(base, req, "/v2/a/blobs/uploads/u1?_state=x").unwrap(),
            "http://127.0.0.1:5000/v2/a/blobs/uploads/u1?_state=x"
        );
        assert_eq!(
            resolve_location(base, req, "https://other.example/up/1").unwrap(),
            "https://other.example/up/1"
        );
        assert_eq!(
            resolve_location(base, req, "u2").unwrap(),
            "http://127.0.0.1:5000/v2/a/blobs/uploads/u2"
        );
        assert_eq!(
            resolve_location(base, req, "//cdn.example/x").unwrap(),
            "http://cdn.example/x"
        );
        assert!(resolve_location(base, req, " ").is_err());
        assert_eq!(
            add_query("http://h/u", "digest", "d"),
            "http://h/u?digest=d"
        );
        assert_eq!(
            add_query("http://h/u?_state=s", "digest", "d"),
            "http://h/u?_state=s&digest=d"
        );
        assert_eq!(display_ref("a/b", "1.0"), "a/b:1.0");
        assert_eq!(display_ref("a/b", "sha256:ab"), "a/b@sha256:ab");
    }
}
