//! The README's img-pack lines (its ```sh block) run for real, through `bash -o pipefail`
//! with the tools on PATH: images picked by img-ls saved, then loaded into another store and
//! inspected. `cargo test --workspace` builds every tool beside img-pack.

mod common;

use std::path::{Path, PathBuf};

use img_core::testing::{Fixture, run};

/// The directory holding the tools' binaries.
fn tools_dir() -> PathBuf {
    let dir = Path::new(common::PACK)
        .parent()
        .expect("the binary's directory")
        .to_path_buf();
    for tool in ["img-ls", "img-inspect", "img-pack"] {
        assert!(
            dir.join(tool).is_file(),
            "{tool} is not built in {}: run `cargo test --workspace` (it builds every tool)",
            dir.display()
        );
    }
    dir
}

/// The lines of the README's ```sh block that use img-pack.
fn readme_lines() -> Vec<String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("reading README.md");
    readme
        .split("```sh")
        .skip(1)
        .filter_map(|rest| rest.split("```").next())
        .find(|block| block.contains("img-pack"))
        .expect("README.md has a ```sh block of img-pack lines")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_readme_img_pack_lines_work() {
    let f = Fixture::new().expect("starting the test registry (needs the docker-registry package)");
    let tools = tools_dir();
    let lines = readme_lines();
    assert_eq!(lines.len(), 2, "save, then load: {lines:?}");
    let pulled = f.pull("test/alpine-like:latest").unwrap().record;
    let store = f.store().unwrap();
    store
        .index()
        .tag(&pulled.id, "docker.io/app/x", "1")
        .unwrap();
    let path = format!(
        "{}:{}",
        tools.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let other = f.dir().join("other");
    let mut outputs = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let mut cmd = f.command("bash");
        cmd.args(["-o", "pipefail", "-c", line])
            .env("PATH", &path)
            .current_dir(f.dir());
        if i == 1 {
            // Loaded into another store, as on another machine.
            cmd.env("IMG_ROOT", &other);
        }
        let out = run(&mut cmd, None);
        assert_eq!(out.code, 0, "{line}: {out:#?}");
        outputs.push(out);
    }
    assert!(f.dir().join("app.tar").is_file());
    assert_eq!(outputs[1].stdout.trim(), pulled.id.to_string());
}
