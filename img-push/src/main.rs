//! img-push: docker push — send images of the local store to their registry.

use argh::FromArgs;
use img_core::cli::{self, Failures};
use img_core::error::{Error, Result};
use img_core::ops::Platform;
use img_core::ops::push::display::terminal_display;
use img_core::ops::push::{NoPushProgress, PushOptions, PushProgress, Pushed, push};
use img_core::record::{Target, looks_like_id};
use img_core::settings::Config;

/// Upload images of the local store to their registry (docker push).
#[derive(FromArgs)]
#[argh(
    example = "img-push 127.0.0.1:5000/me/app:1\nimg-pull alpine | img-tag reg.lan/me/alpine:1 | img-push",
    note = "What goes up is exactly what the store holds (me/app is\n  docker.io/me/app:latest): the registry's digest is the image's, recorded\n  among its RepoDigests.",
    note = "Input: with no NAME and a piped stdin, pushes the images named by the records\n  or lines read there; an empty stdin pushes nothing (exit 0).",
    note = "Output: docker's display on a terminal (rows rewritten in place; plain lines\n  under TERM=dumb); in a pipe one JSON record a pushed tag: Id, Ref, Digest,\n  RepoTags, RepoDigests, Platform, Size, and the bytes Pushed, Mounted (linked\n  from another repository) and Existing (the registry had them).",
    note = "Credentials: REGISTRY_AUTH_FILE, else $DOCKER_CONFIG/config.json\n  (~/.docker/config.json), as img-login stores them."
)]
struct Args {
    /// push every tag of the repository that the store has
    #[argh(switch, short = 'a')]
    all_tags: bool,
    /// push only this platform of a multi-platform image, os/arch[/variant]
    #[argh(option)]
    platform: Option<String>,
    /// parallel uploads (default: the config's "jobs", else 6)
    #[argh(option, short = 'j')]
    jobs: Option<usize>,
    /// allow plain HTTP and unverified TLS for this command
    #[argh(switch)]
    insecure: bool,
    /// how uncompressed layers (of legacy archives) go up: gzip (default), zstd or none
    #[argh(option)]
    compression_format: Option<String>,
    /// suppress the progress output; print only the pushed reference
    #[argh(switch, short = 'q')]
    quiet: bool,
    /// output: json, or a Go template (default: docker's lines on a terminal, JSON in a pipe)
    #[argh(option)]
    format: Option<String>,
    /// the store (default: IMG_ROOT, else $XDG_DATA_HOME/img)
    #[argh(option)]
    root: Option<std::path::PathBuf>,
    /// images to push: NAME[:TAG]
    #[argh(positional)]
    names: Vec<String>,
}

fn main() {
    cli::main("img-push", &['j'], run)
}

fn run(args: Args) -> Result<i32> {
    let config = Config::load()?;
    let platform = args.platform.as_deref().map(Platform::parse).transpose()?;
    let options = PushOptions {
        platform,
        all_tags: args.all_tags,
        jobs: cli::jobs(args.jobs, &config)?,
        insecure: args.insecure,
        compression: args
            .compression_format
            .as_deref()
            .map(str::parse)
            .transpose()?
            .unwrap_or_default(),
    };
    let targets = cli::targets(&args.names, "an image name")?;
    let store = cli::open_store(args.root.as_deref())?;
    let terminal = cli::stdout_is_terminal();
    let mut out = cli::RecordWriter::new(args.format.as_deref(), terminal)?;
    let mut failures = Failures::new("img-push");
    for (label, target) in targets {
        let reference = match target {
            Ok(Target::Reference(r)) => Ok(r),
            Ok(Target::NameOrId(s)) if looks_like_id(&s) => Err(id_only()),
            Ok(Target::NameOrId(s)) => img_core::Reference::parse_normalized(&s),
            Ok(Target::Image(_)) => Err(id_only()),
            Err(e) => Err(e),
        };
        let reference = match reference {
            // Parsing gave it docker's `latest`; what the user wrote decides.
            Ok(r) if !names_tag(&label) => r.repository(),
            Ok(r) => r,
            Err(e) => {
                failures.report(&label, &e);
                continue;
            }
        };
        let display = !args.quiet && cli::stderr_is_terminal();
        if display && reference.tag().is_none() && !args.all_tags {
            eprintln!("Using default tag: latest");
        }
        // docker's rows rewritten in place (plain lines where the terminal cannot move
        // the cursor); nothing in a pipe.
        let shown = display.then(terminal_display);
        let progress: &dyn PushProgress = match &shown {
            Some(d) => d.as_ref(),
            None => &NoPushProgress,
        };
        match push(&store, &reference, &options, &config, progress) {
            Ok(pushed) => {
                for p in pushed {
                    print(&mut out, &p, args.quiet, terminal && !display)?;
                }
            }
            Err(e) => failures.report(&label, &e),
        }
    }
    out.finish()?;
    Ok(failures.exit_code())
}

/// Whether the user wrote a tag (or a digest): docker says `Using default tag: latest`
/// when neither was given, and `--all-tags` takes a name without one.
fn names_tag(written: &str) -> bool {
    let last = written.rsplit('/').next().unwrap_or(written);
    written.contains('@') || last.contains(':')
}

/// A record or line naming only an image ID: there is no repository to push it to.
fn id_only() -> Error {
    Error::usage("an image ID names no repository; tag it first")
}

fn print(out: &mut cli::RecordWriter, p: &Pushed, quiet: bool, lines: bool) -> Result<()> {
    let full = p
        .record
        .image
        .reference
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    if quiet {
        return out.line(&full);
    }
    // `lines`: a terminal the display did not draw on gets docker's last line.
    if lines && !out.has_format() {
        return out.line(&format!(
            "{}: digest: {} size: {}",
            p.tag, p.record.image.digest, p.size
        ));
    }
    if cli::stdout_is_terminal() && !out.has_format() {
        return Ok(());
    }
    out.record(&p.record)
}
