//! img-rm: docker rmi — untag and delete images — and docker image prune (`--prune`).

use argh::FromArgs;
use img_core::cli::{self, Failures, RecordWriter};
use img_core::error::{Error, Result};
use img_core::ops::rm::{
    PruneOptions, Remover, RmOptions, parse_prune_filters, prune_at, prune_dry_run_at,
    rebuild_index_at,
};
use img_core::output::human_size_with_precision;
use img_core::record::RemovalRecord;

/// Remove images from the store (docker rmi), or prune it (docker image prune).
#[derive(FromArgs)]
#[argh(
    example = "img-rm alpine:3.20\nimg-ls -q -f dangling=true | img-rm\nimg-rm --prune --filter until=24h",
    note = "Output: docker's lines on a terminal (Untagged: alpine:3.20, Deleted:\n  sha256:…); in a pipe one JSON record a line: {{\"Untagged\": …}}, {{\"Deleted\":\n  …}}, and for --prune a last {{\"SpaceReclaimed\": bytes}}. A failed IMAGE is\n  reported and the others still done (exit 1); an empty stdin removes nothing\n  (exit 0).",
    note = "What goes: a tag removes that tag; the image is deleted once no tag or digest\n  reference names it (a repository's digest references go with its last tag,\n  as in docker). An ID removes the image with its only reference; one several\n  references name is refused unless -f, as is one a running img command holds\n  (forced, its blobs stay until that command ends). Blobs nothing else uses go\n  at the end, unless --no-prune.",
    note = "--prune removes every dangling image not in use, orphan blobs and every\n  partial download no running command holds, without asking, and works on a\n  full disk. -a removes tagged images too: it asks docker's question on a\n  terminal and needs -f without one. --filter: until=, label=, label!=,\n  dangling=false (as -a), as docker image prune's. --rebuild-index makes a new\n  index for a store whose index is lost: images come back untagged\n  ({{\"Restored\": \"sha256:…\"}}); the lost index is kept beside it.",
    note = "--prune --dry-run (with -a and every --filter) prints what the prune would\n  remove and the bytes it would free, and changes nothing: it never asks, and\n  opens the store read-only. In a pipe the prune's records, each with\n  \"DryRun\": true, ending with {{\"SpaceReclaimed\": bytes, \"DryRun\": true}}; on a\n  terminal Would untag: / Would delete: lines and Estimated reclaimable space.\n  A layer a kept image shares is not counted; partials no running command\n  holds are. The figure is what the prune right after it frees, when nothing\n  else writes to the store meanwhile."
)]
struct Args {
    /// remove images in use or referenced in several repositories, with all their tags
    #[argh(switch, short = 'f')]
    force: bool,
    /// keep deleted images' blobs until the next garbage collection
    #[argh(switch)]
    no_prune: bool,
    /// remove every dangling image, orphan blob and unheld partial download (docker image
    /// prune)
    #[argh(switch)]
    prune: bool,
    /// with --prune: print what would be removed and freed, change nothing
    #[argh(switch)]
    dry_run: bool,
    /// rebuild a lost index from the store's blobs: images come back untagged
    #[argh(switch)]
    rebuild_index: bool,
    /// with --prune: every image no running img command holds, tagged or not (docker
    /// image prune -a); asks first, or needs -f when stdin is not a terminal (not with
    /// --dry-run, which never asks)
    #[argh(switch, short = 'a')]
    all: bool,
    /// with --prune: until=DURATION|TIME (created before), label=KEY[=VALUE],
    /// label!=KEY[=VALUE], dangling=true|false (repeatable)
    #[argh(option)]
    filter: Vec<String>,
    /// output: json, or a Go template (default: docker's lines on a terminal, JSON in a pipe)
    #[argh(option)]
    format: Option<String>,
    /// the store (default: IMG_ROOT, else $XDG_DATA_HOME/img)
    #[argh(option)]
    root: Option<std::path::PathBuf>,
    /// images to remove: NAME[:TAG], NAME@DIGEST, ID or ID prefix
    #[argh(positional, arg_name = "image")]
    images: Vec<String>,
}

fn main() {
    cli::main("img-rm", &[], run)
}

fn run(args: Args) -> Result<i32> {
    let terminal = cli::stdout_is_terminal();
    let mut out = RecordWriter::new(args.format.as_deref(), terminal)?;
    let lines = terminal && !out.has_format();
    if args.rebuild_index {
        if args.prune || !args.images.is_empty() {
            return Err(Error::usage(
                "--rebuild-index takes no IMAGE and no --prune: it rebuilds the whole index",
            ));
        }
        let root = img_core::settings::store_root(args.root.as_deref())?;
        let rebuilt = rebuild_index_at(&root)?;
        for id in &rebuilt.images {
            print(&mut out, &RemovalRecord::Restored(id.clone()), lines)?;
        }
        out.finish()?;
        eprintln!("img-rm: {}", rebuilt.summary);
        return Ok(cli::EXIT_OK);
    }
    if args.prune {
        if !args.images.is_empty() {
            return Err(Error::usage(
                "--prune takes no IMAGE: it removes dangling images",
            ));
        }
        let options = PruneOptions {
            all: args.all,
            filter: parse_prune_filters(&args.filter)?,
        };
        let root = img_core::settings::store_root(args.root.as_deref())?;
        if args.dry_run {
            let records = prune_dry_run_at(&root, &options)?;
            print_dry_run(&mut out, &records, lines)?;
            out.finish()?;
            return Ok(cli::EXIT_OK);
        }
        // A "no" ends it quietly with status 0, as docker does. dangling=false removes
        // every image as -a does (docker's CLI sends -a as that filter), so it asks too.
        if options.removes_tagged() && !args.force && !confirm_prune_all()? {
            return Ok(cli::EXIT_OK);
        }
        let pruned = prune_at(&root, &options)?;
        print_pruned(&mut out, &pruned.records, lines)?;
        out.finish()?;
        return Ok(cli::EXIT_OK);
    }
    if args.all || !args.filter.is_empty() || args.dry_run {
        return Err(Error::usage("-a, --filter and --dry-run go with --prune"));
    }
    let targets = cli::targets(&args.images, "an image")?;
    let store = cli::open_store(args.root.as_deref())?;
    let options = RmOptions {
        force: args.force,
        no_prune: args.no_prune,
    };
    let mut remover = Remover::new(&store, options);
    let mut failures = Failures::new("img-rm");
    for (label, target) in targets {
        let result = target.and_then(|t| remover.remove(&t));
        match result {
            Ok(records) => {
                for r in &records {
                    print(&mut out, r, lines)?;
                }
            }
            Err(e) => failures.report(&label, &e),
        }
    }
    out.finish()?;
    remover.finish()?;
    Ok(failures.exit_code())
}

/// docker's question before `image prune -a` (or `--filter dangling=false`), on a
/// terminal; without one, -f is needed.
fn confirm_prune_all() -> Result<bool> {
    if !cli::stdin_is_terminal() {
        return Err(Error::usage(
            "--prune -a (or --filter dangling=false) removes every image: there is no terminal to ask on, so confirm with -f",
        ));
    }
    eprint!(
        "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue? [y/N] "
    );
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| Error::io(e, "reading the answer"))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES"))
}

/// One record: docker rmi's line on a terminal, the record otherwise.
fn print(out: &mut RecordWriter, record: &RemovalRecord, lines: bool) -> Result<()> {
    if !lines {
        return out.record(record);
    }
    match record {
        RemovalRecord::Untagged(r) => out.line(&format!("Untagged: {r}")),
        RemovalRecord::Deleted(d) => out.line(&format!("Deleted: {d}")),
        RemovalRecord::SpaceReclaimed(n) => {
            out.line(&format!("Total reclaimed space: {}", size(*n)))
        }
        RemovalRecord::Restored(d) => out.line(&format!("Restored: {d}")),
    }
}

/// docker image prune's report on a terminal; the records otherwise.
fn print_pruned(out: &mut RecordWriter, records: &[RemovalRecord], lines: bool) -> Result<()> {
    if !lines {
        return records.iter().try_for_each(|r| out.record(r));
    }
    let images: Vec<&RemovalRecord> = records
        .iter()
        .filter(|r| !matches!(r, RemovalRecord::SpaceReclaimed(_)))
        .collect();
    if !images.is_empty() {
        out.line("Deleted Images:")?;
        for r in images {
            match r {
                RemovalRecord::Untagged(s) => out.line(&format!("untagged: {s}"))?,
                RemovalRecord::Deleted(d) => out.line(&format!("deleted: {d}"))?,
                RemovalRecord::SpaceReclaimed(_) | RemovalRecord::Restored(_) => {}
            }
        }
        out.line("")?;
    }
    let reclaimed = records
        .iter()
        .find_map(|r| match r {
            RemovalRecord::SpaceReclaimed(n) => Some(*n),
            _ => None,
        })
        .unwrap_or(0);
    out.line(&format!("Total reclaimed space: {}", size(reclaimed)))
}

/// What a prune would do: on a terminal `Would untag:` and `Would delete:` lines, then the
/// estimate; otherwise the prune's records, each marked `"DryRun": true`.
fn print_dry_run(out: &mut RecordWriter, records: &[RemovalRecord], lines: bool) -> Result<()> {
    if !lines {
        for r in records {
            let mut value = serde_json::to_value(r).map_err(|e| {
                Error::new(img_core::ErrorKind::Io, format!("encoding a record: {e}"))
            })?;
            if let serde_json::Value::Object(map) = &mut value {
                map.insert("DryRun".into(), serde_json::Value::Bool(true));
            }
            out.record(&value)?;
        }
        return Ok(());
    }
    let mut reclaimable = 0;
    let mut any = false;
    for r in records {
        match r {
            RemovalRecord::Untagged(s) => out.line(&format!("Would untag: {s}"))?,
            RemovalRecord::Deleted(d) => out.line(&format!("Would delete: {d}"))?,
            RemovalRecord::SpaceReclaimed(n) => reclaimable = *n,
            RemovalRecord::Restored(_) => {}
        }
        any |= !matches!(r, RemovalRecord::SpaceReclaimed(_));
    }
    if any {
        out.line("")?;
    }
    out.line(&format!(
        "Estimated reclaimable space: {}",
        size(reclaimable)
    ))
}

/// go-units' `HumanSize`, as docker image prune prints it: four significant digits.
fn size(bytes: u64) -> String {
    human_size_with_precision(bytes as f64, 4)
}
