//! Pushing a [`TestImage`] with img-core's own push code: blobs first (skipping those the
//! repository has), then an index's platform manifests by digest, then the top document
//! by tag — the order a registry that checks references needs.

use super::images::TestImage;
use crate::digest::Digest;
use crate::error::Result;
use crate::registry::RegistryClient;

/// Pushes `image` to its repository and returns the digest its tag now names.
pub fn push_image(client: &RegistryClient, image: &TestImage) -> Result<Digest> {
    for (desc, bytes) in &image.blobs {
        if !client.blob_exists(&image.name, &desc.digest)? {
            client.push_blob(&image.name, desc, None, bytes.as_slice())?;
        }
    }
    for (desc, bytes) in &image.manifests {
        client.put_manifest(
            &image.name,
            &desc.digest.to_string(),
            &desc.media_type,
            bytes,
        )?;
    }
    client.put_manifest(
        &image.name,
        &image.tag,
        &image.top.0.media_type,
        &image.top.1,
    )
}
