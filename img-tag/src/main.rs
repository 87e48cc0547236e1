//! img-tag: docker tag — give an image in the store another name.

use argh::FromArgs;
use img_core::cli;
use img_core::error::{Error, ErrorKind, Result};
use img_core::ops::tag::{TagOptions, parse_target, tag};
use img_core::record::Target;

/// Create a tag TARGET that refers to SOURCE (docker tag).
#[derive(FromArgs)]
#[argh(
    example = "img-tag alpine:3.20 mine/alpine:1\nimg-pull alpine | img-tag mine/alpine:1",
    note = "SOURCE is a name[:tag], a name@digest, an image ID or a unique ID prefix;\n  TARGET a name[:tag] (:latest when none), never a digest. img-tag TARGET\n  takes exactly one image record or name from stdin (none there is an error:\n  TARGET needs a source). An existing TARGET tag moves to this image; the\n  image it named stays, untagged if that was its last tag.",
    note = "Output: nothing on a terminal, as docker tag. In a pipe (or with --format) the\n  image's record, Ref the new tag: Id, Ref, Digest, RepoTags, RepoDigests,\n  Platform, Size (bytes the image's blobs take in the store, compressed, where\n  docker shows them unpacked). Templates see every key of the image record."
)]
struct Args {
    /// output: json, or a Go template (default: nothing on a terminal, JSON in a pipe)
    #[argh(option)]
    format: Option<String>,
    /// the store (default: IMG_ROOT, else $XDG_DATA_HOME/img)
    #[argh(option)]
    root: Option<std::path::PathBuf>,
    /// SOURCE TARGET, or TARGET alone with SOURCE read from stdin
    #[argh(positional, arg_name = "image")]
    images: Vec<String>,
}

fn main() {
    cli::main("img-tag", &[], run)
}

fn run(args: Args) -> Result<i32> {
    let (source, target) = match args.images.as_slice() {
        [source, target] => (Some(source), target),
        [target] => (None, target),
        [] => {
            return Err(Error::usage(
                "TARGET required: img-tag SOURCE TARGET, or img-tag TARGET with one image \
                 record on stdin",
            ));
        }
        more => {
            return Err(Error::usage(format!(
                "img-tag takes SOURCE and TARGET, got {} arguments",
                more.len()
            )));
        }
    };
    let target = parse_target(target)?;
    let source = match source {
        Some(s) => Target::parse(s)?,
        None => one_from_stdin()?,
    };
    // The format is checked before anything is tagged.
    let terminal = cli::stdout_is_terminal();
    let mut out = cli::RecordWriter::new(args.format.as_deref(), terminal)?
        .keys(img_core::record::ImageRecord::KEYS);
    let store = cli::open_store(args.root.as_deref())?;
    let record = tag(&store, &source, &target, &TagOptions::default())?;
    // docker tag prints nothing; a pipe gets the record so the next tool acts on the tag.
    if !terminal || out.has_format() {
        out.record(&record)?;
    }
    out.finish()?;
    Ok(cli::EXIT_OK)
}

/// The one SOURCE a pipe may give: TARGET names one image, so several are an error.
fn one_from_stdin() -> Result<Target> {
    let mut items = cli::targets(&[], "SOURCE")?;
    match items.len() {
        0 => Err(Error::new(
            ErrorKind::NotFound,
            "no image on stdin: give SOURCE TARGET, or pipe one image record",
        )),
        1 => items.remove(0).1,
        n => Err(Error::new(
            ErrorKind::InvalidRecord,
            format!(
                "TARGET names one image, but stdin holds {n} records; tag them one at a \
                 time (img-tag SOURCE TARGET)"
            ),
        )),
    }
}
