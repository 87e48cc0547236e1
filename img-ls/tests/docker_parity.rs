//! img-ls against `docker images` itself (issue 10): a real dockerd (the shared harness)
//! and img pull the same images from the same test registry, and the table and
//! `--format` outputs must be the same bytes — all but the size, which differs on purpose
//! (img counts the compressed blobs it keeps, docker the unpacked layers).

use img_core::testing::{Fixture, TestDockerd, run};

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
];

#[test]
fn img_ls_prints_what_docker_images_prints() {
    let f = Fixture::new().expect("the test registry");
    let daemon = TestDockerd::start().unwrap_or_else(|e| panic!("{e}"));
    let mut compared = 0;
    for name in ["test/alpine-like:latest", "test/multi:latest"] {
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
                let docker = daemon
                    .docker()
                    .arg("images")
                    .args(extra)
                    .args(["--format", format, repo])
                    .output()
                    .unwrap();
                assert!(docker.status.success(), "{docker:?}");
                let docker = String::from_utf8(docker.stdout).unwrap();
                let mut args: Vec<&str> = extra.to_vec();
                args.extend(["--format", format, repo]);
                let img = run(f.command(env!("CARGO_BIN_EXE_img-ls")).args(&args), None);
                assert_eq!(img.code, 0, "{}", img.stderr);
                assert_eq!(img.stdout, docker, "{name}: {extra:?} --format {format:?}");
                compared += 1;
            }
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
    assert!(compared >= 2 * FORMATS.len() * 3);
}
