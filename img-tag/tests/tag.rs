//! img-tag run as a binary on stores filled by real pulls: SOURCE TARGET, TARGET with the
//! source on stdin, moving tags, and docker's refusals.

use std::io::Write;
use std::process::Stdio;

use img_core::record::ImageRecord;
use img_core::testing::Fixture;

const ALPINE: &str = "test/alpine-like:latest";
const OCI: &str = "test/oci-zstd:1";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn tag(f: &Fixture, args: &[&str], input: Option<&str>) -> Run {
    let mut cmd = f.command(env!("CARGO_BIN_EXE_img-tag"));
    cmd.args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("running img-tag");
    if let Some(text) = input {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

impl Run {
    /// The one record printed, after checking success.
    fn record(&self) -> ImageRecord {
        assert_eq!(self.code, 0, "stderr: {}", self.stderr);
        assert_eq!(self.stderr, "");
        let lines: Vec<&str> = self.stdout.lines().collect();
        assert_eq!(lines.len(), 1, "one record: {:?}", self.stdout);
        serde_json::from_str(lines[0]).unwrap()
    }
}

fn fixture() -> Fixture {
    Fixture::new().expect("starting the test registry (needs the docker-registry package)")
}

#[test]
fn source_target_adds_a_tag_and_prints_the_record_with_the_new_ref() {
    let f = fixture();
    let pulled = f.pull(ALPINE).unwrap().record;
    let r = tag(&f, &[&f.reference(ALPINE), "mine/x:1"], None).record();
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
    let r = tag(&f, &[&pulled.id.hex()[..12], "mine/y"], None).record();
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
    );
    assert_eq!(run.stdout, "docker.io/mine/z:2 4\n", "{}", run.stderr);
}

#[test]
fn an_existing_tag_moves_and_the_image_it_left_stays_dangling() {
    let f = fixture();
    let alpine = f.pull(ALPINE).unwrap().record;
    let oci = f.pull(OCI).unwrap().record;
    let r = tag(&f, &[&f.reference(ALPINE), &f.reference(OCI)], None).record();
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
    let r = tag(&f, &["mine/piped:1"], Some(&input)).record();
    assert_eq!(r.id, pulled.id);
    assert!(r.repo_tags.contains(&"mine/piped:1".to_owned()));
    // An img-ls row works the same.
    let row = format!(
        r#"{{"ID":"{}","Repository":"mine/piped","Tag":"1"}}"#,
        &pulled.id.hex()[..12]
    );
    let r = tag(&f, &["mine/from-row"], Some(&row)).record();
    assert_eq!(r.id, pulled.id);

    let oci = f.pull(OCI).unwrap().record;
    let two = format!(
        "{}\n{}\n",
        serde_json::to_string(&pulled).unwrap(),
        serde_json::to_string(&oci).unwrap()
    );
    let run = tag(&f, &["mine/two"], Some(&two));
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr
            .starts_with("img-tag: TARGET names one image, but stdin holds 2 records"),
        "{}",
        run.stderr
    );
    let run = tag(&f, &["mine/none"], Some(""));
    assert_eq!(run.code, 1);
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
    let run = tag(&f, &[&src, &format!("mine/x@{}", pulled.digest)], None);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .starts_with("img-tag: refusing to create a tag with a digest reference"),
        "{}",
        run.stderr
    );
    let run = tag(&f, &["nope:1", "mine/x:1"], None);
    assert_eq!(run.code, 1);
    assert_eq!(run.stderr, "img-tag: no such image: nope:1\n");
    let run = tag(&f, &[&src, "Mine/X"], None);
    assert_eq!(run.code, 1, "{}", run.stderr);
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
    let line = format!(
        "{} '{}' mine/tty:1",
        env!("CARGO_BIN_EXE_img-tag"),
        f.reference(ALPINE)
    );
    let out = f
        .command("script")
        .args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("running script (util-linux)");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    let info = f
        .store()
        .unwrap()
        .index()
        .image_by_tag("docker.io/mine/tty", "1")
        .unwrap()
        .unwrap();
    assert_eq!(info.id, pulled.id);
}
