//! The tar writer of `img-pack save`: reproducible entries (fixed time, owner and modes,
//! in the order the caller gives, which it sorts) streamed straight to the output, file
//! data copied from the store without a buffer of our own (the kernel's copy where it can).

use std::io::{self, Read, Write};

use crate::error::{Error, ErrorKind, Result};

/// The modification time of every entry: the epoch, so that the same images always give
/// the same bytes.
pub const MTIME: u64 = 0;

const BLOCK: u64 = 512;

/// A tar stream being written.
pub struct ArchiveWriter<W: Write> {
    out: W,
    written: u64,
}

impl<W: Write> ArchiveWriter<W> {
    /// A writer of a tar stream into `out`.
    pub fn new(out: W) -> ArchiveWriter<W> {
        ArchiveWriter { out, written: 0 }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// A directory entry (`blobs/`), mode 0755.
    pub fn dir(&mut self, name: &str) -> Result<()> {
        let header = header(name, tar::EntryType::Directory, 0o755, 0)?;
        self.raw(header.as_bytes())
    }

    /// A file entry holding `bytes`, mode 0644.
    pub fn bytes(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        self.file(name, bytes.len() as u64, bytes)
    }

    /// A file entry of exactly `size` bytes read from `data`: fewer or more is an error
    /// (the file changed under us), and the stream is then unusable.
    pub fn file<R: Read>(&mut self, name: &str, size: u64, data: R) -> Result<()> {
        let header = header(name, tar::EntryType::Regular, 0o644, size)?;
        self.raw(header.as_bytes())?;
        let copied = copy_exact(data, &mut self.out, size)
            .map_err(|e| Error::io(e, format!("writing entry {name:?}")))?;
        if copied != size {
            return Err(Error::new(
                ErrorKind::Corrupt,
                format!("entry {name:?}: its source holds {copied} bytes, not {size}"),
            ));
        }
        self.written += size;
        self.pad(size)
    }

    /// Ends the archive with its two zero blocks and flushes; returns the output.
    pub fn finish(mut self) -> Result<W> {
        self.raw(&[0; 1024])?;
        self.out
            .flush()
            .map_err(|e| Error::io(e, "writing the archive"))?;
        Ok(self.out)
    }

    fn pad(&mut self, size: u64) -> Result<()> {
        let rem = size % BLOCK;
        if rem == 0 {
            return Ok(());
        }
        let zeros = [0u8; BLOCK as usize];
        self.raw(&zeros[..(BLOCK - rem) as usize])
    }

    fn raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.out
            .write_all(bytes)
            .map_err(|e| Error::io(e, "writing the archive"))?;
        self.written += bytes.len() as u64;
        Ok(())
    }
}

/// Copies at most `size` bytes and one more (to notice a source longer than announced).
/// Generic, not `dyn`: std copies file to file or pipe in the kernel only when it sees
/// the concrete types.
fn copy_exact<R: Read, W: Write>(data: R, out: &mut W, size: u64) -> io::Result<u64> {
    let mut limited = data.take(size);
    let copied = io::copy(&mut limited, out)?;
    if copied == size {
        let mut probe = [0u8; 1];
        let mut data = limited.into_inner();
        if data.read(&mut probe)? > 0 {
            return Ok(size + 1);
        }
    }
    Ok(copied)
}

fn header(name: &str, kind: tar::EntryType, mode: u32, size: u64) -> Result<tar::Header> {
    let mut h = tar::Header::new_ustar();
    h.set_path(name)
        .map_err(|e| Error::new(ErrorKind::InvalidDocument, format!("entry {name:?}: {e}")))?;
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(MTIME);
    h.set_size(size);
    h.set_cksum();
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_back_with_fixed_metadata() {
        let mut w = ArchiveWriter::new(Vec::new());
        w.dir("blobs/").unwrap();
        w.bytes("index.json", b"{}").unwrap();
        w.file("big", 600, &[7u8; 600][..]).unwrap();
        let out = w.finish().unwrap();
        assert_eq!(out.len() % 512, 0);
        let mut a = tar::Archive::new(&out[..]);
        let got: Vec<(String, u64, u32, u64)> = a
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    e.size(),
                    h.mode().unwrap(),
                    h.mtime().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("blobs/".to_owned(), 0, 0o755, 0),
                ("index.json".to_owned(), 2, 0o644, 0),
                ("big".to_owned(), 600, 0o644, 0),
            ]
        );
    }

    #[test]
    fn a_source_of_the_wrong_size_is_an_error() {
        let mut w = ArchiveWriter::new(Vec::new());
        let err = w.file("x", 10, &[1u8; 5][..]).unwrap_err();
        assert!(err.to_string().contains("holds 5 bytes, not 10"), "{err}");
        let mut w = ArchiveWriter::new(Vec::new());
        let err = w.file("x", 10, &[1u8; 11][..]).unwrap_err();
        assert!(err.to_string().contains("not 10"), "{err}");
    }
}
