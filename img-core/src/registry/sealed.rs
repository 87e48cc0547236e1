//! A blob's bytes on their way up: hashed as they are read, and the last of them held back
//! until the whole blob hashed to its digest and the source ended there. A corrupt, short
//! or long blob then fails before the registry has received all of it, whatever the
//! registry itself checks: it never sees a complete body to store.
//!
//! A chunked upload's reader pads instead of failing ([`SealedReader::padding`]): a read
//! error cuts its request mid-body, and the registry then keeps what it read of that
//! chunk at an offset no state token names, an upload it refuses to cancel ("upload
//! resumed at wrong offset"). Zeros in place of the rest of the chunk end the request
//! cleanly; its answer names the upload's new state, so the upload can be cancelled.

use std::io::{self, Read};

use crate::digest::{Digest, Hasher};

/// Reads exactly `size` bytes of `inner` that must hash to `expected` (see the module).
pub(crate) struct SealedReader<R> {
    inner: R,
    expected: Digest,
    size: u64,
    read: u64,
    state: State,
    /// Zeros in place of what is left once verification failed (see the module).
    pad: bool,
}

enum State {
    Hashing(Box<Hasher>),
    /// Every byte read and verified: the reader is at its end.
    Sealed,
    /// Verification failed: every later read fails too (never an end that looks clean).
    Failed(io::ErrorKind, String),
}

impl<R: Read> SealedReader<R> {
    pub(crate) fn new(inner: R, expected: Digest, size: u64) -> Self {
        let hasher = Hasher::new(expected.algorithm());
        SealedReader {
            inner,
            expected,
            size,
            read: 0,
            state: State::Hashing(Box::new(hasher)),
            pad: false,
        }
    }

    /// A reader that, once verification failed, yields zeros to the blob's size where it
    /// would fail; the caller asks [`SealedReader::failure`] after each request it sent and
    /// never commits what such a request carried.
    pub(crate) fn padding(mut self) -> Self {
        self.pad = true;
        self
    }

    /// Why verification failed, if it did.
    pub(crate) fn failure(&self) -> Option<io::Error> {
        match &self.state {
            State::Failed(kind, message) => Some(io::Error::new(*kind, message.clone())),
            _ => None,
        }
    }

    /// What a read gives once verification failed: zeros to the blob's size when
    /// padding, else the failure again.
    fn after_failure(&mut self, buf: &mut [u8], e: io::Error) -> io::Result<usize> {
        if !self.pad {
            return Err(e);
        }
        let n = buf
            .len()
            .min(usize::try_from(self.size - self.read).unwrap_or(usize::MAX));
        buf[..n].fill(0);
        self.read += n as u64;
        Ok(n)
    }

    /// Checks that the source ends after the last byte and that it all hashed to the
    /// digest; on failure the reader stays failed.
    fn seal(&mut self) -> io::Result<()> {
        let State::Hashing(hasher) = std::mem::replace(&mut self.state, State::Sealed) else {
            return Ok(());
        };
        let verdict = self.check_end().and_then(|()| {
            let got = (*hasher).finish();
            if got == self.expected {
                Ok(())
            } else {
                Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "digest mismatch: expected {}, content hashes to {got}",
                        self.expected
                    ),
                ))
            }
        });
        if let Err(e) = &verdict {
            self.state = State::Failed(e.kind(), e.to_string());
        }
        verdict
    }

    /// The source must have nothing after the blob's last byte.
    fn check_end(&mut self) -> io::Result<()> {
        let mut probe = [0u8; 1];
        loop {
            match self.inner.read(&mut probe) {
                Ok(0) => return Ok(()),
                Ok(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "content of {} is larger than its {} bytes",
                            self.expected, self.size
                        ),
                    ));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn fail(&mut self, e: io::Error) -> io::Error {
        self.state = State::Failed(e.kind(), e.to_string());
        e
    }
}

impl<R: Read> Read for SealedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &self.state {
            State::Sealed => return Ok(0),
            State::Failed(kind, message) => {
                let e = io::Error::new(*kind, message.clone());
                return self.after_failure(buf, e);
            }
            State::Hashing(_) => {}
        }
        let remaining = self.size - self.read;
        if remaining == 0 {
            // An empty blob: nothing to hold back, the end is checked now.
            return match self.seal() {
                Ok(()) => Ok(0),
                Err(e) => self.after_failure(buf, e),
            };
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(remaining).unwrap_or(usize::MAX));
        let n = match self.inner.read(&mut buf[..want]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            Err(e) => {
                let e = self.fail(e);
                return self.after_failure(buf, e);
            }
        };
        if n == 0 {
            let e = io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "content of {} ended after {} of {} bytes",
                    self.expected, self.read, self.size
                ),
            );
            let e = self.fail(e);
            return self.after_failure(buf, e);
        }
        if let State::Hashing(h) = &mut self.state {
            h.update(&buf[..n]);
        }
        self.read += n as u64;
        if self.read == self.size {
            // The last bytes are in `buf`, but the caller gets them only if the blob is
            // sound: an error here means they are never sent.
            if let Err(e) = self.seal() {
                self.read -= n as u64;
                return self.after_failure(&mut buf[..n], e);
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `r` in reads of at most `step` bytes: what each read gave, or the error.
    fn reads(mut r: impl Read, step: usize) -> (Vec<u8>, Option<io::Error>) {
        let mut out = Vec::new();
        let mut buf = vec![0u8; step];
        loop {
            match r.read(&mut buf) {
                Ok(0) => return (out, None),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    #[test]
    fn a_sound_blob_reads_whole_then_ends() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let d = Digest::sha256_of(&data);
        for step in [1, 7, 4096, 10_000, 1 << 20] {
            let (got, e) = reads(SealedReader::new(&data[..], d.clone(), 10_000), step);
            assert!(e.is_none(), "step {step}: {e:?}");
            assert_eq!(got, data, "step {step}");
        }
        let empty = Digest::sha256_of(b"");
        let (got, e) = reads(SealedReader::new(&b""[..], empty, 0), 16);
        assert!(got.is_empty() && e.is_none(), "{e:?}");
    }

    #[test]
    fn a_corrupt_blob_never_yields_its_last_bytes() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let d = Digest::sha256_of(&data);
        for at in [0, 5_000, 9_999] {
            let mut wrong = data.clone();
            wrong[at] ^= 0xff;
            for step in [1, 4096, 1 << 20] {
                let mut r = SealedReader::new(&wrong[..], d.clone(), 10_000);
                let mut buf = vec![0u8; step];
                let mut given = 0;
                let e = loop {
                    match r.read(&mut buf) {
                        Ok(0) => panic!("byte {at}, step {step}: a corrupt blob ended cleanly"),
                        Ok(n) => given += n,
                        Err(e) => break e,
                    }
                };
                assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
                assert!(e.to_string().contains("content hashes to"), "{e}");
                // Whatever the read size, the read that would have completed the blob
                // failed instead: fewer bytes than the blob were ever handed out.
                assert!(given < data.len(), "byte {at}, step {step}: {given}");
                assert_eq!(given, (data.len() - 1) / step * step, "step {step}");
                // And it stays failed.
                assert!(r.read(&mut buf).is_err());
            }
        }
    }

    #[test]
    fn a_short_or_long_source_fails_before_its_last_bytes() {
        let data = b"hello world";
        let d = Digest::sha256_of(data);
        let (got, e) = reads(SealedReader::new(&data[..5], d.clone(), 11), 4);
        assert_eq!(e.unwrap().kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(got, b"hello");
        let (got, e) = reads(SealedReader::new(&b"hello world!"[..], d, 11), 64);
        let e = e.unwrap();
        assert!(e.to_string().contains("larger than"), "{e}");
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn a_padding_reader_ends_a_corrupt_blob_in_zeros_and_keeps_the_failure() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let d = Digest::sha256_of(&data);
        let mut wrong = data.clone();
        wrong[9_999] ^= 0xff;
        for step in [1, 4096, 1 << 20] {
            let mut r = SealedReader::new(&wrong[..], d.clone(), 10_000).padding();
            let mut got = Vec::new();
            let mut buf = vec![0u8; step];
            loop {
                match r.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) => panic!("step {step}: a padding reader failed a read: {e}"),
                }
            }
            // Exactly the blob's size, its last read zeros, never the corrupt bytes.
            assert_eq!(got.len(), data.len(), "step {step}");
            let tail = (data.len() - 1) / step * step;
            assert_eq!(got[..tail], wrong[..tail], "step {step}");
            assert!(got[tail..].iter().all(|&b| b == 0), "step {step}");
            let e = r.failure().expect("the failure is kept");
            assert!(e.to_string().contains("content hashes to"), "{e}");
        }
        // A short source: zeros for what it lacks.
        let mut r = SealedReader::new(&data[..5], d.clone(), 10_000).padding();
        let (got, e) = reads(&mut r, 4096);
        assert!(e.is_none(), "{e:?}");
        assert_eq!(got.len(), 10_000);
        assert_eq!(r.failure().unwrap().kind(), io::ErrorKind::UnexpectedEof);
        // A sound blob reads as without padding and has no failure.
        let mut r = SealedReader::new(&data[..], d, 10_000).padding();
        let (got, e) = reads(&mut r, 4096);
        assert!(e.is_none() && got == data && r.failure().is_none());
    }
}
