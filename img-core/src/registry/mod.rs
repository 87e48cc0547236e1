//! The registry client, the only module that speaks HTTP: one [`RegistryClient`] per
//! registry host over one `ureq::Agent`, fetching (manifests, blobs, tags, catalog) and
//! pushing (blobs with mounts and chunked uploads, manifests).
//!
//! Repositories are path strings (`library/alpine`); tags and digests are checked before
//! they reach a URL, and so is every digest the registry sends us. Errors carry the kinds
//! callers branch on (`NotFound`, `Unauthorized`, `Denied`, `Network`, `Tls`, `Registry`)
//! and read like `fetching manifest "library/alpine:3.20" from 127.0.0.1:5000: manifest
//! unknown`. No error or log ever holds an Authorization value or a password.
//!
//! Redirects are followed here, not by ureq (the `transport` module): credentials and
//! tokens go only to the exact origin they belong to. A server that stops sending is
//! given up on (the `stall` module): 30 s a read, two minutes a host, settable with
//! `IMG_STALL_TIMEOUT` and `IMG_STALL_BUDGET`.
//!
//! Imports run one way, from the top down: `client` (auth state, retries) → `token` (the
//! bearer dance) → `transport` (one exchange, redirects) → `http` (the shared vocabulary:
//! `Request`, `Body`, `Response`, `header`, `expect`).
//!
//! ```no_run
//! use img_core::registry::{ClientOptions, RegistryClient};
//! # fn main() -> img_core::Result<()> {
//! let client = RegistryClient::new("127.0.0.1:5000", ClientOptions::for_host("127.0.0.1:5000"))?;
//! let (bytes, media_type, digest) = client.get_manifest("library/alpine", "3.20")?;
//! # Ok(()) }
//! ```

mod auth;
mod catalog;
mod client;
pub mod credential_store;
pub mod credentials;
mod endpoint;
mod error;
mod fetch;
mod http;
mod list;
mod options;
mod paths;
mod push;
mod retry;
mod sealed;
mod search;
mod stall;
mod token;
mod transport;

pub use auth::{Challenge, Scope};
pub use client::RegistryClient;
pub use credentials::Credentials;
pub use endpoint::{DOCKER_HUB_HOST, Endpoint, Security, endpoints, options_for};
pub use error::{RegistryErrorEntry, parse_envelope};
pub use fetch::{BlobResponse, FetchedManifest, ManifestHead};
pub use list::next_link;
pub use options::{ClientCertPem, ClientOptions, SchemePolicy, is_loopback_host};
pub use paths::{ManifestRef, check_repository};
pub use push::{BlobPush, needs_new_session};
pub use retry::backoff;
pub use search::{MAX_SEARCH_ANSWER, SearchAnswer, SearchResult};
pub use stall::{STALL_BUDGET_ENV, STALL_TIMEOUT_ENV};
