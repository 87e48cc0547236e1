//! Group commit: a pull's blobs committed in batches. Each blob is still written, synced
//! and verified by its own writer before anything of it is visible; what the commits in
//! flight share — the renames into `blobs/`, then one sync of each directory, then their
//! rows in one index transaction ([`Store::publish_all`]) — is done once for all the blobs
//! waiting, by whichever of their threads comes first while no batch is being committed
//! (the leader), as databases commit their log. The others wait for the leader's result:
//! no timer, so a lone commit costs what it did alone, and under load each batch gathers
//! what arrived while the last one synced.
//!
//! A kill -9 at any instant leaves what single commits would: partials (each verified
//! only once complete; resumed by the next pull), blob files renamed but without a row (a
//! commit killed between its rename and its row: the next ingest of the digest adopts
//! such a file once it hashes right, GC removes it, [`Store::check`] counts it unpinned,
//! never wrong), rows only for files already synced in place. Each blob keeps its digest's
//! ingest lock until its row is in, so another process ingesting it waits as before.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use super::Store;
use super::writer::Staged;
use crate::error::{Error, ErrorKind, Result};

/// The commits in flight of one pull: `&CommitGroup` is shared by its download threads,
/// each committing through [`IngestWriter::commit_in`](super::IngestWriter::commit_in).
pub struct CommitGroup<'s> {
    store: &'s Store,
    state: Mutex<State<'s>>,
    committed: Condvar,
}

#[derive(Default)]
struct State<'s> {
    /// Blobs synced and verified, waiting for the next batch, with their tickets.
    waiting: Vec<(u64, Staged<'s>, String)>,
    /// Whether a leader is committing a batch now.
    leading: bool,
    /// Outcomes of committed batches, by ticket, until their threads take them.
    outcomes: HashMap<u64, Result<()>>,
    next_ticket: u64,
    /// Batches committed so far, and the most blobs in one.
    batches: usize,
    largest: usize,
}

impl Store {
    /// A group for committing many blobs together (a pull's).
    pub fn commit_group(&self) -> CommitGroup<'_> {
        CommitGroup {
            store: self,
            state: Mutex::new(State::default()),
            committed: Condvar::new(),
        }
    }
}

impl<'s> CommitGroup<'s> {
    /// Commits `staged` in the next batch and returns once its batch is committed, with
    /// this blob's outcome. A partial that is not a pull's own (`ingest/<alg>-<hex>` under
    /// its digest's lock) is committed on its own, as [`Staged::commit`] does.
    pub(super) fn commit(&self, staged: Staged<'s>, media_type: &str) -> Result<()> {
        if !staged.is_own_partial() {
            return staged.commit(media_type);
        }
        // On disk before it joins a batch: the leader's renames make it visible.
        staged.sync()?;
        let mut state = self.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.waiting.push((ticket, staged, media_type.to_owned()));
        loop {
            if let Some(outcome) = state.outcomes.remove(&ticket) {
                return outcome;
            }
            if !state.leading {
                state.leading = true;
                let batch = std::mem::take(&mut state.waiting);
                drop(state);
                let lead = Lead {
                    group: self,
                    tickets: batch.iter().map(|(t, _, _)| *t).collect(),
                    outcomes: Vec::new(),
                };
                lead.run(batch);
                state = self.lock();
                continue;
            }
            state = self
                .committed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Batches committed so far, and the most blobs one held.
    pub fn batches(&self) -> (usize, usize) {
        let state = self.lock();
        (state.batches, state.largest)
    }

    fn lock(&self) -> MutexGuard<'_, State<'s>> {
        // Nothing is left half-changed in the state by a panic: each change is one step.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One leader's batch: hands every ticket its outcome and lets the next leader in when it
/// ends, even by a panic (the waiting threads would otherwise wait for ever).
struct Lead<'g, 's> {
    group: &'g CommitGroup<'s>,
    tickets: Vec<u64>,
    outcomes: Vec<Result<()>>,
}

impl<'s> Lead<'_, 's> {
    fn run(mut self, batch: Vec<(u64, Staged<'s>, String)>) {
        let blobs: Vec<_> = batch
            .iter()
            .map(|(_, s, mt)| (s.path(), s.digest(), s.size(), mt.as_str()))
            .collect();
        self.outcomes = match self.group.store.publish_all(&blobs) {
            Ok(each) => each,
            Err(e) => vec![Err(e); batch.len()],
        };
        // Each blob's digest lock goes only now, its row in (or its commit failed).
        drop(batch);
    }
}

impl Drop for Lead<'_, '_> {
    fn drop(&mut self) {
        let mut state = self.group.lock();
        let mut outcomes = std::mem::take(&mut self.outcomes).into_iter();
        for &ticket in &self.tickets {
            let outcome = outcomes.next().unwrap_or_else(|| {
                Err(Error::new(
                    ErrorKind::Io,
                    "the thread committing this blob's batch panicked",
                ))
            });
            state.outcomes.insert(ticket, outcome);
        }
        state.batches += 1;
        state.largest = state.largest.max(self.tickets.len());
        state.leading = false;
        drop(state);
        self.group.committed.notify_all();
    }
}

impl std::fmt::Debug for CommitGroup<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (batches, largest) = self.batches();
        f.debug_struct("CommitGroup")
            .field("batches", &batches)
            .field("largest", &largest)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::digest::Digest;
    use crate::store::lock::{LockFile, Mode};
    use crate::store::test_support::{content, files_in};
    use crate::store::{GC_LOCK_FILE, Ingest};

    const MT: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

    impl CommitGroup<'_> {
        fn waiting(&self) -> usize {
            self.lock().waiting.len()
        }
    }

    /// Commits one blob (its bytes, the digest they must hash to) in `group`, from
    /// a fresh ingest.
    fn commit_one<'s>(
        store: &'s Store,
        group: &CommitGroup<'s>,
        (bytes, digest): &(Vec<u8>, Digest),
    ) -> Result<Digest> {
        let Ingest::Writer(mut w) = store.ingest(digest, Some(bytes.len() as u64))? else {
            panic!("{digest} unexpectedly present");
        };
        w.write_all(bytes).unwrap();
        w.commit_in(group, Some(digest), MT)
    }

    /// `n` commits in one group while `gc.lock` is held: the first takes the lead and
    /// waits for the lock inside its batch, and every other one queues behind it, so the
    /// lock's release commits one batch of one blob and then one batch of all the rest.
    /// `queued` is how many of the rest reach the queue (a mismatch never does). Returns
    /// each commit's outcome in the order of `blobs`, and the group's batch counts.
    fn commit_behind_a_held_lock(
        store: &Store,
        blobs: &[(Vec<u8>, Digest)],
        queued: usize,
    ) -> (Vec<Result<Digest>>, (usize, usize)) {
        let held = LockFile::acquire(&store.root().join(GC_LOCK_FILE), Mode::Exclusive).unwrap();
        let group = store.commit_group();
        let outcomes = std::thread::scope(|s| {
            let first = s.spawn(|| commit_one(store, &group, &blobs[0]));
            let deadline = Instant::now() + Duration::from_secs(30);
            while !group.lock().leading {
                assert!(Instant::now() < deadline, "no leader took the first commit");
                std::thread::sleep(Duration::from_millis(1));
            }
            let rest: Vec<_> = blobs[1..]
                .iter()
                .map(|b| {
                    let group = &group;
                    s.spawn(move || commit_one(store, group, b))
                })
                .collect();
            while group.waiting() < queued {
                assert!(Instant::now() < deadline, "the commits never queued");
                std::thread::sleep(Duration::from_millis(1));
            }
            drop(held);
            let mut all = vec![first.join().unwrap()];
            all.extend(rest.into_iter().map(|h| h.join().unwrap()));
            all
        });
        (outcomes, group.batches())
    }

    #[test]
    fn a_batch_of_n_commits_makes_n_blobs_and_rows() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let blobs: Vec<_> = (0..24u8)
            .map(|i| content(i, 1000 + usize::from(i)))
            .collect();
        let (outcomes, batches) = commit_behind_a_held_lock(&store, &blobs, 23);
        for ((_, d), got) in blobs.iter().zip(&outcomes) {
            assert_eq!(got.as_ref().unwrap(), d);
        }
        // One batch of the leader's own blob, then one of the 23 that queued meanwhile.
        assert_eq!(batches, (2, 23));
        let mut files = files_in(&dir.path().join("blobs/sha256"));
        files.sort();
        let mut want: Vec<_> = blobs.iter().map(|(_, d)| store.blob_path(d)).collect();
        want.sort();
        assert_eq!(files, want);
        assert_eq!(store.index().blobs().unwrap().len(), blobs.len());
        for (bytes, d) in &blobs {
            let row = store.index().blob(d).unwrap().unwrap();
            assert_eq!(
                (row.size, row.media_type.as_str()),
                (bytes.len() as u64, MT)
            );
            assert_eq!(&store.read_blob(d).unwrap(), bytes);
        }
        // Every partial renamed and every digest's lock file gone.
        assert!(files_in(&dir.path().join("ingest")).is_empty());
        let report = store.check();
        assert!(report.is_sound(), "{report:?}");
    }

    #[test]
    fn a_digest_mismatch_in_a_batch_refuses_that_blob_only_and_says_which() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut blobs: Vec<_> = (0..8u8).map(|i| content(i, 2000)).collect();
        // Blob 5's bytes are another blob's.
        let bad = blobs[5].1.clone();
        blobs[5].0 = content(99, 2000).0;
        let (outcomes, batches) = commit_behind_a_held_lock(&store, &blobs, 6);
        for (i, ((_, d), got)) in blobs.iter().zip(&outcomes).enumerate() {
            if i != 5 {
                assert_eq!(got.as_ref().unwrap(), d, "blob {i}");
                assert!(store.has_blob(d).unwrap(), "blob {i}");
            }
        }
        let err = outcomes[5].as_ref().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DigestMismatch);
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("committing {bad}: digest mismatch")),
            "{msg}"
        );
        assert_eq!(batches, (2, 6), "the others still went in one batch");
        assert!(!store.blob_path(&bad).exists());
        assert_eq!(store.index().blob(&bad).unwrap(), None);
        assert_eq!(store.index().blobs().unwrap().len(), 7);
        // Its partial went with it: the next ingest starts from zero.
        assert!(files_in(&dir.path().join("ingest")).is_empty());
        assert!(store.check().is_sound());
    }

    #[test]
    fn a_batch_killed_between_its_renames_and_its_rows_leaves_what_check_and_gc_accept() {
        // What a kill -9 after the renames of a batch and before its transaction leaves:
        // synced, verified blob files without rows.
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let blobs: Vec<_> = (0..5u8).map(|i| content(i, 3000)).collect();
        for (bytes, d) in &blobs {
            std::fs::write(store.blob_path(d), bytes).unwrap();
        }
        let report = store.check();
        assert!(report.is_sound(), "{report:?}");
        assert_eq!((report.files, report.unpinned, report.lost), (5, 5, 0));
        // The resumed pull's ingest adopts the first; GC removes the others.
        assert!(matches!(
            store.ingest(&blobs[0].1, Some(3000)).unwrap(),
            Ingest::AlreadyPresent
        ));
        assert!(store.has_blob(&blobs[0].1).unwrap());
        let lease = store.lease("pulling").unwrap();
        lease.protect(&blobs[0].1).unwrap();
        let gc = store.gc().unwrap();
        assert_eq!(gc.blobs_removed, 4);
        assert_eq!(
            files_in(&dir.path().join("blobs/sha256")),
            vec![store.blob_path(&blobs[0].1)]
        );
        assert!(store.check().is_sound());
    }
}
