//! The terminal pull display against docker's own (issue 10): `docker pull` (a real dockerd
//! from the shared harness) and `img-pull` pull the same images from the same registry on
//! a pseudo-terminal with `TERM=xterm`; each transcript is rendered by a terminal emulator
//! (`vt100`) and the final screens must be the same, line for line — a fresh pull, a pull
//! of an image already up to date without a tag (`Using default tag: latest`), a new tag
//! for an image already present, and a pull by digest. Under `TERM=dumb` img prints the
//! same completed lines plainly, with no escape sequence at all.
//!
//! docker's screens are live where docker 28.2.2's CLI is and the test runs as root, and
//! otherwise tests/goldens/docker_display.json, recorded by `cargo xtask goldens` (issue
//! 18): the images have fixed seeds (fixed digests and sizes), the pulls run in the same
//! order on an empty daemon each time, and the registry's port is a placeholder.

use std::process::Command;

use img_core::testing::{DockerComparison, Fixture, TestDockerd, on_terminal, push_image, screen};

use super::BIN;

/// docker's final screen after `docker pull REFERENCE` on a terminal (`what` names the
/// case in the goldens).
fn docker_pull(
    cmp: &mut DockerComparison,
    daemon: Option<&TestDockerd>,
    what: &str,
    reference: &str,
) -> Vec<String> {
    let key = format!("{what}: docker pull {reference}");
    let command = format!("TERM=xterm docker pull {reference} (its final screen)");
    let (_, shown, _) = cmp.answer(&key, &command, || {
        let mut cmd = daemon.expect("a live comparison has a daemon").docker();
        cmd.env("TERM", "xterm").args(["pull", reference]);
        // on_terminal asserts it succeeded; stderr is on the screen.
        (0, screen(&on_terminal(&cmd)).join("\n"), String::new())
    });
    shown.lines().map(str::to_owned).collect()
}

fn img_pull(f: &Fixture, reference: &str, term: &str) -> String {
    let mut cmd: Command = f.command(BIN);
    cmd.env("TERM", term).arg(reference);
    on_terminal(&cmd)
}

#[test]
fn the_pull_display_is_dockers_on_a_terminal() {
    let f = Fixture::new().expect("the test registry");
    let mut cmp = DockerComparison::new(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/goldens/docker_display.json"),
    );
    cmp.placeholder(&f.registry.addr(), "127.0.0.1:XXXXX");
    let daemon = cmp
        .is_live()
        .then(|| TestDockerd::start().unwrap_or_else(|e| panic!("{e}")));
    // The same image under a second tag: a new tag for an image already present.
    let mut again = f.image("test/alpine-like").clone();
    again.tag = "again".to_owned();
    push_image(&f.registry.client().unwrap(), &again).unwrap();

    let alpine = f.reference("test/alpine-like:latest");
    let untagged = f.reference("test/alpine-like");
    let again = f.reference("test/alpine-like:again");
    let multi = f.image("test/multi");
    let by_digest = format!("{}@{}", f.reference("test/multi"), multi.digest());
    for (what, reference) in [
        ("a fresh pull", alpine.as_str()),
        ("an image up to date, no tag given", untagged.as_str()),
        ("a new tag for an image already present", again.as_str()),
        ("a pull by digest", by_digest.as_str()),
    ] {
        let docker = docker_pull(&mut cmp, daemon.as_ref(), what, reference);
        let img = screen(&img_pull(&f, reference, "xterm"));
        assert_eq!(
            img, docker,
            "{what}: img-pull's final screen differs from docker's"
        );
    }
    let again = docker_pull(&mut cmp, daemon.as_ref(), "a second pull", &alpine);
    assert!(
        again[0].ends_with(": Pulling from test/alpine-like"),
        "{again:?}"
    );

    // TERM=dumb: plain lines, one per state change, every one ending with a newline, and
    // the completed ones as docker's screen shows them.
    let oci = f.reference("test/oci-zstd:1");
    let plain = img_pull(&f, &oci, "dumb");
    assert!(!plain.contains('\x1b'), "{plain:?}");
    assert!(plain.ends_with('\n'));
    let lines: Vec<&str> = plain.lines().collect();
    assert_eq!(lines[0], "1: Pulling from test/oci-zstd");
    let image = f.image("test/oci-zstd");
    let (_, _, manifest) = super::manifest_of(image, None);
    for layer in &manifest.layers {
        let done = format!("{}: Pull complete", layer.digest.short());
        assert_eq!(lines.iter().filter(|l| **l == done).count(), 1, "{plain}");
    }
    let config = manifest.config.digest.short().to_owned();
    assert!(
        !plain.contains(&config),
        "no line for the config blob: {plain}"
    );
    assert_eq!(
        screen(&plain).last().map(String::as_str),
        Some(oci.as_str())
    );
    cmp.finish();
}

/// Issue 14: the display redrew a layer's line on every 128 KiB read (748 redraws, 43.5 KB
/// for a 93 MB image; docker wrote 3.6 KB). On a pseudo-terminal, a pull of three layers
/// of some 12 MB each redraws byte counts at most ten times a second (each frame redrawing
/// the lines whose count moved), plus once per state change, and its final screen is
/// every layer complete.
#[test]
fn the_pull_display_redraws_at_most_ten_frames_a_second() {
    let f = Fixture::new().expect("the test registry");
    let image = img_core::testing::image_with_layers(3, 24 << 20, 14);
    push_image(&f.registry.client().unwrap(), &image).unwrap();
    let reference = f.reference(&image.reference());
    let started = std::time::Instant::now();
    let shown = img_pull(&f, &reference, "xterm");
    let took = started.elapsed();
    let redraws = shown.matches("\x1b[2K").count();
    // Frames the time allowed, three lines each, and each layer's state changes
    // (Downloading, Verifying Checksum, Pull complete).
    let allowed = 3 * (took.as_millis() as usize / 100 + 1) + 3 * 3;
    assert!(
        redraws <= allowed,
        "{redraws} redraws in {took:?} (at most {allowed}), {} bytes",
        shown.len()
    );
    let compressed: usize = image.blobs.iter().map(|(_, b)| b.len()).sum();
    assert!(
        redraws < compressed / (128 << 10) / 2,
        "{redraws} redraws for {compressed} bytes: a redraw per read"
    );
    let screen = screen(&shown);
    assert_eq!(
        screen
            .iter()
            .filter(|l| l.ends_with(": Pull complete"))
            .count(),
        3,
        "{screen:?}"
    );
}
