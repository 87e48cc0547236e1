//! Running a verb's blob transfers `jobs` at once (a pull's downloads, a push's uploads):
//! workers take the next item as one ends, and the first failure stops new work and is
//! returned once the running transfers end.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::error::{Error, Result};

/// How many workers `jobs` gives for `items` transfers: at least one, never more than
/// there is work for.
pub(crate) fn workers(jobs: usize, items: usize) -> usize {
    jobs.max(1).min(items.max(1))
}

/// Runs `work` on every item, [`workers`]`(jobs, items.len())` at once, starting them in
/// order. Returns what each finished item gave (in the order they finished), or the first
/// error: no item is started after it.
pub(crate) fn run<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    work: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    // Popped from the end: reversed so the first item starts first.
    let queue = Mutex::new(items.iter().rev().collect::<Vec<_>>());
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let done = Mutex::new(Vec::with_capacity(items.len()));
    std::thread::scope(|s| {
        for _ in 0..workers(jobs, items.len()) {
            s.spawn(|| {
                loop {
                    if failed.load(Ordering::SeqCst) {
                        return;
                    }
                    let next = lock(&queue).pop();
                    let Some(item) = next else { return };
                    match work(item) {
                        Ok(r) => lock(&done).push(r),
                        Err(e) => {
                            failed.store(true, Ordering::SeqCst);
                            lock(&first_error).get_or_insert(e);
                            return;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = first_error
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
    {
        return Err(e);
    }
    Ok(done.into_inner().unwrap_or_else(PoisonError::into_inner))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A worker that panicked leaves nothing half-written in these (a pop, a push).
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn every_item_runs_and_the_first_error_stops_new_work() {
        let items: Vec<u32> = (1..=20).collect();
        let mut got = run(&items, 4, |i| Ok(i * 2)).unwrap();
        got.sort_unstable();
        assert_eq!(got, (1..=20).map(|i| i * 2).collect::<Vec<_>>());
        // One worker: items start in order, and nothing after the failing one starts.
        let started = Mutex::new(Vec::new());
        let err = run(&items, 1, |i| {
            lock(&started).push(*i);
            if *i == 3 {
                Err(Error::new(ErrorKind::Network, "cut"))
            } else {
                Ok(())
            }
        })
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Network);
        assert_eq!(*lock(&started), [1, 2, 3]);
        assert_eq!(workers(6, 0), 1);
        assert_eq!(workers(0, 5), 1);
    }
}
