//! img-search's own small dockerd harness (to be unified with the shared
//! `img_core::testing::dockerd` another branch adds): Debian's docker.io daemon started as
//! root in a temporary directory — vfs storage, no iptables, no bridge, loopback registries
//! insecure, its own data root, exec root, pidfile and socket — and stopped by its pid.
//! The machine's `docker` CLI talks to it through `DOCKER_HOST`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running dockerd; stopped (SIGTERM, then SIGKILL) and waited for on drop.
pub struct SearchTestDockerd {
    child: Child,
    dir: tempfile::TempDir,
}

impl SearchTestDockerd {
    /// Starts dockerd and waits until it answers; panics with what is missing, or with the
    /// daemon's log, when it cannot start.
    pub fn start() -> SearchTestDockerd {
        let which = |name: &str| {
            std::env::var_os("PATH")
                .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
                .unwrap_or(false)
                || Path::new("/usr/sbin").join(name).is_file()
        };
        assert!(
            which("dockerd"),
            "dockerd cannot start: it is not installed (Debian package docker.io)"
        );
        assert!(
            which("docker"),
            "the docker CLI is not installed: docker search is the reference output"
        );
        let dir = tempfile::Builder::new()
            .prefix("dkd")
            .tempdir_in("/tmp")
            .expect("a temp dir for dockerd");
        let d = dir.path();
        let log = std::fs::File::create(d.join("dockerd.log")).unwrap();
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
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("dockerd cannot start: {e}"));
        let mut daemon = SearchTestDockerd { child, dir };
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
                return daemon;
            }
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!(
                    "dockerd cannot start (it exited with {status}; are we root?): {}",
                    daemon.log_tail()
                );
            }
            assert!(
                Instant::now() < deadline,
                "dockerd did not answer within 60 s: {}",
                daemon.log_tail()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The daemon's last log lines.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// The docker CLI talking to this daemon, with a private, empty client config.
    pub fn docker(&self) -> Command {
        let mut cmd = Command::new("docker");
        let cli_config = self.dir.path().join("cli");
        let _ = std::fs::create_dir_all(&cli_config);
        cmd.env(
            "DOCKER_HOST",
            format!("unix://{}", self.dir.path().join("docker.sock").display()),
        )
        .env("DOCKER_CONFIG", cli_config)
        .env_remove("DOCKER_CONTEXT");
        cmd
    }
}

impl Drop for SearchTestDockerd {
    fn drop(&mut self) {
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
