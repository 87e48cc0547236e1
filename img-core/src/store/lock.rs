//! Lock files shared across processes: `flock`-style locks through std's `File::lock`,
//! released by the kernel when their holder exits or is killed.
//!
//! A lock file may be removed by the process holding it (a committed ingest, a collected
//! stale partial). Another process may have opened the same path just before and be
//! waiting on the unlinked file; once it gets the lock it checks that the path still names
//! the file it locked, and starts over if not. That makes removal safe: two processes can
//! never both believe they hold the lock of one path.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A held lock on a lock file; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct LockFile {
    /// Never read: the lock lives exactly as long as this descriptor stays open.
    _file: File,
    path: PathBuf,
}

/// Which lock to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// One holder at a time.
    Exclusive,
    /// Many holders, excluding an exclusive one.
    Shared,
}

impl LockFile {
    /// Takes the lock on `path` (creating the file), waiting for any holder to release it.
    pub(crate) fn acquire(path: &Path, mode: Mode) -> Result<LockFile> {
        loop {
            let file = open(path)?;
            let locked = match mode {
                Mode::Exclusive => file.lock(),
                Mode::Shared => file.lock_shared(),
            };
            locked.map_err(|e| Error::io(e, format!("locking {}", path.display())))?;
            if still_linked(&file, path)? {
                return Ok(LockFile {
                    _file: file,
                    path: path.to_owned(),
                });
            }
        }
    }

    /// Takes the exclusive lock on `path` if nobody holds it; `None` if somebody does.
    pub(crate) fn try_exclusive(path: &Path) -> Result<Option<LockFile>> {
        loop {
            let file = open(path)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Ok(None),
                Err(TryLockError::Error(e)) => {
                    return Err(Error::io(e, format!("locking {}", path.display())));
                }
            }
            if still_linked(&file, path)? {
                return Ok(Some(LockFile {
                    _file: file,
                    path: path.to_owned(),
                }));
            }
        }
    }

    /// Whether some process holds a lock on `path` (an absent file is not held).
    pub(crate) fn is_held(path: &Path) -> Result<bool> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(Error::io(e, format!("opening {}", path.display()))),
        };
        // Our probe's lock goes when `file` closes at the end of this function.
        match file.try_lock() {
            Ok(()) => Ok(false),
            Err(TryLockError::WouldBlock) => Ok(true),
            Err(TryLockError::Error(e)) => Err(Error::io(e, format!("locking {}", path.display()))),
        }
    }

    /// Removes the lock file while still holding it, then releases the lock.
    pub(crate) fn remove(self) -> Result<()> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(e, format!("removing {}", self.path.display()))),
        }
    }
}

fn open(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| Error::io(e, format!("opening lock file {}", path.display())))
}

/// Whether `path` still names the very file `file` is (it may have been removed and
/// re-created while we waited for the lock).
fn still_linked(file: &File, path: &Path) -> Result<bool> {
    let held = file
        .metadata()
        .map_err(|e| Error::io(e, format!("reading {}", path.display())))?;
    match std::fs::metadata(path) {
        Ok(now) => Ok(now.dev() == held.dev() && now.ino() == held.ino()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(e, format!("reading {}", path.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_excludes_and_release_frees() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let held = LockFile::acquire(&path, Mode::Exclusive).unwrap();
        assert!(LockFile::is_held(&path).unwrap());
        assert!(LockFile::try_exclusive(&path).unwrap().is_none());
        drop(held);
        assert!(!LockFile::is_held(&path).unwrap());
        assert!(LockFile::try_exclusive(&path).unwrap().is_some());
    }

    #[test]
    fn shared_locks_coexist_but_exclude_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gc.lock");
        let a = LockFile::acquire(&path, Mode::Shared).unwrap();
        let b = LockFile::acquire(&path, Mode::Shared).unwrap();
        assert!(LockFile::try_exclusive(&path).unwrap().is_none());
        drop((a, b));
        assert!(LockFile::try_exclusive(&path).unwrap().is_some());
    }

    #[test]
    fn waiter_on_a_removed_lock_file_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("i.lock");
        let held = LockFile::acquire(&path, Mode::Exclusive).unwrap();
        let p = path.clone();
        let waiter = std::thread::spawn(move || LockFile::acquire(&p, Mode::Exclusive).unwrap());
        std::thread::sleep(std::time::Duration::from_millis(100));
        held.remove().unwrap();
        let got = waiter.join().unwrap();
        // The waiter holds the lock of the file the path names now, so a third party
        // cannot take it.
        assert!(path.exists());
        assert!(LockFile::try_exclusive(&path).unwrap().is_none());
        drop(got);
    }
}
