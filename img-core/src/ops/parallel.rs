//! Running a verb's blob transfers `jobs` at once (a pull's downloads, a push's uploads):
//! workers take the next item as one ends, and the first failure stops new work and is
//! returned once the running transfers end.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use crate::error::{Error, Result};

/// How many transfers that are mostly their round trip (a small blob, a HEAD) a verb runs
/// at once to one host: the bound for HTTP/1.1, where each holds a connection.
pub(crate) const ROUND_TRIP_JOBS: usize = 32;

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
    // No thread for no work (a re-push uploads nothing).
    if items.is_empty() {
        return Ok(Vec::new());
    }
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

/// As [`run`], with two limits: at most `jobs` items that are not `small` run at once,
/// and small ones fill the workers up to `small_jobs` in all (a small blob's transfer is
/// mostly its round trip, a large one's its bytes). Items start in order but for a large
/// one waiting for a slot, which small ones after it overtake; a worker that can take
/// nothing waits for a large item to end.
pub(crate) fn run_sized<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    small_jobs: usize,
    small: impl Fn(&T) -> bool + Sync,
    work: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let jobs = jobs.max(1);
    let any_small = items.iter().any(&small);
    let count = if any_small {
        small_jobs.max(jobs)
    } else {
        jobs
    };
    // The queue in start order, and how many large items are running.
    let state = Mutex::new((items.iter().collect::<Vec<_>>(), 0usize));
    let freed = Condvar::new();
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let done = Mutex::new(Vec::with_capacity(items.len()));
    std::thread::scope(|s| {
        for _ in 0..workers(count, items.len()) {
            s.spawn(|| {
                loop {
                    let (item, large) = {
                        let mut st = lock(&state);
                        loop {
                            if failed.load(Ordering::SeqCst) || st.0.is_empty() {
                                return;
                            }
                            let running = st.1;
                            let pick = st.0.iter().position(|i| small(i) || running < jobs);
                            match pick {
                                Some(at) => {
                                    let item = st.0.remove(at);
                                    let large = !small(item);
                                    st.1 += usize::from(large);
                                    break (item, large);
                                }
                                None => st = freed.wait(st).unwrap_or_else(PoisonError::into_inner),
                            }
                        }
                    };
                    let result = work(item);
                    if large {
                        lock(&state).1 -= 1;
                    }
                    match result {
                        Ok(r) => lock(&done).push(r),
                        Err(e) => {
                            failed.store(true, Ordering::SeqCst);
                            lock(&first_error).get_or_insert(e);
                        }
                    }
                    // A slot freed, or a failure every waiter must see.
                    freed.notify_all();
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

    #[test]
    fn large_items_keep_to_jobs_while_small_ones_fill_the_rest() {
        use std::sync::atomic::AtomicUsize;
        // Even items are large: never more than 2 of them at once, never more than 8 in
        // all, and the small ones do run 8 at once.
        let items: Vec<u32> = (0..40).collect();
        let (large_now, all_now) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let (large_max, all_max) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let got = run_sized(
            &items,
            2,
            8,
            |i| i % 2 == 1,
            |i| {
                let large = i % 2 == 0;
                if large {
                    large_max.fetch_max(
                        large_now.fetch_add(1, Ordering::SeqCst) + 1,
                        Ordering::SeqCst,
                    );
                }
                all_max.fetch_max(all_now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(20));
                all_now.fetch_sub(1, Ordering::SeqCst);
                if large {
                    large_now.fetch_sub(1, Ordering::SeqCst);
                }
                if *i == 39 {
                    return Err(Error::new(ErrorKind::Network, "cut"));
                }
                Ok(*i)
            },
        );
        assert_eq!(got.unwrap_err().kind(), ErrorKind::Network);
        assert_eq!(large_max.load(Ordering::SeqCst), 2);
        assert_eq!(all_max.load(Ordering::SeqCst), 8);
        let mut all = run_sized(&items, 2, 8, |i| i % 2 == 1, |i| Ok(*i)).unwrap();
        all.sort_unstable();
        assert_eq!(all, items);
    }
}
