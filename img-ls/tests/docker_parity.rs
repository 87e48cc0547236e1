//! img-ls against `docker images` itself (issue 10): a real dockerd (the shared harness)
//! and img pull the same images from the same test registry, and the table and
//! `--format` outputs must be the same bytes — all but the size, which differs on purpose
//! (img counts the compressed blobs it keeps, docker the unpacked layers). Issue 14 adds
//! `--format json` (docker's sorted keys and Go's `\u003c` escapes, sizes aside), the
//! headers of the keys beyond the record (`{{.VirtualSize}}` is `SIZE`), and a real image
//! (podman build's, pushed by skopeo) beside the generated ones.
//!
//! docker's side is live where docker 28.2.2's CLI is and the test runs as root, and
//! otherwise tests/goldens/docker_parity.json, recorded by `cargo xtask goldens` (issue
//! 18). A golden needs fixed inputs: the generated images have fixed seeds (stable IDs and
//! digests) and pinned created times, the registry's port is a placeholder, and both sides
//! run with `TZ=UTC`. A relative time is not fixed: `CreatedSince` of the images created
//! 2024-01-01 ("2 years ago") grows a year each year, so it is compared live only; the
//! image `cmp/ahead`, created 2199-01-01 (a build machine's clock far ahead), is "Less than
//! a second ago" to docker and img alike until then, and is compared in every format
//! either way. The podman-built image (created when it is built) is compared live only.

use img_core::Digest;
use img_core::oci::Descriptor;
use img_core::oci::Platform;
use img_core::oci::media_type::Compression;
use img_core::testing::images::{Flavor, ImageSpec, LayerSpec, build_image};
use img_core::testing::{
    DockerComparison, Fixture, TestDockerd, TestImage, push_image, real_images, run,
};
use serde_json::Value;

/// Formats compared byte for byte, tables included.
const FORMATS: &[&str] = &[
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}",
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}",
    "{{.Repository}}:{{.Tag}} {{.ID}}",
    "{{.CreatedAt}}",
    "{{.CreatedSince}}",
    "{{.Digest}}",
    "{{json .Repository}} {{json .Tag}}",
    "{{.Repository}}\t{{.Tag}}",
    "{{upper .Tag}} {{len .ID}}",
    "{{.Containers}}",
    "{{.SharedSize}} {{.UniqueSize}}",
];

/// Headers compared (their first line): the rows hold sizes, which differ on purpose.
const HEADERS: &[&str] = &[
    "table {{.VirtualSize}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
    "table {{.CreatedAt}}\t{{.ID}}\t{{.Digest}}",
];

/// The extra flags each format is compared with.
const EXTRAS: &[&[&str]] = &[&[], &["--no-trunc"], &["--digests"]];

/// The created time of `cmp/ahead`: far enough ahead that "Less than a second ago" holds
/// for the project's life.
const AHEAD: &str = "2199-01-01T00:00:00Z";

/// What the goldens hold of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kept {
    /// Everything: its created time is ahead, its age always "Less than a second".
    All,
    /// All but its `CreatedSince`, which grows with the years: live only.
    AllButAge,
    /// Nothing: it is built on each run (podman build), live only.
    Nothing,
}

/// `text` with the values of `keys` (JSON strings) replaced by `X`.
fn masked(text: &str, keys: &[&str]) -> String {
    let mut out = text.to_owned();
    for key in keys {
        let key = format!("\"{key}\":\"");
        let mut from = 0;
        while let Some(at) = out[from..].find(&key) {
            let start = from + at + key.len();
            let end = start + out[start..].find('"').expect("a closed string");
            out.replace_range(start..end, "X");
            from = start;
        }
    }
    out
}

/// The sizes differ on purpose.
const SIZES: &[&str] = &["Size", "VirtualSize"];
/// The sizes, and an age that grows with the years.
const SIZES_AND_AGE: &[&str] = &["Size", "VirtualSize", "CreatedSince"];

/// A generated image whose config says it was created at [`AHEAD`] (fixed seed, so fixed
/// digests).
fn ahead_image() -> TestImage {
    let mut image = build_image(&ImageSpec {
        name: "cmp/ahead".to_owned(),
        tag: "1".to_owned(),
        flavor: Flavor::Oci,
        platform: Platform::parse("linux/amd64").unwrap(),
        layers: vec![LayerSpec {
            size: 4096,
            compression: Compression::Gzip,
        }],
        seed: 91,
    });
    let mut manifest: Value = serde_json::from_slice(&image.top.1).unwrap();
    let config_digest: Digest = manifest["config"]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let at = image
        .blobs
        .iter()
        .position(|(d, _)| d.digest == config_digest)
        .unwrap();
    let mut config: Value = serde_json::from_slice(&image.blobs[at].1).unwrap();
    config["created"] = AHEAD.into();
    for step in config["history"].as_array_mut().unwrap() {
        step["created"] = AHEAD.into();
    }
    let config_bytes = serde_json::to_vec(&config).unwrap();
    let config_desc = Descriptor::of(&image.blobs[at].0.media_type, &config_bytes);
    manifest["config"]["digest"] = config_desc.digest.to_string().into();
    manifest["config"]["size"] = config_desc.size.into();
    image.blobs[at] = (config_desc, config_bytes);
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    image.top = (
        Descriptor::of(&image.top.0.media_type, &manifest_bytes),
        manifest_bytes,
    );
    image
}

fn docker_run(daemon: &TestDockerd, args: &[&str]) -> (i32, String, String) {
    let out = daemon
        .docker()
        .env("TZ", "UTC")
        .args(args)
        .output()
        .expect("running docker");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `docker ARGS` as typed (formats quoted), for the golden file.
fn typed(args: &[&str]) -> String {
    let words: Vec<String> = args
        .iter()
        .map(|a| {
            if a.contains([' ', '\t', '{']) {
                format!("'{a}'")
            } else {
                (*a).to_owned()
            }
        })
        .collect();
    format!("docker {}", words.join(" "))
}

/// docker's answer to `docker ARGS`, `mask` applied: through the goldens when `kept`,
/// otherwise live only (none in a golden comparison).
fn docker_answer(
    cmp: &mut DockerComparison,
    daemon: Option<&TestDockerd>,
    args: &[&str],
    kept: bool,
    mask: &[&str],
) -> Option<(i32, String, String)> {
    let live = |daemon: &TestDockerd| {
        let (code, out, err) = docker_run(daemon, args);
        (code, masked(&out, mask), err)
    };
    if kept {
        Some(cmp.answer(&args.join(" "), &typed(args), || {
            live(daemon.expect("a live comparison has a daemon"))
        }))
    } else {
        daemon.map(live)
    }
}

/// img's output and docker's, taken so that a relative time (`CreatedSince`: "6 seconds
/// ago") crossing a boundary between the two runs cannot fail the comparison: docker runs
/// before and after img, and img's output is paired with whichever of the two it equals
/// (the first when it equals neither, so the assertion shows a real difference). None
/// when docker's side is live only and this comparison is not.
fn bracketed(
    img: impl Fn() -> String,
    mut docker: impl FnMut() -> Option<String>,
) -> Option<(String, String)> {
    let before = docker()?;
    let got = img();
    if got == before {
        return Some((got, before));
    }
    let after = docker()?;
    Some(if got == after {
        (got, after)
    } else {
        (got, before)
    })
}

#[test]
fn img_ls_prints_what_docker_images_prints() {
    let f = Fixture::new().expect("the test registry");
    let mut cmp = DockerComparison::new(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/goldens/docker_parity.json"),
    );
    cmp.note(
        "CreatedSince of the images created 2024-01-01 (test/alpine-like, test/multi) is \
         compared live only: docker's \"2 years ago\" grows a year each year. cmp/ahead, \
         created 2199-01-01, is \"Less than a second ago\" until then and kept in every \
         format. real/podman-build (built on each run) is live only. Both sides run with \
         TZ=UTC; the tables' widths assume a 5-digit registry port (127.0.0.1:XXXXX).",
    );
    // The registry's port differs from run to run; its width is in the tables' columns,
    // so the placeholder keeps it.
    let addr = f.registry.addr();
    cmp.placeholder(&addr, "127.0.0.1:XXXXX");
    if !cmp.is_live() {
        assert_eq!(
            addr.len(),
            "127.0.0.1:32768".len(),
            "the goldens' tables were recorded with a 5-digit port (Linux's ephemeral \
             range, /proc/sys/net/ipv4/ip_local_port_range); this registry is on {addr}"
        );
    }
    let daemon = cmp
        .is_live()
        .then(|| TestDockerd::start().unwrap_or_else(|e| panic!("{e}")));
    push_image(&f.registry.client().unwrap(), &ahead_image()).unwrap();
    let mut names = vec![
        ("test/alpine-like:latest", Kept::AllButAge),
        ("test/multi:latest", Kept::AllButAge),
        ("cmp/ahead:1", Kept::All),
    ];
    if daemon.is_some() {
        let real = real_images::podman_build().unwrap_or_else(|e| panic!("{e}"));
        real_images::push(&real, &f.registry, "real/podman-build:1").unwrap();
        names.push(("real/podman-build:1", Kept::Nothing));
    }
    let img_ls = |args: &[&str]| {
        let r = run(
            f.command(env!("CARGO_BIN_EXE_img-ls"))
                .env("TZ", "UTC")
                .args(args),
            None,
        );
        (r.code, r.stdout, r.stderr)
    };
    let mut compared = 0;
    for (name, kept) in &names {
        let reference = f.reference(name);
        if let Some(daemon) = &daemon {
            let (code, _, err) = docker_run(daemon, &["pull", "-q", &reference]);
            assert_eq!(code, 0, "docker pull {reference}: {err}");
        }
        f.pull(name)
            .unwrap_or_else(|e| panic!("img pull {name}: {e}"));
        let repo = reference.rsplit_once(':').unwrap().0;
        for format in FORMATS {
            let aged = format.contains("CreatedSince");
            let in_goldens = *kept == Kept::All || (*kept == Kept::AllButAge && !aged);
            for extra in EXTRAS {
                let mut args = vec!["images"];
                args.extend_from_slice(extra);
                args.extend(["--format", format, repo]);
                let img = || {
                    let (code, out, err) = img_ls(&args[1..]);
                    assert_eq!(code, 0, "{err}");
                    out
                };
                let docker = || {
                    let (code, out, err) =
                        docker_answer(&mut cmp, daemon.as_ref(), &args, in_goldens, &[])?;
                    assert_eq!(code, 0, "{}: {err}", typed(&args));
                    Some(out)
                };
                if let Some((img, docker)) = bracketed(img, docker) {
                    assert_eq!(img, docker, "{name}: {extra:?} --format {format:?}");
                    compared += 1;
                }
            }
        }
        for extra in EXTRAS {
            let args = |format: &'static str| {
                let mut args = vec!["images"];
                args.extend_from_slice(extra);
                args.extend(["--format", format, repo]);
                args
            };
            let img = |format, mask| {
                let (code, out, err) = img_ls(&args(format)[1..]);
                assert_eq!(code, 0, "{err}");
                masked(&out, mask)
            };
            // Regression (issue 14): --format json was img's record, not docker's bytes.
            // Into the goldens without the age of an image it grows for; with it, live.
            let mut kinds = vec![];
            match kept {
                Kept::All => kinds.push((true, SIZES)),
                Kept::AllButAge => kinds.extend([(true, SIZES_AND_AGE), (false, SIZES)]),
                Kept::Nothing => kinds.push((false, SIZES)),
            }
            for (in_goldens, mask) in kinds {
                let json = args("json");
                let docker = || {
                    let (code, out, err) =
                        docker_answer(&mut cmp, daemon.as_ref(), &json, in_goldens, mask)?;
                    assert_eq!(code, 0, "{}: {err}", typed(&json));
                    Some(out)
                };
                if let Some((got, want)) = bracketed(|| img("json", mask), docker) {
                    assert!(want.contains("\"Containers\":"), "{want}");
                    assert_eq!(
                        got, want,
                        "{name}: {extra:?} --format json (masked: {mask:?})"
                    );
                    compared += 1;
                }
            }
            for format in HEADERS {
                let first = |s: &str| s.lines().next().unwrap_or_default().to_owned();
                let in_goldens = *kept != Kept::Nothing;
                if let Some((_, want, _)) =
                    docker_answer(&mut cmp, daemon.as_ref(), &args(format), in_goldens, &[])
                {
                    assert_eq!(first(&img(format, &[])), first(&want), "{format:?}");
                }
            }
        }
    }
    // An unknown filter: both refuse it, with status 1.
    let (docker_code, _, _) = docker_answer(
        &mut cmp,
        daemon.as_ref(),
        &["images", "-f", "color=red"],
        true,
        &[],
    )
    .unwrap();
    let (img_code, _, _) = img_ls(&["-f", "color=red"]);
    assert_eq!((img_code, docker_code), (1, 1));

    // Every format of every image live; in the goldens all but the ages of the two images
    // created in 2024 and the podman-built image.
    let per_image = FORMATS.len() * EXTRAS.len() + EXTRAS.len();
    let aged = FORMATS
        .iter()
        .filter(|f| f.contains("CreatedSince"))
        .count();
    let want = if cmp.is_live() {
        names.len() * per_image
    } else {
        per_image + 2 * (per_image - aged * EXTRAS.len())
    };
    assert!(compared >= want, "only {compared} comparisons of {want}");
    cmp.finish();
}
