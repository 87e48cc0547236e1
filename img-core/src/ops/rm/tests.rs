//! Tests of img-rm's rules on stores built through the index, with real blob files.

use std::collections::BTreeMap;

use super::*;
use crate::index::NewImage;

const ALPINE: &str = "docker.io/library/alpine";
const MINE: &str = "docker.io/me/alpine";

/// An image with real blobs (config, manifest, a layer of its own and `shared`), tagged and
/// with repo digests as given.
fn image(
    store: &Store,
    seed: &str,
    shared: Option<&Digest>,
    tags: &[(&str, &str)],
    digest_names: &[&str],
) -> ImageInfo {
    image_with(store, seed, shared, tags, digest_names, &[])
}

/// [`image`] with config labels.
fn image_with(
    store: &Store,
    seed: &str,
    shared: Option<&Digest>,
    tags: &[(&str, &str)],
    digest_names: &[&str],
    labels: &[(&str, &str)],
) -> ImageInfo {
    let put = |what: &str, len: usize| {
        let bytes: Vec<u8> = format!("{what} of {seed};")
            .bytes()
            .cycle()
            .take(len)
            .collect();
        let d = Digest::sha256_of(&bytes);
        store
            .put_blob("application/octet-stream", &bytes, &d)
            .unwrap();
        d
    };
    let config = put("config", 300);
    let manifest = put("manifest", 500);
    let mut blobs = vec![put("layer", 4000)];
    blobs.extend(shared.cloned());
    store
        .index()
        .put_image(&NewImage {
            id: config,
            target: manifest.clone(),
            target_media_type: crate::oci::media_type::OCI_MANIFEST.into(),
            created: None,
            platform: "linux/amd64".into(),
            blobs,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            tags: tags
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect(),
            repo_digests: digest_names
                .iter()
                .map(|n| (n.to_string(), manifest.clone()))
                .collect(),
        })
        .unwrap()
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

fn t(s: &str) -> Target {
    Target::parse(s).unwrap()
}

fn shown(records: &[RemovalRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| match r {
            RemovalRecord::Untagged(s) => format!("Untagged: {s}"),
            RemovalRecord::Deleted(d) => format!("Deleted: {d}"),
            RemovalRecord::SpaceReclaimed(n) => format!("SpaceReclaimed: {n}"),
            RemovalRecord::Restored(d) => format!("Restored: {d}"),
        })
        .collect()
}

/// A remover with `-f`, and `--no-prune` when `no_prune`.
fn forced(store: &Store, no_prune: bool) -> Remover<'_> {
    Remover::new(
        store,
        RmOptions {
            force: true,
            no_prune,
        },
    )
}

/// Whether the image's config and manifest files are on disk.
fn files(store: &Store, image: &ImageInfo) -> [bool; 2] {
    [&image.id, &image.target].map(|d| store.blob_path(d).is_file())
}

#[test]
fn the_last_tag_takes_its_repositorys_digests_and_the_image_with_it() {
    let (_dir, store) = open();
    let img = image(
        &store,
        "a",
        None,
        &[(ALPINE, "3.20"), (ALPINE, "latest")],
        &[ALPINE],
    );
    let mut rm = Remover::new(&store, RmOptions::default());
    // Another tag of the repository remains: only the tag goes.
    let out = rm.remove(&t("alpine:latest")).unwrap();
    assert_eq!(shown(&out), ["Untagged: alpine:latest"]);
    assert_eq!(
        store
            .index()
            .image(&img.id)
            .unwrap()
            .unwrap()
            .repo_digests
            .len(),
        1
    );
    let out = rm.remove(&t("alpine:3.20")).unwrap();
    assert_eq!(
        shown(&out),
        [
            "Untagged: alpine:3.20".to_owned(),
            format!("Untagged: alpine@{}", img.target),
            format!("Deleted: {}", img.id),
        ]
    );
    assert_eq!(store.index().image(&img.id).unwrap(), None);
    assert_eq!(rm.deleted(), 1);
    // The blobs are still there until finish collects them.
    assert_eq!(files(&store, &img), [true, true]);
    let report = rm.finish().unwrap().unwrap();
    assert_eq!(report.blobs_removed, 3);
    assert_eq!(report.bytes_reclaimed, 300 + 500 + 4000);
    assert_eq!(files(&store, &img), [false, false]);
}

#[test]
fn a_digest_of_another_repository_keeps_the_image() {
    let (_dir, store) = open();
    let img = image(&store, "a", None, &[(ALPINE, "3.20")], &[ALPINE, MINE]);
    let mut rm = Remover::new(&store, RmOptions::default());
    let out = rm.remove(&t("alpine:3.20")).unwrap();
    assert_eq!(out.len(), 2, "{:?}", shown(&out));
    let left = store.index().image(&img.id).unwrap().unwrap();
    assert!(left.tags.is_empty());
    assert_eq!(left.repo_digests, [(MINE.to_owned(), img.target.clone())]);
    // By that digest reference: it goes, and the image with it.
    let out = rm.remove(&t(&format!("me/alpine@{}", img.target))).unwrap();
    assert_eq!(
        shown(&out),
        [
            format!("Untagged: me/alpine@{}", img.target),
            format!("Deleted: {}", img.id)
        ]
    );
    assert!(rm.finish().unwrap().is_some());
}

#[test]
fn by_id_one_reference_goes_with_the_image_several_are_refused_unless_forced() {
    let (_dir, store) = open();
    let one = image(&store, "one", None, &[(ALPINE, "3.20")], &[ALPINE]);
    let two = image(&store, "two", None, &[(ALPINE, "a"), (ALPINE, "b")], &[]);
    let multi = image(
        &store,
        "multi",
        None,
        &[(ALPINE, "m"), (MINE, "m")],
        &[ALPINE],
    );
    let mut rm = Remover::new(&store, RmOptions::default());
    let out = rm.remove(&t(&one.id.hex()[..12])).unwrap();
    assert_eq!(
        shown(&out),
        [
            "Untagged: alpine:3.20".to_owned(),
            format!("Untagged: alpine@{}", one.target),
            format!("Deleted: {}", one.id),
        ]
    );
    for img in [&two, &multi] {
        let err = rm.remove(&t(&img.id.to_string())).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert_eq!(
            err.to_string(),
            format!(
                "conflict: unable to delete {} (must be forced) - image is referenced in \
                 multiple repositories",
                &img.id.hex()[..12]
            )
        );
        assert!(store.index().image(&img.id).unwrap().is_some());
    }
    let mut forced = forced(&store, true);
    let out = forced.remove(&t(&multi.id.hex()[..8])).unwrap();
    assert_eq!(
        shown(&out),
        [
            "Untagged: alpine:m".to_owned(),
            "Untagged: me/alpine:m".to_owned(),
            format!("Untagged: alpine@{}", multi.target),
            format!("Deleted: {}", multi.id),
        ]
    );
    // --no-prune: the row is gone, the blobs stay for the next collection.
    assert_eq!(forced.finish().unwrap(), None);
    assert_eq!(files(&store, &multi), [true, true]);
    assert_eq!(store.index().image(&two.id).unwrap().unwrap().tags.len(), 2);
}

#[test]
fn an_image_in_use_is_refused_unless_forced_and_its_leased_blobs_outlive_the_removal() {
    let (_dir, store) = open();
    let img = image(&store, "a", None, &[(ALPINE, "3.20"), (MINE, "1")], &[]);
    let lease = store.lease("saving alpine:3.20").unwrap();
    for d in store.index().image_blobs(&img.id).unwrap() {
        lease.protect(&d).unwrap();
    }
    let mut rm = Remover::new(&store, RmOptions::default());
    // Untagging while another tag remains does not touch the image: allowed.
    assert_eq!(
        shown(&rm.remove(&t("me/alpine:1")).unwrap()),
        ["Untagged: me/alpine:1"]
    );
    let pid = std::process::id();
    let err = rm.remove(&t("alpine:3.20")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        err.to_string(),
        format!(
            "conflict: unable to remove repository reference \"alpine:3.20\" (must force) - \
             image {} is in use by saving alpine:3.20 (pid {pid})",
            &img.id.hex()[..12]
        )
    );
    let err = rm.remove(&t(&img.id.to_string())).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "conflict: unable to delete {} (must be forced) - image is in use by saving \
             alpine:3.20 (pid {pid})",
            &img.id.hex()[..12]
        )
    );
    assert!(store.index().image(&img.id).unwrap().is_some());
    let mut forced = forced(&store, false);
    let out = forced.remove(&t("alpine:3.20")).unwrap();
    assert_eq!(
        shown(&out),
        [
            "Untagged: alpine:3.20".to_owned(),
            format!("Deleted: {}", img.id)
        ]
    );
    let report = forced.finish().unwrap().unwrap();
    assert_eq!(report.blobs_removed, 0, "the lease pins them");
    assert_eq!(files(&store, &img), [true, true]);
    lease.release().unwrap();
    store.gc().unwrap();
    assert_eq!(files(&store, &img), [false, false]);
}

#[test]
fn prune_deletes_dangling_images_not_in_use_and_reports_the_bytes() {
    let (_dir, store) = open();
    let shared = {
        let bytes = vec![7u8; 10_000];
        let d = Digest::sha256_of(&bytes);
        store
            .put_blob("application/octet-stream", &bytes, &d)
            .unwrap();
        d
    };
    let tagged = image(&store, "tagged", Some(&shared), &[(ALPINE, "1")], &[ALPINE]);
    let dangling = image(&store, "dangling", Some(&shared), &[], &[ALPINE, MINE]);
    let bare = image(&store, "bare", None, &[], &[]);
    let used = image(&store, "used", None, &[], &[]);
    let lease = store.lease("pulling used").unwrap();
    lease.protect(&used.target).unwrap();
    // An orphan file: a commit killed before its row.
    let orphan = Digest::sha256_of(b"orphan");
    std::fs::write(store.blob_path(&orphan), b"orphan").unwrap();

    let pruned = prune(&store).unwrap();
    let mut deleted: Vec<String> = pruned
        .records
        .iter()
        .filter_map(|r| match r {
            RemovalRecord::Deleted(d) => Some(d.to_string()),
            _ => None,
        })
        .collect();
    deleted.sort();
    let mut want = vec![dangling.id.to_string(), bare.id.to_string()];
    want.sort();
    assert_eq!(deleted, want);
    assert!(
        shown(&pruned.records).contains(&format!("Untagged: me/alpine@{}", dangling.target)),
        "{:?}",
        shown(&pruned.records)
    );
    // Two images' own blobs (the shared layer stays with the tagged image) and the orphan.
    let bytes = 2 * (300 + 500 + 4000) + 6;
    assert_eq!(
        pruned.records.last(),
        Some(&RemovalRecord::SpaceReclaimed(bytes))
    );
    assert_eq!(pruned.gc.bytes_reclaimed, bytes);
    assert!(store.blob_path(&shared).is_file());
    assert!(!store.blob_path(&orphan).exists());
    assert!(store.index().image(&tagged.id).unwrap().is_some());
    assert!(store.index().image(&used.id).unwrap().is_some());
    assert_eq!(files(&store, &dangling), [false, false]);
    // Once its lease ends, the image in use goes too; then nothing is left: 0 bytes.
    drop(lease);
    let again = prune(&store).unwrap();
    assert_eq!(
        again.records,
        [
            RemovalRecord::Deleted(used.id.clone()),
            RemovalRecord::SpaceReclaimed(4800)
        ]
    );
    let last = prune(&store).unwrap();
    assert_eq!(last.records, [RemovalRecord::SpaceReclaimed(0)]);
}

#[test]
fn missing_images_and_digest_references_that_are_not_recorded() {
    let (_dir, store) = open();
    let img = image(&store, "a", None, &[(ALPINE, "3.20")], &[]);
    let mut rm = Remover::new(&store, RmOptions::default());
    let err = rm.remove(&t("alpine:nope")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.to_string(), "no such image: alpine:nope");
    // Found through the tag's target, but no such digest reference was ever recorded.
    let by_digest = format!("alpine@{}", img.target);
    let err = rm.remove(&t(&by_digest)).unwrap_err();
    assert_eq!(err.to_string(), format!("no such image: {by_digest}"));
    assert_eq!(rm.finish().unwrap(), None);
}

#[test]
fn single_reference_follows_docker() {
    let tag = |n: &str, t: &str| (n.to_owned(), t.to_owned());
    let dig = |n: &str| (n.to_owned(), Digest::sha256_of(n.as_bytes()));
    assert!(!is_single_reference(&[], &[]));
    assert!(is_single_reference(&[tag(ALPINE, "1")], &[]));
    assert!(is_single_reference(&[], &[dig(MINE)]));
    assert!(is_single_reference(&[tag(ALPINE, "1")], &[dig(ALPINE)]));
    assert!(!is_single_reference(&[tag(ALPINE, "1")], &[dig(MINE)]));
    assert!(!is_single_reference(
        &[tag(ALPINE, "1"), tag(ALPINE, "2")],
        &[]
    ));
    assert!(!is_single_reference(&[], &[dig(ALPINE), dig(MINE)]));
    assert!(is_single_reference(
        &[],
        &[dig(ALPINE), (ALPINE.to_owned(), Digest::sha256_of(b"x"))]
    ));
}

/// The IDs a prune with `filters` deletes (sorted), through the same parser img-rm uses.
fn pruned_ids(store: &Store, all: bool, filters: &[&str]) -> Vec<Digest> {
    let filters: Vec<String> = filters.iter().map(|f| f.to_string()).collect();
    let options = PruneOptions {
        all,
        filter: parse_prune_filters(&filters).unwrap(),
    };
    let mut ids: Vec<Digest> = prune_with(store, &options)
        .unwrap()
        .records
        .into_iter()
        .filter_map(|r| match r {
            RemovalRecord::Deleted(d) => Some(d),
            _ => None,
        })
        .collect();
    ids.sort();
    ids
}

fn sorted(images: &[&ImageInfo]) -> Vec<Digest> {
    let mut ids: Vec<Digest> = images.iter().map(|i| i.id.clone()).collect();
    ids.sort();
    ids
}

#[test]
fn prune_label_not_keeps_images_matching_every_negated_label() {
    let (_dir, store) = open();
    let a = image_with(&store, "a", None, &[], &[], &[("x", "1")]);
    let b = image_with(&store, "b", None, &[], &[], &[("x", "2")]);
    let c = image_with(&store, "c", None, &[], &[], &[("y", "1")]);
    let d = image_with(&store, "d", None, &[], &[], &[("x", "1"), ("y", "1")]);
    let bare = image(&store, "bare", None, &[], &[]);
    let tagged = image_with(&store, "e", None, &[(ALPINE, "1")], &[], &[("z", "9")]);

    // What docker 20.10's daemon pruned of the same five dangling images, step by step.
    assert_eq!(
        pruned_ids(&store, false, &["label!=x"]),
        sorted(&[&c, &bare])
    );
    assert_eq!(pruned_ids(&store, false, &["label!=x=1"]), sorted(&[&b]));
    // Kept only when both match: d has x=1 and y, a only x=1.
    assert_eq!(
        pruned_ids(&store, false, &["label!=x=1", "label!=y"]),
        sorted(&[&a])
    );
    // label= and label! together: x required, d's y=1 excludes it.
    assert!(pruned_ids(&store, false, &["label=x", "label!=y=1"]).is_empty());
    assert!(store.index().image(&d.id).unwrap().is_some());
    // The tagged image stays out of a dangling prune whatever its labels.
    assert!(pruned_ids(&store, false, &["label!=nothing"]).contains(&d.id));
    assert!(store.index().image(&tagged.id).unwrap().is_some());
}

#[test]
fn prune_dangling_false_takes_tagged_images_and_wins_over_true() {
    let (_dir, store) = open();
    let tagged = image_with(
        &store,
        "t",
        None,
        &[(ALPINE, "1")],
        &[ALPINE],
        &[("k", "v")],
    );
    let other = image_with(&store, "o", None, &[(MINE, "1")], &[], &[("k", "w")]);
    let dangling = image_with(&store, "d", None, &[], &[], &[("k", "v")]);

    // dangling=true alone is the default: the tagged images stay.
    assert_eq!(
        pruned_ids(&store, false, &["dangling=true", "label!=k=v"]),
        Vec::<Digest>::new()
    );
    // Any false value wins, as in docker's daemon: the tagged one with k=v goes too.
    assert_eq!(
        pruned_ids(
            &store,
            false,
            &["dangling=true", "dangling=false", "label=k=v"]
        ),
        sorted(&[&tagged, &dangling])
    );
    assert!(store.index().image(&other.id).unwrap().is_some());
    assert_eq!(
        pruned_ids(&store, false, &["dangling=0"]),
        sorted(&[&other])
    );
}
