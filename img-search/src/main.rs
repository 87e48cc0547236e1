//! img-search: docker search — Docker Hub's index or any registry's, a registry's
//! catalog, and a repository's tags.

use std::io::{self, BufWriter};

use argh::FromArgs;
use img_core::cli::{self, Failures};
use img_core::error::Result;
use img_core::ops::search::{SearchOptions, search};
use img_core::settings::Config;

/// Search Docker Hub for images (docker search), or a registry's catalog and tags.
#[derive(FromArgs)]
#[argh(
    example = "img-search --limit 5 alpine\nimg-search --registry 127.0.0.1:5000 'team/*'\nimg-search --tags 127.0.0.1:5000/team/app --filter 'tag=v1.*'",
    note = "Where it asks: TERM goes to Docker Hub's index (the config's \"hub-index\");\n  HOST[:PORT]/TERM to that registry's /v1/search, as docker does, and to its\n  catalog when it has none. --registry HOST [TERM] lists HOST's catalog (all\n  pages), TERM a substring, or a glob when it holds * or ? ('*' within a path\n  component, '**' across '/'). --tags NAME lists NAME's tags in version order\n  (v1.2.10 < v1.9.0 < v1.10.0, other tags after, in byte order); --digests\n  adds each tag's manifest digest.",
    note = "Output, as docker 28 prints it: a table NAME DESCRIPTION STARS OFFICIAL on a\n  terminal, descriptions cut to 45 columns unless --no-trunc; in a pipe one\n  JSON record a result: Description, IsOfficial, Name, StarCount (all strings,\n  as docker's --format json). Catalog names are HOST/repository. Tag records:\n  Name (HOST/repository:tag), Tag, Digest; on a terminal a table NAME TAG\n  DIGEST. Piped into img-pull, a repository record pulls its :latest, which\n  fails where there is none: pipe --tags records to pull tags that exist.",
    note = "Filters: stars=N (at least N stars), is-official=true|false,\n  is-automated=true|false (deprecated: true matches nothing, as in docker 25\n  and later); tag=GLOB with --tags (repeatable)."
)]
struct Args {
    /// most results (default 25, at most 100; with --tags: all unless given)
    #[argh(option)]
    limit: Option<i64>,
    /// filter results: stars=N, is-official=BOOL, is-automated=BOOL, tag=GLOB (repeatable)
    #[argh(option, short = 'f')]
    filter: Vec<String>,
    /// don't truncate descriptions
    #[argh(switch)]
    no_trunc: bool,
    /// output: table, json, or a Go template ('table {{.Name}}\t{{.StarCount}}' for a
    /// table with headers); default: table on a terminal, JSON Lines in a pipe
    #[argh(option)]
    format: Option<String>,
    /// search the catalog of this registry (HOST[:PORT]) instead of an index
    #[argh(option)]
    registry: Option<String>,
    /// list the tags of the repository NAME
    #[argh(switch)]
    tags: bool,
    /// with --tags: show each tag's manifest digest
    #[argh(switch)]
    digests: bool,
    /// allow plain HTTP and unverified TLS
    #[argh(switch)]
    insecure: bool,
    /// the search term, HOST/TERM, a catalog pattern, or with --tags the repository
    #[argh(positional)]
    term: Option<String>,
}

fn main() {
    cli::main("img-search", &['f'], run)
}

fn run(args: Args) -> Result<i32> {
    let options = SearchOptions {
        term: args.term,
        registry: args.registry,
        tags: args.tags,
        limit: args.limit,
        filters: args.filter,
        no_trunc: args.no_trunc,
        digests: args.digests,
        format: args.format,
        insecure: args.insecure,
    };
    for warning in options.warnings() {
        cli::warn(&format!("img-search: {warning}"));
    }
    let config = Config::load()?;
    let mut out = BufWriter::new(io::stdout().lock());
    let failed = search(&options, &config, cli::stdout_is_terminal(), &mut out)?;
    let mut failures = Failures::new("img-search");
    for f in &failed {
        failures.report(&f.item, &f.error);
    }
    Ok(failures.exit_code())
}
