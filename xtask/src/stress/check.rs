//! Checking a store after a round, as a paranoid `fsck` would: every blob file hashes to
//! its name, every row has its file, every image has every blob it pins (what
//! `img_core::testing::verify_store` checks, counted here instead of panicking), what
//! nothing pins is counted as leaked, and every image passes `img-inspect --verify`.

use std::io::Read;
use std::path::Path;

use img_core::Store;
use img_core::digest::{Algorithm, Hasher};
use img_core::index::ListFilter;

use super::{Ctx, Sandbox, TOOL_LIMIT, run_for};

/// What a check of a store found.
#[derive(Debug, Default)]
pub struct StoreCheck {
    /// Blobs an image pins that are missing, or files that do not hash to their name.
    pub lost: usize,
    /// Blob files no image pins.
    pub unpinned: usize,
    /// Partial downloads left under `ingest/`.
    pub partials: usize,
    /// What is wrong, one line each.
    pub problems: Vec<String>,
}

/// Checks the store at `root` as `img_core::testing::verify_store` does, counting rather
/// than panicking: every blob file hashes to its name, every row has its file, every
/// image has every blob it pins; and counts what nothing pins.
pub fn check_store(root: &Path) -> StoreCheck {
    let mut c = StoreCheck::default();
    let mut files = std::collections::BTreeSet::new();
    if let Ok(entries) = std::fs::read_dir(root.join("blobs/sha256")) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            match hash_file(&entry.path()) {
                Ok(h) if h == name => {}
                Ok(h) => {
                    c.lost += 1;
                    c.problems
                        .push(format!("blob file {name} holds bytes hashing to {h}"));
                }
                Err(e) => c.problems.push(e),
            }
            files.insert(name);
        }
    }
    if let Ok(entries) = std::fs::read_dir(root.join("ingest")) {
        c.partials = entries
            .flatten()
            .filter(|e| !e.file_name().to_string_lossy().ends_with(".lock"))
            .count();
    }
    let store = match Store::open(root) {
        Ok(s) => s,
        Err(e) => {
            c.problems.push(format!("opening the store: {e}"));
            return c;
        }
    };
    let index = store.index();
    match index.blobs() {
        Ok(rows) => {
            for row in rows {
                if !files.contains(row.digest.hex()) {
                    c.lost += 1;
                    c.problems
                        .push(format!("blob row {} has no file", row.digest));
                }
            }
        }
        Err(e) => c.problems.push(format!("listing the blob rows: {e}")),
    }
    let mut pinned = std::collections::BTreeSet::new();
    match index.list_images(&ListFilter::default()) {
        Ok(rows) => {
            for row in rows {
                match index.image_blobs(&row.image.id) {
                    Ok(ds) => {
                        for d in ds {
                            if !files.contains(d.hex()) {
                                c.lost += 1;
                                c.problems.push(format!(
                                    "image {} pins {d}, which is missing",
                                    row.image.id
                                ));
                            }
                            pinned.insert(d.hex().to_owned());
                        }
                    }
                    Err(e) => c.problems.push(format!("listing an image's blobs: {e}")),
                }
            }
        }
        Err(e) => c.problems.push(format!("listing the images: {e}")),
    }
    c.unpinned = files.iter().filter(|f| !pinned.contains(*f)).count();
    c
}

fn hash_file(path: &Path) -> Result<String, String> {
    let mut hasher = Hasher::new(Algorithm::Sha256);
    let mut f =
        std::fs::File::open(path).map_err(|e| format!("opening {}: {e}", path.display()))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finish().hex().to_owned())
}

/// Runs `img-ls -aq | img-inspect --verify` on `sandbox`: every image verifies.
pub fn verify_all(ctx: &Ctx, sandbox: &Sandbox) -> Result<(), String> {
    let ls = run_for(sandbox.command(ctx.tool("img-ls")).arg("-aq"), TOOL_LIMIT)?;
    if !ls.ok() {
        return Err(ls.describe("img-ls -aq"));
    }
    let ids: Vec<&str> = ls.stdout.split_whitespace().collect();
    if ids.is_empty() {
        return Ok(());
    }
    let inspect = run_for(
        sandbox
            .command(ctx.tool("img-inspect"))
            .arg("--verify")
            .args(&ids),
        TOOL_LIMIT,
    )?;
    if inspect.ok() {
        Ok(())
    } else {
        Err(inspect.describe("img-inspect --verify"))
    }
}

/// The bytes of the files directly in `dir` (0 when it does not exist).
pub fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}
