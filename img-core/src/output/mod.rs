//! `--format table|json|TEMPLATE`: docker-aligned tables, JSON Lines and Go templates,
//! written record by record to stdout; plus docker's human sizes and ages.
//!
//! ```
//! use img_core::output::{Column, Format, Output};
//! let columns = [Column::new("Repository", "REPOSITORY"), Column::new("Tag", "TAG")];
//! let mut buf = Vec::new();
//! let mut out = Output::new(Format::parse("table").unwrap(), &columns, &mut buf);
//! out.write(&serde_json::json!({"Repository": "alpine", "Tag": "3.20"})).unwrap();
//! out.finish().unwrap();
//! assert_eq!(String::from_utf8(buf).unwrap(), "REPOSITORY   TAG\nalpine       3.20\n");
//! ```

#[cfg(any(test, feature = "testing"))]
pub mod screen;
mod table;
pub(crate) mod units;
pub mod width;

pub use units::{human_duration, human_duration_since, human_size, human_size_with_precision};

use crate::error::{Error, Result};
use crate::template::{self, Template};
use serde_json::Value;
use std::io::Write;

/// Docker's tabwriter settings: minimum column width 10, padding 3, spaces.
const MIN_WIDTH: usize = 10;
const PADDING: usize = 3;

/// A table column: the record key it shows and the header docker gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// The record key, e.g. `ID`.
    pub key: &'static str,
    /// The header, e.g. `IMAGE ID`.
    pub header: &'static str,
}

impl Column {
    /// A column showing `key` under `header`.
    pub const fn new(key: &'static str, header: &'static str) -> Column {
        Column { key, header }
    }
}

/// How records are printed.
#[derive(Debug, Clone)]
pub enum Format {
    /// An aligned table with a header line: the tool's default columns (`None`), or
    /// the columns of a `table {{.A}}\t{{.B}}` template.
    Table(Option<Template>),
    /// JSON Lines: one compact object a line, keys in the record's order.
    Json,
    /// A Go template, printed once per record and followed by a newline.
    Template(Template),
}

impl Format {
    /// Parses a `--format` value as docker does: `table`, `table TEMPLATE`, `json`, or a
    /// template. Outside actions, the two-character sequences `\t` and `\n` become a tab and
    /// a newline (shells pass them literally); inside actions Go's string escapes apply.
    pub fn parse(s: &str) -> Result<Format> {
        if s == "json" {
            return Ok(Format::Json);
        }
        if let Some(rest) = s.strip_prefix("table") {
            let rest = rest.trim_matches(' ');
            if rest.is_empty() {
                return Ok(Format::Table(None));
            }
            let t =
                Template::parse(&unescape_text(rest)).map_err(|e| e.context("parsing --format"))?;
            return Ok(Format::Table(Some(t)));
        }
        let s = s.trim_matches(' ');
        if s.is_empty() {
            return Err(Error::usage(
                "--format is empty; give table, json or a Go template",
            ));
        }
        let t = Template::parse(&unescape_text(s)).map_err(|e| e.context("parsing --format"))?;
        Ok(Format::Template(t))
    }

    /// The format when none is given: a table for a terminal, JSON Lines for a pipe or file.
    pub fn default_for(stdout_is_terminal: bool) -> Format {
        if stdout_is_terminal {
            Format::Table(None)
        } else {
            Format::Json
        }
    }
}

/// Replaces `\t` and `\n` written as two characters with a tab and a newline, in text
/// outside `{{ }}` actions only: docker replaces them everywhere, which breaks `"\n"`
/// inside a string literal (a raw newline there is a syntax error).
fn unescape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while !rest.is_empty() {
        let Some(open) = rest.find("{{") else {
            out.push_str(&rest.replace("\\t", "\t").replace("\\n", "\n"));
            break;
        };
        out.push_str(&rest[..open].replace("\\t", "\t").replace("\\n", "\n"));
        let end = action_end(&rest[open..]).map_or(rest.len(), |e| open + e);
        out.push_str(&rest[open..end]);
        rest = &rest[end..];
    }
    out
}

/// The length of the action at the start of `s` (through its `}}`), skipping quoted
/// strings, raw strings and comments, which may contain `}}`.
fn action_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 2;
    while i < b.len() {
        match b[i] {
            b'}' if b.get(i + 1) == Some(&b'}') => return Some(i + 2),
            b'/' if b.get(i + 1) == Some(&b'*') => i = i + 2 + s[i + 2..].find("*/")? + 2,
            q @ (b'"' | b'\'' | b'`') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    i += if b[i] == b'\\' && q != b'`' { 2 } else { 1 };
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    None
}

/// docker's fallback header for a key it has no name for: upper case, words split at
/// case changes (`CreatedSince` → `CREATED SINCE`, `RepoTags` → `REPO TAGS`, `ID` → `ID`).
fn default_header(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let mut out = String::with_capacity(key.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if i > 0 && c.is_uppercase() {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower) {
                out.push(' ');
            }
        }
        out.extend(c.to_uppercase());
    }
    out
}

/// Prints records to `W` in a [`Format`]. JSON and templates stream; a table buffers its
/// rows to align them and prints them, header first, in [`Output::finish`] (which must be
/// called: a dropped table prints nothing). Write errors keep their `io_kind()`, so a
/// closed pipe (`| head`) can be told apart.
pub struct Output<W: Write> {
    format: Format,
    columns: Vec<Column>,
    /// Names for keys a custom table may use beyond the default columns.
    headers: Vec<Column>,
    writer: W,
    /// A table's rows, tab-separated, one a line.
    rows: String,
}

impl<W: Write> Output<W> {
    /// Prints in `format` to `writer`; `columns` are the default table's columns, and
    /// also name the headers of a custom table's fields.
    pub fn new(format: Format, columns: &[Column], writer: W) -> Output<W> {
        Output {
            format,
            columns: columns.to_vec(),
            headers: Vec::new(),
            writer,
            rows: String::new(),
        }
    }

    /// Adds header names for keys outside the default columns, so that `table {{.Digest}}`
    /// heads its column `DIGEST` as docker does. Keys named nowhere get docker-like headers (`RepoTags` → `REPO TAGS`).
    pub fn headers(mut self, known: &[Column]) -> Output<W> {
        self.headers.extend_from_slice(known);
        self
    }

    fn header_for(&self, key: &str) -> String {
        self.columns
            .iter()
            .chain(&self.headers)
            .find(|c| c.key == key)
            .map_or_else(|| default_header(key), |c| c.header.to_string())
    }

    fn emit(&mut self, text: &str) -> Result<()> {
        self.writer
            .write_all(text.as_bytes())
            .map_err(|e| Error::io(e, "writing output"))
    }

    /// Prints one record (a table keeps it until [`Output::finish`]).
    pub fn write(&mut self, record: &Value) -> Result<()> {
        match &self.format {
            Format::Json => {
                let mut line = serde_json::to_string(record).map_err(|e| {
                    Error::new(crate::ErrorKind::InvalidRecord, e.to_string())
                        .context("writing a json line")
                })?;
                line.push('\n');
                self.emit(&line)
            }
            Format::Template(t) => {
                let mut text = t.render(record)?;
                text.push('\n');
                self.emit(&text)
            }
            Format::Table(Some(t)) => {
                let row = t.render(record)?;
                self.rows.push_str(&row);
                self.rows.push('\n');
                Ok(())
            }
            Format::Table(None) => {
                // Default columns print what the record holds; nothing for a missing cell.
                let cells: Vec<String> = self
                    .columns
                    .iter()
                    .map(|c| match record.get(c.key) {
                        None | Some(Value::Null) => String::new(),
                        Some(v) => template::display(v),
                    })
                    .collect();
                self.rows.push_str(&cells.join("\t"));
                self.rows.push('\n');
                Ok(())
            }
        }
    }

    /// Prints a table (header line, then its rows, aligned; the header even with no rows,
    /// as docker does) and flushes the writer.
    pub fn finish(mut self) -> Result<()> {
        let header = match &self.format {
            Format::Table(None) => Some(
                self.columns
                    .iter()
                    .map(|c| c.header)
                    .collect::<Vec<_>>()
                    .join("\t"),
            ),
            Format::Table(Some(t)) => Some(t.render_header(&|key| self.header_for(key))),
            _ => None,
        };
        if let Some(header) = header {
            let text = format!("{header}\n{}", self.rows);
            let aligned = table::align(&text, MIN_WIDTH, PADDING);
            self.emit(&aligned)?;
        }
        self.writer
            .flush()
            .map_err(|e| Error::io(e, "writing output"))
    }
}

#[cfg(test)]
mod tests;
