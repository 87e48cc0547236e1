//! A store on a small filesystem: a shell script run in a private mount namespace
//! (`unshare -m`) whose first step mounts a tmpfs of a given size over `$IMG_ROOT`, so a
//! test can fill the disk without touching the machine's. Needs root (CAP_SYS_ADMIN).

use std::ffi::OsStr;
use std::process::Command;

/// Runs `script` with `sh -c` in a private mount namespace, after mounting a tmpfs of
/// `size` (`1m`) over the `$IMG_ROOT` that `tool` (a tool's command, whose environment
/// points at the store) sets. In the script `$0` is the tool's program and `$1`… are
/// `args`. Panics naming what is missing when unshare or the mount is not possible.
#[track_caller]
pub fn run_on_small_disk(tool: &Command, size: &str, script: &str, args: &[&OsStr]) {
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "sh", "-c"])
        .arg(format!(
            "mount -t tmpfs -o size={size} tmpfs \"$IMG_ROOT\" || exit 99\n{script}"
        ))
        .arg(tool.get_program())
        .args(args);
    for (k, v) in tool.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let status = cmd.status().unwrap_or_else(|e| {
        panic!("unshare (util-linux) is needed to give the store a small filesystem: {e}")
    });
    assert!(
        status.success(),
        "unshare -m and mount need CAP_SYS_ADMIN (run as root): {status}"
    );
}
