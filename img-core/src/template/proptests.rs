//! Property tests of the Go template engine (issue 9, fuzzing): no template source panics
//! the parser or, once parsed, the renderer on any record; text without actions renders
//! as itself.

use proptest::prelude::*;

use crate::proptest_config::config;
use serde_json::{Value, json};

use super::*;

/// Template-like sources: text, actions, pipelines, keywords and the functions docker has.
fn template_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-z ]{0,6}",
        Just("{{".to_owned()),
        Just("}}".to_owned()),
        Just("{{.".to_owned()),
        Just("{{- ".to_owned()),
        Just(" -}}".to_owned()),
        Just("{{end}}".to_owned()),
        Just("{{else}}".to_owned()),
        Just("{{range .".to_owned()),
        Just("{{if .".to_owned()),
        Just("{{with .".to_owned()),
        Just("{{json .".to_owned()),
        Just("{{index .".to_owned()),
        Just("{{printf \"%s %d\" .".to_owned()),
        Just(" | ".to_owned()),
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just("\"".to_owned()),
        Just("`".to_owned()),
        Just("$x := ".to_owned()),
        "[A-Z][a-zA-Z]{0,6}",
        "[0-9]{1,3}",
    ];
    prop::collection::vec(piece, 0..16).prop_map(|p| p.concat())
}

fn record() -> Value {
    json!({
        "ID": "9234e8fb04c4", "Repository": "alpine", "Tag": "3.20", "Size": 123,
        "RepoTags": ["alpine:3.20", "a:b"], "Config": {"Cmd": ["sh"], "Env": null},
        "Labels": {"a": "b"}, "Empty": {}, "Flag": true
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_source_parses_or_fails_without_panicking(s in "\\PC{0,60}") {
        if let Ok(t) = Template::parse(&s) {
            let _ = t.render(&record());
        }
    }

    #[test]
    fn template_like_sources_never_panic(s in template_like()) {
        if let Ok(t) = Template::parse(&s) {
            prop_assert_eq!(t.source(), s.as_str());
            let _ = t.render(&record());
            let _ = t.render(&json!([1, "x", null]));
            let _ = t.render(&Value::Null);
        }
    }

    #[test]
    fn text_without_actions_renders_as_itself(s in "[^{}]{0,60}") {
        let t = Template::parse(&s).unwrap();
        prop_assert_eq!(t.render(&record()).unwrap(), s);
    }
}
