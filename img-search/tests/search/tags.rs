//! `img-search --tags NAME` on the real registry: version order, `--filter tag=GLOB`,
//! `--limit`, `--digests` (parallel HEADs, at most `jobs` at once), `Link` pages through
//! a paging proxy (distribution 2.8 ignores `n`), and tag records piped into img-pull.

use img_core::record::{ImageRecord, TagRecord};
use img_core::testing::{TestImage, TestRegistry, push_image, standard_set};

use super::Sandbox;
use super::paging_proxy::PagingProxy;

/// Tags put on `test/app`, in no order; `other` names a second image.
const TAGS: &[&str] = &[
    "v1.10.0",
    "latest",
    "v1.2.10",
    "v1.9.0",
    "edge",
    "v1.2.9",
    "v2.0.0",
    "v2.0.0-rc.1",
    "1.0",
];

/// In the order img-search lists them.
const ORDERED: &[&str] = &[
    "1.0",
    "v1.2.9",
    "v1.2.10",
    "v1.9.0",
    "v1.10.0",
    "v2.0.0-rc.1",
    "v2.0.0",
    "edge",
    "latest",
    "other",
];

/// A registry with `test/app` tagged with [`TAGS`] (one image) and `other` (another).
fn app_registry() -> (TestRegistry, TestImage, TestImage) {
    let registry = TestRegistry::start().expect("starting docker-registry");
    let client = registry.client().unwrap();
    let mut set = standard_set();
    let mut base = set.remove(0);
    base.name = "test/app".into();
    push_image(&client, &base).unwrap();
    for t in TAGS {
        client
            .put_manifest(&base.name, t, &base.top.0.media_type, &base.top.1)
            .unwrap();
    }
    let mut other = set.remove(0);
    other.name = "test/app".into();
    other.tag = "other".into();
    push_image(&client, &other).unwrap();
    (registry, base, other)
}

fn tags_of(r: &img_core::testing::Run) -> Vec<String> {
    r.records::<TagRecord>()
        .into_iter()
        .map(|t| t.tag)
        .collect()
}

#[test]
fn tags_come_in_version_order_and_filter_by_glob() {
    let (registry, base, other) = app_registry();
    let s = Sandbox::new();
    let name = format!("{}/test/app", registry.addr());
    let r = s.search(&["--tags", &name]).success();
    assert_eq!(tags_of(&r), ORDERED);
    let first: serde_json::Value = serde_json::from_str(r.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(
        first,
        serde_json::json!({"Name": format!("{name}:1.0"), "Tag": "1.0"})
    );

    let r = s
        .search(&["--tags", &name, "--filter", "tag=v1.*"])
        .success();
    assert_eq!(tags_of(&r), ["v1.2.9", "v1.2.10", "v1.9.0", "v1.10.0"]);
    let r = s
        .search(&[
            "--tags",
            &name,
            "--filter",
            "tag=v1.2.*",
            "--filter",
            "tag=*st",
        ])
        .success();
    assert_eq!(tags_of(&r), ["v1.2.9", "v1.2.10", "latest"]);
    let r = s.search(&["--tags", &name, "--limit", "2"]).success();
    assert_eq!(tags_of(&r), ["1.0", "v1.2.9"]);

    // Digests: every tag but `other` shares one, which is what --digests is for.
    let r = s
        .search(&["--tags", &name, "--digests", "--filter", "tag=*e*"])
        .success();
    let records: Vec<TagRecord> = r.records();
    let got: Vec<(String, String)> = records
        .iter()
        .map(|t| (t.tag.clone(), t.digest.as_ref().unwrap().to_string()))
        .collect();
    assert_eq!(
        got,
        [
            ("edge".to_owned(), base.digest().to_string()),
            ("latest".to_owned(), base.digest().to_string()),
            ("other".to_owned(), other.digest().to_string()),
        ]
    );
    // On a terminal: NAME TAG DIGEST.
    let shown = s.on_terminal(&["--tags", &name, "--digests", "--filter", "tag=edge"]);
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 2, "{shown}");
    let cells: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(cells, ["NAME", "TAG", "DIGEST"]);
    let cells: Vec<String> = lines[1].split_whitespace().map(str::to_owned).collect();
    assert_eq!(
        cells,
        [
            format!("{name}:edge"),
            "edge".into(),
            base.digest().to_string()
        ]
    );
    // A template sees the record's keys.
    let r = s
        .search(&[
            "--tags",
            &name,
            "--filter",
            "tag=v2*",
            "--format",
            "{{.Tag}} {{.Name}}",
        ])
        .success();
    assert_eq!(
        r.stdout,
        format!("v2.0.0-rc.1 {name}:v2.0.0-rc.1\nv2.0.0 {name}:v2.0.0\n")
    );
}

#[test]
fn tag_records_pipe_into_img_pull() {
    let (registry, base, _) = app_registry();
    let s = Sandbox::new();
    let name = format!("{}/test/app", registry.addr());
    let r = s
        .search_into_pull(&["--tags", &name, "--filter", "tag=v1.*"])
        .success();
    let pulled: Vec<ImageRecord> = r.records();
    let refs: Vec<String> = pulled
        .iter()
        .map(|p| p.reference.as_ref().unwrap().to_string())
        .collect();
    assert_eq!(
        refs,
        ["v1.2.9", "v1.2.10", "v1.9.0", "v1.10.0"].map(|t| format!("{name}:{t}"))
    );
    assert!(
        pulled.iter().all(|p| &p.digest == base.digest()),
        "{pulled:?}"
    );
}

#[test]
fn tag_pages_are_followed_and_digests_are_asked_in_parallel_within_jobs() {
    let (registry, _, _) = app_registry();
    let proxy = PagingProxy::start(&registry.addr(), 3);
    let s = Sandbox::new();
    s.config_json(&serde_json::json!({"jobs": 3}));
    let name = format!("{}/test/app", proxy.addr());
    let r = s.search(&["--tags", &name, "--digests"]).success();
    assert_eq!(tags_of(&r), ORDERED);
    let pages = proxy
        .seen()
        .iter()
        .filter(|l| l.contains("/tags/list"))
        .count();
    // 10 tags, 3 a page.
    assert_eq!(pages, 4, "{:?}", proxy.seen());
    let most = proxy.max_concurrent_heads();
    assert!(
        (2..=3).contains(&most),
        "HEADs in flight at once: {most}, want 2 or 3 (jobs 3)"
    );
}

#[test]
fn bad_tag_requests_are_one_clear_line() {
    let (registry, _, _) = app_registry();
    let s = Sandbox::new();
    let addr = registry.addr();
    let r = s
        .search(&["--tags", &format!("{addr}/test/never-pushed")])
        .failure(1, 1);
    assert!(
        r.stderr.contains("listing tags of test/never-pushed")
            && r.stderr.contains("repository name not known to registry"),
        "{}",
        r.stderr
    );
    for (args, want) in [
        (
            vec!["--tags".to_owned(), format!("{addr}/test/app:v1")],
            "without a tag",
        ),
        (vec!["--tags".to_owned()], "--tags needs a repository name"),
        (
            vec![
                "--tags".to_owned(),
                format!("{addr}/test/app"),
                "--filter".into(),
                "stars=1".into(),
            ],
            "with --tags the one filter is tag=GLOB",
        ),
        (
            vec![
                "--tags".into(),
                format!("{addr}/test/app"),
                "--registry".into(),
                addr.clone(),
            ],
            "--tags takes the registry in the name",
        ),
        (
            vec!["--tags".into(), "Not/Valid".into()],
            "invalid reference",
        ),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = s.search(&args);
        assert!(r.code == 2 || r.code == 1, "{args:?}: {r:#?}");
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(want), "{args:?}: {}", r.stderr);
    }
}

/// A tag whose digest cannot be had (deleted between the listing and its HEAD) is one
/// failed item: the other tags are still printed, and the exit status says 1.
#[test]
fn a_tag_that_vanishes_is_one_failed_item() {
    use img_core::testing::fault_proxy::{Fault, FaultProxy};
    let (registry, base, _) = app_registry();
    let proxy = FaultProxy::start(&registry.addr(), |method, path, _| {
        if method == "HEAD" && path.ends_with("/manifests/edge") {
            Fault::Status(404, None)
        } else {
            Fault::Pass
        }
    })
    .unwrap();
    let s = Sandbox::new();
    let name = format!("{}/test/app", proxy.addr());
    let r = s.search(&["--tags", &name, "--digests"]).failure(1, 1);
    assert!(
        r.stderr
            .starts_with(&format!("img-search: \"{name}:edge\": "))
            && r.stderr.contains("is gone"),
        "{}",
        r.stderr
    );
    let listed = tags_of(&r);
    let want: Vec<&str> = ORDERED.iter().copied().filter(|t| *t != "edge").collect();
    assert_eq!(listed, want);
    let records: Vec<TagRecord> = r.records();
    assert!(
        records
            .iter()
            .filter(|t| t.tag != "other")
            .all(|t| t.digest.as_ref() == Some(base.digest()))
    );
}
