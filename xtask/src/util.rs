//! Small helpers every task uses: the project root and running a command loudly.

use std::path::PathBuf;
use std::process::Command;

/// The workspace root (xtask's manifest directory's parent).
pub fn project_root() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    dir.parent().map(PathBuf::from).unwrap_or(dir)
}

/// The cargo target directory: `CARGO_TARGET_DIR` when set, else the workspace's.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => PathBuf::from(d),
        None => project_root().join("target"),
    }
}

/// Prints the command, runs it, and fails unless it exits 0.
pub fn run(cmd: &mut Command) -> Result<(), String> {
    eprintln!("$ {}", display(cmd));
    let status = cmd
        .status()
        .map_err(|e| format!("running {}: {e}", display(cmd)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} failed ({status})", display(cmd)))
    }
}

/// A command as a person would type it.
pub fn display(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        let a = a.to_string_lossy();
        if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"{}$|&;<>*?".contains(c)) {
            s.push_str(&format!(" '{}'", a.replace('\'', r"'\''")));
        } else {
            s.push(' ');
            s.push_str(&a);
        }
    }
    s
}
