//! Mutual TLS: a registry requiring client certificates (distribution's
//! `http.tls.clientcas`), trusted through `ca.crt` in `$XDG_CONFIG_HOME/img/certs.d`, with
//! the client's `client.cert` + `client.key` beside it. Without a certificate, or with one
//! from a CA the registry does not know, the pull fails with one TLS line; with one it is
//! pulled, whatever the key's PEM form (PKCS#8, SEC1 `EC PRIVATE KEY`, PKCS#1
//! `RSA PRIVATE KEY` — the last two made with Debian's `openssl`).

use std::process::Command;

use img_core::registry::{ClientCertPem, ClientOptions, RegistryClient, SchemePolicy};
use img_core::testing::tls::{CertPair, TestCa};
use img_core::testing::{TestImage, TestRegistry, push_image, standard_set};

use super::*;

/// A registry whose server certificate comes from `server_ca` and which wants client
/// certificates from `client_ca`, holding the small test image.
struct MutualTls {
    registry: TestRegistry,
    server_ca: TestCa,
    client_ca: TestCa,
    image: TestImage,
    files: tempfile::TempDir,
}

impl MutualTls {
    fn start() -> MutualTls {
        let files = tempfile::tempdir().unwrap();
        let server_ca = TestCa::new("img-pull mtls server ca").unwrap();
        let client_ca = TestCa::new("img-pull mtls client ca").unwrap();
        let leaf = server_ca.server_cert().unwrap();
        let p = |n: &str| files.path().join(n);
        std::fs::write(p("leaf.crt"), &leaf.cert_pem).unwrap();
        std::fs::write(p("leaf.key"), &leaf.key_pem).unwrap();
        std::fs::write(p("clients.crt"), client_ca.cert_pem()).unwrap();
        let registry = TestRegistry::builder()
            .tls(p("leaf.crt"), p("leaf.key"))
            .client_ca(p("clients.crt"))
            .start()
            .expect("starting a registry requiring client certificates");
        let pusher_cert = client_ca.client_cert("pusher").unwrap();
        let pusher = RegistryClient::new(
            &registry.addr(),
            ClientOptions {
                scheme: SchemePolicy::Https,
                ca_pems: vec![server_ca.cert_pem().into_bytes()],
                client_cert: Some(ClientCertPem {
                    cert_pem: pusher_cert.cert_pem.into_bytes(),
                    key_pem: pusher_cert.key_pem.into_bytes(),
                }),
                ..ClientOptions::default()
            },
        )
        .unwrap();
        let image = standard_set().remove(0);
        push_image(&pusher, &image).unwrap();
        MutualTls {
            registry,
            server_ca,
            client_ca,
            image,
            files,
        }
    }

    fn reference(&self) -> String {
        format!("{}/{}", self.registry.addr(), self.image.reference())
    }

    /// A sandbox trusting the server's CA, with `client` (if any) beside it in certs.d.
    fn sandbox(&self, client: Option<&CertPair>) -> Sandbox {
        let s = Sandbox::new();
        let host = self.registry.addr();
        s.trust(&host, &self.server_ca.cert_pem());
        if let Some(c) = client {
            let dir = s.path().join("config/img/certs.d").join(&host);
            std::fs::write(dir.join("client.cert"), &c.cert_pem).unwrap();
            std::fs::write(dir.join("client.key"), &c.key_pem).unwrap();
        }
        s
    }

    #[track_caller]
    fn pulls_with(&self, client: &CertPair, what: &str) {
        let s = self.sandbox(Some(client));
        let r = run(s.command().arg(self.reference()), None);
        assert_eq!(r.code, 0, "with a {what} key: {r:#?}");
        let r = r.success().record();
        assert_eq!(&r.digest, self.image.digest(), "{what}");
        verify_store(&s.root());
    }
}

/// Asserts one TLS line naming the image and not falling back to plain HTTP; returns it.
#[track_caller]
fn tls_failure(m: &MutualTls, s: &Sandbox) -> String {
    let r = run(s.command().arg(m.reference()), None).failure(1, 1);
    assert!(r.stderr.contains(&m.reference()), "{}", r.stderr);
    assert!(r.stderr.contains("tls"), "{}", r.stderr);
    assert!(!r.stderr.contains("http://"), "{}", r.stderr);
    assert!(
        s.store().index().blobs().unwrap().is_empty(),
        "nothing stored"
    );
    r.stderr
}

#[test]
fn a_client_certificate_in_certs_d_is_presented_and_required() {
    let m = MutualTls::start();

    let err = tls_failure(&m, &m.sandbox(None));
    assert!(
        err.contains("client certificate"),
        "says what is missing: {err}"
    );

    // A certificate the registry's client CA did not sign.
    let stranger = TestCa::new("a stranger").unwrap();
    let err = tls_failure(&m, &m.sandbox(Some(&stranger.client_cert("eve").unwrap())));
    assert!(err.contains("client certificate"), "{err}");

    m.pulls_with(&m.client_ca.client_cert("carol").unwrap(), "PKCS#8");
}

/// `openssl` with `args`, in `dir`; its stdout.
fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running openssl (apt-get install openssl)");
    assert!(out.status.success(), "openssl {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The same key in OpenSSL's "traditional" form: SEC1 for EC, PKCS#1 for RSA.
fn traditional(dir: &Path, pkcs8_pem: &str) -> String {
    let path = dir.join("pkcs8.pem");
    std::fs::write(&path, pkcs8_pem).unwrap();
    openssl(dir, &["pkey", "-in", "pkcs8.pem", "-traditional"])
}

#[test]
fn client_keys_in_sec1_and_pkcs1_form_work_too() {
    let m = MutualTls::start();
    let dir = m.files.path();

    let mut ec = m.client_ca.client_cert("sec1").unwrap();
    ec.key_pem = traditional(dir, &ec.key_pem);
    assert!(ec.key_pem.starts_with("-----BEGIN EC PRIVATE KEY-----"));
    m.pulls_with(&ec, "SEC1 EC");

    let rsa_pkcs8 = openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ],
    );
    let mut rsa = m.client_ca.client_cert_for_key("rsa", &rsa_pkcs8).unwrap();
    m.pulls_with(&rsa, "PKCS#8 RSA");
    rsa.key_pem = traditional(dir, &rsa.key_pem);
    assert!(rsa.key_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    m.pulls_with(&rsa, "PKCS#1 RSA");
}
