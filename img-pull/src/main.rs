//! img-pull: docker pull — fetch images from their registry into the local store.

use argh::FromArgs;
use img_core::cli::{self, Failures};
use img_core::error::{Error, Result};
use img_core::ops::Platform;
use img_core::ops::check::{CheckOptions, CheckStatus};
use img_core::ops::progress::{NoProgress, PullProgress, TerminalProgress};
use img_core::ops::pull::{PullOptions, Pulled, pull};
use img_core::output::{Column, Format, Output};
use img_core::record::Target;
use img_core::settings::Config;

/// Pull images from a registry into the local store (docker pull).
#[derive(FromArgs)]
#[argh(
    example = "img-pull alpine:3.20\nimg-search --tags --registry 127.0.0.1:5000 app | img-pull",
    note = "Input: with no NAME and a piped stdin, pulls the images named by the records\n  or lines read there; an empty stdin pulls nothing (exit 0).",
    note = "Output: docker's lines on a terminal; in a pipe one JSON image record an\n  image: Id, Ref, Digest, RepoTags, RepoDigests, Platform, Size, Downloaded,\n  Reused (bytes). --format templates see every key (\"\" where a record has\n  none).",
    note = "--check: an image pulled from a registry (a tag with a RepoDigest in its\n  repository) gets one HEAD of its tag and a status UpToDate, Outdated or\n  Gone; a name made by img-tag or a load is Local and never asked about;\n  NAME@DIGEST is Pinned. Nothing is downloaded or written. A table on a\n  terminal; in a pipe one record an image: Ref, Status, Local, Remote,\n  RateLimitRemaining (the registry's ratelimit-remaining header). Read back,\n  only Outdated records name an image, so\n  `img-ls --format json | img-pull --check | img-pull` pulls what is behind.",
    note = "Differences from docker: Size is the bytes the image's blobs take in the\n  store, compressed (docker shows them unpacked); a pull resumes after an\n  interruption.",
    note = "A read that gets no data for IMG_STALL_TIMEOUT (default 30s; 500ms, 2m) gives\n  up and is retried; a registry that sends nothing for IMG_STALL_BUDGET\n  (default four of those) fails the pull, naming it. Credentials:\n  REGISTRY_AUTH_FILE, else $DOCKER_CONFIG/config.json (~/.docker/config.json)."
)]
struct Args {
    /// download every tagged image in the repository
    #[argh(switch, short = 'a')]
    all_tags: bool,
    /// pull every platform of a multi-platform image (the tag names the index)
    #[argh(switch)]
    all_platforms: bool,
    /// platform to pick from a multi-platform image, os/arch[/variant]
    /// (default: DOCKER_DEFAULT_PLATFORM, else this machine's)
    #[argh(option)]
    platform: Option<String>,
    /// parallel downloads (default: the config's "jobs", else 6)
    #[argh(option, short = 'j')]
    jobs: Option<usize>,
    /// allow plain HTTP and unverified TLS for this command
    #[argh(switch)]
    insecure: bool,
    /// re-hash every blob of an image already in the store and fetch again those that
    /// are damaged (every pull checks their sizes)
    #[argh(switch)]
    verify: bool,
    /// download nothing: ask the registry whether each image is behind (one HEAD of its
    /// tag) and print a record an image; exit 1 unless all are up to date, local or pinned
    #[argh(switch)]
    check: bool,
    /// print only the image reference (with --check: only those of outdated images)
    #[argh(switch, short = 'q')]
    quiet: bool,
    /// output: json, or a Go template (default: docker's lines on a terminal, JSON in a pipe)
    #[argh(option)]
    format: Option<String>,
    /// the store (default: IMG_ROOT, else $XDG_DATA_HOME/img)
    #[argh(option)]
    root: Option<std::path::PathBuf>,
    /// images to pull: NAME[:TAG|@DIGEST]
    #[argh(positional)]
    names: Vec<String>,
}

fn main() {
    cli::main("img-pull", &['j'], run)
}

fn run(args: Args) -> Result<i32> {
    let config = Config::load()?;
    let platform = args.platform.as_deref().map(Platform::parse).transpose()?;
    let options = PullOptions {
        platform,
        all_platforms: args.all_platforms,
        all_tags: args.all_tags,
        jobs: cli::jobs(args.jobs, &config)?,
        insecure: args.insecure,
        verify: args.verify,
    };
    if args.check {
        if args.all_tags || args.all_platforms || args.verify || args.platform.is_some() {
            return Err(Error::usage(
                "--check takes none of -a, --all-platforms, --platform and --verify",
            ));
        }
        let targets = cli::targets(&args.names, "an image name")?;
        return check(&args, &options, &config, targets);
    }
    let targets = cli::targets(&args.names, "an image name")?;
    // What the user wrote (not a record read from stdin, whose Ref always has a tag).
    let written = !args.names.is_empty();
    let store = cli::open_store(args.root.as_deref())?;
    let terminal = cli::stdout_is_terminal();
    let mut out = cli::RecordWriter::new(args.format.as_deref(), terminal)?
        .keys(img_core::record::ImageRecord::KEYS);
    let mut failures = Failures::new("img-pull");
    for (label, target) in targets {
        let reference = match target {
            Ok(Target::Reference(r)) => r,
            Ok(Target::NameOrId(s)) => match img_core::Reference::parse_normalized(&s) {
                Ok(r) => r,
                Err(e) => {
                    failures.report(&label, &e);
                    continue;
                }
            },
            Ok(Target::Image(id)) => {
                let e = Error::usage(format!(
                    "{id} is an image ID; pull by name (NAME[:TAG] or NAME@DIGEST)"
                ));
                failures.report(&label, &e);
                continue;
            }
            Err(e) => {
                failures.report(&label, &e);
                continue;
            }
        };
        if args.all_tags && written && names_tag_or_digest(&label) {
            failures.report(&label, &Error::usage(ALL_TAGS_TAKE_A_NAME));
            continue;
        }
        let bars = (cli::stderr_is_terminal() && !args.quiet).then(TerminalProgress::new);
        if let Some(b) = &bars
            && !args.all_tags
            && !names_tag_or_digest(&label)
        {
            b.default_tag();
        }
        let progress: &dyn PullProgress = match &bars {
            Some(b) => b,
            None => &NoProgress,
        };
        let result = pull(&store, &reference, &options, &config, progress);
        if let Some(b) = &bars {
            b.finish();
        }
        match result {
            Ok(pulled) if args.all_tags => {
                print_all_tags(&mut out, &reference, &pulled, args.quiet, terminal)?
            }
            Ok(pulled) => {
                for p in pulled {
                    print(&mut out, &p, args.quiet, terminal)?;
                }
            }
            Err(e) => failures.report(&label, &e),
        }
    }
    out.finish()?;
    Ok(failures.exit_code())
}

/// `--check`: a table on a terminal, records in a pipe; errors alone on stderr.
fn check(
    args: &Args,
    options: &PullOptions,
    config: &Config,
    targets: Vec<(String, Result<Target>)>,
) -> Result<i32> {
    let store = cli::open_store_read_only(args.root.as_deref())?;
    let check_options = CheckOptions {
        jobs: options.jobs,
        insecure: options.insecure,
    };
    let results = img_core::ops::check::check(&store, targets, &check_options, config);
    let terminal = cli::stdout_is_terminal();
    let table = terminal && args.format.is_none() && !args.quiet;
    let format = match (&args.format, table) {
        (Some(f), _) => Format::parse(f)?,
        (None, true) => Format::Table(None),
        (None, false) => Format::Json,
    };
    let mut out = Output::new(format, CHECK_COLUMNS, std::io::stdout());
    let mut failures = Failures::new("img-pull");
    let mut all_fine = true;
    for c in &results {
        all_fine &= c.is_fine();
        if let Some(e) = &c.error {
            failures.report(&c.label, e);
        }
        let Some(record) = &c.record else { continue };
        if args.quiet {
            if record.status == CheckStatus::Outdated {
                quiet_line(&record.reference)?;
            }
        } else if table {
            out.write(&record.table_row())?;
        } else {
            out.write(&record.value()?)?;
        }
    }
    out.finish()?;
    Ok(if all_fine { 0 } else { 1 })
}

/// The check table's columns.
const CHECK_COLUMNS: &[Column] = &[
    Column::new("Ref", "IMAGE"),
    Column::new("Status", "STATUS"),
    Column::new("Local", "LOCAL"),
    Column::new("Remote", "REMOTE"),
    Column::new("RateLimitRemaining", "RATE LIMIT"),
];

fn quiet_line(text: &str) -> Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}").map_err(|e| Error::io(e, "writing output"))
}

/// docker's refusal of `-a NAME:TAG` (and of `-a NAME@DIGEST`).
const ALL_TAGS_TAKE_A_NAME: &str = "tag can't be used with --all-tags/-a";

/// Whether the user wrote a tag or a digest (docker says `Using default tag: latest` when
/// neither was given).
fn names_tag_or_digest(written: &str) -> bool {
    let last = written.rsplit('/').next().unwrap_or(written);
    written.contains('@') || last.contains(':')
}

fn print(out: &mut cli::RecordWriter, p: &Pulled, quiet: bool, terminal: bool) -> Result<()> {
    let reference = p.record.reference.as_ref();
    let full = reference.map(ToString::to_string).unwrap_or_default();
    if quiet {
        return out.line(&full);
    }
    if terminal && !out.has_format() {
        let familiar = reference.map(|r| r.familiar()).unwrap_or_default();
        out.line(&format!("Digest: {}", p.record.digest))?;
        if p.up_to_date {
            out.line(&format!("Status: Image is up to date for {familiar}"))?;
        } else {
            out.line(&format!("Status: Downloaded newer image for {familiar}"))?;
        }
        return out.line(&full);
    }
    out.record(&p.record)
}

/// `-a`'s output, as docker 28 prints it: a `Digest:` line a tag, then one `Status:` for
/// the repository and its name-only reference (`docker.io/library/alpine`); with -q only
/// that reference. In a pipe (or with --format), one record a tag, each with its tag.
fn print_all_tags(
    out: &mut cli::RecordWriter,
    reference: &img_core::Reference,
    pulled: &[Pulled],
    quiet: bool,
    terminal: bool,
) -> Result<()> {
    let repository = reference.repository();
    if !quiet && (out.has_format() || !terminal) {
        return pulled.iter().try_for_each(|p| out.record(&p.record));
    }
    if !quiet {
        for p in pulled {
            out.line(&format!("Digest: {}", p.record.digest))?;
        }
        let familiar = repository.familiar();
        if pulled.iter().all(|p| p.up_to_date) {
            out.line(&format!("Status: Image is up to date for {familiar}"))?;
        } else {
            out.line(&format!("Status: Downloaded newer image for {familiar}"))?;
        }
    }
    out.line(&repository.to_string())
}
