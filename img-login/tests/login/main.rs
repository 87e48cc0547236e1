//! img-login's integration tests: the `img-login` binary against the real docker-registry
//! (htpasswd Basic auth over TLS, token auth), storing in `auths`, in
//! `REGISTRY_AUTH_FILE` and through Debian's `docker-credential-pass`; then `img-pull`,
//! and docker itself, using what it stored. One test binary with a module a theme.
//!
//! Every run gets a private home, docker config and store ([`Sandbox`]); nothing outside
//! the temporary directories is read or written.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use img_core::testing::{
    BasicTlsRegistry, Run, TestImage, TestRegistry, push_image, run, standard_set,
};

mod basic;
mod docker;
mod helper;
mod token;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_img-login");

pub const USER: &str = "alice";
pub const PASSWORD: &str = "Corr3ct-Horse-Battery";
pub const WRONG: &str = "Wr0ng-Pa55word-zq";

/// A private store, config home and docker config for one test.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

// Each test makes its own with new(): a Default would hide the temp dir it creates.
#[allow(clippy::new_without_default)]
impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().expect("creating a temp dir");
        for sub in ["store", "config/img", "home/.docker"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        Sandbox { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `$DOCKER_CONFIG`.
    pub fn docker_config(&self) -> PathBuf {
        self.path().join("home/.docker")
    }

    /// `$DOCKER_CONFIG/config.json`.
    pub fn config_file(&self) -> PathBuf {
        self.docker_config().join("config.json")
    }

    /// The docker config as JSON (it must exist).
    #[track_caller]
    pub fn config(&self) -> serde_json::Value {
        read_json(&self.config_file())
    }

    /// Trusts `ca_pem` for `host` through `$XDG_CONFIG_HOME/img/certs.d/<host>/ca.crt`.
    pub fn trust(&self, host: &str, ca_pem: &str) {
        let dir = self.path().join("config/img/certs.d").join(host);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.crt"), ca_pem).unwrap();
    }

    /// `program` with the environment pointing into the sandbox only.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        img_core::testing::fixture::sandboxed(&mut cmd, self.path(), &self.path().join("store"));
        cmd
    }

    /// img-login with `args`, `input` on stdin.
    pub fn login(&self, args: &[&str], input: Option<&str>) -> Run {
        run(self.command(BIN).args(args), input)
    }

    /// img-pull of `reference`.
    pub fn pull(&self, reference: &str) -> Run {
        run(self.command(img_pull()).arg(reference), None)
    }
}

#[track_caller]
pub fn read_json(path: &Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// base64 of `user:password`, as `auths` holds it.
pub fn auth_of(user: &str, password: &str) -> String {
    BASE64.encode(format!("{user}:{password}"))
}

/// Asserts that neither output of `run` shows `secret`, plain or encoded.
#[track_caller]
pub fn no_secret(run: &Run, secret: &str) {
    let encoded = auth_of(USER, secret);
    for shown in [&run.stdout, &run.stderr] {
        assert!(!shown.contains(secret), "the secret leaked: {shown}");
        assert!(!shown.contains(&encoded), "the secret leaked: {shown}");
    }
}

/// The img-pull binary beside img-login's, built (or found up to date) once.
pub fn img_pull() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let status = Command::new(cargo)
                .args(["build", "--quiet", "-p", "img-pull"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("running cargo build -p img-pull");
            assert!(status.success(), "cargo build -p img-pull failed");
            let pull = Path::new(BIN).parent().unwrap().join("img-pull");
            assert!(pull.is_file(), "img-pull is not at {}", pull.display());
            pull
        })
        .clone()
}

/// A registry requiring Basic auth (htpasswd) over TLS, its CA, and an image pushed.
pub struct BasicTls {
    pub registry: BasicTlsRegistry,
    pub ca_pem: String,
    pub image: TestImage,
}

impl BasicTls {
    pub fn start() -> BasicTls {
        let registry = BasicTlsRegistry::start("img-login test ca", &[(USER, PASSWORD)])
            .expect("starting a Basic-auth TLS registry");
        let image = standard_set().remove(0);
        let pusher = registry.registry.client_as(USER, PASSWORD).unwrap();
        push_image(&pusher, &image).unwrap();
        BasicTls {
            ca_pem: registry.ca.cert_pem(),
            registry,
            image,
        }
    }

    pub fn host(&self) -> String {
        self.registry.host()
    }

    pub fn reference(&self) -> String {
        format!("{}/{}", self.host(), self.image.reference())
    }

    /// A sandbox that trusts the registry's CA.
    pub fn sandbox(&self) -> Sandbox {
        let s = Sandbox::new();
        s.trust(&self.host(), &self.ca_pem);
        s
    }
}

/// Asserts a successful login: `Login Succeeded` alone on stdout.
#[track_caller]
pub fn succeeded(run: &Run) {
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(run.stdout, "Login Succeeded\n", "{run:#?}");
}
