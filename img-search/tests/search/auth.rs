//! img-search against a registry with htpasswd Basic auth over TLS: a wrong password
//! says what img-pull says (the registry layer's wording), for the catalog, `HOST/TERM`
//! and `--tags` alike, and never shows the secret.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use img_core::registry::{ClientOptions, Credentials, RegistryClient, SchemePolicy};
use img_core::testing::tls::TestCa;
use img_core::testing::{TestRegistry, push_image, standard_set, write_htpasswd};

use super::Sandbox;

const USER: &str = "alice";
const PASSWORD: &str = "Corr3ct-Horse-Battery";

/// Regression (issue 14, bug 7): img-search with a wrong password said only
/// "authentication required" where img-pull names the refused user.
#[test]
fn search_with_a_wrong_password_names_the_refused_credentials_as_pull_does() {
    let files = tempfile::tempdir().unwrap();
    let ca = TestCa::new("img-search test ca").unwrap();
    let leaf = ca.server_cert().unwrap();
    let (cert, key, htpasswd) = (
        files.path().join("leaf.crt"),
        files.path().join("leaf.key"),
        files.path().join("htpasswd"),
    );
    std::fs::write(&cert, &leaf.cert_pem).unwrap();
    std::fs::write(&key, &leaf.key_pem).unwrap();
    write_htpasswd(&htpasswd, &[(USER, PASSWORD)]).unwrap();
    let registry = TestRegistry::builder()
        .tls(&cert, &key)
        .htpasswd(&htpasswd)
        .start()
        .expect("starting a Basic-auth TLS registry");
    let host = registry.addr();
    let pusher = RegistryClient::new(
        &host,
        ClientOptions {
            scheme: SchemePolicy::Https,
            ca_pems: vec![ca.cert_pem().into_bytes()],
            credentials: Some(Credentials::Basic {
                username: USER.into(),
                password: PASSWORD.into(),
            }),
            ..ClientOptions::default()
        },
    )
    .unwrap();
    let image = standard_set().remove(0);
    push_image(&pusher, &image).unwrap();

    let secret = "Wr0ng-Pa55word-zq";
    let s = Sandbox::new();
    ca.write_certs_d(&s.path().join("config/img/certs.d"), &host)
        .unwrap();
    s.docker_config_json(&serde_json::json!({
        "auths": { &host: { "auth": BASE64.encode(format!("{USER}:{secret}")) } }
    }));
    let want = format!(
        "the registry refused the credentials of \"{USER}\": check the password stored for {host} (log in again)"
    );
    let repository = format!("{host}/{}", image.name);
    for args in [
        vec!["--registry", host.as_str()],
        vec![&repository[..repository.len() - 1]],
        vec!["--tags", repository.as_str()],
    ] {
        let r = s.search(&args).failure(1, 1);
        assert!(r.stderr.contains(&want), "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
        assert_eq!(r.stdout, "");
        assert!(!r.stderr.contains(secret));
    }

    // The right password lists it.
    s.docker_config_json(&serde_json::json!({
        "auths": { &host: { "auth": BASE64.encode(format!("{USER}:{PASSWORD}")) } }
    }));
    let r = s.search(&["--registry", &host]).success();
    assert!(r.stdout.contains(&repository), "{}", r.stdout);
}
