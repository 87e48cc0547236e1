//! Tests of the image queries: recording, listing with filters, resolving, tagging, and
//! many writers at once.

use std::collections::BTreeMap;

use super::*;
use crate::Digest;

fn d(s: &str) -> Digest {
    Digest::sha256_of(s.as_bytes())
}

fn image(name: &str, created: Option<&str>) -> NewImage {
    NewImage {
        id: d(&format!("config {name}")),
        target: d(&format!("manifest {name}")),
        target_media_type: crate::oci::media_type::OCI_MANIFEST.into(),
        created: created.map(str::to_owned),
        platform: "linux/amd64".into(),
        blobs: vec![d(&format!("layer {name}"))],
        labels: BTreeMap::new(),
        tags: vec![],
        repo_digests: vec![],
    }
}

fn open() -> (tempfile::TempDir, Index) {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open(&dir.path().join("index.db")).unwrap();
    (dir, index)
}

fn names(rows: &[ImageRow]) -> Vec<String> {
    rows.iter()
        .map(|r| {
            format!(
                "{}:{}",
                r.repository.as_deref().unwrap_or("<none>"),
                r.tag.as_deref().unwrap_or("<none>")
            )
        })
        .collect()
}

const ALPINE: &str = "docker.io/library/alpine";

#[test]
fn put_image_records_everything_and_sizes_from_blob_rows() {
    let (_dir, index) = open();
    let mut img = image("a", Some("2024-01-02T03:04:05Z"));
    img.tags = vec![(ALPINE.into(), "3.20".into())];
    img.repo_digests = vec![(ALPINE.into(), img.target.clone())];
    img.labels.insert("maintainer".into(), "me".into());
    index.insert_blob(&img.target, 500, "m").unwrap();
    index.insert_blob(&img.blobs[0], 7000, "l").unwrap();
    // The config is not committed: it counts for nothing.
    let info = index.put_image(&img).unwrap();
    assert_eq!(info.id, img.id);
    assert_eq!(info.size, 7500);
    assert_eq!(info.tags, vec![(ALPINE.to_owned(), "3.20".to_owned())]);
    assert_eq!(
        info.repo_digests,
        vec![(ALPINE.to_owned(), img.target.clone())]
    );
    assert_eq!(
        info.labels.get("maintainer").map(String::as_str),
        Some("me")
    );
    assert!(info.last_tag_time.is_some());
    let mut pinned = vec![img.id.clone(), img.target.clone(), img.blobs[0].clone()];
    pinned.sort();
    assert_eq!(index.image_blobs(&img.id).unwrap(), pinned);
    assert_eq!(
        index.image_by_tag(ALPINE, "3.20").unwrap(),
        Some(info.clone())
    );
    assert_eq!(
        index.image_by_digest(ALPINE, &img.target).unwrap(),
        Some(info)
    );
    assert_eq!(index.image_by_tag(ALPINE, "edge").unwrap(), None);
}

#[test]
fn a_tag_moves_and_leaves_the_old_image_dangling() {
    let (_dir, index) = open();
    let mut old = image("old", Some("2024-01-01T00:00:00Z"));
    old.tags = vec![(ALPINE.into(), "latest".into())];
    index.put_image(&old).unwrap();
    let mut new = image("new", Some("2024-06-01T00:00:00Z"));
    new.tags = vec![(ALPINE.into(), "latest".into())];
    index.put_image(&new).unwrap();

    let rows = index.list_images(&ListFilter::default()).unwrap();
    assert_eq!(
        names(&rows),
        vec![format!("{ALPINE}:latest"), "<none>:<none>".into()]
    );
    assert_eq!(rows[0].image.id, new.id);
    assert_eq!(rows[1].image.id, old.id);
    let dangling = index
        .list_images(&ListFilter {
            dangling: Some(true),
            ..ListFilter::default()
        })
        .unwrap();
    assert_eq!(dangling.len(), 1);
    assert_eq!(dangling[0].image.id, old.id);
}

#[test]
fn list_is_one_row_per_tag_newest_first_with_filters() {
    let (_dir, index) = open();
    let mut a = image("a", Some("2024-01-01T00:00:00Z"));
    a.tags = vec![
        (ALPINE.into(), "3.19".into()),
        (ALPINE.into(), "old".into()),
    ];
    let mut b = image("b", Some("2024-03-01T00:00:00+01:00"));
    b.tags = vec![("docker.io/library/busybox".into(), "1".into())];
    b.labels.insert("tier".into(), "web".into());
    let mut c = image("c", None);
    c.repo_digests = vec![("ghcr.io/x/y".into(), c.target.clone())];
    for i in [&a, &b, &c] {
        index.put_image(i).unwrap();
    }
    let all = index.list_images(&ListFilter::default()).unwrap();
    assert_eq!(
        names(&all),
        vec![
            "docker.io/library/busybox:1".to_owned(),
            format!("{ALPINE}:3.19"),
            format!("{ALPINE}:old"),
            "ghcr.io/x/y:<none>".to_owned(),
        ]
    );
    assert_eq!(all[3].digest.as_ref(), Some(&c.target));
    assert_eq!(all[3].image.created, None);

    let list = |f: ListFilter| names(&index.list_images(&f).unwrap());
    let mid: jiff::Timestamp = "2024-02-01T00:00:00Z".parse().unwrap();
    assert_eq!(
        list(ListFilter {
            before: Some(mid),
            ..ListFilter::default()
        }),
        vec![format!("{ALPINE}:3.19"), format!("{ALPINE}:old")]
    );
    assert_eq!(
        list(ListFilter {
            since: Some(mid),
            ..ListFilter::default()
        }),
        vec!["docker.io/library/busybox:1".to_owned()]
    );
    assert_eq!(
        list(ListFilter {
            labels: vec![("tier".into(), Some("web".into()))],
            ..ListFilter::default()
        }),
        vec!["docker.io/library/busybox:1".to_owned()]
    );
    assert!(
        list(ListFilter {
            labels: vec![("tier".into(), Some("db".into()))],
            ..ListFilter::default()
        })
        .is_empty()
    );
    assert_eq!(
        list(ListFilter {
            labels: vec![("tier".into(), None)],
            ..ListFilter::default()
        })
        .len(),
        1
    );
    assert_eq!(
        list(ListFilter {
            reference: vec!["alpine:3.*".into()],
            ..ListFilter::default()
        }),
        vec![format!("{ALPINE}:3.19")]
    );
    // c has no tag but a repo digest: docker keeps it under dangling=false.
    assert_eq!(
        list(ListFilter {
            dangling: Some(false),
            ..ListFilter::default()
        })
        .len(),
        4
    );
}

#[test]
fn id_prefixes_resolve_and_ambiguity_returns_all() {
    let (_dir, index) = open();
    let mut ids = Vec::new();
    // Enough images that two share a first hex digit.
    for i in 0..20 {
        let img = image(&i.to_string(), None);
        ids.push(img.id.clone());
        index.put_image(&img).unwrap();
    }
    let id = &ids[0];
    let found = index.images_by_id_prefix(&id.hex()[..12]).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(&found[0].id, id);
    assert_eq!(index.images_by_id_prefix(&id.to_string()).unwrap().len(), 1);
    // 20 IDs over 16 first digits: some digit is shared (pigeonhole).
    let shared = (0..16)
        .map(|n| format!("{n:x}"))
        .find(|p| {
            ids.iter()
                .filter(|i| i.hex().starts_with(p.as_str()))
                .count()
                > 1
        })
        .unwrap();
    let expected = ids.iter().filter(|i| i.hex().starts_with(&shared)).count();
    assert_eq!(index.images_by_id_prefix(&shared).unwrap().len(), expected);
    assert!(index.images_by_id_prefix("zz%").unwrap().is_empty());
    assert!(index.images_by_id_prefix("").unwrap().is_empty());
}

#[test]
fn tag_untag_and_delete() {
    let (_dir, index) = open();
    let img = image("a", None);
    index.put_image(&img).unwrap();
    index.tag(&img.id, ALPINE, "mine").unwrap();
    assert_eq!(
        index.image_by_tag(ALPINE, "mine").unwrap().unwrap().id,
        img.id
    );
    let err = index.tag(&d("nothing"), ALPINE, "x").unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::NotFound);
    assert_eq!(index.untag(ALPINE, "mine").unwrap(), img.id);
    assert_eq!(
        index.untag(ALPINE, "mine").unwrap_err().kind(),
        crate::ErrorKind::NotFound
    );
    index.delete_image(&img.id).unwrap();
    assert_eq!(index.image(&img.id).unwrap(), None);
    assert!(index.image_blobs(&img.id).unwrap().is_empty());
    assert_eq!(
        index.delete_image(&img.id).unwrap_err().kind(),
        crate::ErrorKind::NotFound
    );
}

#[test]
fn many_writers_at_once_never_see_database_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.db");
    let shared = Index::open(&path).unwrap();
    std::thread::scope(|s| {
        for t in 0..6 {
            let (path, shared) = (&path, &shared);
            s.spawn(move || {
                // Half the threads with their own connection, half sharing one.
                let own;
                let index = if t % 2 == 0 {
                    own = Index::open(path).unwrap();
                    &own
                } else {
                    shared
                };
                for i in 0..25 {
                    let mut img = image(&format!("{t}-{i}"), Some("2024-01-01T00:00:00Z"));
                    // Every thread fights over the same tag, and each has its own.
                    img.tags = vec![
                        (ALPINE.into(), "latest".into()),
                        (ALPINE.into(), format!("t{t}")),
                    ];
                    index.put_image(&img).unwrap();
                    index
                        .tag(&img.id, "docker.io/library/x", &format!("{t}-{i}"))
                        .unwrap();
                    index.list_images(&ListFilter::default()).unwrap();
                }
            });
        }
    });
    let rows = shared.list_images(&ListFilter::default()).unwrap();
    // 150 images; tags: latest + 6 own + 150 x-tags; the other images are dangling.
    let tagged = rows.iter().filter(|r| r.tag.is_some()).count();
    assert_eq!(tagged, 1 + 6 + 150);
    let images: std::collections::HashSet<_> = rows.iter().map(|r| r.image.id.clone()).collect();
    assert_eq!(images.len(), 150);
}

#[test]
fn put_images_records_a_batch_in_order() {
    let (_dir, index) = open();
    let mut a = image("a", Some("2024-01-01T00:00:00Z"));
    a.tags = vec![
        (ALPINE.into(), "latest".into()),
        (ALPINE.into(), "a".into()),
    ];
    let mut b = image("b", Some("2024-02-01T00:00:00Z"));
    // A later image of the batch takes the tag from an earlier one.
    b.tags = vec![(ALPINE.into(), "latest".into())];
    index.put_images(&[a.clone(), b.clone()]).unwrap();
    let rows = index.list_images(&ListFilter::default()).unwrap();
    assert_eq!(
        names(&rows),
        vec![format!("{ALPINE}:latest"), format!("{ALPINE}:a")]
    );
    assert_eq!(rows[0].image.id, b.id);
    assert_eq!(rows[1].image.id, a.id);
    // a kept only the tag nobody took.
    assert_eq!(index.image(&a.id).unwrap().unwrap().tags.len(), 1);
}

#[test]
fn large_and_small_listings_agree() {
    // More images than are read one by one, so the table scans run too.
    let (_dir, index) = open();
    let n = super::images::PER_IMAGE_MAX + 5;
    let batch: Vec<NewImage> = (0..n)
        .map(|i| {
            let mut img = image(&i.to_string(), Some("2024-01-01T00:00:00Z"));
            let name = format!("docker.io/r{}/app", i % 7);
            img.tags = vec![
                (name.clone(), format!("t{i}")),
                (name.clone(), "x".repeat(1 + i % 3)),
            ];
            img.repo_digests = vec![(name, img.target.clone())];
            img.labels.insert("i".into(), i.to_string());
            img
        })
        .collect();
    index.put_images(&batch).unwrap();
    let all = index.list_images(&ListFilter::default()).unwrap();
    // Tags x, xx, xxx move between images: each name keeps its last three.
    assert_eq!(all.len(), n + 7 * 3);
    let position: std::collections::HashMap<&Digest, usize> =
        batch.iter().enumerate().map(|(i, b)| (&b.id, i)).collect();
    let check = |rows: &[ImageRow]| {
        for r in rows {
            let i = position[&r.image.id];
            // Listings leave labels unread; the image itself has them.
            assert!(r.image.labels.is_empty());
            assert_eq!(r.image.id, batch[i].id);
            assert_eq!(r.digest.as_ref(), Some(&batch[i].target));
            assert_eq!(r.repository.as_deref(), Some(batch[i].tags[0].0.as_str()));
            assert!(r.image.tags.contains(&batch[i].tags[0]));
        }
    };
    check(&all);
    let one = index.image(&all[0].image.id).unwrap().unwrap();
    assert_eq!(one.labels.len(), 1);
    // The same rows through the reference paths: many images (a scan) and few (by ID).
    let many = index
        .list_images(&ListFilter {
            reference: vec!["r*/app".into()],
            ..ListFilter::default()
        })
        .unwrap();
    assert_eq!(many, all);
    let few = index
        .list_images(&ListFilter {
            reference: vec!["r3/app:t1*".into()],
            ..ListFilter::default()
        })
        .unwrap();
    check(&few);
    let expected: Vec<&ImageRow> = all
        .iter()
        .filter(|r| r.repository.as_deref() == Some("docker.io/r3/app"))
        .filter(|r| r.tag.as_deref().is_some_and(|t| t.starts_with("t1")))
        .collect();
    assert_eq!(few.iter().collect::<Vec<_>>(), expected);
    assert!(!few.is_empty());
}
