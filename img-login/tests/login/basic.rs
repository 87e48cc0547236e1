//! htpasswd Basic auth over TLS: checked before storing, stored in `auths` as docker
//! stores it (and in `REGISTRY_AUTH_FILE`), through a symlinked config, mode 0600, every
//! other key kept; used by img-pull; removed by `--logout`.

use std::os::unix::fs::PermissionsExt;

use super::*;

/// docker 28's warning after writing a password into the file itself.
fn unencrypted(path: &Path) -> String {
    format!(
        "\nWARNING! Your credentials are stored unencrypted in '{}'.\nConfigure a credential helper to remove this warning. See\nhttps://docs.docker.com/go/credential-store/\n\n",
        path.display()
    )
}

/// Asserts exit status `code` and `lines` lines on stderr, the last one img-login's
/// error (the others docker's own lines, which it prints without a prefix).
#[track_caller]
fn fails(run: Run, code: i32, lines: usize) -> Run {
    assert_eq!(run.code, code, "{run:#?}");
    assert!(run.stdout.is_empty(), "{run:#?}");
    let got: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(got.len(), lines, "{run:#?}");
    assert!(got[lines - 1].starts_with("img-login: "), "{run:#?}");
    run
}

#[test]
fn login_stores_what_img_pull_uses_keeps_other_keys_and_logout_removes_it() {
    let reg = BasicTls::start();
    let host = reg.host();
    let s = reg.sandbox();
    // Without credentials the pull is refused.
    let refused = s.pull(&reg.reference()).failure(1, 1);
    assert!(
        refused.stderr.contains("log in first"),
        "{}",
        refused.stderr
    );

    let before = serde_json::json!({
        "psFormat": "table {{.ID}}",
        "auths": { "other.lan:5000": { "auth": auth_of("bob", "x"), "email": "b@lan" } },
        "proxies": { "default": { "httpProxy": "http://proxy.lan:3128" } }
    });
    std::fs::write(s.config_file(), before.to_string()).unwrap();
    std::fs::set_permissions(s.config_file(), std::fs::Permissions::from_mode(0o644)).unwrap();

    let r = s.login(
        &["-u", USER, "--password-stdin", &host],
        Some(&format!("{PASSWORD}\n")),
    );
    succeeded(&r);
    assert_eq!(r.stderr, unencrypted(&s.config_file()), "docker's warning");
    no_secret(&r, PASSWORD);

    let after = s.config();
    assert_eq!(
        after["auths"][&host],
        serde_json::json!({ "auth": auth_of(USER, PASSWORD) })
    );
    for key in ["psFormat", "proxies"] {
        assert_eq!(after[key], before[key], "{key} kept");
    }
    assert_eq!(
        after["auths"]["other.lan:5000"],
        before["auths"]["other.lan:5000"]
    );
    let mode = std::fs::metadata(s.config_file())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "the file holds a password");
    let leftovers: Vec<_> = std::fs::read_dir(s.docker_config())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers,
        ["config.json"],
        "no temporary file left beside it"
    );

    let pulled = s.pull(&reg.reference()).success().record();
    assert_eq!(&pulled.digest, reg.image.digest());

    let out = s.login(&["--logout", &host], None).success();
    assert_eq!(
        out.stdout,
        format!("Removing login credentials for {host}\n")
    );
    let after = s.config();
    assert!(after["auths"].get(&host).is_none(), "{after}");
    assert_eq!(
        after["auths"]["other.lan:5000"],
        before["auths"]["other.lan:5000"]
    );
    assert_eq!(after["psFormat"], before["psFormat"]);
    let again = s
        .login(&["--logout", &format!("https://{host}/v2/")], None)
        .success();
    assert_eq!(again.stdout, format!("Not logged in to {host}\n"));
}

#[test]
fn a_wrong_password_exits_1_stores_nothing_and_leaves_the_file_as_it_was() {
    let reg = BasicTls::start();
    let host = reg.host();

    // No file yet: none is created.
    let s = reg.sandbox();
    let r = s
        .login(&["-u", USER, "--password-stdin", &host], Some(WRONG))
        .failure(1, 1);
    assert!(r.stdout.is_empty(), "{r:#?}");
    assert!(r.stderr.contains("refused the credentials"), "{}", r.stderr);
    assert!(r.stderr.contains(USER), "names the user: {}", r.stderr);
    no_secret(&r, WRONG);
    assert!(!s.config_file().exists(), "nothing stored");

    // A file with another login: byte for byte the same after the refusal.
    let bytes = format!(
        "{{\n\t\"auths\": {{\"{host}\": {{\"auth\": \"{}\"}}}},\n\t\"x\": 1\n}}",
        auth_of("old", "login")
    );
    std::fs::write(s.config_file(), &bytes).unwrap();
    let r = fails(s.login(&["-u", USER, "-p", WRONG, &host], None), 1, 2);
    assert!(
        r.stderr.starts_with(
            "WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n"
        ),
        "docker's warning first: {}",
        r.stderr
    );
    assert_eq!(std::fs::read_to_string(s.config_file()).unwrap(), bytes);
}

#[test]
fn a_symlinked_config_is_written_through_and_servers_are_keyed_by_host() {
    let reg = BasicTls::start();
    let host = reg.host();
    let s = reg.sandbox();
    // A dotfiles checkout: config.json links to a file elsewhere.
    let dotfiles = s.path().join("dotfiles");
    std::fs::create_dir_all(&dotfiles).unwrap();
    std::fs::write(dotfiles.join("docker.json"), r#"{"detachKeys":"ctrl-e,e"}"#).unwrap();
    std::os::unix::fs::symlink("../../dotfiles/docker.json", s.config_file()).unwrap();

    let url = format!("https://{host}/v2/");
    let r = s.login(
        &["--username", USER, "--password-stdin", &url],
        Some(PASSWORD),
    );
    succeeded(&r);
    let meta = std::fs::symlink_metadata(s.config_file()).unwrap();
    assert!(meta.file_type().is_symlink(), "the link is kept");
    let target = dotfiles.join("docker.json");
    // docker names the file it was told of, not the link's target.
    assert_eq!(r.stderr, unencrypted(&s.config_file()));
    let v = read_json(&target);
    assert_eq!(v["detachKeys"], "ctrl-e,e");
    assert_eq!(
        v["auths"][&host]["auth"],
        auth_of(USER, PASSWORD),
        "keyed host:port: {v}"
    );
    let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    s.pull(&reg.reference()).success();
}

#[test]
fn registry_auth_file_is_where_it_stores_when_set() {
    let reg = BasicTls::start();
    let host = reg.host();
    let s = reg.sandbox();
    let file = s.path().join("containers/auth.json");
    let r = run(
        s.command(BIN).env("REGISTRY_AUTH_FILE", &file).args([
            "-u",
            USER,
            "--password-stdin",
            &host,
        ]),
        Some(PASSWORD),
    );
    succeeded(&r);
    assert_eq!(
        read_json(&file)["auths"][&host]["auth"],
        auth_of(USER, PASSWORD)
    );
    assert!(!s.config_file().exists(), "docker's config untouched");
    run(
        s.command(img_pull())
            .env("REGISTRY_AUTH_FILE", &file)
            .arg(reg.reference()),
        None,
    )
    .success();
    let out = run(
        s.command(BIN)
            .env("REGISTRY_AUTH_FILE", &file)
            .args(["--logout", &host]),
        None,
    )
    .success();
    assert_eq!(
        out.stdout,
        format!("Removing login credentials for {host}\n")
    );
    assert!(read_json(&file)["auths"].get(&host).is_none());
}

#[test]
fn stored_credentials_are_tried_first_and_no_terminal_means_no_prompt() {
    let reg = BasicTls::start();
    let host = reg.host();
    let s = reg.sandbox();

    // Nothing stored, nothing given, no terminal: a usage error, nothing written.
    let r = s.login(&[&host], None).failure(2, 1);
    assert!(r.stderr.contains("non TTY device"), "{}", r.stderr);
    let r = s
        .login(&["--password-stdin", &host], Some(PASSWORD))
        .failure(2, 1);
    assert!(r.stderr.contains("requires --username"), "{}", r.stderr);
    let r = fails(
        s.login(
            &["-u", USER, "-p", PASSWORD, "--password-stdin", &host],
            Some(PASSWORD),
        ),
        2,
        2,
    );
    assert!(r.stderr.contains("conflicting options"), "{}", r.stderr);
    assert!(!s.config_file().exists());

    succeeded(&s.login(&["-u", USER, "--password-stdin", &host], Some(PASSWORD)));
    // Again with nothing given: the stored login is checked and kept.
    let r = s.login(&[&host], None);
    succeeded(&r);
    assert!(
        r.stderr.starts_with(&format!(
            "Authenticating with existing credentials... [Username: {USER}]\n"
        )),
        "{}",
        r.stderr
    );

    // A stored password the registry no longer takes, and no terminal to ask.
    std::fs::write(
        s.config_file(),
        serde_json::json!({ "auths": { &host: { "auth": auth_of(USER, WRONG) } } }).to_string(),
    )
    .unwrap();
    let r = fails(s.login(&[&host], None), 2, 3);
    assert!(
        r.stderr.contains("Stored credentials invalid or expired\n"),
        "{}",
        r.stderr
    );
    no_secret(&r, WRONG);
}

#[test]
fn on_a_terminal_it_asks_the_user_name_then_the_password_without_echo() {
    let reg = BasicTls::start();
    let host = reg.host();
    let s = reg.sandbox();
    // script(1) gives img-login a terminal; the answers are typed after a pause, once
    // the prompt has set the terminal up.
    let line = format!("'{BIN}' {host}");
    let typed = format!("sleep 1; printf '{USER}\\n'; sleep 1; printf '{PASSWORD}\\n'; sleep 2");
    let mut script = s.command("sh");
    script.args([
        "-c",
        &format!("({typed}) | script -q -e -c \"$0\" /dev/null"),
        &line,
    ]);
    let r = run(&mut script, None);
    let shown = r.stdout.replace("\r\n", "\n");
    assert_eq!(r.code, 0, "{r:#?}");
    assert!(shown.contains(&format!("Username: {USER}\n")), "{shown:?}");
    assert!(shown.contains("Password: \n"), "{shown:?}");
    assert!(
        !shown.contains(PASSWORD),
        "the password was echoed: {shown:?}"
    );
    assert!(shown.contains("Login Succeeded"), "{shown:?}");
    assert_eq!(s.config()["auths"][&host]["auth"], auth_of(USER, PASSWORD));
}
