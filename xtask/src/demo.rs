//! `cargo xtask demo`: the project's main job end to end on a fresh machine — a real
//! registry on 127.0.0.1 seeded with test images, then the tools run on it as a person
//! would type them, each command printed before its output.

use std::path::Path;
use std::process::Command;

use std::collections::BTreeMap;

use img_core::testing::token_server::{TokenServer, TokenServerOptions};
use img_core::testing::{TestRegistry, push_image, standard_set};

use crate::ci::ensure_packages;
use crate::util::{project_root, run, target_dir};

/// The tools the demo runs.
const TOOLS: &[&str] = &[
    "img-pull",
    "img-search",
    "img-ls",
    "img-inspect",
    "img-tag",
    "img-rm",
    "img-pack",
    "img-login",
    "img-push",
];

/// One step: a shell command line, and whether it is expected to fail (bad input shown
/// on purpose).
struct Step {
    line: String,
    fails: bool,
}

fn ok(line: impl Into<String>) -> Step {
    Step {
        line: line.into(),
        fails: false,
    }
}

/// Runs the demo.
pub fn demo() -> Result<(), String> {
    ensure_packages()?;
    let root = project_root();
    let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    build.current_dir(&root).args(["build", "--quiet"]);
    for t in TOOLS {
        build.args(["-p", t]);
    }
    run(&mut build)?;
    let bin = target_dir().join("debug");

    let registry = TestRegistry::start().map_err(|e| e.to_string())?;
    let r = registry.addr();
    println!("# a real docker-registry on {r}, seeded with test images");
    let client = registry.client().map_err(|e| e.to_string())?;
    for image in standard_set() {
        push_image(&client, &image).map_err(|e| e.to_string())?;
        println!("#   pushed {r}/{}", image.reference());
    }
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;

    // A second registry that wants a login: token auth, its token server knowing one user.
    let (user, password) = ("demo", "demo-Pa55word");
    let tokens = TokenServer::start(TokenServerOptions {
        users: BTreeMap::from([(user.to_owned(), password.to_owned())]),
        ..TokenServerOptions::default()
    })
    .map_err(|e| e.to_string())?;
    let auth = tokens
        .auth_config(&work.path().join("token-signer.pem"))
        .map_err(|e| e.to_string())?;
    let auth_registry = TestRegistry::builder()
        .token_auth(auth)
        .start()
        .map_err(|e| e.to_string())?;
    let a = auth_registry.addr();
    let pusher = auth_registry
        .client_as(user, password)
        .map_err(|e| e.to_string())?;
    push_image(&pusher, &standard_set().remove(0)).map_err(|e| e.to_string())?;
    println!("# a registry with token auth on {a} (user {user}), holding test/alpine-like");
    let store = work.path().join("store");

    let steps = vec![
        ok(format!("img-search --format table --registry {r} test/")),
        ok(format!(
            "img-search --format table --tags --digests {r}/test/multi"
        )),
        ok(format!("img-search --registry {r} big | img-pull -q")),
        ok(format!("img-pull {r}/test/alpine-like")),
        ok(format!(
            "img-pull --platform linux/arm64 {r}/test/multi {r}/test/oci-zstd:1"
        )),
        ok(format!(
            "img-pull {r}/test/alpine-like   # again: up to date, nothing fetched"
        )),
        ok(format!(
            "img-inspect -f '{{{{.RootFS.Type}}}} {{{{.Architecture}}}} {{{{json .Config.Cmd}}}}' {r}/test/multi {r}/test/oci-zstd:1"
        )),
        ok(format!("img-inspect {r}/test/alpine-like | head -n 12")),
        ok("img-ls --format table"),
        ok("img-ls"),
        ok(format!(
            "img-ls -f reference='{r}/test/*' --format '{{{{.Repository}}}}:{{{{.Tag}}}} {{{{.Size}}}}'"
        )),
        ok(format!(
            "img-pull -q {r}/test/alpine-like | img-tag mine/alpine:1"
        )),
        ok(format!("img-tag {r}/test/oci-zstd:1 mine/zstd:stable")),
        ok("img-ls --format table -f reference='mine/*'"),
        ok("img-ls -f reference='mine/*' | img-rm"),
        ok("img-ls -aq | img-inspect --verify"),
        ok(format!(
            "img-ls -f reference='{r}/test/*' | img-pack save -o \"$IMG_ROOT/../images.tar\" && ls -l \"$IMG_ROOT/../images.tar\" | cut -d' ' -f5-"
        )),
        ok(format!("img-rm {r}/test/oci-zstd:1")),
        ok("img-pack load -i \"$IMG_ROOT/../images.tar\" | img-inspect -f '{{.Id}} {{.RepoTags}}'"),
        ok("img-rm --prune"),
        // Publishing: a new name on the registry, pushed as stored, read back by others.
        ok(format!(
            "img-tag {r}/test/alpine-like {r}/demo/pushed:1 | img-push | img-inspect -f '{{{{.RepoDigests}}}}'"
        )),
        ok(format!(
            "img-push {r}/demo/pushed:1 --format '{{{{.Ref}}}} pushed {{{{.Pushed}}}} B, {{{{.Existing}}}} B already there'   # again"
        )),
        ok(format!(
            "skopeo inspect --tls-verify=false --format '{{{{.Name}}}} {{{{.Digest}}}} {{{{len .Layers}}}} layers' docker://{r}/demo/pushed:1"
        )),
        ok(format!(
            "img-rm {r}/demo/pushed:1 >/dev/null; d=$(skopeo inspect --tls-verify=false --format '{{{{.Digest}}}}' docker://{r}/demo/pushed:1) && img-pull {r}/demo/pushed@$d   # pulled back by digest"
        )),
        Step {
            line: format!("img-pull {a}/test/alpine-like   # wants a login"),
            fails: true,
        },
        ok(format!(
            "printf '%s\\n' '{password}' | img-login -u {user} --password-stdin {a}"
        )),
        ok(format!("img-pull -q {a}/test/alpine-like")),
        ok(format!(
            "img-tag {r}/test/alpine-like {a}/demo/app:1 | img-push -q   # pull,push token"
        )),
        ok(format!("img-login --logout {a}")),
        Step {
            line: format!("img-pull {r}/test/no-such-image"),
            fails: true,
        },
    ];
    for step in steps {
        run_step(&step, &bin, &store, work.path())?;
    }
    println!("# done: the registry stops and the demo's store is removed");
    Ok(())
}

fn run_step(step: &Step, bin: &Path, store: &Path, home: &Path) -> Result<(), String> {
    println!("\n$ {}", step.line);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let status = Command::new("sh")
        .args(["-c", &step.line])
        .env("PATH", path)
        .env("IMG_ROOT", store)
        .env("IMG_CONFIG", home.join("config.json"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("DOCKER_CONFIG", home.join("docker"))
        .status()
        .map_err(|e| format!("running {}: {e}", step.line))?;
    match (status.success(), step.fails) {
        (true, false) | (false, true) => Ok(()),
        (false, false) => Err(format!("demo step failed ({status}): {}", step.line)),
        (true, true) => Err(format!("demo step should have failed: {}", step.line)),
    }
}
