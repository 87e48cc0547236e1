//! Token auth: the registry configured with `auth: token` and the harness's token server
//! issuing ES256 JWTs with an `x5c` chain the registry checks against its
//! `rootcertbundle`. Anonymous pulls allowed and denied, credentialed pulls, and a JWT
//! that dies in the middle of a slow pull: the client renews it on the 401 and finishes.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use img_core::testing::fault_proxy::{Fault, FaultProxy};
use img_core::testing::token_server::{ISSUER, SERVICE, TokenServer, TokenServerOptions};
use img_core::testing::{
    TestImage, TestRegistry, TokenAuthConfig, image_with_layers, push_image, standard_set,
};

use super::*;

pub(super) const USER: &str = "carol";
pub(super) const PASSWORD: &str = "T0ken-Pa55-carol";

/// A token server, a registry trusting it, and `images` pushed with a credentialed token.
pub(super) struct TokenSetup {
    pub server: TokenServer,
    pub registry: TestRegistry,
    _files: tempfile::TempDir,
}

impl TokenSetup {
    pub fn start(options: TokenServerOptions, images: &[TestImage]) -> TokenSetup {
        TokenSetup::start_with_realm(options, images, TokenServer::realm)
    }

    /// As [`TokenSetup::start`], with the realm the registry names chosen by `realm`
    /// (a fault proxy in front of the token server).
    pub fn start_with_realm(
        mut options: TokenServerOptions,
        images: &[TestImage],
        realm: impl FnOnce(&TokenServer) -> String,
    ) -> TokenSetup {
        options.users = BTreeMap::from([(USER.to_owned(), PASSWORD.to_owned())]);
        let server = TokenServer::start(options).unwrap();
        let files = tempfile::tempdir().unwrap();
        let bundle = files.path().join("token-signer.pem");
        std::fs::write(&bundle, server.cert_pem()).unwrap();
        let registry = TestRegistry::builder()
            .token_auth(TokenAuthConfig {
                realm: realm(&server),
                service: SERVICE.to_owned(),
                issuer: ISSUER.to_owned(),
                root_cert_bundle: bundle,
            })
            .start()
            .expect("starting a token-auth registry");
        let pusher = registry.client_as(USER, PASSWORD).unwrap();
        for image in images {
            push_image(&pusher, image).unwrap();
        }
        TokenSetup {
            server,
            registry,
            _files: files,
        }
    }

    /// A sandbox with the user's credentials for `host` (the registry, or a proxy).
    pub fn credentialed(host: &str) -> Sandbox {
        let s = Sandbox::new();
        s.docker_config_json(&serde_json::json!({
            "auths": { host: { "auth": BASE64.encode(format!("{USER}:{PASSWORD}")) } }
        }));
        s
    }
}

#[test]
fn anonymous_pull_when_the_token_server_allows_it() {
    let image = standard_set().remove(0);
    let setup = TokenSetup::start(
        TokenServerOptions {
            anonymous_pull: true,
            ..TokenServerOptions::default()
        },
        std::slice::from_ref(&image),
    );
    let pushes = setup.server.requests().len();
    let s = Sandbox::new();
    let reference = format!("{}/{}", setup.registry.addr(), image.reference());
    let r = run(s.command().arg(&reference), None).success().record();
    assert_eq!(&r.digest, image.digest());
    verify_store(&s.root());
    let asked = &setup.server.requests()[pushes..];
    assert!(!asked.is_empty(), "the pull asked for a token");
    for t in asked {
        assert_eq!(t.user, None, "{t:?}");
        assert!(t.granted);
        assert!(
            t.scopes
                .iter()
                .all(|s| s == &format!("repository:{}:pull", image.name)),
            "asks for pull only: {t:?}"
        );
    }
}

#[test]
fn denied_anonymous_pull_fails_clearly_and_credentials_get_a_token() {
    let image = standard_set().remove(1);
    let setup = TokenSetup::start(TokenServerOptions::default(), std::slice::from_ref(&image));
    let reference = format!("{}/{}", setup.registry.addr(), image.reference());

    let s = Sandbox::new();
    let run1 = run(s.command().arg(&reference), None).failure(1, 1);
    assert!(run1.stderr.contains(&reference), "{}", run1.stderr);
    assert!(run1.stderr.contains("log in"), "{}", run1.stderr);
    assert!(s.store().index().blobs().unwrap().is_empty());

    let pushes = setup.server.requests().len();
    let s = TokenSetup::credentialed(&setup.registry.addr());
    let r = run(s.command().arg(&reference), None).success().record();
    assert_eq!(&r.digest, image.digest());
    verify_store(&s.root());
    let asked = &setup.server.requests()[pushes..];
    assert!(!asked.is_empty());
    assert!(
        asked
            .iter()
            .all(|t| t.user.as_deref() == Some(USER) && t.granted),
        "{asked:?}"
    );

    // A wrong password at the token server: one line, no secret.
    let s = Sandbox::new();
    s.docker_config_json(&serde_json::json!({
        "auths": { setup.registry.addr(): { "auth": BASE64.encode(format!("{USER}:nope-Secret-77")) } }
    }));
    let run3 = run(s.command().arg(&reference), None).failure(1, 1);
    assert!(run3.stderr.contains(USER), "{}", run3.stderr);
    assert!(!run3.stderr.contains("nope-Secret-77"), "{}", run3.stderr);
}

#[test]
fn a_token_that_expires_mid_pull_is_renewed_and_the_pull_completes() {
    // Four layers fetched one at a time, each dripped over about a second: the 2 s JWT
    // dies after the first layer or two, while the client still trusts `expires_in` 300.
    let image = image_with_layers(4, 512 * 1024, 91);
    let setup = TokenSetup::start(
        TokenServerOptions {
            jwt_lifetime: Duration::from_secs(2),
            expires_in: Some(300),
            ..TokenServerOptions::default()
        },
        std::slice::from_ref(&image),
    );
    let proxy = FaultProxy::start(&setup.registry.addr(), |method, path, _| {
        if method == "GET" && path.contains("/blobs/") {
            Fault::Slow(Duration::from_millis(200))
        } else {
            Fault::Pass
        }
    })
    .unwrap();
    let pushes = setup.server.requests().len();
    let s = TokenSetup::credentialed(proxy.addr());
    let reference = format!("{}/{}", proxy.addr(), image.reference());
    let t = std::time::Instant::now();
    let r = run(s.command().args(["--jobs", "1"]).arg(&reference), None)
        .success()
        .record();
    assert_eq!(&r.digest, image.digest());
    verify_store(&s.root());
    let scope = format!("repository:{}:pull", image.name);
    let asked = setup.server.requests()[pushes..]
        .iter()
        .filter(|t| t.scopes.contains(&scope))
        .count();
    let blobs: Vec<String> = proxy
        .seen()
        .into_iter()
        .filter(|r| r.path.contains("/blobs/"))
        .map(|r| r.path)
        .collect();
    let mut distinct = blobs.clone();
    distinct.sort();
    distinct.dedup();
    assert!(
        asked > 1 && blobs.len() > distinct.len(),
        "the token was renewed after a refused blob request: {asked} tokens for {scope}, \
         blob requests {blobs:#?} in {:?}",
        t.elapsed()
    );
}
