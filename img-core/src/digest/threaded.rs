//! Hashing on a thread of its own: a writer of a large blob hands copies of its bytes to
//! a hashing thread, so that hashing the last chunk overlaps reading and writing the next
//! (together they cost about what the slower does). Used by the store's blob writer and by
//! a staged layer's inflated digest.

use std::io;

use super::Hasher;

/// Past this many bytes, hashing moves to a thread of its own: a large layer is then read,
/// written and hashed at once rather than one after the other.
pub(crate) const HASH_ON_A_THREAD_AFTER: u64 = 4 * 1024 * 1024;
/// Chunks in flight to the hashing thread (memory stays bounded by a few of them).
const CHUNKS_IN_FLIGHT: usize = 4;

/// Where the bytes are hashed: inline, or on a thread fed copies of them.
pub(crate) enum Hashing {
    Inline(Hasher),
    Thread {
        to: std::sync::mpsc::SyncSender<Vec<u8>>,
        back: std::sync::mpsc::Receiver<Vec<u8>>,
        in_flight: usize,
        handle: std::thread::JoinHandle<Hasher>,
    },
    Done,
}

impl Hashing {
    /// Moves the hashing to a thread of its own (a no-op once there).
    pub(crate) fn move_to_thread(&mut self) {
        if !matches!(self, Hashing::Inline(_)) {
            return;
        }
        let Hashing::Inline(mut hasher) = std::mem::replace(self, Hashing::Done) else {
            return;
        };
        let (to, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(CHUNKS_IN_FLIGHT);
        let (tx_back, back) = std::sync::mpsc::channel();
        let handle = std::thread::spawn(move || {
            for chunk in rx {
                hasher.update(&chunk);
                // The writer may be gone already; its chunks need no recycling then.
                let _ = tx_back.send(chunk);
            }
            hasher
        });
        *self = Hashing::Thread {
            to,
            back,
            in_flight: 0,
            handle,
        };
    }

    /// Hashes `data` next (a copy goes to the thread, if hashing runs on one).
    pub(crate) fn update(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Hashing::Inline(h) => {
                h.update(data);
                Ok(())
            }
            Hashing::Thread {
                to,
                back,
                in_flight,
                ..
            } => {
                // A chunk the thread is done with, else a new one while few are out.
                let mut chunk = match back.try_recv() {
                    Ok(c) => {
                        *in_flight -= 1;
                        c
                    }
                    Err(_) if *in_flight < CHUNKS_IN_FLIGHT => Vec::new(),
                    Err(_) => {
                        let c = back.recv().map_err(|_| gone())?;
                        *in_flight -= 1;
                        c
                    }
                };
                chunk.clear();
                chunk.extend_from_slice(data);
                to.send(chunk).map_err(|_| gone())?;
                *in_flight += 1;
                Ok(())
            }
            Hashing::Done => Err(gone()),
        }
    }

    /// The hasher, once every byte given is hashed.
    pub(crate) fn finish(self) -> io::Result<Hasher> {
        match self {
            Hashing::Inline(h) => Ok(h),
            Hashing::Thread { to, handle, .. } => {
                drop(to);
                handle.join().map_err(|_| gone())
            }
            Hashing::Done => Err(gone()),
        }
    }
}

fn gone() -> io::Error {
    io::Error::other("the hashing thread stopped")
}
