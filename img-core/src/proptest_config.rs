//! The one proptest configuration of img-core's property tests (test builds only).

use proptest::prelude::ProptestConfig;

/// 64 cases a property unless `PROPTEST_CASES` says otherwise (CI stays quick; run
/// `PROPTEST_CASES=100000 cargo test -p img-core proptests` to search longer). A failure
/// is turned into a named regression test by hand, so nothing is persisted.
pub(crate) fn config() -> ProptestConfig {
    let mut c = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = 64;
    }
    c.failure_persistence = None;
    c
}
