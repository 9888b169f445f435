//! The property tests' case count, one rule for every module's `proptest!`:
//! `PROPTEST_CASES` when set (CI and a long local run choose), else 256.

use proptest::prelude::ProptestConfig;

/// The configuration the crate's property tests run with.
pub(crate) fn cases() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256);
    ProptestConfig { cases, ..ProptestConfig::default() }
}
