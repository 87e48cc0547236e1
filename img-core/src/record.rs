//! The JSON records the img tools print, and the one reader that turns what a tool reads on
//! stdin (records of any img tool, a JSON array, plain lines) into [`Target`]s to act on.
//!
//! Keys are docker's, so `--format` templates written for docker keep working. In a pipe
//! each record is one line (JSON Lines); the examples below are spread out to be read.
//!
//! # Image — [`ImageRecord`], printed by img-pull, img-tag and img-pack load
//!
//! ```json
//! {"Id": "sha256:9234e8fb…", "Ref": "docker.io/library/alpine:3.20",
//!  "Digest": "sha256:beefdbd8…", "RepoTags": ["alpine:3.20"],
//!  "RepoDigests": ["alpine@sha256:beefdbd8…"], "Platform": "linux/arm64/v8",
//!  "Size": 4090681, "Downloaded": 4090681, "Reused": 0}
//! ```
//!
//! `Downloaded` and `Reused` (bytes) only come from img-pull. `Ref` is absent only for an
//! image without a name (img-pack load of an archive entry that has no tag).
//!
//! # Row — [`RowRecord`], printed by img-ls (strings, as docker prints them)
//!
//! ```json
//! {"ID": "9234e8fb04c4", "Repository": "alpine", "Tag": "3.20",
//!  "Digest": "sha256:beefdbd8…", "CreatedAt": "2024-07-22 22:26:43 +0000 UTC",
//!  "CreatedSince": "3 weeks ago", "Size": "8.83MB"}
//! ```
//!
//! # Removal — [`RemovalRecord`], printed by img-rm (docker's API shape)
//!
//! ```json
//! {"Untagged": "alpine:3.20"}
//! {"Deleted": "sha256:9234e8fb04c47cfe0f49931e4ac7eb76fa904e33b7f8576aec0501c085f02516"}
//! ```
//!
//! One image may give several records: `img-rm alpine:3.20` of an image's last tag prints
//! `{"Untagged": "alpine:3.20"}`, `{"Untagged": "alpine@sha256:…"}` (the repo digest goes
//! with the repository's last tag, as in docker), then `{"Deleted": "sha256:…"}`.
//!
//! `img-rm --prune` (docker image prune) prints the same records for each dangling image it
//! deletes, then one last record with the bytes its garbage collection freed (docker's API
//! calls it `SpaceReclaimed` too; on a terminal img-rm prints `Total reclaimed space: 1.2MB`):
//!
//! ```json
//! {"SpaceReclaimed": 1234567}
//! ```
//!
//! That last record names no image: read back on stdin it is reported as a bad item.
//!
//! # Search — [`SearchRecord`] and [`TagRecord`], printed by img-search
//!
//! A search result is docker 28's `docker search --format json` object, byte for byte:
//! string values, keys in docker's (alphabetical) order, the description on one line and
//! cut to 45 columns with `…` unless `--no-trunc`. A catalog entry (`img-search
//! --registry`) has the same keys, its `Name` being `HOST/repository`.
//!
//! ```json
//! {"Description":"A minimal Docker image based on Alpine Linux…","IsOfficial":"true","Name":"alpine","StarCount":"11000"}
//! {"Description":"","IsOfficial":"false","Name":"127.0.0.1:5000/team/app","StarCount":"0"}
//! ```
//!
//! A tag of a repository (`img-search --tags NAME`; `Digest` only with `--digests`):
//!
//! ```json
//! {"Name":"127.0.0.1:5000/team/app:1.2","Tag":"1.2","Digest":"sha256:…"}
//! ```
//!
//! # Reading: [`read_targets`] and [`read_target_items`]
//!
//! The input may be JSON Lines of any record above, a JSON array of them (as img-inspect
//! prints, indented over many lines; `docker inspect` output works too), plain lines of
//! references and IDs, or a mix, line by line. Blank lines are skipped. For a JSON object
//! the first of these rules that applies decides what it names:
//!
//! 1. `Ref` → that reference;
//! 2. `Repository` and `Tag`, neither `<none>` → `Repository:Tag`;
//! 3. `Name` → that reference (a search result, a tag listing);
//! 4. `Id` or `ID` → that image (img-inspect, docker inspect, img-ls rows without a tag);
//! 5. `Untagged` → that reference, `Deleted` → that image (img-rm's records read back).
//!
//! Before these, a check record (`img-pull --check`: `Ref` and a `Status` of
//! [`crate::ops::check::CheckStatus`]) names its `Ref` only when `Outdated`; with any
//! other status it names nothing and is skipped, so `img-pull --check | img-pull` pulls
//! exactly the images that are behind.
//!
//! A plain line, a JSON string, or a string element of an array is read as
//! [`Target::parse`] reads an argument. References are normalised with
//! [`Reference::parse_normalized`], so a reference without tag or digest means `:latest`,
//! as in docker.
//!
//! A bad item (malformed JSON, an object with none of the keys, an invalid reference) is an
//! [`ErrorKind::InvalidRecord`] error whose message starts with the line it begins on:
//! `line 3: "Ref": invalid reference "Alpine": …`.

use std::fmt;
use std::io::BufRead;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::digest::Digest;
use crate::error::{Error, ErrorKind, Result};
use crate::index::ImageInfo;
use crate::reference::{Reference, is_identifier};

/// What img-pull, img-tag and img-pack load print for each image they acted on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The image ID: the config digest, or the index digest of a multi-platform image.
    #[serde(rename = "Id")]
    pub id: Digest,
    /// The full reference acted on (`docker.io/library/alpine:3.20`); absent only for an
    /// image without a name.
    #[serde(rename = "Ref", skip_serializing_if = "Option::is_none", default)]
    pub reference: Option<Reference>,
    /// What the reference resolved to: the manifest or index digest.
    #[serde(rename = "Digest")]
    pub digest: Digest,
    /// Every tag of the image, familiar forms (`alpine:3.20`), as docker lists them.
    #[serde(rename = "RepoTags")]
    pub repo_tags: Vec<String>,
    /// `repo@digest` for each repository, familiar forms (`alpine@sha256:…`).
    #[serde(rename = "RepoDigests")]
    pub repo_digests: Vec<String>,
    /// The platform shown, as a string: `linux/arm64/v8`.
    #[serde(rename = "Platform")]
    pub platform: String,
    /// Bytes the image's blobs take in the store, compressed layers as stored.
    #[serde(rename = "Size")]
    pub size: u64,
    /// Bytes downloaded by this pull (img-pull only).
    #[serde(
        rename = "Downloaded",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub downloaded: Option<u64>,
    /// Bytes already in the store and reused by this pull (img-pull only).
    #[serde(rename = "Reused", skip_serializing_if = "Option::is_none", default)]
    pub reused: Option<u64>,
}

impl ImageRecord {
    /// The record of the image `info` as `reference` reached it (resolved to the
    /// manifest or index `resolved`; no reference for a loaded image without a name), its
    /// tags and repo digests in their familiar forms ([`ImageInfo::familiar_tags`]);
    /// `downloaded` and `reused` are a pull's bytes. The one constructor pull, tag, push
    /// and load share.
    pub fn of<'r>(
        reference: impl Into<Option<&'r Reference>>,
        resolved: &Digest,
        info: &ImageInfo,
        downloaded: u64,
        reused: u64,
    ) -> Result<ImageRecord> {
        Ok(ImageRecord {
            id: info.id.clone(),
            reference: reference.into().cloned(),
            digest: resolved.clone(),
            repo_tags: info.familiar_tags()?,
            repo_digests: info.familiar_digests()?,
            platform: info.platform.clone(),
            size: info.size,
            downloaded: Some(downloaded),
            reused: Some(reused),
        })
    }

    /// Every key an image record may have, in its order: what `--format` templates of
    /// img-pull, img-tag and img-pack load see (`""` for one a record leaves out).
    pub const KEYS: &'static [&'static str] = &[
        "Id",
        "Ref",
        "Digest",
        "RepoTags",
        "RepoDigests",
        "Platform",
        "Size",
        "Downloaded",
        "Reused",
    ];
}

/// What img-push prints for each pushed tag: the image record (`Ref` the pushed tag,
/// `Digest` what the registry now names by it) and the bytes by how they got there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushRecord {
    /// The image's record.
    #[serde(flatten)]
    pub image: ImageRecord,
    /// Bytes uploaded.
    #[serde(rename = "Pushed")]
    pub pushed: u64,
    /// Bytes linked from another repository of the registry (a cross-repository mount).
    #[serde(rename = "Mounted")]
    pub mounted: u64,
    /// Bytes the repository had already.
    #[serde(rename = "Existing")]
    pub existing: u64,
}

/// One row of img-ls, with docker's keys and docker's string renderings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowRecord {
    /// 12 hex digits, or `sha256:<64 hex>` with `--no-trunc`.
    #[serde(rename = "ID")]
    pub id: String,
    /// Familiar repository name (`alpine`, `localhost:5000/a`), or `<none>`.
    #[serde(rename = "Repository")]
    pub repository: String,
    /// The tag, or `<none>`.
    #[serde(rename = "Tag")]
    pub tag: String,
    /// The repository digest (`sha256:…`), or `<none>`.
    #[serde(rename = "Digest")]
    pub digest: String,
    /// Creation time as docker prints it: `2024-07-22 22:26:43 +0000 UTC`.
    #[serde(rename = "CreatedAt")]
    pub created_at: String,
    /// Human age: `3 weeks ago`.
    #[serde(rename = "CreatedSince")]
    pub created_since: String,
    /// Human size, as docker prints it: `8.83MB`.
    #[serde(rename = "Size")]
    pub size: String,
}

/// What img-rm did: docker's API shape, one key a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RemovalRecord {
    /// A tag or digest reference removed, familiar form: `{"Untagged": "alpine:3.20"}`.
    Untagged(String),
    /// An image deleted: `{"Deleted": "sha256:…"}`.
    Deleted(Digest),
    /// Bytes freed by `img-rm --prune`, its last record: `{"SpaceReclaimed": 1234567}`.
    SpaceReclaimed(u64),
    /// An image recorded again, untagged, by `img-rm --rebuild-index`:
    /// `{"Restored": "sha256:…"}`.
    Restored(Digest),
}

/// One search result of img-search (Docker Hub's search index, or a registry's catalog),
/// as docker 28's `search --format json` writes it: every value a string, keys in
/// docker's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchRecord {
    /// One-line description (cut to 45 columns with `…` unless `--no-trunc`), empty when
    /// there is none.
    #[serde(rename = "Description")]
    pub description: String,
    /// `"true"` for a Docker Official Image, else `"false"`.
    #[serde(rename = "IsOfficial")]
    pub is_official: String,
    /// Repository name as the index gives it (`alpine`, `bitnami/redis`), or
    /// `HOST/repository` for a catalog entry.
    #[serde(rename = "Name")]
    pub name: String,
    /// Stars on the index, in decimal.
    #[serde(rename = "StarCount")]
    pub star_count: String,
}

/// One tag of a repository, as img-search lists tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagRecord {
    /// The full reference of the tag: `localhost:5000/team/app:1.2`.
    #[serde(rename = "Name")]
    pub name: Reference,
    /// The tag alone.
    #[serde(rename = "Tag")]
    pub tag: String,
    /// The manifest digest the tag points to, when it was asked for.
    #[serde(rename = "Digest", skip_serializing_if = "Option::is_none", default)]
    pub digest: Option<Digest>,
}

/// Something a tool acts on, read from an argument, a plain line or a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A reference, normalised, `:latest` added when it had neither tag nor digest.
    Reference(Reference),
    /// An image ID or ID prefix as given (`9234e8fb`, `sha256:9234…`): never a name.
    Image(String),
    /// A string that is both a valid name and hex (`abcd`, `0e5574283393`): the caller
    /// tries the name first, then the ID prefix, as docker resolves it.
    NameOrId(String),
}

impl Target {
    /// Reads one argument or plain line: a full digest or a 64-hex ID → [`Target::Image`];
    /// otherwise a valid reference that is also an ID prefix (4 to 64 lowercase hex,
    /// `sha256:` allowed) → [`Target::NameOrId`]; a valid reference → [`Target::Reference`];
    /// an ID prefix that is no valid reference → [`Target::Image`]. Anything else is the
    /// reference's [`ErrorKind::InvalidReference`] error. `s` is taken as given, not trimmed.
    pub fn parse(s: &str) -> Result<Target> {
        if is_identifier(s) || Digest::parse(s).is_ok() {
            return Ok(Target::Image(s.to_owned()));
        }
        let id_like = looks_like_id(s);
        match Reference::parse_normalized(s) {
            Ok(_) if id_like => Ok(Target::NameOrId(s.to_owned())),
            Ok(r) => Ok(Target::Reference(r)),
            Err(_) if id_like => Ok(Target::Image(s.to_owned())),
            Err(e) => Err(e),
        }
    }
}

impl fmt::Display for Target {
    /// A reference in its familiar form (`alpine:3.20`), an ID as given: what error
    /// messages quote (`img-rm: "alpine:3.20": …`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Reference(r) => f.write_str(&r.familiar()),
            Target::Image(s) | Target::NameOrId(s) => f.write_str(s),
        }
    }
}

/// Whether `s` can be an image ID prefix: 4 to 64 lowercase hex digits, after an optional
/// `sha256:`.
pub fn looks_like_id(s: &str) -> bool {
    let hex = s.strip_prefix("sha256:").unwrap_or(s);
    (4..=64).contains(&hex.len()) && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Reads every target in `input` (see the module docs for the forms), failing on the first
/// bad item. For tools that go on past a bad item, use [`read_target_items`].
pub fn read_targets(input: impl BufRead) -> Result<Vec<Target>> {
    read_target_items(input)?.into_iter().collect()
}

/// Reads `input` to its end and returns one result per item, in input order: a tool acts
/// on the good ones and reports each bad one (`line N: …`, [`ErrorKind::InvalidRecord`]).
/// The outer error is an I/O failure while reading, or more input than
/// 256 MiB. Empty input gives no items.
///
/// Memory stays bounded whatever comes in: a line longer than 1 MiB is
/// skipped as it streams past and reported as one bad line; past 20
/// bad items the rest are counted in one last error (`… and N more bad lines`), and a
/// message quoting a bad line is cut short.
///
/// Invalid UTF-8 is replaced, so it fails the item it is in, not the whole input. After a
/// malformed JSON value spanning several lines, reading resumes at the next line that
/// starts at column 0 with something other than `}`, `]` or `,` (the next record of a JSON
/// Lines stream), so one broken indented array gives one error, not one per line.
pub fn read_target_items(input: impl BufRead) -> Result<Vec<Result<Target>>> {
    read_items_within(input, bounded::MAX_LINE, bounded::MAX_TOTAL)
}

/// [`read_target_items`] with the limits given (tests use small ones).
fn read_items_within(
    mut input: impl BufRead,
    max_line: usize,
    max_total: usize,
) -> Result<Vec<Result<Target>>> {
    let input = bounded::read_bounded(&mut input, max_line, max_total)?;
    Ok(parse_items(&input.text, &input.bad))
}

/// An [`ErrorKind::InvalidRecord`] error for the item starting on line `n` (1-based).
fn at_line(n: usize, message: &str) -> Error {
    Error::new(
        ErrorKind::InvalidRecord,
        format!("line {n}: {}", bounded::cap_message(message)),
    )
}

/// The reader proper, over the whole input; `bad` holds the lines (0-based) that could
/// not be kept, with their errors.
fn parse_items(text: &str, bad: &std::collections::HashMap<usize, String>) -> Vec<Result<Target>> {
    // (byte offset of the line in `text`, the line with its '\n')
    let mut lines = Vec::new();
    let mut offset = 0;
    for raw in text.split_inclusive('\n') {
        lines.push((offset, raw));
        offset += raw.len();
    }
    let mut out = bounded::Items::default();
    let mut i = 0;
    while i < lines.len() {
        let (start, raw) = lines[i];
        let n = i + 1;
        if let Some(message) = bad.get(&i) {
            out.push(Err(at_line(n, message)));
            i += 1;
            continue;
        }
        let line = raw.trim();
        let indent = raw.len() - raw.trim_start().len();
        i += 1;
        if line.is_empty() {
            continue;
        }
        if !line.starts_with(['{', '[', '"']) {
            out.push(Target::parse(line).map_err(|e| at_line(n, e.message())));
            continue;
        }
        let err = match serde_json::from_str::<Value>(line) {
            Ok(value) => {
                push_value(&mut out, value, n);
                continue;
            }
            Err(e) => e,
        };
        // Strings cannot span lines; objects and arrays can (img-inspect indents).
        if !err.is_eof() || line.starts_with('"') {
            out.push(Err(at_line(n, &malformed(&err, n, indent))));
            continue;
        }
        let from = start + indent;
        let mut stream = serde_json::Deserializer::from_str(&text[from..]).into_iter::<Value>();
        match stream.next() {
            Some(Ok(value)) => {
                let end = from + stream.byte_offset();
                // The line holding the value's last byte; the rest of it must be blank.
                let last = lines.partition_point(|&(s, _)| s < end) - 1;
                let (last_start, last_raw) = lines[last];
                push_value(&mut out, value, n);
                if !last_raw[end - last_start..].trim().is_empty() {
                    out.push(Err(at_line(
                        last + 1,
                        "unexpected text after the end of a JSON value (one record a line)",
                    )));
                }
                i = last + 1;
            }
            Some(Err(e)) => {
                // A lone bracket opens an indented value: its error is somewhere inside.
                // Otherwise this was a JSON Lines record cut short on its own line.
                let e = if matches!(line, "{" | "[") { &e } else { &err };
                out.push(Err(at_line(n, &malformed(e, n, indent))));
                while i < lines.len() && !starts_record(lines[i].1) {
                    // A line that could not be kept, inside the broken value: said too.
                    if let Some(message) = bad.get(&i) {
                        out.push(Err(at_line(i + 1, message)));
                    }
                    i += 1;
                }
            }
            None => out.push(Err(at_line(n, &malformed(&err, n, indent)))),
        }
    }
    out.finish()
}

/// Whether a line may start a record after a malformed multi-line value: it starts at
/// column 0 and is not the inside or the end of an indented JSON value.
fn starts_record(raw: &str) -> bool {
    raw.chars()
        .next()
        .is_some_and(|c| !c.is_whitespace() && !matches!(c, '}' | ']' | ','))
}

/// Describes a JSON syntax error of a value starting on line `n` after `indent` bytes,
/// with its place in the whole input.
fn malformed(err: &serde_json::Error, n: usize, indent: usize) -> String {
    let text = err.to_string();
    let what = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(w, _)| w);
    let line = n + err.line().saturating_sub(1);
    let column = if err.line() <= 1 {
        err.column() + indent
    } else {
        err.column()
    };
    let kind = if err.is_eof() {
        "truncated JSON"
    } else {
        "malformed JSON"
    };
    if line == n {
        format!("{kind}: {what} (column {column})")
    } else {
        format!("{kind}: {what} (line {line}, column {column})")
    }
}

/// Turns one parsed JSON value starting on line `n` into targets.
fn push_value(out: &mut bounded::Items, value: Value, n: usize) {
    match value {
        Value::Array(items) => {
            for (k, item) in items.into_iter().enumerate() {
                match value_target(item) {
                    Ok(None) => {}
                    Ok(Some(t)) => out.push(Ok(t)),
                    Err(m) => out.push(Err(at_line(n, &format!("array element {}: {m}", k + 1)))),
                }
            }
        }
        other => match value_target(other) {
            Ok(None) => {}
            Ok(Some(t)) => out.push(Ok(t)),
            Err(m) => out.push(Err(at_line(n, &m))),
        },
    }
}

/// One JSON value (an object or a string) as a target, or `None` for a record that names
/// nothing to act on on purpose (a check record not `Outdated`); the error has no line yet.
fn value_target(value: Value) -> std::result::Result<Option<Target>, String> {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(status)) = map.get("Status")
                && map.contains_key("Ref")
                && CHECK_STATUSES.contains(&status.as_str())
                && status != "Outdated"
            {
                return Ok(None);
            }
            record_target(&map).map(Some)
        }
        Value::String(s) => Target::parse(s.trim())
            .map(Some)
            .map_err(|e| e.message().to_owned()),
        Value::Array(_) => Err("a nested JSON array is not a record".to_owned()),
        Value::Null => Err("null is not a record".to_owned()),
        Value::Bool(_) | Value::Number(_) => Err(format!("the JSON value {value} is not a record")),
    }
}

/// The statuses of `img-pull --check`'s records: read back, only an `Outdated` one names
/// its `Ref`, so `img-pull --check | img-pull` pulls what is behind and nothing else (a
/// `Local` name never goes to a registry, a `Gone` one would only fail).
const CHECK_STATUSES: &[&str] = &["UpToDate", "Outdated", "Gone", "Local", "Pinned", "Error"];

/// Applies the rules of the module docs to one JSON object.
fn record_target(map: &Map<String, Value>) -> std::result::Result<Target, String> {
    let field = |key: &str| -> std::result::Result<Option<&str>, String> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(format!("{key:?} must be a string, found {other}")),
        }
    };
    let reference = |key: &str, s: &str| {
        Reference::parse_normalized(s)
            .map(Target::Reference)
            .map_err(|e| format!("{key:?}: {}", e.message()))
    };
    let image = |key: &str, s: &str| {
        if looks_like_id(s) || Digest::parse(s).is_ok() {
            Ok(Target::Image(s.to_owned()))
        } else {
            Err(format!(
                "{key:?}: {s:?} is not an image ID (expected hex, such as sha256:… or a \
                 12-digit short ID)"
            ))
        }
    };
    if let Some(r) = field("Ref")? {
        return reference("Ref", r);
    }
    if let (Some(repo), Some(tag)) = (field("Repository")?, field("Tag")?)
        && repo != "<none>"
        && tag != "<none>"
    {
        return reference("Repository", &format!("{repo}:{tag}"));
    }
    if let Some(name) = field("Name")? {
        return reference("Name", name);
    }
    for key in ["Id", "ID"] {
        if let Some(id) = field(key)? {
            return image(key, id);
        }
    }
    if let Some(r) = field("Untagged")? {
        return reference("Untagged", r);
    }
    if let Some(id) = field("Deleted")? {
        return image("Deleted", id);
    }
    if map.is_empty() {
        return Err("empty JSON object: nothing names an image".to_owned());
    }
    Err(
        "JSON object has none of the keys Ref, Repository and Tag, Name, Id, ID, Untagged \
         or Deleted: nothing names an image"
            .to_owned(),
    )
}

mod bounded;

#[cfg(test)]
mod limits_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
