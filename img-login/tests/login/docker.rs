//! docker itself reads what img-login wrote: `docker pull` from the Basic-auth registry
//! through Debian's dockerd, with `DOCKER_CONFIG` pointing at img-login's config; and
//! `docker login` to the same registry writes the same entry img-login writes.

use img_core::testing::TestDockerd;

use super::*;

#[test]
fn docker_pulls_with_what_img_login_stored_and_writes_what_img_login_writes() {
    let reg = BasicTls::start();
    let host = reg.host();
    let dockerd = TestDockerd::start().expect("a dockerd for the parity test (run as root)");
    let s = reg.sandbox();
    succeeded(&s.login(&["-u", USER, "--password-stdin", &host], Some(PASSWORD)));

    // docker's CLI with img-login's config; PATH holds no credential helper, so docker
    // guesses none and reads `auths` alone.
    let no_helpers = s.path().join("empty-path");
    std::fs::create_dir_all(&no_helpers).unwrap();
    let cli = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join("docker"))
        .find(|p| p.is_file())
        .expect("the docker CLI (Debian package docker.io)");
    std::os::unix::fs::symlink(cli, no_helpers.join("docker")).unwrap();
    let docker = |config: &Path| {
        let mut cmd = dockerd.docker();
        cmd.env("DOCKER_CONFIG", config).env("PATH", &no_helpers);
        cmd
    };
    let anonymous = s.path().join("anonymous");
    std::fs::create_dir_all(&anonymous).unwrap();
    let refused = run(docker(&anonymous).args(["pull", &reg.reference()]), None);
    assert_ne!(
        refused.code, 0,
        "docker pulled without credentials: {refused:#?}"
    );

    let pulled = run(
        docker(&s.docker_config()).args(["pull", &reg.reference()]),
        None,
    );
    assert_eq!(
        pulled.code, 0,
        "docker pull with img-login's config: {pulled:#?}"
    );
    let ids = run(
        docker(&s.docker_config()).args(["image", "inspect", "-f", "{{.Id}}", &reg.reference()]),
        None,
    );
    let config = match img_core::oci::Document::parse(None, &reg.image.top.1).unwrap() {
        img_core::oci::Document::Manifest(m) => m.config.digest.to_string(),
        img_core::oci::Document::Index(_) => panic!("a one-platform image was expected"),
    };
    assert_eq!(
        ids.stdout.trim(),
        config,
        "the image ID is its config's digest: {ids:#?}"
    );

    // docker login to the same registry: the same key and entry, the same lines.
    let theirs = s.path().join("docker-login");
    std::fs::create_dir_all(&theirs).unwrap();
    let d = run(
        docker(&theirs).args(["login", "-u", USER, "--password-stdin", &host]),
        Some(PASSWORD),
    );
    assert_eq!(d.code, 0, "{d:#?}");
    let ours = s.login(&["-u", USER, "--password-stdin", &host], Some(PASSWORD));
    assert_eq!(ours.stdout, d.stdout, "stdout as docker's");
    assert_eq!(
        ours.stderr
            .replace(&s.config_file().display().to_string(), "CONFIG"),
        d.stderr
            .replace(&theirs.join("config.json").display().to_string(), "CONFIG"),
        "stderr as docker's"
    );
    assert_eq!(
        read_json(&theirs.join("config.json"))["auths"],
        s.config()["auths"],
        "the entry docker writes"
    );
}
