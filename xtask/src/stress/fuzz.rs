//! Scenario 5: fuzzing. cargo fuzz needs a nightly compiler and this project builds on
//! stable, so the parsers are fuzzed by property tests (proptest, `proptests.rs` beside
//! the reference, digest, template, oci and record parsers), run here with more cases
//! than CI gives them (`PROPTEST_CASES`). Then the real tools get hostile stdin: random
//! bytes, and one 200 MB line, which must give a bounded error in bounded memory; and
//! img-pack load gets damaged archives and hostile bytes (escape sequences, a real ELF
//! binary, entry names of escapes and invalid UTF-8). Through all of it no byte below
//! 0x20 other than `\n` and `\t` (nor DEL, nor a C1 control) may reach stderr.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use img_core::testing::images::SplitMix64;
use img_core::testing::{TestRegistry, push_image, standard_set};

use super::{Ctx, Row, Sandbox, TOOL_LIMIT, finish, run_for};
use crate::util;

/// Runs the property tests, then the stdin attacks.
pub fn run(ctx: &Ctx) -> Result<Vec<Row>, String> {
    let mut rows = vec![proptests(ctx)?];
    rows.push(random_stdin(ctx)?);
    rows.push(hostile_bytes(ctx)?);
    rows.push(huge_line(ctx)?);
    match super::kill::pack_missing(ctx)? {
        Some(why) => rows.push(Row::skipped(ARCHIVE_ROW, why)),
        None => rows.push(archives(ctx)?),
    }
    Ok(rows)
}

const ARCHIVE_ROW: &str = "fuzz: img-pack load of damaged archives";

/// Saves a real archive, then loads copies of it damaged at random (bytes flipped, cut
/// short, a run of bytes zeroed): each load must end within its limit with a verified
/// image or one clear error line, never a panic, never a wrong blob in the store.
fn archives(ctx: &Ctx) -> Result<Row, String> {
    let mut row = Row::new(ARCHIVE_ROW);
    let registry = TestRegistry::start().map_err(|e| e.to_string())?;
    let client = registry.client().map_err(|e| e.to_string())?;
    let image = standard_set().remove(0);
    push_image(&client, &image).map_err(|e| e.to_string())?;
    let source = Sandbox::new()?;
    let reference = format!("{}/{}", registry.addr(), image.reference());
    let pull = run_for(
        source.command(ctx.tool("img-pull")).arg(&reference),
        TOOL_LIMIT,
    )?;
    if !pull.ok() {
        return Err(pull.describe("img-pull"));
    }
    let archive = source.path().join("good.tar");
    let save = run_for(
        source
            .command(ctx.tool("img-pack"))
            .args(["save", "-o"])
            .arg(&archive)
            .arg(&reference),
        TOOL_LIMIT,
    )?;
    if !save.ok() {
        return Err(save.describe("img-pack save"));
    }
    let good = std::fs::read(&archive).map_err(|e| format!("reading the archive: {e}"))?;
    for round in 0..ctx.rounds * 4 {
        let mut bad = good.clone();
        let len = bad.len() as u64;
        match ctx.below(3) {
            0 => {
                for _ in 0..=ctx.below(8) {
                    let i = ctx.below(len) as usize;
                    bad[i] ^= 1 << ctx.below(8);
                }
            }
            1 => bad.truncate(ctx.below(len) as usize),
            _ => {
                let at = ctx.below(len) as usize;
                let end = (at + 1 + ctx.below(4096) as usize).min(bad.len());
                bad[at..end].fill(0);
            }
        }
        let (s, out, one_line) = load_file(ctx, "bad.tar", &bad)?;
        row.took(out.took);
        if out.status.is_none() || out.stderr.contains("panicked") {
            row.fail(format!("round {round}: {}", out.describe("img-pack load")));
        } else if !out.ok() && !one_line {
            row.fail(format!(
                "round {round}: not one clear line: {}",
                out.describe("img-pack load")
            ));
        }
        if let Some(raw) = super::raw_control(&out.stderr) {
            row.fail(format!("round {round}: {raw}"));
        }
        if let Err(e) = super::verify_all(ctx, &s) {
            row.fail(format!("round {round}: {e}"));
        }
        row.check(&s.root(), false);
    }
    Ok(row)
}

/// `img-pack load -i FILE` of `bytes` in a fresh sandbox (returned, to check its store),
/// and whether it said one line starting with its name (what a refused archive must say).
fn load_file(
    ctx: &Ctx,
    name: &str,
    bytes: &[u8],
) -> Result<(Sandbox, super::Outcome, bool), String> {
    let s = Sandbox::new()?;
    let path = s.path().join(name);
    std::fs::write(&path, bytes).map_err(|e| format!("writing an archive: {e}"))?;
    let out = run_for(
        s.command(ctx.tool("img-pack"))
            .args(["load", "-i"])
            .arg(&path),
        TOOL_LIMIT,
    )?;
    let one_line = out.stderr.lines().count() == 1 && out.stderr.starts_with("img-pack: ");
    Ok((s, out, one_line))
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
    for tool in ["img-rm", "img-inspect", "img-pack"] {
        let seed = ctx.below(u64::MAX);
        let mut cmd = s.command(ctx.tool(tool));
        if tool == "img-pack" {
            cmd.arg("load");
        }
        let out = feed(&mut cmd, move |w| {
            let mut r = SplitMix64::new(seed);
            for _ in 0..16 {
                if w.write_all(&r.bytes(1 << 20)).is_err() {
                    return;
                }
            }
        })?;
        row.took(out.took);
        if let Some(raw) = super::raw_control(&out.stderr) {
            row.fail(format!("{tool}: {raw}"));
        }
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

/// Archives made of what a terminal obeys: each load must fail with one line, and that
/// line must carry the bytes escaped.
fn hostile_bytes(ctx: &Ctx) -> Result<Row, String> {
    let mut row = Row::new("fuzz: img-pack load of escape sequences, binaries, hostile names");
    let mut inputs: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut title = b"\x1b]0;pwned\x07\x1b[31mRED\x1b[2J\x9b6n".to_vec();
    title.extend(std::iter::repeat_n(b'A', 1000));
    inputs.push(("a title-setting escape sequence", title));
    // A real binary: this program's own first 64 KiB.
    let exe =
        std::fs::read("/proc/self/exe").map_err(|e| format!("reading /proc/self/exe: {e}"))?;
    inputs.push(("an ELF binary", exe[..exe.len().min(64 << 10)].to_vec()));
    for name in [
        &b"\x1b]0;pwned\x07/layer.tar"[..],
        b"\xff\xfe\x1b[31m\xc2\x9b",
        b"a/\xe2\x80\xaeevil\x7f\x08\x08.tar",
    ] {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_size(3);
        h.set_mode(0o644);
        h.set_cksum();
        let mut t = h.as_bytes().to_vec();
        t.extend_from_slice(b"abc");
        t.resize(t.len() + 509 + 1024, 0);
        inputs.push(("an entry name of escapes and invalid UTF-8", t));
    }
    // A header whose size field holds an escape sequence and invalid UTF-8.
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..5].copy_from_slice(b"a.txt");
    h.as_old_mut()
        .size
        .copy_from_slice(b"\x1b]0;pwn\x07\xff\xfe\x00\x00");
    h.set_cksum();
    inputs.push(("a numeric field of escapes", h.as_bytes().to_vec()));
    // Random bytes behind a valid first header.
    let mut r = SplitMix64::new(ctx.below(u64::MAX));
    let mut h = tar::Header::new_gnu();
    h.set_path("x").map_err(|e| e.to_string())?;
    h.set_size(1 << 20);
    h.set_cksum();
    let mut t = h.as_bytes().to_vec();
    t.extend(r.bytes(2 << 20));
    inputs.push(("random bytes after a header", t));
    for (what, bytes) in inputs {
        let (s, out, one_line) = load_file(ctx, "hostile.tar", &bytes)?;
        row.took(out.took);
        if out.ok() || !one_line || out.stderr.contains("panicked") {
            row.fail(format!(
                "{what}: not one clear line: {}",
                out.describe("img-pack load")
            ));
        }
        if let Some(raw) = super::raw_control(&out.stderr) {
            row.fail(format!("{what}: {raw}"));
        }
        row.check(&s.root(), false);
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
