//! Token auth: the credentials are checked by fetching a token with them from the realm
//! the registry's challenge names; a refusal there stores nothing.

use std::collections::BTreeMap;

use img_core::testing::token_server::{TokenServer, TokenServerOptions};

use super::*;

#[test]
fn the_token_server_checks_the_password_and_img_pull_gets_tokens_with_it() {
    let server = TokenServer::start(TokenServerOptions {
        users: BTreeMap::from([(USER.to_owned(), PASSWORD.to_owned())]),
        ..TokenServerOptions::default()
    })
    .unwrap();
    let files = tempfile::tempdir().unwrap();
    let registry = TestRegistry::builder()
        .token_auth(
            server
                .auth_config(&files.path().join("token-signer.pem"))
                .unwrap(),
        )
        .start()
        .expect("starting a token-auth registry");
    let image = standard_set().remove(0);
    push_image(&registry.client_as(USER, PASSWORD).unwrap(), &image).unwrap();
    let host = registry.addr();
    let reference = format!("{host}/{}", image.reference());

    let s = Sandbox::new();
    let asked = server.requests().len();
    let r = s
        .login(&["-u", USER, "--password-stdin", &host], Some(WRONG))
        .failure(1, 1);
    assert!(r.stderr.contains("refused the credentials"), "{}", r.stderr);
    no_secret(&r, WRONG);
    assert!(!s.config_file().exists(), "nothing stored");
    let tried = &server.requests()[asked..];
    assert!(
        tried
            .iter()
            .any(|t| t.user.as_deref() == Some(USER) && !t.granted),
        "the token server was asked with the credentials, and refused them: {tried:?}"
    );

    let asked = server.requests().len();
    succeeded(&s.login(&["-u", USER, "--password-stdin", &host], Some(PASSWORD)));
    assert!(
        server.requests()[asked..]
            .iter()
            .any(|t| t.user.as_deref() == Some(USER) && t.granted)
    );
    assert_eq!(s.config()["auths"][&host]["auth"], auth_of(USER, PASSWORD));
    let pulled = s.pull(&reference).success().record();
    assert_eq!(&pulled.digest, image.digest());
}
