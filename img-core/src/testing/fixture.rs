//! The fixture most tool tests start from: a real registry seeded with the standard test
//! images, an empty store and config in a temporary directory, real pulls into it, and
//! the tools' binaries run against it with the environment pointing there.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{TestImage, TestRegistry, push_image, standard_set};
use crate::error::Result;
use crate::ops::progress::NoProgress;
use crate::ops::pull::{PullOptions, Pulled, pull};
use crate::reference::Reference;
use crate::settings::Config;
use crate::store::Store;

/// A seeded registry plus a private store, config and home.
pub struct Fixture {
    /// The registry (plain HTTP on 127.0.0.1).
    pub registry: TestRegistry,
    /// What was pushed to it.
    pub images: Vec<TestImage>,
    dir: tempfile::TempDir,
}

impl Fixture {
    /// Starts a registry and pushes [`standard_set`] to it.
    pub fn new() -> Result<Fixture> {
        let registry = TestRegistry::start()?;
        let client = registry.client()?;
        let images = standard_set();
        for image in &images {
            push_image(&client, image)?;
        }
        let dir = tempfile::tempdir().map_err(|e| crate::Error::io(e, "creating a temp dir"))?;
        for sub in ["store", "config", "home"] {
            std::fs::create_dir_all(dir.path().join(sub))
                .map_err(|e| crate::Error::io(e, "creating the fixture's directories"))?;
        }
        Ok(Fixture {
            registry,
            images,
            dir,
        })
    }

    /// The store root.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// A scratch directory of the fixture's own.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Opens the store.
    pub fn store(&self) -> Result<Store> {
        Store::open(&self.root())
    }

    /// `127.0.0.1:PORT/<name>`: a test image's name on this registry (`test/multi:latest`).
    pub fn reference(&self, name: &str) -> String {
        format!("{}/{name}", self.registry.addr())
    }

    /// Tags the store's image `from` (a test image's name on this registry, pulled
    /// already) as `to`, a full reference (`latest` when it has no tag), through the
    /// index as img-tag would.
    pub fn tag(&self, from: &str, to: &str) -> Result<()> {
        let store = self.store()?;
        let from = Reference::parse_normalized(&self.reference(from))?;
        let image = store
            .index()
            .image_by_tag(&from.name(), from.tag().unwrap_or("latest"))?
            .ok_or_else(|| {
                crate::Error::new(
                    crate::error::ErrorKind::NotFound,
                    format!("{from} is not in the store"),
                )
            })?;
        let to = Reference::parse_normalized(to)?;
        store
            .index()
            .tag(&image.id, &to.name(), to.tag().unwrap_or("latest"))?;
        Ok(())
    }

    /// Pulls `name` (`test/alpine-like:latest`) into the store for the host platform, a
    /// real pull through img-core.
    pub fn pull(&self, name: &str) -> Result<Pulled> {
        self.pull_with(name, &PullOptions::default())
    }

    /// Pulls every platform of `name` (`--all-platforms`: the tag names the index).
    pub fn pull_all_platforms(&self, name: &str) -> Result<Pulled> {
        self.pull_with(
            name,
            &PullOptions {
                all_platforms: true,
                ..PullOptions::default()
            },
        )
    }

    /// Pulls `name` with `options` (`jobs` 0 means the default).
    pub fn pull_with(&self, name: &str, options: &PullOptions) -> Result<Pulled> {
        let mut options = options.clone();
        if options.jobs == 0 {
            options.jobs = crate::settings::DEFAULT_JOBS;
        }
        let reference = Reference::parse_normalized(&self.reference(name))?;
        let store = self.store()?;
        let mut pulled = pull(
            &store,
            &reference,
            &options,
            &Config::default(),
            &NoProgress,
        )?;
        Ok(pulled.remove(0))
    }

    /// Runs `program` (a tool's binary) on this fixture with `args`, `input` on stdin.
    #[track_caller]
    pub fn run(&self, program: &str, args: &[&str], input: Option<&str>) -> super::Run {
        super::run(self.command(program).args(args), input)
    }

    /// Runs `program` on this fixture with `args` on a pseudo-terminal, and returns what
    /// the terminal showed (see [`super::run::on_terminal`]).
    #[track_caller]
    pub fn on_terminal(&self, program: &str, args: &[&str]) -> String {
        super::run::on_terminal(self.command(program).args(args))
    }

    /// The pushed test image named `name` (`test/multi`, with or without its tag).
    #[track_caller]
    pub fn image(&self, name: &str) -> &TestImage {
        self.images
            .iter()
            .find(|i| i.name == name || i.reference() == name)
            .unwrap_or_else(|| panic!("no test image {name}"))
    }

    /// A command running `program` (a tool's binary, `env!("CARGO_BIN_EXE_img-ls")`) on
    /// this fixture's store, with config, credentials and certs.d looked up only inside
    /// the fixture.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        sandboxed(&mut cmd, self.dir.path(), &self.root());
        cmd
    }
}

/// Points `cmd` at the store `root` and at a config, home and docker config inside `dir`
/// only (`dir/config/img-config.json`, `dir/config`, `dir/home`, `dir/home/.docker`), and
/// removes the variables of the machine's that would reach elsewhere or change limits.
pub fn sandboxed<'c>(cmd: &'c mut Command, dir: &Path, root: &Path) -> &'c mut Command {
    cmd.env("IMG_ROOT", root)
        .env("IMG_CONFIG", dir.join("config/img-config.json"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_DATA_HOME", dir.join("home/.local/share"))
        .env("HOME", dir.join("home"))
        .env("DOCKER_CONFIG", dir.join("home/.docker"))
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("DOCKER_DEFAULT_PLATFORM")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("IMG_STALL_TIMEOUT")
        .env_remove("IMG_STALL_BUDGET")
}
