//! Checking a store after a round, as a paranoid `fsck` would: `Store::check` (every blob
//! file hashes to its name, every row has its file, every image has every blob it pins,
//! what nothing pins counted as leaked), and every image passes `img-inspect --verify`.

use std::path::Path;

use img_core::Store;
use img_core::store::CheckReport;

use super::{Ctx, Sandbox, TOOL_LIMIT, run_for};

/// Checks the store at `root` with [`Store::check`] (what the tests' `verify_store`
/// checks), counting rather than panicking; a store that cannot be opened is one problem.
pub fn check_store(root: &Path) -> CheckReport {
    match Store::open(root) {
        Ok(store) => store.check(),
        Err(e) => CheckReport {
            problems: vec![format!("opening the store: {e}")],
            ..CheckReport::default()
        },
    }
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
