//! Regression (issue 9, failure 5): after "no space left on device" the error advises
//! `img-rm --prune`, but prune itself failed (`database or disk is full`: it deleted
//! index rows first) and kept the failed pull's partials (younger than a day). Now prune
//! first removes what needs no index write — partials nobody holds and blob files without
//! a row — and then deletes rows and their files as before.

mod common;

use std::process::Command;

use common::*;
use img_core::store::Store;
use img_core::testing::small_disk::run_on_small_disk;
use img_core::testing::{Fixture, Run, verify_store};

#[test]
fn prune_works_on_a_full_disk_and_frees_the_failed_pulls_partials() {
    let f = Fixture::new().expect("starting the test registry (needs docker-registry)");
    // A tagged image to keep and a dangling one to prune (its deletion is an index write).
    f.pull("test/alpine-like:latest").unwrap();
    f.pull("test/oci-zstd:1").unwrap();
    let dangling = image(&f, "test/oci-zstd:1");
    let oci = img_core::Reference::parse_normalized(&f.reference("test/oci-zstd:1")).unwrap();
    f.store().unwrap().index().untag(&oci.name(), "1").unwrap();
    let prepared = f.dir().join("prepared");
    copy_dir(&f.root(), &prepared);
    let out = f.dir().join("out");
    std::fs::create_dir_all(out.join("store")).unwrap();

    // In a private mount namespace: a 2 MiB tmpfs as the store, the prepared store copied
    // in, the rest filled by a partial download (what a pull that met ENOSPC leaves), then
    // img-rm --prune on the full disk. The store is copied out before the namespace ends.
    let rm_cmd = f.command(env!("CARGO_BIN_EXE_img-rm"));
    let partial = format!(
        "ingest/sha256-{}",
        img_core::Digest::sha256_of(b"a failed pull").hex()
    );
    run_on_small_disk(
        &rm_cmd,
        "2m",
        r#"cp -a "$1/." "$IMG_ROOT/" || exit 98
dd if=/dev/zero of="$IMG_ROOT/$2" bs=4k 2>/dev/null
df -k "$IMG_ROOT" | tail -1 | awk '{print $4}' > "$3/free-before"
"$0" --prune > "$3/stdout" 2> "$3/stderr"; echo $? > "$3/code"
df -k "$IMG_ROOT" | tail -1 | awk '{print $4}' > "$3/free-after"
cp -a "$IMG_ROOT/." "$3/store/""#,
        &[prepared.as_os_str(), partial.as_ref(), out.as_os_str()],
    );
    let read = |n: &str| std::fs::read_to_string(out.join(n)).unwrap();
    let free_before: u64 = read("free-before").trim().parse().unwrap();
    assert!(free_before < 8, "the disk was full: {free_before} KiB free");
    let run = Run {
        code: read("code").trim().parse().unwrap(),
        stdout: read("stdout"),
        stderr: read("stderr"),
        tool: "img-rm".into(),
    }
    .success();
    let records = run.records::<serde_json::Value>();
    let reclaimed = records.last().unwrap()["SpaceReclaimed"].as_u64().unwrap();
    assert!(reclaimed > 1024 * 1024, "{records:?}");
    assert!(records.contains(&deleted(&dangling.id)), "{records:?}");
    let free_after: u64 = read("free-after").trim().parse().unwrap();
    assert!(free_after > 1024, "space came back: {free_after} KiB free");
    let store = out.join("store");
    assert!(!store.join(&partial).exists(), "the partial is gone");
    let s = Store::open(&store).unwrap();
    let images = s.index().list_images(&Default::default()).unwrap();
    assert_eq!(images.len(), 1, "the tagged image stays: {images:?}");
    verify_store(&store);
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}
