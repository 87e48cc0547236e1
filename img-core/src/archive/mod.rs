//! Image tar archives, as `docker save` writes and `docker load` reads them, one noun a file:
//!
//! - [`layout`] — the documents besides the blobs: `manifest.json`, `index.json`,
//!   `repositories`, `oci-layout`, and blob paths.
//! - [`writer`] — a reproducible tar stream (fixed times, owners and modes).
//! - [`safety`] — what an entry may be: names and links inside the archive, no devices.
//! - [`reader`] — reading a tar stream or an OCI layout directory into staged blobs.
//!
//! Compression (outer and per layer, with the bomb guard) is [`crate::compression`]'s,
//! below the store, which inflates legacy layers to check their DiffIDs.

pub mod layout;
pub mod reader;
pub mod safety;
pub mod writer;

pub use reader::{Contents, read_dir, read_tar};
pub use writer::ArchiveWriter;
