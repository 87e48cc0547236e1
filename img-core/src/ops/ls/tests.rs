//! Tests of img-ls's filters and rendering on a store filled through the index.

use std::collections::BTreeMap;

use super::*;
use crate::Digest;
use crate::index::NewImage;
use crate::store::test_support::seeded_image;

const ALPINE: &str = "docker.io/library/alpine";
const LOCAL: &str = "127.0.0.1:5000/test/multi";

/// An image from `seed`, labelled `seed` and `tier=web`, with a repo digest for each
/// tagged name.
fn put(store: &Store, seed: &str, created: Option<&str>, tags: &[(&str, &str)]) -> Digest {
    let mut labels = BTreeMap::new();
    labels.insert("seed".to_owned(), seed.to_owned());
    labels.insert("tier".to_owned(), "web".to_owned());
    let image = seeded_image(seed, tags);
    let repo_digests = tags
        .iter()
        .map(|(n, _)| (n.to_string(), image.target.clone()))
        .collect();
    store
        .index()
        .put_image(&NewImage {
            created: created.map(str::to_owned),
            labels,
            repo_digests,
            ..image
        })
        .unwrap()
        .id
}

/// a (oldest, alpine:3.19 and alpine:old), b (busybox:1 and the local multi:latest),
/// c (newest, untagged).
fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    put(
        &store,
        "a",
        Some("2024-01-01T00:00:00Z"),
        &[(ALPINE, "3.19"), (ALPINE, "old")],
    );
    put(
        &store,
        "b",
        Some("2024-02-01T00:00:00Z"),
        &[("docker.io/library/busybox", "1"), (LOCAL, "latest")],
    );
    put(&store, "c", Some("2024-03-01T00:00:00Z"), &[]);
    (dir, store)
}

fn names(store: &Store, options: &LsOptions) -> Vec<String> {
    let mut f = RowFormatter::new(false);
    list(store.index(), options)
        .unwrap()
        .iter()
        .map(|r| {
            let r = f.record(r);
            format!("{}:{}", r.repository, r.tag)
        })
        .collect()
}

fn filtered(store: &Store, filters: &[&str]) -> Vec<String> {
    let options = LsOptions {
        filters: filters.iter().map(|s| s.to_string()).collect(),
        ..LsOptions::default()
    };
    names(store, &options)
}

#[test]
fn rows_are_newest_first_in_familiar_form() {
    let (_dir, store) = store();
    assert_eq!(
        filtered(&store, &[]),
        [
            "<none>:<none>",
            "127.0.0.1:5000/test/multi:latest",
            "busybox:1",
            "alpine:3.19",
            "alpine:old"
        ]
    );
}

#[test]
fn each_filter_kind() {
    let (_dir, store) = store();
    assert_eq!(filtered(&store, &["dangling=true"]), ["<none>:<none>"]);
    assert_eq!(filtered(&store, &["dangling=false"]).len(), 4);
    assert_eq!(
        filtered(&store, &["reference=alpine"]),
        ["alpine:3.19", "alpine:old"]
    );
    assert_eq!(filtered(&store, &["reference=*:old"]), ["alpine:old"]);
    assert_eq!(
        filtered(&store, &["reference=127.0.0.1:5000/**"]),
        ["127.0.0.1:5000/test/multi:latest"]
    );
    assert!(filtered(&store, &["reference=127.0.0.1:5000/*"]).is_empty());
    assert_eq!(
        filtered(&store, &["before=busybox:1"]),
        ["alpine:3.19", "alpine:old"]
    );
    assert_eq!(filtered(&store, &["since=busybox:1"]), ["<none>:<none>"]);
    assert_eq!(filtered(&store, &["label=seed=b"]).len(), 2);
    assert_eq!(filtered(&store, &["label=tier"]).len(), 5);
    assert!(filtered(&store, &["label=nope"]).is_empty());
}

#[test]
fn repeated_filters_combine_as_docker_does() {
    let (_dir, store) = store();
    // reference: any; label: all; before/since: the tightest.
    assert_eq!(
        filtered(&store, &["reference=busybox", "reference=alpine:old"]),
        ["busybox:1", "alpine:old"]
    );
    assert_eq!(
        filtered(&store, &["label=tier=web", "label=seed=a"]).len(),
        2
    );
    assert!(filtered(&store, &["label=seed=a", "label=seed=b"]).is_empty());
    let c = Digest::sha256_of(b"c").hex()[..12].to_owned();
    assert_eq!(
        filtered(&store, &[&format!("before={c}"), "before=busybox:1"]),
        ["alpine:3.19", "alpine:old"]
    );
    assert_eq!(
        filtered(&store, &["since=alpine:old", "since=busybox:1"]),
        ["<none>:<none>"]
    );
    // Different kinds: all must match.
    assert_eq!(
        filtered(&store, &["dangling=false", "since=alpine:old"]),
        ["127.0.0.1:5000/test/multi:latest", "busybox:1"]
    );
    assert_eq!(filtered(&store, &["dangling=true", "dangling=1"]).len(), 1);
}

#[test]
fn the_argument_filters_by_repository_and_tag() {
    let (_dir, store) = store();
    let arg = |r: &str| {
        names(
            &store,
            &LsOptions {
                reference: Some(r.into()),
                ..LsOptions::default()
            },
        )
    };
    assert_eq!(arg("alpine"), ["alpine:3.19", "alpine:old"]);
    assert_eq!(arg("library/alpine:old"), ["alpine:old"]);
    assert_eq!(arg("docker.io/library/alpine:3.19"), ["alpine:3.19"]);
    assert_eq!(
        arg("127.0.0.1:5000/test/multi"),
        ["127.0.0.1:5000/test/multi:latest"]
    );
    assert_eq!(arg("busy*"), ["busybox:1"]);
    assert!(arg("alpine:nope").is_empty());
    let target = Digest::sha256_of(b"ma");
    assert_eq!(arg(&format!("alpine@{target}")).len(), 2);
    let err = list(
        store.index(),
        &LsOptions {
            reference: Some("Alpine".into()),
            ..LsOptions::default()
        },
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidReference);
    assert_eq!(
        argument_pattern("[::1]:5000/a").unwrap(),
        "\\[::1\\]:5000/a"
    );
}

#[test]
fn bad_filters_are_invalid_filters_naming_the_problem() {
    let (_dir, store) = store();
    let err = |f: &str| parse_filters(store.index(), &[f.to_owned()]).unwrap_err();
    let e = err("color=red");
    assert_eq!(e.kind(), ErrorKind::InvalidFilter);
    assert_eq!(e.exit_code(), 1);
    assert_eq!(
        e.to_string(),
        "invalid filter 'color': valid filters are before, dangling, label, reference, since, until"
    );
    assert_eq!(err("dangling").kind(), ErrorKind::Usage);
    assert!(err("dangling").to_string().contains("KEY=VALUE"));
    assert_eq!(err("dangling=maybe").kind(), ErrorKind::InvalidFilter);
    assert_eq!(err("label=").kind(), ErrorKind::InvalidFilter);
    assert_eq!(err("until=soon").kind(), ErrorKind::InvalidFilter);
    assert_eq!(err("reference=[a").kind(), ErrorKind::Usage);
    // Both given: `true` wins, as in docker 20.10's daemon; values are exact words.
    let both = parse_filters(
        store.index(),
        &[
            "dangling=false".into(),
            "dangling=true".into(),
            "dangling=false".into(),
        ],
    )
    .unwrap();
    assert_eq!(both.dangling, Some(true));
    assert_eq!(err("dangling=TRUE").kind(), ErrorKind::InvalidFilter);
    let e = err("before=nothere:1");
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(
        e.to_string(),
        "filter \"before=nothere:1\": no such image: nothere:1"
    );
    // Keys are case-insensitive and trimmed, as docker reads them.
    assert!(parse_filters(store.index(), &[" Dangling = true".into()]).is_ok());
}

#[test]
fn records_render_as_docker_prints_them() {
    let (_dir, store) = store();
    let rows = list(store.index(), &LsOptions::default()).unwrap();
    let now: jiff::Timestamp = "2024-03-15T00:00:00Z".parse().unwrap();
    let b = &rows[1];
    let r = RowFormatter::at(false, now).record(b);
    assert_eq!(r.id, Digest::sha256_of(b"b").hex()[..12]);
    assert_eq!(r.repository, "127.0.0.1:5000/test/multi");
    assert_eq!(r.tag, "latest");
    assert_eq!(r.digest, Digest::sha256_of(b"mb").to_string());
    assert_eq!(r.created_at, "2024-02-01 00:00:00 +0000 UTC");
    assert_eq!(r.created_since, "6 weeks ago");
    assert_eq!(r.size, "0B");
    let full = RowFormatter::at(true, now).record(b);
    assert_eq!(full.id, Digest::sha256_of(b"b").to_string());
    let none = RowFormatter::at(false, now).record(&rows[0]);
    assert_eq!(
        (
            none.repository.as_str(),
            none.tag.as_str(),
            none.digest.as_str()
        ),
        (NONE, NONE, NONE)
    );
    let v = RowFormatter::at(false, now).value(b);
    assert_eq!(v["Containers"], "N/A");
    assert_eq!(v["VirtualSize"], "0B");
}

/// Regression (CI, stop 19): a podman image created at `…:05.9Z` was "6 seconds ago" to
/// img and "7 seconds ago" to docker, whose image list counts from whole seconds.
#[test]
fn ages_count_from_the_whole_second_as_docker_does() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    put(
        &store,
        "f",
        Some("2024-03-15T00:00:05.900Z"),
        &[("test/f", "1")],
    );
    let rows = list(store.index(), &LsOptions::default()).unwrap();
    let now: jiff::Timestamp = "2024-03-15T00:00:12.100Z".parse().unwrap();
    let r = RowFormatter::at(false, now).record(&rows[0]);
    assert_eq!(r.created_since, "7 seconds ago");
    assert_eq!(r.created_at, "2024-03-15 00:00:05 +0000 UTC");
}

fn run(store: &Store, options: LsOptions, terminal: bool) -> String {
    let mut out = Vec::new();
    ls(store, &options, terminal, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn output_forms() {
    let (_dir, store) = store();
    let table = run(&store, LsOptions::default(), true);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 6);
    assert!(
        lines[0].starts_with("REPOSITORY                  TAG       IMAGE ID       CREATED"),
        "{table}"
    );
    assert!(lines[0].ends_with("SIZE"), "{table}");
    let digests = run(
        &store,
        LsOptions {
            digests: true,
            ..LsOptions::default()
        },
        true,
    );
    assert!(
        digests.lines().next().unwrap().contains("TAG       DIGEST"),
        "{digests}"
    );

    let json = run(&store, LsOptions::default(), false);
    let records: Vec<RowRecord> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 5);
    assert_eq!(records[2].repository, "busybox");

    let quiet = run(
        &store,
        LsOptions {
            quiet: true,
            ..LsOptions::default()
        },
        false,
    );
    assert_eq!(quiet.lines().count(), 3, "{quiet}");
    assert!(quiet.lines().all(|l| l.len() == 12));

    let template = run(
        &store,
        LsOptions {
            format: Some("{{.Repository}}:{{.Tag}}".into()),
            filters: vec!["reference=alpine".into()],
            ..LsOptions::default()
        },
        false,
    );
    assert_eq!(template, "alpine:3.19\nalpine:old\n");
}

#[test]
fn an_empty_store_prints_a_header_on_a_terminal_and_nothing_in_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(run(&store, LsOptions::default(), false), "");
    assert_eq!(
        run(&store, LsOptions::default(), true),
        "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n"
    );
}

#[test]
fn until_reads_dockers_durations_and_times() {
    let now: jiff::Timestamp = "2024-07-22T12:00:00Z".parse().unwrap();
    let at = |v: &str| super::parse_until(v, now).map(|t| t.to_string());
    assert_eq!(at("10m").as_deref(), Some("2024-07-22T11:50:00Z"));
    assert_eq!(at("1h30m").as_deref(), Some("2024-07-22T10:30:00Z"));
    assert_eq!(
        at("2024-07-01T00:00:00Z").as_deref(),
        Some("2024-07-01T00:00:00Z")
    );
    assert_eq!(at("1700000000").as_deref(), Some("2023-11-14T22:13:20Z"));
    assert_eq!(
        at("1700000000.5").as_deref(),
        Some("2023-11-14T22:13:20.5Z")
    );
    assert!(at("2024-07-01").is_some());
    assert_eq!(at("soon"), None);
    assert_eq!(at("10d"), None);
}

#[test]
fn dangling_false_keeps_an_untagged_image_with_a_repo_digest() {
    // docker drops with dangling=false only the images with neither tag nor digest.
    let (_dir, store) = store();
    let image = seeded_image("d", &[]);
    let repo_digests = vec![(ALPINE.to_owned(), image.target.clone())];
    store
        .index()
        .put_image(&NewImage {
            repo_digests,
            ..image
        })
        .unwrap();
    let kept = filtered(&store, &["dangling=false"]);
    assert_eq!(kept.len(), 5, "{kept:?}");
    assert!(kept.contains(&"alpine:<none>".to_owned()), "{kept:?}");
    assert_eq!(filtered(&store, &["dangling=true"]).len(), 2);
}

#[test]
fn until_keeps_what_was_created_before() {
    let (_dir, store) = store();
    assert_eq!(
        filtered(&store, &["until=2024-01-15T00:00:00Z"]),
        ["alpine:3.19", "alpine:old"]
    );
}
