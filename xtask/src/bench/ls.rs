//! `cargo xtask bench ls`: img-ls on a store of 10,000 images and 30,000 tags — a full
//! listing, filtered listings, and peak memory — against the targets of the img-ls issue.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use argh::FromArgs;
use img_core::Digest;
use img_core::index::NewImage;
use img_core::oci::media_type;
use img_core::store::Store;

use super::{build_release, machine, median_time, ms, peak_rss_kib, record_section};

/// Time img-ls (release build) on a store of 10,000 images and 30,000 tags.
#[derive(FromArgs)]
#[argh(subcommand, name = "ls")]
pub struct LsBench {
    /// timed runs of each command, the median reported (default 9)
    #[argh(option, default = "9")]
    runs: usize,
    /// do not write docs/benchmarks.md
    #[argh(switch)]
    no_record: bool,
    /// build the store in this (new or empty) directory and keep it, for profiling
    #[argh(option)]
    keep: Option<std::path::PathBuf>,
}

const IMAGES: usize = 10_000;
const TAGS: usize = 30_000;
/// One image in this many has no tag (a dangling image).
const DANGLING_EVERY: usize = 20;
const REPOS: usize = 500;
const LAYERS: usize = 64;

const FULL_TARGET: Duration = Duration::from_millis(150);
const FILTERED_TARGET: Duration = Duration::from_millis(50);
const RSS_TARGET_KIB: u64 = 50 * 1024;

/// Runs the benchmark.
pub fn run(cmd: LsBench) -> Result<(), String> {
    if cmd.runs == 0 {
        return Err("--runs must be at least 1".into());
    }
    let bin = build_release("img-ls")?;
    let dir = tempfile::tempdir().map_err(|e| format!("a temp dir: {e}"))?;
    let root = match &cmd.keep {
        Some(keep) => keep.clone(),
        None => dir.path().join("store"),
    };
    let start = Instant::now();
    let (images, tags) = fill(&root).map_err(|e| format!("building the store: {e}"))?;
    eprintln!(
        "store of {images} images and {tags} tags built through img-core in {}",
        ms(start.elapsed())
    );
    let img_ls = |args: &[&str]| {
        let mut c = Command::new(&bin);
        c.env("IMG_ROOT", &root).args(args);
        c
    };
    let cases: [(&str, &[&str], Option<Duration>); 6] = [
        ("full listing, JSON Lines (a pipe)", &[], Some(FULL_TARGET)),
        (
            "full listing, table",
            &["--format", "table"],
            Some(FULL_TARGET),
        ),
        ("-q (IDs once)", &["-q"], None),
        (
            "-f dangling=true",
            &["-f", "dangling=true"],
            Some(FILTERED_TARGET),
        ),
        (
            "-f reference='bench/app1*'",
            &["-f", "reference=bench/app1*"],
            Some(FILTERED_TARGET),
        ),
        (
            "-f label=bench.group=3",
            &["-f", "label=bench.group=3"],
            None,
        ),
    ];
    let mut table = String::from("| command | rows | median | target |\n|---|---|---|---|\n");
    let mut missed = Vec::new();
    for (what, args, target) in cases {
        let rows = count_rows(img_ls(args))?;
        let t = median_time(cmd.runs, || img_ls(args))?;
        let verdict = match target {
            Some(limit) if t <= limit => format!("< {} ✓", ms(limit)),
            Some(limit) => {
                missed.push(format!("{what}: {} (target {})", ms(t), ms(limit)));
                format!("< {} ✗", ms(limit))
            }
            None => "—".to_owned(),
        };
        let command = std::iter::once("img-ls")
            .chain(args.iter().copied())
            .collect::<Vec<_>>();
        table.push_str(&format!(
            "| `{}` — {what} | {rows} | {} | {verdict} |\n",
            command.join(" "),
            ms(t)
        ));
    }
    let mut rss_lines = Vec::new();
    for (what, args) in [
        ("full listing, JSON Lines", &[][..]),
        ("full listing, table", &["--format", "table"][..]),
    ] {
        match peak_rss_kib(&img_ls(args))? {
            Some(kib) => {
                let ok = kib <= RSS_TARGET_KIB;
                if !ok {
                    missed.push(format!("peak RSS of {what}: {} MiB", kib / 1024));
                }
                rss_lines.push(format!(
                    "| peak RSS, {what} | {:.1} MiB | < 50 MiB {} |",
                    kib as f64 / 1024.0,
                    if ok { "✓" } else { "✗" }
                ));
            }
            None => rss_lines.push(format!(
                "| peak RSS, {what} | not measured (install Debian's `time`) | < 50 MiB |"
            )),
        }
    }
    let body = format!(
        "`cargo xtask bench ls`: the release `img-ls` on a store of {images} images \
         ({} dangling) and {tags} tags over {REPOS} Docker Hub repositories and 100 on a \
         local registry, built through img-core (`Index::put_images`). Times are the median \
         of {} runs after a warm-up, the process's whole life (start, opening the index, \
         query, output to /dev/null); peak RSS is `/usr/bin/time -f %M` (the child's \
         `ru_maxrss`).\n\nMachine: {}.\n\n{table}\n| memory | figure | target |\n|---|---|---|\n{}\n",
        IMAGES / DANGLING_EVERY,
        cmd.runs,
        machine(),
        rss_lines.join("\n")
    );
    println!("{body}");
    if !cmd.no_record {
        let path = record_section("img-ls", &body)?;
        eprintln!("recorded in {}", path.display());
    }
    if missed.is_empty() {
        Ok(())
    } else {
        Err(format!("targets missed: {}", missed.join("; ")))
    }
}

/// Rows (lines) the command prints.
fn count_rows(mut cmd: Command) -> Result<usize, String> {
    let out = cmd.output().map_err(|e| format!("running img-ls: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "img-ls failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out.stdout.iter().filter(|b| **b == b'\n').count())
}

/// Fills a store at `root`: [`LAYERS`] real layer blobs, then [`IMAGES`] images pinning
/// three each, [`TAGS`] tags spread round-robin over the tagged ones (each image also has a
/// tag on a local registry), labels, creation times two hours apart. Returns the counts.
fn fill(root: &Path) -> img_core::Result<(usize, usize)> {
    let store = Store::open(root)?;
    let mut layers = Vec::with_capacity(LAYERS);
    for i in 0..LAYERS {
        // Distinct contents of 4 to 256 KiB: sizes that make SIZE a real column.
        let bytes: Vec<u8> = format!("bench layer {i}\n")
            .repeat(4096 * (1 + i % 64) / 16)
            .into_bytes();
        let digest = Digest::sha256_of(&bytes);
        store.put_blob(media_type::OCI_LAYER_GZIP, &bytes, &digest)?;
        layers.push(digest);
    }
    let tagged: Vec<usize> = (0..IMAGES).filter(|i| i % DANGLING_EVERY != 0).collect();
    let mut tags_of: Vec<Vec<(String, String)>> = vec![Vec::new(); IMAGES];
    for k in 0..TAGS {
        let i = tagged[k % tagged.len()];
        let name = if k < tagged.len() {
            format!("127.0.0.1:5000/team{}/svc{}", i % 10, i % 100)
        } else {
            format!("docker.io/bench/app{}", i % REPOS)
        };
        tags_of[i].push((name, format!("v{i}-{k}")));
    }
    let base: i64 = 1_672_531_200; // 2023-01-01T00:00:00Z
    let mut batch = Vec::with_capacity(1000);
    for (i, tags) in tags_of.into_iter().enumerate() {
        let target = Digest::sha256_of(format!("bench manifest {i}").as_bytes());
        let mut names: Vec<&String> = tags.iter().map(|(n, _)| n).collect();
        names.dedup();
        let repo_digests = names
            .into_iter()
            .map(|n| (n.clone(), target.clone()))
            .collect();
        let mut labels = BTreeMap::new();
        labels.insert("bench.index".to_owned(), i.to_string());
        labels.insert("bench.group".to_owned(), (i % 10).to_string());
        labels.insert(
            "org.opencontainers.image.title".to_owned(),
            format!("bench image {i}"),
        );
        let created = rfc3339(base + 7200 * i as i64);
        batch.push(NewImage {
            id: Digest::sha256_of(format!("bench config {i}").as_bytes()),
            target,
            target_media_type: media_type::OCI_MANIFEST.to_owned(),
            created: Some(created),
            platform: "linux/amd64".to_owned(),
            blobs: (0..3)
                .map(|j| layers[(i * (j + 1) * 7 + j) % LAYERS].clone())
                .collect(),
            labels,
            tags,
            repo_digests,
        });
        if batch.len() == 1000 {
            store.index().put_images(&batch)?;
            batch.clear();
        }
    }
    store.index().put_images(&batch)?;
    Ok((IMAGES, TAGS))
}

/// `secs` since the epoch as RFC 3339 in UTC (Howard Hinnant's `civil_from_days`; xtask
/// has no date crate, and this is all it needs).
fn rfc3339(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_672_531_200), "2023-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_709_210_096), "2024-02-29T12:34:56Z");
    }
}
