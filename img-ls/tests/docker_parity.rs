//! img-ls against `docker images` itself (issue 10): a real dockerd (the shared harness)
//! and img pull the same images from the same test registry, and the table and
//! `--format` outputs must be the same bytes — all but the size, which differs on purpose
//! (img counts the compressed blobs it keeps, docker the unpacked layers). Issue 14 adds
//! `--format json` (docker's sorted keys and Go's `\u003c` escapes, sizes aside), the
//! headers of the keys beyond the record (`{{.VirtualSize}}` is `SIZE`), and a real image
//! (podman build's, pushed by skopeo) beside the generated ones.

use img_core::testing::{Fixture, TestDockerd, real_images, run};

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

/// `text` with the values of `"Size"` and `"VirtualSize"` replaced by `X`.
fn without_sizes(text: &str) -> String {
    let mut out = text.to_owned();
    for key in ["\"Size\":\"", "\"VirtualSize\":\""] {
        let mut from = 0;
        while let Some(at) = out[from..].find(key) {
            let start = from + at + key.len();
            let end = start + out[start..].find('"').expect("a closed string");
            out.replace_range(start..end, "X");
            from = start;
        }
    }
    out
}

/// img's output and docker's, taken so that a relative time (`CreatedSince`: "6 seconds
/// ago") crossing a boundary between the two runs cannot fail the comparison: docker runs
/// before and after img, and img's output is paired with whichever of the two it equals
/// (the first when it equals neither, so the assertion shows a real difference).
fn bracketed(img: impl Fn() -> String, docker: impl Fn() -> String) -> (String, String) {
    let before = docker();
    let got = img();
    if got == before {
        return (got, before);
    }
    let after = docker();
    if got == after {
        (got, after)
    } else {
        (got, before)
    }
}

#[test]
fn img_ls_prints_what_docker_images_prints() {
    let f = Fixture::new().expect("the test registry");
    let daemon = TestDockerd::start().unwrap_or_else(|e| panic!("{e}"));
    let real = real_images::podman_build().unwrap_or_else(|e| panic!("{e}"));
    real_images::push(&real, &f.registry, "real/podman-build:1").unwrap();
    let mut compared = 0;
    for name in [
        "test/alpine-like:latest",
        "test/multi:latest",
        "real/podman-build:1",
    ] {
        let reference = f.reference(name);
        let out = daemon
            .docker()
            .args(["pull", "-q", &reference])
            .output()
            .unwrap();
        assert!(out.status.success(), "docker pull {reference}: {out:?}");
        f.pull(name)
            .unwrap_or_else(|e| panic!("img pull {name}: {e}"));
        let repo = reference.rsplit_once(':').unwrap().0;
        for format in FORMATS {
            for extra in [&[][..], &["--no-trunc"][..], &["--digests"][..]] {
                let docker = || {
                    let out = daemon
                        .docker()
                        .arg("images")
                        .args(extra)
                        .args(["--format", format, repo])
                        .output()
                        .unwrap();
                    assert!(out.status.success(), "{out:?}");
                    String::from_utf8(out.stdout).unwrap()
                };
                let img = || {
                    let mut args: Vec<&str> = extra.to_vec();
                    args.extend(["--format", format, repo]);
                    let r = run(f.command(env!("CARGO_BIN_EXE_img-ls")).args(&args), None);
                    assert_eq!(r.code, 0, "{}", r.stderr);
                    r.stdout
                };
                let (img, docker) = bracketed(img, docker);
                assert_eq!(img, docker, "{name}: {extra:?} --format {format:?}");
                compared += 1;
            }
        }
        for extra in [&[][..], &["--no-trunc"][..], &["--digests"][..]] {
            let docker = |format: &str| {
                let out = daemon
                    .docker()
                    .arg("images")
                    .args(extra)
                    .args(["--format", format, repo])
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{out:?}");
                String::from_utf8(out.stdout).unwrap()
            };
            let img = |format: &str| {
                let mut args: Vec<&str> = extra.to_vec();
                args.extend(["--format", format, repo]);
                let r = run(f.command(env!("CARGO_BIN_EXE_img-ls")).args(&args), None);
                assert_eq!(r.code, 0, "{}", r.stderr);
                r.stdout
            };
            // Regression (issue 14): --format json was img's record, not docker's bytes.
            let (got, want) = bracketed(
                || without_sizes(&img("json")),
                || without_sizes(&docker("json")),
            );
            assert!(want.contains("\"Containers\":"), "{want}");
            assert_eq!(got, want, "{name}: {extra:?} --format json");
            for format in HEADERS {
                let first = |s: String| s.lines().next().unwrap_or_default().to_owned();
                assert_eq!(first(img(format)), first(docker(format)), "{format:?}");
            }
            compared += 1;
        }
        // An unknown filter: both refuse it, with status 1.
        let docker = daemon
            .docker()
            .args(["images", "-f", "color=red"])
            .output()
            .unwrap();
        let img = run(
            f.command(env!("CARGO_BIN_EXE_img-ls"))
                .args(["-f", "color=red"]),
            None,
        );
        assert_eq!((img.code, docker.status.code()), (1, Some(1)));
    }
    assert!(compared >= 3 * (FORMATS.len() + 1) * 3);
}
