//! An index of manifests: OCI image index or Docker manifest list.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Descriptor, Platform};

/// An image index / manifest list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// The index's own media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The manifests it lists.
    pub manifests: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Index {
    /// The first manifest whose platform satisfies `want` (attestation manifests, which
    /// carry platform `unknown/unknown`, never match a real platform).
    pub fn select(&self, want: &Platform) -> Option<&Descriptor> {
        self.manifests
            .iter()
            .find(|d| d.platform.as_ref().is_some_and(|p| want.matches(p)))
    }

    /// The manifests that are images for a platform (not attestations or artifacts).
    pub fn images(&self) -> impl Iterator<Item = &Descriptor> {
        self.manifests.iter().filter(|d| {
            d.platform.as_ref().is_none_or(|p| p.os != "unknown")
                && super::media_type::is_manifest(&d.media_type)
        })
    }
}
