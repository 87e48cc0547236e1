//! Running a tool's binary in a test and reading back what it printed: the exit status,
//! stdout as JSON (an array, or records one a line), and stderr.

use std::io::Write;
use std::process::{Command, Stdio};

use serde::de::DeserializeOwned;

/// What one run of a tool printed and how it ended.
#[derive(Debug)]
pub struct Run {
    /// The exit status (-1 when killed by a signal).
    pub code: i32,
    /// Everything on stdout.
    pub stdout: String,
    /// Everything on stderr.
    pub stderr: String,
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

    /// Asserts success and returns the records as JSON values.
    #[track_caller]
    pub fn ok(self) -> Vec<serde_json::Value> {
        self.success().records()
    }
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
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
