//! The functions a template can call: Go's builtins (`index`, `printf`, `eq`, …) and
//! docker's (`json`, `join`, `split`, `upper`, `lower`, `title`, `pad`, `truncate`).
//! `and` and `or` evaluate lazily, so the executor runs them itself.

use super::gofmt::{self, as_int, go_type};
use super::typed;
use serde_json::Value;
use std::cmp::Ordering;

const NAMES: &[&str] = &[
    "and", "or", "not", "len", "index", "slice", "printf", "print", "println", "eq", "ne", "lt",
    "le", "gt", "ge", "html", "js", "urlquery", "json", "join", "split", "upper", "lower", "title",
    "pad", "truncate",
];

/// Docker's table headers run through these unchanged (`{{upper .Name}}` heads `NAME`);
/// `pad` still pads so headers line up with their cells.
const HEADER_IDENTITY: &[&str] = &[
    "json", "split", "join", "title", "lower", "upper", "truncate",
];

/// Whether `name` is a function templates may call.
pub(crate) fn exists(name: &str) -> bool {
    NAMES.contains(&name)
}

/// Go's truthiness: false, 0, "", nil, and empty lists and maps are false.
pub(crate) fn truth(v: &Value) -> bool {
    if typed::is_wrapped(v) {
        return truth(typed::plain(v));
    }
    if typed::is_marked(v) {
        // A struct is always true; a nil pointer, slice or map is false, and so is an
        // empty map.
        return match v {
            Value::Object(o) if typed::is_map(v) => typed::fields(o).next().is_some(),
            v => !typed::is_nil(v),
        };
    }
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn arity(name: &str, args: &[Value], want: usize) -> Result<(), String> {
    if args.len() == want {
        return Ok(());
    }
    Err(format!(
        "wrong number of args for {name}: want {want} got {}",
        args.len()
    ))
}

fn at_least(name: &str, args: &[Value], want: usize) -> Result<(), String> {
    if args.len() >= want {
        return Ok(());
    }
    Err(format!(
        "wrong number of args for {name}: want at least {want} got {}",
        args.len()
    ))
}

/// A string parameter; null reads as "" (a missing optional field).
fn string(v: &Value) -> Result<&str, String> {
    match v {
        Value::String(s) => Ok(s),
        Value::Null => Ok(""),
        v => Err(format!(
            "wrong type for value; expected string; got {}",
            go_type(v)
        )),
    }
}

fn int(v: &Value) -> Result<i128, String> {
    match v {
        Value::Number(n) => as_int(n),
        _ => None,
    }
    .ok_or_else(|| format!("wrong type for value; expected int; got {}", go_type(v)))
}

/// Calls the function `name` (not `and`/`or`) on evaluated arguments. In header mode
/// docker's string functions return their argument, so headers stay headers.
pub(crate) fn call(name: &str, args: &[Value], header: bool) -> Result<Value, String> {
    if header && HEADER_IDENTITY.contains(&name) {
        at_least(name, args, 1)?;
        return Ok(args[0].clone());
    }
    // Functions see a typed slice or named scalar as its plain value; the printing ones
    // keep the type, for `%T` and for a `time.Duration`'s `30s`.
    let plain: Vec<Value>;
    let args = if matches!(name, "printf" | "print" | "println" | "json")
        || !args.iter().any(typed::is_wrapped)
    {
        args
    } else {
        plain = args.iter().map(|a| typed::plain(a).clone()).collect();
        &plain[..]
    };
    let calling = |e: String| format!("error calling {name}: {e}");
    let s = |s: String| Ok(Value::String(s));
    match name {
        "not" => {
            arity(name, args, 1)?;
            Ok(Value::Bool(!truth(&args[0])))
        }
        "len" => {
            arity(name, args, 1)?;
            let n = match &args[0] {
                v if typed::is_nil(v) && !go_type(v).starts_with('*') => 0,
                Value::Object(o) if typed::is_map(&args[0]) => typed::fields(o).count(),
                v if typed::is_marked(v) => {
                    return Err(calling(format!("len of type {}", go_type(v))));
                }
                Value::String(s) => s.len(),
                Value::Array(a) => a.len(),
                Value::Object(o) => o.len(),
                // A missing key, or `nil`: Go's invalid value, which its `len` fails on
                // (as docker 28's Go words it, checked with `docker context inspect -f`).
                Value::Null => {
                    return Err(calling(
                        "reflect: call of reflect.Value.Type on zero Value".into(),
                    ));
                }
                v => return Err(calling(format!("len of type {}", go_type(v)))),
            };
            Ok(Value::from(n))
        }
        "index" => {
            at_least(name, args, 1)?;
            args[1..]
                .iter()
                .try_fold(args[0].clone(), |item, key| index(&item, key))
                .map_err(calling)
        }
        "slice" => {
            at_least(name, args, 1)?;
            slice(&args[0], &args[1..]).map_err(calling)
        }
        "printf" => {
            at_least(name, args, 1)?;
            s(gofmt::sprintf(string(&args[0])?, &args[1..]))
        }
        "print" => s(gofmt::sprint(args)),
        "println" => s(gofmt::sprintln(args)),
        "eq" => {
            at_least(name, args, 1)?;
            if args.len() == 1 {
                return Err(calling("missing argument for comparison".into()));
            }
            for b in &args[1..] {
                if compare(&args[0], b, false).map_err(calling)? == Some(Ordering::Equal) {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            arity(name, args, 2)?;
            let ord = compare(&args[0], &args[1], name != "ne").map_err(calling)?;
            Ok(Value::Bool(match name {
                "ne" => ord != Some(Ordering::Equal),
                "lt" => ord == Some(Ordering::Less),
                "le" => ord != Some(Ordering::Greater),
                "gt" => ord == Some(Ordering::Greater),
                _ => ord != Some(Ordering::Less),
            }))
        }
        "html" => s(html(&joined(args))),
        "js" => s(js(&joined(args))),
        "urlquery" => s(urlquery(&joined(args))),
        "json" => {
            arity(name, args, 1)?;
            let text = serde_json::to_string(&typed::to_json(&args[0]))
                .map_err(|e| calling(e.to_string()))?;
            // Go's encoder escapes these two even with HTML escaping off.
            s(text
                .replace('\u{2028}', "\\u2028")
                .replace('\u{2029}', "\\u2029"))
        }
        "join" => {
            arity(name, args, 2)?;
            let sep = string(&args[1])?;
            match &args[0] {
                Value::Array(items) => {
                    let parts: Vec<String> = items.iter().map(gofmt::display).collect();
                    s(parts.join(sep))
                }
                Value::Null => s(String::new()),
                v if typed::is_nil(v) => s(String::new()),
                v => Err(format!(
                    "wrong type for value; expected []string; got {}",
                    go_type(v)
                )),
            }
        }
        "split" => {
            arity(name, args, 2)?;
            let (text, sep) = (string(&args[0])?, string(&args[1])?);
            let parts: Vec<Value> = if sep.is_empty() {
                text.chars().map(|c| Value::String(c.to_string())).collect()
            } else {
                text.split(sep)
                    .map(|p| Value::String(p.to_string()))
                    .collect()
            };
            Ok(Value::Array(parts))
        }
        "upper" => {
            arity(name, args, 1)?;
            s(string(&args[0])?.to_uppercase())
        }
        "lower" => {
            arity(name, args, 1)?;
            s(string(&args[0])?.to_lowercase())
        }
        "title" => {
            arity(name, args, 1)?;
            s(title(string(&args[0])?))
        }
        "pad" => {
            arity(name, args, 3)?;
            let text = string(&args[0])?;
            let (left, right) = (int(&args[1])?, int(&args[2])?);
            if left < 0 || right < 0 {
                return Err(calling("strings: negative Repeat count".into()));
            }
            if text.is_empty() {
                return s(String::new());
            }
            let rep = |n: i128| " ".repeat(n as usize);
            s(format!("{}{text}{}", rep(left), rep(right)))
        }
        "truncate" => {
            arity(name, args, 2)?;
            let text = string(&args[0])?;
            let n = int(&args[1])?;
            if n < 0 {
                return Err(calling(format!("negative length {n}")));
            }
            // Docker cuts bytes; we cut at the last whole character within them.
            let mut end = (n as usize).min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            s(text[..end].to_string())
        }
        _ => Err(format!("function \"{name}\" not defined")),
    }
}

/// Arguments of `html`, `js` and `urlquery`: one string as is, else printed like `print`.
/// Go's `evalArgs` (what `html`, `js` and `urlquery` escape): one string as it is, else
/// `fmt.Sprint` of the arguments with a missing value (or `nil`) as `<no value>`, as Go's
/// `printableValue` makes it.
fn joined(args: &[Value]) -> String {
    match args {
        [Value::String(s)] => s.clone(),
        _ if args.iter().any(Value::is_null) => {
            let args: Vec<Value> = args
                .iter()
                .map(|a| match a {
                    Value::Null => Value::String("<no value>".into()),
                    a => a.clone(),
                })
                .collect();
            gofmt::sprint(&args)
        }
        _ => gofmt::sprint(args),
    }
}

fn index(item: &Value, key: &Value) -> Result<Value, String> {
    if let Some(ty) = typed::type_name(item) {
        return match (item, key) {
            // A missing key gives the zero value of the map's elements.
            (Value::Object(o), Value::String(k)) if typed::is_map(item) => Ok(o
                .get(k)
                .filter(|_| !typed::is_nil(item) && !k.starts_with('\u{1}'))
                .cloned()
                .unwrap_or_else(|| typed::zero_elem(ty))),
            _ if typed::is_nil(item) && ty.starts_with("[]") => {
                Err(format!("index out of range: {}", gofmt::display(key)))
            }
            _ => Err(format!("can't index item of type {ty}")),
        };
    }
    match item {
        Value::Array(a) => {
            let i = int(key)
                .map_err(|_| format!("cannot index slice/array with type {}", go_type(key)))?;
            usize::try_from(i)
                .ok()
                .and_then(|i| a.get(i))
                .cloned()
                .ok_or_else(|| format!("index out of range: {i}"))
        }
        Value::Object(o) => {
            let Value::String(k) = key else {
                return Err(format!("value has type {}; should be string", go_type(key)));
            };
            // A missing key yields the map's zero value: "" for a map of strings
            // (docker's Labels are map[string]string), else nil.
            Ok(o.get(k).cloned().unwrap_or_else(|| {
                if o.values().all(Value::is_string) {
                    Value::String(String::new())
                } else {
                    Value::Null
                }
            }))
        }
        Value::String(s) => {
            let i =
                int(key).map_err(|_| format!("cannot index string with type {}", go_type(key)))?;
            usize::try_from(i)
                .ok()
                .and_then(|i| s.as_bytes().get(i))
                .map(|&b| Value::from(b))
                .ok_or_else(|| format!("index out of range: {i}"))
        }
        // Docker's nil maps are typed: a nil map of strings indexes to "".
        Value::Null => match key {
            Value::String(_) => Ok(Value::String(String::new())),
            _ => Err(format!("index out of range: {}", gofmt::display(key))),
        },
        v => Err(format!("can't index item of type {}", go_type(v))),
    }
}

fn slice(item: &Value, idx: &[Value]) -> Result<Value, String> {
    let len = match item {
        Value::String(s) => s.len(),
        Value::Array(a) => a.len(),
        Value::Null => return Err("slice of untyped nil".into()),
        v => return Err(format!("can't slice item of type {}", go_type(v))),
    };
    if idx.len() > 3 || (idx.len() == 3 && item.is_string()) {
        return Err(format!("too many slice indexes: {}", idx.len()));
    }
    let mut bounds = Vec::new();
    for v in idx {
        let i = int(v).map_err(|_| format!("cannot index slice/array with type {}", go_type(v)))?;
        match usize::try_from(i).ok().filter(|&i| i <= len) {
            Some(i) => bounds.push(i),
            None => return Err(format!("index out of range: {i}")),
        }
    }
    let lo = bounds.first().copied().unwrap_or(0);
    let hi = bounds.get(1).copied().unwrap_or(len);
    if lo > hi {
        return Err(format!("invalid slice index: {lo} > {hi}"));
    }
    if let Some(&max) = bounds.get(2).filter(|&&max| hi > max) {
        return Err(format!("invalid slice index: {hi} > {max}"));
    }
    Ok(match item {
        Value::String(s) => match s.get(lo..hi) {
            Some(sub) => Value::String(sub.to_string()),
            None => return Err(format!("slice {lo}:{hi} splits a character")),
        },
        Value::Array(a) => Value::Array(a[lo..hi].to_vec()),
        _ => Value::Null,
    })
}

/// Compares two basic values as Go's `eq`/`lt` do; `ordered` rejects bools and nil.
fn compare(a: &Value, b: &Value, ordered: bool) -> Result<Option<Ordering>, String> {
    match (a, b) {
        // Go's basicKind refuses maps, slices and structs: `lt` says so at once.
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_))
            if ordered =>
        {
            Err("invalid type for comparison".into())
        }
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => {
            compare_composite(a, b)
        }
        (Value::Null, _) | (_, Value::Null) | (Value::Bool(_), Value::Bool(_)) if ordered => {
            Err("invalid type for comparison".into())
        }
        (Value::Null, Value::Null) => Ok(Some(Ordering::Equal)),
        (Value::Null, _) | (_, Value::Null) => Ok(None),
        (Value::Bool(x), Value::Bool(y)) => Ok(Some(x.cmp(y))),
        (Value::String(x), Value::String(y)) => Ok(Some(x.cmp(y))),
        // Go compares an int with an int and a float with a float, never across.
        (Value::Number(x), Value::Number(y)) if x.is_f64() != y.is_f64() => {
            Err("incompatible types for comparison".into())
        }
        (Value::Number(x), Value::Number(y)) => Ok(match (as_int(x), as_int(y)) {
            (Some(i), Some(j)) => Some(i.cmp(&j)),
            _ => x
                .as_f64()
                .zip(y.as_f64())
                .and_then(|(f, g)| f.partial_cmp(&g)),
        }),
        _ => Err("incompatible types for comparison".into()),
    }
}

/// Go's `eq` where a side is a map, slice or struct (Go's basicKind gives such values and
/// nil one kind): against a basic value it is `incompatible types`; two of different
/// types are `non-comparable types`; when a side is nil (`nil`, a missing value, a nil
/// map or slice) they are equal only when both are; two non-nil maps or slices are
/// `non-comparable type`; two structs compare by their fields.
fn compare_composite(a: &Value, b: &Value) -> Result<Option<Ordering>, String> {
    let composite = |v: &Value| v.is_null() || v.is_array() || v.is_object();
    if !composite(a) || !composite(b) {
        return Err("incompatible types for comparison".into());
    }
    let pct_s = |v: &Value| gofmt::sprintf("%s", std::slice::from_ref(v));
    if !a.is_null() && !b.is_null() && go_type(a) != go_type(b) {
        return Err(format!(
            "non-comparable types {}: {}, {}: {}",
            pct_s(a),
            go_type(a),
            go_type(b),
            gofmt::display(b)
        ));
    }
    let nil = |v: &Value| v.is_null() || typed::is_nil(v);
    if nil(a) || nil(b) {
        return Ok((nil(a) == nil(b)).then_some(Ordering::Equal));
    }
    if !comparable(b) {
        return Err(format!("non-comparable type {}: {}", pct_s(b), go_type(b)));
    }
    Ok((a == b).then_some(Ordering::Equal))
}

/// Whether Go's `==` takes values of `v`'s type: not a map or a slice, nor a struct
/// holding one.
fn comparable(v: &Value) -> bool {
    if typed::is_map(v) {
        return false;
    }
    match v {
        Value::Array(_) => false,
        Value::Object(o) if typed::is_struct(v) => typed::fields(o).all(|(_, f)| comparable(f)),
        Value::Object(_) => false,
        _ => true,
    }
}

/// Go's `strings.Title`: upper-cases the first letter of every word.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_sep = true;
    for c in s.chars() {
        if prev_sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_sep = if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else {
            c.is_whitespace()
        };
    }
    out
}

/// Go's `template.HTMLEscapeString`.
fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\0' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Go's `template.JSEscapeString`.
fn js(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' | '>' | '&' | '=' => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if !c.is_ascii() && !go_printable(c) => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Go's `url.QueryEscape`.
/// Go's `unicode.IsPrint` for non-ASCII characters, as far as Rust's std can tell it:
/// controls, spaces other than U+0020 (U+00A0, U+2028, …), format characters (U+00AD,
/// U+200B–U+200F, U+202A–U+202E, U+2060–U+206F, U+FEFF, U+FFF9–U+FFFB), private use and
/// noncharacters are not printable.
fn go_printable(c: char) -> bool {
    let u = c as u32;
    !(c.is_control()
        || c.is_whitespace()
        || u == 0xAD
        || (0x200B..=0x200F).contains(&u)
        || (0x202A..=0x202E).contains(&u)
        || (0x2060..=0x206F).contains(&u)
        || u == 0xFEFF
        || (0xFFF9..=0xFFFB).contains(&u)
        || (0xE000..=0xF8FF).contains(&u)
        || u >= 0xF0000
        || (0xFDD0..=0xFDEF).contains(&u)
        || (0xFDFE..=0xFDFF).contains(&u)
        || (u & 0xFFFE) == 0xFFFE)
}

fn urlquery(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
#[path = "funcs_tests.rs"]
mod tests;
