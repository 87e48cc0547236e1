//! `cargo xtask bench push --rtt 50ms`: img-push and `skopeo copy dir:… docker://…` of the
//! 100-layer image side by side through the latency proxy (img-core's testing::latency) in
//! front of a local docker-registry with token auth on, its token server behind the same
//! delay; then img-push again to the registry that now has every blob (the HEADs and the
//! manifest PUT). Each run pushes to a new registry on a new port, so neither tool can
//! mount what an earlier run left. Wall times, requests and connections by kind.

use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use img_core::store::Store;
use img_core::testing::latency::{Counts, Traffic};
use img_core::testing::{TestRegistry, image_with_layers};

use super::latency::{PASSWORD, TokenAuth, USER};
use super::pull::timed;
use super::push::{skopeo_dir, stored, tag};
use super::{build_release, machine, median, work_dir};

/// The 100-layer image: 100 layers of 64 KiB and its config.
const LAYERS: usize = 100;

struct Measured {
    img: Duration,
    again: Duration,
    skopeo: Duration,
    img_counts: Counts,
    again_counts: Counts,
    skopeo_counts: Counts,
}

/// Runs the benchmark; returns the section's body for docs/benchmarks.md.
pub fn run(rtt: Duration, runs: usize) -> Result<String, String> {
    let img_push = build_release("img-push")?;
    let work = work_dir("push-rtt")?;

    // The image reaches the store from a registry of its own, not behind the proxy.
    let source = TestRegistry::builder()
        .workdir(work.join("source"))
        .start()
        .map_err(|e| e.to_string())?;
    let store_root = work.join("store");
    let store = Store::open(&store_root).map_err(|e| e.to_string())?;
    eprintln!("bench: storing 100 layers of 64 KiB");
    let image = image_with_layers(LAYERS, 64 * 1024, 7);
    let id = stored(&store, &source, &image)?;
    let dir = skopeo_dir(&work.join("dir"), &image)?;
    let bytes: u64 = image.blobs.iter().map(|(d, _)| d.size).sum();

    let auth = TokenAuth::start(&work, rtt, Traffic::new(None), false)?;
    let traffic = auth.traffic();

    let mut all = Vec::new();
    for run in 0..runs {
        eprintln!("bench: push --rtt: run {}/{runs}", run + 1);
        let target = auth.registry(work.join("target"))?;
        let proxy = auth.proxy(&target)?;
        let addr = proxy.addr();
        let docker_config = work.join("docker");
        std::fs::create_dir_all(&docker_config).map_err(|e| e.to_string())?;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
        std::fs::write(
            docker_config.join("config.json"),
            serde_json::json!({ "auths": { addr.clone(): { "auth": auth } } }).to_string(),
        )
        .map_err(|e| e.to_string())?;

        let reference = format!("{addr}/bench/small-img:latest");
        tag(&store, &id, &reference)?;
        let push = || {
            let mut c = Command::new(&img_push);
            c.arg("--root")
                .arg(&store_root)
                .arg(&reference)
                .env("IMG_CONFIG", work.join("img-config.json"))
                .env("DOCKER_CONFIG", &docker_config)
                .env_remove("REGISTRY_AUTH_FILE");
            c
        };
        traffic.reset();
        let img = timed(&mut push())?;
        let img_counts = traffic.counts();
        // Again: the registry has every blob.
        traffic.reset();
        let again = timed(&mut push())?;
        let again_counts = traffic.counts();

        traffic.reset();
        let skopeo = timed(
            Command::new("skopeo")
                .args(["copy", "--quiet", "--dest-tls-verify=false", "--dest-creds"])
                .arg(format!("{USER}:{PASSWORD}"))
                .env("REGISTRY_AUTH_FILE", work.join("no-auth.json"))
                .arg(format!("dir:{}", dir.display()))
                .arg(format!("docker://{addr}/bench/small-skopeo:latest")),
        )?;
        let skopeo_counts = traffic.counts();
        all.push(Measured {
            img,
            again,
            skopeo,
            img_counts,
            again_counts,
            skopeo_counts,
        });
        drop(proxy);
        drop(target);
    }
    drop(auth);

    let mut img: Vec<Duration> = all.iter().map(|m| m.img).collect();
    let mut again: Vec<Duration> = all.iter().map(|m| m.again).collect();
    let mut skopeo: Vec<Duration> = all.iter().map(|m| m.skopeo).collect();
    let (img, again, skopeo) = (median(&mut img), median(&mut again), median(&mut skopeo));
    let last = all.last().ok_or("--runs 0: nothing measured")?;
    // HEADs go as many at once as a pull's small blobs (img-core's ROUND_TRIP_JOBS).
    let head_jobs = img_core::ops::pull::SMALL_BLOB_JOBS;
    // The re-push's ideal, from the requests it sent: the challenge and the token, the
    // manifest HEAD (if sent), one wave of blob HEADs per `head_jobs`, the manifest PUT.
    let a = &last.again_counts;
    let waves = (a.head_blob as usize).div_ceil(head_jobs) as u32;
    let ideal_rtts = 2 + a.head_manifest as u32 + waves + a.put_manifest as u32;
    let again_ideal = rtt * ideal_rtts;
    let rtts = |d: Duration| d.as_secs_f64() / rtt.as_secs_f64();
    let table = format!(
        "| image | img-push | skopeo copy | skopeo / img | img-push, again | again in RTTs | again's ideal | img requests | again requests | skopeo requests |\n|---|---|---|---|---|---|---|---|---|---|\n\
         | 100 layers of 64 KiB ({:.1} MB) | {:.2} s | {:.2} s | {:.2}× | {:.0} ms | {:.1} | {:.0} ms ({ideal_rtts} RTTs) | {} | {} | {} |\n",
        bytes as f64 / 1e6,
        img.as_secs_f64(),
        skopeo.as_secs_f64(),
        skopeo.as_secs_f64() / img.as_secs_f64(),
        again.as_secs_f64() * 1000.0,
        rtts(again),
        again_ideal.as_secs_f64() * 1000.0,
        counts(&last.img_counts),
        counts(&last.again_counts),
        counts(&last.skopeo_counts),
    );
    println!("{table}");
    let faster = skopeo.as_secs_f64() / img.as_secs_f64();
    let verdict = format!(
        "Goals: img-push ≥ 3× faster than skopeo: {faster:.2}× ({}); a re-push in about one \
         round trip per parallel wave of HEADs: {:.1} RTTs against {ideal_rtts} (the \
         challenge, the token, {} manifest HEAD, {waves} waves of blob HEADs at \
         {head_jobs} at once, {} manifest PUT).",
        if faster >= 3.0 { "met" } else { "not met" },
        rtts(again),
        a.head_manifest,
        a.put_manifest,
    );
    Ok(format!(
        "`cargo xtask bench push --rtt {} ms` — the 100-layer image from a store to a local \
         docker-registry with token auth, it and its token server behind the latency proxy \
         (each new connection waits one RTT, each answer's first byte one RTT after its \
         request), no bandwidth cap; each run to a new registry on a new port, each tool to \
         a repository of its own; release build, median of {runs} runs. skopeo copies a \
         `dir:` of the same blobs with `--dest-creds`. \"Again\" is img-push of the image \
         the registry now has. Requests are of the last run: T token, P ping (`GET /v2/`), \
         O other (a TLS hello to the plain-HTTP port), HB HEAD blob, HM HEAD manifest, U \
         upload (POST, PATCH, PUT), PM PUT manifest, 401s, C connections. Machine: {}.\n\n\
         {table}\n{verdict}\n",
        rtt.as_millis(),
        machine()
    ))
}

fn counts(c: &Counts) -> String {
    format!(
        "T{} P{} O{} HB{} HM{} U{} PM{} 401:{} C{}",
        c.token,
        c.ping,
        c.other,
        c.head_blob,
        c.head_manifest,
        c.upload,
        c.put_manifest,
        c.unauthorized,
        c.connections
    )
}
