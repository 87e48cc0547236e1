//! Content digests (`sha256:<64 hex>`): strict parsing, hashing, and a verifying reader
//! that caps content at its expected size and checks the digest at EOF.
//!
//! A [`Digest`] can only be built by [`Digest::parse`] or by hashing, so any `Digest` is
//! safe to put in a file path or a URL: the algorithm is known and the hex is exactly the
//! right length, lowercase, with nothing else in it.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use sha2::{Digest as _, Sha256, Sha512};

use crate::error::{Error, ErrorKind, Result};

mod threaded;

pub(crate) use threaded::{HASH_ON_A_THREAD_AFTER, Hashing};

/// A digest algorithm we accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// SHA-256, the algorithm of every registry in use.
    Sha256,
    /// SHA-512, allowed by the OCI spec.
    Sha512,
}

impl Algorithm {
    /// The name used in digest strings and blob paths.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// Length of the hex encoding.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// A parsed, validated content digest.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    /// Parses `algorithm:hex` strictly: a known algorithm and exactly its number of
    /// lowercase hex digits.
    pub fn parse(s: &str) -> Result<Digest> {
        let invalid = |why: &str| {
            Error::new(
                ErrorKind::InvalidDigest,
                format!("invalid digest {:?}: {why}", truncate_for_display(s)),
            )
        };
        let (alg, hex) = s
            .split_once(':')
            .ok_or_else(|| invalid("expected algorithm:hex, such as sha256:…"))?;
        let algorithm = match alg {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            "" => return Err(invalid("missing algorithm")),
            other => {
                return Err(Error::new(
                    ErrorKind::InvalidDigest,
                    format!(
                        "invalid digest {:?}: unsupported algorithm {:?} (sha256 and sha512 are)",
                        truncate_for_display(s),
                        truncate_for_display(other)
                    ),
                ));
            }
        };
        if hex.len() != algorithm.hex_len() {
            return Err(invalid(&format!(
                "{} needs {} hex digits, found {}",
                algorithm.as_str(),
                algorithm.hex_len(),
                hex.len()
            )));
        }
        if let Some(pos) = hex
            .bytes()
            .position(|b| !matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(invalid(&format!(
                "character {} of the hex is not lowercase hex",
                pos + 1
            )));
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_owned(),
        })
    }

    /// The SHA-256 digest of `data`.
    pub fn sha256_of(data: &[u8]) -> Digest {
        let mut h = Hasher::new(Algorithm::Sha256);
        h.update(data);
        h.finish()
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The hex part, validated: safe as a file name.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// The first 12 hex digits, as docker shows image IDs.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }

    /// Checks that `data` hashes to this digest.
    pub fn verify(&self, data: &[u8]) -> Result<()> {
        let mut h = Hasher::new(self.algorithm);
        h.update(data);
        let got = h.finish();
        if &got == self {
            Ok(())
        } else {
            Err(mismatch(self, &got))
        }
    }
}

fn mismatch(expected: &Digest, got: &Digest) -> Error {
    Error::new(
        ErrorKind::DigestMismatch,
        format!("digest mismatch: expected {expected}, content hashes to {got}"),
    )
}

fn truncate_for_display(s: &str) -> String {
    if s.chars().count() > 80 {
        let mut t: String = s.chars().take(77).collect();
        t.push('…');
        t
    } else {
        s.to_owned()
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl FromStr for Digest {
    type Err = Error;
    fn from_str(s: &str) -> Result<Digest> {
        Digest::parse(s)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Digest, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An incremental hasher for either algorithm.
#[derive(Clone)]
pub enum Hasher {
    /// SHA-256 state.
    Sha256(Sha256),
    /// SHA-512 state.
    Sha512(Sha512),
}

impl Hasher {
    /// A fresh hasher.
    pub fn new(algorithm: Algorithm) -> Hasher {
        match algorithm {
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    /// The algorithm it hashes with.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Hasher::Sha256(_) => Algorithm::Sha256,
            Hasher::Sha512(_) => Algorithm::Sha512,
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Digest {
        let (algorithm, bytes) = match self {
            Hasher::Sha256(h) => (Algorithm::Sha256, h.finalize().to_vec()),
            Hasher::Sha512(h) => (Algorithm::Sha512, h.finalize().to_vec()),
        };
        Digest {
            algorithm,
            hex: to_hex(&bytes),
        }
    }
}

impl Hasher {
    /// The digest of everything `reader` yields, read in 1 MiB pieces (layers are large).
    pub fn digest_reader(algorithm: Algorithm, mut reader: impl Read) -> std::io::Result<Digest> {
        let mut hasher = Hasher::new(algorithm);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => return Ok(hasher.finish()),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            hasher.update(&buf[..n]);
        }
    }
}

/// Hashes and counts what is read through it, whatever it is (for a check that reads a
/// blob once and wants both its digest and its size; [`VerifyingReader`] when the
/// expected digest is known up front).
pub struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
    count: u64,
}

impl<R> HashingReader<R> {
    /// Reads through `inner` into `hasher`.
    pub fn new(inner: R, hasher: Hasher) -> Self {
        HashingReader {
            inner,
            hasher,
            count: 0,
        }
    }

    /// The bytes read so far and their digest.
    pub fn finish(self) -> (u64, Digest) {
        (self.count, self.hasher.finish())
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// A sink that hashes what is written to it (`io::copy` of a stream into a digest).
pub struct HashingWriter(Hasher);

impl HashingWriter {
    /// Writes into `hasher`.
    pub fn new(hasher: Hasher) -> Self {
        HashingWriter(hasher)
    }

    /// The digest of everything written.
    pub fn finish(self) -> Digest {
        self.0.finish()
    }
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// Reads through `inner`, hashing as it goes; never yields more than `expected_size`
/// bytes, and at EOF fails unless exactly that many bytes hashed to `expected`.
///
/// A caller that reads to EOF without error has read exactly the announced content.
pub struct VerifyingReader<R> {
    inner: R,
    expected: Digest,
    expected_size: Option<u64>,
    hasher: Option<Hasher>,
    read: u64,
}

impl<R: Read> VerifyingReader<R> {
    /// Wraps `inner`; `expected_size` of `None` means "any size" (a manifest fetched by
    /// digest whose size we do not know yet).
    pub fn new(inner: R, expected: Digest, expected_size: Option<u64>) -> Self {
        let hasher = Some(Hasher::new(expected.algorithm()));
        VerifyingReader {
            inner,
            expected,
            expected_size,
            hasher,
            read: 0,
        }
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// Continues a verification whose first bytes were hashed elsewhere (a resumed
    /// download): `hasher` has seen `already` bytes.
    pub fn resume(
        inner: R,
        expected: Digest,
        expected_size: Option<u64>,
        hasher: Hasher,
        already: u64,
    ) -> Self {
        VerifyingReader {
            inner,
            expected,
            expected_size,
            hasher: Some(hasher),
            read: already,
        }
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(hasher) = self.hasher.as_mut() else {
            return Ok(0);
        };
        // Ask for one byte more than remains, so an over-long body is noticed.
        let limit = match self.expected_size {
            Some(size) => {
                let remaining = size.saturating_sub(self.read);
                buf.len()
                    .min(usize::try_from(remaining.saturating_add(1)).unwrap_or(usize::MAX))
            }
            None => buf.len(),
        };
        let n = self.inner.read(&mut buf[..limit])?;
        if n == 0 {
            if let Some(size) = self.expected_size
                && self.read != size
            {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "content of {} ended after {} of {size} bytes",
                        self.expected, self.read
                    ),
                ));
            }
            let got = self.hasher.take().map(Hasher::finish);
            if got.as_ref() != Some(&self.expected) {
                let got = got.map(|d| d.to_string()).unwrap_or_default();
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "digest mismatch: expected {}, content hashes to {got}",
                        self.expected
                    ),
                ));
            }
            return Ok(0);
        }
        self.read += n as u64;
        if let Some(size) = self.expected_size
            && self.read > size
        {
            self.hasher = None;
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "content of {} is larger than its {size} bytes",
                    self.expected
                ),
            ));
        }
        hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Writes through to `inner` while hashing; [`VerifyingWriter::finish`] checks the size
/// and digest. Writing past the expected size fails at once.
pub struct VerifyingWriter<W> {
    inner: W,
    expected: Digest,
    expected_size: Option<u64>,
    hasher: Hasher,
    written: u64,
}

impl<W: Write> VerifyingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W, expected: Digest, expected_size: Option<u64>) -> Self {
        let hasher = Hasher::new(expected.algorithm());
        VerifyingWriter {
            inner,
            expected,
            expected_size,
            hasher,
            written: 0,
        }
    }

    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Checks size and digest and gives back the inner writer.
    pub fn finish(self) -> Result<W> {
        if let Some(size) = self.expected_size
            && self.written != size
        {
            return Err(Error::new(
                ErrorKind::DigestMismatch,
                format!(
                    "size mismatch for {}: expected {size} bytes, got {}",
                    self.expected, self.written
                ),
            ));
        }
        let got = self.hasher.finish();
        if got != self.expected {
            return Err(mismatch(&self.expected, &got));
        }
        Ok(self.inner)
    }
}

impl<W: Write> Write for VerifyingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(size) = self.expected_size
            && self.written + buf.len() as u64 > size
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "content of {} is larger than its {size} bytes",
                    self.expected
                ),
            ));
        }
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_valid_digests() {
        let d = Digest::parse(EMPTY).unwrap();
        assert_eq!(d.algorithm(), Algorithm::Sha256);
        assert_eq!(d.to_string(), EMPTY);
        assert_eq!(d, Digest::sha256_of(b""));
        let long = format!("sha512:{}", "a".repeat(128));
        assert!(Digest::parse(&long).is_ok());
    }

    #[test]
    fn rejects_malformed_digests() {
        for (input, why) in [
            ("", "expected algorithm:hex"),
            ("sha256", "expected algorithm:hex"),
            (":abc", "missing algorithm"),
            (
                "md5:d41d8cd98f00b204e9800998ecf8427e",
                "unsupported algorithm",
            ),
            ("sha256:abc", "needs 64 hex digits, found 3"),
            (
                &EMPTY.to_uppercase().replace("SHA256", "sha256"),
                "not lowercase hex",
            ),
            (
                &format!("sha256:{}", "../".repeat(21) + "a"),
                "not lowercase hex",
            ),
            (&format!("sha256:{}/", &EMPTY[7..70]), "not lowercase hex"),
            (
                &format!("sha512:{}", "a".repeat(64)),
                "needs 128 hex digits",
            ),
        ] {
            let err = Digest::parse(input).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidDigest, "{input}");
            assert!(err.to_string().contains(why), "{input}: {err}");
        }
    }

    #[test]
    fn verifying_reader_accepts_exact_content() {
        let data = b"hello world".to_vec();
        let d = Digest::sha256_of(&data);
        let mut r = VerifyingReader::new(&data[..], d, Some(data.len() as u64));
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn verifying_reader_fails_on_mismatch_short_and_long() {
        let data = b"hello world".to_vec();
        let d = Digest::sha256_of(&data);
        let mut out = Vec::new();
        let err = VerifyingReader::new(&b"hello worle"[..], d.clone(), Some(11))
            .read_to_end(&mut out)
            .unwrap_err();
        assert!(err.to_string().contains("digest mismatch"), "{err}");
        let err = VerifyingReader::new(&b"hello"[..], d.clone(), Some(11))
            .read_to_end(&mut out)
            .unwrap_err();
        assert!(err.to_string().contains("ended after 5 of 11"), "{err}");
        let err = VerifyingReader::new(&b"hello world!!"[..], d, Some(11))
            .read_to_end(&mut out)
            .unwrap_err();
        assert!(err.to_string().contains("larger than"), "{err}");
    }

    #[test]
    fn verifying_writer_checks_at_finish() {
        let d = Digest::sha256_of(b"abc");
        let mut w = VerifyingWriter::new(Vec::new(), d.clone(), Some(3));
        w.write_all(b"abc").unwrap();
        assert_eq!(w.finish().unwrap(), b"abc");
        let mut w = VerifyingWriter::new(Vec::new(), d.clone(), Some(3));
        w.write_all(b"abd").unwrap();
        assert_eq!(w.finish().unwrap_err().kind(), ErrorKind::DigestMismatch);
        let mut w = VerifyingWriter::new(Vec::new(), d, Some(3));
        assert!(w.write_all(b"abcd").is_err());
    }
}
