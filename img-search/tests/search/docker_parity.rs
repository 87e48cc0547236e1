//! img-search against docker's own `docker search`: a real dockerd (Debian's docker.io)
//! asks the fake index for `127.0.0.1:PORT/TERM` and the machine's docker 28 CLI formats
//! the answer; img-search asks the same index both as `hub-index` and as
//! `127.0.0.1:PORT/TERM`. Every case must print the same bytes.
//!
//! docker's side is live where docker 28.2.2's CLI is and the test runs as root, and
//! otherwise tests/goldens/docker_parity.json, recorded by `cargo xtask goldens` (the fake
//! index's answers are fixed, its port a placeholder).
//!
//! The results are Docker Hub's as they come today (`is_automated` always false), so the
//! deprecated `is-automated` filter answers alike on dockerd 20.10 and docker 25+.

use img_core::testing::DockerComparison;
use serde_json::Value;

use super::Sandbox;
use super::dockerd::SearchTestDockerd;
use super::fake_index::{FakeIndex, result};

/// Results whose descriptions exercise docker's formatting: long, exactly 45 and 46
/// characters, newlines and carriage returns, wide CJK characters, accents, empty.
pub fn php_results() -> Vec<Value> {
    vec![
        result(
            "php",
            "While designed for web development, the PHP scripting language also provides general-purpose use.",
            7671,
            true,
            false,
        ),
        result(
            "bitnami/php-fpm",
            "Bitnami PHP-FPM\nwith a newline\r\nand a CRLF",
            318,
            false,
            false,
        ),
        result(
            "acme/php-docs",
            "PHP 文档镜像，包含完整的中文手册和示例代码以及更多内容",
            42,
            false,
            false,
        ),
        result(
            "exact/php45",
            "php: forty-five characters exactly, no more..",
            7,
            false,
            false,
        ),
        result(
            "over/php46",
            "php: forty-six characters exactly, not fewer..",
            100,
            false,
            false,
        ),
        result("empty/php", "", 0, false, false),
        result(
            "accent/php",
            "Éléphant: une image PHP très légère, prête à l'emploi déjà",
            12,
            false,
            false,
        ),
        result("zero/php-cli", "PHP CLI", 0, true, false),
    ]
}

/// The arguments (besides the term) of every case compared, and the term.
fn cases() -> Vec<(Vec<&'static str>, &'static str)> {
    let plain = |args: &[&'static str]| (args.to_vec(), "php");
    vec![
        plain(&["--format", "table"]),
        plain(&["--format", "table", "--no-trunc"]),
        plain(&["--format", "json"]),
        plain(&["--format", "json", "--no-trunc"]),
        plain(&[
            "--format",
            "{{.Name}}|{{.Description}}|{{.StarCount}}|{{.IsOfficial}}",
        ]),
        plain(&[
            "--format",
            "table {{.Name}}\t{{.IsOfficial}}\t{{.StarCount}}",
        ]),
        plain(&["--format", "table {{.Description}}\t{{.Name}}"]),
        plain(&["--format", "{{.Name}}", "--no-trunc"]),
        // docker's search context marshals itself: `[OK]` to a template, "true" as JSON.
        plain(&["--format", "{{json .}}"]),
        plain(&["--format", "{{upper .Name}} {{len .Description}}"]),
        plain(&["--format", "table", "--limit", "3"]),
        plain(&["--format", "table", "--limit", "0"]),
        plain(&["--format", "table", "--limit", "-1"]),
        plain(&["--format", "json", "--limit", "100"]),
        plain(&["--format", "table", "--filter", "stars=100"]),
        plain(&[
            "--format",
            "table",
            "--filter",
            "stars=5",
            "--filter",
            "stars=300",
        ]),
        plain(&["--format", "table", "--filter", "is-official=true"]),
        plain(&[
            "--format",
            "table",
            "--filter",
            "is-official=false",
            "--filter",
            "stars=1",
        ]),
        plain(&["--format", "table", "--filter", "is-automated=true"]),
        plain(&["--format", "table", "--filter", "is-automated=false"]),
        plain(&[
            "--format",
            "json",
            "--limit",
            "2",
            "--filter",
            "is-official=true",
        ]),
        (vec!["--format", "table"], "fpm"),
        (vec!["--format", "table"], "nothing-matches-this"),
        (vec!["--format", "json"], "nothing-matches-this"),
    ]
}

/// docker's answer to `docker ARGS`, live or from the goldens.
fn docker_says(
    cmp: &mut DockerComparison,
    daemon: Option<&SearchTestDockerd>,
    args: &[String],
) -> (i32, String, String) {
    let command = format!("docker {}", args.join(" "));
    cmp.answer(&command.clone(), &command, || {
        let out = daemon
            .expect("a live comparison has a daemon")
            .docker()
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
}

#[test]
fn img_search_prints_what_docker_search_prints() {
    let index = FakeIndex::start(php_results());
    let mut cmp = DockerComparison::new(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/goldens/docker_parity.json"),
    );
    // The fake index's port differs from run to run.
    cmp.placeholder(index.addr(), "INDEX");
    let daemon = cmp
        .is_live()
        .then(|| SearchTestDockerd::start().unwrap_or_else(|e| panic!("{e}")));
    let sandbox = Sandbox::with_index(&index.url());
    let mut compared = 0;
    for (args, term) in cases() {
        let remote = format!("{}/{term}", index.addr());
        let mut docker_args: Vec<String> = vec!["search".to_owned()];
        docker_args.extend(args.iter().map(|a| a.to_string()));
        docker_args.push(remote.clone());
        let (code, want, err) = docker_says(&mut cmp, daemon.as_ref(), &docker_args);
        assert_eq!(code, 0, "docker search {args:?} {remote} failed: {err}");
        for target in [term.to_owned(), remote.clone()] {
            let mut full = args.clone();
            full.push(&target);
            let ours = sandbox.search(&full);
            assert_eq!(ours.code, 0, "img-search {full:?}: {ours:#?}");
            assert_eq!(
                ours.stdout, want,
                "img-search {full:?} differs from docker search"
            );
            compared += 1;
        }
    }
    assert_eq!(compared, cases().len() * 2);

    // docker prints its table whatever stdout is; img-search prints it on a terminal.
    let (_, table, _) = docker_says(
        &mut cmp,
        daemon.as_ref(),
        &["search".to_owned(), format!("{}/php", index.addr())],
    );
    let shown = sandbox.on_terminal(&["php"]);
    assert_eq!(shown, table);

    // docker's limit error, with docker's words and status.
    let (code, _, docker_err) = docker_says(
        &mut cmp,
        daemon.as_ref(),
        &[
            "search".to_owned(),
            "--limit".to_owned(),
            "101".to_owned(),
            format!("{}/php", index.addr()),
        ],
    );
    let ours = sandbox.search(&["--limit", "101", "php"]).failure(1, 1);
    assert_eq!(code, 1);
    let message = ours.stderr.trim_start_matches("img-search: ").trim_end();
    assert!(
        docker_err.contains(message),
        "docker said {docker_err:?}, img-search {message:?}"
    );
    assert_eq!(message, "Limit 101 is outside the range of [1, 100]");

    // One daemon serves both comparisons: dockerd is slow to start on two cores.
    tabs_in_descriptions_become_spaces_where_docker_keeps_them(&mut cmp, daemon.as_ref());
    cmp.finish();
}

/// A tab in a description breaks docker's table (its tabwriter takes it for a column);
/// img-search makes it a space, the one place it differs from docker on purpose.
fn tabs_in_descriptions_become_spaces_where_docker_keeps_them(
    cmp: &mut DockerComparison,
    daemon: Option<&SearchTestDockerd>,
) {
    let index = FakeIndex::start(vec![
        result("tabbed", "one\ttwo\tthree", 1, false, false),
        result("tabbed/other", "plain", 2, false, false),
    ]);
    cmp.placeholder(index.addr(), "TABBED_INDEX");
    let sandbox = Sandbox::with_index(&index.url());
    let (_, docker_json, _) = docker_says(
        cmp,
        daemon,
        &[
            "search".to_owned(),
            "--format".to_owned(),
            "json".to_owned(),
            format!("{}/tabbed", index.addr()),
        ],
    );
    assert!(docker_json.contains(r"one\ttwo\tthree"), "{docker_json}");
    let ours = sandbox.search(&["--format", "json", "tabbed"]).success();
    assert_eq!(ours.stdout, docker_json.replace(r"\t", " "));
    let table = sandbox.search(&["--format", "table", "tabbed"]).success();
    assert_eq!(
        table.stdout,
        "NAME           DESCRIPTION     STARS     OFFICIAL\n\
         tabbed         one two three   1         \n\
         tabbed/other   plain           2         \n"
    );
}
