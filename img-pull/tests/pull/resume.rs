//! Resuming: a pull killed (`kill -9`) in the middle of a large layer leaves its partial
//! in `ingest/`; the next pull asks for the rest with `Range` and fetches only that, and
//! copes with a server that ignores `Range` by starting the blob over. A pull of many
//! small layers, whose commits go in batches, killed at random instants leaves a sound
//! store and resumes.

use std::os::unix::process::ExitStatusExt;
use std::process::Child;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use img_core::oci::Manifest;
use img_core::testing::fault_proxy::{Fault, FaultProxy};
use img_core::testing::images::SplitMix64;
use img_core::testing::{TestImage, TestRegistry, image_with_layers, push_image};

use super::*;

/// One layer of about 32 MiB of content, half random: about 16 MiB gzipped.
fn big() -> &'static TestImage {
    static IMAGE: OnceLock<TestImage> = OnceLock::new();
    IMAGE.get_or_init(|| image_with_layers(1, 32 * 1024 * 1024, 4242))
}

/// Kill the first pull once its partial layer holds this much.
const KILL_AT: u64 = 3 * 1024 * 1024;

struct Interrupted {
    registry: TestRegistry,
    sandbox: Sandbox,
    manifest: Manifest,
    /// The partial layer's size after the kill.
    partial: u64,
}

/// Pushes [`big`], starts a pull through a dripping proxy, and kills it with SIGKILL
/// once the layer's partial download reaches [`KILL_AT`].
fn interrupted_pull() -> Interrupted {
    let image = big();
    let registry = TestRegistry::start().expect("starting the test registry");
    push_image(&registry.client().unwrap(), image).unwrap();
    let (_, _, manifest) = manifest_of(image, None);
    let layer = &manifest.layers[0];
    assert!(
        layer.size > 4 * KILL_AT,
        "the layer is large: {}",
        layer.size
    );

    let slow = FaultProxy::start(&registry.addr(), |method, path, _| {
        if method == "GET" && path.contains("/blobs/") {
            Fault::Slow(Duration::from_millis(10))
        } else {
            Fault::Pass
        }
    })
    .unwrap();
    let sandbox = Sandbox::new();
    let mut child: Child = sandbox
        .command()
        .arg(format!("{}/{}", slow.addr(), image.reference()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let partial_path = sandbox
        .root()
        .join(format!("ingest/sha256-{}", layer.digest.hex()));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let size = std::fs::metadata(&partial_path)
            .map(|m| m.len())
            .unwrap_or(0);
        if size >= KILL_AT {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the pull ended ({status}) before its partial reached {KILL_AT} bytes");
        }
        assert!(Instant::now() < deadline, "the partial never grew: {size}");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    let partial = std::fs::metadata(&partial_path).unwrap().len();
    assert!(
        partial >= KILL_AT && partial < layer.size,
        "killed mid-layer: {partial} of {}",
        layer.size
    );
    assert!(!sandbox.store().has_blob(&layer.digest).unwrap());
    assert!(
        sandbox
            .store()
            .index()
            .list_images(&Default::default())
            .unwrap()
            .is_empty(),
        "a killed pull records no image"
    );
    verify_store(&sandbox.root());
    Interrupted {
        registry,
        sandbox,
        manifest,
        partial,
    }
}

#[test]
fn a_pull_killed_mid_layer_resumes_with_range_and_fetches_only_the_rest() {
    let it = interrupted_pull();
    let layer = &it.manifest.layers[0];
    let config_was_fetched = it
        .sandbox
        .store()
        .has_blob(&it.manifest.config.digest)
        .unwrap();
    let watch = FaultProxy::start(&it.registry.addr(), |_, _, _| Fault::Pass).unwrap();

    let r = run(
        it.sandbox
            .command()
            .arg(format!("{}/{}", watch.addr(), big().reference())),
        None,
    )
    .success()
    .record();
    let config = if config_was_fetched {
        0
    } else {
        it.manifest.config.size
    };
    assert_eq!(
        r.downloaded,
        Some(layer.size - it.partial + config),
        "only the rest of the layer is fetched ({} of {} were kept)",
        it.partial,
        layer.size
    );
    let ranged: Vec<Option<String>> = watch
        .seen()
        .iter()
        .filter(|s| s.path.ends_with(&layer.digest.to_string()))
        .map(|s| s.header("range").map(str::to_owned))
        .collect();
    assert_eq!(ranged, vec![Some(format!("bytes={}-", it.partial))]);
    assert!(it.sandbox.store().has_blob(&layer.digest).unwrap());
    assert!(
        partials(&it.sandbox.root()).is_empty(),
        "the partial was committed"
    );
    verify_store(&it.sandbox.root());
}

#[test]
fn a_server_that_ignores_range_gets_the_whole_blob_again_and_the_pull_verifies() {
    let it = interrupted_pull();
    let layer = &it.manifest.layers[0];
    let proxy = FaultProxy::start(&it.registry.addr(), |method, path, _| {
        if method == "GET" && path.contains("/blobs/") {
            Fault::IgnoreRange
        } else {
            Fault::Pass
        }
    })
    .unwrap();
    let r = run(
        it.sandbox
            .command()
            .arg(format!("{}/{}", proxy.addr(), big().reference())),
        None,
    )
    .success()
    .record();
    let downloaded = r.downloaded.unwrap();
    assert!(
        downloaded >= layer.size,
        "the whole layer came again: {downloaded} < {}",
        layer.size
    );
    assert!(
        proxy
            .seen()
            .iter()
            .any(|s| s.path.ends_with(&layer.digest.to_string()) && s.header("range").is_some()),
        "the client did ask for a range"
    );
    assert!(it.sandbox.store().has_blob(&layer.digest).unwrap());
    verify_store(&it.sandbox.root());
}

/// Issue 17's batched commits: a pull of 100 layers of 64 KiB commits them in batches (one
/// directory sync and one index transaction for each), and a kill -9 at any instant must
/// still leave only what single commits would: a store that checks clean (partials and
/// blob files without rows are not wrong), and a pull run again that completes, fetching
/// no more than a fresh one.
#[test]
fn a_pull_of_many_small_layers_killed_at_random_instants_leaves_a_sound_store_and_resumes() {
    const ROUNDS: usize = 12;
    let image = image_with_layers(100, 64 * 1024, 17);
    let registry = TestRegistry::start().expect("starting the test registry");
    push_image(&registry.client().unwrap(), &image).unwrap();
    let reference = format!("{}/{}", registry.addr(), image.reference());
    // How long a whole pull takes here: the kills land within 1.2 times that.
    let probe = Sandbox::new();
    let started = Instant::now();
    let fresh = run(probe.command().arg(&reference), None)
        .success()
        .record();
    let typical = started.elapsed();
    let full = fresh
        .downloaded
        .expect("a fresh pull says what it downloaded");
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut rng = SplitMix64::new(seed);
    let window = (typical.as_micros() as u64 * 6 / 5).max(1);
    let mut killed = 0;
    for round in 0..ROUNDS {
        let at = Duration::from_micros(rng.next_u64() % window);
        let what = format!("round {round} (seed {seed}), killed after {at:?}");
        let sandbox = Sandbox::new();
        let mut child = sandbox
            .command()
            .arg(&reference)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(at);
        child.kill().unwrap(); // SIGKILL, or nothing when it has exited
        if child.wait().unwrap().signal().is_some() {
            killed += 1;
        }
        let report = sandbox.store().check();
        assert!(report.is_sound(), "{what}: {:#?}", report.problems);
        let again = run(sandbox.command().arg(&reference), None)
            .success()
            .record();
        assert_eq!(again.id, fresh.id, "{what}");
        let downloaded = again.downloaded.unwrap_or(0);
        assert!(
            downloaded <= full,
            "{what}: the pull run again downloaded {downloaded} bytes, a fresh one {full}"
        );
        let store = sandbox.store();
        for (d, _) in &image.blobs {
            assert!(
                store.has_blob(&d.digest).unwrap(),
                "{what}: {} missing",
                d.digest
            );
        }
        assert_eq!(
            verify_store(&sandbox.root()),
            image.blobs.len() + 1,
            "{what}"
        );
    }
    eprintln!("{killed} of {ROUNDS} pulls killed before they ended (a pull takes {typical:?})");
    assert!(
        killed >= ROUNDS / 3,
        "only {killed} of {ROUNDS} kills came before the pull ended (it takes {typical:?})"
    );
}
