//! The client against a TLS registry: trust through extra CAs or `tls_insecure`, and no
//! fallback to plain HTTP when the certificate is untrusted.

use std::process::Command;

use img_core::ErrorKind;
use img_core::registry::{ClientOptions, RegistryClient, SchemePolicy};
use img_core::testing::{TestRegistry, push_image, standard_set};

/// A CA and a certificate for 127.0.0.1 signed by it, made with the openssl tool.
fn tls_files(
    dir: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| panic!("openssl is not installed: apt-get install openssl ({e})"));
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend_from_slice(&ec);
    ca.extend_from_slice(&[
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=img-test-ca",
    ]);
    run(&ca);
    let mut csr = vec!["req"];
    csr.extend_from_slice(&ec);
    csr.extend_from_slice(&[
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    run(&csr);
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.crt",
        "-days",
        "2",
        "-extfile",
        "ext",
    ]);
    (
        dir.join("ca.crt"),
        dir.join("leaf.crt"),
        dir.join("leaf.key"),
    )
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
        let client = RegistryClient::new(
            &addr,
            ClientOptions {
                scheme,
                ..ClientOptions::default()
            },
        )
        .unwrap();
        let err = client.get_manifest("test/x", "latest").unwrap_err();
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
