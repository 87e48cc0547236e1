//! Where things live and what the config file says: the store root, the config file
//! (shaped like docker's daemon.json), and the `certs.d` directories.
//!
//! The config file is `$IMG_CONFIG`, else `$XDG_CONFIG_HOME/img/config.json`, else
//! `~/.config/img/config.json`. A missing file is an empty config; a malformed one is an
//! error naming the file, never silently ignored.
//!
//! ```json
//! {
//!   "insecure-registries": ["myregistry.lan:5000"],
//!   "mirrors": {"docker.io": ["https://mirror.example.com"]},
//!   "hub-index": "https://index.docker.io",
//!   "jobs": 6
//! }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, ErrorKind, Result};

/// The default number of parallel downloads.
pub const DEFAULT_JOBS: usize = 6;

/// Docker Hub's search index, where `img-search` asks by default.
pub const DEFAULT_HUB_INDEX: &str = "https://index.docker.io";

/// The store root: `--root` if given, else `IMG_ROOT`, else `$XDG_DATA_HOME/img`, else
/// `~/.local/share/img`.
pub fn store_root(flag: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = non_empty_env("IMG_ROOT") {
        return Ok(PathBuf::from(p));
    }
    if let Some(p) = non_empty_env("XDG_DATA_HOME") {
        return Ok(PathBuf::from(p).join("img"));
    }
    Ok(home()?.join(".local/share/img"))
}

/// The config file's path (see the module docs for the order).
pub fn config_path() -> Result<PathBuf> {
    if let Some(p) = non_empty_env("IMG_CONFIG") {
        return Ok(PathBuf::from(p));
    }
    Ok(config_home()?.join("img/config.json"))
}

/// `$XDG_CONFIG_HOME`, else `~/.config`.
pub fn config_home() -> Result<PathBuf> {
    if let Some(p) = non_empty_env("XDG_CONFIG_HOME") {
        return Ok(PathBuf::from(p));
    }
    Ok(home()?.join(".config"))
}

fn home() -> Result<PathBuf> {
    non_empty_env("HOME").map(PathBuf::from).ok_or_else(|| {
        Error::new(
            ErrorKind::Usage,
            "HOME is not set: give the store with --root or IMG_ROOT",
        )
    })
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The settings read from the config file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Registries (`host[:port]`) reached over plain HTTP or unverified TLS.
    #[serde(rename = "insecure-registries", default)]
    pub insecure_registries: Vec<String>,
    /// Mirrors tried in order before a registry: `{"docker.io": ["https://…"]}`.
    #[serde(default)]
    pub mirrors: BTreeMap<String, Vec<String>>,
    /// Where `img-search` asks (docker's index).
    #[serde(rename = "hub-index", default)]
    pub hub_index: Option<String>,
    /// Parallel downloads.
    #[serde(default)]
    pub jobs: Option<usize>,
}

impl Config {
    /// Reads the config file; a missing file is the empty config.
    pub fn load() -> Result<Config> {
        Config::load_from(&config_path()?)
    }

    /// Reads the config file at `path`; a missing file is the empty config.
    pub fn load_from(path: &Path) -> Result<Config> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(Error::io(e, format!("reading config {}", path.display()))),
        };
        let config: Config = serde_json::from_slice(&bytes).map_err(|e| {
            Error::new(
                ErrorKind::Usage,
                format!("config {} is not valid: {e}", path.display()),
            )
        })?;
        if config.jobs == Some(0) {
            return Err(Error::new(
                ErrorKind::Usage,
                format!("config {}: \"jobs\" must be at least 1", path.display()),
            ));
        }
        Ok(config)
    }

    /// Whether `host` (`host[:port]`) is listed as insecure.
    pub fn is_insecure(&self, host: &str) -> bool {
        self.insecure_registries.iter().any(|h| {
            let h = h
                .trim_start_matches("http://")
                .trim_start_matches("https://");
            h.trim_end_matches('/') == host
        })
    }

    /// The mirrors configured for `domain` (`docker.io`, `host:port`), in order.
    pub fn mirrors_for(&self, domain: &str) -> &[String] {
        self.mirrors.get(domain).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Parallel downloads: the config's `jobs`, else [`DEFAULT_JOBS`].
    pub fn jobs(&self) -> usize {
        self.jobs.unwrap_or(DEFAULT_JOBS)
    }

    /// The search index URL.
    pub fn hub_index(&self) -> &str {
        self.hub_index.as_deref().unwrap_or(DEFAULT_HUB_INDEX)
    }
}

/// The `certs.d` directories for `host` (`host[:port]`), in lookup order:
/// `$XDG_CONFIG_HOME/img/certs.d/<host>`, `/etc/docker/certs.d/<host>`,
/// `/etc/containers/certs.d/<host>`. Only those that exist are returned.
pub fn certs_dirs(host: &str) -> Result<Vec<PathBuf>> {
    if host.is_empty() || host.contains('/') || host.starts_with('.') {
        return Err(Error::new(
            ErrorKind::InvalidReference,
            format!("invalid registry host {host:?}"),
        ));
    }
    let mut bases = vec![config_home()?.join("img/certs.d")];
    bases.push(PathBuf::from("/etc/docker/certs.d"));
    bases.push(PathBuf::from("/etc/containers/certs.d"));
    Ok(bases
        .into_iter()
        .map(|b| b.join(host))
        .filter(|d| d.is_dir())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_parses_daemon_json_shape() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.json");
        std::fs::write(
            &p,
            r#"{"insecure-registries":["reg.lan:5000"],"mirrors":{"docker.io":["https://m.example"]},"jobs":3}"#,
        )
        .unwrap();
        let c = Config::load_from(&p).unwrap();
        assert!(c.is_insecure("reg.lan:5000"));
        assert!(!c.is_insecure("reg.lan"));
        assert_eq!(c.mirrors_for("docker.io"), ["https://m.example"]);
        assert!(c.mirrors_for("quay.io").is_empty());
        assert_eq!(c.jobs(), 3);
        assert_eq!(c.hub_index(), DEFAULT_HUB_INDEX);
    }

    #[test]
    fn missing_config_is_empty_and_bad_config_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("none.json");
        assert_eq!(Config::load_from(&p).unwrap(), Config::default());
        std::fs::write(&p, r#"{"insecure-registry":[]}"#).unwrap();
        let err = Config::load_from(&p).unwrap_err();
        assert!(err.to_string().contains("none.json is not valid"), "{err}");
        std::fs::write(&p, r#"{"jobs":0}"#).unwrap();
        assert!(Config::load_from(&p).is_err());
    }

    #[test]
    fn store_root_prefers_the_flag() {
        assert_eq!(
            store_root(Some(Path::new("/x"))).unwrap(),
            PathBuf::from("/x")
        );
    }

    #[test]
    fn certs_dirs_refuses_path_tricks() {
        assert!(certs_dirs("../etc").is_err());
        assert!(certs_dirs("a/b").is_err());
    }
}
