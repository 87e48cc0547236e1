//! `img-ls --tree` (docker 29's expanded tree) on a store filled by real pulls from the
//! test registry: a one-platform image, the same image's index with `--all-platforms`
//! (sharing the first one's platform), and an untagged image shown only with `-a`.

use img_core::Digest;
use img_core::ops::ls::tree::tree_size;
use img_core::record::ImageRecord;
use img_core::testing::Fixture;

const BIN: &str = env!("CARGO_BIN_EXE_img-ls");

struct Store {
    f: Fixture,
    alpine: ImageRecord,
    /// test/multi's amd64 platform pulled alone, then tagged `local/multi-one:1`.
    one: ImageRecord,
    /// test/multi with all its platforms.
    multi: ImageRecord,
    /// test/oci-zstd, its tag removed (untagged, kept by its repo digest).
    untagged: ImageRecord,
}

fn setup() -> Store {
    let f = Fixture::new().expect("starting the test registry");
    let alpine = f.pull("test/alpine-like:latest").unwrap().record;
    let one = f.pull("test/multi:latest").unwrap().record;
    let store = f.store().unwrap();
    store
        .index()
        .tag(&one.id, "docker.io/local/multi-one", "1")
        .unwrap();
    let multi = f.pull_all_platforms("test/multi:latest").unwrap().record;
    let untagged = f.pull("test/oci-zstd:1").unwrap().record;
    let name = img_core::Reference::parse_normalized(&f.reference("test/oci-zstd:1"))
        .unwrap()
        .name();
    store.index().untag(&name, "1").unwrap();
    Store {
        f,
        alpine,
        one,
        multi,
        untagged,
    }
}

fn short(d: &Digest) -> String {
    d.hex()[..12].to_owned()
}

/// A details line of the tree, the IMAGE column `width` wide.
fn line(width: usize, first: &str, id: &Digest, disk: u64, content: u64) -> String {
    format!(
        "{first:width$}   {}   {:>10}   {:>12}   {:5}",
        short(id),
        tree_size(disk),
        tree_size(content),
        ""
    )
}

fn tree(f: &Fixture, args: &[&str]) -> String {
    let mut all = vec!["--tree"];
    all.extend_from_slice(args);
    f.run(BIN, &all, None).success().stdout
}

#[test]
fn tree_shows_platforms_and_what_removing_each_would_free() {
    let s = setup();
    let f = &s.f;
    let alpine_name = format!("{}:latest", f.reference("test/alpine-like"));
    let multi_name = format!("{}:latest", f.reference("test/multi"));
    let width = alpine_name.len().max(multi_name.len());
    let image = f.image("test/multi");
    let manifest = |i: usize| image.manifests[i].0.digest.clone();
    let content = |i: usize| -> u64 {
        // The platform's manifest, config and layers, as the registry served them.
        let m: serde_json::Value = serde_json::from_slice(&image.manifests[i].1).unwrap();
        let mut n = image.manifests[i].0.size + m["config"]["size"].as_u64().unwrap();
        for l in m["layers"].as_array().unwrap() {
            n += l["size"].as_u64().unwrap();
        }
        n
    };
    let amd64 = content(0);
    // The one-platform image pins multi's amd64 platform, and the index its repo digest
    // names.
    let index_size = image.top.0.size;
    assert_eq!(s.one.size, amd64 + index_size);

    let shown = tree(f, &[]);
    assert!(!shown.contains('\x1b'), "colour in a pipe: {shown}");
    let expected = [
        format!(
            "{:width$}   ID             DISK USAGE   CONTENT SIZE   EXTRA",
            "IMAGE"
        ),
        // Nothing else pins alpine's blobs: removing it frees all of them.
        line(
            width,
            &alpine_name,
            &s.alpine.id,
            s.alpine.size,
            s.alpine.size,
        ),
        line(
            width,
            "└─ linux/amd64",
            &s.alpine.digest,
            s.alpine.size,
            s.alpine.size,
        ),
        String::new(),
        // The index frees all but its amd64 platform and itself, which multi-one pins too.
        line(
            width,
            &multi_name,
            &s.multi.id,
            s.multi.size - amd64 - index_size,
            s.multi.size,
        ),
        line(width, "├─ linux/amd64", &manifest(0), 0, amd64),
        line(
            width,
            "├─ linux/arm64/v8",
            &manifest(1),
            content(1),
            content(1),
        ),
        line(
            width,
            "└─ linux/arm/v7",
            &manifest(2),
            content(2),
            content(2),
        ),
        String::new(),
        // A one-platform image pulled from an index shows its one platform; the index
        // image pins all of it, so removing it alone frees nothing.
        line(width, "local/multi-one:1", &s.one.id, 0, s.one.size),
        line(width, "└─ linux/amd64", &manifest(0), 0, amd64),
        String::new(),
    ];
    let got: Vec<&str> = shown.lines().collect();
    assert_eq!(got, expected, "{shown}");
    assert!(!shown.contains("<untagged>"));

    // -a adds the untagged image, last; its blobs are its own.
    let all = tree(f, &["-a"]);
    let tail: Vec<&str> = all.lines().rev().take(3).collect();
    assert_eq!(
        tail,
        [
            String::new(),
            line(
                width,
                "└─ linux/amd64",
                &s.untagged.digest,
                s.untagged.size,
                s.untagged.size
            ),
            line(
                width,
                "<untagged>",
                &s.untagged.id,
                s.untagged.size,
                s.untagged.size
            ),
        ],
        "{all}"
    );
    // A dangling=true filter lists it without -a, as docker 29 does.
    let dangling = tree(f, &["-f", "dangling=true"]);
    assert!(dangling.contains("<untagged>"), "{dangling}");
    assert!(!dangling.contains(&alpine_name), "{dangling}");
}

#[test]
fn tree_refuses_what_docker_does_not_yet_support_with_it() {
    let f = Fixture::new().expect("starting the test registry");
    for (flag, args) in [
        ("--quiet", &["--tree", "-q"][..]),
        ("--no-trunc", &["--tree", "--no-trunc"]),
        ("--digests", &["--tree", "--digests"]),
        ("--format", &["--tree", "--format", "json"]),
    ] {
        let run = f.run(BIN, args, None).failure(2, 1);
        assert!(
            run.stderr
                .contains(&format!("{flag} is not yet supported with --tree")),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn tree_on_a_terminal_has_dockers_colours_and_legend() {
    let s = setup();
    let mut cmd = s.f.command("sh");
    cmd.args([
        "-c",
        r#"stty cols 200 rows 40; NO_COLOR= exec "$0" --tree"#,
        BIN,
    ]);
    let shown = img_core::testing::on_terminal(&cmd);
    let first = shown.lines().next().unwrap();
    assert!(first.ends_with(" In Use"), "{shown}");
    assert!(
        first.starts_with("     "),
        "the legend is right-aligned: {shown}"
    );
    assert!(shown.contains("\x1b[39m\x1b[1mIMAGE\x1b[0m"), "{shown}");
    let name = format!("{}:latest", s.f.reference("test/alpine-like"));
    assert!(
        shown.contains(&format!("\x1b[34m\x1b[1m{name}\x1b[0m")),
        "{shown}"
    );

    let mut cmd = s.f.command("sh");
    cmd.args([
        "-c",
        r#"stty cols 200 rows 40; NO_COLOR=1 exec "$0" --tree"#,
        BIN,
    ]);
    let plain = img_core::testing::on_terminal(&cmd);
    assert!(!plain.contains('\x1b'), "NO_COLOR: {plain}");
    assert!(
        plain.lines().next().unwrap().ends_with("Info ->  U In Use"),
        "{plain}"
    );
}

/// Regression (issue 18): DISK USAGE counted a blob a live lease holds (a pull or push in
/// progress) as freed by removing the image, though neither prune nor img-rm frees it
/// while the lease lives. With a lease on the image's largest layer the tree leaves that
/// layer out, as prune's estimate does; once the lease goes, it counts again.
#[test]
fn disk_usage_leaves_out_a_blob_a_live_lease_holds() {
    let f = Fixture::new().expect("starting the test registry");
    let alpine = f.pull("test/alpine-like:latest").unwrap().record;
    let name = format!("{}:latest", f.reference("test/alpine-like"));
    let width = name.len();
    let store = f.store().unwrap();
    let (layer, layer_size) = store
        .index()
        .image_blobs(&alpine.id)
        .unwrap()
        .into_iter()
        .map(|d| {
            let size = store.index().blob(&d).unwrap().unwrap().size;
            (d, size)
        })
        .max_by_key(|(_, size)| *size)
        .unwrap();
    assert!(layer_size > 0 && layer_size < alpine.size);
    let lines = |disk: u64| {
        vec![
            format!(
                "{:width$}   ID             DISK USAGE   CONTENT SIZE   EXTRA",
                "IMAGE"
            ),
            line(width, &name, &alpine.id, disk, alpine.size),
            line(width, "└─ linux/amd64", &alpine.digest, disk, alpine.size),
            String::new(),
        ]
    };
    // What a prune that removes the image would free beyond what one without it frees.
    let freed_by_removing = || {
        let with = store
            .reclaimable_without(&[alpine.id.clone()].into_iter().collect())
            .unwrap();
        with - store.reclaimable_without(&Default::default()).unwrap()
    };
    assert_eq!(
        tree(&f, &[]).lines().collect::<Vec<_>>(),
        lines(alpine.size)
    );
    assert_eq!(freed_by_removing(), alpine.size);

    let lease = store.lease("pulling a test image").unwrap();
    lease.protect(&layer).unwrap();
    let shown = tree(&f, &[]);
    assert_eq!(
        shown.lines().collect::<Vec<_>>(),
        lines(alpine.size - layer_size),
        "{shown}"
    );
    assert_eq!(freed_by_removing(), alpine.size - layer_size);

    lease.release().unwrap();
    assert_eq!(
        tree(&f, &[]).lines().collect::<Vec<_>>(),
        lines(alpine.size)
    );
}
