//! htpasswd Basic auth (bcrypt entries) over TLS, trusted through a CA in certs.d:
//! credentials from `$DOCKER_CONFIG/config.json` `auths`, from `REGISTRY_AUTH_FILE`, and
//! from a `credHelpers` helper on PATH; wrong passwords, missing credentials and an
//! untrusted certificate each fail with one clear line that never shows the secret.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use img_core::testing::{BasicTlsRegistry, TestImage, push_image, standard_set};

use super::*;

const USER: &str = "alice";
const PASSWORD: &str = "Corr3ct-Horse-Battery";

/// A registry requiring Basic auth over TLS, its CA (PEM), and the image pushed to it.
struct BasicTls {
    registry: BasicTlsRegistry,
    ca_pem: String,
    image: TestImage,
}

impl BasicTls {
    fn start() -> BasicTls {
        let registry = BasicTlsRegistry::start(
            "img-pull test ca",
            &[(USER, PASSWORD), ("bob", "other-secret")],
        )
        .expect("starting a Basic-auth TLS registry");
        let image = standard_set().remove(0);
        let pusher = registry.registry.client_as(USER, PASSWORD).unwrap();
        push_image(&pusher, &image).unwrap();
        BasicTls {
            ca_pem: registry.ca.cert_pem(),
            registry,
            image,
        }
    }

    fn reference(&self) -> String {
        format!("{}/{}", self.registry.host(), self.image.reference())
    }

    /// A sandbox that trusts the registry's CA.
    fn sandbox(&self) -> Sandbox {
        let s = Sandbox::new();
        s.trust(&self.registry.host(), &self.ca_pem);
        s
    }
}

fn auths(host: &str, user: &str, password: &str) -> serde_json::Value {
    serde_json::json!({
        "auths": { host: { "auth": BASE64.encode(format!("{user}:{password}")) } }
    })
}

/// Pulls `reg`'s image in `sandbox` and checks the record and the store.
#[track_caller]
fn pulls(reg: &BasicTls, sandbox: &Sandbox, cmd: &mut Command) {
    let r = run(cmd.arg(reg.reference()), None).success().record();
    assert_eq!(&r.digest, reg.image.digest());
    assert!(
        sandbox
            .store()
            .index()
            .image_by_tag(
                &format!("{}/{}", reg.registry.host(), reg.image.name),
                "latest"
            )
            .unwrap()
            .is_some()
    );
    verify_store(&sandbox.root());
}

#[test]
fn credentials_from_docker_config_auth_file_and_credential_helper() {
    let reg = BasicTls::start();
    let host = reg.registry.host();

    // `auths` in $DOCKER_CONFIG/config.json, base64 of user:password.
    let s = reg.sandbox();
    s.docker_config_json(&auths(&host, USER, PASSWORD));
    pulls(&reg, &s, &mut s.command());

    // REGISTRY_AUTH_FILE wins over a docker config whose password is wrong.
    let s = reg.sandbox();
    s.docker_config_json(&auths(&host, USER, "wrong"));
    let file = s.path().join("auth.json");
    std::fs::write(&file, auths(&host, USER, PASSWORD).to_string()).unwrap();
    pulls(&reg, &s, s.command().env("REGISTRY_AUTH_FILE", &file));

    // A credHelpers entry runs docker-credential-test from PATH with the registry on stdin.
    let s = reg.sandbox();
    s.docker_config_json(&serde_json::json!({ "credHelpers": { &host: "test" } }));
    let log = s.path().join("helper.log");
    let helper = s.bin_dir().join("docker-credential-test");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nread -r server\necho \"$1 $server\" >> '{}'\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}' \"$server\"\n",
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    pulls(&reg, &s, &mut s.command());
    let asked = std::fs::read_to_string(&log).unwrap();
    assert_eq!(asked.lines().next(), Some(format!("get {host}").as_str()));
}

/// Asserts a failed run said one line naming the image and never showed `secret`.
#[track_caller]
fn one_clear_line(run: Run, reference: &str, secret: &str) -> String {
    let run = run.failure(1, 1);
    assert!(run.stdout.is_empty(), "{run:#?}");
    assert!(
        run.stderr.contains(reference),
        "names the image: {}",
        run.stderr
    );
    let encoded = BASE64.encode(format!("{USER}:{secret}"));
    for shown in [&run.stdout, &run.stderr] {
        assert!(!shown.contains(secret), "the secret leaked: {shown}");
        assert!(!shown.contains(&encoded), "the secret leaked: {shown}");
    }
    run.stderr
}

/// Regression: a wrong password used to end in the registry's bare "authentication
/// required", which reads like missing credentials and says nothing of what to fix.
#[test]
fn wrong_password_names_the_refused_credentials_and_missing_ones_say_log_in() {
    let reg = BasicTls::start();
    let host = reg.registry.host();
    let reference = reg.reference();

    let secret = "Wr0ng-Pa55word-zq";
    let s = reg.sandbox();
    s.docker_config_json(&auths(&host, USER, secret));
    let err = one_clear_line(run(s.command().arg(&reference), None), &reference, secret);
    assert!(err.contains(USER), "names the user: {err}");
    assert!(err.contains("refused the credentials"), "{err}");
    assert!(
        s.store().index().blobs().unwrap().is_empty(),
        "nothing stored"
    );

    // No credentials at all: says to log in.
    let s = reg.sandbox();
    let err = one_clear_line(run(s.command().arg(&reference), None), &reference, PASSWORD);
    assert!(err.contains("log in first"), "{err}");
}

#[test]
fn untrusted_certificate_is_one_tls_line_without_a_plain_http_retry() {
    let reg = BasicTls::start();
    let host = reg.registry.host();
    let reference = reg.reference();

    // The right password but no CA: a TLS error, and no quiet retry over plain HTTP.
    let s = Sandbox::new();
    s.docker_config_json(&auths(&host, USER, PASSWORD));
    let err = one_clear_line(run(s.command().arg(&reference), None), &reference, PASSWORD);
    assert!(err.contains("certificate"), "{err}");
    assert!(!err.contains("http://"), "fell back to plain HTTP: {err}");
    verify_store(&s.root());
}
