//! `cargo xtask bench push`: img-push side by side with `skopeo copy dir:… docker://…` of
//! the same blobs and with the floor (curl opening every upload with the same POST, then
//! sending every blob at once with the same PUT), to a local registry, median of several
//! runs, for 1 GiB in 8 layers of incompressible data and 100 layers of 64 KiB; then the
//! re-push of an image the registry has (a HEAD of its manifest and the manifest PUT)
//! and img-push's peak memory (with `--rtt`, push_rtt.rs's run through the latency proxy
//! instead). Each run pushes to a new registry, each tool to a repository of its own, so
//! every tool uploads every blob.

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
use super::{build_release, machine, median, peak_rss_kib, record_section};

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
}

/// One row of the result table.
struct Row {
    label: String,
    floor: Duration,
    img: Duration,
    skopeo: Duration,
    img_rss_kib: u64,
    again: Duration,
}

/// Runs the benchmark and writes docs/benchmarks.md's "img-push" section.
pub fn run(args: PushBench) -> Result<(), String> {
    let rtt = super::pull::parse_rtt(&args.rtt)?;
    if !rtt.is_zero() {
        if !crate::ci::on_path("skopeo") {
            return Err("the push benchmark needs skopeo: apt-get install skopeo".to_owned());
        }
        let body = super::push_rtt::run(rtt, args.runs)?;
        return record_section(&format!("img-push, {} ms RTT", rtt.as_millis()), &body).map(|_| ());
    }
    for tool in ["skopeo", "curl"] {
        if !crate::ci::on_path(tool) {
            return Err(format!(
                "the push benchmark needs {tool}: apt-get install {tool}"
            ));
        }
    }
    let img_push = build_release("img-push")?;
    let work = crate::util::target_dir().join("bench-push");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
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
        let (mut floor, mut img, mut skopeo, mut rss, mut again) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for run in 0..args.runs {
            eprintln!("bench: {label}: run {}/{}", run + 1, args.runs);
            // A registry of the run's own, on a port of its own: skopeo's blob-info cache
            // (a machine-wide file for root) remembers where it saw each blob, and would
            // mount it from an earlier run's repository rather than upload it.
            let target = TestRegistry::builder()
                .workdir(work.join("target"))
                .start()
                .map_err(|e| e.to_string())?;
            let addr = target.addr();
            let repo = |tool: &str| format!("bench/{short}-{tool}-{run}");
            floor.push(curl_floor(&addr, &repo("curl"), &image, &dir)?);

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
            img.push(timed(&mut push(&reference))?);
            // Again: the registry has every blob.
            again.push(timed(&mut push(&reference))?);
            // Peak memory of a whole push, in a run of its own under GNU time.
            let reference = format!("{addr}/{}:latest", repo("rss"));
            tag(&store, &id, &reference)?;
            rss.push(peak_rss_kib(&push(&reference))?.unwrap_or(0));

            skopeo.push(timed(
                Command::new("skopeo")
                    .args(["copy", "--quiet", "--dest-tls-verify=false"])
                    .arg(format!("dir:{}", dir.display()))
                    .arg(format!("docker://{addr}/{}:latest", repo("skopeo"))),
            )?);
            drop(target);
        }
        rows.push(Row {
            label,
            floor: median(&mut floor),
            img: median(&mut img),
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
             release build, median of {} runs, each run to a new registry and each tool to a repository of its own; peak \
             RSS is the largest of the runs. The floor is curl opening every upload (one \
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
        "| image | floor (curl POST + PUT) | img-push | skopeo copy | img / floor | skopeo / img | img peak RSS | img-push, again |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {:.2} s | {:.2} s | {:.2} s | {:.2}× | {:.2}× | {:.1} MB | {:.0} ms |\n",
            r.label,
            r.floor.as_secs_f64(),
            r.img.as_secs_f64(),
            r.skopeo.as_secs_f64(),
            r.img.as_secs_f64() / r.floor.as_secs_f64(),
            r.skopeo.as_secs_f64() / r.img.as_secs_f64(),
            r.img_rss_kib as f64 / 1024.0,
            r.again.as_secs_f64() * 1000.0,
        ));
    }
    s
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
