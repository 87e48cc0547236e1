//! The local store: a content-addressed blob directory beside the SQLite [`index`](crate::index),
//! with resumable ingests, leases and garbage collection, safe for many img processes at once.
//!
//! # Layout
//!
//! ```text
//! <root>/
//!   blobs/sha256/<hex>        committed blobs, exactly the bytes their digest names
//!   ingest/sha256-<hex>       a partial download or import, kept for resuming
//!   ingest/sha256-<hex>.lock  held (exclusively) by the process writing that partial
//!   leases/<id>.lock          held (exclusively) by the process owning lease <id>
//!   gc.lock                   exclusive while collecting garbage, shared while committing
//!   index.db                  the SQLite index (WAL: also index.db-wal, index.db-shm)
//!   blobs/store-id            the store's identity, which the index carries too
//! ```
//!
//! Reading commands open the store with [`Store::open_read_only`], which writes nothing,
//! so a store this user may only read can still be listed and inspected. Every open
//! checks the store's identity ([`identity`]): an index that is lost is said so, and no
//! command deletes a blob until it is rebuilt.
//!
//! # The rules that keep the store safe
//!
//! - A blob file appears under `blobs/` only by a rename of a partial whose size and digest
//!   were verified after an fsync; the directory is fsynced before the blob's row is
//!   inserted. A blob is there ([`Store::has_blob`]) when both its row and its file are.
//! - One process at a time writes a given digest: the ingest lock. A second one waits, then
//!   finds the blob committed ([`Ingest::AlreadyPresent`]).
//! - A process killed at any instant leaves at worst a partial (resumed by the next ingest,
//!   removed by GC a day later), a committed file without a row (adopted by the next ingest
//!   of that digest after re-hashing it, or removed by GC), or a dead lease (its lock is
//!   released by the kernel, so it pins nothing).
//! - GC deletes a blob's row before its file, and holds `gc.lock` exclusively from its mark
//!   to the last file deletion, while every commit (rename + row insert) holds it shared: a
//!   blob committed concurrently can never lose its file to a sweep that decided earlier.
//! - To keep a blob from being collected between "it is there" and "an image references it",
//!   protect its digest with a [`Lease`] *before* asking [`Store::ingest`] or
//!   [`Store::has_blob`]: the protection is a row written in a transaction that GC's mark
//!   and sweep (one `BEGIN IMMEDIATE` transaction) either sees or follows.

mod check;
mod commit;
mod estimate;
mod fill;
mod gc;
mod identity;
mod import;
mod ingest;
mod layers;
mod lease;
mod lock;
mod rebuild;
#[cfg(test)]
pub(crate) mod test_support;
mod writer;

use std::collections::HashSet;
use std::fs::{DirBuilder, File};
use std::io::Read;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::digest::{Algorithm, Digest};
use crate::error::{Error, ErrorKind, Result};
use crate::index::{ImageInfo, Index, LeaseRow};

pub use check::CheckReport;
pub use commit::Check;
pub use gc::{GcOptions, GcReport};
pub use identity::STORE_ID_FILE;
pub use import::ImportSession;
pub use ingest::Ingest;
pub use lease::Lease;
pub use rebuild::RebuildReport;
pub use writer::{BlobWriter, ImportWriter, IngestWriter, Staged};

/// The directory of committed blobs, one subdirectory per algorithm.
pub const BLOBS_DIR: &str = "blobs";
/// The directory of partial ingests and their lock files.
pub const INGEST_DIR: &str = "ingest";
/// The directory of lease lock files.
pub const LEASES_DIR: &str = "leases";
/// The index file.
pub const INDEX_FILE: &str = "index.db";
/// The store-wide lock file between commits (shared) and GC (exclusive).
pub const GC_LOCK_FILE: &str = "gc.lock";

/// An open store. `&Store` may be shared between threads.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    index: Index,
}

impl Store {
    /// Opens the store at `root` for writing, creating its directories (mode 0755) and
    /// index if needed.
    ///
    /// A root we may not write fails with [`ErrorKind::Io`] before anything is written
    /// (`store /x is not writable by this user: …`, or `opening store /x: permission
    /// denied` when it cannot even be created); a corrupt or newer index fails with
    /// [`ErrorKind::Corrupt`], a lost one with [`ErrorKind::LostIndex`].
    pub fn open(root: &Path) -> Result<Store> {
        let doing = || format!("opening store {}", root.display());
        let mut builder = DirBuilder::new();
        builder.recursive(true).mode(0o755);
        builder.create(root).map_err(|e| Error::io(e, doing()))?;
        check_writable(root)?;
        // The blobs' side and the index first: a store whose index is lost, corrupt or
        // too new is refused before anything else is written into it.
        let blobs = identity::BlobSide::read(root).map_err(|e| e.context(doing()))?;
        identity::check_index_present(root, &blobs)?;
        let index = Index::open(&root.join(INDEX_FILE)).map_err(|e| e.context(doing()))?;
        for dir in [
            root.join(BLOBS_DIR).join(Algorithm::Sha256.as_str()),
            root.join(INGEST_DIR),
            root.join(LEASES_DIR),
        ] {
            builder.create(&dir).map_err(|e| Error::io(e, doing()))?;
        }
        identity::check(root, &index, &blobs, true)?;
        let store = Store {
            root: root.to_owned(),
            index,
        };
        store.fill_index().map_err(|e| e.context(doing()))?;
        Ok(store)
    }

    /// Opens the store at `root` for reading only (img-ls, img-inspect): nothing is created
    /// or written, so it works on a store this user may only read. Where there is no store
    /// yet and this user may make one, it is made (as [`Store::open`] does), so that a
    /// first `img-ls` shows an empty store rather than an error.
    pub fn open_read_only(root: &Path) -> Result<Store> {
        Store::open_read_only_inner(root, true)
    }

    /// [`Store::open_read_only`] on an existing store, seeing concurrent writers' commits
    /// (no `immutable=1` fallback): for deciding which blob files no row references.
    pub(crate) fn open_read_only_seeing_writers(root: &Path) -> Result<Store> {
        Store::open_read_only_inner(root, false)
    }

    fn open_read_only_inner(root: &Path, allow_immutable: bool) -> Result<Store> {
        let doing = || format!("opening store {}", root.display());
        let writable = is_writable(root);
        let index_path = root.join(INDEX_FILE);
        let blobs = identity::BlobSide::read(root).map_err(|e| e.context(doing()))?;
        if !index_path.exists() && !blobs.belongs_to_a_store() {
            if allow_immutable && (writable || !root.exists()) {
                return Store::open(root);
            }
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("no store at {}", root.display()),
            ));
        }
        identity::check_index_present(root, &blobs)?;
        let index = match Index::open_read_only_with(&index_path, allow_immutable) {
            // An index of an older img: a user who may write the store upgrades it.
            Err(e) if e.kind() == ErrorKind::Corrupt && writable && allow_immutable => {
                return Store::open(root);
            }
            other => other.map_err(|e| e.context(doing()))?,
        };
        identity::check(root, &index, &blobs, false)?;
        // An index upgraded to schema 4 whose fill is due: a user who may write the store
        // fills it, so that what is listed is what is pinned.
        if writable && allow_immutable && index.fill_is_pending()? {
            drop(index);
            return Store::open(root);
        }
        Ok(Store {
            root: root.to_owned(),
            index,
        })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The index, for image and tag queries.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Where the blob `digest` lives once committed: `blobs/<alg>/<hex>`.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join(BLOBS_DIR)
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    /// Whether the blob is committed: its row and its file are both there.
    pub fn has_blob(&self, digest: &Digest) -> Result<bool> {
        Ok(self.index.blob(digest)?.is_some() && self.blob_path(digest).is_file())
    }

    /// Opens a committed blob for reading.
    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        if self.index.blob(digest)?.is_none() {
            return Err(not_in_store(digest));
        }
        File::open(self.blob_path(digest)).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => not_in_store(digest),
            _ => Error::io(e, format!("opening blob {digest}")),
        })
    }

    /// Reads a committed blob (a manifest, an index or a config) whole, checking that it
    /// still hashes to its digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.open_blob(digest)?
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(e, format!("reading blob {digest}")))?;
        digest.verify(&bytes).map_err(|e| {
            Error::new(
                ErrorKind::Corrupt,
                format!(
                    "blob {} is corrupt on disk ({}); `img-pull --verify` of an image using it fetches it again",
                    self.blob_path(digest).display(),
                    e.message()
                ),
            )
        })?;
        Ok(bytes)
    }

    /// Commits a small document whose bytes are all in memory, after checking that they
    /// hash to `expected` (a mismatch writes nothing). Committing a blob that is already
    /// there succeeds; one whose file no longer hashes right is replaced (documents are
    /// small, so checking them whole costs little).
    pub fn put_blob(&self, media_type: &str, bytes: &[u8], expected: &Digest) -> Result<()> {
        expected.verify(bytes)?;
        match self.ingest_checked(expected, Some(bytes.len() as u64), Check::Hash)? {
            Ingest::AlreadyPresent => Ok(()),
            Ingest::Writer(mut w) => {
                if w.offset() > 0 {
                    w.truncate()?;
                }
                std::io::Write::write_all(&mut w, bytes)
                    .map_err(|e| Error::io(e, format!("writing {expected}")))?;
                w.commit(Some(expected), media_type).map(drop)
            }
        }
    }

    /// Bytes this user may still write on the store's filesystem.
    pub fn free_bytes(&self) -> Result<u64> {
        let st = rustix::fs::statvfs(&self.root).map_err(|e| {
            Error::io(
                std::io::Error::from_raw_os_error(e.raw_os_error()),
                format!("reading the free space of {}", self.root.display()),
            )
        })?;
        Ok(st.f_bavail.saturating_mul(st.f_frsize))
    }

    /// The live leases that keep `image` in use: those protecting its ID or its target.
    /// `img-rm` refuses to delete such an image (`in use by <purpose> (pid N)`).
    pub fn image_users(&self, image: &ImageInfo) -> Result<Vec<LeaseRow>> {
        self.live_leases_protecting(&[image.id.clone(), image.target.clone()])
    }

    /// The live leases protecting any of `digests`.
    pub fn live_leases_protecting(&self, digests: &[Digest]) -> Result<Vec<LeaseRow>> {
        let mut live = Vec::new();
        for row in self.index.leases_protecting(digests)? {
            if lease::is_live(self, &row.id)? {
                live.push(row);
            }
        }
        Ok(live)
    }

    /// Every digest a live lease pins (a pull, push or load in progress): what no prune
    /// frees now. A lease that cannot be probed counts as live, as the collection counts
    /// it; a dead process's lease pins nothing.
    pub fn live_lease_blobs(&self) -> Result<HashSet<Digest>> {
        let mut pinned = HashSet::new();
        for row in self.index.leases()? {
            if lease::is_live(self, &row.id).unwrap_or(true) {
                pinned.extend(self.index.lease_digests(&row.id)?);
            }
        }
        Ok(pinned)
    }

    fn gc_lock_path(&self) -> PathBuf {
        self.root.join(GC_LOCK_FILE)
    }
}

/// Whether this user may create and remove files in `root` (access(2), so root's
/// privileges and ACLs count as the kernel counts them).
fn is_writable(root: &Path) -> bool {
    rustix::fs::access(
        root,
        rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK,
    )
    .is_ok()
}

/// A writing command on a store this user may only read: said plainly, before anything
/// is tried.
fn check_writable(root: &Path) -> Result<()> {
    let index = root.join(INDEX_FILE);
    let index_writable =
        !index.exists() || rustix::fs::access(&index, rustix::fs::Access::WRITE_OK).is_ok();
    if is_writable(root) && index_writable {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::Io,
        format!(
            "store {} is not writable by this user: img-ls and img-inspect can read it; to change it, run as a user who may write it, or use a store of your own (--root DIR or IMG_ROOT)",
            root.display()
        ),
    ))
}

fn not_in_store(digest: &Digest) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("blob {digest} is not in the store"),
    )
}

/// Makes a rename or removal in `dir` durable.
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(e, format!("syncing directory {}", dir.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_creates_the_layout() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("a/b/store");
        let store = Store::open(&root).unwrap();
        for d in ["blobs/sha256", "ingest", "leases"] {
            let meta = std::fs::metadata(root.join(d)).unwrap();
            assert!(meta.is_dir(), "{d}");
        }
        assert!(root.join(INDEX_FILE).is_file());
        assert_eq!(store.root(), root);
        // Opening again keeps what is there.
        let d = Digest::sha256_of(b"{}");
        store.put_blob("application/json", b"{}", &d).unwrap();
        drop(store);
        assert!(Store::open(&root).unwrap().has_blob(&d).unwrap());
    }

    #[test]
    fn open_without_permission_says_so_and_writes_nothing() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let locked = dir.path().join("locked");
        std::fs::create_dir(&locked).unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
        let root = locked.join("store");
        let result = Store::open(&root);
        let privileged = std::fs::create_dir(locked.join("probe")).is_ok();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
        if privileged {
            // Running as root: permissions do not apply, so only the no-op half can be
            // checked; the message half is covered by the not-a-directory case below.
            eprintln!("running privileged: permission denial cannot be observed");
            return;
        }
        let err = result.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Io);
        assert_eq!(
            err.to_string(),
            format!("opening store {}: permission denied", root.display())
        );
        assert!(!root.exists());
    }

    #[test]
    fn open_under_a_file_fails_with_the_store_named_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let root = file.join("store");
        let err = Store::open(&root).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Io);
        assert_eq!(
            err.to_string(),
            format!("opening store {}: not a directory", root.display())
        );
        assert_eq!(std::fs::read(&file).unwrap(), b"x");
    }

    #[test]
    fn corrupt_index_fails_opening_the_store_in_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join(INDEX_FILE), vec![0x5a; 4096]).unwrap();
        let err = Store::open(root).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt);
        let msg = err.to_string();
        assert!(
            msg.contains(&root.join(INDEX_FILE).display().to_string()),
            "{msg}"
        );
        assert!(!msg.contains('\n'));
        // Regression: the layout was created before the index was found corrupt.
        let names: Vec<_> = std::fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            [std::ffi::OsString::from(INDEX_FILE)],
            "nothing written"
        );
    }

    #[test]
    fn put_blob_round_trips_and_refuses_wrong_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let doc = br#"{"schemaVersion":2}"#;
        let d = Digest::sha256_of(doc);
        assert!(!store.has_blob(&d).unwrap());
        store.put_blob("application/json", doc, &d).unwrap();
        assert!(store.has_blob(&d).unwrap());
        assert_eq!(store.read_blob(&d).unwrap(), doc);
        // Again: already there, no error.
        store.put_blob("application/json", doc, &d).unwrap();
        let other = Digest::sha256_of(b"other");
        let err = store.put_blob("application/json", doc, &other).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DigestMismatch);
        assert!(!store.blob_path(&other).exists());
        assert_eq!(store.index().blob(&other).unwrap(), None);
    }

    #[test]
    fn read_blob_notices_corruption_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = Digest::sha256_of(b"config");
        store.put_blob("application/json", b"config", &d).unwrap();
        std::fs::write(store.blob_path(&d), b"tampered").unwrap();
        assert_eq!(store.read_blob(&d).unwrap_err().kind(), ErrorKind::Corrupt);
        let missing = Digest::sha256_of(b"missing");
        assert_eq!(
            store.open_blob(&missing).unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }
}
