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
