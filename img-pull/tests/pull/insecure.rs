//! Insecure registries: a registry serving TLS with a certificate nobody trusts is
//! refused by default and pulled when `insecure-registries` lists it or with
//! `--insecure`; a plain-HTTP registry on an address that is not loopback likewise (on
//! loopback, plain HTTP is allowed anyway, as docker does).

use std::net::{IpAddr, UdpSocket};

use img_core::testing::tls::TestCa;
use img_core::testing::{TestRegistry, push_image, standard_set};

use super::*;

/// A TLS registry with a certificate from a CA the sandboxes do not trust, holding the
/// small test image.
fn untrusted_tls_registry(files: &Path) -> TestRegistry {
    tls_registry(files, &TestCa::new("nobody trusts this ca").unwrap())
}

/// A TLS registry whose certificate `ca` signed, holding the small test image.
fn tls_registry(files: &Path, ca: &TestCa) -> TestRegistry {
    let leaf = ca.server_cert().unwrap();
    let (cert, key) = (files.join("leaf.crt"), files.join("leaf.key"));
    std::fs::write(&cert, &leaf.cert_pem).unwrap();
    std::fs::write(&key, &leaf.key_pem).unwrap();
    let registry = TestRegistry::builder()
        .tls(&cert, &key)
        .start()
        .expect("starting a TLS registry");
    push_image(&registry.client().unwrap(), &standard_set()[0]).unwrap();
    registry
}

/// Pulls `reference` in `s` with `extra` arguments; asserts it succeeded.
#[track_caller]
fn pulled(s: &Sandbox, reference: &str, extra: &[&str]) {
    let r = run(s.command().args(extra).arg(reference), None)
        .success()
        .record();
    assert_eq!(&r.digest, standard_set()[0].digest());
    verify_store(&s.root());
}

#[test]
fn an_untrusted_certificate_is_refused_unless_the_registry_is_insecure() {
    let files = tempfile::tempdir().unwrap();
    let registry = untrusted_tls_registry(files.path());
    let host = registry.addr();
    let reference = format!("{host}/{}", standard_set()[0].reference());

    let s = Sandbox::new();
    let run_ = run(s.command().arg(&reference), None).failure(1, 1);
    assert!(run_.stderr.contains(&reference), "{}", run_.stderr);
    assert!(run_.stderr.contains("not trusted"), "{}", run_.stderr);
    assert!(!run_.stderr.contains("http://"), "{}", run_.stderr);

    // Listed as insecure (in docker's three spellings), or --insecure: pulled.
    for listed in [host.clone(), format!("https://{host}"), format!("{host}/")] {
        let s = Sandbox::new();
        s.config_json(&serde_json::json!({ "insecure-registries": [listed] }));
        pulled(&s, &reference, &[]);
    }
    let s = Sandbox::new();
    pulled(&s, &reference, &["--insecure"]);

    // Another registry listed as insecure changes nothing for this one.
    let s = Sandbox::new();
    s.config_json(&serde_json::json!({ "insecure-registries": ["127.0.0.1:1"] }));
    run(s.command().arg(&reference), None).failure(1, 1);
}

/// Docker trusts the system's CA pool, not only certs.d: a CA installed system-wide
/// (here through `SSL_CERT_FILE`, which Go and so docker honour too) is trusted.
#[test]
fn the_system_ca_pool_is_trusted() {
    let files = tempfile::tempdir().unwrap();
    let ca = TestCa::new("a company ca").unwrap();
    let registry = tls_registry(files.path(), &ca);
    let reference = format!("{}/{}", registry.addr(), standard_set()[0].reference());
    let bundle = files.path().join("system-bundle.crt");
    std::fs::write(&bundle, ca.cert_pem()).unwrap();

    let s = Sandbox::new();
    let refused = run(s.command().arg(&reference), None).failure(1, 1);
    assert!(refused.stderr.contains("not trusted"), "{}", refused.stderr);
    let r = run(
        s.command().env("SSL_CERT_FILE", &bundle).arg(&reference),
        None,
    )
    .success()
    .record();
    assert_eq!(&r.digest, standard_set()[0].digest());
    verify_store(&s.root());
}

/// This machine's address on its default route, if it has one that is not loopback (a
/// UDP "connect" only picks the route; nothing is sent).
fn non_loopback_ip() -> Option<IpAddr> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("198.51.100.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// On a machine without a non-loopback address (a container without a network) there is
/// nothing that is not loopback to listen on: the test says so on stderr and checks
/// nothing.
#[test]
fn plain_http_off_loopback_needs_the_registry_listed_as_insecure() {
    let Some(ip) = non_loopback_ip() else {
        eprintln!("skipped: this machine has no non-loopback address to serve plain HTTP on");
        return;
    };
    let registry = TestRegistry::builder()
        .listen(ip)
        .start()
        .expect("starting a registry on a non-loopback address");
    push_image(&registry.client().unwrap(), &standard_set()[0]).unwrap();
    let host = registry.addr();
    let reference = format!("{host}/{}", standard_set()[0].reference());

    // HTTPS only: the registry's plain-HTTP answer is not TLS, and says what to do.
    let s = Sandbox::new();
    let r = run(s.command().arg(&reference), None).failure(1, 1);
    assert!(r.stderr.contains("list it as insecure"), "{}", r.stderr);

    let s = Sandbox::new();
    s.config_json(&serde_json::json!({ "insecure-registries": [host] }));
    pulled(&s, &reference, &[]);
    let s = Sandbox::new();
    pulled(&s, &reference, &["--insecure"]);
}

/// A name other than `localhost` that resolves to loopback addresses only: this
/// machine's own name, as Debian's `/etc/hosts` usually maps it.
fn loopback_name() -> Option<String> {
    use std::net::ToSocketAddrs;
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim().to_owned();
    let addrs: Vec<_> = (name.as_str(), 0).to_socket_addrs().ok()?.collect();
    (name != "localhost" && !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()))
        .then_some(name)
}

/// DESIGN.md: loopback is 127.0.0.0/8, ::1 "and names resolving to them", where HTTPS is
/// tried first and then plain HTTP, as docker does. Where this machine's name does not
/// resolve to loopback the test says so on stderr and checks nothing.
#[test]
fn a_name_resolving_to_loopback_gets_plain_http_like_localhost() {
    let Some(name) = loopback_name() else {
        eprintln!("skipped: this machine's name does not resolve to loopback only");
        return;
    };
    let registry = TestRegistry::start().expect("starting docker-registry");
    push_image(&registry.client().unwrap(), &standard_set()[0]).unwrap();
    let reference = format!(
        "{name}:{}/{}",
        registry.port(),
        standard_set()[0].reference()
    );
    let s = Sandbox::new();
    pulled(&s, &reference, &[]);
}
