//! `img-pack load --format`: a template sees every key of the image record, even one an
//! untagged load leaves out of its JSON; a bad template fails before anything is loaded,
//! and one that fails on a loaded image says the images are loaded. On a real image
//! (podman build's, saved by ID, so the archive names no tag).

mod common;

use std::path::Path;

use common::{fresh_root, run, save_to_vec};
use img_core::Store;
use img_core::testing::real_images;

/// An untagged archive of the podman-built image: its docker-archive loaded, then saved
/// by ID (docker's save of an ID names no tag).
fn untagged_archive(dir: &Path) -> (std::path::PathBuf, img_core::Digest) {
    let image = real_images::podman_build().unwrap();
    let root = fresh_root(dir, "maker");
    run(
        &root,
        &["load", "-i", image.docker_archive.to_str().unwrap()],
        None,
    )
    .success();
    let bytes = save_to_vec(&root, &[&image.id.to_string()]);
    let path = dir.join("untagged.tar");
    std::fs::write(&path, bytes).unwrap();
    (path, image.id)
}

fn has_image(root: &Path, id: &img_core::Digest) -> bool {
    Store::open(root)
        .unwrap()
        .index()
        .image(id)
        .unwrap()
        .is_some()
}

/// Regression (issue 14, bug 6): `--format '{{.Ref}}'` of an untagged image failed after
/// loading it ("map has no entry for key Ref", exit 1).
#[test]
fn load_format_ref_of_an_untagged_image_prints_an_empty_line() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, id) = untagged_archive(dir.path());
    let archive = archive.to_str().unwrap();

    let root = fresh_root(dir.path(), "ref");
    let r = run(
        &root,
        &["load", "-i", archive, "--format", "{{.Ref}}"],
        None,
    )
    .success();
    assert_eq!(r.stdout, "\n");
    let r = run(
        &root,
        &[
            "load",
            "-i",
            archive,
            "--format",
            "{{.Id}} [{{.Ref}}] {{.RepoTags}} [{{.Downloaded}}]",
        ],
        None,
    )
    .success();
    assert_eq!(r.stdout, format!("{id} [] [] []\n"));

    // The JSON record stays as docs/records.md says: no Ref for an untagged load.
    let r = run(&root, &["load", "-i", archive, "--format", "json"], None).success();
    let record: serde_json::Value = serde_json::from_str(r.stdout.trim_end()).unwrap();
    assert!(record.get("Ref").is_none(), "{record}");
    assert_eq!(record["Id"], id.to_string());

    // A template that fails on the loaded image: loaded all the same, and said so.
    let root = fresh_root(dir.path(), "exec");
    let r = run(
        &root,
        &["load", "-i", archive, "--format", "{{.Nope}}"],
        None,
    )
    .failure(1, 1);
    assert!(
        r.stderr
            .starts_with("img-pack: loaded 1 images; printing records failed: template: "),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(r#"map has no entry for key "Nope""#),
        "{}",
        r.stderr
    );
    assert!(has_image(&root, &id));

    // A template that does not parse: refused before anything is loaded.
    let root = fresh_root(dir.path(), "parse");
    let r = run(&root, &["load", "-i", archive, "--format", "{{.Ref"], None).failure(1, 1);
    assert!(r.stderr.contains("parsing --format"), "{}", r.stderr);
    assert!(!has_image(&root, &id));
    common::assert_untouched(&root);
}
