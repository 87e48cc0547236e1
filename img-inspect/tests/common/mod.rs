//! What img-inspect's tests share: running the binary on a fixture, reading the test
//! images' documents.

#![allow(dead_code)]

use std::io::Write;
use std::process::Stdio;

use img_core::Digest;
use img_core::oci::{Document, ImageConfig, Manifest};
use img_core::testing::{Fixture, TestImage};

/// What one run of img-inspect came to.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The stdout parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

/// Runs img-inspect on the fixture's store with `args`, feeding `stdin` (empty: none).
pub fn inspect(fixture: &Fixture, args: &[&str], stdin: &str) -> Run {
    let mut child = fixture
        .command(env!("CARGO_BIN_EXE_img-inspect"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running img-inspect");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// The fixture's test image `name` (`test/multi`).
pub fn image<'a>(fixture: &'a Fixture, name: &str) -> &'a TestImage {
    fixture
        .images
        .iter()
        .find(|i| i.name == name)
        .unwrap_or_else(|| panic!("no test image {name}"))
}

/// A single image's manifest, or the manifest of an index's entry `i`.
pub fn manifest(image: &TestImage, i: Option<usize>) -> Manifest {
    let bytes = match i {
        None => &image.top.1,
        Some(i) => &image.manifests[i].1,
    };
    match Document::parse(None, bytes).unwrap() {
        Document::Manifest(m) => *m,
        Document::Index(_) => panic!("{} is an index", image.name),
    }
}

/// The config a manifest names.
pub fn config(image: &TestImage, m: &Manifest) -> ImageConfig {
    serde_json::from_slice(image.blob(&m.config.digest).unwrap()).unwrap()
}

/// Digests as the strings JSON holds.
pub fn strings(ds: &[Digest]) -> Vec<String> {
    ds.iter().map(ToString::to_string).collect()
}
