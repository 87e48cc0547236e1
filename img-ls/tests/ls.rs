//! img-ls run as a binary on a store filled by real pulls from the test registry (plus
//! tags, untags and a few made-up images written through the index where a test needs
//! them): layout, records, filters, formats, pipes and errors.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use img_core::Digest;
use img_core::index::NewImage;
use img_core::oci::media_type;
use img_core::output::human_size;
use img_core::record::{ImageRecord, RowRecord};
use img_core::testing::{Fixture, Run, run};

const BIN: &str = env!("CARGO_BIN_EXE_img-ls");

/// The fixture with alpine-like (tagged again as `:v2`), oci-zstd and multi pulled, and
/// a made-up image from 2020 called `old/app:1` with a label.
struct Store {
    f: Fixture,
    alpine: ImageRecord,
    oci: ImageRecord,
    multi: ImageRecord,
    old: Digest,
}

fn setup() -> Store {
    let f = Fixture::new().unwrap();
    let alpine = f.pull("test/alpine-like:latest").unwrap().record;
    let oci = f.pull("test/oci-zstd:1").unwrap().record;
    let multi = f.pull("test/multi:latest").unwrap().record;
    let store = f.store().unwrap();
    store
        .index()
        .tag(&alpine.id, &alpine_name(&f), "v2")
        .unwrap();
    let old = made_up(
        &store,
        "old",
        "2020-05-01T00:00:00Z",
        &[("docker.io/old/app", "1")],
    );
    Store {
        f,
        alpine,
        oci,
        multi,
        old,
    }
}

fn alpine_name(f: &Fixture) -> String {
    f.reference("test/alpine-like")
}

/// Records an image without blobs through the index (its size is 0).
fn made_up(store: &img_core::Store, seed: &str, created: &str, tags: &[(&str, &str)]) -> Digest {
    let mut labels = BTreeMap::new();
    labels.insert("made.up".to_owned(), seed.to_owned());
    store
        .index()
        .put_image(&NewImage {
            id: Digest::sha256_of(seed.as_bytes()),
            target: Digest::sha256_of(format!("manifest {seed}").as_bytes()),
            target_media_type: media_type::OCI_MANIFEST.into(),
            created: Some(created.into()),
            platform: "linux/amd64".into(),
            blobs: vec![],
            labels,
            tags: tags
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect(),
            repo_digests: vec![],
        })
        .unwrap()
        .id
}

/// Runs img-ls with `args` on the fixture's store.
fn ls(f: &Fixture, args: &[&str]) -> Run {
    f.run(BIN, args, None)
}

/// stdout of a quiet, successful run.
fn stdout(f: &Fixture, args: &[&str]) -> String {
    ls(f, args).success().stdout
}

/// The rows of a quiet, successful run.
fn rows(f: &Fixture, args: &[&str]) -> Vec<RowRecord> {
    ls(f, args).success().records()
}

/// `repository:tag` of each row.
fn names(f: &Fixture, args: &[&str]) -> Vec<String> {
    rows(f, args)
        .iter()
        .map(|r| format!("{}:{}", r.repository, r.tag))
        .collect()
}

fn short(id: &Digest) -> String {
    id.hex()[..12].to_owned()
}

#[test]
fn table_json_quiet_and_columns() {
    let s = setup();
    let f = &s.f;
    let alpine = alpine_name(f);

    // The table: docker's headers, aligned, one row a tag, the made-up 2020 image last.
    let table = stdout(f, &["--format", "table"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 1 + 5, "{table}");
    let header = lines[0];
    let col = |name: &str| header.find(name).unwrap();
    for (a, b) in [
        ("REPOSITORY", "TAG"),
        ("TAG", "IMAGE ID"),
        ("IMAGE ID", "CREATED"),
        ("CREATED", "SIZE"),
    ] {
        assert!(col(a) < col(b), "{header}");
    }
    assert!(header.starts_with("REPOSITORY "), "{header}");
    let alpine_row = lines
        .iter()
        .find(|l| l.starts_with(&format!("{alpine} ")) && l.contains(" latest "))
        .unwrap_or_else(|| panic!("no alpine row in\n{table}"));
    assert_eq!(&alpine_row[col("IMAGE ID")..][..12], short(&s.alpine.id));
    assert!(
        alpine_row[col("CREATED")..].contains(" ago"),
        "{alpine_row}"
    );
    assert_eq!(
        alpine_row[col("SIZE")..].trim_end(),
        human_size(s.alpine.size)
    );
    assert!(lines[5].starts_with("old/app "), "{table}");

    // JSON Lines: docker's keys and renderings.
    let records = rows(f, &[]);
    assert_eq!(records.len(), 5);
    let multi = records
        .iter()
        .find(|r| r.repository == f.reference("test/multi"))
        .unwrap();
    assert_eq!(multi.tag, "latest");
    assert_eq!(multi.id, short(&s.multi.id));
    assert_eq!(multi.digest, s.multi.digest.to_string());
    assert_eq!(multi.created_at, "2024-01-01 00:00:00 +0000 UTC");
    assert!(multi.created_since.ends_with(" ago"));
    assert_eq!(multi.size, human_size(s.multi.size));
    let raw: serde_json::Value =
        serde_json::from_str(stdout(f, &[]).lines().next().unwrap()).unwrap();
    assert_eq!(raw["Containers"], "N/A");

    // -q: each image once, in row order; --no-trunc: full IDs; -aq is docker's spelling.
    let ids = stdout(f, &["-q"]);
    let ids: Vec<&str> = ids.lines().collect();
    assert_eq!(ids.len(), 4, "{ids:?}");
    assert_eq!(ids.iter().filter(|i| **i == short(&s.alpine.id)).count(), 1);
    assert_eq!(ids.last().copied(), Some(short(&s.old).as_str()));
    assert_eq!(stdout(f, &["-aq"]).lines().count(), 4);
    let full = stdout(f, &["-q", "--no-trunc"]);
    assert!(full.lines().any(|l| l == s.oci.id.to_string()), "{full}");
    assert!(
        full.lines()
            .all(|l| l.len() == 71 && l.starts_with("sha256:"))
    );
    let full_rows = rows(f, &["--no-trunc"]);
    assert!(full_rows.iter().all(|r| r.id.starts_with("sha256:")));
    // -a shows the same.
    assert_eq!(stdout(f, &["-a"]), stdout(f, &[]));

    // --digests: a DIGEST column after TAG.
    let table = stdout(f, &["--digests", "--format", "table"]);
    let header = table.lines().next().unwrap();
    let (tag, digest, id) = (
        header.find("TAG").unwrap(),
        header.find("DIGEST").unwrap(),
        header.find("IMAGE ID").unwrap(),
    );
    assert!(tag < digest && digest < id, "{header}");
    assert!(table.contains(&s.oci.digest.to_string()), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("old/app ") && l.contains("<none>"))
    );
}

#[test]
fn filters_one_by_one_and_combined() {
    let s = setup();
    let f = &s.f;
    let alpine = alpine_name(f);
    let port = f.registry.port();
    let host = format!("127.0.0.1:{port}");
    // Untag oci-zstd completely (tag and repo digest): a <none> <none> image.
    let store = f.store().unwrap();
    let oci_name = f.reference("test/oci-zstd");
    store.index().untag(&oci_name, "1").unwrap();
    store
        .index()
        .remove_repo_digest(&oci_name, &s.oci.digest)
        .unwrap();

    assert_eq!(names(f, &["-f", "dangling=true"]), ["<none>:<none>"]);
    assert_eq!(names(f, &["--filter=dangling=true"]), ["<none>:<none>"]);
    assert_eq!(names(f, &["-f", "dangling=false"]).len(), 4);
    // Both: `true` wins, as docker 20.10's daemon reads them.
    assert_eq!(
        names(f, &["-f", "dangling=false", "-f", "dangling=true"]),
        ["<none>:<none>"]
    );
    let dangling_ids = stdout(f, &["-q", "-f", "dangling=true"]);
    assert_eq!(dangling_ids.trim(), short(&s.oci.id));

    // reference: familiar and full names, with and without tag; `*` stays in a component.
    let mut alpines = vec![format!("{alpine}:latest"), format!("{alpine}:v2")];
    alpines.sort();
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(
        sorted(names(f, &["-f", &format!("reference={alpine}")])),
        alpines
    );
    assert_eq!(
        names(f, &["-f", &format!("reference={alpine}:v*")]),
        [format!("{alpine}:v2")]
    );
    assert_eq!(
        sorted(names(
            f,
            &["-f", &format!("reference={host}/test/alpine-*")]
        )),
        alpines
    );
    assert!(names(f, &["-f", "reference=test/*"]).is_empty());
    assert_eq!(
        names(f, &["-f", &format!("reference={host}/*")]),
        Vec::<String>::new()
    );
    assert_eq!(names(f, &["-f", &format!("reference={host}/**")]).len(), 3);
    assert_eq!(
        names(f, &["-f", "reference=**/multi:latest"]),
        [format!("{}:latest", f.reference("test/multi"))]
    );
    assert_eq!(names(f, &["-f", "reference=old/app:1"]), ["old/app:1"]);
    assert_eq!(
        names(f, &["-f", "reference=docker.io/old/*"]),
        ["old/app:1"]
    );
    // Repeated reference filters: any may match.
    assert_eq!(
        names(f, &["-f", "reference=old/*", "-f", "reference=**/multi"]).len(),
        2
    );

    // before / since: by name or ID prefix, resolved as every tool does.
    assert_eq!(
        names(f, &["-f", &format!("before={alpine}:latest")]),
        ["old/app:1"]
    );
    assert_eq!(
        names(f, &["-f", &format!("before={}", &short(&s.multi.id)[..8])]),
        ["old/app:1"]
    );
    assert_eq!(names(f, &["-f", "since=old/app:1"]).len(), 4);
    assert!(names(f, &["-f", &format!("since={alpine}:v2")]).is_empty());

    // label: KEY or KEY=VALUE; repeated, all must match (docker's MatchKVList).
    assert_eq!(names(f, &["-f", "label=made.up"]), ["old/app:1"]);
    assert_eq!(
        sorted(names(f, &["-f", "label=dev.img.test.seed=1"])),
        alpines
    );
    assert!(
        names(
            f,
            &["-f", "label=dev.img.test.seed=1", "-f", "label=made.up"]
        )
        .is_empty()
    );
    assert_eq!(
        names(
            f,
            &[
                "-f",
                "label=dev.img.test.seed",
                "-f",
                "label=org.opencontainers.image.title=test/multi"
            ]
        )
        .len(),
        1
    );

    // Different keys: all must match.
    assert_eq!(
        names(
            f,
            &[
                "-f",
                "dangling=false",
                "-f",
                "since=old/app:1",
                "-f",
                "reference=**/multi"
            ]
        )
        .len(),
        1
    );

    // The REPOSITORY[:TAG] argument.
    assert_eq!(sorted(names(f, &[&alpine])), alpines);
    assert_eq!(
        names(f, &[&format!("{alpine}:v2")]),
        [format!("{alpine}:v2")]
    );
    assert_eq!(names(f, &["docker.io/old/app"]), ["old/app:1"]);
    assert!(names(f, &["nothing/here"]).is_empty());
}

#[test]
fn templates_and_custom_tables() {
    let s = setup();
    let f = &s.f;
    let alpine = alpine_name(f);
    let out = stdout(
        f,
        &[
            "--format",
            "{{.Repository}}:{{.Tag}}",
            "-f",
            &format!("reference={alpine}"),
        ],
    );
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    assert_eq!(lines, [format!("{alpine}:latest"), format!("{alpine}:v2")]);

    let out = stdout(
        f,
        &["--format", "table {{.Repository}}\\t{{.Tag}}", "old/app"],
    );
    assert_eq!(out, "REPOSITORY   TAG\nold/app      1\n");
    let out = stdout(
        f,
        &[
            "--format=table {{.ID}}\t{{.CreatedAt}}\t{{.VirtualSize}}",
            "old/app",
        ],
    );
    assert_eq!(
        out,
        format!(
            "IMAGE ID       CREATED AT                      SIZE\n{}   2020-05-01 00:00:00 +0000 UTC   0B\n",
            short(&s.old)
        )
    );
    let json = stdout(f, &["--format", "json", "old/app"]);
    let r: RowRecord = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(r.repository, "old/app");
    // Issue 14: an explicit --format json is docker's: sorted keys, Go's escapes, and
    // Digest <none> unless --digests; the piped default is the record, in its order.
    let id = short(&s.old);
    assert_eq!(
        json,
        format!(
            "{{\"Containers\":\"N/A\",\"CreatedAt\":\"2020-05-01 00:00:00 +0000 UTC\",\"CreatedSince\":\"{}\",\"Digest\":\"\\u003cnone\\u003e\",\"ID\":\"{id}\",\"Repository\":\"old/app\",\"SharedSize\":\"N/A\",\"Size\":\"0B\",\"Tag\":\"1\",\"UniqueSize\":\"N/A\",\"VirtualSize\":\"0B\"}}\n",
            r.created_since
        )
    );
    let piped = stdout(f, &["old/app"]);
    assert!(
        piped.starts_with(&format!(
            "{{\"ID\":\"{id}\",\"Repository\":\"old/app\",\"Tag\":\"1\",\"Digest\":\"<none>\","
        )),
        "{piped}"
    );

    // A template naming a key rows lack fails in one line, exit 1.
    let run = ls(f, &["--format", "{{.Nope}}"]).failure(1, 1);
    assert!(run.stderr.contains("Nope"), "{}", run.stderr);
}

#[test]
fn an_empty_store_prints_nothing_in_a_pipe_and_a_header_as_a_table() {
    let f = Fixture::new().unwrap();
    assert_eq!(stdout(&f, &[]), "");
    assert_eq!(stdout(&f, &["-q"]), "");
    assert_eq!(
        stdout(&f, &["--format", "table"]),
        "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n"
    );
}

#[test]
fn a_reader_closing_the_pipe_early_is_not_an_error() {
    let f = Fixture::new().unwrap();
    f.pull("test/alpine-like:latest").unwrap();
    // Far more output than a pipe buffers (64 KiB), so img-ls is still writing when the
    // reader goes away.
    let tags: Vec<(String, String)> = (0..2000)
        .map(|i| ("docker.io/many/tags".to_owned(), format!("t{i}")))
        .collect();
    let tags: Vec<(&str, &str)> = tags.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    made_up(&f.store().unwrap(), "many", "2021-01-01T00:00:00Z", &tags);
    for args in [&[][..], &["--format", "table"][..]] {
        let mut child = f
            .command(BIN)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(!line.is_empty());
        drop(reader);
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    }
}

#[test]
fn bad_input_is_one_line_and_the_right_exit_status() {
    let f = Fixture::new().unwrap();
    let fails = |args: &[&str], code: i32, needle: &str| {
        let run = ls(&f, args).failure(code, 1);
        assert!(run.stderr.contains(needle), "{args:?}: {}", run.stderr);
        assert_eq!(run.stdout, "");
    };
    // docker's daemon answers `Invalid filter 'KEY'`: not a usage error, exit status 1.
    fails(
        &["-f", "color=red"],
        1,
        "invalid filter 'color': valid filters are before, dangling, label, reference, since, until",
    );
    fails(&["-f", "dangling"], 2, "expected KEY=VALUE");
    fails(
        &["-f", "dangling=maybe"],
        1,
        "invalid filter 'dangling=maybe'",
    );
    fails(
        &["-f", "until=yesterday"],
        1,
        "invalid filter 'until=yesterday'",
    );
    // Values are the daemon's exact words: docker 20.10 says `Invalid filter 'dangling=[TRUE]'`.
    fails(
        &["-f", "dangling=TRUE"],
        1,
        "invalid filter 'dangling=TRUE'",
    );
    fails(&["-f", "reference=[a"], 2, "malformed pattern");
    fails(
        &["-f", "before=nothing:here"],
        1,
        "no such image: nothing:here",
    );
    fails(&["Alpine"], 1, "invalid reference \"Alpine\"");
    fails(
        &["--format", "{{.ID"],
        1,
        "parsing --format: template: :1: unclosed action",
    );
    // argh's own usage errors add a second line pointing at --help.
    let usage = ls(&f, &["--bogus"]);
    assert_eq!(usage.code, 2, "{usage:?}");
    assert_eq!(
        usage.stderr,
        "img-ls: Unrecognized argument: --bogus\nRun 'img-ls --help' for more information.\n"
    );
    assert_eq!(usage.stdout, "");

    // A corrupt index: one line naming the file, exit 1.
    std::fs::create_dir_all(f.root()).unwrap();
    std::fs::write(f.root().join("index.db"), b"not a database\n".repeat(300)).unwrap();
    let run = run(Command::new(BIN).env("IMG_ROOT", f.root()), None).failure(1, 1);
    assert!(
        run.stderr.contains("index.db") && run.stderr.contains("not an SQLite database"),
        "{}",
        run.stderr
    );
}
