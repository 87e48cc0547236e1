//! Go-typed values inside JSON: structs, nil pointers, nil slices and maps, and times, so a
//! template over docker's typed inspect object prints what docker's Go prints.
//!
//! docker's CLI decodes the daemon's answer into Go structs before running a template, so
//! every field exists even when unset and prints as Go prints it (`map[]`, `[]`, `<nil>`,
//! `{layers [sha256:…]}`), and `{{json .Config}}` drops the `omitempty` fields that are unset.
//! A [`Typed`] builder marks such values inside a [`serde_json::Value`] with keys that start
//! with `\u{1}` (no JSON record img reads has them), and the executor, the printer and the
//! functions read the marks:
//!
//! - a struct is an object whose first key is [`TYPE`] (its Go type name, `*` first for a
//!   pointer), then optionally [`TAGS`] (its fields' json names and `omitempty`, and which
//!   fields are embedded), then its fields by Go name in Go's order;
//! - a nil pointer, slice or map is `{TYPE: "…", NIL: true}`;
//! - a `time.Time` is `{TYPE: "time.Time", TIME: "RFC 3339 text"}`;
//! - a typed slice or a named scalar type is `{TYPE: "[]string", VALUE: [...]}` or
//!   `{TYPE: "time.Duration", VALUE: 30000000000}`: functions see the plain value, while
//!   `printf "%T"` names the type and a `time.Duration` prints as Go's `30s`.

use serde_json::{Map, Value};

/// The Go type name of a marked value.
pub(crate) const TYPE: &str = "\u{1}T";
/// Marks a nil pointer, slice or map.
pub(crate) const NIL: &str = "\u{1}nil";
/// A struct's json tags: Go name → `name`, `name,omitempty`, `,omitempty` or `-embed`.
pub(crate) const TAGS: &str = "\u{1}J";
/// A time's RFC 3339 text.
pub(crate) const TIME: &str = "\u{1}time";
/// The plain value of a typed slice or named scalar.
pub(crate) const VALUE: &str = "\u{1}v";
/// What `json` writes for a struct whose Go type marshals itself (a `MarshalJSON`
/// method), when that differs from what its fields show a template.
pub(crate) const JSON_AS: &str = "\u{1}jsonas";

/// How a struct field is written by `encoding/json`.
#[derive(Clone, Copy, PartialEq)]
pub enum Tag {
    /// Under its Go name, always.
    Plain,
    /// Under its Go name, left out when it is the zero value.
    OmitEmpty,
    /// Under another name, always.
    Renamed(&'static str),
    /// An embedded struct: its fields are written as the outer struct's.
    Embedded,
}

/// Builds a Go struct value field by field, in Go's field order.
pub struct Typed {
    obj: Map<String, Value>,
    tags: Map<String, Value>,
}

impl Typed {
    /// A struct of Go type `name` (`image.RootFS`, or `*v1.Descriptor` for a pointer).
    pub fn strukt(name: &str) -> Typed {
        let mut obj = Map::new();
        obj.insert(TYPE.into(), Value::String(name.into()));
        Typed {
            obj,
            tags: Map::new(),
        }
    }

    /// Adds a field.
    pub fn field(mut self, name: &str, tag: Tag, value: Value) -> Typed {
        let t = match tag {
            Tag::Plain => None,
            Tag::OmitEmpty => Some(",omitempty".to_string()),
            Tag::Renamed(n) => Some(n.to_string()),
            Tag::Embedded => Some("-embed".to_string()),
        };
        if let Some(t) = t {
            self.tags.insert(name.into(), Value::String(t));
        }
        self.obj.insert(name.into(), value);
        self
    }

    /// What `json` writes for this struct instead of its fields: for a Go type with its
    /// own `MarshalJSON` (docker's search context shows `IsOfficial` as `[OK]` to a
    /// template, while `{{json .}}` says `"true"`).
    pub fn json_as(mut self, value: Value) -> Typed {
        self.obj.insert(JSON_AS.into(), value);
        self
    }

    /// The finished struct.
    pub fn build(mut self) -> Value {
        if !self.tags.is_empty() {
            let mut obj = Map::new();
            let ty = self.obj.shift_remove(TYPE).unwrap_or(Value::Null);
            obj.insert(TYPE.into(), ty);
            obj.insert(TAGS.into(), Value::Object(self.tags));
            obj.extend(self.obj);
            return Value::Object(obj);
        }
        Value::Object(self.obj)
    }
}

/// A nil pointer, slice or map of Go type `name` (`*v1.HealthcheckConfig`, `[]string`).
pub fn nil(name: &str) -> Value {
    let mut obj = Map::new();
    obj.insert(TYPE.into(), Value::String(name.into()));
    obj.insert(NIL.into(), Value::Bool(true));
    Value::Object(obj)
}

/// A `time.Time` written as RFC 3339 text.
pub fn time(rfc3339: &str) -> Value {
    let mut obj = Map::new();
    obj.insert(TYPE.into(), Value::String("time.Time".into()));
    obj.insert(TIME.into(), Value::String(rfc3339.into()));
    Value::Object(obj)
}

/// A list of strings typed `[]string`, or a nil `[]string` for `None`.
pub fn strings(v: Option<&[String]>) -> Value {
    match v {
        Some(v) => list("[]string", v.iter().cloned().map(Value::String).collect()),
        None => nil("[]string"),
    }
}

/// A non-nil slice of Go type `name` (`[]image.ManifestSummary`).
pub fn list(name: &str, items: Vec<Value>) -> Value {
    wrapped(name, Value::Array(items))
}

/// A `time.Duration` of `nanos`: prints as Go's `1m30s`, is a number to `json` and `eq`.
pub fn duration(nanos: i64) -> Value {
    wrapped(DURATION, Value::from(nanos))
}

const DURATION: &str = "time.Duration";

fn wrapped(name: &str, value: Value) -> Value {
    let mut obj = Map::new();
    obj.insert(TYPE.into(), Value::String(name.into()));
    obj.insert(VALUE.into(), value);
    Value::Object(obj)
}

/// Whether `v` is a typed slice or named scalar (see [`list`], [`duration`]).
pub(crate) fn is_wrapped(v: &Value) -> bool {
    matches!(v, Value::Object(o) if o.contains_key(VALUE))
}

/// The plain value of a typed slice or named scalar; any other value as it is.
pub(crate) fn plain(v: &Value) -> &Value {
    match v {
        Value::Object(o) => o.get(VALUE).unwrap_or(v),
        v => v,
    }
}

/// What Go's `String` method gives for a named scalar that has one (`time.Duration`).
pub(crate) fn stringer(v: &Value) -> Option<String> {
    if type_name(v) != Some(DURATION) {
        return None;
    }
    plain(v).as_i64().map(duration_string)
}

/// Go's `time.Duration.String()`: `0s`, `1.5µs`, `250ms`, `30s`, `1m30s`, `1h0m0s`.
pub(crate) fn duration_string(nanos: i64) -> String {
    // Whole units and a fraction of `scale` with its trailing zeros dropped.
    fn frac(n: u128, scale: u128) -> String {
        let (whole, part) = (n / scale, n % scale);
        if part == 0 {
            return whole.to_string();
        }
        let width = scale.ilog10() as usize;
        let digits = format!("{part:0width$}");
        format!("{whole}.{}", digits.trim_end_matches('0'))
    }
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = u128::from(nanos.unsigned_abs());
    let body = match n {
        n if n < 1_000 => format!("{n}ns"),
        n if n < 1_000_000 => format!("{}µs", frac(n, 1_000)),
        n if n < 1_000_000_000 => format!("{}ms", frac(n, 1_000_000)),
        n => {
            let secs = n / 1_000_000_000;
            let (h, m) = (secs / 3600, secs / 60 % 60);
            let s = frac(n % 60_000_000_000, 1_000_000_000);
            match (h, m) {
                (0, 0) => format!("{s}s"),
                (0, m) => format!("{m}m{s}s"),
                (h, m) => format!("{h}h{m}m{s}s"),
            }
        }
    };
    format!("{sign}{body}")
}

/// The Go type name of a marked value.
pub(crate) fn type_name(v: &Value) -> Option<&str> {
    match v {
        Value::Object(o) => o.get(TYPE).and_then(Value::as_str),
        _ => None,
    }
}

/// Whether `v` is a nil pointer, slice or map.
pub(crate) fn is_nil(v: &Value) -> bool {
    matches!(v, Value::Object(o) if o.contains_key(NIL))
}

/// Whether `v` is a (non-nil) struct or pointer to one.
pub(crate) fn is_struct(v: &Value) -> bool {
    matches!(v, Value::Object(o) if o.contains_key(TYPE) && !o.contains_key(NIL) && !o.contains_key(VALUE))
        && !is_map(v)
}

/// Whether `v` is a typed map, nil or not.
pub(crate) fn is_map(v: &Value) -> bool {
    type_name(v).is_some_and(|t| t.starts_with("map["))
}

/// A typed map (`map[string]string`) of `entries`.
pub fn map(name: &str, entries: impl IntoIterator<Item = (String, Value)>) -> Value {
    let mut obj = Map::new();
    obj.insert(TYPE.into(), Value::String(name.into()));
    obj.extend(entries);
    Value::Object(obj)
}

/// The zero value of a typed map's elements, what indexing a missing key gives.
pub(crate) fn zero_elem(map_type: &str) -> Value {
    match map_type.split_once(']').map(|(_, e)| e) {
        Some("string") => Value::String(String::new()),
        Some("struct {}") => Typed::strukt("struct {}").build(),
        Some("bool") => Value::Bool(false),
        Some("int" | "int64" | "uint64") => Value::from(0),
        _ => Value::Null,
    }
}

/// Whether `v` is a marked value of any kind.
pub(crate) fn is_marked(v: &Value) -> bool {
    type_name(v).is_some()
}

/// What looking up a field of a struct finds.
pub(crate) enum Field<'a> {
    /// The field's value.
    Found(&'a Value),
    /// The struct has no such field (Go: `can't evaluate field X in type T`).
    NoField,
}

/// The field `name` of struct `o`, through embedded structs as Go promotes them.
pub(crate) fn field<'a>(o: &'a Map<String, Value>, name: &str) -> Field<'a> {
    if !name.starts_with('\u{1}')
        && let Some(v) = o.get(name)
    {
        return Field::Found(v);
    }
    for (k, v) in o {
        if tag_of(o, k) == Some("-embed")
            && let Value::Object(inner) = v
            && let Field::Found(f) = field(inner, name)
        {
            return Field::Found(f);
        }
    }
    Field::NoField
}

fn tag_of<'a>(o: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    o.get(TAGS).and_then(|t| t.get(k)).and_then(Value::as_str)
}

/// A struct's fields in order, without the marks.
pub(crate) fn fields(o: &Map<String, Value>) -> impl Iterator<Item = (&String, &Value)> {
    o.iter().filter(|(k, _)| !k.starts_with('\u{1}'))
}

/// Go's `time.Time.String()` of RFC 3339 text: `2024-08-01 10:00:00.5 +0000 UTC`.
pub(crate) fn time_string(rfc3339: &str) -> String {
    let Ok(ts) = rfc3339.parse::<jiff::Timestamp>() else {
        return rfc3339.to_string();
    };
    // The offset as written: Go keeps the zone it parsed (`Z` is UTC).
    let (offset, zone) = match rfc3339.get(rfc3339.len().saturating_sub(6)..) {
        Some(tail) if tail.starts_with(['+', '-']) && tail.as_bytes().get(3) == Some(&b':') => {
            let o = tail.replace(':', "");
            (tail.to_string(), o)
        }
        _ => ("+00:00".to_string(), "UTC".to_string()),
    };
    let off = parse_offset(&offset);
    let dt = off.to_datetime(ts);
    let frac = dt.subsec_nanosecond();
    let mut out = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    );
    if frac != 0 {
        let f = format!("{frac:09}");
        out.push('.');
        out.push_str(f.trim_end_matches('0'));
    }
    out.push(' ');
    out.push_str(&offset.replace(':', ""));
    out.push(' ');
    out.push_str(&zone);
    out
}

fn parse_offset(text: &str) -> jiff::tz::Offset {
    let sign = if text.starts_with('-') { -1 } else { 1 };
    let h: i32 = text.get(1..3).and_then(|s| s.parse().ok()).unwrap_or(0);
    let m: i32 = text.get(4..6).and_then(|s| s.parse().ok()).unwrap_or(0);
    jiff::tz::Offset::from_seconds(sign * (h * 3600 + m * 60)).unwrap_or(jiff::tz::Offset::UTC)
}

/// What `encoding/json` writes for a value: marks gone, nil as `null`, times as text,
/// embedded fields inline, and `omitempty` fields left out when empty.
pub(crate) fn to_json(v: &Value) -> Value {
    match v {
        Value::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        Value::Object(o) if o.contains_key(JSON_AS) => {
            o.get(JSON_AS).cloned().unwrap_or(Value::Null)
        }
        Value::Object(o) if o.contains_key(NIL) => Value::Null,
        Value::Object(o) if o.contains_key(VALUE) => to_json(plain(v)),
        Value::Object(o) if o.contains_key(TIME) => o.get(TIME).cloned().unwrap_or(Value::Null),
        v @ Value::Object(o) if is_map(v) => {
            Value::Object(fields(o).map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
        Value::Object(o) if o.contains_key(TYPE) => {
            let mut out = Map::new();
            struct_json(o, &mut out);
            Value::Object(out)
        }
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
        v => v.clone(),
    }
}

fn struct_json(o: &Map<String, Value>, out: &mut Map<String, Value>) {
    for (k, v) in fields(o) {
        let tag = tag_of(o, k).unwrap_or("");
        if tag == "-embed" {
            if let Value::Object(inner) = v {
                struct_json(inner, out);
            }
            continue;
        }
        let (name, opts) = tag.split_once(',').unwrap_or((tag, ""));
        if opts == "omitempty" && is_empty(v) {
            continue;
        }
        let name = if name.is_empty() { k.as_str() } else { name };
        out.insert(name.to_string(), to_json(v));
    }
}

/// `encoding/json`'s idea of empty for `omitempty`: false, 0, "", nil, and empty lists
/// and maps (a struct is never empty).
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) if o.contains_key(NIL) => true,
        Value::Object(o) if o.contains_key(VALUE) => is_empty(plain(v)),
        v @ Value::Object(o) if is_map(v) => fields(o).next().is_none(),
        Value::Object(o) if o.contains_key(TYPE) => false,
        Value::Object(o) => o.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn time_prints_as_go_prints_it() {
        assert_eq!(
            time_string("2026-11-29T11:11:17.044946539Z"),
            "2026-11-29 11:11:17.044946539 +0000 UTC"
        );
        assert_eq!(
            time_string("0001-01-01T00:00:00Z"),
            "0001-01-01 00:00:00 +0000 UTC"
        );
        assert_eq!(
            time_string("2024-01-02T03:04:05.5+02:00"),
            "2024-01-02 03:04:05.5 +0200 +0200"
        );
    }

    #[test]
    fn templates_print_typed_values_as_go() {
        use crate::template::Template;
        let cfg = Typed::strukt("*v1.C")
            .field("Labels", Tag::OmitEmpty, nil("map[string]string"))
            .field("Cmd", Tag::OmitEmpty, strings(None))
            .field("Health", Tag::OmitEmpty, nil("*v1.H"))
            .field(
                "Ports",
                Tag::OmitEmpty,
                map(
                    "map[string]struct {}",
                    [("80/tcp".to_string(), Typed::strukt("struct {}").build())],
                ),
            )
            .build();
        let root = Typed::strukt("image.InspectResponse")
            .field("Config", Tag::Plain, cfg)
            .field("When", Tag::Plain, time("0001-01-01T00:00:00Z"))
            .build();
        let raw = json!({"Raw": "yes"});
        let r = |t: &str| Template::parse(t).unwrap().render_typed(&root, &raw);
        assert_eq!(
            r("{{.Config.Labels}} {{.Config.Cmd}} {{.Config.Health}}").unwrap(),
            "map[] [] <nil>"
        );
        assert_eq!(
            r("{{.Config.Ports}} {{.Config.Labels.x}}").unwrap(),
            "map[80/tcp:{}] <no value>"
        );
        assert_eq!(r("{{.Config}}").unwrap(), "{map[] [] <nil> map[80/tcp:{}]}");
        assert_eq!(
            r(r#"{{printf "%v|%T" .Config .When}}"#).unwrap(),
            "&{map[] [] <nil> map[80/tcp:{}]}|time.Time"
        );
        assert_eq!(r("{{json .Config}}").unwrap(), r#"{"Ports":{"80/tcp":{}}}"#);
        assert_eq!(r("{{.When}}").unwrap(), "0001-01-01 00:00:00 +0000 UTC");
        assert_eq!(
            r(r#"{{index .Config.Labels "k"}}|{{len .Config.Ports}}"#).unwrap(),
            "|1"
        );
        // An unknown field falls back to the raw record, where a missing key is an error.
        assert_eq!(r("{{.Raw}}").unwrap(), "yes");
        assert!(
            r("{{.Nope}}")
                .unwrap_err()
                .to_string()
                .contains("map has no entry for key \"Nope\"")
        );
        assert!(r("{{range .Config}}{{end}}").is_err());
    }

    #[test]
    fn durations_print_as_go_prints_them() {
        let cases = [
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5µs"),
            (250_000_000, "250ms"),
            (1_000_000_000, "1s"),
            (1_500_000_000, "1.5s"),
            (30_000_000_000, "30s"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_723_000_000_001, "1h2m3.000000001s"),
            (-5_000_000_000, "-5s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
        ];
        for (nanos, text) in cases {
            assert_eq!(duration_string(nanos), text, "{nanos}");
        }
    }

    #[test]
    fn typed_lists_and_durations_act_as_go_values() {
        use crate::template::Template;
        let h = Typed::strukt("*v1.HealthcheckConfig")
            .field(
                "Test",
                Tag::OmitEmpty,
                strings(Some(&["CMD".into(), "/x".into()])),
            )
            .field("Interval", Tag::OmitEmpty, duration(90_000_000_000))
            .field("Timeout", Tag::OmitEmpty, duration(0))
            .field("Retries", Tag::OmitEmpty, json!(3))
            .build();
        let root = Typed::strukt("T").field("H", Tag::Plain, h).build();
        let r = |t: &str| {
            Template::parse(t)
                .unwrap()
                .render_typed(&root, &json!({}))
                .unwrap()
        };
        assert_eq!(r("{{.H}}"), "{[CMD /x] 1m30s 0s 3}");
        assert_eq!(
            r("{{json .H}}"),
            r#"{"Test":["CMD","/x"],"Interval":90000000000,"Retries":3}"#
        );
        assert_eq!(
            r(
                r#"{{printf "%T|%T|%v|%d|%s|%q" .H.Test .H.Interval .H.Interval .H.Interval .H.Interval .H.Test}}"#
            ),
            r#"[]string|time.Duration|1m30s|90000000000|1m30s|["CMD" "/x"]"#
        );
        assert_eq!(
            r(
                r#"{{len .H.Test}} {{index .H.Test 1}} {{join .H.Test ","}} {{range .H.Test}}<{{.}}>{{end}}"#
            ),
            "2 /x CMD,/x <CMD></x>"
        );
        assert_eq!(
            r(
                "{{eq .H.Interval 90000000000}} {{if .H.Timeout}}t{{else}}f{{end}} {{print .H.Interval 1}}"
            ),
            "true f 1m30s 1"
        );
        assert_eq!(
            r("{{with .H.Test}}{{.}}{{end}} {{slice .H.Test 1}}"),
            "[CMD /x] [/x]"
        );
    }

    #[test]
    fn json_follows_tags() {
        let inner = Typed::strukt("v1.ImageConfig")
            .field("User", Tag::OmitEmpty, json!(""))
            .field("Env", Tag::OmitEmpty, json!(["A=1"]))
            .field("Labels", Tag::OmitEmpty, nil("map[string]string"))
            .build();
        let v = Typed::strukt("*v1.DockerOCIImageConfig")
            .field("ImageConfig", Tag::Embedded, inner)
            .field("Id", Tag::Renamed("Id"), json!("x"))
            .field("Data", Tag::Plain, nil("map[string]string"))
            .build();
        assert_eq!(
            to_json(&v),
            json!({"Env": ["A=1"], "Id": "x", "Data": null})
        );
        let Value::Object(o) = &v else { panic!() };
        assert!(matches!(field(o, "Env"), Field::Found(_)));
        assert!(matches!(field(o, "Nope"), Field::NoField));
    }
}
