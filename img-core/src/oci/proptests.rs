//! Property tests of the manifest, index and config parsers (issue 9, fuzzing): no bytes
//! and no JSON document panic them, and a manifest or index they accept serialises to a
//! document that parses back to the same value.

use proptest::prelude::*;

use crate::proptest_config::config;
use serde_json::{Value, json};

use super::*;

/// Any JSON value, nested a few levels, with the keys manifests use among random ones.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
        Just(Value::from(media_type::OCI_MANIFEST)),
        Just(Value::from(media_type::OCI_INDEX)),
        "sha256:[0-9a-f]{64}".prop_map(Value::from),
    ];
    let key = prop_oneof![
        Just("schemaVersion".to_owned()),
        Just("mediaType".to_owned()),
        Just("config".to_owned()),
        Just("layers".to_owned()),
        Just("manifests".to_owned()),
        Just("digest".to_owned()),
        Just("size".to_owned()),
        Just("platform".to_owned()),
        Just("architecture".to_owned()),
        Just("os".to_owned()),
        Just("rootfs".to_owned()),
        Just("diff_ids".to_owned()),
        "[a-z]{1,6}",
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn descriptor(mt: &str) -> impl Strategy<Value = Value> {
    let mt = mt.to_owned();
    ("[0-9a-f]{64}", 0u64..1 << 40).prop_map(move |(hex, size)| {
        json!({"mediaType": mt, "digest": format!("sha256:{hex}"), "size": size})
    })
}

fn manifest() -> impl Strategy<Value = Value> {
    (
        descriptor(media_type::OCI_CONFIG),
        prop::collection::vec(descriptor(media_type::OCI_LAYER_GZIP), 0..5),
    )
        .prop_map(|(config, layers)| {
            json!({"schemaVersion": 2, "mediaType": media_type::OCI_MANIFEST,
                   "config": config, "layers": layers})
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_bytes_parse_or_fail_without_panicking(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let _ = Document::parse(None, &bytes);
        let _ = Document::parse(Some(media_type::OCI_INDEX), &bytes);
        let _ = serde_json::from_slice::<ImageConfig>(&bytes);
    }

    #[test]
    fn any_json_document_parses_or_fails_without_panicking(v in json_value()) {
        let bytes = serde_json::to_vec(&v).unwrap();
        for mt in [None, Some(media_type::OCI_MANIFEST), Some(media_type::DOCKER_MANIFEST),
                   Some(media_type::OCI_INDEX), Some("application/json")] {
            let _ = Document::parse(mt, &bytes);
        }
        let _ = serde_json::from_value::<ImageConfig>(v);
    }

    #[test]
    fn a_manifest_round_trips(v in manifest()) {
        let bytes = serde_json::to_vec(&v).unwrap();
        let Document::Manifest(m) = Document::parse(None, &bytes).unwrap() else {
            panic!("not a manifest: {v}");
        };
        let again = serde_json::to_vec(&m).unwrap();
        prop_assert_eq!(Document::parse(None, &again).unwrap(), Document::Manifest(m));
    }

    #[test]
    fn an_index_round_trips(entries in prop::collection::vec(
        (descriptor(media_type::OCI_MANIFEST), "(amd64|arm64|arm|s390x)"), 0..5)
    ) {
        let manifests: Vec<Value> = entries
            .into_iter()
            .map(|(mut d, arch)| {
                d["platform"] = json!({"os": "linux", "architecture": arch});
                d
            })
            .collect();
        let v = json!({"schemaVersion": 2, "mediaType": media_type::OCI_INDEX,
                       "manifests": manifests});
        let bytes = serde_json::to_vec(&v).unwrap();
        let Document::Index(i) = Document::parse(None, &bytes).unwrap() else {
            panic!("not an index: {v}");
        };
        let again = serde_json::to_vec(&i).unwrap();
        prop_assert_eq!(Document::parse(None, &again).unwrap(), Document::Index(i));
    }
}
