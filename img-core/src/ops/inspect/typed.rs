//! The inspect record as docker 28's CLI types it (`image.InspectResponse`, its `Config` a
//! `*v1.DockerOCIImageConfig`), for `--format` templates: every field present with Go's zero
//! value, structs printing as Go prints them, `{{json …}}` honouring `omitempty`.
//!
//! docker runs a template over this typed value first and, when that fails, over the
//! daemon's JSON ([`Template::render_typed`](crate::template::Template::render_typed)), so
//! `{{.Config.Labels}}` is `map[]` on an image without labels while `{{.Nope}}` still fails
//! naming the key.

use serde_json::Value;

use super::record::ManifestSummary;
use super::record::{ContainerConfig, ImageInspect};
use crate::oci::{Descriptor, Platform};
use crate::template::typed::{Tag, Typed, duration, list as typed_list, map, nil, strings, time};

/// [`ImageInspect`] as docker 28's typed `image.InspectResponse`.
pub fn inspect_typed(r: &ImageInspect) -> Value {
    let s = |v: &str| Value::String(v.to_owned());
    let list = |v: &[String]| strings(Some(v));
    let layers: Vec<String> = r.rootfs.layers.iter().map(ToString::to_string).collect();
    let manifests = if r.manifests.is_empty() {
        nil("[]image.ManifestSummary")
    } else {
        typed_list(
            "[]image.ManifestSummary",
            r.manifests.iter().map(manifest_summary).collect(),
        )
    };
    Typed::strukt("image.InspectResponse")
        .field("ID", Tag::Renamed("Id"), s(&r.id.to_string()))
        .field("RepoTags", Tag::Plain, list(&r.repo_tags))
        .field("RepoDigests", Tag::Plain, list(&r.repo_digests))
        .field("Parent", Tag::Plain, s(&r.parent))
        .field("Comment", Tag::Plain, s(&r.comment))
        .field(
            "Created",
            Tag::OmitEmpty,
            s(r.created.as_deref().unwrap_or("")),
        )
        .field("Container", Tag::OmitEmpty, s(""))
        .field("ContainerConfig", Tag::OmitEmpty, nil("*container.Config"))
        .field("DockerVersion", Tag::OmitEmpty, s(&r.docker_version))
        .field("Author", Tag::Plain, s(&r.author))
        .field("Config", Tag::Plain, config(&r.config))
        .field("Architecture", Tag::Plain, s(&r.architecture))
        .field(
            "Variant",
            Tag::OmitEmpty,
            s(r.variant.as_deref().unwrap_or("")),
        )
        .field("Os", Tag::Plain, s(&r.os))
        .field(
            "OsVersion",
            Tag::OmitEmpty,
            s(r.os_version.as_deref().unwrap_or("")),
        )
        .field("Size", Tag::Plain, Value::from(r.size))
        .field("VirtualSize", Tag::OmitEmpty, Value::from(0))
        .field(
            "GraphDriver",
            Tag::Plain,
            Typed::strukt("storage.DriverData")
                .field("Data", Tag::Plain, string_map(r.graph_driver.data.as_ref()))
                .field("Name", Tag::Plain, s(&r.graph_driver.name))
                .build(),
        )
        .field(
            "RootFS",
            Tag::Plain,
            Typed::strukt("image.RootFS")
                .field("Type", Tag::Plain, s(&r.rootfs.kind))
                .field(
                    "Layers",
                    Tag::OmitEmpty,
                    strings((!layers.is_empty()).then_some(&layers[..])),
                )
                .build(),
        )
        .field(
            "Metadata",
            Tag::Plain,
            Typed::strukt("image.Metadata")
                .field(
                    "LastTagTime",
                    Tag::OmitEmpty,
                    time(&r.metadata.last_tag_time),
                )
                .build(),
        )
        .field(
            "Descriptor",
            Tag::OmitEmpty,
            descriptor(&r.descriptor, "*v1.Descriptor"),
        )
        .field("Manifests", Tag::OmitEmpty, manifests)
        .build()
}

/// `*v1.DockerOCIImageConfig`: OCI's `ImageConfig` and docker's extension, both embedded.
fn config(c: &ContainerConfig) -> Value {
    let s = |v: &str| Value::String(v.to_owned());
    let image_config = Typed::strukt("v1.ImageConfig")
        .field("User", Tag::OmitEmpty, s(&c.user))
        .field(
            "ExposedPorts",
            Tag::OmitEmpty,
            set(c.exposed_ports.as_ref().map(|m| m.keys())),
        )
        .field("Env", Tag::OmitEmpty, strings(c.env.as_deref()))
        .field(
            "Entrypoint",
            Tag::OmitEmpty,
            strings(c.entrypoint.as_deref()),
        )
        .field("Cmd", Tag::OmitEmpty, strings(c.cmd.as_deref()))
        .field(
            "Volumes",
            Tag::OmitEmpty,
            set(c.volumes.as_ref().map(|m| m.keys())),
        )
        .field("WorkingDir", Tag::OmitEmpty, s(&c.working_dir))
        .field("Labels", Tag::OmitEmpty, string_map(c.labels.as_ref()))
        .field("StopSignal", Tag::OmitEmpty, s(&c.stop_signal))
        .field("ArgsEscaped", Tag::OmitEmpty, Value::Bool(c.args_escaped))
        .build();
    let ext = Typed::strukt("v1.DockerOCIImageConfigExt")
        .field(
            "Healthcheck",
            Tag::OmitEmpty,
            healthcheck(c.healthcheck.as_ref()),
        )
        .field("OnBuild", Tag::OmitEmpty, strings(c.on_build.as_deref()))
        .field("Shell", Tag::OmitEmpty, strings(c.shell.as_deref()))
        .build();
    Typed::strukt("*v1.DockerOCIImageConfig")
        .field("ImageConfig", Tag::Embedded, image_config)
        .field("DockerOCIImageConfigExt", Tag::Embedded, ext)
        .build()
}

/// A `map[string]struct {}` (ports, volumes), or nil.
fn set<'a>(keys: Option<impl Iterator<Item = &'a String>>) -> Value {
    match keys {
        Some(keys) => map(
            "map[string]struct {}",
            keys.map(|k| (k.clone(), Typed::strukt("struct {}").build())),
        ),
        None => nil("map[string]struct {}"),
    }
}

/// A `map[string]string`, or nil.
fn string_map(m: Option<&std::collections::BTreeMap<String, String>>) -> Value {
    match m {
        Some(m) => map(
            "map[string]string",
            m.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))),
        ),
        None => nil("map[string]string"),
    }
}

/// `*v1.HealthcheckConfig`: its durations are `time.Duration`s, printing as Go's `30s`.
fn healthcheck(h: Option<&Value>) -> Value {
    let Some(h) = h.filter(|h| h.is_object()) else {
        return nil("*v1.HealthcheckConfig");
    };
    let int = |k: &str| h.get(k).and_then(Value::as_i64).unwrap_or(0);
    let test: Option<Vec<String>> = h
        .get("Test")
        .and_then(|t| serde_json::from_value(t.clone()).ok());
    Typed::strukt("*v1.HealthcheckConfig")
        .field("Test", Tag::OmitEmpty, strings(test.as_deref()))
        .field("Interval", Tag::OmitEmpty, duration(int("Interval")))
        .field("Timeout", Tag::OmitEmpty, duration(int("Timeout")))
        .field("StartPeriod", Tag::OmitEmpty, duration(int("StartPeriod")))
        .field(
            "StartInterval",
            Tag::OmitEmpty,
            duration(int("StartInterval")),
        )
        .field("Retries", Tag::OmitEmpty, Value::from(int("Retries")))
        .build()
}

/// `*v1.Descriptor` (OCI), with its json names.
fn descriptor(d: &Descriptor, ty: &str) -> Value {
    let s = |v: &str| Value::String(v.to_owned());
    Typed::strukt(ty)
        .field("MediaType", Tag::Renamed("mediaType"), s(&d.media_type))
        .field("Digest", Tag::Renamed("digest"), s(&d.digest.to_string()))
        .field("Size", Tag::Renamed("size"), Value::from(d.size))
        .field(
            "URLs",
            Tag::Renamed("urls,omitempty"),
            strings((!d.urls.is_empty()).then_some(&d.urls[..])),
        )
        .field(
            "Annotations",
            Tag::Renamed("annotations,omitempty"),
            string_map((!d.annotations.is_empty()).then_some(&d.annotations)),
        )
        .field("Data", Tag::Renamed("data,omitempty"), nil("[]uint8"))
        .field(
            "Platform",
            Tag::Renamed("platform,omitempty"),
            platform(d.platform.as_ref()),
        )
        .field(
            "ArtifactType",
            Tag::Renamed("artifactType,omitempty"),
            s(d.artifact_type.as_deref().unwrap_or("")),
        )
        .build()
}

/// One entry of `Manifests`: docker 28's `image.ManifestSummary`.
fn manifest_summary(m: &ManifestSummary) -> Value {
    let image_data = match &m.image_data {
        Some(d) => Typed::strukt("*image.ImageProperties")
            .field(
                "Platform",
                Tag::Plain,
                platform_value(&d.platform, "v1.Platform"),
            )
            .field(
                "Size",
                Tag::Plain,
                Typed::strukt("struct { Unpacked int64 \"json:\\\"Unpacked\\\"\" }")
                    .field("Unpacked", Tag::Plain, Value::from(d.size.unpacked))
                    .build(),
            )
            .field("Containers", Tag::Plain, strings(Some(&d.containers)))
            .build(),
        None => nil("*image.ImageProperties"),
    };
    let attestation = match &m.attestation_data {
        Some(a) => Typed::strukt("*image.AttestationProperties")
            .field("For", Tag::Plain, Value::String(a.r#for.to_string()))
            .build(),
        None => nil("*image.AttestationProperties"),
    };
    Typed::strukt("image.ManifestSummary")
        .field("ID", Tag::Plain, Value::String(m.id.to_string()))
        .field(
            "Descriptor",
            Tag::Plain,
            descriptor(&m.descriptor, "v1.Descriptor"),
        )
        .field("Available", Tag::Plain, Value::Bool(m.available))
        .field(
            "Size",
            Tag::Plain,
            Typed::strukt("struct { Content int64 \"json:\\\"Content\\\"\"; Total int64 \"json:\\\"Total\\\"\" }")
                .field("Content", Tag::Plain, Value::from(m.size.content))
                .field("Total", Tag::Plain, Value::from(m.size.total))
                .build(),
        )
        .field("Kind", Tag::Plain, Value::String(m.kind.clone()))
        .field("ImageData", Tag::OmitEmpty, image_data)
        .field("AttestationData", Tag::OmitEmpty, attestation)
        .build()
}

fn platform(p: Option<&Platform>) -> Value {
    match p {
        Some(p) => platform_value(p, "*v1.Platform"),
        None => nil("*v1.Platform"),
    }
}

/// `v1.Platform` (OCI), or a pointer to one as `ty` says.
fn platform_value(p: &Platform, ty: &str) -> Value {
    let s = |v: &str| Value::String(v.to_owned());
    Typed::strukt(ty)
        .field(
            "Architecture",
            Tag::Renamed("architecture"),
            s(&p.architecture),
        )
        .field("OS", Tag::Renamed("os"), s(&p.os))
        .field(
            "OSVersion",
            Tag::Renamed("os.version,omitempty"),
            s(p.os_version.as_deref().unwrap_or("")),
        )
        .field(
            "OSFeatures",
            Tag::Renamed("os.features,omitempty"),
            nil("[]string"),
        )
        .field(
            "Variant",
            Tag::Renamed("variant,omitempty"),
            s(p.variant.as_deref().unwrap_or("")),
        )
        .build()
}
