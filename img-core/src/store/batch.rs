//! Group commit: a pull's blobs committed in batches. Each blob is still written, synced
//! and verified by its own writer before anything of it is visible; what the commits in
//! flight share — the renames into `blobs/`, then one sync of each directory, then their
//! rows in one index transaction ([`Store::publish_all`]) — is done once for all the blobs
//! waiting, by whichever of their threads came first while no batch was being committed
//! (the leader, as databases commit their log). The leader goes on with the next batch
//! while blobs are waiting; the others hand theirs over and go back to downloading. No
//! timer: a lone commit costs what it did alone, and under load each batch gathers what
//! arrived while the last one synced. [`CommitGroup::finish`] says whether all went in.
//!
//! A kill -9 at any instant leaves what single commits would: partials (each verified
//! only once complete; resumed by the next pull), blob files renamed but without a row (a
//! commit killed between its rename and its row: the next ingest of the digest adopts
//! such a file once it hashes right, GC removes it, [`Store::check`] counts it unpinned,
//! never wrong), rows only for files already synced in place. Each blob keeps its digest's
//! ingest lock until its row is in, so another process ingesting it waits as before.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use super::Store;
use super::writer::Staged;
use crate::error::{Error, Result};

/// What is done with a blob's outcome once its batch is committed (a pull's progress
/// line), on whichever thread committed it.
pub type Then<'g> = Box<dyn FnOnce(&Result<()>) + Send + 'g>;

/// The commits of one pull: `&CommitGroup` is shared by its download threads, each
/// handing its blobs over with [`IngestWriter::hand_to`](super::IngestWriter::hand_to).
pub struct CommitGroup<'g> {
    store: &'g Store,
    state: Mutex<State<'g>>,
    /// Signalled when a leader lets go.
    idle: Condvar,
}

struct State<'g> {
    /// Blobs synced and verified, waiting for the next batch.
    waiting: Vec<Waiting<'g>>,
    /// Whether a leader is committing batches now.
    leading: bool,
    /// The first commit that failed.
    failed: Option<Error>,
    /// Batches committed so far, and the most blobs in one.
    batches: usize,
    largest: usize,
}

struct Waiting<'g> {
    staged: Staged<'g>,
    media_type: String,
    then: Then<'g>,
}

impl Store {
    /// A group for committing many blobs together (a pull's).
    pub fn commit_group(&self) -> CommitGroup<'_> {
        CommitGroup {
            store: self,
            state: Mutex::new(State {
                waiting: Vec::new(),
                leading: false,
                failed: None,
                batches: 0,
                largest: 0,
            }),
            idle: Condvar::new(),
        }
    }
}

impl<'g> CommitGroup<'g> {
    /// Syncs `staged` and hands it to the next batch; when no other thread is committing
    /// batches, this one does until none is waiting. Errors are the sync's; a failed
    /// commit is told to `then` and by [`CommitGroup::finish`]. A partial that is not a
    /// pull's own (`ingest/<alg>-<hex>` under its digest's lock) is committed on its own,
    /// as [`Staged::commit`] does, its error returned.
    pub(super) fn hand(&self, staged: Staged<'g>, media_type: &str, then: Then<'g>) -> Result<()> {
        if !staged.is_own_partial() {
            // Its caller has the error, and may try again: not the group's failure.
            let outcome = staged.commit(media_type);
            then(&outcome);
            return outcome;
        }
        // On disk before it joins a batch: the leader's renames make it visible.
        staged
            .sync()
            .map_err(|e| e.context(format!("committing {}", staged.digest())))?;
        let mut state = self.lock();
        state.waiting.push(Waiting {
            staged,
            media_type: media_type.to_owned(),
            then,
        });
        if state.leading {
            return Ok(());
        }
        state.leading = true;
        drop(state);
        self.lead();
        Ok(())
    }

    /// Once every thread that handed blobs over is done: whether every commit went in
    /// (the first failure otherwise). Commits what is still waiting, if anything is.
    pub fn finish(&self) -> Result<()> {
        let mut state = self.lock();
        while state.leading {
            state = self
                .idle
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if !state.waiting.is_empty() {
            state.leading = true;
            drop(state);
            self.lead();
            state = self.lock();
        }
        match state.failed.clone() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Batches committed so far, and the most blobs one held.
    pub fn batches(&self) -> (usize, usize) {
        let state = self.lock();
        (state.batches, state.largest)
    }

    /// Commits batches until none is waiting; called with `leading` set.
    fn lead(&self) {
        let _lead = Lead(self);
        loop {
            let batch = {
                let mut state = self.lock();
                if state.waiting.is_empty() {
                    // Let go under the lock: a blob handed over after this finds no leader
                    // and leads itself.
                    state.leading = false;
                    return;
                }
                let batch = std::mem::take(&mut state.waiting);
                state.batches += 1;
                state.largest = state.largest.max(batch.len());
                batch
            };
            self.commit_batch(batch);
        }
    }

    fn commit_batch(&self, batch: Vec<Waiting<'g>>) {
        let blobs: Vec<_> = batch
            .iter()
            .map(|w| {
                let s = &w.staged;
                (s.path(), s.digest(), s.size(), w.media_type.as_str())
            })
            .collect();
        let outcomes = match self.store.publish_all(&blobs) {
            Ok(each) => each,
            Err(e) => vec![Err(e); batch.len()],
        };
        for (w, outcome) in batch.into_iter().zip(outcomes) {
            let digest = w.staged.digest().clone();
            // Its digest's lock goes only now, its row in (or its commit failed).
            drop(w.staged);
            let outcome = outcome.map_err(|e| e.context(format!("committing {digest}")));
            self.told(&outcome, w.then);
        }
    }

    /// Tells `then` the outcome, and keeps a failure for [`CommitGroup::finish`].
    fn told(&self, outcome: &Result<()>, then: Then<'g>) {
        if let Err(e) = outcome {
            self.lock().failed.get_or_insert_with(|| e.clone());
        }
        then(outcome);
    }

    fn lock(&self) -> MutexGuard<'_, State<'g>> {
        // Nothing is left half-changed in the state by a panic: each change is one step.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A leader's turn: ends by letting the next leader in, even by a panic (whatever was
/// waiting stays for [`CommitGroup::finish`], and no thread waits for ever).
struct Lead<'a, 'g>(&'a CommitGroup<'g>);

impl Drop for Lead<'_, '_> {
    fn drop(&mut self) {
        // Otherwise `lead` let go itself, under the lock, and another may lead by now.
        if std::thread::panicking() {
            self.0.lock().leading = false;
        }
        self.0.idle.notify_all();
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
    use crate::error::ErrorKind;
    use crate::store::lock::{LockFile, Mode};
    use crate::store::test_support::{content, files_in};
    use crate::store::{GC_LOCK_FILE, Ingest};

    const MT: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

    /// Hands one blob (its bytes, the digest they must hash to) to `group` from a fresh
    /// ingest; what its batch came to goes into `told`.
    fn hand_one<'g>(
        store: &'g Store,
        group: &CommitGroup<'g>,
        (bytes, digest): &(Vec<u8>, Digest),
        told: &'g Mutex<Vec<(Digest, Result<()>)>>,
    ) -> Result<Digest> {
        let Ingest::Writer(mut w) = store.ingest(digest, Some(bytes.len() as u64))? else {
            panic!("{digest} unexpectedly present");
        };
        w.write_all(bytes).unwrap();
        let d = digest.clone();
        let then: Then<'g> =
            Box::new(move |outcome| told.lock().unwrap().push((d, outcome.clone())));
        w.hand_to(group, Some(digest), MT, then)
    }

    /// What handing `blobs` to one group came to, each blob's hand-over and what its
    /// batch was told, in the order of `blobs`, and the group's batch counts; handed over
    /// while `gc.lock` is held, so that the first to come leads and waits for the lock
    /// inside its batch while the others queue up (`queued` of them: a mismatch never
    /// does): the lock's release commits one batch of one blob, then one of the rest.
    #[allow(clippy::type_complexity)]
    fn hand_behind_a_held_lock(
        store: &Store,
        blobs: &[(Vec<u8>, Digest)],
        queued: usize,
    ) -> (Vec<(Result<Digest>, Option<Result<()>>)>, (usize, usize)) {
        let held = LockFile::acquire(&store.root().join(GC_LOCK_FILE), Mode::Exclusive).unwrap();
        let told = Mutex::new(Vec::new());
        let group = store.commit_group();
        let handed = std::thread::scope(|s| {
            let first = s.spawn(|| hand_one(store, &group, &blobs[0], &told));
            let deadline = Instant::now() + Duration::from_secs(30);
            while !group.lock().leading {
                assert!(Instant::now() < deadline, "no leader took the first blob");
                std::thread::sleep(Duration::from_millis(1));
            }
            // The others are handed over and return at once: a leader is committing.
            let mut handed = vec![];
            for b in &blobs[1..] {
                handed.push(hand_one(store, &group, b, &told));
            }
            assert_eq!(group.lock().waiting.len(), queued);
            assert!(told.lock().unwrap().is_empty(), "nothing committed yet");
            drop(held);
            handed.insert(0, first.join().unwrap());
            handed
        });
        let finished = group.finish();
        let batches = group.batches();
        drop(group);
        let told = told.into_inner().unwrap();
        assert_eq!(finished.is_ok(), told.iter().all(|(_, r)| r.is_ok()));
        let outcomes = blobs
            .iter()
            .zip(handed)
            .map(|((_, d), h)| {
                let t = told.iter().find(|(t, _)| t == d).map(|(_, r)| r.clone());
                (h, t)
            })
            .collect();
        (outcomes, batches)
    }

    #[test]
    fn a_batch_of_n_commits_makes_n_blobs_and_rows() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let blobs: Vec<_> = (0..24u8)
            .map(|i| content(i, 1000 + usize::from(i)))
            .collect();
        let (outcomes, batches) = hand_behind_a_held_lock(&store, &blobs, 23);
        for ((_, d), (handed, told)) in blobs.iter().zip(&outcomes) {
            assert_eq!(handed.as_ref().unwrap(), d);
            assert!(matches!(told, Some(Ok(()))), "{d}: {told:?}");
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
        let (outcomes, batches) = hand_behind_a_held_lock(&store, &blobs, 6);
        for (i, ((_, d), (handed, told))) in blobs.iter().zip(&outcomes).enumerate() {
            if i != 5 {
                assert_eq!(handed.as_ref().unwrap(), d, "blob {i}");
                assert!(matches!(told, Some(Ok(()))), "blob {i}: {told:?}");
                assert!(store.has_blob(d).unwrap(), "blob {i}");
            }
        }
        let (handed, told) = &outcomes[5];
        assert!(told.is_none(), "a refused blob never joins a batch");
        let err = handed.as_ref().unwrap_err();
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
