//! img-search against a registry with htpasswd Basic auth over TLS: a wrong password
//! says what img-pull says (the registry layer's wording), for the catalog, `HOST/TERM`
//! and `--tags` alike, and never shows the secret.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use img_core::testing::{BasicTlsRegistry, push_image, standard_set};

use super::Sandbox;

const USER: &str = "alice";
const PASSWORD: &str = "Corr3ct-Horse-Battery";

/// Regression (issue 14, bug 7): img-search with a wrong password said only
/// "authentication required" where img-pull names the refused user.
#[test]
fn search_with_a_wrong_password_names_the_refused_credentials_as_pull_does() {
    let reg = BasicTlsRegistry::start("img-search test ca", &[(USER, PASSWORD)])
        .expect("starting a Basic-auth TLS registry");
    let (ca, host) = (&reg.ca, reg.host());
    let image = standard_set().remove(0);
    push_image(&reg.registry.client_as(USER, PASSWORD).unwrap(), &image).unwrap();

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
