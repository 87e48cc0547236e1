//! img-pack: docker save and docker load — write images to a tar archive, and load one.

use std::io::{BufReader, IsTerminal};
use std::path::PathBuf;

use argh::FromArgs;
use img_core::cli;
use img_core::error::{Error, ErrorKind, Result};
use img_core::ops::Platform;
use img_core::ops::pack::{LoadOptions, SaveOptions, Source, load_with_progress, save};
use img_core::ops::progress::{self, Counted, LoadDisplay, LoadProgress, NoProgress, SaveDisplay};

/// Save images to a tar archive, or load one (docker save / docker load).
#[derive(FromArgs)]
#[argh(note = "img-pack save --help and img-pack load --help say more.")]
struct Args {
    /// the store (default: IMG_ROOT, else $XDG_DATA_HOME/img)
    #[argh(option)]
    root: Option<PathBuf>,
    #[argh(subcommand)]
    command: Command,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum Command {
    Save(SaveArgs),
    Load(LoadArgs),
    Inventory(InventoryArgs),
}

/// List the layers the store holds, for save --exclude-from (docker has none).
#[derive(FromArgs)]
#[argh(
    example = "img-pack inventory > site.inventory   (on the receiving side)\nimg-pack save --exclude-from site.inventory -o release.tar app:2",
    note = "Output: the digests of the layers the store's images hold (tagged or not),\n  sorted, one a line. Manifests and configs are not listed: they always\n  travel."
)]
#[argh(subcommand, name = "inventory")]
struct InventoryArgs {}

/// Save images to a tar archive, streamed to stdout by default (docker save).
#[derive(FromArgs)]
#[argh(
    example = "img-pack save -o app.tar app:1 app:2\nimg-ls -f reference='app/*' | img-pack save -o app.tar",
    note = "Input: IMAGE arguments, or the images as records or lines on stdin. Every\n  image is resolved before a byte is written; an empty stdin writes no archive\n  and exits 1.",
    note = "The archive is in docker 25's format (an OCI layout plus manifest.json), so\n  docker (old and new), podman, skopeo and containerd load it; layers are\n  written as stored (compressed, where docker writes them unpacked). The same\n  images always give the same bytes.",
    note = "--exclude-from FILE leaves out the layers FILE lists (img-pack inventory of\n  the receiving store). When one is left out the bundle is partial: the same\n  format without those layers and without manifest.json, index.json annotated\n  io.img.partial. Only img-pack load takes it, completing each image from its\n  store (or failing whole, naming the first layer missing); docker, podman,\n  skopeo and other loaders refuse it."
)]
#[argh(subcommand, name = "save")]
struct SaveArgs {
    /// write to a file instead of stdout (written beside it, renamed when complete)
    #[argh(option, short = 'o')]
    output: Option<PathBuf>,
    /// save only this platform of a multi-platform image (os/arch[/variant])
    #[argh(option)]
    platform: Option<String>,
    /// leave out the layers this inventory lists (img-pack inventory of the receiving
    /// store): a partial bundle, which only img-pack load takes
    #[argh(option)]
    exclude_from: Option<PathBuf>,
    /// images: name[:tag], name@digest, or an ID (prefix)
    #[argh(positional, arg_name = "image")]
    images: Vec<String>,
}

/// Load images from a tar archive or OCI layout, stdin by default (docker load).
#[derive(FromArgs)]
#[argh(
    example = "img-pack load -i app.tar\ndocker save app:1 | img-pack load",
    note = "Reads img-pack's and docker's archives (25+ and legacy), podman's, skopeo's\n  (docker-archive and oci-archive) and OCI layouts, gzip, zstd, xz or bzip2\n  compressed or not. An archive loads whole or not at all.",
    note = "Output: docker's lines on a terminal (Loaded image: app:1); in a pipe one\n  image record a line: Id, Ref (absent for an untagged image), Digest,\n  RepoTags, RepoDigests, Platform, Size (bytes the image's blobs take in the\n  store, compressed). Templates see every key (\"\" where a record has none); a\n  template that fails after the load says the images are loaded."
)]
#[argh(subcommand, name = "load")]
struct LoadArgs {
    /// read from a tar archive file or an OCI layout directory instead of stdin
    #[argh(option, short = 'i')]
    input: Option<PathBuf>,
    /// no progress bar (docker's -q; the Loaded lines still print)
    #[argh(switch, short = 'q')]
    quiet: bool,
    /// output: json, or a Go template (default: docker's lines on a terminal, JSON in a pipe)
    #[argh(option)]
    format: Option<String>,
    /// the platform a multi-platform image is shown as, and the one kept when the archive
    /// holds only some of an index's platforms (default: DOCKER_DEFAULT_PLATFORM, else
    /// the host's)
    #[argh(option)]
    platform: Option<String>,
}

fn main() {
    cli::main("img-pack", &['o', 'i'], run)
}

fn run(args: Args) -> Result<i32> {
    match args.command {
        Command::Save(s) => run_save(args.root, s),
        Command::Load(l) => run_load(args.root, l),
        Command::Inventory(_) => run_inventory(args.root),
    }
}

fn run_inventory(root: Option<PathBuf>) -> Result<i32> {
    use std::io::Write;
    let store = cli::open_store_read_only(root.as_deref())?;
    let mut text = String::new();
    for d in img_core::ops::pack::inventory(&store)? {
        text.push_str(&d.to_string());
        text.push('\n');
    }
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(|e| Error::io(e, "writing output"))?;
    Ok(cli::EXIT_OK)
}

fn run_save(root: Option<PathBuf>, args: SaveArgs) -> Result<i32> {
    let exclude = match &args.exclude_from {
        None => Default::default(),
        Some(path) => {
            let what = || format!("reading the inventory {:?}", path.display().to_string());
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(e, what()))?;
            img_core::ops::pack::read_inventory(&text).map_err(|e| e.context(what()))?
        }
    };
    let options = SaveOptions {
        platform: args.platform.as_deref().map(Platform::parse).transpose()?,
        exclude,
    };
    if args.output.is_none() && cli::stdout_is_terminal() {
        return Err(Error::usage(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    let mut targets = Vec::new();
    for (label, t) in cli::targets(&args.images, "IMAGE")? {
        targets.push(t.map_err(|e| e.context(format!("{label:?}")))?);
    }
    // The one exception to "nothing to act on is nothing done": an archive of nothing is
    // no archive anyone wants, and a pipeline that found no image should hear of it.
    if targets.is_empty() {
        return Err(Error::new(
            ErrorKind::NotFound,
            "no image to save: stdin held no image records or names, so no archive was written",
        ));
    }
    let store = cli::open_store(root.as_deref())?;
    let bar = cli::stderr_is_terminal().then(SaveDisplay::new);
    let mut progress = |done: u64, total: u64| {
        if let Some(b) = &bar {
            b.show(done, total);
        }
    };
    match &args.output {
        None => {
            drop(save(
                &store,
                &targets,
                &options,
                std::io::stdout().lock(),
                &mut progress,
            )?);
        }
        Some(path) => {
            img_core::ops::pack::save_to_file(&store, &targets, &options, path, &mut progress)?
        }
    }
    if let Some(b) = bar {
        b.finish();
    }
    Ok(cli::EXIT_OK)
}

fn run_load(root: Option<PathBuf>, args: LoadArgs) -> Result<i32> {
    let terminal = cli::stdout_is_terminal();
    let out = cli::RecordWriter::new(args.format.as_deref(), terminal)?
        .keys(img_core::record::ImageRecord::KEYS);
    let store = cli::open_store(root.as_deref())?;
    let options = LoadOptions {
        platform: args.platform.as_deref().map(Platform::parse).transpose()?,
    };
    let stdin = std::io::stdin();
    if args.input.is_none() && stdin.is_terminal() {
        return Err(Error::new(
            ErrorKind::Usage,
            "requested load from stdin, but stdin is a terminal: use -i FILE or redirect",
        ));
    }
    // docker load's display on a terminal, unless -q (docker's meaning of it).
    let total = match &args.input {
        Some(path) => std::fs::metadata(path)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len()),
        None => progress::stdin_size(),
    };
    let display = (!args.quiet && cli::stderr_is_terminal()).then(|| LoadDisplay::new(total));
    let shown: &dyn LoadProgress = match &display {
        Some(d) => d,
        None => &NoProgress,
    };
    let report = match &args.input {
        Some(path) if path.is_dir() => {
            load_with_progress(&store, Source::Dir(path), &options, shown)
        }
        Some(path) => {
            let file = std::fs::File::open(path)
                .map_err(|e| Error::io(e, format!("opening {}", path.display())))?;
            load_with_progress(&store, stream(file, shown), &options, shown)
        }
        None => load_with_progress(&store, stream(stdin.lock(), shown), &options, shown),
    };
    if let Some(d) = &display {
        d.finish();
    }
    let what = match &args.input {
        Some(p) => format!("loading {:?}", p.display().to_string()),
        None => "loading stdin".to_owned(),
    };
    let report = report.map_err(|e| e.context(what))?;
    for w in &report.warnings {
        cli::warn(&format!("img-pack: warning: {w}"));
    }
    // The images are in the store whatever happens now: a template that fails on one
    // (`{{index .RepoTags 1}}`) must not read as a failed load.
    let loaded = report.images.len();
    print_loaded(out, &report).map_err(|e| {
        if cli::is_broken_pipe(&e) {
            return e;
        }
        Error::new(
            ErrorKind::Template,
            format!("loaded {loaded} images; printing records failed: {e}"),
        )
    })?;
    Ok(cli::EXIT_OK)
}

/// An archive stream, its bytes counted into the display.
fn stream<'a>(input: impl std::io::Read + 'a, shown: &'a dyn LoadProgress) -> Source<'a> {
    Source::Stream(Box::new(Counted::new(
        BufReader::with_capacity(1 << 20, input),
        shown,
    )))
}

/// What a load prints: docker's lines, or a record an image.
fn print_loaded(
    mut out: cli::RecordWriter,
    report: &img_core::ops::pack::LoadReport,
) -> Result<()> {
    for image in &report.images {
        for (tag, old) in &image.moved {
            let line = format!(
                "The image {tag} already exists, renaming the old one with ID {old} to empty string"
            );
            if out.has_format() {
                eprintln!("{line}");
            } else {
                out.line(&line)?;
            }
        }
        if out.has_format() {
            out.record(&image.record)?;
        } else {
            if image.tags.is_empty() {
                out.line(&format!("Loaded image ID: {}", image.record.id))?;
            }
            for t in &image.tags {
                out.line(&format!("Loaded image: {t}"))?;
            }
        }
    }
    out.finish()
}
