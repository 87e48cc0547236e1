//! Comparisons with docker's own output that pass on any machine: live, against the docker
//! CLI the tests target ([`TARGET_CLI`] over a [`super::TestDockerd`]), when that CLI is
//! here and the tests run as root; otherwise against golden files in the repository that
//! such a run recorded (`cargo xtask goldens`). Each comparison says which it made.
//!
//! A golden file is JSON: `recorded_with` ([`RECORDED_WITH`]) and, by key, the command
//! docker ran and what it printed. The inputs must be fixed (pinned created times, fixed
//! seeds) for a golden to stay true; text that differs from run to run for a known reason
//! (the test registry's port) is recorded as a placeholder and put back when read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

/// The docker CLI whose output the parity tests target.
pub const TARGET_CLI: &str = "28.2.2";
/// What the goldens record as their source.
pub const RECORDED_WITH: &str = "docker 28.2.2 CLI over dockerd 20.10 (API 1.41)";
/// `IMG_GOLDENS=record` makes a live run rewrite its golden file; `IMG_GOLDENS=golden`
/// compares with the goldens even where the live CLI is present.
pub const MODE_ENV: &str = "IMG_GOLDENS";

/// One docker command's result, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// The command, as typed (with placeholders).
    pub command: String,
    /// Its exit status.
    pub code: i32,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct GoldenFile {
    recorded_with: String,
    /// What the test compares live only, and why (see [`DockerComparison::note`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    notes: Vec<String>,
    answers: BTreeMap<String, Answer>,
}

/// Which comparison a test makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// With the docker CLI here.
    Live,
    /// With the docker CLI here, rewriting the golden file.
    Record,
    /// With the golden file.
    Golden,
}

/// A test's docker comparisons: docker's answers, live or from the goldens.
pub struct DockerComparison {
    mode: Mode,
    path: PathBuf,
    file: GoldenFile,
    /// `(text in this run, placeholder in the goldens)`.
    placeholders: Vec<(String, String)>,
}

/// The docker CLI's version here, if there is one.
pub fn cli_version() -> Option<String> {
    let out = Command::new("docker")
        .args(["version", "--format", "{{.Client.Version}}"])
        .output()
        .ok()?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (!v.is_empty()).then_some(v)
}

impl DockerComparison {
    /// The comparisons recorded in `golden` (a path in the repository): live when the
    /// docker CLI is [`TARGET_CLI`] and the process is root (a dockerd needs it), unless
    /// [`MODE_ENV`] says otherwise. Says on stderr which comparison the test makes.
    pub fn new(golden: impl Into<PathBuf>) -> DockerComparison {
        let path = golden.into();
        let live =
            rustix::process::geteuid().is_root() && cli_version().as_deref() == Some(TARGET_CLI);
        let mode = match std::env::var(MODE_ENV).as_deref() {
            Ok("record") => {
                assert!(
                    live,
                    "{MODE_ENV}=record needs docker {TARGET_CLI}'s CLI and root (found {:?})",
                    cli_version()
                );
                Mode::Record
            }
            Ok("golden") => Mode::Golden,
            _ if live => Mode::Live,
            _ => Mode::Golden,
        };
        let file = match mode {
            Mode::Record => GoldenFile {
                recorded_with: RECORDED_WITH.to_owned(),
                ..GoldenFile::default()
            },
            Mode::Live | Mode::Golden => read_golden(&path, mode == Mode::Golden),
        };
        match mode {
            Mode::Live => eprintln!("comparing with docker {TARGET_CLI}'s CLI, live"),
            Mode::Record => eprintln!(
                "comparing with docker {TARGET_CLI}'s CLI, live, recording {}",
                path.display()
            ),
            Mode::Golden if live => eprintln!(
                "comparing with the goldens in {} ({}), as {MODE_ENV}=golden asks",
                path.display(),
                file.recorded_with,
            ),
            Mode::Golden => eprintln!(
                "comparing with the goldens in {} ({}): docker's CLI here is {:?}, not {TARGET_CLI} run as root",
                path.display(),
                file.recorded_with,
                cli_version()
            ),
        }
        DockerComparison {
            mode,
            path,
            file,
            placeholders: Vec::new(),
        }
    }

    /// Which comparison this is.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Whether docker runs (so its daemon must be started and fed).
    pub fn is_live(&self) -> bool {
        self.mode != Mode::Golden
    }

    /// Says in the golden file's header what the test compares live only, and why (a
    /// relative time that would go stale): a recording run writes `text` there.
    pub fn note(&mut self, text: &str) {
        if self.mode == Mode::Record {
            self.file.notes.push(text.to_owned());
        }
    }

    /// `text` (the test registry's address) is recorded as `placeholder`.
    pub fn placeholder(&mut self, text: &str, placeholder: &str) {
        self.placeholders
            .push((text.to_owned(), placeholder.to_owned()));
    }

    fn recordable(&self, s: &str) -> String {
        self.placeholders
            .iter()
            .fold(s.to_owned(), |s, (t, p)| s.replace(t.as_str(), p))
    }

    fn restore(&self, s: &str) -> String {
        self.placeholders
            .iter()
            .fold(s.to_owned(), |s, (t, p)| s.replace(p.as_str(), t))
    }

    /// docker's answer under `key`: `run` gives it (exit status, stdout, stderr) when
    /// live; otherwise the goldens do (a key they lack fails the test, naming the command
    /// to regenerate them).
    #[track_caller]
    pub fn answer(
        &mut self,
        key: &str,
        command: &str,
        run: impl FnOnce() -> (i32, String, String),
    ) -> (i32, String, String) {
        let key = self.recordable(key);
        let key = key.as_str();
        if self.mode == Mode::Golden {
            let a = self.file.answers.get(key).unwrap_or_else(|| {
                panic!(
                    "{} has no answer for {key:?} ({command}): regenerate it with `cargo xtask goldens` where docker {TARGET_CLI} is",
                    self.path.display()
                )
            });
            return (a.code, self.restore(&a.stdout), self.restore(&a.stderr));
        }
        let (code, stdout, stderr) = run();
        if self.mode == Mode::Record {
            let answer = Answer {
                command: self.recordable(command),
                code,
                stdout: self.recordable(&stdout),
                stderr: self.recordable(&stderr),
            };
            self.file.answers.insert(key.to_owned(), answer);
        }
        (code, stdout, stderr)
    }

    /// Ends the comparisons: a recording run writes its golden file.
    pub fn finish(self) {
        if self.mode != Mode::Record {
            return;
        }
        let mut text = serde_json::to_string_pretty(&self.file).unwrap_or_default();
        text.push('\n');
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        std::fs::write(&self.path, text)
            .unwrap_or_else(|e| panic!("writing {}: {e}", self.path.display()));
        eprintln!("recorded {}", self.path.display());
    }
}

fn read_golden(path: &Path, needed: bool) -> GoldenFile {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not a golden file: {e}", path.display())),
        Err(e) if needed => panic!(
            "{}: {e}: no goldens to compare with; record them with `cargo xtask goldens` where docker {TARGET_CLI}'s CLI is",
            path.display()
        ),
        Err(_) => GoldenFile::default(),
    }
}
