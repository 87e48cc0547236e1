//! From what a user named (`alpine:3.20`, `alpine@sha256:…`, `9234e8fb`, a record) to the
//! image in the store, as docker resolves it: a name first, then an ID prefix; an
//! ambiguous prefix is an error listing the candidates.

use crate::digest::Digest;
use crate::error::{Error, ErrorKind, Result};
use crate::index::{ImageInfo, Index};
use crate::record::Target;
use crate::reference::Reference;

/// Shortest ID prefix docker accepts.
const MIN_PREFIX: usize = 4;

/// How a target reached its image: what a tool acting on a tag (untag) needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// Through a tag: the full repository name and the tag.
    Tag(Reference),
    /// Through a repo digest (`name@sha256:…`).
    Digest(Reference),
    /// Through the image ID or a prefix of it.
    Id,
}

/// An image found, and how.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The image.
    pub image: ImageInfo,
    /// How it was named.
    pub via: Via,
}

/// Finds the image `target` names.
pub fn resolve(index: &Index, target: &Target) -> Result<Resolved> {
    match target {
        Target::Reference(r) => by_reference(index, r)?.ok_or_else(|| no_such(&r.familiar())),
        Target::Image(id) => by_id(index, id),
        Target::NameOrId(s) => {
            if let Ok(r) = Reference::parse_normalized(s)
                && let Some(found) = by_reference(index, &r)?
            {
                return Ok(found);
            }
            by_id(index, s)
        }
    }
}

/// The image a reference names, if any.
pub fn by_reference(index: &Index, r: &Reference) -> Result<Option<Resolved>> {
    let name = r.name();
    if let Some(d) = r.digest() {
        return Ok(index.image_by_digest(&name, d)?.map(|image| Resolved {
            image,
            via: Via::Digest(r.clone()),
        }));
    }
    let tag = r.tag().unwrap_or(crate::reference::DEFAULT_TAG);
    Ok(index.image_by_tag(&name, tag)?.map(|image| Resolved {
        image,
        via: Via::Tag(r.clone()),
    }))
}

/// The image with this full ID or unique ID prefix (`sha256:` optional).
pub fn by_id(index: &Index, id: &str) -> Result<Resolved> {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    if let Ok(d) = Digest::parse(&format!("sha256:{hex}")) {
        return index
            .image(&d)?
            .map(|image| Resolved {
                image,
                via: Via::Id,
            })
            .ok_or_else(|| no_such(id));
    }
    if hex.len() < MIN_PREFIX {
        return Err(no_such(id));
    }
    let mut found = index.images_by_id_prefix(hex)?;
    match found.len() {
        0 => Err(no_such(id)),
        1 => Ok(Resolved {
            image: found.remove(0),
            via: Via::Id,
        }),
        _ => {
            let ids: Vec<String> = found.iter().map(|i| i.id.to_string()).collect();
            Err(Error::new(
                ErrorKind::Ambiguous,
                format!(
                    "image ID prefix {id:?} is ambiguous: it matches {}; give more digits",
                    ids.join(", ")
                ),
            ))
        }
    }
}

fn no_such(what: &str) -> Error {
    Error::new(ErrorKind::NotFound, format!("no such image: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::NewImage;
    use crate::store::Store;
    use crate::store::test_support::seeded_image;

    /// An image from `seed` with `tags` and a repo digest under alpine.
    fn put(store: &Store, seed: &str, tags: &[(&str, &str)]) -> ImageInfo {
        let image = seeded_image(seed, tags);
        let repo_digests = vec![("docker.io/library/alpine".into(), image.target.clone())];
        store
            .index()
            .put_image(&NewImage {
                repo_digests,
                ..image
            })
            .unwrap()
    }

    #[test]
    fn names_then_prefixes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = put(&store, "a", &[("docker.io/library/alpine", "3.20")]);
        let idx = store.index();
        let r = resolve(idx, &Target::parse("alpine:3.20").unwrap()).unwrap();
        assert_eq!(r.image.id, a.id);
        assert!(matches!(r.via, Via::Tag(_)));
        let prefix = &a.id.hex()[..8];
        let r = resolve(idx, &Target::parse(prefix).unwrap()).unwrap();
        assert_eq!(r.image.id, a.id);
        assert_eq!(r.via, Via::Id);
        let r = resolve(idx, &Target::parse(&a.id.to_string()).unwrap()).unwrap();
        assert_eq!(r.image.id, a.id);
        let by_digest = format!("alpine@{}", a.target);
        let r = resolve(idx, &Target::parse(&by_digest).unwrap()).unwrap();
        assert!(matches!(r.via, Via::Digest(_)));
    }

    #[test]
    fn missing_and_ambiguous() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // Two seeds whose IDs share their first four hex digits (a birthday search:
        // a few hundred hashes).
        let mut seen = std::collections::HashMap::new();
        let (s1, s2) = (0..100_000)
            .find_map(|i| {
                let seed = format!("s{i}");
                let prefix = Digest::sha256_of(seed.as_bytes()).hex()[..4].to_owned();
                seen.insert(prefix, seed.clone()).map(|other| (other, seed))
            })
            .unwrap();
        let a = put(&store, &s1, &[]);
        put(&store, &s2, &[]);
        let idx = store.index();
        let err = resolve(idx, &Target::parse("alpine:nope").unwrap()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(err.to_string(), "no such image: alpine:nope");
        let err = by_id(idx, &a.id.hex()[..4]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Ambiguous);
        assert!(err.to_string().contains(&a.id.to_string()), "{err}");
        // Too short to be an ID: docker treats it as missing.
        assert_eq!(
            by_id(idx, &a.id.hex()[..3]).unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }

    #[test]
    fn a_digest_of_another_repository_is_no_such_image() {
        // Regression: one image (one config) tagged in two repositories, its target the
        // manifest the other repository's digest names: `rich@<that digest>` was found.
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // rich pulled first through its own manifest, then dig through another one.
        let rich_manifest = Digest::sha256_of(b"rich's own manifest");
        let image = seeded_image("shared", &[("docker.io/cmp/dig", "v1")]);
        let target = image.target.clone();
        store
            .index()
            .put_image(&NewImage {
                target: rich_manifest.clone(),
                tags: vec![("docker.io/cmp/rich".into(), "v1".into())],
                repo_digests: vec![("docker.io/cmp/rich".into(), rich_manifest.clone())],
                ..image.clone()
            })
            .unwrap();
        let a = store
            .index()
            .put_image(&NewImage {
                repo_digests: vec![("docker.io/cmp/dig".into(), target.clone())],
                ..image
            })
            .unwrap();
        let idx = store.index();
        let found = |s: &str| resolve(idx, &Target::parse(s).unwrap());
        assert_eq!(found(&format!("cmp/dig@{target}")).unwrap().image.id, a.id);
        assert_eq!(
            found(&format!("cmp/rich@{rich_manifest}"))
                .unwrap()
                .image
                .id,
            a.id
        );
        let err = found(&format!("cmp/rich@{target}")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    }

    #[test]
    fn each_tag_keeps_the_manifest_it_resolved_to() {
        // One config reached through two manifests (docker and OCI media types): the
        // second pull moves the image's target, each tag keeps its own (schema 3).
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let first = seeded_image("one config", &[("docker.io/cmp/rich", "v1")]);
        let m1 = first.target.clone();
        let m2 = Digest::sha256_of(b"the OCI manifest of the same config");
        let second = NewImage {
            target: m2.clone(),
            tags: vec![("docker.io/cmp/dig".into(), "v1".into())],
            repo_digests: vec![("docker.io/cmp/dig".into(), m2.clone())],
            ..first.clone()
        };
        let idx = store.index();
        idx.put_image(&first).unwrap();
        idx.put_image(&second).unwrap();
        assert_eq!(
            idx.tag_target("docker.io/cmp/rich", "v1")
                .unwrap()
                .unwrap()
                .0,
            m1
        );
        assert_eq!(
            idx.tag_target("docker.io/cmp/dig", "v1")
                .unwrap()
                .unwrap()
                .0,
            m2
        );
        // Re-tagging the same image (img-tag, an up-to-date pull) keeps the target.
        let id = first.id.clone();
        idx.tag(&id, "docker.io/cmp/rich", "v1").unwrap();
        assert_eq!(
            idx.tag_target("docker.io/cmp/rich", "v1")
                .unwrap()
                .unwrap()
                .0,
            m1
        );
        let found = |s: &str| resolve(idx, &Target::parse(s).unwrap());
        assert_eq!(found(&format!("cmp/rich@{m1}")).unwrap().image.id, id);
        assert_eq!(
            found(&format!("cmp/rich@{m2}")).unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }
}
