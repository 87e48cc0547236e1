//! Tests of `parse.rs`.

use super::*;

fn parse_err(src: &str) -> String {
    let toks = super::super::lex::lex(src);
    parse(toks).unwrap_err().msg
}

#[test]
fn numbers_parse_like_go() {
    assert_eq!(number("42"), Some(Number::from(42u64)));
    assert_eq!(number("-7"), Some(Number::from(-7i64)));
    assert_eq!(number("0x1F"), Some(Number::from(31u64)));
    assert_eq!(number("017"), Some(Number::from(15u64)));
    assert_eq!(number("1_000"), Some(Number::from(1000u64)));
    assert_eq!(number("1.5e3").and_then(|n| n.as_f64()), Some(1500.0));
    assert_eq!(number("-"), None);
    let float = |t: &str| number(t).filter(Number::is_f64).and_then(|n| n.as_f64());
    assert_eq!(float("1e9"), Some(1e9));
    assert_eq!(float("0x1.ep+2"), Some(7.5));
    assert_eq!(float("0x_1p4"), Some(16.0));
    assert_eq!(float("0x1p-2"), Some(0.25));
}

#[test]
fn structural_errors() {
    assert_eq!(parse_err("{{end}}"), "unexpected {{end}}");
    assert_eq!(parse_err("{{else}}"), "unexpected {{else}}");
    assert_eq!(parse_err("{{if .A}}x"), "unexpected EOF");
    assert_eq!(parse_err("{{ .Name }"), "unexpected \"}\" in operand");
    assert_eq!(parse_err("{{nope .A}}"), "function \"nope\" not defined");
    assert_eq!(parse_err("{{$x}}"), "undefined variable \"$x\"");
    assert_eq!(parse_err("{{}}"), "missing value for command");
    assert_eq!(parse_err("{{break}}"), "{{break}} outside {{range}}");
    assert_eq!(
        parse_err("{{.A | 3}}"),
        "non executable command in pipeline stage 2"
    );
    assert_eq!(
        parse_err("{{if .A}}{{else}}{{else}}{{end}}"),
        "expected end; found {{else}}"
    );
    assert_eq!(
        parse_err("{{\"a\".B}}"),
        "unexpected . after term \"\\\"a\\\"\""
    );
    assert_eq!(
        parse_err("{{$x := 1}}{{$x := 2}}{{if 1}}{{$y := 3}}{{end}}{{$y}}"),
        "undefined variable \"$y\""
    );
}
