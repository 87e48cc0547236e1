//! `cargo xtask bench bundle`: an incremental bundle (`img-pack save --exclude-from`) of a
//! release that changed one layer of a large image (8 × 128 MiB incompressible layers by
//! default, the last one new), against the full `img-pack save` of the same release:
//! archive size, save time and load time into a store holding the previous release.
//! Medians of several runs, page cache warm.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use argh::FromArgs;

use super::pack::{Job, build_image_as, round_robin};
use super::{build_release, machine, record_section, work_dir};

/// Measure a partial bundle of a one-layer release against the full bundle.
#[derive(FromArgs)]
#[argh(subcommand, name = "bundle")]
pub struct BundleBench {
    /// timed runs of each job (default 3, after one warm-up; the median is reported)
    #[argh(option, default = "3")]
    runs: usize,
    /// layers of the image (default 8)
    #[argh(option, default = "8")]
    layers: usize,
    /// size of each layer in MiB (default 128)
    #[argh(option, default = "128")]
    layer_mib: usize,
}

const V1: &str = "bench/app:1";
const V2: &str = "bench/app:2";

/// Runs the benchmark and writes docs/benchmarks.md's "img-pack incremental bundles".
pub fn run(args: BundleBench) -> Result<(), String> {
    if args.layers < 2 {
        return Err("--layers must be at least 2 (one kept, one changed)".to_owned());
    }
    let img_pack = build_release("img-pack")?;
    let work = work_dir("bundle")?;
    let sender = work.join("sender");
    let repo = "docker.io/bench/app";
    build_image_as(&sender, args.layers, args.layer_mib, (repo, "1"), None)?;
    build_image_as(&sender, args.layers, args.layer_mib, (repo, "2"), Some(99))?;
    let pack = |root: &Path| {
        let mut c = Command::new(&img_pack);
        c.arg("--root").arg(root);
        c
    };
    // The receiving site: the previous release, loaded from a full bundle; its inventory.
    let base = work.join("v1.tar");
    crate::util::run(pack(&sender).args(["save", "-o"]).arg(&base).arg(V1))?;
    let receiver = work.join("receiver");
    crate::util::run(pack(&receiver).args(["load", "-q", "-i"]).arg(&base))?;
    let inventory = work.join("receiver.inventory");
    let out = pack(&receiver)
        .arg("inventory")
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "img-pack inventory failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    std::fs::write(&inventory, &out.stdout).map_err(|e| e.to_string())?;

    let full = work.join("v2-full.tar");
    let partial = work.join("v2-partial.tar");
    crate::util::run(pack(&sender).args(["save", "-o"]).arg(&full).arg(V2))?;
    let save_partial = |dest: &Path| {
        let mut c = pack(&sender);
        c.arg("save")
            .arg("--exclude-from")
            .arg(&inventory)
            .arg("-o")
            .arg(dest)
            .arg(V2);
        c
    };
    crate::util::run(&mut save_partial(&partial))?;
    let load_into = |dest: &Path, archive: &Path| {
        // A copy of the receiver, made untimed before each run (see `reset`).
        let mut c = pack(dest);
        c.args(["load", "-q", "-i"]).arg(archive);
        c
    };
    let (full_out, partial_out) = (work.join("full-again.tar"), work.join("partial-again.tar"));
    let (recv_full, recv_partial) = (work.join("recv-full"), work.join("recv-partial"));
    let mut jobs = vec![
        Job {
            name: "img-pack save -o (full bundle)",
            output: full_out.clone(),
            command: {
                let mut c = pack(&sender);
                c.args(["save", "-o"]).arg(&full_out).arg(V2);
                c
            },
        },
        Job {
            name: "img-pack save --exclude-from -o (partial)",
            output: partial_out.clone(),
            command: save_partial(&partial_out),
        },
        Job {
            name: "img-pack load -i (full bundle)",
            output: recv_full.clone(),
            command: load_into(&recv_full, &full),
        },
        Job {
            name: "img-pack load -i (partial)",
            output: recv_partial.clone(),
            command: load_into(&recv_partial, &partial),
        },
    ];
    let reset = |job: &str| -> Result<(), String> {
        let dest = match job {
            "img-pack load -i (full bundle)" => &recv_full,
            "img-pack load -i (partial)" => &recv_partial,
            _ => return Ok(()),
        };
        crate::util::run(Command::new("cp").arg("-a").arg(&receiver).arg(dest))
    };
    let medians = round_robin(args.runs, &mut jobs, &reset)?;
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let (full_size, partial_size) = (size(&full), size(&partial));
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    let secs = |d: &Duration| d.as_secs_f64();
    let mut table = String::from("| job | median | archive |\n|---|---:|---:|\n");
    for (job, m) in jobs.iter().zip(&medians) {
        let archive = if job.name.contains("partial") {
            partial_size
        } else {
            full_size
        };
        table.push_str(&format!(
            "| {} | {:.2} s | {:.1} MiB |\n",
            job.name,
            secs(m),
            mib(archive)
        ));
    }
    let summary = format!(
        "the partial bundle is {:.1}% of the full one ({:.1} of {:.1} MiB: the changed layer, \
         the manifest and the config); saving it takes {:.2}× the full save's time, loading it \
         {:.2}× the full load's.",
        100.0 * partial_size as f64 / full_size.max(1) as f64,
        mib(partial_size),
        mib(full_size),
        secs(&medians[1]) / secs(&medians[0]),
        secs(&medians[3]) / secs(&medians[2]),
    );
    println!("{table}\n{summary}");
    record_section(
        "img-pack incremental bundles",
        &format!(
            "`cargo xtask bench bundle` — release 2 of a {} × {} MiB image of incompressible \
             uncompressed layers changes its last layer; the receiving store holds release 1 \
             and gives its `img-pack inventory`. `save --exclude-from` of release 2 against \
             the full `save`, and each bundle's load into a copy of the receiving store (made \
             untimed before each run); page cache warm, medians of {} runs after a warm-up. \
             Machine: {}.\n\n{table}\n{summary}",
            args.layers,
            args.layer_mib,
            args.runs,
            machine()
        ),
    )?;
    let _ = std::fs::remove_dir_all(&work);
    let one_layer = (args.layer_mib as u64) << 20;
    if partial_size > one_layer + (1 << 20) {
        return Err(format!(
            "the partial bundle is {partial_size} bytes: more than the one changed layer"
        ));
    }
    Ok(())
}
