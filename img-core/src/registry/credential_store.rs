//! Saving and erasing a user's credentials where img and docker read them (img-login):
//! `REGISTRY_AUTH_FILE` when set, else docker's `config.json` (`$DOCKER_CONFIG` or
//! `~/.docker`); through the `credHelpers` / `credsStore` helper the file names for the
//! server (`docker-credential-NAME store|erase`), else base64 in `auths`.
//!
//! The file is edited as docker edits it and nothing else of it is lost: every other key
//! is kept as it was, the file is replaced atomically (a temporary file beside it, fsync,
//! rename, fsync of the directory) with mode 0600, and a symlinked `config.json` is
//! written through to its target, never replaced by a file. Two img-logins at once take
//! turns (a lock on the file's directory), so neither loses the other's entry.
//!
//! Reading is [`super::credentials`]; no error here holds a secret.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};

use super::credentials::{
    Credentials, DOCKER_HUB_KEY, call_helper, env, helper_found_nothing, helper_program,
};
use crate::error::{Error, ErrorKind, Result};

/// How many symlinks deep a `config.json` may point before we call it a loop.
const MAX_SYMLINKS: usize = 40;

/// The names that mean Docker Hub on img-login's command line: stored under docker's
/// [`DOCKER_HUB_KEY`], where docker and img-pull look for Hub credentials.
const HUB_NAMES: [&str; 5] = [
    DOCKER_HUB_KEY,
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "https://index.docker.io",
];

/// The key a server is stored under, as docker login writes it: Docker Hub (no server, or
/// one of its names) as `https://index.docker.io/v1/`, any other as `host[:port]` — the
/// scheme and path stripped (docker's `ConvertToHostname`).
pub fn server_key(server: Option<&str>) -> String {
    let server = server.map(str::trim).unwrap_or("");
    if server.is_empty() {
        return DOCKER_HUB_KEY.to_owned();
    }
    let host = convert_to_hostname(server);
    if HUB_NAMES.contains(&server) || HUB_NAMES.contains(&host.as_str()) {
        DOCKER_HUB_KEY.to_owned()
    } else {
        host
    }
}

/// `https://reg.lan:5000/v2/` → `reg.lan:5000`; `reg.lan/x` → `reg.lan`.
pub fn convert_to_hostname(server: &str) -> String {
    let rest = match server.split_once("://") {
        Some((_, rest)) => rest,
        None => server,
    };
    rest.split('/').next().unwrap_or(rest).to_owned()
}

/// The keys `docker logout SERVER` erases: the server as given and its host under every
/// form older dockers stored it (`host`, `http://host`, `https://host`).
pub fn logout_keys(server: Option<&str>) -> Vec<String> {
    let key = server_key(server);
    if key == DOCKER_HUB_KEY {
        return vec![key];
    }
    let mut keys = Vec::new();
    if let Some(given) = server.map(str::trim).filter(|s| !s.is_empty()) {
        keys.push(given.to_owned());
    }
    for k in [
        key.clone(),
        format!("http://{key}"),
        format!("https://{key}"),
    ] {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys
}

/// The file img-login writes: `REGISTRY_AUTH_FILE` when set, else
/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn login_file() -> Result<PathBuf> {
    if let Some(p) = env("REGISTRY_AUTH_FILE") {
        return Ok(PathBuf::from(p));
    }
    if let Some(dir) = env("DOCKER_CONFIG") {
        return Ok(PathBuf::from(dir).join("config.json"));
    }
    match env("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".docker/config.json")),
        None => Err(Error::new(
            ErrorKind::Usage,
            "cannot tell where to store credentials: set HOME, DOCKER_CONFIG or REGISTRY_AUTH_FILE",
        )),
    }
}

/// Where [`save`] put the credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Saved {
    /// Base64 in the file's `auths`: unencrypted (docker warns, and so does img-login).
    File(PathBuf),
    /// In the credential helper of this program name (`docker-credential-pass`).
    Helper(String),
}

/// What [`erase`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Erased {
    /// Credentials were stored, and are gone.
    Removed,
    /// Nothing was stored for the server.
    NotLoggedIn,
}

/// Stores `creds` under `key` (from [`server_key`]) through the helper `path` names for
/// it, else in its `auths`.
pub fn save(path: &Path, key: &str, creds: &Credentials) -> Result<Saved> {
    let doing = || format!("storing credentials for {key} in {}", display(path));
    let mut file = ConfigFile::lock(path).map_err(|e| e.context(doing()))?;
    let saved = match file.helper_for(key) {
        Some(helper) => {
            let (username, secret) = match creds {
                Credentials::Basic { username, password } => (username.as_str(), password),
                Credentials::IdentityToken(t) => ("<token>", t),
            };
            let input = serde_json::json!({
                "ServerURL": key,
                "Username": username,
                "Secret": secret,
            })
            .to_string();
            let out = call_helper(&helper, "store", key, input.as_bytes())?;
            if !out.status.success() {
                return Err(helper_failed(&helper, "store", key, &out, secret));
            }
            // As docker does: an entry without secrets, so that docker sees a config
            // that holds logins (and does not guess a default helper of its own).
            let mut entry = file.entry(key);
            for field in ["auth", "username", "password", "identitytoken"] {
                entry.shift_remove(field);
            }
            file.set_entry(key, entry);
            Saved::Helper(helper_program(&helper))
        }
        None => {
            let mut entry = file.entry(key);
            for field in ["username", "password", "identitytoken"] {
                entry.shift_remove(field);
            }
            match creds {
                Credentials::Basic { username, password } => {
                    entry.insert(
                        "auth".to_owned(),
                        Value::String(BASE64.encode(format!("{username}:{password}"))),
                    );
                }
                Credentials::IdentityToken(t) => {
                    entry.shift_remove("auth");
                    entry.insert("identitytoken".to_owned(), Value::String(t.clone()));
                }
            }
            file.set_entry(key, entry);
            Saved::File(path.to_owned())
        }
    };
    file.write().map_err(|e| e.context(doing()))?;
    Ok(saved)
}

/// Erases what is stored under any of `keys` (from [`logout_keys`]): the file's `auths`
/// entries, and the helper's for each key a helper is configured for.
pub fn erase(path: &Path, keys: &[String]) -> Result<Erased> {
    let doing = || format!("removing credentials from {}", display(path));
    if !path.exists() && path.symlink_metadata().is_err() {
        return Ok(Erased::NotLoggedIn);
    }
    let mut file = ConfigFile::lock(path).map_err(|e| e.context(doing()))?;
    let mut removed = false;
    // As docker: a key the helper cannot erase is only an error when no key could be
    // erased at all (most of the keys tried are legacy forms nobody stored).
    let mut failed = None;
    for key in keys {
        if let Some(helper) = file.helper_for(key) {
            let out = call_helper(&helper, "erase", key, key.as_bytes())?;
            if out.status.success() {
                removed = true;
            } else if !helper_found_nothing(&out) && failed.is_none() {
                failed = Some(helper_failed(&helper, "erase", key, &out, ""));
            }
        }
    }
    let mut changed = false;
    if let Some(Value::Object(auths)) = file.root.get_mut("auths") {
        for key in keys {
            if let Some(entry) = auths.shift_remove(key) {
                changed = true;
                // An entry without secrets is a helper's marker, not a login of its own.
                removed |= entry.as_object().is_some_and(|e| {
                    ["auth", "identitytoken", "password"]
                        .iter()
                        .any(|f| e.get(*f).is_some_and(|v| v != ""))
                });
            }
        }
    }
    if changed {
        file.write().map_err(|e| e.context(doing()))?;
    }
    if let Some(e) = failed.filter(|_| !removed) {
        return Err(e);
    }
    Ok(if removed {
        Erased::Removed
    } else {
        Erased::NotLoggedIn
    })
}

/// A helper's failure, with the first line of what it said (docker shows it too: it is
/// what says `pass not initialized`) unless that line holds the secret.
fn helper_failed(
    helper: &str,
    action: &str,
    key: &str,
    out: &std::process::Output,
    secret: &str,
) -> Error {
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let line = said.lines().map(str::trim).find(|l| !l.is_empty());
    let hint = match line {
        Some(l) if secret.is_empty() || !l.contains(secret) => {
            format!(": {}", l.chars().take(200).collect::<String>())
        }
        _ => String::new(),
    };
    Error::new(
        ErrorKind::Io,
        format!(
            "credential helper {} {action} for {key}: it exited with {}{hint}",
            helper_program(helper),
            out.status
        ),
    )
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

/// A credentials file read for editing, its directory locked until dropped.
struct ConfigFile {
    /// The file itself, symlinks followed: what is replaced.
    target: PathBuf,
    root: Map<String, Value>,
    _lock: File,
}

impl ConfigFile {
    /// Follows `path`'s symlinks, creates its directory (0700, as docker does) if
    /// missing, locks the directory and reads the file (missing: empty).
    fn lock(path: &Path) -> Result<ConfigFile> {
        let target = resolve_symlinks(path)?;
        let dir = parent(&target);
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(|e| Error::io(e, format!("creating {}", dir.display())))?;
        }
        let lock =
            File::open(&dir).map_err(|e| Error::io(e, format!("opening {}", dir.display())))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| Error::io(e.into(), format!("locking {}", dir.display())))?;
        let root = match std::fs::read(&target) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Map::new(),
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(Value::Object(map)) => map,
                Ok(_) => return Err(not_json(&target, "it is not a JSON object")),
                Err(e) => return Err(not_json(&target, &e.to_string())),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(e) => return Err(Error::io(e, format!("reading {}", target.display()))),
        };
        Ok(ConfigFile {
            target,
            root,
            _lock: lock,
        })
    }

    /// The helper configured for `key`: `credHelpers[key]`, else `credsStore`.
    fn helper_for(&self, key: &str) -> Option<String> {
        let named = |v: Option<&Value>| {
            v.and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let helpers = self.root.get("credHelpers").and_then(Value::as_object);
        named(helpers.and_then(|h| h.get(key))).or_else(|| named(self.root.get("credsStore")))
    }

    /// A copy of `auths[key]`, empty if there is none.
    fn entry(&self, key: &str) -> Map<String, Value> {
        self.root
            .get("auths")
            .and_then(|a| a.get(key))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }

    /// Sets `auths[key]` (in its place, if it was there).
    fn set_entry(&mut self, key: &str, entry: Map<String, Value>) {
        let auths = self
            .root
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        match auths {
            Value::Object(a) => {
                a.insert(key.to_owned(), Value::Object(entry));
            }
            other => {
                *other = Value::Object(Map::from_iter([(key.to_owned(), Value::Object(entry))]))
            }
        }
    }

    /// Replaces the file atomically with what `root` now holds, mode 0600, indented
    /// with tabs as docker writes it.
    fn write(&self) -> Result<()> {
        let dir = parent(&self.target);
        let name = self
            .target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "config.json".to_owned());
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.img-{}-{n}", std::process::id()));
        let doing = || format!("writing {}", self.target.display());
        let mut bytes = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut bytes, formatter);
        serde::Serialize::serialize(&self.root, &mut ser).map_err(|e| {
            Error::new(ErrorKind::Io, format!("encoding the file: {e}")).context(doing())
        })?;
        let result = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            // The mode asked for at creation is cut by the umask; say it outright.
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.target)
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::io(e, doing()));
        }
        // The rename is durable once the directory is.
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(e, doing()))
    }
}

fn not_json(path: &Path, why: &str) -> Error {
    Error::new(
        ErrorKind::Usage,
        format!(
            "credentials file {} is not valid JSON ({why}): fix or remove it",
            path.display()
        ),
    )
}

/// The directory holding `file` (`.` for a bare name).
fn parent(file: &Path) -> PathBuf {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// `path` with every symlink followed, even one pointing at a file that does not exist
/// yet (a dotfiles checkout's link to a file never written): what a rename must replace.
fn resolve_symlinks(path: &Path) -> Result<PathBuf> {
    let mut current = path.to_owned();
    for _ in 0..MAX_SYMLINKS {
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = std::fs::read_link(&current)
                    .map_err(|e| Error::io(e, format!("reading the link {}", current.display())))?;
                current = if link.is_absolute() {
                    link
                } else {
                    parent(&current).join(link)
                };
            }
            _ => return Ok(current),
        }
    }
    Err(Error::new(
        ErrorKind::Io,
        format!("{} is a loop of symlinks", path.display()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_dockers() {
        assert_eq!(server_key(None), DOCKER_HUB_KEY);
        assert_eq!(server_key(Some("docker.io")), DOCKER_HUB_KEY);
        assert_eq!(
            server_key(Some("https://index.docker.io/v1/")),
            DOCKER_HUB_KEY
        );
        assert_eq!(server_key(Some("registry-1.docker.io")), DOCKER_HUB_KEY);
        assert_eq!(server_key(Some("reg.lan:5000")), "reg.lan:5000");
        assert_eq!(server_key(Some("https://reg.lan:5000/v2/")), "reg.lan:5000");
        assert_eq!(server_key(Some("http://reg.lan")), "reg.lan");
        assert_eq!(server_key(Some("reg.lan/some/path")), "reg.lan");
        assert_eq!(
            logout_keys(Some("https://reg.lan:5000/v2/")),
            [
                "https://reg.lan:5000/v2/",
                "reg.lan:5000",
                "http://reg.lan:5000",
                "https://reg.lan:5000"
            ]
        );
        assert_eq!(logout_keys(None), [DOCKER_HUB_KEY]);
    }

    #[test]
    fn save_keeps_other_keys_and_erase_removes_only_the_server() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config.json");
        let creds = Credentials::Basic {
            username: "u".into(),
            password: "p:w".into(),
        };
        assert_eq!(
            save(&path, "a.lan", &creds).unwrap(),
            Saved::File(path.clone())
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
        let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        v["psFormat"] = "table {{.ID}}".into();
        v["auths"]["b.lan"] = serde_json::json!({"auth": "eDp5", "email": "e"});
        std::fs::write(&path, v.to_string()).unwrap();
        save(&path, "a.lan", &creds).unwrap();
        let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(v["psFormat"], "table {{.ID}}");
        assert_eq!(v["auths"]["b.lan"]["email"], "e");
        assert_eq!(v["auths"]["a.lan"]["auth"], BASE64.encode("u:p:w"));

        let keys = logout_keys(Some("a.lan"));
        assert_eq!(erase(&path, &keys).unwrap(), Erased::Removed);
        assert_eq!(erase(&path, &keys).unwrap(), Erased::NotLoggedIn);
        let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert!(v["auths"].get("a.lan").is_none());
        assert_eq!(v["auths"]["b.lan"]["auth"], "eDp5");
        assert_eq!(
            erase(&dir.path().join("none.json"), &keys).unwrap(),
            Erased::NotLoggedIn
        );
    }

    #[test]
    fn a_file_that_is_not_json_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, "{not json").unwrap();
        let creds = Credentials::Basic {
            username: "u".into(),
            password: "secret".into(),
        };
        let err = save(&path, "a.lan", &creds).unwrap_err();
        assert!(err.to_string().contains("not valid JSON"), "{err}");
        assert!(!err.to_string().contains("secret"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{not json");
    }
}
