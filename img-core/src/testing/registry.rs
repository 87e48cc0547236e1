//! A real registry for tests and `cargo xtask registry`: Debian's `docker-registry`
//! (distribution 2.8) started on 127.0.0.1 with a generated config, its port read from its
//! own log, and stopped — even when the test process is killed — when dropped.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};
use crate::registry::{ClientOptions, Credentials, RegistryClient, SchemePolicy};

/// Where Debian installs the registry, used when it is not on PATH.
const DEFAULT_BINARY: &str = "/usr/bin/docker-registry";
/// How many of the registry's last log lines we keep to explain a failure.
const LOG_LINES: usize = 200;

/// The registry's token authentication settings (`auth.token` in its config).
#[derive(Debug, Clone)]
pub struct TokenAuthConfig {
    /// The token server's URL the registry sends clients to.
    pub realm: String,
    /// The service name tokens are issued for.
    pub service: String,
    /// The issuer the tokens must name.
    pub issuer: String,
    /// PEM bundle of the certificates whose keys sign tokens.
    pub root_cert_bundle: PathBuf,
}

/// Options for [`TestRegistry`]; [`TestRegistry::start`] uses the defaults.
#[derive(Debug, Clone, Default)]
pub struct TestRegistryBuilder {
    port: Option<u16>,
    workdir: Option<PathBuf>,
    htpasswd: Option<PathBuf>,
    tls: Option<(PathBuf, PathBuf)>,
    client_cas: Vec<PathBuf>,
    listen: Option<IpAddr>,
    token: Option<TokenAuthConfig>,
    startup_timeout: Option<Duration>,
    storage: Option<PathBuf>,
}

impl TestRegistryBuilder {
    /// Listen on this port instead of one the kernel picks.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Keep the config and storage in `dir` (emptied first) instead of a temporary
    /// directory, so an interrupted run leaves nothing behind elsewhere.
    pub fn workdir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.workdir = Some(dir.into());
        self
    }

    /// Require HTTP Basic authentication against this htpasswd file (bcrypt entries
    /// only; the registry refuses Basic over plain HTTP unless TLS is set too).
    pub fn htpasswd(mut self, path: impl Into<PathBuf>) -> Self {
        self.htpasswd = Some(path.into());
        self
    }

    /// Serve HTTPS with this certificate and key (PEM files).
    pub fn tls(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.tls = Some((cert.into(), key.into()));
        self
    }

    /// Require a client certificate signed by one of these CAs (PEM files): mutual TLS,
    /// the registry's `http.tls.clientcas`. Only with [`tls`](Self::tls).
    pub fn client_ca(mut self, ca: impl Into<PathBuf>) -> Self {
        self.client_cas.push(ca.into());
        self
    }

    /// Listen on `ip` instead of 127.0.0.1 (an address of another interface: a registry
    /// that is not on loopback, for the plain-HTTP rules).
    pub fn listen(mut self, ip: IpAddr) -> Self {
        self.listen = Some(ip);
        self
    }

    /// Require bearer tokens from a token server.
    pub fn token_auth(mut self, config: TokenAuthConfig) -> Self {
        self.token = Some(config);
        self
    }

    /// Keep the blobs and repositories in `dir` (not emptied), which another registry
    /// may serve too: two registries over one storage are one registry behind two
    /// origins, as a registry and the object storage it sends uploads to are.
    pub fn storage(mut self, dir: impl Into<PathBuf>) -> Self {
        self.storage = Some(dir.into());
        self
    }

    /// How long to wait for the "listening on" line (default 15 s).
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = Some(timeout);
        self
    }

    /// Writes the config and starts the registry.
    pub fn start(self) -> Result<TestRegistry> {
        TestRegistry::start_with(self)
    }
}

/// A running `docker-registry`; killed and waited for on drop.
pub struct TestRegistry {
    child: Child,
    /// A shell that kills the registry when our end of its stdin closes — that is, when
    /// this process dies in any way, so no registry outlives a killed test run.
    watchdog: Option<(Child, ChildStdin)>,
    addr: String,
    tls: bool,
    dir: PathBuf,
    log: Arc<Mutex<VecDeque<String>>>,
    _tempdir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for TestRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestRegistry")
            .field("addr", &self.addr)
            .field("tls", &self.tls)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl TestRegistry {
    /// Starts a plain-HTTP registry on an ephemeral port of 127.0.0.1 with deletes
    /// enabled and storage in a temporary directory.
    pub fn start() -> Result<TestRegistry> {
        TestRegistry::builder().start()
    }

    /// Options for a registry with auth, TLS or a fixed port.
    pub fn builder() -> TestRegistryBuilder {
        TestRegistryBuilder::default()
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        self.addr.clone()
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }

    /// Whether it serves HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The directory holding its config (`config.yml`) and storage (`data/`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The registry's last log lines (stderr), for failure messages.
    pub fn log_tail(&self) -> String {
        let log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        log.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// The registry's process ID (a benchmark reads its CPU time in /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the registry process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// A client for it: plain HTTP, or HTTPS without certificate checks for a TLS
    /// registry (tests that check trust build their own options).
    pub fn client(&self) -> Result<RegistryClient> {
        RegistryClient::new(&self.addr, self.client_options())
    }

    /// [`client`](Self::client), logging in as `username` with `password` (for a registry
    /// with htpasswd or token auth).
    pub fn client_as(&self, username: &str, password: &str) -> Result<RegistryClient> {
        let options = ClientOptions {
            credentials: Some(Credentials::Basic {
                username: username.into(),
                password: password.into(),
            }),
            ..self.client_options()
        };
        RegistryClient::new(&self.addr, options)
    }

    fn client_options(&self) -> ClientOptions {
        if self.tls {
            ClientOptions {
                scheme: SchemePolicy::Https,
                tls_insecure: true,
                ..ClientOptions::default()
            }
        } else {
            ClientOptions {
                scheme: SchemePolicy::Http,
                ..ClientOptions::default()
            }
        }
    }

    fn start_with(b: TestRegistryBuilder) -> Result<TestRegistry> {
        let binary = find_binary().ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                "docker-registry is not installed: apt-get install docker-registry (Debian's package)",
            )
        })?;
        let (tempdir, dir) = match &b.workdir {
            Some(d) => {
                if d.exists() {
                    std::fs::remove_dir_all(d)
                        .map_err(|e| Error::io(e, format!("emptying {}", d.display())))?;
                }
                std::fs::create_dir_all(d)
                    .map_err(|e| Error::io(e, format!("creating {}", d.display())))?;
                (None, d.clone())
            }
            None => {
                let t = tempfile::Builder::new()
                    .prefix("img-test-registry-")
                    .tempdir()
                    .map_err(|e| Error::io(e, "creating a temporary directory"))?;
                let p = t.path().to_owned();
                (Some(t), p)
            }
        };
        let config = dir.join("config.yml");
        let data = b.storage.clone().unwrap_or_else(|| dir.join("data"));
        std::fs::write(&config, config_yaml(&b, &data))
            .map_err(|e| Error::io(e, format!("writing {}", config.display())))?;

        let mut cmd = Command::new(&binary);
        cmd.arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // REGISTRY_* variables override the config file; ours must be the whole truth.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("REGISTRY_") {
                cmd.env_remove(k);
            }
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::io(e, format!("starting {}", binary.display())))?;
        let watchdog = spawn_watchdog(child.id());

        let log = Arc::new(Mutex::new(VecDeque::new()));
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take();
        let thread_log = Arc::clone(&log);
        std::thread::spawn(move || drain_log(stderr, thread_log, tx));

        let timeout = b.startup_timeout.unwrap_or(Duration::from_secs(15));
        let mut registry = TestRegistry {
            child,
            watchdog,
            addr: String::new(),
            tls: b.tls.is_some(),
            dir,
            log,
            _tempdir: tempdir,
        };
        match rx.recv_timeout(timeout) {
            Ok(addr) => {
                registry.addr = addr;
                Ok(registry)
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // Give the exit status a moment to be reaped so we can show it.
                std::thread::sleep(Duration::from_millis(100));
                let status = registry
                    .child
                    .try_wait()
                    .ok()
                    .flatten()
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "ended its log".to_owned());
                Err(Error::new(
                    ErrorKind::Io,
                    format!(
                        "docker-registry exited before listening ({status}); its log:\n{}",
                        registry.log_tail()
                    ),
                ))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => Err(Error::new(
                ErrorKind::Io,
                format!(
                    "docker-registry did not say where it listens within {timeout:?}; its log:\n{}",
                    registry.log_tail()
                ),
            )),
        }
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        // The watchdog goes first, so it can never signal a reused pid.
        if let Some((mut w, stdin)) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
            drop(stdin);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("docker-registry"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let p = PathBuf::from(DEFAULT_BINARY);
        p.is_file().then_some(p)
    })
}

/// `sh` blocks reading its stdin (our pipe); at EOF — our process gone — it kills `pid`.
/// Without `sh` there is no watchdog; dropping the registry still stops it.
fn spawn_watchdog(pid: u32) -> Option<(Child, ChildStdin)> {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(r#"read _ignored; kill "$1" 2>/dev/null"#)
        .arg("img-test-registry-watchdog")
        .arg(pid.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let stdin = child.stdin.take()?;
    Some((child, stdin))
}

/// Reads the registry's stderr to its end: keeps the last lines, and sends the address
/// of the first "listening on" line. Running until EOF keeps the pipe from filling up.
fn drain_log(
    stderr: Option<std::process::ChildStderr>,
    log: Arc<Mutex<VecDeque<String>>>,
    tx: mpsc::Sender<String>,
) {
    let Some(stderr) = stderr else { return };
    let mut reader = BufReader::new(stderr);
    let mut tx = Some(tx);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
        if let Some(addr) = listening_addr(&line)
            && let Some(t) = tx.take()
        {
            let _ = t.send(addr);
        }
        let mut l = log.lock().unwrap_or_else(PoisonError::into_inner);
        if l.len() == LOG_LINES {
            l.pop_front();
        }
        l.push_back(line);
    }
}

/// `… msg="listening on 127.0.0.1:36231, tls" …` → `127.0.0.1:36231`.
fn listening_addr(line: &str) -> Option<String> {
    let rest = &line[line.find("listening on ")? + "listening on ".len()..];
    let addr: String = rest
        .chars()
        .take_while(|c| !matches!(c, '"' | ',' | ' '))
        .collect();
    let port = addr.rsplit(':').next()?;
    (port.parse::<u16>().is_ok_and(|p| p != 0)).then_some(addr)
}

/// The registry's config: storage in `data`, deletes on, our listen address, and the
/// optional TLS and auth sections. Paths are written as JSON strings, which YAML reads.
fn config_yaml(b: &TestRegistryBuilder, data: &Path) -> String {
    let q = |p: &Path| serde_json::Value::from(p.to_string_lossy().into_owned()).to_string();
    let s = |v: &str| serde_json::Value::from(v).to_string();
    let mut y = String::new();
    y.push_str("version: 0.1\n");
    y.push_str("log:\n  level: info\n  formatter: text\n");
    y.push_str("storage:\n  filesystem:\n");
    y.push_str(&format!("    rootdirectory: {}\n", q(data)));
    y.push_str("  delete:\n    enabled: true\n");
    y.push_str("http:\n");
    let listen = b.listen.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let addr = SocketAddr::new(listen, b.port.unwrap_or(0));
    y.push_str(&format!("  addr: {}\n", s(&addr.to_string())));
    // A fixed secret silences the "generated random secret" warning; it signs upload
    // state, so registries sharing a storage also accept each other's uploads.
    y.push_str("  secret: img-test-registry\n");
    if let Some((cert, key)) = &b.tls {
        y.push_str("  tls:\n");
        y.push_str(&format!("    certificate: {}\n", q(cert)));
        y.push_str(&format!("    key: {}\n", q(key)));
        if !b.client_cas.is_empty() {
            y.push_str("    clientcas:\n");
            for ca in &b.client_cas {
                y.push_str(&format!("      - {}\n", q(ca)));
            }
        }
    }
    if let Some(htpasswd) = &b.htpasswd {
        y.push_str("auth:\n  htpasswd:\n    realm: img-test-registry\n");
        y.push_str(&format!("    path: {}\n", q(htpasswd)));
    } else if let Some(t) = &b.token {
        y.push_str("auth:\n  token:\n");
        y.push_str(&format!("    realm: {}\n", s(&t.realm)));
        y.push_str(&format!("    service: {}\n", s(&t.service)));
        y.push_str(&format!("    issuer: {}\n", s(&t.issuer)));
        y.push_str(&format!("    rootcertbundle: {}\n", q(&t.root_cert_bundle)));
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_listening_line() {
        let line = r#"time="2026-11-27T21:07:20Z" level=info msg="listening on 127.0.0.1:36231" go.version=go1.19.8"#;
        assert_eq!(listening_addr(line).as_deref(), Some("127.0.0.1:36231"));
        let tls = r#"level=info msg="listening on 127.0.0.1:4443, tls" x=y"#;
        assert_eq!(listening_addr(tls).as_deref(), Some("127.0.0.1:4443"));
        assert_eq!(listening_addr(r#"msg="listening on 127.0.0.1:0""#), None);
        assert_eq!(
            listening_addr("level=info msg=\"redis not configured\""),
            None
        );
    }

    #[test]
    fn config_has_what_the_harness_relies_on() {
        let b = TestRegistryBuilder::default()
            .tls("/c/cert.pem", "/c/key.pem")
            .htpasswd("/c/htpasswd");
        let y = config_yaml(&b, Path::new("/tmp/x y/data"));
        assert!(y.contains("rootdirectory: \"/tmp/x y/data\"\n"), "{y}");
        assert!(y.contains("addr: \"127.0.0.1:0\"\n"), "{y}");
        assert!(y.contains("delete:\n    enabled: true"), "{y}");
        assert!(y.contains("certificate: \"/c/cert.pem\""), "{y}");
        assert!(y.contains("path: \"/c/htpasswd\""), "{y}");
        assert!(!y.contains("health"), "{y}");
        let y = config_yaml(&TestRegistryBuilder::default().port(5000), Path::new("/d"));
        assert!(y.contains("addr: \"127.0.0.1:5000\"\n"), "{y}");
        assert!(!y.contains("auth:") && !y.contains("tls:"), "{y}");
        let b = TestRegistryBuilder::default()
            .tls("/c/cert.pem", "/c/key.pem")
            .client_ca("/c/clients.pem")
            .listen(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST));
        let y = config_yaml(&b, Path::new("/d"));
        assert!(y.contains("addr: \"[::1]:0\"\n"), "{y}");
        assert!(
            y.contains("    key: \"/c/key.pem\"\n    clientcas:\n      - \"/c/clients.pem\"\n"),
            "{y}"
        );
    }
}
