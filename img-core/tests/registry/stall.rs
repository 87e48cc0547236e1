//! The client's stall limits, set through [`ClientOptions`] (what `IMG_STALL_TIMEOUT`
//! and `IMG_STALL_BUDGET` set for the tools): a registry that stops answering fails a
//! request within the budget, naming the host, and every later request to it fails at
//! once; a slow but moving blob is read to the end.

use std::io::Read;
use std::time::{Duration, Instant};

use img_core::ErrorKind;
use img_core::registry::ClientOptions;
use img_core::testing::fault_proxy::{Fault, FaultProxy};
use img_core::testing::{image_with_layers, push_image};

use super::{http_client, registry};

fn limits(idle_ms: u64, budget_ms: u64) -> ClientOptions {
    ClientOptions {
        stall_timeout: Duration::from_millis(idle_ms),
        connect_timeout: Duration::from_millis(idle_ms),
        stall_budget: Duration::from_millis(budget_ms),
        ..ClientOptions::default()
    }
}

#[test]
fn a_silent_registry_is_given_up_within_the_budget_and_then_at_once() {
    let reg = registry();
    let image = image_with_layers(1, 16 * 1024, 401);
    push_image(&reg.client().unwrap(), &image).unwrap();
    let proxy = FaultProxy::start(&reg.addr(), |_, _, _| Fault::Silent).unwrap();
    let client = http_client(proxy.addr(), limits(300, 1200));
    let expected = format!("{} stalled: no data for 300 ms", proxy.addr());

    // A request tries a stall once more, then fails; requests go on failing that way
    // until the host has been silent for the budget, and from then on fail at once.
    let start = Instant::now();
    let mut waited = Vec::new();
    loop {
        let t = Instant::now();
        let err = client
            .get_manifest(&image.name, &image.tag)
            .expect_err("a silent registry");
        assert_eq!(err.kind(), ErrorKind::Network);
        assert!(err.to_string().ends_with(&expected), "{err}");
        waited.push(t.elapsed());
        if t.elapsed() < Duration::from_millis(150) || waited.len() > 10 {
            break;
        }
    }
    let took = start.elapsed();
    assert!(waited.len() <= 4, "{waited:?}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}: {waited:?}"
    );
    // Given up: a blob, too, fails without waiting.
    let t = Instant::now();
    let err = client
        .get_blob(&image.name, image.digest(), 0)
        .expect_err("given up");
    assert!(err.to_string().ends_with(&expected), "{err}");
    assert!(
        t.elapsed() < Duration::from_millis(150),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn a_slow_but_moving_blob_is_read_whole() {
    let reg = registry();
    let image = image_with_layers(1, 512 * 1024, 402);
    push_image(&reg.client().unwrap(), &image).unwrap();
    let proxy = FaultProxy::start(&reg.addr(), |method, path, _| {
        if method == "GET" && path.contains("/blobs/") {
            Fault::Slow(Duration::from_millis(200))
        } else {
            Fault::Pass
        }
    })
    .unwrap();
    // Each pause is under the idle limit; the whole read is longer than the budget.
    let client = http_client(proxy.addr(), limits(500, 700));
    let layer = match img_core::oci::Document::parse(None, &image.top.1).unwrap() {
        img_core::oci::Document::Manifest(m) => m.layers[0].clone(),
        img_core::oci::Document::Index(_) => panic!("a single-platform image"),
    };
    let t = Instant::now();
    let mut body = Vec::new();
    client
        .get_blob(&image.name, &layer.digest, 0)
        .unwrap()
        .reader
        .read_to_end(&mut body)
        .unwrap();
    assert_eq!(body.len() as u64, layer.size);
    layer.digest.verify(&body).unwrap();
    assert!(
        t.elapsed() > Duration::from_millis(700),
        "{:?}",
        t.elapsed()
    );
}
