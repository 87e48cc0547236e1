//! img-login: docker login and docker logout — check credentials against a registry and
//! store them where img and docker read them.

use std::io::Write;

use argh::FromArgs;
use img_core::cli;
use img_core::error::{Error, Result};
use img_core::ops::login::Saved;
use img_core::ops::login::{LoginOptions, Stdin, login, logout, unencrypted_warning};
use img_core::settings::Config;

/// Log in to a registry (docker login), or out of it with --logout (docker logout).
#[derive(FromArgs)]
#[argh(
    example = "printf '%s\\n' \"$TOKEN\" | img-login -u me --password-stdin 127.0.0.1:5000\nimg-login --logout 127.0.0.1:5000",
    note = "SERVER is host[:port] (a URL's scheme and path are dropped, as docker does);\n  without it, Docker Hub, stored under docker's key\n  https://index.docker.io/v1/.",
    note = "The credentials are checked against the registry (GET /v2/, its Basic or token\n  challenge answered) before anything is stored; a refusal exits 1 and stores\n  nothing. Without -u and -p, stored credentials are tried first, then a\n  terminal is asked (the user name, then the password without echo; prompts go\n  to stderr).",
    note = "Where: REGISTRY_AUTH_FILE when set, else $DOCKER_CONFIG/config.json, else\n  ~/.docker/config.json, through the credential helper the file names for\n  SERVER (credHelpers, else credsStore: docker-credential-NAME store), else\n  base64 in \"auths\" (unencrypted: said on stderr, as docker says it). The\n  file is replaced atomically, mode 0600, every other key kept, a symlinked\n  file written through. img-pull reads all of these; docker reads config.json\n  but never REGISTRY_AUTH_FILE (podman and skopeo do)."
)]
struct Args {
    /// username
    #[argh(option, short = 'u')]
    username: Option<String>,
    /// password or personal access token (insecure: prefer --password-stdin)
    #[argh(option, short = 'p')]
    password: Option<String>,
    /// take the password or personal access token from stdin
    #[argh(switch)]
    password_stdin: bool,
    /// log out: remove the stored credentials for SERVER (docker logout)
    #[argh(switch)]
    logout: bool,
    /// the registry (default: Docker Hub)
    #[argh(positional)]
    server: Option<String>,
}

fn main() {
    cli::main("img-login", &['u', 'p'], run)
}

fn run(args: Args) -> Result<i32> {
    let server = args.server.as_deref().filter(|s| !s.trim().is_empty());
    if args.logout {
        if args.username.is_some() || args.password.is_some() || args.password_stdin {
            return Err(Error::usage(
                "--logout takes only SERVER: -u, -p and --password-stdin are for logging in",
            ));
        }
        print(&logout(server)?.line())?;
        return Ok(cli::EXIT_OK);
    }
    let options = LoginOptions {
        server: server.map(str::to_owned),
        username: args.username,
        password: args.password,
        password_stdin: args.password_stdin,
        ..LoginOptions::default()
    };
    let done = login(&options, &Config::load()?, &mut Stdin)?;
    if let Saved::File(path) = &done.saved {
        eprintln!("{}", unencrypted_warning(path));
    }
    print("Login Succeeded")?;
    Ok(cli::EXIT_OK)
}

/// One of docker's lines on stdout.
fn print(line: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| Error::io(e, "writing output"))
}
