//! `cargo xtask bench pull`: img-pull side by side with `skopeo copy docker://… dir:…` and
//! with the floor (every blob fetched at once with curl, to disk, then `sync` — img-pull
//! fsyncs what it commits, so the floor pays for that too), on a local registry, median
//! of several runs, for three images: 1 GiB in 8 layers of incompressible data, 100
//! layers of 64 KiB, and a ~200 MB root filesystem built from files on this machine.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use argh::FromArgs;
use img_core::Digest;
use img_core::oci::{Descriptor, ImageConfig, Manifest, RootFs, media_type};
use img_core::testing::images::SplitMix64;
use img_core::testing::{TestImage, TestRegistry, image_with_layers, push_image};

use super::{build_release, machine, median, need_tools, peak_rss_kib, record_section, work_dir};

/// Measure img-pull against skopeo and curl on a local registry.
#[derive(FromArgs)]
#[argh(subcommand, name = "pull")]
pub struct PullBench {
    /// runs of each tool on each image (default 5; the median is reported)
    #[argh(option, default = "5")]
    runs: usize,
    /// size of the large image in MiB (default 1024)
    #[argh(option, default = "1024")]
    big_mib: usize,
    /// round-trip time of the latency proxy put in front of a token-auth registry
    /// (`50ms`; default 0: plain loopback, no proxy, compared with curl)
    #[argh(option, default = "String::from(\"0\")")]
    rtt: String,
    /// with --rtt: the bandwidth cap of the large image in Mbit/s (default 1000, so that
    /// 1 GiB is 9 s a pull; 0: none)
    #[argh(option, default = "1000")]
    bandwidth_mbit: u64,
    /// with --rtt: the registry answers blob GETs with a 307 to a second delayed port
    /// (its CDN)
    #[argh(switch)]
    cdn: bool,
}

struct Case {
    label: String,
    image: TestImage,
}

/// One row of the result table.
struct Row {
    label: String,
    floor: Duration,
    img: Duration,
    skopeo: Duration,
    img_rss_kib: u64,
    present: Duration,
}

/// Runs the benchmark and writes docs/benchmarks.md's "img-pull" section.
pub fn run(args: PullBench) -> Result<(), String> {
    let rtt = parse_rtt(&args.rtt)?;
    if args.cdn && rtt.is_zero() {
        return Err(
            "--cdn goes with --rtt (the CDN is a port of the latency proxy): add --rtt 50ms"
                .to_owned(),
        );
    }
    if !rtt.is_zero() {
        need_tools("pull", &["skopeo"])?;
        let body = super::pull_rtt::run(super::pull_rtt::RttArgs {
            rtt,
            runs: args.runs,
            big_mib: args.big_mib,
            bandwidth: (args.bandwidth_mbit > 0).then(|| args.bandwidth_mbit * 1_000_000 / 8),
            small_jobs: img_core::ops::pull::SMALL_BLOB_JOBS,
            large_jobs: img_core::settings::DEFAULT_JOBS,
            cdn: args.cdn,
        })?;
        let cdn = if args.cdn { ", CDN" } else { "" };
        return record_section(&format!("img-pull, {} ms RTT{cdn}", rtt.as_millis()), &body)
            .map(|_| ());
    }
    need_tools("pull", &["skopeo", "curl", "sync"])?;
    let img_pull = build_release("img-pull")?;
    let work = work_dir("pull")?;
    let registry = TestRegistry::builder()
        .workdir(work.join("registry"))
        .start()
        .map_err(|e| e.to_string())?;
    let client = registry.client().map_err(|e| e.to_string())?;
    let addr = registry.addr();

    eprintln!("bench: generating images");
    let cases = vec![
        Case {
            label: format!("{} MiB, 8 layers, incompressible", args.big_mib),
            image: incompressible_image(args.big_mib * 1024 * 1024, 8),
        },
        Case {
            label: "100 layers of 64 KiB".to_owned(),
            image: image_with_layers(100, 64 * 1024, 7),
        },
        Case {
            label: "root filesystem: 200 MB of files from /usr".to_owned(),
            image: rootfs_image(200 * 1000 * 1000)?,
        },
    ];
    let mut rows = Vec::new();
    for case in cases {
        eprintln!("bench: pushing {}", case.label);
        push_image(&client, &case.image).map_err(|e| e.to_string())?;
        let reference = format!("{addr}/{}:{}", case.image.name, case.image.tag);
        let compressed: u64 = case.image.blobs.iter().map(|(d, _)| d.size).sum();
        let label = format!("{} ({:.0} MB)", case.label, compressed as f64 / 1e6);
        let urls: Vec<String> = case
            .image
            .blobs
            .iter()
            .map(|(d, _)| format!("http://{addr}/v2/{}/blobs/{}", case.image.name, d.digest))
            .collect();
        let manifest_url = format!(
            "http://{addr}/v2/{}/manifests/{}",
            case.image.name, case.image.tag
        );
        let (mut floor, mut img, mut skopeo, mut rss, mut present) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for run in 0..args.runs {
            eprintln!("bench: {label}: run {}/{}", run + 1, args.runs);
            let dest = work.join("dest");
            // The floor: manifest, then every blob at once, then sync.
            fresh(&dest)?;
            let mut curl = Command::new("curl");
            curl.args([
                "-sf",
                "--no-progress-meter",
                "--parallel",
                "--parallel-max",
                "64",
            ])
            .arg("-H")
            .arg(format!("Accept: {}", media_type::MANIFEST_ACCEPT))
            .arg("-o")
            .arg(dest.join("manifest.json"))
            .arg(&manifest_url);
            for (i, u) in urls.iter().enumerate() {
                curl.arg("-o").arg(dest.join(format!("blob{i}"))).arg(u);
            }
            let t = Instant::now();
            status(&mut curl)?;
            status(&mut Command::new("sync"))?;
            floor.push(t.elapsed());

            fresh(&dest)?;
            let pull = || {
                let mut c = Command::new(&img_pull);
                c.arg("--root").arg(&dest).arg(&reference);
                c
            };
            img.push(timed(&mut pull())?);
            // Pulling it again: everything is present.
            present.push(timed(&mut pull())?);
            // Peak memory of a whole pull, in a run of its own under GNU time.
            fresh(&dest)?;
            rss.push(peak_rss_kib(&pull())?.unwrap_or(0));

            fresh(&dest)?;
            skopeo.push(timed(
                Command::new("skopeo")
                    .args(["copy", "--quiet", "--src-tls-verify=false"])
                    .arg(format!("docker://{reference}"))
                    .arg(format!("dir:{}", dest.join("skopeo").display())),
            )?);
        }
        rows.push(Row {
            label,
            floor: median(&mut floor),
            img: median(&mut img),
            skopeo: median(&mut skopeo),
            img_rss_kib: rss.iter().copied().max().unwrap_or(0),
            present: median(&mut present),
        });
    }
    let table = render(&rows, args.runs);
    println!("{table}");
    record_section(
        "img-pull",
        &format!(
            "`cargo xtask bench pull` — a local docker-registry on 127.0.0.1 (plain HTTP), \
             release build, median of {} runs; peak RSS is the largest of the runs. \
             Targets: the large image ≤ 1.3× the floor and ≥ 2.5× faster than skopeo; \
             100 layers ≥ 2× faster than skopeo; peak RSS < 64 MB; an image already \
             present < 50 ms. Machine: {}.\n\n{table}",
            args.runs,
            machine()
        ),
    )
    .map(|_| ())
}

fn render(rows: &[Row], _runs: usize) -> String {
    let mut s = String::from(
        "| image | floor (curl + sync) | img-pull | skopeo copy | img / floor | skopeo / img | img peak RSS | img-pull, present |\n|---|---|---|---|---|---|---|---|\n",
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
            r.present.as_secs_f64() * 1000.0,
        ));
    }
    s
}

pub(super) fn fresh(dir: &Path) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))
}

/// Wall time of one successful run of `cmd`.
pub(super) fn timed(cmd: &mut Command) -> Result<Duration, String> {
    let t = Instant::now();
    status(cmd)?;
    Ok(t.elapsed())
}

pub(super) fn status(cmd: &mut Command) -> Result<(), String> {
    let st = cmd
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed: {st}"))
    }
}

/// An OCI image of `layers` gzip layers (fastest level: the data does not compress) that
/// together hold `total` bytes of random data.
pub(super) fn incompressible_image(total: usize, layers: usize) -> TestImage {
    let mut rng = SplitMix64::new(1);
    let tars: Vec<Vec<u8>> = (0..layers)
        .map(|i| {
            let data = rng.bytes(total / layers);
            let mut b = tar::Builder::new(Vec::new());
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(0);
            h.set_cksum();
            let _ = b.append_data(&mut h, format!("data/blob{i}.bin"), &data[..]);
            b.into_inner().unwrap_or_default()
        })
        .collect();
    image_of_tars("bench/incompressible", "latest", tars)
}

/// An OCI image whose layers are tars of real files under /usr, about `total` bytes of
/// file content, in four layers.
pub(super) fn rootfs_image(total: u64) -> Result<TestImage, String> {
    let mut files = Vec::new();
    collect_files(Path::new("/usr"), &mut files, total);
    if files.is_empty() {
        return Err("no readable files under /usr to build a root filesystem from".to_owned());
    }
    let per_layer = files.len().div_ceil(4);
    let mut tars = Vec::new();
    for chunk in files.chunks(per_layer) {
        let mut b = tar::Builder::new(Vec::new());
        b.follow_symlinks(false);
        for (path, _) in chunk {
            let name = path.strip_prefix("/").unwrap_or(path);
            let _ = b.append_path_with_name(path, name);
        }
        tars.push(b.into_inner().map_err(|e| e.to_string())?);
    }
    Ok(image_of_tars("bench/rootfs", "latest", tars))
}

fn collect_files(dir: &Path, out: &mut Vec<(PathBuf, u64)>, budget: u64) {
    let mut entries: Vec<_> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok()).collect(),
        Err(_) => return,
    };
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let used: u64 = out.iter().map(|(_, s)| s).sum();
        if used >= budget {
            return;
        }
        let Ok(meta) = std::fs::symlink_metadata(e.path()) else {
            continue;
        };
        if meta.is_dir() {
            collect_files(&e.path(), out, budget);
        } else if meta.is_file() && std::fs::File::open(e.path()).is_ok() {
            out.push((e.path(), meta.len()));
        }
    }
}

/// An OCI image of gzip layers made from `tars`.
fn image_of_tars(name: &str, tag: &str, tars: Vec<Vec<u8>>) -> TestImage {
    let mut blobs = Vec::new();
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    for tar in tars {
        diff_ids.push(Digest::sha256_of(&tar));
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let _ = e.write_all(&tar);
        let gz = e.finish().unwrap_or_default();
        let d = Descriptor::of(media_type::OCI_LAYER_GZIP, &gz);
        layers.push(d.clone());
        blobs.push((d, gz));
    }
    let config = ImageConfig {
        created: Some("2024-01-01T00:00:00Z".to_owned()),
        architecture: "amd64".to_owned(),
        os: "linux".to_owned(),
        rootfs: RootFs {
            kind: "layers".to_owned(),
            diff_ids,
        },
        ..ImageConfig::default()
    };
    let config_bytes = serde_json::to_vec(&config).unwrap_or_default();
    let config_desc = Descriptor::of(media_type::OCI_CONFIG, &config_bytes);
    blobs.insert(0, (config_desc.clone(), config_bytes));
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(media_type::OCI_MANIFEST.to_owned()),
        config: config_desc,
        layers,
        subject: None,
        annotations: Default::default(),
    };
    let bytes = serde_json::to_vec(&manifest).unwrap_or_default();
    TestImage {
        name: name.to_owned(),
        tag: tag.to_owned(),
        blobs,
        manifests: Vec::new(),
        top: (Descriptor::of(media_type::OCI_MANIFEST, &bytes), bytes),
    }
}

/// `50ms`, `0.05s`, `0`: the proxy's round-trip time.
pub(super) fn parse_rtt(s: &str) -> Result<Duration, String> {
    let bad = || format!("--rtt {s:?}: expected a duration such as 50ms or 0");
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else {
        (s, 1e-3)
    };
    let v: f64 = num.trim().parse().map_err(|_| bad())?;
    if !(0.0..=10.0).contains(&(v * scale)) {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(v * scale))
}
