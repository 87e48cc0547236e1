//! Running a tool's binary in a test and reading back what it printed: the exit status,
//! stdout as JSON (an array, or records one a line), and stderr.

use std::io::Write;
use std::process::{Command, Stdio};

use serde::de::DeserializeOwned;

use crate::record::ImageRecord;

/// What one run of a tool printed and how it ended.
#[derive(Debug, Clone)]
pub struct Run {
    /// The exit status (-1 when killed by a signal).
    pub code: i32,
    /// Everything on stdout.
    pub stdout: String,
    /// Everything on stderr.
    pub stderr: String,
    /// The program's file name (`img-pull`): what its error lines start with.
    pub tool: String,
}

impl Run {
    /// stdout as JSON Lines, each line one `T` (a record type, or `serde_json::Value`).
    #[track_caller]
    pub fn records<T: DeserializeOwned>(&self) -> Vec<T> {
        self.stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("stdout line {l:?} is not a record: {e}"))
            })
            .collect()
    }

    /// The one image record on stdout (img-pull of one image, img-tag), without looking at
    /// the exit status.
    #[track_caller]
    pub fn record(&self) -> ImageRecord {
        let mut records = self.records();
        assert_eq!(records.len(), 1, "one record expected: {self:#?}");
        records.remove(0)
    }

    /// stdout as one JSON document (img-inspect's array).
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }

    /// Asserts exit status 0 and nothing on stderr.
    #[track_caller]
    pub fn success(self) -> Run {
        assert_eq!(self.code, 0, "the tool failed: {self:#?}");
        assert_eq!(self.stderr, "", "the tool wrote to stderr: {self:#?}");
        self
    }

    /// Asserts exit status `code` and exactly `lines` lines on stderr, each starting with
    /// `<tool>: ` as every tool's messages do (stdout is not looked at: a partial failure
    /// still prints what succeeded).
    #[track_caller]
    pub fn failure(self, code: i32, lines: usize) -> Run {
        assert_eq!(self.code, code, "exit status: {self:#?}");
        let got: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(got.len(), lines, "stderr lines: {self:#?}");
        let prefix = format!("{}: ", self.tool);
        for l in got {
            assert!(l.starts_with(&prefix), "not a {prefix:?} line: {l:?}");
        }
        self
    }

    /// Asserts success and returns the records as JSON values.
    #[track_caller]
    pub fn ok(self) -> Vec<serde_json::Value> {
        self.success().records()
    }
}

/// Runs a program a test leans on (curl, skopeo, podman), asserting it succeeded, and
/// returns its stdout.
#[track_caller]
pub fn stdout_of(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!(
            "running {:?} (is its package installed?): {e}",
            cmd.get_program()
        )
    });
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs `cmd` with `input` on stdin (stdin closed when `None`), capturing stdout and stderr.
#[track_caller]
pub fn run(cmd: &mut Command, input: Option<&str>) -> Run {
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("running {:?}: {e}", cmd.get_program()));
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        // A tool may exit before reading everything (a usage error): not our failure.
        let _ = stdin.write_all(text.as_bytes());
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for {:?}: {e}", cmd.get_program()));
    let tool = std::path::Path::new(cmd.get_program())
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout)
            .unwrap_or_else(|e| panic!("{tool} wrote non-UTF-8 to stdout: {e}")),
        stderr: String::from_utf8(out.stderr)
            .unwrap_or_else(|e| panic!("{tool} wrote non-UTF-8 to stderr: {e}")),
        tool,
    }
}

/// Runs `cmd` on a pseudo-terminal (util-linux `script`), so a tool prints for a person
/// (docker's lines, progress), and returns what the terminal showed, stdout and stderr
/// together, with the terminal's `\r\n` turned back into `\n`. Asserts the command
/// succeeded.
#[track_caller]
pub fn on_terminal(cmd: &Command) -> String {
    let mut line = shell_quote(&cmd.get_program().to_string_lossy());
    for a in cmd.get_args() {
        line.push(' ');
        line.push_str(&shell_quote(&a.to_string_lossy()));
    }
    let mut script = Command::new("script");
    script.args(["-q", "-e", "-c", &line, "/dev/null"]);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => script.env(k, v),
            None => script.env_remove(k),
        };
    }
    let out = script
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("util-linux's script is needed to give {line} a terminal: {e}"));
    let shown = String::from_utf8(out.stdout)
        .unwrap_or_else(|e| panic!("{line} showed non-UTF-8 on the terminal: {e}"))
        .replace("\r\n", "\n");
    assert!(
        out.status.success(),
        "{line} failed ({}): {shown}",
        out.status
    );
    shown
}

/// `s` in single quotes for `sh`.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, input: Option<&str>) -> Run {
        run(Command::new("sh").args(["-c", script]), input)
    }

    #[test]
    fn captures_status_output_and_the_tools_name() {
        let r = sh("cat; echo oops >&2; exit 3", Some("{\"a\":1}\n"));
        assert_eq!((r.code, r.tool.as_str()), (3, "sh"));
        assert_eq!(
            r.records::<serde_json::Value>(),
            [serde_json::json!({"a": 1})]
        );
        assert_eq!(r.stderr, "oops\n");
        // No input: stdin is empty, not the test's own.
        assert_eq!(sh("cat", None).success().stdout, "");
    }

    #[test]
    fn failure_wants_the_status_the_line_count_and_the_prefix() {
        let r = sh("echo 'sh: one' >&2; echo 'sh: two' >&2; exit 2", None);
        let r = r.failure(2, 2);
        for (code, lines) in [(1, 2), (2, 1)] {
            let r = r.clone();
            assert!(std::panic::catch_unwind(move || r.failure(code, lines)).is_err());
        }
        let r = sh("echo 'other: x' >&2; exit 1", None);
        assert!(std::panic::catch_unwind(move || r.failure(1, 1)).is_err());
    }

    #[test]
    fn on_terminal_gives_a_terminal_and_passes_arguments_and_environment_through() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "test -t 1 && echo \"tty $X $0\"", "it's"])
            .env("X", "x");
        assert_eq!(on_terminal(&cmd), "tty x it's\n");
        let fails = std::panic::catch_unwind(|| on_terminal(Command::new("false").arg("y")));
        assert!(fails.is_err());
    }

    #[test]
    fn success_refuses_a_failure_or_anything_on_stderr() {
        assert!(std::panic::catch_unwind(|| sh("exit 1", None).success()).is_err());
        assert!(std::panic::catch_unwind(|| sh("echo w >&2", None).success()).is_err());
        let r = sh("echo '{\"ID\":\"x\"}'", None);
        assert_eq!(r.ok(), [serde_json::json!({"ID": "x"})]);
    }
}
