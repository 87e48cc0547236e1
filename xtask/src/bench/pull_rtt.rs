//! `cargo xtask bench pull --rtt 50ms`: img-pull and `skopeo copy` side by side through
//! the latency proxy (img-core's testing::latency) in front of a local docker-registry with
//! token auth on, its token server behind the same delay. Each image's wall time, the
//! requests and connections by kind, and the ideal: (setup round trips + ⌈blobs ÷
//! concurrency⌉) × RTT + bytes ÷ bandwidth.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use img_core::testing::latency::{Counts, LatencyProxy, Traffic};
use img_core::testing::token_server::{ISSUER, SERVICE, TokenServer, TokenServerOptions};
use img_core::testing::{
    TestImage, TestRegistry, TokenAuthConfig, image_with_layers, push_image, standard_set,
};

use super::pull::{fresh, incompressible_image, rootfs_image, timed};
use super::{build_release, machine, median};

const USER: &str = "bench";
const PASSWORD: &str = "bench-Pa55";

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
}

struct Row {
    label: String,
    ideal: Duration,
    img: Duration,
    skopeo: Duration,
    present: Duration,
    img_counts: Counts,
    present_counts: Counts,
    skopeo_counts: Counts,
    concurrency: usize,
}

pub fn run(args: RttArgs) -> Result<String, String> {
    let img_pull = build_release("img-pull")?;
    let work = crate::util::target_dir().join("bench-pull-rtt");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let empty_config = work.join("docker-config");
    std::fs::create_dir_all(&empty_config).map_err(|e| e.to_string())?;

    let traffic = Traffic::new(None);
    let token_server = TokenServer::start(TokenServerOptions {
        users: BTreeMap::from([(USER.to_owned(), PASSWORD.to_owned())]),
        anonymous_pull: true,
        ..TokenServerOptions::default()
    })
    .map_err(|e| e.to_string())?;
    let token_upstream = token_server
        .realm()
        .trim_start_matches("http://")
        .trim_end_matches("/token")
        .to_owned();
    let token_proxy = LatencyProxy::start(&token_upstream, args.rtt, traffic.clone())
        .map_err(|e| format!("starting the token proxy: {e}"))?;
    let bundle = work.join("token-signer.pem");
    std::fs::write(&bundle, token_server.cert_pem()).map_err(|e| e.to_string())?;
    let registry = TestRegistry::builder()
        .workdir(work.join("registry"))
        .token_auth(TokenAuthConfig {
            // The realm names the proxied token server: tokens cost a round trip too.
            realm: format!("http://{}/token", token_proxy.addr()),
            service: SERVICE.to_owned(),
            issuer: ISSUER.to_owned(),
            root_cert_bundle: bundle,
        })
        .start()
        .map_err(|e| e.to_string())?;
    let pusher = registry
        .client_as(USER, PASSWORD)
        .map_err(|e| e.to_string())?;
    let proxy = LatencyProxy::start(&registry.addr(), args.rtt, traffic.clone())
        .map_err(|e| format!("starting the registry proxy: {e}"))?;

    eprintln!("bench: generating images");
    let mut cases = vec![
        case(
            "100 layers of 64 KiB",
            image_with_layers(100, 64 * 1024, 7),
            false,
        ),
        case(
            &format!("{} MiB, 8 layers, incompressible", args.big_mib),
            incompressible_image(args.big_mib * 1024 * 1024, 8),
            args.bandwidth.is_some(),
        ),
        case(
            "root filesystem: 200 MB of files from /usr",
            rootfs_image(200 * 1000 * 1000)?,
            false,
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
        let (mut img, mut skopeo, mut present) = (Vec::new(), Vec::new(), Vec::new());
        let (mut img_counts, mut present_counts, mut skopeo_counts) =
            (Counts::default(), Counts::default(), Counts::default());
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
        let bandwidth_time = match (c.capped, args.bandwidth) {
            (true, Some(b)) => Duration::from_secs_f64(bytes as f64 / b as f64),
            _ => Duration::ZERO,
        };
        rows.push(Row {
            label,
            ideal: args.rtt * (c.setup + waves) + bandwidth_time,
            img: median(&mut img),
            skopeo: median(&mut skopeo),
            present: median(&mut present),
            img_counts,
            present_counts,
            skopeo_counts,
            concurrency,
        });
    }
    drop(proxy);
    drop(token_proxy);
    let table = render(&rows);
    println!("{table}");
    let cap = match args.bandwidth {
        Some(b) => format!(
            "the large image capped at {:.0} Mbit/s (one bucket for all connections), the others uncapped",
            b as f64 * 8.0 / 1e6
        ),
        None => "no bandwidth cap".to_owned(),
    };
    Ok(format!(
        "`cargo xtask bench pull --rtt {} ms` — a local docker-registry with token auth, \
         it and its token server behind a latency proxy (each new connection waits one \
         RTT, each answer's first byte one RTT after its request), {cap}; release build, \
         median of {} runs. The ideal is (setup round trips + ⌈blobs ÷ concurrency⌉) × RTT \
         + bytes ÷ bandwidth, with setup = challenge, token, manifest (+ the child manifest \
         of an index) and the concurrency img-pull uses (small blobs < 1 MiB: {}, others: \
         {}); it counts no connection set-up. Requests are of the last run: T token, P \
         ping (`GET /v2/`), O other (a TLS hello to the plain-HTTP port), H HEAD manifest, M GET manifest, B GET blob, R redirects, 401s, \
         C connections. docker pull was not run. Machine: {}.\n\n{table}",
        args.rtt.as_millis(),
        args.runs,
        args.small_jobs,
        args.large_jobs,
        machine()
    ))
}

fn case(label: &str, image: TestImage, capped: bool) -> Case {
    let blobs = image.blobs.iter().map(|(d, _)| d.size).collect();
    Case {
        label: label.to_owned(),
        image,
        capped,
        setup: 3,
        blobs,
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
    })
}

fn counts(c: &Counts) -> String {
    format!(
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
    )
}

fn render(rows: &[Row]) -> String {
    let mut s = String::from(
        "| image | ideal | img-pull | img / ideal | skopeo copy | skopeo / img | img-pull, present | img requests | present requests | skopeo requests |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {:.2} s (concurrency {}) | {:.2} s | {:.2}× | {:.2} s | {:.2}× | {:.0} ms | {} | {} | {} |\n",
            r.label,
            r.ideal.as_secs_f64(),
            r.concurrency,
            r.img.as_secs_f64(),
            r.img.as_secs_f64() / r.ideal.as_secs_f64(),
            r.skopeo.as_secs_f64(),
            r.skopeo.as_secs_f64() / r.img.as_secs_f64(),
            r.present.as_secs_f64() * 1000.0,
            counts(&r.img_counts),
            counts(&r.present_counts),
            counts(&r.skopeo_counts),
        ));
    }
    s
}
