//! Round trips a pull makes, counted by the latency proxy (img-core's testing::latency) in
//! front of a token-auth registry: a fresh pull sends no HEAD, asks for one token and
//! reuses its connections; a re-pull of a present image is the HEAD of the tag and
//! nothing else.

use std::time::Duration;

use img_core::testing::image_with_layers;
use img_core::testing::latency::{LatencyProxy, Traffic};
use img_core::testing::token_server::TokenServerOptions;

use super::token::TokenSetup;
use super::*;

#[test]
fn a_fresh_pull_sends_no_head_and_a_re_pull_only_the_head_of_the_tag() {
    let image = image_with_layers(40, 4 * 1024, 31);
    let setup = TokenSetup::start(
        TokenServerOptions {
            anonymous_pull: true,
            ..TokenServerOptions::default()
        },
        std::slice::from_ref(&image),
    );
    let traffic = Traffic::new(None);
    let proxy = LatencyProxy::start(
        &setup.registry.addr(),
        Duration::from_millis(5),
        traffic.clone(),
    )
    .unwrap();
    let reference = format!("{}/{}", proxy.addr(), image.reference());
    let s = Sandbox::new();
    let tokens = setup.server.requests().len();

    run(s.command().arg(&reference), None).success();
    let fresh = traffic.counts();
    let log = traffic.log();
    // No HEAD before the GET it would only delay; the ping's challenge named the realm,
    // so the manifest went with its token and earned no 401 of its own.
    assert_eq!(fresh.head_manifest, 0, "{log:?}");
    assert_eq!(fresh.get_manifest, 1, "{log:?}");
    assert_eq!(fresh.get_blob, 41, "{log:?}");
    assert_eq!(fresh.unauthorized, 1, "only the ping is refused: {log:?}");
    assert_eq!(
        setup.server.requests().len() - tokens,
        1,
        "one token for the one scope"
    );
    // The HTTPS attempt, the HTTP ping's (reused), and at most 32 for the blobs: each
    // connection goes back to the pool for the next blob (ureq kept 3 a host before).
    assert!(fresh.connections <= 34, "{fresh:?}");
    verify_store(&s.root());

    traffic.reset();
    let tokens = setup.server.requests().len();
    run(s.command().arg(&reference), None).success();
    let again = traffic.counts();
    let log = traffic.log();
    assert_eq!(
        (again.head_manifest, again.get_manifest, again.get_blob),
        (1, 0, 0),
        "{log:?}"
    );
    // Besides the HEAD: the scheme's probes (a TLS hello, the HTTP ping).
    assert_eq!(again.requests(), 3, "{log:?}");
    assert_eq!(setup.server.requests().len() - tokens, 1);
}

/// Blobs a registry sends to its CDN (a 307 to another origin, as presigned object
/// storage URLs are): followed, each once, and the CDN never sees the registry's token.
#[test]
fn blobs_sent_to_a_cdn_are_fetched_there_without_the_token() {
    use img_core::testing::TestRegistry;

    let image = image_with_layers(12, 4 * 1024, 17);
    let setup = TokenSetup::start(TokenServerOptions::default(), std::slice::from_ref(&image));
    // The CDN's origin: the same storage, served without auth (a presigned URL needs
    // none), behind a delay of its own.
    let storage = TestRegistry::builder()
        .storage(setup.registry.dir().join("data"))
        .start()
        .unwrap();
    let rtt = Duration::from_millis(5);
    let traffic = Traffic::new(None);
    let cdn = LatencyProxy::start_cdn(&storage.addr(), rtt, traffic.clone()).unwrap();
    let proxy =
        LatencyProxy::start_redirecting_blobs(&setup.registry.addr(), rtt, traffic.clone(), &cdn)
            .unwrap();
    let s = TokenSetup::credentialed(&proxy.addr());

    let r = run(
        s.command()
            .arg(format!("{}/{}", proxy.addr(), image.reference())),
        None,
    )
    .success()
    .record();
    assert_eq!(&r.digest, image.digest());
    verify_store(&s.root());
    let c = traffic.counts();
    let log = traffic.log();
    // The config and 12 layers: each asked of the registry, redirected, fetched there.
    assert_eq!((c.get_blob, c.redirects, c.cdn), (13, 13, 13), "{log:?}");
    assert_eq!(c.cdn_authorized, 0, "the token went to the CDN: {log:?}");
    assert!(c.cdn_connections >= 1 && c.cdn_connections <= 13, "{c:?}");
}
