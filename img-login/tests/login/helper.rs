//! A real credential helper: Debian's `docker-credential-pass`
//! (golang-docker-credential-helpers) over `pass` and GnuPG, with a key without a
//! passphrase and a password store the test makes in temporary directories.

use super::*;

/// A GnuPG home with a fresh key and a pass store initialised for it.
struct PassStore {
    dir: tempfile::TempDir,
}

impl PassStore {
    fn new() -> PassStore {
        // gpg-agent's socket path must be short: a directory under /tmp.
        let dir = tempfile::Builder::new()
            .prefix("pass")
            .tempdir_in("/tmp")
            .unwrap();
        let store = PassStore { dir };
        std::fs::create_dir_all(store.gnupg()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(store.gnupg(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let uid = "img-login test <img-login@test.invalid>";
        img_core::testing::stdout_of(store.env(&mut Command::new("gpg")).args([
            "--batch",
            "--passphrase",
            "",
            "--quick-gen-key",
            uid,
            "default",
            "default",
            "never",
        ]));
        img_core::testing::stdout_of(store.env(&mut Command::new("pass")).args(["init", uid]));
        store
    }

    fn gnupg(&self) -> PathBuf {
        self.dir.path().join("gnupg")
    }

    /// Points `cmd` at this store (and at nothing of the machine's).
    fn env<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        cmd.env("GNUPGHOME", self.gnupg())
            .env("PASSWORD_STORE_DIR", self.dir.path().join("store"))
    }

    /// `docker-credential-pass get` for `server`: its JSON answer, or `None`.
    fn get(&self, server: &str) -> Option<serde_json::Value> {
        let r = run(
            self.env(&mut Command::new("docker-credential-pass"))
                .arg("get"),
            Some(server),
        );
        // pass answers an erased entry with an empty secret, and success.
        let v: serde_json::Value =
            (r.code == 0).then(|| serde_json::from_str(&r.stdout).unwrap())?;
        (v["Secret"] != "").then_some(v)
    }
}

impl Drop for PassStore {
    fn drop(&mut self) {
        // The agent gpg started for this home: stopped by its own tool, for this home only.
        let _ = self
            .env(&mut Command::new("gpgconf"))
            .args(["--kill", "gpg-agent"])
            .status();
    }
}

#[test]
fn credentials_go_to_docker_credential_pass_and_img_pull_reads_them_back() {
    let reg = BasicTls::start();
    let host = reg.host();
    let pass = PassStore::new();
    let s = reg.sandbox();
    std::fs::write(s.config_file(), r#"{"credsStore":"pass","psFormat":"x"}"#).unwrap();

    let r = run(
        pass.env(&mut s.command(BIN))
            .args(["-u", USER, "--password-stdin", &host]),
        Some(PASSWORD),
    );
    succeeded(&r);
    assert_eq!(r.stderr, "", "no unencrypted warning with a helper: {r:#?}");
    let config = s.config();
    assert_eq!(config["credsStore"], "pass");
    assert_eq!(config["psFormat"], "x");
    assert_eq!(
        config["auths"][&host],
        serde_json::json!({}),
        "docker's secretless entry"
    );
    assert!(
        !std::fs::read_to_string(s.config_file())
            .unwrap()
            .contains(&auth_of(USER, PASSWORD))
    );
    let got = pass.get(&host).expect("the helper holds the login");
    assert_eq!(got["Username"], USER);
    assert_eq!(got["Secret"], PASSWORD);

    let pulled = run(
        pass.env(&mut s.command(img_pull())).arg(reg.reference()),
        None,
    )
    .success()
    .record();
    assert_eq!(&pulled.digest, reg.image.digest());

    let out = run(
        pass.env(&mut s.command(BIN)).args(["--logout", &host]),
        None,
    )
    .success();
    assert_eq!(
        out.stdout,
        format!("Removing login credentials for {host}\n")
    );
    assert!(pass.get(&host).is_none(), "erased from the helper");
    assert!(s.config()["auths"].get(&host).is_none());

    // A wrong password never reaches the helper.
    let r = run(
        pass.env(&mut s.command(BIN))
            .args(["-u", USER, "--password-stdin", &host]),
        Some(WRONG),
    )
    .failure(1, 1);
    no_secret(&r, WRONG);
    assert!(pass.get(&host).is_none());
}

#[test]
fn a_helper_that_cannot_store_is_one_line_naming_it_and_nothing_is_written() {
    let reg = BasicTls::start();
    let host = reg.host();
    let pass = PassStore::new();
    let s = reg.sandbox();
    // credHelpers for this host, but a pass store nobody initialised.
    let bytes = format!(r#"{{"credHelpers":{{"{host}":"pass"}}}}"#);
    std::fs::write(s.config_file(), &bytes).unwrap();
    let r = run(
        s.command(BIN)
            .env("GNUPGHOME", pass.gnupg())
            .env("PASSWORD_STORE_DIR", s.path().join("no-store"))
            .args(["-u", USER, "--password-stdin", &host]),
        Some(PASSWORD),
    )
    .failure(1, 1);
    assert!(r.stderr.contains("docker-credential-pass"), "{}", r.stderr);
    assert!(
        r.stderr.contains("pass not initialized"),
        "says why: {}",
        r.stderr
    );
    no_secret(&r, PASSWORD);
    assert_eq!(std::fs::read_to_string(s.config_file()).unwrap(), bytes);
}
