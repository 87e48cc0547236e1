//! Plain HTTP on loopback: pulls of the standard images, the records they print, pulls
//! by digest, platform selection, `--all-platforms`, `--all-tags`, several names at once,
//! names read from stdin, `-q`, and docker's terminal lines.

use img_core::Digest;
use img_core::oci::Platform;
use img_core::testing::fault_proxy::{Fault, FaultProxy};
use img_core::testing::images::{Flavor, ImageSpec, LayerSpec, build_image};
use img_core::testing::{Fixture, on_terminal, push_image};

use super::*;

fn fixture() -> Fixture {
    Fixture::new().expect("starting the seeded registry (needs Debian's docker-registry)")
}

/// The manifest a pull for the host platform picks from `image`.
fn host_platform(image: &TestImage) -> Option<String> {
    image.is_index().then(|| {
        let host = Platform::host();
        image
            .platforms()
            .into_iter()
            .find(|p| host.matches(p))
            .expect("the test index has the host's platform")
            .to_string()
    })
}

#[test]
fn each_standard_image_pulls_with_a_true_record_and_again_downloads_nothing() {
    let f = fixture();
    let host = f.registry.addr();
    let mut first = Vec::new();
    for image in &f.images {
        let reference = format!("{host}/{}", image.reference());
        let r = pull_in(&f, &[&reference]).success().record();
        let platform = host_platform(image);
        let (manifest_digest, manifest_bytes, m) = manifest_of(image, platform.as_deref());
        assert_eq!(
            r.id, m.config.digest,
            "Id is the config digest: {reference}"
        );
        assert_eq!(
            &r.digest,
            image.digest(),
            "Digest is what the tag resolved to"
        );
        assert_eq!(r.reference.as_ref().unwrap().to_string(), reference);
        assert_eq!(r.repo_tags, vec![reference.clone()]);
        assert_eq!(
            r.repo_digests,
            vec![format!("{host}/{}@{}", image.name, image.digest())]
        );
        assert_eq!(r.platform, Platform::host().to_string());
        let mut size = blob_bytes(&m) + manifest_bytes.len() as u64;
        if image.is_index() {
            // The index is kept too: RepoDigests name it.
            size += image.top.1.len() as u64;
        }
        assert_eq!(r.size, size, "{reference}");
        assert_eq!(r.downloaded, Some(blob_bytes(&m)), "{reference}");
        assert_eq!(r.reused, Some(0), "{reference}");

        // The tag names the platform's manifest, and the image is whole.
        let store = f.store().unwrap();
        let info = store
            .index()
            .image_by_tag(&format!("{host}/{}", image.name), &image.tag)
            .unwrap()
            .expect("the tag is recorded");
        assert_eq!(info.id, r.id);
        assert_eq!(info.target, manifest_digest);
        for d in std::iter::once(&m.config.digest).chain(m.layers.iter().map(|l| &l.digest)) {
            assert!(store.has_blob(d).unwrap(), "{d} of {reference}");
        }
        first.push((reference, r));
    }
    let blobs = verify_store(&f.root());
    assert!(blobs >= 4 * 3, "{blobs} blob files");

    for (reference, before) in first {
        let r = pull_in(&f, &[&reference]).success().record();
        assert_eq!(r.downloaded, Some(0), "second pull of {reference}");
        assert_eq!(r.reused, Some(before.size));
        assert_eq!((r.id, r.digest), (before.id, before.digest));
    }
    assert_eq!(verify_store(&f.root()), blobs, "nothing new was stored");
}

#[test]
fn on_a_terminal_it_prints_docker_lines_and_says_up_to_date_the_second_time() {
    let f = fixture();
    let reference = f.reference("test/alpine-like:latest");
    let image = f.image("test/alpine-like");
    let mut cmd = f.command(BIN);
    // A terminal that moves the cursor, whatever the test runner's own TERM is.
    cmd.arg(&reference).env("TERM", "xterm");
    let shown = on_terminal(&cmd);
    assert!(
        shown.contains(&format!("Digest: {}\n", image.digest())),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("Status: Downloaded newer image for {reference}\n")),
        "{shown}"
    );
    assert!(shown.ends_with(&format!("{reference}\n")), "{shown}");
    // docker's display: where it pulls from (the path, without the registry host), then
    // a line a layer with its final state.
    assert!(
        shown.contains("latest: Pulling from test/alpine-like\n"),
        "{shown}"
    );
    let (_, _, m) = manifest_of(image, None);
    for layer in &m.layers {
        assert!(
            shown.contains(&format!("{}: Pull complete", layer.digest.short())),
            "no final line for layer {}: {shown}",
            layer.digest
        );
    }
    let shown = on_terminal(&cmd);
    assert!(
        shown.contains(&format!("Status: Image is up to date for {reference}\n")),
        "{shown}"
    );
    assert!(!shown.contains("Downloaded newer"), "{shown}");
}

#[test]
fn pull_by_digest_asks_for_that_digest_and_a_wrong_one_fails_clearly() {
    let f = fixture();
    let image = f.image("test/alpine-like");
    let proxy = FaultProxy::start(&f.registry.addr(), |_, _, _| Fault::Pass).unwrap();
    let name = format!("{}/{}", proxy.addr(), image.name);
    let reference = format!("{name}@{}", image.digest());

    let r = pull_in(&f, &[&reference]).success().record();
    let (_, _, m) = manifest_of(image, None);
    assert_eq!(&r.digest, image.digest());
    assert_eq!(r.id, m.config.digest);
    assert!(
        r.repo_tags.is_empty(),
        "a pull by digest tags nothing: {r:?}"
    );
    assert_eq!(r.repo_digests, vec![reference.clone()]);
    let manifests: Vec<String> = proxy
        .seen()
        .into_iter()
        .filter(|s| s.path.contains("/manifests/"))
        .map(|s| s.path)
        .collect();
    assert!(!manifests.is_empty());
    for p in &manifests {
        assert!(
            p.ends_with(&format!("/manifests/{}", image.digest())),
            "asked for {p} instead of the digest"
        );
    }

    // Again: the store has it, so nobody is asked anything.
    let before = proxy.seen().len();
    let r = pull_in(&f, &[&reference]).success().record();
    assert_eq!(r.downloaded, Some(0));
    assert_eq!(proxy.seen().len(), before, "{:#?}", proxy.seen());

    // A well-formed digest the registry does not have.
    let wrong = Digest::sha256_of(b"no such manifest");
    let bad = format!("{name}@{wrong}");
    let run = pull_in(&f, &[&bad]).failure(1, 1);
    assert!(run.stdout.is_empty(), "{run:#?}");
    assert!(run.stderr.contains(&bad), "names the image: {}", run.stderr);
    assert!(
        run.stderr.contains("not found") || run.stderr.contains("unknown"),
        "says why: {}",
        run.stderr
    );
    let store = f.store().unwrap();
    assert!(
        store
            .index()
            .image_by_digest(&name, &wrong)
            .unwrap()
            .is_none()
    );
    verify_store(&f.root());
}

#[test]
fn platform_is_chosen_by_flag_or_docker_default_platform_and_unknown_ones_are_listed() {
    let f = fixture();
    let multi = f.image("test/multi");
    let reference = f.reference("test/multi:latest");
    let name = f.reference("test/multi");
    let cases: [(&[&str], Option<&str>, &str, &str); 3] = [
        (
            &["--platform", "linux/arm64"],
            None,
            "linux/arm64/v8",
            "arm64",
        ),
        (&["--platform=linux/arm/v7"], None, "linux/arm/v7", "arm"),
        (&[], Some("linux/arm64/v8"), "linux/arm64/v8", "arm64"),
    ];
    for (args, env, platform, arch) in cases {
        let mut cmd = f.command(BIN);
        cmd.args(args).arg(&reference);
        if let Some(p) = env {
            cmd.env("DOCKER_DEFAULT_PLATFORM", p);
        }
        let r = run(&mut cmd, None).success().record();
        let (manifest_digest, _, m) = manifest_of(multi, Some(platform));
        assert_eq!(r.platform, platform, "{args:?} {env:?}");
        assert_eq!(r.id, m.config.digest, "{args:?} {env:?}");
        assert_eq!(&r.digest, multi.digest(), "Digest is the index's");
        assert_eq!(r.repo_digests, vec![format!("{name}@{}", multi.digest())]);
        let store = f.store().unwrap();
        assert_eq!(stored_architecture(&store, &r.id), arch);
        let tagged = store
            .index()
            .image_by_tag(&name, "latest")
            .unwrap()
            .unwrap();
        assert_eq!(tagged.id, r.id, "the tag moved to the platform pulled last");
        assert_eq!(tagged.target, manifest_digest);
    }

    let run = pull_in(&f, &["--platform", "linux/s390x", &reference]).failure(1, 1);
    for p in [
        "linux/s390x",
        "linux/amd64",
        "linux/arm64/v8",
        "linux/arm/v7",
    ] {
        assert!(run.stderr.contains(p), "lists {p}: {}", run.stderr);
    }
    assert!(run.stderr.contains("--platform"), "{}", run.stderr);
    assert!(run.stdout.is_empty());

    let run = pull_in(&f, &["--platform", "linux", &reference]);
    assert_eq!(
        run.code, 2,
        "a malformed --platform is a usage error: {run:#?}"
    );
    assert!(run.stderr.contains("os/arch"), "{}", run.stderr);
    verify_store(&f.root());
}

#[test]
fn all_platforms_records_the_index_as_the_image() {
    let f = fixture();
    let multi = f.image("test/multi");
    let name = f.reference("test/multi");
    let r = pull_in(&f, &["--all-platforms", &f.reference("test/multi:latest")])
        .success()
        .record();
    assert_eq!(&r.id, multi.digest(), "Id is the index digest");
    assert_eq!(&r.digest, multi.digest());
    assert_eq!(r.repo_digests, vec![format!("{name}@{}", multi.digest())]);
    let mut total = 0;
    let store = f.store().unwrap();
    for p in ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"] {
        let (d, bytes, m) = manifest_of(multi, Some(p));
        total += blob_bytes(&m);
        assert!(store.has_blob(&d).unwrap(), "{p}'s manifest");
        assert_eq!(store.read_blob(&d).unwrap(), bytes);
        for l in &m.layers {
            assert!(store.has_blob(&l.digest).unwrap(), "{p}'s layer");
        }
        let arch = p.split('/').nth(1).unwrap();
        assert_eq!(stored_architecture(&store, &m.config.digest), arch);
    }
    assert_eq!(r.downloaded, Some(total));
    let tagged = store
        .index()
        .image_by_tag(&name, "latest")
        .unwrap()
        .unwrap();
    assert_eq!(&tagged.target, multi.digest(), "the tag names the index");
    assert_eq!(&tagged.id, multi.digest());
    verify_store(&f.root());

    // Up to date the second time, with nothing fetched.
    let r = pull_in(&f, &["--all-platforms", &f.reference("test/multi:latest")])
        .success()
        .record();
    assert_eq!(r.downloaded, Some(0));
}

#[test]
fn all_tags_pulls_every_tag_of_the_repository() {
    let f = fixture();
    let second = build_image(&ImageSpec {
        name: "test/alpine-like".to_owned(),
        tag: "v2".to_owned(),
        flavor: Flavor::Oci,
        platform: Platform::host(),
        layers: vec![LayerSpec {
            size: 16 * 1024,
            compression: img_core::oci::media_type::Compression::Gzip,
        }],
        seed: 77,
    });
    push_image(&f.registry.client().unwrap(), &second).unwrap();
    let name = f.reference("test/alpine-like");
    let run = pull_in(&f, &["-a", &name]).success();
    let mut got: Vec<(String, Digest)> = run
        .records::<ImageRecord>()
        .into_iter()
        .map(|r| (r.reference.unwrap().to_string(), r.digest))
        .collect();
    got.sort();
    let first = f.image("test/alpine-like");
    assert_eq!(
        got,
        vec![
            (format!("{name}:latest"), first.digest().clone()),
            (format!("{name}:v2"), second.digest().clone()),
        ]
    );
    let store = f.store().unwrap();
    for tag in ["latest", "v2"] {
        assert!(store.index().image_by_tag(&name, tag).unwrap().is_some());
    }
    verify_store(&f.root());

    let run = pull_in(&f, &["--all-tags", &format!("{name}@{}", first.digest())]);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains("--all-tags"), "{}", run.stderr);
}

/// Regression (issue 14, bug 5): `img-pull -a REPO` said `Using default tag: latest` and
/// ended with a tagged name where docker 28 prints the name-only reference; `-a NAME:TAG`
/// was pulled instead of refused with docker's words.
#[test]
fn all_tags_prints_the_name_only_reference_and_refuses_a_tag() {
    let f = fixture();
    let name = f.reference("test/alpine-like");
    let repository = img_core::Reference::parse_normalized_name(&name).unwrap();
    let shown = f.on_terminal(BIN, &["-a", &name]);
    assert!(!shown.contains("Using default tag"), "{shown}");
    // What the terminal shows, less the display's cursor moves (a line may start with one).
    let plain = strip_csi(&shown);
    let lines: Vec<&str> = plain.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.last(),
        Some(&repository.to_string().as_str()),
        "{shown}"
    );
    let status: Vec<&&str> = lines.iter().filter(|l| l.starts_with("Status:")).collect();
    assert_eq!(
        status,
        [&format!(
            "Status: Downloaded newer image for {}",
            repository.familiar()
        )
        .as_str()],
        "one Status line, for the repository: {shown}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("Digest: sha256:")),
        "{shown}"
    );
    // Again: up to date, said once.
    let shown = f.on_terminal(BIN, &["-a", &name]);
    assert!(
        shown.contains(&format!(
            "Status: Image is up to date for {}\n",
            repository.familiar()
        )),
        "{shown}"
    );

    // -q: the name-only reference alone, as docker -a -q prints it.
    let run = pull_in(&f, &["-a", "-q", &name]).success();
    assert_eq!(run.stdout, format!("{repository}\n"));

    // A tag (or a digest) with -a is refused, nothing pulled.
    let tagged = format!("{name}:latest");
    let run = pull_in(&f, &["-a", &tagged]).failure(1, 1);
    assert_eq!(
        run.stderr.trim_end(),
        format!("img-pull: {tagged:?}: tag can't be used with --all-tags/-a")
    );
    assert_eq!(run.stdout, "");
    let digested = format!("{name}@{}", f.image("test/alpine-like").digest());
    let run = pull_in(&f, &["-a", &digested]).failure(1, 1);
    assert!(
        run.stderr
            .ends_with(": tag can't be used with --all-tags/-a\n"),
        "{}",
        run.stderr
    );
}

#[test]
fn several_names_with_one_bad_pull_the_others_and_exit_1() {
    let f = fixture();
    let a = f.reference("test/alpine-like:latest");
    let bad = f.reference("test/nope:latest");
    let b = f.reference("test/oci-zstd:1");
    let run = pull_in(&f, &[&a, &bad, &b]).failure(1, 1);
    let refs: Vec<String> = run
        .records::<ImageRecord>()
        .into_iter()
        .map(|r| r.reference.unwrap().to_string())
        .collect();
    assert_eq!(refs, vec![a, b]);
    assert!(
        run.stderr.starts_with(&format!("img-pull: {bad:?}: ")),
        "{}",
        run.stderr
    );
    verify_store(&f.root());
}

#[test]
fn names_come_from_stdin_records_and_plain_lines() {
    let f = fixture();
    let a = f.reference("test/alpine-like:latest");
    let b = f.reference("test/oci-zstd:1");
    let input = format!("{}\n{b}\n", serde_json::json!({ "Name": a }));
    let run = f.run(BIN, &[], Some(&input)).success();
    let refs: Vec<String> = run
        .records::<ImageRecord>()
        .into_iter()
        .map(|r| r.reference.unwrap().to_string())
        .collect();
    assert_eq!(refs, vec![a.clone(), b]);

    // img-pull's own records read back: `Ref` names the image, now up to date.
    let again = f.run(BIN, &[], Some(&run.stdout)).success();
    let records = again.records::<ImageRecord>();
    assert_eq!(records.len(), 2);
    assert!(
        records.iter().all(|r| r.downloaded == Some(0)),
        "{again:#?}"
    );
}

#[test]
fn quiet_prints_only_the_reference() {
    let f = fixture();
    let run = pull_in(&f, &["-q", &f.reference("test/alpine-like")]).success();
    assert_eq!(
        run.stdout,
        format!("{}\n", f.reference("test/alpine-like:latest"))
    );
}

#[test]
fn blobs_already_stored_are_reused_across_images() {
    let f = fixture();
    let original = f.image("test/alpine-like");
    let mut copy = original.clone();
    copy.name = "test/alpine-copy".to_owned();
    push_image(&f.registry.client().unwrap(), &copy).unwrap();
    pull_in(&f, &[&f.reference("test/alpine-like:latest")]).success();

    let proxy = FaultProxy::start(&f.registry.addr(), |_, _, _| Fault::Pass).unwrap();
    let reference = format!("{}/test/alpine-copy:latest", proxy.addr());
    let r = pull_in(&f, &[&reference]).success().record();
    let (_, _, m) = manifest_of(original, None);
    assert_eq!(r.downloaded, Some(0), "same blobs, nothing fetched");
    assert_eq!(r.reused, Some(blob_bytes(&m)));
    assert_eq!(r.id, m.config.digest);
    assert!(
        proxy.seen().iter().all(|s| !s.path.contains("/blobs/")),
        "{:#?}",
        proxy.seen()
    );
    verify_store(&f.root());
}

/// Regression: a pull by the digest of another platform's manifest was never "up to
/// date": the store's copy was checked against the host platform and fetched again.
#[test]
fn pull_by_index_digest_picks_the_platform_and_by_manifest_digest_is_up_to_date_after() {
    let f = fixture();
    let multi = f.image("test/multi");
    let proxy = FaultProxy::start(&f.registry.addr(), |_, _, _| Fault::Pass).unwrap();
    let name = format!("{}/{}", proxy.addr(), multi.name);

    // The index digest, for arm/v7: that platform's image, and the index is its digest.
    let by_index = format!("{name}@{}", multi.digest());
    let r = pull_in(&f, &["--platform", "linux/arm/v7", &by_index])
        .success()
        .record();
    let (_, _, m) = manifest_of(multi, Some("linux/arm/v7"));
    assert_eq!(r.id, m.config.digest);
    assert_eq!(&r.digest, multi.digest());
    assert_eq!(r.platform, "linux/arm/v7");

    // A platform manifest's own digest (arm64 here, whatever the host): that image.
    let (d, _, m) = manifest_of(multi, Some("linux/arm64/v8"));
    let by_manifest = format!("{name}@{d}");
    let r = pull_in(&f, &[&by_manifest]).success().record();
    assert_eq!(r.id, m.config.digest);
    assert_eq!(r.digest, d);
    assert_eq!(r.platform, "linux/arm64/v8");
    // Pulled again: the store has exactly that, so nobody is asked anything.
    let before = proxy.seen().len();
    let r = pull_in(&f, &[&by_manifest]).success().record();
    assert_eq!(r.downloaded, Some(0));
    assert_eq!(proxy.seen().len(), before, "{:#?}", &proxy.seen()[before..]);
    verify_store(&f.root());
}

#[test]
fn a_tag_that_moved_on_the_registry_is_pulled_anew_and_the_old_image_loses_it() {
    let f = fixture();
    let reference = f.reference("test/alpine-like:latest");
    let old = pull_in(&f, &[&reference]).success().record();
    let mut newer = f.image("test/oci-zstd").clone();
    newer.name = "test/alpine-like".to_owned();
    newer.tag = "latest".to_owned();
    push_image(&f.registry.client().unwrap(), &newer).unwrap();

    let r = pull_in(&f, &[&reference]).success().record();
    assert_eq!(&r.digest, newer.digest());
    assert_ne!(r.id, old.id);
    assert!(r.downloaded.unwrap() > 0);
    assert_eq!(r.repo_tags, vec![reference.clone()]);
    let store = f.store().unwrap();
    let was = store
        .index()
        .image(&old.id)
        .unwrap()
        .expect("the old image stays");
    assert!(was.tags.is_empty(), "the tag moved: {was:?}");
    verify_store(&f.root());
}

#[test]
fn two_pulls_of_the_same_image_at_once_both_succeed_into_one_store() {
    let f = fixture();
    let reference = f.reference("test/big:latest");
    let spawn = || {
        f.command(BIN)
            .arg(&reference)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let big = f.image("test/big");
    let (_, _, m) = manifest_of(big, None);
    let mut fetched = 0;
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
            tool: "img-pull".into(),
        }
        .success();
        let r = run.record();
        assert_eq!(&r.digest, big.digest());
        fetched += r.downloaded.unwrap();
    }
    // The ingest lock lets one of them fetch each blob; the other waits and reuses it.
    assert!(
        fetched >= blob_bytes(&m) && fetched < 2 * blob_bytes(&m),
        "{fetched} bytes fetched for {} of blobs",
        blob_bytes(&m)
    );
    assert_eq!(
        f.store()
            .unwrap()
            .index()
            .list_images(&Default::default())
            .unwrap()
            .len(),
        1
    );
    verify_store(&f.root());
}

/// `text` without its CSI escape sequences (`ESC [ … final byte`).
fn strip_csi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if ('\x40'..='\x7e').contains(&c) {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
