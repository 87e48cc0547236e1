//! img-ls: docker images — list the images in the local store, one row a tag.

use std::io::{self, BufWriter};

use argh::FromArgs;
use img_core::cli;
use img_core::error::Result;
use img_core::ops::ls::tree::TreeTerminal;
use img_core::ops::ls::{LsOptions, ls, ls_tree};

/// List the images in the local store, one row a tag, newest first (docker images).
#[derive(FromArgs)]
#[argh(
    example = "img-ls -f dangling=true -q | img-rm\nimg-ls --format 'table {{{{.Repository}}}}\\t{{{{.Tag}}}}\\t{{{{.Size}}}}'",
    note = "Output: on a terminal a table REPOSITORY, TAG, (DIGEST with --digests), IMAGE\n  ID, CREATED, SIZE; untagged images show as <none>. In a pipe one JSON record\n  a row, in the record's order: ID, Repository, Tag, Digest, CreatedAt,\n  CreatedSince, Size, then Containers, SharedSize, UniqueSize, VirtualSize,\n  the keys templates use. --format json prints docker's bytes: keys sorted,\n  <>& escaped, Digest <none> unless --digests. CreatedAt is in the local time\n  zone (TZ).",
    note = "Filters (-f KEY=VALUE, repeatable; the same key: any matches, except label,\n  which must all match; different keys: all must match): dangling=true|false,\n  reference=PATTERN (full and short name, with and without :tag; '*' within a\n  path component, '**' across '/'), before=IMAGE, since=IMAGE,\n  until=DURATION|TIME (24h, 2024-07-22, 2024-07-22T10:00:00Z, unix seconds),\n  label=KEY[=VALUE]. dangling=false keeps untagged images that still have a\n  repository digest, as docker does. An unknown filter or a bad value exits 1\n  (docker's daemon says \"Invalid filter\").",
    note = "Views: the default table and --format follow docker 28 (docker 29 still\n  gives that table with --format table). --tree follows docker 29's expanded\n  tree (docker images --tree, docker/cli 29): IMAGE, ID, DISK USAGE (what\n  removing that image, or platform, alone would free), CONTENT SIZE (its blobs\n  as stored), EXTRA (docker's U for images in use: always empty here); each\n  platform a child line; untagged images only with -a. In a pipe the same tree\n  without colour or legend. Not with -q, --no-trunc, --digests or --format.",
    note = "Differences from docker: SIZE is the bytes the image's blobs take in the\n  store, compressed layers as stored (docker shows the unpacked size); -q\n  prints each ID once."
)]
struct Args {
    /// show all images (with --tree: untagged ones too; otherwise accepted for docker's
    /// sake, the store has no intermediate images)
    #[argh(switch, short = 'a')]
    all: bool,
    /// docker 29's expanded tree: each image with its platforms, disk usage and content
    /// size
    #[argh(switch)]
    tree: bool,
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
    if args.tree {
        let terminal = TreeTerminal::stdout(cli::stdout_is_terminal());
        ls_tree(&store, &options, args.all, terminal, &mut out)?;
        return Ok(cli::EXIT_OK);
    }
    ls(&store, &options, cli::stdout_is_terminal(), &mut out)?;
    Ok(cli::EXIT_OK)
}
