//! Leases: what a running process pins against garbage collection — a row in the index plus
//! a lock file in `leases/` that the process holds for the lease's life.
//!
//! Liveness is the lock, not the row: the kernel releases the lock of a killed process, so
//! its lease is dead at once and pins nothing, even though its row is still there until the
//! next GC removes it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use super::lock::{LockFile, Mode};
use super::{LEASES_DIR, Store};
use crate::digest::Digest;
use crate::error::Result;

/// A live lease. Dropping it (or [`Lease::release`]) removes it.
#[derive(Debug)]
pub struct Lease<'s> {
    store: &'s Store,
    id: String,
    purpose: String,
    lock: Option<LockFile>,
}

impl Store {
    /// Takes a lease for `purpose` (shown to users: `pulling docker.io/library/alpine:3.20`).
    pub fn lease(&self, purpose: &str) -> Result<Lease<'_>> {
        self.lease_protecting(purpose, &[])
    }

    /// [`Store::lease`] pinning `digests` from the start: the row and its pins in one
    /// transaction (one commit, one fsync, where a lease then [`Lease::protect_all`] is
    /// two; a re-push is little more than these).
    pub fn lease_protecting(&self, purpose: &str, digests: &[&Digest]) -> Result<Lease<'_>> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let pid = std::process::id();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let id = format!(
            "{pid}-{nanos:x}-{}",
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        // The lock first, the row second: GC never sees a row whose lock is not yet held.
        let lock = LockFile::acquire(&lock_path(self, &id), Mode::Exclusive)
            .map_err(|e| e.context(format!("taking a lease for {purpose}")))?;
        if let Err(e) = self.index.insert_lease(&id, purpose, pid, digests) {
            let _ = lock.remove();
            return Err(e.context(format!("taking a lease for {purpose}")));
        }
        Ok(Lease {
            store: self,
            id,
            purpose: purpose.to_owned(),
            lock: Some(lock),
        })
    }
}

impl Lease<'_> {
    /// The lease's id (also its lock file's name).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// What the lease is for.
    pub fn purpose(&self) -> &str {
        &self.purpose
    }

    /// Pins `digest` (committed or not yet) for the lease's life. Protect a blob before
    /// checking for it or ingesting it, so GC cannot remove it in between.
    pub fn protect(&self, digest: &Digest) -> Result<()> {
        self.store.index.lease_protect(&self.id, &[digest])
    }

    /// Pins every one of `digests`, in one transaction.
    pub fn protect_all(&self, digests: &[&Digest]) -> Result<()> {
        self.store.index.lease_protect(&self.id, digests)
    }

    /// Removes the lease now, reporting failure (dropping it does the same, silently).
    pub fn release(mut self) -> Result<()> {
        self.release_inner()
    }

    fn release_inner(&mut self) -> Result<()> {
        let Some(lock) = self.lock.take() else {
            return Ok(());
        };
        // Row first: if we die between the two, the lock is released anyway and GC takes
        // the leftover lock file for a dead lease.
        let deleted = self.store.index.delete_lease(&self.id);
        let removed = lock.remove();
        deleted.and(removed)
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        // Nothing to report to; a row left behind is dead once our lock goes, and GC
        // removes it.
        let _ = self.release_inner();
    }
}

fn lock_path(store: &Store, id: &str) -> PathBuf {
    store.root.join(LEASES_DIR).join(format!("{id}.lock"))
}

/// Whether the lease `id` is live: some process holds its lock file.
pub(super) fn is_live(store: &Store, id: &str) -> Result<bool> {
    // An id read back from the index names a file; refuse anything that is not one plain
    // file name rather than probe elsewhere.
    if id.is_empty() || id.contains('/') || id.starts_with('.') {
        return Ok(false);
    }
    LockFile::is_held(&lock_path(store, id))
}

/// Removes the lock file of a dead lease, unless someone holds it after all.
pub(super) fn remove_dead(store: &Store, id: &str) -> Result<()> {
    if id.is_empty() || id.contains('/') || id.starts_with('.') {
        return Ok(());
    }
    if let Some(lock) = LockFile::try_exclusive(&lock_path(store, id))? {
        lock.remove()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_lives_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let d = Digest::sha256_of(b"layer");
        let lease = store.lease("pulling alpine").unwrap();
        lease.protect(&d).unwrap();
        assert!(is_live(&store, lease.id()).unwrap());
        let users = store
            .live_leases_protecting(std::slice::from_ref(&d))
            .unwrap();
        assert_eq!(users.len(), 1);
        assert_eq!(users[0].purpose, "pulling alpine");
        assert_eq!(users[0].pid, std::process::id());
        let id = lease.id().to_owned();
        drop(lease);
        assert!(!is_live(&store, &id).unwrap());
        assert!(store.index().leases().unwrap().is_empty());
        assert!(store.live_leases_protecting(&[d]).unwrap().is_empty());
        assert_eq!(
            std::fs::read_dir(store.root.join(LEASES_DIR))
                .unwrap()
                .count(),
            0
        );
    }

    #[test]
    fn protect_all_pins_every_digest_against_gc() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let blobs: Vec<Digest> = (0..3)
            .map(|i| {
                let data = format!("blob {i}").into_bytes();
                let d = Digest::sha256_of(&data);
                store
                    .put_blob("application/octet-stream", &data, &d)
                    .unwrap();
                d
            })
            .collect();
        let lease = store.lease("pulling three blobs").unwrap();
        lease
            .protect_all(&blobs.iter().collect::<Vec<_>>())
            .unwrap();
        assert_eq!(store.gc().unwrap().blobs_removed, 0);
        for d in &blobs {
            assert!(store.has_blob(d).unwrap(), "{d} swept while pinned");
        }
        drop(lease);
        assert_eq!(store.gc().unwrap().blobs_removed, 3);
    }

    #[test]
    fn an_image_is_in_use_while_a_live_lease_protects_its_id_or_target() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let info = store
            .index()
            .put_image(&crate::index::NewImage {
                id: Digest::sha256_of(b"config"),
                target: Digest::sha256_of(b"manifest"),
                target_media_type: crate::oci::media_type::OCI_MANIFEST.into(),
                created: None,
                platform: "linux/amd64".into(),
                blobs: vec![Digest::sha256_of(b"layer")],
                labels: Default::default(),
                tags: vec![],
                repo_digests: vec![],
            })
            .unwrap();
        // A lease on a shared layer alone does not make the image in use.
        let layer_lease = store.lease("pulling another image").unwrap();
        layer_lease.protect(&Digest::sha256_of(b"layer")).unwrap();
        assert!(store.image_users(&info).unwrap().is_empty());
        let lease = store.lease("saving alpine").unwrap();
        lease.protect(&info.target).unwrap();
        let users = store.image_users(&info).unwrap();
        assert_eq!(users.len(), 1);
        assert_eq!(users[0].purpose, "saving alpine");
        lease.release().unwrap();
        assert!(store.image_users(&info).unwrap().is_empty());
    }
}
