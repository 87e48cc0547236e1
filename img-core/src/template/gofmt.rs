//! Go's fmt as templates need it: printing JSON values the way Go prints its own
//! (`[a b]`, `map[k:v]`), `print`, `println`, `printf` with Go's verbs, `%g`, and `%q` quoting.

use super::typed;
use serde_json::{Number, Value};

/// The Go type a JSON value stands for, as Go names it in error messages (a typed value's
/// own type name).
pub(crate) fn go_type(v: &Value) -> String {
    if let Some(t) = typed::type_name(v) {
        return t.to_string();
    }
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
    .to_string()
}

/// Go's `strconv.Quote`: a double-quoted string with Go escapes (the one quoting of
/// [`crate::quote`], which messages use too).
pub(crate) fn quote(s: &str) -> String {
    crate::quote::quote(s)
}

/// A JSON number as an integer when it is one (or a float without a fraction).
pub(crate) fn as_int(n: &Number) -> Option<i128> {
    if let Some(i) = n.as_i64() {
        return Some(i.into());
    }
    if let Some(u) = n.as_u64() {
        return Some(u.into());
    }
    let f = n.as_f64()?;
    (f.fract() == 0.0 && f.abs() < 1e21).then_some(f as i128)
}

/// Go's `%v` of a number: an integer as one, a float (a float literal, or a JSON number
/// written with a point or exponent) as Go prints a float64 (`1e+09`, `3`, `0.5`).
fn number_v(n: &Number) -> String {
    if n.is_f64() {
        return format_g(n.as_f64().unwrap_or(0.0), None, false);
    }
    match as_int(n) {
        Some(i) => i.to_string(),
        None => format_g(n.as_f64().unwrap_or(0.0), None, false),
    }
}

/// Go's `%v`: strings raw, `[a b]` for lists, `map[k:v]` (sorted keys) for maps, `<nil>` for
/// null; typed values as Go prints them (`{f1 f2}`, `&{…}` for a pointer to a struct).
pub(crate) fn print_value(v: &Value, out: &mut String) {
    print_at(v, out, 0);
}

/// What an action prints: [`print_value`], except that text/template follows a pointer
/// first, so `{{.Config}}` prints `{…}` where `printf "%v"` prints `&{…}`.
pub(crate) fn print_action(v: &Value, out: &mut String) {
    match typed::type_name(v).and_then(|t| t.strip_prefix('*')) {
        Some(_) if typed::is_struct(v) => {
            let mut s = String::new();
            print_at(v, &mut s, 0);
            out.push_str(s.strip_prefix('&').unwrap_or(&s));
        }
        _ => print_at(v, out, 0),
    }
}

/// [`print_value`] at a nesting depth: Go prints a pointer inside a value as its address.
fn print_at(v: &Value, out: &mut String, depth: usize) {
    if typed::is_wrapped(v) {
        match typed::stringer(v) {
            Some(s) => out.push_str(&s),
            None => print_at(typed::plain(v), out, depth),
        }
        return;
    }
    if let (Some(ty), Value::Object(o)) = (typed::type_name(v), v) {
        if typed::is_map(v) && !typed::is_nil(v) {
            print_map(typed::fields(o), out, depth);
        } else if typed::is_nil(v) {
            out.push_str(if ty.starts_with("[]") {
                "[]"
            } else if ty.starts_with("map[") {
                "map[]"
            } else {
                "<nil>"
            });
        } else if let Some(t) = o.get(typed::TIME).and_then(Value::as_str) {
            out.push_str(&typed::time_string(t));
        } else if ty.starts_with('*') && depth > 0 {
            // An address; no two runs of Go print the same one either.
            out.push_str("0xc000010000");
        } else {
            if ty.starts_with('*') {
                out.push('&');
            }
            out.push('{');
            for (i, (_, f)) in typed::fields(o).enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print_at(f, out, depth + 1);
            }
            out.push('}');
        }
        return;
    }
    match v {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number_v(n)),
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print_at(item, out, depth + 1);
            }
            out.push(']');
        }
        Value::Object(map) => print_map(map.iter(), out, depth),
    }
}

/// Go's `map[k1:v1 k2:v2]`, keys sorted as fmt sorts them.
fn print_map<'a>(
    entries: impl Iterator<Item = (&'a String, &'a Value)>,
    out: &mut String,
    depth: usize,
) {
    let mut entries: Vec<_> = entries.collect();
    entries.sort_by_key(|(k, _)| *k);
    out.push_str("map[");
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(k);
        out.push(':');
        print_at(v, out, depth + 1);
    }
    out.push(']');
}

/// [`print_value`] into a new string.
pub(crate) fn display(v: &Value) -> String {
    let mut s = String::new();
    print_value(v, &mut s);
    s
}

/// Go's `fmt.Sprint`: spaces between operands when neither side is a string.
pub(crate) fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !a.is_string() && !args[i - 1].is_string() {
            out.push(' ');
        }
        print_value(a, &mut out);
    }
    out
}

/// Go's `fmt.Sprintln`: spaces between all operands and a newline.
pub(crate) fn sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        print_value(a, &mut out);
    }
    out.push('\n');
    out
}

/// Decimal digits of `f` (no trailing zeros, empty for zero) and where the point goes:
/// `digits[..dp]` is the integer part. `sig` rounds to that many significant digits;
/// `None` gives the shortest digits that read back as `f`.
fn decimal(f: f64, sig: Option<usize>) -> (String, i32) {
    let s = match sig {
        Some(p) => format!("{:.*e}", p.max(1) - 1, f.abs()),
        None => format!("{:e}", f.abs()),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0').to_string();
    if digits.is_empty() {
        return (digits, 0);
    }
    (digits, exp + 1)
}

fn fmt_e(neg: bool, digits: &str, dp: i32, prec: usize, e: char) -> String {
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    let d = digits.as_bytes();
    out.push(d.first().map_or('0', |&c| c as char));
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            out.push(d.get(i).map_or('0', |&c| c as char));
        }
    }
    let exp = if d.is_empty() { 0 } else { dp - 1 };
    out.push(e);
    out.push(if exp < 0 { '-' } else { '+' });
    out.push_str(&format!("{:02}", exp.abs()));
    out
}

fn fmt_f(neg: bool, digits: &str, dp: i32, prec: usize) -> String {
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    let d = digits.as_bytes();
    let digit = |i: i32| -> char {
        if i < 0 {
            '0'
        } else {
            d.get(i as usize).map_or('0', |&c| c as char)
        }
    };
    if dp > 0 {
        for i in 0..dp {
            out.push(digit(i));
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 0..prec as i32 {
            out.push(digit(dp + i));
        }
    }
    out
}

/// Go's `strconv.FormatFloat(f, 'g', prec)`: `None` is the shortest form (`%v`).
pub(crate) fn format_g(f: f64, prec: Option<usize>, upper: bool) -> String {
    let neg = f.is_sign_negative() && f != 0.0;
    let prec = prec.map(|p| p.max(1));
    let (digits, dp) = decimal(f, prec);
    let nd = digits.len() as i32;
    let mut p = prec.map_or(nd, |p| p as i32);
    let mut eprec = p;
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    if prec.is_none() {
        eprec = 6;
    }
    let exp = dp - 1;
    if digits.is_empty() {
        return if neg { "-0".into() } else { "0".into() };
    }
    if exp < -4 || exp >= eprec {
        if p > nd {
            p = nd;
        }
        return fmt_e(
            neg,
            &digits,
            dp,
            (p - 1).max(0) as usize,
            if upper { 'E' } else { 'e' },
        );
    }
    if p > dp {
        p = nd;
    }
    fmt_f(neg, &digits, dp, (p - dp).max(0) as usize)
}

fn format_e(f: f64, prec: usize, upper: bool) -> String {
    let neg = f.is_sign_negative() && f != 0.0;
    let (digits, dp) = decimal(f, Some(prec + 1));
    fmt_e(neg, &digits, dp, prec, if upper { 'E' } else { 'e' })
}

/// A parsed `%` directive.
#[derive(Default)]
struct Spec {
    minus: bool,
    plus: bool,
    space: bool,
    zero: bool,
    sharp: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

impl Spec {
    /// Pads `s` to the width; `numeric` lets the `0` flag pad after the sign.
    fn pad(&self, s: String, numeric: bool) -> String {
        let len = s.chars().count();
        let Some(w) = self.width.filter(|&w| w > len) else {
            return s;
        };
        let fill = w - len;
        if self.minus {
            return s + &" ".repeat(fill);
        }
        if self.zero && numeric {
            let sign = s.starts_with(['-', '+', ' ']);
            let (head, tail) = s.split_at(if sign { 1 } else { 0 });
            return format!("{head}{}{tail}", "0".repeat(fill));
        }
        " ".repeat(fill) + &s
    }

    fn sign(&self, neg: bool, s: String) -> String {
        if neg {
            format!("-{s}")
        } else if self.plus {
            format!("+{s}")
        } else if self.space {
            format!(" {s}")
        } else {
            s
        }
    }
}

fn bad_verb(verb: char, v: &Value) -> String {
    match v {
        Value::Null => format!("%!{verb}(<nil>)"),
        v => format!("%!{verb}({}={})", go_type(v), display(v)),
    }
}

fn int_verb(spec: &Spec, verb: char, i: i128) -> String {
    let a = i.unsigned_abs();
    let mut digits = match verb {
        'd' => a.to_string(),
        'x' => format!("{a:x}"),
        'X' => format!("{a:X}"),
        'o' | 'O' => format!("{a:o}"),
        'b' => format!("{a:b}"),
        _ => a.to_string(),
    };
    if let Some(p) = spec.prec.filter(|&p| digits.len() < p) {
        digits = "0".repeat(p - digits.len()) + &digits;
    }
    let prefix = match verb {
        'x' if spec.sharp => "0x",
        'X' if spec.sharp => "0X",
        'o' if spec.sharp => "0",
        'O' => "0o",
        'b' if spec.sharp => "0b",
        _ => "",
    };
    spec.sign(i < 0, format!("{prefix}{digits}"))
}

fn float_verb(spec: &Spec, verb: char, f: f64) -> String {
    let neg = f.is_sign_negative() && f != 0.0;
    let s = match verb {
        'e' | 'E' => format_e(f.abs(), spec.prec.unwrap_or(6), verb == 'E'),
        'f' | 'F' => format!("{:.*}", spec.prec.unwrap_or(6), f.abs()),
        _ => format_g(f.abs(), spec.prec, verb == 'G'),
    };
    spec.sign(neg, s)
}

/// One directive applied to one argument.
fn format_arg(spec: &Spec, verb: char, v: &Value) -> String {
    let num = |v: &Value| match v {
        Value::Number(n) => Some(n.clone()),
        _ => None,
    };
    if verb == 'T' {
        return spec.pad(go_type(v), false);
    }
    if typed::is_wrapped(v) {
        // fmt uses a `String` method for the verbs that print strings.
        return match typed::stringer(v) {
            Some(s) if matches!(verb, 'v' | 's' | 'q' | 'x' | 'X') => {
                format_arg(spec, verb, &Value::String(s))
            }
            _ => format_arg(spec, verb, typed::plain(v)),
        };
    }
    match verb {
        'q' | 's' | 'd' | 'x' | 'X' if v.is_array() => {
            // fmt applies the verb to each element of a slice.
            let Value::Array(items) = v else {
                return String::new();
            };
            let parts: Vec<String> = items.iter().map(|i| format_arg(spec, verb, i)).collect();
            format!("[{}]", parts.join(" "))
        }
        'v' => match v {
            Value::Number(n) => spec.pad(spec.sign(false, number_v(n)), true),
            v => spec.pad(display(v), false),
        },
        's' => match v {
            Value::String(s) => {
                let s = match spec.prec {
                    Some(p) => s.chars().take(p).collect(),
                    None => s.clone(),
                };
                spec.pad(s, false)
            }
            Value::Array(_) | Value::Object(_) => spec.pad(display(v), false),
            v => bad_verb(verb, v),
        },
        'q' => match v {
            Value::String(s) => spec.pad(quote(s), false),
            Value::Number(n) => match as_int(n).and_then(|i| u32::try_from(i).ok()) {
                Some(c) => spec.pad(
                    crate::quote::quote_rune(char::from_u32(c).unwrap_or('\u{fffd}')),
                    false,
                ),
                None => bad_verb(verb, v),
            },
            v => bad_verb(verb, v),
        },
        't' => match v {
            Value::Bool(b) => spec.pad(b.to_string(), false),
            v => bad_verb(verb, v),
        },
        'd' | 'o' | 'O' | 'b' | 'x' | 'X' | 'c' => match (v, num(v).and_then(|n| as_int(&n))) {
            (_, Some(i)) if verb == 'c' => match u32::try_from(i).ok().and_then(char::from_u32) {
                Some(c) => spec.pad(c.to_string(), false),
                None => bad_verb(verb, v),
            },
            (_, Some(i)) => spec.pad(int_verb(spec, verb, i), true),
            (Value::String(s), None) if matches!(verb, 'x' | 'X') => {
                let hex: String = s.bytes().map(|b| format!("{b:02x}")).collect();
                let hex = if verb == 'X' { hex.to_uppercase() } else { hex };
                spec.pad(hex, false)
            }
            (v, _) => bad_verb(verb, v),
        },
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' => match num(v).and_then(|n| n.as_f64()) {
            Some(f) => spec.pad(float_verb(spec, verb, f), true),
            None => bad_verb(verb, v),
        },
        _ => bad_verb(verb, v),
    }
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%v %s %q %d %x %X %o %b %c %t %e %f %g`,
/// flags `-+# 0`, width and precision (`*` takes them from the arguments) and `%%`.
/// Mistakes print as Go prints them: `%!d(string=x)`, `%!s(MISSING)`, `%!(EXTRA int=1)`.
pub(crate) fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut next = 0usize;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                ' ' => spec.space = true,
                '0' => spec.zero = true,
                '#' => spec.sharp = true,
                _ => break,
            }
            chars.next();
        }
        let star = |next: &mut usize| -> Option<usize> {
            let v = args.get(*next)?;
            *next += 1;
            v.as_u64().map(|u| u as usize)
        };
        let number = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = Some(n.unwrap_or(0) * 10 + d as usize);
                chars.next();
            }
            n
        };
        if chars.peek() == Some(&'*') {
            chars.next();
            spec.width = star(&mut next);
        } else {
            spec.width = number(&mut chars);
        }
        if chars.peek() == Some(&'.') {
            chars.next();
            if chars.peek() == Some(&'*') {
                chars.next();
                spec.prec = star(&mut next);
            } else {
                spec.prec = Some(number(&mut chars).unwrap_or(0));
            }
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.get(next) {
            Some(v) => {
                next += 1;
                out.push_str(&format_arg(&spec, verb, v));
            }
            None => out.push_str(&format!("%!{verb}(MISSING)")),
        }
    }
    if next < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, v) in args[next..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            match v {
                Value::Null => out.push_str("<nil>"),
                v => out.push_str(&format!("{}={}", go_type(v), display(v))),
            }
        }
        out.push(')');
    }
    out
}

#[cfg(test)]
#[path = "gofmt_tests.rs"]
mod tests;
