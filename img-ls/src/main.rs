//! img-ls: docker images — list the images in the local store, one row a tag.

use std::io::{self, BufWriter};

use argh::FromArgs;
use img_core::cli;
use img_core::error::Result;
use img_core::ops::ls::{LsOptions, ls};

/// List the images in the local store (docker images).
///
/// One row a tag, newest first; untagged images show as <none>. Columns: REPOSITORY, TAG,
/// (DIGEST with --digests), IMAGE ID, CREATED, SIZE — the bytes the image's blobs take in
/// the store, compressed layers as stored (docker shows the uncompressed size). On a
/// terminal a table; in a pipe one JSON record a row (ID, Repository, Tag, Digest,
/// CreatedAt, CreatedSince, Size, Containers, SharedSize, UniqueSize, VirtualSize), the
/// keys --format templates use.
///
/// Filters (-f KEY=VALUE, repeatable; the same key: any matches, except label, which
/// must all match, as docker does; different keys: all must match): dangling=true|false,
/// reference=PATTERN (matched against the full and short name, with and without :tag;
/// '*' stays within a path component, '**' crosses '/'), before=IMAGE, since=IMAGE,
/// until=DURATION|TIME (created before: 24h, 2024-07-22, 2024-07-22T10:00:00Z, unix
/// seconds), label=KEY[=VALUE]. dangling=false keeps untagged images that still have a
/// repository digest, as docker does. An unknown filter or a bad value exits 1 (docker's
/// daemon says "Invalid filter"). CreatedAt is in the local time zone (TZ).
#[derive(FromArgs)]
struct Args {
    /// show all images (accepted for docker's sake: the store has no intermediate images)
    #[argh(switch, short = 'a')]
    all: bool,
    /// only show image IDs, each once
    #[argh(switch, short = 'q')]
    quiet: bool,
    /// show full image IDs
    #[argh(switch)]
    no_trunc: bool,
    /// show the repository digest of each row
    #[argh(switch)]
    digests: bool,
    /// filter rows: dangling=, reference=, before=, since=, until=, label= (repeatable)
    #[argh(option, short = 'f')]
    filter: Vec<String>,
    /// output: table, json, or a Go template ('table {{.Repository}}\t{{.Tag}}' for a
    /// table with headers); default: table on a terminal, JSON Lines in a pipe
    #[argh(option)]
    format: Option<String>,
    /// the store (default: IMG_ROOT, else $XDG_DATA_HOME/img)
    #[argh(option)]
    root: Option<std::path::PathBuf>,
    /// only images of this repository (and tag): REPOSITORY[:TAG], or a pattern
    #[argh(positional)]
    reference: Option<String>,
}

fn main() {
    cli::main("img-ls", &['f'], run)
}

fn run(args: Args) -> Result<i32> {
    let _ = args.all;
    let options = LsOptions {
        reference: args.reference,
        filters: args.filter,
        quiet: args.quiet,
        no_trunc: args.no_trunc,
        digests: args.digests,
        format: args.format,
    };
    let store = cli::open_store_read_only(args.root.as_deref())?;
    let mut out = BufWriter::new(io::stdout().lock());
    ls(&store, &options, cli::stdout_is_terminal(), &mut out)?;
    Ok(cli::EXIT_OK)
}
