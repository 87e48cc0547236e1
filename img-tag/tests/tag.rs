//! img-tag run as a binary on stores filled by real pulls: SOURCE TARGET, TARGET with the
//! source on stdin, moving tags, and docker's refusals.

use img_core::testing::{Fixture, Run};

const ALPINE: &str = "test/alpine-like:latest";
const OCI: &str = "test/oci-zstd:1";

/// Runs img-tag with `args` on the fixture's store, `input` on stdin.
fn tag(f: &Fixture, args: &[&str], input: Option<&str>) -> Run {
    f.run(env!("CARGO_BIN_EXE_img-tag"), args, input)
}

fn fixture() -> Fixture {
    Fixture::new().expect("starting the test registry (needs the docker-registry package)")
}

#[test]
fn source_target_adds_a_tag_and_prints_the_record_with_the_new_ref() {
    let f = fixture();
    let pulled = f.pull(ALPINE).unwrap().record;
    let r = tag(&f, &[&f.reference(ALPINE), "mine/x:1"], None)
        .success()
        .record();
    assert_eq!(r.id, pulled.id);
    assert_eq!(
        r.reference.as_ref().map(ToString::to_string).as_deref(),
        Some("docker.io/mine/x:1")
    );
    assert_eq!(r.digest, pulled.digest);
    let mut want = pulled.repo_tags.clone();
    want.push("mine/x:1".to_owned());
    assert_eq!(r.repo_tags, want);
    assert_eq!(r.repo_digests, pulled.repo_digests);
    assert_eq!(r.size, pulled.size);
    assert_eq!((r.downloaded, r.reused), (None, None));
    // By short ID, and the target without a tag is :latest.
    let r = tag(&f, &[&pulled.id.hex()[..12], "mine/y"], None)
        .success()
        .record();
    assert!(r.repo_tags.contains(&"mine/y:latest".to_owned()), "{r:?}");
    let info = f
        .store()
        .unwrap()
        .index()
        .image_by_tag("docker.io/mine/y", "latest")
        .unwrap()
        .unwrap();
    assert_eq!(info.id, pulled.id);
    // --format with a template.
    let run = tag(
        &f,
        &[
            "--format",
            "{{.Ref}} {{len .RepoTags}}",
            "mine/y",
            "mine/z:2",
        ],
        None,
    )
    .success();
    assert_eq!(run.stdout, "docker.io/mine/z:2 4\n", "{}", run.stderr);
}

/// Issue 14 (bug 6's rule for every image record): a template sees every key of the
/// record table, "" for those a tag's record leaves out (Downloaded, Reused); a template
/// that does not parse is refused before anything is tagged.
#[test]
fn tag_format_sees_every_record_key_and_is_parsed_before_tagging() {
    let f = fixture();
    f.pull(ALPINE).unwrap();
    let source = f.reference(ALPINE);
    let r = tag(
        &f,
        &[
            "--format",
            "[{{.Downloaded}}] [{{.Reused}}] {{.Platform}}",
            &source,
            "mine/k:1",
        ],
        None,
    )
    .success();
    assert!(r.stdout.starts_with("[] [] linux/"), "{}", r.stdout);
    tag(&f, &["--format", "{{.Ref", &source, "mine/k:2"], None).failure(1, 1);
    let index = f.store().unwrap();
    assert!(
        index
            .index()
            .image_by_tag("docker.io/mine/k", "2")
            .unwrap()
            .is_none()
    );
}

#[test]
fn an_existing_tag_moves_and_the_image_it_left_stays_dangling() {
    let f = fixture();
    let alpine = f.pull(ALPINE).unwrap().record;
    let oci = f.pull(OCI).unwrap().record;
    let r = tag(&f, &[&f.reference(ALPINE), &f.reference(OCI)], None)
        .success()
        .record();
    assert_eq!(r.id, alpine.id);
    let store = f.store().unwrap();
    let left = store.index().image(&oci.id).unwrap().unwrap();
    assert!(left.tags.is_empty(), "{left:?}");
    assert_eq!(left.repo_digests.len(), 1, "its repo digest stays");
}

#[test]
fn target_alone_takes_one_record_from_stdin() {
    let f = fixture();
    let pulled = f.pull(ALPINE).unwrap().record;
    let input = serde_json::to_string(&pulled).unwrap() + "\n";
    let r = tag(&f, &["mine/piped:1"], Some(&input)).success().record();
    assert_eq!(r.id, pulled.id);
    assert!(r.repo_tags.contains(&"mine/piped:1".to_owned()));
    // An img-ls row works the same.
    let row = format!(
        r#"{{"ID":"{}","Repository":"mine/piped","Tag":"1"}}"#,
        &pulled.id.hex()[..12]
    );
    let r = tag(&f, &["mine/from-row"], Some(&row)).success().record();
    assert_eq!(r.id, pulled.id);

    let oci = f.pull(OCI).unwrap().record;
    let two = format!(
        "{}\n{}\n",
        serde_json::to_string(&pulled).unwrap(),
        serde_json::to_string(&oci).unwrap()
    );
    let run = tag(&f, &["mine/two"], Some(&two)).failure(1, 1);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr
            .starts_with("img-tag: TARGET names one image, but stdin holds 2 records"),
        "{}",
        run.stderr
    );
    let run = tag(&f, &["mine/none"], Some("")).failure(1, 1);
    assert!(run.stderr.contains("no image on stdin"), "{}", run.stderr);
    let store = f.store().unwrap();
    assert!(
        store
            .index()
            .image_by_tag("docker.io/mine/two", "latest")
            .unwrap()
            .is_none()
    );
}

#[test]
fn docker_refusals() {
    let f = fixture();
    let pulled = f.pull(ALPINE).unwrap().record;
    let src = f.reference(ALPINE);
    let run = tag(&f, &[&src, &format!("mine/x@{}", pulled.digest)], None).failure(1, 1);
    assert!(
        run.stderr
            .starts_with("img-tag: refusing to create a tag with a digest reference"),
        "{}",
        run.stderr
    );
    let run = tag(&f, &["nope:1", "mine/x:1"], None).failure(1, 1);
    assert_eq!(run.stderr, "img-tag: no such image: nope:1\n");
    let run = tag(&f, &[&src, "Mine/X"], None).failure(1, 1);
    assert!(run.stderr.contains("invalid reference"), "{}", run.stderr);
    for args in [&["a", "b", "c"][..], &[][..], &["--bogus", "a", "b"][..]] {
        let run = tag(&f, args, None);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
    }
    let store = f.store().unwrap();
    let info = store.index().image(&pulled.id).unwrap().unwrap();
    assert_eq!(info.tags.len(), 1, "nothing was tagged: {info:?}");
}

#[test]
fn on_a_terminal_it_prints_nothing_as_docker_tag() {
    let f = fixture();
    let pulled = f.pull(ALPINE).unwrap().record;
    // util-linux `script` gives img-tag a terminal for stdout.
    let shown = f.on_terminal(
        env!("CARGO_BIN_EXE_img-tag"),
        &[&f.reference(ALPINE), "mine/tty:1"],
    );
    assert_eq!(shown, "");
    let info = f
        .store()
        .unwrap()
        .index()
        .image_by_tag("docker.io/mine/tty", "1")
        .unwrap()
        .unwrap();
    assert_eq!(info.id, pulled.id);
}
