//! Archives of more blobs than a process may hold files open: a load stages every blob
//! until it commits, and must not need an open file (a lock) for each of them. Also what
//! staging many blobs means for GC: a live load's staged blobs survive `img-rm --prune`'s
//! collection, and a killed load leaves only what a collection removes.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use common::{add_file, fresh_root, pack, pack_with_nofile, run_with};
use img_core::digest::Digest;

/// How many layers the big archive has: well past [`NOFILE`].
const LAYERS: usize = 300;
/// The open-file limit the load runs under (1024 is common; 128 keeps the test small).
const NOFILE: u32 = 128;

/// A legacy archive (manifest.json, `<n>/layer.tar`) of one image of `layers` small
/// layers, each a tar of one distinct file.
fn many_layers(layers: usize) -> Vec<u8> {
    let mut archive = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| add_file(&mut archive, name, data);
    let mut diff_ids = Vec::new();
    let mut paths = Vec::new();
    for i in 0..layers {
        let mut layer = tar::Builder::new(Vec::new());
        add_file(
            &mut layer,
            &format!("file-{i}"),
            format!("layer {i}\n").as_bytes(),
        );
        let layer = layer.into_inner().unwrap();
        diff_ids.push(format!("\"{}\"", Digest::sha256_of(&layer)));
        let path = format!("{i}/layer.tar");
        add(&path, &layer);
        paths.push(format!("\"{path}\""));
    }
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":[{}]}}}}"#,
        diff_ids.join(",")
    );
    add("config.json", config.as_bytes());
    let manifest = format!(
        r#"[{{"Config":"config.json","RepoTags":["many:1"],"Layers":[{}]}}]"#,
        paths.join(",")
    );
    add("manifest.json", manifest.as_bytes());
    archive.into_inner().unwrap()
}

/// The names in `root`'s `ingest/`.
fn ingest_files(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root.join("ingest"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn an_archive_of_more_blobs_than_open_files_allowed_loads() {
    let dir = tempfile::tempdir().unwrap();
    let root = fresh_root(dir.path(), "store");
    let file = dir.path().join("many.tar");
    std::fs::write(&file, many_layers(LAYERS)).unwrap();
    let mut cmd = pack_with_nofile(&root, NOFILE);
    cmd.args(["load", "-i", file.to_str().unwrap()]);
    let r = run_with(cmd, Stdio::null()).success().record();
    assert_eq!(r.repo_tags, ["many:1"]);
    let store = img_core::Store::open(&root).unwrap();
    // The layers, the config and the manifest written for them.
    assert_eq!(store.index().blobs().unwrap().len(), LAYERS + 2);
    img_core::testing::verify_store(&root);
    assert_eq!(ingest_files(&root), Vec::<String>::new());
}

/// Starts `img-pack load` reading `archive` from a pipe, writes the first `head` bytes,
/// and waits until the load has staged at least `staged` partials (at most 30 s: then the
/// load is killed, and the caller's checks fail on what it did not stage).
fn load_half_way(root: &Path, archive: &[u8], head: usize, staged: usize) -> std::process::Child {
    let mut child = pack(root)
        .arg("load")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running img-pack load");
    // A failed write shows as the partials that never come.
    let _ = child.stdin.as_mut().map(|i| i.write_all(&archive[..head]));
    let started = std::time::Instant::now();
    while partials(root) < staged {
        if started.elapsed() > std::time::Duration::from_secs(30) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child
}

/// How many partials (not lock files) `root`'s `ingest/` holds.
fn partials(root: &Path) -> usize {
    ingest_files(root)
        .iter()
        .filter(|n| !n.ends_with(".lock"))
        .count()
}

fn prune(root: &Path) -> img_core::store::GcReport {
    img_core::Store::open(root)
        .unwrap()
        .gc_with(&img_core::store::GcOptions::prune())
        .unwrap()
}

#[test]
fn a_live_loads_staged_blobs_survive_prune_and_a_killed_loads_do_not() {
    let archive = many_layers(LAYERS);
    let dir = tempfile::tempdir().unwrap();

    // Live: the load has staged at least 100 blobs (one lock for all of them) when a
    // prune collects every partial nobody holds; none of the load's go, and it completes.
    let root = fresh_root(dir.path(), "live");
    let mut child = load_half_way(&root, &archive, archive.len() / 2, 100);
    let before = ingest_files(&root);
    assert!(partials(&root) >= 100, "{before:?}");
    let report = prune(&root);
    assert_eq!(report.ingests_removed, 0, "{report:?}");
    let after = ingest_files(&root);
    assert!(
        before.iter().all(|n| after.contains(n)),
        "prune removed {:?}",
        before
            .iter()
            .filter(|n| !after.contains(n))
            .collect::<Vec<_>>()
    );
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&archive[archive.len() / 2..])
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    img_core::testing::verify_store(&root);
    assert_eq!(ingest_files(&root), Vec::<String>::new());

    // Killed: what it staged stays until a collection, which removes all of it (the
    // partials and the session's lock file), and the store has no image nor blob.
    let root = fresh_root(dir.path(), "killed");
    let mut child = load_half_way(&root, &archive, archive.len() / 2, 100);
    child.kill().unwrap();
    child.wait().unwrap();
    let left = ingest_files(&root);
    assert!(left.len() > 100, "{left:?}");
    let report = prune(&root);
    assert!(report.ingests_removed >= 100, "{report:?}");
    assert_eq!(ingest_files(&root), Vec::<String>::new());
    common::assert_untouched(&root);
}
