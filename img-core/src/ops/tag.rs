//! `img-tag`: docker tag — point a new tag at an image already in the store.
//!
//! The source is resolved as every tool resolves images ([`super::resolve`]: a name first,
//! then an ID prefix); the target is normalised as docker does (`mine/x` is
//! `docker.io/mine/x:latest`). An existing tag moves, and the image it named stays, perhaps
//! without a tag (dangling), as in docker. The result is the image's record, as img-pull
//! prints it, with `Ref` the new tag, so `img-pull x | img-tag mine/x:1 | img-rm` acts on
//! the new tag.

use crate::error::{Error, ErrorKind, Result};
use crate::record::{ImageRecord, Target};
use crate::reference::{DEFAULT_TAG, Reference};
use crate::store::Store;

use super::resolve::resolve;

/// How img-tag tags. Nothing to choose yet: docker tag has no options.
#[derive(Debug, Clone, Default)]
pub struct TagOptions {}

/// Parses a TARGET as docker tag does: normalised, `:latest` when it has no tag; a
/// digest is refused, since a tag names what it is moved to and a digest cannot move.
pub fn parse_target(s: &str) -> Result<Reference> {
    let r = Reference::parse_normalized(s)?;
    if r.digest().is_some() {
        return Err(Error::new(
            ErrorKind::InvalidReference,
            format!("refusing to create a tag with a digest reference: {s:?}"),
        ));
    }
    // As docker: a name that reads as a digest algorithm with an ID-like tag
    // (`sha256:<64 hex>`) would be taken for an image ID by every later command.
    if r.familiar_name() == "sha256" && r.tag().is_some_and(crate::reference::is_identifier) {
        return Err(Error::new(
            ErrorKind::InvalidReference,
            format!("refusing to create an ambiguous tag using digest algorithm as name: {s:?}"),
        ));
    }
    Ok(r)
}

/// Points `target` at the image `source` names and returns the image's record (`Ref` is
/// `target`, `Digest` what it now resolves to: the image's manifest or index).
pub fn tag(
    store: &Store,
    source: &Target,
    target: &Reference,
    _options: &TagOptions,
) -> Result<ImageRecord> {
    let found = resolve(store.index(), source)?;
    let name = target.name();
    let tag = target.tag().unwrap_or(DEFAULT_TAG);
    let id = &found.image.id;
    store
        .index()
        .tag(id, &name, tag)
        .map_err(|e| e.context(format!("tagging {} as {}", id.short(), target.familiar())))?;
    let info = store.index().image(id)?.ok_or_else(|| {
        // Removed by another process between our tag and this read.
        Error::new(
            ErrorKind::NotFound,
            format!("image {} was removed while tagging it", id.short()),
        )
    })?;
    let mut record = ImageRecord::of(target, &info.target, &info, 0, 0)?;
    // Those two are what a pull moved; a tag moves nothing.
    record.downloaded = None;
    record.reused = None;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;
    use crate::store::test_support::seeded_image;

    fn put(store: &Store, seed: &str, tags: &[(&str, &str)]) -> crate::index::ImageInfo {
        store.index().put_image(&seeded_image(seed, tags)).unwrap()
    }

    #[test]
    fn targets_are_normalised_and_digests_refused() {
        let r = parse_target("mine/x").unwrap();
        assert_eq!(r.to_string(), "docker.io/mine/x:latest");
        let d = Digest::sha256_of(b"x");
        let err = parse_target(&format!("mine/x@{d}")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidReference);
        assert!(
            err.to_string()
                .starts_with("refusing to create a tag with a digest reference"),
            "{err}"
        );
        assert!(parse_target(&format!("mine/x:1@{d}")).is_err());
        let err = parse_target(&format!("sha256:{}", d.hex())).unwrap_err();
        assert!(err.to_string().contains("ambiguous"), "{err}");
        assert_eq!(
            parse_target("mine/X").unwrap_err().kind(),
            ErrorKind::InvalidReference
        );
    }

    #[test]
    fn tagging_moves_an_existing_tag_and_prints_the_new_reference() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = put(&store, "a", &[("docker.io/library/alpine", "3.20")]);
        let b = put(&store, "b", &[("docker.io/mine/x", "1")]);
        let target = parse_target("mine/x:1").unwrap();
        let record = tag(
            &store,
            &Target::parse("alpine:3.20").unwrap(),
            &target,
            &TagOptions::default(),
        )
        .unwrap();
        assert_eq!(record.id, a.id);
        assert_eq!(record.reference.as_ref(), Some(&target));
        assert_eq!(record.digest, a.target);
        assert_eq!(record.repo_tags, ["alpine:3.20", "mine/x:1"]);
        assert_eq!(record.downloaded, None);
        assert_eq!(record.reused, None);
        // b lost its only tag: it stays, dangling.
        let b = store.index().image(&b.id).unwrap().unwrap();
        assert!(b.tags.is_empty());
        // By ID prefix too.
        let record = tag(
            &store,
            &Target::parse(&b.id.hex()[..8]).unwrap(),
            &parse_target("b").unwrap(),
            &TagOptions::default(),
        )
        .unwrap();
        assert_eq!(record.id, b.id);
        assert_eq!(record.repo_tags, ["b:latest"]);
        let err = tag(
            &store,
            &Target::parse("nope:1").unwrap(),
            &target,
            &TagOptions::default(),
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
    }
}
