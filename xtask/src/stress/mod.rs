//! `cargo xtask stress`: the attack of issue 9 as a harness anyone can run. Each scenario
//! (one file each) tries hard to break the store — kill -9 at random instants, eight tools
//! at once, a hostile registry, a full disk, leaked secrets, fuzzed parsers — on loopback
//! only, bounded in rounds and time, and reports a row of the table kept in
//! `docs/reliability.md`: rounds, failures, blobs lost, blobs leaked, the worst time.
//!
//! The tools run are the real debug binaries, against the real registry (Debian's
//! docker-registry, `img_core::testing::TestRegistry`), or the in-process
//! `FaultProxy` in front of it where the registry has to misbehave on demand.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use argh::FromArgs;

use crate::util;

pub use check::{check_store, verify_all};

mod check;
mod concurrent;
mod full_disk;
mod fuzz;
mod hostile;
mod kill;
mod secrets;

/// Try hard to break the store (issue 9) and print what held: a table of scenarios with
/// rounds, failures, lost and leaked blobs, and the worst time.
#[derive(FromArgs)]
#[argh(subcommand, name = "stress")]
pub struct StressCmd {
    /// a few rounds of each scenario, what CI runs (within 5 minutes on 2 cores)
    #[argh(switch)]
    quick: bool,
    /// rounds of each repeated scenario (default 50, or 3 with --quick)
    #[argh(option)]
    rounds: Option<usize>,
    /// only these scenarios, comma-separated: kill, concurrent, hostile, full-disk,
    /// secrets, fuzz
    #[argh(option)]
    only: Option<String>,
    /// the seed of the random instants and choices (default: the time)
    #[argh(option)]
    seed: Option<u64>,
    /// write the table to docs/reliability.md
    #[argh(switch)]
    write_doc: bool,
    /// run the tool binaries in this directory instead of building the debug ones (a
    /// release build, or another branch's tool)
    #[argh(option)]
    bin: Option<PathBuf>,
}

/// The scenarios, in the order they run and are listed.
const SCENARIOS: &[&str] = &[
    "kill",
    "concurrent",
    "hostile",
    "full-disk",
    "secrets",
    "fuzz",
];

/// One row of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// What was attacked.
    pub name: String,
    /// Rounds run.
    pub rounds: usize,
    /// Rounds or checks that went wrong.
    pub failures: usize,
    /// Blobs an image needs that were missing or wrong.
    pub lost: usize,
    /// Blob files and partials nothing needed after the final prune.
    pub leaked: usize,
    /// The slowest round.
    pub worst: Duration,
    /// What went wrong (the first few), or why the scenario was skipped.
    pub notes: Vec<String>,
    /// Set when the scenario could not run here, saying why.
    pub skipped: Option<String>,
    /// What a reader of the table should know that is no failure (refusals counted,
    /// parts not in the mix yet).
    pub info: Vec<String>,
    /// Rounds whose command was killed before it finished (the kill scenarios).
    pub killed: usize,
}

impl Row {
    /// An empty row named `name`.
    pub fn new(name: impl Into<String>) -> Row {
        Row {
            name: name.into(),
            rounds: 0,
            failures: 0,
            lost: 0,
            leaked: 0,
            worst: Duration::ZERO,
            notes: Vec::new(),
            skipped: None,
            info: Vec::new(),
            killed: 0,
        }
    }

    /// A row for a scenario that cannot run, saying why.
    pub fn skipped(name: impl Into<String>, why: impl Into<String>) -> Row {
        let mut row = Row::new(name);
        row.skipped = Some(why.into());
        row
    }

    /// Counts a failure and keeps its description (the first five).
    pub fn fail(&mut self, what: impl Into<String>) {
        self.failures += 1;
        if self.notes.len() < 5 {
            let what: String = what.into();
            eprintln!("stress: {}: FAILED: {what}", self.name);
            self.notes.push(what);
        }
    }

    /// Records one round's time.
    pub fn took(&mut self, d: Duration) {
        self.rounds += 1;
        self.worst = self.worst.max(d);
    }

    /// Adds a store check's lost and leaked counts, failing the row for each problem.
    pub fn check(&mut self, root: &Path, final_check: bool) {
        let c = check_store(root);
        self.lost += c.lost;
        if final_check {
            self.leaked += c.unpinned + c.partials;
        }
        for p in c.problems {
            self.fail(p);
        }
    }
}

/// What the harness runs the tools with.
pub struct Ctx {
    bin: PathBuf,
    /// Rounds of each repeated scenario.
    pub rounds: usize,
    /// `--quick`: CI's short run.
    pub quick: bool,
    rng: std::cell::Cell<u64>,
}

impl Ctx {
    /// The path of tool `name`'s binary.
    pub fn tool(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }

    /// A random number below `n` (SplitMix64 of the run's seed).
    pub fn below(&self, n: u64) -> u64 {
        let mut r = img_core::testing::images::SplitMix64::new(self.rng.get());
        let v = r.next_u64();
        self.rng.set(v);
        if n == 0 { 0 } else { v % n }
    }
}

/// A private store, config and home for the tools, like the tests' fixture.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    /// A new sandbox in a temporary directory.
    pub fn new() -> Result<Sandbox, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("creating a temp dir: {e}"))?;
        for sub in ["store", "config/img", "home/.docker"] {
            std::fs::create_dir_all(dir.path().join(sub))
                .map_err(|e| format!("creating the sandbox: {e}"))?;
        }
        Ok(Sandbox { dir })
    }

    /// Its directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The store root.
    pub fn root(&self) -> PathBuf {
        self.path().join("store")
    }

    /// A command running `program` on this sandbox's store and config only.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        img_core::testing::fixture::sandboxed(&mut cmd, self.path(), &self.root());
        cmd
    }

    /// Writes `$DOCKER_CONFIG/config.json` with Basic credentials for `host`.
    pub fn login(&self, host: &str, user: &str, password: &str) -> Result<(), String> {
        use base64::Engine as _;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let json = serde_json::json!({"auths": {host: {"auth": auth}}});
        std::fs::write(
            self.path().join("home/.docker/config.json"),
            json.to_string(),
        )
        .map_err(|e| format!("writing the credentials: {e}"))
    }
}

/// How one tool run ended.
#[derive(Debug)]
pub struct Outcome {
    /// The exit status; `None` when it had to be killed at the time limit.
    pub status: Option<ExitStatus>,
    /// stdout.
    pub stdout: String,
    /// stderr.
    pub stderr: String,
    /// How long it ran.
    pub took: Duration,
}

impl Outcome {
    /// Exit status 0.
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// The command and how it ended, in one line, for a failure note.
    pub fn describe(&self, what: &str) -> String {
        let how = match self.status {
            None => format!("still running after {:.0?}, killed", self.took),
            Some(s) => s.to_string(),
        };
        let err = self.stderr.trim().replace('\n', " | ");
        let err: String = err.chars().take(300).collect();
        format!("{what}: {how}: {err}")
    }

    /// The `Downloaded` of the first record on stdout.
    pub fn downloaded(&self) -> Option<u64> {
        let first = self.stdout.lines().next()?;
        serde_json::from_str::<serde_json::Value>(first)
            .ok()?
            .get("Downloaded")?
            .as_u64()
    }
}

/// Starts `cmd` with stdin closed and output captured.
pub fn spawn(cmd: &mut Command) -> Result<Child, String> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running {}: {e}", util::display(cmd)))
}

/// Waits for `child` up to `limit` (then kills it), collecting its output.
pub fn finish(mut child: Child, started: Instant, limit: Duration) -> Outcome {
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    // Read both pipes on threads so a chatty tool never blocks on a full pipe.
    let o = std::thread::spawn(move || drain(out.as_mut()));
    let e = std::thread::spawn(move || drain(err.as_mut()));
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if started.elapsed() >= limit => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => break None,
        }
    };
    Outcome {
        status,
        stdout: o.join().unwrap_or_default(),
        stderr: e.join().unwrap_or_default(),
        took: started.elapsed(),
    }
}

fn drain(r: Option<&mut impl Read>) -> String {
    let mut bytes = Vec::new();
    if let Some(r) = r {
        let _ = r.read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// What in `stderr` could drive a terminal (issue 14: input bytes reached it raw): a
/// byte below 0x20 other than `\n` and `\t`, DEL, or a C1 control, described; `None` when
/// there is none.
pub fn raw_control(stderr: &str) -> Option<String> {
    let (at, c) = stderr.char_indices().find(|&(_, c)| {
        (c < ' ' && c != '\n' && c != '\t') || ('\u{7f}'..='\u{9f}').contains(&c)
    })?;
    let from = stderr[..at]
        .char_indices()
        .rev()
        .nth(40)
        .map_or(0, |(i, _)| i);
    Some(format!(
        "a raw {:#04x} reached stderr: {:?}",
        c as u32,
        &stderr[from..(at + c.len_utf8())]
    ))
}

/// Runs `cmd` to its end, killed at `limit`.
pub fn run_for(cmd: &mut Command, limit: Duration) -> Result<Outcome, String> {
    let started = Instant::now();
    let child = spawn(cmd)?;
    Ok(finish(child, started, limit))
}

/// The most a tool may take in a scenario before it counts as hung.
pub const TOOL_LIMIT: Duration = Duration::from_secs(120);

/// Builds the tools' debug binaries and returns their directory. The whole workspace's
/// binaries, so that features resolve as in `cargo test --workspace` and CI's test build
/// is reused rather than img-core and every tool built a second time.
fn build_tools() -> Result<PathBuf, String> {
    util::run(
        Command::new(env!("CARGO"))
            .current_dir(util::project_root())
            .args(["build", "--quiet", "--workspace", "--bins"]),
    )?;
    Ok(util::target_dir().join("debug"))
}

/// Runs the scenarios asked for and prints (and maybe records) the table.
pub fn run(cmd: StressCmd) -> Result<(), String> {
    let only: Vec<String> = match &cmd.only {
        Some(list) => list.split(',').map(|s| s.trim().to_owned()).collect(),
        None => SCENARIOS.iter().map(|s| (*s).to_owned()).collect(),
    };
    if let Some(bad) = only.iter().find(|s| !SCENARIOS.contains(&s.as_str())) {
        return Err(format!(
            "no scenario {bad:?}; the scenarios are {}",
            SCENARIOS.join(", ")
        ));
    }
    crate::ci::ensure_packages()?;
    let bin = match cmd.bin {
        Some(dir) => dir,
        None => build_tools()?,
    };
    let seed = cmd.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let ctx = Ctx {
        bin,
        rounds: cmd.rounds.unwrap_or(if cmd.quick { 3 } else { 50 }),
        quick: cmd.quick,
        rng: std::cell::Cell::new(seed),
    };
    let started = Instant::now();
    let mut rows = Vec::new();
    for name in SCENARIOS.iter().filter(|s| only.iter().any(|o| o == *s)) {
        eprintln!("stress: {name} (seed {seed})");
        let t = Instant::now();
        let got = match *name {
            "kill" => kill::run(&ctx),
            "concurrent" => concurrent::run(&ctx),
            "hostile" => hostile::run(&ctx),
            "full-disk" => full_disk::run(&ctx),
            "secrets" => secrets::run(&ctx),
            _ => fuzz::run(&ctx),
        };
        match got {
            Ok(r) => rows.extend(r),
            Err(e) => {
                let mut row = Row::new(*name);
                row.fail(format!("the scenario could not run: {e}"));
                rows.push(row);
            }
        }
        eprintln!("stress: {name} took {:.1?}", t.elapsed());
    }
    let table = table(&rows);
    println!("{table}");
    let failures: usize = rows.iter().map(|r| r.failures + r.lost + r.leaked).sum();
    println!(
        "stress: {} scenarios in {:.0?} (seed {seed}, {} rounds each)",
        rows.len(),
        started.elapsed(),
        ctx.rounds
    );
    if cmd.write_doc {
        let path = write_doc(&table, &ctx, seed, started.elapsed())?;
        println!("stress: table written to {}", path.display());
    }
    if failures > 0 {
        Err(format!(
            "{failures} failures, lost or leaked blobs (see the table)"
        ))
    } else {
        Ok(())
    }
}

/// The table in Markdown, then the notes of each row that has some.
fn table(rows: &[Row]) -> String {
    let mut s = String::from(
        "| scenario | rounds | failures | lost | leaked | worst time |\n\
         | --- | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for r in rows {
        if let Some(why) = &r.skipped {
            s.push_str(&format!("| {} | skipped: {why} | | | | |\n", r.name));
            continue;
        }
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.1} s |\n",
            r.name,
            r.rounds,
            r.failures,
            r.lost,
            r.leaked,
            r.worst.as_secs_f64()
        ));
    }
    let informed: Vec<&Row> = rows
        .iter()
        .filter(|r| !r.info.is_empty() || r.killed > 0)
        .collect();
    if !informed.is_empty() {
        s.push_str("\nNotes:\n\n");
        for r in informed {
            if r.killed > 0 {
                s.push_str(&format!(
                    "- {}: killed before it finished in {} of {} rounds\n",
                    r.name, r.killed, r.rounds
                ));
            }
            for n in &r.info {
                s.push_str(&format!("- {}: {n}\n", r.name));
            }
        }
    }
    let noted: Vec<&Row> = rows.iter().filter(|r| !r.notes.is_empty()).collect();
    if !noted.is_empty() {
        s.push_str("\nFailures (the first of each scenario):\n\n");
        for r in noted {
            for n in &r.notes {
                s.push_str(&format!("- {}: {}\n", r.name, n.replace('|', "\\|")));
            }
        }
    }
    s
}

/// Replaces the "Last run" section of docs/reliability.md with `table`.
fn write_doc(table: &str, ctx: &Ctx, seed: u64, took: Duration) -> Result<PathBuf, String> {
    let path = util::project_root().join("docs/reliability.md");
    let doc =
        std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let start = "<!-- stress:begin -->";
    let end = "<!-- stress:end -->";
    let (Some(a), Some(b)) = (doc.find(start), doc.find(end)) else {
        return Err(format!("{} has no {start} … {end} markers", path.display()));
    };
    let body = format!(
        "{start}\n`cargo xtask stress{}` on {}, seed {seed}, {:.0?}:\n\n{}\n{end}",
        if ctx.quick { " --quick" } else { "" },
        crate::bench::machine(),
        took,
        table.trim_end()
    );
    let new = format!("{}{body}{}", &doc[..a], &doc[b + end.len()..]);
    std::fs::write(&path, new).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skipped_row_says_why_in_the_table() {
        let mut ok = Row::new("kill img-tag");
        ok.took(Duration::from_millis(1500));
        let rows = [
            ok,
            Row::skipped("kill img-pack load", "img-pack load not built"),
        ];
        let t = table(&rows);
        assert!(
            t.contains("| kill img-tag | 1 | 0 | 0 | 0 | 1.5 s |"),
            "{t}"
        );
        assert!(
            t.contains("| kill img-pack load | skipped: img-pack load not built |"),
            "{t}"
        );
    }
}
