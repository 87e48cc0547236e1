//! Regression (issue 9, failure 7): img-ls as another user on a store root owns failed
//! with `attempt to write a readonly database`. A reading command must work on a store it
//! may only read — while a writer has the index open (its `-wal` and `-shm` exist) and
//! when none has (SQLite removed them, and this user cannot create them) — and a writing
//! command must say plainly that the store is not writable, changing nothing.

use img_core::testing::second_user::{as_nobody, can_switch_user, open_to_others};
use img_core::testing::{Fixture, run};

const BIN: &str = env!("CARGO_BIN_EXE_img-ls");

#[test]
fn a_store_this_user_may_only_read_is_listed_with_or_without_a_writer() {
    assert!(
        can_switch_user(),
        "running a tool as a second user needs root (cargo xtask ci skips this test when not root)"
    );
    let f = Fixture::new().expect("starting the test registry (needs docker-registry)");
    let pulled = f.pull("test/alpine-like:latest").unwrap().record;
    open_to_others(&f.root());
    let short = &pulled.id.hex()[..12];
    let index = f.root().join("index.db");

    // No writer: the last one to close removed -wal and -shm, and nobody cannot make them.
    assert!(
        !f.root().join("index.db-wal").exists(),
        "SQLite removes the WAL when the last connection closes"
    );
    let out = run(as_nobody(&mut f.command(BIN)).args(["-q"]), None).success();
    assert_eq!(out.stdout.trim(), short, "{out:?}");
    assert!(out.stderr.is_empty(), "{}", out.stderr);

    // A writer holding the index open, with a write in its WAL that the reader must see.
    let store = f.store().unwrap();
    store
        .index()
        .tag(&pulled.id, &f.reference("test/alpine-like"), "second")
        .unwrap();
    assert!(f.root().join("index.db-wal").exists());
    let out = run(
        as_nobody(&mut f.command(BIN)).args(["--format", "{{.Tag}}"]),
        None,
    )
    .success();
    let mut tags: Vec<&str> = out.stdout.lines().collect();
    tags.sort();
    assert_eq!(tags, ["latest", "second"], "{out:?}");
    drop(store);

    // Reading wrote nothing: no file of nobody's anywhere in the store.
    for entry in walk(&f.root()) {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::symlink_metadata(&entry).unwrap();
        assert_eq!(meta.uid(), 0, "{} belongs to the reader", entry.display());
    }
    assert!(index.is_file());
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}
