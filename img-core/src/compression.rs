//! Decompression for everyone below the verbs: an archive's outer compression told by its
//! magic bytes as docker load does (gzip, zstd, xz, bzip2, or none), a layer inflated as
//! its media type declares ([`decompress_layer`]), and one guard against decompression
//! bombs on both: past [`BOMB_FLOOR`] inflated bytes, a stream that inflates more than
//! [`BOMB_RATIO`] times is cut off before it can fill the disk or spin for hours.

use std::cell::Cell;
use std::io::{self, BufRead, Read};
use std::rc::Rc;

use crate::error::{Error, Result};
use crate::oci::media_type::Compression;

/// Inflated bytes below which any ratio is fine.
pub const BOMB_FLOOR: u64 = 1 << 30;
/// Largest ratio of inflated to compressed bytes accepted past the floor. Real archives
/// (tar layers of files) stay far below it; a bomb (kilobytes to gigabytes) far above.
pub const BOMB_RATIO: u64 = 256;

/// An archive's outer compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outer {
    /// A plain tar stream.
    None,
    /// gzip (one or several members).
    Gzip,
    /// zstd.
    Zstd,
    /// xz.
    Xz,
    /// bzip2.
    Bzip2,
}

/// The compression `prefix` (the stream's first bytes) announces.
pub fn sniff(prefix: &[u8]) -> Outer {
    if prefix.starts_with(&[0x1f, 0x8b]) {
        Outer::Gzip
    } else if prefix.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Outer::Zstd
    } else if prefix.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Outer::Xz
    } else if prefix.starts_with(b"BZh") {
        Outer::Bzip2
    } else {
        Outer::None
    }
}

/// The decompressed stream of `input`, with its compression.
pub fn decompress<'a, R: BufRead + 'a>(mut input: R) -> Result<(Box<dyn Read + 'a>, Outer)> {
    let prefix = input
        .fill_buf()
        .map_err(|e| Error::io(e, "reading the archive"))?;
    let outer = sniff(prefix);
    Ok((inflate(input, outer)?, outer))
}

/// A layer's content (its tar stream, which its DiffID names) from its stored bytes,
/// inflated as its media type declares, under the bomb guard. Bytes after a compressed
/// stream's end are left unread in `input`.
pub fn decompress_layer<'a, R: BufRead + 'a>(
    input: R,
    compression: Compression,
) -> Result<Box<dyn Read + 'a>> {
    let outer = match compression {
        Compression::None => Outer::None,
        Compression::Gzip => Outer::Gzip,
        Compression::Zstd => Outer::Zstd,
    };
    inflate(input, outer)
}

fn inflate<'a, R: BufRead + 'a>(input: R, outer: Outer) -> Result<Box<dyn Read + 'a>> {
    if outer == Outer::None {
        return Ok(Box::new(input));
    }
    let consumed = Rc::new(Cell::new(0u64));
    let counted = Counting {
        inner: input,
        count: consumed.clone(),
    };
    let inflated: Box<dyn Read + 'a> = match outer {
        Outer::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(counted)),
        Outer::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(counted)
                .map_err(|e| Error::io(e, "starting zstd"))?,
        ),
        Outer::Xz => Box::new(xz2::bufread::XzDecoder::new_multi_decoder(counted)),
        Outer::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(counted)),
        Outer::None => Box::new(counted),
    };
    Ok(Box::new(BombGuard {
        inner: inflated,
        consumed,
        produced: 0,
    }))
}

/// Counts the compressed bytes the decoder consumes.
struct Counting<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: BufRead> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counting<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.count.set(self.count.get() + amt as u64);
        self.inner.consume(amt);
    }
}

/// Fails the stream once it inflates beyond the allowed ratio.
struct BombGuard<'a> {
    inner: Box<dyn Read + 'a>,
    consumed: Rc<Cell<u64>>,
    produced: u64,
}

impl Read for BombGuard<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.produced += n as u64;
        let consumed = self.consumed.get().max(1);
        if self.produced > BOMB_FLOOR && self.produced / consumed > BOMB_RATIO {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} compressed bytes inflated to more than {}: refusing what looks like a decompression bomb",
                    consumed, self.produced
                ),
            ));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn round_trip(compressed: Vec<u8>, want: Outer) {
        let (mut r, outer) = decompress(&compressed[..]).unwrap();
        assert_eq!(outer, want);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"hello tar");
    }

    #[test]
    fn every_outer_compression_is_told_by_its_magic() {
        let data = b"hello tar";
        round_trip(data.to_vec(), Outer::None);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(data).unwrap();
        round_trip(gz.finish().unwrap(), Outer::Gzip);
        round_trip(zstd::encode_all(&data[..], 3).unwrap(), Outer::Zstd);
        let mut xz = xz2::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(data).unwrap();
        round_trip(xz.finish().unwrap(), Outer::Xz);
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(data).unwrap();
        round_trip(bz.finish().unwrap(), Outer::Bzip2);
    }
}
