//! The client against a TLS registry: trust through extra CAs or `tls_insecure`, and no
//! fallback to plain HTTP when the certificate is untrusted.

use img_core::ErrorKind;
use img_core::registry::{ClientOptions, RegistryClient, SchemePolicy};
use img_core::testing::tls::TestCa;
use img_core::testing::{TestRegistry, push_image, standard_set};

use super::scheme_client;

/// A CA and a certificate for 127.0.0.1 signed by it, from the test CA.
fn tls_files(
    dir: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let ca = TestCa::new("img-test-ca").unwrap();
    let leaf = ca.server_cert().unwrap();
    let paths = (
        dir.join("ca.crt"),
        dir.join("leaf.crt"),
        dir.join("leaf.key"),
    );
    std::fs::write(&paths.0, ca.cert_pem()).unwrap();
    std::fs::write(&paths.1, &leaf.cert_pem).unwrap();
    std::fs::write(&paths.2, &leaf.key_pem).unwrap();
    paths
}

#[test]
fn tls_trust_is_checked_and_never_bypassed_by_the_http_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = tls_files(dir.path());
    let reg = TestRegistry::builder()
        .tls(&cert, &key)
        .start()
        .expect("starting a TLS registry");
    assert!(reg.is_tls());
    let addr = reg.addr();

    // Not trusted: a Tls error naming the certificate, and HttpsThenHttp does not fall
    // back to plain HTTP (the server speaks TLS; only trust is missing).
    for scheme in [SchemePolicy::Https, SchemePolicy::HttpsThenHttp] {
        let err = scheme_client(&addr, scheme)
            .get_manifest("test/x", "latest")
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls, "{scheme:?}: {err}");
        assert!(err.to_string().contains("certificate"), "{err}");
    }

    // Trusted through an extra CA, and through tls_insecure.
    let trusted = RegistryClient::new(
        &addr,
        ClientOptions {
            scheme: SchemePolicy::HttpsThenHttp,
            ca_pems: vec![std::fs::read(&ca).unwrap()],
            ..ClientOptions::default()
        },
    )
    .unwrap();
    let image = &standard_set()[1];
    push_image(&trusted, image).unwrap();
    assert_eq!(trusted.base_url().unwrap(), format!("https://{addr}"));
    let insecure = reg.client().unwrap();
    let (bytes, _, _) = insecure.get_manifest(&image.name, &image.tag).unwrap();
    assert_eq!(bytes, image.top.1);
}
