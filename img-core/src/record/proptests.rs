//! Property tests of the one stdin reader (issue 9, fuzzing): no input panics it, it
//! gives at most 21 errors however bad the input, and every image record it is given
//! reads back as the reference it names.

use std::io::Cursor;

use proptest::prelude::*;

use crate::proptest_config::config;

use super::*;

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_bytes_read_without_panicking_and_with_bounded_errors(
        bytes in prop::collection::vec(any::<u8>(), 0..4096),
    ) {
        let items = read_target_items(Cursor::new(bytes)).unwrap();
        let errors = items.iter().filter(|i| i.is_err()).count();
        prop_assert!(errors <= bounded::MAX_REPORTED + 1);
    }

    #[test]
    fn json_like_input_reads_without_panicking(
        s in "([\\[\\]{}\",: \\n]|\"Ref\"|\"Id\"|\"Name\"|alpine|sha256:[0-9a-f]{4}|[a-z0-9]{1,4}){0,60}",
    ) {
        let _ = read_target_items(Cursor::new(s.into_bytes())).unwrap();
    }

    #[test]
    fn image_records_read_back_as_their_reference(
        names in prop::collection::vec("[a-z0-9]{1,8}(/[a-z0-9]{1,8})?:[a-z0-9][a-z0-9.]{0,8}", 1..8),
        array in any::<bool>(),
    ) {
        let values: Vec<serde_json::Value> = names
            .iter()
            .map(|n| serde_json::json!({"Ref": n, "Id": format!("sha256:{}", "a".repeat(64))}))
            .collect();
        let input = if array {
            serde_json::to_string_pretty(&values).unwrap()
        } else {
            values.iter().map(|v| format!("{v}\n")).collect()
        };
        let got = read_targets(Cursor::new(input.into_bytes())).unwrap();
        let want: Vec<Target> = names
            .iter()
            .map(|n| Target::Reference(Reference::parse_normalized(n).unwrap()))
            .collect();
        prop_assert_eq!(got, want);
    }
}
