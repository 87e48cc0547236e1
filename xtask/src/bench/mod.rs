//! `cargo xtask bench <what>`: benchmarks of the tools' release binaries, one file a
//! benchmark, and the helpers they share: building, timing, peak memory, and recording the
//! figures in `docs/benchmarks.md`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use argh::FromArgs;

use crate::util;

pub use record::record_section;

mod bundle;
mod latency;
mod ls;
mod pack;
mod pull;
mod pull_rtt;
mod push;
mod push_rtt;
mod record;
mod rm;
mod search;

/// Run a benchmark on release builds and record its figures in docs/benchmarks.md.
#[derive(FromArgs)]
#[argh(subcommand, name = "bench")]
pub struct BenchCmd {
    #[argh(subcommand)]
    what: What,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum What {
    Bundle(bundle::BundleBench),
    Ls(ls::LsBench),
    Pack(pack::PackBench),
    Pull(pull::PullBench),
    Push(push::PushBench),
    Rm(RmBench),
    Search(search::SearchBench),
}

/// `img-ls -q | img-rm` of 1,000 images.
#[derive(FromArgs)]
#[argh(subcommand, name = "rm")]
struct RmBench {}

/// Runs the benchmark asked for.
pub fn run(cmd: BenchCmd) -> Result<(), String> {
    match cmd.what {
        What::Bundle(c) => bundle::run(c),
        What::Ls(c) => ls::run(c),
        What::Pack(c) => pack::run(c),
        What::Pull(c) => pull::run(c),
        What::Push(c) => push::run(c),
        What::Rm(_) => rm::run(),
        What::Search(c) => search::run(c),
    }
}

/// Builds `package` in release mode and returns the path of its binary (of the same name).
pub fn build_release(package: &str) -> Result<PathBuf, String> {
    util::run(
        Command::new(env!("CARGO"))
            .current_dir(util::project_root())
            .args(["build", "--quiet", "--release", "-p", package]),
    )?;
    let bin = util::target_dir().join("release").join(package);
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!("built {package} but found no {}", bin.display()))
    }
}

/// Runs `make()`'s command `runs` times (after one warm-up run, which fills the page
/// cache), stdout and stderr discarded, and returns the median wall time. A failed run is
/// an error.
pub fn median_time(runs: usize, make: impl Fn() -> Command) -> Result<Duration, String> {
    let mut times = Vec::with_capacity(runs);
    for i in 0..=runs {
        let mut cmd = make();
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let start = Instant::now();
        let out = cmd
            .output()
            .map_err(|e| format!("running {}: {e}", util::display(&cmd)))?;
        let took = start.elapsed();
        if !out.status.success() {
            return Err(format!(
                "{} failed ({}): {}",
                util::display(&cmd),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        if i > 0 {
            times.push(took);
        }
    }
    Ok(median(&mut times))
}

/// The median of `samples` (sorted in place); zero when there are none.
pub fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    match samples.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => samples[n / 2],
        n => (samples[n / 2 - 1] + samples[n / 2]) / 2,
    }
}

/// The peak resident set size of `cmd` in KiB, as GNU time reports it (`/usr/bin/time -f
/// %M`, the child's `ru_maxrss` from `wait4`); `None` when GNU time is not installed
/// (Debian's `time` package).
pub fn peak_rss_kib(cmd: &Command) -> Result<Option<u64>, String> {
    let time = Path::new("/usr/bin/time");
    if !time.is_file() {
        return Ok(None);
    }
    let report = tempfile::NamedTempFile::new().map_err(|e| format!("a temp file: {e}"))?;
    let mut timed = Command::new(time);
    timed
        .arg("-o")
        .arg(report.path())
        .args(["-f", "%M"])
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .stdout(Stdio::null());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => timed.env(k, v),
            None => timed.env_remove(k),
        };
    }
    let status = timed
        .status()
        .map_err(|e| format!("running {}: {e}", util::display(&timed)))?;
    if !status.success() {
        return Err(format!("{} failed ({status})", util::display(&timed)));
    }
    let text = std::fs::read_to_string(report.path())
        .map_err(|e| format!("reading GNU time's report: {e}"))?;
    // The last line holds the figure (earlier ones may be "Command exited…" notes).
    text.lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .map(Some)
        .ok_or_else(|| format!("GNU time reported {text:?}, not a size"))
}

/// What the figures were measured on: CPUs, the CPU model, and the date (UTC).
pub fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!("{cpus} CPUs ({model}), {date}")
}

/// A fresh (emptied) working directory `target/bench-{name}`.
pub fn work_dir(name: &str) -> Result<PathBuf, String> {
    let work = util::target_dir().join(format!("bench-{name}"));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| format!("creating {}: {e}", work.display()))?;
    Ok(work)
}

/// Fails, naming the package to install, unless every one of `tools` is on the PATH.
pub fn need_tools(bench: &str, tools: &[&str]) -> Result<(), String> {
    match tools.iter().find(|t| !crate::ci::on_path(t)) {
        Some(tool) => {
            let package = match *tool {
                "cat" | "sync" => "coreutils",
                other => other,
            };
            Err(format!(
                "the {bench} benchmark needs {tool}: apt-get install {package}"
            ))
        }
        None => Ok(()),
    }
}

/// Milliseconds with one decimal.
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
