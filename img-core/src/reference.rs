//! Image references (`[host[:port]/]path[:tag][@digest]`): the grammar of
//! github.com/distribution/reference, docker's normalisation (`alpine` →
//! `docker.io/library/alpine:latest`) and docker's familiar short form for display.
//!
//! The grammar, written out (what [`Reference::parse_normalized`] accepts):
//!
//! ```text
//! reference  := name [ ":" tag ] [ "@" digest ]
//! name       := [ domain "/" ] path
//! domain     := host [ ":" port ]            host: DNS-like name, IPv4, or [IPv6]
//! host-part  := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]   joined by "."
//! port       := [0-9]+
//! path       := component ( "/" component )*               at most 255 characters
//! component  := [a-z0-9]+ ( separator [a-z0-9]+ )*
//! separator  := "." | "_" | "__" | "-"+
//! tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
//! digest     := sha256:<64 hex> | sha512:<128 hex>             (strict, see crate::digest)
//! ```
//!
//! Normalisation follows docker's `ParseNormalizedNamed`: the first `/`-separated part is a
//! domain when it is `localhost`, contains `.` or `:`, or has an uppercase letter (a path
//! may not); otherwise the domain is `docker.io`. `index.docker.io` is spelled `docker.io`,
//! and a one-part path on `docker.io` gets `library/` in front. A 64-hex string alone is
//! refused, since docker reads it as an image ID.
//!
//! Two deliberate differences from docker: digests are parsed strictly (only the algorithms
//! [`crate::digest`] knows, exact hex lengths), and a host that is not a valid DNS name
//! (`foo_bar.com/x`) is an error instead of silently becoming part of a domain-less path.
//! The 255-character limit applies to the path alone, as in distribution/reference v0.6
//! (docker 26 and later); the domain does not count.

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;
use crate::error::{Error, ErrorKind, Result};

/// The domain docker normalises Docker Hub references to.
pub const DOCKER_HUB_DOMAIN: &str = "docker.io";
/// The legacy Docker Hub domain, normalised to [`DOCKER_HUB_DOMAIN`].
pub const LEGACY_DOCKER_HUB_DOMAIN: &str = "index.docker.io";
/// The host actually contacted for [`DOCKER_HUB_DOMAIN`].
pub const DOCKER_HUB_REGISTRY: &str = "registry-1.docker.io";
/// The tag added to a reference that has neither a tag nor a digest.
pub const DEFAULT_TAG: &str = "latest";
/// The namespace of Docker Hub's official images (`alpine` is `library/alpine`).
const OFFICIAL_PREFIX: &str = "library/";
/// Longest path (the part after the domain) distribution accepts.
pub const MAX_PATH_LEN: usize = 255;
/// Longest tag docker accepts.
pub const MAX_TAG_LEN: usize = 128;

/// A normalised image reference: a domain, a path, and an optional tag and digest.
///
/// Built only by parsing or by the `with_*` helpers, so every `Reference` is valid.
/// Displays as the full form (`docker.io/library/alpine:3.20`); [`Reference::familiar`]
/// gives the form docker shows (`alpine:3.20`). Serialises as the full form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses `s` as docker does for `docker pull s`: normalises the name
    /// (`ParseNormalizedNamed`) and adds the tag `latest` when there is neither a tag nor a
    /// digest (`TagNameOnly`). `name:tag@digest` keeps both.
    pub fn parse_normalized(s: &str) -> Result<Reference> {
        let mut r = Reference::parse_normalized_name(s)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.to_owned());
        }
        Ok(r)
    }

    /// Parses and normalises `s` like [`Reference::parse_normalized`], but adds no tag:
    /// `alpine` stays `docker.io/library/alpine` (for `--all-tags`, repository filters).
    pub fn parse_normalized_name(s: &str) -> Result<Reference> {
        let invalid = |why: String| {
            Error::new(
                ErrorKind::InvalidReference,
                format!("invalid reference {}: {why}", quoted(s)),
            )
        };
        if s.is_empty() {
            return Err(invalid(
                "empty reference: expected [host[:port]/]name[:tag][@digest]".to_owned(),
            ));
        }
        if is_identifier(s) {
            return Err(invalid(
                "cannot specify 64-byte hexadecimal strings: that is an image ID, not a \
                 repository name"
                    .to_owned(),
            ));
        }
        // Names and tags cannot hold '@', so the first one starts the digest.
        let (rest, digest) = match s.split_once('@') {
            Some((rest, d)) => (
                rest,
                Some(Digest::parse(d).map_err(|e| invalid(e.message().to_owned()))?),
            ),
            None => (s, None),
        };
        // A ':' after the last '/' starts the tag; one before it belongs to a port.
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
            _ => (rest, None),
        };
        if name.is_empty() {
            return Err(invalid(
                "missing repository name before ':' or '@'".to_owned(),
            ));
        }
        if let Some(tag) = tag {
            check_tag(tag).map_err(invalid)?;
        }
        let (domain, remote) = split_domain(name);
        if let Some(d) = domain {
            check_domain(d).map_err(|why| {
                if is_namespace_like(d) {
                    // Taken for a domain only because of its capitals: the user
                    // most likely meant a lowercase repository namespace.
                    invalid(format!(
                        "repository name must be lowercase, found {} (at character 1)",
                        crate::quote::quote(d)
                    ))
                } else {
                    invalid(why)
                }
            })?;
        }
        check_path(s, remote).map_err(invalid)?;
        let domain = match domain {
            None | Some(LEGACY_DOCKER_HUB_DOMAIN) => DOCKER_HUB_DOMAIN,
            Some(d) => d,
        };
        let path = if domain == DOCKER_HUB_DOMAIN && !remote.contains('/') {
            format!("{OFFICIAL_PREFIX}{remote}")
        } else {
            remote.to_owned()
        };
        if path.len() > MAX_PATH_LEN {
            return Err(invalid(format!(
                "repository name {} is {} characters long, at most {MAX_PATH_LEN} are allowed",
                quoted(&path),
                path.len()
            )));
        }
        Ok(Reference {
            domain: domain.to_owned(),
            path,
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// The registry domain as written in the reference: `docker.io`, `localhost:5000`,
    /// `[::1]:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path on that registry: `library/alpine`, `user/app`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The full repository name, `domain/path`: `docker.io/library/alpine`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The host (and port) to contact: `registry-1.docker.io` for `docker.io`, otherwise
    /// the domain itself.
    pub fn registry_host(&self) -> &str {
        if self.is_docker_hub() {
            DOCKER_HUB_REGISTRY
        } else {
            &self.domain
        }
    }

    /// Whether the reference names Docker Hub (`docker.io`, also written `index.docker.io`
    /// or nothing at all). `registry-1.docker.io/…` written out is taken as any other
    /// registry, as docker does.
    pub fn is_docker_hub(&self) -> bool {
        self.domain == DOCKER_HUB_DOMAIN
    }

    /// The name as docker shows it (`FamiliarName`): without `docker.io/`, and without
    /// `library/` for official images: `alpine`, `user/app`, `localhost:5000/a`.
    ///
    /// Unlike docker, keeps `docker.io/` when dropping it would change the meaning (a Hub
    /// path whose first part would be read as a domain, such as `docker.io/localhost/x`),
    /// so the familiar form always parses back to the same reference.
    pub fn familiar_name(&self) -> String {
        if !self.is_docker_hub() {
            return self.name();
        }
        if let Some(rest) = self.path.strip_prefix(OFFICIAL_PREFIX)
            && !rest.contains('/')
        {
            return rest.to_owned();
        }
        match self.path.split_once('/') {
            Some((first, _)) if is_domain_like(first) => self.name(),
            _ => self.path.clone(),
        }
    }

    /// The reference as docker shows it (`FamiliarString`): [`Reference::familiar_name`]
    /// with the tag and digest: `alpine:3.20`, `user/app@sha256:…`.
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        self.push_suffix(&mut s);
        s
    }

    /// The same repository with `tag` (checked against the tag grammar); a digest is kept.
    pub fn with_tag(&self, tag: &str) -> Result<Reference> {
        check_tag(tag).map_err(|why| {
            Error::new(
                ErrorKind::InvalidReference,
                format!("invalid tag {}: {why}", quoted(tag)),
            )
        })?;
        Ok(Reference {
            tag: Some(tag.to_owned()),
            ..self.clone()
        })
    }

    /// The same reference with `digest`; a tag is kept.
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The same reference without its tag (`ParseDockerRef` drops the tag of
    /// `name:tag@digest`, since the digest alone decides what is fetched).
    pub fn without_tag(&self) -> Reference {
        Reference {
            tag: None,
            ..self.clone()
        }
    }

    /// The repository alone, with neither tag nor digest: `docker.io/library/alpine`.
    pub fn repository(&self) -> Reference {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: None,
        }
    }

    fn push_suffix(&self, s: &mut String) {
        if let Some(tag) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            s.push('@');
            s.push_str(&digest.to_string());
        }
    }
}

/// Splits a name into (domain, remote path) as docker's `splitDockerDomain` decides:
/// no domain for a one-part name or a first part that looks like a namespace.
fn split_domain(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest)) if is_domain_like(first) || is_namespace_like(first) => {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

/// `localhost`, or something with a `.` or `:` (a DNS name, an IP address, a port).
fn is_domain_like(first: &str) -> bool {
    first == "localhost" || first.contains(['.', ':'])
}

/// A first part docker takes for a domain only because a namespace may not have capitals.
fn is_namespace_like(first: &str) -> bool {
    !is_domain_like(first) && first.bytes().any(|b| b.is_ascii_uppercase())
}

/// A 64-character lowercase hex string: an image ID, which docker refuses as a name.
pub(crate) fn is_identifier(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Checks `tag` against `[\w][\w.-]{0,127}`; the error says what is wrong with it.
fn check_tag(tag: &str) -> std::result::Result<(), String> {
    let Some(&first) = tag.as_bytes().first() else {
        return Err("empty tag after ':'".to_owned());
    };
    if tag.len() > MAX_TAG_LEN {
        return Err(format!(
            "tag is {} characters long, at most {MAX_TAG_LEN} are allowed",
            tag.chars().count()
        ));
    }
    if !is_word(first) {
        return Err(format!(
            "tag {} must start with a letter, a digit or '_'",
            quoted(tag)
        ));
    }
    if let Some((i, c)) = tag
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii() && (is_word(c as u8) || c == '.' || c == '-')))
    {
        return Err(format!(
            "tag {} has invalid character {} at position {} (letters, digits, '_', '.' \
             and '-' are allowed)",
            quoted(tag),
            crate::quote::quote_rune(c),
            tag[..i].chars().count() + 1
        ));
    }
    Ok(())
}

/// Checks a registry domain: `host[:port]`, host a DNS-like name, IPv4 or `[IPv6]`.
fn check_domain(domain: &str) -> std::result::Result<(), String> {
    let bad = |why: String| Err(format!("invalid registry domain {}: {why}", quoted(domain)));
    let (host, port) = if let Some(inner) = domain.strip_prefix('[') {
        let Some(end) = inner.find(']') else {
            return bad("'[' without a closing ']'".to_owned());
        };
        let (addr, after) = (&inner[..end], &inner[end + 1..]);
        if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return bad(
                "an IPv6 address in brackets may hold only hex digits and ':' (no zone, no \
                 embedded IPv4)"
                    .to_owned(),
            );
        }
        match after.strip_prefix(':') {
            Some(port) => (None, Some(port)),
            None if after.is_empty() => (None, None),
            None => {
                return bad(format!(
                    "unexpected {} after ']'",
                    crate::quote::quote(after)
                ));
            }
        }
    } else {
        match domain.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(domain), None),
        }
    };
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return bad(format!(
            "port {} must be a number",
            crate::quote::quote(port)
        ));
    }
    if let Some(host) = host {
        for label in host.split('.') {
            if label.is_empty() {
                return bad("empty part between dots".to_owned());
            }
            if let Some(c) = label
                .chars()
                .find(|&c| !(c.is_ascii_alphanumeric() || c == '-'))
            {
                return bad(format!(
                    "invalid character {} (a host name holds letters, digits, '-' and '.')",
                    crate::quote::quote_rune(c)
                ));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return bad(format!(
                    "part {} must not start or end with '-'",
                    crate::quote::quote(label)
                ));
            }
        }
    }
    Ok(())
}

/// Checks the repository path as the user wrote it (`remote`, a slice of `input`).
pub(crate) fn check_path(input: &str, remote: &str) -> std::result::Result<(), String> {
    if remote.is_empty() {
        return Err("missing repository name after the registry domain".to_owned());
    }
    if let Some(i) = remote.find(|c: char| c.is_ascii_uppercase()) {
        return Err(format!(
            "repository name must be lowercase, found {} in {} (at character {})",
            crate::quote::quote(&remote[i..i + 1]),
            quoted(remote),
            char_pos(input, remote, i)
        ));
    }
    let mut offset = 0;
    for component in remote.split('/') {
        check_component(input, remote, component, offset)?;
        offset += component.len() + 1;
    }
    Ok(())
}

/// Checks one `/`-separated path component: `[a-z0-9]+ (separator [a-z0-9]+)*`.
fn check_component(
    input: &str,
    remote: &str,
    component: &str,
    offset: usize,
) -> std::result::Result<(), String> {
    let at = |i: usize| char_pos(input, remote, offset + i);
    if component.is_empty() {
        return Err(format!(
            "empty path component in {} (at character {}): '/' must separate non-empty \
             names",
            quoted(remote),
            at(0)
        ));
    }
    if let Some((i, c)) = component
        .char_indices()
        .find(|&(_, c)| !matches!(c, 'a'..='z' | '0'..='9' | '.' | '_' | '-'))
    {
        return Err(format!(
            "invalid character {} in repository name {} (at character {}): \
             lowercase letters, digits and the separators '.', '_', '__' and '-' are allowed",
            crate::quote::quote_rune(c),
            quoted(remote),
            at(i)
        ));
    }
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        let i = if alnum(bytes[0]) { bytes.len() - 1 } else { 0 };
        return Err(format!(
            "path component {} must start and end with a lowercase letter or digit \
             (at character {})",
            quoted(component),
            at(i)
        ));
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &component[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|b| b == b'-');
        if !ok {
            return Err(format!(
                "invalid separator {} in path component {} (at character {}): use one \
                 '.', one or two '_', or dashes",
                crate::quote::quote(sep),
                quoted(component),
                at(start)
            ));
        }
    }
    Ok(())
}

/// 1-based character position in `input` of byte `i` of `part`, a slice of `input`.
fn char_pos(input: &str, part: &str, i: usize) -> usize {
    let base = (part.as_ptr() as usize).saturating_sub(input.as_ptr() as usize);
    let byte = (base + i).min(input.len());
    input
        .get(..byte)
        .map_or(byte, |prefix| prefix.chars().count())
        + 1
}

/// Outside input quoted as Go's `%q` does (control bytes escaped) and shortened, so one bad
/// line neither floods nor drives the terminal.
fn quoted(s: &str) -> String {
    if s.chars().count() > 80 {
        let t: String = s.chars().take(77).collect();
        format!("{}…", crate::quote::quote(t))
    } else {
        crate::quote::quote(s)
    }
}

impl fmt::Display for Reference {
    /// The full form: `docker.io/library/alpine:3.20`, `localhost:5000/a@sha256:…`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        self.push_suffix(&mut s);
        f.write_str(&s)
    }
}

impl FromStr for Reference {
    type Err = Error;
    /// [`Reference::parse_normalized_name`]: normalises, adds no tag, so the full form
    /// round-trips exactly.
    fn from_str(s: &str) -> Result<Reference> {
        Reference::parse_normalized_name(s)
    }
}

impl serde::Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Reference {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Reference, D::Error> {
        let s = String::deserialize(d)?;
        Reference::parse_normalized_name(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
