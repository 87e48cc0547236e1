//! What every tool does the same way (issue 14): docker's `-h` beside `--help`, a
//! `--version` naming the img version and the docker version followed, one help layout
//! (usage, a one-line description, options, examples, notes), and one rule for empty
//! input — no argument and an empty non-terminal stdin is exit 0 and no output, except
//! img-inspect (`[]`) and img-pack save (exit 1, one line); with a terminal stdin it is a
//! usage error (exit 2).
//!
//! It lives with img-rm, as the README test does, because it needs every tool:
//! `cargo test --workspace` builds them all beside img-rm's binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use img_core::testing::{Run, run};

/// Each tool (and img-pack's subcommands) as the words that start it.
const COMMANDS: &[&[&str]] = &[
    &["img-pull"],
    &["img-search"],
    &["img-ls"],
    &["img-inspect"],
    &["img-rm"],
    &["img-tag"],
    &["img-pack"],
    &["img-pack", "save"],
    &["img-pack", "load"],
    &["img-pack", "inventory"],
    &["img-push"],
    &["img-login"],
];

/// The directory holding the tools' binaries.
fn tools_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_img-rm"))
        .parent()
        .expect("the binary's directory")
        .to_path_buf();
    for words in COMMANDS {
        assert!(
            dir.join(words[0]).is_file(),
            "{} is not built in {}: run `cargo test --workspace` (it builds every tool)",
            words[0],
            dir.display()
        );
    }
    dir
}

/// A store, config and home of its own.
struct Sandbox {
    dir: tempfile::TempDir,
    tools: PathBuf,
}

impl Sandbox {
    fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().unwrap(),
            tools: tools_dir(),
        }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    fn command(&self, words: &[&str]) -> Command {
        let mut cmd = Command::new(self.tools.join(words[0]));
        cmd.args(&words[1..]);
        img_core::testing::fixture::sandboxed(&mut cmd, self.dir.path(), &self.root());
        cmd
    }

    fn run(&self, words: &[&str], args: &[&str], input: Option<&str>) -> Run {
        run(self.command(words).args(args), input)
    }

    /// `words args` with stdin and stdout on a pseudo-terminal (util-linux's script):
    /// its exit status and what it showed.
    fn on_terminal(&self, words: &[&str], args: &[&str]) -> (Option<i32>, String) {
        let cmd = self.command(words);
        let mut line = format!("'{}'", cmd.get_program().to_string_lossy());
        for a in cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .chain(args.iter().map(|a| a.to_string()))
        {
            line.push_str(&format!(" '{a}'"));
        }
        let mut script = Command::new("script");
        script.args(["-q", "-e", "-c", &line, "/dev/null"]);
        img_core::testing::fixture::sandboxed(&mut script, self.dir.path(), &self.root());
        let out = script
            .stdin(Stdio::null())
            .output()
            .expect("running script");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n"),
        )
    }
}

/// Regression (issue 14): `-h` was refused (`Unrecognized argument: -h`) and no tool had
/// `--version`.
#[test]
fn every_tool_takes_dash_h_and_version() {
    let s = Sandbox::new();
    for words in COMMANDS {
        let long = s.run(words, &["--help"], None).success();
        let short = s.run(words, &["-h"], None).success();
        assert_eq!(short.stdout, long.stdout, "{words:?}");
        assert!(
            long.stdout.contains("\n  -h, --help "),
            "{words:?}: {}",
            long.stdout
        );
        assert!(
            long.stdout.contains("\n  --version "),
            "{words:?}: {}",
            long.stdout
        );
        // In a group, as docker reads -qh.
        let grouped = s.run(words, &["-qh"], None);
        if grouped.code == 0 {
            assert_eq!(grouped.stdout, long.stdout, "{words:?}");
        }

        let version = s.run(words, &["--version"], None).success();
        let want = format!(
            "{} version {} (img), output as docker 28.2.2's docker ",
            words[0],
            env!("CARGO_PKG_VERSION")
        );
        assert!(
            version.stdout.starts_with(&want),
            "{words:?}: {}",
            version.stdout
        );
        assert_eq!(version.stdout.lines().count(), 1, "{}", version.stdout);
    }
}

/// Regression (issue 14): each --help was one dense paragraph with the record keys before
/// the options. argh's order is fixed — usage, description, options, examples, notes — so
/// the description is one short line and the rest lives in notes.
#[test]
fn every_help_is_usage_a_short_description_options_then_notes() {
    let s = Sandbox::new();
    for words in COMMANDS {
        let help = s.run(words, &["--help"], None).success().stdout;
        let paragraphs: Vec<&str> = help.split("\n\n").collect();
        assert!(paragraphs[0].starts_with("Usage: "), "{words:?}: {help}");
        let description = paragraphs[1];
        assert_eq!(description.lines().count(), 1, "{words:?}: {description}");
        assert!(
            description.chars().count() <= 90,
            "{words:?}: {description}"
        );
        assert!(
            description.contains("docker "),
            "names the docker command: {description}"
        );
        let options = help.find("\nOptions:\n").expect("an Options section");
        if let Some(notes) = help.find("\nNotes:\n") {
            assert!(notes > options, "{words:?}: notes after the options");
        }
        for line in help.lines().filter(|l| !l.starts_with("Usage: ")) {
            assert!(
                line.chars().count() <= 80,
                "{words:?}: a long line: {line:?}"
            );
        }
    }
    // The tools that print records say which keys, in a note.
    for (words, key) in [
        (&["img-pull"][..], "Downloaded"),
        (&["img-tag"][..], "RepoDigests"),
        (&["img-pack", "load"][..], "RepoTags"),
        (&["img-ls"][..], "CreatedSince"),
        (&["img-search"][..], "StarCount"),
        (&["img-push"][..], "Existing"),
    ] {
        let help = s.run(words, &["--help"], None).success().stdout;
        let notes = &help[help.find("\nNotes:\n").expect("notes")..];
        assert!(notes.contains(key), "{words:?}: {notes}");
    }
}

/// Regression (issue 14): with no argument and an empty stdin img-inspect printed `[]`
/// and img-pack save exited 2. One rule now.
#[test]
fn empty_input_is_nothing_done_except_inspect_and_save() {
    let s = Sandbox::new();
    for words in [
        &["img-pull"][..],
        &["img-rm"][..],
        &["img-push"][..],
        &["img-inspect", "--verify"][..],
    ] {
        let r = s.run(words, &[], Some(""));
        assert_eq!(
            (r.code, r.stdout.as_str(), r.stderr.as_str()),
            (0, "", ""),
            "{words:?}"
        );
    }
    let r = s.run(&["img-inspect"], &[], Some(""));
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (0, "[]\n", "")
    );

    let out = s.dir.path().join("nothing.tar");
    for args in [&[][..], &["-o", out.to_str().unwrap()][..]] {
        let r = s.run(&["img-pack", "save"], args, Some("")).failure(1, 1);
        assert!(
            r.stderr.starts_with("img-pack: no image to save"),
            "{}",
            r.stderr
        );
        assert_eq!(r.stdout, "");
    }
    assert!(!out.exists(), "no archive of nothing is written");

    // A terminal stdin is no input at all: a usage error, exit 2.
    for (words, args) in [
        (&["img-pull"][..], &[][..]),
        (&["img-rm"][..], &[][..]),
        (&["img-push"][..], &[][..]),
        (&["img-inspect"][..], &[][..]),
        (
            &["img-pack", "save"][..],
            &["-o", out.to_str().unwrap()][..],
        ),
    ] {
        let (code, shown) = s.on_terminal(words, args);
        assert_eq!(code, Some(2), "{words:?}: {shown}");
        assert!(shown.contains("required"), "{words:?}: {shown}");
        assert_eq!(shown.trim_end().lines().count(), 1, "{words:?}: {shown}");
    }
}
