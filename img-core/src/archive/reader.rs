//! Reading an archive (a tar stream, compressed or not, or an OCI layout directory) into
//! what a load needs: its documents in memory, and every file it may need staged in the
//! store's `ingest/` — hashed as it streams by, verified against the digest its path names,
//! invisible until the load commits, removed if it does not. Nothing is ever extracted by
//! its tar path: a name only becomes a key in a map.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Read, Write};
use std::path::Path;

use super::layout::{self, INDEX_JSON, MANIFEST_JSON, OCI_LAYOUT, REPOSITORIES};
use super::safety::{self, EntryKind, MAX_LINK_HOPS};
use crate::compression::{Outer, decompress};
use crate::digest::{Algorithm, Digest};
use crate::error::{Error, ErrorKind, Result};
use crate::oci::{Document, MAX_MANIFEST_SIZE};
use crate::quote::{escape, excerpt, quote};
use crate::store::{Staged, Store};

/// Size of the copy buffer: big reads keep a load near the disk's speed.
const COPY_BUF: usize = 1 << 20;

/// What an archive holds, as a load sees it.
#[derive(Debug, Default)]
pub struct Contents<'s> {
    /// The top-level documents (`manifest.json`, `index.json`, `repositories`,
    /// `oci-layout`), whole.
    pub docs: BTreeMap<String, Vec<u8>>,
    /// Every kept file's archive path (symlinks resolved) → the digest of its bytes.
    pub files: BTreeMap<String, Digest>,
    /// The staged bytes, by digest.
    pub blobs: HashMap<Digest, Staged<'s>>,
    /// The outer compression.
    pub outer: Option<Outer>,
}

impl Contents<'_> {
    /// Reads a staged blob whole, if it is at most `MAX_MANIFEST_SIZE` (a document).
    pub fn read_doc(&self, digest: &Digest, what: &str) -> Result<Vec<u8>> {
        let staged = self.blobs.get(digest).ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("{what} {digest} is not in the archive"),
            )
        })?;
        if staged.size() > MAX_MANIFEST_SIZE {
            return Err(too_big_doc(staged.size()).context(format!("{what} {digest}")));
        }
        std::fs::read(staged.path())
            .map_err(|e| Error::io(e, format!("reading back {what} {digest}")))
    }
}

/// Reads a tar stream (compression detected) from `input`.
pub fn read_tar<'s, R: BufRead>(store: &'s Store, input: R) -> Result<Contents<'s>> {
    let (inflated, outer) = decompress(input)?;
    let inflated = tar_start(inflated)?;
    let mut contents = Contents {
        outer: Some(outer),
        ..Contents::default()
    };
    let mut links: BTreeMap<String, String> = BTreeMap::new();
    // Sizes that descriptors met so far declare: a later entry may not exceed them.
    let mut declared: HashMap<Digest, u64> = HashMap::new();
    let mut buf = vec![0u8; COPY_BUF];
    // One lock for every blob staged, not one each: see `ImportSession`.
    let mut session = store.import_session()?;
    let mut archive = tar::Archive::new(inflated);
    let entries = archive.entries().map_err(|e| read_error(e, None))?;
    // What the tar reader fails on before it yields an entry (a bad header, a sparse map)
    // is named by the entry before it.
    let mut previous: Option<String> = None;
    for entry in entries {
        let mut entry = entry.map_err(|e| {
            let err = read_error(e, None);
            match &previous {
                Some(p) => err.context(format!("the entry after {p}")),
                None => err.context("the first entry"),
            }
        })?;
        let raw = entry.path().map_err(|e| read_error(e, None))?.into_owned();
        // The name as the archive has it, escaped: it may hold any bytes.
        let shown = {
            use std::os::unix::ffi::OsStrExt;
            quote(raw.as_os_str().as_bytes())
        };
        previous = Some(shown.clone());
        let bad = |why: String| {
            Error::new(ErrorKind::InvalidDocument, why).context(format!("entry {shown}"))
        };
        let name = safety::entry_name(&raw).map_err(bad)?;
        let header_size = entry.header().entry_size().unwrap_or(0);
        if header_size != 0 && header_size != entry.size() {
            return Err(bad(format!(
                "its PAX size {} disagrees with its header's {header_size}",
                entry.size()
            )));
        }
        let kind = safety::kind(entry.header().entry_type()).map_err(bad)?;
        match kind {
            EntryKind::Dir | EntryKind::Skip => continue,
            EntryKind::Link(_) => {
                let target = entry
                    .link_name()
                    .map_err(|e| read_error(e, Some(&shown)))?
                    .ok_or_else(|| bad("it is a link without a target".to_owned()))?;
                let to = safety::link_target(&name, &target).map_err(bad)?;
                links.insert(name, to);
                continue;
            }
            EntryKind::File => {}
        }
        let size = entry.size();
        if is_document(&name) {
            if size > MAX_MANIFEST_SIZE {
                return Err(too_big_doc(size).context(format!("entry {shown}")));
            }
            let mut bytes = Vec::with_capacity(size as usize);
            (&mut entry)
                .take(size)
                .read_to_end(&mut bytes)
                .map_err(|e| read_error(e, Some(&shown)))?;
            if bytes.len() as u64 != size {
                return Err(truncated(&shown, bytes.len() as u64, size));
            }
            if name == INDEX_JSON {
                note_descriptors(&bytes, &mut declared);
            }
            if let Some(old) = contents.docs.get(&name)
                && *old != bytes
            {
                return Err(bad("it appears twice with different content".to_owned()));
            }
            contents.docs.insert(name, bytes);
            continue;
        }
        if !is_kept(&name) {
            continue;
        }
        let named = layout::digest_of_path(&name);
        if name.starts_with("blobs/") && named.is_none() {
            return Err(bad("its name is not blobs/<algorithm>/<hex>".to_owned()));
        }
        if let Some(d) = &named
            && let Some(&want) = declared.get(d)
            && want != size
        {
            return Err(bad(format!(
                "it is {size} bytes, but its descriptor says {want}"
            )));
        }
        if name.ends_with(".json") && size > MAX_MANIFEST_SIZE {
            return Err(too_big_doc(size).context(format!("entry {shown}")));
        }
        let algorithm = named.as_ref().map_or(Algorithm::Sha256, Digest::algorithm);
        let mut w = session.import(algorithm, size)?;
        let copied = copy(&mut entry, &mut w, &mut buf).map_err(|e| read_error(e, Some(&shown)))?;
        if copied != size {
            return Err(truncated(&shown, copied, size));
        }
        let staged = w
            .finish()
            .map_err(|e| e.context(format!("entry {shown}")))?;
        let digest = staged.digest().clone();
        if let Some(d) = &named
            && *d != digest
        {
            return Err(Error::new(
                ErrorKind::DigestMismatch,
                format!("its content hashes to {digest}, not the {d} its name says"),
            )
            .context(format!("entry {shown}")));
        }
        if let Some(old) = contents.files.get(&name)
            && *old != digest
        {
            return Err(bad("it appears twice with different content".to_owned()));
        }
        if size <= MAX_MANIFEST_SIZE
            && let Ok(bytes) = std::fs::read(staged.path())
        {
            note_descriptors(&bytes, &mut declared);
        }
        contents.files.insert(name, digest.clone());
        contents.blobs.entry(digest).or_insert(staged);
    }
    resolve_links(&mut contents.files, &links)?;
    Ok(contents)
}

/// `inflated` from its first byte, once its first 512-byte block is known to be a tar
/// header (or the zero block that ends an empty archive): anything else is not a tar
/// archive, said with an escaped excerpt of how it starts rather than as a broken entry.
fn tar_start<'a>(mut inflated: Box<dyn Read + 'a>) -> Result<Box<dyn Read + 'a>> {
    let mut head = Vec::with_capacity(512);
    (&mut inflated)
        .take(512)
        .read_to_end(&mut head)
        .map_err(|e| read_error(e, None).context("the first entry"))?;
    let is_tar = head.is_empty()
        || (head.len() == 512 && (head.iter().all(|&b| b == 0) || checksum_ok(&head)));
    if !is_tar {
        return Err(Error::new(
            ErrorKind::InvalidDocument,
            format!("not a tar archive (starts with {})", excerpt(&head)),
        ));
    }
    Ok(Box::new(std::io::Cursor::new(head).chain(inflated)))
}

/// Whether a header block's checksum field (octal, at 148..156) matches the sum of its
/// bytes with that field counted as spaces, unsigned or signed as tar readers accept.
fn checksum_ok(block: &[u8]) -> bool {
    let field = &block[148..156];
    let text: String = field
        .iter()
        .map(|&b| b as char)
        .filter(|c| !matches!(c, ' ' | '\0'))
        .collect();
    let Ok(want) = i64::from_str_radix(&text, 8) else {
        return false;
    };
    let (mut unsigned, mut signed) = (0i64, 0i64);
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += i64::from(b);
        signed += i64::from(b as i8);
    }
    want == unsigned || want == signed
}

/// Reads an OCI image layout directory (`skopeo copy … oci:DIR`, umoci): its documents and
/// every `blobs/<alg>/<hex>` file, each a regular file (symlinks are refused), copied into
/// `ingest/` and verified.
pub fn read_dir<'s>(store: &'s Store, dir: &Path) -> Result<Contents<'s>> {
    let mut contents = Contents::default();
    let mut buf = vec![0u8; COPY_BUF];
    let mut session = store.import_session()?;
    for name in [INDEX_JSON, MANIFEST_JSON, OCI_LAYOUT, REPOSITORIES] {
        let path = dir.join(name);
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_file() {
            return Err(not_regular(name));
        }
        if meta.len() > MAX_MANIFEST_SIZE {
            return Err(too_big_doc(meta.len()).context(quote(name)));
        }
        let bytes =
            std::fs::read(&path).map_err(|e| Error::io(e, format!("reading {}", quote(name))))?;
        contents.docs.insert(name.to_owned(), bytes);
    }
    let blobs = dir.join("blobs");
    for alg in list(&blobs)? {
        for hex in list(&blobs.join(&alg))? {
            let name = format!("blobs/{alg}/{hex}");
            let Some(digest) = layout::digest_of_path(&name) else {
                continue;
            };
            let path = dir.join(&name);
            let meta = std::fs::symlink_metadata(&path)
                .map_err(|e| Error::io(e, format!("reading {}", quote(&name))))?;
            if !meta.is_file() {
                return Err(not_regular(&name));
            }
            let mut file = std::fs::File::open(&path)
                .map_err(|e| Error::io(e, format!("opening {}", quote(&name))))?;
            let mut w = session.import(digest.algorithm(), meta.len())?;
            copy(&mut file, &mut w, &mut buf)
                .map_err(|e| Error::io(e, format!("reading {}", quote(&name))))?;
            let staged = w.finish()?;
            if staged.digest() != &digest {
                return Err(Error::new(
                    ErrorKind::DigestMismatch,
                    format!(
                        "its content hashes to {}, not the {digest} its name says",
                        staged.digest()
                    ),
                )
                .context(quote(&name)));
            }
            contents.files.insert(name, digest.clone());
            contents.blobs.insert(digest, staged);
        }
    }
    Ok(contents)
}

fn list(dir: &Path) -> Result<Vec<String>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(e, format!("reading {}", dir.display()))),
    };
    let mut names = Vec::new();
    for e in rd {
        let e = e.map_err(|e| Error::io(e, format!("reading {}", dir.display())))?;
        if let Some(n) = e.file_name().to_str() {
            names.push(n.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// The top-level documents read whole into memory.
fn is_document(name: &str) -> bool {
    matches!(name, MANIFEST_JSON | INDEX_JSON | REPOSITORIES | OCI_LAYOUT)
}

/// What a load may need: any file, since manifest.json may name layers by any path
/// (`<id>/layer.tar`, podman's `<hex>.tar`), except legacy v1 metadata (`<id>/json`,
/// `<id>/VERSION`), which is read past and never kept.
fn is_kept(name: &str) -> bool {
    !(name.ends_with("/json") || name.ends_with("/VERSION"))
}

/// Records the sizes a manifest or index declares for the blobs it names.
fn note_descriptors(bytes: &[u8], declared: &mut HashMap<Digest, u64>) {
    match Document::parse(None, bytes) {
        Ok(Document::Manifest(m)) => {
            for d in m.blobs() {
                declared.insert(d.digest.clone(), d.size);
            }
        }
        Ok(Document::Index(i)) => {
            for d in &i.manifests {
                declared.insert(d.digest.clone(), d.size);
            }
        }
        Err(_) => {}
    }
}

/// Points every link at the digest of the file it finally leads to; a chain that loops
/// (or runs longer than [`MAX_LINK_HOPS`]) is an error, a link to nothing kept is left out.
fn resolve_links(
    files: &mut BTreeMap<String, Digest>,
    links: &BTreeMap<String, String>,
) -> Result<()> {
    for (name, first) in links {
        let mut at = first;
        let mut hops = 0;
        loop {
            if let Some(d) = files.get(at).cloned() {
                files.insert(name.clone(), d);
                break;
            }
            match links.get(at) {
                Some(next) if hops < MAX_LINK_HOPS => {
                    at = next;
                    hops += 1;
                }
                Some(_) => {
                    return Err(Error::new(ErrorKind::InvalidDocument, "its links loop")
                        .context(format!("entry {}", quote(name))));
                }
                None => break,
            }
        }
    }
    Ok(())
}

/// Copies all of `from` into `to` through `buf`; returns the bytes copied.
fn copy(from: &mut dyn Read, to: &mut dyn Write, buf: &mut [u8]) -> std::io::Result<u64> {
    let mut total = 0;
    loop {
        let n = match from.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
        total += n as u64;
    }
}

fn read_error(e: std::io::Error, entry: Option<&str>) -> Error {
    let kind = match e.kind() {
        std::io::ErrorKind::InvalidData => ErrorKind::TooLarge,
        _ => ErrorKind::InvalidDocument,
    };
    // The tar reader quotes header bytes raw ("numeric field did not have utf-8 text: …").
    let mut msg = escape(e.to_string().to_lowercase());
    if e.kind() == std::io::ErrorKind::UnexpectedEof || msg.contains("failed to read entire block")
    {
        msg = "the archive is truncated".to_owned();
    } else if msg.contains("sparse") {
        msg = format!("a sparse entry, which an image archive never holds ({msg})");
    }
    let err = Error::new(kind, msg);
    match entry {
        Some(n) => err.context(format!("entry {n}")),
        None => err,
    }
}

fn truncated(entry: &str, got: u64, want: u64) -> Error {
    Error::new(
        ErrorKind::InvalidDocument,
        format!("the archive is truncated: {got} of the entry's {want} bytes are there"),
    )
    .context(format!("entry {entry}"))
}

fn too_big_doc(size: u64) -> Error {
    Error::new(
        ErrorKind::TooLarge,
        format!(
            "a {size}-byte document is more than the {MAX_MANIFEST_SIZE} bytes a manifest may be"
        ),
    )
}

fn not_regular(name: &str) -> Error {
    Error::new(ErrorKind::InvalidDocument, "it is not a regular file").context(quote(name))
}
