//! Go's text/template, as docker's `--format` uses it, evaluated over JSON records.
//!
//! ```
//! use img_core::template::Template;
//! let t = Template::parse(r#"{{.Repository}}:{{.Tag}} {{join .Names ","}}"#).unwrap();
//! let rec = serde_json::json!({"Repository": "alpine", "Tag": "3.20", "Names": ["a", "b"]});
//! assert_eq!(t.render(&rec).unwrap(), "alpine:3.20 a,b");
//! ```
//!
//! What is covered: text and actions, `{{-`/`-}}` trim markers, `{{/* comments */}}`,
//! field chains (`.A.B`, `$.A`, `$x.A`, `(pipeline).A`), variables (`$x := …`, `$x = …`),
//! `if`/`else if`/`else`, `with`/`else with`/`else`, `range` (lists, maps in sorted key
//! order, integers; `$i, $e :=`; `break`, `continue`), pipes, parentheses, string, raw
//! string, character, number, bool and nil literals. Functions: Go's `and or not len index
//! slice printf print println eq ne lt le gt ge html js urlquery` and docker's `json join
//! split upper lower title pad truncate`. `define`, `template` and `block` are refused.
//!
//! Over Go-typed data ([`typed`], what `img-inspect` gives, as docker types its inspect
//! object) values print as Go prints them; [`Template::render_typed`] falls back to the plain
//! JSON record as docker falls back to the daemon's JSON. Over plain JSON records, where
//! JSON differs from docker's Go structs, these choices hold:
//! - a missing key is an error naming the key (`map has no entry for key "Foo"`), as a
//!   missing struct field is in docker; a field of `null` is `null`;
//! - `null` prints as `<no value>` (inside lists and maps, and in `printf`, as `<nil>`);
//! - numbers print as integers when integral, otherwise as Go prints a float64;
//! - `index` of a missing key gives `""` when the map holds only strings (docker's labels
//!   are `map[string]string`), and `index` of `null` by a string key gives `""`;
//! - string parameters of functions read `null` as `""`; `truncate` never splits a character;
//! - as in Go, `null` (a missing value, `nil`) fails `len`, prints `<no value>` through
//!   `html`, `js` and `urlquery`, and is the only thing `eq` compares a map or a slice with
//!   (two non-nil maps are Go's `non-comparable type`).
//!
//! Errors are [`ErrorKind::Template`] worded as Go's, so they read as docker's do: a
//! malformed template names its line (`template: :1: unexpected "}" in operand`), a failing
//! one its line, byte column and node (`template: :1:2: executing "" at <.Nope>: map has no
//! entry for key "Nope"`).

mod exec;
mod funcs;
mod gofmt;
mod lex;
mod parse;
pub mod typed;

use crate::error::{Error, ErrorKind, Result};
use serde_json::Value;
use std::fmt;

pub(crate) use gofmt::{display, format_g};

/// A parsed template, ready to render records.
#[derive(Clone)]
pub struct Template {
    src: String,
    nodes: Vec<parse::Node>,
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Template").field(&self.src).finish()
    }
}

/// A parse error of kind [`ErrorKind::Template`] at byte offset `pos` of `src`, worded as
/// Go's parser words it for docker's unnamed template: `template: :1: unexpected "}" in
/// operand`.
fn parse_error(src: &str, pos: usize, msg: &str) -> Error {
    let (line, _) = place(src, pos);
    Error::new(ErrorKind::Template, format!("template: :{line}: {msg}"))
}

/// A runtime error, worded as Go's executor words it: the line, the byte offset in that
/// line and the node being evaluated: `template: :1:2: executing "" at <.Nope>: map has
/// no entry for key "Nope"`.
fn exec_error(src: &str, e: &exec::ExecError) -> Error {
    let (line, col) = place(src, e.pos);
    Error::new(
        ErrorKind::Template,
        format!(
            "template: :{line}:{col}: executing \"\" at <{}>: {}",
            e.node, e.msg
        ),
    )
}

/// The 1-based line of byte offset `pos`, and the offset from that line's start (Go's
/// column, counted in bytes from 0).
fn place(src: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(src.len());
    let before = src.get(..pos).unwrap_or(src);
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(pos, |nl| pos - nl - 1);
    (line, col)
}

impl Template {
    /// Parses `src`; a malformed template is an [`ErrorKind::Template`] error naming the column.
    pub fn parse(src: &str) -> Result<Template> {
        let toks = lex::lex(src);
        let nodes = parse::parse(toks).map_err(|e| parse_error(src, e.pos, &e.msg))?;
        Ok(Template {
            src: src.to_string(),
            nodes,
        })
    }

    /// The text the template was parsed from.
    pub fn source(&self) -> &str {
        &self.src
    }

    /// Renders the template over `data` (dot and `$` start as `data`).
    pub fn render(&self, data: &Value) -> Result<String> {
        let mut out = String::new();
        exec::execute(&self.nodes, data, None, false, &mut out)
            .map_err(|e| exec_error(&self.src, &e))?;
        Ok(out)
    }

    /// Renders over a Go-typed value (see [`typed`]), as docker's CLI runs a template over
    /// the struct it decoded; when that fails, renders over `raw`, the record as plain JSON,
    /// as docker falls back to the daemon's JSON (where a missing key is an error).
    pub fn render_typed(&self, data: &Value, raw: &Value) -> Result<String> {
        let mut out = String::new();
        match exec::execute(&self.nodes, data, None, true, &mut out) {
            Ok(()) => Ok(out),
            Err(_) => self.render(raw),
        }
    }

    /// Renders a table's header line from its row template, as docker does: each field
    /// names its column through `header`, and docker's string functions leave the name
    /// as is. Like docker, a failure keeps what was rendered before it.
    pub(crate) fn render_header(&self, header: &dyn Fn(&str) -> String) -> String {
        let mut out = String::new();
        let _ = exec::execute(&self.nodes, &Value::Null, Some(header), false, &mut out);
        out
    }
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
