//! img-inspect: docker image inspect — show images of the local store as docker's JSON, or
//! verify their blobs with `--verify`.

use std::io::Write;

use argh::FromArgs;
use img_core::cli::{self, Failures};
use img_core::error::{Error, Result};
use img_core::ops::Platform;
use img_core::ops::Template;
use img_core::ops::inspect::{
    InspectOptions, inspect, inspect_typed, inspect_value, resolved_target, to_docker_json,
    to_docker_json_compact,
};
use img_core::ops::resolve::resolve;
use img_core::ops::verify::verify;
use img_core::output::Format;

const TOOL: &str = "img-inspect";

/// Display detailed information on images (docker image inspect).
#[derive(FromArgs)]
#[argh(
    example = "img-inspect -f '{{{{.RootFS.Type}}}}' alpine\nimg-ls -q | img-inspect\nimg-ls -a -q | img-inspect --verify",
    note = "Output: docker's image inspect objects as an indented JSON array, on a\n  terminal and in a pipe alike (an empty stdin prints []), unless --format\n  gives a Go template ({{{{.RootFS.Type}}}}, {{{{json .Config}}}}, {{{{index\n  .Config.Labels \"x\"}}}}), run once per image. For a multi-platform image\n  (pulled with --all-platforms) the config shown is --platform's, else the\n  host's, and Manifests lists every platform of the index.",
    note = "--verify re-hashes every blob of each image (index, manifests, config, layers)\n  and checks the layers' DiffIDs against the config: one line an image on a\n  terminal, one JSON record in a pipe (or --format json|TEMPLATE); exit 1 when\n  anything is wrong.",
    note = "Differences from docker: Size is the bytes the image's blobs take in the\n  store, compressed (docker shows them unpacked)."
)]
struct Args {
    /// format the output using a Go template, or json (the default)
    #[argh(option, short = 'f')]
    format: Option<String>,
    /// the platform whose config to show for a multi-platform image, os/arch[/variant]
    #[argh(option)]
    platform: Option<String>,
    /// re-hash every blob of each image and check its layers' DiffIDs
    #[argh(switch)]
    verify: bool,
    /// the store (default: IMG_ROOT, else $XDG_DATA_HOME/img)
    #[argh(option)]
    root: Option<std::path::PathBuf>,
    /// images: NAME[:TAG], NAME@DIGEST, an ID or a unique ID prefix
    #[argh(positional)]
    images: Vec<String>,
}

fn main() {
    cli::main(TOOL, &['f'], run)
}

fn run(args: Args) -> Result<i32> {
    if args.verify {
        if args.platform.is_some() {
            return Err(Error::usage(
                "--platform does not apply to --verify, which checks every platform of an image",
            ));
        }
        return run_verify(&args);
    }
    let options = InspectOptions {
        platform: args.platform.as_deref().map(Platform::parse).transpose()?,
        resolved: None,
    };
    // Parsed before anything is read, so that a bad template fails at once.
    let template = template(args.format.as_deref())?;
    // docker's `--format json` is the same array, compact on one line.
    let compact = args.format.as_deref() == Some("json");
    let targets = cli::targets(&args.images, "an image")?;
    let store = cli::open_store_read_only(args.root.as_deref())?;
    let mut failures = Failures::new(TOOL);
    let mut records = Vec::new();
    for (label, target) in targets {
        let found = target
            .and_then(|t| resolve(store.index(), &t))
            .and_then(|r| {
                // Descriptor: the manifest this reference resolved to.
                let options = InspectOptions {
                    resolved: resolved_target(&store, &r.via)?,
                    ..options.clone()
                };
                inspect(&store, &r.image, &options)
            });
        let record = match found {
            Ok(r) => r,
            Err(e) => {
                failures.report(&label, &e);
                continue;
            }
        };
        match &template {
            Some(t) => match t.render_typed(&inspect_typed(&record), &inspect_value(&record)) {
                Ok(text) => print(&format!("{text}\n"))?,
                Err(e) => failures.report(&label, &e),
            },
            None => records.push(record),
        }
    }
    if template.is_none() {
        let text = if compact {
            to_docker_json_compact(&records)
        } else {
            to_docker_json(&records)
        };
        let text =
            text.map_err(|e| Error::new(img_core::ErrorKind::Io, format!("encoding output: {e}")))?;
        print(&format!("{text}\n"))?;
    }
    Ok(failures.exit_code())
}

/// `--format`: `None` for docker's indented array (no format, `json`, or empty, as
/// docker reads an empty one), else the template.
fn template(format: Option<&str>) -> Result<Option<Template>> {
    match format {
        None | Some("") => Ok(None),
        Some(f) => match Format::parse(f)? {
            Format::Json => Ok(None),
            Format::Template(t) => Ok(Some(t)),
            Format::Table(_) => Err(Error::usage(
                "--format takes json or a Go template here (img-inspect prints no table)",
            )),
        },
    }
}

fn run_verify(args: &Args) -> Result<i32> {
    let terminal = cli::stdout_is_terminal();
    let mut out = cli::RecordWriter::new(args.format.as_deref(), terminal)?;
    let targets = cli::targets(&args.images, "an image")?;
    let store = cli::open_store_read_only(args.root.as_deref())?;
    let mut failures = Failures::new(TOOL);
    let mut failed = false;
    for (label, target) in targets {
        let report = target
            .and_then(|t| resolve(store.index(), &t))
            .and_then(|r| verify(&store, &r.image));
        let report = match report {
            Ok(r) => r,
            Err(e) => {
                failures.report(&label, &e);
                continue;
            }
        };
        if out.has_format() {
            out.record(&report)?;
            // Records go to another program; a person reading stderr still learns it.
            if let Some(e) = report.error() {
                failures.report(&label, &e);
            }
        } else {
            // The line says what is wrong: not repeated on stderr.
            out.line(&report.line())?;
            failed |= !report.ok;
        }
    }
    out.finish()?;
    Ok(if failed {
        cli::EXIT_FAILURE
    } else {
        failures.exit_code()
    })
}

fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Error::io(e, "writing output"))
}
