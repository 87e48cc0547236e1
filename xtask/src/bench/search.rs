//! `cargo xtask bench search`: on a local docker-registry, `img-search --tags --digests`
//! of a repository with 500 tags against what a user does today to find the digests
//! (`skopeo list-tags`, then one `skopeo inspect --raw` a tag), and the walk of a
//! catalog of 300 repositories (a term that matches nothing, so every page is read).
//! Targets: ≥ 3× faster than skopeo, and the catalog under 1 s.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use argh::FromArgs;
use img_core::testing::{TestImage, TestRegistry, push_image, standard_set};

use super::{build_release, machine, median_time, ms, record_section};

/// Tags of the benchmark repository.
const TAGS: usize = 500;
/// Repositories of the catalog.
const REPOSITORIES: usize = 300;

/// Measure img-search's tag digests against skopeo, and its catalog walk.
#[derive(FromArgs)]
#[argh(subcommand, name = "search")]
pub struct SearchBench {
    /// runs of img-search (default 5; the median is reported)
    #[argh(option, default = "5")]
    runs: usize,
    /// runs of the skopeo loop (default 1: it takes many seconds)
    #[argh(option, default = "1")]
    skopeo_runs: usize,
}

/// A tiny image named `name` (built once: the standard set also holds a 4 MiB layer to
/// compress).
fn image_named(name: &str) -> TestImage {
    static BASE: std::sync::OnceLock<TestImage> = std::sync::OnceLock::new();
    let mut image = BASE.get_or_init(|| standard_set().remove(0)).clone();
    image.name = name.to_owned();
    image
}

/// Runs the benchmark and writes docs/benchmarks.md's "img-search" section.
pub fn run(args: SearchBench) -> Result<(), String> {
    super::need_tools("search", &["skopeo"])?;
    let img_search = build_release("img-search")?;
    let work = crate::util::target_dir().join("bench-search");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(work.join("home")).map_err(|e| e.to_string())?;
    let registry = TestRegistry::builder()
        .workdir(work.join("registry"))
        .start()
        .map_err(|e| e.to_string())?;
    let addr = registry.addr();

    eprintln!("bench: pushing bench/app with {TAGS} tags");
    let client = registry.client().map_err(|e| e.to_string())?;
    let app = image_named("bench/app");
    push_image(&client, &app).map_err(|e| e.to_string())?;
    let tags: Vec<String> = (0..TAGS)
        .map(|i| format!("v{}.{}.{}", i / 100, (i / 10) % 10, i % 10))
        .collect();
    for t in &tags {
        client
            .put_manifest(&app.name, t, &app.top.0.media_type, &app.top.1)
            .map_err(|e| e.to_string())?;
    }
    eprintln!("bench: pushing {REPOSITORIES} repositories");
    let names: Vec<String> = (0..REPOSITORIES)
        .map(|i| format!("bench/r{i:03}"))
        .collect();
    let pushed: Result<(), String> = std::thread::scope(|s| {
        let handles: Vec<_> = names
            .chunks(REPOSITORIES.div_ceil(4))
            .map(|chunk| {
                let registry = &registry;
                s.spawn(move || -> Result<(), String> {
                    let client = registry.client().map_err(|e| e.to_string())?;
                    for name in chunk {
                        push_image(&client, &image_named(name)).map_err(|e| e.to_string())?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().map_err(|_| "a push thread panicked".to_owned())?)
    });
    pushed?;

    let search = |extra: &[&str]| {
        let mut cmd = Command::new(&img_search);
        cmd.args(extra)
            .env("HOME", work.join("home"))
            .env("IMG_CONFIG", work.join("img-config.json"))
            .env("XDG_CONFIG_HOME", work.join("home/.config"))
            .env("DOCKER_CONFIG", work.join("home/.docker"))
            .env_remove("REGISTRY_AUTH_FILE");
        cmd
    };
    // Check once that the listing is complete before timing it.
    let out = search(&["--tags", &format!("{addr}/bench/app"), "--digests"])
        .output()
        .map_err(|e| e.to_string())?;
    let lines = String::from_utf8_lossy(&out.stdout).lines().count();
    if !out.status.success() || lines != TAGS + 1 {
        return Err(format!(
            "img-search --tags --digests printed {lines} records, {} expected: {}",
            TAGS + 1,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    eprintln!("bench: img-search --tags --digests");
    let name = format!("{addr}/bench/app");
    let img_tags = median_time(args.runs, || search(&["--tags", &name, "--digests"]))?;
    eprintln!("bench: img-search --registry (catalog walk)");
    let img_catalog = median_time(args.runs, || {
        search(&["--registry", &addr, "no-such-repository"])
    })?;

    eprintln!("bench: skopeo list-tags + inspect --raw a tag");
    let mut skopeo = Vec::new();
    for _ in 0..args.skopeo_runs.max(1) {
        skopeo.push(skopeo_digests(&addr, "bench/app")?);
    }
    let skopeo = super::median(&mut skopeo);
    let speedup = skopeo.as_secs_f64() / img_tags.as_secs_f64();
    let check = |ok: bool| if ok { "✓" } else { "✗" };
    let body = format!(
        "`cargo xtask bench search` — a local docker-registry on 127.0.0.1 (plain HTTP), \
         release build, img-search's median of {} runs (jobs 6, the default). Machine: {}.\n\n\
         | what | img-search | skopeo | target |\n|---|---|---|---|\n\
         | digests of {TAGS} tags: `img-search --tags --digests` vs `skopeo list-tags` + `skopeo inspect --raw` a tag | {} | {:.2} s ({speedup:.0}× slower) | ≥ 3× faster {} |\n\
         | catalog walk of {} repositories (4 pages of 100) | {} | — | < 1 s {} |\n",
        args.runs,
        machine(),
        ms(img_tags),
        skopeo.as_secs_f64(),
        check(speedup >= 3.0),
        REPOSITORIES + 1,
        ms(img_catalog),
        check(img_catalog < Duration::from_secs(1)),
    );
    println!("{body}");
    record_section("img-search", &body)?;
    Ok(())
}

/// The way a user finds each tag's digest today: list the tags, then fetch each
/// manifest raw (its sha256 is the digest). The time of the whole sequence.
fn skopeo_digests(addr: &str, repository: &str) -> Result<Duration, String> {
    let started = Instant::now();
    let out = Command::new("skopeo")
        .args(["list-tags", "--tls-verify=false"])
        .arg(format!("docker://{addr}/{repository}"))
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("running skopeo: {e}"))?;
    if !out.status.success() {
        return Err("skopeo list-tags failed".to_owned());
    }
    let listed: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("skopeo list-tags: {e}"))?;
    let tags: Vec<String> = listed["Tags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    for tag in &tags {
        let status = Command::new("skopeo")
            .args(["inspect", "--raw", "--tls-verify=false"])
            .arg(format!("docker://{addr}/{repository}:{tag}"))
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("running skopeo: {e}"))?;
        if !status.success() {
            return Err(format!("skopeo inspect --raw of {tag} failed"));
        }
    }
    Ok(started.elapsed())
}
