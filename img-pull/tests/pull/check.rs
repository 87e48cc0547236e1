//! `img-pull --check`: up to date, outdated after skopeo re-pushes the tag, gone after
//! skopeo deletes it; names made by img-tag are `Local` and digests `Pinned`, without a
//! request; one token a repository scope; the registry's rate-limit header shown; the
//! store byte for byte unchanged; and `| img-pull` pulling only what is behind.

use std::collections::BTreeMap;

use img_core::oci::Platform;
use img_core::oci::media_type::Compression;
use img_core::ops::tag::{TagOptions, tag};
use img_core::record::Target;
use img_core::testing::fault_proxy::{Fault, FaultProxy};
use img_core::testing::images::{Flavor, ImageSpec, LayerSpec, build_image};
use img_core::testing::token_server::TokenServerOptions;
use img_core::testing::{Fixture, on_terminal};

use super::token::TokenSetup;
use super::*;

fn fixture() -> Fixture {
    Fixture::new().expect("starting the seeded registry (needs Debian's docker-registry)")
}

/// Runs skopeo with `args` (plain HTTP registries), failing the test with its stderr.
fn skopeo(args: &[&str]) -> String {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("skopeo is not installed: apt-get install skopeo ({e})"));
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// skopeo copies `from` over `to` on the registry `host` (a re-push of the tag).
fn skopeo_copy(host: &str, from: &str, to: &str) {
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{host}/{from}"),
        &format!("docker://{host}/{to}"),
    ]);
}

/// The digest the registry's tag names now, as skopeo reads it.
fn skopeo_digest(reference: &str) -> Digest {
    let out = skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--format",
        "{{.Digest}}",
        &format!("docker://{reference}"),
    ]);
    Digest::parse(out.trim()).unwrap()
}

/// Every file under `root` with the digest of its bytes, to show that nothing was written.
/// SQLite's WAL-mode readers open `index.db-shm` (its shared-memory index of the log, no
/// data) and an empty `index.db-wal`: those are left out, the log only while it is empty.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Digest> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                dirs.push(p);
            } else if name == "index.db-shm"
                || (name == "index.db-wal" && std::fs::metadata(&p).unwrap().len() == 0)
            {
                continue;
            } else {
                out.insert(p.clone(), Digest::sha256_of(&std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

/// The `Status` of each record, in order.
fn statuses(run: &Run) -> Vec<String> {
    run.records::<serde_json::Value>()
        .iter()
        .map(|r| r["Status"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn check_is_up_to_date_then_outdated_after_a_skopeo_repush_then_gone_after_a_delete() {
    let f = fixture();
    let host = f.registry.addr();
    skopeo_copy(&host, "test/alpine-like:latest", "test/app:1");
    let app = f.reference("test/app:1");
    let multi = f.reference("test/multi:latest");
    let pulled_app = f.pull("test/app:1").unwrap();
    f.pull("test/multi:latest").unwrap();
    let before = snapshot(&f.root());

    let run1 = pull_in(&f, &["--check", &app, &multi]);
    assert_eq!(run1.code, 0, "{}", run1.stderr);
    assert_eq!(run1.stderr, "");
    let records: Vec<serde_json::Value> = run1.records();
    assert_eq!(statuses(&run1), ["UpToDate", "UpToDate"]);
    assert_eq!(records[0]["Ref"], format!("{host}/test/app:1"));
    assert_eq!(records[0]["Local"], pulled_app.record.digest.to_string());
    assert_eq!(records[0]["Remote"], records[0]["Local"]);
    // The multi-platform tag resolves to its index, which is what the store recorded.
    assert_eq!(
        records[1]["Remote"],
        f.image("test/multi").digest().to_string()
    );
    assert_eq!(records[1]["RateLimitRemaining"], serde_json::Value::Null);

    // skopeo pushes another image under the tag: outdated, with both digests.
    skopeo_copy(&host, "test/oci-zstd:1", "test/app:1");
    let newer = skopeo_digest(&app);
    assert_ne!(newer, pulled_app.record.digest);
    let run2 = pull_in(&f, &["--check", &app, &multi]);
    assert_eq!(run2.code, 1, "{}", run2.stderr);
    assert_eq!(run2.stderr, "", "only errors go to stderr");
    let records: Vec<serde_json::Value> = run2.records();
    assert_eq!(statuses(&run2), ["Outdated", "UpToDate"]);
    assert_eq!(records[0]["Local"], pulled_app.record.digest.to_string());
    assert_eq!(records[0]["Remote"], newer.to_string());
    assert_eq!(snapshot(&f.root()), before, "a check writes nothing");

    // skopeo deletes it: gone.
    skopeo(&["delete", "--tls-verify=false", &format!("docker://{app}")]);
    let run3 = pull_in(&f, &["--check", &app]);
    assert_eq!(run3.code, 1, "{}", run3.stderr);
    assert_eq!(statuses(&run3), ["Gone"]);
    assert_eq!(
        run3.records::<serde_json::Value>()[0]["Remote"],
        serde_json::Value::Null
    );
    assert_eq!(snapshot(&f.root()), before, "a check writes nothing");
}

#[test]
fn check_records_piped_into_img_pull_pull_only_the_outdated_images() {
    let f = fixture();
    let host = f.registry.addr();
    skopeo_copy(&host, "test/alpine-like:latest", "test/app:1");
    f.pull("test/app:1").unwrap();
    f.pull("test/multi:latest").unwrap();
    skopeo_copy(&host, "test/oci-zstd:1", "test/app:1");
    let newer = skopeo_digest(&f.reference("test/app:1"));

    // img-ls's records, as `img-ls --format json` prints them (Repository and Tag).
    let rows: String = ["test/app", "test/multi"]
        .iter()
        .map(|r| {
            format!(
                "{}\n",
                serde_json::json!({"Repository": format!("{host}/{r}"), "Tag": if *r == "test/app" { "1" } else { "latest" }, "ID": "0123456789ab"})
            )
        })
        .collect();
    let checked = f.run(BIN, &["--check"], Some(&rows));
    assert_eq!(checked.code, 1, "{}", checked.stderr);
    assert_eq!(statuses(&checked), ["Outdated", "UpToDate"]);

    let pulled = f.run(BIN, &[], Some(&checked.stdout)).success();
    let records: Vec<ImageRecord> = pulled.records();
    assert_eq!(records.len(), 1, "only the outdated one: {}", pulled.stdout);
    assert_eq!(records[0].digest, newer);
    assert!(records[0].downloaded.unwrap() > 0);
    let again = pull_in(&f, &["--check", &f.reference("test/app:1")]);
    assert_eq!(statuses(&again), ["UpToDate"]);
    assert_eq!(again.code, 0);
    verify_store(&f.root());
}

#[test]
fn names_made_by_img_tag_are_local_and_digests_pinned_without_a_request() {
    let f = fixture();
    let proxy = FaultProxy::start(&f.registry.addr(), |_, _, _| Fault::Pass).unwrap();
    let via = |name: &str| format!("{}/{name}", proxy.addr());
    let pulled = pull_in(&f, &[&via("test/alpine-like:latest")])
        .success()
        .record();
    let mine = via("team/mine:dev");
    let store = f.store().unwrap();
    tag(
        &store,
        &Target::Reference(
            img_core::Reference::parse_normalized(&via("test/alpine-like")).unwrap(),
        ),
        &img_core::Reference::parse_normalized(&mine).unwrap(),
        &TagOptions::default(),
    )
    .unwrap();
    tag(
        &store,
        &Target::Reference(img_core::Reference::parse_normalized(&mine).unwrap()),
        &img_core::Reference::parse_normalized("docker.io/library/never-on-hub:1").unwrap(),
        &TagOptions::default(),
    )
    .unwrap();
    drop(store);
    let asked = proxy.seen().len();
    let pinned = format!("{}@{}", via("test/alpine-like"), pulled.digest);
    let run = pull_in(
        &f,
        &[
            "--check",
            &mine,
            "never-on-hub:1",
            &pinned,
            pulled.id.short(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(statuses(&run), ["Local", "Local", "Pinned", "Local"]);
    let records: Vec<serde_json::Value> = run.records();
    assert_eq!(records[0]["Local"], pulled.id.to_string());
    assert_eq!(records[2]["Local"], pulled.digest.to_string());
    assert_eq!(
        records[2]["Ref"],
        format!("{}@{}", via("test/alpine-like"), pulled.digest)
    );
    assert_eq!(
        proxy.seen().len(),
        asked,
        "no request for local names or digests"
    );

    // Read back, none of them is an image to pull: nothing is asked of any registry.
    let piped = f.run(BIN, &[], Some(&run.stdout)).success();
    assert_eq!(piped.stdout, "");
    assert_eq!(proxy.seen().len(), asked);

    // Not in the store: an error record and one line on stderr.
    let absent = pull_in(&f, &["--check", &via("test/absent:1")]);
    assert_eq!(absent.code, 1);
    assert!(absent.stderr.contains("test/absent:1"), "{}", absent.stderr);
    assert_eq!(absent.stderr.lines().count(), 1, "{}", absent.stderr);
}

#[test]
fn the_registrys_ratelimit_remaining_header_is_in_the_record_and_the_table() {
    let f = fixture();
    let proxy = FaultProxy::start(&f.registry.addr(), |_, _, _| {
        Fault::AddHeaders(vec![
            ("ratelimit-limit".to_owned(), "100;w=21600".to_owned()),
            ("ratelimit-remaining".to_owned(), "76;w=21600".to_owned()),
        ])
    })
    .unwrap();
    let reference = format!("{}/test/alpine-like:latest", proxy.addr());
    pull_in(&f, &[&reference]).success();
    let run = pull_in(&f, &["--check", &reference]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let records: Vec<serde_json::Value> = run.records();
    assert_eq!(records[0]["RateLimitRemaining"], "76;w=21600");
    let heads: Vec<_> = proxy
        .seen()
        .into_iter()
        .filter(|r| r.path.contains("/manifests/"))
        .collect();
    let last = heads.last().unwrap();
    assert_eq!(last.method, "HEAD", "a check asks for no body");
    assert!(
        last.header("accept")
            .unwrap()
            .contains("application/vnd.oci.image.index.v1+json"),
        "pull's Accept header: {last:?}"
    );

    let shown = on_terminal(f.command(BIN).args(["--check", &reference]));
    let digest = f.image("test/alpine-like").digest().short().to_owned();
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 2, "{shown}");
    let header: Vec<&str> = lines[0]
        .split("   ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(header, ["IMAGE", "STATUS", "LOCAL", "REMOTE", "RATE LIMIT"]);
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        row,
        [
            reference.as_str(),
            "UpToDate",
            &digest,
            &digest,
            "76;w=21600"
        ]
    );
}

#[test]
fn checking_many_tags_at_once_asks_one_token_a_repository_scope() {
    let spec = |name: &str, tag: &str, seed| {
        build_image(&ImageSpec {
            name: name.to_owned(),
            tag: tag.to_owned(),
            flavor: Flavor::Oci,
            platform: Platform::parse("linux/amd64").unwrap(),
            layers: vec![LayerSpec {
                size: 4096,
                compression: Compression::Gzip,
            }],
            seed,
        })
    };
    let images: Vec<TestImage> = (0..3)
        .flat_map(|t| {
            [
                spec("team/a", &format!("v{t}"), 100 + t),
                spec("team/b", &format!("v{t}"), 200 + t),
            ]
        })
        .collect();
    let setup = TokenSetup::start(
        TokenServerOptions {
            anonymous_pull: true,
            ..TokenServerOptions::default()
        },
        &images,
    );
    let host = setup.registry.addr();
    let s = Sandbox::new();
    let refs: Vec<String> = images
        .iter()
        .map(|i| format!("{host}/{}", i.reference()))
        .collect();
    run(s.command().args(&refs), None).success();
    let asked = setup.server.requests().len();

    let checked = run(s.command().args(["--check", "-j", "4"]).args(&refs), None);
    assert_eq!(checked.code, 0, "{}", checked.stderr);
    assert_eq!(statuses(&checked), vec!["UpToDate"; 6]);
    let tokens = &setup.server.requests()[asked..];
    let mut scopes: Vec<String> = tokens.iter().flat_map(|t| t.scopes.clone()).collect();
    scopes.sort();
    assert_eq!(
        scopes,
        ["repository:team/a:pull", "repository:team/b:pull"],
        "one token a repository scope: {tokens:?}"
    );
}
