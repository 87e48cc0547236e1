//! A single image's manifest: OCI image manifest or Docker schema 2 manifest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Descriptor;

/// An image manifest (the two formats share this shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest's own media type (required by Docker, optional in OCI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The image config.
    pub config: Descriptor,
    /// The layers, base first.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// The artifact this manifest refers to (OCI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Manifest {
    /// Every blob the manifest references: config first, then layers.
    pub fn blobs(&self) -> impl Iterator<Item = &Descriptor> {
        std::iter::once(&self.config).chain(self.layers.iter())
    }

    /// The OCI manifest img writes for an image of a legacy archive (docker's
    /// manifest.json, which has none): `config` (an OCI config descriptor) and `layers`.
    pub fn for_legacy_image(config: Descriptor, layers: Vec<Descriptor>) -> Manifest {
        Manifest {
            schema_version: 2,
            media_type: Some(super::media_type::OCI_MANIFEST.to_owned()),
            config,
            layers,
            subject: None,
            annotations: BTreeMap::new(),
        }
    }

    /// Whether `bytes` are, byte for byte, a manifest [`Manifest::for_legacy_image`] made
    /// and img encoded: how an index upgraded to schema 4 recognises the manifests img
    /// synthesised before it marked them. A registry's manifest equal to it byte for
    /// byte would be the same document, so nothing is mistaken.
    pub fn is_legacy_synthesis(bytes: &[u8]) -> bool {
        let Ok(m) = serde_json::from_slice::<Manifest>(bytes) else {
            return false;
        };
        let plain = |d: &Descriptor| d.annotations.is_empty() && d.platform.is_none();
        m.media_type.as_deref() == Some(super::media_type::OCI_MANIFEST)
            && m.config.media_type == super::media_type::OCI_CONFIG
            && plain(&m.config)
            && m.layers.iter().all(plain)
            && m.subject.is_none()
            && m.annotations.is_empty()
            && serde_json::to_vec(&Manifest::for_legacy_image(
                m.config.clone(),
                m.layers.clone(),
            ))
            .is_ok_and(|again| again == bytes)
    }
}
