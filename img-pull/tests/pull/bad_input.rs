//! Bad input: unknown images and tags, malformed references, a registry that is down,
//! bad flags and a full disk — one clear line each, the right exit status, the other
//! images of the command still pulled, and nothing half-stored.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use img_core::testing::Fixture;

use super::*;

/// Asserts the store holds exactly the images tagged `expected` (full `name:tag`).
#[track_caller]
fn only_images(root: &Path, expected: &[&str]) {
    let store = Store::open(root).unwrap();
    let mut tagged: Vec<String> = store
        .index()
        .list_images(&Default::default())
        .unwrap()
        .into_iter()
        .map(|r| {
            format!(
                "{}:{}",
                r.repository.unwrap_or_default(),
                r.tag.unwrap_or_default()
            )
        })
        .collect();
    tagged.sort();
    let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(tagged, expected);
    assert!(
        partials(root).is_empty(),
        "partials left: {:?}",
        partials(root)
    );
    verify_store(root);
}

#[test]
fn unknown_images_tags_and_malformed_references_fail_alone() {
    let f = Fixture::new().unwrap();
    let good1 = f.reference("test/alpine-like:latest");
    let no_repo = f.reference("test/no-such-image:latest");
    let no_tag = f.reference("test/oci-zstd:no-such-tag");
    let malformed = "Bad Name!";
    let good2 = f.reference("test/oci-zstd:1");
    let run = pull_in(&f, &[&good1, &no_repo, &no_tag, malformed, &good2]).failure(1, 3);
    let pulled: Vec<String> = run
        .records::<ImageRecord>()
        .into_iter()
        .map(|r| r.reference.unwrap().to_string())
        .collect();
    assert_eq!(pulled, vec![good1.clone(), good2.clone()]);
    let lines: Vec<&str> = run.stderr.lines().collect();
    for (line, item) in lines.iter().zip([&no_repo, &no_tag, &malformed.to_owned()]) {
        assert!(
            line.starts_with(&format!("img-pull: {item:?}: ")),
            "{line:?} names {item}"
        );
    }
    assert!(
        lines[0].contains("unknown") || lines[0].contains("not found"),
        "{}",
        lines[0]
    );
    assert!(lines[1].contains("manifest unknown"), "{}", lines[1]);
    assert!(lines[2].contains("invalid reference"), "{}", lines[2]);
    only_images(&f.root(), &[&good1, &good2]);
}

/// Regression: a refused connection was retried with backoff, twice (the HEAD, then the
/// GET), so a registry that is down took twelve seconds to report.
#[test]
fn a_registry_that_is_down_fails_at_once_and_the_others_still_pull() {
    let f = Fixture::new().unwrap();
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let down = format!("127.0.0.1:{port}/test/alpine-like:latest");
    let good = f.reference("test/alpine-like:latest");
    let t = Instant::now();
    let run = pull_in(&f, &[&down, &good]).failure(1, 1);
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t.elapsed()
    );
    assert!(
        run.stderr.starts_with(&format!("img-pull: {down:?}: ")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("connection refused"), "{}", run.stderr);
    assert!(
        run.stderr.contains("is the registry running"),
        "{}",
        run.stderr
    );
    assert_eq!(run.record().reference.unwrap().to_string(), good);
    only_images(&f.root(), &[&good]);
}

#[test]
fn bad_flags_are_usage_errors_and_pull_nothing() {
    let f = Fixture::new().unwrap();
    let good = f.reference("test/alpine-like:latest");
    for args in [
        &["--jobs", "0", good.as_str()][..],
        &["-j", "0", good.as_str()][..],
        &["--bogus", good.as_str()][..],
        &["--jobs"][..],
    ] {
        let run = pull_in(&f, args);
        assert_eq!(run.code, 2, "{args:?}: {run:#?}");
        assert!(run.stdout.is_empty(), "{args:?}");
        assert!(
            run.stderr.starts_with("img-pull: "),
            "{args:?}: {}",
            run.stderr
        );
        assert!(run.stderr.lines().count() <= 2, "{args:?}: {}", run.stderr);
    }
    let run = pull_in(&f, &["--jobs", "0", &good]);
    assert!(run.stderr.contains("--jobs"), "{}", run.stderr);
    only_images(&f.root(), &[]);
}

#[test]
fn no_space_left_is_one_line_and_leaves_a_sound_store() {
    let f = Fixture::new().unwrap();
    let small = f.reference("test/alpine-like:latest");
    let big = f.reference("test/big:latest");
    let out = f.dir().join("out");
    std::fs::create_dir_all(out.join("store")).unwrap();
    std::fs::create_dir_all(f.root()).unwrap();
    // A 1 MiB tmpfs over the store, in a private mount namespace: the small image fits,
    // the big one (2 MiB) does not. The store is copied out before the namespace ends.
    img_core::testing::small_disk::run_on_small_disk(
        &f.command(BIN),
        "1m",
        r#""$0" "$1" "$2" > "$3/stdout" 2> "$3/stderr"; echo $? > "$3/code"
cp -a "$IMG_ROOT/." "$3/store/""#,
        &[small.as_ref(), big.as_ref(), out.as_os_str()],
    );
    let read = |n: &str| std::fs::read_to_string(out.join(n)).unwrap();
    let run = Run {
        code: read("code").trim().parse().unwrap(),
        stdout: read("stdout"),
        stderr: read("stderr"),
        tool: "img-pull".into(),
    }
    .failure(1, 1);
    assert!(
        run.stderr.starts_with(&format!("img-pull: {big:?}: ")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("no space left"), "{}", run.stderr);
    assert_eq!(run.record().reference.unwrap().to_string(), small);
    let store = out.join("store");
    let s = Store::open(&store).unwrap();
    let images = s.index().list_images(&Default::default()).unwrap();
    assert_eq!(images.len(), 1, "only the small image: {images:?}");
    verify_store(&store);
}
