//! img-inspect against `docker image inspect` itself (issue 10): a real dockerd (Debian's
//! docker.io, started by the shared harness) and img pull the same images from the same
//! test registry — one with the config docker's classic builder writes (labels, env,
//! entrypoint, cmd, exposed ports, volumes, workdir, user, healthcheck, empty-layer
//! history; made by img with a pinned created time); an image pushed by img with docker
//! media types; a multi-platform OCI index — and the two inspect outputs are compared key
//! by key, and 40+ `-f` templates byte for byte: their output, and when they fail, their
//! exit status and Go's error message.
//!
//! docker's side is live where docker 28.2.2's CLI is and the test runs as root, and
//! otherwise tests/goldens/docker_parity.json, recorded by `cargo xtask goldens`
//! (issue 18: docker 20.10's CLI prints `{{.Config}}` as its own older struct).

mod common;

use std::process::Command;

use img_core::oci::media_type::{self, Compression};
use img_core::oci::{Descriptor, Platform};
use img_core::testing::images::{Flavor, ImageSpec, LayerSpec, build_image};
use img_core::testing::{DockerComparison, Fixture, TestDockerd, TestImage, push_image, run};
use serde_json::Value;

/// Keys docker and img are known to differ on, and why: where img keeps blobs
/// (`GraphDriver`, `Size`), when a tag moved (`Metadata`), what the 20.10 daemon still
/// writes (`Container`, `ContainerConfig`, `VirtualSize`) and what it does not have yet
/// (`Descriptor`, `Manifests`).
const IGNORED: &[&str] = &[
    "GraphDriver",
    "Size",
    "Metadata",
    "Container",
    "ContainerConfig",
    "VirtualSize",
    "Descriptor",
    "Manifests",
];

/// Templates compared byte for byte (none reads an ignored key).
const TEMPLATES: &[&str] = &[
    "{{.Id}}",
    "{{.ID}}",
    "{{.RepoTags}}",
    "{{.RepoDigests}}",
    "{{json .RepoDigests}}",
    "{{index .RepoTags 0}}",
    "{{len .RepoTags}}",
    "{{.Parent}}|{{.Comment}}|{{.Author}}|{{.OsVersion}}|{{.Variant}}",
    "{{.Created}}",
    "{{.Architecture}}/{{.Os}}",
    "{{upper .Os}}",
    "{{eq .Os \"linux\"}}",
    "{{.Config}}",
    "{{printf \"%v\" .Config}}",
    "{{json .Config}}",
    "{{.Config.ImageConfig}}",
    "{{json .Config.ImageConfig}}",
    "{{.Config.Labels}}",
    "{{json .Config.Labels}}",
    "{{index .Config.Labels \"a\"}}|{{index .Config.Labels \"zz\"}}",
    "{{.Config.Labels.a}}|{{.Config.Labels.zz}}",
    "{{with .Config.Labels}}{{.a}}{{end}}",
    "{{if .Config.Labels}}y{{else}}n{{end}}",
    "{{len .Config.Labels}}",
    "{{.Config.Volumes}}",
    "{{json .Config.Volumes}}",
    "{{len .Config.Volumes}}",
    "{{range $k, $v := .Config.Volumes}}{{$k}}={{$v}} {{end}}",
    "{{.Config.ExposedPorts}}",
    "{{json .Config.ExposedPorts}}",
    "{{printf \"%v\" .Config.ExposedPorts}}",
    "{{range $p, $_ := .Config.ExposedPorts}}{{$p}},{{end}}",
    "{{index .Config.ExposedPorts \"80/tcp\"}}",
    "{{.Config.Entrypoint}}",
    "{{.Config.Entrypoint | json}}",
    "{{if .Config.Entrypoint}}e{{end}}",
    "{{.Config.Cmd}}",
    "{{.Config.Env}}",
    "{{json .Config.Env}}",
    "{{join .Config.Env \",\"}}",
    "{{.Config.Env | len}}",
    "{{range .Config.Env}}{{.}};{{end}}",
    "{{.Config.OnBuild}}",
    "{{if not .Config.OnBuild}}no-onbuild{{end}}",
    "{{.Config.Shell}}",
    "{{.Config.Healthcheck}}",
    "{{if .Config.Healthcheck}}y{{else}}n{{end}}",
    "{{.Config.StopSignal}}",
    "{{.Config.ArgsEscaped}}",
    "{{.Config.WorkingDir}}",
    "{{.Config.User}}",
    "{{.Config.Hostname}}",
    "{{.RootFS}}",
    "{{json .RootFS}}",
    "{{printf \"%s\" .RootFS}}",
    "{{.RootFS.Type}}",
    "{{range .RootFS.Layers}}{{.}} {{end}}",
    "{{printf \"%T\" .}}",
    "{{printf \"%T\" .Config}}",
    "{{printf \"%T\" .Config.Labels}}",
    "{{printf \"%T\" .Config.ExposedPorts}}",
    "{{printf \"%T\" .Config.Healthcheck}}",
    "{{printf \"%T\" .RootFS}}",
    "{{printf \"%T\" .Metadata.LastTagTime}}",
    "{{printf \"%q\" .RepoTags}}",
    "{{printf \"%T %T %T %T\" .RepoTags .RepoDigests .Config.Env .RootFS.Layers}}",
    "{{printf \"%T|%T|%T\" .Config.Cmd .Config.Entrypoint .Config.Shell}}",
    "{{with .Config.Healthcheck}}{{.Interval}} {{.Timeout}} {{.StartPeriod}} {{.Retries}}{{end}}",
    "{{with .Config.Healthcheck}}{{printf \"%T %v %d %s\" .Interval .Interval .Timeout .StartPeriod}}{{end}}",
    "{{with .Config.Healthcheck}}{{json .}} {{.Test}} {{printf \"%v\" .}}{{end}}",
    "{{with .Config.Healthcheck}}{{eq .Interval 30000000000}} {{if .StartInterval}}y{{end}}{{end}}",
    // Errors: both fail, with Go's message.
    "{{.Nope}}",
    "{{.Config.Nope}}",
    "{{.Config.Healthcheck.Test}}",
    "{{.Id}} {{.Config.Healthcheck.Nope}}",
    "{{index .RepoTags 5}}",
    "{{range .Os}}{{end}}",
];

fn docker_run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("running docker");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[track_caller]
fn docker_ok(daemon: &TestDockerd, args: &[&str]) -> String {
    let (code, out, err) = docker_run(daemon.docker().args(args));
    assert_eq!(code, 0, "docker {args:?} failed: {err}");
    out
}

/// The rich image, made by img with fixed inputs (a golden must stay true): a config as
/// docker's classic builder writes one for `FROM scratch`, `COPY hello /hello`, `LABEL a=b
/// c="x <y> & z" maintainer=…`, `ENV PATH=/bin`, `ENTRYPOINT ["/hello"]`, `CMD ["run"]`,
/// `EXPOSE 80 53/udp`, `VOLUME /data`, `WORKDIR /srv`, `USER nobody`, `STOPSIGNAL SIGINT`
/// and a `HEALTHCHECK`, with a pinned created time and empty-layer history.
fn rich_image() -> TestImage {
    let mut image = build_image(&ImageSpec {
        name: "cmp/rich".to_owned(),
        tag: "v1".to_owned(),
        flavor: Flavor::Docker,
        platform: Platform::parse("linux/amd64").unwrap(),
        layers: vec![LayerSpec {
            size: 2048,
            compression: Compression::Gzip,
        }],
        seed: 77,
    });
    let mut manifest: Value = serde_json::from_slice(&image.top.1).unwrap();
    let config_digest = manifest["config"]["digest"].as_str().unwrap().to_owned();
    let at = image
        .blobs
        .iter()
        .position(|(d, _)| d.digest.to_string() == config_digest)
        .unwrap();
    let mut config: Value = serde_json::from_slice(&image.blobs[at].1).unwrap();
    let created = "2024-05-01T12:00:00.123456789Z";
    config["created"] = created.into();
    config["config"] = serde_json::json!({
        "Hostname": "", "Domainname": "", "User": "nobody", "AttachStdin": false,
        "AttachStdout": false, "AttachStderr": false,
        "ExposedPorts": {"53/udp": {}, "80/tcp": {}},
        "Tty": false, "OpenStdin": false, "StdinOnce": false,
        "Env": ["PATH=/bin"], "Cmd": ["run"],
        "Healthcheck": {"Test": ["CMD", "/hello"], "Interval": 30_000_000_000u64,
            "Timeout": 5_000_000_000u64, "StartPeriod": 90_000_000_000u64, "Retries": 3},
        "Image": "", "Volumes": {"/data": {}}, "WorkingDir": "/srv",
        "Entrypoint": ["/hello"], "OnBuild": null,
        "Labels": {"a": "b", "c": "x <y> & z", "maintainer": "cmp <cmp@example.org>"},
        "StopSignal": "SIGINT"
    });
    let step = |by: &str, empty: bool| {
        let mut h = serde_json::json!({"created": created, "created_by": by});
        if empty {
            h["empty_layer"] = true.into();
        }
        h
    };
    config["history"] = serde_json::json!([
        step("/bin/sh -c #(nop) COPY file:0123 in /hello ", false),
        step(
            "/bin/sh -c #(nop)  LABEL a=b c=x <y> & z maintainer=cmp <cmp@example.org>",
            true
        ),
        step("/bin/sh -c #(nop)  ENV PATH=/bin", true),
        step("/bin/sh -c #(nop)  ENTRYPOINT [\"/hello\"]", true),
        step("/bin/sh -c #(nop)  CMD [\"run\"]", true),
        step("/bin/sh -c #(nop)  EXPOSE 53/udp 80", true),
        step("/bin/sh -c #(nop)  VOLUME [/data]", true),
        step("/bin/sh -c #(nop) WORKDIR /srv", true),
        step("/bin/sh -c #(nop)  USER nobody", true),
        step("/bin/sh -c #(nop)  STOPSIGNAL SIGINT", true),
        step(
            "/bin/sh -c #(nop)  HEALTHCHECK &{[\"CMD\" \"/hello\"] \"30s\" \"5s\" \"1m30s\" \"0s\" '\\x03'}",
            true
        ),
    ]);
    let config_bytes = serde_json::to_vec(&config).unwrap();
    let config_desc = Descriptor::of(media_type::DOCKER_CONFIG, &config_bytes);
    manifest["config"]["digest"] = config_desc.digest.to_string().into();
    manifest["config"]["size"] = config_desc.size.into();
    image.blobs[at] = (config_desc, config_bytes);
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    image.top = (
        Descriptor::of(media_type::DOCKER_MANIFEST, &manifest_bytes),
        manifest_bytes,
    );
    image
}

/// `docker image inspect` of `reference`, with `-f template` when given: exit status,
/// stdout, stderr.
fn docker_inspect(
    cmp: &mut DockerComparison,
    daemon: Option<&TestDockerd>,
    template: Option<&str>,
    reference: &str,
) -> (i32, String, String) {
    let mut args = vec!["image", "inspect"];
    if let Some(t) = template {
        args.extend(["-f", t]);
    }
    args.push(reference);
    let key = format!("{reference} {}", template.unwrap_or("(whole object)"));
    let command = format!("docker {}", args.join(" "));
    cmp.answer(&key, &command, || {
        let daemon = daemon.expect("a live comparison has a daemon");
        // Go's pointer addresses differ on each run: recorded masked, a regenerated golden
        // changes only where docker's output does.
        let (code, stdout, stderr) = docker_run(daemon.docker().args(&args));
        (code, mask_addresses(&stdout), stderr)
    })
}

fn img_inspect(f: &Fixture, template: Option<&str>, reference: &str) -> (i32, String, String) {
    let mut args = Vec::new();
    if let Some(t) = template {
        args.extend(["-f", t]);
    }
    args.push(reference);
    let r = run(
        f.command(env!("CARGO_BIN_EXE_img-inspect")).args(&args),
        None,
    );
    (r.code, r.stdout, r.stderr)
}

/// Go prints a pointer inside a struct as its address (`{0xc0004569c0 [] []}`), which
/// differs from run to run: both sides' addresses read `0xADDR`.
fn mask_addresses(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("0xc") {
        out.push_str(&rest[..at]);
        let hex = rest[at + 2..]
            .find(|c: char| !c.is_ascii_hexdigit())
            .unwrap_or(rest.len() - at - 2);
        out.push_str("0xADDR");
        rest = &rest[at + 2 + hex..];
    }
    out.push_str(rest);
    out
}

/// The message of a failed template: docker's CLI writes `template parsing error: MSG`,
/// img its usual `img-inspect: "REF": MSG`.
fn template_message(stderr: &str, prefix: &str) -> String {
    let line = stderr
        .lines()
        .find(|l| l.contains("template: "))
        .unwrap_or("");
    line.strip_prefix(prefix).unwrap_or(line).to_string()
}

#[test]
fn img_inspect_prints_what_docker_image_inspect_prints() {
    let f = Fixture::new().expect("the test registry");
    let mut cmp = DockerComparison::new(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/goldens/docker_parity.json"),
    );
    // The registry's port differs from run to run.
    cmp.placeholder(&f.registry.addr(), "REGISTRY");
    let daemon = cmp
        .is_live()
        .then(|| TestDockerd::start().unwrap_or_else(|e| panic!("{e}")));
    push_image(&f.registry.client().unwrap(), &rich_image()).unwrap();
    let names = [
        "cmp/rich:v1",
        "test/alpine-like:latest",
        // (test/oci-zstd is left out: the 20.10 daemon cannot apply zstd layers.)
        "test/multi:latest",
    ];
    let mut compared = 0;
    for name in names {
        let reference = f.reference(name);
        if let Some(daemon) = &daemon {
            docker_ok(daemon, &["pull", "-q", &reference]);
        }
        f.pull(name)
            .unwrap_or_else(|e| panic!("img pull {name}: {e}"));

        // The whole object, key by key.
        let (dc, dout, _) = docker_inspect(&mut cmp, daemon.as_ref(), None, &reference);
        let (ic, iout, _) = img_inspect(&f, None, &reference);
        assert_eq!(
            (dc, ic),
            (0, 0),
            "{name}: docker said {dout}, img said {iout}"
        );
        let d: Value = serde_json::from_str(&dout).unwrap();
        let i: Value = serde_json::from_str(&iout).unwrap();
        let (d, i) = (&d[0], &i[0]);
        let mut keys: Vec<&String> = d.as_object().unwrap().keys().collect();
        keys.extend(i.as_object().unwrap().keys());
        keys.sort();
        keys.dedup();
        for key in keys {
            if IGNORED.contains(&key.as_str()) {
                continue;
            }
            // The 20.10 daemon still writes the container-only keys in Config.
            let (dv, iv) = if key == "Config" {
                (config_keys(&d[key]), config_keys(&i[key]))
            } else {
                (d[key].clone(), i[key].clone())
            };
            assert_eq!(dv, iv, "{name}: key {key} differs");
            compared += 1;
        }
        // Text docker writes as is (no \u003c escapes), in the same indented layout,
        // where the values agree.
        if name == "cmp/rich:v1" {
            assert!(dout.contains("\"c\": \"x <y> & z\""), "{dout}");
            assert!(iout.contains("\"c\": \"x <y> & z\""), "{iout}");
        }

        for template in TEMPLATES {
            let (dc, dout, derr) =
                docker_inspect(&mut cmp, daemon.as_ref(), Some(template), &reference);
            let (ic, iout, ierr) = img_inspect(&f, Some(template), &reference);
            assert_eq!(
                ic, dc,
                "{name}: {template}: exit status (docker printed {dout:?} {derr:?})"
            );
            if dc == 0 {
                assert_eq!(
                    mask_addresses(&iout),
                    mask_addresses(&dout),
                    "{name}: {template}"
                );
            } else {
                let docker_says = template_message(&derr, "template parsing error: ");
                assert!(docker_says.starts_with("template: "), "{derr}");
                let img_prefix = format!("img-inspect: \"{reference}\": ");
                assert_eq!(
                    template_message(&ierr, &img_prefix),
                    docker_says,
                    "{name}: {template}: the error (img said {ierr:?})"
                );
            }
            compared += 1;
        }

        // --format json: one compact array on one line.
        let (_, iout, _) = img_inspect(&f, Some("json"), &reference);
        assert_eq!(iout.lines().count(), 1, "{iout}");
        assert!(iout.starts_with("[{\"Id\":"), "{iout}");
    }
    assert!(TEMPLATES.len() >= 40);
    assert!(
        compared > names.len() * TEMPLATES.len(),
        "only {compared} comparisons"
    );
    cmp.finish();
}

/// The keys of docker 28's typed `Config` (`DockerOCIImageConfig`): what the API keeps
/// from API 1.50 on, and what the 20.10 daemon writes beside them, dropped.
fn config_keys(v: &Value) -> Value {
    const KEEP: &[&str] = &[
        "User",
        "ExposedPorts",
        "Env",
        "Entrypoint",
        "Cmd",
        "Volumes",
        "WorkingDir",
        "Labels",
        "StopSignal",
        "ArgsEscaped",
        "Healthcheck",
        "OnBuild",
        "Shell",
    ];
    let Some(o) = v.as_object() else {
        return v.clone();
    };
    Value::Object(
        o.iter()
            .filter(|(k, _)| KEEP.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}
