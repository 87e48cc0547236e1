//! `img-ls` (docker images): the images in the store, one row a tag, newest first, with
//! docker's filters, columns and `--format` keys.
//!
//! The filters go to [`Index::list_images`], which decides dangling, before, since and
//! labels in SQL and the reference globs in Rust; this module parses docker's
//! `-f KEY=VALUE` forms into a [`ListFilter`] and renders the rows as docker does.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind, Result};
use crate::index::{ImageInfo, ImageRow, Index, ListFilter, familiar_name};
use crate::output::human_size_with_precision;
use crate::output::{Column, Format, Output, human_duration_since, human_size};
use crate::record::{RowRecord, Target};
use crate::reference::Reference;
use crate::store::Store;

use super::filters::{self, parse_until};

pub mod tree;
use super::resolve::resolve;

/// The filter keys img-ls knows, for the message about an unknown one.
pub const FILTER_KEYS: &[&str] = &["before", "dangling", "label", "reference", "since", "until"];

/// What `<none>` looks like in a row, as docker prints it.
pub const NONE: &str = "<none>";

/// What `img-ls` was asked for.
#[derive(Debug, Clone, Default)]
pub struct LsOptions {
    /// The `REPOSITORY[:TAG]` argument: a reference or a pattern, added to the
    /// `reference` filters as docker adds it (so it is ORed with `-f reference=…`).
    pub reference: Option<String>,
    /// The `-f/--filter` values, `KEY=VALUE` each.
    pub filters: Vec<String>,
    /// `-q`: image IDs only, each once.
    pub quiet: bool,
    /// `--no-trunc`: full IDs (`sha256:…`).
    pub no_trunc: bool,
    /// `--digests`: a DIGEST column after TAG in the default table.
    pub digests: bool,
    /// `--format`: `table`, `json`, `table TEMPLATE` or `TEMPLATE`; by default a table
    /// on a terminal and JSON Lines otherwise.
    pub format: Option<String>,
}

/// The default table's columns, DIGEST left out without `--digests`.
const COLUMNS: [Column; 6] = [
    Column::new("Repository", "REPOSITORY"),
    Column::new("Tag", "TAG"),
    Column::new("Digest", "DIGEST"),
    Column::new("ID", "IMAGE ID"),
    Column::new("CreatedSince", "CREATED"),
    Column::new("Size", "SIZE"),
];

/// Headers of the other keys a `table {{.X}}` template may use (docker's names).
const OTHER_HEADERS: [Column; 5] = [
    Column::new("CreatedAt", "CREATED AT"),
    Column::new("Containers", "CONTAINERS"),
    Column::new("SharedSize", "SHARED SIZE"),
    Column::new("UniqueSize", "UNIQUE SIZE"),
    // docker heads it SIZE too (its header table maps VirtualSize to SizeHeader).
    Column::new("VirtualSize", "SIZE"),
];

/// Lists the store as `options` ask and prints the rows to `out` (`-q`: the IDs, one a
/// line). `stdout_is_terminal` chooses the default format. A closed `out` comes back as an
/// error whose `io_kind()` is `BrokenPipe`, which the shared `cli::main` treats as success.
pub fn ls(
    store: &Store,
    options: &LsOptions,
    stdout_is_terminal: bool,
    out: &mut impl Write,
) -> Result<()> {
    // Parse the format before touching the index: a bad template is a usage error.
    let format = match &options.format {
        // docker adds the digest column to a custom table with --digests, as its own.
        Some(f) if options.digests && is_table(f) && !f.contains("{{.Digest}}") => {
            Some(Format::parse(&format!("{f}\t{{{{.Digest}}}}"))?)
        }
        Some(f) => Some(Format::parse(f)?),
        None => None,
    };
    let rows = list(store.index(), options)?;
    if options.quiet {
        return print_ids(&rows, options.no_trunc, out);
    }
    let format = format.unwrap_or_else(|| Format::default_for(stdout_is_terminal));
    let columns: Vec<Column> = COLUMNS
        .iter()
        .filter(|c| options.digests || c.key != "Digest")
        .copied()
        .collect();
    let mut formatter = RowFormatter::new(options.no_trunc);
    // An explicit `--format json` is docker's bytes; the piped default is the record.
    if let Format::Json = format
        && options.format.is_some()
    {
        for row in &rows {
            let record = formatter.record(row);
            let extra = formatter.extra(row);
            let line = docker_json_row(&record, &extra, options.digests)?;
            out.write_all(line.as_bytes())
                .and_then(|()| out.write_all(b"\n"))
                .map_err(|e| Error::io(e, "writing output"))?;
        }
        return out.flush().map_err(|e| Error::io(e, "writing output"));
    }
    // JSON Lines straight from the rows (the bulk of a pipe's output), without building a
    // JSON value a row; tables and templates take values.
    if let Format::Json = format {
        for row in &rows {
            let record = formatter.record(row);
            let extra = formatter.extra(row);
            serde_json::to_writer(&mut *out, &JsonRow::new(&record, &extra)).map_err(json_error)?;
            out.write_all(b"\n")
                .map_err(|e| Error::io(e, "writing output"))?;
        }
        return out.flush().map_err(|e| Error::io(e, "writing output"));
    }
    let default_table = matches!(format, Format::Table(None));
    let mut output = Output::new(format, &columns, out).headers(&OTHER_HEADERS);
    for row in &rows {
        let value = if default_table {
            formatter.cells(row, &columns)
        } else {
            formatter.value(row)
        };
        output.write(&value)?;
    }
    output.finish()
}

/// `img-ls --tree`: docker 29's expanded tree ([`tree`]) of the images `options` select;
/// untagged ones only with `all` (or a `dangling=true` filter), as docker 29 lists them.
/// `-q`, `--no-trunc`, `--digests` and `--format` are refused, in docker's words.
pub fn ls_tree(
    store: &Store,
    options: &LsOptions,
    all: bool,
    terminal: tree::TreeTerminal,
    out: &mut impl Write,
) -> Result<()> {
    let refused = [
        (options.quiet, "--quiet"),
        (options.no_trunc, "--no-trunc"),
        (options.digests, "--digests"),
        (options.format.is_some(), "--format"),
    ];
    if let Some((_, flag)) = refused.iter().find(|(given, _)| *given) {
        return Err(Error::usage(format!(
            "{flag} is not yet supported with --tree"
        )));
    }
    let mut rows = list(store.index(), options)?;
    // docker 29 drops dangling images unless -a, or a dangling filter without false.
    let dangling: Vec<&str> = options
        .filters
        .iter()
        .filter_map(|f| filters::split(f).ok())
        .filter(|(k, _)| k == "dangling")
        .map(|(_, v)| {
            if matches!(v, "true" | "1") {
                "true"
            } else {
                "false"
            }
        })
        .collect();
    if !all && (dangling.is_empty() || dangling.contains(&"false")) {
        rows.retain(|r| !r.image.tags.is_empty());
    }
    let view = tree::build(store, &rows)?;
    out.write_all(tree::render(&view, terminal).as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Error::io(e, "writing output"))
}

/// The rows `options` select (its reference and filters), newest first.
pub fn list(index: &Index, options: &LsOptions) -> Result<Vec<ImageRow>> {
    let mut filter = parse_filters(index, &options.filters)?;
    if let Some(r) = &options.reference {
        filter.reference.push(argument_pattern(r)?);
    }
    index.list_images(&filter)
}

/// Parses docker's `-f KEY=VALUE` filters: `dangling=true|false`, `reference=PATTERN`,
/// `before=IMAGE`, `since=IMAGE` (resolved as every tool resolves images),
/// `label=KEY[=VALUE]`, `until=TIME`. A filter without `=` is a usage error; an unknown
/// key or a bad value is docker's invalid filter (exit 1); an image that `before`/`since`
/// names and the store lacks is `NotFound`. `dangling` reads as docker 20.10's daemon
/// reads it: `true` and `false` exactly (and `1`, `0`, which docker 28's daemon takes),
/// and `true` wins when both are given.
pub fn parse_filters(index: &Index, filters: &[String]) -> Result<ListFilter> {
    let mut filter = ListFilter::default();
    let mut dangling: Vec<bool> = Vec::new();
    for f in filters {
        // docker trims and lower-cases the key and trims the value.
        let (key, value) = filters::split(f)?;
        match key.as_str() {
            "dangling" => dangling.push(match value {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => {
                    return Err(filters::invalid(
                        &format!("dangling={value}"),
                        "dangling takes true or false",
                    ));
                }
            }),
            "reference" => filter.reference.push(value.to_owned()),
            "label" => filter.labels.push(
                filters::label(value)
                    .ok_or_else(|| filters::invalid(f, "label takes KEY or KEY=VALUE"))?,
            ),
            "before" | "since" => {
                let created =
                    created_of(index, value).map_err(|e| e.context(format!("filter {f:?}")))?;
                // Several values AND together, as docker resolves them: the oldest
                // `before`, the newest `since`.
                if key == "before" {
                    filter.before = Some(filter.before.map_or(created, |b| b.min(created)));
                } else {
                    filter.since = Some(filter.since.map_or(created, |s| s.max(created)));
                }
            }
            "until" => {
                let until = parse_until(value, jiff::Timestamp::now())
                    .ok_or_else(|| filters::invalid(f, "until takes a duration (10m, 24h) or a time (2024-07-22, 2024-07-22T10:00:00Z, unix seconds)"))?;
                // Images created before the time, as `before` keeps them.
                filter.before = Some(filter.before.map_or(until, |b| b.min(until)));
            }
            _ => {
                return Err(filters::invalid(
                    &key,
                    &format!("valid filters are {}", FILTER_KEYS.join(", ")),
                ));
            }
        }
    }
    if !dangling.is_empty() {
        filter.dangling = Some(dangling.contains(&true));
    }
    filter.check()?;
    Ok(filter)
}

/// Whether a `--format` is a custom table (`table ` and a row template; plain `table` is
/// the default table, which has its own DIGEST column).
fn is_table(format: &str) -> bool {
    format.starts_with("table ")
}

/// `CreatedAt` as docker writes it: Go's `time.Time.String()` in the local time zone
/// (`TZ`, else the system's), without fractions: `2024-07-22 22:26:43 +0200 CEST`.
pub fn created_at_local(t: jiff::Timestamp) -> String {
    let zoned = t.to_zoned(jiff::tz::TimeZone::system());
    let offset = zoned.strftime("%z").to_string();
    // Go names a zone by its abbreviation, or by its offset when it has none.
    let abbrev = zoned
        .time_zone()
        .to_offset_info(t)
        .abbreviation()
        .to_owned();
    let zone = if abbrev.is_empty() || abbrev.starts_with(['+', '-']) {
        offset.clone()
    } else {
        abbrev
    };
    format!("{} {offset} {zone}", zoned.strftime("%Y-%m-%d %H:%M:%S"))
}

/// The creation time of the image `what` names.
fn created_of(index: &Index, what: &str) -> Result<jiff::Timestamp> {
    if what.is_empty() {
        return Err(Error::usage("an image is required"));
    }
    let image = resolve(index, &Target::parse(what)?)?.image;
    image
        .created
        .as_deref()
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Unsupported,
                format!("image {what} records no creation time to compare with"),
            )
        })
}

/// The `REPOSITORY[:TAG]` argument as a reference pattern. A valid reference is
/// normalised (`library/alpine` finds `alpine`) and escaped (an IPv6 domain has brackets);
/// otherwise a pattern (`*`, `?`, `[`, `\`) is taken as it is, as docker takes it; anything
/// else is the reference's error.
pub fn argument_pattern(arg: &str) -> Result<String> {
    let r = match Reference::parse_normalized_name(arg) {
        Ok(r) => r,
        Err(_) if arg.contains(['*', '?', '[', '\\']) => return Ok(arg.to_owned()),
        Err(e) => return Err(e),
    };
    let mut pattern = escape_pattern(&r.familiar_name());
    if let Some(tag) = r.tag() {
        pattern.push(':');
        pattern.push_str(tag);
    }
    if let Some(digest) = r.digest() {
        pattern.push('@');
        pattern.push_str(&digest.to_string());
    }
    Ok(pattern)
}

/// `s` with glob characters escaped (an IPv6 domain has brackets).
fn escape_pattern(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `-q`: each image ID once, in row order.
fn print_ids(rows: &[ImageRow], no_trunc: bool, out: &mut impl Write) -> Result<()> {
    let mut seen = HashSet::new();
    for row in rows {
        if seen.insert(&row.image.id) {
            let id = display_id(&row.image.id, no_trunc);
            writeln!(out, "{id}").map_err(|e| Error::io(e, "writing output"))?;
        }
    }
    out.flush().map_err(|e| Error::io(e, "writing output"))
}

fn display_id(id: &crate::Digest, no_trunc: bool) -> String {
    if no_trunc {
        id.to_string()
    } else {
        id.hex().chars().take(12).collect()
    }
}

/// Renders rows as docker does, remembering the familiar form of each repository (many
/// rows share one).
#[derive(Debug)]
pub struct RowFormatter {
    no_trunc: bool,
    now: jiff::Timestamp,
    familiar: HashMap<String, String>,
    /// The last image rendered and its cells: an image's rows come one after another.
    last: Option<(Arc<ImageInfo>, ImageCells)>,
}

/// The cells of a row that depend on its image only.
#[derive(Debug, Clone)]
struct ImageCells {
    id: String,
    created_at: String,
    created_since: String,
    size: String,
    virtual_size: String,
}

/// The keys docker's rows have beyond [`RowRecord`]'s, where they vary.
#[derive(Debug)]
struct Extra {
    virtual_size: String,
}

/// A row as JSON: the record's keys, then docker's other ones. `Containers` is `N/A` (the
/// store runs no containers); `SharedSize` and `UniqueSize` are `N/A`, as docker prints
/// them unless asked to compute them; `VirtualSize` is the size with docker's four digits.
#[derive(Serialize)]
struct JsonRow<'a> {
    #[serde(rename = "ID")]
    id: &'a str,
    #[serde(rename = "Repository")]
    repository: &'a str,
    #[serde(rename = "Tag")]
    tag: &'a str,
    #[serde(rename = "Digest")]
    digest: &'a str,
    #[serde(rename = "CreatedAt")]
    created_at: &'a str,
    #[serde(rename = "CreatedSince")]
    created_since: &'a str,
    #[serde(rename = "Size")]
    size: &'a str,
    #[serde(rename = "Containers")]
    containers: &'static str,
    #[serde(rename = "SharedSize")]
    shared_size: &'static str,
    #[serde(rename = "UniqueSize")]
    unique_size: &'static str,
    #[serde(rename = "VirtualSize")]
    virtual_size: &'a str,
}

impl<'a> JsonRow<'a> {
    fn new(r: &'a RowRecord, extra: &'a Extra) -> JsonRow<'a> {
        JsonRow {
            id: &r.id,
            repository: &r.repository,
            tag: &r.tag,
            digest: &r.digest,
            created_at: &r.created_at,
            created_since: &r.created_since,
            size: &r.size,
            containers: "N/A",
            shared_size: "N/A",
            unique_size: "N/A",
            virtual_size: &extra.virtual_size,
        }
    }
}

/// A row as `docker images --format json` prints it, byte for byte: docker marshals a
/// map of every key its template context has, so the keys are sorted and `<`, `>` and `&`
/// are escaped (`\u003cnone\u003e`), as Go's `json.Marshal` does; `Digest` is `<none>`
/// unless `--digests`, since docker fills it only then.
fn docker_json_row(r: &RowRecord, extra: &Extra, digests: bool) -> Result<String> {
    let digest = if digests { r.digest.as_str() } else { NONE };
    let row: std::collections::BTreeMap<&str, &str> = [
        ("Containers", "N/A"),
        ("CreatedAt", r.created_at.as_str()),
        ("CreatedSince", r.created_since.as_str()),
        ("Digest", digest),
        ("ID", r.id.as_str()),
        ("Repository", r.repository.as_str()),
        ("SharedSize", "N/A"),
        ("Size", r.size.as_str()),
        ("Tag", r.tag.as_str()),
        ("UniqueSize", "N/A"),
        ("VirtualSize", extra.virtual_size.as_str()),
    ]
    .into_iter()
    .collect();
    let text = serde_json::to_string(&row).map_err(json_error)?;
    Ok(go_marshal_escapes(&text))
}

/// What Go's `json.Marshal` escapes beyond serde_json: `<`, `>`, `&` (HTML escaping) and
/// U+2028, U+2029. None of them is JSON syntax, so each one is inside a string.
fn go_marshal_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

fn json_error(e: serde_json::Error) -> Error {
    match e.io_error_kind() {
        Some(kind) => Error::io(std::io::Error::from(kind), "writing output"),
        None => Error::new(ErrorKind::InvalidRecord, format!("encoding a row: {e}")),
    }
}

impl RowFormatter {
    /// A formatter of truncated (or full, with `no_trunc`) IDs, ages counted from now.
    pub fn new(no_trunc: bool) -> RowFormatter {
        RowFormatter::at(no_trunc, jiff::Timestamp::now())
    }

    /// A formatter counting ages from `now`.
    pub fn at(no_trunc: bool, now: jiff::Timestamp) -> RowFormatter {
        RowFormatter {
            no_trunc,
            now,
            familiar: HashMap::new(),
            last: None,
        }
    }

    /// The row's record: `ID`, `Repository` (familiar), `Tag`, `Digest`, `CreatedAt`,
    /// `CreatedSince`, `Size`. Without a creation time, `CreatedAt` and `CreatedSince`
    /// are `N/A`.
    pub fn record(&mut self, row: &ImageRow) -> RowRecord {
        let repository = match &row.repository {
            Some(full) => self
                .familiar
                .entry(full.clone())
                .or_insert_with(|| familiar_name(full))
                .clone(),
            None => NONE.to_owned(),
        };
        let cells = self.image_cells(&row.image);
        RowRecord {
            id: cells.id,
            repository,
            tag: row.tag.clone().unwrap_or_else(|| NONE.to_owned()),
            digest: row
                .digest
                .as_ref()
                .map_or_else(|| NONE.to_owned(), ToString::to_string),
            created_at: cells.created_at,
            created_since: cells.created_since,
            size: cells.size,
        }
    }

    fn image_cells(&mut self, image: &Arc<ImageInfo>) -> ImageCells {
        if let Some((last, cells)) = &self.last
            && Arc::ptr_eq(last, image)
        {
            return cells.clone();
        }
        let created: Option<jiff::Timestamp> =
            image.created.as_deref().and_then(|c| c.parse().ok());
        let (created_at, created_since) = match created {
            Some(t) => (created_at_local(t), human_duration_since(self.since(t))),
            None => ("N/A".to_owned(), "N/A".to_owned()),
        };
        let cells = ImageCells {
            id: display_id(&image.id, self.no_trunc),
            created_at,
            created_since,
            size: human_size(image.size),
            virtual_size: human_size_with_precision(image.size as f64, 4),
        };
        self.last = Some((Arc::clone(image), cells.clone()));
        cells
    }

    /// The row as JSON for output: the record's keys, then docker's other keys:
    /// `Containers` (`N/A`: the store runs no containers), `SharedSize` and `UniqueSize`
    /// (`N/A`, as docker prints them unless asked to compute them), `VirtualSize` (the
    /// size, with docker's four digits).
    pub fn value(&mut self, row: &ImageRow) -> Value {
        let record = self.record(row);
        let extra = self.extra(row);
        // A struct of strings always converts.
        serde_json::to_value(JsonRow::new(&record, &extra)).unwrap_or(Value::Null)
    }

    /// Only the `columns`' keys of the row (what the default table shows).
    fn cells(&mut self, row: &ImageRow, columns: &[Column]) -> Value {
        let r = self.record(row);
        let mut m = Map::with_capacity(columns.len());
        for c in columns {
            let cell = match c.key {
                "ID" => &r.id,
                "Repository" => &r.repository,
                "Tag" => &r.tag,
                "Digest" => &r.digest,
                "CreatedSince" => &r.created_since,
                "Size" => &r.size,
                _ => continue,
            };
            m.insert(c.key.to_owned(), Value::String(cell.clone()));
        }
        Value::Object(m)
    }

    /// docker's keys beyond the record: `VirtualSize` (they are the same for every row of
    /// an image, so this follows [`RowFormatter::record`] for the same row).
    fn extra(&mut self, row: &ImageRow) -> Extra {
        Extra {
            virtual_size: self.image_cells(&row.image).virtual_size,
        }
    }

    /// The age of `t`, as docker counts it: its image list carries `Created` in whole
    /// Unix seconds (Go's `Time.Unix`, the floor), so a config created at `…:00.9Z` is a
    /// second older to docker than to the nanosecond. Counting from the exact time would
    /// print "6 seconds ago" where docker prints "7 seconds ago".
    fn since(&self, t: jiff::Timestamp) -> std::time::Duration {
        let whole = t.as_nanosecond().div_euclid(1_000_000_000) * 1_000_000_000;
        let d = self.now.as_nanosecond() - whole;
        std::time::Duration::from_nanos(u64::try_from(d).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests;
