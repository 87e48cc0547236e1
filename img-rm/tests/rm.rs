//! img-rm run as a binary on stores filled by real pulls: untag and delete, docker's
//! refusals and `-f`, images in use, `--prune`, `--no-prune`, and records on stdin.

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use img_core::testing::Fixture;
use serde_json::json;

const ALPINE: &str = "test/alpine-like:latest";
const OCI: &str = "test/oci-zstd:1";
const MULTI: &str = "test/multi:latest";

fn fixture() -> Fixture {
    Fixture::new().expect("starting the test registry (needs the docker-registry package)")
}

#[test]
fn a_tag_goes_then_the_last_one_takes_the_image_and_its_blobs() {
    let f = fixture();
    let pulled = f.pull(ALPINE).unwrap();
    tag(&f, &f.reference(ALPINE), "mine/a:1");
    let img = image(&f, ALPINE);
    let store = f.store().unwrap();
    let blobs = store.index().image_blobs(&img.id).unwrap();
    assert!(blobs.len() >= 4, "config, manifest, two layers: {blobs:?}");

    assert_eq!(rm(&f, &["mine/a:1"], None).ok(), [untagged("mine/a:1")]);
    assert_files(&store, &blobs, true);
    assert_eq!(store.index().image(&img.id).unwrap().unwrap().tags.len(), 1);

    // Without a tag: `:latest`, as docker reads it.
    let name = f.reference("test/alpine-like");
    let out = rm(&f, &[&name], None).ok();
    assert_eq!(
        out,
        [
            untagged(&format!("{name}:latest")),
            untagged(&format!("{name}@{}", pulled.record.digest)),
            deleted(&img.id),
        ]
    );
    assert_eq!(store.index().image(&img.id).unwrap(), None);
    assert_files(&store, &blobs, false);
    assert!(store.index().blobs().unwrap().is_empty());

    let again = rm(&f, &[&name], None);
    assert_eq!(again.code, 1);
    assert_eq!(again.stdout, "");
    assert_eq!(
        again.stderr,
        format!("img-rm: {name:?}: no such image: {name}:latest\n")
    );
}

#[test]
fn by_id_several_references_are_refused_unless_forced() {
    let f = fixture();
    f.pull(ALPINE).unwrap();
    tag(&f, &f.reference(ALPINE), "mine/a:1");
    let img = image(&f, ALPINE);
    let id = short(&img.id);

    let refused = rm(&f, &[&id], None);
    assert_eq!(refused.code, 1);
    assert_eq!(refused.stdout, "");
    assert_eq!(
        refused.stderr,
        format!(
            "img-rm: {id:?}: conflict: unable to delete {id} (must be forced) - image is \
             referenced in multiple repositories\n"
        )
    );
    assert!(f.store().unwrap().index().image(&img.id).unwrap().is_some());

    let name = f.reference("test/alpine-like");
    let out = rm(&f, &["-f", &id], None).ok();
    assert_eq!(
        out,
        [
            untagged(&format!("{name}:latest")),
            untagged("mine/a:1"),
            untagged(&format!("{name}@{}", img.target)),
            deleted(&img.id),
        ]
    );

    // One tag and its repository's digest: by ID it all goes, unforced (docker).
    f.pull(OCI).unwrap();
    let oci = image(&f, OCI);
    let out = rm(&f, &[&oci.id.to_string()], None).ok();
    assert_eq!(out.len(), 3, "{out:?}");
    assert_eq!(out[2], deleted(&oci.id));
}

#[test]
fn an_image_in_use_is_refused_naming_its_holder_and_forced_keeps_leased_blobs() {
    let f = fixture();
    f.pull(ALPINE).unwrap();
    let img = image(&f, ALPINE);
    let store = f.store().unwrap();
    let blobs = store.index().image_blobs(&img.id).unwrap();
    // What a save streaming the image would hold.
    let lease = store.lease("saving test/alpine-like").unwrap();
    lease.protect(&img.target).unwrap();
    for d in &blobs {
        lease.protect(d).unwrap();
    }
    let name = f.reference(ALPINE);
    let pid = std::process::id();

    let refused = rm(&f, &[&name], None);
    assert_eq!(refused.code, 1);
    assert_eq!(
        refused.stderr,
        format!(
            "img-rm: {name:?}: conflict: unable to remove repository reference {name:?} (must \
             force) - image {} is in use by saving test/alpine-like (pid {pid})\n",
            short(&img.id)
        )
    );
    let refused = rm(&f, &[&short(&img.id)], None);
    assert!(
        refused
            .stderr
            .contains("image is in use by saving test/alpine-like"),
        "{}",
        refused.stderr
    );
    assert!(store.index().image(&img.id).unwrap().is_some());

    // Forced: the image's row goes, its blobs stay while the lease holds them.
    let out = rm(&f, &["-f", &name], None).ok();
    assert_eq!(out.last(), Some(&deleted(&img.id)));
    assert_eq!(store.index().image(&img.id).unwrap(), None);
    assert_files(&store, &blobs, true);

    lease.release().unwrap();
    let pruned = rm(&f, &["--prune"], None).ok();
    assert!(
        pruned.last().unwrap()["SpaceReclaimed"].as_u64().unwrap() > 0,
        "{pruned:?}"
    );
    assert_files(&store, &blobs, false);
}

#[test]
fn prune_removes_dangling_images_orphans_and_every_unheld_partial_and_reports_the_bytes() {
    let f = fixture();
    f.pull(ALPINE).unwrap();
    f.pull(OCI).unwrap();
    let oci = image(&f, OCI);
    let store = f.store().unwrap();
    let oci_blobs = store.index().image_blobs(&oci.id).unwrap();
    let oci_bytes: u64 = oci_blobs
        .iter()
        .map(|d| store.index().blob(d).unwrap().unwrap().size)
        .sum();
    // Moving its tag leaves the OCI image dangling (its repo digest does not count).
    tag(&f, &f.reference(ALPINE), &f.reference(OCI));
    // A blob file without a row (a commit killed half-way), and a day-old partial.
    let orphan = img_core::Digest::sha256_of(b"orphan blob");
    std::fs::write(store.blob_path(&orphan), b"orphan blob").unwrap();
    let partial = f.root().join(format!(
        "ingest/sha256-{}",
        img_core::Digest::sha256_of(b"p").hex()
    ));
    let file = std::fs::File::create(&partial).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(2 * 24 * 3600))
        .unwrap();
    drop(file);
    // A fresh partial goes too (issue 9: a person asking to reclaim space gets every
    // partial back that no process holds; only automatic collection keeps young ones).
    let fresh = f.root().join(format!(
        "ingest/sha256-{}",
        img_core::Digest::sha256_of(b"q").hex()
    ));
    std::fs::write(&fresh, b"resume me").unwrap();
    // One that a running ingest holds stays.
    let held_digest = img_core::Digest::sha256_of(b"held partial");
    let img_core::store::Ingest::Writer(mut held) = store.ingest(&held_digest, None).unwrap()
    else {
        panic!("nothing is committed under {held_digest}")
    };
    std::io::Write::write_all(&mut held, b"held").unwrap();
    let held_path = f
        .root()
        .join(format!("ingest/sha256-{}", held_digest.hex()));

    let out = rm(&f, &["--prune"], None).ok();
    assert_eq!(
        out,
        [
            untagged(&format!("{}@{}", f.reference("test/oci-zstd"), oci.target)),
            deleted(&oci.id),
            json!({ "SpaceReclaimed": oci_bytes + 11 + 9 }),
        ]
    );
    assert_files(&store, &oci_blobs, false);
    assert!(!store.blob_path(&orphan).exists());
    assert!(!partial.exists());
    assert!(!fresh.exists());
    assert!(held_path.exists(), "a partial a process holds stays");
    drop(held);
    // The tagged image is whole.
    let alpine = image(&f, ALPINE);
    let blobs = store.index().image_blobs(&alpine.id).unwrap();
    assert_files(&store, &blobs, true);
    // Released, the held partial is garbage like the others; then nothing is left.
    assert_eq!(
        rm(&f, &["--prune"], None).ok(),
        [json!({ "SpaceReclaimed": 4 })]
    );
    assert!(!held_path.exists());
    assert_eq!(
        rm(&f, &["--prune"], None).ok(),
        [json!({ "SpaceReclaimed": 0 })]
    );
}

#[test]
fn no_prune_keeps_the_blobs_for_the_next_collection() {
    let f = fixture();
    f.pull(OCI).unwrap();
    let oci = image(&f, OCI);
    let store = f.store().unwrap();
    let blobs = store.index().image_blobs(&oci.id).unwrap();
    let out = rm(&f, &["--no-prune", &f.reference(OCI)], None).ok();
    assert_eq!(out.last(), Some(&deleted(&oci.id)));
    assert_files(&store, &blobs, true);
    let out = rm(&f, &["--prune"], None).ok();
    assert_eq!(out.len(), 1, "no image left to delete: {out:?}");
    assert!(out[0]["SpaceReclaimed"].as_u64().unwrap() > 0);
    assert_files(&store, &blobs, false);
}

#[test]
fn records_on_stdin_untag_exactly_their_tags_and_ids_delete_images() {
    let f = fixture();
    f.pull(ALPINE).unwrap();
    f.pull(OCI).unwrap();
    let multi = f.pull(MULTI).unwrap();
    f.pull("test/big:latest").unwrap();
    let src = f.reference(ALPINE);
    for t in ["old/a:1", "old/b:2", "keep/c:3"] {
        tag(&f, &src, t);
    }
    let alpine = image(&f, ALPINE);
    let oci = image(&f, OCI);
    let big = image(&f, "test/big:latest");
    // Both dangling: their tags moved to the alpine image.
    tag(&f, &src, &f.reference(OCI));
    tag(&f, &src, &f.reference("test/big:latest"));

    // img-ls rows (as `img-ls -f reference='old/*'` prints them), then a <none> row, a
    // plain ID line (`img-ls -q`), an img-pull record, and two bad items.
    let row = |id: &str, repo: &str, tag: &str| {
        json!({"ID": id, "Repository": repo, "Tag": tag, "Digest": "<none>",
               "CreatedAt": "2024-01-01 00:00:00 +0000 UTC", "CreatedSince": "2 years ago",
               "Size": "100kB"})
        .to_string()
    };
    let input = [
        row(&short(&alpine.id), "old/a", "1"),
        row(&short(&alpine.id), "old/b", "2"),
        row(&short(&oci.id), &f.reference("test/oci-zstd"), "<none>"),
        short(&big.id),
        serde_json::to_string(&multi.record).unwrap(),
        "nope:1".to_owned(),
        r#"{"Foo": 1}"#.to_owned(),
    ]
    .join("\n");
    let run = rm(&f, &[], Some(&input));
    assert_eq!(run.code, 1, "two bad items: {}", run.stderr);
    let stderr: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(stderr.len(), 2, "{stderr:?}");
    assert_eq!(stderr[0], r#"img-rm: "nope:1": no such image: nope:1"#);
    assert!(
        stderr[1].starts_with(r#"img-rm: "stdin": line 7: JSON object has none of the keys"#),
        "{}",
        stderr[1]
    );
    let multi_name = f.reference("test/multi");
    assert_eq!(
        run.records::<serde_json::Value>(),
        [
            untagged("old/a:1"),
            untagged("old/b:2"),
            untagged(&format!("{}@{}", f.reference("test/oci-zstd"), oci.target)),
            deleted(&oci.id),
            untagged(&format!("{}@{}", f.reference("test/big"), big.target)),
            deleted(&big.id),
            untagged(&format!("{multi_name}:latest")),
            untagged(&format!("{multi_name}@{}", multi.record.digest)),
            deleted(&multi.record.id),
        ]
    );
    let left = f
        .store()
        .unwrap()
        .index()
        .image(&alpine.id)
        .unwrap()
        .unwrap();
    let mut tags: Vec<String> = left.tags.iter().map(|(n, t)| format!("{n}:{t}")).collect();
    tags.sort();
    assert_eq!(tags.len(), 4, "{tags:?}");
    assert!(tags.contains(&"docker.io/keep/c:3".to_owned()), "{tags:?}");
    assert!(
        !tags.iter().any(|t| t.starts_with("docker.io/old/")),
        "{tags:?}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let f = fixture();
    let run = rm(&f, &["--prune", "alpine"], None);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("--prune takes no IMAGE"),
        "{}",
        run.stderr
    );
    assert_eq!(rm(&f, &["--bogus"], None).code, 2);
    // Nothing on stdin: nothing to do.
    assert_eq!(rm(&f, &[], Some("")).ok(), Vec::<serde_json::Value>::new());
}

/// Runs img-rm with stdout on a terminal (util-linux `script` gives it a pty).
fn rm_on_terminal(f: &Fixture, args: &[&str]) -> String {
    f.on_terminal(env!("CARGO_BIN_EXE_img-rm"), args)
}

#[test]
fn on_a_terminal_it_prints_dockers_lines() {
    let f = fixture();
    let pulled = f.pull(OCI).unwrap().record;
    let name = f.reference("test/oci-zstd");
    assert_eq!(
        rm_on_terminal(&f, &[&format!("{name}:1")]),
        format!(
            "Untagged: {name}:1\nUntagged: {name}@{}\nDeleted: {}\n",
            pulled.digest, pulled.id
        )
    );
    // Prune, as docker image prune reports it.
    f.pull(OCI).unwrap();
    f.pull(ALPINE).unwrap();
    // Moving its tag leaves the OCI image dangling, with its repo digest.
    tag(&f, &f.reference(ALPINE), &f.reference(OCI));
    let out = rm_on_terminal(&f, &["--prune"]);
    let want_start = format!(
        "Deleted Images:\nuntagged: {name}@{}\ndeleted: {}\n\nTotal reclaimed space: ",
        pulled.digest, pulled.id
    );
    assert!(out.starts_with(&want_start), "{out}");
    assert!(out.ends_with("kB\n"), "{out}");
    assert_eq!(
        rm_on_terminal(&f, &["--prune"]),
        "Total reclaimed space: 0B\n"
    );
}
