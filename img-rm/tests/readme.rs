//! The pipelines the README shows run for real: each `$ ` line of its first console
//! block, in order, through `bash -o pipefail` with the tools on PATH, against the test registry (the
//! README's `alpine:3.20` stands for a test image there).
//!
//! It lives with img-rm because a pipeline needs every tool: `cargo test --workspace`
//! builds them all into the directory img-rm's binary is in.

use std::path::{Path, PathBuf};

use img_core::testing::{Fixture, run};

/// The directory holding the tools' binaries.
fn tools_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_img-rm"))
        .parent()
        .expect("the binary's directory")
        .to_path_buf();
    for tool in ["img-pull", "img-tag", "img-ls", "img-rm", "img-inspect"] {
        assert!(
            dir.join(tool).is_file(),
            "{tool} is not built in {}: run `cargo test --workspace` (it builds every tool)",
            dir.display()
        );
    }
    dir
}

/// The `$ ` lines of the README's first ```console block.
fn readme_pipelines() -> Vec<String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("reading README.md");
    let block = readme
        .split("```console")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("README.md has a ```console block");
    block
        .lines()
        .filter_map(|l| l.strip_prefix("$ "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_readme_pipelines_work() {
    let f = Fixture::new().expect("starting the test registry");
    let tools = tools_dir();
    let lines = readme_pipelines();
    assert_eq!(
        lines.len(),
        3,
        "the README shows three pipelines: {lines:?}"
    );
    let image = f.reference("test/alpine-like:latest");
    let path = format!(
        "{}:{}",
        tools.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut outputs = Vec::new();
    for line in &lines {
        let line = line.replace("alpine:3.20", &image);
        // pipefail: a failing img-pull must fail the line, not hide behind img-tag.
        let mut cmd = f.command("bash");
        cmd.args(["-o", "pipefail", "-c", &line]).env("PATH", &path);
        let out = run(&mut cmd, None);
        assert_eq!(out.code, 0, "{line}: {out:#?}");
        outputs.push(out);
    }
    // 1. pulled and tagged: the tag's record comes out of img-tag.
    let tagged: Vec<serde_json::Value> = outputs[0].records();
    assert_eq!(tagged.len(), 1, "{:#?}", outputs[0]);
    assert_eq!(tagged[0]["Ref"], "docker.io/mine/alpine:1");
    // 2. exactly that tag untagged; the image keeps its registry tag, so nothing deleted.
    let removed: Vec<serde_json::Value> = outputs[1].records();
    assert_eq!(removed, [serde_json::json!({"Untagged": "mine/alpine:1"})]);
    let store = f.store().unwrap();
    assert!(
        store
            .index()
            .image_by_tag("docker.io/mine/alpine", "1")
            .unwrap()
            .is_none()
    );
    // 3. the whole store verifies.
    let reports: Vec<serde_json::Value> = outputs[2].records();
    assert_eq!(reports.len(), 1, "{:#?}", outputs[2]);
    assert_eq!(reports[0]["Ok"], true, "{:#?}", outputs[2]);
}
