//! `img-pack`: docker save and docker load.
//!
//! - [`save`] writes docker 25's dual format (OCI layout plus `manifest.json`), which
//!   docker old and new, podman, skopeo and containerd all read.
//! - [`load`] reads that, docker's legacy archives, OCI archives and layouts, from a file,
//!   a directory or a pipe, compressed or not, entries in any order; it verifies every blob
//!   before it becomes visible and loads an archive whole or not at all.

mod load;
mod load_plan;
mod save;

pub use load::{LoadReport, Loaded, Source, load, load_with_progress};
pub use save::save;

use crate::error::Result;
use crate::oci::Platform;

/// How to save.
#[derive(Debug, Clone, Default)]
pub struct SaveOptions {
    /// Save only this platform of a multi-platform image (`--platform`); for a
    /// multi-platform image without it, manifest.json names the host's (or
    /// `DOCKER_DEFAULT_PLATFORM`'s) image.
    pub platform: Option<Platform>,
    /// Layers left out (`--exclude-from`: what the receiving store holds already). When
    /// one of them is among the archive's layers the archive is partial: no manifest.json
    /// (other loaders then refuse it at once) and index.json annotated
    /// [`PARTIAL_ANNOTATION`]. Manifests and configs always travel.
    pub exclude: std::collections::BTreeSet<crate::digest::Digest>,
}

/// The index.json annotation of a partial bundle (layers left out): `"true"`.
pub const PARTIAL_ANNOTATION: &str = "io.img.partial";

/// The store's inventory for `save --exclude-from`: the digests of the layers its images
/// hold, sorted, one a line (`img-pack inventory`).
pub fn inventory(store: &crate::store::Store) -> Result<Vec<crate::digest::Digest>> {
    store.index().image_layers()
}

/// Reads an inventory (`--exclude-from FILE`): one digest a line; blank lines and `#`
/// comments are skipped; anything else is an error naming its line.
pub fn read_inventory(text: &str) -> Result<std::collections::BTreeSet<crate::digest::Digest>> {
    let mut out = std::collections::BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let d = crate::digest::Digest::parse(line).map_err(|e| {
            e.context(format!(
                "line {}: not a digest (an inventory is img-pack inventory's output)",
                i + 1
            ))
        })?;
        out.insert(d);
    }
    Ok(out)
}

/// How to load.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The platform a legacy `manifest.json` image or an index's image is shown as
    /// (default: `DOCKER_DEFAULT_PLATFORM`, else the host).
    pub platform: Option<Platform>,
}

/// Saves to `path` as docker does: into a temporary file beside it, fsynced and renamed
/// over `path` only when complete, so a failed save leaves no half archive.
pub fn save_to_file(
    store: &crate::store::Store,
    targets: &[crate::record::Target],
    options: &SaveOptions,
    path: &std::path::Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<()> {
    use crate::error::Error;
    let doing = || format!("writing {}", path.display());
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "archive".to_owned());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let file = std::fs::File::create(&tmp).map_err(|e| Error::io(e, doing()))?;
        let file = save(store, targets, options, file, progress)?;
        file.sync_all().map_err(|e| Error::io(e, doing()))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(e, doing()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `--platform`, else `DOCKER_DEFAULT_PLATFORM`, else the host.
fn wanted_platform(given: Option<&Platform>) -> Result<Platform> {
    if let Some(p) = given {
        return Ok(p.clone());
    }
    match std::env::var("DOCKER_DEFAULT_PLATFORM") {
        Ok(v) if !v.is_empty() => {
            Platform::parse(&v).map_err(|e| e.context("DOCKER_DEFAULT_PLATFORM"))
        }
        _ => Ok(Platform::host()),
    }
}
