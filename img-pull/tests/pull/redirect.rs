//! A redirect to another host carries no Authorization: a Basic-auth registry whose
//! front answers blob GETs with a 307 to `localhost:PORT2` — another host name than
//! `127.0.0.1`, as blob storage is — where a plain registry holding the same blobs serves
//! them. The credentials go to the registry and never to the blob host.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use img_core::testing::fault_proxy::{Fault, FaultProxy};
use img_core::testing::{TestRegistry, push_image, standard_set};

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

    let s = Sandbox::new();
    s.docker_config_json(&serde_json::json!({
        "auths": { front.addr(): { "auth": BASE64.encode("dave:Redir3ct-Secret") } }
    }));
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
