//! The client against a token-auth registry (Debian's docker-registry trusting the
//! harness's token server): tokens asked for as few times as a scope needs.

use std::collections::BTreeMap;
use std::sync::Barrier;

use img_core::registry::{ClientOptions, Credentials, RegistryClient, SchemePolicy};
use img_core::testing::token_server::{ISSUER, SERVICE, TokenServer, TokenServerOptions};
use img_core::testing::{TestRegistry, TokenAuthConfig, push_image, standard_set};

/// Regression (issue 17): a push's first requests are parallel HEADs of its blobs, and
/// each asked the token server for the same scope's token (six tokens for one push at
/// -j 6): the first fetch of a scope now goes alone and the others take its token.
#[test]
fn parallel_first_requests_of_a_scope_ask_for_one_token() {
    let server = TokenServer::start(TokenServerOptions {
        users: BTreeMap::from([("tina".to_owned(), "Tok3n-Once".to_owned())]),
        ..TokenServerOptions::default()
    })
    .unwrap();
    let files = tempfile::tempdir().unwrap();
    let bundle = files.path().join("token-signer.pem");
    std::fs::write(&bundle, server.cert_pem()).unwrap();
    let registry = TestRegistry::builder()
        .token_auth(TokenAuthConfig {
            realm: server.realm(),
            service: SERVICE.to_owned(),
            issuer: ISSUER.to_owned(),
            root_cert_bundle: bundle,
        })
        .start()
        .unwrap();
    let image = &standard_set()[0];
    push_image(&registry.client_as("tina", "Tok3n-Once").unwrap(), image).unwrap();

    // With the realm known from the scheme probe's challenge (a loopback registry's
    // HttpsThenHttp), and unknown until each request's own 401 (plain HTTP set).
    for scheme in [SchemePolicy::HttpsThenHttp, SchemePolicy::Http] {
        let client = RegistryClient::new(
            &registry.addr(),
            ClientOptions {
                scheme,
                credentials: Some(Credentials::Basic {
                    username: "tina".into(),
                    password: "Tok3n-Once".into(),
                }),
                ..ClientOptions::default()
            },
        )
        .unwrap();
        // The scheme is settled first, as a push's own first request does, so that the
        // parallel requests below are the first to need the token.
        client.base_url().unwrap();
        let before = server.requests().len();
        let threads = 8;
        let start = Barrier::new(threads);
        std::thread::scope(|s| {
            for (d, _) in image.blobs.iter().cycle().take(threads) {
                let (client, start) = (&client, &start);
                s.spawn(move || {
                    start.wait();
                    assert!(client.blob_exists(&image.name, &d.digest).unwrap());
                });
            }
        });
        let asked = &server.requests()[before..];
        assert_eq!(
            asked.len(),
            1,
            "{scheme:?}: one token for one scope: {asked:#?}"
        );
    }
}
