//! `img-rm --prune -a` and `--filter` (docker's `image prune -a`, `--filter until=…`,
//! `label=…`), on stores filled by real pulls (issue 10).

mod common;

use common::*;
use img_core::testing::Fixture;

const ALPINE: &str = "test/alpine-like:latest";
const MULTI: &str = "test/multi:latest";

fn images(f: &Fixture) -> usize {
    f.store()
        .unwrap()
        .index()
        .list_images(&Default::default())
        .unwrap()
        .len()
}

#[test]
fn prune_all_removes_tagged_images_as_filtered_and_never_unasked() {
    let f = Fixture::new().expect("starting the test registry");
    f.pull(ALPINE).unwrap();
    f.pull(MULTI).unwrap();
    assert_eq!(images(&f), 2);

    // No terminal to ask on, and no -f: refused, nothing removed.
    let run = rm(&f, &["--prune", "-a"], None).failure(2, 1);
    assert!(run.stderr.contains("confirm with -f"), "{}", run.stderr);
    assert_eq!(images(&f), 2);
    // -a and --filter belong to --prune; a filter prune does not know is docker's
    // invalid filter (exit 1).
    rm(&f, &["-a", ALPINE], None).failure(2, 1);
    let run = rm(&f, &["--prune", "-a", "-f", "--filter", "color=red"], None).failure(1, 1);
    assert!(
        run.stderr.contains("invalid filter 'color'"),
        "{}",
        run.stderr
    );

    // label= narrows it to the one image: its tag goes with it.
    let alpine = image(&f, ALPINE);
    let records = rm(
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
    assert!(records.contains(&deleted(&alpine.id)), "{records:?}");
    assert!(
        records.contains(&untagged(&f.reference(ALPINE))),
        "{records:?}"
    );
    assert_eq!(images(&f), 1);

    // until= in the future of every image's creation: nothing is that recent, the rest goes;
    // until=2000-01-01: everything is newer, nothing goes.
    rm(
        &f,
        &["--prune", "-a", "-f", "--filter", "until=2000-01-01"],
        None,
    )
    .ok();
    assert_eq!(images(&f), 1);
    rm(&f, &["--prune", "-a", "-f", "--filter", "until=1h"], None).ok();
    assert_eq!(images(&f), 0);
    assert!(
        f.store()
            .unwrap()
            .index()
            .blob(&alpine.id)
            .unwrap()
            .is_none()
    );
}

/// Runs img-rm on a pseudo-terminal (util-linux `script`) with `answer` typed in, and
/// returns (exit status, what the terminal showed).
fn on_terminal_answering(f: &Fixture, args: &[&str], answer: &str) -> (i32, String) {
    use std::io::Write;
    let inner = f.command(env!("CARGO_BIN_EXE_img-rm"));
    let mut line = format!("'{}'", env!("CARGO_BIN_EXE_img-rm"));
    for a in args {
        line.push_str(&format!(" '{a}'"));
    }
    let mut script = std::process::Command::new("script");
    script.args(["-q", "-e", "-c", &line, "/dev/null"]);
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => script.env(k, v),
            None => script.env_remove(k),
        };
    }
    let mut child = script
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("util-linux's script gives img-rm a terminal");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answer.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn prune_all_asks_dockers_question_on_a_terminal() {
    let f = Fixture::new().expect("starting the test registry");
    f.pull(ALPINE).unwrap();
    let (code, shown) = on_terminal_answering(&f, &["--prune", "-a"], "n\n");
    assert_eq!(code, 0, "a no ends it quietly, as docker does: {shown}");
    assert!(
        shown.contains(
            "WARNING! This will remove all images without at least one container associated to them.\r\nAre you sure you want to continue? [y/N] "
        ),
        "{shown:?}"
    );
    assert!(!shown.contains("Deleted"), "{shown}");
    assert_eq!(images(&f), 1);
    let (code, shown) = on_terminal_answering(&f, &["--prune", "-a"], "y\n");
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("Deleted Images:"), "{shown}");
    assert!(shown.contains("deleted: sha256:"), "{shown}");
    assert!(shown.contains("Total reclaimed space:"), "{shown}");
    assert_eq!(images(&f), 0);
}
