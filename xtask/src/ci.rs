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
    // img-search's tests compare with `docker search` through a real dockerd.
    ("docker.io", "dockerd"),
];

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
    run(Command::new(cargo())
        .current_dir(&root)
        .args(["test", "--workspace"]))?;
    run(Command::new(cargo())
        .current_dir(&root)
        .args(["xtask", "stress", "--quick"]))?;
    println!("xtask ci: all checks passed");
    Ok(())
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Installs the missing packages when running as root with apt-get; otherwise stops
/// with a message naming them.
pub fn ensure_packages() -> Result<(), String> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .filter(|(_, cmd)| !on_path(cmd))
        .map(|(pkg, _)| *pkg)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
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
