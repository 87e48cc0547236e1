//! What an archive entry may be, judged before any of its bytes are used: a name that
//! stays inside the archive (after PAX `path=` and GNU long names, which the tar reader
//! applies), a regular file, a directory, or a symlink whose target stays inside too.
//! Hard links, devices, FIFOs and sparse files are refused: no image archive needs them.

use std::path::{Component, Path};

/// Longest chain of symlinks followed before it counts as a loop.
pub const MAX_LINK_HOPS: usize = 16;

/// What an entry is, for the reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory (nothing to read).
    Dir,
    /// A symlink to the archive path it resolves to.
    Link(String),
    /// Metadata the tar reader shows as an entry (a PAX global header): skipped.
    Skip,
}

/// The entry's name as a clean relative path (`./a//b/` → `a/b`), or why it is refused.
pub fn entry_name(raw: &Path) -> Result<String, String> {
    let mut parts = Vec::new();
    for c in raw.components() {
        match c {
            Component::Normal(p) => match p.to_str() {
                Some(s) => parts.push(s),
                None => return Err("its name is not UTF-8".to_owned()),
            },
            Component::CurDir => {}
            Component::ParentDir => return Err("its name climbs out of the archive".to_owned()),
            Component::RootDir | Component::Prefix(_) => {
                return Err("its name is an absolute path, outside the archive".to_owned());
            }
        }
    }
    if parts.is_empty() {
        return Err("its name is empty".to_owned());
    }
    Ok(parts.join("/"))
}

/// Where a symlink at `name` pointing at `target` leads, as an archive path; an absolute
/// target or one that climbs above the archive's top is refused.
pub fn link_target(name: &str, target: &Path) -> Result<String, String> {
    if target.is_absolute() {
        return Err(format!(
            "it links to {}, outside the archive",
            shown(target)
        ));
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    parts.pop();
    for c in target.components() {
        match c {
            Component::Normal(p) => match p.to_str() {
                Some(s) => parts.push(s),
                None => return Err("its link target is not UTF-8".to_owned()),
            },
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return Err(format!(
                        "it links to {}, outside the archive",
                        shown(target)
                    ));
                }
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "it links to {}, outside the archive",
                    shown(target)
                ));
            }
        }
    }
    if parts.is_empty() {
        return Err("it links to the archive's top".to_owned());
    }
    Ok(parts.join("/"))
}

/// A link target as the archive has it, escaped: it may hold any bytes.
fn shown(target: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    crate::quote::quote(target.as_os_str().as_bytes())
}

/// Classifies a tar entry type, refusing what an image archive never holds.
pub fn kind(entry_type: tar::EntryType) -> Result<EntryKind, String> {
    use tar::EntryType as T;
    match entry_type {
        T::Regular | T::Continuous => Ok(EntryKind::File),
        T::Directory => Ok(EntryKind::Dir),
        T::XGlobalHeader => Ok(EntryKind::Skip),
        T::Symlink => Ok(EntryKind::Link(String::new())),
        T::Link => Err("it is a hard link, which an image archive never holds".to_owned()),
        T::Char | T::Block => Err("it is a device file".to_owned()),
        T::Fifo => Err("it is a FIFO".to_owned()),
        T::GNUSparse => Err("it is a sparse file, which an image archive never holds".to_owned()),
        other => Err(format!(
            "it has entry type {}, which img does not read",
            crate::quote::quote([other.as_byte()])
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned_or_refused() {
        assert_eq!(entry_name(Path::new("./a//b/")).unwrap(), "a/b");
        assert_eq!(
            entry_name(Path::new("manifest.json")).unwrap(),
            "manifest.json"
        );
        assert!(
            entry_name(Path::new("../x"))
                .unwrap_err()
                .contains("climbs")
        );
        assert!(
            entry_name(Path::new("a/../../x"))
                .unwrap_err()
                .contains("climbs")
        );
        assert!(
            entry_name(Path::new("/etc/x"))
                .unwrap_err()
                .contains("absolute")
        );
        assert!(entry_name(Path::new("./")).is_err());
    }

    #[test]
    fn links_resolve_inside_or_are_refused() {
        assert_eq!(
            link_target("b/layer.tar", Path::new("../a/layer.tar")).unwrap(),
            "a/layer.tar"
        );
        assert_eq!(link_target("b/x", Path::new("y")).unwrap(), "b/y");
        assert!(link_target("b/x", Path::new("../../etc/passwd")).is_err());
        assert!(link_target("x", Path::new("/etc/passwd")).is_err());
        assert!(link_target("x", Path::new("..")).is_err());
    }

    #[test]
    fn kinds() {
        assert_eq!(kind(tar::EntryType::Regular), Ok(EntryKind::File));
        assert!(
            kind(tar::EntryType::Link)
                .unwrap_err()
                .contains("hard link")
        );
        assert!(kind(tar::EntryType::Char).is_err());
        assert!(
            kind(tar::EntryType::GNUSparse)
                .unwrap_err()
                .contains("sparse")
        );
    }
}
