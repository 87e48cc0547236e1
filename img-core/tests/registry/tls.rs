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

/// A front for the TLS registry at `upstream` on a port of its own: a connection that
/// opens with a TLS handshake is relayed to the registry; any other (plain HTTP) is held
/// open and never answered, as a TLS server that waits for a handshake that never comes.
fn stalling_plain_http(upstream: &str) -> String {
    use std::net::{Shutdown, TcpStream};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let upstream = upstream.to_owned();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(client) = conn else { continue };
            let upstream = upstream.clone();
            std::thread::spawn(move || {
                let mut first = [0u8; 1];
                if client.peek(&mut first).unwrap_or(0) == 0 {
                    return;
                }
                if first[0] != 0x16 {
                    // Read and drop what it sends until it gives up; answer nothing.
                    let _ = std::io::copy(&mut &client, &mut std::io::sink());
                    return;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    return;
                };
                let (mut c, mut s) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let back = std::thread::spawn(move || {
                    let _ = std::io::copy(&mut s, &mut c);
                    let _ = c.shutdown(Shutdown::Write);
                });
                let _ = std::io::copy(&mut &client, &mut &server);
                let _ = server.shutdown(Shutdown::Write);
                let _ = back.join();
            });
        }
    });
    addr
}

/// Regression (issue 17): the parallel scheme probe of a loopback registry waited for
/// its plain-HTTP half even when HTTPS had answered, so a TLS server that holds plain
/// connections silently delayed every first request by the whole stall timeout.
#[test]
fn https_is_chosen_as_soon_as_it_answers_though_plain_http_stalls() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = tls_files(dir.path());
    let reg = TestRegistry::builder()
        .tls(&cert, &key)
        .start()
        .expect("starting a TLS registry");
    let image = &standard_set()[1];
    push_image(&reg.client().unwrap(), image).unwrap();
    let front = stalling_plain_http(&reg.addr());

    let stall = std::time::Duration::from_secs(10);
    let client = RegistryClient::new(
        &front,
        ClientOptions {
            scheme: SchemePolicy::HttpsThenHttp,
            ca_pems: vec![std::fs::read(&ca).unwrap()],
            stall_timeout: stall,
            connect_timeout: stall,
            stall_budget: stall * 4,
            ..ClientOptions::default()
        },
    )
    .unwrap();
    let start = std::time::Instant::now();
    let (bytes, _, _) = client.get_manifest(&image.name, &image.tag).unwrap();
    let took = start.elapsed();
    assert_eq!(bytes, image.top.1);
    assert_eq!(client.base_url().unwrap(), format!("https://{front}"));
    assert!(
        took < stall / 2,
        "the pull waited {took:?} for the stalled plain-HTTP probe"
    );
}
