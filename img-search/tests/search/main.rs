//! img-search's integration tests: the `img-search` binary against a fake Docker Hub
//! index (an in-process server answering `/v1/search` with Docker Hub's shape), compared
//! byte for byte with docker's own `docker search` through a real dockerd; against the
//! real docker-registry for catalogs and tags (plain, token auth, and behind a proxy that
//! pages tags/list with `Link`); and piped into the real img-pull.
//!
//! Every run gets a private config, home and store (a [`Sandbox`]).

use std::path::{Path, PathBuf};
use std::process::Command;

use img_core::testing::{Run, run};

mod auth;
mod catalog;
mod docker_parity;
mod dockerd;
mod fake_index;
mod hub;
mod paging_proxy;
mod tags;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_img-search");

/// A private store, config home and docker config for one test.
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
        for sub in ["store", "config/img", "home/.docker"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        Sandbox { dir }
    }

    /// A sandbox whose config points `hub-index` at `url`.
    pub fn with_index(url: &str) -> Sandbox {
        let s = Sandbox::new();
        s.config_json(&serde_json::json!({ "hub-index": url }));
        s
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn root(&self) -> PathBuf {
        self.path().join("store")
    }

    /// Writes the img config file (`$IMG_CONFIG`).
    pub fn config_json(&self, json: &serde_json::Value) {
        std::fs::write(self.path().join("config/img-config.json"), json.to_string()).unwrap();
    }

    /// Writes `$DOCKER_CONFIG/config.json`.
    pub fn docker_config_json(&self, json: &serde_json::Value) {
        std::fs::write(
            self.path().join("home/.docker/config.json"),
            json.to_string(),
        )
        .unwrap();
    }

    /// `program` with the environment pointing into the sandbox only.
    pub fn command_for(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        img_core::testing::fixture::sandboxed(&mut cmd, self.path(), &self.root());
        cmd
    }

    /// img-search in the sandbox.
    pub fn command(&self) -> Command {
        self.command_for(BIN)
    }

    /// Runs img-search with `args` (stdout a pipe).
    #[track_caller]
    pub fn search(&self, args: &[&str]) -> Run {
        run(self.command().args(args), None)
    }

    /// Runs img-search with `args` on a terminal; what the terminal showed.
    #[track_caller]
    pub fn on_terminal(&self, args: &[&str]) -> String {
        img_core::testing::on_terminal(self.command().args(args))
    }

    /// Runs `img-search ARGS | img-pull` through `bash -o pipefail`, both tools in the
    /// sandbox; the pipeline's run (img-pull's records on stdout).
    #[track_caller]
    pub fn search_into_pull(&self, args: &[&str]) -> Run {
        let quoted: Vec<String> = args
            .iter()
            .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
            .collect();
        let line = format!(
            "'{}' {} | '{}'",
            BIN,
            quoted.join(" "),
            img_pull().display()
        );
        let mut cmd = self.command_for("bash");
        cmd.args(["-o", "pipefail", "-c", &line]);
        run(&mut cmd, None)
    }
}

/// The img-pull binary beside img-search's, built first when `cargo test -p img-search`
/// did not build it (`cargo test --workspace` does).
pub fn img_pull() -> PathBuf {
    let dir = Path::new(BIN).parent().expect("the binary's directory");
    let pull = dir.join("img-pull");
    if !pull.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(cargo)
            .args(["build", "-p", "img-pull"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("running cargo build -p img-pull");
        assert!(status.success(), "cargo build -p img-pull failed");
    }
    assert!(pull.is_file(), "img-pull is not in {}", dir.display());
    pull
}

/// stdout as JSON Lines values.
#[track_caller]
pub fn lines(r: &Run) -> Vec<serde_json::Value> {
    r.records()
}
