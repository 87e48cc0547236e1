//! The shared `main` of every tool: docker-style argument forms, argh parsing, error
//! printing with the tool's name, per-item failures, and exit codes.
//!
//! Exit status, the same for every tool: 0 when everything was done; 1 when some item
//! failed (the others still done, each failure printed as `img-rm: "x": reason`) or the
//! whole command failed; 2 for bad usage. A closed stdout (`img-ls | head -1`) is not an
//! error: the tool stops quietly with status 0.

use std::io::{self, IsTerminal, Write};

use crate::error::{Error, ErrorKind, Result};

/// Exit status for success.
pub const EXIT_OK: i32 = 0;
/// Exit status when some item, or the command, failed.
pub const EXIT_FAILURE: i32 = 1;
/// Exit status for bad usage.
pub const EXIT_USAGE: i32 = 2;

/// Rewrites docker-style argument forms into the whole words argh matches.
///
/// - `--format='{{.ID}}'` (the shell already removed the quotes) → `--format`, `{{.ID}}`
/// - `-f=json` → `-f`, `json`
/// - `-aq` → `-a`, `-q`; a value-taking short flag inside a group takes the rest of the
///   group as its value (`-fjson` → `-f`, `json`), as Go's pflag does
///
/// - `-h` → `--help`, alone or in a group, as docker has it
///
/// `value_shorts` lists the short flags that take a value. Everything after `--` is left
/// alone, as are negative numbers and a lone `-` (stdin).
pub fn split_args(args: &[String], value_shorts: &[char]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut rest = args.iter();
    let mut expect_value = false;
    for arg in rest.by_ref() {
        if expect_value {
            // The value of the previous flag, taken whole even if it starts with '-'.
            out.push(arg.clone());
            expect_value = false;
            continue;
        }
        if arg == "--" {
            out.push(arg.clone());
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            match long.split_once('=') {
                Some((name, value)) => {
                    out.push(format!("--{name}"));
                    out.push(value.to_owned());
                }
                None => out.push(arg.clone()),
            }
            continue;
        }
        let Some(group) = arg.strip_prefix('-') else {
            out.push(arg.clone());
            continue;
        };
        if group.is_empty() || group.starts_with(|c: char| c.is_ascii_digit()) {
            out.push(arg.clone());
            continue;
        }
        for (i, c) in group.char_indices() {
            // docker's -h: no tool has another -h, and argh knows only --help.
            if c == 'h' {
                out.push("--help".to_owned());
                continue;
            }
            out.push(format!("-{c}"));
            if value_shorts.contains(&c) {
                let value = &group[i + c.len_utf8()..];
                let value = value.strip_prefix('=').unwrap_or(value);
                if value.is_empty() {
                    expect_value = true;
                } else {
                    out.push(value.to_owned());
                }
                break;
            }
        }
    }
    out.extend(rest.cloned());
    out
}

/// Failures of single items in a command that goes on with the others.
///
/// Each failure is printed at once as `img-X: "item": reason`; [`Failures::exit_code`]
/// then says 1 if there was any.
#[derive(Debug)]
pub struct Failures {
    tool: &'static str,
    count: usize,
}

impl Failures {
    /// A fresh list for `tool` (its binary name, `img-rm`).
    pub fn new(tool: &'static str) -> Failures {
        Failures { tool, count: 0 }
    }

    /// Reports that `item` failed with `err`.
    pub fn report(&mut self, item: &str, err: &Error) {
        self.count += 1;
        eprintln!(
            "{}: {}: {}",
            self.tool,
            crate::quote::quote(item),
            crate::quote::escape_message(&err.to_string())
        );
    }

    /// How many items failed.
    pub fn count(&self) -> usize {
        self.count
    }

    /// 0 when none failed, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        if self.count == 0 {
            EXIT_OK
        } else {
            EXIT_FAILURE
        }
    }
}

/// Prints `line` on stderr with any control character in it escaped (a warning that
/// names something from outside: [`crate::quote::escape_message`]).
pub fn warn(line: &str) {
    eprintln!("{}", crate::quote::escape_message(line));
}

/// Whether `err` means stdout was closed under us (`| head`): not a failure.
pub fn is_broken_pipe(err: &Error) -> bool {
    err.io_kind() == Some(io::ErrorKind::BrokenPipe)
}

/// Whether stdout is a terminal (tables) or a pipe or file (JSON Lines).
pub fn stdout_is_terminal() -> bool {
    io::stdout().is_terminal()
}

/// Whether stderr is a terminal (progress bars).
pub fn stderr_is_terminal() -> bool {
    io::stderr().is_terminal()
}

/// Whether stdin is a terminal; a tool given no arguments reads records from stdin only
/// when it is not.
pub fn stdin_is_terminal() -> bool {
    io::stdin().is_terminal()
}

/// The docker CLI whose output the tools follow (`--version` names it).
pub const DOCKER_VERSION: &str = "28.2.2";

/// The docker command `tool` mirrors, for `--version`.
fn docker_command(tool: &str) -> &'static str {
    match tool {
        "img-pull" => "docker pull",
        "img-push" => "docker push",
        "img-search" => "docker search",
        "img-ls" => "docker images",
        "img-inspect" => "docker image inspect",
        "img-rm" => "docker rmi and docker image prune",
        "img-pack" => "docker save and docker load",
        "img-tag" => "docker tag",
        "img-login" => "docker login and docker logout",
        _ => "docker",
    }
}

/// What `TOOL --version` prints: the img version, and the docker version whose output
/// the tool follows.
pub fn version_line(tool: &str) -> String {
    format!(
        "{tool} version {} (img), output as docker {DOCKER_VERSION}'s {}",
        env!("CARGO_PKG_VERSION"),
        docker_command(tool)
    )
}

/// argh's help with docker's `-h` beside `--help` (the splitter turns `-h` into it; the
/// word `help` still works, as argh has it) and the `--version` every tool has.
fn help_text(output: &str) -> String {
    const ARGH: &str = "  --help, help      display usage information";
    let ours = "  -h, --help        display usage information\n  --version         print the img version and the docker version followed";
    output.trim_end().replace(ARGH, ours)
}

/// Parses the command line into `T` (after [`split_args`]) and runs `body`, turning its
/// outcome into the process exit status. `body` returns the exit code it wants (from
/// [`Failures::exit_code`], usually) or an error for the whole command.
///
/// `--help` (or `-h`) prints to stdout and exits 0, as does `--version`; a usage error
/// prints argh's message and exits 2.
pub fn main<T: argh::FromArgs>(
    tool: &'static str,
    value_shorts: &[char],
    body: impl FnOnce(T) -> Result<i32>,
) -> ! {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let args = split_args(&raw, value_shorts);
    if wants_version(&args) {
        let _ = writeln!(io::stdout(), "{}", version_line(tool));
        std::process::exit(EXIT_OK);
    }
    let strs: Vec<&str> = args.iter().map(String::as_str).collect();
    let parsed = match T::from_args(&[tool], &strs) {
        Ok(parsed) => parsed,
        Err(early) => {
            let code = match early.status {
                Ok(()) => {
                    let _ = writeln!(io::stdout(), "{}", help_text(&early.output));
                    EXIT_OK
                }
                Err(()) => {
                    // The output names the argument as given, which may hold any bytes.
                    let output = crate::quote::escape_message(early.output.trim_end());
                    eprintln!("{tool}: {output}");
                    eprintln!("Run '{tool} --help' for more information.");
                    EXIT_USAGE
                }
            };
            std::process::exit(code);
        }
    };
    let code = match body(parsed) {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => EXIT_OK,
        Err(err) => {
            eprintln!("{tool}: {}", crate::quote::escape_message(&err.to_string()));
            err.exit_code()
        }
    };
    // Flushing a closed pipe at exit is not an error either.
    if let Err(e) = io::stdout().flush()
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        eprintln!("{tool}: writing output: {e}");
        std::process::exit(EXIT_FAILURE);
    }
    std::process::exit(code)
}

/// Whether `--version` is among the flags (before any `--`), wherever it stands, as
/// argh does `--help`.
fn wants_version(args: &[String]) -> bool {
    args.iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "--version")
}

/// What a tool acts on: its arguments, or with none and a non-terminal stdin, the records
/// and lines read from stdin (the one reader, [`crate::record::read_target_items`]). Each
/// item comes with the label its failure is reported under: the argument as given, or
/// `stdin` for a record.
///
/// No arguments and a terminal stdin is a usage error naming `what`.
pub fn targets(
    args: &[String],
    what: &str,
) -> Result<Vec<(String, Result<crate::record::Target>)>> {
    use crate::record::{Target, read_target_items};
    if !args.is_empty() {
        return Ok(args.iter().map(|a| (a.clone(), Target::parse(a))).collect());
    }
    if stdin_is_terminal() {
        return Err(nothing_to_do(what));
    }
    let items = read_target_items(io::stdin().lock())?;
    Ok(items
        .into_iter()
        .map(|item| {
            let label = match &item {
                Ok(t) => t.to_string(),
                Err(_) => "stdin".to_owned(),
            };
            (label, item)
        })
        .collect())
}

/// Output for tools that print image records rather than a table (img-pull, img-tag,
/// img-pack load): docker's lines on a terminal, one JSON record a line in a pipe, or
/// what `--format json|TEMPLATE` asks for.
pub struct RecordWriter {
    output: Option<crate::output::Output<io::Stdout>>,
    /// Whether the output is a template, which sees every key of [`RecordWriter::keys`].
    template: bool,
    /// The keys of the record table (DESIGN's records, docs/records.md) a template may
    /// use; a record without one (no `Ref` for an untagged load) shows it as `""`.
    keys: &'static [&'static str],
}

impl RecordWriter {
    /// `format` is `--format`'s value, if given.
    pub fn new(format: Option<&str>, stdout_is_terminal: bool) -> Result<RecordWriter> {
        use crate::output::{Format, Output};
        let format = match format {
            Some("table") | Some("") => {
                return Err(Error::usage(
                    "--format takes json or a Go template here (this tool prints no table)",
                ));
            }
            Some(f) => Some(Format::parse(f)?),
            None if stdout_is_terminal => None,
            None => Some(Format::Json),
        };
        Ok(RecordWriter {
            template: matches!(format, Some(Format::Template(_))),
            output: format.map(|f| Output::new(f, &[], io::stdout())),
            keys: &[],
        })
    }

    /// Every key of the printed records' table ([`crate::record::ImageRecord::KEYS`]):
    /// a template sees each of them, `""` when a record leaves it out, so that
    /// `{{.Ref}}` prints an empty line for an untagged image rather than failing. JSON
    /// stays as the record is (no `Ref` means the reader matches what comes next).
    pub fn keys(mut self, keys: &'static [&'static str]) -> RecordWriter {
        self.keys = keys;
        self
    }

    /// Whether records are printed (JSON or a template) rather than docker's lines.
    pub fn has_format(&self) -> bool {
        self.output.is_some()
    }

    /// Prints `record` (in the requested format; as JSON when there is none).
    pub fn record(&mut self, record: &impl serde::Serialize) -> Result<()> {
        let mut value = serde_json::to_value(record)
            .map_err(|e| Error::new(ErrorKind::Io, format!("encoding a record: {e}")))?;
        if self.template
            && let serde_json::Value::Object(map) = &mut value
        {
            for key in self.keys {
                map.entry(*key)
                    .or_insert_with(|| serde_json::Value::String(String::new()));
            }
        }
        match &mut self.output {
            Some(o) => o.write(&value),
            None => self.line(&value.to_string()),
        }
    }

    /// Prints one line of text.
    pub fn line(&mut self, text: &str) -> Result<()> {
        let mut out = io::stdout().lock();
        writeln!(out, "{text}")
            .and_then(|()| out.flush())
            .map_err(|e| Error::io(e, "writing output"))
    }

    /// Flushes what is buffered.
    pub fn finish(self) -> Result<()> {
        match self.output {
            Some(o) => o.finish(),
            None => Ok(()),
        }
    }
}

/// Opens the store every tool works on: `--root` if given, else the default location
/// ([`crate::settings::store_root`]).
pub fn open_store(root: Option<&std::path::Path>) -> Result<crate::store::Store> {
    crate::store::Store::open(&crate::settings::store_root(root)?)
}

/// [`open_store`] for a reading command (img-ls, img-inspect): writes nothing, so it
/// works on a store this user may only read.
pub fn open_store_read_only(root: Option<&std::path::Path>) -> Result<crate::store::Store> {
    crate::store::Store::open_read_only(&crate::settings::store_root(root)?)
}

/// The transfers at once a `-j/--jobs` flag asks for (`flag`), else the config's; 0 is a
/// usage error.
pub fn jobs(flag: Option<usize>, config: &crate::settings::Config) -> Result<usize> {
    match flag {
        Some(0) => Err(Error::usage("--jobs must be at least 1")),
        Some(n) => Ok(n),
        None => Ok(config.jobs()),
    }
}

/// A usage error for a tool that received nothing to act on.
pub fn nothing_to_do(what: &str) -> Error {
    Error::new(
        ErrorKind::Usage,
        format!("{what} required: give it as an argument, or pipe records into stdin"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(args: &[&str], shorts: &[char]) -> Vec<String> {
        let owned: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        split_args(&owned, shorts)
    }

    #[test]
    fn jobs_come_from_the_flag_else_the_config_and_zero_is_refused() {
        let config = crate::settings::Config {
            jobs: Some(3),
            ..Default::default()
        };
        assert_eq!(jobs(Some(8), &config).unwrap(), 8);
        assert_eq!(jobs(None, &config).unwrap(), 3);
        assert_eq!(
            jobs(None, &crate::settings::Config::default()).unwrap(),
            crate::settings::DEFAULT_JOBS
        );
        let err = jobs(Some(0), &config).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Usage);
        assert!(
            err.to_string().contains("--jobs must be at least 1"),
            "{err}"
        );
    }

    #[test]
    fn long_flags_with_equals_are_split_once() {
        assert_eq!(
            split(&["--format={{.ID}}", "--filter=dangling=true"], &[]),
            ["--format", "{{.ID}}", "--filter", "dangling=true"]
        );
        assert_eq!(split(&["--format=", "x"], &[]), ["--format", "", "x"]);
    }

    #[test]
    fn short_groups_are_split() {
        assert_eq!(split(&["-aq"], &['f']), ["-a", "-q"]);
        assert_eq!(split(&["-aqf", "json"], &['f']), ["-a", "-q", "-f", "json"]);
        assert_eq!(split(&["-fjson"], &['f']), ["-f", "json"]);
        assert_eq!(split(&["-f=json"], &['f']), ["-f", "json"]);
        assert_eq!(split(&["-f", "-q"], &['f']), ["-f", "-q"]);
    }

    #[test]
    fn values_and_operands_are_left_alone() {
        assert_eq!(
            split(&["-f", "--format=x", "alpine", "-", "-1"], &['f']),
            ["-f", "--format=x", "alpine", "-", "-1"]
        );
        assert_eq!(split(&["--", "-aq", "--x=y"], &[]), ["--", "-aq", "--x=y"]);
    }

    #[test]
    fn dash_h_is_help_alone_and_in_groups() {
        assert_eq!(split(&["-h"], &['f']), ["--help"]);
        assert_eq!(split(&["-ah"], &['f']), ["-a", "--help"]);
        // A value that happens to be h stays a value.
        assert_eq!(split(&["-fh", "-f", "-h"], &['f']), ["-f", "h", "-f", "-h"]);
        assert_eq!(split(&["--", "-h"], &[]), ["--", "-h"]);
    }

    #[test]
    fn version_is_seen_before_double_dash_only() {
        let v = |a: &[&str]| wants_version(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert!(v(&["--version"]));
        assert!(v(&["load", "--version"]));
        assert!(!v(&["--", "--version"]));
        assert!(!v(&["-v"]));
        let line = version_line("img-ls");
        assert!(line.starts_with("img-ls version "), "{line}");
        assert!(line.contains("docker 28.2.2's docker images"), "{line}");
    }

    #[test]
    fn failures_count_and_exit() {
        let mut f = Failures::new("img-test");
        assert_eq!(f.exit_code(), 0);
        f.report("x", &Error::new(ErrorKind::NotFound, "no such image"));
        assert_eq!(f.count(), 1);
        assert_eq!(f.exit_code(), 1);
    }

    #[test]
    fn broken_pipe_is_recognised() {
        let e = Error::io(io::Error::from(io::ErrorKind::BrokenPipe), "writing output");
        assert!(is_broken_pipe(&e));
        assert!(!is_broken_pipe(&Error::usage("x")));
    }
}
