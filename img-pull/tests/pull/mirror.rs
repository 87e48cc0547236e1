//! Mirrors from the config file (`"mirrors": {"127.0.0.1:ORIGIN": ["http://…"]}`), on
//! real registries seen through recording proxies: an image only the mirror holds is
//! pulled from it under the origin's name; a mirror that is down, that answers 500, or
//! that lacks the image falls through — quickly — to the next one and then the origin;
//! a mirror's credentials are its own host's, not the origin's.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use img_core::testing::fault_proxy::{Fault, FaultProxy, SeenRequest};
use img_core::testing::{TestRegistry, push_image, standard_set};

use super::*;

/// `test/alpine-like:latest`: small, single-platform.
fn small_image() -> TestImage {
    standard_set().remove(0)
}

/// A plain registry, holding `image` if given.
fn registry_with(image: Option<&TestImage>) -> TestRegistry {
    let r = TestRegistry::start().expect("starting docker-registry");
    if let Some(image) = image {
        push_image(&r.client().unwrap(), image).unwrap();
    }
    r
}

/// A proxy that forwards everything and records what it saw.
fn recorder(upstream: &str) -> FaultProxy {
    FaultProxy::start(upstream, |_, _, _| Fault::Pass).unwrap()
}

/// The blob GETs that were forwarded (answered by the registry behind).
fn blobs_served(seen: &[SeenRequest]) -> usize {
    seen.iter()
        .filter(|s| s.method == "GET" && s.path.contains("/blobs/") && s.fault == Fault::Pass)
        .count()
}

/// A loopback port nothing listens on (bound, then released).
fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A sandbox whose config maps `origin` to `mirrors`.
fn with_mirrors(origin: &str, mirrors: &[String]) -> Sandbox {
    let s = Sandbox::new();
    s.config_json(&serde_json::json!({ "mirrors": { origin: mirrors } }));
    s
}

/// Pulls `image` under the name of `origin` (a recorder) in `s`, asserts the origin served
/// its manifest and every blob, and returns how long the pull took.
fn pull_from_origin(s: &Sandbox, origin: &FaultProxy, image: &TestImage) -> Duration {
    let reference = format!("{}/{}", origin.addr(), image.reference());
    let t = Instant::now();
    let r = run(s.command().arg(&reference), None).success().record();
    let elapsed = t.elapsed();
    assert_eq!(&r.digest, image.digest());
    let (_, _, m) = manifest_of(image, None);
    assert_eq!(blobs_served(&origin.seen()), 1 + m.layers.len());
    elapsed
}

#[test]
fn an_image_only_the_mirror_holds_is_pulled_from_it_under_the_origin_name() {
    let image = small_image();
    let (origin, mirror) = (registry_with(None), registry_with(Some(&image)));
    let (origin_p, mirror_p) = (recorder(&origin.addr()), recorder(&mirror.addr()));
    let s = with_mirrors(origin_p.addr(), &[format!("http://{}", mirror_p.addr())]);
    let reference = format!("{}/{}", origin_p.addr(), image.reference());

    let r = run(s.command().arg(&reference), None).success().record();
    assert_eq!(&r.digest, image.digest());
    assert_eq!(r.reference.as_ref().unwrap().to_string(), reference);
    assert_eq!(r.repo_tags, vec![reference.clone()]);
    assert_eq!(
        r.repo_digests,
        vec![format!(
            "{}/{}@{}",
            origin_p.addr(),
            image.name,
            image.digest()
        )]
    );
    let (_, _, m) = manifest_of(&image, None);
    assert_eq!(blobs_served(&mirror_p.seen()), 1 + m.layers.len());
    assert!(
        origin_p.seen().is_empty(),
        "the origin was asked: {:#?}",
        origin_p.seen()
    );
    let name = format!("{}/{}", origin_p.addr(), image.name);
    assert!(
        s.store()
            .index()
            .image_by_tag(&name, &image.tag)
            .unwrap()
            .is_some(),
        "tagged under the origin's name"
    );
    verify_store(&s.root());

    // Again: up to date, asked of the mirror only.
    let again = run(s.command().arg(&reference), None).success().record();
    assert_eq!(again.downloaded, Some(0));
    assert!(origin_p.seen().is_empty(), "{:#?}", origin_p.seen());
}

#[test]
fn a_mirror_that_is_down_falls_through_to_the_origin_at_once() {
    let image = small_image();
    let origin = registry_with(Some(&image));
    let origin_p = recorder(&origin.addr());
    // Both schemes, both refused.
    let s = with_mirrors(
        origin_p.addr(),
        &[
            format!("http://127.0.0.1:{}", dead_port()),
            format!("https://127.0.0.1:{}", dead_port()),
        ],
    );
    let elapsed = pull_from_origin(&s, &origin_p, &image);
    // A refused connection is not retried: no backoff (200 ms and up) is paid.
    assert!(
        elapsed < Duration::from_millis(1500),
        "took {elapsed:?} to get past two dead mirrors"
    );
    verify_store(&s.root());
}

/// Regression: an `https://` mirror on loopback fell back to plain HTTP like a loopback
/// registry does; the URL's scheme is what the user asked for.
#[test]
fn an_https_mirror_is_never_spoken_to_in_plain_http() {
    let image = small_image();
    let (origin, mirror) = (registry_with(Some(&image)), registry_with(Some(&image)));
    let origin_p = recorder(&origin.addr());
    // The mirror holds the image but speaks plain HTTP only.
    let mirror_p = recorder(&mirror.addr());
    let s = with_mirrors(origin_p.addr(), &[format!("https://{}", mirror_p.addr())]);
    pull_from_origin(&s, &origin_p, &image);
    assert!(
        mirror_p.seen().iter().all(|r| !r.path.starts_with("/v2/")),
        "spoke plain HTTP to an https:// mirror: {:#?}",
        mirror_p.seen()
    );
    verify_store(&s.root());
}

#[test]
fn a_mirror_answering_500_falls_through_to_the_origin() {
    let image = small_image();
    // The mirror holds the image, but its front answers 500 to everything.
    let (origin, mirror) = (registry_with(Some(&image)), registry_with(Some(&image)));
    let origin_p = recorder(&origin.addr());
    let broken = FaultProxy::start(&mirror.addr(), |_, _, _| Fault::Status(500, None)).unwrap();
    let s = with_mirrors(origin_p.addr(), &[format!("http://{}", broken.addr())]);
    let elapsed = pull_from_origin(&s, &origin_p, &image);
    // The manifest's GET (no HEAD: the store has nothing of the repository), sent once
    // more.
    assert_eq!(broken.seen().len(), 2, "{:#?}", broken.seen());
    assert_eq!(blobs_served(&broken.seen()), 0);
    // Regression: a failing mirror used to get a registry's full backoff, twice (HEAD,
    // then GET): 12 s before the origin was asked.
    assert!(
        elapsed < Duration::from_secs(3),
        "took {elapsed:?} ({} requests to the broken mirror)",
        broken.seen().len()
    );
    verify_store(&s.root());
}

#[test]
fn mirrors_are_tried_in_order() {
    let image = small_image();
    let (origin, first, second) = (
        registry_with(None),
        registry_with(None),
        registry_with(Some(&image)),
    );
    let (origin_p, first_p, second_p) = (
        recorder(&origin.addr()),
        recorder(&first.addr()),
        recorder(&second.addr()),
    );
    let s = with_mirrors(
        origin_p.addr(),
        &[
            format!("http://{}", first_p.addr()),
            format!("http://{}/", second_p.addr()),
        ],
    );
    let reference = format!("{}/{}", origin_p.addr(), image.reference());
    let r = run(s.command().arg(&reference), None).success().record();
    assert_eq!(&r.digest, image.digest());
    assert_eq!(r.repo_tags, vec![reference]);
    let (_, _, m) = manifest_of(&image, None);
    let asked_first = first_p.seen();
    assert!(
        asked_first.iter().any(|s| s.path.contains("/manifests/")),
        "the first mirror was asked first: {asked_first:#?}"
    );
    assert_eq!(blobs_served(&asked_first), 0);
    assert_eq!(blobs_served(&second_p.seen()), 1 + m.layers.len());
    assert!(origin_p.seen().is_empty(), "{:#?}", origin_p.seen());
    verify_store(&s.root());
}

#[test]
fn a_mirror_gets_its_own_credentials_not_the_origin_s() {
    let image = small_image();
    let (mirror, _files) = basic_auth_registry("mia", "M1rror-Secret", &image);
    let mirror_p = recorder(&mirror.addr());
    // The origin lacks the image: only the mirror can serve it.
    let origin = registry_with(None);
    let s = with_mirrors(&origin.addr(), &[format!("http://{}", mirror_p.addr())]);
    let (mirror_auth, origin_auth) = (
        BASE64.encode("mia:M1rror-Secret"),
        BASE64.encode("olga:0rigin-Secret"),
    );
    s.docker_config_json(&serde_json::json!({ "auths": {
        mirror_p.addr(): { "auth": mirror_auth },
        origin.addr(): { "auth": origin_auth },
    }}));
    let reference = format!("{}/{}", origin.addr(), image.reference());
    let r = run(s.command().arg(&reference), None).success().record();
    assert_eq!(&r.digest, image.digest());
    let seen = mirror_p.seen();
    let sent: Vec<&str> = seen
        .iter()
        .filter_map(|s| s.header("authorization"))
        .collect();
    assert!(!sent.is_empty(), "no credentials sent to the mirror");
    for a in sent {
        assert_eq!(a, format!("Basic {mirror_auth}"), "the mirror got {a}");
    }
    verify_store(&s.root());
}
