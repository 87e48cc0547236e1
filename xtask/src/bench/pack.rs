//! `cargo xtask bench pack`: img-pack save and load of a 1 GiB image (8 × 128 MiB layers
//! of incompressible data), page cache warm, side by side in one run with the floor (`cat`
//! of the blob files into one file, then `sync` of it — save and load fsync what they
//! write, so the floor pays for that too), with skopeo doing the same jobs from and to a
//! `dir:` of the same blobs, and with docker 20.10's save and load for reference (docker
//! also unpacks every layer on load). Medians of several runs; img's peak RSS.
//!
//! Targets: save ≤ 1.3× the floor, load ≤ 1.5× the floor, both ≥ 2.5× faster than skopeo,
//! peak RSS < 64 MB.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use argh::FromArgs;
use img_core::Digest;
use img_core::digest::Algorithm;
use img_core::index::NewImage;
use img_core::oci::{Descriptor, Manifest, media_type};
use img_core::store::Store;
use img_core::testing::TestDockerd;
use img_core::testing::images::SplitMix64;

use super::{build_release, machine, median, need_tools, peak_rss_kib, record_section, work_dir};

/// Measure img-pack save and load against the floor, skopeo and docker.
#[derive(FromArgs)]
#[argh(subcommand, name = "pack")]
pub struct PackBench {
    /// timed runs of each job (default 3, after one warm-up; the median is reported)
    #[argh(option, default = "3")]
    runs: usize,
    /// layers of the image (default 8)
    #[argh(option, default = "8")]
    layers: usize,
    /// size of each layer in MiB (default 128)
    #[argh(option, default = "128")]
    layer_mib: usize,
    /// skip docker's save and load (they are for reference only)
    #[argh(switch)]
    no_docker: bool,
    /// keep the work directory (target/bench-pack) for looking at by hand
    #[argh(switch)]
    keep: bool,
}

const NAME: &str = "bench/pack:latest";

/// One job, timed.
struct Row {
    job: &'static str,
    median: Duration,
}

/// Runs the benchmark and writes docs/benchmarks.md's "img-pack" section.
pub fn run(args: PackBench) -> Result<(), String> {
    need_tools("pack", &["skopeo", "sync", "cat"])?;
    let img_pack = build_release("img-pack")?;
    let work = work_dir("pack")?;
    let store_root = work.join("store");
    let started = Instant::now();
    let blobs = build_image(&store_root, args.layers, args.layer_mib)?;
    let total: u64 = blobs.iter().map(|(_, s)| s).sum();
    eprintln!(
        "built a {:.0} MiB image in {:.1} s",
        total as f64 / (1 << 20) as f64,
        started.elapsed().as_secs_f64()
    );
    let skopeo_dir = work.join("skopeo-src");
    make_skopeo_dir(&store_root, &skopeo_dir)?;
    let archive = work.join("img.tar");
    let sh = |script: String| {
        let mut c = Command::new("sh");
        c.args(["-c", &script]);
        c
    };
    let files: Vec<String> = blobs
        .iter()
        .map(|(d, _)| {
            store_root
                .join("blobs/sha256")
                .join(d.hex())
                .display()
                .to_string()
        })
        .collect();
    let cat_out = work.join("cat.tar");
    let save_out = work.join("saved.tar");
    let load_root = work.join("loaded");
    let skopeo_out = work.join("skopeo.tar");
    let skopeo_dest = work.join("skopeo-dest");
    let save = |dest: &Path| {
        let mut c = Command::new(&img_pack);
        c.arg("--root")
            .arg(&store_root)
            .args(["save", "-o"])
            .arg(dest)
            .arg(NAME);
        c
    };
    let load = || {
        let mut c = Command::new(&img_pack);
        c.arg("--root")
            .arg(&load_root)
            .args(["load", "-i"])
            .arg(&archive);
        c
    };
    crate::util::run(&mut save(&archive))?;
    let remove = |p: &Path| {
        let _ = std::fs::remove_file(p);
        let _ = std::fs::remove_dir_all(p);
    };
    let mut jobs = vec![
        Job {
            name: "floor: cat + sync",
            output: cat_out.clone(),
            command: sh(format!(
                "cat {} > {} && sync {}",
                files.join(" "),
                cat_out.display(),
                cat_out.display()
            )),
        },
        Job {
            name: "img-pack save -o",
            output: save_out.clone(),
            command: save(&save_out),
        },
        Job {
            name: "img-pack load -i",
            output: load_root.clone(),
            command: load(),
        },
        Job {
            name: "skopeo copy dir: docker-archive:",
            output: skopeo_out.clone(),
            command: {
                let mut c = Command::new("skopeo");
                c.args(["copy", "-q"])
                    .arg(format!("dir:{}", skopeo_dir.display()))
                    .arg(format!("docker-archive:{}:{NAME}", skopeo_out.display()));
                c
            },
        },
        Job {
            name: "skopeo copy docker-archive: dir:",
            output: skopeo_dest.clone(),
            command: {
                let mut c = Command::new("skopeo");
                c.args(["copy", "-q"])
                    .arg(format!("docker-archive:{}", archive.display()))
                    .arg(format!("dir:{}", skopeo_dest.display()));
                c
            },
        },
    ];
    let mut medians = round_robin(args.runs, &mut jobs, &|_| Ok(()))?;
    let (floor, img_save, img_load, skopeo_save, skopeo_load) =
        (medians[0], medians[1], medians[2], medians[3], medians[4]);
    remove(&save_out);
    let save_rss = peak_rss_kib(&save(&save_out))?;
    remove(&load_root);
    let load_rss = peak_rss_kib(&load())?;

    let mut docker_note = "docker: skipped (--no-docker)".to_owned();
    if !args.no_docker {
        match TestDockerd::start() {
            Ok(docker) => {
                let dl = |a: &[&str]| {
                    let mut c = docker.docker();
                    c.args(a);
                    c
                };
                crate::util::run(&mut dl(&[
                    "load",
                    "-q",
                    "-i",
                    &archive.display().to_string(),
                ]))?;
                let d_out = work.join("docker.tar");
                let d_saved = work.join("docker-saved.tar");
                crate::util::run(&mut dl(&[
                    "save",
                    "-o",
                    &d_saved.display().to_string(),
                    NAME,
                ]))?;
                let mut docker_jobs = vec![
                    Job {
                        name: "docker save -o (20.10)",
                        output: d_out.clone(),
                        command: dl(&["save", "-o", &d_out.display().to_string(), NAME]),
                    },
                    Job {
                        name: "docker load -i (20.10, unpacks layers)",
                        output: PathBuf::new(),
                        command: dl(&["load", "-q", "-i", &d_saved.display().to_string()]),
                    },
                ];
                // Before each load the image goes, so that docker loads it whole again; the
                // save job runs first in each round and finds it there.
                let rmi = |job: &str| {
                    if job.starts_with("docker load") {
                        let _ = dl(&["rmi", "-f", NAME]).output();
                    }
                    Ok(())
                };
                medians.extend(round_robin(args.runs, &mut docker_jobs, &rmi)?);
                jobs.extend(docker_jobs);
                docker_note = "docker 20.10 (vfs) for reference: its load also unpacks every layer"
                    .to_owned();
            }
            Err(e) => docker_note = format!("docker: not measured, dockerd cannot start here: {e}"),
        }
    }
    let rows: Vec<Row> = jobs
        .iter()
        .zip(&medians)
        .map(|(j, m)| Row {
            job: j.name,
            median: *m,
        })
        .collect();

    let mut table = String::from("| job | median | × floor |\n|---|---:|---:|\n");
    for r in &rows {
        table.push_str(&format!(
            "| {} | {:.2} s | {:.2} |\n",
            r.job,
            r.median.as_secs_f64(),
            r.median.as_secs_f64() / floor.as_secs_f64()
        ));
    }
    let kib = |k: Option<u64>| {
        k.map_or("n/a".to_owned(), |k| {
            format!("{:.1} MB", k as f64 * 1024.0 / 1e6)
        })
    };
    let summary = format!(
        "save {:.2}× the floor (target ≤ 1.3), {:.1}× faster than skopeo (target ≥ 2.5); \
         load {:.2}× the floor (target ≤ 1.5), {:.1}× faster than skopeo (target ≥ 2.5); \
         peak RSS save {}, load {} (target < 64 MB).",
        img_save.as_secs_f64() / floor.as_secs_f64(),
        skopeo_save.as_secs_f64() / img_save.as_secs_f64(),
        img_load.as_secs_f64() / floor.as_secs_f64(),
        skopeo_load.as_secs_f64() / img_load.as_secs_f64(),
        kib(save_rss),
        kib(load_rss),
    );
    println!("{table}\n{summary}\n{docker_note}");
    record_section(
        "img-pack",
        &format!(
            "`cargo xtask bench pack` — save and load of a {} × {} MiB image of incompressible \
             uncompressed layers, page cache warm, medians of {} runs after a warm-up; the floor \
             is `cat` of the blob files into one file and `sync` of it (img-pack fsyncs what it \
             writes); skopeo does the same jobs from and to a `dir:` of the same blobs. \
             Machine: {}.\n\n{table}\n{summary}\n\n{docker_note}.",
            args.layers,
            args.layer_mib,
            args.runs,
            machine()
        ),
    )?;
    if !args.keep {
        let _ = std::fs::remove_dir_all(&work);
    }
    let missed: Vec<&str> = [
        (
            img_save.as_secs_f64() > 1.3 * floor.as_secs_f64(),
            "save ≤ 1.3× floor",
        ),
        (
            img_load.as_secs_f64() > 1.5 * floor.as_secs_f64(),
            "load ≤ 1.5× floor",
        ),
        (
            skopeo_save.as_secs_f64() < 2.5 * img_save.as_secs_f64(),
            "save ≥ 2.5× skopeo",
        ),
        (
            skopeo_load.as_secs_f64() < 2.5 * img_load.as_secs_f64(),
            "load ≥ 2.5× skopeo",
        ),
        (
            save_rss.is_some_and(|k| k * 1024 >= 64_000_000),
            "save RSS < 64 MB",
        ),
        (
            load_rss.is_some_and(|k| k * 1024 >= 64_000_000),
            "load RSS < 64 MB",
        ),
    ]
    .into_iter()
    .filter(|(miss, _)| *miss)
    .map(|(_, what)| what)
    .collect();
    if missed.is_empty() {
        Ok(())
    } else {
        Err(format!("missed: {}", missed.join(", ")))
    }
}

/// One job of the table: what it writes (removed before each run) and its command.
pub(super) struct Job {
    pub(super) name: &'static str,
    pub(super) output: PathBuf,
    pub(super) command: Command,
}

/// Runs every job `runs` + 1 times, round-robin (the first round a warm-up), so that no
/// job is favoured by when it ran; before each run its output goes, `setup` runs and
/// everything dirty is synced, untimed. Returns each job's median wall time.
pub(super) fn round_robin(
    runs: usize,
    jobs: &mut [Job],
    setup: &dyn Fn(&str) -> Result<(), String>,
) -> Result<Vec<Duration>, String> {
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); jobs.len()];
    for round in 0..=runs {
        for (i, job) in jobs.iter_mut().enumerate() {
            if !job.output.as_os_str().is_empty() {
                let _ = std::fs::remove_file(&job.output);
                let _ = std::fs::remove_dir_all(&job.output);
            }
            setup(job.name)?;
            crate::util::run(&mut Command::new("sync"))?;
            let cmd = &mut job.command;
            cmd.stdout(Stdio::null()).stderr(Stdio::piped());
            let start = Instant::now();
            let out = cmd
                .output()
                .map_err(|e| format!("running {}: {e}", crate::util::display(cmd)))?;
            let took = start.elapsed();
            if !out.status.success() {
                return Err(format!(
                    "{} failed: {}",
                    job.name,
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            eprintln!("round {round}: {}: {:.2} s", job.name, took.as_secs_f64());
            if round > 0 {
                times[i].push(took);
            }
        }
    }
    Ok(times.iter_mut().map(|t| median(t)).collect())
}

/// Builds the image in a store through img-core: each layer a tar of one file of random
/// bytes, streamed into the store (never whole in memory). Returns every blob and its size.
fn build_image(root: &Path, layers: usize, layer_mib: usize) -> Result<Vec<(Digest, u64)>, String> {
    build_image_as(
        root,
        layers,
        layer_mib,
        ("docker.io/bench/pack", "latest"),
        None,
    )
}

/// [`build_image`] under `(repository, tag)`; with `last_seed`, the last layer's bytes
/// come from that seed instead (a release that changed its top layer: every other layer
/// is the same blob).
pub(super) fn build_image_as(
    root: &Path,
    layers: usize,
    layer_mib: usize,
    (repository, tag): (&str, &str),
    last_seed: Option<u64>,
) -> Result<Vec<(Digest, u64)>, String> {
    let store = Store::open(root).map_err(|e| e.to_string())?;
    let mut descs = Vec::new();
    let mut rng = SplitMix64::new(7);
    for i in 0..layers {
        if i + 1 == layers
            && let Some(seed) = last_seed
        {
            rng = SplitMix64::new(seed);
        }
        let size = (layer_mib << 20) as u64;
        let mut w = store
            .import(Algorithm::Sha256, u64::MAX)
            .map_err(|e| e.to_string())?;
        let mut h = tar::Header::new_ustar();
        h.set_path(format!("layer{i}.bin"))
            .map_err(|e| e.to_string())?;
        h.set_size(size);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        w.write_all(h.as_bytes()).map_err(|e| e.to_string())?;
        let mut left = size;
        while left > 0 {
            let n = left.min(1 << 20);
            w.write_all(&rng.bytes(n as usize))
                .map_err(|e| e.to_string())?;
            left -= n;
        }
        w.write_all(&[0u8; 1024]).map_err(|e| e.to_string())?;
        let staged = w.finish().map_err(|e| e.to_string())?;
        descs.push(Descriptor {
            media_type: media_type::OCI_LAYER_TAR.to_owned(),
            digest: staged.digest().clone(),
            size: staged.size(),
            urls: vec![],
            annotations: Default::default(),
            platform: None,
            artifact_type: None,
        });
        staged
            .commit(media_type::OCI_LAYER_TAR)
            .map_err(|e| e.to_string())?;
    }
    let diff_ids: Vec<String> = descs.iter().map(|d| d.digest.to_string()).collect();
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    })
    .to_string()
    .into_bytes();
    let config_desc = Descriptor::of(media_type::OCI_CONFIG, &config);
    store
        .put_blob(media_type::OCI_CONFIG, &config, &config_desc.digest)
        .map_err(|e| e.to_string())?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(media_type::OCI_MANIFEST.to_owned()),
        config: config_desc.clone(),
        layers: descs.clone(),
        subject: None,
        annotations: Default::default(),
    };
    let bytes = serde_json::to_vec(&manifest).map_err(|e| e.to_string())?;
    let top = Descriptor::of(media_type::OCI_MANIFEST, &bytes);
    store
        .put_blob(media_type::OCI_MANIFEST, &bytes, &top.digest)
        .map_err(|e| e.to_string())?;
    let mut all: Vec<Digest> = descs.iter().map(|d| d.digest.clone()).collect();
    all.push(config_desc.digest.clone());
    store
        .index()
        .put_image(&NewImage {
            id: config_desc.digest.clone(),
            target: top.digest.clone(),
            target_media_type: media_type::OCI_MANIFEST.to_owned(),
            created: Some("2024-01-01T00:00:00Z".to_owned()),
            platform: "linux/amd64".to_owned(),
            blobs: all,
            labels: Default::default(),
            tags: vec![(repository.to_owned(), tag.to_owned())],
            repo_digests: vec![],
        })
        .map_err(|e| e.to_string())?;
    let mut out: Vec<(Digest, u64)> = descs.iter().map(|d| (d.digest.clone(), d.size)).collect();
    out.push((config_desc.digest.clone(), config_desc.size));
    out.push((top.digest.clone(), top.size));
    Ok(out)
}

/// A skopeo `dir:` holding the same blobs (hard links to the store's files) and manifest.
fn make_skopeo_dir(root: &Path, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let store = Store::open(root).map_err(|e| e.to_string())?;
    let image = store
        .index()
        .image_by_tag("docker.io/bench/pack", "latest")
        .map_err(|e| e.to_string())?
        .ok_or("the bench image vanished")?;
    let manifest = store.read_blob(&image.target).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("manifest.json"), &manifest).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("version"), "Directory Transport Version: 1.1\n")
        .map_err(|e| e.to_string())?;
    for d in store
        .index()
        .image_blobs(&image.id)
        .map_err(|e| e.to_string())?
    {
        if d == image.target {
            continue;
        }
        let from: PathBuf = store.blob_path(&d);
        std::fs::hard_link(&from, dir.join(d.hex())).map_err(|e| e.to_string())?;
    }
    Ok(())
}
