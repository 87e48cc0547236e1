//! What every benchmark needs: release binaries, timing a command with its peak RSS,
//! medians, the machine's description, and docs/benchmarks.md's sections.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{project_root, run};

/// One run of a command: wall time and peak resident set size.
pub struct Measured {
    /// Wall-clock time.
    pub wall: Duration,
    /// Peak RSS in KiB (GNU time's `%M`), 0 when `/usr/bin/time` is missing.
    pub max_rss_kib: u64,
}

impl Measured {
    /// Runs `cmd` (stdout discarded), under `/usr/bin/time` when it is installed, and
    /// fails unless it exits 0.
    pub fn run(cmd: &mut Command) -> Result<Measured, String> {
        let gnu_time = std::path::Path::new("/usr/bin/time");
        let rss_file = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
        let mut full = if gnu_time.exists() {
            let mut c = Command::new(gnu_time);
            c.arg("-f").arg("%M").arg("-o").arg(rss_file.path());
            c.arg(cmd.get_program()).args(cmd.get_args());
            for (k, v) in cmd.get_envs() {
                match v {
                    Some(v) => c.env(k, v),
                    None => c.env_remove(k),
                };
            }
            c
        } else {
            std::mem::replace(cmd, Command::new("true"))
        };
        let start = Instant::now();
        let out = full
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("running {}: {e}", crate::util::display(&full)))?;
        let wall = start.elapsed();
        if !out.status.success() {
            return Err(format!(
                "{} failed: {}",
                crate::util::display(&full),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let max_rss_kib = std::fs::read_to_string(rss_file.path())
            .ok()
            .and_then(|s| s.lines().last().and_then(|l| l.trim().parse().ok()))
            .unwrap_or(0);
        Ok(Measured { wall, max_rss_kib })
    }
}

/// The median of `samples` (sorted in place).
pub fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    match samples.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => samples[n / 2],
        n => (samples[n / 2 - 1] + samples[n / 2]) / 2,
    }
}

/// Builds `package` in release mode and returns its binary.
pub fn release_binary(package: &str) -> Result<PathBuf, String> {
    let root = project_root();
    run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(&root)
            .args(["build", "--quiet", "--release", "-p", package]),
    )?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    Ok(target.join("release").join(package))
}

/// `2 cores, AMD EPYC, 2026-11-27`: what the figures were measured on.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let date = jiff::Timestamp::now().strftime("%Y-%m-%d").to_string();
    format!("{cores} cores, {model}, {date}")
}

/// Replaces (or appends) the section `## {title}` of docs/benchmarks.md with `body`.
pub fn write_section(title: &str, body: &str) -> Result<(), String> {
    let path = project_root().join("docs/benchmarks.md");
    let old = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        "# Benchmarks\n\nThe latest figures of each `cargo xtask bench …`, with the machine they \
         ran on. Medians; these machines are noisy.\n"
            .to_owned()
    });
    let heading = format!("## {title}\n");
    let section = format!("{heading}\n{}\n", body.trim_end());
    let new = match old.find(&heading) {
        Some(start) => {
            let rest = &old[start + heading.len()..];
            let end = rest
                .find("\n## ")
                .map(|i| start + heading.len() + i + 1)
                .unwrap_or(old.len());
            format!("{}{section}{}", &old[..start], &old[end..])
        }
        None => format!("{}\n{section}", old.trim_end()),
    };
    std::fs::write(&path, new).map_err(|e| format!("writing {}: {e}", path.display()))?;
    eprintln!("bench: wrote the \"{title}\" section of {}", path.display());
    Ok(())
}
