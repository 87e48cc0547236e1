//! Property tests of the reference parser (issue 9, fuzzing): no input panics it, and
//! every reference it accepts prints back to a string that parses to the same reference,
//! in the full and in the familiar form.

use proptest::prelude::*;

use crate::proptest_config::config;

use super::*;

/// Valid references, with and without a domain, tag and digest.
fn valid_reference() -> impl Strategy<Value = String> {
    let component = "[a-z0-9]{1,8}([._-][a-z0-9]{1,4})?";
    let domain = prop_oneof![
        Just(String::new()),
        "[a-z]{1,8}\\.[a-z]{2,3}/",
        "localhost:[1-9][0-9]{0,3}/",
        "127\\.0\\.0\\.1:[1-9][0-9]{0,3}/",
    ];
    let tag = prop_oneof![Just(String::new()), ":[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"];
    let digest = prop_oneof![Just(String::new()), "@sha256:[0-9a-f]{64}"];
    (domain, prop::collection::vec(component, 1..4), tag, digest)
        .prop_map(|(d, path, t, g)| format!("{d}{}{t}{g}", path.join("/")))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_string_parses_or_fails_without_panicking(s in "\\PC{0,80}") {
        let _ = Reference::parse_normalized(&s);
        let _ = Reference::parse_normalized_name(&s);
    }

    #[test]
    fn reference_like_strings_never_panic(s in "[a-zA-Z0-9:/@._-]{0,300}") {
        if let Ok(r) = Reference::parse_normalized(&s) {
            prop_assert!(r.path().len() <= MAX_PATH_LEN);
            prop_assert!(r.tag().is_none_or(|t| t.len() <= MAX_TAG_LEN));
        }
    }

    #[test]
    fn a_valid_reference_round_trips_in_both_forms(s in valid_reference()) {
        let r = Reference::parse_normalized(&s).unwrap();
        prop_assert_eq!(&Reference::parse_normalized(&r.to_string()).unwrap(), &r);
        prop_assert_eq!(&Reference::parse_normalized(&r.familiar()).unwrap(), &r);
        prop_assert!(r.tag().is_some() || r.digest().is_some());
    }
}
