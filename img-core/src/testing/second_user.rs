//! Running a tool as a second, unprivileged user (`nobody`) on a store root owns: what a
//! system-wide store read by users looks like. Needs root to switch users; a test run by
//! anyone else says it is skipped and why.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

/// The uid and gid of `nobody` on Debian.
pub const NOBODY: u32 = 65534;

/// Whether this process may run commands as another user (it is root).
pub fn can_switch_user() -> bool {
    rustix::process::geteuid().is_root()
}

/// Makes `cmd` run as `nobody`, with no supplementary groups (std drops them when root
/// sets the uid).
pub fn as_nobody(cmd: &mut Command) -> &mut Command {
    cmd.uid(NOBODY).gid(NOBODY)
}

/// Lets other users into `dir` and every directory above it up to `/` (read and search,
/// never write): temporary directories are made 0700.
pub fn open_to_others(dir: &Path) {
    let mut at = Some(dir);
    while let Some(d) = at {
        if let Ok(meta) = std::fs::metadata(d) {
            let mode = meta.permissions().mode();
            if mode & 0o005 != 0o005 {
                let _ = std::fs::set_permissions(d, std::fs::Permissions::from_mode(mode | 0o005));
            }
        }
        at = d.parent();
    }
}
