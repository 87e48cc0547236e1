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
