//! Interop with the real tools, both ways: docker (Debian's dockerd 20.10, the legacy
//! loader, started here), podman (vfs, a temporary root) and skopeo read what img-pack save
//! writes with the same IDs and tags, and img-pack load reads what they write with the
//! config digests and tags they report. Images come from the test registry, never the
//! internet.

mod common;

use std::path::Path;
use std::process::Command;

use common::{fresh_root, run};
use img_core::digest::Digest;
use img_core::oci::Platform;
use img_core::record::ImageRecord;
use img_core::testing::{Fixture, TestDockerd, stdout_of, verify_store};

const ALPINE: &str = "test/alpine-like:latest";
const OCI: &str = "test/oci-zstd:1";
const MULTI: &str = "test/multi:latest";

fn fixture() -> Fixture {
    Fixture::new().expect("starting the test registry (needs the docker-registry package)")
}

fn dockerd() -> TestDockerd {
    TestDockerd::start().unwrap_or_else(|e| panic!("docker's daemon cannot start here: {e}"))
}

/// Runs `cmd`, asserting success; returns stdout.
#[track_caller]
/// The docker CLI on the test daemon with `args`.
fn docker_cli(daemon: &TestDockerd, args: &[&str]) -> Command {
    let mut cmd = daemon.docker();
    cmd.args(args);
    cmd
}

/// A program's stdout as text (it must succeed).
fn ok(cmd: &mut Command) -> String {
    String::from_utf8_lossy(&stdout_of(cmd)).into_owned()
}

/// podman on a store of its own under `dir`.
fn podman(dir: &Path) -> Command {
    img_core::testing::real_images::podman_in(dir)
}

/// The config digest of the host platform's image of the test index.
fn host_config(f: &Fixture) -> Digest {
    let host = Platform::host();
    let (_, bytes) = f
        .image(MULTI)
        .manifests
        .iter()
        .find(|(d, _)| d.platform.as_ref().is_some_and(|p| host.matches(p)))
        .expect("the test index has the host's platform");
    let m: img_core::oci::Manifest = serde_json::from_slice(bytes).unwrap();
    m.config.digest
}

fn load_records(root: &Path, file: &Path) -> Vec<ImageRecord> {
    let records = run(root, &["load", "-i", file.to_str().unwrap()], None)
        .success()
        .records::<ImageRecord>();
    verify_store(root);
    records
}

#[test]
fn docker_20_and_podman_load_what_save_writes_with_the_same_ids_and_tags() {
    let f = fixture();
    let alpine = f.pull(ALPINE).unwrap().record;
    f.pull_all_platforms(MULTI).unwrap();
    let file = f.dir().join("img.tar");
    run(
        &f.root(),
        &[
            "save",
            "-o",
            file.to_str().unwrap(),
            &f.reference(ALPINE),
            &f.reference(MULTI),
        ],
        None,
    )
    .success();
    let want = [
        (f.reference(ALPINE), alpine.id.clone()),
        (f.reference(MULTI), host_config(&f)),
    ];

    let docker = dockerd();
    let out = ok(&mut docker_cli(
        &docker,
        &["load", "-i", file.to_str().unwrap()],
    ));
    for (r, _) in &want {
        assert!(out.contains(&format!("Loaded image: {r}")), "{out}");
    }
    for (r, id) in &want {
        let got = ok(&mut docker_cli(
            &docker,
            &["image", "inspect", "--format", "{{.Id}}", r],
        ));
        assert_eq!(got.trim(), id.to_string(), "docker's ID of {r}");
    }

    let dir = tempfile::tempdir().unwrap();
    ok(podman(dir.path()).args(["load", "-i", file.to_str().unwrap()]));
    for (r, id) in &want {
        let got = ok(podman(dir.path()).args(["image", "inspect", "--format", "{{.Id}}", r]));
        assert_eq!(got.trim(), id.hex(), "podman's ID of {r}");
    }
}

#[test]
fn skopeo_reads_each_image_of_the_archive_and_the_oci_side() {
    let f = fixture();
    let alpine = f.pull(ALPINE).unwrap().record;
    let oci = f.pull(OCI).unwrap().record;
    let both = f.dir().join("both.tar");
    run(
        &f.root(),
        &[
            "save",
            "-o",
            both.to_str().unwrap(),
            &f.reference(ALPINE),
            &f.reference(OCI),
        ],
        None,
    )
    .success();
    for (n, id) in [(0, &alpine.id), (1, &oci.id)] {
        let config = ok(Command::new("skopeo").args([
            "inspect",
            "--raw",
            "--config",
            &format!("docker-archive:{}:@{n}", both.display()),
        ]));
        assert_eq!(&Digest::sha256_of(config.as_bytes()), id, "image @{n}");
    }
    // The OCI side, as containerd and docker 25 read it.
    let one = f.dir().join("one.tar");
    run(
        &f.root(),
        &["save", "-o", one.to_str().unwrap(), &f.reference(OCI)],
        None,
    )
    .success();
    let out = f.dir().join("copied");
    ok(Command::new("skopeo").args([
        "copy",
        &format!("oci-archive:{}", one.display()),
        &format!("dir:{}", out.display()),
    ]));
    assert!(out.join(oci.id.hex()).is_file(), "skopeo copied the config");
    let manifest = std::fs::read(out.join("manifest.json")).unwrap();
    assert_eq!(
        Digest::sha256_of(&manifest),
        oci.digest,
        "the manifest, byte for byte"
    );
}

/// What an archive should load as: each image's ID and tags.
type Want<'a> = Vec<(&'a str, Vec<String>)>;

#[test]
fn what_docker_saves_loads_with_dockers_ids_and_back() {
    let f = fixture();
    let docker = dockerd();
    let (alpine_ref, multi_ref) = (f.reference(ALPINE), f.reference(MULTI));
    ok(&mut docker_cli(&docker, &["pull", "-q", &alpine_ref]));
    ok(&mut docker_cli(&docker, &["pull", "-q", &multi_ref]));
    ok(&mut docker_cli(
        &docker,
        &["tag", &alpine_ref, "mine/second:2"],
    ));
    let docker_id = |r: &str| {
        ok(&mut docker_cli(
            &docker,
            &["image", "inspect", "--format", "{{.Id}}", r],
        ))
        .trim()
        .to_owned()
    };
    let (id, multi_id) = (docker_id(&alpine_ref), docker_id(&multi_ref));
    assert_eq!(multi_id, host_config(&f).to_string());
    let dir = tempfile::tempdir().unwrap();
    // One image by name:tag, one under two names, two images, and one by ID.
    let cases: Vec<(&str, Vec<String>, Want)> = vec![
        (
            "one",
            vec![alpine_ref.clone()],
            vec![(&id, vec![alpine_ref.clone()])],
        ),
        (
            "two",
            vec![alpine_ref.clone(), "mine/second:2".to_owned()],
            vec![(&id, vec![alpine_ref.clone(), "mine/second:2".to_owned()])],
        ),
        (
            "several",
            vec![alpine_ref.clone(), multi_ref.clone()],
            vec![
                (&id, vec![alpine_ref.clone()]),
                (&multi_id, vec![multi_ref.clone()]),
            ],
        ),
        ("id", vec![id[7..19].to_owned()], vec![(&id, vec![])]),
    ];
    for (what, args, want) in cases {
        let file = dir.path().join(format!("{what}.tar"));
        let mut cmd = docker.docker();
        cmd.args(["save", "-o", file.to_str().unwrap()]);
        cmd.args(&args);
        ok(&mut cmd);
        let root = fresh_root(dir.path(), what);
        let mut got: Vec<(String, Vec<String>)> = load_records(&root, &file)
            .into_iter()
            .map(|r| (r.id.to_string(), r.repo_tags))
            .collect();
        got.sort();
        let mut want: Vec<(String, Vec<String>)> =
            want.into_iter().map(|(i, t)| (i.to_owned(), t)).collect();
        want.sort();
        assert_eq!(got, want, "{what}");
    }
    // docker save → img load → img save → docker load: docker gets its ID back.
    let root = dir.path().join("two");
    let back = dir.path().join("back.tar");
    run(
        &root,
        &["save", "-o", back.to_str().unwrap(), "mine/second:2"],
        None,
    )
    .success();
    ok(&mut docker_cli(
        &docker,
        &["rmi", &alpine_ref, "mine/second:2"],
    ));
    let out = ok(&mut docker_cli(
        &docker,
        &["load", "-i", back.to_str().unwrap()],
    ));
    assert!(out.contains("Loaded image: mine/second:2"), "{out}");
    let again = ok(&mut docker_cli(
        &docker,
        &["image", "inspect", "--format", "{{.Id}}", "mine/second:2"],
    ));
    assert_eq!(again.trim(), id);
}

/// The images of one archive: reference and expected ID.
type Images<'a> = Vec<(&'a str, &'a str)>;

#[test]
fn what_podman_and_skopeo_write_loads_with_their_config_digests_and_tags() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    // docker-archive cannot hold zstd layers: the zstd image travels in OCI archives only.
    let (alpine_ref, multi_ref, oci_ref) =
        (f.reference(ALPINE), f.reference(MULTI), f.reference(OCI));
    for r in [&alpine_ref, &multi_ref, &oci_ref] {
        ok(podman(dir.path()).args(["pull", "-q", "--tls-verify=false", r]));
    }
    let podman_id = |r: &str| {
        ok(podman(dir.path()).args(["image", "inspect", "--format", "{{.Id}}", r]))
            .trim()
            .to_owned()
    };
    let (alpine_id, multi_id, oci_id) = (
        podman_id(&alpine_ref),
        podman_id(&multi_ref),
        podman_id(&oci_ref),
    );
    assert_eq!(multi_id, host_config(&f).hex());
    let cases: Vec<(&str, Vec<&str>, Images)> = vec![
        (
            "docker-archive",
            vec!["save", "--format", "docker-archive"],
            vec![(&alpine_ref, &alpine_id)],
        ),
        (
            "multi",
            vec!["save", "-m"],
            vec![(&alpine_ref, &alpine_id), (&multi_ref, &multi_id)],
        ),
        (
            "oci-archive",
            vec!["save", "--format", "oci-archive"],
            vec![(&oci_ref, &oci_id)],
        ),
    ];
    for (what, args, images) in cases {
        let file = dir.path().join(format!("{what}.tar"));
        let mut cmd = podman(dir.path());
        cmd.args(&args).arg("-o").arg(&file);
        cmd.args(images.iter().map(|(r, _)| *r));
        ok(&mut cmd);
        let root = fresh_root(dir.path(), what);
        let got = load_records(&root, &file);
        assert_eq!(got.len(), images.len(), "{what}: {got:?}");
        for (rec, (r, id)) in got.iter().zip(&images) {
            assert_eq!(rec.id.hex(), *id, "{what}: {r}");
            assert_eq!(rec.repo_tags, [r.to_string()], "{what}");
        }
    }
    // skopeo: docker-archive, oci-archive (named in full, or by a bare tag) and oci: layouts.
    for (what, src, dest, id, tags) in [
        (
            "skopeo-docker",
            &multi_ref,
            format!("docker-archive:{}/s1.tar:{multi_ref}", dir.path().display()),
            &multi_id,
            vec![multi_ref.clone()],
        ),
        (
            "skopeo-oci",
            &oci_ref,
            format!("oci-archive:{}/s2.tar:app:1", dir.path().display()),
            &oci_id,
            vec!["app:1".to_owned()],
        ),
        (
            "skopeo-bare",
            &oci_ref,
            format!("oci-archive:{}/s3.tar:1.0", dir.path().display()),
            &oci_id,
            vec![],
        ),
        // An OCI image layout directory, loaded with -i DIR.
        (
            "skopeo-oci-dir",
            &multi_ref,
            format!("oci:{}/layout:app:2", dir.path().display()),
            &multi_id,
            vec!["app:2".to_owned()],
        ),
    ] {
        ok(Command::new("skopeo").args([
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{src}"),
            &dest,
        ]));
        let file = dest.split(':').nth(1).unwrap().to_owned();
        let root = fresh_root(dir.path(), what);
        let r = run(&root, &["load", "-i", &file], None);
        assert_eq!(r.code, 0, "{what}: {r:?}");
        let got = r.records::<ImageRecord>();
        assert_eq!(&got[0].id.hex(), id, "{what}");
        assert_eq!(got[0].repo_tags, tags, "{what}");
        if tags.is_empty() {
            assert!(r.stderr.contains("loads untagged"), "{what}: {}", r.stderr);
        }
        verify_store(&root);
    }
}

/// Issue 14: on a terminal `img-pack load` drew one bar and erased it, where docker prints
/// a `<12 hex of the DiffID>: Loading layer [====>]  12.3MB/45.6MB` line a layer, which
/// stays. The real images (a root filesystem `docker import`ed, a five-layer `podman
/// build`) load on a 200-column pseudo-terminal to the same final screen as `docker load`
/// of the same archive shows; loaded again, both show only the `Loaded image` line.
#[test]
fn the_load_display_is_dockers_on_a_terminal() {
    use img_core::testing::{on_terminal, real_images};
    let daemon = dockerd();
    let images = [
        real_images::docker_import().unwrap_or_else(|e| panic!("{e}")),
        real_images::podman_build().unwrap_or_else(|e| panic!("{e}")),
    ];
    let dir = tempfile::tempdir().unwrap();
    let root = fresh_root(dir.path(), "store");
    for image in &images {
        let archive = image.docker_archive.to_str().unwrap();
        for time in ["first", "again"] {
            let docker = img_core::testing::screen(&on_terminal(&common::wide(
                &docker_cli(&daemon, &["load", "-i", archive]),
                None,
            )));
            let img = img_core::testing::screen(&on_terminal(&common::wide(
                common::pack(&root).args(["load", "-i", archive]),
                None,
            )));
            assert_eq!(img, docker, "{} loaded {time}", image.name);
            let layer_lines = docker
                .iter()
                .filter(|l| l.contains(": Loading layer ["))
                .count();
            match time {
                "first" => assert!(layer_lines >= 1, "{docker:?}"),
                _ => assert_eq!(layer_lines, 0, "{docker:?}"),
            }
        }
    }
}
