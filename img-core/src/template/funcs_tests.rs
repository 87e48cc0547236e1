//! Tests of `funcs.rs`: Go's builtins as Go's text/template runs them.

use super::*;
use serde_json::json;

fn c(name: &str, args: &[Value]) -> Result<Value, String> {
    call(name, args, false)
}

#[test]
fn comparisons() {
    assert_eq!(
        c("eq", &[json!("a"), json!("b"), json!("a")]),
        Ok(json!(true))
    );
    // Go compares ints with ints and floats with floats (`eq 2 2.0` is an error).
    assert_eq!(
        c("eq", &[json!(2), json!(2.0)]),
        Err("error calling eq: incompatible types for comparison".into())
    );
    assert!(c("lt", &[json!(1), json!(2.5)]).is_err());
    assert_eq!(c("lt", &[json!(1.0), json!(2.5)]), Ok(json!(true)));
    assert_eq!(c("eq", &[json!(-3), json!(-3)]), Ok(json!(true)));
    assert_eq!(c("ge", &[json!("b"), json!("a")]), Ok(json!(true)));
    assert_eq!(c("ne", &[json!(null), json!(1)]), Ok(json!(true)));
    assert_eq!(
        c("eq", &[json!("a"), json!(1)]),
        Err("error calling eq: incompatible types for comparison".into())
    );
    assert_eq!(
        c("lt", &[json!(true), json!(false)]),
        Err("error calling lt: invalid type for comparison".into())
    );
}

/// Go's `eq` of maps, the cases of Go's `text/template/exec_test.go` (`cmpTests`, as
/// remembered: `.Map` a nil map, `.NonNilMap` an empty non-nil one), their outcomes
/// checked against docker 28.2.2's Go with `docker context inspect -f` over its
/// `Endpoints` (a `map[string]interface {}`).
#[test]
fn eq_of_maps_as_go() {
    let nil_map = typed::nil("map[string]int");
    let non_nil = typed::map("map[string]int", []);
    let other = typed::map("map[string]int", [("a".to_string(), json!(1))]);
    // {"eq .Map .Map", "true"}, {"eq .Map nil", "true"}, {"eq nil .Map", "true"}:
    // uncomparable types, but nil is fine.
    assert_eq!(
        c("eq", &[nil_map.clone(), nil_map.clone()]),
        Ok(json!(true))
    );
    assert_eq!(c("eq", &[nil_map.clone(), json!(null)]), Ok(json!(true)));
    assert_eq!(c("eq", &[json!(null), nil_map.clone()]), Ok(json!(true)));
    // {"eq .Map .NonNilMap", "false"}.
    assert_eq!(
        c("eq", &[nil_map.clone(), non_nil.clone()]),
        Ok(json!(false))
    );
    assert_eq!(
        c("ne", &[non_nil.clone(), nil_map.clone()]),
        Ok(json!(true))
    );
    // {"eq .NonNilMap .NonNilMap", error}: uncomparable.
    assert_eq!(
        c("eq", &[non_nil.clone(), other.clone()]),
        Err("error calling eq: non-comparable type map[a:1]: map[string]int".into())
    );
    // docker: `{{eq .Endpoints nil}}` and `{{eq nil .Endpoints}}` print false; a
    // missing key against a map too.
    let plain = json!({"docker": {"Host": "unix:///var/run/docker.sock"}});
    assert_eq!(c("eq", &[plain.clone(), json!(null)]), Ok(json!(false)));
    assert_eq!(c("eq", &[json!(null), plain.clone()]), Ok(json!(false)));
    // docker: `{{eq .Endpoints .Endpoints}}` and `ne` fail, naming the second map.
    assert_eq!(
        c("eq", &[plain.clone(), plain.clone()]),
        Err("error calling eq: non-comparable type map[docker:map[Host:unix:///var/run/docker.sock]]: map[string]interface {}".into())
    );
    assert_eq!(
        c("ne", &[plain.clone(), plain.clone()]),
        Err("error calling ne: non-comparable type map[docker:map[Host:unix:///var/run/docker.sock]]: map[string]interface {}".into())
    );
    // docker: `{{eq .Endpoints 1}}` and `{{eq 1 .Endpoints}}`: different kinds.
    for args in [[plain.clone(), json!(1)], [json!(1), plain.clone()]] {
        assert_eq!(
            c("eq", &args),
            Err("error calling eq: incompatible types for comparison".into())
        );
    }
    // Two maps of different types: Go's "non-comparable types".
    assert_eq!(
        c("eq", &[other.clone(), plain.clone()]),
        Err("error calling eq: non-comparable types map[a:1]: map[string]int, map[string]interface {}: map[docker:map[Host:unix:///var/run/docker.sock]]".into())
    );
    // eq stops at the first error, as Go's loop does; a match before it wins.
    assert_eq!(
        c("eq", &[json!(null), nil_map.clone(), plain.clone()]),
        Ok(json!(true))
    );
    // Slices are as uncomparable as maps; `lt` refuses both at once.
    assert_eq!(c("eq", &[json!([1]), json!(null)]), Ok(json!(false)));
    // Go's %s of an int in a slice: `%!s(int=1)`.
    assert_eq!(
        c("eq", &[json!([1]), json!([1])]),
        Err("error calling eq: non-comparable type [%!s(int=1)]: []interface {}".into())
    );
    assert_eq!(
        c("lt", &[plain, json!(1)]),
        Err("error calling lt: invalid type for comparison".into())
    );
}

/// docker 28.2.2's Go: `{{len .Endpoints.missing}}` and `{{len nil}}` fail so, and
/// `html`, `js` and `urlquery` of a missing value print `<no value>` escaped.
#[test]
fn len_and_escapers_of_a_missing_value_as_go() {
    assert_eq!(
        c("len", &[json!(null)]),
        Err("error calling len: reflect: call of reflect.Value.Type on zero Value".into())
    );
    assert_eq!(c("html", &[json!(null)]), Ok(json!("&lt;no value&gt;")));
    assert_eq!(c("js", &[json!(null)]), Ok(json!("\\u003Cno value\\u003E")));
    assert_eq!(c("urlquery", &[json!(null)]), Ok(json!("%3Cno+value%3E")));
    assert_eq!(
        c("html", &[json!("a"), json!(null)]),
        Ok(json!("a&lt;no value&gt;"))
    );
    // `print` is fmt.Sprint itself: nil is <nil>.
    assert_eq!(c("print", &[json!(null)]), Ok(json!("<nil>")));
}

#[test]
fn index_and_slice() {
    let m = json!({"a": {"b": [10, 20]}, "s": "xyz"});
    assert_eq!(
        c("index", &[m.clone(), json!("a"), json!("b"), json!(1)]),
        Ok(json!(20))
    );
    assert_eq!(
        c("index", &[json!([1]), json!(5)]),
        Err("error calling index: index out of range: 5".into())
    );
    assert_eq!(
        c("index", &[json!({"k": "v"}), json!("missing")]),
        Ok(json!(""))
    );
    assert_eq!(c("index", &[json!(null), json!("missing")]), Ok(json!("")));
    assert_eq!(
        c("slice", &[json!("hello"), json!(1), json!(3)]),
        Ok(json!("el"))
    );
    assert_eq!(c("slice", &[json!([1, 2, 3]), json!(1)]), Ok(json!([2, 3])));
    assert_eq!(
        c("slice", &[json!([1]), json!(3)]),
        Err("error calling slice: index out of range: 3".into())
    );
}

#[test]
fn docker_string_functions() {
    assert_eq!(
        c("title", &[json!("hello wORLD-x_y")]),
        Ok(json!("Hello WORLD-X_y"))
    );
    assert_eq!(
        c("pad", &[json!("ab"), json!(2), json!(1)]),
        Ok(json!("  ab "))
    );
    assert_eq!(c("pad", &[json!(""), json!(2), json!(1)]), Ok(json!("")));
    assert_eq!(
        c("truncate", &[json!("abcdef"), json!(3)]),
        Ok(json!("abc"))
    );
    assert_eq!(c("truncate", &[json!("ab"), json!(3)]), Ok(json!("ab")));
    assert_eq!(
        c("split", &[json!("a:b"), json!(":")]),
        Ok(json!(["a", "b"]))
    );
    assert_eq!(
        c("join", &[json!(["a", 1]), json!(", ")]),
        Ok(json!("a, 1"))
    );
    assert_eq!(c("len", &[json!("héllo")]), Ok(json!(6)));
    assert_eq!(
        c("join", &[json!("a")]),
        Err("wrong number of args for join: want 2 got 1".into())
    );
    assert_eq!(
        c("upper", &[json!(3)]),
        Err("wrong type for value; expected string; got int".into())
    );
}

#[test]
fn escapers() {
    assert_eq!(
        c("html", &[json!("<a href=\"x\">&'")]),
        Ok(json!("&lt;a href=&#34;x&#34;&gt;&amp;&#39;"))
    );
    assert_eq!(
        c("js", &[json!("it's <b>\n")]),
        Ok(json!("it\\'s \\u003Cb\\u003E\\u000A"))
    );
    assert_eq!(
        c("urlquery", &[json!("a b&c/é")]),
        Ok(json!("a+b%26c%2F%C3%A9"))
    );
}

#[test]
fn header_mode_keeps_headers() {
    assert_eq!(call("upper", &[json!("NAME")], true), Ok(json!("NAME")));
    assert_eq!(
        call("join", &[json!("NAMES"), json!(",")], true),
        Ok(json!("NAMES"))
    );
    assert_eq!(
        call("pad", &[json!("NAME"), json!(1), json!(1)], true),
        Ok(json!(" NAME "))
    );
}
