//! img-pull's integration tests: the `img-pull` binary run against the real
//! docker-registry (plain HTTP, Basic auth over TLS, token auth), behind fault proxies,
//! killed mid-layer and resumed. One test binary with a module a theme, so the themes run
//! in parallel and link once.
//!
//! Every run gets a private store, config, home and credentials (a [`Sandbox`], or the
//! seeded [`Fixture`]); nothing outside the temporary directories is read or written.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use img_core::digest::Digest;
use img_core::oci::{Document, Manifest};
use img_core::record::ImageRecord;
use img_core::store::Store;
use img_core::testing::{
    Fixture, Run, TestImage, TestRegistry, push_image, run, verify_store, write_htpasswd,
};

mod auth;
mod bad_input;
mod basic;
mod check;
mod docker_display;
mod faults;
mod insecure;
mod mirror;
mod mtls;
mod redirect;
mod repair;
mod resume;
mod round_trips;
mod stall;
mod token;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_img-pull");

/// A private store, config home, docker config and PATH directory for one test.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Default for Sandbox {
    fn default() -> Sandbox {
        Sandbox::new()
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().expect("creating a temp dir");
        for sub in ["store", "config/img", "home/.docker", "bin"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        Sandbox { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn root(&self) -> PathBuf {
        self.path().join("store")
    }

    /// `$DOCKER_CONFIG`.
    pub fn docker_config(&self) -> PathBuf {
        self.path().join("home/.docker")
    }

    /// A directory put first on the tool's PATH (credential helpers).
    pub fn bin_dir(&self) -> PathBuf {
        self.path().join("bin")
    }

    /// Trusts `ca_pem` for `host` through `$XDG_CONFIG_HOME/img/certs.d/<host>/ca.crt`.
    pub fn trust(&self, host: &str, ca_pem: &str) {
        let dir = self.path().join("config/img/certs.d").join(host);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.crt"), ca_pem).unwrap();
    }

    /// Writes the img config file (`$IMG_CONFIG`).
    pub fn config_json(&self, json: &serde_json::Value) {
        std::fs::write(self.path().join("config/img-config.json"), json.to_string()).unwrap();
    }

    /// Writes `$DOCKER_CONFIG/config.json`.
    pub fn docker_config_json(&self, json: &serde_json::Value) {
        std::fs::write(self.docker_config().join("config.json"), json.to_string()).unwrap();
    }

    /// img-pull with the environment pointing into the sandbox only.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(BIN);
        let path = format!(
            "{}:{}",
            self.bin_dir().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        img_core::testing::fixture::sandboxed(&mut cmd, self.path(), &self.root())
            .env("PATH", path);
        cmd
    }

    pub fn store(&self) -> Store {
        Store::open(&self.root()).unwrap()
    }
}

/// Runs img-pull from `fixture` with `args`.
pub fn pull_in(fixture: &Fixture, args: &[&str]) -> Run {
    fixture.run(BIN, args, None)
}

/// A plain-HTTP registry with Basic auth for `user` alone (its htpasswd in the returned
/// directory), `image` pushed to it as `user`.
pub fn basic_auth_registry(
    user: &str,
    password: &str,
    image: &TestImage,
) -> (TestRegistry, tempfile::TempDir) {
    let files = tempfile::tempdir().unwrap();
    let htpasswd = files.path().join("htpasswd");
    write_htpasswd(&htpasswd, &[(user, password)]).unwrap();
    let registry = TestRegistry::builder()
        .htpasswd(&htpasswd)
        .start()
        .expect("starting a Basic-auth registry");
    push_image(&registry.client_as(user, password).unwrap(), image).unwrap();
    (registry, files)
}

/// The manifest of a single-platform image, or of `platform` in an index.
pub fn manifest_of(image: &TestImage, platform: Option<&str>) -> (Digest, Vec<u8>, Manifest) {
    let (digest, bytes) = match platform {
        None => (image.top.0.digest.clone(), image.top.1.clone()),
        Some(p) => {
            let (d, b) = image
                .manifests
                .iter()
                .find(|(d, _)| d.platform.as_ref().unwrap().to_string() == p)
                .unwrap_or_else(|| panic!("{} has no {p}", image.reference()));
            (d.digest.clone(), b.clone())
        }
    };
    match Document::parse(None, &bytes).unwrap() {
        Document::Manifest(m) => (digest, bytes, *m),
        Document::Index(_) => panic!("{} is an index", image.reference()),
    }
}

/// Bytes of a manifest's config and layers: what a fresh pull downloads.
pub fn blob_bytes(m: &Manifest) -> u64 {
    m.config.size + m.layers.iter().map(|l| l.size).sum::<u64>()
}

/// The architecture the stored config of image `id` names.
pub fn stored_architecture(store: &Store, config: &Digest) -> String {
    let bytes = store.read_blob(config).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    v["architecture"].as_str().unwrap().to_owned()
}

/// The partial download files in `<root>/ingest/` (not their lock files), with sizes.
pub fn partials(root: &Path) -> Vec<(PathBuf, u64)> {
    let Ok(rd) = std::fs::read_dir(root.join("ingest")) else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_none())
        .filter_map(|p| std::fs::metadata(&p).ok().map(|m| (p, m.len())))
        .collect()
}
