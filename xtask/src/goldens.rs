//! `cargo xtask goldens`: records docker's outputs the parity tests compare with, where the
//! targeted docker CLI is (img-core's `testing::docker_compare`): each test that goes
//! through `DockerComparison` runs live with `IMG_GOLDENS=record` and rewrites its golden
//! file; elsewhere those tests compare with the files. `--check` (a step of `cargo xtask
//! ci`) runs each with `IMG_GOLDENS=golden`, so the goldens are tested where docker is too.

use std::process::Command;

use argh::FromArgs;
use img_core::testing::docker_compare::{MODE_ENV, TARGET_CLI, cli_version};

/// Record the docker parity tests' golden files (needs docker 28.2.2's CLI and root).
#[derive(FromArgs)]
#[argh(subcommand, name = "goldens")]
pub struct GoldensCmd {
    /// compare each golden test with its golden file instead (what `cargo xtask ci` does)
    #[argh(switch)]
    check: bool,
}

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

/// `cargo test` of the golden test `test` (in `package`'s target `target`) alone, with
/// [`MODE_ENV`] set to `mode`.
fn test_command(package: &str, target: &str, test: &str, mode: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(crate::util::project_root())
        .env(MODE_ENV, mode)
        .args([
            "test", "-p", package, "--test", target, "--", "--exact", test,
        ]);
    cmd
}

/// Runs each golden test live, recording (or, with `--check`, against its goldens).
pub fn run(cmd: GoldensCmd) -> Result<(), String> {
    if cmd.check {
        return check();
    }
    let version = cli_version();
    if version.as_deref() != Some(TARGET_CLI) || !crate::ci::is_root() {
        return Err(format!(
            "recording the goldens needs docker {TARGET_CLI}'s CLI and root (a dockerd); found {version:?}"
        ));
    }
    for (package, target, test) in GOLDEN_TESTS {
        crate::util::run(&mut test_command(package, target, test, "record"))?;
    }
    Ok(())
}

/// Runs each golden test against its golden file (`IMG_GOLDENS=golden`), even where the
/// live CLI is, so a golden that no longer matches img fails CI on this machine too, not
/// only on one without docker 28. Each must run exactly one test: a renamed test would
/// otherwise pass by running none.
pub fn check() -> Result<(), String> {
    for (package, target, test) in GOLDEN_TESTS {
        let mut cmd = test_command(package, target, test, "golden");
        eprintln!("$ {MODE_ENV}=golden {}", crate::util::display(&cmd));
        let out = cmd
            .output()
            .map_err(|e| format!("running {}: {e}", crate::util::display(&cmd)))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        print!("{stdout}");
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        if !out.status.success() {
            return Err(format!(
                "{package} {test} fails against its goldens ({}): fix img or, if docker's output is what changed, regenerate them with `cargo xtask goldens`",
                out.status
            ));
        }
        if !stdout.contains("test result: ok. 1 passed") {
            return Err(format!(
                "{package} --test {target} ran no test named {test}: update GOLDEN_TESTS in xtask/src/goldens.rs"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The golden check forces the goldens and runs each test by its exact name.
    #[test]
    fn the_golden_check_forces_the_goldens_for_each_golden_test() {
        for (package, target, test) in GOLDEN_TESTS {
            let cmd = test_command(package, target, test, "golden");
            let envs: Vec<_> = cmd.get_envs().collect();
            assert_eq!(
                envs,
                [(
                    std::ffi::OsStr::new(MODE_ENV),
                    Some(std::ffi::OsStr::new("golden"))
                )]
            );
            let args: Vec<_> = cmd.get_args().map(|a| a.to_string_lossy()).collect();
            assert_eq!(
                args,
                [
                    "test", "-p", package, "--test", target, "--", "--exact", test
                ]
            );
        }
    }

    /// Each golden test exists where the list says and has its golden file.
    #[test]
    fn every_golden_test_exists_with_its_golden_file() {
        let root = crate::util::project_root();
        for (package, target, test) in GOLDEN_TESTS {
            let tests = root.join(package).join("tests");
            let name = test.rsplit("::").next().unwrap_or(test);
            // The target's main file and its modules: `tests/T.rs` or `tests/T/`.
            let mut files = vec![tests.join(format!("{target}.rs"))];
            let dir = tests.join(target);
            if let Some(module) = test.rsplit_once("::").map(|(m, _)| m) {
                files.push(dir.join(format!("{}.rs", module.replace("::", "/"))));
            }
            let text: String = files
                .iter()
                .filter_map(|f| std::fs::read_to_string(f).ok())
                .collect();
            assert!(
                text.contains(&format!("fn {name}()")),
                "{package}: no test {test} in {files:?}"
            );
            let goldens = tests.join("goldens");
            let has = std::fs::read_dir(&goldens)
                .map(|d| {
                    d.flatten()
                        .any(|e| e.path().extension().is_some_and(|x| x == "json"))
                })
                .unwrap_or(false);
            assert!(has, "{package}: no golden file in {}", goldens.display());
            assert!(text.contains("DockerComparison::new"), "{package} {test}");
        }
    }
}
