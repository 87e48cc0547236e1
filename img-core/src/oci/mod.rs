//! The image model: media types, descriptors, manifests, indexes and image configs of
//! both the OCI image spec and Docker's schema 2, one spec document a file.
//!
//! Stored documents keep their exact bytes (their digest must not change): these types
//! are for reading and for generating new documents, never for re-serialising a document
//! someone else wrote. Unknown fields are kept in `extra` so that nothing is lost when a
//! document we generate from one of them is written back.

mod config;
mod descriptor;
mod index;
mod manifest;
pub mod media_type;
mod platform;

pub use config::{History, ImageConfig, RootFs, RunConfig};
pub use descriptor::Descriptor;
pub use index::Index;
pub use manifest::Manifest;
pub use platform::Platform;

use crate::error::{Error, ErrorKind, Result};

/// Largest manifest or index we accept, as containerd and docker do (4 MiB).
pub const MAX_MANIFEST_SIZE: u64 = 4 * 1024 * 1024;

/// A manifest-like document: either one image's manifest or an index of them.
#[derive(Debug, Clone, PartialEq)]
pub enum Document {
    /// OCI image manifest or Docker schema 2 manifest.
    Manifest(Box<Manifest>),
    /// OCI image index or Docker manifest list.
    Index(Index),
}

impl Document {
    /// Parses `bytes` as the document `media_type` names; when the media type is missing
    /// or generic (`application/json`, as some servers send), the document's own
    /// `mediaType` field, or its shape, decides.
    pub fn parse(media_type: Option<&str>, bytes: &[u8]) -> Result<Document> {
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
            Error::new(
                ErrorKind::InvalidDocument,
                format!("manifest is not valid JSON: {e}"),
            )
        })?;
        let declared = value.get("mediaType").and_then(|v| v.as_str());
        let mt = match media_type {
            Some(mt) if media_type::is_manifest(mt) || media_type::is_index(mt) => mt,
            Some(mt) if media_type::is_schema1(mt) => mt,
            _ => declared.unwrap_or(""),
        };
        if media_type::is_schema1(mt)
            || value.get("schemaVersion").and_then(|v| v.as_u64()) == Some(1)
        {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "manifest is Docker schema 1, which is deprecated and not supported; push the image again with a current client",
            ));
        }
        let is_index = if mt.is_empty() {
            value.get("manifests").is_some()
        } else if media_type::is_index(mt) {
            true
        } else if media_type::is_manifest(mt) {
            false
        } else {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("unsupported manifest media type {mt:?}"),
            ));
        };
        let parsed = if is_index {
            serde_json::from_value(value).map(Document::Index)
        } else {
            serde_json::from_value(value).map(|m| Document::Manifest(Box::new(m)))
        };
        parsed.map_err(|e| {
            Error::new(
                ErrorKind::InvalidDocument,
                format!("malformed manifest: {e}"),
            )
        })
    }
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema1_is_refused_with_a_reason() {
        let err = Document::parse(
            Some(media_type::DOCKER_MANIFEST_V1_SIGNED),
            br#"{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}"#,
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        assert!(err.to_string().contains("schema 1"));
    }

    #[test]
    fn shape_decides_without_media_type() {
        let idx = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(matches!(
            Document::parse(None, idx).unwrap(),
            Document::Index(_)
        ));
        let m = br#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}"#;
        assert!(matches!(
            Document::parse(Some("application/json"), m).unwrap(),
            Document::Manifest(_)
        ));
    }

    #[test]
    fn garbage_is_invalid_document() {
        let err = Document::parse(None, b"<html>").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidDocument);
    }
}
