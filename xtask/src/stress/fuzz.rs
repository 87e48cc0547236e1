//! Scenario 5: fuzzing. cargo fuzz needs a nightly compiler and this project builds on
//! stable, so the parsers are fuzzed by property tests (proptest, `proptests.rs` beside
//! the reference, digest, template, oci and record parsers), run here with more cases
//! than CI gives them (`PROPTEST_CASES`). Then the real tools get hostile stdin: random
//! bytes, and one 200 MB line, which must give a bounded error in bounded memory.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use img_core::testing::images::SplitMix64;

use super::{Ctx, Row, Sandbox, finish};
use crate::util;

/// Runs the property tests, then the stdin attacks.
pub fn run(ctx: &Ctx) -> Result<Vec<Row>, String> {
    let mut rows = vec![proptests(ctx)?];
    rows.push(random_stdin(ctx)?);
    rows.push(huge_line(ctx)?);
    if let Some(why) = super::kill::pack_missing(ctx)? {
        rows.push(Row::skipped("fuzz: img-pack archive loader", why));
    } else {
        let mut row = Row::new("fuzz: img-pack archive loader");
        row.fail("img-pack load exists now: give it a fuzz round here (random archives)");
        rows.push(row);
    }
    Ok(rows)
}

fn proptests(ctx: &Ctx) -> Result<Row, String> {
    let cases = if ctx.quick { 256 } else { 4096 };
    let mut row = Row::new(format!("fuzz: parsers, {cases} cases a property"));
    let started = Instant::now();
    let out = Command::new(env!("CARGO"))
        .current_dir(util::project_root())
        .args([
            "test",
            "--quiet",
            "-p",
            "img-core",
            "--features",
            "testing",
            "--lib",
        ])
        .arg("proptests")
        .env("PROPTEST_CASES", cases.to_string())
        .output()
        .map_err(|e| format!("running cargo test: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let passed: usize = text
        .lines()
        .filter_map(|l| l.strip_prefix("test result: "))
        .filter_map(|l| l.split("; ").next())
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter_map(|n| n.parse::<usize>().ok())
        .sum();
    row.rounds = passed;
    row.worst = started.elapsed();
    if !out.status.success() {
        let failed: Vec<&str> = text.lines().filter(|l| l.contains("FAILED")).collect();
        row.fail(format!(
            "cargo test -p img-core proptests: {}",
            if failed.is_empty() {
                String::from_utf8_lossy(&out.stderr).into_owned()
            } else {
                failed.join("; ")
            }
        ));
    } else if passed == 0 {
        row.fail("no property test ran");
    }
    Ok(row)
}

/// Runs `cmd` with `input` written to its stdin by a thread, killed after a minute.
fn feed(
    cmd: &mut Command,
    input: impl FnOnce(&mut dyn Write) + Send + 'static,
) -> Result<super::Outcome, String> {
    let started = Instant::now();
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("running {}: {e}", util::display(cmd)))?;
    let mut stdin = child.stdin.take();
    let writer = std::thread::spawn(move || {
        if let Some(w) = stdin.as_mut() {
            input(w);
        }
    });
    let out = finish(child, started, Duration::from_secs(60));
    let _ = writer.join();
    Ok(out)
}

fn random_stdin(ctx: &Ctx) -> Result<Row, String> {
    let mut row = Row::new("fuzz: 16 MiB of random bytes on stdin");
    let s = Sandbox::new()?;
    // Only tools that act on the store: a random line can be a valid name, and a pull
    // of it would leave loopback.
    for tool in ["img-rm", "img-inspect"] {
        let seed = ctx.below(u64::MAX);
        let out = feed(&mut s.command(ctx.tool(tool)), move |w| {
            let mut r = SplitMix64::new(seed);
            for _ in 0..16 {
                if w.write_all(&r.bytes(1 << 20)).is_err() {
                    return;
                }
            }
        })?;
        row.took(out.took);
        if out.status.is_none() {
            row.fail(out.describe(tool));
        } else if out.stderr.contains("panicked") {
            row.fail(format!("{tool} panicked: {}", out.describe(tool)));
        } else if out.stderr.len() > 32 << 10 {
            row.fail(format!(
                "{tool} wrote {} bytes of errors for one bad input",
                out.stderr.len()
            ));
        } else if out.ok() {
            row.fail(format!("{tool} took random bytes as records"));
        }
    }
    Ok(row)
}

fn huge_line(ctx: &Ctx) -> Result<Row, String> {
    let mut row = Row::new("fuzz: a 200 MB line on stdin");
    let s = Sandbox::new()?;
    let time = std::path::Path::new("/usr/bin/time");
    let report = s.path().join("rss");
    let mut cmd = if time.is_file() {
        let mut c = s.command(time);
        c.arg("-o")
            .arg(&report)
            .args(["-f", "%M"])
            .arg(ctx.tool("img-rm"));
        c
    } else {
        row.info
            .push("GNU time is not installed: memory not measured".to_owned());
        s.command(ctx.tool("img-rm"))
    };
    let out = feed(&mut cmd, |w| {
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..200 {
            if w.write_all(&chunk).is_err() {
                return;
            }
        }
        let _ = w.write_all(b"\n");
    })?;
    row.took(out.took);
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.starts_with("Command exited"))
        .collect();
    if out.status.is_none() || lines.len() != 1 || !lines[0].contains("longer than") {
        row.fail(format!("not one bad line: {}", out.describe("img-rm")));
    }
    if let Ok(text) = std::fs::read_to_string(&report) {
        let kib: u64 = text
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(0);
        row.info
            .push(format!("img-rm's peak memory: {} MiB", kib / 1024));
        if kib > 64 << 10 {
            row.fail(format!(
                "img-rm took {} MiB of memory for one line",
                kib / 1024
            ));
        }
    }
    Ok(row)
}
