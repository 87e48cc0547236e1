//! A real docker daemon for interop tests: Debian's `dockerd` (docker.io), run as root with
//! the vfs storage driver, no iptables and no bridge, everything (data, exec root, pid file,
//! socket) in a temporary directory of its own; the `docker` CLI talks to it through
//! `DOCKER_HOST`. Stopped by its pid (SIGTERM, then SIGKILL) when dropped.
//!
//! ```no_run
//! use img_core::testing::Dockerd;
//! # fn main() -> img_core::Result<()> {
//! let docker = Dockerd::start()?;
//! let out = docker.docker(&["version"]).output().expect("running docker");
//! # Ok(()) }
//! ```

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};

/// How long the daemon may take to answer.
const STARTUP: Duration = Duration::from_secs(60);

/// A running dockerd.
pub struct Dockerd {
    child: Child,
    dir: tempfile::TempDir,
}

impl Dockerd {
    /// Starts dockerd and waits until `docker version` answers; fails saying plainly why
    /// (not installed, not root, its log's last lines).
    pub fn start() -> Result<Dockerd> {
        let dir = tempfile::Builder::new()
            .prefix("img-dockerd")
            .tempdir()
            .map_err(|e| Error::io(e, "creating dockerd's directory"))?;
        let d = dir.path();
        let log = std::fs::File::create(d.join("dockerd.log"))
            .map_err(|e| Error::io(e, "creating dockerd's log"))?;
        let log2 = log
            .try_clone()
            .map_err(|e| Error::io(e, "creating dockerd's log"))?;
        let child = Command::new("dockerd")
            .args(["--storage-driver", "vfs", "--iptables=false", "--bridge=none"])
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", d.join("docker.sock").display()))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| {
                Error::new(
                    ErrorKind::NotFound,
                    format!("dockerd cannot start (install Debian's docker.io package; it runs as root): {e}"),
                )
            })?;
        let mut docker = Dockerd { child, dir };
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = docker.child.try_wait() {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!(
                        "dockerd exited at once ({status}); its log ends: {}",
                        docker.log_tail()
                    ),
                ));
            }
            let ok = docker
                .docker(&["version", "--format", "{{.Server.Version}}"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return Ok(docker);
            }
            if started.elapsed() > STARTUP {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!(
                        "dockerd did not answer within a minute; its log ends: {}",
                        docker.log_tail()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The `DOCKER_HOST` value that reaches this daemon.
    pub fn host(&self) -> String {
        format!("unix://{}", self.dir.path().join("docker.sock").display())
    }

    /// A `docker` CLI command talking to this daemon, with its own config directory.
    pub fn docker(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("docker");
        cmd.env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.path().join("cli"))
            .args(args);
        cmd
    }

    /// A scratch directory of the daemon's.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last lines of the daemon's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // SIGTERM first, so that dockerd stops the containerd it started; our own child,
        // by its pid, never by name.
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
