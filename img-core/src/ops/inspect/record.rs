//! The inspect record: docker's image inspect object (API 1.44+, docker 25–27 with the
//! containerd image store), its container config and its `Manifests` entries, with
//! docker's key names, order and `omitempty` rules.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::digest::Digest;
use crate::oci::{Descriptor, ImageConfig, Platform, RunConfig};

/// `GraphDriver.Name`: img keeps layers as compressed blobs and unpacks nothing, so there
/// is no snapshotter or graph driver to name (docker's containerd store shows its
/// snapshotter, `overlayfs`); this says whose store holds the image instead.
pub const GRAPH_DRIVER_NAME: &str = "img";

/// `Metadata.LastTagTime` of an image never tagged: Go's zero time, as docker prints it.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// One element of `img-inspect`'s array: docker's image inspect object.
///
/// ```json
/// {"Id": "sha256:…", "RepoTags": ["alpine:3.20"], "RepoDigests": ["alpine@sha256:…"],
///  "Parent": "", "Comment": "", "Created": "2024-07-22T22:26:43Z", "DockerVersion": "",
///  "Author": "", "Config": {"Hostname": "", …, "Env": […], "Cmd": ["/bin/sh"], …},
///  "Architecture": "arm64", "Variant": "v8", "Os": "linux", "Size": 4090681,
///  "GraphDriver": {"Data": null, "Name": "img"},
///  "RootFS": {"Type": "layers", "Layers": ["sha256:…"]},
///  "Metadata": {"LastTagTime": "2024-08-01T10:00:00.5Z"},
///  "Descriptor": {"mediaType": "application/vnd.oci.image.index.v1+json",
///                 "digest": "sha256:…", "size": 9218},
///  "Manifests": [{"ID": "sha256:…", "Descriptor": {…}, "Available": true,
///                 "Size": {"Content": 4090681, "Total": 4090681}, "Kind": "image",
///                 "ImageData": {"Platform": {…}, "Size": {"Unpacked": 0}, "Containers": []}}]}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInspect {
    /// The image ID: the config digest, or the index digest of a multi-platform image.
    #[serde(rename = "Id")]
    pub id: Digest,
    /// Familiar `name:tag` forms, sorted.
    pub repo_tags: Vec<String>,
    /// Familiar `name@digest` forms: what each name resolved to.
    pub repo_digests: Vec<String>,
    /// Always `""`: images made here have no local parent.
    pub parent: String,
    /// The config's `comment`, else the last history entry's.
    pub comment: String,
    /// The config's creation time, as written there; absent when it has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The config's `docker_version`, or `""`.
    pub docker_version: String,
    /// The config's `author`, or `""`.
    pub author: String,
    /// The run configuration, with every key docker's `container.Config` prints.
    pub config: ContainerConfig,
    /// GOARCH.
    pub architecture: String,
    /// CPU variant; absent when empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// GOOS.
    pub os: String,
    /// OS version (Windows); absent when empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// Bytes the image's blobs take in the store, compressed, every platform included.
    pub size: u64,
    /// See [`GRAPH_DRIVER_NAME`].
    pub graph_driver: GraphDriver,
    /// The layers' DiffIDs.
    #[serde(rename = "RootFS")]
    pub rootfs: RootFs,
    /// When a tag last moved to the image.
    pub metadata: Metadata,
    /// What the image's tag names: its manifest, or its index.
    pub descriptor: Descriptor,
    /// Each manifest of the index, when the image is an index; absent otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub manifests: Vec<ManifestSummary>,
}

/// docker's `GraphDriver`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GraphDriver {
    /// Always `null`: there are no unpacked directories to point at.
    pub data: Option<BTreeMap<String, String>>,
    /// [`GRAPH_DRIVER_NAME`].
    pub name: String,
}

/// docker's `RootFS`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RootFs {
    /// `layers`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// The DiffIDs, base first; absent when there are none, as docker omits them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<Digest>,
}

/// docker's `Metadata`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Metadata {
    /// RFC 3339, or [`ZERO_TIME`] when never tagged.
    pub last_tag_time: String,
}

/// docker's `container.Config` as image inspect prints it (docker 25–27): every key,
/// the `omitempty` ones only when set. Keys docker-built configs carry (`Hostname`,
/// `Image`, …) are shown as written there; otherwise docker's zero values.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    /// The container host name docker-built configs carry, else `""`.
    pub hostname: String,
    /// The domain name, else `""`.
    pub domainname: String,
    /// User (and group) to run as.
    pub user: String,
    /// docker run default: attach stdin.
    pub attach_stdin: bool,
    /// docker run default: attach stdout.
    pub attach_stdout: bool,
    /// docker run default: attach stderr.
    pub attach_stderr: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Ports, `{"80/tcp": {}}`; absent when none.
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    /// docker run default: allocate a TTY.
    pub tty: bool,
    /// docker run default: keep stdin open.
    pub open_stdin: bool,
    /// docker run default: close stdin after one attach.
    pub stdin_once: bool,
    /// Environment, `KEY=value`; `null` when none.
    pub env: Option<Vec<String>>,
    /// Command; `null` when none.
    pub cmd: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Health check; absent when none.
    pub healthcheck: Option<Value>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    /// Windows: the command line is already escaped; absent when false.
    pub args_escaped: bool,
    /// The image a docker-built config was made from, else `""`.
    pub image: String,
    /// Volumes, `{"/data": {}}`; `null` when none.
    pub volumes: Option<BTreeMap<String, Value>>,
    /// Working directory, else `""`.
    pub working_dir: String,
    /// Entrypoint; `null` when none.
    pub entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    /// Networking disabled; absent when false.
    pub network_disabled: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    /// Deprecated MAC address; absent when empty.
    pub mac_address: String,
    /// ONBUILD triggers; `null` when none.
    pub on_build: Option<Vec<String>>,
    /// Labels; `null` when none.
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "String::is_empty")]
    /// Stop signal; absent when empty.
    pub stop_signal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Stop timeout in seconds; absent when unset.
    pub stop_timeout: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// SHELL; absent when unset.
    pub shell: Option<Vec<String>>,
}

impl ContainerConfig {
    /// docker's view of an image config's `config` section (all zero values without one).
    pub fn from_run_config(run: Option<&RunConfig>) -> ContainerConfig {
        let empty = RunConfig::default();
        let run = run.unwrap_or(&empty);
        let x = &run.extra;
        let text = |k: &str| x.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let flag = |k: &str| x.get(k).and_then(Value::as_bool).unwrap_or(false);
        let list = |k: &str| -> Option<Vec<String>> {
            x.get(k)
                .and_then(|v| serde_json::from_value(v.clone()).ok())
        };
        let present = |k: &str| x.get(k).filter(|v| !v.is_null()).cloned();
        ContainerConfig {
            hostname: text("Hostname"),
            domainname: text("Domainname"),
            user: run.user.clone().unwrap_or_default(),
            attach_stdin: flag("AttachStdin"),
            attach_stdout: flag("AttachStdout"),
            attach_stderr: flag("AttachStderr"),
            exposed_ports: run.exposed_ports.clone().filter(|p| !p.is_empty()),
            tty: flag("Tty"),
            open_stdin: flag("OpenStdin"),
            stdin_once: flag("StdinOnce"),
            env: run.env.clone(),
            cmd: run.cmd.clone(),
            healthcheck: present("Healthcheck"),
            args_escaped: flag("ArgsEscaped"),
            image: text("Image"),
            volumes: run.volumes.clone(),
            working_dir: run.working_dir.clone().unwrap_or_default(),
            entrypoint: run.entrypoint.clone(),
            network_disabled: flag("NetworkDisabled"),
            mac_address: text("MacAddress"),
            on_build: list("OnBuild"),
            labels: run.labels.clone(),
            stop_signal: run.stop_signal.clone().unwrap_or_default(),
            stop_timeout: present("StopTimeout"),
            shell: list("Shell"),
        }
    }
}

/// The fields an inspect record takes from the image config.
pub(super) fn from_config(config: &ImageConfig) -> ConfigFields {
    let extra = |k: &str| {
        config
            .extra
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let mut comment = extra("comment");
    if comment.is_empty()
        && let Some(last) = config.history.last()
    {
        comment = last.comment.clone().unwrap_or_default();
    }
    ConfigFields {
        comment,
        created: config.created.clone(),
        docker_version: extra("docker_version"),
        author: config.author.clone().unwrap_or_default(),
        config: ContainerConfig::from_run_config(config.config.as_ref()),
        architecture: config.architecture.clone(),
        variant: config.variant.clone().filter(|v| !v.is_empty()),
        os: config.os.clone(),
        os_version: config.os_version.clone().filter(|v| !v.is_empty()),
        rootfs: RootFs {
            kind: config.rootfs.kind.clone(),
            layers: config.rootfs.diff_ids.clone(),
        },
    }
}

/// What [`from_config`] returns: the config's part of an [`ImageInspect`].
pub(super) struct ConfigFields {
    pub comment: String,
    pub created: Option<String>,
    pub docker_version: String,
    pub author: String,
    pub config: ContainerConfig,
    pub architecture: String,
    pub variant: Option<String>,
    pub os: String,
    pub os_version: Option<String>,
    pub rootfs: RootFs,
}

/// One entry of `Manifests` (docker 27+'s `ManifestSummary`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ManifestSummary {
    /// The manifest's digest.
    #[serde(rename = "ID")]
    pub id: Digest,
    /// Its descriptor in the index, platform included.
    pub descriptor: Descriptor,
    /// Whether the manifest and every blob it names are in the store.
    pub available: bool,
    /// Bytes of it in the store.
    pub size: ManifestSize,
    /// `image`, `attestation` or `unknown`.
    pub kind: String,
    /// For an image manifest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_data: Option<ImageData>,
    /// For an attestation manifest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attestation_data: Option<AttestationData>,
}

/// `Manifests[].Size`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ManifestSize {
    /// Bytes of the manifest, config and layers present in the store.
    pub content: u64,
    /// Content plus unpacked bytes; img unpacks nothing, so equal to `Content`.
    pub total: u64,
}

/// `Manifests[].ImageData`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageData {
    /// The platform: the index entry's, else the config's.
    pub platform: Platform,
    /// Unpacked size: 0, as docker shows an image it has not unpacked.
    pub size: UnpackedSize,
    /// Containers using it: img runs none, so always empty.
    pub containers: Vec<String>,
}

/// `Manifests[].ImageData.Size`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UnpackedSize {
    /// Always 0 (see [`ImageData::size`]).
    pub unpacked: u64,
}

/// `Manifests[].AttestationData`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttestationData {
    /// The manifest the attestation is about.
    pub r#for: Digest,
}

/// The bytes `docker inspect` prints for its array: the daemon's JSON (Go's encoder with
/// HTML escaping off, so `<`, `>` and `&` stay as they are, while U+2028 and U+2029 are
/// escaped) indented by four spaces with `json.Indent`.
pub fn to_docker_json(value: &impl Serialize) -> serde_json::Result<String> {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    value.serialize(&mut ser)?;
    Ok(go_escapes(&String::from_utf8_lossy(&buf)))
}

/// `docker inspect --format json`: the same array compact, on one line.
pub fn to_docker_json_compact(value: &impl Serialize) -> serde_json::Result<String> {
    Ok(go_escapes(&serde_json::to_string(value)?))
}

/// The two characters Go's encoder escapes even with HTML escaping off. They appear only
/// inside JSON strings, so replacing them everywhere is escaping them there.
fn go_escapes(text: &str) -> String {
    text.replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// A record as a JSON value, for templates.
pub(super) fn to_value(record: &ImageInspect) -> Value {
    serde_json::to_value(record).unwrap_or_else(|_| Value::Object(Map::new()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn container_config_has_dockers_keys_in_dockers_order() {
        let c = ContainerConfig::from_run_config(None);
        let v = serde_json::to_value(&c).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "Hostname",
                "Domainname",
                "User",
                "AttachStdin",
                "AttachStdout",
                "AttachStderr",
                "Tty",
                "OpenStdin",
                "StdinOnce",
                "Env",
                "Cmd",
                "Image",
                "Volumes",
                "WorkingDir",
                "Entrypoint",
                "OnBuild",
                "Labels"
            ]
        );
        assert_eq!(v["Env"], Value::Null);
        assert_eq!(v["Labels"], Value::Null);
    }

    #[test]
    fn container_config_keeps_what_the_image_sets() {
        let run: RunConfig = serde_json::from_value(json!({
            "Hostname": "build", "User": "nobody", "ExposedPorts": {"80/tcp": {}},
            "Env": ["A=1"], "Entrypoint": ["/init"], "Cmd": ["run"],
            "Volumes": {"/data": {}}, "WorkingDir": "/srv", "OnBuild": ["RUN x"],
            "Labels": {"k": "v"}, "StopSignal": "SIGQUIT", "ArgsEscaped": true,
            "Healthcheck": {"Test": ["CMD", "true"]}, "Shell": ["/bin/bash", "-c"]
        }))
        .unwrap();
        let v = serde_json::to_value(ContainerConfig::from_run_config(Some(&run))).unwrap();
        assert_eq!(v["Hostname"], "build");
        assert_eq!(v["User"], "nobody");
        assert_eq!(v["ExposedPorts"], json!({"80/tcp": {}}));
        assert_eq!(v["Entrypoint"], json!(["/init"]));
        assert_eq!(v["Volumes"], json!({"/data": {}}));
        assert_eq!(v["WorkingDir"], "/srv");
        assert_eq!(v["OnBuild"], json!(["RUN x"]));
        assert_eq!(v["Labels"], json!({"k": "v"}));
        assert_eq!(v["StopSignal"], "SIGQUIT");
        assert_eq!(v["ArgsEscaped"], true);
        assert_eq!(v["Healthcheck"], json!({"Test": ["CMD", "true"]}));
        assert_eq!(v["Shell"], json!(["/bin/bash", "-c"]));
        assert!(v.get("MacAddress").is_none());
    }

    #[test]
    fn docker_json_indents_by_four_and_escapes_like_go() {
        let text = to_docker_json(&json!([{"a": ["x<y>&z\u{2028}"], "b": {}, "c": []}])).unwrap();
        assert_eq!(
            text,
            "[\n    {\n        \"a\": [\n            \"x<y>&z\\u2028\"\n        ],\n        \"b\": {},\n        \"c\": []\n    }\n]"
        );
        assert_eq!(
            to_docker_json_compact(&json!([{"a": "<&>", "b": [1]}])).unwrap(),
            r#"[{"a":"<&>","b":[1]}]"#
        );
        assert_eq!(to_docker_json(&Vec::<Value>::new()).unwrap(), "[]");
    }

    #[test]
    fn comment_falls_back_to_the_last_history_entry() {
        let config: ImageConfig = serde_json::from_value(json!({
            "architecture": "amd64", "os": "linux", "author": "me",
            "docker_version": "27.0.1", "variant": "",
            "rootfs": {"type": "layers", "diff_ids": []},
            "history": [{"comment": "first"}, {"comment": "buildkit.dockerfile.v0"}]
        }))
        .unwrap();
        let f = from_config(&config);
        assert_eq!(f.comment, "buildkit.dockerfile.v0");
        assert_eq!(f.docker_version, "27.0.1");
        assert_eq!(f.author, "me");
        assert_eq!(f.variant, None);
        assert!(f.created.is_none());
    }
}
