//! Registry credentials, found where docker and podman users keep them: `REGISTRY_AUTH_FILE`;
//! else `$DOCKER_CONFIG/config.json` or `~/.docker/config.json` (`auths`, `credsStore`,
//! `credHelpers` through `docker-credential-<name> get`); else containers' auth.json
//! (`$XDG_RUNTIME_DIR/containers/auth.json`, `~/.config/containers/auth.json`).
//!
//! Secrets never leave this module in a printable form: [`Credentials`]' `Debug` hides
//! them, and no error message here contains one.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;

use crate::error::{Error, ErrorKind, Result};

/// The key docker uses for Docker Hub in `auths` (and hands its credential helpers).
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// A user's credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A user name and password (or personal access token).
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken`), exchanged at the token server.
    IdentityToken(String),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Basic { username, .. } => {
                write!(
                    f,
                    "Credentials::Basic {{ username: {username:?}, password: <hidden> }}"
                )
            }
            Credentials::IdentityToken(_) => f.write_str("Credentials::IdentityToken(<hidden>)"),
        }
    }
}

impl Credentials {
    /// The `Authorization: Basic …` header value for these credentials, if they are basic.
    pub fn basic_header(&self) -> Option<String> {
        match self {
            Credentials::Basic { username, password } => Some(format!(
                "Basic {}",
                BASE64.encode(format!("{username}:{password}"))
            )),
            Credentials::IdentityToken(_) => None,
        }
    }

    /// The user name, when there is one (for messages: never the secret).
    pub fn username(&self) -> Option<&str> {
        match self {
            Credentials::Basic { username, .. } => Some(username),
            Credentials::IdentityToken(_) => None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(rename = "credsStore", default)]
    creds_store: Option<String>,
    #[serde(rename = "credHelpers", default)]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// Finds the credentials for `domain` (a reference's domain: `docker.io`, `host:port`).
/// `Ok(None)` means none are configured: go anonymous.
pub fn lookup(domain: &str) -> Result<Option<Credentials>> {
    for path in auth_files()? {
        let Some(file) = read_auth_file(&path)? else {
            continue;
        };
        // Docker stops at the first config file that exists, even if it has no entry
        // for this registry; so do we, and containers' auth.json is read only when
        // there is no docker config at all.
        return from_file(&file, domain, &path);
    }
    Ok(None)
}

/// The credentials stored for `domain` in the one file `path` (missing: none), as
/// [`lookup`] reads them there; img-login's "existing credentials".
pub fn lookup_in(path: &Path, domain: &str) -> Result<Option<Credentials>> {
    match read_auth_file(path)? {
        Some(file) => from_file(&file, domain, path),
        None => Ok(None),
    }
}

/// The candidate files, in order.
fn auth_files() -> Result<Vec<PathBuf>> {
    if let Some(p) = env("REGISTRY_AUTH_FILE") {
        return Ok(vec![PathBuf::from(p)]);
    }
    let mut files = Vec::new();
    match env("DOCKER_CONFIG") {
        Some(dir) => files.push(PathBuf::from(dir).join("config.json")),
        None => {
            if let Some(home) = env("HOME") {
                files.push(PathBuf::from(home).join(".docker/config.json"));
            }
        }
    }
    if let Some(run) = env("XDG_RUNTIME_DIR") {
        files.push(PathBuf::from(run).join("containers/auth.json"));
    }
    if let Ok(config) = crate::settings::config_home() {
        files.push(config.join("containers/auth.json"));
    }
    Ok(files)
}

pub(crate) fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn read_auth_file(path: &Path) -> Result<Option<AuthFile>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::io(
                e,
                format!("reading credentials {}", path.display()),
            ));
        }
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        Error::new(
            ErrorKind::Usage,
            format!("credentials file {} is not valid JSON: {e}", path.display()),
        )
    })
}

fn from_file(file: &AuthFile, domain: &str, path: &Path) -> Result<Option<Credentials>> {
    let keys = keys_for(domain);
    for key in &keys {
        if let Some(helper) = file.cred_helpers.get(key) {
            return run_helper(helper, key);
        }
    }
    if let Some(store) = &file.creds_store {
        return run_helper(store, &keys[0]);
    }
    for (key, entry) in &file.auths {
        if keys.iter().any(|k| normalize_key(key) == *k) {
            return entry_credentials(entry, key, path);
        }
    }
    Ok(None)
}

/// The keys a registry may be stored under: docker writes Docker Hub as its v1 URL.
fn keys_for(domain: &str) -> Vec<String> {
    if domain == "docker.io" {
        vec![
            DOCKER_HUB_KEY.to_owned(),
            "docker.io".to_owned(),
            "index.docker.io".to_owned(),
            "registry-1.docker.io".to_owned(),
        ]
    } else {
        vec![domain.to_owned()]
    }
}

/// `https://host:port/v1/` and `host:port` name the same registry in `auths`.
fn normalize_key(key: &str) -> String {
    if key == DOCKER_HUB_KEY {
        return key.to_owned();
    }
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    k.split('/').next().unwrap_or(k).to_owned()
}

fn entry_credentials(entry: &AuthEntry, key: &str, path: &Path) -> Result<Option<Credentials>> {
    if let Some(token) = entry.identitytoken.as_ref().filter(|t| !t.is_empty()) {
        return Ok(Some(Credentials::IdentityToken(token.clone())));
    }
    if let Some(auth) = entry.auth.as_ref().filter(|a| !a.is_empty()) {
        let bad = || {
            Error::new(
                ErrorKind::Usage,
                format!(
                    "credentials for {key:?} in {} are not valid base64 of user:password",
                    path.display()
                ),
            )
        };
        let decoded = BASE64.decode(auth.trim()).map_err(|_| bad())?;
        let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
        let (username, password) = decoded.split_once(':').ok_or_else(bad)?;
        return Ok(Some(Credentials::Basic {
            username: username.to_owned(),
            password: password.to_owned(),
        }));
    }
    match (&entry.username, &entry.password) {
        (Some(u), Some(p)) if !u.is_empty() => Ok(Some(Credentials::Basic {
            username: u.clone(),
            password: p.clone(),
        })),
        _ => Ok(None),
    }
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Runs `docker-credential-<name> <action>` with `input` on stdin, as docker's helper
/// protocol says (`get` and `erase` take the server, `store` a JSON object). The output
/// is returned whatever the exit status: "credentials not found" is an answer.
pub(crate) fn call_helper(
    name: &str,
    action: &str,
    server: &str,
    input: &[u8],
) -> Result<std::process::Output> {
    if name.is_empty() || name.contains(['/', '\\']) {
        return Err(Error::new(
            ErrorKind::Usage,
            format!("invalid credential helper name {name:?}"),
        ));
    }
    let program = helper_program(name);
    let fail = |why: String| {
        Error::new(
            ErrorKind::Unauthorized,
            format!("credential helper {program} for {server}: {why}"),
        )
    };
    let mut child = Command::new(&program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run it: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input)
            .map_err(|e| fail(format!("writing to it: {e}")))?;
    }
    child
        .wait_with_output()
        .map_err(|e| fail(format!("waiting for it: {e}")))
}

/// `docker-credential-<name>`.
pub(crate) fn helper_program(name: &str) -> String {
    format!("docker-credential-{name}")
}

/// Whether a helper's failed answer is the protocol's "nothing stored".
pub(crate) fn helper_found_nothing(out: &std::process::Output) -> bool {
    // The protocol's words, and pass's (docker-credential-pass says the entry "is not
    // in the password store" when erasing one it never had).
    let said = String::from_utf8_lossy(&out.stdout);
    said.contains("credentials not found") || said.contains("is not in the password store")
}

/// Asks `docker-credential-<name> get` for `server`'s credentials.
fn run_helper(name: &str, server: &str) -> Result<Option<Credentials>> {
    let out = call_helper(name, "get", server, server.as_bytes())?;
    let fail = |why: String| {
        Error::new(
            ErrorKind::Unauthorized,
            format!(
                "credential helper {} for {server}: {why}",
                helper_program(name)
            ),
        )
    };
    if !out.status.success() {
        // The helper protocol's way of saying "nothing stored": go anonymous.
        if helper_found_nothing(&out) {
            return Ok(None);
        }
        return Err(fail(format!("it exited with {}", out.status)));
    }
    let answer: HelperAnswer = serde_json::from_slice(&out.stdout)
        .map_err(|_| fail("its answer is not the helper protocol's JSON".to_owned()))?;
    if answer.secret.is_empty() {
        return Ok(None);
    }
    if answer.username == "<token>" {
        return Ok(Some(Credentials::IdentityToken(answer.secret)));
    }
    Ok(Some(Credentials::Basic {
        username: answer.username,
        password: answer.secret,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(json: &str) -> AuthFile {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn auth_field_is_base64_user_password() {
        let f =
            file(r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNzOndvcmQ="}}}"#);
        let c = from_file(&f, "docker.io", Path::new("x")).unwrap().unwrap();
        assert_eq!(
            c,
            Credentials::Basic {
                username: "user".into(),
                password: "pass:word".into()
            }
        );
        assert_eq!(c.basic_header().unwrap(), "Basic dXNlcjpwYXNzOndvcmQ=");
    }

    #[test]
    fn keys_with_scheme_and_path_match_the_host() {
        let f = file(r#"{"auths":{"https://reg.lan:5000/v2/":{"username":"a","password":"b"}}}"#);
        assert!(
            from_file(&f, "reg.lan:5000", Path::new("x"))
                .unwrap()
                .is_some()
        );
        assert!(from_file(&f, "reg.lan", Path::new("x")).unwrap().is_none());
    }

    #[test]
    fn bad_base64_names_the_registry_not_the_secret() {
        let f = file(r#"{"auths":{"reg.lan":{"auth":"!!!secret!!!"}}}"#);
        let err = from_file(&f, "reg.lan", Path::new("/c.json")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("reg.lan") && msg.contains("/c.json"), "{msg}");
        assert!(!msg.contains("secret"), "{msg}");
    }

    #[test]
    fn identity_token_wins() {
        let f = file(r#"{"auths":{"reg.lan":{"auth":"dTpw","identitytoken":"tok"}}}"#);
        let c = from_file(&f, "reg.lan", Path::new("x")).unwrap().unwrap();
        assert_eq!(c, Credentials::IdentityToken("tok".into()));
        assert!(!format!("{c:?}").contains("tok"));
    }

    #[test]
    fn missing_helper_is_a_clear_error() {
        let f = file(r#"{"credHelpers":{"reg.lan":"img-test-no-such-helper"}}"#);
        let err = from_file(&f, "reg.lan", Path::new("x")).unwrap_err();
        assert!(
            err.to_string()
                .contains("docker-credential-img-test-no-such-helper"),
            "{err}"
        );
    }

    #[test]
    fn debug_hides_the_password() {
        let c = Credentials::Basic {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
