//! `cargo xtask bench pull --rtt 50ms`: img-pull and `skopeo copy` side by side through
//! the latency proxy (img-core's testing::latency) in front of a local docker-registry with
//! token auth on, its token server behind the same delay; for reference (as root), `docker
//! pull` by a dockerd of its own (vfs; it also unpacks) on the 100-layer and root
//! filesystem images. Each image's wall time, the requests and connections by kind, and
//! the ideal: (setup round trips + ⌈blobs ÷ concurrency⌉ × round trips a blob) × RTT +
//! bytes ÷ bandwidth. With `--cdn`, blob GETs are answered with a 307 to a second delayed
//! port (the registry's CDN, serving the same storage), so each blob costs two round trips.

use std::process::Command;
use std::time::Duration;

use img_core::testing::latency::{Counts, LatencyProxy, Traffic};
use img_core::testing::{
    TestDockerd, TestImage, TestRegistry, image_with_layers, push_image, standard_set,
};

use super::latency::{PASSWORD, TokenAuth, USER};
use super::pull::{fresh, incompressible_image, rootfs_image, timed};
use super::{build_release, machine, median, work_dir};

/// What the benchmark is told.
pub struct RttArgs {
    pub rtt: Duration,
    pub runs: usize,
    pub big_mib: usize,
    /// Bytes a second for the large image (the others run uncapped).
    pub bandwidth: Option<u64>,
    /// The concurrency img-pull uses for small blobs (< 1 MiB) and for large ones.
    pub small_jobs: usize,
    pub large_jobs: usize,
    /// Blob GETs redirected to a CDN port.
    pub cdn: bool,
}

struct Case {
    label: String,
    image: TestImage,
    capped: bool,
    /// Round trips before the first blob: challenge, token, manifest (and the child
    /// manifest of an index).
    setup: u32,
    /// The blobs a one-platform pull fetches, with their sizes.
    blobs: Vec<u64>,
    /// Whether docker pull runs on it too (its vfs store copies every layer: only the
    /// 100-layer and root filesystem images).
    docker: bool,
}

struct Row {
    label: String,
    ideal: Duration,
    img: Duration,
    skopeo: Duration,
    present: Duration,
    docker: Option<Duration>,
    img_counts: Counts,
    present_counts: Counts,
    skopeo_counts: Counts,
    docker_counts: Option<Counts>,
    concurrency: usize,
    /// bytes ÷ bandwidth, for a capped image.
    bandwidth_floor: Option<Duration>,
}

pub fn run(args: RttArgs) -> Result<String, String> {
    let img_pull = build_release("img-pull")?;
    let work = work_dir("pull-rtt")?;
    let empty_config = work.join("docker-config");
    std::fs::create_dir_all(&empty_config).map_err(|e| e.to_string())?;

    let auth = TokenAuth::start(&work, args.rtt, Traffic::new(None), true)?;
    let traffic = auth.traffic();
    let registry = auth.registry(work.join("registry"))?;
    let pusher = registry
        .client_as(USER, PASSWORD)
        .map_err(|e| e.to_string())?;
    // The CDN: a registry over the same storage without auth (a presigned URL needs
    // none), behind a delay of its own and the same bandwidth bucket.
    let cdn = if args.cdn {
        let origin = TestRegistry::builder()
            .workdir(work.join("cdn"))
            .storage(registry.dir().join("data"))
            .start()
            .map_err(|e| e.to_string())?;
        let proxy = LatencyProxy::start_cdn(&origin.addr(), args.rtt, traffic.clone())
            .map_err(|e| format!("starting the CDN proxy: {e}"))?;
        Some((origin, proxy))
    } else {
        None
    };
    let proxy = match &cdn {
        Some((_, cdn)) => {
            LatencyProxy::start_redirecting_blobs(&registry.addr(), args.rtt, traffic.clone(), cdn)
                .map_err(|e| format!("starting the registry proxy: {e}"))
        }
        None => auth.proxy(&registry),
    }?;
    let docker = match crate::ci::is_root() {
        true => {
            eprintln!("bench: starting dockerd");
            Some(TestDockerd::start().map_err(|e| e.to_string())?)
        }
        false => None,
    };

    eprintln!("bench: generating images");
    let mut cases = vec![
        case(
            "100 layers of 64 KiB",
            image_with_layers(100, 64 * 1024, 7),
            false,
            true,
        ),
        case(
            &format!("{} MiB, 8 layers, incompressible", args.big_mib),
            incompressible_image(args.big_mib * 1024 * 1024, 8),
            args.bandwidth.is_some(),
            false,
        ),
        case(
            "root filesystem: 200 MB of files from /usr",
            rootfs_image(200 * 1000 * 1000)?,
            false,
            true,
        ),
    ];
    let multi = standard_set().remove(2);
    cases.push(index_case(multi)?);

    let mut rows = Vec::new();
    for c in &cases {
        eprintln!("bench: pushing {}", c.label);
        push_image(&pusher, &c.image).map_err(|e| e.to_string())?;
        let reference = format!("{}/{}:{}", proxy.addr(), c.image.name, c.image.tag);
        let bytes: u64 = c.blobs.iter().sum();
        let label = format!("{} ({:.1} MB)", c.label, bytes as f64 / 1e6);
        traffic.set_bandwidth(if c.capped { args.bandwidth } else { None });
        let (mut img, mut skopeo, mut present, mut docker_times) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut img_counts, mut present_counts, mut skopeo_counts) =
            (Counts::default(), Counts::default(), Counts::default());
        let mut docker_counts = None;
        for run in 0..args.runs {
            eprintln!("bench: {label}: run {}/{}", run + 1, args.runs);
            let dest = work.join("dest");
            fresh(&dest)?;
            let pull = || {
                let mut cmd = Command::new(&img_pull);
                cmd.arg("--root")
                    .arg(&dest)
                    .arg(&reference)
                    .env("DOCKER_CONFIG", &empty_config)
                    .env("IMG_CONFIG", work.join("no-img-config.json"));
                cmd
            };
            traffic.reset();
            img.push(timed(&mut pull())?);
            img_counts = traffic.counts();
            traffic.reset();
            present.push(timed(&mut pull())?);
            present_counts = traffic.counts();

            fresh(&dest)?;
            traffic.reset();
            skopeo.push(timed(
                Command::new("skopeo")
                    .args(["copy", "--quiet", "--src-tls-verify=false"])
                    .env("REGISTRY_AUTH_FILE", work.join("no-auth.json"))
                    .arg(format!("docker://{reference}"))
                    .arg(format!("dir:{}", dest.join("skopeo").display())),
            )?);
            skopeo_counts = traffic.counts();

            if let Some(d) = docker.as_ref().filter(|_| c.docker) {
                traffic.reset();
                docker_times.push(timed(d.docker().args(["pull", "--quiet", &reference]))?);
                docker_counts = Some(traffic.counts());
                // Untimed: the next run pulls every layer again.
                timed(d.docker().args(["rmi", "--force", &reference]))?;
            }
        }
        let small = c.blobs.iter().all(|s| *s < 1024 * 1024);
        let concurrency = if small {
            args.small_jobs
        } else {
            args.large_jobs
        }
        .min(c.blobs.len())
        .max(1);
        let waves = c.blobs.len().div_ceil(concurrency) as u32;
        let bandwidth_floor = match (c.capped, args.bandwidth) {
            (true, Some(b)) => Some(Duration::from_secs_f64(bytes as f64 / b as f64)),
            _ => None,
        };
        // Through a CDN a blob is two round trips: the registry's 307, the CDN's answer.
        let per_blob = if args.cdn { 2 } else { 1 };
        rows.push(Row {
            label,
            ideal: args.rtt * (c.setup + waves * per_blob) + bandwidth_floor.unwrap_or_default(),
            img: median(&mut img),
            skopeo: median(&mut skopeo),
            present: median(&mut present),
            docker: (!docker_times.is_empty()).then(|| median(&mut docker_times)),
            img_counts,
            present_counts,
            skopeo_counts,
            docker_counts,
            concurrency,
            bandwidth_floor,
        });
    }
    drop(docker);
    drop(proxy);
    drop(cdn);
    drop(auth);
    let table = render(&rows, args.cdn);
    let verdict = floors(&rows);
    println!("{table}\n{verdict}");
    let cap = match args.bandwidth {
        Some(b) => format!(
            "the large image capped at {:.0} Mbit/s (one bucket for all connections), the others uncapped",
            b as f64 * 8.0 / 1e6
        ),
        None => "no bandwidth cap".to_owned(),
    };
    let cdn = if args.cdn {
        " Every blob GET is answered by the registry's proxy with a 307 to a second \
         delayed port, the CDN (a registry over the same storage, no auth), so a blob is \
         two round trips in the ideal; CDN: the requests it served, of them with an \
         Authorization (CA, credentials must never go there), and its connections (CC)."
    } else {
        ""
    };
    let docker_note = if rows.iter().any(|r| r.docker.is_some()) {
        "docker pull is Debian's dockerd 20.10 (vfs storage, a daemon of the bench's own, \
         the image removed between runs) on the 100-layer and root filesystem images only: \
         it also unpacks every layer, which img-pull and skopeo do not, so it is a \
         reference, not a like-for-like figure."
    } else {
        "docker pull was not run (it needs root, for a dockerd of the bench's own)."
    };
    Ok(format!(
        "`cargo xtask bench pull --rtt {} ms{}` — a local docker-registry with token auth, \
         it and its token server behind a latency proxy (each new connection waits one \
         RTT, each answer's first byte one RTT after its request), {cap}; release build, \
         median of {} runs. The ideal is (setup round trips + ⌈blobs ÷ concurrency⌉) × RTT \
         + bytes ÷ bandwidth, with setup = challenge, token, manifest (+ the child manifest \
         of an index) and the concurrency img-pull uses (small blobs < 1 MiB: {}, others: \
         {}); it counts no connection set-up.{cdn} Requests are of the last run: T token, P \
         ping (`GET /v2/`), O other (a TLS hello to the plain-HTTP port), H HEAD manifest, M GET manifest, B GET blob, R redirects, 401s, \
         C connections. {docker_note} Machine: {}.\n\n{table}\n{verdict}",
        args.rtt.as_millis(),
        if args.cdn { " --cdn" } else { "" },
        args.runs,
        args.small_jobs,
        args.large_jobs,
        machine()
    ))
}

fn case(label: &str, image: TestImage, capped: bool, docker: bool) -> Case {
    let blobs = image.blobs.iter().map(|(d, _)| d.size).collect();
    Case {
        label: label.to_owned(),
        image,
        capped,
        setup: 3,
        blobs,
        docker,
    }
}

/// The 3-platform index, pulled for the host's platform: the child manifest's config and
/// layers are the blobs.
fn index_case(image: TestImage) -> Result<Case, String> {
    let host = img_core::oci::Platform::host();
    let (_, child) = image
        .manifests
        .iter()
        .find(|(d, _)| d.platform.as_ref().is_some_and(|p| host.matches(p)))
        .ok_or("the 3-platform index has no image for this host")?;
    let m: img_core::oci::Manifest = serde_json::from_slice(child).map_err(|e| e.to_string())?;
    let blobs = m.blobs().map(|d| d.size).collect();
    Ok(Case {
        label: "3-platform index, one platform pulled".to_owned(),
        image,
        capped: false,
        setup: 4,
        blobs,
        docker: false,
    })
}

fn counts(c: &Counts, cdn: bool) -> String {
    let mut s = format!(
        "T{} P{} O{} H{} M{} B{} R{} 401:{} C{}",
        c.token,
        c.ping,
        c.other,
        c.head_manifest,
        c.get_manifest,
        c.get_blob,
        c.redirects,
        c.unauthorized,
        c.connections
    );
    if cdn {
        s.push_str(&format!(
            " CDN{} CA{} CC{}",
            c.cdn, c.cdn_authorized, c.cdn_connections
        ));
    }
    s
}

/// The capped image against its bandwidth floor (bytes ÷ bandwidth): the goal
/// is ≤ 1.1×.
fn floors(rows: &[Row]) -> String {
    let mut s = String::new();
    for r in rows {
        if let Some(floor) = r.bandwidth_floor {
            let ratio = r.img.as_secs_f64() / floor.as_secs_f64();
            s.push_str(&format!(
                "{}: img-pull {:.2} s against a bandwidth floor of {:.2} s: {ratio:.3}× ({}), skopeo {:.2}×.\n",
                r.label,
                r.img.as_secs_f64(),
                floor.as_secs_f64(),
                if ratio <= 1.1 { "≤ 1.1×: met" } else { "> 1.1×: not met" },
                r.skopeo.as_secs_f64() / floor.as_secs_f64(),
            ));
        }
    }
    s
}

fn render(rows: &[Row], cdn: bool) -> String {
    let mut s = String::from(
        "| image | ideal | img-pull | img / ideal | skopeo copy | skopeo / img | docker pull (unpacks) | img-pull, present | img requests | present requests | skopeo requests | docker requests |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let docker = r.docker.map_or("—".to_owned(), |d| {
            format!(
                "{:.2} s ({:.2}× img)",
                d.as_secs_f64(),
                d.as_secs_f64() / r.img.as_secs_f64()
            )
        });
        let docker_counts = r
            .docker_counts
            .as_ref()
            .map_or("—".to_owned(), |c| counts(c, cdn));
        s.push_str(&format!(
            "| {} | {:.2} s (concurrency {}) | {:.2} s | {:.2}× | {:.2} s | {:.2}× | {docker} | {:.0} ms | {} | {} | {} | {docker_counts} |\n",
            r.label,
            r.ideal.as_secs_f64(),
            r.concurrency,
            r.img.as_secs_f64(),
            r.img.as_secs_f64() / r.ideal.as_secs_f64(),
            r.skopeo.as_secs_f64(),
            r.skopeo.as_secs_f64() / r.img.as_secs_f64(),
            r.present.as_secs_f64() * 1000.0,
            counts(&r.img_counts, cdn),
            counts(&r.present_counts, cdn),
            counts(&r.skopeo_counts, cdn),
        ));
    }
    s
}
