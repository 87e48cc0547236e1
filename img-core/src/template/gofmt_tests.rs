//! Tests of `gofmt.rs`.

use super::*;
use serde_json::json;

#[test]
fn prints_like_go() {
    assert_eq!(display(&json!(["a", "b", 1])), "[a b 1]");
    assert_eq!(
        display(&json!({"b": 2, "a": [1, null]})),
        "map[a:[1 <nil>] b:2]"
    );
    assert_eq!(display(&json!(3.0)), "3");
    assert_eq!(display(&json!(0.5)), "0.5");
    assert_eq!(display(&json!(1.5e30)), "1.5e+30");
    assert_eq!(display(&json!(0.00001)), "1e-05");
    assert_eq!(display(&json!(1234567.5)), "1.2345675e+06");
}

#[test]
fn format_g_follows_strconv() {
    assert_eq!(format_g(1.024, Some(3), false), "1.02");
    assert_eq!(format_g(999.999, Some(3), false), "1e+03");
    assert_eq!(format_g(100.0, Some(3), false), "100");
    assert_eq!(format_g(1.5, Some(3), false), "1.5");
    assert_eq!(format_g(0.0, Some(3), false), "0");
    assert_eq!(format_g(1e4, Some(3), false), "1e+04");
    assert_eq!(format_g(123456.0, Some(3), false), "1.23e+05");
}

#[test]
fn sprintf_verbs() {
    let a = |v: Value| vec![v];
    assert_eq!(
        sprintf("%s|%5s|%-5s|", &[json!("a"), json!("b"), json!("c")]),
        "a|    b|c    |"
    );
    assert_eq!(
        sprintf(
            "%d %05d %+d %x %X %o %b",
            &[
                json!(42),
                json!(-42),
                json!(3),
                json!(255),
                json!(255),
                json!(8),
                json!(5)
            ]
        ),
        "42 -0042 +3 ff FF 10 101"
    );
    assert_eq!(
        sprintf(
            "%.2f %f %e %g",
            &[json!(1.23456), json!(1), json!(1234.5), json!(0.5)]
        ),
        "1.23 1.000000 1.234500e+03 0.5"
    );
    assert_eq!(
        sprintf(
            "%q %v %t %%",
            &[json!("a\"b\n"), json!([1, 2]), json!(true)]
        ),
        "\"a\\\"b\\n\" [1 2] true %"
    );
    assert_eq!(sprintf("%c %q", &[json!(65), json!(97)]), "A 'a'");
    assert_eq!(sprintf("%x", &a(json!("hi"))), "6869");
    assert_eq!(sprintf("%.1s", &a(json!("héllo"))), "h");
}

#[test]
fn sprintf_mistakes_print_like_go() {
    assert_eq!(sprintf("%d", &[json!("x")]), "%!d(string=x)");
    assert_eq!(sprintf("%s %s", &[json!("x")]), "x %!s(MISSING)");
    assert_eq!(sprintf("%s", &[json!("x"), json!(1)]), "x%!(EXTRA int=1)");
    assert_eq!(sprintf("%s", &[json!(null)]), "%!s(<nil>)");
    assert_eq!(sprintf("%z", &[json!(1)]), "%!z(int=1)");
    assert_eq!(sprintf("abc%", &[]), "abc%!(NOVERB)");
}

#[test]
fn sprint_spaces_between_non_strings() {
    assert_eq!(
        sprint(&[json!("a"), json!(1), json!(2), json!("b")]),
        "a1 2b"
    );
    assert_eq!(sprintln(&[json!("a"), json!(1)]), "a 1\n");
}

#[test]
fn quote_escapes_like_strconv() {
    assert_eq!(quote("a\"\\\t\u{1}é"), "\"a\\\"\\\\\\t\\x01é\"");
}
