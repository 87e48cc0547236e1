//! Property tests of the digest parser and checker (issue 9, fuzzing): no input panics
//! the parser, a digest prints back as it was parsed, and a digest accepts exactly the
//! bytes it was computed from.

use proptest::prelude::*;

use crate::proptest_config::config;

use super::*;

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_string_parses_or_fails_without_panicking(s in "\\PC{0,140}") {
        let _ = Digest::parse(&s);
    }

    #[test]
    fn digest_like_strings_never_panic(s in "(sha256|sha512|sha384|md5|[a-z+._-]{0,10}):[0-9a-fA-F]{0,130}") {
        if let Ok(d) = Digest::parse(&s) {
            prop_assert_eq!(d.hex().len(), d.algorithm().hex_len());
            prop_assert_eq!(d.to_string(), s);
        }
    }

    #[test]
    fn a_sha256_digest_round_trips(hex in "[0-9a-f]{64}") {
        let s = format!("sha256:{hex}");
        let d = Digest::parse(&s).unwrap();
        prop_assert_eq!(d.to_string(), s);
        prop_assert_eq!(d.hex(), hex.as_str());
    }

    #[test]
    fn a_digest_verifies_its_bytes_and_no_others(
        data in prop::collection::vec(any::<u8>(), 0..2048),
        flip in any::<prop::sample::Index>(),
    ) {
        let d = Digest::sha256_of(&data);
        prop_assert!(d.verify(&data).is_ok());
        let mut other = data.clone();
        if other.is_empty() {
            other.push(0);
        } else {
            let i = flip.index(other.len());
            other[i] ^= 1;
        }
        prop_assert!(d.verify(&other).is_err());
    }
}
