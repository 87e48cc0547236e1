//! img-push to a registry requiring htpasswd Basic auth over TLS (its CA trusted through
//! img's certs.d), with the credentials of docker's config.json: skopeo and dockerd read
//! back what it pushed as the same image, and a wrong password (or none) gets the registry
//! layer's wording, the one every img tool gives, never docker's `denied:` line, which is
//! for a refusal of access.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use img_core::testing::{BasicTlsRegistry, Fixture, Run, TestDockerd, TestRegistry, stdout_of};

const ALPINE: &str = "test/alpine-like:latest";
const USER: &str = "alice";
const PASSWORD: &str = "Corr3ct-Horse-Battery";

/// The fixture (its store holding ALPINE) and a Basic-auth TLS registry beside it.
struct BasicTls {
    f: Fixture,
    tls: BasicTlsRegistry,
    /// A directory holding the CA as `ca.crt` (skopeo's `--cert-dir`).
    cert_dir: std::path::PathBuf,
}

impl BasicTls {
    fn start() -> BasicTls {
        let f = Fixture::new().expect("the test registry");
        f.pull(ALPINE).unwrap();
        let tls = BasicTlsRegistry::start("img-push test ca", &[(USER, PASSWORD)])
            .expect("starting a Basic-auth TLS registry");
        let ca = &tls.ca;
        // Trusted by img through $XDG_CONFIG_HOME/img/certs.d, by skopeo through --cert-dir.
        ca.write_certs_d(&f.dir().join("config/img/certs.d"), &tls.host())
            .unwrap();
        let cert_dir = f.dir().join("skopeo-certs");
        std::fs::create_dir_all(&cert_dir).unwrap();
        std::fs::write(cert_dir.join("ca.crt"), ca.cert_pem()).unwrap();
        BasicTls { f, tls, cert_dir }
    }

    /// Tags the store's ALPINE as `name` (`me/app:1`) on the TLS registry; its reference.
    fn tag(&self, name: &str) -> String {
        self.tag_from(ALPINE, name)
    }

    /// Tags the store's `from` (a name on the fixture's registry) as `name` on the TLS
    /// registry; its reference.
    fn tag_from(&self, from: &str, name: &str) -> String {
        let target = format!("{}/{name}", self.tls.host());
        self.f.tag(from, &target).unwrap();
        target
    }

    /// docker's config.json for img-push holding `password` for the registry.
    fn credentials(&self, password: &str) {
        let docker = self.f.dir().join("home/.docker");
        std::fs::create_dir_all(&docker).unwrap();
        std::fs::write(
            docker.join("config.json"),
            auths(&self.tls.registry, password),
        )
        .unwrap();
    }

    fn push(&self, target: &str) -> Run {
        self.f.run(env!("CARGO_BIN_EXE_img-push"), &[target], None)
    }
}

/// A config.json whose `auths` hold USER and `password` for `registry`.
fn auths(registry: &TestRegistry, password: &str) -> String {
    serde_json::json!({"auths": {registry.addr(): {
        "auth": BASE64.encode(format!("{USER}:{password}"))
    }}})
    .to_string()
}

#[test]
fn a_push_over_tls_with_htpasswd_uses_config_json_and_skopeo_reads_it_back() {
    let reg = BasicTls::start();
    let target = reg.tag("me/app:1");
    reg.credentials(PASSWORD);
    let rec = reg.push(&target).success().json();
    let pulled = reg.f.image(ALPINE).digest().to_string();
    assert_eq!(rec["Digest"], pulled, "{rec}");
    assert!(rec["Pushed"].as_u64().unwrap() > 0, "{rec}");
    let skopeo = |raw: bool| {
        let mut cmd = std::process::Command::new("skopeo");
        cmd.arg("inspect")
            .arg("--cert-dir")
            .arg(&reg.cert_dir)
            .args(["--creds", &format!("{USER}:{PASSWORD}")]);
        if raw {
            cmd.arg("--raw");
        }
        stdout_of(cmd.arg(format!("docker://{target}")))
    };
    // skopeo reads the store's manifest bytes, and the image they name.
    let store = reg.f.store().unwrap();
    let digest: img_core::Digest = pulled.parse().unwrap();
    assert_eq!(skopeo(true), store.read_blob(&digest).unwrap());
    let inspected: serde_json::Value = serde_json::from_slice(&skopeo(false)).unwrap();
    assert_eq!(inspected["Digest"], pulled, "{inspected}");
    assert_eq!(
        inspected["Layers"].as_array().unwrap().len(),
        reg.f.image(ALPINE).blobs.len() - 1,
        "{inspected}"
    );
}

/// Regression: a push starts with a HEAD of every layer at once; the first to be
/// challenged readied the credentials, and the others, sent without them a moment
/// before, took the same challenge for a refusal of those credentials ("authentication
/// required" with the right password in config.json).
#[test]
fn parallel_heads_to_a_basic_auth_registry_are_all_answered_with_the_credentials() {
    let reg = BasicTls::start();
    let image = img_core::testing::image_with_layers(12, 2 << 10, 5);
    img_core::testing::push_image(&reg.f.registry.client().unwrap(), &image).unwrap();
    reg.f.pull(&image.reference()).unwrap();
    reg.credentials(PASSWORD);
    for n in 0..3 {
        let target = reg.tag_from(&image.reference(), &format!("me/many:{n}"));
        let rec = reg
            .f
            .run(env!("CARGO_BIN_EXE_img-push"), &["-j", "12", &target], None)
            .success()
            .json();
        assert_eq!(rec["Digest"], image.digest().to_string(), "{rec}");
    }
}

/// Regression: img-push turned every 401 into docker's `denied: requested access to the
/// resource is denied`, so a wrong password read like a missing permission. The
/// registry layer's wording names the refused user, as img-pull's does, and never shows
/// the secret; without credentials it says to log in.
#[test]
fn a_wrong_password_on_push_says_the_credentials_were_refused_not_denied() {
    let reg = BasicTls::start();
    let target = reg.tag("me/app:2");
    let secret = "Wr0ng-Pa55word-zq";
    reg.credentials(secret);
    let r = reg.push(&target).failure(1, 1);
    assert!(
        r.stderr.contains(&format!(
            "the registry refused the credentials of \"{USER}\""
        )),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("denied"), "{}", r.stderr);
    assert!(r.stderr.contains(&target), "names the image: {}", r.stderr);
    let encoded = BASE64.encode(format!("{USER}:{secret}"));
    for shown in [&r.stdout, &r.stderr] {
        assert!(
            !shown.contains(secret) && !shown.contains(&encoded),
            "{shown}"
        );
    }
    // No credentials at all: log in first.
    std::fs::remove_file(reg.f.dir().join("home/.docker/config.json")).unwrap();
    let r = reg.push(&target).failure(1, 1);
    assert!(r.stderr.contains("log in first"), "{}", r.stderr);
    assert!(!r.stderr.contains("denied"), "{}", r.stderr);

    let client = reg.tls.registry.client_as(USER, PASSWORD).unwrap();
    assert!(client.head_manifest("me/app", "2").unwrap().is_none());
}

/// dockerd (root) pulls what img-push sent, with the same credentials in its client's
/// config.json, and gets the same image: its ID is the config digest img's store has, its
/// RepoDigest the digest img pushed.
#[test]
fn dockerd_pulls_what_img_pushed_over_tls_as_the_same_image() {
    let reg = BasicTls::start();
    let target = reg.tag("me/app:3");
    reg.credentials(PASSWORD);
    let rec = reg.push(&target).success().json();
    let daemon = TestDockerd::start().unwrap_or_else(|e| panic!("{e}"));
    // The daemon trusts loopback registries without verifying their certificate.
    std::fs::write(
        daemon.dir().join("cli/config.json"),
        auths(&reg.tls.registry, PASSWORD),
    )
    .unwrap();
    let out = stdout_of(daemon.docker().args(["pull", &target]));
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.contains(&format!("Digest: {}", rec["Digest"].as_str().unwrap())),
        "{out}"
    );
    let id = stdout_of(
        daemon
            .docker()
            .args(["image", "inspect", "-f", "{{.Id}}", &target]),
    );
    assert_eq!(
        String::from_utf8(id).unwrap().trim(),
        rec["Id"].as_str().unwrap()
    );
    let digests = stdout_of(daemon.docker().args([
        "image",
        "inspect",
        "-f",
        "{{json .RepoDigests}}",
        &target,
    ]));
    let digests: Vec<String> = serde_json::from_slice(&digests).unwrap();
    assert_eq!(
        digests,
        [format!(
            "{}/me/app@{}",
            reg.tls.registry.addr(),
            rec["Digest"].as_str().unwrap()
        )]
    );
}
