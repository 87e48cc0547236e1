//! img-push run as a binary on stores filled by real pulls from a real registry: what goes
//! up is what the store holds (same digest), a re-push sends nothing, RepoDigests gain the
//! pushed repository, pipes of records, multi-platform indexes, and docker's refusals.

use img_core::testing::{Fixture, Run};

const ALPINE: &str = "test/alpine-like:latest";
const MULTI: &str = "test/multi:latest";

fn push(f: &Fixture, args: &[&str], input: Option<&str>) -> Run {
    f.run(env!("CARGO_BIN_EXE_img-push"), args, input)
}

fn fixture() -> Fixture {
    Fixture::new().expect("starting the test registry (needs the docker-registry package)")
}

#[test]
fn a_pushed_image_has_the_stores_digest_and_a_repush_sends_nothing() {
    let f = fixture();
    let pulled = f.pull(ALPINE).unwrap().record;
    let target = f.reference("me/app:1");
    f.tag(ALPINE, &target).unwrap();
    let r = push(&f, &[&target], None).success();
    let rec = r.json();
    assert_eq!(rec["Digest"], pulled.digest.to_string(), "{}", r.stdout);
    assert_eq!(rec["Id"], pulled.id.to_string());
    assert_eq!(rec["Ref"], format!("{target}"));
    // A new repository of the same registry the image was pulled from: the layers are
    // mounted, the config goes up.
    let size = rec["Size"].as_u64().unwrap();
    assert!(rec["Pushed"].as_u64().unwrap() > 0, "{rec}");
    assert_eq!(rec["Existing"], 0);
    assert!(rec["Mounted"].as_u64().unwrap() > 0, "{rec}");
    assert!(rec["Pushed"].as_u64().unwrap() + rec["Mounted"].as_u64().unwrap() <= size);
    let digests: Vec<String> = serde_json::from_value(rec["RepoDigests"].clone()).unwrap();
    assert!(
        digests.contains(&format!("{}/me/app@{}", f.registry.addr(), pulled.digest)),
        "{digests:?}"
    );
    // The registry holds the store's bytes.
    let store = f.store().unwrap();
    let client = f.registry.client().unwrap();
    let (bytes, _, _) = client.get_manifest("me/app", "1").unwrap();
    assert_eq!(bytes, store.read_blob(&pulled.digest).unwrap());
    // skopeo reads it back as the same image.
    let out = std::process::Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--raw"])
        .arg(format!("docker://{target}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, bytes);
    // Again: only HEADs and the manifest.
    let rec = push(&f, &[&target], None).success().json();
    assert_eq!(rec["Pushed"], 0, "{rec}");
    assert_eq!(
        rec["Existing"].as_u64().unwrap(),
        rec["Size"].as_u64().unwrap() - bytes.len() as u64
    );
}

#[test]
fn records_on_stdin_push_their_ref_and_an_id_alone_is_a_per_item_error() {
    let f = fixture();
    let pulled = f.pull(ALPINE).unwrap().record;
    let target = f.reference("me/piped:2");
    f.tag(ALPINE, &target).unwrap();
    let record = serde_json::json!({"Id": pulled.id, "Ref": target, "Digest": pulled.digest,
        "RepoTags": [], "RepoDigests": [], "Platform": "linux/amd64", "Size": 1});
    let short = &pulled.id.hex()[..8];
    let input = format!("{record}\n{short}\n{}\n", f.reference("me/absent"));
    let r = push(&f, &[], Some(&input)).failure(1, 2);
    let recs = r.records::<serde_json::Value>();
    assert_eq!(recs.len(), 1, "{}", r.stdout);
    assert_eq!(recs[0]["Digest"], pulled.digest.to_string());
    assert!(
        r.stderr.contains(&format!(
            "img-push: \"{short}\": an image ID names no repository; tag it first"
        )),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!(
            "An image does not exist locally with the tag: {}",
            f.reference("me/absent")
        )),
        "{}",
        r.stderr
    );
    assert!(
        f.registry
            .client()
            .unwrap()
            .head_manifest("me/absent", "latest")
            .unwrap()
            .is_none()
    );
}

#[test]
fn an_all_platforms_image_pushes_every_manifest_then_the_index_byte_identical() {
    let f = fixture();
    let pulled = f.pull_all_platforms(MULTI).unwrap().record;
    let target = f.reference("me/multi:3");
    f.tag(MULTI, &target).unwrap();
    let rec = push(&f, &[&target], None).success().json();
    assert_eq!(rec["Digest"], pulled.digest.to_string());
    let store = f.store().unwrap();
    let client = f.registry.client().unwrap();
    let (bytes, _, _) = client.get_manifest("me/multi", "3").unwrap();
    assert_eq!(bytes, store.read_blob(&pulled.digest).unwrap());
    for child in &f.image(MULTI).manifests {
        let (b, _, _) = client
            .get_manifest("me/multi", &child.0.digest.to_string())
            .unwrap();
        assert_eq!(b, child.1);
    }
}

#[test]
fn an_index_naming_platforms_the_store_lacks_is_refused_unless_one_is_chosen() {
    let f = fixture();
    let pulled = f.pull(MULTI).unwrap().record;
    // A one-platform pull: the tag names the platform manifest, which is what goes up.
    let target = f.reference("me/one:1");
    f.tag(MULTI, &target).unwrap();
    let rec = push(&f, &[&target], None).success().json();
    let image = f
        .store()
        .unwrap()
        .index()
        .image(&pulled.id)
        .unwrap()
        .unwrap();
    assert_ne!(image.target, pulled.digest, "the pull resolved an index");
    assert_eq!(rec["Digest"], image.target.to_string());
    assert_eq!(rec["Platform"], "linux/amd64");
    // --platform naming another one is refused.
    let r = push(&f, &["--platform", "linux/arm64", &target], None).failure(1, 1);
    assert!(r.stderr.contains("not linux/arm64"), "{}", r.stderr);
}

#[test]
fn jobs_zero_is_a_usage_error_and_pushes_nothing() {
    let f = fixture();
    f.pull(ALPINE).unwrap();
    let target = f.reference("me/jobs0:1");
    f.tag(ALPINE, &target).unwrap();
    let r = push(&f, &["--jobs", "0", &target], None);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("--jobs must be at least 1"),
        "{}",
        r.stderr
    );
    let tags = f
        .registry
        .client()
        .unwrap()
        .tags("me/jobs0")
        .unwrap_or_default();
    assert!(tags.is_empty(), "{tags:?}");
}

#[test]
fn a_digest_or_a_tag_with_all_tags_is_a_usage_error() {
    let f = fixture();
    let pulled = f.pull(ALPINE).unwrap().record;
    let r = push(
        &f,
        &[&format!(
            "{}@{}",
            f.reference("test/alpine-like"),
            pulled.digest
        )],
        None,
    );
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("cannot push a digest reference"),
        "{}",
        r.stderr
    );
    let r = push(&f, &["-a", &f.reference(ALPINE)], None);
    assert!(
        r.stderr.contains("tag can't be used with --all-tags/-a"),
        "{}",
        r.stderr
    );
    // -a pushes every tag of the repository.
    f.tag(ALPINE, &f.reference("me/all:1")).unwrap();
    f.tag(ALPINE, &f.reference("me/all:2")).unwrap();
    let r = push(&f, &["-a", &f.reference("me/all")], None).success();
    let recs = r.records::<serde_json::Value>();
    assert_eq!(recs.len(), 2, "{}", r.stdout);
    let mut tags = f.registry.client().unwrap().tags("me/all").unwrap();
    tags.sort();
    assert_eq!(tags, ["1", "2"]);
}

#[test]
fn a_blob_damaged_in_the_store_is_abandoned_and_no_tag_is_written() {
    let f = fixture();
    f.pull(ALPINE).unwrap();
    // Another registry: to this one, the layer pulled from it would be mounted, not read.
    let other = img_core::testing::TestRegistry::start().unwrap();
    let target = format!("{}/me/damaged:1", other.addr());
    f.tag(ALPINE, &target).unwrap();
    let store = f.store().unwrap();
    let layer = &f
        .image(ALPINE)
        .blobs
        .iter()
        .max_by_key(|(d, _)| d.size)
        .unwrap()
        .0;
    let path = store.blob_path(&layer.digest);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    let mode = std::fs::metadata(&path).unwrap().permissions();
    let mut writable = mode.clone();
    #[allow(clippy::permissions_set_readonly_false)]
    writable.set_readonly(false);
    std::fs::set_permissions(&path, writable).unwrap();
    std::fs::write(&path, &bytes).unwrap();
    std::fs::set_permissions(&path, mode).unwrap();
    let r = push(&f, &[&target], None).failure(1, 1);
    assert!(r.stderr.contains("img-pull --verify"), "{}", r.stderr);
    assert!(r.stderr.contains(&layer.digest.to_string()), "{}", r.stderr);
    let client = other.client().unwrap();
    assert!(!client.blob_exists("me/damaged", &layer.digest).unwrap());
    assert!(client.head_manifest("me/damaged", "1").unwrap().is_none());
    // img-push refused it, not the registry: the last bytes were held back until the
    // blob hashed, so the registry never had the whole body to check against the
    // digest (it says "digest invalid" to a PUT whose body it read to the end).
    let log = other.log_tail();
    assert!(!log.contains("digest invalid"), "{log}");
    assert!(r.stderr.contains("content hashes to"), "{}", r.stderr);
}

#[test]
fn token_auth_asks_for_pull_push_and_an_anonymous_push_is_refused() {
    let f = fixture();
    let pulled = f.pull(ALPINE).unwrap().record;
    let (server, registry) = token_registry(&f);
    let target = format!("{}/team/app:1", registry.addr());
    f.tag(ALPINE, &target).unwrap();
    // Anonymous: a pull-only token, and the registry refuses the upload.
    let r = push(&f, &[&target], None).failure(1, 1);
    assert!(r.stderr.contains("img-push: "), "{}", r.stderr);
    assert!(
        r.stderr
            .ends_with(": denied: requested access to the resource is denied\n"),
        "{}",
        r.stderr
    );
    // With the user's credentials: a `pull,push` token, and the push lands.
    log_in(&f, &registry);
    let rec = push(&f, &[&target], None).success().json();
    assert_eq!(rec["Digest"], pulled.digest.to_string());
    let scopes: Vec<String> = server
        .requests()
        .iter()
        .flat_map(|r| r.scopes.clone())
        .collect();
    assert!(
        scopes.iter().any(|s| s == "repository:team/app:pull,push"),
        "{scopes:?}"
    );
}

/// Issue 16: the HEAD of an index child the store lacks went with a pull-only scope,
/// a second token for a push already holding `pull,push` on the repository. One token
/// serves the whole push.
#[test]
fn a_child_the_store_lacks_is_checked_with_the_pushs_own_token() {
    let f = fixture();
    f.pull_all_platforms(MULTI).unwrap();
    let (server, registry) = token_registry(&f);
    log_in(&f, &registry);
    let target = format!("{}/team/multi:1", registry.addr());
    f.tag(MULTI, &target).unwrap();
    let first = push(&f, &[&target], None).success().json();
    // The store loses one platform's manifest, which the repository has.
    let store = f.store().unwrap();
    let child = f.image(MULTI).manifests[1].0.clone();
    std::fs::remove_file(store.blob_path(&child.digest)).unwrap();
    assert!(!store.has_blob(&child.digest).unwrap());
    let before = server.issued();
    let rec = push(&f, &[&target], None).success().json();
    assert_eq!(rec["Digest"], first["Digest"], "{rec}");
    assert_eq!(server.issued() - before, 1, "{:?}", server.requests());
    let last = server.requests().pop().unwrap();
    assert_eq!(last.scopes, ["repository:team/multi:pull,push"], "{last:?}");
    let log = registry.log_tail();
    let heads = requests(
        &log,
        "HEAD",
        "team/multi",
        &format!("manifests/{}", child.digest),
    );
    assert!(
        heads.iter().any(|l| l.contains("http.response.status=200")),
        "{log}"
    );
}

/// A registry with token auth (user carol, anonymous pulls allowed) and its token server.
fn token_registry(
    f: &Fixture,
) -> (
    img_core::testing::token_server::TokenServer,
    img_core::testing::TestRegistry,
) {
    use img_core::testing::TestRegistry;
    use img_core::testing::token_server::{TokenServer, TokenServerOptions};
    let server = TokenServer::start(TokenServerOptions {
        users: [("carol".to_owned(), "T0ken-Pa55".to_owned())].into(),
        anonymous_pull: true,
        ..TokenServerOptions::default()
    })
    .unwrap();
    let auth = server
        .auth_config(&f.dir().join("token-signer.pem"))
        .unwrap();
    let registry = TestRegistry::builder().token_auth(auth).start().unwrap();
    (server, registry)
}

/// Stores carol's credentials for `registry` in the fixture's docker config.
fn log_in(f: &Fixture, registry: &img_core::testing::TestRegistry) {
    use base64::Engine;
    let docker = f.dir().join("home/.docker");
    std::fs::create_dir_all(&docker).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode("carol:T0ken-Pa55");
    std::fs::write(
        docker.join("config.json"),
        serde_json::json!({"auths": {registry.addr(): {"auth": auth}}}).to_string(),
    )
    .unwrap();
}

/// The layers of the store's image `reference` (full), and the size of its config.
fn layers_of(f: &Fixture, reference: &str) -> (Vec<img_core::oci::Descriptor>, u64) {
    let store = f.store().unwrap();
    let r = img_core::Reference::parse_normalized(reference).unwrap();
    let image = store
        .index()
        .image_by_tag(&r.name(), r.tag().unwrap_or("latest"))
        .unwrap()
        .unwrap();
    let bytes = store.read_blob(&image.target).unwrap();
    let m: img_core::oci::Manifest = serde_json::from_slice(&bytes).unwrap();
    (m.layers, m.config.size)
}

/// The registry's log lines of `method` requests to `repository` whose URI contains `part`.
fn requests(log: &str, method: &str, repository: &str, part: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains("response completed"))
        .filter(|l| l.contains(&format!("http.request.method={method}")))
        .filter(|l| l.contains(&format!("/v2/{repository}/")) && l.contains(part))
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_layer_pulled_from_another_repository_of_the_registry_is_mounted_not_uploaded() {
    let f = fixture();
    f.pull(ALPINE).unwrap();
    let target = f.reference("me/mounted:1");
    f.tag(ALPINE, &target).unwrap();
    let (layers, config_size) = layers_of(&f, &target);
    let rec = push(&f, &[&target], None).success().json();
    let layer_bytes: u64 = layers.iter().map(|l| l.size).sum();
    assert_eq!(rec["Mounted"], layer_bytes, "{rec}");
    // docker mounts layers only: the config goes up.
    assert_eq!(rec["Pushed"], config_size, "{rec}");
    let log = f.registry.log_tail();
    let from = "test/alpine-like";
    for l in &layers {
        let mounts = requests(&log, "POST", "me/mounted", &format!("mount={}", l.digest));
        assert_eq!(mounts.len(), 1, "{log}");
        assert!(mounts[0].contains(&format!("from={from}")), "{}", mounts[0]);
        assert!(
            mounts[0].contains("http.response.status=201"),
            "{}",
            mounts[0]
        );
        assert!(
            requests(&log, "PUT", "me/mounted", &format!("digest={}", l.digest)).is_empty(),
            "{log}"
        );
    }
    // The store now knows the layers in the pushed repository too.
    let store = f.store().unwrap();
    let sources = store
        .index()
        .blob_sources(&layers[0].digest, &f.registry.addr())
        .unwrap();
    assert_eq!(sources, ["me/mounted", from], "{sources:?}");
    // On a terminal, docker's line.
    f.tag(ALPINE, &f.reference("me/mounted2:1")).unwrap();
    let screen = f.on_terminal(
        env!("CARGO_BIN_EXE_img-push"),
        &[&f.reference("me/mounted2:1")],
    );
    assert!(screen.contains("Mounted from me/mounted"), "{screen}");
}

/// Issue 16: docker asks up to three source repositories to mount a layer; img asked
/// one. A layer the store saw most recently in two repositories that lack it (the
/// registry opens an upload for each, which img cancels) is mounted from the third; with
/// three such repositories ahead of the one that has it, that one is never asked and
/// the layer goes up into the session the third opened.
#[test]
fn a_layer_is_mounted_from_the_third_source_when_the_first_two_lack_it() {
    let f = fixture();
    f.pull(ALPINE).unwrap();
    let registry = f.registry.addr();
    let store = f.store().unwrap();
    let seen_in = |layers: &[img_core::oci::Descriptor], repos: &[&str]| {
        let digests: Vec<&img_core::Digest> = layers.iter().map(|l| &l.digest).collect();
        // Each later than the last: asked newest first.
        for repo in repos {
            store
                .index()
                .put_blob_sources(&digests, &registry, repo)
                .unwrap();
        }
    };
    let asked = mounts_asked;
    let pair = |from: &str, status: &str| (from.to_owned(), status.to_owned());

    let target = f.reference("me/third:1");
    f.tag(ALPINE, &target).unwrap();
    let (layers, config_size) = layers_of(&f, &target);
    let layer_bytes: u64 = layers.iter().map(|l| l.size).sum();
    seen_in(&layers, &["me/gone1", "me/gone2"]);
    let rec = push(&f, &[&target], None).success().json();
    assert_eq!(rec["Mounted"], layer_bytes, "{rec}");
    assert_eq!(rec["Pushed"], config_size, "{rec}");
    let log = f.registry.log_tail();
    for l in &layers {
        assert_eq!(
            asked(&log, "me/third", l),
            [
                pair("me/gone2", "202"),
                pair("me/gone1", "202"),
                pair("test/alpine-like", "201")
            ],
            "{log}"
        );
    }
    // The uploads opened for the sources that lacked the layers were cancelled.
    let cancelled = requests(&log, "DELETE", "me/third", "/blobs/uploads/");
    assert_eq!(cancelled.len(), 2 * layers.len(), "{log}");

    // Three sources ahead of those that have it (me/third, now the newest of them).
    let target = f.reference("me/fourth:1");
    f.tag(ALPINE, &target).unwrap();
    seen_in(&layers, &["me/gone3", "me/gone4", "me/gone5"]);
    let rec = push(&f, &[&target], None).success().json();
    assert_eq!(rec["Mounted"], 0, "{rec}");
    assert_eq!(rec["Pushed"], layer_bytes + config_size, "{rec}");
    let log = f.registry.log_tail();
    for l in &layers {
        assert_eq!(
            asked(&log, "me/fourth", l),
            [
                pair("me/gone5", "202"),
                pair("me/gone4", "202"),
                pair("me/gone3", "202")
            ],
            "{log}"
        );
        let put = requests(&log, "PUT", "me/fourth", &format!("digest={}", l.digest));
        assert_eq!(put.len(), 1, "{log}");
    }
    let cancelled = requests(&log, "DELETE", "me/fourth", "/blobs/uploads/");
    assert_eq!(cancelled.len(), 2 * layers.len(), "{log}");
}

/// The mounts asked for `layer` into `repository`, from the registry's log: (from,
/// status) in order.
fn mounts_asked(
    log: &str,
    repository: &str,
    layer: &img_core::oci::Descriptor,
) -> Vec<(String, String)> {
    requests(log, "POST", repository, &format!("mount={}", layer.digest))
        .iter()
        .map(|l| {
            let from = l.split("from=").nth(1).unwrap();
            let from = from.split(['&', '"', ' ']).next().unwrap().to_owned();
            let status = l.split("http.response.status=").nth(1).unwrap();
            (from, status[..3].to_owned())
        })
        .collect()
}

/// Issue 16: a mount source the registry declines (it answers 202, an upload to do: the
/// repository no longer has the layer) is forgotten for that layer, as docker removes
/// its V2 metadata for a failed candidate, so no later push asks it again.
#[test]
fn a_mount_source_that_lost_the_layer_is_forgotten_and_never_asked_again() {
    let f = fixture();
    f.pull(ALPINE).unwrap();
    let registry = f.registry.addr();
    let first = f.reference("me/src:1");
    f.tag(ALPINE, &first).unwrap();
    let (layers, config_size) = layers_of(&f, &first);
    let layer_bytes: u64 = layers.iter().map(|l| l.size).sum();
    let rec = push(&f, &[&first], None).success().json();
    assert_eq!(rec["Mounted"], layer_bytes, "{rec}");
    // Both repositories the store saw the layers in lose them at the registry.
    for repo in ["me/src", "test/alpine-like"] {
        for l in &layers {
            let out = std::process::Command::new("curl")
                .args([
                    "-sS",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    "-X",
                    "DELETE",
                ])
                .arg(format!("http://{registry}/v2/{repo}/blobs/{}", l.digest))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), "202", "{out:?}");
        }
    }
    let store = f.store().unwrap();
    for l in &layers {
        assert_eq!(
            store.index().blob_sources(&l.digest, &registry).unwrap(),
            ["me/src", "test/alpine-like"]
        );
    }
    // The first source declines through its own mount request; the last, through the
    // upload it opened, which carries the layer's bytes instead.
    let second = f.reference("me/dst:1");
    f.tag(ALPINE, &second).unwrap();
    let rec = push(&f, &[&second], None).success().json();
    assert_eq!(rec["Mounted"], 0, "{rec}");
    assert_eq!(rec["Pushed"], layer_bytes + config_size, "{rec}");
    let log = f.registry.log_tail();
    let pair = |from: &str, status: &str| (from.to_owned(), status.to_owned());
    for l in &layers {
        assert_eq!(
            mounts_asked(&log, "me/dst", l),
            [pair("me/src", "202"), pair("test/alpine-like", "202")],
            "{log}"
        );
        assert_eq!(
            requests(&log, "PUT", "me/dst", &format!("digest={}", l.digest)).len(),
            1,
            "{log}"
        );
        // Only the repository that has the layer now is left.
        assert_eq!(
            store.index().blob_sources(&l.digest, &registry).unwrap(),
            ["me/dst"]
        );
    }
    // Another repository: mounted from the one that has the layers, the others not asked.
    let third = f.reference("me/next:1");
    f.tag(ALPINE, &third).unwrap();
    let rec = push(&f, &[&third], None).success().json();
    assert_eq!(rec["Mounted"], layer_bytes, "{rec}");
    let log = f.registry.log_tail();
    for l in &layers {
        assert_eq!(
            mounts_asked(&log, "me/next", l),
            [pair("me/dst", "201")],
            "{log}"
        );
    }
}

#[test]
fn a_mount_with_token_auth_asks_pull_on_the_source_too() {
    let f = fixture();
    f.pull(ALPINE).unwrap();
    let (server, registry) = token_registry(&f);
    log_in(&f, &registry);
    let first = format!("{}/team/base:1", registry.addr());
    let second = format!("{}/team/app:1", registry.addr());
    f.tag(ALPINE, &first).unwrap();
    f.tag(ALPINE, &second).unwrap();
    let (layers, config_size) = layers_of(&f, &first);
    let rec = push(&f, &[&first], None).success().json();
    assert_eq!(rec["Mounted"], 0, "{rec}");
    let rec = push(&f, &[&second], None).success().json();
    let layer_bytes: u64 = layers.iter().map(|l| l.size).sum();
    assert_eq!(rec["Mounted"], layer_bytes, "{rec}");
    assert_eq!(rec["Pushed"], config_size, "{rec}");
    // One token for both scopes, each its own parameter.
    let asked = server.requests();
    assert!(
        asked.iter().any(|r| r.granted
            && r.scopes
                == [
                    "repository:team/app:pull,push".to_owned(),
                    "repository:team/base:pull".to_owned()
                ]),
        "{asked:?}"
    );
    let log = registry.log_tail();
    for l in &layers {
        let mounts = requests(&log, "POST", "team/app", &format!("mount={}", l.digest));
        assert!(
            mounts
                .iter()
                .any(|m| m.contains("http.response.status=201")),
            "{log}"
        );
    }
}

/// What blob `digest` of `repository` in `registry` inflates to, hashed.
fn inflated_digest(
    registry: &img_core::testing::TestRegistry,
    repository: &str,
    digest: &img_core::Digest,
) -> (img_core::Digest, img_core::compression::Outer) {
    use std::io::Read;
    let mut got = Vec::new();
    registry
        .client()
        .unwrap()
        .get_blob(repository, digest, 0)
        .unwrap()
        .reader
        .read_to_end(&mut got)
        .unwrap();
    let (mut plain, outer) = img_core::compression::decompress(std::io::Cursor::new(got)).unwrap();
    let mut tar = Vec::new();
    plain.read_to_end(&mut tar).unwrap();
    (img_core::Digest::sha256_of(&tar), outer)
}

#[test]
fn uncompressed_layers_of_a_legacy_archive_go_up_gzip_and_a_repush_compresses_nothing() {
    use img_core::compression::Outer;
    use img_core::oci::{ImageConfig, Manifest, media_type};
    let f = fixture();
    let image = img_core::testing::real_images::docker_import()
        .unwrap_or_else(|e| panic!("docker import: {e}"));
    let store = f.store().unwrap();
    let archive = std::fs::File::open(&image.docker_archive).unwrap();
    let source = img_core::ops::pack::Source::Stream(Box::new(std::io::BufReader::new(archive)));
    img_core::ops::pack::load(&store, source, &Default::default()).unwrap();
    let loaded = store.index().image(&image.id).unwrap().unwrap();
    let diff_ids = serde_json::from_slice::<ImageConfig>(&store.read_blob(&image.id).unwrap())
        .unwrap()
        .rootfs
        .diff_ids;
    let tag_as = |to: &str| {
        let r = img_core::Reference::parse_normalized(to).unwrap();
        store
            .index()
            .tag(&image.id, &r.name(), r.tag().unwrap())
            .unwrap();
    };
    let check = |repo: &str, digest: &str, wanted: Outer, layer_type: &str| {
        let client = f.registry.client().unwrap();
        let (bytes, _, _) = client.get_manifest(repo, digest).unwrap();
        let m: Manifest = serde_json::from_slice(&bytes).unwrap();
        // The config, and so the image ID, is unchanged.
        assert_eq!(m.config.digest, image.id);
        assert_eq!(m.layers.len(), diff_ids.len());
        for (l, diff_id) in m.layers.iter().zip(&diff_ids) {
            assert_eq!(l.media_type, layer_type);
            let (inflated, outer) = inflated_digest(&f.registry, repo, &l.digest);
            assert_eq!(outer, wanted, "{}", l.digest);
            assert_eq!(&inflated, diff_id);
        }
        bytes
    };
    let target = f.reference("me/legacy:1");
    tag_as(&target);
    let rec = push(&f, &[&target], None).success().json();
    assert_eq!(rec["Id"], image.id.to_string());
    let digest = rec["Digest"].as_str().unwrap().to_owned();
    assert_ne!(
        digest,
        loaded.target.to_string(),
        "the stored manifest names tars"
    );
    let bytes = check("me/legacy", "1", Outer::Gzip, media_type::OCI_LAYER_GZIP);
    assert_eq!(img_core::Digest::sha256_of(&bytes).to_string(), digest);
    // skopeo reads the same manifest.
    let out = std::process::Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--raw"])
        .arg(format!("docker://{target}"))
        .output()
        .unwrap();
    assert_eq!(
        out.stdout,
        bytes,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The pushed manifest is the RepoDigest, and the store keeps it.
    let digests: Vec<String> = serde_json::from_value(rec["RepoDigests"].clone()).unwrap();
    assert!(
        digests.contains(&format!("{}/me/legacy@{digest}", f.registry.addr())),
        "{digests:?}"
    );
    let pinned = store.index().image_blobs(&image.id).unwrap();
    assert!(pinned.iter().any(|d| d.to_string() == digest), "{pinned:?}");
    // Again, to another repository: the compressed copies are reused (mounted, even).
    let blobs = store.index().blobs().unwrap().len();
    let again = f.reference("me/legacy2:1");
    tag_as(&again);
    let rec = push(&f, &[&again], None).success().json();
    assert_eq!(rec["Digest"], digest.as_str());
    assert_eq!(
        store.index().blobs().unwrap().len(),
        blobs,
        "compressed again"
    );
    assert!(rec["Mounted"].as_u64().unwrap() > 0, "{rec}");
    // zstd, and img-pull's pull of it has the same DiffIDs and image ID.
    let zstd = f.reference("me/legacy-zstd:1");
    tag_as(&zstd);
    let rec = push(&f, &["--compression-format", "zstd", &zstd], None)
        .success()
        .json();
    check(
        "me/legacy-zstd",
        "1",
        Outer::Zstd,
        media_type::OCI_LAYER_ZSTD,
    );
    let pulled = f.pull("me/legacy-zstd:1").unwrap().record;
    assert_eq!(pulled.id, image.id);
    assert_eq!(pulled.digest.to_string(), rec["Digest"].as_str().unwrap());
    // `none` pushes the store's manifest as it is.
    let plain = f.reference("me/legacy-plain:1");
    tag_as(&plain);
    let rec = push(&f, &["--compression-format", "none", &plain], None)
        .success()
        .json();
    assert_eq!(rec["Digest"], loaded.target.to_string());
    let r = push(&f, &["--compression-format", "xz", &plain], None).failure(2, 1);
    assert!(
        r.stderr
            .contains("invalid compression format \"xz\": use gzip, zstd or none"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_multi_platform_image_of_uncompressed_layers_goes_up_gzip_under_a_new_index() {
    use img_core::compression::Outer;
    use img_core::oci::media_type::Compression;
    use img_core::oci::{Index, Manifest, Platform, media_type};
    use img_core::testing::images::{Flavor, ImageSpec, LayerSpec, build_index};
    let f = fixture();
    let spec = |architecture: &str, seed| ImageSpec {
        name: "test/plain-multi".to_owned(),
        tag: "1".to_owned(),
        flavor: Flavor::Oci,
        platform: Platform {
            architecture: architecture.to_owned(),
            os: "linux".to_owned(),
            variant: None,
            os_version: None,
            os_features: None,
        },
        layers: vec![
            LayerSpec {
                size: 24 * 1024,
                compression: Compression::None,
            };
            2
        ],
        seed,
    };
    let image = build_index(
        "test/plain-multi",
        "1",
        &[spec("amd64", 70), spec("arm64", 71)],
    );
    img_core::testing::seed::push_image(&f.registry.client().unwrap(), &image).unwrap();
    let pulled = f.pull_all_platforms("test/plain-multi:1").unwrap().record;
    assert_eq!(pulled.digest, image.top.0.digest);
    let target = f.reference("me/plain-multi:1");
    f.tag("test/plain-multi:1", &target).unwrap();
    let rec = push(&f, &[&target], None).success().json();
    let digest = rec["Digest"].as_str().unwrap().to_owned();
    assert_ne!(
        digest,
        pulled.digest.to_string(),
        "the stored index names tars"
    );
    let digests: Vec<String> = serde_json::from_value(rec["RepoDigests"].clone()).unwrap();
    assert!(
        digests.contains(&format!("{}/me/plain-multi@{digest}", f.registry.addr())),
        "{digests:?}"
    );
    let client = f.registry.client().unwrap();
    let (bytes, _, _) = client.get_manifest("me/plain-multi", "1").unwrap();
    assert_eq!(img_core::Digest::sha256_of(&bytes).to_string(), digest);
    let index: Index = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(index.manifests.len(), 2);
    for (entry, (stored, _)) in index.manifests.iter().zip(&image.manifests) {
        // The same platform, a new manifest over gzip layers of the same tars.
        assert_eq!(entry.platform, stored.platform);
        assert_ne!(entry.digest, stored.digest);
        let (b, _, _) = client
            .get_manifest("me/plain-multi", &entry.digest.to_string())
            .unwrap();
        assert_eq!(b.len() as u64, entry.size);
        let m: Manifest = serde_json::from_slice(&b).unwrap();
        let before = image
            .manifests
            .iter()
            .find(|(d, _)| d.digest == stored.digest)
            .map(|(_, b)| serde_json::from_slice::<Manifest>(b).unwrap())
            .unwrap();
        assert_eq!(
            m.config.digest, before.config.digest,
            "the image ID is kept"
        );
        for (l, plain) in m.layers.iter().zip(&before.layers) {
            assert_eq!(l.media_type, media_type::OCI_LAYER_GZIP);
            let (inflated, outer) = inflated_digest(&f.registry, "me/plain-multi", &l.digest);
            assert_eq!(outer, Outer::Gzip);
            assert_eq!(inflated, plain.digest);
        }
    }
    // Again: the compressed copies are found, so the same index, and nothing goes up.
    let again = push(&f, &[&target], None).success().json();
    assert_eq!(again["Digest"], digest);
    assert_eq!(again["Pushed"], 0, "{again}");
    // One platform of it: that child alone, converted the same way.
    let one = f.reference("me/plain-arm:1");
    f.tag("test/plain-multi:1", &one).unwrap();
    let rec = push(&f, &["--platform", "linux/arm64", &one], None)
        .success()
        .json();
    let arm = &index.manifests[1];
    assert_eq!(arm.platform.as_ref().unwrap().architecture, "arm64");
    assert_eq!(rec["Digest"], arm.digest.to_string());
}
