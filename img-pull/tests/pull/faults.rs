//! A fault proxy between img-pull and the real registry: resets, 5xx, 429 with
//! Retry-After, truncated bodies and wrong bytes. Transient faults are retried and end in
//! a verified image; persistent corruption is a clear "digest mismatch" with nothing
//! committed. The store passes verification either way.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use img_core::testing::Fixture;
use img_core::testing::fault_proxy::{Fault, FaultProxy, SeenRequest};

use super::*;

/// A plan that applies `fault` to the first `n` requests of each path `pick` selects
/// (by method and path) and passes everything else.
fn first_n(
    n: usize,
    pick: impl Fn(&str, &str) -> bool + Send + Sync + 'static,
    fault: Fault,
) -> impl Fn(&str, &str, usize) -> Fault + Send + Sync + 'static {
    let counts = Mutex::new(HashMap::<String, usize>::new());
    move |method, path, _| {
        if !pick(method, path) {
            return Fault::Pass;
        }
        let mut counts = counts.lock().unwrap();
        let c = counts.entry(format!("{method} {path}")).or_default();
        *c += 1;
        if *c <= n { fault.clone() } else { Fault::Pass }
    }
}

fn blob_get(method: &str, path: &str) -> bool {
    method == "GET" && path.contains("/blobs/")
}

fn manifest_get(method: &str, path: &str) -> bool {
    method == "GET" && path.contains("/manifests/")
}

fn faulted(seen: &[SeenRequest]) -> usize {
    seen.iter().filter(|s| s.fault != Fault::Pass).count()
}

/// Pulls `name` of `f`'s registry through `proxy` into a fresh sandbox.
fn pull_through(proxy: &FaultProxy, name: &str) -> (Sandbox, Run) {
    let s = Sandbox::new();
    let r = run(s.command().arg(format!("{}/{name}", proxy.addr())), None);
    (s, r)
}

#[test]
fn transient_blob_faults_are_retried_and_the_image_verifies() {
    let f = Fixture::new().unwrap();
    let image = f.image("test/oci-zstd");
    let (_, _, m) = manifest_of(image, None);
    for fault in [
        Fault::Reset,
        Fault::Status(500, None),
        Fault::Status(503, None),
        Fault::Truncate(100),
        Fault::Corrupt(10),
    ] {
        let proxy =
            FaultProxy::start(&f.registry.addr(), first_n(1, blob_get, fault.clone())).unwrap();
        let (s, run) = pull_through(&proxy, &image.reference());
        let r = run.success().record();
        assert_eq!(&r.digest, image.digest(), "{fault:?}");
        // Downloaded counts bytes that came over the network: wrong bytes came too.
        let times = if matches!(fault, Fault::Corrupt(_)) {
            2
        } else {
            1
        };
        assert_eq!(r.downloaded, Some(times * blob_bytes(&m)), "{fault:?}");
        assert_eq!(
            faulted(&proxy.seen()),
            1 + m.layers.len(),
            "{fault:?} hit every blob once"
        );
        verify_store(&s.root());
        if let Fault::Truncate(n) = fault {
            // The retry resumes after what arrived.
            let resumed = proxy
                .seen()
                .iter()
                .filter(|s| blob_get(&s.method, &s.path) && s.fault == Fault::Pass)
                .all(|s| s.header("range") == Some(&format!("bytes={n}-")));
            assert!(resumed, "{:#?}", proxy.seen());
        }
    }
}

/// Regression: a manifest whose body broke off ("Peer disconnected") or hashed wrong
/// once used to end the pull; only failures before the answer were retried.
#[test]
fn a_manifest_cut_off_or_damaged_on_the_way_is_fetched_again() {
    let f = Fixture::new().unwrap();
    let image = f.image("test/multi");
    for fault in [
        Fault::Reset,
        Fault::Status(502, None),
        Fault::Truncate(20),
        Fault::Corrupt(5),
    ] {
        let proxy =
            FaultProxy::start(&f.registry.addr(), first_n(1, manifest_get, fault.clone())).unwrap();
        let (s, run) = pull_through(&proxy, &image.reference());
        assert_eq!(run.code, 0, "{fault:?}: {run:#?}");
        let r = run.record();
        assert_eq!(&r.digest, image.digest(), "{fault:?}");
        assert!(faulted(&proxy.seen()) >= 2, "{fault:?}: index and manifest");
        verify_store(&s.root());
    }
}

#[test]
fn rate_limit_429_is_retried_after_the_time_it_asks() {
    let f = Fixture::new().unwrap();
    let image = f.image("test/alpine-like");
    let proxy = FaultProxy::start(
        &f.registry.addr(),
        first_n(1, manifest_get, Fault::Status(429, Some(2))),
    )
    .unwrap();
    let t = Instant::now();
    let (s, run) = pull_through(&proxy, &image.reference());
    assert_eq!(run.code, 0, "{run:#?}");
    // The wait is said, since the command seems to hang otherwise.
    assert_eq!(
        run.stderr,
        format!(
            "img-pull: {} asks to wait 2 s (429 Too Many Requests)\n",
            proxy.addr()
        )
    );
    let r = run.record();
    assert!(
        t.elapsed() >= Duration::from_secs(2),
        "waited Retry-After: {:?}",
        t.elapsed()
    );
    assert_eq!(&r.digest, image.digest());
    assert_eq!(faulted(&proxy.seen()), 1);
    verify_store(&s.root());
}

#[test]
fn a_dropped_first_connection_is_retried() {
    let f = Fixture::new().unwrap();
    let image = f.image("test/alpine-like");
    // Every path's first request is reset, the registry check included.
    let proxy =
        FaultProxy::start(&f.registry.addr(), first_n(1, |_, _| true, Fault::Reset)).unwrap();
    let (s, run) = pull_through(&proxy, &image.reference());
    let r = run.success().record();
    assert_eq!(&r.digest, image.digest());
    verify_store(&s.root());
}

#[test]
fn persistent_corruption_is_a_digest_mismatch_and_commits_nothing() {
    let f = Fixture::new().unwrap();
    let image = f.image("test/big");
    let (_, _, m) = manifest_of(image, None);
    let layer = m.layers[0].digest.clone();
    let target = layer.to_string();
    let proxy = FaultProxy::start(&f.registry.addr(), move |method, path, _| {
        if method == "GET" && path.ends_with(&target) {
            Fault::Corrupt(1000)
        } else {
            Fault::Pass
        }
    })
    .unwrap();
    let reference = format!("{}/{}", proxy.addr(), image.reference());
    let (s, run) = pull_through(&proxy, &image.reference());
    let run = run.failure(1, 1);
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains(&reference), "{}", run.stderr);
    assert!(run.stderr.contains("digest mismatch"), "{}", run.stderr);
    assert!(run.stderr.contains(&layer.to_string()), "{}", run.stderr);
    let store = s.store();
    assert!(!store.has_blob(&layer).unwrap());
    assert!(
        store
            .index()
            .list_images(&Default::default())
            .unwrap()
            .is_empty()
    );
    assert!(partials(&s.root()).is_empty(), "{:?}", partials(&s.root()));
    verify_store(&s.root());

    // The registry's true bytes still pull cleanly into the same store.
    let r = run_ok_direct(&f, &s, &image.reference());
    assert_eq!(&r.digest, image.digest());
    verify_store(&s.root());
}

fn run_ok_direct(f: &Fixture, s: &Sandbox, name: &str) -> ImageRecord {
    run(
        s.command().arg(format!("{}/{name}", f.registry.addr())),
        None,
    )
    .success()
    .record()
}

/// Regression: a blob whose every request was reset was retried by the client (six
/// sends) and then again by the pull (five attempts of six sends): half a minute
/// before the error.
#[test]
fn a_blob_that_always_fails_is_one_clear_error_after_bounded_retries() {
    let f = Fixture::new().unwrap();
    let image = f.image("test/alpine-like");
    let (_, _, m) = manifest_of(image, None);
    let target = m.layers[0].digest.to_string();
    let proxy = FaultProxy::start(&f.registry.addr(), move |method, path, _| {
        if method == "GET" && path.ends_with(&target) {
            Fault::Reset
        } else {
            Fault::Pass
        }
    })
    .unwrap();
    let t = Instant::now();
    let (s, run) = pull_through(&proxy, &image.reference());
    let elapsed = t.elapsed();
    let run = run.failure(1, 1);
    assert!(
        run.stderr.contains(&m.layers[0].digest.to_string()),
        "{}",
        run.stderr
    );
    let tries = proxy
        .seen()
        .iter()
        .filter(|s| s.fault == Fault::Reset)
        .count();
    assert!(
        tries <= 8 && elapsed < Duration::from_secs(12),
        "{tries} requests in {elapsed:?}"
    );
    assert!(
        s.store()
            .index()
            .list_images(&Default::default())
            .unwrap()
            .is_empty()
    );
    verify_store(&s.root());
}
