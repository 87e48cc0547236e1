//! img-search's dockerd harness is now the shared `img_core::testing::dockerd`; the old
//! name stays so the search tests read as before.

pub use img_core::testing::dockerd::TestDockerd as SearchTestDockerd;
