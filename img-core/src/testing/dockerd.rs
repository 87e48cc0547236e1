//! A real dockerd for parity and interop tests (one harness for every tool's tests):
//! Debian's docker.io daemon started as root in a temporary directory — vfs storage, no
//! iptables, no bridge, loopback registries insecure, its own data root, exec root,
//! pidfile and socket — and stopped by its pid. The machine's `docker` CLI talks to it
//! through `DOCKER_HOST`, with a private, empty client config.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};

/// A running dockerd; stopped (SIGTERM, then SIGKILL) and waited for on drop.
pub struct TestDockerd {
    child: Child,
    dir: tempfile::TempDir,
}

fn installed(name: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false)
        || Path::new("/usr/sbin").join(name).is_file()
}

fn cannot_start(why: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!("dockerd cannot start: {why}"),
    )
}

impl TestDockerd {
    /// Starts dockerd and waits (up to a minute) until the CLI gets an answer. The error
    /// says plainly why it cannot start: not installed, not root, or the daemon's log.
    pub fn start() -> Result<TestDockerd> {
        if !installed("dockerd") {
            return Err(cannot_start(
                "it is not installed (Debian package docker.io)",
            ));
        }
        if !installed("docker") {
            return Err(cannot_start(
                "the docker CLI is not installed, and it is the reference output",
            ));
        }
        let dir = tempfile::Builder::new()
            .prefix("dkd")
            .tempdir_in("/tmp")
            .map_err(|e| Error::io(e, "creating a temp dir for dockerd"))?;
        let d = dir.path();
        let log = std::fs::File::create(d.join("dockerd.log"))
            .map_err(|e| Error::io(e, "creating dockerd's log"))?;
        let log2 = log
            .try_clone()
            .map_err(|e| Error::io(e, "creating dockerd's log"))?;
        let dockerd = if Path::new("/usr/sbin/dockerd").is_file() {
            PathBuf::from("/usr/sbin/dockerd")
        } else {
            PathBuf::from("dockerd")
        };
        let child = Command::new(dockerd)
            .args([
                "--storage-driver",
                "vfs",
                "--iptables=false",
                "--bridge=none",
            ])
            .args(["--insecure-registry", "127.0.0.0/8"])
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", d.join("docker.sock").display()))
            .stdin(Stdio::null())
            .stdout(log2)
            .stderr(log)
            .spawn()
            .map_err(cannot_start)?;
        let mut daemon = TestDockerd { child, dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let up = daemon
                .docker()
                .arg("version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if up {
                return Ok(daemon);
            }
            if let Ok(Some(status)) = daemon.child.try_wait() {
                return Err(cannot_start(format!(
                    "it exited with {status} (it needs root): {}",
                    daemon.log_tail()
                )));
            }
            if Instant::now() > deadline {
                return Err(cannot_start(format!(
                    "it did not answer within 60 s: {}",
                    daemon.log_tail()
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The daemon's last log lines.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// The `DOCKER_HOST` value that reaches this daemon.
    pub fn host(&self) -> String {
        format!("unix://{}", self.dir.path().join("docker.sock").display())
    }

    /// The docker CLI talking to this daemon, with a private, empty client config.
    pub fn docker(&self) -> Command {
        let mut cmd = Command::new("docker");
        let cli_config = self.dir.path().join("cli");
        let _ = std::fs::create_dir_all(&cli_config);
        cmd.env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", cli_config)
            .env_remove("DOCKER_CONTEXT");
        cmd
    }

    /// A scratch directory beside the daemon's, removed with it.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TestDockerd {
    fn drop(&mut self) {
        // By its pid: only the daemon this harness started.
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
