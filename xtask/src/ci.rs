//! `cargo xtask ci`: the one test command — makes sure the real components the tests
//! run against are installed, then fmt, clippy and every test.

use std::path::Path;
use std::process::Command;

use crate::util::{project_root, run};

/// Debian packages the tests need, with the command each one provides.
const PACKAGES: &[(&str, &str)] = &[
    ("docker-registry", "docker-registry"),
    ("skopeo", "skopeo"),
    ("openssl", "openssl"),
    ("podman", "podman"),
    // img-search's and img-pack's tests compare with docker through a real dockerd.
    ("docker.io", "dockerd"),
    // img-inspect's Descriptor test reads the registry's own bytes with it.
    ("curl", "curl"),
    // img-login's tests store credentials through a real helper: docker-credential-pass
    // over pass and GnuPG.
    ("golang-docker-credential-helpers", "docker-credential-pass"),
    ("pass", "pass"),
    ("gnupg", "gpg"),
    // The real test images: a root filesystem of busybox and its applets.
    ("busybox-static", "busybox"),
];

/// Tests that need root, as (package, test path, what needs it): a dockerd (it runs only
/// as root), a tmpfs mount. Run by a non-root user, `ci` skips exactly these and names
/// them in its summary; run as root it skips nothing.
pub const ROOT_TESTS: &[(&str, &str, &str)] = &[
    (
        "img-login",
        "docker::docker_pulls_with_what_img_login_stored_and_writes_what_img_login_writes",
        "dockerd",
    ),
    (
        "img-push",
        "uncompressed_layers_of_a_legacy_archive_go_up_gzip_and_a_repush_compresses_nothing",
        "dockerd",
    ),
    (
        "img-pull",
        "bad_input::no_space_left_is_one_line_and_leaves_a_sound_store",
        "a tmpfs mount",
    ),
    (
        "img-rm",
        "prune_works_on_a_full_disk_and_frees_the_failed_pulls_partials",
        "a tmpfs mount",
    ),
    (
        "img-ls",
        "a_store_this_user_may_only_read_is_listed_with_or_without_a_writer",
        "a second user",
    ),
    (
        "img-rm",
        "a_writing_command_on_a_store_it_may_only_read_says_so_and_changes_nothing",
        "a second user",
    ),
    (
        "img-pack",
        "docker_20_and_podman_load_what_save_writes_with_the_same_ids_and_tags",
        "dockerd",
    ),
    (
        "img-pack",
        "what_docker_saves_loads_with_dockers_ids_and_back",
        "dockerd",
    ),
    (
        "img-pack",
        "what_podman_and_skopeo_write_loads_with_their_config_digests_and_tags",
        "podman with a private --root",
    ),
    (
        "img-pack",
        "a_root_filesystem_imported_by_docker_loads_and_pulls_as_docker_made_it",
        "dockerd",
    ),
    (
        "img-pack",
        "an_image_podman_built_loads_and_pulls_as_podman_made_it",
        "podman build (chroot isolation)",
    ),
    (
        "img-pack",
        "loading_dockers_save_of_an_image_the_store_has_stores_no_layer_again",
        "dockerd and podman build",
    ),
    (
        "img-pack",
        "a_pull_after_a_load_repoints_the_image_and_prune_frees_the_uncompressed_copies",
        "dockerd and podman build",
    ),
    (
        "img-pack",
        "a_legacy_layer_the_store_holds_in_another_compression_is_named_not_stored_once_verified",
        "podman build (chroot isolation)",
    ),
    (
        "img-pack",
        "a_pull_never_restores_a_repo_digest",
        "podman build (chroot isolation)",
    ),
    (
        "img-pack",
        "a_store_doubled_before_the_fix_is_migrated_and_prune_reclaims_the_space",
        "podman build (chroot isolation)",
    ),
    (
        "img-pack",
        "the_load_display_is_dockers_on_a_terminal",
        "dockerd",
    ),
    (
        "img-push",
        "the_push_display_is_dockers_on_a_terminal",
        "dockerd",
    ),
    (
        "img-push",
        "dockerd_pulls_what_img_pushed_over_tls_as_the_same_image",
        "dockerd",
    ),
];

/// Packages only the root tests need: a non-root run does not ask for them.
const ROOT_ONLY_PACKAGES: &[&str] = &["docker.io"];

/// `cargo test`'s arguments: the whole workspace, less [`ROOT_TESTS`] when not root.
fn test_args(root: bool) -> Vec<String> {
    let mut args: Vec<String> = ["test", "--workspace"].map(String::from).to_vec();
    if !root {
        args.push("--".into());
        for (_, test, _) in ROOT_TESTS {
            args.extend(["--skip".to_owned(), (*test).to_owned()]);
        }
    }
    args
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs the whole CI: packages, `cargo fmt --check`, clippy with warnings denied, tests.
pub fn ci() -> Result<(), String> {
    ensure_packages()?;
    let root = project_root();
    run(Command::new(cargo())
        .current_dir(&root)
        .args(["fmt", "--all", "--", "--check"]))?;
    run(Command::new(cargo()).current_dir(&root).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    let as_root = is_root();
    run(Command::new(cargo())
        .current_dir(&root)
        .args(test_args(as_root)))?;
    // The parity tests against their goldens even here, where docker 28's CLI may be.
    crate::goldens::check()?;
    // The short stress run: kill -9, eight tools at once, a hostile registry, a full
    // disk, secrets and fuzzing, a few rounds each (a few minutes).
    run(Command::new(cargo())
        .current_dir(&root)
        .args(["xtask", "stress", "--quick"]))?;
    if as_root {
        println!("xtask ci: all checks passed, 0 skipped");
    } else {
        println!(
            "xtask ci: all checks passed, {} skipped (they need root):",
            ROOT_TESTS.len()
        );
        for (package, test, why) in ROOT_TESTS {
            println!("  skipped: {package} {test} (needs root: {why})");
        }
    }
    Ok(())
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Installs the missing packages when running as root with apt-get; otherwise stops
/// with a message naming them.
pub fn ensure_packages() -> Result<(), String> {
    let is_root = is_root();
    let missing: Vec<&str> = PACKAGES
        .iter()
        .filter(|(pkg, cmd)| !on_path(cmd) && (is_root || !ROOT_ONLY_PACKAGES.contains(pkg)))
        .map(|(pkg, _)| *pkg)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root || !on_path("apt-get") {
        return Err(format!(
            "the tests need Debian's packages {}: install them with `sudo apt-get install {}`",
            missing.join(" and "),
            missing.join(" ")
        ));
    }
    eprintln!("xtask: installing {} with apt-get", missing.join(", "));
    run(Command::new("apt-get")
        .args(["update", "-q"])
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    let still: Vec<&str> = PACKAGES
        .iter()
        .filter(|(_, cmd)| !on_path(cmd))
        .map(|(pkg, _)| *pkg)
        .collect();
    if still.is_empty() {
        Ok(())
    } else {
        Err(format!("apt-get did not install {}", still.join(", ")))
    }
}

/// Whether `cmd` is an executable in one of PATH's directories.
pub fn on_path(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| is_executable(&dir.join(cmd))))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_root_skips_exactly_the_root_tests_and_root_skips_nothing() {
        assert_eq!(test_args(true), ["test", "--workspace"]);
        let args = test_args(false);
        let skipped: Vec<&str> = args
            .windows(2)
            .filter(|w| w[0] == "--skip")
            .map(|w| w[1].as_str())
            .collect();
        let named: Vec<&str> = ROOT_TESTS.iter().map(|(_, t, _)| *t).collect();
        assert_eq!(skipped, named);
    }

    /// Each named test exists where the list says, so a rename cannot leave a root test
    /// running (and failing) as non-root, or a skip naming nothing.
    #[test]
    fn every_root_test_exists() {
        let root = project_root();
        for (package, test, _) in ROOT_TESTS {
            let name = test.rsplit("::").next().unwrap();
            let found = walk(&root.join(package).join("tests")).iter().any(|f| {
                std::fs::read_to_string(f).is_ok_and(|t| t.contains(&format!("fn {name}()")))
            });
            assert!(found, "{package}: no test {test}");
        }
    }

    fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }
}
