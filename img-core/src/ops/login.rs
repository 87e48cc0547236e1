//! `img-login`: docker login and docker logout — check a user's credentials against a
//! registry, then store them where img and docker read them ([`credential_store`]).
//!
//! Docker 28's rules, as its CLI applies them:
//!
//! - The server is stored as docker keys it: Docker Hub (no server, or one of its names)
//!   as `https://index.docker.io/v1/`, any other as `host[:port]`, scheme and path
//!   stripped.
//! - `--password` is said to be insecure; `--password-stdin` reads the whole of stdin,
//!   one trailing newline dropped, and needs `--username`.
//! - With neither a user name nor a password, stored credentials are tried first
//!   (`Authenticating with existing credentials... [Username: alice]`); refused, or none,
//!   the user is asked on a terminal (user name, then the password without echo). Asking
//!   is impossible without a terminal: `cannot perform an interactive login from a non
//!   TTY device`.
//! - The credentials are checked before anything is stored: `GET /v2/`, and its challenge
//!   answered (Basic, or a token fetched with them). A refusal is the registry client's
//!   error, and nothing is stored.
//! - Logout erases the server under each key docker ever stored it as.
//!
//! What docker does and img-login does not: Docker Hub's web-based (device code) login,
//! and guessing a default credential helper when the config names none (docker on Linux
//! picks `pass` if it is installed); img-login writes `auths` unless the file names a
//! helper.
//!
//! Prompts go to stderr, not stdout as docker's do: stdout carries only what the command
//! did (`Login Succeeded`).

mod prompt;

pub use prompt::Stdin;

use crate::error::{Error, ErrorKind, Result};
/// Where a login was stored, as `img-login` reports it.
pub use crate::registry::credential_store::Saved;
use crate::registry::credential_store::{
    self, Erased, convert_to_hostname, logout_keys, server_key,
};
use crate::registry::credentials::{self, DOCKER_HUB_KEY};
use crate::registry::{Credentials, DOCKER_HUB_HOST, RegistryClient, Security, options_for};
use crate::settings::Config;

/// docker's line for `--password` on the command line.
pub const PASSWORD_FLAG_WARNING: &str =
    "WARNING! Using --password via the CLI is insecure. Use --password-stdin.";

/// docker's hint before it asks for a Docker Hub user name.
const HUB_SUGGESTION: &str = "Log in with your Docker ID or email address to push and pull images from Docker Hub. If you don't have a Docker ID, head over to https://hub.docker.com/ to create one.";

/// Where img-login reads what the user types: the process's stdin ([`Stdin`]), or a
/// script of answers in tests.
pub trait Input {
    /// Whether a person is there to answer prompts.
    fn is_terminal(&self) -> bool;
    /// All of the input (`--password-stdin`).
    fn read_all(&mut self) -> Result<String>;
    /// Shows `prompt` (on stderr) and reads one line, echoed or not, without its newline.
    fn prompt(&mut self, prompt: &str, echo: bool) -> Result<String>;
}

/// What `img-login` was asked.
#[derive(Debug, Clone, Default)]
pub struct LoginOptions {
    /// The registry (`reg.lan:5000`, `https://reg.lan/v2/`); `None`: Docker Hub.
    pub server: Option<String>,
    /// `-u/--username`.
    pub username: Option<String>,
    /// `-p/--password`.
    pub password: Option<String>,
    /// `--password-stdin`.
    pub password_stdin: bool,
    /// Trust settings for this command (img-login has no `--insecure`; the config's
    /// insecure registries apply).
    pub security: Security,
}

/// What a login did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedIn {
    /// The key the credentials are stored under.
    pub key: String,
    /// Where they went.
    pub saved: Saved,
}

/// What a logout did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedOut {
    /// The server as docker names it in its lines (`reg.lan:5000`, or Docker Hub's key).
    pub server: String,
    /// Whether anything was stored.
    pub erased: Erased,
}

impl LoggedOut {
    /// docker's line: `Removing login credentials for …`, or `Not logged in to …` when
    /// nothing was stored.
    pub fn line(&self) -> String {
        match self.erased {
            Erased::Removed => format!("Removing login credentials for {}", self.server),
            Erased::NotLoggedIn => format!("Not logged in to {}", self.server),
        }
    }
}

/// docker's warning after storing a password in the file itself (no helper).
pub fn unencrypted_warning(path: &std::path::Path) -> String {
    format!(
        "\nWARNING! Your credentials are stored unencrypted in '{}'.\nConfigure a credential helper to remove this warning. See\nhttps://docs.docker.com/go/credential-store/\n",
        path.display()
    )
}

/// Logs in: finds the credentials (options, stored ones, prompts), checks them against
/// the registry, stores them. Says what docker says on stderr along the way; the caller
/// prints `Login Succeeded` (and [`unencrypted_warning`] for [`Saved::File`]).
pub fn login(opts: &LoginOptions, config: &Config, input: &mut dyn Input) -> Result<LoggedIn> {
    let mut password = opts.password.clone().filter(|p| !p.is_empty());
    if opts.password.is_some() {
        eprintln!("{PASSWORD_FLAG_WARNING}");
        if opts.password_stdin {
            return Err(Error::usage(
                "conflicting options: cannot specify both --password and --password-stdin",
            ));
        }
    }
    let username = opts
        .username
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned);
    if opts.password_stdin {
        if username.is_none() {
            return Err(Error::usage(
                "the --password-stdin option requires --username to be set",
            ));
        }
        let all = input.read_all()?;
        let all = all.strip_suffix('\n').unwrap_or(&all);
        let all = all.strip_suffix('\r').unwrap_or(all);
        password = Some(all.to_owned()).filter(|p| !p.is_empty());
    }
    let key = server_key(opts.server.as_deref());
    let path = credential_store::login_file()?;
    let domain = if key == DOCKER_HUB_KEY {
        crate::reference::DOCKER_HUB_DOMAIN.to_owned()
    } else {
        key.clone()
    };

    // docker tries what is stored before asking, when it was given neither name nor
    // password. A stored login that cannot be read is the same as none: ask.
    let stored = credentials::lookup_in(&path, &domain).ok().flatten();
    if username.is_none()
        && password.is_none()
        && !opts.password_stdin
        && let Some(creds) = stored.as_ref().filter(|c| usable(c))
    {
        {
            let mut line = "Authenticating with existing credentials...".to_owned();
            if let Some(user) = creds.username() {
                line.push_str(&format!(" [Username: {user}]"));
            }
            eprintln!("{line}");
            match check(&key, creds, config, opts.security) {
                Ok(()) => {
                    let saved = credential_store::save(&path, &key, creds)?;
                    return Ok(LoggedIn { key, saved });
                }
                Err(e) if e.kind() == ErrorKind::Unauthorized => {
                    eprintln!("Stored credentials invalid or expired");
                }
                Err(e) => eprintln!("Login did not succeed, error: {e}"),
            }
        }
    }

    let creds = ask(
        &key,
        username,
        password,
        stored.as_ref().and_then(Credentials::username),
        input,
    )?;
    check(&key, &creds, config, opts.security)?;
    let saved = credential_store::save(&path, &key, &creds)?;
    Ok(LoggedIn { key, saved })
}

/// Whether stored credentials are worth trying: a password, or an identity token.
fn usable(c: &Credentials) -> bool {
    match c {
        Credentials::Basic { username, password } => !username.is_empty() && !password.is_empty(),
        Credentials::IdentityToken(t) => !t.is_empty(),
    }
}

/// The user name and password from the options, asking on the terminal for what is
/// missing (docker's prompts: `Username (alice): `, `Password: `).
fn ask(
    key: &str,
    username: Option<String>,
    password: Option<String>,
    default_user: Option<&str>,
    input: &mut dyn Input,
) -> Result<Credentials> {
    if password.is_none() && !input.is_terminal() {
        return Err(Error::usage(
            "cannot perform an interactive login from a non TTY device: give the password with --password-stdin",
        ));
    }
    let username = match username {
        Some(u) => u,
        None => {
            if key == DOCKER_HUB_KEY {
                eprintln!("{HUB_SUGGESTION}");
            }
            let default_user = default_user.map(str::trim).filter(|d| !d.is_empty());
            let prompt = match default_user {
                Some(d) => format!("Username ({d}): "),
                None => "Username: ".to_owned(),
            };
            let typed = input.prompt(&prompt, true)?;
            let typed = typed.trim();
            match (typed.is_empty(), default_user) {
                (false, _) => typed.to_owned(),
                (true, Some(d)) => d.to_owned(),
                (true, None) => return Err(Error::usage("non-null username required")),
            }
        }
    };
    let password = match password {
        Some(p) => p,
        None => {
            let typed = input.prompt("Password: ", false)?;
            let typed = typed.trim().to_owned();
            if typed.is_empty() {
                return Err(Error::usage("password required"));
            }
            typed
        }
    };
    Ok(Credentials::Basic { username, password })
}

/// Checks `creds` against the registry `key` names: `GET /v2/` with its challenge
/// answered. The registry client's refusal is the error.
fn check(key: &str, creds: &Credentials, config: &Config, security: Security) -> Result<()> {
    let host = if key == DOCKER_HUB_KEY {
        DOCKER_HUB_HOST
    } else {
        key
    };
    let mut options = options_for(host, config, security)?;
    options.credentials = Some(creds.clone());
    RegistryClient::new(host, options)?.ping()
}

/// Logs out of `server` (`None`: Docker Hub): erases it under every key docker may have
/// stored it as, in the file and in its helper.
pub fn logout(server: Option<&str>) -> Result<LoggedOut> {
    let key = server_key(server);
    let shown = match server {
        Some(s) if key != DOCKER_HUB_KEY => convert_to_hostname(s.trim()),
        _ => key.clone(),
    };
    let path = credential_store::login_file()?;
    let erased = credential_store::erase(&path, &logout_keys(server))?;
    Ok(LoggedOut {
        server: shown,
        erased,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers from a script; records the prompts.
    struct Script {
        terminal: bool,
        answers: Vec<&'static str>,
        asked: Vec<(String, bool)>,
    }

    impl Input for Script {
        fn is_terminal(&self) -> bool {
            self.terminal
        }
        fn read_all(&mut self) -> Result<String> {
            Ok(self.answers.remove(0).to_owned())
        }
        fn prompt(&mut self, prompt: &str, echo: bool) -> Result<String> {
            self.asked.push((prompt.to_owned(), echo));
            Ok(self.answers.remove(0).to_owned())
        }
    }

    #[test]
    fn prompts_ask_the_user_name_then_the_password_without_echo() {
        let mut s = Script {
            terminal: true,
            answers: vec!["", " pw \n"],
            asked: Vec::new(),
        };
        let c = ask("reg.lan", None, None, Some("alice"), &mut s).unwrap();
        assert_eq!(
            c,
            Credentials::Basic {
                username: "alice".into(),
                password: "pw".into()
            }
        );
        assert_eq!(
            s.asked,
            [
                ("Username (alice): ".to_owned(), true),
                ("Password: ".to_owned(), false)
            ]
        );
    }

    #[test]
    fn no_terminal_no_prompt() {
        let mut s = Script {
            terminal: false,
            answers: vec![],
            asked: Vec::new(),
        };
        let err = ask("reg.lan", Some("u".into()), None, None, &mut s).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Usage);
        assert!(err.to_string().contains("non TTY"), "{err}");
        assert!(s.asked.is_empty());
    }

    #[test]
    fn logout_lines_are_dockers() {
        let out = LoggedOut {
            server: "reg.lan:5000".into(),
            erased: Erased::Removed,
        };
        assert_eq!(out.line(), "Removing login credentials for reg.lan:5000");
        let out = LoggedOut {
            erased: Erased::NotLoggedIn,
            ..out
        };
        assert_eq!(out.line(), "Not logged in to reg.lan:5000");
    }
}
