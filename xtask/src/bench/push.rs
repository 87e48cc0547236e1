//! `cargo xtask bench push`: img-push side by side with `skopeo copy dir:… docker://…` of
//! the same blobs and with the floor (curl opening every upload with the same POST, then
//! sending every blob at once with the same PUT), to a local registry, median of several
//! runs, for 1 GiB in 8 layers of incompressible data and 100 layers of 64 KiB; then the
//! re-push of an image the registry has (a HEAD of its manifest and the manifest PUT)
//! and img-push's peak memory (with `--rtt`, push_rtt.rs's run through the latency proxy
//! instead). Each tool of each run pushes to a new, empty registry (the same work for all,
//! and nothing skopeo's blob-info cache could mount), after `sync` (no earlier tool's
//! writes being flushed during it) and with the files it reads in the page cache; the
//! tools take turns going first. CPU seconds of the tool and of the registry are taken
//! too: on a machine of few cores the two share them, which is what bounds the floor.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use argh::FromArgs;
use img_core::ops::progress::NoProgress;
use img_core::ops::pull::{PullOptions, pull};
use img_core::settings::Config;
use img_core::store::Store;
use img_core::testing::{TestImage, TestRegistry, image_with_layers, push_image};
use img_core::{Digest, Reference};

use super::pull::{fresh, incompressible_image, status, timed};
use super::{build_release, machine, median, need_tools, peak_rss_kib, record_section, work_dir};

/// Measure img-push against skopeo and curl on a local registry.
#[derive(FromArgs)]
#[argh(subcommand, name = "push")]
pub struct PushBench {
    /// runs of each tool on each image (default 5; the median is reported)
    #[argh(option, default = "5")]
    runs: usize,
    /// size of the large image in MiB (default 1024)
    #[argh(option, default = "1024")]
    big_mib: usize,
    /// round-trip time of the latency proxy put in front of a token-auth registry
    /// (`50ms`: the 100-layer image and its re-push against skopeo; default 0: plain
    /// loopback, compared with curl)
    #[argh(option, default = "String::from(\"0\")")]
    rtt: String,
    /// an img-push binary to measure instead of this tree's release build (to compare
    /// a before and an after under the same bench)
    #[argh(option)]
    img_push: Option<PathBuf>,
}

/// One row of the result table.
struct Row {
    label: String,
    floor: Timed,
    img: Timed,
    skopeo: Duration,
    img_rss_kib: u64,
    again: Duration,
}

/// One timed push: its wall time and the CPU seconds of the tool and of the registry.
#[derive(Debug, Clone, Copy, Default)]
struct Timed {
    wall: Duration,
    tool_cpu: f64,
    registry_cpu: f64,
}

/// The tools each run times, in the order the first run takes them (later runs rotate).
#[derive(Debug, Clone, Copy)]
enum Tool {
    Floor,
    Img,
    Skopeo,
}

/// Runs the benchmark and writes docs/benchmarks.md's "img-push" section.
pub fn run(args: PushBench) -> Result<(), String> {
    let rtt = super::pull::parse_rtt(&args.rtt)?;
    if !rtt.is_zero() {
        need_tools("push", &["skopeo"])?;
        let body = super::push_rtt::run(rtt, args.runs)?;
        return record_section(&format!("img-push, {} ms RTT", rtt.as_millis()), &body).map(|_| ());
    }
    need_tools("push", &["skopeo", "curl"])?;
    let img_push = match &args.img_push {
        Some(bin) => bin.clone(),
        None => build_release("img-push")?,
    };
    let work = work_dir("push")?;
    // The images come from a registry of their own, so the target never holds their
    // blobs in another repository (nothing could be mounted instead of uploaded).
    let source = TestRegistry::builder()
        .workdir(work.join("source"))
        .start()
        .map_err(|e| e.to_string())?;
    let store_root = work.join("store");
    let store = Store::open(&store_root).map_err(|e| e.to_string())?;

    eprintln!("bench: generating images");
    let cases = [
        (
            format!("{} MiB, 8 layers, incompressible", args.big_mib),
            "big",
            incompressible_image(args.big_mib * 1024 * 1024, 8),
        ),
        (
            "100 layers of 64 KiB".to_owned(),
            "small",
            image_with_layers(100, 64 * 1024, 7),
        ),
    ];
    let mut rows = Vec::new();
    for (label, short, image) in cases {
        eprintln!("bench: storing {label}");
        let id = stored(&store, &source, &image)?;
        let dir = skopeo_dir(&work.join(format!("dir-{short}")), &image)?;
        let compressed: u64 = image.blobs.iter().map(|(d, _)| d.size).sum();
        let label = format!("{label} ({:.0} MB)", compressed as f64 / 1e6);
        let blob_files: Vec<PathBuf> = image
            .blobs
            .iter()
            .map(|(d, _)| dir.join(d.digest.hex()))
            .collect();
        let store_files: Vec<PathBuf> = image
            .blobs
            .iter()
            .map(|(d, _)| store.blob_path(&d.digest))
            .collect();
        let (mut floor, mut img, mut skopeo, mut rss, mut again) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for run in 0..args.runs {
            eprintln!("bench: {label}: run {}/{}", run + 1, args.runs);
            let mut tools = [Tool::Floor, Tool::Img, Tool::Skopeo];
            tools.rotate_left(run % 3);
            for tool in tools {
                // A registry of the tool's own, empty, on a port of its own: skopeo's
                // blob-info cache (a machine-wide file for root) remembers where it saw
                // each blob, and would mount it from an earlier repository rather than
                // upload it; and a registry that has the blob from another repository
                // discards the upload instead of keeping it.
                let target = TestRegistry::builder()
                    .workdir(work.join("target"))
                    .start()
                    .map_err(|e| e.to_string())?;
                let addr = target.addr();
                let repo = |tool: &str| format!("bench/{short}-{tool}-{run}");
                match tool {
                    Tool::Floor => {
                        settle(&blob_files)?;
                        floor.push(measured(&target, || {
                            curl_floor(&addr, &repo("curl"), &image, &dir)
                        })?);
                    }
                    Tool::Img => {
                        let reference = format!("{addr}/{}:latest", repo("img"));
                        tag(&store, &id, &reference)?;
                        let push = |reference: &str| {
                            let mut c = Command::new(&img_push);
                            c.arg("--root")
                                .arg(&store_root)
                                .arg(reference)
                                .env("IMG_CONFIG", work.join("img-config.json"))
                                .env("DOCKER_CONFIG", work.join("docker"))
                                .env_remove("REGISTRY_AUTH_FILE");
                            c
                        };
                        settle(&store_files)?;
                        img.push(measured(&target, || timed(&mut push(&reference)))?);
                        // Again: the registry has every blob.
                        again.push(timed(&mut push(&reference))?);
                        // Peak memory of a whole push, in a run of its own under GNU time.
                        let reference = format!("{addr}/{}:latest", repo("rss"));
                        tag(&store, &id, &reference)?;
                        rss.push(peak_rss_kib(&push(&reference))?.unwrap_or(0));
                    }
                    Tool::Skopeo => {
                        settle(&blob_files)?;
                        skopeo.push(
                            measured(&target, || {
                                timed(
                                    Command::new("skopeo")
                                        .args(["copy", "--quiet", "--dest-tls-verify=false"])
                                        .arg(format!("dir:{}", dir.display()))
                                        .arg(format!("docker://{addr}/{}:latest", repo("skopeo"))),
                                )
                            })?
                            .wall,
                        );
                    }
                }
                drop(target);
            }
        }
        rows.push(Row {
            label,
            floor: median_timed(&mut floor),
            img: median_timed(&mut img),
            skopeo: median(&mut skopeo),
            img_rss_kib: rss.iter().copied().max().unwrap_or(0),
            again: median(&mut again),
        });
    }
    let table = render(&rows);
    println!("{table}");
    record_section(
        "img-push",
        &format!(
            "`cargo xtask bench push` — a local docker-registry on 127.0.0.1 (plain HTTP), \
             release build, median of {} runs, each tool of each run to a new registry, after `sync` and with \
             the files it reads cached, the tools taking turns to go first; peak \
             RSS is the largest of the runs. CPU is user + system seconds of the tool and of the \
             registry during the push (the two share the machine's cores). The floor is curl opening every upload (one \
             POST each, all at once) then sending every blob at once (one PUT each); skopeo \
             copies a `dir:` of the same blobs. \"Again\" is img-push of an image the \
             registry has (a HEAD of its manifest, then the manifest PUT). Targets: the large image ≤ 1.3× the \
             floor and ≥ 2.5× faster than skopeo; 100 layers ≥ 3× faster than skopeo; peak \
             RSS < 64 MB; again < 100 ms. Machine: {} (shared with other builds while \
             measured).\n\n{table}",
            args.runs,
            machine()
        ),
    )
    .map(|_| ())
}

fn render(rows: &[Row]) -> String {
    let mut s = String::from(
        "| image | floor (curl POST + PUT) | img-push | skopeo copy | img / floor | skopeo / img | CPU floor: curl + registry | CPU img: img-push + registry | img peak RSS | img-push, again |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {:.2} s | {:.2} s | {:.2} s | {:.2}× | {:.2}× | {:.2} + {:.2} s | {:.2} + {:.2} s | {:.1} MB | {:.0} ms |\n",
            r.label,
            r.floor.wall.as_secs_f64(),
            r.img.wall.as_secs_f64(),
            r.skopeo.as_secs_f64(),
            r.img.wall.as_secs_f64() / r.floor.wall.as_secs_f64(),
            r.skopeo.as_secs_f64() / r.img.wall.as_secs_f64(),
            r.floor.tool_cpu,
            r.floor.registry_cpu,
            r.img.tool_cpu,
            r.img.registry_cpu,
            r.img_rss_kib as f64 / 1024.0,
            r.again.as_secs_f64() * 1000.0,
        ));
    }
    s
}

/// The same state before every timed tool: nothing of an earlier push left to flush to
/// disk during it (`sync`), and the files it reads in the page cache.
fn settle(files: &[PathBuf]) -> Result<(), String> {
    status(&mut Command::new("sync"))?;
    for f in files {
        let mut file =
            std::fs::File::open(f).map_err(|e| format!("reading {}: {e}", f.display()))?;
        std::io::copy(&mut file, &mut std::io::sink())
            .map_err(|e| format!("reading {}: {e}", f.display()))?;
    }
    Ok(())
}

/// Runs `push` (which waits for every process it starts) and takes the CPU its
/// processes and `registry` used meanwhile.
fn measured(
    registry: &TestRegistry,
    push: impl FnOnce() -> Result<Duration, String>,
) -> Result<Timed, String> {
    let (tool0, registry0) = (children_cpu()?, process_cpu(registry.pid())?);
    let wall = push()?;
    Ok(Timed {
        wall,
        tool_cpu: children_cpu()? - tool0,
        registry_cpu: process_cpu(registry.pid())? - registry0,
    })
}

/// User + system seconds of this process's waited-for children (/proc/self/stat's
/// cutime and cstime).
fn children_cpu() -> Result<f64, String> {
    stat_seconds("self", 13)
}

/// User + system seconds of process `pid` (utime and stime).
fn process_cpu(pid: u32) -> Result<f64, String> {
    stat_seconds(&pid.to_string(), 11)
}

/// The sum of the two clock-tick fields at `at` and `at + 1` after the command name
/// of /proc/PID/stat, in seconds (USER_HZ is 100 on Linux).
fn stat_seconds(pid: &str, at: usize) -> Result<f64, String> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).map_err(|e| format!("reading {path}: {e}"))?;
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| format!("{path}: no command name"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| -> Result<f64, String> {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or_else(|| format!("{path}: no field {}", i + 3))
    };
    Ok((tick(at)? + tick(at + 1)?) / 100.0)
}

/// The median of each of `samples`' figures.
fn median_timed(samples: &mut [Timed]) -> Timed {
    let mid = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        match v.len() {
            0 => 0.0,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    };
    Timed {
        wall: median(&mut samples.iter().map(|t| t.wall).collect::<Vec<_>>()),
        tool_cpu: mid(samples.iter().map(|t| t.tool_cpu).collect()),
        registry_cpu: mid(samples.iter().map(|t| t.registry_cpu).collect()),
    }
}

/// `image` pushed to `source` and pulled into `store` (img-core's own pull): its ID.
pub(super) fn stored(
    store: &Store,
    source: &TestRegistry,
    image: &TestImage,
) -> Result<Digest, String> {
    let client = source.client().map_err(|e| e.to_string())?;
    push_image(&client, image).map_err(|e| e.to_string())?;
    let reference =
        Reference::parse_normalized(&format!("{}/{}:{}", source.addr(), image.name, image.tag))
            .map_err(|e| e.to_string())?;
    let options = PullOptions {
        jobs: img_core::settings::DEFAULT_JOBS,
        ..PullOptions::default()
    };
    let mut pulled = pull(store, &reference, &options, &Config::default(), &NoProgress)
        .map_err(|e| e.to_string())?;
    Ok(pulled.remove(0).record.id)
}

/// Tags the image `id` of `store` as `reference`.
pub(super) fn tag(store: &Store, id: &Digest, reference: &str) -> Result<(), String> {
    let r = Reference::parse_normalized(reference).map_err(|e| e.to_string())?;
    store
        .index()
        .tag(id, &r.name(), r.tag().unwrap_or("latest"))
        .map_err(|e| e.to_string())
}

/// `image` as skopeo's `dir:` layout (`manifest.json`, `version`, each blob under its
/// digest's hex), which the floor's curl reads its blobs from too.
pub(super) fn skopeo_dir(dir: &Path, image: &TestImage) -> Result<PathBuf, String> {
    fresh(dir)?;
    let write = |name: &str, bytes: &[u8]| {
        std::fs::write(dir.join(name), bytes).map_err(|e| format!("writing {name}: {e}"))
    };
    write("version", b"Directory Transport Version: 1.1\n")?;
    write("manifest.json", &image.top.1)?;
    for (d, bytes) in &image.blobs {
        write(d.digest.hex(), bytes)?;
    }
    Ok(dir.to_owned())
}

/// The floor: one curl opening every upload at once (POST), one sending every blob at
/// once to the URL it was given (PUT with the digest): its wall time.
fn curl_floor(addr: &str, repo: &str, image: &TestImage, dir: &Path) -> Result<Duration, String> {
    let heads = dir.join("heads");
    fresh(&heads)?;
    let start = Instant::now();
    let mut post = Command::new("curl");
    post.args(["-s", "--parallel", "--parallel-max", "64"]);
    for i in 0..image.blobs.len() {
        if i > 0 {
            post.arg("--next");
        }
        post.args(["-sf", "-X", "POST", "-o", "/dev/null", "-D"])
            .arg(heads.join(i.to_string()))
            .arg(format!("http://{addr}/v2/{repo}/blobs/uploads/"));
    }
    status(&mut post)?;
    let mut put = Command::new("curl");
    put.args(["-s", "--parallel", "--parallel-max", "64"]);
    for (i, (d, _)) in image.blobs.iter().enumerate() {
        let head = std::fs::read_to_string(heads.join(i.to_string()))
            .map_err(|e| format!("reading curl's headers: {e}"))?;
        let location = head
            .lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.eq_ignore_ascii_case("location"))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .ok_or_else(|| format!("the registry opened an upload without a Location: {head}"))?;
        let sep = if location.contains('?') { '&' } else { '?' };
        if i > 0 {
            put.arg("--next");
        }
        put.args(["-sf", "-o", "/dev/null", "-H"])
            .arg("Content-Type: application/octet-stream")
            .arg("-T")
            .arg(dir.join(d.digest.hex()))
            .arg(format!("{location}{sep}digest={}", d.digest));
    }
    status(&mut put)?;
    Ok(start.elapsed())
}
