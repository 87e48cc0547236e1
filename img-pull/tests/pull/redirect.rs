//! Redirects and credentials: Authorization goes only to the exact origin (scheme, host
//! and port) it belongs to. A redirect to another host (`localhost:PORT2`, as blob
//! storage is) or to another port of the same host (issue 9, failure 3) carries neither
//! the Basic credentials nor the bearer token, and the pull succeeds when the other side
//! serves the blob, or fails saying why when it wants credentials; a token realm's own
//! redirect does not carry the credentials sent to the realm; a redirect to the
//! registry's own origin keeps them. Real registries throughout, behind recording proxies.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use img_core::testing::fault_proxy::{Fault, FaultProxy};
use img_core::testing::{TestImage, TestRegistry, push_image, standard_set};

use super::*;

#[test]
fn a_redirect_to_another_host_carries_no_authorization() {
    let image = standard_set().remove(0);
    let (origin, _files) = basic_auth_registry("dave", "Redir3ct-Secret", &image);

    // The blob host: an open registry with the same blobs, seen through a recording proxy.
    let storage = TestRegistry::start().unwrap();
    push_image(&storage.client().unwrap(), &image).unwrap();
    let blob_host = FaultProxy::start(&storage.addr(), |_, _, _| Fault::Pass).unwrap();
    let port = blob_host.addr().rsplit(':').next().unwrap().to_owned();
    let to = format!("http://localhost:{port}");
    let front = FaultProxy::start(&origin.addr(), move |method, path, _| {
        if method == "GET" && path.contains("/blobs/") {
            Fault::RedirectTo(to.clone())
        } else {
            Fault::Pass
        }
    })
    .unwrap();

    let s = logged_in(front.addr(), "dave", "Redir3ct-Secret");
    let r = run(
        s.command()
            .arg(format!("{}/{}", front.addr(), image.reference())),
        None,
    )
    .success()
    .record();
    assert_eq!(&r.digest, image.digest());
    verify_store(&s.root());

    let (_, _, m) = manifest_of(&image, None);
    let redirected = front
        .seen()
        .iter()
        .filter(|s| matches!(s.fault, Fault::RedirectTo(_)))
        .count();
    assert_eq!(redirected, 1 + m.layers.len(), "every blob was redirected");
    assert!(
        front
            .seen()
            .iter()
            .any(|s| s.header("authorization").is_some()),
        "the registry itself got the credentials"
    );
    let served = blob_host.seen();
    assert_eq!(served.len(), 1 + m.layers.len(), "{served:#?}");
    for req in &served {
        assert!(req.path.contains("/blobs/"), "{req:?}");
        assert_eq!(
            req.header("authorization"),
            None,
            "credentials followed the redirect to localhost: {req:?}"
        );
    }
}

/// The other-port half of a redirect: a recording proxy on `127.0.0.1:PORT2`, in front
/// of `upstream` (a registry that serves the blobs, or one that wants credentials).
fn other_port(upstream: &str) -> FaultProxy {
    FaultProxy::start(upstream, |_, _, _| Fault::Pass).unwrap()
}

/// A front for `registry` that answers every blob GET with a 307 to `to`'s port of the
/// same host, 127.0.0.1.
fn redirect_blobs(registry: &str, to: &FaultProxy) -> FaultProxy {
    let to = format!("http://{}", to.addr());
    assert!(to.starts_with("http://127.0.0.1:"), "{to}");
    FaultProxy::start(registry, move |method, path, _| {
        if method == "GET" && path.contains("/blobs/") {
            Fault::RedirectTo(to.clone())
        } else {
            Fault::Pass
        }
    })
    .unwrap()
}

/// A sandbox whose docker config holds Basic credentials for `host`.
fn logged_in(host: &str, user: &str, password: &str) -> Sandbox {
    let s = Sandbox::new();
    s.docker_config_json(&serde_json::json!({
        "auths": { host: { "auth": BASE64.encode(format!("{user}:{password}")) } }
    }));
    s
}

/// Pulls `image` through `front`, whose blob GETs are redirected to `other`: the image
/// arrives whole, and `other` served every blob without an Authorization. The run, and
/// the Authorization `front` itself got.
fn pull_redirected(
    s: &Sandbox,
    front: &FaultProxy,
    other: &FaultProxy,
    image: &TestImage,
) -> (Run, String) {
    let (_, _, m) = manifest_of(image, None);
    let reference = format!("{}/{}", front.addr(), image.reference());
    let ok = run(s.command().arg(&reference), None).success();
    assert_eq!(&ok.record().digest, image.digest());
    verify_store(&s.root());
    assert_no_authorization(other, 1 + m.layers.len());
    let authorization = front
        .seen()
        .iter()
        .find_map(|r| r.header("authorization").map(str::to_owned))
        .expect("the registry itself got an Authorization");
    (ok, authorization)
}

fn assert_no_authorization(proxy: &FaultProxy, blobs: usize) {
    let served = proxy.seen();
    assert_eq!(served.len(), blobs, "{served:#?}");
    for req in &served {
        assert_eq!(
            req.header("authorization"),
            None,
            "credentials followed the redirect to another port: {req:?}"
        );
    }
}

fn assert_secret_absent(run: &Run, secrets: &[&str]) {
    for s in secrets {
        assert!(
            !run.stdout.contains(s),
            "a secret in stdout: {}",
            run.stdout
        );
        assert!(
            !run.stderr.contains(s),
            "a secret in stderr: {}",
            run.stderr
        );
    }
}

/// Regression (issue 9, failure 3): a blob GET answered with a 307 to another port of
/// 127.0.0.1 received the Basic credentials, since ureq's same-host rule ignores ports.
#[test]
fn credentials_never_follow_a_redirect_to_another_port() {
    const PASSWORD: &str = "Port-Hop-Secret-9";
    let image = standard_set().remove(0);
    let (origin, _files) = basic_auth_registry("erin", PASSWORD, &image);
    let storage = TestRegistry::start().unwrap();
    push_image(&storage.client().unwrap(), &image).unwrap();

    // The other port serves the blobs: the pull succeeds, and no credentials got there.
    let other = other_port(&storage.addr());
    let front = redirect_blobs(&origin.addr(), &other);
    let s = logged_in(front.addr(), "erin", PASSWORD);
    let (ok, basic) = pull_redirected(&s, &front, &other, &image);
    assert!(basic.starts_with("Basic "), "{basic}");
    assert_secret_absent(&ok, &[PASSWORD, basic.trim_start_matches("Basic ")]);

    // The other port is the registry itself, which wants credentials: a clear error.
    let other = other_port(&origin.addr());
    let front = redirect_blobs(&origin.addr(), &other);
    let s = logged_in(front.addr(), "erin", PASSWORD);
    let reference = format!("{}/{}", front.addr(), image.reference());
    let failed = run(s.command().arg(&reference), None).failure(1, 1);
    let expected = format!(
        "redirected to {}, which asks for credentials: img sends them only to {} itself",
        other.addr(),
        front.addr()
    );
    assert!(failed.stderr.contains(&expected), "{}", failed.stderr);
    assert!(failed.stderr.contains(&reference), "{}", failed.stderr);
    assert_secret_absent(&failed, &[PASSWORD, basic.trim_start_matches("Basic ")]);
    for req in other.seen() {
        assert_eq!(req.header("authorization"), None, "{req:?}");
    }
    assert!(!other.seen().is_empty(), "the redirect was followed");
}

/// Regression (issue 9, failure 3), token case: the bearer token went along the 307 to
/// another port too. It belongs to the registry's origin alone.
#[test]
fn tokens_never_follow_a_redirect_to_another_port() {
    use super::token::{PASSWORD, TokenSetup, USER};
    use img_core::testing::token_server::TokenServerOptions;

    let image = standard_set().remove(0);
    let setup = TokenSetup::start(TokenServerOptions::default(), std::slice::from_ref(&image));
    let storage = TestRegistry::start().unwrap();
    push_image(&storage.client().unwrap(), &image).unwrap();
    let other = other_port(&storage.addr());
    let front = redirect_blobs(&setup.registry.addr(), &other);
    let pushes = setup.server.requests().len();
    let s = TokenSetup::credentialed(front.addr());
    let (ok, bearer) = pull_redirected(&s, &front, &other, &image);
    let token = bearer.strip_prefix("Bearer ").expect("a bearer token");
    // The token realm is another origin than the registry, and still gets the
    // registry's credentials, as docker sends them: the registry named it.
    let asked = &setup.server.requests()[pushes..];
    assert!(
        !asked.is_empty() && asked.iter().all(|t| t.user.as_deref() == Some(USER)),
        "{asked:?}"
    );
    assert_secret_absent(&ok, &[PASSWORD, token]);
}

/// A token setup whose registry names as its realm a fault proxy in front of the token
/// server (`127.0.0.1:PORT`, given to `plan`, which makes that proxy's plan). The images
/// are pushed with tokens asked through the proxy: a plan that should fault only the
/// pull tells the push's requests apart (their scope holds `push`), or starts later.
pub(super) fn token_setup_behind_proxy<P>(
    options: img_core::testing::token_server::TokenServerOptions,
    images: &[TestImage],
    plan: impl FnOnce(&str) -> P,
) -> (super::token::TokenSetup, FaultProxy)
where
    P: Fn(&str, &str, usize) -> Fault + Send + Sync + 'static,
{
    let mut front = None;
    let setup = super::token::TokenSetup::start_with_realm(options, images, |server| {
        let addr = server.host().to_owned();
        let proxy = FaultProxy::start(&addr, plan(&addr)).unwrap();
        let realm = format!("http://{}/token", proxy.addr());
        front = Some(proxy);
        realm
    });
    (setup, front.expect("the registry was given its realm"))
}

/// A registry whose token realm is a front that redirects every pull-token request to
/// a recording proxy on another port, in front of the same token server; the image is
/// pushed before the redirects start.
struct RealmRedirect {
    setup: super::token::TokenSetup,
    realm_front: FaultProxy,
    other: FaultProxy,
    image: TestImage,
}

fn realm_redirect(anonymous_pull: bool) -> RealmRedirect {
    use img_core::testing::token_server::TokenServerOptions;

    let image = standard_set().remove(0);
    let mut other = None;
    let (setup, realm_front) = token_setup_behind_proxy(
        TokenServerOptions {
            anonymous_pull,
            ..TokenServerOptions::default()
        },
        std::slice::from_ref(&image),
        |token_server| {
            let proxy = other_port(token_server);
            let to = format!("http://{}", proxy.addr());
            other = Some(proxy);
            // The push's tokens (pull,push) go straight through.
            move |_: &str, path: &str, _: usize| {
                if path.contains("scope=repository") && !path.contains("push") {
                    Fault::RedirectTo(to.clone())
                } else {
                    Fault::Pass
                }
            }
        },
    );
    let other = other.expect("the plan was made");
    RealmRedirect {
        setup,
        realm_front,
        other,
        image,
    }
}

/// A token realm that redirects to another port: the credentials stay with the realm
/// the registry named. The other port serves an anonymous token when it may; when it
/// wants credentials, the error says why none went there.
#[test]
fn credentials_for_the_token_realm_never_follow_its_redirect_to_another_port() {
    use super::token::{PASSWORD, TokenSetup};

    for anonymous_pull in [true, false] {
        let r = realm_redirect(anonymous_pull);
        let s = TokenSetup::credentialed(&r.setup.registry.addr());
        let reference = format!("{}/{}", r.setup.registry.addr(), r.image.reference());
        let pulled = run(s.command().arg(&reference), None);
        if anonymous_pull {
            assert_eq!(pulled.code, 0, "{pulled:#?}");
            assert_eq!(&pulled.record().digest, r.image.digest());
        } else {
            assert_eq!(pulled.code, 1, "{pulled:#?}");
            assert_eq!(pulled.stderr.lines().count(), 1, "{}", pulled.stderr);
            let expected = format!(
                "{} redirected to {}, which asks for credentials: img sends them only to {} itself",
                r.realm_front.addr(),
                r.other.addr(),
                r.realm_front.addr()
            );
            assert!(pulled.stderr.contains(&expected), "{}", pulled.stderr);
        }
        assert!(
            r.realm_front
                .seen()
                .iter()
                .any(|q| matches!(q.fault, Fault::RedirectTo(_))
                    && q.header("authorization").is_some()),
            "the realm itself got the credentials: {:#?}",
            r.realm_front.seen()
        );
        assert!(!r.other.seen().is_empty(), "the redirect was followed");
        for req in r.other.seen() {
            assert_eq!(req.header("authorization"), None, "{req:?}");
        }
        assert_secret_absent(&pulled, &[PASSWORD]);
    }
}

/// A redirect to the registry's own origin (same scheme, host and port) keeps the
/// credentials: the rule is the exact origin, not "never".
#[test]
fn credentials_follow_a_redirect_to_the_same_origin() {
    use std::collections::HashSet;
    use std::sync::{Arc, Mutex};

    let image = standard_set().remove(0);
    let (_, _, m) = manifest_of(&image, None);
    let (origin, _files) = basic_auth_registry("fay", "Same-Origin-7", &image);
    let myself = Arc::new(Mutex::new(String::new()));
    let redirected = Mutex::new(HashSet::new());
    let front = {
        let myself = myself.clone();
        FaultProxy::start(&origin.addr(), move |method, path, _| {
            // Each blob's first GET is sent back to this very proxy once.
            if method == "GET"
                && path.contains("/blobs/")
                && redirected.lock().unwrap().insert(path.to_owned())
            {
                Fault::RedirectTo(format!("http://{}", myself.lock().unwrap()))
            } else {
                Fault::Pass
            }
        })
        .unwrap()
    };
    *myself.lock().unwrap() = front.addr().to_owned();
    let s = logged_in(front.addr(), "fay", "Same-Origin-7");
    let reference = format!("{}/{}", front.addr(), image.reference());
    let r = run(s.command().arg(&reference), None).success().record();
    assert_eq!(&r.digest, image.digest());
    verify_store(&s.root());
    let followed: Vec<_> = front
        .seen()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.contains("/blobs/") && r.fault == Fault::Pass)
        .collect();
    assert_eq!(followed.len(), 1 + m.layers.len(), "{followed:#?}");
    for req in &followed {
        assert!(req.header("authorization").is_some(), "{req:?}");
    }
}
