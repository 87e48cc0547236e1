//! img-core: everything the img tools share.
//!
//! A map of the crate, from the bottom up:
//!
//! - [`error`] — `Error { kind, context }`, the kinds callers branch on, exit codes.
//! - [`digest`] — strictly parsed digests, hashing, verifying readers and writers, and the
//!   hashing thread large blobs are hashed on (`digest/threaded.rs`).
//! - [`reference`](mod@reference) — the distribution reference grammar and docker's normalisation.
//! - [`oci`] — media types, descriptors, manifests, indexes and image configs.
//! - [`compression`] — gzip, zstd, xz and bzip2 streams told by magic or media type, under
//!   one decompression-bomb guard.
//! - [`store`] — the content-addressed blob directory: one blob writer for every blob
//!   (`store/writer.rs`: hashed, size-capped, flushed behind; a pull's resumable partial
//!   from `ingest.rs`, a load's session partial from `import.rs`), commit (`commit.rs`:
//!   `publish`, `blob_intact`), locks, leases, GC, and `Store::check` (the fsck the tests
//!   and the stress run share).
//! - [`index`] — the SQLite index of images, tags and blobs (the only module speaking SQL),
//!   and the one builder of familiar names (`index/names.rs`: `ImageInfo::familiar_tags`,
//!   `familiar_digests`) every record that shows a name uses.
//! - [`registry`] — the registry client (the only module speaking HTTP): fetch and push.
//! - [`archive`] — image tar archives: reading, writing, entry safety.
//! - [`record`] — the JSON records the tools print (`ImageRecord::of`, the one image
//!   record of pull, tag, push and load), and the one reader of records on stdin.
//! - [`template`] — Go's text/template, as docker's `--format` uses it.
//! - [`output`] — `--format table|json|TEMPLATE`: aligned tables, JSON Lines, templates.
//! - [`quote`] — outside text made safe for a terminal (Go's `%q`), and excerpts of it.
//! - [`notice`] — what a command says on stderr while it works, past any display.
//! - [`settings`] — where the store and the config file live, and what the config says.
//! - [`ops`] — one file a verb: what each tool does, as a function and an options struct.
//!   No verb imports another: what they share is below them (`ops/resolve.rs`,
//!   `ops/filters.rs`, `ops/parallel.rs`, `ops/progress.rs` with the pull, load and save
//!   displays); load's planner is `ops/pack/load_plan.rs`. xtask's tidy test checks it.
//! - [`cli`] — the shared `main`: argument splitting, error printing, exit codes.
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod archive;
pub mod cli;
pub mod compression;
pub mod digest;
pub mod error;
pub mod index;
pub mod notice;
pub mod oci;
pub mod ops;
pub mod output;
#[cfg(test)]
mod proptest_config;
pub mod quote;
pub mod record;
pub mod reference;
pub mod registry;
pub mod settings;
pub mod store;
pub mod template;
#[cfg(feature = "testing")]
pub mod testing;

pub use digest::Digest;
pub use error::{Answer, Error, ErrorKind, Result, ResultExt};
pub use reference::Reference;
pub use store::Store;
