//! The terminal push display against docker's own (issue 16, "settled on review"): dockerd
//! 20.10 (the shared harness, root) and img-push push the same gzip image of seven layers
//! to fresh repositories of the same registry, five uploads at once (dockerd's default,
//! `-j 5` for img), on a pseudo-terminal with `TERM=xterm`; each transcript is rendered by
//! a terminal emulator and the final screens must be the same line for line — the header,
//! a row a layer labelled by its DiffID's short ID, top layer first, and the digest line.
//! The two rows past the first five say `Waiting` on the way in both. A re-push (`Layer
//! already exists`) is compared too, and under `TERM=dumb` img prints docker's plain lines.
//!
//! The image must be byte-identical on both sides, so docker makes it: dockerd loads an
//! archive (no compressed form, no source repository known) and pushes it to a first
//! registry, compressing its layers; img-pull takes that image from there. Pushing to a
//! second registry, dockerd compresses the same bytes again (deterministically) and img
//! sends what it pulled, so both push the same manifest, and neither can mount.

use std::process::Command;

use img_core::ops::pack::{SaveOptions, save_to_file};
use img_core::record::Target;
use img_core::testing::{
    Fixture, TestDockerd, TestRegistry, image_with_layers, on_terminal, push_image, screen,
};
use img_core::{Digest, Reference};

const LAYERS: usize = 7;

#[track_caller]
fn docker(daemon: &TestDockerd, args: &[&str]) -> String {
    let out = daemon.docker().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn docker_push(daemon: &TestDockerd, reference: &str) -> String {
    let mut cmd = daemon.docker();
    cmd.env("TERM", "xterm").args(["push", reference]);
    on_terminal(&cmd)
}

fn img_push(f: &Fixture, reference: &str, term: &str) -> String {
    let mut cmd: Command = f.command(env!("CARGO_BIN_EXE_img-push"));
    cmd.env("TERM", term).args(["-j", "5", reference]);
    on_terminal(&cmd)
}

/// Tags the store's image `from` as `to` (full references).
fn tag(f: &Fixture, from: &str, to: &str) {
    let store = f.store().unwrap();
    let from = Reference::parse_normalized(from).unwrap();
    let image = store
        .index()
        .image_by_tag(&from.name(), from.tag().unwrap())
        .unwrap()
        .unwrap();
    let to = Reference::parse_normalized(to).unwrap();
    store
        .index()
        .tag(&image.id, &to.name(), to.tag().unwrap())
        .unwrap();
}

/// The short IDs a transcript shows as `Waiting` at some point.
fn waiting(transcript: &str, rows: &[String]) -> Vec<String> {
    rows.iter()
        .filter(|id| transcript.contains(&format!("{id}: Waiting")))
        .cloned()
        .collect()
}

#[test]
fn the_push_display_is_dockers_on_a_terminal() {
    let f = Fixture::new().expect("the test registry");
    let daemon = TestDockerd::start().unwrap_or_else(|e| panic!("{e}"));
    let first = &f.registry;

    // An image of seven gzip layers, into docker through an archive.
    let image = image_with_layers(LAYERS, 96 << 10, 16);
    push_image(&first.client().unwrap(), &image).unwrap();
    f.pull(&image.reference()).unwrap();
    let archive = f.dir().join("seven.tar");
    let generated = Reference::parse_normalized(&f.reference(&image.reference())).unwrap();
    save_to_file(
        &f.store().unwrap(),
        &[Target::Reference(generated.clone())],
        &SaveOptions::default(),
        &archive,
        &mut |_, _| {},
    )
    .unwrap();
    docker(&daemon, &["load", "-i", archive.to_str().unwrap()]);

    // docker compresses it on its first push; img takes docker's image from there.
    let made = f.reference("dk/seven:1");
    docker(&daemon, &["tag", &generated.to_string(), &made]);
    docker(&daemon, &["push", &made]);
    let pulled = f.pull("dk/seven:1").unwrap().record;

    // The top layer first, as docker lists them; the two last wait.
    let config: serde_json::Value = serde_json::from_slice(
        &f.store()
            .unwrap()
            .read_blob(&pulled.id)
            .expect("the image's config"),
    )
    .unwrap();
    let rows: Vec<String> = config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .map(|d| {
            d.as_str()
                .unwrap()
                .parse::<Digest>()
                .unwrap()
                .short()
                .to_owned()
        })
        .collect();
    assert_eq!(rows.len(), LAYERS);

    let second = TestRegistry::start().unwrap();
    let (theirs, ours) = (
        format!("{}/dk/seven", second.addr()),
        format!("{}/im/seven", second.addr()),
    );
    docker(&daemon, &["tag", &made, &format!("{theirs}:1")]);
    tag(&f, &made, &format!("{ours}:1"));
    let same_repository = |shown: Vec<String>| -> Vec<String> {
        shown
            .into_iter()
            .map(|l| l.replace(&format!("[{theirs}]"), &format!("[{ours}]")))
            .collect()
    };

    for what in [
        "a fresh repository",
        "a re-push: every layer already exists",
    ] {
        let docker_shown = docker_push(&daemon, &format!("{theirs}:1"));
        let img_shown = img_push(&f, &format!("{ours}:1"), "xterm");
        let want = same_repository(screen(&docker_shown));
        let got = screen(&img_shown);
        assert_eq!(
            got, want,
            "{what}: img-push's final screen differs from docker's\n{img_shown:?}"
        );
        let status = if what.starts_with("a fresh") {
            "Pushed"
        } else {
            "Layer already exists"
        };
        let mut expected = vec![format!("The push refers to repository [{ours}]")];
        expected.extend(rows.iter().map(|id| format!("{id}: {status}")));
        expected.push(format!(
            "1: digest: {} size: {}",
            pulled.digest,
            f.store().unwrap().read_blob(&pulled.digest).unwrap().len()
        ));
        assert_eq!(got, expected, "{what}");
        assert_eq!(waiting(&docker_shown, &rows), rows[5..], "{docker_shown:?}");
        assert_eq!(waiting(&img_shown, &rows), rows[5..], "{img_shown:?}");
    }

    // TERM=dumb: docker's plain lines, one per state change, with no escape at all.
    let plain = img_push(&f, &format!("{ours}:1"), "dumb");
    assert!(!plain.contains('\x1b'), "{plain:?}");
    let lines: Vec<&str> = plain.lines().collect();
    assert_eq!(lines[0], format!("The push refers to repository [{ours}]"));
    for id in &rows {
        assert!(
            lines.contains(&format!("{id}: Preparing").as_str()),
            "{plain}"
        );
        assert!(
            lines.contains(&format!("{id}: Layer already exists").as_str()),
            "{plain}"
        );
    }
    let last = lines.last().unwrap();
    assert!(
        last.starts_with(&format!("1: digest: {} size: ", pulled.digest)),
        "{plain}"
    );
}
