//! `img-rm --prune --dry-run` on stores filled by real pulls (issue 18): the prune's
//! records marked `DryRun`, the bytes the prune right after it frees, and no change.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use img_core::testing::Fixture;
use serde_json::Value;

const ALPINE: &str = "test/alpine-like:latest";
const MULTI: &str = "test/multi:latest";

/// Every file under `root` with the digest of its bytes, but SQLite's shared-memory WAL index, which
/// every reader writes (its read marks) and which holds no data.
fn files(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.strip_prefix(root).unwrap().display().to_string();
            if path.is_dir() {
                stack.push(path);
                out.insert(name + "/", String::new());
            } else if name != "index.db-shm" {
                let bytes = std::fs::read(&path).unwrap();
                out.insert(name, img_core::Digest::sha256_of(&bytes).to_string());
            }
        }
    }
    out
}

/// The records of a dry run with the `DryRun` marks checked and taken off.
fn unmarked(records: Vec<Value>) -> Vec<Value> {
    records
        .into_iter()
        .map(|mut r| {
            let map = r.as_object_mut().unwrap();
            assert_eq!(map.remove("DryRun"), Some(Value::Bool(true)), "{map:?}");
            r
        })
        .collect()
}

#[test]
fn dry_run_prints_the_prunes_records_and_bytes_and_changes_nothing() {
    let f = Fixture::new().expect("starting the test registry");
    f.pull(ALPINE).unwrap();
    f.pull_all_platforms(MULTI).unwrap();
    // A partial download a killed pull left: the prune removes it, so it counts.
    std::fs::write(
        f.root()
            .join("ingest/sha256-".to_owned() + &"ab".repeat(32)),
        vec![7; 1234],
    )
    .unwrap();
    let before = files(&f.root());

    // Nothing is dangling: only the partial would go.
    let dry = rm(&f, &["--prune", "--dry-run"], None).ok();
    assert_eq!(
        dry,
        vec![serde_json::json!({"SpaceReclaimed": 1234, "DryRun": true})]
    );

    // -a never asks in a dry run (no terminal, no -f), and changes nothing.
    let dry_all = unmarked(rm(&f, &["--prune", "--dry-run", "-a"], None).ok());
    let dry_label = unmarked(
        rm(
            &f,
            &[
                "--prune",
                "--dry-run",
                "-a",
                "--filter",
                "label=org.opencontainers.image.title=test/alpine-like",
            ],
            None,
        )
        .ok(),
    );
    let after = files(&f.root());
    let changed: Vec<&String> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        // A reader of a WAL database makes an empty WAL when there is none, and the
        // last connection to close removes an empty one: absent or empty, no data.
        .filter(|k| {
            let empty = img_core::Digest::sha256_of(b"").to_string();
            let no_data = |v: Option<&String>| v.is_none_or(|v| *v == empty);
            !(k.as_str() == "index.db-wal" && no_data(before.get(*k)) && no_data(after.get(*k)))
        })
        .collect();
    assert!(
        changed.is_empty(),
        "the dry runs changed {:?}",
        changed
            .iter()
            .map(|k| (k, before.get(*k), after.get(*k)))
            .collect::<Vec<_>>()
    );
    // (Opened for writing, a store may tidy its WAL away: that comes after the comparison.)
    assert!(f.store().unwrap().check().problems.is_empty());

    // The terminal shows what would go and the estimate.
    let shown = f.on_terminal(
        env!("CARGO_BIN_EXE_img-rm"),
        &["--prune", "--dry-run", "-a"],
    );
    let alpine = image(&f, ALPINE);
    assert!(
        shown.contains(&format!("Would delete: {}", alpine.id)),
        "{shown}"
    );
    assert!(shown.contains("Would untag: "), "{shown}");
    assert!(shown.contains("Estimated reclaimable space: "), "{shown}");
    assert!(!shown.contains("Are you sure"), "{shown}");

    // The label prune right after frees what its dry run said, with the same records.
    let real_label = rm(
        &f,
        &[
            "--prune",
            "-a",
            "-f",
            "--filter",
            "label=org.opencontainers.image.title=test/alpine-like",
        ],
        None,
    )
    .ok();
    assert_eq!(real_label, dry_label);
    assert!(real_label.contains(&deleted(&alpine.id)), "{real_label:?}");
    // The dry run of -a was made before: what is left of it is the multi-platform image,
    // whose bytes the next dry run and prune agree on.
    assert!(dry_all.contains(&deleted(&alpine.id)), "{dry_all:?}");
    let dry_rest = unmarked(rm(&f, &["--prune", "--dry-run", "-a"], None).ok());
    let real_rest = rm(&f, &["--prune", "-a", "-f"], None).ok();
    assert_eq!(real_rest, dry_rest);
    let freed = real_rest.last().unwrap()["SpaceReclaimed"]
        .as_u64()
        .unwrap();
    assert!(freed > 0, "{real_rest:?}");
    assert_eq!(
        rm(&f, &["--prune", "--dry-run", "-a"], None).ok(),
        vec![serde_json::json!({"SpaceReclaimed": 0, "DryRun": true})]
    );
}

#[test]
fn dry_run_goes_only_with_prune() {
    let f = Fixture::new().expect("starting the test registry");
    let run = rm(&f, &["--dry-run", "alpine"], None).failure(2, 1);
    assert!(run.stderr.contains("go with --prune"), "{}", run.stderr);
}
