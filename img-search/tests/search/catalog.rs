//! `img-search --registry HOST [TERM]` on the real registry: a catalog of 300+
//! repositories (so `_catalog` comes in pages linked by `Link`), substring and glob
//! matches, `--limit`, `HOST/TERM` falling back to the catalog (distribution has no
//! `/v1/search`), catalog records piped into img-pull, and token auth's catalog scope.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use img_core::record::{ImageRecord, SearchRecord};
use img_core::testing::fault_proxy::{Fault, FaultProxy};
use img_core::testing::token_server::{TokenServer, TokenServerOptions};
use img_core::testing::{TestImage, TestRegistry, push_image, standard_set};

use super::Sandbox;

/// A tiny image named `name` (built once: the standard set also holds a 4 MiB layer to
/// compress).
fn image_named(name: &str, tag: &str) -> TestImage {
    static BASE: std::sync::OnceLock<TestImage> = std::sync::OnceLock::new();
    let mut image = BASE.get_or_init(|| standard_set().remove(0)).clone();
    image.name = name.to_owned();
    image.tag = tag.to_owned();
    image
}

/// The catalog's repositories: `cat/r000` … `cat/r299`, and a few that globs tell apart.
fn repositories() -> Vec<String> {
    let mut names: Vec<String> = (0..300).map(|i| format!("cat/r{i:03}")).collect();
    names.extend(
        ["team/app", "team/app-1", "other/team/app", "app"]
            .iter()
            .map(|s| s.to_string()),
    );
    names
}

/// Pushes `names` on four threads.
fn push_all(registry: &TestRegistry, names: &[String]) {
    std::thread::scope(|s| {
        for chunk in names.chunks(names.len().div_ceil(4)) {
            s.spawn(move || {
                let client = registry.client().unwrap();
                for name in chunk {
                    push_image(&client, &image_named(name, "latest")).unwrap();
                }
            });
        }
    });
}

fn names(r: &img_core::testing::Run) -> Vec<String> {
    r.records::<SearchRecord>()
        .into_iter()
        .map(|r| r.name)
        .collect()
}

/// The references of img-pull's records, in their order: what a pipe into img-pull
/// pulled (catalog records here, tag records in `tags`).
pub(super) fn references(pulled: &[ImageRecord]) -> Vec<String> {
    pulled
        .iter()
        .map(|p| p.reference.as_ref().unwrap().to_string())
        .collect()
}

#[test]
fn a_catalog_of_300_repositories_is_walked_page_by_page() {
    let registry = TestRegistry::start().expect("starting docker-registry");
    push_all(&registry, &repositories());
    // A pass-through proxy, to count the pages asked for.
    let proxy = FaultProxy::start(&registry.addr(), |_, _, _| Fault::Pass).unwrap();
    let host = proxy.addr().to_owned();
    let s = Sandbox::new();
    let prefixed =
        |v: &[&str]| -> Vec<String> { v.iter().map(|n| format!("{host}/{n}")).collect() };

    // Everything past r2: the whole catalog is read, 100 a page (the registry's default).
    let r = s
        .search(&["--registry", &host, "--limit", "100", "cat/r2*"])
        .success();
    let want: Vec<String> = (200..300).map(|i| format!("{host}/cat/r{i:03}")).collect();
    assert_eq!(names(&r), want);
    let pages = proxy
        .seen()
        .iter()
        .filter(|q| q.path.starts_with("/v2/_catalog"))
        .count();
    assert_eq!(pages, 4, "304 repositories, 100 a page");
    let record: serde_json::Value = serde_json::from_str(r.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(
        record.to_string(),
        format!(
            r#"{{"Description":"","IsOfficial":"false","Name":"{host}/cat/r200","StarCount":"0"}}"#
        )
    );

    // Substrings, globs within and across path components.
    let r = s.search(&["--registry", &host, "r01"]).success();
    assert_eq!(
        names(&r),
        (10..20)
            .map(|i| format!("{host}/cat/r{i:03}"))
            .collect::<Vec<_>>()
    );
    let r = s.search(&["--registry", &host, "*/app"]).success();
    assert_eq!(names(&r), prefixed(&["team/app"]));
    let r = s
        .search(&["--registry", &host, &format!("{host}/*/app")])
        .success();
    assert_eq!(names(&r), prefixed(&["team/app"]));
    let r = s.search(&["--registry", &host, "**/app"]).success();
    assert_eq!(names(&r), prefixed(&["app", "other/team/app", "team/app"]));
    let r = s.search(&["--registry", &host, "team/app?*"]).success();
    assert_eq!(names(&r), prefixed(&["team/app-1"]));
    let r = s.search(&["--registry", &host, "APP"]).success();
    assert_eq!(names(&r).len(), 4);

    // --limit: docker's default of 25, at most 100, and the walk stops once it has them.
    let catalog_pages = || {
        proxy
            .seen()
            .iter()
            .filter(|q| q.path.starts_with("/v2/_catalog"))
            .count()
    };
    let before = catalog_pages();
    let r = s.search(&["--registry", &host]).success();
    assert_eq!(names(&r).len(), 25);
    assert_eq!(catalog_pages() - before, 1, "one page is enough for 25");
    let r = s.search(&["--registry", &host, "--limit", "100"]).success();
    assert_eq!(names(&r).len(), 100);
    let r = s
        .search(&["--registry", &host, "--limit", "101"])
        .failure(1, 1);
    assert!(
        r.stderr
            .contains("Limit 101 is outside the range of [1, 100]")
    );
    // Filters apply as to an index's results: a catalog has no stars.
    let r = s
        .search(&["--registry", &host, "--filter", "stars=1", "app"])
        .success();
    assert_eq!(r.stdout, "");

    // HOST/TERM asks the registry's /v1/search as docker does; distribution answers 404,
    // and the catalog answers instead.
    let r = s.search(&[&format!("{host}/team/app")]).success();
    assert_eq!(
        names(&r),
        prefixed(&["other/team/app", "team/app", "team/app-1"])
    );
    assert!(
        proxy
            .seen()
            .iter()
            .any(|q| q.path.starts_with("/v1/search?q=team%2Fapp&n=25")),
        "{:?}",
        proxy.seen().iter().map(|q| &q.path).collect::<Vec<_>>()
    );
    // On a terminal: docker's search table.
    let shown = s.on_terminal(&["--registry", &host, "*/app"]);
    assert_eq!(
        shown,
        format!(
            "NAME{}DESCRIPTION   STARS     OFFICIAL\n{host}/team/app   {}0         \n",
            " ".repeat(host.len() + "/team/app".len() - 1),
            " ".repeat("DESCRIPTION   ".len())
        )
    );
}

#[test]
fn catalog_records_pipe_into_img_pull() {
    let registry = TestRegistry::start().expect("starting docker-registry");
    let host = registry.addr();
    let client = registry.client().unwrap();
    for name in ["app/one", "app/two", "app/three", "app/four"] {
        push_image(&client, &image_named(name, "latest")).unwrap();
    }
    push_image(&client, &image_named("nolatest/app", "v1")).unwrap();
    let s = Sandbox::new();
    let r = s
        .search_into_pull(&["--registry", &host, "app/", "--limit", "3"])
        .success();
    // The catalog's order (the registry sorts it).
    assert_eq!(
        references(&r.records()),
        ["app/four", "app/one", "app/three"].map(|n| format!("{host}/{n}:latest"))
    );
    // A repository without `latest` is img-pull's clear per-item error.
    let r = s.search_into_pull(&["--registry", &host, "nolatest"]);
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(
        r.stderr.contains(&format!("{host}/nolatest/app:latest"))
            && r.stderr.contains("manifest unknown"),
        "{}",
        r.stderr
    );
}

const USER: &str = "dora";
const PASSWORD: &str = "Cat4log-Pa55";

#[test]
fn token_auth_asks_for_the_catalog_scope() {
    let server = TokenServer::start(TokenServerOptions {
        users: BTreeMap::from([(USER.to_owned(), PASSWORD.to_owned())]),
        anonymous_pull: true,
        ..TokenServerOptions::default()
    })
    .unwrap();
    let files = tempfile::tempdir().unwrap();
    let registry = TestRegistry::builder()
        .token_auth(
            server
                .auth_config(&files.path().join("token-signer.pem"))
                .unwrap(),
        )
        .start()
        .expect("starting a token-auth registry");
    let pusher = registry.client_as(USER, PASSWORD).unwrap();
    push_image(&pusher, &image_named("secret/app", "latest")).unwrap();
    let host = registry.addr();

    // Anonymous: the token server grants no catalog access, the registry refuses.
    let anonymous = Sandbox::new();
    let r = anonymous.search(&["--registry", &host]).failure(1, 1);
    assert!(
        r.stderr.contains(&format!("listing the catalog of {host}")),
        "{}",
        r.stderr
    );

    let s = Sandbox::new();
    s.docker_config_json(&serde_json::json!({
        "auths": { &host: { "auth": BASE64.encode(format!("{USER}:{PASSWORD}")) } }
    }));
    let r = s.search(&["--registry", &host]).success();
    assert_eq!(names(&r), [format!("{host}/secret/app")]);
    let scopes: Vec<String> = server
        .requests()
        .into_iter()
        .filter(|q| q.user.as_deref() == Some(USER) && q.granted)
        .flat_map(|q| q.scopes)
        .collect();
    assert!(
        scopes.iter().any(|s| s == "registry:catalog:*"),
        "{scopes:?}"
    );
    // Its tags too, with a pull token.
    let r = s
        .search(&["--tags", &format!("{host}/secret/app"), "--digests"])
        .success();
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
}
