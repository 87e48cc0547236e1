//! img-inspect run on stores filled by real pulls: docker's JSON for a schema 2 image, an
//! OCI zstd image and a multi-platform image, templates from docker's documentation, and
//! missing images.

mod common;

use common::{config, inspect, manifest, strings};
use img_core::oci::media_type;
use img_core::testing::Fixture;
use serde_json::{Value, json};

fn fixture() -> Fixture {
    Fixture::new().expect("starting the test registry (needs the docker-registry package)")
}

#[test]
fn schema2_and_oci_zstd_images_print_dockers_json() {
    let f = fixture();
    let alpine = f.pull("test/alpine-like:latest").unwrap();
    f.pull("test/oci-zstd:1").unwrap();
    let alpine_ref = f.reference("test/alpine-like:latest");
    let oci_ref = f.reference("test/oci-zstd:1");
    let run = inspect(&f, &[&alpine_ref, &oci_ref], "").success();
    // docker's indentation: four spaces, an array even for one image.
    assert!(
        run.stdout.starts_with("[\n    {\n        \"Id\": "),
        "{}",
        run.stdout
    );
    assert!(run.stdout.ends_with("}\n]\n"));
    let out = run.json();
    let out = out.as_array().unwrap();
    assert_eq!(out.len(), 2);
    for (v, name, manifest_type) in [
        (&out[0], "test/alpine-like", media_type::DOCKER_MANIFEST),
        (&out[1], "test/oci-zstd", media_type::OCI_MANIFEST),
    ] {
        let img = f.image(name);
        let m = manifest(img, None);
        let c = config(img, &m);
        assert_eq!(v["Id"], m.config.digest.to_string(), "{name}");
        assert_eq!(v["RepoTags"], json!([f.reference(&img.reference())]));
        assert_eq!(
            v["RepoDigests"],
            json!([format!("{}@{}", f.reference(name), img.digest())])
        );
        assert_eq!(v["RootFS"]["Type"], "layers");
        assert_eq!(v["RootFS"]["Layers"], json!(strings(&c.rootfs.diff_ids)));
        assert_eq!(v["Architecture"], "amd64");
        assert_eq!(v["Os"], "linux");
        assert!(v.get("Variant").is_none(), "Variant is omitted when empty");
        assert_eq!(v["Created"], "2024-01-01T00:00:00Z");
        assert_eq!(v["Parent"], "");
        assert_eq!(v["Config"]["Cmd"], json!(["/bin/sh"]));
        assert_eq!(v["Config"]["Hostname"], "");
        assert_eq!(v["Config"]["AttachStdin"], false);
        assert_eq!(v["Config"]["Entrypoint"], Value::Null);
        assert_eq!(
            v["Config"]["Labels"]["org.opencontainers.image.title"],
            name
        );
        assert_eq!(v["Descriptor"]["digest"], img.digest().to_string());
        assert_eq!(v["Descriptor"]["mediaType"], manifest_type);
        assert_eq!(v["Descriptor"]["size"], img.top.1.len());
        assert!(v.get("Manifests").is_none());
        assert!(v["Size"].as_u64().unwrap() > 0);
        assert!(
            v["Metadata"]["LastTagTime"]
                .as_str()
                .unwrap()
                .starts_with("20")
        );
    }
    assert_eq!(out[0]["Size"], alpine.record.size);

    // The same image by ID, by ID prefix, and by plain lines on stdin.
    let id = out[0]["Id"].as_str().unwrap().to_owned();
    let prefix = &id["sha256:".len().."sha256:".len() + 12];
    let by_id = inspect(&f, &[&id, prefix], "").success();
    assert_eq!(by_id.json(), json!([out[0], out[0]]));
    let piped = inspect(&f, &[], &format!("{id}\n{oci_ref}\n")).success();
    assert_eq!(piped.json(), json!(out));
}

#[test]
fn templates_from_dockers_documentation() {
    let f = fixture();
    f.pull("test/alpine-like:latest").unwrap();
    let r = f.reference("test/alpine-like:latest");
    let full = inspect(&f, &[&r], "").json()[0].clone();
    let tpl = |t: &str| {
        let run = inspect(&f, &["-f", t, &r], "").success();
        run.stdout
    };
    assert_eq!(tpl("{{.RootFS.Type}}"), "layers\n");
    assert_eq!(tpl("{{.Os}}"), "linux\n");
    assert_eq!(tpl("{{len .RootFS.Layers}}"), "2\n");
    // docker 28's CLI writes its typed Config: only the fields that are set (omitempty).
    let config: Value = serde_json::from_str(&tpl("{{json .Config}}")).unwrap();
    let set: serde_json::Map<String, Value> = full["Config"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, v)| {
            [
                "User",
                "Env",
                "Cmd",
                "Entrypoint",
                "WorkingDir",
                "Labels",
                "Volumes",
            ]
            .contains(&k.as_str())
                && !v.is_null()
                && v.as_str() != Some("")
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(config, Value::Object(set));
    assert_eq!(
        tpl("{{.Config.Entrypoint}} {{.Config.Volumes}}"),
        "[] map[]\n"
    );
    assert_eq!(tpl("{{.Config.Healthcheck}}|{{.Variant}}|"), "<nil>||\n");
    assert_eq!(tpl("{{range .RepoTags}}{{.}} {{end}}"), format!("{r} \n"));
    assert_eq!(
        tpl(r#"{{index .Config.Labels "org.opencontainers.image.title"}}"#),
        "test/alpine-like\n"
    );
    assert_eq!(
        tpl("{{.Config.Env}}"),
        "[PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin IMG_TEST_SEED=1]\n"
    );
    assert_eq!(
        tpl(r#"{{join .RepoDigests ","}}"#),
        format!("{}\n", full["RepoDigests"][0].as_str().unwrap())
    );
    assert_eq!(
        tpl("{{.Architecture}}/{{.Os}} {{.Size}}"),
        format!("amd64/linux {}\n", full["Size"])
    );
    // The docker-style spelling of the flag, and `json`: the same array as without.
    let run = inspect(&f, &["--format=json", &r], "");
    assert_eq!(run.json(), json!([full]));

    // A template that does not parse fails before printing anything, as Go words it.
    let run = inspect(&f, &["-f", "{{.Os", &r], "");
    assert_ne!(run.code, 0);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "img-inspect: parsing --format: template: :1: unclosed action\n"
    );
    // A missing key is an error naming the key, reported against the image.
    let run = inspect(&f, &["-f", "{{.Nope}}", &r], "").failure(1, 1);
    assert!(run.stderr.contains("\"Nope\""), "{}", run.stderr);
}

#[test]
fn missing_images_are_reported_while_the_others_print() {
    let f = fixture();
    f.pull("test/alpine-like:latest").unwrap();
    let r = f.reference("test/alpine-like:latest");
    let run = inspect(&f, &["nope:1", &r], "").failure(1, 1);
    assert_eq!(
        run.stderr,
        "img-inspect: \"nope:1\": no such image: nope:1\n"
    );
    let out = run.json();
    assert_eq!(out.as_array().unwrap().len(), 1);
    assert_eq!(out[0]["RepoTags"], json!([r]));
    // Nothing found at all: docker's empty array, still exit 1.
    let run = inspect(&f, &["nope"], "").failure(1, 1);
    assert_eq!(run.stdout, "[]\n");
    // With a template, the found image is printed too.
    let run = inspect(&f, &["-f", "{{.Os}}", "deadbeef", &r], "").failure(1, 1);
    assert_eq!(run.stdout, "linux\n");
    assert!(
        run.stderr.contains("\"deadbeef\": no such image"),
        "{}",
        run.stderr
    );
    // No image and nothing piped is bad usage.
    let run = inspect(&f, &["--bogus"], "");
    assert_eq!(run.code, 2);
}

#[test]
fn multi_platform_images_with_and_without_all_platforms() {
    let f = fixture();
    let multi = f.image("test/multi");
    let r = f.reference("test/multi:latest");
    // One platform: the tag names the host's manifest, the ID is its config.
    f.pull("test/multi:latest").unwrap();
    let amd64 = manifest(multi, Some(0));
    let v = inspect(&f, &[&r], "").json()[0].clone();
    assert_eq!(v["Id"], amd64.config.digest.to_string());
    assert_eq!(
        v["Descriptor"]["digest"],
        multi.manifests[0].0.digest.to_string()
    );
    assert_eq!(v["Descriptor"]["mediaType"], media_type::OCI_MANIFEST);
    assert!(v.get("Manifests").is_none());
    // RepoDigests name the index, what the tag resolved to.
    assert_eq!(
        v["RepoDigests"],
        json!([format!("{}@{}", f.reference("test/multi"), multi.digest())])
    );
    let run = inspect(&f, &["--platform", "linux/arm64", &r], "").failure(1, 1);
    assert!(run.stderr.contains("linux/amd64"), "{}", run.stderr);

    // All platforms: the tag names the index, the ID is the index digest.
    f.pull_all_platforms("test/multi:latest").unwrap();
    let run = inspect(&f, &[&r], "").success();
    let v = run.json()[0].clone();
    assert_eq!(v["Id"], multi.digest().to_string());
    assert_eq!(v["Descriptor"]["digest"], multi.digest().to_string());
    assert_eq!(v["Descriptor"]["mediaType"], media_type::OCI_INDEX);
    assert_eq!(v["Descriptor"]["size"], multi.top.1.len());
    // The host's config is shown.
    assert_eq!(v["Architecture"], "amd64");
    let amd64_config = config(multi, &amd64);
    assert_eq!(
        v["RootFS"]["Layers"],
        json!(strings(&amd64_config.rootfs.diff_ids))
    );
    let manifests = v["Manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 3);
    for (entry, (desc, bytes)) in manifests.iter().zip(&multi.manifests) {
        assert_eq!(entry["ID"], desc.digest.to_string());
        assert_eq!(entry["Descriptor"]["digest"], desc.digest.to_string());
        assert_eq!(entry["Descriptor"]["size"], bytes.len());
        assert_eq!(entry["Descriptor"]["mediaType"], media_type::OCI_MANIFEST);
        let p = desc.platform.as_ref().unwrap();
        assert_eq!(
            entry["Descriptor"]["platform"]["architecture"],
            p.architecture
        );
        assert_eq!(
            entry["ImageData"]["Platform"]["architecture"],
            p.architecture
        );
        assert_eq!(entry["Available"], true);
        assert_eq!(entry["Kind"], "image");
        let m: img_core::oci::Manifest = serde_json::from_slice(bytes).unwrap();
        let content = bytes.len() as u64 + m.blobs().map(|b| b.size).sum::<u64>();
        assert_eq!(entry["Size"]["Content"], content);
    }
    // --platform picks another platform's config.
    for (i, platform, arch, variant) in [
        (1, "linux/arm64", "arm64", Some("v8")),
        (2, "linux/arm/v7", "arm", Some("v7")),
    ] {
        let run = inspect(&f, &["--platform", platform, &r], "").success();
        let v = run.json()[0].clone();
        let c = config(multi, &manifest(multi, Some(i)));
        assert_eq!(v["Id"], multi.digest().to_string());
        assert_eq!(v["Architecture"], arch);
        assert_eq!(v["Variant"], json!(variant));
        assert_eq!(v["RootFS"]["Layers"], json!(strings(&c.rootfs.diff_ids)));
    }
    let run = inspect(&f, &["--platform", "linux/s390x", &r], "").failure(1, 1);
    assert!(
        run.stderr.contains("no platform linux/s390x"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, "[]\n");
}
