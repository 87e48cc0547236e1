//! The SQLite index of the store: images, tags, repo digests, labels, blob rows and leases.
//! This is the only module of img-core that speaks SQL.
//!
//! The index lives in `<root>/index.db`, in WAL mode so that readers never wait for a
//! writer. Many img processes may use one store at once (a pipeline is several processes),
//! so every connection sets a `busy_timeout` of [`BUSY_TIMEOUT`] and every write runs in
//! one `BEGIN IMMEDIATE` transaction: the write lock is taken up front, which is what lets
//! SQLite wait for it instead of failing a read transaction that later wants to write
//! ("database is locked"). A process killed at any instant leaves the last committed state.
//!
//! The schema is versioned with `PRAGMA user_version` and upgraded by numbered migrations
//! (see `schema.rs`); an index written by a newer img is refused rather than guessed at.
//!
//! Tables (migration 1):
//!
//! | table | rows |
//! |---|---|
//! | `blobs` | one per committed blob file: digest, size, media type, commit time |
//! | `images` | one per image: ID, target digest and media type, created, size, platform |
//! | `tags` | `name` (full, `docker.io/library/alpine`) + `tag` → image |
//! | `repo_digests` | `name` + digest (what the name resolved to) → image |
//! | `image_blobs` | image → every blob it pins (target, config, layers, child manifests) |
//! | `labels` | image → config label key and value |
//! | `leases` | one per lease: id, purpose, pid, creation time |
//! | `lease_blobs` | lease → digests it pins |
//! | `meta` (migration 2) | `store-id`: the identity the store's `blobs/` carries too; `fill` while the fill of migration 4 is due |
//! | `image_roots` (migration 4) | image → each root (target, tag target, repo digest) → the blobs it brings; `image_blobs` is derived from it (pins.rs) |
//! | `layer_diff_ids` (migration 4) | layer blob → the DiffID a config claims for it, and whether img verified it (layers.rs) |
//! | `synthesized` (migration 4) | the manifests img wrote itself for legacy archives |
//! | `blob_sources` (migration 5) | layer blob → registry and repository it was pulled from or pushed to, for cross-repository mounts (sources.rs) |
//!
//! A store that this user cannot write is opened with [`Index::open_read_only`]: reading
//! commands work on a system-wide store that users may only read.

mod blobs;
mod filter;
mod images;
mod layers;
mod list;
mod pins;
mod remove;
mod schema;
mod sources;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior};

use crate::error::{Error, ErrorKind, Result};

pub use blobs::{BlobRow, LeaseRow};
pub use filter::ListFilter;
pub use images::{ImageInfo, NewImage};
pub use layers::LayerDiffId;
pub use list::ImageRow;
pub(crate) use pins::{Filled, PendingImage};
pub use remove::{DeleteImage, RemovedReferences};
pub use schema::SCHEMA_VERSION;

/// How long a connection waits for another process's write transaction before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// An open index. Cheap to share between threads (`&Index` is `Sync`): one connection
/// behind a mutex, since writes are serialised by SQLite anyway.
pub struct Index {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index").field("path", &self.path).finish()
    }
}

impl Index {
    /// Opens (creating if needed) the index at `path` and brings its schema up to date.
    ///
    /// A file that is not an SQLite database, or an index from a newer img, fails with
    /// [`ErrorKind::Corrupt`] naming the file.
    pub fn open(path: &Path) -> Result<Index> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| sql_error(e, path))?;
        let index = Index {
            path: path.to_owned(),
            conn: Mutex::new(conn),
        };
        index.configure()?;
        index.write(schema::migrate)?;
        Ok(index)
    }

    /// Opens the index at `path` for reading only: nothing is created, migrated or written,
    /// so a user who may only read the store can list and inspect it.
    ///
    /// A reader of a WAL database needs its `-wal` and `-shm` files, which the last writer
    /// to close removes; a reader that may not write the directory cannot create them. So
    /// `mode=ro` is tried first (it sees concurrent writers), then `immutable=1`, which
    /// reads the database file as it is: right for a store nobody is writing, and the only
    /// way to read one that this user cannot write while no writer has it open. An index
    /// of an older schema fails with [`ErrorKind::Corrupt`] asking for a writing command.
    pub fn open_read_only(path: &Path) -> Result<Index> {
        Index::open_read_only_with(path, true)
    }

    /// [`Index::open_read_only`], with `immutable=1` allowed or not: what decides which
    /// blob files have no row must see a concurrent writer's WAL, so it never is.
    pub fn open_read_only_with(path: &Path, allow_immutable: bool) -> Result<Index> {
        let open = |query: &str| -> rusqlite::Result<Connection> {
            let conn = Connection::open_with_flags(
                format!("file:{}?{query}", uri_path(path)),
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_URI
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            conn.busy_timeout(BUSY_TIMEOUT)?;
            // Opening is lazy: a query is what finds out whether the file can be read.
            conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))?;
            Ok(conn)
        };
        let conn = match open("mode=ro") {
            Err(_) if allow_immutable => open("immutable=1"),
            other => other,
        }
        .map_err(|e| sql_error(e, path))?;
        let index = Index {
            path: path.to_owned(),
            conn: Mutex::new(conn),
        };
        let version = index.user_version()?;
        if version != SCHEMA_VERSION {
            return Err(Error::new(
                ErrorKind::Corrupt,
                format!(
                    "index {} has schema version {version}, this img reads {SCHEMA_VERSION}: run a writing img command (img-rm --prune) as a user who may write the store to upgrade it",
                    path.display()
                ),
            ));
        }
        Ok(index)
    }

    /// The store identity this index carries, if any.
    pub fn store_id(&self) -> Result<Option<String>> {
        self.read(|tx| {
            use rusqlite::OptionalExtension;
            tx.query_row("SELECT value FROM meta WHERE key = 'store-id'", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))
        })
    }

    /// Records `id` as the store identity unless the index has one; returns the one it
    /// has now (two processes creating a store at once agree on the first).
    pub fn ensure_store_id(&self, id: &str) -> Result<String> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('store-id', ?1) ON CONFLICT (key) DO NOTHING",
                [id],
            )
            .map_err(|e| self.err(e))?;
            tx.query_row("SELECT value FROM meta WHERE key = 'store-id'", [], |r| {
                r.get(0)
            })
            .map_err(|e| self.err(e))
        })
    }

    /// The file this index lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version recorded in the file.
    pub fn user_version(&self) -> Result<u32> {
        self.read(schema::user_version)
    }

    fn configure(&self) -> Result<()> {
        let conn = self.lock();
        let setup = || -> rusqlite::Result<()> {
            // The busy timeout first: switching to WAL takes a lock another process may hold.
            conn.busy_timeout(BUSY_TIMEOUT)?;
            // Switching to WAL needs an exclusive lock, and SQLite returns "busy" at once
            // rather than call the busy handler when another connection opening the same
            // fresh file holds a shared one (waiting could deadlock): so retry ourselves.
            let deadline = Instant::now() + BUSY_TIMEOUT;
            let mode: String = loop {
                match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)) {
                    Err(e) if is_busy(&e) && Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    other => break other?,
                }
            };
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                    Some(format!(
                        "cannot switch to WAL mode (journal mode is {mode})"
                    )),
                ));
            }
            // FULL: a commit that returned is on disk, even across a power loss.
            conn.pragma_update(None, "synchronous", "FULL")?;
            conn.pragma_update(None, "foreign_keys", "ON")?;
            Ok(())
        };
        setup().map_err(|e| sql_error(e, &self.path))
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic in another thread cannot leave the connection half-way through a
        // transaction (the Transaction's drop rolls it back), so a poisoned lock is usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction and commits it; any error rolls back.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sql_error(e, &self.path))?;
        let value = f(&tx)?;
        tx.commit().map_err(|e| sql_error(e, &self.path))?;
        Ok(value)
    }

    /// Runs `f` in one read transaction: every query in it sees the same snapshot.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(|e| sql_error(e, &self.path))?;
        let value = f(&tx)?;
        // Nothing to commit; ending the transaction releases the snapshot.
        tx.rollback().map_err(|e| sql_error(e, &self.path))?;
        Ok(value)
    }

    /// Converts a rusqlite error met while using this index.
    pub(crate) fn err(&self, e: rusqlite::Error) -> Error {
        sql_error(e, &self.path)
    }
}

/// `path` for an SQLite URI: the characters a URI gives meaning to, percent-encoded.
fn uri_path(path: &Path) -> String {
    let mut out = String::new();
    for b in path.as_os_str().as_encoded_bytes() {
        match b {
            b'?' | b'#' | b'%' => out.push_str(&format!("%{b:02X}")),
            _ if b.is_ascii() => out.push(char::from(*b)),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// One line saying what went wrong with the index at `path`, of the kind callers branch on.
fn sql_error(e: rusqlite::Error, path: &Path) -> Error {
    let path = path.display();
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => Error::new(
            ErrorKind::Corrupt,
            format!("index {path} is not an SQLite database; move it aside to start a new index"),
        ),
        Some(ErrorCode::DatabaseCorrupt) => Error::new(
            ErrorKind::Corrupt,
            format!("index {path} is corrupt ({e}); move it aside to start a new index"),
        ),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => Error::new(
            ErrorKind::Io,
            format!(
                "index {path} is busy: another img process held it for more than {} s",
                BUSY_TIMEOUT.as_secs()
            ),
        ),
        Some(ErrorCode::DiskFull) => Error::new(
            ErrorKind::Io,
            format!(
                "index {path}: no space left on device: free some space (img-rm --prune removes what no image uses) and try again"
            ),
        ),
        Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
            Error::new(ErrorKind::Io, format!("index {path}: {e}"))
        }
        _ => Error::new(ErrorKind::Io, format!("index {path}: {e}")),
    }
}

/// A digest read back from a column; a malformed one means the file was tampered with.
pub(crate) fn parse_digest(s: &str) -> Result<crate::Digest> {
    crate::Digest::parse(s).map_err(|e| {
        Error::new(
            ErrorKind::Corrupt,
            format!("index holds a malformed digest: {}", e.message()),
        )
    })
}

/// The current time as RFC 3339, as the index records times.
pub(crate) fn now() -> String {
    jiff::Timestamp::now().to_string()
}

/// A size as SQLite stores it (i64), saturating: no blob is 8 EiB.
pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A size read back from SQLite; a negative one reads as zero.
pub(crate) fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_index_is_at_latest_version_and_wal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.db");
        let index = Index::open(&path).unwrap();
        assert_eq!(index.user_version().unwrap(), SCHEMA_VERSION);
        let conn = Connection::open(&path).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        // Opening again is a no-op migration.
        drop(index);
        assert_eq!(
            Index::open(&path).unwrap().user_version().unwrap(),
            SCHEMA_VERSION
        );
    }

    #[test]
    fn many_threads_opening_a_fresh_index_at_once_all_succeed() {
        // Regression: switching a fresh file to WAL returned "busy" at once (SQLite does
        // not call the busy handler there) when another connection was doing the same.
        for _ in 0..10 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("index.db");
            let barrier = std::sync::Barrier::new(4);
            std::thread::scope(|s| {
                for _ in 0..4 {
                    s.spawn(|| {
                        barrier.wait();
                        Index::open(&path).unwrap();
                    });
                }
            });
        }
    }

    #[test]
    fn newer_index_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.db");
        drop(Index::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 5)
            .unwrap();
        drop(conn);
        let err = Index::open(&path).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt);
        let msg = err.to_string();
        assert!(msg.contains("newer img"), "{msg}");
        assert!(msg.contains(&path.display().to_string()), "{msg}");
    }

    #[test]
    fn garbage_index_is_corrupt_in_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.db");
        std::fs::write(&path, b"this is not a database at all\n".repeat(200)).unwrap();
        let err = Index::open(&path).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt);
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("not an SQLite database"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }
}

#[cfg(test)]
mod image_tests;
