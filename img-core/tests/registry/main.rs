//! The registry client against a real `docker-registry` (distribution 2.8), with skopeo
//! as the independent reader: push the standard test images, read them back both ways,
//! and check the upload paths (monolithic, chunked, mount) and the error kinds.

use std::io::Read;
use std::net::TcpListener;
use std::process::Command;

use img_core::ErrorKind;
use img_core::registry::{BlobPush, ClientOptions, RegistryClient, SchemePolicy};
use img_core::testing::images::{ImageSpec, LayerSpec, build_image};
use img_core::testing::{TestImage, TestRegistry, big_image, push_image, standard_set};

mod fake;
mod stall;
mod tls;
mod token;

fn registry() -> TestRegistry {
    TestRegistry::start().expect("starting the test registry")
}

pub(crate) fn http_client(addr: &str, options: ClientOptions) -> RegistryClient {
    RegistryClient::new(
        addr,
        ClientOptions {
            scheme: SchemePolicy::Http,
            ..options
        },
    )
    .unwrap()
}

/// A client for `addr` with `scheme` and otherwise default options.
pub(crate) fn scheme_client(addr: &str, scheme: SchemePolicy) -> RegistryClient {
    RegistryClient::new(
        addr,
        ClientOptions {
            scheme,
            ..ClientOptions::default()
        },
    )
    .unwrap()
}

/// Runs skopeo with `args` and returns its stdout; fails the test with its stderr.
fn skopeo(args: &[&str]) -> Vec<u8> {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("skopeo is not installed: apt-get install skopeo ({e})"));
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn skopeo_inspect(addr: &str, image: &TestImage, extra: &[&str]) -> serde_json::Value {
    let url = format!("docker://{addr}/{}", image.reference());
    let mut args = vec!["inspect", "--tls-verify=false"];
    args.extend_from_slice(extra);
    args.push(&url);
    serde_json::from_slice(&skopeo(&args)).unwrap()
}

#[test]
fn pushed_images_read_back_with_skopeo() {
    let reg = registry();
    let client = reg.client().unwrap();
    let addr = reg.addr();
    for image in standard_set() {
        let digest = push_image(&client, &image).unwrap();
        assert_eq!(&digest, image.digest(), "{}", image.reference());

        let url = format!("docker://{addr}/{}", image.reference());
        let raw = skopeo(&["inspect", "--tls-verify=false", "--raw", &url]);
        assert_eq!(raw, image.top.1, "raw bytes of {}", image.reference());

        if image.is_index() {
            for (desc, _) in &image.manifests {
                let p = desc.platform.as_ref().unwrap();
                let mut extra = vec!["--override-os", &p.os, "--override-arch", &p.architecture];
                if let Some(v) = &p.variant {
                    extra.extend_from_slice(&["--override-variant", v]);
                }
                let info = skopeo_inspect(&addr, &image, &extra);
                assert_eq!(info["Architecture"], p.architecture.as_str(), "{p}");
                assert_eq!(info["Os"], "linux");
                // skopeo names the platform manifest's layers: they must be ours.
                let manifest: img_core::oci::Manifest = serde_json::from_slice(
                    &image.manifests.iter().find(|(d, _)| d == desc).unwrap().1,
                )
                .unwrap();
                let layers: Vec<String> = manifest
                    .layers
                    .iter()
                    .map(|l| l.digest.to_string())
                    .collect();
                assert_eq!(info["Layers"], serde_json::json!(layers), "{p}");
            }
        } else {
            let info = skopeo_inspect(&addr, &image, &[]);
            assert_eq!(
                info["Digest"],
                image.digest().to_string(),
                "{}",
                image.reference()
            );
            assert_eq!(info["Architecture"], "amd64");
            assert_eq!(info["Env"][1], format!("IMG_TEST_SEED={}", seed_of(&image)));
        }
    }
}

fn seed_of(image: &TestImage) -> String {
    let config: img_core::oci::ImageConfig = serde_json::from_slice(&image.blobs[0].1).unwrap();
    config.config.unwrap().labels.unwrap()["dev.img.test.seed"].clone()
}

#[test]
fn pulls_back_what_was_pushed() {
    let reg = registry();
    let client = reg.client().unwrap();
    for image in standard_set() {
        push_image(&client, &image).unwrap();
        let (bytes, content_type, announced) =
            client.get_manifest(&image.name, &image.tag).unwrap();
        assert_eq!(bytes, image.top.1);
        assert_eq!(content_type, image.top.0.media_type);
        assert_eq!(announced.as_ref(), Some(image.digest()));

        let by_digest = client
            .get_manifest(&image.name, &image.digest().to_string())
            .unwrap();
        assert_eq!(by_digest.0, image.top.1);

        let (d, size, mt) = client
            .head_manifest(&image.name, &image.tag)
            .unwrap()
            .unwrap();
        assert_eq!(
            (&d, size, mt.as_str()),
            (
                image.digest(),
                image.top.1.len() as u64,
                image.top.0.media_type.as_str()
            )
        );

        for (desc, bytes) in &image.manifests {
            let (got, ct, _) = client
                .get_manifest(&image.name, &desc.digest.to_string())
                .unwrap();
            assert_eq!((&got, ct.as_str()), (bytes, desc.media_type.as_str()));
        }

        for (desc, bytes) in &image.blobs {
            let mut whole = client.get_blob(&image.name, &desc.digest, 0).unwrap();
            assert!(!whole.resumed);
            assert_eq!(whole.total_size, Some(desc.size));
            let mut got = Vec::new();
            whole.reader.read_to_end(&mut got).unwrap();
            assert_eq!(&got, bytes);

            let start = desc.size / 3;
            let mut tail = client.get_blob(&image.name, &desc.digest, start).unwrap();
            assert!(tail.resumed, "the registry honours ranges");
            assert_eq!(tail.total_size, Some(desc.size));
            let mut got = Vec::new();
            tail.reader.read_to_end(&mut got).unwrap();
            assert_eq!(got, bytes[start as usize..]);
        }
        assert_eq!(client.tags(&image.name).unwrap(), vec![image.tag.clone()]);
    }
    let mut catalog = client.catalog().unwrap();
    catalog.sort();
    assert_eq!(
        catalog,
        [
            "test/alpine-like",
            "test/big",
            "test/multi",
            "test/oci-zstd"
        ]
    );
}

#[test]
fn large_blobs_go_up_in_chunks() {
    let reg = registry();
    // 1 MiB chunks for a ~2.5 MiB layer: three PATCHes, the last one short.
    let client = http_client(
        &reg.addr(),
        ClientOptions {
            chunk_size: Some(1024 * 1024),
            ..ClientOptions::default()
        },
    );
    let image = big_image(5 * 1024 * 1024);
    let layer = &image.blobs[1];
    assert!(layer.0.size > 2 * 1024 * 1024 && !layer.0.size.is_multiple_of(1024 * 1024));
    push_image(&client, &image).unwrap();
    let mut got = Vec::new();
    client
        .get_blob(&image.name, &layer.0.digest, 0)
        .unwrap()
        .reader
        .read_to_end(&mut got)
        .unwrap();
    assert_eq!(got, layer.1);
    let info = skopeo_inspect(&reg.addr(), &image, &[]);
    assert_eq!(info["Digest"], image.digest().to_string());
}

#[test]
fn a_large_blob_streams_up_in_one_put() {
    let reg = registry();
    let client = http_client(&reg.addr(), ClientOptions::default());
    // Larger than the 16 MiB that used to be chunked.
    let image = big_image(40 * 1024 * 1024);
    let layer = &image.blobs[1];
    assert!(layer.0.size > 16 * 1024 * 1024);
    push_image(&client, &image).unwrap();
    let log = reg.log_tail();
    let sent: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("response completed") && l.contains("/v2/test/big/blobs/uploads/"))
        .collect();
    assert!(
        !sent.iter().any(|l| l.contains("http.request.method=PATCH")),
        "{log}"
    );
    let puts = sent
        .iter()
        .filter(|l| {
            l.contains("http.request.method=PUT")
                && l.contains(&format!("digest={}", layer.0.digest))
        })
        .count();
    assert_eq!(puts, 1, "{log}");
    assert_eq!(
        skopeo_inspect(&reg.addr(), &image, &[])["Digest"],
        image.digest().to_string()
    );
}

#[test]
fn wrong_content_is_refused_in_both_upload_paths() {
    let reg = registry();
    let image = big_image(3 * 1024 * 1024);
    let (desc, bytes) = &image.blobs[1];
    let mut wrong = bytes.clone();
    wrong[1000] ^= 1;
    let uploads = reg
        .dir()
        .join("data/docker/registry/v2/repositories/test/big/_uploads");
    // An upload holding data; 2.8's cancel deletes the data but leaves its hash states.
    let open_uploads = || {
        std::fs::read_dir(&uploads)
            .map(|d| {
                d.filter(|e| e.as_ref().unwrap().path().join("data").exists())
                    .count()
            })
            .unwrap_or(0)
    };
    for chunk_size in [None, Some(1024 * 1024)] {
        let client = http_client(
            &reg.addr(),
            ClientOptions {
                chunk_size,
                ..ClientOptions::default()
            },
        );
        let before = open_uploads();
        let refused_cancels = || reg.log_tail().matches("wrong offest").count();
        let refused_before = refused_cancels();
        let err = client
            .push_blob(&image.name, desc, None, wrong.as_slice())
            .unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::DigestMismatch,
            "chunk {chunk_size:?}: {err}"
        );
        assert!(!client.blob_exists(&image.name, &desc.digest).unwrap());
        // The client refused it before its last bytes: the registry never read a whole
        // body to find the digest wrong itself.
        let log = reg.log_tail();
        assert!(
            !log.contains("digest invalid"),
            "chunk {chunk_size:?}: {log}"
        );
        // A failed chunked upload is cancelled, not left in the registry's storage. (A
        // failed monolithic PUT cannot be: 2.8 no longer knows the upload's state token
        // after it, and leaves the files to its upload purge.)
        if chunk_size.is_some() {
            // The refused chunk ended cleanly (in zeros, never committed), so the
            // registry knew the upload's offset and let it be cancelled: a chunk cut
            // mid-body left one it refused to ("upload resumed at wrong offest").
            assert_eq!(
                refused_cancels(),
                refused_before,
                "chunk {chunk_size:?}: {log}"
            );
            assert_eq!(
                open_uploads(),
                before,
                "uploads left in {}",
                uploads.display()
            );
        }
    }
}

#[test]
fn blobs_mount_across_repositories() {
    let reg = registry();
    let client = reg.client().unwrap();
    let source = &standard_set()[0];
    push_image(&client, source).unwrap();
    let (desc, bytes) = &source.blobs[1];
    assert!(!client.blob_exists("test/mounted", &desc.digest).unwrap());
    let how = client
        .push_blob("test/mounted", desc, Some(&source.name), &b""[..])
        .unwrap();
    assert_eq!(how, BlobPush::Mounted);
    assert!(client.blob_exists("test/mounted", &desc.digest).unwrap());

    // A repository without the blob cannot lend it: the registry opens an upload
    // instead, and the bytes go up through it.
    let fresh = build_image(&ImageSpec {
        name: "test/fresh".into(),
        tag: "1".into(),
        flavor: img_core::testing::images::Flavor::Oci,
        platform: img_core::oci::Platform::parse("linux/amd64").unwrap(),
        layers: vec![LayerSpec {
            size: 1000,
            compression: img_core::oci::media_type::Compression::Gzip,
        }],
        seed: 99,
    });
    let (desc, bytes2) = &fresh.blobs[1];
    let how = client
        .push_blob("test/fresh", desc, Some(&source.name), bytes2.as_slice())
        .unwrap();
    assert_eq!(how, BlobPush::Uploaded);
    assert!(client.blob_exists("test/fresh", &desc.digest).unwrap());
    assert_ne!(bytes, bytes2);
}

#[test]
fn tags_and_catalog_follow_pages() {
    let reg = registry();
    let base = &standard_set()[0];
    let plain = reg.client().unwrap();
    push_image(&plain, base).unwrap();
    let mut want_tags = vec![base.tag.clone()];
    for t in ["a", "b", "c", "d", "e"] {
        plain
            .put_manifest(&base.name, t, &base.top.0.media_type, &base.top.1)
            .unwrap();
        want_tags.push(t.to_owned());
        let mut img = base.clone();
        img.name = format!("test/r{t}");
        push_image(&plain, &img).unwrap();
    }
    want_tags.sort();
    // With n=2 the catalog comes in pages linked by `Link: <…>; rel="next"`.
    // Distribution 2.8 ignores n for tags/list and answers every tag at once, so
    // tag paging is checked against a server that pages (below).
    let paged = http_client(
        &reg.addr(),
        ClientOptions {
            list_page_size: Some(2),
            ..ClientOptions::default()
        },
    );
    let mut tags = paged.tags(&base.name).unwrap();
    tags.sort();
    assert_eq!(tags, want_tags);
    let mut catalog = paged.catalog().unwrap();
    catalog.sort();
    let mut want: Vec<String> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|t| format!("test/r{t}"))
        .collect();
    want.insert(0, base.name.clone());
    want.sort();
    assert_eq!(catalog, want);
}

#[test]
fn unknown_things_are_not_found_with_clear_messages() {
    let reg = registry();
    let client = reg.client().unwrap();
    push_image(&client, &standard_set()[0]).unwrap();
    let err = client.get_manifest("test/alpine-like", "nope").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(
        err.to_string(),
        format!(
            "fetching manifest \"test/alpine-like:nope\" from {}: manifest unknown",
            reg.addr()
        )
    );
    // 2.8 says "manifest unknown" for a repository it never saw; its tag list says
    // NAME_UNKNOWN.
    let err = client
        .get_manifest("test/never-pushed", "latest")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = client.tags("test/never-pushed").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "listing tags of test/never-pushed on {}: repository name not known to registry",
            reg.addr()
        )
    );
    assert_eq!(
        client.head_manifest("test/alpine-like", "nope").unwrap(),
        None
    );
    let missing = img_core::Digest::sha256_of(b"missing");
    let err = client
        .get_blob("test/alpine-like", &missing, 0)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = client.get_manifest("Test/Upper", "latest").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidReference, "{err}");
}

#[test]
fn a_registry_that_is_down_is_a_network_error() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr = format!("127.0.0.1:{port}");
    for scheme in [SchemePolicy::Http, SchemePolicy::HttpsThenHttp] {
        let err = scheme_client(&addr, scheme)
            .get_manifest("test/x", "latest")
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Network, "{scheme:?}: {err}");
        assert_eq!(
            err.to_string(),
            format!(
                "fetching manifest \"test/x:latest\" from {addr}: nothing listens there (is the registry running?): connection refused"
            )
        );
    }
}

#[test]
fn loopback_falls_back_to_plain_http_and_remembers_it() {
    let reg = registry();
    let client = RegistryClient::new(&reg.addr(), ClientOptions::for_host(&reg.addr())).unwrap();
    client.ping().unwrap();
    assert_eq!(client.base_url().unwrap(), format!("http://{}", reg.addr()));
    // HTTPS only against a plain-HTTP server: the handshake fails, and says so.
    let https = RegistryClient::new(&reg.addr(), ClientOptions::default()).unwrap();
    let err = https.ping().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert!(
        err.to_string().contains("does not seem to speak HTTPS"),
        "{err}"
    );
    push_image(&client, &standard_set()[1]).unwrap();
}
