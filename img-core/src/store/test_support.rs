//! Test helpers for the store: deterministic content, made-up images for the index, and
//! child processes (the test binary re-executed to run one helper test) for the tests that
//! need real processes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::digest::Digest;
use crate::index::NewImage;

/// The environment variable telling a helper test what to do; unset, helpers do nothing.
pub(crate) const ROLE_VAR: &str = "IMG_STORE_TEST_ROLE";
/// The store root a helper works on.
pub(crate) const ROOT_VAR: &str = "IMG_STORE_TEST_ROOT";
/// A directory for the parent and helper to signal each other through files.
pub(crate) const SIGNAL_VAR: &str = "IMG_STORE_TEST_SIGNALS";

/// `len` bytes of content that differs per `seed`, and its digest.
pub(crate) fn content(seed: u8, len: usize) -> (Vec<u8>, Digest) {
    let data: Vec<u8> = (0..len)
        .map(|i| {
            (i as u64)
                .wrapping_mul(2_654_435_761)
                .wrapping_add(u64::from(seed)) as u8
        })
        .collect();
    let digest = Digest::sha256_of(&data);
    (data, digest)
}

/// An image made up from `seed` alone, with no blobs: ID `sha256(seed)`, target a
/// manifest `sha256("m" + seed)` that is not stored, linux/amd64, tagged `tags` (full
/// names), no creation time, labels or repo digests (add them with `..seeded_image()`).
pub(crate) fn seeded_image(seed: &str, tags: &[(&str, &str)]) -> NewImage {
    NewImage {
        id: Digest::sha256_of(seed.as_bytes()),
        target: Digest::sha256_of(format!("m{seed}").as_bytes()),
        target_media_type: crate::oci::media_type::OCI_MANIFEST.into(),
        created: None,
        platform: "linux/amd64".into(),
        blobs: vec![],
        labels: Default::default(),
        tags: tags
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect(),
        repo_digests: vec![],
    }
}

/// Runs the helper test `test` (its full path, e.g. `store::ingest_tests::helper`) in a
/// child process with `role`.
pub(crate) fn spawn_helper(test: &str, role: &str, root: &Path, signals: &Path) -> Child {
    let exe = std::env::current_exe().expect("the test binary's path");
    Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE_VAR, role)
        .env(ROOT_VAR, root)
        .env(SIGNAL_VAR, signals)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawning the test binary as a helper")
}

/// In a child process [`spawn_helper`] started: its role, the store it works on (opened),
/// and the signals directory; `None` in a plain test run, where the helper test passes.
pub(crate) fn helper_env() -> Option<(String, crate::store::Store, PathBuf)> {
    let role = std::env::var(ROLE_VAR).ok()?;
    let root = PathBuf::from(std::env::var(ROOT_VAR).expect("the helper's store root"));
    let signals = PathBuf::from(std::env::var(SIGNAL_VAR).expect("the helper's signals"));
    let store = crate::store::Store::open(&root).expect("opening the helper's store");
    Some((role, store, signals))
}

/// Creates the signal file `name`.
pub(crate) fn signal(signals: &Path, name: &str) {
    std::fs::write(signals.join(name), b"").expect("writing a signal file");
}

/// Waits (up to 60 s) for the signal file `name`; panics naming it when it never comes.
pub(crate) fn wait_for(signals: &Path, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !signals.join(name).exists() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for signal {name}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits for `child` and asserts it succeeded.
pub(crate) fn assert_success(child: Child, what: &str) {
    let out = child.wait_with_output().expect("waiting for a helper");
    assert!(out.status.success(), "{what} failed: {:?}", out.status);
}

/// Regular files directly under `dir`.
pub(crate) fn files_in(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.is_file());
    v.sort();
    v
}
