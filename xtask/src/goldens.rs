//! `cargo xtask goldens`: records docker's outputs the parity tests compare with, where the
//! targeted docker CLI is (img-core's `testing::docker_compare`): each test that goes
//! through `DockerComparison` runs live with `IMG_GOLDENS=record` and rewrites its golden
//! file; elsewhere those tests compare with the files.

use std::process::Command;

use argh::FromArgs;
use img_core::testing::docker_compare::{MODE_ENV, TARGET_CLI, cli_version};

/// Record the docker parity tests' golden files (needs docker 28.2.2's CLI and root).
#[derive(FromArgs)]
#[argh(subcommand, name = "goldens")]
pub struct GoldensCmd {}

/// The tests that compare through `DockerComparison`: (package, test target, test).
pub const GOLDEN_TESTS: &[(&str, &str, &str)] = &[
    (
        "img-inspect",
        "docker_parity",
        "img_inspect_prints_what_docker_image_inspect_prints",
    ),
    (
        "img-ls",
        "docker_parity",
        "img_ls_prints_what_docker_images_prints",
    ),
    (
        "img-pull",
        "pull",
        "docker_display::the_pull_display_is_dockers_on_a_terminal",
    ),
    (
        "img-search",
        "search",
        "docker_parity::img_search_prints_what_docker_search_prints",
    ),
];

/// Runs each golden test live, recording.
pub fn run(_: GoldensCmd) -> Result<(), String> {
    let version = cli_version();
    if version.as_deref() != Some(TARGET_CLI) || !crate::ci::is_root() {
        return Err(format!(
            "recording the goldens needs docker {TARGET_CLI}'s CLI and root (a dockerd); found {version:?}"
        ));
    }
    for (package, target, test) in GOLDEN_TESTS {
        crate::util::run(
            Command::new(env!("CARGO"))
                .current_dir(crate::util::project_root())
                .env(MODE_ENV, "record")
                .args(["test", "-p", package, "--test", target, test]),
        )?;
    }
    Ok(())
}
