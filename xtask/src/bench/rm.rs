//! `cargo xtask bench rm`: `img-ls -q | img-rm` of 1,000 images must take less than 3 s.
//!
//! A store of 1,000 images is built once through img-core (each with a tag, its repo
//! digest, and small real blobs: config, manifest, one layer of its own), and copied fresh
//! for every run. Each run feeds the release `img-rm` the 1,000 short IDs on stdin, as
//! `img-ls -q` prints them, reading its JSON records from a pipe; the time is from spawn to
//! exit, and includes the one garbage collection that removes the 3,000 blob files. The
//! median of the runs is compared with the target.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use img_core::Digest;
use img_core::index::NewImage;
use img_core::store::Store;

use super::{build_release, machine, median as median_of, record_section};

/// Images in the store.
const IMAGES: usize = 1_000;
/// Timed runs; the median is reported.
const RUNS: usize = 5;
/// The target for the median.
const TARGET: Duration = Duration::from_secs(3);

/// Builds img-rm in release mode, times it over [`RUNS`] fresh copies of the store and
/// fails when the median misses [`TARGET`].
pub fn run() -> Result<(), String> {
    let binary = build_release("img-rm")?;
    let dir = tempfile::tempdir().map_err(|e| format!("creating a temp dir: {e}"))?;
    let template = dir.path().join("template");
    let started = Instant::now();
    let ids = build_store(&template)?;
    eprintln!(
        "built a store of {IMAGES} images ({} blobs) in {:.1} s",
        3 * IMAGES,
        started.elapsed().as_secs_f64()
    );
    let input: String = ids
        .iter()
        .map(|id| format!("{}\n", &id.hex()[..12]))
        .collect();

    let mut times = Vec::new();
    for i in 0..RUNS {
        let store = dir.path().join(format!("run-{i}"));
        copy_dir(&template, &store)?;
        let t = time_rm(&binary, &store, &input)?;
        eprintln!("run {}: {:.3} s", i + 1, t.as_secs_f64());
        times.push(t);
        std::fs::remove_dir_all(&store)
            .map_err(|e| format!("removing {}: {e}", store.display()))?;
    }
    let median = median_of(&mut times);
    let line = format!(
        "img-rm of {IMAGES} images from stdin: median {:.3} s (min {:.3} s, max {:.3} s) over {RUNS} runs; target < {} s",
        median.as_secs_f64(),
        times[0].as_secs_f64(),
        times[times.len() - 1].as_secs_f64(),
        TARGET.as_secs()
    );
    println!("{line}");
    record_section(
        "img-rm",
        &format!(
            "`cargo xtask bench rm` — `img-ls -q | img-rm` of {IMAGES} images (the IDs fed on \
             stdin; release build; GC of the 3,000 blob files included). Machine: {}.\n\n{line}",
            machine()
        ),
    )?;
    if median >= TARGET {
        return Err(format!(
            "img-rm of {IMAGES} images took {:.3} s (median), over the {} s target",
            median.as_secs_f64(),
            TARGET.as_secs()
        ));
    }
    Ok(())
}

/// Fills a store at `root` with [`IMAGES`] tagged images and returns their IDs.
fn build_store(root: &Path) -> Result<Vec<Digest>, String> {
    let store = Store::open(root).map_err(|e| e.to_string())?;
    let mut ids = Vec::with_capacity(IMAGES);
    for i in 0..IMAGES {
        let put = |what: &str, len: usize| -> Result<Digest, String> {
            let bytes: Vec<u8> = format!("bench {what} {i};")
                .bytes()
                .cycle()
                .take(len)
                .collect();
            let d = Digest::sha256_of(&bytes);
            store
                .put_blob("application/octet-stream", &bytes, &d)
                .map_err(|e| e.to_string())?;
            Ok(d)
        };
        let config = put("config", 600)?;
        let manifest = put("manifest", 400)?;
        let layer = put("layer", 2048)?;
        let name = format!("docker.io/bench/image-{i}");
        store
            .index()
            .put_image(&NewImage {
                id: config.clone(),
                target: manifest.clone(),
                target_media_type: img_core::oci::media_type::OCI_MANIFEST.to_owned(),
                created: Some("2024-01-01T00:00:00Z".to_owned()),
                platform: "linux/amd64".to_owned(),
                blobs: vec![layer],
                labels: Default::default(),
                tags: vec![(name.clone(), "latest".to_owned())],
                repo_digests: vec![(name, manifest)],
            })
            .map_err(|e| e.to_string())?;
        ids.push(config);
    }
    Ok(ids)
}

/// Runs `img-rm` on `store` with `input` on stdin; checks that it removed everything.
fn time_rm(binary: &Path, store: &Path, input: &str) -> Result<Duration, String> {
    let started = Instant::now();
    let mut child = Command::new(binary)
        .arg("--root")
        .arg(store)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("running {}: {e}", binary.display()))?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let input = input.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let mut out = String::new();
    child
        .stdout
        .take()
        .ok_or("no stdout")?
        .read_to_string(&mut out)
        .map_err(|e| format!("reading img-rm's output: {e}"))?;
    let status = child
        .wait()
        .map_err(|e| format!("waiting for img-rm: {e}"))?;
    let elapsed = started.elapsed();
    writer
        .join()
        .map_err(|_| "the stdin writer panicked")?
        .map_err(|e| format!("writing img-rm's stdin: {e}"))?;
    if !status.success() {
        return Err(format!("img-rm failed ({status})"));
    }
    let deleted = out
        .lines()
        .filter(|l| l.starts_with(r#"{"Deleted""#))
        .count();
    if deleted != IMAGES || out.lines().count() != 3 * IMAGES {
        return Err(format!(
            "img-rm deleted {deleted} images and printed {} records; expected {IMAGES} and {}",
            out.lines().count(),
            3 * IMAGES
        ));
    }
    let left = std::fs::read_dir(store.join("blobs/sha256"))
        .map_err(|e| format!("listing blobs: {e}"))?
        .count();
    if left != 0 {
        return Err(format!("{left} blob files left after img-rm"));
    }
    Ok(elapsed)
}

/// Copies the directory tree `from` to `to` (files and directories only).
fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("creating {}: {e}", to.display()))?;
    let entries =
        std::fs::read_dir(from).map_err(|e| format!("listing {}: {e}", from.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("listing {}: {e}", from.display()))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.path().is_dir() {
            copy_dir(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst).map_err(|e| format!("copying {}: {e}", src.display()))?;
        }
    }
    Ok(())
}
