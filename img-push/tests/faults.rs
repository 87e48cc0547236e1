//! img-push through the fault proxy in front of the real registry: a blob PUT failing
//! with 500 or cut mid-upload is retried from a new upload session and said on stderr; a
//! stalled registry fails within the stall budget; retries are bounded (no tag written,
//! the store untouched); a push racing `img-rm --prune -a` in a loop succeeds (its lease
//! holds the image); an upload sent to another origin gets no credentials; a registry
//! asking for chunks (`OCI-Chunk-Min-Length`, or a 413 to a whole blob) gets PATCH chunks;
//! and, behind a slow registry, a push's HEADs go out all at once and its uploads `jobs`
//! at a time.

use std::collections::BTreeSet;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use img_core::testing::fault_proxy::{Fault, FaultProxy, SeenRequest};
use img_core::testing::{Fixture, Run, TestImage, image_with_layers, push_image, verify_store};

const ALPINE: &str = "test/alpine-like:latest";

fn fixture() -> Fixture {
    Fixture::new().expect("starting the test registry (needs the docker-registry package)")
}

/// Tags the store's image `from` (a fixture name) as `to` (a full reference).
fn tag(f: &Fixture, from: &str, to: &str) {
    let store = f.store().unwrap();
    let r = img_core::Reference::parse_normalized(&f.reference(from)).unwrap();
    let image = store
        .index()
        .image_by_tag(&r.name(), r.tag().unwrap())
        .unwrap()
        .unwrap();
    let to = img_core::Reference::parse_normalized(to).unwrap();
    store
        .index()
        .tag(&image.id, &to.name(), to.tag().unwrap_or("latest"))
        .unwrap();
}

/// The pulled alpine-like image tagged as `me/app:1` through `proxy`: the reference.
fn through(f: &Fixture, proxy: &FaultProxy) -> String {
    f.pull(ALPINE).unwrap();
    let target = format!("{}/me/app:1", proxy.addr());
    tag(f, ALPINE, &target);
    target
}

fn push(f: &Fixture, target: &str, env: &[(&str, &str)]) -> (Run, Duration) {
    let mut cmd = f.command(env!("CARGO_BIN_EXE_img-push"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.arg(target);
    let t = Instant::now();
    let r = img_core::testing::run(&mut cmd, None);
    (r, t.elapsed())
}

/// Exit 0 and a record on stdout; notices (a retry said) may be on stderr.
#[track_caller]
fn ok(r: Run) -> Run {
    assert_eq!(r.code, 0, "the push failed: {r:#?}");
    r
}

/// Exit 1, every stderr line img-push's own.
#[track_caller]
fn failed(r: Run) -> Run {
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(
        !r.stderr.is_empty() && r.stderr.lines().all(|l| l.starts_with("img-push: ")),
        "{r:#?}"
    );
    r
}

fn is_upload_put(method: &str, path: &str) -> bool {
    method == "PUT" && path.contains("/blobs/uploads/")
}

fn is_upload_post(s: &SeenRequest) -> bool {
    s.method == "POST" && s.path.contains("/blobs/uploads/")
}

/// The upload sessions' paths (`…/uploads/UUID`), without their query.
fn sessions(seen: &[SeenRequest]) -> Vec<String> {
    seen.iter()
        .filter(|s| is_upload_put(&s.method, &s.path))
        .map(|s| s.path.split('?').next().unwrap_or("").to_owned())
        .collect()
}

/// A plan failing the first upload PUT with `fault`, passing everything else.
fn first_put(fault: Fault) -> impl Fn(&str, &str, usize) -> Fault + Send + Sync + 'static {
    let done = AtomicBool::new(false);
    move |method, path, _| {
        if is_upload_put(method, path) && !done.swap(true, Ordering::SeqCst) {
            fault.clone()
        } else {
            Fault::Pass
        }
    }
}

/// The store's blob files and its soundness.
fn blob_files(f: &Fixture) -> BTreeSet<String> {
    let dir = f.root().join("blobs/sha256");
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// The pushed image is all in the registry, under the store's digest.
fn assert_landed(f: &Fixture, run: &Run) {
    assert_image_landed(f, run, f.image(ALPINE));
}

/// `image`, pushed as `me/app:1`, is in the registry under the store's digest, and the
/// registry serves each of its blobs with the bytes it was made of.
fn assert_image_landed(f: &Fixture, run: &Run, image: &TestImage) {
    let rec = run.json();
    let store = f.store().unwrap();
    let client = f.registry.client().unwrap();
    let (bytes, _, _) = client.get_manifest("me/app", "1").unwrap();
    assert_eq!(
        rec["Digest"],
        img_core::Digest::sha256_of(&bytes).to_string()
    );
    for (d, content) in &image.blobs {
        let mut served = Vec::new();
        client
            .get_blob("me/app", &d.digest, 0)
            .unwrap()
            .reader
            .read_to_end(&mut served)
            .unwrap();
        assert!(
            served == *content,
            "the registry serves other bytes for {d:?}"
        );
        assert!(store.has_blob(&d.digest).unwrap());
    }
}

/// The requests of the upload session that committed `digest`: its PATCHes, in order,
/// and the PUT that committed it (the last one naming the digest).
fn session_of<'a>(
    seen: &'a [SeenRequest],
    digest: &img_core::Digest,
) -> (Vec<&'a SeenRequest>, &'a SeenRequest) {
    let commit = seen
        .iter()
        .rev()
        .find(|s| is_upload_put(&s.method, &s.path) && s.path.contains(&format!("digest={digest}")))
        .unwrap_or_else(|| panic!("no PUT committed {digest}: {seen:#?}"));
    let session = commit.path.split('?').next().unwrap();
    let patches = seen
        .iter()
        .filter(|s| s.method == "PATCH" && s.path.split('?').next() == Some(session))
        .collect();
    (patches, commit)
}

/// The `Content-Range`s of chunks of `chunk` bytes covering `size` bytes.
fn ranges(size: u64, chunk: u64) -> Vec<String> {
    (0..size.div_ceil(chunk))
        .map(|i| {
            let start = i * chunk;
            format!("{start}-{}", (start + chunk).min(size) - 1)
        })
        .collect()
}

fn body_length(s: &SeenRequest) -> u64 {
    s.header("content-length").map_or(0, |v| v.parse().unwrap())
}

/// Regression: a 5xx carrying the registry's error envelope (as distribution's do) was
/// not retried at all, since only the envelope's message was kept, without the status.
#[test]
fn a_blob_put_failing_with_500_and_an_error_body_is_retried_from_a_new_upload_session() {
    let f = fixture();
    let proxy = FaultProxy::start(&f.registry.addr(), first_put(Fault::Status(500, None))).unwrap();
    let target = through(&f, &proxy);
    let (r, _) = push(&f, &target, &[]);
    let r = ok(r);
    assert!(
        r.stderr.contains("retrying the upload of") && r.stderr.contains("(attempt 2 of 3)"),
        "{}",
        r.stderr
    );
    assert_landed(&f, &r);
    let seen = proxy.seen();
    // The uploads came through the proxy (its Location rewritten), and the failed one
    // started again from a POST of its own: a new session, not the failed one's URL.
    let puts = sessions(&seen);
    let blobs = f.image(ALPINE).blobs.len();
    assert_eq!(puts.len(), blobs + 1, "{puts:#?}");
    assert_eq!(seen.iter().filter(|s| is_upload_post(s)).count(), blobs + 1);
    let unique: BTreeSet<&String> = puts.iter().collect();
    assert_eq!(
        unique.len(),
        puts.len(),
        "a session was used twice: {puts:#?}"
    );
    verify_store(&f.root());
}

#[test]
fn a_connection_cut_mid_upload_is_retried_from_a_new_upload_session() {
    let f = fixture();
    let largest = f
        .image(ALPINE)
        .blobs
        .iter()
        .map(|(d, _)| d.size)
        .max()
        .unwrap();
    assert!(largest > 1024, "the layer is cut half-way through");
    // Cut every blob's first upload half-way (the small ones too: at most their size).
    let cut = Arc::new(std::sync::Mutex::new(BTreeSet::<String>::new()));
    let plan = {
        let cut = cut.clone();
        move |method: &str, path: &str, _| {
            if !is_upload_put(method, path) {
                return Fault::Pass;
            }
            let digest = path.split("digest=").nth(1).unwrap_or("").to_owned();
            if cut.lock().unwrap().insert(digest) {
                Fault::CutUpload(largest / 2)
            } else {
                Fault::Pass
            }
        }
    };
    let proxy = FaultProxy::start(&f.registry.addr(), plan).unwrap();
    let target = through(&f, &proxy);
    let (r, took) = push(&f, &target, &[]);
    let r = ok(r);
    let blobs = f.image(ALPINE).blobs.len();
    // Each blob's cut said once, and seen at once (a cut is no stall).
    assert_eq!(
        r.stderr.matches("retrying the upload of").count(),
        blobs,
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("stalled"), "{}", r.stderr);
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert_landed(&f, &r);
    assert_eq!(sessions(&proxy.seen()).len(), 2 * blobs);
    verify_store(&f.root());
}

#[test]
fn a_stalled_registry_fails_within_the_stall_budget_saying_so() {
    let f = fixture();
    // Every upload PUT is read and never answered.
    let proxy = FaultProxy::start(&f.registry.addr(), |method, path, _| {
        if is_upload_put(method, path) {
            Fault::Silent
        } else {
            Fault::Pass
        }
    })
    .unwrap();
    let target = through(&f, &proxy);
    let before = blob_files(&f);
    let (r, took) = push(&f, &target, &[("IMG_STALL_TIMEOUT", "2s")]);
    let r = failed(r);
    // Four idle limits of 2 s, with slack for a loaded machine.
    assert!(took < Duration::from_secs(40), "took {took:?}");
    assert!(r.stderr.contains("stalled"), "{}", r.stderr);
    assert!(r.stderr.contains(proxy.addr()), "{}", r.stderr);
    let client = f.registry.client().unwrap();
    assert!(client.head_manifest("me/app", "1").unwrap().is_none());
    assert_eq!(blob_files(&f), before);
    verify_store(&f.root());
}

#[test]
fn retries_are_bounded_and_a_push_that_always_fails_writes_no_tag() {
    let f = fixture();
    let proxy = FaultProxy::start(&f.registry.addr(), |method, path, _| {
        if is_upload_put(method, path) {
            Fault::Status(503, None)
        } else {
            Fault::Pass
        }
    })
    .unwrap();
    let target = through(&f, &proxy);
    let before = blob_files(&f);
    let index_before = f
        .store()
        .unwrap()
        .index()
        .list_images(&Default::default())
        .unwrap();
    let (r, _) = push(&f, &target, &[]);
    let r = failed(r);
    assert!(r.stderr.contains("(attempt 3 of 3)"), "{}", r.stderr);
    assert!(!r.stderr.contains("attempt 4"), "{}", r.stderr);
    assert!(r.stderr.contains("503"), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    // No blob had more than three sessions, and nothing named a manifest.
    let seen = proxy.seen();
    let mut per_blob = std::collections::BTreeMap::<String, usize>::new();
    for s in seen.iter().filter(|s| is_upload_put(&s.method, &s.path)) {
        *per_blob
            .entry(s.path.split("digest=").nth(1).unwrap_or("").to_owned())
            .or_default() += 1;
    }
    assert!(per_blob.values().all(|&n| n == 3), "{per_blob:?}");
    assert!(
        !seen
            .iter()
            .any(|s| s.method == "PUT" && s.path.contains("/manifests/")),
        "a manifest was sent"
    );
    let client = f.registry.client().unwrap();
    assert!(client.head_manifest("me/app", "1").unwrap().is_none());
    // The store is as it was: same blobs, same images, no RepoDigest gained.
    assert_eq!(blob_files(&f), before);
    let index_after = f
        .store()
        .unwrap()
        .index()
        .list_images(&Default::default())
        .unwrap();
    assert_eq!(format!("{index_after:?}"), format!("{index_before:?}"));
    verify_store(&f.root());
}

#[test]
fn a_push_racing_prune_in_a_loop_succeeds_and_the_store_stays_sound() {
    let f = fixture();
    // Each upload is held a moment so the prunes run while blobs are going up.
    let puts = Arc::new(AtomicUsize::new(0));
    let plan = {
        let puts = puts.clone();
        move |method: &str, path: &str, _| {
            if is_upload_put(method, path) {
                puts.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(300));
            }
            Fault::Pass
        }
    };
    let proxy = FaultProxy::start(&f.registry.addr(), plan).unwrap();
    let target = through(&f, &proxy);
    // `-a`: every image no lease holds goes, tagged or not — once the uploads started,
    // only the push's lease keeps this one.
    let stop = Arc::new(AtomicBool::new(false));
    let pruner = {
        let (stop, puts, root) = (stop.clone(), puts.clone(), f.root());
        std::thread::spawn(move || {
            let mut during = 0;
            while puts.load(Ordering::SeqCst) == 0 && !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(5));
            }
            while !stop.load(Ordering::SeqCst) {
                let options = img_core::ops::rm::PruneOptions {
                    all: true,
                    ..Default::default()
                };
                img_core::ops::rm::prune_at(&root, &options).unwrap();
                during += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            during
        })
    };
    let (r, _) = push(&f, &target, &[]);
    stop.store(true, Ordering::SeqCst);
    let during = pruner.join().unwrap();
    let r = ok(r);
    assert!(during >= 2, "only {during} prunes ran during the uploads");
    // (The image may be gone by now: the lease held it, and a prune after the push's end
    // takes it, as `-a` should.)
    let rec = r.json();
    let client = f.registry.client().unwrap();
    let (bytes, _, _) = client.get_manifest("me/app", "1").unwrap();
    assert_eq!(
        rec["Digest"],
        img_core::Digest::sha256_of(&bytes).to_string()
    );
    for (d, _) in &f.image(ALPINE).blobs {
        assert!(client.blob_exists("me/app", &d.digest).unwrap(), "{d:?}");
    }
    verify_store(&f.root());
}

#[test]
fn an_upload_location_on_another_origin_gets_no_credentials() {
    use base64::Engine;
    use img_core::testing::TestRegistry;
    use img_core::testing::registry::TokenAuthConfig;
    use img_core::testing::token_server::{ISSUER, SERVICE, TokenServer, TokenServerOptions};
    let f = fixture();
    f.pull(ALPINE).unwrap();
    let server = TokenServer::start(TokenServerOptions {
        users: [("carol".to_owned(), "Up10ad-Secret".to_owned())].into(),
        ..TokenServerOptions::default()
    })
    .unwrap();
    let bundle = f.dir().join("token-signer.pem");
    std::fs::write(&bundle, server.cert_pem()).unwrap();
    // The registry with token auth, and an open one over the same storage: the "object
    // storage" its uploads are sent to, on another origin (localhost, another port).
    let storage = f.dir().join("shared-storage");
    let registry = TestRegistry::builder()
        .storage(&storage)
        .token_auth(TokenAuthConfig {
            realm: server.realm(),
            service: SERVICE.to_owned(),
            issuer: ISSUER.to_owned(),
            root_cert_bundle: bundle,
        })
        .start()
        .unwrap();
    let uploads = TestRegistry::builder().storage(&storage).start().unwrap();
    let blob_host = FaultProxy::start(&uploads.addr(), |_, _, _| Fault::Pass).unwrap();
    let port = blob_host.addr().rsplit(':').next().unwrap().to_owned();
    let elsewhere = format!("http://localhost:{port}");
    let front = FaultProxy::start(&registry.addr(), move |method, path, _| {
        if method == "POST" && path.contains("/blobs/uploads/") {
            Fault::Relocate(elsewhere.clone())
        } else {
            Fault::Pass
        }
    })
    .unwrap();
    let target = format!("{}/team/app:1", front.addr());
    tag(&f, ALPINE, &target);
    let docker = f.dir().join("home/.docker");
    std::fs::create_dir_all(&docker).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode("carol:Up10ad-Secret");
    std::fs::write(
        docker.join("config.json"),
        serde_json::json!({"auths": {front.addr(): {"auth": auth}}}).to_string(),
    )
    .unwrap();
    let (r, _) = push(&f, &target, &[]);
    let rec = ok(r).json();
    // Every blob went up to the other origin, without the registry's token.
    let there = blob_host.seen();
    let blobs = f.image(ALPINE).blobs.len();
    let puts: Vec<&SeenRequest> = there
        .iter()
        .filter(|s| is_upload_put(&s.method, &s.path))
        .collect();
    assert_eq!(puts.len(), blobs, "{there:#?}");
    assert!(
        there.iter().all(|s| s.header("authorization").is_none()),
        "credentials went to the other origin: {there:#?}"
    );
    assert!(
        puts.iter()
            .all(|s| s.header("host") == Some(&format!("localhost:{port}"))),
        "{puts:#?}"
    );
    // The registry itself got the token, and has the image.
    assert!(front.seen().iter().any(|s| {
        s.header("authorization")
            .is_some_and(|a| a.starts_with("Bearer "))
    }));
    let client = uploads.client().unwrap();
    let (bytes, _, _) = client.get_manifest("team/app", "1").unwrap();
    assert_eq!(
        rec["Digest"],
        img_core::Digest::sha256_of(&bytes).to_string()
    );
}

/// Issue 16: a registry that asks for chunks with `OCI-Chunk-Min-Length` on the upload
/// it opens (Debian's never does: the proxy adds the header) gets every blob in PATCH
/// chunks of at least that length, their ranges following on, and a body-less PUT
/// committing it; the registry then serves the image's own bytes.
#[test]
fn a_registry_asking_for_chunks_of_a_minimum_length_gets_every_blob_in_patches_of_it() {
    // Above the 16 MiB img chooses when a registry asks for less.
    const MIN: u64 = 17 << 20;
    let f = fixture();
    let image = image_with_layers(1, 36 << 20, 31);
    let layer = image.blobs.iter().map(|(d, _)| d.size).max().unwrap();
    assert!(layer > MIN && layer < 2 * MIN, "a layer of {layer} bytes");
    push_image(&f.registry.client().unwrap(), &image).unwrap();
    f.pull(&image.reference()).unwrap();
    let proxy = FaultProxy::start(&f.registry.addr(), |method, path, _| {
        if method == "POST" && path.contains("/blobs/uploads/") {
            Fault::AddHeaders(vec![("OCI-Chunk-Min-Length".to_owned(), MIN.to_string())])
        } else {
            Fault::Pass
        }
    })
    .unwrap();
    let target = format!("{}/me/app:1", proxy.addr());
    tag(&f, &image.reference(), &target);
    let (r, _) = push(&f, &target, &[]);
    let r = ok(r);
    let seen = proxy.seen();
    let patches = seen.iter().filter(|s| s.method == "PATCH").count();
    // Two chunks for the layer, one for the config.
    assert_eq!(patches, 3, "{seen:#?}");
    for (d, _) in &image.blobs {
        let (patches, commit) = session_of(&seen, &d.digest);
        let sent: Vec<&str> = patches
            .iter()
            .map(|p| p.header("content-range").unwrap())
            .collect();
        assert_eq!(sent, ranges(d.size, MIN), "{d:?}");
        assert_eq!(patches.iter().map(|p| body_length(p)).sum::<u64>(), d.size);
        assert_eq!(body_length(commit), 0, "{commit:#?}");
    }
    assert_image_landed(&f, &r, &image);
    verify_store(&f.root());
}

/// Issue 16: a blob refused whole (413 to its PUT, as a proxy past its body limit
/// answers) goes up again from a new upload session in PATCH chunks, and so does every
/// upload after it (the config); the registry then serves the image's own bytes.
#[test]
fn a_blob_refused_whole_with_413_goes_up_in_chunks_from_a_new_upload_session() {
    const LIMIT: u64 = 1 << 20;
    let f = fixture();
    f.pull("test/big:latest").unwrap();
    let image = f.image("test/big:latest").clone();
    let big = image
        .blobs
        .iter()
        .map(|(d, _)| d)
        .max_by_key(|d| d.size)
        .unwrap()
        .clone();
    assert!(big.size > LIMIT, "{big:?}");
    let proxy = FaultProxy::start(&f.registry.addr(), |method, path, _| {
        if is_upload_put(method, path) {
            Fault::BodyLimit(LIMIT)
        } else {
            Fault::Pass
        }
    })
    .unwrap();
    let target = format!("{}/me/app:1", proxy.addr());
    tag(&f, "test/big:latest", &target);
    let (r, _) = push(&f, &target, &[]);
    let r = ok(r);
    assert!(
        r.stderr
            .contains(&format!("retrying the upload of {}", big.digest.short()))
            && r.stderr.contains("413"),
        "{}",
        r.stderr
    );
    let seen = proxy.seen();
    // The whole blob was sent once, refused; then its new session chunked it.
    let whole: Vec<&SeenRequest> = seen
        .iter()
        .filter(|s| is_upload_put(&s.method, &s.path) && body_length(s) > LIMIT)
        .collect();
    assert_eq!(whole.len(), 1, "{seen:#?}");
    assert!(whole[0].path.contains(&format!("digest={}", big.digest)));
    let (patches, commit) = session_of(&seen, &big.digest);
    assert_ne!(
        commit.path.split('?').next(),
        whole[0].path.split('?').next(),
        "the refused session was used again"
    );
    assert_eq!(patches.len(), 1, "{seen:#?}");
    assert_eq!(
        patches[0].header("content-range"),
        Some(&*format!("0-{}", big.size - 1))
    );
    assert_eq!(body_length(commit), 0);
    // The config went up after the refusal: in a chunk too.
    let (config, _) = image
        .blobs
        .iter()
        .find(|(d, _)| !d.media_type.contains("layer"))
        .unwrap();
    assert_eq!(session_of(&seen, &config.digest).0.len(), 1, "{seen:#?}");
    assert_eq!(seen.iter().filter(|s| s.method == "PATCH").count(), 2);
    assert_image_landed(&f, &r, &image);
    verify_store(&f.root());
}

/// When the requests that `is` picks arrived, in order, each after the first.
fn arrivals(seen: &[SeenRequest], is: impl Fn(&SeenRequest) -> bool) -> Vec<Duration> {
    let mut at: Vec<Instant> = seen.iter().filter(|s| is(s)).map(|s| s.at).collect();
    at.sort();
    at.iter().map(|t| *t - at[0]).collect()
}

/// Issue 16: a re-push of 100 small layers took 141 ms, its 101 HEADs sent `jobs` (6) at
/// a time. Behind a registry slow to answer, every HEAD of a push goes out before the
/// first answer comes back, while the uploads keep to `jobs` at once (docker's
/// max-concurrent-uploads): the seventh waits for a slot. A re-push asks only whether
/// the repository has the manifest (the store saw its layers there) and HEADs no blob;
/// when the registry says it has not, every blob is HEADed again, all at once.
#[test]
fn a_push_sends_its_heads_all_at_once_and_its_uploads_jobs_at_a_time() {
    const SLOW: Duration = Duration::from_millis(700);
    const LAYERS: usize = 12;
    let f = fixture();
    let image = image_with_layers(LAYERS, 2048, 41);
    push_image(&f.registry.client().unwrap(), &image).unwrap();
    f.pull(&image.reference()).unwrap();
    let lost = Arc::new(AtomicBool::new(false));
    let manifest_lost = lost.clone();
    let proxy = FaultProxy::start(&f.registry.addr(), move |method, path, _| {
        let blob_head = method == "HEAD" && path.contains("/blobs/sha256:");
        if blob_head || is_upload_put(method, path) {
            Fault::Delay(SLOW)
        } else if method == "HEAD"
            && path.contains("/manifests/")
            && manifest_lost.load(Ordering::SeqCst)
        {
            Fault::Status(404, None)
        } else {
            Fault::Pass
        }
    })
    .unwrap();
    let target = format!("{}/me/app:1", proxy.addr());
    tag(&f, &image.reference(), &target);
    let is_head = |s: &SeenRequest| s.method == "HEAD" && s.path.contains("/blobs/sha256:");
    let is_manifest_head = |s: &SeenRequest| s.method == "HEAD" && s.path.contains("/manifests/");
    // At the default jobs, 6.
    let (r, _) = push(&f, &target, &[]);
    let digest = ok(r).json()["Digest"].as_str().unwrap().to_owned();
    let seen = proxy.seen();
    // A fresh repository: no manifest asked for, every blob HEADed at once.
    assert!(!seen.iter().any(is_manifest_head), "{seen:#?}");
    let heads = arrivals(&seen, is_head);
    assert_eq!(heads.len(), LAYERS + 1, "{seen:#?}");
    assert!(heads[LAYERS] < SLOW, "HEADs waited for answers: {heads:?}");
    // The layers' PUTs: six at once, the seventh once one of them is answered.
    let puts = arrivals(&seen, |s| is_upload_put(&s.method, &s.path));
    assert_eq!(puts.len(), LAYERS + 1, "{seen:#?}");
    assert!(puts[5] < SLOW && puts[6] >= SLOW, "{puts:?}");

    // Again: the manifest's HEAD by digest, and the tag.
    let before = proxy.seen().len();
    let (r, took) = push(&f, &target, &[]);
    let rec = ok(r).json();
    let again = &proxy.seen()[before..];
    let asked: Vec<&str> = again
        .iter()
        .filter(|s| is_manifest_head(s))
        .map(|s| s.path.as_str())
        .collect();
    assert_eq!(
        asked,
        [format!("/v2/me/app/manifests/{digest}")],
        "{again:#?}"
    );
    assert!(!again.iter().any(is_head), "{again:#?}");
    assert!(!again.iter().any(is_upload_post), "{again:#?}");
    assert_eq!(rec["Pushed"], 0, "{rec}");
    assert!(took < SLOW, "the re-push took {took:?}");

    // A registry that says it lost the manifest: every blob is HEADed, all at once.
    lost.store(true, Ordering::SeqCst);
    let before = proxy.seen().len();
    let (r, took) = push(&f, &target, &[]);
    let rec = ok(r).json();
    let again = &proxy.seen()[before..];
    let heads = arrivals(again, is_head);
    assert_eq!(heads.len(), LAYERS + 1, "{again:#?}");
    assert!(heads[LAYERS] < SLOW, "{heads:?}");
    assert!(!again.iter().any(is_upload_post), "{again:#?}");
    assert_eq!(rec["Pushed"], 0, "{rec}");
    // One wave of HEADs, not the three of 13 at 6 at a time.
    assert!(took < 2 * SLOW, "the re-push took {took:?}");
}
