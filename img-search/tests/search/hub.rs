//! img-search on an index (the config's `hub-index`, or `HOST/TERM`): what it asks, what
//! it prints in a pipe and on a terminal, records piped into img-pull, and an index that
//! is down, refuses us, rate limits us, or answers something that is no search answer.

use img_core::record::{SearchRecord, Target, read_targets};
use img_core::testing::{TestRegistry, push_image, standard_set};

use super::Sandbox;
use super::fake_index::{Answer, FakeIndex, result};

fn answer(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    Answer {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.to_vec(),
    }
}

#[test]
fn the_index_is_asked_as_docker_asks_it() {
    let index = FakeIndex::start(super::docker_parity::php_results());
    let s = Sandbox::with_index(&index.url());
    s.search(&["php"]).success();
    // docker's name for the index, with its /v1/, is the same index.
    Sandbox::with_index(&format!("{}/v1/", index.url()))
        .search(&["--limit", "7", "php fpm/x"])
        .success();
    s.search(&["--limit", "-2", &format!("{}/php", index.addr())])
        .success();
    let searches: Vec<String> = index
        .seen()
        .into_iter()
        .filter(|p| p.starts_with("/v1/search"))
        .collect();
    assert_eq!(
        searches,
        [
            "/v1/search?q=php&n=25",
            "/v1/search?q=php%20fpm%2Fx&n=7",
            "/v1/search?q=php&n=25"
        ]
    );
}

#[test]
fn piped_records_are_dockers_json_objects() {
    let index = FakeIndex::start(super::docker_parity::php_results());
    let s = Sandbox::with_index(&index.url());
    let r = s.search(&["php", "--limit", "2"]).success();
    let records: Vec<SearchRecord> = r.records();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].name, "php");
    assert_eq!(records[0].is_official, "true");
    assert_eq!(records[0].star_count, "7671");
    assert!(records[0].description.ends_with('…'), "{records:?}");
    assert_eq!(
        records[1].description,
        "Bitnami PHP-FPM with a newline  and a CRLF"
    );
    // The one reader of every tool reads them as the images they name.
    let targets = read_targets(r.stdout.as_bytes()).unwrap();
    assert_eq!(
        targets
            .iter()
            .map(|t| match t {
                Target::Reference(r) => r.to_string(),
                other => panic!("{other:?}"),
            })
            .collect::<Vec<_>>(),
        [
            "docker.io/library/php:latest",
            "docker.io/bitnami/php-fpm:latest"
        ]
    );
}

/// `img-search TERM | img-pull` pulls what the results name: an index whose results name
/// images of the local registry.
#[test]
fn search_results_pipe_into_img_pull() {
    let registry = TestRegistry::start().expect("starting docker-registry");
    let client = registry.client().unwrap();
    let images = standard_set();
    for image in &images[..2] {
        push_image(&client, image).unwrap();
    }
    let names: Vec<String> = images[..2]
        .iter()
        .map(|i| format!("{}/{}:{}", registry.addr(), i.name, i.tag))
        .collect();
    let index = FakeIndex::start(
        names
            .iter()
            .map(|n| result(n, "a test image", 1, false, false))
            .collect(),
    );
    let s = Sandbox::with_index(&index.url());
    let pulled = s.search_into_pull(&["test"]).success();
    let refs: Vec<String> = pulled
        .records::<img_core::record::ImageRecord>()
        .iter()
        .map(|r| r.reference.as_ref().unwrap().to_string())
        .collect();
    assert_eq!(refs, names);
}

#[test]
fn an_empty_result_is_a_header_on_a_terminal_and_nothing_in_a_pipe() {
    let index = FakeIndex::start(Vec::new());
    let s = Sandbox::with_index(&index.url());
    let r = s.search(&["nothing"]).success();
    assert_eq!(r.stdout, "");
    assert_eq!(
        s.on_terminal(&["nothing"]),
        "NAME      DESCRIPTION   STARS     OFFICIAL\n"
    );
}

#[test]
fn an_index_that_is_down_is_one_clear_line() {
    // A port nobody listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s = Sandbox::with_index(&format!("http://127.0.0.1:{port}"));
    let r = s.search(&["php"]).failure(1, 1);
    assert!(r.stderr.contains("nothing listens there"), "{}", r.stderr);
    assert!(
        r.stderr.starts_with(&format!(
            "img-search: searching 127.0.0.1:{port} for \"php\": "
        )),
        "{}",
        r.stderr
    );
}

#[test]
fn answers_that_are_no_search_answer_are_named() {
    let cases: Vec<(Answer, &str)> = vec![
        (
            answer(
                200,
                &[("Content-Type", "text/html")],
                b"<html>captive portal</html>",
            ),
            "the answer is not JSON",
        ),
        (
            answer(200, &[], br#"{"repositories":["a","b"]}"#),
            "the answer is not the search results expected: missing field `results`",
        ),
        (
            answer(200, &[], br#"{"results":[{"description":"no name"}]}"#),
            "missing field `name`",
        ),
        (
            answer(200, &[], &vec![b' '; 5 * 1024 * 1024]),
            "the answer is larger than 4 MiB",
        ),
        (
            answer(
                401,
                &[("WWW-Authenticate", r#"Basic realm="index""#)],
                b"{}",
            ),
            "authentication required and no credentials are stored for 127.0.0.1:",
        ),
        (
            answer(
                429,
                &[
                    ("Retry-After", "60"),
                    ("RateLimit-Limit", "100;w=21600"),
                    ("RateLimit-Remaining", "0;w=21600"),
                ],
                b"{}",
            ),
            "too many requests: the index is rate limiting, try again in 60 s (ratelimit-limit: 100;w=21600, ratelimit-remaining: 0;w=21600)",
        ),
        (
            answer(500, &[], b"oops"),
            "registry answered HTTP 500: oops",
        ),
    ];
    for (a, want) in cases {
        let index = FakeIndex::start_with(Vec::new(), move |_| Some(a.clone()));
        let s = Sandbox::with_index(&index.url());
        let started = std::time::Instant::now();
        let r = s.search(&["php"]).failure(1, 1);
        assert!(r.stderr.contains(want), "want {want:?} in {}", r.stderr);
        assert_eq!(r.stdout, "");
        // A rate limit or a 5xx is reported at once, not waited on.
        assert!(
            started.elapsed().as_secs() < 10,
            "{want}: took {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn bad_usage_exits_2_with_one_line() {
    let index = FakeIndex::start(Vec::new());
    let s = Sandbox::with_index(&index.url());
    for (args, want) in [
        (vec![], "a search term is required"),
        (vec!["--filter", "stars"], "bad format of filter \"stars\""),
        (vec!["--digests", "php"], "--digests goes with --tags"),
    ] {
        let r = s.search(&args).failure(2, 1);
        assert!(r.stderr.contains(want), "{args:?}: {}", r.stderr);
    }
    // A filter docker's daemon refuses is its answer, not a usage error: status 1.
    for (args, want) in [
        (vec!["--filter", "foo=1", "php"], "invalid filter 'foo'"),
        (
            vec!["--filter", "stars=many", "php"],
            "invalid filter 'stars=many'",
        ),
        (
            vec!["--filter", "is-official=maybe", "php"],
            "invalid filter 'is-official=maybe'",
        ),
        (
            vec!["--tags", "php", "--filter", "stars=1"],
            "invalid filter 'stars'",
        ),
    ] {
        let r = s.search(&args).failure(1, 1);
        assert!(r.stderr.contains(want), "{args:?}: {}", r.stderr);
    }
    // A template that does not parse fails the command, as in docker (status 1).
    let r = s.search(&["--format", "{{.Name", "php"]).failure(1, 1);
    assert!(r.stderr.contains("parsing --format"), "{}", r.stderr);
    // An unknown flag: argh's message and the hint, exit 2.
    let r = s.search(&["--nope", "php"]);
    assert_eq!(r.code, 2, "{r:#?}");
    // A template naming what docker's search context lacks fails as docker's does.
    let index = FakeIndex::start(vec![result("php", "", 1, true, false)]);
    let s = Sandbox::with_index(&index.url());
    let r = s
        .search(&["--format", "{{.IsAutomated}}", "php"])
        .failure(1, 1);
    assert!(r.stderr.contains("IsAutomated"), "{}", r.stderr);
}

#[test]
fn a_bad_hub_index_setting_is_named() {
    let s = Sandbox::with_index("index.docker.io");
    let r = s.search(&["php"]).failure(2, 1);
    assert!(r.stderr.contains("\"hub-index\""), "{}", r.stderr);
}

#[test]
fn is_automated_warns_as_docker_does_and_true_matches_nothing() {
    let index = FakeIndex::start(vec![
        result("auto/php", "built", 3, false, true),
        result("php", "", 9, true, false),
    ]);
    let s = Sandbox::with_index(&index.url());
    let r = s.search(&["--filter", "is-automated=true", "php"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{r:#?}");
    assert!(
        r.stderr.contains("\"is-automated\" filter is deprecated"),
        "{}",
        r.stderr
    );
    let r = s.search(&[
        "--filter",
        "is-automated=false",
        "--format",
        "{{.Name}}",
        "php",
    ]);
    assert_eq!(r.stdout, "auto/php\nphp\n");
}
