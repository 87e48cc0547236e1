//! Stalled servers (issue 9, failure 4): a body that stops half-way, a server that never
//! sends headers, a token endpoint that stalls. Each used to hold a pull for 10 to 24
//! minutes; now a read that waits `IMG_STALL_TIMEOUT` gives up, a host silent for four
//! of them is given up on, and the command fails with one line naming the host. A slow
//! but moving download is never cut, and a 429 with Retry-After is waited out and said.
//!
//! The limits are shortened through the environment (2 s, so an 8 s budget); the time
//! bounds asserted are loose, since the machine is shared.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use img_core::testing::fault_proxy::{Fault, FaultProxy};
use img_core::testing::{TestImage, TestRegistry, image_with_layers, push_image};

use super::*;

/// The idle limit the tests set, and what a stalled command may take at most: the
/// budget (four idle limits) plus generous slack for a loaded machine.
const STALL: &str = "2s";
const WITHIN: Duration = Duration::from_secs(40);

/// A plain registry holding `image`.
fn registry_with(image: &TestImage) -> TestRegistry {
    let registry = TestRegistry::start().unwrap();
    push_image(&registry.client().unwrap(), image).unwrap();
    registry
}

/// img-pull of `reference` with the short stall limit; the run and how long it took.
fn pull_timed(s: &Sandbox, reference: &str) -> (Run, Duration) {
    let t = Instant::now();
    let r = run(
        s.command().env("IMG_STALL_TIMEOUT", STALL).arg(reference),
        None,
    );
    (r, t.elapsed())
}

/// A proxy in front of `registry` that never answers a manifest request (HEAD or GET).
fn silent_manifests(registry: &TestRegistry) -> FaultProxy {
    FaultProxy::start(&registry.addr(), |_, path, _| {
        if path.contains("/manifests/") {
            Fault::Silent
        } else {
            Fault::Pass
        }
    })
    .unwrap()
}

/// `image`'s reference through `proxy`.
fn via(proxy: &FaultProxy, image: &TestImage) -> String {
    format!("{}/{}", proxy.addr(), image.reference())
}

/// [`pull_timed`] of `image` through `proxy`, in a sandbox of its own: the sandbox, the
/// reference pulled, the run and how long it took.
fn pull_via(proxy: &FaultProxy, image: &TestImage) -> (Sandbox, String, Run, Duration) {
    let s = Sandbox::new();
    let reference = via(proxy, image);
    let (r, took) = pull_timed(&s, &reference);
    (s, reference, r, took)
}

fn assert_stalled(r: &Run, took: Duration, host: &str, reference: &str) {
    assert!(took < WITHIN, "took {took:?}: {}", r.stderr);
    let expected = format!("{host} stalled: no data for 2 s");
    assert!(r.stderr.contains(&expected), "{}", r.stderr);
    assert!(r.stderr.contains(reference), "{}", r.stderr);
}

#[test]
fn a_stalled_body_fails_within_the_budget_naming_the_host() {
    let image = image_with_layers(2, 256 * 1024, 301);
    let registry = registry_with(&image);
    let (_, _, m) = manifest_of(&image, None);
    let layer = m.layers[0].digest.to_string();
    // The layer's first GET sends some of the body and stops; after that the server
    // answers nothing at all for it.
    let gets = AtomicUsize::new(0);
    let proxy = FaultProxy::start(&registry.addr(), move |method, path, _| {
        if method == "GET" && path.ends_with(&layer) {
            if gets.fetch_add(1, Ordering::SeqCst) == 0 {
                Fault::StallAfter(100 * 1024)
            } else {
                Fault::Silent
            }
        } else {
            Fault::Pass
        }
    })
    .unwrap();
    let (s, reference, r, took) = pull_via(&proxy, &image);
    let r = r.failure(1, 1);
    assert_stalled(&r, took, proxy.addr(), &reference);
    assert!(
        r.stderr.contains(&m.layers[0].digest.to_string()),
        "{}",
        r.stderr
    );
    // Not on the first stall: the resumed GET was tried, and tried once more.
    assert!(took >= Duration::from_secs(6), "took {took:?}");
    // What arrived stays for a resume, and the store is sound.
    assert!(
        partials(&s.root()).iter().any(|(_, n)| *n >= 100 * 1024),
        "{:?}",
        partials(&s.root())
    );
    verify_store(&s.root());
}

#[test]
fn a_server_that_never_sends_headers_fails_within_the_budget_naming_the_host() {
    let image = image_with_layers(1, 64 * 1024, 302);
    let registry = registry_with(&image);
    // The manifest HEAD and GET get no answer at all: the HEAD's failure used to be
    // followed by the GET's own retries, 120 s each.
    let proxy = silent_manifests(&registry);
    let (s, reference, r, took) = pull_via(&proxy, &image);
    let r = r.failure(1, 1);
    assert_stalled(&r, took, proxy.addr(), &reference);
    let asked = proxy
        .seen()
        .iter()
        .filter(|r| r.path.contains("/manifests/"))
        .count();
    assert!(asked <= 6, "retries are bounded: {asked} requests");
    assert!(s.store().index().blobs().unwrap().is_empty());
}

/// `IMG_STALL_BUDGET` sets the budget apart from the idle limit: a 2 s budget with a 1 s
/// limit gives up after the GET and its one retry (the default, four limits, would have
/// sent it twice more). A fresh pull sends no HEAD before the GET.
#[test]
fn the_stall_budget_is_settable_apart() {
    let image = image_with_layers(1, 16 * 1024, 309);
    let registry = registry_with(&image);
    let proxy = silent_manifests(&registry);
    let s = Sandbox::new();
    let reference = via(&proxy, &image);
    let r = run(
        s.command()
            .env("IMG_STALL_TIMEOUT", "1s")
            .env("IMG_STALL_BUDGET", "2s")
            .arg(&reference),
        None,
    )
    .failure(1, 1);
    let expected = format!("{} stalled: no data for 1 s", proxy.addr());
    assert!(r.stderr.contains(&expected), "{}", r.stderr);
    let methods: Vec<_> = proxy
        .seen()
        .into_iter()
        .filter(|r| r.path.contains("/manifests/"))
        .map(|r| r.method)
        .collect();
    assert_eq!(methods, ["GET", "GET"], "{:#?}", proxy.seen());

    // A malformed value is said, naming the variable.
    let r = run(
        s.command().env("IMG_STALL_BUDGET", "soon").arg(&reference),
        None,
    )
    .failure(1, 1);
    assert!(
        r.stderr.contains("IMG_STALL_BUDGET=\"soon\""),
        "{}",
        r.stderr
    );
}

/// Several images of one command share the budget: once the registry is given up on,
/// the next image fails at once, without asking it again. The budget is two stalls: the
/// first image's GET and its one retry spend it (a fresh pull sends no HEAD first).
#[test]
fn a_registry_given_up_on_is_not_asked_again_for_the_next_image() {
    let first = image_with_layers(1, 16 * 1024, 307);
    let second = image_with_layers(1, 16 * 1024, 308);
    let registry = registry_with(&first);
    push_image(&registry.client().unwrap(), &second).unwrap();
    let proxy = silent_manifests(&registry);
    let s = Sandbox::new();
    let (a, b) = (via(&proxy, &first), via(&proxy, &second));
    let t = Instant::now();
    let r = run(
        s.command()
            .env("IMG_STALL_TIMEOUT", STALL)
            .env("IMG_STALL_BUDGET", "4s")
            .args([&a, &b]),
        None,
    )
    .failure(1, 2);
    let took = t.elapsed();
    assert_stalled(&r, took, proxy.addr(), &a);
    assert!(r.stderr.contains(&b), "{}", r.stderr);
    let asked_second = proxy
        .seen()
        .iter()
        .filter(|r| r.path.contains(&format!("/manifests/{}", second.tag)))
        .count();
    assert_eq!(asked_second, 0, "{:#?}", proxy.seen());
}

#[test]
fn a_stalling_token_endpoint_fails_within_the_budget_naming_it() {
    use super::redirect::token_setup_behind_proxy;
    use super::token::{PASSWORD, TokenSetup};
    use img_core::testing::token_server::TokenServerOptions;

    let image = image_with_layers(1, 64 * 1024, 303);
    // The push goes through; then the token endpoint stops answering.
    let stalling = Arc::new(AtomicBool::new(false));
    let (setup, front) = token_setup_behind_proxy(
        TokenServerOptions::default(),
        std::slice::from_ref(&image),
        |_| {
            let stalling = stalling.clone();
            move |_: &str, _: &str, _: usize| {
                if stalling.load(Ordering::SeqCst) {
                    Fault::Silent
                } else {
                    Fault::Pass
                }
            }
        },
    );
    stalling.store(true, Ordering::SeqCst);
    let s = TokenSetup::credentialed(&setup.registry.addr());
    let reference = format!("{}/{}", setup.registry.addr(), image.reference());
    let (r, took) = pull_timed(&s, &reference);
    let r = r.failure(1, 1);
    assert_stalled(&r, took, front.addr(), &reference);
    assert!(r.stderr.contains("getting a token from"), "{}", r.stderr);
    assert!(!r.stderr.contains(PASSWORD), "{}", r.stderr);
}

#[test]
fn a_slow_but_moving_download_is_not_cut() {
    // A layer of about 540 KB (1 MiB before gzip) dripped at most 64 KiB at a time with
    // 1.5 s pauses: well over the whole budget (8 s), each pause under the idle limit.
    let image = image_with_layers(1, 1024 * 1024, 304);
    let registry = registry_with(&image);
    let proxy = FaultProxy::start(&registry.addr(), |method, path, _| {
        if method == "GET" && path.contains("/blobs/") {
            Fault::Slow(Duration::from_millis(1500))
        } else {
            Fault::Pass
        }
    })
    .unwrap();
    let (s, _, r, took) = pull_via(&proxy, &image);
    let r = r.success();
    assert_eq!(&r.record().digest, image.digest());
    assert!(!r.stderr.contains("stalled"), "{}", r.stderr);
    assert!(
        took >= Duration::from_secs(8),
        "the drip was slow: {took:?}"
    );
    let blob_gets = proxy
        .seen()
        .iter()
        .filter(|r| r.method == "GET" && r.path.contains("/blobs/"))
        .count();
    assert_eq!(
        blob_gets,
        2,
        "one GET a blob, none cut: {:#?}",
        proxy.seen()
    );
    verify_store(&s.root());
}

#[test]
fn a_429_with_retry_after_is_honoured_and_said() {
    let image = image_with_layers(1, 64 * 1024, 305);
    let registry = registry_with(&image);
    let (_, _, m) = manifest_of(&image, None);
    let layer = m.layers[0].digest.to_string();
    // Longer than the idle limit: a server that answers "wait" is not stalled.
    let first = AtomicBool::new(true);
    let proxy = FaultProxy::start(&registry.addr(), move |method, path, _| {
        if method == "GET" && path.ends_with(&layer) && first.swap(false, Ordering::SeqCst) {
            Fault::Status(429, Some(3))
        } else {
            Fault::Pass
        }
    })
    .unwrap();
    let (s, _, r, took) = pull_via(&proxy, &image);
    assert_eq!(r.code, 0, "{r:#?}");
    assert_eq!(&r.record().digest, image.digest());
    assert!(took >= Duration::from_secs(3), "waited: {took:?}");
    let said = format!(
        "img-pull: {} asks to wait 3 s (429 Too Many Requests)",
        proxy.addr()
    );
    assert_eq!(r.stderr.lines().collect::<Vec<_>>(), [said.as_str()]);
    verify_store(&s.root());

    // A wait longer than img's cap is not waited: it is said, at once.
    let proxy = FaultProxy::start(&registry.addr(), |method, path, _| {
        if method == "GET" && path.contains("/manifests/") {
            Fault::Status(429, Some(3600))
        } else {
            Fault::Pass
        }
    })
    .unwrap();
    let (_, _, r, took) = pull_via(&proxy, &image);
    let r = r.failure(1, 1);
    assert!(took < Duration::from_secs(20), "took {took:?}");
    let said = format!(
        "{} asks to wait 3600 s (429 Too Many Requests), more than the 60 s img waits: try again later",
        proxy.addr()
    );
    assert!(r.stderr.contains(&said), "{}", r.stderr);
}

/// A mirror that stopped answering is left for the registry after two stalls of it, not
/// after a registry's whole budget; the pull then succeeds from the registry.
#[test]
fn a_stalled_mirror_is_left_for_the_registry_after_two_stalls() {
    let image = image_with_layers(1, 64 * 1024, 306);
    let registry = registry_with(&image);
    let origin = FaultProxy::start(&registry.addr(), |_, _, _| Fault::Pass).unwrap();
    let mirror = FaultProxy::start(&registry.addr(), |_, _, _| Fault::Silent).unwrap();
    let s = Sandbox::new();
    s.config_json(&serde_json::json!({
        "mirrors": { origin.addr(): [format!("http://{}", mirror.addr())] }
    }));
    let reference = format!("{}/{}", origin.addr(), image.reference());
    let (r, took) = pull_timed(&s, &reference);
    assert_eq!(r.code, 0, "{r:#?}");
    assert_eq!(&r.record().digest, image.digest());
    // Two stalls of 2 s and backoff; the registry's budget alone would be 8 s.
    assert!(took < Duration::from_secs(20), "took {took:?}");
    // The manifest HEAD and its one retry; the GET is not even sent (a registry's
    // budget would have sent it twice more).
    assert_eq!(mirror.seen().len(), 2, "{:#?}", mirror.seen());
    verify_store(&s.root());
}
